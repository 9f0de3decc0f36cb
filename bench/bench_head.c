/*
 * bench_head.c - one merchant's query while a million events of other
 * merchants wait uncompacted in the head, against the same query once
 * everything is compacted.
 *
 *   bench_head [--head N] [--others M] [--days D] [--per-hour K] [--reps R]
 *              [--dir DIR] [--keep] [--no-compact]
 *
 * Builds a store whose merchant 1 has K events an hour (default 40) for D
 * days (default 14), compacted but for its last hour, then appends N events
 * (default 1,000,000) of M other merchants (default 200,000) over that last
 * hour, left in the head. Prints `<name> <value> <unit>` lines:
 *
 *   head_append_rate  appends of the N events (batches of 4096, SYNC_NONE,
 *                     head included) per second
 *   head_bytes_per_event  the head's memory over the events it holds
 *   head_open_ms      opening a read-only handle (it builds its head)
 *   head_p50_us / head_p99_us            merchant 1's hourly count and users
 *                     over the D days: the writer's handle
 *   head_ro_p50_us / head_ro_p99_us      the same on the read-only handle
 *   compacted_p50_us / compacted_p99_us  after compacting everything
 *   head_over_compacted  head_p50 / compacted_p50
 *
 * With --no-compact the store is kept as it is before that compaction (for
 * tsagg-query --repeat on it) and its path printed on stderr; --keep keeps
 * it after.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchutil.h"
#include "head.h" /* tsagg__head_bytes */
#include "tsagg.h"

#define SEC INT64_C(1000000)
#define HOUR (3600 * SEC)
#define DAY (24 * HOUR)

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *PAGES[] = {"/", "/pricing", "/blog", "/blog/post-1", "/docs", "/signup",
                              "/login", "/cart", "/checkout", "/about"};
static const char *COUNTRIES[] = {"US", "DE", "FR", "GB", "JP", "BR", "IN", "CA"};

typedef struct evbuf {
    tsagg_event ev[4096];
    tsagg_attr at[4096][2];
    size_t n;
} evbuf;

static void put(evbuf *b, uint64_t merchant, int64_t ts, uint64_t id)
{
    tsagg_event *e = &b->ev[b->n];
    tsagg_attr *a = b->at[b->n];
    const char *page = PAGES[next_rand() % 10], *country = COUNTRIES[next_rand() % 8];
    a[0] = (tsagg_attr){.key = "page", .key_len = 4, .type = TSAGG_STR,
                        .v.s = {page, (uint32_t)strlen(page)}};
    a[1] = (tsagg_attr){.key = "country", .key_len = 7, .type = TSAGG_STR,
                        .v.s = {country, 2}};
    *e = (tsagg_event){.ts = ts, .merchant = merchant, .event = "page_view", .event_len = 9,
                       .flags = TSAGG_EVENT_HAS_ID, .user = 1 + next_rand() % 5000,
                       .session = 1 + next_rand() % 20000, .id = id, .attrs = a, .nattrs = 2};
    b->n++;
}

