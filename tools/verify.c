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
#include <sys/stat.h>

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

/* Whether STORE holds a descriptor file, readable or not. */
static int has_descriptor(const char *store)
{
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof path, "%s/tsagg.store", store);
    return lstat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/*
 * Open STORE read-only. A descriptor that is there but damaged (bad magic,
 * size or checksum), or a log the open finds inconsistent, is damage found:
 * reported as such, exit 1. A store that is missing, of another version or
 * unreadable is a failure to check: exit 3.
 */
static int open_or_report(const char *store, tsagg_store **st)
{
    char detail[1024] = "";
    int rc = tsagg_store_open(store, NULL, st, detail, sizeof detail);
    if (rc == 0)
        return CLI_EXIT_OK;
    int damaged = rc == TSAGG_ECHECKSUM || rc == TSAGG_ECORRUPT ||
                  (rc == TSAGG_ENOTSTORE && has_descriptor(store));
    if (!damaged) {
        cli_error(prog, "%s: %s (%s)%s%s", store, tsagg_errname(rc), tsagg_strerror(rc),
                  detail[0] ? ": " : "", detail);
        return CLI_EXIT_FAILURE;
    }
    printf("DAMAGED %s: %s: %s\n", store, tsagg_errname(rc), detail);
    printf("  not repairable by a rebuild: the store cannot be opened\n");
    printf("%s: DAMAGED\n", store);
    return CLI_EXIT_PARTIAL;
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
    int rc = open_or_report(r.store, &st);
    if (rc != CLI_EXIT_OK)
        return rc;
    tsagg_verify_stats s;
    rc = tsagg_verify(st, on_problem, &r, &s);
    int stopped = rc != 0 && s.problems == 0;
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
    return stopped ? CLI_EXIT_FAILURE : s.problems ? CLI_EXIT_PARTIAL : CLI_EXIT_OK;
}
