/*
 * loader.c - see loader.h.
 *
 * Input is read in large blocks into a buffer; events point into it. At
 * every refill the incomplete record at its end moves to a fresh buffer
 * (appender_buffer) and the old one goes to the appending thread with the
 * batch, which appends it while the next block is parsed (appender.h).
 * Buffers keep NDJSON_PADDING readable bytes after their data for simdjson.
 * Before each read the loader waits for input in interrupt_wait(): the one
 * place where SIGINT and SIGTERM are taken and the periodic task
 * (--compact-every) runs, also while a pipe is idle.
 */
#include "loader.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "appender.h"
#include "cli.h"
#include "interrupt.h"
#include "records.h"
#include "rejects.h"

#define PROG "tsagg-ingest"
#define READ_BLOCK (4u << 20)
#define RECORD_MAX (64u << 20) /* longer lines are rejected unread */
#define ERRORS_SHOWN 20
#define PROGRESS_EVERY 0.25    /* seconds between redraws */

typedef struct loader {
    tsagg_store *st;
    const loader_options *o;
    const loader_input *inputs;
    size_t ninputs;
    loader_stats *stats;
    fieldmap *fields;
    appender *app;          /* appends the batches in a thread of its own */
    evbuild *b;             /* the batch being filled: the appender's */
    ingest_parsers parsers;
    FILE *rejects;          /* created at the first rejected line */
    int rejects_failed;     /* could not be created or written: not tried again */
    uint64_t shown;         /* rejected lines reported so far */
    int store_rc;           /* an append failed: stop */
    int stop;
    char *buf;
    size_t cap;             /* bytes of data the buffer holds at most */
    /* progress */
    double t0, drawn_at;
    uint64_t total_bytes;   /* of all inputs; 0 when unknown (a pipe) */
    int line_drawn;
    const char *name;
    double next_periodic;   /* when loader_options.periodic is due */
} loader;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* ---- progress ------------------------------------------------------------- */

static void progress_clear(loader *L)
{
    if (L->line_drawn) {
        fputs("\r\033[K", stderr);
        L->line_drawn = 0;
    }
}

static void progress_draw(loader *L)
{
    double now = now_s();
    if (!L->o->progress || now - L->drawn_at < PROGRESS_EVERY)
        return;
    L->drawn_at = now;
    double secs = now - L->t0, mb = (double)L->stats->bytes / 1e6;
    double rate = secs > 0 ? (double)L->stats->accepted / secs : 0;
    char eta[32] = "";
    if (L->total_bytes && L->stats->bytes > 0 && secs > 0) {
        double left = (double)(L->total_bytes - L->stats->bytes) * secs / (double)L->stats->bytes;
        snprintf(eta, sizeof eta, "  ETA %d:%02d", (int)left / 60, (int)left % 60);
    }
    if (L->total_bytes)
        fprintf(stderr, "\r%s: %.1f / %.1f MB  %" PRIu64 " events  %.0f events/s%s\033[K",
                L->name, mb, (double)L->total_bytes / 1e6, L->stats->accepted, rate, eta);
    else
        fprintf(stderr, "\r%s: %.1f MB  %" PRIu64 " events  %.0f events/s\033[K", L->name, mb,
                L->stats->accepted, rate);
    L->line_drawn = 1;
}

/* ---- batches and rejects -------------------------------------------------- */

/* Note the appender's answer: the first failed append stops the load. */
static int note_appended(loader *L, int rc)
{
    L->stats->accepted = appender_accepted(L->app);
    if (rc != 0 && !L->store_rc) {
        progress_clear(L);
        cli_report(PROG, L->st, "append", rc);
        L->store_rc = rc;
        L->stop = 1;
    }
    return L->store_rc;
}

/*
 * Hand the batch to the appending thread; with buf, also the read buffer
 * (of cap bytes) that it and the batches before it point into. Returns
 * the store's error once an append failed.
 */
static int append_batch(loader *L, char *buf, size_t cap)
{
    if (L->b->n == 0 && !buf)
        return L->store_rc;
    int rc = appender_hand(L->app, buf, cap);
    L->b = appender_batch(L->app);
    note_appended(L, rc);
    progress_draw(L);
    return L->store_rc;
}

/* Wait until every batch handed over is appended. */
static int append_wait(loader *L)
{
    return note_appended(L, appender_drain(L->app));
}

