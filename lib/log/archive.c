/*
 * archive.c - rewrite sealed live segments in the archive form: the same
 * events, sequence numbers and seal, in frames of about ARCHIVE_FRAME_BYTES
 * of columnar encoding compressed with zstd. The new file replaces the old
 * atomically (temporary name, fsync, rename, directory fsync); a reader that
 * still has the old file open keeps reading it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "columns.h"
#include "fileio.h"
#include "log_internal.h"

#define ARCHIVE_FRAME_BYTES (8u << 20)

typedef struct archive_job {
    tsagg_store *st;
    const tsagg_io *io;
    char src_path[TSAGG_PATH_MAX + 32];
    char tmp_path[TSAGG_PATH_MAX + 40];
    int src, dst;
    uint64_t dst_off;
    int level;
    tsagg__colb cols;
    uint64_t batch_first_seq;
    int64_t batch_min, batch_max;
    uint64_t frames;
    tsagg__buf raw, packed;
} archive_job;

static int emit(archive_job *j)
{
    if (j->cols.nevents == 0)
        return 0;
    j->raw.len = 0;
    int rc = tsagg__colb_finish(&j->cols, &j->raw);
    if (rc != 0)
        return rc;
    size_t bound = ZSTD_compressBound(j->raw.len);
    j->packed.len = 0;
    rc = tsagg__buf_reserve(&j->packed, FRAME_HEADER_SIZE + bound);
    if (rc != 0)
        return rc;
    size_t n = ZSTD_compress(j->packed.p + FRAME_HEADER_SIZE, bound, j->raw.p, j->raw.len, j->level);
    if (ZSTD_isError(n))
        return -ENOMEM;
    frame_header h = {.type = FRAME_EVENTS, .codec = CODEC_ZSTD, .encoding = ENC_COLUMNS,
                      .stored = (uint32_t)n, .raw = (uint32_t)j->raw.len,
                      .first_seq = j->batch_first_seq, .count = j->cols.nevents,
                      .min_ts = j->batch_min, .max_ts = j->batch_max};
    tsagg__frame_header_encode(&h, j->packed.p + FRAME_HEADER_SIZE, j->packed.p);
    rc = tsagg__write_all(j->io, j->dst, j->packed.p, FRAME_HEADER_SIZE + n, j->dst_off);
    if (rc != 0)
        return tsagg__fail(j->st, rc, "%s: write: %s", j->tmp_path, tsagg_strerror(rc));
    j->dst_off += FRAME_HEADER_SIZE + n;
    j->frames++;
    j->batch_first_seq += j->cols.nevents;
    j->batch_min = INT64_MAX;
    j->batch_max = INT64_MIN;
    tsagg__colb_reset(&j->cols);
    return 0;
}

/* Copy every event of the sealed source into archive frames. */
static int convert(archive_job *j, const seg_header *sh, uint64_t size, seal_info *seal)
{
    tsagg__buf payload = {0}, scratch = {0};
    tsagg__events evs = {0};
    uint64_t off = SEG_HEADER_SIZE, expect = sh->first_seq;
    int rc = 0;
    j->batch_first_seq = sh->first_seq;
    j->batch_min = INT64_MAX;
    j->batch_max = INT64_MIN;
    while (rc == 0 && off + SEAL_FRAME_SIZE < size) {
        uint8_t hdr[FRAME_HEADER_SIZE];
        frame_header h;
        rc = tsagg__read_all(j->io, j->src, hdr, sizeof hdr, off, NULL);
        if (rc == 0)
            rc = tsagg__frame_header_decode(hdr, &h);
        if (rc == 0 && (h.type != FRAME_EVENTS || h.first_seq != expect ||
                        off + FRAME_HEADER_SIZE + h.stored > size - SEAL_FRAME_SIZE))
            rc = TSAGG_ECORRUPT;
        payload.len = 0;
        if (rc == 0)
            rc = tsagg__buf_reserve(&payload, h.stored ? h.stored : 1);
        if (rc == 0)
            rc = tsagg__read_all(j->io, j->src, payload.p, h.stored, off + FRAME_HEADER_SIZE, NULL);
        if (rc == 0)
            rc = tsagg__frame_verify(hdr, payload.p, h.stored, h.checksum);
        if (rc == 0)
            rc = tsagg__frame_decode(&h, payload.p, &scratch, &evs);
        if (rc != 0) {
            rc = tsagg__fail(j->st, rc == 1 ? TSAGG_ECORRUPT : rc,
                             "%s: bad frame at offset %" PRIu64 ": %s", j->src_path, off,
                             tsagg_strerror(rc == 1 ? TSAGG_ECORRUPT : rc));
            break;
        }
        for (size_t i = 0; rc == 0 && i < evs.n; i++) {
            rc = tsagg__colb_add(&j->cols, &evs.evs[i]);
            j->batch_min = evs.evs[i].ts < j->batch_min ? evs.evs[i].ts : j->batch_min;
            j->batch_max = evs.evs[i].ts > j->batch_max ? evs.evs[i].ts : j->batch_max;
        }
        if (rc == 0 && tsagg__colb_size(&j->cols) >= ARCHIVE_FRAME_BYTES)
            rc = emit(j);
        expect += h.count;
        off += FRAME_HEADER_SIZE + h.stored;
    }
    if (rc == 0)
        rc = emit(j);
    if (rc == 0 && (off != size - SEAL_FRAME_SIZE || expect != seal->last_seq + 1))
        rc = tsagg__fail(j->st, TSAGG_ECORRUPT, "%s: frames do not match the seal", j->src_path);
    tsagg__buf_free(&payload);
    tsagg__buf_free(&scratch);
    tsagg__events_free(&evs);
    return rc;
}

