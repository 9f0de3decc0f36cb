/*
 * test_faults.c - every failure path of the log, through injected I/O faults
 * (faultio.h) and damaged files.
 *
 * Writer faults: a failed fsync, a full disk mid-frame, a failed segment
 * creation during a roll... must make the writer fail for good (sticky),
 * never report durable what is not, and leave a log that a reopen recovers:
 * every event reported durable present once, nothing partial, sequence
 * numbers contiguous from 1. Short writes and reads are retried.
 *
 * Damaged files: a bad byte in a sealed segment is a checksum error naming
 * the file and offset; in the middle of the last segment it stops the writer
 * from opening (never silently truncated); a torn tail is truncated; a bad
 * header is a corruption or version error.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "faultio.h"
#include "testutil.h"
#include "tsagg.h"

/* ---- events: batch b, index i, everything derived from (b, i) ------------ */

#define TS0 INT64_C(1700000000000000)
#define MAXB 4096

static uint64_t ev_id(uint64_t b, uint64_t i) { return b << 24 | i; }

typedef struct batch {
    tsagg_event *evs;
    tsagg_attr *attrs;
    char *strs;
    size_t n;
} batch;

static void page_of(uint64_t b, uint64_t i, char *out, size_t len)
{
    /* Variable length, so frames have varied sizes. */
    snprintf(out, len, "/p/%" PRIu64 "/%" PRIu64 "/%.*s", b, i, (int)((b * 7 + i) % 40),
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
}

static void batch_make(batch *bt, uint64_t b, size_t n)
{
    bt->n = n;
    bt->evs = calloc(n, sizeof *bt->evs);
    bt->attrs = calloc(3 * n, sizeof *bt->attrs);
    bt->strs = calloc(n, 96);
    cr_assert(bt->evs && bt->attrs && bt->strs);
    for (size_t i = 0; i < n; i++) {
        tsagg_event *e = &bt->evs[i];
        tsagg_attr *a = &bt->attrs[3 * i];
        char *s = bt->strs + 96 * i;
        page_of(b, i, s, 96);
        a[0] = (tsagg_attr){.key = "b", .key_len = 1, .type = TSAGG_INT, .v.i = (int64_t)b};
        a[1] = (tsagg_attr){.key = "i", .key_len = 1, .type = TSAGG_INT, .v.i = (int64_t)i};
        a[2] = (tsagg_attr){.key = "page", .key_len = 4, .type = TSAGG_STR,
                            .v.s = {.ptr = s, .len = (uint32_t)strlen(s)}};
        *e = (tsagg_event){.ts = TS0 + (int64_t)(b * 1000 + i), .merchant = 1 + b % 13,
                           .event = (b + i) % 2 ? "click" : "page_view",
                           .event_len = (b + i) % 2 ? 5 : 9, .flags = TSAGG_EVENT_HAS_ID,
                           .user = b * 31 + i, .session = b, .id = ev_id(b, i),
                           .attrs = a, .nattrs = 3};
    }
}

static void batch_free(batch *bt)
{
    free(bt->evs);
    free(bt->attrs);
    free(bt->strs);
    memset(bt, 0, sizeof *bt);
}

/* Check that a read event is event (b, i) with every field intact. */
static void check_event(const tsagg_event *e, uint64_t seq)
{
    cr_assert(e->flags & TSAGG_EVENT_HAS_ID, "seq %" PRIu64 ": no id", seq);
    uint64_t b = e->id >> 24, i = e->id & 0xffffff;
    char page[96];
    page_of(b, i, page, sizeof page);
    cr_assert(e->ts == TS0 + (int64_t)(b * 1000 + i) && e->merchant == 1 + b % 13 &&
                  e->user == b * 31 + i && e->session == b,
              "seq %" PRIu64 ": core fields of (%" PRIu64 ", %" PRIu64 ") differ", seq, b, i);
    cr_assert(e->nattrs == 3 && e->attrs[0].v.i == (int64_t)b && e->attrs[1].v.i == (int64_t)i &&
                  e->attrs[2].type == TSAGG_STR && e->attrs[2].v.s.len == strlen(page) &&
                  memcmp(e->attrs[2].v.s.ptr, page, strlen(page)) == 0,
              "seq %" PRIu64 ": attributes of (%" PRIu64 ", %" PRIu64 ") differ", seq, b, i);
}

/* ---- the log as read back ------------------------------------------------- */

typedef struct view {
    uint64_t *ids; /* ids[s - 1] is the id of the event with seq s */
    size_t n, cap;
    int rc;        /* the reader's final status: 0 or the error */
    char err[512];
} view;

static void view_free(view *v)
{
    free(v->ids);
    memset(v, 0, sizeof *v);
}

/* Read the whole log through `st` (any mode). Events must come with seqs
 * 1, 2, 3, ... and be intact; stops at the first error (kept in v->rc). */
static void read_store(tsagg_store *st, view *v)
{
    memset(v, 0, sizeof *v);
    tsagg_log_reader *rd;
    int rc = tsagg_log_reader_open(st, NULL, &rd);
    cr_assert_eq(rc, 0, "reader open: %s", tsagg_strerror(rc));
    const tsagg_event *e;
    uint64_t seq;
    while ((rc = tsagg_log_reader_next(rd, &e, &seq)) == 1) {
        cr_assert_eq(seq, v->n + 1, "sequence numbers not contiguous: %" PRIu64 " after %zu",
                     seq, v->n);
        check_event(e, seq);
        if (v->n == v->cap) {
            v->cap = v->cap ? 2 * v->cap : 1024;
            v->ids = realloc(v->ids, v->cap * sizeof *v->ids);
            cr_assert(v->ids);
        }
        v->ids[v->n++] = e->id;
    }
    v->rc = rc;
    tsagg_store_errmsg(st, v->err, sizeof v->err);
    tsagg_log_reader_close(rd);
}

static void read_path(const char *dir, view *v)
{
    tsagg_store *st;
    char err[512];
    int rc = tsagg_store_open(dir, NULL, &st, err, sizeof err);
    cr_assert_eq(rc, 0, "read-only open: %s (%s)", tsagg_strerror(rc), err);
    read_store(st, v);
    tsagg_store_close(st);
}

/*
 * What a single appender attempted, in order: batch numbers attempt[0..n),
 * and how many of them returned success. The log after a failure must hold
 * exactly a prefix of the attempts, each batch whole, covering at least
 * every event reported durable.
 */
typedef struct history {
    uint64_t attempt[MAXB];
    size_t size[MAXB]; /* by batch number */
    size_t n;
} history;

/* Returns how many attempted batches the view holds. */
static size_t check_prefix(const view *v, const history *h, uint64_t durable)
{
    size_t s = 0, k = 0;
    while (s < v->n) {
        cr_assert(k < h->n, "event at seq %zu belongs to no attempted batch", s + 1);
        uint64_t b = h->attempt[k];
        size_t n = h->size[b];
        cr_assert(s + n <= v->n, "batch %" PRIu64 " is partial: %zu of %zu events at seq %zu",
                  b, v->n - s, n, s + 1);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(v->ids[s + i], ev_id(b, i),
                         "seq %zu: expected event %zu of batch %" PRIu64 ", found id %#" PRIx64,
                         s + i + 1, i, b, v->ids[s + i]);
        s += n;
        k++;
    }
    cr_assert_geq(v->n, durable, "events reported durable were lost: log holds %zu, durable %" PRIu64,
                  v->n, durable);
    return k;
}

/* ---- stores --------------------------------------------------------------- */

static void opts_for(tsagg_options *o, const tsagg_io *io, uint32_t sync, uint64_t segment_bytes,
                     uint32_t frame_bytes)
{
    tsagg_options_init(o);
    o->flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o->io = io;
    o->sync_mode = sync;
    o->io_backend = TSAGG_IO_PWRITE;
    o->sync_interval_ms = 2;
    if (segment_bytes)
        o->segment_bytes = segment_bytes;
    if (frame_bytes)
        o->frame_bytes = frame_bytes;
}

static tsagg_store *open_ok(const char *dir, const tsagg_options *o)
{
    tsagg_store *st;
    char err[512];
    int rc = tsagg_store_open(dir, o, &st, err, sizeof err);
    cr_assert_eq(rc, 0, "open %s: %s (%s)", dir, tsagg_strerror(rc), err);
    return st;
}

static tsagg_store *open_default(const char *dir)
{
    tsagg_options o;
    opts_for(&o, NULL, TSAGG_SYNC_BATCH, 0, 0);
    return open_ok(dir, &o);
}

/* Append batch b of n events; records the attempt. */
static int append(tsagg_store *st, history *h, uint64_t b, size_t n, uint64_t *first)
{
    batch bt;
    batch_make(&bt, b, n);
    if (h) {
        cr_assert(h->n < MAXB && b < MAXB);
        h->attempt[h->n++] = b;
        h->size[b] = n;
    }
    uint64_t f = 0;
    int rc = tsagg_append(st, bt.evs, n, &f);
    batch_free(&bt);
    if (first)
        *first = f;
    return rc;
}

static void append_ok(tsagg_store *st, history *h, uint64_t b, size_t n)
{
    uint64_t before = tsagg_last_seq(st), first;
    int rc = append(st, h, b, n, &first);
    cr_assert_eq(rc, 0, "append batch %" PRIu64 ": %s", b, tsagg_strerror(rc));
    cr_assert_eq(first, before + 1);
}

static size_t size_of_batch(uint64_t b) { return 1 + (size_t)((b * 2654435761u) % 300); }

/* ---- raw segment files ---------------------------------------------------- */

static void seg_path(const char *dir, uint64_t number, char *out, size_t len)
{
    snprintf(out, len, "%s/log/%016" PRIx64 ".tlog", dir, number);
}

static uint64_t file_size(const char *path)
{
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0, "stat %s", path);
    return (uint64_t)sb.st_size;
}

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(n ? (size_t)n : 1);
    cr_assert(p && fread(p, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void spit(const char *path, const uint8_t *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "create %s", path);
    cr_assert_eq(fwrite(p, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static uint32_t get32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

/* Offsets of the frames of a segment file (header 64 bytes, then 56-byte
 * frame headers each followed by `stored` bytes, stored at +8). */
static size_t frame_offsets(const char *path, uint64_t *offs, size_t max, uint8_t *types)
{
    size_t len, n = 0;
    uint8_t *p = slurp(path, &len);
    for (size_t off = 64; off + 56 <= len && n < max;) {
        cr_assert(memcmp(p + off, "TSFR", 4) == 0, "%s: no frame at %zu", path, off);
        if (types)
            types[n] = p[off + 4];
        offs[n++] = off;
        off += 56 + get32(p + off + 8);
    }
    free(p);
    return n;
}

static void flip_byte(const char *path, uint64_t off)
{
    size_t len;
    uint8_t *p = slurp(path, &len);
    cr_assert_lt(off, len);
    p[off] ^= 0x5a;
    spit(path, p, len);
    free(p);
}

static int count_segments(const char *dir)
{
    int n = 0;
    char path[4200];
    for (uint64_t i = 1; i < 100000; i++) {
        seg_path(dir, i, path, sizeof path);
        if (!file_exists(path))
            break;
        n++;
    }
    return n;
}

/* A store of exactly 3 segments (1 and 2 sealed, 3 open), several frames
 * each, closed cleanly. Returns the number of events. */
static uint64_t build_three_segments(const char *dir, history *h)
{
    tsagg_options o;
    opts_for(&o, NULL, TSAGG_SYNC_BATCH, 0, 4096);
    tsagg_store *st = open_ok(dir, &o);
    uint64_t b = 1;
    for (int seg = 0; seg < 3; seg++) {
        for (int k = 0; k < 4; k++, b++)
            append_ok(st, h, b, size_of_batch(b));
        if (seg < 2)
            cr_assert_eq(tsagg_log_roll(st), 0);
    }
    uint64_t n = tsagg_last_seq(st);
    cr_assert_eq(tsagg_store_close(st), 0);
    cr_assert_eq(count_segments(dir), 3);
    return n;
}

/* ======================================================================== */
/* Writer faults                                                            */
/* ======================================================================== */

Test(faults, fsync_eio_is_sticky)
{
    char dir[4096];
    tu_tmpdir(dir, sizeof dir);
    faultio fio;
    faultio_init(&fio, NULL);
    tsagg_options o;
    opts_for(&o, faultio_table(&fio), TSAGG_SYNC_BATCH, 0, 0);
    tsagg_store *st = open_ok(dir, &o);
    cr_assert_str_eq(tsagg_io_backend_name(st), "pwrite");
    history h = {0};
    for (uint64_t b = 1; b <= 5; b++)
        append_ok(st, &h, b, size_of_batch(b));
    uint64_t durable = tsagg_durable_seq(st);
    cr_assert_eq(durable, tsagg_last_seq(st));

    faultio_fail(&fio, FIO_FSYNC, 1, -EIO);
    uint64_t first = 0;
    cr_assert_eq(append(st, &h, 6, 100, &first), -EIO);
    cr_assert_eq(faultio_fired(&fio, FIO_FSYNC), 1);
    cr_assert_eq(tsagg_durable_seq(st), durable, "durable_seq advanced past a failed fsync");
    char err[512];
    tsagg_store_errmsg(st, err, sizeof err);
    cr_assert(strstr(err, ".tlog"), "errmsg names no segment: %s", err);

    /* Sticky: the fault is gone, yet nothing works any more. */
    faultio_disarm_all(&fio);
    uint64_t pw = faultio_calls(&fio, FIO_PWRITE), fs = faultio_calls(&fio, FIO_FSYNC);
    cr_assert_eq(append(st, &h, 7, 10, NULL), -EIO);
    cr_assert_eq(tsagg_flush(st), -EIO);
    cr_assert_eq(tsagg_wait_durable(st, tsagg_last_seq(st), 100), -EIO);
    cr_assert_eq(tsagg_log_roll(st), -EIO);
    cr_assert_eq(tsagg_durable_seq(st), durable);
    cr_assert_eq(faultio_calls(&fio, FIO_PWRITE), pw, "a failed writer still writes");
    cr_assert_eq(faultio_calls(&fio, FIO_FSYNC), fs, "a failed writer still syncs");
    cr_assert_eq(tsagg_store_close(st), -EIO, "close must return the stored failure");

    /* Reopen with the operating system's I/O: the durable events, maybe the
     * failed batch (never reported durable) whole, never batch 7. */
    view v;
    st = open_default(dir);
    read_store(st, &v);
    cr_assert_eq(v.rc, 0, "%s", v.err);
    size_t k = check_prefix(&v, &h, durable);
    cr_assert(k == 5 || k == 6, "log holds %zu batches", k);
    cr_log_info("fsync EIO: failed batch %s after reopen", k == 6 ? "present" : "absent");
    /* And the writer continues after it. */
    uint64_t next = tsagg_last_seq(st) + 1;
    cr_assert_eq(next, v.n + 1);
    uint64_t f8;
    cr_assert_eq(append(st, NULL, 8, 3, &f8), 0);
    cr_assert_eq(f8, next);
    cr_assert_eq(tsagg_store_close(st), 0);
    view_free(&v);
    tu_rmtree(dir);
}

Test(faults, fsync_eio_interval_mode)
{
    char dir[4096];
    tu_tmpdir(dir, sizeof dir);
    faultio fio;
    faultio_init(&fio, NULL);
    tsagg_options o;
    opts_for(&o, faultio_table(&fio), TSAGG_SYNC_INTERVAL, 0, 0);
    tsagg_store *st = open_ok(dir, &o);
    history h = {0};
    append_ok(st, &h, 1, 50);
    cr_assert_eq(tsagg_wait_durable(st, 50, 5000), 0);
    uint64_t durable = tsagg_durable_seq(st);
    cr_assert_eq(durable, 50);

    /* The background flusher hits the failure. */
    faultio_fail_from(&fio, FIO_FSYNC, 1, -EIO);
    append_ok(st, &h, 2, 50); /* buffered: returns before any I/O */
    cr_assert_eq(tsagg_wait_durable(st, 100, 5000), -EIO);
    cr_assert_eq(tsagg_durable_seq(st), durable);
    cr_assert_eq(append(st, &h, 3, 5, NULL), -EIO);
    cr_assert_eq(tsagg_flush(st), -EIO);
    faultio_disarm_all(&fio);
    cr_assert_eq(tsagg_store_close(st), -EIO);

    view v;
    read_path(dir, &v);
    cr_assert_eq(v.rc, 0, "%s", v.err);
    size_t k = check_prefix(&v, &h, durable);
    cr_assert(k == 1 || k == 2);
    view_free(&v);
    tu_rmtree(dir);
}

Test(faults, enospc_mid_frame_is_torn_then_truncated)
{
    char dir[4096], path[4200];
    tu_tmpdir(dir, sizeof dir);
    faultio fio;
    faultio_init(&fio, NULL);
    tsagg_options o;
    opts_for(&o, faultio_table(&fio), TSAGG_SYNC_BATCH, 0, 0);
    tsagg_store *st = open_ok(dir, &o);
    history h = {0};
    for (uint64_t b = 1; b <= 3; b++)
        append_ok(st, &h, b, size_of_batch(b));
    uint64_t durable = tsagg_durable_seq(st);
    seg_path(dir, 1, path, sizeof path);
    uint64_t good_size = file_size(path);

    /* The writer cuts its own torn write off (best effort): with that cut
     * it leaves the file as it was. */
    faultio_torn(&fio, 1, 100, -ENOSPC);
    cr_assert_eq(append(st, &h, 4, 200, NULL), -ENOSPC);
    cr_assert_eq(file_size(path), good_size, "the failed write was not cut off");
    tsagg_store_close(st);
    st = open_ok(dir, &o);
    h.n = 3;
    durable = tsagg_durable_seq(st);

    /* The disk fills 100 bytes into the next frame and the cut fails too:
     * the torn prefix stays on disk for recovery to deal with. */
    faultio_torn(&fio, 1, 100, -ENOSPC);
    faultio_fail(&fio, FIO_FTRUNCATE, 1, -EIO);
    cr_assert_eq(append(st, &h, 4, 200, NULL), -ENOSPC);
    cr_assert_eq(file_size(path), good_size + 100, "the torn prefix should be on disk");
    cr_assert_eq(tsagg_durable_seq(st), durable);
    faultio_disarm_all(&fio);
    cr_assert_eq(append(st, &h, 5, 1, NULL), -ENOSPC);
    cr_assert_eq(tsagg_flush(st), -ENOSPC);
    cr_assert_eq(tsagg_store_close(st), -ENOSPC);

    /* A reader sees the good frames and stops at the torn one. */
    view v;
    read_path(dir, &v);
    cr_assert_eq(v.rc, 0, "%s", v.err);
    cr_assert_eq(check_prefix(&v, &h, durable), 3);
    cr_assert_eq(v.n, durable);
    view_free(&v);

    /* The writer's recovery cuts the torn frame off and continues. */
    st = open_default(dir);
    cr_assert_eq(file_size(path), good_size, "torn frame not truncated");
    cr_assert_eq(tsagg_last_seq(st), durable);
    h.n = 3; /* batches 4 and 5 are gone */
    append_ok(st, &h, 6, 10);
    cr_assert_eq(tsagg_store_close(st), 0);
    read_path(dir, &v);
    cr_assert_eq(v.rc, 0, "%s", v.err);
    cr_assert_eq(check_prefix(&v, &h, durable + 10), 4);
    view_free(&v);
    tu_rmtree(dir);
}

Test(faults, short_writes_and_reads_round_trip)
{
    char dir[4096];
    tu_tmpdir(dir, sizeof dir);
    faultio fio;
    faultio_init(&fio, NULL);
    tsagg_options o;
    /* Small segments and frames: rolls, seals and headers all go short. */
    opts_for(&o, faultio_table(&fio), TSAGG_SYNC_NONE, 64 << 10, 4096);
    tsagg_store *st = open_ok(dir, &o);
    faultio_short_all(&fio, FIO_PWRITE, 7);
    history h = {0};
    uint64_t total = 0;
    for (uint64_t b = 1; b <= 60; b++) {
        append_ok(st, &h, b, size_of_batch(b));
        total += size_of_batch(b);
        if (b % 10 == 0)
            cr_assert_eq(tsagg_flush(st), 0);
    }
    cr_assert_eq(tsagg_store_close(st), 0);
    cr_assert_gt(faultio_fired(&fio, FIO_PWRITE), 1000, "short writes were not exercised");
    cr_assert_gt(count_segments(dir), 2, "no segment roll happened");

    /* Read back through short reads too (1..13 bytes per pread). */
    for (size_t k = 1; k <= 13; k += 12) {
        faultio_init(&fio, NULL);
        faultio_short_all(&fio, FIO_PREAD, k);
        tsagg_options ro;
        tsagg_options_init(&ro);
        ro.io = faultio_table(&fio);
        char err[512];
        cr_assert_eq(tsagg_store_open(dir, &ro, &st, err, sizeof err), 0, "%s", err);
        view v;
        read_store(st, &v);
        cr_assert_eq(v.rc, 0, "%s", v.err);
        cr_assert_eq(v.n, total);
        cr_assert_eq(check_prefix(&v, &h, total), 60);
        cr_assert_gt(faultio_fired(&fio, FIO_PREAD), 100);
        tsagg_store_close(st);
        view_free(&v);
    }
    /* The writer's recovery scan also tolerates short reads. */
    faultio_init(&fio, NULL);
    faultio_short_all(&fio, FIO_PREAD, 5);
    opts_for(&o, faultio_table(&fio), TSAGG_SYNC_BATCH, 64 << 10, 4096);
    st = open_ok(dir, &o);
    cr_assert_eq(tsagg_last_seq(st), total);
    cr_assert_eq(tsagg_store_close(st), 0);
    tu_rmtree(dir);
}

Test(faults, segment_create_fails_during_roll)
{
    char dir[4096], path[4200];
    tu_tmpdir(dir, sizeof dir);
    faultio fio;
    faultio_init(&fio, NULL);
    tsagg_options o;
    opts_for(&o, faultio_table(&fio), TSAGG_SYNC_BATCH, 64 << 10, 0);
    tsagg_store *st = open_ok(dir, &o);
    /* Segment 1 is the first creation; the roll to segment 2 fails. */
    faultio_arm_filtered(&fio, FIO_OPEN, FIO_FAIL, 2, 1, -EMFILE, 0, ".tlog", O_CREAT);
    history h = {0};
    uint64_t b = 1, durable = 0;
    int rc = 0;
    for (; b < 200 && rc == 0; b++) {
        rc = append(st, &h, b, size_of_batch(b), NULL);
        if (rc == 0)
            durable = tsagg_durable_seq(st);
    }
    cr_assert_eq(rc, -EMFILE, "append: %s", tsagg_strerror(rc));
    cr_assert_eq(faultio_fired(&fio, FIO_OPEN), 1);
    char err[512];
    tsagg_store_errmsg(st, err, sizeof err);
    cr_assert(strstr(err, "0000000000000002.tlog"), "errmsg: %s", err);
    cr_assert_eq(tsagg_durable_seq(st), durable);
    faultio_disarm_all(&fio);
    cr_assert_eq(append(st, &h, b, 1, NULL), -EMFILE);
    cr_assert_eq(tsagg_store_close(st), -EMFILE);
    seg_path(dir, 2, path, sizeof path);
    cr_assert(!file_exists(path));

    /* Segment 1 was sealed before the failure; the writer reopens fine and
     * the next append creates segment 2. */
    st = open_default(dir);
    uint64_t last = tsagg_last_seq(st);
    cr_assert_geq(last, durable);
    append_ok(st, NULL, 9999 % MAXB, 5);
    cr_assert_eq(tsagg_store_close(st), 0);
    cr_assert(file_exists(path));
    view v;
    read_path(dir, &v);
    cr_assert_eq(v.rc, 0, "%s", v.err);
    cr_assert_eq(v.n, last + 5);
    view_free(&v);
    tu_rmtree(dir);
}

/*
 * The systematic sweep: for each kind of fault and each N, fail the Nth such
 * call of a workload that rolls segments, then check stickiness and what a
 * reopen finds. Stops for a kind once its fault no longer fires.
 */
typedef struct sweep_case {
    const char *name;
    int op, kind, err;
    size_t k;
    const char *match;
    int open_flags;
    uint32_t sync;
} sweep_case;

/* Run one workload with the fault armed at nth. Returns 0 when the fault
 * did not fire (the workload ran past the last such call). */
static int sweep_one(const char *dir, const sweep_case *c, uint64_t nth)
{
    faultio fio;
    faultio_init(&fio, NULL);
    tsagg_options o;
    opts_for(&o, faultio_table(&fio), c->sync, 64 << 10, 4096);
    tsagg_store *st = open_ok(dir, &o);
    faultio_arm_filtered(&fio, c->op, c->kind, nth, 1, c->err, c->k, c->match, c->open_flags);
    static history h; /* large; a test process runs one test at a time */
    memset(&h, 0, sizeof h);
    /* What failed and what was durable before it: a failed append must not
     * be reported durable; a failed flush leaves something not durable; a
     * roll flushes before it seals, so its flush may have succeeded. */
    uint64_t durable = 0, before = 0;
    int rc = 0;
    const char *what = "append";
    for (uint64_t b = 1; b <= 80 && rc == 0; b++) {
        durable = tsagg_durable_seq(st);
        before = tsagg_last_seq(st);
        what = "append";
        rc = append(st, &h, b, size_of_batch(b), NULL);
        if (rc == 0 && b % 7 == 0) {
            what = "flush";
            durable = tsagg_durable_seq(st);
            rc = tsagg_flush(st);
        }
        if (rc == 0 && b % 25 == 0) {
            what = "roll";
            durable = tsagg_durable_seq(st);
            rc = tsagg_log_roll(st);
        }
    }
    if (rc == 0) {
        what = "flush";
        durable = tsagg_durable_seq(st);
        rc = tsagg_flush(st);
    }
    int fired = faultio_fired(&fio, c->op) > 0;
    if (!fired) {
        cr_assert_eq(rc, 0, "%s #%" PRIu64 ": %s without a fault", c->name, nth,
                     tsagg_strerror(rc));
        cr_assert_eq(tsagg_store_close(st), 0);
        return 0;
    }
    cr_assert_eq(rc, c->err, "%s #%" PRIu64 ": %s got %s", c->name, nth, what,
                 tsagg_strerror(rc));
    uint64_t d = tsagg_durable_seq(st), last = tsagg_last_seq(st);
    cr_assert_geq(d, durable, "%s #%" PRIu64 ": durable_seq went back", c->name, nth);
    cr_assert_leq(d, last);
    if (what[0] == 'a')
        cr_assert_leq(d, before, "%s #%" PRIu64 ": the failed append was reported durable",
                      c->name, nth);
    else if (what[0] == 'f')
        cr_assert_lt(d, last, "%s #%" PRIu64 ": a failed flush made everything durable",
                     c->name, nth);
    durable = d;
    faultio_disarm_all(&fio);
    cr_assert_eq(tsagg_append(st, &(tsagg_event){.event = "x", .event_len = 1}, 1, NULL),
                 c->err, "%s #%" PRIu64 ": not sticky", c->name, nth);
    cr_assert_eq(tsagg_flush(st), c->err);
    cr_assert_eq(tsagg_durable_seq(st), durable, "durable_seq moved after the failure");
    cr_assert_eq(tsagg_store_close(st), c->err);
    cr_assert_eq(faultio_open_fds(&fio), 0, "%s #%" PRIu64 ": %" PRId64 " descriptors leaked",
                 c->name, nth, faultio_open_fds(&fio));

    /* Recovery with the real I/O, then everything checked. */
    st = open_default(dir);
    view v;
    read_store(st, &v);
    cr_assert_eq(v.rc, 0, "%s #%" PRIu64 ": %s", c->name, nth, v.err);
    check_prefix(&v, &h, durable);
    cr_assert_eq(tsagg_last_seq(st), v.n);
    uint64_t first;
    cr_assert_eq(append(st, NULL, 4000, 2, &first), 0);
    cr_assert_eq(first, v.n + 1);
    cr_assert_eq(tsagg_store_close(st), 0);
    view_free(&v);
    return 1;
}

static void sweep(const sweep_case *c, uint64_t max_n, uint64_t step)
{
    uint64_t fired = 0, nth;
    for (nth = 1; nth <= max_n; nth += step) {
        char dir[4096];
        tu_tmpdir(dir, sizeof dir);
        int f = sweep_one(dir, c, nth);
        tu_rmtree(dir);
        if (!f)
            break;
        fired++;
    }
    cr_assert_gt(fired, 0, "%s never fired", c->name);
    cr_log_info("sweep %s: %" PRIu64 " faulty runs", c->name, fired);
}

Test(faults, sweep_fsync_failures)
{
    sweep(&(sweep_case){"fsync EIO, batch", FIO_FSYNC, FIO_FAIL, -EIO, 0, NULL, 0,
                        TSAGG_SYNC_BATCH}, 400, 3);
    sweep(&(sweep_case){"fsync EIO, none", FIO_FSYNC, FIO_FAIL, -EIO, 0, NULL, 0,
                        TSAGG_SYNC_NONE}, 400, 1);
}

Test(faults, sweep_write_failures)
{
    sweep(&(sweep_case){"pwrite ENOSPC", FIO_PWRITE, FIO_FAIL, -ENOSPC, 0, NULL, 0,
                        TSAGG_SYNC_BATCH}, 400, 3);
    sweep(&(sweep_case){"pwrite torn 61 bytes", FIO_PWRITE, FIO_TORN, -ENOSPC, 61, NULL, 0,
                        TSAGG_SYNC_NONE}, 400, 1);
    sweep(&(sweep_case){"pwrite torn 3000 bytes", FIO_PWRITE, FIO_TORN, -EIO, 3000, NULL, 0,
                        TSAGG_SYNC_BATCH}, 400, 5);
}

Test(faults, sweep_create_failures)
{
    /* Every segment creation; and every open at all (directory opens for
     * the directory fsync included). */
    sweep(&(sweep_case){"segment create", FIO_OPEN, FIO_FAIL, -ENOSPC, 0, ".tlog", O_CREAT,
                        TSAGG_SYNC_BATCH}, 100, 1);
    sweep(&(sweep_case){"any open", FIO_OPEN, FIO_FAIL, -EMFILE, 0, NULL, 0,
                        TSAGG_SYNC_NONE}, 200, 1);
}

/* Faults while recovering: the open fails with the error naming the file,
 * the log is left as it was, and a later open recovers. */
Test(faults, recovery_faults)
{
    char dir[4096], path[4200];
    tu_tmpdir(dir, sizeof dir);
    history h = {0};
    tsagg_store *st = open_default(dir);
    for (uint64_t b = 1; b <= 3; b++)
        append_ok(st, &h, b, size_of_batch(b));
    uint64_t n = tsagg_last_seq(st);
    cr_assert_eq(tsagg_store_close(st), 0);
    seg_path(dir, 1, path, sizeof path);
    uint64_t good = file_size(path);
    static const uint8_t junk[37] = "TSFR garbage garbage garbage garbage";
    FILE *f = fopen(path, "ab");
    fwrite(junk, 1, sizeof junk, f);
    fclose(f);

    struct {
        int op, err;
    } faults[] = {{FIO_FTRUNCATE, -EIO}, {FIO_PREAD, -EIO}, {FIO_LIST, -EACCES},
                  {FIO_FSIZE, -EIO}, {FIO_LOCK, -ENOLCK}, {FIO_FSYNC, -EIO}};
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++) {
        faultio fio;
        faultio_init(&fio, NULL);
        faultio_fail_from(&fio, faults[i].op, 1, faults[i].err);
        tsagg_options o;
        opts_for(&o, faultio_table(&fio), TSAGG_SYNC_BATCH, 0, 0);
        char err[512];
        int rc = tsagg_store_open(dir, &o, &st, err, sizeof err);
        cr_assert_eq(rc, faults[i].err, "%s fault: open returned %s (%s)",
                     faultio_op_name(faults[i].op), tsagg_strerror(rc), err);
        cr_assert_null(st);
        cr_assert(err[0], "%s fault: no errmsg", faultio_op_name(faults[i].op));
        cr_assert_eq(faultio_open_fds(&fio), 0, "%s fault: descriptors leaked",
                     faultio_op_name(faults[i].op));
        if (faults[i].op == FIO_FTRUNCATE)
            cr_assert(strstr(err, "0000000000000001.tlog"), "errmsg: %s", err);
        /* The fsync follows the truncation: only it may leave the file cut. */
        if (faults[i].op != FIO_FSYNC)
            cr_assert_eq(file_size(path), good + sizeof junk, "failed recovery changed the file");
    }
    st = open_default(dir);
    cr_assert_eq(file_size(path), good);
    cr_assert_eq(tsagg_last_seq(st), n);
    cr_assert_eq(tsagg_store_close(st), 0);

    /* A header-only last segment whose removal fails. */
    cr_assert_eq(tsagg_log_roll(st = open_default(dir)), 0);
    cr_assert_eq(tsagg_store_close(st), 0);
    seg_path(dir, 2, path, sizeof path);
    spit(path, (const uint8_t *)"TSAGGLOG", 8);
    faultio fio;
    faultio_init(&fio, NULL);
    faultio_fail_from(&fio, FIO_UNLINK, 1, -EROFS);
    tsagg_options o;
    opts_for(&o, faultio_table(&fio), TSAGG_SYNC_BATCH, 0, 0);
    char err[512];
    cr_assert_eq(tsagg_store_open(dir, &o, &st, err, sizeof err), -EROFS);
    cr_assert(strstr(err, "0000000000000002.tlog"), "errmsg: %s", err);
    cr_assert(file_exists(path));
    st = open_default(dir);
    cr_assert(!file_exists(path));
    append_ok(st, &h, 10, 4);
    cr_assert_eq(tsagg_store_close(st), 0);
    view v;
    read_path(dir, &v);
    cr_assert_eq(v.rc, 0, "%s", v.err);
    cr_assert_eq(check_prefix(&v, &h, n + 4), 4);
    view_free(&v);
    tu_rmtree(dir);
}

/*
 * One append larger than a frame is split into several frames (records of
 * at most max(frame_bytes / 2, 64 KiB)). When the write fails after the
 * first of them reached the file, the reopened log holds a prefix of that
 * append: never reported durable, but not "all or nothing" either. This
 * test pins the current behaviour (whole frames, contiguous, no duplicates);
 * see the report on tsagg_log.h's "become durable together".
 */
Test(faults, large_append_split_across_frames)
{
    char dir[4096];
    tu_tmpdir(dir, sizeof dir);
    faultio fio;
    faultio_init(&fio, NULL);
    tsagg_options o;
    opts_for(&o, faultio_table(&fio), TSAGG_SYNC_BATCH, 0, 4096);
    tsagg_store *st = open_ok(dir, &o);
    history h = {0};
    append_ok(st, &h, 1, 10);
    /* 4000 events of ~110 estimated bytes: about 7 records of 64 KiB. The
     * write of all of them is torn 24 KiB in. */
    faultio_torn(&fio, 1, 24 << 10, -ENOSPC);
    cr_assert_eq(append(st, &h, 2, 4000, NULL), -ENOSPC);
    cr_assert_eq(tsagg_store_close(st), -ENOSPC);
    view v;
    st = open_default(dir);
    read_store(st, &v);
    cr_assert_eq(v.rc, 0, "%s", v.err);
    cr_assert_geq(v.n, 10);
    for (size_t s = 10; s < v.n; s++)
        cr_assert_eq(v.ids[s], ev_id(2, s - 10));
    cr_log_info("torn 4000-event append: %zu of its events survive the reopen", v.n - 10);
    cr_assert_eq(tsagg_store_close(st), 0);
    view_free(&v);
    tu_rmtree(dir);
}

/* Creating a store under faults: the open fails with the error and leaks
 * nothing; a later clean open creates a working store. */
Test(faults, create_store_faults)
{
    static const int ops[] = {FIO_MKDIR, FIO_OPEN, FIO_PWRITE, FIO_FSYNC, FIO_RENAME,
                              FIO_CLOSE, FIO_LOCK, FIO_PREAD, FIO_LIST};
    unsigned faulty = 0;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        for (uint64_t nth = 1; nth < 50; nth++) {
            char dir[4096], sub[4200];
            tu_tmpdir(dir, sizeof dir);
            snprintf(sub, sizeof sub, "%s/store", dir);
            faultio fio;
            faultio_init(&fio, NULL);
            faultio_fail(&fio, ops[i], nth, -EIO);
            tsagg_options o;
            opts_for(&o, faultio_table(&fio), TSAGG_SYNC_BATCH, 0, 0);
            tsagg_store *st;
            char err[512];
            int rc = tsagg_store_open(sub, &o, &st, err, sizeof err);
            int fired = faultio_fired(&fio, ops[i]) > 0;
            faultio_disarm_all(&fio); /* only the open is under test */
            if (rc == 0) {
                /* A failed close may be ignored, and so may the listing of
                 * the best-effort removal of *.tmp files at recovery (the
                 * second listing, after the emptiness check of creation; a
                 * third finds the segments); nothing else. */
                cr_assert(!fired || ops[i] == FIO_CLOSE || (ops[i] == FIO_LIST && nth == 2),
                          "%s #%" PRIu64 " fault ignored",
                          faultio_op_name(ops[i]), nth);
                append_ok(st, NULL, 1, 3);
                cr_assert_eq(tsagg_store_close(st), 0);
            } else {
                cr_assert(fired, "open failed without a fault: %s", tsagg_strerror(rc));
                cr_assert_eq(rc, -EIO, "%s #%" PRIu64 ": %s (%s)", faultio_op_name(ops[i]), nth,
                             tsagg_strerror(rc), err);
                cr_assert_null(st);
                faulty++;
            }
            cr_assert_eq(faultio_open_fds(&fio), 0, "%s #%" PRIu64 ": descriptors leaked",
                         faultio_op_name(ops[i]), nth);
            /* Whatever the failure left, a clean open makes a working store. */
            st = open_default(sub);
            uint64_t first;
            cr_assert_eq(append(st, NULL, 2, 2, &first), 0);
            cr_assert_eq(first, rc == 0 ? 4 : 1);
            cr_assert_eq(tsagg_store_close(st), 0);
            tu_rmtree(dir);
            if (!fired)
                break;
        }
    }
    cr_assert_gt(faulty, 10);
}

/* Two appenders share flushes (group commit): when the shared fsync fails,
 * both learn it, and what either was told is durable survives. */
typedef struct gc_thread {
    tsagg_store *st;
    uint64_t base;          /* batch numbers base, base+1, ... */
    uint64_t first[400];    /* first_seq of successful appends */
    uint64_t batch[400];
    size_t ok;
    int err;
} gc_thread;

static void *gc_main(void *arg)
{
    gc_thread *t = arg;
    for (uint64_t k = 0; k < 400; k++) {
        batch bt;
        uint64_t b = t->base + k;
        batch_make(&bt, b, size_of_batch(b));
        uint64_t first;
        int rc = tsagg_append(t->st, bt.evs, bt.n, &first);
        batch_free(&bt);
        if (rc != 0) {
            t->err = rc;
            return NULL;
        }
        t->first[t->ok] = first;
        t->batch[t->ok++] = b;
    }
    return NULL;
}

Test(faults, group_commit_fsync_failure)
{
    for (uint64_t nth = 3; nth <= 60; nth += 19) {
        char dir[4096];
        tu_tmpdir(dir, sizeof dir);
        faultio fio;
        faultio_init(&fio, NULL);
        tsagg_options o;
        opts_for(&o, faultio_table(&fio), TSAGG_SYNC_BATCH, 64 << 10, 0);
        tsagg_store *st = open_ok(dir, &o);
        faultio_fail(&fio, FIO_FSYNC, nth, -EIO);
        gc_thread t[2] = {{.st = st, .base = 1}, {.st = st, .base = 1001}};
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
            cr_assert_eq(pthread_create(&th[i], NULL, gc_main, &t[i]), 0);
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        cr_assert_eq(faultio_fired(&fio, FIO_FSYNC), 1);
        cr_assert(t[0].err == -EIO && t[1].err == -EIO, "fsync #%" PRIu64 ": errors %d %d", nth,
                  t[0].err, t[1].err);
        uint64_t durable = tsagg_durable_seq(st);
        cr_assert_eq(tsagg_store_close(st), -EIO);

        view v;
        read_path(dir, &v);
        cr_assert_eq(v.rc, 0, "%s", v.err);
        cr_assert_geq(v.n, durable);
        for (int i = 0; i < 2; i++)
            for (size_t k = 0; k < t[i].ok; k++) {
                uint64_t b = t[i].batch[k], f = t[i].first[k];
                cr_assert_leq(f + size_of_batch(b) - 1, durable,
                              "batch %" PRIu64 " returned success beyond durable_seq", b);
                for (size_t e = 0; e < size_of_batch(b); e++)
                    cr_assert_eq(v.ids[f - 1 + e], ev_id(b, e));
            }
        /* Whole batches only, each once. */
        static uint8_t seen[2048];
        memset(seen, 0, sizeof seen);
        for (size_t s = 0; s < v.n;) {
            uint64_t b = v.ids[s] >> 24;
            cr_assert(b < 2048 && !seen[b], "batch %" PRIu64 " twice", b);
            seen[b] = 1;
            for (size_t e = 0; e < size_of_batch(b); e++, s++)
                cr_assert(s < v.n && v.ids[s] == ev_id(b, e), "batch %" PRIu64 " partial", b);
        }
        view_free(&v);
        tu_rmtree(dir);
    }
}

Test(faults, close_returns_final_flush_failure)
{
    char dir[4096];
    tu_tmpdir(dir, sizeof dir);
    faultio fio;
    faultio_init(&fio, NULL);
    tsagg_options o;
    opts_for(&o, faultio_table(&fio), TSAGG_SYNC_NONE, 0, 0);
    tsagg_store *st = open_ok(dir, &o);
    history h = {0};
    append_ok(st, &h, 1, 20);
    cr_assert_eq(tsagg_flush(st), 0);
    append_ok(st, &h, 2, 20); /* buffered only */
    cr_assert_eq(tsagg_durable_seq(st), 20);
    faultio_torn(&fio, 1, 10, -ENOSPC);
    cr_assert_eq(tsagg_store_close(st), -ENOSPC);
    view v;
    st = open_default(dir);
    read_store(st, &v);
    cr_assert_eq(v.rc, 0, "%s", v.err);
    cr_assert_eq(check_prefix(&v, &h, 20), 1);
    cr_assert_eq(tsagg_store_close(st), 0);
    view_free(&v);
    tu_rmtree(dir);
}

/* An I/O error while reading is returned (sticky), naming file and offset. */
Test(faults, reader_io_error)
{
    char dir[4096];
    tu_tmpdir(dir, sizeof dir);
    history h = {0};
    uint64_t total = build_three_segments(dir, &h);
    for (uint64_t nth = 1; nth < 200; nth += 7) {
        faultio fio;
        faultio_init(&fio, NULL);
        tsagg_options o;
        tsagg_options_init(&o);
        o.io = faultio_table(&fio);
        tsagg_store *st = open_ok(dir, &o);
        faultio_fail(&fio, FIO_PREAD, nth, -EIO);
        view v;
        read_store(st, &v);
        if (faultio_fired(&fio, FIO_PREAD) == 0) {
            cr_assert_eq(v.rc, 0);
            cr_assert_eq(v.n, total);
            tsagg_store_close(st);
            view_free(&v);
            break;
        }
        cr_assert_eq(v.rc, -EIO, "pread #%" PRIu64 ": reader returned %s after %zu events", nth,
                     tsagg_strerror(v.rc), v.n);
        cr_assert(strstr(v.err, ".tlog") && strstr(v.err, "offset"), "errmsg: %s", v.err);
        check_prefix(&v, &h, 0);
        tsagg_store_close(st);
        cr_assert_eq(faultio_open_fds(&fio), 0, "descriptors leaked");
        view_free(&v);
    }
    tu_rmtree(dir);
}

/* Archiving under faults: every failure returns the error, leaves no
 * temporary file, and leaves the log reading exactly as before; the writer
 * is not failed by it, and a later archive succeeds. */
static int list_tmp(const char *dir)
{
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "ls '%s/log' | grep -c '\\.tmp$' >/dev/null", dir);
    return system(cmd) == 0;
}

Test(faults, archive_fault_sweep)
{
    char dir[4096];
    tu_tmpdir(dir, sizeof dir);
    history h = {0};
    uint64_t total = build_three_segments(dir, &h);
    view ref;
    read_path(dir, &ref);
    cr_assert_eq(ref.rc, 0);
    struct {
        int op, err;
        const char *match;
        int flags;
    } cases[] = {{FIO_OPEN, -EMFILE, NULL, 0}, {FIO_OPEN, -ENOSPC, ".tmp", O_CREAT},
                 {FIO_PWRITE, -ENOSPC, NULL, 0}, {FIO_FSYNC, -EIO, NULL, 0},
                 {FIO_RENAME, -EXDEV, NULL, 0},  {FIO_PREAD, -EIO, NULL, 0}};
    unsigned faulty = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (uint64_t nth = 1; nth < 100; nth++) {
            faultio fio;
            faultio_init(&fio, NULL);
            tsagg_options o;
            opts_for(&o, faultio_table(&fio), TSAGG_SYNC_BATCH, 0, 0);
            tsagg_store *st = open_ok(dir, &o);
            faultio_arm_filtered(&fio, cases[c].op, FIO_FAIL, nth, 1, cases[c].err, 0,
                                 cases[c].match, cases[c].flags);
            unsigned count = 99;
            int rc = tsagg_log_archive(st, 1, &count);
            int fired = faultio_fired(&fio, cases[c].op) > 0;
            faultio_disarm_all(&fio);
            if (!fired) {
                cr_assert_eq(rc, 0, "%s", tsagg_strerror(rc));
                cr_assert_eq(tsagg_store_close(st), 0);
                /* Undo: rebuild a live store for the next case. */
                tu_rmtree(dir);
                tu_tmpdir(dir, sizeof dir);
                memset(&h, 0, sizeof h);
                build_three_segments(dir, &h);
                break;
            }
            faulty++;
            cr_assert_eq(rc, cases[c].err, "%s #%" PRIu64 ": archive returned %s",
                         faultio_op_name(cases[c].op), nth, tsagg_strerror(rc));
            cr_assert_leq(count, 2);
            char err[512];
            tsagg_store_errmsg(st, err, sizeof err);
            cr_assert(strstr(err, ".tlog"), "errmsg: %s", err);
            cr_assert(!list_tmp(dir), "%s #%" PRIu64 ": a .tmp file was left behind",
                      faultio_op_name(cases[c].op), nth);
            /* The writer is unaffected. */
            uint64_t first;
            cr_assert_eq(append(st, NULL, 3000, 1, &first), 0);
            cr_assert_eq(first, total + 1);
            cr_assert_eq(tsagg_store_close(st), 0);
            cr_assert_eq(faultio_open_fds(&fio), 0, "descriptors leaked");
            view v;
            read_path(dir, &v);
            cr_assert_eq(v.rc, 0, "%s #%" PRIu64 ": %s", faultio_op_name(cases[c].op), nth, v.err);
            cr_assert_eq(v.n, total + 1);
            cr_assert(memcmp(v.ids, ref.ids, total * sizeof *v.ids) == 0);
            view_free(&v);
            /* Drop the extra event again for the next run: rebuild. */
            tu_rmtree(dir);
            tu_tmpdir(dir, sizeof dir);
            memset(&h, 0, sizeof h);
            build_three_segments(dir, &h);
        }
    }
    cr_assert_gt(faulty, 6);
    cr_log_info("archive faults: %u faulty runs", faulty);
    /* And a clean archive reads the same. */
    tsagg_store *st = open_default(dir);
    unsigned count;
    cr_assert_eq(tsagg_log_archive(st, 3, &count), 0);
    cr_assert_eq(count, 2);
    cr_assert_eq(tsagg_store_close(st), 0);
    view v;
    read_path(dir, &v);
    cr_assert_eq(v.rc, 0, "%s", v.err);
    cr_assert_eq(v.n, total);
    cr_assert(memcmp(v.ids, ref.ids, total * sizeof *v.ids) == 0);
    view_free(&v);
    view_free(&ref);
    tu_rmtree(dir);
}

