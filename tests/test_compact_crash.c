/*
 * test_compact_crash.c - compaction and merging under kill -9.
 *
 * Each round the parent appends events to the store (a GA-like stream with
 * late events and retries; every third round also a dense hour, so that a
 * 1 MiB budget spills sorted runs), then forks a child that opens the store
 * and loops: append a few hundred events of its own, flush, tsagg_compact
 * (with a 1 MiB budget in some rounds), and every few iterations
 * tsagg_merge; on a slow disk (faultio delays) in some rounds, to widen the
 * windows. The parent SIGKILLs it at a random moment (0-50 ms; up to 250 ms
 * in every sixth round so that merges complete too) and checks what it
 * left:
 *
 *   - before anything else runs: the manifest on disk lists only files that
 *     open and read back whole (never a missing or half-written one), and
 *     its consumed position is inside the recovered log;
 *   - a writer opens (recovery), tsagg_compact finishes the job: the
 *     compacted position is the end of the log, parts/ holds nothing but
 *     the listed files (no *.tmp, no run-*, no unlisted file), and every
 *     event of the log is in the partitions exactly once, retries aside
 *     (cc_check_rows; after a tsagg_merge every few rounds, strictly once).
 *
 * A child that fails a compaction or a merge (it never should) reports the
 * error through a pipe and fails the test.
 *
 * TSAGG_COMPACT_CRASH_SEED and TSAGG_COMPACT_CRASH_ROUNDS override the seed
 * and the number of rounds.
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

#include "compactcheck.h"
#include "faultio.h"
#include "testutil.h"

TestSuite(compact_crash, .timeout = 300);

/* ---- the child ------------------------------------------------------------- */

enum { R_COMPACT = 1, R_COMPACTED, R_MERGE, R_MERGED, R_FAILED };

typedef struct report {
    uint32_t type;
    int32_t code;
    uint64_t a;
} report;

typedef struct round_cfg {
    uint64_t budget;
    uint64_t child_seed;
    uint32_t delay_us; /* slow disk: pwrite and fsync sleep this long first */
    int merge_every;
    /* The child's own events: 0, a dense stream of the first days; else
     * a sparse one over this many days from history_start, late events for
     * sealed days and months, which tier merges fold in. */
    uint32_t history_days;
    int64_t history_start;
} round_cfg;

static void send_report(int fd, uint32_t type, int32_t code, uint64_t a)
{
    report r = {type, code, a};
    ssize_t n;
    do {
        n = write(fd, &r, sizeof r);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof r)
        _exit(5);
}

static _Noreturn void child_main(const char *dir, const round_cfg *cfg, int fd)
{
    alarm(20); /* never outlive a parent that forgot us */
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE;
    o.io_backend = TSAGG_IO_PWRITE;
    o.sync_mode = TSAGG_SYNC_NONE;
    static faultio fio;
    if (cfg->delay_us) {
        faultio_init(&fio, NULL);
        faultio_delay(&fio, FIO_PWRITE, cfg->delay_us);
        faultio_delay(&fio, FIO_FSYNC, cfg->delay_us);
        o.io = faultio_table(&fio);
    }
    tsagg_store *st;
    int rc = tsagg_store_open(dir, &o, &st, NULL, 0);
    if (rc != 0) {
        send_report(fd, R_FAILED, rc, 0);
        _exit(3);
    }
    gagen_config gc;
    gagen_config_init(&gc);
    gc.seed = cfg->child_seed;
    gc.events = cfg->history_days ? 20000 : 1u << 30;
    gc.days = cfg->history_days ? cfg->history_days : 3;
    if (cfg->history_days)
        gc.start_us = cfg->history_start;
    gc.merchants = 300;
    gc.late_fraction = 0.05;
    gc.dup_fraction = 0.01;
    gc.flags = GAGEN_RANDOM_IDS;
    gagen *g = gagen_create(&gc);
    if (!g)
        _exit(6);
    static tsagg_event batch[400];
    tsagg_compact_options co;
    tsagg_compact_options_init(&co);
    co.memory_budget = cfg->budget;
    for (int k = 0;; k++) {
        size_t n = gagen_next(g, batch, cfg->history_days ? 100 : 400);
        if ((rc = tsagg_append(st, batch, n, NULL)) != 0 || (rc = tsagg_flush(st)) != 0) {
            send_report(fd, R_FAILED, rc, 0);
            _exit(4);
        }
        send_report(fd, R_COMPACT, 0, 0);
        tsagg_compact_stats s = {.struct_size = sizeof s};
        if ((rc = tsagg_compact(st, &co, &s)) != 0) {
            send_report(fd, R_FAILED, rc, R_COMPACT);
            _exit(4);
        }
        send_report(fd, R_COMPACTED, 0, s.consumed_seq);
        if (k % cfg->merge_every == cfg->merge_every - 1) {
            send_report(fd, R_MERGE, 0, 0);
            if ((rc = tsagg_merge(st, &co, &s)) != 0) {
                send_report(fd, R_FAILED, rc, R_MERGE);
                _exit(4);
            }
            send_report(fd, R_MERGED, 0, s.files_written);
        }
    }
}

