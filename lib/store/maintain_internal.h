/* maintain_internal.h - the maintenance state of a writer's handle
 * (maintain.c), set up and torn down by store.c. */
#ifndef TSAGG_MAINTAIN_INTERNAL_H
#define TSAGG_MAINTAIN_INTERNAL_H

#include "store_internal.h"
#include "tsagg_compact.h"
#include "tsagg_maintain.h"

/* Set up st->maint; with opts, start the background thread. On failure
 * st->maint may be set: tsagg__maint_close frees it. */
int tsagg__maint_open(tsagg_store *store, const tsagg_maintain_options *opts);
/* Stop the thread (waiting for a step in progress) and free st->maint.
 * Accepts a handle without. */
void tsagg__maint_close(tsagg_store *store);
/* 1 when the background thread runs. */
int tsagg__maint_running(tsagg_store *store);
/* Have the background thread start a step now rather than at its next
 * interval (the head passed its bound), unless it is backing off after a
 * failure. Cheap when it was woken already; any thread. */
void tsagg__maint_wake(tsagg_store *store);
/* The compaction options of the background thread's steps. */
void tsagg__maint_compact_options(tsagg_store *store, tsagg_compact_options *co);

#endif
