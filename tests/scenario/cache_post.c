/*
 * cache_post.c - a POST response reused for GETs of its URI (RFC 9110
 * 9.3.3, RFC 9111 4): with explicit freshness and a Content-Location equal
 * to the target URI it is stored under the GET key, after the invalidation
 * the POST makes (RFC 9111 4.4); the POST itself always goes to the
 * backend, its body whole, its response streamed back.
 */
#include "canned.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BIG_BODY (24 << 20)

/* A POST is answered with "posted:" and its body; a GET with "get". */
static int answer(int fd, const struct canned_req *rq, void *ctx)
{
	(void)ctx;
	const char *p = rq->path;
	if (strcmp(rq->method, "POST") != 0) {
		static const char get[] =
		    "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\nContent-Length: 3\r\n\r\nget";
		return canned_send(fd, get, strlen(get));
	}
	const char *fields = "";
	char cloc[640];
	if (!strcmp(p, "/p/big")) {
		/* More than the sockets between the daemon and a client that
		 * does not read can hold, less than max_object_size. */
		char head[256];
		int hl = snprintf(head, sizeof(head),
				  "HTTP/1.1 200 OK\r\nCache-Control: max-age=600\r\n"
				  "Content-Location: /p/big\r\nContent-Length: %d\r\n\r\n",
				  BIG_BODY);
		char *body = pattern_make(BIG_BODY);
		int rc =
		    canned_send(fd, head, (size_t)hl) < 0 || canned_send(fd, body, BIG_BODY) < 0
			? -1
			: 0;
		free(body);
		return rc;
	}
	if (!strcmp(p, "/p/ok") || !strcmp(p, "/p/ok?a=1")) {
		snprintf(cloc, sizeof(cloc),
			 "Cache-Control: max-age=600\r\nContent-Location: %s\r\n", p);
		fields = cloc;
	} else if (!strcmp(p, "/p/expires")) {
		fields = "Date: Tue, 01 Dec 2026 00:00:00 GMT\r\nExpires: Tue, 01 Dec 2099 "
			 "00:00:00 GMT\r\n"
			 "Content-Location: /p/expires\r\n";
	} else if (!strcmp(p, "/p/abs")) {
		fields =
		    "Cache-Control: max-age=600\r\nContent-Location: http://test.local/p/abs\r\n";
	} else if (!strcmp(p, "/p/abs80")) { /* the same URI: host case, default port */
		fields = "Cache-Control: max-age=600\r\nContent-Location: "
			 "http://TEST.local:80/p/abs80\r\n";
	} else if (!strcmp(p, "/p/rel")) { /* relative to the target: /p/rel */
		fields = "Cache-Control: max-age=600\r\nContent-Location: rel\r\n";
	} else if (!strcmp(p, "/p/qry?q=1")) {
		fields = "Cache-Control: max-age=600\r\nContent-Location: ?q=1\r\n";
	} else if (!strcmp(p, "/p/sub")) { /* relative: /p/p/sub, another URI */
		fields = "Cache-Control: max-age=600\r\nContent-Location: p/sub\r\n";
	} else if (!strcmp(p, "/p/noexp")) { /* heuristic freshness only */
		fields = "Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Location: "
			 "/p/noexp\r\n";
	} else if (!strcmp(p, "/p/other")) {
		fields = "Cache-Control: max-age=600\r\nContent-Location: /p/elsewhere\r\n";
	} else if (!strcmp(p, "/p/xhost")) {
		fields = "Cache-Control: max-age=600\r\nContent-Location: "
			 "http://other.example/p/xhost\r\n";
	} else if (!strcmp(p, "/p/port")) {
		fields = "Cache-Control: max-age=600\r\nContent-Location: "
			 "http://test.local:8080/p/port\r\n";
	} else if (!strcmp(p, "/p/private")) {
		fields = "Cache-Control: max-age=600, private\r\nContent-Location: /p/private\r\n";
	}
	char head[1024];
	int hl = snprintf(head, sizeof(head),
			  "HTTP/1.1 200 OK\r\n%sContent-Length: %zu\r\n\r\nposted:", fields,
			  rq->body_len + 7);
	if (canned_send(fd, head, (size_t)hl) < 0)
		return -1;
	return canned_send(fd, rq->body, rq->body_len);
}

