/* Unit tests of src/http/date.c: the three HTTP-date formats, rejection of
 * malformed dates, the RFC 850 two-digit year window and formatting. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http/date.h"

#define NOW_2025 1749988800LL /* 2025-06-15T12:00:00Z */
#define T_MAX	 253402300799LL

struct good {
	const char *s;
	int64_t t;
};

static bool parse(const char *s, int64_t now, int64_t *t)
{
	return http_date_parse(s, strlen(s), now, t);
}

Test(http_date, valid)
{
	static const struct good cases[] = {
	    /* The RFC 9110 example in each format. */
	    {"Sun, 06 Nov 1994 08:49:37 GMT", 784111777},
	    {"Sunday, 06-Nov-94 08:49:37 GMT", 784111777},
	    {"Sun Nov  6 08:49:37 1994", 784111777},
	    {"Sun Nov 06 08:49:37 1994", 784111777}, /* date3 allows 2DIGIT */
	    {"Thu, 01 Jan 1970 00:00:00 GMT", 0},
	    {"Wed, 31 Dec 1969 23:59:59 GMT", -1},
	    {"Wed, 01 Mar 1600 00:00:00 GMT", -11670912000},
	    {"Thu, 29 Feb 2024 00:00:00 GMT", 1709164800},
	    {"Tue, 29 Feb 2000 00:00:00 GMT", 951782400},
	    {"Sat, 31 Dec 2016 23:59:60 GMT", 1483228800}, /* leap second */
	    {"Tue, 19 Jan 2038 03:14:08 GMT", 2147483648},
	    {"Sat, 20 Nov 2286 17:46:39 GMT", 9999999999},
	    {"Fri, 31 Dec 9999 23:59:59 GMT", T_MAX},
	    {"Thu Aug 18 02:01:18 2050", 2544400878},
	    /* Names in any case (RFC 9110 5.6.7 asks recipients to be robust). */
	    {"THU, 18 AUG 2050 02:01:18 gmt", 2544400878},
	    {"thursday, 18-aug-50 02:01:18 Gmt", 2544400878},
	    /* The day name is not checked against the date (suite:
	     * freshness-expires-ansi-c uses a Monday called Thu). */
	    {"Thu Aug  8 02:01:18 2050", 2543536878},
	    {"Mon, 06 Nov 1994 08:49:37 GMT", 784111777},
	    /* Surrounding OWS. */
	    {" \tSun, 06 Nov 1994 08:49:37 GMT\t ", 784111777},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t t = 12345;
		cr_expect(parse(cases[i].s, NOW_2025, &t), "rejected \"%s\"", cases[i].s);
		cr_expect_eq(t, cases[i].t, "\"%s\": %lld, want %lld", cases[i].s, (long long)t,
			     (long long)cases[i].t);
	}
}

