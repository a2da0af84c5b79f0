/*
 * Reload (SIGHUP and POST /reload): the new file takes effect for new
 * requests (backends, rules, listeners opened and closed), the cache and
 * open connections survive, requests in flight finish, a bad file is
 * refused with its errors and the running configuration stays; and many
 * reloads under wrk cost no failed request.
 */
#include "harness.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(ops_reload, .fini = harness_fini, .timeout = 60);

/* The config the tests reload between: listener PORT (and EXTRA_PORT if
 * > 0), admin API on ADMIN, backend ORIGIN, and MORE top-level text. */
static char *yaml_for(int port, int extra_port, int admin, int origin, const char *more)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	cr_assert_not_null(f);
	if (extra_port > 0)
		fprintf(f, "listen: [\"127.0.0.1:%d\", \"127.0.0.1:%d\"]\n", port, extra_port);
	else
		fprintf(f, "listen: [\"127.0.0.1:%d\"]\n", port);
	fprintf(f,
		"threads: 2\n"
		"backends:\n"
		"  - name: app\n"
		"    servers: [\"127.0.0.1:%d\"]\n"
		"    connect_timeout: 1s\n"
		"    first_byte_timeout: 3s\n"
		"admin:\n"
		"  listen: \"127.0.0.1:%d\"\n"
		"%s",
		origin, admin, more ? more : "");
	cr_assert_eq(fclose(f), 0);
	return out;
}

/* A new file put in place at once, as an operator's tooling does: the
 * daemon may still be reading the last one after the previous SIGHUP, and
 * must never find it half written (it would refuse an empty file). */
