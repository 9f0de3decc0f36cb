/*
 * maintain.c - the maintenance step (tsagg_maintain) and the background
 * thread that calls it (tsagg_options.maintenance), with the handle's
 * totals and failure state (tsagg_maintenance_status). What a step does
 * and why there are both forms: include/tsagg_maintain.h.
 *
 * The tail's age is measured from when a step first saw it non-empty (the
 * log keeps no append times), so it is exact to one interval.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __linux__
#include <sys/resource.h>
#include <unistd.h>
#endif

#include "abi_internal.h"
#include "compact_internal.h" /* tsagg__merge_recent */
#include "head.h"
#include "log_internal.h"
#include "maintain_internal.h"
#include "manifest.h"
#include "partfile.h" /* TSAGG__HOUR_US */
#include "retention.h"
#include "tsagg_maintain.h"

#define DAY_US (INT64_C(86400) * 1000000)
#define BACKOFF_MAX_MS (5u * 60 * 1000)
#define INTERVAL_MIN_MS 10

struct tsagg__maint {
    pthread_mutex_t step_mu; /* one step at a time */
    pthread_mutex_t mu;      /* what follows */
    pthread_cond_t cond;     /* stop, wake */
    tsagg_maintain_stats totals;
    int64_t tail_since_ns;   /* monotonic; when the tail was first seen non-empty, 0 */
    tsagg_maintain_options opts; /* the thread's */
    pthread_t thread;
    int started, stop;
    int ready, start_rc;     /* the thread's start: set up, or why not */
    atomic_int wake;         /* a step is wanted now (tsagg__maint_wake) */
};

void tsagg_maintain_options_init(tsagg_maintain_options *o)
{
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->compact_tail_events = 1000000;
    o->compact_tail_bytes = 64u << 20;
    o->compact_tail_age_ms = 60000;
    o->interval_ms = 1000;
    o->memory_budget = 256u << 20;
    o->threads = 1;
    o->merge_span_files = 16;
}

static int64_t clock_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int check_options(tsagg_store *st, const tsagg_maintain_options *o)
{
    if (o->struct_size != sizeof *o)
        return tsagg__fail(st, TSAGG_EARG, "tsagg_maintain_options.struct_size %u: not set by "
                           "tsagg_maintain_options_init", (unsigned)o->struct_size);
    if ((o->flags & ~TSAGG_MAINTAIN_NOW) || o->reserved2)
        return tsagg__fail(st, TSAGG_EARG,
                           "tsagg_maintain_options: unknown flags, or reserved2 not 0");
#ifdef __linux__
    if (o->nice < 0 || o->nice > 19)
        return tsagg__fail(st, TSAGG_EARG, "tsagg_maintain_options.nice %d: 0 to 19",
                           (int)o->nice);
#else
    if (o->nice != 0)
        return tsagg__fail(st, TSAGG_EARG, "tsagg_maintain_options.nice %d: only 0 here "
                           "(a thread's own nice value is Linux's)", (int)o->nice);
#endif
    if (o->interval_ms < INTERVAL_MIN_MS || o->memory_budget < (1u << 20) ||
        o->threads > TSAGG_COMPACT_THREADS_MAX || o->archive > 1 || o->archive_level < 0 ||
        o->retention_days_parts > 3660000 || o->retention_days_log > 3660000)
        return tsagg__fail(st, TSAGG_EARG,
                           "tsagg_maintain_options out of range (interval_ms >= %d, "
                           "memory_budget >= 1 MiB, threads <= %d, archive 0 or 1, "
                           "archive_level >= 0, retention days up to 3660000)",
                           INTERVAL_MIN_MS, TSAGG_COMPACT_THREADS_MAX);
    return 0;
}

/* The durable tail: events and their bytes of log. */
static int measure_tail(tsagg_store *st, tsagg_maintain_stats *s)
{
    uint64_t compacted = 0, durable = tsagg_durable_seq(st);
    int rc = tsagg_compacted_seq(st, &compacted);
    s->tail_events = durable > compacted ? durable - compacted : 0;
    s->tail_bytes = 0;
    if (rc == 0 && s->tail_events)
        rc = tsagg__log_tail_bytes(st, compacted, &s->tail_bytes);
    return rc;
}

/*
 * Whether tsagg_merge() is due: a span with several files that ended an
 * hour ago or more (late events: merged once, for good), or a span with
 * merge_span_files files or more (the hour still being written gets a file
 * per compaction; merging it at every step would rewrite it each time).
 */
