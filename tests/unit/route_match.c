/* Unit tests of route matching (src/route/match.c): a table of requests
 * against one set of routes, and which route each takes. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "http/msg.h"
#include "http/path.h"
#include "route/match.h"

static const char routes_yaml[] =
    "listen: [\"127.0.0.1:18080\"]\n"
    "backends: [{name: a, servers: [\"127.0.0.1:19000\"]}, {name: b, servers: "
    "[\"127.0.0.1:19001\"]}]\n"
    "routes:\n"
    "  - name: r0\n" /* 0 */
    "    match: {host: static.example.com}\n"
    "    backend: b\n"
    "  - match: {host: \"*.cdn.example.com\", method: [GET, HEAD]}\n" /* 1 */
    "    backend: b\n"
    "  - match: {host_regex: \"^v([0-9]+)\\\\.api\\\\.\"}\n" /* 2 */
    "    backend: a\n"
    "  - match: {path: /exact}\n" /* 3 */
    "    backend: a\n"
    "  - match: {path_prefix: /api/, header: [{name: X-Key, absent: true}]}\n" /* 4 */
    "    deny: 401\n"
    "  - match: {path_prefix: /api/}\n" /* 5 */
    "    backend: b\n"
    "  - match: {header: {name: X-Beta, regex: \"^(1|yes)$\"}}\n" /* 6 */
    "    backend: b\n"
    "  - match: {header: {name: X-Flag}}\n" /* 7 */
    "    backend: b\n"
    "  - match: {query: {name: debug, equals: \"1\"}}\n" /* 8 */
    "    backend: b\n"
    "  - match: {query: {name: empty, equals: \"\"}}\n" /* 9 */
    "    backend: b\n"
    "  - match: {client: [\"10.0.0.0/8\", \"2001:db8::/32\"]}\n" /* 10 */
    "    backend: b\n"
    "  - match: {path_regex: \"^/u/([0-9]+)/(\\\\w+)$\"}\n" /* 11 */
    "    backend: b\n";

static struct config *cfg;
static struct route_scratch *scratch;

static void setup(void)
{
	struct config_errors e = {0};
	cfg = config_load_string("t.yaml", routes_yaml, sizeof(routes_yaml) - 1, &e);
	cr_assert_not_null(cfg, "%s", e.n ? e.lines[0] : "?");
	scratch = route_scratch_new(4096);
	cr_assert_not_null(scratch);
}

static void teardown(void)
{
	route_scratch_free(scratch);
	config_free(&cfg);
}

TestSuite(route_match, .init = setup, .fini = teardown);

