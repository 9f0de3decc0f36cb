/*
 * tsagg_store.h - schemas, events, and the store handle.
 *
 * A store is a directory:
 *
 *     STORE/tsagg.store   descriptor: format version and schema
 *     STORE/LOCK          also locked by the writer, for older versions
 *     STORE/log/          raw event log segments (tsagg_log.h)
 *     STORE/parts/        compacted partitions of months, days, hours (tsagg_compact.h)
 *     STORE/MANIFEST      the published list of partitions
 *     STORE/RULES         the processing rules (tsagg_rules.h)
 *
 * Lifecycle: tsagg_store_open() -> use -> tsagg_store_close(). One process
 * may hold a store open for writing (TSAGG_OPEN_WRITE) at a time; a second
 * writer gets TSAGG_ELOCKED. The writer lock is an flock(2) on the STORE
 * directory itself, so removing LOCK (which older library versions lock
 * alone, and which is kept locked for them) never lets a second writer in. Any number of read-only handles, in any process,
 * may be open beside it. A store handle is safe to use from several threads
 * at once unless a function says otherwise.
 */
#ifndef TSAGG_STORE_H
#define TSAGG_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "tsagg_errors.h"
#include "tsagg_export.h"
#include "tsagg_io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Schema                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * A schema declares the string dimensions and the numeric measures that the
 * compacted partitions store as columns. The core fields (ts, merchant,
 * event, user, session, id) are always present and are not part of it.
 * Names are 1..TSAGG_NAME_MAX bytes of [A-Za-z0-9_.-] and must not repeat
 * or shadow a core field. At most TSAGG_SCHEMA_MAX_FIELDS of each kind.
 */
#define TSAGG_NAME_MAX 64
#define TSAGG_SCHEMA_MAX_FIELDS 64

typedef struct tsagg_schema tsagg_schema;

/* An empty schema in *out. Returns 0 or -ENOMEM. Free with tsagg_schema_free. */
TSAGG_API int tsagg_schema_create(tsagg_schema **out);

/* The default web-analytics schema: dimensions page, referrer, country,
 * device, browser, os; measure value. */
TSAGG_API int tsagg_schema_create_default(tsagg_schema **out);

/* Accepts NULL. */
TSAGG_API void tsagg_schema_free(tsagg_schema *schema);

/* Declare a field. TSAGG_EARG for a bad, duplicate or reserved name or a
 * full schema. */
TSAGG_API int tsagg_schema_add_dimension(tsagg_schema *schema, const char *name);
TSAGG_API int tsagg_schema_add_measure(tsagg_schema *schema, const char *name);

TSAGG_API size_t tsagg_schema_dimension_count(const tsagg_schema *schema);
TSAGG_API size_t tsagg_schema_measure_count(const tsagg_schema *schema);
/* The i-th name (declaration order), or NULL when i is out of range. The
 * string lives as long as the schema. */
TSAGG_API const char *tsagg_schema_dimension_name(const tsagg_schema *schema, size_t i);
TSAGG_API const char *tsagg_schema_measure_name(const tsagg_schema *schema, size_t i);
/* Index of a declared name, or -1. */
TSAGG_API int tsagg_schema_dimension_index(const tsagg_schema *schema, const char *name);
TSAGG_API int tsagg_schema_measure_index(const tsagg_schema *schema, const char *name);

/* A 64-bit identity of the schema's content (XXH64 of its canonical
 * encoding, docs/format.md). Equal schemas have equal ids. */
TSAGG_API uint64_t tsagg_schema_id(const tsagg_schema *schema);

/* ------------------------------------------------------------------------ */
/* Events                                                                   */
/* ------------------------------------------------------------------------ */

/* Type of an attribute value as it was received. */
enum tsagg_value_type {
    TSAGG_STR = 1, /* bytes (UTF-8 by convention, not checked) */
    TSAGG_INT = 2, /* int64 */
    TSAGG_F64 = 3  /* IEEE double */
};

/*
 * An attribute: any field of an event other than the core fields. Declared
 * dimensions and measures are attributes whose key the schema names; every
 * other attribute is kept in the raw log as received, so that a later schema
 * can use it. Pointers are borrowed: they must stay valid for the duration of
 * the call they are passed to, nothing longer.
 */
