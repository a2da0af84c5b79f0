/*
 * `ringcache top` and `ringcache hist` against the real daemon and origin,
 * in a real terminal (tmux at a fixed size): a known load (300 requests to
 * one URL, 100 to another, 50 to one the origin answers with a 503) driven
 * once the screen says the stream is live, then the table on screen read
 * back: the ranking and every count exact (no record is lost at this
 * rate), the misses and 5xx views through their keys, the daemon drained
 * and started again under it (said on screen, reconnected, the window
 * kept), 'q' exiting 0; the histogram's header counts for hits and
 * misses, both characters drawn, its redrawing at a new size, Ctrl-C
 * putting the terminal back (as 'q' does for top); -1
 * printing plain text once and live frames on a pipe (no escapes), and a
 * bad query refused with its column and exit 2.
 */
#include "harness.h"

#include <pthread.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(ops_top, .fini = harness_fini, .timeout = 120);

#define URL_A "/a?cc=max-age%3D3600"
#define URL_B "/b?cc=max-age%3D3600"
#define URL_C "/c?status=503"

static int start_with_admin(struct proc *o, struct proc *d)
{
	int ap = free_port();
	char extra[256];
	snprintf(extra, sizeof(extra), "admin:\n  listen: \"127.0.0.1:%d\"\n", ap);
	start_pair_extra(o, d, extra);
	cr_assert(port_wait(ap, 3000), "admin API; log:\n%s", proc_log(d));
	return ap;
}

/* N pipelined GETs of PATH on one connection, each answered WANT. One at a
 * time in flight would do too, but batches keep the test short; a batch
 * goes out in one send (Nagle). */
static void drive(int port, const char *path, int n, int want)
{
	struct conn c;
	conn_open(&c, port);
	char one[256];
	int ol = snprintf(one, sizeof(one), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
	static char many[32 * 256];
	for (int done = 0; done < n;) {
		int batch = n - done < 32 ? n - done : 32;
		size_t len = 0;
		for (int i = 0; i < batch; i++, len += (size_t)ol)
			memcpy(many + len, one, (size_t)ol);
		cr_assert_eq(conn_send(&c, many, len), 0);
		for (int i = 0; i < batch; i++) {
			struct response r;
			cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s: request %d", path,
				     done + i);
			cr_assert_eq(r.status, want, "%s: %d", path, r.status);
			response_free(&r);
		}
		done += batch;
	}
	conn_close(&c);
}

/* The known load: 450 requests, 398 hits, 52 misses (two first fetches
 * and the 503s, which are not stored), 50 5xx. */
static void drive_load(int port)
{
	drive(port, URL_A, 300, 200);
	drive(port, URL_B, 100, 200);
	drive(port, URL_C, 50, 503);
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

/* Capture the pane until it holds every one of WANT (NULL-terminated),
 * at most 15 s; the last capture (malloc'd). */
static char *pane_wait(const char *sock, const char *const *want)
{
	double until = now_s() + 15;
	for (;;) {
		char *p = pane(sock);
		bool all = true;
		for (const char *const *w = want; *w && all; w++)
			all = strstr(p, *w) != NULL;
		if (all)
			return p;
		cr_assert_lt(now_s(), until, "waiting for \"%s\"...; pane:\n%s", want[0], p);
		free(p);
		sleep_ms(50);
	}
}

static void kill_tmux(const char *sock)
{
	char *argv[] = {"/usr/bin/tmux", "-S", (char *)sock, "kill-server", NULL};
	struct cmd_result r;
	run_cmd(argv, 10000, &r);
	cmd_result_free(&r);
}

/* A table row: the counts of the line ending in URL, and its line number;
 * -1 when no line shows it. */
struct row {
	int line;
	double rate;
	unsigned long long req, miss, e5xx;
	double hitp;
};

static struct row row_of(const char *text, const char *url)
{
	struct row r = {.line = -1};
	int ln = 0;
	for (const char *p = text; *p; ln++) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		char *l = strndup(p, n);
		/* Trailing blanks from the pane. */
		for (size_t k = strlen(l); k && l[k - 1] == ' '; k--)
			l[k - 1] = '\0';
		/* The URL column: the host ("t", the test's) and the target. */
		size_t ll = strlen(l);
		char want[300];
		snprintf(want, sizeof(want), "  t%s", url);
		if (ll >= strlen(want) && strcmp(l + ll - strlen(want), want) == 0 &&
		    sscanf(l, "%lf %llu %lf%% %llu %llu", &r.rate, &r.req, &r.hitp, &r.miss,
			   &r.e5xx) == 5)
			r.line = ln;
		free(l);
		if (r.line >= 0 || !e)
			break;
		p = e + 1;
	}
	return r;
}

