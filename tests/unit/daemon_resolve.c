/*
 * Unit tests of src/daemon/resolve.c: the names of backend servers followed
 * with the real resolver thread against a fake DNS server the test controls
 * (tests/scenario/lib/dnsfake.h), and the main thread's side as the daemon
 * drives it: RESOLVE_SIGNAL taken with sigtimedwait, resolve_woken,
 * resolve_take at resolve_due, resolve_applied; generations made from the
 * sets with gen_create, as daemon_follow does.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/gen.h"
#include "daemon/resolve.h"
#include "dnsfake.h"
#include "rt/clock.h"

static struct resolve res;
static uint16_t dns_port;

/* RESOLVE_SIGNAL's default action ends the process: it is blocked before
 * any thread starts, as main.c does, and taken with sigtimedwait. */
static void init(void)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, RESOLVE_SIGNAL);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, &s, NULL), 0);
	dns_port = dnsfake_start();
	resolve_init(&res);
}

static void fini(void)
{
	resolve_fini(&res);
	dnsfake_stop();
}

TestSuite(daemon_resolve, .init = init, .fini = fini, .timeout = 30);

/* A config whose backend app has SERVERS (a YAML list's insides), asking
 * the fake DNS (or PORT when not 0) every INTERVAL_MS. */
static struct config *load_at(const char *servers, unsigned interval_ms, uint16_t port)
{
	char y[1024];
	snprintf(y, sizeof(y),
		 "listen: \":8080\"\n"
		 "resolver:\n"
		 "  servers: [\"127.0.0.1:%u\"]\n"
		 "  interval: %ums\n"
		 "  timeout: 300ms\n"
		 "backends:\n"
		 "  - name: app\n"
		 "    servers: [%s]\n",
		 port ? port : dns_port, interval_ms, servers);
	struct config_errors e = {0};
	struct config *cfg = config_load_string("t.yaml", y, strlen(y), &e);
	cr_assert_not_null(cfg, "%s", e.n ? e.lines[0] : "?");
	return cfg;
}

static struct config *load(const char *servers)
{
	return load_at(servers, 50, 0);
}

/* "10.0.0.1:8000 10.0.0.2:8000" for the set of (HOST, 8000), "-" for none. */
static void set_str(const char *host, char *out, size_t cap)
{
	const struct dns_set *s = resolve_set(&res, host, 8000);
	if (!s) {
		snprintf(out, cap, "-");
		return;
	}
	size_t k = 0;
	out[0] = '\0';
	for (size_t i = 0; i < s->n; i++) {
		const struct sockaddr_in *in = (const void *)&s->addr[i].sa;
		cr_assert_eq(in->sin_family, AF_INET);
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		k += (size_t)snprintf(out + k, cap - k, "%s%s:%u", i ? " " : "", ip,
				      ntohs(in->sin_port));
		cr_assert_lt(k, cap);
	}
}

static void assert_set(const char *host, const char *want)
{
	char got[256];
	set_str(host, got, sizeof(got));
	cr_assert_str_eq(got, want, "%s", host);
}

/*
 * The main thread's loop for MS at most: take RESOLVE_SIGNAL, schedule,
 * and take the posts when due, until the set of HOST is WANT. Returns
 * whether a take said a new generation is due (it is then made with CFG
 * and the resolver told, as daemon_follow does).
 */
static bool follow_until(const struct config *cfg, const char *host, const char *want, unsigned ms)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, RESOLVE_SIGNAL);
	rt_time_t until = rt_clock_now() + ms * RT_MS;
	bool stale = false;
	for (;;) {
		char got[256];
		set_str(host, got, sizeof(got));
		if (!strcmp(got, want))
			return stale;
		cr_assert_lt(rt_clock_now(), until, "%s is %s, not %s", host, got, want);
		struct timespec ts = {0, 10 * 1000000};
		if (sigtimedwait(&s, NULL, &ts) == RESOLVE_SIGNAL)
			resolve_woken(&res);
		if (resolve_due(&res) <= rt_clock_now() && resolve_take(&res, cfg)) {
			stale = true;
			resolve_applied(&res, true);
		}
	}
}

/* The signals and takes of MS, as follow_until; whether a take said a new
 * generation is due. */
