/* Unit tests of src/cache/store.c: lookup / publish / abort, coalescing
 * waits, hit-for-miss, Vary variants, purge by key and tag, bans, streamed
 * bodies and eviction. Lookups park their task, so every test runs as
 * tasks of one rt_loop. Policy times are explicit Unix seconds around T0
 * (nothing sleeps); objects are built by hand from parsed response heads. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/hdrs.h"
#include "cache/policy.h"
#include "cache/store.h"
#include "cache/vary.h"
#include "http/hbuf.h"
#include "http/msg.h"
#include "rt/loop.h"
#include "rt/task.h"

#define T0 1700000000LL
#define H  "example.com"

static struct rt_loop *loop;
static struct store *st;

static void setup(void)
{
	int err = 0;
	/* Big stacks: heads and keys live on task stacks here. */
	struct rt_loop_opts o = {.stack_size = 256 * 1024};
	loop = rt_loop_create(&o, &err);
	cr_assert_not_null(loop, "rt_loop_create: %d", err);
	st = store_create(64ull << 20);
	cr_assert_not_null(st);
}

static void teardown(void)
{
	store_free(&st);
	rt_loop_destroy(&loop);
}

TestSuite(cache_store, .init = setup, .fini = teardown, .timeout = 60);

/* Run MAIN as the only top-level task until every task has ended. */
static void run_main(rt_task_fn main_fn, void *arg)
{
	cr_assert(rt_task_spawn_detached(main_fn, arg, "main") == 0);
	rt_loop_stop(loop);
	rt_loop_run(loop);
}

/* --- heads, requests, objects -------------------------------------------- */

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

static char *dup(const char *p, size_t n)
{
	char *d = malloc(n + 1);
	cr_assert_not_null(d);
	memcpy(d, p, n);
	d[n] = '\0';
	return d;
}

/* A GET for HOST/PATH with request LINES, looked up at NOW. */
static void lookup(struct store *s, const char *host, const char *path, const char *lines,
		   int64_t now, rt_time_t deadline, struct lookup_res *res)
{
	struct head h;
	char all[512];
	snprintf(all, sizeof(all), "Host: %s%s%s", host, lines && *lines ? "\n" : "",
		 lines ? lines : "");
	parse(&h, HMSG_REQUEST, "GET / HTTP/1.1", all);
	struct req_meta rq;
	policy_req_meta(&h.m, &rq);
	char key[256];
	size_t hl = strlen(host), pl = strlen(path);
	memcpy(key, host, hl);
	key[hl] = '\0';
	memcpy(key + hl + 1, path, pl);
	struct lookup_req lr = {
	    .key = key,
	    .key_len = (uint32_t)(hl + 1 + pl),
	    .host_len = (uint32_t)hl,
	    .req = &h.m,
	    .rq = &rq,
	    .now = now,
	    .wait_deadline = deadline,
	};
	cr_assert_eq(store_lookup(s, &lr, res), 0);
}

/* Let go of whatever a lookup result holds (a MISS's fetch ends unstored). */
static void settle(struct store *s, struct lookup_res *res)
{
	if (res->oh)
		store_fetch_abort(s, res->oh, 0);
	res->oh = NULL;
	cobj_release(&res->obj);
}

/*
 * A stored 200 received at T0 with response LINES and BODY (NULL: empty and
 * still filling). REQ_LINES are the lines of the request that fetched it
 * (for the Vary secondary key).
 */
static struct cobj *mkobj(struct store *s, const char *lines, const char *req_lines,
			  const char *body, bool finish)
{
	struct head h, rqh;
	parse(&h, HMSG_RESPONSE, "HTTP/1.1 200 OK", lines);
	char all[512];
	snprintf(all, sizeof(all), "Host: x%s%s", req_lines && *req_lines ? "\n" : "",
		 req_lines ? req_lines : "");
	parse(&rqh, HMSG_REQUEST, "GET / HTTP/1.1", all);
	struct cobj *o = cobj_new(s);
	cr_assert_not_null(o);
	o->status = hmsg_status(&h.m);
	o->reason = dup("OK", 2);
	policy_meta_from_response(&h.m, T0 * 1000, T0 * 1000, &o->meta);
	char hb[2048];
	struct hbuf b;
	hbuf_init(&b, hb, sizeof(hb));
	hdrs_from_response(&b, &h.m, &o->meta.cc);
	cr_assert(!b.overflow);
	o->hdrs = dup(hb, b.len);
	o->hdrs_len = (uint32_t)b.len;
	char names[256], vkey[1024];
	int nl = vary_names(&h.m, names, sizeof(names));
	cr_assert_geq(nl, 0);
	if (nl > 0) {
		int kl = vary_key(names, (size_t)nl, &rqh.m, vkey, sizeof(vkey));
		cr_assert_geq(kl, 0);
		o->vary = dup(names, (size_t)nl);
		o->vary_len = (uint32_t)nl;
		o->vkey = dup(vkey, (size_t)kl);
		o->vkey_len = (uint32_t)kl;
	}
	struct policy_knobs k = {
	    .ttl_override = POLICY_NONE, .heuristic_percent = 10, .heuristic_max = 86400};
	o->lifetime = policy_lifetime(&o->meta, &k);
	const struct hfield *sk = hmsg_field(&h.m, "surrogate-key", 0);
	if (sk) {
		o->tags = dup(hmsg_ptr(&h.m, sk->value), sk->value.len);
		o->tags_len = sk->value.len;
		o->tags_space_sep = true;
	}
	if (body) {
		size_t n = strlen(body);
		cr_assert_eq(cbody_append(o->body, body, n, n), 0);
		o->clen = (int64_t)n;
	}
	if (finish)
		cbody_finish(o->body, true);
	return o;
}