static void expect_row(const char *text, const char *url, unsigned long long req,
		       unsigned long long miss, unsigned long long e5xx)
{
	struct row r = row_of(text, url);
	cr_expect_geq(r.line, 0, "no row for %s:\n%s", url, text);
	cr_expect_eq(r.req, req, "%s: requests %llu, not %llu:\n%s", url, r.req, req, text);
	cr_expect_eq(r.miss, miss, "%s: misses %llu, not %llu:\n%s", url, r.miss, miss, text);
	cr_expect_eq(r.e5xx, e5xx, "%s: 5xx %llu, not %llu:\n%s", url, r.e5xx, e5xx, text);
}

/* WHAT (top or hist) in a 150 x 40 pane; after it, its exit status as
 * NAME-EXIT=N and whether the terminal was put back (line editing and
 * echo: "TTY: icanon echo"). The shell traps SIGINT, so a Ctrl-C ends
 * the command only (a trap, unlike an ignored signal, is not inherited). */
static void start_in_tmux(const char *sock, const char *what, const char *cfg, const char *name)
{
	char cmd[PATH_MAX * 2 + 256];
	snprintf(cmd, sizeof(cmd),
		 "trap true INT; %s %s -c %s; echo %s-EXIT=$?; "
		 "echo TTY: $(stty -a | tr ' ' '\\n' | grep -x -e icanon -e echo); sleep 60",
		 RINGCACHE_BIN, what, cfg, name);
	free(tmux(sock, "new-session", "-d", "-x", "150", "-y", "40", cmd));
}

Test(ops_top, top_in_a_terminal)
{
	if (access("/usr/bin/tmux", X_OK) != 0)
		cr_skip_test("tmux is not installed");
	struct proc o, d;
	start_with_admin(&o, &d);
	char sock[PATH_MAX];
	snprintf(sock, sizeof(sock), "%s/tmux.sock", test_dir());
	start_in_tmux(sock, "top", d.cfg_path, "TOP");
	/* Live: the stream is open, so every request from now on is counted. */
	free(pane_wait(sock, (const char *const[]){" live ", "view: requests", NULL}));
	drive_load(d.port);
	char *p = pane_wait(sock, (const char *const[]){"requests 450 ", NULL});
	/* The rows may be a frame behind the totals line: wait for them too. */
	free(p);
	p = pane_wait(sock, (const char *const[]){"  t" URL_C, "requests 450 ", NULL});
	cr_expect(strstr(p, "hits 398  misses 52  5xx 50  urls 3"), "%s", p);
	cr_expect(strstr(p, "lost 0"), "%s", p);
	expect_row(p, URL_A, 300, 1, 0);
	expect_row(p, URL_B, 100, 1, 0);
	expect_row(p, URL_C, 50, 50, 50);
	struct row a = row_of(p, URL_A), b = row_of(p, URL_B), c = row_of(p, URL_C);
	cr_expect(a.line < b.line && b.line < c.line, "ranking by requests:\n%s", p);
	free(p);
	/* Misses: the 503s first, then the two first fetches (more requests first). */
	free(tmux(sock, "send-keys", "-t", "0", "m", NULL, NULL, NULL));
	p = pane_wait(sock, (const char *const[]){"view: misses", "MISS/s", NULL});
	a = row_of(p, URL_A);
	b = row_of(p, URL_B);
	c = row_of(p, URL_C);
	cr_expect(c.line >= 0 && c.line < a.line && a.line < b.line, "ranking by misses:\n%s", p);
	expect_row(p, URL_C, 50, 50, 50);
	free(p);
	/* 5xx: only the URL that had any. */
	free(tmux(sock, "send-keys", "-t", "0", "e", NULL, NULL, NULL));
	p = pane_wait(sock, (const char *const[]){"view: 5xx", "5XX/s", NULL});
	expect_row(p, URL_C, 50, 50, 50);
	cr_expect_eq(row_of(p, URL_A).line, -1, "%s", p);
	cr_expect_eq(row_of(p, URL_B).line, -1, "%s", p);
	free(p);
	/* Tab walks back to the requests view. */
	free(tmux(sock, "send-keys", "-t", "0", "Tab", NULL, NULL, NULL));
	free(pane_wait(sock, (const char *const[]){"view: requests", NULL}));
	/* The daemon drains and comes back: the screen says so, top stays,
	 * reconnects and goes on counting into the same window. */
	char *yaml = NULL;
	size_t yl = 0;
	FILE *f = fopen(d.cfg_path, "r");
	cr_assert_not_null(f);
	cr_assert_eq(getdelim(&yaml, &yl, '\0', f) > 0, true);
	fclose(f);
	int st = stop_proc(&d);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the drain: status %d", st);
	free(pane_wait(sock, (const char *const[]){"NO STREAM: ", "requests 450 ", NULL}));
	struct proc d2;
	memset(&d2, 0, sizeof(d2));
	d2.port = d.port;
	start_ringcache(&d2, yaml);
	free(yaml);
	free(pane_wait(sock, (const char *const[]){" live ", NULL}));
	drive(d2.port, URL_B, 10, 200);
	p = pane_wait(sock, (const char *const[]){"requests 460 ", NULL});
	cr_expect(strstr(p, "hits 407  misses 53"), "a new daemon, an empty cache: %s", p);
	expect_row(p, URL_B, 110, 2, 0);
	free(p);
	free(tmux(sock, "send-keys", "-t", "0", "q", NULL, NULL, NULL));
	p = pane_wait(sock, (const char *const[]){"TOP-EXIT=0", "TTY: icanon echo", NULL});
	cr_expect(!strstr(p, "view: requests"), "the alternate screen is gone:\n%s", p);
	free(p);
	kill_tmux(sock);
	assert_alive(&d2);
}

