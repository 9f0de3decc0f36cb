/* records.c - see records.h. */
#include "records.h"

#include <string.h>

ssize_t ingest_record_length(enum ingest_format format, const char *p, size_t len, int at_end,
                             unsigned *breaks)
{
    *breaks = 0;
    ssize_t n = format == FORMAT_CSV ? csv_record_length(p, len, breaks) : -1;
    if (format != FORMAT_CSV || (n < 0 && at_end)) {
        /* At the end of the input an unclosed CSV quote costs its first
         * line only, not every line after it. */
        *breaks = 0;
        const char *nl = memchr(p, '\n', len);
        n = nl ? nl - p : at_end ? (ssize_t)len : -1;
    }
    return n;
}

int ingest_parse_record(const ingest_parsers *ps, enum ingest_format format, const char *rec,
                        size_t len, evbuild *b)
{
    if (len && rec[len - 1] == '\r')
        len--;
    size_t blank = 0;
    while (blank < len && (rec[blank] == ' ' || rec[blank] == '\t'))
        blank++;
    if (blank == len)
        return RECORD_BLANK; /* empty lines carry nothing */
    if (format == FORMAT_NDJSON)
        return ndjson_parse(ps->ndjson, rec, len, b);
    if (format == FORMAT_CSV)
        return csv_parse(ps->csv, rec, len, b);
    return accesslog_parse(ps->alog, rec, len, b);
}
