/*
 * test_store.c - schemas and the store handle: creation, reopening, the
 * descriptor's checks (magic, checksum, version), option validation, the
 * writer lock, error messages, read-only handles.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "testutil.h"
#include "tsagg.h"

/* ---- fixture: one temporary directory per test --------------------------- */

TestSuite(store, .init = tu_store_setup, .fini = tu_store_teardown, .timeout = 30);
TestSuite(schema, .timeout = 10);

/* ---- helpers --------------------------------------------------------------- */

static void opts_writer(tsagg_options *o)
{
    tsagg_options_init(o);
    o->flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
}

static tsagg_store *create_store(const char *path, const tsagg_schema *schema)
{
    tsagg_options o;
    opts_writer(&o);
    o.schema = schema;
    tsagg_store *st = NULL;
    char err[512];
    int rc = tsagg_store_open(path, &o, &st, err, sizeof err);
    cr_assert_eq(rc, 0, "create %s: %s (%s)", path, tsagg_strerror(rc), err);
    cr_assert_not_null(st);
    return st;
}

static void create_and_close(const char *path)
{
    cr_assert_eq(tsagg_store_close(create_store(path, NULL)), 0);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "open %s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void spit(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "open %s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(buf, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static void descriptor_path(char *buf, size_t len)
{
    snprintf(buf, len, "%s/tsagg.store", tu_store);
}

/* Open `path` with opts; expect failure `want`, a NULL handle and a
 * non-empty message. Returns the message in msg. */
static void expect_open_fails(const char *path, const tsagg_options *o, int want, char *msg,
                              size_t msglen)
{
    tsagg_store *st = (tsagg_store *)(uintptr_t)0x1; /* must be reset to NULL */
    memset(msg, 'x', msglen);
    int rc = tsagg_store_open(path, o, &st, msg, msglen);
    cr_assert_eq(rc, want, "open %s: got %d (%s, %s), want %d (%s); errmsg \"%s\"", path, rc,
                 tsagg_errname(rc), tsagg_strerror(rc), want, tsagg_errname(want), msg);
    cr_assert_null(st, "*out must be NULL after a failed open");
    cr_assert(memchr(msg, 0, msglen) != NULL, "errmsg must be NUL-terminated");
    cr_assert_gt(strlen(msg), 0, "errmsg must be filled on failure");
}

/* ---- schemas --------------------------------------------------------------- */

Test(schema, default_names)
{
    tsagg_schema *s = NULL;
    cr_assert_eq(tsagg_schema_create_default(&s), 0);
    static const char *const dims[] = {"page", "referrer", "country", "device", "browser", "os"};
    cr_assert_eq(tsagg_schema_dimension_count(s), 6);
    cr_assert_eq(tsagg_schema_measure_count(s), 1);
    for (size_t i = 0; i < 6; i++) {
        cr_assert_str_eq(tsagg_schema_dimension_name(s, i), dims[i]);
        cr_assert_eq(tsagg_schema_dimension_index(s, dims[i]), (int)i);
        cr_assert_eq(tsagg_schema_measure_index(s, dims[i]), -1);
    }
    cr_assert_str_eq(tsagg_schema_measure_name(s, 0), "value");
    cr_assert_eq(tsagg_schema_measure_index(s, "value"), 0);
    cr_assert_eq(tsagg_schema_dimension_index(s, "value"), -1);
    cr_assert_null(tsagg_schema_dimension_name(s, 6));
    cr_assert_null(tsagg_schema_dimension_name(s, SIZE_MAX));
    cr_assert_null(tsagg_schema_measure_name(s, 1));
    cr_assert_eq(tsagg_schema_dimension_index(s, "nope"), -1);
    cr_assert_eq(tsagg_schema_measure_index(s, "nope"), -1);
    tsagg_schema_free(s);
    tsagg_schema_free(NULL); /* accepted */
}

Test(schema, empty_schema)
{
    tsagg_schema *s = NULL;
    cr_assert_eq(tsagg_schema_create(&s), 0);
    cr_assert_not_null(s);
    cr_assert_eq(tsagg_schema_dimension_count(s), 0);
    cr_assert_eq(tsagg_schema_measure_count(s), 0);
    cr_assert_null(tsagg_schema_dimension_name(s, 0));
    cr_assert_null(tsagg_schema_measure_name(s, 0));
    tsagg_schema_free(s);
}

Test(schema, add_and_lookup)
{
    tsagg_schema *s;
    cr_assert_eq(tsagg_schema_create(&s), 0);
    char longest[TSAGG_NAME_MAX + 1];
    memset(longest, 'n', TSAGG_NAME_MAX);
    longest[TSAGG_NAME_MAX] = 0;
    cr_assert_eq(tsagg_schema_add_dimension(s, "a"), 0);
    cr_assert_eq(tsagg_schema_add_dimension(s, "Az09_.-"), 0);
    cr_assert_eq(tsagg_schema_add_dimension(s, longest), 0);
    cr_assert_eq(tsagg_schema_add_measure(s, "revenue"), 0);
    cr_assert_eq(tsagg_schema_add_measure(s, "ID"), 0, "names are case-sensitive: ID is not id");
    cr_assert_eq(tsagg_schema_dimension_count(s), 3);
    cr_assert_eq(tsagg_schema_measure_count(s), 2);
    cr_assert_str_eq(tsagg_schema_dimension_name(s, 2), longest);
    cr_assert_eq(tsagg_schema_dimension_index(s, "Az09_.-"), 1);
    cr_assert_eq(tsagg_schema_measure_index(s, "ID"), 1);
    tsagg_schema_free(s);
}

Test(schema, bad_names_rejected)
{
    tsagg_schema *s;
    cr_assert_eq(tsagg_schema_create(&s), 0);
    char too_long[TSAGG_NAME_MAX + 2];
    memset(too_long, 'x', TSAGG_NAME_MAX + 1);
    too_long[TSAGG_NAME_MAX + 1] = 0;
    const char *bad[] = {"",       too_long, "a b",  "a/b",  "a,b",     "caf\xc3\xa9", "a\tb",
                         "a=b",    "a\"b",   "a:b",  "*",    "a\nb"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(tsagg_schema_add_dimension(s, bad[i]), TSAGG_EARG, "dimension \"%s\"", bad[i]);
        cr_assert_eq(tsagg_schema_add_measure(s, bad[i]), TSAGG_EARG, "measure \"%s\"", bad[i]);
    }
    cr_assert_eq(tsagg_schema_add_dimension(s, NULL), TSAGG_EARG);
    cr_assert_eq(tsagg_schema_add_measure(s, NULL), TSAGG_EARG);
    /* The core fields are reserved. */
    const char *reserved[] = {"ts", "merchant", "event", "user", "session", "id"};
    for (size_t i = 0; i < 6; i++) {
        cr_assert_eq(tsagg_schema_add_dimension(s, reserved[i]), TSAGG_EARG, "%s", reserved[i]);
        cr_assert_eq(tsagg_schema_add_measure(s, reserved[i]), TSAGG_EARG, "%s", reserved[i]);
    }
    /* Nothing was added by the failures. */
    cr_assert_eq(tsagg_schema_dimension_count(s), 0);
    cr_assert_eq(tsagg_schema_measure_count(s), 0);
    tsagg_schema_free(s);
}

Test(schema, duplicates_rejected)
{
    tsagg_schema *s;
    cr_assert_eq(tsagg_schema_create(&s), 0);
    cr_assert_eq(tsagg_schema_add_dimension(s, "page"), 0);
    cr_assert_eq(tsagg_schema_add_measure(s, "value"), 0);
    cr_assert_eq(tsagg_schema_add_dimension(s, "page"), TSAGG_EARG);
    cr_assert_eq(tsagg_schema_add_measure(s, "page"), TSAGG_EARG, "a measure shadowing a dimension");
    cr_assert_eq(tsagg_schema_add_measure(s, "value"), TSAGG_EARG);
    cr_assert_eq(tsagg_schema_add_dimension(s, "value"), TSAGG_EARG, "a dimension shadowing a measure");
    cr_assert_eq(tsagg_schema_dimension_count(s), 1);
    cr_assert_eq(tsagg_schema_measure_count(s), 1);
    tsagg_schema_free(s);
}

Test(schema, full_schema_rejected)
{
    tsagg_schema *s;
    cr_assert_eq(tsagg_schema_create(&s), 0);
    char name[32];
    for (int i = 0; i < TSAGG_SCHEMA_MAX_FIELDS; i++) {
        snprintf(name, sizeof name, "d%d", i);
        cr_assert_eq(tsagg_schema_add_dimension(s, name), 0, "%s", name);
        snprintf(name, sizeof name, "m%d", i);
        cr_assert_eq(tsagg_schema_add_measure(s, name), 0, "%s", name);
    }
    cr_assert_eq(tsagg_schema_add_dimension(s, "one_more"), TSAGG_EARG);
    cr_assert_eq(tsagg_schema_add_measure(s, "one_more"), TSAGG_EARG);
    cr_assert_eq(tsagg_schema_dimension_count(s), TSAGG_SCHEMA_MAX_FIELDS);
    cr_assert_eq(tsagg_schema_measure_count(s), TSAGG_SCHEMA_MAX_FIELDS);
    tsagg_schema_free(s);
}

static tsagg_schema *make_schema(const char *const *dims, size_t nd, const char *const *ms,
                                 size_t nm)
{
    tsagg_schema *s;
    cr_assert_eq(tsagg_schema_create(&s), 0);
    for (size_t i = 0; i < nd; i++)
        cr_assert_eq(tsagg_schema_add_dimension(s, dims[i]), 0);
    for (size_t i = 0; i < nm; i++)
        cr_assert_eq(tsagg_schema_add_measure(s, ms[i]), 0);
    return s;
}

Test(schema, id_equal_for_equal_schemas)
{
    static const char *const d[] = {"page", "referrer", "country", "device", "browser", "os"};
    static const char *const m[] = {"value"};
    tsagg_schema *a, *b;
    cr_assert_eq(tsagg_schema_create_default(&a), 0);
    cr_assert_eq(tsagg_schema_create_default(&b), 0);
    tsagg_schema *c = make_schema(d, 6, m, 1);
    cr_assert_eq(tsagg_schema_id(a), tsagg_schema_id(b));
    cr_assert_eq(tsagg_schema_id(a), tsagg_schema_id(c), "hand-built default has the default's id");
    tsagg_schema *e1, *e2;
    cr_assert_eq(tsagg_schema_create(&e1), 0);
    cr_assert_eq(tsagg_schema_create(&e2), 0);
    cr_assert_eq(tsagg_schema_id(e1), tsagg_schema_id(e2));
    cr_assert_neq(tsagg_schema_id(e1), tsagg_schema_id(a));
    /* The id is a pure function of the content: computing it twice agrees. */
    cr_assert_eq(tsagg_schema_id(a), tsagg_schema_id(a));
    tsagg_schema_free(a);
    tsagg_schema_free(b);
    tsagg_schema_free(c);
    tsagg_schema_free(e1);
    tsagg_schema_free(e2);
}

Test(schema, id_differs_for_different_schemas)
{
    static const char *const ab[] = {"a", "b"};
    static const char *const abc[] = {"a", "b", "c"};
    static const char *const ab2[] = {"a", "bb"};
    static const char *const x[] = {"x"};
    tsagg_schema *s[] = {
        make_schema(ab, 2, NULL, 0),  make_schema(abc, 3, NULL, 0), make_schema(ab2, 2, NULL, 0),
        make_schema(ab, 2, x, 1),     make_schema(NULL, 0, ab, 2),  make_schema(ab, 1, ab + 1, 1),
        make_schema(NULL, 0, NULL, 0),
    };
    size_t n = sizeof s / sizeof s[0];
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            cr_assert_neq(tsagg_schema_id(s[i]), tsagg_schema_id(s[j]), "schemas %zu and %zu", i, j);
    /* Adding a field changes the id. */
    uint64_t before = tsagg_schema_id(s[0]);
    cr_assert_eq(tsagg_schema_add_measure(s[0], "m"), 0);
    cr_assert_neq(tsagg_schema_id(s[0]), before);
    for (size_t i = 0; i < n; i++)
        tsagg_schema_free(s[i]);
}

/* ---- opening: errors ------------------------------------------------------- */

Test(store, missing_directory_without_create)
{
    char msg[512];
    expect_open_fails(tu_store, NULL, TSAGG_ENOTSTORE, msg, sizeof msg);
    tsagg_options o;
    tsagg_options_init(&o);
    expect_open_fails(tu_store, &o, TSAGG_ENOTSTORE, msg, sizeof msg);
    o.flags = TSAGG_OPEN_WRITE;
    expect_open_fails(tu_store, &o, TSAGG_ENOTSTORE, msg, sizeof msg);
    struct stat sb;
    cr_assert_neq(stat(tu_store, &sb), 0, "opening without CREATE must not create the directory");
}

Test(store, empty_directory_without_create)
{
    cr_assert_eq(mkdir(tu_store, 0755), 0);
    char msg[512];
    expect_open_fails(tu_store, NULL, TSAGG_ENOTSTORE, msg, sizeof msg);
    cr_assert(strstr(msg, tu_store) != NULL, "errmsg names the store: %s", msg);
}

Test(store, garbage_descriptor)
{
    cr_assert_eq(mkdir(tu_store, 0755), 0);
    char path[700], msg[512];
    descriptor_path(path, sizeof path);
    const char garbage[] = "this is not a tsagg store descriptor, just some text\n";
    spit(path, garbage, sizeof garbage - 1);
    expect_open_fails(tu_store, NULL, TSAGG_ENOTSTORE, msg, sizeof msg);
    cr_assert(strstr(msg, "tsagg.store") != NULL, "errmsg names the descriptor: %s", msg);
    /* Short and empty files are no better. */
    spit(path, "TSAGG", 5);
    expect_open_fails(tu_store, NULL, TSAGG_ENOTSTORE, msg, sizeof msg);
    spit(path, "", 0);
    expect_open_fails(tu_store, NULL, TSAGG_ENOTSTORE, msg, sizeof msg);
    /* A huge file is not read whole. */
    uint8_t *big = calloc(1, 1 << 20);
    cr_assert_not_null(big);
    spit(path, big, 1 << 20);
    free(big);
    expect_open_fails(tu_store, NULL, TSAGG_ENOTSTORE, msg, sizeof msg);
}

Test(store, garbage_descriptor_not_adopted_by_create)
{
    /* TSAGG_OPEN_CREATE creates a store where there is none; it must not
     * overwrite a file it does not recognise (store.c: "never adopt a used
     * one"). */
    cr_assert_eq(mkdir(tu_store, 0755), 0);
    char path[700], msg[512];
    descriptor_path(path, sizeof path);
    const char garbage[] = "somebody else's file that happens to be called tsagg.store";
    spit(path, garbage, sizeof garbage - 1);
    tsagg_options o;
    opts_writer(&o);
    tsagg_store *st = NULL;
    int rc = tsagg_store_open(tu_store, &o, &st, msg, sizeof msg);
    tsagg_store_close(st);
    size_t len;
    uint8_t *now = slurp(path, &len);
    int same = len == sizeof garbage - 1 && memcmp(now, garbage, len) == 0;
    free(now);
    cr_expect(same, "CREATE overwrote an unrecognised tsagg.store");
    cr_expect_eq(rc, TSAGG_ENOTSTORE, "got %s", tsagg_errname(rc));
}

Test(store, flipped_body_byte_is_checksum_error)
{
    create_and_close(tu_store);
    char path[700], msg[512];
    descriptor_path(path, sizeof path);
    size_t len;
    uint8_t *orig = slurp(path, &len);
    cr_assert_gt(len, 24 + 8);
    uint32_t body = (uint32_t)orig[12] | (uint32_t)orig[13] << 8 | (uint32_t)orig[14] << 16 |
                    (uint32_t)orig[15] << 24;
    cr_assert_eq(16 + body + 8, len, "descriptor layout: 16-byte head, body, 8-byte checksum");
    /* Every body byte is covered: the schema id and the schema encoding. */
    size_t offsets[] = {16, 23, 24, 24 + 3, 16 + body - 1};
    for (size_t k = 0; k < sizeof offsets / sizeof offsets[0]; k++) {
        uint8_t *b = malloc(len);
        memcpy(b, orig, len);
        b[offsets[k]] ^= 0x10;
        spit(path, b, len);
        free(b);
        expect_open_fails(tu_store, NULL, TSAGG_ECHECKSUM, msg, sizeof msg);
        cr_assert(strstr(msg, "tsagg.store") != NULL, "errmsg names the file: %s", msg);
        tsagg_options o;
        opts_writer(&o);
        expect_open_fails(tu_store, &o, TSAGG_ECHECKSUM, msg, sizeof msg);
    }
    /* The checksum itself flipped. */
    uint8_t *b = malloc(len);
    memcpy(b, orig, len);
    b[len - 1] ^= 0x01;
    spit(path, b, len);
    free(b);
    expect_open_fails(tu_store, NULL, TSAGG_ECHECKSUM, msg, sizeof msg);
    /* Restored, it opens again. */
    spit(path, orig, len);
    tsagg_store *st;
    cr_assert_eq(tsagg_store_open(tu_store, NULL, &st, NULL, 0), 0);
    tsagg_store_close(st);
    free(orig);
}

Test(store, future_version_is_version_error)
{
    create_and_close(tu_store);
    char path[700], msg[512];
    descriptor_path(path, sizeof path);
    size_t len;
    uint8_t *b = slurp(path, &len);
    uint32_t body = (uint32_t)b[12] | (uint32_t)b[13] << 8 | (uint32_t)b[14] << 16 |
                    (uint32_t)b[15] << 24;
    cr_assert_eq(b[8] | b[9] << 8, 1, "this library writes version 1");
    b[8] = 2;
    b[9] = 0;
    uint64_t sum = XXH64(b, 16 + body, 0);
    for (int i = 0; i < 8; i++)
        b[16 + body + i] = (uint8_t)(sum >> (8 * i));
    spit(path, b, len);
    expect_open_fails(tu_store, NULL, TSAGG_EVERSION, msg, sizeof msg);
    cr_assert(strstr(msg, "tsagg.store") != NULL, "errmsg names the file: %s", msg);
    tsagg_options o;
    opts_writer(&o);
    expect_open_fails(tu_store, &o, TSAGG_EVERSION, msg, sizeof msg);
    /* CREATE does not "repair" a store of another version. */
    size_t len2;
    uint8_t *after = slurp(path, &len2);
    cr_assert(len2 == len && memcmp(after, b, len) == 0, "descriptor was rewritten");
    free(after);
    free(b);
}

Test(store, flipped_version_byte_is_checksum_error)
{
    /* A damaged byte in the version field is damage, not another version:
     * the checksum is checked first. */
    create_and_close(tu_store);
    char path[700], msg[512];
    descriptor_path(path, sizeof path);
    size_t len;
    uint8_t *b = slurp(path, &len);
    for (int at = 8; at <= 9; at++) {
        b[at] ^= 0x41;
        spit(path, b, len);
        expect_open_fails(tu_store, NULL, TSAGG_ECHECKSUM, msg, sizeof msg);
        cr_assert(strstr(msg, "checksum") && !strstr(msg, "version"),
                  "a flipped version byte reads as damage: %s", msg);
        b[at] ^= 0x41;
    }
    free(b);
}

Test(store, create_without_write)
{
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_CREATE;
    char msg[512];
    expect_open_fails(tu_store, &o, TSAGG_EARG, msg, sizeof msg);
    struct stat sb;
    cr_assert_neq(stat(tu_store, &sb), 0, "nothing created");
}

Test(store, options_out_of_range)
{
    char msg[512];
    static const char *const what[] = {
        "frame_bytes 4095",     "frame_bytes 16 MiB + 1", "frame_bytes 0",
        "segment_bytes 64 KiB - 1", "segment_bytes 0",    "sync_mode 3",
        "sync_mode UINT32_MAX", "io_backend 3",           "io_backend UINT32_MAX",
        "INTERVAL with 0 ms",   "struct_size too large",      "struct_size 0",
    };
    for (int i = 0; i < (int)(sizeof what / sizeof what[0]); i++) {
        tsagg_options o;
        opts_writer(&o);
        switch (i) {
        case 0: o.frame_bytes = 4095; break;
        case 1: o.frame_bytes = (16u << 20) + 1; break;
        case 2: o.frame_bytes = 0; break;
        case 3: o.segment_bytes = (64u << 10) - 1; break;
        case 4: o.segment_bytes = 0; break;
        case 5: o.sync_mode = 3; break;
        case 6: o.sync_mode = UINT32_MAX; break;
        case 7: o.io_backend = 3; break;
        case 8: o.io_backend = UINT32_MAX; break;
        case 9: o.sync_mode = TSAGG_SYNC_INTERVAL; o.sync_interval_ms = 0; break;
        case 10: o.struct_size = sizeof(tsagg_options) + 4; break;
        case 11: o.struct_size = 0; break;
        }
        cr_log_info("case %s", what[i]);
        expect_open_fails(tu_store, &o, TSAGG_EARG, msg, sizeof msg);
    }
    /* Bad paths. */
    tsagg_options o;
    opts_writer(&o);
    expect_open_fails("", &o, TSAGG_EARG, msg, sizeof msg);
    expect_open_fails(NULL, &o, TSAGG_EARG, msg, sizeof msg);
    char *longpath = malloc(8192);
    memset(longpath, 'p', 8191);
    longpath[0] = '/';
    longpath[8191] = 0;
    expect_open_fails(longpath, &o, TSAGG_EARG, msg, sizeof msg);
    free(longpath);
    struct stat sb;
    cr_assert_neq(stat(tu_store, &sb), 0, "rejected options create nothing");

    /* The boundaries themselves are accepted. */
    opts_writer(&o);
    o.frame_bytes = 4096;
    o.segment_bytes = 64u << 10;
    o.sync_mode = TSAGG_SYNC_INTERVAL;
    o.sync_interval_ms = 1;
    o.io_backend = TSAGG_IO_PWRITE;
    tsagg_store *st;
    cr_assert_eq(tsagg_store_open(tu_store, &o, &st, msg, sizeof msg), 0, "%s", msg);
    cr_assert_eq(tsagg_store_close(st), 0);
    opts_writer(&o);
    o.frame_bytes = 16u << 20;
    o.sync_mode = TSAGG_SYNC_NONE;
    cr_assert_eq(tsagg_store_open(tu_store, &o, &st, msg, sizeof msg), 0, "%s", msg);
    cr_assert_eq(tsagg_store_close(st), 0);
}

Test(store, errmsg_is_truncated_to_the_buffer)
{
    char msg[8];
    memset(msg, 'x', sizeof msg);
    tsagg_store *st;
    int rc = tsagg_store_open(tu_store, NULL, &st, msg, sizeof msg);
    cr_assert_eq(rc, TSAGG_ENOTSTORE);
    cr_assert_eq(strlen(msg), sizeof msg - 1);
    /* NULL and zero-length buffers are fine. */
    cr_assert_eq(tsagg_store_open(tu_store, NULL, &st, NULL, 0), TSAGG_ENOTSTORE);
    cr_assert_eq(tsagg_store_open(tu_store, NULL, &st, msg, 0), TSAGG_ENOTSTORE);
}

/* ---- the writer lock -------------------------------------------------------- */

Test(store, second_writer_is_locked_out)
{
    tsagg_store *w1 = create_store(tu_store, NULL);
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE;
    char msg[512];
    expect_open_fails(tu_store, &o, TSAGG_ELOCKED, msg, sizeof msg);
    cr_assert(strstr(msg, tu_store) != NULL, "errmsg names the store: \"%s\"", msg);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    expect_open_fails(tu_store, &o, TSAGG_ELOCKED, msg, sizeof msg);

    /* Readers open fine beside the writer, several of them. */
    tsagg_store *r[3];
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(tsagg_store_open(tu_store, NULL, &r[i], msg, sizeof msg), 0, "%s", msg);
        cr_assert_str_eq(tsagg_io_backend_name(r[i]), "none");
    }
    /* Still locked with readers open; the failed attempts did not release
     * the first writer's lock either. */
    o.flags = TSAGG_OPEN_WRITE;
    expect_open_fails(tu_store, &o, TSAGG_ELOCKED, msg, sizeof msg);

    cr_assert_eq(tsagg_store_close(w1), 0);
    /* Readers still open: a new writer gets the lock. */
    tsagg_store *w2 = NULL;
    cr_assert_eq(tsagg_store_open(tu_store, &o, &w2, msg, sizeof msg), 0, "%s", msg);
    expect_open_fails(tu_store, &o, TSAGG_ELOCKED, msg, sizeof msg);
    cr_assert_eq(tsagg_store_close(w2), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tsagg_store_close(r[i]), 0);
    /* And again after everything is closed. */
    cr_assert_eq(tsagg_store_open(tu_store, &o, &w2, msg, sizeof msg), 0, "%s", msg);
    cr_assert_eq(tsagg_store_close(w2), 0);
}

/* The writer lock is on the directory: removing LOCK, which an operator
 * may take for a stale file, does not let a second writer in. */
Test(store, removing_lock_file_does_not_let_a_second_writer_in)
{
    tsagg_store *w1 = create_store(tu_store, NULL);
    char lock[700], msg[512];
    snprintf(lock, sizeof lock, "%s/LOCK", tu_store);
    cr_assert_eq(unlink(lock), 0, "the LOCK file exists beside a writer");
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE;
    expect_open_fails(tu_store, &o, TSAGG_ELOCKED, msg, sizeof msg);

    /* Another process, likewise. */
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        tsagg_store *w2 = NULL;
        int rc = tsagg_store_open(tu_store, &o, &w2, NULL, 0);
        tsagg_store_close(w2);
        _exit(rc == TSAGG_ELOCKED ? 0 : 1);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "a writer in another process got in after LOCK was removed");
    cr_assert_eq(tsagg_store_close(w1), 0);

    /* Once the writer is gone, the next one opens (and locks a new LOCK for
     * writers of older versions). */
    tsagg_store *w3 = NULL;
    cr_assert_eq(tsagg_store_open(tu_store, &o, &w3, msg, sizeof msg), 0, "%s", msg);
    struct stat sb;
    cr_assert_eq(stat(lock, &sb), 0);
    cr_assert_eq(tsagg_store_close(w3), 0);
}

