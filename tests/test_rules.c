/*
 * test_rules.c - processing rules kept in the store (tsagg_rules.h) and the
 * STORE/RULES file (docs/format.md, "Processing rules").
 *
 * Invariants checked:
 *   - matching: numbers compare as numbers however they were written,
 *     strings byte for byte, an absent attribute reads as "" (as a query
 *     filter does), the merchant as a number; rules that can match nothing
 *     (core fields, an empty event name) are refused with a reason;
 *   - the file is byte for byte what docs/format.md says, survives a reopen,
 *     and a flipped byte, a truncation or an unknown version are told apart
 *     (checksum checked before the version);
 *   - compaction and rebuild apply the stored rules without being told, so
 *     a rebuild that repairs an hour keeps its dropped events dropped;
 *   - a query of the log tail drops what compaction will drop.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "compactcheck.h"
#include "testutil.h"
#include "tsagg_rules.h"

TestSuite(rules, .init = tu_store_setup, .fini = tu_store_teardown, .timeout = 120);

static tsagg_rules *rules_of(const char *field, const char *value)
{
    tsagg_rules *r;
    cr_assert_eq(tsagg_rules_create(&r), 0);
    char why[256];
    int rc = tsagg_rules_add_drop(r, field, value, why, sizeof why);
    cr_assert_eq(rc, 0, "%s=%s: %s", field, value, why);
    return r;
}

static tsagg_event event_with(const tsagg_attr *attrs, uint32_t n)
{
    tsagg_event ev = {.ts = 1, .merchant = 7, .event = "page_view", .event_len = 9,
                      .attrs = attrs, .nattrs = n};
    return ev;
}

Test(rules, numbers_compare_as_numbers)
{
    tsagg_attr f01 = {.key = "value", .key_len = 5, .type = TSAGG_F64, .v.f = 0.1};
    tsagg_attr i42 = {.key = "value", .key_len = 5, .type = TSAGG_INT, .v.i = 42};
    tsagg_attr big = {.key = "value", .key_len = 5, .type = TSAGG_INT,
                      .v.i = INT64_C(9007199254740993)};
    tsagg_event e01 = event_with(&f01, 1), e42 = event_with(&i42, 1), ebig = event_with(&big, 1);
    const char *same_01[] = {"0.1", "0.10", "1e-1", "+0.1", ".1"};
    for (size_t i = 0; i < sizeof same_01 / sizeof *same_01; i++) {
        tsagg_rules *r = rules_of("value", same_01[i]);
        cr_assert_eq(tsagg_rules_drops(r, &e01), 1, "value=%s drops 0.1", same_01[i]);
        cr_assert_eq(tsagg_rules_drops(r, &e42), 0);
        tsagg_rules_free(r);
    }
    const char *same_42[] = {"42", "42.0", "4.2e1", "042"};
    for (size_t i = 0; i < sizeof same_42 / sizeof *same_42; i++) {
        tsagg_rules *r = rules_of("value", same_42[i]);
        cr_assert_eq(tsagg_rules_drops(r, &e42), 1, "value=%s drops 42", same_42[i]);
        tsagg_rules_free(r);
    }
    /* Integers beyond 2^53 compare exactly, not through doubles. */
    tsagg_rules *r = rules_of("value", "9007199254740992");
    cr_assert_eq(tsagg_rules_drops(r, &ebig), 0);
    tsagg_rules_free(r);
    r = rules_of("value", "9007199254740993");
    cr_assert_eq(tsagg_rules_drops(r, &ebig), 1);
    tsagg_rules_free(r);
    /* Not a number: matches no number. */
    r = rules_of("value", "0x2a");
    cr_assert_eq(tsagg_rules_drops(r, &e42), 0);
    tsagg_rules_free(r);
}

