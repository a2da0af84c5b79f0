/*
 * Backends that follow DNS (docs/routing.md): the real daemon with a server
 * written as a name, real origins on 127.0.0.2 and 127.0.0.3 (all of
 * 127/8 is loopback; one port for both, as a name has one), and a fake
 * DNS server the test controls (lib/dnsfake.h) as resolver.servers. The
 * resolver looks names up every 100 ms, so every wait below is a poll of
 * a few intervals with a bound.
 */
#include "harness.h"
#include "dnsfake.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IP_A "127.0.0.2"
#define IP_B "127.0.0.3"
#define IP_C "127.0.0.4"

static void fini(void)
{
	harness_fini();
	dnsfake_stop();
}

TestSuite(backend_dns, .fini = fini, .timeout = 60);

struct env {
	struct proc a, b, d;
	int port;  /* the origins' (the name's) port */
	int admin; /* the daemon's admin API */
	uint16_t dns;
};

/* The daemon's YAML: backend app with SERVERS (a YAML list's insides)
 * and the backend keys EXTRA (lines, indented 4). */
static char *yaml_with(const struct env *e, const char *servers, const char *extra)
{
	char *out = NULL;
	cr_assert(asprintf(&out,
			   "listen: [\"127.0.0.1:%d\"]\n"
			   "threads: 2\n"
			   "resolver:\n"
			   "  servers: [\"127.0.0.1:%u\"]\n"
			   "  interval: 100ms\n"
			   "  timeout: 1s\n"
			   "backends:\n"
			   "  - name: app\n"
			   "    servers: [%s]\n"
			   "    first_byte_timeout: 5s\n"
			   "%s"
			   "admin:\n"
			   "  listen: \"127.0.0.1:%d\"\n",
			   e->d.port, e->dns, servers, extra, e->admin) > 0);
	return out;
}

static char *yaml(const struct env *e, const char *servers)
{
	return yaml_with(e, servers, "");
}

/* Origins on IP_A and IP_B (one port), the fake DNS, and the daemon with
 * SERVERS ("%d" is the port) and the backend keys EXTRA. */
static void start_env_with(struct env *e, const char *servers_fmt, const char *extra)
{
	memset(e, 0, sizeof(*e));
	e->dns = dnsfake_start();
	start_origin_at(&e->a, IP_A, 0);
	start_origin_at(&e->b, IP_B, e->a.port);
	e->port = e->a.port;
	e->d.port = free_port();
	e->admin = free_port();
	char servers[256];
	snprintf(servers, sizeof(servers), servers_fmt, e->port, e->port);
	char *y = yaml_with(e, servers, extra);
	start_ringcache(&e->d, y);
	free(y);
	cr_assert(port_wait(e->admin, 3000), "no admin API; log:\n%s", proc_log(&e->d));
}

static void start_env(struct env *e, const char *servers_fmt)
{
	start_env_with(e, servers_fmt, "");
}

/* Requests origin O answered so far. */
static long served(const struct proc *o)
{
	long n = origin_requests_at(o->host, o->port, NULL);
	cr_assert_geq(n, 0, "%s does not answer /__stats", o->name);
	return n;
}

/* N uncacheable GETs through the daemon, each on a fresh connection; all 200. */
static void get_n(const struct env *e, int n)
{
	static unsigned seq;
	for (int i = 0; i < n; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/n%u?cc=no-store", seq++);
		struct response r;
		http_once(e->d.port, "GET", path, NULL, &r);
		cr_assert_eq(r.status, 200, "GET %s: %s\nlog:\n%s", path, r.raw_head,
			     proc_log(&e->d));
		response_free(&r);
	}
}

static bool log_has(const struct proc *d, const char *needle)
{
	char *log = proc_log(d);
	bool yes = strstr(log, needle) != NULL;
	free(log);
	return yes;
}

/* Wait (at most 10 s: a loaded machine under the sanitizers) until the daemon's log says NEEDLE. */
static void wait_log(const struct proc *d, const char *needle)
{
	double until = now_s() + 10;
	while (!log_has(d, needle)) {
		cr_assert_lt(now_s(), until, "no \"%s\" in the log:\n%s", needle, proc_log(d));
		sleep_ms(20);
	}
}

/* The value of SERIES on /metrics, or -1 when it is not there. */
static double metric(const struct env *e, const char *series)
{
	struct response r;
	http_once(e->admin, "GET", "/metrics", NULL, &r);
	cr_assert_eq(r.status, 200);
	double v = -1;
	size_t sl = strlen(series);
	for (const char *p = r.body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, series, sl) && p[sl] == ' ') {
			v = strtod(p + sl + 1, NULL);
			break;
		}
	}
	response_free(&r);
	return v;
}

