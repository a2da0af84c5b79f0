/*
 * Invalidation: unsafe methods through the proxy, and the admin API (purge,
 * ban, tag purge hard and soft, token, allow list, metrics and stats).
 */
#include "harness.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(cache_invalidate, .fini = harness_fini, .timeout = 30);

static void expect_pattern(const struct response *r, size_t size, const char *what)
{
	cr_assert_eq(r->status, 200, "%s: head: %s", what, r->raw_head);
	cr_assert(r->complete, "%s: incomplete body: %s", what, r->error);
	cr_assert_eq(r->body_len, size, "%s: body %zu bytes, want %zu", what, r->body_len, size);
	cr_assert_eq(pattern_mismatch(r->body, r->body_len, 0), -1, "%s: body: %s", what,
		     excerpt(r->body, r->body_len));
}

/*
 * GET PATH (with EXTRA headers) through the daemon and check where the
 * answer came from: WANT is a Cache-Status member ("hit", "stored"...).
 */
static void get_expect(int port, const char *path, const char *extra, const char *want)
{
	struct response r;
	http_once(port, "GET", path, extra, &r);
	cr_assert_eq(r.status, 200, "GET %s: head: %s", path, r.raw_head);
	cr_assert(cache_status_has(&r, want), "GET %s%s%s: want %s, Cache-Status: %s", path,
		  extra ? " with " : "", extra ? excerpt(extra, strlen(extra)) : "", want,
		  cache_status(&r));
	response_free(&r);
}

/*
 * Origin and daemon with the admin API on a fresh port. ADMIN_MORE are more
 * (indented) admin keys, TOP_MORE more top-level keys. Returns the admin port.
 */
static int start_with_admin(struct proc *o, struct proc *d, const char *admin_more,
			    const char *top_more)
{
	int ap = free_port();
	char extra[2048];
	snprintf(extra, sizeof(extra), "admin:\n  listen: \"127.0.0.1:%d\"\n%s%s", ap,
		 admin_more ? admin_more : "", top_more ? top_more : "");
	start_pair_extra(o, d, extra);
	cr_assert(port_wait(ap, 3000), "the admin API does not accept on 127.0.0.1:%d; log:\n%s",
		  ap, proc_log(d));
	return ap;
}

/* An admin request that must answer WANT_STATUS; the response is left in R. */
static void admin_req(int ap, const char *method, const char *path, const char *extra,
		      int want_status, struct response *r)
{
	http_once(ap, method, path, extra, r);
	cr_assert_eq(r->status, want_status, "%s %s: want %d, head: %s body: %s", method, path,
		     want_status, r->raw_head, excerpt(r->body, r->body_len));
}

/* POST an admin PATH, expect 200 and a JSON body; returns the number under KEY. */
static long long admin_post(int ap, const char *path, const char *key)
{
	struct response r;
	admin_req(ap, "POST", path, NULL, 200, &r);
	long long n = json_number(r.body, key, -1);
	cr_assert_geq(n, 0, "POST %s: no \"%s\" in %s", path, key, excerpt(r.body, r.body_len));
	response_free(&r);
	return n;
}

/* POST /purge for Host test.local and request-target TARGET; returns "purged". */
static long long purge_url(int ap, const char *target)
{
	char enc[1024], path[1200];
	snprintf(path, sizeof(path), "/purge?host=test.local&url=%s",
		 pct_encode(target, enc, sizeof(enc)));
	return admin_post(ap, path, "purged");
}

/* ---- unsafe methods --------------------------------------------------------- */

/*
 * Send an unsafe request for PATH and read its whole response, then at once
 * GET PATH on a connection opened beforehand: a client that has its answer
 * to the POST must not get the old representation any more.
 */
