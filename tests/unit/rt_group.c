/* Unit tests of src/rt/group.c: membership, wait, cancel in every task state, enter/leave. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rt/chan.h"
#include "rt/group.h"
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

/* Run MAIN as the only top-level task until every task has ended. */
static void run_main(rt_task_fn main_fn, void *arg)
{
	cr_assert(rt_task_spawn_detached(main_fn, arg, "main") == 0);
	rt_loop_stop(loop); /* returns once all tasks are done */
	rt_loop_run(loop);
	cr_assert_eq(rt_loop_ntasks(loop), 0);
}

static rt_time_t in_ms(unsigned ms)
{
	return rt_clock_now() + ms * RT_MS;
}

TestSuite(rt_group, .init = setup, .fini = teardown, .timeout = 60);

/* --- an empty group: wait returns at once ----------------------------------- */
static void set_flag(void *arg)
{
	*(int *)arg = 1;
}

static void empty_main(void *arg)
{
	struct rt_group g;
	rt_group_init(&g);
	cr_assert_eq(rt_group_size(&g), 0);
	static int other_ran; /* set_flag runs after this task has ended */
	other_ran = 0;
	cr_assert_eq(rt_task_spawn_detached(set_flag, &other_ran, "other"), 0);
	cr_assert_eq(rt_group_wait(&g, RT_NEVER), 0);
	cr_assert_eq(rt_group_wait(&g, rt_clock_now() - 1), 0, "a passed deadline is moot");
	cr_assert_eq(other_ran, 0, "the wait did not park: no other task ran");
	rt_task_cancel(rt_task_self());
	cr_assert_eq(rt_group_wait(&g, RT_NEVER), 0, "empty is empty, even for a cancelled task");
	rt_group_fini(&g);
	*(int *)arg = 1;
}

Test(rt_group, wait_on_empty_group_returns_at_once)
{
	int ok = 0;
	run_main(empty_main, &ok);
	cr_assert(ok);
}

/* --- members ending at different times: wait returns after the last -------- */
enum { TIMED_N = 8 };

struct timed {
	struct rt_group g;
	rt_time_t t0;
	int ended;
	struct timed_member {
		struct timed *tm;
		unsigned ms;
		int res, rank;
		size_t size_at_end;
		rt_time_t ended_at;
	} m[TIMED_N];
};

static void timed_member(void *arg)
{
	struct timed_member *m = arg;
	m->res = rt_sleep_until(m->tm->t0 + m->ms * RT_MS);
	m->rank = ++m->tm->ended;
	m->size_at_end = rt_group_size(&m->tm->g); /* still counts itself */
	m->ended_at = rt_clock_now();
}

static void timed_main(void *arg)
{
	struct timed *tm = arg;
	static const unsigned ms[TIMED_N] = {30, 5, 20, 10, 40, 15, 25, 35};
	rt_group_init(&tm->g);
	tm->t0 = rt_clock_now();
	for (int i = 0; i < TIMED_N; i++) {
		tm->m[i] = (struct timed_member){.tm = tm, .ms = ms[i]};
		cr_assert_eq(rt_group_spawn(&tm->g, timed_member, &tm->m[i], "timed"), 0);
	}
	cr_assert_eq(rt_group_size(&tm->g), TIMED_N, "members count before they run");
	cr_assert_eq(rt_group_wait(&tm->g, in_ms(10000)), 0);
	rt_time_t woke = rt_clock_now();
	cr_assert_eq(tm->ended, TIMED_N, "wait returned before the last member ended");
	cr_assert_eq(rt_group_size(&tm->g), 0);
	cr_assert_geq(woke - tm->t0, 39 * RT_MS);
	for (int i = 0; i < TIMED_N; i++) {
		cr_assert_eq(tm->m[i].res, 0);
		cr_assert_eq(tm->m[i].size_at_end, (size_t)(TIMED_N - tm->m[i].rank + 1));
		cr_assert_leq(tm->m[i].ended_at, woke);
	}
	rt_group_fini(&tm->g);
}

Test(rt_group, wait_returns_when_the_last_member_ends)
{
	struct timed tm = {0};
	run_main(timed_main, &tm);
	cr_assert_eq(tm.ended, TIMED_N);
}

