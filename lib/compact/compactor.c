/*
 * compactor.c - the raw log into hourly partitions, published atomically.
 *
 * 1. Read the durable log after the manifest's consumed position, through
 *    the processing hook, into one in-memory buffer per event hour.
 * 2. When the buffers outgrow the memory budget, the largest hours are
 *    sorted and spilled as partition files ("runs") under temporary names.
 * 3. Each hour's runs and remaining rows are merged into one new partition
 *    file (an extra file when the hour already has one: late events),
 *    written to a temporary name, fsynced and renamed. A merge reads at
 *    most as many files at once as the budget holds (tsagg__max_fanin); more runs
 *    are first merged in passes, so memory stays bounded for any hour.
 * 4. The directory is fsynced and a manifest listing the new files and the
 *    new consumed position is published. Until then nothing is visible; a
 *    crash leaves files no manifest lists, which the next run removes, and
 *    the next run reads the same log range again.
 *
 * tsagg_rebuild (rebuild.c) runs the same compactor over a time range of
 * the whole log; tsagg_merge (merge_hours.c) merges partition files only.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi_internal.h"
#include "compact_internal.h"
#include "fileio.h"
#include "tsagg_compact.h"
#include "tsagg_log.h"
#include "tsagg_rules.h"

void tsagg_compact_options_init(tsagg_compact_options *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->memory_budget = 256ull << 20;
}

/* A rebuild's figures so far, from the compaction counters, to its
 * progress callback. */
static void rebuild_progress(compactor *c)
{
    if (!c->ro || !c->ro->progress)
        return;
    /* Writer threads may be adding to the counters. */
    c->rs->events_read = c->stats->events_read;
    c->rs->events_dropped = c->stats->events_dropped;
    c->rs->events_unplaced = c->stats->events_unplaced;
    c->rs->duplicates = __atomic_load_n(&c->stats->duplicates, __ATOMIC_RELAXED);
    c->rs->files_written = __atomic_load_n(&c->stats->files_written, __ATOMIC_RELAXED);
    c->rs->rows_written = __atomic_load_n(&c->stats->rows_written, __ATOMIC_RELAXED);
    c->rs->bytes_written = __atomic_load_n(&c->stats->bytes_written, __ATOMIC_RELAXED);
    c->ro->progress(c->ro->progress_ctx, c->rs);
}

void tsagg__slot_free(hour_slot *s)
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
    if (c->key_len[pos] == a->key_len && !memcmp(c->key_name[pos], a->key, a->key_len))
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
    memcpy(c->key_name[pos], a->key, a->key_len);
    c->key_len[pos] = (uint8_t)a->key_len;
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
                len = (size_t)tsagg__num_format(num, sizeof num, "%.17g", a->v.f);
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

/* Sort an hour's rows and write them, with its runs when with_runs, as a
 * partition file at `path`. */
