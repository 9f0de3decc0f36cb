/* event.c - event identifiers (validation lives with the writer that enforces it). */
#include <xxhash.h>

#include "tsagg_store.h"

uint64_t tsagg_hash_id(const void *data, size_t len)
{
    return XXH64(data, len, 0);
}
