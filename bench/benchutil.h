/* benchutil.h - clocks, random draws and failure reporting shared by the
 * benchmarks. */
#ifndef TSAGG_BENCHUTIL_H
#define TSAGG_BENCHUTIL_H

#include <stddef.h>
#include <stdint.h>
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

/* The next of a splitmix64 sequence kept in *x. */
static inline uint64_t rng_next(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A rank drawn by traffic: cum[i] is the cumulative share of ranks 0..i
 * (n > 0 of them). */
static inline size_t draw_rank(const double *cum, size_t n, uint64_t *rng)
{
    double u = (double)(rng_next(rng) >> 11) / 9007199254740992.0 * cum[n - 1];
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cum[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
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
