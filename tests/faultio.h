/*
 * faultio.h - a tsagg_io table for tests that injects I/O failures.
 *
 * A faultio wraps another table (tsagg_io_default() unless told otherwise)
 * and delegates every call to it, counting calls per operation. A test can
 * arm, per operation, one rule that fires on the Nth matching call from now
 * (and optionally on every matching call after it):
 *
 *   FIO_FAIL   the call returns the chosen -errno without doing anything;
 *   FIO_SHORT  pwrite/pread transfer at most k bytes (short I/O, success);
 *   FIO_TORN   pwrite writes at most k bytes of the buffer, then the call
 *              returns the chosen -errno (a torn frame, e.g. -ENOSPC).
 *
 * Independently of rules, every call of an operation can be delayed
 * (faultio_delay), to make a slow disk.
 *
 * A rule may be narrowed to calls whose path contains a substring (open,
 * rename, unlink, mkdir, list) and, for open, whose flags include a mask
 * (O_CREAT: fail only file creations).
 *
 * Usage:
 *     faultio fio;
 *     faultio_init(&fio, NULL);
 *     opts.io = faultio_table(&fio);
 *     faultio_fail(&fio, FIO_FSYNC, 1, -EIO);   // the next fsync fails
 *
 * The struct is owned by the test (on its stack or heap); there is no global
 * state. Every counter and rule is atomic: the table may be used from several
 * threads at once, and rules may be armed while the store runs. A rule must
 * not be re-armed while another thread may be inside a matching call.
 */
#ifndef TSAGG_TEST_FAULTIO_H
#define TSAGG_TEST_FAULTIO_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "tsagg_io.h"

enum faultio_op {
    FIO_OPEN,
    FIO_CLOSE,
    FIO_PREAD,
    FIO_PWRITE,
    FIO_FSYNC,
    FIO_FTRUNCATE,
    FIO_FSIZE,
    FIO_RENAME,
    FIO_UNLINK,
    FIO_MKDIR,
    FIO_LOCK,
    FIO_LIST,
    FIO_NOPS
};

enum faultio_kind { FIO_FAIL = 1, FIO_SHORT = 2, FIO_TORN = 3 };

#define FIO_MATCH_MAX 128

typedef struct faultio_rule {
    _Atomic int armed;
    _Atomic int kind;
    _Atomic int err;          /* -errno returned by FAIL and TORN */
    _Atomic size_t k;         /* bytes transferred by SHORT and TORN */
    _Atomic uint64_t nth;     /* fires on matching call number nth (from 1) */
    _Atomic uint64_t times;   /* ... and on the times-1 following; 0: forever */
    _Atomic uint64_t seen;    /* matching calls since arming */
    _Atomic int open_flags;   /* open: fire only if (flags & mask) == mask */
    char match[FIO_MATCH_MAX]; /* path substring; "" matches all (set before arming) */
} faultio_rule;

typedef struct faultio {
    tsagg_io table;           /* hand &table (or faultio_table()) to the store */
    const tsagg_io *base;     /* where calls go */
    _Atomic uint64_t calls[FIO_NOPS];
    _Atomic uint64_t fired[FIO_NOPS];
    _Atomic uint32_t delay_us[FIO_NOPS];
    _Atomic int64_t open_fds; /* successful opens minus closes */
    faultio_rule rule[FIO_NOPS];
} faultio;

/* Wrap `base` (NULL: tsagg_io_default()). Nothing is armed. */
void faultio_init(faultio *f, const tsagg_io *base);
static inline const tsagg_io *faultio_table(faultio *f) { return &f->table; }

/*
 * Arm the rule of `op`: fire on the nth matching call from now (nth >= 1),
 * then on the times-1 following matching calls (times 0: on every one).
 * Replaces any earlier rule of that op and clears its filter.
 */
void faultio_arm(faultio *f, int op, int kind, uint64_t nth, uint64_t times, int err, size_t k);

/* Shorthands. */
/* The nth call of op from now fails with err (once). */
void faultio_fail(faultio *f, int op, uint64_t nth, int err);
/* From the nth call on, every call of op fails with err. */
void faultio_fail_from(faultio *f, int op, uint64_t nth, int err);
/* The nth pwrite writes at most k bytes and then fails with err. */
void faultio_torn(faultio *f, uint64_t nth, size_t k, int err);
/* Every pwrite (or pread: op) transfers at most k bytes. */
void faultio_short_all(faultio *f, int op, size_t k);

/* Narrow the armed rule of op to paths containing `substr` (NULL: any) and,
 * for FIO_OPEN, to flags including `open_flags`. Call before arming or while
 * no matching call can run; re-arming clears it. */
void faultio_filter(faultio *f, int op, const char *substr, int open_flags);

/* Arm with a filter in one step: the filter is set before the rule is armed. */
void faultio_arm_filtered(faultio *f, int op, int kind, uint64_t nth, uint64_t times, int err,
                          size_t k, const char *substr, int open_flags);

/* Make every call of op sleep usec microseconds first (a slow disk: widens
 * the window in which a crash test's kill lands mid-write). 0: no delay. */
void faultio_delay(faultio *f, int op, uint32_t usec);

void faultio_disarm(faultio *f, int op);
void faultio_disarm_all(faultio *f);

/* Calls of op so far (all, matching or not), and injected failures. */
uint64_t faultio_calls(faultio *f, int op);
uint64_t faultio_fired(faultio *f, int op);

/* Descriptors opened through the table and not closed yet: 0 after every
 * handle is closed, or a failure path leaked one. */
int64_t faultio_open_fds(faultio *f);

/* "pwrite", "fsync", ... */
const char *faultio_op_name(int op);

#endif
