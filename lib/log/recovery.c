/*
 * recovery.c - bring the log to a consistent state when a writer opens it.
 *
 * Every segment but the last is sealed and durable (the writer seals and
 * fsyncs a segment before creating the next), so only the last one needs
 * work. A torn tail (an incomplete or checksum-failing frame that was never
 * synced: nothing valid follows it, or only frames that say the bytes
 * before them were not synced yet, as a power loss leaves when a later page
 * reached the disk and an earlier one did not) was never reported durable
 * and is cut off; when valid frames follow, the bytes cut off are kept
 * aside first. A bad frame that was durable is damage, reported with file
 * and offset, unless the open salvages (TSAGG_OPEN_SALVAGE): then the
 * segment is cut there too, the bytes cut off kept aside.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "writer_internal.h"

static int remove_tmp(void *arg, const char *name)
{
    struct tsagg_log_writer *w = arg;
    size_t len = strlen(name);
    if (len > 4 && strcmp(name + len - 4, ".tmp") == 0) {
        char path[TSAGG_PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", w->st->log_dir, name);
        w->st->io->unlink(w->st->io->ctx, path);
    }
    return 0;
}

/* The previous segment must be sealed; the log continues after its seal. */
static int continue_after(struct tsagg_log_writer *w, uint64_t number, seal_info *seal)
{
    tsagg_store *st = w->st;
    const tsagg_io *io = st->io;
    char path[TSAGG_PATH_MAX + 32];
    tsagg__segment_path(st, number, path, sizeof path);
    int fd = io->open(io->ctx, path, O_RDONLY | O_NONBLOCK, 0);
    if (fd < 0)
        return tsagg__fail(st, fd, "%s: %s", path, tsagg_strerror(fd));
    uint64_t size = 0;
    int rc = io->fsize(io->ctx, fd, &size);
    /* Its header first: a seal is only understood in a segment of our
     * format version. */
    uint8_t hb[SEG_HEADER_SIZE];
    seg_header h;
    int hrc = 0;
    if (rc == 0)
        hrc = size >= SEG_HEADER_SIZE ? tsagg__read_all(io, fd, hb, sizeof hb, 0, NULL) : 1;
    if (hrc == 1)
        hrc = TSAGG_ECORRUPT; /* shorter than a header */
    if (rc == 0 && hrc == 0)
        hrc = tsagg__seg_header_decode(hb, &h);
    if (rc == 0 && hrc != 0) {
        io->close(io->ctx, fd);
        return tsagg__fail(st, hrc, "%s: bad segment header: %s", path, tsagg_strerror(hrc));
    }
    if (rc == 0)
        rc = tsagg__read_seal(io, fd, size, seal);
    io->close(io->ctx, fd);
    if (rc == 1)
        return tsagg__fail(st, TSAGG_ECORRUPT, "%s: segment is not sealed but is not the last",
                           path);
    if (rc != 0)
        return tsagg__fail(st, rc, "%s: %s", path, tsagg_strerror(rc));
    return 0;
}

/*
 * Copy bytes [from, size) of a damaged segment to <segment>.cut-<from>
 * before a salvaging open truncates them: the library never reads that
 * file again, but nothing is destroyed that a person might still read.
 */
static int keep_cut_bytes(tsagg_store *st, int fd, const char *path, uint64_t from,
                          uint64_t size)
{
    const tsagg_io *io = st->io;
    char cut[TSAGG_PATH_MAX + 64];
    snprintf(cut, sizeof cut, "%s.cut-%" PRIu64, path, from);
    int out = io->open(io->ctx, cut, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0)
        return tsagg__fail(st, out, "%s: %s", cut, tsagg_strerror(out));
    enum { CHUNK = 1 << 16 };
    uint8_t *buf = malloc(CHUNK);
    int rc = buf ? 0 : -ENOMEM;
    for (uint64_t off = from; rc == 0 && off < size; off += CHUNK) {
        size_t n = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
        rc = tsagg__read_all(io, fd, buf, n, off, NULL);
        if (rc == 1)
            rc = -EIO; /* shrank under us */
        if (rc == 0)
            rc = tsagg__write_all(io, out, buf, n, off - from);
    }
    free(buf);
    if (rc == 0)
        rc = io->fsync(io->ctx, out);
    io->close(io->ctx, out);
    if (rc == 0)
        rc = tsagg__fsync_dir(io, st->log_dir);
    if (rc != 0)
        return tsagg__fail(st, rc, "%s: %s", cut, tsagg_strerror(rc));
    return 0;
}

