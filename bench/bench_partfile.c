/*
 * bench_partfile.c - one partition file of a long span: bytes by piece and
 * the cost of finding one merchant in it.
 *
 *   bench_partfile [--events N] [--days D] [--merchants M] [--seed S]
 *                  [--hours H] [--lookups R] [--dir DIR] [--keep]
 *
 * Generates N GA-like events over D days (default 2,000,000 over 365 days,
 * 200,000 Zipf-distributed merchants: the long-tail shape, whose month is
 * ~170k events), keeps those of the first H hours (default 744: the month
 * of October 2026 where the generator starts), sorts them as the compactor
 * does and writes them into one partition file of that span. Then prints
 * `<name> <value> <unit>` lines: the write rate, the file's bytes by piece
 * (header, columns, dictionaries, rollups, index, footer) in total and per
 * event, the index's shape, the CPU time of decoding every column of every
 * row group (per row: checksums, zstd, decoding), and for merchants of a
 * few traffic ranks the
 * time of open + find_merchant + segments on a fresh reader (the file is in
 * the OS cache: it was just written) and of find + segments on an open one.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchutil.h"
#include "gagen.h"
#include "spanbuf.h"
#include "partfile.h"
#include "tsagg.h"

#define BATCH 4096

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_partfile: %s: %s\n", what, tsagg_strerror(rc));
    exit(1);
}

/* The schema column of an attribute key: dimension d >= 0, measure m as
 * -2 - m, -1 when the schema does not declare it. */
static int key_column(const tsagg_schema *schema, const tsagg_attr *a)
{
    char name[TSAGG_NAME_MAX + 1];
    memcpy(name, a->key, a->key_len);
    name[a->key_len] = 0;
    int d = tsagg_schema_dimension_index(schema, name);
    if (d >= 0)
        return d;
    int m = tsagg_schema_measure_index(schema, name);
    return m >= 0 ? -2 - m : -1;
}

/* The events of [start, start + hours h) into h, as the compactor converts
 * them: declared string attributes become dimensions, declared numbers
 * measures. */
static void generate(const gagen_config *cfg, const tsagg_schema *schema, int64_t start,
                     uint32_t hours, tsagg__spanbuf *h)
{
    gagen *g = gagen_create(cfg);
    if (!g)
        die("gagen_create", -errno);
    uint32_t ndims = h->ndims, nm = h->nmeasures, empty;
    uint32_t dims[TSAGG_SCHEMA_MAX_FIELDS];
    double meas[TSAGG_SCHEMA_MAX_FIELDS];
    int rc = tsagg__spanbuf_intern(h, "", 0, &empty);
    if (rc != 0)
        die("intern", rc);
    int64_t end = start + (int64_t)hours * TSAGG__HOUR_US;
    tsagg_event *batch = malloc(BATCH * sizeof *batch);
    size_t n;
    while ((n = gagen_next(g, batch, BATCH)) > 0) {
        for (size_t i = 0; i < n; i++) {
            const tsagg_event *e = &batch[i];
            if (e->ts < start || e->ts >= end)
                continue;
            tsagg__spanrow row = {.ts = e->ts,
                               .merchant = e->merchant,
                               .user = e->user,
                               .session = e->session,
                               .flags = e->flags & TSAGG_EVENT_HAS_ID,
                               .id = e->flags & TSAGG_EVENT_HAS_ID ? e->id : 0};
            rc = tsagg__spanbuf_intern(h, e->event, e->event_len, &row.event);
            for (uint32_t d = 0; d < ndims; d++)
                dims[d] = empty;
            for (uint32_t m = 0; m < nm; m++)
                meas[m] = NAN;
            for (uint32_t a = 0; rc == 0 && a < e->nattrs; a++) {
                const tsagg_attr *at = &e->attrs[a];
                int col = key_column(schema, at);
                if (col >= 0 && at->type == TSAGG_STR)
                    rc = tsagg__spanbuf_intern(h, at->v.s.ptr, at->v.s.len, &dims[col]);
                else if (col <= -2 && at->type != TSAGG_STR)
                    meas[-2 - col] = at->type == TSAGG_F64 ? at->v.f : (double)at->v.i;
            }
            if (rc == 0)
                rc = tsagg__spanbuf_add(h, &row, dims, meas);
            if (rc != 0)
                die("spanbuf", rc);
        }
    }
    free(batch);
    gagen_free(g);
}

