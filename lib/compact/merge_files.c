/*
 * merge_files.c - partition files merged into one, in passes when more
 * files than the memory budget lets one merge read: what compaction does
 * with a span's sorted runs and merges with a span's files.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compact_internal.h"

/*
 * Merge sources into a new partition file at `path` for the span [start,
 * start + hours h); the sources are freed. On failure detail names the
 * file at fault (a source being read, or the one being written).
 */
int tsagg__write_merged(tsagg_store *st, tsagg__merge_src **srcs, size_t nsrc, const char *path,
                        int64_t start, uint32_t hours, uint64_t file_id, tsagg__part_info *info,
                        tsagg__merge_stats *ms, char *detail, size_t detail_len)
{
    tsagg__part_writer *w = NULL;
    int rc = tsagg__part_writer_open(st->io, path, start, hours, st->schema, file_id, &w);
    if (rc != 0)
        snprintf(detail, detail_len, "%s: %s", path, tsagg_strerror(rc));
    /* File id 0 is a sorted run: a crash discards it, so no fsync. */
    if (rc == 0 && file_id == 0)
        tsagg__part_writer_no_sync(w);
    tsagg__merge_src *bad = NULL;
    if (rc == 0) {
        rc = tsagg__merge_into(srcs, nsrc, st->schema, w, ms, &bad);
        if (rc != 0 && bad)
            tsagg__merge_src_errmsg(bad, detail, detail_len);
        else if (rc != 0)
            tsagg__part_writer_errmsg(w, detail, detail_len);
    }
    if (rc == 0) {
        rc = tsagg__part_writer_finish(w, info);
        w = NULL;
        if (rc != 0)
            snprintf(detail, detail_len, "%s: %s", path, tsagg_strerror(rc));
    }
    tsagg__part_writer_abort(w);
    for (size_t i = 0; i < nsrc; i++)
        tsagg__merge_src_free(srcs[i]);
    if (rc != 0 && !detail[0])
        snprintf(detail, detail_len, "%s: %s", path, tsagg_strerror(rc));
    return rc;
}

/* Open the partition files paths[0, n) as merge sources into srcs. On
 * failure the sources opened so far are freed and detail names the file. */
int tsagg__open_sources(tsagg_store *st, char *const *paths, size_t n, tsagg__merge_src **srcs,
                        char *detail, size_t detail_len)
{
    int rc = 0;
    size_t k = 0;
    for (; rc == 0 && k < n; k++) {
        tsagg__part *p;
        rc = tsagg__part_open(st->io, paths[k], &p, detail, detail_len);
        if (rc == 0)
            rc = tsagg__merge_src_part(p, st->schema, &srcs[k], detail, detail_len);
    }
    if (rc != 0)
        for (size_t i = 0; i + 1 < k; i++)
            tsagg__merge_src_free(srcs[i]);
    return rc;
}

/*
 * Memory one partition file holds while it is merged: a decoded row group
 * of every column, the reader and its zstd context (its dictionaries come
 * on top; they hold each distinct string once).
 */
static size_t source_bytes(const tsagg_store *st)
{
    size_t per_row = 5 * 8 + 2 * 4 + tsagg_schema_dimension_count(st->schema) * 4 +
                     tsagg_schema_measure_count(st->schema) * 8;
    return (size_t)TSAGG__PART_GROUP_ROWS * per_row + (256u << 10);
}

/* How many files one merge may read at once: what half the budget holds,
 * at least two. More are merged in passes, so that memory stays bounded
 * however large a span is. */
size_t tsagg__max_fanin(const tsagg_store *st, uint64_t budget)
{
    uint64_t n = budget / 2 / source_bytes(st);
    return n < 2 ? 2 : (size_t)n;
}

void tsagg__file_set_free(tsagg_store *st, tsagg__file_set *fs, int unlink_owned)
{
    for (size_t i = 0; i < fs->n; i++) {
        if (unlink_owned && fs->owned[i])
            st->io->unlink(st->io->ctx, fs->paths[i]);
        free(fs->paths[i]);
    }
    free(fs->paths);
    free(fs->owned);
    memset(fs, 0, sizeof *fs);
}

/*
 * Merge the first `fanin` files of fs into a new run, appended at the end
 * (so that runs of similar size meet), until at most `keep` files are left.
 * *next_run numbers the runs; *dups counts the retries dropped.
 */
int tsagg__reduce_files(tsagg_store *st, int64_t start, uint32_t hours, tsagg__file_set *fs,
                        size_t keep, size_t fanin, uint64_t *next_run, uint64_t *dups)
{
    if (keep < 1)
        keep = 1;
    while (fs->n > keep) {
        size_t k = fs->n - keep + 1 < fanin ? fs->n - keep + 1 : fanin;
        char path[TSAGG_PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/parts/run-%016" PRIx64 ".tprun", st->path,
                 __atomic_fetch_add(next_run, 1, __ATOMIC_RELAXED));
        char *name = strdup(path);
        tsagg__merge_src **srcs = calloc(k, sizeof *srcs);
        char detail[TSAGG_ERRMSG_MAX] = "";
        int rc = name && srcs ? tsagg__open_sources(st, fs->paths, k, srcs, detail, sizeof detail)
                              : -ENOMEM;
        tsagg__merge_stats ms = {0};
        if (rc == 0)
            rc = tsagg__write_merged(st, srcs, k, path, start, hours, 0, NULL, &ms, detail,
                                     sizeof detail);
        free(srcs);
        if (rc != 0) {
            free(name);
            return tsagg__fail(st, rc, "%s", detail[0] ? detail : tsagg_strerror(rc));
        }
        *dups += ms.duplicates;
        for (size_t i = 0; i < k; i++) {
            if (fs->owned[i])
                st->io->unlink(st->io->ctx, fs->paths[i]);
            free(fs->paths[i]);
        }
        memmove(fs->paths, fs->paths + k, (fs->n - k) * sizeof *fs->paths);
        memmove(fs->owned, fs->owned + k, (fs->n - k) * sizeof *fs->owned);
        fs->n -= k;
        fs->paths[fs->n] = name; /* room: k >= 2 entries were freed */
        fs->owned[fs->n] = 1;
        fs->n++;
    }
    return 0;
}