static void reject(loader *L, uint64_t line, const char *rec, size_t len)
{
    L->stats->rejected++;
    if (L->o->verbose || L->shown < ERRORS_SHOWN) {
        progress_clear(L);
        fprintf(stderr, "%s:%" PRIu64 ": %s\n", L->name, line, L->b->err);
    } else if (L->shown == ERRORS_SHOWN) {
        progress_clear(L);
        if (L->rejects)
            fprintf(stderr, "(further errors counted, not shown; the lines are in %s)\n",
                    L->o->rejects);
        else
            fputs("(further errors counted, not shown)\n", stderr);
    }
    L->shown++;
    if (L->o->rejects && !L->rejects && !L->rejects_failed) {
        char why[PATH_MAX + 256];
        L->rejects = rejects_open(L->o->rejects, L->inputs, L->ninputs, L->o->store_path, why,
                                  sizeof why);
        if (!L->rejects) {
            progress_clear(L);
            cli_error(PROG, "%s", why);
            L->rejects_failed = 1;
            L->stats->files_failed++;
        }
    }
    if (L->rejects && (fwrite(rec, 1, len, L->rejects) != len || putc('\n', L->rejects) == EOF)) {
        progress_clear(L);
        cli_error(PROG, "%s: %s", L->o->rejects, strerror(errno));
        fclose(L->rejects);
        L->rejects = NULL;
        L->rejects_failed = 1;
        L->stats->files_failed++;
    }
    if (L->o->max_errors && L->stats->rejected >= L->o->max_errors) {
        L->stats->stopped = 1;
        L->stop = 1;
    }
}

/* A rejected line holding a CR that no LF follows most likely comes from
 * a file whose lines end in CR alone, read as one line: say so. */
static void hint_bare_cr(evbuild *b, const char *rec, size_t len)
{
    const char *cr = len > 1 ? memchr(rec, '\r', len - 1) : NULL;
    while (cr && cr[1] == '\n')
        cr = memchr(cr + 1, '\r', len - 1 - (size_t)(cr + 1 - rec));
    if (!cr)
        return;
    size_t msg = strlen(b->err);
    snprintf(b->err + msg, sizeof b->err - msg,
             " (the line holds a CR without LF: lines that end in CR alone must be converted "
             "first, e.g. tr '\\r' '\\n')");
}

/*
 * One record: len bytes at rec, without its newline. Returns 1 when the
 * rest of the file must be skipped (a CSV file with a bad header).
 */
static int take_record(loader *L, enum ingest_format format, uint64_t line, const char *rec,
                       size_t len)
{
    if (evb_full(L->b) && append_batch(L, NULL, 0) != 0)
        return 1;
    int rc = ingest_parse_record(&L->parsers, format, rec, len, L->b);
    if (rc == 0 || rc == RECORD_BLANK || rc == CSV_HEADER)
        return 0;
    hint_bare_cr(L->b, rec, len);
    if (rc == CSV_BAD_HEADER) {
        size_t msg = strlen(L->b->err);
        snprintf(L->b->err + msg, sizeof L->b->err - msg, "; file skipped");
    }
    reject(L, line, rec, len);
    return rc == CSV_BAD_HEADER;
}

/* ---- files ---------------------------------------------------------------- */

static int grow_buffer(loader *L)
{
    size_t cap = L->cap * 2;
    char *buf = realloc(L->buf, cap + NDJSON_PADDING);
    if (!buf)
        return -1;
    memset(buf + cap, 0, NDJSON_PADDING);
    L->buf = buf;
    L->cap = cap;
    return 0;
}

/* Compressed input, told by its first bytes: a clear refusal rather than
 * a line of binary rejected as bad JSON, CSV or log. */
typedef struct compression {
    const char *magic;
    size_t len;
    const char *name, *tool;
} compression;

static const compression *compression_of(const char *p, size_t len)
{
    static const compression kinds[] = {
        {"\x1f\x8b", 2, "gzip", "zcat"},
        {"\x28\xb5\x2f\xfd", 4, "zstd", "zstdcat"},
        {"\xfd" "7zXZ\x00", 6, "xz", "xzcat"},
        {"BZh", 3, "bzip2", "bzcat"}, /* and a block size digit */
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        const compression *k = &kinds[i];
        if (len >= k->len && memcmp(p, k->magic, k->len) == 0 &&
            (k->magic[0] != 'B' || (len > 3 && p[3] >= '1' && p[3] <= '9')))
            return k;
    }
    return NULL;
}

