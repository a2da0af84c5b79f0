/* Unit tests of src/rt: tasks, waits, deadlines, cancellation, channels, pool, echo. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rt/chan.h"
#include "rt/io.h"
#include "rt/loop.h"
#include "rt/task.h"
#include "rt/workpool.h"

static struct rt_loop *loop;

static void setup(void)
{
	int err = 0;
	loop = rt_loop_create(NULL, &err);
	cr_assert_not_null(loop, "rt_loop_create: %d", err);
}

static void teardown(void)
{
	rt_loop_destroy(&loop);
}

/* Run MAIN as the only top-level task until everything ends. */
static void run_main(rt_task_fn main_fn, void *arg)
{
	cr_assert(rt_task_spawn_detached(main_fn, arg, "main") == 0);
	rt_loop_stop(loop); /* returns once all tasks are done */
	rt_loop_run(loop);
}

TestSuite(rt, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(rt_watchdog, .init = setup, .fini = teardown, .timeout = 60);

/* --- 100,000 tasks spawned and joined ------------------------------------- */
static long counter;
static void incr(void *arg)
{
	(void)arg;
	counter++;
	rt_task_yield(); /* each task really suspends once */
	counter++;
}

static void spawn_many(void *arg)
{
	enum { N = 100000, BATCH = 10000 };
	static struct rt_task *ts[BATCH];
	for (int done = 0; done < N; done += BATCH) {
		for (int i = 0; i < BATCH; i++)
			cr_assert_not_null(ts[i] = rt_task_spawn(incr, NULL, "incr"));
		for (int i = 0; i < BATCH; i++)
			cr_assert_eq(rt_task_join(&ts[i], RT_NEVER), 0);
	}
	*(int *)arg = N;
}

Test(rt, spawn_join_100k)
{
	int n = 0;
	counter = 0;
	run_main(spawn_many, &n);
	cr_assert_eq(n, 100000);
	cr_assert_eq(counter, 200000);
	cr_assert_eq(rt_loop_ntasks(loop), 0);
}

/* --- ping-pong between two tasks through channels -------------------------- */
struct pp {
	struct rt_chan *a, *b;
	int rounds;
};

static void ponger(void *arg)
{
	struct pp *pp = arg;
	void *v;
	while (rt_chan_recv(pp->a, &v, RT_NEVER) == 0)
		cr_assert_eq(rt_chan_send(pp->b, (char *)v + 1), 0);
}

static void pinger(void *arg)
{
	struct pp *pp = arg;
	pp->a = rt_chan_create(1);
	pp->b = rt_chan_create(1);
	struct rt_task *p = rt_task_spawn(ponger, pp, "ponger");
	uintptr_t x = 0;
	for (int i = 0; i < pp->rounds; i++) {
		void *v;
		cr_assert_eq(rt_chan_send(pp->a, (void *)(x + 1)), 0);
		cr_assert_eq(rt_chan_recv(pp->b, &v, RT_NEVER), 0);
		x = (uintptr_t)v;
	}
	cr_assert_eq(x, 2u * pp->rounds);
	rt_chan_close(pp->a);
	cr_assert_eq(rt_task_join(&p, RT_NEVER), 0);
	rt_chan_destroy(&pp->a);
	rt_chan_destroy(&pp->b);
}

Test(rt, ping_pong)
{
	struct pp pp = {.rounds = 10000};
	run_main(pinger, &pp);
}

/* --- deadlines ------------------------------------------------------------ */
static void deadline_main(void *arg)
{
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	char buf[16];
	rt_time_t t0 = rt_clock_now();
	ssize_t r = rt_recv(sv[0], buf, sizeof(buf), 0, t0 + 50 * RT_MS);
	rt_time_t el = rt_clock_now() - t0;
	cr_assert_eq(r, -ETIMEDOUT, "recv past its deadline gave %zd", r);
	cr_assert_geq(el, 45 * RT_MS);
	/* a deadline already in the past fails at once */
	r = rt_recv(sv[0], buf, sizeof(buf), 0, rt_clock_now() - 1);
	cr_assert_eq(r, -ETIMEDOUT);
	/* data that arrives before the deadline is returned normally */
	cr_assert_eq(write(sv[1], "hi", 2), 2);
	r = rt_recv(sv[0], buf, sizeof(buf), 0, rt_clock_now() + RT_SEC);
	cr_assert_eq(r, 2);
	/* a sleep ends at its deadline */
	t0 = rt_clock_now();
	cr_assert_eq(rt_sleep_until(t0 + 20 * RT_MS), 0);
	cr_assert_geq(rt_clock_now() - t0, 19 * RT_MS);
	/* a channel receive with a deadline */
	struct rt_chan *ch = rt_chan_create(4);
	void *v;
	cr_assert_eq(rt_chan_recv(ch, &v, rt_clock_now() + 10 * RT_MS), -ETIMEDOUT);
	rt_chan_destroy(&ch);
	rt_close(sv[0]);
	rt_close(sv[1]);
	*(int *)arg = 1;
}

Test(rt, deadline_fires)
{
	int ok = 0;
	run_main(deadline_main, &ok);
	cr_assert(ok);
}

/* --- cancel during a pending recv ----------------------------------------- */
struct cancel_ctx {
	int fd;
	ssize_t res;
	int after;
};

static void blocked_reader(void *arg)
{
	struct cancel_ctx *c = arg;
	char buf[8];
	c->res = rt_recv(c->fd, buf, sizeof(buf), 0, RT_NEVER);
	/* sticky: the next await fails at once */
	c->after = rt_sleep_until(rt_clock_now() + RT_SEC);
}

static void canceller(void *arg)
{
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct cancel_ctx c = {.fd = sv[0], .res = 1};
	struct rt_task *t = rt_task_spawn(blocked_reader, &c, "reader");
	/* let the reader park in its recv */
	rt_sleep_until(rt_clock_now() + 10 * RT_MS);
	rt_task_cancel(t);
	rt_time_t t0 = rt_clock_now();
	cr_assert_eq(rt_task_join(&t, RT_NEVER), 0);
	cr_assert_lt(rt_clock_now() - t0, 500 * RT_MS);
	cr_assert_eq(c.res, -ECANCELED);
	cr_assert_eq(c.after, -ECANCELED);
	rt_close(sv[0]);
	rt_close(sv[1]);
	*(int *)arg = 1;
}

Test(rt, cancel_pending_recv)
{
	int ok = 0;
	run_main(canceller, &ok);
	cr_assert(ok);
}

/* --- a channel fed from another thread ------------------------------------ */
struct xthread {
	struct rt_chan *ch;
	long n;
};

static void *producer(void *arg)
{
	struct xthread *x = arg;
	for (long i = 1; i <= x->n; i++) {
		while (rt_chan_send(x->ch, (void *)i) == -EAGAIN)
			sched_yield(); /* a plain thread may spin; a loop would not */
	}
	rt_chan_close(x->ch);
	return NULL;
}

static void consumer(void *arg)
{
	struct xthread *x = arg;
	x->ch = rt_chan_create(64);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, producer, x), 0);
	long sum = 0, expect = 0;
	void *v;
	int r;
	while ((r = rt_chan_recv(x->ch, &v, rt_clock_now() + 10 * RT_SEC)) == 0) {
		expect++;
		cr_assert_eq((long)v, expect, "items arrive in order");
		sum += (long)v;
	}
	cr_assert_eq(r, -EPIPE);
	pthread_join(th, NULL); /* test only: the producer has already closed */
	cr_assert_eq(sum, x->n * (x->n + 1) / 2);
	rt_chan_destroy(&x->ch);
}

