/* Unit tests of forward_head_build (src/http/forward.c): the request head
 * ringcache sends to a backend. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "http/forward.h"
#include "http/hbuf.h"
#include "http/hop.h"
#include "http/msg.h"

static struct hfield fields[64];
static char buf[8192];
static struct hmsg m;
static char out[8192];
static bool chunked;

#define SURROGATE "Surrogate-Capability: ringcache=\"Surrogate/1.0\"\r\n"
#define TAIL11                                                                                     \
	"Via: 1.1 ringcache\r\nX-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\n" SURROGATE

/* Parse REQ (a whole head, and a body if any). */
static void parse(const char *req)
{
	snprintf(buf, sizeof(buf), "%s", req);
	hmsg_init(&m, HMSG_REQUEST, fields, 64, 8192);
	hmsg_next(&m, buf, 0);
	cr_assert_gt(hmsg_feed(&m, 0, (uint32_t)strlen(buf)), 0, "%s", m.error ? m.error : "");
	cr_assert(m.headers_done);
}

/* The head ends in exactly one empty line, and holds no other. */
static void check_one_empty_line(const char *h, size_t n)
{
	cr_assert_geq(n, 4);
	cr_assert_eq(memcmp(h + n - 4, "\r\n\r\n", 4), 0, "head does not end in an empty line");
	const char *first = memmem(h, n, "\r\n\r\n", 4);
	cr_assert_eq(first, h + n - 4, "an empty line inside the head");
	/* Every line ends in CRLF: no bare CR or LF. */
	for (size_t i = 0; i < n; i++) {
		if (h[i] == '\n')
			cr_assert(i > 0 && h[i - 1] == '\r', "bare LF at %zu", i);
		if (h[i] == '\r')
			cr_assert(i + 1 < n && h[i + 1] == '\n', "bare CR at %zu", i);
	}
}

/* Build the head of the parsed request into OUT with CAP bytes of room. */
static int build_cap(const struct forward_head_opts *o, size_t cap)
{
	struct hbuf b;
	hbuf_init(&b, out, cap);
	chunked = false;
	int st = forward_head_build(&b, &m, o, &chunked);
	if (st == 0) {
		cr_assert_lt(b.len, sizeof(out));
		out[b.len] = '\0';
		check_one_empty_line(out, b.len);
	}
	return st;
}

static const char *build(const struct forward_head_opts *o)
{
	int st = build_cap(o, sizeof(out) - 1);
	cr_assert_eq(st, 0, "status %d", st);
	return out;
}

static const struct forward_head_opts plain = {.peer_ip = "10.0.0.9"};

Test(http_forward_head, a_plain_get)
{
	parse("GET /p?q=1 HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\n\r\n");
	cr_assert_str_eq(build(&plain),
			 "GET /p?q=1 HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\n" TAIL11 "\r\n");
	cr_assert_not(chunked);
}

Test(http_forward_head, hop_by_hop_fields_are_removed_the_rest_kept_in_order)
{
	parse("GET /p HTTP/1.1\r\n"
	      "Host: a.example\r\n"
	      "X-First: 1\r\n"
	      "Connection: keep-alive, X-Named\r\n"
	      "Keep-Alive: timeout=5\r\n"
	      "X-Named: secret\r\n"
	      "TE: trailers\r\n"
	      "Cookie: c=1\r\n"
	      "Trailer: X-Checksum\r\n"
	      "Proxy-Connection: keep-alive\r\n"
	      "connection: x-other\r\n"
	      "X-OTHER: also\r\n"
	      "X-Second: 2\r\n"
	      "X-First: again\r\n"
	      "\r\n");
	cr_assert_str_eq(build(&plain), "GET /p HTTP/1.1\r\n"
					"Host: a.example\r\n"
					"X-First: 1\r\n"
					"Cookie: c=1\r\n"
					"X-Second: 2\r\n"
					"X-First: again\r\n" TAIL11 "\r\n");
}

