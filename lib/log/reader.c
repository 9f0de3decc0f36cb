/*
 * reader.c - iterate the log's events in sequence order, checking every
 * checksum of what is read.
 *
 * A segment is final when it ends with a seal or a later segment exists
 * (the writer seals and fsyncs before creating the next). In a final
 * segment any bad byte is an error naming file and offset. In the last,
 * unsealed segment the writer may be mid-write, so the first incomplete or
 * invalid frame ends the read instead, unless a later frame shows it was
 * durable (docs/format.md, "Recovery and damage").
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi_internal.h"
#include "fileio.h"
#include "log_internal.h"

struct tsagg_log_reader {
    tsagg_store *st;
    tsagg_log_range r;
    uint64_t *nums;
    size_t nsegs, segi;

    int fd;             /* current segment, -1 before the first */
    int entered;        /* a segment was read for its events */
    char path[TSAGG_PATH_MAX + 32];
    uint64_t size, off;
    uint64_t expect_seq;
    int final;          /* damage in this segment is an error */
    int synced_flags;   /* its frames say what was synced before them */

    tsagg__buf payload, scratch;
    tsagg__events evs;
    size_t evi;
    uint64_t frame_seq; /* sequence number of evs.evs[0] */
    uint64_t retry_off; /* 1 + offset of a tail frame already read twice */
    int err, done;
    const char *err_what; /* the failure: what, at err_off of path */
    uint64_t err_off;
};

void tsagg_log_range_init(tsagg_log_range *r)
{
    r->from_seq = 1;
    r->to_seq = UINT64_MAX;
    r->ts_from = INT64_MIN;
    r->ts_to = INT64_MAX;
}

/* ts < ts_to, where ts_to == INT64_MAX means no upper bound at all. */
static inline int before_end(const tsagg_log_reader *rd, int64_t ts)
{
    return ts < rd->r.ts_to || rd->r.ts_to == INT64_MAX;
}

static int relist(tsagg_log_reader *rd)
{
    /* Retention may have removed segments before the current one since
     * the last listing: find the current one's place in the new list. */
    uint64_t current = rd->nums && rd->segi < rd->nsegs ? rd->nums[rd->segi] : 0;
    free(rd->nums);
    rd->nums = NULL;
    rd->nsegs = 0;
    int rc = tsagg__list_segments(rd->st->io, rd->st->log_dir, &rd->nums, &rd->nsegs);
    if (rc != 0)
        return tsagg__fail(rd->st, rc, "%s: %s", rd->st->log_dir, tsagg_strerror(rc));
    if (current) {
        size_t i = 0;
        while (i < rd->nsegs && rd->nums[i] < current)
            i++;
        rd->segi = i;
    }
    return 0;
}

int tsagg_log_reader_open(tsagg_store *st, const tsagg_log_range *range, tsagg_log_reader **out)
{
    *out = NULL;
    if (!st)
        return TSAGG_EARG;
    tsagg_log_reader *rd = calloc(1, sizeof *rd);
    if (!rd)
        return -ENOMEM;
    rd->st = st;
    if (range)
        rd->r = *range;
    else
        tsagg_log_range_init(&rd->r);
    rd->fd = -1;
    int rc = relist(rd);
    if (rc != 0) {
        free(rd);
        return rc;
    }
    *out = rd;
    return 0;
}

void tsagg_log_reader_close(tsagg_log_reader *rd)
{
    if (!rd)
        return;
    if (rd->fd >= 0)
        rd->st->io->close(rd->st->io->ctx, rd->fd);
    free(rd->nums);
    tsagg__buf_free(&rd->payload);
    tsagg__buf_free(&rd->scratch);
    tsagg__events_free(&rd->evs);
    free(rd);
}

/* what: a static string (a literal or tsagg_strerror's). */
static int fail(tsagg_log_reader *rd, int code, const char *what, uint64_t off)
{
    rd->err_what = what;
    rd->err_off = off;
    rd->err = tsagg__fail(rd->st, code, "%s: %s at offset %" PRIu64, rd->path, what, off);
    return rd->err;
}

int tsagg__log_reader_damage(const tsagg_log_reader *rd, char *buf, size_t len)
{
    if (rd->err != TSAGG_ECHECKSUM && rd->err != TSAGG_ECORRUPT)
        return 0;
    snprintf(buf, len, "%s: %s at offset %" PRIu64, rd->path, rd->err_what, rd->err_off);
    return 1;
}

