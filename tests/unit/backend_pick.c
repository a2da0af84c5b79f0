/* Unit tests of src/backend/pick.c: server choice by balance method, health,
 * avoided servers, the retry walk and which methods may be sent again. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/pick.h"
#include "config/config.h"
#include "http/msg.h"
#include "rt/clock.h"

#define MAX_SERVERS 80

/* A backend built by hand, as the loader would: servers, weights, balance. */
struct fixture {
	struct config_backend cfg;
	struct config_addr addrs[MAX_SERVERS];
	uint32_t weights[MAX_SERVERS];
	struct backend_rt rt;
};

/* SPECS[i] or, with SPECS NULL, 127.0.0.1:(9000 + i); WEIGHTS NULL: 1 each. */
static void build(struct fixture *f, size_t n, const char *const *specs, const uint32_t *weights,
		  enum config_balance balance, bool health)
{
	cr_assert_leq(n, MAX_SERVERS);
	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < n; i++) {
		char spec[32];
		if (!specs)
			snprintf(spec, sizeof(spec), "127.0.0.1:%zu", 9000 + i);
		cr_assert_eq(config_parse_addr(specs ? specs[i] : spec, &f->addrs[i]), 0);
		f->weights[i] = weights ? weights[i] : 1;
	}
	f->cfg.name = "app";
	f->cfg.servers = f->addrs;
	f->cfg.weights = f->weights;
	f->cfg.n_servers = n;
	f->cfg.balance = balance;
	f->cfg.retries = 1;
	f->cfg.health.enabled = health;
	f->rt.cfg = &f->cfg;
	cr_assert_eq(backend_rt_init(&f->rt), 0);
}

static void teardown(struct fixture *f)
{
	backend_rt_free(&f->rt);
	cr_assert_null(f->rt.sched);
	cr_assert_null(f->rt.active);
	cr_assert_null(f->rt.ring);
	cr_assert_null(f->rt.health);
	for (size_t i = 0; i < f->cfg.n_servers; i++)
		free(f->addrs[i].spec);
}

static const char *spec_of(const struct fixture *f, int s)
{
	cr_assert_geq(s, 0);
	cr_assert_lt((size_t)s, f->cfg.n_servers);
	return f->addrs[s].spec;
}

/* A parsed request for HOST and TARGET (it stays valid until the next call). */
static struct hfield req_fields[16];
static char req_buf[1024];
static struct hmsg req;

static const struct hmsg *request(const char *method, const char *host, const char *target)
{
	snprintf(req_buf, sizeof(req_buf), "%s %s HTTP/1.1\r\nHost: %s\r\n\r\n", method, target,
		 host);
	hmsg_init(&req, HMSG_REQUEST, req_fields, 16, 1024);
	hmsg_next(&req, req_buf, 0);
	cr_assert_gt(hmsg_feed(&req, 0, (uint32_t)strlen(req_buf)), 0, "%s",
		     req.error ? req.error : "");
	cr_assert(req.headers_done);
	return &req;
}

static const struct hmsg *key_request(unsigned k)
{
	char host[32], target[32];
	snprintf(host, sizeof(host), "h%u.example", k % 7);
	snprintf(target, sizeof(target), "/obj/%u?v=%u", k, k * 31);
	return request("GET", host, target);
}

static void set_down(struct fixture *f, unsigned s, bool down)
{
	atomic_store(&f->rt.health[s].down, down);
}

/* ---- round robin ---------------------------------------------------------- */

Test(backend_pick, weighted_round_robin_keeps_the_proportions)
{
	static const uint32_t w[] = {1, 3, 5};
	struct fixture f;
	build(&f, 3, NULL, w, BALANCE_ROUND_ROBIN, false);
	cr_assert_eq(f.rt.sched_len, 9);
	const struct hmsg *r = request("GET", "a", "/");
	/* Every cycle of 9 picks holds each server exactly its weight. */
	for (unsigned cycle = 0; cycle < 50; cycle++) {
		unsigned count[3] = {0};
		for (unsigned k = 0; k < 9; k++) {
			int s = backend_pick(&f.rt, r, 0);
			cr_assert(s >= 0 && s < 3);
			count[s]++;
		}
		for (unsigned i = 0; i < 3; i++)
			cr_assert_eq(count[i], w[i],
				     "cycle %u: server %u picked %u times, weight %u", cycle, i,
				     count[i], w[i]);
	}
	teardown(&f);
}

