/*
 * rlog.c - per-loop record rings: seqlocked slots, readers with their own
 * cursors, loss counted instead of waited for.
 */
#include "ops/rlog.h"
#include "rt/obj.h"

#include <assert.h>
#include <stddef.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define RLOG_HUB_MAGIC 0x524c4855u
#define RLOG_SUB_MAGIC 0x524c5355u

/* SEQ: 2 * (record sequence + 1) once the slot holds that record; odd
 * while the writer fills it. */
struct rlog_slot {
	_Atomic uint64_t seq;
	struct rlog_rec rec;
};

static size_t ring_bytes(void)
{
	return (size_t)RLOG_SLOTS * sizeof(struct rlog_slot);
}

struct rlog_hub *rlog_hub_create(unsigned nloops)
{
	assert(nloops > 0 && nloops <= UINT16_MAX);
	struct rlog_hub *h = calloc(1, sizeof(*h) + (size_t)nloops * sizeof(struct rlog_ring));
	if (!h)
		return NULL;
	h->magic = RLOG_HUB_MAGIC;
	h->nloops = nloops;
	for (unsigned i = 0; i < nloops; i++) {
		struct rlog_ring *r = &h->rings[i];
		/* Reserved, not committed: a daemon nobody watches never
		 * touches these pages. */
		void *p = mmap(NULL, ring_bytes(), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED) {
			rlog_hub_free(&h);
			return NULL;
		}
		r->slots = p;
		r->subs = &h->subs;
		r->active = &h->active;
		r->hub = h;
		r->loop = (uint16_t)i;
	}
	return h;
}

void rlog_hub_free(struct rlog_hub **hp)
{
	struct rlog_hub *h = *hp;
	if (!h)
		return;
	*hp = NULL;
	CHECK_OBJ_NOTNULL(h, RLOG_HUB_MAGIC);
	assert(atomic_load(&h->subs) == 0);
	for (unsigned i = 0; i < h->nloops; i++) {
		if (h->rings[i].slots)
			munmap(h->rings[i].slots, ring_bytes());
	}
	FINI_OBJ(h);
	free(h);
}

struct rlog_ring *rlog_hub_ring(struct rlog_hub *h, unsigned loop)
{
	CHECK_OBJ_NOTNULL(h, RLOG_HUB_MAGIC);
	assert(loop < h->nloops);
	return &h->rings[loop];
}

static int64_t wall_offset(void)
{
	struct timespec w, m;
	clock_gettime(CLOCK_REALTIME, &w);
	clock_gettime(CLOCK_MONOTONIC, &m);
	return ((int64_t)w.tv_sec - m.tv_sec) * 1000000000 + (w.tv_nsec - m.tv_nsec);
}

struct rlog_rec *rlog_begin(struct rlog_ring *r)
{
	assert(!r->open);
	uint64_t seq = atomic_load_explicit(&r->head, memory_order_relaxed);
	/* Again every 4,096 records written (and at the first), so that a
	 * step of the wall clock shows within a few thousand. */
	if (r->since_wall++ % 4096 == 0 || !r->wall_off) /* counted: skips jump seq */
		r->wall_off = wall_offset();
	struct rlog_slot *s = &r->slots[seq & (RLOG_SLOTS - 1)];
	atomic_store_explicit(&s->seq, 2 * seq + 1, memory_order_relaxed);
	/* Readers that see the odd value skip the slot; the fence keeps the
	 * record's stores after it. */
	atomic_thread_fence(memory_order_release);
	struct rlog_rec *rec = &s->rec;
	/* Only what every record sets or tests: strings are filled or left
	 * empty by their first byte, not by clearing 2 KiB. */
	memset(rec, 0, offsetof(struct rlog_rec, verdict));
	rec->ttfb_ns = rec->be_total_ns = rec->be_connect_ns = rec->be_ttfb_ns = -1;
	rec->be_reused = -1;
	rec->loop = r->loop;
	rec->verdict[0] = rec->client[0] = rec->method[0] = rec->host[0] = '\0';
	rec->target[0] = rec->cache_status[0] = rec->backend[0] = rec->server[0] = '\0';
	rec->route[0] = rec->reason[0] = '\0';
	rec->hdr_gen = atomic_load_explicit(&r->hub->names_seq, memory_order_acquire);
	/* With no names in use no reader looks at the values (a reader that
	 * takes names later starts a newer generation than this record's). */
	if (rlog_hdrs_wanted(r)) {
		for (unsigned i = 0; i < RLOG_HDRS; i++)
			rec->hdr[i][0] = '\0';
	}
	r->pending = seq;
	r->open = true;
	return rec;
}

