/*
 * Range requests answered from a stored object (RFC 9110 14): one range
 * in each form, several as multipart/byteranges, overlapping ones
 * coalesced, too many or too small ones answered with the whole object,
 * 416, If-Range with an ETag and with a date, HEAD.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(cache_range, .fini = harness_fini, .timeout = 30);

#define LM	"1700000000" /* Tue, 14 Nov 2023 22:13:20 GMT */
#define LM_DATE "Tue, 14 Nov 2023 22:13:20 GMT"
#define PATH	"/rg?cc=max-age%3D60&size=1000&etag=v1&lm=" LM "&hdr=Content-Type:text/plain"

static const char *hdr(const struct response *r, const char *name)
{
	const char *v = resp_header(r, name);
	return v ? v : "(none)";
}

/* GET PATH with EXTRA on C. */
static void get(struct conn *c, const char *extra, struct response *r)
{
	http_req(c, "GET", PATH, extra, r);
	cr_assert(r->complete, "%s: %s", extra ? extra : "", r->error);
}

static void expect_whole(const struct response *r, const char *what)
{
	cr_assert_eq(r->status, 200, "%s: %s", what, r->raw_head);
	cr_assert_null(resp_header(r, "Content-Range"), "%s: %s", what, r->raw_head);
	cr_assert_eq(r->body_len, 1000, "%s: %zu bytes", what, r->body_len);
	cr_assert_eq(pattern_mismatch(r->body, r->body_len, 0), -1, "%s", what);
}

static void expect_single(const struct response *r, const char *cr, unsigned long long off,
			  size_t len)
{
	cr_assert_eq(r->status, 206, "%s", r->raw_head);
	cr_assert_str_eq(hdr(r, "Content-Range"), cr, "%s", r->raw_head);
	cr_assert_str_eq(hdr(r, "Content-Type"), "text/plain", "%s", r->raw_head);
	cr_assert_eq(r->content_length, (long long)len, "%s", r->raw_head);
	cr_assert_eq(r->body_len, len);
	cr_assert_eq(pattern_mismatch(r->body, r->body_len, off), -1, "body %s",
		     excerpt(r->body, r->body_len));
}

struct part {
	unsigned long long first, last;
};

/* Check a multipart/byteranges body (RFC 9110 14.6) against WANT: each
 * part's Content-Type and Content-Range, its bytes, the close delimiter,
 * and nothing after it. */
static void expect_multipart(const struct response *r, const struct part *want, size_t n)
{
	cr_assert_eq(r->status, 206, "%s", r->raw_head);
	cr_assert_null(resp_header(r, "Content-Range"), "%s", r->raw_head);
	const char *ct = hdr(r, "Content-Type");
	const char *pfx = "multipart/byteranges; boundary=";
	cr_assert(strncmp(ct, pfx, strlen(pfx)) == 0, "Content-Type: %s", ct);
	const char *boundary = ct + strlen(pfx);
	cr_assert(strlen(boundary) >= 16, "a short boundary: %s", boundary);
	cr_assert_eq(r->content_length, (long long)r->body_len);
	const char *p = r->body, *end = r->body + r->body_len;
	char want_head[256];
	for (size_t i = 0; i < n; i++) {
		int hl = snprintf(want_head, sizeof(want_head),
				  "%s--%s\r\nContent-Type: text/plain\r\n"
				  "Content-Range: bytes %llu-%llu/1000\r\n\r\n",
				  i ? "\r\n" : "", boundary, want[i].first, want[i].last);
		cr_assert((size_t)(end - p) >= (size_t)hl && memcmp(p, want_head, (size_t)hl) == 0,
			  "part %zu: want %s, got %s", i, excerpt(want_head, (size_t)hl),
			  excerpt(p, (size_t)(end - p) > 200 ? 200 : (size_t)(end - p)));
		p += hl;
		size_t len = (size_t)(want[i].last - want[i].first + 1);
		cr_assert((size_t)(end - p) >= len, "part %zu cut short", i);
		cr_assert_eq(pattern_mismatch(p, len, want[i].first), -1, "part %zu: %s", i,
			     excerpt(p, len));
		p += len;
	}
	int el = snprintf(want_head, sizeof(want_head), "\r\n--%s--\r\n", boundary);
	cr_assert((size_t)(end - p) == (size_t)el && memcmp(p, want_head, (size_t)el) == 0,
		  "the end: %s", excerpt(p, (size_t)(end - p)));
}

