/*
 * conf/examples/site.yaml, as shipped, in front of three real origins (app,
 * static, api): only its loopback ports are changed. Static objects live
 * long and ignore the query, API reads are cached briefly and writes never,
 * the legacy host redirects, the maintenance page is made here, the API's
 * own error page answers when it is down, PURGE works from the deploy host,
 * and every answer says its request id and cache status.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ws.h"

#ifndef SOURCE_DIR
#error "SOURCE_DIR must be defined (the source tree, for conf/examples)"
#endif

TestSuite(route_site, .fini = harness_fini, .timeout = 90);

enum { APP, STATIC, API };

struct site {
	struct proc o[3], d;
	int admin;
};

/* TEXT with every FROM replaced by TO (malloc'd; TEXT freed). */
static char *replace(char *text, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), n = 0;
	for (const char *p = text; (p = strstr(p, from)); p += fl)
		n++;
	cr_assert_gt(n, 0, "site.yaml no longer has %s", from);
	char *out = malloc(strlen(text) + n * tl + 1), *w = out;
	const char *p = text, *q;
	while ((q = strstr(p, from))) {
		memcpy(w, p, (size_t)(q - p));
		w += q - p;
		memcpy(w, to, tl);
		w += tl;
		p = q + fl;
	}
	strcpy(w, p);
	free(text);
	return out;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = malloc((size_t)n + 1);
	cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = 0;
	fclose(f);
	return s;
}

static void start_site(struct site *s)
{
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 3; i++)
		start_origin(&s->o[i]);
	s->d.port = free_port();
	s->admin = free_port();
	char *y = read_file(SOURCE_DIR "/conf/examples/site.yaml");
	static const char *const ports[3] = {"127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"};
	char to[64];
	for (int i = 0; i < 3; i++) {
		snprintf(to, sizeof(to), "127.0.0.1:%d", s->o[i].port);
		y = replace(y, ports[i], to);
	}
	snprintf(to, sizeof(to), "127.0.0.1:%d", s->d.port);
	y = replace(y, "127.0.0.1:8080", to);
	snprintf(to, sizeof(to), "127.0.0.1:%d", s->admin);
	y = replace(y, "127.0.0.1:9090", to);
	start_ringcache(&s->d, y);
	free(y);
}

/* METHOD TARGET with Host: HOST and EXTRA (header lines, then a body) on a
 * fresh connection. */
static void req(const struct site *s, const char *method, const char *host, const char *target,
		const char *extra, struct response *r)
{
	struct conn c;
	conn_open(&c, s->d.port);
	cr_assert_eq(conn_sendf(&c, "%s %s HTTP/1.1\r\nHost: %s\r\n%s%s", method, target, host,
				extra ? extra : "\r\n", ""),
		     0);
	cr_assert_eq(read_response(&c, r, !strcmp(method, "HEAD") ? RESP_HEAD : 0), READ_OK,
		     "%s %s: %s", method, target, r->error);
	conn_close(&c);
}

static void get(const struct site *s, const char *host, const char *target, struct response *r)
{
	req(s, "GET", host, target, NULL, r);
}

/* Which origin answered R, -1: none (made here or from the cache). */
static int origin_of(const struct site *s, const struct response *r)
{
	const char *p = resp_header(r, "X-Origin-Port");
	for (int i = 0; p && i < 3; i++) {
		if (atoi(p) == s->o[i].port)
			return i;
	}
	return -1;
}

static void expect_labels(const struct response *r, const char *cache)
{
	const char *id = resp_header(r, "X-Request-Id");
	cr_assert(id && *id, "no request id:\n%s", r->raw_head);
	const char *x = resp_header(r, "X-Cache");
	cr_assert(x && !strcmp(x, cache), "X-Cache %s, expected %s:\n%s", x ? x : "(none)", cache,
		  r->raw_head);
}

Test(route_site, the_example_passes_the_check_as_shipped)
{
	char *argv[] = {RINGCACHE_BIN, "-t", "-c", SOURCE_DIR "/conf/examples/site.yaml", NULL};
	struct cmd_result r;
	run_cmd(argv, 10000, &r);
	cr_assert(r.exited && r.exit_code == 0, "ringcache -t: %d\n%s%s", r.exit_code, r.out,
		  r.err);
	cmd_result_free(&r);
}

