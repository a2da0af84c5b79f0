/*
 * store.h - the in-memory cache: objects, their streamed bodies, the
 * sharded table, coalescing, eviction and invalidation.
 *
 * Shapes:
 *  - struct coh ("object head"): one per primary key (host + target). Holds
 *    the stored variants (one per Vary secondary key), a busy flag while one
 *    fetch for the key is in flight, the tasks waiting for that fetch, and a
 *    hit-for-miss deadline.
 *  - struct cobj: one stored response: status, header lines, policy
 *    metadata, secondary key. Immutable once published; refcounted.
 *  - struct cbody: the body, a list of chunks that is readable while it is
 *    still being appended to (every reader streams as bytes arrive);
 *    refcounted, because a 304 revalidation publishes a new cobj with new
 *    headers that shares the old body.
 *
 * Concurrency: one mutex per shard (the table, the coh fields), one per
 * body (chunk list, state, waiters). Neither is ever held across an await.
 * A waiting task registers a struct cwaiter on its own stack and is woken on
 * its own loop (directly, or through that loop's inbox from another
 * thread). Hits touch nothing shared but the object's refcount and its
 * eviction frequency byte.
 *
 * Ownership: functions returning a cobj or cbody return a new reference;
 * release with cobj_release / cbody_release (which NULL the pointer).
 */
#ifndef RINGCACHE_CACHE_STORE_H
#define RINGCACHE_CACHE_STORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cache/evict.h"
#include "http/coding.h"
#include "cache/policy.h"
#include "cache/vary.h"
#include "rt/clock.h"
#include "rt/loop.h"

struct store;
struct coh;

/* A task waiting for a body to grow or a fetch to publish. */
struct cwaiter {
	struct cwaiter *next;
	struct rt_task *task;
	struct rt_loop *loop;
	struct rt_msg msg;
	bool queued; /* on a wait list (under that list's lock) */
};

struct cchunk {
	struct cchunk *next;
	uint32_t len, cap; /* len is published under the body lock */
	char *data;	   /* inl, or bytes inside an adopted buffer */
	void *adopted;	   /* that buffer (cbody_adopt), freed with the chunk */
	char inl[];
};

enum body_state { BODY_FILLING, BODY_DONE, BODY_FAILED };

#define CBODY_MAGIC 0x43424f44u

struct cbody {
	unsigned magic;
	pthread_mutex_t lock;
	atomic_uint refs;
	struct cchunk *head, *tail;
	uint64_t len;
	uint64_t alloc; /* bytes allocated for chunks (written by the filler, under lock) */
	enum body_state state;
	struct cwaiter *waiters;
	/* Pipe mode: a body that is not stored and has exactly one reader.
	 * The reader frees what it has sent (body_consume) and the fetcher
	 * waits while more than PIPE_WINDOW bytes are unread, so an
	 * uncacheable response streams in bounded memory. */
	bool pipe;
	bool reader_gone;
	uint64_t consumed; /* bytes freed from the head */
	struct cwaiter *space_waiters;
};

#define PIPE_WINDOW (256 * 1024)

#define COBJ_MAGIC 0x434f424au

struct cobj {
	unsigned magic;
	atomic_uint refs;
	struct store *st;
	struct coh *oh;	    /* set on publish; the coh outlives its objects */
	struct cobj *vnext; /* variant list, under the shard lock */
	struct evict_node ev;
	bool linked; /* in oh->variants (shard lock) */
	bool tagged; /* in the tag index */
	atomic_bool soft_stale;

