/*
 * lurk.h - the ban lurker's task: store_lurk steps (cache/store.h), paced.
 *
 * It runs as one task on loop 0 (the admin loop; daemon/daemon.c starts it
 * in that loop's admin task group, so a drain cancels it), not on a thread
 * of its own: a step is bounded (lurk_batch objects, so about LURK_TESTS
 * regex matches at most; shard locks held only to take references), far
 * below the loops' task budget, and a task gets
 * deadlines, cancellation and drain from the runtime for free. Between
 * steps it sleeps, so lookups and publishes on every loop run in between.
 */
#ifndef RINGCACHE_CACHE_LURK_H
#define RINGCACHE_CACHE_LURK_H

#include <stdint.h>

#include "cache/store.h"

/* Objects per step at most, ban tests per step at most (an object is
 * tested against up to every ban in the list), and the pauses: between
 * steps of a pass (Varnish's ban_lurker_sleep), and between looks at an
 * empty ban list. */
#define LURK_BATCH    256u
#define LURK_TESTS    16384u
#define LURK_SLEEP_NS (10ull * 1000 * 1000)
#define LURK_IDLE_NS  (500ull * 1000 * 1000)

/* Objects for the next step with BANS in the list: LURK_BATCH, fewer when
 * that many objects times BANS would pass LURK_TESTS, at least one. */
uint32_t lurk_batch(size_t bans);
/* How long to wait before the step after S. */
uint64_t lurk_pause_ns(const struct lurk_step *s);

/* The task: ARG is the struct store. Steps until cancelled. */
void lurk_main(void *arg);

#endif
