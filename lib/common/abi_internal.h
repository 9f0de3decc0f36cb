/*
 * abi_internal.h - how public structs grow (include/tsagg_store.h, "Growing
 * structs").
 *
 * A struct the caller fills (options, queries) carries the size it was
 * compiled with; the library accepts any size from the first released one
 * to its own and defaults the fields beyond it. A struct the library fills
 * for the caller (stats, segment descriptions) also carries a size, set by
 * the caller, 0 meaning the first released one; the library writes no byte
 * beyond it.
 */
#ifndef TSAGG_ABI_INTERNAL_H
#define TSAGG_ABI_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tsagg_compact.h"
#include "tsagg_log.h"
#include "tsagg_query.h"
#include "tsagg_store.h"
#include "tsagg_verify.h"

/* Sizes of the first release. Input structs: */
#define TSAGG__OPTIONS_SIZE_1 offsetof(tsagg_options, query_cache_bytes)
#define TSAGG__QUERY_SIZE_1 sizeof(tsagg_query)
#define TSAGG__COMPACT_OPTIONS_SIZE_1 sizeof(tsagg_compact_options)
#define TSAGG__REBUILD_OPTIONS_SIZE_1 sizeof(tsagg_rebuild_options)
/* Output structs: */
#define TSAGG__COMPACT_STATS_SIZE_1 offsetof(tsagg_compact_stats, hour_files)
#define TSAGG__REBUILD_STATS_SIZE_1 offsetof(tsagg_rebuild_stats, regenerated)
#define TSAGG__VERIFY_STATS_SIZE_1 sizeof(tsagg_verify_stats)
#define TSAGG__SEGMENT_INFO_SIZE_1 sizeof(tsagg_segment_info)

/* size lies in [first, sizeof(current)]. */
#define TSAGG__SIZE_OK(size, first, current) \
    ((size_t)(size) >= (size_t)(first) && (size_t)(size) <= sizeof(current))

/* The number of bytes to write into an output struct whose struct_size
 * field says `size` (0: the first release's `first`), or 0 when the size
 * is out of range. */
static inline size_t tsagg__out_size(uint32_t size, size_t first, size_t current)
{
    if (size == 0)
        return first;
    return size >= first && size <= current ? size : 0;
}

/* Copy the first n bytes of a filled struct to the caller's, with its
 * struct_size saying n. */
#define TSAGG__OUT_COPY(dst, src, n)                   \
    do {                                               \
        (src)->struct_size = (uint32_t)(n);            \
        memcpy((dst), (src), (n));                     \
    } while (0)

#endif
