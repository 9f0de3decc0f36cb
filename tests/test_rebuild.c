/*
 * test_rebuild.c - tsagg_rebuild (regenerate hours from the raw log as a new
 * generation), schema evolution (TSAGG_OPEN_SCHEMA) and tsagg_verify.
 *
 * The three uses a rebuild exists for:
 *   - a partition damaged on disk is found by verify, called repairable,
 *     and regenerated with the same rows as before;
 *   - a dimension added to the schema afterwards appears in rebuilt history,
 *     because the raw log kept the field;
 *   - a processing fix (a hook dropping some traffic) changes the rebuilt
 *     hours and only those.
 * Also: queries answer from the old generation until the swap; damage in
 * the log is reported as not repairable and stops a rebuild; bad arguments.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "compactcheck.h"
#include "testutil.h"

TestSuite(rebuild, .init = tu_store_setup, .fini = tu_store_teardown, .timeout = 120);

#define START GAGEN_DEFAULT_START_US
#define DAY (24 * CC_HOUR)

/* A store holding `events` GA-like events over two days, compacted and
 * merged: the first day sealed into one day file, the second in hour
 * files. */
static tsagg_store *make_store(uint64_t events)
{
    tsagg_store *st = cc_open_writer(tu_store);
    gagen_config cfg;
    gagen_config_init(&cfg);
    cfg.seed = 7;
    cfg.events = events;
    cfg.days = 2;
    cfg.merchants = 50;
    cfg.extra_fraction = 0.2;
    gagen *g = gagen_create(&cfg);
    cr_assert_not_null(g);
    tsagg_event evs[4096];
    size_t k;
    while ((k = gagen_next(g, evs, 4096)) > 0)
        cr_assert_eq(tsagg_append(st, evs, k, NULL), 0);
    gagen_free(g);
    cr_assert_eq(tsagg_flush(st), 0);
    cc_compact(st, 0);
    cr_assert_eq(tsagg_merge(st, NULL, NULL), 0);
    return st;
}

static tsagg_rebuild_stats rebuild_ok(tsagg_store *st, int64_t from, int64_t to,
                                      tsagg_process_fn fn, void *ctx)
{
    tsagg_rebuild_options o;
    tsagg_rebuild_options_init(&o);
    o.from = from;
    o.to = to;
    o.process = fn;
    o.process_ctx = ctx;
    tsagg_rebuild_stats s = {.struct_size = sizeof s};
    int rc = tsagg_rebuild(st, &o, &s);
    char err[512];
    tsagg_store_errmsg(st, err, sizeof err);
    cr_assert_eq(rc, 0, "rebuild: %s (%s)", tsagg_strerror(rc), err);
    return s;
}

/* Hourly count, exact users and sum of value of every merchant over the
 * two days: one number per hour and metric. */
typedef struct series {
    size_t n;
    double v[3][2 * 24];
} series;

static int run_series(tsagg_store *st, const tsagg_filter *f, uint32_t nf, series *out)
{
    tsagg_metric m[3] = {{TSAGG_METRIC_COUNT, NULL}, {TSAGG_METRIC_USERS, NULL},
                         {TSAGG_METRIC_SUM, "value"}};
    tsagg_query q;
    tsagg_query_init(&q);
    q.flags = TSAGG_QUERY_ALL_MERCHANTS | TSAGG_QUERY_EXACT | TSAGG_QUERY_NO_TAIL;
    q.from = START;
    q.to = START + 2 * DAY;
    q.bucket = TSAGG_BUCKET_HOUR;
    q.metrics = m;
    q.nmetrics = 3;
    q.filters = f;
    q.nfilters = nf;
    tsagg_result *r;
    cr_assert_eq(tsagg_result_create(&r), 0);
    int rc = tsagg_query_run(st, &q, r);
    if (rc == 0) {
        out->n = tsagg_result_rows(r);
        cr_assert_eq(out->n, 48);
        for (size_t k = 0; k < 3; k++)
            memcpy(out->v[k], tsagg_result_values(r, k), out->n * sizeof(double));
    }
    tsagg_result_free(r);
    return rc;
}

static void series_ok(tsagg_store *st, const tsagg_filter *f, uint32_t nf, series *out)
{
    int rc = run_series(st, f, nf, out);
    char err[512];
    tsagg_store_errmsg(st, err, sizeof err);
    cr_assert_eq(rc, 0, "query: %s (%s)", tsagg_strerror(rc), err);
}

