/*
 * commit.h - group commit for the HTTP threads: answers that wait for
 * durability without holding a thread.
 *
 * The store is opened in TSAGG_SYNC_NONE mode, so tsagg_append() returns as
 * soon as the events are in the log writer's buffer. A request that
 * appended is then suspended (libmicrohttpd keeps its connection, the
 * thread serves others) and parked here with the sequence number of its
 * last event. One thread flushes whenever requests are parked: every event
 * appended by then becomes durable with one write and one fsync, and every
 * parked request it covers is resumed and answered. While that fsync runs,
 * the next requests gather for the following one.
 */
#ifndef SERVER_COMMIT_H
#define SERVER_COMMIT_H

#include "server.h"

typedef struct committer committer;

/* NULL on ENOMEM or when the thread could not start. */
committer *committer_start(server *srv);
/* Answer what is parked, then stop the thread; requests parked later are
 * flushed and answered in the thread that parks them. Call it while the
 * HTTP daemon still runs (it resumes connections). Accepts NULL. */
void committer_stop(committer *c);
/* Stop (if not done yet) and free. Accepts NULL. */
void committer_free(committer *c);
/* Park r (already suspended) until r->wait_seq is durable; it is then
 * resumed with its answer, or with 503 when the flush failed. */
void committer_park(committer *c, request *r);

#endif
