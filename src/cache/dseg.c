/* dseg.c - the disk tier's segment states, FIFO and eviction. See dseg.h. */
#include "cache/dseg.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct dseg {
	pthread_mutex_t lock;
	uint32_t nsegs, seg_size, reinsert_max;
	struct dseg_info *segs;
	int64_t open; /* -1: none */
	/* Sealed segments oldest first: a ring of nsegs slots. */
	uint32_t *fifo;
	uint32_t fifo_head, fifo_len;
	/* Free segments: a stack, so a fresh store fills from segment 0 up. */
	uint32_t *free;
	uint32_t free_len;
	uint32_t evicting;
	struct dseg_stats stats;
};

struct dseg *dseg_create(const struct dseg_conf *c)
{
	uint32_t rmax = c->reinsert_max ? c->reinsert_max : c->seg_size / 4;
	if (c->nsegs < 2 || c->nsegs > DINDEX_SEG_MAX || c->seg_size < 64 || c->seg_size % 8 ||
	    c->seg_size > DINDEX_SPAN_MAX + 8 || rmax > c->seg_size / 2)
		return NULL;
	struct dseg *ds = calloc(1, sizeof(*ds));
	if (!ds)
		return NULL;
	ds->nsegs = c->nsegs;
	ds->seg_size = c->seg_size;
	ds->reinsert_max = rmax;
	ds->open = -1;
	ds->segs = calloc(c->nsegs, sizeof(*ds->segs));
	ds->fifo = calloc(c->nsegs, sizeof(*ds->fifo));
	ds->free = calloc(c->nsegs, sizeof(*ds->free));
	if (!ds->segs || !ds->fifo || !ds->free) {
		dseg_free(&ds);
		return NULL;
	}
	pthread_mutex_init(&ds->lock, NULL);
	for (uint32_t i = 0; i < c->nsegs; i++)
		ds->free[ds->free_len++] = c->nsegs - 1 - i;
	return ds;
}

void dseg_free(struct dseg **dsp)
{
	struct dseg *ds = *dsp;
	if (!ds)
		return;
	*dsp = NULL;
	if (ds->segs)
		pthread_mutex_destroy(&ds->lock);
	free(ds->segs);
	free(ds->fifo);
	free(ds->free);
	free(ds);
}

int dseg_reserve(struct dseg *ds, uint32_t len, uint64_t seq, uint32_t *seg, uint32_t *off)
{
	if (!len || len > ds->seg_size)
		return -EINVAL;
	uint32_t span = (len + 7) & ~7u;
	int rc = DSEG_ROLL;
	pthread_mutex_lock(&ds->lock);
	if (ds->open >= 0) {
		struct dseg_info *s = &ds->segs[ds->open];
		if (s->used + (uint64_t)span <= ds->seg_size) {
			*seg = (uint32_t)ds->open;
			*off = s->used;
			s->used += span;
			if (!s->first_seq)
				s->first_seq = seq;
			s->last_seq = seq;
			rc = 0;
		}
	}
	pthread_mutex_unlock(&ds->lock);
	return rc;
}

static void fifo_push(struct dseg *ds, uint32_t seg)
{
	ds->fifo[(ds->fifo_head + ds->fifo_len++) % ds->nsegs] = seg;
}

int dseg_roll(struct dseg *ds)
{
	int rc = 0;
	pthread_mutex_lock(&ds->lock);
	if (ds->open >= 0 && ds->segs[ds->open].used == 0)
		goto out; /* nothing in it to seal */
	if (ds->open >= 0) {
		ds->segs[ds->open].state = DSEG_SEALED;
		fifo_push(ds, (uint32_t)ds->open);
		ds->open = -1;
	}
	if (!ds->free_len) {
		rc = -ENOSPC;
		goto out;
	}
	uint32_t seg = ds->free[--ds->free_len];
	ds->segs[seg] = (struct dseg_info){.state = DSEG_OPEN};
	ds->open = seg;
out:
	pthread_mutex_unlock(&ds->lock);
	return rc;
}

