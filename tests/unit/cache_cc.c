/* Unit tests of src/cache/cc.c: Cache-Control directives and validity rules,
 * field-name lists, Pragma and Age. Cases are tables of field lines and the
 * expected parse, written as a canonical dump of struct cache_control. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cc.h"

static const char *const flag_names[] = {
    "no-store",	       "no-cache",   "no-cache-fields", "private",	"private-fields",
    "public",	       "must-reval", "proxy-reval",	"no-transform", "only-if-cached",
    "must-understand", "immutable",  "max-stale-any",
};
static const char *const delta_names[CC_N_DELTA] = {
    "max-age", "s-maxage", "swr", "sie", "max-stale", "min-fresh",
};

static void put(char *buf, size_t n, const char *s)
{
	size_t l = strlen(buf);
	snprintf(buf + l, n - l, "%s%s", l ? " " : "", s);
}

static void put_names(char *buf, size_t n, const char *what, const struct cc_names *l)
{
	char tmp[CC_FIELDS_MAX * 33 + 32];
	int k = snprintf(tmp, sizeof(tmp), "%s=[", what);
	for (unsigned i = 0; i < l->n; i++)
		k += snprintf(tmp + k, sizeof(tmp) - k, "%s%s", i ? "," : "", l->name[i]);
	snprintf(tmp + k, sizeof(tmp) - k, "]");
	put(buf, n, tmp);
}

/* "flag ... name=value ... !invalid ... no-cache=[a,b] private=[c]" */
static void dump(const struct cache_control *cc, char *buf, size_t n)
{
	buf[0] = '\0';
	for (unsigned i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
		if (cc->flags & (1u << i))
			put(buf, n, flag_names[i]);
	}
	for (int i = 0; i < CC_N_DELTA; i++) {
		char tmp[64];
		if (cc->delta[i] != CC_UNSET) {
			snprintf(tmp, sizeof(tmp), "%s=%lld", delta_names[i],
				 (long long)cc->delta[i]);
			put(buf, n, tmp);
		}
	}
	for (int i = 0; i < CC_N_DELTA; i++) {
		char tmp[64];
		if (cc->invalid & (1u << i)) {
			snprintf(tmp, sizeof(tmp), "!%s", delta_names[i]);
			put(buf, n, tmp);
		}
	}
	if (cc->flags & CC_NO_CACHE_FIELDS)
		put_names(buf, n, "no-cache", &cc->no_cache_fields);
	if (cc->flags & CC_PRIVATE_FIELDS)
		put_names(buf, n, "private", &cc->private_fields);
}

struct cc_case {
	const char *lines[3];
	const char *want;
};

static void run(const struct cc_case *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct cache_control cc;
		char got[1024], in[256] = "";
		cc_init(&cc);
		for (int j = 0; j < 3 && c[i].lines[j]; j++) {
			/* An unterminated copy: the parser must honour LEN. */
			size_t l = strlen(c[i].lines[j]);
			char *v = malloc(l ? l : 1);
			memcpy(v, c[i].lines[j], l);
			cc_parse(&cc, v, l);
			free(v);
			snprintf(in + strlen(in), sizeof(in) - strlen(in), "%s[%s]", j ? " + " : "",
				 c[i].lines[j]);
		}
		dump(&cc, got, sizeof(got));
		cr_expect_str_eq(got, c[i].want, "%s: got \"%s\", want \"%s\"", in, got, c[i].want);
		cr_expect(cc.present);
	}
}

#define RUN(t) run(t, sizeof(t) / sizeof(t[0]))

Test(cache_cc, init)
{
	struct cache_control cc;
	memset(&cc, 0xa5, sizeof(cc));
	cc_init(&cc);
	char got[256];
	dump(&cc, got, sizeof(got));
	cr_expect_str_eq(got, "");
	cr_expect(!cc.present);
	cr_expect_eq(cc.no_cache_fields.n, 0);
	cr_expect_eq(cc.private_fields.n, 0);
	cc_parse(&cc, "", 0);
	cr_expect(cc.present);
}