/* A client and a stored PATH (one origin request). */
static void setup(struct proc *o, struct proc *d, struct conn *c)
{
	struct response r;
	start_pair(o, d);
	conn_open(c, d->port);
	get(c, NULL, &r);
	expect_whole(&r, "first GET");
	response_free(&r);
}

static void teardown(struct proc *o, struct conn *c)
{
	struct response r;
	/* The connection survived every answer, and all came from the store. */
	get(c, NULL, &r);
	expect_whole(&r, "last GET");
	cr_assert(strstr(hdr(&r, "Cache-Status"), "hit"), "%s", r.raw_head);
	response_free(&r);
	cr_assert_eq(origin_requests(o->port, PATH), 1, "a range request reached the origin");
	conn_close(c);
	harness_end();
}

Test(cache_range, single_suffix_open)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	setup(&o, &d, &c);
	get(&c, "Range: bytes=100-199\r\n", &r);
	expect_single(&r, "bytes 100-199/1000", 100, 100);
	response_free(&r);
	get(&c, "Range: bytes=-37\r\n", &r);
	expect_single(&r, "bytes 963-999/1000", 963, 37);
	response_free(&r);
	get(&c, "Range: bytes=990-\r\n", &r);
	expect_single(&r, "bytes 990-999/1000", 990, 10);
	response_free(&r);
	/* Adjacent and overlapping ranges come back as one. */
	get(&c, "Range: bytes=10-19, 20-29,15-25\r\n", &r);
	expect_single(&r, "bytes 10-29/1000", 10, 20);
	response_free(&r);
	teardown(&o, &c);
}

Test(cache_range, multiple_and_overlapping)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	setup(&o, &d, &c);
	get(&c, "Range: bytes=0-9,500-549, -5\r\n", &r);
	static const struct part three[] = {{0, 9}, {500, 549}, {995, 999}};
	expect_multipart(&r, three, 3);
	char b1[64];
	snprintf(b1, sizeof(b1), "%s", hdr(&r, "Content-Type"));
	response_free(&r);
	/* Out of order and overlapping: sorted and coalesced. */
	get(&c, "Range: bytes=600-699,0-9,5-19,650-\r\n", &r);
	static const struct part two[] = {{0, 19}, {600, 999}};
	expect_multipart(&r, two, 2);
	/* A boundary of its own for each response. */
	cr_assert_str_neq(hdr(&r, "Content-Type"), b1);
	response_free(&r);
	teardown(&o, &c);
}

Test(cache_range, too_many_ranges_get_the_whole_object)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	char extra[1024];
	setup(&o, &d, &c);
	/* 16 ranges (the limit) are served, 17 are not. */
	size_t l = (size_t)snprintf(extra, sizeof(extra), "Range: bytes=");
	for (int i = 0; i < 16; i++)
		l += (size_t)snprintf(extra + l, sizeof(extra) - l, "%s%d-%d", i ? "," : "", i * 60,
				      i * 60 + 29);
	snprintf(extra + l, sizeof(extra) - l, "\r\n");
	get(&c, extra, &r);
	cr_assert_eq(r.status, 206, "%s", r.raw_head);
	cr_assert(r.body_len < 2 * 1000 + 1024, "%zu bytes", r.body_len);
	response_free(&r);
	snprintf(extra + l, sizeof(extra) - l, ",990-999\r\n");
	get(&c, extra, &r);
	expect_whole(&r, "17 ranges");
	response_free(&r);
	/* Hundreds of one-byte ranges, backwards: coalesced to one range. */
	l = (size_t)snprintf(extra, sizeof(extra), "Range: bytes=");
	for (int i = 63; i >= 0; i--)
		l += (size_t)snprintf(extra + l, sizeof(extra) - l, "%d-%d,", i, i);
	snprintf(extra + l, sizeof(extra) - l, "\r\n");
	get(&c, extra, &r);
	expect_single(&r, "bytes 0-63/1000", 0, 64);
	response_free(&r);
	/* More specs than the parser reads at all: the whole object. */
	l = (size_t)snprintf(extra, sizeof(extra), "Range: bytes=");
	for (int i = 0; i < 100; i++)
		l += (size_t)snprintf(extra + l, sizeof(extra) - l, "%d-%d,", i, i);
	snprintf(extra + l, sizeof(extra) - l, "\r\n");
	get(&c, extra, &r);
	expect_whole(&r, "100 ranges");
	response_free(&r);
	teardown(&o, &c);
}

