/* metrics.c - see metrics.h. Counters are relaxed atomics: each is read
 * alone, and a scrape may see one a moment older than another. */
#include "metrics.h"

#include <dirent.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "maintenance.h"

static const unsigned status_codes[] = {200, 201, 202, 204, 400, 401, 403, 404,
                                        405, 413, 415, 500, 503};
#define NSTATUS (sizeof status_codes / sizeof status_codes[0])

/* Query latency buckets, seconds (the 5 ms target sits on a bound). */
static const double latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                        0.025, 0.05, 0.1, 0.25, 1.0};
#define NBOUNDS (sizeof latency_bounds / sizeof latency_bounds[0])

static const char *const endpoint_names[EP_COUNT] = {
    "healthz", "metrics", "sites", "events", "query", "maintenance",
    "ga4_collect", "ga4_debug", "ua_collect", "ua_batch", "plausible_event", "dashboard", "other",
};

static const char *const result_names[EV_RESULT_COUNT] = {
    "accepted", "invalid", "unknown_site", "bot", "limit", "store_error",
};

struct metrics {
    atomic_uint_fast64_t requests[EP_COUNT][NSTATUS + 1]; /* last: other codes */
    atomic_uint_fast64_t events[EP_COUNT][EV_RESULT_COUNT];
    atomic_uint_fast64_t latency[NBOUNDS + 1];
    atomic_uint_fast64_t latency_sum_ns;
    atomic_uint_fast64_t rebuilds, rebuild_errors;
};

metrics *metrics_create(void)
{
    return calloc(1, sizeof(metrics));
}

void metrics_free(metrics *m)
{
    free(m);
}

const char *endpoint_name(int ep)
{
    return ep >= 0 && ep < EP_COUNT ? endpoint_names[ep] : "other";
}

void metrics_request(metrics *m, int ep, unsigned status)
{
    size_t i = 0;
    while (i < NSTATUS && status_codes[i] != status)
        i++;
    atomic_fetch_add_explicit(&m->requests[ep][i], 1, memory_order_relaxed);
}

void metrics_events(metrics *m, int ep, enum event_result res, uint64_t n)
{
    atomic_fetch_add_explicit(&m->events[ep][res], n, memory_order_relaxed);
}

void metrics_query_latency(metrics *m, double seconds)
{
    size_t i = 0;
    while (i < NBOUNDS && seconds > latency_bounds[i])
        i++;
    atomic_fetch_add_explicit(&m->latency[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->latency_sum_ns, (uint64_t)(seconds * 1e9),
                              memory_order_relaxed);
}

void metrics_rebuild(metrics *m, int failed)
{
    atomic_fetch_add_explicit(&m->rebuilds, 1, memory_order_relaxed);
    if (failed)
        atomic_fetch_add_explicit(&m->rebuild_errors, 1, memory_order_relaxed);
}

static uint64_t get(atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* Files and bytes under STORE/parts (the layout of tsagg_store.h). */
static void partition_usage(const char *store, uint64_t *files, uint64_t *bytes)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/parts", store);
    *files = *bytes = 0;
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat st;
        if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, 0) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        (*files)++;
        *bytes += (uint64_t)st.st_size;
    }
    closedir(d);
}

