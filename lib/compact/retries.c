/* retries.c - retries across compaction runs and between the head and the
 * files (retries.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "retries.h"
#include "store_internal.h"

static int key_cmp(const void *pa, const void *pb)
{
    const tsagg__retry_key *a = pa, *b = pb;
    if (a->merchant != b->merchant)
        return a->merchant < b->merchant ? -1 : 1;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    if (a->id != b->id)
        return a->id < b->id ? -1 : 1;
    return a->row < b->row ? -1 : a->row > b->row;
}

void tsagg__retry_keys_sort(tsagg__retry_key *keys, size_t n)
{
    qsort(keys, n, sizeof *keys, key_cmp);
}

/* Mark the keys [k, k + n) of one merchant equal to (ts, id). */
static void mark(const tsagg__retry_key *keys, size_t n, int64_t ts, uint64_t id, uint8_t *found)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (keys[mid].ts < ts || (keys[mid].ts == ts && keys[mid].id < id))
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < n && keys[lo].ts == ts && keys[lo].id == id; lo++)
        found[lo] = 1;
}

/* The decoded columns of one row group, kept while the next merchants
 * fall in the same group. */
typedef struct group_cols {
    int64_t *ts;
    uint64_t *id;
    uint32_t *flags;
    uint32_t g; /* UINT32_MAX: none */
} group_cols;

static int merchant_retries(tsagg__part *p, group_cols *gc, const tsagg__retry_key *keys,
                            size_t n, uint8_t *found)
{
    tsagg__merchant_entry e;
    int rc = tsagg__part_find_merchant(p, keys[0].merchant, &e);
    if (rc <= 0)
        return rc;
    int64_t lo = keys[0].ts, hi = keys[n - 1].ts;
    if (e.max_ts < lo || e.min_ts > hi)
        return 0;
    uint64_t end = e.row_start + e.rows;
    for (uint32_t g = (uint32_t)(e.row_start / TSAGG__PART_GROUP_ROWS);
         (uint64_t)g * TSAGG__PART_GROUP_ROWS < end; g++) {
        const tsagg__group_info *gi = tsagg__part_group(p, g);
        if (!gi)
            break;
        if (gi->max_ts < lo || gi->min_ts > hi)
            continue;
        if (gc->g != g) {
            gc->g = UINT32_MAX;
            if ((rc = tsagg__part_read_column(p, TSAGG__COL_TS, g, gc->ts)) != 0 ||
                (rc = tsagg__part_read_column(p, TSAGG__COL_ID, g, gc->id)) != 0 ||
                (rc = tsagg__part_read_column(p, TSAGG__COL_FLAGS, g, gc->flags)) != 0)
                return rc;
            gc->g = g;
        }
        uint64_t from = e.row_start > gi->row_start ? e.row_start : gi->row_start;
        uint64_t to = end < gi->row_start + gi->rows ? end : gi->row_start + gi->rows;
        for (uint64_t r = from; r < to; r++) {
            size_t i = (size_t)(r - gi->row_start);
            if ((gc->flags[i] & TSAGG_EVENT_HAS_ID) && gc->ts[i] >= lo && gc->ts[i] <= hi)
                mark(keys, n, gc->ts[i], gc->id[i], found);
        }
    }
    return 0;
}

int tsagg__part_find_retries(tsagg__part *p, const tsagg__retry_key *keys, size_t n,
                             uint8_t *found)
{
    group_cols gc = {malloc(TSAGG__PART_GROUP_ROWS * sizeof *gc.ts),
                     malloc(TSAGG__PART_GROUP_ROWS * sizeof *gc.id),
                     malloc(TSAGG__PART_GROUP_ROWS * sizeof *gc.flags), UINT32_MAX};
    int rc = gc.ts && gc.id && gc.flags ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < n;) {
        size_t j = i + 1;
        while (j < n && keys[j].merchant == keys[i].merchant)
            j++;
        rc = merchant_retries(p, &gc, keys + i, j - i, found + i);
        i = j;
    }
    free(gc.ts);
    free(gc.id);
    free(gc.flags);
    return rc;
}

/* The keys of keys[0, n) with ts in [from, to], into out[0, *count) with
 * row set to their index in keys, and found[0, *count) cleared. */
static void keys_in_range(const tsagg__retry_key *keys, size_t n, int64_t from, int64_t to,
                          tsagg__retry_key *out, uint8_t *found, size_t *count)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (keys[i].ts >= from && keys[i].ts <= to) {
            out[k] = keys[i];
            out[k].row = (uint32_t)i; /* back to keys[] */
            found[k++] = 0;
        }
    *count = k;
}

/* 1 when the span of the file ref meets [lo, hi]. */
static int span_meets(const tsagg__part_ref *ref, int64_t lo, int64_t hi)
{
    return ref->start <= hi && ref->start + (int64_t)ref->hours * TSAGG__HOUR_US > lo;
}

static int any_span_meets(const tsagg__manifest *m, int64_t lo, int64_t hi)
{
    for (size_t f = 0; f < m->nparts; f++)
        if (span_meets(&m->parts[f], lo, hi))
            return 1;
    return 0;
}

