/*
 * tsagg-verify - read every file of a store and check every checksum.
 *
 *   tsagg-verify [--quiet] STORE
 *
 * Exit codes (tools/common/cli.h): 0 nothing damaged, 1 damage found
 * (each file named, with whether a rebuild repairs it), 2 usage, 3 the
 * store could not be opened or read. docs/tools.md.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char prog[] = "tsagg-verify";

static const char usage_text[] =
    "Usage: tsagg-verify [OPTION]... STORE\n"
    "Read every file of STORE (the whole raw log, every partition the\n"
    "manifest lists) and check every checksum. Each damaged file is named,\n"
    "with the tsagg-rebuild command that repairs it, or why none can.\n"
    "Works beside a running writer; changes nothing.\n"
    "\n"
    "  -q, --quiet              print only damage\n"
    "  -h, --help               show this help\n"
    "  -V, --version            show the version\n"
    "\n"
    "Exit status: 0 nothing damaged, 1 damage found, 2 usage error,\n"
    "3 the store could not be opened or read.\n";

typedef struct report_ctx {
    const char *store;
    uint64_t repairable, lost;
} report_ctx;

static void on_problem(void *ctx, const tsagg_verify_problem *p)
{
    report_ctx *r = ctx;
    printf("DAMAGED %s: %s: %s\n", p->file, tsagg_errname(p->code), p->detail);
    if (p->repairable) {
        char a[48], b[48];
        cli_format_time(p->hour, 0, 0, a, sizeof a);
        cli_format_time(p->hour + 3600 * INT64_C(1000000), 0, 0, b, sizeof b);
        printf("  repair: tsagg-rebuild %s --from %s --to %s\n", r->store, a, b);
        r->repairable++;
    } else if (strncmp(p->file, "log", 3) == 0) {
        printf("  not repairable by a rebuild: the raw log is the source of truth; "
               "partitions compacted from it still answer\n");
        r->lost++;
    } else {
        printf("  not repairable by a rebuild%s\n",
               p->hour != INT64_MIN ? ": the raw log it would be rebuilt from is damaged" : "");
        r->lost++;
    }
}

/* The stored processing rules, which the library's check does not read: a
 * damaged file stops every compaction. 1 when damaged (and reported). */
static int rules_damaged(report_ctx *r, tsagg_store *st)
{
    tsagg_rules *rules = NULL;
    int rc = tsagg_store_rules(st, &rules);
    tsagg_rules_free(rules);
    if (rc != TSAGG_ECHECKSUM && rc != TSAGG_ECORRUPT && rc != TSAGG_EVERSION)
        return 0;
    char detail[512];
    tsagg_store_errmsg(st, detail, sizeof detail);
    printf("DAMAGED RULES: %s: %s\n", tsagg_errname(rc), detail);
    printf("  repair: set the rules again: tsagg-rebuild %s --from T --to T "
           "--drop-where F=V... (or --no-rules); compactions stop until then\n",
           r->store);
    r->lost++;
    return 1;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int quiet = 0, c;
    while ((c = getopt_long(argc, argv, ":qhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'q':
            quiet = 1;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return CLI_EXIT_OK;
        case 'V':
            return cli_print_version(prog);
        default:
            return cli_usage_error(prog, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return cli_usage_error(prog, "expected one STORE");
    report_ctx r = {.store = argv[optind]};
    tsagg_store *st;
    int rc = cli_open_store(prog, r.store, NULL, &st);
    if (rc != 0) {
        if (rc == TSAGG_ECHECKSUM || rc == TSAGG_ECORRUPT) {
            printf("DAMAGED %s: the store descriptor or the log cannot be read; "
                   "not repairable by a rebuild\n", r.store);
            return cli_finish_stdout(prog, CLI_EXIT_PARTIAL);
        }
        return CLI_EXIT_FAILURE;
    }
    tsagg_verify_stats s = {.struct_size = sizeof s};
    rc = tsagg_verify(st, on_problem, &r, &s);
    int stopped = rc != 0 && s.problems == 0;
    if (!stopped)
        s.problems += (uint64_t)rules_damaged(&r, st);
    if (stopped)
        cli_report(prog, st, "verify", rc);
    if (!quiet || s.problems)
        printf("%s: %" PRIu64 " log segments (%" PRIu64 " events, %" PRIu64 " bytes), %" PRIu64
               " partitions (%" PRIu64 " rows, %" PRIu64 " bytes): %s\n",
               r.store, s.segments, s.events, s.segment_bytes, s.partitions, s.rows,
               s.partition_bytes,
               stopped ? "check stopped" : s.problems ? "DAMAGED" : "ok");
    if (s.problems)
        printf("%" PRIu64 " damaged files: %" PRIu64 " repairable by tsagg-rebuild, %" PRIu64
               " not\n", s.problems, r.repairable, r.lost);
    tsagg_store_close(st);
    return cli_finish_stdout(prog, stopped      ? CLI_EXIT_FAILURE
                                   : s.problems ? CLI_EXIT_PARTIAL
                                                : CLI_EXIT_OK);
}