const char *rlog_hdr_name(const struct rlog_ring *r, unsigned i)
{
	/* A name being changed reads as torn text at worst (byte 31 is never
	 * written, so it ends): rlog_commit then drops the values. */
	if (r->hub->name_refs[i] == 0)
		return NULL;
	return r->hub->names[i][0] ? r->hub->names[i] : NULL;
}

void rlog_commit(struct rlog_ring *r)
{
	assert(r->open);
	uint64_t seq = r->pending;
	struct rlog_slot *s = &r->slots[seq & (RLOG_SLOTS - 1)];
	atomic_thread_fence(memory_order_acquire);
	uint32_t now_gen = atomic_load_explicit(&r->hub->names_seq, memory_order_relaxed);
	if ((s->rec.hdr_gen & 1) || now_gen != s->rec.hdr_gen) {
		/* The names changed while the values were looked up. */
		for (unsigned i = 0; i < RLOG_HDRS; i++)
			s->rec.hdr[i][0] = '\0';
		s->rec.hdr_gen = 0;
	}
	atomic_store_explicit(&s->seq, 2 * (seq + 1), memory_order_release);
	atomic_store_explicit(&r->head, seq + 1, memory_order_release);
	r->open = false;
}

/* ------------------------------------------------------------------------ */
/* Readers                                                                   */

