/*
 * merge_spans.c - files merged into the span the tier rule gives them:
 * sealed days and months into one file each after every compaction (tier
 * merges), by tsagg_merge every span with several files, and by
 * maintenance the newest files of an hour still being written.
 *
 * Each merge writes its file (temporary name, fsync, rename, directory
 * fsync) and then publishes a manifest that drops its inputs and lists it:
 * a crash leaves the state before or after each merge (a written, unlisted
 * file is swept by the next run), and the next run, seeing the same
 * manifest, does what is left. Queries keep the snapshot they hold.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compact_internal.h"

/* Files [from, to) of m, all of the span [start, start + hours h), into a
 * new file; *ref describes it. More files than the budget lets one merge
 * read are merged in passes. */
static int merge_files(tsagg_store *st, const tsagg__manifest *m, size_t from, size_t to,
                       int64_t start, uint32_t hours, uint64_t id, uint64_t budget,
                       tsagg__part_ref *ref, tsagg_compact_stats *stats)
{
    size_t n = to - from;
    tsagg__file_set fs = {calloc(n, sizeof(char *)), calloc(n, 1), 0};
    int rc = fs.paths && fs.owned ? 0 : -ENOMEM;
    uint32_t gen = 1;
    for (size_t i = from; rc == 0 && i < to; i++) {
        char path[TSAGG_PATH_MAX + 64];
        tsagg__part_file_path(st, &m->parts[i], path, sizeof path);
        if (!(fs.paths[fs.n++] = strdup(path)))
            rc = -ENOMEM;
        if (m->parts[i].generation > gen)
            gen = m->parts[i].generation;
    }
    uint64_t next_run = 1, dups = 0;
    size_t fanin = tsagg__max_fanin(st, budget);
    if (rc == 0)
        rc = tsagg__reduce_files(st, start, hours, &fs, fanin, fanin, &next_run, &dups);
    tsagg__merge_src **srcs = rc == 0 ? calloc(fs.n, sizeof *srcs) : NULL;
    char detail[TSAGG_ERRMSG_MAX] = "";
    if (rc == 0 && !srcs)
        rc = -ENOMEM;
    if (rc == 0)
        rc = tsagg__open_sources(st, fs.paths, fs.n, srcs, detail, sizeof detail);
    *ref = (tsagg__part_ref){.start = start, .hours = hours, .file_id = id, .generation = gen,
                             .level = 1};
    char path[TSAGG_PATH_MAX + 64];
    tsagg__part_file_path(st, ref, path, sizeof path);
    tsagg__merge_stats ms = {0};
    tsagg__part_info info;
    if (rc == 0)
        rc = tsagg__write_merged(st, srcs, fs.n, path, start, hours, id, &info, &ms, detail,
                                 sizeof detail);
    free(srcs);
    tsagg__file_set_free(st, &fs, 1); /* the runs of the passes */
    if (rc != 0)
        return detail[0] ? tsagg__fail(st, rc, "%s", detail) : rc;
    ref->rows = info.rows;
    ref->bytes = info.bytes;
    stats->duplicates += ms.duplicates + dups;
    stats->rows_written += info.rows;
    stats->bytes_written += info.bytes;
    stats->files_removed += n;
    stats->spans_merged++;
    tsagg__count_file(stats, hours, 0);
    return 0;
}

/* Which files of one target span (start, hours), [i, j) of m, a merge
 * takes: [*from, j), or none (*from == j). */
typedef struct merge_rule {
    int mode;       /* TSAGG__MERGE_* */
    uint32_t fanin; /* TSAGG__MERGE_RECENT: files that make a merge */
    int64_t now_us;
} merge_rule;

/* The largest file a merge of an hour still being written makes (unless
 * its newest files alone are larger): a merge holds the compaction lock,
 * and one of a busy hour's millions of rows would hold compaction up for
 * seconds. Its files are merged whole an hour after it ended. */
