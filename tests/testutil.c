/* testutil.c - helpers shared by the test programs. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

void tu_copy_tree(const char *from, const char *to)
{
    cr_assert(mkdir(to, 0755) == 0 || errno == EEXIST, "%s: %s", to, strerror(errno));
    DIR *d = opendir(from);
    cr_assert_not_null(d, "%s: %s", from, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char a[4400], b[4400];
        snprintf(a, sizeof a, "%s/%s", from, de->d_name);
        snprintf(b, sizeof b, "%s/%s", to, de->d_name);
        struct stat sb;
        cr_assert_eq(lstat(a, &sb), 0, "%s: %s", a, strerror(errno));
        if (S_ISDIR(sb.st_mode)) {
            tu_copy_tree(a, b);
            continue;
        }
        FILE *in = fopen(a, "rb"), *out = fopen(b, "wb");
        cr_assert(in && out, "copy %s to %s: %s", a, b, strerror(errno));
        char buf[65536];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, in)) > 0)
            cr_assert_eq(fwrite(buf, 1, n, out), n, "%s: %s", b, strerror(errno));
        cr_assert_eq(ferror(in), 0, "%s: read error", a);
        fclose(in);
        cr_assert_eq(fclose(out), 0, "%s: %s", b, strerror(errno));
    }
    closedir(d);
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

uint64_t tu_count_events(tsagg_store *st, int64_t from, int64_t to)
{
    tsagg_query q;
    tsagg_query_init(&q);
    q.flags = TSAGG_QUERY_ALL_MERCHANTS;
    q.from = from;
    q.to = to;
    q.bucket = TSAGG_BUCKET_TOTAL;
    tsagg_result *r;
    cr_assert_eq(tsagg_result_create(&r), 0);
    int rc = tsagg_query_run(st, &q, r);
    cr_assert_eq(rc, 0, "query: %s", tsagg_result_errmsg(r));
    uint64_t n = (uint64_t)tsagg_result_values(r, 0)[0];
    tsagg_result_free(r);
    return n;
}
