/*
 * test_bulk_faults.c - bulk loads (tsagg_bulk_*) under injected I/O
 * failures (faultio.h): the nth write, fsync, rename or file creation
 * fails, for every n the load reaches, with the helper thread writing
 * months while the caller appends.
 *
 * Invariants: a failure reaches the caller (an append, finish or cancel
 * returns it; a cancel after a failed append publishes nothing); the
 * manifest on disk lists nothing or everything the load read; after a
 * reopen, one clean compaction leaves partitions holding every event of
 * the log exactly once and nothing else in parts/; no descriptor leaks.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "compactcheck.h"
#include "faultio.h"
#include "testutil.h"

TestSuite(bulk_faults, .init = tu_store_setup, .fini = tu_store_teardown, .timeout = 600);

#define DAY (24 * CC_HOUR)
#define EVENTS 8000

static gagen *make_gen(void)
{
    int64_t now = (int64_t)time(NULL) * 1000000;
    gagen_config cfg;
    gagen_config_init(&cfg);
    cfg.seed = 17;
    cfg.events = EVENTS;
    cfg.days = 100;
    cfg.merchants = 100;
    cfg.start_us = now - now % DAY - 110 * DAY;
    cfg.late_fraction = 0.02;
    cfg.dup_fraction = 0.01;
    gagen *g = gagen_create(&cfg);
    cr_assert_not_null(g);
    return g;
}

/* One bulk load of the stream; the first failure, or 0. */
static int load(tsagg_store *st)
{
    tsagg_compact_options o;
    tsagg_compact_options_init(&o);
    o.threads = 2;
    tsagg_bulk *b;
    int rc = tsagg_bulk_begin(st, &o, &b);
    if (rc != 0)
        return rc;
    gagen *g = make_gen();
    static tsagg_event evs[2048];
    size_t k;
    while (rc == 0 && (k = gagen_next(g, evs, 2048)) > 0)
        rc = tsagg_bulk_append(b, evs, k, NULL);
    gagen_free(g);
    if (rc != 0) {
        tsagg_bulk_cancel(b);
        return rc;
    }
    return tsagg_bulk_finish(b, NULL);
}

typedef struct fcase {
    const char *name;
    int op;
    const char *match;
    int open_flags;
} fcase;

/* The load with the nth matching call failing: whether it fired. */
static int run_one(const fcase *fc, uint64_t nth)
{
    char dir[700];
    snprintf(dir, sizeof dir, "%s/%s-%" PRIu64, tu_dir, fc->name, nth);
    static faultio fio;
    faultio_init(&fio, NULL);
    tsagg_store *st = cc_open(dir, TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE, faultio_table(&fio));
    faultio_arm_filtered(&fio, fc->op, FIO_FAIL, nth, 1, -EIO, 0, fc->match, fc->open_flags);
    int rc = load(st);
    int fired = faultio_fired(&fio, fc->op) > 0;
    faultio_disarm_all(&fio);
    if (!fired) {
        cr_assert_eq(rc, 0, "%s #%" PRIu64 " (not fired): %s", fc->name, nth, tsagg_strerror(rc));
    } else {
        cr_assert_neq(rc, 0, "%s #%" PRIu64 ": the failure did not reach the caller", fc->name,
                      nth);
    }
    uint64_t seq = 1;
    cr_assert_eq(tsagg_compacted_seq(st, &seq), 0);
    cr_assert(seq == 0 || seq == EVENTS || rc == 0, "%s #%" PRIu64 ": published up to %" PRIu64,
              fc->name, nth, seq);
    tsagg_store_close(st); /* may report the writer's failure */
    cr_assert_eq(faultio_open_fds(&fio), 0, "%s #%" PRIu64 ": %" PRId64 " descriptors leaked",
                 fc->name, nth, faultio_open_fds(&fio));

    st = cc_open_writer(dir);
    cc_compact(st, 0);
    cc_check_store(st, 1, 0, fc->name);
    tsagg__manifest *m = cc_manifest(st);
    cc_assert_clean_parts(dir, m, fc->name);
    tsagg__manifest_free(m);
    cr_assert_eq(tsagg_store_close(st), 0);
    tu_rmtree(dir);
    return fired;
}

static void sweep(const fcase *fc, uint64_t step)
{
    uint64_t fired = 0;
    for (uint64_t nth = 1; nth < 2000; nth += step) {
        if (!run_one(fc, nth))
            break;
        fired++;
    }
    cr_assert_gt(fired, 0, "%s never fired", fc->name);
    cr_log_info("bulk %s: %" PRIu64 " faulty runs", fc->name, fired);
}

Test(bulk_faults, writes)
{
    sweep(&(fcase){"pwrite", FIO_PWRITE, "", 0}, 3);
}

Test(bulk_faults, fsyncs)
{
    sweep(&(fcase){"fsync", FIO_FSYNC, "", 0}, 1);
}

Test(bulk_faults, renames)
{
    sweep(&(fcase){"rename", FIO_RENAME, "", 0}, 1);
}

Test(bulk_faults, partition_creations)
{
    sweep(&(fcase){"create", FIO_OPEN, "parts", O_CREAT}, 1);
}