/* ======================================================================== */
/* Damaged files                                                            */
/* ======================================================================== */

Test(faults, flipped_byte_in_sealed_segment)
{
    char dir[4096], path[4200];
    tu_tmpdir(dir, sizeof dir);
    history h = {0};
    uint64_t total = build_three_segments(dir, &h);
    seg_path(dir, 1, path, sizeof path);
    uint64_t offs[64];
    uint8_t types[64];
    size_t nf = frame_offsets(path, offs, 64, types);
    cr_assert_geq(nf, 3, "segment 1 has %zu frames", nf);
    cr_assert_eq(types[nf - 1], 2, "segment 1 is not sealed");
    /* Inside the payload of the second frame. */
    uint64_t bad = offs[1];
    flip_byte(path, bad + 56 + (offs[2] - offs[1] - 56) / 2);

    char want[64];
    snprintf(want, sizeof want, "offset %" PRIu64, bad);
    view v;
    read_path(dir, &v);
    cr_assert(v.rc == TSAGG_ECHECKSUM || v.rc == TSAGG_ECORRUPT, "reader returned %s",
              tsagg_strerror(v.rc));
    cr_assert(strstr(v.err, "0000000000000001.tlog") && strstr(v.err, want),
              "errmsg should name the file and %s: \"%s\"", want, v.err);
    cr_assert_eq(check_prefix(&v, &h, 0), 1, "only the first frame precedes the damage");
    view_free(&v);

    /* The error is sticky on the reader, and reads that skip segment 1
     * (by sequence range) are unaffected. */
    tsagg_store *st;
    cr_assert_eq(tsagg_store_open(dir, NULL, &st, NULL, 0), 0);
    tsagg_log_range r;
    tsagg_log_range_init(&r);
    tsagg_segment_info si[3] = {{.struct_size = sizeof(tsagg_segment_info)}};
    cr_assert_eq(tsagg_log_segments(st, si, 3), 3);
    r.from_seq = si[1].first_seq;
    tsagg_log_reader *rd;
    cr_assert_eq(tsagg_log_reader_open(st, &r, &rd), 0);
    const tsagg_event *e;
    uint64_t seq, n = 0;
    int rc;
    while ((rc = tsagg_log_reader_next(rd, &e, &seq)) == 1)
        n++;
    cr_assert_eq(rc, 0, "range after the damage: %s", tsagg_strerror(rc));
    cr_assert_eq(n, total - si[1].first_seq + 1);
    tsagg_log_reader_close(rd);
    tsagg_store_close(st);
    tu_rmtree(dir);
}