static bool follow_for(const struct config *cfg, unsigned ms)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, RESOLVE_SIGNAL);
	rt_time_t until = rt_clock_now() + ms * RT_MS;
	bool stale = false;
	while (rt_clock_now() < until) {
		struct timespec ts = {0, 10 * 1000000};
		if (sigtimedwait(&s, NULL, &ts) == RESOLVE_SIGNAL)
			resolve_woken(&res);
		if (resolve_due(&res) <= rt_clock_now() && resolve_take(&res, cfg)) {
			stale = true;
			resolve_applied(&res, true);
		}
	}
	return stale;
}

Test(daemon_resolve, first_answers_are_waited_for_then_changes_followed)
{
	dnsfake_set("api.rc.test", "10.0.0.1");
	struct config *cfg = load("\"api.rc.test:8000\", \"gone.rc.test:8000\", \"10.0.0.9:8000\"");
	rt_time_t t0 = rt_clock_now();
	cr_assert_eq(resolve_follow(&res, cfg, 0), 0);
	/* Both answered before it returned (NXDOMAIN is an answer too),
	 * well within resolver.timeout. */
	cr_assert_lt(rt_clock_now() - t0, 300 * RT_MS);
	assert_set("api.rc.test", "10.0.0.1:8000");
	assert_set("gone.rc.test", "-");
	cr_assert_eq(atomic_load(&res.names_followed), 2);
	resolve_applied(&res, false);

	/* The first generation: an address per name's address, the IP as is. */
	struct gen *g = gen_create(config_hold(cfg), resolve_set, &res, 1, 1);
	cr_assert_not_null(g);
	cr_assert_eq(g->backends[0].cfg->n_servers, 2);
	cr_assert_str_eq(g->backends[0].cfg->servers[0].spec, "api.rc.test:8000 (10.0.0.1)");
	cr_assert_str_eq(g->backends[0].cfg->servers[1].spec, "10.0.0.9:8000");

	/* The name gets two addresses: posted, signalled, taken; a new
	 * generation is due and has both. */
	dnsfake_set("api.rc.test", "10.0.0.3,10.0.0.2");
	cr_assert(follow_until(cfg, "api.rc.test", "10.0.0.2:8000 10.0.0.3:8000", 3000));
	struct gen *g2 = gen_create(config_hold(cfg), resolve_set, &res, 1, 2);
	cr_assert_not_null(g2);
	cr_assert_eq(g2->backends[0].cfg->n_servers, 3);
	cr_assert_str_eq(g2->backends[0].cfg->servers[1].spec, "api.rc.test:8000 (10.0.0.3)");
	/* A name that did not resolve comes up: it gets its servers. */
	dnsfake_set("gone.rc.test", "10.0.0.7");
	cr_assert(follow_until(cfg, "gone.rc.test", "10.0.0.7:8000", 3000));
	cr_assert_geq(atomic_load(&res.changes), 3);
	cr_assert_geq(atomic_load(&res.generations), 2);

	/* Lookups that find what the name had make no generation. */
	cr_assert_not(follow_for(cfg, 300));
	gen_discard(g);
	gen_discard(g2);
	config_free(&cfg);
}

Test(daemon_resolve, failed_lookups_keep_the_last_good_set)
{
	dnsfake_set("api.rc.test", "10.0.0.1");
	struct config *cfg = load("\"api.rc.test:8000\"");
	cr_assert_eq(resolve_follow(&res, cfg, 0), 0);
	resolve_applied(&res, false);
	uint64_t f0 = atomic_load(&res.failures);

	/* The DNS goes away: lookups fail (timeouts), the set stays, and
	 * nothing is due. */
	dnsfake_drop(true, true);
	cr_assert_not(follow_for(cfg, 1200));
	cr_assert_geq(atomic_load(&res.failures), f0 + 2);
	assert_set("api.rc.test", "10.0.0.1:8000");

	/* The name goes (NXDOMAIN): kept too. */
	dnsfake_drop(false, false);
	dnsfake_remove("api.rc.test");
	uint64_t f1 = atomic_load(&res.failures);
	cr_assert_not(follow_for(cfg, 300));
	cr_assert_gt(atomic_load(&res.failures), f1);
	assert_set("api.rc.test", "10.0.0.1:8000");

	/* And comes back elsewhere: followed. */
	dnsfake_set("api.rc.test", "10.0.0.4");
	cr_assert(follow_until(cfg, "api.rc.test", "10.0.0.4:8000", 3000));
	config_free(&cfg);
}