/* Write h's rows, sorted, into path; the write time in *secs. */
static void write_file(const tsagg__spanbuf *h, const tsagg_schema *schema, const char *path,
                       int64_t start, uint32_t hours, tsagg__part_info *info, double *secs,
                       double *cpu)
{
    double t0 = mono_s(), c0 = cpu_s();
    tsagg__part_writer *w;
    int rc = tsagg__part_writer_open(tsagg_io_default(), path, start, hours, schema, 1, &w);
    if (rc != 0)
        die("writer_open", rc);
    uint32_t ndims = h->ndims, nm = h->nmeasures;
    tsagg__row *rows = malloc(BATCH * sizeof *rows);
    tsagg__str *dims = malloc((size_t)BATCH * (ndims ? ndims : 1) * sizeof *dims);
    for (size_t i = 0; i < h->n; i += BATCH) {
        size_t k = h->n - i < BATCH ? h->n - i : BATCH;
        for (size_t j = 0; j < k; j++) {
            size_t r = h->order[i + j];
            const tsagg__spanrow *hr = &h->rows[r];
            for (uint32_t d = 0; d < ndims; d++)
                dims[j * ndims + d] = tsagg__spanbuf_str(h, h->dims[r * ndims + d]);
            rows[j] = (tsagg__row){.ts = hr->ts,
                                   .merchant = hr->merchant,
                                   .user = hr->user,
                                   .session = hr->session,
                                   .id = hr->id,
                                   .flags = hr->flags,
                                   .event = tsagg__spanbuf_str(h, hr->event),
                                   .dims = dims + j * ndims,
                                   .measures = h->meas + r * nm};
        }
        if ((rc = tsagg__part_writer_add(w, rows, k)) != 0) {
            char msg[256];
            tsagg__part_writer_errmsg(w, msg, sizeof msg);
            fprintf(stderr, "bench_partfile: add: %s\n", msg);
            exit(1);
        }
    }
    free(rows);
    free(dims);
    if ((rc = tsagg__part_writer_finish(w, info)) != 0)
        die("writer_finish", rc);
    *secs = mono_s() - t0;
    *cpu = cpu_s() - c0;
}

/* Bytes by piece, and what the index holds. */
static void report_space(tsagg__part *p, uint64_t rows)
{
    tsagg__part_space_info s;
    tsagg__part_space(p, &s);
    double n = rows ? (double)rows : 1;
    const char *names[6] = {"header", "columns", "dictionaries", "rollups", "index", "footer"};
    uint64_t v[6] = {s.header, s.columns, s.dicts, s.rollups, s.index, s.footer};
    for (int i = 0; i < 6; i++)
        printf("bytes_%s %" PRIu64 " B (%.3f B/event)\n", names[i], v[i], (double)v[i] / n);
    uint64_t segmented = 0, segments = 0, rollups = 0, merchants = tsagg__part_merchants(p);
    tsagg__hour_segment *segs = malloc(TSAGG__PART_MAX_HOURS * sizeof *segs);
    for (uint64_t i = 0; i < merchants; i++) {
        tsagg__merchant_entry e;
        int rc = tsagg__part_merchant_at(p, i, &e);
        if (rc == 0 && e.nsegments)
            rc = tsagg__part_segments(p, &e, segs);
        if (rc != 0)
            die("index", rc);
        segmented += e.nsegments > 0;
        segments += e.nsegments;
        for (uint32_t k = 0; k < e.nsegments; k++)
            rollups += segs[k].rollup_len > 0;
    }
    free(segs);
    const tsagg_schema *schema = tsagg__part_schema(p);
    uint32_t ndims = (uint32_t)tsagg_schema_dimension_count(schema);
    uint32_t ncols = TSAGG__COL_DIM0 + ndims + (uint32_t)tsagg_schema_measure_count(schema);
    static const char *core[TSAGG__COL_DIM0] = {"ts",      "merchant", "event", "user",
                                                "session", "id",       "flags"};
    for (uint32_t c = 0; c < ncols; c++) {
        const char *name = c < TSAGG__COL_DIM0 ? core[c]
                           : c < TSAGG__COL_DIM0 + ndims
                               ? tsagg_schema_dimension_name(schema, c - TSAGG__COL_DIM0)
                               : tsagg_schema_measure_name(schema, c - TSAGG__COL_DIM0 - ndims);
        printf("column_%s %.3f B/event (dictionary %.3f)\n", name,
               (double)tsagg__part_column_bytes(p, c) / n,
               (double)tsagg__part_dict_bytes(p, c) / n);
    }
    printf("merchants %" PRIu64 " (%" PRIu64 " with hour segments: %" PRIu64 " segments, %" PRIu64
           " rollups)\n",
           merchants, segmented, segments, rollups);
    printf("index_bytes_per_merchant %.2f B\n", merchants ? (double)s.index / (double)merchants : 0);
    printf("row_groups %u\n", tsagg__part_groups(p));
}

