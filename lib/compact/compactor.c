/*
 * compactor.c - the raw log into partitions of hours, days and months,
 * published atomically.
 *
 * 1. Read the durable log after the manifest's consumed position, through
 *    the processing hook, into one in-memory buffer per span: the largest
 *    sealed span holding the event (tiers.h), by the newest event so far.
 * 2. When the buffers outgrow the memory budget, the largest spans are
 *    sorted and spilled as partition files ("runs") under temporary names.
 * 3. Each span's runs and remaining rows are merged into one new partition
 *    file (write_spans.c; an extra file when the span already has one: late
 *    events), written to a temporary name, fsynced and renamed. A merge
 *    reads at most as many files at once as the budget holds
 *    (tsagg__max_fanin); more runs are first merged in passes, so memory
 *    stays bounded for any span.
 * 4. The directory is fsynced and a manifest listing the new files, the new
 *    consumed position and the newest event is published. Until then
 *    nothing is visible; a crash leaves files no manifest lists, which the
 *    next run removes, and the next run reads the same log range again.
 *    Right after it, the head drops the events published (st->on_publish):
 *    the merges below take seconds with a backlog, and whoever touched the
 *    head first would otherwise pay for the prune.
 * 5. Days and months that are now sealed are merged into one file each
 *    (merge_spans.c), each merge published on its own.
 *
 * tsagg_rebuild (rebuild.c) runs the same compactor over a time range of
 * the whole log; tsagg_merge merges partition files only.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "abi_internal.h"
#include "compact_internal.h"
#include "fileio.h"
#include "retries.h"
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
void tsagg__rebuild_progress(compactor *c)
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

static void slot_free(span_slot *s)
{
    if (!s)
        return;
    tsagg__spanbuf_free(&s->buf);
    for (size_t i = 0; i < s->nruns; i++)
        free(s->runs[i]);
    free(s->runs);
    free(s);
}

static int slot_get(compactor *c, int64_t start, uint32_t hours, span_slot **out)
{
    if (c->last < c->nslots && c->slots[c->last]->buf.start == start &&
        c->slots[c->last]->hours == hours) {
        *out = c->slots[c->last];
        return 0;
    }
    for (size_t i = 0; i < c->nslots; i++) {
        if (c->slots[i]->buf.start == start && c->slots[i]->hours == hours) {
            c->last = i;
            *out = c->slots[i];
            return 0;
        }
    }
    if (c->nslots == c->slots_cap) {
        size_t cap = c->slots_cap ? c->slots_cap * 2 : 64;
        span_slot **p = realloc(c->slots, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        c->slots = p;
        c->slots_cap = cap;
    }
    span_slot *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    int rc = tsagg__spanbuf_init(&s->buf, start, c->ndims, c->nmeas);
    if (rc != 0) {
        free(s);
        return rc;
    }
    s->hours = hours;
    s->seq = c->next_seq++;
    c->bytes += tsagg__spanbuf_bytes(&s->buf);
    c->last = c->nslots;
    c->slots[c->nslots++] = s;
    *out = s;
    return 0;
}

/* The month of ts, remembered for the next row. */
static void month_of(compactor *c, int64_t ts, int64_t *start, uint32_t *hours)
{
    if (!c->month_hours || ts < c->month_start ||
        (uint64_t)ts - (uint64_t)c->month_start >=
            (uint64_t)c->month_hours * TSAGG__SPAN_HOUR_US)
        tsagg__tier_span(ts, TSAGG__TIER_MONTH, &c->month_start, &c->month_hours);
    *start = c->month_start;
    *hours = c->month_hours;
}

static int add_event(compactor *c, const tsagg_event *ev)
{
    if (ev->ts > c->newest && !c->fixed_newest && tsagg__span_may_advance(ev->ts, c->now_us))
        c->newest = ev->ts;
    int64_t start;
    uint32_t hours;
    /* bulk.c: rows wait in their month's slot once the load is known to be
     * one of history, else an hour's in its day's */
    if (c->bulk > 1) {
        month_of(c, ev->ts, &start, &hours);
    } else {
        tsagg__span_place(ev->ts, c->newest, &start, &hours);
        if (c->bulk && hours == 1)
            tsagg__tier_span(ev->ts, TSAGG__TIER_DAY, &start, &hours);
    }
    span_slot *s;
    int rc = slot_get(c, start, hours, &s);
    if (rc != 0)
        return rc;
    uint32_t bit = (uint32_t)((hour_of(ev->ts) - start) / TSAGG__HOUR_US);
    s->hour_bits[bit / 64] |= UINT64_C(1) << (bit % 64);
    tsagg__spanbuf *h = &s->buf;
    size_t before = tsagg__spanbuf_bytes(h);
    rc = tsagg__rowconv_add(&c->conv, h, ev);
    c->bytes += tsagg__spanbuf_bytes(h) - before;
    return rc;
}

