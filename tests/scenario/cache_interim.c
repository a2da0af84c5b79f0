/*
 * cache_interim.c - interim (1xx) responses on the cache path (RFC 9110
 * 15.2, RFC 8297): a backend's 102 and 103 on a miss or a revalidation
 * reach an HTTP/1.1 client before the final response, as they arrive, and
 * are never stored: neither the stored response nor a later hit carries
 * their fields. HTTP/1.0 clients get none, 100 is not forwarded, and a
 * backend that sends many is bounded.
 */
#include "canned.h"
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HINT                                                                                       \
	"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nX-My-Header: hint\r\n\r\n"
#define FINAL "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: 5\r\n\r\nhello"

/* The read end of a pipe: /hold sends its final response once a byte comes. */
static int hold_fd = -1;

static int answer(int fd, const struct canned_req *rq, void *ctx)
{
	(void)ctx;
	const char *p = rq->path;
	char many[64 * 128];
	if (!strcmp(p, "/hints") || !strcmp(p, "/hints10"))
		return canned_send(fd, HINT FINAL, strlen(HINT FINAL));
	if (!strcmp(p, "/processing")) {
		static const char r[] = "HTTP/1.1 102 Processing\r\n\r\n" FINAL;
		return canned_send(fd, r, strlen(r));
	}
	if (!strcmp(p, "/continue")) {
		static const char r[] = "HTTP/1.1 100 Continue\r\n\r\n" FINAL;
		return canned_send(fd, r, strlen(r));
	}
	if (!strcmp(p, "/hold")) {
		char b;
		if (canned_send(fd, HINT, strlen(HINT)) < 0 || read(hold_fd, &b, 1) != 1)
			return -1;
		return canned_send(fd, FINAL, strlen(FINAL));
	}
	if (!strcmp(p, "/hold2")) { /* a byte before the 103, one before the final */
		char b;
		if (read(hold_fd, &b, 1) != 1 || canned_send(fd, HINT, strlen(HINT)) < 0 ||
		    read(hold_fd, &b, 1) != 1)
			return -1;
		return canned_send(fd, FINAL, strlen(FINAL));
	}
	if (!strcmp(p, "/reval")) {
		static const char first[] = "HTTP/1.1 200 OK\r\nCache-Control: max-age=0\r\n"
					    "ETag: \"v1\"\r\nContent-Length: 6\r\n\r\nv1body";
		static const char again[] = HINT "HTTP/1.1 304 Not Modified\r\n"
						 "Cache-Control: max-age=0\r\nETag: \"v1\"\r\n\r\n";
		if (memmem(rq->head, rq->head_len, "If-None-Match: \"v1\"", 19))
			return canned_send(fd, again, strlen(again));
		return canned_send(fd, first, strlen(first));
	}
	if (!strncmp(p, "/many/", 6)) { /* /many/N: N interim responses, then the final */
		int n = atoi(p + 6);
		size_t len = 0;
		for (int i = 0; i < n && len + 64 < sizeof(many); i++)
			len += (size_t)snprintf(
			    many + len, sizeof(many) - len,
			    "HTTP/1.1 103 Early Hints\r\nLink: </%d.css>\r\n\r\n", i);
		if (canned_send(fd, many, len) < 0)
			return -1;
		return canned_send(fd, FINAL, strlen(FINAL));
	}
	static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
	return canned_send(fd, nf, strlen(nf));
}

static void start(struct canned *cb, struct proc *d)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	hold_fd = fds[0];
	canned_start(cb, 60, answer, NULL);
	close(fds[0]);
	hold_fd = fds[1]; /* the test's end from here on */
	memset(d, 0, sizeof(*d));
	d->port = free_port();
	/* Long backend deadlines: /hold waits for the test between its 103
	 * and its final response. */
	char *yaml = rc_yaml(&(struct rc_cfg){.port = d->port,
					      .servers = &cb->port,
					      .n_servers = 1,
					      .first_byte_timeout = "30s",
					      .between_bytes_timeout = "30s"});
	start_ringcache(d, yaml);
	free(yaml);
}

static void stop(struct canned *cb)
{
	close(hold_fd);
	canned_stop(cb);
	harness_end();
}

TestSuite(cache_interim, .fini = harness_fini, .timeout = 60);

/* A miss: the 103 with its fields first, then the final response, stored
 * without them; a later hit sends no interim response and none of them. */
