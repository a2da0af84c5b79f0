/* Unit tests of src/cache/policy.c: storability, freshness lifetime, age,
 * reuse and stale-on-error decisions (RFC 9111, RFC 9213, RFC 5861).
 * Heads are parsed with the real parser; every time is an explicit Unix
 * second around T0, so nothing sleeps. In header text "@N" stands for the
 * IMF-fixdate of T0 + N and "\n" separates field lines. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/policy.h"
#include "http/date.h"
#include "http/msg.h"

#define T0 1700000000LL /* 2023-11-14 22:13:20 GMT */

struct head {
	struct hmsg m;
	struct hfield f[32];
	char buf[4096];
};

/* Expand "@N" to a date and "\n" to CRLF; every line ends in CRLF. */
static size_t expand(const char *in, char *out, size_t cap)
{
	size_t n = 0;
	bool line_open = false;
	for (const char *p = in; *p;) {
		cr_assert(n + 40 < cap, "head too long");
		if (*p == '@') {
			char *e;
			long long off = strtoll(p + 1, &e, 10);
			cr_assert(e > p + 1, "bad @ in \"%s\"", in);
			n += http_date_format(T0 + off, out + n);
			p = e;
			line_open = true;
		} else if (*p == '\n') {
			out[n++] = '\r';
			out[n++] = '\n';
			p++;
			line_open = false;
		} else {
			out[n++] = *p++;
			line_open = true;
		}
	}
	if (line_open) {
		out[n++] = '\r';
		out[n++] = '\n';
	}
	out[n] = '\0';
	return n;
}

static void parse(struct head *h, enum hmsg_kind kind, const char *start, const char *lines)
{
	size_t n = (size_t)snprintf(h->buf, sizeof(h->buf), "%s\r\n", start);
	n += expand(lines ? lines : "", h->buf + n, sizeof(h->buf) - n - 2);
	memcpy(h->buf + n, "\r\n", 3);
	n += 2;
	hmsg_init(&h->m, kind, h->f, 32, sizeof(h->buf));
	hmsg_next(&h->m, h->buf, 0);
	h->m.skip_body = kind == HMSG_RESPONSE;
	long r = hmsg_feed(&h->m, 0, (uint32_t)n);
	cr_assert_eq(r, (long)n, "parse failed (%ld, %s): %s", r, h->m.error ? h->m.error : "",
		     h->buf);
	cr_assert(h->m.headers_done);
}

/* Request meta for METHOD with LINES. */
static void req(struct req_meta *rq, const char *method, const char *lines)
{
	struct head h;
	char start[64];
	snprintf(start, sizeof(start), "%s / HTTP/1.1", method);
	char all[1024];
	snprintf(all, sizeof(all), "Host: example.com%s%s", lines && *lines ? "\n" : "",
		 lines ? lines : "");
	parse(&h, HMSG_REQUEST, start, all);
	policy_req_meta(&h.m, rq);
}

/* Response meta for a head sent at REQ_MS and received at RESP_MS. */
static void resp_at(struct resp_meta *rm, int status, const char *lines, int64_t req_ms,
		    int64_t resp_ms)
{
	struct head h;
	char start[64];
	snprintf(start, sizeof(start), "HTTP/1.1 %d X", status);
	parse(&h, HMSG_RESPONSE, start, lines);
	policy_meta_from_response(&h.m, req_ms, resp_ms, rm);
}

/* Response received instantly at T0. */
static void resp(struct resp_meta *rm, int status, const char *lines)
{
	resp_at(rm, status, lines, T0 * 1000, T0 * 1000);
}

static struct policy_knobs knobs(void)
{
	return (struct policy_knobs){
	    .ttl_override = POLICY_NONE,
	    .default_ttl = 0,
	    .heuristic_percent = 10,
	    .heuristic_max = 86400,
	    .grace = 0,
	};
}

/* --- storable ------------------------------------------------------------ */

struct st_case {
	const char *method; /* NULL: GET */
	const char *req;    /* request lines */
	int status;
	const char *resp;
	enum storable want;
};

static void run_storable(const struct st_case *c, size_t n, const struct policy_knobs *k)
{
	for (size_t i = 0; i < n; i++) {
		struct req_meta rq;
		struct resp_meta rm;
		req(&rq, c[i].method ? c[i].method : "GET", c[i].req);
		resp(&rm, c[i].status, c[i].resp);
		enum storable got = policy_storable(&rq, &rm, k);
		cr_expect_eq(got, c[i].want, "#%zu %s [%s] -> %d [%s]: got %s, want %s", i,
			     c[i].method ? c[i].method : "GET", c[i].req ? c[i].req : "",
			     c[i].status, c[i].resp ? c[i].resp : "", policy_storable_name(got),
			     policy_storable_name(c[i].want));
	}
}

#define RUN_ST(t, k) run_storable(t, sizeof(t) / sizeof(t[0]), k)

Test(cache_policy, storable_methods)
{
	static const struct st_case t[] = {
	    {"GET", NULL, 200, "Cache-Control: max-age=60", STORE_OK},
	    /* Only GET: HEAD has no body to store, the rest are not cacheable here. */
	    {"HEAD", NULL, 200, "Cache-Control: max-age=60", STORE_NO_METHOD},
	    {"POST", NULL, 200, "Cache-Control: max-age=60", STORE_NO_METHOD},
	    {"PUT", NULL, 200, "Cache-Control: public, max-age=60", STORE_NO_METHOD},
	    {"DELETE", NULL, 200, "Cache-Control: max-age=60", STORE_NO_METHOD},
	    {"OPTIONS", NULL, 200, "Cache-Control: max-age=60", STORE_NO_METHOD},
	};
	struct policy_knobs k = knobs();
	RUN_ST(t, &k);
}

Test(cache_policy, storable_status)
{
	/* Last-Modified alone gives a heuristic lifetime, which only default-
	 * cacheable statuses may use (RFC 9111 4.2.2); explicit freshness
	 * makes any final status storable (RFC 9111 3). */
	static const struct st_case t[] = {
	    {NULL, NULL, 200, "Date: @0\nLast-Modified: @-1000", STORE_OK},
	    {NULL, NULL, 203, "Date: @0\nLast-Modified: @-1000", STORE_OK},
	    {NULL, NULL, 204, "Date: @0\nLast-Modified: @-1000", STORE_OK},
	    {NULL, NULL, 300, "Date: @0\nLast-Modified: @-1000", STORE_OK},
	    {NULL, NULL, 301, "Date: @0\nLast-Modified: @-1000", STORE_OK},
	    {NULL, NULL, 308, "Date: @0\nLast-Modified: @-1000", STORE_OK},
	    {NULL, NULL, 404, "Date: @0\nLast-Modified: @-1000", STORE_OK},
	    {NULL, NULL, 405, "Date: @0\nLast-Modified: @-1000", STORE_OK},
	    {NULL, NULL, 410, "Date: @0\nLast-Modified: @-1000", STORE_OK},
	    {NULL, NULL, 414, "Date: @0\nLast-Modified: @-1000", STORE_OK},
	    {NULL, NULL, 501, "Date: @0\nLast-Modified: @-1000", STORE_OK},
	    {NULL, NULL, 302, "Date: @0\nLast-Modified: @-1000", STORE_NO_STATUS},
	    {NULL, NULL, 303, "Date: @0\nLast-Modified: @-1000", STORE_NO_STATUS},
	    {NULL, NULL, 307, "Date: @0\nLast-Modified: @-1000", STORE_NO_STATUS},
	    {NULL, NULL, 400, "Date: @0\nLast-Modified: @-1000", STORE_NO_STATUS},
	    {NULL, NULL, 403, "Date: @0\nLast-Modified: @-1000", STORE_NO_STATUS},
	    {NULL, NULL, 500, "Date: @0\nLast-Modified: @-1000", STORE_NO_STATUS},
	    {NULL, NULL, 503, "Date: @0\nLast-Modified: @-1000", STORE_NO_STATUS},
	    {NULL, NULL, 302, "Cache-Control: max-age=60", STORE_OK},
	    {NULL, NULL, 307, "Expires: @60\nDate: @0", STORE_OK},
	    {NULL, NULL, 500, "Cache-Control: s-maxage=5", STORE_OK},
	    {NULL, NULL, 503, "Cache-Control: public", STORE_OK},
	    /* Never: partial content (no range combining) and 304. */
	    {NULL, NULL, 206, "Cache-Control: max-age=60", STORE_NO_STATUS},
	    {NULL, NULL, 304, "Cache-Control: max-age=60", STORE_NO_STATUS},
	};
	struct policy_knobs k = knobs();
	RUN_ST(t, &k);

	/* Default-cacheable table (RFC 9110 15.1) and informational codes. */
	static const int dflt[] = {200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501};
	static const int not_dflt[] = {100, 201, 202, 302, 303, 307, 400, 401, 403, 500, 502, 503};
	for (size_t i = 0; i < sizeof(dflt) / sizeof(dflt[0]); i++)
		cr_expect(policy_status_default_cacheable(dflt[i]), "%d", dflt[i]);
	for (size_t i = 0; i < sizeof(not_dflt) / sizeof(not_dflt[0]); i++)
		cr_expect(!policy_status_default_cacheable(not_dflt[i]), "%d", not_dflt[i]);

	struct req_meta rq;
	struct resp_meta rm;
	req(&rq, "GET", NULL);
	resp(&rm, 200, "Cache-Control: max-age=60");
	rm.status = 103; /* a 1xx is never a response to store */
	cr_expect_eq(policy_storable(&rq, &rm, &k), STORE_NO_STATUS);
}

