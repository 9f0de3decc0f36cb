/*
 * test_powercut.c - power loss at every I/O call of every writing operation.
 *
 * Each sweep builds a baseline store, then runs one operation on a fresh
 * copy of it through the power-cut table (powercut.h), once without a cut to
 * count its mutating calls (N), then once per cut point c in 1..N+1 (c = N+1:
 * after the operation and its close), or a seeded sample of them when N is
 * large. After the cut, the disk image is taken in one of three modes
 * (durable only; every change but a torn last write; every file's
 * unsynced changes cut at its own point, and a prefix of the unsynced name
 * changes), drawn from the seed. The operations: store creation; appends in
 * SYNC_BATCH (also right after recovering a torn log), SYNC_INTERVAL and
 * SYNC_NONE with segment rolls, compaction followed by more appends and a second
 * compaction, compaction while another thread appends, merge, rebuild, log
 * archive (each compaction, merge and rebuild ends with a manifest publish),
 * and a schema change (the descriptor replaced) followed by appends.
 *
 * Invariant checked on every image:
 *   - the store opens for writing (recovery) with the default I/O table;
 *   - tsagg_verify() finds nothing, or only damage it calls repairable,
 *     which tsagg_rebuild() of the hours then repairs (verify clean again);
 *   - the log holds sequence numbers 1, 2, 3, ... without a gap, and no
 *     event twice;
 *   - a query grouped by each event's own page value counts every event at
 *     most once, and every event acknowledged durable before the cut
 *     (tsagg_append() returning in SYNC_BATCH, tsagg_durable_seq() in the
 *     other modes, and the whole baseline) exactly once;
 *   - after one more tsagg_compact(), the same holds.
 *
 * Test(powercut, model) checks the model itself on hand-made call sequences.
 *
 * Each sweep prints its number of calls, cut points checked and the seed.
 * TSAGG_POWERCUT_SEED fixes the seed; TSAGG_POWERCUT_ALL=1 checks every cut
 * point instead of a sample; TSAGG_POWERCUT_SCATTER=0 leaves out the images
 * where unsynced sectors land in no order (see powercut.h).
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
#include <time.h>
#include <unistd.h>

#include "powercut.h"
#include "testutil.h"
#include "tsagg.h"

TestSuite(powercut, .timeout = 600);

#define HOUR INT64_C(3600000000)
#define T0 (INT64_C(1699999200) * 1000000) /* an hour boundary */
#define HOURS 5
#define SAMPLE_MAX 200 /* cut points checked per sweep unless TSAGG_POWERCUT_ALL */

/* ---- events: event k has the page value "e<k>", so a query can tell it apart */

static void event_of(uint64_t k, tsagg_event *ev, tsagg_attr *attr, char *page, size_t cap)
{
    snprintf(page, cap, "e%" PRIu64, k);
    *attr = (tsagg_attr){.key = "page", .key_len = 4, .type = TSAGG_STR,
                         .v.s = {.ptr = page, .len = (uint32_t)strlen(page)}};
    *ev = (tsagg_event){.ts = T0 + (int64_t)(k % HOURS) * HOUR + (int64_t)k * 1000,
                        .merchant = 1 + k % 3, .event = "page_view", .event_len = 9,
                        .user = k, .session = k / 4, .attrs = attr, .nattrs = 1};
}

#define APPEND_MAX 64

/* Append events k0..k0+n-1 in one call. */
static int append_range(tsagg_store *st, uint64_t k0, size_t n, uint64_t *first)
{
    tsagg_event evs[APPEND_MAX];
    tsagg_attr attrs[APPEND_MAX];
    char pages[APPEND_MAX][24];
    cr_assert_leq(n, APPEND_MAX);
    for (size_t i = 0; i < n; i++)
        event_of(k0 + i, &evs[i], &attrs[i], pages[i], sizeof pages[i]);
    return tsagg_append(st, evs, n, first);
}

/* ---- one run of an operation ------------------------------------------------ */

#define EVENTS_MAX 1024

