/*
 * segment.c - segment headers, frame headers, seals, and the frame scan
 * shared by recovery, the reader and the archiver. Layouts: log_internal.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>
#include <zstd.h>

#include "bytes.h"
#include "fileio.h"
#include "log_internal.h"

void tsagg__events_free(tsagg__events *e)
{
    free(e->evs);
    free(e->attrs);
    memset(e, 0, sizeof *e);
}

void tsagg__seg_header_encode(const seg_header *h, uint8_t out[SEG_HEADER_SIZE])
{
    memcpy(out, SEG_MAGIC, 8);
    tsagg__put_u16(out + 8, SEG_VERSION);
    tsagg__put_u16(out + 10, h->kind);
    tsagg__put_u32(out + 12, SEG_HEADER_SIZE);
    tsagg__put_u64(out + 16, h->number);
    tsagg__put_u64(out + 24, h->first_seq);
    tsagg__put_u64(out + 32, h->schema_id);
    tsagg__put_u64(out + 40, (uint64_t)h->created);
    tsagg__put_u64(out + 48, 0);
    tsagg__put_u64(out + 56, XXH64(out, 56, 0));
}

int tsagg__seg_header_decode(const uint8_t in[SEG_HEADER_SIZE], seg_header *h)
{
    if (memcmp(in, SEG_MAGIC, 8) != 0)
        return TSAGG_ECORRUPT;
    if (XXH64(in, 56, 0) != tsagg__get_u64(in + 56))
        return TSAGG_ECHECKSUM;
    h->version = tsagg__get_u16(in + 8);
    if (h->version < SEG_VERSION_MIN || h->version > SEG_VERSION)
        return TSAGG_EVERSION;
    h->kind = tsagg__get_u16(in + 10);
    if (tsagg__get_u32(in + 12) != SEG_HEADER_SIZE || h->kind > SEG_KIND_ARCHIVE)
        return TSAGG_ECORRUPT;
    h->number = tsagg__get_u64(in + 16);
    h->first_seq = tsagg__get_u64(in + 24);
    h->schema_id = tsagg__get_u64(in + 32);
    h->created = (int64_t)tsagg__get_u64(in + 40);
    return 0;
}

static uint64_t frame_checksum(const uint8_t *header_bytes, const uint8_t *payload,
                               uint64_t stored_len)
{
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, header_bytes, 48);
    XXH3_64bits_update(&st, payload, (size_t)stored_len);
    return XXH3_64bits_digest(&st);
}

void tsagg__frame_header_encode(frame_header *h, const uint8_t *payload, uint8_t *out)
{
    memcpy(out, FRAME_MAGIC, 4);
    out[4] = h->type;
    out[5] = h->codec;
    out[6] = h->encoding;
    out[7] = h->flags;
    tsagg__put_u32(out + 8, h->stored);
    tsagg__put_u32(out + 12, h->raw);
    tsagg__put_u64(out + 16, h->first_seq);
    tsagg__put_u32(out + 24, h->count);
    tsagg__put_u32(out + 28, 0);
    tsagg__put_u64(out + 32, (uint64_t)h->min_ts);
    tsagg__put_u64(out + 40, (uint64_t)h->max_ts);
    h->checksum = frame_checksum(out, payload, h->stored);
    tsagg__put_u64(out + 48, h->checksum);
}

int tsagg__frame_header_decode(const uint8_t *in, frame_header *h)
{
    if (memcmp(in, FRAME_MAGIC, 4) != 0)
        return TSAGG_ECORRUPT;
    h->type = in[4];
    h->codec = in[5];
    h->encoding = in[6];
    h->flags = in[7];
    h->stored = tsagg__get_u32(in + 8);
    h->raw = tsagg__get_u32(in + 12);
    h->first_seq = tsagg__get_u64(in + 16);
    h->count = tsagg__get_u32(in + 24);
    h->min_ts = (int64_t)tsagg__get_u64(in + 32);
    h->max_ts = (int64_t)tsagg__get_u64(in + 40);
    h->checksum = tsagg__get_u64(in + 48);
    if ((h->flags & ~FRAME_FLAG_SYNCED_BEFORE) || tsagg__get_u32(in + 28) != 0 ||
        h->stored > FRAME_PAYLOAD_MAX ||
        h->raw > FRAME_PAYLOAD_MAX)
        return TSAGG_ECORRUPT;
    if (h->type == FRAME_EVENTS) {
        if (h->codec > CODEC_ZSTD || (h->encoding != ENC_ROWS && h->encoding != ENC_COLUMNS) ||
            h->count == 0)
            return TSAGG_ECORRUPT;
    } else if (h->type == FRAME_SEAL) {
        if (h->flags || h->codec != CODEC_NONE || h->encoding != ENC_NONE || h->count != 0 ||
            h->stored != SEAL_PAYLOAD_SIZE || h->raw != SEAL_PAYLOAD_SIZE)
            return TSAGG_ECORRUPT;
    } else {
        return TSAGG_ECORRUPT;
    }
    if (h->codec == CODEC_NONE && h->stored != h->raw)
        return TSAGG_ECORRUPT;
    return 0;
}

int tsagg__frame_verify(const uint8_t *header_bytes, const uint8_t *payload, uint64_t stored_len,
                        uint64_t checksum)
{
    return frame_checksum(header_bytes, payload, stored_len) == checksum ? 0 : TSAGG_ECHECKSUM;
}

void tsagg__seal_encode(const seal_info *s, uint64_t first_seq, uint8_t out[SEAL_FRAME_SIZE])
{
    uint8_t *p = out + FRAME_HEADER_SIZE;
    tsagg__put_u64(p, s->last_seq);
    tsagg__put_u64(p + 8, s->events);
    tsagg__put_u64(p + 16, (uint64_t)s->min_ts);
    tsagg__put_u64(p + 24, (uint64_t)s->max_ts);
    tsagg__put_u64(p + 32, s->frames);
    frame_header h = {.type = FRAME_SEAL, .codec = CODEC_NONE, .encoding = ENC_NONE,
                      .stored = SEAL_PAYLOAD_SIZE, .raw = SEAL_PAYLOAD_SIZE,
                      .first_seq = first_seq, .count = 0, .min_ts = s->min_ts,
                      .max_ts = s->max_ts};
    tsagg__frame_header_encode(&h, p, out);
}

int tsagg__seal_decode(const uint8_t in[SEAL_FRAME_SIZE], seal_info *s)
{
    frame_header h;
    if (tsagg__frame_header_decode(in, &h) != 0 || h.type != FRAME_SEAL)
        return TSAGG_ECORRUPT;
    const uint8_t *p = in + FRAME_HEADER_SIZE;
    if (tsagg__frame_verify(in, p, SEAL_PAYLOAD_SIZE, h.checksum) != 0)
        return TSAGG_ECHECKSUM;
    s->last_seq = tsagg__get_u64(p);
    s->events = tsagg__get_u64(p + 8);
    s->min_ts = (int64_t)tsagg__get_u64(p + 16);
    s->max_ts = (int64_t)tsagg__get_u64(p + 24);
    s->frames = tsagg__get_u64(p + 32);
    if (s->last_seq + 1 < h.first_seq || s->last_seq + 1 - h.first_seq != s->events)
        return TSAGG_ECORRUPT;
    return 0;
}

int tsagg__read_seal(const tsagg_io *io, int fd, uint64_t size, seal_info *s)
{
    if (size < SEG_HEADER_SIZE + SEAL_FRAME_SIZE)
        return 1;
    uint8_t buf[SEAL_FRAME_SIZE];
    int rc = tsagg__read_all(io, fd, buf, sizeof buf, size - SEAL_FRAME_SIZE, NULL);
    if (rc < 0)
        return rc;
    if (rc == 1)
        return 1;
    return tsagg__seal_decode(buf, s) == 0 ? 0 : 1;
}

/* Read and verify the frame at off. Returns 0 with the header in *h and
 * the payload in *payload, 1 when it is incomplete or invalid, or a
 * negative code when reading fails. */
