/*
 * test_query.c - the query layer against a reference computed from the raw
 * events the test generated.
 *
 * The differential test appends a stream of events (one big merchant and
 * many small ones, ten days around the autumn clock change, late events,
 * client retries, events without ids, every dimension, the `value` measure
 * sent as a double, an integer, a numeric string, junk and NaN, numbers in
 * dimensions, repeated keys), compacts part of it in slices (so spans get
 * extra files, sealed days and months are merged into day and month files,
 * and the rest stays in the log tail), merges, and runs a few hundred
 * random queries at each stage, comparing every bucket, group and metric
 * with the reference; the store ends up mixing hour, day and month files.
 * A second run does the same over a year and three weeks, with ranges up
 * to the whole year:
 *
 *   - buckets: UTC minutes and hours; days, weeks and months through the C
 *     library's own time-zone code (TZ + mktime), independent of lib/query/tz.c;
 *   - events with an id that share (merchant, ts, id) are one event,
 *     wherever their copies are: in one file, in files of different
 *     compaction runs (some retries are sent again hours later), in the
 *     head (the events not compacted yet), or in the head and a file;
 *   - absent or non-numeric measures are ignored by sum/avg/min/max, min and
 *     max of nothing are NaN, avg = sum / number of values;
 *   - groups ranked by the first metric over the whole range (descending),
 *     then by key; top N;
 *   - distinct counts: exact with TSAGG_QUERY_EXACT, and whenever every cell
 *     holds at most 256 distinct ids (the sketch's exact form), in which case
 *     the result must say it is exact; else within 3% + 1.
 *
 * The same store handle answers them all, so its caches of decoded rollups
 * and column slices are warm, and then squeezed to evict all the time.
 *
 * Other tests: rollup and row paths agree bit for bit; errors; result reuse;
 * daylight-saving days; freshness of appended events; an empty store; many
 * groups; partition files replaced under a reader of another handle.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "eqmask.h"
#include "faultio.h"
#include "partcache.h" /* tsagg__partcache_set_budget */
#include "testutil.h"
#include "tsagg.h"

/* ---- fixture ------------------------------------------------------------------ */

TestSuite(query, .init = tu_store_setup, .fini = tu_store_teardown, .timeout = 120);

#define SEC INT64_C(1000000)
#define MINUTE (60 * SEC)
#define HOUR (3600 * SEC)
#define DAY (24 * HOUR)

static tsagg_store *open_store(unsigned flags, unsigned sync)
{
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = flags;
    o.sync_mode = sync;
    o.io_backend = TSAGG_IO_PWRITE;
    tsagg_store *st = NULL;
    char err[512] = "";
    int rc = tsagg_store_open(tu_store, &o, &st, err, sizeof err);
    cr_assert_eq(rc, 0, "open: %s (%s)", tsagg_strerror(rc), err);
    return st;
}

static tsagg_store *open_writer(unsigned sync)
{
    return open_store(TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE, sync);
}

static const char *errmsg(tsagg_store *st)
{
    static char buf[512];
    tsagg_store_errmsg(st, buf, sizeof buf);
    return buf;
}

/* ---- a small deterministic PRNG ----------------------------------------------- */

static uint64_t g_rng = 1;

static uint64_t rnd(void)
{
    return tu_splitmix64(&g_rng);
}

static uint64_t rnd_below(uint64_t n) { return n ? rnd() % n : 0; }
static double rnd_unit(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }
static int chance(double p) { return rnd_unit() < p; }

/* ---- the event model ------------------------------------------------------------- */

#define NDIM 6
static const char *const DIM_NAMES[NDIM] = {"page",   "referrer", "country",
                                             "device", "browser",  "os"};

/* Value tables; index 0 is "", an absent dimension. */
static const char *const PAGES[] = {"", "/", "/home", "/cart", "/checkout", "/p/1", "/p/2",
    "/p/3", "/p/4", "/p/5", "/p/6", "/p/7", "/p/8", "/p/9", "/p/10", "/p/11", "/p/12",
    "/p/13", "/p/14", "/p/15", "/p/16", "/p/17", "/p/18", "/p/19", "/p/20", "/blog/a",
    "/blog/b", "/blog/c", "/search?q=x", "/\xc3\xa9t\xc3\xa9"};
static const char *const REFERRERS[] = {"", "google.com", "facebook.com", "t.co", "bing.com",
    "news.ycombinator.com", "(direct)"};
static const char *const COUNTRIES[] = {"", "US", "DE", "IN", "NP", "FR", "GB", "BR", "JP",
    "CA", "AU"};
/* "42" is sent as the integer 42: partitions store it as the string "42". */
static const char *const DEVICES[] = {"", "desktop", "mobile", "tablet", "42"};
/* "1.5" is sent as the double 1.5 ("%.17g"). */
static const char *const BROWSERS[] = {"", "Chrome", "Safari", "Firefox", "Edge", "Opera",
    "1.5"};
static const char *const OSES[] = {"", "Windows", "macOS", "iOS", "Android", "Linux"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
static const char *const *const DIM_VALUES[NDIM] = {PAGES, REFERRERS, COUNTRIES, DEVICES,
                                                     BROWSERS, OSES};
static const uint32_t DIM_COUNT[NDIM] = {NELEM(PAGES), NELEM(REFERRERS), NELEM(COUNTRIES),
                                         NELEM(DEVICES), NELEM(BROWSERS), NELEM(OSES)};
#define DEVICE_INT 4  /* DEVICES[4] */
#define BROWSER_F64 6 /* BROWSERS[6] */

static const char *const EVENTS[] = {"page_view", "click", "scroll", "purchase", "app_open",
                                     "crash", "signup"};
static const unsigned EVENT_WEIGHT[] = {50, 20, 10, 5, 8, 2, 5};
#define NEVENTS NELEM(EVENTS)
#define EV_PURCHASE 3

/* How `value` is sent. */
enum { V_ABSENT, V_F64, V_INT, V_STRNUM, V_JUNK, V_NAN };

typedef struct rev {
    int64_t ts;
    int64_t arrival;  /* sort key of the append order */
    uint64_t merchant, user, session, id;
    uint64_t seq;     /* log sequence number once appended */
    double value;     /* the measure as the library must read it; NaN: none */
    int32_t tag;      /* partition file it went to (see header); -1: log tail */
    uint8_t has_id, ev, venc, decoy; /* decoy: a first "page" attr the last one overrides */
    uint8_t explicit_empty;           /* country "" sent as an empty string */
    uint8_t counted;                  /* contributes to results (retries aside) */
    uint8_t dim[NDIM];
} rev;

typedef struct model {
    rev *e;
    size_t n, cap;
    uint64_t consumed; /* compacted up to this sequence number */
    int32_t next_tag;
} model;

static rev *model_push(model *m)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 4096;
        m->e = realloc(m->e, m->cap * sizeof *m->e);
        cr_assert_not_null(m->e);
    }
    rev *r = &m->e[m->n++];
    memset(r, 0, sizeof *r);
    r->tag = -1;
    return r;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static unsigned pick_event(void)
{
    unsigned total = 0;
    for (unsigned i = 0; i < NEVENTS; i++)
        total += EVENT_WEIGHT[i];
    unsigned r = (unsigned)rnd_below(total);
    for (unsigned i = 0; i < NEVENTS; i++) {
        if (r < EVENT_WEIGHT[i])
            return i;
        r -= EVENT_WEIGHT[i];
    }
    return 0;
}

/* A skewed pick in [0, n): small indexes are frequent. */
static uint64_t skewed(uint64_t n)
{
    double u = rnd_unit();
    return (uint64_t)(u * u * u * (double)n) % n;
}

static void fill_event(rev *r, uint64_t merchant, int64_t ts, uint64_t user_pool,
                       uint64_t *next_id)
{
    r->merchant = merchant;
    r->ts = ts;
    r->arrival = ts;
    r->ev = (uint8_t)pick_event();
    uint64_t u = skewed(user_pool);
    r->user = mix64(merchant * 1000003u + u);
    /* Sessions of six hours from 21:00 UTC on (they cross midnight, so day
     * files, and compaction runs); one user in 16 keeps one session for
     * good (visits cut at 24 h, new visits after 24 h gaps); one event in
     * 40 has no session (in no visit). */
    uint64_t h = mix64(r->user ^ (uint64_t)ts);
    r->session = mix64(r->user ^ (uint64_t)((ts + 3 * HOUR) / (6 * HOUR)));
    if (mix64(r->user) % 16 == 0)
        r->session = mix64(r->user ^ 0x5e55);
    if (h % 40 == 0)
        r->session = 0;
    r->has_id = !chance(0.1);
    r->id = r->has_id ? ++*next_id : 0;
    for (unsigned d = 0; d < NDIM; d++)
        r->dim[d] = chance(0.04) ? 0 : (uint8_t)(1 + skewed(DIM_COUNT[d] - 1));
    r->explicit_empty = r->dim[2] == 0 && chance(0.5);
    r->decoy = chance(0.02);
    int has_value = r->ev == EV_PURCHASE ? chance(0.9) : chance(0.1);
    r->venc = V_ABSENT;
    r->value = NAN;
    if (has_value) {
        unsigned k = (unsigned)rnd_below(100);
        r->venc = k < 60 ? V_F64 : k < 75 ? V_INT : k < 88 ? V_STRNUM : k < 94 ? V_JUNK : V_NAN;
        /* Multiples of 0.25: every sum is exact, so rankings by sums are
         * exact too. */
        double v = (double)((int64_t)rnd_below(4040) - 40) * 0.25;
        if (r->venc == V_INT)
            v = floor(v);
        r->value = r->venc == V_JUNK || r->venc == V_NAN ? NAN : v;
    }
}

/* The event as it is appended; attrs and bufs belong to the caller. */
typedef struct wire {
    tsagg_attr attrs[10];
    char num[32];
} wire;

static void to_event(const rev *r, wire *w, tsagg_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->ts = r->ts;
    ev->merchant = r->merchant;
    ev->event = EVENTS[r->ev];
    ev->event_len = (uint32_t)strlen(ev->event);
    ev->user = r->user;
    ev->session = r->session;
    ev->flags = r->has_id ? TSAGG_EVENT_HAS_ID : 0;
    ev->id = r->id;
    uint32_t n = 0;
    if (r->decoy)
        w->attrs[n++] = (tsagg_attr){.key = "page", .key_len = 4, .type = TSAGG_STR,
                                     .v.s = {"/decoy", 6}};
    for (unsigned d = 0; d < NDIM; d++) {
        /* Absent, unless the empty string is sent (a decoy "page" needs the
         * real one after it, empty or not). */
        if (r->dim[d] == 0 && !(d == 2 && r->explicit_empty) && !(d == 0 && r->decoy))
            continue;
        tsagg_attr *a = &w->attrs[n++];
        a->key = DIM_NAMES[d];
        a->key_len = (uint32_t)strlen(DIM_NAMES[d]);
        if (d == 3 && r->dim[d] == DEVICE_INT) {
            a->type = TSAGG_INT;
            a->v.i = 42;
        } else if (d == 4 && r->dim[d] == BROWSER_F64) {
            a->type = TSAGG_F64;
            a->v.f = 1.5;
        } else {
            a->type = TSAGG_STR;
            a->v.s.ptr = DIM_VALUES[d][r->dim[d]];
            a->v.s.len = (uint32_t)strlen(a->v.s.ptr);
        }
    }
    if (r->venc != V_ABSENT) {
        tsagg_attr *a = &w->attrs[n++];
        a->key = "value";
        a->key_len = 5;
        switch (r->venc) {
        case V_F64:
            a->type = TSAGG_F64;
            a->v.f = r->value;
            break;
        case V_INT:
            a->type = TSAGG_INT;
            a->v.i = (int64_t)r->value;
            break;
        case V_STRNUM:
            snprintf(w->num, sizeof w->num, "%.2f", r->value);
            a->type = TSAGG_STR;
            a->v.s.ptr = w->num;
            a->v.s.len = (uint32_t)strlen(w->num);
            break;
        case V_JUNK:
            a->type = TSAGG_STR;
            a->v.s.ptr = "n/a";
            a->v.s.len = 3;
            break;
        default:
            a->type = TSAGG_F64;
            a->v.f = NAN;
        }
    }
    if ((r->id & 7) == 3) /* undeclared, kept in the log only */
        w->attrs[n++] = (tsagg_attr){.key = "utm_campaign", .key_len = 12, .type = TSAGG_STR,
                                     .v.s = {"spring", 6}};
    ev->attrs = w->attrs;
    ev->nattrs = n;
}

static int cmp_arrival(const void *a, const void *b)
{
    const rev *x = a, *y = b;
    if (x->arrival != y->arrival)
        return x->arrival < y->arrival ? -1 : 1;
    return 0;
}

/* Append the events [from, to) in arrival order, in batches of random
 * sizes. Events not appended yet have seq 0 and count nowhere. */
static void append_range(tsagg_store *st, model *m, size_t from, size_t to)
{
    enum { BATCH = 700 };
    tsagg_event evs[BATCH];
    static wire wires[BATCH];
    for (size_t i = from; i < to;) {
        size_t k = 1 + rnd_below(BATCH);
        if (k > to - i)
            k = to - i;
        for (size_t j = 0; j < k; j++)
            to_event(&m->e[i + j], &wires[j], &evs[j]);
        uint64_t first = 0;
        int rc = tsagg_append(st, evs, k, &first);
        cr_assert_eq(rc, 0, "append: %s (%s)", tsagg_strerror(rc), errmsg(st));
        for (size_t j = 0; j < k; j++)
            m->e[i + j].seq = first + j;
        i += k;
    }
}

static void append_all(tsagg_store *st, model *m, size_t from)
{
    append_range(st, m, from, m->n);
}

/* ---- which events count --------------------------------------------------------- */

static const model *g_sort_model;

static int same_key(const rev *x, const rev *y)
{
    return x->merchant == y->merchant && x->ts == y->ts && x->id == y->id;
}

static int cmp_key(const void *a, const void *b)
{
    const rev *x = &g_sort_model->e[*(const size_t *)a], *y = &g_sort_model->e[*(const size_t *)b];
    if (x->merchant != y->merchant)
        return x->merchant < y->merchant ? -1 : 1;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Which events count: every event with an id once, its first copy (the
 * one compaction keeps: later copies are dropped whether they sit in the
 * same run, a later run or the head), wherever the copies are. */
static void model_recount(model *m)
{
    size_t *idx = malloc((m->n + 1) * sizeof *idx);
    cr_assert_not_null(idx);
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++) {
        rev *r = &m->e[i];
        r->counted = r->seq > 0; /* appended */
        if (r->has_id && r->counted)
            idx[k++] = i;
    }
    g_sort_model = m;
    qsort(idx, k, sizeof *idx, cmp_key);
    for (size_t j = 1; j < k; j++)
        if (same_key(&m->e[idx[j - 1]], &m->e[idx[j]]))
            m->e[idx[j]].counted = 0;
    free(idx);
}

static int64_t floordiv(int64_t a, int64_t b);

/*
 * A compaction consumed the log up to `consumed`: the events it read went to
 * new files tagged with a new tag. Then the tier merges: a UTC day is sealed
 * once its end plus an hour is at most the newest compacted event time
 * (events more than a day ahead of the clock aside), and every compacted
 * event of a sealed day is then in the one file of its day or month.
 */
static void model_compacted(model *m, uint64_t consumed)
{
    int32_t tag = ++m->next_tag;
    int64_t ahead = ((int64_t)time(NULL) + 24 * 3600) * SEC, newest = INT64_MIN;
    for (size_t i = 0; i < m->n; i++) {
        rev *r = &m->e[i];
        if (r->seq > m->consumed && r->seq <= consumed)
            r->tag = tag;
        if (r->seq && r->seq <= consumed && r->ts <= ahead && r->ts > newest)
            newest = r->ts;
    }
    m->consumed = consumed;
    for (size_t i = 0; i < m->n; i++) {
        rev *r = &m->e[i];
        if (r->seq && r->seq <= consumed && (floordiv(r->ts, DAY) + 1) * DAY + HOUR <= newest)
            r->tag = 0;
    }
    model_recount(m);
}

/* After a merge every span is one file. */
static void model_merged(model *m)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->e[i].seq <= m->consumed)
            m->e[i].tag = 0;
    model_recount(m);
}

static tsagg_compact_stats compact(tsagg_store *st, uint64_t max_events)
{
    tsagg_compact_options o;
    tsagg_compact_options_init(&o);
    o.max_events = max_events;
    tsagg_compact_stats s = {.struct_size = sizeof s};
    memset(&s, 0, sizeof s);
    int rc = tsagg_compact(st, &o, &s);
    cr_assert_eq(rc, 0, "compact: %s (%s)", tsagg_strerror(rc), errmsg(st));
    return s;
}

static void merge(tsagg_store *st)
{
    tsagg_compact_stats s = {.struct_size = sizeof s};
    int rc = tsagg_merge(st, NULL, &s);
    cr_assert_eq(rc, 0, "merge: %s (%s)", tsagg_strerror(rc), errmsg(st));
}

/* ---- reference buckets (the C library's time zones) ---------------------------- */

static const char *g_tz_set = "";

static void use_tz(const char *tz)
{
    const char *name = tz && strcmp(tz, "UTC") ? tz : "UTC";
    if (!strcmp(name, g_tz_set))
        return;
    char buf[128];
    int utc = !strcmp(name, "UTC");
    snprintf(buf, sizeof buf, "%s%s", utc ? "" : ":", utc ? "UTC0" : name);
    setenv("TZ", buf, 1);
    tzset();
    g_tz_set = name;
}

static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Local calendar: the start of the bucket holding ts. */
static int64_t ref_floor(unsigned bucket, int64_t ts)
{
    if (bucket == TSAGG_BUCKET_MINUTE)
        return floordiv(ts, MINUTE) * MINUTE;
    if (bucket == TSAGG_BUCKET_HOUR)
        return floordiv(ts, HOUR) * HOUR;
    time_t t = (time_t)floordiv(ts, SEC);
    struct tm tm;
    cr_assert_not_null(localtime_r(&t, &tm));
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    if (bucket == TSAGG_BUCKET_WEEK)
        tm.tm_mday -= (tm.tm_wday + 6) % 7;
    else if (bucket == TSAGG_BUCKET_MONTH)
        tm.tm_mday = 1;
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm) * SEC;
}

/* The start of the bucket after the one starting at start. */
static int64_t ref_next(unsigned bucket, int64_t start)
{
    if (bucket == TSAGG_BUCKET_MINUTE)
        return start + MINUTE;
    if (bucket == TSAGG_BUCKET_HOUR)
        return start + HOUR;
    time_t t = (time_t)floordiv(start, SEC);
    struct tm tm;
    cr_assert_not_null(localtime_r(&t, &tm));
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    if (bucket == TSAGG_BUCKET_DAY)
        tm.tm_mday += 1;
    else if (bucket == TSAGG_BUCKET_WEEK)
        tm.tm_mday += 7;
    else {
        tm.tm_mday = 1;
        tm.tm_mon += 1;
    }
    tm.tm_isdst = -1;
    return (int64_t)mktime(&tm) * SEC;
}

/* ---- the reference query -------------------------------------------------------- */

#define MAXG 64

typedef struct refq {
    size_t nb, ng, keep;
    int64_t starts[2048];
    char keys[MAXG][64];       /* in rank order (after the sort) */
    double *vals[TSAGG_QUERY_MAX_METRICS]; /* row-major: b * keep + j */
    uint64_t max_distinct;     /* largest distinct count of a cell, of the kinds asked */
    uint64_t max_group_distinct; /* of a group over the range, first metric */
} refq;

static int field_value(const rev *r, int col, const char **s)
{
    if (col < 0) {
        *s = EVENTS[r->ev];
        return 0;
    }
    *s = DIM_VALUES[col][r->dim[col]];
    return 0;
}

static int col_of(const char *field)
{
    if (!strcmp(field, "event"))
        return -1;
    for (int d = 0; d < NDIM; d++)
        if (!strcmp(field, DIM_NAMES[d]))
            return d;
    cr_assert_fail("unknown field %s", field);
    return -2;
}

static int passes(const rev *r, const tsagg_query *q)
{
    for (uint32_t f = 0; f < q->nfilters; f++) {
        int col = col_of(q->filters[f].field);
        const char *s;
        field_value(r, col, &s);
        int ok = 0;
        for (uint32_t v = 0; v < q->filters[f].nvalues && !ok; v++)
            ok = !strcmp(q->filters[f].values[v], s);
        if (!ok)
            return 0;
    }
    return 1;
}

typedef struct pair {
    uint64_t cell, id;
} pair;

