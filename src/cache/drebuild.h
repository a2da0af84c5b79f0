/*
 * drebuild.h - the disk tier's index rebuilt from the segments at start
 * (issue 18), in a task, in the background: the daemon serves meanwhile,
 * from memory and from the segments already walked (WALKED below).
 *
 * Every segment is walked with drec_walk's rules (a SEGMENT record of
 * that index first, sequence numbers increasing, a body that fails its
 * checksum under a good header skipped) through an aligned window of
 * READ bytes (default 1 MiB) read with rt_read: the walk is re-based on
 * each window (its offsets and segment size shifted by the window's
 * start, which keeps every length check against the rest of the
 * segment), and a record longer than the window gets a window of its
 * length for itself. So memory is a window, not a segment (segments may
 * be 1 GiB).
 *
 * What a record does: OBJECT -> dindex_put (version, expiry and flags
 * below); TOMBSTONE -> dindex_tombstone with its sequence; BAN and TAG ->
 * the caller's hooks (the ban list and the tag index are the memory
 * store's); SEGMENT -> nothing. The index is put in its rebuild window
 * (dindex_rebuild_begin .. _end), so the scan order does not matter to it.
 * Segments are walked newest first: the first block of each is read
 * first for its SEGMENT record's sequence, then the segments in order of
 * that sequence, highest first (those that hold none last). So once a
 * segment is walked, every record newer than its own is known: every
 * newer version of a key it holds, every purge, ban and tag purge made
 * after it; an entry of a walked segment is then what the finished index
 * would say of it, and WALKED[seg] (set once its walk is done, release
 * order) lets a lookup use it before the whole rebuild ended. What each segment held (first
 * and last sequence, bytes of valid records) goes to dseg_rebuild at the
 * end when a dseg is given, and the highest sequence found is reported, so
 * the writer can start above it. The writer must not run before the
 * rebuild ended (it would write into segments not yet scanned).
 *
 * Counted: segments, records, objects, tombstones, bans, tags, damaged
 * records (a body skipped, a header gone wrong in the middle of a
 * segment: the rest of that segment is lost), bytes read, and the time.
 * An I/O error disables the tier (dstore_fail) and ends the rebuild; the
 * index keeps what was found.
 */
#ifndef RINGCACHE_CACHE_DREBUILD_H
#define RINGCACHE_CACHE_DREBUILD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cache/dindex.h"
#include "cache/dseg.h"
#include "cache/dstore.h"

#define DREBUILD_READ (1024u * 1024)

struct drebuild_stats {
	uint64_t segments, records, objects, tombstones, bans, tags, damaged, bytes_read;
	uint64_t top_seq; /* the highest sequence number found (0: empty store) */
	uint64_t ns;	  /* how long it took */
	int rc;		  /* 0, or the error that ended it (-ENODEV: an I/O error) */
};

struct drebuild {
	struct dstore *ds;
	struct dindex *ix;
	struct dseg *dseg;	 /* NULL: no segment state to restore */
	uint32_t read_size;	 /* 0: DREBUILD_READ; a multiple of 4096, at least 8192 */
	uint64_t io_timeout;	 /* ns per read; 0: 10 s */
	int64_t now;		 /* Unix seconds, for expiry */
	_Atomic uint8_t *walked; /* seg_count flags the rebuild sets (NULL: none) */
	/* seg_count slots (NULL: not kept): the lowest version of an OBJECT
	 * record found in each segment, 0 for none. A reinserted copy keeps
	 * its original's version, older than its segment's first sequence,
	 * and the bans and tag purges newer than it must stay (dtier.c). */
	uint64_t *minver;
	/* BAN and TAG records, in the order found (NULL: counted only). */
	void (*on_ban)(void *ctx, const struct drec_view *v);
	void (*on_tag)(void *ctx, const struct drec_view *v);
	/* A TOMBSTONE, BAN or TAG record whose header passed but whose rest
	 * did not (H): what it invalidated is unknown, so the caller takes
	 * it as applying to every object older than it (NULL: counted only). */
	void (*on_lost)(void *ctx, const struct drec_head *h);
	void (*on_done)(void *ctx, const struct drebuild_stats *s);
	void *ctx;
	struct drebuild_stats stats; /* final once done is set */
	atomic_bool done;
};

/* The task: ARG is a struct drebuild the caller filled and keeps until
 * done (on_done runs last, on the task, just before done is set: whoever
 * sees done sees what on_done did). */
void drebuild_main(void *arg);

/* The index entry of an OBJECT record V found at SEG, OFF. Expiry: 0
 * (kept while its segment is) for a response with validators or
 * stale-while-revalidate, which stay useful stale; else the end of its
 * freshness (NOW + lifetime - its age at NOW). The integration's policy
 * (grace, keep) may widen that. */
void drebuild_entry(const struct drec_view *v, uint32_t seg, uint32_t off, int64_t now,
		    struct dindex_rec *r);

#endif