/* ---- the parent ------------------------------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rnd(rng *r)
{
    return tu_splitmix64(&r->s);
}

/* Read reports until the deadline (0: until EOF). */
static size_t drain(int fd, report *out, size_t cap, size_t n, uint64_t deadline)
{
    static uint8_t carry[sizeof(report)];
    static size_t ncarry;
    if (n == 0)
        ncarry = 0;
    for (;;) {
        int timeout = -1;
        if (deadline) {
            uint64_t t = tu_now_ns();
            if (t >= deadline)
                return n;
            timeout = (int)((deadline - t + 999999) / 1000000);
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int rc = poll(&p, 1, timeout);
        if (rc < 0 && errno == EINTR)
            continue;
        cr_assert_geq(rc, 0);
        if (rc == 0)
            continue;
        uint8_t buf[4096];
        ssize_t got = read(fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR)
            continue;
        cr_assert_geq(got, 0);
        if (got == 0)
            return n;
        for (ssize_t i = 0; i < got; i++) {
            carry[ncarry++] = buf[i];
            if (ncarry == sizeof(report)) {
                if (n < cap)
                    memcpy(&out[n++], carry, sizeof(report));
                ncarry = 0;
            }
        }
    }
}

/* Run child_main in a child process, SIGKILL it after wait_us, and collect
 * its reports (those sent before the kill) into out[0, cap); *status gets
 * the child's wait status. */
static size_t run_and_kill(const char *dir, const round_cfg *cfg, uint64_t wait_us,
                           report *out, size_t cap, int *status)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        child_main(dir, cfg, fds[1]);
    }
    close(fds[1]);
    size_t n = drain(fds[0], out, cap, 0, tu_now_ns() + wait_us * 1000);
    kill(pid, SIGKILL);
    cr_assert_eq(waitpid(pid, status, 0), pid);
    n = drain(fds[0], out, cap, n, 0);
    close(fds[0]);
    return n;
}

typedef struct crash_stats {
    unsigned rounds, mid_compact, mid_merge, between, before_open;
    unsigned stray_rounds, stray_tmp, stray_runs, stray_unlisted, strict_checks, manifest_tmp;
    uint64_t compactions, merges, events;
} crash_stats;

/* The parent's appends of a round: the stream's next events, retries of a
 * few events already in the log, and every third round a dense hour. */
