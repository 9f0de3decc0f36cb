/*
 * tsagg-query - time-series questions about a store, from the shell.
 *
 *   tsagg-query STORE (--merchant N | --all-merchants) --from T --to T
 *               [--bucket B] [--metric M]... [--event NAME]...
 *               [--where DIM=VALUE]... [--group-by DIM] [--top N] [--tz ZONE]
 *               [--exact] [--no-tail] [--format table|csv|json] [--repeat N]
 *
 * This file reads the command line, runs the query (N times with --repeat,
 * timing only tsagg_query_run) and hands the result to output.c.
 * Exit codes: 0 done, 1 done but the log tail was read only up to damage
 * (a warning says where), 2 bad option or query, 3 the store failed.
 * docs/tsagg-query.md.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "numtext.h"
#include "qtool.h"

static const char prog[] = "tsagg-query";

static const char usage_text[] =
    "Usage: tsagg-query STORE (--merchant N | --all-merchants) --from TIME --to TIME [OPTION]...\n"
    "Answer a time-series question about the events in STORE (opened read-only).\n"
    "\n"
    "  -m, --merchant N       the merchant to ask about (once)\n"
    "      --all-merchants    ask across every merchant instead\n"
    "      --from TIME        start of the range, included\n"
    "      --to TIME          end of the range, excluded\n"
    "  -b, --bucket B         minute, hour (default), day, week, month or total\n"
    "  -M, --metric M         count (default), users, sessions, sum:FIELD, avg:FIELD,\n"
    "                         min:FIELD, max:FIELD, visits, bounce_rate,\n"
    "                         visit_duration, pages_per_visit, new_users or\n"
    "                         returning_users; repeat for more columns\n"
    "  -e, --event NAME       only events named NAME; repeat for several\n"
    "  -w, --where DIM=VALUE  only events whose dimension DIM is VALUE; DIM=V1,V2 or a\n"
    "                         repeated DIM for several (\\, is a literal comma)\n"
    "  -g, --group-by DIM     one row per value of DIM (a dimension or event; once);\n"
    "                         entry_page or exit_page with visit metrics\n"
    "  -n, --top N            with --group-by: the N values first by the first metric\n"
    "      --tz ZONE          IANA time zone for day, week and month buckets and for\n"
    "                         the times printed (default UTC)\n"
    "      --exact            count users and sessions exactly instead of estimating\n"
    "      --no-tail          leave out events not yet compacted\n"
    "  -f, --format FMT       table (default), csv or json\n"
    "      --repeat N         run the query N times; print p50_ms, p99_ms, first_ms\n"
    "                         and runs on stderr, then the result once\n"
    "  -h, --help             show this help\n"
    "  -V, --version          show the version\n"
    "\n"
    "TIME is RFC 3339 (2026-11-01T13:00:00Z, 2026-11-01T18:30:00+05:30), a date\n"
    "(2026-11-01, midnight UTC), now, now-24h, -7d (units s, m, h, d, w) or\n"
    "@SECONDS since the epoch.\n"
    "\n"
    "Examples:\n"
    "  tsagg-query /data/store -m 42 --from -7d --to now --bucket day --metric users\n"
    "  tsagg-query /data/store -m 42 --from 2026-11-01 --to 2026-11-08 -b total \\\n"
    "      -e page_view -g page -n 10 -f csv\n"
    "  tsagg-query /data/store -m 42 --from 2026-10-01 --to 2026-11-01 -b day \\\n"
    "      --tz Asia/Kolkata -M count -M sum:value -w country=IN,US\n"
    "  tsagg-query /data/store --all-merchants --from now-1h --to now -b minute -f json\n"
    "\n"
    "Exit status: 0 success, 1 a partial answer (the log is damaged; a warning on\n"
    "stderr says where), 2 bad option or query, 3 the store failed.\n";

enum {
    OPT_ALL = 256, OPT_FROM, OPT_TO, OPT_TZ, OPT_EXACT, OPT_NO_TAIL, OPT_REPEAT,
};

/* Parse the command line into a; returns -1 when done, else an exit code. */
static int parse_args(int argc, char **argv, qt_args *a)
{
    static const struct option longopts[] = {
        {"merchant", required_argument, NULL, 'm'},
        {"all-merchants", no_argument, NULL, OPT_ALL},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"bucket", required_argument, NULL, 'b'},
        {"metric", required_argument, NULL, 'M'},
        {"event", required_argument, NULL, 'e'},
        {"where", required_argument, NULL, 'w'},
        {"group-by", required_argument, NULL, 'g'},
        {"top", required_argument, NULL, 'n'},
        {"tz", required_argument, NULL, OPT_TZ},
        {"exact", no_argument, NULL, OPT_EXACT},
        {"no-tail", no_argument, NULL, OPT_NO_TAIL},
        {"format", required_argument, NULL, 'f'},
        {"repeat", required_argument, NULL, OPT_REPEAT},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    char err[1280];
    uint64_t u;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:b:M:e:w:g:n:f:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'm':
            /* --event and --where repeat as IN lists; a repeated --merchant
             * would read as a list too, so it is refused, not overridden. */
            if (a->have_merchant)
                return cli_usage_error(prog,
                                       "--merchant given twice ('%s' after %llu): a query is "
                                       "about one merchant or --all-merchants",
                                       optarg, (unsigned long long)a->merchant);
            if (!cli_parse_u64(optarg, &a->merchant))
                return cli_usage_error(prog, "bad --merchant '%s' (a merchant id)", optarg);
            a->have_merchant = 1;
            break;
        case OPT_ALL:
            a->all_merchants = 1;
            break;
        case OPT_FROM:
            a->from_arg = optarg;
            break;
        case OPT_TO:
            a->to_arg = optarg;
            break;
        case 'b':
            if (qt_parse_bucket(optarg, &a->bucket) != 0)
                return cli_usage_error(
                    prog, "bad --bucket '%s' (minute, hour, day, week, month or total)", optarg);
            break;
        case 'M':
            if (qt_add_metric(a, optarg, err, sizeof err) != 0)
                return cli_usage_error(prog, "%s", err);
            break;
        case 'e':
            if (qt_add_filter(a, "--event", "event", optarg, 0, err, sizeof err) != 0)
                return cli_usage_error(prog, "%s", err);
            break;
        case 'w':
            if (qt_add_where(a, optarg, err, sizeof err) != 0)
                return cli_usage_error(prog, "%s", err);
            break;
        case 'g':
            if (a->group_by)
                return cli_usage_error(prog,
                                       "--group-by given twice ('%s' after '%s'): a query "
                                       "groups by one field",
                                       optarg, a->group_by);
            a->group_by = optarg;
            break;
        case 'n':
            if (!cli_parse_u64(optarg, &u) || u > UINT32_MAX)
                return cli_usage_error(prog, "bad --top '%s' (a count; 0 for all)", optarg);
            a->top = (uint32_t)u;
            a->have_top = 1;
            break;
        case OPT_TZ:
            a->tz = optarg;
            break;
        case OPT_EXACT:
            a->exact = 1;
            break;
        case OPT_NO_TAIL:
            a->no_tail = 1;
            break;
        case 'f':
            if (strcmp(optarg, "table") == 0)
                a->format = QT_TABLE;
            else if (strcmp(optarg, "csv") == 0)
                a->format = QT_CSV;
            else if (strcmp(optarg, "json") == 0)
                a->format = QT_JSON;
            else
                return cli_usage_error(prog, "bad --format '%s' (table, csv or json)", optarg);
            break;
        case OPT_REPEAT:
            if (!cli_parse_u64(optarg, &a->repeat) || a->repeat < 1 || a->repeat > 10000000)
                return cli_usage_error(prog, "bad --repeat '%s' (1..10000000)", optarg);
            break;
        case 'h':
            fputs(usage_text, stdout);
            return CLI_EXIT_OK;
        case 'V':
            return cli_print_version(prog);
        case ':':
            return cli_usage_error(prog, "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error(prog, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return cli_usage_error(prog, "no STORE given");
    if (argc - optind > 1)
        return cli_usage_error(prog, "unexpected argument '%s'", argv[optind + 1]);
    a->store = argv[optind];
    if (a->have_merchant == a->all_merchants)
        return cli_usage_error(prog, a->all_merchants
                                         ? "--merchant and --all-merchants exclude each other"
                                         : "--merchant N or --all-merchants is required");
    if (!a->from_arg || !a->to_arg)
        return cli_usage_error(prog, "--from and --to are required");
    if (a->have_top && !a->group_by)
        return cli_usage_error(prog, "--top needs --group-by");
    if (a->nmetrics == 0)
        qt_add_metric(a, "count", err, sizeof err);

    /* One "now" for both ends, on a whole second so that relative ranges
     * print cleanly. */
    int64_t now = cli_now_us() / 1000000 * 1000000;
    if (!cli_parse_time(a->from_arg, now, &a->from))
        return cli_usage_error(prog, "bad --from '%s' (RFC 3339, a date, now-24h or -7d)",
                               a->from_arg);
    if (!cli_parse_time(a->to_arg, now, &a->to))
        return cli_usage_error(prog, "bad --to '%s' (RFC 3339, a date, now-24h or -7d)",
                               a->to_arg);
    if (a->from == a->to)
        return cli_usage_error(prog, "empty time range: --from equals --to");
    if (a->from > a->to)
        return cli_usage_error(prog, "reversed time range: --from is after --to");
    return -1;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* Nearest-rank percentile (pct of 100) of sorted ms[0..n), in integers so
 * that p99 of 100 runs is the 99th, not the slowest. */
static double percentile(const double *ms, size_t n, size_t pct)
{
    size_t rank = (n * pct + 99) / 100;
    return ms[rank ? rank - 1 : 0];
}

static double elapsed_ms(const struct timespec *t0, const struct timespec *t1)
{
    return (double)(t1->tv_sec - t0->tv_sec) * 1e3 + (double)(t1->tv_nsec - t0->tv_nsec) / 1e6;
}

/*
 * Run q once, or a->repeat times on the same result (the benchmark's warm
 * series): only the tsagg_query_run calls are timed. p50/p99 are over the
 * warm runs (2..N), or the one run when N is 1.
 */
static int run_query(tsagg_store *st, const tsagg_query *q, const qt_args *a, tsagg_result *r)
{
    if (!a->repeat)
        return tsagg_query_run(st, q, r);
    double *ms = malloc(a->repeat * sizeof *ms);
    if (!ms)
        return -ENOMEM;
    int rc = 0;
    for (uint64_t i = 0; i < a->repeat && rc == 0; i++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = tsagg_query_run(st, q, r);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        ms[i] = elapsed_ms(&t0, &t1);
    }
    if (rc == 0) {
        double first = ms[0];
        size_t n = a->repeat > 1 ? (size_t)a->repeat - 1 : 1;
        double *warm = a->repeat > 1 ? ms + 1 : ms;
        qsort(warm, n, sizeof *warm, cmp_double);
        char line[160];
        tsagg__num_format(line, sizeof line, "p50_ms %.3f p99_ms %.3f first_ms %.3f runs %llu\n",
                          percentile(warm, n, 50), percentile(warm, n, 99), first,
                          (unsigned long long)a->repeat);
        fputs(line, stderr);
    }
    free(ms);
    return rc;
}

static int query_main(qt_args *a)
{
    tsagg_store *st;
    if (cli_open_store(prog, a->store, NULL, &st) != 0)
        return CLI_EXIT_FAILURE;
    char err[1280];
    if (qt_check_schema(a, tsagg_store_schema(st), err, sizeof err) != 0) {
        tsagg_store_close(st);
        cli_error(prog, "%s", err);
        return CLI_EXIT_USAGE;
    }

    tsagg_filter filters[TSAGG_QUERY_MAX_FILTERS];
    for (uint32_t i = 0; i < a->nfilters; i++)
        filters[i] = (tsagg_filter){a->filters[i].field,
                                    (const char *const *)a->filters[i].values,
                                    a->filters[i].nvalues};
    tsagg_query q;
    tsagg_query_init(&q);
    q.flags = (a->all_merchants ? TSAGG_QUERY_ALL_MERCHANTS : 0) |
              (a->exact ? TSAGG_QUERY_EXACT : 0) | (a->no_tail ? TSAGG_QUERY_NO_TAIL : 0);
    q.merchant = a->merchant;
    q.from = a->from;
    q.to = a->to;
    q.bucket = a->bucket;
    q.tz = a->tz;
    q.metrics = a->metrics;
    q.nmetrics = a->nmetrics;
    q.filters = filters;
    q.nfilters = a->nfilters;
    q.group_by = a->group_by;
    q.top = a->top;

    tsagg_result *r = NULL;
    int rc = tsagg_result_create(&r);
    if (rc == 0)
        rc = run_query(st, &q, a, r);
    int code = CLI_EXIT_OK;
    if (rc == TSAGG_EARG || rc == TSAGG_ESCHEMA) {
        /* The question was wrong (unknown zone, too many buckets...): the
         * library's detail says what, and it is the user's to fix. */
        tsagg_store_errmsg(st, err, sizeof err);
        cli_error(prog, "%s", err[0] ? err : tsagg_strerror(rc));
        code = CLI_EXIT_USAGE;
    } else if (rc != 0) {
        cli_report(prog, st, "query", rc);
        code = CLI_EXIT_FAILURE;
    } else if (qt_tz_use(a->tz) != 0) {
        cli_error(prog, "cannot load time zone '%s' for printing times", a->tz);
        code = CLI_EXIT_FAILURE;
    } else if (qt_write_result(stdout, a, r) != 0) {
        cli_error(prog, "write error: %s", strerror(errno));
        code = CLI_EXIT_FAILURE;
    } else {
        if (a->format == QT_CSV && tsagg_result_approximate(r)) {
            /* The table says so below it and JSON in "approximate"; a CSV
             * has no place a reader would not take for data. */
            cli_error(prog, "note: users and sessions are estimates (HyperLogLog, standard "
                            "error 0.81%%); --exact counts them exactly");
        }
        /* The answer stands for what could be read: said on stderr in
         * every format (stdout keeps its shape), and by the exit status
         * for scripts. */
        const char *warning = tsagg_result_warning(r);
        if (warning) {
            cli_error(prog, "warning: partial answer: %s (tsagg-verify %s says what to do)",
                      warning, a->store);
            code = CLI_EXIT_PARTIAL;
        }
    }
    tsagg_result_free(r);
    tsagg_store_close(st);
    return code;
}

int main(int argc, char **argv)
{
    static char outbuf[1 << 16];
    qt_args a;
    memset(&a, 0, sizeof a);
    a.bucket = TSAGG_BUCKET_HOUR;
    a.format = QT_TABLE;
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    int code = parse_args(argc, argv, &a);
    if (code < 0)
        code = query_main(&a);
    qt_args_free(&a);
    if (fflush(stdout) != 0 && code == CLI_EXIT_OK) {
        cli_error(prog, "write error: %s", strerror(errno));
        code = CLI_EXIT_FAILURE;
    }
    return code;
}
