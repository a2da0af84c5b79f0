/*
 * drec.h - the disk tier's record format (issue 18): what one stored
 * response or one invalidation looks like inside a segment of the store
 * file. Pure: no I/O, no allocation, no clock. dwriter encodes records,
 * dstore_read and drebuild decode them.
 *
 * A segment is a run of records, each starting at an 8-byte aligned offset
 * right after the one before (a small object does not take a whole 4 KiB
 * block). The writer writes whole blocks, so a crash can cut a record
 * anywhere and leave older bytes behind it; everything below is there so a
 * reader tells a whole record from anything else and never trusts a
 * length it has not checked.
 *
 * Every integer is little-endian, fixed-width, at a fixed offset (written
 * and read with memcpy, never through a struct cast).
 *
 * Record = header (64) | key | meta | head | body | zero padding to 8.
 *
 *   off size  header field
 *    0   4    magic 0x31524352 ("RCR1")
 *    4   2    kind (enum drec_kind)
 *    6   2    flags (per kind; unknown bits are corrupt)
 *    8   8    store id (the superblock's: a record of an older formatting
 *             of the same file is FOREIGN, never taken)
 *   16   8    sequence number (global, increasing, never 0; strictly
 *             increasing within a segment)
 *   24   8    body length
 *   32   8    total length = align8(64 + key + meta + head + body)
 *   40   4    key length
 *   44   4    meta length
 *   48   4    head length
 *   52   4    header check: low 32 bits of XXH3-64 of bytes [0, 52)
 *   56   8    checksum: XXH3-64 of the whole record (total length bytes,
 *             padding included) with these 8 bytes taken as zero
 *
 * Kinds and their parts (a part a kind does not use must be empty):
 *   OBJECT     key: primary key (cache/key.h); meta: struct drec_obj, below;
 *              head: the stored header lines; body: the body.
 *   TOMBSTONE  key: primary key purged (every variant).
 *   BAN        meta: u32 length + URL regex, u32 length + host regex (no
 *              NUL inside); flags DREC_BAN_URL / DREC_BAN_HOST say which
 *              are present (at least one).
 *   TAG        key: the tag; flag DREC_TAG_SOFT for a soft purge.
 *   SEGMENT    meta: u64 segment index. The first record of every segment.
 * An invalidation with sequence S applies to the objects whose version
 * (OBJECT meta) is below S (later invalidations win over earlier objects,
 * and an object stored after the purge survives it).
 *
 * OBJECT meta: 176 fixed bytes, then length-prefixed strings.
 *   off size
 *    0   2   cobj status            2   2  resp_meta status (100..999)
 *    4   4   bits: 0 cdn_cc, 1 has_etag, 2 vary_star, 3 set_cookie,
 *            4 cc.present, 5 partial, 6 tags_space_sep
 *    8   4   cc.flags              12   4  cc.invalid
 *   16  48   cc.delta[6] (i64, CC_UNSET or 0..2^31)
 *   64   8   date                  72   8  expires
 *   80   8   last_modified         88   8  age
 *   96   8   request_time         104   8  response_time
 *  112   8   response_delay_ms    120   8  lifetime (>= 0)
 *  128   8   clen (>= -1)         136  24  part_first, part_last, part_len
 *  160   4   fwd_len (<= vkey's length)
 *  164   1   no-cache field names  165   1  private field names (<= 16)
 *  166   2   zero
 *  168   8   version: the sequence number of the write that made this
 *            version of the object (1 .. the record's own sequence): a
 *            first write's own, a copy's (reinsertion, dseg) the
 *            original's, so that a newer version written while the copy
 *            was in flight still wins, and an invalidation between them
 *            still applies, when a rebuild reads them back
 *  176       u32 + reason, u32 + vary names, u32 + vkey, u32 + tags, then
 *            each no-cache name, then each private name as u8 + bytes
 *            (1..31 bytes, no NUL); the last string ends at meta's end.
 * That is everything the freshness, revalidation, Vary, tag and range
 * code reads of a struct cobj; validators stay in the head lines. The
 * object's ban_seq is not stored: its version (offset 168) takes its
 * place against the invalidations read back.
 *
 * Changes from the first design, and why:
 *  - the header check (offset 52): a reader can trust the lengths before
 *    it has read the body, and a body that fails its checksum costs that
 *    record only: the walk skips it instead of losing the segment's rest.
 *  - the SEGMENT kind and the increasing-sequence rule: a reused segment
 *    still holds whole, checksummed records of its previous use behind
 *    the new write point. A walk (drec_walk) starts at a SEGMENT record of
 *    the expected index and ends at the first record whose sequence is
 *    not above the one before it (STALE), so that tail is never taken.
 *  - two sizes per decode: the bytes in hand (AVAIL) and what is left of
 *    the segment (ROOM). A record longer than ROOM is CORRUPT (no writer
 *    made it), one only longer than AVAIL is CUT (read more), so a reader
 *    never mistakes a length gone wrong for a short read.
 *  - records carry no version of their own: the superblock's version
 *    covers them, and the magic changes with any incompatible layout.
 *  - a record lives inside one segment; bigger objects (max_object_size
 *    is 32 MiB by default) cannot go to disk whole (the integration's call).
 */
