/* Unit tests of src/backend/gen.c: how a generation turns a config's
 * servers written as DNS names into one server per address, and what it
 * carries over from the generation before it (health, by address). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/gen.h"
#include "backend/health.h"
#include "backend/pick.h"
#include "config/config.h"
#include "rt/clock.h"

static struct config *load(const char *servers)
{
	char y[1024];
	snprintf(y, sizeof(y),
		 "listen: \":8080\"\n"
		 "backends:\n"
		 "  - name: app\n"
		 "    servers: [%s]\n"
		 "    health_check: {path: /h}\n",
		 servers);
	struct config_errors e = {0};
	struct config *cfg = config_load_string("t.yaml", y, strlen(y), &e);
	cr_assert_not_null(cfg, "%s", e.n ? e.lines[0] : "?");
	return cfg;
}

/* A set of IPv4 ADDRS ("10.0.0.1,10.0.0.2", sorted as the resolver would) on PORT. */
static struct dns_set *set_of(const char *addrs, uint16_t port)
{
	struct dns_set *s = calloc(1, sizeof(*s) + 8 * sizeof(s->addr[0]));
	s->magic = DNS_SET_MAGIC;
	atomic_init(&s->refs, 1);
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", addrs);
	for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		struct sockaddr_in *in = (void *)&s->addr[s->n].sa;
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		cr_assert_eq(inet_pton(AF_INET, t, &in->sin_addr), 1);
		s->addr[s->n++].salen = sizeof(*in);
	}
	return s;
}

/* The names the tests know: api.internal:8000 and web.internal:8000. */
static struct dns_set *api, *web;

static const struct dns_set *names(void *ctx, const char *host, uint16_t port)
{
	cr_assert_eq(ctx, &api);
	if (!strcmp(host, "api.internal") && port == 8000)
		return api;
	if (!strcmp(host, "web.internal") && port == 8000)
		return web;
	return NULL;
}

static void fini(void)
{
	dns_set_put(&api);
	dns_set_put(&web);
}

TestSuite(backend_gen, .fini = fini);

Test(backend_gen, a_name_is_a_server_per_address)
{
	api = set_of("10.0.0.5,10.0.0.6", 8000);
	struct config *cfg =
	    load("\"10.0.0.1:8000\", {address: \"api.internal:8000\", weight: 3}, \"10.0.0.2:80\"");
	struct gen *g = gen_create(cfg, names, &api, 1, 1);
	cr_assert_not_null(g);
	const struct config_backend *b = g->backends[0].cfg;
	cr_assert_eq(b, &g->bcfg[0]);
	cr_assert_eq(b->n_servers, 4);
	cr_assert_str_eq(b->servers[0].spec, "10.0.0.1:8000");
	cr_assert_null(b->servers[0].host);
	cr_assert_str_eq(b->servers[1].spec, "api.internal:8000 (10.0.0.5)");
	cr_assert_str_eq(b->servers[2].spec, "api.internal:8000 (10.0.0.6)");
	cr_assert_str_eq(b->servers[2].host, "api.internal");
	cr_assert_eq(b->servers[2].port, 8000);
	const struct sockaddr_in *in = (const void *)&b->servers[2].sa;
	cr_assert_eq(in->sin_family, AF_INET);
	cr_assert_eq(ntohs(in->sin_port), 8000);
	cr_assert_eq(b->servers[2].salen, sizeof(*in));
	cr_assert_str_eq(b->servers[3].spec, "10.0.0.2:80");
	cr_assert_eq(b->weights[0], 1);
	cr_assert_eq(b->weights[1], 3);
	cr_assert_eq(b->weights[2], 3);
	cr_assert_eq(b->weights[3], 1);
	/* The rest is the config's. */
	cr_assert_eq(b->name, cfg->backends[0].name);
	cr_assert_eq(g->backends[0].sched_len, 8);
	/* The config itself is untouched: a name is still a name there. */
	cr_assert_eq(cfg->backends[0].n_servers, 3);
	cr_assert_eq(cfg->backends[0].servers[1].salen, 0);
	gen_discard(g);
}

Test(backend_gen, an_address_given_twice_is_one_server)
{
	api = set_of("10.0.0.1,10.0.0.5", 8000);
	web = set_of("10.0.0.5,10.0.0.7", 8000);
	struct config *cfg = load("{address: \"10.0.0.1:8000\", weight: 2}, \"api.internal:8000\", "
				  "\"web.internal:8000\"");
	struct gen *g = gen_create(cfg, names, &api, 1, 1);
	cr_assert_not_null(g);
	const struct config_backend *b = g->backends[0].cfg;
	cr_assert_eq(b->n_servers, 3);
	cr_assert_str_eq(b->servers[0].spec, "10.0.0.1:8000");
	cr_assert_eq(b->weights[0], 2);
	cr_assert_str_eq(b->servers[1].spec, "api.internal:8000 (10.0.0.5)");
	cr_assert_str_eq(b->servers[2].spec, "web.internal:8000 (10.0.0.7)");
	gen_discard(g);
}

