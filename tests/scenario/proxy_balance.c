/*
 * Balancing over a backend's servers: weighted round robin, consistent
 * hashing on the URL, least connections. Two real origins, requests that are
 * never cached (each one reaches a backend), X-Origin-Port tells which.
 */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

TestSuite(proxy_balance, .fini = harness_fini, .timeout = 30);

/* Two origins behind one backend: weights W1, W2, balance BALANCE. */
static void start_two(struct proc *o1, struct proc *o2, struct proc *d, int w1, int w2,
		      const char *balance)
{
	start_origin(o1);
	start_origin(o2);
	memset(d, 0, sizeof(*d));
	d->port = free_port();
	char yaml[1024];
	snprintf(yaml, sizeof(yaml),
		 "listen: [\"127.0.0.1:%d\"]\nthreads: 2\nbackends:\n  - name: app\n"
		 "    balance: %s\n    servers:\n"
		 "      - {address: \"127.0.0.1:%d\", weight: %d}\n"
		 "      - {address: \"127.0.0.1:%d\", weight: %d}\n"
		 "    first_byte_timeout: 10s\n",
		 d->port, balance, o1->port, w1, o2->port, w2);
	start_ringcache(d, yaml);
}

/* GET PATH (no-store: never cached) and return the origin port that answered. */
static int origin_of(int port, const char *path)
{
	struct response r;
	http_once(port, "GET", path, NULL, &r);
	cr_assert_eq(r.status, 200, "%s: %s", path, r.raw_head);
	const char *p = resp_header(&r, "X-Origin-Port");
	cr_assert_not_null(p, "%s", r.raw_head);
	int v = atoi(p);
	response_free(&r);
	return v;
}

Test(proxy_balance, weighted_round_robin_follows_the_weights)
{
	struct proc o1, o2, d;
	start_two(&o1, &o2, &d, 3, 1, "round_robin");
	int n1 = 0, n2 = 0, run = 0, max_run = 0, prev = 0;
	for (int i = 0; i < 40; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/w%d?cc=no-store", i);
		int p = origin_of(d.port, path);
		n1 += p == o1.port;
		n2 += p == o2.port;
		run = p == prev ? run + 1 : 1;
		if (p == o1.port && run > max_run)
			max_run = run;
		prev = p;
	}
	cr_assert_eq(n1, 30, "weight 3 got %d of 40", n1);
	cr_assert_eq(n2, 10, "weight 1 got %d of 40", n2);
	/* Spread over the cycle: never more than the weight in a row. */
	cr_assert_leq(max_run, 3, "%d requests in a row to the weight-3 server", max_run);
	harness_end();
}

Test(proxy_balance, hash_keeps_a_url_on_one_server)
{
	struct proc o1, o2, d;
	start_two(&o1, &o2, &d, 1, 1, "hash");
	int first = origin_of(d.port, "/same?cc=no-store");
	for (int i = 0; i < 10; i++)
		cr_assert_eq(origin_of(d.port, "/same?cc=no-store"), first, "request %d moved", i);
	int n1 = 0;
	for (int i = 0; i < 60; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/h%d?cc=no-store", i);
		n1 += origin_of(d.port, path) == o1.port;
	}
	cr_assert(n1 > 10 && n1 < 50, "60 URLs: %d on one server, %d on the other", n1, 60 - n1);
	harness_end();
}

struct slow {
	int port;
	int origin;
};

static void *slow_get(void *arg)
{
	struct slow *s = arg;
	s->origin = origin_of(s->port, "/slow?delay=1500&cc=no-store");
	return NULL;
}

Test(proxy_balance, least_connections_avoids_the_busy_server)
{
	struct proc o1, o2, d;
	start_two(&o1, &o2, &d, 1, 1, "least_connections");
	struct slow s = {.port = d.port};
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, slow_get, &s), 0);
	sleep_ms(300); /* the slow request is at one origin now */
	int seen = 0;
	for (int i = 0; i < 6; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/q%d?cc=no-store", i);
		int p = origin_of(d.port, path);
		if (!seen)
			seen = p;
		cr_assert_eq(p, seen, "quick request %d went to %d, then %d", i, seen, p);
	}
	pthread_join(t, NULL);
	cr_assert_neq(seen, s.origin, "quick requests went to the server busy with the slow one");
	harness_end();
}
