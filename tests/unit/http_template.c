/* Unit tests of src/http/template.c: the syntax accepted and refused (each
 * error with its offset), expansion of variables and captures, missing
 * captures, $$, CR/LF/NUL refused in values, hbuf overflow, long literals. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http/template.h"

static const char *const VARS[] = {"path", "query", "client", "host"};
#define N_VARS (sizeof(VARS) / sizeof(VARS[0]))

/* A value with its exact length, NUL bytes included. */
#define V(s)                                                                                       \
	{                                                                                          \
		(s), sizeof(s) - 1                                                                 \
	}

static const struct tvalue VALS[N_VARS] = {V("/a/b"), V("?x=1"), V("192.0.2.1"), V("example.com")};
/* As a match of "^/img/(\w+)\.(\w+)(-\d+)?$" on "/img/cat.png": the whole
 * match, two groups and one that did not take part. */
static const struct tvalue CAPS[] = {V("/img/cat.png"), V("cat"), V("png"), {NULL, 0}};
#define N_CAPS 4u

static void compile_ok(struct template *t, const char *src)
{
	char err[256];
	size_t off = 999;
	int rc = template_compile(t, src, VARS, N_VARS, err, sizeof(err), &off);
	cr_assert_eq(rc, 0, "compile \"%s\": %d %s", src, rc, err);
	cr_assert_str_empty(err);
	cr_assert_eq(off, 0);
}

/* Expand T into a fresh buffer of CAP bytes, NUL-terminated in OUT. */
static int expand(const struct template *t, char *out, size_t cap, const struct tvalue *vals,
		  const struct tvalue *caps, unsigned n_caps)
{
	struct hbuf b;
	hbuf_init(&b, out, cap);
	int rc = template_expand(t, &b, vals, caps, n_caps);
	if (rc == 0) {
		cr_assert_lt(b.len, cap);
		out[b.len] = '\0';
	}
	return rc;
}

struct gcase {
	const char *src;
	const char *out; /* with VALS and CAPS */
	bool constant;
};

static const struct gcase good[] = {
    {"", "", true},
    {"plain", "plain", true},
    {"https://new.example.com${path}${query}", "https://new.example.com/a/b?x=1", false},
    {"${client}", "192.0.2.1", false},
    {"x${host}y", "xexample.comy", false},
    {"${path}${path}", "/a/b/a/b", false},
    /* $$ is one $, wherever it is, and what follows it is text. */
    {"$$", "$", true},
    {"a$$b$$$$c", "a$b$$c", true},
    {"$${path}", "${path}", true},
    {"$$$${path}", "$${path}", true},
    {"$$${path}", "$/a/b", false},
    {"${path}$$", "/a/b$", false},
    /* Captures: present, unset, past the match's groups. */
    {"/img/${1}.${2}", "/img/cat.png", false},
    {"${3}", "", false},
    {"${4}", "", false},
    {"[${9}]", "[]", false},
    {"${1}${1}${2}", "catcatpng", false},
    /* Braces alone are text. */
    {"{path}", "{path}", true},
    {"}{", "}{", true},
    {"${path}}", "/a/b}", false},
    /* A field value may hold HTAB, SP and obs-text. */
    {"a\tb c", "a\tb c", true},
    {"caf\xc3\xa9", "caf\xc3\xa9", true},
};

Test(http_template, compile_and_expand_table)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const struct gcase *c = &good[i];
		struct template t;
		compile_ok(&t, c->src);
		struct tvalue text = {NULL, 99};
		cr_assert_eq(template_is_constant(&t, &text), c->constant, "\"%s\"", c->src);
		char out[256];
		int rc = expand(&t, out, sizeof(out), VALS, CAPS, N_CAPS);
		cr_assert_eq(rc, 0, "expand \"%s\": %d", c->src, rc);
		cr_assert_str_eq(out, c->out, "\"%s\" -> \"%s\", want \"%s\"", c->src, out, c->out);
		if (c->constant) {
			cr_assert_eq(text.len, strlen(c->out));
			cr_assert_eq(memcmp(text.p, c->out, text.len), 0);
			cr_assert_not_null(text.p);
		}
		template_free(&t);
		cr_assert_eq(t.parts, NULL);
	}
}

