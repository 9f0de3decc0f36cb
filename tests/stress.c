/*
 * stress.c - every concurrent path of one store at once, checked; built to
 * run under ThreadSanitizer (no Criterion, which cannot start under TSan).
 *
 *     stress [--seconds N] [--keep]
 *
 * A writer handle (SYNC_BATCH, 256 KiB segments, 16 KiB frames) and a
 * read-only handle on a fresh temporary store; for N seconds:
 *   - 2 appenders: batches of 1..200 gagen events (no late events, no
 *     duplicates, ids made unique per appender); appender 1 runs 2 h behind
 *     appender 0 in event time, so compactions write late files for hours
 *     already published and merges have work;
 *   - 1 compactor: tsagg_compact with a 1 MiB memory budget and two writing
 *     threads every 2-5 ms;
 *   - 1 merger: tsagg_merge every ~20 ms;
 *   - 1 roller: tsagg_log_roll every ~30 ms, tsagg_log_archive every 4th;
 *   - 3 queriers (2 on the writer handle, 1 on the read-only one): hourly
 *     counts of a merchant over the whole range, summed, and a group-by
 *     country top 5 (TOTAL bucket);
 *   - 1 log reader (alternating handles): reads the log with
 *     tsagg_log_reader from where it stopped (from seq 1 every 8th pass).
 * Checks: no call fails; a merchant's total count lies between the events
 * of that merchant acknowledged (durable, SYNC_BATCH) when the query started
 * and those handed to tsagg_append when it ended; a group-by's top 5 is
 * ordered, at most 5 rows and sums to no more than the upper bound; the log
 * reader sees contiguous seqs, at least up to what was durable when it
 * opened, and each event has the merchant its appender recorded for the seq.
 * At the end: close, reopen, compact fully, merge, and each merchant's total
 * over all time (with and without the log tail) equals what was appended.
 *
 * Exit 0 on success, 1 with a message on the first inconsistency.
 */
#include <errno.h>
#include <ftw.h>
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

#include "gagen.h"
#include "partcache.h" /* tsagg__partcache_set_budget */
#include "tsagg.h"

#define SEC INT64_C(1000000)
#define HOUR (3600 * SEC)
#define DAYS 4
#define NMERCHANTS 16
#define NAPPENDERS 2
#define NQUERIERS 3
#define LAG (2 * HOUR) /* appender 1 runs this far behind in event time */
#define T_FROM (GAGEN_DEFAULT_START_US - LAG)
#define T_TO (GAGEN_DEFAULT_START_US + DAYS * 24 * HOUR)
#define HOURS ((T_TO - T_FROM) / HOUR)
#define MAX_SEQ (1u << 24) /* appenders stop here */
#define BACKLOG 50000u

typedef struct shared {
    tsagg_store *st, *ro;
    _Atomic int stop;
    _Atomic unsigned failures;
    pthread_mutex_t mu;
    char first_failure[1024];
    /* Per merchant: events handed to tsagg_append (counted before the call)
     * and acknowledged (counted after it returned; durable in BATCH mode). */
    _Atomic uint64_t appended[NMERCHANTS + 1];
    _Atomic uint64_t acked[NMERCHANTS + 1];
    /* Merchant of every seq, recorded after the append returned (0: not yet). */
    _Atomic uint8_t *seq_merchant;
    /* Published by the compactor: appenders keep at most BACKLOG events
     * ahead of it, so that compactions (slow under TSan) stay short and
     * many, and the log tail queries scan stays bounded. */
    _Atomic uint64_t consumed;
    _Atomic unsigned long appends, events, compactions, spilled, merges, rolls, archives,
        archived_segments, queries, ro_queries, group_queries, reader_passes, reader_events;
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
    atomic_store(&s->stop, 1);
}

static void fail_rc(shared *s, tsagg_store *st, const char *what, int rc)
{
    char msg[512];
    tsagg_store_errmsg(st, msg, sizeof msg);
    fail(s, "%s: %s (%s)", what, tsagg_strerror(rc), msg);
}