Test(route_site, static_objects_live_long_and_share_one_object_across_cache_busters)
{
	struct site s;
	start_site(&s);
	struct response r;
	/* By host: the origin says nothing about caching; the rule's 7 d do. */
	get(&s, "static.example.com", "/logo.png?v=1&size=100", &r);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(origin_of(&s, &r), STATIC, "%s", r.raw_head);
	cr_assert_str_eq(resp_header(&r, "Cache-Control"), "public, max-age=604800, immutable");
	expect_labels(&r, "miss");
	response_free(&r);
	get(&s, "static.example.com", "/logo.png?v=2&size=100", &r);
	cr_assert_eq(r.status, 200);
	expect_labels(&r, "hit");
	cr_assert_eq(r.body_len, 100);
	cr_assert_geq(cache_status_param(&r, "ttl", 0), 604000, "%s", r.raw_head);
	response_free(&r);
	cr_assert_eq(origin_requests(s.o[STATIC].port, NULL), 1);

	/* By path on the site's own host: /static/ is stripped before the
	 * origin, which serves /app.css. */
	get(&s, "www.example.com", "/static/app.css?size=50", &r);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(origin_of(&s, &r), STATIC);
	response_free(&r);
	cr_assert_eq(origin_requests(s.o[STATIC].port, "/app.css?size=50"), 1);
	get(&s, "www.example.com", "/static/app.css?size=50", &r);
	expect_labels(&r, "hit");
	response_free(&r);
	cr_assert_eq(origin_requests(s.o[STATIC].port, NULL), 2);
	harness_end();
}

Test(route_site, api_reads_are_cached_briefly_and_writes_never)
{
	struct site s;
	start_site(&s);
	struct response r;
	/* The origin says an hour; the api rule's 5 s win. */
	get(&s, "www.example.com", "/api/items?cc=max-age%3D3600&size=20", &r);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(origin_of(&s, &r), API);
	cr_assert_str_eq(resp_header(&r, "X-Served-By"), "ringcache");
	expect_labels(&r, "miss");
	response_free(&r);
	get(&s, "www.example.com", "/api/items?cc=max-age%3D3600&size=20", &r);
	expect_labels(&r, "hit");
	long ttl = cache_status_param(&r, "ttl", -1);
	cr_assert(ttl >= 0 && ttl <= 5, "ttl %ld:\n%s", ttl, r.raw_head);
	response_free(&r);
	cr_assert_eq(origin_requests(s.o[API].port, "/api/items?cc=max-age%3D3600&size=20"), 1);

	/* Writes: each reaches the API, none is looked up or stored, and the
	 * cached read is not served for them. */
	for (int i = 0; i < 3; i++) {
		req(&s, "POST", "www.example.com", "/api/orders?size=10",
		    "Content-Length: 7\r\nContent-Type: application/json\r\n\r\n{\"a\":1}", &r);
		cr_assert_eq(r.status, 200, "%s", r.raw_head);
		cr_assert_eq(origin_of(&s, &r), API);
		expect_labels(&r, "pass");
		response_free(&r);
	}
	cr_assert_eq(origin_requests(s.o[API].port, "/api/orders?size=10"), 3);
	get(&s, "www.example.com", "/api/orders?size=10", &r);
	expect_labels(&r, "miss");
	response_free(&r);
	cr_assert_eq(origin_requests(s.o[API].port, "/api/orders?size=10"), 4);

	/* The write limit: 20/s with a burst of 40 per client; 120 writes
	 * in a row outrun it however slow this machine is (the refill of 3 s
	 * is 60 tokens), and the excess gets 429 with Retry-After. */
	int limited = 0;
	for (int i = 0; i < 120 && !limited; i++) {
		req(&s, "DELETE", "www.example.com", "/api/orders/7", NULL, &r);
		if (r.status == 429) {
			limited = 1;
			cr_assert_not_null(resp_header(&r, "Retry-After"), "%s", r.raw_head);
		} else {
			cr_assert_eq(r.status, 200, "%s", r.raw_head);
		}
		response_free(&r);
	}
	cr_assert(limited, "120 writes and no 429");
	harness_end();
}