char *metrics_render(metrics *m, server *srv, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        return NULL;
    fprintf(f, "# HELP tsagg_server_requests_total HTTP requests answered, by endpoint and status.\n"
               "# TYPE tsagg_server_requests_total counter\n");
    for (int ep = 0; ep < EP_COUNT; ep++)
        for (size_t i = 0; i <= NSTATUS; i++) {
            uint64_t v = get(&m->requests[ep][i]);
            if (!v)
                continue;
            if (i < NSTATUS)
                fprintf(f, "tsagg_server_requests_total{endpoint=\"%s\",status=\"%u\"} %llu\n",
                        endpoint_names[ep], status_codes[i], (unsigned long long)v);
            else
                fprintf(f, "tsagg_server_requests_total{endpoint=\"%s\",status=\"other\"} %llu\n",
                        endpoint_names[ep], (unsigned long long)v);
        }
    fprintf(f, "# HELP tsagg_server_events_total Events received, by endpoint and what became "
               "of them (accepted: durable; the others: not stored, by reason).\n"
               "# TYPE tsagg_server_events_total counter\n");
    for (int ep = 0; ep < EP_COUNT; ep++)
        for (int res = 0; res < EV_RESULT_COUNT; res++) {
            uint64_t v = get(&m->events[ep][res]);
            if (v)
                fprintf(f, "tsagg_server_events_total{endpoint=\"%s\",result=\"%s\"} %llu\n",
                        endpoint_names[ep], result_names[res], (unsigned long long)v);
        }
    fprintf(f, "# HELP tsagg_server_query_seconds Time spent answering /api/v1/query.\n"
               "# TYPE tsagg_server_query_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i <= NBOUNDS; i++) {
        cum += get(&m->latency[i]);
        if (i < NBOUNDS)
            fprintf(f, "tsagg_server_query_seconds_bucket{le=\"%g\"} %llu\n", latency_bounds[i],
                    (unsigned long long)cum);
        else
            fprintf(f, "tsagg_server_query_seconds_bucket{le=\"+Inf\"} %llu\n",
                    (unsigned long long)cum);
    }
    fprintf(f, "tsagg_server_query_seconds_sum %.9f\ntsagg_server_query_seconds_count %llu\n",
            (double)get(&m->latency_sum_ns) / 1e9, (unsigned long long)cum);

    uint64_t last = tsagg_last_seq(srv->store), durable = tsagg_durable_seq(srv->store);
    uint64_t compacted = 0;
    tsagg_compacted_seq(srv->store, &compacted);
    fprintf(f, "# HELP tsagg_server_durable_lag_events Events appended but not yet durable.\n"
               "# TYPE tsagg_server_durable_lag_events gauge\n"
               "tsagg_server_durable_lag_events %llu\n",
            (unsigned long long)(last - durable));
    fprintf(f, "# HELP tsagg_server_tail_events Durable events not yet compacted.\n"
               "# TYPE tsagg_server_tail_events gauge\n"
               "tsagg_server_tail_events %llu\n",
            (unsigned long long)(durable > compacted ? durable - compacted : 0));
    /* The library's maintenance: its thread's steps and those on demand. */
    tsagg_maintain_stats ms = {.struct_size = sizeof ms};
    tsagg_maintenance_status(srv->store, &ms);
    fprintf(f, "# HELP tsagg_server_compactions_total Compactions run by maintenance.\n"
               "# TYPE tsagg_server_compactions_total counter\n"
               "tsagg_server_compactions_total %llu\n"
               "# HELP tsagg_server_compaction_errors_total Maintenance steps that failed.\n"
               "# TYPE tsagg_server_compaction_errors_total counter\n"
               "tsagg_server_compaction_errors_total %llu\n"
               "# HELP tsagg_server_maintenance_failing Maintenance steps failed in a row (0: healthy).\n"
               "# TYPE tsagg_server_maintenance_failing gauge\n"
               "tsagg_server_maintenance_failing %u\n"
               "# HELP tsagg_server_compaction_seconds_total Time spent in maintenance steps.\n"
               "# TYPE tsagg_server_compaction_seconds_total counter\n"
               "tsagg_server_compaction_seconds_total %.6f\n"
               "# HELP tsagg_server_maintenance_cpu_seconds_total CPU time of maintenance steps.\n"
               "# TYPE tsagg_server_maintenance_cpu_seconds_total counter\n"
               "tsagg_server_maintenance_cpu_seconds_total %.6f\n"
               "# HELP tsagg_server_retention_dropped_total Files dropped past the retention period.\n"
               "# TYPE tsagg_server_retention_dropped_total counter\n"
               "tsagg_server_retention_dropped_total{kind=\"partition\"} %llu\n"
               "tsagg_server_retention_dropped_total{kind=\"log_segment\"} %llu\n",
            (unsigned long long)ms.compactions, (unsigned long long)ms.failures,
            ms.consecutive_failures, (double)ms.wall_us / 1e6, (double)ms.cpu_us / 1e6,
            (unsigned long long)ms.partitions_dropped, (unsigned long long)ms.segments_dropped);
    fprintf(f, "# HELP tsagg_server_rebuilds_total Rebuilds of damaged hours scheduled by queries.\n"
               "# TYPE tsagg_server_rebuilds_total counter\n"
               "tsagg_server_rebuilds_total %llu\n"
               "# HELP tsagg_server_rebuild_errors_total Rebuilds that failed.\n"
               "# TYPE tsagg_server_rebuild_errors_total counter\n"
               "tsagg_server_rebuild_errors_total %llu\n",
            (unsigned long long)get(&m->rebuilds), (unsigned long long)get(&m->rebuild_errors));
    uint64_t files, bytes;
    partition_usage(srv->cfg.store_path, &files, &bytes);
    fprintf(f, "# HELP tsagg_server_partition_files Partition files in the store.\n"
               "# TYPE tsagg_server_partition_files gauge\n"
               "tsagg_server_partition_files %llu\n"
               "# HELP tsagg_server_partition_bytes Bytes of partition files in the store.\n"
               "# TYPE tsagg_server_partition_bytes gauge\n"
               "tsagg_server_partition_bytes %llu\n",
            (unsigned long long)files, (unsigned long long)bytes);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
