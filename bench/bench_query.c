/*
 * bench_query.c - query latency and throughput on GA-like data.
 *
 *   bench_query [--events N] [--days D] [--merchants M] [--reps R]
 *               [--seconds S] [--threads T] [--dir DIR] [--keep] [--store PATH]
 *               [--only NAME] [--cache-bytes N] [--tail N]
 *
 * Generates N events (default 10,000,000 over 30 days, 1,000 merchants;
 * gagen/), appends them (TSAGG_SYNC_NONE, one flush), compacts and
 * merges, then prints `<name> <value> <unit>` lines:
 *
 *   ingest / compact / merge times and rates;
 *   the first run on a new read-only handle (files not open yet), then p50
 *   and p99 latency, warm, over R repetitions (default 300) of
 *     a  30-day hourly count series of the largest merchant
 *     b  30-day daily unique users of a mid-size merchant (rank M/20), in
 *        its time zone
 *     c  top-10 pages over 7 days with a country filter, largest merchant
 *     d  minute buckets over the last 2 hours, largest merchant
 *     e  one day of events by name over all merchants (group by event,
 *        one bucket)
 *   b and c again for the other merchant (largest / mid-size), for scale;
 *   queries/s of T threads (default 2) running a dashboard mix of a, b, c
 *   for S seconds (default 5) each, for merchants drawn by traffic and for
 *   merchants drawn uniformly, and the process CPU time per query of each
 *   (on a shared machine queries/s follow the load, CPU time much less).
 *   Each kind runs two mixes of S seconds with different draws: the first
 *   (dashboard_first_by_traffic_*, dashboard_first_uniform_*) pays the
 *   first touches of the merchants it meets (decoding, span sketches,
 *   cold reads); the by-traffic one runs right after the open (and the
 *   latencies above, when they run), the uniform one after the by-traffic
 *   mixes. The second (dashboard_by_traffic_*, dashboard_uniform_*) is
 *   the steady state a long-running service sees, the first mix having
 *   warmed the handle;
 *   then, with --tail N (default 100,000) events of the last day appended
 *   and not compacted, a, d and the mid-size merchant's c again: every
 *   query also reads the log tail.
 *
 * The store is created under DIR (default /tmp) and removed unless --keep.
 * --store PATH queries a store kept by an earlier run with the same
 * --events/--days/--merchants, skipping ingest and compaction; --only NAME
 * runs only the measurements whose name starts with NAME (`--only ranks`:
 * instead, the warm cost of a, b and c by bands of merchant rank and each
 * band's part of the traffic-weighted cost of the mix); --cache-bytes
 * sets the handle's budget for decoded rollups and column slices (default
 * TSAGG__QUERY_CACHE_BYTES; 0: nothing kept between queries).
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gagen.h"
#include "partcache.h" /* tsagg__partcache_set_budget */
#include "benchutil.h"
#include "tsagg.h"

#define SEC INT64_C(1000000)
#define HOUR (3600 * SEC)
#define DAY (24 * HOUR)

/* A zone without daylight saving for gagen's fixed offsets (minutes east). */
static const char *zone_of(int offset_min)
{
    static const struct {
        int off;
        const char *name;
    } zones[] = {
        {-480, "Etc/GMT+8"},       {-420, "Etc/GMT+7"},        {-360, "Etc/GMT+6"},
        {-300, "America/Bogota"},  {-180, "America/Sao_Paulo"}, {0, "UTC"},
        {60, "Africa/Lagos"},      {120, "Africa/Johannesburg"}, {180, "Europe/Istanbul"},
        {240, "Asia/Dubai"},       {300, "Asia/Karachi"},      {330, "Asia/Kolkata"},
        {345, "Asia/Kathmandu"},   {420, "Asia/Jakarta"},      {480, "Asia/Shanghai"},
        {540, "Asia/Tokyo"},
    };
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++)
        if (zones[i].off == offset_min)
            return zones[i].name;
    return "UTC";
}

/* ---- the queries ---------------------------------------------------------------- */

typedef struct bench {
    tsagg_store *st;
    gagen *g;
    const char *path;   /* the store, for the first-run handles */
    int64_t start, end; /* the data's range */
    uint64_t big, mid;
    size_t merchants;
    double *cum; /* cumulative traffic share by rank */
} bench;

static const char *const US[] = {"US"};
static const tsagg_filter COUNTRY_US = {"country", US, 1};
static const tsagg_metric USERS = {TSAGG_METRIC_USERS, NULL};

