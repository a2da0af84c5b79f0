/*
 * Partial content (RFC 9111 3.3-3.4): 206 responses stored as parts,
 * later ranges answered from them, the gap fetched with If-Range and
 * joined, parts completed into a 200, and parts given up when the
 * origin's validator changes or there is none. The origin (ranges=1)
 * echoes the Range and If-Range it received as X-Origin-Range and
 * X-Origin-If-Range, and counts its requests per target.
 */
#include "canned.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

TestSuite(cache_partial, .fini = harness_fini, .timeout = 30);

static const char *hdr(const struct response *r, const char *name)
{
	const char *v = resp_header(r, name);
	return v ? v : "(none)";
}

/* GET PATH with EXTRA on C, a complete response. */
static void get(struct conn *c, const char *path, const char *extra, struct response *r)
{
	http_req(c, "GET", path, extra, r);
	cr_assert(r->complete, "%s %s: %s", path, extra ? extra : "", r->error);
}

/* A 206 with Content-Range CR and bytes [OFF, OFF+LEN) of the pattern. */
static void expect_part(const struct response *r, const char *cr, unsigned long long off,
			size_t len)
{
	cr_assert_eq(r->status, 206, "%s", r->raw_head);
	cr_assert_str_eq(hdr(r, "Content-Range"), cr, "%s", r->raw_head);
	cr_assert_eq(r->body_len, len, "%s", r->raw_head);
	cr_assert_eq(pattern_mismatch(r->body, r->body_len, off), -1, "body %s",
		     excerpt(r->body, r->body_len));
}

/* A 200 with all SIZE bytes of the pattern and no Content-Range. */
static void expect_whole(const struct response *r, size_t size)
{
	cr_assert_eq(r->status, 200, "%s", r->raw_head);
	cr_assert_null(resp_header(r, "Content-Range"), "%s", r->raw_head);
	cr_assert_eq(r->content_length, (long long)size, "%s", r->raw_head);
	cr_assert_eq(r->body_len, size);
	cr_assert_eq(pattern_mismatch(r->body, r->body_len, 0), -1, "body %s",
		     excerpt(r->body, r->body_len));
}

/* What the origin received for the response R carries (from the store,
 * the head of the last response joined into it). */
static void expect_asked(const struct response *r, const char *range, const char *if_range)
{
	cr_assert_str_eq(hdr(r, "X-Origin-Range"), range, "%s", r->raw_head);
	cr_assert_str_eq(hdr(r, "X-Origin-If-Range"), if_range, "%s", r->raw_head);
}

static void expect_hit(const struct response *r)
{
	cr_assert(strstr(hdr(r, "Cache-Status"), "hit"), "not a hit: %s", r->raw_head);
}