Test(http_date, invalid)
{
	static const char *const cases[] = {
	    "",
	    " ",
	    "0", /* suite freshness-expires-invalid */
	    "-1",
	    "abc",
	    "1994-11-06T08:49:37Z",
	    /* Zones other than GMT. */
	    "Thu, 18 Aug 2050 02:01:18 UTC",
	    "Thu, 18 Aug 2050 02:01:18 AEST",
	    "Thu, 18 Aug 2050 02:01:18 +0000",
	    "Thu, 18 Aug 2050 02:01:18 GMT+1",
	    "Thu, 18 Aug 2050 02:01:18",
	    "Sun Nov  6 08:49:37 1994 GMT",
	    /* Trailing garbage. */
	    "Sun, 06 Nov 1994 08:49:37 GMTx",
	    "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",
	    "Sun Nov  6 08:49:37 19940",
	    /* Layout. */
	    "Thu 18 Aug 2050 02:01:18 GMT",
	    "Thu,18 Aug 2050 02:01:18 GMT",
	    "Thu, 18  Aug  2050 02:01:18 GMT",
	    "Thu, 18-Aug-2050 02:01:18 GMT",
	    "Thu, 18 Aug 2050 02.01.18 GMT",
	    "Thu, 18 Aug 2050 2:01:18 GMT",
	    "Thu, 8 Aug 2050 02:01:18 GMT",
	    "Thu, 18 Aug 50 02:01:18 GMT",
	    "Thursday, 18-Aug-2050 02:01:18 GMT",
	    "Thursday, 18 Aug 2050 02:01:18 GMT",
	    "Thu, 18-Aug-50 02:01:18 GMT",
	    "Sun Nov 6 08:49:37 1994",
	    "Sun  Nov  6 08:49:37 1994",
	    "Sun, Nov  6 08:49:37 1994",
	    /* Names. */
	    "Sux, 06 Nov 1994 08:49:37 GMT",
	    "Sundae, 06-Nov-94 08:49:37 GMT",
	    "Sun, 06 Noe 1994 08:49:37 GMT",
	    "Sun, 06 November 1994 08:49:37 GMT",
	    /* Out-of-range fields. */
	    "Sun, 00 Nov 1994 08:49:37 GMT",
	    "Sun, 32 Oct 1994 08:49:37 GMT",
	    "Sun, 31 Nov 1994 08:49:37 GMT",
	    "Wed, 29 Feb 2023 00:00:00 GMT",
	    "Thu, 29 Feb 1900 00:00:00 GMT",
	    "Sun, 06 Nov 1994 24:00:00 GMT",
	    "Sun, 06 Nov 1994 08:60:00 GMT",
	    "Sun, 06 Nov 1994 08:49:61 GMT",
	    "Sun Nov  0 08:49:37 1994",
	    /* Non-digits where digits belong. */
	    "Sun, +6 Nov 1994 08:49:37 GMT",
	    "Sun, 06 Nov 19a4 08:49:37 GMT",
	    "Sun, 06 Nov 1994 08:4 :37 GMT",
	    "Sun, 06 Nov -994 08:49:37 GMT",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t t = 12345;
		cr_expect(!parse(cases[i], NOW_2025, &t), "accepted \"%s\" as %lld", cases[i],
			  (long long)t);
	}
}

/* Every strict prefix of a valid date is invalid, and LEN is honoured
 * (no reading past it, no reliance on a terminator). */
Test(http_date, prefixes_and_length)
{
	static const char *const full[] = {
	    "Sun, 06 Nov 1994 08:49:37 GMT",
	    "Sunday, 06-Nov-94 08:49:37 GMT",
	    "Sun Nov  6 08:49:37 1994",
	};
	for (size_t i = 0; i < 3; i++) {
		size_t n = strlen(full[i]);
		for (size_t k = 0; k < n; k++) {
			char buf[64];
			memcpy(buf, full[i], k); /* unterminated copy */
			int64_t t;
			cr_expect(!http_date_parse(buf, k, NOW_2025, &t), "prefix %zu of \"%s\"", k,
				  full[i]);
		}
	}
	const char nul[] = "Sun, 06 Nov 1994 08:49:37 GMT\0";
	int64_t t;
	cr_expect(!http_date_parse(nul, sizeof(nul) - 1, NOW_2025, &t));
	cr_expect(http_date_parse(nul, sizeof(nul) - 2, NOW_2025, &t));
}

struct rfc850 {
	int64_t now;
	const char *s;
	int64_t t; /* -1: invalid */
};

