/* Unit tests of src/backend/dns.c: the resolver thread against a fake DNS
 * server in the test (tests/scenario/lib/dnsfake.h: a thread answering A and
 * AAAA queries over UDP on 127.0.0.1 from a table the test changes). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backend/dns.h"
#include "dnsfake.h"
#include "rt/clock.h"

/* ------------------------------------------------------------------------ */
/* What the callback saw                                                    */

struct rec {
	char host[64];
	uint16_t port;
	void *arg;
	int status;
	bool changed;
	unsigned failures;
	char set[512]; /* "10.0.0.1:80 [fd00::1]:80", "-" for none */
};

#define MAX_RECS 4096

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct rec r[MAX_RECS];
	size_t n;
} seen = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void format_set(const struct dns_set *s, char *out, size_t cap)
{
	if (!s) {
		snprintf(out, cap, "-");
		return;
	}
	size_t k = 0;
	out[0] = '\0';
	for (size_t i = 0; i < s->n; i++) {
		char ip[INET6_ADDRSTRLEN];
		const struct sockaddr_storage *sa = &s->addr[i].sa;
		if (sa->ss_family == AF_INET) {
			const struct sockaddr_in *in = (const void *)sa;
			inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
			k += (size_t)snprintf(out + k, cap - k, "%s%s:%u", i ? " " : "", ip,
					      ntohs(in->sin_port));
		} else {
			const struct sockaddr_in6 *in6 = (const void *)sa;
			inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
			k += (size_t)snprintf(out + k, cap - k, "%s[%s]:%u", i ? " " : "", ip,
					      ntohs(in6->sin6_port));
		}
		cr_assert_lt(k, cap);
	}
}

static void on_event(void *ctx, const struct dns_event *ev)
{
	cr_assert_eq(ctx, &seen);
	pthread_mutex_lock(&seen.mu);
	cr_assert_lt(seen.n, MAX_RECS);
	struct rec *r = &seen.r[seen.n];
	snprintf(r->host, sizeof(r->host), "%s", ev->host);
	r->port = ev->port;
	r->arg = ev->arg;
	r->status = ev->status;
	r->changed = ev->changed;
	r->failures = ev->failures;
	format_set(ev->set, r->set, sizeof(r->set));
	seen.n++;
	pthread_cond_broadcast(&seen.cv);
	pthread_mutex_unlock(&seen.mu);
}

static size_t seen_count(void)
{
	pthread_mutex_lock(&seen.mu);
	size_t n = seen.n;
	pthread_mutex_unlock(&seen.mu);
	return n;
}

static size_t seen_count_for(const char *host)
{
	size_t k = 0;
	pthread_mutex_lock(&seen.mu);
	for (size_t i = 0; i < seen.n; i++)
		k += !strcmp(seen.r[i].host, host);
	pthread_mutex_unlock(&seen.mu);
	return k;
}

static bool rec_matches(const struct rec *r, const char *host, int status, const char *set)
{
	return !strcmp(r->host, host) && r->status == status && (!set || !strcmp(r->set, set));
}

/* The first event from index *FROM on for HOST with STATUS (and SET, unless
 * NULL), waiting at most MS; *FROM moves past it. Fails the test when none
 * comes, with what came instead. */
static struct rec wait_event(size_t *from, const char *host, int status, const char *set,
			     unsigned ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&seen.mu);
	for (;;) {
		for (; *from < seen.n; (*from)++) {
			if (rec_matches(&seen.r[*from], host, status, set)) {
				struct rec r = seen.r[(*from)++];
				pthread_mutex_unlock(&seen.mu);
				return r;
			}
		}
		if (pthread_cond_timedwait(&seen.cv, &seen.mu, &until) == ETIMEDOUT)
			break;
	}
	const struct rec *last = seen.n ? &seen.r[seen.n - 1] : NULL;
	pthread_mutex_unlock(&seen.mu);
	cr_assert_fail("no event for %s status %d set %s within %u ms (last: %s %d %s)", host,
		       status, set ? set : "*", ms, last ? last->host : "-",
		       last ? last->status : 0, last ? last->set : "-");
	return (struct rec){0};
}

