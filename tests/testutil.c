/* testutil.c - helpers shared by the test programs. */
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

void tu_tmpdir(char *buf, size_t len)
{
    const char *base = getenv("TMPDIR");
    snprintf(buf, len, "%s/tsagg-test-XXXXXX", base && *base ? base : "/tmp");
    cr_assert_not_null(mkdtemp(buf), "mkdtemp failed");
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void tu_rmtree(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char tu_dir[512];
char tu_store[600];

void tu_store_setup(void)
{
    tu_tmpdir(tu_dir, sizeof tu_dir);
    snprintf(tu_store, sizeof tu_store, "%s/store", tu_dir);
}

void tu_store_teardown(void)
{
    tu_rmtree(tu_dir);
}

uint64_t tu_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t tu_splitmix64(uint64_t *state)
{
    uint64_t x = *state;
    *state += 0x9e3779b97f4a7c15ull;
    return tu_mix64(x);
}

uint64_t tu_file_size(const char *path)
{
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0, "%s", path);
    return (uint64_t)sb.st_size;
}

uint64_t tu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *tu_shared_data(void)
{
    const char *dir = getenv("TSAGG_SHARED_DATA");
    static char probe[4096];
    if (!dir)
        return NULL;
    snprintf(probe, sizeof probe, "%s/apache_logs.log", dir);
    return access(probe, R_OK) == 0 ? dir : NULL;
}