static bool name_ok(const char *n)
{
	size_t len = strlen(n);
	size_t i = n[0] == RLOG_RESP_MARK; /* a response header's */
	if (len == i || len >= RLOG_HDR_NAME)
		return false;
	for (; i < len; i++) {
		char c = n[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.'))
			return false;
	}
	return true;
}

/* The slot holding NAME, or a free one (-1: none left). */
static int name_slot(const struct rlog_hub *h, const char *name)
{
	int free_slot = -1;
	for (int i = 0; i < RLOG_HDRS; i++) {
		if (h->name_refs[i] && strcmp(h->names[i], name) == 0)
			return i;
		if (!h->name_refs[i] && free_slot < 0)
			free_slot = i;
	}
	return free_slot;
}

int rlog_subscribe(struct rlog_hub *h, const char *const *names, unsigned n, struct rlog_sub **subp)
{
	CHECK_OBJ_NOTNULL(h, RLOG_HUB_MAGIC);
	if (n > RLOG_HDRS)
		return -ENOSPC;
	for (unsigned i = 0; i < n; i++) {
		if (!name_ok(names[i]))
			return -EINVAL;
	}
	int free_at = -1;
	for (int i = 0; i < RLOG_MAX_SUBS; i++) {
		if (!h->list[i]) {
			free_at = i;
			break;
		}
	}
	if (free_at < 0)
		return -EBUSY;
	/* Enough slots for the names not yet held, counted before any is
	 * taken, so a refusal changes nothing. */
	unsigned fresh = 0, used = 0;
	for (unsigned k = 0; k < RLOG_HDRS; k++)
		used += h->name_refs[k] != 0;
	for (unsigned i = 0; i < n; i++) {
		bool held = false, dup = false;
		for (unsigned k = 0; k < RLOG_HDRS; k++)
			held |= h->name_refs[k] && strcmp(h->names[k], names[i]) == 0;
		for (unsigned j = 0; j < i; j++)
			dup |= strcmp(names[j], names[i]) == 0;
		fresh += !held && !dup;
	}
	if (used + fresh > RLOG_HDRS)
		return -ENOSPC;
	struct rlog_sub *s = calloc(1, sizeof(*s) + (size_t)h->nloops * sizeof(uint64_t));
	if (!s)
		return -ENOMEM;
	s->magic = RLOG_SUB_MAGIC;
	s->hub = h;
	s->peek_loop = -1;
	bool changed = false;
	for (unsigned i = 0; i < n; i++) {
		int k = name_slot(h, names[i]);
		assert(k >= 0);
		if (!h->name_refs[k]) {
			if (!changed) {
				atomic_fetch_add_explicit(&h->names_seq, 1, memory_order_relaxed);
				atomic_thread_fence(memory_order_release);
				changed = true;
			}
			memset(h->names[k], 0, RLOG_HDR_NAME);
			memcpy(h->names[k], names[i], strlen(names[i]));
		}
		if (h->name_refs[k]++ == 0) {
			atomic_fetch_add_explicit(&h->names_used, 1, memory_order_relaxed);
			if (names[i][0] == RLOG_RESP_MARK)
				atomic_fetch_add_explicit(&h->resp_used, 1, memory_order_relaxed);
		}
		s->slot[i] = (int8_t)k;
	}
	s->nhdr = n;
	if (changed)
		atomic_fetch_add_explicit(&h->names_seq, 1, memory_order_release);
	s->hdr_gen = atomic_load_explicit(&h->names_seq, memory_order_relaxed);
	for (unsigned l = 0; l < h->nloops; l++)
		s->cursor[l] = atomic_load_explicit(&h->rings[l].head, memory_order_acquire);
	h->list[free_at] = s;
	atomic_fetch_add_explicit(&h->active, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->subs, 1, memory_order_relaxed);
	*subp = s;
	return 0;
}

void rlog_unsubscribe(struct rlog_sub **sp)
{
	struct rlog_sub *s = *sp;
	if (!s)
		return;
	*sp = NULL;
	CHECK_OBJ_NOTNULL(s, RLOG_SUB_MAGIC);
	struct rlog_hub *h = s->hub;
	for (unsigned i = 0; i < s->nhdr; i++) {
		unsigned k = (unsigned)s->slot[i];
		assert(h->name_refs[k] > 0);
		if (--h->name_refs[k] == 0) { /* the name stays until its slot is reused */
			atomic_fetch_sub_explicit(&h->names_used, 1, memory_order_relaxed);
			if (h->names[k][0] == RLOG_RESP_MARK)
				atomic_fetch_sub_explicit(&h->resp_used, 1, memory_order_relaxed);
		}
	}
	for (int i = 0; i < RLOG_MAX_SUBS; i++) {
		if (h->list[i] == s)
			h->list[i] = NULL;
	}
	if (!s->paused)
		atomic_fetch_sub_explicit(&h->active, 1, memory_order_relaxed);
	atomic_fetch_sub_explicit(&h->subs, 1, memory_order_relaxed);
	FINI_OBJ(s);
	free(s);
}

/* One record of ring R at S's cursor L: 1 copied, 0 nothing new. */
static int read_ring(struct rlog_sub *s, unsigned l, struct rlog_rec *out)
{
	struct rlog_ring *r = &s->hub->rings[l];
	for (;;) {
		uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
		uint64_t c = s->cursor[l];
		if (c >= head)
			return 0;
		if (head - c > RLOG_SLOTS) {
			/* Lapped: what was there has been overwritten. */
			s->lost += head - c - RLOG_SLOTS;
			s->cursor[l] = c = head - RLOG_SLOTS;
		}
		struct rlog_slot *sl = &r->slots[c & (RLOG_SLOTS - 1)];
		uint64_t want = 2 * (c + 1);
		uint64_t s1 = atomic_load_explicit(&sl->seq, memory_order_acquire);
		if (s1 == want) {
			/* Header values (a third of a record) only for a reader
			 * that asked for some. */
			memcpy(out, &sl->rec,
			       s->nhdr ? sizeof(*out) : offsetof(struct rlog_rec, hdr));
			atomic_thread_fence(memory_order_acquire);
			if (atomic_load_explicit(&sl->seq, memory_order_relaxed) == want) {
				s->cursor[l] = c + 1;
				return 1;
			}
		}
		/* The writer came round to this slot again while we looked. */
		s->lost++;
		s->cursor[l] = c + 1;
	}
}

int rlog_read(struct rlog_sub *s, struct rlog_rec *out)
{
	CHECK_OBJ_NOTNULL(s, RLOG_SUB_MAGIC);
	unsigned n = s->hub->nloops;
	for (unsigned k = 0; k < n; k++) {
		unsigned l = (s->next_loop + k) % n;
		if (read_ring(s, l, out)) {
			s->next_loop = (l + 1) % n;
			return 1;
		}
	}
	return 0;
}

/* Ring L's record at S's cursor, in place, or NULL (nothing new). Skips
 * what has been overwritten or is being written, counting it lost. */
static const struct rlog_rec *peek_ring(struct rlog_sub *s, unsigned l)
{
	struct rlog_ring *r = &s->hub->rings[l];
	for (;;) {
		uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
		uint64_t c = s->cursor[l];
		if (c >= head)
			return NULL;
		if (head - c > RLOG_SLOTS) {
			s->lost += head - c - RLOG_SLOTS;
			s->cursor[l] = c = head - RLOG_SLOTS;
		}
		struct rlog_slot *sl = &r->slots[c & (RLOG_SLOTS - 1)];
		if (atomic_load_explicit(&sl->seq, memory_order_acquire) == 2 * (c + 1))
			return &sl->rec;
		s->lost++;
		s->cursor[l] = c + 1;
	}
}

const struct rlog_rec *rlog_peek(struct rlog_sub *s)
{
	CHECK_OBJ_NOTNULL(s, RLOG_SUB_MAGIC);
	assert(s->peek_loop < 0);
	unsigned n = s->hub->nloops;
	for (unsigned k = 0; k < n; k++) {
		unsigned l = (s->next_loop + k) % n;
		const struct rlog_rec *rec = peek_ring(s, l);
		if (rec) {
			s->peek_loop = (int)l;
			s->next_loop = (l + 1) % n;
			return rec;
		}
	}
	return NULL;
}

bool rlog_peek_done(struct rlog_sub *s)
{
	CHECK_OBJ_NOTNULL(s, RLOG_SUB_MAGIC);
	assert(s->peek_loop >= 0);
	unsigned l = (unsigned)s->peek_loop;
	s->peek_loop = -1;
	uint64_t c = s->cursor[l]++;
	const struct rlog_slot *sl = &s->hub->rings[l].slots[c & (RLOG_SLOTS - 1)];
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&sl->seq, memory_order_relaxed) == 2 * (c + 1))
		return true;
	s->lost++; /* the writer came round to it while it was read */
	return false;
}