Test(cache_cc, directives)
{
	static const struct cc_case t[] = {
	    {{"no-store"}, "no-store"},
	    {{"no-cache"}, "no-cache"},
	    {{"private"}, "private"},
	    {{"public"}, "public"},
	    {{"must-revalidate"}, "must-reval"},
	    {{"proxy-revalidate"}, "proxy-reval"},
	    {{"no-transform"}, "no-transform"},
	    {{"only-if-cached"}, "only-if-cached"},
	    {{"must-understand"}, "must-understand"},
	    {{"immutable"}, "immutable"},
	    {{"max-stale"}, "max-stale-any"},
	    {{"max-age=60"}, "max-age=60"},
	    {{"s-maxage=60"}, "s-maxage=60"},
	    {{"stale-while-revalidate=30"}, "swr=30"},
	    {{"stale-if-error=600"}, "sie=600"},
	    {{"max-stale=10"}, "max-stale=10"},
	    {{"min-fresh=5"}, "min-fresh=5"},
	    /* Names are case-insensitive (suite: freshness-max-age-case-insenstive). */
	    {{"No-StOrE"}, "no-store"},
	    {{"MaX-aGe=3600"}, "max-age=3600"},
	    {{"S-MAXAGE=1, NO-CACHE, PUBLIC"}, "no-cache public s-maxage=1"},
	    /* Everything at once, in one and in several lines. */
	    {{"public, max-age=60, s-maxage=120, stale-while-revalidate=5, "
	      "stale-if-error=7, must-revalidate, proxy-revalidate, no-transform, "
	      "immutable"},
	     "public must-reval proxy-reval no-transform immutable max-age=60 s-maxage=120 "
	     "swr=5 sie=7"},
	    {{"no-store", "max-age=5", "private"}, "no-store private max-age=5"},
	    {{"max-age=3600", "s-maxage=1"}, "max-age=3600 s-maxage=1"},
	    {{"max-stale, min-fresh=1, only-if-cached, no-cache"},
	     "no-cache only-if-cached max-stale-any min-fresh=1"},
	    /* Unknown directives and extensions are ignored (RFC 9111 5.2.3). */
	    {{"foobar, max-age=3600"}, "max-age=3600"},
	    {{"foo=bar, baz=\"q\", max-agex=5, maxage=5, max_age=5"}, ""},
	    /* Empty elements and OWS around commas (RFC 9110 5.6.1). */
	    {{""}, ""},
	    {{" \t "}, ""},
	    {{",, , max-age=5 ,,\tno-store\t,"}, "no-store max-age=5"},
	    {{"max-age=5\t"}, "max-age=5"},
	};
	RUN(t);
}

Test(cache_cc, delta_values)
{
	static const struct cc_case t[] = {
	    {{"max-age=0"}, "max-age=0"},
	    {{"max-age=003600"}, "max-age=3600"},   /* suite: -leading-zero */
	    {{"max-age=\"3600\""}, "max-age=3600"}, /* suite: -quoted */
	    {{"s-maxage=\"1\""}, "s-maxage=1"},
	    /* RFC 9111 1.2.2: above 2^31 is 2^31 (suite: -max*). */
	    {{"max-age=2147483647"}, "max-age=2147483647"},
	    {{"max-age=2147483648"}, "max-age=2147483648"},
	    {{"max-age=2147483649"}, "max-age=2147483648"},
	    {{"max-age=99999999999"}, "max-age=2147483648"},
	    {{"max-age=999999999999999999999999999999999999"}, "max-age=2147483648"},
	    {{"min-fresh=99999999999"}, "min-fresh=2147483648"},
	};
	RUN(t);
}

Test(cache_cc, delta_invalid)
{
	static const struct cc_case t[] = {
	    {{"max-age='3600'"}, "!max-age"}, /* suite: -single-quoted */
	    {{"max-age=3600.0"}, "!max-age"},
	    {{"max-age=3600.5"}, "!max-age"},
	    {{"max-age=-1"}, "!max-age"},
	    {{"max-age=-3600"}, "!max-age"}, /* suite: -negative */
	    {{"max-age=+60"}, "!max-age"},
	    {{"max-age=a3600"}, "!max-age"},
	    {{"max-age=3600a"}, "!max-age"},
	    {{"max-age=1e3"}, "!max-age"},
	    {{"max-age=0x10"}, "!max-age"},
	    {{"max-age =3600"}, "!max-age"}, /* suite: -space-before-equals */
	    {{"max-age= 3600"}, "!max-age"}, /* suite: -space-after-equals */
	    {{"max-age = 3600"}, "!max-age"},
	    {{"max-age=36 00"}, "!max-age"},
	    {{"max-age"}, "!max-age"},
	    {{"max-age="}, "!max-age"},
	    {{"max-age=, public"}, "public !max-age"},
	    {{"max-age=\"\""}, "!max-age"},
	    {{"max-age=\" 60\""}, "!max-age"},
	    {{"max-age=\"6\\0\""}, "!max-age"},
	    {{"max-age=\"3600"}, "!max-age"},
	    {{"max-age=3600;foo"}, "!max-age"},
	    {{"max-age=3600/2, no-store"}, "no-store !max-age"},
	    {{"s-maxage=abc"}, "!s-maxage"},
	    {{"s-maxage"}, "!s-maxage"},
	    {{"stale-while-revalidate"}, "!swr"},
	    {{"stale-if-error=-1"}, "!sie"},
	    {{"max-stale=x"}, "!max-stale"},
	    {{"max-stale="}, "!max-stale"},
	    {{"min-fresh"}, "!min-fresh"},
	    /* One invalid directive does not spoil the others. */
	    {{"max-age=x, s-maxage=60, no-store"}, "no-store s-maxage=60 !max-age"},
	};
	RUN(t);
}