static int merge_due(tsagg_store *st, uint32_t max_files, int64_t now_us, int *due)
{
    tsagg__snapshot *snap;
    int rc = tsagg__snapshot_acquire(st, &snap);
    if (rc != 0)
        return rc;
    const tsagg__manifest *m = tsagg__snapshot_manifest(snap);
    *due = 0;
    for (size_t i = 0, n = 1; i < m->nparts && !*due; i++, n++) {
        const tsagg__part_ref *r = &m->parts[i];
        if (i + 1 < m->nparts && m->parts[i + 1].start == r->start &&
            m->parts[i + 1].hours == r->hours)
            continue; /* n counts the span's files up to its last */
        int64_t end = r->start + (int64_t)r->hours * TSAGG__HOUR_US;
        *due = n > 1 && ((max_files && n >= max_files) || end + TSAGG__HOUR_US <= now_us);
        n = 0;
    }
    tsagg__snapshot_release(st, snap);
    return 0;
}

static void add_compaction(tsagg_maintain_stats *s, const tsagg_compact_stats *cs)
{
    s->events_compacted += cs->events_read;
    s->files_written += cs->files_written;
    s->files_merged += cs->files_removed;
}

static void compact_options_of(const tsagg_maintain_options *o, tsagg_compact_options *co)
{
    tsagg_compact_options_init(co);
    co->memory_budget = o->memory_budget;
    co->threads = o->threads;
    co->process = o->process;
    co->process_ctx = o->process_ctx;
}

/* The work of one step, under step_mu. */
static int step_locked(tsagg_store *st, struct tsagg__maint *m, const tsagg_maintain_options *o,
                       tsagg_maintain_stats *s)
{
    int rc = measure_tail(st, s);
    if (rc != 0)
        return rc;
    int64_t now_ns = clock_us(CLOCK_MONOTONIC) * 1000;
    pthread_mutex_lock(&m->mu);
    if (!s->tail_events)
        m->tail_since_ns = 0;
    else if (!m->tail_since_ns)
        m->tail_since_ns = now_ns;
    int64_t waited_ms = m->tail_since_ns ? (now_ns - m->tail_since_ns) / 1000000 : 0;
    pthread_mutex_unlock(&m->mu);
    int due = s->tail_events &&
              ((o->flags & TSAGG_MAINTAIN_NOW) ||
               (o->compact_tail_events && s->tail_events >= o->compact_tail_events) ||
               (o->compact_tail_bytes && s->tail_bytes >= o->compact_tail_bytes) ||
               (o->compact_tail_age_ms && waited_ms >= (int64_t)o->compact_tail_age_ms) ||
               tsagg__head_wants_compaction(st));
    tsagg_compact_options co;
    compact_options_of(o, &co);
    if (due) {
        tsagg_compact_stats cs = {.struct_size = sizeof cs};
        rc = tsagg_compact(st, &co, &cs);
        add_compaction(s, &cs);
        if (rc != 0)
            return rc;
        s->compactions++;
        /* The compaction pruned the head as it published (st->on_publish). */
        pthread_mutex_lock(&m->mu);
        m->tail_since_ns = 0; /* what is left (appended meanwhile) is new */
        pthread_mutex_unlock(&m->mu);
    }
    int64_t now_us = clock_us(CLOCK_REALTIME);
    int late = 0;
    rc = merge_due(st, o->merge_span_files, now_us, &late);
    if (rc == 0 && late) {
        tsagg_compact_stats ms = {.struct_size = sizeof ms};
        rc = tsagg__merge_recent(st, &co, o->merge_span_files, now_us, &ms);
        add_compaction(s, &ms);
    }
    if (rc == 0 && o->retention_days_parts)
        rc = tsagg__retention_parts(st, now_us - (int64_t)o->retention_days_parts * DAY_US,
                                    &s->partitions_dropped, &s->rows_dropped);
    unsigned n = 0;
    if (rc == 0 && o->retention_days_log) {
        rc = tsagg__retention_log(st, now_us - (int64_t)o->retention_days_log * DAY_US, &n,
                                  &s->log_start_seq);
        s->segments_dropped = n;
    }
    if (rc == 0 && o->archive) {
        n = 0;
        rc = tsagg_log_archive(st, o->archive_level, &n);
        s->segments_archived = n;
    }
    return rc ? rc : measure_tail(st, s);
}

