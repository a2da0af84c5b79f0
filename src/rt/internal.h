/*
 * internal.h - runtime internals shared by loop.c, task.c and io.c.
 * Nothing outside src/rt/ includes this.
 */
#ifndef RINGCACHE_RT_INTERNAL_H
#define RINGCACHE_RT_INTERNAL_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "rt/ctx.h"
#include "rt/group.h"
#include "rt/io.h"
#include "rt/loop.h"
#include "rt/stack.h"
#include "rt/task.h"

#define RT_TASK_MAGIC 0x5441534bu
#define RT_LOOP_MAGIC 0x4c4f4f50u

enum rt_task_state { T_NEW, T_RUNNABLE, T_RUNNING, T_WAITING, T_DONE };

struct rt_task {
	unsigned magic;
	enum rt_task_state state;
	struct ctx ctx;
	void *stack; /* NULL until first run: a task that never ran costs no stack */
	rt_task_fn fn;
	void *arg;
	const char *name;
	struct rt_loop *loop;
	struct rt_task *next; /* run queue or free list */
	bool cancelled;
	bool detached;
	bool reported_slow; /* the watchdog reports a task once */
	int wake_res;

	/* What the task waits on: an io op, or an rt_wait(). */
	struct rt_op *io_op;
	bool in_wait;
	rt_cancel_fn cancel_fn;
	void *cancel_arg;
	int wait_err; /* timeout/cancel seen while a wait could not abort */
	/* The deadline of the current await, in the loop's heap (deadline.c). */
	rt_time_t dl_at;
	uint32_t dl_idx; /* heap position; UINT32_MAX when not in the heap */
	bool timed_out;	 /* the deadline passed and cancelled io_op */

	struct rt_task *joiner;

	/* The group this task is a member of (group.c), or NULL; linked
	 * here so that membership allocates nothing. */
	struct rt_group *group;
	struct rt_group_link group_link;
};

struct rt_loop {
	unsigned magic;
	int id;
	struct io_uring ring; /* unused on epoll */
	struct rt_ep *ep;     /* the epoll backend (epoll.c); NULL: io_uring */
	struct ctx sched_ctx;
	struct rt_task *current;
	struct rt_task *runq_head, *runq_tail;
	struct stack_pool stacks;
	size_t ntasks;
	struct rt_task *free_tasks;
	size_t n_free_tasks;
	rt_time_t trimmed_at; /* last idle trim (rt_loop_run) */
	bool trim_pending;    /* a task ended since: its stack and record may be trimmed */
	void (*on_idle)(void *ctx);
	void *idle_ctx;
	unsigned internal_inflight; /* internal ops (deadline timer) still in the kernel */
	/* Deadlines: min-heap of waiting tasks, one kernel timeout (deadline.c). */
	struct rt_task **dl_heap;
	uint32_t dl_len, dl_cap;
	struct rt_op dl_op;
	struct __kernel_timespec dl_ts;
	rt_time_t dl_armed_at;
	bool dl_armed;
	unsigned nwatches; /* armed rt_watch records: the loop waits for them */
	bool closing;

	int efd;
	uint64_t efd_val;
	struct rt_op efd_op;
	pthread_mutex_t inbox_lock;
	struct rt_msg *inbox_head, *inbox_tail;
	atomic_bool wake_pending;
	bool local_pending; /* posted from our own thread: drain without eventfd */
	atomic_bool stop;

	uint64_t watchdog_cycles;
	rt_slow_task_fn on_slow_task;
	uint64_t max_run_cycles, published_run_cycles, lag_cycles; /* loop thread only */
	atomic_bool stats_reset;
	struct rt_loop_stats stats;
};

extern __thread struct rt_loop *rt_tls_loop;

/* Get an SQE, flushing the SQ when it is full; NEED slots are guaranteed
 * consecutive (an op and its linked timeout). */
struct io_uring_sqe *rt_sqe_get(struct rt_loop *loop, unsigned need);
void rt_runq_push(struct rt_loop *loop, struct rt_task *t);
/* Park the current task until rt_wake / its io op completes. */
int rt_park(void);
void rt_task_finish(struct rt_loop *loop, struct rt_task *t);
void rt_task_free(struct rt_loop *loop, struct rt_task *t);

/* loop.c: ask the kernel to cancel OP (its own CQE then reports it); the
 * cancel request itself carries no user_data. */
void rt_op_cancel(struct rt_loop *loop, struct rt_op *op);

/* deadline.c */
void rt_dl_init(struct rt_loop *l);
void rt_dl_free(struct rt_loop *l);
void rt_dl_arm(struct rt_loop *l, struct rt_task *t, rt_time_t at);
void rt_dl_disarm(struct rt_loop *l, struct rt_task *t);
/* The earliest deadline (RT_NEVER: none), and ending every wait whose
 * deadline is at or before NOW (the epoll backend's timer is these two). */
rt_time_t rt_dl_next(const struct rt_loop *l);
void rt_dl_expire(struct rt_loop *l, rt_time_t now);
/* task.c: end T's rt_wait with ERR (timeout or cancel). */
void rt_wait_abort(struct rt_task *t, int err);

/* group.c: T leaves its group (T->group != NULL). */
void rt_group_drop(struct rt_task *t);

#endif