Test(cache_policy, storable_lifetime_or_validator)
{
	static const struct st_case t[] = {
	    /* Nothing to go on: no lifetime, no validator. */
	    {NULL, NULL, 200, "Date: @0", STORE_NO_LIFETIME},
	    {NULL, NULL, 200, NULL, STORE_NO_LIFETIME},
	    /* Stale on arrival but cheap to revalidate: stored. */
	    {NULL, NULL, 200, "ETag: \"x\"", STORE_OK},
	    /* Explicitly stale (max-age=0, past Expires) is still explicit. */
	    {NULL, NULL, 200, "Cache-Control: max-age=0", STORE_OK},
	    {NULL, NULL, 200, "Date: @0\nExpires: @-10", STORE_OK},
	    /* no-cache responses are stored, to be validated on every use. */
	    {NULL, NULL, 200, "Cache-Control: no-cache", STORE_OK},
	    {NULL, NULL, 200, "Cache-Control: no-cache, max-age=60", STORE_OK},
	    /* public alone makes it storable (and heuristically cacheable). */
	    {NULL, NULL, 200, "Cache-Control: public", STORE_OK},
	};
	struct policy_knobs k = knobs();
	RUN_ST(t, &k);

	/* A configured default ttl is a lifetime. */
	static const struct st_case dt[] = {
	    {NULL, NULL, 200, "Date: @0", STORE_OK},
	    {NULL, NULL, 302, "Date: @0", STORE_NO_STATUS},
	};
	k.default_ttl = 300;
	RUN_ST(dt, &k);
}

Test(cache_policy, storable_no_store_private_public)
{
	static const struct st_case t[] = {
	    {NULL, NULL, 200, "Cache-Control: no-store", STORE_NO_STORE},
	    {NULL, NULL, 200, "Cache-Control: max-age=60, no-store", STORE_NO_STORE},
	    {NULL, NULL, 200, "Cache-Control: public, max-age=60\nCache-Control: no-store",
	     STORE_NO_STORE},
	    {NULL, "Cache-Control: no-store", 200, "Cache-Control: max-age=60", STORE_NO_STORE},
	    {NULL, "Cache-Control: no-store", 200, "Cache-Control: public", STORE_NO_STORE},
	    {NULL, NULL, 200, "Cache-Control: private", STORE_PRIVATE},
	    {NULL, NULL, 200, "Cache-Control: private, max-age=60", STORE_PRIVATE},
	    {NULL, NULL, 200, "Cache-Control: public, private, max-age=60", STORE_PRIVATE},
	    /* private="field" only keeps that field out of the cache. */
	    {NULL, NULL, 200, "Cache-Control: private=\"X-User\", max-age=60", STORE_OK},
	    /* Unqualified and qualified together: unqualified wins. */
	    {NULL, NULL, 200, "Cache-Control: private=\"X-User\", private, max-age=60",
	     STORE_PRIVATE},
	    {NULL, NULL, 200, "Cache-Control: public, max-age=60", STORE_OK},
	    {NULL, NULL, 404, "Cache-Control: public", STORE_OK},
	    /* Request-only directives in a response mean nothing. */
	    {NULL, NULL, 200, "Cache-Control: max-age=60, min-fresh=5, only-if-cached", STORE_OK},
	};
	struct policy_knobs k = knobs();
	RUN_ST(t, &k);
}

Test(cache_policy, storable_authorization)
{
	/* RFC 9111 3.5: reused for Authorization requests only when the
	 * response says public, s-maxage or must-revalidate. */
	static const struct st_case t[] = {
	    {NULL, "Authorization: Basic YTpi", 200, "Cache-Control: max-age=60",
	     STORE_AUTHORIZATION},
	    {NULL, "Authorization: Basic YTpi", 200, "Date: @0\nExpires: @60", STORE_AUTHORIZATION},
	    {NULL, "Authorization: Basic YTpi", 200, "Cache-Control: proxy-revalidate, max-age=60",
	     STORE_AUTHORIZATION},
	    {NULL, "Authorization: Basic YTpi", 200, "Cache-Control: public, max-age=60", STORE_OK},
	    {NULL, "Authorization: Basic YTpi", 200, "Cache-Control: s-maxage=60", STORE_OK},
	    {NULL, "Authorization: Basic YTpi", 200, "Cache-Control: must-revalidate, max-age=60",
	     STORE_OK},
	    {NULL, "Authorization: Basic YTpi", 200, "Cache-Control: public, private",
	     STORE_PRIVATE},
	    /* Without Authorization the same response is fine. */
	    {NULL, NULL, 200, "Cache-Control: max-age=60", STORE_OK},
	};
	struct policy_knobs k = knobs();
	RUN_ST(t, &k);
}

Test(cache_policy, storable_vary_star_and_set_cookie)
{
	static const struct st_case t[] = {
	    {NULL, NULL, 200, "Cache-Control: max-age=60\nVary: *", STORE_VARY_STAR},
	    {NULL, NULL, 200, "Cache-Control: max-age=60\nVary: Accept-Encoding, *",
	     STORE_VARY_STAR},
	    {NULL, NULL, 200, "Cache-Control: max-age=60\nVary: Accept\nVary: *", STORE_VARY_STAR},
	    {NULL, NULL, 200, "Cache-Control: max-age=60\nVary: Accept-Encoding", STORE_OK},
	    /* Set-Cookie is stored only on explicit freshness. */
	    {NULL, NULL, 200, "Set-Cookie: a=b\nDate: @0\nLast-Modified: @-1000", STORE_SET_COOKIE},
	    {NULL, NULL, 200, "Set-Cookie: a=b\nETag: \"x\"", STORE_SET_COOKIE},
	    {NULL, NULL, 200, "Set-Cookie: a=b\nCache-Control: max-age=60", STORE_OK},
	    {NULL, NULL, 200, "Set-Cookie: a=b\nCache-Control: s-maxage=60", STORE_OK},
	    {NULL, NULL, 200, "Set-Cookie: a=b\nDate: @0\nExpires: @60", STORE_OK},
	    {NULL, NULL, 200, "Set-Cookie: a=b\nCache-Control: public", STORE_OK},
	    {NULL, NULL, 200, "Set-Cookie: a=b\nCache-Control: private, max-age=60", STORE_PRIVATE},
	};
	struct policy_knobs k = knobs();
	RUN_ST(t, &k);

	/* A default ttl is not the origin's word: Set-Cookie stays out... */
	static const struct st_case dt[] = {
	    {NULL, NULL, 200, "Set-Cookie: a=b", STORE_SET_COOKIE},
	    {NULL, NULL, 200, "Date: @0", STORE_OK},
	};
	k.default_ttl = 300;
	RUN_ST(dt, &k);
	/* ...but a rule's ttl override is the operator's explicit word. */
	static const struct st_case ot[] = {
	    {NULL, NULL, 200, "Set-Cookie: a=b", STORE_OK},
	};
	k = knobs();
	k.ttl_override = 60;
	RUN_ST(ot, &k);
}

