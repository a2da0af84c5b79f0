/* dtier.c - the disk tier put together: open, rebuild, writer, admission (dtier.h). */
#include "cache/dtier.h"
#include "rt/obj.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/dstream.h"
#include "cache/tags.h"
#include "rt/task.h"

/* How long one segment's reinsertion may read, in all. */
#define REINSERT_TIMEOUT (1ull * 1000 * 1000 * 1000)

/* What a record costs besides its body and head: header, key, meta and its
 * strings; generous, so that an admitted object is never "too big". */
#define RECORD_SLACK 4096u

int dtier_open(struct dtier **out, const struct dtier_conf *c, dstore_log_fn log, void *log_ctx,
	       char *err, size_t errlen)
{
	*out = NULL;
	struct dtier *t = calloc(1, sizeof(*t));
	if (!t || !(t->conf.path = strdup(c->path))) {
		free(t);
		snprintf(err, errlen, "%s: out of memory", c->path);
		return -ENOMEM;
	}
	t->magic = DTIER_MAGIC;
	const char *path = t->conf.path;
	t->conf = *c;
	t->conf.path = path;
	atomic_init(&t->w, NULL);
	pthread_mutex_init(&t->inval_lock, NULL);
	atomic_init(&t->writer_ended, true);
	atomic_init(&t->roll_gen, 1); /* a new object's disk_mark is 0 */
	rt_group_init(&t->rebuilding);
	rt_group_init(&t->writing);
	rt_group_init(&t->closing);
	struct dstore_opts o = {
	    .seg_size = c->seg_size, .log = log, .log_ctx = log_ctx, .page_cache = c->page_cache};
	int r = dstore_open(&t->ds, c->path, c->size, &o, err, errlen);
	if (r < 0) {
		dtier_close(&t);
		return r;
	}
	uint64_t nsegs = t->ds->sb.seg_count, seg = t->ds->sb.seg_size;
	if (nsegs < 2 || nsegs > DINDEX_SEG_MAX || seg > (uint64_t)DINDEX_SPAN_MAX + 8) {
		snprintf(err, errlen,
			 "%s: %llu segments of %llu bytes; the disk tier needs 2 to %u segments "
			 "of at most 16MiB (cache.disk.size, cache.disk.segment_size)",
			 c->path, (unsigned long long)nsegs, (unsigned long long)seg,
			 DINDEX_SEG_MAX);
		dtier_close(&t);
		return -EINVAL;
	}
	t->ix =
	    dindex_create(dindex_expected(t->ds->size, 0), (uint32_t)nsegs, (int64_t)time(NULL));
	struct dseg_conf dc = {.nsegs = (uint32_t)nsegs, .seg_size = (uint32_t)seg};
	t->dseg = t->ix ? dseg_create(&dc) : NULL;
	t->seg_minver = t->dseg ? calloc(nsegs, sizeof(*t->seg_minver)) : NULL;
	t->rb_minver = t->seg_minver ? calloc(nsegs, sizeof(*t->rb_minver)) : NULL;
	t->walked = t->rb_minver ? calloc(nsegs, sizeof(*t->walked)) : NULL;
	t->seg_readers = t->walked ? calloc(nsegs, sizeof(*t->seg_readers)) : NULL;
	if (!t->seg_readers) {
		snprintf(err, errlen, "%s: out of memory for the disk index", c->path);
		dtier_close(&t);
		return -ENOMEM;
	}
	dtier_set_admission(t, c->min_ttl, c->max_object, c->admit_hits);
	t->conf.max_object = atomic_load(&t->adm_max_object);
	*out = t;
	return 0;
}

/* --- invalidations --------------------------------------------------------- */

static struct dfloor *dfloor_find(const struct dfloors *f, uint64_t phash)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->v[i].phash == phash)
			return &f->v[i];
	return NULL;
}

bool dfloors_add(struct dfloors *f, uint64_t phash, bool queued)
{
	struct dfloor *e = dfloor_find(f, phash);
	if (!e) {
		if (f->n == f->cap) {
			size_t cap = f->cap ? 2 * f->cap : 16;
			struct dfloor *v = realloc(f->v, cap * sizeof(*v));
			if (!v)
				return false;
			f->v = v;
			f->cap = cap;
		}
		e = &f->v[f->n++];
		*e = (struct dfloor){.phash = phash};
	}
	if (queued)
		e->waiting++;
	else
		e->kept = true;
	return true;
}

void dfloors_written(struct dfloors *f, uint64_t phash)
{
	struct dfloor *e = dfloor_find(f, phash);
	if (!e || !e->waiting)
		return;
	if (--e->waiting == 0 && !e->kept)
		*e = f->v[--f->n];
}

bool dfloors_held(const struct dfloors *f, uint64_t phash)
{
	return dfloor_find(f, phash) != NULL;
}

void dfloors_free(struct dfloors *f)
{
	free(f->v);
	*f = (struct dfloors){0};
}

