/* store.c - sharded object table, coalescing waits, streamed bodies, eviction, invalidation. */
#include "cache/store.h"
#include "rt/obj.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "cache/ban.h"
#include "cache/tags.h"
#include "cache/vary.h"
#include "rt/task.h"

#define NSHARDS	      64
#define SHARD_BUCKETS 4096
#define CHUNK_MIN     256
#define CHUNK_MAX     (64 * 1024)
#define CHUNK_DEFAULT (16 * 1024)

#define container_of(p, T, m) ((T *)((char *)(p)-offsetof(T, m)))

#define STORE_MAGIC 0x53544f52u
#define COH_MAGIC   0x434f4831u

struct coh {
	unsigned magic;
	struct coh *hnext;
	uint64_t hash;
	uint32_t refs; /* lookups holding it + objects pointing at it; shard lock */
	bool busy;     /* a fetch for this key is in flight */
	int64_t hfm_until;
	struct cobj *variants;
	struct cwaiter *waiters;
	uint32_t key_len, host_len;
	char key[];
};

struct shard {
	pthread_mutex_t lock;
	uint32_t sweep; /* next bucket to sweep for expired hit-for-miss heads */
	struct coh *buckets[SHARD_BUCKETS];
};

/* The ban lurker's place in its pass over the table (store_lurk). */
struct lurk {
	pthread_mutex_t lock; /* one lurker step at a time; never held across an await */
	bool in_pass;
	uint32_t shard, bucket; /* the next bucket to walk */
	uint64_t pass_seq;	/* ban_seq() when the pass began */
	struct cobj **took;	/* the step's references, kept for the next step */
	size_t cap;
};

struct store {
	unsigned magic;
	struct shard shards[NSHARDS];
	struct evict ev;
	struct ban_list *bans;
	struct tag_index *tags;
	struct store_stats stats;
	struct lurk lurk;
	/* Bumped by every purge and tag purge before it looks at the table: a
	 * promotion from disk that began before refuses itself (store.h). */
	_Atomic uint64_t inval_epoch;
	atomic_uint inval_active; /* store_inval_begin .. _end brackets running */
	/* Near-cache copies (cobj.near): their bytes, and the share of the
	 * budget they may hold (store_near_take). */
	_Atomic uint64_t near_bytes;
	_Atomic uint64_t near_budget; /* a reload may change cache.memory */
	pthread_mutex_t near_lock;    /* the list of near copies */
	struct cobj *near_head, *near_tail;
};

/* ---- waking ----------------------------------------------------------- */

static void waiter_msg(struct rt_msg *m)
{
	struct cwaiter *w = container_of(m, struct cwaiter, msg);
	rt_wake(w->task, 0);
}

/* Wake a list detached under its lock. The waiter structs live on the
 * waiting tasks' stacks and stay valid until each task has been woken. */
static void wake_all(struct cwaiter *w)
{
	struct rt_loop *here = rt_loop_current();
	while (w) {
		struct cwaiter *next = w->next;
		if (w->loop == here) {
			rt_wake(w->task, 0);
		} else {
			w->msg.fn = waiter_msg;
			rt_loop_post(w->loop, &w->msg);
		}
		w = next;
	}
}

static struct cwaiter *detach_waiters(struct cwaiter **list)
{
	struct cwaiter *w = *list;
	*list = NULL;
	for (struct cwaiter *x = w; x; x = x->next)
		x->queued = false;
	return w;
}

struct wait_ctx {
	pthread_mutex_t *lock;
	struct cwaiter **list;
	struct cwaiter *w;
};

static bool wait_cancel(void *arg)
{
	struct wait_ctx *c = arg;
	pthread_mutex_lock(c->lock);
	bool removed = false;
	if (c->w->queued) {
		for (struct cwaiter **pp = c->list; *pp; pp = &(*pp)->next) {
			if (*pp == c->w) {
				*pp = c->w->next;
				break;
			}
		}
		c->w->queued = false;
		removed = true;
	}
	pthread_mutex_unlock(c->lock);
	/* Not removed: a wake is already on its way and must be waited for. */
	return removed;
}

/* Called with LOCK held and W queued on LIST; returns with LOCK released. */
static int wait_on(pthread_mutex_t *lock, struct cwaiter **list, struct cwaiter *w,
		   rt_time_t deadline)
{
	w->task = rt_task_self();
	w->loop = rt_loop_current();
	w->queued = true;
	w->next = *list;
	*list = w;
	pthread_mutex_unlock(lock);
	struct wait_ctx c = {lock, list, w};
	return rt_wait(deadline, wait_cancel, &c);
}

/* ---- bodies ----------------------------------------------------------- */

static void chunk_free(struct cchunk *c)
{
	free(c->adopted);
	free(c);
}

/* Link C at the tail with the bytes it already holds, charging ALLOC
 * bytes, and wake the readers. */
static void chunk_link(struct cbody *b, struct cchunk *c, uint64_t alloc)
{
	pthread_mutex_lock(&b->lock);
	/* Charge what was allocated, not what is filled: the budget is about
	 * memory. Under the lock for cobj_alloc, which other threads call. */
	b->alloc += alloc;
	if (b->tail)
		b->tail->next = c;
	else
		b->head = c;
	b->tail = c;
	b->len += c->len;
	struct cwaiter *w = c->len ? detach_waiters(&b->waiters) : NULL;
	pthread_mutex_unlock(&b->lock);
	wake_all(w);
}

struct cbody *cbody_new(void)
{
	struct cbody *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->magic = CBODY_MAGIC;
	pthread_mutex_init(&b->lock, NULL);
	atomic_init(&b->refs, 1);
	b->state = BODY_FILLING;
	return b;
}

void cbody_release(struct cbody **bp)
{
	struct cbody *b = *bp;
	if (!b)
		return;
	*bp = NULL;
	CHECK_OBJ_NOTNULL(b, CBODY_MAGIC);
	if (atomic_fetch_sub(&b->refs, 1) != 1)
		return;
	assert(!b->waiters && !b->space_waiters);
	for (struct cchunk *c = b->head, *n; c; c = n) {
		n = c->next;
		chunk_free(c);
	}
	pthread_mutex_destroy(&b->lock);
	FINI_OBJ(b);
	free(b);
}

