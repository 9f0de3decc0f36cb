/*
 * dctxpool.c - zstd decompression contexts kept for reuse (dctxpool.h).
 */
#include "dctxpool.h"

void tsagg__dctx_pool_init(tsagg__dctx_pool *pool)
{
    pthread_mutex_init(&pool->mu, NULL);
    pool->n = 0;
}

void tsagg__dctx_pool_destroy(tsagg__dctx_pool *pool)
{
    for (int i = 0; i < pool->n; i++)
        ZSTD_freeDCtx(pool->d[i]);
    pool->n = 0;
    pthread_mutex_destroy(&pool->mu);
}

ZSTD_DCtx *tsagg__dctx_get(tsagg__dctx_pool *pool)
{
    ZSTD_DCtx *d = NULL;
    pthread_mutex_lock(&pool->mu);
    if (pool->n > 0)
        d = pool->d[--pool->n];
    pthread_mutex_unlock(&pool->mu);
    return d ? d : ZSTD_createDCtx();
}

void tsagg__dctx_put(tsagg__dctx_pool *pool, ZSTD_DCtx *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&pool->mu);
    if (pool->n < TSAGG__DCTX_POOL_MAX) {
        pool->d[pool->n++] = d;
        d = NULL;
    }
    pthread_mutex_unlock(&pool->mu);
    ZSTD_freeDCtx(d);
}
