/* retention.h - dropping data past a retention period (retention.c), for
 * the maintenance step (maintain.c). */
#ifndef TSAGG_RETENTION_H
#define TSAGG_RETENTION_H

#include <stdint.h>

#include "store_internal.h"

/* Drop from MANIFEST, in one publish, every partition file whose span ends
 * at or before cutoff (µs); *files and *rows count them. Writer only. */
int tsagg__retention_parts(tsagg_store *store, int64_t cutoff, uint64_t *files, uint64_t *rows);

/* Remove the log's oldest segments whose every event is compacted and
 * older than cutoff (a prefix: the log keeps no gap), recording the new
 * start in MANIFEST first; *segments counts the files removed and
 * *start_seq gets the log's first sequence number. Writer only. */
int tsagg__retention_log(tsagg_store *store, int64_t cutoff, unsigned *segments,
                         uint64_t *start_seq);

#endif
