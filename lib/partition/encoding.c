/*
 * encoding.c - the pieces of the block API that belong to no one codec:
 * output bounds and tag names. The codecs live in bitpack.c (bit packing),
 * pfor.c (patched frame of reference), intcodec.c (integer blocks),
 * floatcodec.c (double blocks) and strtab.c (string tables).
 */
#include "enc_internal.h"
#include "tsagg_errors.h"

size_t tsagg__enc_bound(enum tsagg_enc_kind kind, size_t n)
{
    if (n > TSAGG_ENC_MAX_N)
        return 0;
    switch (kind) {
    case TSAGG_ENC_I64:
    case TSAGG_ENC_U64:
    case TSAGG_ENC_ID:
    case TSAGG_ENC_F64:
        return 1 + 8 * n; /* RAW64, which every 64-bit kind may fall back to */
    case TSAGG_ENC_U32:
        return 1 + 4 * n; /* RAW32 */
    }
    return 0;
}

const char *tsagg__enc_tag_name(int tag)
{
    switch (tag) {
    case TSAGG_ENC_TAG_RAW64: return "RAW64";
    case TSAGG_ENC_TAG_RAW32: return "RAW32";
    case TSAGG_ENC_TAG_FOR: return "FOR";
    case TSAGG_ENC_TAG_DELTA: return "DELTA";
    case TSAGG_ENC_TAG_DOD: return "DOD";
    case TSAGG_ENC_TAG_DICT: return "DICT";
    case TSAGG_ENC_TAG_DICTREF: return "DICTREF";
    case TSAGG_ENC_TAG_DELTAHUF: return "DELTAHUF";
    case TSAGG_ENC_TAG_DICTREFHUF: return "DICTREFHUF";
    case TSAGG_ENC_TAG_U32HUF: return "U32HUF";
    case TSAGG_ENC_TAG_U32FOR: return "U32FOR";
    case TSAGG_ENC_TAG_F64DEC: return "F64DEC";
    case TSAGG_ENC_TAG_F64XOR: return "F64XOR";
    case TSAGG_ENC_TAG_STRTAB: return "STRTAB";
    }
    return "?";
}

int tsagg__enc_block_tag(const uint8_t *in, size_t len)
{
    if (!in || len < 1)
        return TSAGG_ECORRUPT;
    return tsagg__enc_tag_name(in[0])[0] == '?' ? TSAGG_ECORRUPT : in[0];
}
