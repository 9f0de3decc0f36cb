/*
 * test_maintain.c - maintenance (tsagg_maintain.h): the background thread
 * online beside appends and queries, retention of partitions and of the
 * log (and where the log then starts: open, verify, rebuild), and failures
 * the host sees and maintenance recovers from.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "faultio.h"
#include "testutil.h"
#include "tsagg.h"

#define HOUR_US INT64_C(3600000000)
#define DAY_US (24 * HOUR_US)

TestSuite(maintain, .init = tu_store_setup, .fini = tu_store_teardown, .timeout = 300);

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static tsagg_store *open_store(const tsagg_maintain_options *mo, const tsagg_io *io,
                               uint64_t segment_bytes)
{
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.maintenance = mo;
    if (io)
        o.io = io;
    if (segment_bytes)
        o.segment_bytes = segment_bytes;
    tsagg_store *st;
    char err[512];
    int rc = tsagg_store_open(tu_store, &o, &st, err, sizeof err);
    cr_assert_eq(rc, 0, "open: %s", err);
    return st;
}

/* Append n events from ts on, step apart, merchants 1..nm, ids from id0. */
static void append_span(tsagg_store *st, size_t n, int64_t ts, int64_t step, uint64_t nm,
                        uint64_t id0)
{
    tsagg_attr attr = {.key = "page", .key_len = 4, .type = TSAGG_STR,
                       .v.s = {.ptr = "/pricing", .len = 8}};
    tsagg_event evs[256];
    for (size_t done = 0; done < n;) {
        size_t k = n - done < 256 ? n - done : 256;
        for (size_t i = 0; i < k; i++) {
            uint64_t id = id0 + done + i;
            evs[i] = (tsagg_event){.ts = ts + (int64_t)(done + i) * step, .merchant = 1 + id % nm,
                                   .event = "page_view", .event_len = 9,
                                   .flags = TSAGG_EVENT_HAS_ID, .id = id, .user = 1 + id % 97,
                                   .attrs = &attr, .nattrs = 1};
        }
        cr_assert_eq(tsagg_append(st, evs, k, NULL), 0);
        done += k;
    }
}

