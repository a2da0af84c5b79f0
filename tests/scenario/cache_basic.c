/*
 * The cache's ordinary path: store and hit, Age and Cache-Status, HEAD,
 * conditional requests and ranges answered from the store, what is not
 * stored, Vary variants, and config rules.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

TestSuite(cache_basic, .fini = harness_fini, .timeout = 30);

/* A 200 whose body is exactly the first SIZE bytes of the origin's pattern. */
static void expect_pattern(const struct response *r, size_t size)
{
	cr_assert_eq(r->status, 200, "head: %s", r->raw_head);
	cr_assert(r->complete, "incomplete body: %s", r->error);
	cr_assert_eq(r->body_len, size, "body %zu bytes, want %zu", r->body_len, size);
	cr_assert_eq(pattern_mismatch(r->body, r->body_len, 0), -1, "body: %s",
		     excerpt(r->body, r->body_len));
}

static const char *hdr(const struct response *r, const char *name)
{
	const char *v = resp_header(r, name);
	return v ? v : "(none)";
}

/* A fresh stored response: "hit", no detail (so not stale), and an Age. */
static void expect_fresh_hit(const struct response *r, const char *what)
{
	cr_assert(cache_status_has(r, "hit"), "%s: not a hit: Cache-Status: %s", what,
		  cache_status(r));
	cr_assert(strstr(cache_status(r), "detail=") == NULL,
		  "%s: a fresh hit carries a detail: Cache-Status: %s", what, cache_status(r));
	cr_assert_not_null(resp_header(r, "Age"), "%s: a hit without Age: %s", what, r->raw_head);
}

/* The response was fetched from the origin and stored on the way. */
static void expect_stored_miss(const struct response *r, const char *what)
{
	cr_assert(cache_status_has(r, "fwd=uri-miss"), "%s: Cache-Status: %s", what,
		  cache_status(r));
	cr_assert_eq(cache_status_param(r, "fwd-status", 0), 200, "%s: Cache-Status: %s", what,
		     cache_status(r));
	cr_assert(cache_status_has(r, "stored"), "%s: not stored: Cache-Status: %s", what,
		  cache_status(r));
}

Test(cache_basic, max_age_response_is_stored_and_hit)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	const char *path = "/b1?cc=max-age=60&size=100";
	start_pair(&o, &d);
	conn_open(&c, d.port);

	http_req(&c, "GET", path, NULL, &r);
	expect_pattern(&r, 100);
	expect_stored_miss(&r, "first GET");
	cr_assert_not_null(resp_header(&r, "Age"), "no Age on a stored response: %s", r.raw_head);
	char first_req[32];
	snprintf(first_req, sizeof(first_req), "%s", hdr(&r, "X-Origin-Request"));
	response_free(&r);

	http_req(&c, "GET", path, NULL, &r);
	expect_pattern(&r, 100);
	expect_fresh_hit(&r, "second GET");
	long ttl = cache_status_param(&r, "ttl", -999);
	cr_assert(ttl >= 58 && ttl <= 60, "ttl %ld right after storing max-age=60: %s", ttl,
		  cache_status(&r));
	/* The origin's own headers come from the store unchanged. */
	cr_assert_str_eq(hdr(&r, "X-Origin-Request"), first_req);
	cr_assert_str_eq(hdr(&r, "Cache-Control"), "max-age=60");
	cr_assert_eq(resp_header_count(&r, "Age"), 1, "head: %s", r.raw_head);
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, path), 1);

	/* Time passes in the store: Age grows and the remaining ttl shrinks. */
	sleep_ms(2100);
	http_req(&c, "GET", path, NULL, &r);
	expect_pattern(&r, 100);
	expect_fresh_hit(&r, "GET 2 s later");
	long age = atol(hdr(&r, "Age"));
	ttl = cache_status_param(&r, "ttl", -999);
	cr_assert(age >= 2 && age <= 4, "Age %ld after 2.1 s: %s", age, r.raw_head);
	cr_assert(ttl >= 56 && ttl <= 58, "ttl %ld after 2.1 s of max-age=60: %s", ttl,
		  cache_status(&r));
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, path), 1);
	conn_close(&c);
	harness_end();
}

/* RFC 9111 5.1: an invalid Age from the origin is ignored, so max-age=60
 * alone makes the stored response fresh; an Age too large to represent
 * (2^31, 1.2.2) makes it stale, and the next GET goes to the origin. */
