/* commit.c - see commit.h. */
#include "commit.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>

struct committer {
    server *srv;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    request *parked; /* a list through request.next_parked */
    int stop;        /* asked to stop */
    int stopped;     /* the thread has ended: parking flushes at once */
};

/* Make everything appended so far durable, then resume the requests of
 * list with their answers (503 when the flush failed). */
static void commit_list(committer *c, request *list)
{
    /* One flush covers every event appended so far, parked or not. */
    uint64_t want = 0;
    for (request *r = list; r; r = r->next_parked)
        if (r->wait_seq > want)
            want = r->wait_seq;
    int rc = 0;
    if (tsagg_durable_seq(c->srv->store) < want)
        rc = tsagg_flush(c->srv->store);
    char msg[256] = "";
    if (rc != 0) {
        tsagg_store_errmsg(c->srv->store, msg, sizeof msg);
        server_log("flush failed: %s: %s", tsagg_strerror(rc), msg);
    }
    for (request *r = list, *next; r; r = next) {
        next = r->next_parked;
        if (rc != 0)
            req_error(r, 503, "the store failed before these events were durable: %s: %s",
                      tsagg_strerror(rc), msg);
        MHD_resume_connection(r->conn);
    }
}

static void *loop(void *arg)
{
    committer *c = arg;
    pthread_setname_np(pthread_self(), "commit");
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->parked && !c->stop)
            pthread_cond_wait(&c->cond, &c->lock);
        if (!c->parked)
            break; /* stopping, nothing left */
        request *list = c->parked;
        c->parked = NULL;
        pthread_mutex_unlock(&c->lock);
        commit_list(c, list);
        pthread_mutex_lock(&c->lock);
    }
    c->stopped = 1;
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

committer *committer_start(server *srv)
{
    committer *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->srv = srv;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    if (pthread_create(&c->thread, NULL, loop, c) != 0) {
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->cond);
        free(c);
        return NULL;
    }
    return c;
}

void committer_stop(committer *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    int joined = c->stop;
    c->stop = 1;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    if (!joined)
        pthread_join(c->thread, NULL);
}

void committer_free(committer *c)
{
    if (!c)
        return;
    committer_stop(c);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free(c);
}

void committer_park(committer *c, request *r)
{
    pthread_mutex_lock(&c->lock);
    if (c->stopped) {
        /* A request that was still being handled when the server stopped:
         * its caller's thread does the flush. */
        pthread_mutex_unlock(&c->lock);
        r->next_parked = NULL;
        commit_list(c, r);
        return;
    }
    r->next_parked = c->parked;
    c->parked = r;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
}