Test(rt, channel_cross_thread)
{
	struct xthread x = {.n = 200000};
	run_main(consumer, &x);
}

/* --- worker pool ---------------------------------------------------------- */
static void square(void *arg)
{
	long *v = arg;
	*v = *v * *v;
}

struct poolctx {
	struct rt_workpool *p;
	long sum;
};

static void pool_user(void *arg)
{
	struct poolctx *c = arg;
	for (long i = 0; i < 1000; i++) {
		long v = i;
		int r = rt_workpool_run(c->p, square, &v, RT_NEVER);
		cr_assert_eq(r, 0);
		c->sum += v;
	}
}

static void pool_main(void *arg)
{
	struct poolctx *c = arg;
	struct rt_task *ts[4];
	for (int i = 0; i < 4; i++)
		ts[i] = rt_task_spawn(pool_user, c, "pool");
	for (int i = 0; i < 4; i++)
		rt_task_join(&ts[i], RT_NEVER);
}

Test(rt, workpool_jobs_complete_on_loop)
{
	struct poolctx c = {.p = rt_workpool_create(2, 16)};
	cr_assert_not_null(c.p);
	run_main(pool_main, &c);
	rt_workpool_destroy(&c.p);
	long one = 0;
	for (long i = 0; i < 1000; i++)
		one += i * i;
	cr_assert_eq(c.sum, 4 * one);
}

