/*
 * test_maintain_crash.c - kill -9 of a process whose maintenance thread
 * compacts, merges, archives and applies retention while it appends.
 *
 * Each round forks a child that opens the store with the maintenance thread
 * (every 10 ms; compaction at 300 events; archiving; retention of 200 days
 * for partitions and log), appends batches of events with unique ids in
 * TSAGG_SYNC_BATCH mode (durable when the append returns), rolls the log
 * every few batches, and reports every acknowledged batch through a pipe.
 * In the first round it first appends events 400 days old, which retention
 * removes. The parent SIGKILLs it at a random moment and checks:
 *
 *   - a writer opens (recovery) and tsagg_verify finds no problem;
 *   - every acknowledged event is in the log;
 *   - a query of the recent window counts every recent event of the log
 *     exactly once, whether compacted, in the tail, or split by the kill.
 *
 * At the end a last step with the same retention runs in the parent: no
 * event of the old window is left, and the recent count is unchanged.
 * TSAGG_MAINTAIN_CRASH_SEED and TSAGG_MAINTAIN_CRASH_ROUNDS override the
 * seed and the number of rounds.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "tsagg.h"

#define HOUR_US INT64_C(3600000000)
#define DAY_US (24 * HOUR_US)
#define ROUND_IDS UINT64_C(1000000) /* ids of round r: r * ROUND_IDS + k */
#define BATCH 200

TestSuite(maintain_crash, .init = tu_store_setup, .fini = tu_store_teardown, .timeout = 600);

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void maintain_options(tsagg_maintain_options *mo)
{
    tsagg_maintain_options_init(mo);
    mo->interval_ms = 10;
    mo->compact_tail_events = 300;
    mo->archive = 1;
    mo->archive_level = 1;
    mo->retention_days_parts = 200;
    mo->retention_days_log = 200;
    mo->memory_budget = 4u << 20;
}

static void append_batch(tsagg_store *st, uint64_t id0, int64_t now, int old, uint64_t *rng,
                         int fd)
{
    tsagg_event evs[BATCH];
    tsagg_attr attr = {.key = "page", .key_len = 4, .type = TSAGG_STR,
                       .v.s = {.ptr = "/cart", .len = 5}};
    for (int i = 0; i < BATCH; i++) {
        uint64_t r = tu_splitmix64(rng);
        int64_t ts = old ? now - 400 * DAY_US - (int64_t)(r % (5 * DAY_US))
                         : now - (int64_t)(r % (3 * DAY_US));
        evs[i] = (tsagg_event){.ts = ts, .merchant = 1 + r % 40, .event = "page_view",
                               .event_len = 9, .flags = TSAGG_EVENT_HAS_ID, .id = id0 + i,
                               .user = 1 + (r >> 20) % 500, .attrs = &attr, .nattrs = 1};
    }
    if (tsagg_append(st, evs, BATCH, NULL) != 0)
        _exit(4);
    uint64_t acked = id0 + BATCH;
    ssize_t n;
    do {
        n = write(fd, &acked, sizeof acked);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof acked)
        _exit(5);
}

static _Noreturn void child_main(int round, int64_t now, uint64_t seed, int fd)
{
    alarm(20); /* never outlive a parent that forgot us */
    tsagg_maintain_options mo;
    maintain_options(&mo);
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.segment_bytes = 64 << 10;
    o.maintenance = &mo;
    tsagg_store *st;
    char err[512];
    if (tsagg_store_open(tu_store, &o, &st, err, sizeof err) != 0) {
        fprintf(stderr, "child: open: %s\n", err);
        _exit(3);
    }
    uint64_t rng = seed, id = (uint64_t)round * ROUND_IDS;
    for (int k = 0;; k++) {
        append_batch(st, id, now, round == 0 && k < 20, &rng, fd);
        id += BATCH;
        if (k % 5 == 4 && tsagg_log_roll(st) != 0)
            _exit(6);
    }
}

/* The last acknowledged id + 1 of the child's reports, until deadline_ns
 * (0: until the pipe ends). */
static uint64_t drain(int fd, uint64_t acked, uint64_t deadline_ns)
{
    for (;;) {
        int timeout = -1;
        if (deadline_ns) {
            uint64_t now = tu_now_ns();
            if (now >= deadline_ns)
                return acked;
            timeout = (int)((deadline_ns - now) / 1000000) + 1;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, timeout);
        if (r == 0)
            continue;
        uint64_t v;
        ssize_t n = read(fd, &v, sizeof v);
        if (n == (ssize_t)sizeof v)
            acked = v;
        else if (n == 0 || (n < 0 && errno != EINTR))
            return acked;
    }
}

typedef struct log_view {
    uint64_t recent;       /* events in [from, to) */
    uint8_t *seen;         /* by id: rounds * ROUND_IDS */
    uint64_t dup_ids;
} log_view;