Test(faults, flipped_byte_mid_last_segment_refuses_writer)
{
    char dir[4096], path[4200];
    tu_tmpdir(dir, sizeof dir);
    history h = {0};
    build_three_segments(dir, &h);
    seg_path(dir, 3, path, sizeof path);
    uint64_t offs[64];
    size_t nf = frame_offsets(path, offs, 64, NULL);
    cr_assert_geq(nf, 3);
    uint64_t size = file_size(path);
    uint64_t bad = offs[1];
    flip_byte(path, bad + 56 + (offs[2] - offs[1] - 56) / 3);

    tsagg_store *st;
    char err[512], want[64];
    snprintf(want, sizeof want, "offset %" PRIu64, bad);
    int rc = tsagg_store_open(dir, &(tsagg_options){0}, &st, err, sizeof err);
    cr_assert_eq(rc, TSAGG_EARG); /* struct_size 0 */
    tsagg_options o;
    opts_for(&o, NULL, TSAGG_SYNC_BATCH, 0, 0);
    rc = tsagg_store_open(dir, &o, &st, err, sizeof err);
    cr_assert_eq(rc, TSAGG_ECORRUPT, "writer open returned %s (%s)", tsagg_strerror(rc), err);
    cr_assert(strstr(err, "0000000000000003.tlog") && strstr(err, want),
              "errmsg should name the file and %s: \"%s\"", want, err);
    cr_assert_eq(file_size(path), size, "damage was truncated away");
    /* Still refused the second time: nothing was changed. */
    cr_assert_eq(tsagg_store_open(dir, &o, &st, err, sizeof err), TSAGG_ECORRUPT);

    /* A reader never returns anything past the damage as if it were fine. */
    view v;
    read_path(dir, &v);
    check_prefix(&v, &h, 0);
    cr_log_info("reader over damaged last segment: %zu events, %s", v.n, tsagg_strerror(v.rc));
    view_free(&v);
    tu_rmtree(dir);
}