typedef struct tsagg_attr {
    const char *key;
    uint32_t key_len; /* 1..TSAGG_NAME_MAX */
    uint32_t type;    /* enum tsagg_value_type */
    union {
        struct {
            const char *ptr;
            uint32_t len; /* 0..TSAGG_VALUE_MAX */
        } s;
        int64_t i;
        double f;
    } v;
} tsagg_attr;

#define TSAGG_VALUE_MAX (1u << 20)
/* Event times partitions hold: [TSAGG_TS_MIN, TSAGG_TS_END), the years
 * 0000-9999 UTC (0000-01-01T00:00:00Z to 10000-01-01T00:00:00Z, excluded),
 * in microseconds. Appends refuse other times. */
#define TSAGG_TS_MIN INT64_C(-62167219200000000)
#define TSAGG_TS_END INT64_C(253402300800000000)
#define TSAGG_EVENT_NAME_MAX 255
#define TSAGG_ATTRS_MAX 255
#define TSAGG_EVENT_BYTES_MAX (4u << 20) /* sum of an event's string values */

/* tsagg_event.flags */
#define TSAGG_EVENT_HAS_ID 0x1u /* `id` is set: used to drop client retries */

/*
 * One event. The host fills it in place (no allocation, no copies): strings
 * are borrowed for the duration of the call. String user/session identifiers
 * are turned into 64-bit ones with tsagg_hash_id(). A user or session of 0
 * is absent: distinct counts (tsagg_query.h) never count it.
 */
typedef struct tsagg_event {
    int64_t ts;        /* event time, microseconds since the Unix epoch, UTC */
    uint64_t merchant; /* the tenant */
    const char *event; /* event name, e.g. "page_view"; 1..255 bytes */
    uint32_t event_len;
    uint32_t flags;    /* TSAGG_EVENT_* */
    uint64_t user;     /* 0: no user (absent, as SQL's NULL) */
    uint64_t session;  /* 0: no session */
    uint64_t id;       /* optional event id, see TSAGG_EVENT_HAS_ID */
    const tsagg_attr *attrs;
    uint32_t nattrs;   /* 0..TSAGG_ATTRS_MAX */
} tsagg_event;

/* The 64-bit identifier of a string user or session id: XXH64 with seed 0.
 * Stable across versions and machines (it is stored on disk). */
TSAGG_API uint64_t tsagg_hash_id(const void *data, size_t len);

/* Check one event against the limits above: 0 or TSAGG_EINPUT. The event
 * name, attribute keys and string values must not hold a NUL byte (every
 * output would cut them there), and ts must lie in [TSAGG_TS_MIN,
 * TSAGG_TS_END). tsagg_append() makes the same check. */
TSAGG_API int tsagg_event_validate(const tsagg_event *ev);

/* tsagg_event_validate(), and on TSAGG_EINPUT the reason, naming the field
 * ("attribute 'page': the value holds a NUL byte at offset 1"), copied into
 * why (why_len bytes at most, NUL-terminated; why may be NULL). */
TSAGG_API int tsagg_event_check(const tsagg_event *ev, char *why, size_t why_len);

/* ------------------------------------------------------------------------ */
/* Store                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct tsagg_store tsagg_store;

/* tsagg_options.flags */
#define TSAGG_OPEN_WRITE 0x1u  /* take the writer lock; enables appends */
#define TSAGG_OPEN_CREATE 0x2u /* create the store if it does not exist */
/*
 * With TSAGG_OPEN_WRITE: make opts->schema the store's schema. It must keep
 * every dimension and measure of the stored schema (it may add new ones, in
 * any order), or the open fails with TSAGG_ESCHEMA naming the missing field.
 * Partitions written before keep their own schema: a new dimension reads as
 * absent there until tsagg_rebuild() regenerates those hours from the raw
 * log, which kept every field as received. Handles opened before the change
 * keep the schema they read at open.
 */
