/*
 * tzcache.c - the handle's loaded time zones (see tzcache.h). A short list
 * under a mutex: a handle meets a few zones, and a zone is immutable once
 * loaded, so queries use it without the lock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tzcache.h"

struct tsagg__tz_cache {
    pthread_mutex_t mu;
    tsagg__tz **zones;
    size_t n, cap;
};

/* The handle's cache, created by the first query that needs it. */
static struct tsagg__tz_cache *cache_of(tsagg_store *st)
{
    struct tsagg__tz_cache *c = __atomic_load_n(&st->tz_cache, __ATOMIC_ACQUIRE);
    if (c)
        return c;
    struct tsagg__tz_cache *fresh = calloc(1, sizeof *fresh);
    if (!fresh || pthread_mutex_init(&fresh->mu, NULL) != 0) {
        free(fresh);
        return NULL;
    }
    struct tsagg__tz_cache *expected = NULL;
    if (__atomic_compare_exchange_n(&st->tz_cache, &expected, fresh, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
        return fresh;
    pthread_mutex_destroy(&fresh->mu);
    free(fresh);
    return expected;
}

int tsagg__tzcache_get(tsagg_store *st, const char *name, const tsagg__tz **out, char *errmsg,
                       size_t errlen)
{
    struct tsagg__tz_cache *c = cache_of(st);
    if (!c)
        return -ENOMEM;
    const char *key = name ? name : "UTC";
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(tsagg__tz_name(c->zones[i]), key) == 0) {
            *out = c->zones[i];
            pthread_mutex_unlock(&c->mu);
            return 0;
        }
    }
    /* Loaded under the lock: two threads meeting a new zone read it once. */
    tsagg__tz *tz = NULL;
    int rc = 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        tsagg__tz **z = realloc(c->zones, cap * sizeof *z);
        if (!z)
            rc = -ENOMEM;
        else {
            c->zones = z;
            c->cap = cap;
        }
    }
    if (rc == 0)
        rc = tsagg__tz_load(st->io, NULL, name, &tz, errmsg, errlen);
    if (rc == 0) {
        c->zones[c->n++] = tz;
        *out = tz;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void tsagg__tzcache_free(tsagg_store *st)
{
    struct tsagg__tz_cache *c = st->tz_cache;
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        tsagg__tz_free(c->zones[i]);
    free(c->zones);
    pthread_mutex_destroy(&c->mu);
    free(c);
    st->tz_cache = NULL;
}
