/*
 * clock.h - monotonic time in nanoseconds, and absolute deadlines.
 *
 * Every await in ringcache takes an absolute deadline on this clock
 * (CLOCK_MONOTONIC, the clock io_uring's absolute timeouts use), so a
 * sequence of operations shares one budget instead of each restarting it.
 */
#ifndef RINGCACHE_RT_CLOCK_H
#define RINGCACHE_RT_CLOCK_H

#include <stdint.h>
#include <time.h>

typedef uint64_t rt_time_t;

#define RT_NEVER UINT64_MAX
#define RT_MS	 1000000ull
#define RT_SEC	 1000000000ull

static inline rt_time_t rt_clock_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no syscall */
	return (rt_time_t)ts.tv_sec * RT_SEC + (rt_time_t)ts.tv_nsec;
}

/* Deadline DELTA_NS from now; a zero or huge delta means "never". */
static inline rt_time_t rt_deadline_in(uint64_t delta_ns)
{
	if (delta_ns == 0 || delta_ns >= RT_NEVER / 2)
		return RT_NEVER;
	return rt_clock_now() + delta_ns;
}

#endif
