/* Unit tests of src/serve/req.c: which Host values are valid.
 *
 * Host = uri-host [ ":" port ] (RFC 9110 7.2), with uri-host and port from
 * RFC 3986 3.2.2 and 3.2.3:
 *
 *   host        = IP-literal / IPv4address / reg-name
 *   IP-literal  = "[" ( IPv6address / IPvFuture ) "]"
 *   IPvFuture   = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
 *   reg-name    = *( unreserved / pct-encoded / sub-delims )
 *   port        = *DIGIT
 *
 * so an empty reg-name and an empty port are valid, as is any dotted
 * number (an IPv4address that is not one is a reg-name), and RFC 9112 3.2
 * has a client send an empty Host when the target URI has no authority.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "serve/req.h"

struct host_case {
	const char *h;
	size_t n;
	bool valid;
};

/* Literals with their length, so that a NUL inside one counts. */
#define OK(s)                                                                                      \
	{                                                                                          \
		s, sizeof(s) - 1, true                                                             \
	}
#define BAD(s)                                                                                     \
	{                                                                                          \
		s, sizeof(s) - 1, false                                                            \
	}

static void show(char *dst, size_t cap, const char *h, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 5 < cap; i++) {
		unsigned char c = (unsigned char)h[i];
		if (c < 0x20 || c >= 0x7f)
			o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", c);
		else
			dst[o++] = (char)c;
	}
	dst[o] = '\0';
}

static void check(const struct host_case *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char s[128];
		show(s, sizeof(s), t[i].h, t[i].n);
		cr_expect_eq(req_host_valid(t[i].h, t[i].n), t[i].valid, "Host \"%s\": want %s", s,
			     t[i].valid ? "valid" : "invalid");
	}
}

Test(serve_req, host_reg_names_and_ipv4)
{
	static const struct host_case t[] = {
	    OK("example.com"),
	    OK("EXAMPLE.Com"),
	    OK("a"),
	    OK("example.com."), /* trailing dot: the absolute DNS name */
	    OK("xn--bcher-kva.example"),
	    OK("a-b_c~d.e"),	     /* unreserved */
	    OK("a!$&'()*+,;=b"),     /* sub-delims */
	    OK("%41%62c"),	     /* pct-encoded */
	    OK("a%2Fb"),	     /* an encoded '/' is a reg-name byte */
	    OK("%e4%B8%ad.example"), /* either case of hex */
	    OK("1.2.3.4"),
	    OK("256.256.256.256"), /* not an IPv4address, so a reg-name */
	    OK("1.2.3.4.5"),
	    OK(""), /* RFC 9112 3.2: no authority, empty Host */
	    BAD("a b"),
	    BAD(" a"),
	    BAD("a "),
	    BAD("a/b"),
	    BAD("a?b"),
	    BAD("a#b"),
	    BAD("user@host"), /* userinfo is not part of Host */
	    BAD("user:pass@host"),
	    BAD("a\"b"),
	    BAD("a<b>"),
	    BAD("a\\b"),
	    BAD("a{b}"),
	    BAD("a|b"),
	    BAD("a^b"),
	    BAD("a`b"),
	    BAD("\xc3\xa9.example"), /* raw UTF-8: must be pct-encoded */
	    BAD("a\x80"),
	    BAD("a\tb"),
	    BAD("a\rb"),
	    BAD("a\nb"),
	    BAD("a\x01"),
	    BAD("a\x7f"),
	    BAD("%"),
	    BAD("a%"),
	    BAD("a%4"),
	    BAD("a%4:80"),
	    BAD("a%zz"),
	    BAD("a%4g"),
	    BAD("%%41"),
	    BAD("a[b"),
	    BAD("a]"),
	};
	check(t, sizeof(t) / sizeof(t[0]));
}