Test(cache_basic, origin_age_invalid_is_ignored_huge_is_stale)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	start_pair(&o, &d);
	conn_open(&c, d.port);
	static const struct {
		const char *path;
		bool fresh;
	} t[] = {
	    {"/age1?cc=max-age=60&size=10&hdr=Age:abc", true},
	    {"/age2?cc=max-age=60&size=10&hdr=Age:-5", true},
	    {"/age3?cc=max-age=60&size=10&hdr=Age:10&hdr=Age:100", true},
	    {"/age4?cc=max-age=60&size=10&hdr=Age:2147483648", false},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		http_req(&c, "GET", t[i].path, NULL, &r);
		expect_pattern(&r, 10);
		expect_stored_miss(&r, t[i].path);
		response_free(&r);

		http_req(&c, "GET", t[i].path, NULL, &r);
		expect_pattern(&r, 10);
		if (t[i].fresh) {
			expect_fresh_hit(&r, t[i].path);
			long age = atol(hdr(&r, "Age"));
			cr_assert(age >= 0 && age < 60, "%s: Age %ld on a fresh hit: %s", t[i].path,
				  age, r.raw_head);
			cr_assert_eq(origin_requests(o.port, t[i].path), 1, "%s", t[i].path);
		} else {
			cr_assert(!cache_status_has(&r, "hit") ||
				      strstr(cache_status(&r), "detail=") != NULL,
				  "%s: served as a fresh hit: Cache-Status: %s", t[i].path,
				  cache_status(&r));
			cr_assert_eq(origin_requests(o.port, t[i].path), 2,
				     "%s: the stale copy was not refetched", t[i].path);
		}
		response_free(&r);
	}
	conn_close(&c);
	harness_end();
}

Test(cache_basic, head_is_answered_from_the_stored_get)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	const char *path = "/h1?cc=max-age=60&size=1000";
	start_pair(&o, &d);
	conn_open(&c, d.port);
	http_req(&c, "GET", path, NULL, &r);
	expect_pattern(&r, 1000);
	response_free(&r);

	http_req(&c, "HEAD", path, NULL, &r);
	cr_assert_eq(r.status, 200, "head: %s", r.raw_head);
	cr_assert_str_eq(hdr(&r, "Content-Length"), "1000", "head: %s", r.raw_head);
	expect_fresh_hit(&r, "HEAD");
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, path), 1, "the HEAD reached the origin");

	/* No body bytes may follow the HEAD answer: the next response must parse. */
	http_req(&c, "GET", path, NULL, &r);
	expect_pattern(&r, 1000);
	expect_fresh_hit(&r, "GET after HEAD");
	response_free(&r);
	cr_assert_eq(conn_pending(&c), 0);
	conn_close(&c);
	harness_end();
}

static void imf_date(time_t t, char *out, size_t n)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, n, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* No Last-Modified: the stored Date stands in for it (RFC 9110 13.1.3,
 * RFC 9111 4.3.2), so a fresh hit answers 304 when the client's date is not
 * before it and 200 when it is. */
Test(cache_basic, if_modified_since_without_last_modified_uses_the_date)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	time_t date = time(NULL) - 30;
	char dv[64], hv[80], enc[256], path[400];
	imf_date(date, dv, sizeof(dv));
	snprintf(hv, sizeof(hv), "Date:%s", dv);
	snprintf(path, sizeof(path), "/imsdate?cc=max-age=600&size=50&hdr=%s",
		 pct_encode(hv, enc, sizeof(enc)));
	start_pair(&o, &d);
	conn_open(&c, d.port);
	http_req(&c, "GET", path, NULL, &r);
	expect_pattern(&r, 50);
	expect_stored_miss(&r, "first GET");
	cr_assert_str_eq(hdr(&r, "Date"), dv, "head: %s", r.raw_head);
	cr_assert_null(resp_header(&r, "Last-Modified"), "head: %s", r.raw_head);
	response_free(&r);

	char same[64], later[64], earlier[64];
	imf_date(date, same, sizeof(same));
	imf_date(date + 10, later, sizeof(later));
	imf_date(date - 1, earlier, sizeof(earlier));
	const struct {
		const char *method, *ims;
		int status;
	} cases[] = {
	    {"GET", same, 304},	   {"GET", later, 304},	       {"HEAD", same, 304},
	    {"GET", earlier, 200}, {"GET", "not a date", 200},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char h[128];
		snprintf(h, sizeof(h), "If-Modified-Since: %s\r\n", cases[i].ims);
		http_req(&c, cases[i].method, path, h, &r);
		cr_assert_eq(r.status, cases[i].status, "%s %s -> %d, want %d; head: %s",
			     cases[i].method, cases[i].ims, r.status, cases[i].status, r.raw_head);
		cr_assert(cache_status_has(&r, "hit"), "%s: Cache-Status: %s", cases[i].ims,
			  cache_status(&r));
		if (r.status == 304)
			cr_assert_eq(r.body_len, 0);
		else
			expect_pattern(&r, 50);
		response_free(&r);
	}
	cr_assert_eq(origin_requests(o.port, path), 1, "a conditional request reached the origin");
	conn_close(&c);
	harness_end();
}

