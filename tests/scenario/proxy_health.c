/*
 * Backend failures: active health probes take a dead server out of
 * rotation and bring it back; the expected status decides what a good
 * probe is; a failed attempt is retried on another server, but a request
 * that may have reached a server is sent again only when it is idempotent;
 * passive health takes a server that fails real requests out for a while.
 */
#include "harness.h"

#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(proxy_health, .fini = harness_fini, .timeout = 60);

/* A daemon in front of SERVERS (ports) with MORE indented backend keys. */
static void start_daemon(struct proc *d, const int *servers, size_t n, const char *more)
{
	char extra[1024] = "";
	memset(d, 0, sizeof(*d));
	d->port = free_port();
	char *yaml = rc_yaml(&(struct rc_cfg){.port = d->port, .servers = servers, .n_servers = n});
	/* rc_yaml ends the backend's keys at "timeouts:": put ours there. */
	char *at = strstr(yaml, "timeouts:\n");
	cr_assert_not_null(at);
	snprintf(extra, sizeof(extra), "%s", more);
	char *full = malloc(strlen(yaml) + strlen(extra) + 1);
	size_t head = (size_t)(at - yaml);
	memcpy(full, yaml, head);
	strcpy(full + head, extra);
	strcat(full, yaml + head);
	start_ringcache(d, full);
	free(full);
	free(yaml);
}

static int log_has(const struct proc *d, const char *needle)
{
	char *log = proc_log(d);
	int r = strstr(log, needle) != NULL;
	free(log);
	return r;
}

static void wait_log(const struct proc *d, const char *needle, int timeout_ms)
{
	double until = now_s() + timeout_ms / 1000.0;
	while (!log_has(d, needle)) {
		if (now_s() > until)
			cr_assert_fail("no \"%s\" in the log within %d ms:\n%s", needle, timeout_ms,
				       proc_log(d));
		sleep_ms(20);
	}
}

/* N uncacheable GETs of PATH; each must be a 200. */
static void gets_ok(const struct proc *d, const char *path, int n)
{
	for (int i = 0; i < n; i++) {
		struct response r;
		http_get_once(d->port, path, &r);
		cr_assert_eq(r.status, 200, "GET %s #%d: %d %s", path, i, r.status, r.raw_head);
		response_free(&r);
	}
}

Test(proxy_health, dead_server_leaves_rotation_and_comes_back)
{
	struct proc o1, o2, d;
	start_origin(&o1);
	start_origin(&o2);
	int ports[2] = {o1.port, o2.port};
	/* No retries: without the probes, every other request would fail. */
	start_daemon(&d, ports, 2,
		     "    retries: 0\n"
		     "    health_check:\n"
		     "      path: /h\n"
		     "      interval: 100ms\n"
		     "      timeout: 500ms\n"
		     "      rise: 2\n"
		     "      fall: 2\n");
	gets_ok(&d, "/both?size=10", 10);
	cr_assert_geq(origin_requests(o2.port, "/both?size=10"), 3, "round robin uses o2");

	int p2 = o2.port;
	stop_proc(&o2);
	char down[128], up[128];
	snprintf(down, sizeof(down), "server 127.0.0.1:%d is down", p2);
	snprintf(up, sizeof(up), "server 127.0.0.1:%d is up again", p2);
	wait_log(&d, down, 3000);
	/* Out of rotation: every request goes to o1 and succeeds. */
	gets_ok(&d, "/one?size=10", 20);
	cr_assert_eq(origin_requests(o1.port, "/one?size=10"), 20);

	/* Back: after `rise` good probes it takes requests again. */
	start_origin_on(&o2, p2);
	wait_log(&d, up, 3000);
	gets_ok(&d, "/again?size=10", 20);
	cr_assert_geq(origin_requests(o2.port, "/again?size=10"), 5, "o2 back in rotation");
	harness_end();
}