/* --- cancel reaches a member in every state a task can be in --------------- */
enum state {
	ST_NOT_STARTED,	 /* spawned, never ran (no stack yet) */
	ST_RUNNABLE,	 /* yielded: in the run queue */
	ST_SLEEP,	 /* parked in an io_uring timeout */
	ST_CHAN,	 /* parked in rt_wait (channel) with a deadline in the heap */
	ST_CHAN_WOKEN,	 /* rt_wake'd with a result, not yet run */
	ST_JOIN,	 /* parked joining a child outside the group */
	ST_GROUP_WAIT,	 /* parked waiting for another group */
	ST_RECV,	 /* parked in a recv on a socketpair */
	ST_RECV_READY,	 /* parked in a recv whose data arrived just before the cancel */
	ST_RECV_REAPED,	 /* its recv's CQE reaped (runnable, result pending), not yet run */
	ST_POOL_RUNNING, /* parked in an rt_wait that cannot let go (job running) */
	ST_POOL_QUEUED,	 /* parked on a pool job that has not started */
	ST_CANCELLER,	 /* running: the member that calls rt_group_cancel */
	ST_COUNT
};

static const char *const state_name[ST_COUNT] = {
    [ST_NOT_STARTED] = "not started",
    [ST_RUNNABLE] = "runnable",
    [ST_SLEEP] = "sleep",
    [ST_CHAN] = "chan",
    [ST_CHAN_WOKEN] = "chan woken",
    [ST_JOIN] = "join",
    [ST_GROUP_WAIT] = "group wait",
    [ST_RECV] = "recv",
    [ST_RECV_READY] = "recv ready",
    [ST_RECV_REAPED] = "recv reaped",
    [ST_POOL_RUNNING] = "pool running",
    [ST_POOL_QUEUED] = "pool queued",
    [ST_CANCELLER] = "canceller",
};

struct every;
struct every_member {
	enum state st;
	struct every *e;
	int started;
	long first;		  /* result of the await pending at cancel */
	int later;		  /* result of the await after it */
	bool cancelled_on_return; /* the cancel came before the pending await returned */
	bool ended;
};

struct every {
	struct rt_group g, sub, kids;
	struct every_member m[ST_COUNT];
	int parked; /* members that reached their await */
	struct rt_chan *ch, *ch_woken;
	int sv[2], sv_ready[2], sv_reaped[2], devnull;
	struct rt_workpool *pool;
	atomic_int job_started;
	int job_ran, queued_ran;
	struct rt_task *finished; /* entered, finished, not yet joined */
};

static void slow_job(void *arg)
{
	struct every *e = arg;
	atomic_store(&e->job_started, 1);
	usleep(100 * 1000); /* a worker thread may block; a loop never does */
	e->job_ran++;
}

static void queued_job(void *arg)
{
	(*(int *)arg)++;
}

/* Joined by a member, ended by the test through a group of its own. */
static void child_sleeper(void *arg)
{
	struct every *e = arg;
	rt_group_enter(&e->kids);
	rt_sleep_until(RT_NEVER);
}

static void every_member(void *arg);

static void canceller(struct every *e)
{
	while (e->parked < ST_CANCELLER - 1 || !atomic_load(&e->job_started))
		cr_assert_eq(rt_sleep_until(in_ms(1)), 0);
	cr_assert_eq(rt_sleep_until(in_ms(5)), 0); /* every SQE is in the kernel */
	cr_assert_eq(rt_group_size(&e->g), ST_COUNT - 1);
	/* This write completes inline when the loop next submits, before the
	 * kernel runs the recv's completion: the loop reaps both in one batch
	 * and queues this task first, so it runs while the reader waits in
	 * the run queue with its result. (Where the kernel orders them the
	 * other way, the reader has its result anyway.) */
	cr_assert_eq(write(e->sv_reaped[1], "hi", 2), 2);
	cr_assert_eq(rt_write(e->devnull, "x", 1, 0, RT_NEVER), 1);
	/* The data reaches the recv now, but its completion has not run when
	 * the cancel is submitted (this task keeps the loop): either may win. */
	cr_assert_eq(write(e->sv_ready[1], "hi", 2), 2);
	cr_assert_eq(rt_chan_send(e->ch_woken, (void *)1), 0); /* wakes it, does not run it */
	e->m[ST_NOT_STARTED] = (struct every_member){.st = ST_NOT_STARTED, .e = e};
	cr_assert_eq(rt_group_spawn(&e->g, every_member, &e->m[ST_NOT_STARTED], "new"), 0);
	cr_assert_eq(rt_group_size(&e->g), ST_COUNT);
	rt_group_cancel(&e->g);
	cr_assert(rt_task_cancelled(), "a member that cancels its group is cancelled too");
}

