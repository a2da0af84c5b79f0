/*
 * GET /log and `ringcache log` against the real daemon and origin: the
 * records of requests driven over sockets (fields, the backend exchange,
 * headers named by the subscriber), each subscriber's own filter, SSE, a
 * subscriber that never reads (requests go on, its loss is reported when
 * it reads again), the subscriber cap and subscribers that vanish, bad
 * queries refused by the daemon itself with their column, the CLI (exit 2
 * and the column for a bad query; records with -c FILE and a token), and
 * `ringcache log` in a real terminal (tmux).
 */
#include "harness.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

TestSuite(ops_log, .fini = harness_fini, .timeout = 120);

#define OBJ "/obj?size=1024&cc=max-age%3D3600"

static int start_with_admin(struct proc *o, struct proc *d, const char *more)
{
	int ap = free_port();
	char extra[1024];
	snprintf(extra, sizeof(extra), "admin:\n  listen: \"127.0.0.1:%d\"\n%s", ap,
		 more ? more : "");
	start_pair_extra(o, d, extra);
	cr_assert(port_wait(ap, 3000), "admin API; log:\n%s", proc_log(d));
	return ap;
}

/* A subscriber: the connection and the body decoded so far. */
struct sub {
	struct conn c;
	int status;
	char *head;
	char *text; /* decoded body, NUL-terminated */
	size_t tlen, tcap;
	size_t chunk_left; /* of the current chunk */
	bool done;
};

static void text_add(struct sub *s, const char *p, size_t n)
{
	if (s->tlen + n + 1 > s->tcap) {
		s->tcap = (s->tlen + n + 1) * 2;
		s->text = realloc(s->text, s->tcap);
		cr_assert_not_null(s->text);
	}
	memcpy(s->text + s->tlen, p, n);
	s->tlen += n;
	s->text[s->tlen] = '\0';
}

/* Decode what has arrived (chunked framing) into s->text. */
static void sub_decode(struct sub *s)
{
	struct conn *c = &s->c;
	for (;;) {
		char *p = c->buf + c->off;
		size_t n = c->len - c->off;
		if (s->chunk_left) {
			size_t k = n < s->chunk_left ? n : s->chunk_left;
			if (!k)
				return;
			text_add(s, p, k);
			c->off += k;
			s->chunk_left -= k;
			continue;
		}
		char *nl = memchr(p, '\n', n);
		if (!nl)
			return;
		if (nl == p || (nl == p + 1 && p[0] == '\r')) { /* the CRLF after data */
			c->off += (size_t)(nl - p) + 1;
			continue;
		}
		unsigned long size = strtoul(p, NULL, 16);
		c->off += (size_t)(nl - p) + 1;
		if (size == 0) {
			s->done = true;
			return;
		}
		s->chunk_left = size;
	}
}

/* Open GET PATH on the admin port; the head read, the status in s->status. */
static void sub_open(struct sub *s, int ap, const char *path, const char *extra)
{
	memset(s, 0, sizeof(*s));
	conn_open(&s->c, ap);
	conn_sendf(&s->c, "GET %s HTTP/1.1\r\nHost: admin\r\n%s\r\n", path, extra ? extra : "");
	for (;;) {
		char *e = memmem(s->c.buf + s->c.off, s->c.len - s->c.off, "\r\n\r\n", 4);
		if (e) {
			size_t hl = (size_t)(e - (s->c.buf + s->c.off)) + 4;
			s->head = strndup(s->c.buf + s->c.off, hl);
			s->c.off += hl;
			s->status = atoi(s->head + 9);
			break;
		}
		cr_assert_gt(conn_fill(&s->c, 5000), 0, "no head from /log");
	}
	if (s->status != 200) {
		/* A plain answer with a Content-Length: the rest is its body. */
		conn_fill(&s->c, 1000);
		text_add(s, s->c.buf + s->c.off, s->c.len - s->c.off);
		s->c.off = s->c.len;
	}
}

