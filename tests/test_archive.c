/*
 * test_archive.c - rewriting sealed log segments in the archive form:
 * what is archived, that reading gives back the very same events and
 * sequence numbers, idempotence, read-only handles, appends and reopening
 * afterwards, and how much smaller the files get.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "log_internal.h" /* tsagg__append_unchecked_ts: logs older than the ts check */
#include "testutil.h"
#include "tsagg.h"

TestSuite(archive, .init = tu_store_setup, .fini = tu_store_teardown, .timeout = 60);

/* ---- realistic-ish events ----------------------------------------------------- */

#define T0 1793491200000000LL /* 2026-11-01T00:00:00Z */

typedef struct gen_ev {
    tsagg_event ev;
    tsagg_attr attrs[9];
    char page[64];
    char ref[64];
    char order[32];
} gen_ev;

static const char *const names[] = {"page_view", "page_view", "page_view", "click",
                                    "scroll",    "purchase",  "app_open",  "add_to_cart"};
static const char *const countries[] = {"US", "DE", "IN", "BR", "FR", "GB", "JP", "NL"};
static const char *const devices[] = {"desktop", "mobile", "tablet"};
static const char *const browsers[] = {"Chrome", "Safari", "Firefox", "Edge"};
static const char *const oses[] = {"Windows", "macOS", "Android", "iOS", "Linux"};
static const char *const sections[] = {"products", "blog", "docs", "pricing", "help", "cart"};
static const char *const referrers[] = {"https://www.google.com/", "https://t.co/",
                                        "https://news.ycombinator.com/", "",
                                        "https://www.bing.com/search"};

/* Event k: a web-analytics event. Mostly increasing time with some late
 * arrivals; Zipf-ish merchants and pages; k is in `session`'s low bits so a
 * read event tells which one it is. */
static void gen(uint64_t k, gen_ev *g)
{
    uint64_t r = tu_mix64(k), r2 = tu_mix64(r);
    memset(g, 0, sizeof *g);
    int64_t late = (r % 10 == 0) ? (int64_t)(r2 % 3600000000ull) : 0;
    g->ev.ts = T0 + (int64_t)k * 350000 - late;
    uint64_t z = r % 1000;
    g->ev.merchant = z < 500 ? 1 : z < 750 ? 2 : z < 875 ? 3 : 4 + (r >> 20) % 200;
    const char *nm = names[(r >> 8) % 8];
    g->ev.event = nm;
    g->ev.event_len = (uint32_t)strlen(nm);
    uint64_t user = (r2 >> 3) % 5000;
    g->ev.user = tu_mix64(user * 31 + g->ev.merchant);
    g->ev.session = (tu_mix64(user) & 0xffffffff00000000ull) | k;
    g->ev.flags = TSAGG_EVENT_HAS_ID;
    g->ev.id = tu_mix64(k ^ 0xabcdef);
    uint64_t pz = (r2 >> 20) % 100;
    int pl = snprintf(g->page, sizeof g->page, "/%s/%" PRIu64, sections[(r2 >> 30) % 6],
                      pz < 50 ? pz % 5 : pz);
    const char *ref = referrers[(r >> 33) % 5];
    uint32_t na = 0;
    tsagg_attr *a = g->attrs;
    a[na++] = (tsagg_attr){.key = "page", .key_len = 4, .type = TSAGG_STR,
                           .v.s = {g->page, (uint32_t)pl}};
    a[na++] = (tsagg_attr){.key = "referrer", .key_len = 8, .type = TSAGG_STR,
                           .v.s = {ref, (uint32_t)strlen(ref)}};
    const char *ct = countries[(r >> 40) % 8];
    a[na++] = (tsagg_attr){.key = "country", .key_len = 7, .type = TSAGG_STR, .v.s = {ct, 2}};
    const char *dv = devices[(r >> 44) % 3];
    a[na++] = (tsagg_attr){.key = "device", .key_len = 6, .type = TSAGG_STR,
                           .v.s = {dv, (uint32_t)strlen(dv)}};
    const char *br = browsers[(r >> 48) % 4];
    a[na++] = (tsagg_attr){.key = "browser", .key_len = 7, .type = TSAGG_STR,
                           .v.s = {br, (uint32_t)strlen(br)}};
    const char *os = oses[(r >> 52) % 5];
    a[na++] = (tsagg_attr){.key = "os", .key_len = 2, .type = TSAGG_STR,
                           .v.s = {os, (uint32_t)strlen(os)}};
    if (nm[0] == 'p' && nm[1] == 'u') {
        a[na++] = (tsagg_attr){.key = "value", .key_len = 5, .type = TSAGG_F64,
                               .v.f = (double)(r2 % 20000) / 100.0};
        int ol = snprintf(g->order, sizeof g->order, "ORD-%08" PRIu64, r2 % 100000000);
        a[na++] = (tsagg_attr){.key = "order_id", .key_len = 8, .type = TSAGG_STR,
                               .v.s = {g->order, (uint32_t)ol}};
    }
    if (nm[0] == 's')
        a[na++] = (tsagg_attr){.key = "depth", .key_len = 5, .type = TSAGG_INT,
                               .v.i = (int64_t)(r2 % 101)};
    g->ev.attrs = a;
    g->ev.nattrs = na;
}