static void expect_same_hours(const series *a, const series *b, size_t from, size_t to)
{
    for (size_t h = from; h < to; h++)
        for (size_t k = 0; k < 3; k++)
            cr_assert(a->v[k][h] == b->v[k][h] || (a->v[k][h] != a->v[k][h] &&
                                                   b->v[k][h] != b->v[k][h]),
                      "hour %zu metric %zu: %g, expected %g", h, k, b->v[k][h], a->v[k][h]);
}

/* The one file whose span holds an hour in the published manifest. */
static tsagg__part_ref hour_file(tsagg_store *st, int64_t hour)
{
    tsagg__snapshot *s;
    cr_assert_eq(tsagg__snapshot_acquire(st, &s), 0);
    const tsagg__manifest *m = tsagg__snapshot_manifest(s);
    tsagg__part_ref ref = {0};
    int n = 0;
    for (size_t i = 0; i < m->nparts; i++)
        if (m->parts[i].start <= hour && hour < cc_span_end(&m->parts[i])) {
            ref = m->parts[i];
            n++;
        }
    tsagg__snapshot_release(st, s);
    cr_assert_eq(n, 1, "hour %" PRId64 ": %d files", hour, n);
    return ref;
}

/* Every row of a partition file, as text lines sorted. */
static char *rows_text(tsagg_store *st, const tsagg__part_ref *ref)
{
    cc_ctx c;
    cc_init(&c, tsagg_store_schema(st));
    cc_rows rows = {0};
    char path[1024];
    cc_path(st, ref, path, sizeof path);
    cc_read_part(&c, path, ref, 0, 1, &rows);
    cc_sort(&rows);
    size_t cap = rows.n * 512 + 1, len = 0;
    char *out = malloc(cap);
    cr_assert_not_null(out);
    out[0] = 0;
    for (size_t i = 0; i < rows.n; i++) {
        char line[512];
        cc_row_text(&c, &rows.r[i], line, sizeof line);
        len += (size_t)snprintf(out + len, cap - len, "%s\n", line);
    }
    cc_rows_free(&rows);
    cc_fini(&c);
    return out;
}

