/*
 * partfile_format.h - on-disk layout of partition files (docs/format.md,
 * "Partition files"), and the internals shared by the partfile_*.c files
 * and rollup.c (block framing, rollups, the merchant index, the writer and
 * reader structs). The API is partfile.h.
 *
 * File: header, body blocks, the footer, the trailer. The body holds, in
 * the order the writer streams them: the column blocks of each row group
 * in column order, a merchant-hour's rollup block (if it has one) as soon
 * as the merchant-hour's rows end, a merchant's hour-segment block (if it
 * has one) as soon as its rows end; then the dictionary blocks; then the
 * merchant index pages. All integers little endian; varints are LEB128.
 *
 * Header, 64 bytes:
 *   offset size  field
 *   0      8     magic "TSAGGPRT"
 *   8      2     format version (3)
 *   10     2     reserved, 0
 *   12     4     header size (64)
 *   16     8     span start, µs since the epoch (a multiple of 3600e6)
 *   24     8     file id
 *   32     8     schema id (tsagg_schema_id of the footer's schema)
 *   40     8     row count
 *   48     4     span hours H, 1..744: the file holds ts in
 *                [start, start + H h)
 *   52     4     reserved, 0
 *   56     8     XXH64 (seed 0) of bytes [0, 56)
 *
 * Block, 24-byte header then S bytes:
 *   0      1     kind: 1 column, 2 dictionary, 3 rollup counts, 4 hour
 *                segments, 5 merchant index page, 6 rollup sketches
 *   1      1     codec: 0 none (S == R), 2 zstd frame (1, LZ4, is unused)
 *   2      2     column number (column, dictionary); the hour's offset from
 *                the span start in hours (rollup); 0 (hour segments, index
 *                page)
 *   4      4     ordinal: row group (column), string count (dictionary),
 *                merchant index mod 2^32 (rollup, hour segments), page
 *                number (index page)
 *   8      4     S, stored length
 *   12     4     R, raw length (at most PF_RAW_MAX)
 *   16     8     XXH3-64 (seed 0) of header bytes [0, 16) then the S bytes
 *   24     S     stored bytes: a column block (encoding.h), a string table
 *                (tsagg__strtab_encode), a rollup (rollup.c), hour segments
 *                or an index page (below), or the zstd frame of one
 *
 * Rollups: a counts block and a sketch block back to back per merchant-hour
 * with at least TSAGG__PART_ROLLUP_MIN_ROWS rows; minutes 0..59 from that
 * hour's start.
 *
 * Hour-segment block (raw), one per merchant with at least one rollup:
 *   varint n (>= 1)
 *   n x { varint hour offset from the span start, in hours (strictly
 *         increasing, < H); varint rows (>= 1); varint length L of the
 *         rollup's two blocks (0: none); when L > 0: varint offset of its
 *         counts block, as a delta
 *         from the previous rollup offset of this block (the first:
 *         absolute) }
 *   The rows add up to the merchant's rows; segment i starts at the
 *   merchant's first row plus the rows of segments 0 .. i-1.
 *
 * Merchant index page (raw), 256 merchants in increasing order (the last
 * page may hold fewer), per entry:
 *   varint merchant delta from the previous entry (the first: its id, equal
 *   to the page table's first merchant); varint rows (>= 1); varint (min ts
 *   - span start); varint (max ts - min ts); varint nsegments; when
 *   nsegments > 0: varint hour-segment block offset, varint its length
 *   (header included).
 *   Row ranges follow each other from the page table's first row.
 *
 * Footer (R raw bytes, stored as S bytes with the trailer's codec):
 *   0      8     rows
 *   8      8     merchants M
 *   16     8     min ts (0 when rows is 0)
 *   24     8     max ts (0 when rows is 0)
 *   32     4     row groups G
 *   36     2     columns C (7 + dimensions + measures)
 *   38     2     string columns D (1 + dimensions: event, then dimensions)
 *   40     4     rows per full row group (TSAGG__PART_GROUP_ROWS)
 *   44     4     L, schema encoding length
 *   48     8     bytes of all rollup blocks (headers included)
 *   56     8     bytes of all hour-segment blocks (headers included)
 *   64     L     schema encoding (tsagg__schema_encode)
 *   then D x 16  dictionaries: u64 block offset, u32 block length (header
 *                included), u32 string count
 *   then G x (48 + 12 C) row groups: u64 first row, u32 rows, u32 reserved
 *                0, i64 min ts, i64 max ts, u64 min merchant, u64 max
 *                merchant, C x { u64 block offset, u32 block length }
 *   then P x 32  index pages, P = ceil(M / 256): u64 first merchant, u64
 *                first row, u64 page block offset, u32 page block length,
 *                u32 entries
 *   The header, the column, dictionary and page blocks the footer lists
 *   and the rollup and segment bytes it states add up to the footer offset.
 *
 * Trailer, the last 48 bytes:
 *   0      8     footer offset F (the footer ends where the trailer begins)
 *   8      8     footer stored length S
 *   16     8     footer raw length R
 *   24     1     footer codec (0 or 2)
 *   25     7     reserved, 0
 *   32     8     XXH3-64 (seed 0) of the S footer bytes then trailer [0, 32)
 *   40     8     magic "TSPRTEND"
 */
