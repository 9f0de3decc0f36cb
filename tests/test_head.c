/*
 * test_head.c - the head of uncompacted events (lib/query/head.h):
 *
 *   - a retry (same merchant, ts and id) appended twice counts once before
 *     compaction as after;
 *   - the store's processing hook applies to head events as compaction
 *     applies it: the answers before and after compaction are the same;
 *   - a read-only handle sees, query after query, what another process
 *     appends;
 *   - after a kill -9 of a writer in the middle of its appends, the head an
 *     open rebuilds counts exactly the log's events, every acknowledged one
 *     among them, and compaction then gives the same answer;
 *   - the memory bound: past head_max_bytes the store wants a compaction,
 *     past twice that the append compacts, and nothing is lost; with a
 *     maintenance thread, the append wakes it and never compacts itself
 *     below four times the bound, and past it does (maintenance failing);
 *   - a compaction prunes the head as soon as it publishes, before the
 *     merges of the days it sealed;
 *   - distinct-count estimates are the same, to the last digit, from the
 *     head, from a file and the head, and from files compacted in two runs,
 *     merged or not;
 *   - a bulk load's events are counted by a query in the middle of the load,
 *     after its finish and after a cancel, and the load never compacts
 *     inline (its thread holds the compaction lock) however the head grows;
 *   - a prune copying a large backlog lets appends in between its slices:
 *     none waits a quarter of the copy's time, and none of their events is
 *     lost;
 *   - appends go on while threads query the head without a pause: an
 *     append waits for the queries reading, not for those that follow;
 *   - an append goes in while a query reads the files: a query holds the
 *     head only while it reads the head's rows; a compaction publishing
 *     meanwhile prunes once the query (of the older snapshot) is done, and
 *     the query counts each event once; new rules read the head again only
 *     once the queries running are done.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "head.h" /* tsagg__head_bytes, tsagg__head_wants_compaction, the prune */
#include "log_internal.h" /* tsagg__log_append */
#include "testutil.h"
#include "tsagg.h"

#define SEC INT64_C(1000000)
#define HOUR (3600 * SEC)
#define T0 INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */

TestSuite(head, .init = tu_store_setup, .fini = tu_store_teardown);

static tsagg_store *open_store(uint32_t flags, uint64_t head_max,
                               int (*hook)(void *, tsagg_event *, uint64_t))
{
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = flags;
    if (head_max)
        o.head_max_bytes = head_max;
    o.process = hook;
    tsagg_store *st;
    char err[512];
    int rc = tsagg_store_open(tu_store, &o, &st, err, sizeof err);
    cr_assert_eq(rc, 0, "open: %s", err);
    return st;
}

/* Event i of merchant m: pages /a and /b, id i. */
static void fill(tsagg_event *e, tsagg_attr *a, uint64_t m, uint64_t i)
{
    const char *page = i % 3 ? "/a" : "/B";
    *a = (tsagg_attr){.key = "page", .key_len = 4, .type = TSAGG_STR, .v.s = {page, 2}};
    *e = (tsagg_event){.ts = T0 + (int64_t)(i % 48) * HOUR + (int64_t)i, .merchant = m,
                       .event = i % 5 ? "page_view" : "bot_hit", .event_len = i % 5 ? 9 : 7,
                       .flags = TSAGG_EVENT_HAS_ID, .user = 1 + i % 97, .session = 1 + i % 301,
                       .id = i, .attrs = a, .nattrs = 1};
}

/* Events [from, to) of merchant m, in batches of 256, through tsagg_append
 * (bulk NULL) or a bulk load. */
static void add_range(tsagg_store *st, tsagg_bulk *bulk, uint64_t m, uint64_t from, uint64_t to)
{
    tsagg_event e[256];
    tsagg_attr a[256];
    while (from < to) {
        size_t n = 0;
        for (; n < 256 && from < to; n++, from++)
            fill(&e[n], &a[n], m, from);
        int rc = bulk ? tsagg_bulk_append(bulk, e, n, NULL) : tsagg_append(st, e, n, NULL);
        cr_assert_eq(rc, 0, "append: %s", tsagg_strerror(rc));
    }
}

static void append_range(tsagg_store *st, uint64_t m, uint64_t from, uint64_t to)
{
    add_range(st, NULL, m, from, to);
}

/* Total of a metric over 3 days (flags: TSAGG_QUERY_*), optionally where
 * page equals `page`. */
static double total(tsagg_store *st, uint64_t merchant, uint32_t flags, uint32_t kind,
                    const char *page)
{
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = merchant;
    q.flags = flags;
    q.from = T0;
    q.to = T0 + 72 * HOUR;
    q.bucket = TSAGG_BUCKET_TOTAL;
    tsagg_metric m = {kind, NULL};
    q.metrics = &m;
    q.nmetrics = 1;
    const char *vals[1] = {page};
    tsagg_filter f = {"page", vals, 1};
    if (page) {
        q.filters = &f;
        q.nfilters = 1;
    }
    tsagg_result *r;
    cr_assert_eq(tsagg_result_create(&r), 0);
    int rc = tsagg_query_run(st, &q, r);
    cr_assert_eq(rc, 0, "query: %s", tsagg_result_errmsg(r));
    double v = tsagg_result_values(r, 0)[0];
    tsagg_result_free(r);
    return v;
}

