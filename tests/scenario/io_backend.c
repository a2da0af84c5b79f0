/*
 * The I/O backend: under a seccomp filter that refuses io_uring as
 * Docker's and containerd's default profiles do (EPERM) or podman's
 * (ENOSYS), `io.backend: auto` falls back to epoll with one warning and
 * serves; `io.backend: io_uring` refuses to start and says why and what
 * to do; `io.backend: epoll` runs on epoll anywhere. /metrics and the
 * start log name the backend. (The whole suite runs on epoll too:
 * RINGCACHE_IO_BACKEND=epoll, see .ci/run.)
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef NOIOURING_BIN
#error "NOIOURING_BIN must be defined (tests/tools/noiouring)"
#endif

/* These tests are about what the configuration and the filter choose:
 * the environment override the other suites run under is not theirs. */
static void no_override(void)
{
	unsetenv("RINGCACHE_IO_BACKEND");
}

TestSuite(io_backend, .init = no_override, .fini = harness_fini, .timeout = 60);

static int log_has(const struct proc *d, const char *needle)
{
	char *log = proc_log(d);
	int r = strstr(log, needle) != NULL;
	free(log);
	return r;
}

static int log_count(const struct proc *d, const char *needle)
{
	char *log = proc_log(d);
	int n = 0;
	for (const char *p = log; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	free(log);
	return n;
}

/* A daemon in front of O with IO (an io: section or ""), under WRAPPER. */
static void start(struct proc *o, struct proc *d, const char *io, const char *const *wrapper,
		  int admin)
{
	start_origin(o);
	memset(d, 0, sizeof(*d));
	d->port = free_port();
	char extra[256];
	snprintf(extra, sizeof(extra), "%sadmin: {listen: \"127.0.0.1:%d\"}\n", io, admin);
	int ports[1] = {o->port};
	char *y = rc_yaml(
	    &(struct rc_cfg){.port = d->port, .servers = ports, .n_servers = 1, .extra = extra});
	start_ringcache_under(d, y, wrapper);
	free(y);
}

/* A request through D reaches the origin; /metrics says BACKEND for both loops. */
static void serves_on(const struct proc *d, int admin, const char *backend)
{
	struct response r;
	http_get_once(d->port, "/through?size=7", &r);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	cr_assert_str_eq(r.body, "0123456");
	response_free(&r);
	http_once(admin, "GET", "/metrics", NULL, &r);
	cr_assert_eq(r.status, 200);
	for (int loop = 0; loop < 2; loop++) {
		char want[96];
		snprintf(want, sizeof(want),
			 "ringcache_loop_io_backend{loop=\"%d\",backend=\"%s\"} 1", loop, backend);
		cr_assert(strstr(r.body, want), "no %s in /metrics", want);
	}
	response_free(&r);
}

Test(io_backend, auto_falls_back_to_epoll_with_one_warning_when_seccomp_says_eperm)
{
	static const char *const filter[] = {NOIOURING_BIN, "-e", "EPERM", NULL};
	struct proc o, d;
	int admin = free_port();
	start(&o, &d, "", filter, admin);
	serves_on(&d, admin, "epoll");
	cr_assert_eq(log_count(&d, "io_uring is not available"), 1, "%s", proc_log(&d));
	cr_assert(log_has(&d, "io_uring_setup: Operation not permitted: most likely a seccomp "
			      "profile"),
		  "%s", proc_log(&d));
	cr_assert(log_has(&d, "docker/seccomp.json, or use io.backend: epoll"));
	cr_assert(log_has(&d, "2 loops on epoll"));
	harness_end();
}

Test(io_backend, auto_falls_back_when_the_filter_says_enosys_as_podman)
{
	static const char *const filter[] = {NOIOURING_BIN, "-e", "ENOSYS", NULL};
	struct proc o, d;
	int admin = free_port();
	start(&o, &d, "", filter, admin);
	serves_on(&d, admin, "epoll");
	cr_assert(log_has(&d, "io_uring_setup: Function not implemented"), "%s", proc_log(&d));
	harness_end();
}

Test(io_backend, io_uring_asked_for_and_refused_does_not_start_and_says_why)
{
	struct proc o;
	start_origin(&o);
	int port = free_port();
	char *y = NULL;
	cr_assert(asprintf(&y,
			   "listen: [\"127.0.0.1:%d\"]\n"
			   "io: {backend: io_uring}\n"
			   "backends: [{name: a, servers: [\"127.0.0.1:%d\"]}]\n",
			   port, o.port) > 0);
	char path[512];
	write_test_file("uring.yaml", y, path, sizeof(path));
	free(y);
	char *argv[] = {(char *)NOIOURING_BIN,
			(char *)"-e",
			(char *)"EPERM",
			(char *)RINGCACHE_BIN,
			(char *)"-c",
			path,
			NULL};
	struct cmd_result r;
	run_cmd(argv, 10000, &r);
	cr_assert(r.exited && r.exit_code != 0, "it started: %d\n%s", r.exit_code, r.err);
	cr_assert(strstr(r.err, "loop 0 failed to start: io_uring_setup: Operation not "
				"permitted: most likely a seccomp profile that does not allow "
				"io_uring"),
		  "%s", r.err);
	cr_assert(strstr(r.err, "run with the shipped docker/seccomp.json, or use io.backend: "
				"epoll"),
		  "%s", r.err);
	cmd_result_free(&r);
	harness_end();
}

Test(io_backend, epoll_chosen_runs_on_epoll_without_a_warning)
{
	struct proc o, d;
	int admin = free_port();
	start(&o, &d, "io:\n  backend: epoll\n", NULL, admin);
	serves_on(&d, admin, "epoll");
	cr_assert_not(log_has(&d, "io_uring is not available"));
	harness_end();
}

Test(io_backend, auto_without_a_filter_is_io_uring)
{
	struct proc o, d;
	int admin = free_port();
	start(&o, &d, "", NULL, admin);
	serves_on(&d, admin, "io_uring");
	cr_assert(log_has(&d, "2 loops on io_uring"));
	harness_end();
}