#ifndef TSAGG_PARTFILE_FORMAT_H
#define TSAGG_PARTFILE_FORMAT_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "buf.h"
#include "dctxpool.h"
#include "encoding.h"
#include "hll.h"
#include "partfile.h"

#define PF_MAGIC "TSAGGPRT"
#define PF_VERSION 3
#define PF_HEADER_SIZE 64
#define PF_TRAILER_SIZE 48
#define PF_TRAILER_MAGIC "TSPRTEND"

#define PF_BLOCK_HEADER 24
#define PF_KIND_COLUMN 1
#define PF_KIND_DICT 2
#define PF_KIND_ROLLUP 3
#define PF_KIND_SEGMENTS 4
#define PF_KIND_PAGE 5
#define PF_KIND_SKETCH 6
#define PF_CODEC_NONE 0
#define PF_CODEC_ZSTD 2 /* same number as in log frames */
/* Largest raw length of a block or of the footer: bounds allocations. */
#define PF_RAW_MAX (1u << 30)
#define PF_ZSTD_LEVEL 3
/* zstd is kept for a block when it saves at least raw >> shift bytes: an
 * eighth in files of less than a day (written often, soon merged), a
 * thirty-second in day and month files (written once, kept for long: the
 * bytes count more than a decompression). Not part of the format: readers
 * follow each block's codec byte. Higher levels than 3 were measured too
 * and cost 1.5-3x the write CPU for 0.4-2% of a month file. */
#define PF_ZSTD_PAY_SHIFT_HOURS 3
#define PF_ZSTD_PAY_SHIFT_DAYS 5

/* The pay shift of a file of `hours` hours. */
static inline unsigned pf_zstd_pay_shift(uint32_t hours)
{
    return hours >= 24 ? PF_ZSTD_PAY_SHIFT_DAYS : PF_ZSTD_PAY_SHIFT_HOURS;
}
/* Blocks shorter than this are stored as they are (zstd cannot win). */
#define PF_ZSTD_MIN 64

#define PF_CORE_COLS 7
#define PF_FOOTER_FIXED 64
#define PF_DICT_ENTRY 16
#define PF_GROUP_FIXED 48
#define PF_GROUP_COL 12
#define PF_PAGE_ENTRY 32
/* Merchants per index page (all pages but the last hold exactly this). */
#define PF_PAGE_MERCHANTS 256
/* Longest raw index entry / hour segment: seven / four varints of at most
 * 10 bytes. */
#define PF_PAGE_ENTRY_MAX 70
#define PF_SEGMENT_MAX 40

/* ---- small growable buffer ---------------------------------------------- */