struct ecase {
	const char *src;
	size_t off;
	const char *msg; /* the start of the message */
};

static const struct ecase bad[] = {
    {"${foo}", 0, "unknown variable ${foo} at offset 0"},
    {"abc${nope}", 3, "unknown variable ${nope} at offset 3"},
    {"${PATH}", 0, "unknown variable ${PATH} at offset 0"},
    {"${path}x${pathx}", 8, "unknown variable ${pathx} at offset 8"},
    {"${", 0, "unclosed ${ at offset 0"},
    {"x${path", 1, "unclosed ${ at offset 1"},
    {"${path${query}", 0, "unclosed ${ at offset 0"},
    {"${pa{th}", 0, "unclosed ${ at offset 0"},
    {"${pa th}", 0, "unclosed ${ at offset 0"},
    {"${path}${", 7, "unclosed ${ at offset 7"},
    {"${}", 0, "empty ${} at offset 0"},
    {"ab${}cd", 2, "empty ${} at offset 2"},
    {"a$b", 1, "a lone $ at offset 1 (${name} is a variable, $$ a $)"},
    {"a$", 1, "a lone $ at offset 1"},
    {"$ ", 0, "a lone $ at offset 0"},
    {"$$$", 2, "a lone $ at offset 2"},
    {"$(path)", 0, "a lone $ at offset 0"},
    {"${0}", 0, "no capture ${0} at offset 0 (captures are ${1} to ${9})"},
    {"${10}", 0, "no capture ${10} at offset 0"},
    {"/x/${01}", 3, "no capture ${01} at offset 3"},
    {"ok\r\nX-Evil: 1", 2, "control character 0x0d at offset 2"},
    {"\n", 0, "control character 0x0a at offset 0"},
    {"a\x01", 1, "control character 0x01 at offset 1"},
    {"a\x7f", 1, "control character 0x7f at offset 1"},
};

Test(http_template, compile_errors_table)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const struct ecase *c = &bad[i];
		struct template t;
		memset(&t, 0xa5, sizeof(t));
		char err[256] = "untouched";
		size_t off = 999;
		int rc = template_compile(&t, c->src, VARS, N_VARS, err, sizeof(err), &off);
		cr_assert_eq(rc, -EINVAL, "\"%s\" compiled", c->src);
		cr_assert_eq(off, c->off, "\"%s\": offset %zu, want %zu (%s)", c->src, off, c->off,
			     err);
		cr_assert_eq(strncmp(err, c->msg, strlen(c->msg)), 0, "\"%s\": \"%s\", want \"%s\"",
			     c->src, err, c->msg);
		/* Left zeroed: freeing it is harmless. */
		cr_assert_eq(t.parts, NULL);
		cr_assert_eq(t.magic, 0);
		template_free(&t);
	}
}

/* One message word for word: an operator sees what was possible. */
Test(http_template, unknown_variable_lists_the_known_ones)
{
	struct template t;
	char err[256];
	cr_assert_eq(template_compile(&t, "https://x${paht}", VARS, N_VARS, err, sizeof(err), NULL),
		     -EINVAL);
	cr_assert_str_eq(err, "unknown variable ${paht} at offset 9 (variables: ${path}, ${query}, "
			      "${client}, ${host}; captures ${1} to ${9})");
	cr_assert_eq(template_compile(&t, "${a}", NULL, 0, err, sizeof(err), NULL), -EINVAL);
	cr_assert_str_eq(err, "unknown variable ${a} at offset 0 (captures ${1} to ${9})");
	/* A long name is cut short in the message. */
	char src[128];
	snprintf(src, sizeof(src), "${%s}", "abcdefghijabcdefghijabcdefghijabcdefghijXYZ");
	cr_assert_eq(template_compile(&t, src, NULL, 0, err, sizeof(err), NULL), -EINVAL);
	cr_assert(strstr(err, "${abcdefghijabcdefghijabcdefghijabcdefghij...} at offset 0"), "%s",
		  err);
}