/* Look up HOST/PATH (expecting a MISS), then publish a finished object. */
static void put(struct store *s, const char *host, const char *path, const char *lines,
		const char *req_lines, const char *body, int64_t now)
{
	struct lookup_res res;
	lookup(s, host, path, req_lines, now, RT_NEVER, &res);
	cr_assert_eq(res.kind, LOOKUP_MISS, "%s%s: kind %d", host, path, res.kind);
	cr_assert_not_null(res.oh);
	cobj_release(&res.obj);
	struct cobj *o = mkobj(s, lines, req_lines, body, true);
	store_publish(s, res.oh, o);
	cobj_release(&o);
}

/* The value of field NAME in O's stored head ("" when absent). */
static const char *field(const struct cobj *o, const char *name)
{
	static char v[128];
	size_t n = 0;
	const char *p = hdrs_find(o->hdrs, o->hdrs_len, name, 0, &n);
	snprintf(v, sizeof(v), "%.*s", p ? (int)n : 0, p ? p : "");
	return v;
}

/* Read the whole body, parking while it fills. Returns 0, or -EIO with
 * the bytes read before the failure in OUT. */
static int read_body(struct cbody *b, char *out, size_t cap, size_t *len, int *waits)
{
	struct body_reader r;
	body_reader_init(&r, b);
	*len = 0;
	for (;;) {
		const char *p;
		ssize_t k = body_peek(&r, &p);
		if (k > 0) {
			cr_assert_leq(*len + (size_t)k, cap);
			memcpy(out + *len, p, (size_t)k);
			*len += (size_t)k;
			body_advance(&r, (size_t)k);
			continue;
		}
		if (k != -EAGAIN)
			return (int)k;
		if (waits)
			(*waits)++;
		int w = body_wait(&r, RT_NEVER);
		if (w < 0)
			return w;
	}
}

static const char *body_str(struct cobj *o)
{
	static char out[4096];
	size_t n;
	cr_assert_eq(read_body(o->body, out, sizeof(out) - 1, &n, NULL), 0);
	out[n] = '\0';
	return out;
}

/* --- publish, hit, miss ---------------------------------------------------- */

static void t_publish_hit(void *arg)
{
	struct lookup_res res;
	lookup(st, H, "/a", NULL, T0, RT_NEVER, &res);
	cr_assert_eq(res.kind, LOOKUP_MISS);
	cr_assert_not_null(res.oh, "a MISS owns the fetch");
	cr_assert_null(res.obj, "nothing stored yet");
	cr_assert(!res.collapsed);

	struct cobj *o =
	    mkobj(st, "Cache-Control: max-age=60\nContent-Type: text/plain", NULL, "hello", true);
	store_publish(st, res.oh, o);
	struct cobj *published = o;
	cobj_release(&o);

	lookup(st, H, "/a", NULL, T0 + 10, RT_NEVER, &res);
	cr_assert_eq(res.kind, LOOKUP_HIT);
	cr_assert_eq(res.obj, published);
	cr_expect_eq(res.use, USE_FRESH);
	cr_expect(!res.fetch);
	cr_expect_null(res.oh);
	cr_expect_eq(res.obj->status, 200);
	cr_expect_str_eq(field(res.obj, "content-type"), "text/plain");
	cr_expect_str_eq(body_str(res.obj), "hello");
	cobj_release(&res.obj);

	/* The key is host + target: another host or path is another object. */
	lookup(st, "other.org", "/a", NULL, T0 + 10, RT_NEVER, &res);
	cr_expect_eq(res.kind, LOOKUP_MISS);
	cr_expect_null(res.obj);
	settle(st, &res);
	lookup(st, H, "/a?x", NULL, T0 + 10, RT_NEVER, &res);
	cr_expect_eq(res.kind, LOOKUP_MISS);
	settle(st, &res);

	/* Stale: a MISS that carries the stored object as the candidate to
	 * revalidate. */
	lookup(st, H, "/a", NULL, T0 + 60, RT_NEVER, &res);
	cr_assert_eq(res.kind, LOOKUP_MISS);
	cr_expect_eq(res.obj, published);
	cr_assert_not_null(res.oh);
	settle(st, &res);

	cr_expect_eq(store_stats(st)->objects, 1);
	cr_expect_gt(store_bytes(st), 5);
	*(bool *)arg = true;
}

Test(cache_store, publish_then_hit)
{
	bool done = false;
	run_main(t_publish_hit, &done);
	cr_assert(done);
}

static void t_miss_busy(void *arg)
{
	struct lookup_res res, other;
	lookup(st, H, "/busy", NULL, T0, RT_NEVER, &res);
	cr_assert_eq(res.kind, LOOKUP_MISS);
	/* The key is busy: a lookup that cannot wait passes, after trying. */
	lookup(st, H, "/busy", NULL, T0, rt_clock_now(), &other);
	cr_expect_eq(other.kind, LOOKUP_PASS);
	cr_expect(other.collapsed);
	cr_expect_null(other.obj);
	cr_expect_null(other.oh);
	/* A failed fetch frees the key for the next one. */
	store_fetch_abort(st, res.oh, 0);
	lookup(st, H, "/busy", NULL, T0, rt_clock_now(), &res);
	cr_expect_eq(res.kind, LOOKUP_MISS);
	cr_expect(!res.collapsed);
	settle(st, &res);
	*(bool *)arg = true;
}

Test(cache_store, miss_sets_busy)
{
	bool done = false;
	run_main(t_miss_busy, &done);
	cr_assert(done);
}

/* --- coalescing ----------------------------------------------------------- */

struct waiter {
	const char *path;
	int64_t now;
	bool started, done;
	struct lookup_res res;
};

static void waiter_fn(void *arg)
{
	struct waiter *w = arg;
	w->started = true;
	lookup(st, H, w->path, NULL, w->now, RT_NEVER, &w->res);
	w->done = true;
}

/* Run the spawned tasks until each has reached its wait. */
static void let_park(struct waiter *w, size_t n)
{
	for (int i = 0; i < 100; i++) {
		bool all = true;
		for (size_t j = 0; j < n; j++)
			all = all && w[j].started;
		if (all)
			break;
		rt_task_yield();
	}
	rt_task_yield();
	for (size_t j = 0; j < n; j++) {
		cr_assert(w[j].started);
		cr_assert(!w[j].done, "waiter %zu did not wait for the fetch", j);
	}
}