static int cmp_pair(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    if (x->cell != y->cell)
        return x->cell < y->cell ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Distinct ids per cell into out[ncells]; returns the largest. */
static uint64_t count_distinct(pair *ps, size_t n, double *out, size_t ncells)
{
    for (size_t c = 0; c < ncells; c++)
        out[c] = 0;
    qsort(ps, n, sizeof *ps, cmp_pair);
    uint64_t mx = 0;
    for (size_t i = 0; i < n; i++) {
        if (ps[i].id == 0)
            continue; /* no user or session: counted by no distinct count */
        if (i == 0 || ps[i].cell != ps[i - 1].cell || ps[i].id != ps[i - 1].id) {
            out[ps[i].cell] += 1;
            if (out[ps[i].cell] > (double)mx)
                mx = (uint64_t)out[ps[i].cell];
        }
    }
    return mx;
}

typedef struct rank_ent {
    double score;
    int g;
    const char *key;
} rank_ent;

/* The order of a ranked group-by as tsagg_query.h and docs/tsagg-query.md
 * state it, not as query.c codes it: by the first metric over the range,
 * larger first, a group with no value (NaN) after every group with one,
 * ties by the key in byte order. Each group becomes the tuple (has no
 * value, minus its value, key) and tuples compare field by field, ascending. */
typedef struct rank_tuple {
    int novalue;
    double minus; /* 0 when novalue */
    const unsigned char *key;
} rank_tuple;

static rank_tuple rank_tuple_of(const rank_ent *e)
{
    int none = isnan(e->score);
    return (rank_tuple){none, none ? 0.0 : -e->score, (const unsigned char *)e->key};
}

/* Byte order: the first differing byte decides, a prefix comes first. */
static int cmp_key_bytes(const unsigned char *a, const unsigned char *b)
{
    size_t i = 0;
    while (a[i] != 0 && a[i] == b[i])
        i++;
    return (a[i] > b[i]) - (a[i] < b[i]);
}

static int cmp_rank(const void *a, const void *b)
{
    rank_tuple x = rank_tuple_of(a), y = rank_tuple_of(b);
    if (x.novalue != y.novalue)
        return x.novalue < y.novalue ? -1 : 1;
    if (x.minus != y.minus)
        return x.minus < y.minus ? -1 : 1;
    return cmp_key_bytes(x.key, y.key);
}

/* ---- the reference of visits and new users ----------------------------------- */

/* Per cell (group * nb + bucket): visits, bounces, page views, duration
 * in microseconds, of the visits starting there. */
typedef struct ref_visit_cells {
    double v[4][MAXG * 2048];
} ref_visit_cells;

static double visit_value(uint32_t kind, const double *sv)
{
    double visits = sv[0];
    switch (kind) {
    case TSAGG_METRIC_VISITS: return visits;
    case TSAGG_METRIC_BOUNCE_RATE: return visits ? sv[1] * 100.0 / visits : NAN;
    case TSAGG_METRIC_PAGES_PER_VISIT: return visits ? sv[2] / visits : NAN;
    default: return visits ? sv[3] / 1e6 / visits : NAN;
    }
}

static const model *g_visit_model;
static int g_read_dims[NDIM]; /* the dimensions the query reads */

static int ref_visible(const model *m, const tsagg_query *q, const rev *r)
{
    return r->counted && r->merchant == q->merchant &&
           !((q->flags & TSAGG_QUERY_NO_TAIL) && r->seq > m->consumed);
}

/* A session's events in order: ts, event id, event name, then the values
 * of the dimensions the query reads, in schema order. */
static int cmp_visit_order(const void *a, const void *b)
{
    const rev *x = &g_visit_model->e[*(const size_t *)a];
    const rev *y = &g_visit_model->e[*(const size_t *)b];
    if (x->session != y->session)
        return x->session < y->session ? -1 : 1;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    int c = strcmp(EVENTS[x->ev], EVENTS[y->ev]);
    for (int d = 0; !c && d < NDIM; d++)
        if (g_read_dims[d])
            c = strcmp(DIM_VALUES[d][x->dim[d]], DIM_VALUES[d][y->dim[d]]);
    return c;
}

static size_t ref_group(const char *key, char (*gkeys)[64], size_t *ng)
{
    size_t g = 0;
    while (g < *ng && strcmp(gkeys[g], key))
        g++;
    if (g == *ng) {
        cr_assert_lt(*ng, MAXG);
        snprintf(gkeys[(*ng)++], 64, "%s", key);
    }
    return g;
}

/*
 * Visits from their definition: an event of session s at t starts one
 * when no event of s lies in [t - 24 h, t) and none at t comes before it;
 * the visit is its events of s in [t, t + 24 h). Filters on dimensions
 * look at the first event, filters on the event name at all of them.
 */
static void ref_visits(const model *m, const tsagg_query *q, const int64_t *starts, size_t nb,
                       char (*gkeys)[64], size_t *ng, ref_visit_cells *out)
{
    const char *gb = q->group_by;
    int entry = gb && !strcmp(gb, "entry_page"), exit_ = gb && !strcmp(gb, "exit_page");
    int gcol = gb && !entry && !exit_ ? col_of(gb) : -3;
    memset(g_read_dims, 0, sizeof g_read_dims);
    for (uint32_t f = 0; f < q->nfilters; f++)
        if (col_of(q->filters[f].field) >= 0)
            g_read_dims[col_of(q->filters[f].field)] = 1;
    if (gcol >= 0)
        g_read_dims[gcol] = 1;
    if (entry || exit_)
        g_read_dims[0] = 1; /* page */
    size_t *idx = malloc((m->n + 1) * sizeof *idx), n = 0;
    cr_assert_not_null(idx);
    for (size_t i = 0; i < m->n; i++)
        if (ref_visible(m, q, &m->e[i]) && m->e[i].session)
            idx[n++] = i;
    g_visit_model = m;
    qsort(idx, n, sizeof *idx, cmp_visit_order);
    for (size_t i = 0; i < n; i++) {
        const rev *first = &m->e[idx[i]];
        if (first->ts < q->from || first->ts >= q->to)
            continue;
        if (i > 0 && m->e[idx[i - 1]].session == first->session &&
            m->e[idx[i - 1]].ts >= first->ts - DAY)
            continue; /* an event of the session in [t - 24 h, t], or one at t before it */
        size_t end = i;
        while (end < n && m->e[idx[end]].session == first->session &&
               m->e[idx[end]].ts < first->ts + DAY)
            end++;
        /* Dimension filters: the first event; event filters: any event. */
        int ok = 1;
        for (uint32_t f = 0; ok && f < q->nfilters; f++) {
            int col = col_of(q->filters[f].field);
            if (col >= 0) {
                ok = 0;
                for (uint32_t v = 0; v < q->filters[f].nvalues && !ok; v++)
                    ok = !strcmp(q->filters[f].values[v], DIM_VALUES[col][first->dim[col]]);
                continue;
            }
            ok = 0;
            for (size_t j = i; j < end && !ok; j++)
                for (uint32_t v = 0; v < q->filters[f].nvalues && !ok; v++)
                    ok = !strcmp(q->filters[f].values[v], EVENTS[m->e[idx[j]].ev]);
        }
        if (!ok)
            continue;
        double pages = 0;
        const char *entry_page = "", *exit_page = "";
        for (size_t j = i; j < end; j++) {
            const rev *r = &m->e[idx[j]];
            if (strcmp(EVENTS[r->ev], "page_view"))
                continue;
            if (pages++ == 0)
                entry_page = PAGES[r->dim[0]];
            exit_page = PAGES[r->dim[0]];
        }
        const char *key = entry   ? entry_page
                          : exit_ ? exit_page
                          : gcol >= 0 ? DIM_VALUES[gcol][first->dim[gcol]]
                                      : "";
        size_t g = ref_group(key, gkeys, ng);
        size_t b = 0;
        while (b + 1 < nb && starts[b + 1] <= first->ts)
            b++;
        size_t cell = g * nb + b;
        out->v[0][cell] += 1;
        out->v[1][cell] += end - i == 1 && pages == 1;
        out->v[2][cell] += pages;
        out->v[3][cell] += (double)(m->e[idx[end - 1]].ts - first->ts);
    }
    free(idx);
}

typedef struct first_seen {
    uint64_t user;
    int64_t ts;
} first_seen;

static int cmp_first_seen(const void *a, const void *b)
{
    const first_seen *x = a, *y = b;
    if (x->user != y->user)
        return x->user < y->user ? -1 : 1;
    return (x->ts > y->ts) - (x->ts < y->ts);
}

/* New users per cell into nw[ncells]: of the distinct users of a cell (the
 * pairs users[0..np) of (cell, user), sorted), those whose first event for
 * the merchant in the store lies in the cell's bucket of the range. */
static void ref_new_users(const model *m, const tsagg_query *q, const int64_t *starts, size_t nb,
                          const pair *users, size_t np, double *nw, size_t ncells)
{
    first_seen *fs = malloc((m->n + 1) * sizeof *fs);
    cr_assert_not_null(fs);
    size_t nf = 0;
    for (size_t e = 0; e < m->n; e++)
        if (ref_visible(m, q, &m->e[e]) && m->e[e].user)
            fs[nf++] = (first_seen){m->e[e].user, m->e[e].ts};
    qsort(fs, nf, sizeof *fs, cmp_first_seen); /* a user's first event first */
    for (size_t c = 0; c < ncells; c++)
        nw[c] = 0;
    for (size_t i = 0; i < np; i++) {
        if (users[i].id == 0 || (i > 0 && users[i - 1].cell == users[i].cell &&
                                 users[i - 1].id == users[i].id))
            continue;
        size_t lo = 0, hi = nf;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (fs[mid].user < users[i].id)
                lo = mid + 1;
            else
                hi = mid;
        }
        cr_assert_lt(lo, nf);
        size_t b = users[i].cell % nb;
        int64_t from = starts[b] > q->from ? starts[b] : q->from;
        int64_t to = starts[b + 1] < q->to ? starts[b + 1] : q->to;
        nw[users[i].cell] += fs[lo].ts >= from && fs[lo].ts < to;
    }
    free(fs);
}

static void ref_run(const model *m, const tsagg_query *q, refq *out)
{
    memset(out, 0, sizeof *out);
    use_tz(q->tz);
    unsigned bucket = q->bucket;
    /* Buckets. */
    int64_t s = bucket == TSAGG_BUCKET_TOTAL ? q->from : ref_floor(bucket, q->from);
    size_t nb = 0;
    for (;;) {
        cr_assert_lt(nb, NELEM(out->starts) - 1);
        out->starts[nb++] = s;
        s = bucket == TSAGG_BUCKET_TOTAL ? q->to : ref_next(bucket, s);
        if (s >= q->to)
            break;
    }
    out->starts[nb] = s;
    out->nb = nb;

    int visit_group = q->group_by && (!strcmp(q->group_by, "entry_page") ||
                                      !strcmp(q->group_by, "exit_page"));
    int gcol = q->group_by && !visit_group ? col_of(q->group_by) : -3;
    char gkeys[MAXG][64];
    size_t ng = 0;
    if (gcol == -3 && !visit_group) {
        gkeys[0][0] = 0;
        ng = 1;
    }
    uint32_t nmet = q->nmetrics ? q->nmetrics : 1;
    tsagg_metric count_metric = {TSAGG_METRIC_COUNT, NULL};
    const tsagg_metric *mets = q->nmetrics ? q->metrics : &count_metric;
    size_t ncells = MAXG * nb;
    double *cnt = calloc(ncells, sizeof *cnt), *sum = calloc(ncells, sizeof *sum);
    double *nval = calloc(ncells, sizeof *nval), *mn = calloc(ncells, sizeof *mn);
    double *mx = calloc(ncells, sizeof *mx);
    pair *users = malloc((m->n + 1) * sizeof *users), *sess = malloc((m->n + 1) * sizeof *sess);
    pair *gusers = malloc((m->n + 1) * sizeof *gusers), *gsess = malloc((m->n + 1) * sizeof *gsess);
    cr_assert(cnt && sum && nval && mn && mx && users && sess && gusers && gsess);
    size_t np = 0;
    int all = (q->flags & TSAGG_QUERY_ALL_MERCHANTS) != 0;
    int event_metrics = 0, visit_metrics = 0, user_metrics = 0;
    for (uint32_t k = 0; k < nmet; k++) {
        event_metrics |= mets[k].kind <= TSAGG_METRIC_SESSIONS;
        visit_metrics |= mets[k].kind >= TSAGG_METRIC_VISITS &&
                         mets[k].kind <= TSAGG_METRIC_PAGES_PER_VISIT;
        user_metrics |= mets[k].kind >= TSAGG_METRIC_NEW_USERS;
    }
    for (size_t i = 0; i < m->n && (event_metrics || user_metrics); i++) {
        const rev *r = &m->e[i];
        if (!r->counted || (!all && r->merchant != q->merchant) || r->ts < q->from ||
            r->ts >= q->to)
            continue;
        if ((q->flags & TSAGG_QUERY_NO_TAIL) && r->seq > m->consumed)
            continue;
        if (!passes(r, q))
            continue;
        /* New and returning users only know the events of a user. */
        if (!event_metrics && r->user == 0)
            continue;
        size_t g = 0;
        if (gcol != -3) {
            const char *k;
            field_value(r, gcol, &k);
            for (g = 0; g < ng && strcmp(gkeys[g], k); g++)
                ;
            if (g == ng) {
                cr_assert_lt(ng, MAXG);
                snprintf(gkeys[ng++], 64, "%s", k);
            }
        }
        size_t lo = 0, hi = nb;
        while (hi - lo > 1) {
            size_t mid = (lo + hi) / 2;
            if (out->starts[mid] <= r->ts)
                lo = mid;
            else
                hi = mid;
        }
        size_t cell = g * nb + lo;
        cnt[cell] += 1;
        if (!isnan(r->value)) {
            if (nval[cell] == 0 || r->value < mn[cell])
                mn[cell] = r->value;
            if (nval[cell] == 0 || r->value > mx[cell])
                mx[cell] = r->value;
            sum[cell] += r->value;
            nval[cell] += 1;
        }
        users[np] = (pair){cell, r->user};
        sess[np] = (pair){cell, r->session};
        gusers[np] = (pair){g, r->user};
        gsess[np] = (pair){g, r->session};
        np++;
    }
    static ref_visit_cells vc;
    memset(&vc, 0, sizeof vc);
    if (visit_metrics)
        ref_visits(m, q, out->starts, nb, gkeys, &ng, &vc);
    ncells = ng * nb;
    double *du = calloc(MAXG * nb + 1, sizeof *du), *ds = calloc(MAXG * nb + 1, sizeof *ds);
    double gdu[MAXG], gds[MAXG];
    cr_assert(du && ds);
    uint64_t mu = count_distinct(users, np, du, ncells);
    uint64_t ms = count_distinct(sess, np, ds, ncells);
    uint64_t gmu = count_distinct(gusers, np, gdu, ng);
    uint64_t gms = count_distinct(gsess, np, gds, ng);
    double *nwc = calloc(ncells + 1, sizeof *nwc);
    cr_assert_not_null(nwc);
    if (user_metrics)
        ref_new_users(m, q, out->starts, nb, users, np, nwc, ncells);
    int need_u = 0, need_s = 0;
    for (uint32_t k = 0; k < nmet; k++) {
        need_u |= mets[k].kind == TSAGG_METRIC_USERS;
        need_s |= mets[k].kind == TSAGG_METRIC_SESSIONS;
    }
    out->max_distinct = (need_u ? mu : 0) > (need_s ? ms : 0) ? mu : (need_s ? ms : 0);
    out->max_group_distinct = mets[0].kind == TSAGG_METRIC_USERS      ? gmu
                              : mets[0].kind == TSAGG_METRIC_SESSIONS ? gms
                                                                      : 0;

    /* Rank the groups by the first metric over the whole range. */
    rank_ent order[MAXG];
    for (size_t g = 0; g < ng; g++) {
        double c = 0, sm = 0, nv = 0, lo = NAN, hi = NAN;
        for (size_t b = 0; b < nb; b++) {
            size_t cell = g * nb + b;
            c += cnt[cell];
            sm += sum[cell];
            nv += nval[cell];
            if (nval[cell] > 0) {
                if (isnan(lo) || mn[cell] < lo)
                    lo = mn[cell];
                if (isnan(hi) || mx[cell] > hi)
                    hi = mx[cell];
            }
        }
        double sc = 0;
        switch (mets[0].kind) {
        case TSAGG_METRIC_COUNT: sc = c; break;
        case TSAGG_METRIC_SUM: sc = sm; break;
        case TSAGG_METRIC_AVG: sc = nv > 0 ? sm / nv : NAN; break;
        case TSAGG_METRIC_MIN: sc = lo; break;
        case TSAGG_METRIC_MAX: sc = hi; break;
        case TSAGG_METRIC_USERS: sc = gdu[g]; break;
        case TSAGG_METRIC_SESSIONS: sc = gds[g]; break;
        case TSAGG_METRIC_NEW_USERS:
        case TSAGG_METRIC_RETURNING_USERS: {
            double nw = 0;
            for (size_t b = 0; b < nb; b++)
                nw += nwc[g * nb + b];
            sc = mets[0].kind == TSAGG_METRIC_NEW_USERS ? nw : gdu[g] - nw;
            break;
        }
        default: {
            double sv[4] = {0};
            for (size_t b = 0; b < nb; b++)
                for (int x = 0; x < 4; x++)
                    sv[x] += vc.v[x][g * nb + b];
            sc = visit_value(mets[0].kind, sv);
        }
        }
        order[g] = (rank_ent){sc, (int)g, gkeys[g]};
    }
    if (q->group_by)
        qsort(order, ng, sizeof *order, cmp_rank);
    size_t keep = q->top && q->top < ng ? q->top : ng;
    out->ng = ng;
    out->keep = keep;
    for (size_t j = 0; j < keep; j++)
        snprintf(out->keys[j], 64, "%s", order[j].key);
    for (uint32_t k = 0; k < nmet; k++) {
        out->vals[k] = calloc(nb * keep + 1, sizeof(double));
        for (size_t b = 0; b < nb; b++) {
            for (size_t j = 0; j < keep; j++) {
                size_t cell = (size_t)order[j].g * nb + b;
                double v;
                switch (mets[k].kind) {
                case TSAGG_METRIC_COUNT: v = cnt[cell]; break;
                case TSAGG_METRIC_SUM: v = sum[cell]; break;
                case TSAGG_METRIC_AVG: v = nval[cell] > 0 ? sum[cell] / nval[cell] : NAN; break;
                case TSAGG_METRIC_MIN: v = nval[cell] > 0 ? mn[cell] : NAN; break;
                case TSAGG_METRIC_MAX: v = nval[cell] > 0 ? mx[cell] : NAN; break;
                case TSAGG_METRIC_USERS: v = du[cell]; break;
                case TSAGG_METRIC_SESSIONS: v = ds[cell]; break;
                case TSAGG_METRIC_NEW_USERS:
                case TSAGG_METRIC_RETURNING_USERS: {
                    v = mets[k].kind == TSAGG_METRIC_NEW_USERS ? nwc[cell]
                                                                : du[cell] - nwc[cell];
                    break;
                }
                default: {
                    double sv[4];
                    for (int x = 0; x < 4; x++)
                        sv[x] = vc.v[x][cell];
                    v = visit_value(mets[k].kind, sv);
                }
                }
                out->vals[k][b * keep + j] = v;
            }
        }
    }
    free(cnt);
    free(sum);
    free(nval);
    free(mn);
    free(mx);
    free(users);
    free(sess);
    free(gusers);
    free(gsess);
    free(du);
    free(ds);
    free(nwc);
}

static void ref_free(refq *r)
{
    for (int k = 0; k < TSAGG_QUERY_MAX_METRICS; k++)
        free(r->vals[k]);
}

/* ---- describing and comparing ---------------------------------------------------- */

static const char *const BUCKET_NAMES[] = {"minute", "hour", "day", "week", "month", "total"};
static const char *const METRIC_NAMES[] = {
    "count",  "sum",         "avg",            "min",             "max",
    "users",  "sessions",    "visits",         "bounce_rate",     "visit_duration",
    "pages_per_visit", "new_users", "returning_users"};

static void describe(const tsagg_query *q, char *buf, size_t len)
{
    size_t n = 0;
    n += (size_t)snprintf(buf + n, len - n, "merchant %s%" PRIu64 " [%" PRId64 ", %" PRId64
                          ") %s tz %s flags %#x metrics",
                          q->flags & TSAGG_QUERY_ALL_MERCHANTS ? "ALL/" : "", q->merchant,
                          q->from, q->to, BUCKET_NAMES[q->bucket], q->tz ? q->tz : "NULL",
                          q->flags);
    for (uint32_t k = 0; k < q->nmetrics && n < len; k++)
        n += (size_t)snprintf(buf + n, len - n, " %s", METRIC_NAMES[q->metrics[k].kind]);
    for (uint32_t f = 0; f < q->nfilters && n < len; f++) {
        n += (size_t)snprintf(buf + n, len - n, " %s in {", q->filters[f].field);
        for (uint32_t v = 0; v < q->filters[f].nvalues && n < len; v++)
            n += (size_t)snprintf(buf + n, len - n, "'%s' ", q->filters[f].values[v]);
        if (n < len)
            n += (size_t)snprintf(buf + n, len - n, "}");
    }
    if (q->group_by && n < len)
        snprintf(buf + n, len - n, " group by %s top %u", q->group_by, q->top);
}

static int close_enough(double got, double want)
{
    if (isnan(want) || isnan(got))
        return isnan(want) && isnan(got);
    return fabs(got - want) <= 1e-9 * fmax(1.0, fabs(want));
}

typedef struct stats {
    unsigned queries, approx, rows, nonzero;
    unsigned visits, bounces, new_users, returning; /* non-zero values of these */
} stats;

static stats g_stats;