Test(cache_partial, parts_are_stored_reused_joined_and_completed)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	const char *path = "/p1?size=100&ranges=1&etag=e1&cc=max-age%3D60";
	start_pair(&o, &d);
	conn_open(&c, d.port);

	/* A miss asks the origin for the client's range and stores the 206. */
	get(&c, path, "Range: bytes=0-9\r\n", &r);
	expect_part(&r, "bytes 0-9/100", 0, 10);
	expect_asked(&r, "bytes=0-9", "none");
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, path), 1);

	/* Ranges inside the part, in each form, come from the store. */
	get(&c, path, "Range: bytes=2-5\r\n", &r);
	expect_part(&r, "bytes 2-5/100", 2, 4);
	expect_hit(&r);
	response_free(&r);
	get(&c, path, "Range: bytes=0-1,8-9\r\n", &r);
	cr_assert_eq(r.status, 206, "%s", r.raw_head);
	cr_assert(strstr(hdr(&r, "Content-Type"), "multipart/byteranges"), "%s", r.raw_head);
	/* Each part's bytes, read from the stored extent at its offset. */
	cr_assert(strstr(r.body, "Content-Range: bytes 0-1/100\r\n\r\n01\r\n--"), "%s", r.body);
	cr_assert(strstr(r.body, "Content-Range: bytes 8-9/100\r\n\r\n89\r\n--"), "%s", r.body);
	response_free(&r);
	/* A range past the end is answered from the part's length: 416. */
	get(&c, path, "Range: bytes=100-\r\n", &r);
	cr_assert_eq(r.status, 416, "%s", r.raw_head);
	cr_assert_str_eq(hdr(&r, "Content-Range"), "bytes */100");
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, path), 1, "ranges inside the part reached the origin");

	/* A range that continues the part: only the gap is asked for, with
	 * the part's ETag, and the two are joined. */
	get(&c, path, "Range: bytes=5-19\r\n", &r);
	expect_part(&r, "bytes 5-19/100", 5, 15);
	expect_asked(&r, "bytes=10-19", "\"e1\"");
	cr_assert(strstr(hdr(&r, "Cache-Status"), "fwd=partial; fwd-status=206; stored"), "%s",
		  r.raw_head);
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, path), 2);
	get(&c, path, "Range: bytes=0-19\r\n", &r);
	expect_part(&r, "bytes 0-19/100", 0, 20);
	expect_hit(&r);
	response_free(&r);
	get(&c, path, "Range: bytes=12-13,17-18\r\n", &r);
	cr_assert(strstr(r.body, "Content-Range: bytes 12-13/100\r\n\r\ncd\r\n--"), "%s", r.body);
	cr_assert(strstr(r.body, "Content-Range: bytes 17-18/100\r\n\r\nhi\r\n--"), "%s", r.body);
	response_free(&r);

	/* The whole representation: the rest is asked for and the parts
	 * become a complete 200. */
	get(&c, path, NULL, &r);
	expect_whole(&r, 100);
	expect_asked(&r, "bytes=20-", "\"e1\"");
	cr_assert_str_eq(hdr(&r, "ETag"), "\"e1\"");
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, path), 3);

	/* From now on everything is a hit on the complete object. */
	get(&c, path, NULL, &r);
	expect_whole(&r, 100);
	expect_hit(&r);
	response_free(&r);
	get(&c, path, "Range: bytes=-10\r\n", &r);
	expect_part(&r, "bytes 90-99/100", 90, 10);
	expect_hit(&r);
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, path), 3);
	conn_close(&c);
	harness_end();
}

Test(cache_partial, suffix_and_open_ranges_of_a_stored_tail)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	const char *path = "/p2?size=100&ranges=1&etag=e2&cc=max-age%3D60";
	start_pair(&o, &d);
	conn_open(&c, d.port);
	get(&c, path, "Range: bytes=50-\r\n", &r);
	expect_part(&r, "bytes 50-99/100", 50, 50);
	response_free(&r);
	get(&c, path, "Range: bytes=-10\r\n", &r);
	expect_part(&r, "bytes 90-99/100", 90, 10);
	expect_hit(&r);
	response_free(&r);
	get(&c, path, "Range: bytes=60-\r\n", &r);
	expect_part(&r, "bytes 60-99/100", 60, 40);
	expect_hit(&r);
	response_free(&r);
	/* Several, from an extent that starts at 50 (the pattern repeats
	 * every 37 bytes: 55 is 'i', 60 is 'n'). */
	get(&c, path, "Range: bytes=55-56,60-61\r\n", &r);
	expect_hit(&r);
	cr_assert(strstr(r.body, "Content-Range: bytes 55-56/100\r\n\r\nij\r\n--"), "%s", r.body);
	cr_assert(strstr(r.body, "Content-Range: bytes 60-61/100\r\n\r\nno\r\n--"), "%s", r.body);
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, path), 1);

	/* The whole representation, the part not starting at 0: fetched
	 * whole (one extent per object), and the 200 replaces the part. */
	get(&c, path, NULL, &r);
	expect_whole(&r, 100);
	expect_asked(&r, "none", "none");
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, path), 2);
	get(&c, path, "Range: bytes=10-19\r\n", &r);
	expect_part(&r, "bytes 10-19/100", 10, 10);
	expect_hit(&r);
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, path), 2);
	conn_close(&c);
	harness_end();
}

Test(cache_partial, a_range_apart_from_the_part_replaces_it)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	const char *path = "/p3?size=1000&ranges=1&etag=e3&cc=max-age%3D60";
	start_pair(&o, &d);
	conn_open(&c, d.port);
	get(&c, path, "Range: bytes=0-9\r\n", &r);
	response_free(&r);
	get(&c, path, "Range: bytes=500-599\r\n", &r);
	expect_part(&r, "bytes 500-599/1000", 500, 100);
	expect_asked(&r, "bytes=500-599", "none");
	response_free(&r);
	get(&c, path, "Range: bytes=550-559\r\n", &r);
	expect_part(&r, "bytes 550-559/1000", 550, 10);
	expect_hit(&r);
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, path), 2);
	conn_close(&c);
	harness_end();
}

