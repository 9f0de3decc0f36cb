/*
 * test_compact.c - the compactor (tsagg_compact.h): the raw log into hourly
 * partitions, published through the manifest.
 *
 * The truth is always the log: compactcheck.h turns log events into the
 * rows the partitions must hold, reads every file the manifest lists
 * (checking each on the way: one hour, sorted by (merchant, ts), row
 * groups, merchant directory, rollups against aggregates recomputed from
 * the rows) and compares the two multisets, retries aside.
 *
 *   - round trip of ~200k GA-like events (late events, retries) and the
 *     stats; rollups of a large merchant (approximate sketches); a log in
 *     the archive form;
 *   - every attribute type and corner of the event-to-row mapping; times
 *     outside the years 0000-9999;
 *   - idempotence, persistence, late events as extra files, tsagg_merge,
 *     and removal of replaced files once no snapshot holds them;
 *   - a memory budget much smaller than an hour (sorted runs), one spread
 *     over many hours, and merges that read at most what the budget holds;
 *   - the processing hook: dropping bots, failing, moving rows;
 *   - read-only handles, bad arguments, max_events;
 *   - compactions and merges while other threads append and read
 *     snapshots (whose files must stay readable while held);
 *   - the row order of a span buffer, by radix or by comparison, against
 *     a plain reference sort, computed again only once rows change;
 *   - the check for retries across runs reads no file whose own times are
 *     all before the new rows'.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compactcheck.h"
#include "log_internal.h" /* tsagg__append_unchecked_ts */
#include "partfile_format.h" /* a file's index pages, to damage them */
#include "spanbuf.h"
#include "testutil.h"

/* ---- fixture -------------------------------------------------------------- */

TestSuite(compact, .init = tu_store_setup, .fini = tu_store_teardown, .timeout = 60);

static gagen *make_gen(uint64_t seed, uint64_t events, uint32_t days, uint32_t merchants)
{
    gagen_config cfg;
    gagen_config_init(&cfg);
    cfg.seed = seed;
    cfg.events = events;
    cfg.days = days;
    cfg.merchants = merchants;
    cfg.late_fraction = 0.03;
    cfg.dup_fraction = 0.01;
    gagen *g = gagen_create(&cfg);
    cr_assert_not_null(g);
    return g;
}

/* Append n events of g, each passed through mut (may be NULL) on a private
 * copy whose attribute array (room for 16) it may change. */
typedef void (*mut_fn)(void *ctx, tsagg_event *ev, tsagg_attr *attrs, uint64_t index);

static uint64_t append_mut(tsagg_store *st, gagen *g, uint64_t n, mut_fn mut, void *ctx)
{
    static tsagg_event in[4096], out[4096];
    static tsagg_attr attrs[4096][16];
    uint64_t done = 0;
    while (done < n) {
        size_t want = n - done < 4096 ? (size_t)(n - done) : 4096;
        size_t k = gagen_next(g, in, want);
        if (k == 0)
            break;
        for (size_t i = 0; i < k; i++) {
            out[i] = in[i];
            cr_assert_leq(in[i].nattrs, 15);
            memcpy(attrs[i], in[i].attrs, in[i].nattrs * sizeof *attrs[i]);
            out[i].attrs = attrs[i];
            if (mut)
                mut(ctx, &out[i], attrs[i], done + i);
        }
        int rc = tsagg_append(st, out, k, NULL);
        cr_assert_eq(rc, 0, "append: %s", tsagg_strerror(rc));
        done += k;
    }
    return done;
}

static void flush_ok(tsagg_store *st) { cr_assert_eq(tsagg_flush(st), 0); }

static size_t distinct_hours(const cc_rows *rs)
{
    int64_t *h = malloc((rs->n ? rs->n : 1) * sizeof *h);
    cr_assert_not_null(h);
    for (size_t i = 0; i < rs->n; i++)
        h[i] = rs->r[i].ts - (((rs->r[i].ts % CC_HOUR) + CC_HOUR) % CC_HOUR);
    qsort(h, rs->n, sizeof *h, cc_cmp_u64p); /* hours here are positive */
    size_t d = 0;
    for (size_t i = 0; i < rs->n; i++)
        d += i == 0 || h[i] != h[i - 1];
    free(h);
    return d;
}

/* ---- round trip ------------------------------------------------------------ */