	int status;
	char *reason; /* reason phrase */
	char *hdrs;   /* "Name: value\r\n" lines, as stored */
	uint32_t hdrs_len;
	char *vary; /* Vary names (vary_names), NULL if none */
	uint32_t vary_len;
	char *vkey; /* secondary key of the request that fetched it: its forwarding
		     * key (http/forward.h, fwd_len bytes), then its Vary key */
	uint32_t vkey_len;
	uint32_t fwd_len;
	struct resp_meta meta;
	int64_t lifetime; /* seconds */
	int64_t clen;	  /* Content-Length the origin announced, -1 unknown */
	uint64_t ban_seq;
	char *tags; /* Surrogate-Key / Cache-Tag value to index, or NULL */
	uint32_t tags_len;
	bool tags_space_sep; /* Surrogate-Key (space) rather than Cache-Tag (comma) */
	struct cbody *body;
	/* Partial content (RFC 9111 3.3): a stored 206 whose body is bytes
	 * [part_first, part_last] of a representation of part_len bytes; its
	 * status is 206 and its header lines hold no Content-Range. A lookup
	 * returns it only to a request lookup_req.fits says it answers. */
	bool partial;
	uint64_t part_first, part_last, part_len;
	/* Content-coded copies of the body made by the compression pool (or,
	 * when the origin sent it encoded, its decoded identity copy): at most
	 * one per coding, readable while being filled. Under enc_lock; the
	 * clone a 304 makes shares them, as it shares the body. */
	pthread_mutex_t enc_lock;
	struct cbody *enc[CODING__N];
	uint8_t enc_refused; /* bit per coding: a copy failed for good, send as stored */
	/* What the compression code learnt from the head, once (0: not yet);
	 * its layout is encode.c's. Racing writers store the same value. */
	_Atomic uint8_t enc_info;
	/* The disk tier (cache/dtier.h): requests this object answered
	 * (its store counts as the first), and whether the admission rule
	 * has had its say (queued, refused, or the object came from disk). */
	_Atomic uint8_t disk_hits;
	atomic_bool disk_done;
	/* The disk tier's segment roll (dtier.roll_gen) of the last hit on
	 * this object that was counted on its disk entry: at most one a roll,
	 * so that an object hot in memory is copied forward too (dtier.c). */
	_Atomic uint32_t disk_mark;
	/* The version of its record on disk, once written (or read back):
	 * what such a hit is counted on; 0 while it is not on disk. */
	_Atomic uint64_t disk_version;
	/* No longer the current copy of its key: purged, banned (at a lookup
	 * or by the lurker), tag-purged (soft too) or replaced by a newer
	 * variant; set under the shard lock before the invalidation's disk
	 * record is queued, never by eviction. The disk writer skips such an
	 * object, so a write never undoes an invalidation (store_obj_current). */
	atomic_bool retired;
	/* Read from disk as it is sent (cache/dstream.h): its head and the
	 * body so far are not checked until the body is done. A response
	 * that would end before the body does (HEAD, 304, a range) waits for
	 * that (deliver.c). */
	atomic_bool unverified;
	/* A near-cache copy of an object another cluster member owns
	 * (backend/cluster.h): its lifetime capped, never written to disk;
	 * NEAR_CHARGE bytes of the store's near share it holds until freed
	 * (store_near_take). */
	bool near;
	uint64_t near_charge;
	/* In the store's list of near copies, oldest first (under its
	 * near_lock): the ones given up first when the share is full. */
	bool near_listed;
	struct cobj *near_prev, *near_next;
};

/* --- bodies ------------------------------------------------------------ */

struct cbody *cbody_new(void);
void cbody_release(struct cbody **bp);
/* Append bytes (fetcher only); wakes readers. 0 or -ENOMEM. EXPECT hints
 * the total size for chunk sizing (0: unknown). */
int cbody_append(struct cbody *b, const char *p, size_t n, uint64_t expect);
/* Append N bytes at P, which lie inside MEM (SIZE bytes from malloc),
 * without copying them: the body owns MEM from here on (also when this
 * fails: -ENOMEM) and frees it with the chunk. A disk hit's record buffer
 * becomes the promoted object's body this way. */
int cbody_adopt(struct cbody *b, void *mem, size_t size, const char *p, size_t n);
/* The body is complete (OK) or broken (!OK); wakes readers. */
void cbody_finish(struct cbody *b, bool ok);

struct body_reader {
	struct cbody *b;
	struct cchunk *c; /* chunk holding pos, or NULL before the first */
	uint32_t off;	  /* offset of pos within c */
	uint64_t pos;
};

void body_reader_init(struct body_reader *r, struct cbody *b);
/* Bytes available at the cursor: >0 with *P set; 0 at the end of a
 * complete body; -EAGAIN when more may come; -EIO when the body broke. */
