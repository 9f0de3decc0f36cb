/*
 * partfile.h - compacted partition files (internal API).
 *
 * One file holds the events of a span of whole UTC hours (an hour, a day or
 * a month: the compactor's tiers), rows sorted by (merchant, ts), so one
 * merchant's rows are contiguous and in time order. Rows are stored column
 * by column in row groups of TSAGG__PART_GROUP_ROWS rows, each column block
 * encoded (encoding.h), zstd-compressed where it pays and checksummed. A
 * small footer holds the schema, the string dictionaries' places, the row
 * group index and the page table of the merchant index; the merchant index
 * (merchant -> row range, time range, hour segments) is stored in small
 * compressed pages read one at a time, so a query of one merchant reads one
 * page, not a directory of every merchant. Rollups (per-minute, per-event
 * counts and measure sums, and the hour's unique-user and unique-session
 * sketches, hll.h) exist only for merchant-hours with at least
 * TSAGG__PART_ROLLUP_MIN_ROWS rows, where reading rows would cost more;
 * smaller merchant-hours are answered from their rows.
 * Byte layout: docs/format.md, "Partition files".
 *
 * Writers stream: rows arrive sorted, a row group is encoded when it fills,
 * and memory stays at one row group plus the dictionaries, the compressed
 * index pages, the current merchant's hours and one merchant-hour's
 * rollup, whatever the span's size.
 *
 * Readers check the header, trailer and footer checksums on open and each
 * block's checksum when they read it: damage gives TSAGG_ECHECKSUM or
 * TSAGG_ECORRUPT with a message naming the file (and offset), never a crash
 * or a wrong answer. A reader is immutable after open and may be used by
 * several threads at once (caches are filled under a lock).
 */
#ifndef TSAGG_PARTFILE_H
#define TSAGG_PARTFILE_H

#include <stddef.h>
#include <stdint.h>

#include "dctxpool.h"
#include "tsagg_io.h"
#include "tsagg_store.h"

#define TSAGG__PART_GROUP_ROWS 4096
#define TSAGG__HOUR_US INT64_C(3600000000)

/* A borrowed string. */
typedef struct tsagg__str {
    const char *ptr;
    uint32_t len;
} tsagg__str;

/* A row for the writer. Strings are borrowed for the call. An absent
 * dimension is the empty string; an absent measure is NaN (ignored by
 * sums, counted by nothing). */
typedef struct tsagg__row {
    int64_t ts;
    uint64_t merchant, user, session, id;
    uint32_t flags; /* TSAGG_EVENT_HAS_ID */
    tsagg__str event;
    const tsagg__str *dims;  /* tsagg_schema_dimension_count() entries */
    const double *measures;  /* tsagg_schema_measure_count() entries */
} tsagg__row;

/* Column numbers: the core columns, then one per dimension, then one per
 * measure, in schema order. */
enum {
    TSAGG__COL_TS = 0,       /* int64 */
    TSAGG__COL_MERCHANT = 1, /* uint64 */
    TSAGG__COL_EVENT = 2,    /* uint32 code into the event-name dictionary */
    TSAGG__COL_USER = 3,     /* uint64 */
    TSAGG__COL_SESSION = 4,  /* uint64 */
    TSAGG__COL_ID = 5,       /* uint64, 0 where the row has no id */
    TSAGG__COL_FLAGS = 6,    /* uint32: TSAGG_EVENT_HAS_ID */
    TSAGG__COL_DIM0 = 7      /* uint32 codes into each dimension's dictionary */
    /* measures: TSAGG__COL_DIM0 + ndims + i, double */
};

/* A merchant-hour gets a rollup block when it has at least this many rows. */
#define TSAGG__PART_ROLLUP_MIN_ROWS 512

/* What a finished file holds. */
typedef struct tsagg__part_info {
    int64_t start;       /* span start, µs (a multiple of TSAGG__HOUR_US) */
    uint32_t hours;      /* span length: ts in [start, start + hours h) */
    uint64_t rows, merchants, bytes;
    int64_t min_ts, max_ts;
} tsagg__part_info;

/* ---- writing ------------------------------------------------------------- */

