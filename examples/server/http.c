/*
 * http.c - libmicrohttpd glue: limits, routing, request bodies, answers.
 *
 * MHD calls the access handler several times per request: first with the
 * headers (we route and check Content-Length against the endpoint's cap),
 * then with pieces of the body (kept, or dropped past the cap), then once
 * more with none (the handler runs and the answer is queued). MHD's post
 * processor only understands form encodings, so bodies are taken raw.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "commit.h"
#include "jsonout.h"
#include "metrics.h"
#include "offload.h"

#define BODY_PADDING 64 /* readable bytes after the body (simdjson) */

typedef struct route {
    const char *path;
    int prefix;              /* path is a prefix ending in '/' */
    const char *methods;     /* "GET POST" */
    int endpoint;
    size_t body_cap;         /* 0: cfg.max_body */
    int offload;             /* may take long: handled off the HTTP threads */
} route;

static const route routes[] = {
    {"/healthz", 0, "GET", EP_HEALTHZ, 1, 0},
    {"/metrics", 0, "GET", EP_METRICS, 1, 1},
    {"/api/v1/sites", 0, "GET POST", EP_SITES, BODY_CAP_ADMIN, 1},
    {"/api/v1/sites/", 1, "GET DELETE", EP_SITES, 1, 1},
    {"/api/v1/events", 0, "POST", EP_EVENTS, 0, 1},
    {"/api/v1/query", 0, "POST", EP_QUERY, BODY_CAP_ADMIN, 1},
    {"/api/v1/maintenance", 0, "POST", EP_MAINTENANCE, 1, 1},
    {"/mp/collect", 0, "POST", EP_GA4, BODY_CAP_GA4, 0},
    {"/debug/mp/collect", 0, "POST", EP_GA4_DEBUG, BODY_CAP_GA4, 0},
    {"/collect", 0, "GET POST", EP_UA_COLLECT, BODY_CAP_UA_HIT, 0},
    {"/batch", 0, "POST", EP_UA_BATCH, BODY_CAP_UA_BATCH, 0},
    {"/api/event", 0, "POST", EP_PLAUSIBLE, BODY_CAP_PLAUSIBLE, 0},
    {"/", 0, "GET", EP_DASHBOARD, 1, 0},
    {"/dashboard/", 1, "GET", EP_DASHBOARD, 1, 0},
    {"/assets/", 1, "GET", EP_DASHBOARD, 1, 0},
};
#define NROUTES (sizeof routes / sizeof routes[0])

int64_t now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

int64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

void server_log(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "tsagg-server: %s\n", line); /* one write: lines do not mix */
}

/* ---- answers ------------------------------------------------------------- */

void req_reply(request *r, unsigned status, const char *type, const char *body, size_t len)
{
    free(r->resp);
    r->resp = NULL;
    r->resp_len = 0;
    if (body && len) {
        r->resp = malloc(len);
        if (r->resp) {
            memcpy(r->resp, body, len);
            r->resp_len = len;
        }
    }
    r->status = status;
    r->resp_type = type;
    r->canned = ANSWER_NONE;
}

void req_take(request *r, unsigned status, const char *type, char *buf, size_t len)
{
    if (!buf) {
        req_error(r, 500, "out of memory");
        return;
    }
    free(r->resp);
    r->resp = buf;
    r->resp_len = len;
    r->status = status;
    r->resp_type = type;
    r->canned = ANSWER_NONE;
}

/* What each canned answer is; made into MHD responses by make_canned().
 * UA's answer to GET /collect: a GIF89a, 1x1, transparent. */
static const unsigned char pixel_gif[] = {
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00,
    0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
};

static const struct {
    unsigned status;
    const char *type;        /* NULL: no Content-Type */
    const void *body;
    size_t len;
    const char *header[2];   /* one more header, or NULLs */
} canned_answers[ANSWER_COUNT] = {
    [ANSWER_PLAUSIBLE_OK] = {202, "text/plain", "ok", 2, {NULL, NULL}},
    [ANSWER_PLAUSIBLE_DROPPED] = {202, "text/plain", "ok", 2, {"X-Plausible-Dropped", "1"}},
    [ANSWER_GA4_OK] = {204, NULL, "", 0, {NULL, NULL}},
    [ANSWER_UA_BATCH_OK] = {200, NULL, "", 0, {NULL, NULL}},
    [ANSWER_UA_PIXEL] = {200, "image/gif", pixel_gif, sizeof pixel_gif, {NULL, NULL}},
};

