/* group.c - task groups: membership through struct rt_task, cancel, wait. */
#include "rt/group.h"
#include "rt/obj.h"
#include "rt/internal.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>

/* A task parked in rt_group_wait; lives on that task's stack. */
struct group_waiter {
	struct rt_group_link link;
	struct rt_task *task;
};

static void link_init(struct rt_group_link *h)
{
	h->prev = h->next = h;
}

static bool link_empty(const struct rt_group_link *h)
{
	return h->next == h;
}

static void link_add_tail(struct rt_group_link *h, struct rt_group_link *l)
{
	l->prev = h->prev;
	l->next = h;
	h->prev->next = l;
	h->prev = l;
}

static void link_del(struct rt_group_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	l->prev = l->next = NULL;
}

static struct rt_task *member_of(struct rt_group_link *l)
{
	return (struct rt_task *)((char *)l - offsetof(struct rt_task, group_link));
}

static void check(const struct rt_group *g)
{
	CHECK_OBJ_NOTNULL(g, RT_GROUP_MAGIC);
}

/* G belongs to the first loop that uses it. */
static void group_bind(struct rt_group *g)
{
	check(g);
	assert(rt_tls_loop && "rt_group used off a loop thread");
	if (!g->loop)
		g->loop = rt_tls_loop;
	assert(g->loop == rt_tls_loop && "rt_group used on another loop");
}

void rt_group_init(struct rt_group *g)
{
	*g = (struct rt_group){.magic = RT_GROUP_MAGIC};
	link_init(&g->members);
	link_init(&g->waiters);
}

void rt_group_fini(struct rt_group *g)
{
	check(g);
	assert(g->size == 0 && link_empty(&g->members) && "rt_group_fini with members");
	assert(link_empty(&g->waiters));
	g->magic = 0;
}

static void join(struct rt_group *g, struct rt_task *t)
{
	CHECK_OBJ_NOTNULL(t, RT_TASK_MAGIC);
	assert(!t->group && t->loop == g->loop);
	t->group = g;
	link_add_tail(&g->members, &t->group_link);
	g->size++;
	if (g->cancelled)
		rt_task_cancel(t);
}

int rt_group_spawn(struct rt_group *g, rt_task_fn fn, void *arg, const char *name)
{
	group_bind(g);
	struct rt_task *t = rt_task_spawn(fn, arg, name);
	if (!t)
		return -ENOMEM;
	rt_task_detach(t); /* not finished yet: it frees itself when it is */
	join(g, t);
	return 0;
}

void rt_group_enter(struct rt_group *g)
{
	group_bind(g);
	struct rt_task *t = rt_task_self();
	assert(t && "rt_group_enter outside a task");
	join(g, t);
}

/* T leaves its group; the last one out wakes the waiters. Called by
 * rt_group_leave, and by rt_task_finish once T's stack is released, so an
 * empty group means no member's code can still run. */
void rt_group_drop(struct rt_task *t)
{
	struct rt_group *g = t->group;
	check(g);
	assert(g->size > 0 && t->loop == g->loop);
	link_del(&t->group_link);
	t->group = NULL;
	if (--g->size > 0)
		return;
	while (!link_empty(&g->waiters)) {
		struct group_waiter *w = (struct group_waiter *)g->waiters.next;
		link_del(&w->link);
		rt_wake(w->task, 0); /* only queues it: it runs next round */
	}
}

void rt_group_leave(struct rt_group *g)
{
	check(g);
	struct rt_task *t = rt_task_self();
	assert(t && t->group == g && "rt_group_leave by a task that is not a member");
	rt_group_drop(t);
}

void rt_group_cancel(struct rt_group *g)
{
	group_bind(g);
	g->cancelled = true; /* first, so that tasks joining from here on are cancelled */
	if (link_empty(&g->members))
		return;
	/*
	 * rt_task_cancel only sets a flag, submits an ASYNC_CANCEL or calls an
	 * awaitable's cancel hook: it never runs a task, so no member finishes
	 * during this walk. The walk would stay correct if one did: the members
	 * move to a private list and back one at a time, and a member that
	 * leaves unlinks itself from whichever list holds it, so no pointer to
	 * a task that has gone is ever followed.
	 */
	struct rt_group_link todo = {.prev = g->members.prev, .next = g->members.next};
	todo.next->prev = todo.prev->next = &todo;
	link_init(&g->members);
	while (!link_empty(&todo)) {
		struct rt_group_link *l = todo.next;
		link_del(l);
		link_add_tail(&g->members, l);
		rt_task_cancel(member_of(l));
	}
}

/* rt_wait's cancel hook: a waiter whose deadline passed or that was
 * cancelled takes its record off the list; always possible. */
static bool wait_cancel(void *arg)
{
	struct group_waiter *w = arg;
	link_del(&w->link);
	return true;
}

int rt_group_wait(struct rt_group *g, rt_time_t deadline)
{
	group_bind(g);
	struct rt_task *t = rt_task_self();
	assert(t && "rt_group_wait outside a task");
	assert(t->group != g && "a member waiting for its own group waits forever");
	if (g->size == 0)
		return 0;
	struct group_waiter w = {.task = t};
	link_add_tail(&g->waiters, &w.link);
	return rt_wait(deadline, wait_cancel, &w);
}

size_t rt_group_size(const struct rt_group *g)
{
	check(g);
	return g->size;
}
