/*
 * write_spans.c - the write phase of compaction and rebuild: the buffered
 * spans into one new partition file each.
 *
 * A slot was made for the span the tier rule gave its first event when it
 * came; the newest event may have moved on since and sealed its day or
 * month, so once everything is read each slot joins the span the rule
 * gives it now, and the slots of one span (in the order they were made, so
 * that equal rows keep their order of arrival) are merged into its file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compact_internal.h"
#include "retries.h"

void tsagg__count_file(tsagg_compact_stats *stats, uint32_t hours, int from_log)
{
    __atomic_fetch_add(&stats->files_written, 1, __ATOMIC_RELAXED);
    if (!from_log)
        return;
    uint64_t *by_tier = hours == 1 ? &stats->hour_files
                        : hours == 24 ? &stats->day_files
                                      : &stats->month_files;
    __atomic_fetch_add(by_tier, 1, __ATOMIC_RELAXED);
}

/* One span of the write phase: slots [first, first + n) of the sorted
 * slots. */
typedef struct span_job {
    size_t first, n;
    uint64_t file_id; /* 0: the span has nothing to write */
    tsagg__part_info info;
    int rc;
} span_job;

/* The write phase: the caller's thread and c->threads - 1 helpers each take
 * the next span nobody has taken. Spans are independent (their own rows,
 * runs, writer and file); what they share is counted atomically. */
typedef struct write_pool {
    compactor *c;
    span_job *jobs;
    size_t njobs;
    size_t next; /* atomic: the next span to take */
    int failed;  /* atomic: stop taking spans */
} write_pool;

/* Orders slots by the span they are written in, then by age. */
static int slot_cmp(const void *a, const void *b)
{
    const span_slot *x = *(span_slot *const *)a, *y = *(span_slot *const *)b;
    if (x->tstart != y->tstart)
        return x->tstart < y->tstart ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Distinct hours with events among the slots of a job. */
static uint64_t job_hours(compactor *c, const span_job *job)
{
    uint64_t bits[SPAN_HOUR_WORDS] = {0}, n = 0;
    for (size_t i = job->first; i < job->first + job->n; i++) {
        const span_slot *s = c->slots[i];
        uint32_t off = (uint32_t)((s->buf.start - s->tstart) / TSAGG__HOUR_US);
        for (uint32_t h = 0; h < s->hours; h++)
            if (s->hour_bits[h / 64] >> (h % 64) & 1)
                bits[(off + h) / 64] |= UINT64_C(1) << ((off + h) % 64);
    }
    for (size_t w = 0; w < SPAN_HOUR_WORDS; w++)
        n += (uint64_t)__builtin_popcountll(bits[w]);
    return n;
}

/* Merge the slots of a job (their rows in memory and their runs) into the
 * file of its span. */
static int write_span(compactor *c, span_job *job, uint64_t *dups)
{
    tsagg_store *st = c->st;
    span_slot **slots = c->slots + job->first;
    int64_t start = slots[0]->tstart;
    uint32_t hours = slots[0]->thours;
    size_t nruns = 0, nmem = 0;
    for (size_t i = 0; i < job->n; i++) {
        nruns += slots[i]->nruns;
        nmem += slots[i]->buf.n > 0;
    }
    /* The runs pass to a file set, which removes them once merged. */
    tsagg__file_set fs = {calloc(nruns + 1, sizeof(char *)), calloc(nruns + 1, 1), 0};
    int rc = fs.paths && fs.owned ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < job->n; i++) {
        for (size_t r = 0; r < slots[i]->nruns; r++) {
            fs.paths[fs.n] = slots[i]->runs[r];
            fs.owned[fs.n++] = 1;
        }
        free(slots[i]->runs);
        slots[i]->runs = NULL;
        slots[i]->nruns = 0;
    }
    /* Rows in memory cost no read buffers; the runs are what the budget
     * bounds. */
    size_t fanin = tsagg__max_fanin(st, c->o->memory_budget / c->threads);
    if (rc == 0 && fs.n > 0)
        rc = tsagg__reduce_files(st, start, hours, &fs, fanin - 1, fanin, &c->next_run, dups);
    tsagg__merge_src **srcs = rc == 0 ? calloc(nmem + fs.n + 1, sizeof *srcs) : NULL;
    if (rc == 0 && !srcs)
        rc = -ENOMEM;
    size_t nsrc = 0;
    char detail[TSAGG_ERRMSG_MAX] = "";
    for (size_t i = 0; rc == 0 && i < job->n; i++) {
        if (slots[i]->buf.n == 0)
            continue;
        rc = tsagg__spanbuf_sort(&slots[i]->buf);
        if (rc == 0)
            rc = tsagg__merge_src_mem(&slots[i]->buf, st->schema, &srcs[nsrc]);
        if (rc == 0)
            nsrc++;
    }
    if (rc == 0 && fs.n > 0) {
        rc = tsagg__open_sources(st, fs.paths, fs.n, srcs + nsrc, detail, sizeof detail);
        if (rc == 0)
            nsrc += fs.n;
    }
    char path[TSAGG_PATH_MAX + 64];
    tsagg__part_ref ref = {.start = start, .hours = hours, .file_id = job->file_id};
    tsagg__part_file_path(st, &ref, path, sizeof path);
    tsagg__merge_stats ms = {0};
    if (rc == 0) {
        rc = tsagg__write_merged(st, srcs, nsrc, path, start, hours, job->file_id, &job->info,
                                 &ms, detail, sizeof detail);
    } else {
        for (size_t i = 0; i < nsrc; i++)
            tsagg__merge_src_free(srcs[i]);
    }
    free(srcs);
    tsagg__file_set_free(st, &fs, 1);
    /* The rows are on disk: give their memory back for the spans left. */
    for (size_t i = 0; i < job->n; i++) {
        int64_t s = slots[i]->buf.start;
        tsagg__spanbuf_free(&slots[i]->buf);
        tsagg__spanbuf_init(&slots[i]->buf, s, c->ndims, c->nmeas);
    }
    if (rc != 0)
        return tsagg__fail(st, rc, "%s", detail[0] ? detail : tsagg_strerror(rc));
    *dups += ms.duplicates;
    return 0;
}

