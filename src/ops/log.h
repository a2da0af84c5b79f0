/*
 * log.h - the error log: one line per event on stderr, with a level.
 *
 * Lines are "LEVEL [loop N] message" and are written with a single
 * write(2) so lines from several threads never interleave; journald adds
 * its own timestamps, and stderr is a pipe or a terminal, so the write does
 * not wait on a disk. The access log (later) goes through io_uring.
 */
#ifndef RINGCACHE_OPS_LOG_H
#define RINGCACHE_OPS_LOG_H

#include <stdatomic.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern _Atomic int log_max_level;

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (atomic_load_explicit(&log_max_level, memory_order_relaxed) >= LOG_DEBUG)       \
			log_msg(LOG_DEBUG, __VA_ARGS__);                                           \
	} while (0)

#endif