static void read_log(tsagg_store *st, int rounds, int64_t from, int64_t to, log_view *v)
{
    memset(v->seen, 0, (size_t)rounds * ROUND_IDS);
    v->recent = v->dup_ids = 0;
    tsagg_log_reader *rd;
    cr_assert_eq(tsagg_log_reader_open(st, NULL, &rd), 0);
    const tsagg_event *ev;
    uint64_t seq;
    int rc;
    while ((rc = tsagg_log_reader_next(rd, &ev, &seq)) == 1) {
        cr_assert_lt(ev->id, (uint64_t)rounds * ROUND_IDS);
        v->dup_ids += v->seen[ev->id];
        v->seen[ev->id] = 1;
        v->recent += ev->ts >= from && ev->ts < to;
    }
    cr_assert_eq(rc, 0);
    tsagg_log_reader_close(rd);
}

Test(maintain_crash, kill_during_maintenance)
{
    const char *e = getenv("TSAGG_MAINTAIN_CRASH_SEED");
    uint64_t seed = e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL);
    e = getenv("TSAGG_MAINTAIN_CRASH_ROUNDS");
    int rounds = e ? atoi(e) : 16;
    cr_log_info("maintenance crash test: seed %" PRIu64 ", %d rounds", seed, rounds);
    int64_t now = wall_us();
    int64_t recent_from = now - 10 * DAY_US, recent_to = now + DAY_US;
    log_view v = {.seen = malloc((size_t)rounds * ROUND_IDS)};
    cr_assert(v.seen);
    uint64_t rng = seed, acked_total = 0, compactions = 0;
    for (int round = 0; round < rounds; round++) {
        int fds[2];
        cr_assert_eq(pipe(fds), 0);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            child_main(round, now, tu_splitmix64(&rng) ^ (uint64_t)round, fds[1]);
        }
        close(fds[1]);
        uint64_t wait_us = 20000 + tu_splitmix64(&rng) % 300000;
        uint64_t first = (uint64_t)round * ROUND_IDS;
        uint64_t acked = drain(fds[0], first, tu_now_ns() + wait_us * 1000);
        kill(pid, SIGKILL);
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        acked = drain(fds[0], acked, 0);
        close(fds[0]);
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "round %d: the child ended by itself (status %#x)", round, status);
        acked_total += acked - first;

        tsagg_options o;
        tsagg_options_init(&o);
        o.flags = TSAGG_OPEN_WRITE;
        tsagg_store *st;
        char err[512];
        int rc = tsagg_store_open(tu_store, &o, &st, err, sizeof err);
        cr_assert_eq(rc, 0, "round %d: open after the kill: %s", round, err);
        tsagg_verify_stats vs = {.struct_size = sizeof vs};
        cr_assert_eq(tsagg_verify(st, NULL, NULL, &vs), 0, "round %d: verify", round);
        read_log(st, rounds, recent_from, recent_to, &v);
        cr_assert_eq(v.dup_ids, 0, "round %d", round);
        /* (The first round's old events are retention's to remove.) */
        for (uint64_t id = round ? first : 20 * BATCH; id < acked; id++)
            cr_assert(v.seen[id], "round %d: acknowledged event %" PRIu64 " lost", round, id);
        uint64_t counted = tu_count_events(st, recent_from, recent_to);
        cr_assert_eq(counted, v.recent, "round %d: the query counts %" PRIu64 " of the log's %"
                     PRIu64 " recent events", round, counted, v.recent);
        uint64_t compacted = 0;
        cr_assert_eq(tsagg_compacted_seq(st, &compacted), 0);
        compactions += compacted > 0;
        cr_assert_eq(tsagg_store_close(st), 0);
    }
    /* The old events go once a step runs to the end. */
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE;
    tsagg_store *st;
    cr_assert_eq(tsagg_store_open(tu_store, &o, &st, NULL, 0), 0);
    tsagg_maintain_options mo;
    maintain_options(&mo);
    mo.flags = TSAGG_MAINTAIN_NOW;
    tsagg_maintain_stats s = {.struct_size = sizeof s};
    cr_assert_eq(tsagg_maintain(st, &mo, &s), 0, "%s", s.last_error_msg);
    cr_expect_eq(tu_count_events(st, now - 500 * DAY_US, now - 300 * DAY_US), 0);
    cr_expect_eq(tu_count_events(st, recent_from, recent_to), v.recent);
    cr_expect_eq(tsagg_verify(st, NULL, NULL, NULL), 0);
    cr_assert_eq(tsagg_store_close(st), 0);
    cr_log_info("maintenance crash test: %d rounds, %" PRIu64 " events acknowledged, %" PRIu64
                " recent in the log, compacted in %" PRIu64 " rounds",
                rounds, acked_total, v.recent, compactions);
    free(v.seen);
}
