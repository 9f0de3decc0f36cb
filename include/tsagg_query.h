/*
 * tsagg_query.h - time-series questions about a merchant's events.
 *
 * A query names a merchant (or all merchants), a time range [from, to), a
 * bucket size, metrics, filters and an optional group-by, and fills a
 * result whose columns the host reads directly: bucket start times, one
 * array of values per metric, and group keys. Every bucket of the range is
 * present, zeros included. Queries run on a snapshot of the published
 * partitions plus the events not compacted yet, which every handle keeps
 * indexed by merchant in memory (the head, docs/head.md; a read-only handle
 * reads what was appended since before each query); compaction and merges running
 * at the same time never block a query, never show it half a state and
 * never make it fail.
 *
 * What a query sees: on the writer's handle, exactly the durable events
 * (sequence numbers up to tsagg_durable_seq(), tsagg_log.h), so that no
 * number shown is taken back by a crash or a failed fsync; in every sync
 * mode an acknowledged event is durable, and so counted, within a second
 * (TSAGG_SYNC_INTERVAL: within sync_interval_ms when that is longer). A
 * read-only handle cannot know what another process's writer has made
 * durable: it counts what the log files hold, which is the durable events
 * plus those of a write whose fsync has not returned yet.
 */
#ifndef TSAGG_QUERY_H
#define TSAGG_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "tsagg_export.h"
#include "tsagg_store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bucket sizes. MINUTE and HOUR are UTC minutes and hours. DAY, WEEK
 * (starting Monday) and MONTH follow the query's time zone, daylight saving
 * included: a day can last 23 or 25 hours. TOTAL is one bucket, [from, to). */
enum tsagg_bucket {
    TSAGG_BUCKET_MINUTE = 0,
    TSAGG_BUCKET_HOUR = 1,
    TSAGG_BUCKET_DAY = 2,
    TSAGG_BUCKET_WEEK = 3,
    TSAGG_BUCKET_MONTH = 4,
    TSAGG_BUCKET_TOTAL = 5
};

enum tsagg_metric_kind {
    TSAGG_METRIC_COUNT = 0,    /* events */
    TSAGG_METRIC_SUM = 1,      /* of a measure; absent values count as nothing */
    TSAGG_METRIC_AVG = 2,      /* sum / number of events carrying the measure */
    TSAGG_METRIC_MIN = 3,
    TSAGG_METRIC_MAX = 4,      /* min/max of no value: NaN */
    TSAGG_METRIC_USERS = 5,    /* distinct users; events without one (user
                                  0) count in none, as NULL in SQL's
                                  count(DISTINCT); same for sessions */
    TSAGG_METRIC_SESSIONS = 6, /* distinct sessions */
    /* Visit metrics (see "Visits" at tsagg_query_run): always exact. */
    TSAGG_METRIC_VISITS = 7,           /* visits starting in the bucket */
    TSAGG_METRIC_BOUNCE_RATE = 8,      /* percent (0-100) of those visits that
                                          bounced; NaN with no visit */
    TSAGG_METRIC_VISIT_DURATION = 9,   /* mean seconds from first to last
                                          event; NaN with no visit */
    TSAGG_METRIC_PAGES_PER_VISIT = 10, /* page_view events of those visits /
                                          visits; NaN with no visit */
    TSAGG_METRIC_NEW_USERS = 11,       /* users first seen in the bucket */
    TSAGG_METRIC_RETURNING_USERS = 12  /* distinct users - new users */
};

typedef struct tsagg_metric {
    uint32_t kind;       /* enum tsagg_metric_kind */
    const char *measure; /* for SUM, AVG, MIN, MAX: a declared measure */
} tsagg_metric;

/* field equals one of values. field is "event" or a declared dimension. */
typedef struct tsagg_filter {
    const char *field;
    const char *const *values;
    uint32_t nvalues;    /* >= 1 */
} tsagg_filter;

/* tsagg_query.flags */
#define TSAGG_QUERY_ALL_MERCHANTS 0x1u /* ignore `merchant`: every merchant */
#define TSAGG_QUERY_EXACT 0x2u         /* exact distinct counts from the rows */
#define TSAGG_QUERY_NO_TAIL 0x4u       /* partitions only, not the head of
                                          events not compacted yet */

#define TSAGG_QUERY_MAX_METRICS 16
#define TSAGG_QUERY_MAX_FILTERS 16
/* Buckets a query's range may span (TSAGG_EARG beyond): about two years of
 * minutes. */
#define TSAGG_QUERY_MAX_BUCKETS 1100000u
/* Rows (buckets x groups kept) of one answer: what bounds its memory. */
#define TSAGG_QUERY_MAX_ROWS 4194304u

