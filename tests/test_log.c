/*
 * test_log.c - the raw event log: round trips of every field, validation,
 * sequence numbers, segment rolling, reopening, reader ranges, concurrent
 * appenders in every durability mode, durability semantics, appends while
 * the host's signal handler interrupts them, and a reader running beside a
 * writer.
 *
 * The round-trip, rolling and concurrency tests run twice, once through the
 * pwrite path and once through io_uring (skipped, not failed, where the
 * kernel refuses io_uring with TSAGG_ENOURING).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "event_internal.h" /* tsagg__event_check: all but the ts range */
#include "log_internal.h"   /* tsagg__append_unchecked_ts: logs older than that check */
#include "testutil.h"
#include "tsagg.h"

/* ---- fixture -------------------------------------------------------------- */

TestSuite(log, .init = tu_store_setup, .fini = tu_store_teardown, .timeout = 60);

/* Define a test body run once per I/O path: name_pwrite and name_uring. */
#define BOTH_BACKENDS(name)                                                      \
    static void name##_body(unsigned backend);                                   \
    Test(log, name##_pwrite) { name##_body(TSAGG_IO_PWRITE); }                   \
    Test(log, name##_uring) { name##_body(TSAGG_IO_URING); }                     \
    static void name##_body(unsigned backend)

/* ---- opening --------------------------------------------------------------- */

typedef struct cfg {
    unsigned backend;   /* enum tsagg_io_backend */
    unsigned sync_mode; /* enum tsagg_sync_mode */
    uint32_t interval_ms;
    uint32_t frame_bytes;   /* 0: default */
    uint64_t segment_bytes; /* 0: default */
} cfg;

/* Open (creating) a writer; skips the test when io_uring is forced and
 * refused; checks the backend name. */
static tsagg_store *open_writer(const cfg *c)
{
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.io_backend = c->backend;
    o.sync_mode = c->sync_mode;
    if (c->interval_ms)
        o.sync_interval_ms = c->interval_ms;
    if (c->frame_bytes)
        o.frame_bytes = c->frame_bytes;
    if (c->segment_bytes)
        o.segment_bytes = c->segment_bytes;
    tsagg_store *st = NULL;
    char err[512];
    int rc = tsagg_store_open(tu_store, &o, &st, err, sizeof err);
    if (rc == TSAGG_ENOURING && c->backend == TSAGG_IO_URING)
        cr_skip_test("io_uring is not available here (TSAGG_ENOURING: %s); "
                     "skipping the io_uring variant",
                     err);
    cr_assert_eq(rc, 0, "open writer: %s: %s", tsagg_strerror(rc), err);
    const char *want = c->backend == TSAGG_IO_URING   ? "io_uring"
                       : c->backend == TSAGG_IO_PWRITE ? "pwrite"
                                                       : NULL;
    if (want)
        cr_assert_str_eq(tsagg_io_backend_name(st), want);
    return st;
}

static tsagg_store *open_reader_handle(void)
{
    tsagg_store *st = NULL;
    char err[512];
    int rc = tsagg_store_open(tu_store, NULL, &st, err, sizeof err);
    cr_assert_eq(rc, 0, "open read-only: %s: %s", tsagg_strerror(rc), err);
    return st;
}

static void close_ok(tsagg_store *st)
{
    int rc = tsagg_store_close(st);
    cr_assert_eq(rc, 0, "close: %s", tsagg_strerror(rc));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- event comparison ---------------------------------------------------------- */

static int bytes_eq(const void *a, uint32_t alen, const void *b, uint32_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* 0 when equal (every field, strings byte-exact, doubles bit-exact); else
 * a description in why. */
static int event_diff(const tsagg_event *got, const tsagg_event *want, char *why, size_t len)
{
#define DIFF(...)                              \
    do {                                       \
        snprintf(why, len, __VA_ARGS__);       \
        return 1;                              \
    } while (0)
    if (got->ts != want->ts)
        DIFF("ts %" PRId64 " != %" PRId64, got->ts, want->ts);
    if (got->merchant != want->merchant)
        DIFF("merchant %" PRIu64 " != %" PRIu64, got->merchant, want->merchant);
    if (!bytes_eq(got->event, got->event_len, want->event, want->event_len))
        DIFF("event name differs (len %u vs %u)", got->event_len, want->event_len);
    if (got->flags != want->flags)
        DIFF("flags %u != %u", got->flags, want->flags);
    if (got->user != want->user)
        DIFF("user %" PRIx64 " != %" PRIx64, got->user, want->user);
    if (got->session != want->session)
        DIFF("session %" PRIx64 " != %" PRIx64, got->session, want->session);
    if ((want->flags & TSAGG_EVENT_HAS_ID) && got->id != want->id)
        DIFF("id %" PRIx64 " != %" PRIx64, got->id, want->id);
    if (got->nattrs != want->nattrs)
        DIFF("nattrs %u != %u", got->nattrs, want->nattrs);
    if (got->nattrs && !got->attrs)
        DIFF("attrs NULL with nattrs %u", got->nattrs);
    for (uint32_t i = 0; i < want->nattrs; i++) {
        const tsagg_attr *g = &got->attrs[i], *w = &want->attrs[i];
        if (!bytes_eq(g->key, g->key_len, w->key, w->key_len))
            DIFF("attr %u: key differs (len %u vs %u)", i, g->key_len, w->key_len);
        if (g->type != w->type)
            DIFF("attr %u: type %u != %u", i, g->type, w->type);
        if (w->type == TSAGG_STR) {
            if (!bytes_eq(g->v.s.ptr, g->v.s.len, w->v.s.ptr, w->v.s.len))
                DIFF("attr %u: string differs (len %u vs %u)", i, g->v.s.len, w->v.s.len);
        } else if (w->type == TSAGG_INT) {
            if (g->v.i != w->v.i)
                DIFF("attr %u: int %" PRId64 " != %" PRId64, i, g->v.i, w->v.i);
        } else if (memcmp(&g->v.f, &w->v.f, sizeof(double)) != 0) {
            DIFF("attr %u: double %a != %a (bit patterns differ)", i, g->v.f, w->v.f);
        }
    }
    return 0;
#undef DIFF
}

/* ---- generated events ------------------------------------------------------------- */

#define T0 1793491200000000LL /* 2026-11-01T00:00:00Z */

typedef struct gen_ev {
    tsagg_event ev;
    tsagg_attr attrs[6];
    char page[40];
    char tag[40];
} gen_ev;

static const char *const ev_names[] = {"page_view", "click", "purchase", "app_open"};

/* Event number k, a pure function of k; k is also stored in `session`, so
 * a read event tells which one it is. Not to be copied (points into *g). */
static void gen(uint64_t k, gen_ev *g)
{
    uint64_t r = tu_mix64(k);
    memset(g, 0, sizeof *g);
    /* Out of order, spread over two days, some before T0. */
    g->ev.ts = T0 + (int64_t)(r % 172800000000ull) - 86400000000LL;
    g->ev.merchant = 1 + (r >> 40) % 50;
    const char *nm = ev_names[k % 4];
    g->ev.event = nm;
    g->ev.event_len = (uint32_t)strlen(nm);
    g->ev.user = tu_mix64(r);
    g->ev.session = k;
    if (k % 3) {
        g->ev.flags = TSAGG_EVENT_HAS_ID;
        g->ev.id = r ^ 0x5555aaaa5555aaaaull;
    }
    uint32_t na = (uint32_t)(k % 7);
    int pl = snprintf(g->page, sizeof g->page, "/products/%" PRIu64, r % 1000);
    int tl = snprintf(g->tag, sizeof g->tag, "k=%" PRIu64 ";", k);
    tsagg_attr all[6] = {
        {.key = "page", .key_len = 4, .type = TSAGG_STR, .v.s = {g->page, (uint32_t)pl}},
        {.key = "value", .key_len = 5, .type = TSAGG_F64, .v.f = (double)(r % 10000) / 7.0},
        {.key = "qty", .key_len = 3, .type = TSAGG_INT, .v.i = (int64_t)(r % 2001) - 1000},
        {.key = "country", .key_len = 7, .type = TSAGG_STR, .v.s = {"DE", 2}},
        {.key = "x_undeclared", .key_len = 12, .type = TSAGG_STR, .v.s = {g->tag, (uint32_t)tl}},
        {.key = "empty", .key_len = 5, .type = TSAGG_STR, .v.s = {"", 0}},
    };
    /* Six attributes at most; k % 7 == 6 has all of them. */
    memcpy(g->attrs, all, sizeof all);
    g->ev.attrs = na ? g->attrs : NULL;
    g->ev.nattrs = na > 6 ? 6 : na;
}

/* Check a read event against gen(its session); 0 or 1 with why. */
static int check_generated(const tsagg_event *ev, char *why, size_t len)
{
    gen_ev g;
    gen(ev->session, &g);
    return event_diff(ev, &g.ev, why, len);
}

/* Append events gen(k0 .. k0+n-1) in one call; returns its first seq. */
static uint64_t append_gen(tsagg_store *st, uint64_t k0, size_t n)
{
    gen_ev *g = malloc(n * sizeof *g);
    tsagg_event *evs = malloc(n * sizeof *evs);
    cr_assert(g && evs);
    for (size_t i = 0; i < n; i++) {
        gen(k0 + i, &g[i]);
        evs[i] = g[i].ev;
    }
    uint64_t seq = 0;
    int rc = tsagg_append(st, evs, n, &seq);
    if (rc != 0) {
        char msg[512];
        tsagg_store_errmsg(st, msg, sizeof msg);
        cr_assert_fail("append: %s: %s", tsagg_strerror(rc), msg);
    }
    free(g);
    free(evs);
    return seq;
}

/* Read the given range; every event must be a generated one with k == seq
 * (how the sequential tests append). Returns the number read and stores
 * seqs in out (if not NULL, cap entries). */
static size_t read_check_seq_keyed(tsagg_store *st, const tsagg_log_range *r, uint64_t *out,
                                   size_t cap)
{
    tsagg_log_reader *rd;
    int rc = tsagg_log_reader_open(st, r, &rd);
    cr_assert_eq(rc, 0, "reader_open: %s", tsagg_strerror(rc));
    const tsagg_event *ev;
    uint64_t seq;
    size_t n = 0;
    char why[256];
    while ((rc = tsagg_log_reader_next(rd, &ev, &seq)) == 1) {
        cr_assert_eq(ev->session, seq, "event at seq %" PRIu64 " is k=%" PRIu64, seq, ev->session);
        if (check_generated(ev, why, sizeof why))
            cr_assert_fail("seq %" PRIu64 ": %s", seq, why);
        if (out && n < cap)
            out[n] = seq;
        n++;
    }
    if (rc != 0) {
        char msg[512];
        tsagg_store_errmsg(st, msg, sizeof msg);
        cr_assert_fail("reader_next: %s: %s", tsagg_strerror(rc), msg);
    }
    /* At the end it keeps saying so. */
    cr_assert_eq(tsagg_log_reader_next(rd, &ev, &seq), 0);
    tsagg_log_reader_close(rd);
    return n;
}

/* Everything from seq 1 to n, in order. */
static void expect_all_seq_keyed(tsagg_store *st, uint64_t n)
{
    uint64_t *seqs = malloc((n + 1) * sizeof *seqs);
    size_t got = read_check_seq_keyed(st, NULL, seqs, n + 1);
    cr_assert_eq(got, n, "read %zu events, want %" PRIu64, got, n);
    for (size_t i = 0; i < got; i++)
        cr_assert_eq(seqs[i], i + 1, "position %zu has seq %" PRIu64, i, seqs[i]);
    free(seqs);
}

/* ---- round trips of every field ----------------------------------------------------- */

/* A set of hand-made events covering the edges of every field. The storage
 * lives in a static block; events point into it. */
typedef struct edge_set {
    tsagg_event evs[32];
    size_t n;
    char name255[255];
    char key64[64];
    tsagg_attr many[255];
    char many_keys[255][8];
    char *big_a, *big_rand, *bigs[4];
    tsagg_attr a_types[16], a_long[1], a_long2[1], a_max[4], a_misc[8];
} edge_set;

static void edge_set_init(edge_set *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < 255; i++)
        s->name255[i] = (char)(i + 1); /* every byte value but 0, as a name */
    memset(s->key64, 'K', sizeof s->key64);
    s->big_a = malloc(TSAGG_VALUE_MAX);
    s->big_rand = malloc(TSAGG_VALUE_MAX);
    cr_assert(s->big_a && s->big_rand);
    memset(s->big_a, 'a', TSAGG_VALUE_MAX);
    uint64_t x = 42;
    for (size_t i = 0; i < TSAGG_VALUE_MAX; i++) {
        x = tu_mix64(x);
        s->big_rand[i] = (char)(x % 255 + 1); /* incompressible, never NUL */
    }
    for (int i = 0; i < 4; i++) {
        s->bigs[i] = malloc(TSAGG_VALUE_MAX);
        cr_assert_not_null(s->bigs[i]);
        memset(s->bigs[i], 'A' + i, TSAGG_VALUE_MAX);
    }

    double nan_payload;
    uint64_t nan_bits = 0x7ff8dead0000beefull; /* a quiet NaN with a payload */
    memcpy(&nan_payload, &nan_bits, 8);
    double snan;
    uint64_t snan_bits = 0xfff0000000000001ull; /* negative signalling NaN */
    memcpy(&snan, &snan_bits, 8);
    /* Any byte but NUL, which events refuse. */
    static const char bin[] = {'a', 1, 'b', (char)0xff, 0x7f, (char)0x80};
    tsagg_attr types[16] = {
        {.key = "page", .key_len = 4, .type = TSAGG_STR, .v.s = {"/checkout?step=2", 16}},
        {.key = "empty", .key_len = 5, .type = TSAGG_STR, .v.s = {"", 0}},
        {.key = "null_empty", .key_len = 10, .type = TSAGG_STR, .v.s = {NULL, 0}},
        {.key = "binary", .key_len = 6, .type = TSAGG_STR, .v.s = {bin, sizeof bin}},
        {.key = "i_min", .key_len = 5, .type = TSAGG_INT, .v.i = INT64_MIN},
        {.key = "i_max", .key_len = 5, .type = TSAGG_INT, .v.i = INT64_MAX},
        {.key = "i_zero", .key_len = 6, .type = TSAGG_INT, .v.i = 0},
        {.key = "i_neg", .key_len = 5, .type = TSAGG_INT, .v.i = -1},
        {.key = "f_negzero", .key_len = 9, .type = TSAGG_F64, .v.f = -0.0},
        {.key = "f_nan", .key_len = 5, .type = TSAGG_F64, .v.f = nan_payload},
        {.key = "f_snan", .key_len = 6, .type = TSAGG_F64, .v.f = snan},
        {.key = "f_inf", .key_len = 5, .type = TSAGG_F64, .v.f = INFINITY},
        {.key = "f_ninf", .key_len = 6, .type = TSAGG_F64, .v.f = -INFINITY},
        {.key = "f_denorm", .key_len = 8, .type = TSAGG_F64, .v.f = 4.9406564584124654e-324},
        {.key = "f_max", .key_len = 5, .type = TSAGG_F64, .v.f = 1.7976931348623157e308},
        {.key = s->key64, .key_len = 64, .type = TSAGG_F64, .v.f = 0.1},
    };
    memcpy(s->a_types, types, sizeof types);
    s->a_long[0] = (tsagg_attr){.key = "long", .key_len = 4, .type = TSAGG_STR,
                                .v.s = {s->big_a, TSAGG_VALUE_MAX}};
    s->a_long2[0] = (tsagg_attr){.key = "long", .key_len = 4, .type = TSAGG_STR,
                                 .v.s = {s->big_rand, TSAGG_VALUE_MAX}};
    for (int i = 0; i < 4; i++)
        s->a_max[i] = (tsagg_attr){.key = "big", .key_len = 3, .type = TSAGG_STR,
                                   .v.s = {s->bigs[i], TSAGG_VALUE_MAX}};
    for (int i = 0; i < 255; i++) {
        int kl = snprintf(s->many_keys[i], sizeof s->many_keys[i], "k%d", i);
        tsagg_attr *a = &s->many[i];
        a->key = s->many_keys[i];
        a->key_len = (uint32_t)kl;
        a->type = (uint32_t)(1 + i % 3);
        if (a->type == TSAGG_STR)
            a->v.s.ptr = s->many_keys[i], a->v.s.len = (uint32_t)kl;
        else if (a->type == TSAGG_INT)
            a->v.i = (int64_t)i * -1000003;
        else
            a->v.f = i / 3.0;
    }
    /* Duplicate keys, the event name reused as a key, a key shadowing a
     * core field (undeclared attributes may be called anything). */
    tsagg_attr misc[8] = {
        {.key = "dup", .key_len = 3, .type = TSAGG_STR, .v.s = {"one", 3}},
        {.key = "dup", .key_len = 3, .type = TSAGG_INT, .v.i = 2},
        {.key = "dup", .key_len = 3, .type = TSAGG_F64, .v.f = 3.0},
        {.key = "click", .key_len = 5, .type = TSAGG_STR, .v.s = {"click", 5}},
        {.key = "ts", .key_len = 2, .type = TSAGG_INT, .v.i = 7},
        {.key = "k\xc3\xa9y with spaces", .key_len = 15, .type = TSAGG_STR, .v.s = {"x", 1}},
        {.key = "\x01\x02", .key_len = 2, .type = TSAGG_INT, .v.i = 99},
        {.key = "page", .key_len = 4, .type = TSAGG_STR, .v.s = {"/", 1}},
    };
    memcpy(s->a_misc, misc, sizeof misc);

    tsagg_event *e = s->evs;
    size_t n = 0;
    /* ts and merchant extremes (INT64_MAX has its own test). */
    e[n++] = (tsagg_event){.ts = INT64_MIN, .merchant = 0, .event = "a", .event_len = 1};
    e[n++] = (tsagg_event){.ts = INT64_MAX - 1, .merchant = UINT64_MAX, .event = "b", .event_len = 1};
    e[n++] = (tsagg_event){.ts = -1, .merchant = 1, .event = "c", .event_len = 1};
    e[n++] = (tsagg_event){.ts = 0, .merchant = 0, .event = "d", .event_len = 1};
    e[n++] = (tsagg_event){.ts = -1234567890123456LL, .merchant = 1ull << 63, .event = "e",
                           .event_len = 1};
    e[n++] = (tsagg_event){.ts = INT64_MIN + 1, .merchant = 127, .event = "f", .event_len = 1};
    /* Names of 1 and 255 bytes. */
    e[n++] = (tsagg_event){.ts = T0, .merchant = 5, .event = s->name255, .event_len = 255};
    e[n++] = (tsagg_event){.ts = T0, .merchant = 5, .event = "x", .event_len = 1};
    /* user/session/id extremes, with and without HAS_ID. */
    e[n++] = (tsagg_event){.ts = T0 + 1, .merchant = 9, .event = "id", .event_len = 2,
                           .user = UINT64_MAX, .session = UINT64_MAX,
                           .flags = TSAGG_EVENT_HAS_ID, .id = UINT64_MAX};
    e[n++] = (tsagg_event){.ts = T0 + 2, .merchant = 9, .event = "id", .event_len = 2,
                           .user = 0, .session = 0, .flags = TSAGG_EVENT_HAS_ID, .id = 0};
    e[n++] = (tsagg_event){.ts = T0 + 3, .merchant = 9, .event = "noid", .event_len = 4,
                           .user = 0x8000000000000000ull, .session = 1, .flags = 0, .id = 0};
    e[n++] = (tsagg_event){.ts = T0 + 4, .merchant = 9, .event = "id", .event_len = 2,
                           .user = tsagg_hash_id("user-1", 6),
                           .session = tsagg_hash_id("sess-1", 6), .flags = TSAGG_EVENT_HAS_ID,
                           .id = 1ull << 63};
    /* Attributes of every type and value edge. */
    e[n++] = (tsagg_event){.ts = T0 + 5, .merchant = 3, .event = "types", .event_len = 5,
                           .attrs = s->a_types, .nattrs = 16};
    /* 0 and 255 attributes. */
    e[n++] = (tsagg_event){.ts = T0 + 6, .merchant = 3, .event = "none", .event_len = 4,
                           .attrs = NULL, .nattrs = 0};
    e[n++] = (tsagg_event){.ts = T0 + 7, .merchant = 3, .event = "many", .event_len = 4,
                           .attrs = s->many, .nattrs = 255};
    /* Misc keys. */
    e[n++] = (tsagg_event){.ts = T0 + 8, .merchant = 3, .event = "click", .event_len = 5,
                           .attrs = s->a_misc, .nattrs = 8};
    /* Strings of TSAGG_VALUE_MAX bytes, compressible and not, and an event
     * of exactly TSAGG_EVENT_BYTES_MAX bytes of strings. */
    e[n++] = (tsagg_event){.ts = T0 + 9, .merchant = 4, .event = "long", .event_len = 4,
                           .attrs = s->a_long, .nattrs = 1};
    e[n++] = (tsagg_event){.ts = T0 + 10, .merchant = 4, .event = "long", .event_len = 4,
                           .attrs = s->a_long2, .nattrs = 1};
    e[n++] = (tsagg_event){.ts = T0 + 11, .merchant = 4, .event = "max", .event_len = 3,
                           .attrs = s->a_max, .nattrs = 4};
    /* Something ordinary after the big ones. */
    e[n++] = (tsagg_event){.ts = T0 + 12, .merchant = 4, .event = "page_view", .event_len = 9,
                           .attrs = s->a_types, .nattrs = 2};
    s->n = n;
    /* Valid but for the ts extremes, which appends now refuse and logs
     * written before may hold: written through tsagg__append_unchecked_ts. */
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(tsagg__event_check(&e[i], NULL, NULL, 0), 0, "edge event %zu must be valid",
                     i);
}

static void edge_set_free(edge_set *s)
{
    free(s->big_a);
    free(s->big_rand);
    for (int i = 0; i < 4; i++)
        free(s->bigs[i]);
}

/* Read everything and compare with want[0..n) at seqs first..first+n-1. */
static void expect_events(tsagg_store *st, const tsagg_event *want, size_t n, uint64_t first)
{
    tsagg_log_reader *rd;
    cr_assert_eq(tsagg_log_reader_open(st, NULL, &rd), 0);
    const tsagg_event *ev;
    uint64_t seq;
    size_t i = 0;
    int rc;
    char why[256];
    while ((rc = tsagg_log_reader_next(rd, &ev, &seq)) == 1) {
        cr_assert_lt(i, n, "more events than appended (seq %" PRIu64 ")", seq);
        cr_assert_eq(seq, first + i, "event %zu has seq %" PRIu64, i, seq);
        if (event_diff(ev, &want[i], why, sizeof why))
            cr_assert_fail("event %zu (seq %" PRIu64 "): %s", i, seq, why);
        i++;
    }
    if (rc != 0) {
        char msg[512];
        tsagg_store_errmsg(st, msg, sizeof msg);
        cr_assert_fail("reader_next: %s: %s", tsagg_strerror(rc), msg);
    }
    cr_assert_eq(i, n, "read %zu events, appended %zu", i, n);
    tsagg_log_reader_close(rd);
}

BOTH_BACKENDS(roundtrip_edges)
{
    static edge_set s; /* large: keep it off the stack */
    edge_set_init(&s);
    cfg c = {.backend = backend};
    tsagg_store *st = open_writer(&c);
    /* One event per call, then all of them in one call. */
    for (size_t i = 0; i < s.n; i++) {
        uint64_t seq = 0;
        cr_assert_eq(tsagg__append_unchecked_ts(st, &s.evs[i], 1, &seq), 0, "event %zu", i);
        cr_assert_eq(seq, i + 1);
    }
    uint64_t seq = 0;
    cr_assert_eq(tsagg__append_unchecked_ts(st, s.evs, s.n, &seq), 0);
    cr_assert_eq(seq, s.n + 1);
    cr_assert_eq(tsagg_last_seq(st), 2 * s.n);
    tsagg_event *want = malloc(2 * s.n * sizeof *want);
    memcpy(want, s.evs, s.n * sizeof *want);
    memcpy(want + s.n, s.evs, s.n * sizeof *want);
    /* Through the writer's handle, then from disk through a reader's. */
    expect_events(st, want, 2 * s.n, 1);
    close_ok(st);
    st = open_reader_handle();
    expect_events(st, want, 2 * s.n, 1);
    close_ok(st);
    free(want);
    edge_set_free(&s);
}

BOTH_BACKENDS(roundtrip_ts_int64_max)
{
    /* A log written before appends checked ts may hold INT64_MAX, and a
     * reader with the default range ("everything") must return it. */
    cfg c = {.backend = backend};
    tsagg_store *st = open_writer(&c);
    tsagg_event evs[3] = {
        {.ts = INT64_MAX, .merchant = 1, .event = "max", .event_len = 3},
        {.ts = INT64_MIN, .merchant = 2, .event = "min", .event_len = 3},
        {.ts = INT64_MAX, .merchant = UINT64_MAX, .event = "max", .event_len = 3},
    };
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tsagg_event_validate(&evs[i]), TSAGG_EINPUT);
    cr_assert_eq(tsagg__append_unchecked_ts(st, evs, 1, NULL), 0);
    cr_assert_eq(tsagg__append_unchecked_ts(st, evs, 3, NULL), 0);
    tsagg_event want[4] = {evs[0], evs[0], evs[1], evs[2]};
    /* Collect, close, then judge (no leaks when it fails). */
    tsagg_log_reader *rd;
    cr_assert_eq(tsagg_log_reader_open(st, NULL, &rd), 0);
    const tsagg_event *ev;
    uint64_t seq, seqs[8];
    int rc, n = 0, bad = -1;
    char why[256] = "";
    while ((rc = tsagg_log_reader_next(rd, &ev, &seq)) == 1 && n < 8) {
        seqs[n] = seq;
        if (bad < 0 && (n >= 4 || event_diff(ev, &want[seq - 1 < 4 ? seq - 1 : 0], why, sizeof why)))
            bad = n;
        n++;
    }
    tsagg_log_reader_close(rd);
    close_ok(st);
    cr_assert_eq(rc, 0);
    cr_assert_eq(bad, -1, "event %d: %s", bad, why);
    cr_assert_eq(n, 4,
                 "the default range returned %d of 4 events (first seq %" PRIu64
                 "): events at ts == INT64_MAX are dropped",
                 n, n ? seqs[0] : 0);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(seqs[i], (uint64_t)i + 1);
}

/* ---- validation -------------------------------------------------------------------- */

BOTH_BACKENDS(invalid_events_append_nothing)
{
    cfg c = {.backend = backend};
    tsagg_store *st = open_writer(&c);
    static char big[TSAGG_VALUE_MAX + 1];
    static char key65[65];
    memset(key65, 'k', sizeof key65);
    tsagg_attr ok_attr = {.key = "page", .key_len = 4, .type = TSAGG_STR, .v.s = {"/", 1}};
    tsagg_attr bad_attrs[][1] = {
        {{.key = NULL, .key_len = 3, .type = TSAGG_STR, .v.s = {"x", 1}}},
        {{.key = "k", .key_len = 0, .type = TSAGG_STR, .v.s = {"x", 1}}},
        {{.key = key65, .key_len = 65, .type = TSAGG_INT, .v.i = 1}},
        {{.key = "k", .key_len = 1, .type = TSAGG_STR, .v.s = {big, TSAGG_VALUE_MAX + 1}}},
        {{.key = "k", .key_len = 1, .type = TSAGG_STR, .v.s = {NULL, 1}}},
        {{.key = "k", .key_len = 1, .type = 0, .v.i = 1}},
        {{.key = "k", .key_len = 1, .type = 4, .v.i = 1}},
        {{.key = "k", .key_len = 1, .type = UINT32_MAX, .v.i = 1}},
    };
    size_t nbad_attrs = sizeof bad_attrs / sizeof bad_attrs[0];
    /* Five strings of 1 MiB: more than TSAGG_EVENT_BYTES_MAX in all. */
    tsagg_attr too_big[5];
    for (int i = 0; i < 5; i++)
        too_big[i] = (tsagg_attr){.key = "s", .key_len = 1, .type = TSAGG_STR,
                                  .v.s = {big, TSAGG_VALUE_MAX}};
    static tsagg_attr many[256];
    for (int i = 0; i < 256; i++)
        many[i] = ok_attr;
    static char name256[256];
    memset(name256, 'n', sizeof name256);

    tsagg_event good = {.ts = T0, .merchant = 1, .event = "ok", .event_len = 2,
                        .attrs = &ok_attr, .nattrs = 1};
    tsagg_event bad[32];
    size_t nb = 0;
    bad[nb] = good, bad[nb].event = NULL, nb++;
    bad[nb] = good, bad[nb].event_len = 0, nb++;
    bad[nb] = good, bad[nb].event = name256, bad[nb].event_len = 256, nb++;
    bad[nb] = good, bad[nb].flags = 0x2, nb++;
    bad[nb] = good, bad[nb].flags = TSAGG_EVENT_HAS_ID | 0x80000000u, nb++;
    bad[nb] = good, bad[nb].attrs = many, bad[nb].nattrs = 256, nb++;
    bad[nb] = good, bad[nb].attrs = NULL, bad[nb].nattrs = 1, nb++;
    bad[nb] = good, bad[nb].attrs = too_big, bad[nb].nattrs = 5, nb++;
    /* Times no partition holds. */
    bad[nb] = good, bad[nb].ts = INT64_MIN, nb++;
    bad[nb] = good, bad[nb].ts = INT64_MAX, nb++;
    bad[nb] = good, bad[nb].ts = TSAGG_TS_MIN - 1, nb++;
    bad[nb] = good, bad[nb].ts = TSAGG_TS_END, nb++;
    bad[nb] = good, bad[nb].ts = INT64_C(-99999999999999) * 1000, nb++;
    for (size_t i = 0; i < nbad_attrs; i++)
        bad[nb] = good, bad[nb].attrs = bad_attrs[i], bad[nb].nattrs = 1, nb++;

    cr_assert_eq(tsagg_event_validate(&good), 0);
    cr_assert_eq(tsagg_event_validate(NULL), TSAGG_EINPUT);
    uint64_t seq = 0;
    cr_assert_eq(tsagg_append(st, &good, 1, &seq), 0);
    cr_assert_eq(seq, 1);
    for (size_t i = 0; i < nb; i++) {
        cr_assert_eq(tsagg_event_validate(&bad[i]), TSAGG_EINPUT, "bad event %zu", i);
        /* Alone, and in the middle of valid ones: nothing is appended. */
        tsagg_event batch[3] = {good, bad[i], good};
        uint64_t fs = 777;
        cr_assert_eq(tsagg_append(st, &bad[i], 1, &fs), TSAGG_EINPUT, "bad event %zu", i);
        cr_assert_eq(tsagg_append(st, batch, 3, &fs), TSAGG_EINPUT, "bad event %zu", i);
        cr_assert_eq(fs, 777, "first_seq untouched");
        char msg[512];
        tsagg_store_errmsg(st, msg, sizeof msg);
        cr_assert(strstr(msg, "1") != NULL, "errmsg names the event index: \"%s\"", msg);
        cr_assert_eq(tsagg_last_seq(st), 1, "bad event %zu changed the sequence", i);
    }
    /* Argument errors. */
    cr_assert_eq(tsagg_append(st, &good, 0, NULL), TSAGG_EARG);
    cr_assert_eq(tsagg_append(st, NULL, 1, NULL), TSAGG_EARG);
    cr_assert_eq(tsagg_append(NULL, &good, 1, NULL), TSAGG_EARG);
    cr_assert_eq(tsagg_last_seq(st), 1);
    /* The writer is not failed: the next append gets number 2. */
    cr_assert_eq(tsagg_append(st, &good, 1, &seq), 0);
    cr_assert_eq(seq, 2);
    cr_assert_eq(tsagg_flush(st), 0);
    tsagg_event want[2] = {good, good};
    expect_events(st, want, 2, 1);
    close_ok(st);
    st = open_reader_handle();
    expect_events(st, want, 2, 1);
    close_ok(st);
}

/* A NUL byte in an event name, an attribute key or a string value would be
 * cut by every output (distinct keys printing alike, a key matched one way
 * by compaction and another by the tail): refused at append, naming the
 * field, in a batch as alone. */
Test(log, nul_bytes_are_refused_naming_the_field)
{
    cfg c = {.backend = TSAGG_IO_PWRITE};
    tsagg_store *st = open_writer(&c);
    tsagg_attr ok = {.key = "page", .key_len = 4, .type = TSAGG_STR, .v.s = {"/a", 2}};
    tsagg_attr nul_value = {.key = "page", .key_len = 4, .type = TSAGG_STR, .v.s = {"a\0b", 3}};
    tsagg_attr nul_key = {.key = "pa\0ge", .key_len = 5, .type = TSAGG_INT, .v.i = 1};
    tsagg_event good = {.ts = T0, .merchant = 1, .event = "ok", .event_len = 2, .attrs = &ok,
                        .nattrs = 1};
    struct {
        tsagg_event ev;
        const char *why;
    } bad[] = {
        {good, "event name holds a NUL byte"},
        {good, "attribute 'page': the value holds a NUL byte at offset 1"},
        {good, "attribute 'pa?ge': the key holds a NUL byte at offset 2"},
    };
    bad[0].ev.event = "o\0k";
    bad[0].ev.event_len = 3;
    bad[1].ev.attrs = &nul_value;
    bad[2].ev.attrs = &nul_key;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char why[160];
        cr_assert_eq(tsagg_event_validate(&bad[i].ev), TSAGG_EINPUT, "case %zu", i);
        cr_assert_eq(tsagg_event_check(&bad[i].ev, why, sizeof why), TSAGG_EINPUT);
        cr_assert_str_eq(why, bad[i].why);
        tsagg_event batch[2] = {good, bad[i].ev};
        cr_assert_eq(tsagg_append(st, batch, 2, NULL), TSAGG_EINPUT, "case %zu", i);
        char msg[512];
        tsagg_store_errmsg(st, msg, sizeof msg);
        cr_assert(strstr(msg, "event 1: ") && strstr(msg, bad[i].why), "\"%s\"", msg);
    }
    cr_assert_eq(tsagg_last_seq(st), 0, "nothing was appended");
    /* An empty string and any other byte are fine. */
    tsagg_attr empty = {.key = "page", .key_len = 4, .type = TSAGG_STR, .v.s = {NULL, 0}};
    good.attrs = &empty;
    cr_assert_eq(tsagg_event_check(&good, NULL, 0), 0);
    cr_assert_eq(tsagg_append(st, &good, 1, NULL), 0);
    close_ok(st);
}

/* Short strings are scanned a word at a time (shortmem.h), by the check
 * and, in an append, by the encoder as it copies them: a NUL at any offset
 * of a string of any length up to and past the word paths is found and
 * named, no other byte is taken for one, and no byte past the string is
 * read (each string ends its own allocation, for ASan). */
static void expect_append(tsagg_store *st, const tsagg_event *ev, long at, const char *want)
{
    tsagg_event ok = {.ts = T0, .merchant = 1, .event = "ok", .event_len = 2};
    tsagg_event batch[2] = {ok, *ev};
    int rc = tsagg_append(st, batch, 2, NULL);
    cr_assert_eq(rc, at < 0 ? 0 : TSAGG_EINPUT, "append: NUL at %ld", at);
    if (at < 0)
        return;
    char msg[512];
    tsagg_store_errmsg(st, msg, sizeof msg);
    cr_assert(strstr(msg, "event 1: ") && strstr(msg, want), "\"%s\" for a NUL at %ld", msg, at);
}

Test(log, nul_found_at_every_offset_of_short_strings)
{
    cfg c = {.backend = TSAGG_IO_PWRITE};
    tsagg_store *st = open_writer(&c);
    for (size_t len = 1; len <= 48; len++) {
        char *v = malloc(len), *k = malloc(len);
        cr_assert(v && k);
        for (long at = -1; at < (long)len; at++) {
            /* Bytes 1..255 in turn, the ones next to 0 and 0x80 among them. */
            for (size_t i = 0; i < len; i++)
                v[i] = k[i] = (char)(1 + (i * 37 + (size_t)(at + 1)) % 255);
            if (at >= 0)
                v[at] = k[at] = 0;
            char why[200], want[120];
            tsagg_attr a = {.key = "page", .key_len = 4, .type = TSAGG_STR, .v.s = {v, (uint32_t)len}};
            tsagg_event ev = {.ts = T0, .merchant = 1, .event = v, .event_len = (uint32_t)len,
                              .attrs = &a, .nattrs = 1};
            /* The name first, then the value (the name made valid). */
            int rc = tsagg_event_check(&ev, why, sizeof why);
            cr_assert_eq(rc, at < 0 ? 0 : TSAGG_EINPUT, "name of %zu bytes, NUL at %ld", len, at);
            if (at >= 0)
                cr_assert_str_eq(why, "event name holds a NUL byte");
            expect_append(st, &ev, at, "event name holds a NUL byte");
            ev.event = "ok";
            ev.event_len = 2;
            rc = tsagg_event_check(&ev, why, sizeof why);
            cr_assert_eq(rc, at < 0 ? 0 : TSAGG_EINPUT, "value of %zu bytes, NUL at %ld", len, at);
            snprintf(want, sizeof want, "the value holds a NUL byte at offset %ld", at);
            if (at >= 0)
                cr_assert(strstr(why, want), "\"%s\" for a NUL at %ld of %zu", why, at, len);
            expect_append(st, &ev, at, want);
            a = (tsagg_attr){.key = k, .key_len = (uint32_t)len, .type = TSAGG_INT, .v.i = 1};
            rc = tsagg_event_check(&ev, why, sizeof why);
            cr_assert_eq(rc, at < 0 ? 0 : TSAGG_EINPUT, "key of %zu bytes, NUL at %ld", len, at);
            snprintf(want, sizeof want, "the key holds a NUL byte at offset %ld", at);
            if (at >= 0)
                cr_assert(strstr(why, want), "\"%s\" for a NUL at %ld of %zu", why, at, len);
            expect_append(st, &ev, at, want);
        }
        free(v);
        free(k);
    }
    close_ok(st);
}

/* The encoder looks for NUL bytes in a name or key once per record, when
 * the record first uses it, and a name equal to one used is not looked at
 * again: a key that differs only by a NUL (same length, same position, at
 * another address), or at the same address with another length, is still
 * refused and named. */
Test(log, nul_in_a_key_like_one_already_used_is_refused)
{
    cfg c = {.backend = TSAGG_IO_PWRITE};
    tsagg_store *st = open_writer(&c);
    static const char page[] = "page", nul_page[] = "p\0ge", pages[] = "pa\0es";
    tsagg_attr ok[2] = {{.key = page, .key_len = 4, .type = TSAGG_INT, .v.i = 1},
                        {.key = "os", .key_len = 2, .type = TSAGG_INT, .v.i = 2}};
    tsagg_attr bad_at[3][2] = {
        {{.key = nul_page, .key_len = 4, .type = TSAGG_INT}, ok[1]},
        {ok[1], {.key = nul_page, .key_len = 4, .type = TSAGG_INT}},
        {{.key = pages, .key_len = 5, .type = TSAGG_INT}, ok[1]},
    };
    const char *why[3] = {"attribute 'p?ge': the key holds a NUL byte at offset 1",
                          "attribute 'p?ge': the key holds a NUL byte at offset 1",
                          "attribute 'pa?es': the key holds a NUL byte at offset 2"};
    /* Same address as "page", longer: past its end lies its NUL. */
    tsagg_attr longer[2] = {{.key = page, .key_len = 5, .type = TSAGG_INT}, ok[1]};
    for (size_t i = 0; i < 4; i++) {
        tsagg_event batch[3];
        for (size_t e = 0; e < 3; e++)
            batch[e] = (tsagg_event){.ts = T0, .merchant = 1, .event = "ok", .event_len = 2,
                                     .attrs = ok, .nattrs = 2};
        batch[2].attrs = i < 3 ? bad_at[i] : longer;
        cr_assert_eq(tsagg_append(st, batch, 3, NULL), TSAGG_EINPUT, "case %zu", i);
        char msg[512];
        tsagg_store_errmsg(st, msg, sizeof msg);
        const char *want = i < 3 ? why[i] : "attribute 'page?': the key holds a NUL byte at offset 4";
        cr_assert(strstr(msg, "event 2: ") && strstr(msg, want), "case %zu: \"%s\"", i, msg);
    }
    cr_assert_eq(tsagg_last_seq(st), 0, "nothing was appended");
    close_ok(st);
}

/* Sizes are checked before encoding, NUL bytes as the encoder copies the
 * strings: whichever way an event is refused, the error names the first
 * refused event of the call, also when it lies in a later record of the
 * call and when a later event of its record is refused by size. */
Test(log, first_refused_event_of_an_append_is_named)
{
    cfg c = {.backend = TSAGG_IO_PWRITE};
    tsagg_store *st = open_writer(&c);
    static char big[1000];
    memset(big, 'v', sizeof big);
    tsagg_attr ok = {.key = "page", .key_len = 4, .type = TSAGG_STR, .v.s = {big, sizeof big}};
    tsagg_attr nul_value = {.key = "page", .key_len = 4, .type = TSAGG_STR, .v.s = {"a\0b", 3}};
    tsagg_attr long_key = {.key = big, .key_len = 65, .type = TSAGG_INT};
    static tsagg_event batch[3000];
    const struct {
        size_t nul_at, long_at; /* 0: none */
        size_t want;
        const char *why;
    } cases[] = {
        {5, 9, 5, "the value holds a NUL byte at offset 1"},
        {9, 5, 5, "attribute key must be 1..64 bytes"},
        {2900, 2950, 2900, "the value holds a NUL byte at offset 1"}, /* a later record */
        {2950, 2900, 2900, "attribute key must be 1..64 bytes"},
        {2999, 0, 2999, "the value holds a NUL byte at offset 1"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        for (size_t i = 0; i < 3000; i++)
            batch[i] = (tsagg_event){.ts = T0, .merchant = 1, .event = "ok", .event_len = 2,
                                     .attrs = &ok, .nattrs = 1};
        batch[cases[k].nul_at].attrs = &nul_value;
        if (cases[k].long_at)
            batch[cases[k].long_at].attrs = &long_key;
        cr_assert_eq(tsagg_append(st, batch, 3000, NULL), TSAGG_EINPUT, "case %zu", k);
        char msg[512], want[64];
        tsagg_store_errmsg(st, msg, sizeof msg);
        snprintf(want, sizeof want, "event %zu: ", cases[k].want);
        cr_assert(strstr(msg, want) && strstr(msg, cases[k].why), "case %zu: \"%s\"", k, msg);
    }
    cr_assert_eq(tsagg_last_seq(st), 0, "nothing was appended");
    close_ok(st);
}

/* The encoder copies each string value a word at a time as it tests it for
 * NUL bytes (shortmem.h): records of values of every length through the
 * word paths and past them, under names whose number and sizes change from
 * record to record, read back whole. */
Test(log, records_whose_names_change_size_read_back)
{
    cfg c = {.backend = TSAGG_IO_PWRITE};
    tsagg_store *st = open_writer(&c);
    static char keys[5][200], vals[40];
    for (size_t i = 0; i < sizeof vals; i++)
        vals[i] = (char)('a' + i % 26);
    static tsagg_event want[400];
    static tsagg_attr attrs[400][5];
    size_t n = 0;
    /* Names of 1, 5, 5, 1, 3 keys of 1..64 bytes: heads of other sizes. */
    const uint32_t nkeys[] = {1, 5, 5, 1, 3, 0, 2};
    for (size_t r = 0; r < sizeof nkeys / sizeof nkeys[0]; r++) {
        size_t first = n;
        for (size_t e = 0; e < 41; e++, n++) {
            for (uint32_t k = 0; k < nkeys[r]; k++) {
                uint32_t klen = 1 + (uint32_t)((r * 13 + k * 29) % 64);
                memset(keys[k], 'k' + (int)k, klen);
                attrs[n][k] = (tsagg_attr){.key = keys[k], .key_len = klen, .type = TSAGG_STR,
                                           .v.s = {vals, (uint32_t)((e + k) % 41)}};
            }
            want[n] = (tsagg_event){.ts = T0 + (int64_t)n, .merchant = r, .event = "ev",
                                    .event_len = 2, .attrs = attrs[n], .nattrs = nkeys[r]};
        }
        cr_assert_eq(tsagg_append(st, want + first, n - first, NULL), 0, "record %zu", r);
    }
    cr_assert_eq(tsagg_flush(st), 0);
    expect_events(st, want, n, 1);
    close_ok(st);
}

/* A ts no partition can hold (outside the years 0000-9999) would stop
 * every later compaction: refused at append, naming the field and the
 * range; the range's first and last microseconds are accepted. */
Test(log, ts_outside_partitions_is_refused_naming_the_range)
{
    cfg c = {.backend = TSAGG_IO_PWRITE};
    tsagg_store *st = open_writer(&c);
    tsagg_event good = {.ts = T0, .merchant = 1, .event = "ok", .event_len = 2};
    const int64_t bad_ts[] = {INT64_MIN, TSAGG_TS_MIN - 1, TSAGG_TS_END, INT64_MAX,
                              INT64_C(-99999999999999) * 1000};
    for (size_t i = 0; i < sizeof bad_ts / sizeof bad_ts[0]; i++) {
        tsagg_event batch[2] = {good, good};
        batch[1].ts = bad_ts[i];
        char why[256], want[64];
        cr_assert_eq(tsagg_event_check(&batch[1], why, sizeof why), TSAGG_EINPUT);
        snprintf(want, sizeof want, "ts: %" PRId64 " is outside", bad_ts[i]);
        cr_assert(strstr(why, want) && strstr(why, "-62167219200000000") &&
                      strstr(why, "253402300800000000"),
                  "\"%s\"", why);
        cr_assert_eq(tsagg_append(st, batch, 2, NULL), TSAGG_EINPUT, "case %zu", i);
        char msg[512];
        tsagg_store_errmsg(st, msg, sizeof msg);
        cr_assert(strstr(msg, "event 1: ") && strstr(msg, want), "\"%s\"", msg);
    }
    cr_assert_eq(tsagg_last_seq(st), 0, "nothing was appended");
    tsagg_event edges[2] = {good, good};
    edges[0].ts = TSAGG_TS_MIN;
    edges[1].ts = TSAGG_TS_END - 1;
    cr_assert_eq(tsagg_append(st, edges, 2, NULL), 0);
    close_ok(st);
}

/* ---- sequence numbers ----------------------------------------------------------------- */

Test(log, sequence_numbers_without_gaps)
{
    cfg c = {.backend = TSAGG_IO_AUTO};
    tsagg_store *st = open_writer(&c);
    cr_assert_eq(tsagg_last_seq(st), 0);
    cr_assert_eq(tsagg_durable_seq(st), 0);
    static const size_t sizes[] = {1, 1, 2, 3, 5, 8, 13, 100, 1, 1000, 7, 4096, 1};
    uint64_t k = 1;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint64_t seq = append_gen(st, k, sizes[i]);
        cr_assert_eq(seq, k, "append %zu: first_seq %" PRIu64 ", want %" PRIu64, i, seq, k);
        k += sizes[i];
        cr_assert_eq(tsagg_last_seq(st), k - 1);
    }
    /* first_seq may be NULL. */
    gen_ev g;
    gen(k, &g);
    cr_assert_eq(tsagg_append(st, &g.ev, 1, NULL), 0);
    cr_assert_eq(tsagg_last_seq(st), k);
    expect_all_seq_keyed(st, k);
    close_ok(st);
    st = open_reader_handle();
    expect_all_seq_keyed(st, k);
    close_ok(st);
}

/* ---- segments ------------------------------------------------------------------------ */

/* The segments of a store: sealed but the last, contiguous seq ranges from
 * 1 to `last`, numbers from 1, ts ranges matching the generated events,
 * sizes matching the files. Returns the count; infos in *out (malloc'ed). */
static int check_segments_ex(tsagg_store *st, uint64_t last, int last_sealed, int check_ts,
                             tsagg_segment_info **out)
{
    int n = tsagg_log_segments(st, NULL, 0);
    cr_assert_geq(n, 0, "tsagg_log_segments: %s", tsagg_strerror(n));
    tsagg_segment_info *si = calloc((size_t)n + 1, sizeof *si);
    int n2 = tsagg_log_segments(st, si, (size_t)n + 1);
    cr_assert_eq(n2, n);
    uint64_t next = 1;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(si[i].number, (uint64_t)i + 1, "segment %d numbered %" PRIu64, i,
                     si[i].number);
        /* last_sealed < 0: the last may be either. */
        int should_seal = i + 1 < n || last_sealed > 0;
        if (i + 1 < n || last_sealed >= 0)
            cr_assert_eq(si[i].sealed, (uint32_t)should_seal, "segment %" PRIu64 " sealed=%u",
                         si[i].number, si[i].sealed);
        cr_assert_eq(si[i].first_seq, next, "segment %" PRIu64 " first_seq %" PRIu64 " want %" PRIu64,
                     si[i].number, si[i].first_seq, next);
        cr_assert_geq(si[i].last_seq + 1, si[i].first_seq);
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        for (uint64_t s = si[i].first_seq; check_ts && s <= si[i].last_seq; s++) {
            gen_ev g;
            gen(s, &g);
            lo = g.ev.ts < lo ? g.ev.ts : lo;
            hi = g.ev.ts > hi ? g.ev.ts : hi;
        }
        if (si[i].last_seq >= si[i].first_seq && !check_ts) {
            cr_assert_leq(si[i].min_ts, si[i].max_ts);
        } else if (si[i].last_seq >= si[i].first_seq) {
            cr_assert_eq(si[i].min_ts, lo, "segment %" PRIu64 " min_ts", si[i].number);
            cr_assert_eq(si[i].max_ts, hi, "segment %" PRIu64 " max_ts", si[i].number);
        } else {
            cr_assert_gt(si[i].min_ts, si[i].max_ts, "empty segment: min_ts > max_ts");
        }
        char path[800];
        snprintf(path, sizeof path, "%s/log/%016" PRIx64 ".tlog", tu_store, si[i].number);
        struct stat sb;
        cr_assert_eq(stat(path, &sb), 0, "%s exists", path);
        cr_assert_eq(si[i].bytes, (uint64_t)sb.st_size, "segment %" PRIu64 " bytes", si[i].number);
        next = si[i].last_seq + 1;
    }
    cr_assert_eq(next, last + 1, "segments end at seq %" PRIu64 ", want %" PRIu64, next - 1, last);
    if (out)
        *out = si;
    else
        free(si);
    return n;
}