Test(backend_pick, smooth_round_robin_is_nginx_order)
{
	/* The example of nginx's smooth weighted round robin: weights
	 * {a: 5, b: 1, c: 1} give a a b a c a a, not a a a a a b c. */
	static const uint32_t w[] = {5, 1, 1};
	static const int want[] = {0, 0, 1, 0, 2, 0, 0};
	struct fixture f;
	build(&f, 3, NULL, w, BALANCE_ROUND_ROBIN, false);
	const struct hmsg *r = request("GET", "a", "/");
	for (unsigned k = 0; k < 3 * 7; k++) {
		int s = backend_pick(&f.rt, r, 0);
		cr_assert_eq(s, want[k % 7], "pick %u: server %d, want %d", k, s, want[k % 7]);
	}
	teardown(&f);
}

/*
 * Weights 1:3:5: the lighter two are never picked twice in a row, across
 * cycles too; the weight-5 server, more than the other four picks of a
 * cycle can keep apart, is picked twice in a row once per cycle (where a
 * cycle meets the next), the fewest there can be.
 */
Test(backend_pick, smooth_round_robin_1_3_5_repeats_only_what_it_must)
{
	static const uint32_t w[] = {1, 3, 5};
	static const int want[] = {2, 1, 2, 0, 2, 1, 2, 1, 2};
	struct fixture f;
	build(&f, 3, NULL, w, BALANCE_ROUND_ROBIN, false);
	const struct hmsg *r = request("GET", "a", "/");
	unsigned repeats[3] = {0};
	const unsigned cycles = 5;
	int prev = -1;
	/* One pick past the last cycle, so the last wrap-around counts too. */
	for (unsigned k = 0; k <= 9 * cycles; k++) {
		int s = backend_pick(&f.rt, r, 0);
		cr_assert_eq(s, want[k % 9], "pick %u: server %d, want %d", k, s, want[k % 9]);
		if (s == prev)
			repeats[s]++;
		prev = s;
	}
	cr_assert_eq(repeats[0], 0);
	cr_assert_eq(repeats[1], 0);
	cr_assert_eq(repeats[2], cycles);
	teardown(&f);
}

/*
 * The smoothness smooth weighted round robin does guarantee: from the
 * start of each cycle, after k picks a server of weight W out of a total
 * T has been picked within one of k * W / T times. (It does not avoid
 * every repeat that could be avoided: nginx's own order for 1:1:2 is
 * c a b c, so c twice in a row where one cycle meets the next.)
 */
static void check_smooth(const uint32_t *w, size_t n)
{
	struct fixture f;
	build(&f, n, NULL, w, BALANCE_ROUND_ROBIN, false);
	long total = 0;
	for (size_t i = 0; i < n; i++)
		total += w[i];
	cr_assert_eq(f.rt.sched_len, (unsigned)total);
	const struct hmsg *r = request("GET", "a", "/");
	for (unsigned cycle = 0; cycle < 3; cycle++) {
		long count[MAX_SERVERS] = {0};
		for (long k = 1; k <= total; k++) {
			int s = backend_pick(&f.rt, r, 0);
			cr_assert(s >= 0 && (size_t)s < n);
			count[s]++;
			for (size_t i = 0; i < n; i++) {
				long dev = total * count[i] - k * (long)w[i];
				cr_assert(dev > -total && dev < total,
					  "weights %zu servers, server %zu (weight %u of %ld): %ld "
					  "picks in the first %ld",
					  n, i, w[i], total, count[i], k);
			}
		}
		for (size_t i = 0; i < n; i++)
			cr_assert_eq(count[i], (long)w[i], "cycle %u server %zu", cycle, i);
	}
	teardown(&f);
}

