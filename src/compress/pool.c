/* pool.c - codec steps on rt_workpool threads, with counters. */
#include "compress/pool.h"
#include "rt/obj.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rt/task.h"
#include "rt/workpool.h"

#define CPOOL_MAGIC 0x43504f4cu

struct cpool {
	unsigned magic;
	struct rt_workpool *wp; /* NULL with on_loop */
	unsigned max_streams;	/* workers + queue */
	struct cpool_stats stats;
};

struct step {
	struct cjob *j;
	struct cpool *p;
};

/*
 * Workers run under SCHED_IDLE: when a loop thread wakes up (a hit to
 * send) it preempts a compression step at once instead of sharing the CPU
 * with it, so compression only ever uses CPU time the loops leave. Under
 * sustained full load copies then wait, and new ones fall back to identity
 * (the pool fills up): hits stay fast, which is the trade this design
 * makes. Set once per worker thread, on its first step (rt_workpool's
 * threads are generic); nice +19 if SCHED_IDLE is refused.
 */
static void lower_priority_once(void)
{
	static __thread bool done;
	if (done)
		return;
	done = true;
	struct sched_param sp = {.sched_priority = 0};
	if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0)
		setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
}

/* Runs on a worker (or, for the benchmark, inline). */
static void step_run(void *arg)
{
	struct step *s = arg;
	struct cjob *j = s->j;
	if (s->p->wp)
		lower_priority_once();
	rt_time_t t0 = rt_clock_now();
	j->in_used = 0;
	j->out_len = 0;
	j->more = false;
	j->res = 0;
	if (!j->k) {
		j->k = j->decode ? codec_decoder_new(j->coding)
				 : codec_encoder_new(j->coding, j->level);
		if (!j->k) {
			j->res = errno ? -errno : -ENOMEM;
			goto out;
		}
	}
	size_t used = 0, produced = 0;
	int r = codec_run(j->k, j->in, j->in_len, &used, j->out, j->out_cap, &produced, j->op);
	j->in_used = used;
	j->out_len = produced;
	if (r < 0)
		j->res = r;
	else if (r == 1)
		j->more = true; /* the output is full; the caller comes back */
out:
	if (j->k && (j->free_after || j->res < 0) && !j->more)
		codec_free(&j->k);
	atomic_fetch_add_explicit(&s->p->stats.jobs, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->p->stats.bytes_in, j->in_used, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->p->stats.bytes_out, j->out_len, memory_order_relaxed);
	atomic_fetch_add_explicit(&s->p->stats.job_ns, rt_clock_now() - t0, memory_order_relaxed);
}

struct cpool *cpool_create(unsigned workers, unsigned queue, bool on_loop)
{
	struct cpool *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->magic = CPOOL_MAGIC;
	p->max_streams = workers + queue;
	if (!on_loop && !(p->wp = rt_workpool_create(workers, queue))) {
		free(p);
		return NULL;
	}
	return p;
}

void cpool_destroy(struct cpool **pp)
{
	struct cpool *p = *pp;
	if (!p)
		return;
	*pp = NULL;
	CHECK_OBJ_NOTNULL(p, CPOOL_MAGIC);
	rt_workpool_destroy(&p->wp);
	FINI_OBJ(p);
	free(p);
}

bool cpool_stream_begin(struct cpool *p, bool force)
{
	CHECK_OBJ_NOTNULL(p, CPOOL_MAGIC);
	uint64_t n = atomic_load(&p->stats.streams);
	do {
		if (!force && p->wp && n >= p->max_streams)
			return false;
	} while (!atomic_compare_exchange_weak(&p->stats.streams, &n, n + 1));
	return true;
}

void cpool_stream_end(struct cpool *p)
{
	CHECK_OBJ_NOTNULL(p, CPOOL_MAGIC);
	atomic_fetch_sub(&p->stats.streams, 1);
}

size_t cpool_queued(struct cpool *p)
{
	CHECK_OBJ_NOTNULL(p, CPOOL_MAGIC);
	return p->wp ? rt_workpool_queued(p->wp) : 0;
}

struct cpool_stats *cpool_stats(struct cpool *p)
{
	CHECK_OBJ_NOTNULL(p, CPOOL_MAGIC);
	return &p->stats;
}

static void free_step(void *arg)
{
	lower_priority_once();
	codec_free((struct codec **)arg);
}

size_t cpool_out_cap(const struct cjob *j, size_t in_len)
{
	if (j->decode)
		return CPOOL_STEP_OUT_MAX;
	/* gzip, brotli and zstd expand incompressible input by far less than
	 * this; a flush or the trailer adds a few bytes. */
	size_t cap = in_len + in_len / 8 + 4096;
	/* A flush or finish with no input may still empty what the encoder
	 * held back (brotli keeps up to its window). */
	if (cap < 64 * 1024)
		cap = 64 * 1024;
	return cap > CPOOL_STEP_OUT_MAX ? CPOOL_STEP_OUT_MAX : cap;
}

void cpool_free_codec(struct cpool *p, struct codec **kp)
{
	CHECK_OBJ_NOTNULL(p, CPOOL_MAGIC);
	if (!*kp)
		return;
	if (p->wp && rt_workpool_run(p->wp, free_step, kp, rt_clock_now() + RT_SEC) == 0)
		return;
	codec_free(kp);
}

int cpool_run(struct cpool *p, struct cjob *j, rt_time_t deadline)
{
	CHECK_OBJ_NOTNULL(p, CPOOL_MAGIC);
	struct step s = {.j = j, .p = p};
	if (!p->wp) {
		step_run(&s);
		return 0;
	}
	for (;;) {
		int r = rt_workpool_run(p->wp, step_run, &s, deadline);
		if (r != -EAGAIN)
			return r;
		atomic_fetch_add_explicit(&p->stats.full_waits, 1, memory_order_relaxed);
		rt_time_t next = rt_clock_now() + RT_MS;
		if (next >= deadline)
			return -ETIMEDOUT;
		int sr = rt_sleep_until(next);
		if (sr < 0)
			return sr;
	}
}