/* --- echo server over loopback, 1,000 concurrent connections --------------- */
enum { ECHO_CONNS = 1000, ECHO_ROUNDS = 5 };

struct echo {
	int lfd;
	struct sockaddr_in addr;
	int served, clients_ok;
};

static void echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[256];
	for (;;) {
		ssize_t n = rt_recv(fd, buf, sizeof(buf), 0, rt_clock_now() + 10 * RT_SEC);
		if (n <= 0)
			break;
		if (rt_send_all(fd, buf, (size_t)n, rt_clock_now() + 10 * RT_SEC) < 0)
			break;
	}
	rt_close(fd);
}

static void echo_accept(void *arg)
{
	struct echo *e = arg;
	while (e->served < ECHO_CONNS) {
		int fd = rt_accept(e->lfd, NULL, NULL, rt_clock_now() + 10 * RT_SEC);
		cr_assert_geq(fd, 0, "accept: %d", fd);
		e->served++;
		cr_assert_eq(rt_task_spawn_detached(echo_conn, (void *)(intptr_t)fd, "echo"), 0);
	}
}

static void echo_client(void *arg)
{
	struct echo *e = arg;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	int r = rt_connect(fd, (struct sockaddr *)&e->addr, sizeof(e->addr),
			   rt_clock_now() + 10 * RT_SEC);
	cr_assert_eq(r, 0, "connect: %d", r);
	for (int i = 0; i < ECHO_ROUNDS; i++) {
		char msg[32], got[32];
		int len = snprintf(msg, sizeof(msg), "hello %d", i);
		cr_assert_eq(rt_send_all(fd, msg, (size_t)len, rt_clock_now() + 10 * RT_SEC), len);
		size_t have = 0;
		while (have < (size_t)len) {
			ssize_t n = rt_recv(fd, got + have, sizeof(got) - have, 0,
					    rt_clock_now() + 10 * RT_SEC);
			cr_assert_gt(n, 0);
			have += (size_t)n;
		}
		cr_assert_eq(memcmp(msg, got, (size_t)len), 0);
	}
	rt_close(fd);
	e->clients_ok++;
}

static void echo_main(void *arg)
{
	struct echo *e = arg;
	e->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	e->addr.sin_family = AF_INET;
	e->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t al = sizeof(e->addr);
	cr_assert_eq(bind(e->lfd, (struct sockaddr *)&e->addr, al), 0);
	cr_assert_eq(listen(e->lfd, 4096), 0);
	cr_assert_eq(getsockname(e->lfd, (struct sockaddr *)&e->addr, &al), 0);
	struct rt_task *acc = rt_task_spawn(echo_accept, e, "accept");
	struct rt_task *cs[ECHO_CONNS];
	for (int i = 0; i < ECHO_CONNS; i++)
		cs[i] = rt_task_spawn(echo_client, e, "client");
	for (int i = 0; i < ECHO_CONNS; i++)
		rt_task_join(&cs[i], RT_NEVER);
	rt_task_join(&acc, RT_NEVER);
	rt_close(e->lfd);
}

Test(rt, echo_1000_connections)
{
	struct echo e = {0};
	run_main(echo_main, &e);
	cr_assert_eq(e.served, ECHO_CONNS);
	cr_assert_eq(e.clients_ok, ECHO_CONNS);
}

/* --- file read/write through the ring -------------------------------------- */
static void file_main(void *arg)
{
	char path[] = "/tmp/rt_file_XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	unlink(path);
	const char msg[] = "written through io_uring";
	cr_assert_eq(rt_write(fd, msg, sizeof(msg), 100, rt_clock_now() + RT_SEC),
		     (ssize_t)sizeof(msg));
	char got[64] = {0};
	cr_assert_eq(rt_read(fd, got, sizeof(msg), 100, rt_clock_now() + RT_SEC),
		     (ssize_t)sizeof(msg));
	cr_assert_str_eq(got, msg);
	/* reading past the end gives 0 bytes, not an error */
	cr_assert_eq(rt_read(fd, got, sizeof(got), 4096, RT_NEVER), 0);
	cr_assert_eq(rt_close(fd), 0);
	*(int *)arg = 1;
}

