/*
 * tsagg_verify.h - read every file of a store and check every checksum.
 *
 * tsagg_verify() reads the whole log (every frame of every segment) and
 * every partition file the manifest lists, hour, day and month files alike
 * (every column block of every row group, every dictionary, every page of
 * the merchant index, every merchant's hour segments and rollups), checks what the manifest says of each
 * file against the file, checks that the log reaches the position the
 * manifest records as compacted, and reports each damaged file once. It
 * changes nothing and works on read-only handles beside a running writer.
 */
#ifndef TSAGG_VERIFY_H
#define TSAGG_VERIFY_H

#include <stdint.h>

#include "tsagg_export.h"
#include "tsagg_store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tsagg_verify_problem {
    uint32_t struct_size; /* sizeof as the library has it: fields beyond
                             the caller's own header are ignored */
    int code;           /* TSAGG_ECHECKSUM, TSAGG_ECORRUPT, TSAGG_EVERSION,
                           -ENOENT (a listed file is missing), -errno */
    const char *file;   /* relative to the store: "MANIFEST", "log/...tlog",
                           "parts/...tpart" */
    const char *detail; /* what is wrong and where (offset, block) */
    int64_t hour;       /* a partition's first UTC hour (µs), the start of
                           its span; INT64_MIN otherwise */
    int repairable;     /* 1: the log being intact, the file can be made
                           again from it: a partition by tsagg_rebuild() of
                           its span, a damaged "MANIFEST" by removing it and
                           running tsagg_compact(). 0: the raw log itself is
                           damaged, or ("log", TSAGG_ECORRUPT) ends below
                           the position MANIFEST records as compacted (see
                           TSAGG_OPEN_SALVAGE) */
    uint32_t hours;     /* a partition's span: [hour, hour + hours h), an
                           hour, a UTC day or a UTC month; 0 otherwise */
} tsagg_verify_problem;

/* Called once per damaged file, in the caller's thread; the strings live
 * until the call returns. */
typedef void (*tsagg_verify_fn)(void *ctx, const tsagg_verify_problem *problem);

typedef struct tsagg_verify_stats {
    uint32_t struct_size;     /* as tsagg_compact_stats.struct_size */
    uint32_t reserved;        /* 0 */
    uint64_t segments;        /* log segments read */
    uint64_t segment_bytes;
    uint64_t events;          /* log events read */
    uint64_t partitions;      /* partition files read */
    uint64_t partition_bytes;
    uint64_t rows;
    uint64_t problems;        /* damaged files */
    uint64_t unlisted_partitions; /* partition files in parts/ while there is
                              no MANIFEST: a first compaction that did not
                              publish (a crash), or a lost MANIFEST. Not
                              damage: queries answer from the log, and the
                              next tsagg_compact() removes them and compacts
                              the log again */
} tsagg_verify_stats;

/*
 * Check the store; fn (may be NULL) hears of each damaged file. Returns 0
 * when nothing is damaged, otherwise the code of the first problem found
 * (everything is still checked), or an error that stopped the check
 * (-ENOMEM, TSAGG_EARG). stats may be NULL.
 */
TSAGG_API int tsagg_verify(tsagg_store *store, tsagg_verify_fn fn, void *ctx,
                           tsagg_verify_stats *stats);

#ifdef __cplusplus
}
#endif
#endif
