/*
 * gagen.h - a deterministic generator of Google-Analytics-like events.
 *
 * Shared by the benchmarks, the tests and the tsagg-gen tool. Everything it
 * produces is a function of the configuration (seed included): the same
 * configuration gives the same stream, whatever batch sizes the caller uses.
 * docs/tsagg-gen.md describes the model and its distributions.
 *
 *     gagen_config cfg;
 *     gagen_config_init(&cfg);           defaults, then change what you need
 *     cfg.events = 10000000;
 *     gagen *g = gagen_create(&cfg);
 *     tsagg_event batch[4096];
 *     size_t n;
 *     while ((n = gagen_next(g, batch, 4096)) > 0)
 *         ... use batch[0..n) ...
 *     gagen_free(g);
 *
 * The generator does not print, exit, use globals or start threads. One
 * handle must not be used by two threads at once; separate handles are
 * independent. It depends on the public headers of libtsagg (the event
 * structs) but not on the library: user and session ids are hashed with
 * XXH64 seed 0, which is what tsagg_hash_id() computes.
 */
#ifndef GAGEN_H
#define GAGEN_H

#include <stddef.h>
#include <stdint.h>

#include "tsagg_store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 2026-10-01T00:00:00Z in microseconds since the Unix epoch. */
#define GAGEN_DEFAULT_START_US INT64_C(1790812800000000)

#define GAGEN_MERCHANTS_MAX (1u << 24)
#define GAGEN_DAYS_MAX 3660u

/* gagen_config.flags */
/* Event ids are a bijective 64-bit scramble of the sequence number instead
 * of the sequence number itself (client-generated ids look random). */
#define GAGEN_RANDOM_IDS 0x1u

/*
 * Stream parameters. Initialise with gagen_config_init(), which sets the
 * defaults noted here.
 */
typedef struct gagen_config {
    uint64_t seed;          /* default 1 */
    uint64_t events;        /* events in the stream, duplicates included;
                               default 1,000,000 */
    uint32_t days;          /* length of the time range, 1..GAGEN_DAYS_MAX;
                               default 30 */
    uint32_t merchants;     /* 1..GAGEN_MERCHANTS_MAX; default 1000 */
    int64_t start_us;       /* start of the range, µs since the epoch, UTC;
                               default GAGEN_DEFAULT_START_US */
    double zipf_s;          /* merchant traffic ~ 1/rank^zipf_s, 0..4;
                               default 1.1 */
    double late_fraction;   /* share of events whose ts is 1-48 h older than
                               their place in the stream; default 0.01 */
    double dup_fraction;    /* share of events that are exact copies (same
                               id) of a recent event; default 0.005 */
    double extra_fraction;  /* share of sessions whose events carry the
                               undeclared attribute utm_campaign;
                               default 0.02 */
    uint32_t flags;         /* GAGEN_*; default 0 */
} gagen_config;

void gagen_config_init(gagen_config *cfg);

typedef struct gagen gagen;

/*
 * A generator for cfg (copied; NULL means the defaults). Returns NULL and
 * sets errno to EINVAL for a parameter out of range (late_fraction +
 * dup_fraction must not exceed 1, fractions not negative) or ENOMEM.
 * Memory is about 50 bytes per merchant (twice that while creating) plus
 * 48 bytes per concurrently active session (about 50 per event/s of
 * average traffic: ~60,000 for 100 M events a day).
 */
gagen *gagen_create(const gagen_config *cfg);

/* Accepts NULL. */
void gagen_free(gagen *g);

/*
 * The next events of the stream, in arrival order: event time except for
 * the late events and the duplicates. Fills out[0..n) and returns n, at
 * most cap and at most 16384 per call; 0 only at the end of the stream
 * (or for cap 0).
 * The strings and attribute arrays the events point to are owned by the
 * generator and stay valid until the next gagen_next() or gagen_free().
 * Every event has an id (TSAGG_EVENT_HAS_ID), unique but for the
 * duplicates, and the attributes, in this order:
 *   page, referrer, country, device, browser, os (TSAGG_STR, always),
 *   value (TSAGG_F64, on purchase events only),
 *   utm_campaign (TSAGG_STR, on the sessions chosen by extra_fraction).
 */
size_t gagen_next(gagen *g, tsagg_event *out, size_t cap);

/* The original string ids of an event (user "u-42-17", session
 * "s-42-17-3"), NUL-terminated; user/session in tsagg_event are their
 * XXH64 (seed 0) hashes. */
