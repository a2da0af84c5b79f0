/* dindex.c - the disk tier's index: sharded linear-probing tables of packed
 * entries, per-segment record lists, a rebuild tombstone set. See dindex.h. */
#include "cache/dindex.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* In-memory only: the bit-field layout is the compiler's, the size is ours. */
struct dindex_entry {
	uint64_t phash;
	uint32_t vhash;
	uint32_t expires; /* 0: never, else ix->base + expires - 1 */
	uint64_t seq : 48, hits : 4, flags : 4, spare : 8;
	uint64_t seg : 22, off8 : 21, len8 : 21; /* len8 == 0: empty slot */
};
_Static_assert(sizeof(struct dindex_entry) == 32, "dindex entry is 32 bytes");

#define SEQ_MASK   ((1ull << DINDEX_SEQ_BITS) - 1)
#define SHARD_BITS 6
_Static_assert((1u << SHARD_BITS) == DINDEX_SHARDS, "shard bits");
/* Home slots come from 26 hash bits (the low 32 less the shard's 6), so a
 * segment list's 32-bit hash finds its entry; that bounds a shard. */
#define SHARD_CAP_MAX (1u << 26)
#define SEG_STRIPES   64u

struct tomb {
	uint64_t phash;
	uint64_t seq; /* 0: empty */
};

struct shard {
	pthread_mutex_t lock;
	struct dindex_entry *slots;
	uint32_t cap, count;
	uint64_t bytes;
	struct tomb *tombs; /* rebuild only; power-of-two capacity */
	uint32_t tcap, tcount;
} __attribute__((aligned(64)));

/* The records written into one segment, in write order. */
struct member {
	uint32_t h32; /* low 32 bits of the primary hash: shard and home slot */
	uint32_t off8;
};

struct seglist {
	struct member *v;
	uint32_t n, cap;
};

struct dindex {
	int64_t base;
	uint32_t nsegs;
	bool rebuilding; /* under every shard's lock (set and cleared holding all) */
	struct shard shards[DINDEX_SHARDS];
	pthread_mutex_t stripes[SEG_STRIPES]; /* segment lists, by seg % SEG_STRIPES */
	struct seglist *segs;
};

/* --- small helpers ---------------------------------------------------- */

/* a < b as 48-bit serial numbers. */
static bool seq_lt(uint64_t a, uint64_t b)
{
	return (int64_t)(((a - b) & SEQ_MASK) << (64 - DINDEX_SEQ_BITS)) < 0;
}

static struct shard *shard_of(struct dindex *ix, uint32_t h32)
{
	return &ix->shards[h32 & (DINDEX_SHARDS - 1)];
}

/* Multiply-shift instead of a mask: capacities need not be powers of two,
 * which keeps the table near its intended load instead of up to twice it. */
static uint32_t home_of(uint32_t h32, uint32_t cap)
{
	return (uint32_t)(((uint64_t)(h32 >> SHARD_BITS) * cap) >> (32 - SHARD_BITS));
}

static uint32_t next_slot(uint32_t i, uint32_t cap)
{
	return i + 1 == cap ? 0 : i + 1;
}

/* 0 is "never", so V stands for base + V - 1; an expiry before the base
 * becomes the base itself, which is still in the past for a caller. */