Test(compact, round_trip_gagen)
{
    tsagg_store *st = cc_open_writer(tu_store);
    gagen *g = make_gen(11, 200000, 4, 2000);
    cr_assert_eq(cc_append_gagen(st, g, UINT64_MAX), 200000);
    gagen_stats gs;
    gagen_get_stats(g, &gs);
    cr_assert_gt(gs.late, 1000);
    cr_assert_gt(gs.duplicates, 500);
    gagen_free(g);
    flush_ok(st);
    uint64_t durable = tsagg_durable_seq(st);
    cr_assert_eq(durable, 200000);

    tsagg_compact_stats s = cc_compact(st, 0);
    uint64_t seq = 0;
    cr_assert_eq(tsagg_compacted_seq(st, &seq), 0);
    cr_assert_eq(seq, durable);
    cr_assert_eq(s.consumed_seq, durable);
    cr_assert_eq(s.events_read, durable);
    cr_assert_eq(s.events_dropped, 0);
    cr_assert_eq(s.runs_spilled, 0);
    cr_assert_eq(s.files_removed, 0);

    cc_ctx c;
    cc_init(&c, tsagg_store_schema(st));
    cc_rows expect = {0}, actual = {0};
    cc_log_rows(&c, st, 1, durable, NULL, NULL, &expect, NULL, NULL);
    uint64_t retries = cc_retries(&expect);
    cr_assert_eq(retries, gs.duplicates, "the generator's retries are the log's");
    cr_assert_eq(s.duplicates, retries, "stats.duplicates %" PRIu64 ", %" PRIu64 " retries",
                 s.duplicates, retries);
    cr_assert_eq(s.rows_written, s.events_read - s.duplicates);

    tsagg__manifest *m = cc_manifest(st);
    size_t hours = distinct_hours(&expect), tiers[3];
    size_t spans = cc_spans(&expect, cc_newest(&expect), tiers);
    cr_assert_eq(m->newest_ts, cc_newest(&expect));
    /* Four days: the first three sealed into day files, the last in hours. */
    cr_assert(tiers[TSAGG__TIER_DAY] == 3 && tiers[TSAGG__TIER_MONTH] == 0,
              "%zu day, %zu month spans", tiers[TSAGG__TIER_DAY], tiers[TSAGG__TIER_MONTH]);
    cr_assert_eq(m->nparts, spans, "one file per span: %zu files, %zu spans", m->nparts, spans);
    cr_assert(!cc_has_extra_files(m));
    cr_assert_eq(s.files_written, spans);
    cr_assert_eq(s.day_files, 3);
    cr_assert_eq(s.hour_files, tiers[TSAGG__TIER_HOUR]);
    cr_assert_eq(s.spans_merged, 0, "a single compaction writes every span once");
    cr_assert_eq(s.hours, hours);
    cr_assert_eq(m->consumed_seq, durable);
    cr_assert_eq(m->version, 1);
    uint64_t rows = 0, bytes = 0;
    for (size_t i = 0; i < m->nparts; i++) {
        rows += m->parts[i].rows;
        bytes += m->parts[i].bytes;
        cr_assert_eq(m->parts[i].level, 0);
    }
    cr_assert_eq(rows, s.rows_written);
    cr_assert_eq(bytes, s.bytes_written);

    cc_part_rows(&c, st, m, 1, &actual);
    cr_assert_eq(actual.n, s.rows_written);
    cc_result r = cc_check_rows(&c, &expect, &actual, 1, "round trip");
    cr_assert_eq(r.groups, s.rows_written);
    cr_log_info("round trip: %zu files, %" PRIu64 " rows, %" PRIu64 " bytes (%.1f B/event), "
                "%" PRIu64 " rollup entries, %" PRIu64 " exact / %" PRIu64 " approximate sketches",
                m->nparts, rows, bytes, (double)bytes / (double)rows, c.rollup_entries,
                c.sketches_exact, c.sketches_approx);
    cc_assert_clean_parts(tu_store, m, "round trip");
    tsagg__manifest_free(m);
    cc_rows_free(&expect);
    cc_rows_free(&actual);
    cc_fini(&c);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* A merchant with thousands of users and sessions in one hour: approximate
 * sketches (within 3%), next to small exact ones; several event names. */
Test(compact, rollups_of_a_large_merchant)
{
    tsagg_store *st = cc_open_writer(tu_store);
    const int64_t H = INT64_C(1790812800000000) + 5 * CC_HOUR;
    static tsagg_event evs[30000];
    static tsagg_attr attrs[30000][2];
    static const char *names[] = {"page_view", "click", "purchase", "scroll"};
    size_t n = 0;
    for (size_t i = 0; i < 30000; i++) {
        tsagg_event *e = &evs[n++];
        /* 7 is the big one; the 7 small ones have enough rows for rollups
         * (TSAGG__PART_ROLLUP_MIN_ROWS) but few users. */
        uint64_t mer = i % 5 == 0 ? 100 + i % 7 : 7;
        const char *nm = names[(i * 7) % 4];
        *e = (tsagg_event){.ts = H + (int64_t)(i * 119993 % 3600000000u), .merchant = mer,
                           .event = nm, .event_len = (uint32_t)strlen(nm),
                           .flags = TSAGG_EVENT_HAS_ID, .id = i + 1,
                           .user = tsagg_hash_id(&(uint64_t){mer == 7 ? i % 9000 : i % 50}, 8),
                           .session = tsagg_hash_id(&(uint64_t){i % 4000 + 77777}, 8),
                           .attrs = attrs[i], .nattrs = 2};
        attrs[i][0] = (tsagg_attr){.key = "country", .key_len = 7, .type = TSAGG_STR,
                                   .v.s = {i % 3 ? "DE" : "FR", 2}};
        attrs[i][1] = (tsagg_attr){.key = "value", .key_len = 5, .type = TSAGG_F64,
                                   .v.f = (double)(i % 1000) / 8};
    }
    cr_assert_eq(tsagg_append(st, evs, n, NULL), 0);
    flush_ok(st);
    tsagg_compact_stats s = cc_compact(st, 0);
    cr_assert_eq(s.files_written, 1);
    cc_ctx c;
    cc_init(&c, tsagg_store_schema(st));
    tsagg__manifest *m = cc_manifest(st);
    cc_rows expect = {0}, actual = {0};
    cc_log_rows(&c, st, 1, n, NULL, NULL, &expect, NULL, NULL);
    cc_part_rows(&c, st, m, 1, &actual);
    cc_check_rows(&c, &expect, &actual, 1, "large merchant");
    cr_assert_geq(c.sketches_approx, 2 + 2 * 4, "the big merchant's sketches are approximate");
    cr_assert_geq(c.sketches_exact, 7, "the small merchants' user sketches are exact");
    tsagg__manifest_free(m);
    cc_rows_free(&expect);
    cc_rows_free(&actual);
    cc_fini(&c);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* Segments rewritten in the archive form (columnar, its own decoder of
 * attribute keys) compact to the same rows. */
Test(compact, archived_segments)
{
    tsagg_store *st = cc_open_writer(tu_store);
    gagen *g = make_gen(43, 45000, 2, 300);
    for (int k = 0; k < 3; k++) {
        cc_append_gagen(st, g, 15000);
        cr_assert_eq(tsagg_log_roll(st), 0);
    }
    gagen_free(g);
    unsigned count = 0;
    cr_assert_eq(tsagg_log_archive(st, 1, &count), 0);
    cr_assert_geq(count, 3);
    flush_ok(st);
    tsagg_compact_stats s = cc_compact(st, 0);
    cr_assert_eq(s.events_read, 45000);
    cc_check_store(st, 1, 1, "archived log");
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- the event-to-row mapping ----------------------------------------------- */

/* Every attribute type in every role, missing and undeclared attributes,
 * events without an id (equal ones are all kept), retries with id 0 on
 * both sides of an event without an id, a long string, ts before 1970,
 * and attribute keys in a different order from record to record. */
Test(compact, event_mapping_corners)
{
    tsagg_store *st = cc_open_writer(tu_store);
    const int64_t H = INT64_C(1790812800000000);
    static char big[200000];
    memset(big, 'p', sizeof big);
    big[0] = '/';
    tsagg_attr a1[] = {
        {.key = "page", .key_len = 4, .type = TSAGG_STR, .v.s = {"/home", 5}},
        {.key = "country", .key_len = 7, .type = TSAGG_INT, .v.i = -42},
        {.key = "device", .key_len = 6, .type = TSAGG_F64, .v.f = 0.1},
        {.key = "value", .key_len = 5, .type = TSAGG_STR, .v.s = {"12.50", 5}},
        {.key = "undeclared", .key_len = 10, .type = TSAGG_STR, .v.s = {"x", 1}},
    };
    tsagg_attr a2[] = {
        {.key = "value", .key_len = 5, .type = TSAGG_INT, .v.i = 7},
        {.key = "os", .key_len = 2, .type = TSAGG_STR, .v.s = {"", 0}},
        {.key = "page", .key_len = 4, .type = TSAGG_STR, .v.s = {big, sizeof big}},
    };
    tsagg_attr a3[] = {
        {.key = "value", .key_len = 5, .type = TSAGG_STR, .v.s = {"12.5x", 5}},
        {.key = "browser", .key_len = 7, .type = TSAGG_STR, .v.s = {"Firefox", 7}},
    };
    tsagg_attr a4[] = {
        {.key = "browser", .key_len = 7, .type = TSAGG_STR, .v.s = {"Safari", 6}},
        {.key = "value", .key_len = 5, .type = TSAGG_F64, .v.f = -0.0},
    };
    tsagg_event e[] = {
        /* 0..2: all mappings; a long string; a non-numeric measure string */
        {.ts = H + 10, .merchant = 5, .event = "a", .event_len = 1, .user = 1, .session = 2,
         .attrs = a1, .nattrs = 5},
        {.ts = H + 11, .merchant = 5, .event = "b", .event_len = 1, .attrs = a2, .nattrs = 3},
        {.ts = H + 12, .merchant = 5, .event = "c", .event_len = 1, .attrs = a3, .nattrs = 2},
        /* 3..6: retries with id 0 around an event without id, same key */
        {.ts = H + 20, .merchant = 6, .event = "r", .event_len = 1, .flags = TSAGG_EVENT_HAS_ID,
         .id = 0, .attrs = a4, .nattrs = 2},
        {.ts = H + 20, .merchant = 6, .event = "n", .event_len = 1},
        {.ts = H + 20, .merchant = 6, .event = "r", .event_len = 1, .flags = TSAGG_EVENT_HAS_ID,
         .id = 0, .attrs = a4, .nattrs = 2},
        {.ts = H + 20, .merchant = 6, .event = "n", .event_len = 1},
        /* 7: before 1970 (a negative hour); 8: hour boundary */
        {.ts = -1, .merchant = 1, .event = "old", .event_len = 3, .attrs = a3, .nattrs = 2},
        {.ts = H + CC_HOUR - 1, .merchant = 1, .event = "edge", .event_len = 4},
        {.ts = H + CC_HOUR, .merchant = 1, .event = "edge", .event_len = 4},
        /* 10: an id that differs only by the flag */
        {.ts = H + 20, .merchant = 6, .event = "r", .event_len = 1, .id = 0, .attrs = a4,
         .nattrs = 2},
    };
    size_t n = sizeof e / sizeof e[0];
    /* One record per event: names tables differ between records. */
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(tsagg_append(st, &e[i], 1, NULL), 0);
    flush_ok(st);
    tsagg_compact_stats s = cc_compact(st, 0);
    cr_assert_eq(s.duplicates, 1, "the id-0 retry is dropped (%" PRIu64 ")", s.duplicates);
    cr_assert_eq(s.rows_written, n - 1);
    cc_ctx c;
    cc_init(&c, tsagg_store_schema(st));
    tsagg__manifest *m = cc_manifest(st);
    cr_assert_eq(m->nparts, 3);
    /* The event before 1970 lies in a sealed month: December 1969's file. */
    cr_assert_eq(m->parts[0].start, -31 * 24 * CC_HOUR);
    cr_assert_eq(m->parts[0].hours, 31 * 24);
    cc_rows expect = {0}, actual = {0};
    cc_log_rows(&c, st, 1, n, NULL, NULL, &expect, NULL, NULL);
    cc_part_rows(&c, st, m, 1, &actual);
    cc_check_rows(&c, &expect, &actual, 1, "corners");
    /* Spot checks of the mapping itself (independent of compactcheck). */
    int seen = 0;
    for (size_t i = 0; i < actual.n; i++) {
        const cc_row *r = &actual.r[i];
        const char *ev = cc_str(&c.pool, r->event);
        if (!strcmp(ev, "a")) {
            cr_assert_str_eq(cc_str(&c.pool, r->dims[0]), "/home");
            cr_assert_str_eq(cc_str(&c.pool, r->dims[2]), "-42");
            cr_assert_str_eq(cc_str(&c.pool, r->dims[3]), "0.10000000000000001");
            cr_assert_str_eq(cc_str(&c.pool, r->dims[4]), "");
            cr_assert_eq(r->meas[0], 12.5);
            seen |= 1;
        } else if (!strcmp(ev, "b")) {
            cr_assert_eq(strlen(cc_str(&c.pool, r->dims[0])), sizeof big);
            cr_assert_eq(r->meas[0], 7.0);
            seen |= 2;
        } else if (!strcmp(ev, "c")) {
            cr_assert(isnan(r->meas[0]));
            cr_assert_str_eq(cc_str(&c.pool, r->dims[4]), "Firefox");
            seen |= 4;
        }
    }
    cr_assert_eq(seen, 7);
    tsagg__manifest_free(m);
    cc_rows_free(&expect);
    cc_rows_free(&actual);
    cc_fini(&c);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* A measure sent as a string, at each edge of the rule docs/api.md gives:
 * white space before the number, text after it, hexadecimal and exponent
 * forms, empty, and the longest string read (63 bytes) beside one a byte
 * longer. The compacted rows hold what compactcheck's reading of the rule
 * gives. */
Test(compact, string_measures)
{
    tsagg_store *st = cc_open_writer(tu_store);
    const int64_t H = INT64_C(1790812800000000);
    char longest[64], too_long[65];
    memset(longest, '0', sizeof longest);
    memcpy(longest, "0.", 2);
    longest[62] = '5';
    longest[63] = 0;
    memcpy(too_long, longest, 62);
    memcpy(too_long + 62, "05", 3);
    const char *values[] = {"12.50", " 7", "\t-3", "7 ", "12.5x", "", "0x10", "1e3",
                            "-0", "inf", ".5", "5.", "1,5", longest, too_long};
    size_t n = sizeof values / sizeof values[0];
    tsagg_attr a[sizeof values / sizeof values[0]];
    tsagg_event e[sizeof values / sizeof values[0]];
    for (size_t i = 0; i < n; i++) {
        a[i] = (tsagg_attr){.key = "value", .key_len = 5, .type = TSAGG_STR,
                            .v.s = {values[i], (uint32_t)strlen(values[i])}};
        e[i] = (tsagg_event){.ts = H + (int64_t)i, .merchant = 3, .event = "m", .event_len = 1,
                             .attrs = &a[i], .nattrs = 1};
    }
    cr_assert_eq(strlen(longest), 63);
    cr_assert_eq(tsagg_append(st, e, n, NULL), 0);
    flush_ok(st);
    tsagg_compact_stats s = cc_compact(st, 0);
    cr_assert_eq(s.rows_written, n);
    cc_ctx c;
    cc_init(&c, tsagg_store_schema(st));
    tsagg__manifest *m = cc_manifest(st);
    cc_rows expect = {0}, actual = {0};
    cc_log_rows(&c, st, 1, n, NULL, NULL, &expect, NULL, NULL);
    cc_part_rows(&c, st, m, 1, &actual);
    cc_check_rows(&c, &expect, &actual, 1, "string measures");
    /* Both sides of each edge are there: some strings are numbers, some not. */
    size_t numbers = 0;
    for (size_t i = 0; i < actual.n; i++)
        numbers += !isnan(actual.r[i].meas[0]);
    cr_assert(numbers > 0 && numbers < n, "%zu of %zu are numbers", numbers, n);
    tsagg__manifest_free(m);
    cc_rows_free(&expect);
    cc_rows_free(&actual);
    cc_fini(&c);
    cr_assert_eq(tsagg_store_close(st), 0);
}

static int drop_extreme_hook(void *arg, tsagg_event *ev, uint64_t seq)
{
    (void)arg;
    (void)seq;
    return ev->ts > INT64_MIN / 2 && ev->ts < INT64_MAX / 2;
}

/* Times outside the years 0000-9999 cannot be placed in an hour file.
 * Appends refuse them (naming the field and the range); a log written
 * before that check may hold them, and then compaction skips them (kept in
 * the log, counted in events_unplaced) and compacts everything else, with
 * or without a hook. The years' first and last hours work. */
Test(compact, extreme_timestamps)
{
    tsagg_store *st = cc_open_writer(tu_store);
    const int64_t first = TSAGG_TS_MIN, end = TSAGG_TS_END;
    tsagg_event e[] = {
        {.ts = first, .merchant = 1, .event = "first", .event_len = 5},
        {.ts = end - 1, .merchant = 1, .event = "last", .event_len = 4},
        {.ts = INT64_MIN, .merchant = 2, .event = "min", .event_len = 3},
        {.ts = INT64_MAX, .merchant = 2, .event = "max", .event_len = 3},
        {.ts = 0, .merchant = 3, .event = "epoch", .event_len = 5},
    };
    cr_assert_eq(tsagg_append(st, e, 5, NULL), TSAGG_EINPUT);
    char err[512];
    tsagg_store_errmsg(st, err, sizeof err);
    cr_assert(strstr(err, "event 2") && strstr(err, "ts") && strstr(err, "0000-9999"),
              "errmsg: %s", err);
    cr_assert_eq(tsagg_append(st, &e[2], 1, NULL), TSAGG_EINPUT);
    cr_assert_eq(tsagg_append(st, &e[3], 1, NULL), TSAGG_EINPUT);
    cr_assert_eq(tsagg_last_seq(st), 0);
    cr_assert_eq(tsagg__append_unchecked_ts(st, e, 5, NULL), 0);
    flush_ok(st);
    tsagg_compact_stats s = {.struct_size = sizeof s};
    cr_assert_eq(tsagg_compact(st, NULL, &s), 0);
    cr_assert_eq(s.events_read, 5);
    cr_assert_eq(s.events_unplaced, 2);
    cr_assert_eq(s.events_dropped, 0);
    cr_assert_eq(s.files_written, 3);
    uint64_t seq = 0;
    cr_assert_eq(tsagg_compacted_seq(st, &seq), 0);
    cr_assert_eq(seq, 5);
    /* Still in the log. */
    tsagg_log_reader *rd;
    cr_assert_eq(tsagg_log_reader_open(st, NULL, &rd), 0);
    const tsagg_event *ev;
    int n = 0;
    while (tsagg_log_reader_next(rd, &ev, &seq) == 1)
        n += ev->ts == INT64_MIN || ev->ts == INT64_MAX;
    tsagg_log_reader_close(rd);
    cr_assert_eq(n, 2);
    /* A rebuild of every hour skips them again and rewrites the rest. */
    tsagg_rebuild_options ro;
    tsagg_rebuild_options_init(&ro);
    ro.from = TSAGG_TS_MIN;
    ro.to = TSAGG_TS_END;
    tsagg_rebuild_stats rs = {.struct_size = sizeof rs};
    cr_assert_eq(tsagg_rebuild(st, &ro, &rs), 0);
    cr_assert_eq(rs.files_written, 3);
    tsagg__manifest *m = cc_manifest(st);
    char path[4200];
    cc_path(st, &m->parts[0], path, sizeof path);
    cr_assert(strstr(path, "/00000101T00-"), "%s", path);
    cc_path(st, &m->parts[2], path, sizeof path);
    cr_assert(strstr(path, "/99991231T23-"), "%s", path);
    cc_ctx c;
    cc_init(&c, tsagg_store_schema(st));
    cc_rows expect = {0}, actual = {0};
    cc_log_rows(&c, st, 1, 5, drop_extreme_hook, NULL, &expect, NULL, NULL);
    cc_part_rows(&c, st, m, 1, &actual);
    cc_check_rows(&c, &expect, &actual, 1, "extremes");
    cc_assert_clean_parts(tu_store, m, "extremes");
    cc_rows_free(&expect);
    cc_rows_free(&actual);
    cc_fini(&c);
    tsagg__manifest_free(m);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- idempotence, late events, merges ------------------------------------------------ */

Test(compact, idempotent_late_events_and_merge)
{
    tsagg_store *st = cc_open_writer(tu_store);
    gagen *g = make_gen(3, 60000, 2, 300);
    /* Two thirds of the first day: its hours, none sealed into the day. */
    cc_append_gagen(st, g, 20000);
    flush_ok(st);
    tsagg_compact_stats s1 = cc_compact(st, 0);
    cr_assert_eq(s1.events_read, 20000);
    tsagg__manifest *m1 = cc_manifest(st);
    cr_assert(!cc_has_extra_files(m1));
    cr_assert_eq(cc_files_of_tier(m1, TSAGG__TIER_HOUR), m1->nparts);
    cr_assert_eq(s1.hour_files, m1->nparts);
    cr_assert_eq(s1.spans_merged, 0);

    /* Again: nothing to do, nothing written, nothing published. */
    tsagg_compact_stats s2 = cc_compact(st, 0);
    cr_assert_eq(s2.events_read, 0);
    cr_assert_eq(s2.files_written, 0);
    cr_assert_eq(s2.rows_written, 0);
    cr_assert_eq(s2.consumed_seq, 20000);
    tsagg__manifest *m2 = cc_manifest(st);
    cr_assert_eq(m2->version, m1->version);
    cr_assert_eq(m2->nparts, m1->nparts);
    tsagg__manifest_free(m2);
    cr_assert_eq(tsagg_store_close(st), 0);

    /* Reopen: the position is persisted. */
    st = cc_open_writer(tu_store);
    uint64_t seq = 0;
    cr_assert_eq(tsagg_compacted_seq(st, &seq), 0);
    cr_assert_eq(seq, 20000);
    cr_assert_eq(cc_compact(st, 0).events_read, 0);

    /* Late events for compacted hours: retries of compacted events, and an
     * event for the first hour. */
    tsagg_log_range range;
    tsagg_log_range_init(&range);
    range.to_seq = 20000;
    tsagg_log_reader *rd;
    cr_assert_eq(tsagg_log_reader_open(st, &range, &rd), 0);
    const tsagg_event *ev;
    uint64_t es;
    unsigned planted = 0;
    while (tsagg_log_reader_next(rd, &ev, &es) == 1) {
        if (es % 997 == 0) { /* a retry of a compacted event, as it was */
            cr_assert_eq(tsagg_append(st, ev, 1, NULL), 0);
            planted++;
        }
    }
    tsagg_log_reader_close(rd);
    int64_t h0 = m1->parts[0].start;
    tsagg_event extra = {.ts = h0 + 5, .merchant = 424242, .event = "late", .event_len = 4,
                         .flags = TSAGG_EVENT_HAS_ID, .id = 1ull << 60};
    cr_assert_eq(tsagg_append(st, &extra, 1, NULL), 0);
    flush_ok(st);
    uint64_t durable = tsagg_durable_seq(st);
    tsagg_compact_stats s3 = cc_compact(st, 0);
    cr_assert_eq(s3.events_read, durable - 20000, "only the new events are read");
    cr_assert_eq(s3.consumed_seq, durable);
    cr_assert_eq(s3.spans_merged, 0, "no day is sealed yet");
    tsagg__manifest *m3 = cc_manifest(st);
    cr_assert_eq(m3->consumed_seq, durable);
    cr_assert_eq(cc_files_of_hour(m3, h0), 2, "late events make a second file for the hour");
    cr_assert_eq(m3->nparts, m1->nparts + s3.files_written);
    for (size_t i = 0; i < m1->nparts; i++)
        cr_assert(tsagg__manifest_has(m3, m1->parts[i].file_id), "an old file was dropped");
    cr_assert_eq(s3.rows_written, s3.events_read - s3.duplicates);
    cr_assert_geq(s3.duplicates, planted, "the planted retries are dropped: a file holds them");
    cc_result r3 = cc_check_store(st, 0, 1, "after the late compaction");
    cr_assert_eq(r3.extra_copies, 0, "no event is in two files");

    /* Merge, while a snapshot holds the unmerged state. */
    tsagg__snapshot *held;
    cr_assert_eq(tsagg__snapshot_acquire(st, &held), 0);
    size_t multi = 0;
    for (size_t i = 0; i < m3->nparts; i++)
        multi += cc_files_of_hour(m3, m3->parts[i].start) > 1;
    tsagg_compact_stats sm = cc_merge(st);
    cr_assert_eq(sm.files_removed, multi);
    cr_assert_eq(sm.duplicates, 0, "no retry across files is left for the merge");
    tsagg__manifest *m4 = cc_manifest(st);
    cr_assert(!cc_has_extra_files(m4));
    cr_assert_eq(m4->consumed_seq, durable);
    size_t multi_hours = 0;
    for (size_t i = 0; i < m3->nparts; i++)
        multi_hours += cc_files_of_hour(m3, m3->parts[i].start) > 1 &&
                       (i == 0 || m3->parts[i - 1].start != m3->parts[i].start);
    cr_assert_eq(m4->version, m3->version + multi_hours, "one publish per merge");
    cr_assert_eq(sm.files_written, multi_hours);
    cr_assert_eq(sm.spans_merged, multi_hours);
    cr_assert_eq(m4->nparts, m3->nparts - multi + multi_hours);
    for (size_t i = 0; i < m4->nparts; i++)
        cr_assert_eq(m4->parts[i].level, cc_files_of_hour(m3, m4->parts[i].start) > 1 ? 1u : 0u);
    cc_result r4 = cc_check_store(st, 1, 1, "after the merge");
    cr_assert_eq(r4.extra_copies, 0);
    /* The replaced files stay while the snapshot lists them... */
    unsigned kept = 0;
    for (size_t i = 0; i < m3->nparts; i++) {
        char path[4200];
        cc_path(st, &m3->parts[i], path, sizeof path);
        cr_assert(cc_exists(path), "%s was removed under a held snapshot", path);
        kept += !tsagg__manifest_has(m4, m3->parts[i].file_id);
    }
    cr_assert_eq(kept, multi);
    /* ...and the held snapshot still reads them. */
    cc_ctx c;
    cc_init(&c, tsagg_store_schema(st));
    cc_rows rows = {0};
    cc_part_rows(&c, st, tsagg__snapshot_manifest(held), 0, &rows);
    cc_rows_free(&rows);
    cc_fini(&c);
    tsagg__snapshot_release(st, held);
    for (size_t i = 0; i < m3->nparts; i++) {
        char path[4200];
        cc_path(st, &m3->parts[i], path, sizeof path);
        cr_assert_eq(cc_exists(path), tsagg__manifest_has(m4, m3->parts[i].file_id),
                     "%s: removed only once no snapshot holds it", path);
    }
    cc_assert_clean_parts(tu_store, m4, "after the merge");
    /* Merging again: nothing to do. */
    tsagg_compact_stats sm2 = cc_merge(st);
    cr_assert_eq(sm2.files_written, 0);
    tsagg__manifest *m5 = cc_manifest(st);
    cr_assert_eq(m5->version, m4->version);
    tsagg__manifest_free(m5);

    /* The second day seals the first: its hour files become one day file
     * (a tier merge, in the same compaction), retries dropped. */
    cc_append_gagen(st, g, UINT64_MAX);
    gagen_free(g);
    flush_ok(st);
    tsagg_compact_stats s6 = cc_compact(st, 0);
    tsagg__manifest *m6 = cc_manifest(st);
    size_t day1 = 0;
    for (size_t i = 0; i < m4->nparts; i++)
        day1 += m4->parts[i].start < h0 + 24 * CC_HOUR;
    cr_assert_eq(cc_files_of_tier(m6, TSAGG__TIER_DAY), 1, "the first day is one file");
    cr_assert_eq(cc_files_of_hour(m6, h0), 1);
    cr_assert_geq(s6.spans_merged, 1);
    cr_assert_geq(s6.files_removed, day1, "the first day's %zu hour files were merged", day1);
    cr_assert(!cc_has_extra_files(m6));
    cc_check_store(st, 1, 1, "after the first day sealed");
    /* Again: the tier merges are done. */
    tsagg_compact_stats s7 = cc_compact(st, 0);
    cr_assert_eq(s7.spans_merged, 0);
    tsagg__manifest *m7 = cc_manifest(st);
    cr_assert_eq(m7->version, m6->version);
    tsagg__manifest_free(m7);
    tsagg__manifest_free(m6);
    tsagg__manifest_free(m1);
    tsagg__manifest_free(m3);
    tsagg__manifest_free(m4);
    cr_assert_eq(tsagg_store_close(st), 0);
    /* And it all survives a reopen. */
    st = cc_open_writer(tu_store);
    cc_check_store(st, 1, 0, "after reopening");
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* max_events: compaction in slices publishes each slice. */
Test(compact, max_events_slices)
{
    tsagg_store *st = cc_open_writer(tu_store);
    gagen *g = make_gen(5, 10000, 1, 50);
    cc_append_gagen(st, g, UINT64_MAX);
    gagen_free(g);
    flush_ok(st);
    tsagg_compact_options o;
    tsagg_compact_options_init(&o);
    o.max_events = 3000;
    uint64_t want = 0;
    for (int round = 0; round < 4; round++) {
        tsagg_compact_stats s = {.struct_size = sizeof s};
        cr_assert_eq(tsagg_compact(st, &o, &s), 0);
        want = want + 3000 > 10000 ? 10000 : want + 3000;
        cr_assert_eq(s.consumed_seq, want);
        uint64_t seq;
        cr_assert_eq(tsagg_compacted_seq(st, &seq), 0);
        cr_assert_eq(seq, want);
        cc_check_store(st, 0, 0, "slice");
    }
    cc_merge(st);
    cc_check_store(st, 1, 1, "slices merged");
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- memory budget --------------------------------------------------------------- */

static void to_one_hour(void *ctx, tsagg_event *ev, tsagg_attr *attrs, uint64_t index)
{
    (void)attrs;
    (void)index;
    int64_t h = *(const int64_t *)ctx;
    ev->ts = h + (ev->ts % CC_HOUR + CC_HOUR) % CC_HOUR;
}

static void sorted_rows_of(tsagg_store *st, cc_ctx *c, cc_rows *out)
{
    tsagg__manifest *m = cc_manifest(st);
    cc_part_rows(c, st, m, 1, out);
    for (size_t i = 0; i < out->n; i++)
        out->r[i].file = 0;
    cc_sort(out);
    tsagg__manifest_free(m);
}

/* An hour far bigger than a 1 MiB budget: spilled as sorted runs, merged
 * into the same rows a big budget gives; no run file left. */
Test(compact, memory_budget_spills_runs)
{
    char other[700];
    snprintf(other, sizeof other, "%s/big", tu_dir);
    tsagg_store *a = cc_open_writer(tu_store), *b = cc_open_writer(other);
    int64_t hour = INT64_C(1790812800000000) + 7 * CC_HOUR;
    gagen *g1 = make_gen(21, 120000, 2, 500), *g2 = make_gen(21, 120000, 2, 500);
    append_mut(a, g1, UINT64_MAX, to_one_hour, &hour);
    append_mut(b, g2, UINT64_MAX, to_one_hour, &hour);
    gagen_free(g1);
    gagen_free(g2);
    flush_ok(a);
    flush_ok(b);
    tsagg_compact_stats sa = cc_compact(a, 1 << 20), sb = cc_compact(b, 0);
    cr_assert_gt(sa.runs_spilled, 4, "only %" PRIu64 " runs", sa.runs_spilled);
    cr_assert_eq(sb.runs_spilled, 0);
    cr_assert_eq(sa.files_written, 1);
    cr_assert_eq(sa.rows_written, sb.rows_written);
    cr_assert_eq(sa.duplicates, sb.duplicates);
    cr_assert_gt(sa.duplicates, 0);
    cc_check_store(a, 1, 0, "small budget");
    cc_ctx c;
    cc_init(&c, tsagg_store_schema(a));
    cc_rows ra = {0}, rb = {0};
    sorted_rows_of(a, &c, &ra);
    sorted_rows_of(b, &c, &rb);
    cr_assert_eq(ra.n, rb.n);
    for (size_t i = 0; i < ra.n; i++)
        cr_assert_eq(cc_cmp_content(&ra.r[i], &rb.r[i], CC_MAXD, CC_MAXM), 0, "row %zu differs",
                     i);
    cc_rows_free(&ra);
    cc_rows_free(&rb);
    cc_fini(&c);
    tsagg__manifest *m = cc_manifest(a);
    cc_assert_clean_parts(tu_store, m, "after spilling");
    tsagg__manifest_free(m);
    cr_log_info("1 MiB budget: %" PRIu64 " runs for %" PRIu64 " rows", sa.runs_spilled,
                sa.rows_written);
    cr_assert_eq(tsagg_store_close(a), 0);
    cr_assert_eq(tsagg_store_close(b), 0);
}

/* Many hours with a small budget: hours that hold a few events (or were
 * just spilled) must not eat the budget, or every event spills. */
Test(compact, memory_budget_many_hours)
{
    tsagg_store *st = cc_open_writer(tu_store);
    gagen *g = make_gen(8, 40000, 30, 200);
    cc_append_gagen(st, g, UINT64_MAX);
    gagen_free(g);
    flush_ok(st);
    tsagg_compact_stats s = cc_compact(st, 1 << 20);
    cr_assert_gt(s.hours, 700);
    cr_assert_lt(s.runs_spilled, 4000, "%" PRIu64 " runs for %" PRIu64 " events",
                 s.runs_spilled, s.events_read);
    cc_check_store(st, 1, 0, "many hours, small budget");
    tsagg__manifest *m = cc_manifest(st);
    cc_assert_clean_parts(tu_store, m, "many hours");
    tsagg__manifest_free(m);
    cr_log_info("30 days at 1 MiB: %" PRIu64 " runs, %" PRIu64 " hours", s.runs_spilled,
                s.hours);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* Hours written by several threads: the same files as one thread writes
 * (ids in hour order, rows, rollups), spilled runs included. */
Test(compact, threads_write_what_one_thread_writes)
{
    char other[700];
    snprintf(other, sizeof other, "%s/one", tu_dir);
    tsagg_store *a = cc_open_writer(tu_store), *b = cc_open_writer(other);
    gagen *g1 = make_gen(31, 150000, 20, 300), *g2 = make_gen(31, 150000, 20, 300);
    cc_append_gagen(a, g1, UINT64_MAX);
    cc_append_gagen(b, g2, UINT64_MAX);
    gagen_free(g1);
    gagen_free(g2);
    flush_ok(a);
    flush_ok(b);
    tsagg_compact_options o;
    tsagg_compact_options_init(&o);
    o.memory_budget = 2 << 20; /* spills, and runs merged by the writers */
    o.threads = 3;
    tsagg_compact_stats sa = {.struct_size = sizeof sa}, sb = {.struct_size = sizeof sb};
    cr_assert_eq(tsagg_compact(a, &o, &sa), 0);
    o.threads = 1;
    cr_assert_eq(tsagg_compact(b, &o, &sb), 0);
    cr_assert_gt(sa.runs_spilled, 0);
    cr_assert_eq(sa.files_written, sb.files_written);
    cr_assert_eq(sa.hours, sb.hours);
    cr_assert_eq(sa.rows_written, sb.rows_written);
    cr_assert_eq(sa.bytes_written, sb.bytes_written);
    cr_assert_eq(sa.duplicates, sb.duplicates);
    cc_check_store(a, 1, 1, "three writing threads");
    tsagg__manifest *ma = cc_manifest(a), *mb = cc_manifest(b);
    cr_assert_eq(ma->nparts, mb->nparts);
    for (size_t i = 0; i < ma->nparts; i++) {
        cr_assert_eq(ma->parts[i].start, mb->parts[i].start);
        cr_assert_eq(ma->parts[i].file_id, mb->parts[i].file_id, "ids follow the spans");
        cr_assert_eq(ma->parts[i].bytes, mb->parts[i].bytes);
    }
    cc_assert_clean_parts(tu_store, ma, "three writing threads");
    tsagg__manifest_free(ma);
    tsagg__manifest_free(mb);
    o.threads = TSAGG_COMPACT_THREADS_MAX + 1;
    cr_assert_eq(tsagg_compact(a, &o, NULL), TSAGG_EARG);
    cr_assert_eq(tsagg_store_close(a), 0);
    cr_assert_eq(tsagg_store_close(b), 0);
}

/* An I/O table that counts the run and partition files open for reading
 * at once (the fan-in of a merge). */
typedef struct fan_io {
    tsagg_io table;
    const tsagg_io *base;
    pthread_mutex_t mu;
    int fds[64];
    int nfds, peak;
    unsigned opened;
} fan_io;

static int fan_open(void *ctx, const char *path, int flags, unsigned mode)
{
    fan_io *f = ctx;
    int fd = f->base->open(f->base->ctx, path, flags, mode);
    size_t len = strlen(path);
    int part = len > 6 && (!strcmp(path + len - 6, ".tprun") || !strcmp(path + len - 6, ".tpart"));
    if (fd >= 0 && part && (flags & O_ACCMODE) == O_RDONLY) {
        pthread_mutex_lock(&f->mu);
        if (f->nfds < 64)
            f->fds[f->nfds++] = fd;
        f->peak = f->nfds > f->peak ? f->nfds : f->peak;
        f->opened++;
        pthread_mutex_unlock(&f->mu);
    }
    return fd;
}

static int fan_close(void *ctx, int fd)
{
    fan_io *f = ctx;
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->nfds; i++)
        if (f->fds[i] == fd) {
            f->fds[i] = f->fds[--f->nfds];
            break;
        }
    pthread_mutex_unlock(&f->mu);
    return f->base->close(f->base->ctx, fd);
}

static void fan_init(fan_io *f)
{
    memset(f, 0, sizeof *f);
    f->base = tsagg_io_default();
    f->table = *f->base;
    f->table.ctx = f;
    f->table.open = fan_open;
    f->table.close = fan_close;
    pthread_mutex_init(&f->mu, NULL);
}

/* The default table's other calls take its own ctx: forward them. */
#define FAN_BASE(ctx) (((fan_io *)(ctx))->base)
static ssize_t fan_pread(void *c, int fd, void *b, size_t l, uint64_t o)
{
    return FAN_BASE(c)->pread(FAN_BASE(c)->ctx, fd, b, l, o);
}
static ssize_t fan_pwrite(void *c, int fd, const void *b, size_t l, uint64_t o)
{
    return FAN_BASE(c)->pwrite(FAN_BASE(c)->ctx, fd, b, l, o);
}
static int fan_fsync(void *c, int fd) { return FAN_BASE(c)->fsync(FAN_BASE(c)->ctx, fd); }
static int fan_ftruncate(void *c, int fd, uint64_t sz)
{
    return FAN_BASE(c)->ftruncate(FAN_BASE(c)->ctx, fd, sz);
}
static int fan_fsize(void *c, int fd, uint64_t *sz)
{
    return FAN_BASE(c)->fsize(FAN_BASE(c)->ctx, fd, sz);
}
static int fan_rename(void *c, const char *a, const char *b)
{
    return FAN_BASE(c)->rename(FAN_BASE(c)->ctx, a, b);
}
static int fan_unlink(void *c, const char *p) { return FAN_BASE(c)->unlink(FAN_BASE(c)->ctx, p); }
static int fan_mkdir(void *c, const char *p, unsigned m)
{
    return FAN_BASE(c)->mkdir(FAN_BASE(c)->ctx, p, m);
}
static int fan_lock(void *c, int fd) { return FAN_BASE(c)->lock(FAN_BASE(c)->ctx, fd); }
static int fan_list(void *c, const char *d, int (*fn)(void *, const char *), void *arg)
{
    return FAN_BASE(c)->list(FAN_BASE(c)->ctx, d, fn, arg);
}

static const tsagg_io *fan_table(fan_io *f)
{
    f->table.pread = fan_pread;
    f->table.pwrite = fan_pwrite;
    f->table.fsync = fan_fsync;
    f->table.ftruncate = fan_ftruncate;
    f->table.fsize = fan_fsize;
    f->table.rename = fan_rename;
    f->table.unlink = fan_unlink;
    f->table.mkdir = fan_mkdir;
    f->table.lock = fan_lock;
    f->table.list = fan_list;
    return &f->table;
}

/* A small budget bounds how many files one merge reads at once, however
 * many runs an hour was spilled into or files it has: larger sets are
 * merged in passes. Same rows as with a large budget. */
Test(compact, memory_budget_bounds_merge_fanin)
{
    static fan_io fio;
    fan_init(&fio);
    tsagg_store *st = cc_open(tu_store, TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE, fan_table(&fio));
    int64_t hour = INT64_C(1790812800000000) + 3 * CC_HOUR;
    gagen *g = make_gen(47, 1u << 30, 1, 300);
    append_mut(st, g, 150000, to_one_hour, &hour);
    flush_ok(st);
    tsagg_compact_stats s = cc_compact(st, 1 << 20);
    cr_assert_gt(s.runs_spilled, 6);
    cr_assert_leq(fio.peak, 2, "%d runs read at once with a 1 MiB budget", fio.peak);
    cr_assert_eq(s.files_written, 1);
    cc_check_store(st, 1, 0, "fan-in");
    /* Eight more files for the hour, merged with the same budget. */
    for (int k = 0; k < 8; k++) {
        append_mut(st, g, 3000, to_one_hour, &hour);
        flush_ok(st);
        cc_compact(st, 64 << 20);
    }
    gagen_free(g);
    tsagg__manifest *m = cc_manifest(st);
    cr_assert_eq(cc_files_of_hour(m, hour), 9);
    tsagg__manifest_free(m);
    cc_result before = cc_check_store(st, 0, 0, "nine files");
    fio.peak = 0;
    tsagg_compact_options o;
    tsagg_compact_options_init(&o);
    o.memory_budget = 1 << 20;
    tsagg_compact_stats ms = {.struct_size = sizeof ms};
    cr_assert_eq(tsagg_merge(st, &o, &ms), 0);
    cr_assert_leq(fio.peak, 2, "%d files read at once by a merge with a 1 MiB budget", fio.peak);
    cr_assert_eq(ms.files_removed, 9);
    cr_assert_eq(ms.files_written, 1);
    cr_assert_eq(ms.duplicates, before.extra_copies);
    cc_check_store(st, 1, 1, "merged in passes");
    m = cc_manifest(st);
    cc_assert_clean_parts(tu_store, m, "merged in passes");
    tsagg__manifest_free(m);
    cr_log_info("fan-in: %" PRIu64 " runs spilled; merges read at most %d files at once",
                s.runs_spilled, fio.peak);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- the processing hook -------------------------------------------------------------- */

static const char BOT[] = "Googlebot/2.1 (+http://www.google.com/bot.html)";

static void plant_bots(void *ctx, tsagg_event *ev, tsagg_attr *attrs, uint64_t index)
{
    (void)ctx;
    if (index % 37 != 5)
        return;
    for (uint32_t i = 0; i < ev->nattrs; i++)
        if (attrs[i].key_len == 7 && !memcmp(attrs[i].key, "browser", 7))
        {
            attrs[i].v.s.ptr = BOT;
            attrs[i].v.s.len = (uint32_t)strlen(BOT);
        }
}

static int contains(const char *p, size_t len, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= len; i++)
        if (!memcmp(p + i, needle, k))
            return 1;
    return 0;
}

static int is_bot(const tsagg_event *ev)
{
    for (uint32_t i = 0; i < ev->nattrs; i++) {
        const tsagg_attr *a = &ev->attrs[i];
        if (a->key_len == 7 && !memcmp(a->key, "browser", 7) && a->type == TSAGG_STR &&
            contains(a->v.s.ptr, a->v.s.len, "bot"))
            return 1;
    }
    return 0;
}

typedef struct hook_ctx {
    uint64_t calls, last_seq;
    uint64_t fail_at; /* fail_hook */
    int err;
    tsagg_attr attrs[20]; /* move_hook: the event's new attributes */
} hook_ctx;

static int bot_hook(void *arg, tsagg_event *ev, uint64_t seq)
{
    hook_ctx *h = arg;
    cr_assert_gt(seq, h->last_seq, "the hook sees events in sequence order");
    h->last_seq = seq;
    h->calls++;
    return !is_bot(ev);
}

Test(compact, hook_drops_bots)
{
    tsagg_store *st = cc_open_writer(tu_store);
    gagen *g = make_gen(13, 20000, 1, 100);
    append_mut(st, g, UINT64_MAX, plant_bots, NULL);
    gagen_free(g);
    flush_ok(st);
    hook_ctx hc = {0}, hc2 = {0};
    tsagg_compact_options o;
    tsagg_compact_options_init(&o);
    o.process = bot_hook;
    o.process_ctx = &hc;
    tsagg_compact_stats s = {.struct_size = sizeof s};
    cr_assert_eq(tsagg_compact(st, &o, &s), 0);
    cr_assert_eq(hc.calls, 20000, "%" PRIu64 " calls, durable %" PRIu64, hc.calls, tsagg_durable_seq(st));
    cc_ctx c;
    cc_init(&c, tsagg_store_schema(st));
    cc_rows expect = {0}, actual = {0};
    uint64_t read, dropped;
    cc_log_rows(&c, st, 1, 20000, bot_hook, &hc2, &expect, &read, &dropped);
    cr_assert_geq(dropped, 20000 / 37);
    cr_assert_eq(s.events_dropped, dropped);
    cr_assert_eq(s.events_read, read);
    cr_assert_eq(s.rows_written, read - dropped - s.duplicates);
    tsagg__manifest *m = cc_manifest(st);
    cc_part_rows(&c, st, m, 1, &actual);
    cc_check_rows(&c, &expect, &actual, 1, "bots dropped");
    int bdim = -1;
    for (uint32_t d = 0; d < c.ndims; d++)
        if (!strcmp(c.dim[d], "browser"))
            bdim = (int)d;
    cr_assert_geq(bdim, 0);
    for (size_t i = 0; i < actual.n; i++)
        cr_assert_null(strstr(cc_str(&c.pool, actual.r[i].dims[bdim]), "bot"));
    tsagg__manifest_free(m);
    cc_rows_free(&expect);
    cc_rows_free(&actual);
    cc_fini(&c);
    cr_assert_eq(tsagg_store_close(st), 0);
}

static int fail_hook(void *arg, tsagg_event *ev, uint64_t seq)
{
    (void)ev;
    hook_ctx *h = arg;
    h->calls++;
    return seq == h->fail_at ? h->err : 1;
}

/* A failing hook fails the compaction with its code; nothing is published
 * and nothing is left in parts/ (runs included); a later run works. */
Test(compact, hook_error_publishes_nothing)
{
    tsagg_store *st = cc_open_writer(tu_store);
    int64_t hour = INT64_C(1790812800000000);
    gagen *g = make_gen(17, 60000, 1, 100);
    append_mut(st, g, UINT64_MAX, to_one_hour, &hour);
    gagen_free(g);
    flush_ok(st);
    hook_ctx hc = {.fail_at = 55555, .err = -EPROTO};
    tsagg_compact_options o;
    tsagg_compact_options_init(&o);
    o.memory_budget = 1 << 20; /* runs are spilled before the failure */
    o.process = fail_hook;
    o.process_ctx = &hc;
    tsagg_compact_stats s = {.struct_size = sizeof s};
    cr_assert_eq(tsagg_compact(st, &o, &s), -EPROTO);
    cr_assert_gt(s.runs_spilled, 0);
    char err[512];
    tsagg_store_errmsg(st, err, sizeof err);
    cr_assert(strstr(err, "hook") && strstr(err, "55555"), "errmsg: %s", err);
    uint64_t seq = 1;
    cr_assert_eq(tsagg_compacted_seq(st, &seq), 0);
    cr_assert_eq(seq, 0);
    tsagg__manifest *m = cc_manifest(st);
    cr_assert_eq(m->nparts, 0);
    cr_assert_eq(m->version, 0);
    cc_dirstate ds = cc_scan_parts(tu_store, NULL);
    cr_assert(ds.tmp + ds.runs + ds.parts + ds.other == 0, "parts/ is not empty: %s",
              ds.first_stray);
    tsagg__manifest_free(m);
    char mpath[700];
    snprintf(mpath, sizeof mpath, "%s/MANIFEST", tu_store);
    cr_assert(!cc_exists(mpath));
    /* A hook turning an event invalid is an error too. */
    cc_compact(st, 0);
    cc_check_store(st, 1, 0, "after the failed run");
    cr_assert_eq(tsagg_store_close(st), 0);
}

static int invalid_hook(void *arg, tsagg_event *ev, uint64_t seq)
{
    (void)arg;
    if (seq == 3)
        ev->event_len = 0;
    return 1;
}

Test(compact, hook_invalid_event)
{
    tsagg_store *st = cc_open_writer(tu_store);
    gagen *g = make_gen(19, 100, 1, 10);
    cc_append_gagen(st, g, UINT64_MAX);
    gagen_free(g);
    flush_ok(st);
    tsagg_compact_options o;
    tsagg_compact_options_init(&o);
    o.process = invalid_hook;
    cr_assert_eq(tsagg_compact(st, &o, NULL), TSAGG_EINPUT);
    uint64_t seq = 1;
    cr_assert_eq(tsagg_compacted_seq(st, &seq), 0);
    cr_assert_eq(seq, 0);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* Purchases move three hours later and get a country of the hook's own
 * (an attribute array the hook owns, reused from call to call). */
static int move_hook(void *arg, tsagg_event *ev, uint64_t seq)
{
    (void)seq;
    hook_ctx *h = arg;
    if (ev->event_len != 8 || memcmp(ev->event, "purchase", 8))
        return 1;
    ev->ts += 3 * CC_HOUR;
    uint32_t n = 0;
    for (uint32_t i = 0; i < ev->nattrs; i++)
        if (!(ev->attrs[i].key_len == 7 && !memcmp(ev->attrs[i].key, "country", 7)))
            h->attrs[n++] = ev->attrs[i];
    h->attrs[n++] = (tsagg_attr){.key = "country", .key_len = 7, .type = TSAGG_STR,
                                 .v.s = {"ZZ", 2}};
    ev->attrs = h->attrs;
    ev->nattrs = n;
    return 1;
}

Test(compact, hook_moves_rows)
{
    tsagg_store *st = cc_open_writer(tu_store);
    gagen *g = make_gen(23, 30000, 1, 100);
    cc_append_gagen(st, g, UINT64_MAX);
    gagen_free(g);
    flush_ok(st);
    hook_ctx hc = {0}, hc2 = {0};
    tsagg_compact_options o;
    tsagg_compact_options_init(&o);
    o.process = move_hook;
    o.process_ctx = &hc;
    tsagg_compact_stats s = {.struct_size = sizeof s};
    cr_assert_eq(tsagg_compact(st, &o, &s), 0);
    cc_ctx c;
    cc_init(&c, tsagg_store_schema(st));
    cc_rows expect = {0}, actual = {0}, orig = {0};
    cc_log_rows(&c, st, 1, 30000, move_hook, &hc2, &expect, NULL, NULL);
    cc_log_rows(&c, st, 1, 30000, NULL, NULL, &orig, NULL, NULL);
    tsagg__manifest *m = cc_manifest(st);
    cc_part_rows(&c, st, m, 1, &actual);
    cc_check_rows(&c, &expect, &actual, 1, "moved");
    /* Purchases are 3 h after their log time, with country ZZ. */
    uint32_t purchase = cc_intern(&c.pool, "purchase", 8), zz = cc_intern(&c.pool, "ZZ", 2);
    int cdim = 2;
    cr_assert_str_eq(c.dim[cdim], "country");
    size_t np = 0, ok = 0;
    cc_sort(&orig);
    for (size_t i = 0; i < actual.n; i++) {
        const cc_row *r = &actual.r[i];
        if (r->event != purchase)
            continue;
        np++;
        cr_assert_eq(r->dims[cdim], zz);
        for (size_t k = 0; k < orig.n; k++)
            if (orig.r[k].id == r->id && orig.r[k].merchant == r->merchant &&
                orig.r[k].ts + 3 * CC_HOUR == r->ts) {
                ok++;
                break;
            }
    }
    cr_assert_gt(np, 10);
    cr_assert_eq(ok, np);
    cr_assert(m->parts[m->nparts - 1].start >= INT64_C(1790812800000000) + 24 * CC_HOUR,
              "the moved rows made later hours");
    tsagg__manifest_free(m);
    cc_rows_free(&expect);
    cc_rows_free(&actual);
    cc_rows_free(&orig);
    cc_fini(&c);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- handles and arguments ------------------------------------------------------------ */

Test(compact, read_only_handle)
{
    tsagg_store *w = cc_open_writer(tu_store);
    gagen *g = make_gen(29, 20000, 1, 100);
    cc_append_gagen(w, g, 10000);
    flush_ok(w);
    tsagg_store *ro = cc_open(tu_store, 0, NULL);
    cr_assert_eq(tsagg_compact(ro, NULL, NULL), TSAGG_EREADONLY);
    cr_assert_eq(tsagg_merge(ro, NULL, NULL), TSAGG_EREADONLY);
    uint64_t seq = 1;
    cr_assert_eq(tsagg_compacted_seq(ro, &seq), 0);
    cr_assert_eq(seq, 0);
    tsagg__snapshot *s0;
    cr_assert_eq(tsagg__snapshot_acquire(ro, &s0), 0);
    cr_assert_eq(tsagg__snapshot_manifest(s0)->nparts, 0);

    cc_compact(w, 0);
    /* A new snapshot of the reader sees the publish; the held one does not. */
    tsagg__manifest *mr = cc_manifest(ro), *mw = cc_manifest(w);
    cr_assert_eq(mr->version, mw->version);
    cr_assert_eq(mr->consumed_seq, 10000);
    cr_assert_eq(mr->nparts, mw->nparts);
    for (size_t i = 0; i < mr->nparts; i++)
        cr_assert_eq(mr->parts[i].file_id, mw->parts[i].file_id);
    cr_assert_eq(tsagg__snapshot_manifest(s0)->nparts, 0);
    tsagg__snapshot_release(ro, s0);
    cc_check_store(ro, 1, 1, "through the read-only handle");
    tsagg__manifest_free(mr);
    tsagg__manifest_free(mw);

    /* And the next ones. */
    cc_append_gagen(w, g, 10000);
    gagen_free(g);
    flush_ok(w);
    cc_compact(w, 0);
    cc_merge(w);
    cr_assert_eq(tsagg_compacted_seq(ro, &seq), 0);
    cr_assert_eq(seq, 20000);
    mr = cc_manifest(ro);
    mw = cc_manifest(w);
    cr_assert_eq(mr->version, mw->version);
    cr_assert(!cc_has_extra_files(mr));
    tsagg__manifest_free(mr);
    tsagg__manifest_free(mw);
    cc_check_store(ro, 1, 0, "read-only, after a merge");
    cr_assert_eq(tsagg_store_close(ro), 0);
    cr_assert_eq(tsagg_store_close(w), 0);
}

Test(compact, arguments_and_empty_store)
{
    cr_assert_eq(tsagg_compact(NULL, NULL, NULL), TSAGG_EARG);
    cr_assert_eq(tsagg_merge(NULL, NULL, NULL), TSAGG_EARG);
    uint64_t seq;
    cr_assert_eq(tsagg_compacted_seq(NULL, &seq), TSAGG_EARG);
    tsagg_store *st = cc_open_writer(tu_store);
    cr_assert_eq(tsagg_compacted_seq(st, NULL), TSAGG_EARG);
    tsagg_compact_options o;
    tsagg_compact_options_init(&o);
    cr_assert_eq(o.struct_size, sizeof o);
    cr_assert_eq(o.memory_budget, 256u << 20);
    o.memory_budget = (1 << 20) - 1;
    cr_assert_eq(tsagg_compact(st, &o, NULL), TSAGG_EARG);
    cr_assert_eq(tsagg_merge(st, &o, NULL), TSAGG_EARG);
    tsagg_compact_options_init(&o);
    o.struct_size = 8;
    cr_assert_eq(tsagg_compact(st, &o, NULL), TSAGG_EARG);
    /* Nothing in the log: nothing to do, nothing published. */
    tsagg_compact_stats s;
    memset(&s, 0xff, sizeof s);
    s.struct_size = sizeof s;
    cr_assert_eq(tsagg_compact(st, NULL, &s), 0);
    cr_assert_eq(s.events_read, 0);
    cr_assert_eq(s.files_written, 0);
    cr_assert_eq(s.consumed_seq, 0);
    cr_assert_eq(tsagg_merge(st, NULL, NULL), 0);
    cr_assert_eq(tsagg_compacted_seq(st, &seq), 0);
    cr_assert_eq(seq, 0);
    /* Appended but not durable (SYNC_NONE, no flush): not compacted. */
    tsagg_event e = {.ts = 1, .merchant = 1, .event = "x", .event_len = 1};
    cr_assert_eq(tsagg_append(st, &e, 1, NULL), 0);
    if (tsagg_durable_seq(st) == 0) {
        cr_assert_eq(tsagg_compact(st, NULL, &s), 0);
        cr_assert_eq(s.events_read, 0);
    }
    flush_ok(st);
    cr_assert_eq(tsagg_compact(st, NULL, &s), 0);
    cr_assert_eq(s.events_read, 1);
    cr_assert_eq(tsagg_compacted_seq(st, &seq), 0);
    cr_assert_eq(seq, 1);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- concurrency -------------------------------------------------------------------- */

typedef struct conc {
    tsagg_store *st;
    _Atomic int stop;
    int err;             /* first failure of a thread */
    char what[1024];
    uint64_t appended, snapshots, files_read;
} conc;

static void conc_fail(conc *c, int rc, const char *what)
{
    if (!c->err) {
        c->err = rc ? rc : -1;
        snprintf(c->what, sizeof c->what, "%.1000s", what);
    }
}

static void *appender(void *arg)
{
    conc *c = arg;
    gagen *g = make_gen(37, 1u << 30, 2, 200);
    static tsagg_event batch[500];
    for (int k = 0; !atomic_load(&c->stop) && !c->err; k++) {
        if (c->appended >= 60000) { /* enough: keep the check short */
            usleep(1000);
            continue;
        }
        usleep(2500); /* spread the appends over the compactions */
        size_t n = gagen_next(g, batch, 500);
        int rc = tsagg_append(c->st, batch, n, NULL);
        if (rc == 0 && k % 4 == 0)
            rc = tsagg_flush(c->st);
        if (rc != 0)
            conc_fail(c, rc, "append");
        c->appended += n;
    }
    gagen_free(g);
    return NULL;
}

/* Snapshots of the writer's handle: every file one lists opens and reads
 * while it is held, merges and compactions notwithstanding. */
static void *snapper(void *arg)
{
    conc *c = arg;
    int64_t *ts = malloc(TSAGG__PART_GROUP_ROWS * sizeof *ts); /* one per thread */
    if (!ts) {
        conc_fail(c, -ENOMEM, "malloc");
        return NULL;
    }
    while (!atomic_load(&c->stop) && !c->err) {
        tsagg__snapshot *s;
        int rc = tsagg__snapshot_acquire(c->st, &s);
        if (rc != 0) {
            conc_fail(c, rc, "snapshot");
            break;
        }
        const tsagg__manifest *m = tsagg__snapshot_manifest(s);
        for (size_t i = 0; i < m->nparts && !c->err; i += 1 + m->nparts / 4) {
            char path[4200], err[512];
            cc_path(c->st, &m->parts[i], path, sizeof path);
            tsagg__part *p;
            rc = tsagg__part_open(tsagg_io_default(), path, &p, err, sizeof err);
            if (rc == 0) {
                rc = tsagg__part_read_column(p, TSAGG__COL_TS, 0, ts);
                if (rc != 0)
                    tsagg__part_errmsg(p, err, sizeof err);
                tsagg__part_close(p);
            }
            if (rc != 0)
                conc_fail(c, rc, err);
            c->files_read++;
        }
        tsagg__snapshot_release(c->st, s);
        c->snapshots++;
    }
    free(ts);
    return NULL;
}

Test(compact, concurrent_appends_snapshots_and_merges)
{
    tsagg_store *st = cc_open_writer(tu_store);
    conc c = {.st = st};
    pthread_t ta, ts1, ts2;
    cr_assert_eq(pthread_create(&ta, NULL, appender, &c), 0);
    cr_assert_eq(pthread_create(&ts1, NULL, snapper, &c), 0);
    cr_assert_eq(pthread_create(&ts2, NULL, snapper, &c), 0);
    uint64_t compactions = 0, merges = 0;
    for (int k = 0; k < 40 && !c.err; k++) {
        tsagg_compact_options o;
        tsagg_compact_options_init(&o);
        o.memory_budget = k % 2 ? 1 << 20 : 64 << 20;
        tsagg_compact_stats s = {.struct_size = sizeof s};
        int rc = tsagg_compact(st, &o, &s);
        cr_assert_eq(rc, 0, "compact: %s", tsagg_strerror(rc));
        compactions++;
        if (k % 3 == 2) {
            cr_assert_eq(tsagg_merge(st, NULL, NULL), 0);
            merges++;
        }
        usleep(2000);
    }
    atomic_store(&c.stop, 1);
    pthread_join(ta, NULL);
    pthread_join(ts1, NULL);
    pthread_join(ts2, NULL);
    cr_assert_eq(c.err, 0, "%s: %s", c.what, tsagg_strerror(c.err));
    flush_ok(st);
    cc_compact(st, 0);
    uint64_t seq;
    cr_assert_eq(tsagg_compacted_seq(st, &seq), 0);
    cr_assert_eq(seq, tsagg_last_seq(st));
    cc_check_store(st, 0, 0, "concurrent");
    cc_merge(st);
    cc_check_store(st, 1, 0, "concurrent, merged");
    tsagg__manifest *m = cc_manifest(st);
    cc_assert_clean_parts(tu_store, m, "concurrent");
    tsagg__manifest_free(m);
    cr_log_info("concurrent: %" PRIu64 " events, %" PRIu64 " compactions, %" PRIu64 " merges, "
                "%" PRIu64 " snapshots, %" PRIu64 " files read", c.appended, compactions, merges,
                c.snapshots, c.files_read);
    cr_assert_gt(c.files_read, 0);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- the row order of a span buffer ---------------------------------------- */

typedef struct ref_key {
    const tsagg__spanrow *r;
    uint32_t row;
} ref_key;

/* The order merge.c's row_less and the files promise, arrival last. */
static int ref_cmp(const void *pa, const void *pb)
{
    const ref_key *a = pa, *b = pb;
    const tsagg__spanrow *x = a->r, *y = b->r;
    if (x->merchant != y->merchant)
        return x->merchant < y->merchant ? -1 : 1;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    uint32_t hx = x->flags & TSAGG_EVENT_HAS_ID, hy = y->flags & TSAGG_EVENT_HAS_ID;
    if (hx != hy)
        return hx < hy ? -1 : 1;
    if (hx && x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return a->row < b->row ? -1 : a->row > b->row;
}

static int ts_cmp(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    return a < b ? -1 : a > b;
}

static uint64_t sort_rng(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/*
 * Buffers of every shape the sort meets: merchants and times in narrow
 * ranges (the packed key fits: radix) and in wide ones (it does not:
 * comparison), all one merchant across a time range of 64 bits, many rows
 * sharing a merchant and microsecond with and without ids (ids repeated:
 * retries), a few rows, none; and rows that come in time order, nearly
 * (some late) or in reverse (the radix sort sorts the digits above time
 * and then each run by an insertion sort, which gives up on rows far from
 * time order), with time ranges whose bits do and do not widen to whole
 * digits inside the key.
 */
Test(spanbuf, sort_matches_reference)
{
    static const struct {
        size_t n;
        uint64_t merchant_lo, merchants; /* merchants drawn from [lo, lo + merchants) */
        int64_t ts_lo;
        uint64_t ts_range;               /* 0: the whole int64 range */
        unsigned ids;                    /* ids drawn from [0, ids); 0: no row has one */
        int in_time_order;               /* rows added in ts order: 1, with some
                                            late: 2, reversed: -1 */
    } shapes[] = {
        {5000, 1, 200000, 1759276800000000, 31ull * 86400000000, 1u << 30, 0},
        {5000, 1000, 3, 1759276800000000, 20, 4, 0},     /* many ties */
        {5000, 7, 1, 0, 0, 3, 0},                         /* one merchant, any ts */
        {5000, 0, 0, INT64_MIN, 0, 1u << 20, 0},          /* any merchant, any ts */
        {5000, UINT64_MAX - 9, 10, -5000, 10000, 0, 0},   /* no ids, negative ts */
        {300, 1ull << 40, 1ull << 20, 1ull << 40, 1ull << 30, 2, 0},
        {3000, 1, 1ull << 24, 0, 1ull << 44, 5, 0},       /* 68 bits: just too wide */
        {100, 5, 50, 0, 1000, 7, 0},                      /* below the radix threshold */
        {0, 0, 1, 0, 1, 0, 0},
        {5000, 1, 200000, 1759276800000000, 31ull * 86400000000, 1u << 30, 1},
        {5000, 1000, 3, 1759276800000000, 20, 4, 1},        /* many ties */
        {5000, 7, 1, 0, 0, 3, 1},                            /* one merchant, any ts */
        {3000, 1, 1ull << 21, 0, 1ull << 43, 5, 1},          /* 64 bits: no room to widen */
        {3000, 1, 1ull << 21, -(1ll << 20), 1ull << 22, 0, 1}, /* time in whole digits */
        {4000, 0, 0, 5, 1ull << 12, 2, 1},                   /* any merchant: comparison */
        {5000, 1, 200000, 1759276800000000, 31ull * 86400000000, 1u << 30, 2},
        {5000, 1, 30, 1759276800000000, 31ull * 86400000000, 1u << 30, 2},
        {5000, 1000, 3, 1759276800000000, 20, 4, 2},        /* many ties, some late */
        {3000, 1, 1ull << 21, 0, 1ull << 43, 5, 2},
        {2000, 1, 4, 1759276800000000, 86400000000, 3, -1},  /* far from time order */
    };
    uint64_t seed = 12;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        tsagg__spanbuf h;
        cr_assert_eq(tsagg__spanbuf_init(&h, 0, 0, 0), 0);
        int64_t *times = malloc((shapes[k].n + 1) * sizeof *times);
        cr_assert_not_null(times);
        for (size_t i = 0; i < shapes[k].n; i++) {
            uint64_t t = shapes[k].ts_range ? sort_rng(&seed) % shapes[k].ts_range
                                            : sort_rng(&seed);
            times[i] = (int64_t)((uint64_t)shapes[k].ts_lo + t);
        }
        if (shapes[k].in_time_order)
            qsort(times, shapes[k].n, sizeof *times, ts_cmp);
        for (size_t i = 0; shapes[k].in_time_order == 2 && i + 50 < shapes[k].n; i++) {
            if (sort_rng(&seed) % 50 == 0) { /* a late row */
                size_t j = i + 1 + sort_rng(&seed) % 49;
                int64_t t = times[i];
                times[i] = times[j];
                times[j] = t;
            }
        }
        for (size_t i = 0; shapes[k].in_time_order == -1 && i < shapes[k].n / 2; i++) {
            int64_t t = times[i];
            times[i] = times[shapes[k].n - 1 - i];
            times[shapes[k].n - 1 - i] = t;
        }
        for (size_t i = 0; i < shapes[k].n; i++) {
            uint64_t m = shapes[k].merchants ? sort_rng(&seed) % shapes[k].merchants
                                             : sort_rng(&seed);
            tsagg__spanrow r = {.ts = times[i],
                                .merchant = shapes[k].merchant_lo + m};
            if (shapes[k].ids && sort_rng(&seed) % 4) {
                r.flags = TSAGG_EVENT_HAS_ID;
                r.id = sort_rng(&seed) % shapes[k].ids;
            } else {
                r.id = sort_rng(&seed); /* not part of the order without the flag */
            }
            cr_assert_eq(tsagg__spanbuf_add(&h, &r, NULL, NULL), 0);
        }
        free(times);
        cr_assert_eq(tsagg__spanbuf_sort(&h), 0);
        ref_key *ref = malloc((h.n + 1) * sizeof *ref);
        cr_assert_not_null(ref);
        for (size_t i = 0; i < h.n; i++)
            ref[i] = (ref_key){&h.rows[i], (uint32_t)i};
        qsort(ref, h.n, sizeof *ref, ref_cmp);
        for (size_t i = 0; i < h.n; i++)
            cr_assert_eq(h.order[i], ref[i].row, "shape %zu, position %zu: row %u, expected %u",
                         k, i, h.order[i], ref[i].row);
        free(ref);
        tsagg__spanbuf_free(&h);
    }
}

/* A sorted buffer is not sorted again, until a row comes or the rows go. */
Test(spanbuf, sorted_until_rows_change)
{
    tsagg__spanbuf h;
    cr_assert_eq(tsagg__spanbuf_init(&h, 0, 0, 0), 0);
    for (uint64_t m = 300; m > 0; m--) {
        tsagg__spanrow r = {.ts = 5, .merchant = m};
        cr_assert_eq(tsagg__spanbuf_add(&h, &r, NULL, NULL), 0);
    }
    cr_assert_eq(tsagg__spanbuf_sort(&h), 0);
    cr_assert(h.sorted);
    const uint32_t *order = h.order;
    cr_assert_eq(tsagg__spanbuf_sort(&h), 0);
    cr_assert_eq(h.order, order, "a sorted buffer was sorted again");
    tsagg__spanrow first = {.ts = 1, .merchant = 1};
    cr_assert_eq(tsagg__spanbuf_add(&h, &first, NULL, NULL), 0);
    cr_assert(!h.sorted);
    cr_assert_eq(tsagg__spanbuf_sort(&h), 0);
    /* Rows 0..299 are merchants 300..1 at ts 5; row 300, merchant 1 at
     * ts 1, comes first. */
    cr_assert_eq(h.order[0], 300, "the row added is not in the order");
    cr_assert_eq(h.order[1], 299);
    cr_assert_eq(h.order[300], 0);
    tsagg__spanbuf_clear(&h);
    cr_assert(!h.sorted);
    tsagg__spanbuf_free(&h);
}

/* Strings of 1..16 bytes are found by their bytes in a small cache before
 * the table: strings that differ in one byte anywhere, or only in length,
 * get codes of their own (many share a cache slot and replace each other),
 * the same bytes at another address get the same code, and a cleared
 * buffer forgets them. */
Test(spanbuf, short_strings_get_one_code_each)
{
    tsagg__spanbuf h;
    cr_assert_eq(tsagg__spanbuf_init(&h, 0, 0, 0), 0);
    enum { MAXLEN = 20 };
    size_t n = 0;
    for (int round = 0; round < 3; round++) {
        size_t k = 0;
        for (size_t len = 1; len <= MAXLEN; len++) {
            for (size_t at = 0; at <= len; at++, k++) { /* at == len: none changed */
                char *s = malloc(len); /* its own allocation: no read past it */
                cr_assert(s);
                memset(s, 'a', len);
                if (at < len)
                    s[at] = 'b';
                uint32_t code;
                cr_assert_eq(tsagg__spanbuf_intern(&h, s, len, &code), 0);
                if (round == 0) {
                    cr_assert_eq(code, n++, "\"%.*s\" got the code of another string", (int)len, s);
                } else {
                    cr_assert_eq(code, k, "\"%.*s\" got code %u, not %zu", (int)len, s, code, k);
                }
                tsagg__str got = tsagg__spanbuf_str(&h, code);
                cr_assert(got.len == len && !memcmp(got.ptr, s, len));
                free(s);
            }
        }
    }
    cr_assert_eq(h.nstrs, n);
    uint32_t code;
    cr_assert_eq(tsagg__spanbuf_intern(&h, "aaaa", 4, &code), 0);
    cr_assert_neq(code, 0);
    tsagg__spanbuf_clear(&h);
    cr_assert_eq(tsagg__spanbuf_intern(&h, "aaaa", 4, &code), 0);
    cr_assert_eq(code, 0, "a cleared buffer gave a code it had before");
    tsagg__spanbuf_free(&h);
}

/* ---- retries across runs: what is read ---------------------------------- */

/* One event with an id for each of merchants 1..n at ts. */
static void append_each_merchant(tsagg_store *st, uint32_t n, int64_t ts, uint64_t id0)
{
    tsagg_event e[500];
    for (uint32_t m = 1; m <= n;) {
        size_t k = 0;
        for (; k < 500 && m <= n; k++, m++)
            e[k] = (tsagg_event){.ts = ts, .merchant = m, .event = "page_view",
                                 .event_len = 9, .flags = TSAGG_EVENT_HAS_ID, .id = id0 + m};
        cr_assert_eq(tsagg_append(st, e, k, NULL), 0);
    }
    flush_ok(st);
}

/*
 * A compaction drops the new rows whose key a published file holds, and
 * reads for it only the files whose own times meet the new rows'. The
 * hour being written holds many files, all of earlier times: their
 * merchant index pages are damaged here, so a compaction that looked the
 * new rows' merchants up in them fails.
 */
Test(compact, retry_check_skips_files_of_earlier_times)
{
    enum { MERCHANTS = 3000, FILES = 4 };
    const int64_t h0 = INT64_C(1767225600000000); /* 2026-01-01T00:00:00Z */
    const int64_t minute = INT64_C(60000000);
    tsagg_store *st = cc_open_writer(tu_store);
    for (int f = 0; f < FILES; f++) {
        append_each_merchant(st, MERCHANTS, h0 + f * minute, (uint64_t)f * MERCHANTS);
        cr_assert_eq(cc_compact(st, 0).files_written, 1);
    }
    tsagg__manifest *m = cc_manifest(st);
    cr_assert_eq(m->nparts, FILES);
    size_t damaged = 0;
    for (size_t f = 0; f < m->nparts; f++) {
        char path[TSAGG_PATH_MAX + 64], err[TSAGG_ERRMSG_MAX];
        tsagg__part_file_path(st, &m->parts[f], path, sizeof path);
        tsagg__part *p;
        cr_assert_eq(tsagg__part_open(tsagg_io_default(), path, &p, err, sizeof err), 0, "%s",
                     err);
        pf_blockref pages[64];
        size_t np = p->npages < 64 ? (size_t)p->npages : 64;
        for (size_t i = 0; i < np; i++)
            pages[i] = p->ptab[i].ref;
        tsagg__part_close(p);
        cr_assert_gt(np, 1, "the merchants fill several index pages");
        int fd = open(path, O_RDWR);
        cr_assert_geq(fd, 0);
        for (size_t i = 0; i < np; i++) {
            uint8_t b;
            off_t at = (off_t)(pages[i].off + pages[i].len / 2);
            cr_assert_eq(pread(fd, &b, 1, at), 1);
            b ^= 0x20;
            cr_assert_eq(pwrite(fd, &b, 1, at), 1);
            damaged++;
        }
        close(fd);
    }
    tsagg__manifest_free(m);

    /* The same merchants, later in the same hour. */
    append_each_merchant(st, MERCHANTS, h0 + FILES * minute, (uint64_t)FILES * MERCHANTS);
    tsagg_compact_stats s = {.struct_size = sizeof s};
    int rc = tsagg_compact(st, NULL, &s);
    char err[TSAGG_ERRMSG_MAX];
    tsagg_store_errmsg(st, err, sizeof err);
    cr_assert_eq(rc, 0, "compaction beside %zu damaged index pages: %s", damaged, err);
    cr_assert_eq(s.rows_written, MERCHANTS);
    cr_assert_eq(s.duplicates, 0);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* The empty string keeps one code while the strings last, and gets the
 * code of its place among them again after a clear. */
Test(spanbuf, empty_string_code_survives_growth_and_clear)
{
    tsagg__spanbuf h;
    cr_assert_eq(tsagg__spanbuf_init(&h, 0, 0, 0), 0);
    for (int round = 0; round < 2; round++) {
        uint32_t a, e, e2, code;
        cr_assert_eq(tsagg__spanbuf_intern(&h, "a", 1, &a), 0);
        if (round == 1) /* after the clear, "" comes later than before */
            cr_assert_eq(tsagg__spanbuf_intern(&h, "b", 1, &code), 0);
        cr_assert_eq(tsagg__spanbuf_intern(&h, "", 0, &e), 0);
        char s[16];
        for (int i = 0; i < 1000; i++) { /* the table grows under it */
            snprintf(s, sizeof s, "v%d", i);
            cr_assert_eq(tsagg__spanbuf_intern(&h, s, strlen(s), &code), 0);
        }
        cr_assert_eq(tsagg__spanbuf_intern(&h, "", 0, &e2), 0);
        cr_assert_eq(e, e2);
        cr_assert_eq(tsagg__spanbuf_str(&h, e2).len, 0);
        cr_assert(tsagg__spanbuf_find(&h, "", 0, &code) && code == e);
        cr_assert_eq(e, (uint32_t)(round + 1), "round %d: \"\" is code %u", round, e);
        tsagg__spanbuf_clear(&h);
    }
    tsagg__spanbuf_free(&h);
}