/* Poll D's counters until it finished N more lookups (at most MS). */
static void wait_lookups(struct dns *d, uint64_t n, unsigned ms)
{
	struct dns_counts c;
	dns_counts_read(d, &c);
	uint64_t want = c.lookups + n;
	rt_time_t until = rt_clock_now() + (rt_time_t)ms * RT_MS;
	while (c.lookups < want) {
		cr_assert_lt(rt_clock_now(), until, "%lu lookups, waiting for %lu",
			     (unsigned long)c.lookups, (unsigned long)want);
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
		dns_counts_read(d, &c);
	}
}

/* ------------------------------------------------------------------------ */
/* Fixtures                                                                 */

static char servers[64];

static void setup(void)
{
	snprintf(servers, sizeof(servers), "127.0.0.1:%u", dnsfake_start());
}

static void teardown(void)
{
	dnsfake_stop();
}

static struct dns *start(uint64_t interval_ms, uint64_t timeout_ms, unsigned tries,
			 uint64_t deadline_ms)
{
	struct dns_opts o = {
	    .interval_ns = interval_ms * RT_MS,
	    .timeout_ns = timeout_ms * RT_MS,
	    .tries = tries,
	    .deadline_ns = deadline_ms * RT_MS,
	    .servers = servers,
	    .on_event = on_event,
	    .ctx = &seen,
	};
	int err = 0;
	struct dns *d = dns_start(&o, &err);
	cr_assert_not_null(d, "dns_start: %s", strerror(-err));
	return d;
}

static void follow(struct dns *d, const struct dns_name *names, size_t n)
{
	cr_assert_eq(dns_update(d, names, n), 0);
}

static int tag_a, tag_b, tag_c;

TestSuite(backend_dns, .init = setup, .fini = teardown, .timeout = 10);

/* ------------------------------------------------------------------------ */
/* Tests                                                                    */

Test(backend_dns, resolves_sorted_deduplicated_both_families)
{
	dnsfake_set("app.rc.test", "10.0.0.2,fd00::2,10.0.0.1,fd00::1,10.0.0.2");
	dnsfake_set("v4.rc.test", "192.0.2.7");
	dnsfake_set("v6.rc.test", "2001:db8::7");
	struct dns *d = start(50, 200, 2, 2000);
	struct dns_name names[] = {
	    {"app.rc.test", 8080, &tag_a},
	    {"v4.rc.test", 80, &tag_b},
	    {"v6.rc.test", 443, &tag_c},
	};
	follow(d, names, 3);
	size_t i = 0;
	struct rec r =
	    wait_event(&i, "app.rc.test", 0,
		       "10.0.0.1:8080 10.0.0.2:8080 [fd00::1]:8080 [fd00::2]:8080", 2000);
	cr_assert(r.changed);
	cr_assert_eq(r.arg, &tag_a);
	cr_assert_eq(r.port, 8080);
	cr_assert_eq(r.failures, 0);
	i = 0;
	r = wait_event(&i, "v4.rc.test", 0, "192.0.2.7:80", 2000);
	cr_assert_eq(r.arg, &tag_b);
	i = 0;
	r = wait_event(&i, "v6.rc.test", 0, "[2001:db8::7]:443", 2000);
	cr_assert_eq(r.arg, &tag_c);
	dns_stop(&d);
	cr_assert_null(d);
}

