/*
 * interrupt.h - SIGINT and SIGTERM stop tsagg-ingest between reads.
 *
 * Both signals are blocked from the start, in every thread (the library's
 * threads inherit the mask when the store opens), and taken only when the
 * loader is about to read (interrupt_wait: a pending one first, then while
 * waiting, by a ppoll that unblocks them atomically). So a signal
 * arriving during an append or a compaction is taken at the next wait,
 * and none is lost between a check and a blocking read. The process then appends what it
 * parsed, flushes, prints its summary and where to resume, and ends by the
 * same signal (interrupt_reraise).
 */
#ifndef INGEST_INTERRUPT_H
#define INGEST_INTERRUPT_H

/* Catch and block SIGINT and SIGTERM; call before any thread starts.
 * 0, or -errno. */
int interrupt_catch(void);

/*
 * Wait until fd can be read, at most timeout_ms (-1: no limit), taking a
 * signal meanwhile. Returns 1 (read it), 0 (timed out), -1 (a signal was
 * taken: interrupt_signal() names it).
 */
int interrupt_wait(int fd, int timeout_ms);

/* The signal taken, or 0. */
int interrupt_signal(void);

/* End the process by the signal taken, or by one still pending (it came
 * after the last wait, during the final flush or compaction), with its
 * default action (a shell then sees 128 + its number); returns only when
 * there is none. */
void interrupt_reraise(void);

#endif
