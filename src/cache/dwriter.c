/* dwriter.c - the disk tier's segment writer (dwriter.h). */
#include "cache/dwriter.h"
#include "cache/ban.h"
#include "cache/tags.h"
#include "rt/obj.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt/chan.h"
#include "rt/io.h"
#include "rt/task.h"

#define B DSUPER_BLOCK

/* One queued record: an object (a reference) or an invalidation (its
 * strings copied into DATA). Linked on the pending list once encoded. */
struct ditem {
	struct ditem *next;
	enum drec_kind kind;
	uint16_t flags;
	bool copy;	       /* a reinserted record: REC holds it, OBJ is NULL */
	struct dstore_rec rec; /* COPY: the record as read, checked */
	struct cobj *obj;
	uint32_t key_len, url_len, host_len;
	uint64_t seq, seg;
	uint32_t off, len;
	char data[]; /* key, or url then host */
};

struct dwriter {
	unsigned magic;
	struct dstore *ds;
	struct dwriter_conf c;
	struct rt_chan *ch;
	size_t cap; /* the channel's: c.queue plus the invalidations' room */
	uint8_t *buf;
	size_t bufsz;
	bool open;	  /* a segment is open (its SEGMENT record encoded) */
	uint64_t seg;	  /* the open segment */
	uint64_t win;	  /* segment offset of buf[0], a multiple of B */
	uint64_t end;	  /* segment offset after the last byte encoded */
	uint64_t flushed; /* bytes of the segment on disk (up to here) */
	uint64_t front;	  /* END just after the SEGMENT record: nothing else yet */
	_Atomic uint64_t seq;
	_Atomic uint64_t objects; /* objects queued or pending, not yet reported or dropped */
	_Atomic bool stopping;	  /* dwriter_stop was called: the queue is put in drain order */
	struct ditem *pending, **tail;	     /* encoded, not yet on disk */
	struct ditem *copies, **copies_tail; /* dwriter_copy's, for the segment being opened */
	rt_time_t next_check;
	rt_time_t flush_at; /* the queue ran dry with records unwritten: flush then (0: none) */
};

static void item_free(struct ditem **ip)
{
	struct ditem *it = *ip;
	*ip = NULL;
	if (!it)
		return;
	cobj_release(&it->obj);
	if (it->copy)
		dstore_rec_free(&it->rec);
	free(it);
}

/* IT leaves the writer (reported, dropped or skipped). */
static void item_done(struct dwriter *w, struct ditem **ip)
{
	if (*ip && (*ip)->kind == DREC_OBJECT)
		atomic_fetch_sub(&w->objects, 1);
	item_free(ip);
}

struct dwriter *dwriter_create(struct dstore *ds, const struct dwriter_conf *c)
{
	CHECK_OBJ_NOTNULL(ds, DSTORE_MAGIC);
	struct dwriter *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->magic = DWRITER_MAGIC;
	w->ds = ds;
	w->c = *c;
	if (!w->c.buf_size)
		w->c.buf_size = DWRITER_BUF_DEFAULT;
	if (!w->c.queue)
		w->c.queue = DWRITER_QUEUE;
	if (!w->c.first_seq)
		w->c.first_seq = 1;
	if (!w->c.io_timeout)
		w->c.io_timeout = DWRITER_IO_TIMEOUT;
	if (w->c.buf_size % B || w->c.buf_size < 2 * B || w->c.first_seg >= ds->sb.seg_count) {
		free(w);
		return NULL;
	}
	w->bufsz = w->c.buf_size > ds->sb.seg_size ? ds->sb.seg_size : w->c.buf_size;
	size_t extra = w->c.queue / 4 < 64 ? 64 : w->c.queue / 4;
	w->cap = w->c.queue + extra;
	w->buf = dstore_alloc(w->bufsz);
	w->ch = w->buf ? rt_chan_create(w->cap) : NULL;
	if (!w->ch) {
		free(w->buf);
		free(w);
		return NULL;
	}
	atomic_init(&w->seq, w->c.first_seq);
	w->tail = &w->pending;
	w->copies_tail = &w->copies;
	return w;
}

void dwriter_stop(struct dwriter *w)
{
	CHECK_OBJ_NOTNULL(w, DWRITER_MAGIC);
	atomic_store(&w->stopping, true);
	rt_chan_close(w->ch);
}

