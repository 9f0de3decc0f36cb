/*
 * test_head_nomem.c - the head (lib/query/head.h) when memory runs out
 * while it takes an append's events.
 *
 * Invariant: whichever allocation of an append fails, the head stays
 * consistent (every row it holds has its sequence number, is listed under
 * its merchant, and its id is in the retry table), is marked for a rebuild
 * when it missed events, and the next query counts exactly the events the
 * log holds, as compaction does afterwards.
 *
 * The sweep fails the 1st, 2nd, ... allocation of one append (failalloc.h)
 * on a store whose head is full to the last slot of its buffer, merchant
 * array and tables, so that the append's first event grows each of them,
 * until an append runs with no allocation failed.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "failalloc.h"
#include "head.h"
#include "testutil.h"
#include "tsagg.h"

#define T0 INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define PREFIX 1024                 /* rows, merchants and ids: every table full */

TestSuite(head_nomem, .init = tu_store_setup, .fini = tu_store_teardown);

/* Event i of merchant m, with id i. */
static void fill(tsagg_event *e, tsagg_attr *a, uint64_t m, uint64_t i)
{
    *a = (tsagg_attr){.key = "page", .key_len = 4, .type = TSAGG_STR, .v.s = {"/a", 2}};
    *e = (tsagg_event){.ts = T0 + (int64_t)i, .merchant = m, .event = "page_view",
                       .event_len = 9, .flags = TSAGG_EVENT_HAS_ID, .user = 1 + i % 7,
                       .session = 1 + i % 11, .id = i, .attrs = a, .nattrs = 1};
}

/* Every row numbered within the head, listed once under its merchant,
 * every id in the retry table. */
static void check_consistent(tsagg__head *h)
{
    pthread_rwlock_rdlock(&h->lock);
    const tsagg__head_rows *d = &h->d;
    cr_assert_geq(d->seqs_cap, d->buf.n, "%zu rows, room for %zu sequence numbers", d->buf.n,
                  d->seqs_cap);
    size_t ids = 0;
    for (size_t r = 0; r < d->buf.n; r++) {
        cr_assert(d->seqs[r] > h->base_seq && d->seqs[r] < h->next_seq,
                  "row %zu numbered %" PRIu64 " outside (%" PRIu64 ", %" PRIu64 ")", r,
                  d->seqs[r], h->base_seq, h->next_seq);
        ids += (d->buf.rows[r].flags & TSAGG_EVENT_HAS_ID) != 0;
    }
    size_t listed = 0;
    for (uint32_t i = 0; i < d->nms; i++) {
        const tsagg__head_merchant *m = &d->ms[i];
        cr_assert_eq(tsagg__head_find(h, m->merchant), m, "merchant %" PRIu64 " not found",
                     m->merchant);
        for (uint32_t j = 0; j < m->n; j++) {
            cr_assert_lt(m->rows[j], d->buf.n);
            cr_assert_eq(d->buf.rows[m->rows[j]].merchant, m->merchant);
        }
        listed += m->n;
    }
    cr_assert_eq(listed, d->buf.n, "%zu rows, %zu listed under their merchants", d->buf.n,
                 listed);
    size_t slots = 0;
    for (uint32_t i = 0; i < d->idtable_cap; i++)
        if (d->idtable[i]) {
            cr_assert_leq((uint32_t)d->idtable[i], d->buf.n, "an id of a row not held");
            slots++;
        }
    cr_assert_eq(ids, d->nids, "%zu rows with an id, %u counted", ids, d->nids);
    cr_assert_eq(slots, d->nids, "%zu ids in the retry table, %u counted", slots, d->nids);
    pthread_rwlock_unlock(&h->lock);
}

Test(head_nomem, a_failed_add_leaves_the_head_consistent, .timeout = 300)
{
    tsagg_event e[256];
    tsagg_attr a[256];
    int missed = 0; /* appends the log took and the head did not */
    for (long k = 1;; k++) {
        tu_rmtree(tu_store);
        tsagg_options o;
        tsagg_options_init(&o);
        o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
        o.sync_mode = TSAGG_SYNC_NONE;
        tsagg_store *st;
        char err[512];
        cr_assert_eq(tsagg_store_open(tu_store, &o, &st, err, sizeof err), 0, "open: %s", err);
        for (uint64_t i = 0; i < PREFIX;) {
            size_t n = 0;
            for (; n < 256 && i < PREFIX; n++, i++)
                fill(&e[n], &a[n], 1 + i, i);
            cr_assert_eq(tsagg_append(st, e, n, NULL), 0);
        }
        tsagg__head *h = st->head;
        cr_assert(h->d.buf.n == h->d.buf.cap && h->d.nms == h->d.ms_cap,
                  "the head is not full: %zu of %zu rows, %u of %u merchants", h->d.buf.n,
                  h->d.buf.cap, h->d.nms, h->d.ms_cap);

        /* A new merchant (growing the buffer, the sequence numbers, the
         * merchant array and table, the id table), then merchant 1 past
         * its row list's room. */
        fill(&e[0], &a[0], PREFIX + 1, PREFIX);
        for (int j = 1; j <= 4; j++)
            fill(&e[j], &a[j], 1, PREFIX + (uint64_t)j);
        failalloc_arm(k);
        int rc = tsagg_append(st, e, 5, NULL);
        int hit = failalloc_disarm();
        cr_assert(rc == 0 || rc == -ENOMEM, "append: %s", tsagg_strerror(rc));
        uint64_t expect = PREFIX + (rc == 0 ? 5 : 0);
        missed += rc == 0 && h->stale;

        check_consistent(h);
        cr_assert_eq(tsagg_flush(st), 0);
        int64_t to = T0 + PREFIX + 5;
        cr_assert_eq(tu_count_events(st, T0, to), expect, "failing allocation %ld", k);
        check_consistent(h);
        cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
        cr_assert_eq(tu_count_events(st, T0, to), expect, "failing allocation %ld", k);
        cr_assert_eq(tsagg_store_close(st), 0);
        if (!hit) {
            cr_log_info("%ld allocations in the append, %d failures the head took", k - 1,
                        missed);
            break;
        }
    }
    cr_assert_geq(missed, 5, "the sweep failed only %d of the head's allocations", missed);
}
