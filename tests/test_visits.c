/*
 * test_visits.c - visit metrics and new/returning users on a few events
 * whose answers are worked out by hand (the differential test in
 * test_query.c checks random questions against a reference):
 *
 *   - a bounce; a two-page visit crossing midnight (its figures count the
 *     event after the range's end); a session with a 25-hour gap (two
 *     visits); a session running past 24 hours (the events past start +
 *     24 h are in no visit and start none); a visit of one click (not a
 *     bounce, no entry page); an event without a session (in no visit);
 *   - filters look at the first event's fields, an event filter at all of
 *     the visit's events; entry and exit pages;
 *   - new and returning users across a year;
 *   - the same answers with every event in the head, half compacted, and
 *     all compacted and merged;
 *   - the combinations refused, with their messages.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "tsagg.h"

TestSuite(visits, .init = tu_store_setup, .fini = tu_store_teardown, .timeout = 60);

#define SEC INT64_C(1000000)
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)
#define D0 (INT64_C(1794268800) * SEC) /* 2026-11-10T00:00Z */
#define D1 (D0 + DAY)
#define D2 (D0 + 2 * DAY)
#define D3 (D0 + 3 * DAY)
#define YEAR_AGO (INT64_C(1763164800) * SEC) /* 2025-11-15T00:00Z */
#define M 1

typedef struct hev {
    int64_t ts;
    uint64_t user, session;
    const char *event, *page, *country;
} hev;

/* Sessions: 11 a bounce; 22 two pages across midnight, first event in DE;
 * 33 two bounces 25 h apart; 44 a visit of three pages then two events
 * past its 24 h; 55 one click; user 6 without a session; user 7 first
 * seen a year before; user 8 new on D0. */
static const hev EVENTS[] = {
    {D0 + 10 * HOUR, 1, 11, "page_view", "/a", "US"},
    {D0 + 23 * HOUR + 50 * MIN, 2, 22, "page_view", "/b", "DE"},
    {D0 + 23 * HOUR + 55 * MIN, 2, 22, "click", "/b", "US"},
    {D1 + 10 * MIN, 2, 22, "page_view", "/c", "US"},
    {D0 + 8 * HOUR, 3, 33, "page_view", "/a", "US"},
    {D1 + 9 * HOUR, 3, 33, "page_view", "/d", "US"},
    {D1 + 1 * HOUR, 4, 44, "page_view", "/e", "US"},
    {D1 + 12 * HOUR, 4, 44, "page_view", "/f", "US"},
    {D2 + 30 * MIN, 4, 44, "page_view", "/g", "US"},
    {D2 + 2 * HOUR, 4, 44, "page_view", "/h", "US"},
    {D2 + 20 * HOUR, 4, 44, "page_view", "/i", "US"},
    {D0 + 12 * HOUR, 5, 55, "click", "/z", "US"},
    {D0 + 13 * HOUR, 6, 0, "page_view", "/a", "US"},
    {YEAR_AGO + 5 * HOUR, 7, 77, "page_view", "/a", "US"},
    {D0 + 14 * HOUR, 7, 78, "page_view", "/a", "US"},
    {D0 + 15 * HOUR, 8, 88, "page_view", "/a", "US"},
    {D0 + 15 * HOUR, 9, 99, "page_view", "/a", "US"}, /* another merchant */
};
#define NEV (sizeof EVENTS / sizeof EVENTS[0])

static tsagg_store *open_writer(void)
{
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.sync_mode = TSAGG_SYNC_NONE;
    tsagg_store *st = NULL;
    char err[512] = "";
    int rc = tsagg_store_open(tu_store, &o, &st, err, sizeof err);
    cr_assert_eq(rc, 0, "open: %s (%s)", tsagg_strerror(rc), err);
    return st;
}

static void append(tsagg_store *st, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        const hev *h = &EVENTS[i];
        tsagg_attr attrs[2] = {
            {.key = "page", .key_len = 4, .type = TSAGG_STR, .v.s = {h->page, (uint32_t)strlen(h->page)}},
            {.key = "country", .key_len = 7, .type = TSAGG_STR, .v.s = {h->country, 2}},
        };
        tsagg_event ev = {.ts = h->ts, .merchant = h->user == 9 ? 2 : M, .event = h->event,
                          .event_len = (uint32_t)strlen(h->event), .user = h->user,
                          .session = h->session, .flags = TSAGG_EVENT_HAS_ID, .id = i + 1,
                          .attrs = attrs, .nattrs = 2};
        int rc = tsagg_append(st, &ev, 1, NULL);
        cr_assert_eq(rc, 0, "append: %s", tsagg_strerror(rc));
    }
    cr_assert_eq(tsagg_flush(st), 0);
}