/* Time decoding every row group of every column (checksum, zstd where a
 * block has it, decode; the file is in the OS cache), per column and in
 * all, in ns per row: the read-side cost of the encodings and of the zstd
 * rule. Best of three passes. */
static void report_scan(tsagg__part *p, uint64_t rows)
{
    const tsagg_schema *schema = tsagg__part_schema(p);
    uint32_t ncols = TSAGG__COL_DIM0 + (uint32_t)tsagg_schema_dimension_count(schema) +
                     (uint32_t)tsagg_schema_measure_count(schema);
    uint32_t groups = tsagg__part_groups(p);
    uint64_t *buf = malloc(TSAGG__PART_GROUP_ROWS * sizeof *buf);
    static const char *core[TSAGG__COL_DIM0] = {"ts",      "merchant", "event", "user",
                                                "session", "id",       "flags"};
    double all = 0, n = rows ? (double)rows : 1;
    for (uint32_t c = 0; c < ncols; c++) {
        double best = 0;
        for (int pass = 0; pass < 3; pass++) {
            double t0 = cpu_s();
            for (uint32_t g = 0; g < groups; g++) {
                int rc = tsagg__part_read_column(p, c, g, buf);
                if (rc != 0)
                    die("read_column", rc);
            }
            double t = cpu_s() - t0;
            best = pass == 0 || t < best ? t : best;
        }
        all += best;
        uint32_t ndims = (uint32_t)tsagg_schema_dimension_count(schema);
        const char *name = c < TSAGG__COL_DIM0 ? core[c]
                           : c < TSAGG__COL_DIM0 + ndims
                               ? tsagg_schema_dimension_name(schema, c - TSAGG__COL_DIM0)
                               : tsagg_schema_measure_name(schema, c - TSAGG__COL_DIM0 - ndims);
        printf("scan_%s %.2f ns/row\n", name, best * 1e9 / n);
    }
    printf("scan_all_columns %.2f ns/row\n", all * 1e9 / n);
    free(buf);
}

/* Time lookups of merchant m: on fresh readers, and on one open reader. */
static void report_lookup(const char *path, const char *label, uint64_t m, int reps)
{
    tsagg__hour_segment *segs = malloc(TSAGG__PART_MAX_HOURS * sizeof *segs);
    tsagg__merchant_entry e = {0};
    int found = 0;
    double t0 = mono_s();
    for (int i = 0; i < reps; i++) {
        tsagg__part *p;
        int rc = tsagg__part_open(tsagg_io_default(), path, &p, NULL, 0);
        if (rc != 0)
            die("open", rc);
        found = tsagg__part_find_merchant(p, m, &e);
        if (found == 1 && e.nsegments)
            rc = tsagg__part_segments(p, &e, segs);
        if (found < 0 || rc != 0)
            die("lookup", found < 0 ? found : rc);
        tsagg__part_close(p);
    }
    double fresh = (mono_s() - t0) / reps;
    tsagg__part *p;
    int rc = tsagg__part_open(tsagg_io_default(), path, &p, NULL, 0);
    if (rc != 0)
        die("open", rc);
    t0 = mono_s();
    for (int i = 0; i < reps; i++) {
        found = tsagg__part_find_merchant(p, m, &e);
        if (found == 1 && e.nsegments && (rc = tsagg__part_segments(p, &e, segs)) != 0)
            die("segments", rc);
    }
    double warm = (mono_s() - t0) / reps;
    tsagg__part_close(p);
    free(segs);
    printf("lookup_%s merchant %" PRIu64 ": %s, %" PRIu64 " rows, %u segments; open+find+segments "
           "%.1f us, find+segments on an open reader %.2f us\n",
           label, m, found == 1 ? "found" : "absent", found == 1 ? e.rows : 0,
           found == 1 ? e.nsegments : 0, fresh * 1e6, warm * 1e6);
}