static void every_member(void *arg)
{
	struct every_member *m = arg;
	struct every *e = m->e;
	char buf[8];
	void *v;
	m->started++;
	/* Counted just before the await: once the canceller sees the count,
	 * the member has switched away into it. */
	if (m->st != ST_NOT_STARTED && m->st != ST_CANCELLER && m->st != ST_POOL_QUEUED)
		e->parked++;
	switch (m->st) {
	case ST_NOT_STARTED:
	case ST_SLEEP:
		m->first = rt_sleep_until(in_ms(10000));
		break;
	case ST_RUNNABLE: {
		int r;
		while ((r = rt_task_yield()) == 0)
			;
		m->first = r;
		break;
	}
	case ST_CHAN:
		m->first = rt_chan_recv(e->ch, &v, in_ms(10000));
		break;
	case ST_CHAN_WOKEN:
		m->first = rt_chan_recv(e->ch_woken, &v, RT_NEVER);
		break;
	case ST_JOIN: {
		struct rt_task *c = rt_task_spawn(child_sleeper, e, "child");
		cr_assert_not_null(c);
		m->first = rt_task_join(&c, RT_NEVER);
		break;
	}
	case ST_GROUP_WAIT:
		m->first = rt_group_wait(&e->sub, RT_NEVER);
		break;
	case ST_RECV:
		m->first = rt_recv(e->sv[0], buf, sizeof(buf), 0, RT_NEVER);
		break;
	case ST_RECV_READY:
		m->first = rt_recv(e->sv_ready[0], buf, sizeof(buf), 0, RT_NEVER);
		break;
	case ST_RECV_REAPED:
		m->first = rt_recv(e->sv_reaped[0], buf, sizeof(buf), 0, RT_NEVER);
		break;
	case ST_POOL_RUNNING:
		m->first = rt_workpool_run(e->pool, slow_job, e, RT_NEVER);
		break;
	case ST_POOL_QUEUED:
		while (!atomic_load(&e->job_started)) /* queue behind the running job */
			cr_assert_eq(rt_sleep_until(in_ms(1)), 0);
		e->parked++;
		m->first = rt_workpool_run(e->pool, queued_job, &e->queued_ran, RT_NEVER);
		break;
	case ST_CANCELLER:
		canceller(e);
		m->first = 0;
		break;
	case ST_COUNT:
		break;
	}
	m->cancelled_on_return = rt_task_cancelled();
	m->later = rt_sleep_until(in_ms(10000));
	m->ended = true;
}

static void enter_and_finish(void *arg)
{
	rt_group_enter(arg);
}

static void sub_member(void *arg)
{
	rt_sleep_until(in_ms(10000));
}

static void every_main(void *arg)
{
	struct every *e = arg;
	rt_group_init(&e->g);
	rt_group_init(&e->sub);
	rt_group_init(&e->kids);
	e->ch = rt_chan_create(1);
	e->ch_woken = rt_chan_create(1);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, e->sv), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, e->sv_ready), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, e->sv_reaped), 0);
	e->devnull = open("/dev/null", O_WRONLY | O_CLOEXEC); /* test setup, not a loop's work */
	cr_assert_geq(e->devnull, 0);
	cr_assert_eq(rt_group_spawn(&e->sub, sub_member, NULL, "sub"), 0);

	/* Finished and not joined: it left the group when it ended. */
	e->finished = rt_task_spawn(enter_and_finish, &e->g, "finished");
	cr_assert_eq(rt_sleep_until(in_ms(1)), 0);
	cr_assert_eq(rt_group_size(&e->g), 0);

	for (int s = 0; s < ST_COUNT; s++) {
		if (s == ST_NOT_STARTED)
			continue; /* the canceller spawns it just before cancelling */
		e->m[s] = (struct every_member){.st = s, .e = e};
		cr_assert_eq(rt_group_spawn(&e->g, every_member, &e->m[s], state_name[s]), 0);
	}
	rt_time_t t0 = rt_clock_now();
	cr_assert_eq(rt_group_wait(&e->g, in_ms(10000)), 0);
	rt_time_t waited = rt_clock_now() - t0;
	cr_assert_eq(rt_group_size(&e->g), 0);
	cr_assert_lt(waited, 5 * RT_SEC, "the group drained in %llu ms",
		     (unsigned long long)(waited / RT_MS));

	for (int s = 0; s < ST_COUNT; s++) {
		struct every_member *m = &e->m[s];
		cr_assert_eq(m->started, 1, "%s: ran once", state_name[s]);
		cr_assert(m->ended, "%s: ended", state_name[s]);
		cr_assert_eq(m->later, -ECANCELED, "%s: later await gave %d", state_name[s],
			     m->later);
		switch (s) {
		case ST_CANCELLER:
			break;
		case ST_CHAN_WOKEN:
			cr_assert_eq(m->first, 0, "a result already delivered is kept");
			break;
		case ST_RECV_REAPED:
			cr_assert_eq(m->first, 2, "bytes already received are kept, got %ld",
				     m->first);
			cr_log_info("recv reaped: cancelled while it waited to run: %s",
				    m->cancelled_on_return ? "yes" : "no");
			break;
		case ST_RECV_READY:
			cr_log_info("recv whose data was on its way: %ld", m->first);
			cr_assert(m->first == 2 || m->first == -ECANCELED, "recv ready gave %ld",
				  m->first);
			break;
		default:
			cr_assert_eq(m->first, -ECANCELED, "%s: pending await gave %ld",
				     state_name[s], m->first);
		}
	}
	cr_assert_eq(e->job_ran, 1, "the running job's wait went on until it ended");
	cr_assert_eq(e->queued_ran, 0, "the queued job was dropped");
	cr_assert_eq(rt_task_join(&e->finished, RT_NEVER), 0);

	cr_assert_eq(rt_group_size(&e->sub), 1, "the other group is untouched");
	rt_group_cancel(&e->sub);
	cr_assert_eq(rt_group_wait(&e->sub, in_ms(5000)), 0);
	rt_group_fini(&e->sub);
	cr_assert_eq(rt_group_size(&e->kids), 1, "the joined child lives on, detached");
	rt_group_cancel(&e->kids);
	cr_assert_eq(rt_group_wait(&e->kids, in_ms(5000)), 0);
	rt_group_fini(&e->kids);
	rt_group_fini(&e->g);
	rt_chan_destroy(&e->ch);
	rt_chan_destroy(&e->ch_woken);
	for (int i = 0; i < 2; i++) {
		rt_close(e->sv[i]);
		rt_close(e->sv_ready[i]);
		rt_close(e->sv_reaped[i]);
	}
	rt_close(e->devnull);
}