static void torn_tail_case(int garbage)
{
    char dir[4096], path[4200];
    tu_tmpdir(dir, sizeof dir);
    history h = {0};
    uint64_t total = build_three_segments(dir, &h);
    seg_path(dir, 3, path, sizeof path);
    uint64_t offs[64];
    size_t nf = frame_offsets(path, offs, 64, NULL);
    uint64_t size = file_size(path);
    uint64_t keep = size; /* where the valid log ends after recovery */
    size_t want_batches = 12;
    if (garbage) {
        uint8_t junk[333];
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (uint8_t)(i * 131 + 7);
        memcpy(junk, "TSFR", 4); /* looks like a frame header at first */
        FILE *f = fopen(path, "ab");
        fwrite(junk, 1, sizeof junk, f);
        fclose(f);
    } else {
        /* Cut the last frame in its middle. */
        keep = offs[nf - 1];
        cr_assert_eq(truncate(path, (off_t)(keep + (size - keep) / 2)), 0);
        want_batches = 11;
        total -= h.size[12];
    }
    view v;
    read_path(dir, &v); /* before recovery: the tail just ends the read */
    cr_assert_eq(v.rc, 0, "%s", v.err);
    cr_assert_eq(check_prefix(&v, &h, total), want_batches);
    view_free(&v);

    tsagg_store *st = open_default(dir);
    cr_assert_eq(file_size(path), keep, "torn tail not truncated to the last valid frame");
    cr_assert_eq(tsagg_last_seq(st), total);
    h.n = want_batches;
    append_ok(st, &h, 20, 7);
    cr_assert_eq(tsagg_store_close(st), 0);
    read_path(dir, &v);
    cr_assert_eq(v.rc, 0, "%s", v.err);
    cr_assert_eq(check_prefix(&v, &h, total + 7), want_batches + 1);
    view_free(&v);
    tu_rmtree(dir);
}

