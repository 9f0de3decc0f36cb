/*
 * tzcache.h - the time zones a handle's queries have loaded, kept until the
 * handle closes: a dashboard asks in the same few zones again and again,
 * and reading and parsing the zoneinfo file each time cost more than a
 * small merchant's whole query. A zone file changed on disk (a tzdata
 * update) is seen by handles opened after it.
 */
#ifndef TSAGG_TZCACHE_H
#define TSAGG_TZCACHE_H

#include <stddef.h>

#include "store_internal.h"
#include "tz.h"

/* The zone `name` (as tsagg__tz_load takes it; NULL for UTC), loaded once
 * per handle and shared by its threads: *out stays valid until
 * tsagg__tzcache_free. Errors as tsagg__tz_load (nothing is kept). */
int tsagg__tzcache_get(tsagg_store *st, const char *name, const tsagg__tz **out, char *errmsg,
                       size_t errlen);

/* Free every kept zone (store close, when no query runs). */
void tsagg__tzcache_free(tsagg_store *st);

#endif
