/* jsonout.h - writing JSON text to a stream (responses are built with
 * open_memstream; jansson parses the request bodies). */
#ifndef SERVER_JSONOUT_H
#define SERVER_JSONOUT_H

#include <stddef.h>
#include <stdio.h>

/* s[0, len) as a JSON string, quotes included; bytes below 0x20, quotes and
 * backslashes escaped, the rest as given (the inputs are UTF-8). */
void json_put_str(FILE *f, const char *s, size_t len);

/* A number: integers without a fraction, NaN and infinities as null. */
void json_put_num(FILE *f, double v);

#endif
