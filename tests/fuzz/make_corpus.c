/*
 * make_corpus.c - generate the seed corpus of the fuzz targets.
 *
 *   make_corpus OUTDIR [ZONEINFO_DIR]
 *
 * writes OUTDIR/<target>/<seed> for every target of tests/fuzz: a few small
 * valid inputs made with the library's own encoders and writers, and a few
 * broken ones (truncated, a flipped byte, a bad magic). For tz it copies
 * UTC, Asia/Kathmandu and Europe/Berlin from ZONEINFO_DIR (default
 * /usr/share/zoneinfo; tzdata is public domain). Deterministic: the same
 * library version writes the same bytes. Built by meson, not run by the
 * tests; the output is committed under tests/fuzz/corpus.
 */
#include <errno.h>
#include <lz4.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "encoding.h"
#include "hll.h"
#include "log_internal.h"
#include "partfile.h"
#include "tsagg_io.h"
#include "tsagg_store.h"

static const char *outdir;

static void die(const char *what)
{
    fprintf(stderr, "make_corpus: %s\n", what);
    exit(1);
}

static void mkdir_p(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        die(path);
}

static void put(const char *target, const char *name, const void *p, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", outdir, target);
    mkdir_p(path);
    snprintf(path, sizeof path, "%s/%s/%s", outdir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, len, f) != len || fclose(f) != 0)
        die(path);
}

/* Deterministic pseudo-random numbers (splitmix64). */
static uint64_t rng_state = 42;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- log frames ----------------------------------------------------------- */

#define NEV 12
static const char *const names[] = {"page_view", "add_to_cart", "purchase"};

static void make_events(tsagg_event *evs, tsagg_attr *attrs)
{
    for (int i = 0; i < NEV; i++) {
        tsagg_attr *a = &attrs[2 * i];
        a[0] = (tsagg_attr){.key = "path", .key_len = 4, .type = TSAGG_STR,
                            .v.s = {.ptr = "/checkout", .len = (uint32_t)(i % 10)}};
        a[1] = (tsagg_attr){.key = "amount", .key_len = 6, .type = TSAGG_F64,
                            .v.f = 12.5 * i};
        const char *name = names[i % 3];
        evs[i] = (tsagg_event){.ts = INT64_C(1700000000000000) + i * INT64_C(1500000),
                               .merchant = 1 + (uint64_t)(i % 2), .event = name,
                               .event_len = (uint32_t)strlen(name),
                               .flags = i % 4 == 0 ? TSAGG_EVENT_HAS_ID : 0,
                               .user = 1000 + (uint64_t)(i % 5), .session = 77,
                               .id = i % 4 == 0 ? 9000 + (uint64_t)i : 0,
                               .attrs = a, .nattrs = (uint32_t)(i % 3)};
    }
}

/* Frame of raw payload bytes with codec applied. */
static size_t frame(uint8_t *out, uint8_t encoding, uint8_t codec, const tsagg__buf *raw,
                    uint32_t count, uint64_t first_seq)
{
    uint8_t *payload = out + FRAME_HEADER_SIZE;
    frame_header h = {.type = FRAME_EVENTS, .codec = codec, .encoding = encoding,
                      .raw = (uint32_t)raw->len, .first_seq = first_seq, .count = count,
                      .min_ts = INT64_C(1700000000000000),
                      .max_ts = INT64_C(1700000000000000) + NEV * INT64_C(1500000)};
    if (codec == CODEC_NONE) {
        memcpy(payload, raw->p, raw->len);
        h.stored = (uint32_t)raw->len;
    } else if (codec == CODEC_LZ4) {
        int n = LZ4_compress_default((const char *)raw->p, (char *)payload, (int)raw->len,
                                     LZ4_compressBound((int)raw->len));
        if (n <= 0)
            die("lz4");
        h.stored = (uint32_t)n;
    } else {
        size_t n = ZSTD_compress(payload, ZSTD_compressBound(raw->len), raw->p, raw->len, 3);
        if (ZSTD_isError(n))
            die("zstd");
        h.stored = (uint32_t)n;
    }
    tsagg__frame_header_encode(&h, payload, out);
    return FRAME_HEADER_SIZE + h.stored;
}

