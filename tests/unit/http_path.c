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