static void close_segment(tsagg_log_reader *rd)
{
    if (rd->fd >= 0)
        rd->st->io->close(rd->st->io->ctx, rd->fd);
    rd->fd = -1;
}

/* Open segment nums[segi]. Returns 0, 1 to skip it, or an error. */
static int open_segment(tsagg_log_reader *rd)
{
    const tsagg_io *io = rd->st->io;
    uint64_t number = rd->nums[rd->segi];
    int last = rd->segi + 1 == rd->nsegs;
    tsagg__segment_path(rd->st, number, rd->path, sizeof rd->path);
    rd->final = 0;
    int fd = io->open(io->ctx, rd->path, O_RDONLY | O_NONBLOCK, 0); /* a FIFO cannot hang it */
    if (fd == -ENOENT && !rd->entered && !last) {
        /* Removed by retention since the listing, before any segment this
         * reader wanted events of: the log starts later now. */
        rd->expect_seq = 0;
        rd->segi++;
        return 1;
    }
    if (fd < 0)
        return fail(rd, fd, tsagg_strerror(fd), 0);
    rd->fd = fd;
    int rc = io->fsize(io->ctx, fd, &rd->size);
    if (rc == -EINVAL || rc == -EISDIR)
        return fail(rd, TSAGG_ECORRUPT, "not a regular file", 0);
    if (rc != 0)
        return fail(rd, rc, tsagg_strerror(rc), 0);
    uint8_t hb[SEG_HEADER_SIZE];
    seg_header h;
    rc = rd->size >= SEG_HEADER_SIZE ? tsagg__read_all(io, fd, hb, sizeof hb, 0, NULL) : 1;
    if (rc < 0)
        return fail(rd, rc, tsagg_strerror(rc), 0);
    if (rc == 1) {
        if (last)
            return 1; /* being created */
        return fail(rd, TSAGG_ECORRUPT, "truncated segment header", 0);
    }
    rc = tsagg__seg_header_decode(hb, &h);
    if (rc != 0)
        return fail(rd, rc, "bad segment header", 0);
    if (h.number != number)
        return fail(rd, TSAGG_ECORRUPT, "header names another segment", 16);
    if (rd->expect_seq && h.first_seq != rd->expect_seq)
        return fail(rd, TSAGG_ECORRUPT, "sequence numbers do not follow the previous segment", 24);
    rd->expect_seq = h.first_seq;
    rd->synced_flags = h.version >= 2;
    rd->off = SEG_HEADER_SIZE;
    seal_info seal;
    rc = tsagg__read_seal(io, fd, rd->size, &seal);
    if (rc < 0)
        return fail(rd, rc, tsagg_strerror(rc), rd->size);
    rd->final = rc == 0 || !last;
    if (rc == 0 && (seal.last_seq < rd->r.from_seq || seal.events == 0 ||
                    seal.max_ts < rd->r.ts_from || !before_end(rd, seal.min_ts))) {
        rd->expect_seq = seal.last_seq + 1;
        return 1; /* nothing wanted here */
    }
    rd->entered = 1;
    return 0;
}

/*
 * A bad frame at `off` in the unsealed last segment: the writer's in-flight
 * write, or a write never made durable, where the readable tail ends (0),
 * unless a valid frame follows it that says the bad one was durable (in a
 * version 1 segment: any valid frame), which makes it damage (an error). A
 * write completing meanwhile makes the frame and its successor valid at
 * once, so before calling it damage the frame is read once more (1).
 */
static int tail_or_damage(tsagg_log_reader *rd, uint64_t off)
{
    const tsagg_io *io = rd->st->io;
    int rc = io->fsize(io->ctx, rd->fd, &rd->size);
    if (rc != 0)
        return fail(rd, rc, tsagg_strerror(rc), off);
    int after = tsagg__valid_frame_after(io, rd->fd, off, rd->size, rd->synced_flags,
                                         &rd->scratch);
    if (after < 0)
        return fail(rd, after, tsagg_strerror(after), off);
    if (!after)
        return 0;
    if (rd->retry_off != off + 1) {
        rd->retry_off = off + 1;
        return 1;
    }
    return fail(rd, TSAGG_ECORRUPT, "damaged frame (valid frames follow it)", off);
}

/*
 * Read the next frame of the current segment into rd->evs. Returns 1 with
 * events, 0 at the segment's end, or an error.
 */
