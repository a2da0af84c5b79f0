/*
 * `ringcache stat` against the real daemon and origin: the live view in a
 * real terminal (tmux, 120x40) under load, its numbers checked against
 * GET /stats once the load stops (counters that no longer move must be
 * equal, rates go to 0), `q` leaving the terminal as it was, the daemon
 * going away shown and retried; -1 and -j snapshots equal to /stats, a
 * pipe and TERM=dumb getting plain lines without escape sequences, and
 * an unreachable or malformed --admin refused with exit 1 and 2.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(ops_stat, .fini = harness_fini, .timeout = 120);

#define TOKEN "s3cret"
#define AUTH  "Authorization: Bearer " TOKEN "\r\n"

static int start_with_admin(struct proc *o, struct proc *d)
{
	int ap = free_port();
	char extra[256];
	snprintf(extra, sizeof(extra), "admin:\n  listen: \"127.0.0.1:%d\"\n  token: \"%s\"\n", ap,
		 TOKEN);
	start_pair_extra(o, d, extra);
	cr_assert(port_wait(ap, 3000), "admin API; log:\n%s", proc_log(d));
	return ap;
}

/* N requests on one keep-alive connection: one in ten a new URL (a miss,
 * then stored), the rest hits on the first ten. */
static void load(int port, int n, int *seq)
{
	struct conn c;
	conn_open(&c, port);
	for (int i = 0; i < n; i++, (*seq)++) {
		char path[96];
		int k = *seq % 10 == 0 ? *seq : *seq % 10;
		snprintf(path, sizeof(path), "/obj?size=512&cc=max-age%%3D3600&k=%d", k);
		struct response r;
		http_req(&c, "GET", path, NULL, &r);
		cr_assert_eq(r.status, 200, "%s: %d", path, r.status);
		response_free(&r);
	}
	conn_close(&c);
}

/* GET /stats: its JSON (malloc'd). */
static char *stats(int ap)
{
	struct response r;
	http_once(ap, "GET", "/stats", AUTH, &r);
	cr_assert_eq(r.status, 200);
	char *j = strdup(r.body);
	response_free(&r);
	return j;
}

/* tmux ARGS... on the test's own server socket; the result's stdout. */
static char *tmux(const char *sock, const char *a1, const char *a2, const char *a3, const char *a4,
		  const char *a5, const char *a6, const char *a7)
{
	char *argv[] = {"/usr/bin/tmux", "-S",	     (char *)sock, (char *)a1,
			(char *)a2,	 (char *)a3, (char *)a4,   (char *)a5,
			(char *)a6,	 (char *)a7, NULL};
	struct cmd_result r;
	run_cmd(argv, 10000, &r);
	cr_assert(r.exited && r.exit_code == 0, "tmux %s: exit %d: %s", a1, r.exit_code, r.err);
	char *out = r.out;
	r.out = NULL;
	cmd_result_free(&r);
	return out;
}

static char *pane(const char *sock)
{
	return tmux(sock, "capture-pane", "-p", "-t", "0", NULL, NULL, NULL);
}

/*
 * The table row of NAME on the screen (below the NAME VALUE ... head, so
 * not a summary line): its value and rate into *VALUE and *RATE (-1 when
 * the rate is blank). False when the row is not there.
 */
static bool row(const char *screen, const char *name, double *value, double *rate)
{
	const char *p = strstr(screen, "\nNAME ");
	size_t n = strlen(name);
	while (p && (p = strchr(p + 1, '\n'))) {
		if (strncmp(p + 1, name, n) != 0 || p[1 + n] != ' ')
			continue;
		double v, r;
		int k = sscanf(p + 1 + n, "%lf %lf", &v, &r);
		if (k < 1)
			return false;
		*value = v;
		*rate = k == 2 ? r : -1;
		return true;
	}
	return false;
}

/* What the screen shows for NAME equals /stats's number. */
static bool same(const char *screen, const char *json, const char *name)
{
	double v, r;
	return row(screen, name, &v, &r) && (long long)v == json_number(json, name, -1);
}

static void kill_tmux(const char *sock)
{
	char *argv[] = {"/usr/bin/tmux", "-S", (char *)sock, "kill-server", NULL};
	struct cmd_result r;
	run_cmd(argv, 10000, &r);
	cmd_result_free(&r);
}