Test(rules, strings_absent_fields_event_and_merchant)
{
    tsagg_attr page = {.key = "page", .key_len = 4, .type = TSAGG_STR, .v.s = {"/a", 2}};
    tsagg_attr empty = {.key = "page", .key_len = 4, .type = TSAGG_STR, .v.s = {"", 0}};
    tsagg_attr snum = {.key = "page", .key_len = 4, .type = TSAGG_STR, .v.s = {"0.10", 4}};
    tsagg_attr twice[] = {page, {.key = "page", .key_len = 4, .type = TSAGG_STR,
                                 .v.s = {"/b", 2}}};
    tsagg_event with = event_with(&page, 1), none = event_with(NULL, 0);
    tsagg_event blank = event_with(&empty, 1), text = event_with(&snum, 1);
    tsagg_event last = event_with(twice, 2);

    tsagg_rules *r = rules_of("page", "/a");
    cr_assert_eq(tsagg_rules_drops(r, &with), 1);
    cr_assert_eq(tsagg_rules_drops(r, &none), 0, "an absent page is not /a");
    cr_assert_eq(tsagg_rules_drops(r, &last), 0, "the last of a repeated key counts");
    tsagg_rules_free(r);

    r = rules_of("page", "");
    cr_assert_eq(tsagg_rules_drops(r, &none), 1, "an absent page reads as \"\"");
    cr_assert_eq(tsagg_rules_drops(r, &blank), 1);
    cr_assert_eq(tsagg_rules_drops(r, &with), 0);
    tsagg_rules_free(r);

    r = rules_of("page", "0.1");
    cr_assert_eq(tsagg_rules_drops(r, &text), 0, "a string compares as text");
    tsagg_rules_free(r);

    r = rules_of("event", "page_view");
    cr_assert_eq(tsagg_rules_drops(r, &none), 1);
    tsagg_rules_free(r);

    r = rules_of("merchant", "7");
    cr_assert_eq(tsagg_rules_drops(r, &none), 1, "merchant=7 drops merchant 7");
    none.merchant = 8;
    cr_assert_eq(tsagg_rules_drops(r, &none), 0);
    tsagg_rules_free(r);
}