static void unsafe_then_get(int port, const char *method, const char *path, const char *want)
{
	struct conn c, g;
	struct response r;
	conn_open(&c, port);
	conn_open(&g, port);
	/* The unsafe request carries a body, as real ones do. */
	cr_assert_eq(
	    conn_sendf(&c, "%s %s HTTP/1.1\r\nHost: test.local\r\nContent-Length: 5\r\n\r\nhello",
		       method, path),
	    0);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s: %s", method, r.error);
	cr_assert(r.status >= 200 && r.status < 300 && r.complete, "%s: head: %s", method,
		  r.raw_head);
	cr_assert_not(cache_status_has(&r, "hit"), "%s answered from the cache: %s", method,
		      cache_status(&r));
	response_free(&r);
	http_req(&g, "GET", path, NULL, &r);
	cr_assert_eq(r.status, 200, "GET after %s: head: %s", method, r.raw_head);
	cr_assert(cache_status_has(&r, want),
		  "GET %s right after the answer to %s %s: want %s, Cache-Status: %s", path, method,
		  path, want, cache_status(&r));
	response_free(&r);
	conn_close(&c);
	conn_close(&g);
}

/* Each round races a lookup against the invalidation once per method. */
#define ROUNDS 200

Test(cache_invalidate, unsafe_methods_invalidate_the_stored_get)
{
	struct proc o, d;
	const char *path = "/inv?cc=max-age=60&size=20";
	start_pair(&o, &d);
	get_expect(d.port, "/other?cc=max-age=60&size=20", NULL, "stored");
	static const char *const methods[] = {"POST", "PUT", "DELETE"};
	get_expect(d.port, path, NULL, "stored");
	get_expect(d.port, path, NULL, "hit");
	/* Several rounds: a lookup that races the invalidation shows up in some. */
	for (int round = 0; round < ROUNDS; round++) {
		for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
			/* The stored GET is gone: the next GET goes to the origin, and is stored.
			 */
			unsafe_then_get(d.port, methods[i], path, "stored");
			get_expect(d.port, path, NULL, "hit");
		}
	}
	/* The first GET, then an unsafe request and a GET per round and method. */
	cr_assert_eq(origin_requests(o.port, path), 1 + ROUNDS * 3 * 2);
	/* Another URL is untouched. */
	get_expect(d.port, "/other?cc=max-age=60&size=20", NULL, "hit");
	harness_end();
}

Test(cache_invalidate, unsafe_method_invalidates_its_location)
{
	struct proc o, d;
	struct response r;
	/* RFC 9111 4.4: the same-origin Location and Content-Location go too. */
	const char *loc = "/loc?cc=max-age=60&size=10";
	const char *cloc = "/cloc?cc=max-age=60&size=10";
	start_pair(&o, &d);
	get_expect(d.port, loc, NULL, "stored");
	get_expect(d.port, cloc, NULL, "stored");
	get_expect(d.port, loc, NULL, "hit");
	get_expect(d.port, cloc, NULL, "hit");
	http_once(d.port, "POST",
		  "/create?status=201&hdr=Location:%2Floc%3Fcc%3Dmax-age%3D60%26size%3D10"
		  "&hdr=Content-Location:%2Fcloc%3Fcc%3Dmax-age%3D60%26size%3D10",
		  "Content-Length: 0\r\n", &r);
	cr_assert_eq(r.status, 201, "head: %s", r.raw_head);
	cr_assert_str_eq(resp_header(&r, "Location") ?: "(none)", loc, "head: %s", r.raw_head);
	response_free(&r);
	/* Whether it is done before the answer is the test above; this one is about which URLs. */
	sleep_ms(100);
	get_expect(d.port, loc, NULL, "stored");
	get_expect(d.port, cloc, NULL, "stored");
	harness_end();
}

/* ---- purge ------------------------------------------------------------------- */

#define PV_PATH "/pv?cc=max-age=60&size=30&hdr=Vary:Accept-Encoding"

