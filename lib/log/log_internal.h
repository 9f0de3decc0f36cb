/*
 * log_internal.h - on-disk layout of log segments (docs/format.md, "Log").
 *
 * Segment header, 64 bytes:
 *   offset size  field
 *   0      8     magic "TSAGGLOG"
 *   8      2     format version (2; 1 is read too)
 *   10     2     kind: 0 live, 1 archive
 *   12     4     header size (64)
 *   16     8     segment number
 *   24     8     sequence number of the segment's first event
 *   32     8     schema id of the store when the segment was created
 *   40     8     creation time, microseconds since the epoch
 *   48     8     reserved, 0
 *   56     8     XXH64 (seed 0) of bytes [0, 56)
 *
 * Frame, 56-byte header then `stored` payload bytes:
 *   0      4     magic "TSFR"
 *   4      1     type: 1 events, 2 seal
 *   5      1     codec: 0 none, 1 LZ4 block, 2 zstd frame
 *   6      1     event encoding: 0 none (seal), 1 rows, 2 columns
 *   7      1     flags: bit 0 "synced before" (version 2): every byte of
 *                the segment before this frame was on stable storage when
 *                it was written; 0 in version 1 and in seal frames
 *   8      4     stored payload length
 *   12     4     raw payload length (after decompression)
 *   16     8     first sequence number (seal: the segment's first)
 *   24     4     event count (seal: 0)
 *   28     4     reserved, 0
 *   32     8     minimum event ts
 *   40     8     maximum event ts
 *   48     8     XXH3-64 (seed 0) of header bytes [0, 48) followed by
 *                the stored payload
 *
 * Seal payload, 40 bytes: last sequence number, event count, minimum ts,
 * maximum ts, frame count (u64/i64 each). A sealed segment ends with it.
 */
#ifndef TSAGG_LOG_INTERNAL_H
#define TSAGG_LOG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "store_internal.h"

#define SEG_MAGIC "TSAGGLOG"
#define SEG_VERSION 2     /* written */
#define SEG_VERSION_MIN 1 /* read: version 1 frames never carry flags */
#define SEG_HEADER_SIZE 64
#define SEG_KIND_LIVE 0
#define SEG_KIND_ARCHIVE 1

#define FRAME_MAGIC "TSFR"
#define FRAME_HEADER_SIZE 56
#define FRAME_EVENTS 1
#define FRAME_SEAL 2
#define FRAME_FLAG_SYNCED_BEFORE 0x1
#define CODEC_NONE 0
#define CODEC_LZ4 1
#define CODEC_ZSTD 2
#define ENC_NONE 0
#define ENC_ROWS 1
#define ENC_COLUMNS 2
#define SEAL_PAYLOAD_SIZE 40
#define SEAL_FRAME_SIZE (FRAME_HEADER_SIZE + SEAL_PAYLOAD_SIZE)
/* Largest payload a frame may declare; bounds allocations on bad input. */
#define FRAME_PAYLOAD_MAX (64u << 20)


typedef struct seg_header {
    uint16_t version, kind;
    uint64_t number, first_seq, schema_id;
    int64_t created;
} seg_header;

typedef struct frame_header {
    uint8_t type, codec, encoding, flags;
    uint32_t stored, raw, count;
    uint64_t first_seq;
    int64_t min_ts, max_ts;
    uint64_t checksum;
} frame_header;

typedef struct seal_info {
    uint64_t last_seq, events, frames;
    int64_t min_ts, max_ts;
} seal_info;

void tsagg__seg_header_encode(const seg_header *h, uint8_t out[SEG_HEADER_SIZE]);
/* 0, TSAGG_ECORRUPT (magic), TSAGG_EVERSION, TSAGG_ECHECKSUM. */
int tsagg__seg_header_decode(const uint8_t in[SEG_HEADER_SIZE], seg_header *h);