static int check_segments(tsagg_store *st, uint64_t last, int last_sealed,
                          tsagg_segment_info **out)
{
    return check_segments_ex(st, last, last_sealed, 1, out);
}

BOTH_BACKENDS(segment_rolling)
{
    cfg c = {.backend = backend, .frame_bytes = 4096, .segment_bytes = 64u << 10};
    tsagg_store *st = open_writer(&c);
    cr_assert_eq(tsagg_log_segments(st, NULL, 0), 0, "a new store has no segments");
    uint64_t k = 1;
    const uint64_t total = 12000;
    static const size_t sizes[] = {40, 1, 13, 200, 7, 64};
    for (size_t i = 0; k <= total; i++) {
        size_t n = sizes[i % 6];
        if (k + n > total + 1)
            n = (size_t)(total + 1 - k);
        cr_assert_eq(append_gen(st, k, n), k);
        k += n;
    }
    cr_assert_eq(tsagg_durable_seq(st), total);
    tsagg_segment_info *si;
    int n = check_segments(st, total, 0, &si);
    cr_assert_geq(n, 3, "only %d segments for %" PRIu64 " events in 64 KiB segments", n, total);
    for (int i = 0; i + 1 < n; i++)
        cr_assert_leq(si[i].bytes, c.segment_bytes, "segment %" PRIu64 " has %" PRIu64 " bytes",
                      si[i].number, si[i].bytes);
    for (int i = 0; i < n; i++)
        cr_assert_eq(si[i].archived, 0);
    cr_log_info("%d segments for %" PRIu64 " events", n, total);
    expect_all_seq_keyed(st, total);

    /* Reopen: same segments, the last still open, the sequence continues in
     * it (or its successor if it is full). */
    close_ok(st);
    st = open_reader_handle();
    free(si);
    cr_assert_eq(check_segments(st, total, 0, NULL), n);
    expect_all_seq_keyed(st, total);
    close_ok(st);
    st = open_writer(&c);
    cr_assert_eq(tsagg_last_seq(st), total);
    cr_assert_eq(tsagg_durable_seq(st), total);
    cr_assert_eq(append_gen(st, total + 1, 5), total + 1);
    int n3 = check_segments(st, total + 5, 0, NULL);
    cr_assert(n3 == n || n3 == n + 1);
    expect_all_seq_keyed(st, total + 5);
    close_ok(st);
}

