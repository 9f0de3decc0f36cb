/*
 * test_absent_ids.c - events without a user or a session (id 0).
 *
 * Invariant: a distinct count of users or sessions counts the ids present,
 * never the absent one, as SQL's count(DISTINCT x) ignores NULL. The
 * oracle restates that rule on the appended events (sort, drop 0, count
 * runs); the library must agree with it exactly (the counts here stay
 * under the sketches' exact range) on every path that answers: the log
 * tail, partitions read through their rollups, partitions read through
 * their columns (a dimension filter), the exact path, and partitions plus
 * tail together.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tsagg.h"

TestSuite(absent_ids, .init = tu_store_setup, .fini = tu_store_teardown, .timeout = 120);

#define HOUR INT64_C(3600000000)
#define T0 (INT64_C(1767225600000000)) /* 2026-01-01T00:00:00Z */
#define NEV 3000
#define MERCHANT 5

typedef struct ev_rec {
    int64_t ts;
    uint64_t user, session;
} ev_rec;

static ev_rec g_evs[2 * NEV];
static size_t g_nev;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* count(DISTINCT id) over the events in [from, to): NULL (0) ignored. */
static double oracle(int64_t from, int64_t to, int sessions)
{
    uint64_t *ids = malloc(g_nev * sizeof *ids);
    cr_assert_not_null(ids);
    size_t n = 0;
    for (size_t i = 0; i < g_nev; i++) {
        uint64_t id = sessions ? g_evs[i].session : g_evs[i].user;
        if (g_evs[i].ts >= from && g_evs[i].ts < to && id != 0)
            ids[n++] = id;
    }
    qsort(ids, n, sizeof *ids, cmp_u64);
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++)
        distinct += i == 0 || ids[i] != ids[i - 1];
    free(ids);
    return (double)distinct;
}

/* Append NEV events over three hours from `from`; about one in four has no
 * user, one in three no session. */
static void append_events(tsagg_store *st, int64_t from, uint64_t seed)
{
    static tsagg_event evs[NEV];
    static tsagg_attr attrs[NEV];
    for (size_t i = 0; i < NEV; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t r = seed >> 20;
        ev_rec *e = &g_evs[g_nev++];
        e->ts = from + (int64_t)(r % (uint64_t)(3 * HOUR));
        e->user = r % 4 == 0 ? 0 : 1 + (r >> 8) % 150;
        e->session = r % 3 == 0 ? 0 : 1000 + (r >> 16) % 200;
        attrs[i] = (tsagg_attr){.key = "page", .key_len = 4, .type = TSAGG_STR,
                                .v.s = {(r >> 24) % 2 ? "/a" : "/b", 2}};
        evs[i] = (tsagg_event){.ts = e->ts, .merchant = MERCHANT, .event = "page_view",
                               .event_len = 9, .user = e->user, .session = e->session,
                               .attrs = &attrs[i], .nattrs = 1};
    }
    cr_assert_eq(tsagg_append(st, evs, NEV, NULL), 0);
    cr_assert_eq(tsagg_flush(st), 0);
}

/* Users and sessions per hour over [T0, T0 + 6h) and in total, with and
 * without TSAGG_QUERY_EXACT and with the filter page in {/a, /b} (every
 * event: it only moves the answer off the rollups), against the oracle. */
static void check_all(tsagg_store *st, uint32_t extra_flags, const char *what)
{
    tsagg_metric m[] = {{TSAGG_METRIC_USERS, NULL}, {TSAGG_METRIC_SESSIONS, NULL}};
    const char *pages[] = {"/a", "/b"};
    tsagg_filter f = {"page", pages, 2};
    tsagg_result *r;
    cr_assert_eq(tsagg_result_create(&r), 0);
    for (int variant = 0; variant < 4; variant++) {
        for (int total = 0; total < 2; total++) {
            tsagg_query q;
            tsagg_query_init(&q);
            q.merchant = MERCHANT;
            q.from = T0;
            q.to = T0 + 6 * HOUR;
            q.bucket = total ? TSAGG_BUCKET_TOTAL : TSAGG_BUCKET_HOUR;
            q.metrics = m;
            q.nmetrics = 2;
            q.flags = extra_flags | (variant & 1 ? TSAGG_QUERY_EXACT : 0);
            if (variant & 2) {
                q.filters = &f;
                q.nfilters = 1;
            }
            int rc = tsagg_query_run(st, &q, r);
            char err[512];
            tsagg_store_errmsg(st, err, sizeof err);
            cr_assert_eq(rc, 0, "%s: %s", what, err);
            size_t rows = tsagg_result_rows(r);
            cr_assert_eq(rows, total ? 1u : 6u);
            for (size_t i = 0; i < rows; i++) {
                int64_t from = tsagg_result_times(r)[i];
                int64_t to = total ? q.to : from + HOUR;
                for (int k = 0; k < 2; k++) {
                    double want = oracle(from, to, k), got = tsagg_result_values(r, (size_t)k)[i];
                    cr_assert_eq(got, want,
                                 "%s, %s%s, %s row %zu: %s %.0f, count(DISTINCT) says %.0f", what,
                                 variant & 1 ? "exact" : "estimated",
                                 variant & 2 ? " with a filter" : "", total ? "total" : "hour",
                                 i, k ? "sessions" : "users", got, want);
                }
            }
        }
    }
    tsagg_result_free(r);
}

Test(absent_ids, distinct_counts_ignore_absent_ids_on_every_path)
{
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.io_backend = TSAGG_IO_PWRITE;
    tsagg_store *st;
    char err[512];
    cr_assert_eq(tsagg_store_open(tu_store, &o, &st, err, sizeof err), 0, "%s", err);
    g_nev = 0;
    append_events(st, T0, 42);
    check_all(st, 0, "log tail");
    cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
    check_all(st, TSAGG_QUERY_NO_TAIL, "partitions");
    append_events(st, T0 + 2 * HOUR, 7);
    check_all(st, 0, "partitions and tail");
    cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
    check_all(st, 0, "two files per hour");
    cr_assert_eq(tsagg_merge(st, NULL, NULL), 0);
    check_all(st, 0, "merged");
    cr_assert_eq(tsagg_store_close(st), 0);
}