Test(backend_pick, smooth_round_robin_spreads_every_server_evenly)
{
	static const uint32_t a[] = {1, 3, 5}, b[] = {5, 1, 1}, c[] = {2, 2, 3}, d[] = {1, 1},
			      e[] = {4, 3, 2, 1}, g[] = {10, 1}, h[] = {1, 1, 1, 1, 1},
			      i[] = {1, 1, 2}, j[] = {8, 6, 6, 1}, k[] = {1000, 1, 999, 7};
	check_smooth(a, 3);
	check_smooth(b, 3);
	check_smooth(c, 3);
	check_smooth(d, 2);
	check_smooth(e, 4);
	check_smooth(g, 2);
	check_smooth(h, 5);
	check_smooth(i, 3);
	check_smooth(j, 4);
	check_smooth(k, 4);
}

Test(backend_pick, round_robin_without_weights_means_one_each)
{
	struct fixture f;
	build(&f, 3, NULL, NULL, BALANCE_ROUND_ROBIN, false);
	f.cfg.weights = NULL; /* a config built by hand may leave them out */
	backend_rt_free(&f.rt);
	cr_assert_eq(backend_rt_init(&f.rt), 0);
	cr_assert_eq(f.rt.sched_len, 3);
	const struct hmsg *r = request("GET", "a", "/");
	for (unsigned k = 0; k < 9; k++)
		cr_assert_eq(backend_pick(&f.rt, r, 0), (int)(k % 3));
	teardown(&f);
}

/* ---- least connections ---------------------------------------------------- */

Test(backend_pick, least_connections_takes_the_fewest_in_progress)
{
	struct fixture f;
	build(&f, 3, NULL, NULL, BALANCE_LEAST_CONNECTIONS, false);
	const struct hmsg *r = request("GET", "a", "/");
	atomic_store(&f.rt.active[0], 3);
	atomic_store(&f.rt.active[1], 1);
	atomic_store(&f.rt.active[2], 2);
	for (unsigned k = 0; k < 10; k++)
		cr_assert_eq(backend_pick(&f.rt, r, 0), 1);
	atomic_store(&f.rt.active[2], 0);
	for (unsigned k = 0; k < 10; k++)
		cr_assert_eq(backend_pick(&f.rt, r, 0), 2);
	teardown(&f);
}

Test(backend_pick, least_connections_ties_go_round)
{
	struct fixture f;
	build(&f, 3, NULL, NULL, BALANCE_LEAST_CONNECTIONS, false);
	const struct hmsg *r = request("GET", "a", "/");
	unsigned count[3] = {0};
	int prev = -1;
	for (unsigned k = 0; k < 30; k++) {
		int s = backend_pick(&f.rt, r, 0);
		cr_assert(s >= 0 && s < 3);
		cr_assert_neq(s, prev, "a tie went to server %d twice in a row", s);
		count[s]++;
		prev = s;
	}
	for (unsigned i = 0; i < 3; i++)
		cr_assert_eq(count[i], 10);
	/* A tie between two of three: it goes to one of those two. */
	for (unsigned i = 0; i < 3; i++)
		atomic_store(&f.rt.active[i], 4);
	atomic_store(&f.rt.active[1], 9);
	count[0] = count[1] = count[2] = 0;
	for (unsigned k = 0; k < 30; k++)
		count[backend_pick(&f.rt, r, 0)]++;
	cr_assert_eq(count[1], 0);
	cr_assert_geq(count[0], 10);
	cr_assert_geq(count[2], 10);
	teardown(&f);
}

