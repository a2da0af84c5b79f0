/*
 * Request coalescing: concurrent requests for one cold key share one origin
 * fetch; an uncacheable answer releases the waiters and turns the key into
 * hit-for-miss, so later requests neither wait nor coalesce.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(cache_coalesce, .fini = harness_fini, .timeout = 30);

#define N_CLIENTS 8

/* Send one GET on each of N fresh connections, all before reading any answer. */
static void send_all(struct conn *cs, int n, int port, const char *path, const char *extra)
{
	for (int i = 0; i < n; i++) {
		conn_open(&cs[i], port);
		cr_assert_eq(conn_sendf(&cs[i], "GET %s HTTP/1.1\r\nHost: test.local\r\n%s\r\n",
					path, extra ? extra : ""),
			     0);
	}
}

static void read_all(struct conn *cs, struct response *rs, int n)
{
	for (int i = 0; i < n; i++) {
		cr_assert_eq(read_response(&cs[i], &rs[i], 0), READ_OK, "client %d: %s", i,
			     rs[i].error);
	}
}

static void close_all(struct conn *cs, struct response *rs, int n)
{
	for (int i = 0; i < n; i++) {
		response_free(&rs[i]);
		conn_close(&cs[i]);
	}
}

static void expect_pattern(const struct response *r, size_t size, int i)
{
	cr_assert_eq(r->status, 200, "client %d: head: %s", i, r->raw_head);
	cr_assert(r->complete, "client %d: incomplete body: %s", i, r->error);
	cr_assert_eq(r->body_len, size, "client %d: body %zu bytes, want %zu", i, r->body_len,
		     size);
	cr_assert_eq(pattern_mismatch(r->body, r->body_len, 0), -1, "client %d: body: %s", i,
		     excerpt(r->body, r->body_len));
}

Test(cache_coalesce, concurrent_cold_gets_make_one_origin_request)
{
	struct proc o, d;
	struct conn cs[N_CLIENTS];
	struct response rs[N_CLIENTS];
	/* delay=800 keeps the fetch in flight while every client arrives. */
	const char *path = "/co1?cc=max-age=60&delay=800&size=200000";
	start_pair(&o, &d);
	double t0 = now_s();
	send_all(cs, N_CLIENTS, d.port, path, NULL);
	read_all(cs, rs, N_CLIENTS);
	double el = now_s() - t0;

	int collapsed = 0, stored = 0;
	for (int i = 0; i < N_CLIENTS; i++) {
		expect_pattern(&rs[i], 200000, i);
		collapsed += cache_status_has(&rs[i], "collapsed");
		stored += cache_status_has(&rs[i], "stored");
		cr_assert_str_eq(resp_header(&rs[i], "X-Origin-Request") ?: "(none)", "1",
				 "client %d got another fetch's response: %s", i, rs[i].raw_head);
	}
	cr_assert_eq(origin_requests(o.port, path), 1, "%d concurrent GETs for one key", N_CLIENTS);
	cr_assert_eq(stored, 1, "want exactly one fetcher (\"stored\"), got %d", stored);
	cr_assert_eq(collapsed, N_CLIENTS - 1, "want %d \"collapsed\", got %d (e.g. %s)",
		     N_CLIENTS - 1, collapsed, cache_status(&rs[N_CLIENTS - 1]));
	/* The waiters were fed from the one fetch, not one after another. */
	/* Generous: only serialised fetches (6.4 s) must fail it, not a slow machine. */
	cr_assert(el < 4.0, "all answers took %.2f s for one 0.8 s fetch", el);
	close_all(cs, rs, N_CLIENTS);
	harness_end();
}

Test(cache_coalesce, waiters_stream_a_chunked_body_as_it_arrives)
{
	struct proc o, d;
	struct conn cs[4];
	struct response rs[4];
	/* Chunked (no length up front) and dripped: the waiters must follow the fill. */
	const char *path = "/co2?cc=max-age=60&delay=300&size=100000&chunked=1&chunk=10000&drip=30";
	start_pair(&o, &d);
	send_all(cs, 4, d.port, path, NULL);
	read_all(cs, rs, 4);
	for (int i = 0; i < 4; i++)
		expect_pattern(&rs[i], 100000, i);
	cr_assert_eq(origin_requests(o.port, path), 1);
	close_all(cs, rs, 4);

	/* And the completed object is then a plain hit. */
	struct response r;
	http_get_once(d.port, path, &r);
	expect_pattern(&r, 100000, 0);
	cr_assert(cache_status_has(&r, "hit"), "Cache-Status: %s", cache_status(&r));
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, path), 1);
	harness_end();
}

Test(cache_coalesce, head_and_get_share_one_fetch)
{
	struct proc o, d;
	struct conn c1, c2;
	struct response r1, r2;
	const char *path = "/co3?cc=max-age=60&delay=400&size=3000";
	start_pair(&o, &d);
	conn_open(&c1, d.port);
	conn_open(&c2, d.port);
	cr_assert_eq(conn_sendf(&c1, "HEAD %s HTTP/1.1\r\nHost: test.local\r\n\r\n", path), 0);
	cr_assert_eq(conn_sendf(&c2, "GET %s HTTP/1.1\r\nHost: test.local\r\n\r\n", path), 0);
	cr_assert_eq(read_response(&c1, &r1, RESP_HEAD), READ_OK, "%s", r1.error);
	cr_assert_eq(read_response(&c2, &r2, 0), READ_OK, "%s", r2.error);
	cr_assert_eq(r1.status, 200, "HEAD: %s", r1.raw_head);
	cr_assert_str_eq(resp_header(&r1, "Content-Length") ?: "(none)", "3000", "HEAD: %s",
			 r1.raw_head);
	expect_pattern(&r2, 3000, 1);
	/* The HEAD must not have been answered with body bytes. */
	cr_assert_not(conn_wait_closed(&c1, 200));
	cr_assert_eq(conn_pending(&c1), 0, "bytes after the HEAD answer: %s",
		     excerpt(c1.buf + c1.off, conn_pending(&c1)));
	cr_assert_eq(origin_requests(o.port, path), 1);
	response_free(&r1);
	response_free(&r2);
	conn_close(&c1);
	conn_close(&c2);
	harness_end();
}

