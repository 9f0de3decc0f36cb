/*
 * tsagg-verify - read every file of a store and check every checksum.
 *
 *   tsagg-verify [--quiet] [--salvage] STORE
 *
 * Exit codes (tools/common/cli.h): 0 nothing damaged, 1 damage found
 * (each file named, with the repair or why none exists), 2 usage, 3 the
 * store could not be opened or read. docs/tools.md.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static const char prog[] = "tsagg-verify";

static const char usage_text[] =
    "Usage: tsagg-verify [OPTION]... STORE\n"
    "Read every file of STORE (the whole raw log, every partition the\n"
    "manifest lists) and check every checksum. Each damaged file is named,\n"
    "with the command that repairs it, or why none can.\n"
    "Works beside a running writer; changes nothing, unless --salvage.\n"
    "\n"
    "  -q, --quiet              print only damage\n"
    "      --salvage            first accept the loss of log events that stops\n"
    "                           writes: cut the last segment at a damaged frame\n"
    "                           (the bytes cut off are kept as .cut-OFFSET), and\n"
    "                           bring the compacted position down to a log that\n"
    "                           ends below it; needs the writer lock\n"
    "  -h, --help               show this help\n"
    "  -V, --version            show the version\n"
    "\n"
    "Exit status: 0 nothing damaged, 1 damage found, 2 usage error,\n"
    "3 the store could not be opened or read.\n";

typedef struct report_ctx {
    const char *store;
    char live_segment[32]; /* "log/<n>.tlog" of the unsealed last segment */
    uint64_t repairable, lost;
} report_ctx;

static void on_problem(void *ctx, const tsagg_verify_problem *p)
{
    report_ctx *r = ctx;
    printf("DAMAGED %s: %s: %s\n", p->file, tsagg_errname(p->code), p->detail);
    if (p->code == TSAGG_EVERSION && strcmp(p->file, "MANIFEST") == 0) {
        /* Partitions of an older format: regenerated from the log. */
        printf("  repair: tsagg-rebuild %s --all\n", r->store);
        r->repairable++;
    } else if (p->repairable && strcmp(p->file, "MANIFEST") == 0) {
        /* Derived from the log like the partitions: compacting it again
         * restores every answer. */
        printf("  repair: rm %s/MANIFEST && tsagg-compact %s\n", r->store, r->store);
        r->repairable++;
    } else if (p->repairable) {
        char a[48], b[48];
        cli_format_time(p->hour, 0, 0, a, sizeof a);
        cli_format_time(p->hour + (int64_t)(p->hours ? p->hours : 1) * 3600 * INT64_C(1000000),
                        0, 0, b, sizeof b);
        printf("  repair: tsagg-rebuild %s --from %s --to %s\n", r->store, a, b);
        r->repairable++;
    } else if (strcmp(p->file, "log") == 0 && p->code == TSAGG_ECORRUPT) {
        printf("  not repairable by a rebuild: restore log/ from the copy MANIFEST came "
               "from, or accept the loss: tsagg-verify --salvage %s\n", r->store);
        r->lost++;
    } else if (strncmp(p->file, "log", 3) == 0) {
        printf("  not repairable by a rebuild: the raw log is the source of truth. Queries "
               "answer from the partitions and the log before the damage, with a warning "
               "(tsagg-query exits 1): events after it are not counted\n");
        if (r->live_segment[0] && strcmp(p->file, r->live_segment) == 0)
            printf("  salvage: tsagg-verify --salvage %s cuts this segment at the damage "
                   "(events after it are lost unless compacted); writes resume\n", r->store);
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

/* The unsealed last segment, the one a salvage can cut. */
static void find_live_segment(tsagg_store *st, report_ctx *r)
{
    int n = tsagg_log_segments(st, NULL, 0);
    tsagg_segment_info *segs = n > 0 ? calloc((size_t)n, sizeof *segs) : NULL;
    if (segs && tsagg_log_segments(st, segs, (size_t)n) >= n && !segs[n - 1].sealed)
        snprintf(r->live_segment, sizeof r->live_segment, "log/%016" PRIx64 ".tlog",
                 segs[n - 1].number);
    free(segs);
}

/* Open for writing with TSAGG_OPEN_SALVAGE, say what the log now holds and
 * which bytes were cut off. */
static int salvage(const char *store)
{
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_SALVAGE;
    tsagg_store *st;
    if (cli_open_store(prog, store, &o, &st) != 0)
        return CLI_EXIT_FAILURE;
    uint64_t last = tsagg_last_seq(st), compacted = 0;
    int rc = tsagg_compacted_seq(st, &compacted);
    int crc = tsagg_store_close(st);
    if (rc != 0 || crc != 0) {
        cli_report(prog, NULL, "salvage", rc != 0 ? rc : crc);
        return CLI_EXIT_FAILURE;
    }
    printf("salvaged %s: the log ends at sequence %" PRIu64 ", compacted up to %" PRIu64 "\n",
           store, last, compacted);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/log", store);
    DIR *d = opendir(dir);
    for (struct dirent *de; d && (de = readdir(d)) != NULL;)
        if (strstr(de->d_name, ".tlog.cut-"))
            printf("  bytes cut off a damaged segment: log/%s\n", de->d_name);
    if (d)
        closedir(d);
    return CLI_EXIT_OK;
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
        {"salvage", no_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int quiet = 0, salvaging = 0, c;
    while ((c = getopt_long(argc, argv, ":qhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'q':
            quiet = 1;
            break;
        case 'S':
            salvaging = 1;
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
    int rc = salvaging ? salvage(r.store) : CLI_EXIT_OK;
    if (rc == CLI_EXIT_OK)
        rc = open_or_report(r.store, &st);
    if (rc != CLI_EXIT_OK)
        return cli_finish_stdout(prog, rc);
    find_live_segment(st, &r);
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
        printf("%" PRIu64 " damaged files: %" PRIu64 " repairable, %" PRIu64 " not\n",
               s.problems, r.repairable, r.lost);
    if (s.unlisted_partitions)
        printf("note: no MANIFEST, yet parts/ holds %" PRIu64 " partition files (a first "
               "compaction that did not finish, or a lost MANIFEST): queries answer from "
               "the log alone; tsagg-compact %s removes them and compacts the log\n",
               s.unlisted_partitions, r.store);
    tsagg_store_close(st);
    return cli_finish_stdout(prog, stopped      ? CLI_EXIT_FAILURE
                                   : s.problems ? CLI_EXIT_PARTIAL
                                                : CLI_EXIT_OK);
}
