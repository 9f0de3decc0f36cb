/*
 * args.c - the values of tsagg-query's options: buckets, metrics, filters,
 * and their check against the store's schema.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qtool.h"

static const char *const bucket_names[] = {
    [TSAGG_BUCKET_MINUTE] = "minute", [TSAGG_BUCKET_HOUR] = "hour",
    [TSAGG_BUCKET_DAY] = "day",       [TSAGG_BUCKET_WEEK] = "week",
    [TSAGG_BUCKET_MONTH] = "month",   [TSAGG_BUCKET_TOTAL] = "total",
};

int qt_parse_bucket(const char *s, uint32_t *out)
{
    for (uint32_t i = 0; i < sizeof bucket_names / sizeof bucket_names[0]; i++) {
        if (strcmp(s, bucket_names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return -1;
}

const char *qt_bucket_name(uint32_t bucket)
{
    return bucket < sizeof bucket_names / sizeof bucket_names[0] ? bucket_names[bucket] : "?";
}

int qt_metric_is_count(uint32_t kind)
{
    return kind == TSAGG_METRIC_COUNT || kind == TSAGG_METRIC_USERS ||
           kind == TSAGG_METRIC_SESSIONS || kind == TSAGG_METRIC_VISITS ||
           kind == TSAGG_METRIC_NEW_USERS || kind == TSAGG_METRIC_RETURNING_USERS;
}

static const struct {
    const char *name;
    uint32_t kind;
    int field; /* takes ":FIELD" */
} metric_names[] = {
    {"count", TSAGG_METRIC_COUNT, 0}, {"users", TSAGG_METRIC_USERS, 0},
    {"sessions", TSAGG_METRIC_SESSIONS, 0}, {"sum", TSAGG_METRIC_SUM, 1},
    {"avg", TSAGG_METRIC_AVG, 1},       {"min", TSAGG_METRIC_MIN, 1},
    {"max", TSAGG_METRIC_MAX, 1},
    {"visits", TSAGG_METRIC_VISITS, 0}, {"bounce_rate", TSAGG_METRIC_BOUNCE_RATE, 0},
    {"visit_duration", TSAGG_METRIC_VISIT_DURATION, 0},
    {"pages_per_visit", TSAGG_METRIC_PAGES_PER_VISIT, 0},
    {"new_users", TSAGG_METRIC_NEW_USERS, 0},
    {"returning_users", TSAGG_METRIC_RETURNING_USERS, 0},
};

int qt_add_metric(qt_args *a, const char *s, char *err, size_t errlen)
{
    const char *colon = strchr(s, ':');
    size_t nlen = colon ? (size_t)(colon - s) : strlen(s);
    for (size_t i = 0; i < sizeof metric_names / sizeof metric_names[0]; i++) {
        const char *name = metric_names[i].name;
        if (strlen(name) != nlen || strncmp(s, name, nlen) != 0)
            continue;
        const char *field = colon ? colon + 1 : NULL;
        if (metric_names[i].field && (!field || !*field)) {
            snprintf(err, errlen, "metric '%s' needs a measure: %s:FIELD", s, name);
            return -1;
        }
        if (!metric_names[i].field && field) {
            snprintf(err, errlen, "metric '%s' takes no field (just '%s')", s, name);
            return -1;
        }
        if (field && strlen(field) > TSAGG_NAME_MAX) {
            snprintf(err, errlen, "measure name too long in metric '%.80s...'", s);
            return -1;
        }
        char col[QT_COLNAME_MAX];
        snprintf(col, sizeof col, "%s%s%s", name, field ? "_" : "", field ? field : "");
        for (uint32_t m = 0; m < a->nmetrics; m++) {
            if (strcmp(a->colnames[m], col) == 0) {
                snprintf(err, errlen, "metric '%s' is given twice", s);
                return -1;
            }
        }
        if (a->nmetrics == TSAGG_QUERY_MAX_METRICS) {
            snprintf(err, errlen, "more than %d metrics", TSAGG_QUERY_MAX_METRICS);
            return -1;
        }
        a->metrics[a->nmetrics] = (tsagg_metric){metric_names[i].kind, field};
        memcpy(a->colnames[a->nmetrics], col, sizeof col);
        a->nmetrics++;
        return 0;
    }
    snprintf(err, errlen,
             "unknown metric '%s' (count, users, sessions, sum:FIELD, avg:FIELD, "
             "min:FIELD, max:FIELD, visits, bounce_rate, visit_duration, pages_per_visit, "
             "new_users, returning_users)",
             s);
    return -1;
}

static qt_filter *find_filter(qt_args *a, const char *opt, const char *field, char *err,
                              size_t errlen)
{
    for (uint32_t i = 0; i < a->nfilters; i++)
        if (strcmp(a->filters[i].field, field) == 0)
            return &a->filters[i];
    if (a->nfilters == TSAGG_QUERY_MAX_FILTERS) {
        snprintf(err, errlen, "filters on more than %d fields", TSAGG_QUERY_MAX_FILTERS);
        return NULL;
    }
    qt_filter *f = &a->filters[a->nfilters++];
    memset(f, 0, sizeof *f);
    f->field = field;
    f->opt = opt;
    return f;
}

