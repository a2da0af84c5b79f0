/* Unit tests of src/route/ratelimit.c: token arithmetic to the nanosecond
 * on a synthetic clock (burst, rate, the cap at burst, retry-after),
 * independent keys, eviction from a full set (least recently used, a full
 * bucket first, counted), table sizes, and threads sharing keys. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "route/ratelimit.h"

#define S  1000000000ull /* one second in ns */
#define MS 1000000ull
/* A start far from 0, as rt_clock's would be. */
#define T0 (1000 * S)

static struct ratelimit *rl;

static void setup(void)
{
	rl = ratelimit_new(64 * 1024);
	cr_assert_not_null(rl);
}

static void teardown(void)
{
	ratelimit_free(&rl);
	cr_assert_null(rl);
}

TestSuite(route_ratelimit, .init = setup, .fini = teardown);

static bool take(const char *key, double rate, double burst, uint64_t now, uint64_t *retry)
{
	return ratelimit_take(rl, key, strlen(key), rate, burst, now, retry);
}

/* Take until refused at NOW; the number that went. */
static unsigned drain(const char *key, double rate, double burst, uint64_t now)
{
	unsigned n = 0;
	uint64_t retry;
	while (take(key, rate, burst, now, &retry)) {
		cr_assert_eq(retry, 0);
		n++;
		cr_assert_lt(n, 1000000, "never refused");
	}
	cr_assert_gt(retry, 0);
	return n;
}

Test(route_ratelimit, burst_at_once_then_retry_after_exact)
{
	uint64_t retry = 42;
	/* 10/s, burst 5: five at once, the sixth waits one token's time. */
	for (int i = 0; i < 5; i++) {
		cr_assert(take("k", 10, 5, T0, &retry), "request %d", i);
		cr_assert_eq(retry, 0);
	}
	cr_assert_not(take("k", 10, 5, T0, &retry));
	cr_assert_eq(retry, 100 * MS);
	/* A refusal takes nothing: asking again says the same. */
	cr_assert_not(take("k", 10, 5, T0, &retry));
	cr_assert_eq(retry, 100 * MS);
	/* One nanosecond early, refused with one nanosecond to go. */
	cr_assert_not(take("k", 10, 5, T0 + 100 * MS - 1, &retry));
	cr_assert_eq(retry, 1);
	/* On time, it goes; the next waits a whole token's time again. */
	cr_assert(take("k", 10, 5, T0 + 100 * MS, &retry));
	cr_assert_eq(retry, 0);
	cr_assert_not(take("k", 10, 5, T0 + 100 * MS, &retry));
	cr_assert_eq(retry, 100 * MS);
	cr_assert_not(take("k", 10, 5, T0 + 150 * MS, &retry));
	cr_assert_eq(retry, 50 * MS);
	cr_assert(take("k", 10, 5, T0 + 150 * MS + retry, NULL));
}

Test(route_ratelimit, rate_per_second)
{
	/* Burst 1 at 10/s, asked every millisecond for ten seconds: exactly
	 * one request per 100 ms goes, the first at once. */
	unsigned ok = 0;
	for (uint64_t t = 0; t < 10 * S; t += MS) {
		uint64_t retry;
		if (take("steady", 10, 1, T0 + t, &retry)) {
			cr_assert_eq(t % (100 * MS), 0, "went at %llu ms",
				     (unsigned long long)(t / MS));
			ok++;
		} else {
			cr_assert_eq(retry, 100 * MS - t % (100 * MS));
		}
	}
	cr_assert_eq(ok, 100);
	/* Burst 20 at 2/s over a minute: the burst, then two a second. */
	ok = 0;
	for (uint64_t t = 0; t < 60 * S; t += 10 * MS)
		ok += take("burst", 2, 20, T0 + t, NULL);
	cr_assert_eq(ok, 20 + 2 * 60 - 1, "%u", ok); /* the last refill is at 60 s, not taken */
}

Test(route_ratelimit, refill_capped_at_burst)
{
	cr_assert_eq(drain("k", 1, 3, T0), 3);
	/* A hundred seconds idle still makes only three tokens. */
	cr_assert_eq(drain("k", 1, 3, T0 + 100 * S), 3);
	uint64_t retry;
	cr_assert_not(take("k", 1, 3, T0 + 100 * S, &retry));
	cr_assert_eq(retry, S);
	/* Partly refilled: two and a half tokens after 2.5 s. */
	cr_assert_eq(drain("k", 1, 3, T0 + 102 * S + 500 * MS), 2);
	cr_assert_not(take("k", 1, 3, T0 + 102 * S + 500 * MS, &retry));
	cr_assert_eq(retry, 500 * MS);
}

