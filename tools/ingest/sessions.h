/*
 * sessions.h - sessions of access-log visitors: a visitor's requests
 * belong to one session while less than 30 minutes pass between them.
 *
 * The table remembers each visitor's current session (its first and last
 * request time). Visitors idle for an hour longer than the newest request
 * seen are forgotten when the table grows, so memory follows the number of
 * visitors active at once, not the length of the log.
 */
#ifndef INGEST_SESSIONS_H
#define INGEST_SESSIONS_H

#include <stdint.h>

#define SESSION_GAP_US INT64_C(1800000000) /* 30 minutes */

typedef struct sessions sessions;

sessions *sessions_create(void);
void sessions_free(sessions *s);

/*
 * The session of a request by visitor at ts: the visitor's current one
 * when ts lies within 30 minutes of it (before or after: log lines are not
 * strictly ordered), else a new one. A session's id is the hash of the
 * visitor and the time of the request that started it: the same log gives
 * the same ids. Returns 0 on ENOMEM.
 */
uint64_t sessions_assign(sessions *s, uint64_t visitor, int64_t ts);

#endif
