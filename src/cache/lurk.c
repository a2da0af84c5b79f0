/* lurk.c - the ban lurker's task (see lurk.h). */
#include "cache/lurk.h"

#include "rt/clock.h"
#include "rt/task.h"

uint32_t lurk_batch(size_t bans)
{
	size_t n = bans ? LURK_TESTS / bans : LURK_BATCH;
	return n < 1 ? 1 : n > LURK_BATCH ? LURK_BATCH : (uint32_t)n;
}

uint64_t lurk_pause_ns(const struct lurk_step *s)
{
	/* With no ban there is nothing to walk; a new ban waits at most this
	 * long for its first step, and lookups test it meanwhile. */
	return s->idle ? LURK_IDLE_NS : LURK_SLEEP_NS;
}

void lurk_main(void *arg)
{
	struct store *st = arg;
	for (;;) {
		struct lurk_step s;
		store_lurk(st, lurk_batch(store_ban_count(st)), &s);
		if (rt_sleep_until(rt_deadline_in(lurk_pause_ns(&s))) < 0)
			return; /* cancelled: the daemon drains */
	}
}