Test(proxy_health, expected_status_decides_and_all_down_still_serves)
{
	struct proc o1, o2, d;
	start_origin(&o1);
	start_origin(&o2);
	int ports[2] = {o1.port, o2.port};
	/* The probe path answers 503: not what the check expects. */
	start_daemon(&d, ports, 2,
		     "    health_check:\n"
		     "      path: \"/h?status=503\"\n"
		     "      interval: 50ms\n"
		     "      fall: 1\n"
		     "      expect_status: 200\n");
	char down[128];
	snprintf(down, sizeof(down), "server 127.0.0.1:%d is down: status 503", o1.port);
	wait_log(&d, down, 3000);
	snprintf(down, sizeof(down), "server 127.0.0.1:%d is down: status 503", o2.port);
	wait_log(&d, down, 3000);
	/* Every server is down: requests are still tried rather than refused. */
	gets_ok(&d, "/anyway?size=10", 4);
	harness_end();

	/* With 503 among the expected codes the servers stay up. */
	start_origin(&o1);
	int one[1] = {o1.port};
	start_daemon(&d, one, 1,
		     "    health_check:\n"
		     "      path: \"/h?status=503\"\n"
		     "      interval: 50ms\n"
		     "      fall: 1\n"
		     "      expect_status: [200, 503]\n");
	double until = now_s() + 0.5;
	while (now_s() < until)
		sleep_ms(50);
	cr_assert_geq(origin_requests(o1.port, "/h?status=503"), 3, "probes were sent");
	cr_assert_not(log_has(&d, "is down"), "%s", proc_log(&d));
	harness_end();
}

Test(proxy_health, connect_failure_goes_to_another_server)
{
	struct proc o, d;
	start_origin(&o);
	int dead = free_port(); /* nothing listens there */
	int ports[2] = {dead, o.port};
	start_daemon(&d, ports, 2, "    retries: 1\n");
	gets_ok(&d, "/r?size=10", 6);
	cr_assert_eq(origin_requests(o.port, "/r?size=10"), 6);
	/* A connect failure sent nothing: a POST may go elsewhere too. */
	for (int i = 0; i < 4; i++) {
		struct response r;
		http_once(d.port, "POST", "/post?size=10", "Content-Length: 5\r\n\r\nhello", &r);
		cr_assert_eq(r.status, 200, "POST #%d: %d", i, r.status);
		response_free(&r);
	}
	cr_assert(log_has(&d, "trying another server"));
	harness_end();

	/* Without retries, the dead server's share fails. */
	start_origin(&o);
	int ports0[2] = {dead, o.port};
	/* (and without passive health, which would take it out after one) */
	start_daemon(&d, ports0, 2, "    retries: 0\n    max_fails: 0\n");
	int failed = 0;
	for (int i = 0; i < 6; i++) {
		struct response r;
		http_get_once(d.port, "/r0?size=10", &r);
		failed += r.status == 502;
		response_free(&r);
	}
	cr_assert_geq(failed, 2, "retries: 0 still retried");
	harness_end();
}

/* A server that reads a request and closes without answering, for
 * SECONDS: the request may have done something there. */
static pid_t start_black_hole(int port, int seconds)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(0x7f000001)};
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 64), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		alarm((unsigned)seconds);
		for (;;) {
			int c = accept(fd, NULL, NULL);
			if (c < 0)
				continue;
			char buf[4096];
			ssize_t n = recv(c, buf, sizeof(buf), 0);
			(void)n;
			close(c);
		}
	}
	close(fd);
	return pid;
}