Test(rt_group, cancel_reaches_members_in_every_state)
{
	struct every e;
	memset(&e, 0, sizeof(e));
	e.pool = rt_workpool_create(1, 4);
	cr_assert_not_null(e.pool);
	run_main(every_main, &e);
	rt_workpool_destroy(&e.pool);
}

/* --- a wait whose deadline passes; the group still works after ------------- */
static void sleep_ms(void *arg)
{
	int *res = arg;
	*res = rt_sleep_until(in_ms(300));
}

static void deadline_main(void *arg)
{
	struct rt_group g;
	int res[3] = {1, 1, 1}, res2 = 1;
	rt_group_init(&g);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(rt_group_spawn(&g, sleep_ms, &res[i], "sleep"), 0);
	rt_time_t t0 = rt_clock_now();
	cr_assert_eq(rt_group_wait(&g, t0 + 20 * RT_MS), -ETIMEDOUT);
	rt_time_t el = rt_clock_now() - t0;
	cr_assert_geq(el, 19 * RT_MS);
	cr_assert_lt(el, 300 * RT_MS);
	cr_assert_eq(rt_group_wait(&g, rt_clock_now() - 1), -ETIMEDOUT, "a passed deadline");
	cr_assert_eq(rt_group_size(&g), 3, "a failed wait changes nothing");
	cr_assert_eq(rt_group_wait(&g, RT_NEVER), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(res[i], 0, "members are not cancelled by a waiter's timeout");
	cr_assert_eq(rt_group_spawn(&g, sleep_ms, &res2, "again"), 0);
	cr_assert_eq(rt_group_wait(&g, in_ms(5000)), 0);
	cr_assert_eq(res2, 0);
	rt_group_fini(&g);
	*(int *)arg = 1;
}

Test(rt_group, wait_past_its_deadline_times_out_and_the_group_still_works)
{
	int ok = 0;
	run_main(deadline_main, &ok);
	cr_assert(ok);
}

/* --- a waiter that is cancelled -------------------------------------------- */
struct waiter {
	struct rt_group *g;
	rt_time_t deadline;
	int res, again;
	rt_time_t woke;
};

static void waiter(void *arg)
{
	struct waiter *w = arg;
	w->res = rt_group_wait(w->g, w->deadline);
	w->woke = rt_clock_now();
	w->again = rt_group_wait(w->g, w->deadline);
}

static void forever_member(void *arg)
{
	int *res = arg;
	*res = rt_sleep_until(RT_NEVER);
}

static void waiter_cancel_main(void *arg)
{
	struct rt_group g;
	rt_group_init(&g);
	int mres = 1;
	cr_assert_eq(rt_group_spawn(&g, forever_member, &mres, "forever"), 0);
	struct waiter w = {.g = &g, .deadline = RT_NEVER, .res = 1, .again = 1};
	struct rt_task *t = rt_task_spawn(waiter, &w, "waiter");
	cr_assert_eq(rt_sleep_until(in_ms(10)), 0);
	rt_task_cancel(t);
	cr_assert_eq(rt_task_join(&t, in_ms(5000)), 0);
	cr_assert_eq(w.res, -ECANCELED);
	cr_assert_eq(w.again, -ECANCELED, "a cancelled task's next wait fails at once");
	cr_assert_eq(rt_group_size(&g), 1);
	cr_assert_eq(mres, 1, "cancelling a waiter leaves the members alone");
	rt_group_cancel(&g);
	cr_assert_eq(rt_group_wait(&g, in_ms(5000)), 0);
	cr_assert_eq(mres, -ECANCELED);
	rt_group_fini(&g);
	*(int *)arg = 1;
}

Test(rt_group, a_cancelled_waiter_gets_ecanceled_and_unregisters)
{
	int ok = 0;
	run_main(waiter_cancel_main, &ok);
	cr_assert(ok);
}

/* --- several waiters, one of which times out from the middle of the list --- */
struct member_end {
	int res;
	rt_time_t ended;
};

static void end_after_50ms(void *arg)
{
	struct member_end *m = arg;
	m->res = rt_sleep_until(in_ms(50));
	m->ended = rt_clock_now();
}

static void waiters_main(void *arg)
{
	struct rt_group g;
	rt_group_init(&g);
	struct member_end m = {1, 0};
	cr_assert_eq(rt_group_spawn(&g, end_after_50ms, &m, "member"), 0);
	struct waiter w[3] = {
	    {.g = &g, .deadline = RT_NEVER},
	    {.g = &g, .deadline = in_ms(10)}, /* between the other two */
	    {.g = &g, .deadline = in_ms(10000)},
	};
	struct rt_task *t[3];
	for (int i = 0; i < 3; i++)
		cr_assert_not_null(t[i] = rt_task_spawn(waiter, &w[i], "waiter"));
	for (int i = 0; i < 3; i++)
		cr_assert_eq(rt_task_join(&t[i], in_ms(5000)), 0);
	cr_assert_eq(m.res, 0);
	cr_assert_eq(w[0].res, 0);
	cr_assert_eq(w[2].res, 0);
	cr_assert_geq(w[0].woke, m.ended);
	cr_assert_geq(w[2].woke, m.ended);
	cr_assert_eq(w[1].res, -ETIMEDOUT);
	cr_assert_eq(w[0].again, 0, "the group is empty now");
	cr_assert_eq(w[2].again, 0);
	cr_assert_eq(w[1].again, -ETIMEDOUT, "its deadline had passed, the member had not ended");
	rt_group_fini(&g);
	*(int *)arg = 1;
}

Test(rt_group, several_waiters_all_wake)
{
	int ok = 0;
	run_main(waiters_main, &ok);
	cr_assert(ok);
}

/* --- members spawning members into the same group --------------------------- */
enum { TREE_DEPTH = 6, TREE_NODES = (1 << (TREE_DEPTH + 1)) - 1 };

struct tree {
	struct rt_group g;
	int nodes, ended, cancelled;
	bool forever;	 /* nodes sleep until cancelled */
	bool spawn_late; /* nodes spawn their children on the way out */
	uintptr_t depth[TREE_NODES];
};

static struct tree *tree;
static void tree_node(void *arg);

static void tree_spawn_children(uintptr_t depth)
{
	if (depth == TREE_DEPTH)
		return;
	for (int i = 0; i < 2; i++) {
		int k = tree->nodes++;
		tree->depth[k] = depth + 1;
		cr_assert_eq(rt_group_spawn(&tree->g, tree_node, &tree->depth[k], "node"), 0);
	}
}

static void tree_node(void *arg)
{
	uintptr_t depth = *(uintptr_t *)arg;
	if (!tree->spawn_late)
		tree_spawn_children(depth);
	int r = rt_sleep_until(tree->forever ? RT_NEVER : in_ms(1 + depth % 3));
	if (r == -ECANCELED)
		tree->cancelled++;
	if (tree->spawn_late)
		tree_spawn_children(depth); /* into a cancelled group: cancelled at once */
	tree->ended++;
}

static void tree_main(void *arg)
{
	rt_group_init(&tree->g);
	tree->depth[tree->nodes++] = 0;
	cr_assert_eq(rt_group_spawn(&tree->g, tree_node, &tree->depth[0], "root"), 0);
	if (tree->forever) {
		while (rt_group_size(&tree->g) < TREE_NODES && !tree->spawn_late)
			cr_assert_eq(rt_sleep_until(in_ms(1)), 0);
		if (tree->spawn_late)
			cr_assert_eq(rt_sleep_until(in_ms(5)), 0);
		rt_group_cancel(&tree->g);
	}
	cr_assert_eq(rt_group_wait(&tree->g, in_ms(10000)), 0);
	cr_assert_eq(rt_group_size(&tree->g), 0);
	rt_group_fini(&tree->g);
}

static void run_tree(bool forever, bool spawn_late)
{
	static struct tree t;
	memset(&t, 0, sizeof(t));
	t.forever = forever;
	t.spawn_late = spawn_late;
	tree = &t;
	run_main(tree_main, NULL);
	cr_assert_eq(t.nodes, TREE_NODES);
	cr_assert_eq(t.ended, TREE_NODES);
	cr_assert_eq(t.cancelled, forever ? TREE_NODES : 0);
}

Test(rt_group, members_spawn_members_and_wait_sees_them_all)
{
	run_tree(false, false);
}

Test(rt_group, cancel_reaches_a_tree_of_members)
{
	run_tree(true, false);
}

Test(rt_group, members_spawned_while_the_group_unwinds_are_cancelled)
{
	run_tree(true, true);
}

/* --- cancel, then spawn and enter: cancelled until fini + init --------------- */
struct late {
	struct rt_group *g;
	int first;
	bool cancelled_at_entry, still_cancelled;
};

static void late_member(void *arg)
{
	struct late *l = arg;
	l->first = rt_sleep_until(in_ms(10));
}

static void late_enterer(void *arg)
{
	struct late *l = arg;
	rt_group_enter(l->g);
	l->cancelled_at_entry = rt_task_cancelled();
	l->first = rt_sleep_until(in_ms(10));
	rt_group_leave(l->g);
	l->still_cancelled = rt_task_cancelled();
}

static void late_main(void *arg)
{
	struct rt_group g;
	rt_group_init(&g);
	rt_group_cancel(&g); /* empty: only the state changes */
	struct late a = {.g = &g, .first = 1};
	cr_assert_eq(rt_group_spawn(&g, late_member, &a, "late"), 0);
	cr_assert_eq(rt_group_wait(&g, in_ms(5000)), 0);
	cr_assert_eq(a.first, -ECANCELED, "spawned into a cancelled group");

	struct late b = {.g = &g, .first = 1};
	struct rt_task *t = rt_task_spawn(late_enterer, &b, "enterer");
	cr_assert_eq(rt_task_join(&t, in_ms(5000)), 0);
	cr_assert(b.cancelled_at_entry);
	cr_assert_eq(b.first, -ECANCELED);
	cr_assert(b.still_cancelled, "leaving does not undo a cancel");

	rt_group_fini(&g);
	rt_group_init(&g); /* a new group: open */
	struct late c = {.g = &g, .first = 1};
	cr_assert_eq(rt_group_spawn(&g, late_member, &c, "fresh"), 0);
	cr_assert_eq(rt_group_wait(&g, in_ms(5000)), 0);
	cr_assert_eq(c.first, 0);
	rt_group_fini(&g);
	*(int *)arg = 1;
}

Test(rt_group, cancel_is_sticky_for_new_members_until_reinit)
{
	int ok = 0;
	run_main(late_main, &ok);
	cr_assert(ok);
}

/* --- enter and leave: tasks spawned some other way -------------------------- */
struct enterer {
	struct rt_group *g;
	bool leave_early;
	int in, left, done, res;
};

static void enterer(void *arg)
{
	struct enterer *e = arg;
	rt_group_enter(e->g);
	e->in = 1;
	e->res = rt_sleep_until(in_ms(20));
	if (e->leave_early) {
		rt_group_leave(e->g);
		e->left = 1;
		rt_sleep_until(in_ms(20)); /* alive, no longer a member */
	}
	e->done = 1;
}

static void enter_main(void *arg)
{
	struct rt_group g;
	rt_group_init(&g);

	/* Leaving early wakes the waiter while the task is still alive. */
	struct enterer a = {.g = &g, .leave_early = true};
	struct rt_task *ta = rt_task_spawn(enterer, &a, "early");
	while (!a.in)
		cr_assert_eq(rt_sleep_until(in_ms(1)), 0);
	cr_assert_eq(rt_group_size(&g), 1);
	cr_assert_eq(rt_group_wait(&g, in_ms(5000)), 0);
	cr_assert(a.left && !a.done);
	cr_assert_eq(rt_group_size(&g), 0);
	cr_assert_eq(rt_task_join(&ta, in_ms(5000)), 0);

	/* Finishing is leaving: the wait ends before anybody joins the task. */
	struct enterer b = {.g = &g};
	struct rt_task *tb = rt_task_spawn(enterer, &b, "finisher");
	while (!b.in)
		cr_assert_eq(rt_sleep_until(in_ms(1)), 0);
	cr_assert_eq(rt_group_wait(&g, in_ms(5000)), 0);
	cr_assert(b.done);
	cr_assert_eq(rt_group_size(&g), 0);
	cr_assert_eq(rt_task_join(&tb, in_ms(5000)), 0, "still joinable after leaving");

	/* A group's cancel reaches an entered task too. */
	struct enterer c = {.g = &g, .leave_early = true};
	struct rt_task *tc = rt_task_spawn(enterer, &c, "cancelled");
	while (!c.in)
		cr_assert_eq(rt_sleep_until(in_ms(1)), 0);
	rt_group_cancel(&g);
	cr_assert_eq(rt_group_wait(&g, in_ms(5000)), 0);
	cr_assert_eq(c.res, -ECANCELED);
	cr_assert(c.left);
	cr_assert_eq(rt_task_join(&tc, in_ms(5000)), 0);
	rt_group_fini(&g);
	*(int *)arg = 1;
}

Test(rt_group, enter_and_leave)
{
	int ok = 0;
	run_main(enter_main, &ok);
	cr_assert(ok);
}

/* --- size ------------------------------------------------------------------- */
struct sized {
	struct rt_group g;
	struct rt_chan *go;
	size_t seen_inside;
};

static void size_member(void *arg)
{
	rt_sleep_until(RT_NEVER); /* until the test cancels the group */
}

static void size_enterer(void *arg)
{
	struct sized *s = arg;
	rt_group_enter(&s->g);
	s->seen_inside = rt_group_size(&s->g);
	rt_group_leave(&s->g);
}

static void size_main(void *arg)
{
	struct sized *s = arg;
	rt_group_init(&s->g);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(rt_group_size(&s->g), i);
		cr_assert_eq(rt_group_spawn(&s->g, size_member, s, "m"), 0);
	}
	struct rt_task *t = rt_task_spawn(size_enterer, s, "enterer");
	cr_assert_eq(rt_task_join(&t, in_ms(5000)), 0);
	cr_assert_eq(s->seen_inside, 4);
	cr_assert_eq(rt_group_size(&s->g), 3);
	rt_group_cancel(&s->g);
	cr_assert_eq(rt_group_size(&s->g), 3, "cancelled members count until they end");
	cr_assert_eq(rt_group_wait(&s->g, in_ms(5000)), 0);
	cr_assert_eq(rt_group_size(&s->g), 0);
	rt_group_fini(&s->g);
}

