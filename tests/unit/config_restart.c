/*
 * Unit tests for src/config/restart.c: config_keep_restart_keys keeps the
 * running value of each key a reload does not apply, with one warning
 * line per key that changed.
 */
#include "config/config.h"
#include "config/schema.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE                                                                                       \
	"listen: \":8080\"\n"                                                                      \
	"backends:\n"                                                                              \
	"  - name: app\n"                                                                          \
	"    servers: [\"127.0.0.1:9000\"]\n"

struct lines {
	char *v[16];
	size_t n;
};

static void collect(void *ctx, const char *line)
{
	struct lines *l = ctx;
	cr_assert_lt(l->n, 16);
	l->v[l->n++] = strdup(line);
}

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	l->n = 0;
}

static bool has(const struct lines *l, const char *want)
{
	for (size_t i = 0; i < l->n; i++) {
		if (!strcmp(l->v[i], want))
			return true;
	}
	return false;
}

static struct config *load(const char *yaml)
{
	struct config_errors e = {0};
	struct config *cfg = config_load_string("t.yaml", yaml, strlen(yaml), &e);
	cr_assert_not_null(cfg, "%s", e.n ? e.lines[0] : "?");
	return cfg;
}

/* The restart-only keys are the ones README.md and the reload log name. */
Test(config_restart, the_table_marks_these_keys)
{
	static const char *const want[] = {"threads",
					   "io.backend",
					   "cache.disk.path",
					   "cache.disk.size",
					   "cache.disk.segment_size",
					   "cache.disk.page_cache",
					   "compression.workers",
					   "compression.queue",
					   "compression.bench_on_loop",
					   "log.access",
					   "log.access_format",
					   "cluster.invalidation.redis",
					   "cluster.invalidation.stream",
					   "cluster.invalidation.max_len"};
	size_t n = 0;
	for (size_t i = 0; i < config_schema_n; i++) {
		const struct config_row *r = &config_schema[i];
		if (!(r->flags & CONFIG_RESTART))
			continue;
		cr_assert_lt(n, sizeof(want) / sizeof(want[0]), "%s", r->path);
		cr_assert_str_eq(r->path, want[n]);
		n++;
	}
	cr_assert_eq(n, sizeof(want) / sizeof(want[0]));
}

Test(config_restart, threads_kept_with_the_old_wording)
{
	struct config *old = load(BASE "threads: 2\n");
	struct config *next = load(BASE "threads: 3\ncache: {memory: 1MiB}\n");
	struct lines l = {0};
	cr_assert_eq(config_keep_restart_keys(old, next, collect, &l), 0);
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(l.v[0], "reload: threads 2 -> 3 takes a restart; keeping 2");
	cr_assert_eq(next->threads, 2);
	cr_assert_eq(next->cache.memory, 1u << 20, "other keys are the new file's");
	lines_free(&l);
	config_free(&old);
	config_free(&next);
}

Test(config_restart, nothing_changed_nothing_said)
{
	struct config *old = load(BASE "threads: 2\nlog: {access: /tmp/a.log}\n");
	struct config *next = load(BASE "threads: 2\nlog: {access: /tmp/a.log}\n");
	struct lines l = {0};
	cr_assert_eq(config_keep_restart_keys(old, next, collect, &l), 0);
	cr_assert_eq(l.n, 0, "%s", l.n ? l.v[0] : "");
	cr_assert_eq(config_keep_restart_keys(old, next, NULL, NULL), 0);
	config_free(&old);
	config_free(&next);
}

