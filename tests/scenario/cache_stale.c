/*
 * Expired objects: stale-while-revalidate, stale-if-error, grace,
 * revalidation with validators and refetch without them.
 *
 * Freshness is counted in whole seconds, so every object here has
 * max-age=1 and the tests wait a bit over 2 s for it to be stale for sure.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

TestSuite(cache_stale, .fini = harness_fini, .timeout = 30);

#define EXPIRE_MS 2100

static void expect_pattern(const struct response *r, size_t size, const char *what)
{
	cr_assert_eq(r->status, 200, "%s: head: %s", what, r->raw_head);
	cr_assert(r->complete, "%s: incomplete body: %s", what, r->error);
	cr_assert_eq(r->body_len, size, "%s: body %zu bytes, want %zu", what, r->body_len, size);
	cr_assert_eq(pattern_mismatch(r->body, r->body_len, 0), -1, "%s: body: %s", what,
		     excerpt(r->body, r->body_len));
}

static long origin_req(const struct response *r)
{
	const char *v = resp_header(r, "X-Origin-Request");
	return v ? atol(v) : -1;
}

/* GET PATH on a fresh connection; expects it to be stored; returns its X-Origin-Request. */
static long store_one(int port, const char *path, size_t size)
{
	struct response r;
	http_get_once(port, path, &r);
	expect_pattern(&r, size, path);
	cr_assert(cache_status_has(&r, "stored"), "%s: not stored: Cache-Status: %s", path,
		  cache_status(&r));
	long n = origin_req(&r);
	response_free(&r);
	return n;
}

Test(cache_stale, stale_while_revalidate_serves_stale_and_refreshes_in_background)
{
	struct proc o, d;
	struct response r;
	/* delay=2000: a client that waited for the refresh would take >= 2 s. */
	const char *path = "/swr?cc=max-age=1,stale-while-revalidate=30&size=40&delay=2000";
	start_origin(&o);
	memset(&d, 0, sizeof(d));
	d.port = free_port();
	char *yaml = rc_yaml(&(struct rc_cfg){
	    .port = d.port, .servers = &o.port, .n_servers = 1, .first_byte_timeout = "5s"});
	start_ringcache(&d, yaml);
	free(yaml);
	long first = store_one(d.port, path, 40);
	sleep_ms(EXPIRE_MS);

	double t0 = now_s();
	http_get_once(d.port, path, &r);
	double el = now_s() - t0;
	expect_pattern(&r, 40, "stale GET");
	cr_assert(cache_status_has(&r, "hit"), "Cache-Status: %s", cache_status(&r));
	cr_assert(cache_status_has(&r, "detail=stale-while-revalidate"), "Cache-Status: %s",
		  cache_status(&r));
	cr_assert(cache_status_param(&r, "ttl", 1) <= 0, "a stale hit with a positive ttl: %s",
		  cache_status(&r));
	cr_assert_eq(origin_req(&r), first, "not the stored response: %s", r.raw_head);
	cr_assert(el < 1.5, "the stale response took %.2f s: it waited for the refresh", el);
	long age = atol(resp_header(&r, "Age") ?: "-1");
	cr_assert(age >= 2, "Age %ld on a response stored 2.1 s ago: %s", age, r.raw_head);
	response_free(&r);

	/*
	 * Poll until the refresh is in: meanwhile the stale object may still be
	 * served, but the refresh must be the only origin request.
	 */
	long refreshed = -1;
	int again = 0;
	double deadline = now_s() + 6.0;
	while (now_s() < deadline) {
		http_get_once(d.port, path, &r);
		expect_pattern(&r, 40, "GET after the stale one");
		long n = origin_req(&r);
		if (n != first) {
			refreshed = n;
			cr_assert(cache_status_has(&r, "hit"),
				  "the refreshed object: Cache-Status: %s", cache_status(&r));
			/*
			 * With max-age=1 and a Date of whole seconds the refreshed
			 * object may already be stale again; then this hit starts the
			 * next refresh, which is fine.
			 */
			again = cache_status_has(&r, "detail=stale-while-revalidate");
			response_free(&r);
			break;
		}
		cr_assert(cache_status_has(&r, "detail=stale-while-revalidate"),
			  "stale object without detail: %s", cache_status(&r));
		response_free(&r);
		cr_assert_leq(origin_requests(o.port, path), 2, "more than one background refresh");
		sleep_ms(100);
	}
	cr_assert_gt(refreshed, first, "the background refresh never replaced the object");
	long n = origin_requests(o.port, path);
	cr_assert(n >= 2 && n <= 2 + again, "%ld origin requests (a second refresh: %d)", n, again);
	harness_end();
}