Test(cache_range, tiny_parts_of_a_small_object_get_the_whole)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	const char *path = "/small?cc=max-age%3D60&size=100";
	start_pair(&o, &d);
	conn_open(&c, d.port);
	http_req(&c, "GET", path, NULL, &r);
	response_free(&r);
	/* 16 one-byte parts would be more than twice the object plus 1 KiB
	 * of part heads. */
	http_req(&c, "GET", path,
		 "Range: bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,16-16,18-18,20-20,22-22,"
		 "24-24,26-26,28-28,30-30\r\n",
		 &r);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	cr_assert_eq(r.body_len, 100);
	response_free(&r);
	/* Two of them are fine. */
	http_req(&c, "GET", path, "Range: bytes=0-0,50-50\r\n", &r);
	cr_assert_eq(r.status, 206, "%s", r.raw_head);
	cr_assert(r.complete);
	response_free(&r);
	conn_close(&c);
	harness_end();
}

Test(cache_range, unsatisfiable_and_invalid)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	setup(&o, &d, &c);
	get(&c, "Range: bytes=1000-\r\n", &r);
	cr_assert_eq(r.status, 416, "%s", r.raw_head);
	cr_assert_str_eq(hdr(&r, "Content-Range"), "bytes */1000", "%s", r.raw_head);
	cr_assert_eq(r.body_len, 0);
	response_free(&r);
	get(&c, "Range: bytes=2000-3000, -0\r\n", &r);
	cr_assert_eq(r.status, 416, "%s", r.raw_head);
	response_free(&r);
	/* Invalid fields and other units are ignored. */
	static const char *const ignored[] = {
	    "Range: bytes=9-1\r\n",
	    "Range: bytes=x\r\n",
	    "Range: items=0-1\r\n",
	    "Range: bytes=0-1\r\nRange: bytes=2-3\r\n",
	};
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
		get(&c, ignored[i], &r);
		expect_whole(&r, ignored[i]);
		response_free(&r);
	}
	teardown(&o, &c);
}

Test(cache_range, if_range_and_head)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	setup(&o, &d, &c);
	get(&c, "Range: bytes=0-9\r\nIf-Range: \"v1\"\r\n", &r);
	expect_single(&r, "bytes 0-9/1000", 0, 10);
	response_free(&r);
	get(&c, "Range: bytes=0-9\r\nIf-Range: " LM_DATE "\r\n", &r);
	expect_single(&r, "bytes 0-9/1000", 0, 10);
	response_free(&r);
	static const char *const mismatch[] = {
	    "Range: bytes=0-9\r\nIf-Range: \"v2\"\r\n",
	    "Range: bytes=0-9\r\nIf-Range: W/\"v1\"\r\n", /* weak: never a strong match */
	    "Range: bytes=0-9\r\nIf-Range: Tue, 14 Nov 2023 22:13:21 GMT\r\n",
	    "Range: bytes=0-9,20-29\r\nIf-Range: \"v0\"\r\n",
	};
	for (size_t i = 0; i < sizeof(mismatch) / sizeof(mismatch[0]); i++) {
		get(&c, mismatch[i], &r);
		expect_whole(&r, mismatch[i]);
		response_free(&r);
	}
	/* RFC 9110 14.2: GET is the only method with ranges; HEAD ignores it. */
	http_req(&c, "HEAD", PATH, "Range: bytes=0-9,20-29\r\n", &r);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	cr_assert_str_eq(hdr(&r, "Content-Length"), "1000", "%s", r.raw_head);
	response_free(&r);
	teardown(&o, &c);
}

Test(cache_range, ranges_on_a_miss_come_from_the_object_as_it_fills)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	/* Several ranges are not passed on: the whole is fetched and stored,
	 * and the answer is cut from it while it arrives (dripped). */
	const char *path =
	    "/fill?cc=max-age%3D60&size=1000&drip=50&chunk=300&hdr=Content-Type:text/plain";
	start_pair(&o, &d);
	conn_open(&c, d.port);
	http_req(&c, "GET", path, "Range: bytes=0-9,900-909\r\n", &r);
	cr_assert(r.complete, "%s", r.error);
	static const struct part two[] = {{0, 9}, {900, 909}};
	expect_multipart(&r, two, 2);
	cr_assert(strstr(hdr(&r, "Cache-Status"), "stored"), "%s", r.raw_head);
	response_free(&r);
	http_req(&c, "GET", path, NULL, &r);
	expect_whole(&r, "after");
	cr_assert(strstr(hdr(&r, "Cache-Status"), "hit"), "%s", r.raw_head);
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, path), 1);
	conn_close(&c);
	harness_end();
}
