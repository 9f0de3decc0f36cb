/*
 * fuzz_hll.c - serialized HyperLogLog sketches (hll.h, docs/hll.md).
 *
 * The input is one serialized sketch, read three ways: deserialize into a
 * sketch (and, when accepted, re-serialize: the format promises that every
 * accepted input re-serializes to the same bytes), view_init + merge_view
 * into a sketch that already holds a few inputs, and merge_serialized. The
 * three must agree on whether the bytes are valid.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hll.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tsagg__hll h;
    tsagg__hll_init(&h);
    int rc_deser = tsagg__hll_deserialize(&h, data, size);
    if (rc_deser == 0) {
        static uint8_t again[TSAGG__HLL_SERIALIZED_MAX];
        (void)tsagg__hll_estimate(&h);
        if (tsagg__hll_serialized_size(&h) != size)
            abort();
        int n = tsagg__hll_serialize(&h, again, sizeof again);
        if (n < 0 || (size_t)n != size || memcmp(again, data, size) != 0)
            abort(); /* accepted bytes are canonical */
    }

    tsagg__hll_view v;
    int rc_view = tsagg__hll_view_init(&v, data, size);
    tsagg__hll acc;
    tsagg__hll_init(&acc);
    for (uint64_t i = 0; i < 8; i++)
        (void)tsagg__hll_add(&acc, i);
    if (rc_view == 0) {
        (void)tsagg__hll_view_estimate(&v);
        (void)tsagg__hll_merge_view(&acc, &v);
        (void)tsagg__hll_estimate(&acc);
        if (rc_deser == 0)
            (void)tsagg__hll_merge(&acc, &h);
    }

    tsagg__hll acc2;
    tsagg__hll_init(&acc2);
    int rc_merge = tsagg__hll_merge_serialized(&acc2, data, size);

    if ((rc_deser == 0) != (rc_view == 0) || (rc_view == 0) != (rc_merge == 0))
        abort(); /* the three readers disagree on validity */

    tsagg__hll_fini(&acc2);
    tsagg__hll_fini(&acc);
    tsagg__hll_fini(&h);
    return 0;
}
