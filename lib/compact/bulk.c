/*
 * bulk.c - bulk loads: events appended to the log and compacted from the
 * caller's memory in the same pass (tsagg_compact.h, "bulk loads").
 *
 * A compaction of a freshly loaded log spends a third of its time reading
 * the log back (decompressing, checking and decoding every frame) and
 * cannot start before the load ends. Here each batch is appended, then
 * taken into the compactor's span buffers as the log read would take it
 * (tsagg__compactor_take: rules, hook, placement). Rows of hours not yet
 * sealed wait in their day's buffer (one buffer per day, not per hour);
 * once the load has sealed a month it is a load of history, and rows wait
 * in their month's buffer, so that a month file is one sort rather than a
 * merge of thirty days. Spans still open at finish are split by the tier
 * rule, so the files are those one tsagg_compact() of the whole log
 * writes. Open spans are never spilled (a run could not be split): memory
 * may pass the budget by the newest month of a history load.
 *
 * Overlap: with two threads or more, a helper thread does all of that: each
 * appended batch is copied (events, attributes and bytes, a few percent of
 * the work; none when the caller lends it: tsagg_bulk_append_lent) and
 * queued, and the helper takes the batches in order while
 * the caller parses and appends the next. Once the newest event lies
 * EARLY_WINDOW past a month's end, the month's file is written: by a month
 * writer thread while the helper takes the next batches (writing a month
 * is about half of the helper's work, and the caller would otherwise wait
 * for it with the queue full), or by the caller without threads. One month
 * at a time is handed over, in order, so file ids are those of a load
 * without threads. A later event for that month goes to a buffer of its
 * own, an extra file the merge at finish folds in.
 *
 * Order of durability: files are written and renamed as they are ready,
 * but only finish publishes them, after tsagg_flush() made every appended
 * event durable, with the consumed position of the last one.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi_internal.h"
#include "compact_internal.h"
#include "tsagg_log.h"

/* How far the newest event must be past a month's end before the month is
 * written during the load. Offline clients send events up to two days late
 * (tsagg-gen makes 1% of them so); later ones cost an extra file and a
 * merge at finish, never a wrong answer. */
#define EARLY_WINDOW_US (2 * TSAGG__SPAN_DAY_US)

/* Sorted runs of the helper are numbered from here: the caller's spills
 * count from 1 at the same time. */
#define HELPER_RUN_BASE (UINT64_C(1) << 48)

/* A batch for the helper: copied (the events, their attributes and the
 * bytes they point to, in blocks kept for reuse), or lent by the caller
 * until done(done_ctx). */
typedef struct bulk_batch {
    struct bulk_batch *next;
    size_t n;
    uint64_t first_seq;
    const tsagg_event *lent; /* NULL: the copy in evs */
    void (*done)(void *ctx);
    void *done_ctx;
    tsagg_event *evs;
    tsagg_attr *attrs;
    char *bytes;
    size_t evs_cap, attrs_cap, bytes_cap;
} bulk_batch;

/* Batches copied and not yet taken at most: bounds the memory the helper
 * lags behind by. */
#define QUEUE_MAX 4

struct tsagg_bulk {
    tsagg_store *st;
    tsagg_compact_options o;
    tsagg_compact_stats stats;        /* events taken (by the helper, if any) */
    tsagg_compact_stats helper_stats; /* files written during the load */
    compactor c;        /* the helper's while it runs, else the caller's */
    tsagg__manifest *next;            /* the manifest finish publishes */
    uint64_t next_seq;  /* the sequence the next batch gets if nobody else appends */
    int from_log;       /* somebody else appended: finish compacts from the log */
    int failed;         /* sticky: only cancel is left */
    /* The helper thread and the batches handed to it, in order. */
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cond;  /* a batch was queued, or closing */
    pthread_cond_t space; /* a batch was taken */
    bulk_batch *head, *tail, *spare;
    size_t queued;
    int closing;
    int discard;          /* cancel: take nothing more */
    int helper_rc;
    uint64_t helper_run;  /* numbers the sorted runs of month files */
    int64_t first_newest; /* the newest-event mark after the first batch */
    /* The month writer and the one job it is given at a time (under mu;
     * its failure goes to helper_rc). */
    pthread_t writer;
    int writer_started;
    pthread_cond_t month_cond; /* a job was handed over or is done, or closing */
    span_slot **month_slots;   /* the job waiting to be taken, or NULL */
    size_t month_n;
    int64_t month_newest;
    int month_busy;            /* a job is waiting or being written */
    int writer_closing;
};