int main(int argc, char **argv)
{
    gagen_config cfg;
    gagen_config_init(&cfg);
    cfg.events = 2000000;
    cfg.days = 365;
    cfg.merchants = 200000;
    uint32_t hours = TSAGG__PART_MAX_HOURS;
    int reps = 1000, keep = 0;
    const char *base = "/tmp";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--events") && i + 1 < argc)
            cfg.events = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--days") && i + 1 < argc)
            cfg.days = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--merchants") && i + 1 < argc)
            cfg.merchants = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            cfg.seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--hours") && i + 1 < argc)
            hours = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--lookups") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            base = argv[++i];
        else if (!strcmp(argv[i], "--keep"))
            keep = 1;
        else {
            fprintf(stderr, "usage: bench_partfile [--events N] [--days D] [--merchants M] "
                            "[--seed S] [--hours H] [--lookups R] [--dir DIR] [--keep]\n");
            return 2;
        }
    }
    if (hours < 1 || hours > TSAGG__PART_MAX_HOURS || reps < 1) {
        fprintf(stderr, "bench_partfile: --hours must be 1..%d, --lookups >= 1\n",
                TSAGG__PART_MAX_HOURS);
        return 2;
    }
    tsagg_schema *schema;
    int rc = tsagg_schema_create_default(&schema);
    if (rc != 0)
        die("schema", rc);
    tsagg__spanbuf h;
    int64_t start = cfg.start_us - cfg.start_us % TSAGG__HOUR_US;
    rc = tsagg__spanbuf_init(&h, start, (uint32_t)tsagg_schema_dimension_count(schema),
                             (uint32_t)tsagg_schema_measure_count(schema));
    if (rc != 0)
        die("spanbuf_init", rc);
    double t0 = mono_s();
    generate(&cfg, schema, start, hours, &h);
    if ((rc = tsagg__spanbuf_sort(&h)) != 0)
        die("sort", rc);
    printf("events %" PRIu64 " in the span of %u h (of %" PRIu64 " over %u days, %u merchants); "
           "generated and sorted in %.1f s\n",
           (uint64_t)h.n, hours, cfg.events, cfg.days, cfg.merchants, mono_s() - t0);

    char dir[4096];
    snprintf(dir, sizeof dir, "%s/bench_partfile.XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("bench_partfile: mkdtemp");
        return 1;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/span.tpart", dir);
    tsagg__part_info info;
    double secs, cpu;
    write_file(&h, schema, path, start, hours, &info, &secs, &cpu);
    printf("write %.0f rows/s (%.2f s, fsync included), %.0f rows/cpu-s; file %" PRIu64
           " B, %.2f B/event\n",
           (double)info.rows / secs, secs, (double)info.rows / cpu, info.bytes,
           (double)info.bytes / (double)info.rows);
    tsagg__spanbuf_free(&h);

    tsagg__part *p;
    char err[512];
    t0 = mono_s();
    if ((rc = tsagg__part_open(tsagg_io_default(), path, &p, err, sizeof err)) != 0) {
        fprintf(stderr, "bench_partfile: %s\n", err);
        return 1;
    }
    printf("open %.1f us\n", (mono_s() - t0) * 1e6);
    report_space(p, info.rows);
    report_scan(p, info.rows);
    tsagg__part_close(p);

    gagen *g = gagen_create(&cfg);
    size_t ranks[4] = {0, 19, cfg.merchants / 100, cfg.merchants / 2};
    const char *labels[4] = {"rank1", "rank20", "rank1pct", "median"};
    for (int i = 0; i < 4; i++)
        if (ranks[i] < cfg.merchants)
            report_lookup(path, labels[i], gagen_merchant_by_rank(g, ranks[i]), reps);
    gagen_free(g);

    if (!keep) {
        unlink(path);
        rmdir(dir);
    } else {
        printf("kept %s\n", path);
    }
    tsagg_schema_free(schema);
    return 0;
}
