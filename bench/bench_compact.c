/*
 * bench_compact.c - compaction throughput and bytes per event on disk.
 *
 *   bench_compact [--events N] [--days D] [--merchants M] [--budget MIB] [--dir DIR]
 *                 [--start YYYY-MM-DD] [--no-archive]
 *
 * Generates N GA-like events (default 2,000,000 over 7 days, 1,000
 * merchants, from the generator's default start; --start moves it, which a
 * long range needs: days and months are sealed, and written as one file
 * each, only once newer events have arrived, and events more than a day
 * ahead of the clock seal nothing), appends them to a fresh store's log, then times one
 * tsagg_compact() and prints `<name> <value> <unit>` lines: throughput (wall
 * and per CPU-second of the process, i.e. on one core, as the compactor is
 * single-threaded), bytes per event of the partitions, in total and per
 * column, next to the raw log's in its live and archive forms.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gagen.h"
#include "manifest.h"
#include "partfile.h"
#include "benchutil.h"
#include "tsagg.h"
#include "tsagg_compact.h"

static uint64_t log_bytes(tsagg_store *st)
{
    int n = tsagg_log_segments(st, NULL, 0);
    tsagg_segment_info *info = calloc((size_t)(n > 0 ? n : 1), sizeof *info);
    n = tsagg_log_segments(st, info, (size_t)n);
    uint64_t total = 0;
    for (int i = 0; i < n; i++)
        total += info[i].bytes;
    free(info);
    return total;
}

int main(int argc, char **argv)
{
    uint64_t events = 2000000, budget_mib = 256;
    uint32_t days = 7, merchants = 1000;
    const char *base = "/tmp";
    int archive = 1;
    int64_t start_us = INT64_MIN; /* the generator's default */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--events") && i + 1 < argc)
            events = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--days") && i + 1 < argc)
            days = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--merchants") && i + 1 < argc)
            merchants = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--budget") && i + 1 < argc)
            budget_mib = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--start") && i + 1 < argc) {
            struct tm tm = {0};
            const char *end = strptime(argv[++i], "%Y-%m-%d", &tm);
            if (!end || *end) {
                fprintf(stderr, "bench_compact: --start: expected YYYY-MM-DD, got '%s'\n",
                        argv[i]);
                return 2;
            }
            start_us = (int64_t)timegm(&tm) * 1000000;
        } else if (!strcmp(argv[i], "--no-archive"))
            archive = 0;
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            base = argv[++i];
        else {
            fprintf(stderr, "usage: bench_compact [--events N] [--days D] [--merchants M] "
                            "[--budget MIB] [--dir DIR] [--start YYYY-MM-DD] [--no-archive]\n");
            return 2;
        }
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tsagg-bench-compact-XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("bench_compact: mkdtemp");
        return 1;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/store", dir);

    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.sync_mode = TSAGG_SYNC_NONE;
    tsagg_store *st;
    char err[512];
    int rc = tsagg_store_open(path, &o, &st, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "bench_compact: open: %s: %s\n", tsagg_strerror(rc), err);
        return 1;
    }
    gagen_config cfg;
    gagen_config_init(&cfg);
    cfg.events = events;
    cfg.days = days;
    cfg.merchants = merchants;
    if (start_us != INT64_MIN)
        cfg.start_us = start_us;
    gagen *g = gagen_create(&cfg);
    tsagg_event batch[4096];
    size_t n;
    while ((n = gagen_next(g, batch, 4096)) > 0)
        if ((rc = tsagg_append(st, batch, n, NULL)) != 0)
            bench_die("bench_compact", "append", rc, st);
    gagen_free(g);
    if ((rc = tsagg_flush(st)) != 0)
        bench_die("bench_compact", "flush", rc, st);
    printf("events %" PRIu64 " count\ndays %u count\nmerchants %u count\n", events, days,
           merchants);

    tsagg_compact_options co;
    tsagg_compact_options_init(&co);
    co.memory_budget = budget_mib << 20;
    tsagg_compact_stats cs = {.struct_size = sizeof cs};
    double t0 = mono_s(), c0 = cpu_s();
    rc = tsagg_compact(st, &co, &cs);
    double wall = mono_s() - t0, cpu = cpu_s() - c0;
    if (rc != 0)
        bench_die("bench_compact", "compact", rc, st);
    printf("compact %.0f events/s\n", (double)cs.events_read / wall);
    printf("compact_cpu %.0f events/cpu-s\n", (double)cs.events_read / cpu);
    printf("compact_files %" PRIu64 " count\n", cs.files_written);
    printf("compact_month_files %" PRIu64 " count\ncompact_day_files %" PRIu64
           " count\ncompact_hour_files %" PRIu64 " count\n",
           cs.month_files, cs.day_files, cs.hour_files);
    printf("compact_runs_spilled %" PRIu64 " count\n", cs.runs_spilled);
    printf("compact_duplicates %" PRIu64 " count\n", cs.duplicates);

    /* Bytes per event: the partitions, per column, and the raw log. */
    tsagg__snapshot *snap;
    if ((rc = tsagg__snapshot_acquire(st, &snap)) != 0)
        bench_die("bench_compact", "snapshot", rc, st);
    const tsagg__manifest *m = tsagg__snapshot_manifest(snap);
    const tsagg_schema *schema = tsagg_store_schema(st);
    uint32_t ncols = TSAGG__COL_DIM0 + (uint32_t)tsagg_schema_dimension_count(schema) +
                     (uint32_t)tsagg_schema_measure_count(schema);
    uint64_t total = 0, rows = 0, *col = calloc(ncols + 1, sizeof *col);
    for (size_t i = 0; i < m->nparts; i++) {
        total += m->parts[i].bytes;
        rows += m->parts[i].rows;
        char p[4400];
        tsagg__part_file_path(st, &m->parts[i], p, sizeof p);
        tsagg__part *part;
        if ((rc = tsagg__part_open(tsagg_io_default(), p, &part, err, sizeof err)) != 0) {
            fprintf(stderr, "bench_compact: %s\n", err);
            return 1;
        }
        for (uint32_t c = 0; c < ncols; c++)
            col[c] += tsagg__part_column_bytes(part, c);
        tsagg__part_close(part);
    }
    tsagg__snapshot_release(st, snap);
    double ev = (double)events;
    printf("partition_bytes %.2f bytes/event\n", (double)total / ev);
    static const char *const core[] = {"ts", "merchant", "event", "user", "session", "id",
                                       "flags"};
    uint64_t in_columns = 0;
    for (uint32_t c = 0; c < ncols; c++) {
        const char *name = c < TSAGG__COL_DIM0 ? core[c]
                           : c < TSAGG__COL_DIM0 + tsagg_schema_dimension_count(schema)
                               ? tsagg_schema_dimension_name(schema, c - TSAGG__COL_DIM0)
                               : tsagg_schema_measure_name(
                                     schema, c - TSAGG__COL_DIM0 -
                                                 tsagg_schema_dimension_count(schema));
        printf("partition_bytes_%s %.3f bytes/event\n", name, (double)col[c] / ev);
        in_columns += col[c];
    }
    printf("partition_bytes_other %.3f bytes/event\n", (double)(total - in_columns) / ev);
    printf("partition_rows %" PRIu64 " count\n", rows);
    uint64_t live = log_bytes(st);
    printf("log_bytes_live %.2f bytes/event\n", (double)live / ev);
    if (archive) {
        tsagg_log_roll(st);
        unsigned archived;
        if ((rc = tsagg_log_archive(st, 0, &archived)) != 0)
            bench_die("bench_compact", "archive", rc, st);
        printf("log_bytes_archive %.2f bytes/event\n", (double)log_bytes(st) / ev);
    }
    free(col);
    tsagg_store_close(st);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