Test(cache_policy, storable_must_understand)
{
	/* RFC 9111 5.2.2.3: must-understand lets a cache that knows the
	 * status ignore no-store; an unknown status is never stored. */
	static const struct st_case t[] = {
	    {NULL, NULL, 200, "Cache-Control: must-understand, no-store, max-age=60", STORE_OK},
	    {NULL, NULL, 404, "Cache-Control: must-understand, no-store, max-age=60", STORE_OK},
	    {NULL, NULL, 200, "Cache-Control: must-understand, max-age=60", STORE_OK},
	    {NULL, NULL, 299, "Cache-Control: must-understand, no-store, max-age=60",
	     STORE_NO_STATUS},
	    {NULL, NULL, 299, "Cache-Control: must-understand, max-age=60", STORE_NO_STATUS},
	    {NULL, NULL, 402, "Cache-Control: must-understand, max-age=60", STORE_NO_STATUS},
	    /* Without it, the unknown status with explicit freshness is fine. */
	    {NULL, NULL, 299, "Cache-Control: max-age=60", STORE_OK},
	    {NULL, NULL, 299, "Cache-Control: no-store, max-age=60", STORE_NO_STORE},
	    /* It does not override the request's no-store nor private. */
	    {NULL, "Cache-Control: no-store", 200,
	     "Cache-Control: must-understand, no-store, max-age=60", STORE_NO_STORE},
	    {NULL, NULL, 200, "Cache-Control: must-understand, private, max-age=60", STORE_PRIVATE},
	    /* With a value it is malformed and does not count. */
	    {NULL, NULL, 200, "Cache-Control: must-understand=1, no-store, max-age=60",
	     STORE_NO_STORE},
	};
	struct policy_knobs k = knobs();
	RUN_ST(t, &k);
	cr_expect(policy_status_understood(200));
	cr_expect(policy_status_understood(302));
	cr_expect(!policy_status_understood(206));
	cr_expect(!policy_status_understood(299));
	cr_expect(!policy_status_understood(500));
}

Test(cache_policy, storable_names)
{
	cr_expect_str_eq(policy_storable_name(STORE_OK), "stored");
	cr_expect_str_eq(policy_storable_name(STORE_NO_LIFETIME), "no-lifetime");
	cr_expect_str_eq(policy_storable_name(STORE_SET_COOKIE), "set-cookie");
}

/* --- lifetime ------------------------------------------------------------ */

struct lt_case {
	int status; /* 0: 200 */
	const char *resp;
	int64_t want;
};

static void run_lifetime(const struct lt_case *c, size_t n, const struct policy_knobs *k)
{
	for (size_t i = 0; i < n; i++) {
		struct resp_meta rm;
		resp(&rm, c[i].status ? c[i].status : 200, c[i].resp);
		int64_t got = policy_lifetime(&rm, k);
		cr_expect_eq(got, c[i].want, "#%zu [%s]: got %lld, want %lld", i,
			     c[i].resp ? c[i].resp : "", (long long)got, (long long)c[i].want);
	}
}

#define RUN_LT(t, k) run_lifetime(t, sizeof(t) / sizeof(t[0]), k)

Test(cache_policy, lifetime_precedence)
{
	static const struct lt_case t[] = {
	    {0, "Date: @0\nExpires: @30\nCache-Control: max-age=50, s-maxage=100", 100},
	    {0, "Date: @0\nExpires: @30\nCache-Control: s-maxage=0, max-age=50", 0},
	    {0, "Date: @0\nExpires: @30\nCache-Control: max-age=50", 50},
	    {0, "Date: @0\nExpires: @300\nCache-Control: max-age=50", 50},
	    {0, "Date: @0\nExpires: @30", 30},
	    /* Expires counts from Date, not from when it arrived. */
	    {0, "Date: @-100\nExpires: @30", 130},
	    {0, "Date: @10\nExpires: @30", 20},
	    {0, "Date: @0\nExpires: @-30", 0},
	    {0, "Date: @0\nExpires: @0", 0},
	    /* Explicit beats heuristic, even a stale explicit. */
	    {0, "Date: @0\nLast-Modified: @-100000\nCache-Control: max-age=5", 5},
	    {0, "Date: @0\nLast-Modified: @-100000\nExpires: @-1", 0},
	    /* Directives are case-insensitive; multiple lines combine. */
	    {0, "Cache-Control: public\nCache-Control: MAX-AGE=77", 77},
	};
	struct policy_knobs k = knobs();
	k.default_ttl = 999;
	RUN_LT(t, &k);
}

Test(cache_policy, lifetime_invalid_values)
{
	static const struct lt_case t[] = {
	    /* RFC 9111 4.2.1: an invalid max-age means stale, not "absent". */
	    {0, "Date: @0\nExpires: @300\nCache-Control: max-age=abc", 0},
	    {0, "Date: @0\nExpires: @300\nCache-Control: max-age=-1", 0},
	    {0, "Cache-Control: max-age=10\nCache-Control: max-age=20", 0},
	    {0, "Cache-Control: max-age=60, s-maxage=x", 0},
	    {0, "Cache-Control: max-age", 0},
	    /* Same value twice is fine. */
	    {0, "Cache-Control: max-age=10, max-age=10", 10},
	    /* 2^31 cap (RFC 9111 1.2.2). */
	    {0, "Cache-Control: max-age=99999999999", 2147483648LL},
	    /* Invalid Expires (5.3): already expired. */
	    {0, "Date: @0\nExpires: 0", 0},
	    {0, "Date: @0\nExpires: yesterday", 0},
	    {0, "Date: @0\nExpires: @60\nExpires: @60", 0},
	};
	struct policy_knobs k = knobs();
	k.default_ttl = 999;
	RUN_LT(t, &k);

	struct resp_meta rm;
	resp(&rm, 200, "Date: @5\nExpires: never");
	cr_expect_eq(rm.date, T0 + 5);
	cr_expect_eq(rm.expires, T0 + 4, "invalid Expires is date - 1");
	resp(&rm, 200, "Date: @5");
	cr_expect_eq(rm.expires, POLICY_NONE);
	/* No or invalid Date: the time the response arrived. */
	resp_at(&rm, 200, "Date: garbage", (T0 + 7) * 1000, (T0 + 7) * 1000 + 400);
	cr_expect_eq(rm.date, T0 + 7);
	resp_at(&rm, 200, NULL, (T0 + 7) * 1000, (T0 + 7) * 1000);
	cr_expect_eq(rm.date, T0 + 7);
}

Test(cache_policy, lifetime_heuristic_and_default)
{
	static const struct lt_case t[] = {
	    /* 10% of Date - Last-Modified. */
	    {0, "Date: @0\nLast-Modified: @-1000", 100},
	    {0, "Date: @0\nLast-Modified: @-1009", 100},
	    {404, "Date: @0\nLast-Modified: @-5000", 500},
	    /* Capped by heuristic_max. */
	    {0, "Date: @0\nLast-Modified: @-100000000", 86400},
	    {0, "Date: @0\nLast-Modified: @-864000", 86400},
	    {0, "Date: @0\nLast-Modified: @-863990", 86399},
	    /* Last-Modified after Date: no heuristic, the default applies. */
	    {0, "Date: @0\nLast-Modified: @100", 300},
	    /* Not default-cacheable: no heuristic. */
	    {302, "Date: @0\nLast-Modified: @-1000", 300},
	    /* Invalid Last-Modified is as good as none. */
	    {0, "Date: @0\nLast-Modified: last week", 300},
	    /* Nothing at all: the default ttl. */
	    {0, "Date: @0", 300},
	    {0, "Cache-Control: public", 300},
	};
	struct policy_knobs k = knobs();
	k.default_ttl = 300;
	RUN_LT(t, &k);

	static const struct lt_case nodefault[] = {
	    {0, "Date: @0", 0},
	    {0, "Date: @0\nLast-Modified: @-1000", 200},
	};
	k.default_ttl = 0;
	k.heuristic_percent = 20;
	RUN_LT(nodefault, &k);

	static const struct lt_case capped[] = {
	    {0, "Date: @0\nLast-Modified: @-1000", 50},
	};
	k.heuristic_max = 50;
	RUN_LT(capped, &k);
}