static void corpus_log_frame(void)
{
    tsagg_event evs[NEV];
    tsagg_attr attrs[2 * NEV];
    make_events(evs, attrs);
    tsagg__encoder enc = {0};
    tsagg__buf rows = {0}, cols = {0};
    int64_t lo, hi;
    if (tsagg__record_encode(&enc, &rows, evs, NEV, 4096, &lo, &hi) != 0)
        die("record_encode");
    if (tsagg__columns_encode(&cols, evs, NEV) != 0)
        die("columns_encode");
    static uint8_t f[65536];
    size_t n;
    n = frame(f, ENC_ROWS, CODEC_NONE, &rows, NEV, 1);
    put("log_frame", "rows_none", f, n);
    put("log_frame", "broken_rows_truncated", f, n - 7);
    f[FRAME_HEADER_SIZE + 3] ^= 0x40;
    put("log_frame", "broken_rows_flipped", f, n);
    n = frame(f, ENC_ROWS, CODEC_LZ4, &rows, NEV, 100);
    put("log_frame", "rows_lz4", f, n);
    n = frame(f, ENC_ROWS, CODEC_ZSTD, &rows, NEV, 200);
    put("log_frame", "rows_zstd", f, n);
    n = frame(f, ENC_COLUMNS, CODEC_ZSTD, &cols, NEV, 300);
    put("log_frame", "columns_zstd", f, n);
    n = frame(f, ENC_COLUMNS, CODEC_NONE, &cols, NEV, 400);
    put("log_frame", "columns_none", f, n);
    memcpy(f, "TSFX", 4);
    put("log_frame", "broken_magic", f, n);

    seal_info s = {.last_seq = 411, .events = 12, .frames = 1,
                   .min_ts = INT64_C(1700000000000000), .max_ts = INT64_C(1700000018000000)};
    uint8_t seal[SEAL_FRAME_SIZE];
    tsagg__seal_encode(&s, 400, seal);
    put("log_frame", "seal", seal, sizeof seal);

    /* Raw payloads for the direct decoders: LE u16 count, then the bytes. */
    f[0] = NEV;
    f[1] = 0;
    memcpy(f + 2, rows.p, rows.len);
    put("log_frame", "raw_rows", f, 2 + rows.len);
    memcpy(f + 2, cols.p, cols.len);
    put("log_frame", "raw_columns", f, 2 + cols.len);

    tsagg__encoder_free(&enc);
    tsagg__buf_free(&rows);
    tsagg__buf_free(&cols);
}

/* ---- column blocks -------------------------------------------------------- */

enum { SEL_I64, SEL_U64, SEL_ID, SEL_U32, SEL_F64, SEL_STRTAB, SEL_COUNT };

/* Selector byte for sel whose top bits give dict_size 1 << shift. */
static uint8_t selector(unsigned sel, unsigned shift)
{
    for (unsigned b = shift << 3; b < (shift << 3) + 8; b++)
        if (b % SEL_COUNT == sel)
            return (uint8_t)b;
    die("selector");
    return 0;
}

static void put_block(const char *name, uint8_t sel, size_t n, const uint8_t *blk, size_t len)
{
    static uint8_t buf[65536];
    buf[0] = sel;
    buf[1] = (uint8_t)n;
    buf[2] = (uint8_t)(n >> 8);
    memcpy(buf + 3, blk, len);
    put("encoding", name, buf, 3 + len);
}

