/*
 * manifest.h - the list of live partition files, and snapshots of it.
 *
 * STORE/MANIFEST (docs/format.md, "Manifest"):
 *
 *   offset size  field
 *   0      8     magic "TSAGGMAN"
 *   8      2     format version (2)
 *   10     2     reserved, 0
 *   12     4     N, number of entries
 *   16     8     manifest version: 1 for the first publish, +1 each time
 *   24     8     consumed sequence number of the log
 *   32     8     next file id
 *   40     8     newest event ts compacted (int64 µs; INT64_MIN: none), the
 *                mark spans are sealed by (tiers.h)
 *   48     N*48  entries, sorted by (span start, file id):
 *                  +0  8 span start (µs)    +8  8 file id
 *                  +16 8 rows               +24 8 file bytes
 *                  +32 4 generation         +36 4 level (0 new, 1 merged)
 *                  +40 4 span hours         +44 4 reserved, 0
 *   48+48N 8     XXH64 (seed 0) of everything before
 *
 * A version-1 manifest (hourly files of an older format) is refused with
 * TSAGG_EVERSION; tsagg_rebuild() regenerates such a store from its log.
 *
 * It is replaced atomically: MANIFEST.tmp written, fsynced, renamed, and the
 * directory fsynced.
 */
#ifndef TSAGG_MANIFEST_H
#define TSAGG_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "store_internal.h"
#include "tiers.h"

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
    int64_t newest_ts;      /* TSAGG__NEWEST_NONE before the first event */
    size_t nparts;
    tsagg__part_ref *parts; /* sorted by (start, file_id) */
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
/* Parse a partition file name, <YYYYMMDD>T<HH>-<hours>h-<file id, 16
 * hex>.tpart; 0 on success, -1 when it is not one. */
int tsagg__part_name_parse(const char *name, uint64_t *file_id);

/* Load STORE/MANIFEST; a missing file gives the empty manifest. A manifest
 * of an older format version is TSAGG_EVERSION, its message saying how to
 * regenerate the store. */
int tsagg__manifest_load(tsagg_store *st, tsagg__manifest **out);

/*
 * Whether STORE/MANIFEST is an intact manifest of an older format version
 * (1: hourly files): then 1, and *out gets an empty current-format
 * manifest with its version, consumed position and next file id, and
 * *old_files the number of files it lists. 0 when it is not one (nothing
 * loaded), < 0 on a read error.
 */
int tsagg__manifest_load_outdated(tsagg_store *st, tsagg__manifest **out, uint64_t *old_files);

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

/* Replace an outdated manifest (tsagg__manifest_load_outdated) by m
 * (version set to the old one's + 1), for a store whose catalog could not
 * load it. Writer only, under the store's compaction lock. */
int tsagg__catalog_replace_outdated(tsagg_store *st, const tsagg__manifest *m);

/* Free the catalog of published manifests (at close). */
void tsagg__catalog_free(tsagg_store *store);

#endif