/* Write slots[0, n) (the buffers of whole months) into their files, adding
 * them to b->next (or, with write 0, only drop them and their runs); frees
 * the slots. */
static int write_months(tsagg_bulk *b, span_slot **slots, size_t n, int64_t newest, int write)
{
    compactor w = {0};
    w.st = b->st;
    w.o = &b->o;
    w.stats = &b->helper_stats;
    w.ndims = b->c.ndims;
    w.nmeas = b->c.nmeas;
    w.threads = 1;
    w.newest = newest;
    w.slots = slots;
    w.nslots = w.slots_cap = n;
    w.next_run = b->helper_run;
    int rc = write ? tsagg__compactor_write_spans(&w, b->next, 0, 0) : 0;
    b->helper_run = w.next_run;
    tsagg__compactor_free(&w); /* frees slots and the array */
    return rc;
}

static int64_t month_start(int64_t ts)
{
    int64_t start;
    uint32_t hours;
    tsagg__tier_span(ts, TSAGG__TIER_MONTH, &start, &hours);
    return start;
}

static uint32_t month_hours(int64_t ts)
{
    int64_t start;
    uint32_t hours;
    tsagg__tier_span(ts, TSAGG__TIER_MONTH, &start, &hours);
    return hours;
}

/* The month holding a slot's span: its end. */
static int64_t month_end(const span_slot *s)
{
    int64_t start;
    uint32_t hours;
    tsagg__tier_span(s->buf.start, TSAGG__TIER_MONTH, &start, &hours);
    return start + (int64_t)hours * TSAGG__SPAN_HOUR_US;
}

/* The month writer: each job handed over, in order, into its files; after
 * a failure or a cancel the rows are only dropped. */
static void *writer_main(void *arg)
{
    tsagg_bulk *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->month_slots && !b->writer_closing)
            pthread_cond_wait(&b->month_cond, &b->mu);
        span_slot **slots = b->month_slots;
        if (!slots)
            break;
        size_t n = b->month_n;
        int64_t newest = b->month_newest;
        b->month_slots = NULL;
        int write = b->helper_rc == 0 && !b->discard;
        pthread_mutex_unlock(&b->mu);
        int rc = write_months(b, slots, n, newest, write);
        pthread_mutex_lock(&b->mu);
        if (rc != 0 && b->helper_rc == 0) {
            b->helper_rc = rc;
            pthread_cond_broadcast(&b->space); /* a caller waiting to queue */
        }
        b->month_busy = 0;
        pthread_cond_broadcast(&b->month_cond);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* Write the months' buffers slots[0, n), or hand them to the month writer
 * once it is done with the previous ones (so at most two months' rows are
 * held: the one being written and the one filling). */
static int hand_months(tsagg_bulk *b, span_slot **slots, size_t n, int64_t newest)
{
    if (!b->writer_started)
        return write_months(b, slots, n, newest, 1);
    pthread_mutex_lock(&b->mu);
    while (b->month_busy)
        pthread_cond_wait(&b->month_cond, &b->mu);
    int rc = b->helper_rc;
    if (rc == 0) {
        b->month_slots = slots;
        b->month_n = n;
        b->month_newest = newest;
        b->month_busy = 1;
        pthread_cond_broadcast(&b->month_cond);
    }
    pthread_mutex_unlock(&b->mu);
    if (rc != 0)
        write_months(b, slots, n, newest, 0);
    return rc;
}

