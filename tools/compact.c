/*
 * tsagg-compact - one compaction and merge pass over a store.
 *
 *   tsagg-compact [--budget MIB] [--no-merge] [--drop-where F=V]... STORE
 *
 * Exit codes (tools/common/cli.h): 0 done, 2 usage, 3 store failure.
 * docs/tools.md.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "rules.h"

static const char prog[] = "tsagg-compact";

static const char usage_text[] =
    "Usage: tsagg-compact [OPTION]... STORE\n"
    "Compact the durable raw log of STORE into hourly partitions, then merge\n"
    "every hour that has several files (late events) into one.\n"
    "\n"
    "      --budget MIB         memory for event data before sorted runs are\n"
    "                           spilled (default 256)\n"
    "      --no-merge           compact only\n"
    "      --drop-where F=V     drop events whose field F (\"event\" or any\n"
    "                           attribute) equals V; repeatable; use the same\n"
    "                           rules with tsagg-rebuild\n"
    "  -q, --quiet              print nothing on success\n"
    "  -h, --help               show this help\n"
    "  -V, --version            show the version\n"
    "\n"
    "Exit status: 0 done, 2 usage error, 3 the store failed.\n";

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"budget", required_argument, NULL, 'b'},
        {"no-merge", no_argument, NULL, 'M'},
        {"drop-where", required_argument, NULL, 'D'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    tsagg_compact_options co;
    tsagg_compact_options_init(&co);
    static rules rs;
    int merge = 1, quiet = 0, c;
    uint64_t mib;
    while ((c = getopt_long(argc, argv, ":qhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (!cli_parse_u64(optarg, &mib) || mib < 1 || mib > (1u << 20))
                return cli_usage_error(prog, "--budget: expected MiB, 1..1048576, got '%s'",
                                       optarg);
            co.memory_budget = mib << 20;
            break;
        case 'M':
            merge = 0;
            break;
        case 'D':
            if (!rules_add(&rs, optarg))
                return cli_usage_error(prog, "--drop-where: expected FIELD=VALUE, got '%s'",
                                       optarg);
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
            return cli_usage_error(prog, "option '%s' needs an argument", argv[optind - 1]);
        default:
            return cli_usage_error(prog, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error(prog, "expected one STORE");
    const char *path = argv[optind];
    if (rs.n) {
        co.process = rules_process;
        co.process_ctx = &rs;
    }

    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE;
    tsagg_store *st;
    if (cli_open_store(prog, path, &o, &st) != 0)
        return CLI_EXIT_FAILURE;
    tsagg_compact_stats cs, ms;
    memset(&ms, 0, sizeof ms);
    int rc = tsagg_compact(st, &co, &cs);
    if (rc != 0)
        cli_report(prog, st, "compaction", rc);
    if (rc == 0 && merge && (rc = tsagg_merge(st, &co, &ms)) != 0)
        cli_report(prog, st, "merge", rc);
    if (rc == 0 && !quiet) {
        printf("compacted %" PRIu64 " events (%" PRIu64 " dropped by rules, %" PRIu64
               " retries) into %" PRIu64 " files over %" PRIu64 " hours, %" PRIu64
               " bytes; log consumed up to %" PRIu64 "\n",
               cs.events_read, cs.events_dropped, cs.duplicates, cs.files_written, cs.hours,
               cs.bytes_written, cs.consumed_seq);
        if (merge)
            printf("merged %" PRIu64 " hours: %" PRIu64 " files replaced by %" PRIu64
                   " (%" PRIu64 " retries dropped)\n",
                   ms.hours, ms.files_removed, ms.files_written, ms.duplicates);
    }
    int crc = tsagg_store_close(st);
    if (rc == 0 && crc != 0) {
        cli_report(prog, NULL, "close", crc);
        rc = crc;
    }
    return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}
