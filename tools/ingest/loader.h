/*
 * loader.h - read input files line by line, parse each line with the
 * parser of its format, and append the events to the store in batches.
 * Rejected lines are reported (FILE:LINE: reason), counted, and written to
 * the rejects file; everything else still loads.
 */
#ifndef INGEST_LOADER_H
#define INGEST_LOADER_H

#include <stdint.h>

#include "ingest.h"

typedef struct loader_options {
    enum ts_unit ts_unit;
    uint64_t merchant;       /* of combined-format input */
    uint64_t max_errors;     /* stop at this many rejected lines; 0: never */
    const char *rejects;     /* rejected lines go here, verbatim; NULL: nowhere.
                                Created at the first one (rejects.h) */
    const char *store_path;  /* what the rejects file must not lie inside */
    int verbose;             /* report every rejected line, not only the first ones */
    int progress;            /* redraw a progress line on stderr */
    /* Called every every_s seconds (0: never) between reads, also while
     * waiting for input; a nonzero return stops the load (store_rc). */
    double every_s;
    int (*periodic)(void *ctx);
    void *periodic_ctx;
    /* Batches go to this bulk load (tsagg_bulk_append) instead of
     * tsagg_append; NULL: tsagg_append. */
    tsagg_bulk *bulk;
} loader_options;

typedef struct loader_input {
    const char *path;        /* "-": standard input */
    enum ingest_format format;
} loader_input;

typedef struct loader_stats {
    uint64_t accepted;       /* events appended */
    uint64_t rejected;       /* lines (records) rejected */
    uint64_t bytes;          /* read */
    unsigned files_failed;   /* could not be opened or read */
    int stopped;             /* at max_errors */
    int interrupted;         /* the signal that stopped the load (interrupt.h), or 0 */
    size_t input;            /* the input read last (an index) */
    uint64_t next_line;      /* its first line not read (or not complete) */
} loader_stats;

/*
 * Load the inputs in order into st (open for writing). Returns 0, or the
 * store's error when an append (or the periodic task) failed (reported on
 * stderr; loading stops). Failing files and the rejects file are reported
 * and counted in stats. A SIGINT or SIGTERM taken while waiting for input
 * (interrupt.h) stops the load after appending every complete line read:
 * stats then say which signal and the first line of which input was not
 * loaded.
 */
int loader_run(tsagg_store *st, const loader_options *opts, const loader_input *inputs,
               size_t ninputs, loader_stats *stats);

#endif