/* Changes closer together than RESOLVE_GAP make one generation. */
Test(daemon_resolve, a_burst_of_changes_is_one_generation)
{
	dnsfake_set("api.rc.test", "10.0.0.1");
	struct config *cfg = load("\"api.rc.test:8000\"");
	cr_assert_eq(resolve_follow(&res, cfg, 0), 0);
	resolve_applied(&res, false);
	dnsfake_set("api.rc.test", "10.0.0.2");
	cr_assert(follow_until(cfg, "api.rc.test", "10.0.0.2:8000", 3000));
	rt_time_t made = rt_clock_now();

	/* The next change, signalled right after that generation, is due
	 * RESOLVE_GAP after it, not at once. */
	dnsfake_set("api.rc.test", "10.0.0.3");
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, RESOLVE_SIGNAL);
	struct timespec ts = {2, 0};
	cr_assert_eq(sigtimedwait(&s, NULL, &ts), RESOLVE_SIGNAL);
	resolve_woken(&res);
	if (rt_clock_now() < made + RESOLVE_GAP - 20 * RT_MS)
		cr_assert_geq(resolve_due(&res), made + RESOLVE_GAP - RT_MS);
	cr_assert_neq(resolve_due(&res), RT_NEVER);
	cr_assert(follow_until(cfg, "api.rc.test", "10.0.0.3:8000", 3000));
	config_free(&cfg);
}

Test(daemon_resolve, a_reload_adds_keeps_and_drops_names)
{
	dnsfake_set("api.rc.test", "10.0.0.1");
	dnsfake_set("web.rc.test", "10.0.0.2");
	struct config *one = load("\"api.rc.test:8000\"");
	cr_assert_eq(resolve_follow(&res, one, 0), 0);
	resolve_applied(&res, false);
	struct dns *dns = res.dns;

	/* The reload's config names web instead: while it is made both are
	 * followed, web's first answer waited for. */
	struct config *two = load("\"web.rc.test:8000\"");
	cr_assert_eq(resolve_follow(&res, two, RESOLVE_KEEP | RESOLVE_REFRESH), 0);
	cr_assert_eq(res.dns, dns, "the same resolver keys started another resolver");
	cr_assert_eq(atomic_load(&res.names_followed), 2);
	assert_set("api.rc.test", "10.0.0.1:8000");
	assert_set("web.rc.test", "10.0.0.2:8000");
	resolve_applied(&res, false);

	/* Then only web's. */
	cr_assert_eq(resolve_follow(&res, two, 0), 0);
	cr_assert_eq(atomic_load(&res.names_followed), 1);
	assert_set("api.rc.test", "-");
	assert_set("web.rc.test", "10.0.0.2:8000");
	dnsfake_set("web.rc.test", "10.0.0.5");
	cr_assert(follow_until(two, "web.rc.test", "10.0.0.5:8000", 3000));

	/* No name at all: the resolver stays, following none. */
	struct config *none = load("\"10.0.0.1:8000\"");
	cr_assert_eq(resolve_follow(&res, none, 0), 0);
	cr_assert_eq(atomic_load(&res.names_followed), 0);
	assert_set("web.rc.test", "-");
	config_free(&one);
	config_free(&two);
	config_free(&none);
}

/* Changed resolver keys start a new resolver; names keep their sets across
 * it, even when the new one cannot reach its DNS server. */
Test(daemon_resolve, new_resolver_keys_keep_the_sets)
{
	dnsfake_set("api.rc.test", "10.0.0.1");
	struct config *one = load("\"api.rc.test:8000\"");
	cr_assert_eq(resolve_follow(&res, one, 0), 0);
	resolve_applied(&res, false);
	struct dns *dns = res.dns;

	/* Port 9 of 127.0.0.1 (discard) answers nothing. */
	struct config *two = load_at("\"api.rc.test:8000\"", 60, 9);
	cr_assert_eq(resolve_follow(&res, two, RESOLVE_KEEP | RESOLVE_REFRESH), 0);
	cr_assert_neq(res.dns, dns);
	cr_assert_eq(res.interval_ns, 60 * RT_MS);
	uint64_t f0 = atomic_load(&res.failures);
	cr_assert_not(follow_for(two, 800));
	cr_assert_gt(atomic_load(&res.failures), f0);
	assert_set("api.rc.test", "10.0.0.1:8000");

	/* Back to the fake DNS: changes are followed again. */
	dnsfake_set("api.rc.test", "10.0.0.2");
	struct config *three = load("\"api.rc.test:8000\"");
	cr_assert_eq(resolve_follow(&res, three, RESOLVE_KEEP | RESOLVE_REFRESH), 0);
	follow_until(three, "api.rc.test", "10.0.0.2:8000", 3000);
	config_free(&one);
	config_free(&two);
	config_free(&three);
}