/* Write the buffers of every month EARLY_WINDOW behind the newest event. */
static int write_sealed_months(tsagg_bulk *b)
{
    compactor *c = &b->c;
    if (c->newest == TSAGG__NEWEST_NONE)
        return 0;
    size_t k = 0, n = 0;
    span_slot **out = NULL;
    for (size_t i = 0; i < c->nslots; i++) {
        span_slot *s = c->slots[i];
        if (month_end(s) > c->newest - EARLY_WINDOW_US) {
            c->slots[k++] = s;
            continue;
        }
        if (!out && !(out = malloc(c->nslots * sizeof *out))) {
            for (; i < c->nslots; i++) /* keep them all in the compactor */
                c->slots[k++] = c->slots[i];
            c->nslots = k;
            return -ENOMEM;
        }
        c->bytes -= tsagg__spanbuf_bytes(&s->buf);
        out[n++] = s;
    }
    c->nslots = k;
    c->last = 0;
    return n ? hand_months(b, out, n, c->newest) : 0;
}

/* Take a batch into the span buffers, then write the months it sealed. */
static int take_batch(tsagg_bulk *b, const tsagg_event *evs, size_t n, uint64_t first)
{
    compactor *c = &b->c;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = tsagg__compactor_take(c, &evs[i], first + i);
    /* Once the load has sealed a month it is one of history: later rows
     * go to their month's slot, one sorted buffer per month file instead
     * of a merge of its days. */
    if (rc == 0 && c->bulk == 1 && c->newest != TSAGG__NEWEST_NONE &&
        b->first_newest != TSAGG__NEWEST_NONE &&
        tsagg__span_sealed(month_start(b->first_newest), month_hours(b->first_newest), c->newest))
        c->bulk = 2;
    if (rc == 0 && b->first_newest == TSAGG__NEWEST_NONE)
        b->first_newest = c->newest;
    return rc ? rc : write_sealed_months(b);
}

static void *helper_main(void *arg)
{
    tsagg_bulk *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->head && !b->closing)
            pthread_cond_wait(&b->cond, &b->mu);
        bulk_batch *t = b->head;
        if (!t)
            break;
        b->head = t->next;
        if (!b->head)
            b->tail = NULL;
        int skip = b->helper_rc != 0 || b->discard;
        pthread_mutex_unlock(&b->mu);
        int rc = skip ? 0 : take_batch(b, t->lent ? t->lent : t->evs, t->n, t->first_seq);
        if (t->done)
            t->done(t->done_ctx); /* the caller's memory is no longer read */
        t->lent = NULL;
        t->done = NULL;
        pthread_mutex_lock(&b->mu);
        if (rc != 0 && b->helper_rc == 0)
            b->helper_rc = rc;
        t->next = b->spare;
        b->spare = t;
        b->queued--;
        pthread_cond_signal(&b->space);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* Grow *p to hold n items of size sz. */