static void start(struct canned *cb, struct proc *d)
{
	canned_start(cb, 60, answer, NULL);
	memset(d, 0, sizeof(*d));
	d->port = free_port();
	char *yaml =
	    rc_yaml(&(struct rc_cfg){.port = d->port, .servers = &cb->port, .n_servers = 1});
	start_ringcache(d, yaml);
	free(yaml);
}

/* POST BODY to PATH on a fresh connection; the response in R. */
static void post(int port, const char *path, const char *body, size_t n, struct response *r)
{
	struct conn c;
	conn_open(&c, port);
	cr_assert_eq(
	    conn_sendf(&c,
		       "POST %s HTTP/1.1\r\nHost: test.local\r\nContent-Type: text/plain\r\n"
		       "Content-Length: %zu\r\n\r\n",
		       path, n),
	    0);
	cr_assert_eq(conn_send(&c, body, n), 0);
	cr_assert_eq(read_response(&c, r, 0), READ_OK, "POST %s", path);
	conn_close(&c);
}

/* Is R "posted:" followed by BODY? */
static bool posted(const struct response *r, const char *body, size_t n)
{
	return r->complete && r->body_len == n + 7 && !memcmp(r->body, "posted:", 7) &&
	       !memcmp(r->body + 7, body, n);
}

TestSuite(cache_post, .fini = harness_fini, .timeout = 60);

Test(cache_post, a_post_with_its_own_content_location_and_max_age_answers_later_gets)
{
	struct canned cb;
	struct proc d;
	start(&cb, &d);
	struct response r;
	/* A stored GET response first: the POST invalidates it, then stores. */
	http_once(d.port, "GET", "/p/ok", NULL, &r);
	cr_assert(cache_status_has(&r, "stored"), "%s", cache_status(&r));
	response_free(&r);
	char *body = pattern_make(100 * 1024); /* more than one read's worth */
	post(d.port, "/p/ok", body, 100 * 1024, &r);
	cr_assert_eq(r.status, 200);
	cr_assert(posted(&r, body, 100 * 1024), "the POST's response (or its body) was cut");
	cr_assert(cache_status_has(&r, "fwd=method") && cache_status_has(&r, "stored"), "%s",
		  cache_status(&r));
	response_free(&r);
	cr_assert_eq(canned_requests(&cb), 2);

	http_once(d.port, "GET", "/p/ok", NULL, &r);
	cr_assert(cache_status_has(&r, "hit"), "%s", cache_status(&r));
	cr_assert(posted(&r, body, 100 * 1024), "a GET after the POST: %s",
		  excerpt(r.body, r.body_len));
	response_free(&r);
	http_once(d.port, "HEAD", "/p/ok", NULL, &r);
	cr_assert(cache_status_has(&r, "hit"), "%s", cache_status(&r));
	response_free(&r);
	cr_assert_eq(canned_requests(&cb), 2, "a GET or HEAD went to the backend");

	/* The POST itself is never answered from the cache. */
	post(d.port, "/p/ok", "again", 5, &r);
	cr_assert(posted(&r, "again", 5));
	response_free(&r);
	cr_assert_eq(canned_requests(&cb), 3);
	http_once(d.port, "GET", "/p/ok", NULL, &r);
	cr_assert(posted(&r, "again", 5), "the newer POST response replaces the older");
	response_free(&r);
	free(body);
	canned_stop(&cb);
	harness_end();
}