static void parent_append(const char *dir, gagen *g, int round, rng *r)
{
    tsagg_store *st = cc_open_writer(dir);
    cc_append_gagen(st, g, 1500);
    uint64_t last = tsagg_last_seq(st);
    for (int k = 0; k < 5 && last > 0; k++) {
        tsagg_log_range range;
        tsagg_log_range_init(&range);
        range.from_seq = 1 + rnd(r) % last;
        range.to_seq = range.from_seq + 1;
        tsagg_log_reader *rd;
        cr_assert_eq(tsagg_log_reader_open(st, &range, &rd), 0);
        const tsagg_event *ev;
        uint64_t seq;
        if (tsagg_log_reader_next(rd, &ev, &seq) == 1)
            cr_assert_eq(tsagg_append(st, ev, 1, NULL), 0);
        tsagg_log_reader_close(rd);
    }
    if (round % 3 == 0) {
        static tsagg_event evs[4096];
        int64_t hour = GAGEN_DEFAULT_START_US + (int64_t)(round % 48) * CC_HOUR;
        for (int left = 10000; left > 0;) {
            size_t k = gagen_next(g, evs, left < 4096 ? (size_t)left : 4096);
            cr_assert_gt(k, 0);
            for (size_t i = 0; i < k; i++)
                evs[i].ts = hour + (evs[i].ts % CC_HOUR + CC_HOUR) % CC_HOUR;
            cr_assert_eq(tsagg_append(st, evs, k, NULL), 0);
            left -= (int)k;
        }
    }
    cr_assert_eq(tsagg_flush(st), 0);
    cr_assert_eq(tsagg_store_close(st), 0);
}

static void check_after_kill(const char *dir, int round, int strict, crash_stats *cs)
{
    char what[64];
    snprintf(what, sizeof what, "round %d", round);
    tsagg_store *st = cc_open_writer(dir);
    /* The state the kill left, before any compaction: every listed file
     * opens and reads back whole. */
    tsagg__manifest *m = cc_manifest(st);
    cr_assert_leq(m->consumed_seq, tsagg_last_seq(st), "%s: compacted past the log's end", what);
    cc_ctx c;
    cc_init(&c, tsagg_store_schema(st));
    cc_rows rows = {0};
    cc_part_rows(&c, st, m, 0, &rows);
    cc_rows_free(&rows);
    cc_fini(&c);
    char mtmp[4200];
    snprintf(mtmp, sizeof mtmp, "%s/MANIFEST.tmp", dir);
    cs->manifest_tmp += cc_exists(mtmp);
    cc_dirstate ds = cc_scan_parts(dir, m);
    if (ds.tmp + ds.runs + ds.unlisted) {
        cs->stray_rounds++;
        cs->stray_tmp += ds.tmp;
        cs->stray_runs += ds.runs;
        cs->stray_unlisted += ds.unlisted;
    }
    tsagg__manifest_free(m);

    /* Finish the job. */
    tsagg_compact_stats s = cc_compact(st, round % 2 ? 1 << 20 : 0);
    uint64_t seq;
    cr_assert_eq(tsagg_compacted_seq(st, &seq), 0);
    cr_assert_eq(seq, tsagg_durable_seq(st), "%s", what);
    cr_assert_eq(seq, tsagg_last_seq(st), "%s", what);
    cr_assert_eq(s.consumed_seq, seq);
    m = cc_manifest(st);
    cc_assert_clean_parts(dir, m, what);
    tsagg__manifest_free(m);
    cr_assert(!cc_exists(mtmp), "%s: MANIFEST.tmp is left after a compaction", what);
    cc_check_store(st, 0, round % 8 == 0, what);
    if (strict) {
        cc_merge(st);
        m = cc_manifest(st);
        cr_assert(!cc_has_extra_files(m));
        cc_assert_clean_parts(dir, m, what);
        tsagg__manifest_free(m);
        cc_check_store(st, 1, 0, what);
        cs->strict_checks++;
    }
    cs->events = tsagg_last_seq(st);
    cr_assert_eq(tsagg_store_close(st), 0);
}

