/*
 * merge.h - k-way merge of sorted row sources into one partition file:
 * the in-memory rows of a span, spilled runs and existing partition files
 * alike. Drops retries (equal merchant, ts and event id) on the way.
 */
#ifndef TSAGG_MERGE_H
#define TSAGG_MERGE_H

#include "spanbuf.h"
#include "partfile.h"

typedef struct tsagg__merge_src tsagg__merge_src;

/* A source over a sorted span buffer (tsagg__spanbuf_sort done). */
int tsagg__merge_src_mem(const tsagg__spanbuf *h, const tsagg_schema *schema,
                         tsagg__merge_src **out);
/* A source over a partition file; columns are mapped to `schema` by name
 * (a dimension the file lacks is empty, a measure NaN). The source owns p,
 * also on failure (then errmsg, errmsg_len bytes, gets the reader's detail,
 * which names the file). */
int tsagg__merge_src_part(tsagg__part *p, const tsagg_schema *schema, tsagg__merge_src **out,
                          char *errmsg, size_t errmsg_len);
void tsagg__merge_src_free(tsagg__merge_src *s);

/* The detail of a partition source's failed read (names the file), or "". */
void tsagg__merge_src_errmsg(tsagg__merge_src *s, char *buf, size_t len);

typedef struct tsagg__merge_stats {
    uint64_t rows, duplicates;
} tsagg__merge_stats;

/* Merge every source into w (which the caller finishes or aborts). On
 * failure *failed (may be NULL) is the source whose read failed, or NULL
 * when the writer (tsagg__part_writer_errmsg) or memory did. */
int tsagg__merge_into(tsagg__merge_src **srcs, size_t n, const tsagg_schema *schema,
                      tsagg__part_writer *w, tsagg__merge_stats *stats,
                      tsagg__merge_src **failed);

#endif
