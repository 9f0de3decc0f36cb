/*
 * test_crash.c - durability under kill -9.
 *
 * Each round forks a child that opens the store (recovering what the last
 * round left) and appends batches from one or two threads. After every
 * successful tsagg_append() it sends the parent [first_seq, count, batch]
 * through a pipe; in SYNC_BATCH mode the append has then returned, so the
 * batch is durable. The parent SIGKILLs the child at a random moment (0-30
 * ms, sometimes before it even opened the store), looks at the raw state of
 * the last segment (was the kill mid-write?), then opens the store for
 * writing (recovery) and reads the whole log back:
 *
 *   - sequence numbers run 1, 2, 3, ... without a gap;
 *   - every event is intact; every batch is present at most once, starting
 *     at its event 0, and whole, with one exception: the writer encodes an
 *     append in records of about 64 KiB (here, about 430 of these events or
 *     more), and records may land in different frames (or segments), so a
 *     kill between the writes of two of them leaves the first part of the
 *     append in the log. That part is never reported durable, but recovery
 *     keeps it; the check allows a cut batch only where a kill ended the
 *     log, and counts them;
 *   - every batch the child reported durable is there with its exact seqs;
 *   - the log only grows: what a previous round recovered is still there
 *     (checked by a full read every 8th round; other rounds read what
 *     follows the previous end).
 *
 * The next round appends to the same store, so recovery followed by more
 * appends (and more crashes) is exercised, on both write paths, with small
 * segments in some rounds so that kills land during segment rolls. A second
 * variant runs in SYNC_INTERVAL mode: the child reports tsagg_durable_seq()
 * values, and every event up to the highest one must survive.
 *
 * TSAGG_CRASH_SEED and TSAGG_CRASH_ROUNDS override the seed and rounds.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "faultio.h"
#include "fileio.h"
#include "log_internal.h"
#include "testutil.h"
#include "tsagg.h"

/* ---- events ---------------------------------------------------------------- */

#define TS0 INT64_C(1700000000000000)
#define BATCH_MAX 500
#define BATCHES_PER_ROUND 100000u /* batch numbers of round r: (r + 1) * this + k */

static uint64_t ev_id(uint64_t b, uint64_t i) { return b << 24 | i; }

/* Deterministic size of batch b: 1..500 events. */
static size_t batch_size(uint64_t b)
{
    uint64_t x = b * 0x9E3779B97F4A7C15ull;
    x ^= x >> 29;
    /* Mostly small batches, some large: varied frame sizes. */
    return x % 4 == 0 ? 1 + (size_t)(x >> 8) % BATCH_MAX : 1 + (size_t)(x >> 8) % 40;
}

static void page_of(uint64_t b, uint64_t i, char *out, size_t len)
{
    snprintf(out, len, "/p/%" PRIu64 "/%" PRIu64 "/%.*s", b, i, (int)((b + i) % 30),
             "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy");
}

typedef struct batch_buf {
    tsagg_event evs[BATCH_MAX];
    tsagg_attr attrs[BATCH_MAX][3];
    char pages[BATCH_MAX][80];
} batch_buf;

static size_t fill_batch(batch_buf *bb, uint64_t b)
{
    size_t n = batch_size(b);
    for (size_t i = 0; i < n; i++) {
        tsagg_attr *a = bb->attrs[i];
        page_of(b, i, bb->pages[i], sizeof bb->pages[i]);
        a[0] = (tsagg_attr){.key = "batch", .key_len = 5, .type = TSAGG_INT, .v.i = (int64_t)b};
        a[1] = (tsagg_attr){.key = "index", .key_len = 5, .type = TSAGG_INT, .v.i = (int64_t)i};
        a[2] = (tsagg_attr){.key = "page", .key_len = 4, .type = TSAGG_STR,
                            .v.s = {.ptr = bb->pages[i], .len = (uint32_t)strlen(bb->pages[i])}};
        bb->evs[i] = (tsagg_event){.ts = TS0 + (int64_t)(b * 600 + i), .merchant = 1 + b % 17,
                                   .event = "page_view", .event_len = 9,
                                   .flags = TSAGG_EVENT_HAS_ID, .user = b ^ i, .session = b,
                                   .id = ev_id(b, i), .attrs = a, .nattrs = 3};
    }
    return n;
}