/* ---- canonical serialisation, for byte-exact comparison ---------------------------- */

typedef struct blob {
    uint8_t *p;
    size_t len, cap;
} blob;

static void put(blob *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        cr_assert_not_null(b->p);
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void put_u64(blob *b, uint64_t v)
{
    put(b, &v, 8);
}

/* Every field of the event as received, in a fixed layout. */
static void ser_event(blob *b, uint64_t seq, const tsagg_event *ev)
{
    put_u64(b, seq);
    put_u64(b, (uint64_t)ev->ts);
    put_u64(b, ev->merchant);
    put_u64(b, ev->event_len);
    put(b, ev->event, ev->event_len);
    put_u64(b, ev->flags);
    put_u64(b, ev->user);
    put_u64(b, ev->session);
    put_u64(b, (ev->flags & TSAGG_EVENT_HAS_ID) ? ev->id : 0);
    put_u64(b, ev->nattrs);
    for (uint32_t i = 0; i < ev->nattrs; i++) {
        const tsagg_attr *a = &ev->attrs[i];
        put_u64(b, a->key_len);
        put(b, a->key, a->key_len);
        put_u64(b, a->type);
        if (a->type == TSAGG_STR) {
            put_u64(b, a->v.s.len);
            put(b, a->v.s.ptr, a->v.s.len);
        } else if (a->type == TSAGG_INT) {
            put_u64(b, (uint64_t)a->v.i);
        } else {
            uint64_t bits;
            memcpy(&bits, &a->v.f, 8);
            put_u64(b, bits);
        }
    }
}

/* Read a range into a blob; returns the number of events. */
static uint64_t snapshot(tsagg_store *st, const tsagg_log_range *r, blob *b)
{
    tsagg_log_reader *rd;
    int rc = tsagg_log_reader_open(st, r, &rd);
    cr_assert_eq(rc, 0, "reader_open: %s", tsagg_strerror(rc));
    const tsagg_event *ev;
    uint64_t seq, n = 0;
    while ((rc = tsagg_log_reader_next(rd, &ev, &seq)) == 1) {
        ser_event(b, seq, ev);
        n++;
    }
    if (rc != 0) {
        char msg[512];
        tsagg_store_errmsg(st, msg, sizeof msg);
        cr_assert_fail("reader_next: %s: %s", tsagg_strerror(rc), msg);
    }
    tsagg_log_reader_close(rd);
    return n;
}

/* The snapshot the generator predicts for seqs first..last (k == seq). */
static void expected(uint64_t first, uint64_t last, blob *b)
{
    for (uint64_t k = first; k <= last; k++) {
        gen_ev g;
        gen(k, &g);
        ser_event(b, k, &g.ev);
    }
}

static void assert_blob_eq(const blob *a, const blob *b, const char *what)
{
    cr_assert_eq(a->len, b->len, "%s: %zu bytes vs %zu", what, a->len, b->len);
    size_t i = 0;
    while (i < a->len && a->p[i] == b->p[i])
        i++;
    cr_assert_eq(i, a->len, "%s: first difference at byte %zu", what, i);
}

/* ---- helpers ---------------------------------------------------------------- */

static tsagg_store *open_writer(uint32_t frame_bytes, uint64_t segment_bytes, unsigned sync)
{
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.frame_bytes = frame_bytes;
    o.segment_bytes = segment_bytes;
    o.sync_mode = sync;
    tsagg_store *st;
    char err[512];
    int rc = tsagg_store_open(tu_store, &o, &st, err, sizeof err);
    cr_assert_eq(rc, 0, "open: %s: %s", tsagg_strerror(rc), err);
    return st;
}

static tsagg_store *open_ro(void)
{
    tsagg_store *st;
    char err[512];
    int rc = tsagg_store_open(tu_store, NULL, &st, err, sizeof err);
    cr_assert_eq(rc, 0, "open read-only: %s: %s", tsagg_strerror(rc), err);
    return st;
}

static void append_range(tsagg_store *st, uint64_t first, uint64_t last, size_t batch)
{
    gen_ev *g = malloc(batch * sizeof *g);
    tsagg_event *evs = malloc(batch * sizeof *evs);
    for (uint64_t k = first; k <= last;) {
        size_t n = batch;
        if (k + n > last + 1)
            n = (size_t)(last + 1 - k);
        for (size_t i = 0; i < n; i++) {
            gen(k + i, &g[i]);
            evs[i] = g[i].ev;
        }
        uint64_t seq;
        int rc = tsagg_append(st, evs, n, &seq);
        cr_assert_eq(rc, 0, "append: %s", tsagg_strerror(rc));
        cr_assert_eq(seq, k);
        k += n;
    }
    free(g);
    free(evs);
}

static int segments(tsagg_store *st, tsagg_segment_info **out)
{
    int n = tsagg_log_segments(st, NULL, 0);
    cr_assert_geq(n, 0);
    *out = calloc((size_t)n + 1, sizeof **out);
    cr_assert_eq(tsagg_log_segments(st, *out, (size_t)n + 1), n);
    return n;
}

static void seg_path(uint64_t number, char *buf, size_t len)
{
    snprintf(buf, len, "%s/log/%016" PRIx64 ".tlog", tu_store, number);
}

static uint64_t file_hash(const char *path, uint64_t *size)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    XXH64_state_t *s = XXH64_createState();
    XXH64_reset(s, 0);
    char buf[65536];
    size_t n;
    *size = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        XXH64_update(s, buf, n);
        *size += n;
    }
    fclose(f);
    uint64_t h = XXH64_digest(s);
    XXH64_freeState(s);
    return h;
}

