/*
 * rt_bench.c - micro-benchmark of the coroutine runtime (src/rt).
 *
 * Each metric is one function that performs N operations and returns the
 * elapsed CLOCK_MONOTONIC time. N is calibrated once per metric so that a
 * repetition takes about TARGET_MS, then the metric is repeated REPS times
 * and reported as median / min / max nanoseconds per operation.
 *
 * Output: a table for people, then one "metric NAME VALUE" line per metric
 * (VALUE = median ns per operation) for scripts.
 *
 * Usage: bench-rt [-r REPS] [-t TARGET_MS] [-m METRIC]
 *   -m runs only the metrics whose name contains METRIC.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rt/chan.h"
#include "rt/ctx.h"
#include "rt/io.h"
#include "rt/loop.h"
#include "rt/task.h"
#include "rt/workpool.h"

#define MAX_REPS 64

static struct rt_loop *g_loop;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, long v)
{
	fprintf(stderr, "bench-rt: %s (%ld)\n", what, v);
	exit(1);
}

/* Run FN as a detached task on the bench loop until every task is done.
 * The loop was stopped once at start-up, so rt_loop_run() returns as soon as
 * no task is left. */
static void run_in_task(rt_task_fn fn, void *arg)
{
	if (rt_task_spawn_detached(fn, arg, "bench") != 0)
		die("rt_task_spawn_detached failed", 0);
	rt_loop_run(g_loop);
}

/* --- 1. raw context switch ------------------------------------------------- */

static struct ctx cs_main, cs_a, cs_b;
static uint64_t cs_iters;
static _Alignas(64) char cs_stack[2][64 * 1024];

static void cs_fn_a(void *arg)
{
	for (uint64_t i = 0; i < cs_iters; i++)
		ctx_switch(&cs_a, &cs_b);
	ctx_switch(&cs_a, &cs_main);
	abort(); /* never resumed */
}

static void cs_fn_b(void *arg)
{
	for (;;)
		ctx_switch(&cs_b, &cs_a);
}

/* N switches, one direction each: A->B and B->A per iteration. */
static uint64_t bench_ctx_switch(uint64_t n)
{
	cs_iters = n / 2;
	ctx_make(&cs_a, cs_stack[0], sizeof(cs_stack[0]), cs_fn_a, NULL);
	ctx_make(&cs_b, cs_stack[1], sizeof(cs_stack[1]), cs_fn_b, NULL);
	uint64_t t0 = now_ns();
	ctx_switch(&cs_main, &cs_a);
	return now_ns() - t0;
}

/* --- 2. yield through the scheduler ---------------------------------------- */

struct yield_arg {
	unsigned ntasks; /* including the driver */
	uint64_t per_task;
	uint64_t elapsed;
};

static void yielder(void *arg)
{
	struct yield_arg *ya = arg;
	rt_task_yield(); /* matches the driver's warm-up yield */
	for (uint64_t i = 0; i < ya->per_task; i++)
		if (rt_task_yield() != 0)
			die("rt_task_yield failed", 0);
}

static void yield_driver(void *arg)
{
	struct yield_arg *ya = arg;
	struct rt_task *ts[64];
	for (unsigned i = 0; i + 1 < ya->ntasks; i++)
		if (!(ts[i] = rt_task_spawn(yielder, ya, "yielder")))
			die("rt_task_spawn failed", 0);
	rt_task_yield(); /* every other task starts (gets its stack) and yields */
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < ya->per_task; i++)
		if (rt_task_yield() != 0)
			die("rt_task_yield failed", 0);
	ya->elapsed = now_ns() - t0;
	for (unsigned i = 0; i + 1 < ya->ntasks; i++)
		if (rt_task_join(&ts[i], RT_NEVER) != 0)
			die("rt_task_join failed", 0);
}

static uint64_t bench_yield_n(uint64_t n, unsigned ntasks)
{
	struct yield_arg ya = {.ntasks = ntasks, .per_task = n / ntasks};
	if (!ya.per_task)
		ya.per_task = 1;
	run_in_task(yield_driver, &ya);
	/* scale to exactly N yields' worth */
	return ya.elapsed * n / (ya.per_task * ntasks);
}

