/*
 * proxy.h - the process-wide proxy state and the per-loop workers.
 *
 * One struct proxy per process holds the running config and what the loops
 * share (backend round-robin counters, the connection count). Each loop
 * thread has a struct worker: its rt_loop, its listening sockets (one
 * SO_REUSEPORT socket per listen address per worker, so the kernel spreads
 * connections over the loops), its accept tasks, its client connections
 * and its pools of idle backend connections (per thread: no locks on the
 * request path).
 */
#ifndef RINGCACHE_PROXY_PROXY_H
#define RINGCACHE_PROXY_PROXY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "ops/metrics.h"
#include "rt/loop.h"
#include "rt/task.h"

struct client;
struct bpool;

/* A running fetch (or encode) task, listed on its worker so a forced drain
 * can cancel it. */
struct fetch_node {
	struct fetch_node *prev, *next;
	struct rt_task *task;
};

struct backend_ring_pt {
	uint64_t hash;
	unsigned server;
};

/* A backend's shared selection state (backend.c), built at start. */
struct backend_rt {
	const struct config_backend *cfg;
	atomic_uint rr;	 /* round-robin position, shared by all loops */
	unsigned *sched; /* smooth weighted round-robin order of servers */
	unsigned sched_len;
	atomic_uint *active;	      /* exchanges in progress per server, all loops */
	struct backend_ring_pt *ring; /* consistent-hash points, sorted */
	size_t ring_len;
};

struct worker {
	struct proxy *px;
	unsigned id;
	pthread_t thread;
	struct rt_loop *loop;
	int *lfds; /* one per listen address */
	struct rt_task **accept_tasks;
	struct bpool ***pools;	/* [backend][server] */
	struct client *clients; /* doubly linked, for drain */
	size_t nclients;
	struct fetch_node *fetches; /* running fetch tasks, for a forced drain */
	struct membuf *membufs;	    /* cached connection buffers (client.c) */
	unsigned n_membufs;
	bool draining;
	struct rt_msg drain_msg;
	struct rt_msg force_msg;
	struct rt_msg hb_msg;	/* watchdog ping (proxy_loops_alive) */
	atomic_bool hb_pending; /* posted and not yet run by the loop */
	int start_err;
	struct metrics metrics;
};

struct store;
struct admin;
struct cpool;

struct proxy {
	const struct config *cfg;
	struct store *store; /* shared by all loops */
	struct cpool *cpool; /* compression workers; NULL when compression is off */
	struct admin *admin;
	struct backend_rt *backends;
	size_t n_backends;
	atomic_uint nconns; /* client connections, all loops */
	struct worker *workers;
	unsigned nworkers;

	pthread_mutex_t lock; /* startup handshake only */
	pthread_cond_t cond;
	unsigned started;
};

/* Open listeners, start one loop thread per cfg->threads. 0 or -errno
 * (errors are logged). */
int proxy_start(struct proxy *px, const struct config *cfg);

/* Stop accepting, let in-flight requests finish and close idle connections;
 * after TIMEOUT_NS cancel what is left. Joins the threads. */
void proxy_drain(struct proxy *px, uint64_t timeout_ns);

void proxy_free(struct proxy *px);

/* List the current task on W (a fetch_node on its stack) / take it off. */
void worker_task_link(struct worker *w, struct fetch_node *n);
void worker_task_unlink(struct worker *w, struct fetch_node *n);

/*
 * For the systemd watchdog, from the main thread: true when every loop has
 * run the ping posted by the previous call (a loop stuck in a task never
 * does); then posts the next ping. The first call has nothing to check:
 * it posts and returns true.
 */
bool proxy_loops_alive(struct proxy *px);

#endif
