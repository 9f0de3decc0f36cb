/*
 * qtool.h - what the parts of tsagg-query share: the parsed command line,
 * the argument parsers (args.c), bucket times in the asked zone (tzoff.c)
 * and the output writers (output.c). docs/tsagg-query.md is the manual.
 */
#ifndef TSAGG_QTOOL_H
#define TSAGG_QTOOL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tsagg.h"

enum qt_format { QT_TABLE, QT_CSV, QT_JSON };

/* One filtered field and its values (an IN list). */
typedef struct qt_filter {
    const char *field; /* "event" or a dimension */
    const char *opt;   /* the option that named it first, for messages */
    char *owned_field; /* field, when it was copied out of a --where */
    char **values;     /* owned */
    uint32_t nvalues, cap;
} qt_filter;

/* Longest metric column name: "avg_" + a schema name. */
#define QT_COLNAME_MAX (8 + TSAGG_NAME_MAX)

typedef struct qt_args {
    const char *store;
    int have_merchant, all_merchants;
    uint64_t merchant;
    const char *from_arg, *to_arg;
    int64_t from, to;          /* µs, UTC */
    uint32_t bucket;           /* enum tsagg_bucket */
    const char *tz;            /* NULL: UTC */
    tsagg_metric metrics[TSAGG_QUERY_MAX_METRICS];
    char colnames[TSAGG_QUERY_MAX_METRICS][QT_COLNAME_MAX];
    uint32_t nmetrics;
    qt_filter filters[TSAGG_QUERY_MAX_FILTERS];
    uint32_t nfilters;
    const char *group_by;
    int have_top;
    uint32_t top;
    int exact, no_tail;
    enum qt_format format;
    uint64_t repeat;           /* 0: no timing line */
} qt_args;

/* ---- args.c: option values (0 on success, else a message in err) ------------ */

int qt_parse_bucket(const char *s, uint32_t *out);
const char *qt_bucket_name(uint32_t bucket);

/* "count", "users", "sessions", "sum:FIELD"...: appends to a->metrics. */
int qt_add_metric(qt_args *a, const char *s, char *err, size_t errlen);

/* Adds values to the IN list of field. split: "V1,V2" is two values, with
 * "\," a literal comma and "\\" a backslash (--where); else s is one value
 * (--event). */
int qt_add_filter(qt_args *a, const char *opt, const char *field, const char *s, int split,
                  char *err, size_t errlen);

/* "DIM=VALUE[,VALUE...]" of --where. */
int qt_add_where(qt_args *a, const char *s, char *err, size_t errlen);

/* Every field the query names exists in the store's schema; else a message
 * listing the known ones. */
int qt_check_schema(const qt_args *a, const tsagg_schema *schema, char *err, size_t errlen);

/* Metric kinds whose values are whole numbers. */
int qt_metric_is_count(uint32_t kind);

void qt_args_free(qt_args *a);

/* ---- tzoff.c: bucket times as the reader's clock shows them ----------------- */

/* Use zone for the offsets written beside times (NULL or "UTC": none). Call
 * after the library accepted the name: the C library falls back to UTC
 * silently for a name it cannot load. Returns 0, or -1 when the zone's
 * file cannot be read. */
int qt_tz_use(const char *zone);

/* ts as RFC 3339 with the zone's offset at that instant ("Z" for a zero
 * offset); microseconds only when not zero. cap >= 40; returns the length. */
size_t qt_format_time(int64_t ts_us, char *buf, size_t cap);

/* ---- output.c -------------------------------------------------------------- */

/* Write r as a->format says. Returns 0, or -1 on a write error (errno set). */
int qt_write_result(FILE *out, const qt_args *a, const tsagg_result *r);

#endif