Test(compact_crash, kill_during_compaction_and_merge)
{
    uint64_t seed = 0xC0FFEE;
    int rounds = 36;
    const char *e = getenv("TSAGG_COMPACT_CRASH_SEED");
    if (e)
        seed = strtoull(e, NULL, 0);
    e = getenv("TSAGG_COMPACT_CRASH_ROUNDS");
    if (e)
        rounds = atoi(e);
    rng r = {seed};
    fprintf(stderr, "compact_crash: seed %" PRIu64 " (TSAGG_COMPACT_CRASH_SEED), %d rounds\n",
            seed, rounds);
    char dir[4096];
    tu_tmpdir(dir, sizeof dir);
    gagen_config gc;
    gagen_config_init(&gc);
    gc.seed = seed;
    gc.events = 1u << 30;
    gc.days = 3;
    gc.merchants = 300;
    gc.late_fraction = 0.05;
    gc.dup_fraction = 0.01;
    gagen *g = gagen_create(&gc);
    cr_assert_not_null(g);
    crash_stats cs = {0};
    static report reps[1 << 16];
    for (int round = 0; round < rounds; round++) {
        parent_append(dir, g, round, &r);
        round_cfg cfg = {.budget = round % 3 == 0 || round % 5 == 1 ? 1u << 20 : 64u << 20,
                         .child_seed = seed * 1000 + (uint64_t)round,
                         .delay_us = round % 2 ? (uint32_t)(50 + rnd(&r) % 250) : 0,
                         .merge_every = 2 + (int)(rnd(&r) % 3)};
        /* 0-50 ms; every sixth round up to 250 ms, so that children also
         * complete merges (a merge of an hour's files takes tens of ms). */
        uint64_t wait_us = rnd(&r) % (round % 6 == 5 ? 250000 : 50000);
        int status;
        size_t n = run_and_kill(dir, &cfg, wait_us, reps, sizeof reps / sizeof reps[0], &status);
        /* What was the child doing? */
        uint32_t lastop = 0;
        for (size_t k = 0; k < n; k++) {
            cr_assert_neq(reps[k].type, R_FAILED, "round %d: the child's %s failed: %s", round,
                          reps[k].a == R_MERGE ? "merge" : reps[k].a == R_COMPACT ? "compaction"
                                                                                  : "open/append",
                          tsagg_strerror(reps[k].code));
            cs.compactions += reps[k].type == R_COMPACTED;
            cs.merges += reps[k].type == R_MERGED;
            lastop = reps[k].type;
        }
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "round %d: the child exited by itself (status %#x)", round, status);
        if (n == 0)
            cs.before_open++;
        else if (lastop == R_COMPACT)
            cs.mid_compact++;
        else if (lastop == R_MERGE)
            cs.mid_merge++;
        else
            cs.between++;
        check_after_kill(dir, round, round % 4 == 3 || round == rounds - 1, &cs);
        cs.rounds++;
    }
    gagen_free(g);
    cr_log_info("compaction crash rounds: %u (killed mid-compaction %u, mid-merge %u, between "
                "%u, before the first %u); stray files found in %u rounds (%u tmp, %u runs, %u "
                "unlisted, %u MANIFEST.tmp); %" PRIu64 " compactions and %" PRIu64 " merges "
                "completed by the children; %u strict checks; %" PRIu64 " events",
                cs.rounds, cs.mid_compact, cs.mid_merge, cs.between, cs.before_open,
                cs.stray_rounds, cs.stray_tmp, cs.stray_runs, cs.stray_unlisted, cs.manifest_tmp,
                cs.compactions, cs.merges, cs.strict_checks, cs.events);
    cr_assert_gt(cs.mid_compact, rounds / 6, "too few kills landed during a compaction");
    cr_assert_gt(cs.mid_merge, 0, "no kill landed during a merge");
    cr_assert_gt(cs.stray_rounds, 0, "no kill ever left a temporary file or a run behind");
    tu_rmtree(dir);
}

/* ---- tiers ------------------------------------------------------------------- */

/* Whether every file is of the span the tier rule gives it: no tier merge
 * is pending. */
static int tiered(const tsagg__manifest *m)
{
    for (size_t i = 0; i < m->nparts; i++) {
        int64_t s;
        uint32_t h;
        tsagg__span_target(m->parts[i].start, m->parts[i].hours, m->newest_ts, &s, &h);
        if (s != m->parts[i].start || h != m->parts[i].hours)
            return 0;
        for (size_t k = i + 1; k < m->nparts && m->parts[k].start < cc_span_end(&m->parts[i]);
             k++)
            if (h > 1)
                return 0; /* a sealed day or month with several files */
    }
    return 1;
}