Test(cache_stale, stale_if_error_serves_stale_when_the_origin_is_down)
{
	struct proc o, d;
	struct response r;
	const char *path = "/sie?cc=max-age=1,stale-if-error=60&size=30";
	start_pair(&o, &d);
	long first = store_one(d.port, path, 30);
	stop_proc(&o);
	sleep_ms(EXPIRE_MS);

	http_get_once(d.port, path, &r);
	expect_pattern(&r, 30, "GET with the origin down");
	cr_assert(cache_status_has(&r, "detail=stale-if-error"), "Cache-Status: %s",
		  cache_status(&r));
	cr_assert_eq(origin_req(&r), first);
	cr_assert_not_null(resp_header(&r, "Age"), "head: %s", r.raw_head);
	response_free(&r);
	assert_alive(&d);
	harness_end();
}

Test(cache_stale, expired_without_stale_permission_is_502_when_the_origin_is_down)
{
	struct proc o, d;
	struct response r;
	/* No grace; the second one allows stale only for 1 s. */
	const char *plain = "/nostale?cc=max-age=1&size=30";
	const char *short_sie = "/shortsie?cc=max-age=1,stale-if-error=1&size=30";
	start_pair_extra(&o, &d, "cache:\n  grace: 0s\n");
	store_one(d.port, plain, 30);
	store_one(d.port, short_sie, 30);
	stop_proc(&o);
	/* Stale by more than 2 s: past the 1 s stale-if-error window as well. */
	sleep_ms(3200);

	http_get_once(d.port, plain, &r);
	cr_assert_eq(r.status, 502, "%s with the origin down: head: %s", plain, r.raw_head);
	response_free(&r);
	http_get_once(d.port, short_sie, &r);
	cr_assert_eq(r.status, 502, "%s, 2+ s past its window: head: %s", short_sie, r.raw_head);
	response_free(&r);
	assert_alive(&d);
	harness_end();
}

Test(cache_stale, grace_serves_stale_only_when_the_origin_fails)
{
	struct proc o, d;
	struct response r;
	const char *healthy = "/g1?cc=max-age=1&size=30";
	const char *failing = "/g2?cc=max-age=1&size=30";
	start_pair_extra(&o, &d, "cache:\n  grace: 30s\n");
	long h1 = store_one(d.port, healthy, 30);
	long f1 = store_one(d.port, failing, 30);
	sleep_ms(EXPIRE_MS);

	/* Origin up: grace must not stop the refetch. */
	http_get_once(d.port, healthy, &r);
	expect_pattern(&r, 30, healthy);
	cr_assert_neq(origin_req(&r), h1, "served stale while the origin is up: Cache-Status: %s",
		      cache_status(&r));
	cr_assert(cache_status_has(&r, "stored"), "Cache-Status: %s", cache_status(&r));
	response_free(&r);

	stop_proc(&o);
	http_get_once(d.port, failing, &r);
	expect_pattern(&r, 30, "GET within grace, origin down");
	cr_assert_eq(origin_req(&r), f1);
	cr_assert(cache_status_has(&r, "detail=stale-if-error"), "Cache-Status: %s",
		  cache_status(&r));
	response_free(&r);
	assert_alive(&d);
	harness_end();
}

/* A 5xx is an answer, not a disconnection (RFC 9111 4.2.4): grace does not
 * put a stale response in its place; stale-if-error (RFC 5861) does. The
 * key leaves the query out, so "?status=500" asks the origin for an error
 * under the stored object's key. */
