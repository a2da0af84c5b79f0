/*
 * dtier.h - the disk tier put together (issue 18): the store file
 * (dstore), its index (dindex), its segment state (dseg), the rebuild at
 * start (drebuild) and the segment writer (dwriter), with their life in
 * the daemon and the admission rule that decides what goes to disk.
 *
 * Life:
 *  - dtier_open on the main thread before the loops start (dstore_open:
 *    the only place where blocking is allowed). A store held by another
 *    ringcache, a path that cannot be opened: a one-line error and the
 *    daemon does not start.
 *  - dtier_start on loop 0 (before its loop runs): the rebuild task
 *    starts; the daemon serves meanwhile (the index is empty, so every
 *    disk lookup is a miss). When it ends, the writer is made and started
 *    on the same loop: dstore's rule is that it must not run before.
 *  - dtier_drain on loop 0 when the daemon drains: the writer stops
 *    taking objects at once, and once no client connection is left (one
 *    may still purge) the rebuild is cancelled and the writer writes what
 *    is queued; loop 0 ends when it has (the loop runs until its tasks
 *    end).
 *    dtier_force past the drain deadline cancels the writer (what it had
 *    queued is lost: a bounded wait).
 *  - dtier_close on the main thread once every loop has ended.
 *
 * Admission (dtier_admits, pure): a complete body, a status the disk keeps
 * (the memory tier already decided it is storable), at least min_ttl of
 * freshness left or validators to revalidate with, at most max_object
 * bytes (a record lives in one segment), and hits >= admit_hits (the
 * object's requests so far: 1 at its first store).
 *
 * Threads: dtier_admit and the stats from any loop; the rest as above.
 */
#ifndef RINGCACHE_CACHE_DTIER_H
#define RINGCACHE_CACHE_DTIER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/ban.h"
#include "cache/dindex.h"
#include "cache/drebuild.h"
#include "cache/dseg.h"
#include "cache/dstore.h"
#include "cache/dstream.h"
#include "cache/dwriter.h"
#include "cache/store.h"
#include "rt/group.h"

#define DTIER_MAGIC 0x44544952u /* "DTIR" */

struct dtier_conf {
	const char *path;
	uint64_t size;	     /* bytes; 0 for a block device: all of it */
	uint64_t seg_size;   /* 0: DSUPER_SEG_DEFAULT */
	int64_t min_ttl;     /* seconds of freshness an object must have left */
	uint64_t max_object; /* bytes of body; 0: what fits a segment */
	unsigned admit_hits; /* requests an object must have had (1: at its first store) */
	bool page_cache;     /* record reads through the page cache (dstore_opts) */
};

/* What /metrics shows besides dstore's counters. */
struct dtier_stats {
	_Atomic uint64_t admissions, rejections; /* the admission rule's verdicts */
	_Atomic uint64_t hits, misses;		 /* disk lookups after a memory miss */
	_Atomic uint64_t indexed;		 /* records the writer put in the index */
	_Atomic uint64_t over_budget;	/* disk lookups sent to the origin: DTIER_READ_BUDGET */
	_Atomic uint64_t invals_pruned; /* bans, tag purges older than every record: dropped */
	_Atomic uint64_t streamed;	/* disk hits sent as they were read (dstream.h) */
	/* Segment eviction: records written again (and their bytes), and
	 * those hit since written but not (dseg_choose's bound, a purge,
	 * ban or tag purge, a failed read). */
	_Atomic uint64_t reinserted, reinserted_bytes, reinsert_dropped;
};

/*
 * A ban or a tag purge as the disk sees it: it applies to the records whose
 * version is below SEQ, the sequence of its own record. SEQ is UINT64_MAX
 * while that record is not written (it then applies to every record read:
 * a miss too many, never an object back), and stays so when the writer
 * could not take it. Kept while a record on disk is older than it (a
 * record read back is tested against every entry newer than it): dropped
 * once the segments holding such records have been written again.
 */
enum dinval_state { DINVAL_PENDING, DINVAL_QUEUED, DINVAL_DONE };

struct dinval {
	enum drec_kind kind; /* DREC_BAN or DREC_TAG */
	enum dinval_state state;
	uint64_t seq;
	/* BAN: the one ban, for its matcher; NULL: it applies to every
	 * record below SEQ (a ban record that no longer compiles, or an
	 * invalidation record found damaged at the rebuild). */
	struct ban_list *ban;
	char *url_re, *host_re;
	char *tag; /* TAG */
	uint32_t tag_len;
	bool soft;
};