Test(faults, torn_last_frame_truncated) { torn_tail_case(0); }
Test(faults, garbage_after_last_frame_truncated) { torn_tail_case(1); }

/*
 * A power loss without fsync can keep a later page of the log and lose an
 * earlier one. Frames written before their predecessors were synced say so
 * (flags bit 0 clear): a bad frame followed only by such frames was never
 * made durable, so never reported durable, and recovery cuts it like a
 * torn tail (keeping the bytes aside) instead of refusing to open.
 */
Test(faults, unsynced_middle_frame_lost_is_a_torn_tail)
{
    char dir[4096], path[4200];
    tu_tmpdir(dir, sizeof dir);
    history h = {0};
    tsagg_options o;
    opts_for(&o, NULL, TSAGG_SYNC_NONE, 0, 4096); /* frames written as they fill, no fsync */
    tsagg_store *st = open_ok(dir, &o);
    for (uint64_t b = 1; b <= 40; b++)
        append_ok(st, &h, b, 20);
    cr_assert_eq(tsagg_store_close(st), 0);
    seg_path(dir, 1, path, sizeof path);
    uint64_t offs[256];
    size_t nf = frame_offsets(path, offs, 256, NULL);
    cr_assert_geq(nf, 8, "%zu frames", nf);
    size_t len;
    uint8_t *bytes = slurp(path, &len);
    size_t last_synced = 0; /* the last frame saying all before it was synced */
    for (size_t i = 0; i < nf; i++)
        if (bytes[offs[i] + 7] & 1)
            last_synced = i;
    cr_assert_lt(last_synced + 3, nf, "frames after the last synced one: %zu of %zu",
                 nf - last_synced, nf);
    size_t lost = last_synced + 1;
    /* The page holding frame `lost` never reached the disk: zeros. */
    memset(bytes + offs[lost], 0, (size_t)(offs[lost + 1] - offs[lost]));
    spit(path, bytes, len);
    free(bytes);

    view v;
    read_path(dir, &v); /* readers: the readable tail ends there */
    cr_assert_eq(v.rc, 0, "reader: %s", v.err);
    size_t kept = v.n;
    view_free(&v);
    tsagg_store *st2;
    char err[512];
    /* Verify points at it: what the next writer open will cut. */
    cr_assert_eq(tsagg_store_open(dir, NULL, &st2, err, sizeof err), 0, "%s", err);
    tsagg_verify_stats vs;
    cr_assert_eq(tsagg_verify(st2, NULL, NULL, &vs), TSAGG_ECORRUPT);
    cr_assert_eq(vs.problems, 1);
    tsagg_store_close(st2);
    opts_for(&o, NULL, TSAGG_SYNC_BATCH, 0, 0);
    int rc = tsagg_store_open(dir, &o, &st2, err, sizeof err);
    cr_assert_eq(rc, 0, "writer open: %s (%s)", tsagg_strerror(rc), err);
    cr_assert_eq(file_size(path), offs[lost], "cut at the lost frame");
    cr_assert_eq(tsagg_last_seq(st2), kept);
    char cut[4300];
    snprintf(cut, sizeof cut, "%s.cut-%" PRIu64, path, offs[lost]);
    cr_assert_eq(file_size(cut), len - offs[lost], "the bytes cut off are kept aside");
    uint64_t first;
    cr_assert_eq(append(st2, NULL, 99, 3, &first), 0);
    cr_assert_eq(first, kept + 1);
    cr_assert_eq(tsagg_store_close(st2), 0);
    tu_rmtree(dir);
}

