/*
 * tzoff.c - the UTC offset of the query's zone at each bucket start, for
 * printing times as the zone's clocks showed them.
 *
 * The library keeps its zone code private (and cannot use TZ: it serves many
 * zones from many threads). A single-threaded tool can: it points TZ at the
 * same file the library read and asks localtime_r, which gives the offset
 * in force at that instant, daylight saving included.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "qtool.h"

/* Where the library reads zones from (docs/timezones.md). */
#define ZONEINFO_DIR "/usr/share/zoneinfo"

static int use_utc = 1;

int qt_tz_use(const char *zone)
{
    if (!zone || strcmp(zone, "UTC") == 0 || strcmp(zone, "Etc/UTC") == 0) {
        use_utc = 1;
        return 0;
    }
    /* ":/path" names a TZif file exactly, never a POSIX rule string. */
    size_t len = sizeof ZONEINFO_DIR + strlen(zone) + 2;
    char *tz = malloc(len);
    if (!tz)
        return -1;
    snprintf(tz, len, ":%s/%s", ZONEINFO_DIR, zone);
    if (access(tz + 1, R_OK) != 0) {
        free(tz);
        return -1;
    }
    int rc = setenv("TZ", tz, 1);
    free(tz);
    if (rc != 0)
        return -1;
    tzset();
    use_utc = 0;
    return 0;
}

static int offset_at(int64_t ts_us)
{
    if (use_utc)
        return 0;
    /* Floor to the second: buckets start on whole seconds, except a total
     * bucket starting at an arbitrary --from. */
    int64_t s = ts_us >= 0 ? ts_us / 1000000 : -((-ts_us + 999999) / 1000000);
    time_t t = (time_t)s;
    struct tm tm;
    if (!localtime_r(&t, &tm))
        return 0;
    return (int)tm.tm_gmtoff;
}

size_t qt_format_time(int64_t ts_us, char *buf, size_t cap)
{
    return cli_format_time(ts_us, offset_at(ts_us), 1, buf, cap);
}
