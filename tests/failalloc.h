/*
 * failalloc.h - an allocator for tests that makes one allocation fail.
 *
 * A test program linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc
 * (tests/meson.build) routes every malloc, calloc and realloc of its own
 * code and of the library's static archives through failalloc.c, which
 * delegates to the real ones. A test arms it to make the Nth of those calls
 * from now, on the calling thread only, return NULL (realloc leaves its
 * block as it was), the way a full heap would; threads the library starts
 * (the log's writer thread) are never failed, so a sweep over N is
 * deterministic.
 *
 *     failalloc_arm(3);        // the third allocation from now fails
 *     ...                      // the code under test
 *     int hit = failalloc_disarm();   // 1 when it did fail one
 *
 * Allocations made inside shared libraries (libc's own strdup, zstd) are
 * not wrapped.
 */
#ifndef TSAGG_TEST_FAILALLOC_H
#define TSAGG_TEST_FAILALLOC_H

/* The nth (1-based) allocation from now on this thread fails. */
void failalloc_arm(long nth);
/* Stop failing; 1 when an allocation failed since failalloc_arm. */
int failalloc_disarm(void);

#endif