Test(backend_gen, a_name_that_never_resolved_has_no_server)
{
	struct config *cfg = load("\"nowhere.internal:8000\"");
	struct gen *g = gen_create(cfg, names, &api, 2, 1);
	cr_assert_not_null(g);
	struct backend_rt *brt = &g->backends[0];
	cr_assert_eq(brt->cfg->n_servers, 0);
	cr_assert_eq(backend_pick(brt, NULL, 0), -1);
	struct backend_try t;
	backend_try_init(&t, brt, NULL);
	cr_assert_eq(t.server, -1);
	cr_assert_not(backend_try_next(&t, brt, NULL));
	gen_discard(g);

	/* Without a names callback, too. */
	cfg = load("\"api.internal:8000\", \"10.0.0.1:8000\"");
	g = gen_create(cfg, NULL, NULL, 1, 1);
	cr_assert_not_null(g);
	cr_assert_eq(g->backends[0].cfg->n_servers, 1);
	cr_assert_eq(backend_pick(&g->backends[0], NULL, 0), 0);
	gen_discard(g);
}

/* A generation made for new addresses shares the config, and the health
 * of the addresses that stay carries over by address. */
Test(backend_gen, a_new_set_shares_the_config_and_keeps_health)
{
	api = set_of("10.0.0.5,10.0.0.6", 8000);
	struct config *cfg = load("\"api.internal:8000\"");
	struct gen *g1 = gen_create(cfg, names, &api, 1, 1);
	cr_assert_not_null(g1);
	atomic_store(&g1->backends[0].health[1].down, true); /* 10.0.0.6 */
	g1->backends[0].health[1].fails = 3;
	/* Passive health took it out too (max_fails is 1 by default). */
	uint64_t now = rt_clock_now();
	cr_assert(backend_passive_fail(&g1->backends[0], 1, now));
	cr_assert(backend_passive_out(&g1->backends[0], 1, now));

	dns_set_put(&api);
	api = set_of("10.0.0.6,10.0.0.7", 8000);
	struct gen *g2 = gen_create(config_hold(cfg), names, &api, 1, 2);
	cr_assert_not_null(g2);
	cr_assert_eq(g2->cfg, g1->cfg);
	health_inherit(g2, g1);
	const struct backend_rt *b = &g2->backends[0];
	cr_assert_str_eq(b->cfg->servers[0].spec, "api.internal:8000 (10.0.0.6)");
	cr_assert(atomic_load(&b->health[0].down));
	cr_assert_eq(b->health[0].fails, 3);
	cr_assert(backend_passive_out(b, 0, now));
	cr_assert_str_eq(b->cfg->servers[1].spec, "api.internal:8000 (10.0.0.7)");
	cr_assert_not(atomic_load(&b->health[1].down));
	cr_assert_not(backend_passive_out(b, 1, now));
	/* Each generation lets go of its reference; the last one frees. */
	gen_discard(g1);
	cr_assert_str_eq(g2->cfg->backends[0].name, "app");
	gen_discard(g2);
}

/* Without probes, passive health alone carries over; the probes' state
 * does not (nothing would bring a server back). */
Test(backend_gen, passive_health_carries_over_without_probes)
{
	const char *y = "listen: \":8080\"\n"
			"backends:\n"
			"  - name: app\n"
			"    servers: [\"api.internal:8000\"]\n"
			"    max_fails: 2\n"
			"    fail_timeout: 30s\n";
	struct config_errors e = {0};
	struct config *cfg = config_load_string("t.yaml", y, strlen(y), &e);
	cr_assert_not_null(cfg, "%s", e.n ? e.lines[0] : "?");
	api = set_of("10.0.0.5,10.0.0.6", 8000);
	struct gen *g1 = gen_create(cfg, names, &api, 1, 1);
	cr_assert_not_null(g1);
	uint64_t now = rt_clock_now();
	cr_assert_not(backend_passive_fail(&g1->backends[0], 0, now)); /* 1 of 2 */
	cr_assert_not(backend_passive_fail(&g1->backends[0], 1, now));
	cr_assert(backend_passive_fail(&g1->backends[0], 1, now)); /* 2 of 2: out */
	atomic_store(&g1->backends[0].health[1].down, true);

	dns_set_put(&api);
	api = set_of("10.0.0.5,10.0.0.6,10.0.0.7", 8000);
	struct gen *g2 = gen_create(config_hold(cfg), names, &api, 1, 2);
	cr_assert_not_null(g2);
	health_inherit(g2, g1);
	struct backend_rt *b = &g2->backends[0];
	cr_assert_eq(b->cfg->n_servers, 3);
	cr_assert(backend_passive_out(b, 1, now + 29 * RT_SEC));
	cr_assert_not(backend_passive_out(b, 1, now + 31 * RT_SEC));
	cr_assert_not(atomic_load(&b->health[1].down), "probe state without probes");
	/* 10.0.0.5's one failure counts on: the next one takes it out. */
	cr_assert(backend_passive_fail(b, 0, now + RT_SEC));
	cr_assert_not(backend_passive_out(b, 2, now));
	/* Requests go to the one left in. */
	for (int i = 0; i < 6; i++) {
		int s = backend_pick(b, NULL, 0);
		cr_assert(s == 2, "picked %d", s);
	}
	gen_discard(g1);
	gen_discard(g2);
}
