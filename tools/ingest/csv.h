/*
 * csv.h - CSV with a header row (RFC 4180: fields holding , " or line
 * breaks are quoted, "" is a quote inside them; a quote opens quoting only
 * as a field's first byte, elsewhere it is an ordinary byte) into events.
 * The header names the fields as NDJSON keys do; an empty cell is an
 * absent field.
 */
#ifndef INGEST_CSV_H
#define INGEST_CSV_H

#include <stddef.h>
#include <sys/types.h>

#include "ingest.h"

/* csv_parse() results besides 0 (an event) and -1 (row rejected). */
#define CSV_HEADER 1      /* the header row was read: no event */
#define CSV_BAD_HEADER -2 /* the header is unusable (b->err): skip the file */

typedef struct csv_parser csv_parser;

csv_parser *csv_parser_create(void);
void csv_parser_free(csv_parser *c);
/* A new file begins: its first record is the header. */
void csv_parser_reset(csv_parser *c);

/*
 * The length of the record starting at p, up to its terminating newline
 * (excluded), or -1 when the buffer ends inside it. *breaks gets the number
 * of line breaks inside quoted fields (for line numbers).
 */
ssize_t csv_record_length(const char *p, size_t len, unsigned *breaks);

/* Parse one record (no final newline, no trailing CR). */
int csv_parse(csv_parser *c, const char *rec, size_t len, evbuild *b);

#endif
