/*
 * store.c - opening, creating and closing a store directory: the one file
 * that opens and frees everything a handle holds.
 *
 * Descriptor STORE/tsagg.store (docs/format.md, "Store descriptor"):
 *
 *   offset size  field
 *   0      8     magic "TSAGGSTO"
 *   8      2     format version (1)
 *   10     2     reserved, 0
 *   12     4     L: length of the body that follows
 *   16     8     body: schema id (XXH64 of the schema encoding)
 *   24     L-8   body: schema encoding
 *   16+L   8     XXH64 (seed 0) of bytes [0, 16+L)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "abi_internal.h"
#include "bytes.h"
#include "fileio.h"
#include "head.h"
#include "log_internal.h"
#include "maintain_internal.h"
#include "manifest.h"
#include "partcache.h"
#include "tzcache.h"
#include "store_internal.h"
#include "tsagg_compact.h"

#define STORE_MAGIC "TSAGGSTO"
#define STORE_VERSION 1
#define STORE_FILE "tsagg.store"
#define DESCRIPTOR_MAX (16 + 8 + TSAGG_SCHEMA_ENCODED_MAX + 8)

static int write_descriptor(tsagg_store *st, const tsagg_schema *schema)
{
    uint8_t buf[DESCRIPTOR_MAX];
    size_t slen = tsagg__schema_encode(schema, buf + 24);
    uint32_t body = (uint32_t)(8 + slen);
    memcpy(buf, STORE_MAGIC, 8);
    tsagg__put_u16(buf + 8, STORE_VERSION);
    tsagg__put_u16(buf + 10, 0);
    tsagg__put_u32(buf + 12, body);
    tsagg__put_u64(buf + 16, tsagg_schema_id(schema));
    tsagg__put_u64(buf + 16 + body, XXH64(buf, 16 + body, 0));
    char path[TSAGG_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/" STORE_FILE, st->path);
    int rc = tsagg__write_file_atomic(st->io, st->path, path, buf, 16 + body + 8);
    if (rc != 0)
        return tsagg__fail(st, rc, "%s: cannot write: %s", path, tsagg_strerror(rc));
    return 0;
}

static int read_descriptor(tsagg_store *st);

/*
 * Replace the stored schema by `schema` when it differs and keeps every
 * field of the stored one (TSAGG_OPEN_SCHEMA). Called before the log
 * writer starts, so no segment of this handle carries the old schema id.
 */
static int evolve_schema(tsagg_store *st, const tsagg_schema *schema)
{
    const tsagg_schema *cur = st->schema;
    if (tsagg_schema_id(schema) == tsagg_schema_id(cur))
        return 0;
    for (size_t i = 0; i < tsagg_schema_dimension_count(cur); i++) {
        const char *name = tsagg_schema_dimension_name(cur, i);
        if (tsagg_schema_dimension_index(schema, name) < 0)
            return tsagg__fail(st, TSAGG_ESCHEMA,
                               "new schema drops dimension '%s': fields can be added, not removed",
                               name);
    }
    for (size_t i = 0; i < tsagg_schema_measure_count(cur); i++) {
        const char *name = tsagg_schema_measure_name(cur, i);
        if (tsagg_schema_measure_index(schema, name) < 0)
            return tsagg__fail(st, TSAGG_ESCHEMA,
                               "new schema drops measure '%s': fields can be added, not removed",
                               name);
    }
    int rc = write_descriptor(st, schema);
    if (rc != 0)
        return rc;
    tsagg_schema_free(st->schema);
    st->schema = NULL;
    return read_descriptor(st);
}

/* Entries a store directory may hold before its descriptor exists: what
 * an interrupted creation leaves behind. */
static int creation_leftover(void *arg, const char *name)
{
    (void)arg;
    return strcmp(name, "LOCK") && strcmp(name, "log") && strcmp(name, "parts") &&
           strcmp(name, STORE_FILE ".tmp");
}

