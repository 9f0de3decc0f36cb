/* partcache.c - open partition files shared by a store handle's queries. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "partcache.h"

typedef struct entry {
    uint64_t file_id;
    tsagg__part *p;
    int refs;
} entry;

struct tsagg__part_cache {
    pthread_mutex_t mu;
    entry *e;
    size_t n, cap;
};

static struct tsagg__part_cache *cache_of(tsagg_store *st)
{
    pthread_mutex_lock(&st->catalog_mu);
    if (!st->part_cache) {
        struct tsagg__part_cache *c = calloc(1, sizeof *c);
        if (c) {
            pthread_mutex_init(&c->mu, NULL);
            st->part_cache = c;
        }
    }
    pthread_mutex_unlock(&st->catalog_mu);
    return st->part_cache;
}

int tsagg__partcache_get(tsagg_store *st, int64_t hour, uint64_t file_id, tsagg__part **out)
{
    struct tsagg__part_cache *c = cache_of(st);
    if (!c)
        return -ENOMEM;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n; i++) {
        if (c->e[i].file_id == file_id) {
            c->e[i].refs++;
            *out = c->e[i].p;
            pthread_mutex_unlock(&c->mu);
            return 0;
        }
    }
    pthread_mutex_unlock(&c->mu);
    /* Open outside the lock: it reads the footer. */
    char path[TSAGG_PATH_MAX + 64], err[TSAGG_ERRMSG_MAX];
    tsagg__part_file_path(st, hour, file_id, path, sizeof path);
    tsagg__part *p;
    int rc = tsagg__part_open(st->io, path, &p, err, sizeof err);
    if (rc != 0)
        return tsagg__fail(st, rc, "%s", err);
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n; i++) {
        if (c->e[i].file_id == file_id) { /* another thread was faster */
            c->e[i].refs++;
            *out = c->e[i].p;
            pthread_mutex_unlock(&c->mu);
            tsagg__part_close(p);
            return 0;
        }
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        entry *e = realloc(c->e, cap * sizeof *e);
        if (!e) {
            pthread_mutex_unlock(&c->mu);
            tsagg__part_close(p);
            return -ENOMEM;
        }
        c->e = e;
        c->cap = cap;
    }
    c->e[c->n++] = (entry){file_id, p, 1};
    *out = p;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

void tsagg__partcache_put(tsagg_store *st, tsagg__part *p)
{
    struct tsagg__part_cache *c = st->part_cache;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].p == p)
            c->e[i].refs--;
    pthread_mutex_unlock(&c->mu);
}

void tsagg__partcache_trim(tsagg_store *st, const tsagg__manifest *m)
{
    struct tsagg__part_cache *c = st->part_cache;
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    size_t kept = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->e[i].refs == 0 && !tsagg__manifest_has(m, c->e[i].file_id))
            tsagg__part_close(c->e[i].p);
        else
            c->e[kept++] = c->e[i];
    }
    c->n = kept;
    pthread_mutex_unlock(&c->mu);
}

void tsagg__partcache_free(tsagg_store *st)
{
    struct tsagg__part_cache *c = st->part_cache;
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        tsagg__part_close(c->e[i].p);
    free(c->e);
    pthread_mutex_destroy(&c->mu);
    free(c);
    st->part_cache = NULL;
}
