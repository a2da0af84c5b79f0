/* Unit tests of src/http/sfv.c: RFC 8941 Dictionaries, with the RFC's own
 * examples (sections 3.1.1 to 3.3.6) and the invalid inputs of the
 * structured-field-tests suite, checked through a serialization of the
 * parse events (RFC 8941 4.1's canonical form, duplicates kept). */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "http/sfv.h"

struct ser {
	char out[1024];
	size_t len;
	unsigned members;
	bool in_list;
	unsigned list_items;
};

static void put(struct ser *s, const char *fmt, const char *p, size_t n)
{
	int w = snprintf(s->out + s->len, sizeof(s->out) - s->len, fmt, (int)n, p);
	cr_assert(w >= 0 && (size_t)w < sizeof(s->out) - s->len);
	s->len += (size_t)w;
}

static void put_item(struct ser *s, const struct sfv_item *v)
{
	char num[64];
	switch (v->type) {
	case SFV_INTEGER:
		snprintf(num, sizeof(num), "%" PRId64, v->num);
		put(s, "%.*s", num, strlen(num));
		break;
	case SFV_DECIMAL: {
		int64_t a = v->num < 0 ? -v->num : v->num;
		int n = snprintf(num, sizeof(num), "%s%" PRId64 ".%03" PRId64,
				 v->num < 0 ? "-" : "", a / 1000, a % 1000);
		while (num[n - 1] == '0' && num[n - 2] != '.')
			num[--n] = '\0';
		put(s, "%.*s", num, strlen(num));
		break;
	}
	case SFV_STRING:
		put(s, "\"%.*s\"", v->str, v->len);
		break;
	case SFV_TOKEN:
		put(s, "%.*s", v->str, v->len);
		break;
	case SFV_BYTES:
		put(s, ":%.*s:", v->str, v->len);
		break;
	case SFV_BOOLEAN:
		put(s, "%.*s", v->num ? "?1" : "?0", 2);
		break;
	case SFV_INNER_LIST:
		cr_assert_fail("an inner list as an item");
	}
}

static int ser_cb(void *arg, const struct sfv_event *e)
{
	struct ser *s = arg;
	switch (e->kind) {
	case SFV_MEMBER:
		if (s->members++)
			put(s, "%.*s", ", ", 2);
		put(s, "%.*s", e->key, e->key_len);
		if (e->value.type == SFV_INNER_LIST) {
			put(s, "%.*s", "=(", 2);
			s->in_list = true;
			s->list_items = 0;
		} else {
			cr_assert_not_null(e->raw);
			cr_assert(e->raw_len >= e->key_len &&
				  memcmp(e->raw, e->key, e->key_len) == 0);
			if (!(e->value.type == SFV_BOOLEAN && e->value.num == 1)) {
				put(s, "%.*s", "=", 1);
				put_item(s, &e->value);
			}
		}
		break;
	case SFV_INNER_ITEM:
		cr_assert(s->in_list);
		if (s->list_items++)
			put(s, "%.*s", " ", 1);
		put_item(s, &e->value);
		break;
	case SFV_INNER_END:
		cr_assert(s->in_list);
		s->in_list = false;
		put(s, "%.*s", ")", 1);
		break;
	case SFV_PARAM:
		put(s, ";%.*s", e->key, e->key_len);
		if (!(e->value.type == SFV_BOOLEAN && e->value.num == 1)) {
			put(s, "%.*s", "=", 1);
			put_item(s, &e->value);
		}
		break;
	}
	return 0;
}

static int parse(const char *in, struct ser *s)
{
	memset(s, 0, sizeof(*s));
	int rc = sfv_parse_dict(in, strlen(in), ser_cb, s);
	/* Validation alone gives the same answer. */
	cr_expect_eq(sfv_parse_dict(in, strlen(in), NULL, NULL), rc, "%s", in);
	return rc;
}

struct good {
	const char *in, *out;
};

static void run_good(const struct good *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct ser s;
		int rc = parse(t[i].in, &s);
		cr_expect_eq(rc, 0, "[%s] refused (%d)", t[i].in, rc);
		if (rc == 0)
			cr_expect_str_eq(s.out, t[i].out, "[%s]", t[i].in);
	}
}

static void run_bad(const char *const *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct ser s;
		cr_expect_eq(parse(t[i], &s), -EINVAL, "[%s] accepted as [%s]", t[i], s.out);
	}
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

TestSuite(http_sfv);

