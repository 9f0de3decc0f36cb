/*
 * tsagg-rebuild - regenerate the partitions of a range of hours from the
 * raw log, as a new generation swapped in atomically.
 *
 *   tsagg-rebuild STORE --from T --to T [--schema FILE] [--drop-where F=V]...
 *
 * Exit codes (tools/common/cli.h): 0 done, 2 usage (bad time, range or
 * schema), 3 store failure. docs/tools.md.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "rules.h"
#include "schemafile.h"

static const char prog[] = "tsagg-rebuild";

static const char usage_text[] =
    "Usage: tsagg-rebuild STORE --from TIME --to TIME [OPTION]...\n"
    "Regenerate the partitions of the UTC hours holding [--from, --to) from\n"
    "the raw log, with the store's schema (or --schema FILE, which becomes\n"
    "the store's schema) and the --drop-where rules, as a new generation:\n"
    "queries answer from the old files until the new ones are swapped in.\n"
    "\n"
    "      --from TIME          RFC 3339, a date (2026-11-01), now, now-24h, -7d\n"
    "      --to TIME            end, exclusive\n"
    "      --schema FILE        new schema: the stored one plus new fields\n"
    "                           (docs/tools.md, \"Schema files\")\n"
    "      --drop-where F=V     drop events whose field F (\"event\" or any\n"
    "                           attribute) equals V; repeatable\n"
    "      --budget MIB         memory before sorted runs spill (default 256)\n"
    "      --threads N          hours written at once (default: one per CPU)\n"
    "  -q, --quiet              no progress, no summary\n"
    "  -h, --help               show this help\n"
    "  -V, --version            show the version\n"
    "\n"
    "Examples:\n"
    "  tsagg-rebuild /data/shop --from 2026-11-01 --to 2026-12-01\n"
    "  tsagg-rebuild /data/shop --from -7d --to now --drop-where device=bot\n"
    "\n"
    "Exit status: 0 done, 2 usage error, 3 the store failed.\n";

typedef struct progress {
    int tty;
    uint64_t hours_total;
} progress;

static void on_progress(void *ctx, const tsagg_rebuild_stats *s)
{
    const progress *p = ctx;
    if (!p->tty)
        return;
    fprintf(stderr, "\r%s: %" PRIu64 " events read, %" PRIu64 " of %" PRIu64 " hours written ",
            prog, s->events_read, s->files_written, p->hours_total);
    fflush(stderr);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"schema", required_argument, NULL, 's'},
        {"drop-where", required_argument, NULL, 'D'},
        {"budget", required_argument, NULL, 'b'},
        {"threads", required_argument, NULL, 'T'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    tsagg_rebuild_options ro;
    tsagg_rebuild_options_init(&ro);
    ro.threads = cli_compact_threads();
    static rules rs;
    const char *from = NULL, *to = NULL, *schema_path = NULL;
    int quiet = 0, c;
    while ((c = getopt_long(argc, argv, ":qhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            from = optarg;
            break;
        case 't':
            to = optarg;
            break;
        case 's':
            schema_path = optarg;
            break;
        case 'D':
            if (!rules_add(&rs, optarg))
                return cli_usage_error(prog, "--drop-where: expected FIELD=VALUE, got '%s'",
                                       optarg);
            break;
        case 'b':
            if (!cli_budget_arg(prog, optarg, &ro.memory_budget))
                return CLI_EXIT_USAGE;
            break;
        case 'T':
            if (!cli_threads_arg(prog, optarg, &ro.threads))
                return CLI_EXIT_USAGE;
            break;
        case 'q':
            quiet = 1;
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
    if (optind != argc - 1)
        return cli_usage_error(prog, "expected one STORE");
    if (!from || !to)
        return cli_usage_error(prog, "--from and --to are required");
    int64_t now = cli_now_us();
    if (!cli_parse_time(from, now, &ro.from))
        return cli_usage_error(prog, "--from: expected RFC 3339, a date, now-24h or -7d, got '%s'",
                               from);
    if (!cli_parse_time(to, now, &ro.to))
        return cli_usage_error(prog, "--to: expected RFC 3339, a date, now-24h or -7d, got '%s'",
                               to);
    if (ro.from >= ro.to)
        return cli_usage_error(prog, "empty or reversed range: --from %s is not before --to %s",
                               from, to);
    tsagg_schema *schema = NULL;
    if (schema_path) {
        char err[1024];
        if (!(schema = schemafile_read(schema_path, err, sizeof err)))
            return cli_usage_error(prog, "--schema: %s", err);
    }
    if (rs.n) {
        ro.process = rules_process;
        ro.process_ctx = &rs;
    }
    progress pg = {.tty = !quiet && cli_stderr_is_tty()};
    int64_t hour = 3600 * INT64_C(1000000);
    pg.hours_total = (uint64_t)((ro.to - 1) / hour - ro.from / hour + 1);
    ro.progress = on_progress;
    ro.progress_ctx = &pg;

    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | (schema ? TSAGG_OPEN_SCHEMA : 0);
    o.schema = schema;
    tsagg_store *st;
    int rc = cli_open_store(prog, argv[optind], &o, &st);
    tsagg_schema_free(schema);
    if (rc != 0)
        return rc == TSAGG_ESCHEMA ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
    tsagg_rebuild_stats s;
    rc = tsagg_rebuild(st, &ro, &s);
    if (pg.tty)
        fputc('\n', stderr);
    if (rc != 0)
        cli_report(prog, st, "rebuild", rc);
    if (rc == 0 && !quiet) {
        char a[48], b[48];
        cli_format_time(ro.from - ((ro.from % hour) + hour) % hour, 0, 0, a, sizeof a);
        cli_format_time(ro.to - 1 - (((ro.to - 1) % hour) + hour) % hour + hour, 0, 0, b,
                        sizeof b);
        printf("rebuilt %s .. %s: %" PRIu64 " hours, generation %" PRIu32 "\n", a, b, s.hours,
               s.generation);
        printf("  replaced %" PRIu64 " files (%" PRIu64 " rows, %" PRIu64 " bytes)\n",
               s.files_replaced, s.rows_replaced, s.bytes_replaced);
        printf("  with     %" PRIu64 " files (%" PRIu64 " rows, %" PRIu64 " bytes)\n",
               s.files_written, s.rows_written, s.bytes_written);
        printf("  from %" PRIu64 " log events up to sequence %" PRIu64 ": %" PRIu64
               " dropped by rules, %" PRIu64 " retries, %" PRIu64 " moved out of range\n",
               s.events_read, s.consumed_seq, s.events_dropped, s.duplicates, s.events_moved);
    }
    int crc = tsagg_store_close(st);
    if (rc == 0 && crc != 0) {
        cli_report(prog, NULL, "close", crc);
        rc = crc;
    }
    return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}
