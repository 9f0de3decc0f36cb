/* fileio.c - whole-buffer I/O and directory durability over a tsagg_io table. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

int tsagg__write_all(const tsagg_io *io, int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = io->pwrite(io->ctx, fd, p, len, off);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

int tsagg__read_all(const tsagg_io *io, int fd, void *buf, size_t len, uint64_t off,
                    size_t *got)
{
    uint8_t *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = io->pread(io->ctx, fd, p + done, len - done, off + done);
        if (n < 0)
            return (int)n;
        if (n == 0)
            break;
        done += (size_t)n;
    }
    if (got)
        *got = done;
    return done == len ? 0 : 1;
}

int tsagg__fsync_dir(const tsagg_io *io, const char *dir)
{
    int fd = io->open(io->ctx, dir, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return fd;
    int rc = io->fsync(io->ctx, fd);
    io->close(io->ctx, fd);
    return rc;
}

int tsagg__read_file(const tsagg_io *io, const char *path, size_t max, uint8_t **out,
                     size_t *len)
{
    /* Non-blocking, so that a FIFO in place of the file cannot hang the
     * open; fsize then refuses anything but a regular file. */
    int fd = io->open(io->ctx, path, O_RDONLY | O_NONBLOCK, 0);
    if (fd < 0)
        return fd;
    uint64_t size;
    int rc = io->fsize(io->ctx, fd, &size);
    if (rc == 0 && size > max)
        rc = -EFBIG;
    uint8_t *buf = NULL;
    if (rc == 0) {
        buf = malloc(size ? (size_t)size : 1);
        if (!buf)
            rc = -ENOMEM;
    }
    if (rc == 0) {
        rc = tsagg__read_all(io, fd, buf, (size_t)size, 0, NULL);
        if (rc == 1)
            rc = -EIO; /* the file shrank under us */
    }
    io->close(io->ctx, fd);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = (size_t)size;
    return 0;
}

int tsagg__write_file_atomic(const tsagg_io *io, const char *dir, const char *path,
                             const void *buf, size_t len)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    int fd = io->open(io->ctx, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return fd;
    int rc = tsagg__write_all(io, fd, buf, len, 0);
    if (rc == 0)
        rc = io->fsync(io->ctx, fd);
    int crc = io->close(io->ctx, fd);
    if (rc == 0)
        rc = crc;
    if (rc == 0)
        rc = io->rename(io->ctx, tmp, path);
    if (rc != 0) {
        io->unlink(io->ctx, tmp);
        return rc;
    }
    return tsagg__fsync_dir(io, dir);
}
