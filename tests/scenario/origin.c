/*
 * The test origin on its own, no daemon in between.
 *
 * The proxy scenarios trust two things: that ringcache-origin behaves as
 * docs/origin.md says, and that the harness's raw client reads every framing
 * correctly. These tests check both against each other, so that a proxy test
 * failure can be blamed on the proxy.
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>

TestSuite(origin, .fini = harness_fini, .timeout = 30);

Test(origin, default_body_and_port_header)
{
	struct proc o;
	struct response r;
	char port[16];
	start_origin(&o);
	http_get_once(o.port, "/", &r);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.minor, 1);
	cr_assert_eq(r.framing, FRAME_LENGTH);
	cr_assert_str_eq(r.body, "hello from ringcache-origin\n");
	cr_assert_eq(r.content_length, 28);
	cr_assert(r.complete);
	snprintf(port, sizeof(port), "%d", o.port);
	cr_assert_str_eq(resp_header(&r, "X-Origin-Port") ?: "(none)", port);
	cr_assert_not_null(resp_header(&r, "X-Origin-Request"));
	response_free(&r);
}

Test(origin, sized_body_is_the_pattern)
{
	struct proc o;
	struct response r;
	start_origin(&o);
	http_get_once(o.port, "/p?size=1000", &r);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.content_length, 1000);
	cr_assert_eq(r.body_len, 1000);
	cr_assert_eq(pattern_mismatch(r.body, r.body_len, 0), -1, "body: %s",
		     excerpt(r.body, r.body_len));
	cr_assert_eq(r.body[36], '\n');
	cr_assert_eq(r.body[37], '0');
	response_free(&r);
}

Test(origin, chunked_body_is_decoded)
{
	struct proc o;
	struct response r;
	start_origin(&o);
	http_get_once(o.port, "/c?size=1000&chunked=1&chunk=100", &r);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.framing, FRAME_CHUNKED, "head: %s", r.raw_head);
	cr_assert(r.complete, "%s", r.error);
	cr_assert_eq(r.n_chunks, 10);
	cr_assert_eq(r.body_len, 1000);
	cr_assert_eq(pattern_mismatch(r.body, r.body_len, 0), -1);
	cr_assert_null(resp_header(&r, "Content-Length"));
	response_free(&r);
}

Test(origin, nolength_body_ends_at_close)
{
	struct proc o;
	struct response r;
	start_origin(&o);
	http_get_once(o.port, "/n?size=5000&nolength=1", &r);
	cr_assert_eq(r.framing, FRAME_CLOSE, "head: %s", r.raw_head);
	cr_assert(r.complete, "%s", r.error);
	cr_assert(r.peer_closed);
	cr_assert_eq(r.body_len, 5000);
	cr_assert_eq(pattern_mismatch(r.body, r.body_len, 0), -1);
	response_free(&r);
}

Test(origin, close_after_is_an_incomplete_body)
{
	struct proc o;
	struct response r;
	start_origin(&o);
	http_get_once(o.port, "/x?size=1000&close_after=100", &r);
	cr_assert_eq(r.framing, FRAME_LENGTH);
	cr_assert_eq(r.content_length, 1000);
	cr_assert_not(r.complete);
	cr_assert(r.peer_closed);
	cr_assert_eq(r.body_len, 100);
	response_free(&r);
}

Test(origin, head_204_304_have_no_body_and_keep_alive)
{
	struct proc o;
	struct conn c;
	struct response r;
	start_origin(&o);
	conn_open(&c, o.port);

	http_req(&c, "HEAD", "/h?size=1000", NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(resp_header(&r, "Content-Length") ?: "(none)", "1000");
	cr_assert_eq(r.body_len, 0);
	response_free(&r);

	http_req(&c, "GET", "/e?status=204", NULL, &r);
	cr_assert_eq(r.status, 204);
	cr_assert_eq(r.body_len, 0);
	response_free(&r);

	http_req(&c, "GET", "/t?etag=v1", "If-None-Match: \"v1\"\r\n", &r);
	cr_assert_eq(r.status, 304);
	cr_assert_str_eq(resp_header(&r, "ETag") ?: "(none)", "\"v1\"");
	cr_assert_eq(r.body_len, 0);
	response_free(&r);

	/* Had any of them carried body bytes, this head would not parse. */
	http_req(&c, "GET", "/after?size=5", NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "01234");
	response_free(&r);
	cr_assert_eq(conn_pending(&c), 0);
	conn_close(&c);
}

Test(origin, echo_returns_the_request)
{
	struct proc o;
	struct conn c;
	struct response r;
	const char *head, *body;
	size_t hl, bl;
	char v[64];
	start_origin(&o);
	conn_open(&c, o.port);
	cr_assert_eq(conn_send_str(&c, "POST /echo?a=1 HTTP/1.1\r\nHost: h\r\nX-Test: yes\r\n"
				       "Content-Length: 11\r\n\r\nhello world"),
		     0);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(echo_split(&r, &head, &hl, &body, &bl), 0, "echo: %s",
		     excerpt(r.body, r.body_len));
	cr_assert(hl > 27 && !memcmp(head, "POST /echo?a=1 HTTP/1.1", 23), "head: %s",
		  excerpt(head, hl));
	cr_assert_str_eq(echo_header(head, hl, "x-test", v, sizeof(v)) ?: "(none)", "yes");
	cr_assert_eq(echo_header_count(head, hl, "X-Test"), 1);
	cr_assert_eq(bl, 11);
	cr_assert_eq(memcmp(body, "hello world", 11), 0);
	response_free(&r);
	conn_close(&c);
}