Test(cache_invalidate, admin_purge_removes_every_vary_variant)
{
	struct proc o, d;
	int ap = start_with_admin(&o, &d, NULL, NULL);
	const char *keep = "/keep?cc=max-age=60&size=30";
	get_expect(d.port, PV_PATH, "Accept-Encoding: gzip\r\n", "stored");
	get_expect(d.port, PV_PATH, "Accept-Encoding: br\r\n", "stored");
	get_expect(d.port, PV_PATH, "Accept-Encoding: gzip\r\n", "hit");
	get_expect(d.port, PV_PATH, "Accept-Encoding: br\r\n", "hit");
	get_expect(d.port, keep, NULL, "stored");

	long long n = purge_url(ap, PV_PATH);
	cr_assert_eq(n, 2, "purge of a URL with two variants: \"purged\": %lld", n);
	get_expect(d.port, PV_PATH, "Accept-Encoding: gzip\r\n", "stored");
	get_expect(d.port, PV_PATH, "Accept-Encoding: br\r\n", "stored");
	cr_assert_eq(origin_requests(o.port, PV_PATH), 4);
	get_expect(d.port, keep, NULL, "hit");

	/* Nothing stored under that URL now but the two refetched variants. */
	cr_assert_eq(purge_url(ap, "/nothing-here"), 0);
	/* The PURGE method works as well as POST. */
	struct response r;
	char enc[256], path[400];
	snprintf(path, sizeof(path), "/purge?host=test.local&url=%s",
		 pct_encode(keep, enc, sizeof(enc)));
	admin_req(ap, "PURGE", path, NULL, 200, &r);
	cr_assert_eq(json_number(r.body, "purged", -1), 1, "body: %s", r.body);
	response_free(&r);
	get_expect(d.port, keep, NULL, "stored");
	harness_end();
}

Test(cache_invalidate, admin_requests_are_validated)
{
	struct proc o, d;
	struct response r;
	int ap = start_with_admin(&o, &d, NULL, NULL);
	admin_req(ap, "GET", "/health", NULL, 200, &r);
	cr_assert_str_eq(r.body, "ok\n");
	response_free(&r);
	admin_req(ap, "GET", "/nope", NULL, 404, &r);
	response_free(&r);
	admin_req(ap, "GET", "/purge?url=/x", NULL, 405, &r);
	response_free(&r);
	admin_req(ap, "POST", "/purge", NULL, 400, &r);
	response_free(&r);
	admin_req(ap, "POST", "/ban", NULL, 400, &r);
	response_free(&r);
	/* An invalid regex is refused with the compile error, and bans nothing. */
	admin_req(ap, "POST", "/ban?url=%28unclosed", NULL, 400, &r);
	cr_assert_gt(r.body_len, 0, "400 for a bad regex without the error");
	response_free(&r);
	admin_req(ap, "POST", "/tag", NULL, 400, &r);
	response_free(&r);
	assert_alive(&d);
	harness_end();
}

/* ---- ban --------------------------------------------------------------------- */

/* GET PATH with Host HOST through the daemon; WANT as in get_expect. */
static void get_host_expect(int port, const char *host, const char *path, const char *want)
{
	struct conn c;
	struct response r;
	conn_open(&c, port);
	cr_assert_eq(conn_sendf(&c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host), 0);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert_eq(r.status, 200, "GET %s (Host %s): head: %s", path, host, r.raw_head);
	cr_assert(cache_status_has(&r, want), "GET %s (Host %s): want %s, Cache-Status: %s", path,
		  host, want, cache_status(&r));
	response_free(&r);
	conn_close(&c);
}