static int reserve(void **p, size_t *cap, size_t n, size_t sz)
{
    if (n <= *cap)
        return 0;
    size_t c = n + n / 2 + 16;
    void *q = realloc(*p, c * sz);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/* Copy evs[0, n) into t, pointers and all. An attribute's key is copied
 * once a batch when the events give the same pointer at the same position
 * (a loader's field names): most of the small copies otherwise. */
static int copy_batch(bulk_batch *t, const tsagg_event *evs, size_t n)
{
    size_t na = 0, nb = 0;
    for (size_t i = 0; i < n; i++) {
        nb += evs[i].event_len;
        na += evs[i].nattrs;
        for (uint32_t k = 0; k < evs[i].nattrs; k++) {
            const tsagg_attr *a = &evs[i].attrs[k];
            nb += a->key_len + (a->type == TSAGG_STR ? a->v.s.len : 0);
        }
    }
    if (reserve((void **)&t->evs, &t->evs_cap, n, sizeof *t->evs) ||
        reserve((void **)&t->attrs, &t->attrs_cap, na, sizeof *t->attrs) ||
        reserve((void **)&t->bytes, &t->bytes_cap, nb + 1, 1))
        return -ENOMEM;
    struct {
        const char *from, *to;
        uint32_t len;
    } keys[TSAGG_ATTRS_MAX] = {{0}};
    char *w = t->bytes;
    tsagg_attr *a = t->attrs;
    for (size_t i = 0; i < n; i++) {
        tsagg_event *e = &t->evs[i];
        *e = evs[i];
        memcpy(w, e->event, e->event_len);
        e->event = w;
        w += e->event_len;
        e->attrs = a;
        for (uint32_t k = 0; k < e->nattrs; k++, a++) {
            *a = evs[i].attrs[k];
            /* nattrs <= TSAGG_ATTRS_MAX: tsagg_append checked it */
            if (a->key && keys[k].from == a->key && keys[k].len == a->key_len) {
                a->key = keys[k].to;
            } else {
                memcpy(w, a->key, a->key_len);
                keys[k].from = a->key;
                keys[k].to = w;
                keys[k].len = a->key_len;
                a->key = w;
                w += a->key_len;
            }
            if (a->type == TSAGG_STR) {
                if (a->v.s.len)
                    memcpy(w, a->v.s.ptr, a->v.s.len);
                a->v.s.ptr = w;
                w += a->v.s.len;
            }
        }
    }
    t->n = n;
    return 0;
}

/* Hand the batch to the helper, once fewer than QUEUE_MAX wait: lent
 * with done, else a copy. */
static int queue_batch(tsagg_bulk *b, const tsagg_event *evs, size_t n, uint64_t first,
                       void (*done)(void *), void *done_ctx)
{
    pthread_mutex_lock(&b->mu);
    while (b->queued >= QUEUE_MAX && !b->helper_rc)
        pthread_cond_wait(&b->space, &b->mu);
    int rc = b->helper_rc;
    bulk_batch *t = rc == 0 ? b->spare : NULL; /* none taken to return with */
    if (t)
        b->spare = t->next;
    pthread_mutex_unlock(&b->mu);
    if (rc != 0)
        return rc;
    if (!t && !(t = calloc(1, sizeof *t)))
        return -ENOMEM;
    if (done) {
        t->lent = evs;
        t->n = n;
        t->done = done;
        t->done_ctx = done_ctx;
    } else {
        rc = copy_batch(t, evs, n);
    }
    t->first_seq = first;
    t->next = NULL;
    pthread_mutex_lock(&b->mu);
    if (rc == 0) {
        if (b->tail)
            b->tail->next = t;
        else
            b->head = t;
        b->tail = t;
        b->queued++;
        pthread_cond_signal(&b->cond);
    } else {
        t->next = b->spare;
        b->spare = t;
    }
    pthread_mutex_unlock(&b->mu);
    return rc;
}

/* Stop the helper once it has taken what it was handed, then the month
 * writer once it has written what the helper gave it: their failure. */
static int stop_helper(tsagg_bulk *b)
{
    if (b->started) {
        pthread_mutex_lock(&b->mu);
        b->closing = 1;
        pthread_cond_signal(&b->cond);
        pthread_mutex_unlock(&b->mu);
        pthread_join(b->thread, NULL);
        b->started = 0;
    }
    if (b->writer_started) {
        pthread_mutex_lock(&b->mu);
        b->writer_closing = 1;
        pthread_cond_broadcast(&b->month_cond);
        pthread_mutex_unlock(&b->mu);
        pthread_join(b->writer, NULL);
        b->writer_started = 0;
    }
    return b->helper_rc;
}

static void batches_free(bulk_batch *t)
{
    while (t) {
        bulk_batch *next = t->next;
        free(t->evs);
        free(t->attrs);
        free(t->bytes);
        free(t);
        t = next;
    }
}

static void bulk_free(tsagg_bulk *b)
{
    stop_helper(b);
    tsagg__compactor_free(&b->c);
    tsagg__manifest_free(b->next);
    batches_free(b->head);
    batches_free(b->spare);
    pthread_cond_destroy(&b->month_cond);
    pthread_cond_destroy(&b->space);
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->mu);
    __atomic_sub_fetch(&b->st->bulk_loads, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&b->st->compact_mu);
    free(b);
}