Test(head, retry_counts_once_before_compaction)
{
    tsagg_store *st = open_store(TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE, 0, NULL);
    append_range(st, 7, 0, 100);
    append_range(st, 7, 40, 60); /* the client sent these again */
    cr_assert_eq(total(st, 7, 0, TSAGG_METRIC_COUNT, NULL), 100);
    cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
    cr_assert_eq(total(st, 7, TSAGG_QUERY_NO_TAIL, TSAGG_METRIC_COUNT, NULL), 100);
    cr_assert_eq(total(st, 7, 0, TSAGG_METRIC_COUNT, NULL), 100);
    tsagg_store_close(st);
}

/* Drops bot hits and lowercases pages. */
static int hook(void *ctx, tsagg_event *ev, uint64_t seq)
{
    (void)ctx;
    (void)seq;
    static __thread tsagg_attr a;
    if (ev->event_len == 7 && !memcmp(ev->event, "bot_hit", 7))
        return 0;
    if (ev->nattrs == 1 && ev->attrs[0].v.s.len == 2 && ev->attrs[0].v.s.ptr[1] == 'B') {
        a = ev->attrs[0];
        a.v.s.ptr = "/b";
        ev->attrs = &a;
    }
    return 1;
}

Test(head, processing_hook_applies_before_compaction)
{
    tsagg_store *st = open_store(TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE, 0, hook);
    append_range(st, 3, 0, 500);
    double count = total(st, 3, 0, TSAGG_METRIC_COUNT, NULL);
    double b = total(st, 3, 0, TSAGG_METRIC_COUNT, "/b");
    double users = total(st, 3, 0, TSAGG_METRIC_USERS, NULL);
    cr_assert_eq(count, 400, "bot hits are dropped: %.0f", count);
    cr_assert_eq(total(st, 3, 0, TSAGG_METRIC_COUNT, "/B"), 0);
    /* The same answers from a read-only handle, which runs the hook too. */
    tsagg_store *ro = open_store(0, 0, hook);
    cr_assert_eq(total(ro, 3, 0, TSAGG_METRIC_COUNT, "/b"), b);
    tsagg_store_close(ro);
    cr_assert_eq(tsagg_compact(st, NULL, NULL), 0); /* no hook given: the store's */
    cr_assert_eq(total(st, 3, TSAGG_QUERY_NO_TAIL, TSAGG_METRIC_COUNT, NULL), count);
    cr_assert_eq(total(st, 3, TSAGG_QUERY_NO_TAIL, TSAGG_METRIC_COUNT, "/b"), b);
    cr_assert_eq(total(st, 3, TSAGG_QUERY_NO_TAIL, TSAGG_METRIC_USERS, NULL), users);
    tsagg_store_close(st);
}

/* In a child process: open the writer, append [from, to) of merchant m,
 * close, exit. */
static void child_appends(uint64_t m, uint64_t from, uint64_t to)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        tsagg_options o;
        tsagg_options_init(&o);
        o.flags = TSAGG_OPEN_WRITE;
        tsagg_store *st;
        if (tsagg_store_open(tu_store, &o, &st, NULL, 0) != 0)
            _exit(2);
        tsagg_event e[64];
        tsagg_attr a[64];
        for (uint64_t i = from; i < to;) {
            size_t n = 0;
            for (; n < 64 && i < to; n++, i++)
                fill(&e[n], &a[n], m, i);
            if (tsagg_append(st, e, n, NULL) != 0)
                _exit(3);
        }
        _exit(tsagg_store_close(st) == 0 ? 0 : 4);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
}

Test(head, read_only_handle_sees_another_process)
{
    tsagg_store *st = open_store(TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE, 0, NULL);
    tsagg_store_close(st);
    tsagg_store *ro = open_store(0, 0, NULL);
    cr_assert_eq(total(ro, 9, 0, TSAGG_METRIC_COUNT, NULL), 0);
    child_appends(9, 0, 300);
    cr_assert_eq(total(ro, 9, 0, TSAGG_METRIC_COUNT, NULL), 300);
    child_appends(9, 300, 1000);
    child_appends(8, 0, 10);
    cr_assert_eq(total(ro, 9, 0, TSAGG_METRIC_COUNT, NULL), 1000);
    cr_assert_eq(total(ro, 8, 0, TSAGG_METRIC_COUNT, NULL), 10);
    cr_assert_eq(total(ro, 0, TSAGG_QUERY_ALL_MERCHANTS, TSAGG_METRIC_COUNT, NULL), 1010);
    /* Compacted by another process: the head lets go of those events. */
    st = open_store(TSAGG_OPEN_WRITE, 0, NULL);
    cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
    tsagg_store_close(st);
    cr_assert_eq(total(ro, 9, 0, TSAGG_METRIC_COUNT, NULL), 1000);
    cr_assert_eq(tsagg__head_bytes(ro) < 64 * 1024, 1, "head holds %zu bytes",
                 tsagg__head_bytes(ro));
    tsagg_store_close(ro);
}

