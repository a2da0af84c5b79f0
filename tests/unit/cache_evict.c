/* Unit tests of src/cache/evict: S3-FIFO queues, ghost hits, scan resistance, accounting. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cache/evict.h"

/* Distinct, well-spread key hashes (the store passes XXH3 of the key). */
static uint64_t hash_of(uint64_t k)
{
	k += 0x9E3779B97F4A7C15ull;
	k = (k ^ (k >> 30)) * 0xBF58476D1CE4E5B9ull;
	k = (k ^ (k >> 27)) * 0x94D049BB133111EBull;
	return k ^ (k >> 31);
}

static void node_init(struct evict_node *n, uint64_t key, uint64_t size)
{
	memset(n, 0, sizeof(*n));
	n->key_hash = hash_of(key);
	n->size = size;
}

/* Evict until under budget with INCOMING bytes on the way; returns how many. */
static size_t drain(struct evict *e, uint64_t incoming)
{
	size_t k = 0;
	struct evict_node *v;
	while ((v = evict_next_victim(e, incoming)) != NULL) {
		cr_assert_eq(v->queue, EVQ_NONE);
		cr_assert_null(v->prev);
		cr_assert_null(v->next);
		cr_assert(v->held);
		evict_forget(e, v); /* the store frees a victim no one reads */
		cr_assert_not(v->held);
		k++;
	}
	return k;
}

/* V, a victim, freed by the store at once (no client reads it): its
 * held charge is given back. */
static struct evict_node *freed(struct evict *e, struct evict_node *v)
{
	if (v)
		evict_forget(e, v);
	return v;
}

/* Store-like insert: make room first, then queue. */
static void put(struct evict *e, struct evict_node *n)
{
	drain(e, n->size);
	evict_insert(e, n);
	cr_assert_leq(evict_bytes(e), e->budget);
}

/* Sums a list by walking it, to check the running counters. */
static void check_list(const struct evict_list *l, enum evict_queue q)
{
	uint64_t bytes = 0, count = 0;
	const struct evict_node *prev = NULL;
	for (const struct evict_node *n = l->head; n; n = n->next) {
		cr_assert_eq(n->queue, q);
		cr_assert_eq(n->prev, prev);
		bytes += n->size;
		count++;
		prev = n;
	}
	cr_assert_eq(l->tail, prev);
	cr_assert_eq(bytes, l->bytes);
	cr_assert_eq(count, l->count);
}

static void check_lists(const struct evict *e)
{
	check_list(&e->small, EVQ_SMALL);
	check_list(&e->main, EVQ_MAIN);
}

Test(cache_evict, init_defaults_and_empty)
{
	struct evict e;
	cr_assert_eq(evict_init(&e, 1u << 30, 0), 0);
	cr_assert_eq(e.ghost_cap, (1u << 30) / 4096);
	cr_assert_geq(e.ghost_set_cap, 2 * e.ghost_cap);
	cr_assert_eq(e.ghost_set_cap & (e.ghost_set_cap - 1), 0);
	cr_assert_eq(evict_bytes(&e), 0);
	cr_assert_null(evict_next_victim(&e, 0));
	/* Nothing queued: even a huge incoming object finds no victim. */
	cr_assert_null(evict_next_victim(&e, 1ull << 40));
	evict_destroy(&e);

	cr_assert_eq(evict_init(&e, 100, 0), 0);
	cr_assert_eq(e.ghost_cap, 1024); /* clamped up */
	evict_destroy(&e);
}

Test(cache_evict, new_objects_start_in_small_and_fifo_order)
{
	struct evict e;
	struct evict_node n[10];
	cr_assert_eq(evict_init(&e, 1000, 64), 0);
	for (int i = 0; i < 10; i++) {
		node_init(&n[i], (uint64_t)i, 100);
		evict_insert(&e, &n[i]);
		cr_assert_eq(n[i].queue, EVQ_SMALL);
	}
	cr_assert_eq(evict_bytes(&e), 1000);
	check_lists(&e);
	/* 250 more bytes: the three oldest unhit objects leave, oldest first. */
	for (int i = 0; i < 3; i++)
		cr_assert_eq(freed(&e, evict_next_victim(&e, 250)), &n[i]);
	cr_assert_null(evict_next_victim(&e, 250));
	cr_assert_eq(evict_bytes(&e), 700);
	cr_assert_eq(atomic_load(&e.evictions), 3);
	check_lists(&e);
	evict_destroy(&e);
}

