/* Unit tests of src/http/accept.c: Accept-Encoding negotiation (RFC 9110
 * 12.5.3) against a table, robustness on malformed and very long values,
 * and Content-Type pattern matching. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/accept.h"

#define GZ   CODING_GZIP
#define BR   CODING_BR
#define ZS   CODING_ZSTD
#define ID   CODING_IDENTITY
#define NONE (-1)

#define ALL	(1u << GZ | 1u << BR | 1u << ZS)
#define NO_BR	(1u << GZ | 1u << ZS)
#define NOTHING 0u

static const enum coding bzg[] = {BR, ZS, GZ}, gzb[] = {GZ, ZS, BR};

struct ae_case {
	const char *val;
	unsigned mask;
	const enum coding *pref; /* NULL: bzg */
	int want;
};

static const char *name(int c)
{
	return c < 0 ? "none(-1)" : coding_name(c);
}

static int choose(const char *v, unsigned mask, const enum coding *pref)
{
	return accept_encoding_choose(v, strlen(v), mask, pref ? pref : bzg, 3);
}

Test(http_accept, table)
{
	static const struct ae_case t[] = {
	    {"gzip", ALL, NULL, GZ},
	    {"gzip, br", ALL, NULL, BR},
	    {"gzip, br", ALL, gzb, GZ},
	    {"gzip;q=1.0, br;q=0.5", ALL, NULL, GZ},
	    {"br;q=0", ALL, NULL, ID},
	    {"br;q=0, gzip", ALL, NULL, GZ},
	    {"*", ALL, NULL, BR},
	    {"*", ALL, gzb, GZ},
	    {"*;q=0", ALL, NULL, NONE},
	    {"*;q=0, identity", ALL, NULL, ID},
	    {"*;q=0, gzip;q=0.2", ALL, NULL, GZ},
	    {"identity;q=0", NOTHING, NULL, NONE},
	    {"identity;q=0", ALL, NULL, NONE},
	    {"gzip, identity;q=0", ALL, NULL, GZ},
	    {"gzip, identity;q=0", NO_BR, NULL, GZ},
	    {"br, identity;q=0", NO_BR, NULL, NONE},
	    {"br;q=0, identity;q=0", ALL, NULL, NONE},
	    {"*;q=0.3, identity;q=0", NOTHING, NULL, NONE},
	    /* Case, aliases, unknown codings. */
	    {"GZIP", ALL, NULL, GZ},
	    {"x-gzip", ALL, NULL, GZ},
	    {"X-Gzip;Q=0.5, br;q=0.4", ALL, NULL, GZ},
	    {"BR", ALL, NULL, BR},
	    {"deflate, compress", ALL, NULL, ID},
	    {"deflate, zstd", ALL, NULL, ZS},
	    /* qvalue grammar: a bad one drops the element (identity follows). */
	    {"gzip;q=1.5", ALL, NULL, ID},
	    {"gzip;q=0.001", ALL, NULL, GZ},
	    {"gzip;q=0.001, identity;q=0.002", ALL, NULL, ID},
	    {"gzip;q=0.0001", ALL, NULL, ID},
	    {"gzip;q=1.001", ALL, NULL, ID},
	    {"gzip;q=1.000", ALL, NULL, GZ},
	    {"gzip;q=1.", ALL, NULL, GZ},
	    {"gzip;q=0.", ALL, NULL, ID},
	    {"gzip;q=.5", ALL, NULL, ID},
	    {"gzip;q=", ALL, NULL, ID},
	    {"gzip;q", ALL, NULL, ID},
	    {"gzip;q=-0", ALL, NULL, ID},
	    {"gzip;q=0.5x", ALL, NULL, ID},
	    {"gzip;q=2", ALL, NULL, ID},
	    {"gzip;q=\"0.5\"", ALL, NULL, ID},
	    {"gzip;q=0.5;q=0.9, br;q=0.6", ALL, NULL, BR}, /* repeated q: dropped */
	    {"gzip;q=1.5, br;q=0.1", ALL, NULL, BR},
	    /* OWS around ';' and ','; around '=' tolerated (see accept.h). */
	    {"gzip ; q=0.5 , br ; q = 0.6", ALL, NULL, BR},
	    {"gzip ; q=0.7 , br ; q = 0.6", ALL, NULL, GZ},
	    {"\tgzip\t;\tq=0.5\t,\tbr;q=0.6\t", ALL, NULL, BR},
	    /* Empty value, offer mask, preference order on equal q. */
	    {"", ALL, NULL, ID},
	    {"br", NO_BR, NULL, ID},
	    {"br, gzip", NO_BR, NULL, GZ},
	    {"*", NO_BR, NULL, ZS},
	    {"gzip", NOTHING, NULL, ID},
	    {"zstd;q=0.9, gzip;q=0.9", ALL, NULL, ZS},
	    {"zstd;q=0.9, gzip;q=0.9", ALL, gzb, GZ},
	    {"zstd;q=0.9, gzip;q=0.91", ALL, NULL, GZ},
	    /* '*' covers what is not listed, identity included. */
	    {"*;q=0.5, gzip;q=0", ALL, NULL, BR},
	    {"*;q=0.5, br;q=0, zstd;q=0", ALL, NULL, GZ},
	    {"*;q=0.5, identity;q=0.6", ALL, NULL, ID},
	    {"*;q=0.5", NOTHING, NULL, ID},
	    {"identity;q=0.5, gzip;q=0.4", ALL, NULL, ID},
	    {"identity, gzip", ALL, NULL, GZ},	     /* tie: the coding */
	    {"gzip;q=0, gzip;q=0.5", ALL, NULL, GZ}, /* best mention counts */
	    /* Malformed elements are skipped, the rest still counts. */
	    {",,, ;;; gzip", ALL, NULL, ID}, /* no comma before gzip: one bad element */
	    {",,, gzip ;;;", ALL, NULL, GZ},
	    {", , gzip;;q=0.5;;, br;q=0.4", ALL, NULL, GZ},
	    {"gzip br", ALL, NULL, ID},
	    {"gzip;q=0.5 junk, br;q=0.1", ALL, NULL, BR},
	    {"gzip;=1, br;q=0.1", ALL, NULL, BR},
	    {";q=1, br;q=0.1", ALL, NULL, BR},
	    {"gzip;level=9;q=0.5, br;q=0.4", ALL, NULL, GZ},
	    {"gzip;q=0.5;foo=\"a,b;q=1\", br;q=0.4", ALL, NULL, GZ},
	    {"gzip;foo=\"a,br\"", ALL, NULL, GZ},		      /* br is inside the quotes */
	    {"gzip;q=0.1;foo=\"a\\\", br;q=0.9, x\"", ALL, NULL, GZ}, /* \" escapes */
	    {"gzip;foo=\"unterminated, br", ALL, NULL, ID},
	    {"gzip;foo=, br", ALL, NULL, BR},
	    {"gz\x80ip, br", ALL, NULL, BR},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int got = choose(t[i].val, t[i].mask, t[i].pref);
		cr_expect_eq(got, t[i].want, "[%zu] \"%s\" mask %#x: got %s, want %s", i, t[i].val,
			     t[i].mask, name(got), name(t[i].want));
	}
}

