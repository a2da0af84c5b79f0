/*
 * backend.h - backend servers: selection and pooled keep-alive connections.
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
/* Drain: close W's idle connections now (releases after this close too). */
void backend_pools_close_idle(struct worker *w);
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
 * request-target (hashed only for this method) on a ring of 40 points per
 * unit of weight, so adding or removing a server moves only its share of
 * the keys. Servers the health probes marked down are skipped while any
 * other is up; servers whose bit is set in AVOID (those a request already
 * tried; servers past 64 cannot be avoided) are skipped always. Returns
 * the server, or -1 when AVOID leaves none.
 */
int backend_pick(struct gen *g, unsigned backend, const struct hmsg *req, uint64_t avoid);

/* Is METHOD idempotent (RFC 9110 9.2.2), so that a request that may have
 * reached a server can be sent again to another? */
bool backend_idempotent(unsigned method);

/*
 * One request's way through the servers: the first pick, a fresh
 * connection to the same server once when a pooled one turned out stale,
 * and up to the backend's `retries` other servers when one fails before
 * it answered (connect errors for any request; for idempotent requests
 * without a body also a send error, a close or a timeout before the
 * response head).
 */
struct backend_try {
	int server;
	uint64_t tried; /* servers tried (bit per server index < 64) */
	unsigned left;	/* other servers still allowed */
	bool fresh;	/* connect anew rather than take a pooled connection */
};

void backend_try_init(struct backend_try *t, struct gen *g, unsigned backend,
		      const struct hmsg *req);
/* Move T on to a server not tried yet; false when the retries or the
 * servers ran out. */
bool backend_try_next(struct backend_try *t, struct gen *g, unsigned backend,
		      const struct hmsg *req);

/* Get a connection to SERVER: from the pool unless FRESH, else connect
 * with DEADLINE. 0 or -errno (-ETIMEDOUT when the connect timed out).
 * Counts as an exchange in progress until backend_release. */
int backend_acquire(struct worker *w, struct gen *g, unsigned backend, unsigned server, bool fresh,
		    struct bconn *out, rt_time_t deadline);

/* Give the connection back: pooled (and watched) when REUSABLE and there
 * is room, else closed. Invalidates C->fd. */
void backend_release(struct worker *w, struct bconn *c, bool reusable);

/* A peek at FD that does not wait: 1 when the peer sent bytes, 0 when
 * nothing is there, -1 when it closed or failed. An exchange uses it to
 * notice a response that arrives before the request body was all sent. */
int backend_conn_peek(int fd);

/* SERVER of BACKEND sent bytes nobody asked for (after a complete
 * response, or on an idle connection): count it, say so once, and reuse
 * none of its connections for a minute (every exchange then has a fresh
 * one, which a stray cannot shift). */
void backend_unsolicited(struct worker *w, struct gen *g, unsigned backend, unsigned server);

#endif