int cbody_append(struct cbody *b, const char *p, size_t n, uint64_t expect)
{
	CHECK_OBJ_NOTNULL(b, CBODY_MAGIC);
	/* Only the fetcher appends, so tail and cap are stable here; readers
	 * look only at lengths published under the lock. */
	while (n) {
		struct cchunk *t = b->tail;
		size_t space = t ? t->cap - t->len : 0;
		if (space == 0) {
			uint64_t want = CHUNK_DEFAULT;
			if (expect > b->len) {
				want = expect - b->len;
				want = want < CHUNK_MIN	  ? CHUNK_MIN
				       : want > CHUNK_MAX ? CHUNK_MAX
							  : want;
			}
			struct cchunk *c = malloc(sizeof(*c) + want);
			if (!c)
				return -ENOMEM;
			c->next = NULL;
			c->len = 0;
			c->cap = (uint32_t)want;
			c->data = c->inl;
			c->adopted = NULL;
			chunk_link(b, c, sizeof(*c) + want + 16);
			continue;
		}
		size_t k = n < space ? n : space;
		memcpy(t->data + t->len, p, k);
		pthread_mutex_lock(&b->lock);
		t->len += (uint32_t)k;
		b->len += k;
		struct cwaiter *w = detach_waiters(&b->waiters);
		pthread_mutex_unlock(&b->lock);
		wake_all(w);
		p += k;
		n -= k;
	}
	return 0;
}

int cbody_adopt(struct cbody *b, void *mem, size_t size, const char *p, size_t n)
{
	CHECK_OBJ_NOTNULL(b, CBODY_MAGIC);
	assert(n <= UINT32_MAX && p >= (const char *)mem && p + n <= (const char *)mem + size);
	struct cchunk *c = malloc(sizeof(*c));
	if (!c) {
		free(mem);
		return -ENOMEM;
	}
	/* Full (cap == len): a later append starts a chunk of its own. */
	c->next = NULL;
	c->len = c->cap = (uint32_t)n;
	c->data = (char *)p;
	c->adopted = mem;
	chunk_link(b, c, sizeof(*c) + size + 32);
	return 0;
}

void cbody_finish(struct cbody *b, bool ok)
{
	CHECK_OBJ_NOTNULL(b, CBODY_MAGIC);
	pthread_mutex_lock(&b->lock);
	b->state = ok ? BODY_DONE : BODY_FAILED;
	struct cwaiter *w = detach_waiters(&b->waiters);
	pthread_mutex_unlock(&b->lock);
	wake_all(w);
}

void body_consume(struct body_reader *r)
{
	struct cbody *b = r->b;
	struct cchunk *freed = NULL;
	pthread_mutex_lock(&b->lock);
	/* Free whole chunks behind the cursor; keep the tail, which the
	 * fetcher may still be filling. */
	while (b->head && b->head != r->c && b->head != b->tail) {
		struct cchunk *c = b->head;
		b->head = c->next;
		b->consumed += c->len;
		c->next = freed;
		freed = c;
	}
	struct cwaiter *w = NULL;
	if (b->len - b->consumed <= PIPE_WINDOW / 2)
		w = detach_waiters(&b->space_waiters);
	pthread_mutex_unlock(&b->lock);
	while (freed) {
		struct cchunk *n = freed->next;
		chunk_free(freed);
		freed = n;
	}
	wake_all(w);
}

void body_reader_gone(struct cbody *b)
{
	CHECK_OBJ_NOTNULL(b, CBODY_MAGIC);
	pthread_mutex_lock(&b->lock);
	b->reader_gone = true;
	struct cwaiter *w = detach_waiters(&b->space_waiters);
	pthread_mutex_unlock(&b->lock);
	wake_all(w);
}

int cbody_wait_space(struct cbody *b, rt_time_t deadline)
{
	CHECK_OBJ_NOTNULL(b, CBODY_MAGIC);
	struct cwaiter w;
	for (;;) {
		pthread_mutex_lock(&b->lock);
		if (b->reader_gone) {
			pthread_mutex_unlock(&b->lock);
			return -EPIPE;
		}
		if (b->len - b->consumed <= PIPE_WINDOW) {
			pthread_mutex_unlock(&b->lock);
			return 0;
		}
		int r = wait_on(&b->lock, &b->space_waiters, &w, deadline);
		if (r < 0)
			return r;
	}
}

void body_reader_init(struct body_reader *r, struct cbody *b)
{
	memset(r, 0, sizeof(*r));
	r->b = b;
}

ssize_t body_peek(struct body_reader *r, const char **p)
{
	struct cbody *b = r->b;
	pthread_mutex_lock(&b->lock);
	if (!r->c && b->head) {
		r->c = b->head;
		r->off = 0;
	}
	while (r->c && r->off == r->c->len && r->c->len == r->c->cap && r->c->next) {
		r->c = r->c->next;
		r->off = 0;
	}
	size_t avail = r->c ? r->c->len - r->off : 0;
	enum body_state st = b->state;
	pthread_mutex_unlock(&b->lock);
	if (avail) {
		*p = r->c->data + r->off;
		return (ssize_t)avail;
	}
	return st == BODY_DONE ? 0 : st == BODY_FAILED ? -EIO : -EAGAIN;
}

void body_advance(struct body_reader *r, size_t n)
{
	r->off += (uint32_t)n;
	r->pos += n;
}

void body_seek(struct body_reader *r, uint64_t off)
{
	struct cbody *b = r->b;
	pthread_mutex_lock(&b->lock);
	struct cchunk *c = b->head;
	uint64_t left = off;
	while (c && left >= c->len && c->next) {
		left -= c->len;
		c = c->next;
	}
	pthread_mutex_unlock(&b->lock);
	r->c = c;
	r->off = (uint32_t)left;
	r->pos = off;
}

int body_wait(struct body_reader *r, rt_time_t deadline)
{
	struct cbody *b = r->b;
	struct cwaiter w;
	pthread_mutex_lock(&b->lock);
	if (b->len > r->pos || b->state != BODY_FILLING) {
		pthread_mutex_unlock(&b->lock);
		return 0;
	}
	return wait_on(&b->lock, &b->waiters, &w, deadline);
}

