/*
 * tsagg-ingest - bulk-load NDJSON, CSV and web server access logs into a
 * store.
 *
 *   tsagg-ingest [OPTION]... STORE [FILE]...
 *
 * Exit codes (cli.h): 0 everything loaded, 1 lines rejected, 2 usage,
 * 3 store or file failure, 4 stopped at --max-errors; stopped by SIGINT or
 * SIGTERM, it ends by that signal after its summary (interrupt.h).
 * docs/tsagg-ingest.md.
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "interrupt.h"
#include "loader.h"
#include "rejects.h"
#include "schemafile.h"

#define PROG "tsagg-ingest"
#define INTERVAL_SYNC_MS 1000

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

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static void print_compact_stats(const char *what, const tsagg_compact_stats *s, double secs)
{
    fprintf(stderr,
            "%s: %" PRIu64 " events read, %" PRIu64 " rows written in %" PRIu64 " files (%" PRIu64
            " month, %" PRIu64 " day, %" PRIu64 " hour files from the log over %" PRIu64
            " hours; %" PRIu64 " merged from %" PRIu64 " files), %" PRIu64 " bytes, %" PRIu64
            " duplicates dropped, log compacted up to %" PRIu64 ", %.2f s\n",
            what, s->events_read, s->rows_written, s->files_written, s->month_files,
            s->day_files, s->hour_files, s->hours, s->spans_merged, s->files_removed,
            s->bytes_written, s->duplicates, s->consumed_seq, secs);
    if (s->events_unplaced)
        fprintf(stderr,
                "%s: warning: %" PRIu64 " events with a ts outside the years 0000-9999 were "
                "skipped (kept in the log; no partition holds them)\n",
                what, s->events_unplaced);
}

typedef struct compaction {
    tsagg_store *st;
    uint64_t budget; /* bytes; 0: the library's default */
    int quiet;
} compaction;

static void compaction_options(const compaction *c, tsagg_compact_options *o)
{
    tsagg_compact_options_init(o);
    o->threads = cli_compact_threads();
    if (c->budget)
        o->memory_budget = c->budget;
}

/* After a compaction (or a bulk load's finish) that returned rc: report,
 * then merge every span's files. */
static int merge_after(const compaction *c, int rc, const tsagg_compact_stats *done, double t)
{
    tsagg_store *st = c->st;
    if (rc != 0) {
        cli_report(PROG, st, "compact", rc);
        return rc;
    }
    if (!c->quiet)
        print_compact_stats("compact", done, now_s() - t);
    tsagg_compact_options o;
    compaction_options(c, &o);
    tsagg_compact_stats s = {.struct_size = sizeof s};
    t = now_s();
    if ((rc = tsagg_merge(st, &o, &s)) != 0) {
        cli_report(PROG, st, "merge", rc);
        return rc;
    }
    if (!c->quiet)
        print_compact_stats("merge", &s, now_s() - t);
    return 0;
}

/* Compact (which merges sealed days and months), then merge every span's
 * files: what --compact-every does while loading. */
static int compact_store(void *arg)
{
    const compaction *c = arg;
    tsagg_compact_options o;
    compaction_options(c, &o);
    tsagg_compact_stats s = {.struct_size = sizeof s};
    double t = now_s();
    return merge_after(c, tsagg_compact(c->st, &o, &s), &s, t);
}

enum {
    OPT_TS_UNIT = 256, OPT_SYNC, OPT_REJECTS, OPT_MAX_ERRORS, OPT_COMPACT, OPT_COMPACT_EVERY,
    OPT_BUDGET
};

static const char *signal_name(int sig)
{
    return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal";
}

/* After an interrupted load: the first line not loaded, and the inputs not
 * begun. Printed even with --quiet: it is what the next run needs. */
static void print_resume(const loader_input *inputs, size_t ninputs, const loader_stats *ls)
{
    const loader_input *in = &inputs[ls->input];
    fprintf(stderr, "%s: stopped by %s: resume from line %" PRIu64 " of %s%s (every line before "
            "it is loaded or rejected)", PROG, signal_name(ls->interrupted), ls->next_line,
            strcmp(in->path, "-") == 0 ? "standard input" : in->path,
            in->format == FORMAT_CSV && ls->next_line > 1 ? ", after its header line" : "");
    if (ls->input + 1 < ninputs) {
        fputs("; not begun:", stderr);
        for (size_t i = ls->input + 1; i < ninputs; i++)
            fprintf(stderr, " %s", inputs[i].path);
    }
    fputc('\n', stderr);
}