/* Add a step's figures to the totals and record how it ended. */
static void record(struct tsagg__maint *m, const tsagg_maintain_stats *s, int rc,
                   const char *msg)
{
    tsagg_maintain_stats *t = &m->totals;
    pthread_mutex_lock(&m->mu);
    t->steps++;
    t->compactions += s->compactions;
    t->events_compacted += s->events_compacted;
    t->files_written += s->files_written;
    t->files_merged += s->files_merged;
    t->partitions_dropped += s->partitions_dropped;
    t->rows_dropped += s->rows_dropped;
    t->segments_archived += s->segments_archived;
    t->segments_dropped += s->segments_dropped;
    t->cpu_us += s->cpu_us;
    t->wall_us += s->wall_us;
    t->tail_events = s->tail_events;
    t->tail_bytes = s->tail_bytes;
    if (s->log_start_seq)
        t->log_start_seq = s->log_start_seq;
    if (rc == 0) {
        t->consecutive_failures = 0;
        t->last_success_us = clock_us(CLOCK_REALTIME);
    } else {
        t->failures++;
        t->consecutive_failures++;
        t->last_error = rc;
        t->last_error_us = clock_us(CLOCK_REALTIME);
        snprintf(t->last_error_msg, sizeof t->last_error_msg, "%.255s", msg);
    }
    pthread_mutex_unlock(&m->mu);
}

/* One step with its figures in *s (zeroed first). */
static int run_step(tsagg_store *st, const tsagg_maintain_options *o, tsagg_maintain_stats *s)
{
    struct tsagg__maint *m = st->maint;
    memset(s, 0, sizeof *s);
    char msg[TSAGG_ERRMSG_MAX];
    tsagg__errsink sink;
    tsagg__errsink_begin(st, &sink, msg, sizeof msg);
    pthread_mutex_lock(&m->step_mu);
    int64_t wall0 = clock_us(CLOCK_MONOTONIC), cpu0 = clock_us(CLOCK_THREAD_CPUTIME_ID);
    int rc = step_locked(st, m, o, s);
    s->cpu_us = (uint64_t)(clock_us(CLOCK_THREAD_CPUTIME_ID) - cpu0);
    s->wall_us = (uint64_t)(clock_us(CLOCK_MONOTONIC) - wall0);
    rc = tsagg__errsink_end(st, &sink, rc, "maintenance");
    s->steps = 1;
    /* Still under step_mu: a status read after a later step includes
     * this one's figures. */
    record(m, s, rc, msg);
    pthread_mutex_unlock(&m->step_mu);
    if (rc != 0) {
        s->failures = 1;
        s->consecutive_failures = 1;
        s->last_error = rc;
        s->last_error_us = clock_us(CLOCK_REALTIME);
        snprintf(s->last_error_msg, sizeof s->last_error_msg, "%.255s", msg);
    } else {
        s->last_success_us = clock_us(CLOCK_REALTIME);
    }
    return rc;
}

static int out_size(tsagg_store *st, const tsagg_maintain_stats *stats, size_t *out)
{
    /* The first release's struct ended before head_bytes. */
    *out = stats ? tsagg__out_size(stats->struct_size,
                                   offsetof(tsagg_maintain_stats, head_bytes), sizeof *stats)
                 : 0;
    if (stats && !*out)
        return tsagg__fail(st, TSAGG_EARG, "tsagg_maintain_stats.struct_size %u out of range",
                           (unsigned)stats->struct_size);
    return 0;
}

int tsagg_maintain(tsagg_store *st, const tsagg_maintain_options *opts,
                   tsagg_maintain_stats *stats)
{
    if (!st)
        return TSAGG_EARG;
    size_t out;
    int rc = out_size(st, stats, &out);
    if (rc != 0)
        return rc;
    if (!st->writer || !st->maint)
        return tsagg__fail(st, TSAGG_EREADONLY, "maintenance needs a writable store");
    tsagg_maintain_options defaults;
    if (!opts) {
        tsagg_maintain_options_init(&defaults);
        opts = &defaults;
    }
    rc = check_options(st, opts);
    if (rc != 0)
        return rc;
    tsagg_maintain_stats s;
    rc = run_step(st, opts, &s);
    s.running = st->maint->started;
    s.head_bytes = tsagg__head_bytes(st);
    s.head_max_bytes = st->opts.head_max_bytes;
    if (stats)
        TSAGG__OUT_COPY(stats, &s, out);
    return rc;
}

int tsagg_maintenance_status(tsagg_store *st, tsagg_maintain_stats *stats)
{
    if (!st || !stats)
        return TSAGG_EARG;
    size_t out;
    int rc = out_size(st, stats, &out);
    if (rc != 0)
        return rc;
    tsagg_maintain_stats s = {0};
    struct tsagg__maint *m = st->maint;
    if (m) {
        pthread_mutex_lock(&m->mu);
        s = m->totals;
        s.running = m->started;
        pthread_mutex_unlock(&m->mu);
    }
    s.head_bytes = tsagg__head_bytes(st);
    s.head_max_bytes = st->opts.head_max_bytes;
    TSAGG__OUT_COPY(stats, &s, out);
    return 0;
}

/* ---- the background thread ------------------------------------------------- */

/* Wait ms or until stopped, or woken when wakeable; 1 when stopped.
 * Under m->mu. */
