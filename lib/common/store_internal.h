/* store_internal.h - the store handle and its error slot, shared by every
 * layer that takes a handle (lib/common, catalog, compact, log, query and
 * store; lib/partition and lib/sketch take none). What its opaque pointers
 * hold belongs to the layer that builds it: the writer to lib/log, the
 * catalog to lib/catalog, the head and the partition and zone caches to
 * lib/query, the maintenance state to lib/store/maintain.c. lib/store/store.c
 * opens the writer, head and maintenance with the handle (the catalog and
 * caches are made at first use) and frees them all when it closes. */
#ifndef TSAGG_STORE_INTERNAL_H
#define TSAGG_STORE_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>

#include "schema_internal.h"
#include "tsagg_log.h"
#include "tsagg_store.h"

#define TSAGG_PATH_MAX 4096
#define TSAGG_ERRMSG_MAX 512

struct tsagg_log_writer;
struct tsagg__catalog;
struct tsagg__part_cache;
struct tsagg__tz_cache;
struct tsagg__maint;
struct tsagg__head;

struct tsagg_store {
    char path[TSAGG_PATH_MAX];
    char log_dir[TSAGG_PATH_MAX];
    const tsagg_io *io;
    tsagg_options opts;
    tsagg_schema *schema;
    int dir_lock_fd; /* the store directory, flocked by the writer; -1 */
    int lock_fd;     /* STORE/LOCK, flocked too for older writers; -1 */
    struct tsagg_log_writer *writer; /* NULL for read-only handles */

    pthread_mutex_t err_mu;
    char errmsg[TSAGG_ERRMSG_MAX];
    struct tsagg__errsink *sinks; /* calls collecting their own failure */

    pthread_mutex_t catalog_mu;     /* creates the catalog once */
    struct tsagg__catalog *catalog; /* published manifests and snapshots */
    pthread_mutex_t compact_mu;     /* one compaction or merge at a time */
    struct tsagg__part_cache *part_cache; /* open partitions of queries */
    struct tsagg__tz_cache *tz_cache;     /* zones queries loaded (lib/query/tzcache.h) */
    struct tsagg__maint *maint;     /* writers: maintenance state and thread */
    struct tsagg__head *head; /* uncompacted events, indexed (lib/query/head.h) */
    /* Called by the log writer under its lock once an append's events have
     * their sequence numbers (seq0..), before they can become durable: the
     * head's feed, set by lib/store once the head is built. */
    void (*on_append)(tsagg_store *st, const tsagg_event *evs, size_t n, uint64_t seq0);
    /* Called by a compaction (under compact_mu) right after it published
     * a new consumed position, before its merges: the head drops what was
     * compacted there, not in the next append or query. Set by lib/store. */
    void (*on_publish)(tsagg_store *st);
    /* Bulk loads in progress (lib/compact/bulk.c; __atomic). Their events
     * go straight into partitions: the head skips indexing them and reads
     * them from the log only if a query asks before they are published. */
    unsigned bulk_loads;
};

/* Record a failure's detail on the handle (printf-style) and return code. */
int tsagg__fail(tsagg_store *store, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * A call's own copy of its failure's message, while calls on other threads
 * fail beside it (the handle's errmsg holds whichever came last): between
 * tsagg__errsink_begin and _end, every tsagg__fail of the calling thread on
 * this handle is also written to buf. The sink lives on the caller's stack.
 */
typedef struct tsagg__errsink {
    pthread_t thread;
    char *buf;
    size_t len;
    int set; /* a message was written */
    struct tsagg__errsink *next;
} tsagg__errsink;

void tsagg__errsink_begin(tsagg_store *store, tsagg__errsink *sink, char *buf, size_t len);
/* Unregister the sink and return code; buf is emptied on success. A failing code for which the call
 * recorded no message gets "what: <tsagg_strerror(code)>", on the handle and
 * in buf, so that neither shows an earlier failure's message for this one. */
int tsagg__errsink_end(tsagg_store *store, tsagg__errsink *sink, int code, const char *what);

#endif