Test(backend_dns, follows_changes_and_is_quiet_when_nothing_changed)
{
	dnsfake_set("app.rc.test", "10.0.0.1");
	struct dns *d = start(50, 200, 2, 2000);
	struct dns_name name = {"app.rc.test", 80, &tag_a};
	follow(d, &name, 1);
	size_t i = 0;
	wait_event(&i, "app.rc.test", 0, "10.0.0.1:80", 2000);

	/* An address joins, then one leaves. */
	dnsfake_set("app.rc.test", "10.0.0.1,10.0.0.3");
	struct rec r = wait_event(&i, "app.rc.test", 0, "10.0.0.1:80 10.0.0.3:80", 2000);
	cr_assert(r.changed);
	dnsfake_set("app.rc.test", "10.0.0.3");
	wait_event(&i, "app.rc.test", 0, "10.0.0.3:80", 2000);

	/* The same answer again, in another order: lookups, no event. */
	dnsfake_set("app.rc.test", "10.0.0.3,10.0.0.3");
	size_t before = seen_count();
	wait_lookups(d, 5, 3000);
	cr_assert_eq(seen_count(), before, "an unchanged set was reported");
	struct dns_counts c;
	dns_counts_read(d, &c);
	cr_assert_eq(c.changes, 3);
	cr_assert_eq(c.failures, 0);
	dns_stop(&d);
}

Test(backend_dns, an_outage_keeps_the_last_set)
{
	dnsfake_set("app.rc.test", "10.0.0.1,10.0.0.2");
	struct dns *d = start(50, 60, 1, 2000);
	struct dns_name name = {"app.rc.test", 80, &tag_a};
	follow(d, &name, 1);
	size_t i = 0;
	wait_event(&i, "app.rc.test", 0, "10.0.0.1:80 10.0.0.2:80", 2000);

	/* The server goes silent: timeouts, each reported with the set kept. */
	dnsfake_drop(true, true);
	struct rec r = wait_event(&i, "app.rc.test", -ETIMEDOUT, "10.0.0.1:80 10.0.0.2:80", 3000);
	cr_assert_eq(r.failures, 1);
	cr_assert_not(r.changed);
	r = wait_event(&i, "app.rc.test", -ETIMEDOUT, "10.0.0.1:80 10.0.0.2:80", 3000);
	cr_assert_eq(r.failures, 2);

	/* Back with the same addresses: one event saying so, no change. */
	dnsfake_drop(false, false);
	r = wait_event(&i, "app.rc.test", 0, "10.0.0.1:80 10.0.0.2:80", 3000);
	cr_assert_not(r.changed);
	cr_assert_eq(r.failures, 0);
	size_t before = seen_count();
	wait_lookups(d, 3, 3000);
	cr_assert_eq(seen_count(), before);
	struct dns_counts c;
	dns_counts_read(d, &c);
	cr_assert_eq(c.changes, 1);
	cr_assert_geq(c.failures, 2);
	dns_stop(&d);
}

Test(backend_dns, a_family_that_fails_keeps_its_addresses)
{
	dnsfake_set("app.rc.test", "10.0.0.1,fd00::1");
	struct dns *d = start(50, 60, 1, 2000);
	struct dns_name name = {"app.rc.test", 80, &tag_a};
	follow(d, &name, 1);
	size_t i = 0;
	wait_event(&i, "app.rc.test", 0, "10.0.0.1:80 [fd00::1]:80", 2000);

	/* AAAA queries time out while the A records change: IPv6 stays. */
	dnsfake_drop(false, true);
	dnsfake_set("app.rc.test", "10.0.0.2,fd00::9");
	struct rec r = wait_event(&i, "app.rc.test", 0, "10.0.0.2:80 [fd00::1]:80", 3000);
	cr_assert(r.changed);

	/* AAAA answers again: its change is followed. */
	dnsfake_drop(false, false);
	wait_event(&i, "app.rc.test", 0, "10.0.0.2:80 [fd00::9]:80", 3000);

	/* A family the DNS says has none loses its addresses. */
	dnsfake_set("app.rc.test", "10.0.0.2");
	wait_event(&i, "app.rc.test", 0, "10.0.0.2:80", 3000);
	dns_stop(&d);
}