/* Wait (at most 10 s: a loaded machine under the sanitizers) until SERIES is at least V. */
static void wait_metric(const struct env *e, const char *series, double v)
{
	double until = now_s() + 10;
	while (metric(e, series) < v) {
		cr_assert_lt(now_s(), until, "%s stays below %g; log:\n%s", series, v,
			     proc_log(&e->d));
		sleep_ms(20);
	}
}

/* ---- a client that keeps asking --------------------------------------------------- */

/* Requests in a loop on one keep-alive connection (another when the
 * daemon closes it) until told to stop; counts what came back. */
struct pump {
	pthread_t thread;
	int port;
	atomic_bool stop;
	atomic_long ok, bad; /* 200s; anything else (5xx above all), or no response */
	char first_bad[256];
};

static void *pump_main(void *arg)
{
	struct pump *p = arg;
	struct conn c;
	bool open = false;
	for (unsigned i = 0; !atomic_load(&p->stop); i++) {
		if (!open) {
			if (conn_try_open(&c, p->port) < 0) {
				atomic_fetch_add(&p->bad, 1);
				continue;
			}
			open = true;
		}
		char req[128];
		snprintf(req, sizeof(req), "GET /pump%u?cc=no-store HTTP/1.1\r\nHost: t\r\n\r\n",
			 i);
		struct response r;
		if (conn_send_str(&c, req) < 0 || read_response(&c, &r, 0) != READ_OK) {
			/* A close between requests is the daemon's right; the
			 * next request goes on a new connection. */
			conn_close(&c);
			open = false;
			continue;
		}
		if (r.status == 200 && r.complete) {
			atomic_fetch_add(&p->ok, 1);
		} else if (atomic_fetch_add(&p->bad, 1) == 0) {
			snprintf(p->first_bad, sizeof(p->first_bad), "%s", r.raw_head);
		}
		if (r.peer_closed) {
			conn_close(&c);
			open = false;
		}
		response_free(&r);
	}
	if (open)
		conn_close(&c);
	return NULL;
}

static void pump_start(struct pump *p, int port)
{
	memset(p, 0, sizeof(*p));
	p->port = port;
	cr_assert_eq(pthread_create(&p->thread, NULL, pump_main, p), 0);
}

/* Stop it and check that everything it got was a 200. */
static void pump_stop(struct pump *p, const char *during)
{
	atomic_store(&p->stop, true);
	pthread_join(p->thread, NULL);
	cr_assert_gt(atomic_load(&p->ok), 0, "%s: no request went through", during);
	cr_assert_eq(atomic_load(&p->bad), 0, "%s: %ld of %ld requests failed, the first:\n%s",
		     during, atomic_load(&p->bad), atomic_load(&p->ok) + atomic_load(&p->bad),
		     p->first_bad);
}

/* Wait (at most 10 s: a loaded machine under the sanitizers) until origin O has answered more than
 * N requests. */
static void wait_served(const struct proc *o, long n, const struct proc *d)
{
	double until = now_s() + 10;
	while (served(o) <= n) {
		cr_assert_lt(now_s(), until, "%s never got more than %ld requests; log:\n%s",
			     o->name, n, proc_log(d));
		sleep_ms(10);
	}
}

/* ---- tests ---------------------------------------------------------------------- */

