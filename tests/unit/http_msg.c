/* Unit tests of src/http/msg.c and hop.c: incremental parsing, in-place body decoding. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "http/hop.h"
#include "http/msg.h"

static struct hfield fields[16];
static char buf[4096];
static struct hmsg m;

static void start(enum hmsg_kind kind, const char *data)
{
	hmsg_init(&m, kind, fields, 16, 1024);
	strcpy(buf, data);
	hmsg_next(&m, buf, 0);
}

/* Feed the whole buffer in pieces of STEP bytes, as recv would deliver it. */
static long feed_steps(uint32_t total, uint32_t step)
{
	uint32_t pos = 0, avail = 0;
	while (pos < total && !m.msg_done) {
		avail = avail + step > total ? total : avail + step;
		long n = hmsg_feed(&m, pos, avail - pos);
		if (n < 0)
			return n;
		pos += (uint32_t)n;
	}
	return pos;
}

static bool value_is(const char *name, const char *want)
{
	const struct hfield *f = hmsg_field(&m, name, 0);
	return f && f->value.len == strlen(want) &&
	       memcmp(buf + f->value.off, want, f->value.len) == 0;
}

Test(http_msg, head_fields_survive_one_byte_feeds)
{
	const char *req = "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nX-Long: "
			  "abcdefghijklmnop\r\nEmpty:\r\n\r\n";
	start(HMSG_REQUEST, req);
	long n = feed_steps((uint32_t)strlen(req), 1);
	cr_assert_eq(n, (long)strlen(req));
	cr_assert(m.headers_done && m.msg_done);
	cr_assert_eq(m.target.len, 8);
	cr_assert_eq(memcmp(buf + m.target.off, "/a/b?x=1", 8), 0);
	cr_assert_eq(m.n_fields, 3);
	cr_assert(value_is("host", "example.com"));
	cr_assert(value_is("X-LONG", "abcdefghijklmnop"));
	cr_assert(value_is("empty", ""));
}

Test(http_msg, pipelined_requests_stop_at_message_end)
{
	const char *two = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
	start(HMSG_REQUEST, two);
	const long one = (long)strlen(two) / 2;
	long n = hmsg_feed(&m, 0, (uint32_t)strlen(two));
	cr_assert_eq(n, one, "first message is %ld bytes, got %ld", one, n);
	cr_assert(m.msg_done);
	hmsg_next(&m, buf, (uint32_t)one);
	long n2 = hmsg_feed(&m, (uint32_t)one, (uint32_t)one);
	cr_assert_eq(n2, one);
	cr_assert(m.msg_done);
	cr_assert_eq(memcmp(buf + m.target.off, "/2", 2), 0);
}

Test(http_msg, chunked_body_is_decoded_in_place)
{
	const char *req = "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
			  "5\r\nhello\r\n1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\n\r\n";
	start(HMSG_REQUEST, req);
	long n = feed_steps((uint32_t)strlen(req), 3);
	cr_assert_eq(n, (long)strlen(req));
	cr_assert(hmsg_chunked(&m));
	cr_assert_eq(m.body_total, 12);
	/* Pieces arrive across several feeds; the region holds what has not
	 * been consumed, which here is everything. */
	cr_assert_eq(m.body_len, 12);
	cr_assert_eq(memcmp(buf + m.body_off, "hello world!", 12), 0);
}

Test(http_msg, content_length_body)
{
	const char *req = "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nabcdGET";
	start(HMSG_REQUEST, req);
	long n = hmsg_feed(&m, 0, (uint32_t)strlen(req));
	cr_assert_eq(n, (long)strlen(req) - 3);
	cr_assert(hmsg_has_length(&m));
	cr_assert_eq(hmsg_content_length(&m), 4);
	cr_assert_eq(m.body_len, 4);
	cr_assert_eq(memcmp(buf + m.body_off, "abcd", 4), 0);
}

Test(http_msg, obs_fold_is_rejected)
{
	const char *req = "GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n";
	start(HMSG_REQUEST, req);
	long n = hmsg_feed(&m, 0, (uint32_t)strlen(req));
	cr_assert_eq(n, HMSG_MALFORMED);
	cr_assert(m.obs_fold);
}

Test(http_msg, too_many_fields_and_too_large_head)
{
	char req[2048] = "GET / HTTP/1.1\r\n";
	for (int i = 0; i < 20; i++)
		sprintf(req + strlen(req), "X-%d: v\r\n", i);
	strcat(req, "\r\n");
	start(HMSG_REQUEST, req);
	cr_assert_eq(hmsg_feed(&m, 0, (uint32_t)strlen(req)), HMSG_TOO_LARGE);

	char big[2000] = "GET / HTTP/1.1\r\nX: ";
	memset(big + strlen(big), 'a', 1500);
	start(HMSG_REQUEST, big); /* incomplete head, already over 1024 bytes */
	cr_assert_eq(hmsg_feed(&m, 0, (uint32_t)strlen(big)), HMSG_TOO_LARGE);
}

