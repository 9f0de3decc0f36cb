/*
 * tsagg-compact - one compaction and merge pass over a store.
 *
 *   tsagg-compact [--budget MIB] [--threads N] [--no-merge] [--archive]
 *                 [--retention-days N] [--log-retention-days N] STORE
 *
 * Exit codes (tools/common/cli.h): 0 done, 2 usage, 3 store failure.
 * docs/tools.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const char prog[] = "tsagg-compact";

static const char usage_text[] =
    "Usage: tsagg-compact [OPTION]... STORE\n"
    "Compact the durable raw log of STORE into partitions of UTC months, days\n"
    "and hours (each event in its month once that is sealed, else its day once\n"
    "sealed, else its hour), through the processing rules stored in STORE (set\n"
    "by tsagg-rebuild --drop-where), merge sealed days and months into one file\n"
    "each, then every span that has several files (late events) into one.\n"
    "\n"
    "      --budget MIB         memory for event data before sorted runs are\n"
    "                           spilled (default 256)\n"
    "      --threads N          files written at once (default: one per CPU)\n"
    "      --no-merge           compact only\n"
    "      --archive            then seal the log's current segment and rewrite\n"
    "                           every sealed segment in the archive form\n"
    "                           (columnar, zstd: about 2/3 of the bytes)\n"
    "      --retention-days N   then drop the partition files whose span ended\n"
    "                           N days ago or earlier, and the log segments\n"
    "                           whose events are all that old and compacted\n"
    "      --log-retention-days N  for the log segments: N days instead (0:\n"
    "                           keep the whole log, so every hour can be rebuilt)\n"
    "  -q, --quiet              print nothing on success\n"
    "  -h, --help               show this help\n"
    "  -V, --version            show the version\n"
    "\n"
    "Exit status: 0 done, 2 usage error, 3 the store failed.\n";

/* Bytes of the log's segments and whether the last one holds events. */
static int log_bytes(tsagg_store *st, uint64_t *bytes, int *tail_events)
{
    int n = tsagg_log_segments(st, NULL, 0);
    if (n <= 0)
        return n;
    tsagg_segment_info *segs = calloc((size_t)n, sizeof *segs);
    if (!segs)
        return -ENOMEM;
    int m = tsagg_log_segments(st, segs, (size_t)n);
    *bytes = 0;
    for (int i = 0; i < m && i < n; i++)
        *bytes += segs[i].bytes;
    if (m > 0 && m <= n)
        *tail_events = !segs[m - 1].sealed && segs[m - 1].last_seq >= segs[m - 1].first_seq;
    free(segs);
    return m < 0 ? m : 0;
}

/* Drop what lies past the retention periods (tsagg_maintain's retention;
 * the compaction and merges ran already). */
static int apply_retention(tsagg_store *st, uint32_t parts_days, uint32_t log_days, int quiet)
{
    tsagg_maintain_options mo;
    tsagg_maintain_options_init(&mo);
    mo.compact_tail_events = mo.compact_tail_bytes = 0;
    mo.compact_tail_age_ms = 0;
    mo.retention_days_parts = parts_days;
    mo.retention_days_log = log_days;
    tsagg_maintain_stats s = {.struct_size = sizeof s};
    int rc = tsagg_maintain(st, &mo, &s);
    if (rc != 0)
        cli_report(prog, st, "retention", rc);
    else if (!quiet)
        printf("retention: dropped %" PRIu64 " partition files (%" PRIu64 " rows) and %" PRIu64
               " log segments; the log starts at sequence %" PRIu64 "\n",
               s.partitions_dropped, s.rows_dropped, s.segments_dropped,
               s.log_start_seq ? s.log_start_seq : 1);
    return rc;
}

/* Seal the current segment (when it holds events) and archive the sealed
 * ones. */
static int archive_log(tsagg_store *st, int quiet)
{
    uint64_t before = 0, after = 0;
    int tail = 0;
    unsigned count = 0;
    int rc = log_bytes(st, &before, &tail);
    if (rc == 0 && tail)
        rc = tsagg_log_roll(st);
    if (rc == 0)
        rc = tsagg_log_archive(st, 0, &count);
    if (rc == 0)
        rc = log_bytes(st, &after, &tail);
    if (rc != 0)
        cli_report(prog, st, "archive", rc);
    else if (!quiet)
        printf("archived %u log segments: the log went from %" PRIu64 " to %" PRIu64 " bytes\n",
               count, before, after);
    return rc;
}

/* The command line. */
typedef struct compact_args {
    const char *store;
    tsagg_compact_options co;
    int merge, archive, quiet;
    uint32_t parts_days, log_days; /* retention; 0: none */
} compact_args;

/* Fill a from the command line: -1 to go on, else the exit code (after
 * --help, --version or a usage error). */
