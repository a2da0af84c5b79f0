/*
 * bloop.h - one loop as the backend side sees it.
 *
 * Which slot of every configuration generation is its own, which
 * generation new requests take and that generation's pools of idle
 * connections on this loop, whether it drains (no connection goes back to
 * a pool then), and where it counts. Embedded in the loop's worker
 * (serve/worker.h); written only by its loop thread.
 */
#ifndef RINGCACHE_BACKEND_BLOOP_H
#define RINGCACHE_BACKEND_BLOOP_H

#include <stdbool.h>

struct gen;
struct bpools;
struct metrics;

struct bloop {
	unsigned id;	      /* the loop's index: its slot in every generation */
	struct gen *gen;      /* current: new requests hold this one (gen.h) */
	struct bpools *pools; /* the current generation's pools on this loop (pool.h) */
	bool draining;
	struct metrics *metrics;
};

#endif
