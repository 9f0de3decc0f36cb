/*
 * test_salvage.c - a store whose log and manifest disagree or are damaged,
 * and the ways back: TSAGG_OPEN_SALVAGE, and compacting a lost manifest
 * again.
 *
 * Invariants checked:
 *   - a log that ends below the position MANIFEST records as compacted is
 *     refused by every open (and reported by tsagg_verify): new events must
 *     never get numbers the manifest counts as compacted;
 *   - a salvaging open accepts that loss: the compacted position comes
 *     down to the log's end, partitions keep their events, new events are
 *     counted once (in the tail, then compacted);
 *   - a bad frame in the live segment stops writers until a salvaging open
 *     cuts the segment there, keeping the cut bytes aside; meanwhile
 *     queries answer the partitions plus the log before the bad frame, with
 *     a warning naming it;
 *   - a damaged or missing MANIFEST (beside partition files) is repairable:
 *     removing it and compacting restores every count.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "tsagg.h"

TestSuite(salvage, .init = tu_store_setup, .fini = tu_store_teardown, .timeout = 60);

#define T0 INT64_C(1790000000000000) /* 2026-09-21, some hour */
#define HOUR INT64_C(3600000000)

/* ---- helpers ----------------------------------------------------------------- */

static tsagg_store *open_flags(uint32_t flags, int *rc_out, char *err, size_t errlen)
{
    tsagg_options o;
    tsagg_options_init(&o);
    o.flags = flags;
    tsagg_store *st = NULL;
    int rc = tsagg_store_open(tu_store, &o, &st, err, errlen);
    if (rc_out)
        *rc_out = rc;
    else
        cr_assert_eq(rc, 0, "open: %s (%s)", tsagg_strerror(rc), err);
    return st;
}

static tsagg_store *open_writer(void)
{
    char err[512];
    return open_flags(TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE, NULL, err, sizeof err);
}

/* Append n events, one call (one frame) each batch of `per` events, spread
 * over three hours. Returns the first sequence number. */
static uint64_t append(tsagg_store *st, size_t n, size_t per)
{
    uint64_t first = 0;
    for (size_t done = 0; done < n; done += per) {
        tsagg_event evs[64];
        size_t k = n - done < per ? n - done : per;
        cr_assert_leq(k, 64);
        for (size_t i = 0; i < k; i++)
            evs[i] = (tsagg_event){.ts = T0 + (int64_t)((done + i) % 3) * HOUR + 1000,
                                   .merchant = 1 + (done + i) % 2, .event = "page_view",
                                   .event_len = 9, .user = done + i};
        uint64_t seq;
        int rc = tsagg_append(st, evs, k, &seq);
        cr_assert_eq(rc, 0, "append: %s", tsagg_strerror(rc));
        if (done == 0)
            first = seq;
    }
    return first;
}

static void compact(tsagg_store *st)
{
    tsagg_compact_stats cs = {.struct_size = sizeof cs};
    int rc = tsagg_compact(st, NULL, &cs);
    char err[512];
    tsagg_store_errmsg(st, err, sizeof err);
    cr_assert_eq(rc, 0, "compact: %s (%s)", tsagg_strerror(rc), err);
}

/* Events counted over the three hours, all merchants, with the tail. */
static double count_events(tsagg_store *st)
{
    tsagg_query q;
    tsagg_query_init(&q);
    q.flags = TSAGG_QUERY_ALL_MERCHANTS;
    q.from = T0 - HOUR;
    q.to = T0 + 4 * HOUR;
    q.bucket = TSAGG_BUCKET_TOTAL;
    tsagg_result *r;
    cr_assert_eq(tsagg_result_create(&r), 0);
    int rc = tsagg_query_run(st, &q, r);
    char err[512];
    tsagg_store_errmsg(st, err, sizeof err);
    cr_assert_eq(rc, 0, "query: %s (%s)", tsagg_strerror(rc), err);
    double n = tsagg_result_values(r, 0)[0];
    tsagg_result_free(r);
    return n;
}

