/* powercut.c - a tsagg_io table that models what survives a power cut (see powercut.h). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "powercut.h"
#include "testutil.h"

#define PC_SECTOR 512u
#define PC_PATH_MAX 4096

/* An unsynced change of a file: a write of len bytes at off, or (trunc) a
 * truncation to off bytes. */
typedef struct pc_change {
    uint64_t seq;
    uint64_t off, len;
    uint8_t *data;
    int trunc;
} pc_change;

typedef struct pc_obj pc_obj;

typedef struct pc_entry {
    char *name;
    pc_obj *obj;
} pc_entry;

/* A file (by inode) or a directory (by path under the root). */
struct pc_obj {
    int dir;
    int live;        /* files: still the owner of (dev, ino) */
    dev_t dev;
    ino_t ino;
    char *rel;       /* directories: path relative to the root, "" for it */
    uint8_t *img;    /* files: content at the last fsync */
    uint64_t len;
    pc_change *ch;   /* files: changes since */
    size_t nch, capch;
    pc_entry *ents;  /* directories: entries at the last fsync */
    size_t nents;
    uint64_t synced_at; /* directories: sequence number of that fsync */
};

/* A name change in a directory since its last fsync: obj NULL removes the
 * name. A rename is a removal and an addition with one sequence number. */
typedef struct pc_nameop {
    uint64_t seq;
    pc_obj *dir;
    char *name;
    pc_obj *obj;
} pc_nameop;

struct powercut {
    tsagg_io table;
    const tsagg_io *base;
    char root[PC_PATH_MAX];
    size_t rootlen;
    pthread_mutex_t mu;
    pc_obj **objs;
    size_t nobjs, capobjs;
    pc_nameop *nops;
    size_t nnops, capnops;
    pc_obj **fds;
    size_t nfds;
    uint64_t seq;     /* orders every change and name change */
    uint64_t calls;   /* mutating calls */
    uint64_t cut_at;
    uint64_t seed;
    _Atomic int cut;
};

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    cr_assert_not_null(q, "powercut: out of memory");
    return q;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    cr_assert_not_null(d, "powercut: out of memory");
    return d;
}

/* ---- the model ----------------------------------------------------------- */

static pc_obj *new_obj(powercut *pc, int dir)
{
    if (pc->nobjs == pc->capobjs) {
        pc->capobjs = pc->capobjs ? 2 * pc->capobjs : 64;
        pc->objs = xrealloc(pc->objs, pc->capobjs * sizeof *pc->objs);
    }
    pc_obj *o = xrealloc(NULL, sizeof *o);
    memset(o, 0, sizeof *o);
    o->dir = dir;
    pc->objs[pc->nobjs++] = o;
    return o;
}

/* Make o the file known by (dev, ino): a reused inode number is a new file. */
static void bind_ino(powercut *pc, pc_obj *o, const struct stat *sb)
{
    for (size_t i = 0; i < pc->nobjs; i++) {
        pc_obj *p = pc->objs[i];
        if (!p->dir && p->live && p->dev == sb->st_dev && p->ino == sb->st_ino)
            p->live = 0;
    }
    o->dev = sb->st_dev;
    o->ino = sb->st_ino;
    o->live = 1;
}

static pc_obj *file_by_ino(powercut *pc, const struct stat *sb)
{
    for (size_t i = pc->nobjs; i-- > 0;) {
        pc_obj *p = pc->objs[i];
        if (!p->dir && p->live && p->dev == sb->st_dev && p->ino == sb->st_ino)
            return p;
    }
    return NULL;
}

static pc_obj *dir_by_rel(powercut *pc, const char *rel)
{
    for (size_t i = 0; i < pc->nobjs; i++)
        if (pc->objs[i]->dir && !strcmp(pc->objs[i]->rel, rel))
            return pc->objs[i];
    return NULL;
}

/* The path relative to the root ("" for the root), or NULL outside it. */
static const char *rel_of(const powercut *pc, const char *path)
{
    if (strncmp(path, pc->root, pc->rootlen) != 0)
        return NULL;
    const char *r = path + pc->rootlen;
    if (*r == 0)
        return r;
    if (*r != '/')
        return NULL;
    while (*r == '/')
        r++;
    return r;
}

/* Split rel into its parent directory (into parent) and its last name. */
static const char *split(const char *rel, char *parent, size_t cap)
{
    const char *slash = strrchr(rel, '/');
    if (!slash) {
        parent[0] = 0;
        return rel;
    }
    snprintf(parent, cap, "%.*s", (int)(slash - rel), rel);
    return slash + 1;
}

