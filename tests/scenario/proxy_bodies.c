/*
 * Message bodies through the daemon: request bodies (Content-Length, chunked),
 * response bodies in every framing, and a 100 MiB response that must stream
 * through in bounded memory.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(proxy_bodies, .fini = harness_fini, .timeout = 60);

static void expect_pattern(const struct response *r, size_t size)
{
	cr_assert_eq(r->status, 200, "head: %s", r->raw_head);
	cr_assert(r->complete, "incomplete body: %s (head: %s)", r->error, r->raw_head);
	cr_assert_eq(r->body_len, size, "body %zu bytes, want %zu", r->body_len, size);
	long long m = pattern_mismatch(r->body, r->body_len, 0);
	cr_assert_eq(m, -1, "body differs from the pattern at byte %lld: %s", m,
		     excerpt(r->body + (m > 0 ? m : 0), r->body_len - (size_t)(m > 0 ? m : 0)));
}

Test(proxy_bodies, content_length_passes_through)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	start_pair(&o, &d);
	conn_open(&c, d.port);
	http_req(&c, "GET", "/cl?size=12345", NULL, &r);
	expect_pattern(&r, 12345);
	cr_assert_eq(r.framing, FRAME_LENGTH, "head: %s", r.raw_head);
	cr_assert_eq(r.content_length, 12345);
	response_free(&r);
	/* An empty body keeps its Content-Length: 0, not a close. */
	http_req(&c, "GET", "/empty?size=0", NULL, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.framing, FRAME_LENGTH, "head: %s", r.raw_head);
	cr_assert_eq(r.content_length, 0);
	response_free(&r);
	cr_assert_not(conn_wait_closed(&c, 200));
	conn_close(&c);
	harness_end();
}

Test(proxy_bodies, chunked_response_stays_chunked)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	start_pair(&o, &d);
	conn_open(&c, d.port);
	/* Dripped, so the body is still arriving when the client's response
	 * starts on any backend (a body complete by then is sent with its
	 * length, which is right too, but not what this test is about). */
	http_req(&c, "GET", "/ch?size=100000&chunked=1&chunk=1000&drip=1", NULL, &r);
	expect_pattern(&r, 100000);
	cr_assert_eq(r.framing, FRAME_CHUNKED, "head: %s", r.raw_head);
	cr_assert_null(resp_header(&r, "Content-Length"));
	response_free(&r);
	/* The last-chunk was consumed exactly: the connection is in sync. */
	http_req(&c, "GET", "/after?size=3", NULL, &r);
	cr_assert_str_eq(r.body, "012");
	response_free(&r);
	conn_close(&c);
	harness_end();
}

Test(proxy_bodies, dripped_chunked_response_arrives_whole)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	start_pair(&o, &d);
	conn_open(&c, d.port);
	/* 10 chunks 100 ms apart: well inside between_bytes_timeout (1 s). */
	double t0 = now_s();
	http_req(&c, "GET", "/drip?size=1000&chunked=1&chunk=100&drip=100", NULL, &r);
	expect_pattern(&r, 1000);
	cr_assert_eq(r.framing, FRAME_CHUNKED);
	cr_assert(now_s() - t0 >= 0.8, "the drip did not happen (%.2f s)", now_s() - t0);
	response_free(&r);
	/* Again: the object was not cacheable, so this one is passed (the
	 * exchange engine relays it as it comes, hit-for-miss). The last
	 * chunk goes out once: nothing follows the response, and the next
	 * request on the connection gets its own answer. */
	http_req(&c, "GET", "/drip?size=1000&chunked=1&chunk=100&drip=100", NULL, &r);
	expect_pattern(&r, 1000);
	cr_assert_eq(r.framing, FRAME_CHUNKED);
	cr_assert(cache_status_has(&r, "detail=hit-for-miss"), "not passed: %s", r.raw_head);
	response_free(&r);
	cr_assert_eq(conn_pending(&c), 0, "bytes after the response: %zu", conn_pending(&c));
	http_req(&c, "GET", "/after?size=3", NULL, &r);
	cr_assert_eq(r.status, 200, "head: %s", r.raw_head);
	cr_assert_str_eq(r.body, "012");
	response_free(&r);
	conn_close(&c);
	harness_end();
}