/* Run q on st and compare with the reference over m. */
static void check_query(tsagg_store *st, tsagg_result *res, const model *m, const tsagg_query *q0)
{
    tsagg_query q = *q0;
    refq ref;
    ref_run(m, &q, &ref);
    uint32_t nmet = q.nmetrics ? q.nmetrics : 1;
    tsagg_metric count_metric = {TSAGG_METRIC_COUNT, NULL};
    const tsagg_metric *mets = q.nmetrics ? q.metrics : &count_metric;
    int exact = (q.flags & TSAGG_QUERY_EXACT) != 0;
    /* Groups ranked by an estimate may come in another order than the truth:
     * ask for all of them and compare by key. */
    int by_key = 0;
    if (q.group_by && !exact && ref.max_group_distinct > 256) {
        by_key = 1;
        if (q.top) {
            q.top = 0;
            ref_free(&ref);
            ref_run(m, &q, &ref);
        }
    }
    char what[1024];
    describe(&q, what, sizeof what);
    int rc = tsagg_query_run(st, &q, res);
    cr_assert_eq(rc, 0, "%s: %s (%s)", what, tsagg_strerror(rc), errmsg(st));
    g_stats.queries++;
    cr_assert_eq(tsagg_result_buckets(res), ref.nb, "%s: %zu buckets, want %zu", what,
                 tsagg_result_buckets(res), ref.nb);
    cr_assert_eq(tsagg_result_groups(res), q.group_by ? ref.keep : 1, "%s: %zu groups, want %zu",
                 what, tsagg_result_groups(res), ref.keep);
    size_t keep = ref.keep;
    cr_assert_eq(tsagg_result_rows(res), ref.nb * keep, "%s: rows", what);
    g_stats.rows += (unsigned)(ref.nb * keep);
    const int64_t *times = tsagg_result_times(res);
    int approx = tsagg_result_approximate(res);
    g_stats.approx += approx;
    if (exact || ref.max_distinct <= 256)
        cr_assert_eq(approx, 0, "%s: says approximate; largest distinct count %" PRIu64, what,
                     ref.max_distinct);
    else
        cr_assert_eq(approx, 1, "%s: says exact; largest distinct count %" PRIu64, what,
                     ref.max_distinct);
    for (size_t b = 0; b < ref.nb; b++) {
        for (size_t j = 0; j < keep; j++) {
            size_t row = b * keep + j;
            cr_assert_eq(times[row], ref.starts[b],
                         "%s: row %zu starts at %" PRId64 ", want %" PRId64, what, row, times[row],
                         ref.starts[b]);
            const char *key = tsagg_result_group(res, row);
            cr_assert_not_null(key);
            size_t rj = j;
            if (by_key) {
                for (rj = 0; rj < keep && strcmp(ref.keys[rj], key); rj++)
                    ;
                cr_assert_lt(rj, keep, "%s: unexpected group '%s'", what, key);
            } else {
                cr_assert_str_eq(key, ref.keys[j], "%s: row %zu: group '%s', want '%s'", what, row,
                                 key, ref.keys[j]);
            }
            for (uint32_t k = 0; k < nmet; k++) {
                double got = tsagg_result_values(res, k)[row];
                double want = ref.vals[k][b * keep + rj];
                uint32_t kind = mets[k].kind;
                g_stats.nonzero += kind == TSAGG_METRIC_COUNT && want > 0;
                g_stats.visits += kind == TSAGG_METRIC_VISITS && want > 0;
                g_stats.bounces += kind == TSAGG_METRIC_BOUNCE_RATE && want > 0;
                g_stats.new_users += kind == TSAGG_METRIC_NEW_USERS && want > 0;
                g_stats.returning += kind == TSAGG_METRIC_RETURNING_USERS && want > 0;
                if ((kind == TSAGG_METRIC_USERS || kind == TSAGG_METRIC_SESSIONS) && approx) {
                    cr_assert(fabs(got - want) <= 0.03 * want + 1,
                              "%s: bucket %zu group '%s' %s: %.0f, want %.0f (within 3%%)", what,
                              b, key, METRIC_NAMES[kind], got, want);
                } else {
                    cr_assert(close_enough(got, want),
                              "%s: bucket %zu (%" PRId64 ") group '%s' %s: %.17g, want %.17g", what,
                              b, ref.starts[b], key, METRIC_NAMES[kind], got, want);
                }
            }
        }
    }
    ref_free(&ref);
}

/* ---- random queries ------------------------------------------------------------- */

#define W0 (INT64_C(1792785600) * SEC) /* 2026-10-23T20:00Z */
#define W1 (INT64_C(1793592000) * SEC) /* 2026-11-02T04:00Z */
/* The differential tests' window [g_w0, g_w1) and longest random range. */
static int64_t g_w0 = W0, g_w1 = W1, g_maxlen = 11 * DAY;
#define BIG INT64_C(7777)
#define NSMALL 60
#define SMALL0 100
#define ABSENT_MERCHANT 999

static const char *const ZONES[] = {NULL, "UTC", "Europe/Berlin", "Asia/Kolkata",
                                    "Asia/Kathmandu", "America/New_York"};

typedef struct qbuf {
    tsagg_query q;
    tsagg_metric metrics[4];
    tsagg_filter filters[2];
    const char *values[2][5];
} qbuf;

static const char *pick_value(int col)
{
    if (chance(0.05))
        return "no-such-value";
    if (col < 0)
        return EVENTS[rnd_below(NEVENTS)];
    if (col == 0 && chance(0.03))
        return "/decoy"; /* overridden by the last "page": never matches */
    return DIM_VALUES[col][rnd_below(DIM_COUNT[col])];
}

static void random_query(qbuf *b)
{
    memset(b, 0, sizeof *b);
    tsagg_query *q = &b->q;
    tsagg_query_init(q);
    unsigned r = (unsigned)rnd_below(100);
    if (r < 45)
        q->merchant = BIG;
    else if (r < 80)
        q->merchant = SMALL0 + rnd_below(NSMALL);
    else if (r < 83)
        q->merchant = ABSENT_MERCHANT;
    else
        q->flags |= TSAGG_QUERY_ALL_MERCHANTS;
    /* Range. */
    int64_t span = g_w1 - g_w0 + 6 * HOUR;
    int64_t from = g_w0 - 3 * HOUR + (int64_t)rnd_below((uint64_t)span);
    int64_t len;
    unsigned align = (unsigned)rnd_below(3);
    unsigned shape = (unsigned)rnd_below(3);
    if (shape == 0)
        len = 1 + (int64_t)rnd_below(6 * HOUR);
    else if (shape == 1)
        len = 1 + (int64_t)rnd_below(2 * DAY);
    else
        len = 1 + (int64_t)rnd_below((uint64_t)g_maxlen);
    int64_t to = from + len;
    if (align == 0) {
        from = floordiv(from, HOUR) * HOUR;
        to = floordiv(to + HOUR - 1, HOUR) * HOUR;
    } else if (align == 1) {
        from = floordiv(from, MINUTE) * MINUTE;
        to = floordiv(to + MINUTE - 1, MINUTE) * MINUTE;
    }
    if (chance(0.1)) { /* the whole window */
        from = g_w0 - DAY;
        to = g_w1 + DAY;
    }
    q->from = from;
    q->to = to;
    /* Buckets. */
    if (to - from <= 6 * HOUR && chance(0.5))
        q->bucket = TSAGG_BUCKET_MINUTE;
    else
        q->bucket = 1 + (uint32_t)rnd_below(5);
    q->tz = ZONES[rnd_below(NELEM(ZONES))];
    /* Metrics. */
    uint32_t nm = 1 + (uint32_t)rnd_below(4);
    for (uint32_t k = 0; k < nm; k++) {
        uint32_t kind = (uint32_t)rnd_below(7);
        if (k == 0 && chance(0.4))
            kind = TSAGG_METRIC_COUNT;
        b->metrics[k].kind = kind;
        int measured = kind >= TSAGG_METRIC_SUM && kind <= TSAGG_METRIC_MAX;
        b->metrics[k].measure = measured ? "value" : NULL;
    }
    if (chance(0.1))
        nm = 0; /* count */
    q->metrics = nm ? b->metrics : NULL;
    q->nmetrics = nm;
    /* Filters. */
    uint32_t nf = (uint32_t)(chance(0.5) ? 0 : chance(0.7) ? 1 : 2);
    for (uint32_t f = 0; f < nf; f++) {
        int col = chance(0.4) ? -1 : (int)rnd_below(NDIM);
        uint32_t nv = 1 + (uint32_t)rnd_below(col < 0 ? 3 : 5);
        for (uint32_t v = 0; v < nv; v++)
            b->values[f][v] = pick_value(col);
        b->filters[f] = (tsagg_filter){col < 0 ? "event" : DIM_NAMES[col], b->values[f], nv};
    }
    q->filters = nf ? b->filters : NULL;
    q->nfilters = nf;
    /* Group-by. */
    r = (unsigned)rnd_below(100);
    if (r < 20)
        q->group_by = "event";
    else if (r < 50)
        q->group_by = DIM_NAMES[rnd_below(NDIM)];
    if (q->group_by && chance(0.6))
        q->top = 1 + (uint32_t)rnd_below(6);
    if (chance(0.3))
        q->flags |= TSAGG_QUERY_EXACT;
    if (chance(0.1))
        q->flags |= TSAGG_QUERY_NO_TAIL;
    /* A third are questions about visits and new users: per merchant, with
     * event metrics mixed in, grouped by a dimension or the entry or exit
     * page (visit metrics only), never by event with visit metrics. */
    if (chance(0.35)) {
        if (q->flags & TSAGG_QUERY_ALL_MERCHANTS) {
            q->flags &= ~TSAGG_QUERY_ALL_MERCHANTS;
            q->merchant = BIG;
        }
        int visit_group = chance(0.3);
        if (visit_group)
            q->group_by = chance(0.5) ? "entry_page" : "exit_page";
        uint32_t nv = 1 + (uint32_t)rnd_below(3);
        for (uint32_t k = 0; k < nv; k++)
            b->metrics[k] = (tsagg_metric){
                visit_group ? TSAGG_METRIC_VISITS + (uint32_t)rnd_below(4)
                            : TSAGG_METRIC_VISITS + (uint32_t)rnd_below(6),
                NULL};
        if (!visit_group && chance(0.3))
            b->metrics[nv++] = (tsagg_metric){(uint32_t)rnd_below(7), NULL};
        if (b->metrics[nv - 1].kind >= TSAGG_METRIC_SUM && b->metrics[nv - 1].kind <= TSAGG_METRIC_MAX)
            b->metrics[nv - 1].measure = "value";
        q->metrics = b->metrics;
        q->nmetrics = nv;
        if (q->group_by && !strcmp(q->group_by, "event"))
            q->group_by = chance(0.5) ? NULL : "country";
        if (q->group_by && !q->top && chance(0.3))
            q->top = 1 + (uint32_t)rnd_below(6);
    }
    /* Keep the reference's buckets bounded. */
    if (q->bucket == TSAGG_BUCKET_MINUTE && to - from > 6 * HOUR)
        q->bucket = TSAGG_BUCKET_HOUR;
    if (q->bucket == TSAGG_BUCKET_HOUR && to - from > 1500 * HOUR)
        q->bucket = TSAGG_BUCKET_DAY;
}

static void run_random(tsagg_store *st, const model *m, unsigned n)
{
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    for (unsigned i = 0; i < n; i++) {
        qbuf b;
        random_query(&b);
        check_query(st, res, m, &b.q);
    }
    tsagg_result_free(res);
}

/* ---- the data set ------------------------------------------------------------------ */

/* Hours where the big merchant has thousands of events (sketches beyond
 * their exact form; per-event-name sketches in the rollups). */
static const int64_t BURSTS[] = {INT64_C(1792886400) * SEC, INT64_C(1793188800) * SEC,
                                 INT64_C(1793509200) * SEC};
static const int64_t *g_bursts = BURSTS;
static size_t g_nbursts = NELEM(BURSTS);

static void generate(model *m, size_t base)
{
    uint64_t next_id = 0;
    double w[NSMALL], wsum = 0;
    for (unsigned i = 0; i < NSMALL; i++)
        wsum += w[i] = 1.0 / pow(i + 1, 1.1);
    for (size_t i = 0; i < base; i++) {
        int64_t ts = g_w0 + (int64_t)rnd_below((uint64_t)(g_w1 - g_w0));
        uint64_t merchant;
        uint64_t pool = 300;
        if (chance(0.4)) {
            merchant = BIG;
            pool = 4000;
        } else {
            double u = rnd_unit() * wsum;
            unsigned k = 0;
            while (k + 1 < NSMALL && u >= w[k])
                u -= w[k++];
            merchant = SMALL0 + k;
        }
        fill_event(model_push(m), merchant, ts, pool, &next_id);
    }
    for (size_t h = 0; h < g_nbursts; h++)
        for (int i = 0; i < 2600; i++)
            fill_event(model_push(m), BIG, g_bursts[h] + (int64_t)rnd_below(HOUR), 6000,
                       &next_id);
    /* Late events arrive 1 to 48 hours after their time. */
    size_t n0 = m->n;
    for (size_t i = 0; i < n0; i++)
        if (chance(0.04))
            m->e[i].arrival += HOUR + (int64_t)rnd_below(47 * HOUR);
    qsort(m->e, m->n, sizeof *m->e, cmp_arrival);
    /* Retries right behind their original (same merchant, ts, id, all of
     * it); events without an id sent twice are two events. */
    size_t n1 = m->n;
    for (size_t i = 0; i < n1; i++) {
        if (chance(m->e[i].has_id ? 0.015 : 0.01)) {
            rev copy = m->e[i];
            rev *r = model_push(m);
            *r = copy;
            r->arrival = copy.arrival; /* equal keys: the sort below is not stable */
        }
    }
    /* Retries split across compaction runs: a copy sent again 1 to 48
     * hours later, once its original may be compacted. */
    for (size_t i = 0; i < n1; i++) {
        if (m->e[i].has_id && chance(0.01)) {
            rev copy = m->e[i];
            rev *r = model_push(m);
            *r = copy;
            r->arrival = copy.arrival + HOUR + (int64_t)rnd_below(47 * HOUR);
        }
    }
    /* Put each copy right behind its original: sort by (arrival, seq-order).
     * Originals and copies share arrival; ties are broken arbitrarily, which
     * is fine: they are the same event. */
    qsort(m->e, m->n, sizeof *m->e, cmp_arrival);
}

/* ---- the differential test ------------------------------------------------------------ */

/* How many partition files of the store span an hour, a day (24 h) and a
 * month (28..31 days), from their names (<day>T<hour>-<hours>h-<id>.tpart). */
static void count_tiers(unsigned *hours, unsigned *days, unsigned *months)
{
    char dir[700];
    snprintf(dir, sizeof dir, "%s/parts", tu_store);
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    *hours = *days = *months = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        unsigned n;
        if (sscanf(de->d_name, "%*8dT%*2d-%uh-", &n) != 1)
            continue;
        *hours += n == 1;
        *days += n == 24;
        *months += n >= 28 * 24 && n <= 31 * 24;
    }
    closedir(d);
}

/* Top pages of the busy merchant with a filter of one country (each in
 * turn) and of two, over the whole window and over days: the dashboard's
 * question, counted by page code per file, the matching rows only, and
 * mapped to groups by the handle's string ids. */
static void run_top_pages(tsagg_store *st, const model *m)
{
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    for (uint32_t c = 0; c < NELEM(COUNTRIES); c++) {
        const char *vals[2] = {COUNTRIES[c], COUNTRIES[(c + 1) % NELEM(COUNTRIES)]};
        for (uint32_t nv = 1; nv <= 2; nv++) {
            tsagg_filter f = {"country", vals, nv};
            tsagg_query q;
            tsagg_query_init(&q);
            q.merchant = BIG;
            q.from = c % 2 ? g_w0 - DAY : floordiv(g_w0, DAY) * DAY + (int64_t)c * DAY;
            q.to = c % 2 ? g_w1 + DAY : q.from + 2 * DAY;
            q.bucket = TSAGG_BUCKET_TOTAL;
            q.filters = &f;
            q.nfilters = 1;
            q.group_by = "page";
            q.top = c % 3 ? 10 : 0;
            check_query(st, res, m, &q);
        }
    }
    tsagg_result_free(res);
}

/* Append, compact in slices (spans get extra files, sealed days and months
 * are merged into one file, the rest stays in the log tail), merge, and
 * check random queries at every stage. The store must end up holding hour,
 * day and month files. */
static void differential(size_t base, unsigned queries)
{
    model m = {0};
    generate(&m, base);
    tsagg_store *st = open_writer(TSAGG_SYNC_NONE);
    /* The first 70% arrive: everything in the head. */
    size_t first = m.n * 7 / 10;
    append_range(st, &m, 0, first);
    cr_assert_eq(tsagg_flush(st), 0);
    model_recount(&m);
    run_random(st, &m, queries / 10);

    /* Two slices compacted, the rest in the head: hours get extra files. */
    tsagg_compact_stats s = compact(st, m.n * 35 / 100);
    cr_assert_eq(s.events_read, m.n * 35 / 100);
    model_compacted(&m, s.consumed_seq);
    s = compact(st, m.n * 25 / 100);
    model_compacted(&m, s.consumed_seq);
    run_random(st, &m, queries / 10);

    /* The rest arrives, retries of compacted events among them: copies in
     * the head whose first copy is in a file. */
    append_all(st, &m, first);
    cr_assert_eq(tsagg_flush(st), 0);
    model_recount(&m);
    cr_assert_lt(m.consumed, m.n);
    run_random(st, &m, queries * 3 / 10);

    /* Merged: the same answers. */
    merge(st);
    model_merged(&m);
    run_random(st, &m, queries / 5);

    /* All compacted, empty tail; then a read-only handle beside the writer. */
    s = compact(st, 0);
    model_compacted(&m, s.consumed_seq);
    cr_assert_eq(m.consumed, m.n);
    run_random(st, &m, queries / 5);
    /* The read-only handle keeps no decoded data between queries; the
     * writer's cache is small enough to evict all the time. */
    tsagg_store *ro = open_store(0, TSAGG_SYNC_BATCH);
    cr_assert_eq(tsagg__partcache_set_budget(ro, 0), 0);
    run_random(ro, &m, queries / 10);
    cr_assert_eq(tsagg_store_close(ro), 0);
    run_top_pages(st, &m);
    /* A handle whose string ids ran out after a few: groups of keys with
     * an id and of keys without meet in one query. */
    ro = open_store(0, TSAGG_SYNC_BATCH);
    cr_assert_eq(tsagg__partcache_set_intern_limit(ro, 5), 0);
    run_top_pages(ro, &m);
    run_random(ro, &m, queries / 10);
    cr_assert_eq(tsagg_store_close(ro), 0);
    cr_assert_eq(tsagg__partcache_set_budget(st, 256 << 10), 0);
    merge(st);
    model_merged(&m);
    run_random(st, &m, queries / 10);
    unsigned hours, days, months;
    count_tiers(&hours, &days, &months);
    cr_log_info("differential: %u hour, %u day and %u month files", hours, days, months);
    cr_assert(hours > 0 && days > 0 && months > 0,
              "the store should mix tiers: %u hour, %u day and %u month files", hours, days,
              months);

    cr_log_info("differential: %u queries, %u rows, %u non-zero counts, %u approximate results",
                g_stats.queries, g_stats.rows, g_stats.nonzero, g_stats.approx);
    cr_assert_gt(g_stats.approx, 0, "no query exercised the sketches' estimates");
    cr_log_info("differential: non-zero values: %u visits, %u bounce rates, %u new and %u "
                "returning users",
                g_stats.visits, g_stats.bounces, g_stats.new_users, g_stats.returning);
    cr_assert(g_stats.visits && g_stats.bounces && g_stats.new_users && g_stats.returning,
              "visits, bounces, new and returning users should all be seen");
    cr_assert_eq(tsagg_store_close(st), 0);
    free(m.e);
}

/* Ten days around the autumn clock change: a month file (October), a day
 * file and hour files. */
Test(query, differential)
{
    g_rng = 20261025;
    differential(50000, 400);
}

/* A year and three weeks: month files across a year's end and both clock
 * changes, day files, hour files; ranges up to the whole year. */
Test(query, differential_year)
{
    static const int64_t bursts[] = {
        INT64_C(1761440400) * SEC, /* 2025-10-26T01:00Z, the EU clock change */
        INT64_C(1767222000) * SEC, /* 2025-12-31T23:00Z */
        INT64_C(1774742400) * SEC, /* 2026-03-29T00:00Z */
        INT64_C(1775001600) * SEC, /* 2026-04-01T00:00Z, a month's first hour */
        INT64_C(1791021600) * SEC, /* 2026-10-03T10:00Z, inside a day file */
    };
    g_w0 = INT64_C(1758326400) * SEC; /* 2025-09-20T00:00Z */
    g_w1 = INT64_C(1791435600) * SEC; /* 2026-10-08T05:00Z */
    g_maxlen = 400 * DAY;
    g_bursts = bursts;
    g_nbursts = NELEM(bursts);
    g_rng = 20250920;
    differential(40000, 300);
}

/* ---- rollups and rows agree -------------------------------------------------------- */

