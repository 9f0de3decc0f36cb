/* records.c - see records.h. */
#include "records.h"

#include <string.h>

ssize_t ingest_record_length(enum ingest_format format, const char *p, size_t len,
                             unsigned *breaks)
{
    if (format == FORMAT_CSV)
        return csv_record_length(p, len, breaks);
    *breaks = 0;
    const char *nl = memchr(p, '\n', len);
    return nl ? nl - p : -1;
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