Test(backend_dns, follows_the_name_from_one_address_to_another)
{
	struct env e;
	dnsfake_set("api.rc.test", IP_A);
	start_env(&e, "\"api.rc.test:%d\"");
	char line[128];
	snprintf(line, sizeof(line), "backend app: api.rc.test:%d now " IP_A, e.port);
	cr_assert(log_has(&e.d, line), "no \"%s\" in the log:\n%s", line, proc_log(&e.d));

	/* The name is A: requests reach A. */
	get_n(&e, 10);
	cr_assert_eq(served(&e.a), 10);
	cr_assert_eq(served(&e.b), 0);

	/* It moves to B while requests keep coming: within a few intervals
	 * they reach B, and none fails meanwhile. */
	struct pump p;
	pump_start(&p, e.d.port);
	wait_served(&e.a, 10, &e.d);
	dnsfake_set("api.rc.test", IP_B);
	wait_served(&e.b, 0, &e.d);
	/* Once one request reached B, later ones do too (one at most was on
	 * its way to A when the loop switched). */
	long a0 = served(&e.a), b0 = served(&e.b);
	wait_served(&e.b, b0 + 20, &e.d);
	cr_assert_leq(served(&e.a), a0 + 1, "requests still reach the removed address");
	pump_stop(&p, "the change from A to B");
	snprintf(line, sizeof(line), "backend app: api.rc.test:%d now " IP_B, e.port);
	wait_log(&e.d, line);
	cr_assert_geq(metric(&e, "ringcache_dns_changes_total"), 2);
	cr_assert_geq(metric(&e, "ringcache_dns_generations_total"), 1);
	cr_assert_eq(metric(&e, "ringcache_dns_names"), 1);

	/* The DNS stops answering: lookups fail, B is kept. */
	double failed = metric(&e, "ringcache_dns_failures_total");
	cr_assert_geq(failed, 0);
	dnsfake_drop(true, true);
	pump_start(&p, e.d.port);
	wait_metric(&e, "ringcache_dns_failures_total", failed + 3);
	b0 = served(&e.b);
	a0 = served(&e.a);
	wait_served(&e.b, b0 + 20, &e.d);
	cr_assert_eq(served(&e.a), a0);
	pump_stop(&p, "the DNS outage");
	snprintf(line, sizeof(line), "backend app: api.rc.test:%d: lookup failed (", e.port);
	wait_log(&e.d, line);
	cr_assert(log_has(&e.d, "keeping " IP_B), "%s", proc_log(&e.d));

	/* It answers again, with the same address: said once, nothing changes. */
	double gens = metric(&e, "ringcache_dns_generations_total");
	dnsfake_drop(false, false);
	snprintf(line, sizeof(line), "backend app: api.rc.test:%d resolves again", e.port);
	wait_log(&e.d, line);
	get_n(&e, 5);
	cr_assert_eq(metric(&e, "ringcache_dns_generations_total"), gens);
	harness_end();
}

Test(backend_dns, every_address_of_a_name_is_a_server)
{
	struct env e;
	dnsfake_set("api.rc.test", IP_A "," IP_B);
	start_env(&e, "{address: \"api.rc.test:%d\", weight: 2}");
	get_n(&e, 40);
	long a = served(&e.a), b = served(&e.b);
	cr_assert_eq(a + b, 40);
	cr_assert(a >= 10 && b >= 10, "A got %ld, B %ld", a, b);
	char series[160];
	snprintf(series, sizeof(series),
		 "ringcache_backend_up{backend=\"app\",server=\"api.rc.test:%d (" IP_A ")\"}",
		 e.port);
	cr_assert_eq(metric(&e, series), 1, "%s", series);
	snprintf(series, sizeof(series),
		 "ringcache_backend_up{backend=\"app\",server=\"api.rc.test:%d (" IP_B ")\"}",
		 e.port);
	cr_assert_eq(metric(&e, series), 1, "%s", series);

	/* One goes: all to the other, without a failure. */
	struct pump p;
	pump_start(&p, e.d.port);
	dnsfake_set("api.rc.test", IP_B);
	snprintf(series, sizeof(series), "backend app: api.rc.test:%d now " IP_B, e.port);
	wait_log(&e.d, series);
	long a0 = served(&e.a), b0 = served(&e.b);
	wait_served(&e.b, b0 + 20, &e.d);
	cr_assert_leq(served(&e.a), a0 + 1);
	pump_stop(&p, "an address leaving");
	harness_end();
}

Test(backend_dns, a_name_that_does_not_resolve_yet)
{
	struct env e;
	/* Not in the DNS: the daemon starts anyway, and answers 502. */
	start_env(&e, "\"api.rc.test:%d\"");
	char line[160];
	snprintf(line, sizeof(line),
		 "backend app: api.rc.test:%d does not resolve (Domain name not found); it has "
		 "no server until it does",
		 e.port);
	cr_assert(log_has(&e.d, line), "no \"%s\" in the log:\n%s", line, proc_log(&e.d));
	struct response r;
	http_once(e.d.port, "GET", "/x?cc=no-store", NULL, &r);
	cr_assert_eq(r.status, 502, "%s", r.raw_head);
	response_free(&r);

	/* `ringcache -t` asks no DNS: the file is fine. */
	char *argv[] = {(char *)RINGCACHE_BIN, (char *)"-t", (char *)"-c", e.d.cfg_path, NULL};
	struct cmd_result cr;
	run_cmd(argv, 5000, &cr);
	cr_assert(cr.exited && cr.exit_code == 0, "-t: %s", cr.err);
	cmd_result_free(&cr);

	/* It comes up: requests reach it within a few intervals. */
	dnsfake_set("api.rc.test", IP_A);
	double until = now_s() + 10;
	for (;;) {
		http_once(e.d.port, "GET", "/y?cc=no-store", NULL, &r);
		int st = r.status;
		response_free(&r);
		if (st == 200)
			break;
		cr_assert_eq(st, 502);
		cr_assert_lt(now_s(), until, "never 200; log:\n%s", proc_log(&e.d));
		sleep_ms(20);
	}
	get_n(&e, 5);
	cr_assert_geq(served(&e.a), 6);
	harness_end();
}