Test(cache_interim, early_hints_on_a_miss_reach_the_client_and_are_never_stored)
{
	struct canned cb;
	struct proc d;
	start(&cb, &d);
	struct conn c;
	conn_open(&c, d.port);
	struct response r;
	http_req(&c, "GET", "/hints", NULL, &r);
	cr_assert_eq(r.status, 103, "first response: %s", r.raw_head);
	cr_assert(resp_header(&r, "link") && strstr(resp_header(&r, "link"), "style.css"), "%s",
		  r.raw_head);
	cr_assert_str_eq(resp_header(&r, "x-my-header") ? resp_header(&r, "x-my-header") : "",
			 "hint");
	response_free(&r);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	cr_assert(r.complete && r.body_len == 5 && !memcmp(r.body, "hello", 5));
	cr_assert(cache_status_has(&r, "stored"), "%s", cache_status(&r));
	cr_assert_null(resp_header(&r, "x-my-header"), "an interim field in the final response");
	cr_assert_null(resp_header(&r, "link"), "an interim field in the final response");
	response_free(&r);
	conn_close(&c);
	cr_assert_eq(canned_requests(&cb), 1);

	conn_open(&c, d.port);
	http_req(&c, "GET", "/hints", NULL, &r);
	cr_assert_eq(r.status, 200, "a hit began with: %s", r.raw_head);
	cr_assert(cache_status_has(&r, "hit"), "%s", cache_status(&r));
	cr_assert_null(resp_header(&r, "x-my-header"), "an interim field in a hit");
	cr_assert_null(resp_header(&r, "link"), "an interim field in a hit");
	cr_assert(r.complete && r.body_len == 5 && !memcmp(r.body, "hello", 5));
	response_free(&r);
	cr_assert_eq(conn_pending(&c), 0, "bytes after the hit");
	conn_close(&c);
	cr_assert_eq(canned_requests(&cb), 1, "the hit went to the backend");
	stop(&cb);
}

/* Forwarded as it arrives: the backend sends its final response only
 * after the client has had the 103. */
Test(cache_interim, an_interim_response_is_forwarded_before_the_final_one_exists)
{
	struct canned cb;
	struct proc d;
	start(&cb, &d);
	struct conn c;
	conn_open(&c, d.port);
	struct response r;
	http_req(&c, "GET", "/hold", NULL, &r);
	cr_assert_eq(r.status, 103, "%s", r.raw_head);
	response_free(&r);
	cr_assert_eq(write(hold_fd, "x", 1), 1);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	cr_assert(r.complete && r.body_len == 5);
	response_free(&r);
	conn_close(&c);
	stop(&cb);
}

/* The client that started the fetch goes away before its interim
 * response: sending it fails (or the final response does), and the fetch
 * still stores the response for the next request. */
