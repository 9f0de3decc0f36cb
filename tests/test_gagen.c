/* test_gagen.c - the GA-like event generator: determinism, validity, the
 * configured distributions, and the NDJSON/CSV writers. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "gagen.h"
#include "tsagg_store.h"

#define BATCH 4096

static gagen *make(uint64_t seed, uint64_t events, uint32_t days, uint32_t merchants)
{
    gagen_config cfg;
    gagen_config_init(&cfg);
    cfg.seed = seed;
    cfg.events = events;
    cfg.days = days;
    cfg.merchants = merchants;
    gagen *g = gagen_create(&cfg);
    cr_assert_not_null(g, "gagen_create: %s", strerror(errno));
    return g;
}

/* A digest of everything an event carries, ids strings included. */
static uint64_t digest_event(uint64_t h, const tsagg_event *e, const gagen_ids *ids)
{
    uint64_t core[6] = { (uint64_t)e->ts, e->merchant, e->user, e->session, e->id, e->flags };
    h = XXH64(core, sizeof core, h);
    h = XXH64(e->event, e->event_len, h);
    h = XXH64(ids->user, ids->user_len, h);
    h = XXH64(ids->session, ids->session_len, h);
    for (uint32_t i = 0; i < e->nattrs; i++) {
        const tsagg_attr *a = &e->attrs[i];
        h = XXH64(a->key, a->key_len, h);
        if (a->type == TSAGG_STR)
            h = XXH64(a->v.s.ptr, a->v.s.len, h);
        else
            h = XXH64(&a->v.i, sizeof a->v.i, h);
    }
    return h;
}

static uint64_t digest_stream(uint64_t seed, uint64_t events, size_t cap)
{
    gagen *g = make(seed, events, 3, 200);
    tsagg_event *b = malloc(cap * sizeof *b);
    uint64_t h = 0, total = 0;
    size_t n;
    while ((n = gagen_next(g, b, cap)) > 0) {
        const gagen_ids *ids = gagen_batch_ids(g);
        for (size_t i = 0; i < n; i++)
            h = digest_event(h, &b[i], &ids[i]);
        total += n;
    }
    cr_assert_eq(total, events);
    free(b);
    gagen_free(g);
    return h;
}

Test(gagen, deterministic_whatever_the_batch_size)
{
    uint64_t a = digest_stream(7, 50000, BATCH);
    cr_assert_eq(digest_stream(7, 50000, BATCH), a);
    cr_assert_eq(digest_stream(7, 50000, 1), a);
    cr_assert_eq(digest_stream(7, 50000, 333), a);
    cr_assert_eq(digest_stream(7, 50000, 100000), a);
    cr_assert_neq(digest_stream(8, 50000, BATCH), a);
}

Test(gagen, config_checks)
{
    gagen_config cfg;
    gagen_config_init(&cfg);
    cfg.days = 0;
    errno = 0;
    cr_assert_null(gagen_create(&cfg));
    cr_assert_eq(errno, EINVAL);
    gagen_config_init(&cfg);
    cfg.late_fraction = 0.7;
    cfg.dup_fraction = 0.4;
    cr_assert_null(gagen_create(&cfg));
    gagen_config_init(&cfg);
    cfg.zipf_s = NAN;
    cr_assert_null(gagen_create(&cfg));
    gagen_config_init(&cfg);
    cfg.merchants = 0;
    cr_assert_null(gagen_create(&cfg));
    gagen_free(NULL);

    /* An empty stream ends at once. */
    tsagg_event e;
    gagen *g = make(1, 0, 1, 1);
    cr_assert_eq(gagen_next(g, &e, 1), 0);
    cr_assert_null(gagen_batch_ids(g));
    gagen_free(g);
    /* NULL config: the defaults. */
    g = gagen_create(NULL);
    cr_assert_not_null(g);
    cr_assert_eq(gagen_merchant_count(g), 1000);
    gagen_free(g);
}

static const char *const dims[6] = { "page", "referrer", "country", "device", "browser", "os" };