Test(rt, file_read_write_at_offsets)
{
	int ok = 0;
	run_main(file_main, &ok);
	cr_assert(ok);
}

/* --- a pool job that has not started is dropped when its waiter gives up --- */
static void slow_job(void *arg)
{
	usleep(200 * 1000); /* a worker thread may block; a loop never does */
	(*(int *)arg)++;
}

struct dropctx {
	struct rt_workpool *p;
	int ran_slow, ran_dropped, r_slow, r_dropped;
};

static void run_slow(void *arg)
{
	struct dropctx *d = arg;
	d->r_slow = rt_workpool_run(d->p, slow_job, &d->ran_slow, RT_NEVER);
}

static void drop_main(void *arg)
{
	struct dropctx *d = arg;
	struct rt_task *t = rt_task_spawn(run_slow, d, "slow");
	rt_sleep_until(rt_clock_now() + 20 * RT_MS); /* the single worker is busy now */
	/* queued behind the slow job; its deadline passes before it starts */
	d->r_dropped =
	    rt_workpool_run(d->p, slow_job, &d->ran_dropped, rt_clock_now() + 50 * RT_MS);
	rt_task_join(&t, RT_NEVER);
}

Test(rt, workpool_drops_jobs_whose_waiter_timed_out)
{
	struct dropctx d = {.p = rt_workpool_create(1, 4)};
	run_main(drop_main, &d);
	rt_workpool_destroy(&d.p);
	cr_assert_eq(d.r_slow, 0);
	cr_assert_eq(d.ran_slow, 1);
	cr_assert_eq(d.r_dropped, -ETIMEDOUT);
	cr_assert_eq(d.ran_dropped, 0, "a dropped job must never run");
}

/* --- the starvation watchdog ----------------------------------------------- */
static int slow_calls;
static char slow_name[32];
static uint64_t slow_ns;

static void on_slow(int loop_id, const char *name, uint64_t ns)
{
	slow_calls++;
	snprintf(slow_name, sizeof(slow_name), "%s", name);
	slow_ns = ns;
}

static void spin(uint64_t ns)
{
	rt_time_t end = rt_clock_now() + ns;
	while (rt_clock_now() < end)
		; /* a computation that never awaits */
}

static void hog(void *arg)
{
	spin(30 * RT_MS);
	rt_task_yield();
	spin(30 * RT_MS); /* overruns again: counted, not reported twice */
}

Test(rt_watchdog, slow_task_is_reported_once_and_counted)
{
	rt_loop_destroy(&loop); /* replace the suite's loop with one that has a watchdog */
	int err = 0;
	struct rt_loop_opts o = {.watchdog_ns = 10 * RT_MS, .on_slow_task = on_slow, .id = 7};
	loop = rt_loop_create(&o, &err);
	cr_assert_not_null(loop);
	slow_calls = 0;
	cr_assert(rt_task_spawn_detached(hog, NULL, "hog") == 0);
	rt_loop_stop(loop);
	rt_loop_run(loop);
	uint64_t slow, run, lag;
	rt_loop_stats_read(loop, &slow, &run, &lag, true);
	cr_assert_eq(slow_calls, 1, "reported %d times", slow_calls);
	cr_assert_str_eq(slow_name, "hog");
	cr_assert_geq(slow_ns, 29 * RT_MS, "reported %llu ns", (unsigned long long)slow_ns);
	/* Both overruns, and at most one more: a run of the loop's own that a
	 * busy machine preempted past the budget counts too (a run within the
	 * budget cannot be told from one that was preempted, so it is not
	 * asserted here). */
	cr_assert(slow >= 2 && slow <= 3, "counted %llu overruns", (unsigned long long)slow);
	cr_assert_geq(run, 29 * RT_MS);
	cr_assert_geq(lag, 29 * RT_MS);
	uint64_t again;
	rt_loop_stats_read(loop, &again, &run, &lag, true);
	cr_assert_eq(again, slow, "the counter is not reset by reads");
}

/* --- the backend chosen ----------------------------------------------------- */

static void make_loop_with(enum rt_backend b, const char *env, const char *want)
{
	if (env)
		setenv("RINGCACHE_IO_BACKEND", env, 1);
	else
		unsetenv("RINGCACHE_IO_BACKEND");
	int err = 0, uring_err = 7;
	struct rt_loop_opts o = {.backend = b, .uring_err = &uring_err};
	struct rt_loop *l = rt_loop_create(&o, &err);
	cr_assert_not_null(l, "rt_loop_create(%d, env %s): %d", b, env ? env : "-", err);
	cr_assert_str_eq(rt_loop_backend(l), want, "backend %d, env %s", b, env ? env : "-");
	cr_assert_eq(uring_err, 0, "no fallback happened");
	rt_loop_destroy(&l);
}