static int running(shared *s) { return !atomic_load(&s->stop); }

static uint64_t rng_next(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* ---- threads ---------------------------------------------------------------------- */

typedef struct aarg {
    shared *s;
    int idx;
} aarg;

static void *appender(void *arg)
{
    aarg *a = arg;
    shared *s = a->s;
    gagen_config cfg;
    gagen_config_init(&cfg);
    cfg.seed = 1000 + (uint64_t)a->idx;
    cfg.events = 4000000;
    cfg.days = DAYS;
    cfg.merchants = NMERCHANTS;
    cfg.start_us = GAGEN_DEFAULT_START_US - (a->idx ? LAG : 0);
    cfg.late_fraction = 0;
    cfg.dup_fraction = 0;
    gagen *g = gagen_create(&cfg);
    if (!g) {
        fail(s, "gagen_create: %s", strerror(errno));
        return NULL;
    }
    uint64_t rng = 77 + (uint64_t)a->idx, counter = 0;
    tsagg_event evs[200];
    while (running(s)) {
        while (running(s) && tsagg_last_seq(s->st) > atomic_load(&s->consumed) + BACKLOG)
            sleep_us(1000);
        size_t want = 1 + rng_next(&rng) % 200;
        size_t n = gagen_next(g, evs, want);
        if (n == 0)
            break; /* stream exhausted */
        for (size_t i = 0; i < n; i++) {
            if (evs[i].merchant < 1 || evs[i].merchant > NMERCHANTS ||
                evs[i].ts < T_FROM || evs[i].ts >= T_TO) {
                fail(s, "gagen event out of range: merchant %" PRIu64 " ts %" PRId64,
                     evs[i].merchant, evs[i].ts);
                goto out;
            }
            /* Unique across both appenders: no retry removal. */
            evs[i].id = ((uint64_t)(a->idx + 1) << 48) | ++counter;
            evs[i].flags |= TSAGG_EVENT_HAS_ID;
            atomic_fetch_add(&s->appended[evs[i].merchant], 1);
        }
        uint64_t first = 0;
        int rc = tsagg_append(s->st, evs, n, &first);
        if (rc != 0) {
            fail_rc(s, s->st, "append", rc);
            break;
        }
        if (first == 0 || first + n > MAX_SEQ) {
            fail(s, "append: first seq %" PRIu64 " for %zu events", first, n);
            break;
        }
        for (size_t i = 0; i < n; i++) {
            atomic_store_explicit(&s->seq_merchant[first + i], (uint8_t)evs[i].merchant,
                                  memory_order_relaxed);
            atomic_fetch_add(&s->acked[evs[i].merchant], 1);
        }
        atomic_fetch_add(&s->appends, 1);
        atomic_fetch_add(&s->events, n);
        if (first + n + 200 >= MAX_SEQ)
            break;
    }
out:
    gagen_free(g);
    return NULL;
}

static void *compactor(void *arg)
{
    shared *s = arg;
    uint64_t rng = 5;
    tsagg_compact_options o;
    tsagg_compact_options_init(&o);
    o.memory_budget = 1 << 20;
    o.threads = 2; /* hours written by two threads at once */
    while (running(s)) {
        tsagg_compact_stats st = {.struct_size = sizeof st};
        int rc = tsagg_compact(s->st, &o, &st);
        if (rc != 0) {
            fail_rc(s, s->st, "compact", rc);
            break;
        }
        atomic_fetch_add(&s->compactions, 1);
        atomic_fetch_add(&s->spilled, st.runs_spilled);
        atomic_store(&s->consumed, st.consumed_seq);
        sleep_us(2000 + (long)(rng_next(&rng) % 3000));
    }
    return NULL;
}

static void *merger(void *arg)
{
    shared *s = arg;
    tsagg_compact_options o;
    tsagg_compact_options_init(&o);
    o.memory_budget = 1 << 20;
    while (running(s)) {
        int rc = tsagg_merge(s->st, &o, NULL);
        if (rc != 0) {
            fail_rc(s, s->st, "merge", rc);
            break;
        }
        atomic_fetch_add(&s->merges, 1);
        sleep_us(20000);
    }
    return NULL;
}

static void *roller(void *arg)
{
    shared *s = arg;
    uint64_t rng = 9;
    for (unsigned i = 1; running(s); i++) {
        sleep_us(20000 + (long)(rng_next(&rng) % 20000));
        int rc = tsagg_log_roll(s->st);
        if (rc != 0) {
            fail_rc(s, s->st, "log_roll", rc);
            break;
        }
        atomic_fetch_add(&s->rolls, 1);
        if (i % 4 == 0) {
            unsigned count = 0;
            rc = tsagg_log_archive(s->st, 1, &count);
            if (rc != 0) {
                fail_rc(s, s->st, "log_archive", rc);
                break;
            }
            atomic_fetch_add(&s->archives, 1);
            atomic_fetch_add(&s->archived_segments, count);
        }
    }
    return NULL;
}

typedef struct qarg {
    shared *s;
    tsagg_store *st; /* the writer's handle or the read-only one */
    uint64_t seed;
    int read_only;
} qarg;

static void query_count(qarg *a, tsagg_result *res, unsigned m)
{
    shared *s = a->s;
    const char *who = a->read_only ? "read-only" : "writer";
    uint64_t lo = atomic_load(&s->acked[m]);
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = m;
    q.from = T_FROM;
    q.to = T_TO;
    q.bucket = TSAGG_BUCKET_HOUR;
    int rc = tsagg_query_run(a->st, &q, res);
    uint64_t hi = atomic_load(&s->appended[m]);
    if (rc != 0) {
        char what[64];
        snprintf(what, sizeof what, "%s hourly query", who);
        fail_rc(s, a->st, what, rc);
        return;
    }
    if (tsagg_result_rows(res) != (size_t)HOURS) {
        fail(s, "%s hourly query: %zu rows, %d expected", who, tsagg_result_rows(res),
             (int)HOURS);
        return;
    }
    const double *c = tsagg_result_values(res, 0);
    uint64_t total = 0;
    for (size_t h = 0; h < (size_t)HOURS; h++)
        total += (uint64_t)c[h];
    if (total < lo || total > hi)
        fail(s, "%s hourly query of merchant %u: %" PRIu64 " events; between %" PRIu64
                " (acknowledged at start) and %" PRIu64 " (appended at end) expected",
             who, m, total, lo, hi);
}

static void query_group(qarg *a, tsagg_result *res, unsigned m)
{
    shared *s = a->s;
    const char *who = a->read_only ? "read-only" : "writer";
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = m;
    q.from = T_FROM;
    q.to = T_TO;
    q.bucket = TSAGG_BUCKET_TOTAL;
    q.group_by = "country";
    q.top = 5;
    int rc = tsagg_query_run(a->st, &q, res);
    uint64_t hi = atomic_load(&s->appended[m]);
    if (rc != 0) {
        char what[64];
        snprintf(what, sizeof what, "%s group-by query", who);
        fail_rc(s, a->st, what, rc);
        return;
    }
    size_t rows = tsagg_result_rows(res);
    if (rows > 5 || tsagg_result_buckets(res) != 1) {
        fail(s, "%s group-by query: %zu rows, %zu buckets", who, rows,
             tsagg_result_buckets(res));
        return;
    }
    const double *c = tsagg_result_values(res, 0);
    uint64_t sum = 0;
    for (size_t r = 0; r < rows; r++) {
        const char *key = tsagg_result_group(res, r);
        if (!key || !*key || c[r] <= 0 || (r > 0 && c[r] > c[r - 1])) {
            fail(s, "%s group-by query of merchant %u: row %zu (%s, %.0f) out of order", who,
                 m, r, key ? key : "(null)", c[r]);
            return;
        }
        sum += (uint64_t)c[r];
    }
    if (sum > hi)
        fail(s, "%s group-by query of merchant %u: top 5 sum to %" PRIu64
                ", more than the %" PRIu64 " appended",
             who, m, sum, hi);
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
    while (running(s)) {
        unsigned m = 1 + (unsigned)(rng_next(&rng) % NMERCHANTS);
        if (rng_next(&rng) % 4 == 0) {
            query_group(a, res, m);
            atomic_fetch_add(&s->group_queries, 1);
        } else {
            query_count(a, res, m);
        }
        atomic_fetch_add(a->read_only ? &s->ro_queries : &s->queries, 1);
    }
    tsagg_result_free(res);
    return NULL;
}

static void *log_reader(void *arg)
{
    shared *s = arg;
    uint64_t next = 1;
    for (unsigned pass = 0; running(s); pass++) {
        tsagg_store *st = pass % 2 ? s->ro : s->st;
        if (pass % 8 == 0)
            next = 1;
        uint64_t durable = tsagg_durable_seq(s->st);
        tsagg_log_range r;
        tsagg_log_range_init(&r);
        r.from_seq = next;
        tsagg_log_reader *rd;
        int rc = tsagg_log_reader_open(st, &r, &rd);
        if (rc != 0) {
            fail_rc(s, st, "log_reader_open", rc);
            break;
        }
        const tsagg_event *ev;
        uint64_t seq, n = 0;
        while ((rc = tsagg_log_reader_next(rd, &ev, &seq)) == 1) {
            if (seq != next) {
                fail(s, "log reader (pass %u, %s handle): seq %" PRIu64 " where %" PRIu64
                        " was due",
                     pass, pass % 2 ? "read-only" : "writer", seq, next);
                break;
            }
            uint8_t m = seq < MAX_SEQ ? atomic_load_explicit(&s->seq_merchant[seq],
                                                             memory_order_relaxed)
                                      : 0;
            if (m != 0 && ev->merchant != m) {
                fail(s, "log reader: seq %" PRIu64 " has merchant %" PRIu64
                        ", appended with %u",
                     seq, ev->merchant, m);
                break;
            }
            next++;
            n++;
            if (!running(s))
                break;
        }
        if (rc < 0)
            fail_rc(s, st, "log_reader_next", rc);
        tsagg_log_reader_close(rd);
        if (rc == 0 && next <= durable)
            fail(s, "log reader (pass %u, %s handle): ended at seq %" PRIu64
                    " but %" PRIu64 " was durable when it opened",
                 pass, pass % 2 ? "read-only" : "writer", next - 1, durable);
        atomic_fetch_add(&s->reader_passes, 1);
        atomic_fetch_add(&s->reader_events, n);
        sleep_us(5000);
    }
    return NULL;
}

/* ---- final check ------------------------------------------------------------------ */

static int total_over_all_time(tsagg_store *st, tsagg_result *res, unsigned m, uint32_t flags,
                               uint64_t *out)
{
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = m;
    q.flags = flags;
    q.from = T_FROM - 365 * 24 * HOUR;
    q.to = T_TO + 365 * 24 * HOUR;
    q.bucket = TSAGG_BUCKET_TOTAL;
    int rc = tsagg_query_run(st, &q, res);
    if (rc == 0)
        *out = tsagg_result_rows(res) == 1 ? (uint64_t)tsagg_result_values(res, 0)[0] : 0;
    return rc;
}

static int final_check(shared *s, const char *path)
{
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE;
    char err[512];
    tsagg_store *st;
    int rc = tsagg_store_open(path, &o, &st, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "stress: reopen: %s (%s)\n", tsagg_strerror(rc), err);
        return 1;
    }
    int bad = 0;
    uint64_t last = tsagg_last_seq(st), consumed = 0;
    if (last != atomic_load(&s->events) || tsagg_durable_seq(st) != last) {
        fprintf(stderr, "stress: reopened log ends at %" PRIu64 " (durable %" PRIu64
                        "), %lu events were appended\n",
                last, tsagg_durable_seq(st), atomic_load(&s->events));
        bad = 1;
    }
    for (int i = 0; i < 1000 && !bad && consumed < last; i++) {
        tsagg_compact_stats cs = {.struct_size = sizeof cs};
        if ((rc = tsagg_compact(st, NULL, &cs)) != 0) {
            fail_rc(s, st, "final compact", rc);
            bad = 1;
        }
        consumed = cs.consumed_seq;
    }
    if (!bad && (rc = tsagg_compacted_seq(st, &consumed)) == 0 && consumed != last) {
        fprintf(stderr, "stress: compacted up to %" PRIu64 ", log ends at %" PRIu64 "\n",
                consumed, last);
        bad = 1;
    }
    if (!bad && (rc = tsagg_merge(st, NULL, NULL)) != 0) {
        fail_rc(s, st, "final merge", rc);
        bad = 1;
    }
    tsagg_result *res = NULL;
    if (!bad && tsagg_result_create(&res) != 0)
        bad = 1;
    /* Every merchant (the brief asks for 3; all 16 cost nothing). */
    for (unsigned m = 1; m <= NMERCHANTS && !bad; m++) {
        uint64_t want = atomic_load(&s->appended[m]);
        for (uint32_t flags = 0; flags <= TSAGG_QUERY_NO_TAIL; flags += TSAGG_QUERY_NO_TAIL) {
            uint64_t got = 0;
            if ((rc = total_over_all_time(st, res, m, flags, &got)) != 0) {
                fail_rc(s, st, "final query", rc);
                bad = 1;
                break;
            }
            if (got != want) {
                fprintf(stderr, "stress: after reopen and full compaction merchant %u counts %"
                                PRIu64 " events%s, %" PRIu64 " were appended\n",
                        m, got, flags ? " (partitions only)" : "", want);
                bad = 1;
                break;
            }
        }
    }
    tsagg_result_free(res);
    if ((rc = tsagg_store_close(st)) != 0 && !bad) {
        fprintf(stderr, "stress: final close: %s\n", tsagg_strerror(rc));
        bad = 1;
    }
    if (s->failures)
        bad = 1;
    return bad;
}

