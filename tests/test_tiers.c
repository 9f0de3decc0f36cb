/*
 * test_tiers.c - files of hours, days and months (tiers.h): where
 * compaction puts events, the tier merges, rebuilds over span files, and a
 * store of the older hourly format.
 *
 *   - a bulk load of a year writes month files (and the last days and
 *     hours), never hour files of sealed spans;
 *   - late events for a sealed month land in an extra file, merged by the
 *     same compaction;
 *   - live data moves from hour files to a day file and then a month file
 *     as the newest event seals them; every step is idempotent;
 *   - a rebuild of one hour inside a month file regenerates the month, byte
 *     for byte the file a fresh build of the same log writes (file id and
 *     header checksum aside);
 *   - the span arithmetic (months of 28-31 days, before 1970);
 *   - a store with a version-1 manifest is refused with a message naming
 *     tsagg-rebuild, which regenerates it, unless its log lost events.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "bytes.h"
#include "compactcheck.h"
#include "testutil.h"
#include "tiers.h"

TestSuite(tiers, .init = tu_store_setup, .fini = tu_store_teardown, .timeout = 120);

#define DAY (24 * CC_HOUR)

/* Midnight UTC `days` days before today: data that ends in the past. */
static int64_t days_ago(int days)
{
    int64_t now = (int64_t)time(NULL) * 1000000;
    return now - now % DAY - (int64_t)days * DAY;
}

static gagen *make_gen(uint64_t seed, uint64_t events, uint32_t days, int64_t start)
{
    gagen_config cfg;
    gagen_config_init(&cfg);
    cfg.seed = seed;
    cfg.events = events;
    cfg.days = days;
    cfg.merchants = 200;
    cfg.start_us = start;
    cfg.late_fraction = 0.02;
    cfg.dup_fraction = 0.01;
    gagen *g = gagen_create(&cfg);
    cr_assert_not_null(g);
    return g;
}

/* Every file is of the span the tier rule gives it, and no two overlap. */
static void assert_tiered(const tsagg__manifest *m, const char *what)
{
    cr_assert(!cc_has_extra_files(m), "%s: files overlap", what);
    for (size_t i = 0; i < m->nparts; i++) {
        int64_t s;
        uint32_t h;
        tsagg__span_target(m->parts[i].start, m->parts[i].hours, m->newest_ts, &s, &h);
        cr_assert(s == m->parts[i].start && h == m->parts[i].hours,
                  "%s: a file of %" PRId64 " + %u h belongs in %" PRId64 " + %u h", what,
                  m->parts[i].start, m->parts[i].hours, s, h);
    }
}

static void append_all(tsagg_store *st, gagen *g)
{
    cc_append_gagen(st, g, UINT64_MAX);
    gagen_free(g);
    cr_assert_eq(tsagg_flush(st), 0);
}

/* ---- spans ------------------------------------------------------------------ */

Test(tiers, span_arithmetic)
{
    int64_t s;
    uint32_t h;
    /* 2024-02-29T13:10Z: a leap February. */
    int64_t t = INT64_C(1709212200000000);
    tsagg__tier_span(t, TSAGG__TIER_HOUR, &s, &h);
    cr_assert(s == INT64_C(1709211600000000) && h == 1);
    tsagg__tier_span(t, TSAGG__TIER_DAY, &s, &h);
    cr_assert(s == INT64_C(1709164800000000) && h == 24);
    tsagg__tier_span(t, TSAGG__TIER_MONTH, &s, &h);
    cr_assert(s == INT64_C(1706745600000000) && h == 29 * 24, "%" PRId64 " %u", s, h);
    cr_assert_eq(tsagg__span_tier(s, h), TSAGG__TIER_MONTH);
    cr_assert_eq(tsagg__span_tier(s, 28 * 24), -1);
    cr_assert_eq(tsagg__span_tier(s + CC_HOUR, 24), -1, "a day starts at midnight");
    /* Before 1970: December 1969 and the year 0000's first month. */
    tsagg__tier_span(-1, TSAGG__TIER_MONTH, &s, &h);
    cr_assert(s == -31 * DAY && h == 31 * 24);
    tsagg__tier_span(TSAGG_TS_MIN, TSAGG__TIER_MONTH, &s, &h);
    cr_assert(s == TSAGG_TS_MIN && h == 31 * 24);
    /* Sealing: an hour after the span's end. */
    cr_assert(!tsagg__span_sealed(0, 24, DAY + CC_HOUR - 1));
    cr_assert(tsagg__span_sealed(0, 24, DAY + CC_HOUR));
    cr_assert(!tsagg__span_sealed(0, 24, TSAGG__NEWEST_NONE));
    tsagg__span_place(5, DAY + CC_HOUR, &s, &h);
    cr_assert(s == 0 && h == 24, "the day is sealed, its month is not");
    tsagg__span_place(DAY + 5, DAY + CC_HOUR, &s, &h);
    cr_assert(s == DAY && h == 1);
    /* A file larger than the rule gives it stays its own target. */
    tsagg__span_target(0, 31 * 24, CC_HOUR, &s, &h);
    cr_assert(s == 0 && h == 31 * 24);
}