Test(cache_evict, hit_in_small_is_promoted_to_main)
{
	struct evict e;
	struct evict_node a, b, c;
	cr_assert_eq(evict_init(&e, 300, 64), 0);
	node_init(&a, 1, 100);
	node_init(&b, 2, 100);
	node_init(&c, 3, 100);
	evict_insert(&e, &a);
	evict_insert(&e, &b);
	evict_insert(&e, &c);
	evict_touch(&a);
	/* A is the oldest but was hit: it moves to main and B goes instead. */
	cr_assert_eq(freed(&e, evict_next_victim(&e, 100)), &b);
	cr_assert_null(evict_next_victim(&e, 100));
	cr_assert_eq(a.queue, EVQ_MAIN);
	cr_assert_eq(atomic_load(&a.freq), 0, "the count restarts in main");
	cr_assert_eq(atomic_load(&e.promotions), 1);
	check_lists(&e);
	evict_destroy(&e);
}

Test(cache_evict, touch_saturates_at_three)
{
	struct evict_node n;
	node_init(&n, 1, 1);
	for (int i = 0; i < 10; i++)
		evict_touch(&n);
	cr_assert_eq(atomic_load(&n.freq), 3);
}

Test(cache_evict, main_reinserts_hit_objects_with_freq_minus_one)
{
	struct evict e;
	struct evict_node n[10];
	cr_assert_eq(evict_init(&e, 1000, 64), 0);
	/* Get all ten into main: insert, hit, and let the small queue promote. */
	for (int i = 0; i < 10; i++) {
		node_init(&n[i], (uint64_t)i, 100);
		evict_insert(&e, &n[i]);
		evict_touch(&n[i]);
	}
	cr_assert_null(evict_next_victim(&e, 0));
	/* Asking for room promotes everything from small (all hit), then main
	 * evicts its oldest unhit object. */
	cr_assert_eq(freed(&e, evict_next_victim(&e, 100)), &n[0]);
	cr_assert_eq(e.small.count, 0);
	cr_assert_eq(e.main.count, 9);
	/* Now hit n[1] twice and n[2] once: n[3] is the next victim, and the
	 * skipped ones went back to the head having spent one hit each. */
	evict_touch(&n[1]);
	evict_touch(&n[1]);
	evict_touch(&n[2]);
	cr_assert_eq(freed(&e, evict_next_victim(&e, 200)), &n[3]);
	cr_assert_eq(atomic_load(&n[1].freq), 1);
	cr_assert_eq(atomic_load(&n[2].freq), 0);
	cr_assert_eq(e.main.head, &n[2]);
	cr_assert_eq(e.main.head->next, &n[1]);
	check_lists(&e);
	evict_destroy(&e);
}

Test(cache_evict, ghost_hit_goes_to_main)
{
	struct evict e;
	struct evict_node a, b, a2, c;
	cr_assert_eq(evict_init(&e, 200, 64), 0);
	node_init(&a, 42, 100);
	node_init(&b, 43, 100);
	evict_insert(&e, &a);
	evict_insert(&e, &b);
	cr_assert_eq(freed(&e, evict_next_victim(&e, 100)), &a); /* A's hash is now a ghost */
	cr_assert_eq(e.ghost_len, 1);
	/* The same key comes back (new object, same hash): straight to main. */
	node_init(&a2, 42, 100);
	evict_insert(&e, &a2);
	cr_assert_eq(a2.queue, EVQ_MAIN);
	/* The ghost entry was consumed: a third life starts in small again. */
	cr_assert_eq(evict_next_victim(&e, 0), NULL);
	cr_assert(evict_remove(&e, &a2));
	node_init(&c, 42, 100);
	evict_insert(&e, &c);
	cr_assert_eq(c.queue, EVQ_SMALL);
	check_lists(&e);
	evict_destroy(&e);
}