static void compact(tsagg_store *st, uint64_t max_events)
{
    tsagg_compact_options o;
    tsagg_compact_options_init(&o);
    o.max_events = max_events;
    tsagg_compact_stats s = {.struct_size = sizeof s};
    cr_assert_eq(tsagg_compact(st, &o, &s), 0);
}

/* Run a query of the visit metrics (and the rest given) on merchant M. */
static tsagg_result *run(tsagg_store *st, int64_t from, int64_t to, uint32_t bucket,
                         const uint32_t *kinds, uint32_t nk, const tsagg_filter *f,
                         uint32_t nf, const char *group_by)
{
    static tsagg_result *r;
    if (!r)
        cr_assert_eq(tsagg_result_create(&r), 0);
    tsagg_metric mets[8];
    for (uint32_t k = 0; k < nk; k++)
        mets[k] = (tsagg_metric){kinds[k], NULL};
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = M;
    q.from = from;
    q.to = to;
    q.bucket = bucket;
    q.metrics = mets;
    q.nmetrics = nk;
    q.filters = f;
    q.nfilters = nf;
    q.group_by = group_by;
    int rc = tsagg_query_run(st, &q, r);
    cr_assert_eq(rc, 0, "query: %s (%s)", tsagg_strerror(rc), tsagg_result_errmsg(r));
    return r;
}

static const uint32_t VISIT_KINDS[] = {TSAGG_METRIC_VISITS, TSAGG_METRIC_BOUNCE_RATE,
                                       TSAGG_METRIC_VISIT_DURATION, TSAGG_METRIC_PAGES_PER_VISIT};

/* Row `row`'s four visit metrics are these (NaN for none). */
static void expect_visits(const tsagg_result *r, size_t row, double visits, double bounce,
                          double duration, double pages, const char *what)
{
    double want[4] = {visits, bounce, duration, pages};
    for (size_t k = 0; k < 4; k++) {
        double got = tsagg_result_values(r, k)[row];
        cr_assert(isnan(want[k]) ? isnan(got) : fabs(got - want[k]) < 1e-9,
                  "%s: row %zu metric %zu: %.17g, want %.17g", what, row, k, got, want[k]);
    }
}

static void expect_groups(const tsagg_result *r, const char *const *keys, const double *visits,
                          size_t n, const char *what)
{
    cr_assert_eq(tsagg_result_rows(r), n, "%s: %zu rows, want %zu", what, tsagg_result_rows(r), n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_eq(tsagg_result_group(r, i), keys[i], "%s: row %zu", what, i);
        cr_assert_eq(tsagg_result_values(r, 0)[i], visits[i], "%s: row %zu ('%s')", what, i,
                     keys[i]);
    }
}