/* Move the rows of slot i into the slots the tier rule gives them, in the
 * order they came (bulk.c, for the spans a bulk load leaves unsealed). */
int tsagg__compactor_split(compactor *c, size_t i)
{
    span_slot *s = c->slots[i];
    memmove(c->slots + i, c->slots + i + 1, (c->nslots - i - 1) * sizeof *c->slots);
    c->nslots--;
    c->last = 0;
    c->bytes -= tsagg__spanbuf_bytes(&s->buf);
    const tsagg__spanbuf *from = &s->buf;
    int rc = s->nruns ? -EINVAL : 0; /* bulk loads spill sealed spans only */
    for (size_t r = 0; rc == 0 && r < from->n; r++) {
        tsagg__spanrow row = from->rows[r];
        span_slot *t;
        int64_t start;
        uint32_t hours;
        tsagg__span_place(row.ts, c->newest, &start, &hours);
        if ((rc = slot_get(c, start, hours, &t)) != 0)
            break;
        uint32_t bit = (uint32_t)((hour_of(row.ts) - start) / TSAGG__HOUR_US);
        t->hour_bits[bit / 64] |= UINT64_C(1) << (bit % 64);
        tsagg__spanbuf *h = &t->buf;
        size_t before = tsagg__spanbuf_bytes(h);
        tsagg__str e = tsagg__spanbuf_str(from, row.event);
        rc = tsagg__spanbuf_intern(h, e.ptr, e.len, &row.event);
        for (uint32_t d = 0; rc == 0 && d < c->ndims; d++) {
            tsagg__str v = tsagg__spanbuf_str(from, from->dims[r * c->ndims + d]);
            rc = tsagg__spanbuf_intern(h, v.ptr, v.len, &c->conv.dims[d]);
        }
        if (rc == 0)
            rc = tsagg__spanbuf_add(h, &row, c->conv.dims, from->meas + r * c->nmeas);
        c->bytes += tsagg__spanbuf_bytes(h) - before;
    }
    slot_free(s);
    return rc;
}

/* Sort a span's rows in memory and write them as a sorted run. */
static int spill_slot(compactor *c, span_slot *s, const char *path)
{
    tsagg_store *st = c->st;
    int rc = c->published ? tsagg__drop_published_retries(st, c->published, &s->buf,
                                                          &c->stats->duplicates)
                          : 0;
    if (rc == 0)
        rc = tsagg__spanbuf_sort(&s->buf);
    tsagg__merge_src *src = NULL;
    if (rc == 0)
        rc = tsagg__merge_src_mem(&s->buf, st->schema, &src);
    if (rc != 0)
        return rc;
    char detail[TSAGG_ERRMSG_MAX] = "";
    tsagg__merge_stats ms = {0};
    rc = tsagg__write_merged(st, &src, 1, path, s->buf.start, s->hours, 0, NULL, &ms, detail,
                             sizeof detail);
    c->stats->duplicates += ms.duplicates;
    return rc ? tsagg__fail(st, rc, "%s", detail[0] ? detail : tsagg_strerror(rc)) : 0;
}

/* Spill the largest spans as sorted runs until under half the budget. */
static int spill(compactor *c)
{
    while (c->bytes > c->o->memory_budget / 2) {
        span_slot *big = NULL;
        for (size_t i = 0; i < c->nslots; i++) {
            span_slot *s = c->slots[i];
            /* A bulk load splits the rows of a day still open into hours
             * at its end (bulk.c): they stay in memory. */
            if (c->bulk && !tsagg__span_sealed(s->buf.start, s->hours, c->newest))
                continue;
            if (!big || s->buf.n > big->buf.n)
                big = s;
        }
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
        size_t before = tsagg__spanbuf_bytes(&big->buf);
        int rc = spill_slot(c, big, path);
        if (rc != 0)
            return rc;
        /* Give the memory back, not just the rows. */
        int64_t start = big->buf.start;
        tsagg__spanbuf_free(&big->buf);
        rc = tsagg__spanbuf_init(&big->buf, start, c->ndims, c->nmeas);
        c->bytes = c->bytes - before + tsagg__spanbuf_bytes(&big->buf);
        c->stats->runs_spilled++;
        if (rc != 0)
            return rc;
    }
    return 0;
}

