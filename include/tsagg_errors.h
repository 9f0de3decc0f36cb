/*
 * tsagg_errors.h - the one error convention of libtsagg.
 *
 * Every function that can fail returns an int: 0 (or a documented positive
 * value) on success, a negative code on failure. Failures of the operating
 * system are passed through as -errno (-EIO, -ENOSPC, -ENOENT, ...). The
 * library's own conditions use the fixed range -30999..-30000, so they never
 * collide with errno values. Codes are stable across releases: a value, once
 * published, keeps its meaning.
 *
 * Handles also keep a human-readable detail of their most recent failure
 * (file, offset, field): see tsagg_store_errmsg() and friends.
 */
#ifndef TSAGG_ERRORS_H
#define TSAGG_ERRORS_H

#include "tsagg_export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, message). The single source for the enum and tsagg_strerror. */
#define TSAGG_ERROR_TABLE(X)                                                         \
    X(TSAGG_ECORRUPT, -30001, "data is corrupt (bad structure)")                    \
    X(TSAGG_ECHECKSUM, -30002, "checksum mismatch")                                 \
    X(TSAGG_EVERSION, -30003, "unsupported format version")                         \
    X(TSAGG_ENOTSTORE, -30004, "not a tsagg store")                                 \
    X(TSAGG_ELOCKED, -30005, "store is locked by another writer")                   \
    X(TSAGG_EARG, -30006, "invalid argument")                                       \
    X(TSAGG_EINPUT, -30007, "bad input")                                            \
    X(TSAGG_EREADONLY, -30008, "store is open read-only")                           \
    X(TSAGG_ENOURING, -30009, "io_uring is not available")                          \
    X(TSAGG_ETIMEDOUT, -30010, "timed out")                                         \
    X(TSAGG_ESCHEMA, -30011, "unknown field or schema mismatch")

enum tsagg_error {
#define TSAGG_ERROR_ENUM_(name, value, msg) name = value,
    TSAGG_ERROR_TABLE(TSAGG_ERROR_ENUM_)
#undef TSAGG_ERROR_ENUM_
};

/*
 * tsagg_strerror - a static, never-NULL description of any return code:
 * library codes, -errno values above -4096 (through strerror, whose glibc
 * strings for known errno values are static), 0 ("success"), and a
 * generic text for other values. The string must not be freed. Thread-safe.
 */
TSAGG_API const char *tsagg_strerror(int code);

/*
 * tsagg_errname - the symbolic name of a library code ("TSAGG_ECHECKSUM"),
 * "ERRNO" for a negative errno, "OK" for 0, "UNKNOWN" otherwise. Static.
 */
TSAGG_API const char *tsagg_errname(int code);

#ifdef __cplusplus
}
#endif
#endif