/* Two results are the same, bit for bit (NaN equal to NaN). */
static void assert_same(const tsagg_result *a, const tsagg_result *b, uint32_t nmet,
                        const char *what)
{
    cr_assert_eq(tsagg_result_rows(a), tsagg_result_rows(b), "%s: rows", what);
    cr_assert_eq(tsagg_result_buckets(a), tsagg_result_buckets(b), "%s: buckets", what);
    cr_assert_eq(tsagg_result_groups(a), tsagg_result_groups(b), "%s: groups", what);
    size_t rows = tsagg_result_rows(a);
    for (size_t r = 0; r < rows; r++) {
        cr_assert_eq(tsagg_result_times(a)[r], tsagg_result_times(b)[r], "%s: time of row %zu",
                     what, r);
        cr_assert_str_eq(tsagg_result_group(a, r), tsagg_result_group(b, r), "%s: row %zu", what,
                         r);
        for (uint32_t k = 0; k < nmet; k++) {
            double x = tsagg_result_values(a, k)[r], y = tsagg_result_values(b, k)[r];
            cr_assert(x == y || (isnan(x) && isnan(y)), "%s: row %zu metric %u: %.17g vs %.17g",
                      what, r, k, x, y);
        }
    }
}

/* The same question answered from the rollups and from the rows (a filter
 * on every page value forces the rows; so does EXACT for counts and sums):
 * identical answers, sketches included (a sketch's state depends only on
 * the set of ids it saw). */
Test(query, rollup_and_rows_paths_agree)
{
    g_rng = 77;
    model m = {0};
    generate(&m, 30000);
    tsagg_store *st = open_writer(TSAGG_SYNC_NONE);
    append_all(st, &m, 0);
    cr_assert_eq(tsagg_flush(st), 0);
    tsagg_compact_stats cs = compact(st, 0);
    model_compacted(&m, cs.consumed_seq);
    merge(st);
    model_merged(&m);
    const char *all_pages[NELEM(PAGES) + 1];
    for (size_t i = 0; i < NELEM(PAGES); i++)
        all_pages[i] = PAGES[i];
    tsagg_filter every_page = {"page", all_pages, NELEM(PAGES)};
    const char *some_events[] = {"page_view", "purchase"};
    tsagg_filter ev_filters[2][2] = {
        {{"event", some_events, 2}, {"page", all_pages, NELEM(PAGES)}},
        {{"event", some_events, 1}, {"page", all_pages, NELEM(PAGES)}}};
    tsagg_metric mets[] = {{TSAGG_METRIC_COUNT, NULL}, {TSAGG_METRIC_SUM, "value"},
                           {TSAGG_METRIC_USERS, NULL}, {TSAGG_METRIC_SESSIONS, NULL}};
    tsagg_result *a, *b;
    cr_assert_eq(tsagg_result_create(&a), 0);
    cr_assert_eq(tsagg_result_create(&b), 0);
    struct {
        uint32_t bucket;
        const char *tz;
        const char *group_by;
        int event_filter;
        int64_t from, to;
    } cases[] = {
        {TSAGG_BUCKET_HOUR, NULL, NULL, 0, W0, W1},
        {TSAGG_BUCKET_DAY, "Europe/Berlin", NULL, 0, W0 - 4 * HOUR, W1 + 20 * HOUR},
        {TSAGG_BUCKET_DAY, "Asia/Kathmandu", NULL, 1, W0, W1},
        {TSAGG_BUCKET_TOTAL, NULL, "event", 0, W0, W1},
        {TSAGG_BUCKET_HOUR, "Asia/Kolkata", "event", 1, W0 + 7 * MINUTE, W1 - 13 * MINUTE},
        {TSAGG_BUCKET_MINUTE, NULL, "event", 0, INT64_C(1792886400) * SEC - 20 * MINUTE,
         INT64_C(1792886400) * SEC + 80 * MINUTE},
        {TSAGG_BUCKET_WEEK, "America/New_York", NULL, 0, W0, W1},
        {TSAGG_BUCKET_MONTH, "Europe/Berlin", "event", 1, W0, W1},
        {TSAGG_BUCKET_TOTAL, NULL, NULL, 2, W0, W1},
        {TSAGG_BUCKET_DAY, "Asia/Kolkata", "event", 2, W0, W1},
        /* Days that start inside an hour, no filter: distinct ids by
         * spans of time, the cut hours from their rows. */
        {TSAGG_BUCKET_DAY, "Asia/Kolkata", NULL, 0, W0, W1},
        {TSAGG_BUCKET_DAY, "Asia/Kathmandu", NULL, 0, W0 + 7 * MINUTE, W1 - 13 * MINUTE},
    };
    for (size_t c = 0; c < NELEM(cases); c++) {
        tsagg_query q;
        tsagg_query_init(&q);
        q.merchant = BIG;
        q.from = cases[c].from;
        q.to = cases[c].to;
        q.bucket = cases[c].bucket;
        q.tz = cases[c].tz;
        q.group_by = cases[c].group_by;
        q.metrics = mets;
        q.nmetrics = 4;
        int ef = cases[c].event_filter;
        tsagg_filter *ev_filter = ef ? ev_filters[ef - 1] : NULL;
        q.filters = ev_filter;
        q.nfilters = ev_filter ? 1 : 0;
        char what[64];
        snprintf(what, sizeof what, "case %zu", c);
        check_query(st, a, &m, &q);
        cr_assert_eq(tsagg_query_run(st, &q, a), 0, "%s: %s", what, errmsg(st));
        /* Rows: the same filters plus page IN every value. */
        tsagg_query r = q;
        if (cases[c].event_filter) {
            r.filters = ev_filter;
            r.nfilters = 2;
        } else {
            r.filters = &every_page;
            r.nfilters = 1;
        }
        check_query(st, b, &m, &r);
        cr_assert_eq(tsagg_query_run(st, &r, b), 0, "%s: %s", what, errmsg(st));
        assert_same(a, b, 4, what);
        /* Again, warm: what the handle kept gives the same answer. */
        cr_assert_eq(tsagg_query_run(st, &q, b), 0, "%s: %s", what, errmsg(st));
        assert_same(a, b, 4, what);
        /* Without measures, hours without a rollup are counted by their
         * timestamps alone. */
        tsagg_metric no_sums[] = {mets[0], mets[2], mets[3]};
        tsagg_query u = q, v = r;
        u.metrics = v.metrics = no_sums;
        u.nmetrics = v.nmetrics = 3;
        cr_assert_eq(tsagg_query_run(st, &u, a), 0, "%s: %s", what, errmsg(st));
        cr_assert_eq(tsagg_query_run(st, &v, b), 0, "%s: %s", what, errmsg(st));
        assert_same(a, b, 3, what);
        /* Counts and sums with EXACT come from the rows as well. */
        tsagg_query x = q;
        x.nmetrics = 2;
        x.flags |= TSAGG_QUERY_EXACT;
        tsagg_query y = q;
        y.nmetrics = 2;
        cr_assert_eq(tsagg_query_run(st, &x, a), 0);
        cr_assert_eq(tsagg_query_run(st, &y, b), 0);
        assert_same(a, b, 2, what);
    }
    tsagg_result_free(a);
    tsagg_result_free(b);
    cr_assert_eq(tsagg_store_close(st), 0);
    free(m.e);
}

/*
 * A busy merchant's days in a time zone half an hour off UTC: each day
 * starts inside an hour that has a rollup. Its distinct users and sessions
 * come from sketches of spans of time (cached by the handle), its counts
 * from the rollups or its timestamps; both must be those of the events,
 * cold and warm. So for a merchant without rollups (no hour busy enough)
 * but thousands of rows a day. Every half hour has its own 4 users, so a
 * cut hour counted whole into either day shows.
 */
