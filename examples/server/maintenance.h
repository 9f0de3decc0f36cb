/*
 * maintenance.h - the host-side stand-in for the library's maintenance,
 * which does not exist yet: a thread that compacts the log tail when it
 * holds --compact-events events or its oldest waited --compact-age
 * seconds, then merges hours that got late files. POST
 * /api/v1/maintenance runs one pass at once. The same thread rebuilds the
 * hours whose partition files queries found damaged (self-repair).
 */
#ifndef SERVER_MAINTENANCE_H
#define SERVER_MAINTENANCE_H

#include "server.h"

typedef struct maintenance maintenance;

typedef struct maintenance_stats {
    tsagg_compact_stats compact, merge;
    double seconds;
    int rc;                  /* 0 or the first error */
    char errmsg[256];
} maintenance_stats;

/* Start the thread (background = 0: compaction only on demand; rebuilds
 * still run). NULL on ENOMEM or when the thread could not start. */
maintenance *maintenance_start(server *srv, int background);
/* Stop the thread, waiting for a pass in progress. Accepts NULL. */
void maintenance_stop(maintenance *m);
/* One pass now, in the caller's thread (passes never overlap). */
void maintenance_run(maintenance *m, maintenance_stats *st);

/*
 * A query met a damaged file: when msg (the store's error message) names a
 * partition file, schedule a tsagg_rebuild of its hour from the raw log.
 * Returns the hour's start (UTC µs) once scheduled or already pending, -1
 * when msg names no partition file.
 */
int64_t maintenance_repair(maintenance *m, const char *msg);

#endif