static int next_frame(tsagg_log_reader *rd)
{
    const tsagg_io *io = rd->st->io;
    for (;;) {
        if (rd->off >= rd->size) {
            if (rd->off > rd->size)
                return fail(rd, TSAGG_ECORRUPT, "frame runs past the end of the file", rd->off);
            return 0;
        }
        if (rd->expect_seq >= rd->r.to_seq)
            return 0;
        uint8_t hdr[FRAME_HEADER_SIZE];
        frame_header h;
        int rc = rd->size - rd->off >= FRAME_HEADER_SIZE
                     ? tsagg__read_all(io, rd->fd, hdr, sizeof hdr, rd->off, NULL)
                     : 1;
        if (rc < 0)
            return fail(rd, rc, tsagg_strerror(rc), rd->off);
        if (rc == 0)
            rc = tsagg__frame_header_decode(hdr, &h);
        if (rc == 0 && rd->size - rd->off - FRAME_HEADER_SIZE < h.stored)
            rc = 1;
        if (rc == 0 && h.type == FRAME_EVENTS && h.first_seq != rd->expect_seq)
            rc = TSAGG_ECORRUPT;
        if (rc != 0) {
            if (!rd->final) {
                rc = tail_or_damage(rd, rd->off);
                if (rc == 1)
                    continue;
                return rc;
            }
            return fail(rd, rc == 1 ? TSAGG_ECORRUPT : rc, "bad or truncated frame", rd->off);
        }
        uint64_t off = rd->off;
        rd->off += FRAME_HEADER_SIZE + h.stored;
        if (h.type == FRAME_SEAL) {
            if (rd->off != rd->size)
                return fail(rd, TSAGG_ECORRUPT, "data after the seal", rd->off);
            return 0;
        }
        rd->expect_seq = h.first_seq + h.count;
        int wanted = h.first_seq + h.count > rd->r.from_seq && h.max_ts >= rd->r.ts_from &&
                     before_end(rd, h.min_ts);
        if (!wanted)
            continue;
        rd->payload.len = 0;
        rc = tsagg__buf_reserve(&rd->payload, h.stored ? h.stored : 1);
        if (rc == 0)
            rc = tsagg__read_all(io, rd->fd, rd->payload.p, h.stored, off + FRAME_HEADER_SIZE, NULL);
        if (rc < 0)
            return fail(rd, rc, tsagg_strerror(rc), off);
        if (rc == 0)
            rc = tsagg__frame_verify(hdr, rd->payload.p, h.stored, h.checksum);
        if (rc != 0) {
            if (!rd->final) {
                /* Stop before this frame, so that it is read again (and its
                 * events are not skipped) if it completes. */
                rd->off = off;
                rd->expect_seq = h.first_seq;
                rc = tail_or_damage(rd, off);
                if (rc == 1)
                    continue;
                return rc;
            }
            return fail(rd, rc == 1 ? TSAGG_ECORRUPT : rc, "checksum mismatch in frame", off);
        }
        rc = tsagg__frame_decode(&h, rd->payload.p, &rd->scratch, &rd->evs);
        if (rc != 0)
            return fail(rd, rc, "undecodable events in frame", off);
        rd->frame_seq = h.first_seq;
        rd->evi = 0;
        return 1;
    }
}

/* Move to the next segment that may hold wanted events: 1, 0 at the end. */
static int advance_segment(tsagg_log_reader *rd)
{
    for (;;) {
        if (rd->fd >= 0) {
            int was_last = rd->segi + 1 == rd->nsegs;
            if (was_last && !rd->final) {
                /* A successor appearing means this one was sealed meanwhile:
                 * finish it before moving on. */
                int rc = relist(rd);
                if (rc != 0)
                    return rc;
                if (rd->segi + 1 >= rd->nsegs)
                    return 0;
                rd->final = 1;
                rc = rd->st->io->fsize(rd->st->io->ctx, rd->fd, &rd->size);
                if (rc != 0)
                    return fail(rd, rc, tsagg_strerror(rc), 0);
                if (rd->off < rd->size)
                    return 1;
            }
            close_segment(rd);
            rd->segi++;
        }
        if (rd->segi >= rd->nsegs)
            return 0;
        if (rd->expect_seq >= rd->r.to_seq && rd->expect_seq)
            return 0;
        int rc = open_segment(rd);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return 1;
        if (rd->segi + 1 == rd->nsegs && rd->fd >= 0 && rd->size < SEG_HEADER_SIZE) {
            close_segment(rd);
            return 0;
        }
    }
}

