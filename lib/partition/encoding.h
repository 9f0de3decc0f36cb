/*
 * encoding.h - column block encodings of the compacted partitions (internal).
 *
 * The partition writer cuts each column into blocks of about a thousand
 * values and turns every block into bytes with one of the encoders below;
 * zstd on top and the per-block checksum are the partition file's business,
 * not this module's. The byte formats are specified in docs/encodings.md;
 * the tag values and layouts below are part of the on-disk format and never
 * change meaning.
 *
 * Conventions (all functions):
 *   - Reentrant, no global state, no allocation except where noted
 *     (tsagg__enc_id / DICT, DICTREF: one temporary malloc per call). Encoders use
 *     up to ~12 KB of stack, decoders ~3 KB.
 *   - Return 0 on success or a negative code (tsagg_errors.h):
 *       TSAGG_EARG     a NULL pointer where data is needed, n >
 *                      TSAGG_ENC_MAX_N, a code >= dict_size on encode, an
 *                      unknown method mask;
 *       -ENOBUFS       the output capacity is too small (encoders; *written
 *                      then holds the bytes needed, so a call with cap 0
 *                      measures a block);
 *       -ENOMEM        allocation failed (DICT analysis only);
 *       TSAGG_ECORRUPT the input bytes are not a block of this kind with
 *                      exactly n values (decoders): unknown tag, bad width,
 *                      truncated or trailing bytes, an exception or
 *                      dictionary code out of range. Decoders never read
 *                      outside [in, in + len) and never write outside
 *                      out[0..n), whatever the bytes.
 *   - On failure the contents of the output buffer are unspecified.
 *   - A block does not store its value count: the caller keeps n (the
 *     partition's block directory does) and passes it to the decoder, which
 *     checks that the block is exactly len bytes long for n values.
 *   - Every block starts with a one-byte tag naming its format, so a reader
 *     needs only the bytes and n. The encoders choose the smallest format
 *     their kind allows, per block.
 */
#ifndef TSAGG_ENCODING_H
#define TSAGG_ENCODING_H

#include <stddef.h>
#include <stdint.h>

/* Largest value count of one block (far above the ~1024 the partition
 * writer uses; it keeps every size computation clear of overflow). */
#define TSAGG_ENC_MAX_N (1u << 24)

/* Block tags, the first byte of every block. 0x00 is never a tag, so that
 * zeroed bytes are rejected. */
enum tsagg_enc_tag {
    TSAGG_ENC_TAG_RAW64 = 0x01,  /* n x u64 LE (also doubles, as bits) */
    TSAGG_ENC_TAG_RAW32 = 0x02,  /* n x u32 LE */
    TSAGG_ENC_TAG_FOR = 0x10,    /* PFOR section of the values */
    TSAGG_ENC_TAG_DELTA = 0x11,  /* PFOR section of v[i] - v[i-1] (v[-1] = 0) */
    TSAGG_ENC_TAG_DOD = 0x12,    /* PFOR section of delta-of-delta */
    TSAGG_ENC_TAG_DICT = 0x13,   /* local dictionary + bit-packed codes */
    TSAGG_ENC_TAG_DICTREF = 0x14, /* local dictionary + PFOR back-references */
    TSAGG_ENC_TAG_DELTAHUF = 0x15, /* size-class section of v[i] - v[i-1] */
    TSAGG_ENC_TAG_DICTREFHUF = 0x16, /* local dictionary + size-class back-references */
    TSAGG_ENC_TAG_U32FOR = 0x20, /* u32 frame of reference + bit packing */
    TSAGG_ENC_TAG_U32HUF = 0x21, /* u32 frame of reference + size-class section */
    TSAGG_ENC_TAG_F64DEC = 0x30, /* doubles as decimal-scaled integers */
    TSAGG_ENC_TAG_F64XOR = 0x31, /* doubles XOR previous, bit packed */
    TSAGG_ENC_TAG_STRTAB = 0x40, /* a string table (not a column block) */
};