Test(cache_invalidate, admin_ban_by_url_regex)
{
	struct proc o, d;
	int ap = start_with_admin(&o, &d, NULL, NULL);
	static const char *const banned[] = {"/img/a.png?cc=max-age=60",
					     "/img/b/c.png?cc=max-age=60"};
	static const char *const kept[] = {"/css/a.css?cc=max-age=60",
					   "/x/img/a.png?cc=max-age=60"};
	for (int i = 0; i < 2; i++) {
		get_expect(d.port, banned[i], NULL, "stored");
		get_expect(d.port, kept[i], NULL, "stored");
	}
	long long seq = admin_post(ap, "/ban?url=%5E%2Fimg%2F", "ban");
	cr_assert_gt(seq, 0);
	for (int i = 0; i < 2; i++) {
		get_expect(d.port, kept[i], NULL, "hit");
		get_expect(d.port, banned[i], NULL, "stored");
		/* The ban covers objects stored before it only. */
		get_expect(d.port, banned[i], NULL, "hit");
	}
	harness_end();
}

Test(cache_invalidate, admin_ban_by_host_regex)
{
	struct proc o, d;
	int ap = start_with_admin(&o, &d, NULL, NULL);
	const char *path = "/h?cc=max-age=60";
	get_host_expect(d.port, "a.example", path, "stored");
	get_host_expect(d.port, "b.example", path, "stored");
	get_host_expect(d.port, "a.example", path, "hit");
	long long seq = admin_post(ap, "/ban?host=%5Ea%5C.", "ban");
	cr_assert_gt(seq, 0);
	get_host_expect(d.port, "b.example", path, "hit");
	get_host_expect(d.port, "a.example", path, "stored");
	/* Both given: both must match. */
	get_host_expect(d.port, "b.example", "/h2?cc=max-age=60", "stored");
	admin_post(ap, "/ban?host=%5Eb%5C.&url=%5E%2Fnomatch", "ban");
	get_host_expect(d.port, "b.example", "/h2?cc=max-age=60", "hit");
	harness_end();
}

/* ---- tags -------------------------------------------------------------------- */

Test(cache_invalidate, admin_tag_purge_hard)
{
	struct proc o, d;
	int ap = start_with_admin(&o, &d, NULL, NULL);
	/* Surrogate-Key is space-separated, Cache-Tag comma-separated. */
	const char *ab = "/t1?cc=max-age=60&hdr=Surrogate-Key:a%20b";
	const char *bc = "/t2?cc=max-age=60&hdr=Surrogate-Key:b%20c";
	const char *ad = "/t3?cc=max-age=60&hdr=Cache-Tag:a,d";
	const char *none = "/t4?cc=max-age=60&hdr=Surrogate-Key:ab";
	const char *all[] = {ab, bc, ad, none};
	for (int i = 0; i < 4; i++)
		get_expect(d.port, all[i], NULL, "stored");
	long long n = admin_post(ap, "/tag?tag=a", "purged");
	cr_assert_eq(n, 2, "tag a is on two objects, \"purged\": %lld", n);
	get_expect(d.port, bc, NULL, "hit");
	get_expect(d.port, none, NULL, "hit");
	get_expect(d.port, ab, NULL, "stored");
	get_expect(d.port, ad, NULL, "stored");
	/* Refetched objects are indexed again under their tags. */
	n = admin_post(ap, "/tag?tag=b", "purged");
	cr_assert_eq(n, 2, "tag b: \"purged\": %lld", n);
	get_expect(d.port, ab, NULL, "stored");
	get_expect(d.port, bc, NULL, "stored");
	cr_assert_eq(admin_post(ap, "/tag?tag=zzz", "purged"), 0);
	harness_end();
}