void dwriter_free(struct dwriter **wp)
{
	struct dwriter *w = *wp;
	if (!w)
		return;
	*wp = NULL;
	CHECK_OBJ_NOTNULL(w, DWRITER_MAGIC);
	assert(!w->pending);
	rt_chan_destroy(&w->ch);
	free(w->buf);
	w->magic = 0;
	free(w);
}

uint64_t dwriter_next_seq(struct dwriter *w)
{
	return atomic_load(&w->seq);
}

uint64_t dwriter_objects(struct dwriter *w)
{
	return atomic_load(&w->objects);
}

/* --- admission (any thread) -------------------------------------------------- */

static int enqueue(struct dwriter *w, struct ditem *it, bool object)
{
	struct dstore_stats *s = &w->ds->stats;
	if (dstore_disabled(w->ds)) {
		item_free(&it);
		return -ENODEV;
	}
	if (object) /* before the send: the writer may report it at once */
		atomic_fetch_add(&w->objects, 1);
	/* Objects leave room for invalidations (dwriter.h). */
	int r = object && rt_chan_len(w->ch) >= w->c.queue ? -EAGAIN : rt_chan_send(w->ch, it);
	if (r == 0) {
		if (object)
			atomic_fetch_add_explicit(&s->admitted, 1, memory_order_relaxed);
		return 0;
	}
	item_done(w, &it);
	if (r == -EAGAIN)
		atomic_fetch_add_explicit(object ? &s->admit_dropped : &s->inval_dropped, 1,
					  memory_order_relaxed);
	return r == -EPIPE ? -ENODEV : r;
}

static struct ditem *item_new(enum drec_kind kind, uint16_t flags, const char *a, uint32_t alen,
			      const char *b, uint32_t blen)
{
	struct ditem *it = calloc(1, sizeof(*it) + alen + blen);
	if (!it)
		return NULL;
	it->kind = kind;
	it->flags = flags;
	if (alen)
		memcpy(it->data, a, alen);
	if (blen)
		memcpy(it->data + alen, b, blen);
	return it;
}

int dwriter_admit(struct dwriter *w, const char *key, uint32_t key_len, struct cobj *o)
{
	CHECK_OBJ_NOTNULL(w, DWRITER_MAGIC);
	CHECK_OBJ_NOTNULL(o, COBJ_MAGIC);
	if (cbody_state(o->body) != BODY_DONE) {
		atomic_fetch_add_explicit(&w->ds->stats.not_done, 1, memory_order_relaxed);
		return -EINVAL;
	}
	struct ditem *it = item_new(DREC_OBJECT, 0, key, key_len, NULL, 0);
	if (!it)
		return -ENOMEM;
	it->key_len = key_len;
	cobj_retain(o);
	it->obj = o;
	return enqueue(w, it, true);
}

int dwriter_copy(struct dwriter *w, struct dstore_rec *rec)
{
	CHECK_OBJ_NOTNULL(w, DWRITER_MAGIC);
	struct ditem *it = rec->v.h.kind == DREC_OBJECT ? calloc(1, sizeof(*it)) : NULL;
	if (!it) {
		dstore_rec_free(rec);
		return rec->v.h.kind == DREC_OBJECT ? -ENOMEM : -EINVAL;
	}
	it->kind = DREC_OBJECT;
	it->copy = true;
	it->rec = *rec;
	*rec = (struct dstore_rec){0};
	atomic_fetch_add(&w->objects, 1);
	*w->copies_tail = it;
	w->copies_tail = &it->next;
	return 0;
}

int dwriter_tombstone(struct dwriter *w, const char *key, uint32_t key_len)
{
	CHECK_OBJ_NOTNULL(w, DWRITER_MAGIC);
	struct ditem *it = item_new(DREC_TOMBSTONE, 0, key, key_len, NULL, 0);
	if (!it)
		return -ENOMEM;
	it->key_len = key_len;
	return enqueue(w, it, false);
}

int dwriter_ban(struct dwriter *w, const char *url_re, uint32_t url_len, const char *host_re,
		uint32_t host_len)
{
	CHECK_OBJ_NOTNULL(w, DWRITER_MAGIC);
	uint16_t flags = (url_re ? DREC_BAN_URL : 0) | (host_re ? DREC_BAN_HOST : 0);
	if (!flags)
		return -EINVAL;
	struct ditem *it = item_new(DREC_BAN, flags, url_re, url_re ? url_len : 0, host_re,
				    host_re ? host_len : 0);
	if (!it)
		return -ENOMEM;
	it->url_len = url_re ? url_len : 0;
	it->host_len = host_re ? host_len : 0;
	return enqueue(w, it, false);
}

