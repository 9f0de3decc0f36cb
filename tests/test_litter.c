/*
 * test_litter.c - a maintenance run that fails leaves nothing behind.
 *
 * For each of compaction, merge, rebuild and archive: the Nth write of the
 * run is cut short by ENOSPC (faultio's torn write, as a disk that fills
 * mid-file), for N = 1, 2, 3, 5, 8, ... until a run no longer meets the
 * fault. Invariant after every failed run: it returned the error, and the
 * store holds exactly the files it held before, each of the same size (no
 * partial partition, sorted run, manifest or archive left to fill the disk
 * further). A merge publishes each span's merge on its own, so a failed one
 * may leave the merges before the fault published: then parts/ must hold
 * exactly the files the new manifest lists, and nothing else. The run that finally meets no fault succeeds and changes the
 * store, as the next run does once space is back. Optionally the same on a
 * real 1 MiB tmpfs (skipped where mounting is not allowed).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "faultio.h"
#include "manifest.h"
#include "testutil.h"
#include "tsagg.h"

TestSuite(litter, .init = tu_store_setup, .fini = tu_store_teardown, .timeout = 300);

#define HOUR INT64_C(3600000000)
#define T0 INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */

/* ---- what is on disk ------------------------------------------------------- */

typedef struct listing {
    char *text; /* "path size\n" per regular file, sorted */
    size_t len, cap;
    uint64_t bytes;
} listing;

static void add_line(listing *l, const char *line)
{
    size_t n = strlen(line);
    if (l->len + n + 1 > l->cap) {
        l->cap = (l->len + n + 1) * 2;
        l->text = realloc(l->text, l->cap);
        cr_assert_not_null(l->text);
    }
    memcpy(l->text + l->len, line, n + 1);
    l->len += n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk(const char *root, const char *rel, listing *l)
{
    char dir[2048];
    snprintf(dir, sizeof dir, "%s%s%s", root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s: %s", dir, strerror(errno));
    char *names[4096];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            cr_assert_lt(n, 4096);
            names[n++] = strdup(de->d_name);
        }
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        char sub[2048], path[4096], line[4200];
        snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", names[i]);
        snprintf(path, sizeof path, "%s/%s", root, sub);
        struct stat sb;
        cr_assert_eq(stat(path, &sb), 0, "%s", path);
        if (S_ISDIR(sb.st_mode)) {
            walk(root, sub, l);
        } else {
            snprintf(line, sizeof line, "%s %lld\n", sub, (long long)sb.st_size);
            add_line(l, line);
            l->bytes += (uint64_t)sb.st_size;
        }
        free(names[i]);
    }
}

static listing list_store(const char *root)
{
    listing l = {0};
    add_line(&l, "");
    walk(root, "", &l);
    return l;
}

/* ---- the store --------------------------------------------------------------- */

static tsagg_store *open_with(const char *path, faultio *fio)
{
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.io = faultio_table(fio);
    o.io_backend = TSAGG_IO_PWRITE;
    o.segment_bytes = 64u << 10;
    tsagg_store *st;
    char err[512];
    cr_assert_eq(tsagg_store_open(path, &o, &st, err, sizeof err), 0, "%s", err);
    return st;
}

/* n events over `hours` hours from `from`, with attributes that take room. */
static void append_events(tsagg_store *st, int64_t from, int hours, size_t n, uint64_t seed)
{
    static tsagg_event evs[512];
    static tsagg_attr attrs[512][2];
    static char pages[512][24];
    size_t done = 0;
    while (done < n) {
        size_t k = n - done < 512 ? n - done : 512;
        for (size_t i = 0; i < k; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            uint64_t r = seed >> 16;
            snprintf(pages[i], sizeof pages[i], "/p/%" PRIu64, r % 5000);
            attrs[i][0] = (tsagg_attr){.key = "page", .key_len = 4, .type = TSAGG_STR,
                                       .v.s = {pages[i], (uint32_t)strlen(pages[i])}};
            attrs[i][1] = (tsagg_attr){.key = "value", .key_len = 5, .type = TSAGG_F64,
                                       .v.f = (double)(r % 100000) / 100};
            evs[i] = (tsagg_event){.ts = from + (int64_t)(r % (uint64_t)(hours * HOUR)),
                                   .merchant = 1 + r % 7, .event = "page_view", .event_len = 9,
                                   .user = 1 + r % 900, .session = 1 + r % 3000,
                                   .attrs = attrs[i], .nattrs = 2};
        }
        cr_assert_eq(tsagg_append(st, evs, k, NULL), 0);
        done += k;
    }
    cr_assert_eq(tsagg_flush(st), 0);
}

enum job { COMPACT, MERGE, REBUILD, ARCHIVE };
static const char *const job_name[] = {"compaction", "merge", "rebuild", "archive"};