static void t_coalesce_publish(void *arg)
{
	struct lookup_res res;
	lookup(st, H, "/c", NULL, T0, RT_NEVER, &res);
	cr_assert_eq(res.kind, LOOKUP_MISS);
	struct waiter w[3];
	struct rt_task *t[3];
	for (int i = 0; i < 3; i++) {
		w[i] = (struct waiter){.path = "/c", .now = T0 + 1};
		t[i] = rt_task_spawn(waiter_fn, &w[i], "waiter");
		cr_assert_not_null(t[i]);
	}
	let_park(w, 3);
	struct cobj *o = mkobj(st, "Cache-Control: max-age=60", NULL, "body", true);
	store_publish(st, res.oh, o);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(rt_task_join(&t[i], RT_NEVER), 0);
		cr_expect(w[i].done);
		cr_expect_eq(w[i].res.kind, LOOKUP_HIT, "waiter %d: kind %d", i, w[i].res.kind);
		cr_expect(w[i].res.collapsed);
		cr_expect_eq(w[i].res.obj, o, "waiter %d got another object", i);
		settle(st, &w[i].res);
	}
	cobj_release(&o);
	*(bool *)arg = true;
}

Test(cache_store, waiters_are_woken_by_publish)
{
	bool done = false;
	run_main(t_coalesce_publish, &done);
	cr_assert(done);
}

static void t_coalesce_abort(void *arg)
{
	struct lookup_res res;
	lookup(st, H, "/ca", NULL, T0, RT_NEVER, &res);
	cr_assert_eq(res.kind, LOOKUP_MISS);
	struct waiter w = {.path = "/ca", .now = T0};
	struct rt_task *t = rt_task_spawn(waiter_fn, &w, "waiter");
	let_park(&w, 1);
	/* The fetch fails without hit-for-miss: the waiter takes it over. */
	store_fetch_abort(st, res.oh, 0);
	cr_assert_eq(rt_task_join(&t, RT_NEVER), 0);
	cr_expect_eq(w.res.kind, LOOKUP_MISS);
	cr_expect(w.res.collapsed);
	cr_expect_not_null(w.res.oh);
	settle(st, &w.res);
	*(bool *)arg = true;
}

Test(cache_store, waiter_takes_over_an_aborted_fetch)
{
	bool done = false;
	run_main(t_coalesce_abort, &done);
	cr_assert(done);
}

/* --- hit-for-miss ---------------------------------------------------------- */

static void t_hfm_with_stale(void *arg)
{
	put(st, H, "/h", "Cache-Control: max-age=10", NULL, "old", T0);
	struct lookup_res res;
	lookup(st, H, "/h", NULL, T0 + 20, RT_NEVER, &res);
	cr_assert_eq(res.kind, LOOKUP_MISS);
	cr_expect_not_null(res.obj, "stale candidate");
	cobj_release(&res.obj);
	store_fetch_abort(st, res.oh, T0 + 80);

	for (int64_t now = T0 + 20; now < T0 + 80; now += 59) {
		lookup(st, H, "/h", NULL, now, RT_NEVER, &res);
		cr_expect_eq(res.kind, LOOKUP_PASS, "at T0+%lld: kind %d", (long long)(now - T0),
			     res.kind);
		cr_expect_null(res.obj);
		cr_expect_null(res.oh);
		settle(st, &res);
	}
	/* At the deadline the key is cacheable again; a publish clears it. */
	lookup(st, H, "/h", NULL, T0 + 80, RT_NEVER, &res);
	cr_assert_eq(res.kind, LOOKUP_MISS);
	cobj_release(&res.obj);
	struct cobj *o = mkobj(st, "Cache-Control: max-age=10", NULL, "new", true);
	store_publish(st, res.oh, o);
	cobj_release(&o);
	lookup(st, H, "/h", NULL, T0 + 5, RT_NEVER, &res);
	cr_expect_eq(res.kind, LOOKUP_HIT);
	settle(st, &res);
	*(bool *)arg = true;
}

Test(cache_store, hit_for_miss_with_stored_variant)
{
	bool done = false;
	run_main(t_hfm_with_stale, &done);
	cr_assert(done);
}

/*
 * The common case: an uncacheable response for a key with nothing stored
 * (fetch.c aborts with hfm for no-store, private, too big...). store.h
 * promises "HFM_UNTIL > 0 makes later lookups pass until then", but the
 * abort drops the fetcher's reference and coh_maybe_free frees the head
 * (refs 0, not busy, no variants) together with its hfm_until, so the
 * next lookup creates a fresh head and gets a MISS that sets busy again:
 * every request for an uncacheable URL becomes a coalescing fetch.
 */
static void t_hfm_no_variant(void *arg)
{
	struct lookup_res res;
	lookup(st, H, "/u", NULL, T0, RT_NEVER, &res);
	cr_assert_eq(res.kind, LOOKUP_MISS);
	store_fetch_abort(st, res.oh, T0 + 60);
	lookup(st, H, "/u", NULL, T0 + 10, RT_NEVER, &res);
	cr_expect_eq(res.kind, LOOKUP_PASS, "hit-for-miss forgotten: kind %d (1 = MISS)", res.kind);
	settle(st, &res);
	*(bool *)arg = true;
}

Test(cache_store, hit_for_miss_without_stored_variant)
{
	bool done = false;
	run_main(t_hfm_no_variant, &done);
	cr_assert(done);
}

/* Same root cause, seen by a request that waited for the fetch: it is
 * woken, drops the last reference (freeing the head and its mark), and
 * starts a new coalescing fetch instead of passing. */