typedef struct run {
    const char *dir;
    powercut *pc;             /* NULL: building a baseline */
    const tsagg_io *io;
    uint64_t nevents;         /* events 0..nevents-1 were appended (or tried) */
    uint64_t seq_of[EVENTS_MAX];
    uint8_t acked[EVENTS_MAX];
} run;

/* Before the cut every call succeeds; after it, failures are expected. */
static void expect_ok(run *r, int rc, const char *what, tsagg_store *st)
{
    if (rc == 0 || (r->pc && powercut_is_cut(r->pc)))
        return;
    char msg[512] = "";
    if (st)
        tsagg_store_errmsg(st, msg, sizeof msg);
    cr_assert_fail("%s: %s (%s) without a power cut", what, tsagg_strerror(rc), msg);
}

static tsagg_store *open_store_schema(run *r, uint32_t sync, uint32_t flags,
                                      const tsagg_schema *schema)
{
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | flags;
    o.schema = schema;
    o.io = r->io;
    o.sync_mode = sync;
    o.sync_interval_ms = 1;
    o.frame_bytes = 4096;
    o.segment_bytes = 64 << 10;
    o.io_backend = TSAGG_IO_PWRITE;
    tsagg_store *st = NULL;
    char msg[512] = "";
    int rc = tsagg_store_open(r->dir, &o, &st, msg, sizeof msg);
    expect_ok(r, rc, "open", NULL);
    if (rc != 0 && !(r->pc && powercut_is_cut(r->pc)))
        cr_assert_fail("open: %s", msg);
    return st;
}

static tsagg_store *open_store(run *r, uint32_t sync, uint32_t create)
{
    return open_store_schema(r, sync, create, NULL);
}

/* Every event appended with a sequence number up to the durable one is acknowledged. */
static void ack_durable(run *r, tsagg_store *st)
{
    uint64_t d = tsagg_durable_seq(st);
    for (uint64_t k = 0; k < r->nevents; k++)
        if (r->seq_of[k] && r->seq_of[k] <= d)
            r->acked[k] = 1;
}

/* Append events nevents.. in calls of 1..7, acknowledging as the mode says;
 * a roll every `roll_every` calls, a flush every 4th in SYNC_NONE. */
static void append_some(run *r, tsagg_store *st, uint32_t sync, unsigned calls, unsigned roll_every)
{
    for (unsigned b = 0; b < calls; b++) {
        /* SYNC_NONE: large calls, so that frames fill and are written
         * without an fsync between them. */
        size_t n = sync == TSAGG_SYNC_NONE ? 40 + b % 20 : 1 + (r->nevents * 7 + b) % 7;
        uint64_t k0 = r->nevents, first = 0;
        cr_assert_leq(k0 + n, EVENTS_MAX);
        int rc = append_range(st, k0, n, &first);
        expect_ok(r, rc, "append", st);
        if (rc != 0)
            return;
        r->nevents += n;
        for (size_t i = 0; i < n; i++) {
            r->seq_of[k0 + i] = first + i;
            if (sync == TSAGG_SYNC_BATCH)
                r->acked[k0 + i] = 1;
        }
        if (sync == TSAGG_SYNC_NONE && b % 6 == 5) {
            rc = tsagg_flush(st);
            expect_ok(r, rc, "flush", st);
        }
        if (sync == TSAGG_SYNC_INTERVAL && b % 3 == 0) {
            struct timespec ts = {0, 1500000};
            nanosleep(&ts, NULL);
        }
        if (roll_every && b % roll_every == roll_every - 1) {
            rc = tsagg_log_roll(st);
            expect_ok(r, rc, "roll", st);
        }
        ack_durable(r, st);
    }
}

static void close_store(run *r, tsagg_store *st)
{
    if (!st)
        return;
    ack_durable(r, st);
    int rc = tsagg_store_close(st);
    expect_ok(r, rc, "close", NULL);
    if (rc == 0) /* the final flush succeeded: everything is durable */
        for (uint64_t k = 0; k < r->nevents; k++)
            r->acked[k] = 1;
}

static void compact_threads(run *r, tsagg_store *st, uint32_t threads)
{
    tsagg_compact_options o;
    tsagg_compact_options_init(&o);
    o.threads = threads;
    int rc = tsagg_compact(st, &o, NULL);
    expect_ok(r, rc, "compact", st);
}