Test(gagen, every_event_is_well_formed)
{
    const uint32_t days = 2, merchants = 300;
    gagen *g = make(3, 200000, days, merchants);
    tsagg_event b[BATCH];
    size_t n;
    uint64_t purchases = 0, total = 0, campaigns = 0;
    int64_t start = GAGEN_DEFAULT_START_US, end = start + (int64_t)days * 86400000000;
    while ((n = gagen_next(g, b, BATCH)) > 0) {
        const gagen_ids *ids = gagen_batch_ids(g);
        for (size_t i = 0; i < n; i++) {
            const tsagg_event *e = &b[i];
            cr_assert_eq(tsagg_event_validate(e), 0);
            cr_assert_eq(e->flags, TSAGG_EVENT_HAS_ID);
            cr_assert(e->ts >= start && e->ts < end, "ts %lld", (long long)e->ts);
            cr_assert(e->merchant >= 1 && e->merchant <= merchants);
            cr_assert_eq(e->user, tsagg_hash_id(ids[i].user, ids[i].user_len));
            cr_assert_eq(e->session, tsagg_hash_id(ids[i].session, ids[i].session_len));
            cr_assert_eq(strlen(ids[i].user), ids[i].user_len);
            /* "u-<m>-<u>" and "s-<m>-<u>-<k>" of the event's merchant. */
            char want[64];
            int wl = snprintf(want, sizeof want, "u-%llu-", (unsigned long long)e->merchant);
            cr_assert_eq(strncmp(ids[i].user, want, (size_t)wl), 0, "%s", ids[i].user);
            cr_assert_eq(ids[i].session[0], 's');
            cr_assert_eq(strncmp(ids[i].session + 1, ids[i].user + 1, ids[i].user_len - 1), 0);

            cr_assert(e->nattrs >= 6 && e->nattrs <= 8);
            for (int k = 0; k < 6; k++) {
                cr_assert_eq(e->attrs[k].type, TSAGG_STR);
                cr_assert_eq(e->attrs[k].key_len, strlen(dims[k]));
                cr_assert_eq(memcmp(e->attrs[k].key, dims[k], e->attrs[k].key_len), 0);
            }
            cr_assert(e->attrs[0].v.s.len > 0 && e->attrs[0].v.s.ptr[0] == '/');
            cr_assert_eq(e->attrs[2].v.s.len, 2); /* country code */
            int purchase = e->event_len == 8 && memcmp(e->event, "purchase", 8) == 0;
            uint32_t k = 6;
            if (purchase) {
                cr_assert(k < e->nattrs);
                cr_assert_eq(e->attrs[k].key_len, 5);
                cr_assert_eq(memcmp(e->attrs[k].key, "value", 5), 0);
                cr_assert_eq(e->attrs[k].type, TSAGG_F64);
                double v = e->attrs[k].v.f;
                cr_assert(v > 0 && v < 10000 && round(v * 100) / 100 == v, "value %g", v);
                k++;
                purchases++;
            }
            if (k < e->nattrs) {
                cr_assert_eq(e->attrs[k].key_len, 12);
                cr_assert_eq(memcmp(e->attrs[k].key, "utm_campaign", 12), 0);
                k++;
                campaigns++;
            }
            cr_assert_eq(k, e->nattrs, "value only on purchases");
        }
        total += n;
    }
    cr_assert_eq(total, 200000);
    /* purchase ~1%, utm_campaign on ~2% of sessions */
    cr_assert(purchases > total / 200 && purchases < total / 50, "%llu", (unsigned long long)purchases);
    cr_assert(campaigns > total / 200 && campaigns < total / 20);
    gagen_free(g);
}

/* Duplicates repeat an id; late events are >= 1 h behind the stream. */
Test(gagen, late_and_duplicate_fractions)
{
    const uint64_t N = 400000;
    gagen *g = make(11, N, 7, 1000);
    tsagg_event b[BATCH];
    size_t n;
    /* Without duplicates the ids count 1, 2, 3...: a bitmap finds repeats. */
    uint8_t *seen = calloc(N + 1, 1);
    uint64_t dups = 0, late = 0, total = 0;
    int64_t front = INT64_MIN;
    while ((n = gagen_next(g, b, BATCH)) > 0) {
        for (size_t i = 0; i < n; i++) {
            cr_assert(b[i].id >= 1 && b[i].id <= N);
            if (seen[b[i].id]) {
                dups++;
                continue;
            }
            seen[b[i].id] = 1;
            /* Other events are in time order, so a late one is behind
             * every earlier event, by about 1-48 h. */
            if (b[i].ts < front) {
                int64_t behind = front - b[i].ts;
                cr_assert(behind > INT64_C(3000000000) && behind < INT64_C(49) * 3600000000,
                          "late by %lld us", (long long)behind);
                late++;
            } else {
                front = b[i].ts;
            }
        }
        total += n;
    }
    gagen_stats st;
    gagen_get_stats(g, &st);
    cr_assert_eq(total, N);
    cr_assert_eq(st.events, N);
    cr_assert_eq(st.duplicates, dups);
    cr_assert_eq(st.late, late);
    double df = (double)dups / N, lf = (double)late / N;
    cr_assert(fabs(df - 0.005) < 0.0008, "duplicate fraction %f", df);
    cr_assert(fabs(lf - 0.01) < 0.0012, "late fraction %f", lf);
    cr_assert(st.sessions > N / 10 && st.sessions < N / 3, "sessions %llu",
              (unsigned long long)st.sessions);
    cr_assert(st.users > st.sessions / 4 && st.users < st.sessions * 3 / 4, "users per session");
    free(seen);
    gagen_free(g);
}