static uint64_t bench_yield2(uint64_t n)
{
	return bench_yield_n(n, 2);
}

static uint64_t bench_yield1(uint64_t n)
{
	return bench_yield_n(n, 1);
}

static uint64_t bench_yield64(uint64_t n)
{
	return bench_yield_n(n, 64);
}

/* --- 3. spawn + run + finish, spawn + join --------------------------------- */

static volatile uint64_t trivial_count;

static void trivial(void *arg)
{
	trivial_count++;
}

enum { SPAWN_BATCH = 1000 };

/* Detached tasks spawned from outside any task, in batches; each batch is
 * run to completion by rt_loop_run (no syscall: nothing waits). */
static uint64_t bench_spawn_run(uint64_t n)
{
	uint64_t before = trivial_count;
	uint64_t t0 = now_ns();
	for (uint64_t done = 0; done < n;) {
		uint64_t b = n - done < SPAWN_BATCH ? n - done : SPAWN_BATCH;
		for (uint64_t i = 0; i < b; i++)
			if (rt_task_spawn_detached(trivial, NULL, "trivial") != 0)
				die("rt_task_spawn_detached failed", 0);
		rt_loop_run(g_loop);
		done += b;
	}
	uint64_t el = now_ns() - t0;
	if (trivial_count - before != n)
		die("spawned tasks did not all run", (long)(trivial_count - before));
	return el;
}

struct spawn_arg {
	uint64_t n;
	uint64_t elapsed;
	int batched;
};

static void spawn_join_driver(void *arg)
{
	struct spawn_arg *sa = arg;
	static struct rt_task *ts[SPAWN_BATCH];
	uint64_t before = trivial_count;
	uint64_t t0 = now_ns();
	if (sa->batched) {
		for (uint64_t done = 0; done < sa->n;) {
			uint64_t b = sa->n - done < SPAWN_BATCH ? sa->n - done : SPAWN_BATCH;
			for (uint64_t i = 0; i < b; i++)
				if (!(ts[i] = rt_task_spawn(trivial, NULL, "trivial")))
					die("rt_task_spawn failed", 0);
			for (uint64_t i = 0; i < b; i++)
				if (rt_task_join(&ts[i], RT_NEVER) != 0)
					die("rt_task_join failed", 0);
			done += b;
		}
	} else {
		for (uint64_t i = 0; i < sa->n; i++) {
			struct rt_task *t = rt_task_spawn(trivial, NULL, "trivial");
			if (!t)
				die("rt_task_spawn failed", 0);
			if (rt_task_join(&t, RT_NEVER) != 0)
				die("rt_task_join failed", 0);
		}
	}
	sa->elapsed = now_ns() - t0;
	if (trivial_count - before != sa->n)
		die("joined tasks did not all run", (long)(trivial_count - before));
}

static uint64_t bench_spawn_join_batch(uint64_t n)
{
	struct spawn_arg sa = {.n = n, .batched = 1};
	run_in_task(spawn_join_driver, &sa);
	return sa.elapsed;
}

static uint64_t bench_spawn_join_seq(uint64_t n)
{
	struct spawn_arg sa = {.n = n, .batched = 0};
	run_in_task(spawn_join_driver, &sa);
	return sa.elapsed;
}

/* --- 4. channel ping-pong -------------------------------------------------- */

struct pp_arg {
	struct rt_chan *to_ponger, *to_pinger;
	uint64_t rounds;
	uint64_t elapsed;
};

static void ponger(void *arg)
{
	struct pp_arg *pp = arg;
	void *v;
	while (rt_chan_recv(pp->to_ponger, &v, RT_NEVER) == 0)
		if (rt_chan_send(pp->to_pinger, (char *)v + 1) != 0)
			die("rt_chan_send (pong) failed", 0);
}