int dwriter_tag(struct dwriter *w, const char *tag, uint32_t len, bool soft)
{
	CHECK_OBJ_NOTNULL(w, DWRITER_MAGIC);
	struct ditem *it = item_new(DREC_TAG, soft ? DREC_TAG_SOFT : 0, tag, len, NULL, 0);
	if (!it)
		return -ENOMEM;
	it->key_len = len;
	return enqueue(w, it, false);
}

/* --- the task ------------------------------------------------------------------ */

/* Write the blocks holding [flushed, end) and report the pending records.
 * 0, or a negative errno (the tier is then disabled, unless cancelled). */
static int flush(struct dwriter *w)
{
	struct dstore *ds = w->ds;
	/* A segment holding its SEGMENT record alone is not written: its old
	 * records stay on disk for a restart to find (the writer opens its
	 * first segment at its start, and a stop may follow with nothing
	 * admitted). */
	bool alone = w->flushed == 0 && w->end == w->front;
	if (w->end > w->flushed && !alone) {
		uint64_t from = w->flushed / B * B, to = (w->end + B - 1) / B * B;
		assert(from >= w->win && to - w->win <= w->bufsz);
		uint64_t at = dstore_offset(ds, w->seg, from);
		size_t n = (size_t)(to - from), done = 0;
		const uint8_t *p = w->buf + (from - w->win);
		while (done < n) {
			ssize_t k = rt_write(ds->fd, p + done, n - done, (off_t)(at + done),
					     rt_deadline_in(w->c.io_timeout));
			if (k == -ECANCELED)
				return (int)k;
			if (k <= 0 || (done + (size_t)k < n && (done + (size_t)k) % B)) {
				char what[96];
				snprintf(what, sizeof(what), "writing segment %llu at %llu",
					 (unsigned long long)w->seg,
					 (unsigned long long)(from + done));
				dstore_fail(ds, k < 0 ? (int)k : -EIO, what);
				return k < 0 ? (int)k : -EIO;
			}
			done += (size_t)k;
		}
		atomic_fetch_add_explicit(&ds->stats.writes, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&ds->stats.write_bytes, n, memory_order_relaxed);
		w->flushed = w->end;
	}
	/* Every pending record ends at or before END: all on disk now. */
	struct ditem *it = w->pending;
	w->pending = NULL;
	w->tail = &w->pending;
	while (it) {
		struct ditem *next = it->next;
		if (w->c.written) {
			struct dwriter_done d = {.kind = it->kind,
						 .flags = it->flags,
						 .key = it->copy ? it->rec.v.in.key : it->data,
						 .key_len =
						     it->copy ? it->rec.v.in.key_len : it->key_len,
						 .obj = it->obj,
						 .copy = it->copy ? &it->rec.v : NULL,
						 .seq = it->seq,
						 .seg = it->seg,
						 .off = it->off,
						 .len = it->len};
			w->c.written(w->c.ctx, &d);
		}
		atomic_fetch_add_explicit(&ds->stats.records, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&ds->stats.record_bytes, it->len, memory_order_relaxed);
		item_done(w, &it);
		it = next;
	}
	return 0;
}

/* Flush, then move the window on to the block holding END. */
static int slide(struct dwriter *w)
{
	int r = flush(w);
	if (r < 0)
		return r;
	uint64_t win = w->end / B * B;
	size_t keep = (size_t)(w->end - win);
	memmove(w->buf, w->buf + (win - w->win), keep);
	memset(w->buf + keep, 0, w->bufsz - keep);
	w->win = win;
	return 0;
}

static size_t room(const struct dwriter *w)
{
	return w->bufsz - (size_t)(w->end - w->win);
}

/* Open segment SEG: an empty window and its SEGMENT record. */
static void open_seg(struct dwriter *w, uint64_t seg)
{
	memset(w->buf, 0, w->bufsz);
	w->seg = seg;
	w->win = w->end = w->flushed = 0;
	w->open = true;
	struct drec_in in = {.kind = DREC_SEGMENT, .seq = atomic_load(&w->seq), .seg_index = seg};
	int64_t n = drec_encode(w->buf, w->bufsz, w->ds->sb.store_id, &in, NULL);
	assert(n > 0);
	atomic_fetch_add(&w->seq, 1);
	w->end = w->front = (uint64_t)n;
	atomic_fetch_add_explicit(&w->ds->stats.segments, 1, memory_order_relaxed);
}