Test(backend_dns, reload_adds_names_and_keeps_following)
{
	struct env e;
	dnsfake_set("api.rc.test", IP_A);
	dnsfake_set("web.rc.test", IP_B);
	start_env(&e, "\"api.rc.test:%d\"");
	get_n(&e, 4);
	cr_assert_eq(served(&e.a), 4);

	/* A second name: the reload waits for its answer, so the
	 * configuration it makes has both at once. */
	char servers[128];
	snprintf(servers, sizeof(servers), "\"api.rc.test:%d\", \"web.rc.test:%d\"", e.port,
		 e.port);
	char *y = yaml(&e, servers);
	FILE *f = fopen(e.d.cfg_path, "w");
	cr_assert_not_null(f);
	fputs(y, f);
	cr_assert_eq(fclose(f), 0);
	free(y);
	kill(e.d.pid, SIGHUP);
	wait_log(&e.d, "reloaded");
	get_n(&e, 20);
	cr_assert_gt(served(&e.b), 0, "the new name got nothing; log:\n%s", proc_log(&e.d));
	cr_assert_gt(served(&e.a), 4);

	/* Changes are followed after the reload: api moves onto web's
	 * address, which is one server then, and A gets nothing more. */
	struct pump p;
	pump_start(&p, e.d.port);
	dnsfake_set("api.rc.test", IP_B);
	char line[128];
	snprintf(line, sizeof(line), "backend app: api.rc.test:%d now " IP_B, e.port);
	wait_log(&e.d, line);
	long a0 = served(&e.a), b0 = served(&e.b);
	wait_served(&e.b, b0 + 20, &e.d);
	cr_assert_leq(served(&e.a), a0 + 1);
	pump_stop(&p, "a change after the reload");

	/* And a reload that drops a name stops following it. */
	snprintf(servers, sizeof(servers), "\"web.rc.test:%d\"", e.port);
	y = yaml(&e, servers);
	f = fopen(e.d.cfg_path, "w");
	cr_assert_not_null(f);
	fputs(y, f);
	cr_assert_eq(fclose(f), 0);
	free(y);
	kill(e.d.pid, SIGHUP);
	double until = now_s() + 10;
	while (metric(&e, "ringcache_dns_names") != 1) {
		cr_assert_lt(now_s(), until, "still %g names; log:\n%s",
			     metric(&e, "ringcache_dns_names"), proc_log(&e.d));
		sleep_ms(20);
	}
	get_n(&e, 5);
	harness_end();
}

/*
 * What passive health learnt of an address survives a DNS change, as it
 * survives a reload: B refuses connections and is taken out by the first
 * request that fails on it (max_fails 1; that request is retried on A);
 * when the name gains C, the new configuration still leaves B out, so no
 * request tries it again (no retry) and A and C share them.
 */
Test(backend_dns, passive_health_survives_an_address_change)
{
	struct env e;
	dnsfake_set("api.rc.test", IP_A "," IP_B);
	start_env_with(&e, "\"api.rc.test:%d\"",
		       "    max_fails: 1\n"
		       "    fail_timeout: 60s\n"
		       "    retries: 1\n");
	cr_assert_eq(stop_proc(&e.b), 0);
	/* Round robin over A and B: within two requests one goes to B. */
	get_n(&e, 4);
	wait_log(&e.d, "out of rotation for");
	double retries = metric(&e, "ringcache_backend_retries_total");
	cr_assert_eq(retries, 1, "log:\n%s", proc_log(&e.d));
	long a0 = served(&e.a);
	cr_assert_eq(a0, 4);

	struct proc c;
	start_origin_at(&c, IP_C, e.port);
	dnsfake_set("api.rc.test", IP_A "," IP_B "," IP_C);
	char line[128];
	snprintf(line, sizeof(line), "backend app: api.rc.test:%d now " IP_A ", " IP_B ", " IP_C,
		 e.port);
	wait_log(&e.d, line);
	wait_metric(&e, "ringcache_dns_generations_total", 1);
	get_n(&e, 30);
	long a = served(&e.a) - a0, cn = origin_requests_at(IP_C, c.port, NULL);
	cr_assert_eq(a + cn, 30);
	cr_assert(a >= 10 && cn >= 10, "A got %ld, C %ld", a, cn);
	cr_assert_eq(metric(&e, "ringcache_backend_retries_total"), retries,
		     "B was tried again after the change; log:\n%s", proc_log(&e.d));
	stop_proc(&c);
	harness_end();
}