Test(head, rebuilt_after_kill_equals_the_log)
{
    tsagg_store *st = open_store(TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE, 0, NULL);
    append_range(st, 5, 0, 1000);
    cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
    tsagg_store_close(st);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) { /* appends until killed, reporting each acknowledged batch */
        close(fds[0]);
        tsagg_options o;
        tsagg_options_init(&o);
        o.flags = TSAGG_OPEN_WRITE;
        tsagg_store *w;
        if (tsagg_store_open(tu_store, &o, &w, NULL, 0) != 0)
            _exit(2);
        tsagg_event e[50];
        tsagg_attr a[50];
        for (uint64_t i = 1000;; i += 50) {
            for (size_t k = 0; k < 50; k++)
                fill(&e[k], &a[k], 5, i + k);
            if (tsagg_append(w, e, 50, NULL) != 0)
                _exit(3);
            uint64_t acked = i + 50;
            if (write(fds[1], &acked, sizeof acked) != sizeof acked)
                _exit(4);
        }
    }
    close(fds[1]);
    uint64_t acked = 0, v;
    while (acked < 20000 && read(fds[0], &v, sizeof v) == sizeof v)
        acked = v;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    while (read(fds[0], &v, sizeof v) == sizeof v)
        acked = v;
    close(fds[0]);
    st = open_store(TSAGG_OPEN_WRITE, 0, NULL);
    /* The log's tail, read directly. */
    uint64_t compacted;
    cr_assert_eq(tsagg_compacted_seq(st, &compacted), 0);
    tsagg_log_range r;
    tsagg_log_range_init(&r);
    r.from_seq = compacted + 1;
    tsagg_log_reader *rd;
    cr_assert_eq(tsagg_log_reader_open(st, &r, &rd), 0);
    const tsagg_event *ev;
    uint64_t seq, in_log = 0;
    while (tsagg_log_reader_next(rd, &ev, &seq) == 1)
        in_log++;
    tsagg_log_reader_close(rd);
    double head = total(st, 5, 0, TSAGG_METRIC_COUNT, NULL);
    cr_assert_eq(head, 1000 + (double)in_log, "head %.0f, log tail %lu", head,
                 (unsigned long)in_log);
    cr_assert_geq(head, (double)acked, "acknowledged %lu, counted %.0f", (unsigned long)acked,
                  head);
    cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
    cr_assert_eq(total(st, 5, TSAGG_QUERY_NO_TAIL, TSAGG_METRIC_COUNT, NULL), head);
    tsagg_store_close(st);
}

Test(head, memory_bound_compacts_and_loses_nothing)
{
    const uint64_t bound = 1u << 20;
    tsagg_store *st = open_store(TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE, bound, NULL);
    uint64_t n = 0, wanted_at = 0;
    size_t most = 0;
    while (n < 60000) {
        append_range(st, 11 + n % 7, n, n + 200);
        n += 200;
        size_t b = tsagg__head_bytes(st);
        most = b > most ? b : most;
        if (!wanted_at && tsagg__head_wants_compaction(st))
            wanted_at = n;
    }
    cr_assert_neq(wanted_at, 0, "the head never wanted a compaction (%zu bytes)", most);
    /* Twice the bound, and what one append and a doubling add past it. */
    cr_assert_leq(most, 3 * bound, "the head reached %zu bytes", most);
    uint64_t compacted;
    cr_assert_eq(tsagg_compacted_seq(st, &compacted), 0);
    cr_assert_gt(compacted, 0, "no inline compaction");
    cr_assert_eq(total(st, 0, TSAGG_QUERY_ALL_MERCHANTS, TSAGG_METRIC_COUNT, NULL), 60000);
    tsagg_store_close(st);
}

/* Distinct users and sessions of merchant m over 3 days, per hour. */
static void distinct_series(tsagg_store *st, uint64_t m, uint32_t flags, double *out, size_t n)
{
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = m;
    q.flags = flags;
    q.from = T0;
    q.to = T0 + 72 * HOUR;
    tsagg_metric mt[2] = {{TSAGG_METRIC_USERS, NULL}, {TSAGG_METRIC_SESSIONS, NULL}};
    q.metrics = mt;
    q.nmetrics = 2;
    tsagg_result *r;
    cr_assert_eq(tsagg_result_create(&r), 0);
    cr_assert_eq(tsagg_query_run(st, &q, r), 0, "query: %s", tsagg_result_errmsg(r));
    cr_assert_eq(tsagg_result_rows(r) * 2, n);
    cr_assert_eq(tsagg_result_approximate(r), 1);
    for (size_t i = 0; i < n / 2; i++) {
        out[i] = tsagg_result_values(r, 0)[i];
        out[n / 2 + i] = tsagg_result_values(r, 1)[i];
    }
    tsagg_result_free(r);
}

/* HyperLogLog estimates are the same whether the events are in the head,
 * half in a file and half in the head, or compacted in two runs: a sketch
 * is a function of the set of ids it saw, in whatever order and pieces. */