typedef struct tsagg__part_writer tsagg__part_writer;

/*
 * Start a partition for the span [start, start + hours h) (start a multiple
 * of TSAGG__HOUR_US, 1 <= hours <= TSAGG__PART_MAX_HOURS). Data goes to
 * "<path>.tmp"; finish renames it to path. file_id is recorded in the
 * header. 0, TSAGG_EARG, -errno.
 */
#define TSAGG__PART_MAX_HOURS 744 /* 31 days */
int tsagg__part_writer_open(const tsagg_io *io, const char *path, int64_t start,
                            uint32_t hours, const tsagg_schema *schema, uint64_t file_id,
                            tsagg__part_writer **out);

/* Mark a scratch file (a sorted run of the compactor): finish skips the
 * fsync, since a crash discards such files anyway. */
void tsagg__part_writer_no_sync(tsagg__part_writer *w);

/*
 * Add rows. Across all calls rows must be sorted by (merchant, ts) and lie
 * in the span: TSAGG_EARG otherwise (nothing of this call added).
 */
int tsagg__part_writer_add(tsagg__part_writer *w, const tsagg__row *rows, size_t n);

/*
 * Rows whose strings the caller already turned into the writer's codes:
 * codes[i * (1 + ndims)] is row i's event code, then one per dimension,
 * each from tsagg__part_writer_intern (dict 0 the event names, 1 + d
 * dimension d), asked in the order the rows' strings come (event, then
 * dimensions, row after row), so that the dictionaries are those
 * tsagg__part_writer_add would build. The rows' event and dims are not
 * read. Spares looking every string up again when the caller has its own
 * codes for them (a span buffer's).
 */
int tsagg__part_writer_add_coded(tsagg__part_writer *w, const tsagg__row *rows,
                                 const uint32_t *codes, size_t n);
int tsagg__part_writer_intern(tsagg__part_writer *w, uint32_t dict, const char *s, uint32_t len,
                              uint32_t *code);

/*
 * Write the last row group, the rollups, the footer and the trailer, fsync
 * the file and rename it to its final path. The caller fsyncs the directory
 * (once for many files). Frees the writer whatever the result; on failure
 * the temporary file is removed. info may be NULL.
 */
int tsagg__part_writer_finish(tsagg__part_writer *w, tsagg__part_info *info);

/* Drop the writer and its temporary file. Accepts NULL. */
void tsagg__part_writer_abort(tsagg__part_writer *w);

/*
 * (Addition.) The detail of the writer's last failure ("row 17: (merchant
 * 5, ts ...) sorts before the previous row (...)", the file and offset of
 * a failed write), "" when there was none. Errors other than TSAGG_EARG are
 * sticky: the temporary file is already removed and later calls return the
 * same code; add() with TSAGG_EARG added nothing and the writer stays
 * usable. Rows may not carry flags other than TSAGG_EVENT_HAS_ID
 * (TSAGG_EARG); the id column holds 0 for rows without that flag.
 */
void tsagg__part_writer_errmsg(const tsagg__part_writer *w, char *buf, size_t len);

/* ---- reading ------------------------------------------------------------- */

typedef struct tsagg__part tsagg__part;

/*
 * Open and check a partition file (header, trailer, footer checksum,
 * version). On failure errmsg (if not NULL) names the file and what is
 * wrong. 0, TSAGG_ECHECKSUM, TSAGG_ECORRUPT, TSAGG_EVERSION, -errno.
 */
int tsagg__part_open(const tsagg_io *io, const char *path, tsagg__part **out, char *errmsg,
                     size_t errmsg_len);
/* The same, decompressing with the contexts of dctx, which must outlive
 * the file (part_open uses a pool of the file's own). */
int tsagg__part_open_shared(const tsagg_io *io, const char *path, tsagg__dctx_pool *dctx,
                            tsagg__part **out, char *errmsg, size_t errmsg_len);
void tsagg__part_close(tsagg__part *p); /* accepts NULL */

/*
 * Whether an open file is the one a listing names: the header's span, file
 * id and row count and the file's size must all agree, so that a file of
 * another span or store copied over a listed one is refused rather than
 * answered. 0, or TSAGG_ECORRUPT with errmsg (if not NULL) naming the file
 * and both descriptions.
 */