#ifndef RINGCACHE_CACHE_DREC_H
#define RINGCACHE_CACHE_DREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* XXH3_state_t in the structs below (its layout is public with this). */
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "cache/policy.h"

#define DREC_MAGIC	0x31524352u /* "RCR1" as little-endian bytes */
#define DREC_HDR	64u
#define DREC_ALIGN	8u
#define DREC_META_FIXED 176u
#define DREC_NAME_MAX	31u /* a cc_names entry, without its NUL */

enum drec_kind {
	DREC_OBJECT = 1,
	DREC_TOMBSTONE = 2,
	DREC_BAN = 3,
	DREC_TAG = 4,
	DREC_SEGMENT = 5,
};

enum {
	DREC_BAN_URL = 1u << 0,	 /* BAN: the URL regex is present */
	DREC_BAN_HOST = 1u << 1, /* BAN: the host regex is present */
	DREC_TAG_SOFT = 1u << 0, /* TAG: soft purge (stale, not gone) */
};

enum drec_result {
	DREC_OK = 0,
	DREC_END,     /* no record here: zeroes, another magic, no room for a header */
	DREC_CUT,     /* a record that needs more bytes than were given (need says how many) */
	DREC_CORRUPT, /* checksum, header check, or a field out of range or inconsistent */
	DREC_FOREIGN, /* a whole header of another store id (an older formatting) */
	DREC_STALE,   /* drec_walk: not newer than the record before it (an older use) */
};

const char *drec_result_name(enum drec_result r);

/* The OBJECT meta: a stored response's facts besides its head and body.
 * Encoding reads the strings; decoding points them into the record. */
struct drec_obj {
	int status;
	struct resp_meta meta;
	int64_t lifetime;
	int64_t clen;
	bool partial;
	uint64_t part_first, part_last, part_len;
	bool tags_space_sep;
	const char *reason;
	uint32_t reason_len;
	const char *vary;
	uint32_t vary_len;
	const char *vkey;
	uint32_t vkey_len;
	uint32_t fwd_len;
	const char *tags;
	uint32_t tags_len;
	/* The version's sequence (meta offset 168); 0 when encoding: the
	 * record's own sequence (a first write). A copy passes the original's. */
	uint64_t version;
};

/* One record's contents, for encoding (from the caller's memory) or decoded
 * (pointing into the buffer given). The body is not here: encoding takes
 * its bytes separately, decoding sets struct drec_view's body. */
struct drec_in {
	enum drec_kind kind;
	uint16_t flags;
	uint64_t seq;
	const char *key; /* OBJECT, TOMBSTONE: primary key; TAG: tag */
	uint32_t key_len;
	const struct drec_obj *obj; /* OBJECT */
	const char *head;	    /* OBJECT: header lines */
	uint32_t head_len;
	uint64_t body_len;	      /* OBJECT */
	const char *url_re, *host_re; /* BAN, as the flags say */
	uint32_t url_len, host_len;
	uint64_t seg_index; /* SEGMENT */
};

/* A header that passed drec_head. */
struct drec_head {
	enum drec_kind kind;
	uint16_t flags;
	uint64_t store_id, seq;
	uint32_t key_len, meta_len, head_len;
	uint64_t body_len, total;
	uint64_t sum;
	uint32_t front; /* header + key + meta + head: what precedes the body */
};

struct drec_view {
	struct drec_head h;
	struct drec_in in;   /* in.obj points at obj for an OBJECT */
	struct drec_obj obj; /* OBJECT only */
	const char *body;    /* OBJECT: h.body_len bytes */
};

/* --- encoding ---------------------------------------------------------- */

/* The record's total length, or 0 when IN is not a valid record (a part
 * its kind does not take, a string over its limit, a length that
 * overflows). */
uint64_t drec_size(const struct drec_in *in);

