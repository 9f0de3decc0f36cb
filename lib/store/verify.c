/*
 * verify.c - read every file of a store and check every checksum.
 *
 * The log is checked first, segment by segment, so that a damaged
 * partition can be called repairable only when the events it was made of
 * are intact. Partitions are read in full: every column block of every row
 * group, every dictionary, every page of the merchant index and every
 * merchant's hour segments and rollups: hour, day and month files alike.
 *
 * The manifest is derived state too: while the log is intact, removing a
 * damaged one and compacting again restores every answer, so it is called
 * repairable. So is a missing one beside partition files (they would be
 * swept by the next compaction, and answers come from the log meanwhile).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi_internal.h"
#include "compact_internal.h"
#include "log_internal.h"
#include "tsagg_log.h"
#include "tsagg_verify.h"

typedef struct verifier {
    tsagg_store *st;
    tsagg_verify_fn fn;
    void *ctx;
    tsagg_verify_stats *stats;
    int first_code;
    int log_damaged;
} verifier;

static void report(verifier *v, const char *file, int code, const char *detail, int64_t hour,
                   uint32_t hours, int repairable)
{
    v->stats->problems++;
    if (!v->first_code)
        v->first_code = code;
    if (v->fn) {
        tsagg_verify_problem p = {.struct_size = sizeof p, .file = file, .code = code,
                                  .detail = detail, .hour = hour, .hours = hours,
                                  .repairable = repairable};
        v->fn(v->ctx, &p);
    }
}

/* The part of a path after the store's directory. */
static const char *relative(const tsagg_store *st, const char *path)
{
    size_t n = strlen(st->path);
    return strncmp(path, st->path, n) == 0 && path[n] == '/' ? path + n + 1 : path;
}

/*
 * The unsealed last segment: the reader stops at a bad frame as it would at
 * the frame being written. What follows the bad frame tells damage to a
 * durable frame from a torn tail (tsagg__seg_scan). A torn tail with valid,
 * never synced frames after it is reported too: a crash's leftover or
 * damage to the last write, which the next writer open cuts off. 1 found
 * (detail filled), 0 none, <0 I/O error.
 */
static int damaged_tail(tsagg_store *st, const char *path, const tsagg_segment_info *seg,
                        char *detail, size_t len)
{
    const tsagg_io *io = st->io;
    int fd = io->open(io->ctx, path, O_RDONLY | O_NONBLOCK, 0);
    if (fd < 0)
        return fd;
    uint64_t size = 0;
    seg_scan scan;
    int rc = io->fsize(io->ctx, fd, &size);
    if (rc == 0)
        rc = tsagg__seg_scan(io, fd, size, seg->first_seq, 1, &scan);
    io->close(io->ctx, fd);
    if (rc != 0)
        return rc;
    if (scan.status == 1 && scan.frames_after) {
        snprintf(detail, len,
                 "%s: bad frame at offset %" PRIu64 ", followed only by frames written before "
                 "it was synced: a write a crash cut short (never reported durable) or damage "
                 "to the last one; the next writer open cuts the segment there (events from "
                 "sequence %" PRIu64 " on), keeping the bytes as .cut-%" PRIu64,
                 relative(st, path), scan.bad_offset, scan.next_seq, scan.bad_offset);
        return 1;
    }
    if (scan.status >= 0)
        return 0;
    snprintf(detail, len,
             "%s: bad frame at offset %" PRIu64 " with valid frames after it "
             "(events from sequence %" PRIu64 " on cannot be read)",
             relative(st, path), scan.bad_offset, scan.next_seq);
    return 1;
}

/* Whether segment `number` is gone because a writer's retention removed it
 * while we read (MANIFEST now starts the log after it): no damage. */
static int removed_by_retention(tsagg_store *st, uint64_t number)
{
    char path[TSAGG_PATH_MAX + 32];
    tsagg__segment_path(st, number, path, sizeof path);
    int fd = st->io->open(st->io->ctx, path, O_RDONLY | O_NONBLOCK, 0);
    if (fd >= 0) {
        st->io->close(st->io->ctx, fd);
        return 0;
    }
    tsagg__manifest *m;
    if (fd != -ENOENT || tsagg__manifest_load(st, &m) != 0)
        return 0;
    int removed = m->log_start_segment > number;
    tsagg__manifest_free(m);
    return removed;
}

