/*
 * pool.h - pooled keep-alive connections to backend servers.
 *
 * Pools are per worker (loop thread) and per server, so taking and returning
 * a connection is a few instructions and no lock. An idle pooled
 * connection is watched (a poll armed in the ring, no task): bytes, EOF or
 * an error on it close it, because bytes nobody asked for would be read as
 * the response to the next request, from any client (response-queue
 * poisoning). Taking one from the pool asks the socket once more. A
 * connection goes back to a pool only when its exchange ended cleanly on
 * both sides (the callers' reuse verdict: request sent whole, response
 * complete with no byte past it, keep-alive, no response before the
 * request body was all sent). One may still have been closed by the
 * server an instant before use; the caller retries once on a fresh
 * connection when the request is safe to resend (see upstream.c).
 */
#ifndef RINGCACHE_BACKEND_POOL_H
#define RINGCACHE_BACKEND_POOL_H

#include <stdbool.h>

#include "backend/gen.h"
#include "rt/clock.h"

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
/* Drain: close B's idle connections now (releases after this close too). */
void backend_pools_close_idle(struct bloop *b);
/* Move loop WID's idle connections from FROM's pools to TO's pools of the
 * servers with the same address (reload keeps warm connections). */
void backend_pools_move(struct gen *from, struct gen *to, unsigned wid);

/* Get a connection to SERVER: from the pool unless FRESH, else connect
 * with DEADLINE. 0 or -errno (-ETIMEDOUT when the connect timed out).
 * Counts as an exchange in progress until backend_release. */
int backend_acquire(struct bloop *b, struct gen *g, unsigned backend, unsigned server, bool fresh,
		    struct bconn *out, rt_time_t deadline);

/* Give the connection back: pooled (and watched) when REUSABLE and there
 * is room, else closed. Invalidates C->fd. */
void backend_release(struct bloop *b, struct bconn *c, bool reusable);

/* A peek at FD that does not wait: 1 when the peer sent bytes, 0 when
 * nothing is there, -1 when it closed or failed. An exchange uses it to
 * notice a response that arrives before the request body was all sent. */
int backend_conn_peek(int fd);

/* SERVER of BACKEND sent bytes nobody asked for (after a complete
 * response, or on an idle connection): count it, say so once, and reuse
 * none of its connections for a minute (every exchange then has a fresh
 * one, which a stray cannot shift). */
void backend_unsolicited(struct bloop *b, struct gen *g, unsigned backend, unsigned server);

#endif
