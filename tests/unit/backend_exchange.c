/* Unit tests of exchange_reusable (src/backend/exchange.c): when the
 * connection that carried a response may go back to a pool. Responses are
 * parsed with the real parser (http/msg.h), as the exchange does. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "backend/exchange.h"
#include "http/msg.h"

static struct hfield fields[32];
static char buf[4096];
static struct hmsg m;
static uint32_t left; /* bytes received past the response's end */

/* Parse the bytes of RESP as one read would deliver them; HEAD: it answers
 * a HEAD request. Returns whether the message is complete. */
static bool parse_as(const char *resp, bool head)
{
	size_t len = strlen(resp);
	cr_assert_lt(len, sizeof(buf));
	memcpy(buf, resp, len);
	hmsg_init(&m, HMSG_RESPONSE, fields, 32, 4096);
	hmsg_next(&m, buf, 0);
	m.skip_body = head;
	long n = hmsg_feed(&m, 0, (uint32_t)len);
	cr_assert_geq(n, 0, "%s: %s", resp, m.error ? m.error : "");
	cr_assert(m.headers_done, "%s", resp);
	left = (uint32_t)(len - (size_t)n);
	return m.msg_done;
}

static bool parse(const char *resp)
{
	return parse_as(resp, false);
}

/* The verdict for a response read to its end, nothing early. */
static bool reusable(void)
{
	return exchange_reusable(&m, m.msg_done, left, false);
}

Test(backend_exchange, content_length_complete_is_reusable)
{
	cr_assert(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"));
	cr_assert_eq(left, 0);
	cr_assert(reusable());
	cr_assert(parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
	cr_assert(reusable());
	cr_assert(parse("HTTP/1.1 404 Not Found\r\nConnection: keep-alive\r\n"
			"Content-Length: 3\r\n\r\nno!"));
	cr_assert(reusable());
	/* HTTP/1.0 that asks for keep-alive, with a length. */
	cr_assert(
	    parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"));
	cr_assert(reusable());
}

Test(backend_exchange, chunked_complete_is_reusable)
{
	cr_assert(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
	cr_assert_eq(left, 0);
	cr_assert(reusable());
	/* With trailer fields. */
	cr_assert(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			"3\r\nabc\r\n0\r\nX-Checksum: 1\r\n\r\n"));
	cr_assert(reusable());
	/* A trailer "Connection: close" does not change the head's framing. */
	cr_assert(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			"0\r\nConnection: close\r\n\r\n"));
	cr_assert(hmsg_keep_alive(&m));
	cr_assert(reusable());
}

Test(backend_exchange, connection_close_is_not_reusable)
{
	cr_assert(parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello"));
	cr_assert_not(reusable());
	cr_assert(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nconnection: Close\r\n\r\nhello"));
	cr_assert_not(reusable());
	cr_assert(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
			"0\r\n\r\n"));
	cr_assert_not(reusable());
}

Test(backend_exchange, http_1_0_is_not_reusable_without_keep_alive)
{
	cr_assert(parse("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"));
	cr_assert_not(reusable());
	cr_assert(parse("HTTP/1.0 204 No Content\r\n\r\n"));
	cr_assert_not(reusable());
}

Test(backend_exchange, http_1_0_with_transfer_encoding_is_not_reusable)
{
	/* RFC 9112 6.1: the connection closes after it, keep-alive or not. */
	cr_assert(
	    parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n"
		  "\r\n5\r\nhello\r\n0\r\n\r\n"));
	cr_assert_eq(left, 0);
	cr_assert_not(reusable());
}

Test(backend_exchange, close_delimited_is_not_reusable)
{
	cr_assert_not(parse("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end"));
	cr_assert(hmsg_needs_eof(&m));
	cr_assert_not(exchange_reusable(&m, false, 0, false));
	cr_assert_eq(hmsg_eof(&m), 0);
	cr_assert(m.msg_done);
	cr_assert_not(reusable());
	/* A transfer coding that is not chunked is read to the close too. */
	cr_assert_not(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxyz"));
	cr_assert_eq(hmsg_eof(&m), 0);
	cr_assert_not(reusable());
	/* Even when it says keep-alive. */
	cr_assert_not(parse("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\nabc"));
	cr_assert_eq(hmsg_eof(&m), 0);
	cr_assert_not(reusable());
}

Test(backend_exchange, bytes_past_the_end_are_not_reusable)
{
	cr_assert(
	    parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\n\r\n"));
	cr_assert_gt(left, 0);
	cr_assert_not(reusable());
	cr_assert(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello!"));
	cr_assert_eq(left, 1);
	cr_assert_not(reusable());
	cr_assert(parse("HTTP/1.1 204 No Content\r\n\r\nx"));
	cr_assert_eq(left, 1);
	cr_assert_not(reusable());
	cr_assert(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\r\n"));
	cr_assert_eq(left, 2);
	cr_assert_not(reusable());
	/* The same responses with nothing left are. */
	cr_assert(parse("HTTP/1.1 204 No Content\r\n\r\n"));
	cr_assert(exchange_reusable(&m, true, 0, false));
	cr_assert_not(exchange_reusable(&m, true, 1, false));
	cr_assert_not(exchange_reusable(&m, true, 4096, false));
}

Test(backend_exchange, an_early_response_is_not_reusable)
{
	cr_assert(parse("HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n"));
	cr_assert(exchange_reusable(&m, true, 0, false));
	cr_assert_not(exchange_reusable(&m, true, 0, true));
	cr_assert(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
	cr_assert_not(exchange_reusable(&m, true, 0, true));
}

Test(backend_exchange, a_response_not_read_to_its_end_is_not_reusable)
{
	cr_assert_not(parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"));
	cr_assert_not(reusable());
	cr_assert_not(exchange_reusable(&m, false, 0, false));
	cr_assert_not(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"));
	cr_assert_not(reusable());
	/* Complete, but the caller gave up on it (the client went away). */
	cr_assert(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"));
	cr_assert_not(exchange_reusable(&m, false, 0, false));
}

Test(backend_exchange, bodiless_statuses_end_at_the_empty_line)
{
	static const char *const kept[] = {
	    "HTTP/1.1 204 No Content\r\n\r\n",
	    "HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\n\r\n",
	    /* A 304 may carry the length of the representation it validates. */
	    "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n",
	    "HTTP/1.1 100 Continue\r\n\r\n",
	    "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n",
	    "HTTP/1.0 304 Not Modified\r\nConnection: keep-alive\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		cr_assert(parse(kept[i]), "%s", kept[i]);
		cr_assert_eq(left, 0, "%s", kept[i]);
		cr_assert(reusable(), "%s", kept[i]);
	}
	static const char *const closed[] = {
	    "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
	    "HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n",
	    "HTTP/1.0 304 Not Modified\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(closed) / sizeof(closed[0]); i++) {
		cr_assert(parse(closed[i]), "%s", closed[i]);
		cr_assert_not(reusable(), "%s", closed[i]);
	}
}

Test(backend_exchange, a_response_to_head_ends_at_the_empty_line)
{
	cr_assert(parse_as("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", true));
	cr_assert_eq(left, 0);
	cr_assert(reusable());
	cr_assert(parse_as("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true));
	cr_assert(reusable());
	/* Without a length a HEAD response still ends at its head. */
	cr_assert(parse_as("HTTP/1.1 200 OK\r\n\r\n", true));
	cr_assert(reusable());
	cr_assert(
	    parse_as("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 9\r\n\r\n", true));
	cr_assert_not(reusable());
}
