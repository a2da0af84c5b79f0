/*
 * Which stored object a request gets: the path's percent-encoding in the
 * primary key (cache.key.normalize_path, on and off), and stored variants
 * selected by Accept-Language weights against their Content-Language.
 * Every check counts the origin's requests: a hit is one it never saw.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(cache_keys, .fini = harness_fini, .timeout = 30);

#define Q "?cc=max-age=60&size=10"

/* GET PATH (with EXTRA header lines) and expect a 200 whose Cache-Status
 * has WANT ("hit" or "stored"); returns the origin's X-Origin-Request. */
static long get(struct conn *c, const char *path, const char *extra, const char *want)
{
	struct response r;
	http_req(c, "GET", path, extra, &r);
	cr_assert_eq(r.status, 200, "GET %s: head: %s", path, r.raw_head);
	cr_assert(cache_status_has(&r, want), "GET %s [%s]: want %s, Cache-Status: %s", path,
		  extra ? extra : "", want, cache_status(&r));
	const char *n = resp_header(&r, "X-Origin-Request");
	cr_assert_not_null(n, "GET %s: no X-Origin-Request: %s", path, r.raw_head);
	long v = atol(n);
	response_free(&r);
	return v;
}

static int start_with_admin(struct proc *o, struct proc *d, const char *more)
{
	int ap = free_port();
	char extra[1024];
	snprintf(extra, sizeof(extra), "admin:\n  listen: \"127.0.0.1:%d\"\n%s", ap, more);
	start_pair_extra(o, d, extra);
	cr_assert(port_wait(ap, 3000), "the admin API does not accept on %d; log:\n%s", ap,
		  proc_log(d));
	return ap;
}

static long long purge_url(int ap, const char *target)
{
	char enc[512], path[700];
	snprintf(path, sizeof(path), "/purge?host=test.local&url=%s",
		 pct_encode(target, enc, sizeof(enc)));
	struct response r;
	http_once(ap, "POST", path, NULL, &r);
	cr_assert_eq(r.status, 200, "POST %s: %s", path, r.raw_head);
	long long n = json_number(r.body, "purged", -1);
	response_free(&r);
	return n;
}

/* ---- normalize_path ------------------------------------------------------- */

Test(cache_keys, normalize_path_on_shares_equivalent_spellings)
{
	struct proc o, d;
	struct conn c;
	int ap = start_with_admin(&o, &d, "cache:\n  key: {normalize_path: true}\n");
	conn_open(&c, d.port);

	/* %62 is "b", an unreserved character: one resource, one object. */
	long first = get(&c, "/a%62c" Q, NULL, "stored");
	cr_assert_eq(get(&c, "/abc" Q, NULL, "hit"), first);
	cr_assert_eq(get(&c, "/%61bc" Q, NULL, "hit"), first);
	/* The backend got the target as the client sent it. */
	cr_assert_eq(origin_requests(o.port, "/a%62c" Q), 1);
	cr_assert_eq(origin_requests(o.port, "/abc" Q), 0);

	/* Hex case is folded, but %2F is a byte of a segment, not a "/". */
	long enc = get(&c, "/x%2fy" Q, NULL, "stored");
	cr_assert_eq(get(&c, "/x%2Fy" Q, NULL, "hit"), enc);
	long sep = get(&c, "/x/y" Q, NULL, "stored");
	cr_assert_neq(sep, enc);

	/* The query is never decoded: ?v=%61 and ?v=a stay two objects. */
	long qa = get(&c, "/q?v=%61&cc=max-age=60&size=10", NULL, "stored");
	long qb = get(&c, "/q?v=a&cc=max-age=60&size=10", NULL, "stored");
	cr_assert_neq(qa, qb);

	/* A purge of either spelling finds the one object. */
	cr_assert_eq(purge_url(ap, "/ab%63" Q), 1);
	get(&c, "/abc" Q, NULL, "stored");
	cr_assert_eq(origin_requests(o.port, "/abc" Q), 1);

	/* Bans match the key's path, the normalised one: a ban of /abc is a
	 * ban of every spelling of it. */
	long ban = get(&c, "/ban%2Dme" Q, NULL, "stored");
	cr_assert_eq(get(&c, "/ban-me" Q, NULL, "hit"), ban);
	char re[128], path[200];
	snprintf(path, sizeof(path), "/ban?url=%s", pct_encode("^/ban-me\\?", re, sizeof(re)));
	struct response r;
	http_once(ap, "POST", path, NULL, &r);
	cr_assert_eq(r.status, 200, "POST %s: %s", path, r.raw_head);
	response_free(&r);
	cr_assert_neq(get(&c, "/ban%2dme" Q, NULL, "stored"), ban);
	conn_close(&c);
	harness_end();
}

Test(cache_keys, normalize_path_off_keys_the_target_as_sent)
{
	struct proc o, d;
	struct conn c;
	int ap = start_with_admin(&o, &d, "");
	conn_open(&c, d.port);
	long a = get(&c, "/a%62c" Q, NULL, "stored");
	long b = get(&c, "/abc" Q, NULL, "stored");
	cr_assert_neq(a, b);
	get(&c, "/a%2Fb" Q, NULL, "stored");
	get(&c, "/a/b" Q, NULL, "stored");
	cr_assert_eq(origin_requests(o.port, "/a%62c" Q), 1);
	cr_assert_eq(origin_requests(o.port, "/abc" Q), 1);
	cr_assert_eq(origin_requests(o.port, "/a%2Fb" Q), 1);
	cr_assert_eq(origin_requests(o.port, "/a/b" Q), 1);
	/* A purge names one spelling only. */
	cr_assert_eq(purge_url(ap, "/abc" Q), 1);
	cr_assert_eq(get(&c, "/a%62c" Q, NULL, "hit"), a);
	conn_close(&c);
	harness_end();
}

