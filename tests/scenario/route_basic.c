/*
 * Routes with several real origins (docs/routing.md): which backend a
 * request reaches by host, path, method, header, query and network (counted
 * at the origins), redirects, synthetic responses and denials, header
 * rules on the way in and out (on misses and hits), rewrites with the
 * cache key left alone or taken from the rewrite, rate limits, error pages,
 * and the warning for a route that is never reached.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

TestSuite(route_basic, .fini = harness_fini, .timeout = 60);

/* Origins a, b, c behind backends a, b, c, and ROUTES (a YAML list, with
 * %1$d %2$d %3$d... unused: backends are named) appended with EXTRA. */
static void start_site(struct proc o[3], struct proc *d, const char *routes, const char *extra)
{
	for (int i = 0; i < 3; i++)
		start_origin(&o[i]);
	memset(d, 0, sizeof(*d));
	d->port = free_port();
	char *y = NULL;
	int n = asprintf(&y,
			 "listen: [\"127.0.0.1:%d\"]\n"
			 "threads: 2\n"
			 "backends:\n"
			 "  - {name: a, servers: [\"127.0.0.1:%d\"], first_byte_timeout: 2s}\n"
			 "  - {name: b, servers: [\"127.0.0.1:%d\"], first_byte_timeout: 2s}\n"
			 "  - {name: c, servers: [\"127.0.0.1:%d\"], first_byte_timeout: 2s}\n"
			 "routes:\n%s%s",
			 d->port, o[0].port, o[1].port, o[2].port, routes, extra ? extra : "");
	cr_assert(n > 0);
	start_ringcache(d, y);
	free(y);
}

/* RAW (a whole request) on a fresh connection; the response in R. */
static void raw_once(int port, const char *raw, struct response *r, int flags)
{
	struct conn c;
	conn_open(&c, port);
	cr_assert_eq(conn_send_str(&c, raw), 0);
	cr_assert_eq(read_response(&c, r, flags), READ_OK, "%s: %s", raw, r->error);
	conn_close(&c);
}

/* Which of the three origins answered R (0..2), -1: none. */
static int origin_of(const struct response *r, struct proc o[3])
{
	const char *p = resp_header(r, "X-Origin-Port");
	for (int i = 0; p && i < 3; i++) {
		if (atoi(p) == o[i].port)
			return i;
	}
	return -1;
}

static int route_of(int port, const char *raw, struct proc o[3])
{
	struct response r;
	raw_once(port, raw, &r, 0);
	cr_assert_eq(r.status, 200, "%s\n-> %s", raw, r.raw_head);
	int i = origin_of(&r, o);
	response_free(&r);
	return i;
}