Test(rt_backend, chosen_by_the_option_and_by_the_environment_only_for_auto)
{
	make_loop_with(RT_BACKEND_EPOLL, NULL, "epoll");
	make_loop_with(RT_BACKEND_IO_URING, NULL, "io_uring");
	make_loop_with(RT_BACKEND_AUTO, NULL, "io_uring");
	make_loop_with(RT_BACKEND_AUTO, "epoll", "epoll");
	make_loop_with(RT_BACKEND_AUTO, "io_uring", "io_uring");
	/* An explicit choice wins over the environment. */
	make_loop_with(RT_BACKEND_IO_URING, "epoll", "io_uring");
	make_loop_with(RT_BACKEND_EPOLL, "io_uring", "epoll");
}

Test(rt_backend, the_explanation_names_the_cause_and_the_fix)
{
	char buf[512];
	rt_uring_explain(-EPERM, buf, sizeof(buf));
	cr_assert(strstr(buf, "io_uring_setup: Operation not permitted"), "%s", buf);
	cr_assert(strstr(buf, "io.backend: epoll"), "%s", buf);
	rt_uring_explain(-ENOSYS, buf, sizeof(buf));
	cr_assert(strstr(buf, "Function not implemented"), "%s", buf);
	cr_assert(strstr(buf, "seccomp") || strstr(buf, "io_uring_disabled"), "%s", buf);
	/* An error that is no refusal is just said (unless the sysctl, which
	 * the explanation reads, disables io_uring on this machine). */
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
	int disabled = 0;
	if (f) {
		if (fscanf(f, "%d", &disabled) != 1)
			disabled = 0;
		fclose(f);
	}
	rt_uring_explain(-ENOMEM, buf, sizeof(buf));
	if (disabled != 2)
		cr_assert_str_eq(buf, "io_uring_setup: Cannot allocate memory");
}

/* --- epoll: a descriptor number closed behind the loop's back ------------- */

static void write_later(void *arg)
{
	rt_sleep_until(rt_deadline_in(50 * RT_MS));
	cr_assert_eq(write(*(int *)arg, "x", 1), 1);
}

static void reused_number(void *arg)
{
	(void)arg;
	int a[2], b[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	char c;
	/* A recv that waits and is given up: the loop armed a[0]. */
	cr_assert_eq(rt_recv(a[0], &c, 1, 0, rt_deadline_in(20 * RT_MS)), -ETIMEDOUT);
	/* Closed without rt_close, as the main thread closes a listener of a
	 * reload; the number comes back as another socket. */
	int n = a[0];
	close(a[0]);
	close(a[1]);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	cr_assert(b[0] == n || b[1] == n, "the number was not reused (%d: %d %d)", n, b[0], b[1]);
	int r = b[0] == n ? b[0] : b[1];
	static int w;
	w = b[0] == n ? b[1] : b[0];
	/* The byte comes while the recv waits: the loop must have asked the
	 * kernel for the new file, the set having lost the old one. */
	cr_assert(rt_task_spawn_detached(write_later, &w, "writer") == 0);
	cr_assert_eq(rt_recv(r, &c, 1, 0, rt_deadline_in(2 * RT_SEC)), 1);
	cr_assert_eq(c, 'x');
	char more;
	cr_assert_eq(rt_recv(r, &more, 1, 0, rt_deadline_in(20 * RT_MS)), -ETIMEDOUT);
	cr_assert_eq(write(w, "y", 1), 1);
	cr_assert_eq(rt_recv(r, &more, 1, 0, rt_deadline_in(2 * RT_SEC)), 1);
	close(b[0]);
	close(b[1]);
}

Test(rt_backend, epoll_rearms_a_number_closed_outside_rt_close)
{
	unsetenv("RINGCACHE_IO_BACKEND");
	int err = 0;
	struct rt_loop_opts o = {.backend = RT_BACKEND_EPOLL};
	loop = rt_loop_create(&o, &err);
	cr_assert_not_null(loop, "%d", err);
	run_main(reused_number, NULL);
	rt_loop_destroy(&loop);
}