Test(gagen, merchant_traffic_is_zipf)
{
    const uint64_t N = 1000000;
    const uint32_t M = 1000;
    gagen *g = make(5, N, 7, M);
    uint64_t *count = calloc(M + 1, sizeof *count);
    tsagg_event b[BATCH];
    size_t n;
    while ((n = gagen_next(g, b, BATCH)) > 0)
        for (size_t i = 0; i < n; i++)
            count[b[i].merchant]++;

    double sum = 0;
    for (size_t r = 0; r < M; r++) {
        sum += gagen_merchant_share(g, r);
        if (r)
            cr_assert_lt(gagen_merchant_share(g, r), gagen_merchant_share(g, r - 1));
        cr_assert_eq(gagen_merchant_rank(g, gagen_merchant_by_rank(g, r)), r);
    }
    cr_assert(fabs(sum - 1.0) < 1e-9);
    cr_assert_eq(gagen_merchant_by_rank(g, M), 0);
    cr_assert_eq(gagen_merchant_rank(g, M + 1), SIZE_MAX);

    /* zipf 1.1 over 1000: the largest has ~19%, the 100th ~0.1%. */
    double s0 = gagen_merchant_share(g, 0);
    cr_assert(s0 > 0.15 && s0 < 0.25, "%f", s0);
    const size_t ranks[] = { 0, 1, 2, 9, 99 };
    const double tol[] = { 0.05, 0.07, 0.08, 0.15, 0.35 };
    for (size_t k = 0; k < 5; k++) {
        double want = gagen_merchant_share(g, ranks[k]);
        double got = (double)count[gagen_merchant_by_rank(g, ranks[k])] / N;
        cr_assert(fabs(got / want - 1) < tol[k], "rank %zu: share %f, expected %f", ranks[k],
                  got, want);
    }
    /* The ids are shuffled: the largest is not simply id 1 for every seed. */
    int shuffled = 0;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        gagen *h = make(seed, 1, 1, M);
        shuffled |= gagen_merchant_by_rank(h, 0) != 1;
        gagen_free(h);
    }
    cr_assert(shuffled);
    free(count);
    gagen_free(g);
}

Test(gagen, diurnal_in_local_time)
{
    const uint64_t N = 1000000;
    gagen *g = make(9, N, 7, 500);
    uint64_t by_hour[24] = { 0 };
    tsagg_event b[BATCH];
    size_t n;
    int offsets_seen[2] = { 0, 0 };
    while ((n = gagen_next(g, b, BATCH)) > 0) {
        for (size_t i = 0; i < n; i++) {
            int off = gagen_merchant_utc_offset(g, b[i].merchant);
            offsets_seen[0] |= off == 330;
            offsets_seen[1] |= off % 60 != 0;
            int64_t local_min = b[i].ts / 60000000 + off;
            by_hour[((local_min % 1440) + 1440) % 1440 / 60]++;
        }
    }
    uint64_t night = 0, evening = 0;
    for (int h = 1; h <= 5; h++)
        night += by_hour[h];
    for (int h = 18; h <= 22; h++)
        evening += by_hour[h];
    cr_assert(evening > 4 * night, "evening %llu, night %llu", (unsigned long long)evening,
              (unsigned long long)night);
    cr_assert(by_hour[20] > by_hour[10] && by_hour[10] > by_hour[4]);
    cr_assert(offsets_seen[0] && offsets_seen[1], "+05:30 and other half-hour zones in use");
    cr_assert_eq(gagen_merchant_utc_offset(g, 0), 0);
    gagen_free(g);
}

