/*
 * dctxpool.h - zstd decompression contexts kept for reuse.
 *
 * A context is about 95 KiB that zstd allocates and the kernel faults in on
 * first use. A pool shared by every partition file a store handle opens
 * keeps that cost per thread rather than per file: a 30-day query opens
 * 720 files.
 */
#ifndef TSAGG_DCTXPOOL_H
#define TSAGG_DCTXPOOL_H

#include <pthread.h>
#include <zstd.h>

#define TSAGG__DCTX_POOL_MAX 8 /* contexts kept; more threads create and free their own */

typedef struct tsagg__dctx_pool {
    pthread_mutex_t mu;
    ZSTD_DCtx *d[TSAGG__DCTX_POOL_MAX];
    int n;
} tsagg__dctx_pool;

void tsagg__dctx_pool_init(tsagg__dctx_pool *pool);
/* Frees the kept contexts; none may be out. */
void tsagg__dctx_pool_destroy(tsagg__dctx_pool *pool);

/* A context, kept or new; NULL when out of memory. */
ZSTD_DCtx *tsagg__dctx_get(tsagg__dctx_pool *pool);
/* Give a context back (kept, or freed when the pool is full). Accepts NULL. */
void tsagg__dctx_put(tsagg__dctx_pool *pool, ZSTD_DCtx *d);

#endif
