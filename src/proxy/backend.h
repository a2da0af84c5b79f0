/*
 * backend.h - backend servers: selection and pooled keep-alive connections.
 *
 * Pools are per worker (loop thread) and per server, so taking and returning
 * a connection is a few instructions and no lock. A pooled connection may
 * have been closed by the server while idle; the caller detects that on
 * first use and retries once on a fresh connection when the request is
 * safe to resend (see upstream.c).
 */
#ifndef RINGCACHE_PROXY_BACKEND_H
#define RINGCACHE_PROXY_BACKEND_H

#include <stdbool.h>

#include "http/msg.h"
#include "proxy/proxy.h"
#include "rt/clock.h"

struct gen;

struct bconn {
	struct gen *g; /* the generation whose pools and counters it belongs to */
	int fd;
	unsigned backend, server;
	bool reused; /* came from the pool: may be stale */
};

/* Create loop WID's pools for generation G (on that loop). 0 or -ENOMEM
 * (what was made is freed by backend_pools_free). */
int backend_pools_init(struct gen *g, unsigned wid);
/* Close loop WID's idle connections of G and free its pools. */
void backend_pools_free(struct gen *g, unsigned wid);
/* Move loop WID's idle connections from FROM's pools to TO's pools of the
 * servers with the same address (reload keeps warm connections). */
void backend_pools_move(struct gen *from, struct gen *to, unsigned wid);

/* Build B's selection state from its config (main thread, at start).
 * 0 or -ENOMEM. */
int backend_rt_init(struct backend_rt *b);
void backend_rt_free(struct backend_rt *b);

/*
 * Pick a server of BACKEND as its balance method says: round robin in
 * proportion to the weights (the smooth order nginx uses, so a weight-3
 * server is not hit three times in a row), the fewest exchanges in
 * progress per unit of weight, or consistent hashing of REQ's Host and
 * request-target (hashed only for this method) on a ring of 40 points per unit of weight, so adding
 * or removing a server moves only its share of the keys.
 */
unsigned backend_pick(struct gen *g, unsigned backend, const struct hmsg *req);

/* Get a connection to SERVER: from the pool unless FRESH, else connect
 * with DEADLINE. 0 or -errno (-ETIMEDOUT when the connect timed out).
 * Counts as an exchange in progress until backend_release. */
int backend_acquire(struct worker *w, struct gen *g, unsigned backend, unsigned server, bool fresh,
		    struct bconn *out, rt_time_t deadline);

/* Give the connection back: pooled when REUSABLE and there is room, else
 * closed. Invalidates C->fd. */
void backend_release(struct worker *w, struct bconn *c, bool reusable);

#endif