/*
 * An uncacheable answer to the coalesced fetch: the waiters are released at
 * once (each goes to the origin itself, in parallel) and the key becomes
 * hit-for-miss, so a later burst passes without waiting for anyone.
 */
static void uncacheable_releases_waiters(const char *cc)
{
	struct proc o, d;
	struct conn cs[N_CLIENTS];
	struct response rs[N_CLIENTS];
	char path[128];
	snprintf(path, sizeof(path), "/hfm?cc=%s&delay=800&size=1000", cc);
	start_pair(&o, &d);

	double t0 = now_s();
	send_all(cs, N_CLIENTS, d.port, path, NULL);
	read_all(cs, rs, N_CLIENTS);
	double el = now_s() - t0;
	for (int i = 0; i < N_CLIENTS; i++) {
		expect_pattern(&rs[i], 1000, i);
		cr_assert_not(cache_status_has(&rs[i], "stored"), "client %d: Cache-Status: %s", i,
			      cache_status(&rs[i]));
	}
	/* None of them may get the one fetch's private response. */
	cr_assert_eq(origin_requests(o.port, path), N_CLIENTS,
		     "cc=%s: %d clients, %ld origin requests", cc, N_CLIENTS,
		     origin_requests(o.port, path));
	/* One fetch then one parallel round: ~1.6 s. Serialised waiters would take 6.4 s. */
	cr_assert(el < 5.0, "cc=%s: the first burst took %.2f s", cc, el);
	close_all(cs, rs, N_CLIENTS);

	/* Hit-for-miss: the next burst does not coalesce at all, so ~0.5 s. */
	t0 = now_s();
	send_all(cs, N_CLIENTS, d.port, path, NULL);
	read_all(cs, rs, N_CLIENTS);
	el = now_s() - t0;
	for (int i = 0; i < N_CLIENTS; i++) {
		expect_pattern(&rs[i], 1000, i);
		cr_assert(cache_status_has(&rs[i], "detail=hit-for-miss"),
			  "client %d of the second burst: Cache-Status: %s", i,
			  cache_status(&rs[i]));
		cr_assert_not(cache_status_has(&rs[i], "collapsed"), "client %d: Cache-Status: %s",
			      i, cache_status(&rs[i]));
	}
	cr_assert_eq(origin_requests(o.port, path), 2 * N_CLIENTS);
	/* ~0.8 s in parallel; queueing behind one another would take 6.4 s. */
	cr_assert(el < 4.0, "cc=%s: the hit-for-miss burst took %.2f s for 0.8 s fetches", cc, el);
	close_all(cs, rs, N_CLIENTS);
	harness_end();
}

Test(cache_coalesce, no_store_releases_waiters_and_sets_hit_for_miss)
{
	uncacheable_releases_waiters("no-store");
}

Test(cache_coalesce, private_releases_waiters_and_sets_hit_for_miss)
{
	uncacheable_releases_waiters("private");
}

Test(cache_coalesce, hit_for_miss_expires_and_the_key_is_cached_again)
{
	struct proc o, d;
	struct response r;
	/* hit_for_miss 1s: once it has run out the key is an ordinary miss again. */
	const char *path = "/hfm2?cc=no-store&size=10";
	start_pair_extra(&o, &d, "cache:\n  hit_for_miss: 1s\n");
	http_get_once(d.port, path, &r);
	cr_assert_eq(r.status, 200);
	response_free(&r);
	http_get_once(d.port, path, &r);
	cr_assert(cache_status_has(&r, "detail=hit-for-miss"), "Cache-Status: %s",
		  cache_status(&r));
	response_free(&r);
	sleep_ms(2100);
	http_get_once(d.port, path, &r);
	cr_assert_eq(r.status, 200);
	cr_assert_not(cache_status_has(&r, "detail=hit-for-miss"),
		      "hit-for-miss 1s still applies after 2.1 s: Cache-Status: %s",
		      cache_status(&r));
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, path), 3);
	harness_end();
}

Test(cache_coalesce, hit_for_miss_zero_is_disabled)
{
	struct proc o, d;
	struct response r;
	const char *path = "/hfm3?cc=no-store&size=10";
	start_pair_extra(&o, &d, "cache:\n  hit_for_miss: 0s\n");
	for (int i = 0; i < 3; i++) {
		http_get_once(d.port, path, &r);
		cr_assert_eq(r.status, 200);
		cr_assert_not(cache_status_has(&r, "detail=hit-for-miss"),
			      "request %d with hit_for_miss 0: Cache-Status: %s", i + 1,
			      cache_status(&r));
		response_free(&r);
	}
	cr_assert_eq(origin_requests(o.port, path), 3);
	harness_end();
}
