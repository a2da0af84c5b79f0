/*
 * dseg.h - the disk tier's segments: which are free, which one is open for
 * writing and where its next record goes, the FIFO order of the sealed
 * ones, and the eviction of the oldest. Pure memory, no I/O. The daemon
 * uses its rebuild (dtier: the newest segment, where the writer goes on)
 * and its choice of what to reinsert (dseg_choose). Its writer keeps the
 * FIFO by the segment numbers instead (a circular log: the next segment
 * is always the oldest) and holds the copies in memory while it opens
 * that segment, so it needs no free segment in hand; the state machine
 * below (reserve, roll, evict, release) is the general engine's flow,
 * exercised by the unit tests.
 *
 * States: FREE -> OPEN (one at a time; records appended at the write
 * position, 8-byte aligned) -> SEALED (first and last sequence numbers
 * kept; queued in write order) -> EVICTING (the engine copies the
 * entries chosen for reinsertion) -> FREE.
 *
 * Policy: FIFO by segment with reinsertion of entries hit since they were
 * written (CacheLib BlockCache's "FIFO + hits reinsertion"). Squid rock
 * and Traffic Server's cyclone are plain circular logs: they overwrite
 * the oldest space whatever it holds, so a hot object is lost once a
 * store's worth of writes went by; reinsertion keeps it. LRU by segment
 * (evict the segment read least recently) was the alternative: one hot
 * object keeps a whole segment of cold ones alive, and the eviction order
 * is no longer the write order, which rebuild gets back for free from the
 * first sequence numbers. FIFO keeps writes sequential and the order
 * implicit; reinsertion gives back most of LRU's hit ratio for the
 * objects that are hit, at the cost of rewriting them (bounded below).
 * Expired entries are never reinserted, even when hit.
 *
 * Bound: one eviction reinserts at most reinsert_max bytes (default a
 * quarter of a segment, at most half), most-hit entries first; the other
 * hit entries are dropped and counted. So each segment cycle writes at
 * least seg_size - reinsert_max bytes of new records, and a hot set
 * larger than the store cannot make eviction chase its own tail.
 *
 * Flow the I/O engine follows:
 *   dseg_reserve(len, seq)  0 with (seg, off): write the record there;
 *                           DSEG_ROLL: flush the open segment, dseg_roll.
 *   dseg_roll               seals the open segment, opens the next free one.
 *   dseg_evict              when the roll took the last free segment: the
 *                           oldest sealed one becomes EVICTING, its entries
 *                           not chosen are gone from the index, the chosen
 *                           ones are returned. The new open segment is
 *                           empty, and the bound is at most half of it, so
 *                           the copies fit: the engine reads each, appends
 *                           it (dseg_reserve) and calls dindex_relocate.
 *   dseg_release            the copies are done: clears what is left of the
 *                           segment in the index, and it is FREE.
 * So one segment is always free or being freed while the open one fills,
 * as CacheLib keeps a pool of clean regions.
 *
 * Rebuild: dseg_rebuild takes, per segment, what a scan found (first and
 * last sequence numbers, bytes of valid records; first 0 for an empty
 * segment) and restores the FIFO by first sequence number; the newest
 * segment is reopened at its end (a crash leaves it half written). The
 * scan must stop inside a segment at the first record whose sequence is
 * not above the previous one's: what follows is the segment's previous
 * life. Sequence numbers here are the log's (the record's own), 64 bits.
 * The index is rebuilt in the background while the daemon serves, so the
 * engine scans segments oldest first (dseg_order) and never evicts one it
 * has not scanned yet: a record indexed after its segment was freed would
 * point at whatever is written there next.
 *
 * Concurrency: one mutex, never held across a call into the index or
 * across I/O. Lock order: dseg, then the index's (dseg_evict and
 * dseg_release call dindex with dseg's lock released).
 */
#ifndef RINGCACHE_CACHE_DSEG_H
#define RINGCACHE_CACHE_DSEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/dindex.h"

enum dseg_state { DSEG_FREE, DSEG_OPEN, DSEG_SEALED, DSEG_EVICTING };