/* Write header and payload checksum into out[0, FRAME_HEADER_SIZE). */
void tsagg__frame_header_encode(frame_header *h, const uint8_t *payload, uint8_t *out);
/* Parse a header (no checksum check): 0 or TSAGG_ECORRUPT. */
int tsagg__frame_header_decode(const uint8_t *in, frame_header *h);
/* Verify the checksum of a parsed header against its payload. */
int tsagg__frame_verify(const uint8_t *header_bytes, const uint8_t *payload, uint64_t stored_len,
                        uint64_t checksum);

void tsagg__seal_encode(const seal_info *s, uint64_t first_seq, uint8_t out[SEAL_FRAME_SIZE]);
int tsagg__seal_decode(const uint8_t in[SEAL_FRAME_SIZE], seal_info *s);

/*
 * Walk the frames of an open segment from offset SEG_HEADER_SIZE to `size`,
 * verifying every checksum and that sequence numbers follow on from
 * first_seq. The result describes the valid prefix.
 *
 * With strict_tail, a bad frame is damage (status < 0) when it was durable:
 * when a valid frame after it says the bytes before it were synced (version
 * 2), or, in a version 1 segment, which says nothing, when any valid frame
 * follows. Otherwise it is a torn tail (status 1): a write that was never
 * made durable, so never reported durable; `frames_after` tells whether
 * valid (unsynced) frames follow it all the same.
 */
typedef struct seg_scan {
    uint64_t valid_end;   /* offset just past the last valid frame */
    uint64_t next_seq;    /* sequence number after the last valid event */
    uint64_t events, frames;
    int64_t min_ts, max_ts;
    int sealed;           /* the valid prefix ends with a seal frame */
    int status;           /* 0 clean; 1 torn tail at valid_end; <0 damage */
    int frames_after;     /* torn tail: valid frames, never synced, follow */
    uint64_t bad_offset;  /* where damage or the torn tail starts */
} seg_scan;

int tsagg__seg_scan(const tsagg_io *io, int fd, uint64_t size, uint64_t first_seq,
                    int strict_tail, seg_scan *out);

/* Is there a valid frame starting anywhere after offset `from` (with
 * synced_only, one flagged FRAME_FLAG_SYNCED_BEFORE)? Tells damage (a bad
 * frame that was durable) from a torn tail. 1 yes, 0 no, <0 I/O error.
 * payload is scratch. */
int tsagg__valid_frame_after(const tsagg_io *io, int fd, uint64_t from, uint64_t size,
                             int synced_only, tsagg__buf *payload);

/* Decoded events of one frame; strings point into `owner`. */
typedef struct tsagg__events {
    tsagg_event *evs;
    size_t n, cap;
    tsagg_attr *attrs;
    size_t nattrs, attrs_cap;
} tsagg__events;

void tsagg__events_free(tsagg__events *e);

/* Names (event names, attribute keys) of one record being encoded. */
typedef struct tsagg__names {
    const char **ptr;
    uint32_t *len;
    uint32_t n, cap;
} tsagg__names;

/* Reusable scratch of the row encoder, so appends do not allocate. */
typedef struct tsagg__encoder {
    tsagg__buf body;
    tsagg__names names;
} tsagg__encoder;

void tsagg__encoder_free(tsagg__encoder *enc);

/* Row encoding (record.c): append events as one record to out. bound is
 * at least their encoded size: 61 bytes per event plus, per attribute, 20
 * bytes and its string length. The events passed tsagg__event_check_sizes;
 * the NUL bytes that leaves out are found here, as the strings are copied:
 * TSAGG_EINPUT (out unchanged, no message) when a name, key or string value
 * holds one. */
int tsagg__record_encode(tsagg__encoder *enc, tsagg__buf *out, const tsagg_event *evs, size_t n,
                         size_t bound, int64_t *min_ts, int64_t *max_ts);
/* Decode a rows payload that must hold exactly `count` events. */
int tsagg__rows_decode(const uint8_t *raw, size_t len, uint32_t count, tsagg__events *out);

/* Column encoding of the archive form (columns.c). Tests only: the
 * encoding of whole arrays (the fuzz corpus); archive.c builds its frames
 * with tsagg__colb (columns.h). */
