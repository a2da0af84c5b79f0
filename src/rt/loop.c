/* loop.c - per-thread event loop: ring setup, scheduling rounds, CQE reaping, inbox. */
#include "rt/epoll.h"
#include "rt/internal.h"
#include "rt/obj.h"

#include <assert.h>
#include <malloc.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <x86intrin.h>

/* The watchdog times resumptions with the TSC: two clock_gettime calls per
 * task switch would cost more than the switch itself under a hypervisor
 * clock. The TSC rate is measured once against CLOCK_MONOTONIC. */
static double tsc_per_ns;

static void tsc_calibrate(void)
{
	rt_time_t t0 = rt_clock_now(), t1;
	uint64_t c0 = __rdtsc();
	while ((t1 = rt_clock_now()) - t0 < 2 * RT_MS)
		;
	tsc_per_ns = (double)(__rdtsc() - c0) / (double)(t1 - t0);
	if (tsc_per_ns <= 0)
		tsc_per_ns = 1;
}

static uint64_t cycles_to_ns(uint64_t c)
{
	return (uint64_t)((double)c / tsc_per_ns);
}

__thread struct rt_loop *rt_tls_loop;

struct rt_loop *rt_loop_current(void)
{
	return rt_tls_loop;
}

int rt_loop_id(const struct rt_loop *loop)
{
	return loop->id;
}

size_t rt_loop_ntasks(const struct rt_loop *loop)
{
	return loop->ntasks;
}

static int ring_init(struct rt_loop *loop, unsigned entries)
{
	struct io_uring_params p;
	/* SINGLE_ISSUER + DEFER_TASKRUN: completions are processed only when
	 * this thread enters the kernel to wait, so no IPI or task_work
	 * interrupts the tasks while they run. Older kernels fall back. */
	const unsigned tries[] = {
	    IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
	    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
	    0,
	};
	int r = -EINVAL;
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		memset(&p, 0, sizeof(p));
		p.flags = tries[i] | IORING_SETUP_CQSIZE;
		p.cq_entries = entries * 4;
		r = io_uring_queue_init_params(entries, &loop->ring, &p);
		if (r == 0) {
			/* A registered ring fd spares io_uring_enter the fd table
			 * lookup and reference on every call; optional. */
			io_uring_register_ring_fd(&loop->ring);
			return 0;
		}
		if (r != -EINVAL)
			break;
	}
	return r;
}

static void inbox_drain(struct rt_loop *loop)
{
	pthread_mutex_lock(&loop->inbox_lock);
	struct rt_msg *m = loop->inbox_head;
	loop->inbox_head = loop->inbox_tail = NULL;
	pthread_mutex_unlock(&loop->inbox_lock);
	while (m) {
		struct rt_msg *next = m->next;
		m->next = NULL;
		m->fn(m); /* may free m */
		m = next;
	}
}

static void efd_arm(struct rt_loop *loop)
{
	if (loop->ep) {
		rt_ep_arm_internal(loop, loop->efd, &loop->efd_op);
		return;
	}
	struct io_uring_sqe *sqe = rt_sqe_get(loop, 1);
	io_uring_prep_read(sqe, loop->efd, &loop->efd_val, sizeof(loop->efd_val), 0);
	io_uring_sqe_set_data(sqe, &loop->efd_op);
}

static void efd_on_cqe(struct rt_op *op, int res, unsigned flags)
{
	struct rt_loop *loop = (struct rt_loop *)((char *)op - offsetof(struct rt_loop, efd_op));
	if (loop->ep) { /* readiness only: take the count (the ring's read did) */
		ssize_t n = read(loop->efd, &loop->efd_val, sizeof(loop->efd_val));
		(void)n; /* EAGAIN: another wake-up took it; nothing is lost */
	}
	/* Clear before draining: a post that lands after the drain sees
	 * false and writes the eventfd again, so no message is stranded. */
	atomic_store(&loop->wake_pending, false);
	inbox_drain(loop);
	if (!loop->closing)
		efd_arm(loop);
}

