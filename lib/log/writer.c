/*
 * writer.c - the log writer: appends, group commit, durability modes,
 * segment rolling.
 *
 * Appenders encode their events outside the lock, then copy the record into
 * the frame being filled and take sequence numbers under the lock. Whoever
 * needs data on disk and finds nobody flushing becomes the leader: it takes
 * every pending frame, writes them with one write (and one fsync), and wakes
 * the others, whose events were carried along (group commit). The first
 * failed write or fsync is stored and returned by every later call: after
 * it, nothing is reported durable that was not durable before.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event_internal.h"
#include "fileio.h"
#include "writer_internal.h"

/* TSAGG_SYNC_NONE: how often the writer thread makes pending events durable.
 * Queries show durable events only, so this bounds how long an acknowledged
 * event stays out of their answers (tsagg_query.h promises a second). */
#define NONE_SYNC_MS 500u
/* Appenders wait while this many frames' worth is queued behind a flush. */
#define BACKLOG_FRAMES 8
/* Bytes: an append is cut into records of about this many encoded bytes at
 * least (half a frame when frames are larger), so one huge append still
 * yields bounded frames. */
#define CHUNK_BYTES_MIN (64u << 10)

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int push_frame(struct tsagg_log_writer *w)
{
    if (w->nframes == w->frames_cap) {
        size_t cap = w->frames_cap ? w->frames_cap * 2 : 8;
        pending_frame *p = realloc(w->frames, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        w->frames = p;
        w->frames_cap = cap;
    }
    pending_frame *f = &w->frames[w->nframes++];
    memset(f, 0, sizeof *f);
    if (w->nspare)
        f->raw = w->spare[--w->nspare];
    f->raw.len = 0;
    return 0;
}

static void recycle(struct tsagg_log_writer *w, pending_frame *fs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (w->nspare == w->spare_cap) {
            size_t cap = w->spare_cap ? w->spare_cap * 2 : 8;
            tsagg__buf *p = realloc(w->spare, cap * sizeof *p);
            if (!p) {
                tsagg__buf_free(&fs[i].raw);
                continue;
            }
            w->spare = p;
            w->spare_cap = cap;
        }
        /* Keep frame-sized buffers only; oversized ones are returned. */
        if (fs[i].raw.cap > 2 * (size_t)w->st->opts.frame_bytes + (1u << 20))
            tsagg__buf_free(&fs[i].raw);
        w->spare[w->nspare++] = fs[i].raw;
    }
}

/* ---- leader-only: segments and frame output ------------------------------ */

static int create_segment(struct tsagg_log_writer *w, uint64_t first_seq)
{
    tsagg_store *st = w->st;
    const tsagg_io *io = st->io;
    char path[TSAGG_PATH_MAX + 32];
    uint64_t number = w->seg.number + 1;
    tsagg__segment_path(st, number, path, sizeof path);
    int fd = io->open(io->ctx, path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0)
        return tsagg__fail(st, fd, "%s: create: %s", path, tsagg_strerror(fd));
    seg_header h = {.kind = SEG_KIND_LIVE, .number = number, .first_seq = first_seq,
                    .schema_id = tsagg_schema_id(st->schema), .created = now_us()};
    uint8_t buf[SEG_HEADER_SIZE];
    tsagg__seg_header_encode(&h, buf);
    int rc = tsagg__wio_write(&w->wio, fd, buf, sizeof buf, 0, 1);
    /* The name must be durable before any frame in it is reported durable. */
    if (rc == 0)
        rc = tsagg__fsync_dir(io, st->log_dir);
    if (rc != 0) {
        io->close(io->ctx, fd);
        return tsagg__fail(st, rc, "%s: write header: %s", path, tsagg_strerror(rc));
    }
    w->seg = (open_segment){.fd = fd, .number = number, .first_seq = first_seq,
                            .offset = SEG_HEADER_SIZE, .synced = SEG_HEADER_SIZE,
                            .min_ts = INT64_MAX, .max_ts = INT64_MIN};
    return 0;
}

/* Append one frame (header + payload, LZ4 when it saves an eighth) to out.
 * flags: FRAME_FLAG_SYNCED_BEFORE when every byte before it is durable, so
 * that recovery can tell a frame lost by a crash before its fsync (never
 * reported durable: cut) from damage to one that was. */
