/* maintenance.c - see maintenance.h. */
#include "maintenance.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

#include "metrics.h"

#define CHECK_EVERY_MS 500
#define REPAIRS_MAX 64
#define HOUR_US INT64_C(3600000000)
#define COMPACT_BUDGET (64u << 20) /* bytes; the server shares the machine */


struct maintenance {
    server *srv;
    pthread_t thread;
    int stop;
    pthread_mutex_t lock;      /* stop, cond, repairs */
    pthread_cond_t cond;
    pthread_mutex_t pass_lock; /* one rebuild at a time */
    tsagg_maintain_stats seen; /* the library's status, as last logged */
    int64_t repairs[REPAIRS_MAX]; /* hours to rebuild, under lock */
    size_t nrepairs;
};

void maintenance_options(const server_config *cfg, tsagg_maintain_options *mo)
{
    tsagg_maintain_options_init(mo);
    mo->interval_ms = CHECK_EVERY_MS;
    mo->compact_tail_events = cfg->compact_events;
    mo->compact_tail_age_ms = cfg->compact_age_s * 1000u;
    mo->memory_budget = COMPACT_BUDGET;
    mo->archive = 1;
    mo->retention_days_parts = cfg->retention_days;
    mo->retention_days_log = cfg->log_retention_days;
    mo->nice = cfg->maintenance_nice;
}

void maintenance_run(maintenance *m, maintenance_stats *st)
{
    server *srv = m->srv;
    memset(st, 0, sizeof *st);
    tsagg_maintain_options mo;
    maintenance_options(&srv->cfg, &mo);
    mo.flags = TSAGG_MAINTAIN_NOW;
    st->step.struct_size = sizeof st->step;
    st->rc = tsagg_maintain(srv->store, &mo, &st->step);
    if (st->rc != 0)
        server_log("maintenance on demand failed: %s: %s", tsagg_strerror(st->rc),
                   st->step.last_error_msg);
}

/* Say in the log what the library's maintenance did since the last look:
 * work done, a failure (once per new one), a recovery. */
static void log_status(maintenance *m)
{
    tsagg_maintain_stats s = {.struct_size = sizeof s};
    if (tsagg_maintenance_status(m->srv->store, &s) != 0)
        return;
    tsagg_maintain_stats *o = &m->seen;
    if (s.failures > o->failures)
        server_log("maintenance failed (%u in a row, retried with backoff): %s: %s",
                   s.consecutive_failures, tsagg_strerror(s.last_error), s.last_error_msg);
    else if (o->consecutive_failures && !s.consecutive_failures)
        server_log("maintenance works again after %u failures", o->consecutive_failures);
    if (s.events_compacted > o->events_compacted || s.files_merged > o->files_merged ||
        s.partitions_dropped > o->partitions_dropped || s.segments_dropped > o->segments_dropped ||
        s.segments_archived > o->segments_archived)
        server_log("maintenance: compacted %llu events, merged %llu files, archived %llu log "
                   "segments, dropped %llu partition files and %llu log segments past "
                   "retention; tail %llu events",
                   (unsigned long long)(s.events_compacted - o->events_compacted),
                   (unsigned long long)(s.files_merged - o->files_merged),
                   (unsigned long long)(s.segments_archived - o->segments_archived),
                   (unsigned long long)(s.partitions_dropped - o->partitions_dropped),
                   (unsigned long long)(s.segments_dropped - o->segments_dropped),
                   (unsigned long long)s.tail_events);
    *o = s;
}

int64_t maintenance_repair(maintenance *m, const char *msg)
{
    /* "STORE/parts/20261101T06-0000000000000007.tpart: ..." */
    const char *p = strstr(msg, "parts/");
    struct tm tm = {0};
    if (!p || sscanf(p + 6, "%4d%2d%2dT%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour) != 4)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    int64_t hour = (int64_t)timegm(&tm) * 1000000;
    pthread_mutex_lock(&m->lock);
    size_t i = 0;
    while (i < m->nrepairs && m->repairs[i] != hour)
        i++;
    if (i == m->nrepairs && m->nrepairs < REPAIRS_MAX) {
        m->repairs[m->nrepairs++] = hour;
        server_log("query found %.*s damaged: rebuilding that hour from the log",
                   (int)strcspn(p, ":"), p);
        pthread_cond_signal(&m->cond);
    }
    pthread_mutex_unlock(&m->lock);
    return hour;
}

/* Rebuild the hours queries found damaged. Called with m->lock held. */
static void run_repairs(maintenance *m)
{
    while (m->nrepairs > 0) {
        int64_t hour = m->repairs[0];
        pthread_mutex_unlock(&m->lock);
        tsagg_rebuild_options ro;
        tsagg_rebuild_options_init(&ro);
        ro.from = hour;
        ro.to = hour + HOUR_US;
        ro.memory_budget = COMPACT_BUDGET;
        tsagg_rebuild_stats rs = {.struct_size = sizeof rs};
        pthread_mutex_lock(&m->pass_lock);
        int rc = tsagg_rebuild(m->srv->store, &ro, &rs);
        pthread_mutex_unlock(&m->pass_lock);
        metrics_rebuild(m->srv->metrics, rc != 0);
        if (rc != 0) {
            char msg[256];
            tsagg_store_errmsg(m->srv->store, msg, sizeof msg);
            server_log("rebuild of the hour at %lld s failed: %s: %s",
                       (long long)(hour / 1000000), tsagg_strerror(rc), msg);
        } else {
            server_log("rebuilt the hour at %lld s: %llu events, %llu files replaced",
                       (long long)(hour / 1000000), (unsigned long long)rs.events_read,
                       (unsigned long long)rs.files_replaced);
        }
        pthread_mutex_lock(&m->lock);
        /* Done with it (a failed one is asked for again by the next query
         * that meets the file). */
        memmove(m->repairs, m->repairs + 1, --m->nrepairs * sizeof m->repairs[0]);
    }
}

static void *loop(void *arg)
{
    maintenance *m = arg;
    pthread_setname_np(pthread_self(), "repair");
    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += CHECK_EVERY_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (!m->nrepairs)
            pthread_cond_timedwait(&m->cond, &m->lock, &ts);
        if (m->stop)
            break;
        run_repairs(m);
        pthread_mutex_unlock(&m->lock);
        log_status(m);
        pthread_mutex_lock(&m->lock);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

maintenance *maintenance_start(server *srv)
{
    maintenance *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->srv = srv;
    pthread_mutex_init(&m->lock, NULL);
    pthread_mutex_init(&m->pass_lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    if (pthread_create(&m->thread, NULL, loop, m) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

void maintenance_stop(maintenance *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->stop = 1;
    pthread_cond_signal(&m->cond);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->thread, NULL);
    pthread_mutex_destroy(&m->lock);
    pthread_mutex_destroy(&m->pass_lock);
    pthread_cond_destroy(&m->cond);
    free(m);
}
