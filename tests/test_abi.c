/*
 * test_abi.c - how the public structs and tables grow (tsagg_store.h,
 * "Growing structs"; tsagg_compact.h, "Output structs"; tsagg_io.h).
 *
 * Invariants checked:
 *   - an input struct's struct_size is accepted from the first release's
 *     size to the library's own, the fields beyond the caller's size take
 *     their defaults, and any other size is TSAGG_EARG;
 *   - unknown flags and reserved fields that are not 0 are TSAGG_EARG;
 *   - an output struct is written up to the size its caller states (0: the
 *     first release's), never past it, and says what was written;
 *   - tsagg_io carries a version, 0 read as 1;
 *   - the query cache budget is an option, the bucket limit a constant;
 *   - a query's error message belongs to its result: queries failing at
 *     once on one handle each read their own.
 * The sizes themselves are pinned in test_errors.c.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faultio.h"
#include "testutil.h"
#include "tsagg.h"

TestSuite(abi, .init = tu_store_setup, .fini = tu_store_teardown, .timeout = 120);

#define HOUR INT64_C(3600000000)
#define T0 INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */

static tsagg_store *open_opts(const tsagg_options *o)
{
    tsagg_store *st;
    char err[512];
    int rc = tsagg_store_open(tu_store, o, &st, err, sizeof err);
    cr_assert_eq(rc, 0, "%s: %s", tsagg_errname(rc), err);
    return st;
}

static tsagg_store *open_writer(void)
{
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.io_backend = TSAGG_IO_PWRITE;
    return open_opts(&o);
}

/* Some events over `hours` hours, compacted. */
static void fill(tsagg_store *st, int hours)
{
    static tsagg_event evs[2000];
    tsagg_attr a = {.key = "page", .key_len = 4, .type = TSAGG_STR, .v.s = {"/x", 2}};
    for (size_t i = 0; i < 2000; i++)
        evs[i] = (tsagg_event){.ts = T0 + (int64_t)i * (hours * HOUR / 2000), .merchant = 1 + i % 3,
                               .event = "page_view", .event_len = 9, .user = 1 + i % 50,
                               .attrs = &a, .nattrs = 1};
    cr_assert_eq(tsagg_append(st, evs, 2000, NULL), 0);
    cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
}

/* ---- input structs ------------------------------------------------------- */

Test(abi, options_from_the_first_release_size_get_defaults)
{
    tsagg_store *st = open_writer();
    cr_assert_eq(tsagg_store_close(st), 0);
    /* A caller compiled before query_cache_bytes existed: its struct ends
     * before it, and what lies beyond must not be read. */
    struct {
        tsagg_options o;
        unsigned char garbage[64];
    } old;
    memset(&old, 0xa5, sizeof old);
    tsagg_options_init(&old.o);
    old.o.struct_size = offsetof(tsagg_options, query_cache_bytes);
    memset((char *)&old.o + old.o.struct_size, 0xa5, sizeof old.o - old.o.struct_size);
    st = open_opts(&old.o);
    cr_assert_eq(tsagg_store_close(st), 0);

    const uint32_t bad[] = {0, 4, offsetof(tsagg_options, query_cache_bytes) - 1,
                            sizeof(tsagg_options) + 1, sizeof(tsagg_options) + 8};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tsagg_options o;
        tsagg_options_init(&o);
        o.struct_size = bad[i];
        tsagg_store *x = NULL;
        char err[512];
        cr_assert_eq(tsagg_store_open(tu_store, &o, &x, err, sizeof err), TSAGG_EARG,
                     "struct_size %u", bad[i]);
        cr_assert_null(x);
        cr_assert(strstr(err, "struct_size"), "%s", err);
    }
}

Test(abi, unknown_open_flags_are_refused)
{
    tsagg_store *st = open_writer();
    cr_assert_eq(tsagg_store_close(st), 0);
    for (uint32_t bit = 4; bit < 32; bit++) { /* 0x8: TSAGG_OPEN_SALVAGE */
        tsagg_options o;
        tsagg_options_init(&o);
        o.flags = 1u << bit;
        tsagg_store *x = NULL;
        char err[512];
        cr_assert_eq(tsagg_store_open(tu_store, &o, &x, err, sizeof err), TSAGG_EARG,
                     "flag 0x%x", 1u << bit);
        cr_assert(strstr(err, "unknown flags"), "%s", err);
    }
}

