/*
 * dindex.h - the disk tier's in-memory index: which record on disk holds
 * the newest version of each (primary key, variant). Pure memory, no I/O;
 * dtier fills it from the rebuild and the writer's reports.
 *
 * Keys. A 64-bit XXH3 of the primary key (host NUL target, as cache/key.h
 * builds it: dindex_phash) and a 32-bit hash of the secondary (Vary) key
 * (dindex_vhash), since one primary key may have several variants on disk.
 * The index is a hint, the record is the truth: two keys may share a hash,
 * so a caller reads the record and compares the full key it carries (and
 * its sequence number) before using it; a mismatch is a miss. A purge or a
 * tombstone removes every entry of its primary hash, a colliding key's
 * too: that costs a miss, never a wrong answer.
 *
 * Entry (struct dindex_entry, internal): 32 bytes, checked by a
 * _Static_assert in dindex.c:
 *   phash 64 | vhash 32 | expires 32 (seconds after the index's base)
 *   seq 48 | hits 4 | flags 4 | spare 8
 *   seg 22 | off 21 (8-byte units) | len 21 (8-byte units)
 * Limits that follow: 4 Mi segments of at most 16 MiB, a record of at most
 * 16 MiB, expiry up to 136 years after the base. Sequence numbers are kept
 * in 48 bits and compared as serial numbers (RFC 1982): right while two
 * versions of one key are less than 2^47 records apart.
 * Memory: dindex_create sizes each shard at 4/3 slots per expected object
 * (dindex_expected: the store's size over an average object size), so
 * the table is 3/4 full at the guess: 42.7 bytes per object, plus 8 per
 * record in the segment lists (below): about 51 bytes an object, 51 MB for
 * 1 M objects and 510 MB for 10 M. Linear probing with backward-shift
 * deletion, so no deleted-slot markers. A shard that passes 3/4 grows by
 * half (64 bytes an object just after): a wrong guess costs memory, not
 * entries, but the rehash runs under that shard's lock (about 160 K
 * entries, a few ms, per shard of a 10 M index), which is why the guess
 * is made up front. A shard holds at most 2^26 slots (4 G in all).
 *
 * Sequence numbers. A version's sequence number orders writes of one key:
 * an insert with a lower one than the entry's is ignored, so a rebuild can
 * scan segments in any order (an equal one too: the entry found first
 * stays, and a copy and its original hold the same bytes). A reinserted copy (segment eviction)
 * keeps its version's number (dindex_relocate, or the daemon's dindex_put of the copy under its
 * version: dtier.c), so a newer version written while the copy was in flight still wins, and at
 * rebuild too: the record format carries a version sequence beside its log sequence (drec.h).
 *
 * Tombstones. dindex_tombstone(phash, S) removes the entries of that
 * primary hash with a sequence below S. While a rebuild is in progress
 * (dindex_rebuild_begin .. _end) it also remembers (phash, S) in a small
 * per-shard set, so that a record of that key with a lower sequence found
 * later in the scan is ignored: scan order does not matter. The set (16
 * bytes a tombstone) is freed at dindex_rebuild_end; after it, inserts are
 * newer than every tombstone on disk by construction. Purges that happen
 * during a rebuild go through dindex_tombstone too.
 *
 * Segments. Each segment keeps a list of the records inserted into it,
 * 8 bytes each (the low 32 bits of the primary hash, which locate the
 * entry's shard and home slot, and the offset). Walking a segment
 * (dindex_seg_walk, dindex_seg_clear) probes the table once per listed
 * record and takes the entry only if it still points at that segment and
 * offset, so records replaced or purged since cost a probe and nothing
 * else: O(records written into the segment), not O(table). Evicting a 4
 * MiB segment of 4 KiB records is about a thousand probes.
 *
 * Concurrency: DINDEX_SHARDS shards chosen by the primary hash, a mutex
 * each, held for one probe (or a shard's rehash), never across I/O or an
 * await. Segment lists have their own mutexes (64, by segment number),
 * held for an append, and for a whole walk (a probe per record of that
 * segment: an insert into a segment of the same stripe waits that long).
 * Lock order: a segment list's, then a shard's. A walk's callback runs
 * under a shard lock: it must be quick and must not call back in.
 */
#ifndef RINGCACHE_CACHE_DINDEX_H
#define RINGCACHE_CACHE_DINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DINDEX_SHARDS	  64u
#define DINDEX_SEG_MAX	  (1u << 22)		 /* segment numbers 0 .. 2^22-1 */
#define DINDEX_SPAN_MAX	  ((1u << 21) * 8u - 8u) /* largest offset or length: 16 MiB - 8 */
#define DINDEX_HITS_MAX	  15u
#define DINDEX_SEQ_BITS	  48
#define DINDEX_FLAGS_MASK 0xfu

/* Flags the policy keeps beside an entry (4 bits; the rest are free). */
enum {
	DINDEX_F_VALIDATORS = 1u << 0, /* ETag or Last-Modified: worth revalidating when stale */
	DINDEX_F_SWR = 1u << 1,	       /* stale-while-revalidate allowed */
	DINDEX_F_PARTIAL = 1u << 2,    /* a stored 206 */
};

