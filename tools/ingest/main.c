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
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "cli.h"
#include "interrupt.h"
#include "loader.h"
#include "schemafile.h"

#define PROG "tsagg-ingest"
#define INTERVAL_SYNC_MS 1000

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

/* The store, created with --schema's fields when new: NULL after saying
 * why, with *code the exit code. */
static tsagg_store *open_store(const ingest_args *a, int *code)
{
    tsagg_schema *schema = NULL;
    if (a->schema_path) {
        char err[512];
        if (!(schema = schemafile_read(a->schema_path, err, sizeof err))) {
            *code = cli_usage_error(PROG, "%s", err);
            return NULL;
        }
    }
    tsagg_options opts;
    tsagg_options_init(&opts);
    opts.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    opts.schema = schema;
    opts.sync_mode = a->sync_mode;
    opts.sync_interval_ms = INTERVAL_SYNC_MS;
    tsagg_store *st;
    if (cli_open_store(PROG, a->store, &opts, &st) != 0) {
        tsagg_schema_free(schema);
        *code = CLI_EXIT_FAILURE;
        return NULL;
    }
    if (schema && tsagg_schema_id(schema) != tsagg_schema_id(tsagg_store_schema(st))) {
        tsagg_store_close(st);
        tsagg_schema_free(schema);
        *code = cli_usage_error(PROG, "%s: the store exists with another schema than %s",
                                a->store, a->schema_path);
        return NULL;
    }
    tsagg_schema_free(schema);
    return st;
}

/* Load the inputs (into bulk when not NULL), make them durable and say how
 * many events were stored: the store's error, or 0. */
static int load(const ingest_args *a, tsagg_store *st, compaction *cs, tsagg_bulk *bulk,
                loader_stats *ls)
{
    loader_options lo = a->lo;
    lo.bulk = bulk;
    lo.progress = cli_stderr_is_tty() && !a->quiet;
    lo.every_s = (double)a->every_us / 1e6;
    lo.periodic = compact_store;
    lo.periodic_ctx = cs;
    double t0 = now_s();
    uint64_t seq0 = tsagg_last_seq(st); /* after the open: all of it durable */
    int rc = loader_run(st, &lo, a->inputs, a->ninputs, ls);
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
    if (stored > ls->accepted)
        stored = ls->accepted;
    char lost[128] = "";
    if (stored < ls->accepted)
        snprintf(lost, sizeof lost, ", %" PRIu64 " read but not stored (the log write failed)",
                 ls->accepted - stored);
    if (!a->quiet || lost[0])
        fprintf(stderr,
                "%s: %" PRIu64 " events accepted%s, %" PRIu64 " rejected, %.2f s, %.0f events/s, "
                "durable up to seq %" PRIu64 "%s\n",
                PROG, stored, lost, ls->rejected, secs, secs > 0 ? (double)stored / secs : 0.0,
                durable, ls->stopped ? " (stopped at --max-errors)" : "");
    if (ls->interrupted)
        print_resume(a->inputs, a->ninputs, ls);
    return rc;
}

/* --compact once the load ended (rc): the bulk load's files written, or
 * the log compacted (with --compact-every), then every span merged. An
 * interrupted load is not compacted: the signal asked to stop. */
static int compact_after_load(const ingest_args *a, compaction *cs, tsagg_bulk *bulk, int rc,
                              const loader_stats *ls)
{
    if (bulk && (rc != 0 || ls->interrupted)) {
        tsagg_bulk_cancel(bulk);
    } else if (bulk) {
        tsagg_compact_stats s = {.struct_size = sizeof s};
        double t = now_s();
        rc = merge_after(cs, tsagg_bulk_finish(bulk, &s), &s, t);
    } else if (rc == 0 && a->compact && !ls->interrupted) {
        rc = compact_store(cs);
    }
    return rc;
}

/* The tool's run after its command line: the exit code. */
static int ingest(const ingest_args *a)
{
    int code = CLI_EXIT_FAILURE;
    tsagg_store *st = open_store(a, &code);
    if (!st)
        return code;
    compaction cs = {st, a->budget, a->quiet};
    /* --compact of an input that ends: compacted as it loads, from memory
     * (tsagg_bulk_begin), the log never read back. */
    tsagg_bulk *bulk = NULL;
    if (a->compact && a->every_us == 0) {
        tsagg_compact_options o;
        compaction_options(&cs, &o);
        int brc = tsagg_bulk_begin(st, &o, &bulk);
        if (brc != 0) {
            cli_report(PROG, st, "compact", brc);
            tsagg_store_close(st);
            return CLI_EXIT_FAILURE;
        }
    }
    loader_stats ls;
    int rc = load(a, st, &cs, bulk, &ls);
    rc = compact_after_load(a, &cs, bulk, rc, &ls);
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

int main(int argc, char **argv)
{
    /* Before the store opens: its threads inherit the blocked signals. */
    if (interrupt_catch() != 0) {
        cli_error(PROG, "cannot catch SIGINT and SIGTERM");
        return CLI_EXIT_FAILURE;
    }
    ingest_args a;
    int code = ingest_parse_args(argc, argv, &a);
    if (code < 0)
        code = ingest(&a);
    ingest_args_free(&a);
    return code;
}
