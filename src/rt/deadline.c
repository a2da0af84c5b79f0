/*
 * deadline.c - the loop's deadlines: a binary min-heap of waiting tasks and
 * one kernel timeout armed for the earliest (on epoll, epoll_wait's
 * timeout is the earliest instead: epoll.c).
 *
 * Every await with a deadline used to arm a timer in the kernel (a linked
 * timeout per I/O operation, an IORING_OP_TIMEOUT plus its removal per
 * rt_wait), which the kernel had to set up and tear down on every request.
 * Deadlines are mostly far away and almost never fire, so the loop keeps
 * them itself: arming and disarming are heap operations in user space, and
 * the kernel holds a single timeout for the earliest one. When it fires,
 * the expired waits end: an I/O operation is cancelled (its task then sees
 * -ETIMEDOUT), an rt_wait is aborted.
 */
#include "rt/internal.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#define DL_NONE UINT32_MAX

static void dl_set(struct rt_loop *l, uint32_t i, struct rt_task *t)
{
	l->dl_heap[i] = t;
	t->dl_idx = i;
}

static void dl_up(struct rt_loop *l, uint32_t i)
{
	struct rt_task *t = l->dl_heap[i];
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (l->dl_heap[p]->dl_at <= t->dl_at)
			break;
		dl_set(l, i, l->dl_heap[p]);
		i = p;
	}
	dl_set(l, i, t);
}

static void dl_down(struct rt_loop *l, uint32_t i)
{
	struct rt_task *t = l->dl_heap[i];
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= l->dl_len)
			break;
		if (c + 1 < l->dl_len && l->dl_heap[c + 1]->dl_at < l->dl_heap[c]->dl_at)
			c++;
		if (t->dl_at <= l->dl_heap[c]->dl_at)
			break;
		dl_set(l, i, l->dl_heap[c]);
		i = c;
	}
	dl_set(l, i, t);
}

static void dl_remove_at(struct rt_loop *l, uint32_t i)
{
	struct rt_task *t = l->dl_heap[i];
	t->dl_idx = DL_NONE;
	struct rt_task *last = l->dl_heap[--l->dl_len];
	if (i == l->dl_len)
		return;
	dl_set(l, i, last);
	dl_up(l, i);
	dl_down(l, last->dl_idx);
}

/* Keep one kernel timeout armed at or before the earliest deadline. */
static void dl_kernel_arm(struct rt_loop *l)
{
	/* On epoll the heap's top is epoll_wait's timeout: no kernel timer. */
	if (!l->dl_len || l->closing || l->ep)
		return;
	rt_time_t at = l->dl_heap[0]->dl_at;
	if (l->dl_armed && l->dl_armed_at <= at)
		return; /* it fires first, then re-arms for what is left */
	l->dl_ts.tv_sec = (long long)(at / RT_SEC);
	l->dl_ts.tv_nsec = (long long)(at % RT_SEC);
	struct io_uring_sqe *sqe = rt_sqe_get(l, 1);
	if (l->dl_armed) {
		io_uring_prep_timeout_update(sqe, &l->dl_ts, (__u64)(uintptr_t)&l->dl_op,
					     IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data(sqe, NULL);
	} else {
		io_uring_prep_timeout(sqe, &l->dl_ts, 0, IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data(sqe, &l->dl_op);
		l->dl_armed = true;
		l->internal_inflight++;
	}
	l->dl_armed_at = at;
}

/* The deadline of T passed while it waits. */
static void dl_expire(struct rt_loop *l, struct rt_task *t)
{
	if (t->state != T_WAITING)
		return; /* its wait ended in this same batch of completions */
	if (t->io_op) {
		t->timed_out = true;
		rt_op_cancel(l, t->io_op);
	} else if (t->in_wait) {
		rt_wait_abort(t, -ETIMEDOUT);
	}
}

static void dl_on_cqe(struct rt_op *op, int res, unsigned flags)
{
	struct rt_loop *l = (struct rt_loop *)((char *)op - offsetof(struct rt_loop, dl_op));
	l->dl_armed = false;
	l->internal_inflight--;
	if (l->closing)
		return;
	rt_dl_expire(l, rt_clock_now());
	dl_kernel_arm(l);
}

rt_time_t rt_dl_next(const struct rt_loop *l)
{
	return l->dl_len ? l->dl_heap[0]->dl_at : RT_NEVER;
}

void rt_dl_expire(struct rt_loop *l, rt_time_t now)
{
	while (l->dl_len && l->dl_heap[0]->dl_at <= now) {
		struct rt_task *t = l->dl_heap[0];
		dl_remove_at(l, 0);
		dl_expire(l, t);
	}
}

void rt_dl_init(struct rt_loop *l)
{
	l->dl_op.on_cqe = dl_on_cqe;
}

void rt_dl_free(struct rt_loop *l)
{
	free(l->dl_heap);
	l->dl_heap = NULL;
	l->dl_len = l->dl_cap = 0;
}

void rt_dl_arm(struct rt_loop *l, struct rt_task *t, rt_time_t at)
{
	assert(t->dl_idx == DL_NONE);
	if (l->dl_len == l->dl_cap) {
		uint32_t cap = l->dl_cap ? l->dl_cap * 2 : 1024;
		struct rt_task **h = realloc(l->dl_heap, cap * sizeof(*h));
		/* 8 bytes a waiting task: without them no deadline could be
		 * kept, so this aborts (asserts stay on in every build). */
		assert(h);
		l->dl_heap = h;
		l->dl_cap = cap;
	}
	t->dl_at = at;
	l->dl_heap[l->dl_len] = t;
	t->dl_idx = l->dl_len++;
	dl_up(l, t->dl_idx);
	dl_kernel_arm(l);
}

void rt_dl_disarm(struct rt_loop *l, struct rt_task *t)
{
	if (t->dl_idx != DL_NONE)
		dl_remove_at(l, t->dl_idx);
	/* The kernel timeout stays: when it fires early it just re-arms. */
}