Test(cache_post, expires_a_query_the_absolute_form_and_a_relative_reference_count_too)
{
	struct canned cb;
	struct proc d;
	start(&cb, &d);
	const char *paths[] = {"/p/expires", "/p/ok?a=1", "/p/abs",
			       "/p/abs80",   "/p/rel",	  "/p/qry?q=1"};
	for (size_t i = 0; i < 6; i++) {
		struct response r;
		post(d.port, paths[i], "12345", 5, &r);
		response_free(&r);
		long before = canned_requests(&cb);
		http_once(d.port, "GET", paths[i], NULL, &r);
		cr_assert(cache_status_has(&r, "hit"), "%s: %s", paths[i], cache_status(&r));
		cr_assert(posted(&r, "12345", 5), "%s", paths[i]);
		response_free(&r);
		cr_assert_eq(canned_requests(&cb), before, "%s", paths[i]);
	}
	canned_stop(&cb);
	harness_end();
}

/* Heuristic freshness, another URI, another host or port, private: not stored, so
 * a GET goes to the backend (and, for another URI, neither is that one's). */
Test(cache_post, a_post_response_without_explicit_freshness_or_its_own_uri_is_not_stored)
{
	struct canned cb;
	struct proc d;
	start(&cb, &d);
	const char *paths[] = {"/p/noexp", "/p/other", "/p/xhost",    "/p/private",
			       "/p/port",  "/p/sub",   "/p/elsewhere"};
	for (size_t i = 0; i < 7; i++) {
		struct response r;
		post(d.port, paths[i < 6 ? i : 1], "12345", 5, &r);
		cr_assert(posted(&r, "12345", 5));
		cr_assert(!cache_status_has(&r, "stored"), "%s: %s", paths[i], cache_status(&r));
		response_free(&r);
		long before = canned_requests(&cb);
		http_once(d.port, "GET", paths[i], NULL, &r);
		cr_assert(!cache_status_has(&r, "hit"), "%s: %s", paths[i], cache_status(&r));
		cr_assert(r.body_len == 3 && !memcmp(r.body, "get", 3), "%s: %s", paths[i],
			  excerpt(r.body, r.body_len));
		response_free(&r);
		cr_assert_eq(canned_requests(&cb), before + 1, "%s", paths[i]);
	}
	canned_stop(&cb);
	harness_end();
}

/* The copy of a POST response is published only once its body has ended:
 * a POST client that does not read never holds up a GET of the URI, which
 * misses meanwhile (after the POST's invalidation) and is answered whole. */
Test(cache_post, a_post_client_that_does_not_read_never_holds_up_a_get)
{
	struct canned cb;
	struct proc d;
	start(&cb, &d);
	struct conn pc;
	conn_open(&pc, d.port);
	cr_assert_eq(conn_sendf(&pc, "POST /p/big HTTP/1.1\r\nHost: test.local\r\n"
				     "Content-Length: 1\r\n\r\nx"),
		     0);
	/* The response head is in (the copy is decided on it); the body is
	 * left unread. */
	while (!memmem(pc.buf + pc.off, pc.len - pc.off, "\r\n\r\n", 4))
		cr_assert_gt(conn_fill(&pc, pc.timeout_ms), 0, "no POST response head");
	cr_assert(memmem(pc.buf + pc.off, pc.len - pc.off, "stored", 6), "%.*s",
		  (int)(pc.len - pc.off), pc.buf + pc.off);

	struct response r;
	http_once(d.port, "GET", "/p/big", NULL, &r);
	cr_assert(r.complete, "a GET while the POST's client does not read: %s", r.error);
	cr_assert(r.body_len == 3 && !memcmp(r.body, "get", 3), "%s: %s", cache_status(&r),
		  excerpt(r.body, r.body_len));
	response_free(&r);

	/* The POST itself still streams, all of it. */
	cr_assert_eq(read_response(&pc, &r, 0), READ_OK);
	cr_assert(r.complete && r.body_len == BIG_BODY, "%s", r.error);
	cr_assert_eq(pattern_mismatch(r.body, r.body_len, 0), -1);
	response_free(&r);
	conn_close(&pc);
	canned_stop(&cb);
	harness_end();
}
