/*
 * bench_append.c - log append throughput and raw-log bytes per event.
 *
 *   bench_append [--events N] [--batch B] [--dir DIR] [--backend auto|uring|pwrite]
 *                [--mode batch|interval|none] [--threads 1|2] [--no-archive]
 *
 * Appends N realistic GA-like events (merchant, event name, user, session,
 * id, six dimensions, a value on purchases) through tsagg_append() in
 * batches of B, for each durability mode with one and with two appending
 * threads, and prints one line per figure:
 *
 *   <name> <value> <unit>
 *
 * events/s is wall-clock throughput; events/cpu-s divides by the CPU time of
 * the whole process (appenders, the flusher and io_uring workers), which is
 * what "on one core" means. Last, the bytes per event of the live log and of
 * its archive form.
 *
 * The events are generated before timing starts, CORPUS_MAX of them, and
 * appended round and round: a host appends events it has just built, which
 * are in cache, not gigabytes of them from main memory.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gagen.h"
#include "benchutil.h"
#include "tsagg.h"

#define CORPUS_MAX 65536

typedef struct corpus {
    tsagg_event *evs;
    tsagg_attr *attrs;
    char *bytes;
    size_t n;
} corpus;

/* Deep-copy n generated events so their strings outlive the generator. */
static corpus make_corpus(size_t n)
{
    corpus c = {.evs = calloc(n, sizeof(tsagg_event)), .n = n};
    size_t attr_cap = n * 8, attr_n = 0, byte_cap = n * 160, byte_n = 0;
    c.attrs = malloc(attr_cap * sizeof(tsagg_attr));
    c.bytes = malloc(byte_cap);
    gagen_config cfg;
    gagen_config_init(&cfg);
    cfg.events = n;
    gagen *g = gagen_create(&cfg);
    if (!c.evs || !c.attrs || !c.bytes || !g) {
        fprintf(stderr, "bench_append: out of memory\n");
        exit(1);
    }
    tsagg_event batch[4096];
    size_t got, k = 0;
    while ((got = gagen_next(g, batch, 4096)) > 0) {
        for (size_t i = 0; i < got && k < n; i++, k++) {
            tsagg_event *e = &c.evs[k];
            *e = batch[i];
            if (attr_n + e->nattrs > attr_cap || byte_n + 2048 > byte_cap) {
                fprintf(stderr, "bench_append: corpus arena too small\n");
                exit(1);
            }
            memcpy(c.bytes + byte_n, e->event, e->event_len);
            e->event = c.bytes + byte_n;
            byte_n += e->event_len;
            tsagg_attr *a = c.attrs + attr_n;
            memcpy(a, batch[i].attrs, e->nattrs * sizeof *a);
            for (uint32_t j = 0; j < e->nattrs; j++) {
                if (a[j].type == TSAGG_STR) {
                    memcpy(c.bytes + byte_n, a[j].v.s.ptr, a[j].v.s.len);
                    a[j].v.s.ptr = c.bytes + byte_n;
                    byte_n += a[j].v.s.len;
                }
            }
            e->attrs = a;
            attr_n += e->nattrs;
        }
    }
    gagen_free(g);
    c.n = k;
    return c;
}

typedef struct worker {
    tsagg_store *st;
    const corpus *c;
    size_t count, offset, batch;
    int rc;
} worker;

/* Append `count` events, walking the corpus from `offset` and wrapping. */
static void *append_range(void *arg)
{
    worker *w = arg;
    size_t pos = w->offset % w->c->n;
    for (size_t done = 0; done < w->count && w->rc == 0;) {
        size_t n = w->count - done < w->batch ? w->count - done : w->batch;
        if (n > w->c->n - pos)
            n = w->c->n - pos;
        w->rc = tsagg_append(w->st, w->c->evs + pos, n, NULL);
        done += n;
        pos = (pos + n) % w->c->n;
    }
    return NULL;
}

static void rmrf(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_append: could not remove %s\n", dir);
}

static tsagg_store *open_store(const char *path, unsigned mode, unsigned backend)
{
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.sync_mode = mode;
    o.io_backend = backend;
    tsagg_store *st;
    char err[512];
    int rc = tsagg_store_open(path, &o, &st, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "bench_append: open %s: %s: %s\n", path, tsagg_strerror(rc), err);
        exit(1);
    }
    return st;
}