Test(cache_policy, lifetime_ttl_override)
{
	static const struct lt_case t[] = {
	    {0, "Cache-Control: s-maxage=100, max-age=50", 5},
	    {0, "Cache-Control: max-age=abc", 5},
	    {0, "Date: @0\nExpires: @-10", 5},
	    {0, NULL, 5},
	};
	struct policy_knobs k = knobs();
	k.ttl_override = 5;
	RUN_LT(t, &k);
	static const struct lt_case zero[] = {
	    {0, "Cache-Control: max-age=600", 0},
	};
	k.ttl_override = 0;
	RUN_LT(zero, &k);
}

Test(cache_policy, lifetime_cdn_cache_control)
{
	/* RFC 9213: a valid CDN-Cache-Control replaces Cache-Control entirely. */
	static const struct lt_case t[] = {
	    {0, "Cache-Control: max-age=60\nCDN-Cache-Control: max-age=30", 30},
	    {0, "Cache-Control: s-maxage=60\nCDN-Cache-Control: max-age=30", 30},
	    {0, "CDN-Cache-Control: max-age=30\nCache-Control: no-store", 30},
	    {0, "Date: @0\nExpires: @10\nCDN-Cache-Control: max-age=30", 30},
	    {0, "CDN-Cache-Control: s-maxage=40, max-age=30", 40},
	    /* Not a valid Structured Field, or a known directive of the wrong
	     * type: the whole field is ignored and Cache-Control applies. */
	    {0, "Cache-Control: max-age=60\nCDN-Cache-Control: max-age=x", 60},
	    {0, "Cache-Control: max-age=60\nCDN-Cache-Control: max-age=\"30\"", 60},
	    {0, "Cache-Control: max-age=60\nCDN-Cache-Control: max-age=30.0", 60},
	    {0, "Cache-Control: max-age=60\nCDN-Cache-Control: max-age=-30", 60},
	    {0, "Cache-Control: max-age=60\nCDN-Cache-Control: max-age", 60},
	    {0, "Cache-Control: max-age=60\nCDN-Cache-Control: &&&&&", 60},
	    {0, "Cache-Control: max-age=60\nCDN-Cache-Control: max-age=30, &&&&&", 60},
	    {0, "Cache-Control: max-age=60\nCDN-Cache-Control: Max-Age=30", 60},
	    {0, "Cache-Control: max-age=60\nCDN-Cache-Control: max-age=30;", 60},
	    {0, "Cache-Control: max-age=60\nCDN-Cache-Control: max-age=30,", 60},
	    {0, "Cache-Control: max-age=60\nCDN-Cache-Control: max-age=30, no-store=1", 60},
	    /* Valid: parameters and unknown members are ignored; lines join. */
	    {0, "Cache-Control: max-age=60\nCDN-Cache-Control: max-age=30;foo=bar", 30},
	    {0, "Cache-Control: max-age=60\nCDN-Cache-Control: max-age=30, ext=(a \"b\")", 30},
	    {0, "Cache-Control: max-age=60\nCDN-Cache-Control: max-age=30, no-store=?0", 30},
	    {0, "Cache-Control: max-age=60\nCDN-Cache-Control: max-age=10, max-age=30", 30},
	    {0, "Cache-Control: max-age=60\nCDN-Cache-Control: foo\nCDN-Cache-Control: max-age=30",
	     30},
	    /* Split so that the joined field is invalid: all of it is ignored. */
	    {0, "Cache-Control: max-age=60\nCDN-Cache-Control: max-age=30\nCDN-Cache-Control: &",
	     60},
	    /* Beats Surrogate-Control too. */
	    {0, "Surrogate-Control: max-age=50\nCDN-Cache-Control: max-age=20", 20},
	};
	struct policy_knobs k = knobs();
	RUN_LT(t, &k);

	struct resp_meta rm;
	resp(&rm, 200, "Cache-Control: max-age=60\nCDN-Cache-Control: no-store");
	cr_expect(rm.cdn_cc);
	cr_expect(rm.cc.flags & CC_NO_STORE);
	resp(&rm, 200, "Cache-Control: max-age=60");
	cr_expect(!rm.cdn_cc);
	resp(&rm, 200, "Cache-Control: max-age=60\nCDN-Cache-Control: max-age=\"5\"");
	cr_expect(!rm.cdn_cc);
	cr_expect_eq(rm.cc.delta[CC_MAX_AGE], 60);
	resp(&rm, 200, "CDN-Cache-Control: max-age=99999999999, stale-if-error=7");
	cr_expect(rm.cdn_cc);
	cr_expect_eq(rm.cc.delta[CC_MAX_AGE], 2147483648LL);
	cr_expect_eq(rm.cc.delta[CC_STALE_IF_ERROR], 7);

	static const struct st_case st[] = {
	    {NULL, NULL, 200, "Cache-Control: max-age=60\nCDN-Cache-Control: no-store",
	     STORE_NO_STORE},
	    {NULL, NULL, 200, "Cache-Control: no-store\nCDN-Cache-Control: max-age=60", STORE_OK},
	    {NULL, NULL, 200, "Cache-Control: private\nCDN-Cache-Control: max-age=60", STORE_OK},
	    {NULL, NULL, 200, "Cache-Control: max-age=60\nCDN-Cache-Control: private",
	     STORE_PRIVATE},
	    {NULL, NULL, 200, "Cache-Control: no-store\nCDN-Cache-Control: max-age=60, private=?0",
	     STORE_OK},
	    {NULL, NULL, 200, "Cache-Control: max-age=60\nCDN-Cache-Control: no-store=?1",
	     STORE_NO_STORE},
	    /* Invalid: falls back to Cache-Control's no-store. */
	    {NULL, NULL, 200, "Cache-Control: no-store\nCDN-Cache-Control: max-age=\"60\"",
	     STORE_NO_STORE},
	    {NULL, NULL, 200, "Cache-Control: no-store\nCDN-Cache-Control: &&&&&", STORE_NO_STORE},
	    {NULL, NULL, 200, "Cache-Control: no-store\nCDN-Cache-Control: max-age=60, private=1",
	     STORE_NO_STORE},
	};
	RUN_ST(st, &k);
}

Test(cache_policy, lifetime_surrogate_control)
{
	static const struct lt_case t[] = {
	    /* Untargeted Surrogate-Control is for every surrogate. */
	    {0, "Cache-Control: max-age=60\nSurrogate-Control: max-age=30", 30},
	    /* Targeted at us ("ringcache", any case, OWS allowed). */
	    {0, "Cache-Control: max-age=60\nSurrogate-Control: max-age=30;ringcache", 30},
	    {0, "Cache-Control: max-age=60\nSurrogate-Control: max-age=30; RingCache ", 30},
	    /* Targeted at someone else: skipped, Cache-Control applies. */
	    {0, "Cache-Control: max-age=60\nSurrogate-Control: max-age=30;akamai", 60},
	    {0, "Cache-Control: max-age=60\nSurrogate-Control: max-age=30;ringcache2", 60},
	    {0,
	     "Cache-Control: max-age=60\nSurrogate-Control: max-age=30;other, max-age=40;ringcache",
	     40},
	    {0, "Cache-Control: max-age=60\nSurrogate-Control: max-age=30;other, max-age=45", 45},
	    {0,
	     "Cache-Control: max-age=60\nSurrogate-Control: no-store;other\nSurrogate-Control: "
	     "max-age=25",
	     25},
	};
	struct policy_knobs k = knobs();
	RUN_LT(t, &k);

	static const struct st_case st[] = {
	    {NULL, NULL, 200, "Cache-Control: max-age=60\nSurrogate-Control: no-store;ringcache",
	     STORE_NO_STORE},
	    {NULL, NULL, 200, "Cache-Control: max-age=60\nSurrogate-Control: no-store;other",
	     STORE_OK},
	    {NULL, NULL, 200, "Cache-Control: no-store\nSurrogate-Control: max-age=60", STORE_OK},
	};
	RUN_ST(st, &k);
}

