/*
 * args.c - tsagg-ingest's command line: options, the store, the inputs and
 * their formats, and where rejected lines may go.
 */
#include "args.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "rejects.h"

#define PROG "tsagg-ingest"

static const char usage_text[] =
    "Usage: tsagg-ingest [OPTION]... STORE [FILE]...\n"
    "Load events from FILEs (standard input without FILE, or for -) into the store\n"
    "at STORE, creating it if it does not exist.\n"
    "\n"
    "  -f, --format FMT     ndjson, csv or combined (web server access log); by\n"
    "                       default from each file's name (.ndjson .jsonl .json,\n"
    "                       .csv, .log or access_log); standard input: ndjson\n"
    "  -m, --merchant N     the merchant of access-log input (required for it)\n"
    "  -s, --schema FILE    schema of a new store (default: page, referrer, country,\n"
    "                       device, browser, os / value)\n"
    "      --ts-unit UNIT   unit of integer ts values: s, ms (default) or us\n"
    "      --sync MODE      interval (default: fsync every second), batch (every\n"
    "                       append) or none; all modes fsync once at the end\n"
    "      --rejects FILE   write rejected lines to FILE as they were read (created\n"
    "                       at the first one; never an input or inside the store)\n"
    "      --max-errors N   stop after N rejected lines (exit status 4)\n"
    "      --compact        compact and merge the store after loading\n"
    "      --compact-every DURATION\n"
    "                       also compact and merge while loading, every DURATION\n"
    "                       (90s, 5m, 1h), for an input that does not end\n"
    "      --budget MIB     memory of the compaction before it spills sorted runs\n"
    "                       (default 256)\n"
    "  -q, --quiet          no summary\n"
    "  -v, --verbose        report every rejected line (default: the first 20)\n"
    "  -h, --help           show this help\n"
    "  -V, --version        show the version\n"
    "\n"
    "SIGINT or SIGTERM stops reading: what was read is loaded and flushed, the\n"
    "summary says where to resume, and the process ends by that signal.\n"
    "\n"
    "Exit status: 0 all loaded, 1 some lines rejected, 2 usage error,\n"
    "3 store or file failure, 4 stopped at --max-errors.\n";

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* The format a file's name suggests, or FORMAT_AUTO. */
static enum ingest_format format_of_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (ends_with(base, ".ndjson") || ends_with(base, ".jsonl") || ends_with(base, ".json"))
        return FORMAT_NDJSON;
    if (ends_with(base, ".csv"))
        return FORMAT_CSV;
    if (ends_with(base, ".log") || strstr(base, "access_log") || strstr(base, "access.log"))
        return FORMAT_COMBINED;
    return FORMAT_AUTO;
}

static int parse_format(const char *s, enum ingest_format *out)
{
    static const struct { const char *name; enum ingest_format format; } names[] = {
        {"ndjson", FORMAT_NDJSON}, {"jsonl", FORMAT_NDJSON}, {"csv", FORMAT_CSV},
        {"combined", FORMAT_COMBINED}, {"clf", FORMAT_COMBINED},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].format;
            return 1;
        }
    }
    return 0;
}

enum {
    OPT_TS_UNIT = 256, OPT_SYNC, OPT_REJECTS, OPT_MAX_ERRORS, OPT_COMPACT, OPT_COMPACT_EVERY,
    OPT_BUDGET
};

/* Each input with the format --format gives, or its name suggests (standard
 * input: NDJSON); every format settled before anything is written. */
static int settle_inputs(ingest_args *a, enum ingest_format format, char **paths, size_t npaths)
{
    a->ninputs = npaths ? npaths : 1;
    a->inputs = calloc(a->ninputs, sizeof *a->inputs);
    if (!a->inputs) {
        cli_error(PROG, "out of memory");
        return CLI_EXIT_FAILURE;
    }
    int need_merchant = 0;
    for (size_t i = 0; i < a->ninputs; i++) {
        loader_input *in = &a->inputs[i];
        in->path = npaths ? paths[i] : "-";
        in->format = format;
        if (format == FORMAT_AUTO)
            in->format = strcmp(in->path, "-") == 0 ? FORMAT_NDJSON : format_of_name(in->path);
        if (in->format == FORMAT_AUTO)
            return cli_usage_error(PROG, "%s: cannot tell the format from the name: use --format",
                                   in->path);
        need_merchant |= in->format == FORMAT_COMBINED;
    }
    if (need_merchant && !a->have_merchant)
        return cli_usage_error(PROG, "access-log (combined) input needs --merchant N");
    return -1;
}

