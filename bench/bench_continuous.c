/*
 * bench_continuous.c - the store in continuous operation: sustained appends
 * at a steady rate from one thread, the dashboard mix of bench_query from
 * another, and the library's maintenance thread underneath.
 *
 *   bench_continuous [--rate R[,R2...]] [--seconds S] [--history N]
 *                    [--merchants M] [--compact-events N] [--dir DIR] [--keep]
 *
 * Loads N events (default 2,000,000) of the past 30 days over M merchants
 * (default 1,000; gagen/) and compacts them, then opens the store for
 * writing with tsagg_options.maintenance (a step every 200 ms; compaction
 * at --compact-events uncompacted events, default 200,000, or a tail 10 s
 * old; archiving on) and, for each rate R (events/s, default 100,000), for
 * S seconds (default 20):
 *
 *   - one thread appends live events (ts = the wall clock) in batches of
 *     1,000, paced to R (TSAGG_SYNC_INTERVAL, 20 ms), and every 100 ms a
 *     probe event of a merchant of its own;
 *   - another runs the dashboard mix (bench_query's a, b, c: a 30-day hourly
 *     count series, 30-day daily users in the merchant's zone, top-10 pages
 *     over 7 days with a country filter) for merchants drawn by traffic,
 *     back to back, and after each query asks how many probes it sees:
 *     freshness is the time from a probe's append to the first query that
 *     counts it;
 *   - once a second the tail (durable events not yet compacted) is sampled.
 *
 * Prints `<name> <value> <unit>` lines per rate: the rate reached and
 * whether it held (appends within a second of the schedule at the end,
 * freshness p99 within a second, and the tail never above 4 times
 * --compact-events: maintenance kept up),
 * query p50/p99, freshness p50/p99/max, the tail over time (every second)
 * and its maximum, maintenance steps, compactions and CPU seconds (and as a
 * share of one core), and the process's CPU.
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "gagen.h"
#include "tsagg.h"

#define SEC INT64_C(1000000)
#define HOUR (3600 * SEC)
#define DAY (24 * HOUR)
#define BATCH 1000
#define PROBE_MERCHANT UINT64_C(0xFFFFFFFF00000001)
#define PROBE_EVERY_S 0.1
#define PROBES_MAX 100000
#define SAMPLES_MAX 3600

static const char prog[] = "bench_continuous";

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec / 1000;
}

typedef struct run {
    tsagg_store *st;
    gagen *live;          /* the appender's */
    const gagen *hist;    /* merchants and zones, for the queries */
    double *cum;          /* cumulative traffic share by rank */
    size_t merchants;
    double rate, seconds;
    _Atomic int stop;
    /* appender */
    uint64_t appended;
    double append_end_lag; /* seconds behind schedule at the end */
    double probe_at[PROBES_MAX]; /* mono_s of each probe's append */
    _Atomic uint64_t probes;
    uint64_t probe_base;  /* probes of earlier runs in the store */
    int rc;
    /* querier */
    double *lat;          /* us */
    size_t nlat, caplat;
    double fresh[PROBES_MAX];
    size_t nfresh;
    int qrc;
} run;

static void *appender(void *arg)
{
    run *r = arg;
    static tsagg_event batch[BATCH];
    double t0 = mono_s(), next_probe = t0;
    uint64_t k = 0;
    while (!atomic_load(&r->stop)) {
        double due = t0 + (double)(k * BATCH) / r->rate, now = mono_s();
        if (now < due) {
            double wait = due - now;
            if (next_probe < due)
                wait = next_probe > now ? next_probe - now : 0;
            if (wait > 0)
                usleep((useconds_t)(wait * 1e6));
        }
        now = mono_s();
        if (now >= next_probe) {
            uint64_t p = atomic_load(&r->probes);
            if (p < PROBES_MAX) {
                tsagg_event ev = {.ts = wall_us(), .merchant = PROBE_MERCHANT,
                                  .event = "probe", .event_len = 5,
                                  .flags = TSAGG_EVENT_HAS_ID, .id = p + 1};
                r->probe_at[p] = mono_s();
                if ((r->rc = tsagg_append(r->st, &ev, 1, NULL)) != 0)
                    break;
                atomic_store(&r->probes, p + 1);
            }
            next_probe += PROBE_EVERY_S;
        }
        if (now < due)
            continue;
        size_t n = gagen_next(r->live, batch, BATCH);
        int64_t ts = wall_us();
        for (size_t i = 0; i < n; i++)
            batch[i].ts = ts;
        if ((r->rc = tsagg_append(r->st, batch, n, NULL)) != 0)
            break;
        r->appended += n;
        k++;
    }
    r->append_end_lag = mono_s() - (t0 + (double)(k * BATCH) / r->rate);
    return NULL;
}

