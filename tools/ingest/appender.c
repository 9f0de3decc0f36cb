/*
 * appender.c - see appender.h.
 *
 * A ring of QUEUE_SLOTS batches: the caller fills slots[head]; the thread
 * appends slots[tail] and only then frees its place, so that the caller
 * never writes into a batch being appended.
 */
#include "appender.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ndjson.h"

#define QUEUE_SLOTS 4
#define SPARE_BUFFERS (QUEUE_SLOTS + 1)

typedef struct slot {
    evbuild b;
    char *buf; /* released after this batch, or NULL */
    size_t cap;
} slot;

typedef struct spare {
    char *buf;
    size_t cap;
} spare;

struct appender {
    tsagg_store *st;
    tsagg_bulk *bulk;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t queued, done;
    slot slots[QUEUE_SLOTS];
    size_t head, tail, count; /* count: handed over, not yet appended */
    int quit;
    int rc;                   /* first failed append */
    uint64_t accepted;
    spare spares[SPARE_BUFFERS];
    size_t nspares;
};

/* Keep a released buffer for the next read, or free it. Under a->mu. */
static void keep_spare(appender *a, char *buf, size_t cap)
{
    if (a->nspares < SPARE_BUFFERS)
        a->spares[a->nspares++] = (spare){buf, cap};
    else
        free(buf);
}

static void *append_loop(void *arg)
{
    appender *a = arg;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (a->count == 0 && !a->quit)
            pthread_cond_wait(&a->queued, &a->mu);
        if (a->count == 0)
            break;
        slot *s = &a->slots[a->tail];
        int failed = a->rc;
        pthread_mutex_unlock(&a->mu);

        int rc = 0;
        if (!failed && s->b.n > 0)
            rc = a->bulk ? tsagg_bulk_append(a->bulk, s->b.evs, s->b.n, NULL)
                         : tsagg_append(a->st, s->b.evs, s->b.n, NULL);

        pthread_mutex_lock(&a->mu);
        if (rc != 0)
            a->rc = rc;
        else if (!failed)
            a->accepted += s->b.n;
        evb_reset(&s->b);
        if (s->buf)
            keep_spare(a, s->buf, s->cap);
        s->buf = NULL;
        a->tail = (a->tail + 1) % QUEUE_SLOTS;
        a->count--;
        pthread_cond_broadcast(&a->done);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

appender *appender_start(tsagg_store *st, tsagg_bulk *bulk, const fieldmap *fields,
                         enum ts_unit unit)
{
    appender *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->st = st;
    a->bulk = bulk;
    size_t ready = 0;
    while (ready < QUEUE_SLOTS && evb_init(&a->slots[ready].b, fields, unit) == 0)
        ready++;
    int locks = ready == QUEUE_SLOTS && pthread_mutex_init(&a->mu, NULL) == 0;
    if (locks && pthread_cond_init(&a->queued, NULL) == 0) {
        if (pthread_cond_init(&a->done, NULL) == 0) {
            if (pthread_create(&a->thread, NULL, append_loop, a) == 0)
                return a;
            pthread_cond_destroy(&a->done);
        }
        pthread_cond_destroy(&a->queued);
    }
    if (locks)
        pthread_mutex_destroy(&a->mu);
    while (ready > 0)
        evb_destroy(&a->slots[--ready].b);
    free(a);
    return NULL;
}

evbuild *appender_batch(appender *a)
{
    return &a->slots[a->head].b;
}

int appender_hand(appender *a, char *buf, size_t cap)
{
    pthread_mutex_lock(&a->mu);
    slot *s = &a->slots[a->head];
    s->buf = buf;
    s->cap = cap;
    a->head = (a->head + 1) % QUEUE_SLOTS;
    a->count++;
    pthread_cond_signal(&a->queued);
    while (a->count == QUEUE_SLOTS) /* the next slot is still queued */
        pthread_cond_wait(&a->done, &a->mu);
    int rc = a->rc;
    pthread_mutex_unlock(&a->mu);
    return rc;
}

char *appender_buffer(appender *a, size_t cap)
{
    char *buf = NULL;
    pthread_mutex_lock(&a->mu);
    while (!buf && a->nspares > 0) {
        spare sp = a->spares[--a->nspares];
        if (sp.cap == cap)
            buf = sp.buf;
        else
            free(sp.buf); /* from before the buffer grew */
    }
    pthread_mutex_unlock(&a->mu);
    if (!buf && (buf = malloc(cap + NDJSON_PADDING)) != NULL)
        memset(buf + cap, 0, NDJSON_PADDING);
    return buf;
}

int appender_drain(appender *a)
{
    pthread_mutex_lock(&a->mu);
    while (a->count > 0)
        pthread_cond_wait(&a->done, &a->mu);
    int rc = a->rc;
    pthread_mutex_unlock(&a->mu);
    return rc;
}

uint64_t appender_accepted(appender *a)
{
    pthread_mutex_lock(&a->mu);
    uint64_t n = a->accepted;
    pthread_mutex_unlock(&a->mu);
    return n;
}

void appender_stop(appender *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    a->quit = 1;
    pthread_cond_signal(&a->queued);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    pthread_cond_destroy(&a->done);
    pthread_cond_destroy(&a->queued);
    pthread_mutex_destroy(&a->mu);
    for (size_t i = 0; i < QUEUE_SLOTS; i++)
        evb_destroy(&a->slots[i].b);
    for (size_t i = 0; i < a->nspares; i++)
        free(a->spares[i].buf);
    free(a);
}