Test(log, reopen_appends_to_the_same_segment)
{
    cfg c = {.backend = TSAGG_IO_AUTO};
    tsagg_store *st = open_writer(&c);
    cr_assert_eq(append_gen(st, 1, 100), 1);
    close_ok(st);
    tsagg_segment_info a[4] = {{.struct_size = sizeof(tsagg_segment_info)}}, b[4] = {{.struct_size = sizeof(tsagg_segment_info)}};
    st = open_reader_handle();
    cr_assert_eq(tsagg_log_segments(st, a, 4), 1);
    close_ok(st);
    cr_assert_eq(a[0].sealed, 0, "close does not seal");
    cr_assert_eq(a[0].last_seq, 100);
    for (int round = 0; round < 3; round++) {
        st = open_writer(&c);
        uint64_t base = 100 + 50 * (uint64_t)round;
        cr_assert_eq(tsagg_last_seq(st), base);
        cr_assert_eq(append_gen(st, base + 1, 50), base + 1);
        cr_assert_eq(tsagg_log_segments(st, b, 4), 1, "still one segment");
        cr_assert_eq(b[0].number, 1);
        cr_assert_eq(b[0].first_seq, 1);
        cr_assert_eq(b[0].last_seq, base + 50);
        cr_assert_gt(b[0].bytes, a[0].bytes, "the same file grew");
        a[0] = b[0];
        close_ok(st);
    }
    char path[800];
    snprintf(path, sizeof path, "%s/log/%016x.tlog", tu_store, 2);
    cr_assert_neq(access(path, F_OK), 0, "no second segment");
    st = open_reader_handle();
    expect_all_seq_keyed(st, 250);
    close_ok(st);
}

