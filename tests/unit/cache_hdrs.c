/* Unit tests of src/cache/hdrs.c: finding fields in stored header blocks,
 * building a block from a response (what a shared cache must not keep),
 * and updating it from a 304 (RFC 9111 3.2). In header text "\n"
 * separates field lines. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cache/cc.h"
#include "cache/hdrs.h"
#include "cache/policy.h"
#include "http/hbuf.h"
#include "http/msg.h"

struct head {
	struct hmsg m;
	struct hfield f[48];
	char buf[4096];
};

static void response(struct head *h, const char *start, const char *lines)
{
	size_t n = (size_t)snprintf(h->buf, sizeof(h->buf), "%s\r\n", start);
	for (const char *p = lines; *p; p++) {
		if (*p == '\n')
			h->buf[n++] = '\r';
		h->buf[n++] = *p;
	}
	n += (size_t)snprintf(h->buf + n, sizeof(h->buf) - n, "%s\r\n", *lines ? "\r\n" : "");
	hmsg_init(&h->m, HMSG_RESPONSE, h->f, 48, sizeof(h->buf));
	hmsg_next(&h->m, h->buf, 0);
	h->m.skip_body = true;
	long r = hmsg_feed(&h->m, 0, (uint32_t)n);
	cr_assert_eq(r, (long)n, "parse failed (%s): %s", h->m.error ? h->m.error : "", h->buf);
	cr_assert(h->m.headers_done);
}

/* The stored block for a 200 with LINES, using its effective directives. */
static const char *stored(const char *lines)
{
	static char out[4096];
	static struct head h;
	response(&h, "HTTP/1.1 200 OK", lines);
	struct resp_meta rm;
	policy_meta_from_response(&h.m, 0, 0, &rm);
	struct hbuf b;
	hbuf_init(&b, out, sizeof(out) - 1);
	hdrs_from_response(&b, &h.m, &rm.cc);
	cr_assert(!b.overflow);
	out[b.len] = '\0';
	return out;
}

/* --- hdrs_find ----------------------------------------------------------- */

struct find_case {
	const char *name;
	unsigned nth;
	const char *want; /* NULL: not found */
};

Test(cache_hdrs, find)
{
	static const char block[] = "Content-Type: text/html\r\n"
				    "X-A:  one \r\n"
				    "x-a:two\r\n"
				    "X-Empty:\r\n"
				    "X-AB: nope\r\n"
				    "Location: http://h/p?a=b:c\r\n"
				    "X-B: content-type: not a name\r\n"
				    "X-Tab:\tt\t\r\n"
				    "Last: end"; /* no final CRLF */
	static const struct find_case t[] = {
	    {"content-type", 0, "text/html"},
	    {"CONTENT-TYPE", 0, "text/html"},
	    {"content-type", 1, NULL},
	    {"X-A", 0, "one"},
	    {"X-A", 1, "two"},
	    {"X-A", 2, NULL},
	    {"x-empty", 0, ""},
	    {"x-ab", 0, "nope"},
	    {"X-ABC", 0, NULL},
	    {"X", 0, NULL},
	    {"location", 0, "http://h/p?a=b:c"},
	    {"x-tab", 0, "t"},
	    {"last", 0, "end"},
	    {"missing", 0, NULL},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t vlen = 12345;
		const char *v = hdrs_find(block, sizeof(block) - 1, t[i].name, t[i].nth, &vlen);
		if (!t[i].want) {
			cr_expect_null(v, "%s #%u found", t[i].name, t[i].nth);
			continue;
		}
		cr_assert_not_null(v, "%s #%u not found", t[i].name, t[i].nth);
		cr_expect(vlen == strlen(t[i].want) && memcmp(v, t[i].want, vlen) == 0,
			  "%s #%u: got \"%.*s\", want \"%s\"", t[i].name, t[i].nth, (int)vlen, v,
			  t[i].want);
	}
	/* Bare LF line ends and a length that cuts the block short. */
	size_t vlen;
	const char *v = hdrs_find("A: 1\nB: 2\n", 10, "b", 0, &vlen);
	cr_assert_not_null(v);
	cr_expect(vlen == 1 && *v == '2');
	cr_expect_null(hdrs_find("A: 1\r\nB: 2\r\n", 6, "b", 0, &vlen));
	cr_expect_null(hdrs_find("", 0, "a", 0, &vlen));
}