Test(route_ratelimit, fractional_burst_and_rounded_interval)
{
	uint64_t retry;
	/* Burst 1.5 at 1/s: one, then one more half a second later. */
	cr_assert(take("half", 1, 1.5, T0, &retry));
	cr_assert_not(take("half", 1, 1.5, T0, &retry));
	cr_assert_eq(retry, 500 * MS);
	cr_assert(take("half", 1, 1.5, T0 + 500 * MS, &retry));
	cr_assert_not(take("half", 1, 1.5, T0 + 500 * MS, &retry));
	cr_assert_eq(retry, S);
	/* 3/s: a token every 333,333,333 ns (rounded to the nanosecond). */
	cr_assert(take("third", 3, 1, T0, &retry));
	cr_assert_not(take("third", 3, 1, T0, &retry));
	cr_assert_eq(retry, 333333333);
	cr_assert(take("third", 3, 1, T0 + retry, &retry));
	/* Slow and fast ends. */
	cr_assert(take("slow", 1.0 / 60, 1, T0, NULL));
	cr_assert_not(take("slow", 1.0 / 60, 1, T0, &retry));
	cr_assert_eq(retry, 60 * S);
	cr_assert(take("fast", 1e9, 1, T0, NULL));
	cr_assert_not(take("fast", 1e9, 1, T0, &retry));
	cr_assert_eq(retry, 1);
	cr_assert(take("fast", 1e12, 1, T0 + 1, NULL)); /* past 1e9/s: 1 ns still */
	cr_assert_not(take("fast", 1e12, 1, T0 + 1, &retry));
	cr_assert_eq(retry, 1);
	cr_assert(take("glacial", 1e-12, 1, T0, NULL));
	cr_assert_not(take("glacial", 1e-12, 1, T0, &retry));
	cr_assert_eq(retry, RATELIMIT_INTERVAL_MAX);
}

/* A NOW behind the one before (another thread got the lock first) is no
 * time passing, and the retry counts from the caller's own NOW. */
Test(route_ratelimit, now_a_little_behind)
{
	uint64_t retry;
	cr_assert(take("k", 1, 1, T0, &retry));
	cr_assert_not(take("k", 1, 1, T0 - 10, &retry));
	cr_assert_eq(retry, S + 10);
	cr_assert(take("k", 1, 1, T0 + S, &retry));
}

Test(route_ratelimit, independent_keys)
{
	uint64_t retry;
	cr_assert_eq(drain("route1|192.0.2.1", 1, 2, T0), 2);
	/* Another client, another route, a prefix, a longer key, the same
	 * bytes with a NUL: each its own bucket. */
	cr_assert_eq(drain("route1|192.0.2.2", 1, 2, T0), 2);
	cr_assert_eq(drain("route2|192.0.2.1", 1, 4, T0), 4);
	cr_assert_eq(drain("route1|192.0.2.", 1, 2, T0), 2);
	cr_assert_eq(drain("route1|192.0.2.10", 1, 2, T0), 2);
	cr_assert(ratelimit_take(rl, "route1|192.0.2.1\0", 17, 1, 2, T0, NULL));
	/* Binary keys, up to the longest. */
	unsigned char k[RATELIMIT_KEY_MAX];
	for (size_t i = 0; i < sizeof(k); i++)
		k[i] = (unsigned char)(255 - i);
	cr_assert(ratelimit_take(rl, k, sizeof(k), 1, 1, T0, NULL));
	cr_assert_not(ratelimit_take(rl, k, sizeof(k), 1, 1, T0, &retry));
	cr_assert_eq(retry, S);
	cr_assert(ratelimit_take(rl, k, sizeof(k) - 1, 1, 1, T0, NULL));
	/* The first is still empty. */
	cr_assert_not(take("route1|192.0.2.1", 1, 2, T0, &retry));
	cr_assert_eq(retry, S);

	struct ratelimit_stats st;
	ratelimit_stats(rl, &st);
	cr_assert_eq(st.entries, 64 * 1024);
	cr_assert_eq(st.in_use, 8);
	cr_assert_eq(st.evictions, 0);
}

Test(route_ratelimit, sizes)
{
	static const size_t asked[][2] = {{0, 8},	{1, 8},		{8, 8},		{9, 16},
					  {1000, 1024}, {65536, 65536}, {65537, 131072}};
	for (size_t i = 0; i < sizeof(asked) / sizeof(asked[0]); i++) {
		struct ratelimit *r = ratelimit_new(asked[i][0]);
		cr_assert_not_null(r);
		struct ratelimit_stats st;
		ratelimit_stats(r, &st);
		cr_assert_eq(st.entries, asked[i][1], "%zu -> %zu", asked[i][0], st.entries);
		cr_assert_eq(st.in_use, 0);
		ratelimit_free(&r);
		cr_assert_null(r);
	}
	ratelimit_free(NULL);
	struct ratelimit *none = NULL;
	ratelimit_free(&none);
	cr_assert_null(ratelimit_new(SIZE_MAX));
}

