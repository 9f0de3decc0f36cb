/*
 * tsagg_compact.h - compaction: the raw log into columnar partitions of
 * hours, days and months.
 *
 * The compactor reads the durable log from where it stopped last time,
 * buckets events by the span that holds them, sorts each span by (merchant,
 * ts), and writes one partition file per span (STORE/parts/), then
 * publishes them atomically with the manifest (STORE/MANIFEST), which also
 * records how far into the log compaction has consumed. A crash at any
 * point leaves the old or the new state; running it again finishes the job
 * and never counts an event twice.
 *
 * Spans (docs/format.md, "Manifest"): a UTC hour, day or month. A span is
 * sealed once its end lies an hour or more behind the newest event
 * compacted (events more than a day ahead of the clock do not count). An
 * event goes to its month if sealed, else its day if sealed, else its hour:
 * live data lands in hour files, a bulk load of history in month files.
 * After publishing, tsagg_compact() merges every sealed day and month not
 * held by exactly one file of its span into one (tier merges), each merge
 * published on its own.
 *
 * Late events, for a span that already has a file, go into an extra file;
 * the next tier merge (or tsagg_merge()) combines a span's files into one.
 * Events with the same merchant, ts and event id (TSAGG_EVENT_HAS_ID) are
 * client retries: one is kept.
 *
 * Compaction and merging need a store opened with TSAGG_OPEN_WRITE and run
 * in the caller's thread; they may run while other threads append. Only one
 * compaction or merge runs at a time per store (others wait).
 */
#ifndef TSAGG_COMPACT_H
#define TSAGG_COMPACT_H

#include <stddef.h>
#include <stdint.h>

#include "tsagg_export.h"
#include "tsagg_store.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The processing hook: called for every event read from the log, in
 * sequence order. Return 1 to keep the event, 0 to drop it (bot traffic,
 * say), or a negative code to stop the compaction with that error. The hook
 * may change *ev in place (its ts, merchant, attrs...); strings and arrays it
 * points ev to must stay valid until the hook's next call. This is the
 * "processing logic" a rebuild re-applies to history. The store's own
 * processing rules (tsagg_rules.h) run first, in every compaction and
 * rebuild; an event they drop never reaches the hook. Both count in
 * events_dropped.
 */
typedef int (*tsagg_process_fn)(void *ctx, tsagg_event *ev, uint64_t seq);

typedef struct tsagg_compact_options {
    uint32_t struct_size;      /* sizeof, set by _init */
    uint32_t flags;            /* reserved, 0 */
    uint64_t memory_budget;    /* bytes of event data held in memory before
                                  hours are spilled as sorted runs;
                                  default 256 MiB, at least 1 MiB */
    uint64_t max_events;       /* stop after this many log events (0: all
                                  durable ones); what was read is published */
    tsagg_process_fn process;  /* NULL: the store's (tsagg_options.process),
                                  which the head applies too; none: keep
                                  every event as it is */
    void *process_ctx;
    uint32_t threads;          /* threads writing files at once, the caller's
                                  included: 0 or 1 (default) the caller's
                                  only, at most TSAGG_COMPACT_THREADS_MAX; the
                                  memory budget is shared among them */
    uint32_t reserved;         /* 0 */
} tsagg_compact_options;

#define TSAGG_COMPACT_THREADS_MAX 64

TSAGG_API void tsagg_compact_options_init(tsagg_compact_options *opts);

/*
 * Output structs (these stats, tsagg_rebuild_stats, tsagg_verify_stats,
 * tsagg_segment_info) carry their size too: set struct_size to
 * sizeof(the struct) before the call (or leave it 0, which means the size
 * of the first release, the one this header has). The library writes no
 * byte past that size, later fields stay as they were, and struct_size
 * comes back as the size written. A size out of range is TSAGG_EARG.
 */
typedef struct tsagg_compact_stats {
    uint32_t struct_size;      /* in: sizeof, or 0; out: bytes written */
    uint32_t reserved;         /* 0 */
    uint64_t events_read;      /* log events read */
    uint64_t events_dropped;   /* by the stored rules or the hook */
    uint64_t duplicates;       /* duplicates dropped: client retries (same
                                  merchant, ts, id) kept once, those a
                                  published file holds already included */
    uint64_t rows_written;     /* rows in the files written */
    uint64_t files_written;    /* from the log and by merges */
    uint64_t files_removed;    /* replaced by a merge */
    uint64_t hours;            /* distinct hours with events compacted */
    uint64_t runs_spilled;     /* sorted runs written for the memory budget */
    uint64_t bytes_written;
    uint64_t consumed_seq;     /* the log is compacted up to here */
    uint64_t events_unplaced;  /* ts outside [TSAGG_TS_MIN, TSAGG_TS_END)
                                  (logs written before appends checked it,
                                  or moved there by the hook): no hour holds
                                  them; kept in the log, skipped */
    /* Of files_written, those written from the log, by span: */
    uint64_t hour_files;
    uint64_t day_files;
    uint64_t month_files;
    uint64_t spans_merged;     /* merges: each wrote one file of a span in
                                  place of its files (files_removed in
                                  all) */
} tsagg_compact_stats;

