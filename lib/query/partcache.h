/*
 * partcache.h - open partition files shared by the queries of a store
 * handle, so that a query does not re-read footers. Entries are refcounted;
 * files no longer in the manifest are closed once unused.
 */
#ifndef TSAGG_PARTCACHE_H
#define TSAGG_PARTCACHE_H

#include "manifest.h"
#include "partfile.h"

/* The open partition of a file (opened on first use). Release with put. */
int tsagg__partcache_get(tsagg_store *st, int64_t hour, uint64_t file_id, tsagg__part **out);
void tsagg__partcache_put(tsagg_store *st, tsagg__part *p);
/* Close unused entries whose file m does not list. */
void tsagg__partcache_trim(tsagg_store *st, const tsagg__manifest *m);

#endif
