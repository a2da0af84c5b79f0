/* task.c - spawning, joining, waking, waiting with deadlines, cancellation. */
#include "rt/internal.h"
#include "rt/obj.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct rt_task *rt_task_self(void)
{
	return rt_tls_loop ? rt_tls_loop->current : NULL;
}

bool rt_task_cancelled(void)
{
	struct rt_task *t = rt_task_self();
	return t && t->cancelled;
}

const char *rt_task_name(const struct rt_task *t)
{
	return t->name;
}

void rt_runq_push(struct rt_loop *loop, struct rt_task *t)
{
	t->state = T_RUNNABLE;
	t->next = NULL;
	if (loop->runq_tail)
		loop->runq_tail->next = t;
	else
		loop->runq_head = t;
	loop->runq_tail = t;
}

void rt_task_entry(void *arg)
{
	struct rt_task *t = arg;
	t->fn(t->arg);
	t->state = T_DONE;
	ctx_switch(&t->ctx, &t->loop->sched_ctx);
	assert(!"a finished task was resumed");
}

static struct rt_task *task_new(rt_task_fn fn, void *arg, const char *name)
{
	struct rt_loop *loop = rt_tls_loop;
	assert(loop);
	struct rt_task *t = loop->free_tasks;
	if (t) {
		loop->free_tasks = t->next;
		loop->n_free_tasks--;
	} else if (!(t = malloc(sizeof(*t))))
		return NULL;
	memset(t, 0, sizeof(*t));
	t->magic = RT_TASK_MAGIC;
	t->dl_idx = UINT32_MAX;
	t->fn = fn;
	t->arg = arg;
	t->name = name;
	t->loop = loop;
	loop->ntasks++;
	rt_runq_push(loop, t);
	return t;
}

struct rt_task *rt_task_spawn(rt_task_fn fn, void *arg, const char *name)
{
	return task_new(fn, arg, name);
}

int rt_task_spawn_detached(rt_task_fn fn, void *arg, const char *name)
{
	struct rt_task *t = task_new(fn, arg, name);
	if (!t)
		return -ENOMEM;
	t->detached = true;
	return 0;
}

void rt_task_detach(struct rt_task *t)
{
	CHECK_OBJ_NOTNULL(t, RT_TASK_MAGIC);
	assert(!t->joiner && !t->detached);
	if (t->state == T_DONE)
		rt_task_free(t->loop, t);
	else
		t->detached = true;
}

void rt_task_free(struct rt_loop *loop, struct rt_task *t)
{
	CHECK_OBJ_NOTNULL(t, RT_TASK_MAGIC);
	assert(t->state == T_DONE && !t->group);
	t->magic = 0;
	t->next = loop->free_tasks;
	loop->free_tasks = t;
	loop->n_free_tasks++;
	loop->trim_pending = true;
}

/* Called by the scheduler once T has switched away for the last time: its
 * stack is no longer in use and can go back to the pool. */
void rt_task_finish(struct rt_loop *loop, struct rt_task *t)
{
	stack_put(&loop->stacks, t->stack);
	t->stack = NULL;
	loop->ntasks--;
	/* Finishing is leaving: before T can be freed, and after its stack
	 * is back, so a group's waiters wake when no member code can run. */
	if (t->group)
		rt_group_drop(t);
	if (t->joiner) {
		struct rt_task *j = t->joiner;
		t->joiner = NULL;
		rt_wake(j, 0); /* the joiner frees T */
	} else if (t->detached) {
		rt_task_free(loop, t);
	}
}

int rt_park(void)
{
	struct rt_loop *loop = rt_tls_loop;
	struct rt_task *t = loop->current;
	assert(t && t->state == T_RUNNING);
	t->state = T_WAITING;
	ctx_switch(&t->ctx, &loop->sched_ctx);
	assert(t->state == T_RUNNING);
	return t->wake_res;
}

void rt_wake(struct rt_task *t, int res)
{
	CHECK_OBJ_NOTNULL(t, RT_TASK_MAGIC);
	assert(t->state == T_WAITING && t->in_wait);
	assert(t->loop == rt_tls_loop);
	t->wake_res = t->wait_err ? t->wait_err : res;
	rt_runq_push(t->loop, t);
}

/* The wait must end with ERR (timeout or cancel): unregister through the
 * awaitable's cancel hook, or, if it cannot let go yet, remember ERR and
 * keep waiting for its rt_wake. */
void rt_wait_abort(struct rt_task *t, int err)
{
	if (t->wait_err)
		return;
	if (t->cancel_fn && t->cancel_fn(t->cancel_arg)) {
		t->wake_res = err;
		rt_runq_push(t->loop, t);
		return;
	}
	t->wait_err = err;
}

int rt_wait(rt_time_t deadline, rt_cancel_fn cancel_fn, void *cancel_arg)
{
	struct rt_loop *loop = rt_tls_loop;
	struct rt_task *t = loop->current;
	assert(t);
	t->in_wait = true;
	t->cancel_fn = cancel_fn;
	t->cancel_arg = cancel_arg;
	t->wait_err = 0;
	if (t->cancelled) {
		if (cancel_fn && cancel_fn(cancel_arg)) {
			t->in_wait = false;
			return -ECANCELED;
		}
		t->wait_err = -ECANCELED;
		deadline = RT_NEVER;
	}
	if (deadline != RT_NEVER)
		rt_dl_arm(loop, t, deadline);
	int res = rt_park();
	rt_dl_disarm(loop, t);
	t->in_wait = false;
	t->cancel_fn = NULL;
	t->wait_err = 0;
	return res;
}

void rt_task_cancel(struct rt_task *t)
{
	CHECK_OBJ_NOTNULL(t, RT_TASK_MAGIC);
	if (t->cancelled || t->state == T_DONE)
		return;
	t->cancelled = true;
	if (t->state != T_WAITING)
		return; /* its next await fails */
	if (t->io_op) {
		rt_op_cancel(t->loop, t->io_op);
	} else if (t->in_wait) {
		rt_wait_abort(t, -ECANCELED);
	}
}

int rt_task_yield(void)
{
	struct rt_loop *loop = rt_tls_loop;
	struct rt_task *t = loop->current;
	assert(t);
	if (t->cancelled)
		return -ECANCELED;
	rt_runq_push(loop, t);
	ctx_switch(&t->ctx, &loop->sched_ctx);
	return t->cancelled ? -ECANCELED : 0;
}

static bool join_cancel(void *arg)
{
	struct rt_task *target = arg;
	target->joiner = NULL;
	target->detached = true; /* it frees itself when it ends */
	return true;
}

int rt_task_join(struct rt_task **tp, rt_time_t deadline)
{
	struct rt_task *target = *tp;
	struct rt_loop *loop = rt_tls_loop;
	*tp = NULL;
	CHECK_OBJ_NOTNULL(target, RT_TASK_MAGIC);
	assert(!target->detached && !target->joiner);
	if (target->state == T_DONE) {
		rt_task_free(loop, target);
		return 0;
	}
	target->joiner = loop->current;
	int r = rt_wait(deadline, join_cancel, target);
	if (r == 0)
		rt_task_free(loop, target);
	return r;
}
