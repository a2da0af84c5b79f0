/* Unit tests of src/cache/vary.c: Vary field names, secondary keys and
 * Accept-Encoding normalisation (RFC 9111 4.1). In header text "\n"
 * separates field lines. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cache/vary.h"
#include "http/msg.h"

struct head {
	struct hmsg m;
	struct hfield f[32];
	char buf[2048];
};

static void parse(struct head *h, enum hmsg_kind kind, const char *start, const char *lines)
{
	size_t n = (size_t)snprintf(h->buf, sizeof(h->buf), "%s\r\n", start);
	for (const char *p = lines ? lines : ""; *p; p++) {
		if (*p == '\n')
			h->buf[n++] = '\r';
		h->buf[n++] = *p;
	}
	if (lines && *lines)
		n += (size_t)snprintf(h->buf + n, sizeof(h->buf) - n, "\r\n");
	n += (size_t)snprintf(h->buf + n, sizeof(h->buf) - n, "\r\n");
	hmsg_init(&h->m, kind, h->f, 32, sizeof(h->buf));
	hmsg_next(&h->m, h->buf, 0);
	h->m.skip_body = kind == HMSG_RESPONSE;
	long r = hmsg_feed(&h->m, 0, (uint32_t)n);
	cr_assert_eq(r, (long)n, "parse failed: %s", h->buf);
	cr_assert(h->m.headers_done);
}

static void request(struct head *h, const char *lines)
{
	char all[1024];
	snprintf(all, sizeof(all), "Host: a%s%s", lines && *lines ? "\n" : "", lines ? lines : "");
	parse(h, HMSG_REQUEST, "GET / HTTP/1.1", all);
}

/* vary_names of a response with LINES, as a string ("<-1>" when it fails). */
static const char *names_of(const char *lines, size_t cap)
{
	static char out[512];
	struct head h;
	parse(&h, HMSG_RESPONSE, "HTTP/1.1 200 OK", lines);
	char tmp[512];
	memset(tmp, '#', sizeof(tmp));
	int n = vary_names(&h.m, tmp, cap);
	if (n < 0)
		return "<-1>";
	cr_assert_lt((size_t)n, cap);
	cr_expect_eq(tmp[n], '\0', "NUL-terminated");
	memcpy(out, tmp, (size_t)n);
	out[n] = '\0';
	return out;
}

/* The secondary key of a request with LINES for NAMES. */
static const char *key_of(const char *names, const char *lines)
{
	static char out[2][1024];
	static int which;
	char *o = out[which++ & 1];
	struct head h;
	request(&h, lines);
	int n = vary_key(names, strlen(names), &h.m, o, sizeof(out[0]) - 1);
	if (n < 0)
		return "<-1>";
	o[n] = '\0';
	return o;
}

static const char *ae_of(const char *lines)
{
	static char out[128];
	struct head h;
	request(&h, lines);
	int n = vary_accept_encoding(&h.m, out, sizeof(out) - 1);
	cr_assert_geq(n, 0);
	out[n] = '\0';
	return out;
}

struct str_case {
	const char *in;
	const char *want;
};