#define RECENT_MERGE_MAX_ROWS (UINT64_C(1) << 21)

static size_t merge_from(const tsagg__manifest *m, size_t i, size_t j, int64_t start,
                         uint32_t hours, const merge_rule *r)
{
    int one = j - i == 1 && m->parts[i].start == start && m->parts[i].hours == hours;
    if (one)
        return j;
    if (r->mode == TSAGG__MERGE_SEALED)
        return hours > 1 ? i : j;
    int64_t end = start + (int64_t)hours * TSAGG__HOUR_US;
    if (r->mode == TSAGG__MERGE_ALL || hours > 1 || end + TSAGG__HOUR_US <= r->now_us)
        return i;
    /* An hour still being written gets a file per compaction. Walking from
     * the newest, an older file joins while its rows are at most those of
     * the newer ones it joins; `fanin` such files make a merge. Merged files
     * thus about double at each merge that takes them, so a row is rewritten
     * about log2(compactions / fanin) times in its hour, not at every merge. */
    if (!r->fanin)
        return j; /* merged only once it ended an hour ago */
    uint64_t rows = m->parts[j - 1].rows;
    size_t from = j - 1;
    while (from > i && m->parts[from - 1].rows <= rows &&
           rows + m->parts[from - 1].rows <= RECENT_MERGE_MAX_ROWS)
        rows += m->parts[--from].rows;
    return j - from >= (r->fanin < 2 ? 2 : r->fanin) ? from : j;
}

static int merge_spans(tsagg_store *st, uint64_t budget, const merge_rule *rule,
                       tsagg_compact_stats *stats)
{
    tsagg__snapshot *snap;
    tsagg__manifest *next;
    int rc = tsagg__edit_begin(st, &snap, &next);
    if (rc != 0)
        return rc;
    const tsagg__manifest *cur = tsagg__snapshot_manifest(snap);
    char dir[TSAGG_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/parts", st->path);
    /* Files sorted by start: those of one target span are adjacent, oldest
     * first. */
    for (size_t i = 0; rc == 0 && i < cur->nparts;) {
        int64_t start, s2;
        uint32_t hours, h2;
        tsagg__span_target(cur->parts[i].start, cur->parts[i].hours, cur->newest_ts, &start,
                           &hours);
        size_t j = i + 1;
        for (; j < cur->nparts; j++) {
            tsagg__span_target(cur->parts[j].start, cur->parts[j].hours, cur->newest_ts, &s2,
                               &h2);
            if (s2 != start || h2 != hours)
                break;
        }
        size_t from = merge_from(cur, i, j, start, hours, rule);
        if (from < j) {
            tsagg__part_ref ref;
            rc = merge_files(st, cur, from, j, start, hours, next->next_file_id++, budget, &ref,
                             stats);
            for (size_t k = from; rc == 0 && k < j; k++)
                tsagg__manifest_remove(next, cur->parts[k].file_id);
            if (rc == 0)
                rc = tsagg__manifest_add(next, &ref);
            if (rc == 0)
                rc = tsagg__parts_dir_sync(st, dir);
            if (rc == 0)
                rc = tsagg__catalog_publish(st, next);
        }
        i = j;
    }
    stats->consumed_seq = next->consumed_seq;
    tsagg__snapshot_release(st, snap);
    tsagg__manifest_free(next);
    return rc;
}

int tsagg__merge_spans_locked(tsagg_store *st, uint64_t budget, int mode,
                              tsagg_compact_stats *stats)
{
    merge_rule r = {mode, 0, 0};
    return merge_spans(st, budget, &r, stats);
}

int tsagg__merge_recent_locked(tsagg_store *st, uint64_t budget, uint32_t fanin, int64_t now_us,
                               tsagg_compact_stats *stats)
{
    merge_rule r = {TSAGG__MERGE_RECENT, fanin, now_us};
    return merge_spans(st, budget, &r, stats);
}
