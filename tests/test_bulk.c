/*
 * test_bulk.c - bulk loads (tsagg_bulk_*, tsagg_compact.h): events appended
 * and compacted from memory in one pass.
 *
 * The reference is a store loaded with tsagg_append and compacted once with
 * tsagg_compact: a bulk load of the same events must publish the same
 * files byte for byte (same spans, ids and bytes), through the io_uring
 * and the pwrite back ends, with months written early by the month writer
 * thread or by the caller, with sorted runs spilled; and the partitions
 * must hold every log event once (compactcheck.h). A month file being
 * written must not stop the batches after it from being taken. Then what
 * must not lose or double events: another thread's appends in the middle, events in the
 * log before the load, a cancel, a failed append, and a process killed in
 * the middle of a load (the next compaction sweeps what it wrote and
 * compacts the log).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "compactcheck.h"
#include "testutil.h"

TestSuite(bulk, .init = tu_store_setup, .fini = tu_store_teardown, .timeout = 120);

#define DAY (24 * CC_HOUR)

/* 130 days ending 10 days ago: four sealed months and more, days and hours
 * of the last ones, late events (up to two days) and retries. */
static gagen *make_gen(uint64_t seed, uint64_t events)
{
    int64_t now = (int64_t)time(NULL) * 1000000;
    gagen_config cfg;
    gagen_config_init(&cfg);
    cfg.seed = seed;
    cfg.events = events;
    cfg.days = 130;
    cfg.merchants = 300;
    cfg.start_us = now - now % DAY - 140 * DAY;
    cfg.late_fraction = 0.02;
    cfg.dup_fraction = 0.01;
    gagen *g = gagen_create(&cfg);
    cr_assert_not_null(g);
    return g;
}

static tsagg_store *open_store(const char *dir, uint32_t backend)
{
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.io_backend = backend;
    o.sync_mode = TSAGG_SYNC_NONE;
    tsagg_store *st = NULL;
    char err[512] = "";
    int rc = tsagg_store_open(dir, &o, &st, err, sizeof err);
    cr_assert_eq(rc, 0, "open %s: %s (%s)", dir, tsagg_strerror(rc), err);
    return st;
}

/* The reference: append everything, then one compaction. */
static tsagg_store *reference(const char *dir, uint64_t seed, uint64_t events)
{
    tsagg_store *st = open_store(dir, TSAGG_IO_PWRITE);
    gagen *g = make_gen(seed, events);
    cc_append_gagen(st, g, UINT64_MAX);
    gagen_free(g);
    cr_assert_eq(tsagg_flush(st), 0);
    tsagg_compact_options o;
    tsagg_compact_options_init(&o);
    cr_assert_eq(tsagg_compact(st, &o, NULL), 0);
    return st;
}

/* Bulk-load the stream of g in batches of `batch`. */
static void bulk_load(tsagg_bulk *b, gagen *g, size_t batch)
{
    static tsagg_event evs[4096];
    size_t k;
    while ((k = gagen_next(g, evs, batch)) > 0) {
        int rc = tsagg_bulk_append(b, evs, k, NULL);
        cr_assert_eq(rc, 0, "bulk append: %s", tsagg_strerror(rc));
    }
}

static tsagg_compact_stats bulk(tsagg_store *st, uint64_t seed, uint64_t events,
                                uint32_t threads, uint64_t budget)
{
    tsagg_compact_options o;
    tsagg_compact_options_init(&o);
    o.threads = threads;
    if (budget)
        o.memory_budget = budget;
    tsagg_bulk *b = NULL;
    cr_assert_eq(tsagg_bulk_begin(st, &o, &b), 0);
    gagen *g = make_gen(seed, events);
    bulk_load(b, g, 4096);
    gagen_free(g);
    tsagg_compact_stats s = {.struct_size = sizeof s};
    int rc = tsagg_bulk_finish(b, &s);
    cr_assert_eq(rc, 0, "finish: %s", tsagg_strerror(rc));
    return s;
}

