/* fileio.h - whole-buffer I/O and directory durability over a tsagg_io table. */
#ifndef TSAGG_FILEIO_H
#define TSAGG_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "tsagg_io.h"

/* Write all len bytes at off, retrying short writes. 0 or -errno. */
int tsagg__write_all(const tsagg_io *io, int fd, const void *buf, size_t len, uint64_t off);

/* Read exactly len bytes at off. 0, -errno, or 1 when the file ends first
 * (*got, if not NULL, receives the bytes read). */
int tsagg__read_all(const tsagg_io *io, int fd, void *buf, size_t len, uint64_t off,
                    size_t *got);

/* fsync a directory so that names created or renamed in it are durable. */
int tsagg__fsync_dir(const tsagg_io *io, const char *dir);

/* Read a whole small file (at most max bytes) into a malloc'ed buffer.
 * -EFBIG when larger, -EISDIR or -EINVAL when not a regular file (never
 * blocks on a FIFO). */
int tsagg__read_file(const tsagg_io *io, const char *path, size_t max, uint8_t **out,
                     size_t *len);

/* Durably replace `path` with buf: write path.tmp, fsync, rename, fsync dir. */
int tsagg__write_file_atomic(const tsagg_io *io, const char *dir, const char *path,
                             const void *buf, size_t len);

#endif