int tsagg__part_check_listed(const tsagg__part *p, int64_t start, uint32_t hours,
                             uint64_t file_id, uint64_t rows, uint64_t bytes, char *errmsg,
                             size_t errmsg_len);

const tsagg__part_info *tsagg__part_get_info(const tsagg__part *p);
/* The schema the file was written with (its own copy). */
const tsagg_schema *tsagg__part_schema(const tsagg__part *p);

/*
 * (Addition.) The detail of the reader's most recent failure (the file, the
 * block and its offset, what is wrong), for errors of read_column,
 * dict_get/dict_find and rollup. Thread-safe; with several threads failing
 * at once it holds one of their messages.
 */
void tsagg__part_errmsg(tsagg__part *p, char *buf, size_t len);
/* (Addition.) The path the file was opened with, and the header's file id.
 * Tests only. */
const char *tsagg__part_path(const tsagg__part *p);
uint64_t tsagg__part_file_id(const tsagg__part *p);

/* (Addition.) Bytes on disk by section, block headers included. header +
 * columns + dicts + rollups + index (merchant index pages and hour-segment
 * blocks) + footer (with the trailer) is the file size. Tests and
 * benchmarks only. */
typedef struct tsagg__part_space_info {
    uint64_t header, columns, dicts, rollups, index, footer;
} tsagg__part_space_info;

void tsagg__part_space(const tsagg__part *p, tsagg__part_space_info *out);
uint64_t tsagg__part_column_bytes(const tsagg__part *p, uint32_t col); /* all its blocks */
uint64_t tsagg__part_dict_bytes(const tsagg__part *p, uint32_t col);   /* 0: no dictionary */

/* Row groups: count, and per group its first row, row count and ranges.
 * (Addition: every group but the last holds exactly TSAGG__PART_GROUP_ROWS
 * rows, which open checks, so row r is in group r / TSAGG__PART_GROUP_ROWS.
 * tsagg__part_group returns NULL for g out of range.) */
typedef struct tsagg__group_info {
    uint64_t row_start;
    uint32_t rows;
    int64_t min_ts, max_ts;
    uint64_t min_merchant, max_merchant;
} tsagg__group_info;

uint32_t tsagg__part_groups(const tsagg__part *p);
const tsagg__group_info *tsagg__part_group(const tsagg__part *p, uint32_t g);

/*
 * Decode column `col` of row group g into out (room for
 * TSAGG__PART_GROUP_ROWS values of the column's type: int64_t, uint64_t,
 * uint32_t or double). Checks the block's checksum. Thread-safe.
 */
int tsagg__part_read_column(tsagg__part *p, uint32_t col, uint32_t g, void *out);

/*
 * The dictionary of a string column (TSAGG__COL_EVENT or a dimension):
 * string of a code, and code of a string (1 found, 0 absent, <0 error).
 * (Addition: codes are in first-seen order of the file's rows, not sorted;
 * code 0 of every dimension is the empty string, i.e. "absent". The first
 * call loads and checks the dictionary block (TSAGG_ECHECKSUM /
 * TSAGG_ECORRUPT); the first find indexes its strings, checking that none
 * appears twice (TSAGG_ECORRUPT, on every find), and find is then a hash
 * lookup. dict_get: TSAGG_EARG for a code
 * >= dict_size or a column without dictionary. dict_size takes no I/O: the
 * count is in the footer; 0 for a column without dictionary.)
 */
int tsagg__part_dict_get(tsagg__part *p, uint32_t col, uint32_t code, const char **s,
                         size_t *len);
int tsagg__part_dict_find(tsagg__part *p, uint32_t col, const char *s, size_t len,
                          uint32_t *code);
/* Number of entries in a string column's dictionary. */
uint32_t tsagg__part_dict_size(tsagg__part *p, uint32_t col);

