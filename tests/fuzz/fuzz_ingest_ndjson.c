/*
 * fuzz_ingest_ndjson.c - tsagg-ingest's NDJSON input (tools/ingest:
 * records.h, ndjson.h, ingest.h).
 *
 * The input is a file of JSON lines. Each line goes through simdjson and
 * the field mapping into an event of the default schema, checked by
 * tsagg_event_validate; the line is followed by the rest of the input and
 * NDJSON_PADDING zero bytes, as in the loader's buffer (ingest_fuzz.c).
 */
#include <stddef.h>
#include <stdint.h>

#include "ingest_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return ingest_fuzz_run(FORMAT_NDJSON, data, size);
}
