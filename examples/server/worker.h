/*
 * worker.h - what each HTTP thread keeps between requests: an NDJSON
 * parser and an event batch (tsagg-ingest's, tools/ingest/ingest.h), made
 * on first use and freed when the thread ends.
 */
#ifndef SERVER_WORKER_H
#define SERVER_WORKER_H

#include "ingest.h"
#include "records.h"
#include "server.h"
#include "useragent.h"

/* User-Agents classified lately: a page's visitors send the same few
 * strings again and again, and classifying one costs dozens of searches. */
#define UA_CACHE_SLOTS 64
#define UA_CACHE_LEN 320

typedef struct ua_cache_entry {
    size_t len;             /* 0: empty */
    char ua[UA_CACHE_LEN];
    ua_info info;           /* of a browser: its strings are static */
} ua_cache_entry;

typedef struct worker {
    ingest_parsers parsers; /* only .ndjson */
    evbuild b;
    tsagg_result *result;   /* for queries; NULL until the first */
    ua_cache_entry ua_cache[UA_CACHE_SLOTS];
} worker;

/* The calling thread's worker, its batch empty; NULL on ENOMEM. */
worker *worker_get(server *srv);

/* Start an event in w->b with the required fields set (they are marked
 * given, as a parser would). */
void worker_begin_event(worker *w, int64_t ts, uint64_t merchant, const char *name,
                        size_t name_len);

/* Append w->b's batch (it stays as it was) for request r, which will be
 * answered once it is durable (r->wait_seq, r->pending_events). 0 or the
 * library's error, the store's message in err. */
int worker_append(server *srv, worker *w, request *r, char *err, size_t errlen);

#endif