struct rt_loop *rt_loop_create(const struct rt_loop_opts *opts, int *err)
{
	struct rt_loop_opts o = {0};
	if (opts)
		o = *opts;
	if (!o.entries)
		o.entries = 4096;
	if (!o.stack_size)
		o.stack_size = 64 * 1024;
	if (!o.stack_cache)
		o.stack_cache = 128;

	assert(rt_tls_loop == NULL);
	struct rt_loop *loop = calloc(1, sizeof(*loop));
	if (!loop) {
		*err = -ENOMEM;
		return NULL;
	}
	loop->magic = RT_LOOP_MAGIC;
	loop->id = o.id;
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, tsc_calibrate);
	loop->watchdog_cycles =
	    (uint64_t)((double)(o.watchdog_ns ? o.watchdog_ns : 10 * RT_MS) * tsc_per_ns);
	loop->on_slow_task = o.on_slow_task;
	loop->on_idle = o.on_idle;
	loop->idle_ctx = o.idle_ctx;
	loop->trimmed_at = rt_clock_now();
	enum rt_backend b = o.backend;
	if (b == RT_BACKEND_AUTO) {
		const char *env = getenv("RINGCACHE_IO_BACKEND");
		if (env && !strcmp(env, "epoll"))
			b = RT_BACKEND_EPOLL;
		else if (env && !strcmp(env, "io_uring"))
			b = RT_BACKEND_IO_URING;
	}
	if (o.uring_err)
		*o.uring_err = 0;
	int r = -ENOSYS;
	if (b != RT_BACKEND_EPOLL) {
		r = ring_init(loop, o.entries);
		if (r < 0 && b == RT_BACKEND_AUTO && (r == -ENOSYS || r == -EPERM)) {
			if (o.uring_err)
				*o.uring_err = r;
			b = RT_BACKEND_EPOLL; /* refused, not broken: the fallback */
		} else if (r < 0) {
			free(loop);
			*err = r;
			return NULL;
		}
	}
	if (b == RT_BACKEND_EPOLL && (r = rt_ep_init(loop)) < 0) {
		free(loop);
		*err = r;
		return NULL;
	}
	/* Non-blocking on epoll: its read follows readiness, and a wake-up
	 * that another took must not block the loop. */
	loop->efd = eventfd(0, EFD_CLOEXEC | (loop->ep ? EFD_NONBLOCK : 0));
	if (loop->efd < 0) {
		*err = -errno;
		if (loop->ep)
			rt_ep_fini(loop);
		else
			io_uring_queue_exit(&loop->ring);
		free(loop);
		return NULL;
	}
	pthread_mutex_init(&loop->inbox_lock, NULL);
	loop->efd_op.on_cqe = efd_on_cqe;
	rt_dl_init(loop);
	stack_pool_init(&loop->stacks, o.stack_size, o.stack_cache);
	rt_tls_loop = loop;
	efd_arm(loop);
	return loop;
}

void rt_loop_post(struct rt_loop *loop, struct rt_msg *msg)
{
	CHECK_OBJ_NOTNULL(loop, RT_LOOP_MAGIC);
	msg->next = NULL;
	pthread_mutex_lock(&loop->inbox_lock);
	if (loop->inbox_tail)
		loop->inbox_tail->next = msg;
	else
		loop->inbox_head = msg;
	loop->inbox_tail = msg;
	pthread_mutex_unlock(&loop->inbox_lock);
	if (rt_tls_loop == loop) {
		loop->local_pending = true; /* drained by our next round */
		return;
	}
	if (!atomic_exchange(&loop->wake_pending, true)) {
		uint64_t one = 1;
		/* An eventfd write never blocks unless the counter is near
		 * 2^64, and this thread is not a loop thread for LOOP. */
		ssize_t w = write(loop->efd, &one, sizeof(one));
		(void)w;
	}
}

void rt_loop_stop(struct rt_loop *loop)
{
	atomic_store(&loop->stop, true);
	if (rt_tls_loop != loop && !atomic_exchange(&loop->wake_pending, true)) {
		uint64_t one = 1;
		ssize_t w = write(loop->efd, &one, sizeof(one));
		(void)w;
	}
}