#define FILE_MAGIC_MAX 6 /* bytes compression_of() looks at */

/* What a file starts with, once enough of it was read: 0 to go on (past a
 * UTF-8 byte order mark, *pos 3), -1 when it cannot be loaded. */
static int check_start(loader *L, const char *buf, size_t len, size_t *pos)
{
    const compression *kind = compression_of(buf, len);
    if (kind) {
        progress_clear(L);
        cli_error(PROG, "%s: %s-compressed data, not read: decompress it first, e.g. "
                  "%s FILE | " PROG " [OPTION]... STORE -", L->name, kind->name, kind->tool);
        L->stats->files_failed++;
        return -1;
    }
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        *pos = 3; /* a byte order mark, as spreadsheet exports write it */
    return 0;
}

/*
 * Wait for input on fd, running the periodic task when it is due (also
 * while no input comes). 1: read it; 0: stop (a signal, or the task failed).
 */
static int wait_input(loader *L, int fd)
{
    for (;;) {
        int timeout = -1;
        if (L->o->every_s > 0) {
            double left = L->next_periodic - now_s();
            if (left <= 0) {
                if (append_wait(L) != 0) /* the task sees every line read so far */
                    return 0;
                progress_clear(L);
                int rc = L->o->periodic(L->o->periodic_ctx);
                L->next_periodic = now_s() + L->o->every_s;
                if (rc != 0) {
                    L->store_rc = rc;
                    L->stop = 1;
                    return 0;
                }
                continue;
            }
            timeout = left < 3600 ? (int)(left * 1000) + 1 : 3600 * 1000; /* waits again */
        }
        int rc = interrupt_wait(fd, timeout);
        if (rc > 0)
            return 1;
        if (rc < 0) {
            L->stats->interrupted = interrupt_signal();
            L->stop = 1;
            return 0;
        }
    }
}

static void load_fd(loader *L, int fd, enum ingest_format format)
{
    size_t len = 0, pos = 0;
    uint64_t line = 1;
    int eof = 0, skip_file = 0, overlong = 0, started = 0;
    while (!L->stop && !skip_file) {
        if (pos == 0 && len == L->cap) { /* one record fills the buffer */
            if (L->cap >= RECORD_MAX || grow_buffer(L) != 0) {
                evb_begin(L->b);
                evb_failf(L->b, "line longer than %u MiB: not read", RECORD_MAX >> 20);
                hint_bare_cr(L->b, L->buf, len);
                reject(L, line, "", 0);
                overlong = 1;
                len = 0;
            }
        }
        if (!wait_input(L, fd))
            break;
        ssize_t r = read(fd, L->buf + len, L->cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            progress_clear(L);
            cli_error(PROG, "%s: %s", L->name, strerror(errno));
            L->stats->files_failed++;
            break;
        }
        eof = r == 0;
        len += (size_t)r;
        L->stats->bytes += (size_t)r;
        if (!started) {
            if (len < FILE_MAGIC_MAX && !eof)
                continue;
            started = 1;
            if (check_start(L, L->buf, len, &pos) != 0)
                break;
        }
        if (overlong) { /* drop the rest of an overlong line */
            const char *nl = memchr(L->buf, '\n', len);
            if (!nl) {
                len = 0;
                if (eof)
                    break;
                continue;
            }
            pos = (size_t)(nl - L->buf) + 1;
            line++;
            overlong = 0;
        }
        while (pos < len && !L->stop && !skip_file) {
            unsigned breaks;
            const char *rec = L->buf + pos;
            ssize_t n = ingest_record_length(format, rec, len - pos, eof, &breaks);
            if (n < 0)
                break; /* complete it with the next read */
            skip_file = take_record(L, format, line, rec, (size_t)n);
            line += 1 + breaks;
            pos += (size_t)n + (pos + (size_t)n < len); /* and its newline */
        }
        /* The batch points into the buffer: the rest moves to a fresh one,
         * and the buffer goes with the batch. */
        char *next = appender_buffer(L->app, L->cap);
        if (!next) {
            progress_clear(L);
            cli_error(PROG, "out of memory");
            L->store_rc = -ENOMEM;
            L->stop = 1;
            break;
        }
        memcpy(next, L->buf + pos, len - pos);
        char *full = L->buf;
        L->buf = next;
        if (append_batch(L, full, L->cap) != 0 || eof)
            break;
        len -= pos;
        pos = 0;
        progress_draw(L);
    }
    L->stats->next_line = line;
}

