/*
 * shortmem.h - NUL scans of short strings, inlined, a word at a time.
 *
 * Event names, attribute keys and values are mostly under 32 bytes, and an
 * append scans a dozen per event: a libc call per string costs more than
 * its bytes. These read and write exactly the len bytes given (overlapping
 * word loads, never past the end) and hand longer strings to libc. The
 * span buffer reads short strings whole with the same word loads.
 */
#ifndef TSAGG_SHORTMEM_H
#define TSAGG_SHORTMEM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Strings longer than this go to libc's memcpy and memchr. */
#define TSAGG__SHORT_MAX 32

static inline uint64_t tsagg__load64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint32_t tsagg__load32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Whether one of the bytes of v is zero: exactly when
 * (v - 0x01..01) & ~v & 0x80..80 is not zero. */
static inline int tsagg__has_zero64(uint64_t v)
{
    return ((v - UINT64_C(0x0101010101010101)) & ~v & UINT64_C(0x8080808080808080)) != 0;
}

static inline int tsagg__has_zero32(uint32_t v)
{
    return ((v - 0x01010101u) & ~v & 0x80808080u) != 0;
}

/* The offset of the first NUL byte in the len bytes at s, or -1. Short
 * strings are tested a word at a time, the last word overlapping the one
 * before; only a string that holds a NUL is searched byte by byte. */
static inline long tsagg__nul_at(const char *s, size_t len)
{
    int any = 0;
    if (len > TSAGG__SHORT_MAX) {
        any = 1;
    } else if (len >= 8) {
        for (size_t i = 0; i + 8 < len; i += 8)
            any |= tsagg__has_zero64(tsagg__load64(s + i));
        any |= tsagg__has_zero64(tsagg__load64(s + len - 8));
    } else if (len >= 4) {
        any = tsagg__has_zero32(tsagg__load32(s)) | tsagg__has_zero32(tsagg__load32(s + len - 4));
    } else {
        for (size_t i = 0; i < len; i++)
            any |= s[i] == 0;
    }
    const char *z = any ? memchr(s, 0, len) : NULL;
    return z ? (long)(z - s) : -1;
}

/* Copy len bytes from src to dst (not overlapping), and say whether they
 * hold a NUL: the bytes are tested as they pass, in the words that copy
 * them. */
static inline int tsagg__copy_has_nul(void *dst, const void *src, size_t len)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (len > TSAGG__SHORT_MAX) {
        memcpy(d, s, len);
        return memchr(s, 0, len) != NULL;
    }
    if (len > 16) {
        uint64_t a = tsagg__load64(s), b = tsagg__load64(s + 8);
        uint64_t y = tsagg__load64(s + len - 16), z = tsagg__load64(s + len - 8);
        memcpy(d, &a, 8);
        memcpy(d + 8, &b, 8);
        memcpy(d + len - 16, &y, 8);
        memcpy(d + len - 8, &z, 8);
        return tsagg__has_zero64(a) | tsagg__has_zero64(b) | tsagg__has_zero64(y) |
               tsagg__has_zero64(z);
    }
    if (len >= 8) {
        uint64_t a = tsagg__load64(s), z = tsagg__load64(s + len - 8);
        memcpy(d, &a, 8);
        memcpy(d + len - 8, &z, 8);
        return tsagg__has_zero64(a) | tsagg__has_zero64(z);
    }
    if (len >= 4) {
        uint32_t a = tsagg__load32(s), z = tsagg__load32(s + len - 4);
        memcpy(d, &a, 4);
        memcpy(d + len - 4, &z, 4);
        return tsagg__has_zero32(a) | tsagg__has_zero32(z);
    }
    int any = 0;
    for (size_t i = 0; i < len; i++)
        any |= (d[i] = s[i]) == 0;
    return any;
}

#endif
