/* Unit tests of src/http/range.c: the Range range-set (RFC 9110 14.1.2's
 * examples), coalescing, the limits, invalid fields, and Content-Range. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "http/range.h"

static enum range_result resolve(const char *v, uint64_t len, struct range_set *s)
{
	memset(s, 0xa5, sizeof(*s));
	return range_resolve(v, strlen(v), len, s);
}

/* One range [A, B] expected. */
static void one(const char *v, uint64_t len, uint64_t a, uint64_t b)
{
	struct range_set s;
	cr_assert_eq(resolve(v, len, &s), RANGE_PARTS, "%s", v);
	cr_assert_eq(s.n, 1, "%s: %u ranges", v, s.n);
	cr_assert_eq(s.r[0].first, a, "%s: first %llu", v, (unsigned long long)s.r[0].first);
	cr_assert_eq(s.r[0].last, b, "%s: last %llu", v, (unsigned long long)s.r[0].last);
}

Test(http_range, rfc_examples)
{
	/* RFC 9110 14.1.2, a 10000-byte representation. */
	one("bytes=0-499", 10000, 0, 499);
	one("bytes=500-999", 10000, 500, 999);
	one("bytes=-500", 10000, 9500, 9999);
	one("bytes=9500-", 10000, 9500, 9999);
}

Test(http_range, rfc_examples_multi)
{
	struct range_set s;
	cr_assert_eq(resolve("bytes=0-0,-1", 10000, &s), RANGE_PARTS);
	cr_assert_eq(s.n, 2);
	cr_assert_eq(s.r[0].first, 0);
	cr_assert_eq(s.r[0].last, 0);
	cr_assert_eq(s.r[1].first, 9999);
	cr_assert_eq(s.r[1].last, 9999);
	/* The RFC's equivalent spellings of the second 500 bytes coalesce
	 * into one. */
	cr_assert_eq(resolve("bytes=500-600,601-999", 10000, &s), RANGE_PARTS);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.r[0].first, 500);
	cr_assert_eq(s.r[0].last, 999);
	cr_assert_eq(resolve("bytes=500-700,601-999", 10000, &s), RANGE_PARTS);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.r[0].last, 999);
}

Test(http_range, clamped_and_case)
{
	one("bytes=0-99999", 100, 0, 99);
	one("bytes=-1000", 100, 0, 99);
	one("BYTES=1-2", 100, 1, 2);
	one("Bytes=5-", 6, 5, 5);
	one("bytes=0-18446744073709551615", 10, 0, 9);
	one("bytes=0-99999999999999999999999", 10, 0, 9); /* last-pos saturates */
	one("bytes=-99999999999999999999999", 10, 0, 9);
}

Test(http_range, ows_and_empty_elements)
{
	struct range_set s;
	cr_assert_eq(resolve(" bytes=0-1 , 5-6,\t,8-9 ", 100, &s), RANGE_PARTS);
	cr_assert_eq(s.n, 3);
	cr_assert_eq(s.r[1].first, 5);
	cr_assert_eq(s.r[2].last, 9);
	one("bytes=,0-1", 100, 0, 1);
	one("bytes=0-1,", 100, 0, 1);
}

Test(http_range, coalesced_sorted)
{
	struct range_set s;
	/* Out of order, overlapping and adjacent. */
	cr_assert_eq(resolve("bytes=50-59,0-9,5-20,21-30,-10", 100, &s), RANGE_PARTS);
	cr_assert_eq(s.n, 3);
	cr_assert_eq(s.r[0].first, 0);
	cr_assert_eq(s.r[0].last, 30);
	cr_assert_eq(s.r[1].first, 50);
	cr_assert_eq(s.r[1].last, 59);
	cr_assert_eq(s.r[2].first, 90);
	cr_assert_eq(s.r[2].last, 99);
	/* The same range many times is one. */
	cr_assert_eq(
	    resolve("bytes=0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-", 10, &s),
	    RANGE_PARTS);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.r[0].last, 9);
}