static int count_files(const char *dir, const char *suffix)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "ls %s 2>/dev/null | grep -c '%s$'", dir, suffix);
    FILE *p = popen(cmd, "r");
    int n = 0;
    cr_assert(p);
    cr_assert_eq(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

/* ---- online -------------------------------------------------------------- */

typedef struct online {
    tsagg_store *st;
    int64_t base;
    _Atomic uint64_t acked; /* events acknowledged durable */
    _Atomic int done;
    uint64_t total, queries, regressions, out_of_range;
} online;

static void *appender(void *arg)
{
    online *o = arg;
    for (uint64_t sent = 0; sent < o->total;) {
        size_t k = 200;
        append_span(o->st, k, o->base + (int64_t)sent * 1000000, 1000000, 50, sent);
        sent += k;
        atomic_store(&o->acked, sent);
    }
    atomic_store(&o->done, 1);
    return NULL;
}

static void *querier(void *arg)
{
    online *o = arg;
    uint64_t last = 0;
    while (!atomic_load(&o->done)) {
        uint64_t before = atomic_load(&o->acked);
        uint64_t n = tu_count_events(o->st, o->base - DAY_US, o->base + 30 * DAY_US);
        uint64_t after = atomic_load(&o->acked);
        /* Every acknowledged event counts once: never fewer than were
         * acknowledged before the query, never more than after (a batch
         * may be durable before its append returns), never going down. */
        o->out_of_range += n < before || n > after + 200;
        o->regressions += n < last;
        last = n;
        o->queries++;
    }
    return NULL;
}

Test(maintain, online_with_appends_and_queries)
{
    tsagg_maintain_options mo;
    tsagg_maintain_options_init(&mo);
    mo.interval_ms = 10;
    mo.compact_tail_events = 3000;
    mo.archive = 1;
    online o = {.total = 40000, .base = wall_us() / HOUR_US * HOUR_US - 20 * DAY_US};
    o.st = open_store(&mo, NULL, 64 << 10);
    pthread_t a, q;
    cr_assert_eq(pthread_create(&a, NULL, appender, &o), 0);
    cr_assert_eq(pthread_create(&q, NULL, querier, &o), 0);
    pthread_join(a, NULL);
    pthread_join(q, NULL);
    cr_expect_eq(o.out_of_range, 0, "%" PRIu64 " of %" PRIu64 " queries out of range",
                 o.out_of_range, o.queries);
    cr_expect_eq(o.regressions, 0, "%" PRIu64 " queries counted fewer than the one before",
                 o.regressions);
    /* The rest compacted by one step on demand. */
    tsagg_maintain_options now;
    tsagg_maintain_options_init(&now);
    now.flags = TSAGG_MAINTAIN_NOW;
    tsagg_maintain_stats s = {.struct_size = sizeof s};
    cr_assert_eq(tsagg_maintain(o.st, &now, &s), 0);
    cr_expect_eq(s.tail_events, 0);
    tsagg_maintain_stats t = {.struct_size = sizeof t};
    cr_assert_eq(tsagg_maintenance_status(o.st, &t), 0);
    cr_expect_eq(t.running, 1);
    cr_expect_gt(t.compactions, 1, "the thread compacted %" PRIu64 " times", t.compactions);
    cr_expect_gt(t.segments_archived, 0);
    cr_expect_eq(t.failures, 0, "%s", t.last_error_msg);
    cr_expect_eq(t.events_compacted, o.total);
    cr_expect_eq(tu_count_events(o.st, o.base - DAY_US, o.base + 30 * DAY_US), o.total);
    cr_log_info("online: %" PRIu64 " queries beside %" PRIu64 " appends; %" PRIu64
                " steps, %" PRIu64 " compactions, %" PRIu64 " segments archived, %" PRIu64
                " us CPU",
                o.queries, o.total, t.steps, t.compactions, t.segments_archived, t.cpu_us);
    cr_assert_eq(tsagg_store_close(o.st), 0);
    /* What a new handle sees. */
    o.st = open_store(NULL, NULL, 0);
    cr_expect_eq(tu_count_events(o.st, o.base - DAY_US, o.base + 30 * DAY_US), o.total);
    cr_expect_eq(tsagg_verify(o.st, NULL, NULL, NULL), 0);
    cr_assert_eq(tsagg_store_close(o.st), 0);
}

Test(maintain, step_compacts_when_due_only)
{
    tsagg_store *st = open_store(NULL, NULL, 0);
    int64_t base = wall_us() / HOUR_US * HOUR_US - DAY_US;
    append_span(st, 500, base, 1000000, 5, 0);
    tsagg_maintain_options mo;
    tsagg_maintain_options_init(&mo);
    mo.compact_tail_events = 1000;
    mo.compact_tail_bytes = 0;
    mo.compact_tail_age_ms = 0;
    tsagg_maintain_stats s = {.struct_size = sizeof s};
    cr_assert_eq(tsagg_maintain(st, &mo, &s), 0);
    cr_expect_eq(s.compactions, 0);
    cr_expect_eq(s.tail_events, 500);
    cr_expect_gt(s.tail_bytes, 500, "tail bytes %" PRIu64, s.tail_bytes);
    append_span(st, 500, base + 500 * 1000000, 1000000, 5, 500);
    cr_assert_eq(tsagg_maintain(st, &mo, &s), 0);
    cr_expect_eq(s.compactions, 1);
    cr_expect_eq(s.events_compacted, 1000);
    cr_expect_eq(s.tail_events, 0);
    /* By age. */
    append_span(st, 10, base + 2000 * INT64_C(1000000), 1000000, 5, 1000);
    mo.compact_tail_age_ms = 50;
    cr_assert_eq(tsagg_maintain(st, &mo, &s), 0);
    cr_expect_eq(s.compactions, 0, "the tail was first seen now");
    usleep(80 * 1000);
    cr_assert_eq(tsagg_maintain(st, &mo, &s), 0);
    cr_expect_eq(s.compactions, 1);
    cr_expect_eq(tu_count_events(st, base - DAY_US, base + 2 * DAY_US), 1010);
    /* Bad options are refused, saying which. */
    mo.interval_ms = 0;
    cr_expect_eq(tsagg_maintain(st, &mo, &s), TSAGG_EARG);
    cr_assert_eq(tsagg_store_close(st), 0);
    /* A read-only handle has no maintenance. */
    tsagg_options ro;
    tsagg_options_init(&ro);
    cr_assert_eq(tsagg_store_open(tu_store, &ro, &st, NULL, 0), 0);
    cr_expect_eq(tsagg_maintain(st, NULL, NULL), TSAGG_EREADONLY);
    tsagg_maintain_options_init(&mo);
    ro.maintenance = &mo;
    tsagg_store *st2;
    cr_expect_eq(tsagg_store_open(tu_store, &ro, &st2, NULL, 0), TSAGG_EARG);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* The status says how large the head is now and its bound: what a host
 * holding off bulk batches looks at. */
Test(maintain, status_gives_the_head_and_its_bound)
{
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    o.head_max_bytes = 3u << 20;
    tsagg_store *st;
    char err[512];
    cr_assert_eq(tsagg_store_open(tu_store, &o, &st, err, sizeof err), 0, "open: %s", err);
    tsagg_maintain_stats s = {.struct_size = sizeof s};
    cr_assert_eq(tsagg_maintenance_status(st, &s), 0);
    cr_expect_eq(s.head_max_bytes, 3u << 20);
    uint64_t empty = s.head_bytes;
    int64_t base = wall_us() / HOUR_US * HOUR_US - DAY_US;
    append_span(st, 5000, base, 1000, 5, 0);
    cr_assert_eq(tsagg_maintenance_status(st, &s), 0);
    cr_expect_gt(s.head_bytes, empty + 5000 * 50, "head %" PRIu64 " bytes after 5,000 events, %"
                 PRIu64 " before", s.head_bytes, empty);
    uint64_t full = s.head_bytes;
    cr_assert_eq(tsagg_flush(st), 0);
    cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
    cr_assert_eq(tsagg_maintenance_status(st, &s), 0);
    cr_expect_lt(s.head_bytes, full, "the compacted events left the head");
    /* A caller built against the first release's struct gets its fields only. */
    tsagg_maintain_stats old;
    memset(&old, 0xab, sizeof old);
    old.struct_size = offsetof(tsagg_maintain_stats, head_bytes);
    cr_assert_eq(tsagg_maintenance_status(st, &old), 0);
    cr_expect_eq(old.struct_size, offsetof(tsagg_maintain_stats, head_bytes));
    cr_expect_eq(old.head_bytes, 0xababababababababull, "written past the caller's struct");
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* Threads of this process whose nice value is `nice` (/proc/self/task/N/stat,
 * its 19th field, counted after the name's closing parenthesis). */
static int threads_at_nice(int nice)
{
    DIR *d = opendir("/proc/self/task");
    cr_assert(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], line[1024];
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* gone meanwhile */
        size_t len = fread(line, 1, sizeof line - 1, f);
        fclose(f);
        line[len] = 0;
        char *p = strrchr(line, ')');
        cr_assert(p, "%s: %s", path, line);
        int field = 2, value = 0;
        for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " "))
            if (++field == 19) {
                value = atoi(tok);
                break;
            }
        cr_assert_eq(field, 19, "%s: no nice field", path);
        n += value == nice;
    }
    closedir(d);
    return n;
}

/* The background thread runs at the nice value asked, the caller's stays,
 * and it still does its work; values out of range are refused. */
Test(maintain, background_thread_at_its_nice_value)
{
    errno = 0;
    int base = getpriority(PRIO_PROCESS, 0);
    cr_assert(errno == 0 && base <= 12, "the test runs at nice %d", base);
    tsagg_maintain_options mo;
    tsagg_maintain_options_init(&mo);
    mo.interval_ms = 10;
    mo.compact_tail_events = 100;
    mo.nice = 7;
    int before = threads_at_nice(base + 7);
    tsagg_store *st = open_store(&mo, NULL, 0);
    cr_expect_eq(threads_at_nice(base + 7), before + 1, "one more thread at nice %d", base + 7);
    cr_expect_eq(getpriority(PRIO_PROCESS, 0), base, "the opener's nice value changed");
    int64_t t0 = wall_us() / HOUR_US * HOUR_US - DAY_US;
    append_span(st, 500, t0, 1000000, 5, 0);
    tsagg_maintain_stats s = {.struct_size = sizeof s};
    for (int i = 0; i < 500; i++) {
        cr_assert_eq(tsagg_maintenance_status(st, &s), 0);
        if (s.events_compacted == 500)
            break;
        usleep(10 * 1000);
    }
    cr_expect_eq(s.events_compacted, 500, "the thread compacted %" PRIu64 " of 500 events",
                 s.events_compacted);
    cr_assert_eq(tsagg_store_close(st), 0);
    cr_expect_eq(threads_at_nice(base + 7), before, "the thread stopped with the store");

    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = TSAGG_OPEN_WRITE;
    o.maintenance = &mo;
    char err[512];
    static const int32_t bad[] = {-1, 20};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        mo.nice = bad[i];
        cr_expect_eq(tsagg_store_open(tu_store, &o, &st, err, sizeof err), TSAGG_EARG,
                     "nice %d accepted", (int)bad[i]);
        cr_expect(strstr(err, "nice"), "the message names nice: %s", err);
    }
}