static int count_tmp_files(void)
{
    char dir[700];
    snprintf(dir, sizeof dir, "%s/log", tu_store);
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += strstr(de->d_name, ".tmp") != NULL;
    closedir(d);
    return n;
}

/* ---- tests ------------------------------------------------------------------ */

Test(archive, sealed_segments_rewritten_events_identical)
{
    tsagg_store *st = open_writer(4096, 64u << 10, TSAGG_SYNC_NONE);
    const uint64_t total = 8000;
    append_range(st, 1, total, 100);
    cr_assert_eq(tsagg_flush(st), 0);

    tsagg_segment_info *before;
    int n = segments(st, &before);
    cr_assert_geq(n, 3, "several segments wanted, got %d", n);
    unsigned sealed = 0;
    uint64_t live_bytes = 0, live_events = 0;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(before[i].archived, 0);
        if (before[i].sealed) {
            sealed++;
            live_bytes += before[i].bytes;
            live_events += before[i].last_seq - before[i].first_seq + 1;
        }
    }
    cr_assert_eq(sealed, (unsigned)n - 1, "all but the last are sealed");
    char last_path[800];
    seg_path(before[n - 1].number, last_path, sizeof last_path);
    uint64_t last_size, last_hash = file_hash(last_path, &last_size);

    blob snap = {0}, want = {0};
    cr_assert_eq(snapshot(st, NULL, &snap), total);
    expected(1, total, &want);
    assert_blob_eq(&snap, &want, "live log vs generator");

    /* A reader opened before the archiving keeps working through it. */
    tsagg_log_reader *early;
    cr_assert_eq(tsagg_log_reader_open(st, NULL, &early), 0);
    const tsagg_event *ev;
    uint64_t seq;
    for (int i = 0; i < 5; i++)
        cr_assert_eq(tsagg_log_reader_next(early, &ev, &seq), 1);

    unsigned count = 12345;
    int rc = tsagg_log_archive(st, 0, &count);
    char msg[512];
    tsagg_store_errmsg(st, msg, sizeof msg);
    cr_assert_eq(rc, 0, "archive: %s: %s", tsagg_strerror(rc), msg);
    cr_assert_eq(count, sealed, "archived %u of %u sealed segments", count, sealed);
    cr_assert_eq(count_tmp_files(), 0, "no temporary files left");

    tsagg_segment_info *after;
    cr_assert_eq(segments(st, &after), n);
    uint64_t arch_bytes = 0;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(after[i].number, before[i].number);
        cr_assert_eq(after[i].first_seq, before[i].first_seq);
        cr_assert_eq(after[i].last_seq, before[i].last_seq);
        cr_assert_eq(after[i].min_ts, before[i].min_ts);
        cr_assert_eq(after[i].max_ts, before[i].max_ts);
        cr_assert_eq(after[i].sealed, before[i].sealed);
        cr_assert_eq(after[i].archived, (uint32_t)(i + 1 < n), "segment %" PRIu64 " archived=%u",
                     after[i].number, after[i].archived);
        if (i + 1 < n) {
            cr_assert_lt(after[i].bytes, before[i].bytes, "segment %" PRIu64 ": %" PRIu64
                         " bytes archived vs %" PRIu64 " live", after[i].number, after[i].bytes,
                         before[i].bytes);
            arch_bytes += after[i].bytes;
        }
    }
    /* The unsealed last segment is untouched, byte for byte. */
    uint64_t sz2, h2 = file_hash(last_path, &sz2);
    cr_assert_eq(sz2, last_size);
    cr_assert_eq(h2, last_hash, "the segment being appended to was modified");
    cr_assert_eq(after[n - 1].bytes, before[n - 1].bytes);

    /* The early reader finishes with the same events. */
    blob rest = {0};
    uint64_t k = 5;
    while ((rc = tsagg_log_reader_next(early, &ev, &seq)) == 1) {
        k++;
        cr_assert_eq(seq, k);
        ser_event(&rest, seq, ev);
    }
    cr_assert_eq(rc, 0, "early reader: %s", tsagg_strerror(rc));
    cr_assert_eq(k, total);
    blob want_rest = {0};
    expected(6, total, &want_rest);
    assert_blob_eq(&rest, &want_rest, "reader spanning the archiving");
    tsagg_log_reader_close(early);

    /* Reading now gives the same events at the same seqs, byte for byte,
     * through the writer's handle and a read-only one. */
    blob snap2 = {0};
    cr_assert_eq(snapshot(st, NULL, &snap2), total);
    assert_blob_eq(&snap2, &snap, "archived vs live");
    tsagg_store *ro = open_ro();
    blob snap3 = {0};
    cr_assert_eq(snapshot(ro, NULL, &snap3), total);
    assert_blob_eq(&snap3, &snap, "archived vs live, read-only handle");

    /* Ranges over archived segments. */
    tsagg_log_range r;
    tsagg_log_range_init(&r);
    r.from_seq = before[0].last_seq - 3;
    r.to_seq = before[1].last_seq + 2;
    blob part = {0}, want_part = {0};
    cr_assert_eq(snapshot(ro, &r, &part), r.to_seq - r.from_seq);
    expected(r.from_seq, r.to_seq - 1, &want_part);
    assert_blob_eq(&part, &want_part, "seq range over archived segments");
    tsagg_log_range_init(&r);
    r.ts_from = T0 + 1000 * 350000LL;
    r.ts_to = T0 + 3000 * 350000LL;
    blob tpart = {0}, want_t = {0};
    snapshot(ro, &r, &tpart);
    for (uint64_t i = 1; i <= total; i++) {
        gen_ev g;
        gen(i, &g);
        if (g.ev.ts >= r.ts_from && g.ev.ts < r.ts_to)
            ser_event(&want_t, i, &g.ev);
    }
    assert_blob_eq(&tpart, &want_t, "ts range over archived segments");

    /* Archiving a read-only handle is refused. */
    unsigned c2 = 99;
    cr_assert_eq(tsagg_log_archive(ro, 0, &c2), TSAGG_EREADONLY);
    cr_assert_eq(tsagg_store_close(ro), 0);

    /* Twice is a no-op. */
    count = 77;
    cr_assert_eq(tsagg_log_archive(st, 0, &count), 0);
    cr_assert_eq(count, 0);
    cr_assert_eq(tsagg_log_archive(st, 0, NULL), 0);
    tsagg_segment_info *again;
    cr_assert_eq(segments(st, &again), n);
    for (int i = 0; i < n; i++)
        cr_assert_eq(again[i].bytes, after[i].bytes);

    double live_bpe = (double)live_bytes / (double)live_events;
    double arch_bpe = (double)arch_bytes / (double)live_events;
    cr_log_info("small segments: %" PRIu64 " events in %u sealed segments: live %.1f bytes/event, "
                "archive %.1f bytes/event",
                live_events, sealed, live_bpe, arch_bpe);

    cr_assert_eq(tsagg_store_close(st), 0);
    free(before);
    free(after);
    free(again);
    free(snap.p);
    free(snap2.p);
    free(snap3.p);
    free(want.p);
    free(rest.p);
    free(want_rest.p);
    free(part.p);
    free(want_part.p);
    free(tpart.p);
    free(want_t.p);
}