/* ---- objects ---------------------------------------------------------- */

static void coh_unref(struct store *st, struct coh *oh);

struct cobj *cobj_new(struct store *st)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	struct cobj *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->magic = COBJ_MAGIC;
	o->st = st;
	o->clen = -1;
	atomic_init(&o->refs, 1);
	o->body = cbody_new();
	if (!o->body) {
		free(o);
		return NULL;
	}
	pthread_mutex_init(&o->enc_lock, NULL);
	return o;
}

struct cbody *cobj_enc_get(struct cobj *o, enum coding c)
{
	CHECK_OBJ_NOTNULL(o, COBJ_MAGIC);
	pthread_mutex_lock(&o->enc_lock);
	struct cbody *b = o->enc[c];
	if (b)
		atomic_fetch_add(&b->refs, 1);
	pthread_mutex_unlock(&o->enc_lock);
	return b;
}

enum body_state cbody_state(struct cbody *b)
{
	CHECK_OBJ_NOTNULL(b, CBODY_MAGIC);
	pthread_mutex_lock(&b->lock);
	enum body_state st = b->state;
	pthread_mutex_unlock(&b->lock);
	return st;
}

struct cbody *cobj_enc_put(struct cobj *o, enum coding c, struct cbody *b)
{
	CHECK_OBJ_NOTNULL(o, COBJ_MAGIC);
	struct cbody *old = NULL;
	pthread_mutex_lock(&o->enc_lock);
	struct cbody *have = o->enc[c];
	if (have && cbody_state(have) == BODY_FAILED) {
		old = have; /* a broken copy is replaced, never handed out */
		have = NULL;
	}
	if (have) {
		atomic_fetch_add(&have->refs, 1);
	} else {
		o->enc[c] = b;
		atomic_fetch_add(&b->refs, 1);
	}
	pthread_mutex_unlock(&o->enc_lock);
	cbody_release(&old);
	return have;
}

bool cobj_enc_refused(struct cobj *o, enum coding c)
{
	CHECK_OBJ_NOTNULL(o, COBJ_MAGIC);
	pthread_mutex_lock(&o->enc_lock);
	bool r = o->enc_refused & (1u << c);
	pthread_mutex_unlock(&o->enc_lock);
	return r;
}

void cobj_enc_drop(struct cobj *o, enum coding c, struct cbody *b, bool refuse)
{
	CHECK_OBJ_NOTNULL(o, COBJ_MAGIC);
	struct cbody *old = NULL;
	pthread_mutex_lock(&o->enc_lock);
	if (o->enc[c] == b) {
		old = b;
		o->enc[c] = NULL;
	}
	if (refuse)
		o->enc_refused |= (uint8_t)(1u << c);
	pthread_mutex_unlock(&o->enc_lock);
	cbody_release(&old);
}

static uint64_t body_alloc(struct cbody *b)
{
	pthread_mutex_lock(&b->lock);
	uint64_t a = b->alloc;
	pthread_mutex_unlock(&b->lock);
	return a;
}

uint64_t cobj_alloc(struct cobj *o)
{
	CHECK_OBJ_NOTNULL(o, COBJ_MAGIC);
	uint64_t a = body_alloc(o->body);
	pthread_mutex_lock(&o->enc_lock);
	for (int c = 0; c < CODING__N; c++) {
		if (o->enc[c])
			a += body_alloc(o->enc[c]);
	}
	pthread_mutex_unlock(&o->enc_lock);
	return a;
}

void cobj_retain(struct cobj *o)
{
	CHECK_OBJ_NOTNULL(o, COBJ_MAGIC);
	atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
}

static void near_unlist_locked(struct store *st, struct cobj *o);

void cobj_release(struct cobj **op)
{
	struct cobj *o = *op;
	if (!o)
		return;
	*op = NULL;
	CHECK_OBJ_NOTNULL(o, COBJ_MAGIC);
	if (atomic_fetch_sub(&o->refs, 1) != 1)
		return;
	assert(!o->linked);
	if (o->tagged)
		tag_index_remove(o->st->tags, o);
	if (o->oh)
		coh_unref(o->st, o->oh);
	if (o->linked || o->oh)
		atomic_fetch_sub(&o->st->stats.objects, 1);
	if (o->near_listed) {
		pthread_mutex_lock(&o->st->near_lock);
		if (o->near_listed)
			near_unlist_locked(o->st, o);
		pthread_mutex_unlock(&o->st->near_lock);
	}
	if (o->near_charge)
		store_near_give(o->st, o->near_charge);
	evict_forget(&o->st->ev, &o->ev); /* what it held of the budget */
	cbody_release(&o->body);
	for (int c = 0; c < CODING__N; c++)
		cbody_release(&o->enc[c]);
	pthread_mutex_destroy(&o->enc_lock);
	free(o->reason);
	free(o->hdrs);
	free(o->vary);
	free(o->vkey);
	free(o->tags);
	o->magic = 0;
	free(o);
}