static void read_whole(const char *path, pc_obj *o)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert(fd >= 0, "powercut: %s: %s", path, strerror(errno));
    struct stat sb;
    cr_assert_eq(fstat(fd, &sb), 0);
    o->len = (uint64_t)sb.st_size;
    o->img = xrealloc(NULL, (size_t)o->len);
    size_t done = 0;
    while (done < o->len) {
        ssize_t n = pread(fd, o->img + done, (size_t)o->len - done, (off_t)done);
        cr_assert(n > 0, "powercut: %s: short read", path);
        done += (size_t)n;
    }
    close(fd);
}

/* A file the model has not seen (existing before the init): durable as is. */
static pc_obj *adopt_file(powercut *pc, const char *path, const struct stat *sb)
{
    pc_obj *o = new_obj(pc, 0);
    bind_ino(pc, o, sb);
    read_whole(path, o);
    return o;
}

/* The object a path names now, or NULL. */
static pc_obj *obj_at(powercut *pc, const char *path, const char *rel)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return NULL;
    if (S_ISDIR(sb.st_mode))
        return dir_by_rel(pc, rel);
    pc_obj *o = file_by_ino(pc, &sb);
    return o ? o : adopt_file(pc, path, &sb);
}

static void set_entry(pc_entry **ents, size_t *n, const char *name, pc_obj *obj)
{
    for (size_t i = 0; i < *n; i++) {
        if (!strcmp((*ents)[i].name, name)) {
            if (obj) {
                (*ents)[i].obj = obj;
            } else {
                free((*ents)[i].name);
                (*ents)[i] = (*ents)[--*n];
            }
            return;
        }
    }
    if (!obj)
        return;
    *ents = xrealloc(*ents, (*n + 1) * sizeof **ents);
    (*ents)[*n].name = xstrdup(name);
    (*ents)[*n].obj = obj;
    ++*n;
}

/* The directory's entries now, on the real file system: its fsync. */
static void snapshot_dir(powercut *pc, pc_obj *d)
{
    char path[2 * PC_PATH_MAX];
    snprintf(path, sizeof path, "%s%s%s", pc->root, d->rel[0] ? "/" : "", d->rel);
    for (size_t i = 0; i < d->nents; i++)
        free(d->ents[i].name);
    d->nents = 0;
    DIR *dh = opendir(path);
    cr_assert_not_null(dh, "powercut: %s: %s", path, strerror(errno));
    struct dirent *de;
    while ((de = readdir(dh))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        char child[3 * PC_PATH_MAX], crel[3 * PC_PATH_MAX];
        snprintf(child, sizeof child, "%s/%s", path, de->d_name);
        snprintf(crel, sizeof crel, "%s%s%s", d->rel, d->rel[0] ? "/" : "", de->d_name);
        struct stat sb;
        if (lstat(child, &sb) != 0)
            continue;
        pc_obj *o;
        if (S_ISDIR(sb.st_mode)) {
            o = dir_by_rel(pc, crel);
            if (!o) {
                o = new_obj(pc, 1);
                o->rel = xstrdup(crel);
                snapshot_dir(pc, o);
            }
        } else {
            o = file_by_ino(pc, &sb);
            if (!o)
                o = adopt_file(pc, child, &sb);
        }
        set_entry(&d->ents, &d->nents, de->d_name, o);
    }
    closedir(dh);
    d->synced_at = ++pc->seq;
}

static void add_nameop(powercut *pc, uint64_t seq, const char *rel, pc_obj *obj)
{
    char parent[PC_PATH_MAX];
    const char *name = split(rel, parent, sizeof parent);
    pc_obj *d = dir_by_rel(pc, parent);
    if (!d)
        return;
    if (pc->nnops == pc->capnops) {
        pc->capnops = pc->capnops ? 2 * pc->capnops : 256;
        pc->nops = xrealloc(pc->nops, pc->capnops * sizeof *pc->nops);
    }
    pc->nops[pc->nnops++] = (pc_nameop){.seq = seq, .dir = d, .name = xstrdup(name), .obj = obj};
}

static void add_change(powercut *pc, pc_obj *o, uint64_t off, const void *data, uint64_t len,
                       int trunc)
{
    if (o->nch == o->capch) {
        o->capch = o->capch ? 2 * o->capch : 16;
        o->ch = xrealloc(o->ch, o->capch * sizeof *o->ch);
    }
    pc_change *c = &o->ch[o->nch++];
    *c = (pc_change){.seq = ++pc->seq, .off = off, .len = len, .trunc = trunc};
    if (!trunc) {
        c->data = xrealloc(NULL, (size_t)len);
        memcpy(c->data, data, (size_t)len);
    }
}