/* ---- columns --------------------------------------------------------------- */

/* Value type of a column, from its number and the schema's dimension count. */
enum pf_ctype { PF_T_I64, PF_T_U64, PF_T_ID, PF_T_CODE, PF_T_FLAGS, PF_T_F64 };

static inline enum pf_ctype pf_col_type(uint32_t col, uint32_t ndims)
{
    switch (col) {
    case TSAGG__COL_TS:
        return PF_T_I64;
    case TSAGG__COL_MERCHANT:
        return PF_T_U64;
    case TSAGG__COL_EVENT:
        return PF_T_CODE;
    case TSAGG__COL_USER:
    case TSAGG__COL_SESSION:
    case TSAGG__COL_ID:
        return PF_T_ID;
    case TSAGG__COL_FLAGS:
        return PF_T_FLAGS;
    default:
        return col < TSAGG__COL_DIM0 + ndims ? PF_T_CODE : PF_T_F64;
    }
}

/* Dictionary index of a string column (0 event, 1 + i dimension i), or -1. */
static inline int pf_dict_index(uint32_t col, uint32_t ndims)
{
    if (col == TSAGG__COL_EVENT)
        return 0;
    if (col >= TSAGG__COL_DIM0 && col < TSAGG__COL_DIM0 + ndims)
        return (int)(col - TSAGG__COL_DIM0) + 1;
    return -1;
}

/* The longest block (header included) a column of a group of `rows` may
 * have: the encoder's bound of its kind. */
static inline uint64_t pf_col_max_len(uint32_t ndims, uint32_t col, uint32_t rows)
{
    enum pf_ctype t = pf_col_type(col, ndims);
    enum tsagg_enc_kind k = t == PF_T_I64   ? TSAGG_ENC_I64
                            : t == PF_T_U64 ? TSAGG_ENC_U64
                            : t == PF_T_ID  ? TSAGG_ENC_ID
                            : t == PF_T_F64 ? TSAGG_ENC_F64
                                            : TSAGG_ENC_U32;
    return PF_BLOCK_HEADER + tsagg__enc_bound(k, rows);
}

/* Index pages of a file with m merchants. */
static inline uint64_t pf_pages(uint64_t m)
{
    return m / PF_PAGE_MERCHANTS + (m % PF_PAGE_MERCHANTS != 0);
}

static inline uint64_t pf_footer_size(uint32_t schema_len, uint32_t ncols, uint32_t ndicts,
                                      uint64_t ngroups, uint64_t nmerchants)
{
    return PF_FOOTER_FIXED + (uint64_t)schema_len + (uint64_t)ndicts * PF_DICT_ENTRY +
           ngroups * (PF_GROUP_FIXED + (uint64_t)PF_GROUP_COL * ncols) +
           pf_pages(nmerchants) * PF_PAGE_ENTRY;
}

/* Where a block is: file offset and length, header included. */
typedef struct pf_blockref {
    uint64_t off;
    uint32_t len;
} pf_blockref;

/* ---- blocks (partfile_block.c) ---------------------------------------------- */

typedef struct pf_block_header {
    uint8_t kind, codec;
    uint16_t column;
    uint32_t ordinal, stored, raw;
    uint64_t checksum;
} pf_block_header;

/*
 * Append one block (header and stored bytes) holding raw[0, raw_len) to out.
 * cctx (a ZSTD_CCtx, may be NULL: never compress) is tried when raw_len >=
 * PF_ZSTD_MIN; zstd is kept when it saves at least raw_len >> pay_shift
 * bytes (pf_zstd_pay_shift). 0, -ENOMEM, TSAGG_EARG (raw_len > PF_RAW_MAX).
 */
int tsagg__pf_block_append(tsagg__buf *out, void *cctx, unsigned pay_shift, uint8_t kind,
                           uint16_t column, uint32_t ordinal, const uint8_t *raw,
                           size_t raw_len);

