/*
 * logend.c - where the log ends, against the position the manifest says
 * compaction consumed.
 *
 * Every event up to the manifest's consumed sequence number was compacted,
 * so the log holds it. A log that ends below it (log/ restored from a
 * backup older than MANIFEST, a segment truncated or emptied) must not be
 * written to: the writer would number new events from the log's end, and
 * each of them up to the consumed position would count as compacted, never
 * in the tail and never compacted.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "log_internal.h"

/*
 * Walk the frame headers of an unsealed segment (payloads are not read)
 * until the sequence numbers pass `want` or the valid frames end. *next
 * gets the number after the last event seen. *damaged is set when a bad
 * frame was durable (the rule of tsagg__seg_scan): the log is damaged there
 * rather than short, which the reader and tsagg_verify() report.
 */
static int walk_headers(const tsagg_io *io, int fd, uint64_t size, const seg_header *sh,
                        uint64_t want, uint64_t *next, int *damaged)
{
    uint64_t off = SEG_HEADER_SIZE, seq = sh->first_seq;
    int rc = 0, ended_badly = 0;
    while (seq <= want && off < size) {
        uint8_t hdr[FRAME_HEADER_SIZE];
        frame_header h;
        if (size - off < FRAME_HEADER_SIZE) {
            ended_badly = 1;
            break;
        }
        rc = tsagg__read_all(io, fd, hdr, sizeof hdr, off, NULL);
        if (rc != 0) {
            ended_badly = rc > 0;
            rc = rc > 0 ? 0 : rc;
            break;
        }
        if (tsagg__frame_header_decode(hdr, &h) != 0 || size - off - FRAME_HEADER_SIZE < h.stored ||
            (h.type == FRAME_EVENTS && h.first_seq != seq)) {
            ended_badly = 1;
            break;
        }
        if (h.type == FRAME_SEAL)
            break;
        seq += h.count;
        off += FRAME_HEADER_SIZE + h.stored;
    }
    *next = seq;
    *damaged = 0;
    if (rc == 0 && ended_badly && seq <= want) {
        tsagg__buf scratch = {0};
        int after = tsagg__valid_frame_after(io, fd, off, size, sh->version >= 2, &scratch);
        tsagg__buf_free(&scratch);
        if (after < 0)
            rc = after;
        *damaged = after > 0;
    }
    return rc;
}

/*
 * The log's last sequence number as far as it matters: *end is exact, or
 * at least `want` when the log certainly reaches it. *known is 0 when the
 * log's own damage keeps it from being told (then nothing is concluded
 * here). 0 or -errno.
 */
static int log_end(tsagg_store *st, uint64_t want, uint64_t *end, int *known)
{
    const tsagg_io *io = st->io;
    uint64_t *nums = NULL;
    size_t count = 0;
    *end = 0;
    *known = 1;
    int rc = tsagg__list_segments(io, st->log_dir, &nums, &count);
    if (rc == -ENOENT)
        rc = 0;
    for (size_t i = count; rc == 0 && i-- > 0;) {
        char path[TSAGG_PATH_MAX + 32];
        tsagg__segment_path(st, nums[i], path, sizeof path);
        int fd = io->open(io->ctx, path, O_RDONLY | O_NONBLOCK, 0);
        if (fd < 0) {
            rc = fd;
            break;
        }
        uint64_t size = 0;
        uint8_t hb[SEG_HEADER_SIZE];
        seg_header h;
        seal_info seal;
        rc = io->fsize(io->ctx, fd, &size);
        if (rc == 0 && size < SEG_HEADER_SIZE && i + 1 == count) {
            io->close(io->ctx, fd); /* being created: the one before ends the log */
            continue;
        }
        int hrc = rc == 0 ? tsagg__read_all(io, fd, hb, sizeof hb, 0, NULL) : 0;
        if (rc == 0 && (hrc != 0 || tsagg__seg_header_decode(hb, &h) != 0)) {
            rc = hrc < 0 ? hrc : 0;
            *known = 0;
        } else if (rc == 0 && h.first_seq > want) {
            *end = h.first_seq - 1;
        } else if (rc == 0 && (rc = tsagg__read_seal(io, fd, size, &seal)) == 0) {
            *end = seal.last_seq;
        } else if (rc == 1) {
            uint64_t next;
            int damaged;
            rc = walk_headers(io, fd, size, &h, want, &next, &damaged);
            *end = next - 1;
            *known = !damaged;
        }
        io->close(io->ctx, fd);
        break;
    }
    free(nums);
    return rc;
}

int tsagg__log_check_consumed(tsagg_store *st, uint64_t consumed, uint64_t *end)
{
    int known = 1;
    int rc = 0;
    *end = consumed;
    if (consumed == 0)
        return 0;
    if (st->writer)
        *end = tsagg_last_seq(st); /* exact: recovery has just scanned it */
    else
        rc = log_end(st, consumed, end, &known);
    if (rc != 0)
        return tsagg__fail(st, rc, "%s: %s", st->log_dir, tsagg_strerror(rc));
    if (!known || *end >= consumed)
        return 0;
    return tsagg__fail(st, TSAGG_ECORRUPT,
                       "%s: ends at sequence %" PRIu64 ", below the %" PRIu64 " that MANIFEST "
                       "records as compacted (log/ older than MANIFEST, or a segment cut short): "
                       "new events would reuse those numbers. Restore log/ from the copy "
                       "MANIFEST came from, or accept the loss with tsagg-verify --salvage",
                       st->log_dir, *end, consumed);
}
