/* buf.h - a growable byte buffer, used wherever bytes are assembled. */
#ifndef TSAGG_BUF_H
#define TSAGG_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct tsagg__buf {
    uint8_t *p;
    size_t len, cap;
} tsagg__buf;

/* Make room for `extra` more bytes after len. 0 or -ENOMEM. */
int tsagg__buf_reserve(tsagg__buf *b, size_t extra);
/* Free the bytes and zero the buffer. */
void tsagg__buf_free(tsagg__buf *b);

#endif