static void buf_write(uint8_t **buf, uint64_t *len, uint64_t off, const uint8_t *p, uint64_t n)
{
    if (n == 0)
        return;
    if (off + n > *len) {
        *buf = xrealloc(*buf, (size_t)(off + n));
        if (off > *len)
            memset(*buf + *len, 0, (size_t)(off - *len));
        *len = off + n;
    }
    memcpy(*buf + off, p, (size_t)n);
}

static void buf_truncate(uint8_t **buf, uint64_t *len, uint64_t size)
{
    if (size > *len) {
        *buf = xrealloc(*buf, (size_t)size);
        memset(*buf + *len, 0, (size_t)(size - *len));
    }
    *len = size;
}

static void apply_change(uint8_t **buf, uint64_t *len, const pc_change *c)
{
    if (c->trunc)
        buf_truncate(buf, len, c->off);
    else
        buf_write(buf, len, c->off, c->data, c->len);
}

static void sync_file(pc_obj *o)
{
    for (size_t i = 0; i < o->nch; i++) {
        apply_change(&o->img, &o->len, &o->ch[i]);
        free(o->ch[i].data);
    }
    o->nch = 0;
}

/* Count a mutating call: -EIO once the power is cut (at this call or before). */
static int gate(powercut *pc)
{
    pc->calls++;
    if (atomic_load(&pc->cut))
        return -EIO;
    if (pc->cut_at && pc->calls >= pc->cut_at) {
        atomic_store(&pc->cut, 1);
        return -EIO;
    }
    return 0;
}

static void set_fd(powercut *pc, int fd, pc_obj *o)
{
    if ((size_t)fd >= pc->nfds) {
        size_t n = (size_t)fd + 64;
        pc->fds = xrealloc(pc->fds, n * sizeof *pc->fds);
        memset(pc->fds + pc->nfds, 0, (n - pc->nfds) * sizeof *pc->fds);
        pc->nfds = n;
    }
    pc->fds[fd] = o;
}

static pc_obj *obj_of_fd(powercut *pc, int fd)
{
    return fd >= 0 && (size_t)fd < pc->nfds ? pc->fds[fd] : NULL;
}

/* ---- the table ----------------------------------------------------------- */

#define SELF(ctx) ((powercut *)(ctx))

static int pc_open(void *ctx, const char *path, int flags, unsigned mode)
{
    powercut *pc = SELF(ctx);
    int mutating = (flags & (O_CREAT | O_TRUNC)) != 0;
    pthread_mutex_lock(&pc->mu);
    int rc = mutating ? gate(pc) : 0;
    if (rc != 0) {
        pthread_mutex_unlock(&pc->mu);
        return rc;
    }
    const char *rel = rel_of(pc, path);
    struct stat before;
    int existed = rel && lstat(path, &before) == 0;
    int fd = pc->base->open(pc->base->ctx, path, flags, mode);
    if (fd >= 0 && rel) {
        struct stat sb;
        cr_assert_eq(fstat(fd, &sb), 0);
        pc_obj *o;
        if (S_ISDIR(sb.st_mode)) {
            o = dir_by_rel(pc, rel);
        } else if (!existed) {
            o = new_obj(pc, 0);
            bind_ino(pc, o, &sb);
            add_nameop(pc, ++pc->seq, rel, o);
        } else {
            o = file_by_ino(pc, &sb);
            if (!o)
                o = adopt_file(pc, path, &sb);
            if (flags & O_TRUNC)
                add_change(pc, o, 0, NULL, 0, 1);
        }
        set_fd(pc, fd, o);
    } else if (fd >= 0) {
        set_fd(pc, fd, NULL); /* untracked, whatever this number was before */
    }
    pthread_mutex_unlock(&pc->mu);
    return fd;
}

static int pc_close(void *ctx, int fd)
{
    powercut *pc = SELF(ctx);
    pthread_mutex_lock(&pc->mu);
    if (obj_of_fd(pc, fd))
        pc->fds[fd] = NULL;
    int rc = pc->base->close(pc->base->ctx, fd);
    pthread_mutex_unlock(&pc->mu);
    return rc;
}

