/*
 * test_query_concurrency.c - queries while the store changes under them.
 *
 * One thread appends (in time order, with late events for hours already
 * compacted), one compacts every few milliseconds, one merges; query
 * threads ask for hourly counts of random merchants over the whole range,
 * on the writer's handle and on a read-only handle of the same process.
 * The stream's time crosses a month's end, so that as it moves on, hour
 * files are merged into day files, and hour and day files into a month
 * file (by the compactions and the merges), all while queries read them.
 *
 * Every answer must be the state of one log prefix: there is a sequence
 * number X, at least what was durable when the query started and at most
 * what was appended when it finished, such that every bucket holds exactly
 * the merchant's events with seq <= X (no event counted twice while it moves
 * from the log tail to a partition, none missing while a merge swaps files).
 * Events carry unique ids, so no retry removal blurs the counts. No query
 * may fail. The handles' caches of decoded data are kept small, so that
 * they evict while other threads read.
 *
 * (ThreadSanitizer cannot run Criterion here: run this under ASan.)
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "partcache.h" /* tsagg__partcache_set_budget */
#include "testutil.h"
#include "tsagg.h"

TestSuite(query_concurrency, .init = tu_store_setup, .fini = tu_store_teardown, .timeout = 120);

#define SEC INT64_C(1000000)
#define HOUR (3600 * SEC)
#define T0 (INT64_C(1793318400) * SEC) /* 2026-10-30T00:00Z */
#define HOURS 74 /* to 2026-11-02T02:00Z */
#define NMERCHANTS 8
#define MAX_EVENTS 400000u
#define RUN_SECONDS 8
#define MAX_RUN_SECONDS 60

/* ---- what was appended ---------------------------------------------------------- */

typedef struct shared {
    tsagg_store *st, *ro;
    /* Per merchant, the seq and hour of its events in seq order; slots are
     * written before the append that makes them real, then published. */
    uint32_t *seqs[NMERCHANTS];
    uint8_t *hours[NMERCHANTS];
    _Atomic uint32_t published[NMERCHANTS];
    _Atomic int stop;
    _Atomic int appending;
    /* Failures, reported by the main thread. */
    _Atomic unsigned failures;
    pthread_mutex_t mu;
    char first_failure[1024];
    _Atomic unsigned long queries, ro_queries, compactions, merges, appended;
    /* Partition files seen by the merger spanning a day, and a month. */
    _Atomic unsigned day_files, month_files;
} shared;