ssize_t body_peek(struct body_reader *r, const char **p);
void body_advance(struct body_reader *r, size_t n);
/* Move the cursor to absolute offset OFF (<= bytes available). */
void body_seek(struct body_reader *r, uint64_t off);
/* Park until the body grows past the cursor or stops filling. 0,
 * -ETIMEDOUT, -ECANCELED. */
int body_wait(struct body_reader *r, rt_time_t deadline);

/* Pipe mode, reader side: free the chunks entirely before the cursor and
 * let the fetcher go on. */
void body_consume(struct body_reader *r);
/* Pipe mode, reader side: the reader is gone; the fetcher should stop. */
void body_reader_gone(struct cbody *b);
/* Pipe mode, fetcher side: wait while the unread window is full. 0,
 * -EPIPE when the reader is gone, -ETIMEDOUT, -ECANCELED. */
int cbody_wait_space(struct cbody *b, rt_time_t deadline);

/* --- objects ----------------------------------------------------------- */

/* A new unpublished object owning a new body; the caller fills the fields. */
struct cobj *cobj_new(struct store *st);
void cobj_retain(struct cobj *o);
void cobj_release(struct cobj **op);
/* Copy-construct the head of OLD with headers replaced (304 update): the
 * new object shares OLD's body. */
struct cobj *cobj_clone_head(struct cobj *old);

/*
 * Near-cache copies may hold 1/STORE_NEAR_SHARE of the budget: a copy of
 * another member's object must not push out the objects this node owns
 * (each of which the origin would be asked for again). Take N bytes of
 * that share for a copy (false: the share is full, keep none); the copy's
 * release gives them back (cobj.near_charge).
 */
#define STORE_NEAR_SHARE 8
/* When the share is full the oldest copies are given up first (at most
 * STORE_NEAR_EVICT per take): they are copies, their owners have them. */
#define STORE_NEAR_EVICT 8
bool store_near_take(struct store *st, uint64_t n);
/* Published near copy O (holding its charge) joins the list the share
 * gives up from. */
void store_near_add(struct store *st, struct cobj *o);
void store_near_give(struct store *st, uint64_t n);
uint64_t store_near_bytes(struct store *st);

/* Published O's primary key (host NUL target) and its length, or NULL
 * before it is published. Valid while O is referenced. */
const char *cobj_key(const struct cobj *o, uint32_t *len);

/* O's copy of its body in coding C: a new reference, or NULL. */
struct cbody *cobj_enc_get(struct cobj *o, enum coding c);
/* Install B (the caller keeps its reference; O takes one of its own) unless
 * O already has a working copy in C: then returns that one (a new
 * reference) and installs nothing; NULL when B went in. A broken copy in
 * the slot is replaced. */
struct cbody *cobj_enc_put(struct cobj *o, enum coding c, struct cbody *b);
/* Forget B (a copy that broke) if it is still O's copy in C, so a later
 * request makes a new one; with REFUSE, no later request tries again (the
 * source cannot be coded: corrupt, too big). */
void cobj_enc_drop(struct cobj *o, enum coding c, struct cbody *b, bool refuse);
/* A copy in C failed for good (cobj_enc_drop with REFUSE). */
bool cobj_enc_refused(struct cobj *o, enum coding c);
/* Bytes allocated for O's body and its coded copies (for the budget). */
uint64_t cobj_alloc(struct cobj *o);
/* B's state, read under its lock. */
enum body_state cbody_state(struct cbody *b);

/* --- the store ---------------------------------------------------------- */

struct store_stats {
	_Atomic uint64_t objects, bytes, evictions, purged, banned, hfm_set;
	/* The ban lurker (store_lurk): objects it tested, objects it removed
	 * (also counted in banned), bans dropped once no object needed them. */
	_Atomic uint64_t lurk_tested, lurk_removed, bans_dropped;
	/* Responses relayed unstored by store_fill_begin. */
	_Atomic uint64_t refused_held;
};