void req_canned(request *r, enum canned_answer a)
{
    free(r->resp);
    r->resp = NULL;
    r->resp_len = 0;
    r->resp_type = NULL;
    r->status = canned_answers[a].status;
    r->canned = a;
}

void req_error(request *r, unsigned status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        req_reply(r, 500, NULL, NULL, 0);
        return;
    }
    fputs("{\"error\": ", f);
    json_put_str(f, msg, strlen(msg));
    fputs("}\n", f);
    fclose(f);
    free(r->resp);
    r->resp = buf;
    r->resp_len = len;
    r->status = status;
    r->resp_type = "application/json";
    r->canned = ANSWER_NONE;
}

const char *req_header(request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *req_arg(request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *req_bearer(request *r)
{
    const char *h = req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return *h ? h : NULL;
}

void req_client_ip(request *r, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (r->srv->cfg.trust_proxy) {
        const char *xff = req_header(r, "X-Forwarded-For");
        if (xff) {
            /* The first address is the client's, as the proxy saw it. */
            while (*xff == ' ')
                xff++;
            size_t n = strcspn(xff, ", ");
            if (n > 0 && n < cap) {
                memcpy(buf, xff, n);
                buf[n] = '\0';
                return;
            }
        }
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)cap);
}

const char *req_country(request *r)
{
    if (!r->srv->cfg.trust_proxy)
        return "";
    const char *c = req_header(r, "CF-IPCountry");
    /* Two letters, as ISO 3166-1 alpha-2; Cloudflare's XX and T1 (Tor) mean
     * unknown. */
    if (!c || strlen(c) != 2 || !strcmp(c, "XX") || !strcmp(c, "T1"))
        return "";
    return c;
}

/* ---- routing -------------------------------------------------------------- */

static const route *find_route(const char *url)
{
    for (size_t i = 0; i < NROUTES; i++) {
        size_t n = strlen(routes[i].path);
        if (routes[i].prefix ? strncmp(url, routes[i].path, n) == 0 && url[n]
                             : strcmp(url, routes[i].path) == 0)
            return &routes[i];
    }
    return NULL;
}

static int method_allowed(const route *rt, const char *method)
{
    size_t n = strlen(method);
    for (const char *p = rt->methods; (p = strstr(p, method)); p += n)
        if ((p == rt->methods || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
}

static void dispatch(request *r)
{
    switch (r->endpoint) {
    case EP_HEALTHZ: handle_healthz(r); break;
    case EP_METRICS: handle_metrics(r); break;
    case EP_SITES: handle_sites(r); break;
    case EP_EVENTS: handle_events(r); break;
    case EP_QUERY: handle_query(r); break;
    case EP_MAINTENANCE: handle_maintenance(r); break;
    case EP_GA4: handle_ga4(r, 0); break;
    case EP_GA4_DEBUG: handle_ga4(r, 1); break;
    case EP_UA_COLLECT: handle_ua(r, 0); break;
    case EP_UA_BATCH: handle_ua(r, 1); break;
    case EP_PLAUSIBLE: handle_plausible(r); break;
    case EP_DASHBOARD: handle_dashboard(r); break;
    default: req_error(r, 404, "no such endpoint: %s", r->url); break;
    }
}

static enum MHD_Result send_reply(request *r)
{
    if (r->canned != ANSWER_NONE) {
        /* Shared by every request that gets it: MHD counts its users. */
        enum MHD_Result ok = MHD_queue_response(r->conn, r->status, r->srv->canned[r->canned]);
        metrics_request(r->srv->metrics, r->endpoint, r->status);
        r->replied = 1;
        return ok;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        r->resp_len, r->resp ? r->resp : (void *)"", r->resp ? MHD_RESPMEM_MUST_FREE
                                                            : MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    r->resp = NULL; /* MHD owns it now */
    if (r->resp_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->resp_type);
    if (r->extra_header[0])
        MHD_add_response_header(resp, r->extra_header[0], r->extra_header[1]);
    /* Browsers' trackers post from the merchants' pages. */
    if (r->endpoint == EP_PLAUSIBLE || r->endpoint == EP_GA4 || r->endpoint == EP_UA_COLLECT ||
        r->endpoint == EP_UA_BATCH)
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
    if (r->endpoint == EP_DASHBOARD) {
        /* dashboard.c: revalidated on every load; the page may talk to this
         * server only, and its URL (which may hold a key) goes nowhere. */
        if (r->etag[0]) {
            MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, r->etag);
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        }
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'none'; script-src 'self'; style-src 'self'; "
                                "connect-src 'self'; img-src 'self' data:; "
                                "frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    }
    enum MHD_Result ok = MHD_queue_response(r->conn, r->status, resp);
    MHD_destroy_response(resp);
    metrics_request(r->srv->metrics, r->endpoint, r->status);
    r->replied = 1;
    return ok;
}

/* The events a request appended, by what its answer says of them; once,
 * whether the answer is sent or its sender went away first. */
static void count_appended(request *r)
{
    if (r->pending_events)
        metrics_events(r->srv->metrics, r->endpoint,
                       r->status >= 200 && r->status < 300 ? EV_ACCEPTED : EV_STORE_ERROR,
                       r->pending_events);
    r->pending_events = 0;
}

/* After the handler: 1 when r must wait for its events to be durable
 * (it is then the committer's to resume), else 0. */
static int needs_commit(request *r)
{
    return r->pending_events && r->status >= 200 && r->status < 300 &&
           tsagg_durable_seq(r->srv->store) < r->wait_seq;
}

void http_run_offloaded(request *r)
{
    /* r is suspended; its answer is sent once resumed (on_request). */
    dispatch(r);
    if (needs_commit(r))
        committer_park(r->srv->commit, r);
    else
        MHD_resume_connection(r->conn);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    server *srv = cls;
    request *r = *con_cls;
    if (!r) {
        /* The inline body buffer needs no clearing: the body is cleared
         * past its end when complete. */
        r = malloc(sizeof *r);
        if (!r)
            return MHD_NO;
        memset(r, 0, offsetof(request, inline_body));
        r->body = r->inline_body;
        r->body_cap = sizeof r->inline_body;
        *con_cls = r;
        atomic_fetch_add(&srv->in_flight, 1);
        r->srv = srv;
        r->conn = conn;
        r->method = method;
        r->url = url;
        r->start_ns = mono_ns();
        r->endpoint = EP_OTHER;
        const route *rt = find_route(url);
        if (atomic_load(&srv->quiescing)) {
            req_error(r, 503, "shutting down");
            return send_reply(r);
        }
        if (!rt) {
            req_error(r, 404, "no such endpoint: %s", url);
            return send_reply(r);
        }
        r->endpoint = rt->endpoint;
        r->offload = rt->offload;
        if (!method_allowed(rt, method)) {
            req_error(r, 405, "%s is not allowed on %s (allowed: %s)", method, url, rt->methods);
            r->extra_header[0] = "Allow";
            r->extra_header[1] = rt->methods;
            return send_reply(r);
        }
        r->body_max = rt->body_cap ? rt->body_cap : srv->cfg.max_body;
        const char *cl = req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > r->body_max) {
            req_error(r, 413, "request body of %s bytes is over this endpoint's limit of %zu",
                      cl, r->body_max);
            return send_reply(r);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->replied || r->too_large)
            return MHD_YES; /* answered, or over the cap: drop the rest */
        if (r->body_len + n > r->body_max) {
            r->too_large = 1;
            return MHD_YES;
        }
        if (r->body_len + n + BODY_PADDING + 1 > r->body_cap) {
            size_t cap = r->body_cap * 2;
            while (cap < r->body_len + n + BODY_PADDING + 1)
                cap *= 2;
            int was_inline = r->body == r->inline_body;
            char *nb = realloc(was_inline ? NULL : r->body, cap);
            if (!nb)
                return MHD_NO;
            if (was_inline)
                memcpy(nb, r->inline_body, r->body_len);
            r->body = nb;
            r->body_cap = cap;
        }
        memcpy(r->body + r->body_len, upload_data, n);
        r->body_len += n;
        return MHD_YES;
    }
    if (r->parked) {
        /* Resumed by the committer (its events are durable, or the flush
         * failed and the answer says so) or after an offloaded handler. */
        r->parked = 0;
        count_appended(r);
        return send_reply(r);
    }
    if (!r->replied) {
        /* The whole request is here. */
        memset(r->body + r->body_len, 0, BODY_PADDING + 1);
        if (r->too_large) {
            req_error(r, 413, "request body over this endpoint's limit of %zu bytes",
                      r->body_max);
        } else if (r->offload) {
            /* Answered once resumed; the thread serves others meanwhile. */
            r->parked = 1;
            MHD_suspend_connection(conn);
            offload_submit(srv->offload, r);
            return MHD_YES;
        } else {
            dispatch(r);
        }
        if (needs_commit(r)) {
            /* Answer once durable; the thread serves others meanwhile. */
            r->parked = 1;
            MHD_suspend_connection(conn);
            committer_park(srv->commit, r);
            return MHD_YES;
        }
        count_appended(r);
        return send_reply(r);
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    server *srv = cls;
    request *r = *con_cls;
    if (!r)
        return;
    /* A sender that closed while its request was parked: once resumed,
     * MHD sees the closed connection and ends it here without calling
     * on_request again, but its events were appended all the same. */
    count_appended(r);
    if (srv->cfg.access_log)
        server_log("%s %s %s %.3f ms%s", r->method, r->url, endpoint_name(r->endpoint),
                   (double)(mono_ns() - r->start_ns) / 1e6,
                   toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed)");
    if (r->body != r->inline_body)
        free(r->body);
    free(r->resp);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->in_flight, 1);
}

/* ---- listening ------------------------------------------------------------ */

static int bind_listen(const char *spec, char *bound, size_t cap)
{
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || !colon[1]) {
        server_log("--listen %s: expected HOST:PORT", spec);
        return -1;
    }
    char host[256];
    size_t hn = (size_t)(colon - spec);
    if (spec[0] == '[' && colon[-1] == ']') { /* [::1]:8080 */
        spec++;
        hn -= 2;
    }
    if (hn >= sizeof host) {
        server_log("--listen %s: host name too long", spec);
        return -1;
    }
    memcpy(host, spec, hn);
    host[hn] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0) {
        server_log("--listen %s: %s", spec, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        server_log("--listen %s: %s", spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    char addr[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &in->sin_addr, addr, sizeof addr);
        port = ntohs(in->sin_port);
        snprintf(bound, cap, "%s:%u", addr, port);
    } else {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof addr);
        port = ntohs(in6->sin6_port);
        snprintf(bound, cap, "[%s]:%u", addr, port);
    }
    return fd;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    server_log("http: %s", line);
}

static void free_canned(server *srv)
{
    for (size_t i = 0; i < ANSWER_COUNT; i++) {
        if (srv->canned[i])
            MHD_destroy_response(srv->canned[i]);
        srv->canned[i] = NULL;
    }
}

static int make_canned(server *srv)
{
    for (size_t i = ANSWER_NONE + 1; i < ANSWER_COUNT; i++) {
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            canned_answers[i].len, (void *)canned_answers[i].body, MHD_RESPMEM_PERSISTENT);
        srv->canned[i] = resp;
        /* Every canned answer goes to a tracker on a merchant's page. */
        if (!resp ||
            (canned_answers[i].type &&
             MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                     canned_answers[i].type) != MHD_YES) ||
            (canned_answers[i].header[0] &&
             MHD_add_response_header(resp, canned_answers[i].header[0],
                                     canned_answers[i].header[1]) != MHD_YES) ||
            MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*") != MHD_YES) {
            server_log("out of memory");
            free_canned(srv);
            return -1;
        }
    }
    return 0;
}