Test(cache_partial, a_changed_validator_discards_the_parts)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	/* The ETag changes with every response, and the origin sends its 206
	 * whatever If-Range says (ranges=2): the part cannot be joined. */
	const char *path = "/p4?size=100&ranges=2&etag_seq=1&cc=max-age%3D60";
	start_pair(&o, &d);
	conn_open(&c, d.port);
	get(&c, path, "Range: bytes=0-9\r\n", &r);
	expect_part(&r, "bytes 0-9/100", 0, 10);
	response_free(&r);
	/* The rest comes back as a 206 with another ETag: never joined; the
	 * whole representation is fetched instead, without a Range. */
	get(&c, path, NULL, &r);
	expect_whole(&r, 100);
	expect_asked(&r, "none", "none");
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, path), 3);
	get(&c, path, NULL, &r);
	expect_whole(&r, 100);
	expect_hit(&r);
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, path), 3);

	/* An origin that honours If-Range answers the changed validator with
	 * a 200, which replaces the part in one request. */
	const char *p2 = "/p5?size=100&ranges=1&etag_seq=1&cc=max-age%3D60";
	get(&c, p2, "Range: bytes=0-9\r\n", &r);
	char etag[32];
	snprintf(etag, sizeof(etag), "%s", hdr(&r, "ETag"));
	response_free(&r);
	get(&c, p2, NULL, &r);
	expect_whole(&r, 100);
	expect_asked(&r, "bytes=10-", etag);
	cr_assert_str_neq(hdr(&r, "ETag"), etag);
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, p2), 2);
	conn_close(&c);
	harness_end();
}

Test(cache_partial, parts_without_a_strong_validator_are_not_joined)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	const char *path = "/p6?size=100&ranges=1&cc=max-age%3D60";
	start_pair(&o, &d);
	conn_open(&c, d.port);
	get(&c, path, "Range: bytes=0-9\r\n", &r);
	expect_part(&r, "bytes 0-9/100", 0, 10);
	response_free(&r);
	/* RFC 9111 3.4: combining needs the same strong validator; the gap is
	 * asked for (without If-Range), its 206 is not joined, the whole
	 * representation is fetched. */
	get(&c, path, NULL, &r);
	expect_whole(&r, 100);
	expect_asked(&r, "none", "none");
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, path), 3);
	conn_close(&c);
	harness_end();
}

Test(cache_partial, a_206_longer_than_its_content_range_is_relayed_not_stored)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	/* Content-Range says 6 bytes, the body has 5 (as the conformance
	 * suite's partial tests send): relayed as the origin sent it. */
	const char *path = "/p7?status=206&size=5&hdr=Content-Range:bytes%204-9/10&cc=max-age%3D60";
	start_pair(&o, &d);
	conn_open(&c, d.port);
	for (int i = 0; i < 2; i++) {
		get(&c, path, "Range: bytes=-5\r\n", &r);
		cr_assert_eq(r.status, 206, "%s", r.raw_head);
		cr_assert_str_eq(hdr(&r, "Content-Range"), "bytes 4-9/10", "%s", r.raw_head);
		cr_assert_eq(r.body_len, 5);
		cr_assert(strstr(hdr(&r, "Cache-Status"), "partial-not-stored"), "%s", r.raw_head);
		response_free(&r);
	}
	cr_assert_eq(origin_requests(o.port, path), 2);
	conn_close(&c);
	harness_end();
}

Test(cache_partial, conditional_requests_on_parts)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	const char *path = "/p8?size=100&ranges=1&etag=e8&cc=max-age%3D60";
	start_pair(&o, &d);
	conn_open(&c, d.port);
	get(&c, path, "Range: bytes=0-9\r\n", &r);
	response_free(&r);
	/* If-None-Match with the parts' ETag: 304 from the store. */
	get(&c, path, "Range: bytes=0-9\r\nIf-None-Match: \"e8\"\r\n", &r);
	cr_assert_eq(r.status, 304, "%s", r.raw_head);
	response_free(&r);
	/* If-Range needs the whole representation if it fails: not from the
	 * parts, the whole is fetched and the range cut from it. */
	get(&c, path, "Range: bytes=0-9\r\nIf-Range: \"e8\"\r\n", &r);
	cr_assert_eq(r.status, 206, "%s", r.raw_head);
	cr_assert_str_eq(hdr(&r, "Content-Range"), "bytes 0-9/100", "%s", r.raw_head);
	expect_asked(&r, "none", "none");
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, path), 2);
	/* Now whole: an If-Range that does not match gets all of it. */
	get(&c, path, "Range: bytes=0-9\r\nIf-Range: \"other\"\r\n", &r);
	expect_whole(&r, 100);
	response_free(&r);
	conn_close(&c);
	harness_end();
}