Test(cache_stale, grace_does_not_cover_a_5xx_answer)
{
	struct proc o, d;
	struct response r;
	start_pair_extra(&o, &d, "cache:\n  grace: 30s\n  key: {query: false}\n");
	long plain = store_one(d.port, "/e1?cc=max-age=1&size=30", 30);
	long sie = store_one(d.port, "/e2?cc=max-age=1,stale-if-error=30&size=30", 30);
	sleep_ms(EXPIRE_MS);

	http_get_once(d.port, "/e1?status=500", &r);
	cr_assert_eq(r.status, 500, "grace hid the origin's 500: head: %s", r.raw_head);
	cr_assert_neq(origin_req(&r), plain);
	response_free(&r);
	http_get_once(d.port, "/e2?status=500", &r);
	expect_pattern(&r, 30, "stale-if-error over a 500");
	cr_assert_eq(origin_req(&r), sie);
	cr_assert(cache_status_has(&r, "detail=stale-if-error"), "Cache-Status: %s",
		  cache_status(&r));
	response_free(&r);
	assert_alive(&d);
	harness_end();
}

/* The wall clock's second as the daemon reads it (clock_gettime): time()
 * is the coarse clock, which may still show the last second for a few
 * milliseconds after the daemon has seen the next one. */
static time_t wall_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec;
}

Test(cache_stale, expired_object_is_revalidated_or_refetched)
{
	struct proc o, d;
	struct response r;
	const char *etag = "/rv1?cc=max-age=1&etag=v1&size=40";
	const char *noval = "/rv2?cc=max-age=1&size=40";
	start_pair(&o, &d);
	store_one(d.port, etag, 40);
	long n1 = store_one(d.port, noval, 40);
	sleep_ms(EXPIRE_MS);

	/* With an ETag: If-None-Match, the origin answers 304, the client gets the body. */
	time_t sec = wall_sec();
	http_get_once(d.port, etag, &r);
	expect_pattern(&r, 40, "revalidated GET");
	cr_assert(cache_status_has(&r, "fwd=stale"), "Cache-Status: %s", cache_status(&r));
	cr_assert_eq(cache_status_param(&r, "fwd-status", 0), 304, "Cache-Status: %s",
		     cache_status(&r));
	cr_assert_str_eq(resp_header(&r, "ETag") ?: "(none)", "\"v1\"");
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, etag), 2);

	/*
	 * The 304 made it fresh again: a hit, no origin request. Ages are whole
	 * wall-clock seconds, so max-age=1 holds only while the second has not
	 * ticked over; if it did in between, skip this step.
	 */
	http_get_once(d.port, etag, &r);
	if (wall_sec() == sec) {
		expect_pattern(&r, 40, "GET after the revalidation");
		cr_assert(cache_status_has(&r, "hit"), "Cache-Status: %s", cache_status(&r));
		cr_assert(strstr(cache_status(&r), "detail=") == NULL, "Cache-Status: %s",
			  cache_status(&r));
		long ttl = cache_status_param(&r, "ttl", -99);
		cr_assert(ttl >= 0 && ttl <= 1, "ttl %ld after a 304 with max-age=1", ttl);
		cr_assert_eq(origin_requests(o.port, etag), 2);
	}
	response_free(&r);

	/* Without a validator: a full refetch, stored again. */
	http_get_once(d.port, noval, &r);
	expect_pattern(&r, 40, "refetched GET");
	cr_assert(cache_status_has(&r, "fwd=stale"), "Cache-Status: %s", cache_status(&r));
	cr_assert_eq(cache_status_param(&r, "fwd-status", 0), 200, "Cache-Status: %s",
		     cache_status(&r));
	cr_assert(cache_status_has(&r, "stored"), "Cache-Status: %s", cache_status(&r));
	cr_assert_neq(origin_req(&r), n1);
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, noval), 2);
	harness_end();
}

