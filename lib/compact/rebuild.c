/*
 * rebuild.c - tsagg_rebuild: the spans of a time range compacted again from
 * the whole log, as a new generation of files replacing theirs in one
 * manifest; and the regeneration of a store whose partitions are of an
 * older format.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "abi_internal.h"
#include "compact_internal.h"

void tsagg_rebuild_options_init(tsagg_rebuild_options *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->memory_budget = 256ull << 20;
}

static int64_t span_end(const tsagg__part_ref *r)
{
    return r->start + (int64_t)r->hours * TSAGG__HOUR_US;
}

/*
 * Widen [*lo, *hi) to whole files: the spans the tier rule gives its ends
 * (a file of such a span must hold all of its events) and the span of
 * every file it touches, until nothing more is touched.
 */
static void widen(const tsagg__manifest *cur, int64_t *lo, int64_t *hi)
{
    for (;;) {
        int64_t nlo = *lo, nhi = *hi, s;
        uint32_t h;
        tsagg__span_place(*lo, cur->newest_ts, &s, &h);
        nlo = s < nlo ? s : nlo;
        tsagg__span_place(*hi - 1, cur->newest_ts, &s, &h);
        nhi = s + (int64_t)h * TSAGG__HOUR_US > nhi ? s + (int64_t)h * TSAGG__HOUR_US : nhi;
        for (size_t i = 0; i < cur->nparts; i++) {
            const tsagg__part_ref *p = &cur->parts[i];
            if (p->start >= *hi || span_end(p) <= *lo)
                continue;
            nlo = p->start < nlo ? p->start : nlo;
            nhi = span_end(p) > nhi ? span_end(p) : nhi;
        }
        if (nlo == *lo && nhi == *hi)
            return;
        *lo = nlo;
        *hi = nhi;
    }
}

/* Replace every file of [lo, hi) in `next` (as in `cur`) by the files the
 * rebuild wrote; counts what was replaced. */
static void drop_replaced(const tsagg__manifest *cur, tsagg__manifest *next, int64_t lo,
                          int64_t hi, tsagg_rebuild_stats *rs)
{
    for (size_t i = 0; i < cur->nparts; i++) {
        const tsagg__part_ref *p = &cur->parts[i];
        if (p->start >= hi || span_end(p) <= lo)
            continue;
        tsagg__manifest_remove(next, p->file_id);
        rs->files_replaced++;
        rs->rows_replaced += p->rows;
        rs->bytes_replaced += p->bytes;
    }
}

static int span_cmp(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Hours covered by the files of [lo, hi) in `cur` (replaced) and those of
 * `next` that `cur` lacks (written). */
static int count_hours(const tsagg__manifest *cur, const tsagg__manifest *next, int64_t lo,
                       int64_t hi, uint64_t *hours)
{
    int64_t(*iv)[2] = malloc((cur->nparts + next->nparts + 1) * sizeof *iv);
    if (!iv)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < cur->nparts; i++) {
        const tsagg__part_ref *p = &cur->parts[i];
        if (p->start < hi && span_end(p) > lo)
            iv[n][0] = p->start, iv[n++][1] = span_end(p);
    }
    for (size_t i = 0; i < next->nparts; i++) {
        const tsagg__part_ref *p = &next->parts[i];
        if (!tsagg__manifest_has(cur, p->file_id))
            iv[n][0] = p->start, iv[n++][1] = span_end(p);
    }
    qsort(iv, n, sizeof *iv, span_cmp);
    int64_t covered = 0, end = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        int64_t from = iv[i][0] > end ? iv[i][0] : end;
        if (iv[i][1] > from)
            covered += iv[i][1] - from;
        end = iv[i][1] > end ? iv[i][1] : end;
    }
    free(iv);
    *hours = (uint64_t)(covered / TSAGG__HOUR_US);
    return 0;
}

/* Copy the compaction's counters into the rebuild's figures. */
static void take_counts(tsagg_rebuild_stats *rs, const tsagg_compact_stats *cs)
{
    rs->events_read = cs->events_read;
    rs->events_dropped = cs->events_dropped;
    rs->events_unplaced = cs->events_unplaced;
    rs->duplicates = cs->duplicates;
    rs->files_written = cs->files_written;
    rs->rows_written = cs->rows_written;
    rs->bytes_written = cs->bytes_written;
}

/* A range retention removed log events of cannot be regenerated: the
 * files would lose them. */
static int refuse_removed(tsagg_store *st, const tsagg__manifest *m, int64_t from)
{
    char a[32], b[32];
    struct tm tm;
    time_t t = (time_t)(from / 1000000 - (from % 1000000 < 0));
    gmtime_r(&t, &tm);
    strftime(a, sizeof a, "%Y-%m-%dT%H:%M:%SZ", &tm);
    t = (time_t)(m->log_removed_max_ts / 1000000 - (m->log_removed_max_ts % 1000000 < 0));
    gmtime_r(&t, &tm);
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return tsagg__fail(st, TSAGG_EARG,
                       "cannot rebuild from %s: retention removed the log's segments before "
                       "segment %" PRIu64 " (sequence %" PRIu64 "), which held events up to "
                       "%s; only the hours after that can be rebuilt from the log",
                       a, m->log_start_segment, m->log_start_seq, b);
}