static int read_frame(const tsagg_io *io, int fd, uint64_t off, uint64_t size, tsagg__buf *payload,
                      frame_header *h, uint8_t hdr[FRAME_HEADER_SIZE])
{
    if (size - off < FRAME_HEADER_SIZE)
        return 1;
    int rc = tsagg__read_all(io, fd, hdr, FRAME_HEADER_SIZE, off, NULL);
    if (rc != 0)
        return rc < 0 ? rc : 1;
    if (tsagg__frame_header_decode(hdr, h) != 0)
        return 1;
    if (size - off - FRAME_HEADER_SIZE < h->stored)
        return 1;
    payload->len = 0;
    rc = tsagg__buf_reserve(payload, h->stored);
    if (rc != 0)
        return rc;
    rc = tsagg__read_all(io, fd, payload->p, h->stored, off + FRAME_HEADER_SIZE, NULL);
    if (rc != 0)
        return rc < 0 ? rc : 1;
    payload->len = h->stored;
    return tsagg__frame_verify(hdr, payload->p, h->stored, h->checksum) == 0 ? 0 : 1;
}

int tsagg__valid_frame_after(const tsagg_io *io, int fd, uint64_t from, uint64_t size,
                             int synced_only, tsagg__buf *payload)
{
    enum { CHUNK = 1 << 16 };
    uint8_t *chunk = malloc(CHUNK + 4);
    if (!chunk)
        return -ENOMEM;
    int found = 0;
    for (uint64_t base = from + 1; base + FRAME_HEADER_SIZE <= size && !found;) {
        size_t want = (size_t)(size - base < CHUNK + 4 ? size - base : CHUNK + 4);
        size_t got = 0;
        int rc = tsagg__read_all(io, fd, chunk, want, base, &got);
        if (rc < 0) {
            free(chunk);
            return rc;
        }
        for (size_t i = 0; i + 4 <= got && !found; i++) {
            if (memcmp(chunk + i, FRAME_MAGIC, 4) != 0)
                continue;
            frame_header h;
            uint8_t hdr[FRAME_HEADER_SIZE];
            rc = read_frame(io, fd, base + i, size, payload, &h, hdr);
            if (rc < 0) {
                free(chunk);
                return rc;
            }
            found = rc == 0 && (!synced_only || (h.flags & FRAME_FLAG_SYNCED_BEFORE));
        }
        base += CHUNK;
    }
    free(chunk);
    return found;
}

