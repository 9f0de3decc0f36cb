/*
 * records.h - input text into records, and one record into an event with
 * the parser of its format. The loader runs these over its read buffer;
 * the fuzz targets (tests/fuzz/fuzz_ingest_*.c) over their input.
 */
#ifndef INGEST_RECORDS_H
#define INGEST_RECORDS_H

#include <stddef.h>
#include <sys/types.h>

#include "accesslog.h"
#include "csv.h"
#include "ingest.h"
#include "ndjson.h"

/* ingest_parse_record() result besides 0, -1, CSV_HEADER and CSV_BAD_HEADER. */
#define RECORD_BLANK 2 /* an empty or blank line: nothing */

/* The parsers of one load; those of formats not read may stay NULL. */
typedef struct ingest_parsers {
    ndjson_parser *ndjson;
    csv_parser *csv;
    accesslog_parser *alog;
} ingest_parsers;

/*
 * The length of the record of that format starting at p, up to its
 * terminating newline (excluded), or -1 when the data ends inside it.
 * *breaks gets the number of line breaks inside it (CSV quoted fields).
 * With at_end (no data follows p + len) the answer is never -1: a record
 * the data ends inside is cut at its first newline (a CSV quote never
 * closed, rejected as such) or is the rest of the data.
 */
ssize_t ingest_record_length(enum ingest_format format, const char *p, size_t len, int at_end,
                             unsigned *breaks);

/*
 * Parse one record, without its newline (a final CR is dropped here), into
 * a new event of b; b must not be full (evb_full). For NDJSON the bytes up
 * to rec + len + NDJSON_PADDING must be readable. Returns 0 (an event),
 * RECORD_BLANK, CSV_HEADER, or -1 / CSV_BAD_HEADER with the reason in
 * b->err (csv.h: the rest of a CSV file is then unusable).
 */
int ingest_parse_record(const ingest_parsers *ps, enum ingest_format format, const char *rec,
                        size_t len, evbuild *b);

#endif
