/* faultio.c - a fault-injecting tsagg_io table for tests (see faultio.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>

#include "faultio.h"

static const char *const op_names[FIO_NOPS] = {
    "open", "close", "pread", "pwrite", "fsync", "ftruncate",
    "fsize", "rename", "unlink", "mkdir", "lock", "list",
};

const char *faultio_op_name(int op)
{
    return op >= 0 && op < FIO_NOPS ? op_names[op] : "?";
}

/*
 * Count a call of op and decide whether its rule fires: returns the kind
 * (0: behave normally) with *err and *k of the rule.
 */
static int check(faultio *f, int op, const char *path, int flags, int *err, size_t *k)
{
    atomic_fetch_add_explicit(&f->calls[op], 1, memory_order_relaxed);
    uint32_t us = atomic_load_explicit(&f->delay_us[op], memory_order_relaxed);
    if (us) {
        struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    faultio_rule *r = &f->rule[op];
    if (!atomic_load_explicit(&r->armed, memory_order_acquire))
        return 0;
    if (r->match[0] && (!path || !strstr(path, r->match)))
        return 0;
    int mask = atomic_load(&r->open_flags);
    if (op == FIO_OPEN && mask && (flags & mask) != mask)
        return 0;
    uint64_t n = atomic_fetch_add(&r->seen, 1) + 1;
    uint64_t nth = atomic_load(&r->nth), times = atomic_load(&r->times);
    if (n < nth || (times && n >= nth + times))
        return 0;
    atomic_fetch_add(&f->fired[op], 1);
    *err = atomic_load(&r->err);
    *k = atomic_load(&r->k);
    return atomic_load(&r->kind);
}

#define SELF(ctx) ((faultio *)(ctx))

static int fio_open(void *ctx, const char *path, int flags, unsigned mode)
{
    faultio *f = SELF(ctx);
    int err;
    size_t k;
    if (check(f, FIO_OPEN, path, flags, &err, &k) == FIO_FAIL)
        return err;
    int fd = f->base->open(f->base->ctx, path, flags, mode);
    if (fd >= 0)
        atomic_fetch_add(&f->open_fds, 1);
    return fd;
}

static int fio_close(void *ctx, int fd)
{
    faultio *f = SELF(ctx);
    int err;
    size_t k;
    atomic_fetch_sub(&f->open_fds, 1);
    if (check(f, FIO_CLOSE, NULL, 0, &err, &k) == FIO_FAIL) {
        /* Like Linux: the descriptor is released even when close fails. */
        f->base->close(f->base->ctx, fd);
        return err;
    }
    return f->base->close(f->base->ctx, fd);
}

static ssize_t fio_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off)
{
    faultio *f = SELF(ctx);
    int err;
    size_t k;
    int kind = check(f, FIO_PREAD, NULL, 0, &err, &k);
    if (kind == FIO_FAIL)
        return err;
    if (kind == FIO_SHORT && k > 0 && len > k)
        len = k;
    return f->base->pread(f->base->ctx, fd, buf, len, off);
}

static ssize_t fio_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t off)
{
    faultio *f = SELF(ctx);
    int err;
    size_t k;
    int kind = check(f, FIO_PWRITE, NULL, 0, &err, &k);
    if (kind == FIO_FAIL)
        return err;
    if (kind == FIO_SHORT && k > 0 && len > k)
        len = k;
    if (kind == FIO_TORN) {
        /* Write a prefix, as a full disk does mid-frame, then fail. */
        size_t part = len < k ? len : k;
        const uint8_t *p = buf;
        while (part > 0) {
            ssize_t n = f->base->pwrite(f->base->ctx, fd, p, part, off);
            if (n <= 0)
                break;
            p += n;
            off += (uint64_t)n;
            part -= (size_t)n;
        }
        return err;
    }
    return f->base->pwrite(f->base->ctx, fd, buf, len, off);
}

static int fio_fsync(void *ctx, int fd)
{
    faultio *f = SELF(ctx);
    int err;
    size_t k;
    if (check(f, FIO_FSYNC, NULL, 0, &err, &k) == FIO_FAIL)
        return err;
    return f->base->fsync(f->base->ctx, fd);
}

static int fio_ftruncate(void *ctx, int fd, uint64_t size)
{
    faultio *f = SELF(ctx);
    int err;
    size_t k;
    if (check(f, FIO_FTRUNCATE, NULL, 0, &err, &k) == FIO_FAIL)
        return err;
    return f->base->ftruncate(f->base->ctx, fd, size);
}

static int fio_fsize(void *ctx, int fd, uint64_t *size)
{
    faultio *f = SELF(ctx);
    int err;
    size_t k;
    if (check(f, FIO_FSIZE, NULL, 0, &err, &k) == FIO_FAIL)
        return err;
    return f->base->fsize(f->base->ctx, fd, size);
}

static int fio_rename(void *ctx, const char *from, const char *to)
{
    faultio *f = SELF(ctx);
    int err;
    size_t k;
    if (check(f, FIO_RENAME, to, 0, &err, &k) == FIO_FAIL)
        return err;
    return f->base->rename(f->base->ctx, from, to);
}

