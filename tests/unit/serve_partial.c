/* Unit tests of src/serve/partial.c: the Range a fetch sends for a request
 * and the stored parts, which 206s are one storable part, the strong
 * validator rule of RFC 9111 3.4, and parts shaped into objects. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/partial.h"

struct msg {
	char buf[2048];
	struct hfield f[32];
	struct hmsg m;
};

static void parse(struct msg *h, enum hmsg_kind kind, const char *text)
{
	snprintf(h->buf, sizeof(h->buf), "%s", text);
	hmsg_init(&h->m, kind, h->f, 32, sizeof(h->buf));
	hmsg_next(&h->m, h->buf, 0);
	h->m.skip_body = true;
	long r = hmsg_feed(&h->m, 0, (uint32_t)strlen(h->buf));
	cr_assert(r > 0 && h->m.headers_done, "parse failed (%s): %s", h->m.error ? h->m.error : "",
		  h->buf);
}

/* A GET (or METHOD) of /x with the header LINES. */
static void request(struct msg *h, const char *method, const char *lines)
{
	char t[1024];
	snprintf(t, sizeof(t), "%s /x HTTP/1.1\r\nHost: h\r\n%s\r\n", method, lines);
	parse(h, HMSG_REQUEST, t);
}

static struct store *st;

static void setup(void)
{
	st = store_create(1 << 20);
}

static void teardown(void)
{
	store_free(&st);
}

TestSuite(serve_partial, .init = setup, .fini = teardown);

/* Parts [FIRST, LAST] of LEN bytes with the header lines HDRS; the body
 * complete unless FILLING. */
static struct cobj *parts(uint64_t first, uint64_t last, uint64_t len, const char *hdrs,
			  bool filling)
{
	struct cobj *o = cobj_new(st);
	cr_assert_not_null(o);
	o->status = 206;
	o->reason = strdup("Partial Content");
	o->hdrs = strdup(hdrs);
	o->hdrs_len = (uint32_t)strlen(hdrs);
	o->partial = true;
	o->part_first = first;
	o->part_last = last;
	o->part_len = len;
	char body[256] = {0};
	cr_assert_eq(cbody_append(o->body, body, (size_t)(last - first + 1), 0), 0);
	if (!filling)
		cbody_finish(o->body, true);
	return o;
}

static void expect_plan(const struct partial_plan *p, enum partial_mode mode, const char *range,
			const char *if_range)
{
	cr_assert_eq(p->mode, mode, "mode %d, want %d", p->mode, mode);
	if (!range) {
		cr_assert_null(p->range);
		return;
	}
	cr_assert_eq(p->range_len, strlen(range), "range %.*s, want %s", (int)p->range_len,
		     p->range, range);
	cr_assert(memcmp(p->range, range, p->range_len) == 0, "range %.*s, want %s",
		  (int)p->range_len, p->range, range);
	if (!if_range) {
		cr_assert_null(p->if_range);
		return;
	}
	cr_assert_not_null(p->if_range, "no If-Range, want %s", if_range);
	cr_assert(p->if_range_len == strlen(if_range) &&
		      memcmp(p->if_range, if_range, p->if_range_len) == 0,
		  "If-Range %.*s, want %s", (int)p->if_range_len, p->if_range, if_range);
}

Test(serve_partial, no_parts)
{
	struct msg q;
	struct partial_plan p;
	request(&q, "GET", "Range: bytes=0-9\r\n");
	partial_plan(&q.m, NULL, &p);
	expect_plan(&p, PARTIAL_CLIENT, "bytes=0-9", NULL);
	request(&q, "GET", "Range: bytes=-5\r\n");
	partial_plan(&q.m, NULL, &p);
	expect_plan(&p, PARTIAL_CLIENT, "bytes=-5", NULL);
	/* Not passed on: several ranges, invalid ones, If-Range, HEAD, two
	 * Range lines, none. */
	static const char *const none[] = {
	    "Range: bytes=0-1,5-6\r\n",
	    "Range: bytes=5-1\r\n",
	    "Range: items=0-1\r\n",
	    "Range: bytes=0-9\r\nIf-Range: \"e\"\r\n",
	    "Range: bytes=0-1\r\nRange: bytes=2-3\r\n",
	    "",
	};
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		request(&q, "GET", none[i]);
		partial_plan(&q.m, NULL, &p);
		cr_expect_eq(p.mode, PARTIAL_NONE, "%s", none[i]);
	}
	request(&q, "HEAD", "Range: bytes=0-9\r\n");
	partial_plan(&q.m, NULL, &p);
	cr_assert_eq(p.mode, PARTIAL_NONE);
}