Test(backend_dns, nxdomain_and_nodata)
{
	dnsfake_set("app.rc.test", "10.0.0.1");
	dnsfake_set("empty.rc.test", "");
	struct dns *d = start(50, 200, 2, 2000);
	struct dns_name names[] = {
	    {"app.rc.test", 80, &tag_a},
	    {"nowhere.rc.test", 80, &tag_b},
	    {"empty.rc.test", 80, &tag_c},
	};
	follow(d, names, 3);
	size_t i = 0;
	wait_event(&i, "app.rc.test", 0, "10.0.0.1:80", 2000);
	i = 0;
	/* Never resolved: no set to keep. */
	struct rec r = wait_event(&i, "nowhere.rc.test", -ENOENT, "-", 2000);
	cr_assert_eq(r.arg, &tag_b);
	cr_assert_eq(r.failures, 1);
	i = 0;
	wait_event(&i, "empty.rc.test", -ENODATA, "-", 2000);

	/* The name goes away: NXDOMAIN, reported, and the set kept. */
	dnsfake_remove("app.rc.test");
	i = 0;
	r = wait_event(&i, "app.rc.test", -ENOENT, "10.0.0.1:80", 2000);
	cr_assert_eq(r.failures, 1);

	/* It comes back elsewhere: a change. */
	dnsfake_set("app.rc.test", "10.0.0.5");
	r = wait_event(&i, "app.rc.test", 0, "10.0.0.5:80", 2000);
	cr_assert(r.changed);
	dns_stop(&d);
}

Test(backend_dns, a_lookup_has_a_deadline)
{
	dnsfake_set("app.rc.test", "10.0.0.1");
	dnsfake_drop(true, true);
	/* c-ares alone would wait 2 s + 4 s; the deadline is 150 ms. */
	struct dns *d = start(50, 2000, 2, 150);
	struct dns_name name = {"app.rc.test", 80, &tag_a};
	rt_time_t t0 = rt_clock_now();
	follow(d, &name, 1);
	size_t i = 0;
	wait_event(&i, "app.rc.test", -ETIMEDOUT, "-", 1500);
	rt_time_t took = rt_clock_now() - t0;
	cr_assert_geq(took, 140 * RT_MS);
	cr_assert_lt(took, 1000 * RT_MS, "%lu ms", (unsigned long)(took / RT_MS));
	struct dns_counts c;
	dns_counts_read(d, &c);
	cr_assert_geq(c.abandoned, 1);

	/* Answers again: the next lookup (the abandoned one's late answer is
	 * dropped) finds the name. */
	dnsfake_drop(false, false);
	wait_event(&i, "app.rc.test", 0, "10.0.0.1:80", 3000);
	dns_stop(&d);
}

Test(backend_dns, stop_is_prompt_with_lookups_in_flight)
{
	dnsfake_drop(true, true);
	struct dns *d = start(50, 5000, 3, 60000);
	struct dns_name names[] = {
	    {"a.rc.test", 80, &tag_a},
	    {"b.rc.test", 80, &tag_b},
	    {"c.rc.test", 80, &tag_c},
	};
	follow(d, names, 3);
	rt_time_t until = rt_clock_now() + 2 * RT_SEC;
	while (dnsfake_queries() < 6) {
		cr_assert_lt(rt_clock_now(), until, "queries never reached the server");
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
	}
	rt_time_t t0 = rt_clock_now();
	dns_stop(&d);
	rt_time_t took = rt_clock_now() - t0;
	cr_assert_lt(took, 200 * RT_MS, "dns_stop took %lu ms", (unsigned long)(took / RT_MS));
	cr_assert_null(d);
	cr_assert_eq(seen_count(), 0, "a cancelled lookup was reported");
}

