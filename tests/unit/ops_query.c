/*
 * Unit tests of src/ops/query.c: tables of queries against records (true
 * and false for every kind of field and operator, precedence, not,
 * parentheses, units, regexes, headers), and of queries that must be
 * refused, each with the column of its error.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ops/query.h"

static struct rlog_rec rec_miss(void)
{
	struct rlog_rec r;
	memset(&r, 0, sizeof(r));
	r.id = 7;
	r.time_us = 1700000000000000;
	r.status = 200;
	r.ttfb_ns = 250 * 1000000LL; /* 250 ms */
	r.duration_ns = 300 * 1000000LL;
	r.bytes_in = 120;
	r.bytes_out = 5 * 1024 + 10;
	r.be_attempts = 2;
	r.be_reused = 1;
	r.be_connect_ns = 0;
	r.be_ttfb_ns = 200 * 1000000LL;
	r.be_total_ns = 240 * 1000000LL;
	strcpy(r.verdict, "miss");
	strcpy(r.client, "192.0.2.7");
	strcpy(r.method, "GET");
	strcpy(r.host, "example.com");
	strcpy(r.target, "/api/v1/items?x=1");
	strcpy(r.cache_status, "ringcache; fwd=uri-miss; stored");
	strcpy(r.backend, "app");
	strcpy(r.server, "10.0.0.1:80");
	strcpy(r.route, "api");
	strcpy(r.hdr[0], "curl/8.0");
	return r;
}

static struct rlog_rec rec_error(void)
{
	struct rlog_rec r = rec_miss();
	r.status = 503;
	r.ttfb_ns = 5 * 1000000LL;
	strcpy(r.verdict, "pass");
	strcpy(r.target, "/login");
	strcpy(r.reason, "backend_failed");
	r.hdr[0][0] = '\0';
	return r;
}

struct row {
	const char *q;
	bool miss, error; /* the expected answer for each record */
};

static const struct row rows[] = {
    {"", true, true},
    {"status == 200", true, false},
    {"status >= 500", false, true},
    {"status != 200", false, true},
    {"status < 300", true, false},
    {"status <= 200", true, false},
    {"status > 200", false, true},
    {"STATUS == 200", true, false},
    {"cache == \"miss\"", true, false},
    {"cache == miss", true, false},
    {"cache == 'pass'", false, true},
    {"cache != miss", false, true},
    {"ttfb > 200ms", true, false},
    {"ttfb > 0.2s", true, false},
    {"ttfb < 10ms", false, true},
    {"ttfb >= 250000us", true, false},
    {"ttfb == 250", true, false}, /* a bare number is milliseconds */
    {"duration > 1m", false, false},
    {"bytes_out > 5k", true, true},
    {"bytes_out > 5KiB", true, true},
    {"bytes_out < 1MB", true, true},
    {"bytes_out == 5130", true, true},
    {"bytes_in == 120B", true, true},
    {"status >= 500 or (cache == \"miss\" and ttfb > 200ms)", true, true},
    {"status >= 500 and (cache == \"miss\" and ttfb > 200ms)", false, false},
    {"not status == 200", false, true},
    {"not (status == 200 or status == 503)", false, false},
    {"status == 200 or status == 503 and cache == miss", true, false}, /* and binds tighter */
    {"(status == 200 or status == 503) and cache == miss", true, false},
    {"(status == 200 or status == 503) and not cache == miss", false, true},
    {"target ~ \"^/api/\"", true, false},
    {"target !~ \"^/api/\"", false, true},
    {"target ~ 'items\\?x=[0-9]+$'", true, false},
    {"target ~ \"^/API\"", false, false}, /* case-sensitive */
    {"target ~ \"(?i)^/API\"", true, false},
    {"host == example.com", true, true},
    {"client == 192.0.2.7", true, true},
    {"cache_status ~ \"stored\"", true, true},
    {"reason", false, true}, /* a field alone: non-empty */
    {"not reason", true, false},
    {"reason == backend_failed", false, true},
    {"route == api", true, true},
    {"backend == app and server ~ \":80$\"", true, true},
    {"attempts > 1", true, true},
    {"reused == 1", true, true},
    {"be_ttfb > 100ms and be_total < 1s", true, true},
    {"be_connect == 0", true, true},
    {"hdr.user-agent ~ \"^curl/\"", true, false},
    {"hdr.User-Agent", true, false},
    {"hdr.x-missing", false, false},
    {"not hdr.x-missing", true, true},
    {"method == GET and not not status == 200", true, false},
    {"  status==200  ", true, false},
    {"status == 200 AND cache == miss OR reason", true, true},
};

Test(query, table)
{
	struct rlog_rec m = rec_miss(), e = rec_error();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct query q;
		struct query_error err;
		int r = query_compile(&q, rows[i].q, &err);
		cr_assert_eq(r, 0, "%s: refused at %u: %s", rows[i].q, err.col, err.msg);
		/* As a stream binds them: user-agent in slot 0, others empty. */
		for (unsigned h = 0; h < q.nhdr; h++)
			query_bind_hdr(&q, h, strcmp(q.hdr[h], "user-agent") == 0 ? 0 : 7);
		cr_expect_eq(query_match(&q, &m), rows[i].miss, "%s on the miss", rows[i].q);
		cr_expect_eq(query_match(&q, &e), rows[i].error, "%s on the error", rows[i].q);
		query_fini(&q);
	}
}

struct bad {
	const char *q;
	unsigned col;
	const char *msg; /* a part of the message */
};