/* ---- main ------------------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: stress [--seconds N] [--keep]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    double seconds = 8;
    int keep = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            char *end;
            seconds = strtod(argv[++i], &end);
            if (*end || seconds <= 0)
                usage();
        } else if (strcmp(argv[i], "--keep") == 0) {
            keep = 1;
        } else {
            usage();
        }
    }
    char dir[512], path[600];
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/tsagg-stress-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "stress: mkdtemp %s: %s\n", dir, strerror(errno));
        return 1;
    }
    snprintf(path, sizeof path, "%s/store", dir);

    shared *s = calloc(1, sizeof *s);
    if (!s || !(s->seq_merchant = calloc(MAX_SEQ, sizeof *s->seq_merchant))) {
        fprintf(stderr, "stress: out of memory\n");
        return 1;
    }
    pthread_mutex_init(&s->mu, NULL);

    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.sync_mode = TSAGG_SYNC_BATCH;
    o.frame_bytes = 16 << 10;
    o.segment_bytes = 256 << 10;
    char err[512];
    int rc = tsagg_store_open(path, &o, &s->st, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "stress: open %s: %s (%s)\n", path, tsagg_strerror(rc), err);
        return 1;
    }
    tsagg_options ro;
    tsagg_options_init(&ro);
    if ((rc = tsagg_store_open(path, &ro, &s->ro, err, sizeof err)) != 0) {
        fprintf(stderr, "stress: open read-only: %s (%s)\n", tsagg_strerror(rc), err);
        return 1;
    }
    /* Small caches: decoded data is evicted while other threads read it. */
    if (tsagg__partcache_set_budget(s->st, 512 << 10) != 0 ||
        tsagg__partcache_set_budget(s->ro, 64 << 10) != 0) {
        fprintf(stderr, "stress: partcache_set_budget failed\n");
        return 1;
    }

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t ta[NAPPENDERS], tc, tm, tr, tl, tq[NQUERIERS];
    aarg aa[NAPPENDERS];
    qarg qa[NQUERIERS] = {{s, s->st, 1, 0}, {s, s->st, 2, 0}, {s, s->ro, 3, 1}};
    int ok = 1;
    for (int i = 0; i < NAPPENDERS; i++) {
        aa[i] = (aarg){s, i};
        ok &= pthread_create(&ta[i], NULL, appender, &aa[i]) == 0;
    }
    ok &= pthread_create(&tc, NULL, compactor, s) == 0;
    ok &= pthread_create(&tm, NULL, merger, s) == 0;
    ok &= pthread_create(&tr, NULL, roller, s) == 0;
    ok &= pthread_create(&tl, NULL, log_reader, s) == 0;
    for (int i = 0; i < NQUERIERS; i++)
        ok &= pthread_create(&tq[i], NULL, querier, &qa[i]) == 0;
    if (!ok) {
        fprintf(stderr, "stress: pthread_create failed\n");
        return 1;
    }
    for (long t = 0; t < (long)(seconds * 10) && running(s); t++)
        sleep_us(100000);
    atomic_store(&s->stop, 1);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    for (int i = 0; i < NAPPENDERS; i++)
        pthread_join(ta[i], NULL);
    pthread_join(tc, NULL);
    pthread_join(tm, NULL);
    pthread_join(tr, NULL);
    pthread_join(tl, NULL);
    for (int i = 0; i < NQUERIERS; i++)
        pthread_join(tq[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double join_s = (double)(t1.tv_sec - ts.tv_sec) + (double)(t1.tv_nsec - ts.tv_nsec) / 1e9;

    int bad = 0;
    if (s->failures) {
        fprintf(stderr, "stress: FAILED: %u failure(s); first: %s\n", s->failures,
                s->first_failure);
        bad = 1;
    }
    for (unsigned m = 1; m <= NMERCHANTS && !bad; m++)
        if (s->acked[m] != s->appended[m]) {
            fprintf(stderr, "stress: merchant %u: %" PRIu64 " appended, %" PRIu64
                            " acknowledged\n",
                    m, (uint64_t)s->appended[m], (uint64_t)s->acked[m]);
            bad = 1;
        }
    if ((rc = tsagg_store_close(s->ro)) != 0 && !bad) {
        fprintf(stderr, "stress: close read-only: %s\n", tsagg_strerror(rc));
        bad = 1;
    }
    if ((rc = tsagg_store_close(s->st)) != 0 && !bad) {
        fprintf(stderr, "stress: close: %s\n", tsagg_strerror(rc));
        bad = 1;
    }
    if (!bad && final_check(s, path)) {
        if (s->failures)
            fprintf(stderr, "stress: FAILED: %s\n", s->first_failure);
        bad = 1;
    }
    double el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("stress: %s in %.1f s (%.1f s to stop): %lu appends (%lu events), %lu compactions (%lu runs "
           "spilled), %lu merges, %lu rolls, %lu archives (%lu segments), %lu queries "
           "(%lu writer, %lu read-only, %lu group-by), %lu log reader passes (%lu events)\n",
           bad ? "FAILED" : "ok", el, join_s, s->appends, s->events, s->compactions, s->spilled,
           s->merges, s->rolls, s->archives, s->archived_segments, s->queries + s->ro_queries,
           s->queries, s->ro_queries, s->group_queries, s->reader_passes, s->reader_events);
    if (!keep || !bad)
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    else
        fprintf(stderr, "stress: store kept at %s\n", path);
    pthread_mutex_destroy(&s->mu);
    free((void *)s->seq_merchant);
    free(s);
    return bad;
}