/*
 * Purge floors: a purge removes the key's index entries at once, but an
 * object of that key queued or encoded before it may be reported written
 * afterwards, before the tombstone's own record is, and with any sequence
 * below the tombstone's: a queued object that memory evicted is not
 * retired by the purge, so the writer writes it. Each purge made while
 * the writer runs holds its key (phash) until its tombstone is reported
 * written, and index_written refuses every record of a held key meanwhile
 * (reports come in sequence order: what is queued after the tombstone is
 * reported after it, when the hold is gone; a record refused is still on
 * disk, and a rebuild puts the tombstone above it). When the writer could
 * not take the tombstone (-EAGAIN) the key stays held for the run (a
 * miss too many, never an object back). Pure; under inval_lock in struct
 * dtier.
 */
struct dfloor {
	uint64_t phash;
	uint32_t waiting; /* tombstones queued for it, not yet reported */
	bool kept;	  /* one was not queued: stays for the run */
};

struct dfloors {
	struct dfloor *v;
	size_t n, cap;
};

/* A purge of PHASH; QUEUED: its tombstone is queued (else kept). false:
 * no memory (the index may then take back an older record). */
bool dfloors_add(struct dfloors *f, uint64_t phash, bool queued);
/* The tombstone of PHASH was reported written. */
void dfloors_written(struct dfloors *f, uint64_t phash);
/* Is PHASH held: a purge of it not yet written? */
bool dfloors_held(const struct dfloors *f, uint64_t phash);
void dfloors_free(struct dfloors *f);

struct dtier {
	unsigned magic;
	struct dfloors floors; /* under inval_lock */
	/* Invalidations (below): the bans and tag purges records are tested
	 * against, and the purges made while the writer did not run yet. */
	pthread_mutex_t inval_lock;
	struct dinval *invals;
	size_t ninvals, invals_cap;
	/* Per segment, the lowest version a record in it may have (its first
	 * sequence, or a reinserted copy's older version; 0: empty), for
	 * inval_prune. Under inval_lock. */
	uint64_t *seg_minver;
	uint64_t *rb_minver;	       /* the rebuild's (drebuild.minver), read once it is done */
	_Atomic uint8_t *walked;       /* per segment: the rebuild walked it (drebuild.h) */
	_Atomic uint32_t *seg_readers; /* per segment: reads in flight (pin, dtier.c) */
	uint64_t oldest;	       /* the least of them: older records are gone (inval_lock) */
	char **pending_purges;	       /* keys (host NUL target), with their lengths */
	uint32_t *pending_lens;
	size_t npending, pending_cap;
	struct dtier_conf conf; /* path owned */
	struct dstore *ds;
	struct dindex *ix;
	struct dseg *dseg;
	struct drebuild rb;
	struct dwriter *_Atomic w;	     /* NULL until the rebuild ended */
	struct rt_group rebuilding, writing; /* on loop 0 */
	/* The admission rule's numbers, which a reload changes
	 * (dtier_set_admission); conf's copies are the ones at open. */
	_Atomic int64_t adm_min_ttl;
	_Atomic uint64_t adm_max_object;
	atomic_uint adm_hits;
	_Atomic uint64_t reading;   /* bytes held by disk reads in flight (dtier_find) */
	atomic_bool draining;	    /* dtier_drain: no object is admitted */
	atomic_bool closing_writes; /* the writer stops once its queue is written */
	const atomic_uint *drain_conns;
	struct rt_group closing;  /* the drain's closer task, on loop 0 */
	atomic_bool writer_ended; /* the writer task returned (or never started) */
	/* Segments the writer has moved to (next_segment): memory hits on an
	 * object on disk count on its entry once per roll (dtier_offer). */
	atomic_uint roll_gen;
	struct dtier_stats stats;
};

/* Main thread, before the loops: 0 with *OUT set, or a negative errno and
 * a one-line message in ERR. LOG gets the store's error and warning
 * lines. */
int dtier_open(struct dtier **out, const struct dtier_conf *c, dstore_log_fn log, void *log_ctx,
	       char *err, size_t errlen);
/* On loop 0, outside or inside a task: start the rebuild (then the
 * writer). 0 or -ENOMEM. */
int dtier_start(struct dtier *t);
/* On loop 0: the daemon drains (above). Objects are no longer admitted
 * at once; the writer takes invalidations until CONNS (the daemon's
 * client connections, all loops) reaches 0, since a request finishing
 * during the drain may still purge (an unsafe method, PURGE), then
 * writes its queue and ends. */
void dtier_drain(struct dtier *t, const atomic_uint *conns);
/* On loop 0, past the drain deadline: end the writer now. */
void dtier_force(struct dtier *t);
/* Main thread, every loop ended. NULLs *TP; NULL is fine. */
void dtier_close(struct dtier **tp);