Test(http_msg, malformed_requests)
{
	const char *bad[] = {
	    "GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n",
	    "G@T / HTTP/1.1\r\nHost: a\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
	    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	    "GET / HTTP/1.1\nHost: a\n\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		start(HMSG_REQUEST, bad[i]);
		long n = hmsg_feed(&m, 0, (uint32_t)strlen(bad[i]));
		cr_assert_eq(n, HMSG_MALFORMED, "case %zu accepted: %s", i, bad[i]);
	}
}

Test(http_msg, response_to_head_has_no_body)
{
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 204 No\r\n\r\n";
	start(HMSG_RESPONSE, resp);
	m.skip_body = true;
	long n = hmsg_feed(&m, 0, (uint32_t)strlen(resp));
	cr_assert_eq(n, (long)(strstr(resp, "\r\n\r\n") + 4 - resp));
	cr_assert(m.msg_done);
	cr_assert_eq(hmsg_status(&m), 200);
	cr_assert_eq(hmsg_content_length(&m), 100);
}

Test(http_msg, close_delimited_response_ends_at_eof)
{
	const char *resp = "HTTP/1.1 200 OK\r\n\r\nabc";
	start(HMSG_RESPONSE, resp);
	long n = hmsg_feed(&m, 0, (uint32_t)strlen(resp));
	cr_assert_eq(n, (long)strlen(resp));
	cr_assert(!m.msg_done && hmsg_needs_eof(&m));
	cr_assert_eq(hmsg_eof(&m), 0);
	cr_assert(m.msg_done);
	cr_assert_eq(m.body_total, 3);
}

Test(http_hop, connection_tokens_and_fixed_list)
{
	const char *req = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Secret\r\n"
			  "X-Secret: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nX-Kept: 2\r\n\r\n";
	start(HMSG_REQUEST, req);
	cr_assert_gt(hmsg_feed(&m, 0, (uint32_t)strlen(req)), 0);
	struct hop_set hs;
	hop_collect(&m, &hs);
	cr_assert(hs.close);
	cr_assert_eq(hs.n, 1);
	const char *want_hop[] = {"Connection", "X-Secret", "Keep-Alive", "TE"};
	for (size_t i = 0; i < 4; i++)
		cr_assert(hop_is_hop(&m, &hs, hmsg_field(&m, want_hop[i], 0)), "%s", want_hop[i]);
	cr_assert_not(hop_is_hop(&m, &hs, hmsg_field(&m, "X-Kept", 0)));
	cr_assert_not(hop_is_hop(&m, &hs, hmsg_field(&m, "Host", 0)));
}

Test(http_msg, trailing_ows_is_not_part_of_a_value)
{
	const char *req = "GET / HTTP/1.1\r\nHost: example.com \t\r\nX-A: a b  \r\nX-E:  \r\n\r\n";
	start(HMSG_REQUEST, req);
	cr_assert_eq(hmsg_feed(&m, 0, (uint32_t)strlen(req)), (long)strlen(req));
	cr_assert(value_is("host", "example.com"));
	cr_assert(value_is("x-a", "a b"));
	cr_assert(value_is("x-e", ""));
}

/* OWS after "chunked" is OWS whether SP or HTAB (llhttp 8.1.0 knew only SP). */
Test(http_msg, chunked_followed_by_ows)
{
	static const char *const te[] = {"chunked\t", "chunked ", "chunked \t ", "\tchunked",
					 "CHUNKED\t"};
	for (size_t i = 0; i < sizeof(te) / sizeof(te[0]); i++) {
		char req[256];
		snprintf(req, sizeof(req),
			 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: %s\r\n\r\n"
			 "3\r\nabc\r\n0\r\n\r\n",
			 te[i]);
		start(HMSG_REQUEST, req);
		long n = hmsg_feed(&m, 0, (uint32_t)strlen(req));
		cr_assert_eq(n, (long)strlen(req), "[%s] %s", te[i], m.error ? m.error : "");
		cr_assert(hmsg_chunked(&m) && m.msg_done, "[%s]", te[i]);
		cr_assert(value_is("transfer-encoding", "chunked") ||
			      value_is("transfer-encoding", "CHUNKED"),
			  "[%s]", te[i]);
		cr_assert_eq(m.body_total, 3);
	}
	/* A lookalike is not chunked (refused in a request). */
	const char *bad = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\tx\r\n\r\n";
	start(HMSG_REQUEST, bad);
	cr_assert_lt(hmsg_feed(&m, 0, (uint32_t)strlen(bad)), 0);
}

