/* compact_internal.h - what the files of compaction, merge and rebuild
 * share: the compactor reading the log into hour buffers and writing them
 * (compactor.c), and merges of partition files (merge_files.c). */
#ifndef TSAGG_COMPACT_INTERNAL_H
#define TSAGG_COMPACT_INTERNAL_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hourbuf.h"
#include "manifest.h"
#include "merge.h"
#include "numtext.h"
#include "partfile.h"
#include "tsagg_compact.h"
#include "tsagg_rules.h"

/* A measure sent as a string ("12.50"): its number, or NaN. */
static inline double strtod_prefix(const char *s, size_t len)
{
    double v;
    return tsagg__num_parse(s, len, &v) == 0 ? v : NAN;
}

/* Event times partitions hold: the years 0000-9999 UTC, so that hours and
 * their ends fit in int64 and file names keep their YYYYMMDD form. */
#define TS_MIN TSAGG_TS_MIN /* 0000-01-01T00:00:00Z */
#define TS_END TSAGG_TS_END /* 10000-01-01T00:00:00Z */

static inline int64_t hour_of(int64_t ts)
{
    int64_t h = ts / TSAGG__HOUR_US;
    if (ts % TSAGG__HOUR_US < 0)
        h--;
    return h * TSAGG__HOUR_US;
}

/* One hour being compacted: its rows in memory and its spilled runs. */
typedef struct hour_slot {
    tsagg__hourbuf buf;
    char **runs;
    size_t nruns;
} hour_slot;

typedef struct compactor {
    tsagg_store *st;
    const tsagg_compact_options *o;
    tsagg_compact_stats *stats;
    uint32_t ndims, nmeas;
    hour_slot **hours;
    size_t nhours, hours_cap;
    size_t last; /* index of the hour hit last */
    size_t bytes;
    uint64_t next_run;     /* atomic: numbers sorted runs */
    uint32_t threads;      /* that write hours at once, >= 1 */
    /* Per-event scratch. */
    uint32_t *dims;
    double *meas;
    /* Attribute key -> column, remembered per attribute position (events
     * of one source mostly list the same keys in the same order). By the
     * key's bytes: the reader's key pointers point into frame buffers it
     * reuses, so one address may hold different keys over time. */
    char key_name[TSAGG_ATTRS_MAX][TSAGG_NAME_MAX];
    uint8_t key_len[TSAGG_ATTRS_MAX]; /* 0: nothing remembered */
    int key_col[TSAGG_ATTRS_MAX];
    /* The store's processing rules, read at the start of the run. */
    tsagg_rules *rules;
    /* A rebuild: the hours [ts_lo, ts_hi) only, and its progress. */
    const tsagg_rebuild_options *ro;
    tsagg_rebuild_stats *rs;
    int64_t ts_lo, ts_hi;
} compactor;

void tsagg__slot_free(hour_slot *s);
/* Orders hour slots by hour (qsort). */
int tsagg__slot_cmp(const void *a, const void *b);
/* Read the log into hour buffers. *last gets the last sequence read. */
int tsagg__compactor_read_log(compactor *c, uint64_t from, uint64_t to, uint64_t *last);
/*
 * Write one new file per hour buffered in c (they are sorted by hour) and
 * add them to `next`, with generation `gen` (0: the hour's current one) and
 * `level`. The manifest lists them only once all exist and it is published.
 */
int tsagg__compactor_write_hours(compactor *c, tsagg__manifest *next, uint32_t gen,
                                 uint32_t level);
void tsagg__compactor_remove_runs(compactor *c);

/* fsync STORE/parts so that the renamed files are durable. */
int tsagg__parts_dir_sync(tsagg_store *st, const char *dir);
/* What compaction, merge and rebuild each start with, holding the
 * compaction lock: parts/ present, what a crashed run left there swept, a
 * snapshot of the published state and a copy of its manifest to edit. On
 * success the caller releases *snap and frees *next; on failure neither is
 * held. */
int tsagg__edit_begin(tsagg_store *st, tsagg__snapshot **snap, tsagg__manifest **next);
/* After a failed compaction, merge or rebuild: remove what it wrote
 * (compactor.c). Returns rc; the handle's message stays that of the failure. */
int tsagg__remove_leftovers(tsagg_store *st, int rc);

/* ---- merges of partition files (merge_files.c) ---------------------------- */

/*
 * An hour's files to merge: partition files (not owned: read, never
 * removed) and runs written for the merge (owned: removed once merged).
 */
typedef struct tsagg__file_set {
    char **paths;
    uint8_t *owned;
    size_t n;
} tsagg__file_set;

/* Merge sources into a new partition file at `path` for `hour`; the sources
 * are freed. On failure detail names the file at fault. */
int tsagg__write_merged(tsagg_store *st, tsagg__merge_src **srcs, size_t nsrc, const char *path,
                        int64_t hour, uint64_t file_id, tsagg__part_info *info,
                        tsagg__merge_stats *ms, char *detail, size_t detail_len);
/* Open the partition files paths[0, n) as merge sources into srcs. */
int tsagg__open_sources(tsagg_store *st, char *const *paths, size_t n, tsagg__merge_src **srcs,
                        char *detail, size_t detail_len);
/* How many files one merge may read at once within `budget`. */
size_t tsagg__max_fanin(const tsagg_store *st, uint64_t budget);
void tsagg__file_set_free(tsagg_store *st, tsagg__file_set *fs, int unlink_owned);
/* Merge files of fs into runs until at most `keep` are left. */
int tsagg__reduce_files(tsagg_store *st, int64_t hour, tsagg__file_set *fs, size_t keep,
                        size_t fanin, uint64_t *next_run, uint64_t *dups);

/* tsagg_merge's work, under the store's compact_mu (merge_hours.c). */
int tsagg__merge_locked(tsagg_store *st, uint64_t budget, tsagg_compact_stats *stats);

#endif
