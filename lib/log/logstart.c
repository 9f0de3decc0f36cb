/*
 * logstart.c - where the log starts, once retention removes its oldest
 * segments, and how much of it compaction has still to read.
 *
 * Retention publishes the new start in MANIFEST first (segment number and
 * its first sequence number, docs/format.md "Manifest") and only then
 * removes the segments below it, oldest first. A crash in between leaves
 * segments below the recorded start: leftovers, removed by the next
 * retention pass, never a gap. A log whose first segment lies above the
 * recorded start has lost segments: damage, which recovery and
 * tsagg_verify() report.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "fileio.h"
#include "log_internal.h"

/* The first sequence number in segment `number`'s header: 0 read, 1 when
 * the segment is too short to have a header (being created), < 0. */
static int segment_first_seq(tsagg_store *st, uint64_t number, uint64_t *first_seq,
                             uint64_t *bytes)
{
    const tsagg_io *io = st->io;
    char path[TSAGG_PATH_MAX + 32];
    tsagg__segment_path(st, number, path, sizeof path);
    int fd = io->open(io->ctx, path, O_RDONLY | O_NONBLOCK, 0);
    if (fd < 0)
        return fd;
    uint64_t size = 0;
    uint8_t hb[SEG_HEADER_SIZE];
    seg_header h;
    int rc = io->fsize(io->ctx, fd, &size);
    if (rc == 0 && size < SEG_HEADER_SIZE)
        rc = 1;
    if (rc == 0)
        rc = tsagg__read_all(io, fd, hb, sizeof hb, 0, NULL);
    if (rc == 0)
        rc = tsagg__seg_header_decode(hb, &h);
    io->close(io->ctx, fd);
    if (rc == 0)
        *first_seq = h.first_seq;
    if (bytes)
        *bytes = size;
    return rc;
}

int tsagg__log_check_start(tsagg_store *st, uint64_t start_segment, uint64_t start_seq)
{
    uint64_t *nums = NULL;
    size_t count = 0;
    int rc = tsagg__list_segments(st->io, st->log_dir, &nums, &count);
    if (rc == -ENOENT)
        rc = 0;
    if (rc != 0)
        return tsagg__fail(st, rc, "%s: %s", st->log_dir, tsagg_strerror(rc));
    uint64_t first = count ? nums[0] : 0, last = count ? nums[count - 1] : 0;
    free(nums);
    if (count == 0 && start_segment == 1)
        return 0; /* nothing appended yet */
    if (count == 0 || first > start_segment || last < start_segment)
        return tsagg__fail(st, TSAGG_ECORRUPT,
                           "%s: the log should start at segment %" PRIu64 " (sequence %" PRIu64
                           ", as MANIFEST records), but %s%" PRIu64
                           ": segments were removed by hand or lost; restore them from a "
                           "copy of log/",
                           st->log_dir, start_segment, start_seq,
                           count == 0 ? "it holds no segment" : "its first segment is ",
                           count == 0 ? (uint64_t)0 : first);
    uint64_t seq = 0;
    rc = segment_first_seq(st, start_segment, &seq, NULL);
    if (rc == 1 || (rc == 0 && seq == start_seq))
        return 0;
    char path[TSAGG_PATH_MAX + 32];
    tsagg__segment_path(st, start_segment, path, sizeof path);
    if (rc != 0)
        return tsagg__fail(st, rc, "%s: %s", path, tsagg_strerror(rc));
    return tsagg__fail(st, TSAGG_ECORRUPT,
                       "%s: starts at sequence %" PRIu64 ", but MANIFEST records the log as "
                       "starting there at sequence %" PRIu64,
                       path, seq, start_seq);
}