Test(archive, appends_roll_and_reopen_after_archiving)
{
    tsagg_store *st = open_writer(4096, 64u << 10, TSAGG_SYNC_BATCH);
    append_range(st, 1, 3000, 50);
    unsigned count;
    cr_assert_eq(tsagg_log_archive(st, 0, &count), 0);
    cr_assert_gt(count, 0);
    /* Appends continue in the live last segment. */
    append_range(st, 3001, 3500, 50);
    blob want = {0}, got = {0};
    expected(1, 3500, &want);
    cr_assert_eq(snapshot(st, NULL, &got), 3500);
    assert_blob_eq(&got, &want, "after archive + appends");

    /* Roll: the just sealed segment is archived next, and nothing else. */
    cr_assert_eq(tsagg_log_roll(st), 0);
    tsagg_segment_info *si;
    int n = segments(st, &si);
    unsigned unarchived = 0;
    for (int i = 0; i < n; i++) {
        cr_assert(si[i].sealed);
        unarchived += !si[i].archived;
    }
    free(si);
    cr_assert_geq(unarchived, 1);
    cr_assert_eq(tsagg_log_archive(st, 3, &count), 0);
    cr_assert_eq(count, unarchived);
    n = segments(st, &si);
    for (int i = 0; i < n; i++)
        cr_assert(si[i].sealed && si[i].archived, "segment %" PRIu64, si[i].number);
    free(si);
    cr_assert_eq(tsagg_store_close(st), 0);

    /* Reopen with every segment archived, the last one included. */
    st = open_writer(4096, 64u << 10, TSAGG_SYNC_BATCH);
    cr_assert_eq(tsagg_last_seq(st), 3500);
    append_range(st, 3501, 4000, 64);
    free(got.p);
    free(want.p);
    got = (blob){0};
    want = (blob){0};
    expected(1, 4000, &want);
    cr_assert_eq(snapshot(st, NULL, &got), 4000);
    assert_blob_eq(&got, &want, "after reopening an archived log");
    cr_assert_eq(tsagg_store_close(st), 0);

    /* And once more with a plain reopen of a partly archived log. */
    st = open_writer(4096, 64u << 10, TSAGG_SYNC_BATCH);
    cr_assert_eq(tsagg_log_archive(st, 19, &count), 0);
    append_range(st, 4001, 4100, 100);
    cr_assert_eq(tsagg_store_close(st), 0);
    st = open_ro();
    free(got.p);
    free(want.p);
    got = (blob){0};
    want = (blob){0};
    expected(1, 4100, &want);
    cr_assert_eq(snapshot(st, NULL, &got), 4100);
    assert_blob_eq(&got, &want, "read-only after everything");
    tsagg_segment_info *last;
    n = segments(st, &last);
    uint64_t next = 1;
    for (int i = 0; i < n; i++) {
        cr_assert_eq(last[i].first_seq, next);
        next = last[i].last_seq + 1;
    }
    cr_assert_eq(next, 4101);
    free(last);
    cr_assert_eq(tsagg_store_close(st), 0);
    free(got.p);
    free(want.p);
}

