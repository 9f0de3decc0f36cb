/*
 * merge_hours.c - tsagg_merge's work: every hour with more than one
 * partition file gets one file holding them all, published in one manifest.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compact_internal.h"

/* Merge the files of one hour into a new file; *ref describes it. More
 * files than the budget lets one merge read are merged in passes. */
static int merge_hour(tsagg_store *st, const tsagg__manifest *m, size_t from, size_t to,
                      uint64_t id, uint64_t budget, tsagg__part_ref *ref,
                      tsagg_compact_stats *stats)
{
    int64_t hour = m->parts[from].hour;
    size_t n = to - from;
    tsagg__file_set fs = {calloc(n, sizeof(char *)), calloc(n, 1), 0};
    int rc = fs.paths && fs.owned ? 0 : -ENOMEM;
    for (size_t i = from; rc == 0 && i < to; i++) {
        char path[TSAGG_PATH_MAX + 64];
        tsagg__part_file_path(st, hour, m->parts[i].file_id, path, sizeof path);
        if (!(fs.paths[fs.n++] = strdup(path)))
            rc = -ENOMEM;
    }
    uint64_t next_run = 1, dups = 0;
    size_t fanin = tsagg__max_fanin(st, budget);
    if (rc == 0)
        rc = tsagg__reduce_files(st, hour, &fs, fanin, fanin, &next_run, &dups);
    tsagg__merge_src **srcs = rc == 0 ? calloc(fs.n, sizeof *srcs) : NULL;
    char detail[TSAGG_ERRMSG_MAX] = "";
    if (rc == 0 && !srcs)
        rc = -ENOMEM;
    if (rc == 0)
        rc = tsagg__open_sources(st, fs.paths, fs.n, srcs, detail, sizeof detail);
    char path[TSAGG_PATH_MAX + 64];
    tsagg__part_file_path(st, hour, id, path, sizeof path);
    tsagg__merge_stats ms = {0};
    tsagg__part_info info;
    if (rc == 0)
        rc = tsagg__write_merged(st, srcs, fs.n, path, hour, id, &info, &ms, detail, sizeof detail);
    free(srcs);
    tsagg__file_set_free(st, &fs, 1); /* the runs of the passes */
    if (rc != 0)
        return detail[0] ? tsagg__fail(st, rc, "%s", detail) : rc;
    *ref = (tsagg__part_ref){.hour = hour, .file_id = id, .rows = info.rows, .bytes = info.bytes,
                             .generation = m->parts[from].generation, .level = 1};
    stats->duplicates += ms.duplicates + dups;
    stats->rows_written += info.rows;
    stats->bytes_written += info.bytes;
    stats->files_written++;
    stats->files_removed += to - from;
    stats->hours++;
    return 0;
}

int tsagg__merge_locked(tsagg_store *st, uint64_t budget, tsagg_compact_stats *stats)
{
    tsagg__snapshot *snap;
    tsagg__manifest *next;
    int rc = tsagg__edit_begin(st, &snap, &next);
    if (rc != 0)
        return rc;
    const tsagg__manifest *cur = tsagg__snapshot_manifest(snap);
    int changed = 0;
    for (size_t i = 0; rc == 0 && i < cur->nparts;) {
        size_t j = i + 1;
        while (j < cur->nparts && cur->parts[j].hour == cur->parts[i].hour)
            j++;
        if (j - i > 1) {
            tsagg__part_ref ref;
            rc = merge_hour(st, cur, i, j, next->next_file_id++, budget, &ref, stats);
            for (size_t k = i; rc == 0 && k < j; k++)
                tsagg__manifest_remove(next, cur->parts[k].file_id);
            if (rc == 0)
                rc = tsagg__manifest_add(next, &ref);
            changed = 1;
        }
        i = j;
    }
    char dir[TSAGG_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/parts", st->path);
    if (rc == 0 && changed)
        rc = tsagg__parts_dir_sync(st, dir);
    if (rc == 0 && changed)
        rc = tsagg__catalog_publish(st, next);
    stats->consumed_seq = next ? next->consumed_seq : 0;
    tsagg__snapshot_release(st, snap);
    tsagg__manifest_free(next);
    return rc;
}
