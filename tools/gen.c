/*
 * tsagg-gen - print generated GA-like events as NDJSON or CSV.
 *
 *   tsagg-gen [--events N] [--days D] [--merchants M] [--seed S]
 *             [--start RFC3339] [--format ndjson|csv] ...
 *
 * Exit codes (tools/common/cli.h): 0 done, 2 usage, 3 write error.
 * docs/tsagg-gen.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "gagen.h"
#include "numtext.h"
#include "tsagg_version.h"

#define OUT_BUF (1u << 20)
#define BATCH 4096

static const char prog[] = "tsagg-gen";

static const char usage_text[] =
    "Usage: tsagg-gen [OPTION]...\n"
    "Print deterministic Google-Analytics-like events to stdout, one per line.\n"
    "\n"
    "  -n, --events N       number of events, duplicates included (default 1000000)\n"
    "  -d, --days D         days of traffic (default 30)\n"
    "  -m, --merchants M    number of merchants (default 1000)\n"
    "  -s, --seed S         random seed (default 1)\n"
    "      --start TIME     start, RFC 3339 (default 2026-10-01T00:00:00Z)\n"
    "  -f, --format FMT     ndjson (default), csv (with a header row), or none\n"
    "                       (generate and discard: the generator's own speed)\n"
    "      --zipf X         merchant traffic skew, 0..4 (default 1.1)\n"
    "      --late F         share of late events, 0..1 (default 0.01)\n"
    "      --dup F          share of duplicate events, 0..1 (default 0.005)\n"
    "      --extra F        share of sessions with utm_campaign (default 0.02)\n"
    "      --random-ids     event ids look random instead of counting up\n"
    "      --stats          print the stream's counts and speed to stderr\n"
    "      --top-merchants N  print the N merchants with the most traffic (CSV:\n"
    "                       rank,merchant,share,utc_offset_min) instead of events\n"
    "  -h, --help           show this help\n"
    "  -V, --version        show the version\n"
    "\n"
    "Exit status: 0 success, 2 usage error, 3 write error.\n";

/* A share 0..1. */
static int parse_fraction(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = tsagg__num_strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0.0 && v <= 1.0))
        return 0;
    *out = v;
    return 1;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = tsagg__num_strtod(s, &end);
    if (errno || end == s || *end)
        return 0;
    *out = v;
    return 1;
}

enum { OPT_START = 256, OPT_ZIPF, OPT_LATE, OPT_DUP, OPT_EXTRA, OPT_RANDOM_IDS, OPT_STATS,
       OPT_TOP_MERCHANTS };

enum gen_format { FORMAT_NDJSON, FORMAT_CSV, FORMAT_NONE };

/* The command line. */
typedef struct gen_args {
    gagen_config cfg;
    enum gen_format format;
    int stats;
    uint64_t top_merchants; /* 0: print events */
} gen_args;

/* Fill a from the command line: -1 to go on, else the exit code (after
 * --help, --version or a usage error). */