Test(backend_pick, least_connections_counts_per_unit_of_weight)
{
	static const uint32_t w[] = {1, 3};
	struct fixture f;
	build(&f, 2, NULL, w, BALANCE_LEAST_CONNECTIONS, false);
	const struct hmsg *r = request("GET", "a", "/");
	/* 1 of weight 1 is more than 2 of weight 3. */
	atomic_store(&f.rt.active[0], 1);
	atomic_store(&f.rt.active[1], 2);
	for (unsigned k = 0; k < 6; k++)
		cr_assert_eq(backend_pick(&f.rt, r, 0), 1);
	/* 1/1 against 3/3: a tie, which goes round. */
	atomic_store(&f.rt.active[1], 3);
	unsigned count[2] = {0};
	for (unsigned k = 0; k < 6; k++)
		count[backend_pick(&f.rt, r, 0)]++;
	cr_assert_eq(count[0], 3);
	cr_assert_eq(count[1], 3);
	/* 1/1 against 4/3. */
	atomic_store(&f.rt.active[1], 4);
	for (unsigned k = 0; k < 6; k++)
		cr_assert_eq(backend_pick(&f.rt, r, 0), 0);
	/* Filling up as the caller counts them: shares follow the weights. */
	atomic_store(&f.rt.active[0], 0);
	atomic_store(&f.rt.active[1], 0);
	for (unsigned k = 0; k < 400; k++) {
		int s = backend_pick(&f.rt, r, 0);
		atomic_fetch_add(&f.rt.active[s], 1);
	}
	cr_assert_eq(atomic_load(&f.rt.active[0]), 100);
	cr_assert_eq(atomic_load(&f.rt.active[1]), 300);
	teardown(&f);
}

/* ---- consistent hashing --------------------------------------------------- */

Test(backend_pick, hash_is_stable_per_host_and_target)
{
	struct fixture f;
	build(&f, 5, NULL, NULL, BALANCE_HASH, false);
	for (unsigned k = 0; k < 200; k++) {
		int first = backend_pick(&f.rt, key_request(k), 0);
		for (unsigned again = 0; again < 5; again++)
			cr_assert_eq(backend_pick(&f.rt, key_request(k), 0), first, "key %u", k);
	}
	/* The method is not part of the key; the Host and the target are. */
	int g = backend_pick(&f.rt, request("GET", "a.example", "/x"), 0);
	cr_assert_eq(backend_pick(&f.rt, request("HEAD", "a.example", "/x"), 0), g);
	unsigned seen = 0;
	for (unsigned k = 0; k < 64; k++) {
		char t[16];
		snprintf(t, sizeof(t), "/x%u", k);
		seen |= 1u << backend_pick(&f.rt, request("GET", "a.example", t), 0);
	}
	cr_assert_gt(__builtin_popcount(seen), 1, "64 targets all on one server");
	teardown(&f);
}

Test(backend_pick, hash_removing_a_server_moves_only_its_keys)
{
	static const char *const four[] = {"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80",
					   "10.0.0.4:80"};
	static const char *const three[] = {"10.0.0.1:80", "10.0.0.2:80", "10.0.0.4:80"};
	struct fixture *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	cr_assert(a && b);
	build(a, 4, four, NULL, BALANCE_HASH, false);
	build(b, 3, three, NULL, BALANCE_HASH, false);
	unsigned moved = 0, on_removed = 0;
	const unsigned keys = 2000;
	for (unsigned k = 0; k < keys; k++) {
		const char *sa = spec_of(a, backend_pick(&a->rt, key_request(k), 0));
		const char *sb = spec_of(b, backend_pick(&b->rt, key_request(k), 0));
		if (strcmp(sa, "10.0.0.3:80") == 0) {
			on_removed++;
			continue;
		}
		if (strcmp(sa, sb) != 0)
			moved++;
	}
	cr_assert_eq(moved, 0, "%u keys of servers that stayed moved", moved);
	/* Its share was about a quarter. */
	cr_assert(on_removed > keys / 10 && on_removed < keys / 2, "%u of %u keys", on_removed,
		  keys);
	/* Adding it back: only keys that land on it move. */
	for (unsigned k = 0; k < keys; k++) {
		const char *sb = spec_of(b, backend_pick(&b->rt, key_request(k), 0));
		const char *sa = spec_of(a, backend_pick(&a->rt, key_request(k), 0));
		cr_assert(strcmp(sa, sb) == 0 || strcmp(sa, "10.0.0.3:80") == 0, "key %u", k);
	}
	teardown(a);
	teardown(b);
	free(a);
	free(b);
}

