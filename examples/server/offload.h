/*
 * offload.h - requests that take long (queries, NDJSON batches, site
 * changes, maintenance, metrics) run on threads of their own.
 *
 * An HTTP thread serves every connection libmicrohttpd gave it, one at a
 * time: a 100 ms query run there holds up every tracker hit on those
 * connections for 100 ms. Such a request is instead suspended (as a parked
 * one is, commit.h) and queued here; one of these threads runs its
 * handler, then either parks it with the committer (it appended events) or
 * resumes it with its answer. The HTTP threads go on answering the rest.
 */
#ifndef SERVER_OFFLOAD_H
#define SERVER_OFFLOAD_H

#include "server.h"

typedef struct offload offload;

/* Start n threads named name (at most 15 bytes: top -H, perf) that call
 * run(r) for each queued request. NULL on ENOMEM or when a thread could
 * not start. */
offload *offload_start(server *srv, unsigned n, const char *name, void (*run)(request *r));
/* Queue r (already suspended). */
void offload_submit(offload *o, request *r);
/* Answer what is still queued with 503, wait for the requests being run,
 * stop the threads. Later submissions are answered 503 at once. */
void offload_stop(offload *o);
/* After offload_stop. Accepts NULL. */
void offload_free(offload *o);

#endif
