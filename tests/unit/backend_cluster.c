/* Unit tests for src/backend/cluster.c: rendezvous ownership and the near
 * cache's doorkeeper. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "backend/cluster.h"

#define MAXM 8

/* A generation as cluster_order reads it: the cluster backend's servers
 * (their health), this node's id, the peers' ids. Member M of a "node"
 * view is 127.0.0.1:(8000 + M). */
struct view {
	struct gen g;
	struct backend_rt brt;
	struct config_backend cb;
	struct server_health health[MAXM];
	uint64_t ids[MAXM];
	char names[MAXM][CLUSTER_ADDR_MAX];
	int member[MAXM]; /* member number of each server */
};

static uint64_t id_of(int member, char *name)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)(8000 + member))};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	return cluster_member_id((const struct sockaddr *)&sa, name);
}

/* The view of member SELF in a cluster of the members whose bit is set
 * in MEMBERS. */
static void view_init(struct view *v, int self, unsigned members)
{
	memset(v, 0, sizeof(*v));
	v->cb.name = "cluster";
	v->brt.cfg = &v->cb;
	v->brt.health = v->health;
	v->g.backends = &v->brt;
	v->g.n_backends = 1;
	v->g.cluster.on = true;
	v->g.cluster.backend = 0;
	v->g.cluster.self_known = true;
	v->g.cluster.self_id = id_of(self, v->g.cluster.self_name);
	v->g.cluster.ids = v->ids;
	v->g.cluster.names = v->names;
	for (int m = 0; m < MAXM; m++) {
		if (m == self || !(members & (1u << m)))
			continue;
		size_t s = v->cb.n_servers++;
		v->member[s] = m;
		v->ids[s] = id_of(m, v->names[s]);
	}
}

/* The member that owns KEY in V's view. */
static int owner(struct view *v, int self, uint64_t key)
{
	int order[CLUSTER_CHOICES];
	size_t n = cluster_order(&v->g, key, 0, order, CLUSTER_CHOICES);
	cr_assert_geq(n, 1);
	return order[0] == CLUSTER_SELF ? self : v->member[order[0]];
}

static uint64_t key_n(int i)
{
	/* A primary key: host, NUL, target (cache/key.h). */
	char k[40] = "example.com";
	int n = snprintf(k + 12, sizeof(k) - 12, "/k/%d", i);
	return cluster_key_hash(k, (size_t)n + 12);
}

Test(cluster, member_names_are_the_same_text_on_every_node)
{
	char a[CLUSTER_ADDR_MAX], b[CLUSTER_ADDR_MAX];
	uint64_t x = id_of(3, a), y = id_of(3, b);
	cr_assert_str_eq(a, "127.0.0.1:8003");
	cr_assert_eq(x, y);
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(80)};
	inet_pton(AF_INET6, "fd00::1", &s6.sin6_addr);
	cluster_member_id((const struct sockaddr *)&s6, a);
	cr_assert_str_eq(a, "[fd00::1]:80");
}

Test(cluster, every_member_agrees_on_every_owner_and_shares_are_even)
{
	enum { N = 3, KEYS = 30000 };
	static struct view v[N];
	for (int m = 0; m < N; m++)
		view_init(&v[m], m, 0x7);
	int share[N] = {0};
	for (int i = 0; i < KEYS; i++) {
		uint64_t k = key_n(i);
		int o = owner(&v[0], 0, k);
		for (int m = 1; m < N; m++)
			cr_assert_eq(owner(&v[m], m, k), o, "key %d: node %d says %d, node 0 %d", i,
				     m, owner(&v[m], m, k), o);
		share[o]++;
	}
	for (int m = 0; m < N; m++)
		cr_expect(share[m] > KEYS / N * 9 / 10 && share[m] < KEYS / N * 11 / 10,
			  "member %d owns %d of %d", m, share[m], KEYS);
}

Test(cluster, a_departure_moves_only_the_departed_members_keys_to_their_second_choice)
{
	enum { KEYS = 20000 };
	static struct view all, after;
	view_init(&all, 0, 0xf);
	int second[KEYS];
	int before[KEYS];
	for (int i = 0; i < KEYS; i++) {
		int order[CLUSTER_CHOICES];
		size_t n = cluster_order(&all.g, key_n(i), 0, order, CLUSTER_CHOICES);
		cr_assert_eq(n, 3);
		before[i] = order[0] == CLUSTER_SELF ? 0 : all.member[order[0]];
		second[i] = order[1] == CLUSTER_SELF ? 0 : all.member[order[1]];
	}
	/* Member 2 is marked down by its probes in node 0's view. */
	view_init(&after, 0, 0xf);
	for (size_t s = 0; s < after.cb.n_servers; s++)
		if (after.member[s] == 2)
			atomic_store(&after.health[s].down, true);
	int moved = 0;
	for (int i = 0; i < KEYS; i++) {
		int o = owner(&after, 0, key_n(i));
		if (before[i] != 2) {
			cr_assert_eq(o, before[i], "key %d moved from a live member", i);
		} else {
			cr_assert_eq(o, second[i], "key %d did not go to its second choice", i);
			moved++;
		}
	}
	cr_expect(moved > KEYS / 4 * 9 / 10 && moved < KEYS / 4 * 11 / 10, "%d moved", moved);
}