typedef struct gagen_ids {
    const char *user;
    const char *session;
    uint32_t user_len;
    uint32_t session_len;
} gagen_ids;

/*
 * The string ids of the events of the last gagen_next() call, parallel to
 * its output (index i belongs to out[i]). Formatted on the first call after
 * each gagen_next(), so callers that do not need them do not pay; valid
 * until the next gagen_next() or gagen_free(). NULL before the first batch.
 */
const gagen_ids *gagen_batch_ids(gagen *g);

typedef struct gagen_stats {
    uint64_t events;     /* handed out so far */
    uint64_t late;       /* of which late */
    uint64_t duplicates; /* of which duplicates */
    uint64_t sessions;   /* sessions started */
    uint64_t users;      /* distinct users created */
} gagen_stats;

void gagen_get_stats(const gagen *g, gagen_stats *out);

/* ------------------------------------------------------------------------ */
/* Merchants                                                                */
/* ------------------------------------------------------------------------ */

/* Merchant ids are 1..merchants, shuffled: the largest is not id 1. */
size_t gagen_merchant_count(const gagen *g);

/* The id of the merchant with the rank-th largest expected traffic (0: the
 * largest), or 0 when rank is out of range. */
uint64_t gagen_merchant_by_rank(const gagen *g, size_t rank);

/* Expected share of the stream's events of the rank-th merchant (the Zipf
 * weight; exact over whole days up to sampling noise), 0 out of range. */
double gagen_merchant_share(const gagen *g, size_t rank);

/* Rank of a merchant id, or SIZE_MAX for an unknown id. */
size_t gagen_merchant_rank(const gagen *g, uint64_t merchant);

/* The merchant's fixed UTC offset in minutes east (330 for +05:30), or 0
 * for an unknown id. No daylight saving time. */
int gagen_merchant_utc_offset(const gagen *g, uint64_t merchant);

/* ------------------------------------------------------------------------ */
/* Formatting (also usable on events that do not come from a generator)     */
/* ------------------------------------------------------------------------ */

/* Longest line the formatters write for a generated event. */
#define GAGEN_LINE_MAX 1024

/*
 * One NDJSON line for ev, '\n' included, into buf; returns its length, or
 * 0 when it does not fit in cap (buf is then unspecified; no NUL is
 * written). The keys, in order:
 *   {"ts":"2026-11-20T13:45:01.123456Z","merchant":42,"event":"page_view",
 *    "user":"u-42-17","session":"s-42-17-3","id":77, ...attributes}
 * ts is RFC 3339 UTC with microseconds, so nothing is lost. user and
 * session are the strings of ids; with ids NULL they are the 64-bit hashes
 * as integers. "id" is omitted without TSAGG_EVENT_HAS_ID. The attributes
 * follow in their order: strings escaped as JSON (bytes >= 0x80 are copied,
 * UTF-8 is not checked), integers as integers, doubles in the shortest form
 * that reads back to the same double (non-finite ones as null).
 */
size_t gagen_format_ndjson(const tsagg_event *ev, const gagen_ids *ids,
                           char *buf, size_t cap);

/* The CSV header row, '\n' included:
 * ts,merchant,event,user,session,id,page,referrer,country,device,browser,os,value */
const char *gagen_csv_header(void);

/*
 * One CSV row for ev in the columns of gagen_csv_header(), '\n' included;
 * returns its length or 0 when it does not fit. Attributes are matched by
 * name; missing ones (and id without TSAGG_EVENT_HAS_ID) are empty fields;
 * others (utm_campaign) are left out. Fields holding , " CR or LF are
 * quoted as RFC 4180 says.
 */
size_t gagen_format_csv(const tsagg_event *ev, const gagen_ids *ids,
                        char *buf, size_t cap);

/* ts as "2026-11-20T13:45:01.123456Z" (27 bytes) plus a NUL into buf
 * (cap >= 28); returns 27, or 0 when cap is too small or the year is
 * outside 0000..9999. */
size_t gagen_format_ts(int64_t ts_us, char *buf, size_t cap);

/*
 * Parse an RFC 3339 date-time ("2026-10-01T00:00:00Z",
 * "2026-10-01 05:30:00.25+05:30"; 't' and a space are accepted for 'T',
 * 'z' for 'Z', up to 6 fraction digits) or a plain date ("2026-10-01",
 * midnight UTC) into µs since the epoch. 0 or -EINVAL.
 */
int gagen_parse_ts(const char *s, int64_t *out_us);

#ifdef __cplusplus
}
#endif
#endif