Test(rt_group, size_counts_spawned_and_entered_members)
{
	struct sized s = {0};
	run_main(size_main, &s);
	cr_assert_eq(s.seen_inside, 4);
}

/* --- cancel from outside any task (an rt_msg callback, as drain does) ------- */
enum { MANY = 10000 };

struct many {
	struct rt_group g, sub;
	struct rt_msg cancel_msg;
	int cancelled;
};

static void cancel_on_loop(struct rt_msg *m)
{
	struct many *x = (struct many *)((char *)m - offsetof(struct many, cancel_msg));
	cr_assert_null(rt_task_self(), "message callbacks run outside any task");
	rt_group_cancel(&x->g);
}

static void many_sleeper(void *arg)
{
	struct many *x = arg;
	if (rt_sleep_until(RT_NEVER) == -ECANCELED)
		x->cancelled++;
}

static void many_waiter(void *arg)
{
	struct many *x = arg;
	if (rt_group_wait(&x->sub, in_ms(60000)) == -ECANCELED)
		x->cancelled++;
}

static void many_main(void *arg)
{
	struct many *x = arg;
	rt_group_init(&x->g);
	rt_group_init(&x->sub);
	cr_assert_eq(rt_group_spawn(&x->sub, sub_member, NULL, "sub"), 0);
	/* Half park in the kernel, half in rt_wait on one other group. */
	for (int i = 0; i < MANY; i++)
		cr_assert_eq(rt_group_spawn(&x->g, i % 2 ? many_sleeper : many_waiter, x, "many"),
			     0);
	cr_assert_eq(rt_sleep_until(in_ms(20)), 0);
	x->cancel_msg.fn = cancel_on_loop;
	rt_loop_post(loop, &x->cancel_msg);
	cr_assert_eq(rt_group_wait(&x->g, in_ms(30000)), 0);
	cr_assert_eq(x->cancelled, MANY);
	rt_group_fini(&x->g);
	rt_group_cancel(&x->sub);
	cr_assert_eq(rt_group_wait(&x->sub, in_ms(5000)), 0);
	rt_group_fini(&x->sub);
}