/* --- age ----------------------------------------------------------------- */

struct age_case {
	const char *resp;
	int64_t req_ms, resp_ms; /* relative to T0 * 1000 */
	int64_t now;		 /* relative to T0 */
	int64_t want;
};

static void run_age(const struct age_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct resp_meta rm;
		resp_at(&rm, 200, c[i].resp, T0 * 1000 + c[i].req_ms, T0 * 1000 + c[i].resp_ms);
		int64_t got = policy_age(&rm, T0 + c[i].now);
		cr_expect_eq(got, c[i].want,
			     "#%zu [%s] req %+lld ms resp %+lld ms now %+lld: got %lld, want %lld",
			     i, c[i].resp ? c[i].resp : "", (long long)c[i].req_ms,
			     (long long)c[i].resp_ms, (long long)c[i].now, (long long)got,
			     (long long)c[i].want);
	}
}

Test(cache_policy, age_rfc9111_4_2_3)
{
	static const struct age_case t[] = {
	    /* Fresh from the origin, then resident time. */
	    {"Date: @0", 0, 0, 0, 0},
	    {"Date: @0", 0, 0, 100, 100},
	    /* now before the response arrived: resident time is not negative. */
	    {"Date: @0", 0, 0, -50, 0},
	    /* Apparent age: response_time - Date. */
	    {"Date: @-50", 0, 0, 0, 50},
	    {"Date: @-50", 0, 0, 10, 60},
	    /* A Date in the future (clock skew) is apparent age 0. */
	    {"Date: @50", 0, 0, 0, 0},
	    {"Date: @50", 0, 0, 5, 5},
	    /* Age header, corrected by the response delay. */
	    {"Date: @0\nAge: 30", 0, 0, 0, 30},
	    {"Date: @0\nAge: 30", 0, 0, 10, 40},
	    {"Date: @0\nAge: 30", -2000, 0, 0, 32},
	    /* Delay in ms: 999 ms is not rounded up to a second... */
	    {"Date: @0\nAge: 30", -999, 0, 0, 30},
	    /* ...even across a second boundary of the wall clock. */
	    {"Date: @1\nAge: 30", 900, 1100, 1, 30},
	    {"Date: @0\nAge: 30", -1500, 0, 0, 31},
	    /* No Age: the delay alone still counts. */
	    {"Date: @0", -3000, 0, 0, 3},
	    /* corrected_initial_age = max(apparent, corrected Age). */
	    {"Date: @-100\nAge: 30", 0, 0, 0, 100},
	    {"Date: @-10\nAge: 30", 0, 0, 0, 30},
	    {"Date: @-10\nAge: 30", 0, 0, 20, 50},
	    /* A list Age uses its first member. */
	    {"Date: @0\nAge: 0,7200", 0, 0, 0, 0},
	    /* Resident time counts from the arrival: 1 s of delay + 3 s resident. */
	    {"Date: @5", 4000, 5000, 8, 4},
	};
	run_age(t, sizeof(t) / sizeof(t[0]));
}

struct age_fresh_case {
	const char *age;  /* Age field lines, "\n" between them */
	int64_t want_age; /* resp_meta.age */
	bool fresh;	  /* with max-age=60, at T0 */
};

/* RFC 9111 5.1: a list-based Age uses its first member, also across field
 * lines; an invalid Age is ignored, so max-age alone decides; a value too
 * large to represent saturates at 2^31 (1.2.2) and makes it stale. */
Test(cache_policy, age_field_freshness)
{
	static const struct age_fresh_case t[] = {
	    {"10", 10, true},
	    {"10, 20", 10, true},
	    {"10\nAge: 20", 10, true},
	    {"10\nAge: 100", 10, true},
	    {"100\nAge: 10", 100, false},
	    {"100, 10", 100, false},
	    {"0, 0", 0, true},
	    {"\nAge: 10", 10, true}, /* an empty first line has no member */
	    {"abc", 0, true},
	    {"-5", 0, true},
	    {"1.5", 0, true},
	    {"10abc", 0, true},
	    {"abc, 100", 0, true},
	    {"abc\nAge: 100", 0, true}, /* the first member is invalid: all ignored */
	    {"", 0, true},
	    {" 10 ", 10, true},
	    {"59", 59, true},
	    {"60", 60, false},
	    {"2147483647", 2147483647, false},
	    {"2147483648", 2147483648LL, false},
	    {"99999999999999999999", 2147483648LL, false},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char lines[128];
		snprintf(lines, sizeof(lines), "Date: @0\nCache-Control: max-age=60\nAge: %s",
			 t[i].age);
		struct resp_meta rm;
		resp(&rm, 200, lines);
		cr_expect_eq(rm.age, t[i].want_age, "[%s]: age %lld, want %lld", t[i].age,
			     (long long)rm.age, (long long)t[i].want_age);
		struct policy_knobs k = knobs();
		int64_t life = policy_lifetime(&rm, &k);
		cr_expect_eq(life, 60, "[%s]: lifetime %lld", t[i].age, (long long)life);
		struct req_meta rq;
		req(&rq, "GET", NULL);
		enum usable u = policy_usable(&rq, &rm, life, false, T0);
		cr_expect_eq(u == USE_FRESH, t[i].fresh, "[%s]: usable %d, want %s", t[i].age,
			     (int)u, t[i].fresh ? "fresh" : "stale");
	}
}

Test(cache_policy, age_absent_and_delay)
{
	struct resp_meta rm;
	resp(&rm, 200, "Date: @0");
	cr_expect_eq(rm.age, 0, "absent Age is 0");
	resp_at(&rm, 200, "Date: @0", T0 * 1000 - 250, T0 * 1000);
	cr_expect_eq(rm.response_delay_ms, 250);
	/* A response "before" its request (clock step): no negative delay. */
	resp_at(&rm, 200, "Date: @0", T0 * 1000 + 250, T0 * 1000);
	cr_expect_eq(rm.response_delay_ms, 0);
}

/* --- usable -------------------------------------------------------------- */

struct use_case {
	const char *req;
	const char *resp;
	bool soft;
	int64_t now; /* relative to T0 */
	enum usable want;
};

static const char *use_name(enum usable u)
{
	static const char *const n[] = {"FRESH", "STALE_OK", "STALE_REVALIDATE", "REVALIDATE"};
	return u <= USE_REVALIDATE ? n[u] : "?";
}

static void run_usable(const struct use_case *c, size_t n)
{
	struct policy_knobs k = knobs();
	for (size_t i = 0; i < n; i++) {
		struct req_meta rq;
		struct resp_meta rm;
		req(&rq, "GET", c[i].req);
		resp(&rm, 200, c[i].resp);
		enum usable got =
		    policy_usable(&rq, &rm, policy_lifetime(&rm, &k), c[i].soft, T0 + c[i].now);
		cr_expect_eq(got, c[i].want, "#%zu req [%s] resp [%s]%s now %+lld: got %s, want %s",
			     i, c[i].req ? c[i].req : "", c[i].resp, c[i].soft ? " soft" : "",
			     (long long)c[i].now, use_name(got), use_name(c[i].want));
	}
}

#define RUN_USE(t) run_usable(t, sizeof(t) / sizeof(t[0]))

#define MA60 "Date: @0\nCache-Control: max-age=60"