Test(ops_stat, live_in_a_terminal_under_load)
{
	if (access("/usr/bin/tmux", X_OK) != 0)
		cr_skip_test("tmux is not installed");
	struct proc o, d;
	int ap = start_with_admin(&o, &d);
	int seq = 0;
	load(d.port, 200, &seq);
	char sock[PATH_MAX], cmd[PATH_MAX * 2];
	snprintf(sock, sizeof(sock), "%s/tmux.sock", test_dir());
	/* The token comes from the file too. */
	snprintf(cmd, sizeof(cmd),
		 "%s stat -c %s -i 0.5 -f requests -f 'cache_*' -f '*_bytes' -f '^backend_*'; "
		 "echo EXIT=$?; sleep 60",
		 RINGCACHE_BIN, d.cfg_path);
	free(tmux(sock, "new-session", "-d", "-x", "120", "-y", "40", cmd));
	/* Load until the screen shows requests going on (a rate above 0). */
	char *screen = NULL;
	for (int i = 0;; i++) {
		load(d.port, 100, &seq);
		free(screen);
		screen = pane(sock);
		double v, r;
		if (row(screen, "requests", &v, &r) && r > 0)
			break;
		cr_assert_lt(i, 60, "no rate after %d requests:\n%s", seq, screen);
	}
	cr_expect(strstr(screen, " ringcache stat  127.0.0.1:"), "%s", screen);
	cr_expect(strstr(screen, "hit ratio"), "%s", screen);
	cr_expect(strstr(screen, "disk        off"), "no cache.disk: %s", screen);
	cr_expect(strstr(screen, "servers     app.127.0.0.1:"), "%s", screen);
	cr_expect(!strstr(screen, "\nbackend_requests "), "-f '^backend_*': %s", screen);
	cr_expect(!strstr(screen, "\nconnections "), "-f: %s", screen);
	/* Load stopped: a refresh later the counters equal /stats's, and
	 * the rates fall to 0 (bounded waits, not sleeps). */
	load(d.port, 2500, &seq);
	const char *names[] = {"requests",     "cache_hit",	    "cache_miss",
			       "cache_stored", "client_sent_bytes", "client_received_bytes"};
	char *json = NULL;
	double t0 = now_s();
	for (;;) {
		free(json);
		json = stats(ap);
		free(screen);
		screen = pane(sock);
		bool all = true;
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			all = all && same(screen, json, names[i]);
		double v, r;
		if (all && row(screen, "requests", &v, &r) && r == 0)
			break;
		cr_assert_lt(now_s() - t0, 10, "/stats:\n%s\nscreen:\n%s", json, screen);
		sleep_ms(100);
	}
	cr_expect_geq(json_number(json, "requests", 0), 2000, "a few thousand: %s", json);
	cr_expect_gt(json_number(json, "cache_miss", 0), 100, "%s", json);
	free(json);
	/* A narrower terminal (SIGWINCH): lines cut, never wrapped onto the
	 * next, so the second row is still the requests summary. */
	free(tmux(sock, "resize-window", "-t", "0", "-x", "60", "-y", "20"));
	for (int i = 0;; i++) {
		free(screen);
		screen = pane(sock);
		const char *nl = strchr(screen, '\n');
		if (nl && !strncmp(nl + 1, "requests    ", 12) && strstr(screen, "\nNAME ") &&
		    !strstr(screen, "q quits"))
			break;
		cr_assert_lt(i, 100, "%s", screen);
		sleep_ms(50);
	}
	/* The daemon goes away: said on screen, read again, q still quits. */
	cr_assert_eq(stop_proc(&d) & 0xffff, 0);
	for (int i = 0;; i++) {
		free(screen);
		screen = pane(sock);
		if (strstr(screen, "daemon unreachable: 127.0.0.1:"))
			break;
		cr_assert_lt(i, 100, "%s", screen);
		sleep_ms(50);
	}
	free(tmux(sock, "send-keys", "-t", "0", "q", NULL, NULL, NULL));
	for (int i = 0;; i++) {
		free(screen);
		screen = pane(sock);
		if (strstr(screen, "EXIT="))
			break;
		cr_assert_lt(i, 100, "%s", screen);
		sleep_ms(50);
	}
	cr_expect(strstr(screen, "EXIT=0"), "%s", screen);
	cr_expect(!strstr(screen, "ringcache stat  "), "the screen as it was: %s", screen);
	/* The normal screen is back, with the cursor shown. */
	char *modes = tmux(sock, "display-message", "-p", "-t", "0",
			   "#{alternate_on} #{cursor_flag}", NULL, NULL);
	cr_expect_str_eq(modes, "0 1\n");
	free(modes);
	free(screen);
	kill_tmux(sock);
}

/* stat ARGS (NULL-terminated, at most 8) against the admin listener AP. */
static void stat_run(int ap, struct cmd_result *r, const char *a1, const char *a2, const char *a3)
{
	char admin[64];
	snprintf(admin, sizeof(admin), "http://127.0.0.1:%d", ap);
	char *argv[] = {RINGCACHE_BIN, "stat",	   "--admin",  admin,	   "--token",
			TOKEN,	       (char *)a1, (char *)a2, (char *)a3, NULL};
	run_cmd(argv, 10000, r);
}

/* The value on LINE's row of plain -1 output: "NAME VALUE AVG DESCRIPTION". */
static long long plain_value(const char *out, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = out; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, name, n) && p[n] == ' ')
			return strtoll(p + n, NULL, 10);
	return -1;
}