Test(http_sfv, rfc_examples)
{
	static const struct good t[] = {
	    /* 3.2 */
	    {"en=\"Applepie\", da=:w4ZibGV0w6ZydGUK:", "en=\"Applepie\", da=:w4ZibGV0w6ZydGUK:"},
	    {"a=?0, b, c; foo=bar", "a=?0, b, c;foo=bar"},
	    {"rating=1.5, feelings=(joy sadness)", "rating=1.5, feelings=(joy sadness)"},
	    {"a=(1 2), b=3, c=4;aa=bb, d=(5 6);valid", "a=(1 2), b=3, c=4;aa=bb, d=(5 6);valid"},
	    /* 3.1.1 inner lists (as dictionary values) */
	    {"a=(\"foo\" \"bar\"), b=(\"baz\"), c=(\"bat\" \"one\"), d=()",
	     "a=(\"foo\" \"bar\"), b=(\"baz\"), c=(\"bat\" \"one\"), d=()"},
	    {"a=(\"foo\";a=1;b=2);lvl=5, b=(\"bar\" \"baz\");lvl=1",
	     "a=(\"foo\";a=1;b=2);lvl=5, b=(\"bar\" \"baz\");lvl=1"},
	    /* 3.1.2 parameters */
	    {"a=abc;a=1;b=2; cde_456, b=(ghi;jk=4 l);q=\"9\";r=w",
	     "a=abc;a=1;b=2;cde_456, b=(ghi;jk=4 l);q=\"9\";r=w"},
	    /* 3.3.x items */
	    {"a=5;foo=bar", "a=5;foo=bar"},
	    {"a=42, b=-17, c=0, d=4.5, e=-0.5", "a=42, b=-17, c=0, d=4.5, e=-0.5"},
	    {"a=\"hello world\"", "a=\"hello world\""},
	    {"a=foo123/456", "a=foo123/456"},
	    {"a=:cHJldGVuZCB0aGlzIGlzIGJpbmFyeSBjb250ZW50Lg==:",
	     "a=:cHJldGVuZCB0aGlzIGlzIGJpbmFyeSBjb250ZW50Lg==:"},
	    {"a=?1, b=?0", "a, b=?0"},
	};
	run_good(t, N(t));
}

Test(http_sfv, dictionaries)
{
	static const struct good t[] = {
	    {"", ""},
	    {"   ", ""},
	    {"a=1", "a=1"},
	    {"a=1, b=2", "a=1, b=2"},
	    {"a=1,b=2", "a=1, b=2"},
	    {"a=1 ,\t b=2", "a=1, b=2"},	/* OWS around commas */
	    {"  a=1  ", "a=1"},			/* SP at both ends */
	    {"a=1\t", "a=1"},			/* trailing OWS inside the dictionary */
	    {"a=1, b=2, a=3", "a=1, b=2, a=3"}, /* duplicates reported; last wins */
	    {"*a=1, a*-_.9=2", "*a=1, a*-_.9=2"},
	    {"a,b;c=?0", "a, b;c=?0"},
	    {"a;b, c=?1;d", "a;b, c;d"},
	};
	run_good(t, N(t));
	static const char *const bad[] = {
	    "&&&&&", "a=1,",	 "a=1, ", ",a=1",    "a=1,,b=2", "A=1",	  "aB=1",  "1a=1",
	    "-a=1",  "a =1",	 "a= 1",  "a=1 b=2", "a=1;",	 "a=1; ", "\ta=1", "a=1\n",
	    "a:1",   "a=1; A=2", "a=",	  "a=1, b=", "a=$",	 "a=1x",
	};
	run_bad(bad, N(bad));
}

Test(http_sfv, parameters_and_inner_lists)
{
	static const struct good t[] = {
	    {"a=1;b=2;c", "a=1;b=2;c"},
	    {"a=1; b=2;  c", "a=1;b=2;c"}, /* SP after ';' */
	    {"a=1;b=?1", "a=1;b"},
	    {"a=1;b=\"x\";c=:AA==:;d=1.5;e=tok", "a=1;b=\"x\";c=:AA==:;d=1.5;e=tok"},
	    {"a=()", "a=()"},
	    {"a=(  )", "a=()"},
	    {"a=( 1  2 )", "a=(1 2)"},
	    {"a=(1;x 2;y=?0);z", "a=(1;x 2;y=?0);z"},
	    {"a=(\"s\" tok :AA==: ?1 1.5 -3)", "a=(\"s\" tok :AA==: ?1 1.5 -3)"},
	};
	run_good(t, N(t));
	static const char *const bad[] = {
	    "a=1;b =2", "a=1;b= 2", "a=1;B=2",	"a=1;=2",   "a=1 ;b",  "a=1;b=(1)",
	    "a=(1",	"a=(1 2",   "a=(1,2)",	"a=(1\t2)", "a=((1))", "a=(1)(2)",
	    "a=(1)2",	"a=(1;)",   "a=(1) ;b", "a=(1;B)",
	};
	run_bad(bad, N(bad));
}

