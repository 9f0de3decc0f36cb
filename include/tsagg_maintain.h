/*
 * tsagg_maintain.h - keeping a store healthy while it runs: compaction when
 * the tail is due, merges, log archiving and retention, in one step or in a
 * background thread.
 *
 * Two forms, because hosts differ: tsagg_maintain() is one step, for a host
 * with its own scheduler (or a tool, run once); tsagg_options.maintenance
 * starts a background thread at open that calls the same step every
 * interval_ms, for the host that just wants the store kept healthy. Both
 * run on a handle opened with TSAGG_OPEN_WRITE, beside appends and queries
 * in other threads: every change is published atomically as a compaction's
 * (tsagg_compact.h), so a query sees the state before or after each one.
 * Steps never overlap (a call waits for the thread's step and the other
 * way round), and they share the store's lock with tsagg_compact(),
 * tsagg_merge() and tsagg_rebuild().
 *
 * A step does, in this order, what is due:
 *   1. compaction (tsagg_compact()) when the durable, uncompacted tail
 *      holds compact_tail_events events or compact_tail_bytes bytes of
 *      log, or has waited compact_tail_age_ms since it was first seen non
 *      empty, or the head of uncompacted events holds
 *      tsagg_options.head_max_bytes (TSAGG_MAINTAIN_NOW: whenever it is not
 *      empty). tsagg_compact()
 *      also merges the days and months it seals into one file each;
 *      the background thread is woken for a step by the append that finds
 *      the head past its bound, rather than wait for interval_ms (unless it
 *      is backing off after a failure), and such appends do not compact
 *      themselves below four times the bound (tsagg_options.head_max_bytes);
 *   2. merges once a span with several files ended an hour ago or more
 *      (late events: the whole span, as tsagg_merge() does), or a span
 *      holds merge_span_files files. The hour being written gets a file per
 *      compaction; merging all of it each time would rewrite its rows at
 *      every merge, so only its newest files are merged: walking from the
 *      newest, an older file joins while it holds no more rows than the
 *      newer ones together, and merge_span_files such files make a merge.
 *      Merged files about double, up to 2,097,152 rows (a merge holds
 *      compaction up while it runs), and a row is rewritten about
 *      log2(compactions / merge_span_files) times in its hour;
 *   3. partition retention: with retention_days_parts, every partition file
 *      whose span ends at or before now - retention_days_parts days is
 *      dropped from MANIFEST by one publish, like a compaction's (whole
 *      files only: a day or month that straddles the cutoff stays until its
 *      end passes it); the files go once no query uses them. Events older
 *      than the cutoff still in the uncompacted tail count until they are
 *      compacted and the next step drops their file; so does a late event,
 *      and a tsagg_rebuild() of dropped hours whose events the log still
 *      holds brings them back until the next step;
 *   4. log retention: with retention_days_log, the oldest log segments whose
 *      every event is older than now - retention_days_log days, is compacted
 *      and sealed, are removed: MANIFEST first records where the log now
 *      starts (docs/format.md, "Manifest", version 3), then the segments are
 *      unlinked. Only a prefix goes, so the log keeps no gap; a segment with
 *      one newer event keeps itself and every later one. tsagg_rebuild() of
 *      hours the removed segments held is then refused (TSAGG_EARG, saying
 *      where the log starts);
 *   5. archiving (with archive): every sealed live segment is rewritten in
 *      the archive form (tsagg_log_archive()).
 * Retention counts days of event time against the wall clock (UTC); 0 keeps
 * everything, which is the default: nothing is dropped unless the host asks.
 * The settings are options, not stored in the store, so that a tool or a
 * second host opening the store never drops data on a policy it did not
 * state.
 */
#ifndef TSAGG_MAINTAIN_H
#define TSAGG_MAINTAIN_H

#include <stddef.h>
#include <stdint.h>

#include "tsagg_compact.h"
#include "tsagg_export.h"
#include "tsagg_store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* tsagg_maintain_options.flags */
#define TSAGG_MAINTAIN_NOW 0x1u /* compact whatever the tail holds (tsagg_maintain only) */

