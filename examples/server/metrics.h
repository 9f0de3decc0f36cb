/*
 * metrics.h - counters for GET /metrics (Prometheus text format 0.0.4).
 * Labels are endpoints, status codes and reasons: never a merchant, so the
 * number of series stays fixed however many sites there are.
 */
#ifndef SERVER_METRICS_H
#define SERVER_METRICS_H

#include <stdint.h>

#include "server.h"

enum endpoint {
    EP_HEALTHZ, EP_METRICS, EP_SITES, EP_EVENTS, EP_QUERY, EP_MAINTENANCE,
    EP_GA4, EP_GA4_DEBUG, EP_UA_COLLECT, EP_UA_BATCH, EP_PLAUSIBLE, EP_DASHBOARD, EP_OTHER,
    EP_COUNT
};

/* What became of an event a client sent. */
enum event_result {
    EV_ACCEPTED,      /* durable */
    EV_INVALID,       /* a field was wrong */
    EV_UNKNOWN_SITE,  /* no site for its id, key or domain */
    EV_BOT,           /* dropped: a crawler's User-Agent */
    EV_LIMIT,         /* over a protocol limit (events per request...) */
    EV_STORE_ERROR,   /* the append failed */
    EV_RESULT_COUNT
};

typedef struct metrics metrics;

metrics *metrics_create(void);
void metrics_free(metrics *m);

const char *endpoint_name(int ep);
void metrics_request(metrics *m, int ep, unsigned status);
void metrics_events(metrics *m, int ep, enum event_result res, uint64_t n);
void metrics_query_latency(metrics *m, double seconds);
void metrics_rebuild(metrics *m, int failed);

/* The whole text of /metrics into a malloc'd string; NULL on ENOMEM. */
char *metrics_render(metrics *m, server *srv, size_t *len);

#endif