/*
 * Check the len bytes of a block read from the file: checksum (then
 * TSAGG_ECHECKSUM), and that it is the block the caller expects (kind,
 * column, ordinal, S == len - 24, a known codec, R <= raw_max, S == R
 * without codec): TSAGG_ECORRUPT. *why gets a static reason on failure.
 */
int tsagg__pf_block_check(const uint8_t *blk, size_t len, uint8_t kind, uint16_t column,
                          uint32_t ordinal, uint32_t raw_max, pf_block_header *h,
                          const char **why);

/*
 * The raw bytes of a checked block: *raw points into blk (codec none) or
 * into *owned (zstd; malloc'ed, R bytes, the caller frees it). dctx is a
 * ZSTD_DCtx. 0, -ENOMEM, TSAGG_ECORRUPT (bad zstd frame or wrong length).
 */
int tsagg__pf_block_raw(const uint8_t *blk, const pf_block_header *h, void *dctx,
                        const uint8_t **raw, uint8_t **owned);

/* ---- rollups (rollup.c) ---------------------------------------------------- */

/*
 * A merchant-hour's rollup is two blocks, back to back: the counts block
 * (kind 3) and the sketch block (kind 6), both with the hour as column and
 * the merchant's number as ordinal; a hour segment's rollup length covers
 * both. Raw counts bytes (before the block's codec):
 *   varint n entries, varint nmeasures
 *   n x { u8 minute (0..59); varint event code; varint count (>= 1);
 *         when nmeasures > 0: varint mask (bit j: sum j is stored, i.e. its
 *         bits are not those of +0.0); one f64 per set bit, ascending j }
 *       (minute, event) strictly increasing
 * Raw sketch bytes:
 *   varint nnamed
 *   varint len, users sketch; varint len, sessions sketch
 *   nnamed x { varint event code (strictly increasing); varint len, users
 *              sketch; varint len, sessions sketch }
 * Sketches are tsagg__hll_serialize bytes, 1..TSAGG__HLL_SERIALIZED_MAX
 * long. A per-event sketch of length 0 (no bytes follow) is equal to the
 * merchant's sketch of the same kind (page_view's users usually are).
 */

/* One slot per event name of the current merchant. */
typedef struct pf_rslot {
    uint32_t event;
    uint64_t count; /* in the current minute */
    uint64_t rows;  /* in the hour */
    tsagg__hll users, sessions;
} pf_rslot;

/* Per-event sketches are kept for event names with at least this many rows
 * in the merchant-hour; below it, a query reads the user and session
 * columns of those rows instead, which costs less than storing 8 bytes per
 * distinct id for every small event. */
#define PF_NAMED_SKETCH_MIN_ROWS 1024

/* The rollup being built for the current merchant (writer side). */
typedef struct pf_rollup_acc {
    uint32_t nmeasures;
    int minute;              /* current minute, -1 before the first row */
    uint32_t gen;            /* merchant generation, stamps slot_gen */
    uint32_t *slot_of, *slot_gen; /* by event code */
    uint32_t codes_cap;
    pf_rslot *slots;         /* pooled: sketches keep their buffers */
    uint32_t nslots, slots_cap, slots_init;
    double *sums;            /* slots_cap x nmeasures, current minute */
    uint32_t *touched;       /* slots with rows in the current minute */
    uint32_t ntouched;
    tsagg__buf entries;          /* encoded entries of finished minutes */
    uint32_t nentries;
    tsagg__hll users, sessions;
} pf_rollup_acc;

void tsagg__pf_rollup_init(pf_rollup_acc *a, uint32_t nmeasures);
void tsagg__pf_rollup_fini(pf_rollup_acc *a);
/* Forget the previous merchant (keeps every buffer). */
void tsagg__pf_rollup_reset(pf_rollup_acc *a);
/* Add one row. minute 0..59 non-decreasing within a merchant. 0, -ENOMEM. */
int tsagg__pf_rollup_add(pf_rollup_acc *a, int minute, uint32_t event, uint64_t user,
                         uint64_t session, const double *measures);