/* ---- bulk loads --------------------------------------------------------------- */

Test(tiers, bulk_load_of_a_year_writes_month_files)
{
    tsagg_store *st = cc_open_writer(tu_store);
    append_all(st, make_gen(101, 120000, 365, days_ago(366)));
    tsagg_compact_stats s = cc_compact(st, 0);
    tsagg__manifest *m = cc_manifest(st);
    cc_ctx c;
    cc_init(&c, tsagg_store_schema(st));
    cc_rows expect = {0};
    cc_log_rows(&c, st, 1, m->consumed_seq, NULL, NULL, &expect, NULL, NULL);
    size_t tiers[3];
    int64_t newest = cc_newest(&expect);
    size_t spans = cc_spans(&expect, newest, tiers);
    cc_rows_free(&expect);
    cc_fini(&c);
    cr_assert_eq(m->newest_ts, newest);
    assert_tiered(m, "a year");
    cr_assert_eq(m->nparts, spans);
    cr_assert_geq(tiers[TSAGG__TIER_MONTH], 11);
    cr_assert_eq(s.month_files, tiers[TSAGG__TIER_MONTH]);
    cr_assert_eq(s.day_files, tiers[TSAGG__TIER_DAY]);
    cr_assert_eq(s.hour_files, tiers[TSAGG__TIER_HOUR]);
    cr_assert_leq(s.hour_files, 25, "only the last day's hours: %" PRIu64, s.hour_files);
    cr_assert_leq(s.day_files, 31);
    cr_assert_eq(s.spans_merged, 0, "written in their tier straight away");
    cr_assert_eq(s.files_written, m->nparts);
    cr_log_info("a year of %" PRIu64 " events: %" PRIu64 " month, %" PRIu64 " day, %" PRIu64
                " hour files", s.events_read, s.month_files, s.day_files, s.hour_files);
    cc_check_store(st, 1, 1, "a year");
    cc_assert_clean_parts(tu_store, m, "a year");
    tsagg_verify_stats vs = {.struct_size = sizeof vs};
    cr_assert_eq(tsagg_verify(st, NULL, NULL, &vs), 0);
    cr_assert_eq(vs.partitions, m->nparts);
    tsagg__manifest_free(m);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* With a memory budget that spills, the runs of a month are merged into
 * its file: the same rows as without. */
Test(tiers, bulk_load_spilling_runs_writes_the_same_files)
{
    char other[700];
    snprintf(other, sizeof other, "%s/other", tu_dir);
    tsagg_store *a = cc_open_writer(tu_store), *b = cc_open_writer(other);
    int64_t start = days_ago(100);
    append_all(a, make_gen(5, 150000, 90, start));
    append_all(b, make_gen(5, 150000, 90, start));
    tsagg_compact_stats sa = cc_compact(a, 1 << 20), sb = cc_compact(b, 0);
    cr_assert_gt(sa.runs_spilled, 0);
    cr_assert_eq(sb.runs_spilled, 0);
    cr_assert_eq(sa.month_files, sb.month_files);
    cr_assert_eq(sa.rows_written, sb.rows_written);
    tsagg__manifest *ma = cc_manifest(a), *mb = cc_manifest(b);
    cr_assert_eq(ma->nparts, mb->nparts);
    for (size_t i = 0; i < ma->nparts; i++)
        cr_assert(ma->parts[i].start == mb->parts[i].start &&
                  ma->parts[i].hours == mb->parts[i].hours &&
                  ma->parts[i].rows == mb->parts[i].rows);
    cc_check_store(a, 1, 0, "spilled");
    cc_assert_clean_parts(tu_store, ma, "spilled");
    tsagg__manifest_free(ma);
    tsagg__manifest_free(mb);
    cr_assert_eq(tsagg_store_close(a), 0);
    cr_assert_eq(tsagg_store_close(b), 0);
}

/* ---- late events and tier merges ------------------------------------------------ */

/* The one file of a span, or fails. */
static tsagg__part_ref span_file(const tsagg__manifest *m, int64_t ts, size_t *count)
{
    tsagg__part_ref r = {0};
    size_t n = 0;
    for (size_t i = 0; i < m->nparts; i++)
        if (m->parts[i].start <= ts && ts < cc_span_end(&m->parts[i])) {
            r = m->parts[i];
            n++;
        }
    *count = n;
    return r;
}

Test(tiers, late_events_for_a_sealed_month_are_merged)
{
    tsagg_store *st = cc_open_writer(tu_store);
    append_all(st, make_gen(7, 60000, 120, days_ago(150)));
    cc_compact(st, 0);
    tsagg__manifest *m1 = cc_manifest(st);
    int64_t t = days_ago(130) + 5 * CC_HOUR + 17;
    size_t n;
    tsagg__part_ref month = span_file(m1, t, &n);
    cr_assert_eq(n, 1);
    cr_assert_eq(tsagg__span_tier(month.start, month.hours), TSAGG__TIER_MONTH);

    /* Late events for that month: new ones, and a retry of a compacted
     * one, which the merge drops. */
    tsagg_event late[3] = {
        {.ts = t, .merchant = 4242, .event = "late", .event_len = 4,
         .flags = TSAGG_EVENT_HAS_ID, .id = 1},
        {.ts = t + 1000, .merchant = 1, .event = "late", .event_len = 4},
    };
    tsagg_log_range range;
    tsagg_log_range_init(&range);
    range.from_seq = 1000;
    range.to_seq = 1001;
    tsagg_log_reader *rd;
    const tsagg_event *ev;
    uint64_t seq;
    cr_assert_eq(tsagg_log_reader_open(st, &range, &rd), 0);
    cr_assert_eq(tsagg_log_reader_next(rd, &ev, &seq), 1);
    cr_assert_eq(tsagg_append(st, late, 2, NULL), 0);
    cr_assert_eq(tsagg_append(st, ev, 1, NULL), 0);
    tsagg_log_reader_close(rd);
    cr_assert_eq(tsagg_flush(st), 0);

    tsagg_compact_stats s = cc_compact(st, 0);
    cr_assert_eq(s.events_read, 3);
    cr_assert_geq(s.month_files, 1, "an extra file of the month");
    cr_assert_eq(s.hour_files + s.day_files, 0);
    cr_assert_eq(s.spans_merged, s.month_files, "each extra file merged");
    cr_assert_eq(s.files_removed, 2 * s.month_files);
    tsagg__manifest *m2 = cc_manifest(st);
    tsagg__part_ref merged = span_file(m2, t, &n);
    cr_assert_eq(n, 1, "one file of the month again");
    cr_assert(merged.start == month.start && merged.hours == month.hours);
    cr_assert_eq(merged.level, 1);
    cr_assert_eq(merged.rows, month.rows + 2, "the retry was dropped");
    assert_tiered(m2, "after late events");
    cc_check_store(st, 1, 1, "late events merged");
    cc_assert_clean_parts(tu_store, m2, "late events merged");
    /* Nothing left to merge. */
    tsagg_compact_stats again = cc_merge(st);
    cr_assert_eq(again.spans_merged, 0);
    tsagg__manifest_free(m1);
    tsagg__manifest_free(m2);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* Live data, a few hours at a time: hour files; the day seals into one
 * file an hour after it ends, the month into one file an hour after it
 * ends; running compaction or merge again changes nothing. */
Test(tiers, hours_become_a_day_then_a_month)
{
    tsagg_store *st = cc_open_writer(tu_store);
    /* The last two days of a month and the first of the next. */
    int64_t end, s;
    uint32_t h;
    tsagg__tier_span(days_ago(60), TSAGG__TIER_MONTH, &s, &h);
    end = s + (int64_t)h * CC_HOUR;
    int64_t from = end - 2 * DAY;
    uint64_t id = 1;
    uint64_t version = 0;
    for (int64_t hour = from; hour < end + 3 * CC_HOUR; hour += 6 * CC_HOUR) {
        static tsagg_event evs[600];
        for (size_t i = 0; i < 600; i++)
            evs[i] = (tsagg_event){.ts = hour + (int64_t)(i * 36000000u), .merchant = i % 7,
                                   .event = "e", .event_len = 1, .user = i % 13,
                                   .flags = TSAGG_EVENT_HAS_ID, .id = id++};
        cr_assert_eq(tsagg_append(st, evs, 600, NULL), 0);
        cr_assert_eq(tsagg_flush(st), 0);
        cc_compact(st, 0);
        tsagg__manifest *m = cc_manifest(st);
        assert_tiered(m, "live");
        cr_assert_gt(m->version, version);
        /* Idempotent: nothing to do now. */
        tsagg_compact_stats again = cc_compact(st, 0), merged = cc_merge(st);
        cr_assert_eq(again.spans_merged + merged.spans_merged, 0);
        tsagg__manifest *m2 = cc_manifest(st);
        cr_assert_eq(m2->version, m->version);
        version = m->version;
        tsagg__manifest_free(m2);
        tsagg__manifest_free(m);
    }
    tsagg__manifest *m = cc_manifest(st);
    size_t n;
    tsagg__part_ref first = span_file(m, from, &n);
    cr_assert(n == 1 && first.start == s && first.hours == h, "the month is one file");
    tsagg__part_ref last = span_file(m, end, &n);
    cr_assert(n == 1 && last.hours == 1, "the new month's first hour");
    cc_check_store(st, 1, 1, "live");
    cc_assert_clean_parts(tu_store, m, "live");
    tsagg__manifest_free(m);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- rebuilds --------------------------------------------------------------------- */

/* The bytes of a file; *len gets its size. */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*len + 1);
    cr_assert_not_null(b);
    cr_assert_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

Test(tiers, rebuild_of_an_hour_in_a_month_is_a_fresh_build_of_it)
{
    char other[700];
    snprintf(other, sizeof other, "%s/fresh", tu_dir);
    int64_t start = days_ago(75);
    tsagg_store *a = cc_open_writer(tu_store);
    append_all(a, make_gen(17, 80000, 70, start));
    cc_compact(a, 0);
    tsagg__manifest *m1 = cc_manifest(a);
    int64_t hour = start + 20 * DAY + 9 * CC_HOUR;
    size_t n;
    tsagg__part_ref old = span_file(m1, hour, &n);
    cr_assert_eq(tsagg__span_tier(old.start, old.hours), TSAGG__TIER_MONTH);

    tsagg_rebuild_options ro;
    tsagg_rebuild_options_init(&ro);
    ro.from = hour;
    ro.to = hour + CC_HOUR;
    tsagg_rebuild_stats rs = {.struct_size = sizeof rs};
    cr_assert_eq(tsagg_rebuild(a, &ro, &rs), 0);
    cr_assert_eq(rs.files_replaced, 1);
    cr_assert_eq(rs.files_written, 1);
    cr_assert_eq(rs.hours, old.hours, "the whole month");
    cr_assert_eq(rs.generation, old.generation + 1);
    tsagg__manifest *m2 = cc_manifest(a);
    tsagg__part_ref fresh = span_file(m2, hour, &n);
    cr_assert(n == 1 && fresh.start == old.start && fresh.hours == old.hours);
    cr_assert_neq(fresh.file_id, old.file_id);
    cr_assert_eq(m2->nparts, m1->nparts);
    cc_check_store(a, 1, 0, "rebuilt");

    /* A fresh store of the same log. */
    tsagg_store *b = cc_open_writer(other);
    append_all(b, make_gen(17, 80000, 70, start));
    cc_compact(b, 0);
    tsagg__manifest *mb = cc_manifest(b);
    tsagg__part_ref built = span_file(mb, hour, &n);
    cr_assert(n == 1 && built.start == old.start && built.hours == old.hours);
    char pa[4200], pb[4200];
    cc_path(a, &fresh, pa, sizeof pa);
    cc_path(b, &built, pb, sizeof pb);
    size_t la, lb;
    uint8_t *ba = slurp(pa, &la), *bb = slurp(pb, &lb);
    cr_assert_eq(la, lb, "%zu bytes rebuilt, %zu built", la, lb);
    /* The header's file id (24..32) and its checksum (56..64) differ. */
    memset(ba + 24, 0, 8);
    memset(bb + 24, 0, 8);
    memset(ba + 56, 0, 8);
    memset(bb + 56, 0, 8);
    size_t at = 0;
    while (at < la && ba[at] == bb[at])
        at++;
    cr_assert_eq(at, la, "the rebuilt month differs from a fresh build at byte %zu", at);
    free(ba);
    free(bb);
    tsagg__manifest_free(m1);
    tsagg__manifest_free(m2);
    tsagg__manifest_free(mb);
    cr_assert_eq(tsagg_store_close(a), 0);
    cr_assert_eq(tsagg_store_close(b), 0);
}

/* ---- a store of the older format ---------------------------------------------------- */

/* Replace STORE/MANIFEST by a version-1 one listing one hourly file at
 * `start`, and create that file under the name that format gave it. */
static void write_v1_manifest(const char *store, uint64_t consumed, int64_t start)
{
    uint8_t buf[48 + 48 + 8] = {0};
    memcpy(buf, "TSAGGMAN", 8);
    tsagg__put_u16(buf + 8, 1);
    tsagg__put_u32(buf + 12, 1);
    tsagg__put_u64(buf + 16, 5);
    tsagg__put_u64(buf + 24, consumed);
    tsagg__put_u64(buf + 32, 2);
    tsagg__put_u64(buf + 48, (uint64_t)start);
    tsagg__put_u64(buf + 48 + 8, 1);
    tsagg__put_u64(buf + 48 + 16, consumed);
    tsagg__put_u64(buf + 48 + 24, 100);
    tsagg__put_u32(buf + 48 + 32, 1);
    tsagg__put_u64(buf + 96, XXH64(buf, 96, 0));
    char path[4200];
    snprintf(path, sizeof path, "%s/MANIFEST", store);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(buf, 1, sizeof buf, f), sizeof buf);
    fclose(f);
    time_t t = (time_t)(start / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(path, sizeof path, "%s/parts/%04d%02d%02dT%02d-0000000000000001.tpart", store,
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);
    f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs("an hourly file of the older format", f);
    fclose(f);
}

/* A store whose partitions all went (as an older library would leave it
 * after a version-1 compaction): its log, a version-1 manifest, one old
 * file. */
static tsagg_store *make_v1_store(uint64_t *events, int64_t *start, char *old_file, size_t len)
{
    tsagg_store *st = cc_open_writer(tu_store);
    *start = days_ago(40);
    append_all(st, make_gen(9, 30000, 35, *start));
    cc_compact(st, 0);
    *events = tsagg_last_seq(st);
    cr_assert_eq(tsagg_store_close(st), 0);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -f %s/parts/*", tu_store);
    cr_assert_eq(system(cmd), 0);
    write_v1_manifest(tu_store, *events, *start);
    time_t t = (time_t)(*start / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(old_file, len, "%s/parts/%04d%02d%02dT%02d-0000000000000001.tpart", tu_store,
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour);
    return cc_open(tu_store, TSAGG_OPEN_WRITE, NULL);
}

Test(tiers, older_store_is_refused_then_regenerated)
{
    uint64_t events;
    int64_t start;
    char old_file[4300];
    tsagg_store *st = make_v1_store(&events, &start, old_file, sizeof old_file);
    cr_assert(cc_exists(old_file));

    /* Compaction, merges, queries and verify refuse it, naming the tool. */
    char err[512];
    cr_assert_eq(tsagg_compact(st, NULL, NULL), TSAGG_EVERSION);
    tsagg_store_errmsg(st, err, sizeof err);
    cr_assert(strstr(err, "tsagg-rebuild") && strstr(err, "MANIFEST"), "%s", err);
    cr_assert_eq(tsagg_merge(st, NULL, NULL), TSAGG_EVERSION);
    tsagg_query q;
    tsagg_query_init(&q);
    q.flags = TSAGG_QUERY_ALL_MERCHANTS;
    q.from = start;
    q.to = start + 40 * DAY;
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    cr_assert_eq(tsagg_query_run(st, &q, res), TSAGG_EVERSION);
    tsagg_verify_stats vs = {.struct_size = sizeof vs};
    cr_assert_eq(tsagg_verify(st, NULL, NULL, &vs), TSAGG_EVERSION);

    /* A rebuild of any range regenerates the whole store. */
    tsagg_rebuild_options ro;
    tsagg_rebuild_options_init(&ro);
    ro.from = start;
    ro.to = start + CC_HOUR;
    tsagg_rebuild_stats rs = {.struct_size = sizeof rs};
    int rc = tsagg_rebuild(st, &ro, &rs);
    tsagg_store_errmsg(st, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(rs.regenerated, 1);
    cr_assert_eq(rs.files_replaced, 1);
    cr_assert_eq(rs.events_read, events);
    cr_assert_eq(rs.consumed_seq, events);
    cr_assert(!cc_exists(old_file), "the old file is removed");
    tsagg__manifest *m = cc_manifest(st);
    cr_assert_eq(m->consumed_seq, events);
    cr_assert_eq(m->version, 6, "the old manifest's version + 1");
    assert_tiered(m, "regenerated");
    cr_assert_geq(cc_files_of_tier(m, TSAGG__TIER_MONTH), 1);
    cc_check_store(st, 1, 1, "regenerated");
    cc_assert_clean_parts(tu_store, m, "regenerated");
    tsagg__manifest_free(m);
    cr_assert_eq(tsagg_query_run(st, &q, res), 0);
    cr_assert_eq(tsagg_verify(st, NULL, NULL, &vs), 0);
    /* And compaction goes on from there. */
    tsagg_event ev = {.ts = start + 5, .merchant = 3, .event = "x", .event_len = 1};
    cr_assert_eq(tsagg_append(st, &ev, 1, NULL), 0);
    cr_assert_eq(tsagg_flush(st), 0);
    cr_assert_eq(cc_compact(st, 0).events_read, 1);
    cc_check_store(st, 1, 0, "compacted after the regeneration");
    tsagg_result_free(res);
    cr_assert_eq(tsagg_store_close(st), 0);
}

Test(tiers, older_store_without_its_first_events_cannot_be_regenerated)
{
    uint64_t events;
    int64_t start;
    char old_file[4300];
    tsagg_store *st = make_v1_store(&events, &start, old_file, sizeof old_file);
    /* The log's first segment goes (as if archived segments were removed):
     * roll, so that it is sealed, then delete it. */
    cr_assert_eq(tsagg_log_roll(st), 0);
    tsagg_segment_info first = {.struct_size = sizeof first};
    cr_assert_geq(tsagg_log_segments(st, &first, 1), 1);
    cr_assert_eq(first.first_seq, 1);
    cr_assert_eq(tsagg_store_close(st), 0);
    char path[4300];
    snprintf(path, sizeof path, "%s/log/%016" PRIx64 ".tlog", tu_store, first.number);
    cr_assert_eq(unlink(path), 0, "%s", path);
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_SALVAGE;
    char err[512] = "";
    int rc = tsagg_store_open(tu_store, &o, &st, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    tsagg_rebuild_options ro;
    tsagg_rebuild_options_init(&ro);
    ro.from = TSAGG_TS_MIN;
    ro.to = TSAGG_TS_END;
    rc = tsagg_rebuild(st, &ro, NULL);
    tsagg_store_errmsg(st, err, sizeof err);
    cr_assert_eq(rc, TSAGG_EVERSION, "%s", tsagg_strerror(rc));
    cr_assert(strstr(err, "cannot be regenerated"), "%s", err);
    cr_assert(cc_exists(old_file), "nothing was removed");
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- verify over tiers --------------------------------------------------------------- */

typedef struct seen {
    int n;
    int64_t hour;
    uint32_t hours;
    int repairable;
    char file[256];
} seen;

static void on_problem(void *ctx, const tsagg_verify_problem *p)
{
    seen *s = ctx;
    s->n++;
    s->hour = p->hour;
    s->hours = p->hours;
    s->repairable = p->repairable;
    snprintf(s->file, sizeof s->file, "%s", p->file);
}

/* Damage anywhere in a month file (its rows, its index pages at the end)
 * is found, named with the month's span, and a rebuild of that span
 * repairs it. */
Test(tiers, verify_names_a_damaged_month_and_its_rebuild_repairs_it)
{
    tsagg_store *st = cc_open_writer(tu_store);
    append_all(st, make_gen(23, 70000, 70, days_ago(75)));
    cc_compact(st, 0);
    tsagg__manifest *m = cc_manifest(st);
    size_t n;
    tsagg__part_ref month = span_file(m, days_ago(60), &n);
    cr_assert_eq(tsagg__span_tier(month.start, month.hours), TSAGG__TIER_MONTH);
    char path[4200];
    cc_path(st, &month, path, sizeof path);
    size_t len;
    uint8_t *orig = slurp(path, &len);
    /* In the rows, and near the end (index pages, footer). */
    size_t at[] = {len / 3, len - 700};
    for (size_t k = 0; k < 2; k++) {
        FILE *f = fopen(path, "r+b");
        cr_assert_not_null(f);
        fseek(f, (long)at[k], SEEK_SET);
        fputc(orig[at[k]] ^ 0x41, f);
        fclose(f);
        seen s = {0};
        int rc = tsagg_verify(st, on_problem, &s, NULL);
        cr_assert(rc == TSAGG_ECHECKSUM || rc == TSAGG_ECORRUPT, "byte %zu: %s", at[k],
                  tsagg_strerror(rc));
        cr_assert_eq(s.n, 1);
        cr_assert(s.hour == month.start && s.hours == month.hours,
                  "the problem names the month: %" PRId64 " + %u h", s.hour, s.hours);
        cr_assert_eq(s.repairable, 1);
        tsagg_rebuild_options ro;
        tsagg_rebuild_options_init(&ro);
        ro.from = s.hour;
        ro.to = s.hour + (int64_t)s.hours * CC_HOUR;
        cr_assert_eq(tsagg_rebuild(st, &ro, NULL), 0);
        cr_assert_eq(tsagg_verify(st, NULL, NULL, NULL), 0);
        tsagg__manifest *m2 = cc_manifest(st);
        month = span_file(m2, days_ago(60), &n);
        tsagg__manifest_free(m2);
        cc_path(st, &month, path, sizeof path);
        free(orig);
        orig = slurp(path, &len);
    }
    cc_check_store(st, 1, 0, "repaired");
    free(orig);
    tsagg__manifest_free(m);
    cr_assert_eq(tsagg_store_close(st), 0);
}