int tsagg__log_recover(struct tsagg_log_writer *w)
{
    tsagg_store *st = w->st;
    const tsagg_io *io = st->io;
    st->io->list(io->ctx, st->log_dir, remove_tmp, w);
    uint64_t *nums = NULL;
    size_t count = 0;
    int rc = tsagg__list_segments(io, st->log_dir, &nums, &count);
    if (rc != 0)
        return tsagg__fail(st, rc, "%s: %s", st->log_dir, tsagg_strerror(rc));
    w->seg = (open_segment){.fd = -1};
    w->next_seq = 1;
    for (size_t i = 1; rc == 0 && i < count; i++)
        if (nums[i] != nums[i - 1] + 1)
            rc = tsagg__fail(st, TSAGG_ECORRUPT, "%s: segment %" PRIu64 " is missing",
                             st->log_dir, nums[i - 1] + 1);
    if (rc != 0 || count == 0)
        goto out;

    uint64_t last = nums[count - 1];
    char path[TSAGG_PATH_MAX + 32];
    tsagg__segment_path(st, last, path, sizeof path);
    int fd = io->open(io->ctx, path, O_RDWR, 0);
    if (fd < 0) {
        rc = tsagg__fail(st, fd, "%s: %s", path, tsagg_strerror(fd));
        goto out;
    }
    uint64_t size = 0;
    seg_header h;
    uint8_t hb[SEG_HEADER_SIZE];
    rc = io->fsize(io->ctx, fd, &size);
    int hrc = rc == 0 && size >= SEG_HEADER_SIZE
                  ? tsagg__read_all(io, fd, hb, sizeof hb, 0, NULL)
                  : 1;
    if (rc == 0 && hrc == 0)
        hrc = tsagg__seg_header_decode(hb, &h);
    if (rc == 0 && hrc != 0 && hrc != TSAGG_EVERSION && size <= SEG_HEADER_SIZE) {
        /* Crashed while creating it: the segment never held a frame. A
         * header of another version has a valid checksum: it was written
         * whole (by another library version) and is not ours to delete. */
        io->close(io->ctx, fd);
        rc = io->unlink(io->ctx, path);
        if (rc == 0)
            rc = tsagg__fsync_dir(io, st->log_dir);
        if (rc != 0) {
            rc = tsagg__fail(st, rc, "%s: remove: %s", path, tsagg_strerror(rc));
        } else if (count > 1) {
            seal_info seal;
            rc = continue_after(w, last - 1, &seal);
            w->next_seq = seal.last_seq + 1;
        }
        w->seg.number = last - 1;
        goto out;
    }
    if (rc == 0 && hrc != 0)
        rc = tsagg__fail(st, hrc, "%s: bad segment header: %s", path,
                         tsagg_strerror(hrc));
    if (rc == 0 && h.number != last)
        rc = tsagg__fail(st, TSAGG_ECORRUPT, "%s: header names segment %" PRIu64, path, h.number);
    if (rc == 0 && count > 1) {
        seal_info seal;
        rc = continue_after(w, last - 1, &seal);
        if (rc == 0 && seal.last_seq + 1 != h.first_seq)
            rc = tsagg__fail(st, TSAGG_ECORRUPT,
                             "%s: first sequence %" PRIu64 " does not follow %" PRIu64, path,
                             h.first_seq, seal.last_seq);
    }
    seg_scan sc;
    if (rc == 0)
        rc = tsagg__seg_scan(io, fd, size, h.first_seq, 1, &sc);
    if (rc == 0 && ((sc.status < 0 && (st->opts.flags & TSAGG_OPEN_SALVAGE)) ||
                    (sc.status == 1 && sc.frames_after))) {
        rc = keep_cut_bytes(st, fd, path, sc.valid_end, size);
        if (rc == 0)
            sc.status = 1; /* cut like a torn tail */
    }
    if (rc == 0 && sc.status < 0)
        rc = tsagg__fail(st, sc.status,
                         "%s: damaged frame at offset %" PRIu64 " (valid frames follow it): "
                         "writes stop here; tsagg-verify --salvage cuts the segment there",
                         path, sc.bad_offset);
    if (rc == 0 && sc.status == 1)
        rc = io->ftruncate(io->ctx, fd, sc.valid_end); /* torn tail: never durable */
    /* Frames written without fsync before a crash are made durable now. */
    if (rc == 0)
        rc = io->fsync(io->ctx, fd);
    if (rc != 0) {
        io->close(io->ctx, fd);
        if (rc > -30000 || rc < -30999)
            rc = tsagg__fail(st, rc, "%s: recovery: %s", path, tsagg_strerror(rc));
        goto out;
    }
    w->next_seq = sc.next_seq;
    if (sc.sealed) {
        io->close(io->ctx, fd);
        w->seg.number = last;
    } else {
        w->seg = (open_segment){.fd = fd, .number = last, .first_seq = h.first_seq,
                                .offset = sc.valid_end, .synced = sc.valid_end,
                                .events = sc.events, .frames = sc.frames,
                                .min_ts = sc.min_ts, .max_ts = sc.max_ts};
    }
out:
    free(nums);
    w->written_seq = w->next_seq - 1;
    atomic_store(&w->durable_seq, w->next_seq - 1);
    return rc;
}