/* The rebuild ended (its stats in t->rb.stats are final). */
bool dtier_rebuilt(struct dtier *t);
/* The tier works: not disabled by an I/O error. */
bool dtier_enabled(struct dtier *t);

/* A reload: the admission rule's numbers (as dtier_conf's; MAX_OBJECT
 * is cut to what fits a segment). Any thread. */
void dtier_set_admission(struct dtier *t, int64_t min_ttl, uint64_t max_object,
			 unsigned admit_hits);

/* The admission rule for O (published, body complete) with HITS requests
 * so far, at NOW. */
bool dtier_admits(const struct dtier_conf *c, const struct cobj *o, unsigned hits, int64_t now);
/* Apply the rule and queue O under primary key KEY for writing: 1 queued,
 * 0 refused by the rule (both counted), -1 not now (the writer not
 * started yet, queue full, tier off, draining, or O's body still
 * arriving: not counted). Any loop, never
 * waits. */
int dtier_admit(struct dtier *t, const char *key, uint32_t key_len, struct cobj *o, unsigned hits,
		int64_t now);
/* Published O answered one more request (its store, a hit): once it has
 * answered admit_hits, the rule decides, once per object (o->disk_done);
 * a writer that cannot take it now, or a body still arriving (a hit on a
 * filling object: the hit is counted, the fetch offers it at the end),
 * leaves it for a later call. A retired O (store.h) is never offered.
 * Once decided, a hit counts on O's disk entry (dindex_hit_version: only
 * the entry of O's own version, once it has one) once per segment the
 * writer moves to, so that reinsertion keeps an object hot in
 * memory too: two loads and a return on the other hits, fine on every
 * hit. */
void dtier_offer(struct dtier *t, struct cobj *o, int64_t now);

/*
 * Invalidations, durable (issue 18): each removes what the index has of
 * it at once where it can (a purge: every variant of the key) and writes
 * a record (TOMBSTONE, BAN, TAG) so that a rebuild applies it too: a
 * restart brings nothing back. Before the writer runs (the rebuild), the
 * records wait and are written first when it starts. Bans and tag purges
 * cannot find their records in the index (it holds hashes): a record read
 * back is tested against them (dtier_find). Any thread.
 */
/* ALWAYS false (the invalidation an unsafe method makes, RFC 9111 4.4):
 * a record only when the index had the key or is still being rebuilt, so
 * that POST traffic does not fill the store with tombstones. */
void dtier_purge(struct dtier *t, const char *key, uint32_t key_len, bool always);
/* URL_RE / HOST_RE: the ban store_ban accepted (either may be NULL). */
void dtier_ban(struct dtier *t, const char *url_re, const char *host_re);
void dtier_tag(struct dtier *t, const char *tag, size_t len, bool soft);

/* How long a disk read may take before the request goes to the origin. */
#define DTIER_READ_TIMEOUT (2ull * 1000 * 1000 * 1000)
/* Bytes disk reads in flight may hold, each counted as twice its record
 * (the record, then the object copied from it); a read past it is a miss
 * (counted: over_budget) and the origin answers. */
#define DTIER_READ_BUDGET (64ull * 1024 * 1024)
/* Variants of one key looked at on disk. */
#define DTIER_VARIANTS 8

/*
 * A memory miss that owns the key's fetch (store_lookup's MISS without a
 * stale candidate): the variant of LR's key on disk that LR selects, read
 * whole and checked, as a new unpublished object of ST with a complete
 * body (the caller publishes it: the promotion), or NULL (a miss: not in
 * the index, a damaged record, an I/O error, a timeout; the request goes
 * to the origin). The record's full key and version are compared with
 * the index entry's, so a hash collision or a stale entry is a miss; so
 * is a read that would take the reads in flight past DTIER_READ_BUDGET. Runs
 * in the request's task: awaits each read, with DEADLINE. Counted (hits,
 * misses). Partial objects are not read back (not written either).
 * With STREAM, a record longer than DSTREAM_MIN is not read whole: the
 * object comes back with its body empty and *STREAM set, and the caller,
 * once it has tried the promotion, hands the stream to dstream_start,
 * which reads the body into it (dstream.h); *STREAM is NULL otherwise.
 * *HOT: the record was read from disk before since it was written (its
 * index entry's hits), so its promotion counts as hot (store_promoted).
 */
struct cobj *dtier_find(struct dtier *t, struct store *st, const struct lookup_req *lr,
			rt_time_t deadline, struct dstream **stream, bool *hot);

#endif