static int parse_args(int argc, char **argv, gen_args *a)
{
    static const struct option longopts[] = {
        { "events", required_argument, NULL, 'n' },
        { "days", required_argument, NULL, 'd' },
        { "merchants", required_argument, NULL, 'm' },
        { "seed", required_argument, NULL, 's' },
        { "start", required_argument, NULL, OPT_START },
        { "format", required_argument, NULL, 'f' },
        { "zipf", required_argument, NULL, OPT_ZIPF },
        { "late", required_argument, NULL, OPT_LATE },
        { "dup", required_argument, NULL, OPT_DUP },
        { "extra", required_argument, NULL, OPT_EXTRA },
        { "random-ids", no_argument, NULL, OPT_RANDOM_IDS },
        { "stats", no_argument, NULL, OPT_STATS },
        { "top-merchants", required_argument, NULL, OPT_TOP_MERCHANTS },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    gagen_config *cfg = &a->cfg;
    uint64_t u;
    int c;
    gagen_config_init(cfg);
    a->format = FORMAT_NDJSON;
    a->stats = 0;
    a->top_merchants = 0;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":n:d:m:s:f:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (!cli_parse_u64(optarg, &cfg->events))
                return cli_usage_error(prog, "bad --events '%s'", optarg);
            break;
        case 'd':
            if (!cli_parse_u64(optarg, &u) || u < 1 || u > GAGEN_DAYS_MAX)
                return cli_usage_error(prog, "bad --days '%s' (1..3660)", optarg);
            cfg->days = (uint32_t)u;
            break;
        case 'm':
            if (!cli_parse_u64(optarg, &u) || u < 1 || u > GAGEN_MERCHANTS_MAX)
                return cli_usage_error(prog, "bad --merchants '%s' (1..16777216)", optarg);
            cfg->merchants = (uint32_t)u;
            break;
        case 's':
            if (!cli_parse_u64(optarg, &cfg->seed))
                return cli_usage_error(prog, "bad --seed '%s'", optarg);
            break;
        case OPT_START:
            if (gagen_parse_ts(optarg, &cfg->start_us) != 0)
                return cli_usage_error(prog,
                                       "bad --start '%s' (RFC 3339, e.g. 2026-10-01T00:00:00Z)",
                                       optarg);
            break;
        case 'f':
            if (strcmp(optarg, "csv") == 0)
                a->format = FORMAT_CSV;
            else if (strcmp(optarg, "ndjson") == 0)
                a->format = FORMAT_NDJSON;
            else if (strcmp(optarg, "none") == 0)
                a->format = FORMAT_NONE;
            else
                return cli_usage_error(prog, "bad --format '%s' (ndjson, csv or none)", optarg);
            break;
        case OPT_ZIPF:
            if (!parse_double(optarg, &cfg->zipf_s) || !(cfg->zipf_s >= 0 && cfg->zipf_s <= 4))
                return cli_usage_error(prog, "bad --zipf '%s' (0..4)", optarg);
            break;
        case OPT_LATE:
            if (!parse_fraction(optarg, &cfg->late_fraction))
                return cli_usage_error(prog, "bad --late '%s' (0..1)", optarg);
            break;
        case OPT_DUP:
            if (!parse_fraction(optarg, &cfg->dup_fraction))
                return cli_usage_error(prog, "bad --dup '%s' (0..1)", optarg);
            break;
        case OPT_EXTRA:
            if (!parse_fraction(optarg, &cfg->extra_fraction))
                return cli_usage_error(prog, "bad --extra '%s' (0..1)", optarg);
            break;
        case OPT_RANDOM_IDS:
            cfg->flags |= GAGEN_RANDOM_IDS;
            break;
        case OPT_STATS:
            a->stats = 1;
            break;
        case OPT_TOP_MERCHANTS:
            if (!cli_parse_u64(optarg, &a->top_merchants) || a->top_merchants < 1)
                return cli_usage_error(prog, "bad --top-merchants '%s'", optarg);
            break;
        case 'h':
            fputs(usage_text, stdout);
            return CLI_EXIT_OK;
        case 'V':
            printf("%s %s\n", prog, TSAGG_VERSION_STRING);
            return CLI_EXIT_OK;
        case ':':
            return cli_usage_error(prog, "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error(prog, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
    if (cfg->late_fraction + cfg->dup_fraction > 1.0)
        return cli_usage_error(prog, "--late plus --dup exceeds 1");
    return -1;
}

/* The generator for a's stream, or NULL after saying why (*code: the exit
 * code). */
static gagen *create_generator(const gen_args *a, int *code)
{
    gagen *g = gagen_create(&a->cfg);
    if (g)
        return g;
    if (errno == EINVAL) {
        *code = cli_usage_error(prog, "--start and --days reach outside years 0001..9999");
    } else {
        cli_error(prog, "%s", strerror(errno));
        *code = CLI_EXIT_FAILURE;
    }
    return NULL;
}

/* The stream's merchants by expected traffic, instead of events: which
 * merchant ids to ask about. */
static void print_top_merchants(gagen *g, uint64_t top)
{
    size_t n = gagen_merchant_count(g);
    printf("rank,merchant,share,utc_offset_min\n");
    for (size_t r = 0; r < n && r < top; r++) {
        uint64_t m = gagen_merchant_by_rank(g, r);
        char line[96];
        tsagg__num_format(line, sizeof line, "%zu,%" PRIu64 ",%.6f,%d\n", r + 1, m,
                          gagen_merchant_share(g, r), gagen_merchant_utc_offset(g, m));
        fputs(line, stdout);
    }
}

/* The events of g in a's format to stdout, through one large buffer:
 * CLI_EXIT_OK, or CLI_EXIT_FAILURE after saying why. A failed write is
 * left to the caller's final flush to report. */
static int write_events(gagen *g, enum gen_format format)
{
    char *buf = malloc(OUT_BUF);
    tsagg_event *batch = malloc(BATCH * sizeof *batch);
    int code = CLI_EXIT_OK;
    size_t len = 0, n;
    if (!buf || !batch) {
        cli_error(prog, "out of memory");
        code = CLI_EXIT_FAILURE;
        goto done;
    }
    if (format == FORMAT_CSV) {
        const char *h = gagen_csv_header();
        len = strlen(h);
        memcpy(buf, h, len);
    }
    while (code == CLI_EXIT_OK && (n = gagen_next(g, batch, BATCH)) > 0) {
        if (format == FORMAT_NONE)
            continue;
        const gagen_ids *ids = gagen_batch_ids(g);
        for (size_t i = 0; i < n; i++) {
            size_t w;
            if (OUT_BUF - len < GAGEN_LINE_MAX) {
                if (fwrite(buf, 1, len, stdout) != len) {
                    code = CLI_EXIT_FAILURE;
                    break;
                }
                len = 0;
            }
            w = format == FORMAT_CSV
                    ? gagen_format_csv(&batch[i], &ids[i], buf + len, OUT_BUF - len)
                    : gagen_format_ndjson(&batch[i], &ids[i], buf + len, OUT_BUF - len);
            if (!w) { /* cannot happen for generated events */
                cli_error(prog, "event too long to format");
                code = CLI_EXIT_FAILURE;
                break;
            }
            len += w;
        }
    }
    if (code == CLI_EXIT_OK && len && fwrite(buf, 1, len, stdout) != len)
        code = CLI_EXIT_FAILURE;
done:
    free(buf);
    free(batch);
    return code;
}

/* The stream's counts and speed on stderr (--stats). CPU time as well: on
 * a busy machine it is the steadier figure. */
static void print_stats(gagen *g, const struct timespec *t0, const struct timespec *c0)
{
    struct timespec t1, c1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    gagen_stats st;
    double wall = (double)(t1.tv_sec - t0->tv_sec) + (t1.tv_nsec - t0->tv_nsec) * 1e-9;
    double cpu = (double)(c1.tv_sec - c0->tv_sec) + (c1.tv_nsec - c0->tv_nsec) * 1e-9;
    gagen_get_stats(g, &st);
    fprintf(stderr,
            "events %" PRIu64 " late %" PRIu64 " duplicates %" PRIu64 " sessions %" PRIu64
            " users %" PRIu64 "\n"
            "wall %.3f s (%.2f M events/s), cpu %.3f s (%.2f M events/s)\n",
            st.events, st.late, st.duplicates, st.sessions, st.users, wall,
            wall > 0 ? (double)st.events / wall / 1e6 : 0.0, cpu,
            cpu > 0 ? (double)st.events / cpu / 1e6 : 0.0);
}

/* What stdout could not take is a failure (exit 3, docs/tools.md). */
static int finish_stdout(int code)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error(prog, "write error: %s", strerror(errno ? errno : EIO));
        return CLI_EXIT_FAILURE;
    }
    return code;
}

int main(int argc, char **argv)
{
    gen_args a;
    struct timespec t0, c0;
    int code = parse_args(argc, argv, &a);
    if (code >= 0)
        return code;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    gagen *g = create_generator(&a, &code);
    if (!g)
        return code;
    code = CLI_EXIT_OK;
    if (a.top_merchants)
        print_top_merchants(g, a.top_merchants);
    else
        code = write_events(g, a.format);
    code = finish_stdout(code);
    if (a.stats && !a.top_merchants)
        print_stats(g, &t0, &c0);
    gagen_free(g);
    return code;
}
