/*
 * catalog.c - snapshots of the published manifest, and removal of the files
 * a newer manifest dropped once no snapshot of this process can use them.
 *
 * Readers in other processes are never told; they hold open descriptors
 * (unaffected by unlink) or, having read an older manifest, find a file
 * missing and reload the manifest.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "fileio.h"
#include "manifest.h"

struct tsagg__snapshot {
    tsagg__manifest *m;
    int refs;
    int current;
    struct tsagg__snapshot *next; /* live list */
};

typedef tsagg__part_ref pending_file; /* its span and id name the file */

struct tsagg__catalog {
    pthread_mutex_t mu;
    struct tsagg__snapshot *current;
    struct tsagg__snapshot *live; /* current and every held snapshot */
    pending_file *pending;        /* dropped, awaiting removal */
    size_t npending, pending_cap;
    /* A publish failed: the file on disk may be the old manifest or the new
     * one (a failed directory fsync after the rename), so the writer reads
     * it again before it trusts `current` (sweep, snapshots, publish). */
    int stale;
};

static int listed_by_live(const struct tsagg__catalog *c, uint64_t file_id)
{
    for (const struct tsagg__snapshot *s = c->live; s; s = s->next)
        if (tsagg__manifest_has(s->m, file_id))
            return 1;
    return 0;
}

/* Remove pending files no live snapshot lists. Under c->mu. */
static void collect(tsagg_store *st, struct tsagg__catalog *c)
{
    size_t kept = 0;
    for (size_t i = 0; i < c->npending; i++) {
        pending_file *p = &c->pending[i];
        if (listed_by_live(c, p->file_id)) {
            c->pending[kept++] = *p;
            continue;
        }
        char path[TSAGG_PATH_MAX + 64];
        tsagg__part_file_path(st, p, path, sizeof path);
        st->io->unlink(st->io->ctx, path); /* a leftover is swept later */
    }
    c->npending = kept;
}