/* --rejects may name neither an input nor a file inside the store. */
static int check_rejects(const ingest_args *a)
{
    char why[PATH_MAX + 256];
    int refused = rejects_check(a->lo.rejects, a->inputs, a->ninputs, a->store, why, sizeof why);
    if (!refused)
        return -1;
    if (refused == CLI_EXIT_USAGE)
        return cli_usage_error(PROG, "%s", why);
    cli_error(PROG, "%s", why);
    return refused;
}

int ingest_parse_args(int argc, char **argv, ingest_args *a)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'},
        {"merchant", required_argument, NULL, 'm'},
        {"schema", required_argument, NULL, 's'},
        {"ts-unit", required_argument, NULL, OPT_TS_UNIT},
        {"sync", required_argument, NULL, OPT_SYNC},
        {"rejects", required_argument, NULL, OPT_REJECTS},
        {"max-errors", required_argument, NULL, OPT_MAX_ERRORS},
        {"compact", no_argument, NULL, OPT_COMPACT},
        {"compact-every", required_argument, NULL, OPT_COMPACT_EVERY},
        {"budget", required_argument, NULL, OPT_BUDGET},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->lo.ts_unit = TS_UNIT_MS;
    a->sync_mode = TSAGG_SYNC_INTERVAL;
    enum ingest_format format = FORMAT_AUTO;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":f:m:s:qvhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (!parse_format(optarg, &format))
                return cli_usage_error(PROG, "bad --format '%s' (ndjson, csv or combined)",
                                       optarg);
            break;
        case 'm':
            if (!cli_parse_u64(optarg, &a->lo.merchant))
                return cli_usage_error(PROG, "bad --merchant '%s' (an unsigned integer)", optarg);
            a->have_merchant = 1;
            break;
        case 's':
            a->schema_path = optarg;
            break;
        case OPT_TS_UNIT:
            if (strcmp(optarg, "s") == 0)
                a->lo.ts_unit = TS_UNIT_S;
            else if (strcmp(optarg, "ms") == 0)
                a->lo.ts_unit = TS_UNIT_MS;
            else if (strcmp(optarg, "us") == 0)
                a->lo.ts_unit = TS_UNIT_US;
            else
                return cli_usage_error(PROG, "bad --ts-unit '%s' (s, ms or us)", optarg);
            break;
        case OPT_SYNC:
            if (strcmp(optarg, "interval") == 0)
                a->sync_mode = TSAGG_SYNC_INTERVAL;
            else if (strcmp(optarg, "batch") == 0)
                a->sync_mode = TSAGG_SYNC_BATCH;
            else if (strcmp(optarg, "none") == 0)
                a->sync_mode = TSAGG_SYNC_NONE;
            else
                return cli_usage_error(PROG, "bad --sync '%s' (interval, batch or none)", optarg);
            break;
        case OPT_REJECTS:
            a->lo.rejects = optarg;
            break;
        case OPT_MAX_ERRORS:
            if (!cli_parse_u64(optarg, &a->lo.max_errors) || a->lo.max_errors == 0)
                return cli_usage_error(PROG, "bad --max-errors '%s' (1 or more)", optarg);
            break;
        case OPT_COMPACT:
            a->compact = 1;
            break;
        case OPT_COMPACT_EVERY:
            if (!cli_parse_duration(optarg, &a->every_us) || a->every_us < 1000000)
                return cli_usage_error(PROG, "--compact-every: expected a duration of 1s or "
                                       "more such as 90s, 5m or 1h, got '%s'", optarg);
            break;
        case OPT_BUDGET:
            if (!cli_budget_arg(PROG, optarg, &a->budget))
                return CLI_EXIT_USAGE;
            break;
        case 'q':
            a->quiet = 1;
            break;
        case 'v':
            a->lo.verbose = 1;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return CLI_EXIT_OK;
        case 'V':
            return cli_print_version(PROG);
        case ':':
            return cli_usage_error(PROG, "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error(PROG, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return cli_usage_error(PROG, "no STORE given");
    a->store = a->lo.store_path = argv[optind++];
    int code = settle_inputs(a, format, argv + optind, (size_t)(argc - optind));
    if (code < 0 && a->lo.rejects)
        code = check_rejects(a);
    return code;
}

void ingest_args_free(ingest_args *a)
{
    free(a->inputs);
    a->inputs = NULL;
}
