/*
 * Connection handling and header rewriting through the daemon: keep-alive,
 * Connection: close, HTTP/1.0, pipelining, HEAD/204/304 framing, hop-by-hop
 * removal, Via and X-Forwarded-For, round robin and Expect: 100-continue.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(proxy_basic, .fini = harness_fini, .timeout = 30);

/* A GET through the proxy must return the origin's exact pattern body. */
static void expect_pattern(const struct response *r, size_t size)
{
	cr_assert_eq(r->status, 200, "head: %s", r->raw_head);
	cr_assert(r->complete, "incomplete body: %s", r->error);
	cr_assert_eq(r->body_len, size, "body %zu bytes, want %zu", r->body_len, size);
	cr_assert_eq(pattern_mismatch(r->body, r->body_len, 0), -1, "body: %s",
		     excerpt(r->body, r->body_len));
}

Test(proxy_basic, http11_keeps_the_connection_alive)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	char path[64];
	start_pair(&o, &d);
	conn_open(&c, d.port);
	for (int i = 1; i <= 3; i++) {
		snprintf(path, sizeof(path), "/ka%d?size=%d", i, 100 * i);
		http_req(&c, "GET", path, NULL, &r);
		expect_pattern(&r, (size_t)(100 * i));
		cr_assert_not(resp_header_has_token(&r, "Connection", "close"),
			      "request %d: the proxy announced a close: %s", i, r.raw_head);
		cr_assert_not(r.peer_closed);
		response_free(&r);
	}
	/* Still open: nothing more arrives and no close within a short wait. */
	cr_assert_not(conn_wait_closed(&c, 300));
	cr_assert_eq(conn_pending(&c), 0);
	cr_assert_eq(origin_requests(o.port, NULL), 3);
	conn_close(&c);
	harness_end();
}

Test(proxy_basic, connection_close_closes_after_the_response)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	start_pair(&o, &d);
	conn_open(&c, d.port);
	http_req(&c, "GET", "/cc?size=500", "Connection: close\r\n", &r);
	expect_pattern(&r, 500);
	cr_assert(conn_wait_closed(&c, 2000), "no close after Connection: close");
	cr_assert_eq(conn_pending(&c), 0, "bytes after the response: %s",
		     excerpt(c.buf + c.off, conn_pending(&c)));
	response_free(&r);
	conn_close(&c);
	harness_end();
}

Test(proxy_basic, http10_gets_a_close)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	start_pair(&o, &d);
	conn_open(&c, d.port);
	cr_assert_eq(conn_send_str(&c, "GET /old?size=300 HTTP/1.0\r\nHost: test\r\n\r\n"), 0);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	expect_pattern(&r, 300);
	/* An HTTP/1.0 client cannot decode chunked. */
	cr_assert_neq(r.framing, FRAME_CHUNKED);
	cr_assert(conn_wait_closed(&c, 2000), "HTTP/1.0 without keep-alive was not closed");
	response_free(&r);
	conn_close(&c);
	harness_end();
}

Test(proxy_basic, http10_keep_alive_is_honoured)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	start_pair(&o, &d);
	conn_open(&c, d.port);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(conn_send_str(&c, "GET /old10?size=300 HTTP/1.0\r\nHost: test\r\n"
					       "Connection: keep-alive\r\n\r\n"),
			     0);
		cr_assert_eq(read_response(&c, &r, 0), READ_OK, "request %d: %s", i, r.error);
		expect_pattern(&r, 300);
		cr_assert_eq(r.framing, FRAME_LENGTH, "head: %s", r.raw_head);
		/* Without it an HTTP/1.0 client assumes the server will close (RFC 9112 C.2.2). */
		cr_assert(resp_header_has_token(&r, "Connection", "keep-alive"),
			  "no Connection: keep-alive for an HTTP/1.0 keep-alive client: %s",
			  r.raw_head);
		response_free(&r);
	}
	cr_assert_not(conn_wait_closed(&c, 300));
	conn_close(&c);
	harness_end();
}