Test(cache_cc, duplicates)
{
	static const struct cc_case t[] = {
	    /* Conflicting values are invalid, in one line or across lines
	     * (suite: -multiple-line, -multiple-directive, -two-*). */
	    {{"max-age=3600, max-age=1800"}, "!max-age"},
	    {{"max-age=3600", "max-age=1800"}, "!max-age"},
	    {{"max-age=1, max-age=1800"}, "!max-age"},
	    {{"max-age=1800, max-age=1"}, "!max-age"},
	    {{"max-age=0, max-age=3600"}, "!max-age"},
	    {{"s-maxage=1", "s-maxage=2"}, "!s-maxage"},
	    {{"stale-if-error=1, stale-if-error=2"}, "!sie"},
	    {{"min-fresh=1, min-fresh=2"}, "!min-fresh"},
	    /* The same value twice is one value. */
	    {{"max-age=60, max-age=60"}, "max-age=60"},
	    {{"max-age=60", "max-age=060"}, "max-age=60"},
	    {{"max-age=60, max-age=\"60\""}, "max-age=60"},
	    {{"max-age=99999999999, max-age=2147483648"}, "max-age=2147483648"},
	    /* Once invalid, always invalid. */
	    {{"max-age=abc, max-age=60"}, "!max-age"},
	    {{"max-age=60, max-age=abc"}, "!max-age"},
	    {{"max-age=1, max-age=2, max-age=1"}, "!max-age"},
	    /* Flags: twice is once. */
	    {{"no-store, no-store", "No-Store"}, "no-store"},
	    {{"public", "public"}, "public"},
	};
	RUN(t);
}

Test(cache_cc, quoted_strings_and_malformed)
{
	static const struct cc_case t[] = {
	    /* A quoted value is opaque (suite: freshness-max-age-ignore-quoted*). */
	    {{"extension=\"max-age=3600\", max-age=1"}, "max-age=1"},
	    {{"max-age=1, extension=\"max-age=3600\""}, "max-age=1"},
	    {{"extension=\"max-age=3600\", max-age=\"1\""}, "max-age=1"},
	    {{"max-age=\"1\", extension=\"max-age=3600\""}, "max-age=1"},
	    {{"ext=\"a, no-store, b\", public"}, "public"},
	    {{"ext=\"a\\\", no-store\", public"}, "public"},
	    {{"ext=\"a\\\\\", no-store"}, "no-store"},
	    /* An unterminated quote swallows the rest of the line. */
	    {{"ext=\"a, no-store, max-age=5"}, ""},
	    {{"ext=\"a, no-store", "max-age=5"}, "max-age=5"},
	    /* Malformed elements are skipped up to the next comma outside
	     * quotes; the neighbours survive. */
	    {{"foo bar, max-age=5"}, "max-age=5"},
	    {{"foo bar=\"x, no-store\", max-age=5"}, "max-age=5"},
	    {{"\"quoted\", no-store"}, "no-store"},
	    {{"=5, public"}, "public"},
	    {{"a=b=c, public"}, "public"},
	    {{"ext=\"x\"y, public"}, "public"},
	    {{"ext=\"x\"\"y\", public"}, "public"},
	    {{"ext=\"ctl\x01\", public"}, "public"},
	    {{"max-age=5 6, public"}, "public !max-age"},
	    {{"max-age=5; public"}, "!max-age"},
	    /* Restrictive flags hold even when malformed or given a value;
	     * permissive ones do not. */
	    {{"no-store=1"}, "no-store"},
	    {{"no-store junk"}, "no-store"},
	    {{"no-store=?0"}, "no-store"}, /* SF boolean (CDN-Cache-Control) */
	    {{"must-revalidate=x, proxy-revalidate;a, no-transform=\"\""},
	     "must-reval proxy-reval no-transform"},
	    {{"private junk"}, "private"},
	    {{"no-cache junk"}, "no-cache"},
	    {{"public=1"}, ""},
	    {{"public junk"}, ""},
	    {{"immutable=1, only-if-cached=1, must-understand=x"}, ""},
	    {{"max-stale junk"}, "!max-stale"},
	    /* CDN-Cache-Control style values (RFC 9213). */
	    {{"max-age=60, stale-if-error=600"}, "max-age=60 sie=600"},
	    {{"max-age=60;x=1"}, "!max-age"},
	};
	RUN(t);
}

