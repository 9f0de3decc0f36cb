/* http.h - the HTTP front: libmicrohttpd set up with explicit limits, and
 * the routing of each request to its handler (http.c). */
#ifndef SERVER_HTTP_H
#define SERVER_HTTP_H

#include "server.h"

struct MHD_Daemon;

/* Bind cfg.listen, start the daemon. On success *out is running and
 * bound holds "HOST:PORT" as bound (the real port for port 0). -1 after
 * logging why. */
int http_start(server *srv, struct MHD_Daemon **out, char *bound, size_t cap);

/* Stop accepting (the listening socket is closed; requests that arrive on
 * open connections get 503) and wait up to wait_ms for the requests in
 * flight. */
void http_quiesce(server *srv, struct MHD_Daemon *d, int wait_ms);
/* Stop the daemon: after the offload threads and the committer stopped,
 * since they resume its connections. */
void http_close(server *srv, struct MHD_Daemon *d);

/* Run the handler of r, a request suspended and queued by an HTTP thread
 * (offload.h), then see it answered. */
void http_run_offloaded(request *r);

#endif