/* A merchant drawn by traffic. */
static uint64_t draw_merchant(const run *r, uint64_t *rng)
{
    return gagen_merchant_by_rank(r->hist, draw_rank(r->cum, r->merchants, rng));
}

/* A zone without daylight saving for gagen's fixed offsets. */
static const char *zone_of(int offset_min)
{
    static const struct {
        int off;
        const char *tz;
    } z[] = {{-480, "Etc/GMT+8"}, {-300, "Etc/GMT+5"}, {0, "UTC"},       {60, "Etc/GMT-1"},
             {120, "Etc/GMT-2"},  {330, "Asia/Kolkata"}, {540, "Etc/GMT-9"}, {600, "Etc/GMT-10"}};
    for (size_t i = 0; i < sizeof z / sizeof z[0]; i++)
        if (z[i].off == offset_min)
            return z[i].tz;
    return "UTC";
}

static void *querier(void *arg)
{
    run *r = arg;
    static const tsagg_metric USERS = {.kind = TSAGG_METRIC_USERS};
    static const char *const US[] = {"US"};
    static const tsagg_filter COUNTRY_US = {.field = "country", .values = US, .nvalues = 1};
    tsagg_result *res, *pres;
    if (tsagg_result_create(&res) != 0 || tsagg_result_create(&pres) != 0) {
        r->qrc = -1;
        return NULL;
    }
    uint64_t rng = 7, seen = 0;
    while (!atomic_load(&r->stop)) {
        int64_t end = (wall_us() / HOUR + 1) * HOUR;
        uint64_t m = draw_merchant(r, &rng);
        tsagg_query q;
        tsagg_query_init(&q);
        q.merchant = m;
        q.from = end - 30 * DAY;
        q.to = end;
        switch (rng_next(&rng) % 3) {
        case 0:
            q.bucket = TSAGG_BUCKET_HOUR;
            break;
        case 1:
            q.bucket = TSAGG_BUCKET_DAY;
            q.tz = zone_of(gagen_merchant_utc_offset(r->hist, m));
            q.metrics = &USERS;
            q.nmetrics = 1;
            break;
        default:
            q.from = end - 7 * DAY;
            q.bucket = TSAGG_BUCKET_TOTAL;
            q.filters = &COUNTRY_US;
            q.nfilters = 1;
            q.group_by = "page";
            q.top = 10;
            break;
        }
        double t0 = mono_s();
        int rc = tsagg_query_run(r->st, &q, res);
        double us = (mono_s() - t0) * 1e6;
        if (rc != 0) {
            r->qrc = rc;
            break;
        }
        if (r->nlat == r->caplat) {
            r->caplat = r->caplat ? r->caplat * 2 : 65536;
            r->lat = realloc(r->lat, r->caplat * sizeof *r->lat);
        }
        r->lat[r->nlat++] = us;
        /* The probes this query's moment sees. */
        tsagg_query p;
        tsagg_query_init(&p);
        p.merchant = PROBE_MERCHANT;
        p.from = wall_us() - DAY;
        p.to = wall_us() + HOUR;
        p.bucket = TSAGG_BUCKET_TOTAL;
        uint64_t sent = atomic_load(&r->probes);
        if ((rc = tsagg_query_run(r->st, &p, pres)) != 0) {
            r->qrc = rc;
            break;
        }
        double now = mono_s();
        uint64_t vis = (uint64_t)tsagg_result_values(pres, 0)[0] - r->probe_base;
        if (vis > sent)
            vis = sent;
        for (; seen < vis && r->nfresh < PROBES_MAX; seen++)
            r->fresh[r->nfresh++] = (now - r->probe_at[seen]) * 1e3;
    }
    tsagg_result_free(res);
    tsagg_result_free(pres);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    if (!n)
        return NAN;
    size_t i = (size_t)((double)n * p);
    return v[i < n ? i : n - 1];
}

static uint64_t tail_events(tsagg_store *st)
{
    uint64_t compacted = 0, durable = tsagg_durable_seq(st);
    tsagg_compacted_seq(st, &compacted);
    return durable > compacted ? durable - compacted : 0;
}