Test(cache_vary, names)
{
	static const struct str_case t[] = {
	    {NULL, ""},
	    {"Cache-Control: max-age=5", ""},
	    {"Vary: Accept-Encoding", "accept-encoding"},
	    {"Vary: ACCEPT-Encoding, User-Agent", "accept-encoding,user-agent"},
	    /* Several lines, odd spacing, empty list elements. */
	    {"Vary: Accept ,\t Cookie\nVary: X-Foo", "accept,cookie,x-foo"},
	    {"Vary: ,, Accept ,,", "accept"},
	    {"vary: accept\nVARY: Origin", "accept,origin"},
	    {"Vary: Accept\nX-Other: 1\nVary: Origin", "accept,origin"},
	    {"Vary:", ""},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		cr_expect_str_eq(names_of(t[i].in, 256), t[i].want, "[%s]: got \"%s\"",
				 t[i].in ? t[i].in : "", names_of(t[i].in, 256));
}

Test(cache_vary, names_capacity)
{
	/* "accept,origin" is 13 bytes + NUL. */
	cr_expect_str_eq(names_of("Vary: Accept, Origin", 14), "accept,origin");
	cr_expect_str_eq(names_of("Vary: Accept, Origin", 13), "<-1>");
	cr_expect_str_eq(names_of("Vary: Accept, Origin", 4), "<-1>");
}

Test(cache_vary, key_absent_vs_present)
{
	cr_expect_str_eq(key_of("", "X-A: 1"), "");
	/* absent: the name alone, so it can never equal a present value */
	cr_expect_str_eq(key_of("x-a", NULL), "x-a\n");
	cr_expect_str_eq(key_of("x-a", "X-A: 1"), "x-a=1\n");
	cr_expect_str_neq(key_of("x-a", NULL), key_of("x-a", "X-A: 1"));
	/* Another field does not matter. */
	cr_expect_str_eq(key_of("x-a", "X-B: 1"), key_of("x-a", NULL));
	/* The request's field name is matched in any case. */
	cr_expect_str_eq(key_of("x-a", "x-A: 1"), key_of("x-a", "X-A: 1"));
	/* Values are compared as sent (only Accept-Language is folded). */
	cr_expect_str_neq(key_of("x-a", "X-A: Foo"), key_of("x-a", "X-A: foo"));
	cr_expect_str_neq(key_of("x-a", "X-A: 1"), key_of("x-a", "X-A: 2"));
}

/*
 * RFC 9111 4.1: "If (after any normalization that might take place) a
 * header field is absent from a request, it can only match another request
 * if it is also absent there." An empty field is present, and for
 * Accept-Encoding the two even mean opposite things (RFC 9110 12.5.3:
 * absent = any coding is acceptable; empty = no coding wanted), so a
 * variant fetched without Accept-Encoding (possibly gzip) must not answer a
 * request that sent "Accept-Encoding:" or only codings ringcache does not
 * know.
 */
Test(cache_vary, key_absent_differs_from_empty)
{
	cr_expect_str_neq(key_of("x-a", NULL), key_of("x-a", "X-A:"));
	cr_expect_str_neq(key_of("accept-encoding", NULL),
			  key_of("accept-encoding", "Accept-Encoding:"));
	cr_expect_str_neq(key_of("accept-encoding", NULL),
			  key_of("accept-encoding", "Accept-Encoding: compress"));
}

Test(cache_vary, key_lines_combined_whitespace_insensitive)
{
	const char *want = "x-a=1,2,3\n";
	cr_expect_str_eq(key_of("x-a", "X-A: 1,2,3"), want);
	cr_expect_str_eq(key_of("x-a", "X-A: 1, 2 ,\t3"), want);
	cr_expect_str_eq(key_of("x-a", "X-A: 1\nX-A: 2, 3"), want);
	cr_expect_str_eq(key_of("x-a", "X-A: 1\nX-B: z\nX-A: 2\nx-a: 3"), want);
	/* Order of list members is kept for ordinary fields. */
	cr_expect_str_neq(key_of("x-a", "X-A: 3, 2, 1"), want);
}

/* vary.h promises that only OWS *around* list members is trimmed; spaces
 * inside a member are part of the value ("a b" and "ab" are different
 * User-Agents, different quoted strings). */
Test(cache_vary, key_inner_whitespace_is_significant)
{
	cr_expect_str_neq(key_of("user-agent", "User-Agent: Foo Bar/1.0"),
			  key_of("user-agent", "User-Agent: FooBar/1.0"));
	cr_expect_str_neq(key_of("x-q", "X-Q: \"a b\""), key_of("x-q", "X-Q: \"ab\""));
}

Test(cache_vary, key_accept_language_is_a_set)
{
	const char *k = key_of("accept-language", "Accept-Language: en-US, fr;q=0.5");
	cr_expect_str_eq(k, "accept-language=en-us,fr;q=0.5\n");
	cr_expect_str_eq(key_of("accept-language", "Accept-Language: fr;q=0.5, EN-us"),
			 "accept-language=en-us,fr;q=0.5\n");
	cr_expect_str_eq(
	    key_of("accept-language", "Accept-Language: fr;q=0.5\nAccept-Language: en-US"),
	    "accept-language=en-us,fr;q=0.5\n");
	cr_expect_str_neq(key_of("accept-language", "Accept-Language: en"),
			  key_of("accept-language", "Accept-Language: fr"));
	cr_expect_str_neq(key_of("accept-language", "Accept-Language: en, fr"),
			  key_of("accept-language", "Accept-Language: en"));
}

Test(cache_vary, key_several_names)
{
	cr_expect_str_eq(key_of("accept-encoding,x-a", "Accept-Encoding: gzip, br\nX-A: 1"),
			 "accept-encoding=br,gzip\nx-a=1\n");
	cr_expect_str_eq(key_of("accept-encoding,x-a", "X-A: 1\nAccept-Encoding: br;q=1,gzip"),
			 "accept-encoding=br,gzip\nx-a=1\n");
	/* Each name keeps its own value: no confusion between fields. */
	cr_expect_str_neq(key_of("x-a,x-b", "X-A: 1"), key_of("x-a,x-b", "X-B: 1"));
}

Test(cache_vary, key_errors)
{
	struct head h;
	request(&h, "X-A: 12345");
	char out[64];
	cr_expect_eq(vary_key("x-a", 3, &h.m, out, sizeof(out)), 10);
	cr_expect_eq(memcmp(out, "x-a=12345\n", 10), 0);
	cr_expect_eq(vary_key("x-a", 3, &h.m, out, 10), 10);
	cr_expect_eq(vary_key("x-a", 3, &h.m, out, 9), -1);
	cr_expect_eq(vary_key("x-a", 3, &h.m, out, 5), -1);
	/* An empty name in the list is malformed. */
	cr_expect_eq(vary_key("x-a,,x-b", 8, &h.m, out, sizeof(out)), -1);
	/* Names of 64 bytes or more do not fit the name buffer. */
	char longname[80];
	memset(longname, 'n', sizeof(longname));
	cr_expect_eq(vary_key(longname, sizeof(longname), &h.m, out, sizeof(out)), -1);
}

Test(cache_vary, accept_encoding_normalised)
{
	static const struct str_case t[] = {
	    {NULL, ""},
	    {"Accept-Encoding: gzip", "gzip"},
	    /* Sorted, deduplicated, case-folded. */
	    {"Accept-Encoding: gzip, deflate, br", "br,deflate,gzip"},
	    {"Accept-Encoding: br;q=1, GZIP", "br,gzip"},
	    {"Accept-Encoding: gzip, br, gzip", "br,gzip"},
	    {"Accept-Encoding: zstd, identity", "identity,zstd"},
	    /* q=0 means "not acceptable": dropped, in any spelling. */
	    {"Accept-Encoding: gzip;q=0, br", "br"},
	    {"Accept-Encoding: gzip;Q=0, br", "br"},
	    {"Accept-Encoding: gzip ; q=0.000, br;q=0.0", ""},
	    {"Accept-Encoding: gzip; q=0.5, br;q=0.001", "br,gzip"},
	    {"Accept-Encoding: identity;q=0, gzip", "gzip"},
	    /* Unknown codings and "*" are ignored. */
	    {"Accept-Encoding: compress, x-foo, *, gzip", "gzip"},
	    {"Accept-Encoding: gzipper, br2, g", ""},
	    /* Several lines combine. */
	    {"Accept-Encoding: gzip\nAccept-Encoding: br", "br,gzip"},
	    {"Accept-Encoding: gzip;q=0\nAccept-Encoding: deflate", "deflate"},
	    {"Accept-Encoding:  \t ,, gzip ,", "gzip"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		cr_expect_str_eq(ae_of(t[i].in), t[i].want, "[%s]: got \"%s\"",
				 t[i].in ? t[i].in : "", ae_of(t[i].in));
	/* The same variant for equivalent lists. */
	cr_expect_str_eq(key_of("accept-encoding", "Accept-Encoding: gzip, br"),
			 key_of("accept-encoding", "Accept-Encoding: br;q=1,gzip"));
	cr_expect_str_eq(key_of("accept-encoding", "Accept-Encoding: br, gzip, compress"),
			 key_of("accept-encoding", "Accept-Encoding: gzip,br;q=0.8"));
	cr_expect_str_neq(key_of("accept-encoding", "Accept-Encoding: gzip"),
			  key_of("accept-encoding", "Accept-Encoding: gzip, br"));

	struct head h;
	request(&h, "Accept-Encoding: gzip, br");
	char out[8];
	cr_expect_eq(vary_accept_encoding(&h.m, out, 4), -1);
}

/* vary_match of a variant stored for a request with REQ_LINES, whose
 * response had RESP_HDRS (stored "Name: value\r\n" lines), against a
 * request with LINES, for NAMES. */
static enum vary_match match_of(const char *names, const char *req_lines, const char *resp_hdrs,
				const char *lines)
{
	char vkey[1024];
	struct head h;
	request(&h, req_lines);
	int vl = vary_key(names, strlen(names), &h.m, vkey, sizeof(vkey));
	cr_assert_geq(vl, 0);
	request(&h, lines);
	return vary_match(names, strlen(names), vkey, (size_t)vl, resp_hdrs, strlen(resp_hdrs),
			  &h.m);
}

#define AL "accept-language"
#define DE "Content-Language: de\r\n"

Test(cache_vary, match_accept_language_by_weight)
{
	const char *stored = "Accept-Language: en, de";
	cr_expect_eq(match_of(AL, stored, DE, "Accept-Language: de, EN"), VARY_EXACT);
	cr_expect_eq(match_of(AL, stored, DE, "Accept-Language: fr;q=0.5, de;q=1.0"),
		     VARY_SELECTED);
	cr_expect_eq(match_of(AL, stored, DE, "Accept-Language: en;q=0.9, de"), VARY_SELECTED);
	cr_expect_eq(match_of(AL, stored, DE, "Accept-Language: de, en;q=0.9"), VARY_SELECTED);
	cr_expect_eq(match_of(AL, stored, DE, "Accept-Language: de;q=0.8\nAccept-Language: x"),
		     VARY_NO, "x is preferred");
	/* Not the best choice, excluded, or no weights to go by. */
	cr_expect_eq(match_of(AL, stored, DE, "Accept-Language: fr"), VARY_NO);
	cr_expect_eq(match_of(AL, stored, DE, "Accept-Language: fr, de;q=0.5"), VARY_NO);
	cr_expect_eq(match_of(AL, stored, DE, "Accept-Language: de;q=0, *"), VARY_NO);
	cr_expect_eq(match_of(AL, stored, DE, "Accept-Language: de;q=2"), VARY_NO);
	cr_expect_eq(match_of(AL, stored, DE, "Accept-Language: de, de;q=0.1"), VARY_NO);
	cr_expect_eq(match_of(AL, stored, DE, NULL), VARY_NO);
	cr_expect_eq(match_of(AL, stored, DE, "Accept-Language:"), VARY_NO);
	/* A variant stored for a request without the field is selectable too. */
	cr_expect_eq(match_of(AL, NULL, DE, "Accept-Language: de"), VARY_SELECTED);
	cr_expect_eq(match_of(AL, NULL, DE, NULL), VARY_EXACT);
}

Test(cache_vary, match_needs_one_content_language)
{
	const char *stored = "Accept-Language: en, de";
	const char *req = "Accept-Language: de, en;q=0.9";
	cr_expect_eq(match_of(AL, stored, "", req), VARY_NO);
	cr_expect_eq(match_of(AL, stored, "Content-Language: de, en\r\n", req), VARY_NO);
	cr_expect_eq(match_of(AL, stored, DE "Content-Language: en\r\n", req), VARY_NO);
	cr_expect_eq(match_of(AL, stored, "Content-Language: *\r\n", req), VARY_NO);
	cr_expect_eq(match_of(AL, stored, "X-A: 1\r\ncontent-language:  DE-ch \r\n", req),
		     VARY_SELECTED);
	/* Without Content-Language the exact match still works. */
	cr_expect_eq(match_of(AL, stored, "", "Accept-Language: de,en"), VARY_EXACT);
}

/* Vary on more than Accept-Language: the other fields match exactly. */
Test(cache_vary, match_other_fields_exactly)
{
	const char *names = "accept-encoding,accept-language,x-a";
	const char *stored = "Accept-Encoding: gzip\nAccept-Language: en, de\nX-A: 1";
	cr_expect_eq(
	    match_of(names, stored, DE, "Accept-Encoding: gzip\nAccept-Language: de\nX-A: 1"),
	    VARY_SELECTED);
	cr_expect_eq(
	    match_of(names, stored, DE, "Accept-Encoding: br\nAccept-Language: de\nX-A: 1"),
	    VARY_NO);
	cr_expect_eq(
	    match_of(names, stored, DE, "Accept-Encoding: gzip\nAccept-Language: de\nX-A: 2"),
	    VARY_NO);
	cr_expect_eq(match_of(names, stored, DE, "Accept-Encoding: gzip\nAccept-Language: de"),
		     VARY_NO, "X-A absent is not X-A: 1");
	/* Without Accept-Language among the names, only equal keys match. */
	cr_expect_eq(match_of("x-a", "X-A: 1", DE, "X-A: 2\nAccept-Language: de"), VARY_NO);
	cr_expect_eq(match_of("x-a", "X-A: 1", DE, "X-A: 1"), VARY_EXACT);
	cr_expect_eq(match_of("", NULL, DE, "X-A: 1"), VARY_EXACT);
}