/* ---- retention ------------------------------------------------------------- */

static uint16_t manifest_version(void)
{
    char path[700];
    snprintf(path, sizeof path, "%s/MANIFEST", tu_store);
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    uint8_t b[10];
    cr_assert_eq(fread(b, 1, 10, f), 10);
    fclose(f);
    return (uint16_t)(b[8] | b[9] << 8);
}

static uint64_t log_events(tsagg_store *st, uint64_t *first)
{
    tsagg_log_reader *rd;
    cr_assert_eq(tsagg_log_reader_open(st, NULL, &rd), 0);
    const tsagg_event *ev;
    uint64_t seq, n = 0;
    *first = 0;
    int rc;
    while ((rc = tsagg_log_reader_next(rd, &ev, &seq)) == 1) {
        if (!n)
            *first = seq;
        n++;
    }
    cr_assert_eq(rc, 0);
    tsagg_log_reader_close(rd);
    return n;
}

Test(maintain, retention_of_partitions_and_log)
{
    tsagg_store *st = open_store(NULL, NULL, 64 << 10);
    int64_t now = wall_us();
    int64_t old_from = now / HOUR_US * HOUR_US - 130 * DAY_US;
    int64_t new_from = now / HOUR_US * HOUR_US - 5 * DAY_US;
    /* Old events in segments of their own, then the new ones. */
    for (int i = 0; i < 4; i++) {
        append_span(st, 1500, old_from + i * 5 * DAY_US, 5 * DAY_US / 1500, 20, 1500 * (uint64_t)i);
        cr_assert_eq(tsagg_log_roll(st), 0);
    }
    append_span(st, 4000, new_from, 4 * DAY_US / 4000, 20, 6000);
    cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
    cr_assert_eq(tu_count_events(st, old_from - DAY_US, now + DAY_US), 10000);
    char parts[700], logdir[700];
    snprintf(parts, sizeof parts, "%s/parts", tu_store);
    snprintf(logdir, sizeof logdir, "%s/log", tu_store);
    int files_before = count_files(parts, ".tpart"), segs_before = count_files(logdir, ".tlog");
    cr_assert_gt(segs_before, 3);
    cr_assert_eq(manifest_version(), 2);

    tsagg_maintain_options mo;
    tsagg_maintain_options_init(&mo);
    mo.retention_days_parts = 30;
    mo.retention_days_log = 30;
    tsagg_maintain_stats s = {.struct_size = sizeof s};
    cr_assert_eq(tsagg_maintain(st, &mo, &s), 0);
    cr_expect_gt(s.partitions_dropped, 0);
    cr_expect_eq(s.rows_dropped, 6000);
    cr_expect_gt(s.segments_dropped, 0);
    cr_expect_eq(s.log_start_seq, 6001, "the log starts at %" PRIu64, s.log_start_seq);
    /* Gone from queries and disk; nothing newer is. */
    cr_expect_eq(tu_count_events(st, old_from - DAY_US, now + DAY_US), 4000);
    cr_expect_eq(tu_count_events(st, new_from, now + DAY_US), 4000);
    cr_expect_eq(count_files(parts, ".tpart"), files_before - (int)s.partitions_dropped);
    cr_expect_eq(count_files(logdir, ".tlog"), segs_before - (int)s.segments_dropped);
    uint64_t first;
    cr_expect_eq(log_events(st, &first), 4000);
    cr_expect_eq(first, 6001);
    cr_expect_eq(manifest_version(), 3);
    /* A second pass finds nothing more. */
    cr_assert_eq(tsagg_maintain(st, &mo, &s), 0);
    cr_expect_eq(s.partitions_dropped + s.segments_dropped, 0);

    /* Rebuilding what the log no longer holds is refused, saying why. */
    tsagg_rebuild_options ro;
    tsagg_rebuild_options_init(&ro);
    ro.from = old_from;
    ro.to = old_from + DAY_US;
    cr_expect_eq(tsagg_rebuild(st, &ro, NULL), TSAGG_EARG);
    char msg[512];
    tsagg_store_errmsg(st, msg, sizeof msg);
    cr_expect(strstr(msg, "retention removed") && strstr(msg, "sequence 6001"), "%s", msg);
    ro.from = new_from;
    ro.to = now + HOUR_US;
    cr_expect_eq(tsagg_rebuild(st, &ro, NULL), 0);
    cr_expect_eq(tu_count_events(st, old_from - DAY_US, now + DAY_US), 4000);
    cr_assert_eq(tsagg_store_close(st), 0);

    /* A log that starts after 1 as recorded: open, verify and append. */
    st = open_store(NULL, NULL, 64 << 10);
    tsagg_verify_stats vs = {.struct_size = sizeof vs};
    cr_expect_eq(tsagg_verify(st, NULL, NULL, &vs), 0);
    cr_expect_eq(vs.problems, 0);
    append_span(st, 10, new_from, 1000000, 3, 20000);
    cr_expect_eq(tu_count_events(st, old_from - DAY_US, now + DAY_US), 4010);
    cr_assert_eq(tsagg_store_close(st), 0);

    /* A version-3 manifest whose log start is not one retention writes
     * (segment 1), checksum fixed up: damage, named. */
    char mpath[700];
    snprintf(mpath, sizeof mpath, "%s/MANIFEST", tu_store);
    FILE *f = fopen(mpath, "r+b");
    cr_assert(f);
    uint8_t buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf, f);
    cr_assert_gt(len, 88);
    memset(buf + 48, 0, 8);
    buf[48] = 1;
    uint64_t h = XXH64(buf, len - 8, 0);
    for (int i = 0; i < 8; i++)
        buf[len - 8 + (size_t)i] = (uint8_t)(h >> (8 * i));
    cr_assert_eq(fseek(f, 0, SEEK_SET), 0);
    cr_assert_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
    tsagg_options ro_opts;
    tsagg_options_init(&ro_opts);
    cr_assert_eq(tsagg_store_open(tu_store, &ro_opts, &st, NULL, 0), 0);
    uint64_t seq;
    cr_expect_eq(tsagg_compacted_seq(st, &seq), TSAGG_ECORRUPT);
    char msg2[512];
    tsagg_store_errmsg(st, msg2, sizeof msg2);
    cr_expect(strstr(msg2, "bad log start at offset 48"), "%s", msg2);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* Called by tsagg_verify for each problem: keep the first detail. */
