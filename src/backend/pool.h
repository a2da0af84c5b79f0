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
 * connection when the request is safe to resend (see backend/exchange.c).
 */
#ifndef RINGCACHE_BACKEND_POOL_H
#define RINGCACHE_BACKEND_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "backend/bloop.h"
#include "backend/pick.h"
#include "rt/clock.h"

/* One loop's idle connections of one generation: per backend, per server
 * (made with the loop's slot of the generation, gen.c). */
struct bpools;

/* Pools for BACKENDS[0..N) (a generation's selection state, which the
 * pools outlive never). NULL on ENOMEM. */
struct bpools *bpools_new(struct backend_rt *backends, size_t n);
/* Close every idle connection (through its watch; on the pools' loop)
 * and free the pools; NULLs *PSP. */
void bpools_free(struct bpools **psp);
/* Close the idle connections now (drain; releases after it close too). */
void bpools_close_idle(struct bpools *ps);
/* Move FROM's idle connections into TO's pools of the servers with the
 * same address (a reload keeps warm connections); close the rest. */
void bpools_move(struct bpools *from, struct bpools *to);

/* A connection taken for one exchange. */
struct bconn {
	struct bpools *pools;	/* where it came from and may go back to */
	struct backend_rt *brt; /* its backend: counters, health, config */
	int fd;
	unsigned backend, server;
	bool reused; /* came from the pool: may be stale */
};

/* Get a connection to SERVER of BACKEND: from PS unless FRESH, else
 * connect with DEADLINE. 0 or -errno (-ETIMEDOUT when the connect timed
 * out). Counts as an exchange in progress until backend_release. */
int backend_acquire(struct bloop *b, struct bpools *ps, unsigned backend, unsigned server,
		    bool fresh, struct bconn *out, rt_time_t deadline);

/* Give the connection back: pooled (and watched) when REUSABLE, there is
 * room, B is not draining and C came from B's current pools; else closed.
 * Invalidates C->fd. */
void backend_release(struct bloop *b, struct bconn *c, bool reusable);

/* A peek at FD that does not wait: 1 when the peer sent bytes, 0 when
 * nothing is there, -1 when it closed or failed. An exchange uses it to
 * notice a response that arrives before the request body was all sent. */
int backend_conn_peek(int fd);

/* SERVER of BRT sent bytes nobody asked for (after a complete response,
 * or on an idle connection): count it, say so once, and reuse none of its
 * connections for a minute (every exchange then has a fresh one, which a
 * stray cannot shift). */
void backend_unsolicited(struct bloop *b, struct backend_rt *brt, unsigned server);

#endif
