/* io_default.c - the operating system's tsagg_io table. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsagg_io.h"

static int os_open(void *ctx, const char *path, int flags, unsigned mode)
{
    int fd;
    do {
        fd = open(path, flags | O_CLOEXEC, (mode_t)mode);
    } while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

static int os_close(void *ctx, int fd)
{
    /* Linux releases the descriptor even when close fails with EINTR. */
    return close(fd) < 0 && errno != EINTR ? -errno : 0;
}

static ssize_t os_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off)
{
    ssize_t n;
    do {
        n = pread(fd, buf, len, (off_t)off);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

static ssize_t os_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t off)
{
    ssize_t n;
    do {
        n = pwrite(fd, buf, len, (off_t)off);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

static int os_fsync(void *ctx, int fd)
{
    int rc;
    do {
        rc = fdatasync(fd);
    } while (rc < 0 && errno == EINTR);
    /* Directories may refuse fdatasync on some file systems; fsync them. */
    if (rc < 0 && errno == EINVAL)
        rc = fsync(fd);
    return rc < 0 ? -errno : 0;
}

static int os_ftruncate(void *ctx, int fd, uint64_t size)
{
    return ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
}

static int os_fsize(void *ctx, int fd, uint64_t *size)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
    *size = (uint64_t)st.st_size;
    return 0;
}

static int os_rename(void *ctx, const char *from, const char *to)
{
    return rename(from, to) < 0 ? -errno : 0;
}

static int os_unlink(void *ctx, const char *path)
{
    return unlink(path) < 0 ? -errno : 0;
}

static int os_mkdir(void *ctx, const char *path, unsigned mode)
{
    return mkdir(path, (mode_t)mode) < 0 ? -errno : 0;
}

static int os_lock(void *ctx, int fd)
{
    int rc;
    do {
        rc = flock(fd, LOCK_EX | LOCK_NB);
    } while (rc < 0 && errno == EINTR);
    return rc < 0 ? -errno : 0;
}

static int os_list(void *ctx, const char *dir, int (*fn)(void *arg, const char *name),
                   void *arg)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    int rc = 0;
    struct dirent *de;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        rc = fn(arg, de->d_name);
        if (rc != 0)
            break;
        errno = 0;
    }
    if (rc == 0 && errno != 0)
        rc = -errno;
    closedir(d);
    return rc;
}

static const tsagg_io os_io = {
    .version = TSAGG_IO_VERSION,
    .ctx = NULL,
    .open = os_open,
    .close = os_close,
    .pread = os_pread,
    .pwrite = os_pwrite,
    .fsync = os_fsync,
    .ftruncate = os_ftruncate,
    .fsize = os_fsize,
    .rename = os_rename,
    .unlink = os_unlink,
    .mkdir = os_mkdir,
    .lock = os_lock,
    .list = os_list,
};

const tsagg_io *tsagg_io_default(void)
{
    return &os_io;
}
