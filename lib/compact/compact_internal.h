/* compact_internal.h - what the files of compaction, merge and rebuild
 * share: the compactor reading the log into span buffers (compactor.c) and
 * writing them (write_spans.c), merges of partition files (merge_files.c)
 * and of spans (merge_spans.c). */
#ifndef TSAGG_COMPACT_INTERNAL_H
#define TSAGG_COMPACT_INTERNAL_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "event_row.h"
#include "spanbuf.h"
#include "tiers.h"
#include "manifest.h"
#include "merge.h"
#include "partfile.h"
#include "tsagg_compact.h"
#include "tsagg_rules.h"

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

/* Bits for the hours of a span (at most TSAGG__PART_MAX_HOURS). */
#define SPAN_HOUR_WORDS ((TSAGG__PART_MAX_HOURS + 63) / 64)

/* One span being compacted (tiers.h): its rows in memory and its spilled
 * runs. */
typedef struct span_slot {
    tsagg__spanbuf buf; /* buf.start: the span's start */
    uint32_t hours;
    uint64_t seq;       /* slots in the order they were made */
    uint64_t hour_bits[SPAN_HOUR_WORDS]; /* the span's hours with events */
    char **runs;
    size_t nruns;
    /* The write phase: the span the slot's rows go to. */
    int64_t tstart;
    uint32_t thours;
} span_slot;

typedef struct compactor {
    tsagg_store *st;
    const tsagg_compact_options *o;
    tsagg_compact_stats *stats;
    uint32_t ndims, nmeas;
    span_slot **slots;
    size_t nslots, slots_cap;
    size_t last; /* index of the slot hit last */
    uint64_t next_seq;
    size_t bytes;
    uint64_t next_run;     /* atomic: numbers sorted runs */
    uint32_t threads;      /* that write spans at once, >= 1 */
    /* The newest-event mark (tiers.h): the manifest's, moved by the events
     * read; and the wall clock, which bounds how far events may move it. */
    int64_t newest;
    int64_t now_us;
    int fixed_newest; /* a rebuild places events by the manifest's mark */
    tsagg__rowconv conv; /* events to rows */
    /* A compaction's published files, whose events its rows must not
     * repeat (retries.h); NULL for a rebuild, which replaces them. */
    const tsagg__manifest *published;
    int bulk;         /* a bulk load (bulk.c): 1, rows of an hour not
                         yet sealed wait in their day's slot; 2, every row
                         in its month's */
    /* The month the last row of a bulk load went to (month_hours 0: none
     * yet): the next rows mostly share it, and finding a month from a
     * time takes calendar arithmetic. */
    int64_t month_start;
    uint32_t month_hours;
    /* The store's processing rules, read at the start of the run. */
    tsagg_rules *rules;
    /* A rebuild: the hours [ts_lo, ts_hi) only, and its progress. */
    const tsagg_rebuild_options *ro;
    tsagg_rebuild_stats *rs;
    int64_t ts_lo, ts_hi;
} compactor;

/* Set up a compactor of st (rules read, scratch allocated); free with
 * tsagg__compactor_free. newest: the manifest's newest-event mark. */
int tsagg__compactor_init(compactor *c, tsagg_store *st, const tsagg_compact_options *o,
                          tsagg_compact_stats *stats, int64_t newest);
/* Free what the compactor holds, removing sorted runs left behind. */
void tsagg__compactor_free(compactor *c);
/* Take one event of sequence seq into the span buffers, as the log read
 * does: the stored rules, the processing hook, placement, spilling. */
int tsagg__compactor_take(compactor *c, const tsagg_event *ev, uint64_t seq);
/* Read the log into span buffers. *last gets the last sequence read. */
int tsagg__compactor_read_log(compactor *c, uint64_t from, uint64_t to, uint64_t *last);
/*
 * Write the buffered spans, each in the span the tier rule gives it once
 * everything is read (a slot made while its day or month was not yet
 * sealed joins the others of that day or month), one new file per span,
 * and add them to `next` with generation `gen` (0: that of the span's
 * current files) and `level`. The manifest lists them only once all exist
 * and it is published.
 */
int tsagg__compactor_write_spans(compactor *c, tsagg__manifest *next, uint32_t gen,
                                 uint32_t level);