/* Mark in drop[] the rows of keys[0, n) that the file of ref holds. A file
 * is read only where its own times (its footer's least and greatest ts,
 * not its span's) meet the keys': the files of the hour being written
 * hold the times before the new rows, and are closed again unread. */
static int file_retries(tsagg_store *st, const tsagg__part_ref *ref, const tsagg__retry_key *keys,
                        size_t n, int64_t lo, int64_t hi, tsagg__retry_key *sub, uint8_t *found,
                        uint8_t *drop)
{
    char path[TSAGG_PATH_MAX + 64], detail[TSAGG_ERRMSG_MAX] = "";
    tsagg__part_file_path(st, ref, path, sizeof path);
    tsagg__part *p;
    int rc = tsagg__part_open(st->io, path, &p, detail, sizeof detail);
    if (rc == 0) {
        const tsagg__part_info *info = tsagg__part_get_info(p);
        int64_t from = info->min_ts > lo ? info->min_ts : lo;
        int64_t to = info->max_ts < hi ? info->max_ts : hi;
        size_t k = 0;
        if (info->rows > 0 && from <= to)
            keys_in_range(keys, n, from, to, sub, found, &k);
        if (k > 0 && (rc = tsagg__part_find_retries(p, sub, k, found)) != 0)
            tsagg__part_errmsg(p, detail, sizeof detail);
        tsagg__part_close(p);
        for (size_t i = 0; rc == 0 && i < k; i++)
            if (found[i])
                drop[keys[sub[i].row].row] = 1;
    }
    return rc ? tsagg__fail(st, rc, "%s", detail[0] ? detail : tsagg_strerror(rc)) : 0;
}

/* Take the rows drop[] marks out of b, closing the gaps, and keep b->order
 * (b is sorted) with the rows that stay: the caller's sort has nothing
 * left to do. */
static int close_gaps(tsagg__spanbuf *b, const uint8_t *drop)
{
    uint32_t *moved_to = malloc(b->n * sizeof *moved_to);
    if (!moved_to)
        return -ENOMEM;
    size_t w = 0;
    uint32_t nd = b->ndims, nm = b->nmeasures;
    for (size_t i = 0; i < b->n; i++) {
        moved_to[i] = (uint32_t)w;
        if (drop[i])
            continue;
        if (w != i) {
            b->rows[w] = b->rows[i];
            if (nd)
                memmove(b->dims + w * nd, b->dims + i * nd, nd * sizeof *b->dims);
            if (nm)
                memmove(b->meas + w * nm, b->meas + i * nm, nm * sizeof *b->meas);
        }
        w++;
    }
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++)
        if (!drop[b->order[i]])
            b->order[k++] = moved_to[b->order[i]];
    b->n = w;
    free(moved_to);
    return 0;
}

/*
 * The keys come in the buffer's own order (tsagg__spanbuf_sort), which the
 * span is written in anyway, so the new rows are sorted once; and only
 * the files whose times meet the new rows are read: the files of the hour
 * being written hold its earlier times, and a check of every key in each
 * of them grew with the hour rather than with the new rows.
 */
int tsagg__drop_published_retries(tsagg_store *st, const tsagg__manifest *m, tsagg__spanbuf *b,
                                  uint64_t *dropped)
{
    size_t n = 0;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < b->n; i++) {
        const tsagg__spanrow *r = &b->rows[i];
        if (!(r->flags & TSAGG_EVENT_HAS_ID))
            continue;
        n++;
        lo = r->ts < lo ? r->ts : lo;
        hi = r->ts > hi ? r->ts : hi;
    }
    if (n == 0 || !any_span_meets(m, lo, hi))
        return 0;
    int rc = tsagg__spanbuf_sort(b);
    if (rc != 0)
        return rc;
    tsagg__retry_key *keys = malloc(n * sizeof *keys), *sub = malloc(n * sizeof *sub);
    uint8_t *found = malloc(n), *drop = calloc(b->n, 1);
    rc = keys && sub && found && drop ? 0 : -ENOMEM;
    /* In (merchant, ts, id) order: the buffer's order puts the rows with
     * an id of one merchant and ts after those without, by id. */
    for (size_t i = 0, k = 0; rc == 0 && i < b->n; i++) {
        const tsagg__spanrow *r = &b->rows[b->order[i]];
        if (r->flags & TSAGG_EVENT_HAS_ID)
            keys[k++] = (tsagg__retry_key){r->merchant, r->ts, r->id, b->order[i]};
    }
    for (size_t f = 0; rc == 0 && f < m->nparts; f++)
        if (span_meets(&m->parts[f], lo, hi))
            rc = file_retries(st, &m->parts[f], keys, n, lo, hi, sub, found, drop);
    size_t gone = 0;
    for (size_t i = 0; rc == 0 && i < b->n; i++)
        gone += drop[i];
    if (rc == 0 && gone > 0 && (rc = close_gaps(b, drop)) == 0)
        *dropped += gone;
    free(keys);
    free(sub);
    free(found);
    free(drop);
    return rc;
}