static void unlink_snapshot(struct tsagg__catalog *c, struct tsagg__snapshot *s)
{
    for (struct tsagg__snapshot **pp = &c->live; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    tsagg__manifest_free(s->m);
    free(s);
}

static int make_current(struct tsagg__catalog *c, tsagg__manifest *m)
{
    struct tsagg__snapshot *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->m = m;
    s->current = 1;
    s->next = c->live;
    c->live = s;
    c->current = s;
    return 0;
}

/* The catalog, created with the manifest on disk at first use. */
static int catalog_get(tsagg_store *st, struct tsagg__catalog **out)
{
    pthread_mutex_lock(&st->catalog_mu);
    int rc = 0;
    if (!st->catalog) {
        struct tsagg__catalog *c = calloc(1, sizeof *c);
        tsagg__manifest *m = NULL;
        rc = c ? tsagg__manifest_load(st, &m) : -ENOMEM;
        if (rc == 0)
            rc = make_current(c, m);
        if (rc == 0) {
            pthread_mutex_init(&c->mu, NULL);
            st->catalog = c;
        } else {
            tsagg__manifest_free(m);
            free(c);
        }
    }
    *out = st->catalog;
    pthread_mutex_unlock(&st->catalog_mu);
    return rc;
}

/* Version of the manifest on disk (0 when there is none), read cheaply. */
static int disk_version(tsagg_store *st, uint64_t *version)
{
    char path[TSAGG_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/MANIFEST", st->path);
    int fd = st->io->open(st->io->ctx, path, O_RDONLY | O_NONBLOCK, 0); /* never a FIFO's wait */
    if (fd == -ENOENT) {
        *version = 0;
        return 0;
    }
    if (fd < 0)
        return fd;
    uint8_t head[24];
    int rc = tsagg__read_all(st->io, fd, head, sizeof head, 0, NULL);
    st->io->close(st->io->ctx, fd);
    if (rc != 0)
        return rc < 0 ? rc : TSAGG_ECORRUPT;
    *version = tsagg__get_u64(head + 16);
    return 0;
}

/* Room in c->pending for every file of manifest m. Under c->mu. */
static int pending_reserve(struct tsagg__catalog *c, const tsagg__manifest *m)
{
    size_t need = c->npending + m->nparts;
    if (need <= c->pending_cap)
        return 0;
    pending_file *p = realloc(c->pending, need * sizeof *p);
    if (!p)
        return -ENOMEM;
    c->pending = p;
    c->pending_cap = need;
    return 0;
}

/* Queue the files of old that m no longer lists (room reserved). */
static void pending_add_dropped(struct tsagg__catalog *c, const tsagg__manifest *old,
                                const tsagg__manifest *m)
{
    for (size_t i = 0; i < old->nparts; i++) {
        const tsagg__part_ref *r = &old->parts[i];
        if (!tsagg__manifest_has(m, r->file_id))
            c->pending[c->npending++] = *r;
    }
}

/* Read-only handles follow the writer's publishes by re-reading the file
 * when its version moved; a writer does so after a failed publish. Under
 * c->mu. */
static int refresh(tsagg_store *st, struct tsagg__catalog *c)
{
    uint64_t v;
    int rc = disk_version(st, &v);
    if (rc != 0)
        return tsagg__fail(st, rc, "%s/MANIFEST: %s", st->path, tsagg_strerror(rc));
    if (v == c->current->m->version) {
        c->stale = 0;
        return 0;
    }
    tsagg__manifest *m;
    rc = tsagg__manifest_load(st, &m);
    if (rc != 0)
        return rc;
    struct tsagg__snapshot *old = c->current;
    if (st->writer)
        rc = pending_reserve(c, old->m);
    if (rc == 0)
        rc = make_current(c, m);
    if (rc != 0) {
        tsagg__manifest_free(m);
        return rc;
    }
    c->stale = 0;
    old->current = 0;
    if (st->writer)
        pending_add_dropped(c, old->m, m);
    if (old->refs == 0)
        unlink_snapshot(c, old);
    if (st->writer)
        collect(st, c);
    return 0;
}

int tsagg__snapshot_acquire(tsagg_store *st, tsagg__snapshot **out)
{
    struct tsagg__catalog *c;
    int rc = catalog_get(st, &c);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&c->mu);
    if (!st->writer || c->stale)
        rc = refresh(st, c);
    if (rc == 0) {
        c->current->refs++;
        *out = c->current;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void tsagg__snapshot_release(tsagg_store *st, tsagg__snapshot *s)
{
    struct tsagg__catalog *c = st->catalog;
    pthread_mutex_lock(&c->mu);
    if (--s->refs == 0 && !s->current) {
        unlink_snapshot(c, s);
        if (st->writer)
            collect(st, c);
    }
    pthread_mutex_unlock(&c->mu);
}

const tsagg__manifest *tsagg__snapshot_manifest(const tsagg__snapshot *s)
{
    return s->m;
}

int tsagg__catalog_publish(tsagg_store *st, const tsagg__manifest *next)
{
    struct tsagg__catalog *c;
    int rc = catalog_get(st, &c);
    if (rc != 0)
        return rc;
    tsagg__manifest *m;
    rc = tsagg__manifest_clone(next, &m);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&c->mu);
    if (c->stale)
        rc = refresh(st, c);
    struct tsagg__snapshot *old = c->current;
    m->version = old->m->version + 1;
    /* Room to remember what the new manifest drops, before it is written:
     * once it is on disk, nothing may fail before it becomes current. */
    if (rc == 0)
        rc = pending_reserve(c, old->m);
    if (rc == 0) {
        rc = tsagg__manifest_write(st, m);
        if (rc != 0)
            c->stale = 1; /* the rename may have happened */
    }
    if (rc == 0)
        rc = make_current(c, m);
    if (rc != 0) {
        if (rc == -ENOMEM)
            c->stale = 1;
        pthread_mutex_unlock(&c->mu);
        tsagg__manifest_free(m);
        return rc;
    }
    pending_add_dropped(c, old->m, m);
    old->current = 0;
    if (old->refs == 0)
        unlink_snapshot(c, old);
    collect(st, c);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

typedef struct sweep_ctx {
    tsagg_store *st;
    struct tsagg__catalog *c;
} sweep_ctx;

static int sweep_one(void *arg, const char *name)
{
    sweep_ctx *x = arg;
    uint64_t id;
    size_t len = strlen(name);
    /* Temporary files and sorted runs belong to a compaction that died. */
    int tmp = (len > 4 && strcmp(name + len - 4, ".tmp") == 0) || strncmp(name, "run-", 4) == 0;
    if (!tmp && (tsagg__part_name_parse(name, &id) != 0 || listed_by_live(x->c, id)))
        return 0;
    if (!tmp) {
        for (size_t i = 0; i < x->c->npending; i++)
            if (x->c->pending[i].file_id == id)
                return 0;
    }
    char path[TSAGG_PATH_MAX + 300];
    snprintf(path, sizeof path, "%s/parts/%s", x->st->path, name);
    x->st->io->unlink(x->st->io->ctx, path);
    return 0;
}

int tsagg__catalog_sweep(tsagg_store *st)
{
    struct tsagg__catalog *c;
    int rc = catalog_get(st, &c);
    if (rc != 0)
        return rc;
    char dir[TSAGG_PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/parts", st->path);
    pthread_mutex_lock(&c->mu);
    /* After a failed publish the manifest on disk may list files that
     * `current` does not: never remove those. */
    if (c->stale)
        rc = refresh(st, c);
    if (rc == 0) {
        /* A manifest write a crash interrupted (publishes run under the
         * store's compaction lock, as sweeps do: never a live one). */
        char tmp[TSAGG_PATH_MAX + 32];
        snprintf(tmp, sizeof tmp, "%s/MANIFEST.tmp", st->path);
        st->io->unlink(st->io->ctx, tmp);
        sweep_ctx x = {st, c};
        rc = st->io->list(st->io->ctx, dir, sweep_one, &x);
        if (rc == -ENOENT)
            rc = 0;
        else if (rc != 0)
            rc = tsagg__fail(st, rc, "%s: %s", dir, tsagg_strerror(rc));
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int tsagg__catalog_replace_outdated(tsagg_store *st, const tsagg__manifest *next)
{
    tsagg__manifest *old;
    uint64_t files;
    int rc = tsagg__manifest_load_outdated(st, &old, &files);
    if (rc == 0)
        return tsagg__fail(st, TSAGG_ECORRUPT, "%s/MANIFEST: no longer of an older format",
                           st->path);
    if (rc < 0)
        return rc;
    tsagg__manifest *m;
    rc = tsagg__manifest_clone(next, &m);
    if (rc == 0) {
        m->version = old->version + 1;
        rc = tsagg__manifest_write(st, m);
        tsagg__manifest_free(m);
    }
    tsagg__manifest_free(old);
    return rc;
}

void tsagg__catalog_free(tsagg_store *st)
{
    struct tsagg__catalog *c = st->catalog;
    if (!c)
        return;
    if (st->writer)
        collect(st, c); /* no snapshot is held any more */
    while (c->live)
        unlink_snapshot(c, c->live);
    free(c->pending);
    pthread_mutex_destroy(&c->mu);
    free(c);
    st->catalog = NULL;
}
