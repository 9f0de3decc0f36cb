/*
 * tstime.h - the time formats of the input files, into microseconds since
 * the Unix epoch (UTC). Written for speed: they run once per line.
 */
#ifndef INGEST_TSTIME_H
#define INGEST_TSTIME_H

#include <stddef.h>
#include <stdint.h>

#include "ingest.h"

/*
 * RFC 3339: 2026-11-20T13:45:01Z, 2026-11-20T13:45:01.123456+05:30; 't' or
 * a space for 'T', 'z' for 'Z', any number of fraction digits (the first
 * six count). Years 0000..9999. 0 on success, -1 otherwise. day holds the
 * last valid date read (zeroed: none): times of one day convert it once.
 */
int tstime_rfc3339(const char *s, size_t len, tstime_day *day, int64_t *us);

/* The access-log form: 17/May/2015:10:05:03 +0000 (the offset is applied). */
int tstime_clf(const char *s, size_t len, int64_t *us);

/* An integer in unit into µs; -1 when it overflows. */
int tstime_scale(int64_t v, enum ts_unit unit, int64_t *us);

#endif