static char *dupmem(const char *p, size_t n)
{
	if (!p)
		return NULL;
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

const char *cobj_key(const struct cobj *o, uint32_t *len)
{
	if (!o->oh)
		return NULL;
	*len = o->oh->key_len;
	return o->oh->key;
}

struct cobj *cobj_clone_head(struct cobj *old)
{
	struct cobj *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->magic = COBJ_MAGIC;
	o->st = old->st;
	atomic_init(&o->refs, 1);
	o->status = old->status;
	o->reason = dupmem(old->reason, old->reason ? strlen(old->reason) : 0);
	o->vary = dupmem(old->vary, old->vary_len);
	o->vary_len = old->vary_len;
	o->vkey = dupmem(old->vkey, old->vkey_len);
	o->vkey_len = old->vkey_len;
	o->fwd_len = old->fwd_len;
	o->meta = old->meta;
	o->lifetime = old->lifetime;
	o->clen = old->clen;
	o->partial = old->partial;
	o->near = old->near;
	o->part_first = old->part_first;
	o->part_last = old->part_last;
	o->part_len = old->part_len;
	o->tags = dupmem(old->tags, old->tags_len);
	o->tags_len = old->tags_len;
	o->tags_space_sep = old->tags_space_sep;
	o->body = old->body;
	atomic_fetch_add(&o->body->refs, 1);
	pthread_mutex_init(&o->enc_lock, NULL);
	/* Only finished copies: one still being made is charged to, and
	 * dropped from, the old object by its encode task. */
	pthread_mutex_lock(&old->enc_lock);
	for (int c = 0; c < CODING__N; c++) {
		struct cbody *b = old->enc[c];
		if (b && cbody_state(b) == BODY_DONE) {
			o->enc[c] = b;
			atomic_fetch_add(&b->refs, 1);
		}
	}
	o->enc_refused = old->enc_refused;
	pthread_mutex_unlock(&old->enc_lock);
	return o;
}

/* ---- the table -------------------------------------------------------- */

struct store *store_create(uint64_t budget)
{
	struct store *st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	st->magic = STORE_MAGIC;
	uint64_t ghosts = budget / 4096;
	ghosts = ghosts < 1024 ? 1024 : ghosts > (1u << 20) ? (1u << 20) : ghosts;
	if (evict_init(&st->ev, budget, (uint32_t)ghosts) < 0) {
		free(st);
		return NULL;
	}
	st->near_budget = budget / STORE_NEAR_SHARE;
	pthread_mutex_init(&st->near_lock, NULL);
	st->bans = ban_list_create();
	st->tags = tag_index_create();
	pthread_mutex_init(&st->lurk.lock, NULL);
	for (int i = 0; i < NSHARDS; i++)
		pthread_mutex_init(&st->shards[i].lock, NULL);
	return st;
}

static bool near_try(struct store *st, uint64_t n)
{
	uint64_t have = atomic_load_explicit(&st->near_bytes, memory_order_relaxed);
	do {
		if (have + n > atomic_load_explicit(&st->near_budget, memory_order_relaxed))
			return false;
	} while (!atomic_compare_exchange_weak_explicit(
	    &st->near_bytes, &have, have + n, memory_order_relaxed, memory_order_relaxed));
	return true;
}

/* Take O off the list (under near_lock). */
static void near_unlist_locked(struct store *st, struct cobj *o)
{
	if (o->near_prev)
		o->near_prev->near_next = o->near_next;
	else
		st->near_head = o->near_next;
	if (o->near_next)
		o->near_next->near_prev = o->near_prev;
	else
		st->near_tail = o->near_prev;
	o->near_prev = o->near_next = NULL;
	o->near_listed = false;
}

/* A reference to O unless its last one is being released. */
static bool cobj_try_retain(struct cobj *o)
{
	unsigned r = atomic_load_explicit(&o->refs, memory_order_relaxed);
	do {
		if (!r)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&o->refs, &r, r + 1, memory_order_acquire,
							memory_order_relaxed));
	return true;
}

void store_near_add(struct store *st, struct cobj *o)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	pthread_mutex_lock(&st->near_lock);
	o->near_prev = st->near_tail;
	o->near_next = NULL;
	if (st->near_tail)
		st->near_tail->near_next = o;
	else
		st->near_head = o;
	st->near_tail = o;
	o->near_listed = true;
	pthread_mutex_unlock(&st->near_lock);
}

bool store_near_take(struct store *st, uint64_t n)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	if (n > atomic_load_explicit(&st->near_budget, memory_order_relaxed))
		return false; /* giving copies up would not make room */
	for (int i = 0; i < STORE_NEAR_EVICT; i++) {
		if (near_try(st, n))
			return true;
		/* Full: the oldest copy goes (its room comes back when its
		 * last reader lets go: at once, mostly). */
		struct cobj *o = NULL;
		pthread_mutex_lock(&st->near_lock);
		for (struct cobj *c = st->near_head; c && !o; c = c->near_next) {
			if (cobj_try_retain(c)) {
				o = c;
				near_unlist_locked(st, c);
			}
		}
		pthread_mutex_unlock(&st->near_lock);
		if (!o)
			return false;
		store_unlink(st, o);
		cobj_release(&o);
	}
	return near_try(st, n);
}

void store_near_give(struct store *st, uint64_t n)
{
	atomic_fetch_sub_explicit(&st->near_bytes, n, memory_order_relaxed);
}

uint64_t store_near_bytes(struct store *st)
{
	return atomic_load_explicit(&st->near_bytes, memory_order_relaxed);
}

struct store_stats *store_stats(struct store *st)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	return &st->stats;
}

uint64_t store_held_bytes(struct store *st)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	return evict_held(&st->ev);
}

bool store_fill_begin(struct store *st, uint64_t expect)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	bool room = evict_fill_begin(&st->ev, expect);
	if (!room)
		atomic_fetch_add(&st->stats.refused_held, 1);
	return room;
}

void store_fill_end(struct store *st, uint64_t expect)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	evict_fill_end(&st->ev, expect);
}

uint64_t store_bytes(struct store *st)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	return evict_bytes(&st->ev);
}

static struct shard *shard_of(struct store *st, uint64_t h)
{
	return &st->shards[h % NSHARDS];
}

static struct coh **bucket_of(struct shard *sh, uint64_t h)
{
	return &sh->buckets[(h / NSHARDS) % SHARD_BUCKETS];
}

/* Free OH if nothing refers to it any more; shard lock held. A live
 * hit-for-miss mark keeps the head: it is the only record of the mark. */
static void coh_maybe_free(struct shard *sh, struct coh *oh)
{
	if (oh->refs || oh->busy || oh->variants || oh->waiters)
		return;
	if (oh->hfm_until)
		return; /* the lookup-side sweep frees it once the mark has expired */
	struct coh **pp = bucket_of(sh, oh->hash);
	while (*pp != oh)
		pp = &(*pp)->hnext;
	*pp = oh->hnext;
	FINI_OBJ(oh);
	free(oh);
}

static void coh_unref(struct store *st, struct coh *oh)
{
	struct shard *sh = shard_of(st, oh->hash);
	pthread_mutex_lock(&sh->lock);
	assert(oh->refs > 0);
	oh->refs--;
	coh_maybe_free(sh, oh);
	pthread_mutex_unlock(&sh->lock);
}

