/*
 * ingest_fuzz.h - what the fuzz targets of tsagg-ingest's parsers share
 * (fuzz_ingest_*.c): the input as one file of the given format.
 */
#ifndef INGEST_FUZZ_H
#define INGEST_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "ingest.h"

/*
 * Split data into records and parse each one as tsagg-ingest's loader does
 * (records.h), with the default schema, the events of merchant 7 for
 * access logs, and the --ts-unit chosen by size % 3. Checks that every
 * rejected record has a reason, and reads every string of every accepted
 * event. Aborts on a broken invariant; returns 0.
 */
int ingest_fuzz_run(enum ingest_format format, const uint8_t *data, size_t size);

#endif
