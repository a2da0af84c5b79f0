/*
 * fetch.h - the fetch task: one backend exchange that fills a cache object.
 *
 * A client that misses spawns a fetch task and waits on a fetch handle for
 * the response head; the task owns the key's busy flag, so concurrent
 * misses for the key wait in the store (coalescing) rather than on this
 * task. Once the head is in, the task publishes a stored object (every
 * waiter then streams it as it fills), refreshes a stale one from a 304, or
 * hands the requesting client a private pipe object when the response may
 * not be stored. The task keeps filling a stored object even if the
 * client that started it goes away. Background refreshes
 * (stale-while-revalidate) run the same task with no handle.
 *
 * Interim responses (RFC 9110 15.2: 102, 103 Early Hints and any other
 * 1xx but 100, which answers an Expect the proxy handles itself, and 101)
 * that arrive before the final head are queued on the handle for the
 * requesting client, which writes them to its socket between waits. They
 * are never stored: the stored response is the final one alone. Only
 * that client gets them (coalesced waiters wait in the store and get the
 * final response only), only if it speaks HTTP/1.1 and still waits, and
 * only FETCH_INTERIM_MAX of them per fetch, at most FETCH_INTERIM_QUEUED
 * (FETCH_INTERIM_BYTES) waiting at once: more are dropped, so a backend
 * cannot make the proxy hold or send more for a slow client.
 *
 * Handle, task and client live on the same loop: no locks.
 */
#ifndef RINGCACHE_SERVE_FETCH_H
#define RINGCACHE_SERVE_FETCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "backend/cluster.h"
#include "backend/exchange.h"
#include "cache/policy.h"
#include "cache/store.h"
#include "http/edits.h"
#include "serve/worker.h"

enum fetch_state { FH_PENDING, FH_READY, FH_FAILED };

#define FETCH_HANDLE_MAGIC 0x46484e44u

#define FETCH_INTERIM_MAX    16	   /* interim heads forwarded per fetch */
#define FETCH_INTERIM_QUEUED 4	   /* waiting for the client at once */
#define FETCH_INTERIM_BYTES  16384 /* their bytes waiting at once */

/* One interim response head, as it goes to the client (HTTP/1.1). */
struct fetch_interim {
	struct fetch_interim *next;
	size_t len;
	char head[];
};

struct fetch_handle {
	unsigned magic;
	int refs; /* the client and the task */
	enum fetch_state state;
	struct cobj *obj;	   /* READY: what to deliver (reference) */
	bool stored;		   /* obj is in the cache */
	bool revalidated;	   /* a 304 refreshed the stale object */
	bool stale_served;	   /* obj is the stale one (stale-if-error) */
	int fwd_status;		   /* the backend's status, 0 if none */
	int err_status;		   /* FAILED: 502 or 504 */
	const char *detail;	   /* why not stored, or what failed */
	char server[96];	   /* "BACKEND ADDRESS" that answered, for the access log */
	struct exchange_timing bx; /* for the request record (serve/record.h) */
	struct rt_task *waiter;
	/* Interim responses for the client: set by the client before the
	 * fetch starts (an HTTP/1.1 client), the queue filled by the task. */
	bool interim_ok;
	struct fetch_interim *interim, *interim_last; /* oldest first */
	unsigned interim_queued, interim_total;
	size_t interim_bytes;
};

/* A cluster forward (backend/cluster.h): the members to ask, in order
 * (server indexes of the cluster backend), before the origin; none: the
 * origin at once (this node owns the key, or a member forwarded it). */
struct fetch_peers {
	int server[CLUSTER_CHOICES];
	unsigned n;
	bool keep;	  /* a member's answer is kept here as a near-cache copy */
	int64_t near_ttl; /* its freshness left, capped (seconds) */
};

#define FETCH_ARGS_MAGIC 0x46415247u

struct fetch_args {
	unsigned magic;
	struct worker *w;
	struct gen *gen; /* the request's; fetch_start holds it for the task */
	unsigned backend;
	uint64_t connect_ns, first_byte_ns,
	    between_bytes_ns; /* a route's deadlines, 0: the backend's */
	char *req;	      /* a copy of the client's request head (malloc'd, owned) */
	/* What its route changes in the head the backend gets (route_buf:
	 * malloc'd, owned, holds target, host and the edits' strings). */
	char *route_buf;
	const char *target, *host; /* NULL: the request's */
	size_t target_len, host_len;
	bool has_edits;
	struct hedits edits;
	char *fwd_suffix; /* the route's part of the secondary key (malloc'd), or NULL */
	/* A proxy_protocol backend's PROXY header: the client and the address
	 * it connected to (family AF_UNSPEC: LOCAL). */
	struct sockaddr_storage client, local;
	size_t fwd_suffix_len;
	uint32_t req_len;
	char peer_ip[48];
	struct coh *oh;	    /* the busy key (owned) */
	struct cobj *stale; /* candidate to revalidate (owned reference) or NULL */
	struct policy_knobs knobs;
	uint64_t max_object_size;
	struct fetch_handle *fh; /* NULL for a background refresh */
	struct fetch_peers peers;
};

/* Start a fetch task on the current loop; takes ownership of A (malloc'd).
 * 0 or -ENOMEM (then A and what it owns are released). */
int fetch_start(struct fetch_args *a);

/* Fill O's head (status, fields, policy metadata RM, lifetime under K,
 * secondary key, tags) from final response RESP to request REQ, as a fetch
 * fills its own: for a response stored outside a fetch (a POST's under its
 * GET key, serve/poststore.h). FWD_SUFFIX is the route's part of the
 * secondary key (routing_key_part). SCRATCH holds CAP bytes. 0 or -ENOMEM. */
int fetch_fill_head(struct cobj *o, const struct hmsg *req, const struct hmsg *resp,
		    const struct resp_meta *rm, const struct policy_knobs *k,
		    const char *fwd_suffix, size_t fwd_suffix_len, char *scratch, uint32_t cap);

/* Wait for the handle to leave FH_PENDING or for an interim response to
 * be queued. 0, -ETIMEDOUT, -ECANCELED. */
int fetch_wait(struct fetch_handle *fh, rt_time_t deadline);
/* The oldest queued interim response (the caller frees it), or NULL. */
struct fetch_interim *fetch_interim_pop(struct fetch_handle *fh);
void fetch_handle_release(struct fetch_handle **fhp);

#endif