static void write_loop(write_pool *p, int caller)
{
    compactor *c = p->c;
    for (;;) {
        if (__atomic_load_n(&p->failed, __ATOMIC_ACQUIRE))
            return;
        size_t i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED);
        if (i >= p->njobs)
            return;
        span_job *job = &p->jobs[i];
        if (job->file_id == 0)
            continue;
        uint64_t dups = 0;
        job->rc = write_span(c, job, &dups);
        if (job->rc != 0) {
            __atomic_store_n(&p->failed, 1, __ATOMIC_RELEASE);
            continue;
        }
        tsagg_compact_stats *st = c->stats;
        __atomic_fetch_add(&st->duplicates, dups, __ATOMIC_RELAXED);
        __atomic_fetch_add(&st->rows_written, job->info.rows, __ATOMIC_RELAXED);
        __atomic_fetch_add(&st->bytes_written, job->info.bytes, __ATOMIC_RELAXED);
        __atomic_fetch_add(&st->hours, job_hours(c, job), __ATOMIC_RELAXED);
        tsagg__count_file(st, c->slots[job->first]->thours, 1);
        if (caller)
            tsagg__rebuild_progress(c); /* the callback runs in the caller's thread */
    }
}

static void *write_helper(void *arg)
{
    write_loop(arg, 0);
    return NULL;
}

/* The generation a new file of a span gets: that of the files it joins. */
static uint32_t span_generation(const tsagg__manifest *m, int64_t start, uint32_t hours)
{
    uint32_t g = 0;
    int64_t end = start + (int64_t)hours * TSAGG__HOUR_US;
    for (size_t k = 0; k < m->nparts; k++) {
        const tsagg__part_ref *r = &m->parts[k];
        if (r->start < end && r->start + (int64_t)r->hours * TSAGG__HOUR_US > start &&
            r->generation > g)
            g = r->generation;
    }
    return g ? g : 1;
}

int tsagg__compactor_write_spans(compactor *c, tsagg__manifest *next, uint32_t gen,
                                 uint32_t level)
{
    if (c->nslots == 0)
        return 0;
    for (size_t i = 0; i < c->nslots; i++) {
        span_slot *s = c->slots[i];
        tsagg__span_target(s->buf.start, s->hours, c->newest, &s->tstart, &s->thours);
    }
    /* Events a file of an earlier run holds already (retries.h). */
    for (size_t i = 0; c->published && i < c->nslots; i++) {
        int rc = tsagg__drop_published_retries(c->st, c->published, &c->slots[i]->buf,
                                               &c->stats->duplicates);
        if (rc != 0)
            return rc;
    }
    qsort(c->slots, c->nslots, sizeof *c->slots, slot_cmp);
    c->last = 0;
    write_pool p = {.c = c, .jobs = calloc(c->nslots, sizeof(span_job))};
    if (!p.jobs)
        return -ENOMEM;
    for (size_t i = 0; i < c->nslots;) {
        size_t j = i + 1;
        while (j < c->nslots && c->slots[j]->tstart == c->slots[i]->tstart)
            j++;
        span_job *job = &p.jobs[p.njobs++];
        job->first = i;
        job->n = j - i;
        /* File ids in span order, whichever thread writes them. */
        for (size_t k = i; k < j && !job->file_id; k++)
            if (c->slots[k]->buf.n || c->slots[k]->nruns)
                job->file_id = next->next_file_id++;
        i = j;
    }
    pthread_t helpers[TSAGG_COMPACT_THREADS_MAX];
    uint32_t started = 0;
    while (started + 1 < c->threads &&
           pthread_create(&helpers[started], NULL, write_helper, &p) == 0)
        started++;
    write_loop(&p, 1);
    for (uint32_t t = 0; t < started; t++)
        pthread_join(helpers[t], NULL);

    int rc = 0;
    for (size_t i = 0; rc == 0 && i < p.njobs; i++)
        if (p.jobs[i].file_id && p.jobs[i].rc)
            rc = p.jobs[i].rc;
    for (size_t i = 0; rc == 0 && i < p.njobs; i++) {
        const span_job *job = &p.jobs[i];
        if (!job->file_id)
            continue;
        const span_slot *s = c->slots[job->first];
        tsagg__part_ref ref = {.start = s->tstart, .hours = s->thours, .file_id = job->file_id,
                               .rows = job->info.rows, .bytes = job->info.bytes,
                               .generation = gen ? gen : span_generation(next, s->tstart,
                                                                         s->thours),
                               .level = level};
        rc = tsagg__manifest_add(next, &ref);
    }
    c->bytes = 0;
    free(p.jobs);
    return rc;
}