static void flush_buf(tsagg_store *st, evbuf *b)
{
    if (b->n == 0)
        return;
    int rc = tsagg_append(st, b->ev, b->n, NULL);
    if (rc != 0)
        bench_die("bench_head", "append", rc, st);
    b->n = 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* p50 and p99 in microseconds of merchant 1's hourly series over [from, to). */
static void latency(tsagg_store *st, int64_t from, int64_t to, int reps, const char *name,
                    double *p50_out)
{
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = 1;
    q.from = from;
    q.to = to;
    q.bucket = TSAGG_BUCKET_HOUR;
    tsagg_metric m[2] = {{TSAGG_METRIC_COUNT, NULL}, {TSAGG_METRIC_USERS, NULL}};
    q.metrics = m;
    q.nmetrics = 2;
    tsagg_result *r;
    if (tsagg_result_create(&r) != 0)
        bench_die("bench_head", "result", -1, NULL);
    double *t = malloc((size_t)reps * sizeof *t), total = 0;
    for (int i = 0; i < reps; i++) {
        double t0 = mono_s();
        int rc = tsagg_query_run(st, &q, r);
        t[i] = (mono_s() - t0) * 1e6;
        if (rc != 0)
            bench_die("bench_head", "query", rc, st);
    }
    const double *c = tsagg_result_values(r, 0);
    for (size_t i = 0; i < tsagg_result_rows(r); i++)
        total += c[i];
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    printf("%s_events %.0f count\n%s_p50_us %.1f us\n%s_p99_us %.1f us\n", name, total, name,
           t[reps / 2], name, t[reps * 99 / 100]);
    fflush(stdout);
    *p50_out = t[reps / 2];
    free(t);
    tsagg_result_free(r);
}

int main(int argc, char **argv)
{
    uint64_t head = 1000000, others = 200000;
    int days = 14, per_hour = 40, reps = 300, keep = 0, no_compact = 0;
    const char *base = "/tmp";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--head") && i + 1 < argc)
            head = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--others") && i + 1 < argc)
            others = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--days") && i + 1 < argc)
            days = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--per-hour") && i + 1 < argc)
            per_hour = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            base = argv[++i];
        else if (!strcmp(argv[i], "--keep"))
            keep = 1;
        else if (!strcmp(argv[i], "--no-compact"))
            no_compact = keep = 1;
        else {
            fprintf(stderr, "usage: bench_head [--head N] [--others M] [--days D] "
                            "[--per-hour K] [--reps R] [--dir DIR] [--keep] [--no-compact]\n");
            return 2;
        }
    }
    if (days < 1 || per_hour < 1 || reps < 100 || others < 1) {
        fprintf(stderr, "bench_head: --days, --per-hour, --others >= 1, --reps >= 100\n");
        return 2;
    }
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/tsagg-bench-head-XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("bench_head: mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/store", dir);
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.sync_mode = TSAGG_SYNC_NONE;
    o.head_max_bytes = 1ull << 30; /* the head is what is measured: no inline compaction */
    tsagg_store *st;
    char err[512];
    int rc = tsagg_store_open(path, &o, &st, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "bench_head: open: %s: %s\n", tsagg_strerror(rc), err);
        return 1;
    }
    /* Hour-aligned, ending an hour ago: the last hour is the head's. */
    int64_t now = (int64_t)time(NULL) * SEC;
    int64_t end = now / HOUR * HOUR, from = end - (int64_t)days * DAY, last = end - HOUR;
    static evbuf b;
    uint64_t id = 1;
    for (int64_t h = from; h < last; h += HOUR)
        for (int k = 0; k < per_hour; k++) {
            put(&b, 1, h + (int64_t)(next_rand() % (uint64_t)HOUR), id++);
            if (b.n == 4096)
                flush_buf(st, &b);
        }
    flush_buf(st, &b);
    if ((rc = tsagg_compact(st, NULL, NULL)) != 0 || (rc = tsagg_merge(st, NULL, NULL)) != 0)
        bench_die("bench_head", "compact", rc, st);
    /* The head: merchant 1's last hour among N events of M others. */
    double t0 = mono_s();
    uint64_t mine = 0;
    for (uint64_t i = 0; i < head; i++) {
        uint64_t merchant = 2 + next_rand() % others;
        if (i % (head / (uint64_t)per_hour + 1) == 0) {
            merchant = 1;
            mine++;
        }
        put(&b, merchant, last + (int64_t)(next_rand() % (uint64_t)HOUR), id++);
        if (b.n == 4096)
            flush_buf(st, &b);
    }
    flush_buf(st, &b);
    if ((rc = tsagg_flush(st)) != 0)
        bench_die("bench_head", "flush", rc, st);
    double el = mono_s() - t0;
    printf("head_events %" PRIu64 " count\nhead_merchant_events %" PRIu64 " count\n"
           "head_append_rate %.0f events/s\nhead_bytes_per_event %.1f bytes\n",
           head, mine, (double)head / el, (double)tsagg__head_bytes(st) / (double)head);
    fflush(stdout);
    double p_head, p_ro, p_compacted;
    latency(st, from, end, reps, "head", &p_head);
    tsagg_options ro;
    tsagg_options_init(&ro);
    tsagg_store *rst;
    t0 = mono_s();
    if ((rc = tsagg_store_open(path, &ro, &rst, err, sizeof err)) != 0) {
        fprintf(stderr, "bench_head: read-only open: %s: %s\n", tsagg_strerror(rc), err);
        return 1;
    }
    printf("head_open_ms %.1f ms\n", (mono_s() - t0) * 1e3);
    latency(rst, from, end, reps, "head_ro", &p_ro);
    tsagg_store_close(rst);
    if (no_compact) {
        tsagg_store_close(st);
        fprintf(stderr, "bench_head: store kept in %s, from %" PRId64 " to %" PRId64 "\n", path,
                from, end);
        return 0;
    }
    if ((rc = tsagg_compact(st, NULL, NULL)) != 0 || (rc = tsagg_merge(st, NULL, NULL)) != 0)
        bench_die("bench_head", "compact", rc, st);
    latency(st, from, end, reps, "compacted", &p_compacted);
    printf("head_over_compacted %.2f ratio\nhead_ro_over_compacted %.2f ratio\n",
           p_head / p_compacted, p_ro / p_compacted);
    if ((rc = tsagg_store_close(st)) != 0)
        bench_die("bench_head", "close", rc, NULL);
    if (!keep) {
        char cmd[4300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_head: could not remove %s\n", dir);
    } else {
        fprintf(stderr, "bench_head: store kept in %s\n", path);
    }
    return 0;
}