static void t_hfm_waiter(void *arg)
{
	struct lookup_res res;
	lookup(st, H, "/uw", NULL, T0, RT_NEVER, &res);
	cr_assert_eq(res.kind, LOOKUP_MISS);
	struct waiter w = {.path = "/uw", .now = T0 + 1};
	struct rt_task *t = rt_task_spawn(waiter_fn, &w, "waiter");
	let_park(&w, 1);
	store_fetch_abort(st, res.oh, T0 + 60);
	cr_assert_eq(rt_task_join(&t, RT_NEVER), 0);
	cr_expect(w.res.collapsed);
	cr_expect_eq(w.res.kind, LOOKUP_PASS, "waiter: kind %d (1 = MISS)", w.res.kind);
	settle(st, &w.res);
	*(bool *)arg = true;
}

Test(cache_store, hit_for_miss_reaches_waiters)
{
	bool done = false;
	run_main(t_hfm_waiter, &done);
	cr_assert(done);
}

/* --- Vary ------------------------------------------------------------------ */

#define VARY_LINES(id) "Cache-Control: max-age=60\nVary: Accept-Encoding\nX-Id: " id

static void expect_id(const char *path, const char *req, const char *want)
{
	struct lookup_res res;
	lookup(st, H, path, req, T0 + 1, RT_NEVER, &res);
	cr_expect_eq(res.kind, LOOKUP_HIT, "[%s]: kind %d", req, res.kind);
	if (res.obj)
		cr_expect_str_eq(field(res.obj, "x-id"), want, "[%s]", req);
	settle(st, &res);
}

static void t_vary(void *arg)
{
	const char *gz = "Accept-Encoding: gzip", *br = "Accept-Encoding: br";
	put(st, H, "/v", VARY_LINES("A"), gz, "a", T0);
	/* Another secondary key: a MISS without candidate, a second variant. */
	put(st, H, "/v", VARY_LINES("B"), br, "b", T0);
	cr_expect_eq(store_stats(st)->objects, 2);
	expect_id("/v", gz, "A");
	expect_id("/v", "Accept-Encoding: GZIP;q=1", "A");
	expect_id("/v", br, "B");

	struct lookup_res res;
	lookup(st, H, "/v", "Accept-Encoding: gzip, br", T0 + 1, RT_NEVER, &res);
	cr_expect_eq(res.kind, LOOKUP_MISS);
	cr_expect_null(res.obj, "no variant for this key");
	settle(st, &res);

	/* Refetch the gzip variant (the client forces it): only it is replaced. */
	lookup(st, H, "/v", "Accept-Encoding: gzip\nCache-Control: no-cache", T0 + 1, RT_NEVER,
	       &res);
	cr_assert_eq(res.kind, LOOKUP_MISS);
	cr_assert_not_null(res.obj);
	cr_expect_str_eq(field(res.obj, "x-id"), "A");
	cobj_release(&res.obj);
	struct cobj *o = mkobj(st, VARY_LINES("A2"), gz, "a2", true);
	store_publish(st, res.oh, o);
	cobj_release(&o);
	expect_id("/v", gz, "A2");
	expect_id("/v", br, "B");
	cr_expect_eq(store_stats(st)->objects, 2, "the replaced variant is freed");

	/* purge_key removes every variant of the key. */
	cr_expect_eq(store_purge_key(st, H "\0/v", sizeof(H) + 2), 2);
	cr_expect_eq(store_stats(st)->objects, 0);
	cr_expect_eq(store_stats(st)->purged, 2);
	lookup(st, H, "/v", gz, T0 + 1, RT_NEVER, &res);
	cr_expect_eq(res.kind, LOOKUP_MISS);
	cr_expect_null(res.obj);
	settle(st, &res);
	lookup(st, H, "/v", br, T0 + 1, RT_NEVER, &res);
	cr_expect_eq(res.kind, LOOKUP_MISS);
	cr_expect_null(res.obj);
	settle(st, &res);
	cr_expect_eq(store_purge_key(st, H "\0/v", sizeof(H) + 2), 0);
	cr_expect_eq(store_purge_key(st, H "\0/nothing", sizeof(H) + 8), 0);
	*(bool *)arg = true;
}

Test(cache_store, vary_variants_and_purge_key)
{
	bool done = false;
	run_main(t_vary, &done);
	cr_assert(done);
}

/* --- tags -------------------------------------------------------------------- */

static void t_tags(void *arg)
{
	put(st, H, "/t1", "Cache-Control: max-age=60\nSurrogate-Key: red blue", NULL, "1", T0);
	put(st, H, "/t2", "Cache-Control: max-age=60\nSurrogate-Key: blue green", NULL, "2", T0);
	put(st, H, "/t3",
	    "Cache-Control: max-age=60, stale-while-revalidate=30\nSurrogate-Key: green", NULL, "3",
	    T0);

	/* Hard: gone. */
	cr_expect_eq(store_purge_tag(st, "red", 3, false), 1);
	struct lookup_res res;
	lookup(st, H, "/t1", NULL, T0 + 1, RT_NEVER, &res);
	cr_expect_eq(res.kind, LOOKUP_MISS);
	cr_expect_null(res.obj);
	settle(st, &res);
	lookup(st, H, "/t2", NULL, T0 + 1, RT_NEVER, &res);
	cr_expect_eq(res.kind, LOOKUP_HIT);
	settle(st, &res);

	/* Soft: kept, but stale from now on; only objects still stored count. */
	cr_expect_eq(store_purge_tag(st, "blue", 4, true), 1);
	lookup(st, H, "/t2", NULL, T0 + 1, RT_NEVER, &res);
	cr_expect_eq(res.kind, LOOKUP_MISS);
	cr_expect_not_null(res.obj, "a soft-purged object stays as the candidate");
	settle(st, &res);
	/* ...and served while revalidating if the response allows it. */
	cr_expect_eq(store_purge_tag(st, "green", 5, true), 2);
	lookup(st, H, "/t3", NULL, T0 + 1, RT_NEVER, &res);
	cr_expect_eq(res.kind, LOOKUP_HIT);
	cr_expect_eq(res.use, USE_STALE_REVALIDATE);
	cr_expect(res.fetch);
	cr_expect_not_null(res.oh, "the background refresh owns the key");
	settle(st, &res);

	cr_expect_eq(store_purge_tag(st, "none", 4, false), 0);
	cr_expect_eq(store_purge_tag(st, "gree", 4, false), 0, "tags match whole");
	cr_expect_eq(store_purge_tag(st, "green", 5, false), 2);
	cr_expect_eq(store_stats(st)->objects, 0);
	*(bool *)arg = true;
}

