/*
 * retries.h - retries (same merchant, ts and event id) across compaction
 * runs and between the head and the files: which keys a published
 * partition file holds already.
 *
 * Compaction drops, before it writes a span, the rows whose key a
 * published file of that span holds (tsagg__drop_published_retries), so
 * that files of different runs never hold the same event twice; queries
 * leave out the head's events whose key a file of their snapshot holds.
 * Both read, per file, only the merchants concerned and the row groups of
 * their times.
 */
#ifndef TSAGG_RETRIES_H
#define TSAGG_RETRIES_H

#include <stddef.h>
#include <stdint.h>

#include "manifest.h"
#include "partfile.h"
#include "spanbuf.h"

/* A key to look for: ts and id of an event with an id; row is the
 * caller's. Arrays of keys are sorted by (merchant, ts, id). */
typedef struct tsagg__retry_key {
    uint64_t merchant;
    int64_t ts;
    uint64_t id;
    uint32_t row;
} tsagg__retry_key;

void tsagg__retry_keys_sort(tsagg__retry_key *keys, size_t n);

/*
 * Set found[i] for every key i of keys[0, n) (sorted) that the file p
 * holds, as a row with an id. 0, or the file's read error (the detail in
 * tsagg__part_errmsg).
 */
int tsagg__part_find_retries(tsagg__part *p, const tsagg__retry_key *keys, size_t n,
                             uint8_t *found);

/*
 * Remove from b the rows with an id whose key a file that m lists holds;
 * *dropped counts them. b is sorted here (tsagg__spanbuf_sort) for the
 * keys' order, and stays sorted: the caller's sort finds nothing to do.
 * Each file whose span meets the rows' times is opened, and read
 * only where its own least to greatest ts meets them; a failure names the
 * file on st.
 */
int tsagg__drop_published_retries(tsagg_store *st, const tsagg__manifest *m, tsagg__spanbuf *b,
                                  uint64_t *dropped);

#endif
