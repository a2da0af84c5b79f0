/*
 * loop.h - one event loop per thread: an io_uring (or epoll, where io_uring
 * is refused), a run queue of tasks and an inbox for messages from other
 * threads.
 *
 * A loop is created on the thread that will run it (the ring is set up
 * SINGLE_ISSUER: only that thread may submit). rt_loop_run() runs tasks until
 * the loop is stopped and every task has finished. Other threads talk to a
 * loop only through rt_loop_post(), which queues a message under a mutex
 * and wakes the loop through an eventfd whose read the loop keeps armed.
 */
#ifndef RINGCACHE_RT_LOOP_H
#define RINGCACHE_RT_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt/clock.h"

struct rt_loop;

/*
 * Starvation watchdog: a task that runs longer than the budget between
 * two awaits holds up every other task of its loop. The loop times each
 * resumption; the first time a task overruns, on_slow_task is called (on
 * the loop thread, after the task switched away) with its name and how
 * long it ran, and every overrun is counted.
 */
typedef void (*rt_slow_task_fn)(int loop_id, const char *task_name, uint64_t ran_ns);

/*
 * The I/O backend of a loop. AUTO takes io_uring, and epoll when
 * io_uring_setup is refused with ENOSYS or EPERM (a seccomp profile:
 * Docker 25+, containerd 2, Kubernetes RuntimeDefault; the
 * kernel.io_uring_disabled sysctl; a kernel without io_uring). With
 * AUTO, the environment variable RINGCACHE_IO_BACKEND=epoll|io_uring
 * picks one instead (so test suites run on either); an explicit choice
 * is never overridden.
 */
enum rt_backend { RT_BACKEND_AUTO, RT_BACKEND_IO_URING, RT_BACKEND_EPOLL };

struct rt_loop_opts {
	unsigned entries;	      /* SQ size; 0 = default 4096 (CQ: 4x) */
	size_t stack_size;	      /* per task; 0 = default 64 KiB */
	size_t stack_cache;	      /* stacks kept for reuse; 0 = default 128 */
	int id;			      /* for logs */
	uint64_t watchdog_ns;	      /* task run budget; 0 = default 10 ms */
	rt_slow_task_fn on_slow_task; /* NULL: count only */
	/* When the loop has nothing to run, at most once a second: the upper
	 * layers give back memory their caches keep (see rt_loop_run). */
	void (*on_idle)(void *ctx);
	void *idle_ctx;
	enum rt_backend backend;
	/* Out, when not NULL: the io_uring_setup error (negative errno) that
	 * made an AUTO loop fall back to epoll, 0 when it did not. */
	int *uring_err;
};

struct rt_loop_stats {
	_Atomic uint64_t slow_tasks; /* resumptions over the budget */
	_Atomic uint64_t max_run_ns; /* longest resumption since the last reset */
	_Atomic uint64_t lag_ns;     /* longest scheduling round since the last reset */
};

/* LOOP's watchdog counters, from any thread; RESET_MAX zeroes the two
 * maxima after reading them (one scrape interval each). */
void rt_loop_stats_read(struct rt_loop *loop, uint64_t *slow_tasks, uint64_t *max_run_ns,
			uint64_t *lag_ns, bool reset_max);

/* Create a loop on the calling thread and make it the thread's current loop.
 * Returns NULL with errno-style code in *err on failure. */
struct rt_loop *rt_loop_create(const struct rt_loop_opts *opts, int *err);

/* Run until rt_loop_stop() was called and no task is left. Returns 0. */
int rt_loop_run(struct rt_loop *loop);

/* Ask the loop to return once its tasks are done; thread-safe. Does not
 * cancel tasks: whoever owns them decides how they end. */
void rt_loop_stop(struct rt_loop *loop);

/* "io_uring" or "epoll": what LOOP runs on. */
const char *rt_loop_backend(const struct rt_loop *loop);

/*
 * Why io_uring_setup may have answered ERR (a negative errno), and what
 * to do: one line for logs ("blocked by a seccomp profile (...) or
 * disabled by kernel.io_uring_disabled=2; ..."). Reads the sysctl.
 */
void rt_uring_explain(int err, char *out, size_t cap);

/* Destroy a loop that has returned from rt_loop_run(); NULLs *loopp. */
void rt_loop_destroy(struct rt_loop **loopp);

/* The loop of the calling thread, or NULL on a thread without one. */
struct rt_loop *rt_loop_current(void);
int rt_loop_id(const struct rt_loop *loop);
/* Number of tasks that exist on the loop (spawned and not yet finished). */
size_t rt_loop_ntasks(const struct rt_loop *loop);

/*
 * Cross-thread message. The sender owns the storage and must keep it alive
 * until fn has run on the target loop (usually it is embedded in a larger
 * object). fn runs on the loop thread, outside any task, and must not block.
 */
struct rt_msg {
	struct rt_msg *next;
	void (*fn)(struct rt_msg *msg);
};

/* Queue MSG for LOOP; callable from any thread, including LOOP's own. */
void rt_loop_post(struct rt_loop *loop, struct rt_msg *msg);

#endif
