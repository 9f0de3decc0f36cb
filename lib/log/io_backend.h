/* io_backend.h - how the log writer writes and syncs: io_uring or pwrite. */
#ifndef TSAGG_IO_BACKEND_H
#define TSAGG_IO_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "tsagg_io.h"

#ifdef TSAGG_HAVE_URING
#include <liburing.h>
#endif

typedef struct tsagg__wio {
    const tsagg_io *io;
    int uring; /* 1: writes go through the ring */
#ifdef TSAGG_HAVE_URING
    struct io_uring ring;
#endif
} tsagg__wio;

/*
 * Pick the path. requested is enum tsagg_io_backend; AUTO takes io_uring
 * when liburing was built in, the table is the default one, and the kernel
 * lets us set up a ring that supports write and fsync. Returns 0 or
 * TSAGG_ENOURING when io_uring was forced but cannot be had.
 */
int tsagg__wio_init(tsagg__wio *w, const tsagg_io *io, unsigned requested);
void tsagg__wio_fini(tsagg__wio *w);

/* Write all of buf at off; when sync, make it durable (fdatasync) before
 * returning. With io_uring the fsync is linked to the write, so one
 * submission does both. len may be 0 (sync only). 0 or -errno. */
int tsagg__wio_write(tsagg__wio *w, int fd, const void *buf, size_t len, uint64_t off, int sync);

#endif