Test(route_basic, requests_reach_the_backend_their_route_names)
{
	struct proc o[3], d;
	start_site(o, &d,
		   "  - match: {host: \"static.example.com\"}\n"
		   "    backend: b\n"
		   "  - match: {host: \"*.img.example.com\"}\n"
		   "    backend: c\n"
		   "  - match: {path_prefix: \"/api/\", method: [GET, POST]}\n"
		   "    backend: b\n"
		   "  - match: {header: {name: X-Beta, equals: \"1\"}}\n"
		   "    backend: c\n"
		   "  - match: {query: {name: v, equals: \"2\"}}\n"
		   "    backend: c\n"
		   "  - match: {client: [\"10.0.0.0/8\"]}\n"
		   "    backend: b\n"
		   "  - match: {path_regex: \"^/u/[0-9]+$\"}\n"
		   "    backend: c\n",
		   NULL);
	const int p = d.port;
	/* Host: exact in any case and with a port; *.suffix needs one more label. */
	cr_assert_eq(route_of(p, "GET /x?size=3 HTTP/1.1\r\nHost: static.example.com\r\n\r\n", o),
		     1);
	cr_assert_eq(
	    route_of(p, "GET /x?size=3 HTTP/1.1\r\nHost: STATIC.example.com:80\r\n\r\n", o), 1);
	cr_assert_eq(route_of(p, "GET /x?size=3 HTTP/1.1\r\nHost: a.img.example.com\r\n\r\n", o),
		     2);
	cr_assert_eq(route_of(p, "GET /x?size=3 HTTP/1.1\r\nHost: img.example.com\r\n\r\n", o), 0);
	/* Path prefix and method, on the normalised path. */
	cr_assert_eq(route_of(p, "GET /api/x?size=3 HTTP/1.1\r\nHost: h\r\n\r\n", o), 1);
	cr_assert_eq(route_of(p, "GET /%61pi/x?size=3 HTTP/1.1\r\nHost: h\r\n\r\n", o), 1);
	cr_assert_eq(route_of(p, "GET //api//x?size=3 HTTP/1.1\r\nHost: h\r\n\r\n", o), 1);
	cr_assert_eq(route_of(p, "GET /API/x?size=3 HTTP/1.1\r\nHost: h\r\n\r\n", o), 0);
	cr_assert_eq(route_of(p, "DELETE /api/x?size=3 HTTP/1.1\r\nHost: h\r\n\r\n", o), 0);
	/* A header: the name in any case; two lines are "1, 1", not "1"; a
	 * name with "_" is removed before routing. */
	cr_assert_eq(route_of(p, "GET /h?size=3 HTTP/1.1\r\nHost: h\r\nx-beta: 1\r\n\r\n", o), 2);
	cr_assert_eq(route_of(p, "GET /h?size=3 HTTP/1.1\r\nHost: h\r\nX-Beta:   1  \r\n\r\n", o),
		     2);
	cr_assert_eq(
	    route_of(p, "GET /h?size=3 HTTP/1.1\r\nHost: h\r\nX-Beta: 1\r\nX-Beta: 1\r\n\r\n", o),
	    0);
	cr_assert_eq(route_of(p, "GET /h?size=3 HTTP/1.1\r\nHost: h\r\nX_Beta: 1\r\n\r\n", o), 0);
	cr_assert_eq(route_of(p, "GET /h?size=3 HTTP/1.1\r\nHost: h\r\nX-Beta: 10\r\n\r\n", o), 0);
	/* A query parameter: the first of the name, as sent. */
	cr_assert_eq(route_of(p, "GET /q?size=3&v=2 HTTP/1.1\r\nHost: h\r\n\r\n", o), 2);
	cr_assert_eq(route_of(p, "GET /q?size=3&vv=2 HTTP/1.1\r\nHost: h\r\n\r\n", o), 0);
	/* A network the test client is not in; a regex on the path. */
	cr_assert_eq(route_of(p, "GET /u/42?size=3 HTTP/1.1\r\nHost: h\r\n\r\n", o), 2);
	cr_assert_eq(route_of(p, "GET /u/42x?size=3 HTTP/1.1\r\nHost: h\r\n\r\n", o), 0);
	/* The origins counted what the answers said. */
	cr_assert_eq(origin_requests(o[1].port, NULL), 5);
	cr_assert_eq(origin_requests(o[2].port, NULL), 5);
	harness_end();
}

