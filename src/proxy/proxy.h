/*
 * proxy.h - the process-wide proxy state and the per-loop workers.
 *
 * One struct proxy per process holds what the loops share: the newest
 * configuration generation (gen.h), the store, the compression pool, the
 * connection count, the table of listening sockets (listen.h). Each loop
 * thread has a struct worker: its rt_loop, its current generation (with
 * its pools of idle backend connections: per thread, no locks on the
 * request path), its acceptors and its client connections.
 *
 * Reload (proxy_reload, main thread): build a generation from the new
 * config and a listener table from the new addresses, then post both to
 * every loop and wait until each has switched; a failure at any step
 * before the post leaves everything as it was.
 */
#ifndef RINGCACHE_PROXY_PROXY_H
#define RINGCACHE_PROXY_PROXY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "ops/metrics.h"
#include "proxy/listen.h"
#include "rt/loop.h"
#include "rt/task.h"

struct client;
struct bpool;
struct gen;
struct acceptor;

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

struct worker {
	struct proxy *px;
	unsigned id;
	pthread_t thread;
	struct rt_loop *loop;
	struct gen *gen;	    /* current: new requests hold this one */
	struct acceptor *acceptors; /* listening sockets armed on this loop */
	struct client *clients;	    /* doubly linked, for drain */
	size_t nclients;
	struct fetch_node *fetches; /* running fetch tasks, for a forced drain */
	struct fetch_node *probes;  /* health probe tasks (health.c) */
	struct fetch_node *admins;  /* admin requests (admin.c), ended at drain */
	struct membuf *membufs;	    /* cached connection buffers (client.c) */
	struct alog_loop *alog;	    /* this loop's access log half; NULL: no access log */
	unsigned n_membufs;
	bool draining;
	struct rt_msg drain_msg;
	struct rt_msg force_msg;
	struct rt_msg hb_msg;	  /* watchdog ping (proxy_loops_alive) */
	atomic_bool hb_pending;	  /* posted and not yet run by the loop */
	struct rt_msg switch_msg; /* reload: adopt switch_gen and the listener table */
	struct gen *switch_gen;
	atomic_bool switch_pending; /* posted and not yet run */
	int start_err;
	struct metrics metrics;
};

struct store;
struct cpool;
struct alog;
struct alog_loop;

struct proxy {
	struct gen *gen;     /* the newest generation (main thread's reference) */
	uint64_t gen_seq;    /* ids given so far */
	struct store *store; /* shared by all loops */
	struct cpool *cpool; /* compression workers; NULL until compression is enabled */
	struct alog *alog;   /* the access log (log.access); NULL: none */
	atomic_uint nconns;  /* client connections, all loops */
	struct worker *workers;
	unsigned nworkers;
	struct listen_table listeners; /* main thread: the addresses now served */

	pthread_mutex_t lock; /* startup and reload handshakes, loop teardown */
	pthread_cond_t cond;
	unsigned started;
	unsigned switched;

	/* Reloads asked for through the admin API (admin.c), answered by the
	 * main thread: asked > done means one is waiting. */
	pthread_t main_thread;
	atomic_ulong reload_asked, reload_done;
	int reload_status;	  /* under lock: 0, or -errno of the last reload */
	uint64_t reload_gen;	  /* under lock: the generation running after it */
	char reload_errors[2048]; /* under lock: its error lines */
};

/* Open listeners, start one loop thread per cfg->threads. Takes CFG (also
 * on failure: proxy_free frees it). 0 or -errno (errors are logged). */
int proxy_start(struct proxy *px, struct config *cfg);

/* The newest configuration (main thread). */
const struct config *proxy_config(const struct proxy *px);

/*
 * Swap in CFG (main thread; takes it, also on failure). Keys that need a
 * restart (threads, compression.workers and .queue) keep their running
 * values, with a warning. 0, or -errno when a listener cannot be opened or
 * memory runs out: the running configuration then stays, untouched.
 */
int proxy_reload(struct proxy *px, struct config *cfg);

/* Stop accepting, let in-flight requests finish and close idle connections;
 * after TIMEOUT_NS cancel what is left. Joins the threads. */
void proxy_drain(struct proxy *px, uint64_t timeout_ns);

void proxy_free(struct proxy *px);

/* Doubly linked task lists: add the current task (N on its stack), remove. */
void task_list_add(struct fetch_node **head, struct fetch_node *n);
void task_list_del(struct fetch_node **head, struct fetch_node *n);

/* List the current task on W's fetches (a fetch_node on its stack) / take it off. */
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