static int run_job(tsagg_store *st, enum job job)
{
    tsagg_compact_options co;
    tsagg_compact_options_init(&co);
    co.memory_budget = 1u << 20; /* spills sorted runs: those must go too */
    switch (job) {
    case COMPACT:
        return tsagg_compact(st, &co, NULL);
    case MERGE:
        return tsagg_merge(st, &co, NULL);
    case REBUILD: {
        tsagg_rebuild_options ro;
        tsagg_rebuild_options_init(&ro);
        ro.from = T0;
        ro.to = T0 + 48 * HOUR;
        ro.memory_budget = 1u << 20;
        return tsagg_rebuild(st, &ro, NULL);
    }
    case ARCHIVE:
        return tsagg_log_archive(st, 1, NULL);
    }
    return TSAGG_EARG;
}

/* A store where `job` has work to do. */
static void prepare(tsagg_store *st, enum job job)
{
    append_events(st, T0, 24, 30000, 1);
    if (job == COMPACT)
        return;
    cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
    if (job == MERGE) {
        append_events(st, T0, 24, 5000, 2); /* late events: a second file per hour */
        cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
    }
    if (job == ARCHIVE) {
        cr_assert_eq(tsagg_log_archive(st, 1, NULL), 0); /* what the test does not cover */
        append_events(st, T0, 2, 300, 3);
        cr_assert_eq(tsagg_log_roll(st), 0); /* one live sealed segment to archive */
    }
}

/* parts/ holds exactly the files the manifest on disk lists (no temporary
 * file, run or unlisted partition), and no MANIFEST.tmp is left. */
static void only_listed(tsagg_store *st, const char *what)
{
    tsagg__manifest *m;
    cr_assert_eq(tsagg__manifest_load(st, &m), 0);
    char path[700];
    snprintf(path, sizeof path, "%s/MANIFEST.tmp", tu_store);
    struct stat sb;
    cr_assert_neq(stat(path, &sb), 0, "%s: MANIFEST.tmp is left", what);
    snprintf(path, sizeof path, "%s/parts", tu_store);
    DIR *d = opendir(path);
    cr_assert_not_null(d);
    size_t files = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        uint64_t id;
        cr_assert(tsagg__part_name_parse(de->d_name, &id) == 0 && tsagg__manifest_has(m, id),
                  "%s: %s is left in parts/", what, de->d_name);
        files++;
    }
    closedir(d);
    cr_assert_eq(files, m->nparts, "%s: %zu files for %zu listed", what, files, m->nparts);
    tsagg__manifest_free(m);
}

static void litter_sweep(enum job job)
{
    faultio fio;
    faultio_init(&fio, NULL);
    tsagg_store *st = open_with(tu_store, &fio);
    prepare(st, job);
    listing before = list_store(tu_store);
    int failures = 0, done = 0;
    for (uint64_t nth = 1; !done; nth = nth < 3 ? nth + 1 : nth + nth / 2) {
        uint64_t fired0 = faultio_fired(&fio, FIO_PWRITE);
        faultio_torn(&fio, nth, 100, -ENOSPC);
        int rc = run_job(st, job);
        uint64_t fired = faultio_fired(&fio, FIO_PWRITE) - fired0;
        faultio_disarm_all(&fio);
        if (fired == 0) {
            char err[512];
            tsagg_store_errmsg(st, err, sizeof err);
            cr_assert_eq(rc, 0, "%s without a fault: %s: %s", job_name[job], tsagg_errname(rc),
                         err);
            done = 1;
            break;
        }
        failures++;
        cr_assert_eq(rc, -ENOSPC, "%s, write %" PRIu64 " fails: returned %s", job_name[job], nth,
                     tsagg_errname(rc));
        listing after = list_store(tu_store);
        if (job == MERGE && strcmp(after.text, before.text) != 0) {
            /* Merges before the fault were published. */
            char what[64];
            snprintf(what, sizeof what, "merge, write %" PRIu64 " failed", nth);
            only_listed(st, what);
            cr_assert_lt(after.bytes, before.bytes, "%s: the store grew", what);
            free(before.text);
            before = after;
            continue;
        }
        cr_assert_str_eq(after.text, before.text,
                         "%s, write %" PRIu64 " failed: %" PRIu64 " bytes on disk before, %" PRIu64
                         " after", job_name[job], nth, before.bytes, after.bytes);
        free(after.text);
    }
    cr_assert_gt(failures, 2, "%s met too few faults to say anything", job_name[job]);
    listing end = list_store(tu_store);
    cr_assert(strcmp(end.text, before.text) != 0, "the successful %s changed nothing",
              job_name[job]);
    free(end.text);
    free(before.text);
    cr_assert_eq(tsagg_store_close(st), 0);
}

Test(litter, failed_compaction_leaves_nothing) { litter_sweep(COMPACT); }
Test(litter, failed_merge_leaves_nothing) { litter_sweep(MERGE); }
Test(litter, failed_rebuild_leaves_nothing) { litter_sweep(REBUILD); }
Test(litter, failed_archive_leaves_nothing) { litter_sweep(ARCHIVE); }
