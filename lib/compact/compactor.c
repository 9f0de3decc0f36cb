/*
 * compactor.c - the raw log into hourly partitions, published atomically.
 *
 * 1. Read the durable log after the manifest's consumed position, through
 *    the processing hook, into one in-memory buffer per event hour.
 * 2. When the buffers outgrow the memory budget, the largest hours are
 *    sorted and spilled as partition files ("runs") under temporary names.
 * 3. Each hour's runs and remaining rows are merged into one new partition
 *    file (an extra file when the hour already has one: late events),
 *    written to a temporary name, fsynced and renamed.
 * 4. The directory is fsynced and a manifest listing the new files and the
 *    new consumed position is published. Until then nothing is visible; a
 *    crash leaves files no manifest lists, which the next run removes, and
 *    the next run reads the same log range again.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compact_internal.h"
#include "fileio.h"
#include "tsagg_compact.h"
#include "tsagg_log.h"

void tsagg_compact_options_init(tsagg_compact_options *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->memory_budget = 256ull << 20;
}

static int64_t hour_of(int64_t ts)
{
    int64_t h = ts / TSAGG__HOUR_US;
    if (ts % TSAGG__HOUR_US < 0)
        h--;
    return h * TSAGG__HOUR_US;
}

/* One hour being compacted: its rows in memory and its spilled runs. */
typedef struct hour_slot {
    tsagg__hourbuf buf;
    char **runs;
    size_t nruns;
} hour_slot;

typedef struct compactor {
    tsagg_store *st;
    const tsagg_compact_options *o;
    tsagg_compact_stats *stats;
    uint32_t ndims, nmeas;
    hour_slot **hours;
    size_t nhours, hours_cap;
    size_t last; /* index of the hour hit last */
    size_t bytes;
    uint64_t next_run;
    /* Per-event scratch. */
    uint32_t *dims;
    double *meas;
    /* Attribute key -> column, remembered per attribute position. */
    const char *key_ptr[TSAGG_ATTRS_MAX];
    int key_col[TSAGG_ATTRS_MAX];
} compactor;

static void slot_free(hour_slot *s)
{
    if (!s)
        return;
    tsagg__hourbuf_free(&s->buf);
    for (size_t i = 0; i < s->nruns; i++)
        free(s->runs[i]);
    free(s->runs);
    free(s);
}