Test(abi, reserved_fields_and_unknown_flags_are_refused)
{
    tsagg_store *st = open_writer();
    fill(st, 2);
    for (int which = 0; which < 4; which++) {
        tsagg_compact_options co;
        tsagg_compact_options_init(&co);
        if (which & 1)
            co.flags = 1;
        else
            co.reserved = 1;
        int rc = which < 2 ? tsagg_compact(st, &co, NULL) : tsagg_merge(st, &co, NULL);
        cr_assert_eq(rc, TSAGG_EARG, "compact options case %d", which);
    }
    for (int which = 0; which < 2; which++) {
        tsagg_rebuild_options ro;
        tsagg_rebuild_options_init(&ro);
        ro.from = T0;
        ro.to = T0 + HOUR;
        if (which)
            ro.flags = 0x8000;
        else
            ro.reserved = 7;
        cr_assert_eq(tsagg_rebuild(st, &ro, NULL), TSAGG_EARG, "rebuild options case %d", which);
    }
    tsagg_compact_options co;
    tsagg_compact_options_init(&co);
    co.struct_size += 8;
    cr_assert_eq(tsagg_compact(st, &co, NULL), TSAGG_EARG);

    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = 1;
    q.from = T0;
    q.to = T0 + HOUR;
    tsagg_result *r;
    cr_assert_eq(tsagg_result_create(&r), 0);
    cr_assert_eq(tsagg_query_run(st, &q, r), 0);
    q.flags = 0x100;
    cr_assert_eq(tsagg_query_run(st, &q, r), TSAGG_EARG);
    cr_assert(strstr(tsagg_result_errmsg(r), "unknown query flags"), "%s",
              tsagg_result_errmsg(r));
    q.flags = 0;
    q.struct_size = sizeof q + 8;
    cr_assert_eq(tsagg_query_run(st, &q, r), TSAGG_EARG);
    tsagg_result_free(r);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- output structs ------------------------------------------------------ */

Test(abi, output_structs_are_written_up_to_their_stated_size)
{
    tsagg_store *st = open_writer();
    static tsagg_event evs[100];
    for (size_t i = 0; i < 100; i++)
        evs[i] = (tsagg_event){.ts = T0 + (int64_t)i, .merchant = 1, .event = "e",
                               .event_len = 1};
    cr_assert_eq(tsagg_append(st, evs, 100, NULL), 0);
    /* 0: the first release's size, reported back. */
    struct {
        tsagg_compact_stats s;
        uint64_t canary;
    } cs;
    memset(&cs, 0, sizeof cs);
    cs.canary = 0x1122334455667788ull;
    cr_assert_eq(tsagg_compact(st, NULL, &cs.s), 0);
    cr_assert_eq(cs.s.struct_size, offsetof(tsagg_compact_stats, hour_files));
    cr_assert_eq(cs.s.events_read, 100);
    cr_assert_eq(cs.canary, 0x1122334455667788ull);
    /* A size the library does not know: refused, nothing written. */
    memset(&cs, 0x5a, sizeof cs);
    cs.s.struct_size = sizeof cs.s + 8;
    cr_assert_eq(tsagg_merge(st, NULL, &cs.s), TSAGG_EARG);
    cr_assert_eq(cs.s.events_read, 0x5a5a5a5a5a5a5a5aull);
    cs.s.struct_size = 8;
    cr_assert_eq(tsagg_compact(st, NULL, &cs.s), TSAGG_EARG);

    tsagg_rebuild_options ro;
    tsagg_rebuild_options_init(&ro);
    ro.from = T0;
    ro.to = T0 + HOUR;
    tsagg_rebuild_stats rs = {.struct_size = sizeof rs};
    cr_assert_eq(tsagg_rebuild(st, &ro, &rs), 0);
    cr_assert_eq(rs.events_read, 100);
    rs.struct_size = 3;
    cr_assert_eq(tsagg_rebuild(st, &ro, &rs), TSAGG_EARG);

    tsagg_verify_stats vs;
    memset(&vs, 0, sizeof vs);
    cr_assert_eq(tsagg_verify(st, NULL, NULL, &vs), 0);
    cr_assert_eq(vs.struct_size, sizeof vs);
    cr_assert_eq(vs.events, 100);
    vs.struct_size = sizeof vs + 1;
    cr_assert_eq(tsagg_verify(st, NULL, NULL, &vs), TSAGG_EARG);

    /* Segment descriptions: infos[0].struct_size is the array's stride. */
    cr_assert_eq(tsagg_log_roll(st), 0);
    int n = tsagg_log_segments(st, NULL, 0);
    cr_assert_geq(n, 1);
    tsagg_segment_info *zeroed = calloc((size_t)n, sizeof *zeroed);
    cr_assert_eq(tsagg_log_segments(st, zeroed, (size_t)n), n);
    for (int i = 0; i < n; i++)
        cr_assert_eq(zeroed[i].struct_size, sizeof *zeroed);
    cr_assert_eq(zeroed[0].last_seq, 100);
    cr_assert_eq(zeroed[0].sealed, 1);
    free(zeroed);
    tsagg_segment_info bad[2] = {{.struct_size = sizeof(tsagg_segment_info) + 8}};
    cr_assert_eq(tsagg_log_segments(st, bad, 2), TSAGG_EARG);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- the I/O table --------------------------------------------------------- */

Test(abi, io_table_has_a_version)
{
    cr_assert_eq(tsagg_io_default()->version, TSAGG_IO_VERSION);
    /* A table written without a version (0) is a version 1 table. */
    tsagg_io io = *tsagg_io_default();
    io.version = 0;
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.io = &io;
    tsagg_store *st = open_opts(&o);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- the query cache and the bucket limit ------------------------------------ */

/* preads of a second run of the same query, with the given cache budget
 * (UINT64_MAX: the default). */
static uint64_t preads_of_a_repeat(uint64_t cache_bytes)
{
    faultio fio;
    faultio_init(&fio, NULL);
    tsagg_options o;
    tsagg_options_init(&o);
    if (cache_bytes != UINT64_MAX)
        o.query_cache_bytes = cache_bytes;
    o.io = faultio_table(&fio);
    tsagg_store *st = open_opts(&o);
    tsagg_metric m[] = {{TSAGG_METRIC_COUNT, NULL}, {TSAGG_METRIC_USERS, NULL}};
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = 1;
    q.from = T0;
    q.to = T0 + 24 * HOUR;
    q.metrics = m;
    q.nmetrics = 2;
    tsagg_result *r;
    cr_assert_eq(tsagg_result_create(&r), 0);
    cr_assert_eq(tsagg_query_run(st, &q, r), 0);
    double first = tsagg_result_values(r, 0)[3];
    uint64_t before = faultio_calls(&fio, FIO_PREAD);
    cr_assert_eq(tsagg_query_run(st, &q, r), 0);
    cr_assert_eq(tsagg_result_values(r, 0)[3], first);
    uint64_t preads = faultio_calls(&fio, FIO_PREAD) - before;
    tsagg_result_free(r);
    cr_assert_eq(tsagg_store_close(st), 0);
    return preads;
}

Test(abi, query_cache_budget_is_an_option)
{
    tsagg_store *st = open_writer();
    fill(st, 24);
    cr_assert_eq(tsagg_store_close(st), 0);
    /* A repeat reads the manifest's version either way; without a cache it
     * reads every partition again. */
    uint64_t cached = preads_of_a_repeat(UINT64_MAX), uncached = preads_of_a_repeat(0);
    cr_assert_gt(uncached, cached + 20, "a budget of 0 keeps nothing between queries: %" PRIu64
                 " reads against %" PRIu64 " with the default budget", uncached, cached);
}

Test(abi, bucket_limit_is_public)
{
    tsagg_store *st = open_writer();
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = 1;
    q.bucket = TSAGG_BUCKET_MINUTE;
    q.from = T0;
    q.to = T0 + (int64_t)TSAGG_QUERY_MAX_BUCKETS * 60000000;
    tsagg_result *r;
    cr_assert_eq(tsagg_result_create(&r), 0);
    cr_assert_eq(tsagg_query_run(st, &q, r), 0, "%s", tsagg_result_errmsg(r));
    cr_assert_eq(tsagg_result_buckets(r), TSAGG_QUERY_MAX_BUCKETS);
    q.to += 60000000;
    cr_assert_eq(tsagg_query_run(st, &q, r), TSAGG_EARG);
    cr_assert(strstr(tsagg_result_errmsg(r), "buckets"), "%s", tsagg_result_errmsg(r));
    tsagg_result_free(r);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- per-result error messages -------------------------------------------------- */

typedef struct failing_queries {
    tsagg_store *st;
    const char *measure; /* unknown: each run fails naming it */
    int wrong;           /* runs whose message named something else */
} failing_queries;

static void *fail_repeatedly(void *arg)
{
    failing_queries *f = arg;
    tsagg_metric m = {TSAGG_METRIC_SUM, f->measure};
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = 1;
    q.from = T0;
    q.to = T0 + HOUR;
    q.metrics = &m;
    q.nmetrics = 1;
    tsagg_result *r;
    if (tsagg_result_create(&r) != 0)
        return NULL;
    for (int i = 0; i < 3000; i++) {
        if (tsagg_query_run(f->st, &q, r) != TSAGG_ESCHEMA ||
            !strstr(tsagg_result_errmsg(r), f->measure))
            f->wrong++;
    }
    tsagg_result_free(r);
    return NULL;
}

Test(abi, concurrent_failing_queries_keep_their_own_message)
{
    tsagg_store *st = open_writer();
    failing_queries a = {st, "alpha_measure", 0}, b = {st, "beta_measure", 0};
    pthread_t ta, tb;
    cr_assert_eq(pthread_create(&ta, NULL, fail_repeatedly, &a), 0);
    cr_assert_eq(pthread_create(&tb, NULL, fail_repeatedly, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    cr_assert_eq(a.wrong, 0, "%d of 3000 results named the other query's measure", a.wrong);
    cr_assert_eq(b.wrong, 0, "%d of 3000 results named the other query's measure", b.wrong);
    /* A success clears it. */
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = 1;
    q.from = T0;
    q.to = T0 + HOUR;
    tsagg_result *r;
    cr_assert_eq(tsagg_result_create(&r), 0);
    q.from = q.to;
    cr_assert_eq(tsagg_query_run(st, &q, r), TSAGG_EARG);
    cr_assert(strstr(tsagg_result_errmsg(r), "time range"), "%s", tsagg_result_errmsg(r));
    q.from = T0;
    cr_assert_eq(tsagg_query_run(st, &q, r), 0);
    cr_assert_str_eq(tsagg_result_errmsg(r), "");
    tsagg_result_free(r);
    cr_assert_eq(tsagg_store_close(st), 0);
}
