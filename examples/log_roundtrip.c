/*
 * log_roundtrip.c - write events to a store's log and read them back.
 *
 *   log_roundtrip STORE [EVENTS]
 *
 * Appends EVENTS (default 100000) web-analytics events in batches with the
 * default durability (every batch fsynced, group commit), reopens the store
 * read-only, reads everything back, and prints what it saw: page views per
 * hour of the first merchant, then totals.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tsagg.h"

#define BATCH 1000

static const char *const pages[] = {"/", "/pricing", "/docs", "/blog/launch", "/signup"};
static const char *const countries[] = {"US", "DE", "IN", "BR", "FR"};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int die(const char *what, int rc, const char *detail)
{
    fprintf(stderr, "log_roundtrip: %s: %s%s%s\n", what, tsagg_strerror(rc),
            detail && *detail ? ": " : "", detail ? detail : "");
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || !strcmp(argv[1], "--help")) {
        fprintf(stderr, "usage: log_roundtrip STORE [EVENTS]\n");
        return 2;
    }
    long total = argc == 3 ? strtol(argv[2], NULL, 10) : 100000;
    if (total <= 0) {
        fprintf(stderr, "log_roundtrip: EVENTS must be a positive number\n");
        return 2;
    }
    char err[512];
    tsagg_options opts;
    tsagg_options_init(&opts);
    opts.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    tsagg_store *st;
    int rc = tsagg_store_open(argv[1], &opts, &st, err, sizeof err);
    if (rc != 0)
        return die("open", rc, err);
    printf("libtsagg %s, log written with %s\n", tsagg_version(), tsagg_io_backend_name(st));

    /* 2026-11-01T00:00:00Z, one event every 0.5 s across 3 merchants. */
    const int64_t t0 = 1793491200000000LL;
    tsagg_event evs[BATCH];
    tsagg_attr attrs[BATCH][3];
    double t_start = now_s();
    for (long done = 0; done < total;) {
        long n = total - done < BATCH ? total - done : BATCH;
        for (long i = 0; i < n; i++) {
            long k = done + i;
            const char *page = pages[k % 5], *country = countries[(k / 7) % 5];
            attrs[i][0] = (tsagg_attr){.key = "page", .key_len = 4, .type = TSAGG_STR,
                                       .v.s = {page, (uint32_t)strlen(page)}};
            attrs[i][1] = (tsagg_attr){.key = "country", .key_len = 7, .type = TSAGG_STR,
                                       .v.s = {country, 2}};
            attrs[i][2] = (tsagg_attr){.key = "value", .key_len = 5, .type = TSAGG_F64,
                                       .v.f = (double)(k % 100) / 4};
            char user[32];
            int ulen = snprintf(user, sizeof user, "user-%ld", k % 997);
            evs[i] = (tsagg_event){.ts = t0 + k * 500000LL, .merchant = 1 + (uint64_t)(k % 3),
                                   .event = "page_view", .event_len = 9,
                                   .user = tsagg_hash_id(user, (size_t)ulen),
                                   .session = (uint64_t)(k / 50), .flags = TSAGG_EVENT_HAS_ID,
                                   .id = (uint64_t)k, .attrs = attrs[i], .nattrs = 3};
        }
        rc = tsagg_append(st, evs, (size_t)n, NULL);
        if (rc != 0) {
            tsagg_store_errmsg(st, err, sizeof err);
            return die("append", rc, err);
        }
        done += n;
    }
    double t_write = now_s() - t_start;
    printf("appended %ld events in %.3f s, durable up to sequence %" PRIu64 "\n", total, t_write,
           tsagg_durable_seq(st));
    rc = tsagg_store_close(st);
    if (rc != 0)
        return die("close", rc, NULL);

    rc = tsagg_store_open(argv[1], NULL, &st, err, sizeof err);
    if (rc != 0)
        return die("reopen", rc, err);
    tsagg_log_reader *rd;
    rc = tsagg_log_reader_open(st, NULL, &rd);
    if (rc != 0)
        return die("reader", rc, NULL);
    long seen = 0, hours[24] = {0};
    double revenue = 0;
    const tsagg_event *ev;
    uint64_t seq;
    t_start = now_s();
    while ((rc = tsagg_log_reader_next(rd, &ev, &seq)) == 1) {
        seen++;
        if (ev->merchant == 1) {
            int64_t h = (ev->ts - t0) / 3600000000LL;
            if (h >= 0 && h < 24)
                hours[h]++;
        }
        for (uint32_t a = 0; a < ev->nattrs; a++)
            if (ev->attrs[a].type == TSAGG_F64)
                revenue += ev->attrs[a].v.f;
    }
    if (rc < 0) {
        tsagg_store_errmsg(st, err, sizeof err);
        return die("read", rc, err);
    }
    printf("read back %ld events in %.3f s\n\npage views per hour, merchant 1:\n", seen,
           now_s() - t_start);
    for (int h = 0; h < 24; h++)
        if (hours[h])
            printf("  2026-11-01T%02d:00:00Z  %ld\n", h, hours[h]);
    printf("\ntotal value %.2f over %ld events\n", revenue, seen);
    tsagg_log_reader_close(rd);
    tsagg_store_close(st);
    return seen == total ? 0 : 1;
}