static int put(struct dwriter *w, struct ditem *it);

/* The copies NEXT_SEG queued: dropped (a failed roll), or written first
 * in the segment just opened. */
static int put_copies(struct dwriter *w, bool drop)
{
	struct ditem *c = w->copies;
	w->copies = NULL;
	w->copies_tail = &w->copies;
	int r = 0;
	while (c) {
		struct ditem *next = c->next;
		c->next = NULL;
		if (!drop && r == 0)
			r = put(w, c);
		else
			item_done(w, &c);
		c = next;
	}
	return r;
}

/* Seal the open segment (flush: its last block goes out padded with the
 * zeros after END) and open the next, with the copies NEXT_SEG chose
 * first in it: room is left after them for the record of NEED bytes that
 * asked for the roll. */
static int roll(struct dwriter *w, uint64_t need)
{
	int r = flush(w);
	if (r < 0)
		return r;
	uint64_t next = (w->seg + 1) % w->ds->sb.seg_count;
	struct drec_in seg_in = {.kind = DREC_SEGMENT, .seq = atomic_load(&w->seq)};
	uint64_t front = drec_size(&seg_in), size = w->ds->sb.seg_size;
	uint64_t spare = front + need < size ? size - front - need : 0;
	if (w->c.next_seg && (r = w->c.next_seg(w->c.ctx, w->seg, &next, spare)) < 0) {
		put_copies(w, true);
		return r;
	}
	if (next >= w->ds->sb.seg_count) {
		put_copies(w, true);
		return -EINVAL;
	}
	open_seg(w, next);
	return put_copies(w, false);
}

/* The first segment, opened as soon as the task runs: NEXT_SEG is asked
 * for it as after the newest segment there is (FIRST_SEG - 1), so that
 * the hook's reinsertion runs for it as for every later one. */
static int open_first(struct dwriter *w)
{
	uint64_t n = w->ds->sb.seg_count, next = w->c.first_seg;
	int r;
	if (w->c.next_seg &&
	    (r = w->c.next_seg(w->c.ctx, (next + n - 1) % n, &next, w->ds->sb.seg_size / 2)) < 0) {
		put_copies(w, true);
		return r;
	}
	if (next >= n) {
		put_copies(w, true);
		return -EINVAL;
	}
	open_seg(w, next);
	return put_copies(w, false);
}

/* Copy N bytes at P into the window at END, sliding it as it fills. */
static int copy_in(struct dwriter *w, const char *p, size_t n)
{
	while (n) {
		if (!room(w)) {
			int r = slide(w);
			if (r < 0)
				return r;
		}
		size_t k = n < room(w) ? n : room(w);
		memcpy(w->buf + (w->end - w->win), p, k);
		w->end += k;
		p += k;
		n -= k;
	}
	return 0;
}

/* The record for IT: its drec_in, with an object's meta in *DOB. */
static void fill_in(struct ditem *it, struct drec_in *in, struct drec_obj *dob)
{
	if (it->copy) { /* the record as it was, its version kept (drec.h) */
		const struct drec_view *v = &it->rec.v;
		*in = v->in;
		*dob = v->obj;
		in->kind = DREC_OBJECT;
		in->flags = v->h.flags;
		in->seq = 0;
		in->obj = dob;
		in->body_len = v->h.body_len;
		return;
	}
	*in = (struct drec_in){.kind = it->kind, .flags = it->flags, .seq = 0};
	switch (it->kind) {
	case DREC_OBJECT: {
		struct cobj *o = it->obj;
		*dob = (struct drec_obj){.status = o->status,
					 .meta = o->meta,
					 .lifetime = o->lifetime,
					 .clen = o->clen,
					 .partial = o->partial,
					 .part_first = o->part_first,
					 .part_last = o->part_last,
					 .part_len = o->part_len,
					 .tags_space_sep = o->tags_space_sep,
					 .reason = o->reason,
					 .reason_len = o->reason ? (uint32_t)strlen(o->reason) : 0,
					 .vary = o->vary,
					 .vary_len = o->vary ? o->vary_len : 0,
					 .vkey = o->vkey,
					 .vkey_len = o->vkey ? o->vkey_len : 0,
					 .fwd_len = o->fwd_len,
					 .tags = o->tags,
					 .tags_len = o->tags ? o->tags_len : 0};
		in->key = it->data;
		in->key_len = it->key_len;
		in->obj = dob;
		in->head = o->hdrs;
		in->head_len = o->hdrs ? o->hdrs_len : 0;
		in->body_len = o->body->len; /* complete: it no longer changes */
		break;
	}
	case DREC_TOMBSTONE:
	case DREC_TAG:
		in->key = it->data;
		in->key_len = it->key_len;
		break;
	case DREC_BAN:
		in->url_re = it->url_len ? it->data : NULL;
		in->url_len = it->url_len;
		in->host_re = it->host_len ? it->data + it->url_len : NULL;
		in->host_len = it->host_len;
		break;
	default:
		assert(!"no such item");
	}
}