static int check_segment(verifier *v, const tsagg_segment_info *seg)
{
    tsagg_store *st = v->st;
    char path[TSAGG_PATH_MAX + 32], detail[TSAGG_PATH_MAX + TSAGG_ERRMSG_MAX];
    tsagg__segment_path(st, seg->number, path, sizeof path);
    tsagg_log_range r;
    tsagg_log_range_init(&r);
    r.from_seq = seg->first_seq;
    r.to_seq = seg->last_seq + 1;
    tsagg_log_reader *rd;
    int rc = tsagg_log_reader_open(st, &r, &rd);
    uint64_t n = 0, expect = seg->last_seq + 1 - seg->first_seq;
    if (rc == 0) {
        const tsagg_event *ev;
        uint64_t seq;
        while ((rc = tsagg_log_reader_next(rd, &ev, &seq)) == 1)
            n++;
        tsagg_log_reader_close(rd);
    }
    v->stats->segments++;
    v->stats->segment_bytes += seg->bytes;
    v->stats->events += n;
    if (rc == -ENOMEM)
        return rc;
    if ((rc < 0 || n != expect) && removed_by_retention(st, seg->number)) {
        v->stats->segments--;
        v->stats->segment_bytes -= seg->bytes;
        v->stats->events -= n;
        return 0;
    }
    if (rc < 0) {
        tsagg_store_errmsg(st, detail, sizeof detail);
        v->log_damaged = 1;
        report(v, relative(st, path), rc, detail, INT64_MIN, 0, 0);
    } else if (!seg->sealed && (rc = damaged_tail(st, path, seg, detail, sizeof detail)) != 0) {
        if (rc < 0)
            snprintf(detail, sizeof detail, "%s: %s", relative(st, path), tsagg_strerror(rc));
        v->log_damaged = 1;
        report(v, relative(st, path), rc < 0 ? rc : TSAGG_ECORRUPT, detail, INT64_MIN, 0, 0);
    } else if (n != expect) {
        snprintf(detail, sizeof detail,
                 "%s: %" PRIu64 " events read, the segment's records say %" PRIu64,
                 relative(st, path), n, expect);
        v->log_damaged = 1;
        report(v, relative(st, path), TSAGG_ECORRUPT, detail, INT64_MIN, 0, 0);
    }
    return 0;
}

static int check_log(verifier *v)
{
    tsagg_store *st = v->st;
    char detail[TSAGG_PATH_MAX + TSAGG_ERRMSG_MAX];
    int n = tsagg_log_segments(st, NULL, 0);
    tsagg_segment_info *segs = NULL;
    if (n > 0) {
        segs = calloc((size_t)n, sizeof *segs);
        if (!segs)
            return -ENOMEM;
        int m = tsagg_log_segments(st, segs, (size_t)n);
        n = m < n ? m : n;
    }
    if (n == -ENOMEM) {
        free(segs);
        return n;
    }
    if (n < 0) {
        tsagg_store_errmsg(st, detail, sizeof detail);
        v->log_damaged = 1;
        report(v, "log", n, detail, INT64_MIN, 0, 0);
        free(segs);
        return 0;
    }
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++)
        rc = check_segment(v, &segs[i]);
    free(segs);
    return rc;
}

/* Every merchant's index entry, hour segments and rollups. */
static int read_merchants(tsagg__part *p)
{
    tsagg__hour_segment *segs = NULL;
    uint32_t cap = 0;
    int rc = 0;
    for (uint64_t i = 0; rc == 0 && i < tsagg__part_merchants(p); i++) {
        tsagg__merchant_entry e;
        rc = tsagg__part_merchant_at(p, i, &e);
        if (rc != 0 || e.nsegments == 0)
            continue;
        if (e.nsegments > cap) {
            free(segs);
            cap = e.nsegments;
            if (!(segs = malloc(cap * sizeof *segs)))
                return -ENOMEM;
        }
        rc = tsagg__part_segments(p, &e, segs);
        for (uint32_t k = 0; rc == 0 && k < e.nsegments; k++) {
            if (segs[k].rollup_len == 0)
                continue;
            tsagg__rollup r;
            rc = tsagg__part_rollup(p, &e, &segs[k], &r);
            if (rc == 0)
                tsagg__rollup_free(&r);
        }
    }
    free(segs);
    return rc;
}

