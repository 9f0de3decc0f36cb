/*
 * server.h - what the parts of tsagg-server share: the server's state, the
 * request being answered, and the handlers of each endpoint.
 *
 * One process holds the store open for writing. libmicrohttpd runs the
 * connections on a pool of threads (one per CPU at most, epoll); the short
 * handlers (collection, health, the dashboard's files) run in them, the
 * ones that may take long on threads of their own (offload.h). Handlers
 * append without waiting for the disk; a request that appended is answered
 * once its events are durable, by the committer (commit.h), which makes
 * all of them durable with one fsync (group commit).
 */
#ifndef SERVER_H
#define SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "tsagg.h"

struct sites;
struct metrics;
struct maintenance;
struct sessions;
struct fieldmap;
struct committer;
struct offload;
struct MHD_Response;

typedef struct server_config {
    const char *store_path;
    const char *listen;           /* HOST:PORT */
    const char *admin_key;        /* NULL: no admin API */
    unsigned threads;             /* MHD thread pool */
    unsigned max_connections;
    unsigned max_per_ip;
    unsigned timeout_s;           /* idle connection timeout */
    size_t max_body;              /* /api/v1/events */
    int trust_proxy;              /* X-Forwarded-For, CF-IPCountry */
    int access_log;
    uint64_t compact_events;      /* compact when the tail holds this many */
    unsigned compact_age_s;       /* ... or its oldest event waited this long */
    unsigned retention_days;      /* drop partitions this old; 0 keep all */
    unsigned log_retention_days;  /* ... and log segments; 0 keep all */
    int maintenance;              /* the library's maintenance thread runs */
    int maintenance_nice;         /* ... this many nice levels down */
    uint64_t head_memory_mib;     /* tsagg_options.head_max_bytes, in MiB */
    const char *dashboard_dir;    /* the dashboard's static files */
} server_config;

/* The answers a tracker gets for an accepted hit: always the same bytes,
 * so each is one MHD response made at start and queued again for every
 * request (req_canned), with nothing to allocate. */
enum canned_answer {
    ANSWER_NONE,
    ANSWER_PLAUSIBLE_OK,      /* 202 "ok" */
    ANSWER_PLAUSIBLE_DROPPED, /* 202 "ok", X-Plausible-Dropped: 1 (a crawler) */
    ANSWER_GA4_OK,            /* 204 */
    ANSWER_UA_BATCH_OK,       /* 200, empty */
    ANSWER_UA_PIXEL,          /* 200, a 1x1 GIF */
    ANSWER_COUNT
};

typedef struct server {
    server_config cfg;
    tsagg_store *store;
    struct sites *sites;
    struct fieldmap *fields;      /* tsagg-ingest's field table of the schema */
    struct metrics *metrics;
    struct maintenance *maint;
    struct committer *commit;     /* answers once appends are durable */
    struct offload *offload;      /* runs the slow endpoints (offload.h) */
    struct sessions *sessions;    /* visitors' sessions (collection) */
    pthread_mutex_t sessions_lock;
    uint8_t visitor_salt[32];     /* Plausible-style visitor ids; rotated daily */
    int64_t visitor_salt_day;
    pthread_mutex_t salt_lock;
    atomic_int quiescing;         /* new requests get 503 */
    atomic_long in_flight;        /* requests between first and last callback */
    struct MHD_Response *canned[ANSWER_COUNT]; /* made by http_start */
} server;

/* ---- requests (http.c) ---------------------------------------------------- */

/* The body caps of each kind of endpoint, in bytes. */
#define BODY_CAP_ADMIN (64u * 1024)
#define BODY_CAP_GA4 (130u * 1024)      /* GA: a request of < 130 kB */
#define BODY_CAP_UA_BATCH (16u * 1024)  /* UA: 16 KB per batch */
#define BODY_CAP_UA_HIT (8u * 1024)     /* UA: 8 KB per hit */
#define BODY_CAP_PLAUSIBLE (64u * 1024)

struct MHD_Connection;

typedef struct request request;

/* Bodies up to this size are kept in the request itself (a tracker's hit
 * is a few hundred bytes); larger ones in a buffer that grows. */
#define REQUEST_INLINE_BODY 1024

struct request {
    server *srv;
    struct MHD_Connection *conn;
    const char *method, *url;
    int endpoint;              /* index into the route table, for metrics */
    char *body;                /* NUL-terminated, plus padding for simdjson */
    size_t body_len, body_cap, body_max;
    int too_large;
    int replied;               /* the answer was queued */
    /* Appends made for this request: answered once wait_seq is durable. */
    uint64_t wait_seq;
    uint64_t pending_events;
    int offload;               /* its handler runs off the HTTP threads */
    int parked;                /* suspended: waiting for the committer or an
                                  offload thread */
    struct request *next_parked;
    int64_t start_ns;
    /* The answer. */
    unsigned status;
    char *resp;                /* malloc'd */
    size_t resp_len;
    const char *resp_type;     /* Content-Type */
    const char *extra_header[2]; /* name, value (static strings) */
    char etag[48];             /* the dashboard's files: ETag, "" for none */
    enum canned_answer canned; /* ANSWER_NONE, or the answer instead of resp */
    /* Last: not cleared when a request starts. */
    char inline_body[REQUEST_INLINE_BODY];
};

/* Set the answer: a copy of body (NULL: empty). */
void req_reply(request *r, unsigned status, const char *type, const char *body, size_t len);
/* Set the answer to buf[0, len), a malloc'd buffer the request now owns
 * (NULL: out of memory, answered 500). */
void req_take(request *r, unsigned status, const char *type, char *buf, size_t len);
/* Set the answer to one of the canned answers (its status with it). */
void req_canned(request *r, enum canned_answer a);
/* {"error": "<message>"} with status. */
void req_error(request *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A header of the request, or NULL. */
const char *req_header(request *r, const char *name);
/* A query-string argument, or NULL. */
const char *req_arg(request *r, const char *name);
/* The token of "Authorization: Bearer TOKEN", or NULL. */
const char *req_bearer(request *r);
/* The client's address as text (X-Forwarded-For's first with --trust-proxy). */
void req_client_ip(request *r, char *buf, size_t cap);
/* The two-letter country from CF-IPCountry with --trust-proxy, else "". */
const char *req_country(request *r);

/* ---- authentication (api_sites.c) ---------------------------------------- */

/* 1 when the request carries the admin key; else answers 401 or 403 and
 * returns 0. */
int auth_admin(request *r);

/* ---- endpoints ------------------------------------------------------------ */

void handle_healthz(request *r);
void handle_metrics(request *r);
void handle_sites(request *r);          /* POST, GET, DELETE /api/v1/sites[/M] */
void handle_events(request *r);         /* POST /api/v1/events */
void handle_query(request *r);          /* POST /api/v1/query */
void handle_maintenance(request *r);    /* POST /api/v1/maintenance */
void handle_ga4(request *r, int debug); /* POST /mp/collect, /debug/mp/collect */
void handle_ua(request *r, int batch);  /* /collect, /batch */
void handle_plausible(request *r);      /* POST /api/event */
void handle_dashboard(request *r);      /* GET /, /dashboard/M, /assets/F */

/* Now, in µs since the epoch, and a monotonic clock in ns. */
int64_t now_us(void);
int64_t mono_ns(void);

/* One line on stderr: "tsagg-server: ..." */
void server_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