Test(log, roll_seals)
{
    cfg c = {.backend = TSAGG_IO_AUTO};
    tsagg_store *st = open_writer(&c);
    /* Rolling an empty log creates nothing. */
    cr_assert_eq(tsagg_log_roll(st), 0);
    cr_assert_eq(tsagg_log_segments(st, NULL, 0), 0);
    cr_assert_eq(append_gen(st, 1, 30), 1);
    cr_assert_eq(tsagg_log_roll(st), 0);
    check_segments(st, 30, 1, NULL);
    cr_assert_eq(tsagg_log_segments(st, NULL, 0), 1);
    /* Rolling again without new events: no empty segment. */
    cr_assert_eq(tsagg_log_roll(st), 0);
    cr_assert_eq(tsagg_log_segments(st, NULL, 0), 1);
    cr_assert_eq(append_gen(st, 31, 10), 31);
    cr_assert_eq(check_segments(st, 40, 0, NULL), 2);
    cr_assert_eq(tsagg_log_roll(st), 0);
    cr_assert_eq(check_segments(st, 40, 1, NULL), 2);
    close_ok(st);
    /* After reopening, a sealed last segment gets a successor. */
    st = open_writer(&c);
    cr_assert_eq(check_segments(st, 40, 1, NULL), 2);
    cr_assert_eq(append_gen(st, 41, 10), 41);
    cr_assert_eq(check_segments(st, 50, 0, NULL), 3);
    expect_all_seq_keyed(st, 50);
    close_ok(st);
    st = open_reader_handle();
    cr_assert_eq(check_segments(st, 50, 0, NULL), 3);
    expect_all_seq_keyed(st, 50);
    close_ok(st);
}