void store_coh_release(struct store *st, struct coh **ohp)
{
	struct coh *oh = *ohp;
	if (!oh)
		return;
	*ohp = NULL;
	coh_unref(st, oh);
}

static void sweep_bucket(struct shard *sh, uint32_t b, int64_t now, struct coh *keep)
{
	struct coh **pp = &sh->buckets[b];
	while (*pp) {
		struct coh *oh = *pp;
		if (oh != keep && !oh->refs && !oh->busy && !oh->variants && !oh->waiters &&
		    oh->hfm_until <= now) {
			*pp = oh->hnext;
			FINI_OBJ(oh);
			free(oh);
			continue;
		}
		pp = &oh->hnext;
	}
}

static struct coh *coh_find(struct shard *sh, uint64_t h, const char *key, uint32_t len)
{
	for (struct coh *oh = *bucket_of(sh, h); oh; oh = oh->hnext) {
		if (oh->hash == h && oh->key_len == len && memcmp(oh->key, key, len) == 0)
			return oh;
	}
	return NULL;
}

/* Unlink O from its head; shard lock held. Returns true if the caller now
 * owns the table's reference (it took O out of the eviction queues; if
 * eviction already took it, the evictor drops that reference). */
static bool unlink_locked(struct store *st, struct cobj *o)
{
	if (!o->linked)
		return false;
	for (struct cobj **pp = &o->oh->variants; *pp; pp = &(*pp)->vnext) {
		if (*pp == o) {
			*pp = o->vnext;
			break;
		}
	}
	o->vnext = NULL;
	o->linked = false;
	return evict_remove(&st->ev, &o->ev);
}

/* Objects whose last references are dropped after the shard lock is
 * released (freeing an object takes the shard lock again). */
struct droplist {
	struct cobj *o[16];
	unsigned n;
};

static void drop_add(struct droplist *d, struct cobj *o)
{
	if (d->n < 16) {
		d->o[d->n++] = o;
		return;
	}
	/* Never full in practice (few variants per key); if it is, the
	 * object stays referenced, a bounded leak rather than a deadlock. */
}

static void drop_all(struct droplist *d)
{
	for (unsigned i = 0; i < d->n; i++)
		cobj_release(&d->o[i]);
	d->n = 0;
}

/* Does stored O answer LR's request: the same forwarding key (nearly
 * always none on both sides: compared without work), and the fields O's
 * Vary names equal, or selecting O by their weights (vary.h)? */
static enum vary_match vary_matches(const struct cobj *o, const struct lookup_req *lr)
{
	if (o->fwd_len != lr->fwd_len ||
	    (lr->fwd_len && memcmp(o->vkey, lr->fwd_key, lr->fwd_len) != 0))
		return VARY_NO;
	if (!o->vary)
		return VARY_EXACT;
	return vary_match(o->vary, o->vary_len, o->vkey + o->fwd_len, o->vkey_len - o->fwd_len,
			  o->hdrs, o->hdrs_len, lr->req);
}

enum vary_match store_variant_match(const struct cobj *o, const struct lookup_req *lr)
{
	return vary_matches(o, lr);
}

int store_lookup(struct store *st, const struct lookup_req *lr, struct lookup_res *res)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	memset(res, 0, sizeof(*res));
	uint64_t h = XXH3_64bits(lr->key, lr->key_len);
	struct shard *sh = shard_of(st, h);
	const char *host = lr->key, *url = lr->key + lr->host_len + 1;
	size_t url_len = lr->key_len - lr->host_len - 1;
	struct droplist drops = {.n = 0};
	for (;;) {
		pthread_mutex_lock(&sh->lock);
		struct coh *oh = coh_find(sh, h, lr->key, lr->key_len);
		if (!oh) {
			oh = calloc(1, sizeof(*oh) + lr->key_len);
			if (!oh) {
				pthread_mutex_unlock(&sh->lock);
				res->kind = LOOKUP_PASS;
				return 0;
			}
			oh->magic = COH_MAGIC;
			oh->hash = h;
			oh->key_len = lr->key_len;
			oh->host_len = lr->host_len;
			memcpy(oh->key, lr->key, lr->key_len);
			struct coh **b = bucket_of(sh, h);
			oh->hnext = *b;
			*b = oh;
			/* Heads kept only for an expired hit-for-miss mark would
			 * pile up for keys never asked for again: sweep one
			 * bucket per new head, so the cost is spread thin. */
			sweep_bucket(sh, sh->sweep++ % SHARD_BUCKETS, lr->now, oh);
		}
		if (oh->hfm_until > lr->now) {
			pthread_mutex_unlock(&sh->lock);
			res->kind = LOOKUP_PASS;
			return 0;
		}
		struct cobj *best = NULL;
		enum vary_match best_m = VARY_NO; /* an exact match beats a selection */
		for (struct cobj *o = oh->variants, *next; o; o = next) {
			next = o->vnext;
			if (ban_check(st->bans, &o->ban_seq, host, lr->host_len, url, url_len)) {
				atomic_store(&o->retired, true);
				if (unlink_locked(st, o))
					drop_add(&drops, o);
				atomic_fetch_add(&st->stats.banned, 1);
				continue;
			}
			/* An expired near-cache copy is no candidate (its owner
			 * revalidates, this node forwards): it goes, and gives
			 * its room in the near share back. */
			if (o->near && o->lifetime <= policy_age(&o->meta, lr->now)) {
				if (unlink_locked(st, o))
					drop_add(&drops, o);
				continue;
			}
			if (best_m != VARY_EXACT) {
				enum vary_match m = vary_matches(o, lr);
				if (m > best_m) {
					best = o;
					best_m = m;
				}
			}
		}
		if (best) {
			bool soft = atomic_load(&best->soft_stale);
			res->use =
			    policy_usable(lr->rq, &best->meta, best->lifetime, soft, lr->now);
			/* Parts answer only what they hold, and only while fresh:
			 * anything else fetches (and may complete them). */
			if (best->partial &&
			    (res->use != USE_FRESH || !lr->fits || !lr->fits(best, lr->fits_arg)))
				res->use = USE_REVALIDATE;
			if (res->use != USE_REVALIDATE) {
				cobj_retain(best);
				evict_touch(&best->ev);
				res->obj = best;
				res->kind = LOOKUP_HIT;
				if (res->use == USE_STALE_REVALIDATE && !oh->busy) {
					oh->busy = true;
					oh->refs++;
					res->oh = oh;
					res->fetch = true;
				}
				pthread_mutex_unlock(&sh->lock);
				drop_all(&drops);
				return 0;
			}
		}
		if (!oh->busy) {
			oh->busy = true;
			oh->refs++;
			res->oh = oh;
			res->kind = LOOKUP_MISS;
			if (best) {
				cobj_retain(best);
				res->obj = best; /* the stale candidate to revalidate */
			}
			pthread_mutex_unlock(&sh->lock);
			drop_all(&drops);
			return 0;
		}
		/* Someone is fetching this key: wait for it, then look again. */
		oh->refs++;
		struct cwaiter w;
		int r = wait_on(&sh->lock, &oh->waiters, &w, lr->wait_deadline);
		drop_all(&drops);
		coh_unref(st, oh);
		res->collapsed = true;
		if (r == -ECANCELED)
			return r;
		if (r < 0) {
			res->kind = LOOKUP_PASS; /* waited long enough: go alone */
			res->wait_timed_out = true;
			return 0;
		}
	}
}

