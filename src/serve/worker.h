/*
 * worker.h - one loop thread's serving state, and what all loops share.
 *
 * Each loop thread has a struct worker: its rt_loop, its backend side
 * (struct bloop: its slot in every configuration generation, the current
 * generation with its pools of idle backend connections, the draining
 * flag), its client connections, its fetch and encode tasks, its cached
 * connection buffers, its half of the access log and its counters. It is
 * written by its own thread only, so the request path takes no lock.
 * What the loops share (the store, the compression pool, the connection
 * count) is a struct serve_shared that the daemon owns.
 */
#ifndef RINGCACHE_SERVE_WORKER_H
#define RINGCACHE_SERVE_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "backend/gen.h"
#include "ops/metrics.h"
#include "rt/group.h"
#include "rt/loop.h"
#include "route/match.h"
#include "serve/membuf.h"

struct conn;
struct alog_loop;
struct rlog_ring;
struct store;
struct cpool;
struct dtier;
struct cluster_seen;

struct ratelimit;

struct serve_shared {
	struct store *store;	     /* shared by all loops */
	struct cpool *cpool;	     /* compression workers; NULL until compression is enabled */
	atomic_uint nconns;	     /* client connections, all loops */
	struct ratelimit *ratelimit; /* routes' rate limits, all loops (route/ratelimit.h) */
	struct dtier *disk;	     /* the disk tier (cache/dtier.h); NULL: memory only */
	struct cluster_seen *seen;   /* the near cache's doorkeeper (backend/cluster.h) */
};

#define WORKER_MAGIC 0x574b5231u

struct worker {
	unsigned magic;
	struct bloop be; /* id, current generation, draining; be.metrics is &metrics */
	struct rt_loop *loop;
	struct serve_shared *sh;
	struct conn *conns; /* doubly linked, for drain (conn.h) */
	size_t nconns;
	struct rt_group tasks;	     /* fetch and encode tasks: a forced drain cancels them */
	struct membuf_cache membufs; /* request state and buffers of served connections */
	struct alog_loop *alog;	     /* this loop's access log half; NULL: no access log */
	struct rlog_ring *rlog;	     /* this loop's request record ring (ops/rlog.h); NULL: none */
	uint64_t rec_seq;	     /* request records written: their ids */
	struct route_scratch *route; /* route matching's match data (route/match.h) */
	unsigned long long req_id_base, req_seq; /* request ids (${request_id}) */
	_Atomic uint64_t tunnels;		 /* open tunnels (serve/tunnel.h); stats reads it */
	struct metrics metrics;
};

/* Before the loop runs (any thread): W is loop ID's worker over SH. */
void worker_init(struct worker *w, unsigned id, struct serve_shared *sh);
/* After the loop ended: let go of what it kept (cached buffers). */
void worker_fini(struct worker *w);
/* The loop's idle trim (rt_loop_opts.on_idle, with W as its context):
 * cached connection mappings beyond a few give their pages back. */
void worker_idle(void *w);

/* On W's loop: drain the backend side. Probes stop, pooled backend
 * connections close, no connection goes back to a pool; connections see
 * be.draining and end after their current response (conn.h: conns_drain
 * closes the idle ones). */
void worker_drain(struct worker *w);
/* On W's loop, past the drain deadline: cancel every fetch and encode
 * task that is left (conns_force does the connections). */
void worker_force(struct worker *w);

#endif