typedef struct tsagg_query {
    uint32_t struct_size;  /* set by tsagg_query_init; sizes as for
                              tsagg_options (tsagg_store.h) */
    uint32_t flags;        /* TSAGG_QUERY_*; others: TSAGG_EARG */
    uint64_t merchant;
    int64_t from, to;      /* [from, to), microseconds since the epoch, UTC */
    uint32_t bucket;       /* enum tsagg_bucket; default HOUR */
    const char *tz;        /* IANA zone ("Europe/Berlin"); NULL or "UTC": UTC */
    const tsagg_metric *metrics;
    uint32_t nmetrics;     /* 1..TSAGG_QUERY_MAX_METRICS; 0 means count */
    const tsagg_filter *filters;
    uint32_t nfilters;     /* ANDed */
    const char *group_by;  /* NULL, "event", a dimension, or (with visit
                              metrics only) "entry_page" / "exit_page": the
                              page of a visit's first / last page_view
                              ("" when it has none) */
    uint32_t top;          /* with group_by: keep the N groups first by the
                              first metric (descending), ties by key; 0 all */
} tsagg_query;

TSAGG_API void tsagg_query_init(tsagg_query *q);

/*
 * Results: rows are (bucket, group) pairs, bucket-major; without group-by
 * there is one row per bucket. Create once and reuse across queries: a run
 * reuses the arrays it already has. Every array and string a result hands
 * out (times, values, group keys, the error message) belongs to it and
 * stays valid until the next tsagg_query_run() on it or tsagg_result_free();
 * copy what must outlive that. A result is used by one thread at a time;
 * queries on one store run concurrently with one result each.
 */
typedef struct tsagg_result tsagg_result;

TSAGG_API int tsagg_result_create(tsagg_result **out);
TSAGG_API void tsagg_result_free(tsagg_result *r); /* accepts NULL */

/*
 * Run q on the store (read-only or writable handle; any thread). Errors:
 * TSAGG_EARG (bad range, bucket, metric kind, unknown flag, a combination
 * of visit metrics refused below, more than
 * TSAGG_QUERY_MAX_BUCKETS buckets, an answer of more than
 * TSAGG_QUERY_MAX_ROWS rows: the message gives buckets x groups),
 * TSAGG_ESCHEMA (unknown dimension or measure; the message names it),
 * unknown time zone (TSAGG_EARG), damaged files (TSAGG_ECHECKSUM,
 * TSAGG_ECORRUPT), a partition file whose hour, file id, row count or size
 * is not what the manifest lists, as when another hour's file was copied
 * over it (TSAGG_ECORRUPT), -errno. tsagg_result_errmsg(r) tells which and
 * names the file, whatever other threads' queries on the store do
 * meanwhile; every failure sets it (at least "query: <tsagg_strerror>"),
 * so it never shows an earlier failure's message (the store's errmsg holds
 * the latest failure of any query). On error the result is empty.
 *
 * Damage in the log not yet compacted (a bad frame or segment, as
 * tsagg_verify reports it), met where the head reads the log (at open; on a
 * read-only handle, before each query, what was appended since), does not
 * fail the query: the head holds the events before it, they are counted,
 * and every result of that handle carries a warning (tsagg_result_warning)
 * naming the file and offset while the damage is in the uncompacted log.
 * The writer's head takes appended events as they are appended: damage
 * done to the log files after that is found by tsagg_verify, compaction and
 * read-only handles, not by the writer's queries. TSAGG_QUERY_NO_TAIL reads
 * no head and so never warns.
 *
 * Semantics worth knowing:
 *   - The first bucket's time is the start of the bucket holding `from`,
 *     which can lie before `from`; only events in [from, to) are counted.
 *   - Groups are ranked by the first metric over the whole range
 *     (descending; a group with no value ranks last), then by key. A
 *     group-by that matches no event gives 0 rows. Ranking holds one total
 *     per distinct value; per-bucket series are kept for the top groups
 *     only once buckets x values passes TSAGG_QUERY_MAX_ROWS (the query
 *     then reads its data twice).
 *   - The events not compacted yet are read from the store's head
 *     (docs/head.md), where they went through compaction's processing:
 *     the store's rules and the store's processing hook
 *     (tsagg_options.process) apply to them as to compacted events, and a
 *     retry (same merchant, ts and event id) is kept once.
 *   - A client retry (same merchant, ts and event id) counts once wherever
 *     its copies are: in one partition file, in files of different
 *     compaction runs (compaction drops an event a published file holds
 *     already), in the head, or in the head and a file (the query leaves
 *     out the head's copy). The first copy counts. Distinct-count
 *     estimates are the same before and after compaction and merges: a
 *     sketch depends only on the set of ids it saw.
 */