/* ------------------------------------------------------------------------ */
/* Formats                                                                  */
/* ------------------------------------------------------------------------ */

/* Pull the raw text of "key": value out of a JSON line (values here hold no
 * escaped quotes). */
static int json_field(const char *line, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    if (!p)
        return 0;
    p += strlen(pat);
    const char *e;
    if (*p == '"') {
        p++;
        e = strchr(p, '"');
    } else {
        e = p + strcspn(p, ",}");
    }
    size_t len = (size_t)(e - p);
    cr_assert_lt(len, cap);
    memcpy(out, p, len);
    out[len] = 0;
    return 1;
}

Test(gagen, ndjson_known_answer)
{
    /* Lines of `tsagg-gen -n 1000 -d 1 -m 100 -s 42`. A change here changes
     * every benchmark's data: make it on purpose and say so. */
    static const struct {
        size_t index;
        const char *line;
    } want[] = {
        { 0,
          "{\"ts\":\"2026-10-01T00:00:05.805897Z\",\"merchant\":64,\"event\":\"app_open\""
          ",\"user\":\"u-64-1\",\"session\":\"s-64-1-1\",\"id\":1,\"page\":\"/ja/\""
          ",\"referrer\":\"duckduckgo.com\",\"country\":\"IT\",\"device\":\"mobile\""
          ",\"browser\":\"Samsung\",\"os\":\"Android\"}\n" },
        { 1,
          "{\"ts\":\"2026-10-01T00:01:49.616490Z\",\"merchant\":64,\"event\":\"page_view\""
          ",\"user\":\"u-64-1\",\"session\":\"s-64-1-1\",\"id\":2"
          ",\"page\":\"/product/829148\",\"referrer\":\"duckduckgo.com\",\"country\":\"IT\""
          ",\"device\":\"mobile\",\"browser\":\"Samsung\",\"os\":\"Android\"}\n" },
        { 146,
          "{\"ts\":\"2026-10-01T02:44:24.319448Z\",\"merchant\":4,\"event\":\"purchase\""
          ",\"user\":\"u-4-1\",\"session\":\"s-4-1-4\",\"id\":147"
          ",\"page\":\"/checkout/confirmation\",\"referrer\":\"google.com\""
          ",\"country\":\"CA\",\"device\":\"desktop\",\"browser\":\"Chrome\""
          ",\"os\":\"Windows\",\"value\":49.99}\n" },
        { 292,
          "{\"ts\":\"2026-10-01T02:35:10.682141Z\",\"merchant\":4,\"event\":\"page_view\""
          ",\"user\":\"u-4-1\",\"session\":\"s-4-1-4\",\"id\":139"
          ",\"page\":\"/checkout/payment\",\"referrer\":\"google.com\",\"country\":\"CA\""
          ",\"device\":\"desktop\",\"browser\":\"Chrome\",\"os\":\"Windows\"}\n" },
        { 319,
          "{\"ts\":\"2026-10-01T07:32:53.415743Z\",\"merchant\":31,\"event\":\"page_view\""
          ",\"user\":\"u-31-3\",\"session\":\"s-31-3-8\",\"id\":318,\"page\":\"/\""
          ",\"referrer\":\"google.com\",\"country\":\"JP\",\"device\":\"desktop\""
          ",\"browser\":\"Chrome\",\"os\":\"macOS\",\"utm_campaign\":\"influencer_q4\"}\n" },
    };
    gagen *g = make(42, 1000, 1, 100);
    tsagg_event b[1000];
    cr_assert_eq(gagen_next(g, b, 1000), 1000);
    const gagen_ids *ids = gagen_batch_ids(g);
    char line[GAGEN_LINE_MAX + 1];
    for (size_t k = 0; k < sizeof want / sizeof *want; k++) {
        size_t i = want[k].index;
        size_t len = gagen_format_ndjson(&b[i], &ids[i], line, GAGEN_LINE_MAX);
        cr_assert_gt(len, 0);
        line[len] = 0;
        cr_assert_str_eq(line, want[k].line, "event %zu", i);
    }
    gagen_free(g);
}

