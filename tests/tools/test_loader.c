/*
 * test_loader - fill a store with generated events for the tsagg-query
 * tests, independently of tsagg-ingest.
 *
 *   test_loader STORE [-n EVENTS] [-d DAYS] [-m MERCHANTS] [-s SEED]
 *               [--start TIME] [--dup F] [--late F] [--tail K] [--odd] [--display]
 *
 * The stream is the one `tsagg-gen` prints with the same options, so a
 * test can compute its reference from tsagg-gen's NDJSON. Every event but
 * the last K is appended and compacted in one run (one file per hour, so
 * client retries count once); the last K stay in the log tail. --odd adds
 * four page views of merchant 999999 at the start whose pages need quoting
 * or escaping: "a,b", "say \"hi\"", "two\nlines" and "bad\xff" (not UTF-8).
 * --display adds the dimensions "time" and "count" to the schema and page
 * views of merchant 999998 whose pages are wide, combining, control and
 * bidirectional characters, two of them with value 1e308 (their sum
 * overflows); docs of both in tests/tools/query.sh.
 * Exit codes: 0 done, 1 failure, 2 usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gagen.h"
#include "numtext.h"
#include "tsagg.h"

#define BATCH 4096

static int fail(tsagg_store *st, const char *what, int rc)
{
    char detail[512] = "";
    if (st)
        tsagg_store_errmsg(st, detail, sizeof detail);
    fprintf(stderr, "test_loader: %s: %s %s\n", what, tsagg_strerror(rc), detail);
    return 1;
}

/* Append the next n events of g (n == UINT64_MAX: all that are left). */
static int append_n(tsagg_store *st, gagen *g, uint64_t n, tsagg_event *batch)
{
    while (n > 0) {
        size_t want = n < BATCH ? (size_t)n : BATCH;
        size_t got = gagen_next(g, batch, want);
        if (got == 0)
            return 0;
        uint64_t seq;
        int rc = tsagg_append(st, batch, got, &seq);
        if (rc < 0)
            return fail(st, "append", rc);
        n -= got;
    }
    return 0;
}

/* Events whose group keys test CSV quoting and JSON escaping. */
static int append_odd(tsagg_store *st, int64_t ts)
{
    static const char *const pages[] = {"a,b", "say \"hi\"", "two\nlines", "bad\xff"};
    tsagg_attr attr = {.key = "page", .key_len = 4, .type = TSAGG_STR};
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        attr.v.s.ptr = pages[i];
        attr.v.s.len = (uint32_t)strlen(pages[i]);
        tsagg_event ev = {.ts = ts + (int64_t)i, .merchant = 999999, .event = "page_view",
                          .event_len = 9, .user = i + 1, .session = i + 1,
                          .attrs = &attr, .nattrs = 1};
        uint64_t seq;
        int rc = tsagg_append(st, &ev, 1, &seq);
        if (rc < 0)
            return fail(st, "append", rc);
    }
    return 0;
}

/* Events whose values test the table's display widths, its replacement of
 * characters that disturb a terminal, an overflowed sum and dimensions
 * named like other columns. */