Test(config_restart, compression_pool_keys_while_enabled)
{
	struct config *old = load(BASE "compression: {enabled: true, workers: 2, queue: 8}\n");
	struct config *next =
	    load(BASE "compression: {enabled: true, workers: 4, queue: 16, bench_on_loop: true}\n");
	struct lines l = {0};
	cr_assert_eq(config_keep_restart_keys(old, next, collect, &l), 0);
	cr_assert_eq(l.n, 3);
	cr_assert(has(&l, "reload: compression.workers 2 -> 4 takes a restart; keeping 2"));
	cr_assert(has(&l, "reload: compression.queue 8 -> 16 takes a restart; keeping 8"));
	cr_assert(has(&l, "reload: compression.bench_on_loop false -> true takes a restart; "
			  "keeping false"));
	cr_assert_eq(next->compression.workers, 2);
	cr_assert_eq(next->compression.queue, 8);
	cr_assert_eq(next->compression.bench_on_loop, false);
	lines_free(&l);
	config_free(&next);

	/* Turned on now, or off now: no pool to keep, the new values apply. */
	struct config *off = load(BASE "compression: {enabled: false, workers: 4, queue: 16}\n");
	cr_assert_eq(config_keep_restart_keys(old, off, collect, &l), 0);
	cr_assert_eq(l.n, 0);
	cr_assert_eq(off->compression.workers, 4);
	cr_assert_eq(config_keep_restart_keys(off, old, collect, &l), 0);
	cr_assert_eq(l.n, 0);
	cr_assert_eq(old->compression.workers, 2);
	config_free(&off);
	config_free(&old);
}

Test(config_restart, access_log_kept)
{
	struct config *old = load(BASE "log: {access: /tmp/a.log}\n");
	struct config *next = load(BASE "log: {access: /tmp/b.log, access_format: json}\n");
	struct lines l = {0};
	cr_assert_eq(config_keep_restart_keys(old, next, collect, &l), 0);
	cr_assert_eq(l.n, 2);
	cr_assert(has(&l, "reload: log.access /tmp/a.log -> /tmp/b.log takes a restart; keeping "
			  "/tmp/a.log"));
	cr_assert(has(&l, "reload: log.access_format combined -> json takes a restart; keeping "
			  "combined"));
	cr_assert_str_eq(next->log_access_path, "/tmp/a.log");
	cr_assert_neq(next->log_access_path, old->log_access_path, "a copy, NEXT owns it");
	cr_assert_eq(next->log_access_format, ACCESS_FORMAT_COMBINED);
	lines_free(&l);
	config_free(&next);

	/* None running: the new file's path does not open one. */
	struct config *none = load(BASE);
	next = load(BASE "log: {access: /tmp/b.log}\n");
	cr_assert_eq(config_keep_restart_keys(none, next, collect, &l), 0);
	cr_assert_eq(l.n, 1);
	cr_assert_str_eq(l.v[0],
			 "reload: log.access off -> /tmp/b.log takes a restart; keeping off");
	cr_assert_null(next->log_access_path);
	lines_free(&l);
	config_free(&next);
	config_free(&none);
	config_free(&old);
}

/* The Redis URL may hold a password: the message says it changed, not what it is. */
Test(config_restart, a_secret_is_not_written_out)
{
#define RCL                                                                                        \
	BASE "cluster:\n  self: \"127.0.0.1:8080\"\n  peers: [\"127.0.0.1:8081\"]\n"               \
	     "  token: \"0123456789abcdef\"\n  invalidation:\n"
	struct config *old = load(RCL "    redis: \"redis://:old-secret@10.0.0.9\"\n");
	struct config *next = load(RCL "    redis: \"redis://:new-secret@10.0.0.9\"\n");
	struct lines l = {0};
	cr_assert_eq(config_keep_restart_keys(old, next, collect, &l), 0);
	cr_assert_eq(l.n, 1);
	cr_assert_null(strstr(l.v[0], "secret"), "%s", l.v[0]);
	cr_assert_not_null(strstr(l.v[0], "cluster.invalidation.redis"), "%s", l.v[0]);
	cr_assert_str_eq(next->cluster.invalidation.redis, "redis://:old-secret@10.0.0.9");
	lines_free(&l);
	config_free(&old);
	config_free(&next);
#undef RCL
}