static char *dupn(const char *p, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

/* Append E (its strings now T's). Under inval_lock. false: no memory (E's
 * strings freed). */
/* What E owns (its matcher and strings). */
static void dinval_clear(struct dinval *e)
{
	ban_list_free(&e->ban);
	free(e->url_re);
	free(e->host_re);
	free(e->tag);
}

static bool inval_append(struct dtier *t, struct dinval *e)
{
	if (t->ninvals == t->invals_cap) {
		size_t cap = t->invals_cap ? 2 * t->invals_cap : 16;
		struct dinval *n = realloc(t->invals, cap * sizeof(*n));
		if (!n) {
			dinval_clear(e);
			return false;
		}
		t->invals = n;
		t->invals_cap = cap;
	}
	t->invals[t->ninvals++] = *e;
	return true;
}

/* Queue E's record with W; its state follows. Under inval_lock. */
static void inval_queue(struct dwriter *w, struct dinval *e)
{
	int r;
	if (e->kind == DREC_BAN)
		r = dwriter_ban(w, e->url_re, e->url_re ? (uint32_t)strlen(e->url_re) : 0,
				e->host_re, e->host_re ? (uint32_t)strlen(e->host_re) : 0);
	else
		r = dwriter_tag(w, e->tag, e->tag_len, e->soft);
	/* Not queued: it applies to every record read until a restart (the
	 * restart may bring back what it invalidated: counted, inval_dropped). */
	e->state = r == 0 ? DINVAL_QUEUED : DINVAL_DONE;
}

/* Records are reported in the order they were queued: the first queued
 * entry of KIND is the one written. */
static void inval_written(struct dtier *t, enum drec_kind kind, uint64_t seq)
{
	pthread_mutex_lock(&t->inval_lock);
	for (size_t i = 0; i < t->ninvals; i++) {
		struct dinval *e = &t->invals[i];
		if (e->state == DINVAL_QUEUED && e->kind == kind) {
			e->seq = seq;
			e->state = DINVAL_DONE;
			break;
		}
	}
	pthread_mutex_unlock(&t->inval_lock);
}

/* Keep E; without the memory to keep it, the tier goes off (a record read
 * back could otherwise be one it invalidated). */
static void inval_add(struct dtier *t, struct dinval *e)
{
	pthread_mutex_lock(&t->inval_lock);
	struct dwriter *w = atomic_load(&t->w);
	if (w && e->state == DINVAL_PENDING)
		inval_queue(w, e);
	bool kept = inval_append(t, e);
	pthread_mutex_unlock(&t->inval_lock);
	if (!kept)
		dstore_fail(t->ds, -ENOMEM, "keeping an invalidation");
}

/* An invalidation that applies to every record below SEQ (a ban with no
 * matcher: inval_verdict). */
static void inval_all_below(struct dtier *t, uint64_t seq)
{
	struct dinval e = {.kind = DREC_BAN, .state = DINVAL_DONE, .seq = seq};
	inval_add(t, &e);
}

static struct ban_list *ban_of(const char *url_re, const char *host_re)
{
	char err[128];
	struct ban_list *bl = ban_list_create();
	if (bl && ban_add(bl, url_re, host_re, err, sizeof(err)) < 0)
		ban_list_free(&bl);
	return bl;
}

void dtier_ban(struct dtier *t, const char *url_re, const char *host_re)
{
	CHECK_OBJ_NOTNULL(t, DTIER_MAGIC);
	struct dinval e = {.kind = DREC_BAN, .state = DINVAL_PENDING, .seq = UINT64_MAX};
	e.url_re = url_re ? strdup(url_re) : NULL;
	e.host_re = host_re ? strdup(host_re) : NULL;
	e.ban = ban_of(url_re, host_re);
	if (!e.ban || (url_re && !e.url_re) || (host_re && !e.host_re)) {
		ban_list_free(&e.ban);
		free(e.url_re);
		free(e.host_re);
		dstore_fail(t->ds, -ENOMEM, "keeping a ban");
		return;
	}
	inval_add(t, &e);
}

void dtier_tag(struct dtier *t, const char *tag, size_t len, bool soft)
{
	CHECK_OBJ_NOTNULL(t, DTIER_MAGIC);
	struct dinval e = {.kind = DREC_TAG,
			   .state = DINVAL_PENDING,
			   .seq = UINT64_MAX,
			   .tag = dupn(tag, len),
			   .tag_len = (uint32_t)len,
			   .soft = soft};
	if (!e.tag) {
		dstore_fail(t->ds, -ENOMEM, "keeping a tag purge");
		return;
	}
	inval_add(t, &e);
}

void dtier_purge(struct dtier *t, const char *key, uint32_t key_len, bool always)
{
	CHECK_OBJ_NOTNULL(t, DTIER_MAGIC);
	uint64_t phash = dindex_phash(key, key_len);
	/* An object of the key may be queued or encoded but not indexed yet:
	 * only an idle writer lets an unsafe method's purge go without a
	 * record (the memory copies are retired already, so none queued
	 * from now on is written). */
	/* Under inval_lock with the floor, as index_written's put is: an
	 * older record reported in between is either removed here or below
	 * the floor. */
	bool dropped = false;
	pthread_mutex_lock(&t->inval_lock);
	struct dwriter *w = atomic_load(&t->w);
	bool busy = w && dwriter_objects(w) > 0;
	if (dindex_tombstone(t->ix, phash, UINT64_MAX) == 0 && !always && dtier_rebuilt(t) &&
	    !busy) {
		pthread_mutex_unlock(&t->inval_lock);
		return;
	}
	if (w) {
		/* Every record of the key reported before the tombstone is
		 * refused (dtier.h), whatever its sequence. */
		int r = dwriter_tombstone(w, key, key_len); /* -EAGAIN: counted */
		if (!dfloors_add(&t->floors, phash, r == 0))
			dstore_fail(t->ds, -ENOMEM, "keeping a purge");
	} else if (t->npending < 65536) {
		/* Written when the writer starts, and applied again to what
		 * the rebuild still finds until then. */
		if (t->npending == t->pending_cap) {
			size_t cap = t->pending_cap ? 2 * t->pending_cap : 16;
			char **k = realloc(t->pending_purges, cap * sizeof(*k));
			if (k)
				t->pending_purges = k;
			uint32_t *l = k ? realloc(t->pending_lens, cap * sizeof(*l)) : NULL;
			if (l) {
				t->pending_lens = l;
				t->pending_cap = cap;
			}
		}
		char *k = t->npending < t->pending_cap ? dupn(key, key_len) : NULL;
		if (k) {
			t->pending_purges[t->npending] = k;
			t->pending_lens[t->npending++] = key_len;
		} else {
			dropped = true;
		}
	} else {
		dropped = true;
	}
	pthread_mutex_unlock(&t->inval_lock);
	/* Gone from the index now, but not durable: a restart may bring it
	 * back (as a tombstone the writer could not take). */
	if (dropped)
		atomic_fetch_add_explicit(&t->ds->stats.inval_dropped, 1, memory_order_relaxed);
}

/* The rebuild found a BAN or TAG record. */
static void rebuilt_ban(void *ctx, const struct drec_view *v)
{
	struct dtier *t = ctx;
	struct dinval e = {.kind = DREC_BAN, .state = DINVAL_DONE, .seq = v->h.seq};
	if (v->h.flags & DREC_BAN_URL)
		e.url_re = dupn(v->in.url_re, v->in.url_len);
	if (v->h.flags & DREC_BAN_HOST)
		e.host_re = dupn(v->in.host_re, v->in.host_len);
	e.ban = ban_of(e.url_re, e.host_re);
	if (!e.ban) { /* a pattern this build cannot compile, or no memory */
		free(e.url_re);
		free(e.host_re);
		inval_all_below(t, v->h.seq); /* whatever it banned stays banned */
		return;
	}
	inval_add(t, &e);
}

/* The rebuild found an invalidation record it cannot read: what it
 * invalidated is unknown, so every object older than it is taken as
 * invalidated (a store of disk misses, never an object back). */
static void rebuilt_lost(void *ctx, const struct drec_head *h)
{
	struct dtier *t = ctx;
	char line[160];
	snprintf(line, sizeof(line),
		 "a damaged invalidation record (sequence %llu): every object written before it "
		 "is dropped",
		 (unsigned long long)h->seq);
	if (t->ds->log)
		t->ds->log(t->ds->log_ctx, DSTORE_LOG_WARN, line);
	inval_all_below(t, h->seq);
}

static void rebuilt_tag(void *ctx, const struct drec_view *v)
{
	struct dtier *t = ctx;
	struct dinval e = {.kind = DREC_TAG,
			   .state = DINVAL_DONE,
			   .seq = v->h.seq,
			   .tag = dupn(v->in.key, v->in.key_len),
			   .tag_len = v->in.key_len,
			   .soft = v->h.flags & DREC_TAG_SOFT};
	if (e.tag)
		inval_add(t, &e);
	else
		dstore_fail(t->ds, -ENOMEM, "keeping a tag purge");
}

/* Before the writer is published (rebuild_done): the waiting records go
 * first, and the purges made during the rebuild apply again. */
static void inval_start(struct dtier *t, struct dwriter *w)
{
	pthread_mutex_lock(&t->inval_lock);
	for (size_t i = 0; i < t->npending; i++) {
		dindex_tombstone(t->ix, dindex_phash(t->pending_purges[i], t->pending_lens[i]),
				 UINT64_MAX);
		dwriter_tombstone(w, t->pending_purges[i], t->pending_lens[i]);
		free(t->pending_purges[i]);
	}
	t->npending = 0;
	for (size_t i = 0; i < t->ninvals; i++) {
		if (t->invals[i].state == DINVAL_PENDING)
			inval_queue(w, &t->invals[i]);
	}
	atomic_store(&t->w, w);
	pthread_mutex_unlock(&t->inval_lock);
}

/* What the bans and tag purges newer than record V say of it: 0 nothing,
 * 1 soft-purged (stale), -1 gone. */
static int inval_verdict(struct dtier *t, const struct drec_view *v)
{
	const char *key = v->in.key;
	const char *nul = memchr(key, '\0', v->in.key_len);
	size_t hl = nul ? (size_t)(nul - key) : 0;
	const char *url = nul ? nul + 1 : key;
	size_t ul = v->in.key_len - (size_t)(url - key);
	int verdict = 0;
	pthread_mutex_lock(&t->inval_lock);
	/* Older than every segment's first record: read from a segment
	 * written again while the read was in flight, whose invalidations
	 * may have been pruned since (inval_prune). */
	if (v->obj.version < t->oldest)
		verdict = -1;
	for (size_t i = 0; i < t->ninvals && verdict >= 0; i++) {
		struct dinval *e = &t->invals[i];
		if (e->seq <= v->obj.version)
			continue;
		if (e->kind == DREC_BAN) {
			uint64_t mark = 0;
			if (!e->ban || ban_check(e->ban, &mark, key, hl, url, ul))
				verdict = -1;
		} else if (v->obj.tags_len && tags_has(v->obj.tags, v->obj.tags_len,
						       v->obj.tags_space_sep, e->tag, e->tag_len)) {
			verdict = e->soft ? 1 : -1;
		}
	}
	pthread_mutex_unlock(&t->inval_lock);
	return verdict;
}

/* Put R in the index unless a purge of its key is not written yet.
 * Tested with the put under the lock: a purge in between either sets its
 * floor first or removes this entry after. */
static int index_put(struct dtier *t, const struct dindex_rec *r)
{
	pthread_mutex_lock(&t->inval_lock);
	bool held = dfloors_held(&t->floors, r->phash);
	int put = held ? 0 : dindex_put(t->ix, r);
	pthread_mutex_unlock(&t->inval_lock);
	if (put > 0)
		atomic_fetch_add_explicit(&t->stats.indexed, 1, memory_order_relaxed);
	return put;
}

/* A reinserted copy on disk: its entry under its version (the copy's own
 * sequence is newer), so a newer version of the key, written while the
 * copy was chosen and read, keeps its entry (dindex_put). Its hits
 * restart at zero: it must be hit again to be copied again. */
static void written_copy(struct dtier *t, const struct dwriter_done *d)
{
	struct dindex_rec r;
	drebuild_entry(d->copy, (uint32_t)d->seg, d->off, (int64_t)time(NULL), &r);
	r.len = d->len;
	if (index_put(t, &r) > 0) {
		atomic_fetch_add_explicit(&t->stats.reinserted, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&t->stats.reinserted_bytes, d->len, memory_order_relaxed);
	} else {
		atomic_fetch_add_explicit(&t->stats.reinsert_dropped, 1, memory_order_relaxed);
	}
}

static void index_written(void *ctx, const struct dwriter_done *d)
{
	struct dtier *t = ctx;
	if (d->kind == DREC_TOMBSTONE) {
		uint64_t ph = dindex_phash(d->key, d->key_len);
		dindex_tombstone(t->ix, ph, d->seq);
		pthread_mutex_lock(&t->inval_lock);
		dfloors_written(&t->floors, ph);
		pthread_mutex_unlock(&t->inval_lock);
		return;
	}
	if (d->kind == DREC_BAN || d->kind == DREC_TAG) {
		inval_written(t, d->kind, d->seq);
		return;
	}
	if (d->kind != DREC_OBJECT || (!d->obj && !d->copy))
		return;
	if (d->copy) {
		written_copy(t, d);
		return;
	}
	const struct cobj *o = d->obj;
	const struct resp_meta *m = &o->meta;
	int64_t now = (int64_t)time(NULL);
	bool validators = m->has_etag || m->last_modified != POLICY_NONE;
	bool swr = m->cc.delta[CC_STALE_WHILE_REVALIDATE] != CC_UNSET;
	struct dindex_rec r = {
	    .phash = dindex_phash(d->key, d->key_len),
	    .vhash = o->vkey_len ? dindex_vhash(o->vkey, o->vkey_len) : 0,
	    .seg = (uint32_t)d->seg,
	    .off = d->off,
	    .len = d->len,
	    .expires = validators || swr ? 0 : now + o->lifetime - policy_age(m, now),
	    .seq = d->seq,
	    .flags = (uint8_t)((validators ? DINDEX_F_VALIDATORS : 0) | (swr ? DINDEX_F_SWR : 0) |
			       (o->partial ? DINDEX_F_PARTIAL : 0)),
	};
	if (r.expires == 0 && !(validators || swr))
		r.expires = 1;
	if (index_put(t, &r) > 0) /* its memory hits count on this entry now (mark_hit) */
		atomic_store_explicit(&d->obj->disk_version, d->seq, memory_order_relaxed);
}

/* Drop the bans and tag purges no record on disk is older than: every
 * record left has a version at or above the least of the segments'
 * lowest versions (seg_minver: a segment's first sequence, or the version
 * of the oldest copy reinserted into it), and an invalidation applies
 * below its own sequence. Under inval_lock; O(segments + invalidations),
 * once per segment written. */
static void inval_prune(struct dtier *t)
{
	uint64_t oldest = UINT64_MAX;
	for (uint64_t i = 0; i < t->ds->sb.seg_count; i++)
		if (t->seg_minver[i] && t->seg_minver[i] < oldest)
			oldest = t->seg_minver[i];
	t->oldest = oldest == UINT64_MAX ? 0 : oldest;
	size_t k = 0;
	for (size_t i = 0; i < t->ninvals; i++) {
		struct dinval *e = &t->invals[i];
		if (e->state == DINVAL_DONE && e->seq <= oldest) {
			dinval_clear(e);
			atomic_fetch_add_explicit(&t->stats.invals_pruned, 1, memory_order_relaxed);
			continue;
		}
		t->invals[k++] = *e;
	}
	t->ninvals = k;
}

/* Is V, read from disk, still the record of entry E (its key's hashes,
 * its version) and untouched by every invalidation since it was written:
 * no purge of its key waiting for its tombstone (a floor), no ban or tag
 * purge newer than it that applies, pending ones included? */
static bool copy_current(struct dtier *t, const struct dindex_rec *e, const struct drec_view *v)
{
	const uint64_t seq_mask = (1ull << DINDEX_SEQ_BITS) - 1;
	const struct drec_obj *o = &v->obj;
	if (v->h.kind != DREC_OBJECT || o->partial ||
	    (o->version & seq_mask) != (e->seq & seq_mask) ||
	    dindex_phash(v->in.key, v->in.key_len) != e->phash ||
	    (o->vkey_len ? dindex_vhash(o->vkey, o->vkey_len) : 0) != e->vhash)
		return false;
	pthread_mutex_lock(&t->inval_lock);
	bool held = dfloors_held(&t->floors, e->phash);
	pthread_mutex_unlock(&t->inval_lock);
	return !held && inval_verdict(t, v) == 0;
}

/*
 * FIFO with reinsertion (dseg.h): before segment SEG is written again,
 * its entries hit since they were written and not expired, most hits
 * first, up to ROOM bytes and a quarter of a segment, are read back and
 * handed to the writer (dwriter_copy), which writes them first in SEG's
 * new life; dseg_choose removes the others from the index. On the
 * writer's task, so nothing is written meanwhile: an invalidation made
 * while the copies are chosen and read is queued behind them, takes a
 * higher sequence and applies to them as it would have to the original
 * (its floor keeps a purged copy out of the index, its record drops it
 * at a rebuild, a ban's is tested at every read). The ones made before
 * are tested here (copy_current). Returns the lowest version copied,
 * UINT64_MAX for none.
 */
static uint64_t reinsert(struct dtier *t, struct dwriter *w, uint32_t seg, uint64_t room)
{
	uint64_t rmax = t->ds->sb.seg_size / 4, minver = UINT64_MAX;
	if (room < rmax)
		rmax = room;
	/* Draining: the writer's queue (invalidations first) is what counts,
	 * and the drain's deadline may cancel it; nothing is copied then. */
	if (atomic_load(&t->closing_writes) || atomic_load(&t->draining))
		rmax = 0;
	/* All the reads within one deadline: the queue waits meanwhile (a
	 * slow disk costs copies, not admissions and invalidations), and the
	 * first read that fails other than by a damaged record ends them. */
	rt_time_t until = rt_deadline_in(REINSERT_TIMEOUT);
	struct dseg_victim v;
	if (dseg_choose(t->ix, seg, (int64_t)time(NULL), rmax, &v) < 0)
		return minver;
	uint64_t dropped = v.over;
	for (size_t i = 0; i < v.n; i++) {
		const struct dindex_rec *e = &v.keep[i];
		struct dstore_rec r;
		int rc = dstore_read(t->ds, e->seg, e->off, e->len, until, &r);
		if (rc < 0 && rc != -EBADMSG) { /* off, timed out, or the writer is going */
			dropped += v.n - i;
			break;
		}
		if (rc < 0) { /* damaged: counted, dropped */
			dropped++;
			continue;
		}
		uint64_t ver = r.v.obj.version;
		if (!copy_current(t, e, &r.v)) {
			dstore_rec_free(&r);
			dropped++;
		} else if (dwriter_copy(w, &r) < 0) {
			dropped++;
		} else if (ver < minver) {
			minver = ver;
		}
	}
	dseg_victim_fini(&v);
	atomic_fetch_add_explicit(&t->stats.reinsert_dropped, dropped, memory_order_relaxed);
	return minver;
}

/* The writer's next segment: the oldest, after the newest (a circular
 * log, so FIFO by segment), with its hit records copied first. Its old
 * entries leave the index before it is written again, so the index never
 * points at bytes being replaced. */
static int next_segment(void *ctx, uint64_t sealed, uint64_t *next, uint64_t room)
{
	struct dtier *t = ctx;
	*next = (sealed + 1) % t->ds->sb.seg_count;
	struct dwriter *w = atomic_load(&t->w);
	uint64_t minver = w ? reinsert(t, w, (uint32_t)*next, room) : UINT64_MAX;
	atomic_fetch_add_explicit(&t->roll_gen, 1, memory_order_relaxed);
	dindex_seg_clear(t->ix, (uint32_t)*next);
	/* Reads of it still in flight end first (pin): at most 2 s, past
	 * which a stream of it would be cut short (never sent whole). */
	rt_time_t until = rt_deadline_in(2 * RT_SEC);
	while (atomic_load(&t->seg_readers[*next]) && rt_clock_now() < until)
		if (rt_sleep_until(rt_deadline_in(RT_MS)) < 0)
			break; /* cancelled: the writer ends */
	/* Its SEGMENT record takes the writer's next sequence; the copies
	 * keep their older versions. */
	pthread_mutex_lock(&t->inval_lock);
	uint64_t first = w ? dwriter_next_seq(w) : 0;
	t->seg_minver[*next] = minver < first ? minver : first;
	inval_prune(t);
	pthread_mutex_unlock(&t->inval_lock);
	return 0;
}

static void writer_main(void *arg)
{
	struct dtier *t = arg;
	dwriter_main(atomic_load(&t->w));
	atomic_store(&t->writer_ended, true);
}

/* The rebuild's last act, on its task on loop 0: start the writer above
 * everything found, in the segment after the newest one. */
/* Invalidations made during the rebuild wait for the writer. Under
 * inval_lock. */
static bool inval_waiting(const struct dtier *t)
{
	if (t->npending)
		return true;
	for (size_t i = 0; i < t->ninvals; i++)
		if (t->invals[i].state == DINVAL_PENDING)
			return true;
	return false;
}

static void rebuild_done(void *ctx, const struct drebuild_stats *s)
{
	struct dtier *t = ctx;
	if (s->rc < 0 && s->rc != -ECANCELED && !dstore_disabled(t->ds))
		dstore_fail(t->ds, s->rc, "rebuilding the disk index"); /* no writer, one line */
	if (s->rc < 0 || dstore_disabled(t->ds))
		return;
	bool draining = atomic_load(&t->closing_writes);
	if (draining) {
		/* SIGTERM during the rebuild: the writer still runs, to write
		 * the purges, bans and tag purges made meanwhile, and stops
		 * (dtier_force bounds it); objects are not admitted. */
		pthread_mutex_lock(&t->inval_lock);
		bool waiting = inval_waiting(t);
		pthread_mutex_unlock(&t->inval_lock);
		if (!waiting)
			return;
	}
	int64_t open = dseg_open(t->dseg);
	uint64_t nsegs = t->ds->sb.seg_count;
	uint64_t first = open < 0 ? 0 : ((uint64_t)open + 1) % nsegs;
	pthread_mutex_lock(&t->inval_lock);
	for (uint64_t i = 0; i < nsegs; i++) {
		struct dseg_info di;
		dseg_info(t->dseg, (uint32_t)i, &di);
		uint64_t mv = t->rb_minver[i];
		t->seg_minver[i] = mv && mv < di.first_seq ? mv : di.first_seq;
	}
	inval_prune(t);
	pthread_mutex_unlock(&t->inval_lock);
	/* The writer's first segment is the oldest: it asks next_segment for
	 * it at its start (dwriter.h), which copies its hit records, clears
	 * it and sets its lowest version as for every later one. */
	struct dwriter_conf wc = {.first_seq = s->top_seq + 1,
				  .first_seg = first,
				  .next_seg = next_segment,
				  .written = index_written,
				  .ctx = t};
	struct dwriter *w = dwriter_create(t->ds, &wc);
	if (!w) {
		dstore_fail(t->ds, -ENOMEM, "starting the segment writer");
		return;
	}
	atomic_store(&t->writer_ended, false);
	inval_start(t, w);
	if (rt_group_spawn(&t->writing, writer_main, t, "dwriter") < 0) {
		atomic_store(&t->writer_ended, true);
		dwriter_stop(w);
		dstore_fail(t->ds, -ENOMEM, "starting the segment writer");
		return;
	}
	if (draining || atomic_load(&t->closing_writes))
		dwriter_stop(w); /* what inval_start queued, then it ends */
}

static void rebuild_main(void *arg)
{
	drebuild_main(arg);
}

int dtier_start(struct dtier *t)
{
	CHECK_OBJ_NOTNULL(t, DTIER_MAGIC);
	t->rb = (struct drebuild){.ds = t->ds,
				  .ix = t->ix,
				  .dseg = t->dseg,
				  .now = (int64_t)time(NULL),
				  .walked = t->walked,
				  .minver = t->rb_minver,
				  .on_ban = rebuilt_ban,
				  .on_tag = rebuilt_tag,
				  .on_lost = rebuilt_lost,
				  .on_done = rebuild_done,
				  .ctx = t};
	atomic_init(&t->rb.done, false);
	return rt_group_spawn(&t->rebuilding, rebuild_main, &t->rb, "drebuild") < 0 ? -ENOMEM : 0;
}

/* Stop the writer (what it has queued is written first) and the rebuild,
 * unless invalidations wait for the writer it would start. */
static void close_writes(struct dtier *t)
{
	atomic_store(&t->closing_writes, true);
	/* With invalidations waiting for the writer, the rebuild goes on to
	 * its end so that they can be written above every record on disk
	 * (a cancelled rebuild knows neither the top sequence nor a free
	 * segment); dtier_force cancels it past the drain deadline. */
	pthread_mutex_lock(&t->inval_lock);
	bool waiting = !atomic_load(&t->w) && inval_waiting(t);
	pthread_mutex_unlock(&t->inval_lock);
	if (!waiting)
		rt_group_cancel(&t->rebuilding);
	struct dwriter *w = atomic_load(&t->w);
	if (w)
		dwriter_stop(w);
}

/* The drain's closer (dtier_drain): once every client connection has
 * ended, none can purge any more: the writer writes what it has and
 * ends. */
static void closer_main(void *arg)
{
	struct dtier *t = arg;
	while (t->drain_conns && atomic_load(t->drain_conns) > 0)
		if (rt_sleep_until(rt_deadline_in(10 * RT_MS)) < 0)
			return; /* dtier_force: the writer is cancelled too */
	close_writes(t);
}

void dtier_drain(struct dtier *t, const atomic_uint *conns)
{
	CHECK_OBJ_NOTNULL(t, DTIER_MAGIC);
	atomic_store(&t->draining, true); /* no more objects (dtier_admit) */
	t->drain_conns = conns;
	if (rt_group_spawn(&t->closing, closer_main, t, "dcloser") < 0)
		close_writes(t); /* purges of the requests still running may be lost */
}

void dtier_force(struct dtier *t)
{
	CHECK_OBJ_NOTNULL(t, DTIER_MAGIC);
	rt_group_cancel(&t->closing);
	rt_group_cancel(&t->rebuilding);
	rt_group_cancel(&t->writing);
}

void dtier_close(struct dtier **tp)
{
	struct dtier *t = *tp;
	if (!t)
		return;
	CHECK_OBJ_NOTNULL(t, DTIER_MAGIC);
	*tp = NULL;
	rt_group_fini(&t->rebuilding);
	rt_group_fini(&t->writing);
	rt_group_fini(&t->closing);
	struct dwriter *w = atomic_load(&t->w);
	if (w)
		dwriter_free(&w);
	for (size_t i = 0; i < t->ninvals; i++)
		dinval_clear(&t->invals[i]);
	free(t->invals);
	free(t->seg_minver);
	free(t->rb_minver);
	free(t->walked);
	free(t->seg_readers);
	dfloors_free(&t->floors);
	for (size_t i = 0; i < t->npending; i++)
		free(t->pending_purges[i]);
	free(t->pending_purges);
	free(t->pending_lens);
	pthread_mutex_destroy(&t->inval_lock);
	dseg_free(&t->dseg);
	dindex_free(&t->ix);
	dstore_close(&t->ds);
	free((char *)t->conf.path);
	t->magic = 0;
	free(t);
}

void dtier_set_admission(struct dtier *t, int64_t min_ttl, uint64_t max_object, unsigned admit_hits)
{
	uint64_t room = t->ds->sb.seg_size - RECORD_SLACK;
	atomic_store(&t->adm_min_ttl, min_ttl);
	atomic_store(&t->adm_max_object, !max_object || max_object > room ? room : max_object);
	atomic_store(&t->adm_hits, admit_hits);
}

bool dtier_rebuilt(struct dtier *t)
{
	return atomic_load(&t->rb.done);
}

bool dtier_enabled(struct dtier *t)
{
	return !dstore_disabled(t->ds);
}

bool dtier_admits(const struct dtier_conf *c, const struct cobj *o, unsigned hits, int64_t now)
{
	if (hits < c->admit_hits || !o->body) /* the caller saw the body complete */
		return false;
	if (o->near) /* the owner's copy is the one kept (backend/cluster.h) */
		return false;
	if (o->body->len > c->max_object || o->hdrs_len > c->max_object)
		return false;
	const struct resp_meta *m = &o->meta;
	bool validators = m->has_etag || m->last_modified != POLICY_NONE;
	int64_t left = o->lifetime - policy_age(m, now);
	return validators || left >= c->min_ttl;
}

int dtier_admit(struct dtier *t, const char *key, uint32_t key_len, struct cobj *o, unsigned hits,
		int64_t now)
{
	CHECK_OBJ_NOTNULL(t, DTIER_MAGIC);
	struct dwriter *w = atomic_load(&t->w);
	if (!w || dstore_disabled(t->ds) || atomic_load(&t->draining))
		return -1; /* not a verdict of the rule: not counted */
	struct dtier_conf c = t->conf;
	c.min_ttl = atomic_load_explicit(&t->adm_min_ttl, memory_order_relaxed);
	c.max_object = atomic_load_explicit(&t->adm_max_object, memory_order_relaxed);
	c.admit_hits = atomic_load_explicit(&t->adm_hits, memory_order_relaxed);
	if (cbody_state(o->body) != BODY_DONE)
		return -1; /* not yet: the fetch offers it when the body ends */
	if (o->partial || !dtier_admits(&c, o, hits, now)) {
		atomic_fetch_add_explicit(&t->stats.rejections, 1, memory_order_relaxed);
		return 0;
	}
	if (dwriter_admit(w, key, key_len, o) < 0)
		return -1; /* dropped: dstore counts it (admit_dropped) */
	atomic_fetch_add_explicit(&t->stats.admissions, 1, memory_order_relaxed);
	return 1;
}

/* One more request answered by O; the count so far. */
static unsigned dtier_count_hit(struct cobj *o)
{
	unsigned hits = atomic_load_explicit(&o->disk_hits, memory_order_relaxed);
	if (hits < UINT8_MAX) /* racing hits may lose a count: a hit more is asked for */
		atomic_store_explicit(&o->disk_hits, (uint8_t)++hits, memory_order_relaxed);
	return hits;
}

/* A hit on O, decided for the disk already: counted on its disk entry,
 * if it has one, once per roll. A hit never read from disk would else
 * leave the entry at zero hits, and the copy of an object hot in memory
 * would be dropped when its segment is written again: after a restart
 * the origin would be asked for the hottest objects first. */
static void mark_hit(struct dtier *t, struct cobj *o)
{
	unsigned gen = atomic_load_explicit(&t->roll_gen, memory_order_relaxed);
	if (atomic_load_explicit(&o->disk_mark, memory_order_relaxed) == gen)
		return;
	uint64_t version = atomic_load_explicit(&o->disk_version, memory_order_relaxed);
	if (!version)
		return; /* not on disk yet: the roll's count waits for it */
	atomic_store_explicit(&o->disk_mark, gen, memory_order_relaxed);
	uint32_t kl;
	const char *key = cobj_key(o, &kl);
	if (key)
		dindex_hit_version(t->ix, dindex_phash(key, kl),
				   o->vkey_len ? dindex_vhash(o->vkey, o->vkey_len) : 0, version);
}

void dtier_offer(struct dtier *t, struct cobj *o, int64_t now)
{
	if (atomic_load_explicit(&o->disk_done, memory_order_relaxed)) {
		mark_hit(t, o);
		return;
	}
	/* Invalidated or replaced while its body arrived, or since this hit
	 * took it: never to disk (the writer tests it again, store.h). */
	if (atomic_load(&o->retired))
		return;
	uint32_t kl;
	const char *key = cobj_key(o, &kl);
	/* A hit while the body still arrives (or before publish): not yet,
	 * not no. The fetch offers it again when the body ends. */
	if (!key || cbody_state(o->body) != BODY_DONE) {
		if (key && cbody_state(o->body) == BODY_FILLING)
			dtier_count_hit(o);
		return;
	}
	unsigned hits = dtier_count_hit(o);
	if (hits < atomic_load_explicit(&t->adm_hits, memory_order_relaxed) ||
	    atomic_exchange(&o->disk_done, true))
		return;
	if (dtier_admit(t, key, kl, o, hits, now) < 0)
		atomic_store(&o->disk_done, false); /* the next request tries again */
}

static char *dup_part(const char *p, size_t n, bool nul_if_empty)
{
	if (!n && !nul_if_empty)
		return NULL;
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

/* The object record V holds, as a new unpublished object of ST: with its
 * body complete when WHOLE (V->body, inside REC: taken over when it is
 * most of REC, and REC->mem is then NULL), else with an empty body a
 * stream fills (dstream.h). */
static struct cobj *obj_from_record(struct store *st, const struct drec_view *v, bool whole,
				    struct dstore_rec *rec)
{
	const struct drec_obj *r = &v->obj;
	struct cobj *o = cobj_new(st);
	if (!o)
		return NULL;
	o->status = r->status;
	o->meta = r->meta;
	o->lifetime = r->lifetime;
	o->clen = r->clen;
	o->fwd_len = r->fwd_len;
	o->tags_space_sep = r->tags_space_sep;
	o->reason = dup_part(r->reason, r->reason_len, true);
	o->hdrs = dup_part(v->in.head, v->in.head_len, true);
	o->hdrs_len = v->in.head_len;
	o->vary = dup_part(r->vary, r->vary_len, false);
	o->vary_len = r->vary_len;
	o->vkey = dup_part(r->vkey, r->vkey_len, false);
	o->vkey_len = r->vkey_len;
	o->tags = dup_part(r->tags, r->tags_len, false);
	o->tags_len = r->tags_len;
	bool ok = o->reason && o->hdrs && (o->vary || !r->vary_len) && (o->vkey || !r->vkey_len) &&
		  (o->tags || !r->tags_len);
	/* Already on disk: the admission rule has nothing to decide. */
	atomic_store(&o->disk_done, true);
	atomic_store_explicit(&o->disk_version, r->version, memory_order_relaxed);
	if (!whole) {
		if (!ok) {
			cbody_finish(o->body, false);
			cobj_release(&o);
		}
		return o;
	}
	/* No copy when the body is at least 3/4 of the buffer read: the
	 * memory budget is charged the whole buffer, which is then little
	 * more than the body, and a disk hit saves copying it. */
	if (ok && v->h.body_len && rec && v->h.body_len >= rec->size / 4 * 3) {
		ok = cbody_adopt(o->body, rec->mem, rec->size, (const char *)v->body,
				 v->h.body_len) == 0;
		rec->mem = NULL;
	} else if (ok && v->h.body_len) {
		ok = cbody_append(o->body, v->body, v->h.body_len, v->h.body_len) == 0;
	}
	cbody_finish(o->body, ok);
	if (!ok)
		cobj_release(&o);
	return o;
}

/*
 * Segment pins: a read of a record counts itself on its segment, and the
 * writer, about to write a segment again, waits for its count to reach
 * zero (next_segment), so a read never meets the new bytes (a stream
 * would then be cut short, a whole read counted damaged). The reader
 * counts itself and then checks that its entry is still in the index;
 * the writer clears the segment's entries and then reads the count, so
 * one of them sees the other.
 */
static bool pin(struct dtier *t, const struct dindex_rec *e)
{
	atomic_fetch_add(&t->seg_readers[e->seg], 1);
	struct dindex_rec now;
	if (dindex_get(t->ix, e->phash, e->vhash, &now) && now.seg == e->seg && now.off == e->off)
		return true;
	atomic_fetch_sub(&t->seg_readers[e->seg], 1);
	return false;
}

static void unpin(struct dtier *t, const struct dindex_rec *e)
{
	atomic_fetch_sub(&t->seg_readers[e->seg], 1);
}

/* The record E (a variant of LR's key), checked against LR and the
 * invalidations: 1 it is LR's (V its view), 0 not (another key, an older
 * version, a partial object), -1 invalidated since it was written (its
 * entry left the index). *SOFT: a soft tag purge makes it stale. */
static int record_is(struct dtier *t, const struct dindex_rec *e, const struct lookup_req *lr,
		     const struct drec_view *v, bool *soft)
{
	const uint64_t seq_mask = (1ull << DINDEX_SEQ_BITS) - 1;
	bool same = v->h.kind == DREC_OBJECT && v->in.key_len == lr->key_len &&
		    !memcmp(v->in.key, lr->key, lr->key_len) &&
		    (v->obj.version & seq_mask) == (e->seq & seq_mask) && !v->obj.partial;
	int verdict = same ? inval_verdict(t, v) : 0;
	if (verdict < 0) { /* banned or tag-purged after it was written */
		dindex_remove_at(t->ix, e->phash, e->vhash, e->seg, e->off);
		return -1;
	}
	*soft = verdict > 0;
	return same ? 1 : 0;
}

/* A record longer than DSTREAM_MIN as an object whose body the stream
 * fills (*SP): NULL when it is not LR's or cannot be read; *WHOLE is set
 * when it should be read whole instead. */
static struct cobj *find_streamed(struct dtier *t, struct store *st, const struct dindex_rec *e,
				  const struct lookup_req *lr, rt_time_t deadline,
				  struct dstream **sp, bool *whole, bool *stop)
{
	struct dstream_at at = {.ds = t->ds,
				.ix = t->ix,
				.reading = &t->reading,
				.budget = DTIER_READ_BUDGET,
				.phash = e->phash,
				.vhash = e->vhash,
				.seg = e->seg,
				.off = e->off,
				.len = e->len,
				.pin = &t->seg_readers[e->seg]};
	if (!pin(t, e))
		return NULL; /* its segment is being written again: gone */
	struct drec_view v;
	int rc = dstream_open(&at, deadline, sp, &v);
	*whole = rc == -E2BIG;
	if (rc == -ENOMEM)
		atomic_fetch_add_explicit(&t->stats.over_budget, 1, memory_order_relaxed);
	/* Off, timed out, cancelled, out of memory: a miss, no other variant
	 * read (a damaged one lets the next be tried). */
	if (rc < 0 && rc != -E2BIG && rc != -EBADMSG)
		*stop = true;
	if (rc < 0)
		return NULL;
	bool soft = false;
	struct cobj *o =
	    record_is(t, e, lr, &v, &soft) > 0 ? obj_from_record(st, &v, false, NULL) : NULL;
	if (o && dstream_attach(*sp, o) < 0)
		cobj_release(&o);
	if (!o) {
		dstream_free(sp);
		return NULL;
	}
	if (soft)
		atomic_store(&o->soft_stale, true);
	atomic_store(&o->unverified, true);
	/* Its exact length, so that a response cut short is seen to be (a
	 * body sent without a length to an HTTP/1.0 client would not be). */
	if (o->clen < 0)
		o->clen = (int64_t)v.h.body_len;
	return o;
}

/* A record read whole, checked, as an object with its body complete. */
static struct cobj *find_whole(struct dtier *t, struct store *st, const struct dindex_rec *e,
			       const struct lookup_req *lr, rt_time_t deadline, bool *stop)
{
	/* The record and the object made from it are both in memory until
	 * the copy is done: twice its length, within the budget for reads
	 * in flight (past it the origin answers). */
	uint64_t cost = 2ull * e->len;
	if (atomic_fetch_add(&t->reading, cost) + cost > DTIER_READ_BUDGET) {
		atomic_fetch_sub(&t->reading, cost);
		atomic_fetch_add_explicit(&t->stats.over_budget, 1, memory_order_relaxed);
		*stop = true;
		return NULL;
	}
	struct dstore_rec r;
	if (!pin(t, e)) {
		atomic_fetch_sub(&t->reading, cost);
		return NULL; /* its segment is being written again: gone */
	}
	int rc = dstore_read(t->ds, e->seg, e->off, e->len, deadline, &r);
	unpin(t, e);
	struct cobj *o = NULL;
	if (rc == -EBADMSG) {
		dindex_remove_at(t->ix, e->phash, e->vhash, e->seg, e->off);
	} else if (rc < 0) {
		*stop = true; /* off, timed out, cancelled: a miss */
	} else {
		bool soft = false;
		if (record_is(t, e, lr, &r.v, &soft) > 0 &&
		    (o = obj_from_record(st, &r.v, true, &r)) && soft)
			atomic_store(&o->soft_stale, true);
		dstore_rec_free(&r);
	}
	atomic_fetch_sub(&t->reading, cost);
	return o;
}

struct cobj *dtier_find(struct dtier *t, struct store *st, const struct lookup_req *lr,
			rt_time_t deadline, struct dstream **stream, bool *hot)
{
	CHECK_OBJ_NOTNULL(t, DTIER_MAGIC);
	if (stream)
		*stream = NULL;
	*hot = false;
	if (dstore_disabled(t->ds))
		return NULL; /* not any more: the origin answers */
	/* While the rebuild runs, the segments it walked already (newest
	 * first: drebuild.h) answer; the others are not known yet. */
	bool rebuilt = dtier_rebuilt(t);
	uint64_t phash = dindex_phash(lr->key, lr->key_len);
	struct dindex_rec recs[DTIER_VARIANTS];
	size_t n = dindex_lookup(t->ix, phash, recs, DTIER_VARIANTS);
	if (n > DTIER_VARIANTS)
		n = DTIER_VARIANTS;
	struct cobj *best = NULL;
	struct dstream *best_s = NULL;
	enum vary_match best_m = VARY_NO;
	struct dindex_rec best_e = {0};
	bool stop = false;
	for (size_t i = 0; i < n && best_m != VARY_EXACT && !stop; i++) {
		const struct dindex_rec *e = &recs[i];
		if (e->flags & DINDEX_F_PARTIAL)
			continue;
		if (!rebuilt && !atomic_load_explicit(&t->walked[e->seg], memory_order_acquire))
			continue;
		struct dstream *s = NULL;
		struct cobj *o = NULL;
		bool whole = !stream || e->len <= DSTREAM_MIN;
		if (!whole)
			o = find_streamed(t, st, e, lr, deadline, &s, &whole, &stop);
		if (whole)
			o = find_whole(t, st, e, lr, deadline, &stop);
		if (!o)
			continue;
		enum vary_match m = store_variant_match(o, lr);
		if (m > best_m) {
			dstream_free(&best_s);
			cobj_release(&best);
			best = o;
			best_s = s;
			best_m = m;
			best_e = *e;
			*hot = e->hits > 0;
		} else {
			dstream_free(&s);
			cobj_release(&o);
		}
	}
	if (best) {
		/* On the entry read, if it still is (not a newer one written
		 * meanwhile). */
		dindex_hit_version(t->ix, phash, best_e.vhash, best_e.seq);
		/* That was this roll's count: the hit the promotion's lookup
		 * makes is not counted again (mark_hit). */
		atomic_store_explicit(&best->disk_mark, atomic_load(&t->roll_gen),
				      memory_order_relaxed);
		atomic_fetch_add_explicit(&t->stats.hits, 1, memory_order_relaxed);
		if (best_s)
			atomic_fetch_add_explicit(&t->stats.streamed, 1, memory_order_relaxed);
	} else {
		atomic_fetch_add_explicit(&t->stats.misses, 1, memory_order_relaxed);
	}
	if (stream)
		*stream = best_s;
	return best;
}