static void first_problem(void *ctx, const tsagg_verify_problem *p)
{
    char *buf = ctx;
    if (!buf[0])
        snprintf(buf, 512, "%s", p->detail);
}

Test(maintain, missing_first_segment_is_damage)
{
    tsagg_store *st = open_store(NULL, NULL, 64 << 10);
    int64_t base = wall_us() / HOUR_US * HOUR_US - 2 * DAY_US;
    append_span(st, 3000, base, 1000000, 10, 0);
    cr_assert_eq(tsagg_log_roll(st), 0);
    append_span(st, 3000, base + 3000 * INT64_C(1000000), 1000000, 10, 3000);
    cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
    cr_assert_eq(tsagg_store_close(st), 0);
    char seg[700];
    snprintf(seg, sizeof seg, "%s/log/0000000000000001.tlog", tu_store);
    cr_assert_eq(unlink(seg), 0);
    /* Read-only: queries still answer, verify says what is missing. */
    tsagg_options o;
    tsagg_options_init(&o);
    char err[512];
    cr_assert_eq(tsagg_store_open(tu_store, &o, &st, err, sizeof err), 0, "%s", err);
    char detail[512] = "";
    tsagg_verify_stats vs = {.struct_size = sizeof vs};
    cr_expect_eq(tsagg_verify(st, first_problem, detail, &vs), TSAGG_ECORRUPT);
    cr_expect_eq(vs.problems, 1);
    cr_expect(strstr(detail, "should start at segment 1") && strstr(detail, "is 2"), "%s",
              detail);
    cr_assert_eq(tsagg_store_close(st), 0);
    /* A writer does not build on it. */
    o.flags = TSAGG_OPEN_WRITE;
    cr_expect_eq(tsagg_store_open(tu_store, &o, &st, err, sizeof err), TSAGG_ECORRUPT);
    cr_expect(strstr(err, "should start at segment 1"), "%s", err);
}