Test(cache_policy, usable_fresh_and_stale)
{
	static const struct use_case t[] = {
	    {NULL, MA60, false, 0, USE_FRESH},
	    {NULL, MA60, false, 59, USE_FRESH},
	    /* Fresh means lifetime > age: at exactly 60 it is stale. */
	    {NULL, MA60, false, 60, USE_REVALIDATE},
	    {NULL, MA60, false, 1000, USE_REVALIDATE},
	    /* Age received counts. */
	    {NULL, MA60 "\nAge: 50", false, 9, USE_FRESH},
	    {NULL, MA60 "\nAge: 50", false, 10, USE_REVALIDATE},
	    {NULL, "Date: @0\nExpires: @30", false, 29, USE_FRESH},
	    {NULL, "Date: @0\nExpires: @30", false, 30, USE_REVALIDATE},
	    /* Stale on arrival. */
	    {NULL, "Cache-Control: max-age=0", false, 0, USE_REVALIDATE},
	    {NULL, "Date: @0\nExpires: bogus", false, 0, USE_REVALIDATE},
	};
	RUN_USE(t);
}

Test(cache_policy, usable_request_directives)
{
	static const struct use_case t[] = {
	    /* max-age: the age must not exceed it. */
	    {"Cache-Control: max-age=10", MA60, false, 10, USE_FRESH},
	    {"Cache-Control: max-age=10", MA60, false, 11, USE_REVALIDATE},
	    {"Cache-Control: max-age=0", MA60, false, 1, USE_REVALIDATE},
	    /* min-fresh: at least that much freshness left. */
	    {"Cache-Control: min-fresh=20", MA60, false, 40, USE_FRESH},
	    {"Cache-Control: min-fresh=20", MA60, false, 41, USE_REVALIDATE},
	    {"Cache-Control: min-fresh=100", MA60, false, 0, USE_REVALIDATE},
	    /* max-stale: stale up to that much is acceptable. */
	    {"Cache-Control: max-stale=30", MA60, false, 30, USE_FRESH},
	    {"Cache-Control: max-stale=30", MA60, false, 80, USE_STALE_OK},
	    {"Cache-Control: max-stale=30", MA60, false, 90, USE_STALE_OK},
	    {"Cache-Control: max-stale=30", MA60, false, 91, USE_REVALIDATE},
	    {"Cache-Control: max-stale", MA60, false, 1000000, USE_STALE_OK},
	    /* max-age still bounds what max-stale allows. */
	    {"Cache-Control: max-stale, max-age=70", MA60, false, 71, USE_REVALIDATE},
	    {"Cache-Control: max-stale, max-age=70", MA60, false, 65, USE_STALE_OK},
	    /* no-cache: always validate. */
	    {"Cache-Control: no-cache", MA60, false, 0, USE_REVALIDATE},
	    {"Cache-Control: no-cache, max-stale", MA60, false, 0, USE_REVALIDATE},
	    /* Pragma: no-cache counts only without Cache-Control (5.4). */
	    {"Pragma: no-cache", MA60, false, 0, USE_REVALIDATE},
	    {"Pragma: no-cache\nCache-Control: max-stale=5", MA60, false, 0, USE_FRESH},
	    {"Pragma: no-cache\nCache-Control: max-age=100", MA60, false, 0, USE_FRESH},
	    {"Pragma: foo", MA60, false, 0, USE_FRESH},
	    /* Unknown request directives change nothing. */
	    {"Cache-Control: foo, bar=1", MA60, false, 0, USE_FRESH},
	};
	RUN_USE(t);

	struct req_meta rq;
	req(&rq, "GET", "Pragma: no-cache");
	cr_expect(rq.pragma_no_cache);
	req(&rq, "GET", "Pragma: no-cache\nCache-Control: max-age=5");
	cr_expect(!rq.pragma_no_cache);
	req(&rq, "GET", "Authorization: Bearer x");
	cr_expect(rq.has_authorization);
	cr_expect_eq(rq.method, HTTP_GET);
}

Test(cache_policy, usable_response_directives)
{
	static const struct use_case t[] = {
	    /* no-cache: stored, but validated on every use, even fresh. */
	    {NULL, "Date: @0\nCache-Control: no-cache, max-age=60", false, 0, USE_REVALIDATE},
	    {"Cache-Control: max-stale", "Date: @0\nCache-Control: no-cache, max-age=60", false, 0,
	     USE_REVALIDATE},
	    /* Qualified no-cache only concerns the named fields. */
	    {NULL, "Date: @0\nCache-Control: no-cache=\"Set-Cookie\", max-age=60", false, 0,
	     USE_FRESH},
	    /* must-revalidate / proxy-revalidate: never stale, whatever the client says. */
	    {"Cache-Control: max-stale", "Date: @0\nCache-Control: must-revalidate, max-age=60",
	     false, 10, USE_FRESH},
	    {"Cache-Control: max-stale", "Date: @0\nCache-Control: must-revalidate, max-age=60",
	     false, 61, USE_REVALIDATE},
	    {"Cache-Control: max-stale=100",
	     "Date: @0\nCache-Control: proxy-revalidate, max-age=60", false, 61, USE_REVALIDATE},
	    {NULL,
	     "Date: @0\nCache-Control: must-revalidate, max-age=60, stale-while-revalidate=30",
	     false, 70, USE_REVALIDATE},
	    /* stale-while-revalidate window: serve and refresh. */
	    {NULL, "Date: @0\nCache-Control: max-age=60, stale-while-revalidate=30", false, 59,
	     USE_FRESH},
	    {NULL, "Date: @0\nCache-Control: max-age=60, stale-while-revalidate=30", false, 60,
	     USE_STALE_REVALIDATE},
	    {NULL, "Date: @0\nCache-Control: max-age=60, stale-while-revalidate=30", false, 90,
	     USE_STALE_REVALIDATE},
	    {NULL, "Date: @0\nCache-Control: max-age=60, stale-while-revalidate=30", false, 91,
	     USE_REVALIDATE},
	    /* The client's max-stale wins over the window (no refresh needed). */
	    {"Cache-Control: max-stale=10",
	     "Date: @0\nCache-Control: max-age=60, stale-while-revalidate=30", false, 65,
	     USE_STALE_OK},
	    /* A request no-cache overrides the window. */
	    {"Cache-Control: no-cache",
	     "Date: @0\nCache-Control: max-age=60, stale-while-revalidate=30", false, 65,
	     USE_REVALIDATE},
	};
	RUN_USE(t);
}

Test(cache_policy, usable_soft_stale)
{
	/* A soft purge makes a fresh object exactly stale now. */
	static const struct use_case t[] = {
	    {NULL, MA60, true, 0, USE_REVALIDATE},
	    {NULL, MA60, true, 30, USE_REVALIDATE},
	    {NULL, "Date: @0\nCache-Control: max-age=60, stale-while-revalidate=5", true, 30,
	     USE_STALE_REVALIDATE},
	    /* Staleness starts at 0 now, so even a short max-stale accepts it. */
	    {"Cache-Control: max-stale=1", MA60, true, 30, USE_STALE_OK},
	    {"Cache-Control: max-stale=1", "Date: @0\nCache-Control: must-revalidate, max-age=60",
	     true, 30, USE_REVALIDATE},
	    /* Already stale objects are not made any fresher. */
	    {NULL, "Date: @0\nCache-Control: max-age=60, stale-while-revalidate=5", true, 70,
	     USE_REVALIDATE},
	};
	RUN_USE(t);
}

/*
 * RFC 9111 5.2.2.10: s-maxage "incorporates the semantics of the
 * proxy-revalidate response directive for a shared cache", and 4.2.4: a
 * cache MUST NOT generate a stale response if that is prohibited by "an
 * applicable s-maxage or proxy-revalidate response directive". So a shared
 * cache (ringcache) may not answer with a stale s-maxage response just
 * because the client sent max-stale, exactly as for proxy-revalidate above.
 */
