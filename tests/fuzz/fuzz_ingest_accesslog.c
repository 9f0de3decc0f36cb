/*
 * fuzz_ingest_accesslog.c - tsagg-ingest's access-log input (tools/ingest:
 * records.h, accesslog.h, useragent.h, sessions.h, tstime.h).
 *
 * The input is a combined- or common-format log. Each line goes through
 * the access-log parser (time, request, referrer host), the user-agent
 * classifier and the sessions of one parser kept across the lines; each
 * line is also given whole to ua_classify and accesslog_is_asset, so that
 * the classifier sees any bytes, not only a well-formed line's quoted field.
 */
#include <stddef.h>
#include <stdint.h>

#include "ingest_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return ingest_fuzz_run(FORMAT_COMBINED, data, size);
}
