/*
 * tsagg-rebuild - regenerate the partitions of a range of hours from the
 * raw log, as a new generation swapped in atomically; or a whole store
 * whose partitions are of an older format.
 *
 *   tsagg-rebuild STORE (--from T --to T | --all) [--schema FILE]
 *                 [--drop-where F=V... | --no-rules]
 *
 * The processing rules are kept in the store; --drop-where and --no-rules
 * replace them before the rebuild applies them.
 *
 * Exit codes (tools/common/cli.h): 0 done, 2 usage (bad time, range, rule
 * or schema), 3 store failure. docs/tools.md.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "rules.h"
#include "schemafile.h"

static const char prog[] = "tsagg-rebuild";

static const char usage_text[] =
    "Usage: tsagg-rebuild STORE (--from TIME --to TIME | --all) [OPTION]...\n"
    "Regenerate the partitions of the UTC hours holding [--from, --to) from\n"
    "the raw log, widened to the whole files (hours, days, months) they touch,\n"
    "with the store's schema (or --schema FILE, which becomes the store's\n"
    "schema) and the processing rules stored in STORE (or the --drop-where\n"
    "rules, which replace them), as a new generation: queries answer from the\n"
    "old files until the new ones are swapped in. A store whose partitions\n"
    "are of an older format (which other tools refuse) is regenerated whole.\n"
    "\n"
    "      --from TIME          RFC 3339, a date (2026-11-01), now, now-24h, -7d\n"
    "      --to TIME            end, exclusive\n"
    "      --all                every hour (the years 0000-9999)\n"
    "      --schema FILE        new schema: the stored one plus new fields\n"
    "                           (docs/tools.md, \"Schema files\")\n"
    "      --drop-where F=V     drop events whose field F (event, merchant or\n"
    "                           any attribute) equals V; repeatable; these\n"
    "                           rules replace the stored ones, which every\n"
    "                           later compaction and rebuild applies\n"
    "      --no-rules           remove the stored rules\n"
    "      --budget MIB         memory before sorted runs spill (default 256)\n"
    "      --threads N          files written at once (default: one per CPU)\n"
    "  -q, --quiet              no progress, no summary\n"
    "  -h, --help               show this help\n"
    "  -V, --version            show the version\n"
    "\n"
    "Examples:\n"
    "  tsagg-rebuild /data/shop --from 2026-11-01 --to 2026-12-01\n"
    "  tsagg-rebuild /data/shop --from -7d --to now --drop-where device=bot\n"
    "  tsagg-rebuild /data/shop --from 2026-11-01 --to 2026-12-01 --no-rules\n"
    "  tsagg-rebuild /data/shop --all\n"
    "\n"
    "Exit status: 0 done, 2 usage error, 3 the store failed.\n";

/* The event times partitions hold: the years 0000-9999 UTC (the library
 * refuses a rebuild outside them; here the value is named). */
#define TS_MIN TSAGG_TS_MIN /* 0000-01-01T00:00:00Z */
#define TS_END TSAGG_TS_END /* 10000-01-01T00:00:00Z */

/* Store the --drop-where rules (or none, for --no-rules) in place of the
 * stored ones, keeping those in *old to put back if the rebuild fails.
 * Nothing to do without either option. */
static int replace_rules(tsagg_store *st, const tsagg_rules *rules, int none, tsagg_rules **old)
{
    if (!rules && !none)
        return 0;
    int rc = tsagg_store_rules(st, old);
    if (rc == TSAGG_ECHECKSUM || rc == TSAGG_ECORRUPT) {
        /* A damaged rules file is what new rules repair. */
        cli_report(prog, st, "the stored rules (replaced)", rc);
        rc = 0;
    }
    if (rc == 0)
        rc = tsagg_store_set_rules(st, none ? NULL : rules);
    if (rc != 0)
        cli_report(prog, st, "replacing the stored rules", rc);
    return rc;
}

/* After a failed rebuild: the stored rules as they were, so that they keep
 * describing the partitions. */
static void restore_rules(tsagg_store *st, const tsagg_rules *old)
{
    if (!old) {
        cli_error(prog, "the new rules stay stored (the old ones could not be read)");
        return;
    }
    int rc = tsagg_store_set_rules(st, old);
    if (rc == 0)
        cli_error(prog, "the stored rules were left as they were");
    else
        cli_report(prog, st, "putting back the stored rules (the new ones stay stored)", rc);
}

typedef struct progress {
    int tty;
} progress;

static void on_progress(void *ctx, const tsagg_rebuild_stats *s)
{
    const progress *p = ctx;
    if (!p->tty)
        return;
    fprintf(stderr, "\r%s: %" PRIu64 " events read, %" PRIu64 " files written ", prog,
            s->events_read, s->files_written);
    fflush(stderr);
}

/* main without the rules of --drop-where, which it leaves in *new_rules
 * for main to free whichever way this returns. */
