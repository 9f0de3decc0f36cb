/*
 * partfile_block.c - the framing shared by every block of a partition file
 * (column, dictionary, rollup): a 24-byte header with codec, lengths and an
 * XXH3-64 over header and stored bytes. Layout: partfile_format.h.
 */
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>
#include <zstd.h>

#include "bytes.h"
#include "partfile_format.h"
#include "tsagg_errors.h"

static uint64_t block_checksum(const uint8_t *hdr, const uint8_t *stored, size_t len)
{
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    XXH3_64bits_update(&st, hdr, 16);
    XXH3_64bits_update(&st, stored, len);
    return XXH3_64bits_digest(&st);
}

int tsagg__pf_block_append(tsagg__buf *out, void *cctx, unsigned pay_shift, uint8_t kind,
                           uint16_t column, uint32_t ordinal, const uint8_t *raw, size_t raw_len)
{
    if (raw_len > PF_RAW_MAX || pay_shift > 31)
        return TSAGG_EARG;
    int try_zstd = cctx && raw_len >= PF_ZSTD_MIN;
    size_t room = try_zstd ? ZSTD_compressBound(raw_len) : raw_len;
    if (room < raw_len)
        room = raw_len;
    int rc = tsagg__buf_reserve(out, PF_BLOCK_HEADER + room);
    if (rc != 0)
        return rc;
    uint8_t *hdr = out->p + out->len, *body = hdr + PF_BLOCK_HEADER;
    uint8_t codec = PF_CODEC_NONE;
    size_t stored = raw_len;
    if (try_zstd) {
        size_t z = ZSTD_compressCCtx(cctx, body, room, raw, raw_len, PF_ZSTD_LEVEL);
        if (!ZSTD_isError(z) && z <= raw_len - (raw_len >> pay_shift)) {
            codec = PF_CODEC_ZSTD;
            stored = z;
        }
    }
    if (codec == PF_CODEC_NONE && raw_len)
        memcpy(body, raw, raw_len);
    hdr[0] = kind;
    hdr[1] = codec;
    tsagg__put_u16(hdr + 2, column);
    tsagg__put_u32(hdr + 4, ordinal);
    tsagg__put_u32(hdr + 8, (uint32_t)stored);
    tsagg__put_u32(hdr + 12, (uint32_t)raw_len);
    tsagg__put_u64(hdr + 16, block_checksum(hdr, body, stored));
    out->len += PF_BLOCK_HEADER + stored;
    return 0;
}

int tsagg__pf_block_check(const uint8_t *blk, size_t len, uint8_t kind, uint16_t column,
                          uint32_t ordinal, uint32_t raw_max, pf_block_header *h, const char **why)
{
    if (len < PF_BLOCK_HEADER) {
        *why = "block shorter than its header";
        return TSAGG_ECORRUPT;
    }
    h->kind = blk[0];
    h->codec = blk[1];
    h->column = tsagg__get_u16(blk + 2);
    h->ordinal = tsagg__get_u32(blk + 4);
    h->stored = tsagg__get_u32(blk + 8);
    h->raw = tsagg__get_u32(blk + 12);
    h->checksum = tsagg__get_u64(blk + 16);
    if (h->stored != len - PF_BLOCK_HEADER) {
        *why = "block length disagrees with the footer";
        return TSAGG_ECORRUPT;
    }
    if (block_checksum(blk, blk + PF_BLOCK_HEADER, h->stored) != h->checksum) {
        *why = "block checksum mismatch";
        return TSAGG_ECHECKSUM;
    }
    if (h->kind != kind || h->column != column || h->ordinal != ordinal) {
        *why = "not the block the footer says is there";
        return TSAGG_ECORRUPT;
    }
    if ((h->codec != PF_CODEC_NONE && h->codec != PF_CODEC_ZSTD) || h->raw > raw_max ||
        (h->codec == PF_CODEC_NONE && h->stored != h->raw)) {
        *why = "bad block codec or length";
        return TSAGG_ECORRUPT;
    }
    return 0;
}

int tsagg__pf_block_raw(const uint8_t *blk, const pf_block_header *h, void *dctx,
                        const uint8_t **raw, uint8_t **owned)
{
    const uint8_t *stored = blk + PF_BLOCK_HEADER;
    *owned = NULL;
    if (h->codec == PF_CODEC_NONE) {
        *raw = stored;
        return 0;
    }
    uint8_t *buf = malloc(h->raw ? h->raw : 1);
    if (!buf)
        return -ENOMEM;
    size_t n = ZSTD_decompressDCtx(dctx, buf, h->raw, stored, h->stored);
    if (ZSTD_isError(n) || n != h->raw) {
        free(buf);
        return TSAGG_ECORRUPT;
    }
    *raw = buf;
    *owned = buf;
    return 0;
}
