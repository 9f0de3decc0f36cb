/*
 * fuzz_tz.c - TZif zone files (tz.h, RFC 8536 / RFC 9636).
 *
 * The input is written as <tmpdir>/Zone and loaded with tsagg__tz_load,
 * footer rule included. When it loads, the offset and the bucket
 * arithmetic are exercised at a spread of instants, and the documented
 * invariant floor(ts) <= ts < next(floor(ts)) is checked away from the
 * saturating ends of the range.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tsagg_query.h"
#include "tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int64_t instants[] = {
    0,
    INT64_C(-2208988800000000),  /* 1900-01-01 */
    INT64_C(951782400000000),    /* 2000-02-29 */
    INT64_C(1711846800000000),   /* 2024-03-31 01:00 UTC, an EU switch */
    INT64_C(1730000000123456),   /* 2024-10-27 */
    INT64_C(4102444800000000),   /* 2100-01-01, past most transitions */
    INT64_C(-62135596800000000), /* year 1 */
    INT64_MIN,
    INT64_MAX,
};

/* Far enough from the ends that no bucket start saturates. */
#define SAFE_US INT64_C(253402300800000000) /* year 10000 */

static void exercise(const tsagg__tz *tz)
{
    int32_t lo, hi;
    tsagg__tz_bounds(tz, &lo, &hi);
    (void)tsagg__tz_name(tz);
    for (size_t i = 0; i < sizeof instants / sizeof instants[0]; i++) {
        int64_t ts = instants[i];
        (void)tsagg__tz_offset(tz, ts);
        int64_t end;
        (void)tsagg__tz_span(tz, tsagg__floordiv(ts, 1000000), &end);
        for (unsigned b = TSAGG_BUCKET_MINUTE; b <= TSAGG_BUCKET_TOTAL + 1; b++) {
            int64_t f = tsagg__bucket_floor(tz, b, ts);
            int64_t nx = tsagg__bucket_next(tz, b, f);
            if (b < TSAGG_BUCKET_TOTAL && ts > -SAFE_US && ts < SAFE_US && !(f <= ts && ts < nx))
                abort(); /* tz.h: floor <= ts < next(floor) */
            int64_t starts[4];
            (void)tsagg__bucket_starts(tz, b, ts, ts < INT64_MAX - 1 ? ts + 1 : ts, starts, 4);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char dir[] = "/tmp/tsagg-fuzz-tz-XXXXXX";
    if (!mkdtemp(dir))
        return 0;
    char path[64];
    snprintf(path, sizeof path, "%s/Zone", dir);
    FILE *f = fopen(path, "wb");
    if (f) {
        int ok = fwrite(data, 1, size, f) == size;
        if (fclose(f) == 0 && ok) {
            tsagg__tz *tz = NULL;
            char msg[256];
            if (tsagg__tz_load(NULL, dir, "Zone", &tz, msg, sizeof msg) == 0) {
                exercise(tz);
                tsagg__tz_free(tz);
            }
        }
        unlink(path);
    }
    rmdir(dir);
    return 0;
}