Test(backend_pick, hash_shares_follow_the_weights)
{
	static const uint32_t even[] = {1, 1}, heavy[] = {1, 3};
	struct fixture f;
	const unsigned keys = 2000;
	unsigned count[2] = {0};
	build(&f, 2, NULL, even, BALANCE_HASH, false);
	cr_assert_eq(f.rt.ring_len, 80);
	for (unsigned k = 0; k < keys; k++)
		count[backend_pick(&f.rt, key_request(k), 0)]++;
	teardown(&f);
	cr_assert(count[1] > keys * 30 / 100 && count[1] < keys * 70 / 100, "even: %u of %u",
		  count[1], keys);

	count[0] = count[1] = 0;
	build(&f, 2, NULL, heavy, BALANCE_HASH, false);
	cr_assert_eq(f.rt.ring_len, 160);
	for (unsigned k = 0; k < keys; k++)
		count[backend_pick(&f.rt, key_request(k), 0)]++;
	teardown(&f);
	cr_assert(count[1] > keys * 60 / 100 && count[1] < keys * 90 / 100,
		  "weights 1:3: server 1 has %u of %u keys", count[1], keys);
}

/* ---- health and avoided servers ------------------------------------------- */

static void check_down_is_skipped(enum config_balance bal)
{
	struct fixture f;
	build(&f, 3, NULL, NULL, bal, true);
	set_down(&f, 1, true);
	unsigned count[3] = {0};
	for (unsigned k = 0; k < 300; k++)
		count[backend_pick(&f.rt, key_request(k), 0)]++;
	cr_assert_eq(count[1], 0, "balance %d: a down server got %u picks", bal, count[1]);
	cr_assert_gt(count[0], 0, "balance %d", bal);
	cr_assert_gt(count[2], 0, "balance %d", bal);
	/* Only one up: it takes everything. */
	set_down(&f, 0, true);
	for (unsigned k = 0; k < 50; k++)
		cr_assert_eq(backend_pick(&f.rt, key_request(k), 0), 2, "balance %d", bal);
	/* All down: one is tried anyway rather than none. */
	set_down(&f, 2, true);
	for (unsigned k = 0; k < 50; k++) {
		int s = backend_pick(&f.rt, key_request(k), 0);
		cr_assert(s >= 0 && s < 3, "balance %d: all down gave %d", bal, s);
	}
	/* Back up: picked again. */
	set_down(&f, 0, false);
	for (unsigned k = 0; k < 50; k++)
		cr_assert_eq(backend_pick(&f.rt, key_request(k), 0), 0, "balance %d", bal);
	teardown(&f);
}

Test(backend_pick, a_down_server_is_skipped_while_another_is_up)
{
	check_down_is_skipped(BALANCE_ROUND_ROBIN);
	check_down_is_skipped(BALANCE_LEAST_CONNECTIONS);
	check_down_is_skipped(BALANCE_HASH);
}

Test(backend_pick, hash_keys_of_a_down_server_move_the_others_stay)
{
	struct fixture f;
	build(&f, 4, NULL, NULL, BALANCE_HASH, true);
	int before[500];
	for (unsigned k = 0; k < 500; k++)
		before[k] = backend_pick(&f.rt, key_request(k), 0);
	set_down(&f, 2, true);
	for (unsigned k = 0; k < 500; k++) {
		int s = backend_pick(&f.rt, key_request(k), 0);
		if (before[k] == 2)
			cr_assert_neq(s, 2, "key %u", k);
		else
			cr_assert_eq(s, before[k], "key %u moved off an up server", k);
	}
	teardown(&f);
}

Test(backend_pick, down_flags_count_only_with_health_checks)
{
	struct fixture f;
	build(&f, 2, NULL, NULL, BALANCE_ROUND_ROBIN, false);
	set_down(&f, 0, true);
	unsigned count[2] = {0};
	for (unsigned k = 0; k < 10; k++)
		count[backend_pick(&f.rt, key_request(k), 0)]++;
	cr_assert_eq(count[0], 5);
	cr_assert_eq(count[1], 5);
	teardown(&f);
}

