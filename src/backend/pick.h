/*
 * pick.h - choosing a backend server: balance methods, health, retries.
 *
 * A backend's selection state (struct backend_rt) is built with its
 * configuration generation (gen.h) and shared by all loops: the
 * round-robin position and the per-server counts of exchanges in
 * progress are relaxed atomics, the health flags are written by the one
 * probe task of each server (health.h).
 */
#ifndef RINGCACHE_BACKEND_PICK_H
#define RINGCACHE_BACKEND_PICK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "http/msg.h"

struct backend_ring_pt {
	uint64_t hash;
	unsigned server;
};

/* A server's health (health.c): DOWN is read by every loop's picks; the
 * runs are written only by the server's one probe task. */
struct server_health {
	atomic_bool down;
	_Atomic unsigned oks, fails; /* good / failed probes in a row (atomic: a reload
				      * copies them from the main thread) */
	_Atomic uint64_t failed_probes;
	/* rt_clock time until which its connections are not reused: it sent
	 * bytes nobody asked for (backend.c). */
	_Atomic uint64_t no_reuse_until;
	/* Passive health (backend_passive_*): failed real requests within
	 * fail_window, and the rt_clock time until which max_fails of them
	 * keep the server out of rotation. Racy on purpose: a count that is
	 * off by one under contention changes nothing that matters. */
	_Atomic unsigned pfails;
	_Atomic uint64_t pwindow_start, out_until;
};

/* A backend's shared selection state (backend.c), built with its
 * generation. */
struct backend_rt {
	const struct config_backend *cfg;
	atomic_uint rr;	 /* round-robin position, shared by all loops */
	unsigned *sched; /* smooth weighted round-robin order of servers */
	unsigned sched_len;
	atomic_uint *active;	      /* exchanges in progress per server, all loops */
	struct backend_ring_pt *ring; /* consistent-hash points, sorted */
	size_t ring_len;
	struct server_health *health; /* per server */
};

/* Build B's selection state from its config (main thread, at start).
 * 0 or -ENOMEM. */
int backend_rt_init(struct backend_rt *b);
void backend_rt_free(struct backend_rt *b);

/*
 * Pick a server of B as its balance method says: round robin in
 * proportion to the weights (the smooth order nginx uses, so a weight-3
 * server is not hit three times in a row), the fewest exchanges in
 * progress per unit of weight, or consistent hashing of REQ's Host and
 * request-target (hashed only for this method) on a ring of 40 points per
 * unit of weight, so adding or removing a server moves only its share of
 * the keys. Servers the health probes marked down are skipped while any
 * other is up; servers whose bit is set in AVOID (those a request already
 * tried; servers past 64 cannot be avoided) are skipped always. Returns
 * the server, or -1 when AVOID leaves none or B has none (its names do
 * not resolve yet).
 */
int backend_pick(struct backend_rt *b, const struct hmsg *req, uint64_t avoid);

/*
 * Passive health, nginx's max_fails / fail_timeout: a real request that
 * failed on SERVER (connect error, reset, timeout, malformed response, a
 * 5xx with fail_on_5xx) counts; max_fails of them within fail_window take
 * it out of rotation for fail_timeout, like a probe's "down" (servers out
 * are skipped while another is in). NOW is rt_clock time. Returns true
 * when this failure took it out (the caller logs it). With max_fails 0,
 * or a backend of one server, nothing is counted.
 */
bool backend_passive_fail(struct backend_rt *b, unsigned server, uint64_t now);
/* Is SERVER out of rotation by passive health at NOW? */
bool backend_passive_out(const struct backend_rt *b, unsigned server, uint64_t now);

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

void backend_try_init(struct backend_try *t, struct backend_rt *b, const struct hmsg *req);
/* T for SERVER alone: no other server is tried (the caller has its own
 * order: a cluster's failover, cluster.h); the fresh connection after a
 * stale pooled one still is. */
void backend_try_pin(struct backend_try *t, unsigned server);
/* Move T on to a server not tried yet; false when the retries or the
 * servers ran out. */
bool backend_try_next(struct backend_try *t, struct backend_rt *b, const struct hmsg *req);

#endif