/* ---- failures -------------------------------------------------------------- */

Test(maintain, sticky_failure_seen_by_host_then_recovered)
{
    faultio fio;
    faultio_init(&fio, NULL);
    tsagg_maintain_options mo;
    tsagg_maintain_options_init(&mo);
    mo.interval_ms = 10;
    mo.compact_tail_events = 1;
    /* Every publish of a manifest fails. */
    faultio_arm_filtered(&fio, FIO_RENAME, FIO_FAIL, 1, 0, -EIO, 0, "MANIFEST", 0);
    tsagg_store *st = open_store(&mo, faultio_table(&fio), 0);
    int64_t base = wall_us() / HOUR_US * HOUR_US - DAY_US;
    append_span(st, 1000, base, 1000000, 5, 0);
    tsagg_maintain_stats s = {.struct_size = sizeof s};
    for (int i = 0; i < 500; i++) {
        cr_assert_eq(tsagg_maintenance_status(st, &s), 0);
        if (s.consecutive_failures >= 2)
            break;
        usleep(10 * 1000);
    }
    cr_assert_geq(s.consecutive_failures, 2, "failures: %u", s.consecutive_failures);
    cr_expect_eq(s.last_error, -EIO);
    cr_expect(strstr(s.last_error_msg, "MANIFEST"), "message: %s", s.last_error_msg);
    cr_expect_neq(s.last_error_us, 0);
    cr_expect_eq(s.tail_events, 1000);
    /* Nothing lost meanwhile; the step called by the host fails too. */
    cr_expect_eq(tu_count_events(st, base - DAY_US, base + 2 * DAY_US), 1000);
    tsagg_maintain_stats one = {.struct_size = sizeof one};
    tsagg_maintain_options now;
    tsagg_maintain_options_init(&now);
    now.flags = TSAGG_MAINTAIN_NOW;
    cr_expect_eq(tsagg_maintain(st, &now, &one), -EIO);
    cr_expect_eq(one.last_error, -EIO);
    /* The disk is back: the thread's next try (after its backoff) works. */
    faultio_disarm(&fio, FIO_RENAME);
    for (int i = 0; i < 1000; i++) {
        cr_assert_eq(tsagg_maintenance_status(st, &s), 0);
        if (s.consecutive_failures == 0 && s.tail_events == 0)
            break;
        usleep(10 * 1000);
    }
    cr_expect_eq(s.consecutive_failures, 0);
    cr_expect_eq(s.tail_events, 0);
    cr_expect_eq(s.last_error, -EIO, "the last failure stays visible");
    cr_expect_geq(s.last_success_us, s.last_error_us);
    cr_expect_eq(tu_count_events(st, base - DAY_US, base + 2 * DAY_US), 1000);
    uint64_t compacted = 0;
    cr_assert_eq(tsagg_compacted_seq(st, &compacted), 0);
    cr_expect_eq(compacted, 1000);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* The hour being written gets a file per compaction: merged every
 * merge_span_files of them, not at every step. */
Test(maintain, live_hour_merged_at_file_count)
{
    tsagg_store *st = open_store(NULL, NULL, 0);
    char parts[700];
    snprintf(parts, sizeof parts, "%s/parts", tu_store);
    int64_t now = wall_us(), hour = now / HOUR_US * HOUR_US; /* all in this hour */
    tsagg_maintain_options mo;
    tsagg_maintain_options_init(&mo);
    mo.flags = TSAGG_MAINTAIN_NOW;
    mo.merge_span_files = 4;
    tsagg_maintain_stats s = {.struct_size = sizeof s};
    for (uint64_t i = 0; i < 3; i++) {
        append_span(st, 10, hour + 1000000 * (int64_t)i, 1, 3, 100 * i);
        cr_assert_eq(tsagg_maintain(st, &mo, &s), 0);
        cr_expect_eq(s.files_merged, 0, "step %" PRIu64 " merged", i);
    }
    int hour_files = count_files(parts, ".tpart");
    cr_expect_geq(hour_files, 3, "%d files", hour_files);
    append_span(st, 10, hour + 4000000, 1, 3, 300);
    cr_assert_eq(tsagg_maintain(st, &mo, &s), 0);
    cr_expect_geq(s.files_merged, 4);
    cr_expect_eq(count_files(parts, ".tpart"), hour_files + 1 - (int)s.files_merged + 1);
    cr_expect_eq(tu_count_events(st, now - DAY_US, now + DAY_US), 40);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* The hour being written is merged by its newest files: a big file of
 * earlier merges is not rewritten with every few small ones. */
Test(maintain, live_hour_merges_leave_its_big_file)
{
    tsagg_store *st = open_store(NULL, NULL, 0);
    int64_t now = wall_us(), hour = now / HOUR_US * HOUR_US;
    tsagg_maintain_options mo;
    tsagg_maintain_options_init(&mo);
    mo.flags = TSAGG_MAINTAIN_NOW;
    mo.merge_span_files = 4;
    tsagg_maintain_stats s = {.struct_size = sizeof s};
    append_span(st, 1000, hour, 1000, 3, 0);
    cr_assert_eq(tsagg_maintain(st, &mo, &s), 0);
    uint64_t merged = 0;
    for (uint64_t i = 0; i < 4; i++) {
        append_span(st, 10, hour + 2000000 + 1000 * (int64_t)i, 1, 3, 1000 + 10 * i);
        cr_assert_eq(tsagg_maintain(st, &mo, &s), 0);
        merged += s.files_merged;
        if (i < 3)
            cr_expect_eq(s.files_merged, 0, "small file %" PRIu64 " merged the big one", i + 1);
    }
    cr_expect_eq(merged, 4, "%" PRIu64 " files merged: the four small ones only", merged);
    cr_expect_eq(tu_count_events(st, now - DAY_US, now + DAY_US), 1040);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* Queries reading the log tail while retention removes the segments
 * before it: none fails, none miscounts. */
typedef struct tail_reader {
    tsagg_store *st;
    int64_t from, to;
    uint64_t want;
    _Atomic int stop;
    uint64_t queries, wrong;
    int rc;
} tail_reader;

static void *read_tail(void *arg)
{
    tail_reader *t = arg;
    tsagg_result *r;
    cr_assert_eq(tsagg_result_create(&r), 0);
    tsagg_query q;
    tsagg_query_init(&q);
    q.flags = TSAGG_QUERY_ALL_MERCHANTS;
    q.from = t->from;
    q.to = t->to;
    q.bucket = TSAGG_BUCKET_TOTAL;
    while (!atomic_load(&t->stop)) {
        int rc = tsagg_query_run(t->st, &q, r);
        if (rc != 0) {
            t->rc = rc;
            break;
        }
        t->wrong += (uint64_t)tsagg_result_values(r, 0)[0] != t->want;
        t->queries++;
    }
    tsagg_result_free(r);
    return NULL;
}

Test(maintain, queries_beside_log_retention)
{
    tsagg_store *st = open_store(NULL, NULL, 64 << 10);
    int64_t now = wall_us();
    int64_t old_from = now / HOUR_US * HOUR_US - 200 * DAY_US;
    for (int i = 0; i < 60; i++) {
        append_span(st, 200, old_from + i * HOUR_US, 1000000, 5, 200 * (uint64_t)i);
        cr_assert_eq(tsagg_log_roll(st), 0);
    }
    cr_assert_eq(tsagg_compact(st, NULL, NULL), 0);
    /* A tail of recent events, which every query reads from the log. */
    append_span(st, 500, now - HOUR_US, 1000000, 5, 100000);
    tail_reader t = {.st = st, .from = now - DAY_US, .to = now + DAY_US, .want = 500};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, read_tail, &t), 0);
    usleep(20 * 1000);
    tsagg_maintain_options mo;
    tsagg_maintain_options_init(&mo);
    mo.retention_days_log = 30;
    mo.compact_tail_events = mo.compact_tail_bytes = 0;
    mo.compact_tail_age_ms = 0;
    tsagg_maintain_stats s = {.struct_size = sizeof s};
    cr_assert_eq(tsagg_maintain(st, &mo, &s), 0, "%s", s.last_error_msg);
    usleep(20 * 1000);
    atomic_store(&t.stop, 1);
    pthread_join(th, NULL);
    cr_expect_eq(s.segments_dropped, 60);
    cr_expect_eq(t.rc, 0, "a query failed: %s", tsagg_strerror(t.rc));
    cr_expect_eq(t.wrong, 0, "%" PRIu64 " of %" PRIu64 " queries miscounted", t.wrong, t.queries);
    cr_expect_gt(t.queries, 0);
    cr_assert_eq(tsagg_store_close(st), 0);
}