/* An origin that caps every range it answers at 10 bytes (as origins that
 * cap open-ended ranges do): "bytes=A-B" and "bytes=A-" get a 206 for
 * A..min(B, A+9) of the 104-byte pattern, a request without Range a 200. */
#define CAP_SIZE 104
static int capped(int fd, const struct canned_req *rq, void *ctx)
{
	(void)ctx;
	char *body = pattern_make(CAP_SIZE);
	unsigned long long first = 0, last = CAP_SIZE - 1;
	bool ranged = false;
	for (size_t i = 0; i + 14 < rq->head_len; i++) {
		if (rq->head[i] == '\n' && !strncasecmp(rq->head + i + 1, "range: bytes=", 13)) {
			char *end;
			first = strtoull(rq->head + i + 14, &end, 10);
			if (*end == '-' && end[1] >= '0' && end[1] <= '9')
				last = strtoull(end + 1, NULL, 10);
			ranged = true;
		}
	}
	if (last > first + 9)
		last = first + 9;
	if (last > CAP_SIZE - 1)
		last = CAP_SIZE - 1;
	char head[512];
	int hl = ranged
		     ? snprintf(head, sizeof(head),
				"HTTP/1.1 206 Partial Content\r\nETag: \"e1\"\r\n"
				"Cache-Control: max-age=60\r\nContent-Range: bytes %llu-%llu/%d\r\n"
				"Content-Length: %llu\r\n\r\n",
				first, last, CAP_SIZE, last - first + 1)
		     : snprintf(head, sizeof(head),
				"HTTP/1.1 200 OK\r\nETag: \"e1\"\r\nCache-Control: max-age=60\r\n"
				"Content-Length: %d\r\n\r\n",
				CAP_SIZE);
	int rc = canned_send(fd, head, (size_t)hl) < 0 ||
			 canned_send(fd, body + first, ranged ? last - first + 1 : CAP_SIZE) < 0
		     ? -1
		     : 0;
	free(body);
	return rc;
}

static void start_capped(struct canned *cb, struct proc *d)
{
	canned_start(cb, 30, capped, NULL);
	memset(d, 0, sizeof(*d));
	d->port = free_port();
	char *yaml =
	    rc_yaml(&(struct rc_cfg){.port = d->port, .servers = &cb->port, .n_servers = 1});
	start_ringcache(d, yaml);
	free(yaml);
}

/* RFC 9111 3.3: an incomplete response answers only a request whose range
 * lies inside it. A gap the origin answers short of what the request needs
 * (joined or not) is never sent to that client as its answer. */
Test(cache_partial, an_origin_that_sends_less_than_asked_never_answers_with_a_short_part)
{
	struct canned cb;
	struct proc d;
	struct conn c;
	struct response r;
	start_capped(&cb, &d);
	conn_open(&c, d.port);

	/* [0-9] stored; a plain GET asks bytes=10- and gets only 10-19: the
	 * join [0-19] is not the whole representation the GET asked for. */
	get(&c, "/a", "Range: bytes=0-9\r\n", &r);
	expect_part(&r, "bytes 0-9/104", 0, 10);
	response_free(&r);
	get(&c, "/a", NULL, &r);
	expect_whole(&r, CAP_SIZE);
	response_free(&r);

	/* [0-9] stored; bytes=5-50 asks for the gap 10-50 and gets 10-19, then
	 * its own range 5-50 and gets 5-14: answered from the whole. */
	get(&c, "/b", "Range: bytes=0-9\r\n", &r);
	response_free(&r);
	get(&c, "/b", "Range: bytes=5-50\r\n", &r);
	expect_part(&r, "bytes 5-50/104", 5, 46);
	response_free(&r);

	/* No parts: the client's own range comes back shorter (20-29 for
	 * 20-30), so the part is not its answer. */
	get(&c, "/c", "Range: bytes=20-30\r\n", &r);
	expect_part(&r, "bytes 20-30/104", 20, 11);
	response_free(&r);
	conn_close(&c);
	canned_stop(&cb);
	harness_end();
}