Test(proxy_basic, idle_keep_alive_connection_is_closed_after_client_idle)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	start_origin(&o);
	d.port = free_port();
	char *yaml = rc_yaml(&(struct rc_cfg){
	    .port = d.port, .servers = &o.port, .n_servers = 1, .client_idle = "1s"});
	start_ringcache(&d, yaml);
	free(yaml);
	conn_open(&c, d.port);
	http_req(&c, "GET", "/idle", NULL, &r);
	cr_assert_eq(r.status, 200);
	double t0 = now_s();
	cr_assert(conn_wait_closed(&c, 3000), "idle connection kept past client_idle");
	double el = now_s() - t0;
	cr_assert(el >= 0.7 && el <= 4.0, "closed after %.2f s, client_idle is 1 s", el);
	response_free(&r);
	conn_close(&c);
	harness_end();
}

Test(proxy_basic, pipelined_requests_are_answered_in_order)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	start_pair(&o, &d);
	conn_open(&c, d.port);
	/*
	 * The first one is slow at the origin, so a proxy that answered in
	 * completion order rather than request order would give itself away.
	 */
	cr_assert_eq(conn_send_str(&c, "GET /p1?size=10&delay=300 HTTP/1.1\r\nHost: t\r\n\r\n"
				       "GET /p2?size=20 HTTP/1.1\r\nHost: t\r\n\r\n"
				       "HEAD /p3?size=25 HTTP/1.1\r\nHost: t\r\n\r\n"
				       "GET /p4?size=30 HTTP/1.1\r\nHost: t\r\n\r\n"),
		     0);
	static const size_t sizes[] = {10, 20, 25, 30};
	for (int i = 0; i < 4; i++) {
		int head = i == 2;
		cr_assert_eq(read_response(&c, &r, head ? RESP_HEAD : 0), READ_OK,
			     "response %d: %s", i + 1, r.error);
		cr_assert_eq(r.status, 200);
		if (head) {
			cr_assert_str_eq(resp_header(&r, "Content-Length") ?: "(none)", "25");
			cr_assert_eq(r.body_len, 0);
		} else {
			expect_pattern(&r, sizes[i]);
		}
		response_free(&r);
	}
	cr_assert_not(conn_wait_closed(&c, 200));
	cr_assert_eq(conn_pending(&c), 0);
	conn_close(&c);
	harness_end();
}

Test(proxy_basic, head_has_no_body_and_keeps_the_connection)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	start_pair(&o, &d);
	conn_open(&c, d.port);
	http_req(&c, "HEAD", "/h?size=1000", NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(resp_header(&r, "Content-Length") ?: "(none)", "1000", "head: %s",
			 r.raw_head);
	response_free(&r);
	/* A chunked origin response to HEAD: no body, no last-chunk either. */
	http_req(&c, "HEAD", "/hc?size=1000&chunked=1", NULL, &r);
	cr_assert_eq(r.status, 200);
	response_free(&r);
	/*
	 * If the proxy had sent any body bytes after those heads, they would
	 * sit in front of this response and it would not parse.
	 */
	http_req(&c, "GET", "/after?size=5", NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "01234");
	response_free(&r);
	cr_assert_eq(conn_pending(&c), 0);
	conn_close(&c);
	harness_end();
}

Test(proxy_basic, no_body_for_204_and_304)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	start_pair(&o, &d);
	conn_open(&c, d.port);

	http_req(&c, "GET", "/nc?status=204", NULL, &r);
	cr_assert_eq(r.status, 204);
	cr_assert_null(resp_header(&r, "Transfer-Encoding"), "head: %s", r.raw_head);
	response_free(&r);

	http_req(&c, "GET", "/cond?etag=v7&size=100", "If-None-Match: \"v7\"\r\n", &r);
	cr_assert_eq(r.status, 304);
	cr_assert_str_eq(resp_header(&r, "ETag") ?: "(none)", "\"v7\"");
	cr_assert_null(resp_header(&r, "Transfer-Encoding"), "head: %s", r.raw_head);
	response_free(&r);

	http_req(&c, "GET", "/nm?status=304", NULL, &r);
	cr_assert_eq(r.status, 304);
	response_free(&r);

	http_req(&c, "GET", "/after?size=7", NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "0123456");
	response_free(&r);
	cr_assert_eq(conn_pending(&c), 0);
	cr_assert_not(c.eof);
	conn_close(&c);
	harness_end();
}