Test(serve_partial, the_gap_after_the_parts)
{
	struct msg q;
	struct partial_plan p;
	struct cobj *o = parts(0, 9, 100, "ETag: \"e1\"\r\n", false);
	request(&q, "GET", "");
	partial_plan(&q.m, o, &p);
	expect_plan(&p, PARTIAL_JOIN, "bytes=10-", "\"e1\"");
	cr_assert_eq(p.gap.first, 10);
	cr_assert_eq(p.gap.last, 99);
	/* A range starting inside the parts or just after them. */
	request(&q, "GET", "Range: bytes=5-19\r\n");
	partial_plan(&q.m, o, &p);
	expect_plan(&p, PARTIAL_JOIN, "bytes=10-19", "\"e1\"");
	request(&q, "GET", "Range: bytes=10-\r\n");
	partial_plan(&q.m, o, &p);
	expect_plan(&p, PARTIAL_JOIN, "bytes=10-", "\"e1\"");
	request(&q, "GET", "Range: bytes=-95\r\n"); /* 5-99 */
	partial_plan(&q.m, o, &p);
	expect_plan(&p, PARTIAL_JOIN, "bytes=10-", "\"e1\"");
	/* Apart from them, or inside them (stale parts): the client's range. */
	request(&q, "GET", "Range: bytes=11-19\r\n");
	partial_plan(&q.m, o, &p);
	expect_plan(&p, PARTIAL_CLIENT, "bytes=11-19", NULL);
	request(&q, "GET", "Range: bytes=2-5\r\n");
	partial_plan(&q.m, o, &p);
	expect_plan(&p, PARTIAL_CLIENT, "bytes=2-5", NULL);
	request(&q, "GET", "Range: bytes=200-\r\n");
	partial_plan(&q.m, o, &p);
	expect_plan(&p, PARTIAL_CLIENT, "bytes=200-", NULL);
	/* Several ranges: fetched whole. */
	request(&q, "GET", "Range: bytes=0-1,50-60\r\n");
	partial_plan(&q.m, o, &p);
	cr_assert_eq(p.mode, PARTIAL_NONE);
	cobj_release(&o);
}

Test(serve_partial, parts_that_cannot_be_continued)
{
	struct msg q;
	struct partial_plan p;
	/* Not from 0: the whole representation is fetched whole. */
	struct cobj *o = parts(50, 99, 100, "ETag: \"e1\"\r\n", false);
	request(&q, "GET", "");
	partial_plan(&q.m, o, &p);
	cr_assert_eq(p.mode, PARTIAL_NONE);
	cobj_release(&o);
	/* A weak ETag is no validator for If-Range (RFC 9110 13.1.5). */
	o = parts(0, 9, 100, "ETag: W/\"e1\"\r\n", false);
	request(&q, "GET", "");
	partial_plan(&q.m, o, &p);
	expect_plan(&p, PARTIAL_JOIN, "bytes=10-", NULL);
	cobj_release(&o);
	/* A body still filling (or broken) is no extent to continue. */
	o = parts(0, 9, 100, "ETag: \"e1\"\r\n", true);
	request(&q, "GET", "");
	partial_plan(&q.m, o, &p);
	cr_assert_eq(p.mode, PARTIAL_NONE);
	request(&q, "GET", "Range: bytes=10-19\r\n");
	partial_plan(&q.m, o, &p);
	expect_plan(&p, PARTIAL_CLIENT, "bytes=10-19", NULL);
	cbody_finish(o->body, true);
	cobj_release(&o);
	/* A complete stale response is revalidated whole. */
	o = parts(0, 9, 10, "ETag: \"e1\"\r\n", false);
	o->partial = false;
	o->status = 200;
	request(&q, "GET", "Range: bytes=0-4\r\n");
	partial_plan(&q.m, o, &p);
	cr_assert_eq(p.mode, PARTIAL_NONE);
	cobj_release(&o);
}