const char *rt_loop_backend(const struct rt_loop *loop)
{
	return loop->ep ? "epoll" : "io_uring";
}

void rt_uring_explain(int err, char *out, size_t cap)
{
	int disabled = -1;
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "re");
	if (f) {
		if (fscanf(f, "%d", &disabled) != 1)
			disabled = -1;
		fclose(f);
	}
	if (disabled == 2)
		snprintf(
		    out, cap,
		    "io_uring_setup: %s: io_uring is disabled by the kernel.io_uring_disabled=2 "
		    "sysctl; set it to 0, or use io.backend: epoll",
		    strerror(-err));
	else if (disabled == 1 && err == -EPERM)
		snprintf(out, cap,
			 "io_uring_setup: %s: kernel.io_uring_disabled=1 allows io_uring only to "
			 "the group in kernel.io_uring_group; add the user to it, or use "
			 "io.backend: epoll",
			 strerror(-err));
	else if (err == -EPERM || err == -ENOSYS)
		snprintf(out, cap,
			 "io_uring_setup: %s: most likely a seccomp profile that does not allow "
			 "io_uring (Docker 25+, containerd 2, Kubernetes RuntimeDefault; podman "
			 "answers ENOSYS)%s; run with the shipped docker/seccomp.json, or use "
			 "io.backend: epoll",
			 strerror(-err), err == -ENOSYS ? ", or a kernel without io_uring" : "");
	else
		snprintf(out, cap, "io_uring_setup: %s", strerror(-err));
}

struct io_uring_sqe *rt_sqe_get(struct rt_loop *loop, unsigned need)
{
	assert(!loop->ep); /* the epoll backend has no ring */
	for (;;) {
		if (io_uring_sq_space_left(&loop->ring) >= need) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);
			assert(sqe);
			return sqe;
		}
		/* The SQ is full: hand it to the kernel now. */
		io_uring_submit(&loop->ring);
	}
}

void rt_op_cancel(struct rt_loop *loop, struct rt_op *op)
{
	if (loop->ep) {
		rt_ep_cancel(loop, op);
		return;
	}
	struct io_uring_sqe *sqe = rt_sqe_get(loop, 1);
	io_uring_prep_cancel64(sqe, (__u64)(uintptr_t)op, 0);
	io_uring_sqe_set_data(sqe, NULL);
}

/*
 * Reap up to RT_REAP_MAX CQEs, then advance once (batch). Waking only
 * queues tasks; none runs until the batch is done. The cap bounds a round:
 * SQEs go to the kernel at the end of a round, so with thousands of
 * completions in one batch the first task's reply would wait for all the
 * others to run (tail latency at 10,000 connections); the rest of the CQ
 * is reaped next round.
 */
#define RT_REAP_MAX 256

static unsigned reap(struct rt_loop *loop)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	io_uring_for_each_cqe(&loop->ring, head, cqe)
	{
		struct rt_op *op = io_uring_cqe_get_data(cqe);
		if (n == RT_REAP_MAX)
			break;
		n++;
		if (!op)
			continue; /* linked timeouts, cancel requests */
		op->res = cqe->res;
		op->flags = cqe->flags;
		if (op->task) {
			struct rt_task *t = op->task;
			assert(t->state == T_WAITING);
			t->wake_res = cqe->res;
			rt_runq_push(loop, t);
		} else {
			op->on_cqe(op, cqe->res, cqe->flags);
		}
	}
	io_uring_cq_advance(&loop->ring, n);
	return n;
}

/* Run the tasks that are runnable now; tasks woken meanwhile wait for the
 * next round so that I/O completions are reaped between rounds. */
static void slow_task(struct rt_loop *loop, struct rt_task *t, uint64_t cycles)
{
	atomic_fetch_add_explicit(&loop->stats.slow_tasks, 1, memory_order_relaxed);
	if (t->reported_slow)
		return;
	t->reported_slow = true;
	if (loop->on_slow_task)
		loop->on_slow_task(loop->id, t->name, cycles_to_ns(cycles));
}