static int run_rate(tsagg_store *st, gagen *live, const gagen *hist, double *cum,
                    size_t merchants, double rate, double seconds, uint64_t compact_events)
{
    static run r;
    free(r.lat);
    memset(&r, 0, sizeof r);
    r.st = st;
    r.live = live;
    r.hist = hist;
    r.cum = cum;
    r.merchants = merchants;
    r.rate = rate;
    r.seconds = seconds;
    /* Probes of an earlier rate are in the store: count from there. */
    tsagg_query pq;
    tsagg_query_init(&pq);
    pq.merchant = PROBE_MERCHANT;
    pq.from = wall_us() - DAY;
    pq.to = wall_us() + HOUR;
    pq.bucket = TSAGG_BUCKET_TOTAL;
    tsagg_result *pr;
    int rc = tsagg_result_create(&pr);
    if (rc == 0)
        rc = tsagg_query_run(st, &pq, pr);
    if (rc != 0)
        bench_die(prog, "probe query", rc, st);
    r.probe_base = (uint64_t)tsagg_result_values(pr, 0)[0];
    tsagg_result_free(pr);
    tsagg_maintain_stats m0 = {.struct_size = sizeof m0}, m1 = {.struct_size = sizeof m1};
    tsagg_maintenance_status(st, &m0);
    double cpu0 = cpu_s(), t0 = mono_s();
    pthread_t a, q;
    pthread_create(&a, NULL, appender, &r);
    pthread_create(&q, NULL, querier, &r);
    static uint64_t tail[SAMPLES_MAX];
    size_t nt = 0;
    while (mono_s() - t0 < seconds) {
        usleep(1000000);
        if (nt < SAMPLES_MAX)
            tail[nt++] = tail_events(st);
    }
    atomic_store(&r.stop, 1);
    pthread_join(a, NULL);
    pthread_join(q, NULL);
    double el = mono_s() - t0, cpu = cpu_s() - cpu0;
    if (r.rc != 0)
        bench_die(prog, "append", r.rc, st);
    if (r.qrc != 0)
        bench_die(prog, "query", r.qrc, st);
    tsagg_maintenance_status(st, &m1);
    qsort(r.lat, r.nlat, sizeof *r.lat, cmp_double);
    qsort(r.fresh, r.nfresh, sizeof *r.fresh, cmp_double);
    /* Held: the appends kept their schedule, a query saw an event within a
     * second (p99), and maintenance kept the tail bounded. */
    uint64_t tmax = 0;
    for (size_t i = 0; i < nt; i++)
        tmax = tail[i] > tmax ? tail[i] : tmax;
    int held = r.append_end_lag < 1.0 && r.nfresh && pct(r.fresh, r.nfresh, 0.99) <= 1000 &&
               tmax <= 4 * compact_events;
    char name[32];
    snprintf(name, sizeof name, "rate%.0f", rate);
    printf("%s_appended %.0f events/s\n%s_held %d bool\n", name, (double)r.appended / el, name,
           held);
    printf("%s_queries %zu count\n%s_query_p50 %.1f us\n%s_query_p99 %.1f us\n", name, r.nlat,
           name, pct(r.lat, r.nlat, 0.5), name, pct(r.lat, r.nlat, 0.99));
    printf("%s_freshness_p50 %.1f ms\n%s_freshness_p99 %.1f ms\n%s_freshness_max %.1f ms\n",
           name, pct(r.fresh, r.nfresh, 0.5), name, pct(r.fresh, r.nfresh, 0.99), name,
           r.nfresh ? r.fresh[r.nfresh - 1] : NAN);
    printf("%s_tail_by_second", name);
    for (size_t i = 0; i < nt; i++)
        printf(" %" PRIu64, tail[i]);
    printf(" events\n%s_tail_max %" PRIu64 " events\n", name, tmax);
    double mcpu = (double)(m1.cpu_us - m0.cpu_us) / 1e6;
    printf("%s_maintenance_steps %" PRIu64 " count\n%s_compactions %" PRIu64 " count\n"
           "%s_events_compacted %" PRIu64 " events\n%s_segments_archived %" PRIu64 " count\n"
           "%s_maintenance_cpu %.2f s\n%s_maintenance_cpu_share %.1f %%\n"
           "%s_maintenance_failures %" PRIu64 " count\n%s_process_cpu %.2f s\n",
           name, m1.steps - m0.steps, name, m1.compactions - m0.compactions, name,
           m1.events_compacted - m0.events_compacted, name,
           m1.segments_archived - m0.segments_archived, name, mcpu, name, 100 * mcpu / el, name,
           m1.failures - m0.failures, name, cpu);
    fflush(stdout);
    return held;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"rate", required_argument, NULL, 'r'},
        {"seconds", required_argument, NULL, 's'},
        {"history", required_argument, NULL, 'n'},
        {"merchants", required_argument, NULL, 'm'},
        {"compact-events", required_argument, NULL, 'c'},
        {"dir", required_argument, NULL, 'd'},
        {"keep", no_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    const char *rates = "100000", *dir = "/tmp";
    double seconds = 20;
    uint64_t history = 2000000, compact_events = 200000;
    uint32_t merchants = 1000;
    int keep = 0, c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': rates = optarg; break;
        case 's': seconds = atof(optarg); break;
        case 'n': history = strtoull(optarg, NULL, 10); break;
        case 'm': merchants = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'c': compact_events = strtoull(optarg, NULL, 10); break;
        case 'd': dir = optarg; break;
        case 'k': keep = 1; break;
        default:
            fprintf(stderr, "usage: %s [--rate R[,R...]] [--seconds S] [--history N] "
                            "[--merchants M] [--compact-events N] [--dir DIR] [--keep]\n",
                    prog);
            return 2;
        }
    }
    if (seconds < 1 || seconds > SAMPLES_MAX || !merchants) {
        fprintf(stderr, "%s: --seconds 1..%d, --merchants >= 1\n", prog, SAMPLES_MAX);
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/bench_continuous.%d", dir, (int)getpid());

    /* History: 30 days up to now, compacted. */
    int64_t now = wall_us();
    gagen_config gc;
    gagen_config_init(&gc);
    gc.events = history ? history : 1;
    gc.days = 30;
    gc.merchants = merchants;
    gc.start_us = now - 30 * DAY;
    gagen *hist = gagen_create(&gc);
    gc.seed = 2;
    gc.events = UINT64_MAX / 2;
    gc.late_fraction = 0;
    gc.dup_fraction = 0;
    gagen *live = gagen_create(&gc);
    if (!hist || !live) {
        perror("gagen_create");
        return 1;
    }
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.sync_mode = TSAGG_SYNC_NONE;
    tsagg_store *st;
    char err[512];
    int rc = tsagg_store_open(path, &o, &st, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, err);
        return 1;
    }
    double t0 = mono_s();
    static tsagg_event batch[4096];
    size_t n;
    while (history && (n = gagen_next(hist, batch, 4096)) > 0)
        if ((rc = tsagg_append(st, batch, n, NULL)) != 0)
            bench_die(prog, "append", rc, st);
    if ((rc = tsagg_flush(st)) != 0 || (rc = tsagg_compact(st, NULL, NULL)) != 0)
        bench_die(prog, "load", rc, st);
    printf("history %" PRIu64 " events\nhistory_load %.1f s\n", history, mono_s() - t0);
    if ((rc = tsagg_store_close(st)) != 0)
        bench_die(prog, "close", rc, NULL);

    double *cum = malloc(merchants * sizeof *cum);
    double acc = 0;
    for (size_t i = 0; i < merchants; i++)
        cum[i] = acc += gagen_merchant_share(hist, i);

    tsagg_maintain_options mo;
    tsagg_maintain_options_init(&mo);
    mo.interval_ms = 200;
    mo.compact_tail_events = compact_events;
    mo.compact_tail_age_ms = 10000;
    mo.archive = 1;
    o.flags = TSAGG_OPEN_WRITE;
    o.sync_mode = TSAGG_SYNC_INTERVAL;
    o.sync_interval_ms = 20;
    o.maintenance = &mo;
    if ((rc = tsagg_store_open(path, &o, &st, err, sizeof err)) != 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, err);
        return 1;
    }
    printf("maintenance_interval %u ms\ncompact_tail_events %" PRIu64 " events\n", mo.interval_ms,
           compact_events);
    double best = 0;
    for (const char *p = rates; *p;) {
        char *end;
        double rate = strtod(p, &end);
        if (end == p || rate <= 0) {
            fprintf(stderr, "%s: bad --rate '%s'\n", prog, p);
            return 2;
        }
        if (run_rate(st, live, hist, cum, merchants, rate, seconds, compact_events) && rate > best)
            best = rate;
        p = *end == ',' ? end + 1 : end;
    }
    printf("highest_rate_held %.0f events/s\n", best);
    if ((rc = tsagg_store_close(st)) != 0)
        bench_die(prog, "close", rc, NULL);
    gagen_free(hist);
    gagen_free(live);
    free(cum);
    if (!keep) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
        if (system(cmd) != 0)
            fprintf(stderr, "%s: could not remove %s\n", prog, path);
    }
    return 0;
}