/* An entry unpacked: what callers pass and get back. */
struct dindex_rec {
	uint64_t phash;	 /* dindex_phash of the primary key */
	uint32_t vhash;	 /* dindex_vhash of the secondary key (0 for no Vary) */
	uint32_t seg;	 /* segment number, < DINDEX_SEG_MAX */
	uint32_t off;	 /* byte offset in the segment, a multiple of 8 */
	uint32_t len;	 /* record length in bytes; kept rounded up to 8 */
	int64_t expires; /* Unix seconds after which the record is useless (0: never);
			  * clamped to [base, base + 2^32 - 2] */
	uint64_t seq;	 /* version sequence number (48 bits kept) */
	uint8_t flags;	 /* DINDEX_F_* */
	uint8_t hits;	 /* hits since written, saturating at DINDEX_HITS_MAX */
};

struct dindex;

/* Expected objects for a store of STORE_BYTES holding objects of AVG_BYTES
 * on average (0: 16 KiB), at least 1024. */
uint64_t dindex_expected(uint64_t store_bytes, uint64_t avg_bytes);

/* An index sized for EXPECTED objects over NSEGS segments (<= DINDEX_SEG_MAX);
 * expiries are kept relative to BASE (Unix seconds, e.g. the start time).
 * NULL on -ENOMEM or a bad argument. */
struct dindex *dindex_create(uint64_t expected, uint32_t nsegs, int64_t base);
void dindex_free(struct dindex **ixp);

/* The hashes of a primary key (host NUL target) and of a secondary key. */
uint64_t dindex_phash(const void *key, size_t len);
uint32_t dindex_vhash(const void *vkey, size_t len);

/* Insert or replace the entry of (R->phash, R->vhash). 1 when R went in
 * (new, or newer than the entry it replaced), 0 when ignored (not newer
 * than the entry, or below a rebuild tombstone), -EINVAL when a field is
 * out of the limits above, -ENOMEM. R->hits is taken as given (0 for a
 * fresh write). */
int dindex_put(struct dindex *ix, const struct dindex_rec *r);

/* The variants of PHASH: fills up to MAX of them into OUT, returns how
 * many there are (possibly more than MAX). */
size_t dindex_lookup(struct dindex *ix, uint64_t phash, struct dindex_rec *out, size_t max);
/* One variant: true and *OUT filled when present. */
bool dindex_get(struct dindex *ix, uint64_t phash, uint32_t vhash, struct dindex_rec *out);

/* A hit on (PHASH, VHASH): bump its counter. false when absent. */
bool dindex_hit(struct dindex *ix, uint64_t phash, uint32_t vhash);
/* The same only if the entry is version SEQ (a hit on a copy of it held
 * elsewhere, in memory: a newer version there must not keep an older one
 * alive on disk). false when absent or another version. */
bool dindex_hit_version(struct dindex *ix, uint64_t phash, uint32_t vhash, uint64_t seq);

/* Remove one variant; true when it was there. */
bool dindex_remove(struct dindex *ix, uint64_t phash, uint32_t vhash);
/* Remove (PHASH, VHASH) only if it still points at SEG and OFF (a failed
 * reinsertion, a record found broken). true when removed. */
bool dindex_remove_at(struct dindex *ix, uint64_t phash, uint32_t vhash, uint32_t seg,
		      uint32_t off);
/* Purge by key: remove every variant of PHASH with a sequence below SEQ,
 * the sequence of the tombstone record written for it; during a rebuild,
 * remember (PHASH, SEQ) too. UINT64_MAX removes all of them and is not
 * remembered (nothing on disk says so): during a rebuild, pass the
 * tombstone's number. Returns how many entries went. */
size_t dindex_tombstone(struct dindex *ix, uint64_t phash, uint64_t seq);

/* A reinserted copy was written at NEW_SEG, NEW_OFF: move the entry there
 * if it still points at OLD_SEG, OLD_OFF (a newer write or a purge in
 * between wins). Its hits restart at 0: the copy must earn the next
 * reinsertion. true when moved; false means the copy is garbage (the engine
 * then writes a tombstone if the entry was purged, so rebuild drops it). */
bool dindex_relocate(struct dindex *ix, uint64_t phash, uint32_t vhash, uint32_t old_seg,
		     uint32_t old_off, uint32_t new_seg, uint32_t new_off);

/* Rebuild window: tombstones are remembered between these two calls. */
void dindex_rebuild_begin(struct dindex *ix);
void dindex_rebuild_end(struct dindex *ix);

/* Walking a segment's live entries: the callback gets each entry that still
 * points at the segment and says whether it stays in the index (true) or
 * goes (false). It runs under a shard lock: quick, no calls into the index. */
typedef bool (*dindex_walk_fn)(const struct dindex_rec *r, void *arg);
/* Walk SEG in write order, each live entry once; returns the entries the callback kept, and in
 * *REMOVED (if not NULL) how many it removed. The segment's list stays (kept entries still point
 * there until relocated or cleared). */
size_t dindex_seg_walk(struct dindex *ix, uint32_t seg, dindex_walk_fn fn, void *arg,
		       size_t *removed);
/* Remove every entry still pointing at SEG and forget its list (the segment
 * is about to be written again). Returns how many entries went. */
size_t dindex_seg_clear(struct dindex *ix, uint32_t seg);

/* Gauges: live entries, and the bytes of their records (rounded to 8). */
uint64_t dindex_count(struct dindex *ix);
uint64_t dindex_bytes(struct dindex *ix);
/* Memory held by the table and the segment lists, in bytes. */
uint64_t dindex_mem(struct dindex *ix);
/* Bytes of one entry (for the docs and a test). */
size_t dindex_entry_size(void);

#endif