static void compact(run *r, tsagg_store *st)
{
    compact_threads(r, st, 1);
}

/* ---- baselines (built with the default table) and operations ------------------ */

static void base_small(run *r)
{
    tsagg_store *st = open_store(r, TSAGG_SYNC_BATCH, TSAGG_OPEN_CREATE);
    append_some(r, st, TSAGG_SYNC_BATCH, 4, 0);
    close_store(r, st);
}

static void base_log(run *r)
{
    tsagg_store *st = open_store(r, TSAGG_SYNC_BATCH, TSAGG_OPEN_CREATE);
    append_some(r, st, TSAGG_SYNC_BATCH, 40, 10);
    close_store(r, st);
}

static void base_compacted(run *r)
{
    tsagg_store *st = open_store(r, TSAGG_SYNC_BATCH, TSAGG_OPEN_CREATE);
    append_some(r, st, TSAGG_SYNC_BATCH, 40, 10);
    compact(r, st);
    close_store(r, st);
}

/* Two files for every hour: late events compacted after the first run. */
static void base_two_files(run *r)
{
    tsagg_store *st = open_store(r, TSAGG_SYNC_BATCH, TSAGG_OPEN_CREATE);
    append_some(r, st, TSAGG_SYNC_BATCH, 25, 0);
    compact(r, st);
    append_some(r, st, TSAGG_SYNC_BATCH, 15, 0);
    compact(r, st);
    close_store(r, st);
}

static void base_none(run *r)
{
    (void)r;
}

/* A store left by a power cut in the middle of appends, with every unsynced
 * change but a torn last write on the disk: the next writer recovers it. */
static void base_crashed(run *r)
{
    char tmp[512], store[700];
    tu_tmpdir(tmp, sizeof tmp);
    snprintf(store, sizeof store, "%s/store", tmp);
    run *w = calloc(1, sizeof *w);
    cr_assert_not_null(w);
    w->dir = store;
    w->io = tsagg_io_default();
    base_small(w);
    powercut *pc = powercut_init(tmp);
    powercut_arm(pc, 22, 1);
    w->pc = pc;
    w->io = powercut_table(pc);
    tsagg_store *st = open_store(w, TSAGG_SYNC_BATCH, 0);
    append_some(w, st, TSAGG_SYNC_BATCH, 20, 0);
    close_store(w, st);
    cr_assert(powercut_is_cut(pc));
    char image[600];
    snprintf(image, sizeof image, "%s/image", tmp);
    powercut_image(pc, PC_TORN, image);
    powercut_free(pc);
    snprintf(store, sizeof store, "%s/store", image);
    tu_copy_tree(store, r->dir);
    /* What was not acknowledged may or may not be there: its sequence
     * number is not known. */
    r->nevents = w->nevents;
    for (uint64_t k = 0; k < w->nevents; k++) {
        r->acked[k] = w->acked[k];
        r->seq_of[k] = w->acked[k] ? w->seq_of[k] : 0;
    }
    free(w);
    tu_rmtree(tmp);
}

static void op_create(run *r)
{
    tsagg_store *st = open_store(r, TSAGG_SYNC_BATCH, TSAGG_OPEN_CREATE);
    if (st)
        append_some(r, st, TSAGG_SYNC_BATCH, 6, 3);
    close_store(r, st);
}

/* The descriptor replaced by a wider schema, then appends under it. */
static void op_evolve_schema(run *r)
{
    tsagg_schema *wide;
    cr_assert_eq(tsagg_schema_create_default(&wide), 0);
    cr_assert_eq(tsagg_schema_add_dimension(wide, "campaign"), 0);
    tsagg_store *st = open_store_schema(r, TSAGG_SYNC_BATCH, TSAGG_OPEN_SCHEMA, wide);
    tsagg_schema_free(wide);
    if (st)
        append_some(r, st, TSAGG_SYNC_BATCH, 6, 0);
    close_store(r, st);
}

typedef struct appender {
    run *r;
    tsagg_store *st;
} appender;