/* Whether the segment's frames say when the bytes before them were synced
 * (version 2 and later): 1 in *yes, else 0. */
static int segment_flags_synced(const tsagg_io *io, int fd, int *yes)
{
    uint8_t hb[SEG_HEADER_SIZE];
    seg_header h;
    *yes = 0;
    int rc = tsagg__read_all(io, fd, hb, sizeof hb, 0, NULL);
    if (rc < 0)
        return rc;
    *yes = rc == 0 && tsagg__seg_header_decode(hb, &h) == 0 && h.version >= 2;
    return 0;
}

int tsagg__seg_scan(const tsagg_io *io, int fd, uint64_t size, uint64_t first_seq,
                    int strict_tail, seg_scan *out)
{
    memset(out, 0, sizeof *out);
    out->next_seq = first_seq;
    out->min_ts = INT64_MAX;
    out->max_ts = INT64_MIN;
    tsagg__buf payload = {0};
    uint64_t off = SEG_HEADER_SIZE;
    int rc = 0;
    while (off < size) {
        frame_header h;
        uint8_t hdr[FRAME_HEADER_SIZE];
        rc = read_frame(io, fd, off, size, &payload, &h, hdr);
        if (rc < 0)
            break;
        int bad = rc == 1 || out->sealed;
        if (!bad && h.type == FRAME_EVENTS && h.first_seq != out->next_seq)
            bad = 1;
        if (!bad && h.type == FRAME_SEAL) {
            seal_info s;
            uint8_t whole[SEAL_FRAME_SIZE];
            memcpy(whole, hdr, FRAME_HEADER_SIZE);
            memcpy(whole + FRAME_HEADER_SIZE, payload.p, SEAL_PAYLOAD_SIZE);
            bad = tsagg__seal_decode(whole, &s) != 0 || s.last_seq + 1 != out->next_seq ||
                  s.events != out->events;
        }
        if (bad) {
            rc = 0;
            out->bad_offset = off;
            out->status = 1;
            if (strict_tail) {
                int synced_only;
                rc = segment_flags_synced(io, fd, &synced_only);
                int after =
                    rc == 0 ? tsagg__valid_frame_after(io, fd, off, size, 0, &payload) : 0;
                int durable = after > 0 && synced_only
                                  ? tsagg__valid_frame_after(io, fd, off, size, 1, &payload)
                                  : after;
                if (rc == 0 && (after < 0 || durable < 0))
                    rc = after < 0 ? after : durable;
                else if (durable > 0)
                    out->status = TSAGG_ECORRUPT;
                else
                    out->frames_after = after > 0;
            }
            break;
        }
        if (h.type == FRAME_SEAL) {
            out->sealed = 1;
        } else {
            out->next_seq += h.count;
            out->events += h.count;
            out->frames++;
            if (h.min_ts < out->min_ts)
                out->min_ts = h.min_ts;
            if (h.max_ts > out->max_ts)
                out->max_ts = h.max_ts;
        }
        off += FRAME_HEADER_SIZE + h.stored;
        out->valid_end = off;
        rc = 0;
    }
    if (out->valid_end == 0)
        out->valid_end = SEG_HEADER_SIZE;
    tsagg__buf_free(&payload);
    return rc;
}