Test(cache_store, purge_tag_hard_and_soft)
{
	bool done = false;
	run_main(t_tags, &done);
	cr_assert(done);
}

/* --- bans -------------------------------------------------------------------- */

static void expect_kind(const char *host, const char *path, enum lookup_kind want)
{
	struct lookup_res res;
	lookup(st, host, path, NULL, T0 + 1, RT_NEVER, &res);
	cr_expect_eq(res.kind, want, "%s%s: kind %d, want %d", host, path, res.kind, want);
	if (want == LOOKUP_MISS)
		cr_expect_null(res.obj, "%s%s: banned object offered", host, path);
	settle(st, &res);
}

static void t_ban(void *arg)
{
	const char *ma = "Cache-Control: max-age=60";
	put(st, H, "/banned/1", ma, NULL, "x", T0);
	put(st, H, "/banned/2", ma, NULL, "x", T0);
	put(st, H, "/ok", ma, NULL, "x", T0);
	put(st, "other.org", "/banned/1", ma, NULL, "x", T0);

	char err[128];
	cr_assert_gt(store_ban(st, "^/banned/", "^example\\.com$", err, sizeof(err)), 0, "%s", err);
	/* Nothing is scanned: the objects are still counted until looked up. */
	cr_expect_eq(store_stats(st)->objects, 4);
	expect_kind(H, "/banned/1", LOOKUP_MISS);
	expect_kind(H, "/ok", LOOKUP_HIT);
	expect_kind("other.org", "/banned/1", LOOKUP_HIT);
	cr_expect_eq(store_stats(st)->banned, 1);
	cr_expect_eq(store_stats(st)->objects, 3);
	expect_kind(H, "/banned/2", LOOKUP_MISS);
	cr_expect_eq(store_stats(st)->banned, 2);

	/* Objects stored after the ban are not affected by it. */
	put(st, H, "/banned/1", ma, NULL, "y", T0);
	expect_kind(H, "/banned/1", LOOKUP_HIT);

	cr_expect_lt(store_ban(st, "(", NULL, err, sizeof(err)), 0);
	cr_expect_neq(err[0], '\0', "a compile error is explained");
	*(bool *)arg = true;
}

Test(cache_store, ban_is_lazy)
{
	bool done = false;
	run_main(t_ban, &done);
	cr_assert(done);
}

/* --- the ban lurker --------------------------------------------------------- */

/* Lurker steps of at most MAX objects until a pass ends; returns the
 * steps' sums, and the step count in *STEPS. */
static struct lurk_step lurk_pass(struct store *s, uint32_t max, unsigned *steps)
{
	struct lurk_step sum = {0};
	unsigned n = 0;
	for (;;) {
		struct lurk_step one;
		store_lurk(s, max, &one);
		n++;
		cr_assert_lt(n, 1u << 20, "the pass never ends");
		sum.tested += one.tested;
		sum.removed += one.removed;
		sum.dropped += one.dropped;
		if (one.idle || one.pass_done) {
			sum.idle = one.idle;
			sum.pass_done = one.pass_done;
			break;
		}
	}
	if (steps)
		*steps = n;
	return sum;
}