Test(proxy_basic, request_hop_by_hop_headers_removed_and_via_xff_added)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	const char *head, *body;
	size_t hl, bl;
	char v[256];
	start_pair(&o, &d);
	conn_open(&c, d.port);
	http_req(&c, "GET", "/echo",
		 "Connection: keep-alive, X-Hop-One\r\n"
		 "X-Hop-One: secret\r\n"
		 "Keep-Alive: timeout=5\r\n"
		 "TE: trailers\r\n"
		 "Trailer: X-Trail\r\n"
		 "Upgrade: h2c\r\n"
		 "Proxy-Connection: keep-alive\r\n"
		 "X-Forwarded-For: 10.0.0.1\r\n"
		 "X-End-To-End: kept\r\n",
		 &r);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(echo_split(&r, &head, &hl, &body, &bl), 0, "echo: %s",
		     excerpt(r.body, r.body_len));
	static const char *const gone[] = {"Connection", "X-Hop-One", "Keep-Alive",	 "TE",
					   "Trailer",	 "Upgrade",   "Proxy-Connection"};
	for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++) {
		cr_assert_null(echo_header(head, hl, gone[i], v, sizeof(v)),
			       "%s reached the origin: %s", gone[i], excerpt(head, hl));
	}
	cr_assert_str_eq(echo_header(head, hl, "X-End-To-End", v, sizeof(v)) ?: "(none)", "kept");
	cr_assert_str_eq(echo_header(head, hl, "Via", v, sizeof(v)) ?: "(none)", "1.1 ringcache",
			 "head: %s", excerpt(head, hl));
	/* The client is not a trusted proxy: its own X-Forwarded-For is not
	 * believed, the list starts anew with its address (hostile_poison.c
	 * has the trusted case, which appends). */
	cr_assert_eq(echo_header_count(head, hl, "X-Forwarded-For"), 1);
	cr_assert_str_eq(echo_header(head, hl, "X-Forwarded-For", v, sizeof(v)) ?: "(none)",
			 "127.0.0.1");
	response_free(&r);

	/* Without an incoming X-Forwarded-For the proxy starts one. */
	http_req(&c, "GET", "/echo", NULL, &r);
	cr_assert_eq(echo_split(&r, &head, &hl, &body, &bl), 0);
	cr_assert_str_eq(echo_header(head, hl, "X-Forwarded-For", v, sizeof(v)) ?: "(none)",
			 "127.0.0.1", "head: %s", excerpt(head, hl));
	cr_assert(!memcmp(head, "GET /echo HTTP/1.1\r\n", 20), "request line: %s",
		  excerpt(head, hl));
	response_free(&r);
	conn_close(&c);
	harness_end();
}

/* Extra origin response headers ("hdr=Name:Value", URL-encoded), hop-by-hop but one. */
#define HOP_RESP_PATH                                                                              \
	"/rh?size=10&hdr=Connection:X-Hop-Resp&hdr=X-Hop-Resp:1"                                   \
	"&hdr=Keep-Alive:timeout%3D5&hdr=Proxy-Connection:keep-alive"                              \
	"&hdr=Upgrade:h2c&hdr=TE:trailers&hdr=Trailer:X-Trail&hdr=X-End-To-End:kept"

