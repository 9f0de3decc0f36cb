/* collect.c - see collect.h. */
#include "collect.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "accesslog.h"
#include "sessions.h"

#define DAY_US INT64_C(86400000000)

void collect_user_agent(request *r, worker *w, hit *h, const char *ua)
{
    if (!ua)
        ua = req_header(r, "User-Agent");
    if (!ua)
        ua = "";
    size_t len = strlen(ua);
    ua_cache_entry *e = &w->ua_cache[tsagg_hash_id(ua, len) % UA_CACHE_SLOTS];
    if (e->len == len && len && memcmp(e->ua, ua, len) == 0) {
        h->ua = e->info;
        return;
    }
    ua_classify(ua, len, &h->ua);
    /* A crawler's name may point into ua itself: those are not kept (they
     * are rare, and dropped or flagged anyway). */
    if (!h->ua.crawler && len && len <= UA_CACHE_LEN) {
        memcpy(e->ua, ua, len);
        e->len = len;
        e->info = h->ua;
    }
}

void url_path(const char *url, size_t len, const char **path, size_t *plen)
{
    const char *p = url, *end = url + len;
    const char *scheme = memmem(url, len, "://", 3);
    if (scheme) {
        p = memchr(scheme + 3, '/', (size_t)(end - scheme - 3));
        if (!p) {
            *path = "/";
            *plen = 1;
            return;
        }
    }
    size_t n = 0;
    while (p + n < end && p[n] != '?' && p[n] != '#')
        n++;
    *path = p;
    *plen = n;
}

static int add_dim(worker *w, const char *name, const char *s, size_t len)
{
    if (len == 0)
        return 0;
    const field_info *f = fieldmap_find(w->b.fields, name, strlen(name));
    /* Only what the store's schema declares becomes a column. */
    if (!f || f->kind != FIELD_DIMENSION)
        return 0;
    evb_mark(&w->b, f);
    return evb_add_str(&w->b, f->name, f->len, s, len);
}

int collect_begin(server *srv, worker *w, const hit *h)
{
    evbuild *b = &w->b;
    worker_begin_event(w, h->ts, h->merchant, h->event, h->event_len);
    if (h->event_len == 0 || h->event_len > TSAGG_EVENT_NAME_MAX)
        return evb_failf(b, "event name of %zu bytes (1..%d allowed)", h->event_len,
                         TSAGG_EVENT_NAME_MAX);
    b->cur->user = h->user;
    b->cur->session = h->session;
    if (!b->cur->session && h->user) {
        pthread_mutex_lock(&srv->sessions_lock);
        b->cur->session = sessions_assign(srv->sessions, h->user, h->ts);
        pthread_mutex_unlock(&srv->sessions_lock);
    }
    if (h->has_id) {
        b->cur->id = h->id;
        b->cur->flags |= TSAGG_EVENT_HAS_ID;
    }
    const char *path = NULL;
    size_t plen = 0;
    if (h->page_len)
        url_path(h->page, h->page_len, &path, &plen);
    /* The host, in lower case, is copied into the batch: it outlives this
     * call. */
    const char *host = NULL;
    size_t hlen = h->referrer_len ? url_host(h->referrer, h->referrer_len, &host) : 0;
    char *ref = NULL;
    if (hlen) {
        ref = evb_alloc(b, hlen);
        if (!ref)
            return evb_failf(b, "out of memory");
        for (size_t i = 0; i < hlen; i++)
            ref[i] = (char)(host[i] >= 'A' && host[i] <= 'Z' ? host[i] + 32 : host[i]);
    }
    if (add_dim(w, "page", path, plen) || add_dim(w, "referrer", ref, hlen) ||
        add_dim(w, "country", h->country, strlen(h->country)) ||
        add_dim(w, "device", h->ua.device, strlen(h->ua.device)) ||
        add_dim(w, "browser", h->ua.browser, h->ua.browser_len) ||
        add_dim(w, "os", h->ua.os, strlen(h->ua.os)))
        return -1;
    if (h->has_value) {
        const field_info *f = fieldmap_find(b->fields, "value", 5);
        if (f && f->kind == FIELD_MEASURE) {
            evb_mark(b, f);
            if (evb_add_f64(b, f->name, f->len, h->value))
                return -1;
        }
    }
    return 0;
}

int collect_extra_str(worker *w, const char *key, size_t klen, const char *s, size_t len)
{
    if (fieldmap_find(w->b.fields, key, klen))
        return 0;
    return evb_add_str(&w->b, key, klen, s, len);
}

int collect_extra_f64(worker *w, const char *key, size_t klen, double v)
{
    if (fieldmap_find(w->b.fields, key, klen))
        return 0;
    return evb_add_f64(&w->b, key, klen, v);
}

uint64_t collect_visitor(request *r, const char *domain)
{
    server *srv = r->srv;
    char ip[64];
    req_client_ip(r, ip, sizeof ip);
    const char *ua = req_header(r, "User-Agent");
    if (!ua)
        ua = "";
    int64_t day = now_us() / DAY_US;
    uint8_t salt[32];
    pthread_mutex_lock(&srv->salt_lock);
    if (srv->visitor_salt_day != day) {
        /* A new salt every UTC day, kept only in memory: yesterday's
         * visitors cannot be linked to today's. */
        if (getrandom(srv->visitor_salt, sizeof srv->visitor_salt, 0) ==
            (ssize_t)sizeof srv->visitor_salt)
            srv->visitor_salt_day = day;
    }
    memcpy(salt, srv->visitor_salt, sizeof salt);
    pthread_mutex_unlock(&srv->salt_lock);
    size_t ul = strlen(ua), il = strlen(ip), dl = strlen(domain);
    size_t n = sizeof salt + ul + il + dl + 2;
    char stack[1024];
    char *buf = n <= sizeof stack ? stack : malloc(n);
    if (!buf)
        return 0;
    memcpy(buf, salt, sizeof salt);
    memcpy(buf + sizeof salt, ua, ul);
    buf[sizeof salt + ul] = '\0';
    memcpy(buf + sizeof salt + ul + 1, ip, il);
    buf[sizeof salt + ul + 1 + il] = '\0';
    memcpy(buf + sizeof salt + ul + il + 2, domain, dl);
    uint64_t v = tsagg_hash_id(buf, n);
    if (buf != stack)
        free(buf);
    return v;
}
