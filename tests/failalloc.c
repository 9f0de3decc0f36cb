/* failalloc.c - one failing allocation on demand (failalloc.h). */
#include "failalloc.h"

#include <stddef.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);

/* Per thread: threads the library starts are never counted. */
static __thread long countdown; /* 0: disarmed */
static __thread int fired;

void failalloc_arm(long nth)
{
    countdown = nth;
    fired = 0;
}

int failalloc_disarm(void)
{
    countdown = 0;
    return fired;
}

static int fail_this_one(void)
{
    if (countdown == 0 || --countdown > 0)
        return 0;
    fired = 1;
    return 1;
}

void *__wrap_malloc(size_t size)
{
    return fail_this_one() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return fail_this_one() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    return fail_this_one() ? NULL : __real_realloc(p, size);
}