static void rewrite(const struct proc *d, const char *yaml)
{
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", d->cfg_path);
	FILE *f = fopen(tmp, "w");
	cr_assert_not_null(f);
	fputs(yaml, f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(rename(tmp, d->cfg_path), 0, "rename: %s", strerror(errno));
}

/* Occurrences of NEEDLE in the daemon's log. */
static int log_count(const struct proc *d, const char *needle)
{
	char *log = proc_log(d);
	int n = 0;
	for (const char *p = log; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	free(log);
	return n;
}

/* Wait (max 5 s) until the log says NEEDLE at least N times. */
static void wait_log(const struct proc *d, const char *needle, int n)
{
	double until = now_s() + 5;
	while (log_count(d, needle) < n) {
		if (now_s() > until) {
			char *log = proc_log(d);
			cr_assert_fail("no %d x \"%s\" in the log:\n%s", n, needle, log);
		}
		sleep_ms(10);
	}
}

static void get_ok(int port, const char *path, struct response *r)
{
	http_once(port, "GET", path, NULL, r);
	cr_assert_eq(r->status, 200, "GET %s on %d: %d %s", path, port, r->status, r->raw_head);
}

Test(ops_reload, new_file_applies_cache_and_connections_survive)
{
	struct proc o1, o2, d;
	start_origin(&o1);
	start_origin(&o2);
	memset(&d, 0, sizeof(d));
	d.port = free_port();
	int admin = free_port(), p2 = free_port();
	char *a = yaml_for(d.port, 0, admin, o1.port, NULL);
	start_ringcache(&d, a);

	struct response r;
	get_ok(d.port, "/k?size=100&cc=max-age%3D60", &r);
	response_free(&r);
	struct conn c;
	conn_open(&c, d.port);
	http_req(&c, "GET", "/ka?size=10", NULL, &r);
	cr_assert_eq(r.status, 200);
	response_free(&r);

	/* B: another backend, a second listener, a bypass rule, and a
	 * threads change that needs a restart. */
	char *b = yaml_for(d.port, p2, admin, o2.port,
			   "cache:\n  rules:\n    - path_prefix: \"/b/\"\n      bypass: true\n");
	char *b3 = malloc(strlen(b) + 16);
	char *t = strstr(b, "threads: 2");
	cr_assert_not_null(t);
	sprintf(b3, "%.*sthreads: 3%s", (int)(t - b), b, t + strlen("threads: 2"));
	rewrite(&d, b3);
	kill(d.pid, SIGHUP);
	wait_log(&d, "configuration 2", 1);
	cr_assert_geq(log_count(&d, "threads 2 -> 3 takes a restart"), 1);

	/* The stored object survived; the open connection still works. */
	get_ok(d.port, "/k?size=100&cc=max-age%3D60", &r);
	cr_assert(cache_status_has(&r, "hit"), "Cache-Status: %s", cache_status(&r));
	response_free(&r);
	http_req(&c, "GET", "/ka2?size=10", NULL, &r);
	cr_assert_eq(r.status, 200, "keep-alive connection across the reload");
	response_free(&r);
	/* New requests go to the new backend, through the new listener too,
	 * and the new rule applies. */
	long before = origin_requests(o2.port, "/new?size=10");
	get_ok(p2, "/new?size=10", &r);
	response_free(&r);
	cr_assert_eq(origin_requests(o2.port, "/new?size=10"), before + 1);
	cr_assert_eq(origin_requests(o1.port, "/new?size=10"), 0);
	get_ok(d.port, "/b/x?size=10&cc=max-age%3D60", &r);
	cr_assert(cache_status_has(&r, "fwd=bypass"), "Cache-Status: %s", cache_status(&r));
	response_free(&r);

	/* Back to A through the admin API: the second listener closes. */
	rewrite(&d, a);
	http_once(admin, "POST", "/reload", NULL, &r);
	cr_assert_eq(r.status, 200, "%s", excerpt(r.body, r.body_len));
	cr_assert_eq(json_number(r.body, "generation", -1), 3, "%s", r.body);
	response_free(&r);
	struct conn x;
	int rc = conn_try_open(&x, p2);
	if (rc == 0)
		conn_close(&x);
	cr_assert_neq(rc, 0, "127.0.0.1:%d still accepts after the reload removed it", p2);
	get_ok(d.port, "/b/y?size=10&cc=max-age%3D60", &r);
	cr_assert(!cache_status_has(&r, "fwd=bypass"), "Cache-Status: %s", cache_status(&r));
	response_free(&r);
	conn_close(&c);
	free(a);
	free(b);
	free(b3);
	harness_end();
}

Test(ops_reload, bad_file_is_refused_and_the_running_config_stays)
{
	struct proc o, d;
	start_origin(&o);
	memset(&d, 0, sizeof(d));
	d.port = free_port();
	int admin = free_port();
	char *a = yaml_for(d.port, 0, admin, o.port, NULL);
	start_ringcache(&d, a);

	/* Errors in the file: every one is logged with FILE:LINE:COL. */
	char *bad = yaml_for(d.port, 0, admin, o.port,
			     "cache:\n  memroy: 1GiB\nlimits:\n  max_headers: -3\n");
	rewrite(&d, bad);
	kill(d.pid, SIGHUP);
	wait_log(&d, "refused; still running configuration 1", 1);
	char want[4200];
	snprintf(want, sizeof(want), "%s:", d.cfg_path);
	cr_assert_geq(log_count(&d, want), 2, "errors with FILE:LINE:COL");
	struct response r;
	get_ok(d.port, "/still?size=10", &r);
	response_free(&r);

	/* Through the admin API: 400 and the messages. */
	http_once(admin, "POST", "/reload", NULL, &r);
	cr_assert_eq(r.status, 400, "%d %s", r.status, excerpt(r.body, r.body_len));
	cr_assert(strstr(r.body, "\"reloaded\": false"), "%s", r.body);
	cr_assert(strstr(r.body, want) && strstr(r.body, "memroy"), "%s", r.body);
	response_free(&r);

	/* A file that is valid but names a listener that cannot be opened:
	 * refused as a whole, nothing changes. */
	int taken = free_port();
	int hold = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)taken),
				 .sin_addr.s_addr = htonl(0x7f000001)};
	cr_assert_eq(bind(hold, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(hold, 1), 0);
	char *busy = yaml_for(d.port, taken, admin, o.port, NULL);
	rewrite(&d, busy);
	http_once(admin, "POST", "/reload", NULL, &r);
	cr_assert_eq(r.status, 500, "%d %s", r.status, excerpt(r.body, r.body_len));
	cr_assert(strstr(r.body, "Address already in use"), "%s", r.body);
	response_free(&r);
	close(hold);
	get_ok(d.port, "/still2?size=10", &r);
	response_free(&r);
	http_once(admin, "GET", "/reload", NULL, &r);
	cr_assert_eq(r.status, 405);
	response_free(&r);
	free(a);
	free(bad);
	free(busy);
	harness_end();
}

