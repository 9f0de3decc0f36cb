/*
 * fuzz_partfile.c - partition files (partfile.h, docs/format.md).
 *
 * The input is written to a temporary file in /tmp (removed again before
 * returning) and opened with tsagg__part_open. When it opens, everything a
 * query could touch is read: every column of every row group, every
 * dictionary entry of every string column, every merchant's index entry
 * (by number and by lookup), its hour segments and their rollups.
 * Checksums are part of the format, so most mutations stop at open; the
 * seeds are valid files, and libFuzzer's CMP tracing gets past some.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "partfile.h"
#include "tsagg_io.h"
#include "tsagg_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Bounds the work per input whatever counts a (checksummed) footer claims. */
#define MAX_ITEMS 100000u

static void read_all(tsagg__part *p)
{
    static uint64_t col[TSAGG__PART_GROUP_ROWS]; /* room for any column type */
    const tsagg_schema *schema = tsagg__part_schema(p);
    uint32_t ndims = (uint32_t)tsagg_schema_dimension_count(schema);
    uint32_t ncols = TSAGG__COL_DIM0 + ndims + (uint32_t)tsagg_schema_measure_count(schema);
    (void)tsagg__part_get_info(p);

    uint32_t groups = tsagg__part_groups(p);
    for (uint32_t g = 0; g < groups && g < MAX_ITEMS; g++) {
        (void)tsagg__part_group(p, g);
        for (uint32_t c = 0; c < ncols; c++)
            (void)tsagg__part_read_column(p, c, g, col);
    }

    for (uint32_t d = 0; d <= ndims; d++) {
        uint32_t c = d == 0 ? TSAGG__COL_EVENT : TSAGG__COL_DIM0 + d - 1;
        uint32_t n = tsagg__part_dict_size(p, c);
        for (uint32_t code = 0; code < n && code < MAX_ITEMS; code++) {
            const char *s;
            size_t len;
            if (tsagg__part_dict_get(p, c, code, &s, &len) != 0)
                break; /* a bad dictionary block fails every lookup */
            uint32_t found;
            (void)tsagg__part_dict_find(p, c, s, len, &found);
        }
    }

    uint64_t merchants = tsagg__part_merchants(p);
    static tsagg__hour_segment segs[TSAGG__PART_MAX_HOURS];
    for (uint64_t i = 0; i < merchants && i < MAX_ITEMS; i++) {
        tsagg__merchant_entry m, f;
        if (tsagg__part_merchant_at(p, i, &m) != 0)
            continue;
        (void)tsagg__part_find_merchant(p, m.merchant, &f);
        (void)tsagg__part_find_merchant(p, m.merchant + 1, &f);
        if (m.nsegments > TSAGG__PART_MAX_HOURS || tsagg__part_segments(p, &m, segs) != 0)
            continue;
        for (uint32_t k = 0; k < m.nsegments; k++) {
            tsagg__rollup r;
            if (segs[k].rollup_len && tsagg__part_rollup(p, &m, &segs[k], &r) == 0)
                tsagg__rollup_free(&r);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/tsagg-fuzz-part-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    close(fd);
    if (off == size) {
        tsagg__part *p;
        char msg[256];
        if (tsagg__part_open(tsagg_io_default(), path, &p, msg, sizeof msg) == 0) {
            read_all(p);
            tsagg__part_close(p);
        }
    }
    unlink(path);
    return 0;
}