Test(gagen, ndjson_parses_back)
{
    gagen *g = make(4, 20000, 2, 100);
    tsagg_event b[BATCH];
    size_t n;
    char line[GAGEN_LINE_MAX + 1], f[256];
    static const char *const order[] = { "\"ts\"", "\"merchant\"", "\"event\"", "\"user\"",
                                         "\"session\"", "\"id\"", "\"page\"", "\"referrer\"",
                                         "\"country\"", "\"device\"", "\"browser\"", "\"os\"" };
    while ((n = gagen_next(g, b, BATCH)) > 0) {
        const gagen_ids *ids = gagen_batch_ids(g);
        for (size_t i = 0; i < n; i++) {
            const tsagg_event *e = &b[i];
            size_t len = gagen_format_ndjson(e, &ids[i], line, GAGEN_LINE_MAX);
            cr_assert_gt(len, 0);
            /* Exactly as long as needed: one byte less does not fit. */
            cr_assert_eq(gagen_format_ndjson(e, &ids[i], line, len - 1), 0);
            cr_assert_eq(gagen_format_ndjson(e, &ids[i], line, len), len);
            line[len] = 0;
            cr_assert_eq(line[len - 1], '\n');
            cr_assert_eq(strchr(line, '\n'), line + len - 1);
            const char *prev = line;
            for (size_t k = 0; k < sizeof order / sizeof *order; k++) {
                const char *p = strstr(line, order[k]);
                cr_assert(p && p > prev - (k == 0), "key %s in order", order[k]);
                prev = p;
            }
            int64_t ts;
            cr_assert(json_field(line, "ts", f, sizeof f));
            cr_assert_eq(gagen_parse_ts(f, &ts), 0);
            cr_assert_eq(ts, e->ts);
            cr_assert(json_field(line, "merchant", f, sizeof f));
            cr_assert_eq(strtoull(f, NULL, 10), e->merchant);
            cr_assert(json_field(line, "id", f, sizeof f));
            cr_assert_eq(strtoull(f, NULL, 10), e->id);
            cr_assert(json_field(line, "user", f, sizeof f));
            cr_assert_str_eq(f, ids[i].user);
            cr_assert(json_field(line, "session", f, sizeof f));
            cr_assert_str_eq(f, ids[i].session);
            cr_assert(json_field(line, "event", f, sizeof f));
            cr_assert_eq(strlen(f), e->event_len);
            for (uint32_t k = 0; k < e->nattrs; k++) {
                const tsagg_attr *a = &e->attrs[k];
                char key[80];
                memcpy(key, a->key, a->key_len);
                key[a->key_len] = 0;
                cr_assert(json_field(line, key, f, sizeof f), "%s", key);
                if (a->type == TSAGG_F64) {
                    cr_assert_eq(strtod(f, NULL), a->v.f, "%s", f);
                    cr_assert(strchr(f, '.'), "a double keeps its point: %s", f);
                } else {
                    cr_assert_eq(strlen(f), a->v.s.len);
                    cr_assert_eq(memcmp(f, a->v.s.ptr, a->v.s.len), 0);
                }
            }
            if (e->nattrs == 6)
                cr_assert_null(strstr(line, "\"value\""));
        }
    }
    gagen_free(g);
}

static tsagg_event crafted(tsagg_attr *a)
{
    a[0] = (tsagg_attr){ "page", 4, TSAGG_STR, { .s = { "/a\"b\\c\n,d\x01", 10 } } };
    a[1] = (tsagg_attr){ "n", 1, TSAGG_INT, { .i = -42 } };
    a[2] = (tsagg_attr){ "value", 5, TSAGG_F64, { .f = 49.0 } };
    a[3] = (tsagg_attr){ "x", 1, TSAGG_F64, { .f = 0.1 + 0.2 } };
    a[4] = (tsagg_attr){ "y", 1, TSAGG_F64, { .f = 1e300 } };
    a[5] = (tsagg_attr){ "z", 1, TSAGG_F64, { .f = INFINITY } };
    return (tsagg_event){ .ts = -1, .merchant = UINT64_MAX, .event = "sign_up", .event_len = 7,
                          .flags = 0, .user = 5, .session = 6, .attrs = a, .nattrs = 6 };
}