Test(head, estimates_identical_before_and_after_compaction)
{
    tsagg_store *st = open_store(TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE, 0, NULL);
    enum { N = 60000, ROWS = 72 * 2 };
    tsagg_event e[500];
    tsagg_attr a[500];
    uint64_t rng = 77;
    double head[ROWS], files[ROWS];
    for (int phase = 0; phase < 2; phase++) {
        for (uint64_t i = phase * N / 2; i < (uint64_t)(phase + 1) * N / 2; i += 500) {
            for (size_t k = 0; k < 500; k++) {
                fill(&e[k], &a[k], 21, i + k);
                e[k].user = 1 + tu_splitmix64(&rng) % 40000;
                e[k].session = 1 + tu_splitmix64(&rng) % 90000;
            }
            cr_assert_eq(tsagg_append(st, e, 500, NULL), 0);
        }
        if (phase == 0)
            cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
    }
    cr_assert_eq(tsagg_flush(st), 0);
    /* Half in a file, half in the head (of a read-only handle). */
    tsagg_store *ro = open_store(0, 0, NULL);
    tsagg_store_close(st);
    distinct_series(ro, 21, 0, files, ROWS);
    cr_assert_eq(tsagg_store_close(ro), 0);
    st = open_store(TSAGG_OPEN_WRITE, 0, NULL);
    cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
    double compacted[ROWS];
    distinct_series(st, 21, TSAGG_QUERY_NO_TAIL, compacted, ROWS);
    cr_assert_eq(tsagg_merge(st, NULL, NULL), 0);
    double merged[ROWS];
    distinct_series(st, 21, TSAGG_QUERY_NO_TAIL, merged, ROWS);
    tsagg_store_close(st);
    /* The same events, never compacted. */
    char other[sizeof tu_store];
    snprintf(other, sizeof other, "%s", tu_store);
    snprintf(tu_store, sizeof tu_store, "%s/second", tu_dir);
    st = open_store(TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE, 0, NULL);
    rng = 77;
    for (uint64_t i = 0; i < N; i += 500) {
        for (size_t k = 0; k < 500; k++) {
            fill(&e[k], &a[k], 21, i + k);
            e[k].user = 1 + tu_splitmix64(&rng) % 40000;
            e[k].session = 1 + tu_splitmix64(&rng) % 90000;
        }
        cr_assert_eq(tsagg_append(st, e, 500, NULL), 0);
    }
    distinct_series(st, 21, 0, head, ROWS);
    tsagg_store_close(st);
    snprintf(tu_store, sizeof tu_store, "%s", other);
    for (size_t i = 0; i < ROWS; i++) {
        cr_assert_eq(head[i], compacted[i], "row %zu: head %.0f, compacted %.0f", i, head[i],
                     compacted[i]);
        cr_assert_eq(files[i], compacted[i], "row %zu: half in files %.0f, compacted %.0f", i,
                     files[i], compacted[i]);
        cr_assert_eq(merged[i], compacted[i], "row %zu: merged %.0f, compacted %.0f", i,
                     merged[i], compacted[i]);
    }
}

/* Rules set after events entered the writer's head: the next query reads
 * those events again under the new rules; later appends take them at once;
 * compaction then gives the same answer. */
Test(head, new_rules_apply_to_events_already_in_the_head)
{
    tsagg_store *st = open_store(TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE, 0, NULL);
    append_range(st, 4, 0, 300);
    cr_assert_eq(total(st, 4, 0, TSAGG_METRIC_COUNT, NULL), 300);
    tsagg_rules *rules;
    cr_assert_eq(tsagg_rules_create(&rules), 0);
    cr_assert_eq(tsagg_rules_add_drop(rules, "event", "bot_hit", NULL, 0), 0);
    cr_assert_eq(tsagg_store_set_rules(st, rules), 0);
    tsagg_rules_free(rules);
    cr_assert_eq(total(st, 4, 0, TSAGG_METRIC_COUNT, NULL), 240);
    append_range(st, 4, 300, 600);
    cr_assert_eq(total(st, 4, 0, TSAGG_METRIC_COUNT, NULL), 480);
    cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
    cr_assert_eq(total(st, 4, TSAGG_QUERY_NO_TAIL, TSAGG_METRIC_COUNT, NULL), 480);
    tsagg_store_close(st);
}

Test(head, bulk_loads_beside_the_head, .timeout = 60)
{
    const uint64_t bound = 1u << 20;
    tsagg_store *st = open_store(TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE, bound, NULL);
    append_range(st, 5, 0, 1000);
    tsagg_compact_options o;
    tsagg_compact_options_init(&o);
    o.threads = 2;
    tsagg_bulk *b;
    cr_assert_eq(tsagg_bulk_begin(st, &o, &b), 0);
    /* Far past twice the bound if the head indexed them. */
    add_range(st, b, 7, 1000, 30000);
    cr_assert_eq(total(st, 0, TSAGG_QUERY_ALL_MERCHANTS, TSAGG_METRIC_COUNT, NULL), 30000);
    add_range(st, b, 7, 30000, 60000);
    tsagg_compact_stats s = {.struct_size = sizeof s};
    cr_assert_eq(tsagg_bulk_finish(b, &s), 0);
    cr_assert_eq(s.consumed_seq, 60000);
    cr_assert_eq(total(st, 0, TSAGG_QUERY_ALL_MERCHANTS, TSAGG_METRIC_COUNT, NULL), 60000);
    cr_assert_lt(tsagg__head_bytes(st), bound, "the head kept %zu bytes of a published load",
                 tsagg__head_bytes(st));

    /* Cancelled: the log keeps the events, and the head reads them from it. */
    cr_assert_eq(tsagg_bulk_begin(st, &o, &b), 0);
    add_range(st, b, 9, 60000, 70000);
    cr_assert_eq(tsagg_bulk_cancel(b), 0);
    cr_assert_eq(total(st, 0, TSAGG_QUERY_ALL_MERCHANTS, TSAGG_METRIC_COUNT, NULL), 70000);
    cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
    cr_assert_eq(total(st, 0, TSAGG_QUERY_ALL_MERCHANTS, TSAGG_METRIC_COUNT, NULL), 70000);
    tsagg_store_close(st);
}

static int64_t now_us(void)
{
    return (int64_t)(tu_now_ns() / 1000);
}

struct pruner {
    tsagg_store *st;
    atomic_int started, done;
    int64_t took_us;
    int rc;
};

static void *prune_thread(void *arg)
{
    struct pruner *p = arg;
    atomic_store(&p->started, 1);
    int64_t t0 = now_us();
    p->rc = tsagg__head_prune_published(p->st, 1);
    p->took_us = now_us() - t0;
    atomic_store(&p->done, 1);
    return NULL;
}

/* A compaction published with a backlog behind it: the prune copies every
 * row of the backlog. Appends go on meanwhile, the head's write lock they
 * take never waited for a quarter of the copy's time (the prune holds the
 * read lock one slice at a time, the write lock only to swap), and none of
 * their events is lost. */