/* Hash (and, when COPY, append) the body of IT through drec_body. */
static int body_pass(struct dwriter *w, struct drec_enc *e, struct ditem *it, bool copy)
{
	if (it->copy) {
		const struct drec_view *v = &it->rec.v;
		if (copy)
			return copy_in(w, v->body, (size_t)v->h.body_len);
		drec_body(e, v->body, (size_t)v->h.body_len);
		return 0;
	}
	struct cobj *o = it->obj;
	struct body_reader r;
	body_reader_init(&r, o->body);
	for (;;) {
		const char *p;
		ssize_t n = body_peek(&r, &p);
		if (n <= 0)
			return n == 0 ? 0 : -EIO;
		if (copy) {
			int rc = copy_in(w, p, (size_t)n);
			if (rc < 0)
				return rc;
		} else {
			drec_body(e, p, (size_t)n);
		}
		body_advance(&r, (size_t)n);
	}
}

/* Encode IT at the end of the open segment. 0 (IT is pending now, or was
 * dropped and counted), or a negative errno of a failed write. */
static int put(struct dwriter *w, struct ditem *it)
{
	struct dstore *ds = w->ds;
	/* Purged, banned, tag-purged or replaced since it was queued: its
	 * record would come after the invalidation's and undo it (store.h,
	 * store_obj_current). Asked here, on the writer's task, so that an
	 * invalidation made after this test has a higher sequence. */
	if (it->kind == DREC_OBJECT && !it->copy && !store_obj_current(it->obj)) {
		atomic_fetch_add_explicit(&ds->stats.superseded, 1, memory_order_relaxed);
		item_done(w, &it);
		return 0;
	}
	struct drec_in in;
	struct drec_obj dob;
	fill_in(it, &in, &dob);
	in.seq = atomic_load(&w->seq);
	uint64_t total = drec_size(&in);
	uint64_t seg_room_max = ds->sb.seg_size - DREC_HDR - 8; /* after a SEGMENT record */
	if (!total || total > seg_room_max || total > UINT32_MAX) {
		atomic_fetch_add_explicit(&ds->stats.too_big, 1, memory_order_relaxed);
		item_done(w, &it);
		return 0;
	}
	int r;
	if (!w->open)
		open_seg(w, w->c.first_seg);
	if (it->copy && w->end + total > ds->sb.seg_size) {
		/* Cannot happen (roll's room): never a roll for a copy. */
		atomic_fetch_add_explicit(&ds->stats.admit_dropped, 1, memory_order_relaxed);
		item_done(w, &it);
		return 0;
	}
	if (w->end + total > ds->sb.seg_size && (r = roll(w, total)) < 0) {
		item_done(w, &it);
		if (dstore_disabled(ds) || r == -ECANCELED)
			return r;
		/* NEXT_SEG had none to give: this record is dropped, the next
		 * one asks again. */
		atomic_fetch_add_explicit(&ds->stats.admit_dropped, 1, memory_order_relaxed);
		return 0;
	}
	in.seq = atomic_load(&w->seq);		/* a roll took one for its SEGMENT record */
	if (w->end + total > ds->sb.seg_size) { /* the copies took too much (cannot happen) */
		atomic_fetch_add_explicit(&ds->stats.admit_dropped, 1, memory_order_relaxed);
		item_done(w, &it);
		return 0;
	}
	struct drec_enc e;
	int64_t front = drec_begin(&e, w->buf + (w->end - w->win), room(w), ds->sb.store_id, &in);
	if (front == -ENOSPC) {
		if ((r = slide(w)) < 0) {
			item_done(w, &it);
			return r;
		}
		front = drec_begin(&e, w->buf + (w->end - w->win), room(w), ds->sb.store_id, &in);
	}
	if (front < 0) { /* a head bigger than the window */
		atomic_fetch_add_explicit(&ds->stats.too_big, 1, memory_order_relaxed);
		item_done(w, &it);
		return 0;
	}
	uint8_t *hdr = w->buf + (w->end - w->win);
	uint64_t start = w->end;
	if (it->kind == DREC_OBJECT) {
		/* Hash first, so the header is final before any of it is
		 * written (the window may be flushed while the body is copied). */
		if ((r = body_pass(w, &e, it, false)) < 0)
			goto undo;
	}
	int pad = drec_end(&e, hdr);
	if (pad < 0) {
		r = -EIO;
		goto undo;
	}
	w->end += (uint64_t)front;
	if (it->kind == DREC_OBJECT && (r = body_pass(w, &e, it, true)) < 0) {
		item_done(w, &it);
		return r; /* a failed write: the tier is off */
	}
	w->end += (uint64_t)pad; /* zeros already */
	assert(w->end - start == total);
	it->seq = in.seq;
	it->seg = w->seg;
	it->off = (uint32_t)start;
	it->len = (uint32_t)total;
	atomic_fetch_add(&w->seq, 1);
	*w->tail = it;
	w->tail = &it->next;
	return 0;
undo:
	/* The body was not whole (cannot happen to a complete one): the front
	 * goes back to zeros, nothing was written. */
	memset(hdr, 0, (size_t)front);
	atomic_fetch_add_explicit(&ds->stats.not_done, 1, memory_order_relaxed);
	item_done(w, &it);
	return r == -EIO ? 0 : r;
}