struct dseg_conf {
	uint32_t nsegs;	       /* at least 2 */
	uint32_t seg_size;     /* bytes, a multiple of 8, at most DINDEX_SPAN_MAX + 8 */
	uint32_t reinsert_max; /* bytes per eviction; 0: seg_size / 4; at most seg_size / 2 */
};

struct dseg_info {
	enum dseg_state state;
	uint32_t used; /* bytes written (the write position when OPEN) */
	uint64_t first_seq, last_seq;
};

/* What a rebuild scan found in one segment. first_seq 0: empty. */
struct dseg_found {
	uint64_t first_seq, last_seq;
	uint32_t used;
};

/* One eviction's outcome. keep is malloc'd: dseg_victim_fini frees it. */
struct dseg_victim {
	uint32_t seg;
	size_t n;		 /* entries to reinsert */
	struct dindex_rec *keep; /* as the index had them, most hits first */
	uint64_t keep_bytes;
	size_t removed; /* entries dropped (not hit, expired) */
	size_t over;	/* hit entries dropped by the bound */
};

struct dseg_stats {
	uint64_t evictions, reinserted, reinserted_bytes, removed, over_bound;
};

struct dseg;

struct dseg *dseg_create(const struct dseg_conf *c); /* NULL: bad conf or -ENOMEM */
void dseg_free(struct dseg **dsp);

#define DSEG_ROLL 1
/* Where a record of LEN bytes with sequence SEQ goes: 0 with *SEG and *OFF
 * set and the write position moved past it (rounded up to 8); DSEG_ROLL
 * when no segment is open or the open one lacks room; -EINVAL when LEN
 * can never fit a segment. */
int dseg_reserve(struct dseg *ds, uint32_t len, uint64_t seq, uint32_t *seg, uint32_t *off);
/* Seal the open segment (an empty one stays open) and open the next free
 * one: 0, or -ENOSPC when none is free (an eviction is owed first). */
int dseg_roll(struct dseg *ds);
/* Does the tier owe an eviction (no segment free or being freed)? */
bool dseg_need_evict(struct dseg *ds);

/* If an eviction is owed, evict the oldest sealed segment: 1 and *V filled
 * (entries not kept are removed from IX; kept ones still point at V->seg
 * until relocated); 0 when none is owed or none is sealed; -ENOMEM. NOW
 * (Unix seconds) decides what has expired. */
int dseg_evict(struct dseg *ds, struct dindex *ix, int64_t now, struct dseg_victim *v);
void dseg_victim_fini(struct dseg_victim *v);
/* The choice alone, for an engine that keeps its own segment order (the
 * daemon's writer: dtier.c): walk SEG's live entries in IX, remove those
 * not hit or expired at NOW, keep the most-hit ones up to RMAX bytes and
 * remove the rest (counted in V->over). 1 with *V filled, or -ENOMEM
 * when nothing could be kept for want of memory. */
int dseg_choose(struct dindex *ix, uint32_t seg, int64_t now, uint64_t rmax, struct dseg_victim *v);
/* The copies of SEG (EVICTING) are written or abandoned: remove what is left
 * of it from IX; it is FREE. 0, or -EINVAL when SEG is not EVICTING. */
int dseg_release(struct dseg *ds, struct dindex *ix, uint32_t seg);

/* Restore the state from a scan: FOUND has nsegs elements; what DS held is
 * replaced (call it on a fresh dseg). *TOP_SEQ gets the highest sequence
 * number found (the engine continues above it), 0 when the store is
 * empty. 0 or -ENOMEM. Whether an eviction is owed then: dseg_need_evict. */
int dseg_rebuild(struct dseg *ds, const struct dseg_found *found, uint64_t *top_seq);

/* Introspection for the engine, metrics and tests. */
void dseg_info(struct dseg *ds, uint32_t seg, struct dseg_info *out);
int64_t dseg_open(struct dseg *ds); /* the open segment, or -1 */
/* Sealed segments oldest first: up to MAX into OUT; returns how many. */
size_t dseg_order(struct dseg *ds, uint32_t *out, size_t max);
uint32_t dseg_free_count(struct dseg *ds);
void dseg_stats(struct dseg *ds, struct dseg_stats *out);

#endif
