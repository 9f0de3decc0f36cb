/*
 * compactcheck.h - what the compaction tests check, shared by test_compact.c,
 * test_compact_crash.c, test_compact_faults.c, test_rebuild.c and
 * test_rules.c (compactcheck.c, linked into each of them).
 *
 * The truth is the raw log. cc_log_rows() turns log events into the rows a
 * partition must hold for them (the compactor's mapping of attributes to the
 * schema's dimensions and measures, redone independently here), optionally
 * through the same processing hook the compaction ran with.
 * cc_part_rows() reads every file a manifest lists, checks each one on the
 * way (the span of an hour, day or month the manifest lists, rows sorted by
 * (merchant, ts), row groups, merchant index and hour segments, rollups
 * exactly for the merchant-hours busy enough, the manifest's row and byte
 * counts, and optionally every rollup against aggregates recomputed from
 * the rows) and collects the rows.
 * cc_check_rows() compares the two multisets, retries aside: events with an
 * id that share (merchant, ts, id) are one event.
 *
 * Strings are interned in a pool, so two rows compare field by field with
 * dimension values compared as strings. Every check fails the running
 * Criterion test on a mismatch.
 */
#ifndef TSAGG_TEST_COMPACTCHECK_H
#define TSAGG_TEST_COMPACTCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "gagen.h"
#include "manifest.h"
#include "partfile.h"
#include "tsagg.h"
#include "tsagg_compact.h"

#define CC_MAXD 8
#define CC_MAXM 2
#define CC_HOUR INT64_C(3600000000)
#define CC_STR_MAX 0xfffffu /* partition strings are cut here */

/* ---- string pool ------------------------------------------------------------ */

typedef struct cc_pool {
    char *bytes;
    size_t len, cap;
    uint64_t *off;
    uint32_t *slen;
    uint32_t n, ncap;
    uint32_t *tab; /* code + 1, 0 empty */
    uint32_t tabcap;
} cc_pool;

uint32_t cc_intern(cc_pool *p, const char *s, size_t len);

const char *cc_str(const cc_pool *p, uint32_t code);

/* ---- rows ------------------------------------------------------------------- */

typedef struct cc_row {
    int64_t ts;
    uint64_t merchant, user, session, id;
    uint64_t seq;   /* expected rows: the log sequence number */
    uint32_t flags; /* TSAGG_EVENT_HAS_ID or 0 */
    uint32_t event; /* pool code */
    uint32_t file;  /* actual rows: index of the file in the manifest */
    uint32_t dims[CC_MAXD];
    double meas[CC_MAXM];
} cc_row;

typedef struct cc_rows {
    cc_row *r;
    size_t n, cap;
} cc_rows;

void cc_rows_free(cc_rows *rs);

/* What a check knows: the schema and the pool. */
typedef struct cc_ctx {
    cc_pool pool;
    uint32_t ndims, nmeas;
    char dim[CC_MAXD][TSAGG_NAME_MAX + 1];
    char meas[CC_MAXM][TSAGG_NAME_MAX + 1];
    uint32_t empty; /* pool code of "" */
    /* Rollup statistics of the last cc_part_rows with rollups. */
    uint64_t sketches_exact, sketches_approx, rollup_entries;
} cc_ctx;

void cc_init(cc_ctx *c, const tsagg_schema *schema);

void cc_fini(cc_ctx *c);

/*
 * The rows of log events [from, to] (sequence numbers, inclusive) as the
 * compactor must write them, through `hook` when not NULL (called with a
 * copy of each event, like the compactor does). *read and *dropped (may be
 * NULL) count events read and events the hook dropped.
 */
void cc_log_rows(cc_ctx *c, tsagg_store *st, uint64_t from, uint64_t to,
                 tsagg_process_fn hook, void *hook_ctx, cc_rows *out,
                 uint64_t *read, uint64_t *dropped);

/* ---- comparing rows -------------------------------------------------------------- */

/* Order of two rows: key (merchant, ts, id), then event, user, session, the
 * first nd dimensions (pool codes) and nm measures (bitwise): <0, 0, >0. */
int cc_cmp_content(const cc_row *a, const cc_row *b, uint32_t nd, uint32_t nm);

/* Rows of one retry group: same key and, without an id, same content. */
int cc_same_group(const cc_row *a, const cc_row *b);

/* qsort comparator of uint64_t values. */
int cc_cmp_u64p(const void *a, const void *b);

