/*
 * head.c - the head of events not compacted yet (head.h): adding events,
 * building it from the log, pruning what compaction consumed, and its
 * memory bound.
 *
 * Memory, about 130 bytes an event with the default schema plus the
 * strings not seen before: rows in a span buffer (spanbuf.h), a sequence
 * number per row, per merchant a list of row numbers, and a table of event
 * ids for retries. Past tsagg_options.head_max_bytes the store wants a compaction
 * (tsagg__head_wants_compaction, which maintenance honours); further past
 * it, the append compacts inline (store.c, keep_head_bounded). Events are
 * never refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "head.h"
#include "log_internal.h"
#include "manifest.h"
#include "tsagg_log.h"

static uint32_t hash64(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    return (uint32_t)x;
}

static uint64_t id_hash(uint64_t merchant, int64_t ts, uint64_t id)
{
    uint64_t k[3] = {merchant, (uint64_t)ts, id};
    return XXH3_64bits(k, sizeof k);
}

static size_t rows_bytes(const tsagg__head_rows *d)
{
    return tsagg__spanbuf_bytes(&d->buf) + d->seqs_cap * sizeof *d->seqs +
           (size_t)d->ms_cap * sizeof *d->ms + (size_t)d->mtable_cap * 4 +
           (size_t)d->idtable_cap * sizeof *d->idtable + d->mrows_bytes;
}

static void recount(tsagg__head *h)
{
    atomic_store(&h->bytes, rows_bytes(&h->d));
}

static void rows_free(tsagg__head_rows *d)
{
    tsagg__spanbuf_free(&d->buf);
    free(d->seqs);
    for (uint32_t i = 0; i < d->nms; i++)
        free(d->ms[i].rows);
    free(d->ms);
    free(d->mtable);
    free(d->idtable);
    memset(d, 0, sizeof *d);
}

/* Forget every row, keep the settings. */
static void clear_rows(tsagg__head *h)
{
    rows_free(&h->d);
    tsagg__spanbuf_init(&h->d.buf, 0, h->conv.ndims, h->conv.nmeas);
    recount(h);
}

static int grow_mtable(tsagg__head_rows *d)
{
    uint32_t cap = d->mtable_cap ? d->mtable_cap * 2 : 1024;
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t)
        return -ENOMEM;
    for (uint32_t m = 0; m < d->nms; m++) {
        uint32_t i = hash64(d->ms[m].merchant) & (cap - 1);
        while (t[i])
            i = (i + 1) & (cap - 1);
        t[i] = m + 1;
    }
    free(d->mtable);
    d->mtable = t;
    d->mtable_cap = cap;
    return 0;
}

static tsagg__head_merchant *find_merchant(const tsagg__head_rows *d, uint64_t merchant)
{
    if (!d->mtable)
        return NULL;
    uint32_t mask = d->mtable_cap - 1;
    for (uint32_t i = hash64(merchant) & mask; d->mtable[i]; i = (i + 1) & mask)
        if (d->ms[d->mtable[i] - 1].merchant == merchant)
            return &d->ms[d->mtable[i] - 1];
    return NULL;
}

tsagg__head_merchant *tsagg__head_find(const tsagg__head *h, uint64_t merchant)
{
    return find_merchant(&h->d, merchant);
}