Test(http_template, error_buffer_short_or_absent)
{
	struct template t;
	char err[8];
	memset(err, 'x', sizeof(err));
	size_t off = 0;
	cr_assert_eq(template_compile(&t, "abc${nope}", VARS, N_VARS, err, sizeof(err), &off),
		     -EINVAL);
	cr_assert_eq(off, 3);
	cr_assert_eq(strlen(err), sizeof(err) - 1);
	cr_assert_eq(template_compile(&t, "abc${nope}", VARS, N_VARS, NULL, 0, NULL), -EINVAL);
	cr_assert_eq(template_compile(&t, "a$", VARS, N_VARS, err, 0, &off), -EINVAL);
	cr_assert_eq(off, 1);
	cr_assert_eq(template_compile(&t, "ok", VARS, N_VARS, NULL, 0, NULL), 0);
	template_free(&t);
}

Test(http_template, what_a_template_uses)
{
	struct template t;
	compile_ok(&t, "${host}${2}${client}${9}");
	cr_assert_eq(t.vars_used, (1u << 3) | (1u << 2));
	cr_assert_eq(t.caps_used, (1u << 2) | (1u << 9));
	cr_assert_not(template_is_constant(&t, NULL));
	template_free(&t);
	compile_ok(&t, "${1}");
	cr_assert_eq(t.vars_used, 0);
	cr_assert_not(template_is_constant(&t, NULL));
	/* Captures only: no VALS needed. */
	char out[32];
	cr_assert_eq(expand(&t, out, sizeof(out), NULL, CAPS, N_CAPS), 0);
	cr_assert_str_eq(out, "cat");
	/* No match data at all: every capture is empty. */
	cr_assert_eq(expand(&t, out, sizeof(out), NULL, NULL, 0), 0);
	cr_assert_str_eq(out, "");
	template_free(&t);
	template_free(&t); /* twice is harmless */
	compile_ok(&t, "a$$b");
	cr_assert(template_is_constant(&t, NULL));
	cr_assert_eq(expand(&t, out, sizeof(out), NULL, NULL, 0), 0);
	cr_assert_str_eq(out, "a$b");
	/* Literal runs are merged, $$ included: one part. */
	cr_assert_eq(t.n_parts, 1);
	template_free(&t);
}

/* Values holding CR, LF or NUL are refused, and the buffer is as it was. */
Test(http_template, control_bytes_in_values_refused)
{
	static const struct tvalue evil[] = {
	    V("/a\r\nSet-Cookie: x=1"), V("/a\nb"), V("/a\rb"), V("/a\0b"), V("\n"), V("\0")};
	struct template t;
	compile_ok(&t, "https://x${path}/end");
	for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
		struct tvalue vals[N_VARS];
		memcpy(vals, VALS, sizeof(vals));
		vals[0] = evil[i];
		char mem[128];
		struct hbuf b;
		hbuf_init(&b, mem, sizeof(mem));
		hbuf_puts(&b, "Location: ");
		cr_assert_eq(template_expand(&t, &b, vals, NULL, 0), -EINVAL, "value %zu", i);
		cr_assert_eq(b.len, strlen("Location: "));
		cr_assert_not(b.overflow);
		cr_assert_str_eq(hbuf_cstr(&b), "Location: ");
	}
	template_free(&t);

	/* The same through a capture. */
	compile_ok(&t, "/img/${1}");
	struct tvalue caps[2] = {V("whole"), V("x\r\ny")};
	char out[64];
	cr_assert_eq(expand(&t, out, sizeof(out), NULL, caps, 2), -EINVAL);
	/* A capture past N_CAPS is not read, whatever it holds. */
	cr_assert_eq(expand(&t, out, sizeof(out), NULL, caps, 1), 0);
	cr_assert_str_eq(out, "/img/");
	template_free(&t);

	/* A bad value the template does not use does not matter. */
	compile_ok(&t, "${host}");
	struct tvalue vals[N_VARS];
	memcpy(vals, VALS, sizeof(vals));
	vals[0] = evil[0];
	cr_assert_eq(expand(&t, out, sizeof(out), vals, NULL, 0), 0);
	cr_assert_str_eq(out, "example.com");
	template_free(&t);
}