int tsagg__compactor_init(compactor *c, tsagg_store *st, const tsagg_compact_options *o,
                          tsagg_compact_stats *stats, int64_t newest)
{
    c->st = st;
    c->o = o;
    c->stats = stats;
    c->threads = o->threads ? o->threads : 1;
    c->newest = newest;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    c->now_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    c->ndims = (uint32_t)tsagg_schema_dimension_count(st->schema);
    c->nmeas = (uint32_t)tsagg_schema_measure_count(st->schema);
    c->next_run = 1;
    int rc = tsagg__rowconv_init(&c->conv, st->schema);
    if (rc != 0)
        return rc;
    return tsagg_store_rules(st, &c->rules);
}

void tsagg__compactor_free(compactor *c)
{
    for (size_t i = 0; i < c->nslots; i++) {
        for (size_t r = 0; r < c->slots[i]->nruns; r++)
            c->st->io->unlink(c->st->io->ctx, c->slots[i]->runs[r]);
        slot_free(c->slots[i]);
    }
    free(c->slots);
    tsagg__rowconv_free(&c->conv);
    tsagg_rules_free(c->rules);
    memset(c, 0, sizeof *c);
}

int tsagg__compactor_take(compactor *c, const tsagg_event *ev, uint64_t seq)
{
    tsagg_store *st = c->st;
    c->stats->events_read++;
    tsagg_event copy = *ev;
    int what = c->o->process
                   ? tsagg__event_process(st, c->rules, c->o->process, c->o->process_ctx, &copy,
                                          seq)
                   : tsagg__event_process(st, c->rules, st->opts.process, st->opts.process_ctx,
                                          &copy, seq);
    if (what < 0)
        return what;
    c->stats->events_dropped += what == TSAGG__EVENT_DROPPED;
    c->stats->events_unplaced += what == TSAGG__EVENT_UNPLACED;
    int keep = what == TSAGG__EVENT_KEEP;
    if (keep && c->ro && (copy.ts < c->ts_lo || copy.ts >= c->ts_hi)) {
        c->rs->events_moved++;
        keep = 0;
    }
    int rc = keep ? add_event(c, &copy) : 0;
    if (rc == 0 && c->bytes > c->o->memory_budget)
        rc = spill(c);
    return rc;
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
        *last = seq;
        if ((rc = tsagg__compactor_take(c, ev, seq)) != 0)
            break;
        if ((c->stats->events_read & ((1u << 20) - 1)) == 0)
            tsagg__rebuild_progress(c);
        if (c->o->max_events && c->stats->events_read >= c->o->max_events) {
            rc = 0;
            break;
        }
    }
    tsagg_log_reader_close(rd);
    return rc < 0 ? rc : 0;
}

int tsagg__compact_check_options(tsagg_store *st, const tsagg_compact_options *o)
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

/* Below this many events to compact, placing them by the newest so far is
 * as good: reading every segment's description costs more than it saves. */
#define HINT_MIN_EVENTS (1u << 16)

/*
 * The newest event ts of the log segments that end within [from, to] (by
 * their seal record, or the scan of the last one), events more than a day
 * ahead of the clock aside: where the newest-event mark will be once the
 * range is read. A load of history in time order would otherwise place
 * every event in its hour, since each is the newest so far, and only the
 * write phase would gather the hours of a month, from hundreds of slots.
 * TSAGG__NEWEST_NONE when there is none, or on any error (it is a hint).
 */
static int64_t newest_hint(compactor *c, uint64_t from, uint64_t to)
{
    if (to < from || to - from + 1 < HINT_MIN_EVENTS)
        return TSAGG__NEWEST_NONE;
    int n = tsagg_log_segments(c->st, NULL, 0);
    tsagg_segment_info *segs = n > 0 ? calloc((size_t)n, sizeof *segs) : NULL;
    int64_t hint = TSAGG__NEWEST_NONE;
    if (segs) {
        segs[0].struct_size = sizeof *segs;
        int m = tsagg_log_segments(c->st, segs, (size_t)n);
        for (int i = 0; i < m && i < n; i++) {
            const tsagg_segment_info *g = &segs[i];
            /* Events before `from` were compacted already: theirs count. */
            if (g->last_seq < from || g->last_seq > to || g->last_seq < g->first_seq)
                continue;
            if (g->max_ts > hint && tsagg__span_may_advance(g->max_ts, c->now_us))
                hint = g->max_ts;
        }
    }
    free(segs); /* a failure is no failure of the compaction: the read reports it */
    return hint;
}