static void corpus_encoding(void)
{
    static uint8_t blk[65536];
    size_t w, n = 1000;
    static int64_t ts[1000];
    static uint64_t u[1000], ids[1000];
    static uint32_t codes[1000];
    static double d[1000];
    for (size_t i = 0; i < n; i++) {
        ts[i] = INT64_C(1700000000000000) + (int64_t)i * 1000000 + (i % 97 == 0 ? 5 : 0);
        u[i] = 5 + i / 300;
        ids[i] = rnd() % 7 == 0 ? rnd() : 0x1234567890abcdefull + i % 13;
        codes[i] = (uint32_t)(rnd() % 700);
        d[i] = (double)(rnd() % 100000) / 100.0;
    }
    if (tsagg__enc_i64(ts, n, blk, sizeof blk, &w) != 0)
        die("enc_i64");
    put_block("i64_ts", selector(SEL_I64, 0), n, blk, w);
    put_block("broken_i64_short", selector(SEL_I64, 0), n, blk, w - 3);
    if (tsagg__enc_words_using((const uint64_t *)ts, n, TSAGG_ENC_M_DOD, blk, sizeof blk, &w) != 0)
        die("enc dod");
    put_block("i64_dod", selector(SEL_I64, 0), n, blk, w);
    if (tsagg__enc_u64(u, n, blk, sizeof blk, &w) != 0)
        die("enc_u64");
    put_block("u64_merchants", selector(SEL_U64, 0), n, blk, w);
    if (tsagg__enc_id(ids, n, blk, sizeof blk, &w) != 0)
        die("enc_id");
    put_block("id_dict", selector(SEL_ID, 0), n, blk, w);
    if (tsagg__enc_words_using(ids, n, TSAGG_ENC_M_DICTREF, blk, sizeof blk, &w) != 0)
        die("enc dictref");
    put_block("id_dictref", selector(SEL_ID, 0), n, blk, w);
    if (tsagg__enc_words_using((const uint64_t *)ts, n, TSAGG_ENC_M_DELTAHUF, blk, sizeof blk,
                               &w) != 0)
        die("enc deltahuf");
    put_block("i64_deltahuf", selector(SEL_I64, 0), n, blk, w);
    if (tsagg__enc_words_using(ids, n, TSAGG_ENC_M_DICTREFHUF, blk, sizeof blk, &w) != 0)
        die("enc dictrefhuf");
    put_block("id_dictrefhuf", selector(SEL_ID, 0), n, blk, w);
    for (size_t i = 0; i < n; i++)
        codes[i] = (uint32_t)(rnd() % 4 ? rnd() % 3 : rnd() % 700);
    if (tsagg__enc_u32(codes, n, 1024, blk, sizeof blk, &w) != 0 || blk[0] != TSAGG_ENC_TAG_U32HUF)
        die("enc_u32 huf");
    put_block("u32_huf", selector(SEL_U32, 10), n, blk, w);
    for (size_t i = 0; i < n; i++)
        codes[i] = (uint32_t)(rnd() % 700);
    if (tsagg__enc_u32(codes, n, 1024, blk, sizeof blk, &w) != 0)
        die("enc_u32");
    put_block("u32_codes", selector(SEL_U32, 10), n, blk, w);
    put_block("broken_u32_small_dict", selector(SEL_U32, 4), n, blk, w);
    if (tsagg__enc_f64(d, n, blk, sizeof blk, &w) != 0)
        die("enc_f64");
    put_block("f64_dec", selector(SEL_F64, 0), n, blk, w);
    for (size_t i = 0; i < n; i++)
        d[i] = 1.0 / (double)(i + 3);
    if (tsagg__enc_f64_using(d, 200, TSAGG_ENC_M_XOR, blk, sizeof blk, &w) != 0)
        die("enc f64 xor");
    put_block("f64_xor", selector(SEL_F64, 0), 200, blk, w);

    const char *strs[] = {"", "page_view", "purchase", "/checkout?step=2"};
    size_t lens[] = {0, 9, 8, 16};
    if (tsagg__strtab_encode(strs, lens, 4, blk, sizeof blk, &w) != 0)
        die("strtab");
    put_block("strtab", selector(SEL_STRTAB, 0), 0, blk, w);
    blk[w - 20] ^= 0xff;
    blk[6] ^= 0x80; /* an offset out of order */
    put_block("broken_strtab", selector(SEL_STRTAB, 0), 0, blk, w);
}

/* ---- HLL sketches --------------------------------------------------------- */