/* Read everything of one open partition file. */
static int read_partition(tsagg__part *p, void *scratch)
{
    const tsagg_schema *schema = tsagg__part_schema(p);
    uint32_t ndims = (uint32_t)tsagg_schema_dimension_count(schema);
    uint32_t ncols = TSAGG__COL_DIM0 + ndims + (uint32_t)tsagg_schema_measure_count(schema);
    int rc = 0;
    for (uint32_t g = 0; rc == 0 && g < tsagg__part_groups(p); g++)
        for (uint32_t col = 0; rc == 0 && col < ncols; col++)
            rc = tsagg__part_read_column(p, col, g, scratch);
    for (uint32_t col = TSAGG__COL_EVENT; rc == 0 && col < TSAGG__COL_DIM0 + ndims; col++) {
        if (col > TSAGG__COL_EVENT && col < TSAGG__COL_DIM0)
            continue;
        const char *s;
        size_t len;
        if (tsagg__part_dict_size(p, col) > 0)
            rc = tsagg__part_dict_get(p, col, 0, &s, &len);
        /* A find indexes every string, which checks that each is there once. */
        if (rc == 0 && tsagg__part_dict_size(p, col) > 0 &&
            (rc = tsagg__part_dict_find(p, col, s, len, NULL)) == 1)
            rc = 0;
    }
    return rc ? rc : read_merchants(p);
}

/* The log must start where the manifest records (segment 1 until
 * retention removed segments) and reach the position it records as
 * compacted. */
static void check_consumed(verifier *v, const tsagg__manifest *m)
{
    tsagg_store *st = v->st;
    uint64_t end;
    char detail[TSAGG_PATH_MAX + TSAGG_ERRMSG_MAX];
    int rc = tsagg__log_check_start(st, m->log_start_segment, m->log_start_seq);
    if (rc != 0) {
        tsagg_store_errmsg(st, detail, sizeof detail);
        v->log_damaged = 1;
        report(v, "log", rc, detail, INT64_MIN, 0, 0);
        return;
    }
    if (v->log_damaged || tsagg__log_check_consumed(st, m->consumed_seq, &end) != TSAGG_ECORRUPT)
        return;
    tsagg_store_errmsg(st, detail, sizeof detail);
    v->log_damaged = 1;
    report(v, "log", TSAGG_ECORRUPT, detail, INT64_MIN, 0, 0);
}

static int count_part_file(void *arg, const char *name)
{
    uint64_t id;
    if (tsagg__part_name_parse(name, &id) == 0)
        ++*(uint64_t *)arg;
    return 0;
}

/* No MANIFEST, yet partition files in parts/: a lost manifest, or a first
 * compaction that died before publishing, which a crash may leave and so
 * is no damage. Either way those files answer nothing (queries read the
 * whole log) until the next compaction sweeps them and compacts the log:
 * counted for the caller to mention, not reported as a problem. */