/*
 * The merchant index. Entries are numbered 0 .. merchants-1 by increasing
 * merchant. Lookups read, check and decode the index page holding the
 * merchant (cached in the reader after the first use; thread-safe), so
 * they can fail: TSAGG_ECHECKSUM / TSAGG_ECORRUPT with the detail in
 * tsagg__part_errmsg, -ENOMEM.
 */
typedef struct tsagg__merchant_entry {
    uint64_t merchant;
    uint64_t index;       /* its number in the file */
    uint64_t row_start;   /* first row in the file */
    uint64_t rows;        /* >= 1 */
    int64_t min_ts, max_ts;
    uint32_t nsegments;   /* hour segments listed (0: none, see below) */
} tsagg__merchant_entry;

uint64_t tsagg__part_merchants(const tsagg__part *p); /* from the footer, no I/O */
/* 1 found (*out filled), 0 absent, < 0 error. */
int tsagg__part_find_merchant(tsagg__part *p, uint64_t merchant, tsagg__merchant_entry *out);
/* Entry i (i < merchants): 0, TSAGG_EARG for i out of range, < 0 error. */
int tsagg__part_merchant_at(tsagg__part *p, uint64_t i, tsagg__merchant_entry *out);

/*
 * A merchant's hour segments: the rows of one hour of its rows, and the
 * rollup of that merchant-hour if it has one. They are listed (nsegments >
 * 0) for every merchant with at least one rollup, one per hour holding its
 * rows, ascending; a merchant without rollups lists none, and a reader
 * splits its rows by their ts.
 */
typedef struct tsagg__hour_segment {
    int64_t hour;         /* hour start, µs */
    uint64_t row_start;   /* first row in the file */
    uint64_t rows;        /* >= 1 */
    uint64_t rollup_off;  /* rollup block; rollup_len 0: none */
    uint32_t rollup_len;
} tsagg__hour_segment;

/* Read the merchant's segments into out[0, e->nsegments) (the caller's
 * array; none when e->nsegments is 0). 0, TSAGG_ECHECKSUM,
 * TSAGG_ECORRUPT, -ENOMEM; TSAGG_EARG when e is not an entry of this file
 * (as merchant_at or find_merchant gave it). */
int tsagg__part_segments(tsagg__part *p, const tsagg__merchant_entry *e,
                         tsagg__hour_segment *out);

/*
 * A merchant-hour's rollup, decoded. The arrays hold one entry per (minute,
 * event code) that has events, sorted by minute then event code; sums has
 * nmeasures values per entry (NaN-free: absent measures count as 0).
 * Sketches are serialized HLLs (hll.h) to merge with
 * tsagg__hll_merge_serialized. The rollup owns its memory; free it with
 * tsagg__rollup_free. Checks the rollup block's checksum.
 */
typedef struct tsagg__rollup {
    uint32_t n;            /* entries */
    uint8_t *minute;       /* 0..59 */
    uint32_t *event;       /* code into the event-name dictionary */
    uint64_t *count;
    double *sums;          /* n * nmeasures, entry-major */
    uint32_t nmeasures;
    const uint8_t *users;  /* sketch of all the merchant's users in the hour */
    size_t users_len;
    const uint8_t *sessions;
    size_t sessions_len;
    uint32_t nnamed;       /* per-event-name sketches, for event names with
                              at least 1024 rows in the merchant-hour */
    uint32_t *named_event; /* event codes, ascending */
    const uint8_t **named_users;
    size_t *named_users_len;
    const uint8_t **named_sessions;
    size_t *named_sessions_len;
    void *mem;             /* backing storage */
} tsagg__rollup;

/* The rollup of a segment with rollup_len > 0: TSAGG_EARG otherwise. */
int tsagg__part_rollup(tsagg__part *p, const tsagg__merchant_entry *e,
                       const tsagg__hour_segment *seg, tsagg__rollup *out);
/* The same without the sketches (users and sessions NULL, nnamed 0): the
 * sketch block, most of a busy hour's rollup bytes, is neither
 * decompressed nor checked. */
int tsagg__part_rollup_counts(tsagg__part *p, const tsagg__merchant_entry *e,
                              const tsagg__hour_segment *seg, tsagg__rollup *out);
void tsagg__rollup_free(tsagg__rollup *r);

#endif