static void *append_thread(void *arg)
{
    appender *a = arg;
    append_some(a->r, a->st, TSAGG_SYNC_BATCH, 12, 0);
    return NULL;
}

/* Compaction while another thread appends: it compacts what was durable
 * when it started, and the appends go on into the tail. */
static void op_compact_while_appending(run *r)
{
    tsagg_store *st = open_store(r, TSAGG_SYNC_BATCH, 0);
    if (st) {
        appender a = {.r = r, .st = st};
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, append_thread, &a), 0);
        compact(r, st);
        pthread_join(t, NULL);
        compact(r, st);
    }
    close_store(r, st);
}

static void op_append_batch(run *r)
{
    tsagg_store *st = open_store(r, TSAGG_SYNC_BATCH, 0);
    if (st)
        append_some(r, st, TSAGG_SYNC_BATCH, 24, 8);
    close_store(r, st);
}

static void op_append_interval(run *r)
{
    tsagg_store *st = open_store(r, TSAGG_SYNC_INTERVAL, 0);
    if (st)
        append_some(r, st, TSAGG_SYNC_INTERVAL, 24, 8);
    close_store(r, st);
}

static void op_append_none(run *r)
{
    tsagg_store *st = open_store(r, TSAGG_SYNC_NONE, 0);
    if (st)
        append_some(r, st, TSAGG_SYNC_NONE, 14, 7);
    close_store(r, st);
}

/* Compaction (hours written by two threads), appends to the tail, and a
 * second compaction that publishes on top of the first. */
static void op_compact(run *r)
{
    tsagg_store *st = open_store(r, TSAGG_SYNC_BATCH, 0);
    if (st) {
        compact_threads(r, st, 2);
        append_some(r, st, TSAGG_SYNC_BATCH, 3, 0);
        compact(r, st);
    }
    close_store(r, st);
}

static void op_merge(run *r)
{
    tsagg_store *st = open_store(r, TSAGG_SYNC_BATCH, 0);
    if (st) {
        int rc = tsagg_merge(st, NULL, NULL);
        expect_ok(r, rc, "merge", st);
    }
    close_store(r, st);
}

static void op_rebuild(run *r)
{
    tsagg_store *st = open_store(r, TSAGG_SYNC_BATCH, 0);
    if (st) {
        tsagg_rebuild_options o;
        tsagg_rebuild_options_init(&o);
        o.from = T0;
        o.to = T0 + HOURS * HOUR;
        int rc = tsagg_rebuild(st, &o, NULL);
        expect_ok(r, rc, "rebuild", st);
    }
    close_store(r, st);
}

static void op_archive(run *r)
{
    tsagg_store *st = open_store(r, TSAGG_SYNC_BATCH, 0);
    if (st) {
        unsigned count = 0;
        int rc = tsagg_log_archive(st, 1, &count);
        expect_ok(r, rc, "archive", st);
    }
    close_store(r, st);
}

/* ---- the invariant ------------------------------------------------------------ */

typedef struct cut_desc {
    const char *sweep;
    uint64_t cut;
    int mode;
    uint64_t seed;
} cut_desc;

#define WHERE(c) "%s, cut before call %" PRIu64 ", %s image, seed %" PRIu64 ": "
#define WHERE_ARGS(c) (c)->sweep, (c)->cut, powercut_mode_name((c)->mode), (c)->seed

static uint64_t page_number(const cut_desc *c, const char *page, size_t len)
{
    cr_assert(len > 1 && page[0] == 'e', WHERE(c) "unexpected page '%.*s'", WHERE_ARGS(c),
              (int)len, page);
    uint64_t k = 0;
    for (size_t i = 1; i < len; i++)
        k = k * 10 + (uint64_t)(page[i] - '0');
    cr_assert_lt(k, EVENTS_MAX);
    return k;
}

