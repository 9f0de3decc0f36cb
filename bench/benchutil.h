/* benchutil.h - clocks and failure reporting shared by the benchmarks. */
#ifndef TSAGG_BENCHUTIL_H
#define TSAGG_BENCHUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tsagg.h"

/* Wall-clock seconds, for throughput and latency. */
static inline double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds of the whole process (every thread): "on one core". */
static inline double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Report a failed call (with the store's detail, if any) and exit. */
static inline void bench_die(const char *prog, const char *what, int rc, tsagg_store *st)
{
    char msg[512] = "";
    if (st)
        tsagg_store_errmsg(st, msg, sizeof msg);
    fprintf(stderr, "%s: %s: %s %s\n", prog, what, tsagg_strerror(rc), msg);
    exit(1);
}

#endif