Test(http_accept, missing_field_and_odd_preferences)
{
	cr_expect_eq(accept_encoding_choose(NULL, 0, ALL, bzg, 3), ID);
	/* No candidates at all. */
	cr_expect_eq(accept_encoding_choose("gzip", 4, ALL, NULL, 0), ID);
	cr_expect_eq(accept_encoding_choose("gzip, identity;q=0", 18, ALL, NULL, 0), NONE);
	/* Identity and out-of-range entries in PREF are skipped. */
	static const enum coding odd[] = {ID, (enum coding)7, GZ};
	cr_expect_eq(accept_encoding_choose("*", 1, ALL | 1u << 7, odd, 3), GZ);
}

Test(http_accept, value_is_length_delimited)
{
	const char v[] = "gzip, br";
	cr_expect_eq(accept_encoding_choose(v, 4, ALL, bzg, 3), GZ);
	/* An exact-size heap copy with no NUL after it. */
	char *h = malloc(8);
	memcpy(h, "br;q=0.5", 8);
	cr_expect_eq(accept_encoding_choose(h, 8, ALL, bzg, 3), BR);
	cr_expect_eq(accept_encoding_choose(h, 6, ALL, bzg, 3), ID); /* "br;q=0" */
	free(h);
}

Test(http_accept, very_long_values)
{
	size_t n = 1 << 20;
	char *v = malloc(n + 64);
	/* Many unknown elements, then the one that matters. */
	size_t len = 0;
	while (len + 16 < n) {
		memcpy(v + len, "foo;q=0.5, ", 11);
		len += 11;
	}
	len += (size_t)sprintf(v + len, "gzip;q=0.1");
	cr_expect_eq(accept_encoding_choose(v, len, ALL, bzg, 3), GZ);
	/* One huge token, then br. */
	memset(v, 'a', n);
	memcpy(v + n, ", br", 4);
	cr_expect_eq(accept_encoding_choose(v, n + 4, ALL, bzg, 3), BR);
	/* A huge quoted parameter swallowing everything. */
	v[0] = 'g', v[1] = 'z', v[2] = 'i', v[3] = 'p', v[4] = ';', v[5] = 'x', v[6] = '=';
	v[7] = '"';
	memset(v + 8, ',', n - 8);
	memcpy(v + n, "\", br", 5);
	cr_expect_eq(accept_encoding_choose(v, n + 5, ALL, bzg, 3), BR);
	free(v);
}

