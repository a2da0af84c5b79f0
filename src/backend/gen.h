/*
 * gen.h - a generation of the running configuration.
 *
 * Reload must not change the config under a request that is using it: a
 * request picks its backend and server by index, holds rule pointers and
 * pooled connections across awaits. So each loaded config lives in a
 * struct gen together with what is built from it (backend selection state,
 * per-loop connection pools), and every request holds the generation it
 * started with until it ends. A reload makes a new generation and posts it
 * to each loop; the loop adopts it for new requests (gen_switch), and an
 * old generation is freed when no loop uses it as current and no request
 * holds it any more.
 *
 * Holding is per loop and unlocked: slot[loop].refs is written only by that
 * loop's thread, so a hold is an increment on a line no other thread
 * touches. `live` counts the loops (plus the main thread) that have not
 * released the generation yet; the one that brings it to zero frees it.
 *
 * Servers written as DNS names. A config's "host:port" server is a name,
 * not an address (config_addr.host); a generation is where it becomes
 * servers: one per address the name has when the generation is made (the
 * item's weight each), in the backend's own copy of its config (bcfg),
 * which is what the selection state, pools, probes and stats see. So a
 * server index means one address on every loop for the generation's
 * life, and a new address set is a new generation (daemon/resolve.h),
 * switched to like a reload: pools and health of addresses that stay
 * carry over (gen_switch, health_inherit), requests on removed ones end
 * on the old generation.
 */
#ifndef RINGCACHE_BACKEND_GEN_H
#define RINGCACHE_BACKEND_GEN_H

#include <stdatomic.h>
#include <stdint.h>

#include "backend/bloop.h"
#include "backend/dns.h"
#include "backend/member.h"
#include "backend/pick.h"
#include "config/config.h"
#include "rt/group.h"

#define GEN_MAGIC 0x47454e31u

struct gen_slot {
	struct bpools *pools;	/* this loop's idle connections (pool.h) */
	struct rt_group probes; /* this loop's health probes of the generation */
	unsigned refs;		/* requests and tasks of this loop holding the generation */
	bool adopted;		/* the loop switched to it (its pools exist) */
	bool released;
} __attribute__((aligned(64)));

struct gen {
	unsigned magic;
	uint64_t
	    id; /* 1 for the config the daemon started with, then +1 per reload or DNS change */
	struct config *cfg; /* a reference (config_hold): DNS changes share one config */
	/* [n_backends]: cfg's backends with every name's addresses as servers
	 * (spec "HOST:PORT (ADDR)", host borrowed from cfg); the rest of each
	 * is cfg's, borrowed. backends[i].cfg points here. */
	struct config_backend *bcfg;
	struct backend_rt *backends;
	size_t n_backends;
	unsigned nworkers;
	/* The cluster (cluster.h), when the config has one: its backend
	 * (the peers, without this node's own address), this node's id and
	 * name, and an id per server of that backend. */
	struct {
		bool on;
		bool self_known; /* false: not among discovery's addresses (yet) */
		unsigned backend;
		uint64_t self_id;
		char self_name[CLUSTER_ADDR_MAX];
		uint64_t *ids;
		char (*names)[CLUSTER_ADDR_MAX];
	} cluster;
	atomic_uint live; /* loops not yet released + 1 for the main thread */
	struct gen_slot *slots;
};

/* The addresses of the name (HOST, PORT) a server is written as, or NULL
 * while it never resolved (it has no server in the generation then). The
 * set need only live until gen_create returns. */
typedef const struct dns_set *(*gen_names_fn)(void *ctx, const char *host, uint16_t port);

/*
 * Build a generation (main thread) that takes over the caller's reference
 * to CFG, with NAMES(CTX, ...) giving the addresses of names (NULL: none
 * resolve). A backend's servers are its numeric ones and every address of
 * its names, in the order written; an address two entries give (a name
 * and an IP, two names) is one server, with the first one's weight. A
 * backend may end up with no server: its requests get 502 then. NULL on
 * ENOMEM (the reference is then still the caller's).
 */
struct gen *gen_create(struct config *cfg, gen_names_fn names, void *ctx, unsigned nworkers,
		       uint64_t id);

/* The main thread lets go of G (after every loop has switched away from it,
 * or at exit). */
void gen_unref_main(struct gen *g);

/* The main thread lets go of G for good, with the slots of every loop that
 * never adopted it or has ended (a reload that failed before G was posted;
 * exit, after the loops are joined). */
void gen_discard(struct gen *g);

/* Loop side. Hold the loop's current generation for a request or task. */
static inline struct gen *gen_hold(struct bloop *b)
{
	struct gen *g = b->gen;
	g->slots[b->id].refs++;
	return g;
}

/* A second hold on G from the same loop (a task spawned by a request). */
static inline void gen_hold_again(struct bloop *b, struct gen *g)
{
	g->slots[b->id].refs++;
}

/* Drop a hold; the last one on a generation the loop has left releases it. */
void gen_put(struct bloop *b, struct gen *g);

/*
 * On B's loop: make G current for new requests. Builds the loop's pools
 * for G and moves the idle connections of servers that G still has into
 * them, so a reload costs no reconnects. 0 or -ENOMEM (B keeps its old
 * generation; G is released for this loop).
 */
int gen_switch(struct bloop *b, struct gen *g);

/* At loop exit: release the loop's current generation (no holds left). */
void gen_leave(struct bloop *b);

#endif