static void read_all(const char *path, char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    *buf = malloc(*len + 1);
    cr_assert_eq(fread(*buf, 1, *len, f), *len);
    fclose(f);
}

/* The two stores list the same files, equal byte for byte. */
static void assert_same_files(tsagg_store *a, tsagg_store *b, const char *what)
{
    tsagg__manifest *ma = cc_manifest(a), *mb = cc_manifest(b);
    cr_assert_eq(ma->nparts, mb->nparts, "%s: %zu files against %zu", what, ma->nparts,
                 mb->nparts);
    cr_assert_eq(ma->consumed_seq, mb->consumed_seq, "%s", what);
    cr_assert_eq(ma->newest_ts, mb->newest_ts, "%s", what);
    for (size_t i = 0; i < ma->nparts; i++) {
        const tsagg__part_ref *x = &ma->parts[i], *y = &mb->parts[i];
        cr_assert(x->start == y->start && x->hours == y->hours && x->file_id == y->file_id &&
                      x->rows == y->rows && x->bytes == y->bytes,
                  "%s: file %zu differs", what, i);
        char pa[1024], pb[1024];
        cc_path(a, x, pa, sizeof pa);
        cc_path(b, y, pb, sizeof pb);
        char *da, *db;
        size_t la, lb;
        read_all(pa, &da, &la);
        read_all(pb, &db, &lb);
        cr_assert(la == lb && memcmp(da, db, la) == 0, "%s: %s and %s differ", what, pa, pb);
        free(da);
        free(db);
    }
    tsagg__manifest_free(ma);
    tsagg__manifest_free(mb);
}

static void same_as_compaction(uint32_t backend, uint32_t threads, uint64_t budget,
                               const char *what)
{
    char ref[700];
    snprintf(ref, sizeof ref, "%s/ref", tu_dir);
    tsagg_store *r = reference(ref, 7, 120000);
    tsagg_store *st = open_store(tu_store, backend);
    tsagg_compact_stats s = bulk(st, 7, 120000, threads, budget);
    cr_assert_eq(s.events_read, 120000);
    cr_assert_gt(s.month_files, 2, "%s: months written", what);
    cr_assert_gt(s.day_files, 0);
    cr_assert_gt(s.hour_files, 0);
    cr_assert_eq(s.consumed_seq, 120000);
    if (budget)
        cr_assert_gt(s.runs_spilled, 0, "%s: the budget spilled runs", what);
    assert_same_files(st, r, what);
    cc_check_store(st, 1, 1, what);
    tsagg__manifest *m = cc_manifest(st);
    cc_assert_clean_parts(tu_store, m, what);
    tsagg__manifest_free(m);
    cr_assert_eq(tsagg_store_close(st), 0);
    cr_assert_eq(tsagg_store_close(r), 0);
}

Test(bulk, same_files_as_a_compaction_pwrite_helper)
{
    same_as_compaction(TSAGG_IO_PWRITE, 2, 0, "pwrite, helper thread");
}

Test(bulk, same_files_as_a_compaction_uring_one_thread)
{
    /* io_uring where the kernel allows it; the plain path otherwise. */
    same_as_compaction(TSAGG_IO_AUTO, 1, 0, "io_uring (or pwrite), one thread");
}

Test(bulk, same_files_as_a_compaction_with_spilled_runs)
{
    same_as_compaction(TSAGG_IO_PWRITE, 3, 2 << 20, "2 MiB budget");
}

/*
 * A month file being written does not hold up the batches after it: the
 * creation of the first month file waits (HOLD_S at most) until the
 * processing hook, which runs where batches are taken, has seen two more
 * batches. A helper that wrote the months itself would see none of them
 * until the file was made.
 */
#define HOLD_S 5
#define HOLD_BATCH 4096

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int held, holding;
    uint64_t seen, at_hold, while_held;
} hold = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0};

