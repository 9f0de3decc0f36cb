/* maintain_internal.h - the maintenance state of a writer's handle
 * (maintain.c), set up and torn down by store.c. */
#ifndef TSAGG_MAINTAIN_INTERNAL_H
#define TSAGG_MAINTAIN_INTERNAL_H

#include "store_internal.h"
#include "tsagg_maintain.h"

/* Set up st->maint; with opts, start the background thread. On failure
 * st->maint may be set: tsagg__maint_close frees it. */
int tsagg__maint_open(tsagg_store *store, const tsagg_maintain_options *opts);
/* Stop the thread (waiting for a step in progress) and free st->maint.
 * Accepts a handle without. */
void tsagg__maint_close(tsagg_store *store);

#endif