/* Fill q with query kind k ('a'..'e') for merchant m. */
static void make_query(const bench *b, char k, uint64_t m, tsagg_query *q)
{
    tsagg_query_init(q);
    q->merchant = m;
    q->from = b->start;
    q->to = b->end;
    switch (k) {
    case 'a':
        q->bucket = TSAGG_BUCKET_HOUR;
        break;
    case 'b':
        q->bucket = TSAGG_BUCKET_DAY;
        q->tz = zone_of(gagen_merchant_utc_offset(b->g, m));
        q->metrics = &USERS;
        q->nmetrics = 1;
        break;
    case 'c':
        q->from = b->end - 7 * DAY;
        q->bucket = TSAGG_BUCKET_TOTAL;
        q->filters = &COUNTRY_US;
        q->nfilters = 1;
        q->group_by = "page";
        q->top = 10;
        break;
    case 'd':
        q->from = b->end - 2 * HOUR;
        q->bucket = TSAGG_BUCKET_MINUTE;
        break;
    default: /* e: a day in the middle, all merchants */
        q->flags = TSAGG_QUERY_ALL_MERCHANTS;
        q->from = b->start + (b->end - b->start) / 2 / DAY * DAY;
        q->to = q->from + DAY;
        q->bucket = TSAGG_BUCKET_TOTAL;
        q->group_by = "event";
        break;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static const char *g_only; /* --only NAME-PREFIX: run just those */

/* The first run of q on a new read-only handle (partition files not open,
 * nothing decoded; the page cache as the run before left it), in us. */
static double first_run(const bench *b, const tsagg_query *q, tsagg_result *res,
                         const char *name)
{
    tsagg_options o;
    tsagg_options_init(&o);
    tsagg_store *ro;
    char err[512];
    int rc = tsagg_store_open(b->path, &o, &ro, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "bench_query: %s: open: %s: %s\n", name, tsagg_strerror(rc), err);
        exit(1);
    }
    double t0 = mono_s();
    rc = tsagg_query_run(ro, q, res);
    double us = (mono_s() - t0) * 1e6;
    if (rc != 0)
        bench_die("bench_query", name, rc, ro);
    if ((rc = tsagg_store_close(ro)) != 0)
        bench_die("bench_query", "close", rc, NULL);
    return us;
}

static void latency(const bench *b, char k, uint64_t m, const char *name, int reps)
{
    if (g_only && strncmp(name, g_only, strlen(g_only)))
        return;
    tsagg_query q;
    make_query(b, k, m, &q);
    tsagg_result *res;
    if (tsagg_result_create(&res) != 0)
        bench_die("bench_query", "result", -1, NULL);
    double first = first_run(b, &q, res, name);
    int rc;
    for (int i = 0; i < 5; i++) /* warm: files open, pages cached */
        if ((rc = tsagg_query_run(b->st, &q, res)) != 0)
            bench_die("bench_query", name, rc, b->st);
    double *t = malloc((size_t)reps * sizeof *t);
    for (int i = 0; i < reps; i++) {
        double t0 = mono_s();
        rc = tsagg_query_run(b->st, &q, res);
        t[i] = (mono_s() - t0) * 1e6;
        if (rc != 0)
            bench_die("bench_query", name, rc, b->st);
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    double sum = 0;
    for (size_t r = 0; r < tsagg_result_rows(res); r++)
        sum += tsagg_result_values(res, 0)[r];
    printf("%s_first %.1f us\n%s_p50 %.1f us\n%s_p99 %.1f us\n", name, first, name,
           t[reps / 2], name, t[(size_t)((double)reps * 0.99)]);
    printf("%s_rows %zu count\n%s_sum %.0f value\n", name, tsagg_result_rows(res), name, sum);
    fflush(stdout);
    free(t);
    tsagg_result_free(res);
}

/* ---- cost by merchant rank ------------------------------------------------------ */

/* Warm median cost of query kind k for merchant m, in us (7 runs after 2). */
static double warm_cost(const bench *b, char k, uint64_t m, tsagg_result *res)
{
    tsagg_query q;
    make_query(b, k, m, &q);
    double t[7];
    for (int i = -2; i < 7; i++) {
        double t0 = mono_s();
        int rc = tsagg_query_run(b->st, &q, res);
        if (rc != 0)
            bench_die("bench_query", "ranks", rc, b->st);
        if (i >= 0)
            t[i] = (mono_s() - t0) * 1e6;
    }
    qsort(t, 7, sizeof *t, cmp_double);
    return t[3];
}

/* Where the dashboard mix by traffic spends its time: for bands of merchant
 * ranks, the traffic share, the mean warm cost of a, b and c, and what the
 * band adds to the traffic-weighted cost of one query of the mix. */
static void rank_costs(const bench *b)
{
    static const size_t bands[] = {0, 1, 2, 5, 10, 30, 100, 300, SIZE_MAX};
    tsagg_result *res;
    if (tsagg_result_create(&res) != 0)
        bench_die("bench_query", "result", -1, NULL);
    double total = 0;
    for (size_t i = 0; bands[i] < b->merchants; i++) {
        size_t lo = bands[i], hi = bands[i + 1] < b->merchants ? bands[i + 1] : b->merchants;
        double share = 0, cost[3] = {0, 0, 0}, weighted = 0;
        for (size_t r = lo; r < hi; r++) {
            double s = b->cum[r] - (r ? b->cum[r - 1] : 0), c = 0;
            uint64_t m = gagen_merchant_by_rank(b->g, r);
            for (int k = 0; k < 3; k++) {
                double us = warm_cost(b, "abc"[k], m, res);
                cost[k] += us / (double)(hi - lo);
                c += us / 3;
            }
            share += s;
            weighted += s * c;
        }
        weighted /= b->cum[b->merchants - 1];
        total += weighted;
        printf("ranks_%zu_%zu share %.4f a %.1f b %.1f c %.1f weighted %.1f us\n", lo, hi - 1,
               share / b->cum[b->merchants - 1], cost[0], cost[1], cost[2], weighted);
    }
    printf("ranks_weighted_cost %.1f us\n", total);
    fflush(stdout);
    tsagg_result_free(res);
}

/* ---- concurrent dashboards ------------------------------------------------------- */

typedef struct worker {
    const bench *b;
    int uniform; /* merchants drawn uniformly, not by traffic */
    uint64_t seed;
    double seconds;
    _Atomic int *go;
    unsigned long done;
    int rc;
} worker;

/* A merchant drawn by traffic. */
static uint64_t draw_merchant(const bench *b, uint64_t *rng)
{
    return gagen_merchant_by_rank(b->g, draw_rank(b->cum, b->merchants, rng));
}

static void *run_worker(void *arg)
{
    worker *w = arg;
    tsagg_result *res;
    if (tsagg_result_create(&res) != 0) {
        w->rc = -1;
        return NULL;
    }
    while (!atomic_load(w->go))
        ;
    double stop = mono_s() + w->seconds;
    uint64_t rng = w->seed;
    while (mono_s() < stop) {
        uint64_t m = w->uniform ? gagen_merchant_by_rank(w->b->g, rng_next(&rng) % w->b->merchants)
                                : draw_merchant(w->b, &rng);
        static const char kinds[] = "abc";
        tsagg_query q;
        make_query(w->b, kinds[rng_next(&rng) % 3], m, &q);
        int rc = tsagg_query_run(w->b->st, &q, res);
        if (rc != 0) {
            w->rc = rc;
            break;
        }
        w->done++;
    }
    tsagg_result_free(res);
    return NULL;
}

/* One mix of `seconds`; mix 0 is the first (named dashboard_first_*), mix 1
 * the steady state, drawn from other seeds so that it does not replay the
 * first mix's queries. */
static void throughput(const bench *b, int threads, double seconds, int uniform, int mix)
{
    worker *w = calloc((size_t)threads, sizeof *w);
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    _Atomic int go = 0;
    for (int i = 0; i < threads; i++) {
        uint64_t seed = (uint64_t)mix * (uint64_t)threads + (uint64_t)i + 1;
        w[i] = (worker){b, uniform, seed, seconds, &go, 0, 0};
        pthread_create(&t[i], NULL, run_worker, &w[i]);
    }
    double t0 = mono_s(), c0 = cpu_s();
    atomic_store(&go, 1);
    unsigned long total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        if (w[i].rc != 0)
            bench_die("bench_query", "dashboard query", w[i].rc, b->st);
        total += w[i].done;
    }
    double el = mono_s() - t0, cpu = cpu_s() - c0;
    const char *name = uniform ? "uniform" : "by_traffic", *first = mix == 0 ? "first_" : "";
    printf("dashboard_threads %d count\ndashboard_%s%s_qps %.0f queries/s\n", threads, first,
           name, (double)total / el);
    /* CPU time per query: what the mix costs whatever else the CPUs run. */
    printf("dashboard_%s%s_cpu_per_query %.1f us\n", first, name, cpu * 1e6 / (double)total);
    fflush(stdout);
    free(w);
    free(t);
}

int main(int argc, char **argv)
{
    uint64_t events = 10000000;
    uint32_t days = 30, merchants = 1000;
    int reps = 300, threads = 2, keep = 0;
    double seconds = 5;
    const char *base = "/tmp", *reuse = NULL;
    long long cache_bytes = -1;
    uint64_t tail = 100000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--events") && i + 1 < argc)
            events = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--days") && i + 1 < argc)
            days = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--merchants") && i + 1 < argc)
            merchants = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            base = argv[++i];
        else if (!strcmp(argv[i], "--keep"))
            keep = 1;
        else if (!strcmp(argv[i], "--store") && i + 1 < argc)
            reuse = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            g_only = argv[++i];
        else if (!strcmp(argv[i], "--cache-bytes") && i + 1 < argc)
            cache_bytes = atoll(argv[++i]);
        else if (!strcmp(argv[i], "--tail") && i + 1 < argc)
            tail = strtoull(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_query [--events N] [--days D] [--merchants M] "
                            "[--reps R] [--seconds S] [--threads T] [--dir DIR] [--keep] "
                            "[--store PATH] [--only NAME] [--cache-bytes N] [--tail N]\n");
            return 2;
        }
    }
    if (reps < 200 || threads < 1 || days < 1 || merchants < 20) {
        fprintf(stderr, "bench_query: --reps >= 200, --threads >= 1, --merchants >= 20\n");
        return 2;
    }
    char dir[4096] = "", path[4200];
    if (reuse) {
        snprintf(path, sizeof path, "%s", reuse);
        keep = 1;
    } else {
        snprintf(dir, sizeof dir, "%s/tsagg-bench-query-XXXXXX", base);
        if (!mkdtemp(dir)) {
            perror("bench_query: mkdtemp");
            return 1;
        }
        snprintf(path, sizeof path, "%s/store", dir);
    }
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | (reuse ? 0 : TSAGG_OPEN_CREATE);
    o.sync_mode = TSAGG_SYNC_NONE;
    /* The load is appended, then compacted once: the head (about 131 bytes
     * an event) holds it whole rather than compact inline past its bound,
     * so the ingest and compact lines measure what they name. */
    o.head_max_bytes = UINT64_C(4) << 30;
    bench b = {0};
    char err[512];
    int rc = tsagg_store_open(path, &o, &b.st, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "bench_query: open: %s: %s\n", tsagg_strerror(rc), err);
        return 1;
    }
    gagen_config cfg;
    gagen_config_init(&cfg);
    cfg.events = events;
    cfg.days = days;
    cfg.merchants = merchants;
    gagen *g = gagen_create(&cfg);
    if (!g) {
        perror("bench_query: gagen_create");
        return 1;
    }
    printf("events %" PRIu64 " count\ndays %u count\nmerchants %u count\n", events, days,
           merchants);

    if (!reuse) {
        /* Ingest: generation is timed apart, so the rate is the library's. */
        enum { BATCH = 4096 };
        tsagg_event *batch = malloc(BATCH * sizeof *batch);
        double gen_s = 0, append_s = 0;
        size_t n;
        for (;;) {
            double t0 = mono_s();
            n = gagen_next(g, batch, BATCH);
            double t1 = mono_s();
            gen_s += t1 - t0;
            if (n == 0)
                break;
            if ((rc = tsagg_append(b.st, batch, n, NULL)) != 0)
                bench_die("bench_query", "append", rc, b.st);
            append_s += mono_s() - t1;
        }
        double t0 = mono_s();
        if ((rc = tsagg_flush(b.st)) != 0)
            bench_die("bench_query", "flush", rc, b.st);
        append_s += mono_s() - t0;
        free(batch);
        printf("generate_time %.2f s\ningest_time %.2f s\ningest_rate %.0f events/s\n", gen_s,
               append_s, (double)events / append_s);

        /* Compact, then merge (late events left extra files for some hours). */
        tsagg_compact_stats cs = {.struct_size = sizeof cs};
        t0 = mono_s();
        double c0 = cpu_s();
        if ((rc = tsagg_compact(b.st, NULL, &cs)) != 0)
            bench_die("bench_query", "compact", rc, b.st);
        double compact_s = mono_s() - t0, compact_cpu = cpu_s() - c0;
        printf("compact_time %.2f s\ncompact_rate %.0f events/s\ncompact_cpu_rate %.0f events/s\n"
               "compact_files %" PRIu64 " count\ncompact_bytes_per_event %.2f bytes\n",
               compact_s, (double)cs.events_read / compact_s, (double)cs.events_read / compact_cpu,
               cs.files_written, (double)cs.bytes_written / (double)cs.events_read);
        tsagg_compact_stats ms = {.struct_size = sizeof ms};
        t0 = mono_s();
        if ((rc = tsagg_merge(b.st, NULL, &ms)) != 0)
            bench_die("bench_query", "merge", rc, b.st);
        printf("merge_time %.2f s\nmerge_files %" PRIu64 " count\n", mono_s() - t0,
               ms.files_written);
        fflush(stdout);
    }

    /* The queries. */
    if (cache_bytes >= 0 && (rc = tsagg__partcache_set_budget(b.st, (size_t)cache_bytes)) != 0)
        bench_die("bench_query", "cache budget", rc, b.st);
    printf("cache_budget %lld bytes\n",
           cache_bytes >= 0 ? cache_bytes : (long long)TSAGG__QUERY_CACHE_BYTES);
    b.g = g;
    b.path = path;
    b.start = cfg.start_us;
    b.end = cfg.start_us + (int64_t)days * DAY;
    b.merchants = gagen_merchant_count(g);
    b.big = gagen_merchant_by_rank(g, 0);
    b.mid = gagen_merchant_by_rank(g, b.merchants / 20);
    b.cum = malloc(b.merchants * sizeof *b.cum);
    double acc = 0;
    for (size_t r = 0; r < b.merchants; r++)
        b.cum[r] = acc += gagen_merchant_share(g, r);
    printf("largest_merchant_share %.4f fraction\nmid_merchant_share %.5f fraction\n",
           gagen_merchant_share(g, 0), gagen_merchant_share(g, b.merchants / 20));
    printf("mid_merchant_zone_offset %d minutes\n", gagen_merchant_utc_offset(g, b.mid));
    latency(&b, 'a', b.big, "a_hourly_count_30d", reps);
    latency(&b, 'b', b.mid, "b_daily_users_30d_tz", reps);
    latency(&b, 'c', b.big, "c_top10_pages_7d_country", reps);
    latency(&b, 'd', b.big, "d_minutes_last_2h", reps);
    latency(&b, 'e', 0, "e_events_by_name_1d_all", reps);
    /* The same questions for the other merchant, for scale. */
    latency(&b, 'b', b.big, "b_big_daily_users_30d_tz", reps);
    latency(&b, 'c', b.mid, "c_mid_top10_pages_7d_country", reps);
    if (g_only && !strncmp("ranks", g_only, strlen(g_only)))
        rank_costs(&b);
    if (!g_only || !strncmp("dashboard", g_only, strlen(g_only))) {
        for (int uniform = 0; uniform < 2; uniform++)
            for (int mix = 0; mix < 2; mix++)
                throughput(&b, threads, seconds, uniform, mix);
    }
    /* Fresh events not compacted yet: every query reads the log tail. */
    if (tail > 0 && !reuse) {
        gagen_config tc = cfg;
        tc.seed = cfg.seed + 1;
        tc.events = tail;
        tc.days = 1;
        tc.start_us = b.end - DAY;
        gagen *tg = gagen_create(&tc);
        tsagg_event *tb = malloc(4096 * sizeof *tb);
        size_t tn;
        while ((tn = gagen_next(tg, tb, 4096)) > 0)
            if ((rc = tsagg_append(b.st, tb, tn, NULL)) != 0)
                bench_die("bench_query", "append", rc, b.st);
        if ((rc = tsagg_flush(b.st)) != 0)
            bench_die("bench_query", "flush", rc, b.st);
        free(tb);
        gagen_free(tg);
        printf("log_tail %" PRIu64 " events\n", tail);
        latency(&b, 'a', b.big, "tail_a_hourly_count_30d", reps);
        latency(&b, 'd', b.big, "tail_d_minutes_last_2h", reps);
        latency(&b, 'c', b.mid, "tail_c_mid_top10_pages_7d_country", reps);
    }

    free(b.cum);
    gagen_free(g);
    if ((rc = tsagg_store_close(b.st)) != 0)
        bench_die("bench_query", "close", rc, NULL);
    if (!keep) {
        char cmd[4300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_query: could not remove %s\n", dir);
    } else {
        if (!reuse)
            fprintf(stderr, "bench_query: store kept in %s\n", path);
    }
    return 0;
}
