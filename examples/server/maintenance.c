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
    int background, stop;
    pthread_mutex_t lock;      /* stop, cond */
    pthread_cond_t cond;
    pthread_mutex_t pass_lock; /* one pass at a time */
    int64_t tail_since_ns;     /* when the tail was last seen empty */
    int64_t repairs[REPAIRS_MAX]; /* hours to rebuild, under lock */
    size_t nrepairs;
};

void maintenance_run(maintenance *m, maintenance_stats *st)
{
    server *srv = m->srv;
    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&m->pass_lock);
    int64_t t0 = mono_ns();
    tsagg_compact_options co;
    tsagg_compact_options_init(&co);
    co.memory_budget = COMPACT_BUDGET;
    st->rc = tsagg_compact(srv->store, &co, &st->compact);
    if (st->rc == 0)
        st->rc = tsagg_merge(srv->store, &co, &st->merge);
    st->seconds = (double)(mono_ns() - t0) / 1e9;
    if (st->rc != 0) {
        tsagg_store_errmsg(srv->store, st->errmsg, sizeof st->errmsg);
        server_log("maintenance failed: %s: %s", tsagg_strerror(st->rc), st->errmsg);
    } else if (st->compact.events_read || st->merge.files_removed) {
        server_log("maintenance: compacted %llu events into %llu files, merged %llu files "
                   "(%.3f s), log compacted up to %llu",
                   (unsigned long long)st->compact.events_read,
                   (unsigned long long)st->compact.files_written,
                   (unsigned long long)st->merge.files_removed, st->seconds,
                   (unsigned long long)st->compact.consumed_seq);
    }
    metrics_compaction(srv->metrics, st->seconds, st->rc != 0);
    pthread_mutex_unlock(&m->pass_lock);
}

/* Whether the tail is due: large enough, or waiting long enough. */
static int due(maintenance *m)
{
    server *srv = m->srv;
    uint64_t durable = tsagg_durable_seq(srv->store), compacted = 0;
    if (tsagg_compacted_seq(srv->store, &compacted) != 0)
        return 0;
    uint64_t tail = durable > compacted ? durable - compacted : 0;
    int64_t now = mono_ns();
    if (tail == 0) {
        m->tail_since_ns = now;
        return 0;
    }
    return tail >= srv->cfg.compact_events ||
           now - m->tail_since_ns >= (int64_t)srv->cfg.compact_age_s * 1000000000;
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
    m->tail_since_ns = mono_ns();
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
        if (m->background && due(m)) {
            maintenance_stats st;
            maintenance_run(m, &st);
            m->tail_since_ns = mono_ns();
        }
        pthread_mutex_lock(&m->lock);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

maintenance *maintenance_start(server *srv, int background)
{
    maintenance *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->srv = srv;
    m->background = background;
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