Test(proxy_basic, response_hop_by_hop_headers_removed)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	static const char *const gone[] = {"X-Hop-Resp", "Keep-Alive", "Proxy-Connection",
					   "Upgrade",	 "TE",	       "Trailer"};
	const size_t n_gone = sizeof(gone) / sizeof(gone[0]);
	start_pair(&o, &d);

	/* First make sure the origin really sends them, or the test proves nothing. */
	http_get_once(o.port, HOP_RESP_PATH, &r);
	for (size_t i = 0; i < n_gone; i++) {
		cr_assert_not_null(resp_header(&r, gone[i]), "the origin did not send %s: %s",
				   gone[i], r.raw_head);
	}
	cr_assert(resp_header_has_token(&r, "Connection", "X-Hop-Resp"), "%s", r.raw_head);
	response_free(&r);

	conn_open(&c, d.port);
	http_req(&c, "GET", HOP_RESP_PATH, NULL, &r);
	expect_pattern(&r, 10);
	for (size_t i = 0; i < n_gone; i++) {
		cr_assert_null(resp_header(&r, gone[i]), "%s reached the client: %s", gone[i],
			       r.raw_head);
	}
	cr_assert_not(resp_header_has_token(&r, "Connection", "X-Hop-Resp"), "head: %s",
		      r.raw_head);
	cr_assert_str_eq(resp_header(&r, "X-End-To-End") ?: "(none)", "kept", "head: %s",
			 r.raw_head);
	response_free(&r);
	/* The origin's hop-by-hop choices must not leak into the client connection. */
	http_req(&c, "GET", "/rh2?size=3", NULL, &r);
	cr_assert_str_eq(r.body, "012");
	response_free(&r);
	conn_close(&c);
	harness_end();
}

Test(proxy_basic, round_robin_alternates_between_servers)
{
	struct proc o1, o2, d;
	struct conn c;
	struct response r;
	char path[64];
	start_origin(&o1);
	start_origin(&o2);
	int ports[2] = {o1.port, o2.port};
	d.port = free_port();
	char *yaml = rc_yaml(&(struct rc_cfg){.port = d.port, .servers = ports, .n_servers = 2});
	start_ringcache(&d, yaml);
	free(yaml);

	conn_open(&c, d.port);
	int prev = 0, count[2] = {0, 0};
	for (int i = 0; i < 10; i++) {
		snprintf(path, sizeof(path), "/rr?i=%d", i);
		http_req(&c, "GET", path, NULL, &r);
		cr_assert_eq(r.status, 200);
		const char *p = resp_header(&r, "X-Origin-Port");
		cr_assert_not_null(p, "no X-Origin-Port: %s", r.raw_head);
		int port = atoi(p);
		cr_assert(port == o1.port || port == o2.port, "X-Origin-Port %s", p);
		cr_assert_neq(port, prev, "request %d went to %d again", i, port);
		count[port == o2.port]++;
		prev = port;
		response_free(&r);
	}
	cr_assert_eq(count[0], 5);
	cr_assert_eq(count[1], 5);
	conn_close(&c);
	harness_end();
}

Test(proxy_basic, expect_100_continue_before_the_body)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	const char *head, *body;
	size_t hl, bl;
	start_pair(&o, &d);
	conn_open(&c, d.port);
	cr_assert_eq(conn_send_str(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n"
				       "Expect: 100-continue\r\n\r\n"),
		     0);
	/* The body is held back: only an interim 100 lets the exchange go on. */
	c.timeout_ms = 2000;
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "no 100 Continue: %s", r.error);
	cr_assert_eq(r.status, 100, "head: %s", r.raw_head);
	cr_assert_eq(r.minor, 1);
	cr_assert_eq(r.body_len, 0);
	response_free(&r);

	cr_assert_eq(conn_send_str(&c, "hello world"), 0);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert_eq(r.status, 200, "head: %s", r.raw_head);
	cr_assert_eq(echo_split(&r, &head, &hl, &body, &bl), 0);
	cr_assert_eq(bl, 11, "echoed body: %s", excerpt(body, bl));
	cr_assert_eq(memcmp(body, "hello world", 11), 0);
	response_free(&r);

	/* The connection carries on normally. */
	http_req(&c, "GET", "/after?size=4", NULL, &r);
	cr_assert_str_eq(r.body, "0123");
	response_free(&r);
	conn_close(&c);
	harness_end();
}