static void pinger(void *arg)
{
	struct pp_arg *pp = arg;
	pp->to_ponger = rt_chan_create(1);
	pp->to_pinger = rt_chan_create(1);
	if (!pp->to_ponger || !pp->to_pinger)
		die("rt_chan_create failed", 0);
	struct rt_task *p = rt_task_spawn(ponger, pp, "ponger");
	if (!p)
		die("rt_task_spawn failed", 0);
	rt_task_yield(); /* ponger starts and parks in recv */
	uintptr_t x = 0;
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < pp->rounds; i++) {
		void *v;
		int r = rt_chan_send(pp->to_ponger, (void *)(x + 1));
		if (r != 0)
			die("rt_chan_send (ping) failed", r);
		r = rt_chan_recv(pp->to_pinger, &v, RT_NEVER);
		if (r != 0)
			die("rt_chan_recv (ping) failed", r);
		x = (uintptr_t)v;
	}
	pp->elapsed = now_ns() - t0;
	if (x != 2 * pp->rounds)
		die("ping-pong lost a message", (long)x);
	rt_chan_close(pp->to_ponger);
	if (rt_task_join(&p, RT_NEVER) != 0)
		die("rt_task_join failed", 0);
	rt_chan_destroy(&pp->to_ponger);
	rt_chan_destroy(&pp->to_pinger);
}

static uint64_t bench_chan_pingpong(uint64_t n)
{
	struct pp_arg pp = {.rounds = n};
	run_in_task(pinger, &pp);
	return pp.elapsed;
}

/* --- 5. socketpair round trip through io_uring ------------------------------ */

struct sock_arg {
	int sv[2];
	uint64_t rounds;
	uint64_t elapsed;
	int with_deadline;
};

static rt_time_t sock_deadline(const struct sock_arg *sa)
{
	/* A far deadline still costs a linked timeout SQE per operation,
	 * which is how the proxy issues all of its I/O. */
	return sa->with_deadline ? rt_clock_now() + 60 * RT_SEC : RT_NEVER;
}

static void sock_echo(void *arg)
{
	struct sock_arg *sa = arg;
	char c;
	for (;;) {
		ssize_t r = rt_recv(sa->sv[1], &c, 1, 0, sock_deadline(sa));
		if (r == 0)
			break; /* peer shut down */
		if (r != 1)
			die("echo rt_recv failed", (long)r);
		r = rt_send(sa->sv[1], &c, 1, 0, sock_deadline(sa));
		if (r != 1)
			die("echo rt_send failed", (long)r);
	}
}

static void sock_client(void *arg)
{
	struct sock_arg *sa = arg;
	struct rt_task *echo = rt_task_spawn(sock_echo, sa, "echo");
	if (!echo)
		die("rt_task_spawn failed", 0);
	rt_task_yield(); /* echo starts and parks in recv */
	char c = 'x', back;
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < sa->rounds; i++) {
		ssize_t r = rt_send(sa->sv[0], &c, 1, 0, sock_deadline(sa));
		if (r != 1)
			die("client rt_send failed", (long)r);
		r = rt_recv(sa->sv[0], &back, 1, 0, sock_deadline(sa));
		if (r != 1 || back != c)
			die("client rt_recv failed", (long)r);
	}
	sa->elapsed = now_ns() - t0;
	shutdown(sa->sv[0], SHUT_WR);
	if (rt_task_join(&echo, RT_NEVER) != 0)
		die("rt_task_join failed", 0);
}

static uint64_t bench_sock(uint64_t n, int with_deadline)
{
	struct sock_arg sa = {.rounds = n, .with_deadline = with_deadline};
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sa.sv) != 0)
		die("socketpair failed", errno);
	run_in_task(sock_client, &sa);
	close(sa.sv[0]);
	close(sa.sv[1]);
	return sa.elapsed;
}

static uint64_t bench_sock_plain(uint64_t n)
{
	return bench_sock(n, 0);
}

static uint64_t bench_sock_deadline(uint64_t n)
{
	return bench_sock(n, 1);
}

/* --- 6. workpool round trip ------------------------------------------------ */

static struct rt_workpool *g_pool;

static void noop_job(void *arg)
{
	(*(volatile uint64_t *)arg)++;
}