Test(faults, truncated_segment_header_removed)
{
    char dir[4096], path[4200];
    tu_tmpdir(dir, sizeof dir);
    history h = {0};
    tsagg_store *st = open_default(dir);
    append_ok(st, &h, 1, 40);
    cr_assert_eq(tsagg_log_roll(st), 0);
    cr_assert_eq(tsagg_store_close(st), 0);
    char one[4200];
    seg_path(dir, 1, one, sizeof one);
    size_t len;
    uint8_t *hdr = slurp(one, &len);
    seg_path(dir, 2, path, sizeof path);
    spit(path, hdr, 30); /* a crash while segment 2 was being created */

    view v;
    read_path(dir, &v);
    cr_assert_eq(v.rc, 0, "reader: %s", v.err);
    cr_assert_eq(v.n, 40);
    view_free(&v);

    st = open_default(dir);
    cr_assert(!file_exists(path), "30-byte segment not removed");
    cr_assert_eq(tsagg_last_seq(st), 40);
    append_ok(st, &h, 2, 5);
    cr_assert_eq(tsagg_store_close(st), 0);
    cr_assert(file_exists(path));
    read_path(dir, &v);
    cr_assert_eq(v.rc, 0, "%s", v.err);
    cr_assert_eq(check_prefix(&v, &h, 45), 2);
    view_free(&v);

    /* The same when it is the only segment. */
    tu_rmtree(dir);
    tu_tmpdir(dir, sizeof dir);
    cr_assert_eq(tsagg_store_close(open_default(dir)), 0);
    seg_path(dir, 1, path, sizeof path);
    spit(path, hdr, 30);
    st = open_default(dir);
    cr_assert_eq(tsagg_last_seq(st), 0);
    uint64_t first;
    cr_assert_eq(append(st, NULL, 3, 2, &first), 0);
    cr_assert_eq(first, 1);
    cr_assert_eq(tsagg_store_close(st), 0);
    free(hdr);
    tu_rmtree(dir);
}