Test(proxy_health, only_idempotent_requests_are_sent_twice)
{
	struct proc o, d;
	start_origin(&o);
	int hole = free_port();
	pid_t hp = start_black_hole(hole, 30);
	int ports[2] = {hole, o.port};
	/* No passive health: the black hole would leave rotation at once. */
	start_daemon(&d, ports, 2, "    retries: 1\n    max_fails: 0\n");
	/* GET: the black hole closes; the request goes on to the origin. */
	gets_ok(&d, "/g?size=10", 6);
	cr_assert_eq(origin_requests(o.port, "/g?size=10"), 6);
	/* POST with a body: once it may have reached a server it is not sent
	 * again; those that went to the black hole fail with 502. */
	int failed = 0;
	for (int i = 0; i < 6; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/p%d?size=10", i);
		struct response r;
		http_once(d.port, "POST", path, "Content-Length: 5\r\n\r\nhello", &r);
		long seen = origin_requests(o.port, path);
		if (r.status == 502) {
			failed++;
			cr_assert_eq(seen, 0, "%s: a failed POST reached the origin too", path);
		} else {
			cr_assert_eq(r.status, 200, "%s: %d", path, r.status);
			cr_assert_eq(seen, 1, "%s", path);
		}
		response_free(&r);
	}
	cr_assert_geq(failed, 1, "no POST went to the black hole");
	kill(hp, SIGKILL);
	waitpid(hp, NULL, 0);
	harness_end();
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

Test(proxy_health, passive_health_takes_a_failing_server_out_and_brings_it_back)
{
	struct proc o1, o2, d;
	start_origin(&o1);
	start_origin(&o2);
	int ports[2] = {o1.port, o2.port};
	start_daemon(&d, ports, 2,
		     "    retries: 1\n"
		     "    max_fails: 2\n"
		     "    fail_window: 10s\n"
		     "    fail_timeout: 3s\n");
	gets_ok(&d, "/both?size=10", 10);
	cr_assert_geq(origin_requests(o2.port, "/both?size=10"), 3, "round robin uses o2");

	/* o2 refuses connections: each request sent there goes on to o1; the
	 * second failure takes o2 out and nothing is tried there after. */
	int p2 = o2.port;
	stop_proc(&o2);
	gets_ok(&d, "/out?size=10", 20);
	cr_assert_eq(origin_requests(o1.port, "/out?size=10"), 20);
	char out[160];
	snprintf(out, sizeof(out),
		 "server 127.0.0.1:%d out of rotation for 3000 ms: connect failed", p2);
	cr_assert(log_has(&d, out), "%s", proc_log(&d));
	cr_assert_eq(log_count(&d, "trying another server"), 2,
		     "o2 was tried after it was out:\n%s", proc_log(&d));
	cr_assert_eq(log_count(&d, "out of rotation"), 1);

	/* Back: once fail_timeout has passed, requests reach o2 again. */
	start_origin_on(&o2, p2);
	double until = now_s() + 15;
	while (origin_requests(o2.port, "/back?size=10") == 0) {
		cr_assert_lt(now_s(), until, "o2 never came back:\n%s", proc_log(&d));
		gets_ok(&d, "/back?size=10", 1);
		sleep_ms(50);
	}
	gets_ok(&d, "/again?size=10", 20);
	cr_assert_geq(origin_requests(o2.port, "/again?size=10"), 5, "o2 back in rotation");
	harness_end();
}

Test(proxy_health, passive_health_counts_5xx_only_when_asked)
{
	struct proc o1, o2, d;
	start_origin(&o1);
	start_origin(&o2);
	int ports[2] = {o1.port, o2.port};
	/* By default a 5xx answer is an answer: relayed, not held against the
	 * server (the application may mean it). */
	start_daemon(&d, ports, 2, "    max_fails: 1\n");
	for (int i = 0; i < 4; i++) {
		struct response r;
		http_get_once(d.port, "/e?status=503&size=10", &r);
		cr_assert_eq(r.status, 503);
		response_free(&r);
	}
	cr_assert_not(log_has(&d, "out of rotation"), "%s", proc_log(&d));
	harness_end();

	start_origin(&o1);
	start_origin(&o2);
	int ports2[2] = {o1.port, o2.port};
	start_daemon(&d, ports2, 2,
		     "    max_fails: 1\n"
		     "    fail_on_5xx: true\n"
		     "    fail_timeout: 1h\n");
	struct response r;
	http_get_once(d.port, "/e?status=503&size=10", &r);
	cr_assert_eq(r.status, 503, "the 5xx itself is still relayed");
	response_free(&r);
	cr_assert(log_has(&d, "out of rotation for 3600000 ms: 5xx response"), "%s", proc_log(&d));
	/* The server that answered 503 gets nothing more while the other is in. */
	long first1 = origin_requests(o1.port, "/e?status=503&size=10");
	gets_ok(&d, "/ok?size=10", 6);
	long ok1 = origin_requests(o1.port, "/ok?size=10"),
	     ok2 = origin_requests(o2.port, "/ok?size=10");
	cr_assert(ok1 + ok2 == 6 && (ok1 == 0 || ok2 == 0),
		  "requests went to both: %ld and %ld (503 came from o1: %ld)", ok1, ok2, first1);
	cr_assert_eq(ok1 == 0, first1 == 1, "the wrong server was taken out");
	harness_end();
}