int tsagg__columns_encode(tsagg__buf *out, const tsagg_event *evs, size_t n);
int tsagg__columns_decode(const uint8_t *raw, size_t len, uint32_t count, tsagg__events *out);

/* Decompress (if needed) and decode a verified frame's payload. `scratch`
 * receives the raw bytes the events point into. */
int tsagg__frame_decode(const frame_header *h, const uint8_t *payload, tsagg__buf *scratch,
                        tsagg__events *out);

/* List segment numbers of a log directory, sorted ascending (malloc'ed). */
int tsagg__list_segments(const tsagg_io *io, const char *log_dir, uint64_t **numbers,
                         size_t *count);

/* Read a segment's seal (the last SEAL_FRAME_SIZE bytes): 0 when present
 * and valid, 1 when the segment is not sealed, <0 on I/O error. */
int tsagg__read_seal(const tsagg_io *io, int fd, uint64_t size, seal_info *s);

/* tsagg_append() into the log only (writer.c); the store's tsagg_append
 * then adds the events to its head. check_ts 0: without the ts range
 * check, for tests writing a log as a library before that check did. */
int tsagg__log_append(tsagg_store *st, const tsagg_event *evs, size_t n, uint64_t *first_seq,
                      int check_ts);
/* tsagg_append() without the ts range check (store.c). Tests only: logs
 * written before that check. */
int tsagg__append_unchecked_ts(tsagg_store *st, const tsagg_event *evs, size_t n,
                               uint64_t *first_seq);

/* Path of log segment `number` inside the store. */
void tsagg__segment_path(const tsagg_store *store, uint64_t number, char *buf, size_t len);

/* Log writer lifecycle (lib/log/writer.c). open recovers the last segment. */
int tsagg__writer_open(tsagg_store *store);
int tsagg__writer_close(tsagg_store *store);
/* 0 when the log holds every sequence number up to `consumed` (the
 * manifest's), TSAGG_ECORRUPT (with a message saying how to recover) when
 * it ends below; *end gets where it ends (lib/log/logend.c). */
int tsagg__log_check_consumed(tsagg_store *store, uint64_t consumed, uint64_t *end);

/* Where the log starts (lib/log/logstart.c). 0 when segment start_segment
 * is there and begins at start_seq, and no segment above it is missing
 * below the first one listed (segments below it are retention's leftovers);
 * TSAGG_ECORRUPT naming what is missing otherwise. */
int tsagg__log_check_start(tsagg_store *store, uint64_t start_segment, uint64_t start_seq);
/* Remove the segments below start_segment, oldest first, then fsync log/;
 * *removed counts them. For retention, once MANIFEST records the start. */
int tsagg__log_remove_below(tsagg_store *store, uint64_t start_segment, unsigned *removed);
/* The log prefix retention may remove: from segment from_segment on, the
 * sealed segments below the open one (and below the last one listed) whose
 * events are all compacted (<= consumed) and older than cutoff, up to the
 * first that is not. When there are any, *start_segment and *start_seq get
 * the segment after them and its first sequence number, and *max_ts is
 * raised to their newest event ts; else they are left as they were. */
int tsagg__log_removable(tsagg_store *store, uint64_t from_segment, uint64_t consumed,
                         int64_t cutoff, uint64_t *start_segment, uint64_t *start_seq,
                         int64_t *max_ts);
/* Bytes of the log holding the events after after_seq (the segments past
 * it whole, the one holding after_seq + 1 in proportion to its events). */
int tsagg__log_tail_bytes(tsagg_store *store, uint64_t after_seq, uint64_t *bytes);

/* After the log reader failed on damage (TSAGG_ECHECKSUM, TSAGG_ECORRUPT:
 * a bad frame, header or segment), 1 with "<segment path>: <what> at offset
 * <n>" in buf; 0 after any other failure (I/O, memory) or none
 * (lib/log/reader.c). */
int tsagg__log_reader_damage(const tsagg_log_reader *reader, char *buf, size_t len);

/* Number of the segment being appended to (or about to be created); every
 * segment below it is sealed. */
uint64_t tsagg__writer_open_segment(tsagg_store *store);

#endif