static int read_descriptor(tsagg_store *st)
{
    char path[TSAGG_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/" STORE_FILE, st->path);
    uint8_t *buf;
    size_t len;
    int rc = tsagg__read_file(st->io, path, DESCRIPTOR_MAX, &buf, &len);
    if (rc == -ENOENT)
        return tsagg__fail(st, TSAGG_ENOTSTORE, "%s: not a tsagg store (no %s)", st->path,
                           STORE_FILE);
    if (rc == -EFBIG)
        return tsagg__fail(st, TSAGG_ENOTSTORE, "%s: not a tsagg descriptor (too large)", path);
    if (rc == -EINVAL || rc == -EISDIR)
        return tsagg__fail(st, TSAGG_ENOTSTORE, "%s: not a regular file", path);
    if (rc != 0)
        return tsagg__fail(st, rc, "%s: %s", path, tsagg_strerror(rc));
    /* The checksum before the version: every version keeps the magic, the
     * body length and the trailing checksum where version 1 has them, so a
     * damaged byte is never mistaken for another version. */
    uint32_t body = len >= 16 ? tsagg__get_u32(buf + 12) : 0;
    if (len < 16 || memcmp(buf, STORE_MAGIC, 8) != 0) {
        rc = tsagg__fail(st, TSAGG_ENOTSTORE, "%s: bad magic, not a tsagg store", path);
    } else if (body < 8 || (uint64_t)16 + body + 8 != len) {
        rc = tsagg__fail(st, TSAGG_ECORRUPT, "%s: body length %u does not match file size %zu",
                         path, body, len);
    } else if (XXH64(buf, 16 + body, 0) != tsagg__get_u64(buf + 16 + body)) {
        rc = tsagg__fail(st, TSAGG_ECHECKSUM, "%s: checksum mismatch at offset %u", path,
                         16 + body);
    } else if (tsagg__get_u16(buf + 8) != STORE_VERSION) {
        rc = tsagg__fail(st, TSAGG_EVERSION, "%s: format version %u, this library reads %u",
                         path, tsagg__get_u16(buf + 8), STORE_VERSION);
    } else {
        rc = tsagg__schema_decode(buf + 24, body - 8, &st->schema);
        if (rc != 0)
            rc = tsagg__fail(st, rc, "%s: bad schema at offset 24", path);
        else if (tsagg_schema_id(st->schema) != tsagg__get_u64(buf + 16))
            rc = tsagg__fail(st, TSAGG_ECORRUPT, "%s: schema id does not match schema", path);
    }
    free(buf);
    return rc;
}

/*
 * The writer lock is an flock on the store directory itself: nothing an
 * operator deletes while the store exists. (A lock on a file alone lets a
 * second writer in once someone removes the file, taking it for a stale
 * one.) Taking it creates nothing, so it is taken before the descriptor is
 * read and before a store is created.
 */
static int lock_directory(tsagg_store *st)
{
    int fd = st->io->open(st->io->ctx, st->path, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return tsagg__fail(st, fd == -ENOENT || fd == -ENOTDIR ? TSAGG_ENOTSTORE : fd,
                           "%s: %s", st->path, tsagg_strerror(fd));
    int rc = st->io->lock(st->io->ctx, fd);
    if (rc != 0) {
        st->io->close(st->io->ctx, fd);
        if (rc == -EWOULDBLOCK)
            return tsagg__fail(st, TSAGG_ELOCKED,
                               "%s: another process has the store open for writing", st->path);
        return tsagg__fail(st, rc, "%s: lock failed: %s", st->path, tsagg_strerror(rc));
    }
    st->dir_lock_fd = fd;
    return 0;
}

/*
 * STORE/LOCK, locked as well, keeps out writers of library versions that
 * lock only that file. Created only once the directory is known to be a
 * store.
 */
static int lock_legacy_file(tsagg_store *st)
{
    char path[TSAGG_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/LOCK", st->path);
    int fd = st->io->open(st->io->ctx, path, O_RDWR | O_CREAT, 0644);
    if (fd < 0)
        return tsagg__fail(st, fd, "%s: %s", path, tsagg_strerror(fd));
    int rc = st->io->lock(st->io->ctx, fd);
    if (rc != 0) {
        st->io->close(st->io->ctx, fd);
        if (rc == -EWOULDBLOCK)
            return tsagg__fail(st, TSAGG_ELOCKED,
                               "%s: held by a writer of an older library version", path);
        return tsagg__fail(st, rc, "%s: lock failed: %s", path, tsagg_strerror(rc));
    }
    st->lock_fd = fd;
    return 0;
}

/* fsync the directory holding the store: without it a power cut can take
 * the new store's own name, and with it every append acknowledged since. */
static int sync_parent_dir(tsagg_store *st)
{
    char parent[TSAGG_PATH_MAX];
    snprintf(parent, sizeof parent, "%s", st->path);
    size_t n = strlen(parent);
    while (n > 1 && parent[n - 1] == '/')
        n--;
    while (n > 0 && parent[n - 1] != '/')
        n--;
    while (n > 1 && parent[n - 1] == '/')
        n--;
    if (n == 0)
        snprintf(parent, sizeof parent, ".");
    else
        parent[n] = 0;
    int rc = tsagg__fsync_dir(st->io, parent);
    return rc ? tsagg__fail(st, rc, "%s: fsync of the directory: %s", parent, tsagg_strerror(rc))
              : 0;
}

static int create_layout(tsagg_store *st, const tsagg_schema *schema)
{
    int rc = st->io->mkdir(st->io->ctx, st->log_dir, 0755);
    if (rc != 0 && rc != -EEXIST)
        return tsagg__fail(st, rc, "%s: %s", st->log_dir, tsagg_strerror(rc));
    char parts[TSAGG_PATH_MAX + 32];
    snprintf(parts, sizeof parts, "%s/parts", st->path);
    rc = st->io->mkdir(st->io->ctx, parts, 0755);
    if (rc != 0 && rc != -EEXIST)
        return tsagg__fail(st, rc, "%s: %s", parts, tsagg_strerror(rc));
    tsagg_schema *fallback = NULL;
    if (!schema) {
        rc = tsagg_schema_create_default(&fallback);
        if (rc != 0)
            return rc;
        schema = fallback;
    }
    rc = write_descriptor(st, schema);
    tsagg_schema_free(fallback);
    return rc ? rc : sync_parent_dir(st);
}

/*
 * The log must reach the position the manifest says was compacted
 * (lib/log/logend.c). A salvaging writer accepts a shorter log instead: the
 * manifest's consumed position comes down to the log's end, so that new
 * events get numbers no manifest claims, while the partitions keep what
 * they hold. A damaged manifest is left to the queries and tsagg_verify()
 * that report it (and to its repair, which needs a writer).
 */
static int check_consumed(tsagg_store *st, int salvage)
{
    tsagg__snapshot *snap;
    int rc = tsagg__snapshot_acquire(st, &snap);
    if (rc == TSAGG_ECORRUPT || rc == TSAGG_ECHECKSUM || rc == TSAGG_EVERSION) {
        st->errmsg[0] = 0;
        return 0;
    }
    if (rc != 0)
        return rc;
    const tsagg__manifest *m = tsagg__snapshot_manifest(snap);
    uint64_t end;
    /* A writer would build on a log missing its first segments: no
     * salvage for that, the segments must come back. */
    if (st->writer) {
        rc = tsagg__log_check_start(st, m->log_start_segment, m->log_start_seq);
        if (rc != 0) {
            tsagg__snapshot_release(st, snap);
            return rc;
        }
    }
    rc = tsagg__log_check_consumed(st, m->consumed_seq, &end);
    if (rc == TSAGG_ECORRUPT && salvage) {
        tsagg__manifest *lowered;
        rc = tsagg__manifest_clone(m, &lowered);
        if (rc == 0) {
            lowered->consumed_seq = end;
            rc = tsagg__catalog_publish(st, lowered);
            tsagg__manifest_free(lowered);
        }
    }
    tsagg__snapshot_release(st, snap);
    return rc;
}

/* st->on_publish. A failure (memory) leaves the prune to the next append
 * or query, as before the hook. */
static void prune_head(tsagg_store *st)
{
    tsagg__head_prune_published(st, 1);
}

static int open_store(tsagg_store *st, const tsagg_options *opts)
{
    const uint32_t known =
        TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE | TSAGG_OPEN_SCHEMA | TSAGG_OPEN_SALVAGE;
    if (opts->flags & ~known)
        return tsagg__fail(st, TSAGG_EARG, "unknown flags 0x%x in tsagg_options",
                           opts->flags & ~known);
    int writer = (opts->flags & TSAGG_OPEN_WRITE) != 0;
    int create = (opts->flags & TSAGG_OPEN_CREATE) != 0;
    if (create && !writer)
        return tsagg__fail(st, TSAGG_EARG, "TSAGG_OPEN_CREATE needs TSAGG_OPEN_WRITE");
    if ((opts->flags & TSAGG_OPEN_SALVAGE) && !writer)
        return tsagg__fail(st, TSAGG_EARG, "TSAGG_OPEN_SALVAGE needs TSAGG_OPEN_WRITE");
    if (opts->maintenance && !writer)
        return tsagg__fail(st, TSAGG_EARG, "tsagg_options.maintenance needs TSAGG_OPEN_WRITE");
    if ((opts->flags & TSAGG_OPEN_SCHEMA) && (!writer || !opts->schema))
        return tsagg__fail(st, TSAGG_EARG, "TSAGG_OPEN_SCHEMA needs TSAGG_OPEN_WRITE and a schema");
    if (opts->frame_bytes < 4096 || opts->frame_bytes > (16u << 20) ||
        opts->segment_bytes < (64u << 10) || opts->sync_mode > TSAGG_SYNC_NONE ||
        opts->io_backend > TSAGG_IO_PWRITE || opts->head_max_bytes < (1u << 20) ||
        (opts->sync_mode == TSAGG_SYNC_INTERVAL && opts->sync_interval_ms == 0))
        return tsagg__fail(st, TSAGG_EARG, "options out of range");
    if (create) {
        int rc = st->io->mkdir(st->io->ctx, st->path, 0755);
        if (rc != 0 && rc != -EEXIST)
            return tsagg__fail(st, rc, "%s: %s", st->path, tsagg_strerror(rc));
    }
    if (writer) {
        int rc = lock_directory(st);
        if (rc != 0)
            return rc;
    }
    int rc = read_descriptor(st);
    if (rc == TSAGG_ENOTSTORE && create) {
        /* Only a fresh directory becomes a store: never adopt a used one, nor
         * overwrite a descriptor this library does not recognise. */
        int other = st->io->list(st->io->ctx, st->path, creation_leftover, NULL);
        if (other < 0)
            return tsagg__fail(st, other, "%s: %s", st->path, tsagg_strerror(other));
        if (other > 0)
            return tsagg__fail(st, TSAGG_ENOTSTORE,
                               "%s: not a tsagg store and not empty: will not create one here",
                               st->path);
        rc = create_layout(st, opts->schema);
        if (rc == 0)
            rc = read_descriptor(st);
    }
    if (rc == 0 && (opts->flags & TSAGG_OPEN_SCHEMA))
        rc = evolve_schema(st, opts->schema);
    if (rc == 0 && writer)
        rc = lock_legacy_file(st);
    if (rc == 0 && writer)
        rc = tsagg__writer_open(st);
    if (rc == 0)
        rc = check_consumed(st, (opts->flags & TSAGG_OPEN_SALVAGE) != 0);
    if (rc == 0)
        rc = tsagg__head_open(st);
    if (rc == 0) {
        st->on_append = tsagg__head_add;
        st->on_publish = prune_head;
    }
    if (rc == 0 && writer)
        rc = tsagg__maint_open(st, opts->maintenance);
    return rc;
}

int tsagg_store_open(const char *path, const tsagg_options *opts, tsagg_store **out,
                     char *errmsg, size_t errmsg_len)
{
    /* The caller's fields over the defaults: a caller compiled with an
     * older, shorter tsagg_options gets the defaults of the newer fields. */
    tsagg_options full;
    tsagg_options_init(&full);
    uint32_t given = opts ? opts->struct_size : (uint32_t)sizeof full;
    int size_ok = !opts || TSAGG__SIZE_OK(opts->struct_size, TSAGG__OPTIONS_SIZE_1, full);
    if (opts && size_ok) {
        memcpy(&full, opts, opts->struct_size);
        full.struct_size = sizeof full;
    }
    opts = &full;
    *out = NULL;
    if (errmsg && errmsg_len)
        errmsg[0] = 0;
    if (!size_ok) {
        if (errmsg && errmsg_len)
            snprintf(errmsg, errmsg_len,
                     "tsagg_options.struct_size %u: expected %zu..%zu (tsagg_options_init sets it)",
                     (unsigned)given, (size_t)TSAGG__OPTIONS_SIZE_1, sizeof full);
        return TSAGG_EARG;
    }
    if (!path || !*path || strlen(path) + 40 > TSAGG_PATH_MAX) {
        if (errmsg && errmsg_len)
            snprintf(errmsg, errmsg_len, "bad path or options");
        return TSAGG_EARG;
    }
    tsagg_store *st = calloc(1, sizeof *st);
    if (!st)
        return -ENOMEM;
    pthread_mutex_init(&st->err_mu, NULL);
    pthread_mutex_init(&st->catalog_mu, NULL);
    pthread_mutex_init(&st->compact_mu, NULL);
    snprintf(st->path, sizeof st->path, "%s", path);
    snprintf(st->log_dir, sizeof st->log_dir, "%s/log", path);
    st->opts = *opts;
    st->io = opts->io ? opts->io : tsagg_io_default();
    st->opts.io = st->io;
    st->opts.schema = NULL;
    st->opts.maintenance = NULL;
    st->lock_fd = -1;
    st->dir_lock_fd = -1;
    int rc = open_store(st, opts);
    if (rc != 0) {
        if (errmsg && errmsg_len)
            snprintf(errmsg, errmsg_len, "%s", st->errmsg[0] ? st->errmsg : tsagg_strerror(rc));
        tsagg__maint_close(st);
        tsagg__head_close(st);
        tsagg__catalog_free(st);
        if (st->writer)
            tsagg__writer_close(st);
        if (st->lock_fd >= 0)
            st->io->close(st->io->ctx, st->lock_fd);
        if (st->dir_lock_fd >= 0)
            st->io->close(st->io->ctx, st->dir_lock_fd);
        tsagg_schema_free(st->schema);
        pthread_mutex_destroy(&st->err_mu);
        pthread_mutex_destroy(&st->catalog_mu);
        pthread_mutex_destroy(&st->compact_mu);
        free(st);
        return rc;
    }
    /* Creating a store first fails to read its descriptor: no failure the
     * caller should see on the new handle. */
    st->errmsg[0] = 0;
    *out = st;
    return 0;
}

int tsagg_store_close(tsagg_store *store)
{
    if (!store)
        return 0;
    int rc = 0;
    tsagg__maint_close(store); /* its step may be using everything below */
    store->on_append = NULL;
    tsagg__head_close(store);
    tsagg__partcache_free(store);
    tsagg__tzcache_free(store);
    tsagg__catalog_free(store);
    if (store->writer)
        rc = tsagg__writer_close(store);
    if (store->lock_fd >= 0)
        store->io->close(store->io->ctx, store->lock_fd);
    if (store->dir_lock_fd >= 0)
        store->io->close(store->io->ctx, store->dir_lock_fd);
    tsagg_schema_free(store->schema);
    pthread_mutex_destroy(&store->err_mu);
    pthread_mutex_destroy(&store->catalog_mu);
    pthread_mutex_destroy(&store->compact_mu);
    free(store);
    return rc;
}

/* With a maintenance thread, the head may hold this many times
 * head_max_bytes before the appending thread compacts itself. */
#define HEAD_HARD_CAP 4

/*
 * The head past its bound and no maintenance thread compacting it in time.
 * The appending thread compacts (one at a time; the others go on
 * appending), so that memory stays bounded without refusing events: with
 * the maintenance thread's compaction options when there is one (it waits
 * for that thread's compaction in progress, then compacts what is left),
 * else with the defaults. The append succeeded whatever happens here: a
 * failed compaction leaves its message in the handle's errmsg, and the next
 * append past the bound tries again. The compaction prunes the head itself
 * (st->on_publish).
 */
static void compact_inline(tsagg_store *st, const tsagg_compact_options *co)
{
    int idle = 0;
    if (!atomic_compare_exchange_strong(&st->head->compacting, &idle, 1))
        return;
    if (tsagg_flush(st) == 0)
        tsagg_compact(st, co, NULL);
    atomic_store(&st->head->compacting, 0);
}

/*
 * Compaction for the head's bound. With a maintenance thread, the append
 * that finds the head past head_max_bytes wakes it and returns: compacting
 * here would hold the appending thread (a server's request thread) for
 * seconds. Only past HEAD_HARD_CAP times the bound, when maintenance does
 * not keep up (appends outrun compaction, or it fails), does the append
 * compact. Without one, past twice the bound, as the append always did.
 */
static void keep_head_bounded(tsagg_store *st)
{
    if (!tsagg__maint_running(st)) {
        if (tsagg__head_must_compact(st))
            compact_inline(st, NULL);
        return;
    }
    if (!tsagg__head_wants_compaction(st))
        return;
    tsagg__maint_wake(st);
    if (tsagg__head_bytes(st) / HEAD_HARD_CAP >= st->opts.head_max_bytes) {
        tsagg_compact_options co;
        tsagg__maint_compact_options(st, &co);
        compact_inline(st, &co);
    }
}

/* Into the log, which hands them to the head (st->on_append). The events
 * are durable (or on their way, by the sync mode) once the log took them:
 * the head cannot fail the append, a head that could not take them is
 * rebuilt by the next query. Then what compaction consumed leaves the head,
 * and past its bound the head is compacted (keep_head_bounded). */
static int append_indexed(tsagg_store *st, const tsagg_event *evs, size_t n, uint64_t *first_seq,
                          int check_ts)
{
    uint64_t seq0;
    int rc = tsagg__log_append(st, evs, n, &seq0, check_ts);
    if (rc != 0)
        return rc;
    if (first_seq)
        *first_seq = seq0;
    tsagg__head_prune_published(st, 0);
    /* Not during a bulk load: its thread holds the compaction lock, and
     * its events do not grow the head. */
    if (!__atomic_load_n(&st->bulk_loads, __ATOMIC_SEQ_CST))
        keep_head_bounded(st);
    return 0;
}

int tsagg_append(tsagg_store *st, const tsagg_event *evs, size_t n, uint64_t *first_seq)
{
    return append_indexed(st, evs, n, first_seq, 1);
}

/* Used only by tests: a log written before appends checked ts. */
int tsagg__append_unchecked_ts(tsagg_store *st, const tsagg_event *evs, size_t n,
                               uint64_t *first_seq)
{
    return append_indexed(st, evs, n, first_seq, 0);
}