Test(cache_evict, main_evictions_are_not_ghosts)
{
	struct evict e;
	struct evict_node a, b, a2;
	cr_assert_eq(evict_init(&e, 100, 64), 0);
	node_init(&a, 1, 100);
	evict_insert(&e, &a);
	evict_touch(&a);
	node_init(&b, 2, 100);
	put(&e, &b); /* A promoted, and then evicted from main (freq 0 there) */
	cr_assert_eq(a.queue, EVQ_NONE);
	cr_assert_eq(e.ghost_len, 0);
	node_init(&a2, 1, 50);
	drain(&e, 50);
	evict_insert(&e, &a2);
	cr_assert_eq(a2.queue, EVQ_SMALL);
	evict_destroy(&e);
}

Test(cache_evict, ghost_ring_forgets_oldest)
{
	struct evict e;
	enum { N = 40, CAP = 8 };
	struct evict_node n[N], again;
	cr_assert_eq(evict_init(&e, 10, CAP), 0);
	for (int i = 0; i < N; i++) {
		node_init(&n[i], (uint64_t)i, 10);
		put(&e, &n[i]); /* evicts n[i - 1] into the ghost */
	}
	cr_assert_eq(e.ghost_len, CAP);
	/* Removal is not eviction, so this leaves the ghost as it is. */
	cr_assert(evict_remove(&e, &n[N - 1]));
	/* Only the last CAP evicted keys (n[N-1-CAP] .. n[N-2]) are ghosts. */
	for (int i = 0; i < N - 1; i++) {
		node_init(&again, (uint64_t)i, 10);
		evict_insert(&e, &again);
		bool ghost = i >= N - 1 - CAP;
		cr_assert_eq(again.queue, ghost ? EVQ_MAIN : EVQ_SMALL, "key %d", i);
		cr_assert(evict_remove(&e, &again));
	}
	evict_destroy(&e);
}

/*
 * Reference model of the ghost: the last CAP hashes evicted from small, a
 * hit consuming its entry, a re-eviction refreshing it.
 */
struct ghost_model {
	uint64_t h[64];
	bool live[64];
	unsigned head, len, cap;
};

static bool model_take(struct ghost_model *m, uint64_t h)
{
	for (unsigned k = 0; k < m->len; k++) {
		unsigned p = (m->head + k) % m->cap;
		if (m->live[p] && m->h[p] == h) {
			m->live[p] = false;
			return true;
		}
	}
	return false;
}

static void model_add(struct ghost_model *m, uint64_t h)
{
	model_take(m, h);
	unsigned p;
	if (m->len < m->cap) {
		p = (m->head + m->len++) % m->cap;
	} else {
		p = m->head;
		m->head = (m->head + 1) % m->cap;
	}
	m->h[p] = h;
	m->live[p] = true;
}

Test(cache_evict, ghost_matches_model_under_churn)
{
	/* Many more evictions than ghost slots, ghost hits and re-evictions
	 * of the same hash: the ring+set must answer exactly like the model,
	 * which exercises the set's backward-shift deletion heavily. */
	struct evict e;
	enum { CAP = 64 };
	struct ghost_model m = {.cap = CAP};
	cr_assert_eq(evict_init(&e, 1, CAP), 0);
	struct evict_node n;
	unsigned seed = 7;
	uint64_t ghost_hits = 0;
	for (int i = 0; i < 50000; i++) {
		node_init(&n, (uint64_t)(rand_r(&seed) % 120), 1);
		bool expect_main = model_take(&m, n.key_hash);
		evict_insert(&e, &n);
		cr_assert_eq(n.queue, expect_main ? EVQ_MAIN : EVQ_SMALL, "iteration %d", i);
		ghost_hits += expect_main;
		/* Budget of one byte: it always leaves, to the ghost only from
		 * small. */
		cr_assert_eq(freed(&e, evict_next_victim(&e, 1)), &n);
		if (!expect_main)
			model_add(&m, n.key_hash);
	}
	cr_assert_gt(ghost_hits, 1000);
	uint32_t live = 0;
	for (uint32_t s = 0; s < e.ghost_set_cap; s++)
		live += e.ghost_set[s] != 0;
	uint32_t mlive = 0;
	for (unsigned k = 0; k < m.len; k++)
		mlive += m.live[k];
	cr_assert_eq(live, mlive);
	evict_destroy(&e);
}