static int write_sorted(compactor *c, hour_slot *s, const char *path, uint64_t file_id,
                        int with_runs, tsagg__part_info *info, uint64_t *dups)
{
    tsagg_store *st = c->st;
    int rc = 0;
    if (with_runs && s->nruns > 0) {
        /* The rows in memory are one more source. */
        size_t fanin = tsagg__max_fanin(st, c->o->memory_budget / c->threads);
        tsagg__file_set fs = {s->runs, NULL, s->nruns};
        fs.owned = malloc(s->nruns);
        if (!fs.owned)
            return -ENOMEM;
        memset(fs.owned, 1, s->nruns);
        rc = tsagg__reduce_files(st, s->buf.hour, &fs, fanin - (s->buf.n ? 1 : 0), fanin,
                          &c->next_run, dups);
        s->runs = fs.paths; /* the runs left (and those to remove on failure) */
        s->nruns = fs.n;
        free(fs.owned);
        if (rc != 0)
            return rc;
    }
    rc = tsagg__hourbuf_sort(&s->buf);
    if (rc != 0)
        return rc;
    size_t nsrc = 0, cap = 1 + (with_runs ? s->nruns : 0);
    tsagg__merge_src **srcs = calloc(cap, sizeof *srcs);
    if (!srcs)
        return -ENOMEM;
    char detail[TSAGG_ERRMSG_MAX] = "";
    if (s->buf.n && (rc = tsagg__merge_src_mem(&s->buf, st->schema, &srcs[nsrc])) == 0)
        nsrc++;
    if (rc == 0 && with_runs && s->nruns > 0) {
        rc = tsagg__open_sources(st, s->runs, s->nruns, srcs + nsrc, detail, sizeof detail);
        if (rc == 0)
            nsrc += s->nruns;
    }
    tsagg__merge_stats ms = {0};
    if (rc == 0) {
        rc = tsagg__write_merged(st, srcs, nsrc, path, s->buf.hour, file_id, info, &ms, detail,
                          sizeof detail);
    } else {
        for (size_t i = 0; i < nsrc; i++)
            tsagg__merge_src_free(srcs[i]);
    }
    free(srcs);
    if (rc == 0)
        *dups += ms.duplicates;
    else
        rc = tsagg__fail(st, rc, "%s", detail[0] ? detail : tsagg_strerror(rc));
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
        int rc = write_sorted(c, big, path, 0, 0, NULL, &c->stats->duplicates);
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

void tsagg__compactor_remove_runs(compactor *c)
{
    for (size_t i = 0; i < c->nhours; i++)
        for (size_t r = 0; r < c->hours[i]->nruns; r++)
            c->st->io->unlink(c->st->io->ctx, c->hours[i]->runs[r]);
}

int tsagg__slot_cmp(const void *a, const void *b)
{
    int64_t x = (*(hour_slot *const *)a)->buf.hour, y = (*(hour_slot *const *)b)->buf.hour;
    return x < y ? -1 : x > y;
}

int tsagg__compactor_read_log(compactor *c, uint64_t from, uint64_t to, uint64_t *last)
{
    tsagg_store *st = c->st;
    tsagg_log_range r;
    tsagg_log_range_init(&r);
    r.from_seq = from;
    r.to_seq = to + 1;
    if (c->ro) {
        r.ts_from = c->ts_lo;
        r.ts_to = c->ts_hi;
    }
    tsagg_log_reader *rd;
    int rc = tsagg_log_reader_open(st, &r, &rd);
    if (rc != 0)
        return rc;
    const tsagg_event *ev;
    uint64_t seq;
    while ((rc = tsagg_log_reader_next(rd, &ev, &seq)) == 1) {
        c->stats->events_read++;
        *last = seq;
        tsagg_event copy = *ev;
        int keep = 1;
        /* The stored rules see the event as received, before the hook. */
        if (tsagg_rules_drops(c->rules, &copy)) {
            c->stats->events_dropped++;
            keep = 0;
            rc = 0; /* still 1 from the reader */
        } else if (c->o->process) {
            keep = c->o->process(c->o->process_ctx, &copy, seq);
            if (keep < 0) {
                rc = tsagg__fail(st, keep, "processing hook failed at sequence %" PRIu64, seq);
                break;
            }
            if (keep == 0) {
                c->stats->events_dropped++;
                rc = 0; /* still 1 from the reader: not a reason to stop */
            } else if ((rc = tsagg_event_validate(&copy)) != 0 &&
                       (copy.ts >= TS_MIN && copy.ts < TS_END)) {
                rc = tsagg__fail(st, rc, "processing hook made event %" PRIu64 " invalid", seq);
                break;
            }
        }
        rc = 0;
        /* An event no hour can hold (a log written before appends checked
         * ts, or a hook's doing) stays in the log, skipped and counted: one
         * such event must not stop compaction for everyone. */
        if (keep && (copy.ts < TS_MIN || copy.ts >= TS_END)) {
            c->stats->events_unplaced++;
            keep = 0;
        }
        if (keep && c->ro && (copy.ts < c->ts_lo || copy.ts >= c->ts_hi)) {
            c->rs->events_moved++;
            keep = 0;
        }
        if (keep)
            rc = add_event(c, &copy);
        if (rc == 0 && c->bytes > c->o->memory_budget)
            rc = spill(c);
        if (rc != 0)
            break;
        if ((c->stats->events_read & ((1u << 20) - 1)) == 0)
            rebuild_progress(c);
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
    if (!TSAGG__SIZE_OK(o->struct_size, TSAGG__COMPACT_OPTIONS_SIZE_1, *o))
        return tsagg__fail(st, TSAGG_EARG, "tsagg_compact_options.struct_size %u: not set by "
                           "tsagg_compact_options_init", (unsigned)o->struct_size);
    if (o->flags || o->reserved)
        return tsagg__fail(st, TSAGG_EARG, "tsagg_compact_options: flags and reserved must be 0");
    if (o->memory_budget < (1u << 20) || o->threads > TSAGG_COMPACT_THREADS_MAX)
        return tsagg__fail(st, TSAGG_EARG, "compaction options out of range");
    return 0;
}

int tsagg__parts_dir_sync(tsagg_store *st, const char *dir)
{
    int rc = tsagg__fsync_dir(st->io, dir);
    return rc ? tsagg__fail(st, rc, "%s: fsync of the directory: %s", dir, tsagg_strerror(rc)) : 0;
}

static int parts_dir_ensure(tsagg_store *st)
{
    char dir[TSAGG_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/parts", st->path);
    int rc = st->io->mkdir(st->io->ctx, dir, 0755);
    if (rc == -EEXIST)
        return 0;
    return rc ? tsagg__fail(st, rc, "%s: %s", dir, tsagg_strerror(rc)) : 0;
}

int tsagg__edit_begin(tsagg_store *st, tsagg__snapshot **snap, tsagg__manifest **next)
{
    *snap = NULL;
    *next = NULL;
    int rc = parts_dir_ensure(st);
    if (rc == 0)
        rc = tsagg__catalog_sweep(st);
    if (rc == 0)
        rc = tsagg__snapshot_acquire(st, snap);
    if (rc != 0)
        return rc;
    rc = tsagg__manifest_clone(tsagg__snapshot_manifest(*snap), next);
    if (rc != 0) {
        tsagg__snapshot_release(st, *snap);
        *snap = NULL;
    }
    return rc;
}

/* One hour of the write phase. */
typedef struct hour_job {
    uint64_t file_id; /* 0: the hour has nothing to write */
    tsagg__part_info info;
    int rc;
} hour_job;

/* The write phase: the caller's thread and c->threads - 1 helpers each take
 * the next hour nobody has taken. Hours are independent (their own rows,
 * runs, writer and file); what they share is counted atomically. */
typedef struct write_pool {
    compactor *c;
    hour_job *jobs;
    size_t next;  /* atomic: the next hour to take */
    int failed;   /* atomic: stop taking hours */
} write_pool;

static void write_hour(compactor *c, size_t i, hour_job *job)
{
    hour_slot *s = c->hours[i];
    int64_t hour = s->buf.hour;
    char path[TSAGG_PATH_MAX + 64];
    tsagg__part_file_path(c->st, hour, job->file_id, path, sizeof path);
    uint64_t dups = 0;
    job->rc = write_sorted(c, s, path, job->file_id, 1, &job->info, &dups);
    /* Its rows are on disk: give their memory back for the hours left. */
    tsagg__hourbuf_free(&s->buf);
    if (job->rc == 0)
        job->rc = tsagg__hourbuf_init(&s->buf, hour, c->ndims, c->nmeas);
    if (job->rc != 0)
        return;
    tsagg_compact_stats *st = c->stats;
    __atomic_fetch_add(&st->duplicates, dups, __ATOMIC_RELAXED);
    __atomic_fetch_add(&st->files_written, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&st->rows_written, job->info.rows, __ATOMIC_RELAXED);
    __atomic_fetch_add(&st->bytes_written, job->info.bytes, __ATOMIC_RELAXED);
    __atomic_fetch_add(&st->hours, 1, __ATOMIC_RELAXED);
}

static void write_hours_loop(write_pool *p, int caller)
{
    compactor *c = p->c;
    for (;;) {
        if (__atomic_load_n(&p->failed, __ATOMIC_ACQUIRE))
            return;
        size_t i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED);
        if (i >= c->nhours)
            return;
        hour_job *job = &p->jobs[i];
        if (job->file_id == 0)
            continue;
        write_hour(c, i, job);
        if (job->rc != 0)
            __atomic_store_n(&p->failed, 1, __ATOMIC_RELEASE);
        else if (caller)
            rebuild_progress(c); /* the progress callback runs in the caller's thread */
    }
}

static void *write_hours_helper(void *arg)
{
    write_hours_loop(arg, 0);
    return NULL;
}

int tsagg__compactor_write_hours(compactor *c, tsagg__manifest *next, uint32_t gen,
                                 uint32_t level)
{
    if (c->nhours == 0)
        return 0;
    write_pool p = {.c = c, .jobs = calloc(c->nhours, sizeof(hour_job))};
    if (!p.jobs)
        return -ENOMEM;
    /* File ids in hour order, whichever thread writes them. */
    for (size_t i = 0; i < c->nhours; i++)
        if (c->hours[i]->buf.n || c->hours[i]->nruns)
            p.jobs[i].file_id = next->next_file_id++;
    pthread_t helpers[TSAGG_COMPACT_THREADS_MAX];
    uint32_t started = 0;
    while (started + 1 < c->threads &&
           pthread_create(&helpers[started], NULL, write_hours_helper, &p) == 0)
        started++;
    write_hours_loop(&p, 1);
    for (uint32_t t = 0; t < started; t++)
        pthread_join(helpers[t], NULL);

    int rc = 0;
    for (size_t i = 0; rc == 0 && i < c->nhours; i++)
        if (p.jobs[i].file_id && p.jobs[i].rc)
            rc = p.jobs[i].rc;
    for (size_t i = 0; rc == 0 && i < c->nhours; i++) {
        const hour_job *job = &p.jobs[i];
        if (!job->file_id)
            continue;
        int64_t hour = c->hours[i]->buf.hour;
        uint32_t g = gen ? gen : 1;
        for (size_t k = 0; !gen && k < next->nparts; k++)
            if (next->parts[k].hour == hour)
                g = next->parts[k].generation;
        tsagg__part_ref ref = {.hour = hour, .file_id = job->file_id, .rows = job->info.rows,
                               .bytes = job->info.bytes, .generation = g, .level = level};
        rc = tsagg__manifest_add(next, &ref);
    }
    c->bytes = 0;
    free(p.jobs);
    return rc;
}

static int compact_locked(tsagg_store *st, const tsagg_compact_options *o,
                          tsagg_compact_stats *stats)
{
    tsagg__snapshot *snap;
    tsagg__manifest *next;
    int rc = tsagg__edit_begin(st, &snap, &next);
    if (rc != 0)
        return rc;
    tsagg__snapshot_release(st, snap); /* the copy is all compaction reads */

    compactor c = {.st = st, .o = o, .stats = stats, .threads = o->threads ? o->threads : 1};
    c.ndims = (uint32_t)tsagg_schema_dimension_count(st->schema);
    c.nmeas = (uint32_t)tsagg_schema_measure_count(st->schema);
    c.dims = calloc(c.ndims + 1, sizeof *c.dims);
    c.meas = calloc(c.nmeas + 1, sizeof *c.meas);
    c.next_run = 1;
    if (!c.dims || !c.meas)
        rc = -ENOMEM;
    if (rc == 0)
        rc = tsagg_store_rules(st, &c.rules);
    uint64_t target = tsagg_durable_seq(st), last = next->consumed_seq;
    if (rc == 0 && target > next->consumed_seq)
        rc = tsagg__compactor_read_log(&c, next->consumed_seq + 1, target, &last);
    if (rc == 0 && c.nhours)
        qsort(c.hours, c.nhours, sizeof *c.hours, tsagg__slot_cmp);
    if (rc == 0)
        rc = tsagg__compactor_write_hours(&c, next, 0, 0);
    tsagg__compactor_remove_runs(&c);
    char dir[TSAGG_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/parts", st->path);
    if (rc == 0 && c.nhours)
        rc = tsagg__parts_dir_sync(st, dir);
    if (rc == 0 && last != next->consumed_seq) {
        next->consumed_seq = last;
        rc = tsagg__catalog_publish(st, next);
    }
    stats->consumed_seq = rc == 0 ? last : stats->consumed_seq;
    for (size_t i = 0; i < c.nhours; i++)
        tsagg__slot_free(c.hours[i]);
    free(c.hours);
    free(c.dims);
    free(c.meas);
    tsagg_rules_free(c.rules);
    tsagg__manifest_free(next);
    return rc;
}

/*
 * After a failed compaction, merge or rebuild: remove what it wrote (hour
 * files no manifest lists, sorted runs, a manifest's temporary file), so
 * that a full disk is not left fuller by the attempt. The sweep keeps every
 * file the manifest on disk lists, a publish that landed included. Returns
 * rc; the handle's message stays that of the failure.
 */
int tsagg__remove_leftovers(tsagg_store *st, int rc)
{
    char why[TSAGG_ERRMSG_MAX];
    tsagg_store_errmsg(st, why, sizeof why);
    if (tsagg__catalog_sweep(st) != 0)
        tsagg__fail(st, rc, "%s", why);
    return rc;
}

/* What tsagg_compact and tsagg_merge share: defaults for NULL arguments,
 * checks, and one compaction or merge at a time. */
static int run_exclusive(tsagg_store *st, const tsagg_compact_options *opts,
                         tsagg_compact_stats *stats, int merge)
{
    tsagg_compact_options defaults;
    if (!opts) {
        tsagg_compact_options_init(&defaults);
        opts = &defaults;
    }
    size_t out = stats ? tsagg__out_size(stats->struct_size, TSAGG__COMPACT_STATS_SIZE_1,
                                         sizeof *stats)
                       : 0;
    if (st && stats && !out)
        return tsagg__fail(st, TSAGG_EARG, "tsagg_compact_stats.struct_size %u out of range",
                           (unsigned)stats->struct_size);
    tsagg_compact_stats full = {0};
    int rc = check_options(st, opts);
    if (rc == 0) {
        pthread_mutex_lock(&st->compact_mu);
        rc = merge ? tsagg__merge_locked(st, opts->memory_budget, &full)
                   : compact_locked(st, opts, &full);
        if (rc != 0)
            rc = tsagg__remove_leftovers(st, rc);
        pthread_mutex_unlock(&st->compact_mu);
    }
    if (stats && out)
        TSAGG__OUT_COPY(stats, &full, out);
    return rc;
}

int tsagg_compact(tsagg_store *st, const tsagg_compact_options *opts, tsagg_compact_stats *stats)
{
    return run_exclusive(st, opts, stats, 0);
}

int tsagg_merge(tsagg_store *st, const tsagg_compact_options *opts, tsagg_compact_stats *stats)
{
    return run_exclusive(st, opts, stats, 1);
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