static void check_answers(tsagg_store *st, const char *state)
{
    char what[128];
    /* Days D0..D2: D0 has sessions 11, 22, 33, 55, 78 and 88 (bounces 11,
     * 33, 78 and 88; durations 1200 s for 22, else 0; pages 1 + 2 + 1 + 0
     * + 1 + 1); D1 has 33 again and 44 (bounce 33; 44 lasts 23.5 h over 3
     * pages); D2 none (44's later events start none). */
    tsagg_result *r = run(st, D0, D3, TSAGG_BUCKET_DAY, VISIT_KINDS, 4, NULL, 0, NULL);
    snprintf(what, sizeof what, "%s: days", state);
    cr_assert_eq(tsagg_result_rows(r), 3, "%s", what);
    expect_visits(r, 0, 6, 400.0 / 6, 200, 1, what);
    expect_visits(r, 1, 2, 50, 42300, 2, what);
    expect_visits(r, 2, 0, NAN, NAN, NAN, what);

    /* A visit crossing the range's end keeps its events after it. */
    r = run(st, D0 + 23 * HOUR, D1, TSAGG_BUCKET_TOTAL, VISIT_KINDS, 4, NULL, 0, NULL);
    snprintf(what, sizeof what, "%s: the last hour of D0", state);
    expect_visits(r, 0, 1, 0, 1200, 2, what);

    /* From D1 05:00: 44's event at 12:00 follows one 11 h before (read
     * from before the range): not a start; only 33's second visit starts. */
    r = run(st, D1 + 5 * HOUR, D3, TSAGG_BUCKET_TOTAL, VISIT_KINDS, 4, NULL, 0, NULL);
    snprintf(what, sizeof what, "%s: from D1 05:00", state);
    expect_visits(r, 0, 1, 100, 0, 1, what);

    /* Filters: a dimension looks at the first event (only 22 began in DE),
     * an event name at every event (22 and 55 hold a click). */
    const char *de[] = {"DE"}, *click[] = {"click"};
    tsagg_filter by_country = {"country", de, 1}, by_event = {"event", click, 1};
    r = run(st, D0, D3, TSAGG_BUCKET_TOTAL, VISIT_KINDS, 4, &by_country, 1, NULL);
    snprintf(what, sizeof what, "%s: country DE", state);
    expect_visits(r, 0, 1, 0, 1200, 2, what);
    r = run(st, D0, D3, TSAGG_BUCKET_TOTAL, VISIT_KINDS, 4, &by_event, 1, NULL);
    snprintf(what, sizeof what, "%s: event click", state);
    expect_visits(r, 0, 2, 0, 600, 1, what);

    /* Entry and exit pages, ranked by visits then key; 55 has no page view. */
    static const char *const entries[] = {"/a", "", "/b", "/d", "/e"};
    static const double entry_visits[] = {4, 1, 1, 1, 1};
    r = run(st, D0, D3, TSAGG_BUCKET_TOTAL, VISIT_KINDS, 1, NULL, 0, "entry_page");
    snprintf(what, sizeof what, "%s: entry pages", state);
    expect_groups(r, entries, entry_visits, 5, what);
    static const char *const exits[] = {"/a", "", "/c", "/d", "/g"};
    r = run(st, D0, D3, TSAGG_BUCKET_TOTAL, VISIT_KINDS, 1, NULL, 0, "exit_page");
    snprintf(what, sizeof what, "%s: exit pages", state);
    expect_groups(r, exits, entry_visits, 5, what);

    /* Grouped by a dimension: the first event's value. */
    static const char *const countries[] = {"US", "DE"};
    static const double country_visits[] = {7, 1};
    r = run(st, D0, D3, TSAGG_BUCKET_TOTAL, VISIT_KINDS, 1, NULL, 0, "country");
    snprintf(what, sizeof what, "%s: by country", state);
    expect_groups(r, countries, country_visits, 2, what);

    /* New and returning users: on D0 users 1-3 and 5-8 are seen, all for
     * the first time but 7 (seen a year before); on D1 users 2, 3 and 4,
     * of whom 4 is new; on D2 user 4 returns. Users count as well. */
    static const uint32_t user_kinds[] = {TSAGG_METRIC_NEW_USERS, TSAGG_METRIC_RETURNING_USERS,
                                          TSAGG_METRIC_USERS};
    r = run(st, D0, D3, TSAGG_BUCKET_DAY, user_kinds, 3, NULL, 0, NULL);
    snprintf(what, sizeof what, "%s: new users by day", state);
    static const double want_new[] = {6, 1, 0}, want_ret[] = {1, 2, 1};
    for (size_t b = 0; b < 3; b++) {
        cr_assert_eq(tsagg_result_values(r, 0)[b], want_new[b], "%s: day %zu new", what, b);
        cr_assert_eq(tsagg_result_values(r, 1)[b], want_ret[b], "%s: day %zu returning", what, b);
        cr_assert_eq(tsagg_result_values(r, 1)[b] + want_new[b], tsagg_result_values(r, 2)[b],
                     "%s: day %zu users", what, b);
    }
    /* By month over the year: user 7 is new in November 2025 and returns
     * in November 2026. */
    r = run(st, YEAR_AGO - 14 * DAY, D3, TSAGG_BUCKET_MONTH, user_kinds, 2, NULL, 0, NULL);
    snprintf(what, sizeof what, "%s: new users by month", state);
    size_t last = tsagg_result_rows(r) - 1;
    cr_assert_eq(tsagg_result_rows(r), 13, "%s", what);
    cr_assert_eq(tsagg_result_values(r, 0)[0], 1, "%s: Nov 2025 new", what);
    cr_assert_eq(tsagg_result_values(r, 1)[0], 0, "%s: Nov 2025 returning", what);
    cr_assert_eq(tsagg_result_values(r, 0)[last], 7, "%s: Nov 2026 new", what);
    cr_assert_eq(tsagg_result_values(r, 1)[last], 1, "%s: Nov 2026 returning", what);
    /* A filter keeps the users with a matching event; who is new still
     * depends on every event: user 2's first event is a page view on D0. */
    r = run(st, D0, D3, TSAGG_BUCKET_DAY, user_kinds, 2, &by_event, 1, NULL);
    snprintf(what, sizeof what, "%s: new users with a click", state);
    cr_assert_eq(tsagg_result_values(r, 0)[0], 2, "%s: D0 new (users 2 and 5)", what);
    cr_assert_eq(tsagg_result_values(r, 1)[0], 0, "%s: D0 returning", what);
}