Test(cache_evict, scan_resistance)
{
	/* Budget for 100 objects. A working set of 30 is requested repeatedly;
	 * then a one-pass scan of 1000 new keys (10x the budget) goes through.
	 * LRU would have flushed the working set after 100 scan inserts; with
	 * S3-FIFO the scan leaves through the small queue and every working
	 * set object is still cached afterwards. */
	enum { WS = 30, SCAN = 1000, SZ = 100 };
	struct evict e;
	cr_assert_eq(evict_init(&e, 100 * SZ, 0), 0);
	struct evict_node *ws = calloc(WS, sizeof(*ws));
	struct evict_node *scan = calloc(SCAN, sizeof(*scan));
	for (int i = 0; i < WS; i++) {
		node_init(&ws[i], (uint64_t)i, SZ);
		put(&e, &ws[i]);
	}
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < WS; i++)
			evict_touch(&ws[i]);
	for (int i = 0; i < SCAN; i++) {
		node_init(&scan[i], 100000 + (uint64_t)i, SZ);
		put(&e, &scan[i]);
		/* The working set keeps being used while the scan runs. */
		if (i % 50 == 0)
			for (int j = 0; j < WS; j++)
				evict_touch(&ws[j]);
	}
	for (int i = 0; i < WS; i++)
		cr_assert_neq(ws[i].queue, EVQ_NONE, "working set object %d was evicted", i);
	cr_assert_leq(evict_bytes(&e), 100 * SZ);
	check_lists(&e);

	/* Control: the same pattern without any hits is simply FIFO and the
	 * early objects are gone, so the survival above is due to the hits. */
	struct evict e2;
	cr_assert_eq(evict_init(&e2, 100 * SZ, 0), 0);
	for (int i = 0; i < WS; i++) {
		node_init(&ws[i], (uint64_t)i, SZ);
		put(&e2, &ws[i]);
	}
	for (int i = 0; i < SCAN; i++) {
		node_init(&scan[i], 100000 + (uint64_t)i, SZ);
		put(&e2, &scan[i]);
	}
	for (int i = 0; i < WS; i++)
		cr_assert_eq(ws[i].queue, EVQ_NONE);
	evict_destroy(&e2);
	evict_destroy(&e);
	free(ws);
	free(scan);
}

Test(cache_evict, remove_of_victim_is_noop)
{
	struct evict e;
	struct evict_node a, b;
	cr_assert_eq(evict_init(&e, 100, 64), 0);
	node_init(&a, 1, 100);
	node_init(&b, 2, 100);
	evict_insert(&e, &a);
	cr_assert_eq(evict_next_victim(&e, 100), &a);
	evict_insert(&e, &b);
	cr_assert_not(evict_remove(&e, &a));
	cr_assert_not(evict_remove(&e, &a));
	cr_assert_eq(evict_bytes(&e), 100);
	cr_assert_eq(e.small.count, 1);
	cr_assert(evict_remove(&e, &b));
	cr_assert_not(evict_remove(&e, &b));
	cr_assert_eq(evict_bytes(&e), 0);
	cr_assert_eq(b.queue, EVQ_NONE);
	check_lists(&e);
	/* Removal is not an eviction: no ghost entry, no counter. */
	cr_assert_eq(e.ghost_len, 1);
	cr_assert_eq(atomic_load(&e.evictions), 1);
	evict_destroy(&e);
}