bool dseg_need_evict(struct dseg *ds)
{
	pthread_mutex_lock(&ds->lock);
	bool owed = ds->free_len == 0 && ds->evicting == 0 && ds->fifo_len > 0;
	pthread_mutex_unlock(&ds->lock);
	return owed;
}

/* Gathering an eviction's candidates: runs under an index shard lock. */
struct gather {
	int64_t now;
	struct dindex_rec *v;
	size_t n, cap;
	bool nomem;
};

static bool gather_one(const struct dindex_rec *r, void *arg)
{
	struct gather *g = arg;
	if (!r->hits || (r->expires && r->expires <= g->now))
		return false;
	if (g->n == g->cap) {
		size_t ncap = g->cap ? g->cap * 2 : 64;
		struct dindex_rec *nv = realloc(g->v, ncap * sizeof(*nv));
		if (!nv) {
			g->nomem = true;
			return false; /* a lost copy is a miss later, not an error now */
		}
		g->v = nv;
		g->cap = ncap;
	}
	g->v[g->n++] = *r;
	return true;
}

/* Most hits first; among equals, write order (lower offset first). */
static int by_hits(const void *a, const void *b)
{
	const struct dindex_rec *x = a, *y = b;
	if (x->hits != y->hits)
		return x->hits > y->hits ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

int dseg_choose(struct dindex *ix, uint32_t seg, int64_t now, uint64_t rmax, struct dseg_victim *v)
{
	memset(v, 0, sizeof(*v));
	/* The walk removes what was not hit; the bound is applied after it,
	 * over all candidates, so that the most-hit ones win, not the first. */
	struct gather g = {.now = now};
	dindex_seg_walk(ix, seg, gather_one, &g, &v->removed);
	if (g.n > 1)
		qsort(g.v, g.n, sizeof(*g.v), by_hits);
	size_t n = 0;
	uint64_t bytes = 0;
	for (size_t i = 0; i < g.n; i++) {
		if (bytes + g.v[i].len <= rmax) {
			bytes += g.v[i].len;
			g.v[n++] = g.v[i];
		} else if (dindex_remove_at(ix, g.v[i].phash, g.v[i].vhash, seg, g.v[i].off)) {
			v->over++;
		}
	}
	v->seg = seg;
	v->n = n;
	v->keep = g.v;
	v->keep_bytes = bytes;
	return g.nomem && !n ? -ENOMEM : 1;
}

int dseg_evict(struct dseg *ds, struct dindex *ix, int64_t now, struct dseg_victim *v)
{
	memset(v, 0, sizeof(*v));
	pthread_mutex_lock(&ds->lock);
	if (ds->free_len || ds->evicting || !ds->fifo_len) {
		pthread_mutex_unlock(&ds->lock);
		return 0;
	}
	uint32_t seg = ds->fifo[ds->fifo_head];
	ds->fifo_head = (ds->fifo_head + 1) % ds->nsegs;
	ds->fifo_len--;
	ds->segs[seg].state = DSEG_EVICTING;
	ds->evicting++;
	uint32_t rmax = ds->reinsert_max;
	pthread_mutex_unlock(&ds->lock);

	int rc = dseg_choose(ix, seg, now, rmax, v);
	pthread_mutex_lock(&ds->lock);
	ds->stats.evictions++;
	ds->stats.reinserted += v->n;
	ds->stats.reinserted_bytes += v->keep_bytes;
	ds->stats.removed += v->removed;
	ds->stats.over_bound += v->over;
	pthread_mutex_unlock(&ds->lock);
	return rc;
}

void dseg_victim_fini(struct dseg_victim *v)
{
	free(v->keep);
	memset(v, 0, sizeof(*v));
}

int dseg_release(struct dseg *ds, struct dindex *ix, uint32_t seg)
{
	pthread_mutex_lock(&ds->lock);
	bool ok = seg < ds->nsegs && ds->segs[seg].state == DSEG_EVICTING;
	if (ok) /* FREE but not on the stack yet: a second release fails, no roll takes it */
		ds->segs[seg].state = DSEG_FREE;
	pthread_mutex_unlock(&ds->lock);
	if (!ok)
		return -EINVAL;
	/* Copies not relocated (a failed read, no room) go now: their entries
	 * would point into a segment about to be overwritten. */
	dindex_seg_clear(ix, seg);
	pthread_mutex_lock(&ds->lock);
	ds->segs[seg] = (struct dseg_info){.state = DSEG_FREE};
	ds->free[ds->free_len++] = seg;
	ds->evicting--;
	pthread_mutex_unlock(&ds->lock);
	return 0;
}

/* Rebuild: segments ordered by first sequence number. */
struct by_seq {
	uint64_t first;
	uint32_t seg;
};

static int by_first(const void *a, const void *b)
{
	const struct by_seq *x = a, *y = b;
	return x->first < y->first ? -1 : x->first > y->first;
}

int dseg_rebuild(struct dseg *ds, const struct dseg_found *found, uint64_t *top_seq)
{
	struct by_seq *v = malloc((size_t)ds->nsegs * sizeof(*v));
	if (!v)
		return -ENOMEM;
	uint64_t top = 0;
	uint32_t n = 0;
	pthread_mutex_lock(&ds->lock);
	for (uint32_t i = 0; i < ds->nsegs; i++) {
		if (found[i].first_seq && found[i].used) {
			v[n++] = (struct by_seq){found[i].first_seq, i};
			ds->segs[i] = (struct dseg_info){
			    .state = DSEG_SEALED,
			    .used = found[i].used > ds->seg_size ? ds->seg_size : found[i].used,
			    .first_seq = found[i].first_seq,
			    .last_seq = found[i].last_seq,
			};
			if (found[i].last_seq > top)
				top = found[i].last_seq;
		} else {
			ds->segs[i] = (struct dseg_info){.state = DSEG_FREE};
		}
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), by_first);
	ds->open = -1;
	if (n) {
		/* The newest was being written when the daemon stopped: go on. */
		ds->open = v[--n].seg;
		ds->segs[ds->open].state = DSEG_OPEN;
	}
	ds->fifo_head = 0;
	ds->fifo_len = n;
	for (uint32_t i = 0; i < n; i++)
		ds->fifo[i] = v[i].seg;
	/* Free ones from the highest number down, as a fresh store pops them. */
	ds->free_len = 0;
	for (uint32_t i = ds->nsegs; i-- > 0;)
		if (ds->segs[i].state == DSEG_FREE)
			ds->free[ds->free_len++] = i;
	ds->evicting = 0;
	pthread_mutex_unlock(&ds->lock);
	free(v);
	*top_seq = top;
	return 0;
}