/* Column kinds, for tsagg__enc_bound. */
enum tsagg_enc_kind {
    TSAGG_ENC_I64, /* signed integers, timestamps: tsagg__enc_i64 */
    TSAGG_ENC_U64, /* general unsigned: merchant ids, counters: tsagg__enc_u64 */
    TSAGG_ENC_ID,  /* hashed 64-bit ids (user, session, event): tsagg__enc_id */
    TSAGG_ENC_U32, /* dictionary codes: tsagg__enc_u32 */
    TSAGG_ENC_F64, /* doubles (measures): tsagg__enc_f64 */
};

/* Method bits for tsagg__enc_words_using / tsagg__enc_f64_using. */
#define TSAGG_ENC_M_RAW 0x01u   /* RAW64 */
#define TSAGG_ENC_M_FOR 0x02u   /* FOR */
#define TSAGG_ENC_M_DELTA 0x04u /* DELTA */
#define TSAGG_ENC_M_DOD 0x08u   /* DOD */
#define TSAGG_ENC_M_DICT 0x10u  /* DICT */
#define TSAGG_ENC_M_DEC 0x20u   /* F64DEC (doubles only) */
#define TSAGG_ENC_M_XOR 0x40u   /* F64XOR (doubles only) */
#define TSAGG_ENC_M_DICTREF 0x80u /* DICTREF */
#define TSAGG_ENC_M_DELTAHUF 0x100u /* DELTAHUF */
#define TSAGG_ENC_M_DICTREFHUF 0x200u /* DICTREFHUF */

/* The method sets of the kind encoders. */
#define TSAGG_ENC_METHODS_I64                                                                 \
    (TSAGG_ENC_M_RAW | TSAGG_ENC_M_FOR | TSAGG_ENC_M_DELTA | TSAGG_ENC_M_DOD | TSAGG_ENC_M_DELTAHUF)
#define TSAGG_ENC_METHODS_U64                                                                 \
    (TSAGG_ENC_M_RAW | TSAGG_ENC_M_FOR | TSAGG_ENC_M_DELTA | TSAGG_ENC_M_DELTAHUF)
#define TSAGG_ENC_METHODS_ID                                                                  \
    (TSAGG_ENC_M_RAW | TSAGG_ENC_M_FOR | TSAGG_ENC_M_DELTA | TSAGG_ENC_M_DICT |                \
     TSAGG_ENC_M_DICTREF | TSAGG_ENC_M_DELTAHUF | TSAGG_ENC_M_DICTREFHUF)
#define TSAGG_ENC_METHODS_F64 (TSAGG_ENC_M_RAW | TSAGG_ENC_M_DEC | TSAGG_ENC_M_XOR)

/* ------------------------------------------------------------------------
 * Bit packing (bitpack.c)
 *
 * Value i of width w occupies bits [i*w, i*w + w) of the packed stream;
 * bit b of the stream is bit (b % 8) of byte b / 8, and a value's bits go
 * least significant first (LSB-first, little-endian; Parquet's bit-packed
 * order). The stream is exactly ceil(n*w/8) bytes and the unused high bits
 * of the last byte are 0. The 32- and 64-bit functions produce identical
 * bytes for identical values and width.
 * ------------------------------------------------------------------------ */

/* Bytes of n values packed at width w: ceil(n*w/8). n <= TSAGG_ENC_MAX_N. */
size_t tsagg__bitpack_size(size_t n, unsigned w);

/* Pack v[0..n) at width w (0..64) into exactly tsagg__bitpack_size(n, w)
 * bytes at out. Bits of a value above w are ignored. 0, or TSAGG_EARG when
 * w > 64 or n > TSAGG_ENC_MAX_N. */
int tsagg__bitpack64(const uint64_t *v, size_t n, unsigned w, uint8_t *out);

/* As tsagg__bitpack64 for 32-bit values, w 0..32. */
int tsagg__bitpack32(const uint32_t *v, size_t n, unsigned w, uint8_t *out);