static void t_lurk_removes(void *arg)
{
	const char *ma = "Cache-Control: max-age=60";
	put(st, H, "/banned/1", ma, NULL, "x", T0);
	put(st, H, "/banned/2", ma, NULL, "x", T0);
	put(st, H, "/ok", ma, NULL, "x", T0);
	put(st, "other.org", "/banned/1", ma, NULL, "x", T0);
	struct store_stats *ss = store_stats(st);

	/* No ban: a step walks nothing. */
	struct lurk_step one;
	store_lurk(st, 100, &one);
	cr_expect(one.idle);
	cr_expect_eq(one.tested, 0);

	char err[128];
	cr_assert_gt(store_ban(st, "^/banned/", "^example\\.com$", err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(store_ban_count(st), 1);
	/* The lurker takes the banned objects out with no lookup at all. */
	struct lurk_step p = lurk_pass(st, 100, NULL);
	cr_expect(p.pass_done);
	cr_expect_eq(p.tested, 4);
	cr_expect_eq(p.removed, 2);
	cr_expect_eq(ss->objects, 2);
	cr_expect_eq(ss->banned, 2);
	cr_expect_eq(ss->lurk_tested, 4);
	cr_expect_eq(ss->lurk_removed, 2);
	/* Every object left was tested past the ban: the list is empty. */
	cr_expect_eq(p.dropped, 1);
	cr_expect_eq(store_ban_count(st), 0);
	cr_expect_eq(ss->bans_dropped, 1);
	expect_kind(H, "/banned/1", LOOKUP_MISS);
	expect_kind(H, "/banned/2", LOOKUP_MISS);
	expect_kind(H, "/ok", LOOKUP_HIT);
	expect_kind("other.org", "/banned/1", LOOKUP_HIT);
	/* The lookups found them gone: not counted twice. */
	cr_expect_eq(ss->banned, 2);
	store_lurk(st, 100, &one);
	cr_expect(one.idle);
	*(bool *)arg = true;
}

Test(cache_store, lurker_removes_banned_objects_and_drops_the_ban)
{
	bool done = false;
	run_main(t_lurk_removes, &done);
	cr_assert(done);
}

static void t_lurk_newer(void *arg)
{
	const char *ma = "Cache-Control: max-age=60";
	char err[128];
	put(st, H, "/a", ma, NULL, "old", T0);
	cr_assert_gt(store_ban(st, "^/a$", NULL, err, sizeof(err)), 0, "%s", err);
	/* Stored after the ban: the ban is not for it. */
	put(st, H, "/b", ma, NULL, "x", T0);
	cr_assert_gt(store_ban(st, "^/b$", NULL, err, sizeof(err)), 0, "%s", err);
	put(st, H, "/b", ma, NULL, "new", T0); /* replaces the banned /b */
	struct lurk_step p = lurk_pass(st, 100, NULL);
	cr_expect_eq(p.removed, 1, "only /a: the /b stored after its ban stays");
	cr_expect_eq(p.dropped, 2);
	cr_expect_eq(store_ban_count(st), 0);
	expect_kind(H, "/a", LOOKUP_MISS);
	expect_kind(H, "/b", LOOKUP_HIT);

	/* A ban added while a pass is under way is tested by the rest of
	 * the pass, but not dropped with it: the walked part of the table
	 * has not been tested against it yet. */
	char path[32];
	for (int i = 0; i < 200; i++) {
		snprintf(path, sizeof(path), "/m/%d", i);
		put(st, H, path, ma, NULL, "x", T0);
	}
	cr_assert_gt(store_ban(st, "^/nothing$", NULL, err, sizeof(err)), 0, "%s", err);
	struct lurk_step one;
	store_lurk(st, 8, &one);
	cr_assert(!one.pass_done && !one.idle);
	cr_assert_gt(store_ban(st, "^/m/1", NULL, err, sizeof(err)), 0, "%s", err);
	p = lurk_pass(st, 8, NULL);
	cr_expect_eq(p.dropped, 1, "the ban older than the pass only");
	cr_expect_eq(store_ban_count(st), 1);
	/* The next pass tests the part walked before that ban was added. */
	p = lurk_pass(st, 8, NULL);
	cr_expect_eq(p.dropped, 1);
	cr_expect_eq(store_ban_count(st), 0);
	/* /a (the lurker), the first /b (its replacement's lookup found it
	 * banned), then /m/1, /m/10..19 and /m/100..199. */
	cr_expect_eq(store_stats(st)->banned, 2 + 1 + 10 + 100);
	expect_kind(H, "/m/1", LOOKUP_MISS);
	expect_kind(H, "/m/150", LOOKUP_MISS);
	expect_kind(H, "/m/2", LOOKUP_HIT);
	*(bool *)arg = true;
}

Test(cache_store, lurker_ignores_objects_stored_after_a_ban)
{
	bool done = false;
	run_main(t_lurk_newer, &done);
	cr_assert(done);
}

static void t_lurk_bounded(void *arg)
{
	enum { N = 500, MAX = 8 };
	const char *ma = "Cache-Control: max-age=60";
	char path[32], err[128];
	for (int i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "/n/%d", i);
		put(st, H, path, ma, NULL, "x", T0);
	}
	cr_assert_gt(store_ban(st, "^/n/", NULL, err, sizeof(err)), 0, "%s", err);
	unsigned steps = 0;
	uint32_t most = 0, total = 0;
	for (;;) {
		struct lurk_step one;
		store_lurk(st, MAX, &one);
		steps++;
		cr_assert_lt(steps, 100000u);
		/* Whole buckets: a step may go past MAX by the rest of the
		 * bucket it is in, and these keys do not share buckets. */
		cr_expect_leq(one.tested, MAX + 1, "step %u tested %u", steps, one.tested);
		most = one.tested > most ? one.tested : most;
		total += one.tested;
		if (one.pass_done)
			break;
	}
	cr_expect_eq(total, N);
	cr_expect_geq(steps, N / (MAX + 1));
	cr_expect_geq(most, MAX, "steps are not needlessly small");
	/* An empty table is still walked in bounded steps (LURK_STEP_BUCKETS
	 * buckets each), not at once. */
	cr_expect_eq(store_stats(st)->objects, 0);
	cr_assert_gt(store_ban(st, "^/x", NULL, err, sizeof(err)), 0, "%s", err);
	lurk_pass(st, MAX, &steps);
	cr_expect_gt(steps, 1);
	cr_expect_eq(store_ban_count(st), 0);
	*(bool *)arg = true;
}

Test(cache_store, lurker_steps_are_bounded)
{
	bool done = false;
	run_main(t_lurk_bounded, &done);
	cr_assert(done);
}

/* --- streamed bodies ------------------------------------------------------- */

struct stream {
	struct cobj *o;
	const char *parts[4];
	bool ok;
	/* reader */
	char got[64];
	size_t len;
	int rc, waits;
};

static void writer_fn(void *arg)
{
	struct stream *s = arg;
	for (int i = 0; s->parts[i]; i++) {
		cr_assert_eq(cbody_append(s->o->body, s->parts[i], strlen(s->parts[i]), 0), 0);
		rt_task_yield(); /* let the reader see every piece */
	}
	cbody_finish(s->o->body, s->ok);
}

static void reader_fn(void *arg)
{
	struct stream *s = arg;
	struct lookup_res res;
	lookup(st, H, "/s", NULL, T0 + 1, RT_NEVER, &res);
	cr_assert_eq(res.kind, LOOKUP_HIT);
	cr_assert_eq(res.obj, s->o);
	s->rc = read_body(res.obj->body, s->got, sizeof(s->got) - 1, &s->len, &s->waits);
	s->got[s->len] = '\0';
	cobj_release(&res.obj);
}

/* Publish a still-filling object at /s, then run a reader and a writer. */
static void stream_case(struct stream *s)
{
	struct lookup_res res;
	lookup(st, H, "/s", NULL, T0, RT_NEVER, &res);
	cr_assert_eq(res.kind, LOOKUP_MISS);
	s->o = mkobj(st, "Cache-Control: max-age=60", NULL, NULL, false);
	store_publish(st, res.oh, s->o);
	uint64_t before = store_bytes(st);
	struct rt_task *r = rt_task_spawn(reader_fn, s, "reader");
	rt_task_yield(); /* the reader finds nothing yet and parks */
	struct rt_task *w = rt_task_spawn(writer_fn, s, "writer");
	cr_assert_eq(rt_task_join(&w, RT_NEVER), 0);
	cr_assert_eq(rt_task_join(&r, RT_NEVER), 0);
	/* The fetcher charges what it stored. */
	size_t total = 0;
	for (int i = 0; s->parts[i]; i++)
		total += strlen(s->parts[i]);
	store_account(st, s->o, total);
	cr_expect_eq(store_bytes(st), before + total);
	cobj_release(&s->o);
}

static void t_stream(void *arg)
{
	struct stream s = {.parts = {"hello", ", ", "world"}, .ok = true};
	stream_case(&s);
	cr_expect_eq(s.rc, 0);
	cr_expect_str_eq(s.got, "hello, world");
	cr_expect_geq(s.waits, 3, "the reader waited for each piece (%d waits)", s.waits);

	/* A complete body read again from the start, by a late reader. */
	struct lookup_res res;
	lookup(st, H, "/s", NULL, T0 + 2, RT_NEVER, &res);
	cr_assert_eq(res.kind, LOOKUP_HIT);
	cr_expect_str_eq(body_str(res.obj), "hello, world");
	settle(st, &res);
	*(bool *)arg = true;
}

Test(cache_store, body_streams_to_a_waiting_reader)
{
	bool done = false;
	run_main(t_stream, &done);
	cr_assert(done);
}

static void t_stream_fail(void *arg)
{
	struct stream s = {.parts = {"part"}, .ok = false};
	stream_case(&s);
	/* The bytes that came are delivered, then the error. */
	cr_expect_eq(s.rc, -EIO);
	cr_expect_str_eq(s.got, "part");

	struct lookup_res res;
	lookup(st, H, "/s", NULL, T0 + 2, RT_NEVER, &res);
	cr_assert_eq(res.kind, LOOKUP_HIT);
	char out[16];
	size_t n;
	cr_expect_eq(read_body(res.obj->body, out, sizeof(out), &n, NULL), -EIO);
	cr_expect_eq(n, 4);
	struct body_reader r;
	body_reader_init(&r, res.obj->body);
	const char *p;
	cr_expect_eq(body_peek(&r, &p), 4);
	body_advance(&r, 4);
	cr_expect_eq(body_peek(&r, &p), -EIO);
	cr_expect_eq(body_wait(&r, RT_NEVER), 0, "a broken body does not park");
	/* The fetcher takes a broken object out of the table. */
	store_unlink(st, res.obj);
	settle(st, &res);
	cr_expect_eq(store_stats(st)->objects, 0);
	lookup(st, H, "/s", NULL, T0 + 2, RT_NEVER, &res);
	cr_expect_eq(res.kind, LOOKUP_MISS);
	cr_expect_null(res.obj);
	settle(st, &res);
	*(bool *)arg = true;
}

Test(cache_store, failed_body_gives_eio)
{
	bool done = false;
	run_main(t_stream_fail, &done);
	cr_assert(done);
}

static void t_big_body(void *arg)
{
	/* 200 KB in odd pieces: several chunks; read back and seek. */
	enum { N = 200000, STEP = 7001 };
	static char src[N], dst[N];
	for (size_t i = 0; i < N; i++)
		src[i] = (char)(i * 131 + i / 977);
	struct cobj *o = cobj_new(st);
	for (size_t off = 0; off < N; off += STEP)
		cr_assert_eq(cbody_append(o->body, src + off, off + STEP > N ? N - off : STEP, 0),
			     0);
	cbody_finish(o->body, true);
	cr_expect_eq(o->body->len, N);
	size_t n;
	cr_assert_eq(read_body(o->body, dst, sizeof(dst), &n, NULL), 0);
	cr_expect_eq(n, N);
	cr_expect_eq(memcmp(src, dst, N), 0);
	struct body_reader r;
	body_reader_init(&r, o->body);
	static const uint64_t at[] = {0, 1, 16383, 16384, 16385, 100000, N - 1};
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		body_seek(&r, at[i]);
		const char *p;
		ssize_t k = body_peek(&r, &p);
		cr_assert_gt(k, 0, "seek %llu", (unsigned long long)at[i]);
		cr_expect_eq(*p, src[at[i]], "seek %llu", (unsigned long long)at[i]);
	}
	body_seek(&r, N);
	const char *p;
	cr_expect_eq(body_peek(&r, &p), 0);
	cobj_release(&o); /* never published: freed here */
	*(bool *)arg = true;
}