/* Flip one byte in the middle of a file. */
static void damage(const char *path, uint64_t size)
{
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    unsigned char b;
    off_t at = (off_t)(size / 3);
    cr_assert_eq(pread(fd, &b, 1, at), 1);
    b ^= 0x5a;
    cr_assert_eq(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

typedef struct problems {
    int n;
    tsagg_verify_problem last;
    char file[256];
} problems;

static void on_problem(void *ctx, const tsagg_verify_problem *p)
{
    problems *ps = ctx;
    ps->n++;
    ps->last = *p;
    snprintf(ps->file, sizeof ps->file, "%s", p->file);
    ps->last.file = ps->file;
    ps->last.detail = NULL;
}

Test(rebuild, damaged_partition_is_regenerated_with_the_same_rows)
{
    tsagg_store *st = make_store(60000);
    series before, after;
    series_ok(st, NULL, 0, &before);
    /* An hour inside the first day's file. */
    int64_t hour = START + 14 * CC_HOUR;
    tsagg__part_ref old = hour_file(st, hour);
    cr_assert(old.start == START && old.hours == 24, "the first day is one file");
    cr_assert_gt(old.rows, 500);
    char *expect = rows_text(st, &old);

    tsagg_verify_stats vs = {.struct_size = sizeof vs};
    problems ps = {0};
    cr_assert_eq(tsagg_verify(st, on_problem, &ps, &vs), 0);
    cr_assert_eq(ps.n, 0);
    cr_assert_eq(vs.problems, 0);
    cr_assert_eq(vs.events, 60000);
    cr_assert_eq(vs.partitions, 1 + 24);

    char path[1024];
    cc_path(st, &old, path, sizeof path);
    damage(path, old.bytes);
    int rc = tsagg_verify(st, on_problem, &ps, &vs);
    cr_assert(rc == TSAGG_ECHECKSUM || rc == TSAGG_ECORRUPT, "verify: %s", tsagg_strerror(rc));
    cr_assert_eq(ps.n, 1);
    cr_assert_eq(vs.problems, 1);
    cr_assert_eq(ps.last.hour, START, "the damaged file's span");
    cr_assert_eq(ps.last.hours, 24);
    cr_assert_eq(ps.last.repairable, 1);
    cr_assert_eq(strncmp(ps.file, "parts/", 6), 0, "%s", ps.file);

    /* A minute of it: the whole day's file is regenerated. */
    tsagg_rebuild_stats s = rebuild_ok(st, hour + 60 * 1000000, hour + 61 * 1000000, NULL, NULL);
    cr_assert_eq(s.hours, 24);
    cr_assert_eq(s.files_replaced, 1);
    cr_assert_eq(s.files_written, 1);
    cr_assert_eq(s.rows_written, old.rows);
    cr_assert_eq(s.generation, old.generation + 1);
    tsagg__part_ref fresh = hour_file(st, hour);
    cr_assert(fresh.start == START && fresh.hours == 24);
    cr_assert_neq(fresh.file_id, old.file_id);
    cr_assert_eq(fresh.generation, old.generation + 1);
    char *got = rows_text(st, &fresh);
    cr_assert_str_eq(got, expect);

    ps.n = 0;
    cr_assert_eq(tsagg_verify(st, on_problem, &ps, &vs), 0);
    cr_assert_eq(ps.n, 0);
    series_ok(st, NULL, 0, &after);
    expect_same_hours(&before, &after, 0, 48);
    free(expect);
    free(got);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* Set a partition file's format version, its header checksum kept good. */
static void set_version(const char *path, uint16_t version)
{
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    unsigned char h[64];
    cr_assert_eq(pread(fd, h, 64, 0), 64);
    h[8] = (unsigned char)version;
    h[9] = (unsigned char)(version >> 8);
    uint64_t sum = XXH64(h, 56, 0);
    for (int i = 0; i < 8; i++)
        h[56 + i] = (unsigned char)(sum >> (8 * i));
    cr_assert_eq(pwrite(fd, h, 64, 0), 64);
    close(fd);
}

Test(rebuild, partition_of_an_older_format_names_the_rebuild_and_is_regenerated)
{
    tsagg_store *st = make_store(20000);
    series before, after;
    series_ok(st, NULL, 0, &before);
    cr_assert_eq(tsagg_store_close(st), 0);
    /* The first day's file as version 2 wrote it (one rollup block per
     * merchant-hour): refused, and the message says how to regenerate. */
    st = cc_open_writer(tu_store);
    tsagg__part_ref old = hour_file(st, START);
    char path[1024];
    cc_path(st, &old, path, sizeof path);
    set_version(path, 2);
    int rc = run_series(st, NULL, 0, &after);
    char err[512];
    tsagg_store_errmsg(st, err, sizeof err);
    cr_assert_eq(rc, TSAGG_EVERSION, "query: %s (%s)", tsagg_strerror(rc), err);
    cr_assert(strstr(err, "version 2") && strstr(err, "tsagg-rebuild STORE --all"), "%s", err);
    /* What the message says: a rebuild of everything answers as before. */
    rebuild_ok(st, START, START + 2 * DAY, NULL, NULL);
    series_ok(st, NULL, 0, &after);
    expect_same_hours(&before, &after, 0, 48);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* Count utm_campaign values of the log's events, retries once, from the
 * raw log (the truth). */
static uint64_t campaign_events(tsagg_store *st)
{
    cc_ctx c;
    cc_init(&c, tsagg_store_schema(st));
    cc_rows rows = {0};
    cc_log_rows(&c, st, 1, tsagg_durable_seq(st), NULL, NULL, &rows, NULL, NULL);
    cc_sort(&rows);
    int d = tsagg_schema_dimension_index(tsagg_store_schema(st), "utm_campaign");
    cr_assert_geq(d, 0);
    uint64_t n = 0;
    for (size_t i = 0; i < rows.n; i++) {
        int retry = i > 0 && rows.r[i].flags && cc_same_group(&rows.r[i - 1], &rows.r[i]);
        n += !retry && cc_str(&c.pool, rows.r[i].dims[d])[0] != 0;
    }
    cc_rows_free(&rows);
    cc_fini(&c);
    return n;
}

static double campaign_total(tsagg_store *st, int *rc)
{
    tsagg_query q;
    tsagg_query_init(&q);
    q.flags = TSAGG_QUERY_ALL_MERCHANTS | TSAGG_QUERY_NO_TAIL;
    q.from = START;
    q.to = START + 2 * DAY;
    q.bucket = TSAGG_BUCKET_TOTAL;
    q.group_by = "utm_campaign";
    tsagg_result *r;
    cr_assert_eq(tsagg_result_create(&r), 0);
    *rc = tsagg_query_run(st, &q, r);
    double total = 0;
    for (size_t i = 0; *rc == 0 && i < tsagg_result_rows(r); i++)
        if (tsagg_result_group(r, i)[0])
            total += tsagg_result_values(r, 0)[i];
    tsagg_result_free(r);
    return total;
}

Test(rebuild, added_dimension_appears_in_rebuilt_history)
{
    tsagg_store *st = make_store(40000);
    int rc;
    campaign_total(st, &rc);
    cr_assert_eq(rc, TSAGG_ESCHEMA, "utm_campaign is not declared yet: %s", tsagg_strerror(rc));
    cr_assert_eq(tsagg_store_close(st), 0);

    /* A schema that drops a field is refused. */
    tsagg_schema *narrow;
    cr_assert_eq(tsagg_schema_create(&narrow), 0);
    cr_assert_eq(tsagg_schema_add_dimension(narrow, "page"), 0);
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_SCHEMA;
    o.schema = narrow;
    char err[512];
    rc = tsagg_store_open(tu_store, &o, &st, err, sizeof err);
    cr_assert_eq(rc, TSAGG_ESCHEMA);
    cr_assert(strstr(err, "referrer") != NULL, "%s", err);
    tsagg_schema_free(narrow);
    /* TSAGG_OPEN_SCHEMA without a schema, or read-only: bad arguments. */
    o.schema = NULL;
    cr_assert_eq(tsagg_store_open(tu_store, &o, &st, err, sizeof err), TSAGG_EARG);

    tsagg_schema *wide;
    cr_assert_eq(tsagg_schema_create_default(&wide), 0);
    cr_assert_eq(tsagg_schema_add_dimension(wide, "utm_campaign"), 0);
    o.schema = wide;
    o.io_backend = TSAGG_IO_PWRITE;
    rc = tsagg_store_open(tu_store, &o, &st, err, sizeof err);
    cr_assert_eq(rc, 0, "%s (%s)", tsagg_strerror(rc), err);
    tsagg_schema_free(wide);
    cr_assert_geq(tsagg_schema_dimension_index(tsagg_store_schema(st), "utm_campaign"), 0);

    /* Declared now, but the old partitions do not have it. */
    cr_assert_eq(campaign_total(st, &rc), 0);
    cr_assert_eq(rc, 0);
    uint64_t expect = campaign_events(st);
    cr_assert_gt(expect, 1000);

    series before, after;
    series_ok(st, NULL, 0, &before);
    tsagg_rebuild_stats s = rebuild_ok(st, START, START + 2 * DAY, NULL, NULL);
    cr_assert_eq(s.hours, 48);
    cr_assert_eq(s.files_replaced, 1 + 24);
    cr_assert_eq(campaign_total(st, &rc), (double)expect);
    cr_assert_eq(rc, 0);
    series_ok(st, NULL, 0, &after);
    expect_same_hours(&before, &after, 0, 48);

    /* The schema stays evolved for the next open. */
    cr_assert_eq(tsagg_store_close(st), 0);
    st = cc_open(tu_store, 0, NULL);
    cr_assert_eq(campaign_total(st, &rc), (double)expect);
    cr_assert_eq(tsagg_store_close(st), 0);
}

static int drop_tablets(void *ctx, tsagg_event *ev, uint64_t seq)
{
    (void)seq;
    for (uint32_t i = 0; i < ev->nattrs; i++) {
        const tsagg_attr *a = &ev->attrs[i];
        if (a->key_len == 6 && !memcmp(a->key, "device", 6) && a->type == TSAGG_STR &&
            a->v.s.len == 6 && !memcmp(a->v.s.ptr, "tablet", 6)) {
            (*(uint64_t *)ctx)++;
            return 0;
        }
    }
    return 1;
}

/* What the progress callback sees mid-rebuild: the old generation. */
typedef struct midway {
    tsagg_store *st;
    const series *old;
    int checked;
} midway;

static void check_midway(void *ctx, const tsagg_rebuild_stats *so_far)
{
    midway *m = ctx;
    if (so_far->files_written == 0 || m->checked)
        return;
    series now;
    series_ok(m->st, NULL, 0, &now);
    expect_same_hours(m->old, &now, 0, 48);
    m->checked = 1;
}

Test(rebuild, processing_fix_changes_the_rebuilt_hours_only)
{
    tsagg_store *st = make_store(60000);
    series before, after, fixed;
    series_ok(st, NULL, 0, &before);
    /* What the second day must hold once tablets are dropped. */
    const char *keep[] = {"desktop", "mobile"};
    tsagg_filter f = {"device", keep, 2};
    series_ok(st, &f, 1, &fixed);

    uint64_t dropped = 0;
    midway m = {st, &before, 0};
    tsagg_rebuild_options o;
    tsagg_rebuild_options_init(&o);
    o.from = START + DAY;
    o.to = START + 2 * DAY;
    o.process = drop_tablets;
    o.process_ctx = &dropped;
    o.progress = check_midway;
    o.progress_ctx = &m;
    o.threads = 2; /* the hook and the progress calls stay in this thread */
    tsagg_rebuild_stats s = {.struct_size = sizeof s};
    cr_assert_eq(tsagg_rebuild(st, &o, &s), 0);
    cr_assert_eq(m.checked, 1, "queries ran while the new generation was being written");
    cr_assert_eq(s.hours, 24);
    cr_assert_eq(s.events_dropped, dropped);
    cr_assert_gt(dropped, 100);

    series_ok(st, NULL, 0, &after);
    expect_same_hours(&before, &after, 0, 24);
    expect_same_hours(&fixed, &after, 24, 48);
    double diff = 0;
    for (size_t h = 24; h < 48; h++)
        diff += before.v[0][h] - after.v[0][h];
    /* Retries of dropped events are dropped too: at least `dropped` rows
     * fewer counted once each. */
    cr_assert_gt(diff, 0);
    cr_assert_leq(diff, (double)dropped);
    cr_assert_eq(tsagg_store_close(st), 0);
}

Test(rebuild, damaged_log_is_not_repairable_and_stops_a_rebuild)
{
    tsagg_options oo;
    tsagg_options_init(&oo);
    oo.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    oo.sync_mode = TSAGG_SYNC_NONE;
    oo.segment_bytes = 64 << 10; /* many sealed segments */
    oo.frame_bytes = 16 << 10;
    tsagg_store *st;
    cr_assert_eq(tsagg_store_open(tu_store, &oo, &st, NULL, 0), 0);
    gagen_config cfg;
    gagen_config_init(&cfg);
    cfg.events = 20000;
    cfg.days = 1;
    gagen *g = gagen_create(&cfg);
    tsagg_event evs[1024];
    size_t k;
    while ((k = gagen_next(g, evs, 1024)) > 0)
        cr_assert_eq(tsagg_append(st, evs, k, NULL), 0);
    gagen_free(g);
    cr_assert_eq(tsagg_flush(st), 0);
    cc_compact(st, 0);

    tsagg_segment_info segs[64] = {{.struct_size = sizeof(tsagg_segment_info)}};
    int n = tsagg_log_segments(st, segs, 64);
    cr_assert_gt(n, 2);
    char path[1024];
    snprintf(path, sizeof path, "%s/log/%016" PRIx64 ".tlog", tu_store, segs[1].number);
    damage(path, segs[1].bytes);

    problems ps = {0};
    tsagg_verify_stats vs = {.struct_size = sizeof vs};
    int rc = tsagg_verify(st, on_problem, &ps, &vs);
    cr_assert(rc == TSAGG_ECHECKSUM || rc == TSAGG_ECORRUPT, "%s", tsagg_strerror(rc));
    cr_assert_eq(ps.n, 1);
    cr_assert_eq(ps.last.repairable, 0);
    cr_assert_eq(ps.last.hour, INT64_MIN);
    cr_assert(strstr(ps.file, "log/") == ps.file, "%s", ps.file);
    cr_assert_eq(vs.segments, (uint64_t)n);

    uint64_t version_before;
    {
        tsagg__snapshot *s;
        cr_assert_eq(tsagg__snapshot_acquire(st, &s), 0);
        version_before = tsagg__snapshot_manifest(s)->version;
        tsagg__snapshot_release(st, s);
    }
    tsagg_rebuild_options o;
    tsagg_rebuild_options_init(&o);
    o.from = GAGEN_DEFAULT_START_US;
    o.to = o.from + DAY;
    rc = tsagg_rebuild(st, &o, NULL);
    cr_assert(rc == TSAGG_ECHECKSUM || rc == TSAGG_ECORRUPT, "%s", tsagg_strerror(rc));
    tsagg__snapshot *s;
    cr_assert_eq(tsagg__snapshot_acquire(st, &s), 0);
    cr_assert_eq(tsagg__snapshot_manifest(s)->version, version_before, "nothing published");
    tsagg__snapshot_release(st, s);
    tsagg_store_close(st);
}

/* A writer killed while creating a segment leaves a file shorter than its
 * header: the log lists it empty and verify finds nothing wrong, as
 * recovery would remove it. */
Test(rebuild, segment_cut_before_its_header_is_not_damage)
{
    tsagg_store *st = cc_open_writer(tu_store);
    gagen_config cfg;
    gagen_config_init(&cfg);
    cfg.events = 1000;
    cfg.days = 1;
    gagen *g = gagen_create(&cfg);
    tsagg_event evs[1000];
    size_t k = gagen_next(g, evs, 1000);
    cr_assert_eq(tsagg_append(st, evs, k, NULL), 0);
    gagen_free(g);
    cr_assert_eq(tsagg_flush(st), 0);
    tsagg_segment_info segs[4] = {{.struct_size = sizeof(tsagg_segment_info)}};
    cr_assert_eq(tsagg_log_segments(st, segs, 4), 1);
    tsagg_store_close(st);

    for (size_t cut = 0; cut < 2; cut++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/log/%016" PRIx64 ".tlog", tu_store, segs[0].number + 1);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        cr_assert_geq(fd, 0);
        cr_assert_eq(write(fd, "TSAGGLOG", 8 * cut), (ssize_t)(8 * cut));
        close(fd);

        tsagg_options o;
        tsagg_options_init(&o); /* read-only: nothing is recovered */
        cr_assert_eq(tsagg_store_open(tu_store, &o, &st, NULL, 0), 0);
        tsagg_segment_info now[4] = {{.struct_size = sizeof(tsagg_segment_info)}};
        cr_assert_eq(tsagg_log_segments(st, now, 4), 2);
        cr_assert_eq(now[1].first_seq, segs[0].last_seq + 1);
        cr_assert_eq(now[1].last_seq, now[1].first_seq - 1, "empty");
        problems ps = {0};
        tsagg_verify_stats vs = {.struct_size = sizeof vs};
        cr_assert_eq(tsagg_verify(st, on_problem, &ps, &vs), 0, "%s", ps.file);
        cr_assert_eq(ps.n, 0);
        cr_assert_eq(vs.segments, 2);
        cr_assert_eq(vs.events, k);
        tsagg_store_close(st);
    }
}

Test(rebuild, bad_arguments)
{
    tsagg_store *st = make_store(2000);
    tsagg_rebuild_options o;
    tsagg_rebuild_options_init(&o);
    o.from = o.to = START;
    cr_assert_eq(tsagg_rebuild(st, &o, NULL), TSAGG_EARG);
    o.to = START - 1;
    cr_assert_eq(tsagg_rebuild(st, &o, NULL), TSAGG_EARG);
    o.to = START + CC_HOUR;
    o.memory_budget = 1000;
    cr_assert_eq(tsagg_rebuild(st, &o, NULL), TSAGG_EARG);
    cr_assert_eq(tsagg_rebuild(st, NULL, NULL), TSAGG_EARG);
    /* A range without events or files: nothing to do. */
    tsagg_rebuild_options_init(&o);
    o.from = START - 10 * DAY;
    o.to = START - 9 * DAY;
    tsagg_rebuild_stats s = rebuild_ok(st, o.from, o.to, NULL, NULL);
    cr_assert_eq(s.hours, 0);
    cr_assert_eq(s.files_written + s.files_replaced, 0);
    cr_assert_eq(tsagg_store_close(st), 0);

    st = cc_open(tu_store, 0, NULL);
    o.from = START;
    o.to = START + CC_HOUR;
    cr_assert_eq(tsagg_rebuild(st, &o, NULL), TSAGG_EREADONLY);
    cr_assert_eq(tsagg_verify(st, NULL, NULL, NULL), 0, "verify works read-only");
    cr_assert_eq(tsagg_store_close(st), 0);
}