Test(ops_top, hist_in_a_terminal)
{
	if (access("/usr/bin/tmux", X_OK) != 0)
		cr_skip_test("tmux is not installed");
	struct proc o, d;
	start_with_admin(&o, &d);
	char sock[PATH_MAX];
	snprintf(sock, sizeof(sock), "%s/tmux.sock", test_dir());
	start_in_tmux(sock, "hist", d.cfg_path, "HIST");
	free(pane_wait(sock, (const char *const[]){" live ", "hits 0 ", NULL}));
	drive_load(d.port);
	char *p = pane_wait(sock, (const char *const[]){"hits 398 ", "misses 52 ", NULL});
	cr_expect(strstr(p, "lost 0"), "%s", p);
	/* The drawing: the lines between the two header lines and the ruler. */
	const char *g = strchr(p, '\n');
	g = g ? strchr(g + 1, '\n') : NULL;
	const char *ruler = strstr(p, "+-");
	cr_assert(g && ruler && ruler > g, "%s", p);
	cr_expect(memchr(g, '|', (size_t)(ruler - g)), "hits drawn:\n%s", p);
	cr_expect(memchr(g, '#', (size_t)(ruler - g)), "misses drawn:\n%s", p);
	cr_expect(strstr(p, "1us") && strstr(p, "1ms") && strstr(p, "10s"), "%s", p);
	free(p);
	/* The drawing follows the terminal's size (SIGWINCH): the ruler is a
	 * column short of the width, 149 then 99. */
	char ruler150[160], ruler100[110];
	memset(ruler150, '-', 149);
	ruler150[149] = '\0';
	memset(ruler100, '-', 99);
	ruler100[99] = '\0';
	for (int i = 0; i <= 7; i++) {
		ruler150[i * 149 / 7 - (i == 7)] = '+';
		ruler100[i * 99 / 7 - (i == 7)] = '+';
	}
	p = pane(sock);
	cr_expect(strstr(p, ruler150), "%s\n%s", ruler150, p);
	free(p);
	free(tmux(sock, "resize-window", "-t", "0", "-x", "100", "-y", "30"));
	free(pane_wait(sock, (const char *const[]){ruler100, "hits 398 ", NULL}));
	/* Ctrl-C: the terminal put back before the signal ends it (128 + 2). */
	free(tmux(sock, "send-keys", "-t", "0", "C-c", NULL, NULL, NULL));
	free(pane_wait(sock, (const char *const[]){"HIST-EXIT=130", "TTY: icanon echo", NULL}));
	kill_tmux(sock);
	assert_alive(&d);
}

struct cli_run {
	char **argv;
	struct cmd_result r;
	volatile int done;
};

static void *cli_thread(void *arg)
{
	struct cli_run *c = arg;
	run_cmd(c->argv, 20000, &c->r);
	c->done = 1;
	return NULL;
}

/* Run ARGV while driving requests to PATH until it exits: it cannot be
 * known from outside when it has subscribed. */
static void run_with_traffic(char **argv, int port, const char *path, int want,
			     struct cmd_result *out)
{
	struct cli_run c = {.argv = argv};
	pthread_t t;
	pthread_create(&t, NULL, cli_thread, &c);
	while (!c.done) {
		drive(port, path, 5, want);
		sleep_ms(20);
	}
	pthread_join(t, NULL);
	*out = c.r;
}

