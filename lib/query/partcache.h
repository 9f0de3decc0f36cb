/*
 * partcache.h - open partition files shared by the queries of a store
 * handle, so that a query does not re-read footers, and what queries
 * decoded from them, per file and merchant: its entry of the merchant
 * index (a warm query does not look the merchant up again), its hour
 * segments, the summaries of its merchant-hours' rollups (a warm dashboard
 * query does not re-read, check and decode a rollup block per hour) and its
 * column slices (the rows of one merchant in one column: a row group holds
 * 4096 rows of many merchants, and decompressing it for a merchant's 30
 * rows is most of a small merchant's query), the counts by hour of the
 * rows of a merchant without hour segments, a group-by's counts by code of
 * all of a merchant's rows under a filter, and decoded columns of whole
 * row groups (busy merchants' rows fill them). Entries are refcounted; files
 * no longer in the manifest are closed once unused; what was decoded is
 * dropped, least recently used file first, when it outgrows
 * tsagg_options.query_cache_bytes.
 */
#ifndef TSAGG_PARTCACHE_H
#define TSAGG_PARTCACHE_H

#include <stdatomic.h>

#include "hll.h"
#include "intern.h"
#include "manifest.h"
#include "partfile.h"

/* Memory for decoded rollups and column slices per store handle, unless
 * tsagg_options.query_cache_bytes says otherwise. */
#define TSAGG__QUERY_CACHE_BYTES (256u << 20)

/* The summary of a merchant-hour's rollup: per event name, the hour's
 * count and measure sums (what a bucket holding the whole hour needs), and
 * (when asked for) the sketches, checked (tsagg__hll_merge_view is then a
 * plain register max). One block; immutable once published. */
typedef struct tsagg__qrollup {
    uint32_t nev;        /* event codes with rows */
    uint32_t nmeasures;  /* of the file */
    uint32_t nnamed;     /* event codes with their own sketches; 0 without */
    int sketches;        /* users, sessions and named_* are set */
    uint32_t *ev_code;   /* nev, ascending */
    uint64_t *ev_count;  /* nev */
    uint64_t total;      /* the sum of ev_count: the hour's events */
    double *ev_sums;     /* nev x nmeasures, event-major */
    uint32_t *named_event; /* nnamed, ascending */
    tsagg__hll_view users, sessions;
    tsagg__hll_view *named_users, *named_sessions; /* nnamed each */
    size_t bytes;        /* the block's size, for the budget */
} tsagg__qrollup;

/* A referenced cache entry: the open file and what is cached for it. */
typedef struct tsagg__pcent tsagg__pcent;
/* One merchant of an entry's file and what is cached for it; valid while
 * the entry is referenced. */
typedef struct tsagg__pcmerch tsagg__pcmerch;

/*
 * Reference the open partitions of refs[0..n) (opening those not open yet)
 * into out[0..n). On failure nothing stays referenced and the store's
 * errmsg names the file. Release with put_many.
 */
int tsagg__partcache_get_many(tsagg_store *st, const tsagg__part_ref *refs, size_t n,
                              tsagg__pcent **out);
void tsagg__partcache_put_many(tsagg_store *st, tsagg__pcent **ents, size_t n);

tsagg__part *tsagg__pcent_part(const tsagg__pcent *e);
/* Store measure m's index in the file's schema, or -1 (schemas may differ
 * after a rebuild); the same for dimensions. */
const int *tsagg__pcent_measure_map(const tsagg__pcent *e);
const int *tsagg__pcent_dimension_map(const tsagg__pcent *e);

/*
 * The merchant in the entry's file: 1 (*out), 0 when the file has no rows
 * of it, < 0 on error (the file's errmsg says what). A merchant looked up
 * before is found without the reader's lock.
 */
int tsagg__pcent_merchant(tsagg_store *st, tsagg__pcent *e, uint64_t merchant,
                          tsagg__pcmerch **out);