Test(cache_basic, conditional_requests_are_answered_from_the_cache)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	/* lm=1700000000 is Tue, 14 Nov 2023 22:13:20 GMT. */
	const char *path = "/c1?cc=max-age=60&etag=v1&lm=1700000000&size=50";
	start_pair(&o, &d);
	conn_open(&c, d.port);
	http_req(&c, "GET", path, NULL, &r);
	expect_pattern(&r, 50);
	expect_stored_miss(&r, "first GET");
	response_free(&r);

	static const struct {
		const char *hdr;
		int status;
	} cases[] = {
	    {"If-None-Match: \"v1\"\r\n", 304},
	    /* If-None-Match uses the weak comparison (RFC 9110 13.1.2). */
	    {"If-None-Match: W/\"v1\"\r\n", 304},
	    {"If-None-Match: \"x\", \"v1\"\r\n", 304},
	    {"If-None-Match: *\r\n", 304},
	    {"If-None-Match: \"other\"\r\n", 200},
	    {"If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT\r\n", 304},
	    {"If-Modified-Since: Wed, 15 Nov 2023 00:00:00 GMT\r\n", 304},
	    {"If-Modified-Since: Mon, 13 Nov 2023 00:00:00 GMT\r\n", 200},
	    /* If-None-Match wins over If-Modified-Since (RFC 9110 13.1.3). */
	    {"If-None-Match: \"other\"\r\nIf-Modified-Since: Wed, 15 Nov 2023 00:00:00 GMT\r\n",
	     200},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		http_req(&c, "GET", path, cases[i].hdr, &r);
		cr_assert_eq(r.status, cases[i].status, "%s -> %d, want %d; head: %s",
			     excerpt(cases[i].hdr, strlen(cases[i].hdr)), r.status, cases[i].status,
			     r.raw_head);
		if (r.status == 304) {
			cr_assert_eq(r.body_len, 0);
			cr_assert_str_eq(hdr(&r, "ETag"), "\"v1\"", "head: %s", r.raw_head);
			cr_assert(cache_status_has(&r, "hit"), "Cache-Status: %s",
				  cache_status(&r));
		} else {
			expect_pattern(&r, 50);
			expect_fresh_hit(&r, cases[i].hdr);
		}
		response_free(&r);
	}
	cr_assert_eq(origin_requests(o.port, path), 1, "a conditional request reached the origin");
	conn_close(&c);
	harness_end();
}

Test(cache_basic, ranges_are_served_from_a_stored_object)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	const char *path = "/r1?cc=max-age=60&size=100";
	start_pair(&o, &d);
	conn_open(&c, d.port);
	http_req(&c, "GET", path, NULL, &r);
	expect_pattern(&r, 100);
	response_free(&r);

	static const struct {
		const char *range, *content_range;
		unsigned long long off;
		size_t len;
	} cases[] = {
	    {"bytes=0-9", "bytes 0-9/100", 0, 10},
	    {"bytes=90-", "bytes 90-99/100", 90, 10},
	    {"bytes=-5", "bytes 95-99/100", 95, 5},
	    /* A last-byte-pos past the end is clipped, not an error. */
	    {"bytes=50-500", "bytes 50-99/100", 50, 50},
	};
	char extra[128];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(extra, sizeof(extra), "Range: %s\r\n", cases[i].range);
		http_req(&c, "GET", path, extra, &r);
		cr_assert_eq(r.status, 206, "Range %s: head: %s", cases[i].range, r.raw_head);
		cr_assert_str_eq(hdr(&r, "Content-Range"), cases[i].content_range,
				 "Range %s: head: %s", cases[i].range, r.raw_head);
		cr_assert(r.complete, "%s", r.error);
		cr_assert_eq(r.body_len, cases[i].len, "Range %s: %zu bytes", cases[i].range,
			     r.body_len);
		cr_assert_eq(pattern_mismatch(r.body, r.body_len, cases[i].off), -1,
			     "Range %s: body %s", cases[i].range, excerpt(r.body, r.body_len));
		response_free(&r);
	}

	http_req(&c, "GET", path, "Range: bytes=200-300\r\n", &r);
	cr_assert_eq(r.status, 416, "unsatisfiable range: head: %s", r.raw_head);
	cr_assert_str_eq(hdr(&r, "Content-Range"), "bytes */100", "head: %s", r.raw_head);
	response_free(&r);

	/* The connection survived every one of them. */
	http_req(&c, "GET", path, NULL, &r);
	expect_pattern(&r, 100);
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, path), 1, "a range request reached the origin");
	conn_close(&c);
	harness_end();
}

