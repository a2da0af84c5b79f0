/* log.c - leveled error log lines on stderr. */
#include "ops/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "rt/loop.h"

_Atomic int log_max_level = LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	if ((int)lvl > atomic_load_explicit(&log_max_level, memory_order_relaxed))
		return;
	char line[1024];
	struct rt_loop *loop = rt_loop_current();
	int n = loop ? snprintf(line, sizeof(line), "ringcache[%s] loop %d: ", level_names[lvl],
				rt_loop_id(loop))
		     : snprintf(line, sizeof(line), "ringcache[%s]: ", level_names[lvl]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	size_t len =
	    (size_t)n +
	    ((size_t)m < sizeof(line) - (size_t)n - 1 ? (size_t)m : sizeof(line) - (size_t)n - 2);
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}