static uint64_t dir_bytes(tsagg_store *st)
{
    int n = tsagg_log_segments(st, NULL, 0);
    tsagg_segment_info *info = calloc((size_t)(n > 0 ? n : 1), sizeof *info);
    uint64_t total = 0;
    n = tsagg_log_segments(st, info, (size_t)n);
    for (int i = 0; i < n; i++)
        total += info[i].bytes;
    free(info);
    return total;
}

int main(int argc, char **argv)
{
    size_t events = 4000000, batch = 1000;
    const char *base = NULL;
    unsigned backend = TSAGG_IO_AUTO;
    const char *only_mode = NULL;
    int only_threads = 0, archive = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--events") && i + 1 < argc)
            events = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--no-archive"))
            archive = 0;
        else if (!strcmp(argv[i], "--mode") && i + 1 < argc)
            only_mode = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            only_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            base = argv[++i];
        else if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
            const char *b = argv[++i];
            backend = !strcmp(b, "uring") ? TSAGG_IO_URING
                      : !strcmp(b, "pwrite") ? TSAGG_IO_PWRITE
                                             : TSAGG_IO_AUTO;
        } else {
            fprintf(stderr, "usage: bench_append [--events N] [--batch B] [--dir DIR] "
                            "[--backend auto|uring|pwrite] [--mode batch|interval|none] "
                            "[--threads 1|2] [--no-archive]\n");
            return 2;
        }
    }
    if (events == 0 || batch == 0)
        return 2;
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/tsagg-bench-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(tmpl)) {
        perror("bench_append: mkdtemp");
        return 1;
    }
    corpus c = make_corpus(events < CORPUS_MAX ? events : CORPUS_MAX);
    printf("events %zu count\nbatch %zu events\n", events, batch);

    static const struct {
        const char *name;
        unsigned mode;
    } modes[] = {{"batch", TSAGG_SYNC_BATCH}, {"interval", TSAGG_SYNC_INTERVAL},
                 {"none", TSAGG_SYNC_NONE}};
    char path[4200];
    for (size_t m = 0; m < 3; m++) {
        if (only_mode && strcmp(only_mode, modes[m].name) != 0)
            continue;
        for (int threads = 1; threads <= 2; threads++) {
            if (only_threads && threads != only_threads)
                continue;
            snprintf(path, sizeof path, "%s/%s-%d", tmpl, modes[m].name, threads);
            tsagg_store *st = open_store(path, modes[m].mode, backend);
            static int said;
            if (!said++)
                printf("backend %s\n", tsagg_io_backend_name(st));
            worker w[2];
            pthread_t tid[2];
            double t0 = mono_s(), c0 = cpu_s();
            for (int t = 0; t < threads; t++) {
                w[t] = (worker){.st = st, .c = &c, .count = events / (size_t)threads,
                                .offset = c.n * (size_t)t / (size_t)threads, .batch = batch};
                pthread_create(&tid[t], NULL, append_range, &w[t]);
            }
            int rc = 0;
            for (int t = 0; t < threads; t++) {
                pthread_join(tid[t], NULL);
                rc = rc ? rc : w[t].rc;
            }
            if (rc == 0)
                rc = tsagg_flush(st); /* every mode ends durable */
            double wall = mono_s() - t0, cpu = cpu_s() - c0;
            if (rc != 0) {
                fprintf(stderr, "bench_append: append: %s\n", tsagg_strerror(rc));
                return 1;
            }
            printf("append_%s_%dt %.0f events/s\n", modes[m].name, threads, (double)events / wall);
            printf("append_%s_%dt_cpu %.0f events/cpu-s\n", modes[m].name, threads,
                   (double)events / cpu);
            if (archive && m == 2 && threads == 1) {
                uint64_t live = dir_bytes(st);
                tsagg_log_roll(st);
                unsigned n = 0;
                double a0 = mono_s();
                rc = tsagg_log_archive(st, 0, &n);
                double at = mono_s() - a0;
                uint64_t arch = dir_bytes(st);
                printf("log_bytes_live %.1f bytes/event\n", (double)live / (double)events);
                if (rc == 0) {
                    printf("log_bytes_archive %.1f bytes/event\n", (double)arch / (double)events);
                    printf("archive_rewrite %.0f events/s\n", (double)events / at);
                } else {
                    fprintf(stderr, "bench_append: archive: %s\n", tsagg_strerror(rc));
                }
            }
            tsagg_store_close(st);
            rmrf(path);
        }
    }
    rmrf(tmpl);
    free(c.evs);
    free(c.attrs);
    free(c.bytes);
    return 0;
}
