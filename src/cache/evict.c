/*
 * evict.c - S3-FIFO eviction: a small FIFO, a main FIFO and a ghost FIFO
 * of evicted key hashes (see evict.h for the policy and the locking).
 *
 * The ghost queue is a ring of hashes (oldest is overwritten first) plus
 * an open-addressing set for O(1) membership. A set slot holds the ring
 * index + 1 of the hash (0 = empty), not the hash itself: the hash is read
 * back from the ring. This lets the set tell which ring slot a hash is
 * live in, so a hash that was hit (and dropped from the set) or evicted a
 * second time (and moved to a newer ring slot) is not wrongly removed when
 * its old ring slot is overwritten.
 */
#include "cache/evict.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define GHOST_DEFAULT_MIN 1024u
#define GHOST_DEFAULT_MAX (1u << 20)
/* Keeps ghost_set_cap (2 * cap rounded up to a power of two) in a uint32_t. */
#define GHOST_HARD_MAX (1u << 29)

static uint32_t ghost_slot(const struct evict *e, uint64_t h)
{
	/* Fibonacci hashing: the top bits are well mixed even if the caller's
	 * key hash is weak in its low bits. */
	unsigned bits = (unsigned)__builtin_ctz(e->ghost_set_cap);
	return (uint32_t)((h * 0x9E3779B97F4A7C15ull) >> (64 - bits));
}

/* Index in ghost_set of H, or UINT32_MAX when H is not remembered. */
static uint32_t ghost_find(const struct evict *e, uint64_t h)
{
	uint32_t mask = e->ghost_set_cap - 1;
	for (uint32_t i = ghost_slot(e, h);; i = (i + 1) & mask) {
		uint64_t v = e->ghost_set[i];
		if (v == 0)
			return UINT32_MAX;
		if (e->ghost_ring[v - 1] == h)
			return i;
	}
}

/* Backward-shift deletion: no tombstones, so probe sequences stay short
 * however long the cache runs. */
static void ghost_set_delete(struct evict *e, uint32_t i)
{
	uint32_t mask = e->ghost_set_cap - 1;
	uint32_t j = i;
	for (;;) {
		j = (j + 1) & mask;
		uint64_t v = e->ghost_set[j];
		if (v == 0)
			break;
		uint32_t home = ghost_slot(e, e->ghost_ring[v - 1]);
		/* Move J back to I unless its home lies cyclically in (I, J]. */
		bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
		if (!stays) {
			e->ghost_set[i] = v;
			i = j;
		}
	}
	e->ghost_set[i] = 0;
}

static void ghost_add(struct evict *e, uint64_t h)
{
	if (e->ghost_cap == 0)
		return;
	uint32_t pos;
	if (e->ghost_len < e->ghost_cap) {
		pos = (e->ghost_head + e->ghost_len) % e->ghost_cap;
		e->ghost_len++;
	} else {
		/* Full: forget the oldest hash, if its set entry still points at
		 * this ring slot (it may have been hit or re-added since). */
		pos = e->ghost_head;
		e->ghost_head = (e->ghost_head + 1) % e->ghost_cap;
		uint32_t i = ghost_find(e, e->ghost_ring[pos]);
		if (i != UINT32_MAX && e->ghost_set[i] == (uint64_t)pos + 1)
			ghost_set_delete(e, i);
	}
	uint32_t old = ghost_find(e, h);
	e->ghost_ring[pos] = h;
	if (old != UINT32_MAX) {
		e->ghost_set[old] = (uint64_t)pos + 1; /* re-evicted: refresh its age */
		return;
	}
	uint32_t mask = e->ghost_set_cap - 1;
	uint32_t i = ghost_slot(e, h);
	while (e->ghost_set[i] != 0)
		i = (i + 1) & mask;
	e->ghost_set[i] = (uint64_t)pos + 1;
}