static size_t count_lines(const char *t, const char *with)
{
	size_t n = 0;
	for (const char *p = t; p && *p;) {
		const char *e = strchr(p, '\n');
		if (!e)
			break;
		if (!with || memmem(p, (size_t)(e - p), with, strlen(with)))
			n++;
		p = e + 1;
	}
	return n;
}

/* Read until N lines containing WITH (NULL: any) are in. */
static void sub_wait(struct sub *s, size_t n, const char *with)
{
	sub_decode(s);
	while (count_lines(s->text, with) < n) {
		int r = conn_fill(&s->c, 5000);
		cr_assert_gt(r, 0, "stream: %zu of %zu lines with %s:\n%s",
			     count_lines(s->text, with), n, with ? with : "-",
			     s->text ? s->text : "");
		sub_decode(s);
	}
}

static void sub_close(struct sub *s)
{
	conn_close(&s->c);
	free(s->head);
	free(s->text);
}

/* The line of S's text containing WITH (malloc'd), or NULL. */
static char *line_with(const struct sub *s, const char *with)
{
	for (const char *p = s->text; p && *p;) {
		const char *e = strchr(p, '\n');
		if (!e)
			break;
		if (memmem(p, (size_t)(e - p), with, strlen(with)))
			return strndup(p, (size_t)(e - p));
		p = e + 1;
	}
	return NULL;
}

static void get(int port, const char *path, const char *extra, int want)
{
	struct response r;
	http_once(port, "GET", path, extra, &r);
	cr_assert_eq(r.status, want, "%s: %d", path, r.status);
	response_free(&r);
}

Test(ops_log, records_and_filters)
{
	struct proc o, d;
	int ap = start_with_admin(&o, &d, NULL);
	struct sub all, hits, errs, sse;
	sub_open(&all, ap, "/log?hdr=user-agent&hdr=X-Foo", NULL);
	sub_open(&hits, ap,
		 "/log?format=compact&q=cache%20%3D%3D%20hit%20and%20target%20~%20%22%5E%2Fobj%22",
		 NULL);
	sub_open(&errs, ap, "/log?q=status%20%3E%3D%20500&format=ncsa&group=1", NULL);
	sub_open(&sse, ap, "/log?q=hdr.x-foo%20%3D%3D%20bar", "Accept: text/event-stream\r\n");
	cr_assert_eq(all.status, 200, "%s", all.head);
	cr_assert_eq(hits.status, 200);
	cr_assert_eq(errs.status, 200);
	cr_assert_eq(sse.status, 200);
	cr_expect(strstr(all.head, "Transfer-Encoding: chunked"), "%s", all.head);
	cr_expect(strstr(all.head, "application/x-ndjson"), "%s", all.head);
	cr_expect(strstr(sse.head, "text/event-stream"), "%s", sse.head);

	get(d.port, OBJ, "User-Agent: t-miss\r\n", 200);
	get(d.port, OBJ, "User-Agent: t-hit\r\nX-Foo: bar\r\n", 200);
	get(d.port, "/x?status=503", "User-Agent: t-err\r\n", 503);

	sub_wait(&all, 3, NULL);
	char *miss = line_with(&all, "\"t-miss\"");
	char *hit = line_with(&all, "\"t-hit\"");
	char *err = line_with(&all, "\"t-err\"");
	cr_assert(miss && hit && err, "%s", all.text);
	cr_expect(strstr(miss, "\"method\":\"GET\""), "%s", miss);
	cr_expect(strstr(miss, "\"target\":\"" OBJ "\""), "%s", miss);
	cr_expect(strstr(miss, "\"status\":200,\"cache\":\"miss\""), "%s", miss);
	cr_expect(strstr(miss, "\"cache_status\":\"ringcache; fwd=uri-miss"), "%s", miss);
	cr_expect(strstr(miss, "\"client\":\"127.0.0.1\""), "%s", miss);
	cr_expect(strstr(miss, "\"backend\":{\"name\":\"app\",\"server\":\"127.0.0.1:"), "%s",
		  miss);
	cr_expect(strstr(miss, "\"attempts\":1"), "%s", miss);
	cr_expect(strstr(miss, "\"hdr\":{\"user-agent\":\"t-miss\",\"x-foo\":null}"), "%s", miss);
	cr_expect(json_number(miss, "bytes_out", 0) > 1024, "%s", miss);
	cr_expect(json_number(miss, "bytes_in", 0) > 20, "%s", miss);
	cr_expect(json_number(miss, "duration_us", -1) >= json_number(miss, "ttfb_us", -1), "%s",
		  miss);
	cr_expect(strstr(hit, "\"cache\":\"hit\""), "%s", hit);
	cr_expect(strstr(hit, "\"cache_status\":\"ringcache; hit"), "%s", hit);
	cr_expect(strstr(hit, "\"backend\":null"), "%s", hit);
	cr_expect(strstr(hit, "\"x-foo\":\"bar\""), "%s", hit);
	cr_expect(strstr(err, "\"status\":503,\"cache\":\"pass\"") ||
		      strstr(err, "\"status\":503,\"cache\":\"miss\""),
		  "%s", err);
	/* Each filter, applied by the daemon: one line each. */
	sub_wait(&hits, 1, NULL);
	sub_wait(&errs, 1, NULL);
	sub_wait(&sse, 1, "data: ");
	get(d.port, "/end", "User-Agent: t-end\r\n", 200); /* matches none of the three */
	sub_wait(&all, 4, NULL);
	get(d.port, OBJ, "User-Agent: t-hit2\r\n", 200);
	get(d.port, "/x?status=500", "User-Agent: t-err2\r\n", 500);
	sub_wait(&hits, 2, NULL);
	sub_wait(&errs, 4, NULL); /* two records, each with its exchange line */
	cr_expect_eq(count_lines(hits.text, " 200 hit "), 2, "%s", hits.text);
	cr_expect_eq(count_lines(hits.text, "/end"), 0, "%s", hits.text);
	cr_expect_eq(count_lines(errs.text, "\" 503 "), 1, "%s", errs.text);
	cr_expect_eq(count_lines(errs.text, "\" 500 "), 1, "%s", errs.text);
	cr_expect_eq(count_lines(errs.text, "    backend app 127.0.0.1:"), 2, "%s", errs.text);
	cr_expect(strstr(errs.text, "\"t-err\""), "ncsa carries the user agent: %s", errs.text);
	cr_expect_eq(count_lines(sse.text, "data: {"), 1, "%s", sse.text);
	free(miss);
	free(hit);
	free(err);
	sub_close(&all);
	sub_close(&hits);
	sub_close(&errs);
	sub_close(&sse);
	assert_alive(&d);
}