int main(int argc, char **argv)
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
    loader_options lo = {.ts_unit = TS_UNIT_MS};
    enum ingest_format format = FORMAT_AUTO;
    const char *schema_path = NULL;
    uint32_t sync_mode = TSAGG_SYNC_INTERVAL;
    int have_merchant = 0, compact = 0, quiet = 0, c;
    uint64_t budget = 0; /* bytes; 0: the library's default */
    int64_t every_us = 0;

    /* Before the store opens: its threads inherit the blocked signals. */
    if (interrupt_catch() != 0) {
        cli_error(PROG, "cannot catch SIGINT and SIGTERM");
        return CLI_EXIT_FAILURE;
    }
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":f:m:s:qvhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (!parse_format(optarg, &format))
                return cli_usage_error(PROG, "bad --format '%s' (ndjson, csv or combined)",
                                       optarg);
            break;
        case 'm':
            if (!cli_parse_u64(optarg, &lo.merchant))
                return cli_usage_error(PROG, "bad --merchant '%s' (an unsigned integer)", optarg);
            have_merchant = 1;
            break;
        case 's':
            schema_path = optarg;
            break;
        case OPT_TS_UNIT:
            if (strcmp(optarg, "s") == 0)
                lo.ts_unit = TS_UNIT_S;
            else if (strcmp(optarg, "ms") == 0)
                lo.ts_unit = TS_UNIT_MS;
            else if (strcmp(optarg, "us") == 0)
                lo.ts_unit = TS_UNIT_US;
            else
                return cli_usage_error(PROG, "bad --ts-unit '%s' (s, ms or us)", optarg);
            break;
        case OPT_SYNC:
            if (strcmp(optarg, "interval") == 0)
                sync_mode = TSAGG_SYNC_INTERVAL;
            else if (strcmp(optarg, "batch") == 0)
                sync_mode = TSAGG_SYNC_BATCH;
            else if (strcmp(optarg, "none") == 0)
                sync_mode = TSAGG_SYNC_NONE;
            else
                return cli_usage_error(PROG, "bad --sync '%s' (interval, batch or none)", optarg);
            break;
        case OPT_REJECTS:
            lo.rejects = optarg;
            break;
        case OPT_MAX_ERRORS:
            if (!cli_parse_u64(optarg, &lo.max_errors) || lo.max_errors == 0)
                return cli_usage_error(PROG, "bad --max-errors '%s' (1 or more)", optarg);
            break;
        case OPT_COMPACT:
            compact = 1;
            break;
        case OPT_COMPACT_EVERY:
            if (!cli_parse_duration(optarg, &every_us) || every_us < 1000000)
                return cli_usage_error(PROG, "--compact-every: expected a duration of 1s or "
                                       "more such as 90s, 5m or 1h, got '%s'", optarg);
            break;
        case OPT_BUDGET:
            if (!cli_budget_arg(PROG, optarg, &budget))
                return CLI_EXIT_USAGE;
            break;
        case 'q':
            quiet = 1;
            break;
        case 'v':
            lo.verbose = 1;
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
    const char *store_path = argv[optind++];

    /* Every input's format is settled before anything is written. */
    size_t ninputs = argc > optind ? (size_t)(argc - optind) : 1;
    loader_input *inputs = calloc(ninputs, sizeof *inputs);
    if (!inputs) {
        cli_error(PROG, "out of memory");
        return CLI_EXIT_FAILURE;
    }
    int need_merchant = 0;
    for (size_t i = 0; i < ninputs; i++) {
        inputs[i].path = argc > optind ? argv[optind + (int)i] : "-";
        inputs[i].format = format;
        if (format == FORMAT_AUTO)
            inputs[i].format = strcmp(inputs[i].path, "-") == 0 ? FORMAT_NDJSON
                                                                 : format_of_name(inputs[i].path);
        if (inputs[i].format == FORMAT_AUTO) {
            free(inputs);
            return cli_usage_error(PROG, "%s: cannot tell the format from the name: use --format",
                                   argv[optind + (int)i]);
        }
        need_merchant |= inputs[i].format == FORMAT_COMBINED;
    }
    if (need_merchant && !have_merchant) {
        free(inputs);
        return cli_usage_error(PROG, "access-log (combined) input needs --merchant N");
    }

    lo.store_path = store_path;
    if (lo.rejects) {
        char why[PATH_MAX + 256];
        int refused = rejects_check(lo.rejects, inputs, ninputs, store_path, why, sizeof why);
        if (refused) {
            free(inputs);
            if (refused == CLI_EXIT_USAGE)
                return cli_usage_error(PROG, "%s", why);
            cli_error(PROG, "%s", why);
            return refused;
        }
    }

    tsagg_schema *schema = NULL;
    if (schema_path) {
        char err[512];
        if (!(schema = schemafile_read(schema_path, err, sizeof err))) {
            free(inputs);
            return cli_usage_error(PROG, "%s", err);
        }
    }
    tsagg_options opts;
    tsagg_options_init(&opts);
    opts.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    opts.schema = schema;
    opts.sync_mode = sync_mode;
    opts.sync_interval_ms = INTERVAL_SYNC_MS;
    tsagg_store *st;
    if (cli_open_store(PROG, store_path, &opts, &st) != 0) {
        tsagg_schema_free(schema);
        free(inputs);
        return CLI_EXIT_FAILURE;
    }
    if (schema && tsagg_schema_id(schema) != tsagg_schema_id(tsagg_store_schema(st))) {
        tsagg_store_close(st);
        tsagg_schema_free(schema);
        free(inputs);
        return cli_usage_error(PROG, "%s: the store exists with another schema than %s",
                               store_path, schema_path);
    }
    tsagg_schema_free(schema);

    compaction cs = {st, budget, quiet};
    /* --compact of an input that ends: compacted as it loads, from memory
     * (tsagg_bulk_begin), the log never read back. */
    tsagg_bulk *bulk = NULL;
    if (compact && every_us == 0) {
        tsagg_compact_options o;
        compaction_options(&cs, &o);
        int brc = tsagg_bulk_begin(st, &o, &bulk);
        if (brc != 0) {
            cli_report(PROG, st, "compact", brc);
            tsagg_store_close(st);
            free(inputs);
            return CLI_EXIT_FAILURE;
        }
        lo.bulk = bulk;
    }
    lo.progress = cli_stderr_is_tty() && !quiet;
    lo.every_s = (double)every_us / 1e6;
    lo.periodic = compact_store;
    lo.periodic_ctx = &cs;
    double t0 = now_s();
    uint64_t seq0 = tsagg_last_seq(st); /* after the open: all of it durable */
    loader_stats ls;
    int rc = loader_run(st, &lo, inputs, ninputs, &ls);
    /* Nothing is reported loaded before it is durable. */
    int frc = tsagg_flush(st);
    if (frc != 0 && rc == 0) {
        cli_report(PROG, st, "flush", frc);
        rc = frc;
    }
    double secs = now_s() - t0;
    uint64_t durable = tsagg_durable_seq(st);
    /* Appends outside --sync batch return before the write: after a failed
     * write (a full disk) only what became durable was stored. */
    uint64_t stored = durable > seq0 ? durable - seq0 : 0;
    if (stored > ls.accepted)
        stored = ls.accepted;
    char lost[128] = "";
    if (stored < ls.accepted)
        snprintf(lost, sizeof lost, ", %" PRIu64 " read but not stored (the log write failed)",
                 ls.accepted - stored);
    if (!quiet || lost[0])
        fprintf(stderr,
                "%s: %" PRIu64 " events accepted%s, %" PRIu64 " rejected, %.2f s, %.0f events/s, "
                "durable up to seq %" PRIu64 "%s\n",
                PROG, stored, lost, ls.rejected, secs, secs > 0 ? (double)stored / secs : 0.0,
                durable, ls.stopped ? " (stopped at --max-errors)" : "");
    if (ls.interrupted)
        print_resume(inputs, ninputs, &ls);
    free(inputs);
    /* An interrupted load is not compacted: the signal asked to stop. */
    if (bulk && (rc != 0 || ls.interrupted)) {
        tsagg_bulk_cancel(bulk);
    } else if (bulk) {
        tsagg_compact_stats s = {.struct_size = sizeof s};
        double t = now_s();
        rc = merge_after(&cs, tsagg_bulk_finish(bulk, &s), &s, t);
    } else if (rc == 0 && compact && !ls.interrupted) {
        rc = compact_store(&cs);
    }
    int crc = tsagg_store_close(st);
    if (crc != 0 && rc == 0) {
        cli_report(PROG, NULL, "close", crc);
        rc = crc;
    }
    if (rc == 0)
        interrupt_reraise();
    if (rc != 0 || ls.files_failed)
        return CLI_EXIT_FAILURE;
    if (ls.stopped)
        return CLI_EXIT_STOPPED;
    return ls.rejected ? CLI_EXIT_PARTIAL : CLI_EXIT_OK;
}
