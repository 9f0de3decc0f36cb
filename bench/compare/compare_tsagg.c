/*
 * compare_tsagg.c - the libtsagg side of bench/compare/run.sh where a
 * process per query would be unfair, and the merchants of the query set.
 *
 *   compare_tsagg rank [-m M] [-s SEED] RANK...
 *       the merchant ids of the given traffic ranks (0: the largest) of the
 *       generator's stream with M merchants and SEED, one per line
 *   compare_tsagg draw [-m M] [-s SEED] [--draw-seed X] K
 *       K merchant ids drawn with replacement by expected traffic share
 *   compare_tsagg dashboard [--approx] [--out FILE] STORE MERCHANTS FROM TO WEEK
 *       for every merchant id in the file MERCHANTS, one after the other:
 *       Q1 hourly page views [FROM, TO), Q2 daily unique users [FROM, TO)
 *       (exact, or the HyperLogLog rollups with --approx), Q3 top-10 pages
 *       in [WEEK, TO) with country = US, Q5 daily revenue of purchases
 *       [FROM, TO); times in µs since the epoch. Prints "queries N",
 *       "seconds S", "qps X" on stdout; with --out, writes the results as
 *       "merchant,Qn,key,value" lines (bucket starts in RFC 3339 UTC, sums
 *       in cents, rows whose value is 0 left out) for the cross-check.
 *
 * The queries are the ones run.sh gives tsagg-query for Q1, Q2, Q3 and Q5;
 * the SQL systems run theirs through sqlbench.mjs the same way: one client,
 * one query at a time.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gagen.h"
#include "tsagg.h"

static const char *prog = "compare_tsagg";

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(1);
}

static uint64_t parse_u64(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-')
        die("bad number '%s'", s);
    return (uint64_t)v;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- merchants ------------------------------------------------------------------ */

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int cmd_merchants(int argc, char **argv, int draw)
{
    gagen_config cfg;
    gagen_config_init(&cfg);
    uint64_t draw_seed = 42;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i += 2) {
        if (i + 1 >= argc)
            die("option %s needs a value", argv[i]);
        if (!strcmp(argv[i], "-m"))
            cfg.merchants = (uint32_t)parse_u64(argv[i + 1]);
        else if (!strcmp(argv[i], "-s"))
            cfg.seed = parse_u64(argv[i + 1]);
        else if (!strcmp(argv[i], "--draw-seed"))
            draw_seed = parse_u64(argv[i + 1]);
        else
            die("unknown option %s", argv[i]);
    }
    if (i >= argc)
        die("%s", draw ? "draw: how many?" : "rank: which ranks?");
    gagen *g = gagen_create(&cfg);
    if (!g)
        die("%s", "bad generator parameters");
    size_t n = gagen_merchant_count(g);
    if (!draw) {
        for (; i < argc; i++) {
            uint64_t id = gagen_merchant_by_rank(g, (size_t)parse_u64(argv[i]));
            if (!id)
                die("rank %s out of range", argv[i]);
            printf("%" PRIu64 "\n", id);
        }
    } else {
        uint64_t k = parse_u64(argv[i]);
        double *cum = malloc(n * sizeof *cum);
        if (!cum)
            die("%s", "out of memory");
        double acc = 0;
        for (size_t r = 0; r < n; r++)
            cum[r] = acc += gagen_merchant_share(g, r);
        for (uint64_t j = 0; j < k; j++) {
            double u = (double)(splitmix(&draw_seed) >> 11) / 9007199254740992.0 * acc;
            size_t lo = 0, hi = n - 1;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (cum[mid] < u)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            printf("%" PRIu64 "\n", gagen_merchant_by_rank(g, lo));
        }
        free(cum);
    }
    gagen_free(g);
    return fflush(stdout) ? 1 : 0;
}

/* ---- the dashboard --------------------------------------------------------------- */

static const char *const US[] = {"US"};
static const char *const PAGE_VIEW[] = {"page_view"};
static const char *const PURCHASE[] = {"purchase"};
static const tsagg_filter F_US = {"country", US, 1};
static const tsagg_filter F_PAGE_VIEW = {"event", PAGE_VIEW, 1};
static const tsagg_filter F_PURCHASE = {"event", PURCHASE, 1};
static const tsagg_metric M_USERS = {TSAGG_METRIC_USERS, NULL};
static const tsagg_metric M_REVENUE = {TSAGG_METRIC_SUM, "value"};

enum { NKINDS = 4 };
static const char *const KIND_NAME[NKINDS] = {"Q1", "Q2", "Q3", "Q5"};

static void make_query(int kind, uint64_t m, int64_t from, int64_t to, int64_t week,
                       int approx, tsagg_query *q)
{
    tsagg_query_init(q);
    q->merchant = m;
    q->from = from;
    q->to = to;
    switch (kind) {
    case 0: /* Q1 */
        q->bucket = TSAGG_BUCKET_HOUR;
        q->filters = &F_PAGE_VIEW;
        q->nfilters = 1;
        break;
    case 1: /* Q2 */
        q->bucket = TSAGG_BUCKET_DAY;
        q->metrics = &M_USERS;
        q->nmetrics = 1;
        if (!approx)
            q->flags |= TSAGG_QUERY_EXACT;
        break;
    case 2: /* Q3 */
        q->from = week;
        q->bucket = TSAGG_BUCKET_TOTAL;
        q->filters = &F_US;
        q->nfilters = 1;
        q->group_by = "page";
        q->top = 10;
        break;
    default: /* Q5 */
        q->bucket = TSAGG_BUCKET_DAY;
        q->metrics = &M_REVENUE;
        q->nmetrics = 1;
        q->filters = &F_PURCHASE;
        q->nfilters = 1;
        break;
    }
}