static void evict_some(struct store *st)
{
	struct evict_node *n;
	while ((n = evict_next_victim(&st->ev, 0))) {
		struct cobj *o = container_of(n, struct cobj, ev);
		struct shard *sh = shard_of(st, o->oh->hash);
		pthread_mutex_lock(&sh->lock);
		if (o->linked) {
			for (struct cobj **pp = &o->oh->variants; *pp; pp = &(*pp)->vnext) {
				if (*pp == o) {
					*pp = o->vnext;
					break;
				}
			}
			o->linked = false;
			o->vnext = NULL;
		}
		pthread_mutex_unlock(&sh->lock);
		atomic_fetch_add(&st->stats.evictions, 1);
		cobj_release(&o); /* the table's reference, ours since the evictor took it */
	}
}

void store_set_budget(struct store *st, uint64_t budget)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	pthread_mutex_lock(&st->ev.lock);
	st->ev.budget = budget;
	pthread_mutex_unlock(&st->ev.lock);
	atomic_store_explicit(&st->near_budget, budget / STORE_NEAR_SHARE, memory_order_relaxed);
	evict_some(st); /* a smaller budget takes effect now, not at the next store */
}

uint64_t store_budget(struct store *st)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	pthread_mutex_lock(&st->ev.lock);
	uint64_t b = st->ev.budget;
	pthread_mutex_unlock(&st->ev.lock);
	return b;
}

/* Bytes an object costs: its record, its head strings, its key's head and
 * its body's chunks (BODY: allocated bytes), with allocator overhead. */
static uint64_t obj_size(const struct cobj *o, uint64_t body)
{
	uint64_t key = o->oh ? sizeof(struct coh) + o->oh->key_len : 0;
	return sizeof(*o) + o->hdrs_len + o->vkey_len + o->vary_len + key + 5 * 16 + body;
}

static void store_retire(struct store *st, struct cobj *o);

/* store_publish, or with P a promotion from disk (store_publish_promoted):
 * false when P's epoch moved or a ban newer than P's sequence matches O
 * (nothing published, OH still the caller's). */
static bool publish(struct store *st, struct coh *oh, struct cobj *o, const struct store_promo *p)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	struct shard *sh = shard_of(st, oh->hash);
	struct droplist drops = {.n = 0};
	/* The body and any coded copies a 304's clone shares (before the
	 * shard lock: lock order is shard -> enc -> body elsewhere). */
	uint64_t body = cobj_alloc(o);
	pthread_mutex_lock(&sh->lock);
	if (p) {
		/* Tested under the shard lock, as a lookup tests bans: a ban
		 * made during the read matches here; one made after this is
		 * newer than the mark ban_check leaves. A purge bumps the
		 * epoch before it takes this lock. */
		const char *host = oh->key, *url = oh->key + oh->host_len + 1;
		size_t url_len = oh->key_len - oh->host_len - 1;
		o->ban_seq = p->ban_seq;
		if (atomic_load(&st->inval_epoch) != p->epoch || atomic_load(&st->inval_active) ||
		    ban_check(st->bans, &o->ban_seq, host, oh->host_len, url, url_len)) {
			atomic_store(&o->retired, true);
			pthread_mutex_unlock(&sh->lock);
			return false;
		}
	} else {
		/* Read under the shard lock: an object linked after the ban
		 * lurker walked its bucket then carries a sequence at least as
		 * new as the lurker's pass (store_lurk relies on it to drop
		 * bans). */
		o->ban_seq = ban_seq(st->bans);
	}
	o->oh = oh;	/* the caller's reference to OH is now O's */
	cobj_retain(o); /* the table's reference */
	for (struct cobj *v = oh->variants, *next; v; v = next) {
		next = v->vnext;
		if (v->vkey_len == o->vkey_len && v->fwd_len == o->fwd_len &&
		    (o->vkey_len == 0 || memcmp(v->vkey, o->vkey, o->vkey_len) == 0)) {
			atomic_store(&v->retired, true); /* the newer one goes to disk */
			if (unlink_locked(st, v))
				drop_add(&drops, v);
		}
	}
	o->vnext = oh->variants;
	oh->variants = o;
	o->linked = true;
	oh->busy = false;
	oh->hfm_until = 0;
	o->ev.size = obj_size(o, body);
	o->ev.key_hash = oh->hash;
	evict_insert(&st->ev, &o->ev);
	struct cwaiter *w = detach_waiters(&oh->waiters);
	pthread_mutex_unlock(&sh->lock);
	atomic_fetch_add(&st->stats.objects, 1);
	if (o->tags && tag_index_add(st->tags, o, o->tags, o->tags_len, o->tags_space_sep) > 0)
		o->tagged = true;
	/* A tag purge that collected before O was in the tag index bumped the
	 * epoch after the test above: O goes again (a refetch, not a stale
	 * object back). */
	if (p && atomic_load(&st->inval_epoch) != p->epoch) {
		store_retire(st, o);
		store_unlink(st, o);
	}
	wake_all(w);
	drop_all(&drops);
	if (!p) /* a promotion's caller evicts once it has looked O up */
		evict_some(st);
	return true;
}