/* A thousand keys in 8192 sets: no set comes near full. */
Test(route_ratelimit, no_eviction_with_room)
{
	char key[16];
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "c%d", i);
		cr_assert(take(key, 1, 1, T0 + (uint64_t)i, NULL));
	}
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "c%d", i);
		cr_assert_not(take(key, 1, 1, T0 + 1000, NULL), "%s forgotten", key);
	}
	struct ratelimit_stats st;
	ratelimit_stats(rl, &st);
	cr_assert_eq(st.in_use, 1000);
	cr_assert_eq(st.evictions, 0);
}

/* A table of one set: every key competes for its 8 ways. */
Test(route_ratelimit, one_set_evicts_least_recently_used)
{
	struct ratelimit *one = ratelimit_new(RATELIMIT_WAYS);
	cr_assert_not_null(one);
	char key[8];
	/* k0..k7, each used once at 1 ns apart, none full again (1/s, burst 2). */
	for (unsigned i = 0; i < RATELIMIT_WAYS; i++) {
		snprintf(key, sizeof(key), "k%u", i);
		cr_assert(ratelimit_take(one, key, 2, 1, 2, T0 + i, NULL));
	}
	struct ratelimit_stats st;
	ratelimit_stats(one, &st);
	cr_assert_eq(st.entries, RATELIMIT_WAYS);
	cr_assert_eq(st.in_use, RATELIMIT_WAYS);
	cr_assert_eq(st.evictions, 0);

	/* A ninth pushes out the oldest, k0. */
	cr_assert(ratelimit_take(one, "k8", 2, 1, 2, T0 + 8, NULL));
	ratelimit_stats(one, &st);
	cr_assert_eq(st.in_use, RATELIMIT_WAYS);
	cr_assert_eq(st.evictions, 1);
	cr_assert_eq(st.lossy, 1);
	/* k1 kept its state: one token left, then refused. */
	uint64_t retry;
	cr_assert(ratelimit_take(one, "k1", 2, 1, 2, T0 + 9, NULL));
	cr_assert_not(ratelimit_take(one, "k1", 2, 1, 2, T0 + 9, &retry));
	cr_assert_eq(retry, S - 8);
	/* k0 comes back to a full bucket (two), pushing out k2, now the
	 * oldest (k1 was just used). */
	cr_assert(ratelimit_take(one, "k0", 2, 1, 2, T0 + 10, NULL));
	cr_assert(ratelimit_take(one, "k0", 2, 1, 2, T0 + 10, NULL));
	cr_assert_not(ratelimit_take(one, "k0", 2, 1, 2, T0 + 10, NULL));
	ratelimit_stats(one, &st);
	cr_assert_eq(st.evictions, 2);
	cr_assert_eq(st.lossy, 2);
	/* k3 is still there (refused at its second take after the first)... */
	cr_assert(ratelimit_take(one, "k3", 2, 1, 2, T0 + 11, NULL));
	cr_assert_not(ratelimit_take(one, "k3", 2, 1, 2, T0 + 11, NULL));
	/* ... and k2 is gone: a full bucket again. */
	cr_assert(ratelimit_take(one, "k2", 2, 1, 2, T0 + 12, NULL));
	cr_assert(ratelimit_take(one, "k2", 2, 1, 2, T0 + 12, NULL));
	ratelimit_stats(one, &st);
	cr_assert_eq(st.evictions, 3);
	cr_assert_eq(st.in_use, RATELIMIT_WAYS);
	ratelimit_free(&one);
}

/* An entry whose bucket is full again goes before an older one still
 * refilling: forgetting it loses nothing, and it is not lossy. */
Test(route_ratelimit, full_bucket_evicted_first)
{
	struct ratelimit *one = ratelimit_new(1);
	cr_assert_not_null(one);
	char key[8];
	for (unsigned i = 0; i < RATELIMIT_WAYS - 1; i++) {
		snprintf(key, sizeof(key), "k%u", i);
		cr_assert(ratelimit_take(one, key, 2, 1, 2, T0 + i, NULL));
	}
	/* The newest, at 1e9/s, is full again a nanosecond later. */
	cr_assert(ratelimit_take(one, "k7", 2, 1e9, 1, T0 + 7, NULL));
	cr_assert(ratelimit_take(one, "k8", 2, 1, 2, T0 + 100, NULL));
	struct ratelimit_stats st;
	ratelimit_stats(one, &st);
	cr_assert_eq(st.evictions, 1);
	cr_assert_eq(st.lossy, 0);
	/* k0, the oldest, kept its state. */
	cr_assert(ratelimit_take(one, "k0", 2, 1, 2, T0 + 101, NULL));
	cr_assert_not(ratelimit_take(one, "k0", 2, 1, 2, T0 + 101, NULL));
	ratelimit_stats(one, &st);
	cr_assert_eq(st.evictions, 1);
	/* Time passes: every bucket is full again, the least recently used of
	 * them goes (k1) and nothing is lossy. */
	cr_assert(ratelimit_take(one, "k9", 2, 1, 2, T0 + 10 * S, NULL));
	ratelimit_stats(one, &st);
	cr_assert_eq(st.evictions, 2);
	cr_assert_eq(st.lossy, 0);
	cr_assert(ratelimit_take(one, "k2", 2, 1, 2, T0 + 10 * S, NULL));
	cr_assert(ratelimit_take(one, "k2", 2, 1, 2, T0 + 10 * S, NULL));
	cr_assert(ratelimit_take(one, "k2", 2, 1, 2, T0 + 10 * S, NULL) == false);
	ratelimit_stats(one, &st);
	cr_assert_eq(st.evictions, 2, "k2 was still there");
	ratelimit_free(&one);
}