#define TSAGG_OPEN_SCHEMA 0x4u
/*
 * With TSAGG_OPEN_WRITE: accept the loss of log events that a normal open
 * refuses to build on (tsagg-verify --salvage does this):
 *   - a bad frame in the last, unsealed segment with valid frames after it
 *     (TSAGG_ECORRUPT otherwise): the segment is cut at the bad frame, and
 *     the bytes cut off are kept beside it as log/<segment>.tlog.cut-<offset>
 *     (never read by the library). Events from the bad frame on are lost
 *     unless they were compacted already.
 *   - a log that ends below the position MANIFEST records as compacted
 *     (TSAGG_ECORRUPT otherwise): the manifest's position comes down to the
 *     log's end. Partitions keep what they hold; the events missing from
 *     the log are lost to any later tsagg_rebuild() of their hours.
 * New events then get sequence numbers that no manifest records as
 * compacted. Damage in a sealed segment is not cut: see tsagg_verify.h.
 */
#define TSAGG_OPEN_SALVAGE 0x8u

/* When appends become durable (tsagg_options.sync_mode). */
enum tsagg_sync_mode {
    /* Every tsagg_append() returns once its events are on stable storage.
     * Concurrent appenders share one write and one fsync (group commit). */
    TSAGG_SYNC_BATCH = 0,
    /* Appends return at once; a writer thread, started by the open,
     * writes and fsyncs every sync_interval_ms. */
    TSAGG_SYNC_INTERVAL = 1,
    /* Appends return at once; data is written when a frame fills, and the
     * writer thread started by the open writes and fsyncs what is pending
     * every 500 ms, so that queries (which count durable events only) show
     * an acknowledged event within a second. tsagg_flush() and
     * tsagg_store_close() make it durable at once. */
    TSAGG_SYNC_NONE = 2
};

/* How the log is written (tsagg_options.io_backend). */
enum tsagg_io_backend {
    TSAGG_IO_AUTO = 0,   /* io_uring when the kernel allows it, else pwrite */
    TSAGG_IO_URING = 1,  /* io_uring or TSAGG_ENOURING */
    TSAGG_IO_PWRITE = 2  /* pwrite + fdatasync */
};

/*
 * Options for tsagg_store_open(). Initialise with tsagg_options_init(),
 * which sets every field to its default, then change what you need.
 *
 * Growing structs (this one, tsagg_query, tsagg_compact_options,
 * tsagg_rebuild_options): struct_size is the size the caller was compiled
 * with. The library accepts any size from the first released one (here 48
 * bytes: up to segment_bytes) to its own, and gives the fields beyond the
 * caller's size their defaults; other sizes are TSAGG_EARG. Unknown flags
 * and reserved fields that are not 0 are TSAGG_EARG too, so that they can
 * gain a meaning later.
 */
typedef struct tsagg_options {
    uint32_t struct_size;       /* sizeof(tsagg_options), set by _init */
    uint32_t flags;             /* TSAGG_OPEN_*; default 0 (read-only) */
    const tsagg_io *io;         /* default tsagg_io_default() */
    const tsagg_schema *schema; /* for TSAGG_OPEN_CREATE (NULL: the default)
                                   and TSAGG_OPEN_SCHEMA; read during the
                                   open only, not kept */
    uint32_t sync_mode;         /* enum tsagg_sync_mode; default BATCH */
    uint32_t sync_interval_ms;  /* INTERVAL mode; default 10 */
    uint32_t io_backend;        /* enum tsagg_io_backend; default AUTO */
    uint32_t frame_bytes;       /* frame size goal before compression;
                                   default 1 MiB, 4 KiB..16 MiB */
    uint64_t segment_bytes;     /* roll a segment past this; default 256 MiB,
                                   64 KiB at the least */
    /* --- after the first release --- */
    uint64_t query_cache_bytes; /* decoded partition data queries of this
                                   handle keep for the next ones; least
                                   recently used files are dropped beyond
                                   it (0: keep nothing); default 256 MiB */
    /* With TSAGG_OPEN_WRITE: start a background thread running
       tsagg_maintain() steps with these settings (tsagg_maintain.h; copied
       at open), stopped by tsagg_store_close(), which waits for a step
       in progress. NULL (default): none. */
    const struct tsagg_maintain_options *maintenance;

    /* --- the head of uncompacted events --- */
    /* Memory of the head (the in-memory index of the events not compacted
     * yet, docs/head.md) past which the store wants a compaction. With a
     * maintenance thread (maintenance below), the append that finds the
     * head past it wakes the thread, which compacts at once, and returns;
     * only past four times this (maintenance failing, or appends outrunning
     * it) does the append compact inline, with the maintenance options'
     * budget, threads and hook, after any compaction of the thread's in
     * progress. Without one, past twice this, the append that crosses it
     * compacts inline with the defaults. Events are never refused for it.
     * Default 256 MiB; at least 1 MiB. */
    uint64_t head_max_bytes;
    /* The store's processing hook (tsagg_compact.h, tsagg_process_fn):
     * applied to every event as it enters the head, so that queries count
     * uncompacted events as compaction will store them, and by
     * tsagg_compact() and tsagg_rebuild() when their options name no hook
     * of their own. NULL: none. Called from the appending thread under the
     * log writer's lock (or by the open and the queries of a read-only
     * handle, for the log they read): it must be quick, thread-safe, give
     * an event the same answer each time, and not call the store. */
    int (*process)(void *ctx, tsagg_event *ev, uint64_t seq);
    void *process_ctx;
} tsagg_options;