/* Pipelined GETs of OBJ on one connection, N of them, all answered. */
static void drive(int port, int n)
{
	struct conn c;
	conn_open(&c, port);
	/* A batch goes out in one send: 64 small ones would each wait on
	 * the peer's delayed ACK (Nagle), which made this test take minutes. */
	static const char one[] = "GET " OBJ " HTTP/1.1\r\nHost: t\r\n\r\n";
	static char many[64 * sizeof(one)];
	for (int done = 0; done < n;) {
		int batch = n - done < 64 ? n - done : 64;
		size_t len = 0;
		for (int i = 0; i < batch; i++, len += sizeof(one) - 1)
			memcpy(many + len, one, sizeof(one) - 1);
		many[len] = '\0';
		conn_send_str(&c, many);
		for (int i = 0; i < batch; i++) {
			struct response r;
			cr_assert_eq(read_response(&c, &r, 0), READ_OK, "request %d", done + i);
			cr_assert_eq(r.status, 200);
			response_free(&r);
		}
		done += batch;
	}
	conn_close(&c);
}

Test(ops_log, stuck_subscriber_loses_records_and_is_told)
{
	struct proc o, d;
	int ap = start_with_admin(&o, &d, NULL);
	struct sub stuck, live;
	sub_open(&stuck, ap, "/log", NULL);
	cr_assert_eq(stuck.status, 200);
	/* Default socket buffers: 40,000 records (~26 MB) are far more than
	 * they and the rings hold. A tiny SO_RCVBUF would make the read-back
	 * below trickle at 8 KiB per 200 ms zero-window probe (minutes). */
	sub_open(&live, ap, "/log?format=compact&q=status%20%3D%3D%20404", NULL);
	/* Far more records than the rings and the socket buffers hold, while
	 * the stuck one reads nothing: every request is answered. */
	drive(d.port, 40000);
	get(d.port, "/x?status=404", NULL, 404);
	sub_wait(&live, 1, " 404 ");
	/* Now it reads: records, then the loss, counted. */
	sub_wait(&stuck, 1, "{\"lost\":");
	char *l = line_with(&stuck, "{\"lost\":");
	cr_assert(l);
	long long lost = json_number(l, "lost", 0), total = json_number(l, "lost_total", 0);
	cr_expect_gt(lost, 0, "%s", l);
	cr_expect_geq(total, lost, "%s", l);
	free(l);
	assert_alive(&d);
	sub_close(&stuck);
	sub_close(&live);
	/* The daemon says how many it lost when the stream ended. */
	drive(d.port, 10);
	assert_alive(&d);
}