/* Different limits through one table, each key its own. */
Test(route_ratelimit, limits_per_call)
{
	cr_assert_eq(drain("api|a", 100, 50, T0), 50);
	cr_assert_eq(drain("login|a", 0.1, 3, T0), 3);
	uint64_t retry;
	cr_assert_not(take("api|a", 100, 50, T0, &retry));
	cr_assert_eq(retry, 10 * MS);
	cr_assert_not(take("login|a", 0.1, 3, T0, &retry));
	cr_assert_eq(retry, 10 * S);
	/* A burst lowered by a reload applies at once to a full bucket. */
	cr_assert_eq(drain("api|b", 100, 50, T0), 50);
	cr_assert_eq(drain("api|b", 100, 5, T0 + 10 * S), 5);
}

/* Two threads: each its own key, and one shared. With the clock stopped
 * (no refill) the shared key lets exactly its burst through in all, and
 * each own key exactly its own burst. */
#define ITERS	   200000
#define OWN_BURST  1000
#define SHARED_BUR 5000

struct worker {
	struct ratelimit *rl;
	char own[16];
	unsigned own_ok, shared_ok;
};

static void *hammer(void *arg)
{
	struct worker *w = arg;
	for (unsigned i = 0; i < ITERS; i++) {
		w->own_ok +=
		    ratelimit_take(w->rl, w->own, strlen(w->own), 1e-3, OWN_BURST, T0, NULL);
		w->shared_ok += ratelimit_take(w->rl, "shared", 6, 1e-3, SHARED_BUR, T0, NULL);
	}
	return NULL;
}

Test(route_ratelimit, threads_share_one_key)
{
	struct worker w[2] = {{.rl = rl, .own = "own-0"}, {.rl = rl, .own = "own-1"}};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, hammer, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_join(th[i], NULL), 0);
	cr_assert_eq(w[0].own_ok, OWN_BURST);
	cr_assert_eq(w[1].own_ok, OWN_BURST);
	cr_assert_eq(w[0].shared_ok + w[1].shared_ok, SHARED_BUR, "%u + %u", w[0].shared_ok,
		     w[1].shared_ok);
	struct ratelimit_stats st;
	ratelimit_stats(rl, &st);
	cr_assert_eq(st.in_use, 3);
	cr_assert_eq(st.evictions, 0);
}

/* Two threads filling a small table with keys of their own, each new:
 * every new key takes a free way or evicts one, so the counters add up. */
struct filler {
	struct ratelimit *rl;
	unsigned id, ok;
};

#define FILL_KEYS 50000

static void *fill(void *arg)
{
	struct filler *f = arg;
	for (unsigned i = 0; i < FILL_KEYS; i++) {
		char key[16];
		int n = snprintf(key, sizeof(key), "%u/%u", f->id, i);
		/* A new key starts full: it always goes. */
		f->ok += ratelimit_take(f->rl, key, (size_t)n, 1, 1, T0 + i, NULL);
	}
	return NULL;
}

Test(route_ratelimit, threads_evicting)
{
	struct ratelimit *small = ratelimit_new(64);
	cr_assert_not_null(small);
	struct filler f[2] = {{.rl = small, .id = 0}, {.rl = small, .id = 1}};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, fill, &f[i]), 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_join(th[i], NULL), 0);
	cr_assert_eq(f[0].ok, FILL_KEYS);
	cr_assert_eq(f[1].ok, FILL_KEYS);
	struct ratelimit_stats st;
	ratelimit_stats(small, &st);
	cr_assert_eq(st.entries, 64);
	cr_assert_eq(st.in_use, 64);
	cr_assert_eq(st.in_use + st.evictions, 2 * FILL_KEYS);
	cr_assert_leq(st.lossy, st.evictions);
	ratelimit_free(&small);
}