TSAGG_API void tsagg_options_init(tsagg_options *opts);

/*
 * Open (or with TSAGG_OPEN_CREATE create) the store at `path`.
 *
 * opts may be NULL (read-only, defaults). On success *out holds a handle to
 * close with tsagg_store_close(). On failure *out is NULL, nothing needs
 * closing, and the return value says why: TSAGG_ENOTSTORE (no descriptor, or
 * not a tsagg directory), TSAGG_EVERSION, TSAGG_ECHECKSUM/TSAGG_ECORRUPT
 * (damaged descriptor or log), TSAGG_ELOCKED (another writer), TSAGG_ENOURING
 * (io_uring forced but unavailable), TSAGG_EARG, or -errno. Where errmsg is
 * not NULL, a detail of the failure (naming the file and offset) is copied
 * into it, errmsg_len bytes at most, NUL-terminated.
 *
 * Opening for writing recovers the log: what a crash left unsynced in the
 * last segment (a torn last frame, or after a power loss a lost frame with
 * later, unsynced ones kept) was never reported durable and is cut off, the
 * bytes kept aside when valid frames were among them (docs/format.md,
 * "Recovery and damage"); damage to a frame that was durable is an error
 * (TSAGG_ECORRUPT, see TSAGG_OPEN_SALVAGE). It also checks that the log
 * starts where MANIFEST records (segment 1, or where retention left it,
 * tsagg_maintain.h): a log missing its first segments is TSAGG_ECORRUPT,
 * salvage or not.
 *
 * Every open, read-only or not, checks that the log reaches the position
 * MANIFEST records as compacted. A log that ends below it (log/ copied
 * before MANIFEST by a file-by-file backup, a segment truncated or emptied)
 * is TSAGG_ECORRUPT, the message saying where it ends: a writer would give
 * new events numbers the manifest counts as compacted, and they would never
 * be counted. Restore log/ from the copy MANIFEST came from, or open with
 * TSAGG_OPEN_SALVAGE to accept the loss.
 */
TSAGG_API int tsagg_store_open(const char *path, const tsagg_options *opts,
                               tsagg_store **out, char *errmsg, size_t errmsg_len);

/*
 * Flush and fsync what was appended, stop the writer thread, release the
 * lock, free the handle. Accepts NULL (returns 0). Returns the first error of
 * the final flush or a stored writer failure; the handle is freed either way.
 */
TSAGG_API int tsagg_store_close(tsagg_store *store);

/* The store's current schema; lives as long as the handle. */
TSAGG_API const tsagg_schema *tsagg_store_schema(const tsagg_store *store);

/*
 * Detail of the most recent failure on this handle ("log/000...1.tlog:
 * checksum mismatch in frame at offset 4096"), or "" when none. The text is
 * copied into buf (NUL-terminated, truncated to len). When several threads
 * fail at once, one of their messages is kept.
 */
TSAGG_API void tsagg_store_errmsg(tsagg_store *store, char *buf, size_t len);

/* The library's version as "major.minor.patch"; static. */
TSAGG_API const char *tsagg_version(void);
/* major * 10000 + minor * 100 + patch */
TSAGG_API unsigned tsagg_version_number(void);

#ifdef __cplusplus
}
#endif
#endif