Test(http_date, rfc850_two_digit_year)
{
	static const struct rfc850 cases[] = {
	    {NOW_2025, "Friday, 01-Jan-99 00:00:00 GMT", 915148800},   /* 1999 */
	    {NOW_2025, "Saturday, 01-Jan-00 00:00:00 GMT", 946684800}, /* 2000 */
	    {NOW_2025, "Thursday, 18-Aug-50 02:01:18 GMT", 2544400878},
	    /* 2075-06-01 is within 50 years of 2025-06-15, 2075-07-01 is not. */
	    {NOW_2025, "Saturday, 01-Jun-75 00:00:00 GMT", 3326572800},
	    {NOW_2025, "Tuesday, 01-Jul-75 00:00:00 GMT", 173404800},
	    {NOW_2025, "Thursday, 01-Jan-76 00:00:00 GMT", 189302400},
	    /* 29 Feb: 2000 in 2025's window; in 2090's window 00 is 2100,
	     * which has no 29 Feb. */
	    {NOW_2025, "Tuesday, 29-Feb-00 00:00:00 GMT", 951782400},
	    {3786912000 /* 2090-01-01 */, "Monday, 29-Feb-00 00:00:00 GMT", -1},
	    {3786912000, "Friday, 01-Jan-00 00:00:00 GMT", 4102444800},	  /* 2100 */
	    {3786912000, "Saturday, 01-Jan-39 00:00:00 GMT", 5333126400}, /* 2139 */
	    {3786912000, "Tuesday, 01-Jan-41 00:00:00 GMT", 2240611200},  /* 2041 */
	    {946598400 /* 1999-12-31 */, "Friday, 01-Jan-49 00:00:00 GMT", 2493072000},
	    {946598400, "Sunday, 01-Jan-50 00:00:00 GMT", -631152000}, /* 1950 */
	    /* Extreme NOW values must not overflow. */
	    {INT64_MAX, "Friday, 31-Dec-99 23:59:59 GMT", T_MAX},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t t = 12345;
		bool ok = parse(cases[i].s, cases[i].now, &t);
		if (cases[i].t == -1) {
			cr_expect(!ok, "accepted \"%s\"", cases[i].s);
			continue;
		}
		cr_expect(ok, "rejected \"%s\"", cases[i].s);
		cr_expect_eq(t, cases[i].t, "\"%s\" now %lld: %lld, want %lld", cases[i].s,
			     (long long)cases[i].now, (long long)t, (long long)cases[i].t);
	}
	int64_t t;
	cr_expect(parse("Friday, 01-Jan-99 00:00:00 GMT", INT64_MIN, &t));
}

Test(http_date, format_known)
{
	static const struct good cases[] = {
	    {"Thu, 01 Jan 1970 00:00:00 GMT", 0},
	    {"Wed, 31 Dec 1969 23:59:59 GMT", -1},
	    {"Sun, 06 Nov 1994 08:49:37 GMT", 784111777},
	    {"Tue, 29 Feb 2000 00:00:00 GMT", 951782400},
	    {"Tue, 19 Jan 2038 03:14:08 GMT", 2147483648},
	    {"Fri, 31 Dec 9999 23:59:59 GMT", T_MAX},
	    /* Clamped to four-digit years. */
	    {"Fri, 31 Dec 9999 23:59:59 GMT", T_MAX + 1},
	    {"Fri, 31 Dec 9999 23:59:59 GMT", INT64_MAX},
	    {"Sat, 01 Jan 0000 00:00:00 GMT", INT64_MIN},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[30];
		memset(buf, 'x', sizeof(buf));
		cr_expect_eq(http_date_format(cases[i].t, buf), 29);
		cr_expect_str_eq(buf, cases[i].s);
	}
}

/* format -> parse is the identity, and the text agrees with libc's gmtime
 * (the test may use libc; the parser may not). */
Test(http_date, format_round_trip)
{
	int n = 0;
	for (int64_t t = -62167219200LL; t <= T_MAX; t += 7777777 + (t & 0xffff), n++) {
		char buf[30], want[64];
		cr_assert_eq(http_date_format(t, buf), 29);
		int64_t back = 0;
		cr_assert(http_date_parse(buf, 29, NOW_2025, &back), "%s", buf);
		cr_assert_eq(back, t, "%s: %lld != %lld", buf, (long long)back, (long long)t);
		if (t >= -2208988800LL && t < 4102444800LL) { /* 1900..2099 */
			time_t tt = (time_t)t;
			struct tm tm;
			gmtime_r(&tt, &tm);
			strftime(want, sizeof(want), "%a, %d %b %Y %H:%M:%S GMT", &tm);
			cr_assert_str_eq(buf, want);
		}
	}
	cr_expect_gt(n, 10000);
}