void dseg_info(struct dseg *ds, uint32_t seg, struct dseg_info *out)
{
	pthread_mutex_lock(&ds->lock);
	*out = ds->segs[seg];
	pthread_mutex_unlock(&ds->lock);
}

int64_t dseg_open(struct dseg *ds)
{
	pthread_mutex_lock(&ds->lock);
	int64_t o = ds->open;
	pthread_mutex_unlock(&ds->lock);
	return o;
}

size_t dseg_order(struct dseg *ds, uint32_t *out, size_t max)
{
	pthread_mutex_lock(&ds->lock);
	size_t n = ds->fifo_len < max ? ds->fifo_len : max;
	for (size_t i = 0; i < n; i++)
		out[i] = ds->fifo[(ds->fifo_head + i) % ds->nsegs];
	pthread_mutex_unlock(&ds->lock);
	return n;
}

uint32_t dseg_free_count(struct dseg *ds)
{
	pthread_mutex_lock(&ds->lock);
	uint32_t n = ds->free_len;
	pthread_mutex_unlock(&ds->lock);
	return n;
}

void dseg_stats(struct dseg *ds, struct dseg_stats *out)
{
	pthread_mutex_lock(&ds->lock);
	*out = ds->stats;
	pthread_mutex_unlock(&ds->lock);
}