/* Write the raw counts and sketch bytes of the current merchant-hour into
 * counts and sketches (replacing their contents). 0, -ENOMEM. */
int tsagg__pf_rollup_encode(pf_rollup_acc *a, tsagg__buf *counts, tsagg__buf *sketches);

/*
 * Parse raw counts bytes (raw, len) and, unless sk is NULL, raw sketch
 * bytes (sk, sk_len) into *out; without sketches out has none (users NULL,
 * nnamed 0). Takes ownership of raw and sk (malloc'ed) whatever the
 * result. Checks the structure, that nmeasures matches, event codes <
 * ndict_events and that the counts sum to rows: TSAGG_ECORRUPT (with a
 * reason in *why), -ENOMEM.
 */
int tsagg__pf_rollup_decode(uint8_t *raw, size_t len, uint8_t *sk, size_t sk_len,
                            uint32_t nmeasures, uint32_t nevents, uint64_t rows,
                            tsagg__rollup *out, const char **why);

/* ---- the writer (partfile_write.c, partfile_finish.c, partfile_dict.c) ----- */

/* Bytes buffered before the writer writes them out. */
#define PF_OUT_FLUSH (1u << 20)

/* A string column's dictionary being built: codes in first-seen order. */
#define PF_DICT_PTR_CACHE 256

typedef struct pf_wdict {
    tsagg__buf data;     /* the strings back to back */
    uint32_t *ends;  /* end offset of string i in data */
    uint32_t n, cap;
    uint64_t *tab;   /* open addressing: hash32 << 32 | (code + 1); 0 empty */
    uint32_t tmask;
    /* Codes of the strings met at these addresses during the current add
     * call: callers hand the same interned string for every row with that
     * value, so most lookups skip hashing. Valid for one call only, since
     * strings are borrowed for the call. */
    struct {
        const char *ptr;
        uint32_t len, code;
    } recent[PF_DICT_PTR_CACHE];
} pf_wdict;

/* Forget the addresses remembered during an add call. */
void tsagg__pf_dict_forget(pf_wdict *d);

/* A row of the current merchant-hour held back from its rollup: the
 * rollup is built only once the merchant-hour proves busy enough. */
typedef struct pf_held {
    uint32_t minute, event;
    uint64_t user, session;
} pf_held;

/* An hour segment of the writer's current merchant. */
typedef struct pf_wsegment {
    uint32_t hour;       /* offset from the span start, in hours */
    uint64_t rows;
    pf_blockref rollup;  /* len 0: none */
} pf_wsegment;

/* An index page's entry in the footer. (In the writer, ref.off is relative
 * to its page buffer until the pages are placed in the file.) */
typedef struct pf_pageref {
    uint64_t first_merchant, first_row;
    pf_blockref ref;
    uint32_t entries;
} pf_pageref;

struct tsagg__part_writer {
    const tsagg_io *io;
    char *path, *tmp;
    int fd;
    int no_sync; /* a scratch file: no fsync at finish */
    int failed; /* sticky error code, 0 while healthy */
    int64_t start;
    uint32_t hours;
    uint64_t file_id, schema_id;
    tsagg_schema *schema;
    uint32_t ndims, nmeasures, ncols;

    /* current row group */
    uint32_t grows;
    int64_t *ts;
    uint64_t *merchant, *user, *session, *id;
    uint32_t *event, *flags, *dims; /* dims: ndims x TSAGG__PART_GROUP_ROWS */
    double *meas;                   /* nmeasures x TSAGG__PART_GROUP_ROWS */

    /* finished row groups */
    tsagg__group_info *groups;
    pf_blockref *refs; /* ngroups x ncols */
    uint32_t ngroups, groups_cap;

    pf_wdict *dicts; /* 1 + ndims */
    /* Per column: the blocks in a row zstd did not pay for, and the row
     * group it was last tried on (partfile_write.c, column_block). */
    uint8_t *zstd_misses;
    uint32_t *zstd_tried;