Test(http_sfv, numbers)
{
	static const struct good t[] = {
	    {"a=0", "a=0"},
	    {"a=-0", "a=0"},
	    {"a=00042", "a=42"},
	    {"a=999999999999999", "a=999999999999999"},	  /* 15 digits */
	    {"a=-999999999999999", "a=-999999999999999"}, /* sign not counted */
	    {"a=1.0", "a=1.0"},
	    {"a=1.10", "a=1.1"},
	    {"a=1.125", "a=1.125"},
	    {"a=-1.5", "a=-1.5"},
	    {"a=123456789012.123", "a=123456789012.123"}, /* 12 + 3 digits */
	    {"a=0.001", "a=0.001"},
	};
	run_good(t, N(t));
	static const char *const bad[] = {
	    "a=1000000000000000", /* 16 digits */
	    "a=-1000000000000000",
	    "a=1234567890123.0", /* 13 integer digits */
	    "a=1.1234",		 /* 4 fraction digits */
	    "a=1.",
	    "a=-",
	    "a=- 1",
	    "a=+1",
	    "a=.5",
	    "a=1.2.3",
	    "a=1e3",
	    "a=0x1",
	    "a=--1",
	};
	run_bad(bad, N(bad));

	struct ser s;
	cr_assert_eq(parse("a=-999999999999999", &s), 0);
}

Test(http_sfv, strings)
{
	static const struct good t[] = {
	    {"a=\"\"", "a=\"\""},
	    {"a=\"foo bar\"", "a=\"foo bar\""},
	    {"a=\"with \\\"quote\\\"\"", "a=\"with \\\"quote\\\"\""},
	    {"a=\"back\\\\slash\"", "a=\"back\\\\slash\""},
	    {"a=\"~ !#$%&'()*+,-./:;<=>?@[]^_`{|}\"", "a=\"~ !#$%&'()*+,-./:;<=>?@[]^_`{|}\""},
	};
	run_good(t, N(t));
	static const char *const bad[] = {
	    "a=\"unterminated", "a=\"bad \\x escape\"", "a=\"trailing\\\"",    "a=\"tab\there\"",
	    "a=\"nl\nhere\"",	"a=\"del\x7f\"",	"a=\"utf8 \xc3\xa9\"", "a='single'",
	};
	run_bad(bad, N(bad));

	char out[32];
	const char *esc = "a\\\"b\\\\c";
	size_t n = sfv_string_decode(esc, strlen(esc), out);
	cr_expect_eq(n, 5);
	cr_expect(memcmp(out, "a\"b\\c", 5) == 0);
}

Test(http_sfv, tokens_bytes_booleans)
{
	static const struct good t[] = {
	    {"a=foo", "a=foo"},
	    {"a=*foo", "a=*foo"},
	    {"a=Foo:bar/baz!#$%&'*+-.^_`|~", "a=Foo:bar/baz!#$%&'*+-.^_`|~"},
	    {"a=::", "a=::"},
	    {"a=:aGVsbG8=:", "a=:aGVsbG8=:"},
	    {"a=:aGVsbG8:", "a=:aGVsbG8:"}, /* missing padding: RFC 8941 4.2.7 allows */
	    {"a=?1", "a"},
	    {"a=?0", "a=?0"},
	};
	run_good(t, N(t));
	static const char *const bad[] = {
	    "a=:aGVsbG8=", "a=:aGV sbG8=:", "a=:aGV*bG8=:", "a=:a=Vs:", "a=:a===:",
	    "a=:abcde:",   "a=?",	    "a=?2",	    "a=?true",	"a=?10",
	    "a=f\"o",	   "a=fo,o,",	    "a=\x80",	    "a=1;b=?x",
	};
	run_bad(bad, N(bad));
}

static int stop_cb(void *arg, const struct sfv_event *e)
{
	(void)e;
	unsigned *n = arg;
	return ++*n == 2 ? -ECANCELED : 0;
}

Test(http_sfv, callback_stops_parse)
{
	unsigned n = 0;
	cr_expect_eq(sfv_parse_dict("a, b, c", 7, stop_cb, &n), -ECANCELED);
	cr_expect_eq(n, 2);
}

Test(http_sfv, join)
{
	char buf[12];
	size_t len = 0;
	cr_assert(sfv_join(buf, sizeof(buf), &len, "a=1", 3));
	cr_assert(sfv_join(buf, sizeof(buf), &len, "b", 1));
	cr_assert_eq(len, 6);
	cr_expect(memcmp(buf, "a=1, b", 6) == 0);
	cr_expect(!sfv_join(buf, sizeof(buf), &len, "cccccc", 6));
	cr_expect_eq(len, 6);
	cr_assert(sfv_join(buf, sizeof(buf), &len, "cccc", 4));
	cr_expect_eq(len, 12);
	/* Empty lines add nothing. */
	len = 0;
	cr_assert(sfv_join(buf, sizeof(buf), &len, "", 0));
	cr_assert(sfv_join(buf, sizeof(buf), &len, "a", 1));
	cr_assert(sfv_join(buf, sizeof(buf), &len, "", 0));
	cr_expect_eq(len, 1);
	cr_expect_eq(sfv_parse_dict(buf, len, NULL, NULL), 0);
	/* A value split over lines parses as joined (RFC 8941 4.2). */
	len = 0;
	cr_assert(sfv_join(buf, sizeof(buf), &len, "a=(1", 4));
	cr_assert(sfv_join(buf, sizeof(buf), &len, "2)", 2));
	cr_expect_eq(sfv_parse_dict(buf, len, NULL, NULL), -EINVAL);
}
