/*
 * fuzz_ingest_csv.c - tsagg-ingest's CSV input (tools/ingest: records.h,
 * csv.h, ingest.h).
 *
 * The input is one CSV file: records split as the loader splits them
 * (newlines inside quoted fields included), the first one the header, the
 * rest rows mapped by it into events of the default schema. A header the
 * parser rejects ends the input, as it ends the file in the loader.
 */
#include <stddef.h>
#include <stdint.h>

#include "ingest_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return ingest_fuzz_run(FORMAT_CSV, data, size);
}