Test(cache_cc, field_lists)
{
	static const struct cc_case t[] = {
	    {{"no-cache=\"Set-Cookie, X-A\""}, "no-cache-fields no-cache=[set-cookie,x-a]"},
	    {{"no-cache=\"a\""}, "no-cache-fields no-cache=[a]"},
	    {{"no-cache=a"}, "no-cache-fields no-cache=[a]"}, /* token form */
	    {{"private=\"Authorization\""}, "private-fields private=[authorization]"},
	    {{"private=x, no-cache=y"}, "no-cache-fields private-fields no-cache=[y] private=[x]"},
	    {{"no-cache=\", a ,, b,\""}, "no-cache-fields no-cache=[a,b]"},
	    {{"no-cache=\"a, A\"", "no-cache=\"b\""}, "no-cache-fields no-cache=[a,b]"},
	    /* Lists that cannot be honoured exactly fall back to the
	     * unqualified directive. */
	    {{"no-cache=\"\""}, "no-cache"},
	    {{"no-cache=\" , \""}, "no-cache"},
	    {{"no-cache=\"a b\""}, "no-cache"},
	    {{"no-cache=\"a;b\""}, "no-cache"},
	    {{"no-cache=\"a\\,b\""}, "no-cache"},
	    {{"private=\"a/b\""}, "private"},
	    {{"no-cache=\"unterminated"}, "no-cache"},
	    {{"no-cache=\"a\"x"}, "no-cache"},
	    {{"no-cache=\"0123456789012345678901234567890\""},
	     "no-cache-fields no-cache=[0123456789012345678901234567890]"},
	    {{"no-cache=\"01234567890123456789012345678901\""}, "no-cache"},
	    {{"no-cache=\"a0,a1,a2,a3,a4,a5,a6,a7,a8,a9,b0,b1,b2,b3,b4,b5\""},
	     "no-cache-fields no-cache=[a0,a1,a2,a3,a4,a5,a6,a7,a8,a9,b0,b1,b2,b3,b4,b5]"},
	    {{"no-cache=\"a0,a1,a2,a3,a4,a5,a6,a7,a8,a9,b0,b1,b2,b3,b4,b5,b6\""}, "no-cache"},
	    /* Both forms: the unqualified flag is set too. */
	    {{"no-cache, no-cache=\"a\""}, "no-cache no-cache-fields no-cache=[a]"},
	    {{"private=\"a\"", "private"}, "private private-fields private=[a]"},
	};
	RUN(t);
}

Test(cache_cc, names_has)
{
	struct cache_control cc;
	cc_init(&cc);
	const char *v = "no-cache=\"Set-Cookie, x-a\"";
	cc_parse(&cc, v, strlen(v));
	const struct cc_names *l = &cc.no_cache_fields;
	cr_expect(cc_names_has(l, "set-cookie", 10));
	cr_expect(cc_names_has(l, "SET-COOKIE", 10));
	cr_expect(cc_names_has(l, "X-A", 3));
	cr_expect(cc_names_has(l, "set-cookie2", 10)); /* LEN bounds the name */
	cr_expect(!cc_names_has(l, "set-cookie2", 11));
	cr_expect(!cc_names_has(l, "set", 3));
	cr_expect(!cc_names_has(l, "", 0));
	cr_expect(!cc_names_has(&cc.private_fields, "x-a", 3));
}

struct bool_case {
	const char *v;
	bool want;
};