Test(backend_dns, update_keeps_adds_and_drops_names)
{
	dnsfake_set("a.rc.test", "10.0.0.1");
	dnsfake_set("b.rc.test", "10.0.0.2");
	dnsfake_set("c.rc.test", "10.0.0.3");
	struct dns *d = start(50, 200, 2, 2000);
	struct dns_name first[] = {{"a.rc.test", 80, &tag_a}, {"b.rc.test", 80, &tag_a}};
	follow(d, first, 2);
	size_t i = 0;
	wait_event(&i, "a.rc.test", 0, "10.0.0.1:80", 2000);
	i = 0;
	wait_event(&i, "b.rc.test", 0, "10.0.0.2:80", 2000);

	/* b stays (new arg), c comes, a goes. */
	struct dns_name second[] = {{"b.rc.test", 80, &tag_b}, {"c.rc.test", 80, &tag_c}};
	/* Counted before: c's first event may come before follow returns. */
	size_t after_update = seen_count();
	follow(d, second, 2);
	size_t a_events = seen_count_for("a.rc.test");
	size_t b_events = seen_count_for("b.rc.test");
	i = after_update;
	struct rec r = wait_event(&i, "c.rc.test", 0, "10.0.0.3:80", 2000);
	cr_assert_eq(r.arg, &tag_c);

	/* b kept its set: nothing reported until it changes, then with the
	 * new arg. a is not looked up any more. */
	dnsfake_set("a.rc.test", "10.0.0.11");
	wait_lookups(d, 4, 3000);
	cr_assert_eq(seen_count_for("b.rc.test"), b_events, "a kept name was reported again");
	dnsfake_set("b.rc.test", "10.0.0.12");
	i = after_update;
	r = wait_event(&i, "b.rc.test", 0, "10.0.0.12:80", 2000);
	cr_assert_eq(r.arg, &tag_b);
	cr_assert_eq(seen_count_for("a.rc.test"), a_events, "a dropped name was reported");

	/* Bad lists leave the names as they were. */
	struct dns_name dup[] = {{"b.rc.test", 80, NULL}, {"b.rc.test", 80, NULL}};
	cr_assert_eq(dns_update(d, dup, 2), -EINVAL);
	struct dns_name empty = {"", 80, NULL};
	cr_assert_eq(dns_update(d, &empty, 1), -EINVAL);
	dnsfake_set("c.rc.test", "10.0.0.13");
	i = after_update;
	wait_event(&i, "c.rc.test", 0, "10.0.0.13:80", 2000);

	/* The same host on two ports is two names. */
	struct dns_name ports[] = {{"c.rc.test", 80, &tag_a}, {"c.rc.test", 81, &tag_b}};
	follow(d, ports, 2);
	i = after_update;
	wait_event(&i, "c.rc.test", 0, "10.0.0.13:81", 2000);

	/* No names at all. */
	follow(d, NULL, 0);
	dns_stop(&d);
}

Test(backend_dns, refresh_looks_up_now)
{
	dnsfake_set("app.rc.test", "10.0.0.1");
	struct dns *d = start(3600 * 1000, 1000, 2, 5000); /* an hour between lookups */
	struct dns_name name = {"app.rc.test", 80, &tag_a};
	follow(d, &name, 1);
	size_t i = 0;
	wait_event(&i, "app.rc.test", 0, "10.0.0.1:80", 2000);
	dnsfake_set("app.rc.test", "10.0.0.2");
	rt_time_t t0 = rt_clock_now();
	dns_refresh(d);
	wait_event(&i, "app.rc.test", 0, "10.0.0.2:80", 2000);
	cr_assert_lt(rt_clock_now() - t0, 1000 * RT_MS);

	/* A refresh with a lookup in flight drops it and starts another. */
	dnsfake_drop(true, true);
	unsigned q0 = dnsfake_queries();
	dns_refresh(d);
	rt_time_t until = rt_clock_now() + 2 * RT_SEC;
	while (dnsfake_queries() < q0 + 2) {
		cr_assert_lt(rt_clock_now(), until);
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
	}
	dnsfake_set("app.rc.test", "10.0.0.3");
	dnsfake_drop(false, false);
	dns_refresh(d);
	wait_event(&i, "app.rc.test", 0, "10.0.0.3:80", 2000);
	dns_stop(&d);
	for (size_t k = 0; k < seen.n; k++)
		cr_assert_eq(seen.r[k].status, 0, "a dropped lookup was reported as failed");
}