static int hold_open(void *ctx, const char *path, int flags, unsigned mode)
{
    const char *name = strrchr(path, '/');
    unsigned hours;
    if ((flags & O_CREAT) && name && sscanf(name + 1, "%*8dT%*2d-%uh-", &hours) == 1 &&
        hours >= 28 * 24) {
        pthread_mutex_lock(&hold.mu);
        if (!hold.held) {
            hold.held = hold.holding = 1;
            hold.at_hold = hold.seen;
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += HOLD_S;
            while (hold.seen < hold.at_hold + 2 * HOLD_BATCH &&
                   pthread_cond_timedwait(&hold.cond, &hold.mu, &until) == 0)
                ;
            hold.while_held = hold.seen - hold.at_hold;
            hold.holding = 0;
        }
        pthread_mutex_unlock(&hold.mu);
    }
    return tsagg_io_default()->open(ctx, path, flags, mode);
}

static int hold_hook(void *ctx, tsagg_event *ev, uint64_t seq)
{
    (void)ctx;
    (void)ev;
    pthread_mutex_lock(&hold.mu);
    if (seq > hold.seen)
        hold.seen = seq;
    if (hold.holding)
        pthread_cond_broadcast(&hold.cond);
    pthread_mutex_unlock(&hold.mu);
    return 1;
}

