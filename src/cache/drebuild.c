/* drebuild.c - the disk tier's index rebuilt from the segments (drebuild.h). */
#include "cache/drebuild.h"
#include "rt/obj.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/policy.h"
#include "rt/io.h"
#include "rt/task.h"

#define B DSUPER_BLOCK

void drebuild_entry(const struct drec_view *v, uint32_t seg, uint32_t off, int64_t now,
		    struct dindex_rec *r)
{
	const struct drec_obj *o = &v->obj;
	const struct resp_meta *m = &o->meta;
	bool validators = m->has_etag || m->last_modified != POLICY_NONE;
	bool swr = m->cc.delta[CC_STALE_WHILE_REVALIDATE] != CC_UNSET;
	*r = (struct dindex_rec){
	    .phash = dindex_phash(v->in.key, v->in.key_len),
	    .vhash = o->vkey_len ? dindex_vhash(o->vkey, o->vkey_len) : 0,
	    .seg = seg,
	    .off = off,
	    .len = (uint32_t)v->h.total,
	    .expires = validators || swr ? 0 : now + o->lifetime - policy_age(m, now),
	    .seq = o->version,
	    .flags = (uint8_t)((validators ? DINDEX_F_VALIDATORS : 0) | (swr ? DINDEX_F_SWR : 0) |
			       (o->partial ? DINDEX_F_PARTIAL : 0)),
	};
	if (r->expires == 0 && !(validators || swr))
		r->expires = 1; /* already over at the epoch: not "never" */
}

/* Read [at, at + n) of segment SEG into BUF. 0, or -ENODEV (the tier is
 * off), -ETIMEDOUT / -ECANCELED. */
static int read_in(struct drebuild *rb, uint8_t *buf, uint64_t seg, uint64_t at, size_t n)
{
	struct dstore *ds = rb->ds;
	uint64_t file = dstore_offset(ds, seg, at);
	size_t got = 0;
	while (got < n) {
		ssize_t k = rt_read(ds->fd, buf + got, n - got, (off_t)(file + got),
				    rt_deadline_in(rb->io_timeout));
		if (k == -ECANCELED)
			return (int)k;
		if (k <= 0 || (got + (size_t)k < n && (got + (size_t)k) % B)) {
			char what[96];
			snprintf(what, sizeof(what), "rebuilding: reading segment %llu at %llu",
				 (unsigned long long)seg, (unsigned long long)(at + got));
			dstore_fail(ds, k < 0 ? (int)k : -EIO, what);
			return -ENODEV;
		}
		got += (size_t)k;
	}
	rb->stats.bytes_read += n;
	return 0;
}

static void take(struct drebuild *rb, const struct drec_view *v, uint32_t seg, uint32_t off)
{
	struct drebuild_stats *s = &rb->stats;
	s->records += v->h.kind != DREC_SEGMENT;
	switch (v->h.kind) {
	case DREC_OBJECT: {
		struct dindex_rec r;
		drebuild_entry(v, seg, off, rb->now, &r);
		if (rb->ix)
			dindex_put(rb->ix, &r);
		if (rb->minver && (!rb->minver[seg] || v->obj.version < rb->minver[seg]))
			rb->minver[seg] = v->obj.version;
		s->objects++;
		break;
	}
	case DREC_TOMBSTONE:
		if (rb->ix)
			dindex_tombstone(rb->ix, dindex_phash(v->in.key, v->in.key_len), v->h.seq);
		s->tombstones++;
		break;
	case DREC_BAN:
		if (rb->on_ban)
			rb->on_ban(rb->ctx, v);
		s->bans++;
		break;
	case DREC_TAG:
		if (rb->on_tag)
			rb->on_tag(rb->ctx, v);
		s->tags++;
		break;
	case DREC_SEGMENT:
		break;
	}
}

/* Walk segment SEG through windows of *BUF (*CAP bytes, grown for a
 * record longer than it). 0 with *F filled, or a negative errno. */