Test(cache_evict, remove_from_middle_and_both_queues)
{
	struct evict e;
	struct evict_node n[5];
	cr_assert_eq(evict_init(&e, 1000, 64), 0);
	for (int i = 0; i < 5; i++) {
		node_init(&n[i], (uint64_t)i, 10 * (uint64_t)(i + 1));
		evict_insert(&e, &n[i]);
	}
	cr_assert(evict_remove(&e, &n[2]));
	check_lists(&e);
	cr_assert(evict_remove(&e, &n[4])); /* head */
	cr_assert(evict_remove(&e, &n[0])); /* tail */
	check_lists(&e);
	cr_assert_eq(evict_bytes(&e), 20 + 40);
	evict_destroy(&e);
}

Test(cache_evict, resize_accounting)
{
	struct evict e;
	struct evict_node a, b, c;
	cr_assert_eq(evict_init(&e, 1000, 64), 0);
	node_init(&a, 1, 0);
	node_init(&b, 2, 100);
	evict_insert(&e, &a);
	evict_insert(&e, &b);
	/* A streams in: it grows in steps while queued. */
	for (uint64_t s = 100; s <= 800; s += 100) {
		evict_resize(&e, &a, s);
		cr_assert_eq(evict_bytes(&e), s + 100);
		check_lists(&e);
	}
	/* Over budget after a resize: draining brings it back under. */
	evict_resize(&e, &a, 950);
	cr_assert_eq(evict_bytes(&e), 1050);
	cr_assert_eq(evict_next_victim(&e, 0), &a); /* oldest in small */
	/* A victim still held (a client reads it) is charged as held, and
	 * its resize changes that charge, not the queues'. */
	cr_assert_eq(evict_held(&e), 950);
	evict_resize(&e, &a, 5);
	cr_assert_eq(a.size, 5);
	cr_assert_eq(evict_held(&e), 5);
	cr_assert_null(evict_next_victim(&e, 0));
	cr_assert_eq(evict_bytes(&e), 100);
	evict_forget(&e, &a);
	cr_assert_eq(evict_held(&e), 0);
	/* Shrinking; and resize of an object in main. */
	node_init(&c, 3, 200);
	evict_insert(&e, &c);
	evict_touch(&b);
	cr_assert_eq(evict_next_victim(&e, 800), &c); /* B promoted, C out */
	cr_assert_eq(b.queue, EVQ_MAIN);
	evict_resize(&e, &b, 30);
	cr_assert_eq(e.main.bytes, 30);
	cr_assert_eq(evict_bytes(&e), 30);
	check_lists(&e);
	evict_destroy(&e);
}

Test(cache_evict, bytes_never_exceed_budget_after_draining)
{
	enum { N = 5000 };
	const uint64_t budget = 64 * 1024;
	struct evict e;
	cr_assert_eq(evict_init(&e, budget, 0), 0);
	struct evict_node *n = calloc(N, sizeof(*n));
	unsigned seed = 12345;
	for (int i = 0; i < N; i++) {
		node_init(&n[i], (uint64_t)(rand_r(&seed) % 2000),
			  1 + (uint64_t)(rand_r(&seed) % 4096));
		put(&e, &n[i]);
		/* Random hits on recent objects and occasional growth. */
		for (int k = 0; k < 3; k++) {
			int j = i - rand_r(&seed) % (i + 1);
			evict_touch(&n[j]);
		}
		if (i % 7 == 0 && n[i].queue != EVQ_NONE) {
			evict_resize(&e, &n[i], n[i].size * 2);
			drain(&e, 0);
		}
		cr_assert_leq(evict_bytes(&e), budget);
	}
	check_lists(&e);
	/* Emptying through the victim path accounts every byte. */
	uint64_t left = e.small.count + e.main.count;
	cr_assert_eq(drain(&e, budget + 1), left);
	cr_assert_eq(evict_bytes(&e), 0);
	cr_assert_null(e.small.head);
	cr_assert_null(e.main.head);
	evict_destroy(&e);
	free(n);
}