/*
 * Compact every durable log event after the consumed position (up to
 * max_events of them). opts may be NULL (defaults); stats may be NULL.
 * opts->flags and opts->reserved must be 0 (TSAGG_EARG).
 * Returns 0 (also when there was nothing to do) or an error: TSAGG_EREADONLY,
 * TSAGG_EARG, the hook's error, a damaged log or partition (TSAGG_ECHECKSUM,
 * TSAGG_ECORRUPT), -errno. On error nothing new is published, and what the
 * run wrote (partition files, sorted runs) is removed before it returns:
 * after a failure such as ENOSPC the store takes the space it took before,
 * and the next run, once space is back, starts afresh. The same holds for
 * tsagg_merge() and tsagg_rebuild().
 */
TSAGG_API int tsagg_compact(tsagg_store *store, const tsagg_compact_options *opts,
                            tsagg_compact_stats *stats);

/*
 * Merge every span that has more than one partition file into one file
 * (dropping retries across them), and every sealed day and month into one
 * file of its span (as tsagg_compact() does), each merge published on its
 * own. Replaced files are removed
 * once no snapshot of this process uses them. Of opts only memory_budget
 * counts (it reads no log events and runs in the caller's thread).
 */
TSAGG_API int tsagg_merge(tsagg_store *store, const tsagg_compact_options *opts,
                          tsagg_compact_stats *stats);

/* ---- rebuild ------------------------------------------------------------- */

typedef struct tsagg_rebuild_stats {
    uint32_t struct_size;      /* as tsagg_compact_stats.struct_size */
    uint32_t generation;       /* of the files written */
    uint64_t events_read;      /* log events of the hours, as received */
    uint64_t events_dropped;   /* by the stored rules or the hook */
    uint64_t events_moved;     /* the hook moved their ts out of the hours:
                                  not kept (rebuild a range holding both) */
    uint64_t duplicates;       /* duplicates dropped (client retries) */
    uint64_t hours;            /* hours of the spans replaced or written */
    uint64_t files_written;
    uint64_t rows_written;
    uint64_t bytes_written;
    uint64_t files_replaced;   /* the previous generation's files */
    uint64_t rows_replaced;
    uint64_t bytes_replaced;
    uint64_t consumed_seq;     /* events up to this sequence were rebuilt */
    uint64_t events_unplaced;  /* as tsagg_compact_stats.events_unplaced */
    uint64_t regenerated;      /* 1: the store's partitions were of an older
                                  format (hourly files, manifest version 1):
                                  all of them were regenerated from the log,
                                  whatever the range */
} tsagg_rebuild_stats;

typedef struct tsagg_rebuild_options {
    uint32_t struct_size;      /* sizeof, set by _init */
    uint32_t flags;            /* reserved, 0 */
    int64_t from, to;          /* rebuild the UTC hours holding [from, to),
                                  microseconds; from < to (widened to the
                                  spans of the files they touch) */
    uint64_t memory_budget;    /* as for compaction; default 256 MiB */
    tsagg_process_fn process;  /* the processing logic to apply; NULL: the
                                  store's (tsagg_options.process), if any */
    void *process_ctx;
    /* Called after every 1 Mi events read and every file written, with the
       figures so far (a struct of this header's size, struct_size saying
       so); NULL: no calls. In the caller's thread. */
    void (*progress)(void *ctx, const tsagg_rebuild_stats *so_far);
    void *progress_ctx;
    uint32_t threads;          /* as tsagg_compact_options.threads */
    uint32_t reserved;         /* 0 */
} tsagg_rebuild_options;

TSAGG_API void tsagg_rebuild_options_init(tsagg_rebuild_options *opts);

/*
 * Regenerate the partitions of the hours holding [from, to) from the raw
 * log, with the store's current schema, its processing rules
 * (tsagg_rules.h) and the given processing hook. The range is widened to
 * whole files: to the span of every file it touches (a rebuild of one hour
 * inside a month file regenerates that month) and of the span the tier
 * rule gives its ends. The events compacted so far (up to the published
 * consumed position) whose ts as received falls in that range are read
 * again, deduplicated and written by the tier rule as tsagg_compact()
 * writes them, a new generation. One manifest publish then swaps every
 * file of the range for the new ones: queries see the old generation or
 * the new one, never a mix, and old files are removed once no snapshot
 * uses them. Events not yet compacted are left to tsagg_compact().
 *
 * A store whose manifest is of an older format (hourly files of an older
 * libtsagg, which every other call refuses with TSAGG_EVERSION) is
 * regenerated whole, whatever the range: its old files are removed and
 * every event up to its consumed position is compacted again (stats:
 * regenerated). A log that no longer holds every one of those events
 * (segments removed) cannot be: TSAGG_EVERSION, saying so.
 *
 * A damaged partition file of the range is not read, so a rebuild repairs
 * it; damage in the log is an error (TSAGG_ECHECKSUM, TSAGG_ECORRUPT) and
 * nothing is published. Runs exclusively with compactions and merges.
 * Returns 0 or an error as tsagg_compact(); stats may be NULL.
 */