Test(proxy_bodies, close_delimited_response_becomes_chunked_for_http11)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	start_pair(&o, &d);
	conn_open(&c, d.port);
	http_req(&c, "GET", "/nl?size=5000&nolength=1&chunk=1000&drip=5", NULL, &r);
	expect_pattern(&r, 5000);
	cr_assert_eq(r.framing, FRAME_CHUNKED, "head: %s", r.raw_head);
	cr_assert_not(r.peer_closed);
	response_free(&r);
	/* The origin's close did not cost the client its connection. */
	http_req(&c, "GET", "/after?size=6", NULL, &r);
	cr_assert_str_eq(r.body, "012345");
	response_free(&r);
	conn_close(&c);
	harness_end();
}

Test(proxy_bodies, close_delimited_response_to_http10_is_not_chunked)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	start_pair(&o, &d);
	conn_open(&c, d.port);
	cr_assert_eq(
	    conn_send_str(&c, "GET /nl10?size=5000&nolength=1 HTTP/1.0\r\nHost: t\r\n\r\n"), 0);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	expect_pattern(&r, 5000);
	cr_assert_neq(r.framing, FRAME_CHUNKED, "chunked to an HTTP/1.0 client: %s", r.raw_head);
	cr_assert(conn_wait_closed(&c, 2000));
	response_free(&r);
	conn_close(&c);
	harness_end();
}

Test(proxy_bodies, content_length_request_body_reaches_the_origin)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	const char *head, *body;
	size_t hl, bl;
	start_pair(&o, &d);
	conn_open(&c, d.port);
	/* Larger than any sane single buffer, so it has to be relayed in pieces. */
	const size_t n = 4 * 1024 * 1024 + 7;
	char *data = pattern_make(n);
	cr_assert_eq(
	    conn_sendf(&c, "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n", n), 0);
	cr_assert_eq(conn_send(&c, data, n), 0);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert_eq(r.status, 200, "head: %s", r.raw_head);
	cr_assert_eq(echo_split(&r, &head, &hl, &body, &bl), 0);
	cr_assert_eq(bl, n, "origin got %zu body bytes, sent %zu", bl, n);
	cr_assert_eq(pattern_mismatch(body, bl, 0), -1);
	response_free(&r);
	free(data);

	/* And a small one right after, on the same connection. */
	cr_assert_eq(conn_send_str(&c, "PUT /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n"
				       "abcde"),
		     0);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert_eq(echo_split(&r, &head, &hl, &body, &bl), 0);
	cr_assert(!memcmp(head, "PUT /echo HTTP/1.1", 18), "%s", excerpt(head, hl));
	cr_assert_eq(bl, 5);
	cr_assert_eq(memcmp(body, "abcde", 5), 0);
	response_free(&r);
	conn_close(&c);
	harness_end();
}

Test(proxy_bodies, chunked_request_body_reaches_the_origin_decoded)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	const char *head, *body;
	size_t hl, bl;
	char v[64];
	start_pair(&o, &d);
	conn_open(&c, d.port);
	/* Uneven chunk sizes, one with an extension, sent in separate writes. */
	static const size_t sizes[] = {1, 10, 1000, 50000, 3};
	size_t total = 0, off = 0;
	for (size_t i = 0; i < 5; i++)
		total += sizes[i];
	char *data = pattern_make(total);
	cr_assert_eq(conn_send_str(&c, "POST /echo HTTP/1.1\r\nHost: t\r\n"
				       "Transfer-Encoding: chunked\r\n\r\n"),
		     0);
	for (size_t i = 0; i < 5; i++) {
		cr_assert_eq(conn_sendf(&c, "%zx%s\r\n", sizes[i], i == 2 ? ";ext=1" : ""), 0);
		cr_assert_eq(conn_send(&c, data + off, sizes[i]), 0);
		cr_assert_eq(conn_send_str(&c, "\r\n"), 0);
		off += sizes[i];
		sleep_ms(20);
	}
	cr_assert_eq(conn_send_str(&c, "0\r\n\r\n"), 0);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert_eq(r.status, 200, "head: %s", r.raw_head);
	cr_assert_eq(echo_split(&r, &head, &hl, &body, &bl), 0);
	cr_assert_eq(bl, total, "origin got %zu body bytes, sent %zu: %s", bl, total,
		     excerpt(head, hl));
	cr_assert_eq(memcmp(body, data, total), 0);
	/* Whatever framing the proxy chose, it must be exactly one of them. */
	int has_te = echo_header(head, hl, "Transfer-Encoding", v, sizeof(v)) != NULL;
	int has_cl = echo_header(head, hl, "Content-Length", v, sizeof(v)) != NULL;
	cr_assert(has_te != has_cl, "request framing at the origin: %s", excerpt(head, hl));
	response_free(&r);
	free(data);

	/* The terminating chunk was consumed exactly: the next request parses. */
	http_req(&c, "GET", "/after?size=2", NULL, &r);
	cr_assert_str_eq(r.body, "01");
	response_free(&r);
	conn_close(&c);
	harness_end();
}