    /* the current merchant and its current hour */
    int in_merchant;
    uint64_t nmerchants;      /* begun so far: the current one is nmerchants - 1 */
    uint64_t m_merchant, m_row_start;
    int64_t m_min_ts;
    uint32_t cur_hour;        /* offset from the span start */
    uint64_t hour_row_start;
    pf_wsegment *segs;        /* the merchant's hours so far */
    uint32_t nsegs, segs_cap, nrollups;
    pf_rollup_acc roll;       /* of the current merchant-hour, once busy */
    pf_held *held;            /* its first TSAGG__PART_ROLLUP_MIN_ROWS - 1 rows */
    double *held_meas;        /* and their measures, nmeasures each */
    tsagg__buf rbuf;          /* raw rollup counts or segment bytes */
    tsagg__buf sbuf;          /* raw rollup sketch bytes */
    uint64_t rollup_bytes, segment_bytes;

    /* the merchant index */
    tsagg__buf page;          /* raw entries of the open page */
    uint32_t page_entries;
    uint64_t page_prev;       /* merchant of the page's last entry */
    tsagg__buf pages;         /* blocks of the finished pages */
    pf_pageref *ptab;
    uint64_t npages, ptab_cap;

    tsagg__buf out;    /* bytes not yet written; out.p[0] is at file offset base */
    uint64_t base;
    uint8_t *enc;  /* one encoded column block */
    size_t enc_cap;
    ZSTD_CCtx *cctx;
    unsigned zstd_pay_shift; /* pf_zstd_pay_shift(hours) */

    uint64_t rows;
    int64_t last_ts, min_ts, max_ts;
    uint64_t last_merchant;
    char errmsg[256];
};

int tsagg__pf_dict_init(pf_wdict *d);
void tsagg__pf_dict_free(pf_wdict *d);
/* The code of s, added when new. 0, -ENOMEM, -EFBIG (the table would
 * outgrow a block). */
int tsagg__pf_dict_intern(pf_wdict *d, const char *s, uint32_t len, uint32_t *code);

static inline const uint8_t *pf_dict_str(const pf_wdict *d, uint32_t c, uint32_t *len)
{
    uint32_t start = c ? d->ends[c - 1] : 0;
    *len = d->ends[c] - start;
    return d->data.p + start;
}

static inline uint64_t pf_out_pos(const tsagg__part_writer *w)
{
    return w->base + w->out.len;
}

/* Record a failure's detail and return rc; any rc but TSAGG_EARG also
 * fails the writer for good and removes its temporary file. */