static int event_ok(const tsagg_event *e)
{
    uint64_t b = e->id >> 24, i = e->id & 0xffffff;
    char page[80];
    page_of(b, i, page, sizeof page);
    return (e->flags & TSAGG_EVENT_HAS_ID) && e->ts == TS0 + (int64_t)(b * 600 + i) &&
           e->merchant == 1 + b % 17 && e->event_len == 9 && !memcmp(e->event, "page_view", 9) &&
           e->user == (b ^ i) && e->session == b && e->nattrs == 3 &&
           e->attrs[0].type == TSAGG_INT && e->attrs[0].v.i == (int64_t)b &&
           e->attrs[1].type == TSAGG_INT && e->attrs[1].v.i == (int64_t)i &&
           e->attrs[2].type == TSAGG_STR && e->attrs[2].v.s.len == strlen(page) &&
           !memcmp(e->attrs[2].v.s.ptr, page, strlen(page));
}

/* ---- the child --------------------------------------------------------------- */

enum { R_APPEND = 1, R_DURABLE = 2, R_FAILED = 3 };

typedef struct report {
    uint32_t type;
    int32_t code;   /* R_FAILED: the error */
    uint64_t a, b;  /* R_APPEND: first_seq, batch; R_DURABLE: durable seq */
} report;

typedef struct crash_cfg {
    uint32_t backend, sync, interval_ms, frame_bytes;
    uint64_t segment_bytes;
    int threads;
    uint64_t first_batch;
    /* pwrite path only: a slow disk through faultio, writing at most
     * short_write bytes per pwrite call, each after delay_us. Widens the
     * window in which a kill leaves a torn frame. 0: the plain table. */
    size_t short_write;
    uint32_t delay_us;
} crash_cfg;

typedef struct child_ctx {
    tsagg_store *st;
    int fd;
    _Atomic uint64_t next_batch;
    uint64_t end_batch;
    int report_durable;
} child_ctx;

static void send_report(int fd, const report *r)
{
    /* 24 bytes < PIPE_BUF: atomic, so two threads never interleave. */
    ssize_t n;
    do {
        n = write(fd, r, sizeof *r);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof *r)
        _exit(5);
}

static void *child_thread(void *arg)
{
    child_ctx *c = arg;
    batch_buf *bb = malloc(sizeof *bb);
    if (!bb)
        _exit(6);
    uint64_t last_durable = 0;
    for (;;) {
        uint64_t b = atomic_fetch_add(&c->next_batch, 1);
        if (b >= c->end_batch) /* never in 30 ms; keeps numbers in range */
            for (;;)
                pause();
        size_t n = fill_batch(bb, b);
        uint64_t first = 0;
        int rc = tsagg_append(c->st, bb->evs, n, &first);
        if (rc != 0) {
            send_report(c->fd, &(report){.type = R_FAILED, .code = rc, .a = b});
            _exit(4);
        }
        /* Only now, after the append returned, is the batch reported. */
        send_report(c->fd, &(report){.type = R_APPEND, .code = (int32_t)n, .a = first, .b = b});
        if (c->report_durable) {
            uint64_t d = tsagg_durable_seq(c->st);
            if (d > last_durable) {
                send_report(c->fd, &(report){.type = R_DURABLE, .a = d});
                last_durable = d;
            }
        }
    }
    return NULL;
}

static _Noreturn void child_main(const char *dir, const crash_cfg *cfg, int fd)
{
    alarm(20); /* never outlive a parent that forgot us */
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.io_backend = cfg->backend;
    o.sync_mode = cfg->sync;
    o.sync_interval_ms = cfg->interval_ms;
    o.frame_bytes = cfg->frame_bytes;
    o.segment_bytes = cfg->segment_bytes;
    static faultio fio;
    if (cfg->short_write) {
        faultio_init(&fio, NULL);
        faultio_short_all(&fio, FIO_PWRITE, cfg->short_write);
        faultio_delay(&fio, FIO_PWRITE, cfg->delay_us);
        o.io = faultio_table(&fio);
    }
    static child_ctx c;
    int rc = tsagg_store_open(dir, &o, &c.st, NULL, 0);
    if (rc != 0) {
        send_report(fd, &(report){.type = R_FAILED, .code = rc});
        _exit(3);
    }
    c.fd = fd;
    c.report_durable = 1;
    atomic_store(&c.next_batch, cfg->first_batch);
    c.end_batch = cfg->first_batch + BATCHES_PER_ROUND;
    pthread_t t[2];
    for (int i = 0; i < cfg->threads; i++)
        if (pthread_create(&t[i], NULL, child_thread, &c) != 0)
            _exit(7);
    for (;;)
        pause();
}