Test(rules, unmatchable_rules_are_refused_with_a_reason)
{
    tsagg_rules *r;
    cr_assert_eq(tsagg_rules_create(&r), 0);
    struct {
        const char *field, *value, *why;
    } bad[] = {
        {"ts", "1", "core field"},      {"user", "u1", "core field"},
        {"session", "s", "core field"}, {"id", "3", "core field"},
        {"merchant", "", "decimal"},    {"merchant", "shop", "decimal"},
        {"event", "", "matches nothing"}, {"", "x", "1..64"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char why[256] = "";
        cr_assert_eq(tsagg_rules_add_drop(r, bad[i].field, bad[i].value, why, sizeof why),
                     TSAGG_EARG, "%s=%s", bad[i].field, bad[i].value);
        cr_assert(strstr(why, bad[i].why), "%s=%s: '%s'", bad[i].field, bad[i].value, why);
    }
    cr_assert_eq(tsagg_rules_count(r), 0);
    tsagg_rules_free(r);
}

/* The bytes of STORE/RULES. */
static size_t read_rules_file(uint8_t *buf, size_t cap)
{
    char path[700];
    snprintf(path, sizeof path, "%s/RULES", tu_store);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

static void write_rules_file(const uint8_t *buf, size_t len)
{
    char path[700];
    snprintf(path, sizeof path, "%s/RULES", tu_store);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
}

Test(rules, file_is_as_documented_and_checked)
{
    tsagg_store *st = cc_open_writer(tu_store);
    tsagg_rules *got;
    cr_assert_eq(tsagg_store_rules(st, &got), 0);
    cr_assert_eq(tsagg_rules_count(got), 0, "no file: no rules");
    tsagg_rules_free(got);

    tsagg_rules *r = rules_of("device", "bot");
    char why[64];
    cr_assert_eq(tsagg_rules_add_drop(r, "event", "ping", why, sizeof why), 0);
    cr_assert_eq(tsagg_store_set_rules(st, r), 0);
    tsagg_rules_free(r);
    cr_assert_eq(tsagg_store_close(st), 0);

    /* docs/format.md: header, two rules, XXH64. */
    uint8_t expect[128];
    size_t n = 0;
    memcpy(expect, "TSAGGRUL", 8);
    n = 8;
    const uint8_t head[] = {1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    memcpy(expect + n, head, sizeof head);
    n += sizeof head;
    const uint8_t r1[] = {1, 6, 'd', 'e', 'v', 'i', 'c', 'e', 3, 0, 0, 0, 'b', 'o', 't'};
    const uint8_t r2[] = {1, 5, 'e', 'v', 'e', 'n', 't', 4, 0, 0, 0, 'p', 'i', 'n', 'g'};
    memcpy(expect + n, r1, sizeof r1);
    n += sizeof r1;
    memcpy(expect + n, r2, sizeof r2);
    n += sizeof r2;
    expect[16] = (uint8_t)(n - 24); /* L */
    uint64_t sum = XXH64(expect, n, 0);
    for (int i = 0; i < 8; i++)
        expect[n + i] = (uint8_t)(sum >> (8 * i));
    n += 8;
    uint8_t file[256];
    size_t len = read_rules_file(file, sizeof file);
    cr_assert_eq(len, n, "RULES is %zu bytes, expected %zu", len, n);
    cr_assert_arr_eq(file, expect, n);

    /* Read back by another handle. */
    tsagg_options o;
    tsagg_options_init(&o);
    char err[256];
    cr_assert_eq(tsagg_store_open(tu_store, &o, &st, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tsagg_store_rules(st, &got), 0);
    const char *f, *v;
    cr_assert_eq(tsagg_rules_count(got), 2);
    cr_assert_eq(tsagg_rules_get(got, 1, &f, &v), 0);
    cr_assert_str_eq(f, "event");
    cr_assert_str_eq(v, "ping");
    tsagg_rules_free(got);

    /* A flipped byte in the version is damage, not another version. */
    uint8_t bad[256];
    memcpy(bad, file, len);
    bad[9] ^= 0x41;
    write_rules_file(bad, len);
    cr_assert_eq(tsagg_store_rules(st, &got), TSAGG_ECHECKSUM);
    cr_assert_null(got);
    /* A real version 2, checksummed: this library does not read it. */
    memcpy(bad, file, len);
    bad[8] = 2;
    sum = XXH64(bad, len - 8, 0);
    for (int i = 0; i < 8; i++)
        bad[len - 8 + i] = (uint8_t)(sum >> (8 * i));
    write_rules_file(bad, len);
    cr_assert_eq(tsagg_store_rules(st, &got), TSAGG_EVERSION);
    tsagg_store_errmsg(st, err, sizeof err);
    cr_assert(strstr(err, "RULES: format version 2"), "%s", err);
    /* Truncated. */
    write_rules_file(file, len - 3);
    cr_assert_eq(tsagg_store_rules(st, &got), TSAGG_ECORRUPT);
    cr_assert_eq(tsagg_store_set_rules(st, NULL), TSAGG_EREADONLY);
    tsagg_store_close(st);

    /* A compaction stops on damaged rules rather than ignore them. */
    st = cc_open_writer(tu_store);
    cr_assert_eq(tsagg_compact(st, NULL, NULL), TSAGG_ECORRUPT);
    cr_assert_eq(tsagg_store_set_rules(st, NULL), 0, "new rules replace a damaged file");
    cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
    tsagg_store_close(st);
}

/* Append `n` events of one hour: every third one from a bot. */
static void append_hour(tsagg_store *st, int64_t hour, uint64_t first_id, int n)
{
    for (int i = 0; i < n; i++) {
        tsagg_attr a[] = {
            {.key = "device", .key_len = 6, .type = TSAGG_STR,
             .v.s = {i % 3 ? "desktop" : "bot", i % 3 ? 7u : 3u}},
            {.key = "value", .key_len = 5, .type = TSAGG_F64, .v.f = i % 5 ? 1.5 : 0.1},
        };
        tsagg_event ev = {.ts = hour + i * INT64_C(1000000), .merchant = 1, .event = "pv",
                          .event_len = 2, .flags = TSAGG_EVENT_HAS_ID, .id = first_id + i,
                          .attrs = a, .nattrs = 2};
        cr_assert_eq(tsagg_append(st, &ev, 1, NULL), 0);
    }
}

Test(rules, compaction_and_rebuild_apply_the_stored_rules)
{
    const int64_t hour = INT64_C(1790000000) / 3600 * 3600 * 1000000;
    tsagg_store *st = cc_open_writer(tu_store);
    append_hour(st, hour, 1, 300); /* 100 bots, 60 with value 0.1 */
    cr_assert_eq(tsagg_flush(st), 0);
    tsagg_rules *r = rules_of("device", "bot");
    cr_assert_eq(tsagg_store_set_rules(st, r), 0);
    tsagg_rules_free(r);
    tsagg_compact_stats cs = {.struct_size = sizeof cs};
    cr_assert_eq(tsagg_compact(st, NULL, &cs), 0);
    cr_assert_eq(cs.events_read, 300);
    cr_assert_eq(cs.events_dropped, 100, "compaction applied the stored rules (%" PRIu64 ")",
                 cs.events_dropped);
    cr_assert_eq(cs.rows_written, 200);

    /* A rebuild without a hook: the same rules, the same rows. */
    tsagg_rebuild_options ro;
    tsagg_rebuild_options_init(&ro);
    ro.from = hour;
    ro.to = hour + CC_HOUR;
    tsagg_rebuild_stats rs = {.struct_size = sizeof rs};
    cr_assert_eq(tsagg_rebuild(st, &ro, &rs), 0);
    cr_assert_eq(rs.events_dropped, 100);
    cr_assert_eq(rs.rows_written, 200, "the repair kept the bots dropped");

    /* New rules, by number: value=0.1 as written differently. */
    r = rules_of("value", "1e-1");
    cr_assert_eq(tsagg_store_set_rules(st, r), 0);
    tsagg_rules_free(r);
    cr_assert_eq(tsagg_rebuild(st, &ro, &rs), 0);
    cr_assert_eq(rs.events_dropped, 60);
    cr_assert_eq(rs.rows_written, 240);
    tsagg_store_close(st);
}

/* Events of merchant 1 counted over [from, to) by one TOTAL bucket. */
static double count_of(tsagg_store *st, int64_t from, int64_t to)
{
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = 1;
    q.from = from;
    q.to = to;
    q.bucket = TSAGG_BUCKET_TOTAL;
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    cr_assert_eq(tsagg_query_run(st, &q, res), 0);
    cr_assert_eq(tsagg_result_rows(res), 1);
    double n = tsagg_result_values(res, 0)[0];
    tsagg_result_free(res);
    return n;
}

Test(rules, the_log_tail_answers_as_compaction_will)
{
    const int64_t hour = INT64_C(1790000000) / 3600 * 3600 * 1000000;
    tsagg_store *st = cc_open_writer(tu_store);
    tsagg_rules *r = rules_of("device", "bot");
    cr_assert_eq(tsagg_store_set_rules(st, r), 0);
    tsagg_rules_free(r);
    append_hour(st, hour, 1, 300);
    cr_assert_eq(tsagg_flush(st), 0);
    double tail = count_of(st, hour, hour + CC_HOUR);
    cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
    double compacted = count_of(st, hour, hour + CC_HOUR);
    cr_assert_eq(compacted, 200);
    cr_assert_eq(tail, compacted, "tail %.0f, compacted %.0f", tail, compacted);
    tsagg_store_close(st);
}