static int check_missing_manifest(verifier *v)
{
    tsagg_store *st = v->st;
    char path[TSAGG_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/MANIFEST", st->path);
    int fd = st->io->open(st->io->ctx, path, O_RDONLY | O_NONBLOCK, 0);
    if (fd >= 0) {
        st->io->close(st->io->ctx, fd);
        return 0;
    }
    if (fd != -ENOENT)
        return 0; /* reported by the load */
    uint64_t files = 0;
    snprintf(path, sizeof path, "%s/parts", st->path);
    int rc = st->io->list(st->io->ctx, path, count_part_file, &files);
    if (rc == -ENOMEM)
        return rc;
    v->stats->unlisted_partitions = files;
    return 0;
}

/* Whether the manifest on disk still lists file_id (a writer's merge may
 * have replaced it while we read). */
static int still_listed(tsagg_store *st, uint64_t file_id)
{
    tsagg__manifest *m;
    if (tsagg__manifest_load(st, &m) != 0)
        return 1;
    int listed = tsagg__manifest_has(m, file_id);
    tsagg__manifest_free(m);
    return listed;
}

static int check_partition(verifier *v, const tsagg__part_ref *ref, void *scratch)
{
    tsagg_store *st = v->st;
    char path[TSAGG_PATH_MAX + 64], detail[TSAGG_PATH_MAX + TSAGG_ERRMSG_MAX] = "";
    tsagg__part_file_path(st, ref, path, sizeof path);
    const char *rel = relative(st, path);
    tsagg__part *p = NULL;
    int rc = tsagg__part_open(st->io, path, &p, detail, sizeof detail);
    if (rc == -ENOENT && !still_listed(st, ref->file_id))
        return 0;
    if (rc == -ENOMEM)
        return rc;
    /* What the manifest says first: a file of another span or store
     * copied over a listed one is not read as if it were that one. */
    if (rc == 0)
        rc = tsagg__part_check_listed(p, ref->start, ref->hours, ref->file_id, ref->rows,
                                      ref->bytes, detail, sizeof detail);
    if (rc == 0) {
        rc = read_partition(p, scratch);
        if (rc != 0)
            tsagg__part_errmsg(p, detail, sizeof detail);
    }
    tsagg__part_close(p);
    v->stats->partitions++;
    v->stats->partition_bytes += ref->bytes;
    v->stats->rows += ref->rows;
    if (rc == -ENOMEM)
        return rc;
    if (rc != 0) {
        if (!detail[0])
            snprintf(detail, sizeof detail, "%s: %s", rel, tsagg_strerror(rc));
        report(v, rel, rc, detail, ref->start, ref->hours, !v->log_damaged);
    }
    return 0;
}

static int verify_all(tsagg_store *st, tsagg_verify_fn fn, void *ctx, tsagg_verify_stats *stats);

int tsagg_verify(tsagg_store *st, tsagg_verify_fn fn, void *ctx, tsagg_verify_stats *stats)
{
    size_t out = stats ? tsagg__out_size(stats->struct_size, TSAGG__VERIFY_STATS_SIZE_1,
                                         sizeof *stats)
                       : 0;
    if (!st)
        return TSAGG_EARG;
    if (stats && !out)
        return tsagg__fail(st, TSAGG_EARG, "tsagg_verify_stats.struct_size %u out of range",
                           (unsigned)stats->struct_size);
    tsagg_verify_stats full = {0};
    int rc = verify_all(st, fn, ctx, &full);
    if (stats)
        TSAGG__OUT_COPY(stats, &full, out);
    return rc;
}

static int verify_all(tsagg_store *st, tsagg_verify_fn fn, void *ctx, tsagg_verify_stats *stats)
{
    verifier v = {.st = st, .fn = fn, .ctx = ctx, .stats = stats};
    int rc = check_log(&v);
    if (rc != 0)
        return rc;
    tsagg__manifest *m = NULL;
    rc = tsagg__manifest_load(st, &m);
    if (rc == -ENOMEM)
        return rc;
    if (rc != 0) {
        char detail[TSAGG_PATH_MAX + TSAGG_ERRMSG_MAX];
        tsagg_store_errmsg(st, detail, sizeof detail);
        report(&v, "MANIFEST", rc, detail, INT64_MIN, 0, !v.log_damaged);
        return v.first_code;
    }
    rc = check_missing_manifest(&v);
    if (rc == 0)
        check_consumed(&v, m);
    /* Room for one decoded block of the widest column type. */
    void *scratch = rc == 0 ? malloc((size_t)TSAGG__PART_GROUP_ROWS * 8) : NULL;
    if (rc == 0 && !scratch)
        rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < m->nparts; i++)
        rc = check_partition(&v, &m->parts[i], scratch);
    free(scratch);
    tsagg__manifest_free(m);
    return rc != 0 ? rc : v.first_code;
}
