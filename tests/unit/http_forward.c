/* Unit tests of src/http/forward.c: which fields are forwarding or override
 * fields, and the forwarding part of the cache key. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "http/forward.h"
#include "http/msg.h"

static struct hfield fields[32];
static char buf[4096];
static struct hmsg m;

static void parse(const char *lines)
{
	snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n%s\r\n", lines);
	hmsg_init(&m, HMSG_REQUEST, fields, 32, 4096);
	hmsg_next(&m, buf, 0);
	cr_assert_gt(hmsg_feed(&m, 0, (uint32_t)strlen(buf)), 0, "%s", m.error ? m.error : "");
	cr_assert(m.headers_done);
}

static enum forward_kind kind(const char *line)
{
	char l[256];
	snprintf(l, sizeof(l), "%s\r\n", line);
	parse(l);
	return forward_kind_of(&m, &m.fields[1]);
}

Test(http_forward, kinds)
{
	static const char *const fwd[] = {
	    "Forwarded: for=1.2.3.4",	"X-Forwarded-Host: evil", "x-forwarded-proto: https",
	    "X-FORWARDED-SCHEME: http", "X-Forwarded-Port: 443",  "X-Forwarded-Prefix: /app",
	    "X-Forwarded-Ssl: on",	"X-Forwarded-Server: a",  "X-Host: evil",
	    "Front-End-Https: on",
	};
	static const char *const ovr[] = {
	    "X-Original-URL: /admin", "X-Rewrite-URL: /admin",	"X-HTTP-Method-Override: DELETE",
	    "X-HTTP-Method: DELETE",  "X-Method-Override: PUT",
	};
	static const char *const addr[] = {
	    "X-Forwarded-For: 1.2.3.4", "X-Real-IP: 1.2.3.4",	    "X-Client-IP: 1.2.3.4",
	    "True-Client-IP: 1.2.3.4",	"x_forwarded_for: 1.2.3.4",
	};
	static const char *const none[] = {
	    "X-Forwarded: x",	   "X-Hostname: a",	  "Front-End: x",
	    "Forward: x",	   "Cookie: a=b",	  "X: y",
	    "Via: 1.1 a",	   "X-Original-URLs: /a", "X-Forwarded-Hosts: a",
	    "X.Forwarded.Host: a", "True-Client: a",
	};
	/* '_' for '-' is the same field to CGI-style backends, so to us too. */
	static const char *const under[] = {"X_Forwarded_Host: evil", "x_forwarded-proto: https",
					    "Front_End_Https: on",
					    "X_HTTP_METHOD_OVERRIDE: DELETE"};
	for (size_t i = 0; i < sizeof(addr) / sizeof(addr[0]); i++)
		cr_expect_eq(kind(addr[i]), FORWARD_ADDRESS, "%s", addr[i]);
	for (size_t i = 0; i < 3; i++)
		cr_expect_eq(kind(under[i]), FORWARD_FORWARDING, "%s", under[i]);
	cr_expect_eq(kind(under[3]), FORWARD_OVERRIDE, "%s", under[3]);
	for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
		cr_expect_eq(kind(fwd[i]), FORWARD_FORWARDING, "%s", fwd[i]);
	for (size_t i = 0; i < sizeof(ovr) / sizeof(ovr[0]); i++)
		cr_expect_eq(kind(ovr[i]), FORWARD_OVERRIDE, "%s", ovr[i]);
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
		cr_expect_eq(kind(none[i]), FORWARD_NONE, "%s", none[i]);
}

static const char *key(const char *lines)
{
	static char out[1024];
	parse(lines);
	int n = forward_key(&m, out, sizeof(out) - 1);
	cr_assert_geq(n, 0);
	out[n] = '\0';
	return out;
}

Test(http_forward, key_is_empty_without_forwarding_fields)
{
	cr_assert_str_eq(key(""), "");
	cr_assert_str_eq(key("Cookie: a=1\r\nX-Forwarded-For: 1.2.3.4\r\n"), "");
}

Test(http_forward, key_names_values_in_a_fixed_order)
{
	const char *a = key("X-Forwarded-Proto: https\r\nX-Forwarded-Host: a.example\r\n");
	char first[256];
	snprintf(first, sizeof(first), "%s", a);
	cr_assert_str_eq(first, "x-forwarded-host=a.example\nx-forwarded-proto=https\n");
	/* Order of the fields in the request does not matter, case of names neither. */
	cr_assert_str_eq(key("x-forwarded-host: a.example\r\nX-FORWARDED-PROTO: https\r\n"), first);
	/* Different values, different keys. */
	cr_assert_str_neq(key("X-Forwarded-Proto: http\r\nX-Forwarded-Host: a.example\r\n"), first);
	/* Several lines of one field are joined. */
	cr_assert_str_eq(key("X-Forwarded-Port: 443\r\nX-Forwarded-Port: 8443\r\n"),
			 "x-forwarded-port=443, 8443\n");
}

Test(http_forward, forwarded_keys_all_pairs_but_for_and_by)
{
	char a[256];
	snprintf(a, sizeof(a), "%s",
		 key("Forwarded: for=192.0.2.1;proto=https;host=a.example\r\n"));
	cr_assert_str_eq(a, "forwarded=proto=https;host=a.example;\n");
	/* for= and by= differ per client: not keyed. */
	cr_assert_str_eq(
	    key("Forwarded: for=198.51.100.7;by=10.0.0.1;proto=https;host=a.example\r\n"), a);
	/* Quoted values, OWS, the case of names. */
	cr_assert_str_eq(
	    key("Forwarded: for=\"[2001:db8::1]:4711\" ; Proto=https ;host=\"a.example\"\r\n"), a);
	/* Every other pair is keyed: a backend may read "xhost" as a host. */
	cr_assert_str_eq(key("Forwarded: for=1.2.3.4;xhost=evil;proto=https;host=a.example\r\n"),
			 "forwarded=xhost=evil;proto=https;host=a.example;\n");
	/* Several elements each keep their own. */
	cr_assert_str_eq(key("Forwarded: proto=http, proto=https;for=x\r\n"),
			 "forwarded=proto=http;,proto=https;\n");
	/* A comma inside a quoted string does not split the element. */
	cr_assert_str_eq(key("Forwarded: host=\"a,b\";proto=http\r\n"),
			 "forwarded=host=a,b;proto=http;\n");
	/* Only for=: present but says nothing keyed. */
	cr_assert_str_eq(key("Forwarded: for=1.2.3.4\r\n"), "forwarded=\n");
	/* An underscore spelling of a forwarding field is keyed like it. */
	cr_assert_str_eq(key("X_Forwarded_Host: evil\r\n"), "x-forwarded-host=evil\n");
}

Test(http_forward, key_that_does_not_fit)
{
	parse("X-Forwarded-Host: a-rather-long-host-name.example\r\n");
	char out[8];
	cr_assert_eq(forward_key(&m, out, sizeof(out)), -1);
}
