/*
 * tsagg-ingest-check - what the tests of tsagg-ingest read back.
 *
 *   count STORE [--merchant N] [--event E] [--where DIM=VALUE]...
 *               [--metric count|users|sessions] [--group-by DIM] [--top N]
 *         a query over all time (exact distinct counts): one number, or
 *         "KEY<TAB>VALUE" lines with --group-by
 *   dump STORE    the raw log, one event per line:
 *         seq ts merchant event user session [id=N] key=value...
 *   compare STORE [--csv] [-n N] [-d D] [-m M] [-s S] [--extra F]
 *         the raw log against the stream tsagg-gen prints with those
 *         options (--csv: as its CSV loads: no undeclared attributes,
 *         empty strings absent)
 *   ua    classify the user agents read from stdin, one per line:
 *         device<TAB>browser<TAB>os<TAB>crawler
 *
 * Exit status: 0, 1 on a mismatch or failure, 2 usage.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gagen.h"
#include "numtext.h"
#include "useragent.h"

#define PROG "tsagg-ingest-check"
#define MAX_WHERE 8

static int open_ro(const char *path, tsagg_store **st)
{
    return cli_open_store(PROG, path, NULL, st) == 0 ? 0 : 1;
}

static int cmd_count(int argc, char **argv)
{
    if (argc < 1)
        return cli_usage_error(PROG, "count: no STORE");
    tsagg_query q;
    tsagg_query_init(&q);
    q.flags = TSAGG_QUERY_ALL_MERCHANTS | TSAGG_QUERY_EXACT;
    q.from = 0;
    q.to = INT64_C(253402300800000000); /* year 10000 */
    q.bucket = TSAGG_BUCKET_TOTAL;
    tsagg_metric metric = {.kind = TSAGG_METRIC_COUNT};
    tsagg_filter filters[MAX_WHERE + 1];
    const char *values[MAX_WHERE + 1];
    char *fields[MAX_WHERE + 1];
    uint32_t nf = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return cli_usage_error(PROG, "count: %s needs a value", a);
        i++;
        if (strcmp(a, "--merchant") == 0) {
            if (!cli_parse_u64(v, &q.merchant))
                return cli_usage_error(PROG, "bad --merchant");
            q.flags &= ~TSAGG_QUERY_ALL_MERCHANTS;
        } else if ((strcmp(a, "--event") == 0 || strcmp(a, "--where") == 0) && nf < MAX_WHERE) {
            const char *eq = strchr(v, '=');
            if (a[2] == 'e') {
                fields[nf] = strdup("event");
                values[nf] = v;
            } else if (eq) {
                fields[nf] = strndup(v, (size_t)(eq - v));
                values[nf] = eq + 1;
            } else {
                return cli_usage_error(PROG, "count: --where DIM=VALUE");
            }
            filters[nf] = (tsagg_filter){.field = fields[nf], .values = &values[nf], .nvalues = 1};
            nf++;
        } else if (strcmp(a, "--metric") == 0) {
            metric.kind = strcmp(v, "users") == 0      ? TSAGG_METRIC_USERS
                          : strcmp(v, "sessions") == 0 ? TSAGG_METRIC_SESSIONS
                                                       : TSAGG_METRIC_COUNT;
        } else if (strcmp(a, "--group-by") == 0) {
            q.group_by = v;
        } else if (strcmp(a, "--top") == 0) {
            q.top = (uint32_t)atoi(v);
        } else {
            return cli_usage_error(PROG, "count: unknown option '%s'", a);
        }
    }
    q.metrics = &metric;
    q.nmetrics = 1;
    q.filters = filters;
    q.nfilters = nf;
    tsagg_store *st;
    tsagg_result *r;
    if (open_ro(argv[0], &st))
        return 1;
    if (tsagg_result_create(&r) != 0)
        return 1;
    int rc = tsagg_query_run(st, &q, r);
    if (rc != 0) {
        cli_report(PROG, st, "query", rc);
    } else if (q.group_by) {
        for (size_t row = 0; row < tsagg_result_rows(r); row++)
            printf("%s\t%.0f\n", tsagg_result_group(r, row), tsagg_result_values(r, 0)[row]);
    } else {
        printf("%.0f\n", tsagg_result_rows(r) ? tsagg_result_values(r, 0)[0] : 0.0);
    }
    tsagg_result_free(r);
    tsagg_store_close(st);
    for (uint32_t i = 0; i < nf; i++)
        free(fields[i]);
    return rc != 0;
}