Test(head, prune_lets_appends_in_while_it_copies, .timeout = 120)
{
    tsagg_store *st = open_store(TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE, 0, NULL);
    append_range(st, 1, 0, 1000);
    cr_assert_eq(tsagg_flush(st), 0);
    /* Without the prune the compaction does as it publishes: the one timed
     * here is that prune, run later over a larger head. */
    st->on_publish = NULL;
    cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
    /* Into the log and the head, without the append's own prune. */
    enum { BACKLOG = 400000 };
    tsagg_event e[256];
    tsagg_attr a[256];
    for (uint64_t i = 0; i < BACKLOG;) {
        size_t n = 0;
        for (; n < 256 && i < BACKLOG; n++, i++)
            fill(&e[n], &a[n], 2, i);
        cr_assert_eq(tsagg__log_append(st, e, n, NULL, 1), 0);
    }
    tsagg__head *h = st->head;
    cr_assert_eq(h->base_seq, 0, "pruned before the test");
    h->prune_slice_rows = 4096;

    struct pruner p = {.st = st};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, prune_thread, &p), 0);
    while (!atomic_load(&p.started))
        sched_yield();
    int64_t longest = 0;
    uint64_t next = BACKLOG, during = 0;
    while (!atomic_load(&p.done)) {
        size_t n = 0;
        for (; n < 16; n++, next++)
            fill(&e[n], &a[n], 2, next);
        /* The wait for the lock an append takes, apart from the log's
         * own work (whose time the load of the machine decides). */
        int64_t t0 = now_us();
        pthread_rwlock_wrlock(&h->lock);
        int64_t waited = now_us() - t0;
        pthread_rwlock_unlock(&h->lock);
        longest = waited > longest ? waited : longest;
        cr_assert_eq(tsagg__log_append(st, e, n, NULL, 1), 0);
        during++;
    }
    pthread_join(t, NULL);
    cr_log_info("prune %" PRId64 " us, longest wait for the write lock %" PRId64 " us, %" PRIu64
                " appends beside it, %zu rows copied under the write lock",
                p.took_us, longest, during, h->prune_locked_rows);
    cr_assert_eq(p.rc, 0);
    cr_assert_eq(h->base_seq, 1000, "the prune did not happen");
    cr_assert_gt(during, 1, "no append ran beside the prune");
    cr_assert_lt(longest * 4, p.took_us,
                 "the write lock waited %" PRId64 " us, the prune took %" PRId64 " us", longest,
                 p.took_us);
    cr_assert_lt(h->prune_locked_rows, BACKLOG / 4,
                 "the prune copied %zu rows holding the write lock", h->prune_locked_rows);
    cr_assert_eq(tsagg_flush(st), 0);
    cr_assert_eq(total(st, 2, 0, TSAGG_METRIC_COUNT, NULL), (double)next);
    cr_assert_eq(total(st, 1, 0, TSAGG_METRIC_COUNT, NULL), 1000);
    tsagg_store_close(st);
}

/* ---- compaction for the head's bound, and the prune after a publish ---- */

/* An I/O table over the default one that sees which thread creates
 * partition files, how large the head is then, and whether a compaction
 * published (the manifest renamed in place). */
struct spy {
    tsagg_io io;
    const tsagg_io *base;
    tsagg_store *st;        /* set once open */
    pthread_t appender;
    atomic_int published;   /* the manifest was renamed in place */
    atomic_int by_appender; /* partition files the appending thread created */
    atomic_size_t head_at_first_inline;
    atomic_int after_publish;         /* partition files created after a publish */
    atomic_size_t rows_after_publish; /* the most head rows seen then */
    atomic_int fail_others;           /* other threads' creations fail */
};

static int spy_open(void *ctx, const char *path, int flags, unsigned mode)
{
    struct spy *s = ctx;
    if ((flags & O_CREAT) && strstr(path, "/parts/") && s->st) {
        int mine = pthread_equal(pthread_self(), s->appender);
        if (mine && atomic_fetch_add(&s->by_appender, 1) == 0)
            atomic_store(&s->head_at_first_inline, tsagg__head_bytes(s->st));
        if (!mine && atomic_load(&s->fail_others))
            return -EIO;
        if (atomic_load(&s->published)) {
            atomic_fetch_add(&s->after_publish, 1);
            size_t rows = s->st->head->d.buf.n;
            if (rows > atomic_load(&s->rows_after_publish))
                atomic_store(&s->rows_after_publish, rows);
        }
    }
    return s->base->open(s->base->ctx, path, flags, mode);
}

static int spy_rename(void *ctx, const char *from, const char *to)
{
    struct spy *s = ctx;
    int rc = s->base->rename(s->base->ctx, from, to);
    size_t n = strlen(to);
    if (rc == 0 && n >= 9 && strcmp(to + n - 9, "/MANIFEST") == 0)
        atomic_store(&s->published, 1);
    return rc;
}

static void spy_init(struct spy *s)
{
    memset(s, 0, sizeof *s);
    s->base = tsagg_io_default();
    s->io = *s->base;
    s->io.ctx = s;
    s->io.open = spy_open;
    s->io.rename = spy_rename;
    s->appender = pthread_self();
}

/* A maintenance thread that compacts only when woken: every other trigger
 * is off, and its interval is ten minutes. */