Test(cache_basic, uncacheable_responses_are_not_stored)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	/*
	 * no-store, private (a shared cache), no freshness at all (default_ttl is
	 * 0 and there is no Last-Modified for a heuristic), a partial response.
	 */
	static const char *const paths[] = {"/n1?cc=no-store&size=10", "/n2?cc=private&size=10",
					    "/n3?size=10", "/n4?cc=max-age=60&size=10&status=206"};
	start_pair(&o, &d);
	conn_open(&c, d.port);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		for (int k = 0; k < 2; k++) {
			http_req(&c, "GET", paths[i], NULL, &r);
			cr_assert_eq(r.status, i == 3 ? 206 : 200, "%s: head: %s", paths[i],
				     r.raw_head);
			cr_assert_not(cache_status_has(&r, "hit"),
				      "%s request %d: Cache-Status: %s", paths[i], k + 1,
				      cache_status(&r));
			cr_assert_not(cache_status_has(&r, "stored"),
				      "%s request %d: Cache-Status: %s", paths[i], k + 1,
				      cache_status(&r));
			response_free(&r);
		}
		cr_assert_eq(origin_requests(o.port, paths[i]), 2,
			     "%s: the second request did not reach the origin", paths[i]);
	}
	conn_close(&c);
	harness_end();
}

#define VARY_PATH "/v1?cc=max-age=60&size=64&hdr=Vary:Accept-Encoding"

/* GET VARY_PATH with Accept-Encoding AE; returns its X-Origin-Request. */
static long vary_get(struct conn *c, const char *ae, const char *want)
{
	struct response r;
	char extra[128];
	snprintf(extra, sizeof(extra), "Accept-Encoding: %s\r\n", ae);
	http_req(c, "GET", VARY_PATH, extra, &r);
	expect_pattern(&r, 64);
	cr_assert(cache_status_has(&r, want), "Accept-Encoding: %s: want %s, Cache-Status: %s", ae,
		  want, cache_status(&r));
	long n = atol(hdr(&r, "X-Origin-Request"));
	response_free(&r);
	return n;
}

/*
 * CDN-Cache-Control (RFC 9213): a valid one replaces Cache-Control for this
 * cache; one that is not a valid Structured Field Dictionary (RFC 8941), or
 * has a known directive of the wrong type, is ignored and Cache-Control
 * applies.
 */
Test(cache_basic, cdn_cache_control_replaces_or_falls_back)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	static const struct {
		const char *path;
		bool stored;
	} t[] = {
	    {"/cdn1?cc=no-store&size=10&hdr=CDN-Cache-Control:max-age%3D60", true},
	    {"/cdn2?cc=max-age=60&size=10&hdr=CDN-Cache-Control:%26%26%26%26%26", true},
	    {"/cdn3?cc=max-age=60&size=10&hdr=CDN-Cache-Control:max-age%3D%2260%22", true},
	    {"/cdn4?cc=no-store&size=10&hdr=CDN-Cache-Control:max-age%3D%2260%22", false},
	    {"/cdn5?cc=max-age=60&size=10&hdr=CDN-Cache-Control:no-store", false},
	};
	start_pair(&o, &d);
	conn_open(&c, d.port);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		http_req(&c, "GET", t[i].path, NULL, &r);
		cr_assert_eq(r.status, 200, "%s: head: %s", t[i].path, r.raw_head);
		cr_assert_eq(cache_status_has(&r, "stored"), t[i].stored, "%s: Cache-Status: %s",
			     t[i].path, cache_status(&r));
		response_free(&r);
		http_req(&c, "GET", t[i].path, NULL, &r);
		cr_assert_eq(r.status, 200, "%s: head: %s", t[i].path, r.raw_head);
		cr_assert_eq(cache_status_has(&r, "hit"), t[i].stored, "%s: Cache-Status: %s",
			     t[i].path, cache_status(&r));
		response_free(&r);
		cr_assert_eq(origin_requests(o.port, t[i].path), t[i].stored ? 1 : 2, "%s",
			     t[i].path);
	}
	conn_close(&c);
	harness_end();
}