static int slot_get(compactor *c, int64_t hour, hour_slot **out)
{
    if (c->last < c->nhours && c->hours[c->last]->buf.hour == hour) {
        *out = c->hours[c->last];
        return 0;
    }
    for (size_t i = 0; i < c->nhours; i++) {
        if (c->hours[i]->buf.hour == hour) {
            c->last = i;
            *out = c->hours[i];
            return 0;
        }
    }
    if (c->nhours == c->hours_cap) {
        size_t cap = c->hours_cap ? c->hours_cap * 2 : 64;
        hour_slot **p = realloc(c->hours, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        c->hours = p;
        c->hours_cap = cap;
    }
    hour_slot *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    int rc = tsagg__hourbuf_init(&s->buf, hour, c->ndims, c->nmeas);
    if (rc != 0) {
        free(s);
        return rc;
    }
    c->bytes += tsagg__hourbuf_bytes(&s->buf);
    c->last = c->nhours;
    c->hours[c->nhours++] = s;
    *out = s;
    return 0;
}

/* Which column an attribute feeds: dimension d (d >= 0), measure m
 * (-2 - m), or none (-1). */
static int attr_column(compactor *c, uint32_t pos, const tsagg_attr *a)
{
    if (c->key_ptr[pos] == a->key && a->key)
        return c->key_col[pos];
    char name[TSAGG_NAME_MAX + 1];
    memcpy(name, a->key, a->key_len);
    name[a->key_len] = 0;
    const tsagg_schema *schema = c->st->schema;
    int col = tsagg_schema_dimension_index(schema, name);
    if (col < 0) {
        int m = tsagg_schema_measure_index(schema, name);
        col = m >= 0 ? -2 - m : -1;
    }
    c->key_ptr[pos] = a->key;
    c->key_col[pos] = col;
    return col;
}

static int add_event(compactor *c, const tsagg_event *ev)
{
    hour_slot *s;
    int rc = slot_get(c, hour_of(ev->ts), &s);
    if (rc != 0)
        return rc;
    tsagg__hourbuf *h = &s->buf;
    size_t before = tsagg__hourbuf_bytes(h);
    tsagg__hrow row = {.ts = ev->ts, .merchant = ev->merchant, .user = ev->user,
                       .session = ev->session, .flags = ev->flags & TSAGG_EVENT_HAS_ID,
                       .id = ev->flags & TSAGG_EVENT_HAS_ID ? ev->id : 0};
    rc = tsagg__hourbuf_intern(h, ev->event, ev->event_len, &row.event);
    uint32_t empty = 0;
    if (rc == 0 && c->ndims)
        rc = tsagg__hourbuf_intern(h, "", 0, &empty);
    for (uint32_t d = 0; d < c->ndims; d++)
        c->dims[d] = empty;
    for (uint32_t m = 0; m < c->nmeas; m++)
        c->meas[m] = NAN;
    for (uint32_t i = 0; rc == 0 && i < ev->nattrs; i++) {
        const tsagg_attr *a = &ev->attrs[i];
        int col = attr_column(c, i, a);
        if (col >= 0) {
            char num[32];
            const char *p = a->v.s.ptr;
            size_t len = a->v.s.len;
            if (a->type == TSAGG_INT) {
                len = (size_t)snprintf(num, sizeof num, "%" PRId64, a->v.i);
                p = num;
            } else if (a->type == TSAGG_F64) {
                len = (size_t)snprintf(num, sizeof num, "%.17g", a->v.f);
                p = num;
            }
            rc = tsagg__hourbuf_intern(h, p, len, &c->dims[col]);
        } else if (col <= -2) {
            double v = a->type == TSAGG_F64   ? a->v.f
                       : a->type == TSAGG_INT ? (double)a->v.i
                                              : strtod_prefix(a->v.s.ptr, a->v.s.len);
            c->meas[-2 - col] = v;
        }
    }
    if (rc == 0)
        rc = tsagg__hourbuf_add(h, &row, c->dims, c->meas);
    c->bytes += tsagg__hourbuf_bytes(h) - before;
    return rc;
}

/* Sort an hour's rows and write them as a partition file at `path`. */
static int write_sorted(compactor *c, hour_slot *s, const char *path, uint64_t file_id,
                        int with_runs, tsagg__part_info *info)
{
    tsagg_store *st = c->st;
    int rc = tsagg__hourbuf_sort(&s->buf);
    if (rc != 0)
        return rc;
    size_t nsrc = 0, cap = 1 + (with_runs ? s->nruns : 0);
    tsagg__merge_src **srcs = calloc(cap, sizeof *srcs);
    if (!srcs)
        return -ENOMEM;
    if (s->buf.n)
        rc = tsagg__merge_src_mem(&s->buf, st->schema, &srcs[nsrc++]);
    for (size_t i = 0; rc == 0 && with_runs && i < s->nruns; i++) {
        tsagg__part *p;
        char err[TSAGG_ERRMSG_MAX];
        rc = tsagg__part_open(st->io, s->runs[i], &p, err, sizeof err);
        if (rc != 0)
            rc = tsagg__fail(st, rc, "%s", err);
        else
            rc = tsagg__merge_src_part(p, st->schema, &srcs[nsrc++]);
        if (rc != 0 && nsrc > 0 && !srcs[nsrc - 1])
            nsrc--;
    }
    tsagg__part_writer *w = NULL;
    if (rc == 0)
        rc = tsagg__part_writer_open(st->io, path, s->buf.hour, st->schema, file_id, &w);
    tsagg__merge_stats ms = {0};
    if (rc == 0)
        rc = tsagg__merge_into(srcs, nsrc, st->schema, w, &ms);
    if (rc == 0) {
        rc = tsagg__part_writer_finish(w, info);
        w = NULL;
    }
    tsagg__part_writer_abort(w);
    for (size_t i = 0; i < nsrc; i++)
        tsagg__merge_src_free(srcs[i]);
    free(srcs);
    if (rc == 0)
        c->stats->duplicates += ms.duplicates;
    else if (rc > -30000 || rc < -30999)
        rc = tsagg__fail(st, rc, "%s: %s", path, tsagg_strerror(rc));
    return rc;
}

/* Spill the largest hours as sorted runs until under half the budget. */
static int spill(compactor *c)
{
    while (c->bytes > c->o->memory_budget / 2) {
        hour_slot *big = NULL;
        for (size_t i = 0; i < c->nhours; i++)
            if (!big || c->hours[i]->buf.n > big->buf.n)
                big = c->hours[i];
        if (!big || big->buf.n == 0)
            return 0;
        char path[TSAGG_PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/parts/run-%016" PRIx64 ".tprun", c->st->path,
                 c->next_run++);
        char **runs = realloc(big->runs, (big->nruns + 1) * sizeof *runs);
        if (!runs)
            return -ENOMEM;
        big->runs = runs;
        big->runs[big->nruns] = strdup(path);
        if (!big->runs[big->nruns])
            return -ENOMEM;
        big->nruns++;
        size_t before = tsagg__hourbuf_bytes(&big->buf);
        int rc = write_sorted(c, big, path, 0, 0, NULL);
        if (rc != 0)
            return rc;
        /* Give the memory back, not just the rows. */
        int64_t hour = big->buf.hour;
        tsagg__hourbuf_free(&big->buf);
        rc = tsagg__hourbuf_init(&big->buf, hour, c->ndims, c->nmeas);
        c->bytes = c->bytes - before + tsagg__hourbuf_bytes(&big->buf);
        c->stats->runs_spilled++;
        if (rc != 0)
            return rc;
    }
    return 0;
}

static void remove_runs(compactor *c)
{
    for (size_t i = 0; i < c->nhours; i++)
        for (size_t r = 0; r < c->hours[i]->nruns; r++)
            c->st->io->unlink(c->st->io->ctx, c->hours[i]->runs[r]);
}

static int cmp_slot(const void *a, const void *b)
{
    int64_t x = (*(hour_slot *const *)a)->buf.hour, y = (*(hour_slot *const *)b)->buf.hour;
    return x < y ? -1 : x > y;
}

/* Read the log into hour buffers. *last gets the last sequence read. */
static int read_log(compactor *c, uint64_t from, uint64_t to, uint64_t *last)
{
    tsagg_store *st = c->st;
    tsagg_log_range r;
    tsagg_log_range_init(&r);
    r.from_seq = from;
    r.to_seq = to + 1;
    tsagg_log_reader *rd;
    int rc = tsagg_log_reader_open(st, &r, &rd);
    if (rc != 0)
        return rc;
    const tsagg_event *ev;
    uint64_t seq;
    while ((rc = tsagg_log_reader_next(rd, &ev, &seq)) == 1) {
        c->stats->events_read++;
        *last = seq;
        if (c->o->process) {
            tsagg_event copy = *ev;
            int keep = c->o->process(c->o->process_ctx, &copy, seq);
            if (keep < 0) {
                rc = tsagg__fail(st, keep, "processing hook failed at sequence %" PRIu64, seq);
                break;
            }
            if (keep == 0) {
                c->stats->events_dropped++;
            } else if ((rc = tsagg_event_validate(&copy)) != 0) {
                rc = tsagg__fail(st, rc, "processing hook made event %" PRIu64 " invalid", seq);
                break;
            } else {
                rc = add_event(c, &copy);
            }
        } else {
            rc = add_event(c, ev);
        }
        if (rc == 0 && c->bytes > c->o->memory_budget)
            rc = spill(c);
        if (rc != 0)
            break;
        if (c->o->max_events && c->stats->events_read >= c->o->max_events) {
            rc = 0;
            break;
        }
    }
    tsagg_log_reader_close(rd);
    return rc < 0 ? rc : 0;
}

static int check_options(tsagg_store *st, const tsagg_compact_options *o)
{
    if (!st)
        return TSAGG_EARG;
    if (!st->writer)
        return tsagg__fail(st, TSAGG_EREADONLY, "compaction needs a writable store");
    if (o->struct_size != sizeof *o || o->memory_budget < (1u << 20))
        return tsagg__fail(st, TSAGG_EARG, "compaction options out of range");
    return 0;
}

static int ensure_parts_dir(tsagg_store *st)
{
    char dir[TSAGG_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/parts", st->path);
    int rc = st->io->mkdir(st->io->ctx, dir, 0755);
    return rc == -EEXIST ? 0 : rc;
}

static int compact_locked(tsagg_store *st, const tsagg_compact_options *o,
                          tsagg_compact_stats *stats)
{
    int rc = ensure_parts_dir(st);
    if (rc == 0)
        rc = tsagg__catalog_sweep(st);
    if (rc != 0)
        return tsagg__fail(st, rc, "%s/parts: %s", st->path, tsagg_strerror(rc));
    tsagg__snapshot *snap;
    rc = tsagg__snapshot_acquire(st, &snap);
    if (rc != 0)
        return rc;
    tsagg__manifest *next = NULL;
    rc = tsagg__manifest_clone(tsagg__snapshot_manifest(snap), &next);
    tsagg__snapshot_release(st, snap);
    if (rc != 0)
        return rc;

    compactor c = {.st = st, .o = o, .stats = stats};
    c.ndims = (uint32_t)tsagg_schema_dimension_count(st->schema);
    c.nmeas = (uint32_t)tsagg_schema_measure_count(st->schema);
    c.dims = calloc(c.ndims + 1, sizeof *c.dims);
    c.meas = calloc(c.nmeas + 1, sizeof *c.meas);
    c.next_run = 1;
    if (!c.dims || !c.meas)
        rc = -ENOMEM;
    uint64_t target = tsagg_durable_seq(st), last = next->consumed_seq;
    if (rc == 0 && target > next->consumed_seq)
        rc = read_log(&c, next->consumed_seq + 1, target, &last);
    if (rc == 0 && c.nhours)
        qsort(c.hours, c.nhours, sizeof *c.hours, cmp_slot);
    /* One new file per hour; the manifest lists them only once all exist. */
    char dir[TSAGG_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/parts", st->path);
    for (size_t i = 0; rc == 0 && i < c.nhours; i++) {
        hour_slot *s = c.hours[i];
        if (s->buf.n == 0 && s->nruns == 0)
            continue;
        uint64_t id = next->next_file_id++;
        char path[TSAGG_PATH_MAX + 64];
        tsagg__part_path(st, s->buf.hour, id, path, sizeof path);
        tsagg__part_info info;
        rc = write_sorted(&c, s, path, id, 1, &info);
        if (rc != 0)
            break;
        uint32_t gen = 1;
        for (size_t k = 0; k < next->nparts; k++)
            if (next->parts[k].hour == s->buf.hour)
                gen = next->parts[k].generation;
        tsagg__part_ref ref = {.hour = s->buf.hour, .file_id = id, .rows = info.rows,
                               .bytes = info.bytes, .generation = gen, .level = 0};
        rc = tsagg__manifest_add(next, &ref);
        stats->files_written++;
        stats->rows_written += info.rows;
        stats->bytes_written += info.bytes;
        stats->hours++;
    }
    remove_runs(&c);
    if (rc == 0 && c.nhours)
        rc = tsagg__fsync_dir(st->io, dir);
    if (rc == 0 && last != next->consumed_seq) {
        next->consumed_seq = last;
        rc = tsagg__catalog_publish(st, next);
    }
    stats->consumed_seq = rc == 0 ? last : stats->consumed_seq;
    for (size_t i = 0; i < c.nhours; i++)
        slot_free(c.hours[i]);
    free(c.hours);
    free(c.dims);
    free(c.meas);
    tsagg__manifest_free(next);
    return rc;
}

int tsagg_compact(tsagg_store *st, const tsagg_compact_options *opts, tsagg_compact_stats *stats)
{
    tsagg_compact_options defaults;
    if (!opts) {
        tsagg_compact_options_init(&defaults);
        opts = &defaults;
    }
    tsagg_compact_stats local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    int rc = check_options(st, opts);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&st->compact_mu);
    rc = compact_locked(st, opts, stats);
    pthread_mutex_unlock(&st->compact_mu);
    return rc;
}

/* Merge the files of one hour into a new file; *ref describes it. */
static int merge_hour(tsagg_store *st, const tsagg__manifest *m, size_t from, size_t to,
                      uint64_t id, tsagg__part_ref *ref, tsagg_compact_stats *stats)
{
    int64_t hour = m->parts[from].hour;
    tsagg__merge_src **srcs = calloc(to - from, sizeof *srcs);
    if (!srcs)
        return -ENOMEM;
    size_t n = 0;
    int rc = 0;
    for (size_t i = from; rc == 0 && i < to; i++) {
        char path[TSAGG_PATH_MAX + 64];
        tsagg__part_path(st, hour, m->parts[i].file_id, path, sizeof path);
        tsagg__part *p;
        char err[TSAGG_ERRMSG_MAX];
        rc = tsagg__part_open(st->io, path, &p, err, sizeof err);
        if (rc != 0)
            rc = tsagg__fail(st, rc, "%s", err);
        else if ((rc = tsagg__merge_src_part(p, st->schema, &srcs[n])) == 0)
            n++;
    }
    char path[TSAGG_PATH_MAX + 64];
    tsagg__part_path(st, hour, id, path, sizeof path);
    tsagg__part_writer *w = NULL;
    if (rc == 0)
        rc = tsagg__part_writer_open(st->io, path, hour, st->schema, id, &w);
    tsagg__merge_stats ms = {0};
    if (rc == 0)
        rc = tsagg__merge_into(srcs, n, st->schema, w, &ms);
    tsagg__part_info info;
    if (rc == 0) {
        rc = tsagg__part_writer_finish(w, &info);
        w = NULL;
    }
    tsagg__part_writer_abort(w);
    for (size_t i = 0; i < n; i++)
        tsagg__merge_src_free(srcs[i]);
    free(srcs);
    if (rc != 0)
        return rc;
    *ref = (tsagg__part_ref){.hour = hour, .file_id = id, .rows = info.rows, .bytes = info.bytes,
                             .generation = m->parts[from].generation, .level = 1};
    stats->duplicates += ms.duplicates;
    stats->rows_written += info.rows;
    stats->bytes_written += info.bytes;
    stats->files_written++;
    stats->files_removed += to - from;
    stats->hours++;
    return 0;
}

static int merge_locked(tsagg_store *st, tsagg_compact_stats *stats)
{
    int rc = ensure_parts_dir(st);
    if (rc == 0)
        rc = tsagg__catalog_sweep(st);
    if (rc != 0)
        return rc;
    tsagg__snapshot *snap;
    rc = tsagg__snapshot_acquire(st, &snap);
    if (rc != 0)
        return rc;
    const tsagg__manifest *cur = tsagg__snapshot_manifest(snap);
    tsagg__manifest *next = NULL;
    rc = tsagg__manifest_clone(cur, &next);
    int changed = 0;
    for (size_t i = 0; rc == 0 && i < cur->nparts;) {
        size_t j = i + 1;
        while (j < cur->nparts && cur->parts[j].hour == cur->parts[i].hour)
            j++;
        if (j - i > 1) {
            tsagg__part_ref ref;
            rc = merge_hour(st, cur, i, j, next->next_file_id++, &ref, stats);
            for (size_t k = i; rc == 0 && k < j; k++)
                tsagg__manifest_remove(next, cur->parts[k].file_id);
            if (rc == 0)
                rc = tsagg__manifest_add(next, &ref);
            changed = 1;
        }
        i = j;
    }
    char dir[TSAGG_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/parts", st->path);
    if (rc == 0 && changed)
        rc = tsagg__fsync_dir(st->io, dir);
    if (rc == 0 && changed)
        rc = tsagg__catalog_publish(st, next);
    stats->consumed_seq = next ? next->consumed_seq : 0;
    tsagg__snapshot_release(st, snap);
    tsagg__manifest_free(next);
    return rc;
}

int tsagg_merge(tsagg_store *st, const tsagg_compact_options *opts, tsagg_compact_stats *stats)
{
    tsagg_compact_options defaults;
    if (!opts) {
        tsagg_compact_options_init(&defaults);
        opts = &defaults;
    }
    tsagg_compact_stats local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    int rc = check_options(st, opts);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&st->compact_mu);
    rc = merge_locked(st, stats);
    pthread_mutex_unlock(&st->compact_mu);
    return rc;
}

int tsagg_compacted_seq(tsagg_store *st, uint64_t *seq)
{
    if (!st || !seq)
        return TSAGG_EARG;
    tsagg__snapshot *snap;
    int rc = tsagg__snapshot_acquire(st, &snap);
    if (rc != 0)
        return rc;
    *seq = tsagg__snapshot_manifest(snap)->consumed_seq;
    tsagg__snapshot_release(st, snap);
    return 0;
}
