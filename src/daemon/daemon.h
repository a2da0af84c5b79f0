/*
 * daemon.h - the process: its loop threads, start, reload, drain.
 *
 * One struct daemon per process holds what the loops share: the newest
 * configuration generation (backend/gen.h), what the serving side shares
 * (serve/worker.h: the store, the compression pool, the connection count)
 * and the table of listening sockets (listen.h). Each loop thread is a
 * struct dloop: its worker (serve/worker.h) plus what the daemon needs to
 * start, switch, ping and stop it, its acceptors and its admin requests.
 *
 * Reload (daemon_reload, main thread): build a generation from the new
 * config and a listener table from the new addresses, then post both to
 * every loop and wait until each has switched; a failure at any step
 * before the post leaves everything as it was.
 *
 * DNS (daemon_follow, main thread): servers written as names get their
 * addresses from the resolver (resolve.h); when a set changes, the main
 * thread makes a generation of the running config with the new sets and
 * switches the loops to it the same way.
 */
#ifndef RINGCACHE_DAEMON_DAEMON_H
#define RINGCACHE_DAEMON_DAEMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "daemon/listen.h"
#include "daemon/resolve.h"
#include "rt/group.h"
#include "rt/loop.h"
#include "ops/stats.h"
#include "serve/worker.h"

#define DLOOP_MAGIC 0x444c5031u

/* One loop thread. */
struct dloop {
	unsigned magic;
	struct worker w; /* the serving side: connections, tasks, counters */
	struct daemon *d;
	pthread_t thread;
	struct listen_loop acc; /* its acceptors (listen.h) */
	struct rt_group admins; /* admin requests (admin.c), ended at drain */
	struct rt_msg drain_msg;
	struct rt_msg force_msg;
	struct rt_msg hb_msg;	  /* watchdog ping (daemon_loops_alive) */
	atomic_bool hb_pending;	  /* posted and not yet run by the loop */
	struct rt_msg switch_msg; /* reload: adopt switch_gen and the listener table */
	struct gen *switch_gen;
	atomic_bool switch_pending; /* posted and not yet run */
	int start_err;
	bool loop_failed;    /* start_err came from rt_loop_create */
	int uring_err;	     /* io_uring_setup's refusal that made it epoll, or 0 */
	const char *backend; /* "io_uring" or "epoll" once started */
	/* Under the daemon's lock: the loop's lag and run-time maxima not yet
	 * seen by each reader of snapshots (daemon/stats.c). */
	uint64_t seen_lag_ns[STATS_READERS], seen_run_ns[STATS_READERS];
};

/* The dloop whose listener side LL is. */
static inline struct dloop *dloop_of(struct listen_loop *ll)
{
	return (struct dloop *)((char *)ll - offsetof(struct dloop, acc));
}

struct alog;
struct rlog_hub;
struct dash_snap;

/* The dashboard's stream subscribers (daemon/dash.c), used on loop 0
 * only, so no lock: here rather than in dash.h so that this header does
 * not include the admin routes above it. */
struct dash_hub {
	_Atomic unsigned subscribers;
	struct dash_snap *snap; /* NULL while nobody watches */
};

#define DAEMON_MAGIC 0x44414531u

struct daemon {
	unsigned magic;
	struct gen *gen;	/* the newest generation (main thread's reference) */
	uint64_t gen_seq;	/* ids given so far */
	struct serve_shared sh; /* the store, the compression pool, the connection count */
	struct alog *alog;	/* the access log (log.access); NULL: none */
	struct rlog_hub *rlog;	/* the request record rings, one per loop (ops/rlog.h) */
	/* Serves connections on the admin listener (set before daemon_start;
	 * daemon/admin.h's admin_accepted, or NULL: none). */
	void (*admin)(struct listen_loop *ll, int fd);
	struct dloop *loops;
	unsigned nloops;
	struct listen_table listeners; /* main thread: the addresses now served */
	struct resolve res;	       /* servers written as DNS names (resolve.h) */
	struct dash_hub dash;	       /* the dashboard's stream subscribers */
	uint64_t start_ns;	       /* rt_clock_now() at daemon_start: uptime */

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

/* Open listeners, start one loop thread per cfg->threads; ADMIN serves
 * connections on the admin listener (NULL: they are closed). Takes CFG
 * (also on failure: daemon_free frees it). 0 or -errno (errors are
 * logged). */
int daemon_start(struct daemon *d, struct config *cfg,
		 void (*admin)(struct listen_loop *ll, int fd));

/* The newest configuration (main thread). */
const struct config *daemon_config(const struct daemon *d);

/*
 * Swap in CFG (main thread; takes it, also on failure). Keys that need a
 * restart (threads, compression.workers and .queue) keep their running
 * values, with a warning. 0, or -errno when a listener cannot be opened or
 * memory runs out: the running configuration then stays, untouched.
 */
int daemon_reload(struct daemon *d, struct config *cfg);

/* Stop accepting, let in-flight requests finish and close idle connections;
 * after TIMEOUT_NS cancel what is left. Joins the threads. */
void daemon_drain(struct daemon *d, uint64_t timeout_ns);

void daemon_free(struct daemon *d);

/*
 * For the systemd watchdog, from the main thread: true when every loop has
 * run the ping posted by the previous call (a loop stuck in a task never
 * does); then posts the next ping. The first call has nothing to check:
 * it posts and returns true.
 */
bool daemon_loops_alive(struct daemon *d);

/*
 * Main thread, when resolve_due(&d->res) has come: take the address sets
 * the resolver posted and, when one changed, switch the loops to a
 * generation of the running config with them (requests in flight finish
 * on the old one). A loop still busy with the last switch, or no memory,
 * puts it off a second.
 */
void daemon_follow(struct daemon *d);

/* Between daemon.c and reload.c: make the compression pool when CFG is the
 * first config that enables compression (its size is fixed until restart). */
int daemon_ensure_cpool(struct daemon *d, const struct config *cfg);

#endif