/* Drop what is pending (never reported) and what is queued. */
static void drop_all(struct dwriter *w)
{
	rt_chan_close(w->ch);
	put_copies(w, true);
	while (w->pending) {
		struct ditem *it = w->pending;
		w->pending = it->next;
		item_done(w, &it);
	}
	w->tail = &w->pending;
	void *v;
	while (rt_chan_recv(w->ch, &v, 0) == 0) {
		struct ditem *it = v;
		item_done(w, &it);
	}
}

/* A ban item's expressions compiled (NULL: -ENOMEM or an expression that
 * no longer compiles; the ban is then taken to apply to everything). */
static struct ban_list *ban_compile(const struct ditem *it)
{
	char *url = it->url_len ? strndup(it->data, it->url_len) : NULL;
	char *host = it->host_len ? strndup(it->data + it->url_len, it->host_len) : NULL;
	struct ban_list *bl = NULL;
	char err[128];
	if ((url || !it->url_len) && (host || !it->host_len) && (bl = ban_list_create()) &&
	    ban_add(bl, url, host, err, sizeof(err)) < 0)
		ban_list_free(&bl);
	free(url);
	free(host);
	return bl;
}

/* Whether invalidation INV (BL: its compiled ban), queued after object
 * OB, applies to it. */
static bool hits(const struct ditem *inv, struct ban_list *bl, const struct ditem *ob)
{
	const struct cobj *o = ob->obj;
	const char *key = ob->data, *nul = memchr(key, '\0', ob->key_len);
	size_t hl = nul ? (size_t)(nul - key) : 0;
	const char *url = nul ? nul + 1 : key;
	uint64_t mark = 0;
	switch (inv->kind) {
	case DREC_TOMBSTONE:
		return inv->key_len == ob->key_len && !memcmp(inv->data, key, ob->key_len);
	case DREC_TAG:
		return o->tags &&
		       tags_has(o->tags, o->tags_len, o->tags_space_sep, inv->data, inv->key_len);
	case DREC_BAN:
		return !bl || ban_check(bl, &mark, key, hl, url, ob->key_len - (size_t)(url - key));
	default:
		return true;
	}
}

/* The drain (dwriter_stop): what is queued is taken at once, and the
 * invalidations are written first, then the objects, so that past the
 * drain's deadline (cancellation) objects are lost, never an invalidation
 * (a lost tombstone lets a restart bring a purged object back). An object
 * queued before an invalidation that applies to it is skipped, as
 * store_obj_current would have it in queue order (an object evicted from
 * memory is no longer retired by a purge; its key still says). 0, or a
 * negative errno (cancelled, a failed write). */
