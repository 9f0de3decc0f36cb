/*
 * partfile_dict.c - the writer's dictionaries of the string columns: codes
 * in first-seen order, a hash table (XXH3 of the bytes, linear probing) to
 * find a string's code, the strings back to back for the string table the
 * writer emits at the end. Readers use the string table (strtab.c).
 */
#define XXH_INLINE_ALL /* short dictionary strings: an inlined XXH3 is much faster */
#include <xxhash.h>

#include "encoding.h"
#include "partfile_format.h"

void tsagg__pf_dict_free(pf_wdict *d)
{
    tsagg__buf_free(&d->data);
    free(d->ends);
    free(d->tab);
}

/* The slot holds the hash, so probing and growing touch only the table. */
static int rehash(pf_wdict *d, uint32_t slots)
{
    uint64_t *tab = calloc(slots, sizeof *tab);
    if (!tab)
        return -ENOMEM;
    uint32_t mask = slots - 1;
    for (uint32_t j = 0; d->tab && j <= d->tmask; j++) {
        if (!d->tab[j])
            continue;
        uint32_t i = (uint32_t)(d->tab[j] >> 32) & mask;
        while (tab[i])
            i = (i + 1) & mask;
        tab[i] = d->tab[j];
    }
    free(d->tab);
    d->tab = tab;
    d->tmask = mask;
    return 0;
}

void tsagg__pf_dict_forget(pf_wdict *d)
{
    memset(d->recent, 0, sizeof d->recent);
}

static int intern_bytes(pf_wdict *d, const char *s, uint32_t len, uint32_t *code);

int tsagg__pf_dict_intern(pf_wdict *d, const char *s, uint32_t len, uint32_t *code)
{
    uintptr_t a = (uintptr_t)s;
    uint32_t slot = (uint32_t)((a >> 3) ^ (a >> 11)) & (PF_DICT_PTR_CACHE - 1);
    if (s && d->recent[slot].ptr == s && d->recent[slot].len == len) {
        *code = d->recent[slot].code;
        return 0;
    }
    int rc = intern_bytes(d, s, len, code);
    if (rc == 0 && s) {
        d->recent[slot].ptr = s;
        d->recent[slot].len = len;
        d->recent[slot].code = *code;
    }
    return rc;
}

static int intern_bytes(pf_wdict *d, const char *s, uint32_t len, uint32_t *code)
{
    uint32_t l;
    const uint8_t *q;
    uint32_t h = (uint32_t)XXH3_64bits(s, len);
    uint32_t i = h & d->tmask;
    for (uint64_t e; (e = d->tab[i]) != 0; i = (i + 1) & d->tmask) {
        if ((uint32_t)(e >> 32) != h)
            continue;
        uint32_t c = (uint32_t)e - 1;
        q = pf_dict_str(d, c, &l);
        if (l == len && (len == 0 || memcmp(q, s, len) == 0)) {
            *code = c;
            return 0;
        }
    }
    /* New string: the table's offsets are 32-bit. */
    if (d->n >= UINT32_MAX / 8 || len > UINT32_MAX - 64 - d->data.len ||
        tsagg__strtab_size(d->n + 1, d->data.len + len) == 0 ||
        tsagg__strtab_size(d->n + 1, d->data.len + len) > PF_RAW_MAX)
        return -EFBIG;
    if (d->n == d->cap) {
        uint32_t cap = d->cap ? d->cap * 2 : 64;
        uint32_t *e = realloc(d->ends, (size_t)cap * sizeof *e);
        if (!e)
            return -ENOMEM;
        d->ends = e;
        d->cap = cap;
    }
    if (tsagg__buf_reserve(&d->data, len) != 0)
        return -ENOMEM;
    if ((d->n + 1) * 2 > d->tmask + 1) {
        int rc = rehash(d, (d->tmask + 1) * 2);
        if (rc != 0)
            return rc;
        i = h & d->tmask;
        while (d->tab[i])
            i = (i + 1) & d->tmask;
    }
    if (len)
        memcpy(d->data.p + d->data.len, s, len);
    d->data.len += len;
    uint32_t c = d->n++;
    d->ends[c] = (uint32_t)d->data.len;
    d->tab[i] = (uint64_t)h << 32 | (c + 1);
    *code = c;
    return 0;
}

int tsagg__pf_dict_init(pf_wdict *d)
{
    memset(d, 0, sizeof *d);
    return rehash(d, 64);
}