static tsagg_store *open_maintained(struct spy *s, uint64_t bound, tsagg_maintain_options *mo)
{
    tsagg_maintain_options_init(mo);
    mo->interval_ms = 600000;
    mo->compact_tail_events = 0;
    mo->compact_tail_bytes = 0;
    mo->compact_tail_age_ms = 0;
    mo->memory_budget = 16u << 20;
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.head_max_bytes = bound;
    o.maintenance = mo;
    o.io = &s->io;
    tsagg_store *st;
    char err[512];
    int rc = tsagg_store_open(tu_store, &o, &st, err, sizeof err);
    cr_assert_eq(rc, 0, "open: %s", err);
    s->st = st;
    return st;
}

static tsagg_maintain_stats maintenance_status(tsagg_store *st)
{
    tsagg_maintain_stats ms = {.struct_size = sizeof ms};
    cr_assert_eq(tsagg_maintenance_status(st, &ms), 0);
    return ms;
}

/* With a maintenance thread, the append that passes the bound wakes it and
 * goes on: appends past twice the bound never compact on the appending
 * thread, and maintenance (whose interval is far off) compacts the head. */
Test(head, maintenance_compacts_past_the_bound_not_the_append)
{
    const uint64_t bound = 1u << 20;
    struct spy s;
    spy_init(&s);
    tsagg_maintain_options mo;
    tsagg_store *st = open_maintained(&s, bound, &mo);
    uint64_t n = 0;
    while (n < 60000 && tsagg__head_bytes(st) < 5 * bound / 2) {
        append_range(st, 11 + n % 7, n, n + 200);
        n += 200;
        /* No append starts with the head past twice the bound (the old
         * rule's inline compaction is in the append that crosses it): on
         * a busy machine one more append with a doubling of the head's
         * buffers could pass the hard cap, where the append compacts by
         * design. */
        for (int i = 0; i < 3000 && tsagg__head_bytes(st) >= 2 * bound; i++)
            usleep(10000);
    }
    cr_assert_eq(atomic_load(&s.by_appender), 0,
                 "the appending thread compacted (%d partition files) with maintenance on",
                 atomic_load(&s.by_appender));
    uint64_t compactions = 0;
    for (int i = 0; i < 3000 && !compactions; i++) {
        compactions = maintenance_status(st).compactions;
        if (!compactions)
            usleep(10000);
    }
    /* Maintenance's interval is ten minutes away: the wake made it compact. */
    cr_assert_gt(compactions, 0, "maintenance did not compact the head past its bound");
    cr_assert_eq(total(st, 0, TSAGG_QUERY_ALL_MERCHANTS, TSAGG_METRIC_COUNT, NULL), n);
    tsagg_store_close(st);
}

/* Maintenance that cannot keep up (its compactions fail): memory stays
 * bounded, the appending thread compacting once the head is past four
 * times the bound, not before, and nothing is lost. */
Test(head, appends_compact_past_the_hard_cap_when_maintenance_fails)
{
    const uint64_t bound = 1u << 20;
    struct spy s;
    spy_init(&s);
    atomic_store(&s.fail_others, 1);
    tsagg_maintain_options mo;
    tsagg_store *st = open_maintained(&s, bound, &mo);
    size_t most = 0;
    for (uint64_t n = 0; n < 100000; n += 200) {
        append_range(st, 11 + n % 7, n, n + 200);
        size_t b = tsagg__head_bytes(st);
        most = b > most ? b : most;
    }
    cr_assert_gt(atomic_load(&s.by_appender), 0, "the head grew unbounded (%zu bytes)", most);
    size_t at = atomic_load(&s.head_at_first_inline);
    cr_assert_geq(at, 4 * bound, "the append compacted at %zu bytes, before the hard cap", at);
    /* Four times the bound, and what one append and a doubling add. */
    cr_assert_leq(most, 6 * bound, "the head reached %zu bytes", most);
    cr_assert_geq(maintenance_status(st).failures, 1, "maintenance never tried");
    cr_assert_eq(total(st, 0, TSAGG_QUERY_ALL_MERCHANTS, TSAGG_METRIC_COUNT, NULL), 100000);
    tsagg_store_close(st);
}

/* A compaction prunes the head as soon as it published, before the merges
 * of the days it sealed: their files are created with no compacted row
 * left in the head. */
Test(head, pruned_before_the_merges_after_a_publish)
{
    struct spy s;
    spy_init(&s);
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.io = &s.io;
    tsagg_store *st;
    char err[512];
    cr_assert_eq(tsagg_store_open(tu_store, &o, &st, err, sizeof err), 0, "open: %s", err);
    s.st = st;
    append_range(st, 3, 0, 2000);
    cr_assert_eq(tsagg_flush(st), 0);
    cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
    /* Late events for the same days: a second file each, merged once the
     * compaction published. */
    append_range(st, 3, 2000, 4000);
    cr_assert_eq(tsagg_flush(st), 0);
    cr_assert_gt(st->head->d.buf.n, 0);
    atomic_store(&s.published, 0);
    cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
    cr_assert_gt(atomic_load(&s.after_publish), 0, "no merge ran after the publish");
    cr_assert_eq(atomic_load(&s.rows_after_publish), 0,
                 "a merge ran with %zu compacted rows still in the head",
                 atomic_load(&s.rows_after_publish));
    cr_assert_eq(total(st, 3, 0, TSAGG_METRIC_COUNT, NULL), 4000);
    tsagg_store_close(st);
}

struct querier {
    tsagg_store *st;
    atomic_int *stop;
    _Atomic int64_t *deadline; /* now_us(): the test's bound in time */
    atomic_long *queries;
    int rc;
};

/* Counts every merchant's events in the head, again and again, until told
 * to stop or the deadline: each query holds the head's read lock while it
 * scans the rows. */