static void check_avoid(enum config_balance bal)
{
	struct fixture f;
	build(&f, 4, NULL, NULL, bal, true);
	for (unsigned k = 0; k < 100; k++) {
		uint64_t avoid = k % 15; /* every subset of {0, 1, 2, 3} but all four */
		int s = backend_pick(&f.rt, key_request(k), avoid);
		cr_assert(s >= 0 && s < 4, "balance %d avoid %#llx: %d", bal,
			  (unsigned long long)avoid, s);
		cr_assert_eq(avoid >> s & 1, 0, "balance %d avoid %#llx: picked %d", bal,
			     (unsigned long long)avoid, s);
	}
	cr_assert_eq(backend_pick(&f.rt, key_request(0), 0xf), -1, "balance %d", bal);
	cr_assert_eq(backend_pick(&f.rt, key_request(0), ~0ull), -1, "balance %d", bal);
	/* Avoided beats down: with 0 avoided and 1, 2 down, 3 (up) is taken. */
	set_down(&f, 1, true);
	set_down(&f, 2, true);
	for (unsigned k = 0; k < 20; k++)
		cr_assert_eq(backend_pick(&f.rt, key_request(k), 1), 3, "balance %d", bal);
	/* 0 and 3 avoided, the rest down: a down one rather than none. */
	for (unsigned k = 0; k < 20; k++) {
		int s = backend_pick(&f.rt, key_request(k), 0x9);
		cr_assert(s == 1 || s == 2, "balance %d: %d", bal, s);
	}
	teardown(&f);
}

Test(backend_pick, avoided_servers_are_never_picked)
{
	check_avoid(BALANCE_ROUND_ROBIN);
	check_avoid(BALANCE_LEAST_CONNECTIONS);
	check_avoid(BALANCE_HASH);
}

Test(backend_pick, one_server)
{
	struct fixture f;
	build(&f, 1, NULL, NULL, BALANCE_ROUND_ROBIN, true);
	const struct hmsg *r = request("GET", "a", "/");
	cr_assert_eq(backend_pick(&f.rt, r, 0), 0);
	set_down(&f, 0, true);
	cr_assert_eq(backend_pick(&f.rt, r, 0), 0, "the only server is tried even when down");
	cr_assert_eq(backend_pick(&f.rt, r, 1), -1);
	teardown(&f);
}

Test(backend_pick, servers_past_64_cannot_be_avoided)
{
	struct fixture *f = malloc(sizeof(*f));
	cr_assert(f);
	build(f, 70, NULL, NULL, BALANCE_ROUND_ROBIN, false);
	const struct hmsg *r = request("GET", "a", "/");
	unsigned seen = 0;
	for (unsigned k = 0; k < 70; k++) {
		int s = backend_pick(&f->rt, r, ~0ull);
		cr_assert(s >= 64 && s < 70, "picked %d with the first 64 avoided", s);
		seen |= 1u << (s - 64);
	}
	cr_assert_eq(seen, 0x3f);
	teardown(f);
	free(f);
}

/* ---- the retry walk ------------------------------------------------------- */

/* Walk T through B until it stops; returns the servers tried, in order. */
static unsigned walk(struct fixture *f, const struct hmsg *r, int *order, unsigned cap)
{
	struct backend_try t;
	backend_try_init(&t, &f->rt, r);
	cr_assert_geq(t.server, 0);
	cr_assert_eq(t.tried, 0);
	cr_assert_not(t.fresh);
	cr_assert_eq(t.left, f->cfg.retries);
	unsigned n = 0;
	order[n++] = t.server;
	while (backend_try_next(&t, &f->rt, r)) {
		cr_assert_lt(n, cap);
		cr_assert_not(t.fresh);
		for (unsigned i = 0; i < n; i++)
			cr_assert_neq(t.server, order[i], "server %d tried twice", t.server);
		order[n++] = t.server;
		cr_assert(t.tried >> order[n - 2] & 1);
	}
	return n;
}

