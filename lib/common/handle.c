/*
 * handle.c - what every layer needs of a store handle: its options'
 * defaults, its error slot and the sinks of calls collecting their own
 * failure. Opening and closing a store is lib/store/store.c.
 */
#include <stdio.h>
#include <string.h>

#include "store_internal.h"

void tsagg_options_init(tsagg_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
    opts->io = tsagg_io_default();
    opts->sync_mode = TSAGG_SYNC_BATCH;
    opts->sync_interval_ms = 10;
    opts->io_backend = TSAGG_IO_AUTO;
    opts->frame_bytes = 1u << 20;
    opts->segment_bytes = 256ull << 20;
    opts->query_cache_bytes = 256ull << 20;
    opts->head_max_bytes = 256ull << 20;
}

int tsagg__fail(tsagg_store *store, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&store->err_mu);
    vsnprintf(store->errmsg, sizeof store->errmsg, fmt, ap);
    pthread_t self = pthread_self();
    for (tsagg__errsink *s = store->sinks; s; s = s->next) {
        if (pthread_equal(s->thread, self)) {
            snprintf(s->buf, s->len, "%s", store->errmsg);
            s->set = 1;
            break;
        }
    }
    pthread_mutex_unlock(&store->err_mu);
    va_end(ap);
    return code;
}

void tsagg__errsink_begin(tsagg_store *store, tsagg__errsink *sink, char *buf, size_t len)
{
    *sink = (tsagg__errsink){.thread = pthread_self(), .buf = buf, .len = len};
    if (len)
        buf[0] = 0;
    pthread_mutex_lock(&store->err_mu);
    sink->next = store->sinks;
    store->sinks = sink;
    pthread_mutex_unlock(&store->err_mu);
}

int tsagg__errsink_end(tsagg_store *store, tsagg__errsink *sink, int code, const char *what)
{
    if (code != 0 && !sink->set)
        tsagg__fail(store, code, "%s: %s", what, tsagg_strerror(code));
    if (code == 0 && sink->len)
        sink->buf[0] = 0; /* a retried step may have failed on the way */
    pthread_mutex_lock(&store->err_mu);
    tsagg__errsink **p = &store->sinks;
    while (*p != sink)
        p = &(*p)->next;
    *p = sink->next;
    pthread_mutex_unlock(&store->err_mu);
    return code;
}

void tsagg_store_errmsg(tsagg_store *store, char *buf, size_t len)
{
    if (!buf || len == 0)
        return;
    pthread_mutex_lock(&store->err_mu);
    snprintf(buf, len, "%s", store->errmsg);
    pthread_mutex_unlock(&store->err_mu);
}

const tsagg_schema *tsagg_store_schema(const tsagg_store *store)
{
    return store->schema;
}