Test(ops_stat, snapshots_pipes_and_errors)
{
	struct proc o, d;
	int ap = start_with_admin(&o, &d);
	int seq = 0;
	load(d.port, 500, &seq);
	char *json = stats(ap);
	/* -1: plain lines, numbers equal to /stats's (nothing moves now). */
	struct cmd_result r;
	stat_run(ap, &r, "-1", NULL, NULL);
	cr_assert(r.exited && r.exit_code == 0, "exit %d: %s", r.exit_code, r.err);
	cr_expect(!strchr(r.out, '\033'), "no escapes: %s", r.out);
	const char *names[] = {"requests", "cache_hit", "cache_miss", "cache_objects"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		cr_expect_eq(plain_value(r.out, names[i]), json_number(json, names[i], -2),
			     "%s: %s", names[i], r.out);
	/* Bytes sent are counted when the send completes, which may be just
	 * after the client read them: between the snapshots before and after. */
	char *after = stats(ap);
	long long sent = plain_value(r.out, "client_sent_bytes");
	cr_expect(sent >= json_number(json, "client_sent_bytes", -2) &&
		      sent <= json_number(after, "client_sent_bytes", -2),
		  "client_sent_bytes %lld: %s", sent, r.out);
	free(after);
	cr_expect(strstr(r.out, "uptime_seconds "), "%s", r.out);
	cmd_result_free(&r);
	/* Not a terminal: the same as -1, and it ends. */
	stat_run(ap, &r, "-f", "cache_miss", NULL);
	cr_assert(r.exited && r.exit_code == 0, "exit %d: %s", r.exit_code, r.err);
	cr_expect(!strchr(r.out, '\033'), "%s", r.out);
	cr_expect_eq(plain_value(r.out, "cache_miss"), json_number(json, "cache_miss", -2), "%s",
		     r.out);
	cr_expect_eq(plain_value(r.out, "requests"), -1, "the filter: %s", r.out);
	cmd_result_free(&r);
	/* -j: one well-formed JSON object with the same numbers. */
	stat_run(ap, &r, "-j", NULL, NULL);
	cr_assert(r.exited && r.exit_code == 0, "exit %d: %s", r.exit_code, r.err);
	char path[PATH_MAX];
	write_test_file("stat.json", r.out, path, sizeof(path));
	char check[PATH_MAX + 256];
	snprintf(check, sizeof(check),
		 "import json,sys; j=json.load(open('%s')); c=j['counters']; "
		 "print(c['requests']['value'], c['cache_miss']['value'], "
		 "c['cache_hit']['per_second_since_start'] > 0, j['uptime_seconds'] > 0)",
		 path);
	char *py[] = {"/usr/bin/python3", "-c", check, NULL};
	struct cmd_result pr;
	run_cmd(py, 10000, &pr);
	cr_assert(pr.exited && pr.exit_code == 0, "not JSON: %s\n%s", pr.err, r.out);
	char want[128];
	snprintf(want, sizeof(want), "%lld %lld True True\n", json_number(json, "requests", -2),
		 json_number(json, "cache_miss", -2));
	cr_expect_str_eq(pr.out, want);
	cmd_result_free(&pr);
	cmd_result_free(&r);
	/* A terminal without cursor control: plain lines every interval. */
	char admin[64], line[PATH_MAX + 256];
	snprintf(admin, sizeof(admin), "http://127.0.0.1:%d", ap);
	snprintf(
	    line, sizeof(line),
	    "env TERM=dumb timeout -s INT 1.6 %s stat --admin %s --token %s -i 0.5 -f requests",
	    RINGCACHE_BIN, admin, TOKEN);
	char *sc[] = {"/usr/bin/script", "-qfec", line, "/dev/null", NULL};
	run_cmd(sc, 10000, &r);
	cr_expect(!strchr(r.out, '\033'), "TERM=dumb: %s", r.out);
	size_t frames = 0;
	for (const char *p = r.out; (p = strstr(p, "# 127.0.0.1:")); p++)
		frames++;
	cr_expect_geq(frames, 2, "%s", r.out);
	cmd_result_free(&r);
	free(json);
	/* Nothing listening: said at once, exit 1; a malformed URL: exit 2. */
	int nobody = free_port();
	stat_run(nobody, &r, "-1", NULL, NULL);
	cr_expect(r.exited && r.exit_code == 1, "exit %d", r.exit_code);
	cr_expect(strstr(r.err, "ringcache stat: 127.0.0.1:") && strstr(r.err, "refused"), "%s",
		  r.err);
	cmd_result_free(&r);
	char *bad[] = {RINGCACHE_BIN, "stat", "--admin", "nowhere", NULL};
	run_cmd(bad, 10000, &r);
	cr_expect(r.exited && r.exit_code == 2, "exit %d", r.exit_code);
	cr_expect(strstr(r.err, "ringcache stat: "), "%s", r.err);
	cmd_result_free(&r);
	/* A wrong token: the daemon's 401, exit 1. */
	char *wrong[] = {RINGCACHE_BIN, "stat", "--admin", admin, "--token", "wrong", "-1", NULL};
	run_cmd(wrong, 10000, &r);
	cr_expect(r.exited && r.exit_code == 1, "exit %d", r.exit_code);
	cr_expect(strstr(r.err, "401"), "%s", r.err);
	cmd_result_free(&r);
	assert_alive(&d);
}