static void load_input(loader *L, const loader_input *in)
{
    int fd = STDIN_FILENO;
    L->name = in->path;
    if (strcmp(in->path, "-") == 0) {
        L->name = "stdin";
    } else if ((fd = open(in->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
        progress_clear(L);
        cli_error(PROG, "%s: %s", in->path, strerror(errno));
        L->stats->files_failed++;
        return;
    } else {
        /* Opened without waiting for a FIFO's writer (a signal could not
         * stop that wait: interrupt.h); read blocking, after a wait that can
         * be interrupted. */
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if (in->format == FORMAT_CSV)
        csv_parser_reset(L->parsers.csv);
    load_fd(L, fd, in->format);
    if (fd != STDIN_FILENO)
        close(fd);
}

/* Sum of the input sizes, or 0 when one of them is not a regular file. */
static uint64_t total_size(const loader_input *inputs, size_t n)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat sb;
        if (strcmp(inputs[i].path, "-") == 0 || stat(inputs[i].path, &sb) != 0 ||
            !S_ISREG(sb.st_mode))
            return 0;
        total += (uint64_t)sb.st_size;
    }
    return total;
}

static int loader_open(loader *L, tsagg_store *st, const loader_options *o,
                       const loader_input *inputs, size_t n, loader_stats *stats)
{
    memset(L, 0, sizeof *L);
    L->st = st;
    L->o = o;
    L->inputs = inputs;
    L->ninputs = n;
    L->stats = stats;
    L->cap = READ_BLOCK;
    L->buf = malloc(L->cap + NDJSON_PADDING);
    L->fields = fieldmap_create(tsagg_store_schema(st));
    if (!L->buf || !L->fields ||
        !(L->app = appender_start(st, o->bulk, L->fields, o->ts_unit)))
        return -ENOMEM;
    L->b = appender_batch(L->app);
    memset(L->buf + L->cap, 0, NDJSON_PADDING);
    for (size_t i = 0; i < n; i++) {
        ingest_parsers *ps = &L->parsers;
        if (inputs[i].format == FORMAT_NDJSON && !ps->ndjson &&
            !(ps->ndjson = ndjson_parser_create()))
            return -ENOMEM;
        if (inputs[i].format == FORMAT_CSV && !ps->csv && !(ps->csv = csv_parser_create()))
            return -ENOMEM;
        if (inputs[i].format == FORMAT_COMBINED && !ps->alog &&
            !(ps->alog = accesslog_parser_create(o->merchant)))
            return -ENOMEM;
    }
    L->total_bytes = total_size(inputs, n);
    L->t0 = now_s();
    L->drawn_at = L->t0;
    L->next_periodic = L->t0 + o->every_s;
    return 0;
}

static void loader_close(loader *L)
{
    if (L->rejects && fclose(L->rejects) != 0) {
        cli_error(PROG, "%s: %s", L->o->rejects, strerror(errno));
        L->stats->files_failed++;
    }
    appender_stop(L->app);
    ndjson_parser_free(L->parsers.ndjson);
    csv_parser_free(L->parsers.csv);
    accesslog_parser_free(L->parsers.alog);
    fieldmap_free(L->fields);
    free(L->buf);
}

int loader_run(tsagg_store *st, const loader_options *opts, const loader_input *inputs,
               size_t ninputs, loader_stats *stats)
{
    loader L;
    memset(stats, 0, sizeof *stats);
    int rc = loader_open(&L, st, opts, inputs, ninputs, stats);
    if (rc == -ENOMEM)
        cli_error(PROG, "out of memory");
    for (size_t i = 0; rc == 0 && i < ninputs && !L.stop; i++) {
        stats->input = i;
        load_input(&L, &inputs[i]);
    }
    if (rc == 0 && append_batch(&L, NULL, 0) == 0)
        append_wait(&L);
    if (rc == 0)
        rc = L.store_rc;
    progress_clear(&L);
    loader_close(&L);
    return rc;
}