void cc_sort(cc_rows *rs);

void cc_row_text(const cc_ctx *c, const cc_row *r, char *buf, size_t len);

/* Rows that are retries of an earlier row of the same list: what one
 * compaction of exactly these events drops. Sorts rs. */
uint64_t cc_retries(cc_rows *rs);

typedef struct cc_result {
    uint64_t groups;       /* distinct events */
    uint64_t extra_copies; /* retries present in more than one file */
} cc_result;

/*
 * The partitions hold each event of the log exactly once, retries aside:
 * per retry group (same merchant, ts and id), at least one row, no more rows
 * than the log has copies, no two in one file, and each equal to a copy;
 * rows without an id: exactly as many as in the log. strict: one row per
 * retry group (a single compaction, or after a merge). Sorts both lists.
 */
cc_result cc_check_rows(cc_ctx *c, cc_rows *expect, cc_rows *actual, int strict,
                        const char *what);

/* ---- reading partitions ------------------------------------------------------------ */

/* Path of a listed partition file. */
void cc_path(tsagg_store *st, const tsagg__part_ref *ref, char *buf, size_t len);

int cc_exists(const char *path);

/*
 * Read and check one partition file, appending its rows (file = fileno) to
 * out. ref (may be NULL) is the manifest's entry. Checks: the file holds a
 * span of a tier (ref's), its rows sorted by (merchant, ts), the header's
 * count, the row groups, the merchant index and its hour segments agree
 * with the rows; with rollups, every merchant-hour's rollup against the
 * rows.
 */
void cc_read_part(cc_ctx *c, const char *path, const tsagg__part_ref *ref,
                  uint32_t fileno, int rollups, cc_rows *out);

/* Every file the manifest lists, read and checked (cc_read_part). */
void cc_part_rows(cc_ctx *c, tsagg_store *st, const tsagg__manifest *m,
                  int rollups, cc_rows *out);

/* ---- the store's state -------------------------------------------------------------- */

static inline int64_t cc_span_end(const tsagg__part_ref *r)
{
    return r->start + (int64_t)r->hours * CC_HOUR;
}

/* Number of files the manifest lists whose span holds an hour. */
size_t cc_files_of_hour(const tsagg__manifest *m, int64_t hour);

/* Whether any two files' spans overlap (extra files, or files of a smaller
 * span not yet merged into a sealed day or month). */
int cc_has_extra_files(const tsagg__manifest *m);

/* The newest-event mark the rows give (tiers.h: the largest ts, events more
 * than a day ahead of the clock aside). */
int64_t cc_newest(const cc_rows *rs);

/* Distinct spans the tier rule places the rows in, under `newest`; tiers
 * (may be NULL) gets how many of each tier. */
size_t cc_spans(const cc_rows *rs, int64_t newest, size_t tiers[3]);

/* Number of files of a tier (TSAGG__TIER_HOUR, _DAY, _MONTH). */
size_t cc_files_of_tier(const tsagg__manifest *m, uint32_t tier);

typedef struct cc_dirstate {
    unsigned tmp, runs, parts, unlisted, other;
    char first_stray[256];
} cc_dirstate;

/* What STORE/parts holds, against manifest m (NULL: count only). */
cc_dirstate cc_scan_parts(const char *store, const tsagg__manifest *m);

/* Nothing but the files the manifest lists in parts/. */
void cc_assert_clean_parts(const char *store, const tsagg__manifest *m,
                           const char *what);

/* The manifest a snapshot of the handle sees, cloned (free it). */
tsagg__manifest *cc_manifest(tsagg_store *st);

/*
 * The whole check of a store: every log event up to the compacted position
 * is in the partitions exactly once (retries aside; strict: one row per
 * retry group), and the files are sound. Returns the number of groups.
 */
cc_result cc_check_store(tsagg_store *st, int strict, int rollups,
                         const char *what);

/* ---- appending -------------------------------------------------------------------- */

/* Append n events of g (fewer when the stream ends); returns how many. */
uint64_t cc_append_gagen(tsagg_store *st, gagen *g, uint64_t n);

tsagg_store *cc_open(const char *dir, uint32_t flags, const tsagg_io *io);

tsagg_store *cc_open_writer(const char *dir);

/* tsagg_compact, asserting success; returns the stats. */
tsagg_compact_stats cc_compact(tsagg_store *st, uint64_t budget);

tsagg_compact_stats cc_merge(tsagg_store *st);

#endif