int http_start(server *srv, struct MHD_Daemon **out, char *bound, size_t cap)
{
    if (make_canned(srv) != 0)
        return -1;
    int fd = bind_listen(srv->cfg.listen, bound, cap);
    if (fd < 0) {
        free_canned(srv);
        return -1;
    }
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, srv,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)srv->cfg.threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)srv->cfg.max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)srv->cfg.max_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)srv->cfg.timeout_s,
        /* Per connection: the request line, headers and MHD's read
         * buffer (bodies are copied out as they arrive). 16 KiB holds a UA
         * hit of 8 KB in a GET's query string; MHD clears the pool between
         * requests, so a larger one costs every request. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(16 * 1024),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_END);
    if (!d) {
        server_log("could not start the HTTP daemon on %s", bound);
        close(fd);
        free_canned(srv);
        return -1;
    }
    *out = d;
    return 0;
}

void http_quiesce(server *srv, struct MHD_Daemon *d, int wait_ms)
{
    atomic_store(&srv->quiescing, 1);
    MHD_socket fd = MHD_quiesce_daemon(d);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    for (int waited = 0; atomic_load(&srv->in_flight) > 0 && waited < wait_ms; waited += 10) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    long left = atomic_load(&srv->in_flight);
    if (left > 0)
        server_log("stopping with %ld requests unfinished after %d ms", left, wait_ms);
}

void http_close(server *srv, struct MHD_Daemon *d)
{
    MHD_stop_daemon(d);
    free_canned(srv);
}