/* ---- reader ranges ----------------------------------------------------------------- */

static void check_range(tsagg_store *st, uint64_t total, const tsagg_log_range *r)
{
    uint64_t *want = malloc((total + 1) * sizeof *want), *got = malloc((total + 1) * sizeof *got);
    size_t nw = 0;
    for (uint64_t s = 1; s <= total; s++) {
        gen_ev g;
        gen(s, &g);
        if (s >= r->from_seq && s < r->to_seq && g.ev.ts >= r->ts_from && g.ev.ts < r->ts_to)
            want[nw++] = s;
    }
    size_t ng = read_check_seq_keyed(st, r, got, total + 1);
    cr_assert_eq(ng, nw,
                 "range seq [%" PRIu64 ", %" PRIu64 ") ts [%" PRId64 ", %" PRId64
                 "): %zu events, want %zu",
                 r->from_seq, r->to_seq, r->ts_from, r->ts_to, ng, nw);
    for (size_t i = 0; i < nw; i++)
        cr_assert_eq(got[i], want[i], "range seq [%" PRIu64 ", %" PRIu64 "): position %zu",
                     r->from_seq, r->to_seq, i);
    free(want);
    free(got);
}

Test(log, reader_ranges)
{
    cfg c = {.backend = TSAGG_IO_AUTO, .frame_bytes = 4096, .segment_bytes = 64u << 10};
    tsagg_store *st = open_writer(&c);
    const uint64_t total = 6000;
    for (uint64_t k = 1; k <= total; k += 100)
        append_gen(st, k, 100);
    int nseg = tsagg_log_segments(st, NULL, 0);
    cr_assert_geq(nseg, 3, "several segments wanted, got %d", nseg);
    tsagg_segment_info *si;
    check_segments(st, total, 0, &si);

    tsagg_log_range r;
    tsagg_log_range_init(&r);
    cr_assert_eq(r.from_seq, 1);
    cr_assert_eq(r.to_seq, UINT64_MAX);
    cr_assert_eq(r.ts_from, INT64_MIN);
    cr_assert_eq(r.ts_to, INT64_MAX);
    check_range(st, total, &r);

    /* Sequence ranges, including segment and frame boundaries. */
    uint64_t b1 = si[0].last_seq, b2 = si[1].last_seq;
    uint64_t seq_cases[][2] = {
        {1, 1},          {1, 2},           {0, 5},          {5, 5},          {6, 5},
        {total, total + 1}, {total, UINT64_MAX}, {total + 1, UINT64_MAX}, {UINT64_MAX, UINT64_MAX},
        {b1, b1 + 1},    {b1 + 1, b1 + 2}, {b1, b2 + 2},    {b2 + 1, UINT64_MAX}, {1, b1 + 1},
        {1234, 4321},    {101, 201},       {100, 101},      {2, total},
    };
    for (size_t i = 0; i < sizeof seq_cases / sizeof seq_cases[0]; i++) {
        tsagg_log_range_init(&r);
        r.from_seq = seq_cases[i][0];
        r.to_seq = seq_cases[i][1];
        check_range(st, total, &r);
    }

    /* Time ranges at exact event times, empty and inverted ones. */
    gen_ev g1, g2;
    gen(10, &g1);
    gen(4000, &g2);
    int64_t lo = g1.ev.ts < g2.ev.ts ? g1.ev.ts : g2.ev.ts;
    int64_t hi = g1.ev.ts < g2.ev.ts ? g2.ev.ts : g1.ev.ts;
    int64_t ts_cases[][2] = {
        {lo, hi},         {lo, hi + 1},          {lo + 1, hi},       {lo, lo},
        {lo, lo + 1},     {hi, lo},              {INT64_MIN, T0},    {T0, INT64_MAX},
        {T0 - 3600000000LL, T0 + 3600000000LL}, {INT64_MIN, INT64_MIN + 1},
        {T0 + 86400000000LL, INT64_MAX},        {INT64_MIN, T0 - 86400000000LL + 1},
    };
    for (size_t i = 0; i < sizeof ts_cases / sizeof ts_cases[0]; i++) {
        tsagg_log_range_init(&r);
        r.ts_from = ts_cases[i][0];
        r.ts_to = ts_cases[i][1];
        check_range(st, total, &r);
    }
    /* Exactly one event by its time. */
    tsagg_log_range_init(&r);
    r.ts_from = g1.ev.ts;
    r.ts_to = g1.ev.ts + 1;
    uint64_t one[4];
    size_t n1 = read_check_seq_keyed(st, &r, one, 4);
    cr_assert_geq(n1, 1);
    int found = 0;
    for (size_t i = 0; i < n1; i++)
        found |= one[i] == 10;
    cr_assert(found);

    /* Random combinations. */
    uint64_t x = 7;
    for (int i = 0; i < 40; i++) {
        x = tu_mix64(x);
        tsagg_log_range_init(&r);
        r.from_seq = 1 + x % total;
        r.to_seq = r.from_seq + (x >> 20) % 3000;
        x = tu_mix64(x);
        r.ts_from = T0 - 86400000000LL + (int64_t)(x % 172800000000ull);
        r.ts_to = r.ts_from + (int64_t)((x >> 17) % 40000000000ull);
        if (i % 4 == 0)
            r.from_seq = 1, r.to_seq = UINT64_MAX;
        if (i % 4 == 1)
            r.ts_from = INT64_MIN, r.ts_to = INT64_MAX;
        check_range(st, total, &r);
    }
    /* NULL range is everything; the writer's and a reader's handle agree. */
    expect_all_seq_keyed(st, total);
    close_ok(st);
    st = open_reader_handle();
    tsagg_log_range_init(&r);
    r.from_seq = b1;
    r.to_seq = b2 + 3;
    r.ts_from = T0 - 3600000000LL;
    r.ts_to = T0 + 7200000000LL;
    check_range(st, total, &r);
    close_ok(st);
    free(si);
}

