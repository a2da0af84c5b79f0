/*
 * group.h - task groups: a set of tasks that can be cancelled and waited
 * for as one (libdill's bundles), so that drain needs no hand-made lists.
 *
 * Membership costs no allocation: members are linked through a field of
 * their own struct rt_task, and a task is in at most one group at a time.
 * A task joins by being spawned into the group (rt_group_spawn) or by
 * entering it (rt_group_enter, for a task started some other way) and
 * leaves when it finishes, or earlier with rt_group_leave. The member that
 * leaves last wakes every waiter.
 *
 * Cancelling a group cancels each member as rt_task_cancel() does: its
 * pending await ends with -ECANCELED and so does every later one (an I/O op
 * that had already completed still returns its own result, so no bytes or
 * fd are lost; rt_close still works). A member that has not started yet
 * still runs, so it can release what ARG holds; its first await fails. The
 * group stays cancelled: a task spawned into it or entering it afterwards
 * is cancelled at once, until rt_group_fini and rt_group_init make it a new
 * group. That is what drain wants: nothing new survives once it has begun.
 *
 * Lifetime: the caller owns the storage (embed it in a longer-lived
 * struct) and must keep it until the group is empty; rt_group_fini asserts
 * that. Since every wait of a cancelled task fails at once, a group on a
 * task's stack is safe only if nothing cancels that task while the group
 * has members; prefer an owner that outlives the tasks (a worker).
 *
 * One loop: a group belongs to the loop it is first used on (init and fini
 * may run on any thread, e.g. while a worker struct is built). Every other
 * function must be called on that loop's thread; spawn and cancel also work
 * outside a task (in an rt_msg callback), enter, leave and wait need one.
 */
#ifndef RINGCACHE_RT_GROUP_H
#define RINGCACHE_RT_GROUP_H

#include <stdbool.h>
#include <stddef.h>

#include "rt/clock.h"
#include "rt/task.h"

#define RT_GROUP_MAGIC 0x47525550u /* "GRUP" */

/* A link in a circular list with a sentinel: unlinking needs no head. */
struct rt_group_link {
	struct rt_group_link *prev, *next;
};

/* The fields are group.c's; they are here so that callers can embed one. */
struct rt_group {
	unsigned magic;
	bool cancelled;
	size_t size;
	struct rt_loop *loop;	      /* NULL until first used */
	struct rt_group_link members; /* through struct rt_task's group_link */
	struct rt_group_link waiters; /* through records on the waiters' stacks */
};

/* Make G an empty, open group. G must not hold a live group. */
void rt_group_init(struct rt_group *g);
/* End G's life: asserts that it has no members (nor, then, waiters). The
 * storage may then be reused or rt_group_init'ed again. */
void rt_group_fini(struct rt_group *g);

/* Spawn a detached task running fn(arg) as a member of G until it
 * finishes. 0, or -ENOMEM (fn will not run; the caller keeps ARG). */
int rt_group_spawn(struct rt_group *g, rt_task_fn fn, void *arg, const char *name);

/* Make the current task a member of G (it must be in no group). It stays
 * joinable or detached as before; finishing makes it leave. */
void rt_group_enter(struct rt_group *g);
/* The current task, a member of G, leaves it early. If G had cancelled it,
 * it stays cancelled. */
void rt_group_leave(struct rt_group *g);

/* Cancel every member and every task that joins G from now on. The caller
 * is cancelled too if it is a member. Returns at once; members end as they
 * unwind (rt_group_wait for that). */
void rt_group_cancel(struct rt_group *g);

/*
 * Wait until G has no members. 0 when it is empty (at once if it already
 * is, even for a cancelled task; a member may have joined since), or
 * -ETIMEDOUT when DEADLINE passed, or -ECANCELED when the waiting task was
 * cancelled; G is unchanged by a failed wait. Any number of tasks may wait;
 * a member of G may not (it would wait for itself).
 */
int rt_group_wait(struct rt_group *g, rt_time_t deadline);

/* Number of members. */
size_t rt_group_size(const struct rt_group *g);

#endif
