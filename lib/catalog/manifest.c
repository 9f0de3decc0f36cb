/* manifest.c - the manifest file and its in-memory form (layout: manifest.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "bytes.h"
#include "fileio.h"
#include "manifest.h"

#define MAN_MAGIC "TSAGGMAN"
#define MAN_VERSION 1
#define MAN_HEADER 48
#define MAN_ENTRY 48
/* Bounds the allocation a damaged count could ask for. */
#define MAN_ENTRIES_MAX (1u << 24)

int tsagg__manifest_empty(tsagg__manifest **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return -ENOMEM;
    (*out)->next_file_id = 1;
    return 0;
}

void tsagg__manifest_free(tsagg__manifest *m)
{
    if (!m)
        return;
    free(m->parts);
    free(m);
}

int tsagg__manifest_clone(const tsagg__manifest *m, tsagg__manifest **out)
{
    tsagg__manifest *c = malloc(sizeof *c);
    if (!c)
        return -ENOMEM;
    *c = *m;
    c->parts = NULL;
    if (m->nparts) {
        c->parts = malloc(m->nparts * sizeof *c->parts);
        if (!c->parts) {
            free(c);
            return -ENOMEM;
        }
        memcpy(c->parts, m->parts, m->nparts * sizeof *c->parts);
    }
    *out = c;
    return 0;
}

static int ref_cmp(const tsagg__part_ref *a, const tsagg__part_ref *b)
{
    if (a->hour != b->hour)
        return a->hour < b->hour ? -1 : 1;
    return a->file_id < b->file_id ? -1 : a->file_id > b->file_id;
}

int tsagg__manifest_add(tsagg__manifest *m, const tsagg__part_ref *ref)
{
    tsagg__part_ref *p = realloc(m->parts, (m->nparts + 1) * sizeof *p);
    if (!p)
        return -ENOMEM;
    m->parts = p;
    size_t i = m->nparts;
    while (i > 0 && ref_cmp(&p[i - 1], ref) > 0) {
        p[i] = p[i - 1];
        i--;
    }
    p[i] = *ref;
    m->nparts++;
    if (ref->file_id >= m->next_file_id)
        m->next_file_id = ref->file_id + 1;
    return 0;
}

int tsagg__manifest_remove(tsagg__manifest *m, uint64_t file_id)
{
    for (size_t i = 0; i < m->nparts; i++) {
        if (m->parts[i].file_id == file_id) {
            memmove(&m->parts[i], &m->parts[i + 1], (m->nparts - i - 1) * sizeof *m->parts);
            m->nparts--;
            return 1;
        }
    }
    return 0;
}

int tsagg__manifest_has(const tsagg__manifest *m, uint64_t file_id)
{
    for (size_t i = 0; i < m->nparts; i++)
        if (m->parts[i].file_id == file_id)
            return 1;
    return 0;
}

void tsagg__part_file_path(const tsagg_store *st, int64_t hour, uint64_t file_id, char *buf,
                      size_t len)
{
    time_t t = (time_t)(hour / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, len, "%s/parts/%04d%02d%02dT%02d-%016" PRIx64 ".tpart", st->path,
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, file_id);
}