/* ---- concurrent appenders ----------------------------------------------------------------- */

#define NTHREADS 4
#define APPENDS_PER_THREAD 260

typedef struct appender {
    pthread_t tid;
    tsagg_store *st;
    int t;
    unsigned sync_mode;
    uint64_t events;  /* appended */
    uint64_t *first;  /* first_seq of each append */
    uint32_t *count;  /* events of each append */
    int calls;
    int err;          /* first failure */
    char why[256];
} appender;

static const size_t batch_sizes[] = {1, 3, 17, 64, 2, 250, 5, 1, 33, 128};
#define BIG_BATCH 3000

static uint64_t thread_key(int t, uint64_t counter)
{
    return (uint64_t)(t + 1) << 32 | counter;
}

static void *appender_main(void *arg)
{
    appender *a = arg;
    gen_ev *g = malloc(BIG_BATCH * sizeof *g);
    tsagg_event *evs = malloc(BIG_BATCH * sizeof *evs);
    uint64_t counter = 0;
    for (int i = 0; i < APPENDS_PER_THREAD && !a->err; i++) {
        size_t n = batch_sizes[(size_t)(i + a->t) % (sizeof batch_sizes / sizeof batch_sizes[0])];
        /* Now and then a call big enough to span several records/frames. */
        if (i % 64 == 7 + a->t)
            n = BIG_BATCH;
        for (size_t j = 0; j < n; j++) {
            gen(thread_key(a->t, counter + j), &g[j]);
            evs[j] = g[j].ev;
        }
        uint64_t seq = 0;
        int rc = tsagg_append(a->st, evs, n, &seq);
        if (rc != 0) {
            a->err = rc;
            snprintf(a->why, sizeof a->why, "append %d: %s", i, tsagg_strerror(rc));
            break;
        }
        if (a->sync_mode == TSAGG_SYNC_BATCH && tsagg_durable_seq(a->st) < seq + n - 1) {
            a->err = -1;
            snprintf(a->why, sizeof a->why,
                     "BATCH append returned before durable: durable %" PRIu64 " < %" PRIu64,
                     tsagg_durable_seq(a->st), seq + n - 1);
            break;
        }
        a->first[a->calls] = seq;
        a->count[a->calls] = (uint32_t)n;
        a->calls++;
        counter += n;
    }
    a->events = counter;
    free(g);
    free(evs);
    return NULL;
}

typedef struct roller {
    pthread_t tid;
    tsagg_store *st;
    atomic_int stop;
    int rolls, err;
} roller;

static void *roller_main(void *arg)
{
    roller *r = arg;
    while (!atomic_load(&r->stop) && !r->err) {
        int rc = tsagg_log_roll(r->st);
        if (rc != 0)
            r->err = rc;
        r->rolls++;
        usleep(3000);
    }
    return NULL;
}

/* 4 appenders (and with `roll` a thread rolling the log every few ms). */
static void concurrent_appenders(unsigned backend, unsigned sync_mode, int roll)
{
    cfg c = {.backend = backend, .sync_mode = sync_mode, .interval_ms = 5,
             .frame_bytes = 16u << 10, .segment_bytes = 1u << 20};
    tsagg_store *st = open_writer(&c);
    static appender ap[NTHREADS];
    memset(ap, 0, sizeof ap);
    double t0 = now_s();
    for (int t = 0; t < NTHREADS; t++) {
        ap[t] = (appender){.st = st, .t = t, .sync_mode = sync_mode,
                           .first = calloc(APPENDS_PER_THREAD, sizeof(uint64_t)),
                           .count = calloc(APPENDS_PER_THREAD, sizeof(uint32_t))};
        cr_assert_eq(pthread_create(&ap[t].tid, NULL, appender_main, &ap[t]), 0);
    }
    static roller rl;
    memset(&rl, 0, sizeof rl);
    rl.st = st;
    if (roll)
        cr_assert_eq(pthread_create(&rl.tid, NULL, roller_main, &rl), 0);
    uint64_t total = 0;
    for (int t = 0; t < NTHREADS; t++) {
        pthread_join(ap[t].tid, NULL);
        cr_assert_eq(ap[t].err, 0, "thread %d: %s", t, ap[t].why);
        total += ap[t].events;
    }
    if (roll) {
        atomic_store(&rl.stop, 1);
        pthread_join(rl.tid, NULL);
        cr_assert_eq(rl.err, 0, "tsagg_log_roll: %s", tsagg_strerror(rl.err));
    }
    double t_append = now_s() - t0;
    cr_assert_eq(tsagg_last_seq(st), total);
    if (sync_mode == TSAGG_SYNC_BATCH) {
        cr_assert_eq(tsagg_durable_seq(st), total);
    } else if (sync_mode == TSAGG_SYNC_INTERVAL) {
        double w0 = now_s();
        cr_assert_eq(tsagg_wait_durable(st, total, 1000), 0,
                     "INTERVAL: not durable within a second");
        cr_assert_lt(now_s() - w0, 1.5);
    } else {
        cr_assert_eq(tsagg_flush(st), 0);
    }
    cr_assert_eq(tsagg_durable_seq(st), total);

    /* The appends' sequence numbers: per thread increasing, all together a
     * partition of 1..total. */
    uint8_t *owner = calloc(total + 1, 1);
    for (int t = 0; t < NTHREADS; t++) {
        uint64_t prev_end = 0;
        for (int i = 0; i < ap[t].calls; i++) {
            uint64_t f = ap[t].first[i];
            cr_assert_gt(f, prev_end, "thread %d: append %d got seq %" PRIu64 " after %" PRIu64, t,
                         i, f, prev_end);
            cr_assert_leq(f + ap[t].count[i] - 1, total);
            for (uint64_t s = f; s < f + ap[t].count[i]; s++) {
                cr_assert_eq(owner[s], 0, "seq %" PRIu64 " handed out twice", s);
                owner[s] = (uint8_t)(t + 1);
            }
            prev_end = f + ap[t].count[i] - 1;
        }
    }
    for (uint64_t s = 1; s <= total; s++)
        cr_assert_neq(owner[s], 0, "seq %" PRIu64 " never handed out", s);

    /* The log: every event exactly once, intact, at the seq its append got,
     * each thread's in counter order, seqs contiguous. */
    tsagg_store *handles[2] = {st, NULL};
    for (int h = 0; h < 2; h++) {
        if (h == 1) {
            close_ok(st);
            handles[1] = open_reader_handle();
        }
        uint64_t next_counter[NTHREADS] = {0};
        tsagg_log_reader *rd;
        cr_assert_eq(tsagg_log_reader_open(handles[h], NULL, &rd), 0);
        const tsagg_event *ev;
        uint64_t seq, expect = 1;
        int rc;
        char why[256];
        /* Map each thread's seqs in order to its counters. */
        int ci[NTHREADS] = {0};
        uint64_t co[NTHREADS] = {0};
        while ((rc = tsagg_log_reader_next(rd, &ev, &seq)) == 1) {
            cr_assert_eq(seq, expect, "seq %" PRIu64 " after %" PRIu64, seq, expect - 1);
            expect++;
            if (check_generated(ev, why, sizeof why))
                cr_assert_fail("seq %" PRIu64 ": %s", seq, why);
            int t = (int)(ev->session >> 32) - 1;
            uint64_t counter = ev->session & 0xffffffffu;
            cr_assert(t >= 0 && t < NTHREADS, "seq %" PRIu64 ": bad thread %d", seq, t);
            cr_assert_eq(owner[seq], t + 1, "seq %" PRIu64 " belongs to thread %d, holds thread %d",
                         seq, owner[seq] - 1, t);
            cr_assert_eq(counter, next_counter[t],
                         "thread %d: counter %" PRIu64 " where %" PRIu64 " was due (seq %" PRIu64 ")",
                         t, counter, next_counter[t], seq);
            next_counter[t]++;
            /* And it sits where its append said. */
            while (co[t] + ap[t].count[ci[t]] <= counter)
                co[t] += ap[t].count[ci[t]++];
            cr_assert_eq(seq, ap[t].first[ci[t]] + (counter - co[t]));
        }
        cr_assert_eq(rc, 0, "reader: %s", tsagg_strerror(rc));
        cr_assert_eq(expect - 1, total, "read %" PRIu64 " events, want %" PRIu64, expect - 1, total);
        for (int t = 0; t < NTHREADS; t++)
            cr_assert_eq(next_counter[t], ap[t].events, "thread %d: %" PRIu64 " of %" PRIu64, t,
                         next_counter[t], ap[t].events);
        tsagg_log_reader_close(rd);
    }
    int nseg = check_segments_ex(handles[1], total, roll ? -1 : 0, 0, NULL);
    cr_assert_geq(nseg, 2, "1 MiB segments: the log rolled under concurrency (%d)", nseg);
    if (roll)
        cr_log_info("%d rolls, %d segments", rl.rolls, nseg);
    close_ok(handles[1]);
    cr_log_info("%s, %s: %" PRIu64 " events by %d threads in %.3f s",
                backend == TSAGG_IO_URING ? "io_uring" : "pwrite",
                sync_mode == 0 ? "BATCH" : sync_mode == 1 ? "INTERVAL" : "NONE", total, NTHREADS,
                t_append);
    free(owner);
    for (int t = 0; t < NTHREADS; t++) {
        free(ap[t].first);
        free(ap[t].count);
    }
}