static int emit_frame(tsagg__buf *out, const pending_frame *f, uint8_t flags)
{
    size_t raw = f->raw.len;
    int bound = LZ4_compressBound((int)raw);
    int rc = tsagg__buf_reserve(out, FRAME_HEADER_SIZE + (size_t)bound);
    if (rc != 0)
        return rc;
    uint8_t *hdr = out->p + out->len, *payload = hdr + FRAME_HEADER_SIZE;
    frame_header h = {.type = FRAME_EVENTS, .encoding = ENC_ROWS, .flags = flags,
                      .raw = (uint32_t)raw,
                      .first_seq = f->first_seq, .count = f->count, .min_ts = f->min_ts,
                      .max_ts = f->max_ts};
    int c = LZ4_compress_default((const char *)f->raw.p, (char *)payload, (int)raw, bound);
    if (c > 0 && (size_t)c < raw - raw / 8) {
        h.codec = CODEC_LZ4;
        h.stored = (uint32_t)c;
    } else {
        h.codec = CODEC_NONE;
        h.stored = (uint32_t)raw;
        memcpy(payload, f->raw.p, raw);
    }
    tsagg__frame_header_encode(&h, payload, hdr);
    out->len += FRAME_HEADER_SIZE + h.stored;
    return 0;
}

typedef struct batch_stats {
    uint64_t events, frames;
    int64_t min_ts, max_ts;
} batch_stats;

static void stats_reset(batch_stats *b)
{
    *b = (batch_stats){.min_ts = INT64_MAX, .max_ts = INT64_MIN};
}

/* Write out[] to the open segment, optionally followed by the seal. */
static int write_out(struct tsagg_log_writer *w, batch_stats *b, int sync, int seal)
{
    open_segment *s = &w->seg;
    if (seal) {
        seal_info si = {.last_seq = s->first_seq + s->events + b->events - 1,
                        .events = s->events + b->events,
                        .frames = s->frames + b->frames,
                        .min_ts = b->min_ts < s->min_ts ? b->min_ts : s->min_ts,
                        .max_ts = b->max_ts > s->max_ts ? b->max_ts : s->max_ts};
        int rc = tsagg__buf_reserve(&w->out, SEAL_FRAME_SIZE);
        if (rc != 0)
            return rc;
        tsagg__seal_encode(&si, s->first_seq, w->out.p + w->out.len);
        w->out.len += SEAL_FRAME_SIZE;
    }
    if (s->fd < 0)
        return 0;
    int rc = tsagg__wio_write(&w->wio, s->fd, w->out.p, w->out.len, s->offset, sync);
    if (rc != 0) {
        /* Best effort: frames never reported durable must not come back as
         * durable when recovery finds them in the page cache. */
        w->st->io->ftruncate(w->st->io->ctx, s->fd, s->offset);
        char path[TSAGG_PATH_MAX + 32];
        tsagg__segment_path(w->st, s->number, path, sizeof path);
        return tsagg__fail(w->st, rc, "%s: %s at offset %" PRIu64 ": %s", path,
                           w->out.len ? "write" : "fsync", s->offset, tsagg_strerror(rc));
    }
    s->offset += w->out.len;
    if (sync)
        s->synced = s->offset;
    s->events += b->events;
    s->frames += b->frames;
    s->min_ts = b->min_ts < s->min_ts ? b->min_ts : s->min_ts;
    s->max_ts = b->max_ts > s->max_ts ? b->max_ts : s->max_ts;
    w->out.len = 0;
    stats_reset(b);
    if (seal) {
        w->st->io->close(w->st->io->ctx, s->fd);
        s->fd = -1;
    }
    return 0;
}

/* Write frames (and fsync when sync), rolling segments past segment_bytes.
 * A segment is sealed and fsynced before its successor is created, so every
 * segment but the last is complete and durable. */