Test(query, days_that_start_inside_an_hour)
{
    enum { HOURS = 72, PER = 600, QUIET = 100 };
    const int64_t t0 = INT64_C(1759276800) * SEC; /* 2025-10-01T00:00Z */
    const int64_t off = 330 * MINUTE;             /* Asia/Kolkata */
    tsagg_store *st = open_writer(TSAGG_SYNC_NONE);
    tsagg_event *evs = malloc((size_t)HOURS * (PER + QUIET) * sizeof *evs);
    cr_assert_not_null(evs);
    size_t n = 0;
    for (uint64_t m = 7; m <= 8; m++)
        for (int h = 0; h < HOURS; h++) {
            /* Merchant 7: an hour a day too quiet for a rollup; 8: every hour. */
            int per = m == 8 || h % 24 == 3 ? QUIET : PER;
            for (int i = 0; i < per; i++) {
                int64_t ts = t0 + h * HOUR + (int64_t)i * HOUR / per;
                uint64_t half = (uint64_t)((ts - t0) / (30 * MINUTE));
                evs[n++] = (tsagg_event){.ts = ts, .merchant = m, .event = "page_view",
                                         .event_len = 9, .user = half * 10 + 1 + (uint64_t)i % 4,
                                         .session = half * 100 + 1 + (uint64_t)i % 4};
            }
        }
    cr_assert_eq(tsagg_append(st, evs, n, NULL), 0, "%s", errmsg(st));
    tsagg_event late = {.ts = t0 + (HOURS + 30) * HOUR, .merchant = 1, .event = "x",
                        .event_len = 1};
    cr_assert_eq(tsagg_append(st, &late, 1, NULL), 0, "%s", errmsg(st));
    cr_assert_eq(tsagg_flush(st), 0);
    compact(st, 0);
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = 7;
    q.from = t0 - off + DAY; /* local midnights: the first whole local day */
    q.to = q.from + 2 * DAY;
    q.bucket = TSAGG_BUCKET_DAY;
    q.tz = "Asia/Kolkata";
    tsagg_metric mets[] = {{TSAGG_METRIC_COUNT, NULL}, {TSAGG_METRIC_USERS, NULL},
                           {TSAGG_METRIC_SESSIONS, NULL}};
    q.metrics = mets;
    q.nmetrics = 3;
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    for (int run = 0; run < 4; run++) {
        q.merchant = 7 + (uint64_t)run % 2;
        cr_assert_eq(tsagg_query_run(st, &q, res), 0, "%s", errmsg(st));
        cr_assert_eq(tsagg_result_rows(res), 2);
        /* A few hundred ids a day: exact sets, exact answers. */
        cr_assert(!tsagg_result_approximate(res), "run %d", run);
        for (int d = 0; d < 2; d++) {
            int64_t lo = q.from + d * DAY, hi = lo + DAY;
            double count = 0;
            int halves = 0;
            for (size_t i = 0; i < n; i++)
                count += evs[i].merchant == q.merchant && evs[i].ts >= lo && evs[i].ts < hi;
            for (int64_t t = lo; t < hi; t += 30 * MINUTE)
                halves++;
            cr_assert_eq(tsagg_result_values(res, 0)[d], count, "run %d day %d", run, d);
            cr_assert_eq(tsagg_result_values(res, 1)[d], 4.0 * halves, "run %d day %d users",
                         run, d);
            cr_assert_eq(tsagg_result_values(res, 2)[d], 4.0 * halves,
                         "run %d day %d sessions", run, d);
        }
    }
    tsagg_result_free(res);
    free(evs);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/*
 * A busy merchant's days in its time zone, the first made of two spans of
 * time with thousands of users (dense span sketches, estimated together in
 * one pass) and fewer sessions (sparse ones), the second of a span of a
 * day file and one of each hour file of the last day: the same answers as
 * the same days asked with an event filter (hour rollups' sketches by
 * event and rows), cold and warm, and again with late events of the
 * second day in the head, which add to a cell that also has span
 * sketches.
 */
Test(query, days_of_dense_span_sketches)
{
    enum { HOURS = 72, PER = 1000, LATE = 3000 };
    const int64_t t0 = INT64_C(1759276800) * SEC; /* 2025-10-01T00:00Z */
    const int64_t off = 9 * HOUR;                 /* Asia/Tokyo: 9 h and 15 h of each day */
    tsagg_store *st = open_writer(TSAGG_SYNC_NONE);
    tsagg_event *evs = malloc((size_t)HOURS * PER * sizeof *evs);
    cr_assert_not_null(evs);
    size_t n = 0;
    for (int h = 0; h < HOURS; h++)
        for (int i = 0; i < PER; i++) {
            uint64_t k = (uint64_t)h * PER + (uint64_t)i;
            evs[n++] = (tsagg_event){.ts = t0 + h * HOUR + (int64_t)i * HOUR / PER, .merchant = 9,
                                     .event = "page_view", .event_len = 9, .user = k + 1,
                                     .session = k / 2 + 1};
        }
    cr_assert_eq(tsagg_append(st, evs, n, NULL), 0, "%s", errmsg(st));
    cr_assert_eq(tsagg_flush(st), 0);
    compact(st, 0); /* the last day in hour files: a span sketch for each hour */
    merge(st);
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = 9;
    q.from = t0 - off + DAY; /* local midnights: the first whole local day */
    q.to = q.from + 2 * DAY;
    q.bucket = TSAGG_BUCKET_DAY;
    q.tz = "Asia/Tokyo";
    tsagg_metric mets[] = {{TSAGG_METRIC_COUNT, NULL}, {TSAGG_METRIC_USERS, NULL},
                           {TSAGG_METRIC_SESSIONS, NULL}};
    q.metrics = mets;
    q.nmetrics = 3;
    const char *pv[] = {"page_view"};
    tsagg_filter by_event = {"event", pv, 1};
    tsagg_query r = q;
    r.filters = &by_event;
    r.nfilters = 1;
    tsagg_result *a, *b;
    cr_assert_eq(tsagg_result_create(&a), 0);
    cr_assert_eq(tsagg_result_create(&b), 0);
    double day2_users = 0;
    for (int run = 0; run < 4; run++) {
        if (run == 2) { /* late events of the second day, in the head */
            for (int i = 0; i < LATE; i++)
                evs[i] = (tsagg_event){.ts = q.from + DAY + 20 * HOUR + i * SEC, .merchant = 9,
                                       .event = "page_view", .event_len = 9,
                                       .user = UINT64_C(1000000) + (uint64_t)i,
                                       .session = UINT64_C(1000000) + (uint64_t)i};
            cr_assert_eq(tsagg_append(st, evs, LATE, NULL), 0, "%s", errmsg(st));
            cr_assert_eq(tsagg_flush(st), 0);
        }
        char what[32];
        snprintf(what, sizeof what, "run %d", run);
        cr_assert_eq(tsagg_query_run(st, &q, a), 0, "%s: %s", what, errmsg(st));
        cr_assert_eq(tsagg_query_run(st, &r, b), 0, "%s: %s", what, errmsg(st));
        cr_assert_eq(tsagg_result_rows(a), 2, "%s", what);
        assert_same(a, b, 3, what);
        cr_assert(tsagg_result_approximate(a), "%s: registers, not exact", what);
        /* Each day has 24,000 users: the estimate is within a few percent. */
        for (int d = 0; d < 2; d++) {
            double u = tsagg_result_values(a, 1)[d], want = 24000 + (run >= 2 && d == 1) * LATE;
            cr_assert(fabs(u - want) < 0.05 * want, "%s day %d: %.0f users, want ~%.0f", what,
                      d, u, want);
        }
        if (run == 1)
            day2_users = tsagg_result_values(a, 1)[1];
        if (run >= 2)
            cr_assert_gt(tsagg_result_values(a, 1)[1], day2_users, "%s: the head counted", what);
    }
    tsagg_result_free(a);
    tsagg_result_free(b);
    free(evs);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- errors ------------------------------------------------------------------------------ */

static void expect_error(tsagg_store *st, tsagg_result *res, const tsagg_query *q, int want,
                         const char *needle, const char *what)
{
    int rc = tsagg_query_run(st, q, res);
    cr_assert_eq(rc, want, "%s: %s (%d), want %s", what, tsagg_strerror(rc), rc,
                 tsagg_strerror(want));
    cr_assert_eq(tsagg_result_rows(res), 0, "%s: the result is not empty", what);
    cr_assert_eq(tsagg_result_buckets(res), 0, "%s: the result is not empty", what);
    if (needle)
        cr_assert(strstr(errmsg(st), needle), "%s: message \"%s\" does not name \"%s\"", what,
                  errmsg(st), needle);
}

Test(query, errors)
{
    tsagg_store *st = open_writer(TSAGG_SYNC_BATCH);
    tsagg_event ev = {.ts = W0 + 5, .merchant = 1, .event = "x", .event_len = 1};
    cr_assert_eq(tsagg_append(st, &ev, 1, NULL), 0);
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    tsagg_query good;
    tsagg_query_init(&good);
    good.merchant = 1;
    good.from = W0;
    good.to = W0 + DAY;
    /* A good query first, so that errors must empty a filled result. */
    cr_assert_eq(tsagg_query_run(st, &good, res), 0);
    cr_assert_eq(tsagg_result_rows(res), 24);

    tsagg_query q = good;
    q.to = q.from;
    expect_error(st, res, &q, TSAGG_EARG, NULL, "empty range");
    cr_assert_eq(tsagg_query_run(st, &good, res), 0);
    q.to = q.from - 1;
    expect_error(st, res, &q, TSAGG_EARG, NULL, "reversed range");
    q = good;
    q.tz = "Mars/Olympus_Mons";
    expect_error(st, res, &q, TSAGG_EARG, "Mars/Olympus_Mons", "unknown zone");
    q.tz = "../../etc/passwd";
    expect_error(st, res, &q, TSAGG_EARG, NULL, "zone with ..");
    q = good;
    q.bucket = 6;
    expect_error(st, res, &q, TSAGG_EARG, NULL, "bucket");
    q = good;
    q.bucket = TSAGG_BUCKET_MINUTE;
    q.from = 0;
    q.to = INT64_C(4000000000) * SEC;
    expect_error(st, res, &q, TSAGG_EARG, NULL, "too many buckets");
    q = good;
    tsagg_metric bad_kind = {99, NULL};
    q.metrics = &bad_kind;
    q.nmetrics = 1;
    expect_error(st, res, &q, TSAGG_EARG, NULL, "metric kind");
    tsagg_metric many[TSAGG_QUERY_MAX_METRICS + 1];
    for (int i = 0; i <= TSAGG_QUERY_MAX_METRICS; i++)
        many[i] = (tsagg_metric){TSAGG_METRIC_COUNT, NULL};
    q.metrics = many;
    q.nmetrics = TSAGG_QUERY_MAX_METRICS + 1;
    expect_error(st, res, &q, TSAGG_EARG, NULL, "too many metrics");
    q.nmetrics = TSAGG_QUERY_MAX_METRICS; /* the most is fine */
    cr_assert_eq(tsagg_query_run(st, &q, res), 0);
    cr_assert_eq(tsagg_result_values(res, TSAGG_QUERY_MAX_METRICS - 1)[0], 1);
    cr_assert_null(tsagg_result_values(res, TSAGG_QUERY_MAX_METRICS));
    tsagg_metric unknown_measure = {TSAGG_METRIC_SUM, "revenue"};
    q.metrics = &unknown_measure;
    q.nmetrics = 1;
    expect_error(st, res, &q, TSAGG_ESCHEMA, "revenue", "unknown measure");
    tsagg_metric no_measure = {TSAGG_METRIC_MAX, NULL};
    q.metrics = &no_measure;
    expect_error(st, res, &q, TSAGG_ESCHEMA, NULL, "measure missing");
    q = good;
    const char *vals[] = {"x"};
    tsagg_filter f = {"colour", vals, 1};
    q.filters = &f;
    q.nfilters = 1;
    expect_error(st, res, &q, TSAGG_ESCHEMA, "colour", "unknown filter dimension");
    f.field = "value"; /* a measure is not a dimension */
    expect_error(st, res, &q, TSAGG_ESCHEMA, "value", "filter on a measure");
    f = (tsagg_filter){"page", vals, 0};
    expect_error(st, res, &q, TSAGG_EARG, NULL, "filter without values");
    q = good;
    q.group_by = "colour";
    expect_error(st, res, &q, TSAGG_ESCHEMA, "colour", "unknown group-by");
    q = good;
    q.struct_size = 8;
    expect_error(st, res, &q, TSAGG_EARG, NULL, "struct_size");
    cr_assert_eq(tsagg_query_run(st, NULL, res), TSAGG_EARG);
    cr_assert_eq(tsagg_query_run(NULL, &good, res), TSAGG_EARG);
    cr_assert_eq(tsagg_query_run(st, &good, NULL), TSAGG_EARG);

    /* Extreme but valid ranges. */
    q = good;
    q.from = INT64_MIN;
    q.to = INT64_MAX;
    q.bucket = TSAGG_BUCKET_TOTAL;
    cr_assert_eq(tsagg_query_run(st, &q, res), 0, "%s", errmsg(st));
    cr_assert_eq(tsagg_result_rows(res), 1);
    cr_assert_eq(tsagg_result_times(res)[0], INT64_MIN);
    cr_assert_eq(tsagg_result_values(res, 0)[0], 1);
    q.bucket = TSAGG_BUCKET_MONTH;
    q.tz = "Europe/Berlin";
    expect_error(st, res, &q, TSAGG_EARG, NULL, "months of the whole int64 range");
    q.bucket = TSAGG_BUCKET_HOUR;
    q.tz = NULL;
    q.from = INT64_MAX - 3 * HOUR;
    cr_assert_eq(tsagg_query_run(st, &q, res), 0, "%s", errmsg(st));
    cr_assert_geq(tsagg_result_buckets(res), 3);
    q.from = INT64_MIN;
    q.to = INT64_MIN + 3 * HOUR;
    cr_assert_eq(tsagg_query_run(st, &q, res), 0, "%s", errmsg(st));
    cr_assert_geq(tsagg_result_buckets(res), 3);
    tsagg_result_free(res);
    tsagg_result_free(NULL);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- result reuse --------------------------------------------------------------------- */

/* One result for a sequence of queries of every size gives what a fresh
 * result gives for each. */
Test(query, result_reuse)
{
    g_rng = 5;
    model m = {0};
    generate(&m, 8000);
    tsagg_store *st = open_writer(TSAGG_SYNC_NONE);
    append_all(st, &m, 0);
    cr_assert_eq(tsagg_flush(st), 0);
    tsagg_compact_stats s = compact(st, m.n / 2);
    model_compacted(&m, s.consumed_seq);
    tsagg_result *shared;
    cr_assert_eq(tsagg_result_create(&shared), 0);
    for (int i = 0; i < 60; i++) {
        qbuf b;
        random_query(&b);
        if (i % 3 == 0) { /* many rows */
            b.q.bucket = TSAGG_BUCKET_HOUR;
            b.q.group_by = "page";
            b.q.top = 0;
            b.q.from = W0;
            b.q.to = W1;
        }
        tsagg_result *fresh;
        cr_assert_eq(tsagg_result_create(&fresh), 0);
        cr_assert_eq(tsagg_query_run(st, &b.q, shared), 0, "%s", errmsg(st));
        cr_assert_eq(tsagg_query_run(st, &b.q, fresh), 0, "%s", errmsg(st));
        assert_same(shared, fresh, b.q.nmetrics ? b.q.nmetrics : 1, "reuse");
        cr_assert_eq(tsagg_result_approximate(shared), tsagg_result_approximate(fresh));
        tsagg_result_free(fresh);
        check_query(st, shared, &m, &b.q);
    }
    tsagg_result_free(shared);
    cr_assert_eq(tsagg_store_close(st), 0);
    free(m.e);
}

/* ---- daylight saving time --------------------------------------------------------------- */

/* An event every 5 minutes around the spring and autumn changes: the local
 * days that lose or gain an hour hold 23 x 12 or 25 x 12 events. */
Test(query, dst_days)
{
    tsagg_store *st = open_writer(TSAGG_SYNC_NONE);
    const int64_t spans[2][2] = {{INT64_C(1772755200) * SEC, INT64_C(1775001600) * SEC},
                                 {INT64_C(1792627200) * SEC, INT64_C(1793750400) * SEC}};
    uint64_t id = 0;
    for (int sp = 0; sp < 2; sp++) {
        for (int64_t t = spans[sp][0]; t < spans[sp][1]; t += 5 * MINUTE) {
            tsagg_event ev = {.ts = t + 17 * SEC, .merchant = 3, .event = "page_view",
                              .event_len = 9, .flags = TSAGG_EVENT_HAS_ID, .id = ++id,
                              .user = id % 97, .session = id % 389};
            cr_assert_eq(tsagg_append(st, &ev, 1, NULL), 0);
        }
    }
    cr_assert_eq(tsagg_flush(st), 0);
    struct {
        const char *tz;
        int64_t day_utc;  /* local midnight of the short or long day, UTC */
        int64_t next_utc; /* and of the day after */
        int hours;
    } days[] = {
        /* 2026-03-29 00:00 CET, 2026-03-30 00:00 CEST */
        {"Europe/Berlin", INT64_C(1774738800) * SEC, INT64_C(1774821600) * SEC, 23},
        /* 2026-10-25 00:00 CEST, 2026-10-26 00:00 CET */
        {"Europe/Berlin", INT64_C(1792879200) * SEC, INT64_C(1792969200) * SEC, 25},
        /* 2026-03-08 00:00 EST, 2026-03-09 00:00 EDT */
        {"America/New_York", INT64_C(1772946000) * SEC, INT64_C(1773028800) * SEC, 23},
        /* 2026-11-01 00:00 EDT, 2026-11-02 00:00 EST */
        {"America/New_York", INT64_C(1793505600) * SEC, INT64_C(1793595600) * SEC, 25},
    };
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < NELEM(days); i++) {
            tsagg_query q;
            tsagg_query_init(&q);
            q.merchant = 3;
            q.bucket = TSAGG_BUCKET_DAY;
            q.tz = days[i].tz;
            q.from = days[i].day_utc - 2 * DAY + 3 * HOUR; /* inside a day */
            q.to = days[i].next_utc + DAY + 1;
            cr_assert_eq(tsagg_query_run(st, &q, res), 0, "%s", errmsg(st));
            cr_assert_eq(tsagg_result_buckets(res), 5, "%s: %zu buckets", days[i].tz,
                         tsagg_result_buckets(res));
            const int64_t *t = tsagg_result_times(res);
            const double *c = tsagg_result_values(res, 0);
            cr_assert_eq(t[2], days[i].day_utc, "%s: day starts at %" PRId64, days[i].tz, t[2]);
            cr_assert_eq(t[3], days[i].next_utc, "%s: next day starts at %" PRId64, days[i].tz,
                         t[3]);
            cr_assert_eq(t[3] - t[2], days[i].hours * HOUR);
            cr_assert_eq(c[2], days[i].hours * 12, "%s: %.0f events in the day of %d hours",
                         days[i].tz, c[2], days[i].hours);
            cr_assert_eq(c[1], 24 * 12);
            cr_assert_eq(c[3], 24 * 12);
            /* The first bucket is the whole local day holding from; only
             * the events from `from` on count. */
            cr_assert_eq(t[1] - t[0], 24 * HOUR);
            cr_assert_eq(c[0], 21 * 12);
            /* Hours stay UTC hours: 12 each. */
            q.bucket = TSAGG_BUCKET_HOUR;
            q.from = days[i].day_utc;
            q.to = days[i].next_utc;
            cr_assert_eq(tsagg_query_run(st, &q, res), 0);
            cr_assert_eq(tsagg_result_buckets(res), (size_t)days[i].hours);
            for (int h = 0; h < days[i].hours; h++)
                cr_assert_eq(tsagg_result_values(res, 0)[h], 12);
            /* The week holding the day. */
            q.bucket = TSAGG_BUCKET_WEEK;
            q.from = days[i].day_utc;
            q.to = days[i].day_utc + 1;
            cr_assert_eq(tsagg_query_run(st, &q, res), 0);
            cr_assert_eq(tsagg_result_buckets(res), 1);
            use_tz(days[i].tz);
            cr_assert_eq(tsagg_result_times(res)[0], ref_floor(TSAGG_BUCKET_WEEK, q.from),
                         "%s: week", days[i].tz);
        }
        if (round == 0) { /* again from partitions */
            compact(st, 0);
        }
    }
    /* Months: October 2026 in Berlin lasts 31 days and an hour. */
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = 3;
    q.bucket = TSAGG_BUCKET_MONTH;
    q.tz = "Europe/Berlin";
    q.from = INT64_C(1790805600) * SEC; /* 2026-10-01 00:00 CEST */
    q.to = INT64_C(1793487600) * SEC;   /* 2026-11-01 00:00 CET */
    cr_assert_eq(tsagg_query_run(st, &q, res), 0);
    cr_assert_eq(tsagg_result_buckets(res), 1);
    cr_assert_eq(tsagg_result_times(res)[0], q.from);
    /* Events every 5 minutes from 2026-10-22T00:00Z. */
    double want = (double)(q.to - INT64_C(1792627200) * SEC) / (5 * MINUTE);
    cr_assert_eq(tsagg_result_values(res, 0)[0], want);
    tsagg_result_free(res);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- one merchant's year reads little ---------------------------------------------------- */

/* An I/O table that counts the reads of partition files and their bytes. */
typedef struct count_io {
    tsagg_io io;
    _Atomic uint64_t opens, reads, bytes;
    _Atomic uint8_t part_fd[4096]; /* fd -> a partition file */
} count_io;

static int count_open(void *ctx, const char *path, int flags, unsigned mode)
{
    count_io *c = ctx;
    const tsagg_io *d = tsagg_io_default();
    int fd = d->open(d->ctx, path, flags, mode);
    size_t len = strlen(path);
    int part = len > 6 && !strcmp(path + len - 6, ".tpart");
    if (fd >= 0 && fd < 4096)
        atomic_store(&c->part_fd[fd], (uint8_t)part);
    if (fd >= 0 && part)
        atomic_fetch_add(&c->opens, 1);
    return fd;
}

static ssize_t count_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off)
{
    count_io *c = ctx;
    const tsagg_io *d = tsagg_io_default();
    ssize_t n = d->pread(d->ctx, fd, buf, len, off);
    if (fd >= 0 && fd < 4096 && atomic_load(&c->part_fd[fd])) {
        atomic_fetch_add(&c->reads, 1);
        atomic_fetch_add(&c->bytes, n > 0 ? (uint64_t)n : 0);
    }
    return n;
}

/*
 * A year of 5,000 merchants loaded at once is twelve month files whose
 * merchant index spans many pages. One merchant's year by month (count and
 * users) on a new handle reads, per file, its header, trailer and footer,
 * one index page and the blocks of its own rows (and in the month where
 * one hour is busy enough for a rollup, its hour segments and that
 * rollup): a few reads, a small share of the bytes, not every merchant's
 * entries. Run again, it reads nothing: the handle remembers the entries,
 * segments, rollups and rows it decoded.
 */
Test(query, one_merchant_year_reads_few_blocks)
{
    enum { NM = 5000, PER_MONTH = 4, BUSY = 600, BUSY_MONTH = 3 };
    const uint64_t target = NM / 2 + 7;
    const int64_t y0 = INT64_C(1759276800) * SEC; /* 2025-10-01T00:00Z */
    int64_t month[13];
    for (int k = 0; k <= 12; k++) {
        struct tm tm = {.tm_year = 125 + (9 + k) / 12, .tm_mon = (9 + k) % 12, .tm_mday = 1};
        month[k] = (int64_t)timegm(&tm) * SEC;
    }
    cr_assert_eq(month[0], y0);
    tsagg_store *st = open_writer(TSAGG_SYNC_NONE);
    enum { BATCH = 1000 };
    tsagg_event evs[BATCH];
    size_t n = 0;
    uint64_t rng = 5;
    for (uint64_t m = 1; m <= NM; m++)
        for (int k = 0; k < 12; k++)
            for (int i = 0; i < PER_MONTH; i++) {
                uint64_t r = tu_splitmix64(&rng);
                evs[n++] = (tsagg_event){
                    .ts = month[k] + (int64_t)(r % (uint64_t)(month[k + 1] - month[k])),
                    .merchant = m, .event = "page_view", .event_len = 9,
                    .user = m * 1000 + (uint64_t)(k * PER_MONTH + i) % 7};
                if (n == BATCH) {
                    cr_assert_eq(tsagg_append(st, evs, n, NULL), 0, "%s", errmsg(st));
                    n = 0;
                }
            }
    /* One hour of the target merchant's with a rollup: 600 events of 5 users. */
    for (int i = 0; i < BUSY; i++) {
        evs[n++] = (tsagg_event){.ts = month[BUSY_MONTH] + 5 * DAY + 13 * HOUR + i * SEC,
                                 .merchant = target, .event = "page_view", .event_len = 9,
                                 .user = target * 1000 + 100 + (uint64_t)i % 5};
        if (n == BATCH) {
            cr_assert_eq(tsagg_append(st, evs, n, NULL), 0, "%s", errmsg(st));
            n = 0;
        }
    }
    /* One event after the year, so that its last month is sealed too. */
    evs[n++] = (tsagg_event){.ts = month[12] + 2 * HOUR, .merchant = 1, .event = "x",
                             .event_len = 1};
    cr_assert_eq(tsagg_append(st, evs, n, NULL), 0, "%s", errmsg(st));
    cr_assert_eq(tsagg_flush(st), 0);
    compact(st, 0);
    cr_assert_eq(tsagg_store_close(st), 0);
    unsigned hours, days, months;
    count_tiers(&hours, &days, &months);
    cr_assert_eq(months, 12, "%u month, %u day, %u hour files", months, days, hours);

    count_io c;
    memset(&c, 0, sizeof c);
    c.io = *tsagg_io_default();
    c.io.ctx = &c;
    c.io.open = count_open;
    c.io.pread = count_pread;
    tsagg_options o;
    tsagg_options_init(&o);
    o.io = &c.io;
    tsagg_store *ro = NULL;
    char err[512];
    cr_assert_eq(tsagg_store_open(tu_store, &o, &ro, err, sizeof err), 0, "%s", err);
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = target;
    q.from = month[0];
    q.to = month[12];
    q.bucket = TSAGG_BUCKET_MONTH;
    tsagg_metric mets[] = {{TSAGG_METRIC_COUNT, NULL}, {TSAGG_METRIC_USERS, NULL}};
    q.metrics = mets;
    q.nmetrics = 2;
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    cr_assert_eq(tsagg_query_run(ro, &q, res), 0, "%s", errmsg(ro));
    cr_assert_eq(tsagg_result_rows(res), 12);
    for (size_t k = 0; k < 12; k++) {
        int busy = k == BUSY_MONTH;
        cr_assert_eq(tsagg_result_values(res, 0)[k], PER_MONTH + (busy ? BUSY : 0), "month %zu",
                     k);
        cr_assert_eq(tsagg_result_values(res, 1)[k], PER_MONTH + (busy ? 5 : 0), "month %zu", k);
    }
    /* The month files' sizes, for the share of bytes read. */
    uint64_t total = 0;
    char dir[700];
    snprintf(dir, sizeof dir, "%s/parts", tu_store);
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char path[1400];
        struct stat sb;
        unsigned h;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (sscanf(de->d_name, "%*8dT%*2d-%uh-", &h) == 1 && h >= 28 * 24 &&
            stat(path, &sb) == 0)
            total += (uint64_t)sb.st_size;
    }
    closedir(d);
    uint64_t opens = atomic_load(&c.opens), reads = atomic_load(&c.reads),
             bytes = atomic_load(&c.bytes);
    cr_log_info("one merchant's year: %" PRIu64 " files opened, %" PRIu64 " reads, %" PRIu64
                " of %" PRIu64 " bytes",
                opens, reads, bytes, total);
    cr_assert_eq(opens, 12);
    cr_assert_leq(reads, 12 * 6, "%" PRIu64 " reads of 12 files", reads);
    cr_assert_leq(bytes * 10, total, "%" PRIu64 " of %" PRIu64 " bytes read", bytes, total);
    /* Warm: nothing read again. */
    atomic_store(&c.reads, 0);
    cr_assert_eq(tsagg_query_run(ro, &q, res), 0, "%s", errmsg(ro));
    cr_assert_eq(tsagg_result_values(res, 0)[BUSY_MONTH], PER_MONTH + BUSY);
    cr_assert_eq(atomic_load(&c.reads), 0);
    tsagg_result_free(res);
    cr_assert_eq(tsagg_store_close(ro), 0);
}

/* ---- a zone is read once per handle ---------------------------------------------------- */

typedef struct zone_io {
    tsagg_io io;
    _Atomic unsigned kolkata, berlin; /* opens of these zoneinfo files */
} zone_io;

static int zone_open(void *ctx, const char *path, int flags, unsigned mode)
{
    zone_io *z = ctx;
    size_t len = strlen(path);
    if (len >= 13 && !strcmp(path + len - 13, "/Asia/Kolkata"))
        atomic_fetch_add(&z->kolkata, 1);
    if (len >= 14 && !strcmp(path + len - 14, "/Europe/Berlin"))
        atomic_fetch_add(&z->berlin, 1);
    const tsagg_io *d = tsagg_io_default();
    return d->open(d->ctx, path, flags, mode);
}

/* Queries in a time zone read its zoneinfo file once per handle, however
 * many of them ask in it (a dashboard asks in the same few zones all the
 * time), and give the same answers each time. */
Test(query, a_zone_is_read_once_per_handle)
{
    const int64_t d0 = INT64_C(1759276800) * SEC; /* 2025-10-01T00:00Z */
    tsagg_store *st = open_writer(TSAGG_SYNC_NONE);
    tsagg_event evs[96];
    for (int i = 0; i < 96; i++)
        evs[i] = (tsagg_event){.ts = d0 + i * (HOUR / 2), .merchant = 3, .event = "page_view",
                               .event_len = 9, .user = (uint64_t)i % 11};
    cr_assert_eq(tsagg_append(st, evs, 96, NULL), 0, "%s", errmsg(st));
    cr_assert_eq(tsagg_flush(st), 0);
    compact(st, 0);
    cr_assert_eq(tsagg_store_close(st), 0);

    zone_io z;
    memset(&z, 0, sizeof z);
    z.io = *tsagg_io_default();
    z.io.ctx = &z;
    z.io.open = zone_open;
    tsagg_options o;
    tsagg_options_init(&o);
    o.io = &z.io;
    tsagg_store *ro = NULL;
    char err[512];
    cr_assert_eq(tsagg_store_open(tu_store, &o, &ro, err, sizeof err), 0, "%s", err);
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    static const char *const zones[] = {"Asia/Kolkata", "Europe/Berlin", "Asia/Kolkata",
                                        "Asia/Kolkata", "Europe/Berlin"};
    double first[2][8];
    size_t rows[2] = {0, 0};
    for (size_t k = 0; k < sizeof zones / sizeof zones[0]; k++) {
        tsagg_query q;
        tsagg_query_init(&q);
        q.merchant = 3;
        q.from = d0 - DAY;
        q.to = d0 + 3 * DAY;
        q.bucket = TSAGG_BUCKET_DAY;
        q.tz = zones[k];
        cr_assert_eq(tsagg_query_run(ro, &q, res), 0, "%s", errmsg(ro));
        int berlin = zones[k][0] == 'E';
        size_t n = tsagg_result_rows(res);
        cr_assert(n >= 3 && n <= 8, "%s: %zu rows", zones[k], n);
        if (k < 2)
            rows[berlin] = n;
        cr_assert_eq(n, rows[berlin], "%s", zones[k]);
        double total = 0;
        for (size_t b = 0; b < n; b++) {
            double v = tsagg_result_values(res, 0)[b];
            total += v;
            if (k < 2)
                first[berlin][b] = v;
            else
                cr_assert_eq(v, first[berlin][b], "%s, day %zu", zones[k], b);
        }
        cr_assert_eq(total, 96);
    }
    cr_assert_eq(atomic_load(&z.kolkata), 1);
    cr_assert_eq(atomic_load(&z.berlin), 1);
    tsagg_result_free(res);
    cr_assert_eq(tsagg_store_close(ro), 0);
}

/*
 * Small merchants share row groups: a merchant's rows inside one group are
 * read from the group's decoded column, which the handle keeps, so the
 * first query of its neighbour in the group reads no block of those
 * columns again (each merchant decoded the whole group for its own few
 * rows before). The answers are the rows' own.
 */
Test(query, small_merchants_of_a_row_group_share_its_decoded_columns)
{
    enum { NM = 60, PER = 25 };
    const int64_t t0 = INT64_C(1759276800) * SEC; /* 2025-10-01T00:00Z */
    tsagg_store *st = open_writer(TSAGG_SYNC_NONE);
    tsagg_event evs[NM * PER];
    size_t n = 0;
    for (uint64_t m = 1; m <= NM; m++)
        for (int i = 0; i < PER; i++)
            evs[n++] = (tsagg_event){.ts = t0 + (int64_t)(m * 7 + (uint64_t)i * 13) % 20 * HOUR +
                                           i * SEC,
                                     .merchant = m, .event = "page_view", .event_len = 9,
                                     .user = m * 1000 + (uint64_t)i % 4};
    cr_assert_eq(tsagg_append(st, evs, n, NULL), 0, "%s", errmsg(st));
    /* One event the next day, so that the first is sealed. */
    tsagg_event late = {.ts = t0 + DAY + HOUR, .merchant = 1, .event = "x", .event_len = 1};
    cr_assert_eq(tsagg_append(st, &late, 1, NULL), 0, "%s", errmsg(st));
    cr_assert_eq(tsagg_flush(st), 0);
    compact(st, 0);
    cr_assert_eq(tsagg_store_close(st), 0);

    count_io c;
    memset(&c, 0, sizeof c);
    c.io = *tsagg_io_default();
    c.io.ctx = &c;
    c.io.open = count_open;
    c.io.pread = count_pread;
    tsagg_options o;
    tsagg_options_init(&o);
    o.io = &c.io;
    tsagg_store *ro = NULL;
    char err[512];
    cr_assert_eq(tsagg_store_open(tu_store, &o, &ro, err, sizeof err), 0, "%s", err);
    tsagg_query q;
    tsagg_query_init(&q);
    q.from = t0;
    q.to = t0 + DAY;
    q.bucket = TSAGG_BUCKET_HOUR;
    tsagg_metric mets[] = {{TSAGG_METRIC_COUNT, NULL}, {TSAGG_METRIC_USERS, NULL}};
    q.metrics = mets;
    q.nmetrics = 2;
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    for (uint64_t m = NM / 2; m < NM / 2 + 3; m++) {
        atomic_store(&c.reads, 0);
        q.merchant = m;
        cr_assert_eq(tsagg_query_run(ro, &q, res), 0, "%s", errmsg(ro));
        uint64_t reads = atomic_load(&c.reads);
        /* The answer, hour by hour, against the events. */
        cr_assert_eq(tsagg_result_rows(res), 24);
        double count = 0, users = 0;
        for (size_t h = 0; h < 24; h++) {
            uint64_t want = 0, seen = 0; /* users: bit per user of the hour */
            for (size_t i = 0; i < n; i++)
                if (evs[i].merchant == m && (evs[i].ts - t0) / HOUR == (int64_t)h) {
                    want++;
                    seen |= UINT64_C(1) << (evs[i].user % 1000);
                }
            cr_assert_eq(tsagg_result_values(res, 0)[h], (double)want, "merchant %" PRIu64
                         " hour %zu", m, h);
            cr_assert_eq(tsagg_result_values(res, 1)[h], (double)__builtin_popcountll(seen),
                         "merchant %" PRIu64 " hour %zu", m, h);
            count += tsagg_result_values(res, 0)[h];
            users += tsagg_result_values(res, 1)[h];
        }
        cr_assert_eq(count, PER);
        cr_log_info("merchant %" PRIu64 ": %" PRIu64 " reads", m, reads);
        if (m > NM / 2)
            cr_assert_eq(reads, 0, "merchant %" PRIu64 ": %" PRIu64 " reads after its neighbour's "
                         "query", m, reads);
        else
            cr_assert_gt(reads, 0);
    }
    tsagg_result_free(res);
    cr_assert_eq(tsagg_store_close(ro), 0);
}