/* Random values over the grammar's characters: never out of range, and
 * never a coding the mask does not offer. */
Test(http_accept, random_values)
{
	static const char alpha[] = ",;= \t\"\\q01.*gzipbrstdidentyx-";
	char v[48];
	uint64_t s = 88172645463325252u;
	for (int i = 0; i < 200000; i++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		size_t len = s % sizeof(v);
		for (size_t j = 0; j < len; j++) {
			s ^= s << 13, s ^= s >> 7, s ^= s << 17;
			v[j] = alpha[(s >> 20) % (sizeof(alpha) - 1)];
		}
		unsigned mask = (unsigned)(s >> 40) & ALL;
		int got = accept_encoding_choose(v, len, mask, bzg, 3);
		cr_assert(got == NONE || got == ID || (got < CODING__N && (mask & 1u << got)),
			  "\"%.*s\" mask %#x: %d", (int)len, v, mask, got);
	}
}

Test(http_accept, type_matches)
{
	static const char *const pats[] = {"text/html", "text/*", "application/json",
					   "image/svg+xml"};
	static const struct {
		const char *ct;
		bool want;
	} t[] = {
	    {"text/html", true},
	    {"TEXT/HTML; charset=utf-8", true},
	    {" text/plain ;charset=x", true},
	    {"text/css", true},
	    {"text/html\t", true},
	    {"application/json", true},
	    {"Application/JSON;x=1", true},
	    {"image/svg+xml", true},
	    {"application/javascript", false},
	    {"application/json5", false},
	    {"image/png", false},
	    {"textual/plain", false},
	    {"tex/plain", false},
	    {"text", false},
	    {"text/", false},
	    {"/html", false},
	    {"", false},
	    {"text/html garbage", false},
	    {"text /html", false},
	    {"texthtml", false},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		cr_expect_eq(accept_type_matches(t[i].ct, strlen(t[i].ct), pats, 4), t[i].want,
			     "\"%s\"", t[i].ct);
	/* Length-delimited: "text/html" cut to "text". */
	cr_expect(!accept_type_matches("text/html", 4, pats, 4));
	cr_expect(accept_type_matches("image/svg+xml;", 13, pats, 4));
	cr_expect(!accept_type_matches("text/html", 9, pats, 0));
	cr_expect(!accept_type_matches("text/htmlx", 10, pats, 1), "exact, not a prefix");

	static const char *const any[] = {"*/*"}, *const odd[] = {"*/html", "nonsense"};
	cr_expect(accept_type_matches("image/png", 9, any, 1));
	cr_expect(!accept_type_matches("image", 5, any, 1));
	cr_expect(!accept_type_matches("text/html", 9, odd, 2), "a type wildcard needs '/*'");
}