Test(serve_req, host_ports)
{
	static const struct host_case t[] = {
	    OK("example.com:8080"),
	    OK("a:0"),
	    OK("a:65535"),
	    OK("a:99999"), /* port = *DIGIT: the grammar has no range */
	    OK("a:"),	   /* an empty port */
	    OK(":80"),	   /* an empty reg-name with a port */
	    OK("1.2.3.4:80"),
	    OK("a%41:80"),
	    BAD("a:b"),
	    BAD("a:80x"),
	    BAD("a:-1"),
	    BAD("a:+80"),
	    BAD("a: 80"),
	    BAD("a:0x50"),
	    BAD("a:80:90"), /* two colons */
	    BAD("a::80"),
	    BAD("::1"), /* an IPv6 address needs its brackets */
	    BAD("2001:db8::1:80"),
	    BAD("a:80/"),
	    BAD("a:8\x00"),
	};
	check(t, sizeof(t) / sizeof(t[0]));
}

Test(serve_req, host_ip_literals)
{
	static const struct host_case t[] = {
	    OK("[::1]"),
	    OK("[::1]:8080"),
	    OK("[::1]:"),
	    OK("[2001:db8::1]"),
	    OK("[2001:DB8:0:0:8:800:200C:417A]:443"),
	    OK("[::ffff:192.0.2.1]"),
	    OK("[V1.abc]"), /* IPvFuture; "v" is any case in ABNF */
	    BAD("[::1"),    /* unclosed */
	    BAD("[::1:80"),
	    BAD("[v1.x"),
	    BAD("::1]"),
	    BAD("[::1]x"),
	    BAD("[::1]]"),
	    BAD("[[::1]]"),
	    BAD("[::1]:a"),
	    BAD("[::1]:80:90"),
	    BAD("[g::1]"),
	    BAD("[::1 ]"),
	    BAD("[::1%25eth0]"), /* zone ids (RFC 6874) are not in RFC 3986's Host */
	    BAD("[vx.1]"),	 /* IPvFuture needs a hex version */
	    BAD("[::1]/"),
	    BAD("x[::1]"),
	};
	check(t, sizeof(t) / sizeof(t[0]));
}

/*
 * IP literals by RFC 3986 3.2.2's grammar, not by which bytes appear
 * between the brackets (as req_host_valid once checked).
 */
Test(serve_req, host_ip_literals_as_rfc_3986_has_them)
{
	static const struct host_case t[] = {
	    /* IPvFuture: "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ) */
	    OK("[v1.x]"),
	    OK("[v7.fe80::a+en1]:80"),
	    OK("[vF.host_name~]"),
	    /* Not an IPv6address nor an IPvFuture. */
	    BAD("[]"),
	    BAD("[]:80"),
	    BAD("[1.2.3.4]"),
	    BAD("[::1::2]"),   /* "::" at most once */
	    BAD("[12345::1]"), /* h16 is at most 4 hex digits */
	    BAD("[1:2:3:4:5:6:7:8:9]"),
	    BAD("[v1.]"),
	    BAD("[v.1]"),
	    BAD("[vvvv]"),
	};
	check(t, sizeof(t) / sizeof(t[0]));
}

/*
 * strchr(SET, ch) finds the terminating NUL of SET for ch == 0: a NUL in
 * a Host must not pass for a sub-delim (or an IP literal byte), as it once
 * did.
 */
Test(serve_req, host_with_a_nul_is_invalid)
{
	static const struct host_case t[] = {
	    BAD("a\x00"),
	    BAD("a\x00"
		"b.example"),
	    BAD("\x00"),
	    BAD("[::1\x00]"),
	    BAD("a:80\x00"),
	};
	check(t, sizeof(t) / sizeof(t[0]));
}

Test(serve_req, host_reads_only_n_bytes)
{
	cr_assert(req_host_valid("example.com/evil", 11));
	cr_assert(req_host_valid("a:80x", 4));
	cr_assert(req_host_valid("[::1]junk", 5));
	cr_assert_not(req_host_valid("[::1]", 4));
	cr_assert_not(req_host_valid("a%41", 3));
	cr_assert(req_host_valid("x", 0));
}