Test(archive, level_and_arguments)
{
    tsagg_store *st = open_writer(4096, 64u << 10, TSAGG_SYNC_NONE);
    append_range(st, 1, 100, 100);
    unsigned count = 5;
    cr_assert_eq(tsagg_log_archive(st, 1000, &count), TSAGG_EARG);
    cr_assert_eq(tsagg_log_archive(NULL, 0, &count), TSAGG_EARG);
    /* Nothing sealed yet: nothing to do. */
    cr_assert_eq(tsagg_log_archive(st, 0, &count), 0);
    cr_assert_eq(count, 0);
    cr_assert_eq(tsagg_log_roll(st), 0);
    cr_assert_eq(tsagg_log_archive(st, 1, &count), 0);
    cr_assert_eq(count, 1);
    blob want = {0}, got = {0};
    expected(1, 100, &want);
    cr_assert_eq(snapshot(st, NULL, &got), 100);
    assert_blob_eq(&got, &want, "level 1");
    cr_assert_eq(tsagg_store_close(st), 0);
    free(want.p);
    free(got.p);
}

Test(archive, bytes_per_event)
{
    /* Realistic settings: default 1 MiB frames, 4 MiB segments. */
    tsagg_store *st = open_writer(1u << 20, 4u << 20, TSAGG_SYNC_NONE);
    const uint64_t total = 150000;
    append_range(st, 1, total, 1000);
    cr_assert_eq(tsagg_log_roll(st), 0);
    tsagg_segment_info *si;
    int n = segments(st, &si);
    uint64_t live = 0;
    for (int i = 0; i < n; i++)
        live += si[i].bytes;
    free(si);
    unsigned count;
    cr_assert_eq(tsagg_log_archive(st, 0, &count), 0);
    cr_assert_eq(count, (unsigned)n);
    n = segments(st, &si);
    uint64_t arch = 0;
    for (int i = 0; i < n; i++)
        arch += si[i].bytes;
    free(si);
    blob want = {0}, got = {0};
    expected(1, total, &want);
    cr_assert_eq(snapshot(st, NULL, &got), total);
    assert_blob_eq(&got, &want, "archived");
    free(want.p);
    free(got.p);
    cr_assert_eq(tsagg_store_close(st), 0);
    double lb = (double)live / (double)total, ab = (double)arch / (double)total;
    cr_log_info("%" PRIu64 " web events in %d segments: live %.1f bytes/event (%" PRIu64
                " bytes), archive %.1f bytes/event (%" PRIu64 " bytes), %.2fx smaller",
                total, n, lb, live, ab, arch, lb / ab);
    fprintf(stderr,
            "bytes/event: live (LZ4 rows) %.1f, archive (zstd-9 columns) %.1f, ratio %.2fx "
            "(%" PRIu64 " events)\n",
            lb, ab, lb / ab, total);
    cr_assert_lt(arch, live, "the archive form is smaller");
}