/* The log: 1, 2, 3, ... and no event twice. */
static void check_log(const cut_desc *c, tsagg_store *st)
{
    tsagg_log_range range;
    tsagg_log_range_init(&range);
    tsagg_log_reader *rd;
    cr_assert_eq(tsagg_log_reader_open(st, &range, &rd), 0);
    uint8_t seen[EVENTS_MAX] = {0};
    uint64_t want = 1, seq;
    const tsagg_event *ev;
    int rc;
    while ((rc = tsagg_log_reader_next(rd, &ev, &seq)) == 1) {
        cr_assert_eq(seq, want, WHERE(c) "log sequence %" PRIu64 " after %" PRIu64, WHERE_ARGS(c),
                     seq, want - 1);
        want++;
        cr_assert_eq(ev->nattrs, 1);
        uint64_t k = page_number(c, ev->attrs[0].v.s.ptr, ev->attrs[0].v.s.len);
        cr_assert_not(seen[k], WHERE(c) "event e%" PRIu64 " twice in the log", WHERE_ARGS(c), k);
        seen[k] = 1;
    }
    char msg[512] = "";
    tsagg_store_errmsg(st, msg, sizeof msg);
    cr_assert_eq(rc, 0, WHERE(c) "log read: %s (%s)", WHERE_ARGS(c), tsagg_strerror(rc), msg);
    tsagg_log_reader_close(rd);
}

/* Every event counted at most once; every acknowledged one exactly once. */
static void check_counts(const cut_desc *c, tsagg_store *st, const run *r, const char *when)
{
    tsagg_query q;
    tsagg_query_init(&q);
    q.flags = TSAGG_QUERY_ALL_MERCHANTS;
    q.from = T0;
    q.to = T0 + HOURS * HOUR;
    q.bucket = TSAGG_BUCKET_TOTAL;
    q.group_by = "page";
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    int rc = tsagg_query_run(st, &q, res);
    char msg[512] = "";
    tsagg_store_errmsg(st, msg, sizeof msg);
    cr_assert_eq(rc, 0, WHERE(c) "query %s: %s (%s)", WHERE_ARGS(c), when, tsagg_strerror(rc), msg);
    uint8_t seen[EVENTS_MAX] = {0};
    const double *counts = tsagg_result_values(res, 0);
    for (size_t i = 0; i < tsagg_result_rows(res); i++) {
        const char *page = tsagg_result_group(res, i);
        uint64_t k = page_number(c, page, strlen(page));
        cr_assert_eq(counts[i], 1.0, WHERE(c) "%s: event %s counted %.0f times", WHERE_ARGS(c), when,
                     page, counts[i]);
        seen[k] = 1;
    }
    for (uint64_t k = 0; k < r->nevents; k++)
        cr_assert(!r->acked[k] || seen[k],
                  WHERE(c) "%s: event e%" PRIu64 " (seq %" PRIu64 ") was acknowledged durable and is lost",
                  WHERE_ARGS(c), when, k, r->seq_of[k]);
    tsagg_result_free(res);
}

typedef struct verify_tally {
    uint64_t problems, unrepairable;
    char first[512];
} verify_tally;

static void on_problem(void *ctx, const tsagg_verify_problem *p)
{
    verify_tally *t = ctx;
    if (!t->problems++ || !p->repairable)
        snprintf(t->first, sizeof t->first, "%s: %s", p->file, p->detail);
    t->unrepairable += !p->repairable;
}

static int any_acked(const run *r)
{
    for (uint64_t k = 0; k < r->nevents; k++)
        if (r->acked[k])
            return 1;
    return 0;
}

/* Open the image (root: the image, dir: the store in it), verify, count,
 * compact, count again. */
