/*
 * rebuild.c - tsagg_rebuild: the hours of a time range compacted again from
 * the whole log, as a new generation of files replacing theirs in one
 * manifest.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi_internal.h"
#include "compact_internal.h"

void tsagg_rebuild_options_init(tsagg_rebuild_options *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->memory_budget = 256ull << 20;
}

/* Replace every file of the hours [lo, hi) in `next` (as in `cur`) by the
 * files the rebuild wrote; counts what was replaced. */
static void drop_replaced(const tsagg__manifest *cur, tsagg__manifest *next, int64_t lo,
                          int64_t hi, tsagg_rebuild_stats *rs)
{
    for (size_t i = 0; i < cur->nparts; i++) {
        const tsagg__part_ref *p = &cur->parts[i];
        if (p->hour < lo || p->hour >= hi)
            continue;
        tsagg__manifest_remove(next, p->file_id);
        rs->files_replaced++;
        rs->rows_replaced += p->rows;
        rs->bytes_replaced += p->bytes;
    }
}

/* Distinct hours in [lo, hi) with a file in `cur` or among the new ones. */
static uint64_t count_hours(const tsagg__manifest *cur, const compactor *c, int64_t lo, int64_t hi)
{
    uint64_t n = 0;
    for (size_t i = 0; i < c->nhours; i++)
        n += c->hours[i]->buf.hour >= lo && c->hours[i]->buf.hour < hi;
    int64_t prev = INT64_MIN;
    for (size_t i = 0; i < cur->nparts; i++) {
        int64_t h = cur->parts[i].hour;
        if (h < lo || h >= hi || h == prev)
            continue;
        prev = h;
        int fresh = 1;
        for (size_t k = 0; k < c->nhours; k++)
            fresh &= c->hours[k]->buf.hour != h;
        n += fresh;
    }
    return n;
}

static int rebuild_locked(tsagg_store *st, const tsagg_rebuild_options *ro,
                          const tsagg_compact_options *o, tsagg_rebuild_stats *rs)
{
    tsagg__snapshot *snap;
    tsagg__manifest *next;
    int rc = tsagg__edit_begin(st, &snap, &next);
    if (rc != 0)
        return rc;
    const tsagg__manifest *cur = tsagg__snapshot_manifest(snap);

    tsagg_compact_stats cs = {0};
    compactor c = {.st = st, .o = o, .stats = &cs, .ro = ro, .rs = rs,
                   .threads = o->threads ? o->threads : 1};
    c.ts_lo = hour_of(ro->from);
    c.ts_hi = hour_of(ro->to - 1) + TSAGG__HOUR_US;
    c.ndims = (uint32_t)tsagg_schema_dimension_count(st->schema);
    c.nmeas = (uint32_t)tsagg_schema_measure_count(st->schema);
    c.dims = calloc(c.ndims + 1, sizeof *c.dims);
    c.meas = calloc(c.nmeas + 1, sizeof *c.meas);
    c.next_run = 1;
    if (rc == 0 && (!c.dims || !c.meas))
        rc = -ENOMEM;
    if (rc == 0)
        rc = tsagg_store_rules(st, &c.rules);
    uint64_t last = 0;
    rs->consumed_seq = cur->consumed_seq;
    if (rc == 0 && cur->consumed_seq > 0)
        rc = tsagg__compactor_read_log(&c, 1, cur->consumed_seq, &last);
    if (rc == 0 && c.nhours)
        qsort(c.hours, c.nhours, sizeof *c.hours, tsagg__slot_cmp);
    /* One generation past any the hours had. */
    uint32_t gen = 1;
    for (size_t i = 0; i < cur->nparts; i++)
        if (cur->parts[i].hour >= c.ts_lo && cur->parts[i].hour < c.ts_hi &&
            cur->parts[i].generation >= gen)
            gen = cur->parts[i].generation + 1;
    rs->generation = gen;
    if (rc == 0) {
        rs->hours = count_hours(cur, &c, c.ts_lo, c.ts_hi);
        drop_replaced(cur, next, c.ts_lo, c.ts_hi, rs);
        rc = tsagg__compactor_write_hours(&c, next, gen, 1);
    }
    tsagg__compactor_remove_runs(&c);
    char dir[TSAGG_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/parts", st->path);
    if (rc == 0 && cs.files_written)
        rc = tsagg__parts_dir_sync(st, dir);
    if (rc == 0 && (cs.files_written || rs->files_replaced))
        rc = tsagg__catalog_publish(st, next);
    rs->events_read = cs.events_read;
    rs->events_dropped = cs.events_dropped;
    rs->events_unplaced = cs.events_unplaced;
    rs->duplicates = cs.duplicates;
    rs->files_written = cs.files_written;
    rs->rows_written = cs.rows_written;
    rs->bytes_written = cs.bytes_written;
    for (size_t i = 0; i < c.nhours; i++)
        tsagg__slot_free(c.hours[i]);
    free(c.hours);
    free(c.dims);
    free(c.meas);
    tsagg_rules_free(c.rules);
    tsagg__snapshot_release(st, snap);
    tsagg__manifest_free(next);
    return rc;
}

static int rebuild_checked(tsagg_store *st, const tsagg_rebuild_options *opts,
                           tsagg_rebuild_stats *stats);

int tsagg_rebuild(tsagg_store *st, const tsagg_rebuild_options *opts, tsagg_rebuild_stats *stats)
{
    size_t out = stats ? tsagg__out_size(stats->struct_size, TSAGG__REBUILD_STATS_SIZE_1,
                                         sizeof *stats)
                       : 0;
    if (!st || !opts)
        return TSAGG_EARG;
    if (stats && !out)
        return tsagg__fail(st, TSAGG_EARG, "tsagg_rebuild_stats.struct_size %u out of range",
                           (unsigned)stats->struct_size);
    tsagg_rebuild_stats full = {.struct_size = sizeof full};
    int rc = rebuild_checked(st, opts, &full);
    if (stats)
        TSAGG__OUT_COPY(stats, &full, out);
    return rc;
}

static int rebuild_checked(tsagg_store *st, const tsagg_rebuild_options *opts,
                           tsagg_rebuild_stats *stats)
{
    if (!st->writer)
        return tsagg__fail(st, TSAGG_EREADONLY, "a rebuild needs a writable store");
    if (!TSAGG__SIZE_OK(opts->struct_size, TSAGG__REBUILD_OPTIONS_SIZE_1, *opts))
        return tsagg__fail(st, TSAGG_EARG, "tsagg_rebuild_options.struct_size %u: not set by "
                           "tsagg_rebuild_options_init", (unsigned)opts->struct_size);
    if (opts->flags || opts->reserved)
        return tsagg__fail(st, TSAGG_EARG, "tsagg_rebuild_options: flags and reserved must be 0");
    if (opts->memory_budget < (1u << 20) ||
        opts->threads > TSAGG_COMPACT_THREADS_MAX || opts->from >= opts->to ||
        opts->from < TS_MIN || opts->to > TS_END)
        return tsagg__fail(st, TSAGG_EARG,
                           "rebuild options out of range (from < to, years 0000-9999, "
                           "budget >= 1 MiB)");
    tsagg_compact_options co;
    tsagg_compact_options_init(&co);
    co.memory_budget = opts->memory_budget;
    co.threads = opts->threads;
    co.process = opts->process;
    co.process_ctx = opts->process_ctx;
    pthread_mutex_lock(&st->compact_mu);
    int rc = rebuild_locked(st, opts, &co, stats);
    if (rc != 0)
        rc = tsagg__remove_leftovers(st, rc);
    pthread_mutex_unlock(&st->compact_mu);
    return rc;
}