Test(route_basic, redirects_responses_and_denials_are_answered_here)
{
	struct proc o[3], d;
	start_site(
	    o, &d,
	    "  - match: {host: old.example.com}\n"
	    "    redirect: {status: 301, location: \"https://new.example.com${path}${query}\"}\n"
	    "  - match: {path_regex: \"^/img/([a-z]+)\\\\.png$\"}\n"
	    "    redirect: {status: 308, location: \"/images/${1}.webp\"}\n"
	    "  - match: {path: /maintenance}\n"
	    "    respond: {status: 503, body: \"down for maintenance\\n\", headers: {Retry-After: "
	    "\"120\"}}\n"
	    "  - match: {path: /teapot}\n"
	    "    respond: {status: 418, body: \"short and stout\", content_type: text/x-tea}\n"
	    "  - match: {path_prefix: /admin/}\n"
	    "    deny: true\n"
	    "  - match: {path_prefix: /gone/}\n"
	    "    deny: 451\n"
	    "    error_pages: {451: {body: \"<p>not here</p>\", content_type: text/html}}\n",
	    NULL);
	struct response r;
	raw_once(d.port, "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: old.example.com\r\n\r\n", &r, 0);
	cr_assert_eq(r.status, 301, "%s", r.raw_head);
	cr_assert_str_eq(resp_header(&r, "Location"), "https://new.example.com/a/b?x=1&y=2");
	response_free(&r);
	raw_once(d.port, "GET /img/cat.png HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0);
	cr_assert_eq(r.status, 308, "%s", r.raw_head);
	cr_assert_str_eq(resp_header(&r, "Location"), "/images/cat.webp");
	response_free(&r);
	raw_once(d.port, "GET /maintenance HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0);
	cr_assert_eq(r.status, 503);
	cr_assert_str_eq(resp_header(&r, "Retry-After"), "120");
	cr_assert_str_eq(r.body, "down for maintenance\n");
	cr_assert_str_eq(resp_header(&r, "Content-Type"), "text/plain; charset=utf-8");
	response_free(&r);
	/* HEAD: the length, no body; the connection stays usable. */
	struct conn c;
	conn_open(&c, d.port);
	http_req(&c, "HEAD", "/teapot", NULL, &r);
	cr_assert_eq(r.status, 418);
	cr_assert_not_null(strstr(r.raw_head, "Content-Length: 15\r\n"), "%s", r.raw_head);
	cr_assert_eq(r.body_len, 0);
	response_free(&r);
	http_req(&c, "GET", "/teapot", NULL, &r);
	cr_assert_str_eq(r.body, "short and stout");
	cr_assert_str_eq(resp_header(&r, "Content-Type"), "text/x-tea");
	response_free(&r);
	/* Denials, with the route's error page; the normalised path decides. */
	http_req(&c, "GET", "/admin/users", NULL, &r);
	cr_assert_eq(r.status, 403);
	response_free(&r);
	http_req(&c, "GET", "/%61dmin/users", NULL, &r);
	cr_assert_eq(r.status, 403);
	response_free(&r);
	http_req(&c, "GET", "/gone/x", NULL, &r);
	cr_assert_eq(r.status, 451);
	cr_assert_str_eq(r.body, "<p>not here</p>");
	cr_assert_str_eq(resp_header(&r, "Content-Type"), "text/html");
	response_free(&r);
	conn_close(&c);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(origin_requests(o[i].port, NULL), 0, "origin %d was asked", i);
	harness_end();
}

Test(route_basic, header_rules_apply_in_and_out_on_misses_and_hits)
{
	struct proc o[3], d;
	start_site(
	    o, &d,
	    "  - match: {path_prefix: /api/}\n"
	    "    backend: a\n"
	    "    rewrite: {strip_prefix: /api}\n"
	    "    request_headers:\n"
	    "      set: {X-Route: api, X-Who: \"${client} ${method} ${path}\"}\n"
	    "      remove: [Cookie, X-Global-In]\n"
	    "    response_headers: {set: {X-Served-By: ringcache}, remove: [Server]}\n"
	    "  - match: {path_prefix: /plain/}\n"
	    "    backend: a\n"
	    "    rewrite: {strip_prefix: /plain}\n"
	    "    headers_inherit: false\n",
	    "request_headers: {set: {X-Global-In: \"yes\"}, add: {X-Id: \"${request_id}\"}}\n"
	    "response_headers: {set: {X-Global: \"g\"}}\n");
	const char *head, *body;
	size_t hl, bl;
	char v[256];
	struct response r;
	/* In: set, remove (also what the global rules set), add; values expanded. */
	raw_once(d.port,
		 "POST /api/echo HTTP/1.1\r\nHost: h\r\nCookie: a=b\r\nContent-Length: 2\r\n\r\nhi",
		 &r, 0);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	cr_assert_eq(echo_split(&r, &head, &hl, &body, &bl), 0);
	cr_assert_str_eq(echo_header(head, hl, "X-Route", v, sizeof(v)) ?: "-", "api");
	cr_assert_str_eq(echo_header(head, hl, "X-Who", v, sizeof(v)) ?: "-",
			 "127.0.0.1 POST /api/echo");
	cr_assert_null(echo_header(head, hl, "Cookie", v, sizeof(v)));
	cr_assert_null(echo_header(head, hl, "X-Global-In", v, sizeof(v)));
	cr_assert_not_null(echo_header(head, hl, "X-Id", v, sizeof(v)));
	cr_assert_eq(strlen(v), 16, "request id '%s'", v);
	/* Out: the route's and the global rules; Server removed. */
	cr_assert_str_eq(resp_header(&r, "X-Served-By") ?: "-", "ringcache");
	cr_assert_str_eq(resp_header(&r, "X-Global") ?: "-", "g");
	cr_assert_null(resp_header(&r, "Server"));
	response_free(&r);
	/* A stored object: its miss and its hit both carry the rules, and the
	 * object itself carries none (the other route's hit shows the origin's
	 * Server and no X-Served-By). */
	for (int i = 0; i < 2; i++) {
		raw_once(d.port, "GET /api/obj?size=5&cc=max-age%3D60 HTTP/1.1\r\nHost: h\r\n\r\n",
			 &r, 0);
		cr_assert_eq(r.status, 200);
		cr_assert(cache_status_has(&r, i ? "hit" : "stored"), "%s", cache_status(&r));
		cr_assert_str_eq(resp_header(&r, "X-Served-By") ?: "-", "ringcache");
		cr_assert_null(resp_header(&r, "Server"), "%s", r.raw_head);
		response_free(&r);
	}
	/* headers_inherit: false: no global rules. */
	raw_once(d.port, "GET /plain/echo HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0);
	cr_assert_eq(echo_split(&r, &head, &hl, &body, &bl), 0);
	cr_assert_null(echo_header(head, hl, "X-Global-In", v, sizeof(v)));
	cr_assert_null(resp_header(&r, "X-Global"));
	cr_assert_not_null(resp_header(&r, "Server"));
	response_free(&r);
	/* No route matched: the global rules. */
	raw_once(d.port, "GET /echo HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0);
	cr_assert_eq(echo_split(&r, &head, &hl, &body, &bl), 0);
	cr_assert_str_eq(echo_header(head, hl, "X-Global-In", v, sizeof(v)) ?: "-", "yes");
	cr_assert_str_eq(resp_header(&r, "X-Global") ?: "-", "g");
	response_free(&r);
	harness_end();
}

Test(route_basic, rewrites_keep_the_clients_key_unless_told)
{
	struct proc o[3], d;
	start_site(o, &d,
		   "  - match: {path_prefix: /old/}\n"
		   "    backend: a\n"
		   "    rewrite: {strip_prefix: /old}\n"
		   "  - match: {path_prefix: /v1/}\n"
		   "    backend: a\n"
		   "    rewrite: {strip_prefix: /v1}\n"
		   "    cache_key: rewritten\n"
		   "  - match: {path_regex: \"^/user/([0-9]+)$\"}\n"
		   "    backend: a\n"
		   "    rewrite: {regex: \"^/user/([0-9]+)$\", replace: \"/profile/${1}\"}\n"
		   "  - match: {path: /hosted/echo}\n"
		   "    backend: a\n"
		   "    rewrite: {strip_prefix: /hosted}\n"
		   "    backend_host: users.internal\n",
		   NULL);
	const char *head, *body;
	size_t hl, bl;
	char v[128];
	struct response r;
	/* The origin gets the rewritten target, query kept. */
	raw_once(d.port, "GET /old/echo?a=1 HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0);
	cr_assert_eq(echo_split(&r, &head, &hl, &body, &bl), 0);
	cr_assert(!strncmp(head, "GET /echo?a=1 HTTP/1.1", 22), "%s", excerpt(head, hl));
	response_free(&r);
	raw_once(d.port, "GET /user/7 HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	response_free(&r);
	cr_assert_eq(origin_requests(o[0].port, "/profile/7"), 1);
	/* The Host the route sends. */
	raw_once(d.port, "GET /hosted/echo HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0);
	cr_assert_eq(echo_split(&r, &head, &hl, &body, &bl), 0);
	cr_assert_str_eq(echo_header(head, hl, "Host", v, sizeof(v)) ?: "-", "users.internal");
	cr_assert_eq(echo_header_count(head, hl, "Host"), 1);
	response_free(&r);
	/* Key: the client's path. /old/k and /k are two objects... */
	const char *k = "/k?size=4&cc=max-age=60";
	char raw[256];
	snprintf(raw, sizeof(raw), "GET /old%s HTTP/1.1\r\nHost: h\r\n\r\n", k);
	raw_once(d.port, raw, &r, 0);
	response_free(&r);
	snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", k);
	raw_once(d.port, raw, &r, 0);
	cr_assert_not(cache_status_has(&r, "hit"), "%s", cache_status(&r));
	response_free(&r);
	/* ... while with cache_key: rewritten /v1/k is the object /k is. */
	snprintf(raw, sizeof(raw), "GET /v1%s HTTP/1.1\r\nHost: h\r\n\r\n", k);
	raw_once(d.port, raw, &r, 0);
	cr_assert(cache_status_has(&r, "hit"), "%s", cache_status(&r));
	response_free(&r);
	cr_assert_eq(origin_requests(o[0].port, "/k?size=4&cc=max-age=60"), 2);
	harness_end();
}

Test(route_basic, rate_limits_answer_429_with_retry_after)
{
	struct proc o[3], d;
	start_site(o, &d,
		   "  - match: {path_prefix: /rl/}\n"
		   "    backend: a\n"
		   "    rate_limit: {rate: 1, burst: 3}\n"
		   "    error_pages: {429: {body: \"slow down\\n\", content_type: text/plain}}\n",
		   "admin: {listen: \"127.0.0.1:0\"}\n");
	struct conn c;
	struct response r;
	conn_open(&c, d.port);
	int ok = 0, limited = 0;
	for (int i = 0; i < 6; i++) {
		http_req(&c, "GET", "/rl/x?size=2", NULL, &r);
		if (r.status == 200)
			ok++;
		if (r.status == 429) {
			limited++;
			const char *ra = resp_header(&r, "Retry-After");
			cr_assert(ra && atoi(ra) >= 1, "Retry-After %s", ra ? ra : "(none)");
			cr_assert_str_eq(r.body, "slow down\n");
		}
		response_free(&r);
	}
	/* The burst at once (a second may add one token on a slow machine). */
	cr_assert(ok == 3 || ok == 4, "%d passed", ok);
	cr_assert_eq(ok + limited, 6);
	/* Another route is not limited; the connection stayed usable. */
	http_req(&c, "GET", "/free?size=2", NULL, &r);
	cr_assert_eq(r.status, 200);
	response_free(&r);
	conn_close(&c);
	harness_end();
}

Test(route_basic, error_pages_replace_the_built_in_text)
{
	struct proc o[1], d;
	int dead = free_port();
	/* A backend nothing listens on, and pages at each level. */
	start_origin(&o[0]);
	memset(&d, 0, sizeof(d));
	d.port = free_port();
	char page[256];
	write_test_file("502.html", "<h1>backend away</h1>\n", page, sizeof(page));
	char *y = NULL;
	cr_assert(asprintf(&y,
			   "listen: [\"127.0.0.1:%d\"]\n"
			   "backends:\n"
			   "  - name: a\n"
			   "    servers: [\"127.0.0.1:%d\"]\n"
			   "  - name: dead\n"
			   "    servers: [\"127.0.0.1:%d\"]\n"
			   "    connect_timeout: 1s\n"
			   "    error_pages: {502: {file: \"%s\", content_type: text/html}}\n"
			   "routes:\n"
			   "  - match: {path_prefix: /dead/}\n"
			   "    backend: dead\n"
			   "  - match: {path_prefix: /no/}\n"
			   "    deny: 404\n"
			   "error_pages: {404: \"nothing here\\n\", 400: \"bad request\\n\"}\n",
			   d.port, o[0].port, dead, page) > 0);
	start_ringcache(&d, y);
	free(y);
	struct response r;
	raw_once(d.port, "GET /dead/x HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0);
	cr_assert_eq(r.status, 502);
	cr_assert_str_eq(r.body, "<h1>backend away</h1>\n");
	cr_assert_str_eq(resp_header(&r, "Content-Type"), "text/html");
	response_free(&r);
	raw_once(d.port, "GET /no/x HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0);
	cr_assert_eq(r.status, 404);
	cr_assert_str_eq(r.body, "nothing here\n");
	response_free(&r);
	/* Ringcache's own 4xx take the page too: a path routing refuses,
	 * and a head the parser refuses before any route is looked at. */
	raw_once(d.port, "GET /a/%2e%2e/b HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0);
	cr_assert_eq(r.status, 400);
	cr_assert_str_eq(r.body, "bad request\n");
	response_free(&r);
	raw_once(d.port, "GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n", &r, 0);
	cr_assert_eq(r.status, 400);
	cr_assert_str_eq(r.body, "bad request\n");
	cr_assert(resp_header_has_token(&r, "Connection", "close"));
	response_free(&r);
	/* A status without a page keeps the built-in text. */
	char *big = malloc(40000);
	int bl = snprintf(big, 40000, "GET / HTTP/1.1\r\nHost: h\r\nX: ");
	memset(big + bl, 'a', 30000);
	strcpy(big + bl + 30000, "\r\n\r\n");
	raw_once(d.port, big, &r, 0);
	free(big);
	cr_assert_eq(r.status, 431);
	cr_assert(r.body && !strncmp(r.body, "431 ", 4), "%s", r.body ? r.body : "");
	response_free(&r);
	harness_end();
}

Test(route_basic, a_route_never_reached_is_warned_about)
{
	char path[256];
	write_test_file("warn.yaml",
			"listen: [\"127.0.0.1:18080\"]\n"
			"backends: [{name: a, servers: [\"127.0.0.1:19000\"]}]\n"
			"routes:\n"
			"  - match: {path_prefix: /}\n"
			"    backend: a\n"
			"  - match: {path: /x}\n"
			"    deny: true\n",
			path, sizeof(path));
	char *argv[] = {RINGCACHE_BIN, "-t", "-c", path, NULL};
	struct cmd_result res;
	run_cmd(argv, 5000, &res);
	cr_assert(res.exited && res.exit_code == 0, "%s", res.err);
	cr_assert_not_null(strstr(res.err, "warn.yaml:6:5: warning: routes[1] is never reached: "
					   "routes[0] before it matches every request it would"),
			   "%s", res.err);
	cmd_result_free(&res);
}

/* PURGE on the proxy listener: from cache.purge_allow, every variant of
 * what a GET would find, under its route's key options; from others 403;
 * without purge_allow, a method like any other. */
Test(route_basic, purge_on_the_proxy_listener)
{
	struct proc o[3], d;
	start_site(o, &d,
		   "  - match: {path_prefix: /nq/}\n"
		   "    backend: a\n"
		   "    cache: {key: {query: false}}\n",
		   "cache: {purge_allow: [\"127.0.0.0/8\"]}\n");
	struct response r;
	const char *get = "GET /p?size=3&cc=max-age%3D60 HTTP/1.1\r\nHost: h\r\n\r\n";
	raw_once(d.port, get, &r, 0);
	response_free(&r);
	raw_once(d.port, get, &r, 0);
	cr_assert(cache_status_has(&r, "hit"), "%s", cache_status(&r));
	response_free(&r);
	raw_once(d.port, "PURGE /p?size=3&cc=max-age%3D60 HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	cr_assert_str_eq(r.body, "{\"purged\": 1}\n");
	response_free(&r);
	raw_once(d.port, get, &r, 0);
	cr_assert_not(cache_status_has(&r, "hit"), "%s", cache_status(&r));
	response_free(&r);
	/* The route's key drops the query: a PURGE with any query finds it. */
	raw_once(d.port, "GET /nq/x?size=3&cc=max-age%3D60 HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0);
	response_free(&r);
	raw_once(d.port, "PURGE /nq/x?other=1 HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0);
	cr_assert_str_eq(r.body, "{\"purged\": 1}\n");
	response_free(&r);
	cr_assert_eq(origin_requests(o[0].port, NULL), 3);
	harness_end();
	/* From a client outside purge_allow: 403, nothing purged or sent. */
	start_site(o, &d, "  - backend: a\n", "cache: {purge_allow: [\"10.0.0.0/8\"]}\n");
	raw_once(d.port, get, &r, 0);
	response_free(&r);
	raw_once(d.port, "PURGE /p?size=3&cc=max-age%3D60 HTTP/1.1\r\nHost: h\r\n\r\n", &r, 0);
	cr_assert_eq(r.status, 403);
	response_free(&r);
	raw_once(d.port, get, &r, 0);
	cr_assert(cache_status_has(&r, "hit"), "%s", cache_status(&r));
	response_free(&r);
	cr_assert_eq(origin_requests(o[0].port, NULL), 1);
	harness_end();
}