static int write_frames(struct tsagg_log_writer *w, pending_frame *fs, size_t n, int sync)
{
    uint64_t limit = w->st->opts.segment_bytes;
    batch_stats b;
    stats_reset(&b);
    w->out.len = 0;
    for (size_t i = 0; i < n; i++) {
        const pending_frame *f = &fs[i];
        if (f->count == 0)
            continue;
        int rc = 0;
        if (w->seg.fd < 0)
            rc = create_segment(w, f->first_seq);
        size_t need = FRAME_HEADER_SIZE + (size_t)LZ4_compressBound((int)f->raw.len);
        if (rc == 0 && w->seg.events + b.events > 0 &&
            w->seg.offset + w->out.len + need + SEAL_FRAME_SIZE > limit) {
            rc = write_out(w, &b, 1, 1);
            if (rc == 0)
                rc = create_segment(w, f->first_seq);
        }
        uint8_t flags = w->seg.synced == w->seg.offset + w->out.len ? FRAME_FLAG_SYNCED_BEFORE : 0;
        if (rc == 0)
            rc = emit_frame(&w->out, f, flags);
        if (rc != 0)
            return rc;
        b.events += f->count;
        b.frames++;
        b.min_ts = f->min_ts < b.min_ts ? f->min_ts : b.min_ts;
        b.max_ts = f->max_ts > b.max_ts ? f->max_ts : b.max_ts;
    }
    return write_out(w, &b, sync, 0);
}

/* ---- the flush protocol (called with w->mu held) ------------------------- */

/*
 * sync: make everything up to `target` durable. !sync: hand every complete
 * frame to the file without fsync (keeps memory bounded in the NONE and
 * INTERVAL modes). Returns 0 or the sticky failure.
 */
static int flush_locked(struct tsagg_log_writer *w, uint64_t target, int sync)
{
    for (;;) {
        if (w->failed)
            return w->failed;
        if (sync ? atomic_load(&w->durable_seq) >= target : w->nframes <= 1)
            return 0;
        if (w->flushing) {
            pthread_cond_wait(&w->cond, &w->mu);
            continue;
        }
        w->flushing = 1;
        size_t take = sync ? w->nframes : w->nframes - 1;
        pending_frame *batch = malloc((take ? take : 1) * sizeof *batch);
        if (!batch) {
            w->flushing = 0;
            return -ENOMEM;
        }
        memcpy(batch, w->frames, take * sizeof *batch);
        memmove(w->frames, w->frames + take, (w->nframes - take) * sizeof *batch);
        w->nframes -= take;
        uint64_t last = w->written_seq;
        size_t bytes = 0;
        for (size_t i = 0; i < take; i++) {
            bytes += batch[i].raw.len;
            if (batch[i].count)
                last = batch[i].first_seq + batch[i].count - 1;
        }
        w->pending_bytes -= bytes;
        int rc = w->nframes == 0 ? push_frame(w) : 0;
        pthread_mutex_unlock(&w->mu);
        if (rc == 0)
            rc = write_frames(w, batch, take, sync);
        pthread_mutex_lock(&w->mu);
        w->flushing = 0;
        w->active_segment = w->seg.fd >= 0 ? w->seg.number : w->seg.number + 1;
        if (rc != 0) {
            w->failed = rc;
        } else {
            w->written_seq = last;
            if (sync)
                atomic_store(&w->durable_seq, last);
        }
        recycle(w, batch, take);
        free(batch);
        pthread_cond_broadcast(&w->cond);
    }
}

/* The writer thread of the INTERVAL and NONE modes: write every frame an
 * appender completes (compressing it here, not in the appender's thread),
 * and fsync what is pending every period. */