Test(cache_invalidate, admin_tag_purge_soft_makes_objects_stale)
{
	struct proc o, d;
	struct response r;
	int ap = start_with_admin(&o, &d, NULL, NULL);
	const char *val = "/s1?cc=max-age=60&etag=v1&size=25&hdr=Surrogate-Key:soft";
	const char *noval = "/s2?cc=max-age=60&size=25&hdr=Surrogate-Key:soft";
	get_expect(d.port, val, NULL, "stored");
	get_expect(d.port, noval, NULL, "stored");
	long long n = admin_post(ap, "/tag?tag=soft&soft=1", "purged");
	cr_assert_eq(n, 2, "\"purged\": %lld", n);

	/* With a validator: revalidated (304), the stored body still served. */
	http_once(d.port, "GET", val, NULL, &r);
	expect_pattern(&r, 25, val);
	cr_assert(cache_status_has(&r, "fwd=stale"), "Cache-Status: %s", cache_status(&r));
	cr_assert_eq(cache_status_param(&r, "fwd-status", 0), 304, "Cache-Status: %s",
		     cache_status(&r));
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, val), 2);
	/* Without: refetched. */
	http_once(d.port, "GET", noval, NULL, &r);
	expect_pattern(&r, 25, noval);
	cr_assert(cache_status_has(&r, "fwd=stale"), "Cache-Status: %s", cache_status(&r));
	cr_assert(cache_status_has(&r, "stored"), "Cache-Status: %s", cache_status(&r));
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, noval), 2);
	/* Both are fresh again afterwards. */
	get_expect(d.port, val, NULL, "hit");
	get_expect(d.port, noval, NULL, "hit");
	cr_assert_eq(origin_requests(o.port, val), 2);
	cr_assert_eq(origin_requests(o.port, noval), 2);
	harness_end();
}

Test(cache_invalidate, admin_soft_purge_serves_stale_when_the_origin_is_down)
{
	struct proc o, d;
	struct response r;
	int ap = start_with_admin(&o, &d, NULL, NULL);
	/* Soft-purged objects follow the stale rules: stale-if-error still applies. */
	const char *path = "/s3?cc=max-age=60,stale-if-error=60&size=25&hdr=Surrogate-Key:k";
	get_expect(d.port, path, NULL, "stored");
	cr_assert_eq(admin_post(ap, "/tag?tag=k&soft=1", "purged"), 1);
	stop_proc(&o);
	http_once(d.port, "GET", path, NULL, &r);
	expect_pattern(&r, 25, "soft-purged, origin down");
	cr_assert(cache_status_has(&r, "detail=stale-if-error"), "Cache-Status: %s",
		  cache_status(&r));
	response_free(&r);
	harness_end();
}

/* ---- access control ---------------------------------------------------------- */

Test(cache_invalidate, admin_token_is_required)
{
	struct proc o, d;
	struct response r;
	int ap = start_with_admin(&o, &d, "  token: \"s3cret\"\n", NULL);
	const char *path = "/tok?cc=max-age=60";
	char enc[128], purge[256];
	snprintf(purge, sizeof(purge), "/purge?host=test.local&url=%s",
		 pct_encode(path, enc, sizeof(enc)));
	get_expect(d.port, path, NULL, "stored");

	static const char *const bad[] = {
	    NULL, "Authorization: Bearer wrong\r\n", "Authorization: Bearer s3cret2\r\n",
	    "Authorization: Basic czNjcmV0\r\n", "Authorization: Bearer\r\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		admin_req(ap, "POST", purge, bad[i], 401, &r);
		response_free(&r);
		admin_req(ap, "GET", "/metrics", bad[i], 401, &r);
		response_free(&r);
	}
	/* Nothing was purged by the refused requests. */
	get_expect(d.port, path, NULL, "hit");

	admin_req(ap, "GET", "/health", "Authorization: Bearer s3cret\r\n", 200, &r);
	response_free(&r);
	admin_req(ap, "POST", purge, "Authorization: Bearer s3cret\r\n", 200, &r);
	cr_assert_eq(json_number(r.body, "purged", -1), 1, "body: %s", r.body);
	response_free(&r);
	get_expect(d.port, path, NULL, "stored");
	harness_end();
}