int tsagg_bulk_begin(tsagg_store *st, const tsagg_compact_options *opts, tsagg_bulk **out)
{
    if (!out)
        return st ? tsagg__fail(st, TSAGG_EARG, "tsagg_bulk_begin: no out") : TSAGG_EARG;
    *out = NULL;
    tsagg_compact_options defaults;
    if (!opts) {
        tsagg_compact_options_init(&defaults);
        opts = &defaults;
    }
    int rc = tsagg__compact_check_options(st, opts);
    if (rc != 0)
        return rc;
    tsagg_bulk *b = calloc(1, sizeof *b);
    if (!b)
        return -ENOMEM;
    b->st = st;
    memcpy(&b->o, opts, opts->struct_size < sizeof b->o ? opts->struct_size : sizeof b->o);
    b->o.struct_size = sizeof b->o;
    b->helper_run = HELPER_RUN_BASE;
    b->first_newest = TSAGG__NEWEST_NONE;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cond, NULL);
    pthread_cond_init(&b->space, NULL);
    pthread_cond_init(&b->month_cond, NULL);
    pthread_mutex_lock(&st->compact_mu);
    __atomic_add_fetch(&st->bulk_loads, 1, __ATOMIC_SEQ_CST);

    tsagg__snapshot *snap;
    rc = tsagg__edit_begin(st, &snap, &b->next);
    if (rc == 0) {
        tsagg__snapshot_release(st, snap);
        rc = tsagg__compactor_init(&b->c, st, &b->o, &b->stats, b->next->newest_ts);
    }
    b->c.bulk = 1;
    /* Events appended before the load and not yet compacted come first. */
    uint64_t last = b->next ? b->next->consumed_seq : 0;
    if (rc == 0 && tsagg_last_seq(st) > last) {
        rc = tsagg_flush(st);
        uint64_t durable = tsagg_durable_seq(st);
        if (rc == 0 && durable > last)
            rc = tsagg__compactor_read_log(&b->c, last + 1, durable, &last);
    }
    b->next_seq = last + 1;
    if (rc == 0 && b->o.threads >= 2) {
        /* Without a month writer the helper writes the months itself;
         * without a helper the caller takes the batches. */
        b->writer_started = pthread_create(&b->writer, NULL, writer_main, b) == 0;
        b->started = pthread_create(&b->thread, NULL, helper_main, b) == 0;
    }
    if (rc != 0) {
        rc = tsagg__remove_leftovers(st, rc);
        bulk_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

/* tsagg_bulk_append, and with done tsagg_bulk_append_lent: returns 1 when
 * the helper got the batch lent (it calls done), else rc <= 0. */
static int append_batch(tsagg_bulk *b, const tsagg_event *evs, size_t n, uint64_t *first_seq,
                        void (*done)(void *), void *done_ctx)
{
    if (b->failed)
        return tsagg__fail(b->st, b->failed, "tsagg_bulk_append after a failure: cancel");
    uint64_t first;
    int rc = tsagg_append(b->st, evs, n, &first);
    if (rc != 0)
        return b->failed = rc;
    if (first_seq)
        *first_seq = first;
    if (first != b->next_seq)
        b->from_log = 1; /* another thread's events lie between */
    if (b->from_log)
        return 0;
    b->next_seq = first + n;
    if (!b->started)
        rc = take_batch(b, evs, n, first);
    else if ((rc = queue_batch(b, evs, n, first, done, done_ctx)) == 0 && done)
        return 1;
    return rc ? (b->failed = rc) : 0;
}

int tsagg_bulk_append(tsagg_bulk *b, const tsagg_event *evs, size_t n, uint64_t *first_seq)
{
    if (!b)
        return TSAGG_EARG;
    return append_batch(b, evs, n, first_seq, NULL, NULL);
}

int tsagg_bulk_append_lent(tsagg_bulk *b, const tsagg_event *evs, size_t n,
                           void (*done)(void *ctx), void *ctx, uint64_t *first_seq)
{
    if (!done)
        return b ? tsagg__fail(b->st, TSAGG_EARG, "tsagg_bulk_append_lent: no done") : TSAGG_EARG;
    int rc = b ? append_batch(b, evs, n, first_seq, done, ctx) : TSAGG_EARG;
    if (rc == 1)
        return 0; /* the helper calls done once it has taken the batch */
    done(ctx);
    return rc;
}

/* The rest of finish, holding the compaction lock: the buffers left into
 * files, then one publish, then the merges of sealed spans. */
static int finish_locked(tsagg_bulk *b)
{
    tsagg_store *st = b->st;
    compactor *c = &b->c;
    int rc = tsagg_flush(st); /* nothing is published before it is durable */
    int hrc = stop_helper(b);
    if (rc == 0)
        rc = hrc;
    if (rc != 0)
        return rc;
    if (b->from_log) {
        /* The files written so far are swept; the log has every event. */
        tsagg__compactor_free(c);
        tsagg__manifest_free(b->next);
        b->next = NULL;
        memset(&b->stats, 0, sizeof b->stats);
        memset(&b->helper_stats, 0, sizeof b->helper_stats);
        return tsagg__compact_locked(st, &b->o, &b->stats);
    }
    uint64_t last = b->next_seq - 1, durable = tsagg_durable_seq(st);
    if (durable > last) /* appended by others after the last batch */
        rc = tsagg__compactor_read_log(c, last + 1, durable, &last);
    for (size_t i = 0; rc == 0 && i < c->nslots;) {
        const span_slot *s = c->slots[i];
        if (s->hours > 1 && !tsagg__span_sealed(s->buf.start, s->hours, c->newest))
            rc = tsagg__compactor_split(c, i); /* slots after i move down */
        else
            i++;
    }
    if (rc == 0)
        rc = tsagg__compactor_write_spans(c, b->next, 0, 0);
    char dir[TSAGG_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/parts", st->path);
    if (rc == 0)
        rc = tsagg__parts_dir_sync(st, dir);
    if (rc == 0 && last != b->next->consumed_seq) {
        b->next->consumed_seq = last;
        b->next->newest_ts = c->newest;
        rc = tsagg__catalog_publish(st, b->next);
    }
    if (rc == 0)
        b->stats.consumed_seq = last;
    tsagg__compactor_free(c);
    tsagg__manifest_free(b->next);
    b->next = NULL;
    if (rc == 0)
        rc = tsagg__merge_spans_locked(st, b->o.memory_budget, TSAGG__MERGE_SEALED, &b->stats);
    return rc;
}

/* The helper's figures into the caller's. */
static void add_helper_stats(tsagg_compact_stats *s, const tsagg_compact_stats *h)
{
    s->duplicates += h->duplicates;
    s->rows_written += h->rows_written;
    s->files_written += h->files_written;
    s->hours += h->hours;
    s->bytes_written += h->bytes_written;
    s->hour_files += h->hour_files;
    s->day_files += h->day_files;
    s->month_files += h->month_files;
}

int tsagg_bulk_finish(tsagg_bulk *b, tsagg_compact_stats *stats)
{
    if (!b)
        return TSAGG_EARG;
    tsagg_store *st = b->st;
    size_t out = stats ? tsagg__out_size(stats->struct_size, TSAGG__COMPACT_STATS_SIZE_1,
                                         sizeof *stats)
                       : 0;
    int rc = stats && !out ? tsagg__fail(st, TSAGG_EARG, "tsagg_compact_stats.struct_size %u "
                                         "out of range", (unsigned)stats->struct_size)
                           : b->failed;
    if (rc == 0)
        rc = finish_locked(b);
    stop_helper(b);
    add_helper_stats(&b->stats, &b->helper_stats);
    if (rc != 0)
        rc = tsagg__remove_leftovers(st, rc);
    if (stats && out)
        TSAGG__OUT_COPY(stats, &b->stats, out);
    bulk_free(b);
    return rc;
}

int tsagg_bulk_cancel(tsagg_bulk *b)
{
    if (!b)
        return TSAGG_EARG;
    pthread_mutex_lock(&b->mu);
    b->discard = 1;
    pthread_mutex_unlock(&b->mu);
    stop_helper(b);
    tsagg__compactor_free(&b->c);
    tsagg__manifest_free(b->next);
    b->next = NULL;
    int rc = tsagg__catalog_sweep(b->st); /* the files written early */
    bulk_free(b);
    return rc;
}