int tsagg__frame_decode(const frame_header *h, const uint8_t *payload, tsagg__buf *scratch,
                        tsagg__events *out)
{
    const uint8_t *raw = payload;
    if (h->codec != CODEC_NONE) {
        scratch->len = 0;
        int rc = tsagg__buf_reserve(scratch, h->raw ? h->raw : 1);
        if (rc != 0)
            return rc;
        if (h->codec == CODEC_LZ4) {
            int n = LZ4_decompress_safe((const char *)payload, (char *)scratch->p, (int)h->stored,
                                        (int)h->raw);
            if (n < 0 || (uint32_t)n != h->raw)
                return TSAGG_ECORRUPT;
        } else {
            size_t n = ZSTD_decompress(scratch->p, h->raw, payload, h->stored);
            if (ZSTD_isError(n) || n != h->raw)
                return TSAGG_ECORRUPT;
        }
        scratch->len = h->raw;
        raw = scratch->p;
    }
    if (h->encoding == ENC_ROWS)
        return tsagg__rows_decode(raw, h->raw, h->count, out);
    return tsagg__columns_decode(raw, h->raw, h->count, out);
}

struct list_ctx {
    uint64_t *nums;
    size_t n, cap;
};

static int collect_segment(void *arg, const char *name)
{
    struct list_ctx *c = arg;
    size_t len = strlen(name);
    if (len != 21 || strcmp(name + 16, ".tlog") != 0)
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char ch = name[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0)
            return 0;
        v = v << 4 | (uint64_t)d;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        uint64_t *p = realloc(c->nums, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        c->nums = p;
        c->cap = cap;
    }
    c->nums[c->n++] = v;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int tsagg__list_segments(const tsagg_io *io, const char *log_dir, uint64_t **numbers,
                         size_t *count)
{
    struct list_ctx c = {0};
    int rc = io->list(io->ctx, log_dir, collect_segment, &c);
    if (rc != 0) {
        free(c.nums);
        return rc;
    }
    if (c.n)
        qsort(c.nums, c.n, sizeof *c.nums, cmp_u64);
    *numbers = c.nums;
    *count = c.n;
    return 0;
}

void tsagg__segment_path(const tsagg_store *store, uint64_t number, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%016" PRIx64 ".tlog", store->log_dir, number);
}
