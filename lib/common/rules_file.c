/*
 * rules_file.c - the store's processing rules, STORE/RULES (docs/format.md,
 * "Processing rules"):
 *
 *   offset size  field
 *   0      8     magic "TSAGGRUL"
 *   8      2     format version (1)
 *   10     2     reserved, 0
 *   12     4     N: number of rules
 *   16     4     L: length of the rules that follow
 *   20     4     reserved, 0
 *   24     L     N rules: u8 kind (1: drop when equal), u8 field length F,
 *                F bytes, u32 value length V, V bytes
 *   24+L   8     XXH64 (seed 0) of bytes [0, 24+L)
 *
 * The length and checksum are checked before the version, so that a
 * damaged file is reported as damaged, not as written by another version.
 * No file means no rules. Replaced atomically (RULES.tmp, fsync, rename,
 * fsync of the store directory).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "bytes.h"
#include "fileio.h"
#include "rules_internal.h"
#include "store_internal.h"

#define RULES_MAGIC "TSAGGRUL"
#define RULES_VERSION 1
#define RULES_FILE "RULES"
#define RULE_DROP_EQUAL 1
#define RULES_HEAD 24
#define RULE_BYTES_MAX (1 + 1 + TSAGG_NAME_MAX + 4 + TSAGG_RULE_VALUE_MAX)
#define RULES_FILE_MAX (RULES_HEAD + (size_t)TSAGG_RULES_MAX * RULE_BYTES_MAX + 8)

static void rules_path(const tsagg_store *st, char *buf, size_t len)
{
    snprintf(buf, len, "%s/" RULES_FILE, st->path);
}

/* The rules of `body` (L bytes at offset 24 of the file) into *out. */
static int decode_rules(tsagg_store *st, const char *path, const uint8_t *buf, size_t len,
                        uint32_t n, tsagg_rules **out)
{
    int rc = tsagg_rules_create(out);
    if (rc != 0)
        return rc;
    size_t off = RULES_HEAD, end = len - 8;
    char field[TSAGG_NAME_MAX + 1], *value = malloc(TSAGG_RULE_VALUE_MAX + 1);
    if (!value)
        rc = -ENOMEM;
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        size_t at = off;
        if (end - off < 2 || buf[off] != RULE_DROP_EQUAL) {
            rc = tsagg__fail(st, TSAGG_ECORRUPT, "%s: rule %" PRIu32 " at offset %zu: %s", path,
                             i, at, end - off < 2 ? "truncated" : "unknown kind");
            break;
        }
        size_t flen = buf[off + 1];
        off += 2;
        if (flen == 0 || flen > TSAGG_NAME_MAX || end - off < flen + 4) {
            rc = tsagg__fail(st, TSAGG_ECORRUPT, "%s: rule %" PRIu32 " at offset %zu: bad field",
                             path, i, at);
            break;
        }
        memcpy(field, buf + off, flen);
        field[flen] = '\0';
        off += flen;
        uint32_t vlen = tsagg__get_u32(buf + off);
        off += 4;
        if (vlen > TSAGG_RULE_VALUE_MAX || end - off < vlen || memchr(field, 0, flen) ||
            memchr(buf + off, 0, vlen)) {
            rc = tsagg__fail(st, TSAGG_ECORRUPT, "%s: rule %" PRIu32 " at offset %zu: bad value",
                             path, i, at);
            break;
        }
        memcpy(value, buf + off, vlen);
        value[vlen] = '\0';
        off += vlen;
        char why[256];
        rc = tsagg_rules_add_drop(*out, field, value, why, sizeof why);
        if (rc == TSAGG_EARG)
            rc = tsagg__fail(st, TSAGG_ECORRUPT, "%s: rule %" PRIu32 " at offset %zu: %s", path,
                             i, at, why);
    }
    if (rc == 0 && off != end)
        rc = tsagg__fail(st, TSAGG_ECORRUPT, "%s: %zu bytes after the last rule at offset %zu",
                         path, end - off, off);
    free(value);
    if (rc != 0) {
        tsagg_rules_free(*out);
        *out = NULL;
    }
    return rc;
}