/* ---- archiving beside appenders ---------------------------------------------- */

#define KEY_STRIDE 10000000u

typedef struct arch_worker {
    pthread_t tid;
    tsagg_store *st;
    int t;                  /* appender number, or -1 roller, -2 archiver */
    uint64_t events;
    atomic_int *stop;
    int err;
    unsigned archived, rolls;
} arch_worker;

static void *arch_worker_main(void *arg)
{
    arch_worker *w = arg;
    if (w->t >= 0) {
        gen_ev *g = malloc(200 * sizeof *g);
        tsagg_event *evs = malloc(200 * sizeof *evs);
        uint64_t counter = 0;
        for (int i = 0; i < 150 && !w->err; i++) {
            size_t n = 1 + (size_t)(i * 53 + w->t * 7) % 200;
            for (size_t j = 0; j < n; j++) {
                gen((uint64_t)(w->t + 1) * KEY_STRIDE + counter + j, &g[j]);
                evs[j] = g[j].ev;
            }
            w->err = tsagg_append(w->st, evs, n, NULL);
            counter += n;
        }
        w->events = counter;
        free(g);
        free(evs);
        return NULL;
    }
    while (!atomic_load(w->stop) && !w->err) {
        if (w->t == -1) {
            w->err = tsagg_log_roll(w->st);
            w->rolls++;
        } else {
            unsigned n = 0;
            w->err = tsagg_log_archive(w->st, 1, &n);
            w->archived += n;
        }
        usleep(2000);
    }
    return NULL;
}

Test(archive, archive_while_appending)
{
    tsagg_store *st = open_writer(4096, 64u << 10, TSAGG_SYNC_NONE);
    atomic_int stop = 0;
    arch_worker w[4] = {
        {.st = st, .t = 0, .stop = &stop}, {.st = st, .t = 1, .stop = &stop},
        {.st = st, .t = -1, .stop = &stop}, {.st = st, .t = -2, .stop = &stop},
    };
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&w[i].tid, NULL, arch_worker_main, &w[i]), 0);
    pthread_join(w[0].tid, NULL);
    pthread_join(w[1].tid, NULL);
    atomic_store(&stop, 1);
    pthread_join(w[2].tid, NULL);
    pthread_join(w[3].tid, NULL);
    char msg[512];
    tsagg_store_errmsg(st, msg, sizeof msg);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(w[i].err, 0, "worker %d: %s: %s", i, tsagg_strerror(w[i].err), msg);
    cr_assert_eq(tsagg_flush(st), 0);
    unsigned n = 0;
    cr_assert_eq(tsagg_log_archive(st, 1, &n), 0);
    uint64_t total = w[0].events + w[1].events;
    cr_assert_eq(tsagg_last_seq(st), total);
    cr_log_info("%u segments archived while appending, %u rolls", w[3].archived + n, w[2].rolls);

    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            cr_assert_eq(tsagg_store_close(st), 0);
            st = open_ro();
        }
        tsagg_log_reader *rd;
        cr_assert_eq(tsagg_log_reader_open(st, NULL, &rd), 0);
        const tsagg_event *ev;
        uint64_t seq, expect = 1, next[2] = {0, 0};
        int rc;
        blob a = {0}, b = {0};
        while ((rc = tsagg_log_reader_next(rd, &ev, &seq)) == 1) {
            cr_assert_eq(seq, expect++);
            uint64_t key = ev->session & 0xffffffffu;
            int t = (int)(key / KEY_STRIDE) - 1;
            cr_assert(t == 0 || t == 1, "seq %" PRIu64 ": key %" PRIu64, seq, key);
            cr_assert_eq(key % KEY_STRIDE, next[t], "thread %d out of order at seq %" PRIu64, t, seq);
            next[t]++;
            gen_ev g;
            gen(key, &g);
            a.len = b.len = 0;
            ser_event(&a, seq, ev);
            ser_event(&b, seq, &g.ev);
            assert_blob_eq(&a, &b, "event");
        }
        cr_assert_eq(rc, 0, "reader: %s", tsagg_strerror(rc));
        cr_assert_eq(expect - 1, total);
        cr_assert_eq(next[0], w[0].events);
        cr_assert_eq(next[1], w[1].events);
        tsagg_log_reader_close(rd);
        free(a.p);
        free(b.p);
    }
    tsagg_segment_info *si;
    int ns = segments(st, &si);
    uint64_t nx = 1;
    for (int i = 0; i < ns; i++) {
        cr_assert_eq(si[i].first_seq, nx);
        nx = si[i].last_seq + 1;
        if (i + 1 < ns)
            cr_assert(si[i].sealed && si[i].archived, "segment %" PRIu64, si[i].number);
    }
    cr_assert_eq(nx, total + 1);
    free(si);
    cr_assert_eq(count_tmp_files(), 0);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- every field edge through the archive form ------------------------------- */