Test(cache_basic, vary_stores_one_variant_per_request_header)
{
	struct proc o, d;
	struct conn c;
	start_pair(&o, &d);
	conn_open(&c, d.port);
	long gz = vary_get(&c, "gzip", "stored");
	long br = vary_get(&c, "br", "stored");
	cr_assert_neq(gz, br);
	/* Each repeat hits its own variant, not the one stored last. */
	cr_assert_eq(vary_get(&c, "gzip", "hit"), gz);
	cr_assert_eq(vary_get(&c, "br", "hit"), br);
	cr_assert_eq(vary_get(&c, "gzip", "hit"), gz);
	cr_assert_eq(origin_requests(o.port, VARY_PATH), 2);

	/* A request without the header is a variant of its own. */
	struct response r;
	http_req(&c, "GET", VARY_PATH, NULL, &r);
	expect_pattern(&r, 64);
	cr_assert(cache_status_has(&r, "stored"), "no Accept-Encoding: Cache-Status: %s",
		  cache_status(&r));
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, VARY_PATH), 3);
	conn_close(&c);
	harness_end();
}

Test(cache_basic, vary_accept_encoding_lists_are_normalised)
{
	struct proc o, d;
	struct conn c;
	start_pair(&o, &d);
	conn_open(&c, d.port);
	long both = vary_get(&c, "gzip, br", "stored");
	/* Order and spacing of the list do not make another variant. */
	cr_assert_eq(vary_get(&c, "br,gzip", "hit"), both);
	cr_assert_eq(vary_get(&c, "br ,  gzip", "hit"), both);
	cr_assert_eq(origin_requests(o.port, VARY_PATH), 1);
	/* But a different set does. */
	long gz = vary_get(&c, "gzip", "stored");
	cr_assert_neq(gz, both);
	cr_assert_eq(origin_requests(o.port, VARY_PATH), 2);
	conn_close(&c);
	harness_end();
}

Test(cache_basic, rules_bypass_override_ttl_and_key)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	start_pair_extra(&o, &d,
			 "cache:\n"
			 "  rules:\n"
			 "    - path_prefix: \"/nocache/\"\n"
			 "      bypass: true\n"
			 "    - path_prefix: \"/forced/\"\n"
			 "      ttl: 1h\n"
			 "    - path_prefix: \"/noq/\"\n"
			 "      default_ttl: 10m\n"
			 "      key: {query: false}\n");
	conn_open(&c, d.port);

	/* bypass: never stored, even with max-age, and says so. */
	for (int i = 0; i < 2; i++) {
		http_req(&c, "GET", "/nocache/a?cc=max-age=60&size=5", NULL, &r);
		cr_assert_eq(r.status, 200);
		cr_assert(cache_status_has(&r, "fwd=bypass"), "Cache-Status: %s", cache_status(&r));
		response_free(&r);
	}
	cr_assert_eq(origin_requests(o.port, "/nocache/a?cc=max-age=60&size=5"), 2);

	/* ttl is the lifetime whatever the response says, here max-age=0. */
	for (int i = 0; i < 2; i++) {
		http_req(&c, "GET", "/forced/a?cc=max-age=0&size=5", NULL, &r);
		cr_assert_eq(r.status, 200);
		cr_assert(cache_status_has(&r, i ? "hit" : "stored"),
			  "request %d: Cache-Status: %s", i + 1, cache_status(&r));
		if (i) {
			long ttl = cache_status_param(&r, "ttl", -1);
			cr_assert(ttl > 3500 && ttl <= 3600, "ttl %ld with rule ttl 1h", ttl);
		}
		response_free(&r);
	}
	cr_assert_eq(origin_requests(o.port, "/forced/a?cc=max-age=0&size=5"), 1);

	/* key {query: false}: the query does not name another object; default_ttl stores it. */
	http_req(&c, "GET", "/noq/a?x=1", NULL, &r);
	cr_assert(cache_status_has(&r, "stored"), "Cache-Status: %s", cache_status(&r));
	response_free(&r);
	http_req(&c, "GET", "/noq/a?x=2", NULL, &r);
	cr_assert(cache_status_has(&r, "hit"), "Cache-Status: %s", cache_status(&r));
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, "/noq/a?x=2"), 0);

	/* Outside every rule nothing changed: no Cache-Control, not stored. */
	http_req(&c, "GET", "/other?x=1", NULL, &r);
	cr_assert_not(cache_status_has(&r, "stored"), "Cache-Status: %s", cache_status(&r));
	response_free(&r);
	conn_close(&c);
	harness_end();
}
