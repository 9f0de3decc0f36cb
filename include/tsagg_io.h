/*
 * tsagg_io.h - the pluggable I/O table.
 *
 * Every file operation of libtsagg goes through a tsagg_io table, in the way
 * SQLite goes through its VFS. The default table calls the operating system.
 * Tests wrap it to inject failures (EIO on fsync, ENOSPC, short writes) and
 * to simulate crashes; hosts may use it to account for I/O.
 *
 * Conventions for every callback: return >= 0 on success and -errno on
 * failure (never -1 with errno set). `ctx` is the table's own pointer, passed
 * back unchanged. Callbacks may be called from several threads at once.
 * A system call interrupted by a signal is the callback's to retry, as the
 * default table does: -EINTR is returned to the caller as a failure.
 *
 * A store opened with a table other than tsagg_io_default() writes its log
 * through the pwrite/fdatasync path unless TSAGG_IO_URING is forced, because
 * io_uring submissions bypass the table's pwrite and fsync.
 */
#ifndef TSAGG_IO_H
#define TSAGG_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tsagg_export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The table's layout version. 1: the callbacks below. A later version
 * only adds callbacks at the end; the library calls one only when the
 * table's version has it, so tables written for an older version keep
 * working, and a table of a newer version works with an older library. */
#define TSAGG_IO_VERSION 1

typedef struct tsagg_io {
    int version;       /* TSAGG_IO_VERSION as the table was written for;
                          0 is read as 1 */
    void *ctx;
    /* open(2): returns a file descriptor or -errno. */
    int (*open)(void *ctx, const char *path, int flags, unsigned mode);
    int (*close)(void *ctx, int fd);
    /* Positional I/O; may transfer fewer bytes than asked (short I/O). */
    ssize_t (*pread)(void *ctx, int fd, void *buf, size_t len, uint64_t off);
    ssize_t (*pwrite)(void *ctx, int fd, const void *buf, size_t len, uint64_t off);
    /* Make the file's data durable (fdatasync). Also used on directories. */
    int (*fsync)(void *ctx, int fd);
    int (*ftruncate)(void *ctx, int fd, uint64_t size);
    /* Size of an open file in bytes, stored in *size; -EISDIR for a
     * directory and -EINVAL for anything else that is not a regular file
     * (a FIFO or a device put in place of a store's file is refused, not
     * read). */
    int (*fsize)(void *ctx, int fd, uint64_t *size);
    int (*rename)(void *ctx, const char *from, const char *to);
    int (*unlink)(void *ctx, const char *path);
    int (*mkdir)(void *ctx, const char *path, unsigned mode);
    /* Exclusive, non-blocking advisory lock on an open file: -EWOULDBLOCK
     * when another open file description holds it. Released on close. */
    int (*lock)(void *ctx, int fd);
    /* Call fn(arg, name) for every entry of a directory except "." and "..";
     * a non-zero return from fn stops the listing and is returned. */
    int (*list)(void *ctx, const char *dir, int (*fn)(void *arg, const char *name),
                void *arg);
} tsagg_io;

/* The operating system's table. Static; never NULL. */
TSAGG_API const tsagg_io *tsagg_io_default(void);

#ifdef __cplusplus
}
#endif
#endif