static ssize_t pc_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off)
{
    powercut *pc = SELF(ctx);
    return pc->base->pread(pc->base->ctx, fd, buf, len, off);
}

static ssize_t pc_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t off)
{
    powercut *pc = SELF(ctx);
    pthread_mutex_lock(&pc->mu);
    ssize_t n = gate(pc);
    if (n == 0) {
        n = pc->base->pwrite(pc->base->ctx, fd, buf, len, off);
        pc_obj *o = obj_of_fd(pc, fd);
        if (n > 0 && o && !o->dir)
            add_change(pc, o, off, buf, (uint64_t)n, 0);
    }
    pthread_mutex_unlock(&pc->mu);
    return n;
}

static int pc_fsync(void *ctx, int fd)
{
    powercut *pc = SELF(ctx);
    pthread_mutex_lock(&pc->mu);
    int rc = gate(pc);
    if (rc == 0) {
        /* The model decides what is durable: the real fsync would only cost
         * time. A bad descriptor still fails as it would. */
        rc = fcntl(fd, F_GETFD) < 0 ? -errno : 0;
        pc_obj *o = obj_of_fd(pc, fd);
        if (rc == 0 && o)
            o->dir ? snapshot_dir(pc, o) : sync_file(o);
    }
    pthread_mutex_unlock(&pc->mu);
    return rc;
}

static int pc_ftruncate(void *ctx, int fd, uint64_t size)
{
    powercut *pc = SELF(ctx);
    pthread_mutex_lock(&pc->mu);
    int rc = gate(pc);
    if (rc == 0) {
        rc = pc->base->ftruncate(pc->base->ctx, fd, size);
        pc_obj *o = obj_of_fd(pc, fd);
        if (rc == 0 && o && !o->dir)
            add_change(pc, o, size, NULL, 0, 1);
    }
    pthread_mutex_unlock(&pc->mu);
    return rc;
}

static int pc_fsize(void *ctx, int fd, uint64_t *size)
{
    powercut *pc = SELF(ctx);
    return pc->base->fsize(pc->base->ctx, fd, size);
}

static int pc_rename(void *ctx, const char *from, const char *to)
{
    powercut *pc = SELF(ctx);
    pthread_mutex_lock(&pc->mu);
    int rc = gate(pc);
    if (rc == 0) {
        const char *rfrom = rel_of(pc, from), *rto = rel_of(pc, to);
        pc_obj *o = rfrom ? obj_at(pc, from, rfrom) : NULL;
        rc = pc->base->rename(pc->base->ctx, from, to);
        cr_assert(!o || !o->dir, "powercut: renaming directories is not modelled");
        if (rc == 0) {
            uint64_t seq = ++pc->seq;
            if (rfrom)
                add_nameop(pc, seq, rfrom, NULL);
            if (rto && o)
                add_nameop(pc, seq, rto, o);
        }
    }
    pthread_mutex_unlock(&pc->mu);
    return rc;
}

static int pc_unlink(void *ctx, const char *path)
{
    powercut *pc = SELF(ctx);
    pthread_mutex_lock(&pc->mu);
    int rc = gate(pc);
    if (rc == 0) {
        rc = pc->base->unlink(pc->base->ctx, path);
        const char *rel = rel_of(pc, path);
        if (rc == 0 && rel)
            add_nameop(pc, ++pc->seq, rel, NULL);
    }
    pthread_mutex_unlock(&pc->mu);
    return rc;
}

static int pc_mkdir(void *ctx, const char *path, unsigned mode)
{
    powercut *pc = SELF(ctx);
    pthread_mutex_lock(&pc->mu);
    int rc = gate(pc);
    if (rc == 0) {
        rc = pc->base->mkdir(pc->base->ctx, path, mode);
        const char *rel = rel_of(pc, path);
        if (rc == 0 && rel && rel[0]) {
            pc_obj *d = new_obj(pc, 1);
            d->rel = xstrdup(rel);
            d->synced_at = ++pc->seq; /* empty, and durably so */
            add_nameop(pc, ++pc->seq, rel, d);
        }
    }
    pthread_mutex_unlock(&pc->mu);
    return rc;
}

static int pc_lock(void *ctx, int fd)
{
    powercut *pc = SELF(ctx);
    return pc->base->lock(pc->base->ctx, fd);
}

static int pc_list(void *ctx, const char *dir, int (*fn)(void *arg, const char *name), void *arg)
{
    powercut *pc = SELF(ctx);
    return pc->base->list(pc->base->ctx, dir, fn, arg);
}