const tsagg__merchant_entry *tsagg__pcmerch_entry(const tsagg__pcmerch *m);
/* Start the memory loads of a later tsagg__pcent_merchant of a merchant
 * looked up before: stage 0 its hint slots and the file's header, stage 1
 * (once every file's stage 0 is under way) the slots they point at. A
 * query meets each of 53 files once, and two dependent cache misses per
 * file, taken one file after the other, were most of its lookups' time;
 * started for every file first, the misses overlap. No effect on results. */
void tsagg__pcent_merchant_prefetch(const tsagg__pcent *e, uint64_t merchant, int stage);

/* The merchant's hour segments (entry->nsegments of them), read and
 * checked once. */
int tsagg__pcent_segments(tsagg_store *st, tsagg__pcent *e, tsagg__pcmerch *m,
                          const tsagg__hour_segment **out);

/* The rollup summary of the merchant's segment k (which has a rollup),
 * cached, with its sketches when `sketches` (most questions need counts and
 * sums alone: copying and checking every hour's sketches was a sixth of a
 * first query's time). Segments must have been read. */
int tsagg__pcent_rollup(tsagg_store *st, tsagg__pcent *e, tsagg__pcmerch *m, uint32_t k,
                        int sketches, const tsagg__qrollup **out);

/*
 * Column col of the merchant's rows in the entry's file, decoded: its rows
 * in file order (entry->rows values of the column's type, dictionary codes
 * as narrow as group_code_bytes says). Rows inside one row group are a
 * view into the group's cached column (group_col), shared by the merchants
 * of the group; others are a copy, cached when there is room, with *owned
 * NULL; otherwise *owned is the buffer to free() after use.
 */
int tsagg__pcent_slice(tsagg_store *st, tsagg__pcent *e, tsagg__pcmerch *m, uint32_t col,
                       const void **data, void **owned);

/*
 * The distinct ids of kind `kind` (0 users, 1 sessions) of the merchant's
 * rows with ts in [lo, hi) in the entry's file, as a checked sketch view:
 * build(ctx, kind, lo, hi, into) fills an empty sketch on first use, and
 * its serialized bytes are cached (a few spans a merchant and file), so
 * that a day of a busy merchant in its time zone is one merge per file,
 * not a merge per hour and a row scan of the hour the day starts in.
 * 0 and *out; 1 when the span is not cached and the merchant's places for
 * spans are taken (an hourly series has more spans than places): nothing
 * is built, and the caller builds the span into its own sketch, since
 * serializing a sketch to use it once costs more than building it.
 */
typedef int (*tsagg__span_build)(void *ctx, int kind, int64_t lo, int64_t hi, tsagg__hll *into);
int tsagg__pcent_span_sketch(tsagg_store *st, tsagg__pcent *e, tsagg__pcmerch *m, int kind,
                             int64_t lo, int64_t hi, tsagg__span_build build, void *ctx,
                             const tsagg__hll_view **out);

/*
 * The rows of a merchant without hour segments by hour of its time: row[k]
 * is how many of its rows (in time order) come before hour first_hour +
 * k * TSAGG__HOUR_US, for k in [0, nhours]. Built once from its timestamps
 * and cached (about a hundred bytes a merchant of a day file): counts by
 * buckets of whole hours read these, not the rows' timestamps, which for
 * a dashboard's many small merchants were a cache miss per bucket.
 * 0 and *out (valid while the entry is referenced); 1 when the rows do not
 * allow it (their times not in order within [min_ts, max_ts]: the caller
 * reads the rows); < 0 on error.
 */
typedef struct tsagg__hour_rows {
    int64_t first_hour;
    uint32_t nhours;
    size_t bytes; /* the block's, for the budget */
    uint32_t row[];
} tsagg__hour_rows;
int tsagg__pcent_hour_rows(tsagg_store *st, tsagg__pcent *e, tsagg__pcmerch *m,
                           const tsagg__hour_rows **out);