/* True if H was remembered; it is forgotten, as it is about to be queued. */
static bool ghost_take(struct evict *e, uint64_t h)
{
	if (e->ghost_cap == 0 || e->ghost_len == 0)
		return false;
	uint32_t i = ghost_find(e, h);
	if (i == UINT32_MAX)
		return false;
	ghost_set_delete(e, i);
	return true;
}

int evict_init(struct evict *e, uint64_t budget, uint32_t ghost_entries)
{
	memset(e, 0, sizeof(*e));
	int err = pthread_mutex_init(&e->lock, NULL);
	if (err)
		return -err;
	e->budget = budget;
	if (ghost_entries == 0) {
		uint64_t n = budget / 4096;
		ghost_entries = n < GHOST_DEFAULT_MIN	? GHOST_DEFAULT_MIN
				: n > GHOST_DEFAULT_MAX ? GHOST_DEFAULT_MAX
							: (uint32_t)n;
	}
	if (ghost_entries > GHOST_HARD_MAX)
		ghost_entries = GHOST_HARD_MAX;
	uint32_t set_cap = 2;
	while (set_cap < 2 * ghost_entries)
		set_cap <<= 1;
	e->ghost_ring = calloc(ghost_entries, sizeof(*e->ghost_ring));
	e->ghost_set = calloc(set_cap, sizeof(*e->ghost_set));
	if (!e->ghost_ring || !e->ghost_set) {
		evict_destroy(e);
		return -ENOMEM;
	}
	e->ghost_cap = ghost_entries;
	e->ghost_set_cap = set_cap;
	return 0;
}

void evict_destroy(struct evict *e)
{
	free(e->ghost_ring);
	free(e->ghost_set);
	e->ghost_ring = NULL;
	e->ghost_set = NULL;
	e->ghost_cap = e->ghost_len = e->ghost_head = 0;
	pthread_mutex_destroy(&e->lock);
}

static void list_push_head(struct evict_list *l, struct evict_node *n)
{
	n->prev = NULL;
	n->next = l->head;
	if (l->head)
		l->head->prev = n;
	else
		l->tail = n;
	l->head = n;
	l->bytes += n->size;
	l->count++;
}

static void list_unlink(struct evict_list *l, struct evict_node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		l->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		l->tail = n->prev;
	n->prev = n->next = NULL;
	l->bytes -= n->size;
	l->count--;
}

static struct evict_list *list_of(struct evict *e, const struct evict_node *n)
{
	return n->queue == EVQ_SMALL ? &e->small : &e->main;
}

/* N leaves its queue; its size is charged as held until evict_forget. */
static void hold(struct evict *e, struct evict_node *n)
{
	n->queue = EVQ_NONE;
	n->held = 1;
	e->held += n->size;
}

static void unhold(struct evict *e, struct evict_node *n)
{
	if (!n->held)
		return;
	assert(e->held >= n->size);
	e->held -= n->size;
	n->held = 0;
}

void evict_insert(struct evict *e, struct evict_node *n)
{
	/* A fresh object has not been hit yet: a stale count from a previous
	 * life of the node must not buy it a reprieve. */
	atomic_store_explicit(&n->freq, 0, memory_order_relaxed);
	pthread_mutex_lock(&e->lock);
	unhold(e, n); /* queued again: charged as queued */
	if (ghost_take(e, n->key_hash)) {
		/* Evicted recently and requested again: the small queue was too
		 * short to see its reuse, so it belongs with the working set. */
		n->queue = EVQ_MAIN;
		list_push_head(&e->main, n);
	} else {
		n->queue = EVQ_SMALL;
		list_push_head(&e->small, n);
	}
	pthread_mutex_unlock(&e->lock);
}

bool evict_remove(struct evict *e, struct evict_node *n)
{
	pthread_mutex_lock(&e->lock);
	bool queued = n->queue != EVQ_NONE;
	if (queued) {
		list_unlink(list_of(e, n), n);
		hold(e, n);
	}
	pthread_mutex_unlock(&e->lock);
	return queued;
}