int tsagg__part_name_parse(const char *name, uint64_t *file_id)
{
    size_t len = strlen(name);
    /* YYYYMMDDTHH-<16 hex>.tpart */
    if (len != 11 + 1 + 16 + 6 || name[8] != 'T' || name[11] != '-' ||
        strcmp(name + len - 6, ".tpart") != 0)
        return -1;
    uint64_t v = 0;
    for (int i = 12; i < 28; i++) {
        char c = name[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *file_id = v;
    return 0;
}

int tsagg__manifest_load(tsagg_store *st, tsagg__manifest **out)
{
    char path[TSAGG_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/MANIFEST", st->path);
    uint8_t *buf;
    size_t len;
    int rc = tsagg__read_file(st->io, path, MAN_HEADER + (size_t)MAN_ENTRIES_MAX * MAN_ENTRY + 8,
                              &buf, &len);
    if (rc == -ENOENT)
        return tsagg__manifest_empty(out);
    if (rc == -EINVAL || rc == -EISDIR)
        return tsagg__fail(st, TSAGG_ECORRUPT, "%s: not a regular file", path);
    if (rc != 0)
        return tsagg__fail(st, rc, "%s: %s", path, tsagg_strerror(rc));
    tsagg__manifest *m = NULL;
    if (len < MAN_HEADER + 8 || memcmp(buf, MAN_MAGIC, 8) != 0) {
        rc = tsagg__fail(st, TSAGG_ECORRUPT, "%s: not a manifest (bad magic or size)", path);
    } else if (XXH64(buf, len - 8, 0) != tsagg__get_u64(buf + len - 8)) {
        rc = tsagg__fail(st, TSAGG_ECHECKSUM, "%s: checksum mismatch at offset %zu", path,
                         len - 8);
    } else if (tsagg__get_u16(buf + 8) != MAN_VERSION) {
        rc = tsagg__fail(st, TSAGG_EVERSION, "%s: format version %u, this library reads %u",
                         path, tsagg__get_u16(buf + 8), MAN_VERSION);
    } else if ((uint64_t)MAN_HEADER + (uint64_t)tsagg__get_u32(buf + 12) * MAN_ENTRY + 8 != len) {
        rc = tsagg__fail(st, TSAGG_ECORRUPT, "%s: entry count does not match the size", path);
    } else {
        rc = tsagg__manifest_empty(&m);
    }
    if (rc == 0) {
        m->version = tsagg__get_u64(buf + 16);
        m->consumed_seq = tsagg__get_u64(buf + 24);
        m->next_file_id = tsagg__get_u64(buf + 32);
        uint32_t n = tsagg__get_u32(buf + 12);
        m->parts = n ? malloc(n * sizeof *m->parts) : NULL;
        if (n && !m->parts)
            rc = -ENOMEM;
        for (uint32_t i = 0; rc == 0 && i < n; i++) {
            const uint8_t *e = buf + MAN_HEADER + (size_t)i * MAN_ENTRY;
            tsagg__part_ref *r = &m->parts[i];
            r->hour = (int64_t)tsagg__get_u64(e);
            r->file_id = tsagg__get_u64(e + 8);
            r->rows = tsagg__get_u64(e + 16);
            r->bytes = tsagg__get_u64(e + 24);
            r->generation = tsagg__get_u32(e + 32);
            r->level = tsagg__get_u32(e + 36);
            int sorted = i == 0 || ref_cmp(&m->parts[i - 1], r) < 0;
            if (!sorted || r->file_id >= m->next_file_id || r->hour % 3600000000LL != 0)
                rc = tsagg__fail(st, TSAGG_ECORRUPT, "%s: bad entry %u at offset %zu", path, i,
                                 (size_t)(e - buf));
            m->nparts = i + 1;
        }
    }
    free(buf);
    if (rc != 0) {
        tsagg__manifest_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int tsagg__manifest_write(tsagg_store *st, const tsagg__manifest *m)
{
    size_t len = MAN_HEADER + m->nparts * MAN_ENTRY + 8;
    uint8_t *buf = calloc(1, len);
    if (!buf)
        return -ENOMEM;
    memcpy(buf, MAN_MAGIC, 8);
    tsagg__put_u16(buf + 8, MAN_VERSION);
    tsagg__put_u32(buf + 12, (uint32_t)m->nparts);
    tsagg__put_u64(buf + 16, m->version);
    tsagg__put_u64(buf + 24, m->consumed_seq);
    tsagg__put_u64(buf + 32, m->next_file_id);
    for (size_t i = 0; i < m->nparts; i++) {
        uint8_t *e = buf + MAN_HEADER + i * MAN_ENTRY;
        const tsagg__part_ref *r = &m->parts[i];
        tsagg__put_u64(e, (uint64_t)r->hour);
        tsagg__put_u64(e + 8, r->file_id);
        tsagg__put_u64(e + 16, r->rows);
        tsagg__put_u64(e + 24, r->bytes);
        tsagg__put_u32(e + 32, r->generation);
        tsagg__put_u32(e + 36, r->level);
    }
    tsagg__put_u64(buf + len - 8, XXH64(buf, len - 8, 0));
    char path[TSAGG_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/MANIFEST", st->path);
    int rc = tsagg__write_file_atomic(st->io, st->path, path, buf, len);
    free(buf);
    if (rc != 0)
        return tsagg__fail(st, rc, "%s: %s", path, tsagg_strerror(rc));
    return 0;
}
