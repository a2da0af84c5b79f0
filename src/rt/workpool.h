/*
 * workpool.h - worker threads for CPU-bound jobs (compression).
 *
 * A loop task hands a job to the pool and parks; a worker runs it and posts
 * the completion back to the task's loop. Loop threads never run the job
 * themselves. The queue is bounded: when it is full, rt_workpool_run()
 * answers -EAGAIN at once so the caller can take a cheaper path instead of
 * waiting.
 */
#ifndef RINGCACHE_RT_WORKPOOL_H
#define RINGCACHE_RT_WORKPOOL_H

#include <stddef.h>

#include "rt/clock.h"

struct rt_workpool;

/* Start NTHREADS workers with a queue of QCAP jobs. NULL on failure. */
struct rt_workpool *rt_workpool_create(unsigned nthreads, size_t qcap);
/* Stop and join the workers after the queued jobs ran; NULLs *pp. */
void rt_workpool_destroy(struct rt_workpool **pp);

/*
 * Run fn(arg) on a worker and wait for it (task only). Returns 0 when it
 * ran, -EAGAIN when the queue is full (fn did not run), -ECANCELED or
 * -ETIMEDOUT when the wait ended first: if the job had not started it never
 * will, and if it had, this call still waits for it to finish, because ARG
 * usually lives on the caller's stack.
 */
int rt_workpool_run(struct rt_workpool *p, void (*fn)(void *), void *arg, rt_time_t deadline);

size_t rt_workpool_queued(struct rt_workpool *p);

#endif