void rlog_pause(struct rlog_sub *s)
{
	CHECK_OBJ_NOTNULL(s, RLOG_SUB_MAGIC);
	if (s->paused)
		return;
	s->paused = true;
	atomic_fetch_sub_explicit(&s->hub->active, 1, memory_order_relaxed);
}

void rlog_resume(struct rlog_sub *s)
{
	CHECK_OBJ_NOTNULL(s, RLOG_SUB_MAGIC);
	if (!s->paused)
		return;
	s->paused = false;
	atomic_fetch_add_explicit(&s->hub->active, 1, memory_order_relaxed);
}

bool rlog_lapped(const struct rlog_sub *s)
{
	CHECK_OBJ_NOTNULL(s, RLOG_SUB_MAGIC);
	for (unsigned l = 0; l < s->hub->nloops; l++) {
		uint64_t head = atomic_load_explicit(&s->hub->rings[l].head, memory_order_acquire);
		if (head - s->cursor[l] >= RLOG_SLOTS)
			return true;
	}
	return false;
}

const char *rlog_sub_hdr(const struct rlog_sub *s, const struct rlog_rec *rec, unsigned i)
{
	if (i >= s->nhdr || rec->hdr_gen < s->hdr_gen)
		return NULL;
	const char *v = rec->hdr[(unsigned)s->slot[i]];
	return v[0] ? v : NULL;
}