void rt_loop_stats_read(struct rt_loop *loop, uint64_t *slow_tasks, uint64_t *max_run_ns,
			uint64_t *lag_ns, bool reset_max)
{
	*slow_tasks = atomic_load_explicit(&loop->stats.slow_tasks, memory_order_relaxed);
	if (reset_max) {
		*max_run_ns =
		    atomic_exchange_explicit(&loop->stats.max_run_ns, 0, memory_order_relaxed);
		*lag_ns = atomic_exchange_explicit(&loop->stats.lag_ns, 0, memory_order_relaxed);
		atomic_store_explicit(&loop->stats_reset, true, memory_order_relaxed);
	} else {
		*max_run_ns = atomic_load_explicit(&loop->stats.max_run_ns, memory_order_relaxed);
		*lag_ns = atomic_load_explicit(&loop->stats.lag_ns, memory_order_relaxed);
	}
}

static void run_ready(struct rt_loop *loop)
{
	struct rt_task *t = loop->runq_head;
	loop->runq_head = loop->runq_tail = NULL;
	while (t) {
		struct rt_task *next = t->next;
		t->next = NULL;
		CHECK_OBJ_NOTNULL(t, RT_TASK_MAGIC);
		assert(t->state == T_RUNNABLE);
		if (!t->stack) {
			t->stack = stack_get(&loop->stacks);
			if (!t->stack) {
				/* Out of stacks (map count or memory): retry next round. */
				rt_runq_push(loop, t);
				t = next;
				continue;
			}
			extern void rt_task_entry(void *);
			ctx_make(&t->ctx, t->stack, loop->stacks.size, rt_task_entry, t);
		}
		t->state = T_RUNNING;
		loop->current = t;
		uint64_t c0 = __rdtsc();
		ctx_switch(&loop->sched_ctx, &t->ctx);
		uint64_t ran = __rdtsc() - c0;
		loop->current = NULL;
		if (ran > loop->watchdog_cycles)
			slow_task(loop, t, ran);
		if (ran > loop->max_run_cycles)
			loop->max_run_cycles = ran;
		if (t->state == T_DONE)
			rt_task_finish(loop, t);
		t = next;
	}
}

/* Stacks and task records kept warm through an idle trim: a loop's
 * steady concurrency is served from these without a fault. */
#define TRIM_KEEP_STACKS 16
#define TRIM_KEEP_TASKS	 64

/*
 * Nothing to run: give back what a burst left in the caches, at most once
 * a second (a burst of thousands of connections leaves thousands of task
 * records and up to the cache's worth of touched stacks, held for good
 * otherwise: the figure an idle connection costs is mostly this). The
 * upper layers trim theirs in on_idle.
 */
/* Returns how long the loop may wait before the trim it had to put off
 * (0: none is due). */
static uint64_t idle_trim(struct rt_loop *loop)
{
	rt_time_t now = rt_clock_now();
	if (now - loop->trimmed_at < RT_SEC) {
		/* Put off: wake up for it if there is anything to give back,
		 * or a burst's leftovers stay until the next event. */
		return loop->trim_pending ? RT_SEC - (now - loop->trimmed_at) : 0;
	}
	loop->trimmed_at = now;
	loop->trim_pending = false;
	stack_pool_trim(&loop->stacks, TRIM_KEEP_STACKS);
	bool freed = false;
	while (loop->n_free_tasks > TRIM_KEEP_TASKS) {
		struct rt_task *t = loop->free_tasks;
		loop->free_tasks = t->next;
		loop->n_free_tasks--;
		free(t);
		freed = true;
	}
	if (loop->on_idle)
		loop->on_idle(loop->idle_ctx);
	/* Freed records sit between live ones in the heap: only whole free
	 * pages go back, and only when asked. */
	if (freed)
		malloc_trim(0);
	return 0;
}