/* Unpack n values of width w from exactly tsagg__bitpack_size(n, w) bytes at
 * in into out[0..n). The hot path of every decoder: a kernel specialised
 * per width handles 8 values (w bytes) per step with constant shifts and no
 * branches, so ~1024 values take a few hundred nanoseconds; the last groups
 * go through a padded copy so that no byte past the stream is read. 0, or
 * TSAGG_EARG when w > 64 or n > TSAGG_ENC_MAX_N. */
int tsagg__bitunpack64(const uint8_t *in, size_t n, unsigned w, uint64_t *out);

/* As tsagg__bitunpack64 into 32-bit values, w 0..32. Tests only: the
 * decoders unpack through tsagg__bitunpack64. */
int tsagg__bitunpack32(const uint8_t *in, size_t n, unsigned w, uint32_t *out);

/* ------------------------------------------------------------------------
 * Column blocks
 * ------------------------------------------------------------------------ */

/* The largest block the kind encoder of `kind` produces for n values: 1 +
 * 8n (1 + 4n for TSAGG_ENC_U32), since every kind can fall back to its raw
 * format. 0 for an unknown kind or n > TSAGG_ENC_MAX_N. (The _using
 * encoders with RAW excluded may need more; they report it.) */
size_t tsagg__enc_bound(enum tsagg_enc_kind kind, size_t n);

/*
 * Encoders. Each takes n values (v may be NULL when n is 0), writes one block
 * of at most cap bytes at out, and stores its length in *written. When cap
 * is too small they write nothing, set *written to the size needed and
 * return -ENOBUFS; out may be NULL when cap is 0. An empty block (n == 0) is
 * always the single byte 0x01.
 *
 * tsagg__enc_i64: timestamps and other signed integers. Chooses among FOR,
 *   DELTA, DOD (all with exceptions, so that a few outliers such as the jump
 *   at a merchant boundary do not widen the whole block) and RAW64. Any
 *   int64 sequence round-trips (arithmetic is mod 2^64).
 * tsagg__enc_u64: general unsigned integers (merchant ids, counters): FOR,
 *   DELTA (sorted merchant column: mostly zero deltas), RAW64.
 * tsagg__enc_id: hashed ids, uniformly random bits: a per-block local
 *   dictionary when values repeat, each row then either a code (DICT) or
 *   the distance back to the row holding the same value (DICTREF: repeats
 *   of a user or session are close together in a merchant's rows), FOR,
 *   DELTA (ids a client numbers 1, 2, 3..., increasing within a merchant's
 *   rows), else RAW64. Allocates.
 * tsagg__enc_u32: dictionary codes, each < dict_size (TSAGG_EARG
 *   otherwise): U32FOR with the block's own range, which is at most
 *   ceil(log2(dict_size)) bits wide, or RAW32.
 * tsagg__enc_f64: doubles, bit-exact (NaN payloads, -0.0, inf): F64DEC when
 *   every value is an integer after scaling by 10^k, k <= 4, F64XOR, RAW64.
 */
int tsagg__enc_i64(const int64_t *v, size_t n, uint8_t *out, size_t cap, size_t *written);
int tsagg__enc_u64(const uint64_t *v, size_t n, uint8_t *out, size_t cap, size_t *written);
int tsagg__enc_id(const uint64_t *v, size_t n, uint8_t *out, size_t cap, size_t *written);
int tsagg__enc_u32(const uint32_t *codes, size_t n, uint32_t dict_size, uint8_t *out, size_t cap,
                   size_t *written);
int tsagg__enc_f64(const double *v, size_t n, uint8_t *out, size_t cap, size_t *written);

/* The 64-bit word encoder behind i64/u64/id, restricted to the methods in
 * the mask (TSAGG_ENC_M_RAW..DICT and DICTREF; TSAGG_EARG for other bits
 * or 0). Ties go
 * to the method listed first in the mask's bit order. For tests, tools and
 * writers that know their data. */