int tsagg__log_remove_below(tsagg_store *st, uint64_t start_segment, unsigned *removed)
{
    uint64_t *nums = NULL;
    size_t count = 0;
    *removed = 0;
    int rc = tsagg__list_segments(st->io, st->log_dir, &nums, &count);
    if (rc != 0)
        return tsagg__fail(st, rc, "%s: %s", st->log_dir, tsagg_strerror(rc));
    /* Oldest first: a crash midway leaves a run of segments that still
     * joins the start, never a gap. */
    for (size_t i = 0; rc == 0 && i < count && nums[i] < start_segment; i++) {
        char path[TSAGG_PATH_MAX + 32];
        tsagg__segment_path(st, nums[i], path, sizeof path);
        rc = st->io->unlink(st->io->ctx, path);
        if (rc == -ENOENT)
            rc = 0;
        if (rc != 0)
            rc = tsagg__fail(st, rc, "%s: remove: %s", path, tsagg_strerror(rc));
        else
            ++*removed;
    }
    free(nums);
    if (rc == 0 && *removed) {
        rc = tsagg__fsync_dir(st->io, st->log_dir);
        if (rc != 0)
            rc = tsagg__fail(st, rc, "%s: fsync of the directory: %s", st->log_dir,
                             tsagg_strerror(rc));
    }
    return rc;
}

int tsagg__log_tail_bytes(tsagg_store *st, uint64_t after_seq, uint64_t *bytes)
{
    uint64_t *nums = NULL;
    size_t count = 0;
    *bytes = 0;
    int rc = tsagg__list_segments(st->io, st->log_dir, &nums, &count);
    if (rc == -ENOENT)
        rc = 0;
    /* From the newest segment back to the one holding after_seq + 1: the
     * segments past it whole, that one in proportion to its events past
     * after_seq. */
    uint64_t next_first = tsagg_durable_seq(st) + 1;
    for (size_t i = count; rc == 0 && i-- > 0;) {
        uint64_t first = 0, size = 0;
        rc = segment_first_seq(st, nums[i], &first, &size);
        if (rc == 1 || rc == -ENOENT) {
            rc = 0;
            continue;
        }
        if (rc != 0)
            break;
        if (first > after_seq) {
            *bytes += size;
            next_first = first;
            continue;
        }
        if (next_first > first && next_first - 1 > after_seq && size > SEG_HEADER_SIZE)
            *bytes += (uint64_t)((double)(size - SEG_HEADER_SIZE) *
                                 (double)(next_first - 1 - after_seq) /
                                 (double)(next_first - first));
        break;
    }
    free(nums);
    return rc ? tsagg__fail(st, rc, "%s: %s", st->log_dir, tsagg_strerror(rc)) : 0;
}

int tsagg__log_removable(tsagg_store *st, uint64_t from_segment, uint64_t consumed,
                         int64_t cutoff, uint64_t *start_segment, uint64_t *start_seq,
                         int64_t *max_ts)
{
    const tsagg_io *io = st->io;
    uint64_t *nums = NULL;
    size_t count = 0;
    int rc = tsagg__list_segments(io, st->log_dir, &nums, &count);
    if (rc != 0)
        return tsagg__fail(st, rc, "%s: %s", st->log_dir, tsagg_strerror(rc));
    uint64_t active = tsagg__writer_open_segment(st);
    /* Never the last segment listed: the start must name a file. */
    for (size_t i = 0; rc == 0 && i + 1 < count && nums[i] < active; i++) {
        if (nums[i] < from_segment)
            continue;
        char path[TSAGG_PATH_MAX + 32];
        tsagg__segment_path(st, nums[i], path, sizeof path);
        int fd = io->open(io->ctx, path, O_RDONLY | O_NONBLOCK, 0);
        if (fd < 0) {
            rc = tsagg__fail(st, fd, "%s: %s", path, tsagg_strerror(fd));
            break;
        }
        uint64_t size = 0;
        seal_info seal;
        rc = io->fsize(io->ctx, fd, &size);
        if (rc == 0)
            rc = tsagg__read_seal(io, fd, size, &seal);
        io->close(io->ctx, fd);
        if (rc < 0) {
            rc = tsagg__fail(st, rc, "%s: %s", path, tsagg_strerror(rc));
            break;
        }
        /* Unsealed, not wholly compacted, or holding a newer event: here
         * the log keeps starting. */
        if (rc == 1 || seal.last_seq > consumed || (seal.events && seal.max_ts >= cutoff)) {
            rc = 0;
            break;
        }
        if (seal.events && seal.max_ts > *max_ts)
            *max_ts = seal.max_ts;
        *start_segment = nums[i + 1];
        *start_seq = seal.last_seq + 1;
    }
    free(nums);
    return rc;
}
