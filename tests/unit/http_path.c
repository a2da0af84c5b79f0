/* Unit tests of path_normalize (src/http/path.c): a table of paths and
 * what routes see of them. */
#include <criterion/criterion.h>
#include <string.h>

#include "http/path.h"

static const struct {
	const char *in, *out; /* out NULL: refused (-1) */
} cases[] = {
    {"/", "/"},
    {"/a/b", "/a/b"},
    {"/%61dmin", "/admin"},		/* unreserved: decoded */
    {"/%41%5A%7E%2d%2E%5f", "/AZ~-._"}, /* all unreserved classes, any hex case */
    {"/a%2fb", "/a%2Fb"},		/* a separator stays encoded, upper-cased */
    {"/a%2Fb", "/a%2Fb"},
    {"/%e2%82%ac", "/%E2%82%AC"}, /* UTF-8 bytes stay encoded */
    {"/a%20b", "/a%20b"},
    {"//a///b//", "/a/b/"}, /* slashes merged */
    {"/a/.b/..c", "/a/.b/..c"},
    {"/.well-known/x", "/.well-known/x"},
    {"/a/.", NULL},
    {"/a/..", NULL},
    {"/./a", NULL},
    {"/a/../b", NULL},
    {"/a/%2e/b", NULL}, /* decoded dots are dots */
    {"/a/%2E%2e/b", NULL},
    {"/a/.%2e", NULL},
    {"/%", NULL},
    {"/%4", NULL},
    {"/%zz", NULL},
    {"a/b", NULL},
    {"", NULL},
};

Test(http_path, table)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[64];
		long n = path_normalize(cases[i].in, strlen(cases[i].in), out, sizeof(out));
		if (!cases[i].out) {
			cr_expect_eq(n, -1, "'%s': %ld", cases[i].in, n);
			continue;
		}
		cr_assert_geq(n, 0, "'%s' refused", cases[i].in);
		cr_expect_eq((size_t)n, strlen(cases[i].out), "'%s' -> '%.*s'", cases[i].in, (int)n,
			     out);
		cr_expect_eq(memcmp(out, cases[i].out, (size_t)n), 0, "'%s' -> '%.*s'", cases[i].in,
			     (int)n, out);
		cr_expect_leq((size_t)n, strlen(cases[i].in));
	}
}

/* Too small an output is -2 at every size short of the result, never a write past it. */
Test(http_path, output_too_small)
{
	const char *in = "/abc/%2fdef";
	char out[32];
	for (size_t cap = 0; cap < 11; cap++) {
		memset(out, '#', sizeof(out));
		long n = path_normalize(in, strlen(in), out, cap);
		cr_expect_eq(n, -2, "cap %zu: %ld", cap, n);
		for (size_t i = cap; i < sizeof(out); i++)
			cr_assert_eq(out[i], '#', "cap %zu: byte %zu written", cap, i);
	}
	cr_assert_eq(path_normalize(in, strlen(in), out, 11), 11);
}

/* The cache key's form (path_key_form): only the two percent-encoding
 * equivalences of RFC 3986 6.2.2.1-2; everything else kept byte for byte. */
static const struct {
	const char *in, *out;
} key_cases[] = {
    {"/abc", "/abc"},
    {"/a%62c", "/abc"},
    {"/%41%5a%7e%2d%2E%5F%30", "/AZ~-._0"}, /* every unreserved class, any hex case */
    {"/a%2fb", "/a%2Fb"},		    /* reserved: stays encoded, hex upper-cased */
    {"/a%2Fb", "/a%2Fb"},
    {"/a%3f%3D%26%40", "/a%3F%3D%26%40"}, /* ? = & @ stay encoded */
    {"/%e2%82%ac", "/%E2%82%AC"},	  /* non-ASCII bytes stay encoded */
    {"/a%20b%25", "/a%20b%25"},		  /* space and % itself */
    {"/a%2562", "/a%2562"},		  /* decoded once: %25 is "%", not a new escape */
    {"//a//b/", "//a//b/"},		  /* slashes are not merged */
    {"/a/./b/../c", "/a/./b/../c"},	  /* nor dot segments resolved */
    {"/A%7eB", "/A~B"},			  /* case of the path itself kept */
    {"/%zz%4", "/%zz%4"},		  /* malformed: kept as it is */
    {"/x%", "/x%"},
    {"/x%6", "/x%6"},
    {"", ""},
};

Test(http_path, key_form_table)
{
	for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		char out[64];
		const char *in = key_cases[i].in;
		long n = path_key_form(in, strlen(in), out, sizeof(out));
		cr_assert_geq(n, 0, "'%s': %ld", in, n);
		cr_expect_eq((size_t)n, strlen(key_cases[i].out), "'%s' -> '%.*s'", in, (int)n,
			     out);
		cr_expect_eq(memcmp(out, key_cases[i].out, (size_t)n), 0, "'%s' -> '%.*s'", in,
			     (int)n, out);
		cr_expect_leq((size_t)n, strlen(in));
		/* A normal form: folding it again changes nothing. */
		char again[64];
		long m = path_key_form(out, (size_t)n, again, sizeof(again));
		cr_expect(m == n && memcmp(out, again, (size_t)n) == 0, "'%s' not idempotent", in);
	}
}

Test(http_path, key_form_output_too_small)
{
	const char *in = "/a%62c/%2fd";
	char out[32];
	for (size_t cap = 0; cap < 9; cap++) {
		memset(out, '#', sizeof(out));
		long n = path_key_form(in, strlen(in), out, cap);
		cr_expect_eq(n, -2, "cap %zu: %ld", cap, n);
		for (size_t i = cap; i < sizeof(out); i++)
			cr_assert_eq(out[i], '#', "cap %zu: byte %zu written", cap, i);
	}
	cr_assert_eq(path_key_form(in, strlen(in), out, 9), 9);
	cr_assert_eq(memcmp(out, "/abc/%2Fd", 9), 0);
}