static void print_rows(FILE *f, uint64_t m, int kind, const tsagg_result *r)
{
    size_t rows = tsagg_result_rows(r);
    const int64_t *t = tsagg_result_times(r);
    const double *v = tsagg_result_values(r, 0);
    for (size_t i = 0; i < rows; i++) {
        if (isnan(v[i]))
            continue;
        long long x = kind == 3 ? llround(v[i] * 100) : llround(v[i]);
        if (x == 0)
            continue;
        fprintf(f, "%" PRIu64 ",%s,", m, KIND_NAME[kind]);
        if (kind == 2) {
            fprintf(f, "%s", tsagg_result_group(r, i));
        } else {
            time_t s = (time_t)(t[i] / 1000000);
            struct tm tm;
            char buf[32];
            gmtime_r(&s, &tm);
            strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
            fputs(buf, f);
        }
        fprintf(f, ",%lld\n", x);
    }
}

static int cmd_dashboard(int argc, char **argv)
{
    const char *out = NULL;
    int approx = 0, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--approx"))
            approx = 1;
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            out = argv[++i];
        else
            die("unknown option %s", argv[i]);
    }
    if (argc - i != 5)
        die("%s", "dashboard: STORE MERCHANTS FROM TO WEEK");
    const char *path = argv[i];
    int64_t from = (int64_t)parse_u64(argv[i + 2]), to = (int64_t)parse_u64(argv[i + 3]),
            week = (int64_t)parse_u64(argv[i + 4]);

    FILE *mf = fopen(argv[i + 1], "r");
    if (!mf)
        die("cannot open %s", argv[i + 1]);
    size_t n = 0, cap = 1024;
    uint64_t *ms = malloc(cap * sizeof *ms);
    char line[64];
    while (ms && fgets(line, sizeof line, mf)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0])
            continue;
        if (n == cap)
            ms = realloc(ms, (cap *= 2) * sizeof *ms);
        if (ms)
            ms[n++] = parse_u64(line);
    }
    fclose(mf);
    if (!ms)
        die("%s", "out of memory");

    /* The queries are built before the clock starts. */
    tsagg_query *qs = malloc(n * NKINDS * sizeof *qs);
    if (!qs)
        die("%s", "out of memory");
    for (size_t j = 0; j < n; j++)
        for (int k = 0; k < NKINDS; k++)
            make_query(k, ms[j], from, to, week, approx, &qs[j * NKINDS + (size_t)k]);

    char err[512] = "";
    tsagg_store *st;
    int rc = tsagg_store_open(path, NULL, &st, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "%s: %s: %s %s\n", prog, path, tsagg_strerror(rc), err);
        return 1;
    }
    tsagg_result *res;
    if (tsagg_result_create(&res) != 0)
        die("%s", "out of memory");
    /* Results are kept in memory while timing and written at the end. */
    char *buf = NULL;
    size_t buflen = 0;
    FILE *f = open_memstream(&buf, &buflen);
    if (!f)
        die("%s", "out of memory");

    double t0 = mono_s();
    for (size_t j = 0; j < n * NKINDS; j++) {
        rc = tsagg_query_run(st, &qs[j], res);
        if (rc != 0) {
            tsagg_store_errmsg(st, err, sizeof err);
            fprintf(stderr, "%s: query %s of merchant %" PRIu64 ": %s %s\n", prog,
                    KIND_NAME[j % NKINDS], ms[j / NKINDS], tsagg_strerror(rc), err);
            return 1;
        }
        print_rows(f, ms[j / NKINDS], (int)(j % NKINDS), res);
    }
    double s = mono_s() - t0;
    fclose(f);

    if (out) {
        FILE *o = fopen(out, "w");
        if (!o || fwrite(buf, 1, buflen, o) != buflen || fclose(o) != 0)
            die("cannot write %s", out);
    }
    printf("queries %zu\nseconds %.3f\nqps %.1f\n", n * NKINDS, s, (double)(n * NKINDS) / s);
    free(buf);
    free(qs);
    free(ms);
    tsagg_result_free(res);
    tsagg_store_close(st);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "rank"))
        return cmd_merchants(argc - 1, argv + 1, 0);
    if (argc >= 2 && !strcmp(argv[1], "draw"))
        return cmd_merchants(argc - 1, argv + 1, 1);
    if (argc >= 2 && !strcmp(argv[1], "dashboard"))
        return cmd_dashboard(argc - 1, argv + 1);
    fprintf(stderr, "usage: %s rank|draw|dashboard ... (see the top of compare_tsagg.c)\n", prog);
    return 2;
}