int rt_loop_run(struct rt_loop *loop)
{
	assert(rt_tls_loop == loop);
	unsigned idle_rounds = 0;
	for (;;) {
		if (loop->local_pending) {
			loop->local_pending = false;
			inbox_drain(loop);
		}
		uint64_t r0 = __rdtsc();
		run_ready(loop);
		/* Loop lag: how long the tasks of one round kept the loop from
		 * looking at new completions. Published as ns for readers on
		 * other threads. */
		uint64_t round = __rdtsc() - r0;
		if (round > loop->lag_cycles) {
			loop->lag_cycles = round;
			atomic_store_explicit(&loop->stats.lag_ns, cycles_to_ns(round),
					      memory_order_relaxed);
		}
		if (loop->max_run_cycles > loop->published_run_cycles) {
			loop->published_run_cycles = loop->max_run_cycles;
			atomic_store_explicit(&loop->stats.max_run_ns,
					      cycles_to_ns(loop->max_run_cycles),
					      memory_order_relaxed);
		}
		if (atomic_exchange_explicit(&loop->stats_reset, false, memory_order_relaxed))
			loop->lag_cycles = loop->max_run_cycles = loop->published_run_cycles = 0;
		if (atomic_load(&loop->stop) && loop->ntasks == 0 && loop->nwatches == 0)
			break;
		if (loop->ep) {
			/* The same rhythm on epoll: with tasks ready, look for
			 * events every few rounds (queued completions are
			 * dispatched every round, they cost no syscall). */
			if (loop->runq_head || loop->local_pending) {
				if (++idle_rounds >= 8 || rt_ep_pending(loop)) {
					rt_ep_poll(loop, 0);
					idle_rounds = 0;
				}
			} else {
				uint64_t wait_ns = idle_trim(loop);
				rt_ep_poll(loop, wait_ns ? wait_ns : RT_NEVER);
				idle_rounds = 0;
			}
			continue;
		}
		if (loop->runq_head || loop->local_pending) {
			/* Tasks are ready: enter the kernel only to submit, or
			 * every few rounds to collect completions, since each
			 * io_uring_enter costs a syscall (about 1 us under PTI). */
			if (io_uring_sq_ready(&loop->ring) || ++idle_rounds >= 8) {
				io_uring_submit_and_get_events(&loop->ring);
				idle_rounds = 0;
			}
		} else {
			uint64_t wait_ns = idle_trim(loop);
			if (wait_ns) {
				struct __kernel_timespec ts = {
				    .tv_sec = (long long)(wait_ns / RT_SEC),
				    .tv_nsec = (long long)(wait_ns % RT_SEC)};
				struct io_uring_cqe *cqe;
				io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, &ts, NULL);
			} else {
				io_uring_submit_and_wait(&loop->ring, 1);
			}
			idle_rounds = 0;
		}
		reap(loop);
	}
	return 0;
}

void rt_loop_destroy(struct rt_loop **loopp)
{
	struct rt_loop *loop = *loopp;
	if (!loop)
		return;
	*loopp = NULL;
	CHECK_OBJ_NOTNULL(loop, RT_LOOP_MAGIC);
	assert(loop->ntasks == 0);
	loop->closing = true;
	if (loop->ep) {
		inbox_drain(loop);
		rt_ep_fini(loop);
		goto freed_backend;
	}
	/* Internal ops own heap records: cancel them all and wait for their
	 * CQEs so that nothing is freed while the kernel still holds it. */
	struct io_uring_sqe *sqe = rt_sqe_get(loop, 1);
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY | IORING_ASYNC_CANCEL_ALL);
	io_uring_sqe_set_data(sqe, NULL);
	io_uring_submit(&loop->ring);
	while (loop->internal_inflight > 0) {
		io_uring_submit_and_wait(&loop->ring, 1);
		reap(loop);
	}
	inbox_drain(loop);
	io_uring_queue_exit(&loop->ring);
freed_backend:
	close(loop->efd);
	while (loop->free_tasks) {
		struct rt_task *t = loop->free_tasks;
		loop->free_tasks = t->next;
		free(t);
	}
	stack_pool_destroy(&loop->stacks);
	rt_dl_free(loop);
	pthread_mutex_destroy(&loop->inbox_lock);
	loop->magic = 0;
	if (rt_tls_loop == loop)
		rt_tls_loop = NULL;
	free(loop);
}