Test(cache_stale, client_no_cache_forces_a_forward)
{
	struct proc o, d;
	struct response r;
	struct conn c;
	const char *path = "/rq?cc=max-age=60&etag=e1&size=20";
	start_pair(&o, &d);
	store_one(d.port, path, 20);
	conn_open(&c, d.port);
	/* A fresh object, but the client asks for a revalidated one (RFC 9111 5.2.1). */
	static const char *const hdrs[] = {"Cache-Control: no-cache\r\n",
					   "Cache-Control: no-cache, max-stale=60\r\n"};
	for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
		http_req(&c, "GET", path, hdrs[i], &r);
		expect_pattern(&r, 20, hdrs[i]);
		cr_assert_not(cache_status_has(&r, "hit"), "%s: Cache-Status: %s",
			      excerpt(hdrs[i], strlen(hdrs[i])), cache_status(&r));
		response_free(&r);
		cr_assert_eq(origin_requests(o.port, path), (long)i + 2,
			     "%s did not reach the origin", excerpt(hdrs[i], strlen(hdrs[i])));
	}
	/* A plain request is a hit again. */
	http_req(&c, "GET", path, NULL, &r);
	cr_assert(cache_status_has(&r, "hit"), "Cache-Status: %s", cache_status(&r));
	response_free(&r);
	conn_close(&c);
	harness_end();
}

/* An origin that accepts on 127.0.0.1:PORT, reads the request and closes
 * without a byte of response; a child process, killed by closer_stop. */
static pid_t closer_start(int port)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port = htons((uint16_t)port),
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 16) < 0)
			_exit(1);
		alarm(25); /* never outlive the test */
		for (;;) {
			int c = accept(fd, NULL, NULL);
			if (c < 0)
				continue;
			char buf[4096];
			(void)!read(c, buf, sizeof(buf));
			close(c);
		}
	}
	cr_assert(port_wait(port, 5000), "closer did not listen on %d", port);
	return pid;
}

static void closer_stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* What the default grace (10 s) does for each kind of stored response once
 * it is stale by about 2 s and the origin fails: only the plain one may be
 * served stale (RFC 9111 4.2.4); the others forbid it (3.2, 5.2.2). */
static const struct {
	const char *path;
	bool stale_ok;
} grace_cases[] = {
    {"/gd-plain?cc=max-age=1&size=30", true},
    {"/gd-mr?cc=max-age=1,must-revalidate&size=30", false},
    {"/gd-pr?cc=max-age=1,proxy-revalidate&size=30", false},
    {"/gd-sm?cc=s-maxage=1&size=30", false},
    {"/gd-nc?cc=no-cache,max-age=60&size=30", false},
};

static void grace_check(int port, const long *first, const char *how)
{
	for (size_t i = 0; i < sizeof(grace_cases) / sizeof(grace_cases[0]); i++) {
		struct response r;
		const char *path = grace_cases[i].path;
		http_get_once(port, path, &r);
		if (grace_cases[i].stale_ok) {
			expect_pattern(&r, 30, path);
			cr_assert_eq(origin_req(&r), first[i], "%s, %s: not the stored copy", path,
				     how);
			cr_assert(cache_status_has(&r, "detail=stale-if-error"),
				  "%s, %s: Cache-Status: %s", path, how, cache_status(&r));
		} else {
			cr_assert_eq(r.status, 502, "%s, %s: served stale? head: %s", path, how,
				     r.raw_head);
		}
		response_free(&r);
	}
}

static void grace_store_all(int port, long *first)
{
	for (size_t i = 0; i < sizeof(grace_cases) / sizeof(grace_cases[0]); i++)
		first[i] = store_one(port, grace_cases[i].path, 30);
	sleep_ms(EXPIRE_MS);
}

Test(cache_stale, default_grace_serves_stale_when_the_origin_is_stopped)
{
	struct proc o, d;
	long first[sizeof(grace_cases) / sizeof(grace_cases[0])];
	start_pair(&o, &d);
	grace_store_all(d.port, first);
	stop_proc(&o);
	grace_check(d.port, first, "origin stopped");
	assert_alive(&d);
	harness_end();
}

Test(cache_stale, default_grace_serves_stale_when_the_origin_closes_without_a_response)
{
	struct proc o, d;
	long first[sizeof(grace_cases) / sizeof(grace_cases[0])];
	start_pair(&o, &d);
	grace_store_all(d.port, first);
	int port = o.port;
	stop_proc(&o);
	pid_t closer = closer_start(port);
	grace_check(d.port, first, "origin closes mid-request");
	closer_stop(closer);
	assert_alive(&d);
	harness_end();
}
