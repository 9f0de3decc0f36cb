/*
 * rejects.h - the --rejects file of tsagg-ingest.
 *
 * Opening it for writing truncates it, so it must never name an input or
 * anything inside the store: both are compared by device and inode, which
 * catches every other name of the same file (a hard or symbolic link,
 * "./in.ndjson", standard input redirected from it). The file is created
 * only when the first line is rejected: a load that rejects nothing leaves
 * an existing file alone.
 */
#ifndef INGEST_REJECTS_H
#define INGEST_REJECTS_H

#include <stddef.h>
#include <stdio.h>

#include "loader.h"

/*
 * Whether path may receive the rejected lines of a load of inputs[0, n)
 * into the store at store_path (which need not exist yet). Returns 0, or
 * CLI_EXIT_USAGE when path is an input or lies inside the store, or
 * CLI_EXIT_FAILURE when its directory cannot be written; why gets the
 * reason, naming the files.
 */
int rejects_check(const char *path, const loader_input *inputs, size_t n,
                  const char *store_path, char *why, size_t cap);

/*
 * Create or truncate path, after checking the opened file once more as
 * rejects_check does. NULL with the reason in why.
 */
FILE *rejects_open(const char *path, const loader_input *inputs, size_t n,
                   const char *store_path, char *why, size_t cap);

#endif