void store_publish(struct store *st, struct coh *oh, struct cobj *o)
{
	publish(st, oh, o, NULL);
}

void store_promoted(struct store *st, struct cobj *o, bool hot)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	/* The lookup that found it counted a hit: a cold one is put back
	 * to none, so it leaves with the one-hit objects. */
	atomic_store_explicit(&o->ev.freq, hot ? 1 : 0, memory_order_relaxed);
	evict_some(st);
}

void store_inval_begin(struct store *st)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	atomic_fetch_add(&st->inval_active, 1);
	atomic_fetch_add(&st->inval_epoch, 1);
}

void store_inval_end(struct store *st)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	atomic_fetch_add(&st->inval_epoch, 1);
	atomic_fetch_sub(&st->inval_active, 1);
}

void store_promo_begin(struct store *st, struct store_promo *p)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	p->epoch = atomic_load(&st->inval_epoch);
	p->ban_seq = ban_seq(st->bans);
}

bool store_publish_promoted(struct store *st, struct coh *oh, struct cobj *o,
			    const struct store_promo *p)
{
	return publish(st, oh, o, p);
}

void store_fetch_abort(struct store *st, struct coh *oh, int64_t hfm_until)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	struct shard *sh = shard_of(st, oh->hash);
	pthread_mutex_lock(&sh->lock);
	oh->busy = false;
	if (hfm_until > 0) {
		oh->hfm_until = hfm_until;
		atomic_fetch_add(&st->stats.hfm_set, 1);
	}
	struct cwaiter *w = detach_waiters(&oh->waiters);
	pthread_mutex_unlock(&sh->lock);
	wake_all(w);
	coh_unref(st, oh);
}

void store_unlink(struct store *st, struct cobj *o)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	if (!o->oh)
		return;
	struct shard *sh = shard_of(st, o->oh->hash);
	pthread_mutex_lock(&sh->lock);
	bool drop = unlink_locked(st, o);
	pthread_mutex_unlock(&sh->lock);
	if (drop)
		cobj_release(&o);
}

void store_account(struct store *st, struct cobj *o, uint64_t body)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	/* Queued or, once it left the cache while it streams in, held: its
	 * growth counts against the budget either way. */
	evict_resize(&st->ev, &o->ev, obj_size(o, body));
	evict_some(st);
}

/* O is no longer current (struct cobj's retired), under its shard lock. */
static void store_retire(struct store *st, struct cobj *o)
{
	if (!o->oh) {
		atomic_store(&o->retired, true);
		return;
	}
	struct shard *sh = shard_of(st, o->oh->hash);
	pthread_mutex_lock(&sh->lock);
	atomic_store(&o->retired, true);
	pthread_mutex_unlock(&sh->lock);
}

bool store_obj_current(struct cobj *o)
{
	CHECK_OBJ_NOTNULL(o, COBJ_MAGIC);
	struct store *st = o->st;
	const struct coh *oh = o->oh;
	if (!oh)
		return !atomic_load(&o->retired);
	struct shard *sh = shard_of(st, oh->hash);
	pthread_mutex_lock(&sh->lock);
	bool retired = atomic_load(&o->retired);
	uint64_t mark = o->ban_seq;
	pthread_mutex_unlock(&sh->lock);
	if (retired)
		return false;
	const char *host = oh->key, *url = oh->key + oh->host_len + 1;
	size_t url_len = oh->key_len - oh->host_len - 1;
	if (!ban_check(st->bans, &mark, host, oh->host_len, url, url_len))
		return true;
	store_retire(st, o);
	return false;
}

size_t store_purge_key(struct store *st, const char *key, uint32_t key_len)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	uint64_t h = XXH3_64bits(key, key_len);
	struct shard *sh = shard_of(st, h);
	struct droplist drops = {.n = 0};
	size_t n = 0;
	atomic_fetch_add(&st->inval_epoch, 1);
	pthread_mutex_lock(&sh->lock);
	struct coh *oh = coh_find(sh, h, key, key_len);
	if (oh) {
		while (oh->variants) {
			struct cobj *o = oh->variants;
			atomic_store(&o->retired, true);
			if (unlink_locked(st, o))
				drop_add(&drops, o);
			n++;
		}
		oh->hfm_until = 0;
	}
	pthread_mutex_unlock(&sh->lock);
	drop_all(&drops);
	atomic_fetch_add(&st->stats.purged, n);
	return n;
}

int64_t store_ban(struct store *st, const char *url_re, const char *host_re, char *err,
		  size_t errlen)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	return ban_add(st->bans, url_re, host_re, err, errlen);
}

struct collect {
	struct cobj **v;
	size_t n, cap;
};

static void collect_obj(void *obj, void *arg)
{
	struct collect *c = arg;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct cobj **v = realloc(c->v, cap * sizeof(*v));
		if (!v)
			return;
		c->v = v;
		c->cap = cap;
	}
	struct cobj *o = obj;
	cobj_retain(o);
	c->v[c->n++] = o;
}

size_t store_purge_tag(struct store *st, const char *tag, size_t len, bool soft)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	struct collect c = {0};
	atomic_fetch_add(&st->inval_epoch, 1);
	tag_index_collect(st->tags, tag, len, collect_obj, &c);
	atomic_fetch_add(&st->inval_epoch, 1); /* after too: publish's second test */
	for (size_t i = 0; i < c.n; i++) {
		store_retire(st, c.v[i]);
		if (soft)
			atomic_store(&c.v[i]->soft_stale, true);
		else
			store_unlink(st, c.v[i]);
		cobj_release(&c.v[i]);
	}
	free(c.v);
	atomic_fetch_add(&st->stats.purged, c.n);
	return c.n;
}

/* ---- the ban lurker ---------------------------------------------------- */

