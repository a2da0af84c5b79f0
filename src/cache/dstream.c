/* dstream.c - a disk hit sent as it is read (dstream.h). */
#include "cache/dstream.h"
#include "rt/obj.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rt/task.h"

#define DSTREAM_MAGIC 0x4453544du /* "DSTM" */

struct dstream {
	struct drec_sum sum; /* first: XXH3's state wants 64-byte alignment */
	unsigned magic;
	struct dstream_at at;
	struct drec_head h;
	struct cobj *o;	   /* attached: the stream's reference */
	struct store *st;  /* for store_account, store_unlink */
	uint64_t done;	   /* record bytes read and summed */
	uint64_t appended; /* body bytes appended */
	char last;	   /* the body's last byte, held until the sum passed */
	bool have_last;
	uint8_t *buf;	      /* DSTREAM_BUF bytes, aligned */
	const uint8_t *first; /* the first window's record bytes, until attached */
	size_t first_len;
};

static void stream_end(struct dstream *s)
{
	if (s->at.pin)
		atomic_fetch_sub(s->at.pin, 1);
	atomic_fetch_sub(s->at.reading, DSTREAM_BUF);
	free(s->buf);
	cobj_release(&s->o);
	s->magic = 0;
	free(s);
}

/* Read the record's bytes [FROM, FROM + N) into the buffer: 0 with *P. */
static int read_at(struct dstream *s, uint64_t from, size_t n, rt_time_t deadline,
		   const uint8_t **p)
{
	size_t at;
	int rc = dstore_read_span(s->at.ds, s->at.seg, s->at.off + from, n, s->buf, DSTREAM_BUF,
				  deadline, &at);
	if (rc == 0)
		*p = s->buf + at;
	return rc;
}

static void damaged(struct dstream *s)
{
	atomic_fetch_add_explicit(&s->at.ds->stats.damaged, 1, memory_order_relaxed);
	dindex_remove_at(s->at.ix, s->at.phash, s->at.vhash, (uint32_t)s->at.seg, s->at.off);
}

int dstream_open(const struct dstream_at *at, rt_time_t deadline, struct dstream **sp,
		 struct drec_view *v)
{
	*sp = NULL;
	assert(at->len > DSTREAM_MIN);
	if (atomic_fetch_add(at->reading, DSTREAM_BUF) + DSTREAM_BUF > at->budget) {
		atomic_fetch_sub(at->reading, DSTREAM_BUF);
		if (at->pin)
			atomic_fetch_sub(at->pin, 1);
		return -ENOMEM;
	}
	/* A multiple of 64 bytes: aligned_alloc's rule. */
	struct dstream *s = aligned_alloc(64, (sizeof(*s) + 63) / 64 * 64);
	if (!s) {
		atomic_fetch_sub(at->reading, DSTREAM_BUF);
		if (at->pin)
			atomic_fetch_sub(at->pin, 1);
		return -ENOMEM;
	}
	memset(s, 0, sizeof(*s));
	s->magic = DSTREAM_MAGIC;
	s->at = *at;
	if (!(s->buf = dstore_alloc(DSTREAM_BUF))) {
		stream_end(s);
		return -ENOMEM;
	}
	const uint8_t *p = NULL;
	int rc = read_at(s, 0, DSTREAM_WINDOW, deadline, &p);
	if (rc < 0) {
		stream_end(s);
		return rc;
	}
	struct dstore *ds = at->ds;
	enum drec_result r =
	    drec_head(p, DSTREAM_WINDOW, ds->sb.seg_size - at->off, ds->sb.store_id, &s->h, NULL);
	if (r != DREC_OK || s->h.total != at->len || s->h.kind != DREC_OBJECT) {
		damaged(s);
		stream_end(s);
		return -EBADMSG;
	}
	if (s->h.front > DSTREAM_WINDOW || !s->h.body_len) {
		stream_end(s);
		return -E2BIG;
	}
	if (drec_front(p, &s->h, v) != DREC_OK) {
		damaged(s);
		stream_end(s);
		return -EBADMSG;
	}
	drec_sum_begin(&s->sum);
	drec_sum_update(&s->sum, p, DSTREAM_WINDOW);
	s->done = DSTREAM_WINDOW;
	s->first = p;
	s->first_len = DSTREAM_WINDOW;
	*sp = s;
	return 0;
}

/* The record's bytes [FROM, FROM + N) at P: their body bytes go to the
 * object, all but the body's last byte, which is kept aside. */
static int take(struct dstream *s, const uint8_t *p, uint64_t from, size_t n)
{
	uint64_t b0 = s->h.front, last = s->h.front + s->h.body_len - 1;
	uint64_t lo = from > b0 ? from : b0, hi = from + n < last ? from + n : last;
	if (hi > lo) {
		if (cbody_append(s->o->body, (const char *)p + (lo - from), (size_t)(hi - lo),
				 s->h.body_len) < 0)
			return -ENOMEM;
		s->appended += hi - lo;
	}
	if (last >= from && last < from + n) {
		s->last = (char)p[last - from];
		s->have_last = true;
	}
	return 0;
}

int dstream_attach(struct dstream *s, struct cobj *o)
{
	CHECK_OBJ_NOTNULL(s, DSTREAM_MAGIC);
	assert(!s->o && s->first);
	cobj_retain(o);
	s->o = o;
	int rc = take(s, s->first, 0, s->first_len);
	s->first = NULL;
	return rc;
}

void dstream_free(struct dstream **sp)
{
	struct dstream *s = *sp;
	if (!s)
		return;
	*sp = NULL;
	CHECK_OBJ_NOTNULL(s, DSTREAM_MAGIC);
	if (s->o)
		cbody_finish(s->o->body, false);
	stream_end(s);
}

/* The filler: the rest of the record, a window at a time. */
static void stream_main(void *arg)
{
	struct dstream *s = arg;
	CHECK_OBJ_NOTNULL(s, DSTREAM_MAGIC);
	bool ok = false;
	while (s->done < s->h.total) {
		size_t n = s->h.total - s->done < DSTREAM_WINDOW ? (size_t)(s->h.total - s->done)
								 : DSTREAM_WINDOW;
		const uint8_t *p = NULL;
		if (read_at(s, s->done, n, rt_deadline_in(DSTREAM_TIMEOUT), &p) < 0)
			break; /* off, timed out, cancelled: the body fails */
		drec_sum_update(&s->sum, p, n);
		if (take(s, p, s->done, n) < 0)
			break;
		s->done += n;
		store_account(s->st, s->o, cobj_alloc(s->o));
	}
	if (s->done == s->h.total) {
		if (s->have_last && s->appended == s->h.body_len - 1 &&
		    drec_sum_check(&s->sum, &s->h)) {
			atomic_store(&s->o->unverified, false); /* before its last byte */
			ok = cbody_append(s->o->body, &s->last, 1, s->h.body_len) == 0;
		} else {
			damaged(s);
		}
	}
	if (!ok)
		store_unlink(s->st, s->o); /* never a short object in the cache */
	else
		store_account(s->st, s->o, cobj_alloc(s->o));
	cbody_finish(s->o->body, ok);
	stream_end(s);
}

void dstream_start(struct dstream **sp, struct store *st, struct rt_group *tasks, bool published)
{
	struct dstream *s = *sp;
	*sp = NULL;
	CHECK_OBJ_NOTNULL(s, DSTREAM_MAGIC);
	assert(s->o);
	s->st = st;
	if (!published || rt_group_spawn(tasks, stream_main, s, "dstream") < 0) {
		if (published)
			store_unlink(st, s->o);
		cbody_finish(s->o->body, false);
		stream_end(s);
	}
}
