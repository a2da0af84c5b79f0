/*
 * Drain on SIGTERM: requests in flight finish, idle keep-alive connections
 * are closed, new connections are refused, the process exits 0; and
 * timeouts.drain bounds how long in-flight requests may take.
 */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

TestSuite(ops_drain, .fini = harness_fini, .timeout = 30);

static void start_with_drain(struct proc *o, struct proc *d, const char *drain)
{
	start_origin(o);
	memset(d, 0, sizeof(*d));
	d->port = free_port();
	/* rc_yaml writes its own timeouts block: put drain in it. */
	/* Long backend timeouts: only the drain may end the slow request. */
	char *yaml = rc_yaml(&(struct rc_cfg){
	    .port = d->port, .servers = &o->port, .n_servers = 1, .first_byte_timeout = "20s"});
	char *at = strstr(yaml, "timeouts:\n");
	cr_assert_not_null(at);
	char *full = malloc(strlen(yaml) + 64);
	size_t head = (size_t)(at - yaml) + strlen("timeouts:\n");
	memcpy(full, yaml, head);
	int n = drain ? sprintf(full + head, "  drain: %s\n", drain) : 0;
	strcpy(full + head + n, yaml + head);
	start_ringcache(d, full);
	free(full);
	free(yaml);
}

Test(ops_drain, in_flight_requests_finish_idle_connections_close)
{
	struct proc o, d;
	start_with_drain(&o, &d, NULL);
	struct conn busy, idle;
	conn_open(&idle, d.port);
	struct response r;
	http_req(&idle, "GET", "/warm?size=10", NULL, &r); /* now idle, kept alive */
	response_free(&r);
	conn_open(&busy, d.port);
	conn_send_str(&busy, "GET /slow?delay=700&size=5000 HTTP/1.1\r\nHost: test.local\r\n\r\n");
	sleep_ms(200); /* the request is at the origin */
	double t0 = now_s();
	kill(d.pid, SIGTERM);
	cr_assert(conn_wait_closed(&idle, 2000), "the idle connection was not closed");
	cr_assert_eq(read_response(&busy, &r, 0), READ_OK);
	cr_assert_eq(r.status, 200);
	cr_assert(r.complete && r.body_len == 5000, "in-flight response cut: %s", r.error);
	cr_assert(resp_header_has_token(&r, "Connection", "close"), "%s", r.raw_head);
	response_free(&r);
	cr_assert(conn_wait_closed(&busy, 2000));
	int st = stop_proc(&d);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
	cr_assert_lt(now_s() - t0, 3.0);
	struct conn late;
	cr_assert_lt(conn_try_open(&late, d.port), 0, "still accepting after the drain");
	conn_close(&idle);
	conn_close(&busy);
	harness_end();
}

Test(ops_drain, timeouts_drain_bounds_the_wait)
{
	struct proc o, d;
	start_with_drain(&o, &d, "1s");
	struct conn busy;
	conn_open(&busy, d.port);
	conn_send_str(&busy, "GET /slower?delay=5000&size=10 HTTP/1.1\r\nHost: test.local\r\n\r\n");
	sleep_ms(200);
	double t0 = now_s();
	kill(d.pid, SIGTERM);
	int st = stop_proc(&d);
	double took = now_s() - t0;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
	cr_assert(took >= 0.9 && took < 3.0, "drain took %.2f s with timeouts.drain 1s", took);
	cr_assert(conn_wait_closed(&busy, 1000), "the cut request's connection is still open");
	conn_close(&busy);
	harness_end();
}