static int wait_or_stop(struct tsagg__maint *m, uint64_t ms, int wakeable)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (!m->stop && !(wakeable && atomic_load(&m->wake)) &&
           pthread_cond_timedwait(&m->cond, &m->mu, &ts) != ETIMEDOUT)
        ;
    return m->stop;
}

/* The calling thread's nice value raised by `by`: on Linux a thread has
 * its own, and the threads it starts inherit it. */
static int lower_priority(int32_t by)
{
#ifdef __linux__
    if (by == 0)
        return 0;
    id_t self = (id_t)gettid();
    errno = 0;
    int now = getpriority(PRIO_PROCESS, self);
    if (now == -1 && errno != 0)
        return -errno;
    if (setpriority(PRIO_PROCESS, self, now + by > 19 ? 19 : now + by) != 0)
        return -errno;
#else
    (void)by;
#endif
    return 0;
}

static void *maintenance_thread(void *arg)
{
    tsagg_store *st = arg;
    struct tsagg__maint *m = st->maint;
    uint64_t wait = m->opts.interval_ms;
    int failed = 0;
    int start_rc = lower_priority(m->opts.nice);
    pthread_mutex_lock(&m->mu);
    m->ready = 1;
    m->start_rc = start_rc;
    pthread_cond_broadcast(&m->cond);
    if (start_rc != 0) {
        pthread_mutex_unlock(&m->mu);
        return NULL;
    }
    /* A wake does not cut a backoff short: appends past the head's bound
     * would otherwise retry a failing step at their own pace. */
    while (!wait_or_stop(m, wait, !failed)) {
        /* Cleared before the step: appends during it wake the next one. */
        atomic_store(&m->wake, 0);
        pthread_mutex_unlock(&m->mu);
        tsagg_maintain_stats s;
        int rc = run_step(st, &m->opts, &s);
        pthread_mutex_lock(&m->mu);
        /* Retried with backoff: the interval doubled per failure in a row. */
        wait = m->opts.interval_ms;
        failed = rc != 0;
        for (uint32_t i = 0; rc != 0 && i < m->totals.consecutive_failures && wait < BACKOFF_MAX_MS;
             i++)
            wait *= 2;
        if (wait > BACKOFF_MAX_MS)
            wait = BACKOFF_MAX_MS;
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

int tsagg__maint_open(tsagg_store *st, const tsagg_maintain_options *opts)
{
    struct tsagg__maint *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    pthread_mutex_init(&m->step_mu, NULL);
    pthread_mutex_init(&m->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cond, &ca);
    pthread_condattr_destroy(&ca);
    st->maint = m;
    if (!opts)
        return 0;
    int rc = check_options(st, opts);
    if (rc == 0 && (opts->flags & TSAGG_MAINTAIN_NOW))
        rc = tsagg__fail(st, TSAGG_EARG, "TSAGG_MAINTAIN_NOW is for tsagg_maintain(), not the "
                                         "background thread");
    if (rc != 0)
        return rc;
    m->opts = *opts;
    rc = -pthread_create(&m->thread, NULL, maintenance_thread, st);
    if (rc != 0)
        return tsagg__fail(st, rc, "cannot start the maintenance thread: %s", tsagg_strerror(rc));
    pthread_mutex_lock(&m->mu);
    while (!m->ready)
        pthread_cond_wait(&m->cond, &m->mu);
    rc = m->start_rc;
    pthread_mutex_unlock(&m->mu);
    if (rc != 0) {
        pthread_join(m->thread, NULL);
        return tsagg__fail(st, rc, "cannot lower the maintenance thread's priority by %d: %s",
                           (int)opts->nice, tsagg_strerror(rc));
    }
    m->started = 1;
    return 0;
}

int tsagg__maint_running(tsagg_store *st)
{
    return st->maint && st->maint->started;
}

void tsagg__maint_wake(tsagg_store *st)
{
    struct tsagg__maint *m = st->maint;
    if (!m || !m->started || atomic_exchange(&m->wake, 1))
        return;
    /* The flag is set before the lock is taken: the thread, which reads it
     * under the lock before waiting, either sees it or gets the signal. */
    pthread_mutex_lock(&m->mu);
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->mu);
}

void tsagg__maint_compact_options(tsagg_store *st, tsagg_compact_options *co)
{
    compact_options_of(&st->maint->opts, co);
}

void tsagg__maint_close(tsagg_store *st)
{
    struct tsagg__maint *m = st->maint;
    if (!m)
        return;
    if (m->started) {
        pthread_mutex_lock(&m->mu);
        m->stop = 1;
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->mu);
        pthread_join(m->thread, NULL);
    }
    pthread_mutex_destroy(&m->step_mu);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cond);
    free(m);
    st->maint = NULL;
}
