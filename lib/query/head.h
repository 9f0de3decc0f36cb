/*
 * head.h - the head: the events appended but not compacted yet, in memory,
 * indexed by merchant, so that a query reads only its merchant's part of
 * them instead of the whole log tail.
 *
 * Events enter it as compaction will store them (event_row.h: the store's
 * rules, the store's processing hook, strings interned and cut, numbers
 * as the compactor's strings) and with their sequence numbers. Retries
 * (same merchant, ts and event id) are kept once, the first copy. The
 * writer's head is fed by the log writer as an append takes its sequence
 * numbers, under the writer's lock (so in sequence order, and before the
 * events can become durable), and built from the log tail at open; a read-only handle builds its own from the log
 * at open and reads the events appended since before each query. Once a
 * compaction has published a position, the events up to it leave the head:
 * maintenance prunes right after its compaction, and the next append or
 * query does when it finds the head behind.
 *
 * It sits above lib/compact, whose processing and span buffer it reuses,
 * and below the queries that read it: lib/query.
 */
#ifndef TSAGG_HEAD_H
#define TSAGG_HEAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "event_row.h"
#include "spanbuf.h"
#include "store_internal.h"

typedef struct tsagg__head_merchant {
    uint64_t merchant;
    uint32_t *rows; /* into the head's buffer, in the order they came */
    uint32_t n, cap;
    int64_t min_ts, max_ts;
} tsagg__head_merchant;

typedef struct tsagg__head_range {
    uint64_t from, end; /* [from, end) */
} tsagg__head_range;

/* The rows and their indexes. */
typedef struct tsagg__head_rows {
    tsagg__spanbuf buf; /* the events, as rows */
    uint64_t *seqs;     /* per row */
    size_t seqs_cap;
    tsagg__head_merchant *ms;
    uint32_t nms, ms_cap;
    uint32_t *mtable; /* merchant -> index + 1, open addressing */
    uint32_t mtable_cap;
    uint64_t *idtable; /* (merchant, ts, id) -> hash | row + 1, for retries */
    uint32_t idtable_cap, nids;
    size_t mrows_bytes; /* of the merchants' row lists */
} tsagg__head_rows;

/* A running query's hold on the head (tsagg__head_acquire to
 * tsagg__head_release, one thread): the rows numbered after `consumed`
 * stay until it ends. */
typedef struct tsagg__head_pin {
    pthread_t thread;
    uint64_t consumed;
} tsagg__head_pin;

typedef struct tsagg__head {
    pthread_rwlock_t lock; /* a query's reads of the rows, adds, catch-up and
                              prune write; writers first: never take it
                              twice to read */
    pthread_mutex_t update_mu; /* one update of the head for queries at a time */
    pthread_mutex_t pin_mu;    /* the pins and what follows */
    pthread_cond_t pin_cv;     /* a pin ended, or a rewrite did */
    tsagg__head_pin *pins;     /* the queries running */
    size_t npins, pins_cap;
    uint64_t pin_floor; /* a snapshot consumed below it is not pinned: a
                           prune drops the rows up to it */
    int rewriting;      /* a rebuild or redo runs: no new pin until it ends */
    int redoing; /* the writer's head is being read again under new rules */
    tsagg__head_rows d;
    tsagg__rowconv conv;
    tsagg_rules *rules; /* what the rows went through */
    uint64_t base_seq;  /* rows hold sequence numbers above it */
    uint64_t next_seq;  /* every number below is in the head, or was left
                           out: what a rebuild from the log has read, so
                           that appends do not add it again */
    tsagg__head_range *pending; /* ranges added above next_seq (appends of
                                   other threads finish in any order) */
    size_t npending, pending_cap;
    char damage[TSAGG_ERRMSG_MAX]; /* where the log could not be read */
    uint64_t tail_segment; /* a read-only handle's newest segment at its last
                              read (0: none known), and its size then */
    int64_t tail_size;
    char hook_failure[TSAGG_ERRMSG_MAX];
    atomic_size_t bytes;
    size_t prune_slice_rows;  /* rows a prune copies per hold of the read lock */
    size_t prune_locked_rows; /* the most rows a prune copied holding the
                                 write lock: those appended during its last
                                 slice (tests check it stays bounded) */
    atomic_int compacting; /* an append is compacting inline */
    int stale;             /* an add failed (memory): rebuild at the next query */
    uint64_t dropped;
} tsagg__head;

/* A merchant's part of the head, or NULL. */
tsagg__head_merchant *tsagg__head_find(const tsagg__head *h, uint64_t merchant);

/* Build st->head from the log after the published position. */
int tsagg__head_open(tsagg_store *st);
void tsagg__head_close(tsagg_store *st);

/* Add the events of one append, numbered seq0.. (the log writer calls it
 * under its lock: st->on_append). A failure (memory) leaves out the event
 * it failed on and those after it, every row held still whole, and marks
 * the head for a rebuild by the next query. */
void tsagg__head_add(tsagg_store *st, const tsagg_event *evs, size_t n, uint64_t seq0);

/* Bytes of memory the head holds. */
size_t tsagg__head_bytes(tsagg_store *st);
/* 1 once the head holds tsagg_options.head_max_bytes or more. */
int tsagg__head_wants_compaction(tsagg_store *st);
/* 1 once it holds twice that: without a maintenance thread, the append
 * compacts inline (store.c). */
int tsagg__head_must_compact(tsagg_store *st);
/* Drop the events the published manifest says were compacted: the rows
 * left are copied to a new buffer in slices under the read lock, the write
 * lock held only to swap (head.c, prune). wait 0: skip it while another
 * update of the head runs (an append does not wait for one). */
int tsagg__head_prune_published(tsagg_store *st, int wait);

/*
 * For a query on a snapshot whose consumed position is `consumed`: bring
 * the head up to date (the rules, a read-only handle's new log events, the
 * pruning of what is compacted, unless another thread is at it), then pin
 * it until tsagg__head_release, called by the same thread: no prune drops
 * and no rebuild rewrites the rows numbered after `consumed` meanwhile, so
 * that every pass of the query counts the same events. The pin does not
 * hold appends off: the query takes the head's lock only while it reads
 * the rows (tsagg__head_read_begin). *visible: the last sequence number the
 * query may count (the writer's durable ones only). warning
 * (TSAGG_ERRMSG_MAX) gets why the head is not whole, when it is not.
 * -ENOENT when the head was pruned past `consumed`: the query takes a newer
 * snapshot.
 */
int tsagg__head_acquire(tsagg_store *st, uint64_t consumed, uint64_t *visible, char *warning);
void tsagg__head_release(tsagg_store *st);

/* Hold the head's rows for reading (a pinned query, between its reads of
 * the files), and let go: appends wait meanwhile, so hold it for the
 * head's rows only, and never twice. */
void tsagg__head_read_begin(tsagg_store *st);
void tsagg__head_read_end(tsagg_store *st);

#endif