TSAGG_API int tsagg_rebuild(tsagg_store *store, const tsagg_rebuild_options *opts,
                            tsagg_rebuild_stats *stats);

/* The log position compaction has consumed (0: nothing yet), as published. */
TSAGG_API int tsagg_compacted_seq(tsagg_store *store, uint64_t *seq);

/* ---- bulk loads ---------------------------------------------------------- */

/*
 * A bulk load appends events and compacts them in one pass: each batch
 * goes to the log (tsagg_append) and, from memory, straight into the
 * compaction's span buffers, so the log is never read back. A month whose
 * end lies two days behind the newest event (later events for it are rare
 * by then) is written as its file while the load goes on. With
 * opts->threads of 2 or more a helper thread does that work: the batch is
 * copied and tsagg_bulk_append returns once the log has it (the events
 * need not outlive the call), and the helper takes it into the buffers
 * while the caller prepares the next (the stored rules and opts->process
 * then run in that thread, in sequence order, one event at a time as
 * always); a second thread writes the month files meanwhile, one month at
 * a time. tsagg_bulk_finish()
 * makes the log durable (tsagg_flush), and only then writes the rest,
 * publishes every file with the consumed position in one manifest, and
 * merges sealed spans as tsagg_compact() does. The files and their tiers
 * are those tsagg_compact() writes for the same log, byte for byte, unless
 * an event comes after its month was written (an extra file, merged).
 *
 * Memory: opts->memory_budget as for tsagg_compact(), except that the
 * spans not yet sealed (the newest day or month of the load) stay in
 * memory whole: they are split by the tier rule at finish. With the
 * threads, a month being written is held too: the helper waits for the
 * month writer rather than hand it a second month.
 *
 * Crashes: nothing is published before finish has made the log durable.
 * A crash before that leaves the events in the log (as far as they were
 * written) and files no manifest lists, which the next compaction removes
 * before compacting the log as usual.
 *
 * The load holds the store's compaction lock from begin to finish or
 * cancel: compactions, merges and rebuilds of other threads wait. Events
 * other threads append meanwhile are not lost: the first such append makes
 * finish compact from the log instead. Events in the log but not compacted
 * before begin are read into the load first. The handle's head of
 * uncompacted events (docs/head.md) does not index the load's events: a
 * query before finish reads them from the log, after a cancel too.
 *
 * tsagg_bulk_begin: opts as for tsagg_compact() (NULL: defaults). Errors:
 * those of tsagg_compact(). tsagg_bulk_append: as tsagg_append() (the
 * events are validated and get consecutive sequence numbers), plus the
 * errors of compaction (the processing hook's, -errno writing a file);
 * after an error only tsagg_bulk_cancel() is left. tsagg_bulk_finish and
 * tsagg_bulk_cancel free the load, whatever they return; cancel publishes
 * nothing and keeps the log. Finish or cancel a load before closing its
 * store. Call the functions of a load from one thread (the one that
 * began it holds the compaction lock).
 *
 * tsagg_bulk_append_lent: tsagg_bulk_append without the copy for the
 * helper: the caller lends the events, their attributes and every byte they
 * point to, unchanged, until done(ctx) is called. done is called exactly
 * once whatever the call returns: before it returns (no helper thread, an
 * error, events taken from the log), or later from the helper thread once
 * it has taken the batch (at the latest in tsagg_bulk_finish or
 * tsagg_bulk_cancel). A batch the helper does not read (after an error, or
 * once events come from the log) may see its done before an earlier
 * batch's.
 */
typedef struct tsagg_bulk tsagg_bulk;

TSAGG_API int tsagg_bulk_begin(tsagg_store *store, const tsagg_compact_options *opts,
                               tsagg_bulk **out);
TSAGG_API int tsagg_bulk_append(tsagg_bulk *bulk, const tsagg_event *events, size_t n,
                                uint64_t *first_seq);
TSAGG_API int tsagg_bulk_append_lent(tsagg_bulk *bulk, const tsagg_event *events, size_t n,
                                     void (*done)(void *ctx), void *ctx, uint64_t *first_seq);
TSAGG_API int tsagg_bulk_finish(tsagg_bulk *bulk, tsagg_compact_stats *stats);
TSAGG_API int tsagg_bulk_cancel(tsagg_bulk *bulk);

#ifdef __cplusplus
}
#endif
#endif