Test(route_site, legacy_host_redirects_and_maintenance_is_made_here)
{
	struct site s;
	start_site(&s);
	struct response r;
	get(&s, "old.example.com", "/a/b?x=1&y=2", &r);
	cr_assert_eq(r.status, 301);
	cr_assert_str_eq(resp_header(&r, "Location"), "https://www.example.com/a/b?x=1&y=2");
	response_free(&r);
	get(&s, "old.example.com", "/", &r);
	cr_assert_eq(r.status, 301);
	cr_assert_str_eq(resp_header(&r, "Location"), "https://www.example.com/");
	response_free(&r);

	get(&s, "www.example.com", "/maintenance", &r);
	cr_assert_eq(r.status, 503);
	cr_assert_str_eq(resp_header(&r, "Retry-After"), "120");
	cr_assert_eq(resp_header_count(&r, "Cache-Control"), 1, "%s", r.raw_head);
	cr_assert_str_eq(resp_header(&r, "Content-Type"), "text/html; charset=utf-8");
	cr_assert(r.body && strstr(r.body, "Back soon"), "%s", r.body ? r.body : "");
	response_free(&r);
	req(&s, "HEAD", "www.example.com", "/maintenance", NULL, &r);
	cr_assert_eq(r.status, 503);
	cr_assert_eq(r.body_len, 0);
	response_free(&r);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(origin_requests(s.o[i].port, NULL), 0, "origin %d was asked", i);
	harness_end();
}

Test(route_site, the_rest_goes_to_the_app_and_its_own_headers_rule)
{
	struct site s;
	start_site(&s);
	struct response r;
	get(&s, "www.example.com", "/page?cc=max-age%3D60&size=30&hdr=X-Powered-By:php", &r);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(origin_of(&s, &r), APP);
	cr_assert_null(resp_header(&r, "X-Powered-By"), "removed on the way out");
	cr_assert_null(resp_header(&r, "X-Served-By"), "the api route's rule only");
	expect_labels(&r, "miss");
	response_free(&r);
	get(&s, "www.example.com", "/page?cc=max-age%3D60&size=30&hdr=X-Powered-By:php", &r);
	expect_labels(&r, "hit");
	cr_assert_null(resp_header(&r, "X-Powered-By"), "removed from hits too");
	response_free(&r);

	/* PURGE from the deploy host (loopback is in purge_allow). */
	req(&s, "PURGE", "www.example.com", "/page?cc=max-age%3D60&size=30&hdr=X-Powered-By:php",
	    NULL, &r);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	cr_assert(r.body && strstr(r.body, "\"purged\": 1"), "%s", r.body ? r.body : "");
	response_free(&r);
	get(&s, "www.example.com", "/page?cc=max-age%3D60&size=30&hdr=X-Powered-By:php", &r);
	expect_labels(&r, "miss");
	response_free(&r);
	cr_assert_eq(origin_requests(s.o[APP].port, NULL), 2);
	harness_end();
}

Test(route_site, websockets_tunnel_on_their_route)
{
	struct site s;
	start_site(&s);
	struct conn c;
	struct response r;
	conn_open(&c, s.d.port);
	ws_handshake(&c, "/ws/chat", NULL, &r);
	/* The response rules apply to the 101 too. */
	expect_labels(&r, "tunnel");
	response_free(&r);
	ws_expect_echo(&c, WS_TEXT, "hello, app", 10, 1);
	ws_close_handshake(&c, 1000, NULL);
	conn_close(&c);
	http_get_once(s.o[APP].port, "/__stats?upgrades", &r);
	cr_assert_eq(json_number(r.body, "upgrades", -1), 1, "%s", r.body);
	response_free(&r);
	harness_end();
}

Test(route_site, a_dead_api_answers_with_its_own_error_page)
{
	struct site s;
	start_site(&s);
	stop_proc(&s.o[API]);
	struct response r;
	get(&s, "www.example.com", "/api/down", &r);
	cr_assert_eq(r.status, 502);
	cr_assert_str_eq(resp_header(&r, "Content-Type"), "application/json");
	cr_assert_str_eq(r.body, "{\"error\": \"api unavailable\"}\n");
	response_free(&r);
	/* Elsewhere, the site's page. */
	stop_proc(&s.o[APP]);
	get(&s, "www.example.com", "/home", &r);
	cr_assert_eq(r.status, 502);
	cr_assert(r.body && strstr(r.body, "Something went wrong"), "%s", r.body ? r.body : "");
	response_free(&r);
	harness_end();
}
