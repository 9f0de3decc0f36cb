/*
 * collect.h - what the collection protocols (GA4, Universal Analytics,
 * Plausible) share: a hit in the store's terms, turned into an event of
 * the worker's batch with the default schema's dimensions filled the same
 * way for all of them (docs/server.md, "What a hit becomes").
 */
#ifndef SERVER_COLLECT_H
#define SERVER_COLLECT_H

#include <stddef.h>
#include <stdint.h>

#include "sites.h"
#include "useragent.h"
#include "worker.h"

typedef struct hit {
    uint64_t merchant;
    int64_t ts;
    const char *event;
    size_t event_len;
    uint64_t user;
    uint64_t session;      /* 0: from the sessions table, by user */
    int has_id;
    uint64_t id;
    const char *page;      /* a path, or a URL whose path is taken */
    size_t page_len;
    const char *referrer;  /* a URL (or a host) whose host is taken */
    size_t referrer_len;
    const char *country;   /* "" or two letters */
    ua_info ua;
    int has_value;
    double value;
} hit;

/* Classify the request's User-Agent (or ua, when not NULL) into h->ua,
 * through w's cache. */
void collect_user_agent(request *r, worker *w, hit *h, const char *ua);

/* Begin the event of h in w's batch: core fields and the declared
 * dimensions. The caller may add undeclared attributes (collect_extra)
 * and then calls evb_finish(&w->b). 0, or -1 with the reason in w->b.err. */
int collect_begin(server *srv, worker *w, const hit *h);

/* An undeclared attribute, given as a string; names the schema declares
 * (or the core fields) are skipped, so that a tracker's parameter cannot
 * shadow a dimension the server set. 0 or -1 as evb_add_str. */
int collect_extra_str(worker *w, const char *key, size_t klen, const char *s, size_t len);
int collect_extra_f64(worker *w, const char *key, size_t klen, double v);

/* The path of a URL ("https://a.example/p?q#h" -> "/p"); a path is kept,
 * without its query and fragment. */
void url_path(const char *url, size_t len, const char **path, size_t *plen);

/* Plausible's visitor id: a hash of today's random salt, the User-Agent,
 * the client address and the domain. */
uint64_t collect_visitor(request *r, const char *domain);

#endif
