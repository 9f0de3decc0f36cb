/*
 * appender.c - see appender.h.
 *
 * A ring of QUEUE_SLOTS batches: the caller fills slots[head]; the thread
 * appends slots[tail]; a slot's place (and the read buffer handed with it)
 * is freed at slots[oldest] once it is appended and, for a bulk load, once
 * the load's helper has taken it too: the batch is lent to the load
 * (tsagg_bulk_append_lent), not copied, so the caller never writes into a
 * batch anybody still reads. Slots are freed in the order they were filled.
 */
#include "appender.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ndjson.h"

/* The batch being filled, four waiting to be appended and, behind them,
 * the load's queue of four lent ones and the one its helper takes. */
#define QUEUE_SLOTS 10
#define SPARE_BUFFERS (QUEUE_SLOTS + 1)

typedef struct slot {
    evbuild b;
    char *buf; /* released after this batch, or NULL */
    size_t cap;
    appender *a;
    int users; /* under a->mu: 2 once handed over (the append, the load's
                  helper), less one as each is done with it */
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
    size_t oldest, used;      /* used: handed over, not yet freed */
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

/* Free the places of the oldest slots nobody uses any more. Under a->mu. */
static void free_slots(appender *a)
{
    while (a->used > 0 && a->slots[a->oldest].users == 0) {
        slot *s = &a->slots[a->oldest];
        evb_reset(&s->b);
        if (s->buf)
            keep_spare(a, s->buf, s->cap);
        s->buf = NULL;
        a->oldest = (a->oldest + 1) % QUEUE_SLOTS;
        a->used--;
    }
    pthread_cond_broadcast(&a->done);
}

/* The load no longer reads the slot's batch (any thread). */
static void slot_returned(void *ctx)
{
    slot *s = ctx;
    appender *a = s->a;
    pthread_mutex_lock(&a->mu);
    s->users--;
    free_slots(a);
    pthread_mutex_unlock(&a->mu);
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

        int rc = 0, lent = !failed && s->b.n > 0 && a->bulk;
        if (lent)
            rc = tsagg_bulk_append_lent(a->bulk, s->b.evs, s->b.n, slot_returned, s, NULL);
        else if (!failed && s->b.n > 0)
            rc = tsagg_append(a->st, s->b.evs, s->b.n, NULL);

        pthread_mutex_lock(&a->mu);
        if (rc != 0)
            a->rc = rc;
        else if (!failed)
            a->accepted += s->b.n;
        s->users -= lent ? 1 : 2; /* slot_returned counts the load's use */
        a->tail = (a->tail + 1) % QUEUE_SLOTS;
        a->count--;
        free_slots(a);
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
        a->slots[ready++].a = a;
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
    s->users = 2;
    a->head = (a->head + 1) % QUEUE_SLOTS;
    a->count++;
    a->used++;
    pthread_cond_signal(&a->queued);
    while (a->used == QUEUE_SLOTS) /* the next slot is still in use */
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
    while (a->used > 0) /* appended, and taken by the load's helper */
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
    /* Batches lent to the load come back once its helper took them. */
    pthread_mutex_lock(&a->mu);
    while (a->used > 0)
        pthread_cond_wait(&a->done, &a->mu);
    pthread_mutex_unlock(&a->mu);
    pthread_cond_destroy(&a->done);
    pthread_cond_destroy(&a->queued);
    pthread_mutex_destroy(&a->mu);
    for (size_t i = 0; i < QUEUE_SLOTS; i++)
        evb_destroy(&a->slots[i].b);
    for (size_t i = 0; i < a->nspares; i++)
        free(a->spares[i].buf);
    free(a);
}