int tsagg_store_rules(tsagg_store *st, tsagg_rules **out)
{
    if (!st || !out)
        return TSAGG_EARG;
    *out = NULL;
    char path[TSAGG_PATH_MAX + 16];
    rules_path(st, path, sizeof path);
    uint8_t *buf;
    size_t len;
    int rc = tsagg__read_file(st->io, path, RULES_FILE_MAX, &buf, &len);
    if (rc == -ENOENT)
        return tsagg_rules_create(out);
    if (rc == -EFBIG)
        return tsagg__fail(st, TSAGG_ECORRUPT, "%s: larger than %zu bytes", path,
                           (size_t)RULES_FILE_MAX);
    if (rc != 0)
        return tsagg__fail(st, rc, "%s: %s", path, tsagg_strerror(rc));
    if (len < RULES_HEAD + 8 || memcmp(buf, RULES_MAGIC, 8) != 0) {
        rc = tsagg__fail(st, TSAGG_ECORRUPT, "%s: bad magic, not a rules file", path);
    } else if ((uint64_t)RULES_HEAD + tsagg__get_u32(buf + 16) + 8 != len) {
        rc = tsagg__fail(st, TSAGG_ECORRUPT,
                         "%s: rules length %" PRIu32 " at offset 16 does not match file size %zu",
                         path, tsagg__get_u32(buf + 16), len);
    } else if (XXH64(buf, len - 8, 0) != tsagg__get_u64(buf + len - 8)) {
        rc = tsagg__fail(st, TSAGG_ECHECKSUM, "%s: checksum mismatch at offset %zu", path,
                         len - 8);
    } else if (tsagg__get_u16(buf + 8) != RULES_VERSION) {
        rc = tsagg__fail(st, TSAGG_EVERSION, "%s: format version %u, this library reads %u",
                         path, tsagg__get_u16(buf + 8), RULES_VERSION);
    } else {
        rc = decode_rules(st, path, buf, len, tsagg__get_u32(buf + 12), out);
    }
    free(buf);
    return rc;
}

int tsagg_store_set_rules(tsagg_store *st, const tsagg_rules *rules)
{
    if (!st)
        return TSAGG_EARG;
    if (!st->writer)
        return tsagg__fail(st, TSAGG_EREADONLY, "setting the rules needs a writable store");
    size_t n = tsagg_rules_count(rules), len = RULES_HEAD + 8;
    for (size_t i = 0; i < n; i++)
        len += 2 + rules->r[i].field_len + 4 + rules->r[i].value_len;
    uint8_t *buf = malloc(len);
    if (!buf)
        return -ENOMEM;
    memcpy(buf, RULES_MAGIC, 8);
    tsagg__put_u16(buf + 8, RULES_VERSION);
    tsagg__put_u16(buf + 10, 0);
    tsagg__put_u32(buf + 12, (uint32_t)n);
    tsagg__put_u32(buf + 16, (uint32_t)(len - RULES_HEAD - 8));
    tsagg__put_u32(buf + 20, 0);
    size_t off = RULES_HEAD;
    for (size_t i = 0; i < n; i++) {
        const tsagg__rule *r = &rules->r[i];
        buf[off] = RULE_DROP_EQUAL;
        buf[off + 1] = (uint8_t)r->field_len;
        memcpy(buf + off + 2, r->field, r->field_len);
        off += 2 + r->field_len;
        tsagg__put_u32(buf + off, r->value_len);
        memcpy(buf + off + 4, r->value, r->value_len);
        off += 4 + r->value_len;
    }
    tsagg__put_u64(buf + off, XXH64(buf, off, 0));
    char path[TSAGG_PATH_MAX + 16];
    rules_path(st, path, sizeof path);
    /* Compactions read the rules once, at their start: none sees a mix. */
    pthread_mutex_lock(&st->compact_mu);
    int rc = tsagg__write_file_atomic(st->io, st->path, path, buf, len);
    pthread_mutex_unlock(&st->compact_mu);
    free(buf);
    return rc ? tsagg__fail(st, rc, "%s: cannot write: %s", path, tsagg_strerror(rc)) : 0;
}
