/* testutil.h - helpers shared by the test programs. */
#ifndef TSAGG_TESTUTIL_H
#define TSAGG_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "tsagg.h"

/* Create a fresh empty directory under $TMPDIR (or /tmp); returns its path
 * in a static buffer owned by the caller's copy. Aborts the test on failure. */
void tu_tmpdir(char *buf, size_t len);

/* Remove a directory tree (best effort). */
void tu_rmtree(const char *path);

/* Copy the directory tree `from` (directories and regular files) to `to`,
 * which may exist already. Fails the test on any error. */
void tu_copy_tree(const char *from, const char *to);

/* The temporary-store fixture most suites use as .init/.fini: tu_store_setup
 * makes a fresh tu_dir and points tu_store at "<tu_dir>/store" (not created);
 * tu_store_teardown removes tu_dir. Criterion runs each test in its own
 * process, so every test gets its own pair. */
extern char tu_dir[512];
extern char tu_store[600];
void tu_store_setup(void);
void tu_store_teardown(void);

/* SplitMix64: the next value of the stream whose state is *state (which
 * advances), and the value it yields for state x. Deterministic, so a
 * failing seed can be replayed. */
uint64_t tu_splitmix64(uint64_t *state);
uint64_t tu_mix64(uint64_t x);

/* Size of a file in bytes; fails the test when it cannot be stat'ed. */
uint64_t tu_file_size(const char *path);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t tu_now_ns(void);

/* The shared real-data folder, or NULL when it is absent (tests skip). */
const char *tu_shared_data(void);

/* Events of every merchant in [from, to), by a query (asserts it answers). */
uint64_t tu_count_events(tsagg_store *st, int64_t from, int64_t to);

#endif
