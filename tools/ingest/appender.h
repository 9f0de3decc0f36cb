/*
 * appender.h - the thread that appends parsed batches to the store, so
 * that reading and parsing the input (the loader, in the caller's thread)
 * runs beside the appending. Batches go through a small bounded queue and
 * are appended in the order they were handed over, one at a time.
 *
 * A batch's strings point into the loader's read buffer: the loader hands
 * that buffer over with the last batch pointing into it, and takes fresh
 * buffers from appender_buffer(); a buffer is recycled once every batch
 * before it was appended and, in a bulk load (which borrows each batch
 * rather than copying it: tsagg_bulk_append_lent), taken by the load.
 */
#ifndef INGEST_APPENDER_H
#define INGEST_APPENDER_H

#include <stddef.h>
#include <stdint.h>

#include "ingest.h"

typedef struct appender appender;

/* Start the thread; batches go to bulk (tsagg_bulk_append) when given,
 * else to st (tsagg_append). NULL on ENOMEM or when no thread starts. */
appender *appender_start(tsagg_store *st, tsagg_bulk *bulk, const fieldmap *fields,
                         enum ts_unit unit);

/* The batch to fill next (empty); it stays the caller's until handed over. */
evbuild *appender_batch(appender *a);

/*
 * Queue the current batch (it may be empty), and with buf (of cap bytes
 * plus NDJSON_PADDING) the buffer that it and the batches before it point
 * into, to be recycled once they are appended. Waits while the queue is
 * full. Returns 0, or the error of the first append that failed: batches
 * are then dropped unappended.
 */
int appender_hand(appender *a, char *buf, size_t cap);

/* A read buffer of cap bytes plus NDJSON_PADDING zeroed ones: a recycled
 * one or a new one; NULL on ENOMEM. */
char *appender_buffer(appender *a, size_t cap);

/* Wait until every batch handed over was appended (or dropped) and a bulk
 * load has given it back; returns
 * as appender_hand(). The store is then the caller's until the next hand. */
int appender_drain(appender *a);

/* Events appended so far. */
uint64_t appender_accepted(appender *a);

/* Drain, stop the thread and free everything. NULL: nothing. */
void appender_stop(appender *a);

#endif