/* Rewrite a segment header field and recompute its checksum. */
static void patch_header(const char *path, size_t off, const void *bytes, size_t n, int rehash)
{
    size_t len;
    uint8_t *p = slurp(path, &len);
    cr_assert_geq(len, 64);
    memcpy(p + off, bytes, n);
    if (rehash) {
        uint64_t x = XXH64(p, 56, 0);
        for (int i = 0; i < 8; i++)
            p[56 + i] = (uint8_t)(x >> (8 * i));
    }
    spit(path, p, len);
    free(p);
}

static void expect_header_error(const char *dir, int want, const char *file)
{
    view v;
    read_path(dir, &v);
    cr_assert_eq(v.rc, want, "reader: %s (%s)", tsagg_strerror(v.rc), v.err);
    cr_assert(strstr(v.err, file), "reader errmsg names no file: %s", v.err);
    view_free(&v);
    tsagg_store *st;
    tsagg_options o;
    opts_for(&o, NULL, TSAGG_SYNC_BATCH, 0, 0);
    char err[512];
    int rc = tsagg_store_open(dir, &o, &st, err, sizeof err);
    cr_assert_eq(rc, want, "writer open: %s (%s)", tsagg_strerror(rc), err);
    cr_assert(strstr(err, file), "writer errmsg names no file: %s", err);
}