/* The chunked body is decoded by http/chunked.c: the RFC 9112 grammar, in
 * any split, with pipelined bytes left for the next message. */
Test(http_msg, chunked_body_by_the_grammar_in_any_split)
{
	const char *req = "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
			  "5;name=\"va;l\\\"ue\"\r\nhello\r\n1 ;a=b\r\n \r\n0\r\nX-T: 1\r\n\r\n"
			  "GET /next HTTP/1.1\r\nHost: a\r\n\r\n";
	const uint32_t first = (uint32_t)(strstr(req, "GET /next") - req);
	for (uint32_t step = 1; step <= 9; step++) {
		start(HMSG_REQUEST, req);
		long n = feed_steps((uint32_t)strlen(req), step);
		cr_assert_eq(n, (long)first, "step %u: %ld (%s)", step, n, m.error ? m.error : "");
		cr_assert(m.msg_done);
		cr_assert_eq(m.body_total, 6);
		cr_assert_eq(memcmp(buf + m.body_off, "hello ", 6), 0);
		/* The trailer field did not join the head. */
		cr_assert_null(hmsg_field(&m, "x-t", 0));
		hmsg_next(&m, buf, first);
		cr_assert_eq(hmsg_feed(&m, first, (uint32_t)strlen(req) - first),
			     (long)(strlen(req) - first));
		cr_assert(m.msg_done);
		cr_assert_eq(memcmp(buf + m.target.off, "/next", 5), 0);
	}
}

Test(http_msg, chunked_framing_errors)
{
	static const char *const bodies[] = {
	    "0\r\n\n",		     /* bare LF ends the trailer section */
	    "0\r\nX: y\r\n\n",	     /* ... after a trailer field */
	    "0\r\nX: y\n\r\n",	     /* bare LF ends a trailer field */
	    "5\r\nhello\n0\r\n\r\n", /* bare LF after data */
	    "5 \r\nhello\r\n",	     /* BWS without an extension */
	    "5;a=\"b\rc\"\r\n",	     /* CR in a quoted string */
	    "5;a=\"b\nc\"\r\n",	     /* LF in a quoted string */
	};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		char req[256];
		snprintf(req, sizeof(req),
			 "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n%s"
			 "GET /evil HTTP/1.1\r\nHost: a\r\n\r\n",
			 bodies[i]);
		for (uint32_t step = 1; step <= 64; step *= 4) {
			start(HMSG_REQUEST, req);
			cr_assert_eq(feed_steps((uint32_t)strlen(req), step), HMSG_MALFORMED,
				     "#%zu step %u accepted", i, step);
			cr_assert_not(m.msg_done);
			cr_assert_not_null(m.error);
		}
	}
}

/* A response that ends before its chunked body is complete is malformed. */
Test(http_msg, chunked_response_cut_short)
{
	const char *resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel";
	start(HMSG_RESPONSE, resp);
	cr_assert_eq(hmsg_feed(&m, 0, (uint32_t)strlen(resp)), (long)strlen(resp));
	cr_assert_not(m.msg_done);
	cr_assert_eq(hmsg_eof(&m), HMSG_MALFORMED);
}

Test(http_msg, body_start_is_past_the_empty_line)
{
	const char *req = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
	start(HMSG_REQUEST, req);
	cr_assert_eq(hmsg_feed(&m, 0, (uint32_t)strlen(req)), (long)strlen(req));
	cr_assert_eq(m.body_start, strlen(req) - 3);
}

Test(http_hop, named_fields_only)
{
	const char *req = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Secret, TE\r\n"
			  "X-Secret: 1\r\nTE: trailers\r\nX-Kept: 2\r\n\r\n";
	start(HMSG_REQUEST, req);
	cr_assert_gt(hmsg_feed(&m, 0, (uint32_t)strlen(req)), 0);
	struct hop_set hs;
	hop_collect(&m, &hs);
	cr_assert(hop_is_named(&m, &hs, hmsg_field(&m, "X-Secret", 0)));
	/* The fixed ones are hop-by-hop anyway, not "named". */
	cr_assert_not(hop_is_named(&m, &hs, hmsg_field(&m, "TE", 0)));
	cr_assert_not(hop_is_named(&m, &hs, hmsg_field(&m, "Connection", 0)));
	cr_assert_not(hop_is_named(&m, &hs, hmsg_field(&m, "X-Kept", 0)));
}
