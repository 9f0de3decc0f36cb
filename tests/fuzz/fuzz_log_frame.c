/*
 * fuzz_log_frame.c - log frames (docs/format.md, "Log").
 *
 * The input is one frame: a FRAME_HEADER_SIZE header then its payload.
 * When the header parses and the declared payload fits in the input, the
 * payload is decompressed (LZ4 / zstd) and decoded (rows or columns) as the
 * reader would, without the checksum check, so that mutations reach the
 * decoders. Independently, the row and column decoders run on the raw bytes
 * after the first two, which give the event count (LE u16): inputs that do
 * not look like frames still exercise them.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "log_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touch every decoded string so ASan checks the pointers into the input. */
static void touch(const tsagg__events *e)
{
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < e->n; i++) {
        const tsagg_event *ev = &e->evs[i];
        if (ev->event_len)
            sink ^= (uint8_t)ev->event[ev->event_len - 1];
        for (uint32_t a = 0; a < ev->nattrs; a++) {
            const tsagg_attr *at = &ev->attrs[a];
            if (at->key_len)
                sink ^= (uint8_t)at->key[at->key_len - 1];
            if (at->type == TSAGG_STR && at->v.s.len)
                sink ^= (uint8_t)at->v.s.ptr[at->v.s.len - 1];
        }
    }
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= FRAME_HEADER_SIZE) {
        frame_header h;
        if (tsagg__frame_header_decode(data, &h) == 0 &&
            h.stored <= size - FRAME_HEADER_SIZE) {
            const uint8_t *payload = data + FRAME_HEADER_SIZE;
            (void)tsagg__frame_verify(data, payload, h.stored, h.checksum);
            if (h.type == FRAME_SEAL) {
                seal_info s;
                if (size >= SEAL_FRAME_SIZE)
                    (void)tsagg__seal_decode(data, &s);
            } else {
                tsagg__buf scratch = {0};
                tsagg__events evs = {0};
                if (tsagg__frame_decode(&h, payload, &scratch, &evs) == 0)
                    touch(&evs);
                tsagg__events_free(&evs);
                tsagg__buf_free(&scratch);
            }
        }
    }
    if (size >= 2) {
        uint32_t count = (uint32_t)data[0] | (uint32_t)data[1] << 8;
        tsagg__events evs = {0};
        if (tsagg__rows_decode(data + 2, size - 2, count, &evs) == 0)
            touch(&evs);
        tsagg__events_free(&evs);
        memset(&evs, 0, sizeof evs);
        if (tsagg__columns_decode(data + 2, size - 2, count, &evs) == 0)
            touch(&evs);
        tsagg__events_free(&evs);
    }
    return 0;
}