/* Room for one more merchant in the table and the array. */
static int reserve_merchant(tsagg__head_rows *d)
{
    if ((d->nms + 1) * 2 > d->mtable_cap) {
        int rc = grow_mtable(d);
        if (rc != 0)
            return rc;
    }
    if (d->nms == d->ms_cap) {
        uint32_t cap = d->ms_cap ? d->ms_cap * 2 : 256;
        tsagg__head_merchant *p = realloc(d->ms, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        d->ms = p;
        d->ms_cap = cap;
    }
    return 0;
}

/* Enter a merchant the head does not hold, with its row list, into the
 * room reserve_merchant made. */
static tsagg__head_merchant *insert_merchant(tsagg__head_rows *d, uint64_t merchant,
                                             uint32_t *rows, uint32_t cap)
{
    tsagg__head_merchant *m = &d->ms[d->nms];
    *m = (tsagg__head_merchant){.merchant = merchant, .rows = rows, .cap = cap,
                                .min_ts = INT64_MAX, .max_ts = INT64_MIN};
    uint32_t mask = d->mtable_cap - 1, i = hash64(merchant) & mask;
    while (d->mtable[i])
        i = (i + 1) & mask;
    d->mtable[i] = ++d->nms;
    return m;
}

/* An id table slot: the key's hash in the high half (compared before the
 * row is read, which is a cache miss), row + 1 in the low half; 0 empty. */
static uint64_t id_slot(uint64_t hash, uint32_t row)
{
    return (hash & UINT64_C(0xffffffff00000000)) | (uint64_t)(row + 1);
}

static int grow_idtable(tsagg__head_rows *d)
{
    uint32_t cap = d->idtable_cap ? d->idtable_cap * 2 : 1024;
    uint64_t *t = calloc(cap, sizeof *t);
    if (!t)
        return -ENOMEM;
    for (uint32_t k = 0; k < d->idtable_cap; k++) {
        uint64_t v = d->idtable[k];
        if (!v)
            continue;
        const tsagg__spanrow *r = &d->buf.rows[(uint32_t)v - 1];
        uint32_t i = (uint32_t)id_hash(r->merchant, r->ts, r->id) & (cap - 1);
        while (t[i])
            i = (i + 1) & (cap - 1);
        t[i] = v;
    }
    free(d->idtable);
    d->idtable = t;
    d->idtable_cap = cap;
    return 0;
}

/* 1 when the head holds an event of this merchant, ts and id. */
static int has_retry(const tsagg__head_rows *d, uint64_t merchant, int64_t ts, uint64_t id)
{
    if (!d->idtable)
        return 0;
    uint64_t hash = id_hash(merchant, ts, id);
    uint32_t mask = d->idtable_cap - 1;
    for (uint32_t i = (uint32_t)hash & mask; d->idtable[i]; i = (i + 1) & mask) {
        uint64_t v = d->idtable[i];
        if ((v ^ hash) >> 32)
            continue;
        const tsagg__spanrow *r = &d->buf.rows[(uint32_t)v - 1];
        if (r->merchant == merchant && r->ts == ts && r->id == id)
            return 1;
    }
    return 0;
}

/*
 * Index the buffer's last row, numbered seq. Every allocation comes before
 * the first change: on failure (memory) the indexes are as they were, some
 * with more room, and the caller takes the row out of the buffer, so that
 * no row is ever left without its number, its merchant or its id.
 */
static int index_row(tsagg__head_rows *d, uint64_t seq)
{
    uint32_t r = (uint32_t)(d->buf.n - 1);
    const tsagg__spanrow *row = &d->buf.rows[r];
    if (d->seqs_cap < d->buf.cap) {
        uint64_t *s = realloc(d->seqs, d->buf.cap * sizeof *s);
        if (!s)
            return -ENOMEM;
        d->seqs = s;
        d->seqs_cap = d->buf.cap;
    }
    int has_id = (row->flags & TSAGG_EVENT_HAS_ID) != 0, rc;
    if (has_id && (d->nids + 1) * 2 > d->idtable_cap && (rc = grow_idtable(d)) != 0)
        return rc;
    tsagg__head_merchant *m = find_merchant(d, row->merchant);
    uint32_t *rows = NULL, cap = 0;
    if (!m && (rc = reserve_merchant(d)) != 0)
        return rc;
    if (!m || m->n == m->cap) {
        cap = m && m->cap ? m->cap * 2 : 4;
        if (!(rows = realloc(m ? m->rows : NULL, cap * sizeof *rows)))
            return -ENOMEM;
    }
    /* Nothing fails from here on. */
    if (!m) {
        m = insert_merchant(d, row->merchant, rows, cap);
        d->mrows_bytes += (size_t)cap * sizeof *rows;
    } else if (rows) {
        d->mrows_bytes += (size_t)(cap - m->cap) * sizeof *rows;
        m->rows = rows;
        m->cap = cap;
    }
    d->seqs[r] = seq;
    m->rows[m->n++] = r;
    m->min_ts = row->ts < m->min_ts ? row->ts : m->min_ts;
    m->max_ts = row->ts > m->max_ts ? row->ts : m->max_ts;
    if (has_id) {
        uint64_t hash = id_hash(row->merchant, row->ts, row->id);
        uint32_t mask = d->idtable_cap - 1, i = (uint32_t)hash & mask;
        while (d->idtable[i])
            i = (i + 1) & mask;
        d->idtable[i] = id_slot(hash, r);
        d->nids++;
    }
    return 0;
}

/* One event, numbered seq, through compaction's processing into the head. */
static int add_one(tsagg_store *st, tsagg__head *h, const tsagg_event *ev, uint64_t seq)
{
    tsagg_event copy = *ev;
    int what = tsagg__event_process(st, h->rules, st->opts.process, st->opts.process_ctx, &copy,
                                    seq);
    if (what < 0) {
        /* Compaction will stop at this event and say why; until the hook
         * takes it, the head counts it as received, and queries say so. */
        if (!h->hook_failure[0])
            snprintf(h->hook_failure, sizeof h->hook_failure,
                     "processing hook failed at sequence %" PRIu64
                     ": the event is counted as received",
                     seq);
        copy = *ev;
        what = copy.ts >= TSAGG_TS_MIN && copy.ts < TSAGG_TS_END ? TSAGG__EVENT_KEEP
                                                                 : TSAGG__EVENT_UNPLACED;
    }
    if (what != TSAGG__EVENT_KEEP) {
        h->dropped++;
        return 0;
    }
    /* The tables' slots are cache misses in a large head: ask for them
     * first, and intern the strings meanwhile. */
    int has_id = (copy.flags & TSAGG_EVENT_HAS_ID) != 0;
    if (has_id && h->d.idtable)
        __builtin_prefetch(&h->d.idtable[id_hash(copy.merchant, copy.ts, copy.id) &
                                         (h->d.idtable_cap - 1)]);
    if (h->d.mtable)
        __builtin_prefetch(&h->d.mtable[hash64(copy.merchant) & (h->d.mtable_cap - 1)]);
    int rc = tsagg__rowconv_add(&h->conv, &h->d.buf, &copy);
    if (rc != 0)
        return rc;
    if (has_id && has_retry(&h->d, copy.merchant, copy.ts, copy.id)) {
        h->d.buf.n--; /* a retry: its row goes (its strings stay interned) */
        return 0;
    }
    rc = index_row(&h->d, seq);
    if (rc != 0)
        h->d.buf.n--; /* not indexed: the row goes; the caller marks the head stale */
    return rc;
}

/* Every number below next_seq is in: take in the ranges that now follow. */
static void advance(tsagg__head *h, uint64_t from, uint64_t end)
{
    if (from > h->next_seq) {
        if (h->npending == h->pending_cap) {
            size_t cap = h->pending_cap ? h->pending_cap * 2 : 8;
            tsagg__head_range *p = realloc(h->pending, cap * sizeof *p);
            if (!p)
                return; /* the events stay hidden until a later range covers them */
            h->pending = p;
            h->pending_cap = cap;
        }
        h->pending[h->npending++] = (tsagg__head_range){from, end};
        return;
    }
    if (end > h->next_seq)
        h->next_seq = end;
    for (int moved = 1; moved;) {
        moved = 0;
        for (size_t i = 0; i < h->npending; i++) {
            if (h->pending[i].from <= h->next_seq) {
                if (h->pending[i].end > h->next_seq)
                    h->next_seq = h->pending[i].end;
                h->pending[i--] = h->pending[--h->npending];
                moved = 1;
            }
        }
    }
}

void tsagg__head_add(tsagg_store *st, const tsagg_event *evs, size_t n, uint64_t seq0)
{
    tsagg__head *h = st->head;
    if (!h || n == 0)
        return;
    pthread_rwlock_wrlock(&h->lock);
    int rc = 0;
    uint64_t end = seq0 + n;
    if (__atomic_load_n(&st->bulk_loads, __ATOMIC_SEQ_CST)) {
        /* A bulk load compacts these itself and publishes them at its
         * finish: indexing them would double its work and memory. A query
         * before then (stale) reads them from the log; after, they are
         * pruned as compacted; after a cancel, the log still has them. */
        h->stale = 1;
        advance(h, seq0, end);
        pthread_rwlock_unlock(&h->lock);
        return;
    }
    /* A rebuild from the log may have read these already. */
    size_t i = seq0 < h->next_seq ? (size_t)(h->next_seq - seq0) : 0;
    for (; rc == 0 && i < n; i++)
        rc = add_one(st, h, &evs[i], seq0 + i);
    h->stale |= rc != 0;
    advance(h, seq0, end);
    recount(h);
    pthread_rwlock_unlock(&h->lock);
}

/* Read the log's events numbered [from, to) into the head (to 0: to its
 * end, moving next_seq along). Damage ends the read: what came before it
 * stays, and h->damage says where. */
static int read_log_range(tsagg_store *st, tsagg__head *h, uint64_t from, uint64_t to)
{
    tsagg_log_range r;
    tsagg_log_range_init(&r);
    r.from_seq = from;
    if (to)
        r.to_seq = to;
    if (to && to <= from)
        return 0;
    tsagg_log_reader *rd;
    int rc = tsagg_log_reader_open(st, &r, &rd);
    if (rc != 0)
        return rc;
    const tsagg_event *ev;
    uint64_t seq;
    h->damage[0] = 0;
    while ((rc = tsagg_log_reader_next(rd, &ev, &seq)) == 1) {
        if (seq < from || (to && seq >= to))
            continue;
        if ((rc = add_one(st, h, ev, seq)) != 0)
            break;
        if (!to)
            advance(h, seq, seq + 1);
    }
    if (rc < 0 && tsagg__log_reader_damage(rd, h->damage, sizeof h->damage)) {
        size_t len = strlen(h->damage);
        snprintf(h->damage + len, sizeof h->damage - len,
                 "; the log cannot be read past it: events after it are not counted");
        rc = 0;
    }
    tsagg_log_reader_close(rd);
    recount(h);
    return rc < 0 ? rc : 0;
}

/* What the log holds after the head's last event. */
static int read_log(tsagg_store *st, tsagg__head *h)
{
    return read_log_range(st, h, h->next_seq, 0);
}

static uint64_t published_consumed(tsagg_store *st, int *rc)
{
    tsagg__snapshot *snap;
    *rc = tsagg__snapshot_acquire(st, &snap);
    if (*rc != 0)
        return 0;
    uint64_t c = tsagg__snapshot_manifest(snap)->consumed_seq;
    tsagg__snapshot_release(st, snap);
    return c;
}

/* Empty the head and read it from the log after `consumed`: at open, and
 * for a read-only handle whose rules changed. */
static int rebuild(tsagg_store *st, tsagg__head *h, uint64_t consumed)
{
    clear_rows(h);
    h->npending = 0;
    /* Atomic: the appends' check of tsagg__head_prune_published reads it
     * without the lock. */
    __atomic_store_n(&h->base_seq, consumed, __ATOMIC_RELAXED);
    h->next_seq = consumed + 1;
    h->hook_failure[0] = 0;
    h->tail_segment = 0;
    int rc = read_log(st, h);
    /* Damage in the writer's log: appends go on after it. */
    if (rc == 0 && st->writer && tsagg_durable_seq(st) + 1 > h->next_seq)
        h->next_seq = tsagg_durable_seq(st) + 1;
    h->stale = rc != 0; /* the next query tries again */
    return rc;
}

/* Copy the rows r0..r1 of `from` numbered above `after` into `to`
 * (re-interned: strings no row uses any more go). */
static int copy_rows_above(tsagg__head_rows *to, const tsagg__head_rows *from, uint64_t after,
                           size_t r0, size_t r1)
{
    uint32_t nd = from->buf.ndims, nm = from->buf.nmeasures;
    uint32_t *dims = calloc(nd + 1, sizeof *dims);
    int rc = dims ? 0 : -ENOMEM;
    for (size_t r = r0; rc == 0 && r < r1; r++) {
        if (from->seqs[r] <= after)
            continue;
        tsagg__spanrow row = from->buf.rows[r];
        tsagg__str s = tsagg__spanbuf_str(&from->buf, row.event);
        rc = tsagg__spanbuf_intern(&to->buf, s.ptr, s.len, &row.event);
        for (uint32_t d = 0; rc == 0 && d < nd; d++) {
            s = tsagg__spanbuf_str(&from->buf, from->buf.dims[r * nd + d]);
            rc = tsagg__spanbuf_intern(&to->buf, s.ptr, s.len, &dims[d]);
        }
        if (rc == 0)
            rc = tsagg__spanbuf_add(&to->buf, &row, dims, nm ? from->buf.meas + r * nm : NULL);
        if (rc == 0)
            rc = index_row(to, from->seqs[r]);
    }
    free(dims);
    return rc;
}

/* Room in the empty d for `rows` rows, `ids` of them with an id, of at
 * most `merchants` merchants: a prune's slices then never grow a buffer
 * or table of the whole head's size (a copy or rehash of all the rows
 * copied so far) while holding the read lock. */
static int reserve_rows(tsagg__head_rows *d, size_t rows, size_t ids, uint32_t merchants)
{
    if (rows == 0)
        return 0;
    int rc = tsagg__spanbuf_reserve(&d->buf, rows);
    if (rc != 0)
        return rc;
    if (!(d->seqs = malloc(d->buf.cap * sizeof *d->seqs)))
        return -ENOMEM;
    d->seqs_cap = d->buf.cap;
    uint32_t cap = 1024;
    while ((ids + 1) * 2 > cap)
        cap *= 2;
    if (!(d->idtable = calloc(cap, sizeof *d->idtable)))
        return -ENOMEM;
    d->idtable_cap = cap;
    for (cap = 1024; ((size_t)merchants + 1) * 2 > cap;)
        cap *= 2;
    if (!(d->mtable = calloc(cap, sizeof *d->mtable)))
        return -ENOMEM;
    d->mtable_cap = cap;
    if (!(d->ms = malloc(((size_t)merchants + 1) * sizeof *d->ms)))
        return -ENOMEM;
    d->ms_cap = merchants + 1;
    return 0;
}

/* Rows a prune copies per hold of the head's read lock (the default of
 * prune_slice_rows): an append waits for at most one slice, tens of
 * milliseconds. */
#define PRUNE_SLICE_ROWS 65536

/* ---- pins: the rows running queries still count ----------------------- */

/* The lowest position a running query's snapshot consumed (UINT64_MAX
 * when none runs). Under pin_mu. */
static uint64_t lowest_pin(const tsagg__head *h)
{
    uint64_t low = UINT64_MAX;
    for (size_t i = 0; i < h->npins; i++)
        low = h->pins[i].consumed < low ? h->pins[i].consumed : low;
    return low;
}

static int pin(tsagg__head *h, uint64_t consumed)
{
    int rc = 0;
    pthread_mutex_lock(&h->pin_mu);
    while (h->rewriting)
        pthread_cond_wait(&h->pin_cv, &h->pin_mu);
    if (consumed < h->pin_floor)
        rc = -ENOENT; /* a prune drops rows this snapshot counts on */
    if (rc == 0 && h->npins == h->pins_cap) {
        size_t cap = h->pins_cap ? 2 * h->pins_cap : 8;
        tsagg__head_pin *p = realloc(h->pins, cap * sizeof *p);
        rc = p ? 0 : -ENOMEM;
        if (p) {
            h->pins = p;
            h->pins_cap = cap;
        }
    }
    if (rc == 0)
        h->pins[h->npins++] = (tsagg__head_pin){pthread_self(), consumed};
    pthread_mutex_unlock(&h->pin_mu);
    return rc;
}

/* The calling thread's newest pin goes (in order: a thread that nests
 * queries drops the inner one first). */
static void unpin(tsagg__head *h)
{
    pthread_t self = pthread_self();
    pthread_mutex_lock(&h->pin_mu);
    for (size_t i = h->npins; i-- > 0;) {
        if (pthread_equal(h->pins[i].thread, self)) {
            memmove(&h->pins[i], &h->pins[i + 1], (h->npins - i - 1) * sizeof *h->pins);
            h->npins--;
            break;
        }
    }
    pthread_cond_broadcast(&h->pin_cv);
    pthread_mutex_unlock(&h->pin_mu);
}

/*
 * Before a prune up to `consumed`: from now on no query pins a snapshot
 * below it (it takes a newer one), and the running ones that did end first
 * when wait, else the prune is left to a later call (0). Waiting for them
 * is what the write lock did when queries held it from start to end; now
 * only a prune after a publish waits, not every append.
 */
static int hold_off_pins_below(tsagg__head *h, uint64_t consumed, int wait)
{
    pthread_mutex_lock(&h->pin_mu);
    int go = wait || lowest_pin(h) >= consumed;
    if (go && h->pin_floor < consumed)
        h->pin_floor = consumed;
    while (go && lowest_pin(h) < consumed)
        pthread_cond_wait(&h->pin_cv, &h->pin_mu);
    pthread_mutex_unlock(&h->pin_mu);
    return go;
}

/* A rebuild or a redo rewrites rows any query may count: it waits for the
 * running ones, and holds new ones off until rewrite_end. */
static void rewrite_begin(tsagg__head *h)
{
    pthread_mutex_lock(&h->pin_mu);
    h->rewriting = 1;
    while (h->npins)
        pthread_cond_wait(&h->pin_cv, &h->pin_mu);
    pthread_mutex_unlock(&h->pin_mu);
}

static void rewrite_end(tsagg__head *h)
{
    pthread_mutex_lock(&h->pin_mu);
    h->rewriting = 0;
    pthread_cond_broadcast(&h->pin_cv);
    pthread_mutex_unlock(&h->pin_mu);
}

/*
 * Keep the rows numbered above consumed, in a new buffer. The caller holds
 * update_mu, so no rebuild, redo or other prune replaces h->d meanwhile,
 * and not the head's lock. After a compaction with a backlog the rows left
 * are millions, a copy of a second: it is made in slices under the read
 * lock, so queries read beside it and appends (which only add rows at the
 * end of h->d) take the write lock between slices. The write lock is taken
 * once, to copy the rows appended since the last slice and swap the
 * buffers. The old rows go to *dropped, for the caller to free outside any
 * lock (freeing hundreds of MiB takes longer still). On failure h->d stays
 * as it was (queries skip the compacted rows by number) and *dropped holds
 * the partial copy. Queries pinned below consumed are waited for (wait),
 * or the prune is left to a later call (hold_off_pins_below).
 */
static int prune(tsagg__head *h, uint64_t consumed, tsagg__head_rows *dropped, int wait)
{
    memset(dropped, 0, sizeof *dropped);
    /* Only a prune or a rebuild, both under update_mu, move base_seq. */
    if (consumed <= __atomic_load_n(&h->base_seq, __ATOMIC_RELAXED))
        return 0;
    if (!hold_off_pins_below(h, consumed, wait))
        return 0;
    size_t keep = 0, ids = 0, counted = 0;
    uint32_t nms = 0;
    pthread_rwlock_rdlock(&h->lock);
    uint32_t nd = h->d.buf.ndims, nm = h->d.buf.nmeasures;
    while (counted < h->d.buf.n) {
        size_t end = h->d.buf.n - counted > h->prune_slice_rows ? counted + h->prune_slice_rows
                                                                 : h->d.buf.n;
        for (size_t r = counted; r < end; r++) {
            if (h->d.seqs[r] > consumed) {
                keep++;
                ids += (h->d.buf.rows[r].flags & TSAGG_EVENT_HAS_ID) != 0;
            }
        }
        counted = end;
        nms = h->d.nms;
        pthread_rwlock_unlock(&h->lock);
        pthread_rwlock_rdlock(&h->lock);
    }
    pthread_rwlock_unlock(&h->lock);
    tsagg__head_rows fresh;
    memset(&fresh, 0, sizeof fresh);
    int rc = tsagg__spanbuf_init(&fresh.buf, 0, nd, nm);
    /* With room for the appends that come meanwhile. */
    size_t slack = keep / 8 + 1024;
    uint32_t merchants = keep < nms ? (uint32_t)keep : nms;
    if (rc == 0 && keep > 0)
        rc = reserve_rows(&fresh, keep + slack, ids + slack, merchants + 256);
    pthread_rwlock_rdlock(&h->lock);
    size_t done = 0;
    while (rc == 0 && h->d.buf.n > done) {
        size_t slice = h->prune_slice_rows;
        size_t end = h->d.buf.n - done > slice ? done + slice : h->d.buf.n;
        rc = copy_rows_above(&fresh, &h->d, consumed, done, end);
        done = end;
        pthread_rwlock_unlock(&h->lock);
        pthread_rwlock_rdlock(&h->lock);
    }
    pthread_rwlock_unlock(&h->lock);
    pthread_rwlock_wrlock(&h->lock);
    size_t tail = h->d.buf.n - done;
    if (tail > h->prune_locked_rows)
        h->prune_locked_rows = tail;
    if (rc == 0)
        rc = copy_rows_above(&fresh, &h->d, consumed, done, h->d.buf.n);
    if (rc == 0) {
        *dropped = h->d;
        h->d = fresh;
        __atomic_store_n(&h->base_seq, consumed, __ATOMIC_RELAXED);
    } else {
        *dropped = fresh;
    }
    recount(h);
    pthread_rwlock_unlock(&h->lock);
    return rc;
}

/* Prune up to consumed, unless another update of the head is under way
 * and !wait: that one prunes, or the next append or query does. */
static int prune_serialised(tsagg__head *h, uint64_t consumed, int wait)
{
    if (wait)
        pthread_mutex_lock(&h->update_mu);
    else if (pthread_mutex_trylock(&h->update_mu) != 0)
        return 0;
    tsagg__head_rows dropped;
    int rc = prune(h, consumed, &dropped, wait);
    pthread_mutex_unlock(&h->update_mu);
    rows_free(&dropped);
    return rc;
}

/*
 * The writer's head after its rules changed (or an add failed): the events
 * numbered below `upto` went in under the old rules (or are missing), those
 * from `upto` on under the new ones (the log writer adds them in order).
 * The first are read again from the log, which the caller flushed past
 * upto; the others are kept. Under the head's write lock.
 */
static int redo_prefix(tsagg_store *st, tsagg__head *h, uint64_t upto)
{
    tsagg__head_rows old = h->d;
    memset(&h->d, 0, sizeof h->d);
    int rc = tsagg__spanbuf_init(&h->d.buf, 0, old.buf.ndims, old.buf.nmeasures);
    h->hook_failure[0] = 0;
    if (rc == 0)
        rc = read_log_range(st, h, h->base_seq + 1, upto);
    if (rc == 0)
        rc = copy_rows_above(&h->d, &old, upto - 1, 0, old.buf.n);
    if (rc != 0) {
        rows_free(&h->d);
        h->d = old;
    } else {
        rows_free(&old);
    }
    h->stale = rc != 0;
    recount(h);
    return rc;
}

int tsagg__head_prune_published(tsagg_store *st, int wait)
{
    tsagg__head *h = st->head;
    if (!h)
        return 0;
    int rc;
    uint64_t consumed = published_consumed(st, &rc);
    if (rc != 0 || consumed <= __atomic_load_n(&h->base_seq, __ATOMIC_RELAXED))
        return rc;
    return prune_serialised(h, consumed, wait);
}

/* 1 when a and b drop the same events (the same rules in the same order). */
static int rules_equal(const tsagg_rules *a, const tsagg_rules *b)
{
    size_t n = tsagg_rules_count(a);
    if (n != tsagg_rules_count(b))
        return 0;
    for (size_t i = 0; i < n; i++) {
        const char *fa, *va, *fb, *vb;
        if (tsagg_rules_get(a, i, &fa, &va) != 0 || tsagg_rules_get(b, i, &fb, &vb) != 0 ||
            strcmp(fa, fb) || strcmp(va, vb))
            return 0;
    }
    return 1;
}

/*
 * The head's lock prefers writers: with the default (readers first), queries
 * that overlap, each holding the read lock, keep an append (which takes the
 * write lock to add its rows) out for as long as they keep coming: tens of
 * seconds were seen. A waiting writer holds off new readers, so an append
 * waits for the queries already reading, no more. This needs that no thread
 * takes the read lock twice (it would wait behind a waiting writer that
 * waits for it): a query takes it for each read of the rows
 * (tsagg__head_read_begin), never nested; a prune takes it in slices.
 *
 * A query holds the lock only while it reads the head's rows, not for its
 * whole run (its pin keeps the rows it counts, tsagg__head_acquire): when
 * it held it from start to end, through the reads of every file, each
 * append (under the log writer's lock, which every other append and the
 * group commit then waited for) waited for the queries running, and every
 * query arriving meanwhile for the append, so that queries beside a stream
 * of appends ran one batch after another.
 */
static void init_head_lock(pthread_rwlock_t *lock)
{
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
#ifdef __GLIBC__
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    pthread_rwlock_init(lock, &attr);
    pthread_rwlockattr_destroy(&attr);
}

int tsagg__head_open(tsagg_store *st)
{
    tsagg__head *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    init_head_lock(&h->lock);
    pthread_mutex_init(&h->update_mu, NULL);
    pthread_mutex_init(&h->pin_mu, NULL);
    pthread_cond_init(&h->pin_cv, NULL);
    h->prune_slice_rows = PRUNE_SLICE_ROWS;
    int rc = tsagg__rowconv_init(&h->conv, st->schema);
    if (rc == 0)
        rc = tsagg__spanbuf_init(&h->d.buf, 0, h->conv.ndims, h->conv.nmeas);
    if (rc == 0)
        rc = tsagg_store_rules(st, &h->rules);
    st->head = h;
    uint64_t consumed = rc == 0 ? published_consumed(st, &rc) : 0;
    /* A damaged manifest is the queries' and tsagg_verify's to report:
     * the head then starts at the log's beginning, as queries did. */
    if (rc == TSAGG_ECORRUPT || rc == TSAGG_ECHECKSUM || rc == TSAGG_EVERSION) {
        st->errmsg[0] = 0;
        rc = 0;
    }
    if (rc == 0) {
        rc = rebuild(st, h, consumed);
        /* A log the head cannot read (a segment of a newer format, damage
         * the reader cannot step over) is the queries' to report, as it was
         * before there was a head: they try again and fail with it. The
         * open goes on. I/O errors fail the open. */
        if (rc == TSAGG_EVERSION || rc == TSAGG_ECORRUPT || rc == TSAGG_ECHECKSUM) {
            h->stale = 1;
            st->errmsg[0] = 0;
            rc = 0;
        }
    }
    if (rc != 0)
        tsagg__head_close(st);
    return rc;
}

void tsagg__head_close(tsagg_store *st)
{
    tsagg__head *h = st->head;
    if (!h)
        return;
    rows_free(&h->d);
    tsagg__rowconv_free(&h->conv);
    tsagg_rules_free(h->rules);
    free(h->pending);
    pthread_rwlock_destroy(&h->lock);
    pthread_mutex_destroy(&h->update_mu);
    pthread_mutex_destroy(&h->pin_mu);
    pthread_cond_destroy(&h->pin_cv);
    free(h->pins);
    free(h);
    st->head = NULL;
}

size_t tsagg__head_bytes(tsagg_store *st)
{
    return st->head ? atomic_load(&st->head->bytes) : 0;
}

int tsagg__head_wants_compaction(tsagg_store *st)
{
    return st->head && atomic_load(&st->head->bytes) >= st->opts.head_max_bytes;
}

int tsagg__head_must_compact(tsagg_store *st)
{
    return st->head && atomic_load(&st->head->bytes) / 2 >= st->opts.head_max_bytes;
}

/* Size of log segment `number`, or -1 when it does not exist (or cannot be
 * read: the log read then says why). */
static int64_t segment_size(tsagg_store *st, uint64_t number)
{
    char path[TSAGG_PATH_MAX + 64];
    tsagg__segment_path(st, number, path, sizeof path);
    int fd = st->io->open(st->io->ctx, path, O_RDONLY | O_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    uint64_t size = 0;
    int rc = st->io->fsize(st->io->ctx, fd, &size);
    st->io->close(st->io->ctx, fd);
    return rc == 0 ? (int64_t)size : -1;
}

/*
 * A read-only handle's catch-up: what the log holds after the head. The
 * newest segment's size is taken before the read, so that a later query
 * that finds it (and no newer segment) unchanged knows there is nothing to
 * read, for two opens instead of a log read; a size taken before the read
 * can only be too small, which makes the next query read again.
 */
static int catch_up(tsagg_store *st, tsagg__head *h)
{
    if (h->tail_segment && !h->damage[0] &&
        segment_size(st, h->tail_segment) == h->tail_size &&
        segment_size(st, h->tail_segment + 1) < 0)
        return 0;
    uint64_t *nums = NULL;
    size_t count = 0;
    uint64_t seg = 0;
    int64_t size = -1;
    if (tsagg__list_segments(st->io, st->log_dir, &nums, &count) == 0 && count > 0) {
        seg = nums[count - 1];
        size = segment_size(st, seg);
    }
    free(nums);
    int rc = read_log(st, h);
    h->tail_segment = rc == 0 && size >= 0 ? seg : 0;
    h->tail_size = size;
    return rc;
}

/*
 * Bring the head up to date for a query on a snapshot consumed up to
 * `consumed`, with the store's rules *rules (taken when they are new; the
 * old set comes back in *rules), then prune what the snapshot says is
 * compacted. One update at a time (update_mu): a query arriving during a
 * writer's redo waits for it rather than read a head half under old rules.
 */
static int update_head(tsagg_store *st, tsagg__head *h, uint64_t consumed, tsagg_rules **rules)
{
    int rc = 0;
    pthread_mutex_lock(&h->update_mu);
    pthread_rwlock_wrlock(&h->lock);
    /* Under update_mu only an add failing (stale) changes this, and not
     * while we hold the lock: once true it stays so until we rewrite. */
    int rewrite = h->stale || !rules_equal(*rules, h->rules);
    if (rewrite) {
        pthread_rwlock_unlock(&h->lock); /* the pinned queries read once more */
        rewrite_begin(h);
        pthread_rwlock_wrlock(&h->lock);
    }
    if (!st->writer) {
        if (h->stale || !rules_equal(*rules, h->rules)) {
            tsagg_rules *old = h->rules;
            h->rules = *rules;
            *rules = old;
            rc = rebuild(st, h, consumed > h->base_seq ? consumed : h->base_seq);
        } else {
            rc = catch_up(st, h); /* what the writer appended since */
        }
    } else if (h->stale || !rules_equal(*rules, h->rules)) {
        /* New events take the new rules from now on; the ones before are
         * read again once the log holds them all. The log writer adds
         * events under its own lock and then the head's: the head's is not
         * held while the log is flushed. */
        tsagg_rules *old = h->rules;
        h->rules = *rules;
        *rules = old;
        uint64_t upto = h->next_seq;
        h->redoing = 1;
        pthread_rwlock_unlock(&h->lock);
        rc = tsagg_flush(st);
        pthread_rwlock_wrlock(&h->lock);
        if (rc == 0)
            rc = redo_prefix(st, h, upto);
        else
            h->stale = 1;
        h->redoing = 0;
    }
    pthread_rwlock_unlock(&h->lock);
    if (rewrite)
        rewrite_end(h);
    tsagg__head_rows dropped = {0};
    if (rc == 0)
        rc = prune(h, consumed, &dropped, 0);
    pthread_mutex_unlock(&h->update_mu);
    rows_free(&dropped);
    return rc;
}

int tsagg__head_acquire(tsagg_store *st, uint64_t consumed, uint64_t *visible, char *warning)
{
    tsagg__head *h = st->head;
    /* Read now, not cached: this or another handle may have changed them. */
    tsagg_rules *rules;
    int rc = tsagg_store_rules(st, &rules);
    if (rc != 0)
        return rc;
    /* Most queries find nothing to do. */
    pthread_rwlock_rdlock(&h->lock);
    int update = !st->writer || h->stale || h->redoing || !rules_equal(rules, h->rules);
    /* A snapshot past the head's base reads the head unpruned just as well
     * (rows are counted by number): it prunes only when no other update of
     * the head runs and no other query reads the rows, rather than wait. */
    int prune_due = !update && consumed > h->base_seq;
    pthread_rwlock_unlock(&h->lock);
    if (update || prune_due)
        rc = update ? update_head(st, h, consumed, &rules) : prune_serialised(h, consumed, 0);
    tsagg_rules_free(rules);
    if (rc == 0)
        rc = pin(h, consumed);
    if (rc != 0)
        return rc;
    pthread_rwlock_rdlock(&h->lock);
    if (consumed < h->base_seq) {
        /* Another query pruned past this snapshot: its files lack events
         * the head no longer holds. */
        pthread_rwlock_unlock(&h->lock);
        unpin(h);
        return -ENOENT;
    }
    /* The log writer adds events in order before they can be durable:
     * the writer's head holds every durable event. A read-only handle's
     * head is the prefix of the log it has read. */
    *visible = h->next_seq - 1;
    if (st->writer && tsagg_durable_seq(st) < *visible)
        *visible = tsagg_durable_seq(st);
    snprintf(warning, TSAGG_ERRMSG_MAX, "%s", h->damage[0] ? h->damage : h->hook_failure);
    pthread_rwlock_unlock(&h->lock);
    return 0;
}

void tsagg__head_release(tsagg_store *st)
{
    unpin(st->head);
}

void tsagg__head_read_begin(tsagg_store *st)
{
    pthread_rwlock_rdlock(&st->head->lock);
}

void tsagg__head_read_end(tsagg_store *st)
{
    pthread_rwlock_unlock(&st->head->lock);
}
