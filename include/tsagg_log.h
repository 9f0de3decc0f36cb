/*
 * tsagg_log.h - the raw event log: append, durability, reading, archiving.
 *
 * The log is the source of truth: every partition and rollup is derived
 * from it. Each appended event gets a sequence number: 1, 2, 3, ... in
 * append order, without gaps, for the life of the store. Events appended by
 * one tsagg_append() call get consecutive numbers and are reported durable
 * together; one thread's calls keep their order. A call larger than half a
 * frame is written as several records: if the process dies before the call
 * returns, recovery may keep a prefix of it (whole events that were never
 * reported durable; hosts drop retried events by their id).
 *
 * Recovery cuts what a crash left unsynced (never reported durable); the
 * numbers of events cut off, by recovery or by a salvaging open
 * (TSAGG_OPEN_SALVAGE, tsagg_store.h), are given to new events. The log
 * never has a gap.
 *
 * On disk (docs/format.md): STORE/log/<16 hex digits>.tlog segment files,
 * each a header followed by checksummed frames of events.
 */
#ifndef TSAGG_LOG_H
#define TSAGG_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "tsagg_export.h"
#include "tsagg_store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Writing (store opened with TSAGG_OPEN_WRITE)                             */
/* ------------------------------------------------------------------------ */

/*
 * Append n events (n >= 1). Every event is validated first; if one is
 * invalid nothing is appended and TSAGG_EINPUT is returned (the message names
 * the event index and field). On success *first_seq (if not NULL) holds the
 * sequence number of evs[0]; evs[i] has *first_seq + i.
 *
 * In TSAGG_SYNC_BATCH mode the call returns after the events are durable;
 * otherwise it returns once they are in the writer's buffer.
 *
 * Thread-safe. After any failed write or fsync the writer is failed: this
 * and every later call returns the stored error (usually -EIO or -ENOSPC)
 * and nothing more becomes durable; close and reopen to recover. A signal
 * the host catches (with or without SA_RESTART) while a write or fsync is
 * awaited is not a failure: the wait is resumed, on both I/O paths. Errors:
 * TSAGG_EINPUT, TSAGG_EARG, TSAGG_EREADONLY, -errno.
 */
TSAGG_API int tsagg_append(tsagg_store *store, const tsagg_event *evs, size_t n,
                           uint64_t *first_seq);

/* Write and fsync everything appended so far; returns when it is durable.
 * Thread-safe. */
TSAGG_API int tsagg_flush(tsagg_store *store);

/* Highest sequence number known durable (0: none). Every event with a
 * number <= this survives any crash; queries on the writer's handle count
 * exactly these (tsagg_query.h). Thread-safe, lock-free. */
TSAGG_API uint64_t tsagg_durable_seq(tsagg_store *store);

/* Highest sequence number assigned so far (0: none). */
TSAGG_API uint64_t tsagg_last_seq(tsagg_store *store);

/*
 * Wait until tsagg_durable_seq() >= seq. timeout_ms < 0 waits forever.
 * Returns 0, TSAGG_ETIMEDOUT, or the writer's stored failure. In
 * TSAGG_SYNC_NONE mode the writer thread makes events durable every 500 ms;
 * tsagg_flush() does it at once.
 */
TSAGG_API int tsagg_wait_durable(tsagg_store *store, uint64_t seq, int timeout_ms);

/* "io_uring" or "pwrite": the path the log writer uses. "none" for a
 * read-only handle. Static string. */
TSAGG_API const char *tsagg_io_backend_name(const tsagg_store *store);

/* Flush, seal the current segment and start the next. Thread-safe. */
TSAGG_API int tsagg_log_roll(tsagg_store *store);

/*
 * Rewrite every sealed live segment in the archive form: larger frames
 * compressed with zstd (level `level`, 0 = default 9) over a columnar event
 * encoding. The archived file replaces the live one atomically (temporary
 * name, fsync, rename, directory fsync); readers read both forms. The
 * segment being appended to is never touched. *count (if not NULL) is the
 * number of segments rewritten. Needs a writable store. On failure the
 * temporary file of the segment being rewritten is removed; the segments
 * rewritten before it stay archived.
 */
TSAGG_API int tsagg_log_archive(tsagg_store *store, int level, unsigned *count);

/* ------------------------------------------------------------------------ */
/* Segments                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct tsagg_segment_info {
    uint32_t struct_size; /* see tsagg_log_segments */
    uint32_t sealed;    /* 1: complete, no more appends */
    uint64_t number;    /* from 1, in the file name */
    uint64_t first_seq; /* sequence number of its first event */
    uint64_t last_seq;  /* of its last event; first_seq - 1 when empty (as is
                           a segment cut before its header was written) */
    int64_t min_ts;     /* event-time range; min_ts > max_ts when empty */
    int64_t max_ts;
    uint64_t bytes;     /* file size */
    uint32_t archived;  /* 1: archive form */
    uint32_t reserved;  /* 0 */
} tsagg_segment_info;

/*
 * Describe the log's segments, oldest first: up to cap entries are stored in
 * infos; the return value is the total number of segments (call with cap 0
 * to size the array) or a negative error. Reads each sealed segment's seal
 * record and scans the unsealed one. With cap > 0, infos[0].struct_size is
 * the size of each element as the caller compiled it (sizeof, or 0 for the
 * first release's: a zeroed array will do); each element written gets it
 * (tsagg_compact.h, "Output structs"). Other sizes: TSAGG_EARG.
 */
TSAGG_API int tsagg_log_segments(tsagg_store *store, tsagg_segment_info *infos, size_t cap);

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct tsagg_log_reader tsagg_log_reader;

/*
 * What to read. Initialise with tsagg_log_range_init() (everything), then
 * narrow. Events are returned in sequence order; events whose ts lies
 * outside [ts_from, ts_to) are skipped, and so are whole segments and frames
 * whose time range misses it.
 */
typedef struct tsagg_log_range {
    uint64_t from_seq; /* first sequence number wanted; default 1 */
    uint64_t to_seq;   /* one past the last; default UINT64_MAX */
    int64_t ts_from;   /* default INT64_MIN */
    int64_t ts_to;     /* default INT64_MAX, which means no upper bound
                          (events at ts INT64_MAX included) */
} tsagg_log_range;

TSAGG_API void tsagg_log_range_init(tsagg_log_range *range);

/*
 * Open a reader over the store's log. Works on read-only and writable
 * handles; sees what was written to the files when each segment is reached
 * (a frame still being written ends the read, as the live tail does not yet
 * exist). The reader must be closed before the store.
 */
TSAGG_API int tsagg_log_reader_open(tsagg_store *store, const tsagg_log_range *range,
                                    tsagg_log_reader **out);

/*
 * Next event: returns 1 with *ev and *seq set, 0 at the end, or a negative
 * error (TSAGG_ECHECKSUM, TSAGG_ECORRUPT, TSAGG_EVERSION, -errno; the
 * store's errmsg names the segment and offset). The event and every string
 * it points to stay valid until the next call or the close. After an error
 * the reader only returns that error.
 */
TSAGG_API int tsagg_log_reader_next(tsagg_log_reader *reader, const tsagg_event **ev,
                                    uint64_t *seq);

/* Accepts NULL. */
TSAGG_API void tsagg_log_reader_close(tsagg_log_reader *reader);

#ifdef __cplusplus
}
#endif
#endif