/* ---- freshness -------------------------------------------------------------------------- */

static double count_of(tsagg_store *st, uint64_t merchant, int64_t from, int64_t to, uint32_t flags)
{
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = merchant;
    q.from = from;
    q.to = to;
    q.bucket = TSAGG_BUCKET_TOTAL;
    q.flags = flags;
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    cr_assert_eq(tsagg_query_run(st, &q, res), 0, "%s", errmsg(st));
    double c = tsagg_result_values(res, 0)[0];
    tsagg_result_free(res);
    return c;
}

/* An acknowledged event is in the next query's answer, compacted or not,
 * and once only. */
Test(query, freshness)
{
    tsagg_store *st = open_writer(TSAGG_SYNC_BATCH);
    tsagg_store *ro = open_store(0, TSAGG_SYNC_BATCH);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t t = (int64_t)now.tv_sec * SEC;
    for (int i = 1; i <= 5; i++) {
        tsagg_event ev = {.ts = t + i, .merchant = 9, .event = "click", .event_len = 5,
                          .flags = TSAGG_EVENT_HAS_ID, .id = (uint64_t)i};
        cr_assert_eq(tsagg_append(st, &ev, 1, NULL), 0);
        cr_assert_eq(count_of(st, 9, t - HOUR, t + HOUR, 0), i);
        cr_assert_eq(count_of(ro, 9, t - HOUR, t + HOUR, 0), i, "read-only handle");
        cr_assert_eq(count_of(st, 9, t - HOUR, t + HOUR, TSAGG_QUERY_NO_TAIL), i > 3 ? 3 : 0);
        if (i == 3)
            compact(st, 0);
    }
    cr_assert_eq(count_of(st, 9, t - HOUR, t + HOUR, TSAGG_QUERY_NO_TAIL), 3);
    cr_assert_eq(count_of(ro, 9, t - HOUR, t + HOUR, TSAGG_QUERY_NO_TAIL), 3);
    compact(st, 0);
    cr_assert_eq(count_of(st, 9, t - HOUR, t + HOUR, TSAGG_QUERY_NO_TAIL), 5);
    cr_assert_eq(count_of(st, 9, t - HOUR, t + HOUR, 0), 5);
    cr_assert_eq(count_of(ro, 9, t - HOUR, t + HOUR, 0), 5);
    cr_assert_eq(count_of(st, 9, t + 3, t + 5, 0), 2, "[from, to) on microseconds");
    cr_assert_eq(tsagg_store_close(ro), 0);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- an empty store ---------------------------------------------------------------------- */

Test(query, empty_store)
{
    tsagg_store *st = open_writer(TSAGG_SYNC_BATCH);
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = 1;
    q.from = W0 + 30 * SEC;
    q.to = W0 + 3 * HOUR;
    tsagg_metric mets[] = {{TSAGG_METRIC_COUNT, NULL}, {TSAGG_METRIC_AVG, "value"},
                           {TSAGG_METRIC_MIN, "value"}, {TSAGG_METRIC_USERS, NULL}};
    q.metrics = mets;
    q.nmetrics = 4;
    cr_assert_eq(tsagg_query_run(st, &q, res), 0, "%s", errmsg(st));
    cr_assert_eq(tsagg_result_rows(res), 3);
    cr_assert_eq(tsagg_result_times(res)[0], W0);
    for (size_t r = 0; r < 3; r++) {
        cr_assert_eq(tsagg_result_values(res, 0)[r], 0);
        cr_assert(isnan(tsagg_result_values(res, 1)[r]));
        cr_assert(isnan(tsagg_result_values(res, 2)[r]));
        cr_assert_eq(tsagg_result_values(res, 3)[r], 0);
        cr_assert_str_eq(tsagg_result_group(res, r), "");
    }
    cr_assert_null(tsagg_result_group(res, 3));
    cr_assert_eq(tsagg_result_approximate(res), 0);
    q.group_by = "page";
    cr_assert_eq(tsagg_query_run(st, &q, res), 0);
    cr_assert_eq(tsagg_result_buckets(res), 3);
    cr_assert_eq(tsagg_result_groups(res), 0);
    cr_assert_eq(tsagg_result_rows(res), 0);
    tsagg_result_free(res);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- many groups ----------------------------------------------------------------------- */

/* Thousands of group keys (the accumulators and the key table grow many
 * times), top N among them, and keys that differ after a control byte
 * (a NUL byte is refused at append: test_log.c). */
Test(query, many_groups)
{
    enum { NPAGES = 3000, HOURS = 30 };
    tsagg_store *st = open_writer(TSAGG_SYNC_NONE);
    const int64_t t0 = W0;
    char page[32];
    tsagg_attr attrs[2];
    uint64_t id = 0;
    /* Page k gets k % 7 + 1 events, spread over the hours, value k. */
    for (int k = 0; k < NPAGES; k++) {
        snprintf(page, sizeof page, "/x/%04d", k);
        for (int i = 0; i <= k % 7; i++) {
            attrs[0] = (tsagg_attr){.key = "page", .key_len = 4, .type = TSAGG_STR,
                                    .v.s = {page, (uint32_t)strlen(page)}};
            attrs[1] = (tsagg_attr){.key = "value", .key_len = 5, .type = TSAGG_INT, .v.i = k};
            tsagg_event ev = {.ts = t0 + (int64_t)((k * 7 + i) % HOURS) * HOUR + k, .merchant = 5,
                              .event = "page_view", .event_len = 9, .user = (uint64_t)k % 500,
                              .flags = TSAGG_EVENT_HAS_ID, .id = ++id, .attrs = attrs, .nattrs = 2};
            cr_assert_eq(tsagg_append(st, &ev, 1, NULL), 0);
        }
    }
    const char nul1[] = "a\1b", nul2[] = "a\1c";
    for (int i = 0; i < 3; i++) { /* a\1b twice, a\1c once */
        attrs[0] = (tsagg_attr){.key = "referrer", .key_len = 8, .type = TSAGG_STR,
                                .v.s = {i == 2 ? nul2 : nul1, 3}};
        tsagg_event ev = {.ts = t0 + i, .merchant = 6, .event = "e", .event_len = 1,
                          .attrs = attrs, .nattrs = 1};
        cr_assert_eq(tsagg_append(st, &ev, 1, NULL), 0);
    }
    cr_assert_eq(tsagg_flush(st), 0);
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    tsagg_metric mets[] = {{TSAGG_METRIC_COUNT, NULL}, {TSAGG_METRIC_SUM, "value"},
                           {TSAGG_METRIC_USERS, NULL}};
    for (int round = 0; round < 3; round++) {
        for (int exact = 0; exact < 2; exact++) {
            tsagg_query q;
            tsagg_query_init(&q);
            q.merchant = 5;
            q.from = t0;
            q.to = t0 + HOURS * HOUR;
            q.bucket = TSAGG_BUCKET_TOTAL;
            q.metrics = mets;
            q.nmetrics = 3;
            q.group_by = "page";
            q.flags = exact ? TSAGG_QUERY_EXACT : 0;
            cr_assert_eq(tsagg_query_run(st, &q, res), 0, "%s", errmsg(st));
            cr_assert_eq(tsagg_result_groups(res), NPAGES);
            /* Counts 7 (k % 7 == 6) first, by key; then 6... */
            size_t row = 0;
            for (int c = 7; c >= 1; c--) {
                for (int k = 0; k < NPAGES; k++) {
                    if (k % 7 + 1 != c)
                        continue;
                    snprintf(page, sizeof page, "/x/%04d", k);
                    cr_assert_str_eq(tsagg_result_group(res, row), page, "row %zu", row);
                    cr_assert_eq(tsagg_result_values(res, 0)[row], c);
                    cr_assert_eq(tsagg_result_values(res, 1)[row], (double)k * c);
                    /* Page k's one user is k % 500; user 0 is absent. */
                    cr_assert_eq(tsagg_result_values(res, 2)[row], k % 500 ? 1 : 0);
                    row++;
                }
            }
            /* Hourly, top 5 by sum (k x its count). */
            q.bucket = TSAGG_BUCKET_HOUR;
            q.metrics = mets + 1;
            q.nmetrics = 2;
            q.top = 5;
            cr_assert_eq(tsagg_query_run(st, &q, res), 0, "%s", errmsg(st));
            cr_assert_eq(tsagg_result_groups(res), 5);
            cr_assert_eq(tsagg_result_rows(res), 5 * HOURS);
            int want[5];
            for (int j = 0; j < 5; j++) {
                want[j] = -1;
                for (int k = 0; k < NPAGES; k++) {
                    int taken = 0;
                    for (int i = 0; i < j; i++)
                        taken |= want[i] == k;
                    if (!taken && (want[j] < 0 || k * (k % 7 + 1) > want[j] * (want[j] % 7 + 1)))
                        want[j] = k;
                }
            }
            for (int j = 0; j < 5; j++) {
                snprintf(page, sizeof page, "/x/%04d", want[j]);
                cr_assert_str_eq(tsagg_result_group(res, (size_t)j), page);
                double total = 0;
                for (size_t b = 0; b < HOURS; b++)
                    total += tsagg_result_values(res, 0)[b * 5 + (size_t)j];
                cr_assert_eq(total, (double)want[j] * (want[j] % 7 + 1));
            }
            /* Keys that differ after a control byte are two groups. */
            tsagg_query n;
            tsagg_query_init(&n);
            n.merchant = 6;
            n.from = t0;
            n.to = t0 + HOUR;
            n.bucket = TSAGG_BUCKET_TOTAL;
            n.group_by = "referrer";
            n.flags = q.flags;
            cr_assert_eq(tsagg_query_run(st, &n, res), 0);
            cr_assert_eq(tsagg_result_groups(res), 2, "round %d: %zu groups", round,
                         tsagg_result_groups(res));
            cr_assert_eq(tsagg_result_values(res, 0)[0], 2);
            cr_assert_eq(tsagg_result_values(res, 0)[1], 1);
        }
        if (round == 0)
            compact(st, 2000); /* part in partitions, part in the tail */
        else
            compact(st, 0);
    }
    tsagg_result_free(res);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- dictionary codes of every width ------------------------------------------------------ */

/* A busy merchant's rows are read from decoded row groups, which keep
 * dictionary codes in 1, 2 or 4 bytes as the file's dictionary allows:
 * country has 255 values and "" (codes up to 255, 1 byte), page 300 (2
 * bytes), referrer 65,536 (4 bytes). Filters and groups on each width, for
 * one merchant and for all, against counts computed here. */
#define WN 70000
#define WCOUNTRY(i) ((i) % 255)
#define WPAGE(i) ((i) % 300)
#define WREF(i) ((i) % 65536)

/* Run q (count per group, bucket total) and compare with want[key] for
 * the keys printed with fmt; every group of the result is one of them. */
static void check_groups(tsagg_store *st, tsagg_query *q, tsagg_result *res, const char *fmt,
                         const unsigned *want, unsigned nkeys)
{
    cr_assert_eq(tsagg_query_run(st, q, res), 0, "%s", errmsg(st));
    size_t groups = 0;
    for (unsigned k = 0; k < nkeys; k++)
        groups += want[k] > 0;
    cr_assert_eq(tsagg_result_groups(res), groups, "%zu groups, want %zu",
                 tsagg_result_groups(res), groups);
    for (size_t row = 0; row < groups; row++) {
        const char *g = tsagg_result_group(res, row);
        unsigned k = 0;
        char key[32];
        for (; k < nkeys; k++) {
            snprintf(key, sizeof key, fmt, k);
            if (strcmp(key, g) == 0)
                break;
        }
        cr_assert_lt(k, nkeys, "unexpected group '%s'", g);
        cr_assert_eq(tsagg_result_values(res, 0)[row], want[k], "group %s: %g, want %u", g,
                     tsagg_result_values(res, 0)[row], want[k]);
    }
}

Test(query, code_widths)
{
    tsagg_store *st = open_writer(TSAGG_SYNC_NONE);
    const int64_t t0 = W0;
    char country[16], page[16], ref[16];
    tsagg_attr attrs[3];
    for (unsigned i = 0; i < WN; i++) {
        snprintf(country, sizeof country, "c%03u", WCOUNTRY(i));
        snprintf(page, sizeof page, "/p%03u", WPAGE(i));
        snprintf(ref, sizeof ref, "r%05u", WREF(i));
        attrs[0] = (tsagg_attr){.key = "country", .key_len = 7, .type = TSAGG_STR,
                                .v.s = {country, (uint32_t)strlen(country)}};
        attrs[1] = (tsagg_attr){.key = "page", .key_len = 4, .type = TSAGG_STR,
                                .v.s = {page, (uint32_t)strlen(page)}};
        attrs[2] = (tsagg_attr){.key = "referrer", .key_len = 8, .type = TSAGG_STR,
                                .v.s = {ref, (uint32_t)strlen(ref)}};
        /* Ten hours of 7,000 rows (each with a rollup and hour segments);
         * every 100th event of another merchant. */
        tsagg_event ev = {.ts = t0 + (int64_t)i * (10 * HOUR / WN),
                          .merchant = i % 100 == 0 ? 8 : 7, .event = "page_view",
                          .event_len = 9, .user = i % 977 + 1, .attrs = attrs, .nattrs = 3};
        cr_assert_eq(tsagg_append(st, &ev, 1, NULL), 0);
    }
    cr_assert_eq(tsagg_flush(st), 0);
    tsagg_compact_stats cs = compact(st, 0);
    cr_assert_eq(cs.events_read, WN);
    static unsigned want[65536];
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    const char *c3[] = {"c003"}, *p7[] = {"/p007"}, *refs[] = {"r00005", "r65535", "r00300"};
    const char *c255[] = {"c254", "c000"};
    tsagg_filter f;
    tsagg_query q;
    for (int all = 0; all < 2; all++) {
        tsagg_query_init(&q);
        q.merchant = 7;
        q.flags = TSAGG_QUERY_NO_TAIL | (all ? TSAGG_QUERY_ALL_MERCHANTS : 0);
        q.from = t0;
        q.to = t0 + 10 * HOUR;
        q.bucket = TSAGG_BUCKET_TOTAL;
        q.filters = &f;
        q.nfilters = 1;
        /* A 1-byte filter, 2-byte groups. */
        f = (tsagg_filter){"country", c3, 1};
        q.group_by = "page";
        memset(want, 0, sizeof want);
        for (unsigned i = 0; i < WN; i++)
            want[WPAGE(i)] += WCOUNTRY(i) == 3 && (all || i % 100 != 0);
        check_groups(st, &q, res, "/p%03u", want, 300);
        /* A 2-byte filter, 4-byte groups. */
        f = (tsagg_filter){"page", p7, 1};
        q.group_by = "referrer";
        memset(want, 0, sizeof want);
        for (unsigned i = 0; i < WN; i++)
            want[WREF(i)] += WPAGE(i) == 7 && (all || i % 100 != 0);
        check_groups(st, &q, res, "r%05u", want, 65536);
        /* A 4-byte filter, 1-byte groups. */
        f = (tsagg_filter){"referrer", refs, 3};
        q.group_by = "country";
        memset(want, 0, sizeof want);
        for (unsigned i = 0; i < WN; i++)
            want[WCOUNTRY(i)] += (WREF(i) == 5 || WREF(i) == 65535 || WREF(i) == 300) &&
                                 (all || i % 100 != 0);
        check_groups(st, &q, res, "c%03u", want, 255);
        /* The highest 1-byte code and the lowest, 1-byte groups. */
        f = (tsagg_filter){"country", c255, 2};
        memset(want, 0, sizeof want);
        for (unsigned i = 0; i < WN; i++)
            want[WCOUNTRY(i)] +=
                (WCOUNTRY(i) == 254 || WCOUNTRY(i) == 0) && (all || i % 100 != 0);
        check_groups(st, &q, res, "c%03u", want, 255);
    }
    tsagg_result_free(res);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- rollup summaries with and without sketches ------------------------------------------ */

/* Counts and sums cache rollup summaries without sketches; a later
 * question of unique users on the same handle must get the sketches (the
 * same answer as a handle that never asked for counts). */
Test(query, rollup_sketches_after_counts)
{
    enum { N = 6000, HOURS = 3 };
    tsagg_store *st = open_writer(TSAGG_SYNC_NONE);
    const int64_t t0 = W0;
    for (unsigned i = 0; i < N; i++) {
        tsagg_event ev = {.ts = t0 + (int64_t)i * (HOURS * HOUR / N), .merchant = 3,
                          .event = i % 3 ? "page_view" : "click", .event_len = i % 3 ? 9 : 5,
                          .user = i % 701 + 1, .session = i % 1301 + 1};
        cr_assert_eq(tsagg_append(st, &ev, 1, NULL), 0);
    }
    cr_assert_eq(tsagg_flush(st), 0);
    compact(st, 0);
    tsagg_result *counts, *fresh, *after;
    cr_assert_eq(tsagg_result_create(&counts), 0);
    cr_assert_eq(tsagg_result_create(&fresh), 0);
    cr_assert_eq(tsagg_result_create(&after), 0);
    tsagg_metric cnt = {TSAGG_METRIC_COUNT, NULL};
    tsagg_metric users[] = {{TSAGG_METRIC_USERS, NULL}, {TSAGG_METRIC_SESSIONS, NULL}};
    for (int grouped = 0; grouped < 2; grouped++) {
        tsagg_query q;
        tsagg_query_init(&q);
        q.merchant = 3;
        q.flags = TSAGG_QUERY_NO_TAIL;
        q.from = t0;
        q.to = t0 + HOURS * HOUR;
        q.bucket = TSAGG_BUCKET_HOUR;
        q.group_by = grouped ? "event" : NULL;
        /* A new handle: users first. */
        tsagg_store *ro = open_store(0, TSAGG_SYNC_BATCH);
        q.metrics = users;
        q.nmetrics = 2;
        cr_assert_eq(tsagg_query_run(ro, &q, fresh), 0, "%s", errmsg(ro));
        cr_assert_eq(tsagg_store_close(ro), 0);
        /* Another: counts, then users. */
        ro = open_store(0, TSAGG_SYNC_BATCH);
        q.metrics = &cnt;
        q.nmetrics = 1;
        cr_assert_eq(tsagg_query_run(ro, &q, counts), 0, "%s", errmsg(ro));
        q.metrics = users;
        q.nmetrics = 2;
        cr_assert_eq(tsagg_query_run(ro, &q, after), 0, "%s", errmsg(ro));
        cr_assert_eq(tsagg_store_close(ro), 0);
        size_t rows = tsagg_result_rows(fresh);
        cr_assert_eq(rows, (size_t)HOURS * (grouped ? 2 : 1));
        cr_assert_eq(tsagg_result_rows(after), rows);
        double total = 0;
        for (size_t r = 0; r < rows; r++) {
            total += tsagg_result_values(counts, 0)[r];
            for (size_t m = 0; m < 2; m++) {
                double v = tsagg_result_values(fresh, m)[r];
                cr_assert_gt(v, 0, "row %zu metric %zu", r, m);
                cr_assert_eq(tsagg_result_values(after, m)[r], v, "row %zu metric %zu: %g, want %g",
                             r, m, tsagg_result_values(after, m)[r], v);
            }
        }
        cr_assert_eq(total, N);
    }
    tsagg_result_free(counts);
    tsagg_result_free(fresh);
    tsagg_result_free(after);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- a merge removes files under a reader of another handle ------------------------------- */

/* The read-only handle's I/O table: before opening a partition file, let the
 * writer (same process, another handle, so another snapshot catalog) replace
 * it: late events for the hour, a compaction and a merge, `rounds` times. */
typedef struct race_io {
    tsagg_io io;
    tsagg_store *writer;
    int rounds;
    int triggered;
    uint64_t next_id;
} race_io;

static void late_file_for(tsagg_store *st, int64_t hour, uint64_t *id)
{
    tsagg_event ev = {.ts = hour + 10 * SEC, .merchant = 2, .event = "late", .event_len = 4,
                      .flags = TSAGG_EVENT_HAS_ID, .id = ++*id};
    cr_assert_eq(tsagg_append(st, &ev, 1, NULL), 0);
    cr_assert_eq(tsagg_flush(st), 0);
    compact(st, 0);
}

static int race_open(void *ctx, const char *path, int flags, unsigned mode)
{
    race_io *r = ctx;
    size_t len = strlen(path);
    if (r->rounds > 0 && len > 6 && !strcmp(path + len - 6, ".tpart")) {
        r->rounds--;
        r->triggered++;
        late_file_for(r->writer, W0, &r->next_id);
        merge(r->writer);
    }
    const tsagg_io *d = tsagg_io_default();
    return d->open(d->ctx, path, flags, mode);
}

Test(query, files_replaced_under_another_handle)
{
    tsagg_store *st = open_writer(TSAGG_SYNC_NONE);
    race_io r = {.writer = st, .next_id = 1000};
    r.io = *tsagg_io_default();
    r.io.ctx = &r;
    r.io.open = race_open;
    for (int h = 0; h < 3; h++) /* hours W0, W0+1h, W0+2h: one file each */
        for (int i = 0; i < 10; i++) {
            tsagg_event ev = {.ts = W0 + h * HOUR + i * SEC, .merchant = 2, .event = "e",
                              .event_len = 1, .flags = TSAGG_EVENT_HAS_ID,
                              .id = (uint64_t)(h * 100 + i + 1)};
            cr_assert_eq(tsagg_append(st, &ev, 1, NULL), 0);
        }
    cr_assert_eq(tsagg_flush(st), 0);
    compact(st, 0);
    late_file_for(st, W0, &r.next_id); /* two files for hour W0 */

    tsagg_options o;
    tsagg_options_init(&o);
    o.io = &r.io;
    tsagg_store *ro = NULL;
    char err[512];
    cr_assert_eq(tsagg_store_open(tu_store, &o, &ro, err, sizeof err), 0, "%s", err);
    for (int rounds = 1; rounds <= 7; rounds += 2) {
        r.rounds = rounds;
        r.triggered = 0;
        /* Every round adds one late event (and merges): the answer counts
         * them all, whichever snapshot finally answers. */
        double before = count_of(st, 2, W0, W0 + 3 * HOUR, 0);
        double got = count_of(ro, 2, W0, W0 + 3 * HOUR, 0);
        cr_assert_eq(r.triggered, rounds);
        cr_assert_eq(got, before + rounds, "%d rounds of replacement: %.0f events, want %.0f",
                     rounds, got, before + rounds);
        /* And the writer agrees. */
        cr_assert_eq(count_of(st, 2, W0, W0 + 3 * HOUR, 0), got);
        /* Make the hour two files again for the next round. */
        late_file_for(st, W0, &r.next_id);
        /* Drop what the reader has open, so that it opens files again. */
        cr_assert_eq(tsagg_store_close(ro), 0);
        cr_assert_eq(tsagg_store_open(tu_store, &o, &ro, err, sizeof err), 0, "%s", err);
    }
    /* Replaced on every attempt: an error, never a wrong answer. */
    r.rounds = 1000;
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = 2;
    q.from = W0;
    q.to = W0 + 3 * HOUR;
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    int rc = tsagg_query_run(ro, &q, res);
    cr_assert_eq(rc, -ENOENT, "%s", tsagg_strerror(rc));
    cr_assert_eq(tsagg_result_rows(res), 0);
    cr_assert_geq(r.triggered, 2);
    tsagg_result_free(res);
    cr_assert_eq(tsagg_store_close(ro), 0);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- a partition file that is not the one the manifest lists ------------------------------ */

/* The path of the only partition file whose name starts with prefix
 * ("20261023T21"), in out. */
static void part_file(const char *prefix, char *out, size_t len)
{
    char dir[700];
    snprintf(dir, sizeof dir, "%s/parts", tu_store);
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int found = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
            continue;
        cr_assert_eq(found, 0, "two files for %s", prefix);
        snprintf(out, len, "%s/%s", dir, de->d_name);
        found = 1;
    }
    closedir(d);
    cr_assert(found, "no partition file %s*", prefix);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    cr_assert(in && out);
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        cr_assert_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    cr_assert_eq(fclose(out), 0);
}

/* One hour's file copied over another's (a careless restore) reads as a
 * valid file: the query must refuse it, naming it, rather than count the
 * other hour twice and this one not at all. */
Test(query, partition_file_not_the_listed_one)
{
    tsagg_store *st = open_writer(TSAGG_SYNC_BATCH);
    /* 5 events at 21:xx, 10 at 22:xx (W0 is 20:00Z). */
    tsagg_event evs[15];
    for (int i = 0; i < 15; i++)
        evs[i] = (tsagg_event){.ts = W0 + (i < 5 ? 1 : 2) * HOUR + i * SEC, .merchant = 4,
                               .event = "e", .event_len = 1};
    cr_assert_eq(tsagg_append(st, evs, 15, NULL), 0);
    compact(st, 0);
    cr_assert_eq(count_of(st, 4, W0, W0 + 3 * HOUR, 0), 15);
    cr_assert_eq(tsagg_store_close(st), 0);

    char h21[1024], h22[1024];
    part_file("20261023T21", h21, sizeof h21);
    part_file("20261023T22", h22, sizeof h22);
    copy_file(h22, h21);

    tsagg_store *ro = open_store(0, TSAGG_SYNC_BATCH);
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = 4;
    q.from = W0;
    q.to = W0 + 3 * HOUR;
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    int rc = tsagg_query_run(ro, &q, res);
    cr_assert_eq(rc, TSAGG_ECORRUPT, "got %s: %.0f events in hour 21", tsagg_strerror(rc),
                 tsagg_result_rows(res) ? tsagg_result_values(res, 0)[1] : -1.0);
    const char *msg = errmsg(ro);
    cr_assert(strstr(msg, strrchr(h21, '/') + 1), "message names the file: %s", msg);
    cr_assert(strstr(msg, "span 2026-10-23T22:00Z") && strstr(msg, "lists (span 2026-10-23T21:00Z"),
              "message says which hour each is: %s", msg);
    cr_assert_eq(tsagg_result_rows(res), 0);
    /* A query that does not reach the hour still answers. */
    q.from = W0 + 2 * HOUR;
    cr_assert_eq(tsagg_query_run(ro, &q, res), 0, "%s", errmsg(ro));
    cr_assert_eq(tsagg_result_values(res, 0)[0], 10);
    tsagg_result_free(res);
    cr_assert_eq(tsagg_store_close(ro), 0);
}

/* ---- what a query may see: durable events, each within a second ----------------------------- */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static tsagg_store *open_writer_io(unsigned sync, uint32_t frame_bytes, const tsagg_io *io)
{
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.sync_mode = sync;
    o.io_backend = TSAGG_IO_PWRITE;
    o.frame_bytes = frame_bytes;
    if (io)
        o.io = io;
    tsagg_store *st = NULL;
    char err[512] = "";
    int rc = tsagg_store_open(tu_store, &o, &st, err, sizeof err);
    cr_assert_eq(rc, 0, "open: %s (%s)", tsagg_strerror(rc), err);
    return st;
}

/* Events of merchant 8 at W0 + i seconds, ids from first_id, padded so that
 * a few fill a 4 KiB frame. */
static void append_padded(tsagg_store *st, int n, uint64_t first_id)
{
    char page[300];
    memset(page, 'p', sizeof page);
    for (int i = 0; i < n; i++) {
        tsagg_attr a = {.key = "page", .key_len = 4, .type = TSAGG_STR,
                        .v.s = {page, (uint32_t)sizeof page}};
        tsagg_event ev = {.ts = W0 + i * SEC, .merchant = 8, .event = "e", .event_len = 1,
                          .flags = TSAGG_EVENT_HAS_ID, .id = first_id + (uint64_t)i,
                          .attrs = &a, .nattrs = 1};
        cr_assert_eq(tsagg_append(st, &ev, 1, NULL), 0);
    }
}

/*
 * TSAGG_SYNC_NONE: frames that fill are written out but not durable, and
 * the writer's handle must not count them (a crash could take them back);
 * then, with nothing more appended and no flush, every acknowledged event
 * is durable and counted by both handles within a second.
 */
Test(query, sync_none_shows_durable_events_within_a_second)
{
    tsagg_store *st = open_writer_io(TSAGG_SYNC_NONE, 4096, NULL);
    tsagg_store *ro = open_store(0, TSAGG_SYNC_BATCH);
    append_padded(st, 100, 1); /* about 8 frames: most written, not durable */
    /* The promise runs from the acknowledgement of the last event. */
    double t0 = now_s();
    uint64_t d0 = tsagg_durable_seq(st);
    double c = count_of(st, 8, W0, W0 + HOUR, 0);
    uint64_t d1 = tsagg_durable_seq(st);
    cr_assert(c >= (double)d0 && c <= (double)d1,
              "the writer's handle counted %.0f events, %" PRIu64 "..%" PRIu64 " durable", c,
              d0, d1);
    double seen = -1, seen_ro = -1, t;
    for (t = now_s(); t - t0 < 3.0; t = now_s()) {
        seen = count_of(st, 8, W0, W0 + HOUR, 0);
        seen_ro = count_of(ro, 8, W0, W0 + HOUR, 0);
        if (seen == 100 && seen_ro == 100)
            break;
        usleep(20000);
    }
    cr_assert(seen == 100 && seen_ro == 100,
              "after %.1f s: %.0f events counted on the writer's handle, %.0f on a read-only "
              "one, of 100 acknowledged",
              t - t0, seen, seen_ro);
    /* One second, and a quarter more for a flush thread that a loaded
     * machine wakes late. */
    cr_assert_lt(t - t0, 1.25, "counted only after %.2f s", t - t0);
    cr_assert_eq(tsagg_durable_seq(st), 100);
    cr_assert_eq(tsagg_store_close(ro), 0);
    cr_assert_eq(tsagg_store_close(st), 0);
}

typedef struct appender {
    tsagg_store *st;
    int rc;
} appender;

static void *append_one(void *arg)
{
    appender *a = arg;
    tsagg_event ev = {.ts = W0 + 30 * SEC, .merchant = 8, .event = "e", .event_len = 1};
    a->rc = tsagg_append(a->st, &ev, 1, NULL);
    return NULL;
}

/*
 * TSAGG_SYNC_BATCH: an event whose write reached the file but whose fsync
 * has not returned is not durable (its append has not returned; a failed
 * fsync cuts it off again): the writer's handle must not count it yet.
 */
Test(query, sync_batch_counts_no_event_before_it_is_durable)
{
    faultio fio;
    faultio_init(&fio, NULL);
    tsagg_store *st = open_writer_io(TSAGG_SYNC_BATCH, 1u << 20, faultio_table(&fio));
    append_padded(st, 1, 1); /* the segment exists: the next append is a write + fsync */
    cr_assert_eq(count_of(st, 8, W0, W0 + HOUR, 0), 1);
    faultio_delay(&fio, FIO_FSYNC, 400000);
    uint64_t fsyncs = faultio_calls(&fio, FIO_FSYNC);
    appender a = {.st = st};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, append_one, &a), 0);
    /* The fsync has started, so the write before it is in the file. */
    while (faultio_calls(&fio, FIO_FSYNC) == fsyncs)
        usleep(1000);
    double during = count_of(st, 8, W0, W0 + HOUR, 0);
    uint64_t durable = tsagg_durable_seq(st);
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(a.rc, 0);
    cr_assert_eq(during, 1, "counted %.0f events while the second was being made durable "
                            "(durable: %" PRIu64 ")", during, durable);
    faultio_delay(&fio, FIO_FSYNC, 0);
    cr_assert_eq(count_of(st, 8, W0, W0 + HOUR, 0), 2, "counted once its append returned");
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- many distinct values: memory follows the answer ------------------------------------- */

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#ifndef UNDER_ASAN
/* Address space the process maps now (/proc/self/statm), in bytes. */
static uint64_t mapped_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long pages = 0;
    if (f) {
        if (fscanf(f, "%llu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
}
#endif

/*
 * One hostile hour holds 150,000 distinct event names and pages; two
 * popular events are spread over a week. A minute series of the week
 * (10,080 buckets) grouped by event or page, top 2, must rank the groups
 * on their totals and keep only two series: with the address space capped
 * 512 MiB above what the process maps, where a series per distinct value
 * would need 12 GB. Without a top N, the answer itself passes
 * TSAGG_QUERY_MAX_ROWS: a usage error that gives the numbers.
 */
Test(query, many_distinct_values_in_bounded_memory)
{
    enum { HOSTILE = 150000, NBIG = 300, NSECOND = 200 };
    tsagg_store *st = open_writer(TSAGG_SYNC_NONE);
    const int64_t from = W0 - 2 * DAY, to = W0 + 5 * DAY; /* 10,080 minutes */
    char name[32];
    tsagg_attr a;
    uint64_t id = 0;
    for (int i = 0; i < HOSTILE; i++) {
        int n = snprintf(name, sizeof name, "h%06d", i);
        a = (tsagg_attr){.key = "page", .key_len = 4, .type = TSAGG_STR,
                         .v.s = {name, (uint32_t)n}};
        tsagg_event ev = {.ts = W0 + (i % 3600) * SEC, .merchant = 3, .event = name,
                          .event_len = (uint32_t)n, .user = (uint64_t)i,
                          .flags = TSAGG_EVENT_HAS_ID, .id = ++id, .attrs = &a, .nattrs = 1};
        cr_assert_eq(tsagg_append(st, &ev, 1, NULL), 0);
    }
    /* The popular ones: "big" every 30 min from `from`, "second" every 50,
     * with pages "/big" and "/second"; half compacted, half in the tail. */
    for (int half = 0; half < 2; half++) {
        for (int i = half; i < NBIG + NSECOND; i += 2) {
            int big = i < NBIG;
            const char *ev_name = big ? "big" : "second", *page = big ? "/big" : "/second";
            int64_t ts = from + (big ? i * 30 : (i - NBIG) * 50) * MINUTE + 7 * SEC;
            a = (tsagg_attr){.key = "page", .key_len = 4, .type = TSAGG_STR,
                             .v.s = {page, (uint32_t)strlen(page)}};
            tsagg_event ev = {.ts = ts, .merchant = 3, .event = ev_name,
                              .event_len = (uint32_t)strlen(ev_name), .user = (uint64_t)i % 7 + 1,
                              .flags = TSAGG_EVENT_HAS_ID, .id = ++id, .attrs = &a, .nattrs = 1};
            cr_assert_eq(tsagg_append(st, &ev, 1, NULL), 0);
        }
        cr_assert_eq(tsagg_flush(st), 0);
        if (half == 0)
            compact(st, 0);
    }

#ifdef UNDER_ASAN
    cr_log_info("AddressSanitizer maps terabytes of shadow memory: the address-space cap "
                "is left out here; the plain build applies it");
#else
    struct rlimit lim = {.rlim_cur = mapped_bytes() + (512u << 20),
                         .rlim_max = RLIM_INFINITY};
    cr_assert_eq(setrlimit(RLIMIT_AS, &lim), 0);
#endif
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    tsagg_metric mets[] = {{TSAGG_METRIC_COUNT, NULL}, {TSAGG_METRIC_USERS, NULL}};
    const char *fields[] = {"event", "page"};
    for (int f = 0; f < 2; f++) {
        tsagg_query q;
        tsagg_query_init(&q);
        q.merchant = 3;
        q.from = from;
        q.to = to;
        q.bucket = TSAGG_BUCKET_MINUTE;
        q.group_by = fields[f];
        q.metrics = mets;
        q.nmetrics = 2;
        q.top = 2;
        int rc = tsagg_query_run(st, &q, res);
        cr_assert_eq(rc, 0, "group by %s, top 2: %s (%s)", fields[f], tsagg_strerror(rc),
                     errmsg(st));
        cr_assert_eq(tsagg_result_buckets(res), 10080);
        cr_assert_eq(tsagg_result_groups(res), 2);
        const char *want0 = f ? "/big" : "big", *want1 = f ? "/second" : "second";
        cr_assert_str_eq(tsagg_result_group(res, 0), want0);
        cr_assert_str_eq(tsagg_result_group(res, 1), want1);
        double total[2] = {0, 0};
        for (size_t b = 0; b < 10080; b++) {
            for (size_t g = 0; g < 2; g++) {
                double c = tsagg_result_values(res, 0)[b * 2 + g];
                int64_t minute = (int64_t)b;
                int want = g == 0 ? minute % 30 == 0 && minute / 30 < NBIG
                                  : minute % 50 == 0 && minute / 50 < NSECOND;
                cr_assert_eq(c, want, "%s, minute %zu: %.0f", want0, b, c);
                cr_assert_eq(tsagg_result_values(res, 1)[b * 2 + g], want);
                total[g] += c;
            }
        }
        cr_assert_eq(total[0], NBIG);
        cr_assert_eq(total[1], NSECOND);

        /* Every group's series: 10,080 x 150,002 rows asked for. */
        q.top = 0;
        rc = tsagg_query_run(st, &q, res);
        cr_assert_eq(rc, TSAGG_EARG, "group by %s, all groups: %s", fields[f],
                     tsagg_strerror(rc));
        char want[160];
        snprintf(want, sizeof want, "10080 buckets x %d groups = %" PRIu64 " rows, more than %u",
                 HOSTILE + 2, (uint64_t)10080 * (HOSTILE + 2), (unsigned)TSAGG_QUERY_MAX_ROWS);
        cr_assert(strstr(errmsg(st), want), "message: %s", errmsg(st));
        cr_assert(strstr(errmsg(st), "top 416 groups"), "message: %s", errmsg(st));
        cr_assert_eq(tsagg_result_rows(res), 0);
    }
    tsagg_result_free(res);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- the host's locale --------------------------------------------------------------------- */


/* Switch the process to a locale whose decimal point is a comma: an
 * installed one, or one localedef builds for this test under tu_dir (the
 * C library finds it through LOCPATH). NULL when neither works. */
static const char *use_comma_locale(void)
{
    static const char *const names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8",
                                        "fr_FR.utf8", "ru_RU.UTF-8", "it_IT.UTF-8"};
    for (size_t i = 0; i < NELEM(names); i++)
        if (setlocale(LC_ALL, names[i]) && strcmp(localeconv()->decimal_point, ",") == 0)
            return names[i];
    char dir[700], cmd[1600];
    snprintf(dir, sizeof dir, "%s/locale", tu_dir);
    mkdir(dir, 0755);
    /* localedef exits 1 for mere warnings; the setlocale below decides. */
    snprintf(cmd, sizeof cmd, "localedef -i de_DE -f UTF-8 '%s/de_DE.UTF-8' >/dev/null 2>&1",
             dir);
    if (system(cmd) == -1)
        return NULL;
    setenv("LOCPATH", dir, 1);
    if (setlocale(LC_ALL, "de_DE.UTF-8") && strcmp(localeconv()->decimal_point, ",") == 0)
        return "de_DE.UTF-8 (built with localedef)";
    setlocale(LC_ALL, "C");
    return NULL;
}

/* The sum of `value` and the groups of `browser` for merchant 12. */
static void locale_answers(tsagg_store *st, uint32_t flags, const char *when)
{
    tsagg_metric mets[] = {{TSAGG_METRIC_COUNT, NULL}, {TSAGG_METRIC_SUM, "value"},
                           {TSAGG_METRIC_MAX, "value"}};
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = 12;
    q.from = W0;
    q.to = W0 + HOUR;
    q.bucket = TSAGG_BUCKET_TOTAL;
    q.flags = flags;
    q.metrics = mets;
    q.nmetrics = 3;
    q.group_by = "browser";
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    cr_assert_eq(tsagg_query_run(st, &q, res), 0, "%s", errmsg(st));
    cr_assert_eq(tsagg_result_groups(res), 2, "%s: %zu groups", when, tsagg_result_groups(res));
    /* Ranked by count: "2.5" twice, then "Chrome". */
    cr_assert_str_eq(tsagg_result_group(res, 0), "2.5", "%s: the float dimension reads \"%s\"",
                     when, tsagg_result_group(res, 0));
    cr_assert_str_eq(tsagg_result_group(res, 1), "Chrome");
    cr_assert_eq(tsagg_result_values(res, 0)[0], 2);
    cr_assert_eq(tsagg_result_values(res, 1)[0], 12.5 + 0.25,
                 "%s: sum of \"12.5\" and 0.25 is %g", when, tsagg_result_values(res, 1)[0]);
    cr_assert_eq(tsagg_result_values(res, 2)[0], 12.5);
    cr_assert_eq(tsagg_result_values(res, 1)[1], 1e3, "%s: \"1e3\"", when);
    /* A filter on the number as text. */
    const char *v[] = {"2.5"};
    tsagg_filter f = {"browser", v, 1};
    q.filters = &f;
    q.nfilters = 1;
    q.group_by = NULL;
    cr_assert_eq(tsagg_query_run(st, &q, res), 0, "%s", errmsg(st));
    cr_assert_eq(tsagg_result_values(res, 0)[0], 2, "%s: browser=2.5", when);
    tsagg_result_free(res);
}

/*
 * A host that set a comma-decimal locale gets the same store and answers as
 * one in the C locale: a measure sent as the string "12.5" is 12.5 (not
 * absent), a float dimension is stored and grouped as "2.5" (not "2,5"),
 * in the log tail and once compacted.
 */
Test(query, answers_do_not_depend_on_the_locale)
{
    const char *loc = use_comma_locale();
    if (!loc)
        cr_skip_test("no comma-decimal locale is installed and localedef could not build "
                     "de_DE.UTF-8 (Debian: the locales package)");
    cr_log_info("locale %s", loc);
    char probe[16];
    snprintf(probe, sizeof probe, "%.1f", 2.5);
    cr_assert_str_eq(probe, "2,5", "the locale is in force for the C library");

    tsagg_store *st = open_writer(TSAGG_SYNC_BATCH);
    struct {
        const char *value; /* string measure, or NULL for the double 0.25 */
        int float_browser;
    } rows[] = {{"12.5", 1}, {NULL, 1}, {"1e3", 0}};
    for (size_t i = 0; i < NELEM(rows); i++) {
        tsagg_attr a[2];
        a[0] = rows[i].value
                   ? (tsagg_attr){.key = "value", .key_len = 5, .type = TSAGG_STR,
                                  .v.s = {rows[i].value, (uint32_t)strlen(rows[i].value)}}
                   : (tsagg_attr){.key = "value", .key_len = 5, .type = TSAGG_F64, .v.f = 0.25};
        a[1] = rows[i].float_browser
                   ? (tsagg_attr){.key = "browser", .key_len = 7, .type = TSAGG_F64, .v.f = 2.5}
                   : (tsagg_attr){.key = "browser", .key_len = 7, .type = TSAGG_STR,
                                  .v.s = {"Chrome", 6}};
        tsagg_event ev = {.ts = W0 + (int64_t)i * SEC, .merchant = 12, .event = "buy",
                          .event_len = 3, .attrs = a, .nattrs = 2};
        cr_assert_eq(tsagg_append(st, &ev, 1, NULL), 0);
    }
    locale_answers(st, 0, "log tail");
    compact(st, 0);
    locale_answers(st, TSAGG_QUERY_NO_TAIL, "compacted");
    cr_assert_eq(tsagg_store_close(st), 0);
    setlocale(LC_ALL, "C");
}

/* ---- the handle's message is about the failure just returned ------------------------------ */

Test(query, errmsg_is_about_the_failure_returned)
{
    tsagg_store *st = open_writer(TSAGG_SYNC_BATCH);
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    tsagg_query q;
    tsagg_query_init(&q);
    q.merchant = 1;
    q.from = W0;
    q.to = W0 + HOUR;
    q.group_by = "colour";
    cr_assert_eq(tsagg_query_run(st, &q, res), TSAGG_ESCHEMA);
    cr_assert(strstr(errmsg(st), "unknown dimension \"colour\""), "%s", errmsg(st));
    q.group_by = NULL;
    cr_assert_eq(tsagg_query_run(st, &q, NULL), TSAGG_EARG);
    cr_assert(strstr(errmsg(st), "result is NULL"), "after a NULL result: %s", errmsg(st));
#ifdef UNDER_ASAN
    cr_log_info("AddressSanitizer maps terabytes of shadow memory: the out-of-memory case "
                "runs in the plain build only");
#else
    q.group_by = "colour";
    cr_assert_eq(tsagg_query_run(st, &q, res), TSAGG_ESCHEMA);
    /* A minute series of two years needs ~9 MB of bucket starts. */
    q.group_by = NULL;
    q.bucket = TSAGG_BUCKET_MINUTE;
    q.to = W0 + 700 * DAY;
    struct rlimit old, lim;
    cr_assert_eq(getrlimit(RLIMIT_AS, &old), 0);
    lim = (struct rlimit){.rlim_cur = mapped_bytes() + (2u << 20), .rlim_max = old.rlim_max};
    cr_assert_eq(setrlimit(RLIMIT_AS, &lim), 0);
    int rc = tsagg_query_run(st, &q, res);
    cr_assert_eq(setrlimit(RLIMIT_AS, &old), 0);
    cr_assert_eq(rc, -ENOMEM, "%s", tsagg_strerror(rc));
    cr_assert_str_eq(errmsg(st), "query: Cannot allocate memory");
#endif
    tsagg_result_free(res);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/*
 * Counts, alone and with distinct users (from its rows or its span
 * sketches), of a merchant too quiet for hour segments, by buckets of whole
 * hours (hours, days in UTC and in a zone of
 * whole hours across its clock change, weeks, one total) over ranges of
 * whole hours, which its rows' counts by hour answer (and delimit, for the
 * users), and by buckets and ranges that cut hours (a zone half an hour
 * off UTC, minute bounds), which its timestamps answer: each bucket as
 * many events and users as the events appended in it, cold, warm and with
 * nothing kept between queries. Rows on and just before hour bounds, two
 * month files, a merchant with rows in one hour only.
 */
Test(query, quiet_merchant_by_whole_hours)
{
    const int64_t t0 = INT64_C(1761264000) * SEC; /* 2025-10-24T00:00Z */
    enum { NQUIET = 1500, HOURS = 9 * 24 };
    tsagg_store *st = open_writer(TSAGG_SYNC_NONE);
    tsagg_event *evs = malloc((NQUIET + 4) * sizeof *evs);
    cr_assert_not_null(evs);
    g_rng = 1025;
    size_t n = 0;
    for (size_t i = 0; i < NQUIET; i++) {
        int64_t h = (int64_t)rnd_below(HOURS);
        int64_t at = chance(0.1) ? 0 : chance(0.1) ? HOUR - 1 : (int64_t)rnd_below(HOUR);
        evs[n++] = (tsagg_event){.ts = t0 + h * HOUR + at, .merchant = chance(0.7) ? 7 : 8,
                                 .event = "page_view", .event_len = 9, .user = 1 + i % 50};
    }
    for (int i = 0; i < 4; i++) /* merchant 9: one hour */
        evs[n++] = (tsagg_event){.ts = t0 + 30 * HOUR + i * MINUTE, .merchant = 9,
                                 .event = "page_view", .event_len = 9, .user = 1};
    cr_assert_eq(tsagg_append(st, evs, n, NULL), 0, "%s", errmsg(st));
    cr_assert_eq(tsagg_flush(st), 0);
    compact(st, 0);
    static const struct {
        uint32_t bucket;
        const char *tz;
        int64_t from, to; /* from t0 */
    } asks[] = {
        {TSAGG_BUCKET_HOUR, NULL, 0, HOURS * HOUR},
        {TSAGG_BUCKET_HOUR, NULL, 5 * HOUR, 50 * HOUR},
        {TSAGG_BUCKET_DAY, NULL, -DAY, (HOURS + 24) * HOUR},
        {TSAGG_BUCKET_DAY, "Europe/Paris", 7 * HOUR, 190 * HOUR},
        {TSAGG_BUCKET_WEEK, "Europe/Paris", 0, HOURS * HOUR},
        {TSAGG_BUCKET_TOTAL, NULL, 29 * HOUR, 31 * HOUR},
        {TSAGG_BUCKET_DAY, "Asia/Kolkata", 0, HOURS * HOUR},
        {TSAGG_BUCKET_HOUR, NULL, 5 * HOUR + MINUTE, 50 * HOUR - MINUTE},
    };
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    /* Counts alone, then with distinct users (at most 50: exact), through
     * an event filter that every event passes (rows, not span sketches,
     * answer a filtered question) but in run 3. */
    tsagg_metric mets[] = {{TSAGG_METRIC_COUNT, NULL}, {TSAGG_METRIC_USERS, NULL}};
    static const char *const PAGE_VIEW[] = {"page_view"};
    const tsagg_filter every = {"event", PAGE_VIEW, 1};
    for (int run = 0; run < 6; run++) {
        if (run == 4)
            cr_assert_eq(tsagg__partcache_set_budget(st, 0), 0);
        for (size_t a = 0; a < NELEM(asks); a++)
            for (uint64_t m = 7; m <= 9; m++) {
                tsagg_query q;
                tsagg_query_init(&q);
                q.metrics = mets;
                q.nmetrics = run % 2 ? 2 : 1;
                q.filters = run % 2 && run != 3 ? &every : NULL;
                q.nfilters = q.filters ? 1 : 0;
                q.merchant = m;
                q.bucket = asks[a].bucket;
                q.tz = asks[a].tz;
                q.from = t0 + asks[a].from;
                q.to = t0 + asks[a].to;
                cr_assert_eq(tsagg_query_run(st, &q, res), 0, "%s", errmsg(st));
                size_t nb = tsagg_result_buckets(res);
                const int64_t *times = tsagg_result_times(res);
                const double *count = tsagg_result_values(res, 0);
                cr_assert_eq(tsagg_result_groups(res), 1);
                cr_assert_eq(tsagg_result_rows(res), nb);
                for (size_t b = 0; b < nb; b++) {
                    int64_t lo = times[b] > q.from ? times[b] : q.from;
                    int64_t hi = b + 1 < nb ? times[b + 1] : q.to;
                    double want = 0;
                    uint64_t seen = 0; /* users are 1..50 */
                    for (size_t i = 0; i < n; i++)
                        if (evs[i].merchant == m && evs[i].ts >= lo && evs[i].ts < hi) {
                            want++;
                            seen |= UINT64_C(1) << evs[i].user;
                        }
                    cr_assert_eq(count[b], want, "run %d ask %zu merchant %" PRIu64 " bucket %zu",
                                 run, a, m, b);
                    if (q.nmetrics == 2)
                        cr_assert_eq(tsagg_result_values(res, 1)[b],
                                     (double)__builtin_popcountll(seen),
                                     "users: run %d ask %zu merchant %" PRIu64 " bucket %zu", run,
                                     a, m, b);
                }
                cr_assert(!tsagg_result_approximate(res));
            }
    }
    tsagg_result_free(res);
    free(evs);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- group-by counts of whole files, cached ------------------------------------------- */

/* Group-bys of counts, every filter variant against every group column,
 * merchant and range: whole days (the merchant's rows of a day file in one
 * bucket, answered from the counts the handle keeps per file and question),
 * the whole window, a range cutting files inside hours, days in a zone half
 * an hour off UTC and hourly buckets (files cut by buckets: scanned). The
 * filters include the same set in two orders (one cached question), a
 * value no file holds, two filters, and more countries than are cached. */
static void run_group_counts(tsagg_store *st, const model *m)
{
    static const char *const US[] = {"US"}, *const DE_US[] = {"DE", "US"},
                             *const US_DE[] = {"US", "DE"}, *const MOBILE[] = {"mobile"},
                             *const NONE[] = {"no-such-value"},
                             *const VIEWS[] = {"page_view", "click"};
    const tsagg_filter filters[][2] = {
        {{"country", US, 1}},
        {{"country", DE_US, 2}},
        {{"country", US_DE, 2}},
        {{"country", COUNTRIES, NELEM(COUNTRIES)}},
        {{"event", VIEWS, 2}},
        {{"country", US, 1}, {"device", MOBILE, 1}},
        {{"referrer", NONE, 1}},
    };
    static const uint32_t nfilters[] = {1, 1, 1, 1, 1, 2, 1};
    static const char *const groups[] = {"page", "event", "country", "referrer"};
    static const uint64_t merchants[] = {BIG, SMALL0, SMALL0 + 5, SMALL0 + 40};
    int64_t day0 = floordiv(g_w0, DAY) * DAY;
    const struct {
        int64_t from, to;
        uint32_t bucket;
        const char *tz;
    } ranges[] = {
        {day0 + 2 * DAY, day0 + 3 * DAY, TSAGG_BUCKET_TOTAL, NULL},
        {day0 + 3 * DAY, day0 + 7 * DAY, TSAGG_BUCKET_TOTAL, NULL},
        {g_w0 - DAY, g_w1 + DAY, TSAGG_BUCKET_TOTAL, NULL},
        {day0 + DAY + 90 * MINUTE + 7 * SEC, day0 + 4 * DAY + 30 * MINUTE, TSAGG_BUCKET_TOTAL, NULL},
        {day0, day0 + 9 * DAY, TSAGG_BUCKET_DAY, "Asia/Kolkata"},
        {day0 + 4 * DAY, day0 + 6 * DAY, TSAGG_BUCKET_DAY, NULL},
        {day0 + 5 * DAY, day0 + 6 * DAY, TSAGG_BUCKET_HOUR, NULL},
    };
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    unsigned n = 0;
    for (size_t f = 0; f <= NELEM(filters); f++)
        for (size_t g = 0; g < NELEM(groups); g++)
            for (size_t mi = 0; mi < NELEM(merchants); mi++)
                for (size_t r = 0; r < NELEM(ranges); r++) {
                    tsagg_query q;
                    tsagg_query_init(&q);
                    q.merchant = merchants[mi];
                    q.from = ranges[r].from;
                    q.to = ranges[r].to;
                    q.bucket = ranges[r].bucket;
                    q.tz = ranges[r].tz;
                    q.group_by = groups[g];
                    q.filters = f < NELEM(filters) ? filters[f] : NULL; /* last: none */
                    q.nfilters = f < NELEM(filters) ? nfilters[f] : 0;
                    q.top = n++ % 3 ? 0 : 5;
                    check_query(st, res, m, &q);
                }
    tsagg_result_free(res);
}

/* The answers of cached group-by counts are the model's: on a new handle
 * (built as the questions come), asked again (from the cache), on a handle
 * that keeps nothing between queries, beside the head, and after late
 * events were compacted and merged into files that replace those the
 * counts were kept for (a count kept for a replaced file would miss them). */
Test(query, cached_group_counts_agree_with_the_model)
{
    g_rng = 20261103;
    model m = {0};
    generate(&m, 20000);
    tsagg_store *st = open_writer(TSAGG_SYNC_NONE);
    size_t first = m.n * 8 / 10;
    append_range(st, &m, 0, first);
    cr_assert_eq(tsagg_flush(st), 0);
    model_recount(&m);
    tsagg_compact_stats s = compact(st, 0);
    model_compacted(&m, s.consumed_seq);
    merge(st);
    model_merged(&m);

    tsagg_store *ro = open_store(0, TSAGG_SYNC_BATCH);
    run_group_counts(ro, &m); /* cold */
    run_group_counts(ro, &m); /* warm */
    tsagg_store *none = open_store(0, TSAGG_SYNC_BATCH);
    cr_assert_eq(tsagg__partcache_set_budget(none, 0), 0);
    run_group_counts(none, &m);
    cr_assert_eq(tsagg_store_close(none), 0);
    run_group_counts(st, &m);

    /* The rest arrives, late events among them: in the head, then in
     * new hour files of compacted days, then merged into new day files. */
    append_all(st, &m, first);
    cr_assert_eq(tsagg_flush(st), 0);
    model_recount(&m);
    run_group_counts(st, &m);
    s = compact(st, 0);
    model_compacted(&m, s.consumed_seq);
    run_group_counts(st, &m);
    merge(st);
    model_merged(&m);
    run_group_counts(st, &m);
    run_group_counts(ro, &m);
    cr_assert_eq(tsagg_store_close(ro), 0);
    cr_assert_eq(tsagg_store_close(st), 0);
    free(m.e);
}

/* A result as text: each row's group and count. */
static void result_text(const tsagg_result *res, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    for (size_t r = 0; r < tsagg_result_rows(res) && at < len; r++)
        at += (size_t)snprintf(buf + at, len - at, "%s=%.17g;", tsagg_result_group(res, r),
                               tsagg_result_values(res, 0)[r]);
}

#define CC_QUERIES 48
#define CC_THREADS 4
#define CC_TEXT 4096

typedef struct cc_run {
    tsagg_store *st;
    const tsagg_query *qs;
    char (*want)[CC_TEXT];
    unsigned first; /* the query this thread starts with */
    int failed;     /* the first query that failed or differed, + 1 */
} cc_run;

static void *cc_thread(void *arg)
{
    cc_run *a = arg;
    tsagg_result *res;
    char *got = malloc(CC_TEXT);
    if (tsagg_result_create(&res) != 0 || !got) {
        a->failed = -1;
        free(got);
        return NULL;
    }
    for (unsigned i = 0; i < 3 * CC_QUERIES && !a->failed; i++) {
        unsigned k = (a->first + i * 7) % CC_QUERIES;
        if (tsagg_query_run(a->st, &a->qs[k], res) != 0) {
            a->failed = (int)k + 1;
            break;
        }
        result_text(res, got, CC_TEXT);
        if (strcmp(got, a->want[k]) != 0)
            a->failed = (int)k + 1;
    }
    tsagg_result_free(res);
    free(got);
    return NULL;
}

/* Threads of one handle ask the same group-bys of whole days at once, on
 * new handles (several threads build the same counts and one copy is
 * kept) and with a budget small enough to evict while others read: every
 * answer is the one checked against the model. */
Test(query, cached_group_counts_built_by_threads_at_once)
{
    g_rng = 20261104;
    model m = {0};
    generate(&m, 20000);
    tsagg_store *st = open_writer(TSAGG_SYNC_NONE);
    append_all(st, &m, 0);
    cr_assert_eq(tsagg_flush(st), 0);
    model_recount(&m);
    tsagg_compact_stats s = compact(st, 0);
    model_compacted(&m, s.consumed_seq);
    merge(st);
    model_merged(&m);

    static const char *const US[] = {"US"}, *const DE_US[] = {"DE", "US"},
                             *const VIEWS[] = {"page_view", "click"};
    const tsagg_filter filters[] = {{"country", US, 1}, {"country", DE_US, 2}, {"event", VIEWS, 2}};
    static const char *const groups[] = {"page", "country"};
    static const uint64_t merchants[] = {BIG, SMALL0};
    int64_t day0 = floordiv(g_w0, DAY) * DAY;
    const int64_t ranges[][2] = {{day0 + 2 * DAY, day0 + 3 * DAY},
                                 {day0 + 3 * DAY, day0 + 8 * DAY},
                                 {g_w0 - DAY, g_w1 + DAY}};
    tsagg_query qs[CC_QUERIES];
    char(*want)[CC_TEXT] = malloc(CC_QUERIES * sizeof *want);
    cr_assert_not_null(want);
    tsagg_result *res;
    cr_assert_eq(tsagg_result_create(&res), 0);
    unsigned n = 0;
    for (size_t f = 0; f <= NELEM(filters); f++)
        for (size_t g = 0; g < NELEM(groups); g++)
            for (size_t mi = 0; mi < NELEM(merchants); mi++)
                for (size_t r = 0; r < NELEM(ranges); r++) {
                    tsagg_query *q = &qs[n];
                    tsagg_query_init(q);
                    q->merchant = merchants[mi];
                    q->from = ranges[r][0];
                    q->to = ranges[r][1];
                    q->bucket = TSAGG_BUCKET_TOTAL;
                    q->group_by = groups[g];
                    q->filters = f < NELEM(filters) ? &filters[f] : NULL;
                    q->nfilters = f < NELEM(filters);
                    check_query(st, res, &m, q); /* the model's answer */
                    result_text(res, want[n], CC_TEXT);
                    n++;
                }
    cr_assert_eq(n, CC_QUERIES);
    tsagg_result_free(res);

    for (int round = 0; round < 4; round++) {
        tsagg_store *ro = open_store(0, TSAGG_SYNC_BATCH);
        if (round % 2)
            cr_assert_eq(tsagg__partcache_set_budget(ro, 64 << 10), 0);
        pthread_t th[CC_THREADS];
        cc_run runs[CC_THREADS];
        for (unsigned t = 0; t < CC_THREADS; t++) {
            runs[t] = (cc_run){ro, qs, want, t * (round + 1), 0};
            cr_assert_eq(pthread_create(&th[t], NULL, cc_thread, &runs[t]), 0);
        }
        for (unsigned t = 0; t < CC_THREADS; t++) {
            pthread_join(th[t], NULL);
            cr_assert_eq(runs[t].failed, 0, "round %d thread %u: query %d", round, t,
                         runs[t].failed - 1);
        }
        cr_assert_eq(tsagg_store_close(ro), 0);
    }
    free(want);
    cr_assert_eq(tsagg_store_close(st), 0);
    free(m.e);
}

/* The mask of 64 one-byte codes that a filter of one value selects rows
 * by: the plain loop that targets without SSE2 build gives what the SSE2
 * one gives, and both give the rows that hold the value. */
Test(query, eq_mask_plain_and_simd_agree)
{
    uint8_t c[64];
    uint64_t seed = 88172645463325252ull;
    for (int round = 0; round < 2000; round++) {
        uint64_t want = 0;
        uint8_t eq = (uint8_t)(round * 37);
        for (int j = 0; j < 64; j++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            /* The value, or a neighbour of it: a compare that drops the
             * high bit or confuses a sign shows. */
            uint8_t other = (uint8_t)(eq ^ (1u << (seed >> 61)));
            int hit = round % 50 == 0 ? 1 : round % 50 == 1 ? 0 : (int)(seed & 1);
            c[j] = hit ? eq : other;
            want |= (uint64_t)hit << j;
        }
        cr_assert_eq(tsagg__eq_mask64_plain(c, eq), want, "round %d", round);
#ifdef __SSE2__
        cr_assert_eq(tsagg__eq_mask64_sse2(c, eq), want, "round %d", round);
#endif
        cr_assert_eq(tsagg__eq_mask64(c, eq), want, "round %d", round);
    }
}