/* A writer of an older version locks only LOCK: it still keeps this one out. */
Test(store, lock_file_held_elsewhere_keeps_a_writer_out)
{
    create_and_close(tu_store);
    char lock[700], msg[512];
    snprintf(lock, sizeof lock, "%s/LOCK", tu_store);
    int fd = open(lock, O_RDWR | O_CREAT, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE;
    expect_open_fails(tu_store, &o, TSAGG_ELOCKED, msg, sizeof msg);
    close(fd);
    tsagg_store *st = NULL;
    cr_assert_eq(tsagg_store_open(tu_store, &o, &st, msg, sizeof msg), 0, "%s", msg);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* Opening for writing (with or without CREATE) a directory that is not a
 * store, and that CREATE will not adopt, leaves nothing behind in it. */
Test(store, writer_open_of_a_non_store_creates_nothing)
{
    cr_assert_eq(mkdir(tu_store, 0755), 0);
    char file[700], msg[512];
    snprintf(file, sizeof file, "%s/someone-elses-file", tu_store);
    spit(file, "x", 1);
    tsagg_options o;
    tsagg_options_init(&o);
    for (int create = 0; create <= 1; create++) {
        o.flags = TSAGG_OPEN_WRITE | (create ? TSAGG_OPEN_CREATE : 0);
        expect_open_fails(tu_store, &o, TSAGG_ENOTSTORE, msg, sizeof msg);
        const char *names[] = {"LOCK", "log", "parts", "tsagg.store"};
        for (size_t i = 0; i < 4; i++) {
            char p[800];
            struct stat sb;
            snprintf(p, sizeof p, "%s/%s", tu_store, names[i]);
            cr_assert_neq(stat(p, &sb), 0, "%s created in a directory that is not a store%s",
                          names[i], create ? " (with CREATE)" : "");
        }
    }
}

/* A FIFO in place of a store's file is refused at once, not waited on. */
Test(store, fifo_in_place_of_a_file_is_refused)
{
    create_and_close(tu_store);
    char path[700], msg[512];
    snprintf(path, sizeof path, "%s/MANIFEST", tu_store);
    cr_assert_eq(mkfifo(path, 0644), 0);
    tsagg_store *st = NULL;
    cr_assert_eq(tsagg_store_open(tu_store, NULL, &st, msg, sizeof msg), 0, "%s", msg);
    uint64_t seq;
    cr_assert_eq(tsagg_compacted_seq(st, &seq), TSAGG_ECORRUPT);
    tsagg_store_errmsg(st, msg, sizeof msg);
    cr_assert(strstr(msg, "MANIFEST: not a regular file"), "%s", msg);
    cr_assert_eq(tsagg_store_close(st), 0);

    descriptor_path(path, sizeof path);
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(mkfifo(path, 0644), 0);
    expect_open_fails(tu_store, NULL, TSAGG_ENOTSTORE, msg, sizeof msg);
    cr_assert(strstr(msg, "not a regular file"), "%s", msg);
}

Test(store, writer_lock_is_per_store)
{
    char other[700];
    snprintf(other, sizeof other, "%s/other", tu_dir);
    tsagg_store *a = create_store(tu_store, NULL);
    tsagg_store *b = create_store(other, NULL);
    cr_assert_eq(tsagg_store_close(a), 0);
    cr_assert_eq(tsagg_store_close(b), 0);
}

/* ---- schema persistence ----------------------------------------------------- */

static void assert_same_schema(const tsagg_schema *a, const tsagg_schema *b)
{
    cr_assert_eq(tsagg_schema_dimension_count(a), tsagg_schema_dimension_count(b));
    cr_assert_eq(tsagg_schema_measure_count(a), tsagg_schema_measure_count(b));
    for (size_t i = 0; i < tsagg_schema_dimension_count(a); i++)
        cr_assert_str_eq(tsagg_schema_dimension_name(a, i), tsagg_schema_dimension_name(b, i));
    for (size_t i = 0; i < tsagg_schema_measure_count(a); i++)
        cr_assert_str_eq(tsagg_schema_measure_name(a, i), tsagg_schema_measure_name(b, i));
    cr_assert_eq(tsagg_schema_id(a), tsagg_schema_id(b));
}

Test(store, default_schema_when_none_given)
{
    tsagg_store *st = create_store(tu_store, NULL);
    tsagg_schema *def;
    cr_assert_eq(tsagg_schema_create_default(&def), 0);
    assert_same_schema(tsagg_store_schema(st), def);
    cr_assert_eq(tsagg_store_close(st), 0);
    cr_assert_eq(tsagg_store_open(tu_store, NULL, &st, NULL, 0), 0);
    assert_same_schema(tsagg_store_schema(st), def);
    tsagg_store_close(st);
    tsagg_schema_free(def);
}

Test(store, custom_schema_survives_reopen)
{
    tsagg_schema *s;
    cr_assert_eq(tsagg_schema_create(&s), 0);
    char longest[TSAGG_NAME_MAX + 1];
    memset(longest, 'q', TSAGG_NAME_MAX);
    longest[TSAGG_NAME_MAX] = 0;
    cr_assert_eq(tsagg_schema_add_dimension(s, "campaign"), 0);
    cr_assert_eq(tsagg_schema_add_dimension(s, "utm.source-x_1"), 0);
    cr_assert_eq(tsagg_schema_add_dimension(s, longest), 0);
    cr_assert_eq(tsagg_schema_add_measure(s, "revenue"), 0);
    cr_assert_eq(tsagg_schema_add_measure(s, "qty"), 0);
    tsagg_store *st = create_store(tu_store, s);
    assert_same_schema(tsagg_store_schema(st), s);
    cr_assert_eq(tsagg_store_close(st), 0);

    cr_assert_eq(tsagg_store_open(tu_store, NULL, &st, NULL, 0), 0);
    assert_same_schema(tsagg_store_schema(st), s);
    tsagg_store_close(st);

    /* Reopening with CREATE and another schema keeps the store's own. */
    tsagg_schema *other;
    cr_assert_eq(tsagg_schema_create_default(&other), 0);
    st = create_store(tu_store, other);
    assert_same_schema(tsagg_store_schema(st), s);
    tsagg_store_close(st);
    cr_assert_eq(tsagg_store_open(tu_store, NULL, &st, NULL, 0), 0);
    assert_same_schema(tsagg_store_schema(st), s);
    tsagg_store_close(st);
    tsagg_schema_free(other);

    /* The schema given at creation belongs to the caller: freeing it does
     * not affect the store. */
    tsagg_schema_free(s);
}

Test(store, full_schema_survives_reopen)
{
    tsagg_schema *s;
    cr_assert_eq(tsagg_schema_create(&s), 0);
    char name[TSAGG_NAME_MAX + 1];
    for (int i = 0; i < TSAGG_SCHEMA_MAX_FIELDS; i++) {
        memset(name, 'd', TSAGG_NAME_MAX);
        snprintf(name + TSAGG_NAME_MAX - 3, 4, "%03d", i);
        cr_assert_eq(tsagg_schema_add_dimension(s, name), 0);
        name[0] = 'm';
        cr_assert_eq(tsagg_schema_add_measure(s, name), 0);
    }
    tsagg_store *st = create_store(tu_store, s);
    cr_assert_eq(tsagg_store_close(st), 0);
    cr_assert_eq(tsagg_store_open(tu_store, NULL, &st, NULL, 0), 0);
    assert_same_schema(tsagg_store_schema(st), s);
    tsagg_store_close(st);
    tsagg_schema_free(s);
}

Test(store, empty_schema_survives_reopen)
{
    tsagg_schema *s;
    cr_assert_eq(tsagg_schema_create(&s), 0);
    tsagg_store *st = create_store(tu_store, s);
    cr_assert_eq(tsagg_store_close(st), 0);
    cr_assert_eq(tsagg_store_open(tu_store, NULL, &st, NULL, 0), 0);
    assert_same_schema(tsagg_store_schema(st), s);
    tsagg_store_close(st);
    tsagg_schema_free(s);
}

/* ---- handles ------------------------------------------------------------------ */

Test(store, close_null)
{
    cr_assert_eq(tsagg_store_close(NULL), 0);
}

Test(store, create_in_existing_empty_directory)
{
    cr_assert_eq(mkdir(tu_store, 0755), 0);
    tsagg_store *st = create_store(tu_store, NULL);
    cr_assert_eq(tsagg_store_close(st), 0);
    struct stat sb;
    char path[700];
    descriptor_path(path, sizeof path);
    cr_assert_eq(stat(path, &sb), 0);
    snprintf(path, sizeof path, "%s/log", tu_store);
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert(S_ISDIR(sb.st_mode));
}

Test(store, read_only_handle_refuses_writes)
{
    tsagg_store *w = create_store(tu_store, NULL);
    cr_assert_eq(tsagg_store_close(w), 0);
    tsagg_store *st;
    cr_assert_eq(tsagg_store_open(tu_store, NULL, &st, NULL, 0), 0);
    tsagg_event ev = {.ts = 1, .merchant = 1, .event = "e", .event_len = 1};
    uint64_t seq = 12345;
    cr_assert_eq(tsagg_append(st, &ev, 1, &seq), TSAGG_EREADONLY);
    cr_assert_eq(seq, 12345, "first_seq untouched on failure");
    char msg[512];
    tsagg_store_errmsg(st, msg, sizeof msg);
    cr_assert_gt(strlen(msg), 0, "errmsg set after a failed append");
    cr_assert_eq(tsagg_flush(st), TSAGG_EREADONLY);
    cr_assert_eq(tsagg_log_roll(st), TSAGG_EREADONLY);
    unsigned n = 77;
    cr_assert_eq(tsagg_log_archive(st, 0, &n), TSAGG_EREADONLY);
    cr_assert_eq(tsagg_wait_durable(st, 1, 0), TSAGG_EREADONLY);
    cr_assert_eq(tsagg_durable_seq(st), 0);
    cr_assert_eq(tsagg_last_seq(st), 0);
    cr_assert_str_eq(tsagg_io_backend_name(st), "none");
    /* Explicit read-only options behave the same. */
    tsagg_store *st2;
    tsagg_options o;
    tsagg_options_init(&o);
    cr_assert_eq(tsagg_store_open(tu_store, &o, &st2, NULL, 0), 0);
    cr_assert_eq(tsagg_append(st2, &ev, 1, NULL), TSAGG_EREADONLY);
    cr_assert_eq(tsagg_store_close(st2), 0);
    cr_assert_eq(tsagg_store_close(st), 0);
}

Test(store, errmsg_empty_on_fresh_handle)
{
    tsagg_store *st = create_store(tu_store, NULL);
    char msg[64];
    memset(msg, 'x', sizeof msg);
    tsagg_store_errmsg(st, msg, sizeof msg);
    cr_assert_str_eq(msg, "");
    /* A failure on the handle is described, and truncated to the buffer. */
    tsagg_event bad = {.ts = 1, .merchant = 1, .event = NULL, .event_len = 0};
    cr_assert_eq(tsagg_append(st, &bad, 1, NULL), TSAGG_EINPUT);
    char big[512], small[6];
    tsagg_store_errmsg(st, big, sizeof big);
    cr_assert_gt(strlen(big), 0);
    tsagg_store_errmsg(st, small, sizeof small);
    cr_assert_eq(strlen(small), sizeof small - 1);
    cr_assert_eq(strncmp(small, big, sizeof small - 1), 0);
    tsagg_store_errmsg(st, NULL, 0); /* tolerated */
    cr_assert_eq(tsagg_store_close(st), 0);
}

Test(store, version_and_hash)
{
    cr_assert_not_null(tsagg_version());
    /* tsagg_hash_id is XXH64 seed 0, stable on disk. */
    cr_assert_eq(tsagg_hash_id("user-42", 7), XXH64("user-42", 7, 0));
    cr_assert_eq(tsagg_hash_id("", 0), XXH64("", 0, 0));
}