static const struct bad bads[] = {
    {"statu == 3", 1, "unknown field \"statu\""},
    {"status >= abc", 11, "needs a number"},
    {"status >= 500 or", 17, "expected a field name"},
    {"status >= 500 or (cache == \"miss\" and ttfb > 200ms", 51, "missing ')'"},
    {"(status == 1", 13, "column 1"},
    {"status == 1)", 12, "unexpected ')'"},
    {"status = 200", 8, "unknown operator"},
    {"status == 200 cache == miss", 15, "expected 'and', 'or'"},
    {"cache > miss", 7, "compares with == != ~ !~"},
    {"status ~ 2", 8, "need a string field"},
    {"ttfb > 200kb", 11, "not a duration"},
    {"bytes_out > 5ms", 14, "not a size"},
    {"ttfb > 5parsecs", 9, "unknown unit"},
    {"status == 2.5", 11, "whole number"},
    {"status == 200s", 14, "plain number"},
    {"cache == \"miss", 10, "unterminated string"},
    {"target ~ \"([\"", 13, "bad regex"},
    {"cache ==", 9, "expected a value"},
    {"status == 200 and $", 19, "unexpected character"},
    {"hdr.a b == 1", 7, "expected 'and', 'or'"},
    {"not", 4, "expected a field name"},
    {"()", 2, "expected a field name"},
};

Test(query, errors_with_columns)
{
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		struct query q;
		struct query_error err;
		int r = query_compile(&q, bads[i].q, &err);
		cr_assert_eq(r, -EINVAL, "%s: accepted", bads[i].q);
		cr_expect_eq(err.col, bads[i].col, "%s: column %u, want %u (%s)", bads[i].q,
			     err.col, bads[i].col, err.msg);
		cr_expect(strstr(err.msg, bads[i].msg), "%s: message \"%s\", want \"%s\"",
			  bads[i].q, err.msg, bads[i].msg);
	}
}

Test(query, limits)
{
	struct query q;
	struct query_error err;
	/* Nesting past the limit is refused, not recursed into. */
	char deep[400] = "";
	for (int i = 0; i < 100; i++)
		strcat(deep, "(");
	cr_assert_eq(query_compile(&q, deep, &err), -EINVAL);
	cr_expect(strstr(err.msg, "nested"), "%s", err.msg);
	/* More tests than nodes. */
	char many[2048] = "status == 1";
	for (int i = 0; i < 40; i++)
		strcat(many, " or status == 1");
	cr_assert_eq(query_compile(&q, many, &err), -EINVAL);
	cr_expect(strstr(err.msg, "too long"), "%s", err.msg);
	/* Too much text. */
	static char big[QUERY_MAX_LEN + 10];
	memset(big, ' ', sizeof(big) - 1);
	cr_assert_eq(query_compile(&q, big, &err), -EINVAL);
	/* Nine header names. */
	char hdrs[512] = "hdr.a";
	for (int i = 0; i < 8; i++) {
		char t[16];
		snprintf(t, sizeof(t), " or hdr.h%d", i);
		strcat(hdrs, t);
	}
	cr_assert_eq(query_compile(&q, hdrs, &err), -EINVAL);
	cr_expect(strstr(err.msg, "header names"), "%s", err.msg);
}

Test(query, regex_backtracking_is_bounded)
{
	/* A pattern that backtracks exponentially: the match limit stops it
	 * and the record simply does not match. */
	struct query q;
	struct query_error err;
	cr_assert_eq(query_compile(&q, "target ~ \"^(a+)+$\"", &err), 0);
	struct rlog_rec r = rec_miss();
	memset(r.target, 'a', 60);
	r.target[60] = 'b';
	r.target[61] = '\0';
	cr_expect(!query_match(&q, &r));
	query_fini(&q);
}

Test(query, header_slots_rebound)
{
	/* The daemon puts a query's header in the slot its stream was given. */
	struct query q;
	struct query_error err;
	cr_assert_eq(query_compile(&q, "hdr.x-foo == bar and hdr.user-agent ~ curl", &err), 0);
	cr_assert_eq(q.nhdr, 2);
	cr_expect_str_eq(q.hdr[0], "x-foo");
	cr_expect_str_eq(q.hdr[1], "user-agent");
	struct rlog_rec r = rec_miss();
	strcpy(r.hdr[5], "bar");
	strcpy(r.hdr[1], "curl/8");
	cr_expect(!query_match(&q, &r)); /* x-foo read from slot 0 */
	query_bind_hdr(&q, 0, 5);
	cr_expect(query_match(&q, &r));
	query_fini(&q);
}

Test(query, response_headers_are_marked_names)
{
	struct query q;
	struct query_error err;
	cr_assert_eq(query_compile(&q, "resp.Content-Type ~ \"^text/\" and hdr.content-type", &err),
		     0, "%s", err.msg);
	cr_assert_eq(q.nhdr, 2);
	cr_expect_str_eq(q.hdr[0], ">content-type", "a response header's: marked");
	cr_expect_str_eq(q.hdr[1], "content-type", "a request header's of the same name");
	struct rlog_rec r = rec_miss();
	strcpy(r.hdr[0], "text/html");
	strcpy(r.hdr[1], "application/json");
	cr_expect(query_match(&q, &r));
	strcpy(r.hdr[0], "image/png");
	cr_expect(!query_match(&q, &r));
	query_fini(&q);
	/* 30 bytes at most: the mark takes one of the 31. */
	char src[64] = "resp.";
	memset(src + 5, 'a', 31);
	src[36] = '\0';
	cr_expect_eq(query_compile(&q, src, &err), -EINVAL);
	cr_expect_eq(err.col, 6);
	src[35] = '\0';
	cr_expect_eq(query_compile(&q, src, &err), 0, "%s", err.msg);
	query_fini(&q);
}