Test(rt_group, cancel_10k_members_from_a_message_callback)
{
	static struct many x;
	memset(&x, 0, sizeof(x));
	run_main(many_main, &x);
	cr_assert_eq(x.cancelled, MANY);
}

/* --- cancel hooks that change the group during the cancel walk ------------- */
enum { HOOKED = 3, PLAIN = 4 };

struct hooked {
	struct rt_group g;
	int hook_calls, cancelled, spawned_cancelled;
};

static void hook_spawned(void *arg)
{
	struct hooked *h = arg;
	if (rt_sleep_until(in_ms(10000)) == -ECANCELED)
		h->spawned_cancelled++;
}

/* An awaitable's cancel hook runs inside the walk: it spawns a member and
 * cancels the group again (a nested walk). */
static bool meddling_hook(void *arg)
{
	struct hooked *h = arg;
	h->hook_calls++;
	cr_assert_eq(rt_group_spawn(&h->g, hook_spawned, h, "spawned"), 0);
	rt_group_cancel(&h->g);
	return true;
}

static void hooked_member(void *arg)
{
	struct hooked *h = arg;
	if (rt_wait(RT_NEVER, meddling_hook, h) == -ECANCELED) /* only the hook ends it */
		h->cancelled++;
}

static void plain_member(void *arg)
{
	struct hooked *h = arg;
	if (rt_sleep_until(in_ms(10000)) == -ECANCELED)
		h->cancelled++;
}