static void print_attr(const tsagg_attr *a)
{
    printf(" %.*s=", (int)a->key_len, a->key);
    if (a->type == TSAGG_STR)
        printf("%.*s", (int)a->v.s.len, a->v.s.ptr);
    else if (a->type == TSAGG_INT)
        printf("%" PRId64, a->v.i);
    else {
        char num[TSAGG__NUM_TEXT_MAX];
        tsagg__num_format(num, sizeof num, "%.17g", a->v.f);
        fputs(num, stdout);
    }
}

static int cmd_dump(int argc, char **argv)
{
    if (argc < 1)
        return cli_usage_error(PROG, "dump: no STORE");
    tsagg_store *st;
    tsagg_log_reader *rd;
    tsagg_log_range range;
    const tsagg_event *ev;
    uint64_t seq;
    if (open_ro(argv[0], &st))
        return 1;
    tsagg_log_range_init(&range);
    int rc = tsagg_log_reader_open(st, &range, &rd);
    while (rc == 0 && (rc = tsagg_log_reader_next(rd, &ev, &seq)) == 1) {
        printf("%" PRIu64 " %" PRId64 " %" PRIu64 " %.*s %" PRIu64 " %" PRIu64, seq, ev->ts,
               ev->merchant, (int)ev->event_len, ev->event, ev->user, ev->session);
        if (ev->flags & TSAGG_EVENT_HAS_ID)
            printf(" id=%" PRIu64, ev->id);
        for (uint32_t i = 0; i < ev->nattrs; i++)
            print_attr(&ev->attrs[i]);
        putchar('\n');
        rc = 0;
    }
    if (rc < 0)
        cli_report(PROG, st, "read log", rc);
    tsagg_log_reader_close(rd);
    tsagg_store_close(st);
    return rc < 0;
}

static const tsagg_attr *find_attr(const tsagg_event *ev, const char *key, uint32_t len)
{
    for (uint32_t i = 0; i < ev->nattrs; i++)
        if (ev->attrs[i].key_len == len && memcmp(ev->attrs[i].key, key, len) == 0)
            return &ev->attrs[i];
    return NULL;
}

static int same_value(const tsagg_attr *a, const tsagg_attr *b)
{
    if (a->type == TSAGG_STR || b->type == TSAGG_STR)
        return a->type == b->type && a->v.s.len == b->v.s.len &&
               memcmp(a->v.s.ptr, b->v.s.ptr, a->v.s.len) == 0;
    double x = a->type == TSAGG_INT ? (double)a->v.i : a->v.f;
    double y = b->type == TSAGG_INT ? (double)b->v.i : b->v.f;
    return x == y || (isnan(x) && isnan(y));
}

/* Why the loaded event got differs from the generated want, or NULL. */
static const char *difference(const tsagg_event *want, const tsagg_event *got, int csv)
{
    if (want->ts != got->ts)
        return "ts";
    if (want->merchant != got->merchant || want->user != got->user ||
        want->session != got->session)
        return "merchant, user or session";
    if (want->event_len != got->event_len || memcmp(want->event, got->event, got->event_len))
        return "event";
    if (want->flags != got->flags || want->id != got->id)
        return "id";
    uint32_t expected = 0;
    for (uint32_t i = 0; i < want->nattrs; i++) {
        const tsagg_attr *w = &want->attrs[i];
        const tsagg_attr *g = find_attr(got, w->key, w->key_len);
        /* CSV: empty cells are absent, and only the header's columns exist. */
        if (csv && (strncmp(w->key, "utm_campaign", w->key_len) == 0 ||
                    (w->type == TSAGG_STR && w->v.s.len == 0))) {
            if (g)
                return "an attribute CSV cannot carry";
            continue;
        }
        if (!g)
            return "a missing attribute";
        if (!same_value(w, g))
            return "an attribute's value";
        expected++;
    }
    return expected == got->nattrs ? NULL : "extra attributes";
}