static void seg_path(uint64_t n, char *buf, size_t len)
{
    snprintf(buf, len, "%s/log/%016" PRIx64 ".tlog", tu_store, n);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void spit(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(buf, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static void flip(const char *path, uint64_t at)
{
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    uint8_t b;
    cr_assert_eq(pread(fd, &b, 1, (off_t)at), 1);
    b ^= 0x41;
    cr_assert_eq(pwrite(fd, &b, 1, (off_t)at), 1);
    close(fd);
}

/* Offsets of the frames of a segment (64-byte header, then frames of a
 * 56-byte header whose u32 at +8 is the stored payload length). */
static size_t frame_offsets(const char *path, uint64_t *offs, size_t cap)
{
    size_t len, n = 0;
    uint8_t *b = slurp(path, &len);
    for (uint64_t off = 64; off + 56 <= len && n < cap;) {
        offs[n++] = off;
        uint32_t stored = (uint32_t)b[off + 8] | (uint32_t)b[off + 9] << 8 |
                          (uint32_t)b[off + 10] << 16 | (uint32_t)b[off + 11] << 24;
        off += 56 + stored;
    }
    free(b);
    return n;
}

typedef struct problems {
    int n;
    char file[64];
    int code, repairable;
    char detail[1024];
} problems;

static void on_problem(void *ctx, const tsagg_verify_problem *p)
{
    problems *ps = ctx;
    ps->n++;
    snprintf(ps->file, sizeof ps->file, "%s", p->file);
    snprintf(ps->detail, sizeof ps->detail, "%s", p->detail);
    ps->code = p->code;
    ps->repairable = p->repairable;
}

/* ---- a log shorter than the manifest's consumed position ----------------------- */

Test(salvage, log_behind_the_manifest_is_refused_then_salvaged)
{
    char seg[700], err[1024];
    seg_path(1, seg, sizeof seg);
    tsagg_store *st = open_writer();
    append(st, 40, 10);
    cr_assert_eq(tsagg_store_close(st), 0);
    size_t old_len;
    uint8_t *old_log = slurp(seg, &old_len); /* a backup of log/ taken now */

    st = open_writer();
    append(st, 60, 10);
    compact(st);
    cr_assert_eq(tsagg_store_close(st), 0);
    tsagg_store *before = open_flags(0, NULL, err, sizeof err);

    spit(seg, old_log, old_len); /* ... restored beside the newer MANIFEST */
    free(old_log);

    int rc;
    st = open_flags(0, &rc, err, sizeof err);
    cr_assert_eq(rc, TSAGG_ECORRUPT, "read-only open: %s (%s)", tsagg_errname(rc), err);
    cr_assert(strstr(err, "ends at sequence 40") && strstr(err, "100") &&
                  strstr(err, "--salvage"),
              "the message says where the log ends and how to recover: %s", err);
    st = open_flags(TSAGG_OPEN_WRITE, &rc, err, sizeof err);
    cr_assert_eq(rc, TSAGG_ECORRUPT, "writer open: %s (%s)", tsagg_errname(rc), err);
    cr_assert_null(st);

    /* A handle opened before the log was replaced: verify says so. */
    problems ps = {0};
    cr_assert_eq(tsagg_verify(before, on_problem, &ps, NULL), TSAGG_ECORRUPT);
    cr_assert_eq(ps.n, 1);
    cr_assert_str_eq(ps.file, "log");
    cr_assert_eq(ps.repairable, 0);
    cr_assert(strstr(ps.detail, "ends at sequence 40"), "%s", ps.detail);
    cr_assert_eq(tsagg_store_close(before), 0);

    /* Accepting the loss: numbers go on after the log's end, the manifest
     * no longer claims them, and nothing is counted twice or dropped. */
    st = open_flags(TSAGG_OPEN_WRITE | TSAGG_OPEN_SALVAGE, NULL, err, sizeof err);
    uint64_t compacted;
    cr_assert_eq(tsagg_compacted_seq(st, &compacted), 0);
    cr_assert_eq(compacted, 40);
    cr_assert_eq(append(st, 5, 5), 41);
    cr_assert_eq(count_events(st), 105.0, "100 compacted plus 5 in the tail");
    compact(st);
    cr_assert_eq(count_events(st), 105.0);
    cr_assert_eq(tsagg_store_close(st), 0);
    st = open_flags(0, NULL, err, sizeof err);
    cr_assert_eq(tsagg_verify(st, NULL, NULL, NULL), 0);
    cr_assert_eq(count_events(st), 105.0);
    cr_assert_eq(tsagg_store_close(st), 0);
}

Test(salvage, emptied_log_is_refused)
{
    char seg[700], err[1024];
    tsagg_store *st = open_writer();
    append(st, 30, 10);
    compact(st);
    cr_assert_eq(tsagg_store_close(st), 0);
    seg_path(1, seg, sizeof seg);
    cr_assert_eq(unlink(seg), 0);
    int rc;
    st = open_flags(TSAGG_OPEN_WRITE, &rc, err, sizeof err);
    cr_assert_eq(rc, TSAGG_ECORRUPT, "%s (%s)", tsagg_errname(rc), err);
    cr_assert(strstr(err, "ends at sequence 0"), "%s", err);
}

Test(salvage, salvage_needs_write)
{
    char err[512];
    tsagg_store_close(open_writer());
    int rc;
    open_flags(TSAGG_OPEN_SALVAGE, &rc, err, sizeof err);
    cr_assert_eq(rc, TSAGG_EARG);
}

/* ---- a damaged frame in the live segment ---------------------------------------- */

static void damaged_live_segment(int compacted_first)
{
    char seg[700], err[1024];
    seg_path(1, seg, sizeof seg);
    tsagg_store *st = open_writer();
    append(st, 100, 10); /* one frame per call: 10 frames */
    if (compacted_first)
        compact(st);
    cr_assert_eq(tsagg_store_close(st), 0);
    uint64_t offs[16];
    cr_assert_eq(frame_offsets(seg, offs, 16), 10);
    uint64_t size = tu_file_size(seg);
    flip(seg, offs[4] + 56 + 3); /* the payload of frame 5: events 41..50 */

    int rc;
    st = open_flags(TSAGG_OPEN_WRITE, &rc, err, sizeof err);
    cr_assert_eq(rc, TSAGG_ECORRUPT, "%s (%s)", tsagg_errname(rc), err);
    cr_assert(strstr(err, "--salvage"), "the message names the salvage: %s", err);
    cr_assert_eq(tu_file_size(seg), size, "a normal open changes nothing");

    st = open_flags(TSAGG_OPEN_WRITE | TSAGG_OPEN_SALVAGE, NULL, err, sizeof err);
    cr_assert_eq(tsagg_last_seq(st), 40, "cut at the bad frame");
    cr_assert_eq(tu_file_size(seg), offs[4]);
    char cut[800];
    snprintf(cut, sizeof cut, "%s.cut-%" PRIu64, seg, offs[4]);
    cr_assert_eq(tu_file_size(cut), size - offs[4], "the bytes cut off are kept aside");
    uint64_t compacted;
    cr_assert_eq(tsagg_compacted_seq(st, &compacted), 0);
    cr_assert_eq(compacted, compacted_first ? 40 : 0);
    cr_assert_eq(append(st, 7, 7), 41);
    /* Compacted before the damage: those 100 stay counted; otherwise the 40
     * before the bad frame are what is left. */
    cr_assert_eq(count_events(st), (compacted_first ? 100.0 : 40.0) + 7);
    compact(st);
    cr_assert_eq(count_events(st), (compacted_first ? 100.0 : 40.0) + 7);
    cr_assert_eq(tsagg_store_close(st), 0);

    st = open_flags(0, NULL, err, sizeof err);
    problems ps = {0};
    rc = tsagg_verify(st, on_problem, &ps, NULL);
    cr_assert_eq(rc, 0, "after the salvage: %s %s", ps.file, ps.detail);
    cr_assert_eq(tsagg_store_close(st), 0);
}

Test(salvage, damaged_live_segment_is_cut) { damaged_live_segment(0); }
Test(salvage, damaged_live_segment_after_compaction_is_cut) { damaged_live_segment(1); }

/* ---- queries beside the damage ---------------------------------------------------- */

/* Count over the three hours (all merchants, `flags` added) into r. */
static int run_count(tsagg_store *st, uint32_t flags, tsagg_result *r)
{
    tsagg_query q;
    tsagg_query_init(&q);
    q.flags = TSAGG_QUERY_ALL_MERCHANTS | flags;
    q.from = T0 - HOUR;
    q.to = T0 + 4 * HOUR;
    q.bucket = TSAGG_BUCKET_TOTAL;
    return tsagg_query_run(st, &q, r);
}

/* Five events named e0..e4 in one call (one frame), at T0. */
static void append_named(tsagg_store *st)
{
    static const char *const names[] = {"e0", "e1", "e2", "e3", "e4"};
    tsagg_event evs[5];
    for (int i = 0; i < 5; i++)
        evs[i] = (tsagg_event){.ts = T0 + 2000, .merchant = 1, .event = names[i],
                               .event_len = 2, .user = 7};
    cr_assert_eq(tsagg_append(st, evs, 5, NULL), 0);
}

Test(salvage, query_answers_up_to_damage_in_the_tail_with_a_warning)
{
    char seg[700], err[1024];
    seg_path(1, seg, sizeof seg);
    tsagg_store *st = open_writer();
    append(st, 40, 10);
    append_named(st);
    compact(st); /* events 1..45 in partitions */
    append(st, 60, 10); /* 46..105 in the tail, one frame per 10 */
    cr_assert_eq(tsagg_store_close(st), 0);
    uint64_t offs[16];
    cr_assert_eq(frame_offsets(seg, offs, 16), 11);
    flip(seg, offs[7] + 56 + 3); /* the payload of frame 8: events 66..75 */

    st = open_flags(0, NULL, err, sizeof err);
    tsagg_result *r;
    cr_assert_eq(tsagg_result_create(&r), 0);
    int rc = run_count(st, 0, r);
    tsagg_store_errmsg(st, err, sizeof err);
    cr_assert_eq(rc, 0, "query: %s (%s)", tsagg_errname(rc), err);
    cr_assert_eq(tsagg_result_values(r, 0)[0], 65.0,
                 "45 from partitions and the 20 events of the tail before the bad frame");
    const char *w = tsagg_result_warning(r);
    cr_assert_not_null(w, "a partial answer says so");
    char at[64];
    snprintf(at, sizeof at, "offset %" PRIu64, offs[7]);
    cr_assert(strstr(w, seg) && strstr(w, at) && strstr(w, "not counted"),
              "the warning names the file, the offset and what is left out: %s", w);

    /* A group-by answered in two passes (ranked on totals, then the series
     * of the top groups, read up to where the first pass stopped) keeps
     * the warning: 6 event names x 993,840 minutes pass
     * TSAGG_QUERY_MAX_ROWS. */
    tsagg_query q;
    tsagg_query_init(&q);
    q.flags = TSAGG_QUERY_ALL_MERCHANTS;
    q.from = T0 - 690 * 24 * HOUR;
    q.to = T0 + 4 * HOUR;
    q.bucket = TSAGG_BUCKET_MINUTE;
    q.group_by = "event";
    q.top = 2;
    rc = tsagg_query_run(st, &q, r);
    tsagg_store_errmsg(st, err, sizeof err);
    cr_assert_eq(rc, 0, "group-by: %s (%s)", tsagg_errname(rc), err);
    cr_assert_eq(tsagg_result_groups(r), 2);
    double views = 0;
    for (size_t i = 0; i < tsagg_result_rows(r); i++)
        if (!strcmp(tsagg_result_group(r, i), "page_view"))
            views += tsagg_result_values(r, 0)[i];
    cr_assert_eq(views, 60.0);
    w = tsagg_result_warning(r);
    cr_assert(w && strstr(w, at), "two passes: %s", w ? w : "(none)");

    /* Partitions alone read no log: nothing to warn of, and a result
     * reused from a partial answer no longer carries its warning. */
    rc = run_count(st, TSAGG_QUERY_NO_TAIL, r);
    cr_assert_eq(rc, 0, "%s", tsagg_errname(rc));
    cr_assert_eq(tsagg_result_values(r, 0)[0], 45.0);
    cr_assert_null(tsagg_result_warning(r));
    tsagg_result_free(r);
    cr_assert_eq(tsagg_store_close(st), 0);
}

Test(salvage, query_of_an_intact_log_has_no_warning)
{
    tsagg_store *st = open_writer();
    append(st, 30, 10);
    tsagg_result *r;
    cr_assert_eq(tsagg_result_create(&r), 0);
    cr_assert_null(tsagg_result_warning(r), "a new result has none");
    cr_assert_eq(run_count(st, 0, r), 0);
    cr_assert_eq(tsagg_result_values(r, 0)[0], 30.0);
    cr_assert_null(tsagg_result_warning(r));
    tsagg_result_free(r);
    cr_assert_eq(tsagg_store_close(st), 0);
}

/* ---- the manifest ---------------------------------------------------------------- */

Test(salvage, damaged_manifest_is_repairable_by_compacting_again)
{
    char path[700], err[512];
    tsagg_store *st = open_writer();
    append(st, 90, 10);
    compact(st);
    double want = count_events(st);
    cr_assert_eq(want, 90.0);
    cr_assert_eq(tsagg_store_close(st), 0);
    snprintf(path, sizeof path, "%s/MANIFEST", tu_store);
    flip(path, 30);

    st = open_flags(0, NULL, err, sizeof err);
    problems ps = {0};
    cr_assert_neq(tsagg_verify(st, on_problem, &ps, NULL), 0);
    cr_assert_eq(ps.n, 1);
    cr_assert_str_eq(ps.file, "MANIFEST");
    cr_assert_eq(ps.repairable, 1, "the log is intact: compacting again restores it");
    cr_assert_eq(tsagg_store_close(st), 0);

    /* The repair verify offers. */
    cr_assert_eq(unlink(path), 0);
    st = open_writer();
    compact(st);
    cr_assert_eq(count_events(st), want);
    cr_assert_eq(tsagg_verify(st, NULL, NULL, NULL), 0);
    cr_assert_eq(tsagg_store_close(st), 0);
}

Test(salvage, missing_manifest_beside_partitions_is_reported)
{
    char path[700], err[512];
    tsagg_store *st = open_writer();
    append(st, 60, 10);
    compact(st);
    cr_assert_eq(tsagg_store_close(st), 0);
    snprintf(path, sizeof path, "%s/MANIFEST", tu_store);
    cr_assert_eq(unlink(path), 0);

    st = open_flags(0, NULL, err, sizeof err);
    /* A crash in the first compaction leaves the same: said, not damage. */
    problems ps = {0};
    tsagg_verify_stats vs = {.struct_size = sizeof vs};
    cr_assert_eq(tsagg_verify(st, on_problem, &ps, &vs), 0);
    cr_assert_eq(ps.n, 0);
    cr_assert_gt(vs.unlisted_partitions, 0);
    cr_assert_eq(count_events(st), 60.0, "answers come from the log meanwhile");
    cr_assert_eq(tsagg_store_close(st), 0);

    st = open_writer();
    compact(st);
    cr_assert_eq(count_events(st), 60.0);
    cr_assert_eq(tsagg_verify(st, NULL, NULL, NULL), 0);
    cr_assert_eq(tsagg_store_close(st), 0);
}