static void hooked_main(void *arg)
{
	struct hooked *h = arg;
	rt_group_init(&h->g);
	for (int i = 0; i < HOOKED + PLAIN; i++)
		cr_assert_eq(rt_group_spawn(&h->g, i % 2 ? hooked_member : plain_member, h, "m"),
			     0);
	cr_assert_eq(rt_sleep_until(in_ms(5)), 0);
	rt_group_cancel(&h->g);
	cr_assert_eq(rt_group_size(&h->g), HOOKED + PLAIN + HOOKED);
	cr_assert_eq(rt_group_wait(&h->g, in_ms(5000)), 0);
	rt_group_fini(&h->g);
}

Test(rt_group, cancel_hooks_may_spawn_into_and_cancel_the_group_during_the_walk)
{
	struct hooked h = {0};
	run_main(hooked_main, &h);
	cr_assert_eq(h.hook_calls, HOOKED, "each hook ran once");
	cr_assert_eq(h.cancelled, HOOKED + PLAIN);
	cr_assert_eq(h.spawned_cancelled, HOOKED, "spawned during the walk: cancelled");
}

/* --- misuse is caught by asserts (they stay on in every build) --------------- */
static void fini_busy_main(void *arg)
{
	static struct rt_group g;
	static int res;
	rt_group_init(&g);
	cr_assert_eq(rt_group_spawn(&g, forever_member, &res, "forever"), 0);
	rt_group_fini(&g); /* aborts: a member still links into G */
}

Test(rt_group, fini_with_members_aborts, .signal = SIGABRT)
{
	run_main(fini_busy_main, NULL);
}

Test(rt_group, a_group_that_was_never_initialised_aborts, .signal = SIGABRT)
{
	struct rt_group g;
	memset(&g, 0, sizeof(g));
	rt_group_size(&g);
}

static struct rt_group other_loop_group;

static void *use_from_other_loop(void *arg)
{
	int err = 0;
	struct rt_loop *l2 = rt_loop_create(NULL, &err);
	cr_assert_not_null(l2);
	/* aborts: the group belongs to the test's loop */
	rt_group_spawn(&other_loop_group, sub_member, NULL, "stray");
	return NULL;
}

static void other_loop_main(void *arg)
{
	static int res;
	rt_group_init(&other_loop_group);
	cr_assert_eq(rt_group_spawn(&other_loop_group, forever_member, &res, "bound"), 0);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, use_from_other_loop, NULL), 0);
	pthread_join(th, NULL); /* test only: never returns, the process aborts */
}

Test(rt_group, a_group_used_on_another_loop_aborts, .signal = SIGABRT)
{
	run_main(other_loop_main, NULL);
}
