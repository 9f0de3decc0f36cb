/*
 * manifest.h - the list of live partition files, and snapshots of it.
 *
 * STORE/MANIFEST (docs/format.md, "Manifest"):
 *
 *   offset size  field
 *   0      8     magic "TSAGGMAN"
 *   8      2     format version (1)
 *   10     2     reserved, 0
 *   12     4     N, number of entries
 *   16     8     manifest version: 1 for the first publish, +1 each time
 *   24     8     consumed sequence number of the log
 *   32     8     next file id
 *   40     8     reserved, 0
 *   48     N*48  entries, sorted by (hour, file id):
 *                  +0  8 hour start (µs)    +8  8 file id
 *                  +16 8 rows               +24 8 file bytes
 *                  +32 4 generation         +36 4 level (0 new, 1 merged)
 *                  +40 8 reserved, 0
 *   48+48N 8     XXH64 (seed 0) of everything before
 *
 * It is replaced atomically: MANIFEST.tmp written, fsynced, renamed, and the
 * directory fsynced.
 */
#ifndef TSAGG_MANIFEST_H
#define TSAGG_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "store_internal.h"

typedef struct tsagg__part_ref {
    int64_t start;        /* span start, µs (a multiple of an hour) */
    uint32_t hours;       /* span length in hours: the file holds ts in
                             [start, start + hours h) */
    uint64_t file_id;
    uint64_t rows;
    uint64_t bytes;
    uint32_t generation;
    uint32_t level;
} tsagg__part_ref;

typedef struct tsagg__manifest {
    uint64_t version;
    uint64_t consumed_seq;
    uint64_t next_file_id;
    size_t nparts;
    tsagg__part_ref *parts; /* sorted by (hour, file_id) */
} tsagg__manifest;

/* An empty manifest (version 0). */
int tsagg__manifest_empty(tsagg__manifest **out);
int tsagg__manifest_clone(const tsagg__manifest *m, tsagg__manifest **out);
void tsagg__manifest_free(tsagg__manifest *m);

/* Add an entry (kept sorted). */
int tsagg__manifest_add(tsagg__manifest *m, const tsagg__part_ref *ref);
/* Remove the entry of a file id; 1 removed, 0 absent. */
int tsagg__manifest_remove(tsagg__manifest *m, uint64_t file_id);
/* Whether a file id is listed. */
int tsagg__manifest_has(const tsagg__manifest *m, uint64_t file_id);

/* The path of a listed file in STORE/parts/ (docs/format.md, "Manifest";
 * not tsagg__part_path, partfile.h's path of an open reader). */
void tsagg__part_file_path(const tsagg_store *st, const tsagg__part_ref *ref, char *buf,
                           size_t len);
/* Parse a partition file name; 0 on success, -1 when it is not one. */
int tsagg__part_name_parse(const char *name, uint64_t *file_id);

/* Load STORE/MANIFEST; a missing file gives the empty manifest. */
int tsagg__manifest_load(tsagg_store *st, tsagg__manifest **out);

/* Write m as STORE/MANIFEST atomically. */
int tsagg__manifest_write(tsagg_store *st, const tsagg__manifest *m);

/* ---- snapshots (catalog.c) ----------------------------------------------- */

/*
 * A snapshot pins one published manifest: its files are not removed while
 * it is held. Acquire from any thread; release exactly once.
 */
typedef struct tsagg__snapshot tsagg__snapshot;

int tsagg__snapshot_acquire(tsagg_store *st, tsagg__snapshot **out);
void tsagg__snapshot_release(tsagg_store *st, tsagg__snapshot *s);
const tsagg__manifest *tsagg__snapshot_manifest(const tsagg__snapshot *s);

/*
 * Publish a new manifest (the caller owns m until this returns; it is
 * copied). Files listed by the current manifest and not by m are removed
 * once no snapshot holds a manifest that lists them. Writer only.
 */
int tsagg__catalog_publish(tsagg_store *st, const tsagg__manifest *m);

/* Remove files in parts/ that no manifest of this process lists, and
 * MANIFEST.tmp: leftovers of a crash between writing a file and publishing
 * it. Writer only, under the store's compaction lock. */
int tsagg__catalog_sweep(tsagg_store *st);

/* Free the catalog of published manifests (at close). */
void tsagg__catalog_free(tsagg_store *store);

#endif