static void fail(shared *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(shared *s, const char *fmt, ...)
{
    if (atomic_fetch_add(&s->failures, 1) == 0) {
        va_list ap;
        va_start(ap, fmt);
        pthread_mutex_lock(&s->mu);
        vsnprintf(s->first_failure, sizeof s->first_failure, fmt, ap);
        pthread_mutex_unlock(&s->mu);
        va_end(ap);
    }
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* ---- threads ---------------------------------------------------------------------- */

static void *appender(void *arg)
{
    shared *s = arg;
    uint64_t rng = 11, seq = tsagg_last_seq(s->st), n = 0;
    enum { BATCH = 300 };
    tsagg_event evs[BATCH];
    tsagg_attr attrs[BATCH][1];
    static const char *const pages[] = {"/", "/a", "/b", "/c"};
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (!atomic_load(&s->stop) && n < MAX_EVENTS - BATCH) {
        size_t k = 1 + tu_splitmix64(&rng) % BATCH;
        for (size_t i = 0; i < k; i++) {
            /* Time moves through the hours with the stream; 3% are late. */
            uint64_t r = tu_splitmix64(&rng);
            int64_t now = T0 + (int64_t)((n + i) * (uint64_t)(HOURS * HOUR) / MAX_EVENTS);
            int64_t ts = r % 100 < 3
                             ? T0 + (int64_t)(tu_splitmix64(&rng) % (uint64_t)(now - T0 + 1))
                             : now + (int64_t)(r % (10 * SEC));
            if (ts >= T0 + HOURS * HOUR)
                ts = T0 + HOURS * HOUR - 1;
            /* Merchant m has weight NMERCHANTS - m. */
            unsigned m = 0;
            unsigned w = (unsigned)(tu_splitmix64(&rng) % (NMERCHANTS * (NMERCHANTS + 1) / 2));
            while (w >= NMERCHANTS - m) {
                w -= NMERCHANTS - m;
                m++;
            }
            const char *pg = pages[r % 4];
            attrs[i][0] = (tsagg_attr){.key = "page", .key_len = 4, .type = TSAGG_STR,
                                       .v.s = {pg, (uint32_t)strlen(pg)}};
            evs[i] = (tsagg_event){.ts = ts, .merchant = 100 + m, .event = "page_view",
                                   .event_len = 9, .flags = TSAGG_EVENT_HAS_ID,
                                   .id = seq + i + 1, .user = r % 5000, .session = r % 20000,
                                   .attrs = attrs[i], .nattrs = 1};
            /* Record before the append: a query may see it as soon as it is
             * appended. */
            uint32_t slot = atomic_load_explicit(&s->published[m], memory_order_relaxed);
            s->seqs[m][slot] = (uint32_t)(seq + i + 1);
            s->hours[m][slot] = (uint8_t)((ts - T0) / HOUR);
            atomic_store_explicit(&s->published[m], slot + 1, memory_order_release);
        }
        uint64_t first = 0;
        int rc = tsagg_append(s->st, evs, k, &first);
        if (rc != 0 || first != seq + 1) {
            fail(s, "append: %s, first seq %" PRIu64 " where %" PRIu64 " was due",
                 tsagg_strerror(rc), first, seq + 1);
            break;
        }
        seq += k;
        n += k;
        atomic_fetch_add(&s->appended, k);
        /* Spread the events over the run. */
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double elapsed = (double)(now.tv_sec - start.tv_sec) +
                         (double)(now.tv_nsec - start.tv_nsec) / 1e9;
        double due = (double)n / ((double)MAX_EVENTS / (RUN_SECONDS - 1));
        if (due > elapsed)
            sleep_us((long)((due - elapsed) * 1e6));
    }
    atomic_store(&s->appending, 0);
    return NULL;
}

static void *compactor(void *arg)
{
    shared *s = arg;
    while (!atomic_load(&s->stop)) {
        tsagg_compact_stats st = {.struct_size = sizeof st};
        int rc = tsagg_compact(s->st, NULL, &st);
        if (rc != 0) {
            char msg[512];
            tsagg_store_errmsg(s->st, msg, sizeof msg);
            fail(s, "compact: %s (%s)", tsagg_strerror(rc), msg);
            break;
        }
        atomic_fetch_add(&s->compactions, 1);
        sleep_us(3000);
    }
    return NULL;
}

/* Note the largest numbers of day and month files listed in parts/ (file
 * names <day>T<hour>-<hours>h-<id>.tpart). */
static void note_tiers(shared *s)
{
    char dir[700];
    snprintf(dir, sizeof dir, "%s/parts", tu_store);
    DIR *d = opendir(dir);
    if (!d)
        return;
    unsigned days = 0, months = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        unsigned n;
        if (sscanf(de->d_name, "%*8dT%*2d-%uh-", &n) != 1)
            continue;
        days += n == 24;
        months += n >= 28 * 24;
    }
    closedir(d);
    if (days > atomic_load(&s->day_files))
        atomic_store(&s->day_files, days);
    if (months > atomic_load(&s->month_files))
        atomic_store(&s->month_files, months);
}

static void *merger(void *arg)
{
    shared *s = arg;
    while (!atomic_load(&s->stop)) {
        int rc = tsagg_merge(s->st, NULL, NULL);
        if (rc != 0) {
            char msg[512];
            tsagg_store_errmsg(s->st, msg, sizeof msg);
            fail(s, "merge: %s (%s)", tsagg_strerror(rc), msg);
            break;
        }
        note_tiers(s);
        atomic_fetch_add(&s->merges, 1);
        sleep_us(7000);
    }
    return NULL;
}

/* Index of the first entry of a[0..n) greater than v. */
static uint32_t upper(const uint32_t *a, uint32_t n, uint32_t v)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (a[mid] <= v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

typedef struct qarg {
    shared *s;
    tsagg_store *st; /* the writer's handle or the read-only one */
    uint64_t seed;
    int read_only;
} qarg;

/* One query of merchant m, checked against the prefix rule. */
static void query_once(qarg *a, tsagg_result *res, unsigned m, int with_users)
{
    shared *s = a->s;
    uint64_t durable = tsagg_durable_seq(s->st);
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = 100 + m;
    q.from = T0;
    q.to = T0 + HOURS * HOUR;
    q.bucket = TSAGG_BUCKET_HOUR;
    tsagg_metric mets[2] = {{TSAGG_METRIC_COUNT, NULL}, {TSAGG_METRIC_USERS, NULL}};
    q.metrics = mets;
    q.nmetrics = with_users ? 2 : 1;
    int rc = tsagg_query_run(a->st, &q, res);
    uint64_t last = tsagg_last_seq(s->st);
    if (rc != 0) {
        char msg[512];
        tsagg_store_errmsg(a->st, msg, sizeof msg);
        fail(s, "%s query: %s (%s)", a->read_only ? "read-only" : "writer", tsagg_strerror(rc),
             msg);
        return;
    }
    if (tsagg_result_rows(res) != HOURS) {
        fail(s, "%zu rows", tsagg_result_rows(res));
        return;
    }
    const double *c = tsagg_result_values(res, 0);
    uint32_t total = 0;
    for (int h = 0; h < HOURS; h++)
        total += (uint32_t)c[h];
    uint32_t n = atomic_load_explicit(&s->published[m], memory_order_acquire);
    const uint32_t *seqs = s->seqs[m];
    uint32_t lo = upper(seqs, n, (uint32_t)durable), hi = upper(seqs, n, (uint32_t)last);
    if (total < lo || total > hi) {
        fail(s, "%s query of merchant %u: %" PRIu32 " events; between %" PRIu32
                " (durable %" PRIu64 ") and %" PRIu32 " (appended %" PRIu64 ") expected",
             a->read_only ? "read-only" : "writer", m, total, lo, durable, hi, last);
        return;
    }
    /* The first `total` events of the merchant, hour by hour. */
    uint32_t want[HOURS] = {0};
    for (uint32_t i = 0; i < total; i++)
        want[s->hours[m][i]]++;
    for (int h = 0; h < HOURS; h++) {
        if ((uint32_t)c[h] != want[h]) {
            fail(s, "%s query of merchant %u: hour %d holds %.0f, the prefix of %" PRIu32
                    " events (seq <= %" PRIu32 ") has %" PRIu32,
                 a->read_only ? "read-only" : "writer", m, h, c[h], total,
                 total ? seqs[total - 1] : 0, want[h]);
            return;
        }
    }
}

static void *querier(void *arg)
{
    qarg *a = arg;
    shared *s = a->s;
    tsagg_result *res;
    if (tsagg_result_create(&res) != 0) {
        fail(s, "result_create");
        return NULL;
    }
    uint64_t rng = a->seed;
    while (!atomic_load(&s->stop) && !atomic_load(&s->failures)) {
        unsigned m = (unsigned)(tu_splitmix64(&rng) % NMERCHANTS);
        query_once(a, res, m, tu_splitmix64(&rng) % 4 == 0);
        atomic_fetch_add(a->read_only ? &s->ro_queries : &s->queries, 1);
    }
    tsagg_result_free(res);
    return NULL;
}

Test(query_concurrency, queries_during_append_compact_merge)
{
    shared *s = calloc(1, sizeof *s);
    cr_assert_not_null(s);
    pthread_mutex_init(&s->mu, NULL);
    for (int m = 0; m < NMERCHANTS; m++) {
        s->seqs[m] = malloc(MAX_EVENTS * sizeof *s->seqs[m]);
        s->hours[m] = malloc(MAX_EVENTS);
        cr_assert(s->seqs[m] && s->hours[m]);
    }
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.sync_mode = TSAGG_SYNC_INTERVAL;
    o.sync_interval_ms = 2;
    o.frame_bytes = 64 << 10;
    o.segment_bytes = 4 << 20; /* several segments */
    char err[512];
    cr_assert_eq(tsagg_store_open(tu_store, &o, &s->st, err, sizeof err), 0, "%s", err);
    tsagg_options ro;
    tsagg_options_init(&ro);
    cr_assert_eq(tsagg_store_open(tu_store, &ro, &s->ro, err, sizeof err), 0, "%s", err);
    /* Small caches: decoded data is evicted while other threads read theirs. */
    cr_assert_eq(tsagg__partcache_set_budget(s->st, 512 << 10), 0);
    cr_assert_eq(tsagg__partcache_set_budget(s->ro, 64 << 10), 0);

    atomic_store(&s->appending, 1);
    pthread_t ta, tc, tm, tq[3];
    qarg qa[3] = {{s, s->st, 1, 0}, {s, s->st, 2, 0}, {s, s->ro, 3, 1}};
    cr_assert_eq(pthread_create(&ta, NULL, appender, s), 0);
    cr_assert_eq(pthread_create(&tc, NULL, compactor, s), 0);
    cr_assert_eq(pthread_create(&tm, NULL, merger, s), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(pthread_create(&tq[i], NULL, querier, &qa[i]), 0);
    /* RUN_SECONDS, or longer (up to MAX_RUN_SECONDS) while a loaded machine
     * has not let the stream reach its end and the month file be merged. */
    for (int t = 0; t < MAX_RUN_SECONDS * 10 && !atomic_load(&s->failures); t++) {
        if (t >= RUN_SECONDS * 10 && !atomic_load(&s->appending) &&
            atomic_load(&s->day_files) > 0 && atomic_load(&s->month_files) > 0)
            break;
        sleep_us(100000);
    }
    atomic_store(&s->stop, 1);
    pthread_join(ta, NULL);
    pthread_join(tc, NULL);
    pthread_join(tm, NULL);
    for (int i = 0; i < 3; i++)
        pthread_join(tq[i], NULL);
    cr_assert_eq(atomic_load(&s->failures), 0, "%u failures; first: %s",
                 atomic_load(&s->failures), s->first_failure);
    cr_log_info("appended %lu events; %lu writer and %lu read-only queries; %lu compactions, "
                "%lu merges; up to %u day and %u month files",
                atomic_load(&s->appended), atomic_load(&s->queries), atomic_load(&s->ro_queries),
                atomic_load(&s->compactions), atomic_load(&s->merges),
                atomic_load(&s->day_files), atomic_load(&s->month_files));
    cr_assert_gt(atomic_load(&s->queries), 100);
    cr_assert_gt(atomic_load(&s->ro_queries), 50);
    cr_assert_gt(atomic_load(&s->compactions), 5);
    cr_assert_gt(atomic_load(&s->merges), 2);
    /* Tiers were merged while the queries ran. */
    cr_assert_gt(atomic_load(&s->day_files), 0);
    cr_assert_gt(atomic_load(&s->month_files), 0);

    /* Quiet: everything compacted and merged, every answer complete. */
    cr_assert_eq(tsagg_flush(s->st), 0);
    cr_assert_eq(tsagg_compact(s->st, NULL, NULL), 0);
    cr_assert_eq(tsagg_merge(s->st, NULL, NULL), 0);
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    for (int h = 0; h < 2; h++) {
        qarg a = {s, h ? s->ro : s->st, 0, h};
        for (unsigned m = 0; m < NMERCHANTS; m++) {
            query_once(&a, res, m, 1);
            uint32_t total = 0;
            for (int b = 0; b < HOURS; b++)
                total += (uint32_t)tsagg_result_values(res, 0)[b];
            cr_assert_eq(total, atomic_load(&s->published[m]), "merchant %u", m);
        }
    }
    cr_assert_eq(atomic_load(&s->failures), 0, "%s", s->first_failure);
    tsagg_result_free(res);
    cr_assert_eq(tsagg_store_close(s->ro), 0);
    cr_assert_eq(tsagg_store_close(s->st), 0);
    for (int m = 0; m < NMERCHANTS; m++) {
        free(s->seqs[m]);
        free(s->hours[m]);
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}