static int run(int argc, char **argv, tsagg_rules **new_rules)
{
    static const struct option longopts[] = {
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"schema", required_argument, NULL, 's'},
        {"drop-where", required_argument, NULL, 'D'},
        {"no-rules", no_argument, NULL, 'R'},
        {"all", no_argument, NULL, 'a'},
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
    const char *from = NULL, *to = NULL, *schema_path = NULL;
    int quiet = 0, no_rules = 0, all = 0, c;
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
            if (!rules_add_arg(prog, new_rules, optarg))
                return CLI_EXIT_USAGE;
            break;
        case 'R':
            no_rules = 1;
            break;
        case 'a':
            all = 1;
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
    if (all && (from || to))
        return cli_usage_error(prog, "--all and --from/--to: give one or the other");
    if (!all && (!from || !to))
        return cli_usage_error(prog, "--from and --to are required (or --all)");
    int64_t now = cli_now_us();
    if (all) {
        from = "0000-01-01";
        to = "10000-01-01";
        ro.from = TS_MIN;
        ro.to = TS_END;
    } else if (!cli_parse_time(from, now, &ro.from))
        return cli_usage_error(prog, "--from: expected RFC 3339, a date, now-24h or -7d, got '%s'",
                               from);
    if (!all && !cli_parse_time(to, now, &ro.to))
        return cli_usage_error(prog, "--to: expected RFC 3339, a date, now-24h or -7d, got '%s'",
                               to);
    if (ro.from >= ro.to)
        return cli_usage_error(prog, "empty or reversed range: --from %s is not before --to %s",
                               from, to);
    if (ro.from < TS_MIN || ro.to > TS_END)
        return cli_usage_error(prog, "%s %s is outside the years 0000-9999 that partitions hold",
                               ro.from < TS_MIN ? "--from" : "--to",
                               ro.from < TS_MIN ? from : to);
    if (no_rules && *new_rules)
        return cli_usage_error(prog, "--no-rules and --drop-where: give one or the other");
    tsagg_schema *schema = NULL;
    if (schema_path) {
        char err[1024];
        if (!(schema = schemafile_read(schema_path, err, sizeof err)))
            return cli_usage_error(prog, "--schema: %s", err);
    }
    progress pg = {.tty = !quiet && cli_stderr_is_tty()};
    int64_t hour = 3600 * INT64_C(1000000);
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
    tsagg_rules *old_rules = NULL, *rules = NULL;
    rc = replace_rules(st, *new_rules, no_rules, &old_rules);
    tsagg_rebuild_stats s = {.struct_size = sizeof s};
    if (rc == 0) {
        rc = tsagg_rebuild(st, &ro, &s);
        if (pg.tty)
            fputc('\n', stderr);
        if (rc != 0)
            cli_report(prog, st, "rebuild", rc);
        if (rc != 0 && (*new_rules || no_rules))
            restore_rules(st, old_rules);
    }
    if (rc == 0 && s.events_unplaced)
        fprintf(stderr,
                "%s: warning: %" PRIu64 " events with a ts outside the years 0000-9999 were "
                "skipped (kept in the log; no partition holds them)\n",
                prog, s.events_unplaced);
    if (rc == 0 && (rc = tsagg_store_rules(st, &rules)) != 0)
        cli_report(prog, st, "reading the rules", rc);
    if (rc == 0 && !quiet) {
        char a[48], b[48];
        cli_format_time(ro.from - ((ro.from % hour) + hour) % hour, 0, 0, a, sizeof a);
        cli_format_time(ro.to - 1 - (((ro.to - 1) % hour) + hour) % hour + hour, 0, 0, b,
                        sizeof b);
        if (s.regenerated)
            printf("the partitions were of an older format: all of them were regenerated "
                   "from the raw log\n");
        if (all || s.regenerated)
            printf("rebuilt every hour: %" PRIu64 " hours of files, generation %" PRIu32 "\n",
                   s.hours, s.generation);
        else
            printf("rebuilt %s .. %s, widened to whole files: %" PRIu64
                   " hours of files, generation %" PRIu32 "\n",
                   a, b, s.hours, s.generation);
        printf("  replaced %" PRIu64 " files (%" PRIu64 " rows, %" PRIu64 " bytes)\n",
               s.files_replaced, s.rows_replaced, s.bytes_replaced);
        printf("  with     %" PRIu64 " files (%" PRIu64 " rows, %" PRIu64 " bytes)\n",
               s.files_written, s.rows_written, s.bytes_written);
        printf("  from %" PRIu64 " log events up to sequence %" PRIu64 ": %" PRIu64
               " dropped by rules, %" PRIu64 " duplicates dropped, %" PRIu64
               " moved out of range\n",
               s.events_read, s.consumed_seq, s.events_dropped, s.duplicates, s.events_moved);
        printf("  rules%s: ", *new_rules || no_rules ? " (now stored)" : " (stored)");
        rules_print(rules, stdout);
        putchar('\n');
    }
    tsagg_rules_free(rules);
    tsagg_rules_free(old_rules);
    int crc = tsagg_store_close(st);
    if (rc == 0 && crc != 0) {
        cli_report(prog, NULL, "close", crc);
        rc = crc;
    }
    return cli_finish_stdout(prog, rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE);
}

int main(int argc, char **argv)
{
    tsagg_rules *new_rules = NULL;
    int code = run(argc, argv, &new_rules);
    tsagg_rules_free(new_rules);
    return code;
}
