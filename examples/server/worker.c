/* worker.c - see worker.h. */
#include "worker.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_key_t worker_key;
static pthread_once_t worker_once = PTHREAD_ONCE_INIT;

static void worker_free(void *arg)
{
    worker *w = arg;
    ndjson_parser_free(w->parsers.ndjson);
    evb_destroy(&w->b);
    tsagg_result_free(w->result);
    free(w);
}

static void make_key(void)
{
    pthread_key_create(&worker_key, worker_free);
}

worker *worker_get(server *srv)
{
    pthread_once(&worker_once, make_key);
    worker *w = pthread_getspecific(worker_key);
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w)
            return NULL;
        if (evb_init(&w->b, srv->fields, TS_UNIT_MS) != 0 ||
            !(w->parsers.ndjson = ndjson_parser_create())) {
            ndjson_parser_free(w->parsers.ndjson);
            evb_destroy(&w->b);
            free(w);
            return NULL;
        }
        pthread_setspecific(worker_key, w);
    }
    evb_reset(&w->b);
    return w;
}

void worker_begin_event(worker *w, int64_t ts, uint64_t merchant, const char *name,
                        size_t name_len)
{
    evbuild *b = &w->b;
    evb_begin(b);
    b->cur->ts = ts;
    b->cur->merchant = merchant;
    b->cur->event = name;
    b->cur->event_len = (uint32_t)name_len;
    static const char *const required[] = {"ts", "merchant", "event"};
    for (int i = 0; i < 3; i++)
        evb_mark(b, fieldmap_find(b->fields, required[i], strlen(required[i])));
}

int worker_append(server *srv, worker *w, request *r, char *err, size_t errlen)
{
    if (w->b.n == 0)
        return 0;
    uint64_t first;
    int rc = tsagg_append(srv->store, w->b.evs, w->b.n, &first);
    if (rc < 0) {
        tsagg_store_errmsg(srv->store, err, errlen);
        server_log("append of %zu events failed: %s: %s", w->b.n, tsagg_strerror(rc), err);
        return rc;
    }
    r->wait_seq = first + w->b.n - 1;
    r->pending_events += w->b.n;
    return 0;
}