Test(cluster, a_join_takes_about_one_nth_and_only_to_the_new_member)
{
	enum { KEYS = 20000 };
	static struct view three, four;
	view_init(&three, 1, 0x7);
	view_init(&four, 1, 0xf);
	int moved = 0;
	for (int i = 0; i < KEYS; i++) {
		int a = owner(&three, 1, key_n(i)), b = owner(&four, 1, key_n(i));
		if (a != b) {
			cr_assert_eq(b, 3, "key %d moved to an old member", i);
			moved++;
		}
	}
	cr_expect(moved > KEYS / 4 * 9 / 10 && moved < KEYS / 4 * 11 / 10, "%d moved", moved);
}

Test(cluster, passive_health_takes_a_peer_out_until_its_time)
{
	static struct view v;
	view_init(&v, 0, 0x3);
	v.cb.max_fails = 1;
	atomic_store(&v.health[0].out_until, 1000);
	int order[CLUSTER_CHOICES];
	cr_assert_eq(cluster_order(&v.g, key_n(1), 999, order, CLUSTER_CHOICES), 1);
	cr_assert_eq(order[0], CLUSTER_SELF);
	cr_assert_eq(cluster_order(&v.g, key_n(1), 1000, order, CLUSTER_CHOICES), 2);
	cr_assert(cluster_peer_live(&v.g, 0, 1000));
	cr_assert_not(cluster_peer_live(&v.g, 0, 999));
	cr_assert_not(cluster_peer_live(&v.g, 5, 1000), "no such server");
}

Test(cluster, the_order_is_by_score_and_capped)
{
	static struct view v;
	view_init(&v, 0, 0x1f); /* five members */
	int order[CLUSTER_CHOICES];
	cr_assert_eq(cluster_order(&v.g, key_n(7), 0, order, 2), 2);
	int full[CLUSTER_CHOICES];
	cr_assert_eq(cluster_order(&v.g, key_n(7), 0, full, CLUSTER_CHOICES), CLUSTER_CHOICES);
	cr_assert_eq(order[0], full[0]);
	cr_assert_eq(order[1], full[1]);
	for (int i = 0; i < CLUSTER_CHOICES; i++)
		for (int j = i + 1; j < CLUSTER_CHOICES; j++)
			cr_assert_neq(full[i], full[j]);
}

Test(cluster, the_doorkeeper_remembers_a_key_for_one_to_two_periods)
{
	static struct cluster_seen s;
	memset(&s, 0, sizeof(s));
	uint64_t k = key_n(42);
	cr_assert_not(cluster_seen(&s, k, 100, 10), "never asked");
	cr_assert(cluster_seen(&s, k, 105, 10), "same period");
	cr_assert(cluster_seen(&s, k, 115, 10), "the next period");
	cr_assert_not(cluster_seen(&s, k, 140, 10), "two periods later: forgotten");
	cr_assert(cluster_seen(&s, k, 141, 10));
	cr_assert_not(cluster_seen(&s, key_n(43), 141, 10), "another key");
	/* A period under 1 is 1. */
	uint64_t k2 = key_n(44);
	cr_assert_not(cluster_seen(&s, k2, 5, 0));
	cr_assert(cluster_seen(&s, k2, 6, 0));
	cr_assert_not(cluster_seen(&s, k2, 8, 0));
}

Test(cluster, a_node_that_does_not_know_its_name_owns_nothing_while_a_member_is_up)
{
	static struct view v;
	view_init(&v, 0, 0x7);
	v.g.cluster.self_known = false; /* not in discovery's set yet */
	for (int i = 0; i < 1000; i++) {
		int order[CLUSTER_CHOICES];
		size_t n = cluster_order(&v.g, key_n(i), 0, order, CLUSTER_CHOICES);
		cr_assert_eq(n, 3);
		cr_assert_neq(order[0], CLUSTER_SELF, "key %d", i);
		cr_assert_eq(order[2], CLUSTER_SELF, "key %d: this node is the last resort", i);
	}
	for (size_t s = 0; s < v.cb.n_servers; s++)
		atomic_store(&v.health[s].down, true);
	int order[CLUSTER_CHOICES];
	cr_assert_eq(cluster_order(&v.g, key_n(1), 0, order, CLUSTER_CHOICES), 1);
	cr_assert_eq(order[0], CLUSTER_SELF, "no member up: this node fetches itself");
}