Test(bulk, batches_taken_while_a_month_is_written)
{
    static tsagg_io io;
    io = *tsagg_io_default();
    io.open = hold_open;
    tsagg_options so;
    tsagg_options_init(&so);
    so.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    so.io_backend = TSAGG_IO_PWRITE;
    so.sync_mode = TSAGG_SYNC_NONE;
    so.io = &io;
    tsagg_store *st = NULL;
    char err[512] = "";
    cr_assert_eq(tsagg_store_open(tu_store, &so, &st, err, sizeof err), 0, "%s", err);
    tsagg_compact_options o;
    tsagg_compact_options_init(&o);
    o.threads = 2;
    o.process = hold_hook;
    tsagg_bulk *b;
    cr_assert_eq(tsagg_bulk_begin(st, &o, &b), 0);
    gagen *g = make_gen(11, 120000);
    bulk_load(b, g, HOLD_BATCH);
    gagen_free(g);
    tsagg_compact_stats s = {.struct_size = sizeof s};
    cr_assert_eq(tsagg_bulk_finish(b, &s), 0);
    cr_assert(hold.held, "no month file was written");
    cr_assert_geq(hold.while_held, 2 * HOLD_BATCH,
                  "%" PRIu64 " events taken while the first month file waited for %d s",
                  hold.while_held, HOLD_S);
    cr_assert_gt(s.month_files, 2);
    cc_check_store(st, 1, 1, "a month file held");
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* Another thread's events between two batches: finish compacts the log. */
Test(bulk, foreign_appends_compact_from_the_log)
{
    tsagg_store *st = open_store(tu_store, TSAGG_IO_PWRITE);
    tsagg_compact_options o;
    tsagg_compact_options_init(&o);
    o.threads = 2;
    tsagg_bulk *b;
    cr_assert_eq(tsagg_bulk_begin(st, &o, &b), 0);
    gagen *g = make_gen(3, 60000);
    static tsagg_event evs[4096];
    size_t k, round = 0;
    while ((k = gagen_next(g, evs, 4096)) > 0) {
        if (round++ == 7)
            cr_assert_eq(tsagg_append(st, evs, k, NULL), 0); /* not through the load */
        else
            cr_assert_eq(tsagg_bulk_append(b, evs, k, NULL), 0);
    }
    gagen_free(g);
    tsagg_compact_stats s = {.struct_size = sizeof s};
    cr_assert_eq(tsagg_bulk_finish(b, &s), 0);
    cr_assert_eq(s.events_read, 60000);
    cr_assert_eq(s.consumed_seq, 60000);
    cc_check_store(st, 1, 1, "foreign appends");
    tsagg__manifest *m = cc_manifest(st);
    cc_assert_clean_parts(tu_store, m, "foreign appends");
    tsagg__manifest_free(m);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* Events in the log before the load are compacted with it. */
Test(bulk, log_events_before_the_load)
{
    tsagg_store *st = open_store(tu_store, TSAGG_IO_PWRITE);
    gagen *g = make_gen(5, 50000);
    cr_assert_eq(cc_append_gagen(st, g, 9000), 9000);
    tsagg_bulk *b;
    cr_assert_eq(tsagg_bulk_begin(st, NULL, &b), 0);
    bulk_load(b, g, 1000);
    gagen_free(g);
    tsagg_compact_stats s = {.struct_size = sizeof s};
    cr_assert_eq(tsagg_bulk_finish(b, &s), 0);
    cr_assert_eq(s.events_read, 50000);
    cc_check_store(st, 1, 1, "log events before the load");
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* Cancel publishes nothing and leaves no file; the log keeps the events. */
Test(bulk, cancel_keeps_the_log_only)
{
    tsagg_store *st = open_store(tu_store, TSAGG_IO_PWRITE);
    tsagg_compact_options o;
    tsagg_compact_options_init(&o);
    o.threads = 2;
    tsagg_bulk *b;
    cr_assert_eq(tsagg_bulk_begin(st, &o, &b), 0);
    gagen *g = make_gen(9, 80000);
    bulk_load(b, g, 4096);
    gagen_free(g);
    cr_assert_eq(tsagg_bulk_cancel(b), 0);
    uint64_t seq = 1;
    cr_assert_eq(tsagg_compacted_seq(st, &seq), 0);
    cr_assert_eq(seq, 0);
    cc_dirstate d = cc_scan_parts(tu_store, NULL);
    cr_assert_eq(d.parts + d.runs + d.tmp, 0, "cancel left %u files", d.parts + d.runs + d.tmp);
    cc_compact(st, 0);
    cc_check_store(st, 1, 1, "compacted after a cancel");
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* A failed append (an invalid event) leaves cancel only. */
Test(bulk, failed_append_is_sticky)
{
    tsagg_store *st = open_store(tu_store, TSAGG_IO_PWRITE);
    tsagg_bulk *b;
    cr_assert_eq(tsagg_bulk_begin(st, NULL, &b), 0);
    tsagg_event bad = {.ts = 1, .merchant = 1, .event = NULL, .event_len = 3};
    cr_assert_neq(tsagg_bulk_append(b, &bad, 1, NULL), 0);
    gagen *g = make_gen(2, 100);
    static tsagg_event evs[100];
    size_t k = gagen_next(g, evs, 100);
    gagen_free(g);
    cr_assert_neq(tsagg_bulk_append(b, evs, k, NULL), 0);
    cr_assert_neq(tsagg_bulk_finish(b, NULL), 0);
    uint64_t seq = 1;
    cr_assert_eq(tsagg_compacted_seq(st, &seq), 0);
    cr_assert_eq(seq, 0);
    cr_assert_eq(tsagg_bulk_append(NULL, evs, k, NULL), TSAGG_EARG);
    cr_assert_eq(tsagg_bulk_finish(NULL, NULL), TSAGG_EARG);
    cr_assert_eq(tsagg_bulk_cancel(NULL), TSAGG_EARG);
    cr_assert_eq(tsagg_bulk_begin(st, NULL, NULL), TSAGG_EARG);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* A process killed at points of a load (months written early, nothing
 * published): the next compaction removes its files and compacts the log;
 * a bulk load killed after finish left the published state. */
Test(bulk, killed_in_the_middle)
{
    for (int stop = 1; stop <= 4; stop++) {
        char dir[700];
        snprintf(dir, sizeof dir, "%s/k%d", tu_dir, stop);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            tsagg_store *st = open_store(dir, TSAGG_IO_PWRITE);
            tsagg_compact_options o;
            tsagg_compact_options_init(&o);
            o.threads = 2;
            tsagg_bulk *b;
            if (tsagg_bulk_begin(st, &o, &b) != 0)
                _exit(2);
            gagen *g = make_gen(11, 100000);
            static tsagg_event evs[4096];
            size_t k, n = 0;
            while ((k = gagen_next(g, evs, 4096)) > 0) {
                if (tsagg_bulk_append(b, evs, k, NULL) != 0)
                    _exit(2);
                n += k;
                if (stop < 4 && n >= (uint64_t)stop * 25000) {
                    tsagg_flush(st); /* what a kill finds in the page cache */
                    usleep(100000);  /* let the helper write its months */
                    kill(getpid(), SIGKILL);
                }
            }
            if (tsagg_bulk_finish(b, NULL) != 0)
                _exit(2);
            kill(getpid(), SIGKILL); /* without closing */
        }
        int status;
        waitpid(pid, &status, 0);
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "stop %d: status %d", stop,
                  status);
        tsagg_store *st = open_store(dir, TSAGG_IO_PWRITE);
        uint64_t seq = 0;
        cr_assert_eq(tsagg_compacted_seq(st, &seq), 0);
        cr_assert_eq(seq, stop < 4 ? 0 : 100000, "stop %d: published %" PRIu64, stop, seq);
        cc_compact(st, 0);
        cc_check_store(st, 1, 1, "compacted after a kill");
        tsagg__manifest *m = cc_manifest(st);
        uint64_t appended = ((uint64_t)stop * 25000 + 4095) / 4096 * 4096;
        cr_assert_eq(m->consumed_seq, stop < 4 ? appended : 100000);
        cc_assert_clean_parts(dir, m, "compacted after a kill");
        tsagg__manifest_free(m);
        cr_assert_eq(tsagg_store_close(st), 0);
    }
}

/* Batches lent to a load (tsagg_bulk_append_lent): deep copies of the
 * generator's events, each overwritten as soon as the load gives it back,
 * so that a read after done would change the files. */
#define LENT_BATCHES 6
#define LENT_EVENTS 1024

typedef struct lent_batch {
    tsagg_event evs[LENT_EVENTS];
    tsagg_attr attrs[LENT_EVENTS * TSAGG_ATTRS_MAX];
    char bytes[LENT_EVENTS * 512];
    size_t nbytes;
    int out; /* lent, done not yet called */
} lent_batch;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t back;
    lent_batch batches[LENT_BATCHES];
    uint64_t lent, returned, twice;
} lend = {.mu = PTHREAD_MUTEX_INITIALIZER, .back = PTHREAD_COND_INITIALIZER};

static void lent_done(void *ctx)
{
    lent_batch *t = ctx;
    memset(t->bytes, 'X', t->nbytes);
    for (size_t i = 0; i < LENT_EVENTS; i++)
        t->evs[i].ts = -1;
    pthread_mutex_lock(&lend.mu);
    lend.twice += !t->out;
    t->out = 0;
    lend.returned++;
    pthread_cond_broadcast(&lend.back);
    pthread_mutex_unlock(&lend.mu);
}

static const char *lent_copy(lent_batch *t, const char *s, size_t len)
{
    cr_assert_leq(t->nbytes + len, sizeof t->bytes);
    char *w = t->bytes + t->nbytes;
    memcpy(w, s, len);
    t->nbytes += len;
    return w;
}

static void lent_fill(lent_batch *t, const tsagg_event *evs, size_t n)
{
    t->nbytes = 0;
    tsagg_attr *a = t->attrs;
    for (size_t i = 0; i < n; i++) {
        t->evs[i] = evs[i];
        t->evs[i].event = lent_copy(t, evs[i].event, evs[i].event_len);
        t->evs[i].attrs = a;
        for (uint32_t k = 0; k < evs[i].nattrs; k++, a++) {
            *a = evs[i].attrs[k];
            a->key = lent_copy(t, a->key, a->key_len);
            if (a->type == TSAGG_STR)
                a->v.s.ptr = lent_copy(t, a->v.s.ptr, a->v.s.len);
        }
    }
}

static void lent_load(tsagg_store *st, uint32_t threads)
{
    tsagg_compact_options o;
    tsagg_compact_options_init(&o);
    o.threads = threads;
    tsagg_bulk *b = NULL;
    cr_assert_eq(tsagg_bulk_begin(st, &o, &b), 0);
    gagen *g = make_gen(7, 120000);
    static tsagg_event evs[LENT_EVENTS];
    size_t k, next = 0;
    while ((k = gagen_next(g, evs, LENT_EVENTS)) > 0) {
        lent_batch *t = &lend.batches[next];
        next = (next + 1) % LENT_BATCHES;
        pthread_mutex_lock(&lend.mu);
        while (t->out)
            pthread_cond_wait(&lend.back, &lend.mu);
        t->out = 1;
        lend.lent++;
        pthread_mutex_unlock(&lend.mu);
        lent_fill(t, evs, k);
        int rc = tsagg_bulk_append_lent(b, t->evs, k, lent_done, t, NULL);
        cr_assert_eq(rc, 0, "lent append: %s", tsagg_strerror(rc));
    }
    gagen_free(g);
    tsagg_compact_stats s = {.struct_size = sizeof s};
    cr_assert_eq(tsagg_bulk_finish(b, &s), 0);
    cr_assert_eq(s.events_read, 120000);
    pthread_mutex_lock(&lend.mu);
    cr_assert_eq(lend.returned, lend.lent, "every lent batch given back once finish returns");
    cr_assert_eq(lend.twice, 0, "a batch given back twice");
    pthread_mutex_unlock(&lend.mu);
}

static void lent_same_as_compaction(uint32_t threads, const char *what)
{
    char ref[700];
    snprintf(ref, sizeof ref, "%s/ref", tu_dir);
    tsagg_store *r = reference(ref, 7, 120000);
    tsagg_store *st = open_store(tu_store, TSAGG_IO_PWRITE);
    lent_load(st, threads);
    assert_same_files(st, r, what);
    cc_check_store(st, 1, 1, what);
    cr_assert_eq(tsagg_store_close(st), 0);
    cr_assert_eq(tsagg_store_close(r), 0);
}

Test(bulk, lent_batches_same_files_helper)
{
    lent_same_as_compaction(2, "lent, helper thread");
}

Test(bulk, lent_batches_same_files_one_thread)
{
    lent_same_as_compaction(1, "lent, one thread");
}

/* A failed load gives every lent batch back, the failing one too. */
Test(bulk, lent_batch_given_back_on_failure)
{
    tsagg_store *st = open_store(tu_store, TSAGG_IO_PWRITE);
    tsagg_bulk *b = NULL;
    cr_assert_eq(tsagg_bulk_begin(st, NULL, &b), 0);
    lent_batch *t = &lend.batches[0];
    tsagg_event bad = {.ts = 1, .event = "", .event_len = 0};
    t->out = 1;
    lend.lent++;
    t->evs[0] = bad;
    cr_assert_neq(tsagg_bulk_append_lent(b, t->evs, 1, lent_done, t, NULL), 0);
    cr_assert_eq(lend.returned, 1);
    t->out = 1;
    lend.lent++;
    cr_assert_neq(tsagg_bulk_append_lent(b, t->evs, 1, lent_done, t, NULL), 0,
                  "sticky failure");
    cr_assert_eq(lend.returned, 2);
    cr_assert_eq(lend.twice, 0);
    cr_assert_eq(tsagg_bulk_cancel(b), 0);
    cr_assert_eq(tsagg_store_close(st), 0);
}
