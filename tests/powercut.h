/*
 * powercut.h - a tsagg_io table for tests that simulates losing power.
 *
 * A fault-free kill (test_crash.c) keeps the page cache, so it cannot catch
 * a missing fsync. This table passes every call through to the operating
 * system, so the library runs as usual, and beside it keeps a model of what
 * a disk would hold after a power cut:
 *
 *   - per file (identified by its inode, followed across renames): the
 *     content at its last fsync, and the writes and truncations since;
 *   - per directory under the root: its entries at its last fsync, and the
 *     creations, renames, unlinks and mkdirs since, in order.
 *
 * Everything under the root when powercut_init() runs counts as durable.
 * The real fsync is skipped (the model says what is durable), which also
 * makes the table a fast one for checking the images it writes.
 *
 * The power is cut before the Nth "mutating" call (open with O_CREAT or
 * O_TRUNC, pwrite, fsync, ftruncate, rename, unlink, mkdir): that call and
 * every later one fail with -EIO and change nothing, so the model freezes.
 * powercut_image() then writes, into a fresh directory, what the disk holds:
 *
 *   PC_DURABLE  only what an fsync made durable: file contents up to their
 *               last fsync, names only where their directory was fsynced
 *               after the create, rename or unlink;
 *   PC_TORN     every unsynced change reached the disk except the last
 *               unsynced write, which is torn at a 512-byte sector boundary
 *               (none, some or all but one of its sectors landed);
 *   PC_REORDER  each file's unsynced changes landed in order up to one
 *               torn write, each file independently of the others (so the
 *               disk holds a later write of one file and not an earlier
 *               write of another), and a prefix of the unsynced name
 *               changes (a metadata journal commits in order);
 *   PC_SCATTER  as PC_REORDER for names, but any subset of the unsynced
 *               writes' sectors landed, in no order even within a file.
 *               The log's recovery tells such a hole from damage to
 *               durable frames by the frames' synced flag (log format 2;
 *               docs/durability.md).
 *
 * Randomness (which sectors, which prefix) comes from the seed given to
 * powercut_arm(), so an image reproduces. Only one directory tree is
 * modelled; calls on paths outside the root pass through untracked.
 * Thread-safe: every mutating call is serialised under one mutex.
 */
#ifndef TSAGG_TEST_POWERCUT_H
#define TSAGG_TEST_POWERCUT_H

#include <stdint.h>

#include "tsagg_io.h"

typedef struct powercut powercut;

enum powercut_mode { PC_DURABLE = 0, PC_TORN = 1, PC_REORDER = 2, PC_SCATTER = 3, PC_NMODES = 4 };

/* Model the tree at `root` (as the library will be given it: same
 * spelling); everything in it now is durable. Aborts the test on failure. */
powercut *powercut_init(const char *root);
void powercut_free(powercut *pc); /* accepts NULL */

const tsagg_io *powercut_table(powercut *pc);

/* Cut the power before the nth mutating call from the start (n >= 1; 0:
 * never). `seed` drives the choices of powercut_image(). */
void powercut_arm(powercut *pc, uint64_t n, uint64_t seed);

/* Mutating calls so far (including refused ones after the cut). */
uint64_t powercut_calls(powercut *pc);

/* 1 once the power is cut. */
int powercut_is_cut(powercut *pc);

/* Cut now if it has not happened yet. */
void powercut_cut_now(powercut *pc);

/* Write what the disk holds after the cut, in `mode`, into the directory
 * `dest` (created; must not exist). Cuts first if needed. */
void powercut_image(powercut *pc, int mode, const char *dest);

const char *powercut_mode_name(int mode);

#endif