struct store *store_create(uint64_t budget);
/* Change the memory budget (reload); evicts down to a smaller one now. */
void store_set_budget(struct store *st, uint64_t budget);
uint64_t store_budget(struct store *st);
void store_free(struct store **sp);
struct store_stats *store_stats(struct store *st);
/* Bytes of objects queued in the cache (what ringcache_cache_bytes shows). */
uint64_t store_bytes(struct store *st);
/* Bytes of objects out of the cache that clients or fetches still hold
 * (evicted, purged or replaced while being sent or filled): charged to
 * the budget too, so queued + held stays within it. */
uint64_t store_held_bytes(struct store *st);
/*
 * A fetch about to store a response of EXPECT bytes (Content-Length; 0 when
 * not known): true, and EXPECT counted as being filled until
 * store_fill_end, or false when objects that left the cache (held) and
 * objects being filled, with EXPECT, are over half the budget (with none,
 * anything max_object_size lets in is stored). The fetch then relays the
 * response unstored, through a pipe of at most PIPE_WINDOW unread bytes,
 * and counts it in store_stats.refused_held. Why: an object being filled
 * that the budget evicts stays in memory while it fills and is read;
 * without this, a thousand clients each fetching a 4 MiB miss empty the
 * cache and hold 1 GiB (issue 20).
 */
bool store_fill_begin(struct store *st, uint64_t expect);
void store_fill_end(struct store *st, uint64_t expect);

enum lookup_kind {
	LOOKUP_HIT,  /* res.obj usable as res.use says; if res.fetch, the caller
		      * must also refresh it in the background (it owns busy) */
	LOOKUP_MISS, /* the caller owns the fetch for this key (busy set); res.obj
		      * is a stale candidate to revalidate, or NULL */
	LOOKUP_PASS, /* hit-for-miss, or waiting for another fetch timed out:
		      * fetch without storing and without coalescing */
};

struct lookup_req {
	const char *key; /* primary key bytes: host, '\0', target */
	uint32_t key_len;
	uint32_t host_len;	/* key[0..host_len) is the host; the URL follows the NUL */
	const struct hmsg *req; /* for Vary matching */
	const char *fwd_key;	/* the request's forwarding key (forward.h) */
	uint32_t fwd_len;	/* 0: none, as for every untrusted client */
	const struct req_meta *rq;
	int64_t now;		 /* Unix seconds */
	rt_time_t wait_deadline; /* how long to wait for another task's fetch */
	/* Whether partial object O can answer this request (called under
	 * the shard lock: pure, no waiting). NULL: partial objects never
	 * hit. A fresh partial object that does not fit is a MISS with O as
	 * the candidate, so the fetch can complete it. */
	bool (*fits)(const struct cobj *o, const void *arg);
	const void *fits_arg;
};

struct lookup_res {
	enum lookup_kind kind;
	struct cobj *obj; /* reference, or NULL */
	struct coh *oh;	  /* reference when kind == MISS or (HIT and fetch) */
	enum usable use;
	bool fetch;	     /* HIT: the caller must refresh in the background */
	bool collapsed;	     /* the caller waited for another fetch first */
	bool wait_timed_out; /* PASS because that wait outlasted its deadline */
};

int store_lookup(struct store *st, const struct lookup_req *lr, struct lookup_res *res);

/* Does LR select variant O (its forwarding key equal, then its Vary
 * fields, vary.h)? What store_lookup asks of each stored variant, for an
 * object not in the table yet (one read back from disk). */
enum vary_match store_variant_match(const struct cobj *o, const struct lookup_req *lr);

/* The fetch for OH ends by publishing O (a stored response; its variant
 * replaces one with the same secondary key), which wakes the waiters. The
 * caller's reference to OH passes to O; the caller keeps its own to O. */
void store_publish(struct store *st, struct coh *oh, struct cobj *o);
/*
 * A promotion from disk (cache/dtier.h): store_promo_begin before the
 * first disk read takes the ban sequence and the invalidation epoch (every
 * purge and tag purge bumps it); store_publish_promoted then publishes O
 * as store_publish does, keeping that ban sequence, unless a purge or tag
 * purge ran meanwhile or a ban made meanwhile matches O: false, nothing
 * published, O marked retired, and OH still the caller's (busy: it
 * fetches from the origin or aborts). A purge can refuse a promotion of
 * another key (one epoch for the store): a disk hit lost, never a wrong
 * one.
 */