/* A record being encoded in pieces: the front (header, key, meta, head)
 * into the caller's buffer by drec_begin, the body's bytes (wherever the
 * caller puts them, in any number of pieces) through drec_body, then
 * drec_end. Lives on the caller's stack; XXH3's state is 576 bytes. */
struct drec_enc {
	XXH3_state_t st;
	uint64_t body_len, body_done, total;
	uint32_t front;
};

/* Write the front of IN's record into OUT (CAP bytes) for store STORE_ID.
 * Returns the front's length (the body goes right after it), -EINVAL for
 * an invalid IN or store id 0, -ENOSPC when CAP is too small. */
int64_t drec_begin(struct drec_enc *e, void *out, size_t cap, uint64_t store_id,
		   const struct drec_in *in);
/* N more body bytes (they are the caller's to place). */
void drec_body(struct drec_enc *e, const void *p, size_t n);
/* Finish: writes the checksum into the record's header REC (the first 64
 * bytes of what drec_begin wrote, still the caller's) and returns how many
 * zero bytes of padding the caller writes after the body (0..7), or
 * -EINVAL when the body given was not body_len bytes. */
int drec_end(struct drec_enc *e, void *rec);

/* The whole record at once into OUT (CAP bytes): its length, or -EINVAL,
 * -ENOSPC as drec_begin. BODY holds in->body_len bytes. */
int64_t drec_encode(void *out, size_t cap, uint64_t store_id, const struct drec_in *in,
		    const void *body);

/* --- decoding ---------------------------------------------------------- */

/*
 * The record header at P. AVAIL bytes are readable at P; ROOM bytes are
 * left in the segment from P (ROOM >= AVAIL): a record longer than ROOM is
 * CORRUPT (no writer made it), one longer than AVAIL only CUT. Reads at
 * most min(AVAIL, 64) bytes. OK: H filled, the body unread. CUT: *NEED
 * (if given) is the number of bytes to have at P (64 for the header, then
 * the record's total). END, CORRUPT, FOREIGN: H undefined.
 */
enum drec_result drec_head(const void *p, size_t avail, size_t room, uint64_t store_id,
			   struct drec_head *h, uint64_t *need);

/*
 * The whole record at P, checked: its header (drec_head), its checksum,
 * padding, and every part of its kind in range and consistent. Reads
 * at most min(AVAIL, total) bytes. OK: V filled, pointing into P's
 * buffer. Anything else: V undefined (*NEED as drec_head).
 */
enum drec_result drec_decode(const void *p, size_t avail, size_t room, uint64_t store_id,
			     struct drec_view *v, uint64_t *need);

/* The parts of a record whose header H passed, from P holding at least
 * its front (H->front bytes): OK, or CORRUPT for a part out of range. The
 * checksum is not checked here: a reader that takes the body in pieces
 * checks it with drec_sum_*; V->body is NULL. */
enum drec_result drec_front(const void *p, const struct drec_head *h, struct drec_view *v);

/* The checksum over a record read in pieces, in order, from its first
 * byte to its last (pieces of any size, the header among them: its
 * checksum field is taken as zero wherever the piece boundaries fall). */
struct drec_sum {
	XXH3_state_t st;
	uint64_t done;
};

void drec_sum_begin(struct drec_sum *s);
void drec_sum_update(struct drec_sum *s, const void *p, size_t n);
/* True when the bytes given were H->total and their checksum is H's. */
bool drec_sum_check(struct drec_sum *s, const struct drec_head *h);

/* --- walking a segment ------------------------------------------------- */

/*
 * The records of one segment, in order. BUF holds the segment's first LEN
 * bytes (its whole size, SEG_SIZE, or less while reading it in). The first
 * record must be a SEGMENT record for SEG_INDEX; each one after must have
 * a greater sequence number than the one before, else STALE. A body that
 * fails its checksum under a header that passed is CORRUPT and skipped
 * (the next call goes on after it); any other result but OK ends the walk
 * (later calls return it again). CUT within LEN < SEG_SIZE: read more,
 * update len, call again.
 */
struct drec_walk {
	const uint8_t *buf;
	size_t len, seg_size;
	uint64_t store_id, seg_index;
	size_t off;	   /* where the next record starts */
	uint64_t last_seq; /* 0 before the SEGMENT record */
	enum drec_result stop;
	struct drec_head skipped; /* the header of the record a CORRUPT result skipped */
};

void drec_walk_init(struct drec_walk *w, const void *buf, size_t len, size_t seg_size,
		    uint64_t store_id, uint64_t seg_index);
enum drec_result drec_walk_next(struct drec_walk *w, struct drec_view *v);

#endif