static void put_sketch(const char *name, uint64_t inputs)
{
    tsagg__hll h;
    tsagg__hll_init(&h);
    for (uint64_t i = 0; i < inputs; i++)
        if (tsagg__hll_add(&h, i * 7919) != 0)
            die("hll_add");
    static uint8_t buf[TSAGG__HLL_SERIALIZED_MAX];
    int n = tsagg__hll_serialize(&h, buf, sizeof buf);
    if (n <= 0)
        die("hll_serialize");
    put("hll", name, buf, (size_t)n);
    if (inputs == 100) {
        put("hll", "broken_exact_truncated", buf, (size_t)n - 5);
        buf[0] = 9;
        put("hll", "broken_version", buf, (size_t)n);
    }
    if (inputs == 2000) {
        buf[n / 2] ^= 0x3f;
        put("hll", "broken_sparse_flipped", buf, (size_t)n);
    }
    tsagg__hll_fini(&h);
}

static void corpus_hll(void)
{
    put_sketch("empty", 0);
    put_sketch("exact_3", 3);
    put_sketch("exact_100", 100);
    put_sketch("sparse_2000", 2000);
    put_sketch("dense_100000", 100000);
}

/* ---- partition files ------------------------------------------------------ */

static void copy_file(const char *src, const char *target, const char *name, size_t trunc,
                      long flip)
{
    FILE *f = fopen(src, "rb");
    if (!f)
        die(src);
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (n == sizeof buf)
        die("file too large");
    if (trunc && trunc < n)
        n = trunc;
    if (flip >= 0 && (size_t)flip < n)
        buf[flip] ^= 0x01;
    put(target, name, buf, n);
}

/* nrows rows of `merchants` merchants in a span of `hours` hours, each
 * merchant's rows step_s seconds apart from the span start. */
/* step_s 0: rows of each merchant seconds to minutes apart, users and
 * sessions back from one row to hundreds, pages of a wide dictionary, so
 * that the file holds size-class blocks (DELTAHUF, DICTREFHUF, U32HUF). */
