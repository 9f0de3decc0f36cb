/*
 * test_compact_faults.c - compaction and merging under injected I/O faults
 * (faultio.h), and damaged partition files and manifests.
 *
 * Sweeps: for each operation (pwrite, fsync, rename, open, unlink, ...) and
 * N = 1, 2, ... until the fault no longer fires, a copy of one baseline
 * store is compacted (or merged) with the Nth such call failing. Each time:
 * the call returns the injected error (or succeeds, for faults it may
 * ignore: a failed unlink or close of something it no longer needs); the
 * manifest on disk is the old one or the new one, never anything else,
 * every file it lists opens, and the handle reports what is on disk; then,
 * on the same handle, a clean run finishes, leaves exactly the manifest a
 * clean run on the baseline leaves, nothing stray in parts/, every log
 * event counted once (retries aside), and no descriptor open.
 *
 * Damage: every sampled byte of a partition file flipped is caught
 * (TSAGG_ECHECKSUM / TSAGG_ECORRUPT naming the file) by a full read, and by
 * a merge reading it; a flipped byte of MANIFEST fails snapshots and
 * compaction with TSAGG_ECHECKSUM and removes nothing.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "compactcheck.h"
#include "faultio.h"
#include "testutil.h"

TestSuite(compact_faults, .timeout = 300);

/* ---- files ---------------------------------------------------------------- */

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
    cr_assert_not_null(p);
    cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void spit(const char *path, const uint8_t *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(p, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}


/* ---- manifests -------------------------------------------------------------- */

/* The manifest on disk, read through a new read-only handle. */
static tsagg__manifest *disk_manifest(const char *dir)
{
    tsagg_store *ro = cc_open(dir, 0, NULL);
    tsagg__manifest *m = cc_manifest(ro);
    cr_assert_eq(tsagg_store_close(ro), 0);
    return m;
}

static int same_manifest(const tsagg__manifest *a, const tsagg__manifest *b)
{
    if (a->version != b->version || a->consumed_seq != b->consumed_seq ||
        a->next_file_id != b->next_file_id || a->nparts != b->nparts)
        return 0;
    for (size_t i = 0; i < a->nparts; i++) {
        const tsagg__part_ref *x = &a->parts[i], *y = &b->parts[i];
        if (x->start != y->start || x->hours != y->hours || x->file_id != y->file_id || x->rows != y->rows ||
            x->bytes != y->bytes || x->level != y->level || x->generation != y->generation)
            return 0;
    }
    return 1;
}

/* ---- the baseline ------------------------------------------------------------- */

/*
 * A store with a published manifest and more to compact: events over two
 * days, compacted; then the stream's continuation (late events land in
 * compacted hours: extra files), retries of compacted events, and a dense
 * hour that a 1 MiB budget spills as runs.
 */
static void dense_hour(tsagg_store *st, gagen *g, uint64_t n, int64_t hour)
{
    static tsagg_event evs[4096];
    uint64_t done = 0;
    while (done < n) {
        size_t k = gagen_next(g, evs, n - done < 4096 ? (size_t)(n - done) : 4096);
        cr_assert_gt(k, 0);
        for (size_t i = 0; i < k; i++)
            evs[i].ts = hour + (evs[i].ts % CC_HOUR + CC_HOUR) % CC_HOUR;
        cr_assert_eq(tsagg_append(st, evs, k, NULL), 0);
        done += k;
    }
}

static void build_baseline(const char *dir, uint64_t dense)
{
    tsagg_store *st = cc_open_writer(dir);
    gagen_config cfg;
    gagen_config_init(&cfg);
    cfg.seed = 41;
    cfg.events = 100000;
    cfg.days = 2;
    cfg.merchants = 150;
    cfg.late_fraction = 0.05;
    cfg.dup_fraction = 0.01;
    gagen *g = gagen_create(&cfg);
    cr_assert_not_null(g);
    cc_append_gagen(st, g, 4000);
    cr_assert_eq(tsagg_flush(st), 0);
    cc_compact(st, 0);
    cc_append_gagen(st, g, 1500);
    tsagg_log_range range;
    tsagg_log_range_init(&range);
    range.to_seq = 4001;
    tsagg_log_reader *rd;
    cr_assert_eq(tsagg_log_reader_open(st, &range, &rd), 0);
    const tsagg_event *ev;
    uint64_t seq;
    while (tsagg_log_reader_next(rd, &ev, &seq) == 1)
        if (seq % 401 == 0)
            cr_assert_eq(tsagg_append(st, ev, 1, NULL), 0);
    tsagg_log_reader_close(rd);
    if (dense)
        dense_hour(st, g, dense, INT64_C(1790812800000000) + 30 * CC_HOUR);
    gagen_free(g);
    cr_assert_eq(tsagg_flush(st), 0);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- the sweep ------------------------------------------------------------------ */

enum { OP_COMPACT, OP_MERGE };

typedef struct fcase {
    const char *name;
    int op, err;
    int optional; /* the call may also succeed with the fault */
    const char *match;
    int open_flags;
    uint64_t step;  /* sweep N = start, start + step, ... (0: 1) */
    uint64_t start; /* 0: 1 */
} fcase;

typedef struct sweep_env {
    char base[4096];  /* the baseline store */
    char work[4200];  /* the copy each run uses */
    char ref[4200];   /* the baseline after a clean run, checked */
    int what;         /* OP_COMPACT or OP_MERGE */
    tsagg__manifest *old, *new_; /* on disk before, and after a clean run */
    uint64_t budget;
} sweep_env;

static int run(tsagg_store *st, int what, uint64_t budget, tsagg_compact_stats *s)
{
    tsagg_compact_options o;
    tsagg_compact_options_init(&o);
    o.memory_budget = budget;
    return what == OP_COMPACT ? tsagg_compact(st, &o, s) : tsagg_merge(st, &o, s);
}

static void fresh_copy(sweep_env *e)
{
    tu_rmtree(e->work);
    tu_copy_tree(e->base, e->work);
}

static void env_init(sweep_env *e, int what, uint64_t dense, uint64_t budget)
{
    tu_tmpdir(e->base, sizeof e->base);
    snprintf(e->work, sizeof e->work, "%s.work", e->base);
    snprintf(e->ref, sizeof e->ref, "%s.ref", e->base);
    e->what = what;
    e->budget = budget;
    build_baseline(e->base, dense);
    if (what == OP_MERGE) { /* compacted, with extra files to merge */
        tsagg_store *st = cc_open_writer(e->base);
        cc_compact(st, 0);
        tsagg__manifest *m = cc_manifest(st);
        cr_assert(cc_has_extra_files(m));
        tsagg__manifest_free(m);
        cr_assert_eq(tsagg_store_close(st), 0);
    }
    e->old = disk_manifest(e->base);
    fresh_copy(e);
    tsagg_store *st = cc_open_writer(e->work);
    tsagg_compact_stats s = {.struct_size = sizeof s};
    cr_assert_eq(run(st, what, budget, &s), 0);
    if (what == OP_COMPACT && dense) {
        cr_assert_gt(s.runs_spilled, 0);
        /* The dense hour seals the first day: its hour files, already
         * published, and the day file of its late events are merged after
         * the compaction's publish. */
        cr_assert_gt(s.spans_merged, 0, "the sweep covers a tier merge");
    }
    cc_check_store(st, what == OP_MERGE, 1, "clean run");
    cr_assert_eq(tsagg_store_close(st), 0);
    e->new_ = disk_manifest(e->work);
    cr_assert_geq(e->new_->version, e->old->version + 1);
    tu_copy_tree(e->work, e->ref);
}

/* The files a run left are those of the clean run, byte for byte. */
static void same_files(const sweep_env *e, const tsagg__manifest *m, const char *what)
{
    for (size_t i = 0; i < m->nparts; i++) {
        char a[4400], b[4400];
        tsagg__part_ref r = m->parts[i];
        char name[64];
        uint64_t id = r.file_id;
        time_t t = (time_t)(r.start / 1000000);
        struct tm tm;
        gmtime_r(&t, &tm);
        snprintf(name, sizeof name, "%04d%02d%02dT%02d-%uh-%016" PRIx64 ".tpart",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, r.hours, id);
        snprintf(a, sizeof a, "%s/parts/%s", e->work, name);
        snprintf(b, sizeof b, "%s/parts/%s", e->ref, name);
        size_t la, lb;
        uint8_t *pa = slurp(a, &la), *pb = slurp(b, &lb);
        cr_assert(la == lb && !memcmp(pa, pb, la), "%s: %s differs from a clean run's", what,
                  name);
        free(pa);
        free(pb);
    }
}

static void env_fini(sweep_env *e)
{
    tsagg__manifest_free(e->old);
    tsagg__manifest_free(e->new_);
    tu_rmtree(e->work);
    tu_rmtree(e->ref);
    tu_rmtree(e->base);
}

/* One run with the nth matching call failing. Returns whether it fired. */
static int sweep_one(sweep_env *e, const fcase *fc, uint64_t nth)
{
    fresh_copy(e);
    static faultio fio;
    faultio_init(&fio, NULL);
    tsagg_store *st = cc_open(e->work, TSAGG_OPEN_WRITE, faultio_table(&fio));
    faultio_arm_filtered(&fio, fc->op, FIO_FAIL, nth, 1, fc->err, 0, fc->match, fc->open_flags);
    tsagg_compact_stats s = {.struct_size = sizeof s};
    int rc = run(st, e->what, e->budget, &s);
    int fired = faultio_fired(&fio, fc->op) > 0;
    faultio_disarm_all(&fio);
    char err[512];
    tsagg_store_errmsg(st, err, sizeof err);
    if (!fired)
        cr_assert_eq(rc, 0, "%s #%" PRIu64 " (not fired): %s (%s)", fc->name, nth,
                     tsagg_strerror(rc), err);
    else if (fc->optional)
        cr_assert(rc == 0 || rc == fc->err, "%s #%" PRIu64 ": %s (%s)", fc->name, nth,
                  tsagg_strerror(rc), err);
    else
        cr_assert_eq(rc, fc->err, "%s #%" PRIu64 ": returned %s (%s)", fc->name, nth,
                     tsagg_strerror(rc), err);
    if (rc != 0)
        cr_assert_neq(err[0], 0, "%s #%" PRIu64 ": no errmsg", fc->name, nth);

    /* Old or new, or (a compaction publishes, then each tier merge) a state
     * between them with everything compacted; the listed files all open. */
    tsagg__manifest *disk = disk_manifest(e->work);
    int is_new = same_manifest(disk, e->new_), is_old = same_manifest(disk, e->old);
    int between = disk->version > e->old->version && disk->version < e->new_->version &&
                  disk->consumed_seq == e->new_->consumed_seq;
    cr_assert(is_new || is_old || between, "%s #%" PRIu64 ": the manifest on disk (version %" PRIu64
              ", %zu files) is neither the old nor the new one, nor one between", fc->name, nth,
              disk->version, disk->nparts);
    cr_assert(rc != 0 || is_new, "%s #%" PRIu64 ": succeeded without publishing", fc->name, nth);
    cc_ctx c;
    cc_init(&c, tsagg_store_schema(st));
    cc_rows rows = {0};
    cc_part_rows(&c, st, disk, 0, &rows);
    cc_rows_free(&rows);
    cc_fini(&c);
    /* The handle tells what was published. */
    uint64_t seq = 0;
    cr_assert_eq(tsagg_compacted_seq(st, &seq), 0);
    cr_assert_eq(seq, disk->consumed_seq, "%s #%" PRIu64 ": the handle says %" PRIu64
                 ", the disk %" PRIu64, fc->name, nth, seq, disk->consumed_seq);
    tsagg__manifest_free(disk);

    /* A clean run on the same handle finishes the job. */
    rc = run(st, e->what, e->budget, &s);
    tsagg_store_errmsg(st, err, sizeof err);
    cr_assert_eq(rc, 0, "%s #%" PRIu64 ": the clean run after it: %s (%s)", fc->name, nth,
                 tsagg_strerror(rc), err);
    tsagg__manifest *m = cc_manifest(st);
    cc_assert_clean_parts(e->work, m, fc->name);
    cr_assert(same_manifest(m, e->new_),
              "%s #%" PRIu64 ": the clean run left another manifest than a clean run does "
              "(version %" PRIu64 " vs %" PRIu64 ")", fc->name, nth, m->version, e->new_->version);
    same_files(e, m, fc->name);
    tsagg__manifest_free(m);
    if (nth % 8 == 1)
        cc_check_store(st, e->what == OP_MERGE, nth % 32 == 1, fc->name);
    cr_assert_eq(tsagg_store_close(st), 0);
    cr_assert_eq(faultio_open_fds(&fio), 0, "%s #%" PRIu64 ": %" PRId64 " descriptors leaked",
                 fc->name, nth, faultio_open_fds(&fio));
    return fired;
}

static void sweep(sweep_env *e, const fcase *fc)
{
    uint64_t fired = 0, nth;
    uint64_t step = fc->step ? fc->step : 1;
    for (nth = fc->start ? fc->start : 1; nth < 5000; nth += step) {
        if (!sweep_one(e, fc, nth))
            break;
        fired++;
    }
    cr_assert_gt(fired, 0, "%s never fired", fc->name);
    cr_log_info("%s %s: %" PRIu64 " faulty runs", e->what == OP_COMPACT ? "compact" : "merge",
                fc->name, fired);
}

#define DENSE 30000

Test(compact_faults, compact_write_faults)
{
    sweep_env e;
    env_init(&e, OP_COMPACT, DENSE, 1 << 20);
    sweep(&e, &(fcase){"pwrite ENOSPC", FIO_PWRITE, -ENOSPC, 0, NULL, 0, 1, 1});
    sweep(&e, &(fcase){"fsync EIO", FIO_FSYNC, -EIO, 0, NULL, 0, 1, 1});
    sweep(&e, &(fcase){"rename EIO", FIO_RENAME, -EIO, 0, NULL, 0, 1, 1});
    env_fini(&e);
}

Test(compact_faults, compact_open_faults)
{
    sweep_env e;
    env_init(&e, OP_COMPACT, DENSE, 1 << 20);
    sweep(&e, &(fcase){"open EMFILE", FIO_OPEN, -EMFILE, 0, NULL, 0, 1, 1});
    env_fini(&e);
}

/* Reads are many (runs are read once per merge pass): odd N in one test,
 * even N in the other, so that the two run side by side. */
Test(compact_faults, compact_read_faults_odd)
{
    sweep_env e;
    env_init(&e, OP_COMPACT, DENSE, 1 << 20);
    sweep(&e, &(fcase){"pread EIO (odd)", FIO_PREAD, -EIO, 0, NULL, 0, 2, 1});
    env_fini(&e);
}

Test(compact_faults, compact_read_faults_even)
{
    sweep_env e;
    env_init(&e, OP_COMPACT, DENSE, 1 << 20);
    sweep(&e, &(fcase){"pread EIO (even)", FIO_PREAD, -EIO, 0, NULL, 0, 2, 2});
    env_fini(&e);
}

Test(compact_faults, compact_other_faults)
{
    sweep_env e;
    env_init(&e, OP_COMPACT, DENSE, 1 << 20);
    sweep(&e, &(fcase){"unlink EIO", FIO_UNLINK, -EIO, 1, NULL, 0, 1, 1});
    sweep(&e, &(fcase){"fsize EIO", FIO_FSIZE, -EIO, 0, NULL, 0, 1, 1});
    sweep(&e, &(fcase){"close EIO", FIO_CLOSE, -EIO, 1, NULL, 0, 1, 1});
    sweep(&e, &(fcase){"list EIO", FIO_LIST, -EIO, 0, NULL, 0, 1, 1});
    sweep(&e, &(fcase){"mkdir EACCES", FIO_MKDIR, -EACCES, 0, NULL, 0, 1, 1});
    env_fini(&e);
}

Test(compact_faults, merge_faults)
{
    sweep_env e;
    env_init(&e, OP_MERGE, 0, 1 << 20);
    sweep(&e, &(fcase){"pwrite ENOSPC", FIO_PWRITE, -ENOSPC, 0, NULL, 0, 1, 1});
    sweep(&e, &(fcase){"fsync EIO", FIO_FSYNC, -EIO, 0, NULL, 0, 1, 1});
    sweep(&e, &(fcase){"rename EIO", FIO_RENAME, -EIO, 0, NULL, 0, 1, 1});
    sweep(&e, &(fcase){"open EMFILE", FIO_OPEN, -EMFILE, 0, NULL, 0, 1, 1});
    sweep(&e, &(fcase){"pread EIO", FIO_PREAD, -EIO, 0, NULL, 0, 1, 1});
    sweep(&e, &(fcase){"unlink EIO", FIO_UNLINK, -EIO, 1, NULL, 0, 1, 1});
    env_fini(&e);
}

/*
 * The manifest was renamed into place but the directory fsync failed: the
 * publish reports an error, yet the new manifest is what the disk holds.
 * The next compaction on that handle must not take its files for
 * leftovers: here it fails after its sweep (the log cannot be opened), and
 * every file the disk's manifest lists must still be there.
 */
Test(compact_faults, failed_publish_that_landed)
{
    char dir[4096];
    tu_tmpdir(dir, sizeof dir);
    build_baseline(dir, 0);
    tsagg__manifest *old = disk_manifest(dir);
    /* How many fsyncs a clean compaction makes: the last one is the
     * directory fsync after the manifest's rename. */
    char probe[4300];
    snprintf(probe, sizeof probe, "%s.probe", dir);
    tu_copy_tree(dir, probe);
    static faultio fio;
    faultio_init(&fio, NULL);
    tsagg_store *st = cc_open(probe, TSAGG_OPEN_WRITE, faultio_table(&fio));
    uint64_t f0 = faultio_calls(&fio, FIO_FSYNC);
    cc_compact(st, 0);
    uint64_t nfsync = faultio_calls(&fio, FIO_FSYNC) - f0;
    cr_assert_eq(tsagg_store_close(st), 0);
    tu_rmtree(probe);

    faultio_init(&fio, NULL);
    st = cc_open(dir, TSAGG_OPEN_WRITE, faultio_table(&fio));
    faultio_fail(&fio, FIO_FSYNC, nfsync, -EIO);
    cr_assert_eq(tsagg_compact(st, NULL, NULL), -EIO);
    faultio_disarm_all(&fio);
    tsagg__manifest *disk = disk_manifest(dir);
    cr_assert_eq(disk->version, old->version + 1, "the rename happened");
    uint64_t seq;
    cr_assert_eq(tsagg_compacted_seq(st, &seq), 0);
    cr_assert_eq(seq, disk->consumed_seq, "the handle must report what is on disk");
    /* More events, and a compaction that fails once it swept. */
    tsagg_event ev = {.ts = disk->parts[0].start + 1, .merchant = 9, .event = "x", .event_len = 1};
    cr_assert_eq(tsagg_append(st, &ev, 1, NULL), 0);
    cr_assert_eq(tsagg_flush(st), 0);
    faultio_arm_filtered(&fio, FIO_OPEN, FIO_FAIL, 1, 0, -EMFILE, 0, ".tlog", 0);
    cr_assert_eq(tsagg_compact(st, NULL, NULL), -EMFILE);
    faultio_disarm_all(&fio);
    for (size_t i = 0; i < disk->nparts; i++) {
        char path[4400];
        cc_path(st, &disk->parts[i], path, sizeof path);
        cr_assert(cc_exists(path), "%s, listed by the manifest on disk, was removed", path);
    }
    cc_compact(st, 0);
    tsagg__manifest *m = cc_manifest(st);
    cc_assert_clean_parts(dir, m, "after the landed publish");
    cr_assert_eq(m->version, disk->version + 1);
    tsagg__manifest_free(m);
    cc_check_store(st, 0, 0, "after the landed publish");
    cr_assert_eq(tsagg_store_close(st), 0);
    tsagg__manifest_free(disk);
    tsagg__manifest_free(old);
    tu_rmtree(dir);
}

/* ---- damaged files ------------------------------------------------------------------ */

static int damage_code(int rc)
{
    return rc == TSAGG_ECHECKSUM || rc == TSAGG_ECORRUPT;
}

/* Read everything of a partition file; 0 or the first error, with the
 * message in err. */
static int read_fully(const char *path, char *err, size_t errlen)
{
    tsagg__part *p;
    err[0] = 0;
    int rc = tsagg__part_open(tsagg_io_default(), path, &p, err, errlen);
    if (rc != 0)
        return rc;
    static uint8_t buf[TSAGG__PART_GROUP_ROWS * 8];
    const tsagg_schema *fs = tsagg__part_schema(p);
    uint32_t ncols = 7 + (uint32_t)tsagg_schema_dimension_count(fs) +
                     (uint32_t)tsagg_schema_measure_count(fs);
    for (uint32_t g = 0; rc == 0 && g < tsagg__part_groups(p); g++)
        for (uint32_t col = 0; rc == 0 && col < ncols; col++)
            rc = tsagg__part_read_column(p, col, g, buf);
    uint32_t ndict = 1 + (uint32_t)tsagg_schema_dimension_count(fs);
    for (uint32_t k = 0; rc == 0 && k < ndict; k++) {
        uint32_t col = k == 0 ? TSAGG__COL_EVENT : TSAGG__COL_DIM0 + k - 1;
        for (uint32_t code = 0; rc == 0 && code < tsagg__part_dict_size(p, col); code++) {
            const char *s;
            size_t len;
            rc = tsagg__part_dict_get(p, col, code, &s, &len);
        }
    }
    /* The merchant index, every hour segment and rollup. */
    static tsagg__hour_segment segs[TSAGG__PART_MAX_HOURS];
    for (uint64_t mi = 0; rc == 0 && mi < tsagg__part_merchants(p); mi++) {
        tsagg__merchant_entry e;
        rc = tsagg__part_merchant_at(p, mi, &e);
        if (rc == 0 && e.nsegments > TSAGG__PART_MAX_HOURS)
            rc = TSAGG_ECORRUPT;
        if (rc == 0 && e.nsegments)
            rc = tsagg__part_segments(p, &e, segs);
        for (uint32_t k = 0; rc == 0 && k < e.nsegments; k++) {
            tsagg__rollup r;
            if (segs[k].rollup_len && (rc = tsagg__part_rollup(p, &e, &segs[k], &r)) == 0)
                tsagg__rollup_free(&r);
        }
    }
    if (rc != 0)
        tsagg__part_errmsg(p, err, errlen);
    tsagg__part_close(p);
    return rc;
}

Test(compact_faults, flipped_bytes_in_a_partition)
{
    char dir[4096];
    tu_tmpdir(dir, sizeof dir);
    build_baseline(dir, 0);
    tsagg_store *st = cc_open_writer(dir);
    cc_compact(st, 0);
    tsagg__manifest *m = cc_manifest(st);
    /* The largest file of an hour that has two. */
    size_t pick = SIZE_MAX;
    for (size_t i = 0; i < m->nparts; i++)
        if (cc_files_of_hour(m, m->parts[i].start) > 1 &&
            (pick == SIZE_MAX || m->parts[i].bytes > m->parts[pick].bytes))
            pick = i;
    cr_assert_neq(pick, SIZE_MAX);
    char path[4400];
    cc_path(st, &m->parts[pick], path, sizeof path);
    const char *base = strrchr(path, '/') + 1;
    size_t len;
    uint8_t *orig = slurp(path, &len);
    char err[512];
    cr_assert_eq(read_fully(path, err, sizeof err), 0, "%s", err);
    uint8_t *bad = malloc(len);
    cr_assert_not_null(bad);
    unsigned tried = 0, at_open = 0;
    size_t step = len / 1500 + 1;
    for (size_t off = 0; off < len; off += off < 64 || off + 48 >= len ? 1 : step) {
        memcpy(bad, orig, len);
        bad[off] ^= (uint8_t)(1u << (off % 8));
        spit(path, bad, len);
        tsagg__part *p;
        char oerr[512] = "";
        int orc = tsagg__part_open(tsagg_io_default(), path, &p, oerr, sizeof oerr);
        if (orc == 0)
            tsagg__part_close(p);
        else
            at_open++;
        int rc = read_fully(path, err, sizeof err);
        cr_assert(damage_code(rc), "%s: a flipped bit at offset %zu (of %zu) went unnoticed: %s",
                  base, off, len, tsagg_strerror(rc));
        cr_assert(strstr(err, base), "offset %zu: the error does not name the file: %s", off, err);
        tried++;
    }
    spit(path, orig, len);
    cr_log_info("%u flipped bytes in a %zu-byte partition caught (%u at open)", tried, len,
                at_open);

    /* A merge reading the damaged file fails naming it, and publishes nothing. */
    size_t off = len / 2;
    memcpy(bad, orig, len);
    bad[off] ^= 0x40;
    spit(path, bad, len);
    tsagg__manifest *before = disk_manifest(dir);
    tsagg_compact_stats s = {.struct_size = sizeof s};
    int rc = tsagg_merge(st, NULL, &s);
    tsagg_store_errmsg(st, err, sizeof err);
    cr_assert(damage_code(rc), "merge over a damaged file: %s", tsagg_strerror(rc));
    cr_assert(strstr(err, base), "errmsg: %s", err);
    tsagg__manifest *after = disk_manifest(dir);
    cr_assert(same_manifest(before, after));
    /* Repaired, the merge goes through. */
    spit(path, orig, len);
    cc_merge(st);
    cc_check_store(st, 1, 0, "after the repair");
    tsagg__manifest_free(before);
    tsagg__manifest_free(after);
    tsagg__manifest_free(m);
    free(orig);
    free(bad);
    cr_assert_eq(tsagg_store_close(st), 0);
    tu_rmtree(dir);
}

Test(compact_faults, flipped_bytes_in_the_manifest)
{
    char dir[4096], mpath[4200];
    tu_tmpdir(dir, sizeof dir);
    build_baseline(dir, 0);
    snprintf(mpath, sizeof mpath, "%s/MANIFEST", dir);
    size_t len;
    uint8_t *orig = slurp(mpath, &len);
    cr_assert_gt(len, 48 + 48 + 8);
    size_t offs[] = {8, 12, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, len / 2, len - 9, len - 8,
                     len - 1};
    tsagg__manifest *good = disk_manifest(dir);
    for (size_t k = 0; k < sizeof offs / sizeof offs[0]; k++) {
        uint8_t *bad = malloc(len);
        memcpy(bad, orig, len);
        bad[offs[k]] ^= 0x10;
        spit(mpath, bad, len);
        free(bad);
        tsagg_store *ro = cc_open(dir, 0, NULL);
        uint64_t seq;
        int rc = tsagg_compacted_seq(ro, &seq);
        char err[512];
        tsagg_store_errmsg(ro, err, sizeof err);
        cr_assert_eq(rc, TSAGG_ECHECKSUM, "offset %zu: %s", offs[k], tsagg_strerror(rc));
        cr_assert(strstr(err, "MANIFEST"), "errmsg: %s", err);
        tsagg__snapshot *snap;
        cr_assert_eq(tsagg__snapshot_acquire(ro, &snap), TSAGG_ECHECKSUM);
        cr_assert_eq(tsagg_store_close(ro), 0);
        tsagg_store *w = cc_open_writer(dir);
        rc = tsagg_compact(w, NULL, NULL);
        tsagg_store_errmsg(w, err, sizeof err);
        cr_assert_eq(rc, TSAGG_ECHECKSUM, "compact, offset %zu: %s", offs[k], tsagg_strerror(rc));
        cr_assert(strstr(err, "MANIFEST"), "errmsg: %s", err);
        cr_assert_eq(tsagg_merge(w, NULL, NULL), TSAGG_ECHECKSUM);
        cr_assert_eq(tsagg_store_close(w), 0);
        /* Nothing was swept away. */
        tsagg_store *tmp = cc_open(dir, 0, NULL);
        for (size_t i = 0; i < good->nparts; i++) {
            char path[4400];
            cc_path(tmp, &good->parts[i], path, sizeof path);
            cr_assert(cc_exists(path), "%s was removed", path);
        }
        cr_assert_eq(tsagg_store_close(tmp), 0);
    }
    /* A bad magic or a short file: corrupt. */
    uint8_t *bad = malloc(len);
    memcpy(bad, orig, len);
    bad[0] ^= 1;
    spit(mpath, bad, len);
    tsagg_store *ro = cc_open(dir, 0, NULL);
    uint64_t seq;
    cr_assert_eq(tsagg_compacted_seq(ro, &seq), TSAGG_ECORRUPT);
    cr_assert_eq(tsagg_store_close(ro), 0);
    spit(mpath, orig, 20);
    ro = cc_open(dir, 0, NULL);
    cr_assert_eq(tsagg_compacted_seq(ro, &seq), TSAGG_ECORRUPT);
    cr_assert_eq(tsagg_store_close(ro), 0);
    /* A newer format version (checksum fixed up): a version error. (3 is
     * the version that records where the log starts.) */
    memcpy(bad, orig, len);
    bad[8] = 4;
    uint64_t h = XXH64(bad, len - 8, 0);
    for (int i = 0; i < 8; i++)
        bad[len - 8 + (size_t)i] = (uint8_t)(h >> (8 * i));
    spit(mpath, bad, len);
    ro = cc_open(dir, 0, NULL);
    cr_assert_eq(tsagg_compacted_seq(ro, &seq), TSAGG_EVERSION);
    cr_assert_eq(tsagg_store_close(ro), 0);
    free(bad);
    /* Restored: all is well. */
    spit(mpath, orig, len);
    tsagg_store *w = cc_open_writer(dir);
    cc_compact(w, 0);
    cc_check_store(w, 0, 0, "restored manifest");
    cr_assert_eq(tsagg_store_close(w), 0);
    tsagg__manifest_free(good);
    free(orig);
    tu_rmtree(dir);
}
