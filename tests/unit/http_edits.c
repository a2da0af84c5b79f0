/* Unit tests of header rules made concrete (src/http/edits.c): the
 * sequential meaning of remove / set / add, and the writers. */
#include <criterion/criterion.h>
#include <string.h>

#include "http/edits.h"
#include "http/hbuf.h"

static char out[1024];

static const char *block(const struct hedits *e, const char *in)
{
	struct hbuf b;
	hbuf_init(&b, out, sizeof(out));
	hedits_put_block(e, &b, in, strlen(in));
	hbuf_cstr(&b);
	return out;
}

#define S(x) x, strlen(x)

Test(http_edits, remove_set_add_in_order)
{
	struct hedits e;
	hedits_init(&e);
	cr_assert(hedits_empty(&e));
	hedits_set(&e, S("X-A"), S("1"));
	hedits_add(&e, S("X-B"), S("2"));
	hedits_add(&e, S("X-B"), S("3"));
	hedits_remove(&e, S("Server"));
	cr_assert_str_eq(block(&e, "Server: o\r\nX-A: old\r\nx-a: old2\r\nKeep: k\r\n"),
			 "Keep: k\r\nX-A: 1\r\nX-B: 2\r\nX-B: 3\r\n");
	/* A later remove undoes an earlier set or add of the name. */
	hedits_remove(&e, S("x-b"));
	cr_assert_str_eq(block(&e, "X-B: orig\r\n"), "X-A: 1\r\n");
	/* A later set replaces an earlier one. */
	hedits_set(&e, S("X-A"), S("9"));
	cr_assert_str_eq(block(&e, ""), "X-A: 9\r\n");
	cr_assert(hedits_drops(&e, S("SERVER")));
	cr_assert_not(hedits_drops(&e, S("Serve")));
}

Test(http_edits, drop_lines_in_a_built_head)
{
	struct hedits e;
	hedits_init(&e);
	hedits_remove(&e, S("Via"));
	hedits_remove(&e, S("Age"));
	char h[] = "HTTP/1.1 200 OK\r\nAge: 3\r\nContent-Length: 5\r\nVia: 1.1 x\r\nX: y\r\n";
	size_t len = strlen(h);
	hedits_drop_lines(&e, h, &len, strlen("HTTP/1.1 200 OK\r\n"));
	cr_assert_eq(len, strlen("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n"));
	cr_assert_eq(memcmp(h, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n", len), 0);
}

Test(http_edits, overflow_is_reported)
{
	struct hedits e;
	hedits_init(&e);
	for (int i = 0; i < HEDIT_MAX; i++)
		hedits_add(&e, S("X"), S("v"));
	cr_assert_not(e.overflow);
	hedits_add(&e, S("X"), S("v"));
	cr_assert(e.overflow);
}

Test(http_edits, copy_outlives_the_source)
{
	char name[] = "X-Name", val[] = "value";
	struct hedits e, c;
	hedits_init(&e);
	hedits_set(&e, name, 6, val, 5);
	hedits_remove(&e, S("Cookie"));
	char buf[64];
	cr_assert_eq(hedits_copy(&e, &c, buf, 5), -1); /* does not fit */
	long n = hedits_copy(&e, &c, buf, sizeof(buf));
	cr_assert_eq((size_t)n, hedits_size(&e));
	memset(name, 'Z', 6);
	memset(val, 'Z', 5);
	cr_assert_str_eq(block(&c, "Cookie: a\r\nX-Name: b\r\n"), "X-Name: value\r\n");
}