Test(gagen, ndjson_escapes_and_numbers)
{
    tsagg_attr a[6];
    tsagg_event e = crafted(a);
    char buf[512];
    size_t n = gagen_format_ndjson(&e, NULL, buf, sizeof buf);
    cr_assert_gt(n, 0);
    buf[n] = 0;
    cr_assert_str_eq(buf, "{\"ts\":\"1969-12-31T23:59:59.999999Z\",\"merchant\":18446744073709551615,"
                          "\"event\":\"sign_up\",\"user\":5,\"session\":6,"
                          "\"page\":\"/a\\\"b\\\\c\\n,d\\u0001\",\"n\":-42,\"value\":49.0,"
                          "\"x\":0.30000000000000004,\"y\":1e+300,\"z\":null}\n");
    for (size_t cap = 0; cap < n; cap++)
        cr_assert_eq(gagen_format_ndjson(&e, NULL, buf, cap), 0, "cap %zu", cap);
}

Test(gagen, csv_rows)
{
    cr_assert_str_eq(gagen_csv_header(), "ts,merchant,event,user,session,id,page,referrer,"
                                         "country,device,browser,os,value\n");
    tsagg_attr a[6];
    tsagg_event e = crafted(a);
    gagen_ids ids = { "u-1-2", "s-1-2-3", 5, 7 };
    char buf[512];
    size_t n = gagen_format_csv(&e, &ids, buf, sizeof buf);
    cr_assert_gt(n, 0);
    buf[n] = 0;
    cr_assert_str_eq(buf, "1969-12-31T23:59:59.999999Z,18446744073709551615,sign_up,u-1-2,s-1-2-3,,"
                          "\"/a\"\"b\\c\n,d\x01\",,,,,,49.0\n");
    for (size_t cap = 0; cap < n; cap++)
        cr_assert_eq(gagen_format_csv(&e, &ids, buf, cap), 0, "cap %zu", cap);

    gagen *g = make(42, 100, 1, 100);
    tsagg_event b[100];
    cr_assert_eq(gagen_next(g, b, 100), 100);
    const gagen_ids *bi = gagen_batch_ids(g);
    for (int i = 0; i < 100; i++) {
        n = gagen_format_csv(&b[i], &bi[i], buf, sizeof buf);
        buf[n] = 0;
        int commas = 0;
        for (char *p = buf; *p; p++)
            commas += *p == ',';
        cr_assert_eq(commas, 12, "%s", buf);
    }
    gagen_free(g);
}

Test(gagen, timestamps)
{
    char buf[32];
    int64_t t;
    cr_assert_eq(gagen_format_ts(GAGEN_DEFAULT_START_US, buf, sizeof buf), 27);
    cr_assert_str_eq(buf, "2026-10-01T00:00:00.000000Z");
    cr_assert_eq(gagen_format_ts(0, buf, 27), 0);
    cr_assert_eq(gagen_format_ts(INT64_C(951782400000000) + 123456, buf, sizeof buf), 27);
    cr_assert_str_eq(buf, "2000-02-29T00:00:00.123456Z");

    cr_assert_eq(gagen_parse_ts("2026-10-01T00:00:00Z", &t), 0);
    cr_assert_eq(t, GAGEN_DEFAULT_START_US);
    cr_assert_eq(gagen_parse_ts("2026-10-01", &t), 0);
    cr_assert_eq(t, GAGEN_DEFAULT_START_US);
    cr_assert_eq(gagen_parse_ts("2026-10-01 05:30:00.5+05:30", &t), 0);
    cr_assert_eq(t, GAGEN_DEFAULT_START_US + 500000);
    cr_assert_eq(gagen_parse_ts("2026-09-30t19:15:00-04:45", &t), 0);
    cr_assert_eq(t, GAGEN_DEFAULT_START_US);
    cr_assert_eq(gagen_parse_ts("1969-12-31T23:59:59.999999Z", &t), 0);
    cr_assert_eq(t, -1);
    static const char *const bad[] = {
        "", "2026-13-01", "2026-02-29", "2026-10-01T24:00:00Z", "2026-10-01T00:00:00",
        "2026-10-01T00:00:00.Z", "2026-10-01T00:00:00.1234567Z", "2026-10-01T00:00Z",
        "2026-10-01T00:00:00+0530", "2026-10-01T00:00:00Zjunk", "26-10-01",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(gagen_parse_ts(bad[i], &t), -EINVAL, "%s", bad[i]);

    /* Round trip across a few centuries, both signs. */
    for (int64_t x = INT64_C(-5000000000000000); x < INT64_C(9000000000000000);
         x += INT64_C(77777777777777)) {
        cr_assert_eq(gagen_format_ts(x, buf, sizeof buf), 27);
        cr_assert_eq(gagen_parse_ts(buf, &t), 0);
        cr_assert_eq(t, x, "%s", buf);
    }
}