/* ---- Accept-Language ------------------------------------------------------- */

#define LANG_DE "/lang?cc=max-age=60&size=10&hdr=Vary:Accept-Language&hdr=Content-Language:de"

Test(cache_keys, accept_language_selects_a_stored_variant_by_weight)
{
	struct proc o, d;
	struct conn c;
	start_pair(&o, &d);
	conn_open(&c, d.port);
	long de = get(&c, LANG_DE, "Accept-Language: en;q=0.9, de\r\n", "stored");
	/* de is the best choice of each: the stored de answers, no origin trip. */
	cr_assert_eq(get(&c, LANG_DE, "Accept-Language: de, en;q=0.9\r\n", "hit"), de);
	cr_assert_eq(get(&c, LANG_DE, "Accept-Language: fr;q=0.5, de;q=1.0\r\n", "hit"), de);
	cr_assert_eq(get(&c, LANG_DE, "Accept-Language: DE\r\n", "hit"), de);
	cr_assert_eq(origin_requests(o.port, LANG_DE), 1);
	/* fr is preferred, or de excluded: the origin may have better. */
	long fr = get(&c, LANG_DE, "Accept-Language: fr, de;q=0.5\r\n", "stored");
	get(&c, LANG_DE, "Accept-Language: de;q=0, *\r\n", "stored");
	/* An invalid weight selects nothing; no header at all neither. */
	get(&c, LANG_DE, "Accept-Language: de;q=5\r\n", "stored");
	get(&c, LANG_DE, NULL, "stored");
	cr_assert_eq(origin_requests(o.port, LANG_DE), 5);
	/* Each stored request is still matched exactly: its own answer. */
	cr_assert_eq(get(&c, LANG_DE, "Accept-Language: de;q=0.5, fr\r\n", "hit"), fr);
	cr_assert_eq(origin_requests(o.port, LANG_DE), 5);
	conn_close(&c);
	harness_end();
}

#define LANG_NONE "/lang2?cc=max-age=60&size=10&hdr=Vary:Accept-Language"
#define LANG_MORE                                                                                  \
	"/lang3?cc=max-age=60&size=10&hdr=Vary:Accept-Language,X-Var&hdr=Content-Language:de"

Test(cache_keys, accept_language_without_content_language_or_with_more_fields)
{
	struct proc o, d;
	struct conn c;
	start_pair(&o, &d);
	conn_open(&c, d.port);
	/* Without Content-Language nothing is known to select: exact matching. */
	long a = get(&c, LANG_NONE, "Accept-Language: en;q=0.9, de\r\n", "stored");
	get(&c, LANG_NONE, "Accept-Language: de, en;q=0.5\r\n", "stored");
	cr_assert_eq(get(&c, LANG_NONE, "Accept-Language: DE ,EN;q=0.9\r\n", "hit"), a);
	cr_assert_eq(origin_requests(o.port, LANG_NONE), 2);

	/* With another Vary field, that field still has to be equal. */
	long m = get(&c, LANG_MORE, "Accept-Language: en, de\r\nX-Var: 1\r\n", "stored");
	cr_assert_eq(get(&c, LANG_MORE, "Accept-Language: de\r\nX-Var: 1\r\n", "hit"), m);
	get(&c, LANG_MORE, "Accept-Language: de\r\nX-Var: 2\r\n", "stored");
	get(&c, LANG_MORE, "Accept-Language: de\r\n", "stored");
	cr_assert_eq(origin_requests(o.port, LANG_MORE), 3);
	conn_close(&c);
	harness_end();
}

/* ---- the Host field after fields were dropped ------------------------------ */

/* GET PATH with exactly HEAD_FIELDS (no Host added): the response. */
static void get_raw(int port, const char *path, const char *fields, struct response *r)
{
	struct conn c;
	conn_open(&c, port);
	cr_assert_eq(conn_sendf(&c, "GET %s HTTP/1.1\r\n%s\r\n", path, fields), 0);
	cr_assert_eq(read_response(&c, r, 0), 0, "no response to GET %s", path);
	conn_close(&c);
}

/*
 * A field the proxy drops (a name with '_') before Host, and another
 * field after it: dropping packs the request's field list, and the cache
 * key must still be made of the Host field, not of whatever took its
 * place (the review found a pointer kept across req_sanitize keying
 * attacker.example's response under victim.example).
 */
Test(cache_keys, the_host_is_the_host_after_fields_are_dropped)
{
	struct proc o, d;
	start_pair(&o, &d);
	const char *p = "/hostkey" Q;
	struct response r;
	get_raw(d.port, p, "X_A: 1\r\nHost: attacker.example\r\nX-B: victim.example\r\n", &r);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	cr_expect(cache_status_has(&r, "stored"), "%s", cache_status(&r));
	response_free(&r);
	get_raw(d.port, p, "Host: victim.example\r\n", &r);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	cr_expect(!cache_status_has(&r, "hit"),
		  "victim.example got attacker.example's stored response: %s", cache_status(&r));
	response_free(&r);
	get_raw(d.port, p, "Host: attacker.example\r\n", &r);
	cr_expect(cache_status_has(&r, "hit"), "stored under its own host: %s", cache_status(&r));
	response_free(&r);
}