/* --- hdrs_from_response -------------------------------------------------- */

Test(cache_hdrs, from_response_drops_hop_by_hop_and_framing)
{
	cr_expect_str_eq(stored("Content-Type: text/plain\n"
				"Connection: keep-alive, X-Hop\n"
				"Keep-Alive: timeout=5\n"
				"X-Hop: 1\n"
				"Content-Length: 5\n"
				"Age: 30\n"
				"Proxy-Authenticate: Basic realm=x\n"
				"Proxy-Authentication-Info: a=b\n"
				"Proxy-Connection: keep-alive\n"
				"Trailer: X-T\n"
				"Upgrade: h2c\n"
				"TE: trailers\n"
				"ETag: \"v1\"\n"
				"Cache-Control: max-age=60\n"
				"X-End: kept"),
			 "Content-Type: text/plain\r\n"
			 "ETag: \"v1\"\r\n"
			 "Cache-Control: max-age=60\r\n"
			 "X-End: kept\r\n");
	cr_expect_str_eq(stored("Transfer-Encoding: chunked\nContent-Encoding: gzip\nVary: "
				"Accept-Encoding"),
			 "Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n");
	/* Connection-named fields in any case, over several Connection lines. */
	cr_expect_str_eq(
	    stored("connection: x-one\nConnection: X-TWO\nX-One: 1\nx-two: 2\nX-Three: "
		   "3"),
	    "X-Three: 3\r\n");
	/* Values are stored exactly as received; repeated fields all kept. */
	cr_expect_str_eq(stored("Set-Cookie: a=1; Path=/\nSet-Cookie: b=2\nX-Sp: a  b"),
			 "Set-Cookie: a=1; Path=/\r\nSet-Cookie: b=2\r\nX-Sp: a  b\r\n");
	cr_expect_str_eq(stored(""), "");
}

Test(cache_hdrs, from_response_drops_fields_named_by_directives)
{
	/* private="..." fields must not be stored by a shared cache, and
	 * no-cache="..." fields must not be reused unvalidated. */
	cr_expect_str_eq(stored("Cache-Control: private=\"X-Secret, x-other\", max-age=60\n"
				"X-Secret: s\n"
				"X-Other: o\n"
				"X-Public: p"),
			 "Cache-Control: private=\"X-Secret, x-other\", max-age=60\r\n"
			 "X-Public: p\r\n");
	cr_expect_str_eq(stored("Set-Cookie: id=1\n"
				"Cache-Control: no-cache=\"Set-Cookie\"\n"
				"Cache-Control: max-age=60\n"
				"X-A: a"),
			 "Cache-Control: no-cache=\"Set-Cookie\"\r\n"
			 "Cache-Control: max-age=60\r\n"
			 "X-A: a\r\n");
	cr_expect_str_eq(stored("Cache-Control: no-cache=X-A, private=X-B, max-age=1\n"
				"X-A: a\n"
				"X-B: b\n"
				"X-C: c"),
			 "Cache-Control: no-cache=X-A, private=X-B, max-age=1\r\n"
			 "X-C: c\r\n");
	/* Unqualified no-cache names no field: everything is kept. */
	cr_expect_str_eq(stored("Cache-Control: no-cache\nSet-Cookie: id=1"),
			 "Cache-Control: no-cache\r\nSet-Cookie: id=1\r\n");
	/* The effective directives: CDN-Cache-Control replaces Cache-Control. */
	cr_expect_str_eq(stored("CDN-Cache-Control: private=\"X-A\", max-age=5\n"
				"Cache-Control: private=\"X-B\"\n"
				"X-A: a\n"
				"X-B: b"),
			 "CDN-Cache-Control: private=\"X-A\", max-age=5\r\n"
			 "Cache-Control: private=\"X-B\"\r\n"
			 "X-B: b\r\n");
}