typedef struct tsagg_maintain_options {
    uint32_t struct_size;         /* sizeof, set by _init */
    uint32_t flags;               /* TSAGG_MAINTAIN_*; default 0 */
    uint64_t compact_tail_events; /* compact at this many uncompacted events;
                                     default 1,000,000 (0: not by count) */
    uint64_t compact_tail_bytes;  /* ... or this many bytes of log they take;
                                     default 64 MiB (0: not by size) */
    uint32_t compact_tail_age_ms; /* ... or once the tail waited this long;
                                     default 60,000 (0: not by age) */
    uint32_t interval_ms;         /* the thread: between steps; default 1000,
                                     at least 10 */
    uint32_t retention_days_parts; /* 0 (default): keep every partition */
    uint32_t retention_days_log;  /* 0 (default): keep every log segment */
    uint32_t archive;             /* 1: archive sealed segments (step 5);
                                     default 0 */
    int32_t archive_level;        /* zstd level, 0: the default 9 */
    uint64_t memory_budget;       /* of compactions and merges; default
                                     256 MiB, at least 1 MiB */
    uint32_t threads;             /* compaction threads (tsagg_compact_options);
                                     default 1 */
    uint32_t merge_span_files;    /* merge a span's newest files at this many;
                                     default 16 (0: a span only an hour after
                                     its end) */
    tsagg_process_fn process;     /* the processing hook of compactions */
    void *process_ctx;
    int32_t nice;                 /* the background thread's nice value
                                     above the process's, 0..19 (Linux; 0
                                     elsewhere): its compactions, and the
                                     threads they start, yield the CPUs to
                                     queries and appends when they are
                                     short, and the head grows meanwhile
                                     (up to its hard cap, where appends
                                     compact). tsagg_maintain() runs at
                                     its caller's. Default 0 */
    uint32_t reserved2;           /* 0 */
} tsagg_maintain_options;

TSAGG_API void tsagg_maintain_options_init(tsagg_maintain_options *opts);

/*
 * What maintenance did, and how it fares. From tsagg_maintain(): the
 * figures of that step. From tsagg_maintenance_status(): the totals of
 * every step run on the handle (the thread's and tsagg_maintain()'s) and
 * the failure state. An output struct (tsagg_compact.h, "Output structs").
 */
typedef struct tsagg_maintain_stats {
    uint32_t struct_size;         /* in: sizeof, or 0; out: bytes written */
    uint32_t running;             /* status: 1 while the thread runs */
    uint64_t steps;               /* steps run */
    uint64_t compactions;         /* of them, those that compacted */
    uint64_t events_compacted;    /* log events read by compactions */
    uint64_t files_written;       /* partition files, by compactions and merges */
    uint64_t files_merged;        /* files replaced by merges */
    uint64_t partitions_dropped;  /* files dropped by retention */
    uint64_t rows_dropped;        /* rows they held */
    uint64_t segments_archived;
    uint64_t segments_dropped;    /* log segments removed by retention */
    uint64_t cpu_us;              /* CPU time of the thread running each
                                     step (with threads > 1, compaction's
                                     other threads are not in it) */
    uint64_t wall_us;             /* time the steps took */
    /* The tail after the last step: */
    uint64_t tail_events;         /* durable, not yet compacted */
    uint64_t tail_bytes;          /* log bytes they take (estimated) */
    uint64_t log_start_seq;       /* the log's first sequence number */
    /* Failures (status; a step's own: rc and the handle's errmsg): */
    uint64_t failures;            /* steps that failed */
    uint32_t consecutive_failures; /* since the last step that succeeded:
                                     > 0 means maintenance is failing now */
    int32_t last_error;           /* code of the last failure, 0: none yet */
    int64_t last_error_us;        /* when (UTC µs since the epoch) */
    int64_t last_success_us;      /* when the last step succeeded, 0: never */
    char last_error_msg[256];     /* its message, naming the file */
    /* Status, now: the head's memory (the index of the events not compacted
     * yet) and its bound, tsagg_options.head_max_bytes. Past the bound a
     * maintenance thread compacts at once, and a host taking bulk batches
     * can hold them off meanwhile rather than let the head reach the
     * appends' own compaction (four times the bound). */
    uint64_t head_bytes;
    uint64_t head_max_bytes;
} tsagg_maintain_stats;

/*
 * Run one maintenance step now, in the caller's thread (see above for what
 * it does). opts may be NULL (defaults; retention off); stats may be NULL.
 * Returns 0 or the error of the first part that failed (the rest of the
 * step is skipped, what was published before stays): TSAGG_EREADONLY,
 * TSAGG_EARG, or any error of tsagg_compact(), tsagg_merge() or
 * tsagg_log_archive(). The failure is also recorded in the handle's
 * maintenance status.
 */
TSAGG_API int tsagg_maintain(tsagg_store *store, const tsagg_maintain_options *opts,
                             tsagg_maintain_stats *stats);

/*
 * The handle's maintenance totals and failure state (see
 * tsagg_maintain_stats). The background thread never stops on a failure:
 * it records it here (and counts it), waits interval_ms doubled per
 * consecutive failure (at most 5 minutes) and tries again; the first step
 * that succeeds sets consecutive_failures back to 0, while last_error and
 * its message stay for the host to read. A failed log writer (tsagg_append
 * returning -EIO) is not maintenance's: it shows in the appends. Returns 0
 * or TSAGG_EARG.
 */
TSAGG_API int tsagg_maintenance_status(tsagg_store *store, tsagg_maintain_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