/* ---- the parent ---------------------------------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rnd(rng *r)
{
    return tu_splitmix64(&r->s);
}

typedef struct reports {
    report *r;
    size_t n, cap;
    uint8_t carry[sizeof(report)];
    size_t ncarry;
} reports;

static void take_bytes(reports *rs, const uint8_t *p, size_t len)
{
    while (len > 0) {
        size_t k = sizeof(report) - rs->ncarry;
        if (k > len)
            k = len;
        memcpy(rs->carry + rs->ncarry, p, k);
        rs->ncarry += k;
        p += k;
        len -= k;
        if (rs->ncarry == sizeof(report)) {
            if (rs->n == rs->cap) {
                rs->cap = rs->cap ? 2 * rs->cap : 1024;
                rs->r = realloc(rs->r, rs->cap * sizeof *rs->r);
                cr_assert_not_null(rs->r);
            }
            memcpy(&rs->r[rs->n++], rs->carry, sizeof(report));
            rs->ncarry = 0;
        }
    }
}

/* Read what is in the pipe until the deadline (or EOF when deadline is 0). */
static void drain(int fd, reports *rs, uint64_t deadline)
{
    uint8_t buf[8192];
    for (;;) {
        int timeout = -1;
        if (deadline) {
            uint64_t t = tu_now_ns();
            if (t >= deadline)
                return;
            timeout = (int)((deadline - t + 999999) / 1000000);
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int rc = poll(&p, 1, timeout);
        if (rc < 0 && errno == EINTR)
            continue;
        cr_assert_geq(rc, 0, "poll: %s", strerror(errno));
        if (rc == 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        cr_assert_geq(n, 0, "read: %s", strerror(errno));
        if (n == 0) {
            if (deadline) /* the child is gone before the kill */
                return;
            return;
        }
        take_bytes(rs, buf, (size_t)n);
    }
}

typedef struct crash_stats {
    unsigned rounds, torn_tail, mid_create, after_seal, clean_tail, no_open;
    unsigned present_unreported, child_exited, partial;
    uint64_t events, segments, reported;
} crash_stats;

/*
 * Look at the state the kill left, before recovery: where in the last
 * segment it landed. Uses the library's own frame scan.
 */
static void classify_tail(const char *dir, crash_stats *cs)
{
    const tsagg_io *io = tsagg_io_default();
    char log_dir[4200], path[4300];
    snprintf(log_dir, sizeof log_dir, "%s/log", dir);
    uint64_t *nums = NULL;
    size_t count = 0;
    if (tsagg__list_segments(io, log_dir, &nums, &count) != 0 || count == 0) {
        free(nums);
        cs->no_open++;
        return;
    }
    cs->segments = count;
    snprintf(path, sizeof path, "%s/%016" PRIx64 ".tlog", log_dir, nums[count - 1]);
    free(nums);
    int fd = io->open(io->ctx, path, O_RDONLY, 0);
    cr_assert_geq(fd, 0, "%s: %s", path, tsagg_strerror(fd));
    uint64_t size = 0;
    cr_assert_eq(io->fsize(io->ctx, fd, &size), 0);
    uint8_t hb[SEG_HEADER_SIZE];
    seg_header h;
    if (size < SEG_HEADER_SIZE || tsagg__read_all(io, fd, hb, sizeof hb, 0, NULL) != 0 ||
        tsagg__seg_header_decode(hb, &h) != 0) {
        cs->mid_create++;
    } else {
        seg_scan sc;
        cr_assert_eq(tsagg__seg_scan(io, fd, size, h.first_seq, 1, &sc), 0);
        cr_assert_geq(sc.status, 0, "%s: damage at offset %" PRIu64 " before recovery", path,
                      sc.bad_offset);
        if (sc.status == 1)
            cs->torn_tail++;
        else if (sc.sealed)
            cs->after_seal++;
        else
            cs->clean_tail++;
    }
    io->close(io->ctx, fd);
}

typedef struct logstate {
    uint64_t *ids; /* ids[s - 1]: id of the event with seq s, as recovered last */
    size_t n, cap;
    uint8_t *seen; /* bitmap of batch numbers present */
    size_t seen_bytes;
    uint64_t ends[4096]; /* where each round's recovered log ended, ascending */
    size_t nends;
} logstate;

/* Did some earlier kill leave the log ending after exactly p events? */
static int at_crash_point(const logstate *ls, uint64_t p)
{
    size_t lo = 0, hi = ls->nends;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ls->ends[mid] < p)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ls->nends && ls->ends[lo] == p;
}

static void mark_batch(logstate *ls, uint64_t b)
{
    size_t byte = (size_t)(b / 8);
    if (byte >= ls->seen_bytes) {
        size_t nb = (byte + 1) * 2;
        ls->seen = realloc(ls->seen, nb);
        cr_assert_not_null(ls->seen);
        memset(ls->seen + ls->seen_bytes, 0, nb - ls->seen_bytes);
        ls->seen_bytes = nb;
    }
    cr_assert(!(ls->seen[byte] & (1u << (b % 8))), "batch %" PRIu64 " is in the log twice", b);
    ls->seen[byte] |= (uint8_t)(1u << (b % 8));
}

/* Recover (writer open), read everything back and check it; returns the
 * number of events. */
static void recover_and_check(const char *dir, const crash_cfg *cfg, int round, int full,
                              logstate *ls, const reports *rs, crash_stats *cs)
{
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.io_backend = cfg->backend;
    tsagg_store *st;
    char err[512];
    int rc = tsagg_store_open(dir, &o, &st, err, sizeof err);
    cr_assert_eq(rc, 0, "round %d: recovery failed: %s (%s)", round, tsagg_strerror(rc), err);
    /* A full read, or (to keep rounds cheap as the log grows) a read of what
     * follows the previous round's end: every round starts a new batch. */
    uint64_t prev_n = ls->n;
    cr_assert_geq(tsagg_last_seq(st), prev_n, "round %d: the log shrank", round);
    tsagg_log_range range;
    tsagg_log_range_init(&range);
    if (!full)
        range.from_seq = prev_n + 1;
    tsagg_log_reader *rd;
    cr_assert_eq(tsagg_log_reader_open(st, &range, &rd), 0);
    const tsagg_event *e;
    uint64_t seq, n = range.from_seq - 1;
    if (ls->seen)
        memset(ls->seen, 0, ls->seen_bytes);
    /* Runs of events of one batch: each starts at the batch's event 0 and
     * is whole, except that a batch whose events were split into several
     * records may be cut where a kill left the log (see the file comment). */
    uint64_t run_batch = 0, run_len = 0, run_want = 0;
    while ((rc = tsagg_log_reader_next(rd, &e, &seq)) == 1) {
        cr_assert_eq(seq, n + 1, "round %d: seq %" PRIu64 " follows %" PRIu64, round, seq, n);
        cr_assert(event_ok(e), "round %d: event at seq %" PRIu64 " (id %#" PRIx64 ") is damaged",
                  round, seq, e->id);
        uint64_t b = e->id >> 24, i = e->id & 0xffffff;
        if (run_len > 0 && (b != run_batch || i != run_len)) {
            cr_assert(run_len == run_want || at_crash_point(ls, n),
                      "round %d: batch %" PRIu64 " holds %" PRIu64 " of its %" PRIu64
                      " events, cut at seq %" PRIu64 " where no kill ended the log",
                      round, run_batch, run_len, run_want, n);
            run_len = 0;
        }
        if (run_len == 0) { /* a new batch starts here */
            cr_assert_eq(i, 0, "round %d: seq %" PRIu64 ": batch %" PRIu64
                               " starts at its event %" PRIu64,
                         round, seq, b, i);
            mark_batch(ls, b);
            run_batch = b;
            run_want = batch_size(b);
        }
        cr_assert_lt(run_len, run_want, "round %d: batch %" PRIu64 " too long", round, b);
        run_len++;
        /* The log only grows: rounds before recovered these very events. */
        if (n < prev_n)
            cr_assert_eq(ls->ids[n], e->id, "round %d: seq %" PRIu64 " changed since the "
                         "last recovery", round, seq);
        if (n == ls->cap) {
            ls->cap = ls->cap ? 2 * ls->cap : 1 << 16;
            ls->ids = realloc(ls->ids, ls->cap * sizeof *ls->ids);
            cr_assert_not_null(ls->ids);
        }
        ls->ids[n++] = e->id;
    }
    char rerr[512];
    tsagg_store_errmsg(st, rerr, sizeof rerr);
    cr_assert_eq(rc, 0, "round %d: reader: %s (%s)", round, tsagg_strerror(rc), rerr);
    if (run_len < run_want && n > prev_n)
        cs->partial++; /* this kill cut an append between its records */
    cr_assert_geq(n, prev_n, "round %d: the log shrank from %zu to %" PRIu64, round, prev_n, n);
    cr_assert_eq(tsagg_last_seq(st), n);
    ls->n = n;
    tsagg_log_reader_close(rd);

    /* What the child reported. */
    uint64_t durable = 0;
    for (size_t k = 0; k < rs->n; k++) {
        const report *r = &rs->r[k];
        if (r->type == R_DURABLE && r->a > durable)
            durable = r->a;
    }
    cr_assert_geq(n, durable, "round %d: events reported durable up to %" PRIu64
                  " but the log ends at %" PRIu64, round, durable, n);
    for (size_t k = 0; k < rs->n; k++) {
        const report *r = &rs->r[k];
        if (r->type != R_APPEND)
            continue;
        uint64_t first = r->a, b = r->b, cnt = (uint64_t)r->code;
        cr_assert_eq(cnt, batch_size(b));
        int must = cfg->sync == TSAGG_SYNC_BATCH || first + cnt - 1 <= durable;
        uint64_t have = first > n ? 0 : n - first + 1 < cnt ? n - first + 1 : cnt;
        cr_assert(have == cnt || !must, "round %d: reported batch %" PRIu64 " [%" PRIu64
                  ", +%" PRIu64 ") is %s (log ends at %" PRIu64 ", durable %" PRIu64 ")",
                  round, b, first, cnt, have ? "partial" : "missing", n, durable);
        /* A buffered batch (not yet durable) may be lost, or cut at the end. */
        for (uint64_t i = 0; i < have; i++)
            cr_assert_eq(ls->ids[first - 1 + i], ev_id(b, i),
                         "round %d: seq %" PRIu64 " should be event %" PRIu64 " of batch %" PRIu64,
                         round, first + i, i, b);
    }
    cs->reported += rs->n;
    /* Batches of this round in the log that the child never reported. */
    uint64_t lo = cfg->first_batch, hi = lo + BATCHES_PER_ROUND;
    unsigned present = 0, reported = 0;
    for (uint64_t b = lo; b < hi && b / 8 < ls->seen_bytes; b++)
        present += (ls->seen[b / 8] >> (b % 8)) & 1;
    for (size_t k = 0; k < rs->n; k++)
        reported += rs->r[k].type == R_APPEND;
    if (present > reported)
        cs->present_unreported++;
    cs->events = n;
    ls->ends[ls->nends++] = n;
    cr_assert_eq(tsagg_store_close(st), 0);
}

static void crash_rounds(uint32_t sync, int uring, const char *label)
{
    if (uring) {
        /* Is io_uring allowed here at all? */
        char probe[4096];
        tu_tmpdir(probe, sizeof probe);
        tsagg_options o;
        tsagg_options_init(&o);
        o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
        o.io_backend = TSAGG_IO_URING;
        tsagg_store *st;
        int rc = tsagg_store_open(probe, &o, &st, NULL, 0);
        if (rc == 0)
            tsagg_store_close(st);
        tu_rmtree(probe);
        if (rc == TSAGG_ENOURING)
            cr_skip_test("io_uring is not available here");
        cr_assert_eq(rc, 0, "%s", tsagg_strerror(rc));
    }
    const char *env = getenv("TSAGG_CRASH_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
    env = getenv("TSAGG_CRASH_ROUNDS");
    int rounds = env ? atoi(env) : 120;
    rng r = {seed};
    /* On stderr, not cr_log_info: shown whether or not the run is verbose,
     * so that a failure in CI can be replayed. */
    fprintf(stderr, "crash %s: seed %" PRIu64 " (TSAGG_CRASH_SEED), %d rounds\n", label, seed,
            rounds);

    char dir[4096];
    tu_tmpdir(dir, sizeof dir);
    static logstate ls;
    memset(&ls, 0, sizeof ls);
    crash_stats cs = {0};
    if (rounds > 4000)
        rounds = 4000;
    uint64_t t0 = tu_now_ns();
    for (int round = 0; round < rounds; round++) {
        crash_cfg cfg = {
            .backend = uring ? TSAGG_IO_URING : TSAGG_IO_PWRITE,
            .sync = sync,
            .interval_ms = 1 + (uint32_t)(rnd(&r) % 8),
            .frame_bytes = rnd(&r) % 2 ? 4096 : 1u << 20,
            .segment_bytes = rnd(&r) % 3 == 0 ? 256ull << 20 : 64u << 10,
            .threads = 1 + (int)(rnd(&r) % 2),
            .first_batch = (uint64_t)(round + 1) * BATCHES_PER_ROUND,
        };
        if (!uring && rnd(&r) % 2) {
            /* fdatasync costs milliseconds here; make writing cost as much. */
            cfg.short_write = 32 + (size_t)(rnd(&r) % 480);
            cfg.delay_us = 50 + (uint32_t)(rnd(&r) % 250);
        }
        uint64_t pick = rnd(&r) % 100, delay_us;
        if (pick < 8)
            delay_us = 0; /* before the child even opened the store */
        else if (pick < 20)
            delay_us = rnd(&r) % 2000; /* during its open and recovery */
        else
            delay_us = rnd(&r) % 30000;

        int fds[2];
        cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
        pid_t pid = fork();
        cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
        if (pid == 0) {
            close(fds[0]);
            child_main(dir, &cfg, fds[1]);
        }
        close(fds[1]);
        reports rs = {0};
        drain(fds[0], &rs, tu_now_ns() + delay_us * 1000 + 1);
        kill(pid, SIGKILL);
        int status;
        while (waitpid(pid, &status, 0) < 0)
            cr_assert_eq(errno, EINTR);
        drain(fds[0], &rs, 0);
        close(fds[0]);
        for (size_t k = 0; k < rs.n; k++)
            cr_assert_neq(rs.r[k].type, R_FAILED, "round %d: the child failed: %s", round,
                          tsagg_strerror(rs.r[k].code));
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
            cs.child_exited++;
            cr_assert_fail("round %d: the child ended by itself (status %#x)", round, status);
        }

        classify_tail(dir, &cs);
        int full = round < 2 || round % 8 == 7 || round + 1 == rounds;
        recover_and_check(dir, &cfg, round, full, &ls, &rs, &cs);
        cs.rounds++;
        free(rs.r);
    }
    double secs = (double)(tu_now_ns() - t0) / 1e9;
    cr_log_info("%s: %u rounds in %.1f s; kills landed: %u mid-frame (torn tail), %u while "
                "creating a segment, %u right after a seal, %u between frames, %u before the "
                "first segment existed; %u rounds left batches written but unreported (kill in fsync or before the report); "
                "%u kills cut an append between its records; "
                "%" PRIu64 " reports, %" PRIu64 " events in %" PRIu64 " segments",
                label, cs.rounds, secs, cs.torn_tail, cs.mid_create, cs.after_seal,
                cs.clean_tail, cs.no_open, cs.present_unreported, cs.partial, cs.reported, cs.events,
                cs.segments);
    cr_assert_gt(cs.events, 0, "no round appended anything");
    free(ls.ids);
    free(ls.seen);
    tu_rmtree(dir);
}

Test(crash, batch_pwrite, .timeout = 600) { crash_rounds(TSAGG_SYNC_BATCH, 0, "batch/pwrite"); }
Test(crash, batch_uring, .timeout = 600) { crash_rounds(TSAGG_SYNC_BATCH, 1, "batch/io_uring"); }
Test(crash, interval_pwrite, .timeout = 600)
{
    crash_rounds(TSAGG_SYNC_INTERVAL, 0, "interval/pwrite");
}
Test(crash, interval_uring, .timeout = 600)
{
    crash_rounds(TSAGG_SYNC_INTERVAL, 1, "interval/io_uring");
}