static int walk_seg(struct drebuild *rb, uint64_t seg, uint8_t **buf, size_t *cap,
		    struct dseg_found *f)
{
	struct dstore *ds = rb->ds;
	const uint64_t seg_size = ds->sb.seg_size;
	uint64_t off = 0, last_seq = 0, first_seq = 0;
	enum drec_result res;
	*f = (struct dseg_found){0};
	for (;;) {
		uint64_t win = off / B * B;
		size_t n = *cap < seg_size - win ? *cap : (size_t)(seg_size - win);
		int r = read_in(rb, *buf, seg, win, n);
		if (r < 0)
			return r;
		/* The walk re-based on the window: its offsets and the segment's
		 * size less WIN, so every check against the rest of the segment
		 * stays what it is. */
		struct drec_walk w;
		drec_walk_init(&w, *buf, n, (size_t)(seg_size - win), ds->sb.store_id, seg);
		w.off = (size_t)(off - win);
		w.last_seq = last_seq;
		for (;;) {
			size_t at = w.off;
			struct drec_view v;
			res = drec_walk_next(&w, &v);
			if (res == DREC_OK) {
				take(rb, &v, (uint32_t)seg, (uint32_t)(win + at));
				if (!first_seq)
					first_seq = v.h.seq;
			} else if (res == DREC_CORRUPT && w.stop == DREC_OK) {
				rb->stats.damaged++; /* a body skipped */
				enum drec_kind k = w.skipped.kind;
				if ((k == DREC_TOMBSTONE || k == DREC_BAN || k == DREC_TAG) &&
				    rb->on_lost)
					rb->on_lost(rb->ctx, &w.skipped);
			} else {
				break;
			}
		}
		last_seq = w.last_seq;
		off = win + w.off;
		if (res != DREC_CUT) {
			/* END, STALE, FOREIGN: where this use of the segment ends.
			 * CORRUPT: a header gone wrong, the rest is lost (not
			 * counted when it is the first record: the segment is
			 * simply not one of this store's). */
			if (res == DREC_CORRUPT && last_seq)
				rb->stats.damaged++;
			break;
		}
		/* CUT: the record at OFF goes on past the window; read again
		 * from its block, with a window that holds it whole. */
		struct drec_head h;
		uint64_t need = DREC_HDR;
		if (drec_head(*buf + (off - win), n - (size_t)(off - win), (size_t)(seg_size - off),
			      ds->sb.store_id, &h, &need) == DREC_OK)
			need = h.total; /* the header is in: the record's length */
		size_t want = (size_t)((off % B + need + B - 1) / B * B);
		if (want <= *cap && off / B * B == win) {
			rb->stats.damaged++; /* the same window again: cannot be, stop */
			break;
		}
		if (want > *cap) {
			uint8_t *nb = dstore_alloc(want);
			if (!nb)
				return -ENOMEM;
			free(*buf);
			*buf = nb;
			*cap = want;
		}
	}
	if (first_seq) {
		*f = (struct dseg_found){
		    .first_seq = first_seq, .last_seq = last_seq, .used = (uint32_t)off};
		if (last_seq > rb->stats.top_seq)
			rb->stats.top_seq = last_seq;
	}
	__atomic_fetch_add(&rb->stats.segments, 1,
			   __ATOMIC_RELAXED); /* /metrics reads it meanwhile */
	return 0;
}

/* Newest first by (first sequence, segment) pairs, descending. */
static int by_seq_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* ORDER (2 per segment): each segment's first sequence (its SEGMENT
 * record's, from its first block; 0: none that is ours) and number,
 * sorted newest first. BUF holds at least a block. 0 or an errno. */
static int newest_first(struct drebuild *rb, uint8_t *buf, uint64_t *order)
{
	struct dstore *ds = rb->ds;
	for (uint64_t i = 0; i < ds->sb.seg_count; i++) {
		int r = read_in(rb, buf, i, 0, B);
		if (r < 0)
			return r;
		struct drec_view v;
		uint64_t seq = 0;
		if (drec_decode(buf, B, ds->sb.seg_size, ds->sb.store_id, &v, NULL) == DREC_OK &&
		    v.h.kind == DREC_SEGMENT && v.in.seg_index == i)
			seq = v.h.seq;
		order[2 * i] = seq;
		order[2 * i + 1] = i;
	}
	qsort(order, ds->sb.seg_count, 2 * sizeof(*order), by_seq_desc);
	return 0;
}

void drebuild_main(void *arg)
{
	struct drebuild *rb = arg;
	struct dstore *ds = rb->ds;
	CHECK_OBJ_NOTNULL(ds, DSTORE_MAGIC);
	rt_time_t t0 = rt_clock_now();
	memset(&rb->stats, 0, sizeof(rb->stats));
	if (!rb->io_timeout)
		rb->io_timeout = 10 * RT_SEC;
	size_t cap = rb->read_size ? rb->read_size : DREBUILD_READ;
	if (cap < 2 * B || cap % B)
		cap = DREBUILD_READ;
	if (cap > ds->sb.seg_size)
		cap = (size_t)ds->sb.seg_size;
	uint8_t *buf = dstore_alloc(cap);
	uint64_t nseg = ds->sb.seg_count;
	struct dseg_found *found = calloc(nseg, sizeof(*found));
	int rc = buf && found ? 0 : -ENOMEM;
	uint64_t *order = rc == 0 ? calloc(nseg, 2 * sizeof(*order)) : NULL;
	if (rc == 0 && !order)
		rc = -ENOMEM;
	if (rc == 0)
		rc = newest_first(rb, buf, order);
	if (rb->ix)
		dindex_rebuild_begin(rb->ix);
	for (uint64_t k = 0; rc == 0 && k < nseg; k++) {
		uint64_t i = order[2 * k + 1];
		if (dstore_disabled(ds))
			rc = -ENODEV;
		else
			rc = walk_seg(rb, i, &buf, &cap, &found[i]);
		if (rc == 0 && rb->walked)
			atomic_store_explicit(&rb->walked[i], 1, memory_order_release);
	}
	free(order);
	if (rb->ix)
		dindex_rebuild_end(rb->ix);
	if (rc == 0 && rb->dseg) {
		uint64_t top = 0;
		rc = dseg_rebuild(rb->dseg, found, &top);
	}
	free(found);
	free(buf);
	rb->stats.rc = rc;
	rb->stats.ns = rt_clock_now() - t0;
	/* on_done first: the disk tier applies what was invalidated during
	 * the rebuild before a lookup may use the index (dtier.c). */
	if (rb->on_done)
		rb->on_done(rb->ctx, &rb->stats);
	atomic_store(&rb->done, true);
}