Test(cache_store, body_spans_chunks)
{
	bool done = false;
	run_main(t_big_body, &done);
	cr_assert(done);
}

/* A buffer adopted as a chunk (a disk hit's record): read in place, the
 * whole buffer charged, appends after it go to chunks of their own, and
 * the buffer is freed with the body (the sanitizers see a leak if not). */
static void t_adopt(void *arg)
{
	enum { SIZE = 50000, AT = 321, N = 40000 };
	char *mem = malloc(SIZE);
	cr_assert_not_null(mem);
	for (size_t i = 0; i < SIZE; i++)
		mem[i] = (char)(i * 7 + 3);
	struct cobj *o = cobj_new(st);
	cr_assert_eq(cbody_adopt(o->body, mem, SIZE, mem + AT, N), 0);
	cr_assert_eq(cbody_append(o->body, "tail", 4, 0), 0);
	cbody_finish(o->body, true);
	cr_expect_eq(o->body->len, N + 4);
	cr_expect_geq(cobj_alloc(o), SIZE, "the whole buffer is charged");
	struct body_reader r;
	body_reader_init(&r, o->body);
	const char *p;
	ssize_t k = body_peek(&r, &p);
	cr_assert_eq(k, N);
	cr_expect_eq(p, mem + AT, "read in place, not copied");
	body_advance(&r, (size_t)k);
	cr_assert_eq(body_peek(&r, &p), 4);
	cr_expect_eq(memcmp(p, "tail", 4), 0);
	body_seek(&r, N - 1);
	cr_assert_eq(body_peek(&r, &p), 1);
	cr_expect_eq(*p, (char)((AT + N - 1) * 7 + 3));
	cobj_release(&o);
	*(bool *)arg = true;
}