Test(backend_dns, an_unreachable_server_is_reported)
{
	/* A port nobody listens on: the ICMP error ends the lookup at once. */
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	close(fd);
	snprintf(servers, sizeof(servers), "127.0.0.1:%u", ntohs(sin.sin_port));
	struct dns *d = start(50, 2000, 2, 5000);
	struct dns_name name = {"app.rc.test", 80, &tag_a};
	follow(d, &name, 1);
	size_t i = 0;
	struct rec r = wait_event(&i, "app.rc.test", -ECONNREFUSED, "-", 1500);
	cr_assert_eq(r.failures, 1);
	dns_stop(&d);
}

Test(backend_dns, bad_servers_refused)
{
	struct dns_opts o = {.servers = "not an address", .on_event = on_event, .ctx = &seen};
	int err = 0;
	struct dns *d = dns_start(&o, &err);
	cr_assert_null(d);
	cr_assert_eq(err, -EINVAL, "%d", err);
}

Test(backend_dns, sets_compare_by_address)
{
	/* The set helpers on sets made by the resolver: equal sets, the order. */
	dnsfake_set("x.rc.test", "fd00::1,10.0.0.9,10.0.0.10");
	struct dns *d = start(50, 200, 2, 2000);
	struct dns_name name = {"x.rc.test", 80, NULL};
	follow(d, &name, 1);
	size_t i = 0;
	/* Bytes, not text: 10.0.0.9 sorts before 10.0.0.10. */
	wait_event(&i, "x.rc.test", 0, "10.0.0.9:80 10.0.0.10:80 [fd00::1]:80", 2000);
	dns_stop(&d);

	struct dns_set *a = malloc(sizeof(*a) + 2 * sizeof(a->addr[0]));
	struct dns_set *b = malloc(sizeof(*b) + 2 * sizeof(b->addr[0]));
	cr_assert(a && b);
	memset(a, 0, sizeof(*a) + 2 * sizeof(a->addr[0]));
	memset(b, 0, sizeof(*b) + 2 * sizeof(b->addr[0]));
	a->magic = b->magic = DNS_SET_MAGIC;
	atomic_init(&a->refs, 1);
	atomic_init(&b->refs, 1);
	a->n = b->n = 2;
	struct sockaddr_in *a0 = (void *)&a->addr[0].sa, *b0 = (void *)&b->addr[0].sa;
	struct sockaddr_in6 *a1 = (void *)&a->addr[1].sa, *b1 = (void *)&b->addr[1].sa;
	a0->sin_family = b0->sin_family = AF_INET;
	inet_pton(AF_INET, "10.0.0.1", &a0->sin_addr);
	b0->sin_addr = a0->sin_addr;
	a0->sin_port = b0->sin_port = htons(80);
	a1->sin6_family = b1->sin6_family = AF_INET6;
	inet_pton(AF_INET6, "::1", &a1->sin6_addr);
	b1->sin6_addr = a1->sin6_addr;
	a1->sin6_port = b1->sin6_port = htons(80);
	cr_assert_lt(dns_addr_cmp(&a->addr[0], &a->addr[1]), 0);
	cr_assert(dns_set_equal(a, b));
	cr_assert(dns_set_equal(NULL, NULL));
	cr_assert_not(dns_set_equal(a, NULL));
	b1->sin6_port = htons(81);
	cr_assert_not(dns_set_equal(a, b));
	b1->sin6_port = htons(80);
	b1->sin6_scope_id = 2;
	cr_assert_not(dns_set_equal(a, b));

	struct dns_set *held = dns_set_hold(a);
	cr_assert_eq(held, a);
	dns_set_put(&held);
	cr_assert_null(held);
	dns_set_put(&a);
	dns_set_put(&b);
	dns_set_put(&a); /* NULL is fine */
}