Test(cache_policy, usable_s_maxage_is_proxy_revalidate)
{
	static const struct use_case t[] = {
	    {"Cache-Control: max-stale", "Date: @0\nCache-Control: s-maxage=60", false, 10,
	     USE_FRESH},
	    {"Cache-Control: max-stale", "Date: @0\nCache-Control: s-maxage=60", false, 61,
	     USE_REVALIDATE},
	    {"Cache-Control: max-stale=100", "Date: @0\nCache-Control: max-age=600, s-maxage=60",
	     false, 61, USE_REVALIDATE},
	};
	RUN_USE(t);
}

/* --- stale on error ------------------------------------------------------ */

struct soe_case {
	const char *req;
	const char *resp;
	int64_t grace;
	int64_t now;
	bool want;
};

/* ANSWERED: the origin answered with a 5xx (not disconnected). */
static void run_soe_as(const struct soe_case *c, size_t n, bool answered)
{
	struct policy_knobs k = knobs();
	for (size_t i = 0; i < n; i++) {
		struct req_meta rq;
		struct resp_meta rm;
		req(&rq, "GET", c[i].req);
		resp(&rm, 200, c[i].resp);
		bool got = policy_stale_on_error(&rq, &rm, policy_lifetime(&rm, &k), c[i].grace,
						 !answered, T0 + c[i].now);
		cr_expect_eq(got, c[i].want,
			     "#%zu req [%s] resp [%s] grace %lld now %+lld answered %d: got %d", i,
			     c[i].req ? c[i].req : "", c[i].resp, (long long)c[i].grace,
			     (long long)c[i].now, answered, got);
	}
}

static void run_soe(const struct soe_case *c, size_t n)
{
	run_soe_as(c, n, false);
}

Test(cache_policy, stale_on_error)
{
	static const struct soe_case t[] = {
	    /* Still fresh: fine. */
	    {NULL, MA60, 0, 30, true},
	    /* Stale without permission: no. */
	    {NULL, MA60, 0, 61, false},
	    /* stale-if-error in the response (RFC 5861 4). */
	    {NULL, "Date: @0\nCache-Control: max-age=60, stale-if-error=30", 0, 90, true},
	    {NULL, "Date: @0\nCache-Control: max-age=60, stale-if-error=30", 0, 91, false},
	    /* ...or in the request. */
	    {"Cache-Control: stale-if-error=30", MA60, 0, 90, true},
	    {"Cache-Control: stale-if-error=30", MA60, 0, 91, false},
	    {"Cache-Control: stale-if-error=5",
	     "Date: @0\nCache-Control: max-age=60, stale-if-error=30", 0, 80, true},
	    /* The configured grace. */
	    {NULL, MA60, 100, 160, true},
	    {NULL, MA60, 100, 161, false},
	    {NULL, "Date: @0\nCache-Control: max-age=60, stale-if-error=10", 100, 150, true},
	    /* must-revalidate / proxy-revalidate forbid it, whoever allows it. */
	    {NULL, "Date: @0\nCache-Control: must-revalidate, max-age=60, stale-if-error=30", 0, 70,
	     false},
	    {"Cache-Control: stale-if-error=30",
	     "Date: @0\nCache-Control: must-revalidate, max-age=60", 0, 70, false},
	    {NULL, "Date: @0\nCache-Control: must-revalidate, max-age=60", 1000, 70, false},
	    {NULL, "Date: @0\nCache-Control: proxy-revalidate, max-age=60", 1000, 70, false},
	    {NULL, "Date: @0\nCache-Control: no-cache, must-revalidate, max-age=60", 1000, 70,
	     false},
	    /* no-cache alone forbids it too (5.2.2.4), also with stale-if-error. */
	    {NULL, "Date: @0\nCache-Control: no-cache, max-age=60", 1000, 70, false},
	    {"Cache-Control: stale-if-error=30", "Date: @0\nCache-Control: no-cache, max-age=60",
	     1000, 70, false},
	    /* The default grace (10 s) against the same forbidding directives. */
	    {NULL, MA60, 10, 70, true},
	    {NULL, MA60, 10, 71, false},
	    {NULL, "Date: @0\nCache-Control: must-revalidate, max-age=60", 10, 65, false},
	    {NULL, "Date: @0\nCache-Control: proxy-revalidate, max-age=60", 10, 65, false},
	    {NULL, "Date: @0\nCache-Control: no-cache, max-age=60", 10, 65, false},
	    {NULL, "Date: @0\nCache-Control: s-maxage=60", 10, 65, false},
	};
	run_soe(t, sizeof(t) / sizeof(t[0]));
}

/* An origin that answers with a 5xx is not a disconnected one (RFC 9111
 * 4.2.4): grace does not apply, stale-if-error (RFC 5861 4) still does. */
Test(cache_policy, stale_on_5xx_needs_stale_if_error)
{
	static const struct soe_case answered[] = {
	    /* Within grace, but the origin answered: no stale. */
	    {NULL, MA60, 10, 65, false},
	    {NULL, MA60, 1000, 61, false},
	    /* stale-if-error in the response or the request covers a 5xx... */
	    {NULL, "Date: @0\nCache-Control: max-age=60, stale-if-error=30", 10, 90, true},
	    {"Cache-Control: stale-if-error=30", MA60, 10, 90, true},
	    /* ...only within its window, whatever the grace. */
	    {NULL, "Date: @0\nCache-Control: max-age=0, stale-if-error=1", 10, 3, false},
	    {"Cache-Control: stale-if-error=1", "Date: @0\nCache-Control: max-age=0", 10, 3, false},
	    /* Still fresh: served whatever happened. */
	    {NULL, MA60, 0, 30, true},
	};
	run_soe_as(answered, sizeof(answered) / sizeof(answered[0]), true);
	/* The same response and moment with the origin unreachable: stale. */
	static const struct soe_case gone[] = {
	    {NULL, MA60, 10, 65, true},
	    {NULL, "Date: @0\nCache-Control: max-age=0, stale-if-error=1", 10, 3, true},
	};
	run_soe_as(gone, sizeof(gone) / sizeof(gone[0]), false);
}

/* s-maxage carries proxy-revalidate for a shared cache (RFC 9111
 * 5.2.2.10); the configured grace must not override it any more than it
 * overrides proxy-revalidate (the case above). */
Test(cache_policy, stale_on_error_s_maxage_forbids_grace)
{
	static const struct soe_case t[] = {
	    {NULL, "Date: @0\nCache-Control: s-maxage=60", 1000, 70, false},
	};
	run_soe(t, sizeof(t) / sizeof(t[0]));
}

/* Web cache deception: a response to a request with credentials is kept
 * only with explicit freshness (or public, or the operator's ttl), never
 * on a heuristic or default lifetime. */