int tsagg__compact_locked(tsagg_store *st, const tsagg_compact_options *o,
                          tsagg_compact_stats *stats)
{
    tsagg__snapshot *snap;
    tsagg__manifest *next;
    int rc = tsagg__edit_begin(st, &snap, &next);
    if (rc != 0)
        return rc;
    tsagg__snapshot_release(st, snap); /* the copy is all compaction reads */

    compactor c = {0};
    rc = tsagg__compactor_init(&c, st, o, stats, next->newest_ts);
    c.published = next; /* as published: the new files join it only as they are written */
    uint64_t target = tsagg_durable_seq(st), last = next->consumed_seq;
    uint64_t upto = o->max_events && target - next->consumed_seq > o->max_events
                        ? next->consumed_seq + o->max_events
                        : target;
    int64_t hint = rc == 0 ? newest_hint(&c, next->consumed_seq + 1, upto) : TSAGG__NEWEST_NONE;
    if (hint > c.newest)
        c.newest = hint;
    if (rc == 0 && target > next->consumed_seq)
        rc = tsagg__compactor_read_log(&c, next->consumed_seq + 1, target, &last);
    if (rc == 0)
        rc = tsagg__compactor_write_spans(&c, next, 0, 0);
    char dir[TSAGG_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/parts", st->path);
    if (rc == 0 && c.nslots)
        rc = tsagg__parts_dir_sync(st, dir);
    if (rc == 0 && last != next->consumed_seq) {
        next->consumed_seq = last;
        next->newest_ts = c.newest;
        rc = tsagg__catalog_publish(st, next);
        if (rc == 0 && st->on_publish)
            st->on_publish(st);
    }
    stats->consumed_seq = rc == 0 ? last : stats->consumed_seq;
    tsagg__compactor_free(&c);
    tsagg__manifest_free(next);
    /* Days and months sealed now (or by a run a crash stopped) become one
     * file each. */
    if (rc == 0)
        rc = tsagg__merge_spans_locked(st, o->memory_budget, TSAGG__MERGE_SEALED, stats);
    return rc;
}

/*
 * After a failed compaction, merge or rebuild: remove what it wrote
 * (partition files no manifest lists, sorted runs, a manifest's temporary file), so
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
/* What run_exclusive runs. */
typedef struct exclusive_job {
    int merge;      /* 0: compaction; else a merge of spans, TSAGG__MERGE_* + 1 */
    uint32_t fanin; /* TSAGG__MERGE_RECENT */
    int64_t now_us;
} exclusive_job;

static int run_exclusive(tsagg_store *st, const tsagg_compact_options *opts,
                         tsagg_compact_stats *stats, const exclusive_job *job)
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
    int rc = tsagg__compact_check_options(st, opts);
    if (rc == 0) {
        pthread_mutex_lock(&st->compact_mu);
        if (!job->merge)
            rc = tsagg__compact_locked(st, opts, &full);
        else if (job->merge - 1 == TSAGG__MERGE_RECENT)
            rc = tsagg__merge_recent_locked(st, opts->memory_budget, job->fanin, job->now_us,
                                            &full);
        else
            rc = tsagg__merge_spans_locked(st, opts->memory_budget, job->merge - 1, &full);
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
    return run_exclusive(st, opts, stats, &(exclusive_job){0, 0, 0});
}

int tsagg_merge(tsagg_store *st, const tsagg_compact_options *opts, tsagg_compact_stats *stats)
{
    return run_exclusive(st, opts, stats, &(exclusive_job){TSAGG__MERGE_ALL + 1, 0, 0});
}

int tsagg__merge_recent(tsagg_store *st, const tsagg_compact_options *opts, uint32_t fanin,
                        int64_t now_us, tsagg_compact_stats *stats)
{
    return run_exclusive(st, opts, stats,
                         &(exclusive_job){TSAGG__MERGE_RECENT + 1, fanin, now_us});
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