void evict_resize(struct evict *e, struct evict_node *n, uint64_t new_size)
{
	pthread_mutex_lock(&e->lock);
	if (n->queue != EVQ_NONE) {
		struct evict_list *l = list_of(e, n);
		l->bytes = l->bytes - n->size + new_size;
	} else if (n->held) {
		assert(e->held >= n->size);
		e->held = e->held - n->size + new_size;
	}
	n->size = new_size;
	pthread_mutex_unlock(&e->lock);
}

void evict_forget(struct evict *e, struct evict_node *n)
{
	/* Only the node's last owner calls this, so an unset flag cannot
	 * be set meanwhile: no lock for the objects that never left a
	 * queue (freed at shutdown) or were never queued. */
	if (!n->held)
		return;
	pthread_mutex_lock(&e->lock);
	assert(n->queue == EVQ_NONE);
	unhold(e, n);
	pthread_mutex_unlock(&e->lock);
}

uint64_t evict_bytes(struct evict *e)
{
	pthread_mutex_lock(&e->lock);
	uint64_t b = e->small.bytes + e->main.bytes;
	pthread_mutex_unlock(&e->lock);
	return b;
}

uint64_t evict_held(struct evict *e)
{
	pthread_mutex_lock(&e->lock);
	uint64_t b = e->held;
	pthread_mutex_unlock(&e->lock);
	return b;
}

bool evict_fill_begin(struct evict *e, uint64_t expect)
{
	pthread_mutex_lock(&e->lock);
	uint64_t busy = e->held + e->filling;
	bool room = busy == 0 || busy + expect <= e->budget / 2;
	if (room)
		e->filling += expect;
	pthread_mutex_unlock(&e->lock);
	return room;
}

void evict_fill_end(struct evict *e, uint64_t expect)
{
	pthread_mutex_lock(&e->lock);
	assert(e->filling >= expect);
	e->filling -= expect;
	pthread_mutex_unlock(&e->lock);
}

/*
 * Main-queue eviction: a hit object goes back to the head with one hit
 * spent (CLOCK-like second chance), so the loop ends after at most 3 full
 * passes (freq saturates at 3) plus whatever concurrent hits add meanwhile.
 */
static struct evict_node *evict_main(struct evict *e)
{
	struct evict_node *t;
	while ((t = e->main.tail) != NULL) {
		uint8_t f = atomic_load_explicit(&t->freq, memory_order_relaxed);
		if (f == 0)
			break;
		atomic_store_explicit(&t->freq, (uint8_t)(f - 1), memory_order_relaxed);
		list_unlink(&e->main, t);
		list_push_head(&e->main, t);
	}
	if (t)
		list_unlink(&e->main, t);
	return t;
}

struct evict_node *evict_next_victim(struct evict *e, uint64_t incoming)
{
	struct evict_node *victim = NULL;
	pthread_mutex_lock(&e->lock);
	uint64_t small_target = e->budget / 10;
	while (e->small.bytes + e->main.bytes + e->held + incoming > e->budget) {
		bool from_small =
		    e->small.tail && (e->small.bytes >= small_target || e->main.tail == NULL);
		if (!from_small) {
			victim = evict_main(e);
			if (victim)
				break;
			if (!e->small.tail)
				break; /* nothing queued at all */
			continue;
		}
		struct evict_node *t = e->small.tail;
		list_unlink(&e->small, t);
		if (atomic_load_explicit(&t->freq, memory_order_relaxed) > 0) {
			/* Hit while in probation: promote. The count restarts so
			 * that it must earn its keep again in main. */
			atomic_store_explicit(&t->freq, 0, memory_order_relaxed);
			t->queue = EVQ_MAIN;
			list_push_head(&e->main, t);
			atomic_fetch_add_explicit(&e->promotions, 1, memory_order_relaxed);
			continue;
		}
		ghost_add(e, t->key_hash);
		victim = t;
		break;
	}
	if (victim) {
		hold(e, victim);
		atomic_fetch_add_explicit(&e->evictions, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&e->lock);
	return victim;
}