static void *query_loop(void *arg)
{
    struct querier *q = arg;
    tsagg_result *r;
    if ((q->rc = tsagg_result_create(&r)) != 0)
        return NULL;
    tsagg_query qr;
    tsagg_query_init(&qr);
    qr.flags = TSAGG_QUERY_ALL_MERCHANTS;
    qr.from = T0;
    qr.to = T0 + 72 * HOUR;
    qr.bucket = TSAGG_BUCKET_TOTAL;
    while (!atomic_load(q->stop) && now_us() < atomic_load(q->deadline) && q->rc == 0) {
        q->rc = tsagg_query_run(q->st, &qr, r);
        atomic_fetch_add(q->queries, 1);
    }
    tsagg_result_free(r);
    return NULL;
}

Test(head, appends_go_on_while_queries_read_the_head)
{
    tsagg_store *st = open_store(TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE, 0, NULL);
    enum { ROWS = 100000, QUERIERS = 4, APPENDS = 50, LIMIT_US = 10 * 1000000 };
    append_range(st, 1, 0, ROWS);
    atomic_int stop = 0;
    atomic_long queries = 0;
    _Atomic int64_t deadline = INT64_MAX;
    struct querier q[QUERIERS];
    pthread_t t[QUERIERS];
    for (int i = 0; i < QUERIERS; i++) {
        q[i] = (struct querier){.st = st, .stop = &stop, .deadline = &deadline,
                                .queries = &queries};
        cr_assert_eq(pthread_create(&t[i], NULL, query_loop, &q[i]), 0);
    }
    while (atomic_load(&queries) < 2 * QUERIERS)
        sched_yield();
    /* Each append takes the head's write lock to add its rows. Past the
     * deadline the queries stop, so that a starved append ends too. */
    int64_t start = now_us(), longest = 0;
    atomic_store(&deadline, start + LIMIT_US);
    long queries_before = atomic_load(&queries);
    int done = 0;
    tsagg_event e[16];
    tsagg_attr a[16];
    for (; done < APPENDS && now_us() - start < LIMIT_US; done++) {
        for (int n = 0; n < 16; n++)
            fill(&e[n], &a[n], 2, (uint64_t)done * 16 + (uint64_t)n);
        int64_t t0 = now_us();
        cr_assert_eq(tsagg_append(st, e, 16, NULL), 0);
        int64_t waited = now_us() - t0;
        if (now_us() - start >= LIMIT_US)
            break; /* it got in only once the queries had stopped */
        longest = waited > longest ? waited : longest;
    }
    int64_t took = now_us() - start;
    long beside = atomic_load(&queries) - queries_before;
    atomic_store(&stop, 1);
    for (int i = 0; i < QUERIERS; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(q[i].rc, 0, "query: %s", tsagg_strerror(q[i].rc));
    }
    cr_log_info("%d appends in %" PRId64 " us (the longest %" PRId64 " us) beside %ld queries",
                done, took, longest, beside);
    cr_assert_eq(done, APPENDS, "only %d appends in %d s beside %d threads of queries", done,
                 LIMIT_US / 1000000, QUERIERS);
    cr_assert_gt(beside, QUERIERS, "the queries did not run beside the appends");
    cr_assert_eq(tsagg_flush(st), 0);
    cr_assert_eq(total(st, 2, 0, TSAGG_METRIC_COUNT, NULL), APPENDS * 16);
    tsagg_store_close(st);
}

/* ---- a query's reads of the files do not hold the head ----------------- */

/* An I/O table over the default one that holds one thread in its first
 * open of a partition file until released. */
