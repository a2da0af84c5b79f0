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

#include "proxy/proxy.h"
#include "rt/clock.h"

struct bconn {
	int fd;
	unsigned backend, server;
	bool reused; /* came from the pool: may be stale */
};

/* Create the worker's pools (at thread start). 0 or -ENOMEM. */
int backend_pools_init(struct worker *w);
void backend_pools_free(struct worker *w);

/* Pick the next server of BACKEND round-robin. */
unsigned backend_pick(struct proxy *px, unsigned backend);

/* Get a connection to SERVER: from the pool unless FRESH, else connect
 * with DEADLINE. 0 or -errno (-ETIMEDOUT when the connect timed out). */
int backend_acquire(struct worker *w, unsigned backend, unsigned server, bool fresh,
		    struct bconn *out, rt_time_t deadline);

/* Give the connection back: pooled when REUSABLE and there is room, else
 * closed. Invalidates C->fd. */
void backend_release(struct worker *w, struct bconn *c, bool reusable);

#endif
