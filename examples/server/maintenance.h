/*
 * maintenance.h - the server's use of the library's maintenance
 * (tsagg_maintain.h): its options from the command line, one step on
 * demand (POST /api/v1/maintenance), and a thread of the server's own that
 * logs what the library's maintenance thread did and failed to do, and
 * rebuilds the hours whose partition files queries found damaged
 * (self-repair).
 */
#ifndef SERVER_MAINTENANCE_H
#define SERVER_MAINTENANCE_H

#include "server.h"

typedef struct maintenance maintenance;

typedef struct maintenance_stats {
    tsagg_maintain_stats step;
    int rc;                  /* 0 or the step's error */
} maintenance_stats;

/* The library's maintenance settings for the server's configuration: the
 * thread's (opened with the store) and, with TSAGG_MAINTAIN_NOW, a step's
 * on demand. */
void maintenance_options(const server_config *cfg, tsagg_maintain_options *mo);

/* Start the server's thread (repairs, and the log of the library's
 * maintenance). NULL on ENOMEM or when the thread could not start. */
maintenance *maintenance_start(server *srv);
/* Stop the thread, waiting for a repair in progress. Accepts NULL. */
void maintenance_stop(maintenance *m);
/* One maintenance step now, in the caller's thread (steps never overlap:
 * the library's thread and this wait for each other). */
void maintenance_run(maintenance *m, maintenance_stats *st);

/*
 * A query met a damaged file: when msg (the store's error message) names a
 * partition file, schedule a tsagg_rebuild of its hour from the raw log.
 * Returns the hour's start (UTC µs) once scheduled or already pending, -1
 * when msg names no partition file.
 */
int64_t maintenance_repair(maintenance *m, const char *msg);

#endif
