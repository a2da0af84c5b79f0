/*
 * task.h - stackful coroutines scheduled by the current thread's loop.
 *
 * A task runs until it awaits something (I/O, a join, a channel, a sleep,
 * a yield); then the loop runs other tasks and resumes it when the awaited
 * thing completes. Every await takes an absolute deadline (RT_NEVER for
 * none) and fails with -ETIMEDOUT when it passes, and with -ECANCELED once
 * the task has been cancelled. Cancellation is sticky: after rt_task_cancel()
 * every later await of that task fails at once, so a cancelled task unwinds
 * quickly; cleanup calls (rt_close) still work.
 *
 * Ownership: rt_task_spawn() returns a handle that must be passed to exactly
 * one rt_task_join(); rt_task_spawn_detached() tasks free themselves.
 * All functions here must be called on the loop's own thread.
 */
#ifndef RINGCACHE_RT_TASK_H
#define RINGCACHE_RT_TASK_H

#include <stdbool.h>

#include "rt/clock.h"

struct rt_task;
struct rt_loop;

typedef void (*rt_task_fn)(void *arg);

/* Spawn on the current loop. NAME is a static string ("client", "fetch")
 * used by logs and the watchdog. Returns NULL on allocation failure. */
struct rt_task *rt_task_spawn(rt_task_fn fn, void *arg, const char *name);
int rt_task_spawn_detached(rt_task_fn fn, void *arg, const char *name);

/* Give up the right to join T: it frees itself when it finishes. The
 * handle stays usable (for rt_task_cancel) until then, so an owner that
 * learns of T's end some other way may keep it that long. */
void rt_task_detach(struct rt_task *t);

/* Wait for T to finish, then free it and NULL *tp. Returns 0, or
 * -ETIMEDOUT / -ECANCELED if the wait ended first (T is then detached and
 * frees itself when it finishes; *tp is NULLed either way). */
int rt_task_join(struct rt_task **tp, rt_time_t deadline);

/* Cancel T: its pending await (if any) ends with -ECANCELED and so does
 * every later one. A pending await whose result has already come in (its
 * CQE, an rt_wake) returns that result, so no received bytes or
 * accepted fd are lost. Safe on a finished-but-unjoined task. To cancel
 * many tasks as one, see rt/group.h. */
void rt_task_cancel(struct rt_task *t);

/* Let other runnable tasks run; returns -ECANCELED if cancelled, else 0. */
int rt_task_yield(void);

/* Sleep until DEADLINE (io_uring timeout). Returns 0 when it passed, or
 * -ECANCELED. */
int rt_sleep_until(rt_time_t deadline);

struct rt_task *rt_task_self(void);
bool rt_task_cancelled(void);
const char *rt_task_name(const struct rt_task *t);

/*
 * Low-level wait, for building awaitables (channels, pools, joins).
 *
 * A waiting task parks in rt_wait(); whoever completes the wait calls
 * rt_wake(t, res) exactly once on the loop thread, and rt_wait() returns
 * res. If DEADLINE passes first rt_wait() returns -ETIMEDOUT, and if the task
 * is cancelled, -ECANCELED; in both cases CANCEL_FN (if not NULL) is called
 * first with CANCEL_ARG so the awaitable can unregister the task, after which
 * nobody may call rt_wake for this wait. If the awaitable cannot unregister
 * (a job already running on another thread), CANCEL_FN returns false and the
 * wait goes on until rt_wake, which then returns the timeout/cancel error.
 */
typedef bool (*rt_cancel_fn)(void *cancel_arg);
int rt_wait(rt_time_t deadline, rt_cancel_fn cancel_fn, void *cancel_arg);
void rt_wake(struct rt_task *t, int res);

#endif