Test(cache_cc, pragma)
{
	static const struct bool_case t[] = {
	    {"no-cache", true},
	    {"No-Cache", true},
	    {" no-cache ", true},
	    {"foo, no-cache", true},
	    {"foo=\"x, y\", no-cache", true},
	    {"no-cache=1", true},
	    {"no-cache junk", true},
	    {"", false},
	    {"unrecognised-extension", false},
	    {"no-cachex", false},
	    {"x-no-cache", false},
	    {"x=\"no-cache\"", false},
	    {"x=\"a, no-cache", false},
	    {"x=no-cache", false},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		cr_expect_eq(cc_pragma_no_cache(t[i].v, strlen(t[i].v)), t[i].want, "\"%s\"",
			     t[i].v);
}

struct age_case {
	const char *v;
	int want;    /* cc_parse_age's result */
	int64_t age; /* *out when want is 1 */
};

Test(cache_cc, age)
{
	static const struct age_case t[] = {
	    {"0", 1, 0},
	    {"10", 1, 10},
	    {"7200", 1, 7200},
	    {" 10 ", 1, 10},
	    {" \t60 ", 1, 60},
	    {"003600", 1, 3600},
	    /* RFC 9111 1.2.2: too large to represent is 2^31. */
	    {"2147483647", 1, 2147483647},
	    {"2147483648", 1, 2147483648},
	    {"99999999999", 1, 2147483648},
	    {"99999999999999999999", 1, 2147483648},
	    /* Lists: the first member, the rest discarded (RFC 9111 5.1), even
	     * a repeated value or junk after the first member. */
	    {"10, 20", 1, 10},
	    {"0,7200", 1, 0},
	    {"7200,0", 1, 7200},
	    {"7200 , 0", 1, 7200},
	    {"0, 0", 1, 0},
	    {"3600, 3600", 1, 3600},
	    {"0,7200,0", 1, 0},
	    {"1,a", 1, 1},
	    {",5", 1, 5},
	    {" , ,5", 1, 5},
	    /* No member: the caller looks at the next field line. */
	    {"", 0, 0},
	    {" ", 0, 0},
	    {",", 0, 0},
	    {" ,\t, ", 0, 0},
	    /* A first member that is not a non-negative integer. */
	    {"abc", -EINVAL, 0},
	    {"-5", -EINVAL, 0},
	    {"-7200", -EINVAL, 0},
	    {"1.5", -EINVAL, 0},
	    {"7200.0", -EINVAL, 0},
	    {"10abc", -EINVAL, 0},
	    {"7200;foo=bar", -EINVAL, 0},
	    {"abc, 10", -EINVAL, 0},
	    {"+1", -EINVAL, 0},
	    {"1 2", -EINVAL, 0},
	    {"0x10", -EINVAL, 0},
	    {"1e3", -EINVAL, 0},
	    {"\"60\"", -EINVAL, 0},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		size_t l = strlen(t[i].v);
		char *v = malloc(l ? l : 1); /* unterminated */
		memcpy(v, t[i].v, l);
		int64_t out = 12345;
		int r = cc_parse_age(v, l, &out);
		free(v);
		cr_expect_eq(r, t[i].want, "\"%s\": %d, want %d", t[i].v, r, t[i].want);
		if (t[i].want == 1)
			cr_expect_eq(out, t[i].age, "\"%s\": %lld", t[i].v, (long long)out);
		else
			cr_expect_eq(out, 12345, "\"%s\": *out written", t[i].v);
	}
}

/* Random input: no out-of-bounds access (run under ASan) and the struct
 * invariants hold whatever the bytes. */
Test(cache_cc, random_input)
{
	static const char alphabet[] = "max-ge=0123456789,\"\\ \t;s-nocahprivtMAX'.\x01\xff";
	unsigned seed = 12345;
	for (int iter = 0; iter < 20000; iter++) {
		char buf[48];
		size_t n = (size_t)(rand_r(&seed) % (int)sizeof(buf));
		for (size_t i = 0; i < n; i++)
			buf[i] = alphabet[rand_r(&seed) % (int)(sizeof(alphabet) - 1)];
		char *v = malloc(n ? n : 1);
		memcpy(v, buf, n);
		struct cache_control cc;
		cc_init(&cc);
		cc_parse(&cc, v, n);
		int64_t age;
		(void)cc_parse_age(v, n, &age);
		(void)cc_pragma_no_cache(v, n);
		free(v);
		for (int i = 0; i < CC_N_DELTA; i++) {
			int64_t d = cc.delta[i];
			cr_assert(d == CC_UNSET || (d >= 0 && d <= 2147483648LL));
			if (cc.invalid & (1u << i))
				cr_assert_eq(d, CC_UNSET);
		}
		cr_assert(cc.no_cache_fields.n <= CC_FIELDS_MAX);
		cr_assert(cc.private_fields.n <= CC_FIELDS_MAX);
	}
}