/* Room for N references in the lurker's array (kept between steps). */
static bool lurk_room(struct lurk *l, size_t n)
{
	if (n <= l->cap)
		return true;
	size_t cap = l->cap ? l->cap : 64;
	while (cap < n)
		cap *= 2;
	struct cobj **v = realloc(l->took, cap * sizeof(*v));
	if (!v)
		return false;
	l->took = v;
	l->cap = cap;
	return true;
}

/* Take a reference to every object of bucket B of SH into L->took from
 * index N; shard lock held. Returns the new count, or SIZE_MAX when out
 * of memory (nothing taken: the bucket is walked again next step). */
static size_t lurk_take_bucket(struct lurk *l, struct shard *sh, uint32_t b, size_t n)
{
	size_t k = 0;
	for (struct coh *oh = sh->buckets[b]; oh; oh = oh->hnext)
		for (struct cobj *o = oh->variants; o; o = o->vnext)
			k++;
	if (!k)
		return n;
	if (!lurk_room(l, n + k))
		return SIZE_MAX;
	for (struct coh *oh = sh->buckets[b]; oh; oh = oh->hnext) {
		for (struct cobj *o = oh->variants; o; o = o->vnext) {
			cobj_retain(o);
			l->took[n++] = o;
		}
	}
	return n;
}

/* Test O (a reference) against the bans newer than its mark; unlink it
 * when one matches. Returns true when this call took it out. */
static bool lurk_test(struct store *st, struct cobj *o)
{
	const struct coh *oh = o->oh;
	const char *host = oh->key, *url = oh->key + oh->host_len + 1;
	size_t url_len = oh->key_len - oh->host_len - 1;
	if (!ban_check(st->bans, &o->ban_seq, host, oh->host_len, url, url_len))
		return false;
	struct shard *sh = shard_of(st, oh->hash);
	pthread_mutex_lock(&sh->lock);
	atomic_store(&o->retired, true);
	bool was = o->linked; /* not if a lookup or a publish took it out meanwhile */
	bool drop = unlink_locked(st, o);
	pthread_mutex_unlock(&sh->lock);
	if (drop)
		cobj_release(&o); /* the table's reference; the caller keeps its own */
	return was;
}

void store_lurk(struct store *st, uint32_t max_objects, struct lurk_step *out)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	assert(max_objects > 0);
	memset(out, 0, sizeof(*out));
	struct lurk *l = &st->lurk;
	pthread_mutex_lock(&l->lock);
	if (ban_count(st->bans) == 0) {
		/* A pass begun before the last ban went is worth nothing now. */
		l->in_pass = false;
		out->idle = true;
		pthread_mutex_unlock(&l->lock);
		return;
	}
	if (!l->in_pass) {
		l->in_pass = true;
		l->shard = l->bucket = 0;
		l->pass_seq = ban_seq(st->bans);
	}
	/* Take references under each shard's lock (pointer walks only), and
	 * match with no shard lock held: a pattern may be slow. */
	size_t n = 0;
	uint32_t walked = 0;
	bool oom = false;
	while (!oom && l->shard < NSHARDS && n < max_objects && walked < LURK_STEP_BUCKETS) {
		struct shard *sh = &st->shards[l->shard];
		pthread_mutex_lock(&sh->lock);
		while (l->bucket < SHARD_BUCKETS && n < max_objects && walked < LURK_STEP_BUCKETS) {
			size_t k = lurk_take_bucket(l, sh, l->bucket, n);
			if (k == SIZE_MAX) {
				oom = true; /* this bucket again next step */
				break;
			}
			n = k;
			l->bucket++;
			walked++;
		}
		pthread_mutex_unlock(&sh->lock);
		if (l->bucket == SHARD_BUCKETS) {
			l->shard++;
			l->bucket = 0;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (lurk_test(st, l->took[i]))
			out->removed++;
		cobj_release(&l->took[i]);
	}
	out->tested = (uint32_t)n;
	if (l->shard == NSHARDS) {
		/* Every object linked before its bucket was walked has been
		 * tested past pass_seq (or removed); every one linked after
		 * read a sequence at least that new under its shard lock. */
		out->dropped = (uint32_t)ban_prune(st->bans, l->pass_seq);
		out->pass_done = true;
		l->in_pass = false;
	}
	pthread_mutex_unlock(&l->lock);
	atomic_fetch_add(&st->stats.lurk_tested, out->tested);
	atomic_fetch_add(&st->stats.lurk_removed, out->removed);
	atomic_fetch_add(&st->stats.banned, out->removed);
	atomic_fetch_add(&st->stats.bans_dropped, out->dropped);
}

size_t store_ban_count(struct store *st)
{
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	return ban_count(st->bans);
}

void store_free(struct store **sp)
{
	struct store *st = *sp;
	if (!st)
		return;
	*sp = NULL;
	CHECK_OBJ_NOTNULL(st, STORE_MAGIC);
	for (int i = 0; i < NSHARDS; i++) {
		struct shard *sh = &st->shards[i];
		for (int b = 0; b < SHARD_BUCKETS; b++) {
			while (sh->buckets[b]) {
				struct coh *oh = sh->buckets[b];
				struct droplist drops = {.n = 0};
				pthread_mutex_lock(&sh->lock);
				oh->refs++; /* keep it while its variants go */
				while (oh->variants) {
					struct cobj *o = oh->variants;
					if (unlink_locked(st, o))
						drop_add(&drops, o);
					if (drops.n == 16) {
						pthread_mutex_unlock(&sh->lock);
						drop_all(&drops);
						pthread_mutex_lock(&sh->lock);
					}
				}
				pthread_mutex_unlock(&sh->lock);
				drop_all(&drops);
				coh_unref(st, oh);
				if (sh->buckets[b] == oh) {
					/* still referenced by someone: nothing should be at exit */
					sh->buckets[b] = oh->hnext;
				}
			}
		}
		pthread_mutex_destroy(&sh->lock);
	}
	evict_destroy(&st->ev);
	free(st->lurk.took);
	pthread_mutex_destroy(&st->lurk.lock);
	pthread_mutex_destroy(&st->near_lock);
	ban_list_free(&st->bans);
	tag_index_free(&st->tags);
	FINI_OBJ(st);
	free(st);
}