Test(http_template, overflow_reported)
{
	struct template t;
	compile_ok(&t, "https://new.example.com${path}${query}");
	const char *want = "https://new.example.com/a/b?x=1";
	size_t n = strlen(want);
	char mem[64];
	struct hbuf b;
	/* Exactly the room it needs. */
	hbuf_init(&b, mem, n);
	cr_assert_eq(template_expand(&t, &b, VALS, NULL, 0), 0);
	cr_assert_eq(b.len, n);
	cr_assert_eq(memcmp(mem, want, n), 0);
	/* One byte short: short in the last value, in the literal, in the first value. */
	for (size_t cap = 0; cap < n; cap++) {
		hbuf_init(&b, mem, cap);
		cr_assert_eq(template_expand(&t, &b, VALS, NULL, 0), -ENOSPC, "cap %zu", cap);
		cr_assert(b.overflow);
		cr_assert_leq(b.len, cap);
		/* Sticky, as hbuf is. */
		cr_assert_eq(template_expand(&t, &b, VALS, NULL, 0), -ENOSPC);
	}
	/* A buffer that had overflowed already. */
	hbuf_init(&b, mem, 4);
	hbuf_puts(&b, "too long");
	cr_assert(b.overflow);
	cr_assert_eq(template_expand(&t, &b, VALS, NULL, 0), -ENOSPC);
	template_free(&t);
}

Test(http_template, appends_after_what_is_there)
{
	struct template t;
	compile_ok(&t, "${client}");
	char mem[64];
	struct hbuf b;
	hbuf_init(&b, mem, sizeof(mem));
	hbuf_puts(&b, "X-Client: ");
	cr_assert_eq(template_expand(&t, &b, VALS, NULL, 0), 0);
	hbuf_puts(&b, ", ");
	cr_assert_eq(template_expand(&t, &b, VALS, NULL, 0), 0);
	cr_assert_str_eq(hbuf_cstr(&b), "X-Client: 192.0.2.1, 192.0.2.1");
	template_free(&t);
}

Test(http_template, long_literals)
{
	enum { LIT = 5000 };
	static char src[2 * LIT + 64], want[2 * LIT + 64], out[2 * LIT + 64];
	memset(src, 'a', LIT);
	memcpy(src + LIT, "${path}", 7);
	memset(src + LIT + 7, 'b', LIT);
	src[2 * LIT + 7] = '\0';
	memset(want, 'a', LIT);
	memcpy(want + LIT, "/a/b", 4);
	memset(want + LIT + 4, 'b', LIT);
	want[2 * LIT + 4] = '\0';
	struct template t;
	compile_ok(&t, src);
	cr_assert_eq(t.n_parts, 3);
	cr_assert_eq(expand(&t, out, sizeof(out), VALS, NULL, 0), 0);
	cr_assert_str_eq(out, want);
	template_free(&t);

	/* A thousand $$ make one run of a thousand $. */
	static char dollars[2001];
	for (int i = 0; i < 2000; i++)
		dollars[i] = '$';
	dollars[2000] = '\0';
	compile_ok(&t, dollars);
	struct tvalue text;
	cr_assert(template_is_constant(&t, &text));
	cr_assert_eq(text.len, 1000);
	cr_assert_eq(t.n_parts, 1);
	for (size_t i = 0; i < text.len; i++)
		cr_assert_eq(text.p[i], '$');
	template_free(&t);

	/* A long value too. */
	static char big[8000];
	memset(big, 'v', sizeof(big));
	struct tvalue vals[N_VARS];
	memcpy(vals, VALS, sizeof(vals));
	vals[1] = (struct tvalue){big, sizeof(big)};
	compile_ok(&t, "?${query}!");
	static char out2[sizeof(big) + 8];
	cr_assert_eq(expand(&t, out2, sizeof(out2), vals, NULL, 0), 0);
	cr_assert_eq(strlen(out2), sizeof(big) + 2);
	cr_assert_eq(out2[0], '?');
	cr_assert_eq(out2[sizeof(big) + 1], '!');
	cr_assert_eq(expand(&t, out2, sizeof(big) + 1, vals, NULL, 0), -ENOSPC);
	template_free(&t);
}

/* A value of length 0 or with a NULL pointer is empty, not an error. */
Test(http_template, empty_values)
{
	struct template t;
	compile_ok(&t, "<${path}|${query}>");
	struct tvalue vals[N_VARS] = {{NULL, 0}, {"", 0}, V("c"), V("h")};
	char out[16];
	cr_assert_eq(expand(&t, out, sizeof(out), vals, NULL, 0), 0);
	cr_assert_str_eq(out, "<|>");
	template_free(&t);
}