Test(cache_store, an_adopted_buffer_is_the_body_without_a_copy)
{
	bool done = false;
	run_main(t_adopt, &done);
	cr_assert(done);
}

/* --- eviction ---------------------------------------------------------------- */

static void t_evict(void *arg)
{
	enum { BUDGET = 64 * 1024, N = 300 };
	struct store *s = store_create(BUDGET);
	cr_assert_not_null(s);
	static char body[4001];
	memset(body, 'b', sizeof(body) - 1);
	char path[32];
	for (int i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "/e/%d", i);
		put(s, H, path, "Cache-Control: max-age=600", NULL, body, T0);
		cr_assert_leq(store_bytes(s), BUDGET, "after %d: %llu bytes", i,
			      (unsigned long long)store_bytes(s));
	}
	struct store_stats *ss = store_stats(s);
	cr_expect_gt(ss->evictions, 0);
	/* Evicted objects are freed, not just unlinked: the live count is
	 * what still answers. */
	uint64_t hits = 0;
	for (int i = 0; i < N; i++) {
		snprintf(path, sizeof(path), "/e/%d", i);
		struct lookup_res res;
		lookup(s, H, path, NULL, T0 + 1, RT_NEVER, &res);
		if (res.kind == LOOKUP_HIT)
			hits++;
		else
			cr_expect_null(res.obj);
		settle(s, &res);
	}
	cr_expect_gt(hits, 0);
	cr_expect_lt(hits, N);
	cr_expect_eq(ss->objects, hits, "%llu live objects, %llu hits",
		     (unsigned long long)ss->objects, (unsigned long long)hits);
	cr_expect_eq(ss->evictions, N - hits);
	/* The most recent object survived. */
	snprintf(path, sizeof(path), "/e/%d", N - 1);
	struct lookup_res res;
	lookup(s, H, path, NULL, T0 + 1, RT_NEVER, &res);
	cr_expect_eq(res.kind, LOOKUP_HIT);
	settle(s, &res);

	/* An object larger than the whole budget does not stay. */
	static char huge[BUDGET + 1000];
	memset(huge, 'h', sizeof(huge) - 1);
	put(s, H, "/huge", "Cache-Control: max-age=600", NULL, huge, T0);
	cr_expect_leq(store_bytes(s), BUDGET);
	lookup(s, H, "/huge", NULL, T0 + 1, RT_NEVER, &res);
	cr_expect_eq(res.kind, LOOKUP_MISS);
	cr_expect_null(res.obj);
	settle(s, &res);
	store_free(&s);
	*(bool *)arg = true;
}

Test(cache_store, eviction_keeps_bytes_under_budget)
{
	bool done = false;
	run_main(t_evict, &done);
	cr_assert(done);
}

/* --- promotion from disk ------------------------------------------------------ */

/* A disk read for HOST/PATH (a MISS owning the fetch) during which INVAL
 * runs (0 none, 1 purge, 2 ban, 3 hard tag purge, 4 soft tag purge; 5 an
 * invalidation of both tiers begun before the read and still running at
 * the publish, 6 the same ended before it: its memory half was done
 * before the read began, its disk half was not): the promotion is
 * refused, and the key is a MISS. With none it is a HIT. */
static void promote_during(int inval, const char *path)
{
	static const char *lines = "Cache-Control: max-age=600\nSurrogate-Key: red";
	put(st, H, path, lines, NULL, "old", T0); /* in the tag index: a tag purge has work */
	size_t kl = strlen(H) + 1 + strlen(path);
	char key[256];
	memcpy(key, H, strlen(H) + 1);
	memcpy(key + strlen(H) + 1, path, strlen(path));
	cr_assert_eq(store_purge_key(st, key, (uint32_t)kl), 1);
	struct lookup_res res;
	lookup(st, H, path, NULL, T0 + 1, RT_NEVER, &res);
	cr_assert_eq(res.kind, LOOKUP_MISS);
	struct store_promo p;
	if (inval >= 5)
		store_inval_begin(st);
	store_promo_begin(st, &p);
	struct cobj *o = mkobj(st, lines, NULL, "disk", true);
	char err[128], re[128];
	switch (inval) {
	case 1:
		store_purge_key(st, key, (uint32_t)kl);
		break;
	case 2:
		snprintf(re, sizeof(re), "^%s$", path);
		cr_assert_gt(store_ban(st, re, NULL, err, sizeof(err)), 0, "%s", err);
		break;
	case 3:
	case 4:
		store_purge_tag(st, "red", 3, inval == 4);
		break;
	case 6:
		store_inval_end(st);
		break;
	}
	bool in = store_publish_promoted(st, res.oh, o, &p);
	if (inval == 5)
		store_inval_end(st);
	cr_expect_eq(in, inval == 0, "%s: inval %d promoted %d", path, inval, in);
	if (!in) {
		cr_expect(atomic_load(&o->retired));
		store_fetch_abort(st, res.oh, 0); /* still the caller's */
	}
	res.oh = NULL;
	cobj_release(&o);
	expect_kind(H, path, inval == 0 ? LOOKUP_HIT : LOOKUP_MISS);
}

static void t_promote(void *arg)
{
	promote_during(0, "/p/none");
	promote_during(1, "/p/purge");
	promote_during(2, "/p/ban");
	promote_during(3, "/p/tag");
	promote_during(4, "/p/soft");
	promote_during(5, "/p/bracket-open");
	promote_during(6, "/p/bracket-closed");
	promote_during(0, "/p/after-brackets");
	*(bool *)arg = true;
}

Test(cache_store, an_invalidation_during_a_disk_read_refuses_the_promotion)
{
	bool done = false;
	run_main(t_promote, &done);
	cr_assert(done);
}