static void *interval_main(void *arg)
{
    struct tsagg_log_writer *w = arg;
    uint32_t ms = w->st->opts.sync_mode == TSAGG_SYNC_NONE ? NONE_SYNC_MS
                                                           : w->st->opts.sync_interval_ms;
    pthread_mutex_lock(&w->mu);
    while (!w->closing) {
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += ms / 1000;
        dl.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
        while (!w->closing) {
            if (w->nframes > 1 && !w->flushing && !w->failed) {
                flush_locked(w, 0, 0); /* a failure is sticky */
                continue;
            }
            if (pthread_cond_timedwait(&w->cond, &w->mu, &dl) == ETIMEDOUT)
                break;
        }
        if (!w->closing && !w->failed)
            flush_locked(w, w->next_seq - 1, 1); /* a failure is sticky */
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ---- append scratch ------------------------------------------------------- */

/* Encoded records of one append call, split so no frame grows unbounded. */
typedef struct rec_chunk {
    tsagg__buf rec;
    size_t n;
    int64_t lo, hi;
} rec_chunk;

/* Scratch of one append call, pooled by the writer so that appends reuse
 * warm buffers instead of allocating (and faulting in) fresh ones. */
typedef struct append_scratch {
    tsagg__encoder enc;
    rec_chunk *chunks;
    size_t nchunks, cap;
    struct append_scratch *next;
} append_scratch;

static append_scratch *scratch_get(struct tsagg_log_writer *w)
{
    pthread_mutex_lock(&w->scratch_mu);
    append_scratch *s = w->scratch;
    if (s)
        w->scratch = s->next;
    pthread_mutex_unlock(&w->scratch_mu);
    return s ? s : calloc(1, sizeof *s);
}

static void scratch_free(append_scratch *s)
{
    tsagg__encoder_free(&s->enc);
    for (size_t i = 0; i < s->cap; i++)
        tsagg__buf_free(&s->chunks[i].rec);
    free(s->chunks);
    free(s);
}

static void scratch_put(struct tsagg_log_writer *w, append_scratch *s)
{
    pthread_mutex_lock(&w->scratch_mu);
    s->next = w->scratch;
    w->scratch = s;
    pthread_mutex_unlock(&w->scratch_mu);
}

/* ---- lifecycle ------------------------------------------------------------ */

static void writer_free(struct tsagg_log_writer *w)
{
    for (size_t i = 0; i < w->nframes; i++)
        tsagg__buf_free(&w->frames[i].raw);
    for (size_t i = 0; i < w->nspare; i++)
        tsagg__buf_free(&w->spare[i]);
    free(w->frames);
    free(w->spare);
    tsagg__buf_free(&w->out);
    if (w->seg.fd >= 0)
        w->st->io->close(w->st->io->ctx, w->seg.fd);
    tsagg__wio_fini(&w->wio);
    while (w->scratch) {
        append_scratch *next = w->scratch->next;
        scratch_free(w->scratch);
        w->scratch = next;
    }
    pthread_mutex_destroy(&w->scratch_mu);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

int tsagg__writer_open(tsagg_store *st)
{
    struct tsagg_log_writer *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->st = st;
    w->seg.fd = -1;
    pthread_mutex_init(&w->mu, NULL);
    pthread_mutex_init(&w->scratch_mu, NULL);
    pthread_cond_init(&w->cond, NULL);
    int rc = tsagg__wio_init(&w->wio, st->io, st->opts.io_backend);
    if (rc != 0)
        tsagg__fail(st, rc, "io_uring was requested but the kernel does not allow it");
    if (rc == 0)
        rc = tsagg__log_recover(w);
    w->active_segment = w->seg.fd >= 0 ? w->seg.number : w->seg.number + 1;
    if (rc == 0)
        rc = push_frame(w);
    if (rc == 0 && st->opts.sync_mode != TSAGG_SYNC_BATCH) {
        rc = -pthread_create(&w->thread, NULL, interval_main, w);
        w->thread_started = rc == 0;
    }
    if (rc != 0) {
        writer_free(w);
        return rc;
    }
    st->writer = w;
    return 0;
}

int tsagg__writer_close(tsagg_store *st)
{
    struct tsagg_log_writer *w = st->writer;
    pthread_mutex_lock(&w->mu);
    w->closing = 1;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
    if (w->thread_started)
        pthread_join(w->thread, NULL);
    pthread_mutex_lock(&w->mu);
    int rc = flush_locked(w, w->next_seq - 1, 1);
    pthread_mutex_unlock(&w->mu);
    writer_free(w);
    st->writer = NULL;
    return rc;
}

/* ---- public API ----------------------------------------------------------- */

/* Copy one encoded record into the frames; the lock is held. */
static int add_record(struct tsagg_log_writer *w, const tsagg__buf *rec, size_t n, int64_t lo,
                      int64_t hi)
{
    pending_frame *f = &w->frames[w->nframes - 1];
    if (f->raw.len && f->raw.len + rec->len > w->st->opts.frame_bytes) {
        int rc = push_frame(w);
        if (rc != 0)
            return rc;
        f = &w->frames[w->nframes - 1];
    }
    int rc = tsagg__buf_reserve(&f->raw, rec->len);
    if (rc != 0)
        return rc;
    memcpy(f->raw.p + f->raw.len, rec->p, rec->len);
    f->raw.len += rec->len;
    if (f->count == 0) {
        f->first_seq = w->next_seq;
        f->min_ts = lo;
        f->max_ts = hi;
    }
    f->count += (uint32_t)n;
    f->min_ts = lo < f->min_ts ? lo : f->min_ts;
    f->max_ts = hi > f->max_ts ? hi : f->max_ts;
    w->next_seq += n;
    w->pending_bytes += rec->len;
    return 0;
}

static int encode_chunk(append_scratch *s, const tsagg_event *evs, size_t n, size_t bound)
{
    if (s->nchunks == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4;
        rec_chunk *p = realloc(s->chunks, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        memset(p + s->cap, 0, (cap - s->cap) * sizeof *p);
        s->chunks = p;
        s->cap = cap;
    }
    rec_chunk *c = &s->chunks[s->nchunks++];
    c->rec.len = 0;
    c->n = n;
    return tsagg__record_encode(&s->enc, &c->rec, evs, n, bound, &c->lo, &c->hi);
}

/* Name the first of evs[from, to) that tsagg__event_check refuses. */
static int first_refused(tsagg_store *st, const tsagg_event *evs, size_t from, size_t to,
                         int check_ts)
{
    for (size_t i = from; i < to; i++) {
        char why[200];
        if (tsagg__event_check(&evs[i], NULL, why, sizeof why) != 0 ||
            (check_ts && tsagg__event_check_ts(&evs[i], why, sizeof why) != 0))
            return tsagg__fail(st, TSAGG_EINPUT, "event %zu: %s", i, why);
    }
    return tsagg__fail(st, TSAGG_EINPUT, "events %zu..%zu: a string holds a NUL byte", from,
                       to - 1);
}

/* Validate and encode all events, in records of about chunk_bytes. The
 * encoder finds NUL bytes in the strings as it copies them, so the check
 * before it leaves those out; the events of a chunk not encoded yet may
 * hold one, so a refusal names the first event tsagg__event_check refuses,
 * as checking each event whole in turn would. */
static int encode_events(tsagg_store *st, append_scratch *s, const tsagg_event *evs, size_t n,
                         size_t chunk_bytes, int check_ts)
{
    s->nchunks = 0;
    size_t from = 0, bound = 0;
    for (size_t i = 0; i < n; i++) {
        size_t b;
        if (tsagg__event_check_sizes(&evs[i], &b, NULL, 0) != 0 ||
            (check_ts && tsagg__event_check_ts(&evs[i], NULL, 0) != 0))
            return first_refused(st, evs, from, i + 1, check_ts);
        bound += b;
        if (bound >= chunk_bytes || i + 1 == n) {
            int rc = encode_chunk(s, evs + from, i + 1 - from, bound);
            if (rc == TSAGG_EINPUT)
                return first_refused(st, evs, from, i + 1, check_ts);
            if (rc != 0)
                return rc;
            from = i + 1;
            bound = 0;
        }
    }
    return 0;
}

static int append_events(tsagg_store *st, const tsagg_event *evs, size_t n, uint64_t *first_seq,
                         int check_ts)
{
    if (!st || !evs || n == 0)
        return TSAGG_EARG;
    struct tsagg_log_writer *w = st->writer;
    if (!w)
        return tsagg__fail(st, TSAGG_EREADONLY, "append on a read-only store handle");
    size_t chunk_bytes = st->opts.frame_bytes / 2;
    if (chunk_bytes < CHUNK_BYTES_MIN)
        chunk_bytes = CHUNK_BYTES_MIN;
    append_scratch *s = scratch_get(w);
    if (!s)
        return -ENOMEM;
    int rc = encode_events(st, s, evs, n, chunk_bytes, check_ts);

    pthread_mutex_lock(&w->mu);
    if (rc == 0 && w->failed)
        rc = w->failed;
    size_t backlog = (size_t)BACKLOG_FRAMES * st->opts.frame_bytes;
    while (rc == 0 && !w->failed && w->flushing && w->pending_bytes > backlog)
        pthread_cond_wait(&w->cond, &w->mu);
    if (rc == 0 && w->failed)
        rc = w->failed;
    uint64_t seq0 = w->next_seq;
    for (size_t i = 0; rc == 0 && i < s->nchunks; i++) {
        rc = add_record(w, &s->chunks[i].rec, s->chunks[i].n, s->chunks[i].lo, s->chunks[i].hi);
        if (rc != 0 && i > 0)
            w->failed = rc; /* part of the call has sequence numbers: fail whole */
    }
    /* The store's head takes the events here, in sequence order and before
     * any of them can be made durable, so that it holds every durable
     * event at all times (store_internal.h). */
    if (rc == 0 && st->on_append)
        st->on_append(st, evs, n, seq0);
    if (rc == 0) {
        if (st->opts.sync_mode == TSAGG_SYNC_BATCH)
            rc = flush_locked(w, w->next_seq - 1, 1);
        else if (w->nframes > 1 && !w->flushing && w->thread_started &&
                 w->pending_bytes <= backlog)
            pthread_cond_broadcast(&w->cond); /* the writer thread writes it */
        else if (w->nframes > 1 && !w->flushing)
            rc = flush_locked(w, 0, 0);
    }
    pthread_mutex_unlock(&w->mu);

    scratch_put(w, s);
    if (rc == 0 && first_seq)
        *first_seq = seq0;
    return rc;
}

int tsagg__log_append(tsagg_store *st, const tsagg_event *evs, size_t n, uint64_t *first_seq,
                      int check_ts)
{
    return append_events(st, evs, n, first_seq, check_ts);
}

int tsagg_flush(tsagg_store *st)
{
    struct tsagg_log_writer *w = st ? st->writer : NULL;
    if (!w)
        return st ? TSAGG_EREADONLY : TSAGG_EARG;
    pthread_mutex_lock(&w->mu);
    int rc = flush_locked(w, w->next_seq - 1, 1);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

uint64_t tsagg_durable_seq(tsagg_store *st)
{
    return st && st->writer ? atomic_load(&st->writer->durable_seq) : 0;
}

uint64_t tsagg_last_seq(tsagg_store *st)
{
    struct tsagg_log_writer *w = st ? st->writer : NULL;
    if (!w)
        return 0;
    pthread_mutex_lock(&w->mu);
    uint64_t v = w->next_seq - 1;
    pthread_mutex_unlock(&w->mu);
    return v;
}

int tsagg_wait_durable(tsagg_store *st, uint64_t seq, int timeout_ms)
{
    struct tsagg_log_writer *w = st ? st->writer : NULL;
    if (!w)
        return st ? TSAGG_EREADONLY : TSAGG_EARG;
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    if (timeout_ms >= 0) {
        dl.tv_sec += timeout_ms / 1000;
        dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
    }
    int rc = 0;
    pthread_mutex_lock(&w->mu);
    while (atomic_load(&w->durable_seq) < seq && !w->failed) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&w->cond, &w->mu);
        } else if (pthread_cond_timedwait(&w->cond, &w->mu, &dl) == ETIMEDOUT) {
            rc = atomic_load(&w->durable_seq) >= seq ? 0 : TSAGG_ETIMEDOUT;
            break;
        }
    }
    if (rc == 0 && atomic_load(&w->durable_seq) < seq && w->failed)
        rc = w->failed;
    pthread_mutex_unlock(&w->mu);
    return rc;
}

const char *tsagg_io_backend_name(const tsagg_store *st)
{
    if (!st || !st->writer)
        return "none";
    return st->writer->wio.uring ? "io_uring" : "pwrite";
}

int tsagg_log_roll(tsagg_store *st)
{
    struct tsagg_log_writer *w = st ? st->writer : NULL;
    if (!w)
        return st ? TSAGG_EREADONLY : TSAGG_EARG;
    pthread_mutex_lock(&w->mu);
    int rc = flush_locked(w, w->next_seq - 1, 1);
    while (rc == 0 && w->flushing)
        pthread_cond_wait(&w->cond, &w->mu);
    if (rc == 0 && w->failed)
        rc = w->failed;
    if (rc == 0 && w->seg.fd >= 0 && w->seg.events > 0) {
        w->flushing = 1;
        pthread_mutex_unlock(&w->mu);
        batch_stats b;
        stats_reset(&b);
        w->out.len = 0;
        rc = write_out(w, &b, 1, 1);
        pthread_mutex_lock(&w->mu);
        w->flushing = 0;
        w->active_segment = w->seg.fd >= 0 ? w->seg.number : w->seg.number + 1;
        if (rc != 0)
            w->failed = rc;
        pthread_cond_broadcast(&w->cond);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* The number of the segment being appended to (or the next one); segments
 * below it are sealed. Used by the archiver. */
uint64_t tsagg__writer_open_segment(tsagg_store *st)
{
    struct tsagg_log_writer *w = st->writer;
    pthread_mutex_lock(&w->mu);
    uint64_t n = w->active_segment;
    pthread_mutex_unlock(&w->mu);
    return n;
}