Test(http_forward_head, upgrade_is_removed)
{
	parse("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	      "Sec-WebSocket-Version: 13\r\n\r\n");
	cr_assert_str_eq(build(&plain),
			 "GET /ws HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Version: 13\r\n" TAIL11
			 "\r\n");
}

Test(http_forward_head, upgrade_is_kept_for_a_tunnel)
{
	/* The other hop-by-hop fields still go, and one Connection says
	 * upgrade, whatever else the client's said. */
	parse("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
	      "Connection: keep-alive, Upgrade, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\n"
	      "Sec-WebSocket-Version: 13\r\n\r\n");
	struct forward_head_opts o = plain;
	o.upgrade = true;
	cr_assert_eq(build_cap(&o, sizeof(out)), 0);
	cr_assert_str_eq(out, "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
			      "Sec-WebSocket-Version: 13\r\nConnection: upgrade\r\n" TAIL11 "\r\n");
}

Test(http_forward_head, connection_close_is_not_forwarded)
{
	parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
	cr_assert_str_eq(build(&plain), "GET / HTTP/1.1\r\nHost: a\r\n" TAIL11 "\r\n");
}

Test(http_forward_head, via_is_appended_and_merged)
{
	parse("GET / HTTP/1.1\r\nHost: a\r\nVia: 1.0 fred, 1.1 p.example\r\nX: y\r\n"
	      "Via: 1.1 other\r\n\r\n");
	cr_assert_str_eq(build(&plain),
			 "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n"
			 "Via: 1.0 fred, 1.1 p.example, 1.1 other, 1.1 ringcache\r\n"
			 "X-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\n" SURROGATE
			 "\r\n");
	/* An HTTP/1.0 request is received as 1.0 (RFC 9110 7.6.3), sent as 1.1. */
	parse("GET / HTTP/1.0\r\nHost: a\r\n\r\n");
	cr_assert_str_eq(build(&plain),
			 "GET / HTTP/1.1\r\nHost: a\r\nVia: 1.0 ringcache\r\n"
			 "X-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\n" SURROGATE
			 "\r\n");
	/* An empty Via adds nothing but ours. */
	parse("GET / HTTP/1.1\r\nHost: a\r\nVia:\r\n\r\n");
	cr_assert_str_eq(build(&plain), "GET / HTTP/1.1\r\nHost: a\r\n" TAIL11 "\r\n");
}

Test(http_forward_head, x_forwarded_for_gets_the_peer)
{
	parse("GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 192.0.2.1\r\n"
	      "x-forwarded-for: 198.51.100.2, 203.0.113.3\r\n\r\n");
	cr_assert_str_eq(build(&plain), "GET / HTTP/1.1\r\nHost: a\r\nVia: 1.1 ringcache\r\n"
					"X-Forwarded-For: 192.0.2.1, 198.51.100.2, 203.0.113.3, "
					"10.0.0.9\r\nX-Forwarded-Proto: http\r\n" SURROGATE "\r\n");
	struct forward_head_opts v6 = {.peer_ip = "2001:db8::1"};
	parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
	cr_assert_str_eq(build(&v6),
			 "GET / HTTP/1.1\r\nHost: a\r\nVia: 1.1 ringcache\r\n"
			 "X-Forwarded-For: 2001:db8::1\r\nX-Forwarded-Proto: http\r\n" SURROGATE
			 "\r\n");
}

Test(http_forward_head, surrogate_capability_is_merged)
{
	parse("GET / HTTP/1.1\r\nHost: a\r\nSurrogate-Capability: edge=\"Surrogate/1.0\"\r\n\r\n");
	cr_assert_str_eq(
	    build(&plain),
	    "GET / HTTP/1.1\r\nHost: a\r\nVia: 1.1 ringcache\r\n"
	    "X-Forwarded-For: 10.0.0.9\r\nX-Forwarded-Proto: http\r\n"
	    "Surrogate-Capability: edge=\"Surrogate/1.0\", ringcache=\"Surrogate/1.0\"\r\n"
	    "\r\n");
}

Test(http_forward_head, content_length_is_emitted_once_at_the_end)
{
	parse("POST /u HTTP/1.1\r\nContent-Length: 5\r\nHost: a\r\nX: y\r\n\r\nhello");
	cr_assert_str_eq(build(&plain), "POST /u HTTP/1.1\r\nHost: a\r\nX: y\r\n" TAIL11
					"Content-Length: 5\r\n\r\n");
	cr_assert_not(chunked);
	/* Zero is a length too. */
	parse("POST /u HTTP/1.1\r\nHost: a\r\ncontent-length: 0\r\n\r\n");
	cr_assert_str_eq(build(&plain),
			 "POST /u HTTP/1.1\r\nHost: a\r\n" TAIL11 "Content-Length: 0\r\n\r\n");
	cr_assert_not(chunked);
	/* A big one, as a number and not as received ("007"). */
	parse("PUT /u HTTP/1.1\r\nHost: a\r\nContent-Length: 0000000000123456789\r\n\r\n");
	cr_assert_str_eq(build(&plain), "PUT /u HTTP/1.1\r\nHost: a\r\n" TAIL11
					"Content-Length: 123456789\r\n\r\n");
}

Test(http_forward_head, a_chunked_request_is_sent_chunked)
{
	parse("POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n"
	      "5\r\nhello\r\n0\r\n\r\n");
	cr_assert_str_eq(build(&plain), "POST /u HTTP/1.1\r\nHost: a\r\nX: y\r\n" TAIL11
					"Transfer-Encoding: chunked\r\n\r\n");
	cr_assert(chunked);
}

Test(http_forward_head, expect_is_never_forwarded)
{
	parse("PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
	cr_assert_str_eq(build(&plain),
			 "PUT /u HTTP/1.1\r\nHost: a\r\n" TAIL11 "Content-Length: 3\r\n\r\n");
	parse("GET / HTTP/1.1\r\nHost: a\r\nEXPECT: something-else\r\n\r\n");
	cr_assert_str_eq(build(&plain), "GET / HTTP/1.1\r\nHost: a\r\n" TAIL11 "\r\n");
}

Test(http_forward_head, a_cache_fetch_sets_the_method_and_never_frames)
{
	struct forward_head_opts fetch = {.peer_ip = "10.0.0.9", .method = "GET"};
	/* HEAD is fetched as GET, so that the body can be stored. */
	parse("HEAD /p HTTP/1.1\r\nHost: a\r\n\r\n");
	cr_assert_str_eq(build(&fetch), "GET /p HTTP/1.1\r\nHost: a\r\n" TAIL11 "\r\n");
	cr_assert_not(chunked);
	/* A length or a chunked body of the client's is not the fetch's. */
	parse("GET /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
	cr_assert_str_eq(build(&fetch), "GET /p HTTP/1.1\r\nHost: a\r\n" TAIL11 "\r\n");
	cr_assert_not(chunked);
	parse("GET /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
	cr_assert_str_eq(build(&fetch), "GET /p HTTP/1.1\r\nHost: a\r\n" TAIL11 "\r\n");
	cr_assert_not(chunked);
	parse("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi");
	cr_assert_str_eq(build(&fetch), "GET /p HTTP/1.1\r\nHost: a\r\n" TAIL11 "\r\n");
	cr_assert_not(chunked);
}

#define CONDITIONALS                                                                               \
	"If-None-Match: \"client\"\r\n"                                                            \
	"If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n"                                     \
	"if-match: \"m\"\r\n"                                                                      \
	"If-Unmodified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n"                                   \
	"If-Range: \"r\"\r\n"                                                                      \
	"Range: bytes=0-9\r\n"

Test(http_forward_head, conditionals_are_kept_unless_stripped)
{
	parse("GET /p HTTP/1.1\r\nHost: a\r\n" CONDITIONALS "X: y\r\n\r\n");
	cr_assert_str_eq(build(&plain),
			 "GET /p HTTP/1.1\r\nHost: a\r\n" CONDITIONALS "X: y\r\n" TAIL11 "\r\n");
	struct forward_head_opts strip = {.peer_ip = "10.0.0.9", .strip_conditionals = true};
	cr_assert_str_eq(build(&strip), "GET /p HTTP/1.1\r\nHost: a\r\nX: y\r\n" TAIL11 "\r\n");
	/* Names that only start like one stay. */
	parse("GET /p HTTP/1.1\r\nHost: a\r\nIf-Nothing: 1\r\nRanges: 2\r\n\r\n");
	cr_assert_str_eq(build(&strip),
			 "GET /p HTTP/1.1\r\nHost: a\r\nIf-Nothing: 1\r\nRanges: 2\r\n" TAIL11
			 "\r\n");
}

Test(http_forward_head, the_caches_validators_are_added)
{
	static const char etag[] = "\"v1\", W/\"v0\"";
	static const char date[] = "Sun, 06 Nov 1994 08:49:37 GMT";
	struct forward_head_opts reval = {
	    .peer_ip = "10.0.0.9",
	    .method = "GET",
	    .strip_conditionals = true,
	    .if_none_match = etag,
	    .inm_len = strlen(etag),
	    .if_modified_since = date,
	    .ims_len = strlen(date),
	};
	parse("GET /p HTTP/1.1\r\nHost: a\r\n" CONDITIONALS "\r\n");
	cr_assert_str_eq(build(&reval),
			 "GET /p HTTP/1.1\r\nHost: a\r\n"
			 "If-None-Match: \"v1\", W/\"v0\"\r\n"
			 "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n" TAIL11 "\r\n");
	/* One validator alone. */
	reval.if_modified_since = NULL;
	cr_assert_str_eq(build(&reval), "GET /p HTTP/1.1\r\nHost: a\r\n"
					"If-None-Match: \"v1\", W/\"v0\"\r\n" TAIL11 "\r\n");
	reval.if_none_match = NULL;
	reval.if_modified_since = date;
	cr_assert_str_eq(build(&reval),
			 "GET /p HTTP/1.1\r\nHost: a\r\n"
			 "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n" TAIL11 "\r\n");
}

/* "Connection: n0, n1, ..." naming N fields, each also present. */
static void parse_named(unsigned n, const char *extra_token)
{
	char req[4096];
	int l = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: a\r\nConnection: %s",
			 extra_token ? extra_token : "");
	for (unsigned i = 0; i < n; i++)
		l += snprintf(req + l, sizeof(req) - (size_t)l, "%sx-n%u",
			      i || extra_token ? ", " : "", i);
	l += snprintf(req + l, sizeof(req) - (size_t)l, "\r\n");
	for (unsigned i = 0; i < n; i++)
		l += snprintf(req + l, sizeof(req) - (size_t)l, "X-N%u: v\r\n", i);
	snprintf(req + l, sizeof(req) - (size_t)l, "X-Kept: 1\r\n\r\n");
	parse(req);
}

Test(http_forward_head, connection_naming_too_many_fields_is_400)
{
	parse_named(HOP_MAX_TOKENS, NULL);
	cr_assert_str_eq(build(&plain), "GET / HTTP/1.1\r\nHost: a\r\nX-Kept: 1\r\n" TAIL11 "\r\n");
	/* close and keep-alive are not names. */
	parse_named(HOP_MAX_TOKENS, "close, keep-alive");
	cr_assert_str_eq(build(&plain), "GET / HTTP/1.1\r\nHost: a\r\nX-Kept: 1\r\n" TAIL11 "\r\n");
	parse_named(HOP_MAX_TOKENS + 1, NULL);
	cr_assert_eq(build_cap(&plain, sizeof(out) - 1), 400);
	parse_named(HOP_MAX_TOKENS + 10, "close");
	cr_assert_eq(build_cap(&plain, sizeof(out) - 1), 400);
	/* Spread over several Connection fields, they count together. */
	char req[2048];
	int l = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: a\r\n");
	for (unsigned i = 0; i <= HOP_MAX_TOKENS; i++)
		l += snprintf(req + l, sizeof(req) - (size_t)l, "Connection: x-%u\r\n", i);
	snprintf(req + l, sizeof(req) - (size_t)l, "\r\n");
	parse(req);
	cr_assert_eq(build_cap(&plain, sizeof(out) - 1), 400);
}

Test(http_forward_head, a_head_that_does_not_fit_is_431_at_every_size)
{
	static const char etag[] = "\"abc\"";
	static const char date[] = "Sun, 06 Nov 1994 08:49:37 GMT";
	struct forward_head_opts all = {
	    .peer_ip = "10.0.0.9",
	    .if_none_match = etag,
	    .inm_len = strlen(etag),
	    .if_modified_since = date,
	    .ims_len = strlen(date),
	};
	static const char *const reqs[] = {
	    "GET /p HTTP/1.1\r\nHost: a\r\nVia: 1.0 x\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n",
	    "POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 12345\r\nX: y\r\n\r\n",
	    "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
	};
	for (size_t r = 0; r < sizeof(reqs) / sizeof(reqs[0]); r++) {
		parse(reqs[r]);
		char want[1024];
		snprintf(want, sizeof(want), "%s", build(&all));
		size_t full = strlen(want);
		for (size_t cap = 0; cap < full; cap++) {
			memset(out, 'Z', sizeof(out));
			cr_assert_eq(build_cap(&all, cap), 431, "request %zu, %zu of %zu bytes", r,
				     cap, full);
			/* Nothing past the room given. */
			for (size_t i = cap; i < full + 8; i++)
				cr_assert_eq(out[i], 'Z', "request %zu cap %zu: byte %zu written",
					     r, cap, i);
		}
		cr_assert_eq(build_cap(&all, full), 0, "request %zu, exactly %zu bytes", r, full);
		cr_assert_eq(memcmp(out, want, full), 0);
	}
}
