/*
 * evict.h - S3-FIFO eviction (Yang et al., SOSP '23) for the cache's
 * memory budget.
 *
 * Three queues: a small FIFO (10% of the budget) where new objects start,
 * a main FIFO (90%), and a ghost FIFO of recently evicted key hashes
 * (hashes only, no objects). A hit only bumps a 2-bit frequency counter
 * with a relaxed atomic: no lock and no list move on the hit path, which
 * is what makes FIFO-based policies fast under concurrency. Eviction from
 * the small queue promotes objects that were hit (freq > 0) to main and
 * evicts the rest (remembering their hash in the ghost queue); an insert
 * whose hash is in the ghost queue goes straight to main. Eviction from
 * main reinserts objects with freq > 0 (decrementing it) and evicts the
 * first with freq == 0. One-hit wonders and scans therefore leave through
 * the small queue without pushing out the working set (scan resistance).
 *
 * Locking: one mutex inside struct evict, taken by insert / remove /
 * resize / next_victim, never across an await. evict_touch takes none.
 * The caller (the store) owns the objects; this module only orders them.
 * Lock order: a store shard lock may be held while calling into evict;
 * evict never calls back into the store.
 */
#ifndef RINGCACHE_CACHE_EVICT_H
#define RINGCACHE_CACHE_EVICT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum evict_queue { EVQ_NONE = 0, EVQ_SMALL, EVQ_MAIN };

/* Embedded in each cached object. Zero-initialise before first use. */
struct evict_node {
	struct evict_node *prev, *next;
	uint64_t size;	      /* bytes charged to the budget */
	uint64_t key_hash;    /* for the ghost queue */
	_Atomic uint8_t freq; /* 0..3 */
	uint8_t queue;	      /* enum evict_queue; EVQ_NONE when not queued */
	uint8_t held;	      /* out of its queue, its size in evict.held */
};

struct evict_list {
	struct evict_node *head, *tail; /* insert at head, evict from tail */
	uint64_t bytes;
	uint64_t count;
};

struct evict {
	pthread_mutex_t lock;
	uint64_t budget;
	struct evict_list small, main;
	/* Bytes of objects that left the queues (evicted, purged, replaced)
	 * but are still alive: a client is still reading one, a fetch is
	 * still filling it. They are memory the budget must count, or a
	 * cache at its budget holds far more (issue 20: 466 MiB for a
	 * 256 MiB budget at 256 connections); evict_forget gives it back. */
	uint64_t held;
	/* Content-Length of the responses fetches are storing now
	 * (evict_fill_begin): with held, what a new store must fit beside. */
	uint64_t filling;
	/* Ghost: a ring of recent evicted hashes plus an open-addressing set
	 * over them; capacity fixed at init. A set slot holds the ring index
	 * + 1 of its hash (0 = empty), so a hash that was hit or evicted again
	 * is not forgotten early when its older ring slot is overwritten. */
	uint64_t *ghost_ring;
	uint64_t *ghost_set;
	uint32_t ghost_cap, ghost_head, ghost_len;
	uint32_t ghost_set_cap; /* power of two, >= 2 * ghost_cap */
	_Atomic uint64_t evictions;
	_Atomic uint64_t promotions;
};

/* BUDGET bytes; GHOST_ENTRIES hashes remembered (e.g. budget / 4 KiB,
 * clamped to [1024, 1<<20], which is what 0 selects). 0, -ENOMEM, or a
 * negative errno from pthread_mutex_init. */
int evict_init(struct evict *e, uint64_t budget, uint32_t ghost_entries);
void evict_destroy(struct evict *e);

/* Queue N (not queued yet) with N->size and N->key_hash set by the caller.
 * N->freq is reset to 0. N goes to main if its hash is a ghost (the ghost
 * entry is consumed), else to small. Call evict_next_victim(e, size) first
 * to make room: insert itself never evicts. */
void evict_insert(struct evict *e, struct evict_node *n);

/* A hit: bump the frequency (saturating at 3). Lock-free; two racing hits
 * may count as one, which an approximate 2-bit counter tolerates. */
static inline void evict_touch(struct evict_node *n)
{
	uint8_t f = atomic_load_explicit(&n->freq, memory_order_relaxed);
	if (f < 3)
		atomic_store_explicit(&n->freq, (uint8_t)(f + 1), memory_order_relaxed);
}

/* Take N out of its queue (purge, replacement). No-op if N is not queued
 * (e.g. already handed out by evict_next_victim). Returns true if it was.
 * N's size stays charged, as held, until evict_forget. */
bool evict_remove(struct evict *e, struct evict_node *n);

/* N's size changed (an object grows while its body streams in); a held
 * N's charge grows with it. */
void evict_resize(struct evict *e, struct evict_node *n, uint64_t new_size);

/* N's memory is freed: a held N's charge is given back. Call it once N
 * is no one's (the object's last reference is gone). */
void evict_forget(struct evict *e, struct evict_node *n);

/* Total bytes queued. */
uint64_t evict_bytes(struct evict *e);

/* Bytes held: out of the queues, not yet forgotten. */
uint64_t evict_held(struct evict *e);

/* A fill of EXPECT bytes may start: true (EXPECT counted as filling until
 * evict_fill_end) when nothing is held or filling, or when held + filling
 * + EXPECT is at most half the budget; else false (store_fill_begin). */
bool evict_fill_begin(struct evict *e, uint64_t expect);
void evict_fill_end(struct evict *e, uint64_t expect);

/*
 * While queued bytes + held bytes + INCOMING exceed the budget, unlink and
 * return the next victim (its queue becomes EVQ_NONE); returns NULL once
 * under budget
 * or when nothing is left. It takes from small while small holds at least
 * 10% of the budget (or main is empty), else from main; objects promoted
 * from small to main restart with freq 0. Only small's victims become
 * ghosts. A victim's size stays charged (held) until evict_forget: while
 * clients read what left the cache, the cache itself holds that much
 * less. Held bytes alone over the budget empty the queues; nothing more
 * can be done here (the caller bounds what it holds outside them). Call it
 * in a loop until NULL. The caller then removes the object from the
 * store and drops the store's reference. INCOMING lets the caller make room
 * before it inserts.
 */
struct evict_node *evict_next_victim(struct evict *e, uint64_t incoming);

#endif
