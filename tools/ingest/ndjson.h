/*
 * ndjson.h - one JSON object per line into an event (simdjson on demand,
 * behind a C interface so that the rest of the tool stays C).
 */
#ifndef INGEST_NDJSON_H
#define INGEST_NDJSON_H

#include <stddef.h>

#include "ingest.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Readable bytes the parser needs after each line (SIMDJSON_PADDING). */
#define NDJSON_PADDING 64

typedef struct ndjson_parser ndjson_parser;

/* NULL on ENOMEM. */
ndjson_parser *ndjson_parser_create(void);
void ndjson_parser_free(ndjson_parser *p);

/*
 * Parse line[0, len) (no newline) into a new event of b; the bytes up to
 * line + len + NDJSON_PADDING must be readable. Strings of the event point
 * into line or into b's arena. 0, or -1 with the reason in b->err.
 */
int ndjson_parse(ndjson_parser *p, const char *line, size_t len, evbuild *b);

/* The same through simdjson alone, without the fast path for flat objects
 * of ASCII strings and integers: what that path must agree with (the
 * NDJSON fuzz target compares the two on every line). */
int ndjson_parse_general(ndjson_parser *p, const char *line, size_t len, evbuild *b);

#ifdef __cplusplus
}
#endif
#endif