int tsagg_log_reader_next(tsagg_log_reader *rd, const tsagg_event **ev, uint64_t *seq)
{
    if (rd->err)
        return rd->err;
    if (rd->done)
        return 0;
    for (;;) {
        while (rd->evi < rd->evs.n) {
            size_t i = rd->evi++;
            uint64_t s = rd->frame_seq + i;
            const tsagg_event *e = &rd->evs.evs[i];
            if (s < rd->r.from_seq || e->ts < rd->r.ts_from || !before_end(rd, e->ts))
                continue;
            if (s >= rd->r.to_seq) {
                rd->done = 1;
                return 0;
            }
            *ev = e;
            if (seq)
                *seq = s;
            return 1;
        }
        rd->evs.n = 0;
        int rc = rd->fd >= 0 ? next_frame(rd) : 0;
        if (rc < 0)
            return rc;
        if (rc == 1)
            continue;
        rc = advance_segment(rd);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            rd->done = 1;
            return 0;
        }
    }
}

int tsagg_log_segments(tsagg_store *st, tsagg_segment_info *infos, size_t cap)
{
    const tsagg_io *io = st->io;
    /* The caller's element size: the stride of its array. */
    size_t stride = cap ? tsagg__out_size(infos[0].struct_size, TSAGG__SEGMENT_INFO_SIZE_1,
                                          sizeof *infos)
                        : 0;
    if (cap && !stride)
        return tsagg__fail(st, TSAGG_EARG, "tsagg_segment_info.struct_size %u out of range",
                           (unsigned)infos[0].struct_size);
    uint64_t *nums;
    size_t n;
    int rc = tsagg__list_segments(io, st->log_dir, &nums, &n);
    if (rc != 0)
        return tsagg__fail(st, rc, "%s: %s", st->log_dir, tsagg_strerror(rc));
    uint64_t prev_last = 0;
    for (size_t i = 0; rc == 0 && i < n && i < cap; i++) {
        char path[TSAGG_PATH_MAX + 32];
        tsagg__segment_path(st, nums[i], path, sizeof path);
        int fd = io->open(io->ctx, path, O_RDONLY | O_NONBLOCK, 0);
        if (fd < 0) {
            rc = tsagg__fail(st, fd, "%s: %s", path, tsagg_strerror(fd));
            break;
        }
        tsagg_segment_info full, *si = &full;
        memset(si, 0, sizeof *si);
        si->number = nums[i];
        uint8_t hb[SEG_HEADER_SIZE];
        seg_header h;
        rc = io->fsize(io->ctx, fd, &si->bytes);
        if (rc == 0 && si->bytes >= SEG_HEADER_SIZE) {
            rc = tsagg__read_all(io, fd, hb, sizeof hb, 0, NULL);
            if (rc == 0)
                rc = tsagg__seg_header_decode(hb, &h);
            seal_info seal;
            int sealed = rc == 0 ? tsagg__read_seal(io, fd, si->bytes, &seal) : rc;
            if (sealed == 0) {
                si->sealed = 1;
                si->first_seq = h.first_seq;
                si->last_seq = seal.last_seq;
                si->min_ts = seal.min_ts;
                si->max_ts = seal.max_ts;
            } else if (sealed == 1) {
                seg_scan sc;
                rc = tsagg__seg_scan(io, fd, si->bytes, h.first_seq, 0, &sc);
                si->first_seq = h.first_seq;
                si->last_seq = sc.next_seq - 1;
                si->min_ts = sc.min_ts;
                si->max_ts = sc.max_ts;
            } else {
                rc = sealed;
            }
            si->archived = rc == 0 && h.kind == SEG_KIND_ARCHIVE;
            if (rc != 0)
                tsagg__fail(st, rc, "%s: %s", path, tsagg_strerror(rc));
        } else if (rc == 0) {
            /* Cut before its header was written (a crash while creating
             * it): empty, continuing the segment before it. */
            si->first_seq = prev_last + 1;
            si->last_seq = si->first_seq - 1;
            si->min_ts = INT64_MAX;
            si->max_ts = INT64_MIN;
        }
        io->close(io->ctx, fd);
        prev_last = si->last_seq;
        TSAGG__OUT_COPY((char *)infos + i * stride, si, stride);
    }
    free(nums);
    return rc != 0 ? rc : (int)n;
}