/* Move the rows of slot i (no runs) into the slots the tier rule gives
 * them under c->newest. */
int tsagg__compactor_split(compactor *c, size_t i);
/* The checks of tsagg_compact_options: 0, or TSAGG_EARG with the detail. */
int tsagg__compact_check_options(tsagg_store *st, const tsagg_compact_options *o);
/* tsagg_compact's work under the store's compact_mu (compactor.c). */
int tsagg__compact_locked(tsagg_store *st, const tsagg_compact_options *o,
                          tsagg_compact_stats *stats);

/* A rebuild's figures so far to its progress callback (caller's thread). */
void tsagg__rebuild_progress(compactor *c);

/* Count a file written from the log or by a merge in stats. */
void tsagg__count_file(tsagg_compact_stats *stats, uint32_t hours, int from_log);

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
 * A span's files to merge: partition files (not owned: read, never
 * removed) and runs written for the merge (owned: removed once merged).
 */
typedef struct tsagg__file_set {
    char **paths;
    uint8_t *owned;
    size_t n;
} tsagg__file_set;

/* Merge sources into a new partition file at `path` for the span [start,
 * start + hours h); the sources are freed. On failure detail names the
 * file at fault. */
int tsagg__write_merged(tsagg_store *st, tsagg__merge_src **srcs, size_t nsrc, const char *path,
                        int64_t start, uint32_t hours, uint64_t file_id, tsagg__part_info *info,
                        tsagg__merge_stats *ms, char *detail, size_t detail_len);
/* Open the partition files paths[0, n) as merge sources into srcs. */
int tsagg__open_sources(tsagg_store *st, char *const *paths, size_t n, tsagg__merge_src **srcs,
                        char *detail, size_t detail_len);
/* How many files one merge may read at once within `budget`. */
size_t tsagg__max_fanin(const tsagg_store *st, uint64_t budget);
void tsagg__file_set_free(tsagg_store *st, tsagg__file_set *fs, int unlink_owned);
/* Merge files of fs into runs of the span [start, start + hours h) until at
 * most `keep` are left. */
int tsagg__reduce_files(tsagg_store *st, int64_t start, uint32_t hours, tsagg__file_set *fs,
                        size_t keep, size_t fanin, uint64_t *next_run, uint64_t *dups);

/* ---- merges of spans (merge_spans.c) --------------------------------------- */

/* What a merge of spans takes (tsagg__merge_spans_locked). */
#define TSAGG__MERGE_SEALED 0 /* sealed days and months (tier merges) */
#define TSAGG__MERGE_ALL 1    /* and every other span with several files */
#define TSAGG__MERGE_RECENT 2 /* as ALL, but see tsagg__merge_recent_locked */

/*
 * Merge files into the spans the tier rule gives them now: every sealed
 * day or month not held by exactly one file of its span becomes one file
 * (tier merges), and with TSAGG__MERGE_ALL every other span with several
 * files too (extra files of late events). Each merge writes its file and
 * then publishes a manifest that drops its inputs and lists it, so a crash
 * leaves the state before or after each merge, and running again finishes.
 * Under the store's compact_mu.
 */
int tsagg__merge_spans_locked(tsagg_store *st, uint64_t budget, int mode,
                              tsagg_compact_stats *stats);

/*
 * Maintenance's merges: as TSAGG__MERGE_ALL, except for an hour that ended
 * less than an hour before now_us (the one being written gets a file per
 * compaction): only its newest files, once `fanin` of them are no larger
 * than the newer ones together and the merge stays under 2 M rows, so that a
 * row is rewritten about log2(compactions / fanin) times in its hour rather
 * than at every merge.
 * Under the store's compact_mu.
 */
int tsagg__merge_recent_locked(tsagg_store *st, uint64_t budget, uint32_t fanin, int64_t now_us,
                               tsagg_compact_stats *stats);
/* The same as tsagg_merge() runs it: options checked, under the lock,
 * leftovers of a failure removed. */
int tsagg__merge_recent(tsagg_store *st, const tsagg_compact_options *opts, uint32_t fanin,
                        int64_t now_us, tsagg_compact_stats *stats);

#endif
