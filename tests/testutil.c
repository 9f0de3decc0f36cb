/* testutil.c - helpers shared by the test programs. */
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
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

const char *tu_shared_data(void)
{
    const char *dir = getenv("TSAGG_SHARED_DATA");
    static char probe[4096];
    if (!dir)
        return NULL;
    snprintf(probe, sizeof probe, "%s/apache_logs.log", dir);
    return access(probe, R_OK) == 0 ? dir : NULL;
}