static int push_value(qt_filter *f, const char *v, size_t len)
{
    if (f->nvalues == f->cap) {
        uint32_t cap = f->cap ? f->cap * 2 : 4;
        char **p = realloc(f->values, cap * sizeof *p);
        if (!p)
            return -1;
        f->values = p;
        f->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, v, len);
    copy[len] = '\0';
    f->values[f->nvalues++] = copy;
    return 0;
}

int qt_add_filter(qt_args *a, const char *opt, const char *field, const char *s, int split,
                  char *err, size_t errlen)
{
    qt_filter *f = find_filter(a, opt, field, err, errlen);
    if (!f)
        return -1;
    if (!split) {
        if (push_value(f, s, strlen(s)) == 0)
            return 0;
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* Unescape into a scratch copy, cutting at unescaped commas. */
    size_t n = strlen(s);
    char *buf = malloc(n + 1);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t len = 0;
    int rc = 0;
    for (size_t i = 0;; i++) {
        if (s[i] == '\\' && (s[i + 1] == ',' || s[i + 1] == '\\')) {
            buf[len++] = s[++i];
        } else if (s[i] == ',' || s[i] == '\0') {
            if ((rc = push_value(f, buf, len)) != 0 || s[i] == '\0')
                break;
            len = 0;
        } else {
            buf[len++] = s[i];
        }
    }
    free(buf);
    if (rc != 0)
        snprintf(err, errlen, "out of memory");
    return rc;
}

int qt_add_where(qt_args *a, const char *s, char *err, size_t errlen)
{
    const char *eq = strchr(s, '=');
    if (!eq || eq == s) {
        snprintf(err, errlen, "bad --where '%s' (DIM=VALUE or DIM=V1,V2)", s);
        return -1;
    }
    char *field = strndup(s, (size_t)(eq - s));
    if (!field) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = qt_add_filter(a, "--where", field, eq + 1, 1, err, errlen);
    /* A new filter keeps the copy as its name; an existing one has its own. */
    for (uint32_t i = 0; i < a->nfilters; i++) {
        if (a->filters[i].field == field) {
            a->filters[i].owned_field = field;
            return rc;
        }
    }
    free(field);
    return rc;
}

/* "a, b, c" of the schema's dimensions (with "event" first) or measures. */
static void known_list(const tsagg_schema *schema, int dims, char *buf, size_t cap)
{
    size_t n = dims ? tsagg_schema_dimension_count(schema)
                    : tsagg_schema_measure_count(schema);
    size_t len = 0;
    buf[0] = '\0';
    if (dims)
        len += (size_t)snprintf(buf, cap, "event");
    for (size_t i = 0; i < n && len < cap; i++) {
        const char *name = dims ? tsagg_schema_dimension_name(schema, i)
                                : tsagg_schema_measure_name(schema, i);
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", name);
    }
    if (len == 0)
        snprintf(buf, cap, "none");
}

static int is_dimension(const tsagg_schema *schema, const char *field)
{
    return strcmp(field, "event") == 0 || tsagg_schema_dimension_index(schema, field) >= 0;
}

int qt_check_schema(const qt_args *a, const tsagg_schema *schema, char *err, size_t errlen)
{
    char known[1024];
    for (uint32_t i = 0; i < a->nfilters; i++) {
        if (!is_dimension(schema, a->filters[i].field)) {
            known_list(schema, 1, known, sizeof known);
            snprintf(err, errlen, "unknown dimension '%s' in %s; the store knows: %s",
                     a->filters[i].field, a->filters[i].opt, known);
            return -1;
        }
    }
    /* entry_page and exit_page are the library's to check (they need the
     * page dimension and visit metrics). */
    int visit_group = a->group_by && (strcmp(a->group_by, "entry_page") == 0 ||
                                      strcmp(a->group_by, "exit_page") == 0);
    if (a->group_by && !visit_group && !is_dimension(schema, a->group_by)) {
        known_list(schema, 1, known, sizeof known);
        snprintf(err, errlen, "unknown dimension '%s' in --group-by; the store knows: %s",
                 a->group_by, known);
        return -1;
    }
    for (uint32_t i = 0; i < a->nmetrics; i++) {
        const char *m = a->metrics[i].measure;
        if (m && tsagg_schema_measure_index(schema, m) < 0) {
            known_list(schema, 0, known, sizeof known);
            snprintf(err, errlen, "unknown measure '%s' in --metric; the store knows: %s", m,
                     known);
            return -1;
        }
    }
    return 0;
}

void qt_args_free(qt_args *a)
{
    for (uint32_t i = 0; i < a->nfilters; i++) {
        qt_filter *f = &a->filters[i];
        for (uint32_t v = 0; v < f->nvalues; v++)
            free(f->values[v]);
        free(f->values);
        free(f->owned_field);
    }
    a->nfilters = 0;
}