static void check_image(const cut_desc *c, const char *root, const char *dir, const run *r)
{
    powercut *fast = powercut_init(root); /* never cut: only skips the fsyncs */
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE;
    o.io = powercut_table(fast);
    tsagg_store *st;
    char msg[512] = "";
    int rc = tsagg_store_open(dir, &o, &st, msg, sizeof msg);
    if (rc == TSAGG_ENOTSTORE && !any_acked(r)) {
        /* A creation cut short, before anything was acknowledged: creating
         * the store again must work. */
        o.flags |= TSAGG_OPEN_CREATE;
        rc = tsagg_store_open(dir, &o, &st, msg, sizeof msg);
    }
    cr_assert_eq(rc, 0, WHERE(c) "open after the cut: %s (%s)", WHERE_ARGS(c), tsagg_strerror(rc),
                 msg);
    verify_tally t = {0};
    rc = tsagg_verify(st, on_problem, &t, NULL);
    if (rc != 0) {
        cr_assert_eq(t.unrepairable, 0, WHERE(c) "verify: damage rebuild cannot repair: %s",
                     WHERE_ARGS(c), t.first);
        cr_assert_gt(t.problems, 0, WHERE(c) "verify failed: %s", WHERE_ARGS(c), tsagg_strerror(rc));
        tsagg_rebuild_options ro;
        tsagg_rebuild_options_init(&ro);
        ro.from = T0;
        ro.to = T0 + HOURS * HOUR;
        rc = tsagg_rebuild(st, &ro, NULL);
        tsagg_store_errmsg(st, msg, sizeof msg);
        cr_assert_eq(rc, 0, WHERE(c) "rebuild of '%s': %s (%s)", WHERE_ARGS(c), t.first,
                     tsagg_strerror(rc), msg);
        verify_tally t2 = {0};
        cr_assert_eq(tsagg_verify(st, on_problem, &t2, NULL), 0,
                     WHERE(c) "still damaged after a rebuild: %s", WHERE_ARGS(c), t2.first);
        /* Repairable, but every operation promises the old or the new
         * state: no damage at all. */
        cr_assert_fail(WHERE(c) "damage after the cut (tsagg_rebuild repaired it): %s",
                       WHERE_ARGS(c), t.first);
    }
    check_log(c, st);
    check_counts(c, st, r, "after recovery");
    rc = tsagg_compact(st, NULL, NULL);
    tsagg_store_errmsg(st, msg, sizeof msg);
    cr_assert_eq(rc, 0, WHERE(c) "compaction after recovery: %s (%s)", WHERE_ARGS(c),
                 tsagg_strerror(rc), msg);
    check_counts(c, st, r, "after a compaction");
    cr_assert_eq(tsagg_store_close(st), 0);
    powercut_free(fast);
}

/* ---- the model itself ----------------------------------------------------------- */

