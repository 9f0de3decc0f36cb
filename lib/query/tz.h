/*
 * tz.h - time zones and calendar buckets for the query layer.
 *
 * A tsagg__tz answers one question: which UTC offset is in force at an
 * instant. It is read from the system's zoneinfo (TZif files, RFC 8536 /
 * RFC 9636, versions 1 to 4) through a tsagg_io table, never through the C
 * library's TZ/tzset/localtime machinery, which is process-global. After the
 * last transition of a file the zone follows the POSIX TZ rule of the file's
 * footer ("CET-1CEST,M3.5.0,M10.5.0/3"), as "slim" zoneinfo needs.
 *
 * Buckets (see docs/timezones.md): MINUTE and HOUR are UTC minutes and
 * hours. DAY, WEEK (Monday to Sunday, ISO 8601) and MONTH are local: a
 * local day D starts at the first instant whose local date is D or later -
 * midnight, or the end of the gap when midnight is skipped - and lasts to
 * the start of the next day (23 or 25 hours across daylight saving).
 *
 * A loaded zone is immutable: every function below may be called from any
 * number of threads at once. Functions taking a const tsagg__tz * accept
 * NULL for UTC.
 */
#ifndef TSAGG_TZ_H
#define TSAGG_TZ_H

#include <stddef.h>
#include <stdint.h>

#include "civil.h"
#include "tsagg_io.h"

typedef struct tsagg__tz tsagg__tz;

#define TSAGG__TZ_DEFAULT_DIR "/usr/share/zoneinfo"
#define TSAGG__TZ_NAME_MAX 255

/*
 * Load a zone. io: the table to read with (NULL: tsagg_io_default()).
 * zoneinfo_dir: NULL for TSAGG__TZ_DEFAULT_DIR. name: NULL, "UTC" or
 * "Etc/UTC" (built in, no file is read) or an IANA name, which must be made
 * of [A-Za-z0-9_+-/], must not start with '/' nor contain "..".
 *
 * 0 and *out on success (free with tsagg__tz_free). Errors, with a message
 * in errmsg (may be NULL): TSAGG_EARG for a bad or unknown name ("unknown
 * time zone X"), TSAGG_ECORRUPT when the file is not a valid TZif file (the
 * message names the file), -ENOMEM, other -errno from the I/O table. *out is
 * untouched on error.
 */
int tsagg__tz_load(const tsagg_io *io, const char *zoneinfo_dir, const char *name,
                   tsagg__tz **out, char *errmsg, size_t errlen);
void tsagg__tz_free(tsagg__tz *tz); /* accepts NULL */

/* The name the zone was loaded with ("UTC" for NULL). */
const char *tsagg__tz_name(const tsagg__tz *tz);

/* The UTC offset in seconds east of Greenwich in force at ts_us (UTC
 * microseconds). A binary search over the transitions. Tests only. */
int32_t tsagg__tz_offset(const tsagg__tz *tz, int64_t ts_us);

/* The offset in force at t (UTC seconds) and, in *end, the first instant
 * after t where it may change (INT64_MAX: never). The offset is constant on
 * [t, *end). For the bucket arithmetic. */
int32_t tsagg__tz_span(const tsagg__tz *tz, int64_t t, int64_t *end);

/* The smallest and largest offsets the zone ever uses. */
void tsagg__tz_bounds(const tsagg__tz *tz, int32_t *minoff, int32_t *maxoff);

/*
 * Bucket arithmetic; bucket is an enum tsagg_bucket, instants are UTC
 * microseconds. floor: the start of the bucket holding ts (floor <= ts <
 * next(floor)). next: the start of the bucket after the one starting at
 * start_us (for any start_us: the first bucket start > start_us). TOTAL and
 * unknown buckets: floor returns ts, next returns INT64_MAX. Results that
 * do not fit in 64-bit microseconds saturate at INT64_MIN / INT64_MAX.
 */
int64_t tsagg__bucket_floor(const tsagg__tz *tz, unsigned bucket, int64_t ts_us);
int64_t tsagg__bucket_next(const tsagg__tz *tz, unsigned bucket, int64_t start_us);

/*
 * The starts of every bucket meeting [from, to), the first being
 * floor(from). Writes at most cap of them to out and returns how many there
 * are, or cap + 1 when there are more than cap (work stays bounded by cap).
 * The end of the last bucket is tsagg__bucket_next() of its start. Tests
 * only: queries walk the buckets with tsagg__bucket_next.
 */
size_t tsagg__bucket_starts(const tsagg__tz *tz, unsigned bucket, int64_t from, int64_t to,
                            int64_t *out, size_t cap);

/* Floor division and modulo for the negative instants before 1970. */
static inline int64_t tsagg__floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

#endif
