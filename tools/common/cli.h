/*
 * cli.h - what the tsagg-* command-line tools share: exit codes, parsing of
 * times and numbers given on the command line, RFC 3339 output, and opening
 * a store with a readable error. Not part of the library.
 */
#ifndef TSAGG_CLI_H
#define TSAGG_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "tsagg.h"

/* Exit codes, the same for every tool (docs/tools.md). */
enum {
    CLI_EXIT_OK = 0,       /* done, nothing to report */
    CLI_EXIT_PARTIAL = 1,  /* done, but input was rejected (tsagg-ingest),
                              damage was found (tsagg-verify), or the answer
                              stops at damage in the log (tsagg-query) */
    CLI_EXIT_USAGE = 2,    /* bad option, argument or query */
    CLI_EXIT_FAILURE = 3,  /* the store or a file failed (I/O, damage) */
    CLI_EXIT_STOPPED = 4   /* tsagg-ingest stopped early at --max-errors */
};

/* "prog: message\n" on stderr. */
void cli_error(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* cli_error() plus "Try 'prog --help'."; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "prog (libtsagg) X.Y.Z\n" on stdout; returns CLI_EXIT_OK. */
int cli_print_version(const char *prog);

/* Flush stdout before exiting with code: a report that could not be
 * written (a full disk, a closed pipe) is a failure, so CLI_EXIT_FAILURE
 * after saying so; otherwise code. */
int cli_finish_stdout(const char *prog, int code);

/* Decimal unsigned integer, the whole string: 1 on success, 0 otherwise. */
int cli_parse_u64(const char *s, uint64_t *out);

/* The current time in µs since the epoch (CLOCK_REALTIME). */
int64_t cli_now_us(void);

/*
 * A time given on the command line, into µs since the epoch:
 *   RFC 3339         2026-11-01T13:00:00Z, 2026-11-01 05:30:00+05:30
 *   a date           2026-11-01 (midnight UTC)
 *   relative to now  now, now-24h, now+30m, -7d (units s, m, h, d, w)
 *   integer          @1767225600 (seconds since the epoch)
 * now_us is "now". Returns 1 on success, 0 when s is none of these.
 */
int cli_parse_time(const char *s, int64_t now_us, int64_t *out_us);

/* A span of time such as 90s, 5m, 24h, 7d or 2w (a positive count and a
 * unit s, m, h, d or w) into µs: 1 on success, 0 otherwise. */
int cli_parse_duration(const char *s, int64_t *out_us);

/*
 * ts as RFC 3339 with the given UTC offset in seconds: "...T13:00:00Z" for
 * offset 0, "...T18:30:00+05:30" otherwise. With frac, ".ffffff" is added
 * when the µs are not zero. Needs cap >= 40; returns the length.
 */
size_t cli_format_time(int64_t ts_us, int offset_s, int frac, char *buf, size_t cap);

/*
 * Open the store at path with opts (NULL: read-only). On failure prints
 * "prog: PATH: <error name> (<text>): <detail>" (": <detail>" only when
 * the library gave one) and returns the library's error.
 */
int cli_open_store(const char *prog, const char *path, const tsagg_options *opts,
                   tsagg_store **out);

/* Print "prog: what: <error name> (<text>): <store detail>" for rc (": <store
 * detail>" only when the handle has one). */
void cli_report(const char *prog, tsagg_store *st, const char *what, int rc);

/* Threads to compact with by default: the online CPUs, 1 to
 * TSAGG_COMPACT_THREADS_MAX. */
uint32_t cli_compact_threads(void);

/* The arguments of --budget MIB (1..1048576, into bytes) and --threads N
 * (1..TSAGG_COMPACT_THREADS_MAX) of the tools that compact: 1, or 0 after
 * saying what was expected. */
int cli_budget_arg(const char *prog, const char *arg, uint64_t *bytes);
int cli_threads_arg(const char *prog, const char *arg, uint32_t *threads);

/* Whether stderr is a terminal (for progress lines). */
int cli_stderr_is_tty(void);

#endif