/* Size of ROOT/name in an image, -1 when absent. */
static long image_size(const char *image, const char *name)
{
    char path[1500];
    snprintf(path, sizeof path, "%s/%s", image, name);
    struct stat sb;
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static int image_byte(const char *image, const char *name, long off)
{
    char path[1500];
    snprintf(path, sizeof path, "%s/%s", image, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, off, SEEK_SET);
    int c = fgetc(f);
    fclose(f);
    return c;
}

static void take_image(powercut *pc, int mode, const char *tmp, char *image, size_t cap)
{
    static unsigned n;
    snprintf(image, cap, "%s/image%u", tmp, n++);
    powercut_image(pc, mode, image);
}

/* What each image holds, for files and names with and without fsyncs. */
Test(powercut, model)
{
    char tmp[512], root[600], a[700], b[700], dir[700], image[700];
    tu_tmpdir(tmp, sizeof tmp);
    snprintf(root, sizeof root, "%s/root", tmp);
    cr_assert_eq(mkdir(root, 0755), 0);
    snprintf(a, sizeof a, "%s/a", root);
    snprintf(b, sizeof b, "%s/b", root);
    snprintf(dir, sizeof dir, "%s/sub", root);
    uint8_t buf[2048];
    memset(buf, 'x', sizeof buf);

    /* A new file: neither its name nor its data before the fsyncs. */
    powercut *pc = powercut_init(root);
    const tsagg_io *io = powercut_table(pc);
    int fd = io->open(io->ctx, a, O_WRONLY | O_CREAT, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(io->pwrite(io->ctx, fd, buf, 1000, 0), 1000);
    int dfd = io->open(io->ctx, root, O_RDONLY | O_DIRECTORY, 0);
    cr_assert_geq(dfd, 0);
    cr_assert_eq(io->fsync(io->ctx, dfd), 0); /* the name, not the data */
    cr_assert_eq(io->pwrite(io->ctx, fd, buf, 2048, 1000), 2048);
    uint64_t calls = powercut_calls(pc);
    cr_assert_eq(calls, 4);
    take_image(pc, PC_DURABLE, tmp, image, sizeof image);
    cr_assert_eq(image_size(image, "a"), 0);
    /* Torn: the first write whole, the last one cut at a sector boundary
     * (1024, 1536, 2048, 2560) or not there at all. */
    powercut_arm(pc, 0, 3);
    take_image(pc, PC_TORN, tmp, image, sizeof image);
    long torn = image_size(image, "a");
    cr_assert(torn == 1000 || (torn >= 1024 && torn < 3048 && torn % 512 == 0), "torn at %ld", torn);
    io->close(io->ctx, fd);
    io->close(io->ctx, dfd);
    powercut_free(pc);

    /* fsync of the file: its data; a rename lands only with a directory
     * fsync; after the cut nothing changes. */
    tu_rmtree(root);
    cr_assert_eq(mkdir(root, 0755), 0);
    pc = powercut_init(root);
    io = powercut_table(pc);
    fd = io->open(io->ctx, a, O_WRONLY | O_CREAT, 0644);
    cr_assert_eq(io->pwrite(io->ctx, fd, buf, 700, 0), 700);
    cr_assert_eq(io->fsync(io->ctx, fd), 0);
    dfd = io->open(io->ctx, root, O_RDONLY | O_DIRECTORY, 0);
    cr_assert_eq(io->fsync(io->ctx, dfd), 0);
    cr_assert_eq(io->rename(io->ctx, a, b), 0);
    cr_assert_eq(io->mkdir(io->ctx, dir, 0755), 0);
    powercut_arm(pc, powercut_calls(pc) + 2, 5); /* the unlink below is refused */
    cr_assert_eq(io->pwrite(io->ctx, fd, buf, 10, 700), 10);
    cr_assert_eq(io->unlink(io->ctx, b), -EIO);
    cr_assert(powercut_is_cut(pc));
    cr_assert_eq(io->fsync(io->ctx, dfd), -EIO);
    take_image(pc, PC_DURABLE, tmp, image, sizeof image);
    cr_assert_eq(image_size(image, "a"), 700);
    cr_assert_eq(image_size(image, "b"), -1);
    cr_assert_eq(image_size(image, "sub"), -1);
    cr_assert_eq(image_byte(image, "a", 699), 'x');
    take_image(pc, PC_TORN, tmp, image, sizeof image);
    cr_assert_eq(image_size(image, "a"), -1); /* every name change landed */
    cr_assert_eq(image_size(image, "b"), 700); /* the 10 bytes: one sector, torn away */
    cr_assert_geq(image_size(image, "sub"), 0);
    /* Reorder: a prefix of the rename and the mkdir, never half a rename. */
    for (uint64_t seed = 0; seed < 16; seed++) {
        powercut_arm(pc, 0, seed);
        take_image(pc, PC_REORDER, tmp, image, sizeof image);
        int has_a = image_size(image, "a") >= 0, has_b = image_size(image, "b") >= 0;
        cr_assert_neq(has_a, has_b, "a rename half done");
        cr_assert(!(has_a && image_size(image, "sub") >= 0), "the mkdir landed before the rename");
    }
    io->close(io->ctx, fd);
    io->close(io->ctx, dfd);
    powercut_free(pc);
    tu_rmtree(tmp);
}

/* ---- the sweep -------------------------------------------------------------- */

static uint64_t seed_of_run(void)
{
    const char *s = getenv("TSAGG_POWERCUT_SEED");
    if (s && *s)
        return strtoull(s, NULL, 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000003u ^ (uint64_t)ts.tv_nsec;
}

/* Run op on a fresh copy of base; cut before call `cut` (0: never). */
static void run_op(const char *base, const char *work, const char *store, void (*op)(run *),
                   run *r, powercut **pc, uint64_t cut, uint64_t seed)
{
    tu_rmtree(work);
    tu_copy_tree(base, work);
    *pc = powercut_init(work);
    powercut_arm(*pc, cut, seed);
    r->dir = store;
    r->pc = *pc;
    r->io = powercut_table(*pc);
    op(r);
}

/* The modelled tree is ROOT; the store is ROOT/store. */
static void sweep(const char *name, void (*baseline)(run *), void (*op)(run *))
{
    uint64_t seed = seed_of_run();
    char tmp[512], base[600], work[600], image[600], store[700], image_store[700];
    tu_tmpdir(tmp, sizeof tmp);
    snprintf(base, sizeof base, "%s/base", tmp);
    snprintf(work, sizeof work, "%s/work", tmp);
    snprintf(image, sizeof image, "%s/image", tmp);
    snprintf(image_store, sizeof image_store, "%s/store", image);
    cr_assert_eq(mkdir(base, 0755), 0);

    run *proto = calloc(1, sizeof *proto), *r = malloc(sizeof *r);
    cr_assert(proto && r);
    snprintf(store, sizeof store, "%s/store", base);
    proto->dir = store;
    proto->io = tsagg_io_default();
    baseline(proto);
    snprintf(store, sizeof store, "%s/store", work);

    /* The operation without a cut: how many mutating calls it makes. */
    powercut *pc;
    *r = *proto;
    run_op(base, work, store, op, r, &pc, 0, seed);
    uint64_t calls = powercut_calls(pc);
    powercut_free(pc);
    cr_assert_gt(calls, 0);

    const char *all = getenv("TSAGG_POWERCUT_ALL"), *scatter = getenv("TSAGG_POWERCUT_SCATTER");
    uint64_t modes = scatter && !strcmp(scatter, "0") ? PC_SCATTER : PC_NMODES;
    uint64_t points = calls + 1, checked = 0, by_mode[PC_NMODES] = {0};
    int sample = (!all || !*all || !strcmp(all, "0")) && points > SAMPLE_MAX;
    for (uint64_t i = 0; i < (sample ? SAMPLE_MAX : points); i++) {
        /* A sample: the first and last points, the rest drawn from the seed. */
        uint64_t cut = !sample ? i + 1
                     : i == 0 ? 1
                     : i == 1 ? points
                     : 1 + tu_mix64(seed ^ (i * 0x51ED27)) % points;
        uint64_t cseed = tu_mix64(seed + cut);
        int mode = (int)(tu_mix64(cseed) % modes);
        *r = *proto;
        run_op(base, work, store, op, r, &pc, cut, cseed);
        tu_rmtree(image);
        powercut_image(pc, mode, image);
        powercut_free(pc);
        cut_desc c = {.sweep = name, .cut = cut, .mode = mode, .seed = seed};
        check_image(&c, image, image_store, r);
        checked++;
        by_mode[mode]++;
    }
    printf("powercut %s: %" PRIu64 " mutating calls, %" PRIu64 " of %" PRIu64
           " cut points checked (%" PRIu64 " durable, %" PRIu64 " torn, %" PRIu64
           " reorder, %" PRIu64 " scatter images), seed %" PRIu64 "\n",
           name, calls, checked, points, by_mode[PC_DURABLE], by_mode[PC_TORN],
           by_mode[PC_REORDER], by_mode[PC_SCATTER], seed);
    fflush(stdout);
    free(proto);
    free(r);
    tu_rmtree(tmp);
}

Test(powercut, create) { sweep("create", base_none, op_create); }
Test(powercut, recover_and_append) { sweep("recovery and appends", base_crashed, op_append_batch); }
Test(powercut, append_sync_batch) { sweep("append SYNC_BATCH", base_small, op_append_batch); }
Test(powercut, append_sync_interval) { sweep("append SYNC_INTERVAL", base_small, op_append_interval); }
Test(powercut, append_sync_none) { sweep("append SYNC_NONE", base_small, op_append_none); }
Test(powercut, compact) { sweep("compact", base_log, op_compact); }
Test(powercut, compact_while_appending) { sweep("compact while appending", base_log, op_compact_while_appending); }
Test(powercut, evolve_schema) { sweep("schema evolution", base_log, op_evolve_schema); }
Test(powercut, merge) { sweep("merge", base_two_files, op_merge); }
Test(powercut, rebuild) { sweep("rebuild", base_compacted, op_rebuild); }
Test(powercut, archive) { sweep("archive", base_log, op_archive); }