Test(cache_policy, storable_credentials)
{
	static const struct st_case t[] = {
	    /* Heuristic material only: refused with a Cookie or Authorization. */
	    {NULL, "Cookie: sid=alice", 200, "Date: @1000\nLast-Modified: @0", STORE_CREDENTIALS},
	    {NULL, "Cookie: sid=alice", 200, "ETag: \"a\"", STORE_CREDENTIALS},
	    {NULL, "Cookie: sid=alice", 200, "Cache-Control: no-cache\nETag: \"a\"",
	     STORE_CREDENTIALS},
	    {NULL, "Authorization: Basic YTpi", 200,
	     "Cache-Control: must-revalidate\nDate: @1000\nLast-Modified: @0", STORE_CREDENTIALS},
	    /* Explicit freshness or public: the origin decided. */
	    {NULL, "Cookie: sid=alice", 200, "Cache-Control: max-age=60", STORE_OK},
	    {NULL, "Cookie: sid=alice", 200, "Date: @0\nExpires: @60", STORE_OK},
	    {NULL, "Cookie: sid=alice", 200, "Cache-Control: s-maxage=60", STORE_OK},
	    {NULL, "Cookie: sid=alice", 200,
	     "Cache-Control: public\nDate: @1000\nLast-Modified: @0", STORE_OK},
	    {NULL, "Authorization: Basic YTpi", 200,
	     "Cache-Control: public\nDate: @1000\nLast-Modified: @0", STORE_OK},
	    /* private still wins. */
	    {NULL, "Cookie: sid=alice", 200, "Cache-Control: private, max-age=60", STORE_PRIVATE},
	    /* Without credentials, heuristics as before. */
	    {NULL, NULL, 200, "Date: @1000\nLast-Modified: @0", STORE_OK},
	    {NULL, "Cookie2: x", 200, "Date: @1000\nLast-Modified: @0", STORE_OK},
	};
	struct policy_knobs k = knobs();
	RUN_ST(t, &k);
	/* A default ttl is a heuristic too. */
	static const struct st_case d[] = {
	    {NULL, "Cookie: a=1", 200, "", STORE_CREDENTIALS},
	    {NULL, NULL, 200, "", STORE_OK},
	};
	k.default_ttl = 600;
	RUN_ST(d, &k);
	/* The operator's ttl override is explicit. */
	static const struct st_case o[] = {{NULL, "Cookie: a=1", 200, "", STORE_OK}};
	k.ttl_override = 60;
	RUN_ST(o, &k);
	/* cache.heuristic_with_credentials: the old rule. */
	static const struct st_case w[] = {
	    {NULL, "Cookie: sid=alice", 200, "Date: @1000\nLast-Modified: @0", STORE_OK},
	    {NULL, "Authorization: Basic YTpi", 200,
	     "Cache-Control: must-revalidate\nDate: @1000\nLast-Modified: @0", STORE_OK},
	};
	k = knobs();
	k.heuristic_with_credentials = true;
	RUN_ST(w, &k);
	cr_assert_str_eq(policy_storable_name(STORE_CREDENTIALS), "credentials");
}

/* --- If-Modified-Since against a stored response ------------------------- */

struct ims_case {
	const char *method;
	const char *req;  /* request lines */
	const char *resp; /* stored response lines */
	bool want;	  /* 304 */
};

Test(cache_policy, if_modified_since_uses_last_modified_then_date_then_receipt)
{
	static const struct ims_case t[] = {
	    /* Last-Modified when there is one (RFC 9110 13.1.3). */
	    {"GET", "If-Modified-Since: @-100", "Date: @0\nLast-Modified: @-100", true},
	    {"GET", "If-Modified-Since: @-101", "Date: @0\nLast-Modified: @-100", false},
	    {"GET", "If-Modified-Since: @-50", "Date: @0\nLast-Modified: @-100", true},
	    /* No Last-Modified: the Date stands in (RFC 9111 4.3.2). */
	    {"GET", "If-Modified-Since: @-10", "Date: @-10", true},
	    {"GET", "If-Modified-Since: @0", "Date: @-10", true},
	    {"GET", "If-Modified-Since: @-11", "Date: @-10", false},
	    {"HEAD", "If-Modified-Since: @-10", "Date: @-10", true},
	    /* An invalid Last-Modified is no Last-Modified. */
	    {"GET", "If-Modified-Since: @-10", "Date: @-10\nLast-Modified: yesterday", true},
	    {"GET", "If-Modified-Since: @-11", "Date: @-10\nLast-Modified: yesterday", false},
	    /* Neither: the time it was received (T0, resp() receives at T0). */
	    {"GET", "If-Modified-Since: @0", "Cache-Control: max-age=60", true},
	    {"GET", "If-Modified-Since: @-1", "Cache-Control: max-age=60", false},
	    /* Ignored (RFC 9110 13.1.3): invalid date, a list, another method. */
	    {"GET", "If-Modified-Since: soon", "Date: @-10", false},
	    {"GET", "If-Modified-Since: @0\nIf-Modified-Since: @0", "Date: @-10", false},
	    {"POST", "If-Modified-Since: @0", "Date: @-10", false},
	    {"GET", NULL, "Date: @-10", false},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct head h;
		struct resp_meta rm;
		char start[64], all[1024];
		snprintf(start, sizeof(start), "%s / HTTP/1.1", t[i].method);
		snprintf(all, sizeof(all), "Host: example.com%s%s", t[i].req ? "\n" : "",
			 t[i].req ? t[i].req : "");
		parse(&h, HMSG_REQUEST, start, all);
		resp(&rm, 200, t[i].resp);
		bool got = policy_not_modified_since(&h.m, &rm, T0 + 5);
		cr_expect_eq(got, t[i].want, "#%zu %s [%s] stored [%s]: got %d", i, t[i].method,
			     t[i].req ? t[i].req : "", t[i].resp, got);
	}
}

/* --- POST responses reused for GETs (RFC 9110 9.3.3) ---------------------- */

static void run_storable_post(const struct st_case *c, size_t n, const struct policy_knobs *k)
{
	for (size_t i = 0; i < n; i++) {
		struct req_meta rq;
		struct resp_meta rm;
		req(&rq, c[i].method ? c[i].method : "POST", c[i].req);
		resp(&rm, c[i].status, c[i].resp);
		enum storable got = policy_storable_post(&rq, &rm, k);
		cr_expect_eq(got, c[i].want, "#%zu [%s] -> %d [%s]: got %s, want %s", i,
			     c[i].req ? c[i].req : "", c[i].status, c[i].resp ? c[i].resp : "",
			     policy_storable_name(got), policy_storable_name(c[i].want));
	}
}

Test(cache_policy, storable_post_needs_explicit_freshness)
{
	static const struct st_case t[] = {
	    {NULL, NULL, 200, "Cache-Control: max-age=60", STORE_OK},
	    {NULL, NULL, 200, "Cache-Control: s-maxage=60", STORE_OK},
	    {NULL, NULL, 200, "Date: @0\nExpires: @3600", STORE_OK},
	    /* Explicit freshness makes any final status storable (RFC 9111 3). */
	    {NULL, NULL, 201, "Cache-Control: max-age=60", STORE_OK},
	    /* "only if they include explicit freshness information": a
	     * heuristic (Last-Modified), public alone or nothing is not. */
	    {NULL, NULL, 200, "Date: @0\nLast-Modified: @-100000", STORE_NO_EXPLICIT},
	    {NULL, NULL, 200, "Cache-Control: public", STORE_NO_EXPLICIT},
	    {NULL, NULL, 200, NULL, STORE_NO_EXPLICIT},
	    {NULL, NULL, 200, "Cache-Control: max-age=abc", STORE_NO_EXPLICIT},
	    /* Then the rules a GET's response meets. */
	    {NULL, NULL, 200, "Cache-Control: max-age=60, no-store", STORE_NO_STORE},
	    {NULL, NULL, 200, "Cache-Control: max-age=60, private", STORE_PRIVATE},
	    {NULL, "Cache-Control: no-store", 200, "Cache-Control: max-age=60", STORE_NO_STORE},
	    {NULL, "Authorization: Basic eDp5", 200, "Cache-Control: max-age=60",
	     STORE_AUTHORIZATION},
	    {NULL, NULL, 206, "Cache-Control: max-age=60", STORE_NO_STATUS},
	    {NULL, NULL, 200, "Cache-Control: max-age=60\nVary: *", STORE_VARY_STAR},
	    /* Another method is not a POST. */
	    {"PUT", NULL, 200, "Cache-Control: max-age=60", STORE_NO_METHOD},
	    {"GET", NULL, 200, "Cache-Control: max-age=60", STORE_NO_METHOD},
	};
	struct policy_knobs k = knobs();
	run_storable_post(t, sizeof(t) / sizeof(t[0]), &k);
	/* A rule's ttl or a default lifetime is not the response's own. */
	k.ttl_override = 600;
	k.default_ttl = 600;
	static const struct st_case u[] = {
	    {NULL, NULL, 200, NULL, STORE_NO_EXPLICIT},
	    {NULL, NULL, 200, "Cache-Control: max-age=60", STORE_OK},
	};
	run_storable_post(u, sizeof(u) / sizeof(u[0]), &k);
	cr_expect_str_eq(policy_storable_name(STORE_NO_EXPLICIT), "no-explicit-freshness");
}