/* ---- set-up -------------------------------------------------------------- */

powercut *powercut_init(const char *root)
{
    powercut *pc = xrealloc(NULL, sizeof *pc);
    memset(pc, 0, sizeof *pc);
    pc->base = tsagg_io_default();
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        n--;
    cr_assert_lt(n, sizeof pc->root);
    memcpy(pc->root, root, n);
    pc->root[n] = 0;
    pc->rootlen = n;
    pthread_mutex_init(&pc->mu, NULL);
    atomic_init(&pc->cut, 0);
    pc_obj *top = new_obj(pc, 1);
    top->rel = xstrdup("");
    snapshot_dir(pc, top); /* recursively: everything there now is durable */
    pc->table = (tsagg_io){
        .version = TSAGG_IO_VERSION,
        .ctx = pc,
        .open = pc_open,
        .close = pc_close,
        .pread = pc_pread,
        .pwrite = pc_pwrite,
        .fsync = pc_fsync,
        .ftruncate = pc_ftruncate,
        .fsize = pc_fsize,
        .rename = pc_rename,
        .unlink = pc_unlink,
        .mkdir = pc_mkdir,
        .lock = pc_lock,
        .list = pc_list,
    };
    return pc;
}

void powercut_free(powercut *pc)
{
    if (!pc)
        return;
    for (size_t i = 0; i < pc->nobjs; i++) {
        pc_obj *o = pc->objs[i];
        for (size_t j = 0; j < o->nch; j++)
            free(o->ch[j].data);
        for (size_t j = 0; j < o->nents; j++)
            free(o->ents[j].name);
        free(o->ch);
        free(o->ents);
        free(o->img);
        free(o->rel);
        free(o);
    }
    for (size_t i = 0; i < pc->nnops; i++)
        free(pc->nops[i].name);
    free(pc->objs);
    free(pc->nops);
    free(pc->fds);
    pthread_mutex_destroy(&pc->mu);
    free(pc);
}

const tsagg_io *powercut_table(powercut *pc)
{
    return &pc->table;
}

void powercut_arm(powercut *pc, uint64_t n, uint64_t seed)
{
    pthread_mutex_lock(&pc->mu);
    pc->cut_at = n;
    pc->seed = seed;
    pthread_mutex_unlock(&pc->mu);
}

uint64_t powercut_calls(powercut *pc)
{
    pthread_mutex_lock(&pc->mu);
    uint64_t n = pc->calls;
    pthread_mutex_unlock(&pc->mu);
    return n;
}

int powercut_is_cut(powercut *pc)
{
    return atomic_load(&pc->cut);
}

void powercut_cut_now(powercut *pc)
{
    atomic_store(&pc->cut, 1);
}

const char *powercut_mode_name(int mode)
{
    static const char *const names[PC_NMODES] = {"durable", "torn", "reorder", "scatter"};
    return mode >= 0 && mode < PC_NMODES ? names[mode] : "?";
}

/* ---- the image ----------------------------------------------------------- */

typedef struct image_plan {
    int mode;
    uint64_t rng;
    uint64_t name_limit;    /* name changes with a smaller seq landed */
    const pc_change *torn;  /* PC_TORN: the last unsynced write */
    uint64_t torn_keep;     /* ... of which this many bytes landed */
    size_t keep;            /* PC_REORDER: changes of the current file kept */
} image_plan;

/* How much of write c lands when it is torn: 0, 1, ... whole sectors of
 * it, never all of it. */
static uint64_t torn_prefix(const pc_change *c, uint64_t *rng)
{
    uint64_t first = (c->off / PC_SECTOR + 1) * PC_SECTOR, end = c->off + c->len;
    uint64_t choices = 1 + (first < end ? (end - 1 - first) / PC_SECTOR + 1 : 0);
    uint64_t pick = tu_splitmix64(rng) % choices;
    return pick == 0 ? 0 : first + (pick - 1) * PC_SECTOR - c->off;
}