Test(ops_log, cap_garbage_and_vanishing_subscribers)
{
	struct proc o, d;
	int ap = start_with_admin(&o, &d, NULL);
	enum { N = 64 };
	static struct sub subs[N];
	for (int i = 0; i < N; i++) {
		sub_open(&subs[i], ap, "/log?format=compact", NULL);
		cr_assert_eq(subs[i].status, 200, "subscriber %d", i);
	}
	struct sub over;
	sub_open(&over, ap, "/log", NULL);
	cr_expect_eq(over.status, 503);
	cr_expect(over.text && strstr(over.text, "too many log subscribers (at most 64)"), "%s",
		  over.text ? over.text : "");
	sub_close(&over);
	/* Half of them go away mid-stream, some with a reset; some send
	 * garbage the daemon must ignore. */
	for (int i = 0; i < N / 2; i++) {
		if (i % 2) {
			struct linger lg = {1, 0};
			setsockopt(subs[i].c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		sub_close(&subs[i]);
	}
	for (int i = N / 2; i < N / 2 + 8; i++)
		conn_send_str(&subs[i].c, "\x01\x02 garbage GET / HTTP/1.1\r\n\r\n");
	drive(d.port, 200);
	for (int i = N / 2; i < N; i++)
		sub_wait(&subs[i], 200, " 200 ");
	/* Their places are free again, once the daemon noticed (bounded). */
	struct sub again;
	for (int tries = 0;; tries++) {
		sub_open(&again, ap, "/log", NULL);
		if (again.status == 200)
			break;
		sub_close(&again);
		cr_assert_lt(tries, 250, "the places of closed subscribers never came back");
		sleep_ms(20);
	}
	sub_close(&again);
	/* Bad requests: a method, parameters, a query the daemon parses again. */
	struct response r;
	http_once(ap, "POST", "/log", "Content-Length: 0\r\n", &r);
	cr_expect_eq(r.status, 405);
	response_free(&r);
	http_once(ap, "GET", "/log?format=xml", NULL, &r);
	cr_expect_eq(r.status, 400);
	response_free(&r);
	http_once(ap, "GET", "/log?nope=1", NULL, &r);
	cr_expect_eq(r.status, 400);
	response_free(&r);
	http_once(ap, "GET", "/log?q=status%20%3E%3D%20abc", NULL, &r);
	cr_expect_eq(r.status, 400);
	cr_expect(strstr(r.body, "\"column\": 11"), "%s", r.body);
	response_free(&r);
	http_once(ap, "GET",
		  "/log?q=%28%28%28%28%28%28%28%28%28%28%28%28%28%28%28%28%28%28%28%28"
		  "%28%28%28%28%28%28%28%28%28%28%28%28%28%28%28",
		  NULL, &r);
	cr_expect_eq(r.status, 400);
	cr_expect(strstr(r.body, "nested"), "%s", r.body);
	response_free(&r);
	http_once(ap, "GET", "/log?q=target%20~%20%22%28%5B%22%00%ff", NULL, &r);
	cr_expect_eq(r.status, 400);
	response_free(&r);
	for (int i = N / 2; i < N; i++)
		sub_close(&subs[i]);
	drive(d.port, 10);
	assert_alive(&d);
}

Test(ops_log, cli_bad_query_exit_2_with_column)
{
	struct proc o, d;
	int ap = start_with_admin(&o, &d, NULL);
	char admin[64];
	snprintf(admin, sizeof(admin), "http://127.0.0.1:%d", ap);
	char *argv[] = {RINGCACHE_BIN, "log",
			"--admin",     admin,
			"-q",	       "status >= 500 or (cache == \"miss\" and ttfb > 200ms",
			NULL};
	struct cmd_result r;
	run_cmd(argv, 10000, &r);
	cr_expect(r.exited && r.exit_code == 2, "exit %d: %s", r.exit_code, r.err);
	cr_expect(strstr(r.err, "bad query at column 51: missing ')'"), "%s", r.err);
	cmd_result_free(&r);
	char *argv2[] = {RINGCACHE_BIN, "log", "--admin", admin, "-q", "ttfb > 5parsecs", NULL};
	run_cmd(argv2, 10000, &r);
	cr_expect(r.exited && r.exit_code == 2, "exit %d: %s", r.exit_code, r.err);
	cr_expect(strstr(r.err, "column 9: unknown unit"), "%s", r.err);
	cmd_result_free(&r);
	char *argv3[] = {RINGCACHE_BIN, "log", "-o", "xml", "--admin", admin, NULL};
	run_cmd(argv3, 10000, &r);
	cr_expect(r.exited && r.exit_code == 2, "exit %d: %s", r.exit_code, r.err);
	cmd_result_free(&r);
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

/* Run ARGV while driving hits to PORT until it exits (bounded by its own
 * timeout): it cannot be known from outside when it has subscribed. */
static void run_cli_with_traffic(char **argv, int port, const char *path, struct cmd_result *out)
{
	struct cli_run c = {.argv = argv};
	pthread_t t;
	pthread_create(&t, NULL, cli_thread, &c);
	while (!c.done) {
		get(port, path, "User-Agent: cli-test\r\n", 200);
		sleep_ms(20);
	}
	pthread_join(t, NULL);
	*out = c.r;
}

Test(ops_log, cli_streams_with_config_and_token)
{
	struct proc o, d;
	int ap = start_with_admin(&o, &d, "  token: \"s3cret\"\n");
	struct response resp;
	http_once(ap, "GET", "/log", NULL, &resp);
	cr_expect_eq(resp.status, 401, "the stream is behind the token too");
	response_free(&resp);
	get(d.port, OBJ, NULL, 200);
	char *argv[] = {RINGCACHE_BIN, "log",
			"-c",	       d.cfg_path,
			"-n",	       "3",
			"-o",	       "json",
			"-q",	       "cache == hit and hdr.user-agent == \"cli-test\"",
			NULL};
	struct cmd_result r;
	run_cli_with_traffic(argv, d.port, OBJ, &r);
	cr_expect(r.exited && r.exit_code == 0, "exit %d: %s", r.exit_code, r.err);
	cr_expect_eq(count_lines(r.out, "\"cache\":\"hit\""), 3, "%s", r.out);
	cr_expect_eq(count_lines(r.out, "\"user-agent\":\"cli-test\""), 3, "%s", r.out);
	cmd_result_free(&r);
	/* Compact lines, the exchange under its request (-g request). */
	char *argv2[] = {RINGCACHE_BIN, "log",	   "-c", d.cfg_path,	  "-n", "1",
			 "-g",		"request", "-q", "cache == miss", NULL};
	char path[64];
	static int seq;
	struct cli_run c = {.argv = argv2};
	pthread_t t;
	pthread_create(&t, NULL, cli_thread, &c);
	while (!c.done) {
		snprintf(path, sizeof(path), "/m%d?cc=max-age%%3D60", seq++);
		get(d.port, path, NULL, 200);
		sleep_ms(20);
	}
	pthread_join(t, NULL);
	cr_expect(c.r.exited && c.r.exit_code == 0, "exit %d: %s", c.r.exit_code, c.r.err);
	cr_expect_eq(count_lines(c.r.out, " 200 miss "), 1, "%s", c.r.out);
	cr_expect_eq(count_lines(c.r.out, "    backend app 127.0.0.1:"), 1, "%s", c.r.out);
	cmd_result_free(&c.r);
	/* A wrong token: the daemon's 401, exit 1. */
	char admin[64];
	snprintf(admin, sizeof(admin), "http://127.0.0.1:%d", ap);
	char *argv3[] = {RINGCACHE_BIN, "log", "--admin", admin, "--token", "wrong", NULL};
	run_cmd(argv3, 10000, &r);
	cr_expect(r.exited && r.exit_code == 1, "exit %d: %s", r.exit_code, r.err);
	cr_expect(strstr(r.err, "401"), "%s", r.err);
	cmd_result_free(&r);
	assert_alive(&d);
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

Test(ops_log, cli_in_a_terminal)
{
	if (access("/usr/bin/tmux", X_OK) != 0)
		cr_skip_test("tmux is not installed");
	struct proc o, d;
	int ap = start_with_admin(&o, &d, NULL);
	char sock[PATH_MAX], cmd[PATH_MAX + 256];
	snprintf(sock, sizeof(sock), "%s/tmux.sock", test_dir());
	snprintf(cmd, sizeof(cmd),
		 "%s log --admin http://127.0.0.1:%d -g request -q 'target ~ "
		 "\"^/tty[0-9]+\\\\?\"'; sleep 60",
		 RINGCACHE_BIN, ap);
	free(tmux(sock, "new-session", "-d", "-x", "160", "-y", "40", cmd));
	/* Misses on new URLs until the pane shows one (the command may not
	 * have subscribed yet; bounded), then hits on that URL until one
	 * shows too. */
	char *pane = NULL, url[64];
	for (int i = 0;; i++) {
		snprintf(url, sizeof(url), "/tty%d?cc=max-age%%3D60", i);
		get(d.port, url, NULL, 200);
		get(d.port, "/other", NULL, 200);
		free(pane);
		pane = tmux(sock, "capture-pane", "-p", "-t", "0", NULL, NULL, NULL);
		if (strstr(pane, " 200 miss "))
			break;
		cr_assert_lt(i, 250, "pane:\n%s", pane);
		sleep_ms(20);
	}
	for (int i = 0;; i++) {
		get(d.port, url, NULL, 200);
		free(pane);
		pane = tmux(sock, "capture-pane", "-p", "-t", "0", NULL, NULL, NULL);
		if (strstr(pane, " 200 hit "))
			break;
		cr_assert_lt(i, 250, "pane:\n%s", pane);
		sleep_ms(20);
	}
	cr_expect(strstr(pane, url), "%s", pane);
	cr_expect(!strstr(pane, "/other"), "the filter: %s", pane);
	cr_expect(strstr(pane, "    backend app 127.0.0.1:"), "%s", pane);
	free(pane);
	char *ignore[] = {"/usr/bin/tmux", "-S", sock, "kill-server", NULL};
	struct cmd_result r;
	run_cmd(ignore, 10000, &r);
	cmd_result_free(&r);
	assert_alive(&d);
}

/* The config file with FROM replaced by TO, put in place at once. */
static void replace_in_config(const struct proc *d, const char *from, const char *to)
{
	FILE *f = fopen(d->cfg_path, "r");
	cr_assert_not_null(f);
	char buf[8192];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *at = strstr(buf, from);
	cr_assert_not_null(at, "%s not in the config", from);
	char out[8400];
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - buf), buf, to, at + strlen(from));
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", d->cfg_path);
	f = fopen(tmp, "w");
	cr_assert_not_null(f);
	fputs(out, f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(rename(tmp, d->cfg_path), 0);
}

Test(ops_log, a_reload_that_changes_the_token_ends_the_stream)
{
	struct proc o, d;
	int ap = start_with_admin(&o, &d, "  token: \"s3cret\"\n");
	struct sub s, bin;
	sub_open(&s, ap, "/log?format=compact", "Authorization: Bearer s3cret\r\n");
	cr_assert_eq(s.status, 200);
	sub_open(&bin, ap, "/log?format=bin", "Authorization: Bearer s3cret\r\n");
	cr_assert_eq(bin.status, 200);
	cr_expect(strstr(bin.head, "application/vnd.ringcache.records"), "%s", bin.head);
	get(d.port, OBJ, NULL, 200);
	sub_wait(&s, 1, " 200 ");
	/* The binary stream starts with its magic. */
	while (!bin.text || bin.tlen < 8) {
		cr_assert_gt(conn_fill(&bin.c, 5000), 0);
		sub_decode(&bin);
	}
	cr_expect(memcmp(bin.text, "RCREC1\r\n", 8) == 0);
	/* A reload with another token: both streams end, properly (the last
	 * chunk), within about a second. */
	replace_in_config(&d, "s3cret", "n3w-token");
	kill(d.pid, SIGHUP);
	struct sub *both[] = {&s, &bin};
	for (int i = 0; i < 2; i++) {
		struct sub *x = both[i];
		for (int tries = 0; !x->done && tries < 50; tries++) {
			int r = conn_fill(&x->c, 200);
			sub_decode(x);
			if (r == 0)
				break; /* closed */
		}
		cr_expect(x->done, "stream %d still open after the token changed", i);
	}
	sub_close(&s);
	sub_close(&bin);
	/* The new token opens it again. */
	struct sub again;
	sub_open(&again, ap, "/log", "Authorization: Bearer n3w-token\r\n");
	cr_expect_eq(again.status, 200);
	sub_close(&again);
	assert_alive(&d);
}

Test(ops_log, response_headers_in_records)
{
	struct proc o, d;
	int ap = start_with_admin(&o, &d, NULL);
	/* A miss and a hit, through the CLI (binary stream), with one
	 * response header asked for by -R and one read by the query. */
	char *argv[] = {RINGCACHE_BIN, "log",
			"-c",	       d.cfg_path,
			"-n",	       "2",
			"-o",	       "json",
			"-R",	       "Content-Type",
			"-q",	       "resp.cache-control ~ \"max-age\" and target ~ \"^/rh\"",
			NULL};
	struct cli_run c = {.argv = argv};
	pthread_t t;
	pthread_create(&t, NULL, cli_thread, &c);
	while (!c.done) {
		get(d.port, "/rh?size=10&cc=max-age%3D60", NULL, 200);
		get(d.port, "/other?size=10&cc=max-age%3D60", NULL, 200); /* filtered out */
		sleep_ms(20);
	}
	pthread_join(t, NULL);
	cr_expect(c.r.exited && c.r.exit_code == 0, "exit %d: %s", c.r.exit_code, c.r.err);
	cr_expect_eq(count_lines(c.r.out, "\"target\":\"/rh?"), 2, "%s", c.r.out);
	cr_expect_eq(count_lines(c.r.out, "\"resp_hdr\":{\"content-type\":\"text/plain\","
					  "\"cache-control\":\"max-age=60\"}"),
		     2, "%s", c.r.out);
	cmd_result_free(&c.r);
	/* A raw stream with rhdr= names the headers of the head sent, an
	 * error response's too. */
	struct sub s;
	sub_open(&s, ap, "/log?format=compact&rhdr=content-type&rhdr=via", NULL);
	cr_assert_eq(s.status, 200);
	get(d.port, "/nope?status=404", NULL, 404);
	sub_wait(&s, 1, " 404 ");
	cr_expect(strstr(s.text, "resp.via=\"1.1 ringcache\""), "%s", s.text);
	sub_close(&s);
	struct sub bad;
	sub_open(&bad, ap, "/log?rhdr=%3Ex", NULL);
	cr_expect_eq(bad.status, 400, "a marked name is refused");
	sub_close(&bad);
	assert_alive(&d);
}