Test(cache_evict, oversized_object_evicts_everything)
{
	struct evict e;
	struct evict_node n[4], big;
	cr_assert_eq(evict_init(&e, 100, 64), 0);
	for (int i = 0; i < 4; i++) {
		node_init(&n[i], (uint64_t)i, 25);
		evict_insert(&e, &n[i]);
		evict_touch(&n[i]);
	}
	node_init(&big, 99, 500);
	cr_assert_eq(drain(&e, big.size), 4);
	cr_assert_eq(evict_bytes(&e), 0);
	evict_destroy(&e);
}

/* Issue 20's budget: what left the queues but is still read or filled
 * counts until it is forgotten, so queued + held stays within the budget. */
Test(cache_evict, held_bytes_count_against_the_budget)
{
	struct evict e;
	struct evict_node a, b, c;
	cr_assert_eq(evict_init(&e, 100, 64), 0);
	node_init(&a, 1, 40);
	node_init(&b, 2, 40);
	node_init(&c, 3, 30);
	evict_insert(&e, &a);
	evict_insert(&e, &b);
	/* Room for 30: A goes, but a client still reads it (held), so B must
	 * go too, where without the held charge A alone would have made room. */
	cr_assert_eq(evict_next_victim(&e, c.size), &a);
	cr_assert_eq(evict_next_victim(&e, c.size), &b);
	cr_assert_null(evict_next_victim(&e, c.size)); /* nothing left to take */
	cr_assert_eq(evict_held(&e), 80);
	cr_assert_eq(evict_bytes(&e), 0);
	/* A's reader is done: its bytes are the cache's again. */
	evict_forget(&e, &a);
	cr_assert_eq(evict_held(&e), 40);
	evict_insert(&e, &c);
	cr_assert_null(evict_next_victim(&e, 30));
	/* A purged (removed) object that still streams in: its growth is
	 * charged; queued again (a 304 refresh) it is charged once. */
	cr_assert(evict_remove(&e, &c));
	cr_assert_eq(evict_held(&e), 70);
	evict_resize(&e, &c, 50);
	cr_assert_eq(evict_held(&e), 90);
	evict_insert(&e, &c);
	cr_assert_not(c.held);
	cr_assert_eq(evict_held(&e), 40);
	cr_assert_eq(evict_bytes(&e), 50);
	check_lists(&e);
	/* Held bytes alone over the budget empty the queues, and no more:
	 * B grew to 200 while a fetch filled it. */
	evict_resize(&e, &b, 200);
	cr_assert_eq(evict_held(&e), 200);
	cr_assert_eq(drain(&e, 0), 1);
	cr_assert_eq(evict_bytes(&e), 0);
	cr_assert_null(evict_next_victim(&e, 0));
	evict_forget(&e, &b);
	cr_assert_eq(evict_held(&e), 0);
	/* Forgetting twice, or a node never queued, changes nothing. */
	evict_forget(&e, &b);
	struct evict_node never;
	node_init(&never, 7, 30);
	evict_forget(&e, &never);
	cr_assert_eq(evict_held(&e), 0);
	evict_destroy(&e);
}

/* New stores fit beside held and filling bytes in half the budget. */
Test(cache_evict, fills_fit_in_half_the_budget_beside_held_bytes)
{
	struct evict e;
	struct evict_node a;
	cr_assert_eq(evict_init(&e, 100, 64), 0);
	cr_assert(evict_fill_begin(&e, 80)); /* nothing busy: anything goes */
	cr_assert_not(evict_fill_begin(&e, 1));
	evict_fill_end(&e, 80);
	cr_assert(evict_fill_begin(&e, 30));
	cr_assert(evict_fill_begin(&e, 20));
	cr_assert_not(evict_fill_begin(&e, 1));
	evict_fill_end(&e, 30);
	evict_fill_end(&e, 20);
	node_init(&a, 1, 40);
	evict_insert(&e, &a);
	cr_assert(evict_remove(&e, &a)); /* held 40 */
	cr_assert(evict_fill_begin(&e, 10));
	cr_assert_not(evict_fill_begin(&e, 1));
	evict_fill_end(&e, 10);
	evict_forget(&e, &a);
	cr_assert(evict_fill_begin(&e, 50));
	evict_fill_end(&e, 50);
	evict_destroy(&e);
}