/*
 * Long history under kill -9: each round the parent appends the next part
 * of a stream over 80 days that ended weeks ago, the first a month of it,
 * then chunks of several days,
 * so that compactions write day and month files straight from the log
 * (spilling runs with a 1 MiB budget in some rounds), and the child adds
 * late events over all those days, so that every compaction ends with tier
 * merges of sealed days and months. After each kill: the state is whole
 * (check_after_kill), one compaction finishes every tier merge, and some
 * kills left a tier merge pending.
 */
Test(compact_crash, kill_during_tier_merges_and_bulk_loads)
{
    uint64_t seed = 0x7135;
    int rounds = 24;
    const char *e = getenv("TSAGG_COMPACT_CRASH_SEED");
    if (e)
        seed = strtoull(e, NULL, 0);
    e = getenv("TSAGG_COMPACT_CRASH_ROUNDS");
    if (e)
        rounds = atoi(e);
    rng r = {seed};
    char dir[4096];
    tu_tmpdir(dir, sizeof dir);
    int64_t now = (int64_t)time(NULL) * 1000000, day = 24 * CC_HOUR;
    int64_t start = now - now % day - 120 * day;
    gagen_config gc;
    gagen_config_init(&gc);
    gc.seed = seed;
    gc.events = 200000;
    gc.days = 80;
    gc.merchants = 300;
    gc.start_us = start;
    gc.late_fraction = 0.05;
    gc.dup_fraction = 0.01;
    gagen *g = gagen_create(&gc);
    cr_assert_not_null(g);
    crash_stats cs = {0};
    unsigned pending_tier = 0;
    static report reps[1 << 16];
    for (int round = 0; round < rounds; round++) {
        tsagg_store *st = cc_open_writer(dir);
        /* The first round is a bulk load: a backlog large enough to be
         * placed by its segments' newest ts, straight into day and month
         * buffers. */
        cc_append_gagen(st, g, round == 0 ? 70000 : 6000 + rnd(&r) % 6000);
        cr_assert_eq(tsagg_flush(st), 0);
        cr_assert_eq(tsagg_store_close(st), 0);
        round_cfg cfg = {.budget = round % 3 == 0 ? 1u << 20 : 64u << 20,
                         .child_seed = seed * 1000 + (uint64_t)round,
                         .delay_us = round % 2 ? (uint32_t)(50 + rnd(&r) % 250) : 0,
                         .merge_every = 2 + (int)(rnd(&r) % 3),
                         .history_days = 80,
                         .history_start = start};
        uint64_t wait_us = rnd(&r) % (round % 4 == 3 ? 400000 : 150000);
        int status;
        size_t n = run_and_kill(dir, &cfg, wait_us, reps, sizeof reps / sizeof reps[0], &status);
        for (size_t k = 0; k < n; k++) {
            cr_assert_neq(reps[k].type, R_FAILED, "round %d: the child failed: %s", round,
                          tsagg_strerror(reps[k].code));
            cs.compactions += reps[k].type == R_COMPACTED;
            cs.merges += reps[k].type == R_MERGED;
        }
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "round %d: the child exited by itself (status %#x)", round, status);
        /* What the kill left: a tier merge pending? */
        st = cc_open(dir, 0, NULL);
        tsagg__manifest *m = cc_manifest(st);
        pending_tier += !tiered(m);
        tsagg__manifest_free(m);
        cr_assert_eq(tsagg_store_close(st), 0);
        check_after_kill(dir, round, round % 4 == 3 || round == rounds - 1, &cs);
        st = cc_open(dir, 0, NULL);
        m = cc_manifest(st);
        cr_assert(tiered(m), "round %d: a compaction left a tier merge undone", round);
        tsagg__manifest_free(m);
        cr_assert_eq(tsagg_store_close(st), 0);
        cs.rounds++;
    }
    gagen_free(g);
    cr_log_info("tier crash rounds: %u, %u left a tier merge pending; stray files in %u rounds; "
                "%" PRIu64 " compactions and %" PRIu64 " merges completed by the children; "
                "%" PRIu64 " events",
                cs.rounds, pending_tier, cs.stray_rounds, cs.compactions, cs.merges, cs.events);
    cr_assert_gt(pending_tier, 0, "no kill landed between a compaction and its tier merges");
    tu_rmtree(dir);
}
