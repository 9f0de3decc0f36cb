/*
 * embed.c - the smallest program embedding libtsagg, quoted by README.md:
 * open (or create) a store, append one event durably, close.
 *
 *   cc embed.c $(pkg-config --cflags --libs tsagg) -o embed && ./embed /tmp/shop
 */
#include <stdio.h>
#include <tsagg.h>

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "shop-analytics"; /* a directory */
    tsagg_options opts;
    tsagg_options_init(&opts);
    opts.flags = TSAGG_OPEN_WRITE | TSAGG_OPEN_CREATE;
    opts.sync_mode = TSAGG_SYNC_BATCH; /* append returns once durable */

    tsagg_store *st;
    char err[256];
    int rc = tsagg_store_open(path, &opts, &st, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "%s: %s: %s\n", path, tsagg_strerror(rc), err);
        return 1;
    }

    tsagg_attr attrs[] = {
        {.key = "page", .key_len = 4, .type = TSAGG_STR, .v.s = {"/pricing", 8}},
        {.key = "country", .key_len = 7, .type = TSAGG_STR, .v.s = {"DE", 2}},
    };
    tsagg_event ev = {
        .ts = 1794231901123000, /* microseconds, UTC */
        .merchant = 42, .event = "page_view", .event_len = 9,
        .user = tsagg_hash_id("c-1f3", 5), .session = tsagg_hash_id("s-9", 3),
        .attrs = attrs, .nattrs = 2,
    };
    uint64_t seq;
    rc = tsagg_append(st, &ev, 1, &seq); /* 0, or a negative tsagg/errno code */
    if (rc != 0) {
        tsagg_store_errmsg(st, err, sizeof err);
        fprintf(stderr, "append: %s: %s\n", tsagg_strerror(rc), err);
    } else {
        printf("event %llu is durable in %s\n", (unsigned long long)seq, path);
    }
    if (tsagg_store_close(st) != 0)
        rc = 1;
    return rc != 0;
}