static int append_display(tsagg_store *st, int64_t ts)
{
    static const char *const pages[] = {
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", /* three CJK characters, 6 columns */
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
        "\xf0\x9f\x98\x80x",                     /* an emoji and x, 3 columns */
        "e\xcc\x81",                              /* e and a combining acute, 1 column */
        "a\xc2\x85" "b",                         /* a C1 control (NEL) */
        "l\xe2\x80\xa8m",                         /* the line separator U+2028 */
        "\xe2\x80\xae" "evil",                     /* a right-to-left override */
    };
    for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++) {
        tsagg_attr attrs[4] = {
            {.key = "page", .key_len = 4, .type = TSAGG_STR,
             .v.s = {pages[i], (uint32_t)strlen(pages[i])}},
            {.key = "time", .key_len = 4, .type = TSAGG_STR, .v.s = {"t1", 2}},
            {.key = "count", .key_len = 5, .type = TSAGG_STR, .v.s = {"c1", 2}},
            {.key = "value", .key_len = 5, .type = TSAGG_F64, .v.f = i < 2 ? 1e308 : 1},
        };
        tsagg_event ev = {.ts = ts + (int64_t)i, .merchant = 999998, .event = "page_view",
                          .event_len = 9, .user = i + 1, .session = i + 1,
                          .attrs = attrs, .nattrs = 4};
        uint64_t seq;
        int rc = tsagg_append(st, &ev, 1, &seq);
        if (rc < 0)
            return fail(st, "append", rc);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dup", required_argument, NULL, 'D'},
        {"late", required_argument, NULL, 'L'},
        {"tail", required_argument, NULL, 'T'},
        {"start", required_argument, NULL, 'S'},
        {"odd", no_argument, NULL, 'O'},
        {"display", no_argument, NULL, 'W'},
        {NULL, 0, NULL, 0},
    };
    gagen_config cfg;
    uint64_t tail = 0;
    int c, odd = 0, display = 0;
    gagen_config_init(&cfg);
    while ((c = getopt_long(argc, argv, "n:d:m:s:", longopts, NULL)) != -1) {
        switch (c) {
        case 'n': cfg.events = strtoull(optarg, NULL, 10); break;
        case 'd': cfg.days = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'm': cfg.merchants = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 's': cfg.seed = strtoull(optarg, NULL, 10); break;
        case 'D': cfg.dup_fraction = tsagg__num_strtod(optarg, NULL); break;
        case 'L': cfg.late_fraction = tsagg__num_strtod(optarg, NULL); break;
        case 'T': tail = strtoull(optarg, NULL, 10); break;
        case 'O': odd = 1; break;
        case 'W': display = 1; break;
        case 'S':
            if (gagen_parse_ts(optarg, &cfg.start_us) != 0)
                return 2;
            break;
        default: return 2;
        }
    }
    if (optind + 1 != argc || tail > cfg.events) {
        fprintf(stderr, "usage: test_loader STORE [-n N] [-d D] [-m M] [-s S] "
                        "[--start T] [--dup F] [--late F] [--tail K] [--odd] [--display]\n");
        return 2;
    }
    gagen *g = gagen_create(&cfg);
    tsagg_event *batch = malloc(BATCH * sizeof *batch);
    if (!g || !batch) {
        fprintf(stderr, "test_loader: cannot create the generator\n");
        return 1;
    }

    tsagg_options opts;
    tsagg_options_init(&opts);
    opts.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    opts.sync_mode = TSAGG_SYNC_NONE; /* made durable by the flush below */
    tsagg_schema *schema = NULL;
    if (display) {
        if (tsagg_schema_create_default(&schema) != 0 ||
            tsagg_schema_add_dimension(schema, "time") != 0 ||
            tsagg_schema_add_dimension(schema, "count") != 0) {
            fprintf(stderr, "test_loader: cannot build the schema\n");
            return 1;
        }
        opts.schema = schema;
    }
    tsagg_store *st;
    char err[512];
    int rc = tsagg_store_open(argv[optind], &opts, &st, err, sizeof err);
    tsagg_schema_free(schema); /* not kept by the open */
    if (rc != 0) {
        fprintf(stderr, "test_loader: %s: %s %s\n", argv[optind], tsagg_strerror(rc), err);
        return 1;
    }
    int status = odd ? append_odd(st, cfg.start_us) : 0;
    if (status == 0 && display)
        status = append_display(st, cfg.start_us);
    if (status == 0)
        status = append_n(st, g, cfg.events - tail, batch);
    if (status == 0 && (rc = tsagg_flush(st)) != 0)
        status = fail(st, "flush", rc);
    if (status == 0) {
        tsagg_compact_options co;
        tsagg_compact_stats cs = {.struct_size = sizeof cs};
        tsagg_compact_options_init(&co);
        if ((rc = tsagg_compact(st, &co, &cs)) != 0)
            status = fail(st, "compact", rc);
    }
    if (status == 0)
        status = append_n(st, g, tail, batch);
    if ((rc = tsagg_store_close(st)) != 0 && status == 0)
        status = fail(NULL, "close", rc);
    free(batch);
    gagen_free(g);
    return status;
}