Test(visits, by_hand_in_head_and_files)
{
    tsagg_store *st = open_writer();
    append(st, 0, NEV);
    check_answers(st, "head");
    compact(st, NEV / 2);
    check_answers(st, "half compacted");
    compact(st, 0);
    tsagg_compact_stats s = {.struct_size = sizeof s};
    cr_assert_eq(tsagg_merge(st, NULL, &s), 0);
    check_answers(st, "compacted and merged");
    cr_assert_eq(tsagg_store_close(st), 0);
}

static void expect_refused(tsagg_store *st, tsagg_query *q, int want, const char *needle)
{
    tsagg_result *r;
    cr_assert_eq(tsagg_result_create(&r), 0);
    int rc = tsagg_query_run(st, q, r);
    cr_assert_eq(rc, want, "%s: %s", needle, tsagg_strerror(rc));
    cr_assert(strstr(tsagg_result_errmsg(r), needle), "message \"%s\" lacks \"%s\"",
              tsagg_result_errmsg(r), needle);
    tsagg_result_free(r);
}

Test(visits, refused_combinations)
{
    tsagg_store *st = open_writer();
    append(st, 0, NEV);
    tsagg_metric visits = {TSAGG_METRIC_VISITS, NULL}, count = {TSAGG_METRIC_COUNT, NULL},
                 new_users = {TSAGG_METRIC_NEW_USERS, NULL};
    tsagg_metric mixed[2] = {visits, count};
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = M;
    q.from = D0;
    q.to = D3;
    q.metrics = mixed;
    q.nmetrics = 2;
    q.group_by = "entry_page";
    expect_refused(st, &q, TSAGG_EARG, "group-by entry_page takes visit metrics only, not \"count\"");
    q.metrics = &new_users;
    q.nmetrics = 1;
    q.group_by = "exit_page";
    expect_refused(st, &q, TSAGG_EARG, "not \"new_users\"");
    q.metrics = &visits;
    q.group_by = "event";
    expect_refused(st, &q, TSAGG_EARG, "group-by event with visit metrics");
    q.group_by = NULL;
    q.flags = TSAGG_QUERY_ALL_MERCHANTS;
    expect_refused(st, &q, TSAGG_EARG, "per merchant");
    q.metrics = &new_users;
    expect_refused(st, &q, TSAGG_EARG, "per merchant");
    q.flags = 0;
    q.metrics = (tsagg_metric[]){{TSAGG_METRIC_RETURNING_USERS + 1, NULL}};
    expect_refused(st, &q, TSAGG_EARG, "unknown metric kind 13");
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* Without a page dimension there is no entry or exit page. */
Test(visits, entry_page_needs_page)
{
    tsagg_schema *schema;
    cr_assert_eq(tsagg_schema_create(&schema), 0);
    cr_assert_eq(tsagg_schema_add_dimension(schema, "country"), 0);
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.schema = schema;
    tsagg_store *st = NULL;
    cr_assert_eq(tsagg_store_open(tu_store, &o, &st, NULL, 0), 0);
    tsagg_schema_free(schema);
    tsagg_metric visits = {TSAGG_METRIC_VISITS, NULL};
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = M;
    q.from = D0;
    q.to = D3;
    q.metrics = &visits;
    q.nmetrics = 1;
    q.group_by = "exit_page";
    expect_refused(st, &q, TSAGG_ESCHEMA, "group-by exit_page needs the dimension \"page\"");
    q.group_by = NULL;
    tsagg_result *r;
    cr_assert_eq(tsagg_result_create(&r), 0);
    cr_assert_eq(tsagg_query_run(st, &q, r), 0, "visits without pages: %s",
                 tsagg_result_errmsg(r));
    tsagg_result_free(r);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* Two page views of one session at the same microsecond and without ids
 * are ordered by their fields, not by arrival: the entry page is "/a" and
 * the exit page "/b" whichever came first, in the head and in a file. */
Test(visits, same_time_events_in_field_order)
{
    tsagg_store *st = open_writer();
    const char *pages[] = {"/b", "/a"};
    for (int i = 0; i < 2; i++) {
        tsagg_attr page = {.key = "page", .key_len = 4, .type = TSAGG_STR, .v.s = {pages[i], 2}};
        tsagg_event ev = {.ts = D0 + HOUR, .merchant = M, .event = "page_view", .event_len = 9,
                          .user = 1, .session = 5, .attrs = &page, .nattrs = 1};
        cr_assert_eq(tsagg_append(st, &ev, 1, NULL), 0);
    }
    cr_assert_eq(tsagg_flush(st), 0);
    for (int compacted = 0; compacted < 2; compacted++) {
        if (compacted)
            compact(st, 0);
        const char *side[] = {"entry_page", "exit_page"}, *want[] = {"/a", "/b"};
        for (int k = 0; k < 2; k++) {
            tsagg_result *r = run(st, D0, D1, TSAGG_BUCKET_TOTAL, VISIT_KINDS, 4, NULL, 0, side[k]);
            cr_assert_eq(tsagg_result_rows(r), 1);
            cr_assert_str_eq(tsagg_result_group(r, 0), want[k], "%s (compacted %d)", side[k],
                             compacted);
            expect_visits(r, 0, 1, 0, 0, 2, side[k]);
        }
    }
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* A group-by whose series would pass TSAGG_QUERY_MAX_ROWS (120 pages x
 * 43,200 minutes) ranks the groups on their totals first: new and
 * returning users rank alike both ways. Page k has k % 5 + 1 users, new on
 * D0 for odd k, seen a year before for even k. */
Test(visits, new_users_ranked_on_totals)
{
    tsagg_store *st = open_writer();
    uint64_t user = 1000;
    for (int k = 0; k < 120; k++) {
        char page[16];
        snprintf(page, sizeof page, "/p%d", k);
        for (int j = 0; j <= k % 5; j++, user++) {
            tsagg_attr a = {.key = "page", .key_len = 4, .type = TSAGG_STR,
                            .v.s = {page, (uint32_t)strlen(page)}};
            tsagg_event ev = {.ts = D0 + k * MIN + j, .merchant = M, .event = "page_view",
                              .event_len = 9, .user = user, .session = user,
                              .attrs = &a, .nattrs = 1};
            cr_assert_eq(tsagg_append(st, &ev, 1, NULL), 0);
            if (k % 2 == 0) {
                ev.ts = YEAR_AGO + k * MIN;
                cr_assert_eq(tsagg_append(st, &ev, 1, NULL), 0);
            }
        }
    }
    cr_assert_eq(tsagg_flush(st), 0);
    static const uint32_t kinds[2][2] = {{TSAGG_METRIC_NEW_USERS, TSAGG_METRIC_RETURNING_USERS},
                                         {TSAGG_METRIC_RETURNING_USERS, TSAGG_METRIC_NEW_USERS}};
    static const char *const top[2][3] = {{"/p109", "/p119", "/p19"}, {"/p104", "/p114", "/p14"}};
    tsagg_metric mets[2];
    tsagg_result *r;
    cr_assert_eq(tsagg_result_create(&r), 0);
    for (int w = 0; w < 2; w++) {
        mets[0] = (tsagg_metric){kinds[w][0], NULL};
        mets[1] = (tsagg_metric){kinds[w][1], NULL};
        tsagg_query q;
        tsagg_query_init(&q);
        q.merchant = M;
        q.from = D0;
        q.to = D0 + 30 * DAY;
        q.bucket = TSAGG_BUCKET_MINUTE;
        q.metrics = mets;
        q.nmetrics = 2;
        q.group_by = "page";
        q.top = 3;
        cr_assert_eq(tsagg_query_run(st, &q, r), 0, "%s", tsagg_result_errmsg(r));
        cr_assert_eq(tsagg_result_groups(r), 3);
        size_t nb = tsagg_result_buckets(r);
        cr_assert_eq(nb, 30 * 24 * 60);
        for (size_t j = 0; j < 3; j++) {
            double first = 0, second = 0;
            for (size_t b = 0; b < nb; b++) {
                first += tsagg_result_values(r, 0)[b * 3 + j];
                second += tsagg_result_values(r, 1)[b * 3 + j];
            }
            cr_assert_str_eq(tsagg_result_group(r, j), top[w][j], "ranking %d, group %zu", w, j);
            cr_assert_eq(first, 5, "ranking %d, %s", w, top[w][j]);
            cr_assert_eq(second, 0, "ranking %d, %s", w, top[w][j]);
        }
    }
    tsagg_result_free(r);
    cr_assert_eq(tsagg_store_close(st), 0);
}