Test(origin, pipelined_requests_answer_in_order)
{
	struct proc o;
	struct conn c;
	struct response r;
	start_origin(&o);
	conn_open(&c, o.port);
	cr_assert_eq(conn_send_str(&c, "GET /a?size=10 HTTP/1.1\r\nHost: h\r\n\r\n"
				       "GET /b?size=20 HTTP/1.1\r\nHost: h\r\n\r\n"
				       "GET /c?size=30 HTTP/1.1\r\nHost: h\r\n\r\n"),
		     0);
	for (int i = 1; i <= 3; i++) {
		cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
		cr_assert_eq(r.body_len, (size_t)(10 * i));
		response_free(&r);
	}
	conn_close(&c);
}

Test(origin, close_param_closes_after_response)
{
	struct proc o;
	struct conn c;
	struct response r;
	start_origin(&o);
	conn_open(&c, o.port);
	http_req(&c, "GET", "/z?close=1", NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert(resp_header_has_token(&r, "Connection", "close"));
	cr_assert(conn_wait_closed(&c, 2000));
	response_free(&r);
	conn_close(&c);
}

Test(origin, delay_and_read_timeout_are_bounded)
{
	struct proc o;
	struct conn c;
	struct response r;
	start_origin(&o);
	conn_open(&c, o.port);
	c.timeout_ms = 300;
	double t0 = now_s();
	cr_assert_eq(conn_send_str(&c, "GET /slow?delay=1500 HTTP/1.1\r\nHost: h\r\n\r\n"), 0);
	cr_assert_eq(read_response(&c, &r, 0), READ_TIMEOUT, "%s", r.error);
	cr_assert(now_s() - t0 < 1.0);
	response_free(&r);
	/* The delayed response does come, later. */
	c.timeout_ms = 3000;
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert(now_s() - t0 >= 1.4);
	response_free(&r);
	conn_close(&c);
}

Test(origin, stats_count_requests_per_target)
{
	struct proc o;
	struct response r;
	start_origin(&o);
	for (int i = 0; i < 3; i++) {
		http_get_once(o.port, "/counted?x=1", &r);
		response_free(&r);
	}
	http_get_once(o.port, "/other", &r);
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, "/counted?x=1"), 3);
	cr_assert_eq(origin_requests(o.port, NULL), 4);
}

Test(origin, ranges_and_if_range)
{
	struct proc o;
	struct conn c;
	struct response r;
	const char *path = "/r?size=100&ranges=1&etag=v1";
	start_origin(&o);
	conn_open(&c, o.port);
	http_req(&c, "GET", path, "Range: bytes=10-19\r\n", &r);
	cr_assert_eq(r.status, 206, "%s", r.raw_head);
	cr_assert_str_eq(resp_header(&r, "Content-Range") ?: "", "bytes 10-19/100");
	cr_assert_str_eq(resp_header(&r, "X-Origin-Range") ?: "", "bytes=10-19");
	cr_assert_str_eq(resp_header(&r, "X-Origin-If-Range") ?: "", "none");
	cr_assert_eq(r.body_len, 10);
	cr_assert_eq(pattern_mismatch(r.body, r.body_len, 10), -1);
	response_free(&r);
	http_req(&c, "GET", path, "Range: bytes=-5\r\nIf-Range: \"v1\"\r\n", &r);
	cr_assert_eq(r.status, 206, "%s", r.raw_head);
	cr_assert_str_eq(resp_header(&r, "Content-Range") ?: "", "bytes 95-99/100");
	response_free(&r);
	/* Another validator, several ranges: the whole body. */
	http_req(&c, "GET", path, "Range: bytes=0-1\r\nIf-Range: \"v0\"\r\n", &r);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	cr_assert_eq(r.body_len, 100);
	response_free(&r);
	http_req(&c, "GET", path, "Range: bytes=0-1,5-6\r\n", &r);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	response_free(&r);
	http_req(&c, "GET", path, "Range: bytes=100-\r\n", &r);
	cr_assert_eq(r.status, 416, "%s", r.raw_head);
	cr_assert_str_eq(resp_header(&r, "Content-Range") ?: "", "bytes */100");
	response_free(&r);
	/* ranges=2 takes no notice of If-Range; etag_seq changes the ETag. */
	http_req(&c, "GET", "/r2?size=100&ranges=2&etag_seq=1",
		 "Range: bytes=0-1\r\nIf-Range: \"x\"\r\n", &r);
	cr_assert_eq(r.status, 206, "%s", r.raw_head);
	char e1[32];
	snprintf(e1, sizeof(e1), "%s", resp_header(&r, "ETag") ?: "");
	response_free(&r);
	http_req(&c, "GET", "/r2?size=100&ranges=2&etag_seq=1", NULL, &r);
	cr_assert_str_neq(resp_header(&r, "ETag") ?: "", e1);
	response_free(&r);
	conn_close(&c);
}