Test(archive, edge_events_survive_archiving)
{
    static char name255[255], key64[64], keys[255][8];
    for (int i = 0; i < 255; i++)
        name255[i] = (char)(i + 1);
    memset(key64, 'K', sizeof key64);
    char *big = malloc(TSAGG_VALUE_MAX), *rnd = malloc(TSAGG_VALUE_MAX);
    memset(big, 'z', TSAGG_VALUE_MAX);
    for (size_t i = 0; i < TSAGG_VALUE_MAX; i++)
        rnd[i] = (char)(tu_mix64(i) % 255 + 1); /* never NUL: events refuse it */
    double nan_p, snan;
    uint64_t bits = 0x7ff8dead0000beefull, sbits = 0xfff0000000000001ull;
    memcpy(&nan_p, &bits, 8);
    memcpy(&snan, &sbits, 8);
    static const char bin[] = {'a', 1, 'b', (char)0xff, 0x7f}; /* any byte but NUL */
    tsagg_attr types[] = {
        {.key = "s", .key_len = 1, .type = TSAGG_STR, .v.s = {"/checkout", 9}},
        {.key = "empty", .key_len = 5, .type = TSAGG_STR, .v.s = {"", 0}},
        {.key = "nullempty", .key_len = 9, .type = TSAGG_STR, .v.s = {NULL, 0}},
        {.key = "bin", .key_len = 3, .type = TSAGG_STR, .v.s = {bin, sizeof bin}},
        {.key = "imin", .key_len = 4, .type = TSAGG_INT, .v.i = INT64_MIN},
        {.key = "imax", .key_len = 4, .type = TSAGG_INT, .v.i = INT64_MAX},
        {.key = "negzero", .key_len = 7, .type = TSAGG_F64, .v.f = -0.0},
        {.key = "nan", .key_len = 3, .type = TSAGG_F64, .v.f = nan_p},
        {.key = "snan", .key_len = 4, .type = TSAGG_F64, .v.f = snan},
        {.key = "inf", .key_len = 3, .type = TSAGG_F64, .v.f = INFINITY},
        {.key = "ninf", .key_len = 4, .type = TSAGG_F64, .v.f = -INFINITY},
        {.key = key64, .key_len = 64, .type = TSAGG_INT, .v.i = -1},
        /* Duplicates, a key equal to an event name, one shadowing a core field. */
        {.key = "dup", .key_len = 3, .type = TSAGG_STR, .v.s = {"one", 3}},
        {.key = "dup", .key_len = 3, .type = TSAGG_F64, .v.f = 2.5},
        {.key = "click", .key_len = 5, .type = TSAGG_INT, .v.i = 5},
        {.key = "ts", .key_len = 2, .type = TSAGG_STR, .v.s = {"x", 1}},
    };
    /* The same key with a different type in another event. */
    tsagg_attr retyped[] = {
        {.key = "s", .key_len = 1, .type = TSAGG_INT, .v.i = 42},
        {.key = "imin", .key_len = 4, .type = TSAGG_STR, .v.s = {"now a string", 12}},
    };
    static tsagg_attr many[255];
    for (int i = 0; i < 255; i++) {
        int kl = snprintf(keys[i], sizeof keys[i], "k%d", i);
        many[i] = (tsagg_attr){.key = keys[i], .key_len = (uint32_t)kl, .type = (uint32_t)(1 + i % 3)};
        if (many[i].type == TSAGG_STR)
            many[i].v.s.ptr = keys[i], many[i].v.s.len = (uint32_t)kl;
        else if (many[i].type == TSAGG_INT)
            many[i].v.i = (int64_t)i * -1000003;
        else
            many[i].v.f = i / 3.0;
    }
    tsagg_attr longs[] = {
        {.key = "long", .key_len = 4, .type = TSAGG_STR, .v.s = {big, TSAGG_VALUE_MAX}},
        {.key = "long", .key_len = 4, .type = TSAGG_STR, .v.s = {rnd, TSAGG_VALUE_MAX}},
        {.key = "long", .key_len = 4, .type = TSAGG_STR, .v.s = {big, TSAGG_VALUE_MAX}},
        {.key = "long", .key_len = 4, .type = TSAGG_STR, .v.s = {rnd, TSAGG_VALUE_MAX}},
    };
    tsagg_event evs[] = {
        {.ts = INT64_MIN, .merchant = 0, .event = "a", .event_len = 1},
        {.ts = INT64_MAX - 1, .merchant = UINT64_MAX, .event = "b", .event_len = 1,
         .flags = TSAGG_EVENT_HAS_ID, .id = UINT64_MAX, .user = UINT64_MAX, .session = UINT64_MAX},
        {.ts = INT64_MIN, .merchant = 1, .event = "a", .event_len = 1, .flags = TSAGG_EVENT_HAS_ID},
        {.ts = -1, .merchant = 1ull << 63, .event = name255, .event_len = 255},
        {.ts = 0, .merchant = 7, .event = "click", .event_len = 5, .attrs = types,
         .nattrs = sizeof types / sizeof types[0]},
        {.ts = 1, .merchant = 7, .event = "click", .event_len = 5, .attrs = retyped, .nattrs = 2},
        {.ts = T0, .merchant = 7, .event = "many", .event_len = 4, .attrs = many, .nattrs = 255},
        {.ts = T0, .merchant = 7, .event = "none", .event_len = 4, .attrs = NULL, .nattrs = 0},
        {.ts = T0 + 1, .merchant = 8, .event = "long", .event_len = 4, .attrs = longs, .nattrs = 1},
        {.ts = T0 + 2, .merchant = 8, .event = "long", .event_len = 4, .attrs = longs + 1, .nattrs = 1},
        {.ts = T0 + 3, .merchant = 8, .event = "max", .event_len = 3, .attrs = longs, .nattrs = 4},
        {.ts = -1234567890123LL, .merchant = 9, .event = "noid", .event_len = 4, .user = 1,
         .session = 2, .flags = 0, .id = 0},
    };
    size_t n = sizeof evs / sizeof evs[0];
    tsagg_store *st = open_writer(1u << 20, 64u << 10, TSAGG_SYNC_BATCH);
    /* Twice: one per call, then all in one call; and some generated events
     * around them. */
    append_range(st, 1, 100, 100);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(tsagg__append_unchecked_ts(st, &evs[i], 1, NULL), 0, "event %zu", i);
    cr_assert_eq(tsagg__append_unchecked_ts(st, evs, n, NULL), 0);
    cr_assert_eq(tsagg_log_roll(st), 0);
    blob want = {0}, live = {0}, arch = {0};
    expected(1, 100, &want);
    for (size_t i = 0; i < 2 * n; i++)
        ser_event(&want, 101 + i, &evs[i % n]);
    uint64_t total = 100 + 2 * n;
    cr_assert_eq(snapshot(st, NULL, &live), total);
    assert_blob_eq(&live, &want, "live form");
    unsigned count;
    cr_assert_eq(tsagg_log_archive(st, 0, &count), 0);
    cr_assert_gt(count, 0);
    tsagg_segment_info *si;
    int ns = segments(st, &si);
    for (int i = 0; i < ns; i++)
        cr_assert(si[i].archived);
    free(si);
    cr_assert_eq(snapshot(st, NULL, &arch), total);
    assert_blob_eq(&arch, &want, "archive form");
    cr_assert_eq(tsagg_store_close(st), 0);
    st = open_ro();
    arch.len = 0;
    cr_assert_eq(snapshot(st, NULL, &arch), total);
    assert_blob_eq(&arch, &want, "archive form, reopened");
    cr_assert_eq(tsagg_store_close(st), 0);
    free(want.p);
    free(live.p);
    free(arch.p);
    free(big);
    free(rnd);
}