/* The route REQ (a whole head) from CLIENT takes: its index, -1 for none. */
static int route_for(const char *req, const char *client, struct route_match *mt)
{
	static char buf[4096];
	static struct hfield fields[64];
	static struct hmsg m;
	snprintf(buf, sizeof(buf), "%s", req);
	hmsg_init(&m, HMSG_REQUEST, fields, 64, 4096);
	hmsg_next(&m, buf, 0);
	cr_assert_gt(hmsg_feed(&m, 0, (uint32_t)strlen(buf)), 0, "%s", req);
	static char host[256], path[1024];
	const struct hfield *h = hmsg_field(&m, "host", 0);
	size_t hl = 0;
	if (h) {
		const char *v = hmsg_ptr(&m, h->value);
		for (; hl < h->value.len && v[hl] != ':'; hl++)
			host[hl] = (char)(v[hl] >= 'A' && v[hl] <= 'Z' ? v[hl] + 32 : v[hl]);
	}
	const char *t = hmsg_ptr(&m, m.target);
	const char *q = memchr(t, '?', m.target.len);
	size_t plen = q ? (size_t)(q - t) : m.target.len;
	long pl = path_normalize(t, plen, path, sizeof(path));
	cr_assert_geq(pl, 0, "%s", req);
	struct sockaddr_storage ss = {0};
	if (strchr(client, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		inet_pton(AF_INET6, client, &a->sin6_addr);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		inet_pton(AF_INET, client, &a->sin_addr);
	}
	struct route_req rq = {.m = &m,
			       .method = hmsg_method(&m),
			       .host = host,
			       .host_len = hl,
			       .path = path,
			       .path_len = (size_t)pl,
			       .query = q ? q + 1 : NULL,
			       .query_len = q ? m.target.len - plen - 1 : 0,
			       .client = (const struct sockaddr *)&ss};
	const struct config_route *r = route_find(cfg, &rq, scratch, mt);
	return r ? (int)(r - cfg->routes) : -1;
}

static const struct {
	const char *req, *client;
	int route;
} cases[] = {
    {"GET / HTTP/1.1\r\nHost: static.example.com\r\n\r\n", "127.0.0.1", 0},
    {"GET / HTTP/1.1\r\nHost: Static.Example.COM:8080\r\n\r\n", "127.0.0.1", 0},
    {"GET / HTTP/1.1\r\nHost: static.example.com.evil\r\n\r\n", "127.0.0.1", -1},
    {"GET / HTTP/1.1\r\nHost: x.cdn.example.com\r\n\r\n", "127.0.0.1", 1},
    {"GET / HTTP/1.1\r\nHost: a.b.cdn.example.com\r\n\r\n", "127.0.0.1", 1},
    {"GET / HTTP/1.1\r\nHost: cdn.example.com\r\n\r\n", "127.0.0.1", -1},
    {"POST / HTTP/1.1\r\nHost: x.cdn.example.com\r\nContent-Length: 0\r\n\r\n", "127.0.0.1", -1},
    {"GET / HTTP/1.1\r\nHost: v2.api.example.com\r\n\r\n", "127.0.0.1", 2},
    {"GET / HTTP/1.1\r\nHost: vx.api.example.com\r\n\r\n", "127.0.0.1", -1},
    {"GET /exact HTTP/1.1\r\nHost: h\r\n\r\n", "127.0.0.1", 3},
    {"GET /exact?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", "127.0.0.1", 3},
    {"GET /exact/ HTTP/1.1\r\nHost: h\r\n\r\n", "127.0.0.1", -1},
    {"GET /%65xact HTTP/1.1\r\nHost: h\r\n\r\n", "127.0.0.1", 3},
    {"GET /api/x HTTP/1.1\r\nHost: h\r\n\r\n", "127.0.0.1", 4},
    {"GET /api/x HTTP/1.1\r\nHost: h\r\nX-Key: k\r\n\r\n", "127.0.0.1", 5},
    {"GET /api/x HTTP/1.1\r\nHost: h\r\nx-key:\r\n\r\n", "127.0.0.1", 5}, /* empty: present */
    {"GET /api HTTP/1.1\r\nHost: h\r\n\r\n", "127.0.0.1", -1},
    {"GET /b HTTP/1.1\r\nHost: h\r\nX-Beta: yes\r\n\r\n", "127.0.0.1", 6},
    {"GET /b HTTP/1.1\r\nHost: h\r\nX-Beta: yes\r\nX-Beta: 1\r\n\r\n", "127.0.0.1", -1},
    {"GET /b HTTP/1.1\r\nHost: h\r\nX-Beta: yess\r\n\r\n", "127.0.0.1", -1},
    {"GET /f HTTP/1.1\r\nHost: h\r\nX-FLAG: \r\n\r\n", "127.0.0.1", 7},
    {"GET /q?debug=1 HTTP/1.1\r\nHost: h\r\n\r\n", "127.0.0.1", 8},
    {"GET /q?a=2&debug=1&debug=0 HTTP/1.1\r\nHost: h\r\n\r\n", "127.0.0.1", 8},
    {"GET /q?debug=0&debug=1 HTTP/1.1\r\nHost: h\r\n\r\n", "127.0.0.1", -1}, /* the first */
    {"GET /q?Debug=1 HTTP/1.1\r\nHost: h\r\n\r\n", "127.0.0.1", -1},
    {"GET /q?debug=%31 HTTP/1.1\r\nHost: h\r\n\r\n", "127.0.0.1", -1}, /* as sent */
    {"GET /q?empty= HTTP/1.1\r\nHost: h\r\n\r\n", "127.0.0.1", 9},
    {"GET /q?empty HTTP/1.1\r\nHost: h\r\n\r\n", "127.0.0.1", 9},
    {"GET /n HTTP/1.1\r\nHost: h\r\n\r\n", "10.1.2.3", 10},
    {"GET /n HTTP/1.1\r\nHost: h\r\n\r\n", "11.1.2.3", -1},
    {"GET /n HTTP/1.1\r\nHost: h\r\n\r\n", "2001:db8::1", 10},
    {"GET /n HTTP/1.1\r\nHost: h\r\n\r\n", "::ffff:10.9.9.9", 10},
    {"GET /u/42/bob HTTP/1.1\r\nHost: h\r\n\r\n", "127.0.0.1", 11},
    {"GET /u/42/bob/ HTTP/1.1\r\nHost: h\r\n\r\n", "127.0.0.1", -1},
    {"GET /x HTTP/1.0\r\n\r\n", "127.0.0.1", -1},
};

Test(route_match, table)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct route_match mt;
		int r = route_for(cases[i].req, cases[i].client, &mt);
		cr_expect_eq(r, cases[i].route, "case %zu (%s from %s): route %d, want %d", i,
			     cases[i].req, cases[i].client, r, cases[i].route);
	}
}

Test(route_match, captures_of_the_regex)
{
	struct route_match mt;
	cr_assert_eq(route_for("GET /u/42/bob HTTP/1.1\r\nHost: h\r\n\r\n", "127.0.0.1", &mt), 11);
	cr_assert_eq(mt.n_caps, 3);
	cr_assert_eq(mt.caps[1].len, 2);
	cr_assert_eq(memcmp(mt.caps[1].p, "42", 2), 0);
	cr_assert_eq(memcmp(mt.caps[2].p, "bob", 3), 0);
	cr_assert_eq(route_for("GET / HTTP/1.1\r\nHost: v17.api.x\r\n\r\n", "127.0.0.1", &mt), 2);
	cr_assert_eq(mt.n_caps, 2);
	cr_assert_eq(memcmp(mt.caps[1].p, "17", 2), 0);
	/* A route without a regex has none. */
	cr_assert_eq(route_for("GET /exact HTTP/1.1\r\nHost: h\r\n\r\n", "127.0.0.1", &mt), 3);
	cr_assert_eq(mt.n_caps, 0);
}

Test(route_match, cache_rules_by_route)
{
	/* No route: cache.rules as without routes (here: none). */
	cr_assert_null(route_cache_rule(cfg, NULL, "h", 1, "/", 1));
	cr_assert_null(route_cache_rule(cfg, &cfg->routes[0], "h", 1, "/", 1));
}