static int fio_unlink(void *ctx, const char *path)
{
    faultio *f = SELF(ctx);
    int err;
    size_t k;
    if (check(f, FIO_UNLINK, path, 0, &err, &k) == FIO_FAIL)
        return err;
    return f->base->unlink(f->base->ctx, path);
}

static int fio_mkdir(void *ctx, const char *path, unsigned mode)
{
    faultio *f = SELF(ctx);
    int err;
    size_t k;
    if (check(f, FIO_MKDIR, path, 0, &err, &k) == FIO_FAIL)
        return err;
    return f->base->mkdir(f->base->ctx, path, mode);
}

static int fio_lock(void *ctx, int fd)
{
    faultio *f = SELF(ctx);
    int err;
    size_t k;
    if (check(f, FIO_LOCK, NULL, 0, &err, &k) == FIO_FAIL)
        return err;
    return f->base->lock(f->base->ctx, fd);
}

static int fio_list(void *ctx, const char *dir, int (*fn)(void *arg, const char *name), void *arg)
{
    faultio *f = SELF(ctx);
    int err;
    size_t k;
    if (check(f, FIO_LIST, dir, 0, &err, &k) == FIO_FAIL)
        return err;
    return f->base->list(f->base->ctx, dir, fn, arg);
}

void faultio_init(faultio *f, const tsagg_io *base)
{
    memset(f, 0, sizeof *f);
    f->base = base ? base : tsagg_io_default();
    for (int i = 0; i < FIO_NOPS; i++) {
        atomic_init(&f->calls[i], 0);
        atomic_init(&f->fired[i], 0);
        atomic_init(&f->delay_us[i], 0);
        atomic_init(&f->rule[i].armed, 0);
    }
    atomic_init(&f->open_fds, 0);
    f->table = (tsagg_io){
        .version = TSAGG_IO_VERSION,
        .ctx = f,
        .open = fio_open,
        .close = fio_close,
        .pread = fio_pread,
        .pwrite = fio_pwrite,
        .fsync = fio_fsync,
        .ftruncate = fio_ftruncate,
        .fsize = fio_fsize,
        .rename = fio_rename,
        .unlink = fio_unlink,
        .mkdir = fio_mkdir,
        .lock = fio_lock,
        .list = fio_list,
    };
}

void faultio_arm_filtered(faultio *f, int op, int kind, uint64_t nth, uint64_t times, int err,
                          size_t k, const char *substr, int open_flags)
{
    faultio_rule *r = &f->rule[op];
    atomic_store_explicit(&r->armed, 0, memory_order_release);
    atomic_store(&r->kind, kind);
    atomic_store(&r->err, err);
    atomic_store(&r->k, k);
    atomic_store(&r->nth, nth ? nth : 1);
    atomic_store(&r->times, times);
    atomic_store(&r->seen, 0);
    atomic_store(&r->open_flags, open_flags);
    size_t n = substr ? strlen(substr) : 0;
    if (n >= sizeof r->match)
        n = sizeof r->match - 1;
    if (n)
        memcpy(r->match, substr, n);
    r->match[n] = 0;
    atomic_store_explicit(&r->armed, 1, memory_order_release);
}

void faultio_arm(faultio *f, int op, int kind, uint64_t nth, uint64_t times, int err, size_t k)
{
    faultio_arm_filtered(f, op, kind, nth, times, err, k, NULL, 0);
}

void faultio_fail(faultio *f, int op, uint64_t nth, int err)
{
    faultio_arm(f, op, FIO_FAIL, nth, 1, err, 0);
}

void faultio_fail_from(faultio *f, int op, uint64_t nth, int err)
{
    faultio_arm(f, op, FIO_FAIL, nth, 0, err, 0);
}

void faultio_torn(faultio *f, uint64_t nth, size_t k, int err)
{
    faultio_arm(f, FIO_PWRITE, FIO_TORN, nth, 1, err, k);
}

void faultio_short_all(faultio *f, int op, size_t k)
{
    faultio_arm(f, op, FIO_SHORT, 1, 0, 0, k ? k : 1);
}

void faultio_filter(faultio *f, int op, const char *substr, int open_flags)
{
    faultio_rule *r = &f->rule[op];
    int armed = atomic_exchange(&r->armed, 0);
    atomic_store(&r->open_flags, open_flags);
    size_t n = substr ? strlen(substr) : 0;
    if (n >= sizeof r->match)
        n = sizeof r->match - 1;
    if (n)
        memcpy(r->match, substr, n);
    r->match[n] = 0;
    atomic_store_explicit(&r->armed, armed, memory_order_release);
}

void faultio_delay(faultio *f, int op, uint32_t usec)
{
    atomic_store(&f->delay_us[op], usec);
}

void faultio_disarm(faultio *f, int op)
{
    atomic_store_explicit(&f->rule[op].armed, 0, memory_order_release);
}

void faultio_disarm_all(faultio *f)
{
    for (int i = 0; i < FIO_NOPS; i++)
        faultio_disarm(f, i);
}

int64_t faultio_open_fds(faultio *f)
{
    return atomic_load(&f->open_fds);
}

uint64_t faultio_calls(faultio *f, int op)
{
    return atomic_load(&f->calls[op]);
}

uint64_t faultio_fired(faultio *f, int op)
{
    return atomic_load(&f->fired[op]);
}