static void write_part(const char *name, size_t nrows, uint32_t merchants, uint32_t hours,
                       int64_t step_s)
{
    static char pages[16][8];
    for (int k = 0; k < 16; k++)
        snprintf(pages[k], sizeof pages[k], "/p%d", k);
    uint64_t pool[200], prev = 0;
    for (int k = 0; k < 200; k++)
        pool[k] = rnd();
    int64_t t = 0;
    tsagg_schema *schema;
    if (tsagg_schema_create_default(&schema) != 0)
        die("schema");
    size_t ndims = tsagg_schema_dimension_count(schema);
    size_t nm = tsagg_schema_measure_count(schema);
    const int64_t hour = INT64_C(1699999200000000); /* 2023-11-14 22:00 UTC */
    static const char *const dimvals[] = {"", "/", "/cart", "/checkout", "de", "np"};
    tsagg__row *rows = calloc(nrows, sizeof *rows);
    tsagg__str *dims = calloc(nrows * ndims + 1, sizeof *dims);
    double *meas = calloc(nrows * nm + 1, sizeof *meas);
    if (!rows || !dims || !meas)
        die("oom");
    for (size_t i = 0; i < nrows; i++) {
        tsagg__row *r = &rows[i];
        r->merchant = 1 + (uint64_t)(i * merchants / nrows);
        r->ts = hour + (int64_t)(i % (nrows / merchants)) * step_s * INT64_C(1000000);
        r->user = 100 + rnd() % 40;
        r->session = 500 + rnd() % 60;
        if (step_s == 0) {
            if (i == 0 || r->merchant != rows[i - 1].merchant)
                t = hour;
            t += (int64_t)(rnd() % (UINT64_C(1000000) << (r->merchant % 8)));
            r->ts = t;
            prev = rnd() % 2 ? prev : pool[rnd() % 200];
            r->user = r->session = prev;
        }
        r->flags = i % 3 == 0 ? TSAGG_EVENT_HAS_ID : 0;
        r->id = r->flags ? rnd() : 0;
        const char *ev = names[rnd() % 3];
        r->event = (tsagg__str){ev, (uint32_t)strlen(ev)};
        r->dims = dims + i * ndims;
        r->measures = meas + i * nm;
        for (size_t k = 0; k < ndims; k++) {
            const char *v = dimvals[(i + k) % 6];
            dims[i * ndims + k] = (tsagg__str){v, (uint32_t)strlen(v)};
        }
        if (step_s == 0) { /* 3 common pages, then hundreds of rare ones */
            static char rare[1 << 16][8];
            uint64_t x = rnd();
            if (x % 4)
                dims[i * ndims] = (tsagg__str){pages[x / 4 % 3], (uint32_t)strlen(pages[x / 4 % 3])};
            else {
                snprintf(rare[i % (1 << 16)], 8, "/r%u", (unsigned)(x / 4 % 600));
                dims[i * ndims] = (tsagg__str){rare[i % (1 << 16)], (uint32_t)strlen(rare[i % (1 << 16)])};
            }
        }
        for (size_t k = 0; k < nm; k++)
            meas[i * nm + k] = (i + k) % 4 == 0 ? NAN : (double)(i % 50) * 1.25;
    }
    char path[] = "/tmp/tsagg-corpus-XXXXXX";
    if (!mkdtemp(path))
        die("mkdtemp");
    char file[64];
    snprintf(file, sizeof file, "%s/p.tpart", path);
    tsagg__part_writer *w;
    if (tsagg__part_writer_open(tsagg_io_default(), file, hour, hours, schema, 7, &w) != 0)
        die("writer_open");
    tsagg__part_writer_no_sync(w);
    if (tsagg__part_writer_add(w, rows, nrows) != 0) {
        char msg[256];
        tsagg__part_writer_errmsg(w, msg, sizeof msg);
        die(msg);
    }
    if (tsagg__part_writer_finish(w, NULL) != 0)
        die("writer_finish");
    copy_file(file, "partfile", name, 0, -1);
    if (nrows == 300) {
        struct stat st;
        if (stat(file, &st) != 0)
            die("stat");
        copy_file(file, "partfile", "broken_truncated", (size_t)st.st_size - 9, -1);
        copy_file(file, "partfile", "broken_flipped_header", 0, 20);
        copy_file(file, "partfile", "broken_flipped_middle", 0, (long)st.st_size / 2);
    }
    unlink(file);
    rmdir(path);
    free(rows);
    free(dims);
    free(meas);
    tsagg_schema_free(schema);
}

static void corpus_partfile(void)
{
    write_part("one_merchant", 40, 1, 1, 15);
    write_part("three_merchants", 300, 3, 1, 15);
    write_part("one_event", 1, 1, 1, 15);
    /* A day: each merchant has a busy hour (a rollup) and a quiet one. */
    write_part("day_rollups", 1400, 2, 24, 6);
    write_part("day_size_classes", 5000, 20, 24, 0);
}

/* ---- zoneinfo ------------------------------------------------------------- */

static void corpus_tz(const char *zoneinfo)
{
    char src[1024];
    snprintf(src, sizeof src, "%s/Etc/UTC", zoneinfo);
    copy_file(src, "tz", "UTC", 0, -1);
    snprintf(src, sizeof src, "%s/Asia/Kathmandu", zoneinfo);
    copy_file(src, "tz", "Asia_Kathmandu", 0, -1);
    snprintf(src, sizeof src, "%s/Europe/Berlin", zoneinfo);
    copy_file(src, "tz", "Europe_Berlin", 0, -1);
    copy_file(src, "tz", "broken_Europe_Berlin_truncated", 700, -1);
    copy_file(src, "tz", "broken_Europe_Berlin_version", 0, 4);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: make_corpus OUTDIR [ZONEINFO_DIR]\n");
        return 2;
    }
    outdir = argv[1];
    mkdir_p(outdir);
    corpus_log_frame();
    corpus_encoding();
    corpus_hll();
    corpus_partfile();
    corpus_tz(argc > 2 ? argv[2] : "/usr/share/zoneinfo");
    return 0;
}