struct gate {
    tsagg_io io;
    const tsagg_io *base;
    pthread_t held; /* the thread to hold */
    atomic_int armed, holding, released;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static int gate_open(void *ctx, const char *path, int flags, unsigned mode)
{
    struct gate *g = ctx;
    if (atomic_load(&g->armed) && strstr(path, "/parts/") &&
        pthread_equal(pthread_self(), g->held)) {
        atomic_store(&g->armed, 0);
        pthread_mutex_lock(&g->mu);
        atomic_store(&g->holding, 1);
        while (!atomic_load(&g->released))
            pthread_cond_wait(&g->cv, &g->mu);
        pthread_mutex_unlock(&g->mu);
    }
    return g->base->open(g->base->ctx, path, flags, mode);
}

static void gate_release(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    atomic_store(&g->released, 1);
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static tsagg_store *open_gated(struct gate *g)
{
    memset(g, 0, sizeof *g);
    g->base = tsagg_io_default();
    g->io = *g->base;
    g->io.ctx = g;
    g->io.open = gate_open;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.io = &g->io;
    tsagg_store *st;
    char err[512];
    cr_assert_eq(tsagg_store_open(tu_store, &o, &st, err, sizeof err), 0, "open: %s", err);
    return st;
}

struct held_query {
    tsagg_store *st;
    struct gate *g;
    uint64_t merchant;
    double count;
};

/* A count over the merchant's files and head, held by the gate in its first
 * open of a file (the gate holds this thread). */
static void *held_query(void *arg)
{
    struct held_query *q = arg;
    q->g->held = pthread_self();
    atomic_store(&q->g->armed, 1);
    q->count = total(q->st, q->merchant, 0, TSAGG_METRIC_COUNT, NULL);
    return NULL;
}

static void start_held_query(struct held_query *q, pthread_t *t)
{
    cr_assert_eq(pthread_create(t, NULL, held_query, q), 0);
    int64_t t0 = now_us();
    while (!atomic_load(&q->g->holding)) {
        cr_assert_lt(now_us() - t0, 10 * SEC, "the query opened no file");
        usleep(1000);
    }
}

struct appender {
    tsagg_store *st;
    uint64_t merchant, from, to;
    atomic_int done;
};

static void *append_thread(void *arg)
{
    struct appender *a = arg;
    append_range(a->st, a->merchant, a->from, a->to);
    atomic_store(&a->done, 1);
    return NULL;
}

/* 1 once flag is set, 0 if it is not within the time given. */
static int within(atomic_int *flag, int64_t us)
{
    int64_t t0 = now_us();
    while (!atomic_load(flag) && now_us() - t0 < us)
        usleep(1000);
    return atomic_load(flag);
}

/* A gated store with merchant 1's rows [0, 1000) in files and
 * [1000, head_to) in the head. */
static tsagg_store *open_files_and_head(struct gate *g, uint64_t head_to)
{
    tsagg_store *st = open_gated(g);
    append_range(st, 1, 0, 1000);
    cr_assert_eq(tsagg_flush(st), 0);
    cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
    append_range(st, 1, 1000, head_to);
    cr_assert_eq(tsagg_flush(st), 0);
    return st;
}

/* An append goes in while a query reads the files (of any merchant): the
 * query holds the head only while it reads the head's rows. */
Test(head, appends_go_on_while_a_query_reads_the_files, .timeout = 60)
{
    struct gate g;
    tsagg_store *st = open_files_and_head(&g, 1100);

    struct held_query q = {.st = st, .g = &g, .merchant = 1};
    pthread_t qt, at;
    start_held_query(&q, &qt);
    struct appender a = {.st = st, .merchant = 2, .from = 0, .to = 10};
    cr_assert_eq(pthread_create(&at, NULL, append_thread, &a), 0);
    int appended = within(&a.done, 5 * SEC);
    gate_release(&g);
    pthread_join(qt, NULL);
    pthread_join(at, NULL);
    cr_assert(appended, "the append waited for a query reading its files");
    cr_assert_eq(q.count, 1100);
    cr_assert_eq(tsagg_flush(st), 0);
    cr_assert_eq(total(st, 2, 0, TSAGG_METRIC_COUNT, NULL), 10);
    tsagg_store_close(st);
}

struct compacter {
    tsagg_store *st;
    int rc;
    atomic_int done;
};

static void *compact_thread(void *arg)
{
    struct compacter *c = arg;
    c->rc = tsagg_compact(c->st, NULL, NULL);
    atomic_store(&c->done, 1);
    return NULL;
}

/* A compaction publishing while a query of the older snapshot runs: its
 * prune waits for the query, which counts the head's rows that the new
 * files hold (its snapshot does not), each once. */
Test(head, a_prune_keeps_the_rows_a_running_query_counts, .timeout = 60)
{
    struct gate g;
    tsagg_store *st = open_files_and_head(&g, 1500);

    struct held_query q = {.st = st, .g = &g, .merchant = 1};
    pthread_t qt, ct;
    start_held_query(&q, &qt);
    struct compacter c = {.st = st};
    cr_assert_eq(pthread_create(&ct, NULL, compact_thread, &c), 0);
    /* The compaction publishes, then its prune waits for the query. */
    int compacted = within(&c.done, SEC);
    gate_release(&g);
    pthread_join(qt, NULL);
    pthread_join(ct, NULL);
    cr_assert_not(compacted, "the prune did not wait for the query");
    cr_assert_eq(c.rc, 0, "compact: %s", tsagg_strerror(c.rc));
    cr_assert_eq(q.count, 1500);
    cr_assert_eq(st->head->d.buf.n, 0, "the prune did not happen once the query ended");
    cr_assert_eq(total(st, 1, 0, TSAGG_METRIC_COUNT, NULL), 1500);
    tsagg_store_close(st);
}

struct counter {
    tsagg_store *st;
    uint64_t merchant;
    double count;
    atomic_int done;
};

static void *count_thread(void *arg)
{
    struct counter *c = arg;
    c->count = total(c->st, c->merchant, 0, TSAGG_METRIC_COUNT, NULL);
    atomic_store(&c->done, 1);
    return NULL;
}

/* New rules while a query runs: the query that reads the head again under
 * them waits for the running one, which counts the head as it was. */
Test(head, new_rules_wait_for_a_running_query, .timeout = 60)
{
    struct gate g;
    tsagg_store *st = open_files_and_head(&g, 1500);

    struct held_query q = {.st = st, .g = &g, .merchant = 1};
    pthread_t qt, ct;
    start_held_query(&q, &qt);
    tsagg_rules *rules;
    cr_assert_eq(tsagg_rules_create(&rules), 0);
    cr_assert_eq(tsagg_rules_add_drop(rules, "event", "bot_hit", NULL, 0), 0);
    cr_assert_eq(tsagg_store_set_rules(st, rules), 0);
    tsagg_rules_free(rules);
    struct counter c = {.st = st, .merchant = 1};
    cr_assert_eq(pthread_create(&ct, NULL, count_thread, &c), 0);
    int counted = within(&c.done, SEC);
    gate_release(&g);
    pthread_join(qt, NULL);
    pthread_join(ct, NULL);
    cr_assert_not(counted, "the head was read again under a running query");
    cr_assert_eq(q.count, 1500, "the running query counted %g", q.count);
    /* The files keep what they were compacted with; the head's bot hits go. */
    cr_assert_eq(c.count, 1400, "the query under the new rules counted %g", c.count);
    tsagg_store_close(st);
}