static int drain(struct dwriter *w)
{
	struct ditem **v = malloc(w->cap * sizeof(*v));
	struct ban_list **bl = calloc(w->cap, sizeof(*bl));
	size_t n = 0;
	int r;
	void *p;
	if (!v || !bl) {
		free(v);
		free(bl);
		return 0; /* the queue order then: the main loop writes it */
	}
	while (n < w->cap && (r = rt_chan_recv(w->ch, &p, rt_deadline_in(RT_SEC))) == 0)
		v[n++] = p;
	size_t last = n; /* the last invalidation's index, n: none */
	for (size_t i = 0; i < n; i++) {
		if (v[i]->kind != DREC_OBJECT)
			last = i;
		if (v[i]->kind == DREC_BAN)
			bl[i] = ban_compile(v[i]);
	}
	r = 0;
	for (size_t i = 0; last < n && i < last; i++) {
		if (v[i]->kind != DREC_OBJECT)
			continue;
		for (size_t j = i + 1; j <= last; j++) {
			if (v[j]->kind != DREC_OBJECT && hits(v[j], bl[j], v[i])) {
				atomic_fetch_add_explicit(&w->ds->stats.superseded, 1,
							  memory_order_relaxed);
				item_done(w, &v[i]);
				break;
			}
		}
	}
	for (int pass = 0; pass < 2; pass++) { /* invalidations, then objects */
		for (size_t i = 0; i < n; i++) {
			if (!v[i] || (v[i]->kind == DREC_OBJECT) != (pass == 1))
				continue;
			struct ditem *it = v[i];
			v[i] = NULL;
			if (r == 0)
				r = put(w, it);
			else
				item_done(w, &it);
		}
		if (r == 0 && pass == 0 && last < n)
			r = flush(w);
	}
	for (size_t i = 0; i < n; i++)
		ban_list_free(&bl[i]);
	free(bl);
	free(v);
	return r;
}

void dwriter_main(void *arg)
{
	struct dwriter *w = arg;
	CHECK_OBJ_NOTNULL(w, DWRITER_MAGIC);
	struct dstore *ds = w->ds;
	w->next_check = rt_clock_now() + RT_SEC;
	if (!dstore_disabled(ds) && open_first(w) < 0 &&
	    (dstore_disabled(ds) || rt_task_cancelled())) {
		drop_all(w);
		return;
	}
	/* Copies: on disk within LINGER, as any record. The SEGMENT record
	 * alone waits for a record: until then the segment's old records
	 * are still there for a restart to find. */
	if (w->pending)
		w->flush_at = rt_clock_now() + DWRITER_LINGER;
	for (;;) {
		if (dstore_disabled(ds))
			break;
		if (atomic_load(&w->stopping) && drain(w) < 0)
			break;
		void *v;
		rt_time_t until =
		    w->flush_at && w->flush_at < w->next_check ? w->flush_at : w->next_check;
		int r = rt_chan_recv(w->ch, &v, until);
		if (r == -ETIMEDOUT && w->flush_at && rt_clock_now() >= w->flush_at) {
			w->flush_at = 0;
			if (flush(w) < 0)
				break;
			continue;
		}
		if (r == -ETIMEDOUT) {
			w->next_check = rt_clock_now() + RT_SEC;
			if (dstore_check(ds))
				break;
			continue;
		}
		if (r == -EPIPE) { /* stopped, and everything queued is encoded */
			flush(w);
			break;
		}
		if (r < 0)
			break; /* cancelled */
		bool inval = ((struct ditem *)v)->kind != DREC_OBJECT;
		if (put(w, v) < 0)
			break;
		/* The queue ran dry: what is encoded goes out within LINGER,
		 * with whatever comes meanwhile (one write for a burst, not
		 * one per object), or at once when it is an invalidation. */
		if (w->flushed == w->end)
			w->flush_at = 0;
		else if (rt_chan_len(w->ch) == 0 && !w->flush_at)
			w->flush_at = rt_clock_now() + DWRITER_LINGER;
		if (w->flush_at && (rt_clock_now() >= w->flush_at || inval)) {
			w->flush_at = 0;
			if (flush(w) < 0)
				break;
		}
		if (rt_clock_now() >= w->next_check) { /* busy: the queue never runs dry */
			w->next_check = rt_clock_now() + RT_SEC;
			if (dstore_check(ds))
				break;
		}
	}
	drop_all(w);
}