Test(cache_hdrs, from_response_overflow_is_sticky)
{
	struct head h;
	response(&h, "HTTP/1.1 200 OK", "X-A: 0123456789\nX-B: 1");
	struct cache_control cc;
	cc_init(&cc);
	char out[16];
	struct hbuf b;
	hbuf_init(&b, out, sizeof(out));
	hdrs_from_response(&b, &h.m, &cc);
	cr_expect(b.overflow);
	cr_expect_leq(b.len, sizeof(out));
}

/* --- hdrs_merge_304 ------------------------------------------------------ */

static const char *merge(const char *block, const char *lines304)
{
	static char out[4096];
	struct head h;
	response(&h, "HTTP/1.1 304 Not Modified", lines304);
	struct hbuf b;
	hbuf_init(&b, out, sizeof(out) - 1);
	hdrs_merge_304(&b, block, strlen(block), &h.m);
	cr_assert(!b.overflow);
	out[b.len] = '\0';
	return out;
}

Test(cache_hdrs, merge_304_replaces_updatable_keeps_body_fields)
{
	static const char block[] = "Content-Type: text/plain\r\n"
				    "Cache-Control: max-age=10\r\n"
				    "Expires: Thu, 01 Jan 2026 00:00:00 GMT\r\n"
				    "ETag: \"a\"\r\n"
				    "Content-Length: 5\r\n"
				    "Content-Encoding: gzip\r\n"
				    "Content-MD5: old==\r\n"
				    "X-Custom: old\r\n"
				    "X-Keep: yes\r\n"
				    "X-Multi: 1\r\n"
				    "X-Multi: 2\r\n";
	const char *got = merge(block, "Cache-Control: max-age=60\n"
				       "Expires: Fri, 02 Jan 2026 00:00:00 GMT\n"
				       "Content-Type: text/html\n"
				       "x-custom: new\n"
				       "ETag: \"b\"\n"
				       "Content-Length: 99\n"
				       "Content-Encoding: br\n"
				       "Content-MD5: new==\n"
				       "Connection: X-Hop\n"
				       "X-Hop: 1\n"
				       "Age: 5\n"
				       "X-Multi: 3\n"
				       "X-New: n");
	/* Kept lines stay in order; the 304's updatable fields follow in its
	 * order; a field present several times is replaced as a whole. */
	cr_expect_str_eq(got, "ETag: \"a\"\r\n"
			      "Content-Length: 5\r\n"
			      "Content-Encoding: gzip\r\n"
			      "Content-MD5: old==\r\n"
			      "X-Keep: yes\r\n"
			      "Cache-Control: max-age=60\r\n"
			      "Expires: Fri, 02 Jan 2026 00:00:00 GMT\r\n"
			      "Content-Type: text/html\r\n"
			      "x-custom: new\r\n"
			      "X-Multi: 3\r\n"
			      "X-New: n\r\n");
	/* hdrs_find sees the updated values. */
	size_t vlen;
	const char *v = hdrs_find(got, strlen(got), "cache-control", 0, &vlen);
	cr_assert_not_null(v);
	cr_expect(vlen == 10 && memcmp(v, "max-age=60", 10) == 0);
	cr_expect_null(hdrs_find(got, strlen(got), "x-multi", 1, &vlen));
}

Test(cache_hdrs, merge_304_empty_and_identity)
{
	static const char block[] = "Content-Type: text/plain\r\nETag: \"a\"\r\n";
	/* A bare 304 changes nothing. */
	cr_expect_str_eq(merge(block, ""), block);
	/* Hop-by-hop and framing fields of the 304 are never merged in. */
	cr_expect_str_eq(merge(block, "Connection: close\nTransfer-Encoding: chunked\nKeep-Alive: "
				      "timeout=1"),
			 block);
	/* Nothing stored yet: the updatable fields of the 304. */
	cr_expect_str_eq(merge("", "Date: Thu, 01 Jan 2026 00:00:00 GMT\nETag: \"x\""),
			 "Date: Thu, 01 Jan 2026 00:00:00 GMT\r\n");
}