static int cmd_compare(int argc, char **argv)
{
    if (argc < 1)
        return cli_usage_error(PROG, "compare: no STORE");
    gagen_config cfg;
    gagen_config_init(&cfg);
    int csv = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        uint64_t u = 0;
        if (strcmp(a, "--csv") == 0) {
            csv = 1;
            continue;
        }
        i++;
        if (strcmp(a, "--extra") == 0) {
            cfg.extra_fraction = tsagg__num_strtod(v, NULL);
            continue;
        }
        if (!cli_parse_u64(v, &u))
            return cli_usage_error(PROG, "compare: bad value for %s", a);
        if (strcmp(a, "-n") == 0)
            cfg.events = u;
        else if (strcmp(a, "-d") == 0)
            cfg.days = (uint32_t)u;
        else if (strcmp(a, "-m") == 0)
            cfg.merchants = (uint32_t)u;
        else if (strcmp(a, "-s") == 0)
            cfg.seed = u;
        else
            return cli_usage_error(PROG, "compare: unknown option '%s'", a);
    }
    tsagg_store *st;
    tsagg_log_reader *rd;
    tsagg_log_range range;
    gagen *g = gagen_create(&cfg);
    tsagg_event batch[1024];
    if (!g || open_ro(argv[0], &st))
        return 1;
    tsagg_log_range_init(&range);
    int rc = tsagg_log_reader_open(st, &range, &rd);
    uint64_t matched = 0;
    const char *why = NULL;
    size_t n;
    while (rc == 0 && !why && (n = gagen_next(g, batch, 1024)) > 0) {
        for (size_t i = 0; i < n && !why; i++) {
            const tsagg_event *ev;
            uint64_t seq;
            rc = tsagg_log_reader_next(rd, &ev, &seq);
            if (rc != 1) {
                why = "the log ends early";
                break;
            }
            rc = 0;
            if (!(why = difference(&batch[i], ev, csv)))
                matched++;
        }
    }
    if (!why && rc == 0) {
        const tsagg_event *ev;
        uint64_t seq;
        if (tsagg_log_reader_next(rd, &ev, &seq) == 1)
            why = "the log has more events";
    }
    if (why)
        printf("mismatch after %" PRIu64 " events: %s\n", matched, why);
    else
        printf("%" PRIu64 " events match\n", matched);
    tsagg_log_reader_close(rd);
    tsagg_store_close(st);
    gagen_free(g);
    return why != NULL || rc < 0;
}

static int cmd_ua(void)
{
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        size_t len = strcspn(line, "\n");
        ua_info ui;
        ua_classify(line, len, &ui);
        printf("%s\t%.*s\t%s\t%d\n", ui.device, (int)ui.browser_len, ui.browser, ui.os,
               ui.crawler);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(PROG, "count, dump, compare or ua");
    if (strcmp(argv[1], "count") == 0)
        return cmd_count(argc - 2, argv + 2);
    if (strcmp(argv[1], "dump") == 0)
        return cmd_dump(argc - 2, argv + 2);
    if (strcmp(argv[1], "compare") == 0)
        return cmd_compare(argc - 2, argv + 2);
    if (strcmp(argv[1], "ua") == 0)
        return cmd_ua();
    return cli_usage_error(PROG, "unknown command '%s'", argv[1]);
}