struct store_promo {
	uint64_t ban_seq, epoch;
};
void store_promo_begin(struct store *st, struct store_promo *p);
/* Unlike store_publish, it does not evict: the eviction it owes could
 * take O itself before the caller's lookup finds it (the budget is one
 * object over meanwhile); the caller calls store_promoted after that
 * lookup (its hit holds O). */
bool store_publish_promoted(struct store *st, struct coh *oh, struct cobj *o,
			    const struct store_promo *p);
/* After the lookup that follows a promotion of O: evict down to the
 * budget, and let O count as hot (read from disk before: S3-FIFO moves it
 * to its main queue when the small one evicts it) or cold (no hit: it
 * leaves through the small queue unless hit again), the lookup's own hit
 * aside. So memory is not given to what was read from disk once. */
void store_promoted(struct store *st, struct cobj *o, bool hot);
/*
 * An invalidation of both tiers (the memory one, then the disk tier's
 * index and record) is bracketed by store_inval_begin and _end: each
 * bumps the epoch, and store_publish_promoted refuses while a bracket is
 * open. A disk read that began before the disk half removed the key (its
 * promo_begin after the memory half) would otherwise publish the object
 * back: refused, it is a miss. Any thread.
 */
void store_inval_begin(struct store *st);
void store_inval_end(struct store *st);
/* The fetch for OH ends without a stored response; HFM_UNTIL > 0 makes
 * later lookups pass until then (Unix seconds). Wakes the waiters. */
void store_fetch_abort(struct store *st, struct coh *oh, int64_t hfm_until);
/* Is published O still the current copy of its key: not retired and not
 * matched by a ban newer than its mark (tested with a copy of the mark,
 * so O is not changed)? A retired or banned O is marked retired. Any
 * thread; takes the shard lock. The disk writer asks it just before it
 * encodes O: an invalidation made before that has its record queued
 * after O's, one made after it has a higher sequence than O's record. */
bool store_obj_current(struct cobj *o);
/* Drop the reference store_lookup returned in res->oh. */
void store_coh_release(struct store *st, struct coh **ohp);
/* Take O out of the table (a broken body, a failed refresh). */
void store_unlink(struct store *st, struct cobj *o);
/* The body of published O grew: charge it and evict if needed. */
void store_account(struct store *st, struct cobj *o, uint64_t size);

/* Invalidation. Return the number of objects affected. */
size_t store_purge_key(struct store *st, const char *key, uint32_t key_len);
int64_t store_ban(struct store *st, const char *url_re, const char *host_re, char *err,
		  size_t errlen);
size_t store_purge_tag(struct store *st, const char *tag, size_t len, bool soft);

/*
 * The ban lurker, after Varnish's: bans are tested lazily at lookup, and
 * also here, in the background, so that objects nobody asks for stop
 * holding old bans in the list. Each call is one bounded step of a pass
 * over the table: it walks buckets from a cursor until it has taken
 * MAX_OBJECTS objects (whole buckets: a step may take the rest of the
 * bucket it is in) or LURK_STEP_BUCKETS buckets, each shard's lock held
 * only while references are taken; the objects are tested (ban_check,
 * which marks each with the newest ban it was tested against) with no
 * shard lock held, and the banned ones unlinked. When the cursor has
 * been round the whole table, every object was tested past, or stored
 * after, the newest ban of the pass's start, and the bans up to that one
 * are dropped. With no ban in the list it does nothing. One lurker at a
 * time (a mutex; no await inside). Nothing here depends on the clock:
 * the caller paces the steps (cache/lurk.h).
 */
#define LURK_STEP_BUCKETS 16384u

struct lurk_step {
	uint32_t tested;  /* objects tested against the bans newer than their mark */
	uint32_t removed; /* of those, banned and taken out of the table */
	uint32_t dropped; /* bans dropped as the pass ended */
	bool idle;	  /* no ban in the list: nothing walked */
	bool pass_done;	  /* this step ended a pass over the whole table */
};

void store_lurk(struct store *st, uint32_t max_objects, struct lurk_step *out);
/* Bans in the list now (a gauge). */
size_t store_ban_count(struct store *st);

#endif