/* The content of file o on the disk after the cut. */
static void file_image(const pc_obj *o, image_plan *plan, uint8_t **buf, uint64_t *len)
{
    *len = o->len;
    *buf = xrealloc(NULL, (size_t)o->len);
    if (o->len)
        memcpy(*buf, o->img, (size_t)o->len);
    if (plan->mode == PC_DURABLE)
        return;
    for (size_t i = 0; i < o->nch; i++) {
        const pc_change *c = &o->ch[i];
        if (c->trunc) {
            if (plan->mode != PC_REORDER || i < plan->keep)
                apply_change(buf, len, c);
        } else if (plan->mode == PC_TORN) {
            uint64_t n = c == plan->torn ? plan->torn_keep : c->len;
            if (n)
                buf_write(buf, len, c->off, c->data, n);
        } else if (plan->mode == PC_REORDER) {
            /* This file's changes landed in order up to one torn write;
             * each file independently of the others. */
            if (i == 0)
                plan->keep = tu_splitmix64(&plan->rng) % (o->nch + 1);
            if (i < plan->keep)
                buf_write(buf, len, c->off, c->data, c->len);
            else if (i == plan->keep)
                buf_write(buf, len, c->off, c->data, torn_prefix(c, &plan->rng));
        } else {
            /* Each sector of the write landed or not, independently. */
            uint64_t pos = c->off, end = c->off + c->len;
            while (pos < end) {
                uint64_t stop = (pos / PC_SECTOR + 1) * PC_SECTOR;
                if (stop > end)
                    stop = end;
                if (tu_splitmix64(&plan->rng) & 1)
                    buf_write(buf, len, pos, c->data + (pos - c->off), stop - pos);
                pos = stop;
            }
        }
    }
}

/* The entries of directory d on the disk after the cut. */
static void dir_image(const powercut *pc, const pc_obj *d, const image_plan *plan,
                      pc_entry **ents, size_t *n)
{
    *ents = NULL;
    *n = 0;
    for (size_t i = 0; i < d->nents; i++)
        set_entry(ents, n, d->ents[i].name, d->ents[i].obj);
    for (size_t i = 0; i < pc->nnops; i++) {
        const pc_nameop *op = &pc->nops[i];
        if (op->dir == d && op->seq > d->synced_at && op->seq < plan->name_limit)
            set_entry(ents, n, op->name, op->obj);
    }
}

static void write_tree(const powercut *pc, const pc_obj *d, image_plan *plan, const char *dest)
{
    cr_assert_eq(mkdir(dest, 0755), 0, "powercut: %s: %s", dest, strerror(errno));
    pc_entry *ents;
    size_t n;
    dir_image(pc, d, plan, &ents, &n);
    for (size_t i = 0; i < n; i++) {
        char path[PC_PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dest, ents[i].name);
        if (ents[i].obj->dir) {
            write_tree(pc, ents[i].obj, plan, path);
        } else {
            uint8_t *buf;
            uint64_t len;
            file_image(ents[i].obj, plan, &buf, &len);
            FILE *f = fopen(path, "wb");
            cr_assert_not_null(f, "powercut: %s: %s", path, strerror(errno));
            cr_assert_eq(fwrite(buf, 1, (size_t)len, f), (size_t)len);
            cr_assert_eq(fclose(f), 0);
            free(buf);
        }
        free(ents[i].name);
    }
    free(ents);
}

void powercut_image(powercut *pc, int mode, const char *dest)
{
    pthread_mutex_lock(&pc->mu);
    atomic_store(&pc->cut, 1);
    image_plan plan = {.mode = mode, .rng = pc->seed, .name_limit = 0};
    if (mode == PC_TORN) {
        plan.name_limit = UINT64_MAX;
        for (size_t i = 0; i < pc->nobjs; i++) {
            const pc_obj *o = pc->objs[i];
            for (size_t j = 0; j < o->nch; j++)
                if (!o->ch[j].trunc && (!plan.torn || o->ch[j].seq > plan.torn->seq))
                    plan.torn = &o->ch[j];
        }
        if (plan.torn)
            plan.torn_keep = torn_prefix(plan.torn, &plan.rng);
    } else if (mode == PC_REORDER || mode == PC_SCATTER) {
        /* A prefix of the pending name changes, cut between two seqs. */
        size_t pending = 0;
        for (size_t i = 0; i < pc->nnops; i++)
            pending += pc->nops[i].seq > pc->nops[i].dir->synced_at;
        uint64_t k = tu_splitmix64(&plan.rng) % (pending + 1);
        plan.name_limit = UINT64_MAX;
        for (size_t i = 0; i < pc->nnops; i++) {
            if (pc->nops[i].seq <= pc->nops[i].dir->synced_at)
                continue;
            if (k-- == 0) {
                plan.name_limit = pc->nops[i].seq;
                break;
            }
        }
    }
    const pc_obj *top = dir_by_rel(pc, "");
    write_tree(pc, top, &plan, dest);
    pthread_mutex_unlock(&pc->mu);
}