struct wp_arg {
	uint64_t n;
	uint64_t elapsed;
};

static void wp_driver(void *arg)
{
	struct wp_arg *wa = arg;
	volatile uint64_t count = 0;
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < wa->n; i++) {
		int r = rt_workpool_run(g_pool, noop_job, (void *)&count, RT_NEVER);
		if (r != 0)
			die("rt_workpool_run failed", r);
	}
	wa->elapsed = now_ns() - t0;
	if (count != wa->n)
		die("workpool jobs lost", (long)count);
}

static uint64_t bench_workpool(uint64_t n)
{
	struct wp_arg wa = {.n = n};
	run_in_task(wp_driver, &wa);
	return wa.elapsed;
}

/* --- baselines: what the platform charges for a syscall and a thread wake -- */

static uint64_t bench_syscall(uint64_t n)
{
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < n; i++)
		syscall(SYS_getppid);
	return now_ns() - t0;
}

/* Two threads hand a token back and forth under a mutex + condvar: the cost
 * of waking a sleeping thread on another CPU, twice per round trip. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t turn; /* even: main's turn, odd: helper's */
	uint64_t rounds;
} tp = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static void *tp_helper(void *arg)
{
	pthread_mutex_lock(&tp.lock);
	for (uint64_t i = 0; i < tp.rounds; i++) {
		while (!(tp.turn & 1))
			pthread_cond_wait(&tp.cond, &tp.lock);
		tp.turn++;
		pthread_cond_signal(&tp.cond);
	}
	pthread_mutex_unlock(&tp.lock);
	return NULL;
}

static uint64_t bench_thread_pingpong(uint64_t n)
{
	pthread_t th;
	tp.turn = 0;
	tp.rounds = n;
	if (pthread_create(&th, NULL, tp_helper, NULL) != 0)
		die("pthread_create failed", 0);
	uint64_t t0 = now_ns();
	pthread_mutex_lock(&tp.lock);
	for (uint64_t i = 0; i < n; i++) {
		tp.turn++;
		pthread_cond_signal(&tp.cond);
		while (tp.turn & 1)
			pthread_cond_wait(&tp.cond, &tp.lock);
	}
	pthread_mutex_unlock(&tp.lock);
	uint64_t el = now_ns() - t0;
	pthread_join(th, NULL);
	return el;
}

/* --- driver ---------------------------------------------------------------- */

struct bench {
	const char *metric; /* machine name, "..._ns" */
	const char *desc;
	uint64_t (*run)(uint64_t n);
	uint64_t n0; /* first calibration size */
	double med, min, max;
	uint64_t n;
	int ran;
};

#define BENCH(m, d, f, n)                                                                          \
	{                                                                                          \
		.metric = (m), .desc = (d), .run = (f), .n0 = (n)                                  \
	}