Test(cache_invalidate, admin_allow_list_refuses_other_networks)
{
	struct proc o, d;
	struct response r;
	int ap = start_with_admin(&o, &d, "  allow: [\"10.0.0.0/8\", \"::1/128\"]\n", NULL);
	const char *path = "/allow?cc=max-age=60";
	get_expect(d.port, path, NULL, "stored");
	admin_req(ap, "GET", "/health", NULL, 403, &r);
	response_free(&r);
	admin_req(ap, "POST", "/purge?host=test.local&url=%2Fallow%3Fcc%3Dmax-age%3D60", NULL, 403,
		  &r);
	response_free(&r);
	get_expect(d.port, path, NULL, "hit");
	harness_end();
}

/* ---- metrics and stats ------------------------------------------------------- */

/* Checks Prometheus text exposition format 0.0.4; returns NULL or what is wrong. */
static const char *prom_problem(const char *text, char *why, size_t n)
{
	char typed[128][96];
	size_t n_typed = 0;
	size_t len = strlen(text);
	if (!len || text[len - 1] != '\n')
		return "does not end in a newline";
	for (const char *p = text; *p;) {
		const char *e = strchr(p, '\n');
		int ll = (int)(e - p);
		if (ll == 0) {
			snprintf(why, n, "empty line");
			return why;
		}
		if (*p == '#') {
			char kind[8], name[96], rest[200];
			int k = sscanf(p, "# %7s %95s %199[^\n]", kind, name, rest);
			if (k >= 2 && !strcmp(kind, "TYPE")) {
				if (k != 3 ||
				    (strcmp(rest, "counter") && strcmp(rest, "gauge") &&
				     strcmp(rest, "untyped") && strcmp(rest, "histogram") &&
				     strcmp(rest, "summary"))) {
					snprintf(why, n, "bad TYPE line: %.*s", ll, p);
					return why;
				}
				for (size_t i = 0; i < n_typed; i++) {
					if (!strcmp(typed[i], name)) {
						snprintf(why, n, "second TYPE for %s", name);
						return why;
					}
				}
				if (!strcmp(rest, "counter") &&
				    (strlen(name) < 6 ||
				     strcmp(name + strlen(name) - 6, "_total"))) {
					snprintf(why, n, "counter %s does not end in _total", name);
					return why;
				}
				if (n_typed < 128)
					snprintf(typed[n_typed++], sizeof(typed[0]), "%s", name);
			} else if (k < 2 || strcmp(kind, "HELP")) {
				/* Other comments are allowed; HELP needs a name. */
				if (k >= 1 && !strcmp(kind, "HELP")) {
					snprintf(why, n, "bad HELP line: %.*s", ll, p);
					return why;
				}
			}
		} else {
			const char *q = p;
			if (!(isalpha((unsigned char)*q) || *q == '_' || *q == ':')) {
				snprintf(why, n, "bad metric name: %.*s", ll, p);
				return why;
			}
			while (isalnum((unsigned char)*q) || *q == '_' || *q == ':')
				q++;
			char name[96];
			snprintf(name, sizeof(name), "%.*s", (int)(q - p), p);
			if (*q == '{') {
				q = memchr(q, '}', (size_t)(e - q));
				if (!q) {
					snprintf(why, n, "unclosed labels: %.*s", ll, p);
					return why;
				}
				q++;
			}
			if (*q != ' ') {
				snprintf(why, n, "no space before the value: %.*s", ll, p);
				return why;
			}
			char *end;
			strtod(q + 1, &end);
			if (end == q + 1 || (end != e && *end != ' ')) {
				snprintf(why, n, "bad value: %.*s", ll, p);
				return why;
			}
			int found = 0;
			for (size_t i = 0; i < n_typed; i++)
				found |= !strcmp(typed[i], name);
			/* A histogram's samples carry _bucket, _sum and _count
			 * after the TYPE's name. */
			static const char *const sfx[] = {"_bucket", "_sum", "_count"};
			for (size_t k = 0; !found && k < 3; k++) {
				size_t nl = strlen(name), sl = strlen(sfx[k]);
				if (nl > sl && !strcmp(name + nl - sl, sfx[k])) {
					for (size_t i = 0; i < n_typed; i++)
						found |= strlen(typed[i]) == nl - sl &&
							 !strncmp(typed[i], name, nl - sl);
				}
			}
			if (!found) {
				snprintf(why, n, "sample %s before its TYPE", name);
				return why;
			}
		}
		p = e + 1;
	}
	return NULL;
}