static int parse_args(int argc, char **argv, compact_args *a)
{
    static const struct option longopts[] = {
        {"budget", required_argument, NULL, 'b'},
        {"no-merge", no_argument, NULL, 'M'},
        {"threads", required_argument, NULL, 'T'},
        {"archive", no_argument, NULL, 'A'},
        {"drop-where", required_argument, NULL, 'D'},
        {"retention-days", required_argument, NULL, 'R'},
        {"log-retention-days", required_argument, NULL, 'L'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    tsagg_compact_options_init(&a->co);
    a->co.threads = cli_compact_threads();
    a->merge = 1;
    a->archive = a->quiet = 0;
    uint64_t parts_days = 0, log_days = 0;
    int log_days_set = 0, c;
    while ((c = getopt_long(argc, argv, ":qhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (!cli_budget_arg(prog, optarg, &a->co.memory_budget))
                return CLI_EXIT_USAGE;
            break;
        case 'M':
            a->merge = 0;
            break;
        case 'T':
            if (!cli_threads_arg(prog, optarg, &a->co.threads))
                return CLI_EXIT_USAGE;
            break;
        case 'A':
            a->archive = 1;
            break;
        case 'R':
        case 'L':
            if (!cli_parse_u64(optarg, c == 'R' ? &parts_days : &log_days) ||
                (c == 'R' ? parts_days : log_days) > 3660000 || (c == 'R' && !parts_days))
                return cli_usage_error(prog, "%s: expected a number of days, %s to 3660000, "
                                       "not '%s'",
                                       c == 'R' ? "--retention-days" : "--log-retention-days",
                                       c == 'R' ? "1" : "0", optarg);
            log_days_set |= c == 'L';
            break;
        case 'D':
            /* A rule given here alone would be lost to every later rebuild. */
            return cli_usage_error(prog,
                                   "--drop-where: the rules are kept in the store and applied "
                                   "by every compaction; set them with tsagg-rebuild STORE "
                                   "--from T --to T --drop-where %s",
                                   optarg);
        case 'q':
            a->quiet = 1;
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
    a->store = argv[optind];
    a->parts_days = (uint32_t)parts_days;
    /* Without --log-retention-days the log's period is the partitions'. */
    a->log_days = (uint32_t)(log_days_set ? log_days : parts_days);
    return -1;
}

/* Compact, then merge every span with several files (unless --no-merge),
 * and say what was written. */
static int compact_and_merge(tsagg_store *st, const compact_args *a)
{
    tsagg_compact_stats cs = {.struct_size = sizeof cs}, ms = {.struct_size = sizeof ms};
    int rc = tsagg_compact(st, &a->co, &cs);
    if (rc != 0)
        cli_report(prog, st, "compaction", rc);
    if (rc == 0 && a->merge && (rc = tsagg_merge(st, &a->co, &ms)) != 0)
        cli_report(prog, st, "merge", rc);
    if (rc == 0 && cs.events_unplaced)
        fprintf(stderr,
                "%s: warning: %" PRIu64 " events with a ts outside the years 0000-9999 were "
                "skipped (kept in the log; no partition holds them)\n",
                prog, cs.events_unplaced);
    if (rc == 0 && !a->quiet) {
        printf("compacted %" PRIu64 " events (%" PRIu64 " dropped by rules, %" PRIu64
               " duplicates dropped) into %" PRIu64 " files over %" PRIu64 " hours: %" PRIu64
               " month, %" PRIu64 " day and %" PRIu64 " hour files; log consumed up to %" PRIu64
               "\n",
               cs.events_read, cs.events_dropped, cs.duplicates,
               cs.month_files + cs.day_files + cs.hour_files, cs.hours, cs.month_files,
               cs.day_files, cs.hour_files, cs.consumed_seq);
        /* The compaction merged the days and months it sealed (their
         * retries are in its line); the merge pass every other span with
         * several files. */
        printf("merged %" PRIu64 " spans: %" PRIu64 " files replaced by %" PRIu64 " (%" PRIu64
               " duplicates dropped); %" PRIu64 " bytes written in all\n",
               cs.spans_merged + ms.spans_merged, cs.files_removed + ms.files_removed,
               cs.spans_merged + ms.spans_merged, ms.duplicates,
               cs.bytes_written + ms.bytes_written);
    }
    return rc;
}

int main(int argc, char **argv)
{
    compact_args a;
    int code = parse_args(argc, argv, &a);
    if (code >= 0)
        return code;
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE;
    tsagg_store *st;
    if (cli_open_store(prog, a.store, &o, &st) != 0)
        return CLI_EXIT_FAILURE;
    int rc = compact_and_merge(st, &a);
    if (rc == 0 && (a.parts_days || a.log_days))
        rc = apply_retention(st, a.parts_days, a.log_days, a.quiet);
    if (rc == 0 && a.archive)
        rc = archive_log(st, a.quiet);
    int crc = tsagg_store_close(st);
    if (rc == 0 && crc != 0) {
        cli_report(prog, NULL, "close", crc);
        rc = crc;
    }
    return cli_finish_stdout(prog, rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE);
}