/* Reads the 100 MiB body piece by piece: checks every byte, samples the daemon's RSS. */
struct big_read {
	pid_t pid;
	unsigned long long got;
	long long first_bad;
	unsigned long long next_sample;
	long max_rss_kib;
	int paused;
};

static void sample_rss(struct big_read *b)
{
	long rss = proc_rss_kib(b->pid);
	if (rss > b->max_rss_kib)
		b->max_rss_kib = rss;
}

static int big_sink(void *ctx, const char *p, size_t n)
{
	struct big_read *b = ctx;
	if (b->first_bad < 0) {
		long long m = pattern_mismatch(p, n, b->got);
		if (m >= 0)
			b->first_bad = (long long)b->got + m;
	}
	b->got += n;
	if (b->got >= b->next_sample) {
		sample_rss(b);
		b->next_sample += 4 << 20;
	}
	/*
	 * Stop reading for a while early on: a proxy that reads the origin
	 * faster than the client drains and buffers the difference shows up
	 * here as a big RSS.
	 */
	if (!b->paused && b->got >= (16u << 20)) {
		b->paused = 1;
		sleep_ms(1000);
		sample_rss(b);
	}
	return 0;
}

Test(proxy_bodies, hundred_mib_streams_in_bounded_memory, .timeout = 90)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	const unsigned long long size = 104857600ull;
	const long limit_kib = 64 * 1024;
	start_origin(&o);
	d.port = free_port();
	/* A small cache, so that only streaming buffers can account for memory. */
	char *yaml = rc_yaml(&(struct rc_cfg){.port = d.port,
					      .servers = &o.port,
					      .n_servers = 1,
					      .extra = "cache:\n  memory: 16MiB\n"});
	start_ringcache(&d, yaml);
	free(yaml);

	struct big_read b = {.pid = d.pid, .first_bad = -1, .next_sample = 1 << 20};
	sample_rss(&b);
	conn_open(&c, d.port);
	cr_assert_eq(conn_send_str(&c, "GET /big?size=104857600 HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
	double t0 = now_s();
	cr_assert_eq(read_response_sink(&c, &r, 0, big_sink, &b), READ_OK, "%s", r.error);
	double el = now_s() - t0;
	cr_assert_eq(r.status, 200, "head: %s", r.raw_head);
	cr_assert(r.complete, "body incomplete after %llu bytes: %s", b.got, r.error);
	cr_assert_eq(b.got, size, "got %llu bytes", b.got);
	cr_assert_eq(r.body_len, size);
	cr_assert_eq(b.first_bad, -1, "body differs from the pattern at byte %lld", b.first_bad);
	sample_rss(&b);
	long hwm = proc_hwm_kib(d.pid);
	cr_log_info("100 MiB in %.2f s; daemon max sampled RSS %ld KiB, peak (VmHWM) %ld KiB", el,
		    b.max_rss_kib, hwm);
	cr_assert(b.max_rss_kib > 0, "could not read the daemon's RSS");
	cr_assert_lt(b.max_rss_kib, limit_kib, "daemon RSS reached %ld KiB", b.max_rss_kib);
	cr_assert_lt(hwm, limit_kib, "daemon peak RSS (VmHWM) %ld KiB", hwm);
	response_free(&r);

	/* The connection survives the big transfer. */
	http_req(&c, "GET", "/after?size=8", NULL, &r);
	cr_assert_str_eq(r.body, "01234567");
	response_free(&r);
	conn_close(&c);
	assert_alive(&d);
	harness_end();
}