/* The value of the unlabelled sample NAME in Prometheus TEXT, or -1. */
static long long prom_value(const char *text, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, name, nl) && p[nl] == ' ')
			return (long long)strtod(p + nl + 1, NULL);
	}
	return -1;
}

static char *fetch_metrics(int ap)
{
	struct response r;
	admin_req(ap, "GET", "/metrics", NULL, 200, &r);
	cr_assert(!strncmp(resp_header(&r, "Content-Type") ?: "", "text/plain", 10), "head: %s",
		  r.raw_head);
	char why[256];
	const char *bad = prom_problem(r.body, why, sizeof(why));
	cr_assert_null(bad, "/metrics is not Prometheus text: %s", bad);
	char *text = strdup(r.body);
	response_free(&r);
	return text;
}

Test(cache_invalidate, admin_metrics_and_stats_count_cache_events)
{
	struct proc o, d;
	int ap = start_with_admin(&o, &d, NULL, "cache:\n  memory: 64MiB\n");
	static const char *const names[] = {
	    "ringcache_requests_total",	       "ringcache_cache_hit_total",
	    "ringcache_cache_miss_total",      "ringcache_cache_pass_total",
	    "ringcache_cache_stored_total",    "ringcache_cache_objects",
	    "ringcache_cache_bytes",	       "ringcache_cache_budget_bytes",
	    "ringcache_cache_evictions_total", "ringcache_cache_purged_total",
	    "ringcache_cache_banned_total",    "ringcache_connections"};
	const size_t nn = sizeof(names) / sizeof(names[0]);
	long long before[16], after[16];
	char *m0 = fetch_metrics(ap);
	for (size_t i = 0; i < nn; i++) {
		before[i] = prom_value(m0, names[i]);
		cr_assert_geq(before[i], 0, "no %s in /metrics", names[i]);
	}
	cr_assert_eq(prom_value(m0, "ringcache_cache_budget_bytes"), 64LL << 20);

	/* 1 miss + 2 hits, 1 pass (no-store), 1 purge. */
	const char *path = "/m?cc=max-age=60&size=1000";
	get_expect(d.port, path, NULL, "stored");
	get_expect(d.port, path, NULL, "hit");
	get_expect(d.port, path, NULL, "hit");
	get_expect(d.port, "/m2?cc=no-store", NULL, "fwd=uri-miss");
	get_expect(d.port, "/m2?cc=no-store", NULL, "detail=hit-for-miss");
	char *m1 = fetch_metrics(ap);
	for (size_t i = 0; i < nn; i++)
		after[i] = prom_value(m1, names[i]);
#define DELTA(i) (after[i] - before[i])
	cr_assert_eq(DELTA(0), 5, "requests_total +%lld", DELTA(0));
	cr_assert_eq(DELTA(1), 2, "cache_hit_total +%lld", DELTA(1));
	cr_assert_eq(DELTA(2), 2, "cache_miss_total +%lld (a miss and the no-store fetch)",
		     DELTA(2));
	cr_assert_eq(DELTA(3), 1, "cache_pass_total +%lld (the hit-for-miss pass)", DELTA(3));
	cr_assert_eq(DELTA(4), 1, "cache_stored_total +%lld", DELTA(4));
	cr_assert_eq(DELTA(5), 1, "cache_objects +%lld", DELTA(5));
	cr_assert(DELTA(6) >= 1000 && DELTA(6) < 64 * 1024, "cache_bytes +%lld for 1000 bytes",
		  DELTA(6));

	cr_assert_eq(purge_url(ap, path), 1);
	char *m2 = fetch_metrics(ap);
	cr_assert_eq(prom_value(m2, "ringcache_cache_purged_total"), before[9] + 1);
	cr_assert_eq(prom_value(m2, "ringcache_cache_objects"), before[5]);
	cr_assert_eq(prom_value(m2, "ringcache_cache_bytes"), before[6]);

	/* /stats has the same numbers, named without prefix and suffix. */
	struct response r;
	admin_req(ap, "GET", "/stats", NULL, 200, &r);
	cr_assert_eq(json_number(r.body, "cache_hit", -1), after[1], "stats: %s", r.body);
	cr_assert_eq(json_number(r.body, "cache_stored", -1), after[4], "stats: %s", r.body);
	cr_assert_eq(json_number(r.body, "cache_purged", -1), before[9] + 1, "stats: %s", r.body);
	cr_assert_eq(json_number(r.body, "cache_budget_bytes", -1), 64LL << 20, "stats: %s",
		     r.body);
	cr_assert_eq(json_number(r.body, "cache_objects", -1), before[5], "stats: %s", r.body);
	response_free(&r);
	free(m0);
	free(m1);
	free(m2);
	harness_end();
}