static int archive_one(tsagg_store *st, uint64_t number, int level, unsigned *done)
{
    archive_job j = {.st = st, .io = st->io, .src = -1, .dst = -1, .level = level};
    tsagg__colb_init(&j.cols);
    tsagg__segment_path(st, number, j.src_path, sizeof j.src_path);
    snprintf(j.tmp_path, sizeof j.tmp_path, "%s.tmp", j.src_path);
    uint64_t size = 0;
    uint8_t hb[SEG_HEADER_SIZE];
    seg_header sh;
    seal_info seal;
    int rc = 0;
    j.src = j.io->open(j.io->ctx, j.src_path, O_RDONLY | O_NONBLOCK, 0);
    if (j.src < 0) {
        rc = tsagg__fail(st, j.src, "%s: %s", j.src_path, tsagg_strerror(j.src));
        goto out;
    }
    rc = j.io->fsize(j.io->ctx, j.src, &size);
    if (rc == 0)
        rc = size >= SEG_HEADER_SIZE ? tsagg__read_all(j.io, j.src, hb, sizeof hb, 0, NULL)
                                     : TSAGG_ECORRUPT;
    if (rc == 0)
        rc = tsagg__seg_header_decode(hb, &sh);
    if (rc != 0) {
        rc = tsagg__fail(st, rc, "%s: bad segment header: %s", j.src_path, tsagg_strerror(rc));
        goto out;
    }
    if (sh.kind == SEG_KIND_ARCHIVE)
        goto out;
    rc = tsagg__read_seal(j.io, j.src, size, &seal);
    if (rc != 0) {
        rc = tsagg__fail(st, rc < 0 ? rc : TSAGG_ECORRUPT, "%s: not sealed", j.src_path);
        goto out;
    }
    j.dst = j.io->open(j.io->ctx, j.tmp_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (j.dst < 0) {
        rc = tsagg__fail(st, j.dst, "%s: %s", j.tmp_path, tsagg_strerror(j.dst));
        goto out;
    }
    sh.kind = SEG_KIND_ARCHIVE;
    tsagg__seg_header_encode(&sh, hb);
    rc = tsagg__write_all(j.io, j.dst, hb, sizeof hb, 0);
    j.dst_off = SEG_HEADER_SIZE;
    if (rc == 0)
        rc = convert(&j, &sh, size, &seal);
    if (rc == 0) {
        uint8_t sb[SEAL_FRAME_SIZE];
        seal.frames = j.frames;
        tsagg__seal_encode(&seal, sh.first_seq, sb);
        rc = tsagg__write_all(j.io, j.dst, sb, sizeof sb, j.dst_off);
    }
    if (rc == 0)
        rc = j.io->fsync(j.io->ctx, j.dst);
    if (rc == 0)
        rc = j.io->rename(j.io->ctx, j.tmp_path, j.src_path);
    if (rc == 0)
        rc = tsagg__fsync_dir(j.io, st->log_dir);
    if (rc == 0)
        (*done)++;
    else if (rc > -30000 || rc < -30999)
        tsagg__fail(st, rc, "%s: %s", j.tmp_path, tsagg_strerror(rc));
out:
    if (j.src >= 0)
        j.io->close(j.io->ctx, j.src);
    if (j.dst >= 0) {
        j.io->close(j.io->ctx, j.dst);
        if (rc != 0)
            j.io->unlink(j.io->ctx, j.tmp_path);
    }
    tsagg__colb_free(&j.cols);
    tsagg__buf_free(&j.raw);
    tsagg__buf_free(&j.packed);
    return rc;
}

int tsagg_log_archive(tsagg_store *st, int level, unsigned *count)
{
    if (!st)
        return TSAGG_EARG;
    if (!st->writer)
        return tsagg__fail(st, TSAGG_EREADONLY, "archiving needs a writable store");
    if (level == 0)
        level = 9;
    if (level < 1 || level > ZSTD_maxCLevel())
        return tsagg__fail(st, TSAGG_EARG, "zstd level %d out of range", level);
    uint64_t active = tsagg__writer_open_segment(st);
    uint64_t *nums;
    size_t n;
    int rc = tsagg__list_segments(st->io, st->log_dir, &nums, &n);
    if (rc != 0)
        return tsagg__fail(st, rc, "%s: %s", st->log_dir, tsagg_strerror(rc));
    unsigned done = 0;
    for (size_t i = 0; rc == 0 && i < n && nums[i] < active; i++)
        rc = archive_one(st, nums[i], level, &done);
    free(nums);
    if (count)
        *count = done;
    return rc;
}
