/*
 * fuzz_encoding.c - column block decoders and string tables (encoding.h).
 *
 * Input: byte 0 selects the decoder (value % 6: 0 dec_i64, 1 dec_u64,
 * 2 dec_id, 3 dec_u32, 4 dec_f64, 5 strtab_open; for dec_u32 the dictionary
 * size is 1 << (byte 0 >> 3)), bytes 1-2 the value count n (LE u16, taken
 * mod 4097 so n <= 4096), the rest the block. The decoders promise never to
 * read outside the block nor write outside out[0..n): the output array is
 * malloc'ed at exactly n values so ASan holds them to it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "encoding.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { SEL_I64, SEL_U64, SEL_ID, SEL_U32, SEL_F64, SEL_STRTAB, SEL_COUNT };

static void strtab(const uint8_t *in, size_t len)
{
    tsagg__strtab t;
    if (tsagg__strtab_open(&t, in, len) != 0)
        return;
    volatile uint8_t sink = 0;
    const char *first = NULL;
    size_t first_len = 0;
    for (uint32_t c = 0; c < t.count; c++) {
        const char *s;
        size_t n;
        if (tsagg__strtab_get(&t, c, &s, &n) != 0)
            abort(); /* every code below count must resolve */
        if (n)
            sink ^= (uint8_t)s[n - 1];
        if (c == 0) {
            first = s;
            first_len = n;
        }
    }
    const char *s;
    size_t n;
    if (tsagg__strtab_get(&t, t.count, &s, &n) == 0)
        abort(); /* code == count is out of range */
    if (first) {
        uint32_t code;
        if (tsagg__strtab_find(&t, first, first_len, &code) != 1)
            abort(); /* string 0 is in the table */
    }
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    unsigned sel = data[0] % SEL_COUNT;
    uint32_t dict_size = 1u << (data[0] >> 3);
    size_t n = ((size_t)data[1] | (size_t)data[2] << 8) % 4097;
    const uint8_t *in = data + 3;
    size_t len = size - 3;

    if (sel == SEL_STRTAB) {
        strtab(in, len);
        return 0;
    }
    /* Exactly n values (1 byte when n is 0, so the pointer is valid). */
    size_t width = sel == SEL_U32 ? 4 : 8;
    void *out = malloc(n ? n * width : 1);
    if (!out)
        return 0;
    switch (sel) {
    case SEL_I64:
        (void)tsagg__dec_i64(in, len, out, n);
        break;
    case SEL_U64:
        (void)tsagg__dec_u64(in, len, out, n);
        break;
    case SEL_ID:
        (void)tsagg__dec_id(in, len, out, n);
        break;
    case SEL_U32:
        if (tsagg__dec_u32(in, len, out, n, dict_size) == 0) {
            const uint32_t *codes = out;
            for (size_t i = 0; i < n; i++)
                if (codes[i] >= dict_size)
                    abort(); /* dec_u32 checks every code */
        }
        break;
    case SEL_F64:
        (void)tsagg__dec_f64(in, len, out, n);
        break;
    }
    (void)tsagg__enc_block_tag(in, len);
    free(out);
    return 0;
}