Test(serve_partial, one_storable_part)
{
	struct msg m;
	struct byte_range r;
	uint64_t len;
	parse(&m, HMSG_RESPONSE,
	      "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 10-19/100\r\n"
	      "Content-Length: 10\r\n\r\n");
	cr_assert(partial_response_part(&m.m, &r, &len));
	cr_assert_eq(r.first, 10);
	cr_assert_eq(r.last, 19);
	cr_assert_eq(len, 100);
	static const char *const bad[] = {
	    /* The conformance suite's 206: 6 bytes said, 5 sent. */
	    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 4-9/10\r\n"
	    "Content-Length: 5\r\n\r\n",
	    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/*\r\n"
	    "Content-Length: 10\r\n\r\n",
	    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/100\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n",
	    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/100\r\n"
	    "Content-Range: bytes 0-9/100\r\nContent-Length: 10\r\n\r\n",
	    "HTTP/1.1 206 Partial Content\r\n"
	    "Content-Type: multipart/byteranges; boundary=x\r\nContent-Length: 10\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		parse(&m, HMSG_RESPONSE, bad[i]);
		cr_expect(!partial_response_part(&m.m, &r, &len), "%s", bad[i]);
	}
}

Test(serve_partial, same_strong_validator)
{
	struct msg m;
	struct cobj *o = parts(0, 9, 100, "ETag: \"e1\"\r\n", false);
	parse(&m, HMSG_RESPONSE, "HTTP/1.1 206 Partial Content\r\nETag: \"e1\"\r\n\r\n");
	cr_assert(partial_same_validator(o, &m.m));
	parse(&m, HMSG_RESPONSE, "HTTP/1.1 206 Partial Content\r\nETag: \"e2\"\r\n\r\n");
	cr_assert(!partial_same_validator(o, &m.m));
	parse(&m, HMSG_RESPONSE, "HTTP/1.1 206 Partial Content\r\nETag: W/\"e1\"\r\n\r\n");
	cr_assert(!partial_same_validator(o, &m.m));
	parse(&m, HMSG_RESPONSE, "HTTP/1.1 206 Partial Content\r\n\r\n");
	cr_assert(!partial_same_validator(o, &m.m));
	cobj_release(&o);
	o = parts(0, 9, 100, "ETag: W/\"e1\"\r\n", false);
	parse(&m, HMSG_RESPONSE, "HTTP/1.1 206 Partial Content\r\nETag: W/\"e1\"\r\n\r\n");
	cr_assert(!partial_same_validator(o, &m.m), "weak tags never combine");
	cobj_release(&o);
	o = parts(0, 9, 100, "Last-Modified: Tue, 14 Nov 2023 22:13:20 GMT\r\n", false);
	parse(
	    &m, HMSG_RESPONSE,
	    "HTTP/1.1 206 Partial Content\r\nLast-Modified: Tue, 14 Nov 2023 22:13:20 GMT\r\n\r\n");
	cr_assert(!partial_same_validator(o, &m.m), "a date is not taken as strong");
	cobj_release(&o);
}

Test(serve_partial, shaped_into_parts_or_a_whole)
{
	const char *h =
	    "Content-Type: text/plain\r\nContent-Range: bytes 0-9/100\r\nETag: \"e\"\r\n";
	struct cobj *o = parts(0, 9, 100, h, false);
	cr_assert_eq(partial_shape(o, (struct byte_range){0, 9}, 100), 0);
	cr_assert(o->partial);
	cr_assert_eq(o->status, 206);
	cr_assert_eq(o->part_first, 0);
	cr_assert_eq(o->part_last, 9);
	cr_assert_eq(o->part_len, 100);
	cr_assert_eq(o->clen, 10);
	const char *want = "Content-Type: text/plain\r\nETag: \"e\"\r\n";
	cr_assert(o->hdrs_len == strlen(want) && memcmp(o->hdrs, want, o->hdrs_len) == 0, "%.*s",
		  (int)o->hdrs_len, o->hdrs);
	cobj_release(&o);
	o = parts(0, 99, 100, h, false);
	cr_assert_eq(partial_shape(o, (struct byte_range){0, 99}, 100), 0);
	cr_assert(!o->partial);
	cr_assert_eq(o->status, 200);
	cr_assert_str_eq(o->reason, "OK");
	cr_assert_eq(o->clen, 100);
	cobj_release(&o);
}

Test(serve_partial, extent_copied)
{
	struct cobj *from = parts(0, 9, 100, "", false);
	struct cobj *to = cobj_new(st);
	cr_assert_eq(partial_copy_extent(to, from), 0);
	cr_assert_eq(to->body->len, 10);
	cbody_finish(to->body, true);
	cobj_release(&to);
	cobj_release(&from);
}