/*
 * The ban lurker tests stored objects in the background: after a ban, the
 * banned objects go and the ban list empties with no request for them.
 * Polls /metrics until then, with a deadline.
 */
Test(cache_invalidate, ban_lurker_removes_objects_and_empties_the_list)
{
	struct proc o, d;
	int ap = start_with_admin(&o, &d, NULL, NULL);
	static const char *const banned[] = {"/lurk/a?cc=max-age=600", "/lurk/b?cc=max-age=600"};
	const char *kept = "/keep?cc=max-age=600";
	for (int i = 0; i < 2; i++)
		get_expect(d.port, banned[i], NULL, "stored");
	get_expect(d.port, kept, NULL, "stored");
	char *m0 = fetch_metrics(ap);
	long long objects0 = prom_value(m0, "ringcache_cache_objects");
	cr_assert_eq(objects0, 3);
	cr_assert_eq(prom_value(m0, "ringcache_cache_bans"), 0);
	free(m0);

	cr_assert_gt(admin_post(ap, "/ban?url=%5E%2Flurk%2F", "ban"), 0);
	double until = now_s() + 20;
	char *m = NULL;
	for (;;) {
		free(m);
		m = fetch_metrics(ap);
		if (prom_value(m, "ringcache_cache_bans") == 0)
			break;
		cr_assert_lt(now_s(), until,
			     "the ban list did not empty in 20 s: %lld bans, %lld objects tested",
			     prom_value(m, "ringcache_cache_bans"),
			     prom_value(m, "ringcache_cache_ban_lurker_tested_total"));
		sleep_ms(50);
	}
	cr_assert_eq(prom_value(m, "ringcache_cache_bans_dropped_total"), 1);
	cr_assert_eq(prom_value(m, "ringcache_cache_ban_lurker_removed_total"), 2);
	cr_assert_eq(prom_value(m, "ringcache_cache_banned_total"), 2);
	cr_assert_geq(prom_value(m, "ringcache_cache_ban_lurker_tested_total"), 3);
	cr_assert_eq(prom_value(m, "ringcache_cache_objects"), 1, "the banned objects are gone");
	free(m);
	struct response r;
	admin_req(ap, "GET", "/stats", NULL, 200, &r);
	cr_assert_eq(json_number(r.body, "cache_bans", -1), 0, "stats: %s", r.body);
	cr_assert_eq(json_number(r.body, "cache_ban_lurker_removed", -1), 2, "stats: %s", r.body);
	response_free(&r);
	/* Only now are they asked for: fetched again; the rest still hits. */
	get_expect(d.port, kept, NULL, "hit");
	for (int i = 0; i < 2; i++)
		get_expect(d.port, banned[i], NULL, "stored");
	harness_end();
}
