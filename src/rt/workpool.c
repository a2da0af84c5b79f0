/* workpool.c - CPU job pool: mutex+condvar queue, completions posted to loops. */
#include "rt/workpool.h"
#include "rt/obj.h"
#include "rt/internal.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_DROPPED };

struct job {
	void (*fn)(void *);
	void *arg;
	struct rt_task *task;
	struct rt_loop *loop;
	enum job_state state; /* under the pool lock */
	struct rt_msg done_msg;
};

#define RT_WORKPOOL_MAGIC 0x57504f4cu

struct rt_workpool {
	unsigned magic;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job **q;
	size_t cap, head, len;
	bool stopping;
	pthread_t *threads;
	unsigned nthreads;
};

static void job_done(struct rt_msg *m)
{
	struct job *j = (struct job *)((char *)m - offsetof(struct job, done_msg));
	rt_wake(j->task, 0);
}

static void *worker_main(void *arg)
{
	struct rt_workpool *p = arg;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->len && !p->stopping)
			pthread_cond_wait(&p->cond, &p->lock);
		if (!p->len && p->stopping)
			break;
		struct job *j = p->q[p->head];
		p->head = (p->head + 1) % p->cap;
		p->len--;
		j->state = JOB_RUNNING;
		pthread_mutex_unlock(&p->lock);
		j->fn(j->arg);
		pthread_mutex_lock(&p->lock);
		j->state = JOB_DONE;
		pthread_mutex_unlock(&p->lock);
		/* Posted without the lock: a low-priority worker preempted by
		 * the loop it wakes must not hold what that loop takes next.
		 * J stays valid until job_done runs (the task waits for it);
		 * it is not touched after the post. */
		rt_loop_post(j->loop, &j->done_msg);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct rt_workpool *rt_workpool_create(unsigned nthreads, size_t qcap)
{
	assert(nthreads > 0 && qcap > 0);
	struct rt_workpool *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->q = calloc(qcap, sizeof(*p->q));
	p->threads = calloc(nthreads, sizeof(*p->threads));
	if (!p->q || !p->threads) {
		free(p->q);
		free(p->threads);
		free(p);
		return NULL;
	}
	p->magic = RT_WORKPOOL_MAGIC;
	p->cap = qcap;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	for (unsigned i = 0; i < nthreads; i++) {
		if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0)
			break;
		p->nthreads++;
	}
	if (!p->nthreads) {
		rt_workpool_destroy(&p);
		return NULL;
	}
	return p;
}

void rt_workpool_destroy(struct rt_workpool **pp)
{
	struct rt_workpool *p = *pp;
	if (!p)
		return;
	*pp = NULL;
	CHECK_OBJ_NOTNULL(p, RT_WORKPOOL_MAGIC);
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p->threads);
	free(p->q);
	FINI_OBJ(p);
	free(p);
}

size_t rt_workpool_queued(struct rt_workpool *p)
{
	CHECK_OBJ_NOTNULL(p, RT_WORKPOOL_MAGIC);
	pthread_mutex_lock(&p->lock);
	size_t n = p->len;
	pthread_mutex_unlock(&p->lock);
	return n;
}

struct cancel_ctx {
	struct rt_workpool *p;
	struct job *j;
};

static bool job_cancel_ctx(void *arg)
{
	struct cancel_ctx *c = arg;
	pthread_mutex_lock(&c->p->lock);
	struct rt_workpool *p = c->p;
	bool dropped = c->j->state == JOB_QUEUED;
	if (dropped) {
		/* Take it out of the queue: it lives on the caller's stack,
		 * which is gone once this wait returns. */
		size_t i = 0;
		while (p->q[(p->head + i) % p->cap] != c->j)
			i++;
		for (; i + 1 < p->len; i++)
			p->q[(p->head + i) % p->cap] = p->q[(p->head + i + 1) % p->cap];
		p->len--;
		c->j->state = JOB_DROPPED;
	}
	pthread_mutex_unlock(&p->lock);
	return dropped;
}

int rt_workpool_run(struct rt_workpool *p, void (*fn)(void *), void *arg, rt_time_t deadline)
{
	CHECK_OBJ_NOTNULL(p, RT_WORKPOOL_MAGIC);
	struct rt_task *t = rt_task_self();
	assert(t);
	if (rt_task_cancelled())
		return -ECANCELED;
	struct job j = {.fn = fn, .arg = arg, .task = t, .loop = rt_tls_loop, .state = JOB_QUEUED};
	j.done_msg.fn = job_done;
	pthread_mutex_lock(&p->lock);
	if (p->len == p->cap || p->stopping) {
		pthread_mutex_unlock(&p->lock);
		return -EAGAIN;
	}
	p->q[(p->head + p->len) % p->cap] = &j;
	p->len++;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	struct cancel_ctx c = {p, &j};
	return rt_wait(deadline, job_cancel_ctx, &c);
}
