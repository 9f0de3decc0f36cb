/*
 * strtab.c - string tables: the dictionary of a string column (code ->
 * bytes).
 *
 *   offset        size        field
 *   0             1           tag 0x40
 *   1             4           count, u32 LE
 *   5             4*(count+1) offsets into the data, u32 LE: offsets[0] = 0,
 *                             non-decreasing, offsets[count] = data length
 *   9 + 4*count   data length the strings, back to back
 *
 * The lengths are implied by consecutive offsets; storing offsets rather
 * than length prefixes makes a lookup one read, on the bytes themselves.
 */
#include <errno.h>

#include "enc_internal.h"
#include "tsagg_errors.h"

#define STRTAB_HEAD 9 /* tag + count + offsets[0] */

size_t tsagg__strtab_size(uint32_t count, size_t data_len)
{
    if (data_len > UINT32_MAX)
        return 0;
    return STRTAB_HEAD + 4 * (size_t)count + data_len;
}

int tsagg__strtab_encode(const char *const *strs, const size_t *lens, uint32_t count,
                         uint8_t *out, size_t cap, size_t *written)
{
    if (!written || (count && (!strs || !lens)) || (cap && !out))
        return TSAGG_EARG;
    size_t total = 0;
    for (uint32_t i = 0; i < count; i++) {
        if (lens[i] > UINT32_MAX - total || (lens[i] && !strs[i]))
            return TSAGG_EARG;
        total += lens[i];
    }
    size_t size = tsagg__strtab_size(count, total);
    *written = size;
    if (cap < size)
        return -ENOBUFS;
    out[0] = TSAGG_ENC_TAG_STRTAB;
    tsagg__put_u32(out + 1, count);
    uint8_t *offs = out + 5, *data = out + STRTAB_HEAD + 4 * (size_t)count;
    uint32_t off = 0;
    for (uint32_t i = 0; i < count; i++) {
        tsagg__put_u32(offs + 4 * (size_t)i, off);
        if (lens[i])
            memcpy(data + off, strs[i], lens[i]);
        off += (uint32_t)lens[i];
    }
    tsagg__put_u32(offs + 4 * (size_t)count, off);
    return 0;
}

int tsagg__strtab_open(tsagg__strtab *t, const uint8_t *in, size_t len)
{
    if (!t || (len && !in))
        return TSAGG_EARG;
    if (len < STRTAB_HEAD || in[0] != TSAGG_ENC_TAG_STRTAB)
        return TSAGG_ECORRUPT;
    uint32_t count = tsagg__get_u32(in + 1);
    if (count > (len - STRTAB_HEAD) / 4)
        return TSAGG_ECORRUPT;
    const uint8_t *offs = in + 5;
    size_t data_len = len - STRTAB_HEAD - 4 * (size_t)count;
    uint32_t prev = 0;
    for (uint32_t i = 0; i <= count; i++) {
        uint32_t o = tsagg__get_u32(offs + 4 * (size_t)i);
        if ((i == 0 && o != 0) || o < prev)
            return TSAGG_ECORRUPT;
        prev = o;
    }
    if (prev != data_len)
        return TSAGG_ECORRUPT;
    t->offs = offs;
    t->data = offs + 4 * ((size_t)count + 1);
    t->count = count;
    return 0;
}

int tsagg__strtab_get(const tsagg__strtab *t, uint32_t code, const char **s, size_t *len)
{
    if (code >= t->count)
        return TSAGG_EARG;
    uint32_t a = tsagg__get_u32(t->offs + 4 * (size_t)code);
    uint32_t b = tsagg__get_u32(t->offs + 4 * (size_t)code + 4);
    *s = (const char *)t->data + a;
    *len = b - a;
    return 0;
}

int tsagg__strtab_find(const tsagg__strtab *t, const char *s, size_t len, uint32_t *code)
{
    uint32_t a = 0;
    for (uint32_t i = 0; i < t->count; i++) {
        uint32_t b = tsagg__get_u32(t->offs + 4 * ((size_t)i + 1));
        if (b - a == len && (len == 0 || memcmp(t->data + a, s, len) == 0)) {
            *code = i;
            return 1;
        }
        a = b;
    }
    return 0;
}