/*
 * A group-by's counts of all the merchant's rows in the entry's file that
 * pass a filter: per dictionary code of the group column (code[i],
 * ascending) how many (count[i] > 0). The file is immutable, so these never
 * change: a top-N over a week of a busy merchant, whose day files lie whole
 * in its one bucket, adds a few thousand counts per file instead of
 * scanning hundreds of thousands of rows at every query. key[0..keylen)
 * names the question in the file's terms (the group column, the filters'
 * columns and code sets); build(ctx, &cc) makes the block on first use
 * (tsagg__code_counts_new), which is cached when one of the merchant's
 * few slots is free. *owned: as for tsagg__pcent_slice.
 */
typedef struct tsagg__code_counts {
    size_t bytes; /* the block's, for the budget */
    uint32_t keylen, n;
    uint64_t *count; /* n */
    uint32_t *code;  /* n, ascending */
    uint32_t *key;   /* keylen */
    _Alignas(8) unsigned char data[];
} tsagg__code_counts;
/* A block for n codes under key (copied), counts and codes to fill. */
tsagg__code_counts *tsagg__code_counts_new(const uint32_t *key, uint32_t keylen, uint32_t n);
typedef int (*tsagg__counts_build)(void *ctx, tsagg__code_counts **out);
int tsagg__pcent_code_counts(tsagg_store *st, tsagg__pcent *e, tsagg__pcmerch *m,
                             const uint32_t *key, uint32_t keylen, tsagg__counts_build build,
                             void *ctx, const tsagg__code_counts **out, void **owned);

/*
 * Column col of row group g of the entry's file, decoded (the group's rows
 * of the column's type, but see group_code_bytes), cached and valid while
 * the entry is referenced: the rows of busy merchants and of scans of
 * every merchant.
 */
int tsagg__pcent_group_col(tsagg_store *st, tsagg__pcent *e, uint32_t g, uint32_t col,
                           const void **data);

/* Bytes per value group_col gives of a dictionary column (the event name,
 * a dimension): 1 when every code of the file's dictionary fits a uint8_t,
 * 2 when it fits a uint16_t, else 4. A first query decodes megabytes of
 * codes of a busy merchant; narrow ones cost a quarter of the fresh memory
 * (and its page faults) and of the scans' reads. */
unsigned tsagg__pcent_group_code_bytes(const tsagg__pcent *e, uint32_t col);

/* The handle-wide ids (intern.h) of the strings of the dictionary of
 * column col (the event name or a dimension), kept with the file and
 * filled as group-bys meet their codes (tsagg__pcent_code_id): a group-by
 * finds a code's group by an integer, not by its string in every file of
 * every query. 0, TSAGG_EARG, -ENOMEM. */
int tsagg__pcent_dict_ids(tsagg__pcent *e, uint32_t col, _Atomic uint32_t **out);
/* The id of the string of code in column col, from ids (of dict_ids) or
 * given by the handle's table and kept there: 0 and *id; 1 when the string
 * has none (the table is full: compare strings); < 0 on error. */
int tsagg__pcent_code_id(tsagg_store *st, tsagg__pcent *e, uint32_t col, _Atomic uint32_t *ids,
                         uint32_t code, uint32_t *id);
/* The string of an id that code_id gave. */
const tsagg__intern_str *tsagg__partcache_key(tsagg_store *st, uint32_t id);

/* Set the handle's budget for decoded data (tsagg_options.query_cache_bytes;
 * 0 keeps nothing once a query is done). Tests and benchmarks only. */
int tsagg__partcache_set_budget(tsagg_store *st, size_t bytes);

/* Give no more handle-wide string ids past max_ids (intern.h): group-bys
 * of strings without one compare strings. Tests only. */
int tsagg__partcache_set_intern_limit(tsagg_store *st, uint32_t max_ids);

/* Close unused entries whose file m does not list. */
void tsagg__partcache_trim(tsagg_store *st, const tsagg__manifest *m);

/* Close every cached partition and free what was decoded (at close). */
void tsagg__partcache_free(tsagg_store *store);

#endif