Test(ops_top, once_plain_and_bad_query)
{
	struct proc o, d;
	int ap = start_with_admin(&o, &d);
	char *argv[] = {RINGCACHE_BIN, "top", "-c", d.cfg_path,		  "-1",
			"-d",	       "2",   "-q", "target ~ \"^/one\"", NULL};
	struct cmd_result r;
	run_with_traffic(argv, d.port, "/one?cc=max-age%3D60", 200, &r);
	cr_expect(r.exited && r.exit_code == 0, "exit %d: %s", r.exit_code, r.err);
	cr_expect(strstr(r.out, "ringcache top  127.0.0.1:"), "%s", r.out);
	cr_expect(strstr(r.out, "view: requests\n"), "no keys on a pipe: %s", r.out);
	struct row one = row_of(r.out, "/one?cc=max-age%3D60");
	cr_expect_geq(one.line, 0, "%s", r.out);
	cr_expect_gt(one.req, 0, "%s", r.out);
	cr_expect(!strchr(r.out, '\033'), "no escapes on a pipe: %s", r.out);
	cmd_result_free(&r);
	char *argv2[] = {RINGCACHE_BIN, "hist", "-c", d.cfg_path, "-1", "-d", "2", NULL};
	run_with_traffic(argv2, d.port, "/two?cc=max-age%3D60", 200, &r);
	cr_expect(r.exited && r.exit_code == 0, "exit %d: %s", r.exit_code, r.err);
	cr_expect(strstr(r.out, "ringcache hist  127.0.0.1:"), "%s", r.out);
	long long hits = -1;
	const char *h = strstr(r.out, "\nhits ");
	if (h)
		hits = atoll(h + 6);
	cr_expect_gt(hits, 0, "%s", r.out);
	cr_expect(strchr(r.out, '|') && strstr(r.out, "+---"), "%s", r.out);
	cr_expect(!strchr(r.out, '\033'), "no escapes on a pipe: %s", r.out);
	cmd_result_free(&r);
	/* A bad query: its column, exit 2, nothing asked of the daemon. */
	char admin[64];
	snprintf(admin, sizeof(admin), "http://127.0.0.1:%d", ap);
	char *argv3[] = {RINGCACHE_BIN, "top", "--admin", admin, "-q", "status >= abc", NULL};
	run_cmd(argv3, 10000, &r);
	cr_expect(r.exited && r.exit_code == 2, "exit %d: %s", r.exit_code, r.err);
	cr_expect(strstr(r.err, "ringcache top: bad query at column 11"), "%s", r.err);
	cmd_result_free(&r);
	char *argv4[] = {RINGCACHE_BIN, "hist", "--admin", admin, "-w", "0", NULL};
	run_cmd(argv4, 10000, &r);
	cr_expect(r.exited && r.exit_code == 2, "exit %d: %s", r.exit_code, r.err);
	cmd_result_free(&r);
	/* Live on a pipe: a plain frame a second, no escapes (it runs until
	 * the timeout kills it). */
	char *argv6[] = {RINGCACHE_BIN, "top", "--admin", admin, NULL};
	run_cmd(argv6, 3500, &r);
	cr_expect(r.timed_out, "exit %d: %s", r.exit_code, r.err);
	int frames = 0;
	for (const char *f = r.out; (f = strstr(f, "ringcache top  ")); f++)
		frames++;
	cr_expect_geq(frames, 2, "%s", r.out);
	cr_expect(!strchr(r.out, '\033'), "no escapes on a pipe: %s", r.out);
	cmd_result_free(&r);
	/* Nobody there, with -1: exit 1, saying so. */
	char nobody[64];
	snprintf(nobody, sizeof(nobody), "http://127.0.0.1:%d", free_port());
	char *argv5[] = {RINGCACHE_BIN, "top", "--admin", nobody, "-1", "-d", "1", NULL};
	run_cmd(argv5, 10000, &r);
	cr_expect(r.exited && r.exit_code == 1, "exit %d: %s", r.exit_code, r.err);
	cr_expect(strstr(r.err, "ringcache top: "), "%s", r.err);
	cmd_result_free(&r);
	/* Live, it says so and keeps trying. */
	char *argv7[] = {RINGCACHE_BIN, "hist", "--admin", nobody, NULL};
	run_cmd(argv7, 2500, &r);
	cr_expect(r.timed_out, "exit %d: %s", r.exit_code, r.err);
	cr_expect(strstr(r.out, "NO STREAM: ") && strstr(r.out, "retrying every second"), "%s",
		  r.out);
	cmd_result_free(&r);
	assert_alive(&d);
}
