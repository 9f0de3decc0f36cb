/* schema_internal.h - the schema's canonical byte encoding (docs/format.md). */
#ifndef TSAGG_SCHEMA_INTERNAL_H
#define TSAGG_SCHEMA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tsagg_store.h"

struct tsagg_schema {
    uint32_t ndims, nmeasures;
    char dims[TSAGG_SCHEMA_MAX_FIELDS][TSAGG_NAME_MAX + 1];
    char measures[TSAGG_SCHEMA_MAX_FIELDS][TSAGG_NAME_MAX + 1];
};

/* Upper bound of an encoding's size. */
#define TSAGG_SCHEMA_ENCODED_MAX (2 + 2 * TSAGG_SCHEMA_MAX_FIELDS * (1 + TSAGG_NAME_MAX))

/* Encode into buf (TSAGG_SCHEMA_ENCODED_MAX bytes); returns the length. */
size_t tsagg__schema_encode(const tsagg_schema *schema, uint8_t *buf);

/* Decode exactly len bytes; TSAGG_ECORRUPT when they are not a schema. */
int tsagg__schema_decode(const uint8_t *buf, size_t len, tsagg_schema **out);

int tsagg__schema_clone(const tsagg_schema *schema, tsagg_schema **out);

#endif
