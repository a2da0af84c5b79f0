/* Unit tests of src/cache/lurk.c: the ban lurker's pacing, and its task
 * emptying the ban list of a store and ending when cancelled. (What a step
 * does is store.c's, tested in cache_store.c.) */
#include <criterion/criterion.h>
#include <errno.h>

#include "cache/lurk.h"
#include "cache/store.h"
#include "rt/loop.h"
#include "rt/task.h"

Test(cache_lurk, pacing)
{
	struct lurk_step idle = {.idle = true}, busy = {.tested = 3}, done = {.pass_done = true};
	cr_expect_eq(lurk_pause_ns(&idle), LURK_IDLE_NS);
	cr_expect_eq(lurk_pause_ns(&busy), LURK_SLEEP_NS);
	cr_expect_eq(lurk_pause_ns(&done), LURK_SLEEP_NS, "a pass that ended: look again soon");
	cr_expect_lt(LURK_SLEEP_NS, LURK_IDLE_NS);
}

Test(cache_lurk, batch_shrinks_with_the_ban_list)
{
	cr_expect_eq(lurk_batch(0), LURK_BATCH);
	cr_expect_eq(lurk_batch(1), LURK_BATCH);
	cr_expect_eq(lurk_batch(LURK_TESTS / LURK_BATCH), LURK_BATCH);
	cr_expect_eq(lurk_batch(LURK_TESTS / LURK_BATCH * 2), LURK_BATCH / 2);
	cr_expect_eq(lurk_batch(LURK_TESTS), 1);
	cr_expect_eq(lurk_batch(LURK_TESTS * 10), 1, "always some progress");
	for (size_t bans = 1; bans < 100000; bans = bans * 3 + 1)
		cr_expect_leq((size_t)lurk_batch(bans) * bans,
			      LURK_TESTS > bans ? LURK_TESTS : bans, "%zu bans", bans);
}

struct run {
	struct store *st;
	size_t bans_left;
	int join;
};

/* Start the lurker, wait (polling, with a deadline that only bounds a
 * failure) until the ban list is empty, then cancel it. */
static void main_fn(void *arg)
{
	struct run *r = arg;
	char err[64];
	cr_assert_gt(store_ban(r->st, "^/gone", NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_gt(store_ban(r->st, NULL, "^example\\.org$", err, sizeof(err)), 0, "%s", err);
	struct rt_task *t = rt_task_spawn(lurk_main, r->st, "lurker");
	cr_assert_not_null(t);
	rt_time_t until = rt_deadline_in(30 * RT_SEC);
	while (store_ban_count(r->st) > 0 && rt_clock_now() < until)
		rt_sleep_until(rt_deadline_in(5 * RT_MS));
	r->bans_left = store_ban_count(r->st);
	rt_task_cancel(t);
	r->join = rt_task_join(&t, rt_deadline_in(30 * RT_SEC));
}

Test(cache_lurk, task_empties_the_ban_list_and_ends_on_cancel, .timeout = 60)
{
	int err = 0;
	struct rt_loop_opts o = {0};
	struct rt_loop *loop = rt_loop_create(&o, &err);
	cr_assert_not_null(loop, "rt_loop_create: %d", err);
	struct run r = {.st = store_create(1 << 20), .bans_left = 99, .join = -1};
	cr_assert_not_null(r.st);
	cr_assert(rt_task_spawn_detached(main_fn, &r, "main") == 0);
	rt_loop_stop(loop);
	rt_loop_run(loop);
	cr_expect_eq(r.bans_left, 0);
	cr_expect_eq(r.join, 0, "the lurker did not end when cancelled");
	cr_expect_eq(store_stats(r.st)->bans_dropped, 2);
	store_free(&r.st);
	rt_loop_destroy(&loop);
}
