/* writer_internal.h - state of the log writer, shared by writer.c and recovery.c. */
#ifndef TSAGG_WRITER_INTERNAL_H
#define TSAGG_WRITER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "io_backend.h"
#include "log_internal.h"

/* Events appended but not yet written, one frame's worth each. */
typedef struct pending_frame {
    tsagg__buf raw;
    uint64_t first_seq;
    uint32_t count;
    int64_t min_ts, max_ts;
} pending_frame;

/* The segment being appended to. */
typedef struct open_segment {
    int fd;             /* -1: none open; the next write creates one */
    uint64_t number;    /* of the open segment, or of the last sealed one */
    uint64_t first_seq;
    uint64_t offset;    /* where the next frame goes */
    uint64_t synced;    /* bytes [0, synced) are on stable storage */
    uint64_t events, frames;
    int64_t min_ts, max_ts;
} open_segment;

struct tsagg_log_writer {
    tsagg_store *st;
    pthread_mutex_t mu;
    pthread_cond_t cond; /* flush finished, durability advanced, or failure */
    tsagg__wio wio;

    pending_frame *frames; /* frames[nframes-1] is the one being filled */
    size_t nframes, frames_cap;
    tsagg__buf *spare;     /* recycled frame buffers */
    size_t nspare, spare_cap;
    size_t pending_bytes;

    uint64_t next_seq;     /* next number to assign */
    uint64_t written_seq;  /* highest number handed to the file */
    _Atomic uint64_t durable_seq;
    int failed;            /* sticky: the first write/fsync error */
    int flushing;          /* a thread is doing I/O for everyone */
    int closing;

    open_segment seg;      /* leader only */
    uint64_t active_segment; /* seg's number as of the last flush; under mu */
    tsagg__buf out;        /* compressed frames of one flush (leader only) */

    pthread_mutex_t scratch_mu;
    struct append_scratch *scratch; /* free list of append scratch */

    pthread_t thread;      /* INTERVAL and NONE modes: the periodic flusher */
    int thread_started;
};

/* Recover the log directory: set next_seq and the open segment (recovery.c). */
int tsagg__log_recover(struct tsagg_log_writer *w);

#endif