static void check_retries(enum config_balance bal)
{
	int order[16];
	struct fixture f;
	build(&f, 4, NULL, NULL, bal, false);
	for (unsigned retries = 0; retries <= 6; retries++) {
		f.cfg.retries = retries;
		for (unsigned k = 0; k < 20; k++) {
			unsigned n = walk(&f, key_request(k), order, 16);
			unsigned want = retries + 1 < 4 ? retries + 1 : 4;
			cr_assert_eq(n, want, "balance %d retries %u: %u servers tried", bal,
				     retries, n);
		}
	}
	teardown(&f);
}

Test(backend_pick, retries_go_to_other_servers_until_they_run_out)
{
	check_retries(BALANCE_ROUND_ROBIN);
	check_retries(BALANCE_LEAST_CONNECTIONS);
	check_retries(BALANCE_HASH);
}

Test(backend_pick, retries_prefer_up_servers_then_try_down_ones)
{
	int order[8];
	struct fixture f;
	build(&f, 3, NULL, NULL, BALANCE_ROUND_ROBIN, true);
	f.cfg.retries = 5;
	set_down(&f, 0, true);
	for (unsigned k = 0; k < 12; k++) {
		unsigned n = walk(&f, key_request(k), order, 8);
		cr_assert_eq(n, 3);
		cr_assert_neq(order[0], 0);
		cr_assert_neq(order[1], 0);
		cr_assert_eq(order[2], 0, "the down server comes last");
	}
	teardown(&f);
}

Test(backend_pick, retry_with_one_server_stops_at_once)
{
	struct fixture f;
	build(&f, 1, NULL, NULL, BALANCE_ROUND_ROBIN, false);
	f.cfg.retries = 3;
	const struct hmsg *r = request("GET", "a", "/");
	struct backend_try t;
	backend_try_init(&t, &f.rt, r);
	cr_assert_eq(t.server, 0);
	cr_assert_not(backend_try_next(&t, &f.rt, r));
	cr_assert_eq(t.server, 0);
	teardown(&f);
}

/* ---- passive health ------------------------------------------------------- */

#define SEC_NS 1000000000ull

static void passive(struct fixture *f, unsigned max_fails, uint64_t window, uint64_t timeout)
{
	f->cfg.max_fails = max_fails;
	f->cfg.fail_window_ns = window;
	f->cfg.fail_timeout_ns = timeout;
}

Test(backend_pick, passive_max_fails_within_the_window_take_a_server_out_for_fail_timeout)
{
	struct fixture f;
	build(&f, 2, NULL, NULL, BALANCE_ROUND_ROBIN, false);
	passive(&f, 3, 10 * SEC_NS, 5 * SEC_NS);
	uint64_t t = 100 * SEC_NS;
	cr_assert_not(backend_passive_fail(&f.rt, 1, t));
	cr_assert_not(backend_passive_fail(&f.rt, 1, t + SEC_NS));
	cr_assert_not(backend_passive_out(&f.rt, 1, t + SEC_NS));
	/* The third within 10 s: out, said once. */
	cr_assert(backend_passive_fail(&f.rt, 1, t + 9 * SEC_NS));
	uint64_t out = t + 9 * SEC_NS;
	cr_assert(backend_passive_out(&f.rt, 1, out));
	cr_assert(backend_passive_out(&f.rt, 1, out + 5 * SEC_NS - 1));
	cr_assert_not(backend_passive_out(&f.rt, 0, out), "only the failing server");
	cr_assert_not(backend_passive_fail(&f.rt, 1, out + SEC_NS), "already out: not said again");
	cr_assert_not(backend_passive_fail(&f.rt, 1, out + 2 * SEC_NS));
	/* Back after fail_timeout, with a fresh count (nginx: one more try). */
	cr_assert_not(backend_passive_out(&f.rt, 1, out + 5 * SEC_NS));
	teardown(&f);
}

