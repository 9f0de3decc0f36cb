/* offload.c - see offload.h. */
#include "offload.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>

struct offload {
    server *srv;
    void (*run)(request *r);
    const char *name;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    request *head, *tail; /* queued, through request.next_parked */
    int stopping;
    unsigned nthreads;
    pthread_t threads[];
};

static void *loop(void *arg)
{
    offload *o = arg;
    pthread_setname_np(pthread_self(), o->name);
    pthread_mutex_lock(&o->lock);
    for (;;) {
        while (!o->head && !o->stopping)
            pthread_cond_wait(&o->cond, &o->lock);
        if (!o->head)
            break;
        request *r = o->head;
        o->head = r->next_parked;
        if (!o->head)
            o->tail = NULL;
        pthread_mutex_unlock(&o->lock);
        o->run(r);
        pthread_mutex_lock(&o->lock);
    }
    pthread_mutex_unlock(&o->lock);
    return NULL;
}

offload *offload_start(server *srv, unsigned n, const char *name, void (*run)(request *r))
{
    offload *o = calloc(1, sizeof *o + n * sizeof(pthread_t));
    if (!o)
        return NULL;
    o->srv = srv;
    o->run = run;
    o->name = name;
    pthread_mutex_init(&o->lock, NULL);
    pthread_cond_init(&o->cond, NULL);
    for (; o->nthreads < n; o->nthreads++) {
        if (pthread_create(&o->threads[o->nthreads], NULL, loop, o) != 0) {
            offload_stop(o);
            offload_free(o);
            return NULL;
        }
    }
    return o;
}

static void refuse(request *r)
{
    req_error(r, 503, "shutting down");
    MHD_resume_connection(r->conn);
}

void offload_submit(offload *o, request *r)
{
    pthread_mutex_lock(&o->lock);
    if (o->stopping) {
        pthread_mutex_unlock(&o->lock);
        refuse(r);
        return;
    }
    r->next_parked = NULL;
    if (o->tail)
        o->tail->next_parked = r;
    else
        o->head = r;
    o->tail = r;
    pthread_cond_signal(&o->cond);
    pthread_mutex_unlock(&o->lock);
}

void offload_stop(offload *o)
{
    if (!o)
        return;
    pthread_mutex_lock(&o->lock);
    o->stopping = 1;
    request *queued = o->head;
    o->head = o->tail = NULL;
    pthread_cond_broadcast(&o->cond);
    pthread_mutex_unlock(&o->lock);
    for (request *r = queued, *next; r; r = next) {
        next = r->next_parked;
        refuse(r);
    }
    for (unsigned i = 0; i < o->nthreads; i++)
        pthread_join(o->threads[i], NULL);
    o->nthreads = 0;
}

void offload_free(offload *o)
{
    if (!o)
        return;
    pthread_mutex_destroy(&o->lock);
    pthread_cond_destroy(&o->cond);
    free(o);
}