int tsagg__pfw_fail(tsagg__part_writer *w, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Write the buffered bytes out. */
int tsagg__pfw_flush(tsagg__part_writer *w);
/* Buffer a block; *ref gets its place in the file. */
int tsagg__pfw_block(tsagg__part_writer *w, uint8_t kind, uint16_t col, uint32_t ordinal,
                     const uint8_t *raw, size_t len, pf_blockref *ref);
/* Encode the current row group. */
int tsagg__pfw_flush_group(tsagg__part_writer *w);

/* The merchant index (partfile_index.c). A merchant's rows begin at the
 * current row, in the hour (offset from the span start) of its first row. */
int tsagg__pfw_begin_merchant(tsagg__part_writer *w, uint64_t merchant, int64_t ts,
                              uint32_t hour);
/* The current merchant's rows move on to a later hour. */
int tsagg__pfw_next_hour(tsagg__part_writer *w, uint32_t hour);
/* Count a row of the current merchant-hour (its minute 0..59, event code,
 * ids, measures) towards the hour's rollup. */
int tsagg__pfw_rollup_row(tsagg__part_writer *w, int minute, uint32_t event, uint64_t user,
                          uint64_t session, const double *measures);
/* The current merchant's rows end: its last rollup, its hour segments and
 * its index entry. */
int tsagg__pfw_end_merchant(tsagg__part_writer *w);
/* After the dictionaries: the last page, then every page block. */
int tsagg__pfw_write_index(tsagg__part_writer *w);
/* Free everything; a temporary file still open is removed. */
void tsagg__pfw_free(tsagg__part_writer *w);

/* ---- the reader (partfile_open.c, partfile_read.c) -------------------------- */

/* A loaded dictionary: the string table, and a hash index for find built
 * on the first find (a query grouping by a dimension only turns codes into
 * strings, and hashing a large dictionary's every string cost more than
 * its reading). */
typedef struct pf_pdict {
    uint8_t *mem; /* owns the table's bytes */
    tsagg__strtab t;
    _Atomic(uint32_t *) idx; /* code + 1, 0 empty; NULL until the first find */
    uint32_t mask;           /* set before idx is published */
} pf_pdict;

/* A decoded index page: its entries, and where each entry's hour-segment
 * block is (len 0: none). */
typedef struct pf_dpage {
    tsagg__merchant_entry *e;
    pf_blockref *seg;
} pf_dpage;

struct tsagg__part {
    const tsagg_io *io;
    int fd;
    char *path;
    tsagg__part_info info;
    int64_t span_end;  /* start + hours h */
    uint64_t file_id, schema_id, body_end;
    tsagg_schema *schema;
    uint32_t ndims, nmeasures, ncols, ndicts, ngroups;
    tsagg__group_info *groups;
    pf_blockref *refs; /* ngroups x ncols */
    pf_blockref *drefs;
    uint32_t *dcount;
    pf_pageref *ptab;
    uint64_t npages;
    uint64_t rollup_bytes, segment_bytes, page_bytes;
    _Atomic(pf_pdict *) *dicts; /* loaded on first use */
    _Atomic(pf_dpage *) *pages; /* decoded on first use */
    pthread_mutex_t load_mu, err_mu;
    tsagg__dctx_pool *dctx; /* own_dctx, or the opener's shared pool */
    tsagg__dctx_pool own_dctx;
    char errmsg[512];
};

/* Record a failure's detail in the reader (tsagg__part_errmsg); returns rc. */
int tsagg__pf_perr(tsagg__part *p, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * Read and check the block at ref (kind, column, ordinal, raw length at
 * most raw_max; `what` names it in messages). On success *mem is a
 * malloc'ed buffer to free and *raw, *raw_len its raw bytes (inside *mem).
 */
int tsagg__pf_read_block(tsagg__part *p, pf_blockref ref, uint8_t kind, uint16_t col,
                         uint32_t ordinal, uint32_t raw_max, const char *what, uint8_t **mem,
                         const uint8_t **raw, size_t *raw_len);
/* Read the bytes of ref into *buf (malloc'ed): 0, or an error as
 * tsagg__pf_read_block's, *buf NULL. */
int tsagg__pf_read_range(tsagg__part *p, pf_blockref ref, const char *what, uint8_t **buf);
/* Check and decode the block of len bytes at buf, read from offset off:
 * *raw points into buf (codec none) or into *owned (malloc'ed, else NULL).
 * Errors as tsagg__pf_read_block's. */
int tsagg__pf_block_at(tsagg__part *p, const uint8_t *buf, size_t len, uint64_t off,
                       uint8_t kind, uint16_t col, uint32_t ordinal, uint32_t raw_max,
                       const char *what, const uint8_t **raw, uint8_t **owned, size_t *raw_len);

/* Whether a block reference lies inside the body (and is at most max_len). */
static inline int pf_ref_ok(const tsagg__part *p, uint64_t off, uint64_t len, uint64_t max_len)
{
    return off >= PF_HEADER_SIZE && off <= p->body_end && len >= PF_BLOCK_HEADER &&
           len <= p->body_end - off && len <= max_len;
}

/* Free the decoded pages (partfile_lookup.c). */
void tsagg__pf_pages_free(tsagg__part *p);

#endif