Test(ops_reload, requests_in_flight_finish)
{
	struct proc o, d;
	start_origin(&o);
	memset(&d, 0, sizeof(d));
	d.port = free_port();
	int admin = free_port();
	char *a = yaml_for(d.port, 0, admin, o.port, NULL);
	start_ringcache(&d, a);
	struct conn c;
	conn_open(&c, d.port);
	conn_send_str(&c, "GET /slow?delay=600&size=200000 HTTP/1.1\r\nHost: test.local\r\n\r\n");
	sleep_ms(150);
	/* The new file drops the backend the request is using for another. */
	struct proc o2;
	start_origin(&o2);
	char *b = yaml_for(d.port, 0, admin, o2.port, NULL);
	rewrite(&d, b);
	kill(d.pid, SIGHUP);
	wait_log(&d, "configuration 2", 1);
	struct response r;
	cr_assert_eq(read_response(&c, &r, 0), READ_OK);
	cr_assert_eq(r.status, 200);
	cr_assert(r.complete && r.body_len == 200000, "cut: %s", r.error);
	response_free(&r);
	/* The same connection goes on, now to the new backend. */
	http_req(&c, "GET", "/after?size=10", NULL, &r);
	cr_assert_eq(r.status, 200);
	response_free(&r);
	cr_assert_eq(origin_requests(o2.port, "/after?size=10"), 1);
	conn_close(&c);
	free(a);
	free(b);
	harness_end();
}

/* wrk's summary line "Socket errors: ..." or "Non-2xx or 3xx responses: N". */
static void assert_wrk_clean(const struct cmd_result *w)
{
	cr_assert(w->exited && w->exit_code == 0, "wrk failed: %s %s", w->out, w->err);
	cr_assert_null(strstr(w->out, "Socket errors"), "wrk:\n%s", w->out);
	cr_assert_null(strstr(w->out, "Non-2xx"), "wrk:\n%s", w->out);
	cr_assert_not_null(strstr(w->out, "requests in"), "wrk:\n%s", w->out);
}

Test(ops_reload, many_reloads_under_wrk_fail_no_request)
{
	struct proc o, d;
	start_origin(&o);
	memset(&d, 0, sizeof(d));
	d.port = free_port();
	int admin = free_port(), p2 = free_port();
	/* Two files that differ in listeners, rules and limits. */
	char *a = yaml_for(d.port, 0, admin, o.port, NULL);
	char *b = yaml_for(d.port, p2, admin, o.port,
			   "cache:\n  rules:\n    - path_prefix: \"/b/\"\n      ttl: 5s\n"
			   "limits:\n  max_headers: 80\n");
	start_ringcache(&d, a);
	struct response r;
	get_ok(d.port, "/w?size=1000&cc=max-age%3D600", &r);
	response_free(&r);

	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		/* Reload every 50 ms, alternating the two files, 3 s. */
		for (int i = 0; i < 60; i++) {
			rewrite(&d, i % 2 ? a : b);
			kill(d.pid, SIGHUP);
			usleep(50000);
		}
		_exit(0);
	}
	char url[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/w?size=1000&cc=max-age%%3D600", d.port);
	char *argv[] = {"/usr/bin/wrk", "-t1", "-c16", "-d3s", url, NULL};
	struct cmd_result w;
	run_cmd(argv, 20000, &w);
	int st;
	waitpid(pid, &st, 0);
	assert_wrk_clean(&w);
	cmd_result_free(&w);
	/* Most of the SIGHUPs were reloads (signals that arrive while one is
	 * running merge), and none was refused. */
	cr_assert_geq(log_count(&d, "reloaded "), 10);
	cr_assert_eq(log_count(&d, "refused"), 0);
	cr_assert_eq(log_count(&d, "[error]"), 0);
	assert_alive(&d);
	free(a);
	free(b);
	harness_end();
}
