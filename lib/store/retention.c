/*
 * retention.c - dropping data past a retention period: partition files by
 * a manifest edit, the oldest log segments once MANIFEST records where the
 * log starts (docs/format.md, "Manifest").
 *
 * Both hold the store's compaction lock, as compactions and merges do, and
 * publish like them: a query sees the state before or after, and a crash
 * leaves one or the other.
 */
#include <inttypes.h>
#include <stdint.h>

#include "compact_internal.h"
#include "log_internal.h"
#include "retention.h"

int tsagg__retention_parts(tsagg_store *st, int64_t cutoff, uint64_t *files, uint64_t *rows)
{
    *files = 0;
    *rows = 0;
    pthread_mutex_lock(&st->compact_mu);
    tsagg__snapshot *snap;
    tsagg__manifest *next;
    int rc = tsagg__edit_begin(st, &snap, &next);
    if (rc == 0) {
        tsagg__snapshot_release(st, snap);
        /* Whole files whose span ends at or before the cutoff. */
        size_t kept = 0;
        for (size_t i = 0; i < next->nparts; i++) {
            const tsagg__part_ref *r = &next->parts[i];
            if (r->start + (int64_t)r->hours * TSAGG__HOUR_US <= cutoff) {
                ++*files;
                *rows += r->rows;
            } else {
                next->parts[kept++] = *r;
            }
        }
        next->nparts = kept;
        if (*files)
            rc = tsagg__catalog_publish(st, next);
        tsagg__manifest_free(next);
    }
    if (rc != 0) {
        *files = *rows = 0;
        rc = tsagg__remove_leftovers(st, rc);
    }
    pthread_mutex_unlock(&st->compact_mu);
    return rc;
}

int tsagg__retention_log(tsagg_store *st, int64_t cutoff, unsigned *segments,
                         uint64_t *start_seq)
{
    *segments = 0;
    pthread_mutex_lock(&st->compact_mu);
    tsagg__snapshot *snap;
    tsagg__manifest *next;
    int rc = tsagg__edit_begin(st, &snap, &next);
    if (rc == 0) {
        tsagg__snapshot_release(st, snap);
        uint64_t start = next->log_start_segment;
        rc = tsagg__log_removable(st, start, next->consumed_seq, cutoff,
                                  &next->log_start_segment, &next->log_start_seq,
                                  &next->log_removed_max_ts);
        /* The new start is on disk before any segment goes. */
        if (rc == 0 && next->log_start_segment != start)
            rc = tsagg__catalog_publish(st, next);
        /* Also what a pass a crash stopped left below the start. */
        if (rc == 0)
            rc = tsagg__log_remove_below(st, next->log_start_segment, segments);
        *start_seq = next->log_start_seq;
        tsagg__manifest_free(next);
    }
    if (rc != 0)
        rc = tsagg__remove_leftovers(st, rc);
    pthread_mutex_unlock(&st->compact_mu);
    return rc;
}