BOTH_BACKENDS(concurrent_batch)
{
    concurrent_appenders(backend, TSAGG_SYNC_BATCH, 0);
}

BOTH_BACKENDS(concurrent_interval)
{
    concurrent_appenders(backend, TSAGG_SYNC_INTERVAL, 0);
}

BOTH_BACKENDS(concurrent_none)
{
    concurrent_appenders(backend, TSAGG_SYNC_NONE, 0);
}

BOTH_BACKENDS(concurrent_batch_rolling)
{
    concurrent_appenders(backend, TSAGG_SYNC_BATCH, 1);
}

BOTH_BACKENDS(concurrent_none_rolling)
{
    concurrent_appenders(backend, TSAGG_SYNC_NONE, 1);
}

/* ---- durability semantics ------------------------------------------------------------ */

BOTH_BACKENDS(durable_batch)
{
    cfg c = {.backend = backend, .sync_mode = TSAGG_SYNC_BATCH};
    tsagg_store *st = open_writer(&c);
    cr_assert_eq(tsagg_wait_durable(st, 0, 0), 0, "seq 0 is always durable");
    uint64_t k = 1;
    for (int i = 0; i < 50; i++) {
        size_t n = 1 + (size_t)i % 9;
        uint64_t seq = append_gen(st, k, n);
        cr_assert_eq(seq, k);
        cr_assert_geq(tsagg_durable_seq(st), seq + n - 1);
        cr_assert_eq(tsagg_wait_durable(st, seq + n - 1, 0), 0);
        k += n;
    }
    cr_assert_eq(tsagg_flush(st), 0);
    cr_assert_eq(tsagg_durable_seq(st), k - 1);
    cr_assert_eq(tsagg_wait_durable(st, k, 10), TSAGG_ETIMEDOUT, "a future seq is not durable");
    close_ok(st);
    /* After reopening, everything is durable. */
    st = open_writer(&c);
    cr_assert_eq(tsagg_durable_seq(st), k - 1);
    cr_assert_eq(tsagg_last_seq(st), k - 1);
    close_ok(st);
}

BOTH_BACKENDS(durable_interval)
{
    cfg c = {.backend = backend, .sync_mode = TSAGG_SYNC_INTERVAL, .interval_ms = 5};
    tsagg_store *st = open_writer(&c);
    uint64_t k = 1;
    for (int i = 0; i < 20; i++) {
        uint64_t seq = append_gen(st, k, 10);
        k += 10;
        double t0 = now_s();
        int rc = tsagg_wait_durable(st, seq + 9, 1000);
        double dt = now_s() - t0;
        cr_assert_eq(rc, 0, "INTERVAL: wait_durable: %s after %.3f s", tsagg_strerror(rc), dt);
        cr_assert_lt(dt, 1.0);
        cr_assert_geq(tsagg_durable_seq(st), seq + 9);
    }
    /* Without waiting, the interval thread gets there by itself. */
    uint64_t seq = append_gen(st, k, 3);
    double t0 = now_s();
    while (tsagg_durable_seq(st) < seq + 2 && now_s() - t0 < 1.0)
        usleep(1000);
    cr_assert_geq(tsagg_durable_seq(st), seq + 2, "INTERVAL: not durable after a second");
    /* Waiting forever (timeout < 0) returns as well. */
    seq = append_gen(st, k + 3, 3);
    cr_assert_eq(tsagg_wait_durable(st, seq + 2, -1), 0);
    close_ok(st);
}

BOTH_BACKENDS(durable_none)
{
    cfg c = {.backend = backend, .sync_mode = TSAGG_SYNC_NONE};
    tsagg_store *st = open_writer(&c);
    uint64_t seq = append_gen(st, 1, 20);
    cr_assert_eq(seq, 1);
    cr_assert_eq(tsagg_durable_seq(st), 0, "NONE: nothing durable before a flush");
    cr_assert_eq(tsagg_wait_durable(st, 20, 0), TSAGG_ETIMEDOUT);
    double t0 = now_s();
    cr_assert_eq(tsagg_wait_durable(st, 1, 30), TSAGG_ETIMEDOUT);
    double dt = now_s() - t0;
    cr_assert_geq(dt, 0.025, "the timeout was waited (%.3f s)", dt);
    cr_assert_lt(dt, 1.0);
    usleep(20000);
    cr_assert_eq(tsagg_wait_durable(st, 20, 10), TSAGG_ETIMEDOUT, "still not durable");
    cr_assert_eq(tsagg_flush(st), 0);
    cr_assert_eq(tsagg_durable_seq(st), 20);
    cr_assert_eq(tsagg_wait_durable(st, 20, 0), 0);
    /* Again: a second batch is not durable until the next flush. */
    seq = append_gen(st, 21, 5);
    cr_assert_eq(seq, 21);
    cr_assert_eq(tsagg_durable_seq(st), 20);
    cr_assert_eq(tsagg_wait_durable(st, 25, 10), TSAGG_ETIMEDOUT);
    cr_assert_eq(tsagg_wait_durable(st, 20, 10), 0);
    cr_assert_eq(tsagg_flush(st), 0);
    cr_assert_eq(tsagg_wait_durable(st, 25, 0), 0);
    /* Events appended and not flushed are made durable by the close. */
    append_gen(st, 26, 5);
    close_ok(st);
    st = open_reader_handle();
    expect_all_seq_keyed(st, 30);
    close_ok(st);
}

/* ---- signals in the host ------------------------------------------------------------- */

/*
 * A host that catches signals without SA_RESTART and without blocking them
 * in the threads that append: a signal landing while a write or fsync is
 * awaited interrupts that wait (EINTR), which must never surface as a
 * write failure (the writer's failures are sticky).
 */
static atomic_uint g_signals_taken;

static void count_signal(int sig)
{
    (void)sig;
    atomic_fetch_add(&g_signals_taken, 1);
}

typedef struct signaller {
    pthread_t target; /* the appending thread */
    atomic_int stop;
    unsigned sent;
} signaller;

/* Signal the appending thread and the process (any thread of the library
 * not blocking it) in turn, every 20 us, until told to stop or 200,000
 * signals have been sent. */
static void *signaller_main(void *arg)
{
    signaller *s = arg;
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, NULL); /* never taken here */
    while (!atomic_load(&s->stop) && s->sent < 200000) {
        if (s->sent % 2)
            kill(getpid(), SIGUSR1);
        else
            pthread_kill(s->target, SIGUSR1);
        s->sent++;
        usleep(20);
    }
    return NULL;
}

BOTH_BACKENDS(appends_survive_signals)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = count_signal;
    sa.sa_flags = 0; /* no SA_RESTART: interrupted system calls fail with EINTR */
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGUSR1, &sa, &old), 0);

    cfg c = {.backend = backend, .sync_mode = TSAGG_SYNC_BATCH};
    tsagg_store *st = open_writer(&c);
    static signaller sg;
    memset(&sg, 0, sizeof sg);
    sg.target = pthread_self();
    atomic_store(&g_signals_taken, 0);
    pthread_t tid;
    cr_assert_eq(pthread_create(&tid, NULL, signaller_main, &sg), 0);
    /* Every append waits for its write and fsync: 600 waits to interrupt. */
    uint64_t k = 1;
    for (int i = 0; i < 600; i++) {
        size_t n = 1 + (size_t)i % 7;
        uint64_t seq = append_gen(st, k, n); /* fails the test on any error */
        cr_assert_eq(seq, k);
        cr_assert_geq(tsagg_durable_seq(st), seq + n - 1);
        k += n;
    }
    atomic_store(&sg.stop, 1);
    pthread_join(tid, NULL);
    unsigned taken = atomic_load(&g_signals_taken);
    cr_assert_gt(taken, 0, "no signal was taken: the test tried nothing");
    cr_log_info("%s: %u signals sent, %u taken during %" PRIu64 " appended events",
                backend == TSAGG_IO_URING ? "io_uring" : "pwrite", sg.sent, taken, k - 1);
    cr_assert_eq(tsagg_flush(st), 0);
    close_ok(st);
    cr_assert_eq(sigaction(SIGUSR1, &old, NULL), 0);
    st = open_reader_handle();
    expect_all_seq_keyed(st, k - 1);
    close_ok(st);
}

typedef struct waiter {
    tsagg_store *st;
    uint64_t seq;
    int rc;
    pthread_t tid;
} waiter;

static void *waiter_main(void *arg)
{
    waiter *w = arg;
    w->rc = tsagg_wait_durable(w->st, w->seq, -1);
    return NULL;
}

Test(log, wait_durable_wakes_up_on_flush)
{
    cfg c = {.backend = TSAGG_IO_AUTO, .sync_mode = TSAGG_SYNC_NONE};
    tsagg_store *st = open_writer(&c);
    append_gen(st, 1, 10);
    /* Waiters blocked without a timeout are woken by another thread's flush. */
    waiter w[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (waiter){.st = st, .seq = 10 - (uint64_t)i, .rc = 1};
        cr_assert_eq(pthread_create(&w[i].tid, NULL, waiter_main, &w[i]), 0);
    }
    usleep(30000);
    cr_assert_eq(tsagg_durable_seq(st), 0);
    cr_assert_eq(tsagg_flush(st), 0);
    for (int i = 0; i < 3; i++) {
        pthread_join(w[i].tid, NULL);
        cr_assert_eq(w[i].rc, 0);
    }
    close_ok(st);
}

/* ---- a reader beside a writer ---------------------------------------------------------- */

typedef struct writer_job {
    tsagg_store *st;
    uint64_t start, total; /* appends gen(start .. total) */
    atomic_int done;
    int err;
    char why[256];
} writer_job;

static void *writer_main(void *arg)
{
    writer_job *j = arg;
    uint64_t k = j->start;
    for (int i = 0; k <= j->total; i++) {
        size_t n = 1 + (size_t)(i * 37) % 120;
        if (k + n > j->total + 1)
            n = (size_t)(j->total + 1 - k);
        gen_ev *g = malloc(n * sizeof *g);
        tsagg_event *evs = malloc(n * sizeof *evs);
        for (size_t x = 0; x < n; x++) {
            gen(k + x, &g[x]);
            evs[x] = g[x].ev;
        }
        uint64_t seq = 0;
        int rc = tsagg_append(j->st, evs, n, &seq);
        free(g);
        free(evs);
        if (rc != 0 || seq != k) {
            j->err = rc ? rc : -1;
            snprintf(j->why, sizeof j->why, "append at %" PRIu64 ": %s (seq %" PRIu64 ")", k,
                     tsagg_strerror(rc), seq);
            break;
        }
        k += n;
        if (i % 25 == 24 && (rc = tsagg_flush(j->st)) != 0) {
            j->err = rc;
            snprintf(j->why, sizeof j->why, "flush: %s", tsagg_strerror(rc));
            break;
        }
        if (i % 10 == 0)
            usleep(200); /* let the reader interleave */
    }
    atomic_store(&j->done, 1);
    return NULL;
}

/* Read everything a reader sees now: contiguous from 1, each event intact
 * (k == seq). Returns the count. */
static uint64_t read_prefix(tsagg_store *ro)
{
    tsagg_log_reader *rd;
    int rc = tsagg_log_reader_open(ro, NULL, &rd);
    cr_assert_eq(rc, 0, "reader_open: %s", tsagg_strerror(rc));
    const tsagg_event *ev;
    uint64_t seq, n = 0;
    char why[256];
    while ((rc = tsagg_log_reader_next(rd, &ev, &seq)) == 1) {
        cr_assert_eq(seq, n + 1, "gap: seq %" PRIu64 " after %" PRIu64, seq, n);
        cr_assert_eq(ev->session, seq);
        if (check_generated(ev, why, sizeof why))
            cr_assert_fail("seq %" PRIu64 ": %s", seq, why);
        n++;
    }
    if (rc != 0) {
        char msg[512];
        tsagg_store_errmsg(ro, msg, sizeof msg);
        cr_assert_fail("reader beside a writer: %s: %s (after %" PRIu64 " events)",
                       tsagg_strerror(rc), msg, n);
    }
    tsagg_log_reader_close(rd);
    return n;
}