static struct bench benches[] = {
    BENCH("ctx_switch_ns", "ctx_switch, one direction (ns/switch)", bench_ctx_switch, 100000),
    BENCH("yield_ns", "rt_task_yield, 2 tasks alternating (ns/yield)", bench_yield2, 10000),
    BENCH("yield_1task_ns", "rt_task_yield, 1 task alone (ns/yield)", bench_yield1, 10000),
    BENCH("yield_64tasks_ns", "rt_task_yield, 64 tasks round-robin (ns/yield)", bench_yield64,
	  10000),
    BENCH("spawn_run_ns", "spawn detached + run + finish (ns/task)", bench_spawn_run, 10000),
    BENCH("spawn_join_ns", "spawn + join, batches of 1000 (ns/task)", bench_spawn_join_batch,
	  10000),
    BENCH("spawn_join_seq_ns", "spawn + join, one at a time (ns/task)", bench_spawn_join_seq,
	  10000),
    BENCH("chan_pingpong_ns", "channel ping-pong, 2 tasks (ns/round trip)", bench_chan_pingpong,
	  10000),
    BENCH("sock_rtt_ns", "socketpair rt_send/rt_recv 1 byte (ns/round trip)", bench_sock_plain,
	  1000),
    BENCH("sock_rtt_deadline_ns", "same, with deadlines (linked timeouts)", bench_sock_deadline,
	  1000),
    BENCH("workpool_ns", "workpool trivial job, 1 worker (ns/job)", bench_workpool, 1000),
    BENCH("base_syscall_ns", "baseline: syscall(SYS_getppid) (ns/call)", bench_syscall, 10000),
    BENCH("base_thread_pingpong_ns", "baseline: 2 threads, mutex+condvar (ns/round trip)",
	  bench_thread_pingpong, 1000),
};
#undef BENCH

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void run_bench(struct bench *b, int reps, uint64_t target_ns)
{
	/* Calibrate: grow N until a run takes >= 1/8 of the target, then scale
	 * to the target. The calibration runs double as warm-up. */
	uint64_t n = b->n0, el;
	for (;;) {
		el = b->run(n);
		if (el >= target_ns / 8 || n >= (1ull << 40))
			break;
		n *= 4;
	}
	if (el == 0)
		el = 1;
	double scaled = (double)n * (double)target_ns / (double)el;
	n = scaled < 100 ? 100 : (uint64_t)scaled;
	b->n = n;

	double v[MAX_REPS];
	for (int i = 0; i < reps; i++)
		v[i] = (double)b->run(n) / (double)n;
	qsort(v, (size_t)reps, sizeof(v[0]), cmp_double);
	b->min = v[0];
	b->max = v[reps - 1];
	b->med = reps % 2 ? v[reps / 2] : (v[reps / 2 - 1] + v[reps / 2]) / 2;
	b->ran = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench-rt [-r REPS (1..%d)] [-t TARGET_MS] [-m METRIC]\n", MAX_REPS);
	exit(2);
}

int main(int argc, char **argv)
{
	int reps = 7;
	long target_ms = 100;
	const char *only = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "r:t:m:h")) != -1) {
		switch (opt) {
		case 'r':
			reps = atoi(optarg);
			break;
		case 't':
			target_ms = atol(optarg);
			break;
		case 'm':
			only = optarg;
			break;
		default:
			usage();
		}
	}
	if (reps < 1 || reps > MAX_REPS || target_ms < 1)
		usage();

	int err = 0;
	g_loop = rt_loop_create(NULL, &err);
	if (!g_loop)
		die("rt_loop_create failed", err);
	rt_loop_stop(g_loop); /* every rt_loop_run returns once its tasks are done */
	g_pool = rt_workpool_create(1, 64);
	if (!g_pool)
		die("rt_workpool_create failed", 0);

	uint64_t t_start = now_ns();
	const size_t nb = sizeof(benches) / sizeof(benches[0]);
	for (size_t i = 0; i < nb; i++) {
		if (only && !strstr(benches[i].metric, only))
			continue;
		run_bench(&benches[i], reps, (uint64_t)target_ms * 1000000ull);
	}
	double total_s = (double)(now_ns() - t_start) / 1e9;

	rt_workpool_destroy(&g_pool);
	rt_loop_destroy(&g_loop);

	printf("ringcache runtime micro-benchmark: %d reps, ~%ld ms each, %.1f s total\n\n", reps,
	       target_ms, total_s);
	printf("%-24s %-52s %10s %10s %10s %10s\n", "metric", "what", "median", "min", "max",
	       "ops/rep");
	int sep = 0;
	for (size_t i = 0; i < nb; i++) {
		struct bench *b = &benches[i];
		if (!b->ran)
			continue;
		/* baselines measure the platform, not the runtime: set them apart */
		if (!sep && strncmp(b->metric, "base_", 5) == 0) {
			printf("\n");
			sep = 1;
		}
		printf("%-24s %-52s %10.1f %10.1f %10.1f %10llu\n", b->metric, b->desc, b->med,
		       b->min, b->max, (unsigned long long)b->n);
	}
	printf("\n");
	for (size_t i = 0; i < nb; i++)
		if (benches[i].ran)
			printf("metric %s %.1f\n", benches[i].metric, benches[i].med);
	return 0;
}