/* --- concurrency smoke test --------------------------------------------- */

enum { THREADS = 4, PER_THREAD = 2000, ITERS = 40000 };

struct worker {
	struct evict *e;
	struct evict_node *nodes;
	unsigned seed;
	int id;
	uint64_t inserts, removes, victims;
	bool *mine; /* queued by this thread and not known to be gone */
};

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < PER_THREAD; i++) {
		node_init(&w->nodes[i], (uint64_t)(w->id * PER_THREAD + i), 1 + (uint64_t)(i % 64));
		evict_insert(w->e, &w->nodes[i]);
		w->mine[i] = true;
		w->inserts++;
	}
	for (int it = 0; it < ITERS; it++) {
		int i = rand_r(&w->seed) % PER_THREAD;
		struct evict_node *n = &w->nodes[i];
		switch (rand_r(&w->seed) % 8) {
		case 0:
			/* Only this thread re-inserts its nodes, and only after it
			 * removed them itself: victims are gone for good, as in the
			 * store where the victim's object is freed. */
			if (w->mine[i]) {
				if (evict_remove(w->e, n)) {
					w->removes++;
					evict_insert(w->e, n);
					w->inserts++;
				} else {
					w->mine[i] = false; /* another thread victimized it */
				}
			}
			break;
		case 1: {
			struct evict_node *v;
			while ((v = evict_next_victim(w->e, 64)) != NULL) {
				evict_forget(w->e, v); /* a victim is ours alone */
				w->victims++;
			}
			break;
		}
		case 2:
			if (w->mine[i])
				evict_resize(w->e, n, 1 + (uint64_t)(rand_r(&w->seed) % 64));
			break;
		default:
			evict_touch(n); /* racing with eviction is fine: it is lock-free */
			break;
		}
	}
	return NULL;
}

Test(cache_evict, concurrent_smoke)
{
	struct evict e;
	cr_assert_eq(evict_init(&e, 16 * 1024, 0), 0);
	struct worker w[THREADS];
	pthread_t th[THREADS];
	for (int t = 0; t < THREADS; t++) {
		w[t] = (struct worker){.e = &e, .seed = 1000u + (unsigned)t, .id = t};
		w[t].nodes = calloc(PER_THREAD, sizeof(struct evict_node));
		w[t].mine = calloc(PER_THREAD, sizeof(bool));
		cr_assert_eq(pthread_create(&th[t], NULL, worker_fn, &w[t]), 0);
	}
	uint64_t inserts = 0, removes = 0, victims = 0;
	for (int t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
		inserts += w[t].inserts;
		removes += w[t].removes;
		victims += w[t].victims;
	}
	check_lists(&e);
	uint64_t queued = e.small.count + e.main.count;
	cr_assert_eq(inserts, removes + victims + queued, "%lu != %lu + %lu + %lu",
		     (unsigned long)inserts, (unsigned long)removes, (unsigned long)victims,
		     (unsigned long)queued);
	cr_assert_eq(atomic_load(&e.evictions), victims);
	/* Every node is either queued (and counted once) or not. */
	uint64_t seen = 0, bytes = 0;
	for (int t = 0; t < THREADS; t++)
		for (int i = 0; i < PER_THREAD; i++)
			if (w[t].nodes[i].queue != EVQ_NONE) {
				seen++;
				bytes += w[t].nodes[i].size;
			}
	cr_assert_eq(seen, queued);
	cr_assert_eq(bytes, evict_bytes(&e));
	drain(&e, 0);
	cr_assert_leq(evict_bytes(&e), e.budget);
	for (int t = 0; t < THREADS; t++) {
		free(w[t].nodes);
		free(w[t].mine);
	}
	evict_destroy(&e);
}