/*
 * Visits (TSAGG_METRIC_VISITS ... PAGES_PER_VISIT, group-by "entry_page" /
 * "exit_page"), for one merchant; events with session 0 are in no visit:
 *   - An event of session s at time t starts a visit when no other event
 *     of s lies in [t - 24 h, t) and none at t comes before it; the visit
 *     is the events of s in [t, t + 24 h). Events of a session that goes
 *     on past 24 hours without a 24-hour gap belong to no visit and start
 *     none (a visit lasts 30 minutes of quiet in practice; session ids come
 *     from the client, and 24 hours bounds what a query reads). Events of
 *     one session at the same ts are ordered by event id, then event name,
 *     then the values of the dimensions the query reads (its filters',
 *     its group-by's, page for entry/exit pages) in schema order.
 *   - A visit belongs to the bucket (and range) holding its start, and its
 *     figures count all its events, those after `to` included: a query
 *     reads the merchant's rows of [from - 24 h, to + 24 h).
 *   - visits: visits starting in the bucket; visit_duration: mean of last
 *     ts - first ts, in seconds; pages_per_visit: their page_view events /
 *     visits; bounce_rate: visits with exactly one event, a page_view, /
 *     visits x 100. The last three are NaN for a bucket without visits.
 *   - Filters on a dimension look at the visit's first event; a filter on
 *     "event" keeps the visits holding an event of one of its names. A
 *     group-by dimension groups visits by their first event's value;
 *     "entry_page" / "exit_page" by the page of the first / last page_view
 *     ("" for a visit without one): TSAGG_ESCHEMA without a "page"
 *     dimension, TSAGG_EARG with a metric other than the four visit ones.
 *     Group-by "event" with visit metrics: TSAGG_EARG (a visit holds events
 *     of several names; filter on event instead).
 *   - Mixed with event metrics (count ... sessions) without a visit
 *     group-by, each metric keeps its own meaning.
 * New users (TSAGG_METRIC_NEW_USERS): of the distinct users (user != 0)
 * with an event matching the filters in the bucket (and group), those whose
 * first event for the merchant in the whole store, any event, lies in that
 * bucket of the range; RETURNING_USERS: those distinct users minus the new
 * ones. Ranked over the range: new users add up, returning ones are the
 * group's distinct users over the range minus its new ones.
 * These metrics are exact (tsagg_result_approximate() is not set by them),
 * computed from the rows of the snapshot's files and the head (a retry
 * counts once), and per merchant: TSAGG_QUERY_ALL_MERCHANTS with them is
 * TSAGG_EARG. New users read the ts and user of the merchant's rows from
 * the store's first file on.
 */
TSAGG_API int tsagg_query_run(tsagg_store *store, const tsagg_query *q, tsagg_result *r);

TSAGG_API size_t tsagg_result_rows(const tsagg_result *r);
TSAGG_API size_t tsagg_result_buckets(const tsagg_result *r);
/* Groups per bucket: 1 without group-by. */
TSAGG_API size_t tsagg_result_groups(const tsagg_result *r);
/* Bucket start of every row (UTC microseconds). */
TSAGG_API const int64_t *tsagg_result_times(const tsagg_result *r);
/* Values of metric m for every row. Counts and distinct counts are whole
 * numbers stored as doubles. */
TSAGG_API const double *tsagg_result_values(const tsagg_result *r, size_t m);
/* Group key of a row (NUL-terminated; "" without group-by). */
TSAGG_API const char *tsagg_result_group(const tsagg_result *r, size_t row);
/* 1 when distinct counts are estimates (HyperLogLog, standard error
 * 0.81%; exact up to 256 distinct per merchant-hour), 0 when exact. */
TSAGG_API int tsagg_result_approximate(const tsagg_result *r);
/* Detail of the failure of the last tsagg_query_run() on r ("unknown
 * measure \"price\""), "" after a success. Never NULL. */
TSAGG_API const char *tsagg_result_errmsg(const tsagg_result *r);
/* NULL when the answer counts every event it should; else why it does not:
 * "<segment path>: <what> at offset <n>; the log cannot be read past it:
 * events after it are not counted" (the log tail stopped at damage; see
 * tsagg_query_run). Like the arrays above, it belongs to the result and is
 * valid until the next tsagg_query_run on that result or its free; a run
 * that fails leaves none. */
TSAGG_API const char *tsagg_result_warning(const tsagg_result *r);

#ifdef __cplusplus
}
#endif
#endif