Test(cache_interim, a_client_gone_before_its_interim_response_does_not_stop_the_fetch)
{
	struct canned cb;
	struct proc d;
	start(&cb, &d);
	struct conn c;
	conn_open(&c, d.port);
	cr_assert_eq(conn_send_str(&c, "GET /hold2 HTTP/1.1\r\nHost: test.local\r\n\r\n"), 0);
	/* Closed once the backend has the request: the miss is under way. */
	for (int i = 0; i < 500 && canned_requests(&cb) == 0; i++)
		sleep_ms(10);
	cr_assert_eq(canned_requests(&cb), 1);
	conn_close(&c);
	cr_assert_eq(write(hold_fd, "xx", 2), 2);
	struct response r;
	http_once(d.port, "GET", "/hold2", NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	cr_assert(cache_status_has(&r, "hit"), "%s", cache_status(&r));
	cr_assert(r.complete && r.body_len == 5 && !memcmp(r.body, "hello", 5));
	response_free(&r);
	cr_assert_eq(canned_requests(&cb), 1);
	assert_alive(&d);
	stop(&cb);
}

Test(cache_interim, processing_is_forwarded_and_100_continue_is_not)
{
	struct canned cb;
	struct proc d;
	start(&cb, &d);
	struct conn c;
	conn_open(&c, d.port);
	struct response r;
	http_req(&c, "GET", "/processing", NULL, &r);
	cr_assert_eq(r.status, 102, "%s", r.raw_head);
	response_free(&r);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	response_free(&r);
	/* The proxy never sent Expect: a 100 answers nothing the client asked. */
	http_req(&c, "GET", "/continue", NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	cr_assert(r.complete && r.body_len == 5);
	response_free(&r);
	conn_close(&c);
	stop(&cb);
}

Test(cache_interim, an_http10_client_gets_no_interim_response)
{
	struct canned cb;
	struct proc d;
	start(&cb, &d);
	struct conn c;
	conn_open(&c, d.port);
	cr_assert_eq(conn_send_str(&c, "GET /hints10 HTTP/1.0\r\nHost: test.local\r\n\r\n"), 0);
	struct response r;
	cr_assert_eq(read_response(&c, &r, 0), READ_OK);
	cr_assert_eq(r.status, 200, "an HTTP/1.0 client got: %s", r.raw_head);
	cr_assert(r.complete && r.body_len == 5);
	response_free(&r);
	conn_close(&c);
	cr_assert_eq(canned_requests(&cb), 1);
	stop(&cb);
}

/* A stale response revalidated: the 103 before the 304 goes to the
 * client, then the refreshed stored response, without its fields. */
Test(cache_interim, early_hints_on_a_revalidation_are_forwarded)
{
	struct canned cb;
	struct proc d;
	start(&cb, &d);
	struct response r;
	http_once(d.port, "GET", "/reval", NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert(cache_status_has(&r, "stored"), "%s", cache_status(&r));
	response_free(&r);
	struct conn c;
	conn_open(&c, d.port);
	http_req(&c, "GET", "/reval", NULL, &r);
	cr_assert_eq(r.status, 103, "%s", r.raw_head);
	response_free(&r);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	cr_assert(cache_status_has(&r, "fwd=stale") &&
		      cache_status_param(&r, "fwd-status", 0) == 304,
		  "%s", cache_status(&r));
	cr_assert(r.complete && r.body_len == 6 && !memcmp(r.body, "v1body", 6));
	cr_assert_null(resp_header(&r, "x-my-header"));
	response_free(&r);
	conn_close(&c);
	cr_assert_eq(canned_requests(&cb), 2);
	stop(&cb);
}

/* Read the responses of one request: the number of 103s before the final one. */
static int interim_count(struct conn *c, const char *path, struct response *final)
{
	cr_assert_eq(conn_sendf(c, "GET %s HTTP/1.1\r\nHost: test.local\r\n\r\n", path), 0);
	for (int n = 0;; n++) {
		cr_assert_eq(read_response(c, final, 0), READ_OK, "after %d interim responses", n);
		if (final->status >= 200)
			return n;
		cr_assert_eq(final->status, 103);
		response_free(final);
	}
}

Test(cache_interim, many_interim_responses_are_bounded)
{
	struct canned cb;
	struct proc d;
	start(&cb, &d);
	struct conn c;
	conn_open(&c, d.port);
	struct response r;
	/* 40: fewer than the exchange takes, more than a client is sent. */
	int n = interim_count(&c, "/many/40", &r);
	cr_assert(n >= 1 && n <= 16, "%d interim responses forwarded", n);
	cr_assert_eq(r.status, 200);
	cr_assert(r.complete && r.body_len == 5);
	response_free(&r);
	/* 100: more than an exchange takes before its final head. */
	n = interim_count(&c, "/many/100", &r);
	cr_assert(n <= 16, "%d interim responses forwarded", n);
	cr_assert_eq(r.status, 502, "%s", r.raw_head);
	response_free(&r);
	conn_close(&c);
	assert_alive(&d);
	stop(&cb);
}

/* Server A of two answers /r with a 103 and closes; server B answers with
 * the request line it got, uncacheably. */
static int two_servers(int fd, const struct canned_req *rq, void *ctx)
{
	if (strcmp(rq->path, "/r") != 0) {
		static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
		return canned_send(fd, nf, strlen(nf));
	}
	if (!strcmp(ctx, "A")) {
		canned_send(fd, HINT, strlen(HINT));
		return -1;
	}
	const char *eol = memchr(rq->head, '\r', rq->head_len);
	size_t n = eol ? (size_t)(eol - rq->head) : rq->head_len;
	char head[128];
	int hl = snprintf(
	    head, sizeof(head),
	    "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Length: %zu\r\n\r\n", n);
	if (canned_send(fd, head, (size_t)hl) < 0)
		return -1;
	return canned_send(fd, rq->head, n);
}

/* An attempt that got an interim response and then failed goes to another
 * server with its request head intact, on a miss and on a pass alike
 * (hit-for-miss after the first, uncacheable, response). */
Test(cache_interim, a_retry_after_an_interim_response_sends_the_request_intact)
{
	static char a_name[] = "A", b_name[] = "B";
	struct canned a, b;
	canned_start(&a, 60, two_servers, a_name);
	canned_start(&b, 60, two_servers, b_name);
	struct proc d;
	memset(&d, 0, sizeof(d));
	d.port = free_port();
	char yaml[1024];
	snprintf(yaml, sizeof(yaml),
		 "listen: [\"127.0.0.1:%d\"]\nthreads: 1\nbackends:\n  - name: app\n"
		 "    servers: [\"127.0.0.1:%d\", \"127.0.0.1:%d\"]\n    retries: 1\n"
		 "    max_fails: 0\n",
		 d.port, a.port, b.port);
	start_ringcache(&d, yaml);
	bool passed = false;
	for (int i = 0; i < 6; i++) {
		struct conn c;
		conn_open(&c, d.port);
		struct response r;
		interim_count(&c, "/r", &r);
		cr_assert_eq(r.status, 200, "#%d: %s", i, r.raw_head);
		cr_assert(r.body_len == 15 && !memcmp(r.body, "GET /r HTTP/1.1", 15),
			  "#%d: server B got the request line \"%s\"", i,
			  excerpt(r.body, r.body_len));
		passed |= cache_status_has(&r, "detail=hit-for-miss");
		response_free(&r);
		conn_close(&c);
	}
	cr_assert(passed, "no request was passed");
	cr_assert_geq(canned_requests(&a), 3, "server A was tried %ld times", canned_requests(&a));
	canned_stop(&a);
	canned_stop(&b);
	harness_end();
}