Test(http_range, unsatisfiable)
{
	struct range_set s;
	cr_assert_eq(resolve("bytes=100-", 100, &s), RANGE_UNSATISFIABLE);
	cr_assert_eq(resolve("bytes=100-200", 100, &s), RANGE_UNSATISFIABLE);
	cr_assert_eq(resolve("bytes=-0", 100, &s), RANGE_UNSATISFIABLE);
	cr_assert_eq(resolve("bytes=0-", 0, &s), RANGE_UNSATISFIABLE);
	cr_assert_eq(resolve("bytes=-5", 0, &s), RANGE_UNSATISFIABLE);
	cr_assert_eq(resolve("bytes=200-300,-0", 100, &s), RANGE_UNSATISFIABLE);
	/* One satisfiable spec is enough; the others are dropped. */
	cr_assert_eq(resolve("bytes=200-300,5-6", 100, &s), RANGE_PARTS);
	cr_assert_eq(s.n, 1);
	cr_assert_eq(s.r[0].first, 5);
}

Test(http_range, invalid_is_ignored)
{
	static const char *const bad[] = {
	    "",
	    "bytes",
	    "bytes=",
	    "bytes= ",
	    "bytes=,",
	    "bytes=-",
	    "bytes=a-b",
	    "bytes=5-1", /* last-pos < first-pos */
	    "bytes=0-1,5-1",
	    "bytes=1",
	    "bytes=1-2-3",
	    "bytes=1 -2",
	    "bytes=1- 2",
	    "bytes=--1",
	    "bytes=+1-2",
	    "bytes=0-1;x",
	    "bytes =0-1",
	    "bytes=0x10-",
	    "bytes=99999999999999999999999-", /* first-pos beyond 64 bits */
	    "items=0-1",
	    "none",
	    "byte=0-1",
	    "bytes=0-1 2-3",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct range_set s;
		cr_expect_eq(resolve(bad[i], 100, &s), RANGE_IGNORE, "\"%s\"", bad[i]);
	}
}

Test(http_range, limits)
{
	char v[2048];
	struct range_set s;
	/* RANGE_MAX separate ranges are served, one more is not. */
	size_t l = (size_t)snprintf(v, sizeof(v), "bytes=");
	for (int i = 0; i < RANGE_MAX; i++)
		l += (size_t)snprintf(v + l, sizeof(v) - l, "%s%d-%d", i ? "," : "", i * 10,
				      i * 10 + 1);
	cr_assert_eq(resolve(v, 1000, &s), RANGE_PARTS);
	cr_assert_eq(s.n, RANGE_MAX);
	snprintf(v + l, sizeof(v) - l, ",900-901");
	cr_assert_eq(resolve(v, 1000, &s), RANGE_IGNORE);
	/* Many tiny ranges in reverse order, every byte of a small object:
	 * coalesced to one. */
	l = (size_t)snprintf(v, sizeof(v), "bytes=");
	for (int i = RANGE_SPECS_MAX - 1; i >= 0; i--)
		l += (size_t)snprintf(v + l, sizeof(v) - l, "%d-%d,", i, i);
	one(v, RANGE_SPECS_MAX, 0, RANGE_SPECS_MAX - 1);
	/* One spec more than RANGE_SPECS_MAX is not even read. */
	snprintf(v + l, sizeof(v) - l, "0-0");
	cr_assert_eq(resolve(v, RANGE_SPECS_MAX, &s), RANGE_IGNORE);
}

Test(http_range, content_range)
{
	struct byte_range r;
	uint64_t len;
	cr_assert(content_range_parse("bytes 42-1233/1234", 18, &r, &len));
	cr_assert_eq(r.first, 42);
	cr_assert_eq(r.last, 1233);
	cr_assert_eq(len, 1234);
	cr_assert(content_range_parse(" bytes 0-0/1 ", 13, &r, &len));
	cr_assert_eq(len, 1);
	static const char *const bad[] = {
	    "bytes 42-1233/*", /* length unknown */
	    "bytes */1234",    /* unsatisfied-range */
	    "bytes 5-4/10",    /* last < first */
	    "bytes 0-10/10",   /* last >= complete */
	    "bytes 0-1/",      "bytes 0-1",   "bytes=0-1/10",  "items 0-1/10",
	    "bytes 0-1/10x",   "bytes -1/10", "bytes 0 -1/10", "bytes 0-1/99999999999999999999999",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect(!content_range_parse(bad[i], strlen(bad[i]), &r, &len), "\"%s\"", bad[i]);
}