int tsagg__enc_words_using(const uint64_t *v, size_t n, unsigned methods, uint8_t *out,
                           size_t cap, size_t *written);

/* The double encoder restricted to methods (TSAGG_ENC_M_RAW, _DEC, _XOR). */
int tsagg__enc_f64_using(const double *v, size_t n, unsigned methods, uint8_t *out, size_t cap,
                         size_t *written);

/*
 * Decoders. Each decodes the block of exactly len bytes at in into out[0..n).
 * The three 64-bit integer decoders are one function: RAW64, FOR, DELTA,
 * DOD, DICT and DICTREF blocks are all 64-bit words, whichever encoder
 * wrote them.
 * tsagg__dec_u32 additionally checks that every code is < dict_size, so
 * that the caller may index its dictionary with the codes unchecked.
 * tsagg__dec_f64 reads RAW64, F64DEC and F64XOR blocks.
 */
int tsagg__dec_words(const uint8_t *in, size_t len, uint64_t *out, size_t n);
int tsagg__dec_i64(const uint8_t *in, size_t len, int64_t *out, size_t n);
int tsagg__dec_u64(const uint8_t *in, size_t len, uint64_t *out, size_t n);
int tsagg__dec_id(const uint8_t *in, size_t len, uint64_t *out, size_t n);
int tsagg__dec_u32(const uint8_t *in, size_t len, uint32_t *out, size_t n, uint32_t dict_size);
int tsagg__dec_f64(const uint8_t *in, size_t len, double *out, size_t n);

/* The tag of a block (its first byte) when it is a known tag, else
 * TSAGG_ECORRUPT (also for len 0). Does not validate the rest. Tests only:
 * which encoding the writer chose. */
int tsagg__enc_block_tag(const uint8_t *in, size_t len);

/* A short static name of a tag ("DELTA"), "?" for unknown values. Tests
 * only (their messages), and tsagg__enc_block_tag. */
const char *tsagg__enc_tag_name(int tag);

/* ------------------------------------------------------------------------
 * String tables (strtab.c): the dictionary of a string column, code ->
 * bytes. Layout: tag 0x40, u32 count, (count + 1) u32 offsets into the data
 * (offsets[0] = 0, non-decreasing, offsets[count] = data length), the data.
 * String i is data[offsets[i], offsets[i+1]): not NUL-terminated, may
 * contain any byte. Lookup is O(1) on the bytes themselves, no allocation.
 * ------------------------------------------------------------------------ */

/* Bytes of a table of `count` strings of total length `data_len`: 9 +
 * 4 * count + data_len; 0 when that exceeds the format's 32-bit offsets. */
size_t tsagg__strtab_size(uint32_t count, size_t data_len);

/* Encode strs[i] (lens[i] bytes each; a string may be NULL when its length
 * is 0) into out. Same cap / *written / -ENOBUFS contract as the block
 * encoders. TSAGG_EARG when the data exceeds 4 GiB. */
int tsagg__strtab_encode(const char *const *strs, const size_t *lens, uint32_t count,
                         uint8_t *out, size_t cap, size_t *written);

/* A validated view of table bytes; valid while the bytes are. */
typedef struct tsagg__strtab {
    const uint8_t *offs; /* (count + 1) u32 LE */
    const uint8_t *data;
    uint32_t count;
} tsagg__strtab;

/* Validate exactly len bytes as a string table and fill *t. O(count).
 * 0 or TSAGG_ECORRUPT. */
int tsagg__strtab_open(tsagg__strtab *t, const uint8_t *in, size_t len);

/* String `code` of an open table: *s and *len. TSAGG_EARG when code >=
 * t->count. */
int tsagg__strtab_get(const tsagg__strtab *t, uint32_t code, const char **s, size_t *len);

/* Linear search for the string s (len bytes): 1 and *code when found, 0
 * when not. Tests only: a filter value becomes a code through the file's
 * sorted index (tsagg__part_dict_find). */
int tsagg__strtab_find(const tsagg__strtab *t, const char *s, size_t len, uint32_t *code);

#endif