Test(backend_pick, passive_failures_further_apart_than_the_window_do_not_add_up)
{
	struct fixture f;
	build(&f, 3, NULL, NULL, BALANCE_ROUND_ROBIN, false);
	passive(&f, 2, 10 * SEC_NS, 5 * SEC_NS);
	uint64_t t = 50 * SEC_NS;
	for (int i = 0; i < 5; i++)
		cr_assert_not(backend_passive_fail(&f.rt, 2, t + (uint64_t)i * 11 * SEC_NS), "%d",
			      i);
	cr_assert(backend_passive_fail(&f.rt, 2, t + 4 * 11 * SEC_NS + SEC_NS));
	teardown(&f);
}

Test(backend_pick, passive_health_is_off_with_max_fails_0_and_with_one_server)
{
	struct fixture f;
	build(&f, 2, NULL, NULL, BALANCE_ROUND_ROBIN, false);
	passive(&f, 0, 10 * SEC_NS, 5 * SEC_NS);
	for (int i = 0; i < 10; i++)
		cr_assert_not(backend_passive_fail(&f.rt, 0, SEC_NS + (uint64_t)i));
	cr_assert_not(backend_passive_out(&f.rt, 0, SEC_NS + 10));
	teardown(&f);
	/* One server: out of rotation would only turn its errors into 502s. */
	build(&f, 1, NULL, NULL, BALANCE_ROUND_ROBIN, false);
	passive(&f, 1, 10 * SEC_NS, 5 * SEC_NS);
	cr_assert_not(backend_passive_fail(&f.rt, 0, SEC_NS));
	cr_assert_not(backend_passive_out(&f.rt, 0, SEC_NS));
	teardown(&f);
}

static void check_passive_skipped(enum config_balance bal)
{
	struct fixture f;
	build(&f, 3, NULL, NULL, bal, false);
	/* A timeout long enough that the real clock the picker reads stays
	 * inside it for the whole test. */
	passive(&f, 1, 10 * SEC_NS, 3600 * SEC_NS);
	cr_assert(backend_passive_fail(&f.rt, 1, rt_clock_now()));
	for (unsigned k = 0; k < 60; k++)
		cr_assert_neq(backend_pick(&f.rt, key_request(k), 0), 1, "balance %d", bal);
	/* Every server out: one is still tried rather than none. */
	cr_assert(backend_passive_fail(&f.rt, 0, rt_clock_now()));
	cr_assert(backend_passive_fail(&f.rt, 2, rt_clock_now()));
	for (unsigned k = 0; k < 20; k++)
		cr_assert_geq(backend_pick(&f.rt, key_request(k), 0), 0, "balance %d", bal);
	teardown(&f);
}

Test(backend_pick, a_server_out_by_passive_health_is_skipped)
{
	check_passive_skipped(BALANCE_ROUND_ROBIN);
	check_passive_skipped(BALANCE_LEAST_CONNECTIONS);
	check_passive_skipped(BALANCE_HASH);
}

/* ---- methods -------------------------------------------------------------- */

Test(backend_pick, idempotent_methods)
{
	/* RFC 9110 9.2.2: the safe methods, PUT and DELETE. */
	static const unsigned yes[] = {HTTP_GET,   HTTP_HEAD, HTTP_OPTIONS,
				       HTTP_TRACE, HTTP_PUT,  HTTP_DELETE};
	static const unsigned no[] = {HTTP_POST, HTTP_PATCH, HTTP_CONNECT};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		cr_expect(backend_idempotent(yes[i]), "%s",
			  llhttp_method_name((llhttp_method_t)yes[i]));
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		cr_expect_not(backend_idempotent(no[i]), "%s",
			      llhttp_method_name((llhttp_method_t)no[i]));
	/* Methods RFC 9110 does not define are never sent again. */
	for (unsigned m = 0; m <= HTTP_FLUSH; m++) {
		bool listed = false;
		for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
			listed = listed || yes[i] == m;
		if (!listed)
			cr_expect_not(backend_idempotent(m), "%s",
				      llhttp_method_name((llhttp_method_t)m));
	}
}