static uint32_t pack_expires(const struct dindex *ix, int64_t e)
{
	if (e == 0)
		return 0;
	int64_t d = e - ix->base + 1;
	if (d < 1)
		return 1;
	return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

static void unpack(const struct dindex *ix, const struct dindex_entry *e, struct dindex_rec *r)
{
	r->phash = e->phash;
	r->vhash = e->vhash;
	r->seg = (uint32_t)e->seg;
	r->off = (uint32_t)e->off8 * 8u;
	r->len = (uint32_t)e->len8 * 8u;
	r->expires = e->expires ? ix->base + e->expires - 1 : 0;
	r->seq = e->seq;
	r->flags = (uint8_t)e->flags;
	r->hits = (uint8_t)e->hits;
}

/* --- one shard's table (caller holds its lock) ------------------------- */

static struct dindex_entry *find(struct shard *s, uint64_t phash, uint32_t vhash)
{
	for (uint32_t i = home_of((uint32_t)phash, s->cap);; i = next_slot(i, s->cap)) {
		struct dindex_entry *e = &s->slots[i];
		if (!e->len8)
			return NULL;
		if (e->phash == phash && e->vhash == vhash)
			return e;
	}
}

/* The entry a segment list's member names, if it still lives there. */
static struct dindex_entry *find_at(struct shard *s, uint32_t h32, uint32_t seg, uint32_t off8)
{
	for (uint32_t i = home_of(h32, s->cap);; i = next_slot(i, s->cap)) {
		struct dindex_entry *e = &s->slots[i];
		if (!e->len8)
			return NULL;
		if ((uint32_t)e->phash == h32 && e->seg == seg && e->off8 == off8)
			return e;
	}
}

/* Backward-shift deletion: later entries of the cluster move up into the
 * hole when their home allows, so no deleted-slot markers pile up. */
static void erase(struct shard *s, struct dindex_entry *e)
{
	uint32_t hole = (uint32_t)(e - s->slots);
	s->count--;
	s->bytes -= (uint64_t)e->len8 * 8u;
	for (uint32_t j = next_slot(hole, s->cap);; j = next_slot(j, s->cap)) {
		struct dindex_entry *n = &s->slots[j];
		if (!n->len8)
			break;
		uint32_t k = home_of((uint32_t)n->phash, s->cap);
		/* n may fill the hole unless its home lies cyclically in (hole, j]. */
		bool stays = hole <= j ? (k > hole && k <= j) : (k > hole || k <= j);
		if (!stays) {
			s->slots[hole] = *n;
			hole = j;
		}
	}
	memset(&s->slots[hole], 0, sizeof(s->slots[hole]));
}

static void place(struct shard *s, const struct dindex_entry *e)
{
	uint32_t i = home_of((uint32_t)e->phash, s->cap);
	while (s->slots[i].len8)
		i = next_slot(i, s->cap);
	s->slots[i] = *e;
	s->count++;
	s->bytes += (uint64_t)e->len8 * 8u;
}

static int grow(struct shard *s)
{
	if (s->cap >= SHARD_CAP_MAX)
		return -ENOMEM;
	uint64_t ncap = (uint64_t)s->cap + s->cap / 2;
	if (ncap > SHARD_CAP_MAX)
		ncap = SHARD_CAP_MAX;
	struct dindex_entry *old = s->slots, *nv = calloc(ncap, sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	uint32_t ocap = s->cap;
	s->slots = nv;
	s->cap = (uint32_t)ncap;
	s->count = 0;
	s->bytes = 0;
	for (uint32_t i = 0; i < ocap; i++)
		if (old[i].len8)
			place(s, &old[i]);
	free(old);
	return 0;
}

/* --- the rebuild tombstone set (caller holds the shard lock) ----------- */

static struct tomb *tomb_slot(struct tomb *t, uint32_t tcap, uint64_t phash)
{
	for (uint32_t i = (uint32_t)(phash >> 32) & (tcap - 1);; i = (i + 1) & (tcap - 1))
		if (!t[i].seq || t[i].phash == phash)
			return &t[i];
}

static int tomb_add(struct shard *s, uint64_t phash, uint64_t seq)
{
	if ((s->tcount + 1) * 2 > s->tcap) {
		uint32_t ncap = s->tcap ? s->tcap * 2 : 64;
		struct tomb *nt = calloc(ncap, sizeof(*nt));
		if (!nt)
			return -ENOMEM;
		for (uint32_t i = 0; i < s->tcap; i++)
			if (s->tombs[i].seq)
				*tomb_slot(nt, ncap, s->tombs[i].phash) = s->tombs[i];
		free(s->tombs);
		s->tombs = nt;
		s->tcap = ncap;
	}
	struct tomb *t = tomb_slot(s->tombs, s->tcap, phash);
	if (!t->seq) {
		t->phash = phash;
		t->seq = seq;
		s->tcount++;
	} else if (seq_lt(t->seq, seq)) {
		t->seq = seq;
	}
	return 0;
}

/* Does a rebuild tombstone hide version SEQ of PHASH? */
static bool tomb_hides(struct shard *s, uint64_t phash, uint64_t seq)
{
	if (!s->tcap)
		return false;
	struct tomb *t = tomb_slot(s->tombs, s->tcap, phash);
	return t->seq && seq_lt(seq, t->seq);
}

/* --- segment lists (caller holds the segment's stripe lock) ------------ */

static pthread_mutex_t *stripe_of(struct dindex *ix, uint32_t seg)
{
	return &ix->stripes[seg % SEG_STRIPES];
}

/* Room for one more member, so that an insert never fails after the
 * entry went into the table (an entry missing from its segment's list
 * would survive the segment's reuse). */
static int seg_reserve(struct seglist *l)
{
	if (l->n < l->cap)
		return 0;
	uint32_t ncap = l->cap ? l->cap * 2 : 256;
	struct member *nv = realloc(l->v, ncap * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	l->v = nv;
	l->cap = ncap;
	return 0;
}

/* --- public ------------------------------------------------------------ */

uint64_t dindex_expected(uint64_t store_bytes, uint64_t avg_bytes)
{
	uint64_t n = store_bytes / (avg_bytes ? avg_bytes : 16384);
	return n < 1024 ? 1024 : n;
}

struct dindex *dindex_create(uint64_t expected, uint32_t nsegs, int64_t base)
{
	if (!nsegs || nsegs > DINDEX_SEG_MAX)
		return NULL;
	/* Shards are cache-line aligned so that two loops probing neighbouring
	 * shards do not share a line; calloc only promises 16 bytes. */
	size_t size = (sizeof(struct dindex) + 63) & ~(size_t)63;
	struct dindex *ix = aligned_alloc(64, size);
	if (!ix)
		return NULL;
	memset(ix, 0, size);
	ix->base = base;
	ix->nsegs = nsegs;
	/* 4/3 slots per expected object: the table is 3/4 full at the guess. */
	uint64_t cap = expected / DINDEX_SHARDS * 4 / 3 + 16;
	if (cap > SHARD_CAP_MAX)
		cap = SHARD_CAP_MAX;
	ix->segs = calloc(nsegs, sizeof(*ix->segs));
	bool ok = ix->segs != NULL;
	for (uint32_t i = 0; i < DINDEX_SHARDS; i++) {
		struct shard *s = &ix->shards[i];
		pthread_mutex_init(&s->lock, NULL);
		s->cap = (uint32_t)cap;
		s->slots = ok ? calloc(cap, sizeof(*s->slots)) : NULL;
		ok = ok && s->slots;
	}
	for (uint32_t i = 0; i < SEG_STRIPES; i++)
		pthread_mutex_init(&ix->stripes[i], NULL);
	if (!ok)
		dindex_free(&ix);
	return ix;
}

void dindex_free(struct dindex **ixp)
{
	struct dindex *ix = *ixp;
	if (!ix)
		return;
	*ixp = NULL;
	for (uint32_t i = 0; i < DINDEX_SHARDS; i++) {
		free(ix->shards[i].slots);
		free(ix->shards[i].tombs);
		pthread_mutex_destroy(&ix->shards[i].lock);
	}
	for (uint32_t i = 0; i < SEG_STRIPES; i++)
		pthread_mutex_destroy(&ix->stripes[i]);
	if (ix->segs)
		for (uint32_t i = 0; i < ix->nsegs; i++)
			free(ix->segs[i].v);
	free(ix->segs);
	free(ix);
}

uint64_t dindex_phash(const void *key, size_t len)
{
	return XXH3_64bits(key, len);
}

uint32_t dindex_vhash(const void *vkey, size_t len)
{
	return len ? (uint32_t)XXH3_64bits_withSeed(vkey, len, 0x76617279u) : 0;
}

static bool rec_valid(const struct dindex *ix, const struct dindex_rec *r)
{
	return r->seg < ix->nsegs && r->off % 8 == 0 && r->off <= DINDEX_SPAN_MAX && r->len &&
	       r->len <= DINDEX_SPAN_MAX && (r->flags & ~DINDEX_FLAGS_MASK) == 0;
}

int dindex_put(struct dindex *ix, const struct dindex_rec *r)
{
	if (!rec_valid(ix, r))
		return -EINVAL;
	struct dindex_entry ne = {
	    .phash = r->phash,
	    .vhash = r->vhash,
	    .expires = pack_expires(ix, r->expires),
	    .seq = r->seq & SEQ_MASK,
	    .hits = r->hits > DINDEX_HITS_MAX ? DINDEX_HITS_MAX : r->hits,
	    .flags = r->flags,
	    .seg = r->seg,
	    .off8 = r->off / 8,
	    .len8 = (r->len + 7) / 8,
	};
	struct seglist *l = &ix->segs[r->seg];
	struct shard *s = shard_of(ix, (uint32_t)r->phash);
	int rc;
	pthread_mutex_lock(stripe_of(ix, r->seg));
	rc = seg_reserve(l);
	if (rc == 0) {
		pthread_mutex_lock(&s->lock);
		struct dindex_entry *e = find(s, r->phash, r->vhash);
		if (ix->rebuilding && tomb_hides(s, r->phash, ne.seq))
			rc = 0;
		else if (e && !seq_lt(e->seq, ne.seq))
			rc = 0; /* the entry is as new or newer: a rebuild saw it first */
		else if (e) {
			s->bytes += (uint64_t)ne.len8 * 8u - (uint64_t)e->len8 * 8u;
			*e = ne;
			rc = 1;
		} else if ((uint64_t)(s->count + 1) * 4 > (uint64_t)s->cap * 3 && grow(s) != 0) {
			rc = -ENOMEM;
		} else {
			place(s, &ne);
			rc = 1;
		}
		pthread_mutex_unlock(&s->lock);
		if (rc == 1)
			l->v[l->n++] = (struct member){(uint32_t)r->phash, (uint32_t)ne.off8};
	}
	pthread_mutex_unlock(stripe_of(ix, r->seg));
	return rc;
}

size_t dindex_lookup(struct dindex *ix, uint64_t phash, struct dindex_rec *out, size_t max)
{
	struct shard *s = shard_of(ix, (uint32_t)phash);
	size_t n = 0;
	pthread_mutex_lock(&s->lock);
	for (uint32_t i = home_of((uint32_t)phash, s->cap); s->slots[i].len8;
	     i = next_slot(i, s->cap)) {
		if (s->slots[i].phash != phash)
			continue;
		if (n < max)
			unpack(ix, &s->slots[i], &out[n]);
		n++;
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

bool dindex_get(struct dindex *ix, uint64_t phash, uint32_t vhash, struct dindex_rec *out)
{
	struct shard *s = shard_of(ix, (uint32_t)phash);
	pthread_mutex_lock(&s->lock);
	struct dindex_entry *e = find(s, phash, vhash);
	if (e && out)
		unpack(ix, e, out);
	pthread_mutex_unlock(&s->lock);
	return e != NULL;
}

bool dindex_hit(struct dindex *ix, uint64_t phash, uint32_t vhash)
{
	struct shard *s = shard_of(ix, (uint32_t)phash);
	pthread_mutex_lock(&s->lock);
	struct dindex_entry *e = find(s, phash, vhash);
	if (e && e->hits < DINDEX_HITS_MAX)
		e->hits++;
	pthread_mutex_unlock(&s->lock);
	return e != NULL;
}

bool dindex_hit_version(struct dindex *ix, uint64_t phash, uint32_t vhash, uint64_t seq)
{
	struct shard *s = shard_of(ix, (uint32_t)phash);
	pthread_mutex_lock(&s->lock);
	struct dindex_entry *e = find(s, phash, vhash);
	bool same = e && e->seq == (seq & SEQ_MASK);
	if (same && e->hits < DINDEX_HITS_MAX)
		e->hits++;
	pthread_mutex_unlock(&s->lock);
	return same;
}

bool dindex_remove(struct dindex *ix, uint64_t phash, uint32_t vhash)
{
	struct shard *s = shard_of(ix, (uint32_t)phash);
	pthread_mutex_lock(&s->lock);
	struct dindex_entry *e = find(s, phash, vhash);
	if (e)
		erase(s, e);
	pthread_mutex_unlock(&s->lock);
	return e != NULL;
}

bool dindex_remove_at(struct dindex *ix, uint64_t phash, uint32_t vhash, uint32_t seg, uint32_t off)
{
	struct shard *s = shard_of(ix, (uint32_t)phash);
	pthread_mutex_lock(&s->lock);
	struct dindex_entry *e = find(s, phash, vhash);
	bool at = e && e->seg == seg && e->off8 * 8u == off;
	if (at)
		erase(s, e);
	pthread_mutex_unlock(&s->lock);
	return at;
}

size_t dindex_tombstone(struct dindex *ix, uint64_t phash, uint64_t seq)
{
	struct shard *s = shard_of(ix, (uint32_t)phash);
	bool all = seq == UINT64_MAX;
	seq &= SEQ_MASK;
	if (!all && !seq)
		return 0; /* nothing is older than the first sequence number */
	size_t n = 0;
	pthread_mutex_lock(&s->lock);
	/* Each erase reshapes the cluster, so probe again from home after it. */
	for (bool again = true; again;) {
		again = false;
		for (uint32_t i = home_of((uint32_t)phash, s->cap); s->slots[i].len8;
		     i = next_slot(i, s->cap)) {
			struct dindex_entry *e = &s->slots[i];
			if (e->phash == phash && (all || seq_lt(e->seq, seq))) {
				erase(s, e);
				n++;
				again = true;
				break;
			}
		}
	}
	/* A failed add only means an older copy could come back at rebuild,
	 * one more miss later verified against the record: not worth failing. */
	if (ix->rebuilding && !all && seq)
		(void)tomb_add(s, phash, seq);
	pthread_mutex_unlock(&s->lock);
	return n;
}

bool dindex_relocate(struct dindex *ix, uint64_t phash, uint32_t vhash, uint32_t old_seg,
		     uint32_t old_off, uint32_t new_seg, uint32_t new_off)
{
	if (new_seg >= ix->nsegs || new_off % 8 || new_off > DINDEX_SPAN_MAX)
		return false;
	struct seglist *l = &ix->segs[new_seg];
	struct shard *s = shard_of(ix, (uint32_t)phash);
	bool moved = false;
	pthread_mutex_lock(stripe_of(ix, new_seg));
	if (seg_reserve(l) == 0) {
		pthread_mutex_lock(&s->lock);
		struct dindex_entry *e = find(s, phash, vhash);
		if (e && e->seg == old_seg && e->off8 * 8u == old_off) {
			e->seg = new_seg;
			e->off8 = new_off / 8;
			e->hits = 0;
			moved = true;
		}
		pthread_mutex_unlock(&s->lock);
		if (moved)
			l->v[l->n++] = (struct member){(uint32_t)phash, new_off / 8};
	}
	pthread_mutex_unlock(stripe_of(ix, new_seg));
	return moved;
}

static void set_rebuilding(struct dindex *ix, bool on)
{
	for (uint32_t i = 0; i < DINDEX_SHARDS; i++)
		pthread_mutex_lock(&ix->shards[i].lock);
	ix->rebuilding = on;
	for (uint32_t i = 0; i < DINDEX_SHARDS; i++) {
		struct shard *s = &ix->shards[i];
		if (!on) {
			free(s->tombs);
			s->tombs = NULL;
			s->tcap = s->tcount = 0;
		}
		pthread_mutex_unlock(&s->lock);
	}
}

void dindex_rebuild_begin(struct dindex *ix)
{
	set_rebuilding(ix, true);
}

void dindex_rebuild_end(struct dindex *ix)
{
	set_rebuilding(ix, false);
}

static int by_off(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	if (x->off8 != y->off8)
		return x->off8 < y->off8 ? -1 : 1;
	return x->h32 < y->h32 ? -1 : x->h32 > y->h32;
}

/* A position can be listed twice (an entry removed, then put back at the
 * same place): sort by offset, which is write order, and drop repeats, so
 * that a walk hands each entry to its callback once. */
static void seg_unique(struct seglist *l)
{
	if (l->n < 2)
		return;
	qsort(l->v, l->n, sizeof(*l->v), by_off);
	uint32_t n = 1;
	for (uint32_t i = 1; i < l->n; i++)
		if (l->v[i].off8 != l->v[n - 1].off8 || l->v[i].h32 != l->v[n - 1].h32)
			l->v[n++] = l->v[i];
	l->n = n;
}

/* FN decides for each live entry (NULL: every entry goes). */
static size_t seg_visit(struct dindex *ix, uint32_t seg, dindex_walk_fn fn, void *arg,
			size_t *removed)
{
	struct seglist *l = &ix->segs[seg];
	size_t kept = 0, gone = 0;
	struct dindex_rec r;
	seg_unique(l);
	for (uint32_t i = 0; i < l->n; i++) {
		struct shard *s = shard_of(ix, l->v[i].h32);
		pthread_mutex_lock(&s->lock);
		struct dindex_entry *e = find_at(s, l->v[i].h32, seg, l->v[i].off8);
		if (e) {
			bool keep = false;
			if (fn) {
				unpack(ix, e, &r);
				keep = fn(&r, arg);
			}
			if (keep) {
				kept++;
			} else {
				erase(s, e);
				gone++;
			}
		}
		pthread_mutex_unlock(&s->lock);
	}
	if (removed)
		*removed = gone;
	return kept;
}

size_t dindex_seg_walk(struct dindex *ix, uint32_t seg, dindex_walk_fn fn, void *arg,
		       size_t *removed)
{
	assert(seg < ix->nsegs && fn);
	pthread_mutex_lock(stripe_of(ix, seg));
	size_t kept = seg_visit(ix, seg, fn, arg, removed);
	pthread_mutex_unlock(stripe_of(ix, seg));
	return kept;
}

size_t dindex_seg_clear(struct dindex *ix, uint32_t seg)
{
	assert(seg < ix->nsegs);
	size_t gone = 0;
	pthread_mutex_lock(stripe_of(ix, seg));
	seg_visit(ix, seg, NULL, NULL, &gone);
	struct seglist *l = &ix->segs[seg];
	free(l->v);
	*l = (struct seglist){0};
	pthread_mutex_unlock(stripe_of(ix, seg));
	return gone;
}

uint64_t dindex_count(struct dindex *ix)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < DINDEX_SHARDS; i++) {
		pthread_mutex_lock(&ix->shards[i].lock);
		n += ix->shards[i].count;
		pthread_mutex_unlock(&ix->shards[i].lock);
	}
	return n;
}

uint64_t dindex_bytes(struct dindex *ix)
{
	uint64_t n = 0;
	for (uint32_t i = 0; i < DINDEX_SHARDS; i++) {
		pthread_mutex_lock(&ix->shards[i].lock);
		n += ix->shards[i].bytes;
		pthread_mutex_unlock(&ix->shards[i].lock);
	}
	return n;
}

uint64_t dindex_mem(struct dindex *ix)
{
	uint64_t n = sizeof(*ix) + (uint64_t)ix->nsegs * sizeof(*ix->segs);
	for (uint32_t i = 0; i < DINDEX_SHARDS; i++) {
		pthread_mutex_lock(&ix->shards[i].lock);
		n += (uint64_t)ix->shards[i].cap * sizeof(struct dindex_entry) +
		     (uint64_t)ix->shards[i].tcap * sizeof(struct tomb);
		pthread_mutex_unlock(&ix->shards[i].lock);
	}
	for (uint32_t i = 0; i < ix->nsegs; i++) {
		pthread_mutex_lock(stripe_of(ix, i));
		n += (uint64_t)ix->segs[i].cap * sizeof(struct member);
		pthread_mutex_unlock(stripe_of(ix, i));
	}
	return n;
}

size_t dindex_entry_size(void)
{
	return sizeof(struct dindex_entry);
}
