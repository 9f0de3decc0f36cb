/* testutil.h - helpers shared by the test programs. */
#ifndef TSAGG_TESTUTIL_H
#define TSAGG_TESTUTIL_H

#include <stddef.h>

/* Create a fresh empty directory under $TMPDIR (or /tmp); returns its path
 * in a static buffer owned by the caller's copy. Aborts the test on failure. */
void tu_tmpdir(char *buf, size_t len);

/* Remove a directory tree (best effort). */
void tu_rmtree(const char *path);

/* The shared real-data folder, or NULL when it is absent (tests skip). */
const char *tu_shared_data(void);

#endif