static void reader_beside_writer(unsigned backend, unsigned sync_mode)
{
    cfg c = {.backend = backend, .sync_mode = sync_mode, .interval_ms = 5,
             .frame_bytes = 4096, .segment_bytes = 64u << 10};
    tsagg_store *st = open_writer(&c);
    /* Some events before the reader handle exists. */
    append_gen(st, 1, 10);
    cr_assert_eq(tsagg_flush(st), 0);
    static writer_job j;
    memset(&j, 0, sizeof j);
    j.st = st;
    j.start = 11; /* 1..10 are there already */
    j.total = 15000;
    pthread_t tid;
    cr_assert_eq(pthread_create(&tid, NULL, writer_main, &j), 0);
    tsagg_store *ro = open_reader_handle();
    int passes = 0;
    uint64_t last_seen = 0;
    while (!atomic_load(&j.done)) {
        uint64_t durable = tsagg_durable_seq(st);
        uint64_t n = read_prefix(ro);
        cr_assert_geq(n, durable, "a reader sees at least what was durable when it opened");
        cr_assert_leq(n, j.total);
        last_seen = n;
        /* The segment list is consistent too (the last may be in flux). */
        int ns = tsagg_log_segments(ro, NULL, 0);
        cr_assert_geq(ns, 0);
        if (ns > 0) {
            tsagg_segment_info *si = calloc((size_t)ns + 8, sizeof *si);
            int ns2 = tsagg_log_segments(ro, si, (size_t)ns + 8);
            cr_assert_geq(ns2, ns);
            int m = ns2 < ns + 8 ? ns2 : ns + 8;
            for (int i = 1; i < m; i++) {
                if (si[i].bytes == 0)
                    continue; /* being created */
                cr_assert_eq(si[i].first_seq, si[i - 1].last_seq + 1, "segments %d/%d", i, i + 1);
                cr_assert(si[i - 1].sealed, "segment %d has a successor but no seal", i);
            }
            free(si);
        }
        passes++;
    }
    pthread_join(tid, NULL);
    cr_assert_eq(j.err, 0, "writer: %s", j.why);
    cr_assert_eq(tsagg_flush(st), 0);
    /* After the flush, the reader handle sees everything. */
    cr_assert_eq(read_prefix(ro), j.total);
    cr_log_info("%d passes of a reader beside the writer (last saw %" PRIu64 ")", passes,
                last_seen);
    close_ok(st);
    cr_assert_eq(read_prefix(ro), j.total);
    close_ok(ro);
}

BOTH_BACKENDS(reader_beside_writer_none)
{
    reader_beside_writer(backend, TSAGG_SYNC_NONE);
}

BOTH_BACKENDS(reader_beside_writer_batch)
{
    reader_beside_writer(backend, TSAGG_SYNC_BATCH);
}

/* ---- a frame being written when the reader reaches it -------------------------------- */

/* An I/O table that corrupts, once, what a read returns from a byte range
 * of segment 1: what a reader may see of a frame the writer is still
 * writing. */
typedef struct tamper_io {
    tsagg_io io;
    int fd;          /* segment 1 as opened through this table */
    uint64_t lo, hi; /* byte range to corrupt */
    int armed;
    int fired;
} tamper_io;

static int t_open(void *ctx, const char *path, int flags, unsigned mode)
{
    tamper_io *t = ctx;
    int fd = tsagg_io_default()->open(NULL, path, flags, mode);
    size_t len = strlen(path);
    if (fd >= 0 && len >= 21 && strcmp(path + len - 21, "0000000000000001.tlog") == 0)
        t->fd = fd;
    return fd;
}

static int t_close(void *ctx, int fd)
{
    tamper_io *t = ctx;
    if (fd == t->fd)
        t->fd = -1;
    return tsagg_io_default()->close(NULL, fd);
}

static ssize_t t_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off)
{
    tamper_io *t = ctx;
    ssize_t n = tsagg_io_default()->pread(NULL, fd, buf, len, off);
    if (n > 0 && t->armed && !t->fired && fd == t->fd && off <= t->lo && t->lo < off + (uint64_t)n) {
        ((uint8_t *)buf)[t->lo - off] ^= 0x5a;
        t->fired = 1;
    }
    return n;
}

Test(log, reader_retries_an_in_flight_frame_once_sealed)
{
    char seg1[800];
    snprintf(seg1, sizeof seg1, "%s/log/0000000000000001.tlog", tu_store);
    cfg c = {.backend = TSAGG_IO_PWRITE};
    tsagg_store *w = open_writer(&c);
    append_gen(w, 1, 10);
    uint64_t s1 = tu_file_size(seg1);
    append_gen(w, 11, 10);
    uint64_t s2 = tu_file_size(seg1);
    cr_assert_gt(s2, s1 + 56);
    close_ok(w);

    /* A read-only handle whose reads of the second frame's payload come
     * back damaged once, as if that frame were still being written. */
    static tamper_io t;
    t.io = *tsagg_io_default();
    t.io.ctx = &t;
    t.io.open = t_open;
    t.io.close = t_close;
    t.io.pread = t_pread;
    t.fd = -1;
    t.lo = s1 + 56 + 3;
    t.hi = s2;
    tsagg_options o;
    tsagg_options_init(&o);
    o.io = &t.io;
    tsagg_store *ro;
    cr_assert_eq(tsagg_store_open(tu_store, &o, &ro, NULL, 0), 0);
    tsagg_log_reader *rd;
    cr_assert_eq(tsagg_log_reader_open(ro, NULL, &rd), 0);
    const tsagg_event *ev;
    uint64_t seq;
    /* The reader is in segment 1, which is the last and unsealed. */
    cr_assert_eq(tsagg_log_reader_next(rd, &ev, &seq), 1);
    cr_assert_eq(seq, 1);

    /* Meanwhile the writer seals segment 1 and starts segment 2. */
    w = open_writer(&c);
    cr_assert_eq(tsagg_log_roll(w), 0);
    append_gen(w, 21, 10);
    close_ok(w);

    t.armed = 1;
    uint64_t n = 1;
    int rc;
    char why[256];
    while ((rc = tsagg_log_reader_next(rd, &ev, &seq)) == 1) {
        n++;
        cr_assert_eq(seq, n, "seq %" PRIu64 " where %" PRIu64 " was due", seq, n);
        if (check_generated(ev, why, sizeof why))
            cr_assert_fail("seq %" PRIu64 ": %s", seq, why);
    }
    char msg[512];
    tsagg_store_errmsg(ro, msg, sizeof msg);
    cr_assert_eq(rc, 0, "%s: %s", tsagg_strerror(rc), msg);
    cr_assert(t.fired, "the damage was seen");
    /* The frame was damaged when first read and whole once its segment was
     * sealed: its events must be returned, not skipped. */
    cr_assert_eq(n, 30, "read %" PRIu64 " of 30 events", n);
    tsagg_log_reader_close(rd);
    close_ok(ro);
}

/* ---- more edges ------------------------------------------------------------------------ */

Test(log, empty_log_reads_nothing)
{
    cfg c = {.backend = TSAGG_IO_AUTO};
    tsagg_store *st = open_writer(&c);
    cr_assert_eq(read_check_seq_keyed(st, NULL, NULL, 0), 0);
    close_ok(st);
    st = open_reader_handle();
    cr_assert_eq(read_check_seq_keyed(st, NULL, NULL, 0), 0);
    cr_assert_eq(tsagg_log_segments(st, NULL, 0), 0);
    tsagg_log_reader *rd = (tsagg_log_reader *)(uintptr_t)1;
    cr_assert_eq(tsagg_log_reader_open(NULL, NULL, &rd), TSAGG_EARG);
    tsagg_log_reader_close(NULL);
    close_ok(st);
}

BOTH_BACKENDS(huge_events_in_small_segments)
{
    /* Events far larger than a segment still go in (one frame per
     * segment if need be), and the log stays contiguous. */
    cfg c = {.backend = backend, .frame_bytes = 4096, .segment_bytes = 64u << 10};
    tsagg_store *st = open_writer(&c);
    char *big = malloc(TSAGG_VALUE_MAX);
    for (size_t i = 0; i < TSAGG_VALUE_MAX; i++)
        big[i] = (char)(tu_mix64(i) % 255 + 1); /* incompressible, never NUL */
    tsagg_attr a = {.key = "blob", .key_len = 4, .type = TSAGG_STR, .v.s = {big, TSAGG_VALUE_MAX}};
    tsagg_event evs[8];
    for (int i = 0; i < 8; i++)
        evs[i] = (tsagg_event){.ts = T0 + i, .merchant = 1, .event = "big", .event_len = 3,
                               .attrs = &a, .nattrs = i % 2 ? 1 : 0};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(tsagg_append(st, &evs[i], 1, NULL), 0);
    cr_assert_eq(tsagg_append(st, evs + 4, 4, NULL), 0);
    int n = tsagg_log_segments(st, NULL, 0);
    cr_assert_geq(n, 4, "%d segments for 4 MiB of events in 64 KiB segments", n);
    tsagg_segment_info *si = calloc((size_t)n, sizeof *si);
    cr_assert_eq(tsagg_log_segments(st, si, (size_t)n), n);
    uint64_t next = 1;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(si[i].first_seq, next);
        cr_assert_eq(si[i].sealed, (uint32_t)(i + 1 < n));
        next = si[i].last_seq + 1;
    }
    cr_assert_eq(next, 9);
    free(si);
    expect_events(st, evs, 8, 1);
    close_ok(st);
    st = open_reader_handle();
    expect_events(st, evs, 8, 1);
    close_ok(st);
    free(big);
}

Test(log, close_flushes_promptly)
{
    /* INTERVAL with a long interval and NONE: close makes everything
     * durable, and does not wait for the interval. */
    for (unsigned mode = TSAGG_SYNC_INTERVAL; mode <= TSAGG_SYNC_NONE; mode++) {
        cfg c = {.backend = TSAGG_IO_AUTO, .sync_mode = mode, .interval_ms = 60000};
        tsagg_store *st = open_writer(&c);
        uint64_t base = tsagg_last_seq(st);
        append_gen(st, base + 1, 500);
        cr_assert_eq(tsagg_durable_seq(st), base, "mode %u: nothing durable yet", mode);
        double t0 = now_s();
        close_ok(st);
        cr_assert_lt(now_s() - t0, 2.0, "mode %u: close waited for the interval", mode);
        st = open_writer(&c);
        cr_assert_eq(tsagg_durable_seq(st), base + 500);
        close_ok(st);
    }
    tsagg_store *st = open_reader_handle();
    expect_all_seq_keyed(st, 1000);
    close_ok(st);
}

Test(log, none_mode_writes_full_frames)
{
    /* NONE: full frames reach the file without a flush (readers see them)
     * but nothing is reported durable. */
    cfg c = {.backend = TSAGG_IO_AUTO, .sync_mode = TSAGG_SYNC_NONE, .frame_bytes = 4096};
    tsagg_store *st = open_writer(&c);
    for (uint64_t k = 1; k <= 3000; k += 30)
        append_gen(st, k, 30);
    cr_assert_eq(tsagg_durable_seq(st), 0);
    tsagg_store *ro = open_reader_handle();
    uint64_t seen = read_check_seq_keyed(ro, NULL, NULL, 0);
    cr_assert_gt(seen, 0, "full frames are written without a flush");
    cr_assert_lt(seen, 3000, "the frame being filled is not written");
    cr_assert_eq(tsagg_flush(st), 0);
    cr_assert_eq(tsagg_durable_seq(st), 3000);
    cr_assert_eq(read_check_seq_keyed(ro, NULL, NULL, 0), 3000);
    close_ok(ro);
    close_ok(st);
}