static int rebuild_locked(tsagg_store *st, const tsagg_rebuild_options *ro,
                          const tsagg_compact_options *o, tsagg_rebuild_stats *rs)
{
    tsagg__snapshot *snap;
    tsagg__manifest *next;
    int rc = tsagg__edit_begin(st, &snap, &next);
    if (rc != 0)
        return rc;
    const tsagg__manifest *cur = tsagg__snapshot_manifest(snap);

    tsagg_compact_stats cs = {0};
    compactor c = {.ro = ro, .rs = rs, .fixed_newest = 1};
    rc = tsagg__compactor_init(&c, st, o, &cs, cur->newest_ts);
    c.ts_lo = hour_of(ro->from);
    c.ts_hi = hour_of(ro->to - 1) + TSAGG__HOUR_US;
    widen(cur, &c.ts_lo, &c.ts_hi);
    if (rc == 0 && cur->log_removed_max_ts != INT64_MIN && c.ts_lo <= cur->log_removed_max_ts)
        rc = refuse_removed(st, cur, c.ts_lo);
    uint64_t last = 0;
    rs->consumed_seq = cur->consumed_seq;
    if (rc == 0 && cur->consumed_seq > 0)
        rc = tsagg__compactor_read_log(&c, 1, cur->consumed_seq, &last);
    /* One generation past any the range had. */
    uint32_t gen = 1;
    for (size_t i = 0; i < cur->nparts; i++)
        if (cur->parts[i].start < c.ts_hi && span_end(&cur->parts[i]) > c.ts_lo &&
            cur->parts[i].generation >= gen)
            gen = cur->parts[i].generation + 1;
    rs->generation = gen;
    if (rc == 0) {
        drop_replaced(cur, next, c.ts_lo, c.ts_hi, rs);
        rc = tsagg__compactor_write_spans(&c, next, gen, 1);
    }
    if (rc == 0)
        rc = count_hours(cur, next, c.ts_lo, c.ts_hi, &rs->hours);
    char dir[TSAGG_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/parts", st->path);
    if (rc == 0 && cs.files_written)
        rc = tsagg__parts_dir_sync(st, dir);
    if (rc == 0 && (cs.files_written || rs->files_replaced))
        rc = tsagg__catalog_publish(st, next);
    take_counts(rs, &cs);
    tsagg__compactor_free(&c);
    tsagg__snapshot_release(st, snap);
    tsagg__manifest_free(next);
    return rc;
}

/* ---- stores of an older format --------------------------------------------- */

/* Whether a name in parts/ is a file of the older format
 * (<YYYYMMDD>T<HH>-<file id, 16 hex>.tpart), or a temporary file or sorted
 * run a crashed run of it left. */
static int outdated_name(const char *name)
{
    size_t len = strlen(name);
    if ((len > 4 && strcmp(name + len - 4, ".tmp") == 0) || strncmp(name, "run-", 4) == 0)
        return 1;
    if (len != 11 + 1 + 16 + 6 || name[8] != 'T' || name[11] != '-' ||
        strcmp(name + len - 6, ".tpart") != 0)
        return 0;
    for (size_t i = 0; i < 28; i++) {
        char ch = name[i];
        int ok = i == 8 || i == 11 || (ch >= '0' && ch <= '9') ||
                 (i > 11 && ch >= 'a' && ch <= 'f');
        if (!ok)
            return 0;
    }
    return 1;
}

static int remove_outdated(void *arg, const char *name)
{
    tsagg_store *st = arg;
    uint64_t id;
    /* Files of the current format are unlisted too: a regeneration that
     * failed wrote them. */
    if (!outdated_name(name) && tsagg__part_name_parse(name, &id) != 0)
        return 0;
    char path[TSAGG_PATH_MAX + 300];
    snprintf(path, sizeof path, "%s/parts/%s", st->path, name);
    int rc = st->io->unlink(st->io->ctx, path);
    return rc == -ENOENT ? 0 : rc;
}

/* The log must still hold every event up to `consumed` to regenerate
 * from: sequence 1 on. */
static int check_log_whole(tsagg_store *st, uint64_t consumed)
{
    if (consumed == 0)
        return 0;
    tsagg_segment_info first = {.struct_size = sizeof first};
    int n = tsagg_log_segments(st, &first, 1);
    if (n < 0)
        return n;
    if (n == 0 || first.first_seq > 1)
        return tsagg__fail(st, TSAGG_EVERSION,
                           "%s: the partitions are of an older format and are regenerated "
                           "from the raw log, but the log no longer holds events 1 to %" PRIu64
                           " (%s%" PRIu64 "): they cannot be regenerated",
                           st->path, consumed,
                           n == 0 ? "it has no segment, " : "its first segment starts at "
                                                            "sequence ",
                           n == 0 ? (uint64_t)0 : first.first_seq);
    return 0;
}

/*
 * Regenerate a store whose manifest (base: its header) lists hourly files
 * of an older format: they are removed first (nothing can read them, and a
 * crash here leaves the old manifest, so the next run starts over), then
 * every event up to its consumed position is compacted again by the tier
 * rule, and a manifest of the current format replaces the old one.
 */
static int regenerate_locked(tsagg_store *st, tsagg__manifest *base, uint64_t old_files,
                             const tsagg_rebuild_options *ro, const tsagg_compact_options *o,
                             tsagg_rebuild_stats *rs)
{
    rs->regenerated = 1;
    rs->consumed_seq = base->consumed_seq;
    rs->files_replaced = old_files;
    rs->generation = 1;
    int rc = check_log_whole(st, base->consumed_seq);
    char dir[TSAGG_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/parts", st->path);
    if (rc == 0) {
        rc = st->io->list(st->io->ctx, dir, remove_outdated, st);
        if (rc == -ENOENT)
            rc = st->io->mkdir(st->io->ctx, dir, 0755);
        if (rc != 0)
            rc = tsagg__fail(st, rc, "%s: %s", dir, tsagg_strerror(rc));
    }
    tsagg_compact_stats cs = {0};
    compactor c = {.ro = ro, .rs = rs, .ts_lo = TS_MIN, .ts_hi = TS_END};
    if (rc == 0)
        rc = tsagg__compactor_init(&c, st, o, &cs, TSAGG__NEWEST_NONE);
    uint64_t last = 0;
    if (rc == 0 && base->consumed_seq > 0)
        rc = tsagg__compactor_read_log(&c, 1, base->consumed_seq, &last);
    if (rc == 0)
        rc = tsagg__compactor_write_spans(&c, base, 1, 1);
    if (rc == 0)
        rc = tsagg__parts_dir_sync(st, dir);
    if (rc == 0) {
        base->newest_ts = c.newest;
        rc = tsagg__catalog_replace_outdated(st, base);
    }
    tsagg__manifest empty = {0};
    if (rc == 0)
        rc = count_hours(&empty, base, TS_MIN, TS_END, &rs->hours);
    take_counts(rs, &cs);
    if (c.st)
        tsagg__compactor_free(&c);
    return rc;
}

static int rebuild_checked(tsagg_store *st, const tsagg_rebuild_options *opts,
                           tsagg_rebuild_stats *stats);

int tsagg_rebuild(tsagg_store *st, const tsagg_rebuild_options *opts, tsagg_rebuild_stats *stats)
{
    size_t out = stats ? tsagg__out_size(stats->struct_size, TSAGG__REBUILD_STATS_SIZE_1,
                                         sizeof *stats)
                       : 0;
    if (!st || !opts)
        return TSAGG_EARG;
    if (stats && !out)
        return tsagg__fail(st, TSAGG_EARG, "tsagg_rebuild_stats.struct_size %u out of range",
                           (unsigned)stats->struct_size);
    tsagg_rebuild_stats full = {.struct_size = sizeof full};
    int rc = rebuild_checked(st, opts, &full);
    if (stats)
        TSAGG__OUT_COPY(stats, &full, out);
    return rc;
}

static int rebuild_checked(tsagg_store *st, const tsagg_rebuild_options *opts,
                           tsagg_rebuild_stats *stats)
{
    if (!st->writer)
        return tsagg__fail(st, TSAGG_EREADONLY, "a rebuild needs a writable store");
    if (!TSAGG__SIZE_OK(opts->struct_size, TSAGG__REBUILD_OPTIONS_SIZE_1, *opts))
        return tsagg__fail(st, TSAGG_EARG, "tsagg_rebuild_options.struct_size %u: not set by "
                           "tsagg_rebuild_options_init", (unsigned)opts->struct_size);
    if (opts->flags || opts->reserved)
        return tsagg__fail(st, TSAGG_EARG, "tsagg_rebuild_options: flags and reserved must be 0");
    if (opts->memory_budget < (1u << 20) ||
        opts->threads > TSAGG_COMPACT_THREADS_MAX || opts->from >= opts->to ||
        opts->from < TS_MIN || opts->to > TS_END)
        return tsagg__fail(st, TSAGG_EARG,
                           "rebuild options out of range (from < to, years 0000-9999, "
                           "budget >= 1 MiB)");
    tsagg_compact_options co;
    tsagg_compact_options_init(&co);
    co.memory_budget = opts->memory_budget;
    co.threads = opts->threads;
    co.process = opts->process;
    co.process_ctx = opts->process_ctx;
    pthread_mutex_lock(&st->compact_mu);
    tsagg__manifest *base = NULL;
    uint64_t old_files = 0;
    int rc = tsagg__manifest_load_outdated(st, &base, &old_files);
    if (rc == 1)
        rc = regenerate_locked(st, base, old_files, opts, &co, stats);
    else if (rc == 0)
        rc = rebuild_locked(st, opts, &co, stats);
    tsagg__manifest_free(base);
    if (rc != 0)
        rc = tsagg__remove_leftovers(st, rc);
    pthread_mutex_unlock(&st->compact_mu);
    return rc;
}