Test(faults, segment_version_3)
{
    char dir[4096], path[4200];
    tu_tmpdir(dir, sizeof dir);
    history h = {0};
    build_three_segments(dir, &h);
    seg_path(dir, 3, path, sizeof path);
    uint8_t v3[2] = {3, 0};
    patch_header(path, 8, v3, 2, 1);
    expect_header_error(dir, TSAGG_EVERSION, "0000000000000003.tlog");
    cr_assert(file_exists(path));
    tu_rmtree(dir);
}

/* Version 3 in a sealed segment before the last: the writer's recovery
 * continues after that segment's seal, which it must not interpret in a
 * format it does not know. */
Test(faults, segment_version_3_sealed)
{
    char dir[4096], path[4200];
    tu_tmpdir(dir, sizeof dir);
    history h = {0};
    build_three_segments(dir, &h);
    seg_path(dir, 2, path, sizeof path);
    uint8_t v3[2] = {3, 0};
    patch_header(path, 8, v3, 2, 1);
    expect_header_error(dir, TSAGG_EVERSION, "0000000000000002.tlog");
    tu_rmtree(dir);
}

/* A last segment of one version-3 header and no frame: written whole by a
 * newer library (its checksum is valid), not a torn creation. It must be
 * refused, not deleted. */
Test(faults, segment_version_3_header_only)
{
    char dir[4096], path[4200];
    tu_tmpdir(dir, sizeof dir);
    tsagg_store *st = open_default(dir);
    append_ok(st, NULL, 1, 3);
    cr_assert_eq(tsagg_log_roll(st), 0);
    append_ok(st, NULL, 2, 3);
    cr_assert_eq(tsagg_store_close(st), 0);
    seg_path(dir, 2, path, sizeof path);
    cr_assert_eq(truncate(path, 64), 0);
    uint8_t v3[2] = {3, 0};
    patch_header(path, 8, v3, 2, 1);
    tsagg_options o;
    opts_for(&o, NULL, TSAGG_SYNC_BATCH, 0, 0);
    char err[512];
    int rc = tsagg_store_open(dir, &o, &st, err, sizeof err);
    if (rc == 0)
        tsagg_store_close(st);
    cr_assert(file_exists(path), "writer open deleted a version-3 segment");
    cr_assert_eq(rc, TSAGG_EVERSION, "writer open: %s (%s)", tsagg_strerror(rc), err);
    tu_rmtree(dir);
}

Test(faults, segment_wrong_magic)
{
    char dir[4096], path[4200];
    tu_tmpdir(dir, sizeof dir);
    history h = {0};
    build_three_segments(dir, &h);
    seg_path(dir, 3, path, sizeof path);
    patch_header(path, 0, "TSAGGLOX", 8, 1);
    expect_header_error(dir, TSAGG_ECORRUPT, "0000000000000003.tlog");
    tu_rmtree(dir);

    /* In a sealed segment: the reader fails on it. */
    tu_tmpdir(dir, sizeof dir);
    memset(&h, 0, sizeof h);
    build_three_segments(dir, &h);
    seg_path(dir, 1, path, sizeof path);
    patch_header(path, 0, "XSAGGLOG", 8, 1);
    view v;
    read_path(dir, &v);
    cr_assert_eq(v.rc, TSAGG_ECORRUPT, "%s", tsagg_strerror(v.rc));
    cr_assert(strstr(v.err, "0000000000000001.tlog"), "%s", v.err);
    cr_assert_eq(v.n, 0);
    view_free(&v);
    tu_rmtree(dir);
}

Test(faults, segment_header_checksum)
{
    char dir[4096], path[4200];
    tu_tmpdir(dir, sizeof dir);
    history h = {0};
    build_three_segments(dir, &h);
    seg_path(dir, 3, path, sizeof path);
    /* A byte of the creation time, inverted (a set value would be a no-op
     * when the time already holds it), the checksum not updated. */
    size_t len;
    uint8_t *seg = slurp(path, &len);
    uint8_t x = (uint8_t)~seg[40];
    free(seg);
    patch_header(path, 40, &x, 1, 0);
    expect_header_error(dir, TSAGG_ECHECKSUM, "0000000000000003.tlog");
    tu_rmtree(dir);
}
