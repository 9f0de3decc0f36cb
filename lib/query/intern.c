/*
 * intern.c - handle-wide numbers for dictionary strings (intern.h).
 *
 * Keys live in chunks of CHUNK entries that are allocated once and never
 * move, so that a query reads the key of an id without the lock; the
 * string -> id table (open addressing on the stored hashes, at most half
 * full) is read and grown under the lock, only when a file's code meets
 * its string for the first time.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "intern.h"

#define CHUNK_BITS 12
#define CHUNK (1u << CHUNK_BITS)
#define NCHUNKS (TSAGG__INTERN_MAX_IDS / CHUNK)

struct tsagg__intern {
    pthread_mutex_t mu;
    uint32_t n;       /* ids given: 0 .. n - 1 */
    uint32_t max_ids; /* TSAGG__INTERN_MAX_IDS but in tests */
    size_t bytes;     /* of the strings kept */
    uint32_t *table;  /* id + 1, 0 empty */
    uint32_t cap;     /* a power of two */
    tsagg__intern_str *chunk[NCHUNKS];
};

tsagg__intern *tsagg__intern_new(void)
{
    tsagg__intern *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->cap = 1024;
    t->max_ids = TSAGG__INTERN_MAX_IDS;
    t->table = calloc(t->cap, sizeof *t->table);
    if (!t->table) {
        free(t);
        return NULL;
    }
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

void tsagg__intern_free(tsagg__intern *t)
{
    if (!t)
        return;
    for (uint32_t id = 0; id < t->n; id++)
        free((void *)tsagg__intern_key(t, id)->s);
    for (uint32_t c = 0; c < NCHUNKS; c++)
        free(t->chunk[c]);
    free(t->table);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

const tsagg__intern_str *tsagg__intern_key(const tsagg__intern *t, uint32_t id)
{
    return &t->chunk[id >> CHUNK_BITS][id & (CHUNK - 1)];
}

/* Double the table (under the lock). */
static int grow(tsagg__intern *t)
{
    uint32_t cap = t->cap * 2;
    uint32_t *fresh = calloc(cap, sizeof *fresh);
    if (!fresh)
        return -ENOMEM;
    for (uint32_t id = 0; id < t->n; id++) {
        uint32_t i = (uint32_t)tsagg__intern_key(t, id)->hash & (cap - 1);
        while (fresh[i])
            i = (i + 1) & (cap - 1);
        fresh[i] = id + 1;
    }
    free(t->table);
    t->table = fresh;
    t->cap = cap;
    return 0;
}

/* Keep key as id t->n (under the lock, below the bounds); slot is where
 * the table misses it. */
static int add(tsagg__intern *t, const char *key, size_t len, uint64_t hash, uint32_t slot,
               uint32_t *id)
{
    uint32_t n = t->n;
    tsagg__intern_str **c = &t->chunk[n >> CHUNK_BITS];
    if (!*c && !(*c = malloc(CHUNK * sizeof **c)))
        return -ENOMEM;
    char *copy = malloc(len + 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, key, len);
    copy[len] = 0;
    (*c)[n & (CHUNK - 1)] = (tsagg__intern_str){copy, hash, len};
    t->table[slot] = n + 1;
    t->n = n + 1;
    t->bytes += len + 1;
    *id = n;
    /* Growing may fail for memory: the id stands, the table stays as full
     * as it is (it is grown again at the next new string). */
    if ((size_t)t->n * 2 > t->cap)
        (void)grow(t);
    return 0;
}

int tsagg__intern_id(tsagg__intern *t, const char *key, size_t len, uint64_t hash, uint32_t *id)
{
    pthread_mutex_lock(&t->mu);
    uint32_t mask = t->cap - 1, i = (uint32_t)hash & mask;
    int rc = 1;
    for (; t->table[i]; i = (i + 1) & mask) {
        const tsagg__intern_str *k = tsagg__intern_key(t, t->table[i] - 1);
        if (k->hash == hash && k->len == len && !memcmp(k->s, key, len)) {
            *id = t->table[i] - 1;
            rc = 0;
            break;
        }
    }
    /* A table that could not grow stays below three quarters full. */
    if (rc == 1 && t->n < t->max_ids && t->bytes + len + 1 <= TSAGG__INTERN_MAX_BYTES &&
        ((size_t)t->n + 1) * 4 <= (size_t)t->cap * 3)
        rc = add(t, key, len, hash, i, id);
    pthread_mutex_unlock(&t->mu);
    return rc;
}

void tsagg__intern_set_limit(tsagg__intern *t, uint32_t max_ids)
{
    pthread_mutex_lock(&t->mu);
    t->max_ids = max_ids < TSAGG__INTERN_MAX_IDS ? max_ids : TSAGG__INTERN_MAX_IDS;
    pthread_mutex_unlock(&t->mu);
}
