/*
 * The dashboard on the admin listener (src/daemon/dash.h): the page and
 * its streams are behind the allow-list and the token (header or ?token=,
 * the query only on GET /, /stats/stream and /log, and never written to
 * the log); the stream sends /stats snapshots that follow the traffic, is
 * capped, and lets go of a subscriber that closes; and in headless
 * Chromium the page's numbers match /stats and its record stream panels
 * (recent errors, top missed URLs) show the traffic sent, markup in a URL
 * as text (tests/scenario/dash_browser.py).
 */
#include "harness.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

TestSuite(ops_dashboard, .fini = harness_fini, .timeout = 400);

#define TOKEN	    "t0k-en"
#define STREAMS_MAX 16 /* DASH_STREAMS_MAX */

struct setup {
	struct proc o, d;
	int admin;
};

/* An origin, a daemon with the admin API and a token, and a second server
 * that nothing listens on, so one backend is up and one down. ALLOW: the
 * admin.allow list, or NULL for the default. */
static void start(struct setup *s, const char *allow)
{
	start_origin(&s->o);
	memset(&s->d, 0, sizeof(s->d));
	s->d.port = free_port();
	s->admin = free_port();
	int dead = free_port();
	char yaml[2048];
	snprintf(yaml, sizeof(yaml),
		 "listen: [\"127.0.0.1:%d\"]\nthreads: 2\n"
		 "backends:\n  - name: app\n    servers: [\"127.0.0.1:%d\", \"127.0.0.1:%d\"]\n"
		 "    connect_timeout: 1s\n    health_check:\n      path: /\n      interval: 1s\n"
		 "      timeout: 1s\n      fall: 1\n      rise: 1\n"
		 "admin:\n  listen: \"127.0.0.1:%d\"\n  token: \"" TOKEN "\"\n%s%s%s",
		 s->d.port, s->o.port, dead, s->admin, allow ? "  allow: [\"" : "",
		 allow ? allow : "", allow ? "\"]\n" : "");
	start_ringcache(&s->d, yaml);
	cr_assert(port_wait(s->admin, 3000), "the admin API does not accept; log:\n%s",
		  proc_log(&s->d));
}

static int status_of(int port, const char *path, const char *extra, struct response *r)
{
	http_once(port, "GET", path, extra, r);
	return r->status;
}

/* /stats with the token (malloc'd body). */
static char *stats_json(int admin)
{
	struct response r;
	cr_assert_eq(status_of(admin, "/stats", "Authorization: Bearer " TOKEN "\r\n", &r), 200);
	char *j = strdup(r.body);
	response_free(&r);
	return j;
}

static long long stat_of(int admin, const char *name)
{
	char *j = stats_json(admin);
	long long v = json_number(j, name, -1);
	free(j);
	return v;
}

Test(ops_dashboard, page_and_stream_need_the_token)
{
	struct setup s;
	start(&s, NULL);
	struct response r;
	static const char *const paths[] = {"/", "/stats/stream", "/log"};
	for (int i = 0; i < 3; i++) {
		char p[128];
		cr_expect_eq(status_of(s.admin, paths[i], NULL, &r), 401, "%s without a token",
			     paths[i]);
		response_free(&r);
		snprintf(p, sizeof(p), "%s?token=wrong", paths[i]);
		cr_expect_eq(status_of(s.admin, p, NULL, &r), 401, "%s", p);
		response_free(&r);
		snprintf(p, sizeof(p), "%s?token=" TOKEN "x", paths[i]);
		cr_expect_eq(status_of(s.admin, p, NULL, &r), 401, "%s", p);
		response_free(&r);
		cr_expect_eq(status_of(s.admin, paths[i], "Authorization: Bearer wrong\r\n", &r),
			     401, "%s with a wrong bearer token", paths[i]);
		response_free(&r);
	}
	/* The query token opens the dashboard's routes only. */
	cr_expect_eq(status_of(s.admin, "/stats?token=" TOKEN, NULL, &r), 401);
	response_free(&r);
	http_once(s.admin, "POST", "/purge?url=/x&token=" TOKEN, NULL, &r);
	cr_expect_eq(r.status, 401, "POST /purge with ?token=");
	response_free(&r);
	http_once(s.admin, "POST", "/reload?token=" TOKEN, NULL, &r);
	cr_expect_eq(r.status, 401, "POST /reload with ?token=");
	response_free(&r);
	http_once(s.admin, "POST", "/log?token=" TOKEN, NULL, &r);
	cr_expect_eq(r.status, 401, "POST /log with ?token=");
	response_free(&r);
	http_once(s.admin, "POST", "/purge?url=/x", "Authorization: Bearer " TOKEN "\r\n", &r);
	cr_expect_eq(r.status, 200, "POST /purge with the header");
	response_free(&r);

	/* The page: one self-contained document, told to load nothing else. */
	cr_assert_eq(status_of(s.admin, "/?token=" TOKEN, NULL, &r), 200);
	cr_expect(strstr(resp_header(&r, "content-type") ?: "", "text/html") != NULL);
	const char *csp = resp_header(&r, "content-security-policy");
	cr_expect(csp && strstr(csp, "default-src 'none'") && strstr(csp, "connect-src 'self'"),
		  "CSP: %s", csp ?: "(none)");
	cr_expect(strstr(r.body, "<canvas") && strstr(r.body, "stats/stream"), "page: %s",
		  excerpt(r.body, r.body_len));
	cr_expect(!strstr(r.body, "http://") && !strstr(r.body, "https://") &&
		      !strstr(r.body, "src=\""),
		  "the page names nothing to load");
	response_free(&r);
	cr_expect_eq(status_of(s.admin, "/", "Authorization: Bearer " TOKEN "\r\n", &r), 200);
	response_free(&r);
	harness_end();
}

Test(ops_dashboard, allow_list_comes_first)
{
	struct setup s;
	start(&s, "10.0.0.0/8");
	struct response r;
	cr_expect_eq(status_of(s.admin, "/?token=" TOKEN, NULL, &r), 403);
	response_free(&r);
	cr_expect_eq(status_of(s.admin, "/stats/stream?token=" TOKEN, NULL, &r), 403);
	response_free(&r);
	harness_end();
}

/* ---- a raw SSE client ------------------------------------------------------ */

struct sse {
	struct conn c;
	int status;
	size_t body; /* where the chunked body starts in c.buf */
	char *data;  /* de-chunked body */
	size_t len, cap;
	size_t used; /* events consumed from data */
};

/* Open a stream (EXTRA: header lines, each ending in CRLF); the
 * response head is read. The status, or -1. */
static int sse_open_with(struct sse *e, int admin, const char *path, const char *extra)
{
	memset(e, 0, sizeof(*e));
	conn_open(&e->c, admin);
	conn_sendf(&e->c, "GET %s HTTP/1.1\r\nHost: admin\r\n%s\r\n", path, extra);
	double until = now_s() + 10;
	for (;;) {
		char *hend = memmem(e->c.buf, e->c.len, "\r\n\r\n", 4);
		if (hend) {
			if (sscanf(e->c.buf, "HTTP/1.1 %d", &e->status) != 1)
				return -1;
			e->body = (size_t)(hend + 4 - e->c.buf);
			return e->status;
		}
		if (now_s() > until || conn_fill(&e->c, 5000) <= 0)
			return -1;
	}
}

static int sse_open(struct sse *e, int admin, const char *path)
{
	return sse_open_with(e, admin, path, "");
}

/* De-chunk what has arrived into e->data. */
static void sse_dechunk(struct sse *e)
{
	for (;;) {
		char *p = e->c.buf + e->body, *end = e->c.buf + e->c.len;
		char *crlf = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (!crlf)
			return;
		size_t n = strtoul(p, NULL, 16);
		if ((size_t)(end - crlf - 2) < n + 2)
			return;
		if (e->len + n + 1 > e->cap) {
			e->cap = (e->len + n + 1) * 2;
			e->data = realloc(e->data, e->cap);
			cr_assert_not_null(e->data);
		}
		memcpy(e->data + e->len, crlf + 2, n);
		e->len += n;
		e->data[e->len] = '\0';
		cr_assert(!memcmp(crlf + 2 + n, "\r\n", 2), "a chunk does not end in CRLF");
		e->body = (size_t)(crlf + 2 + n + 2 - e->c.buf);
	}
}

/* The next "data:" event's JSON (malloc'd), waiting up to 10 s; NULL if none came. */
static char *sse_next(struct sse *e)
{
	double until = now_s() + 10;
	for (;;) {
		sse_dechunk(e);
		char *start = e->data ? e->data + e->used : NULL;
		char *evend = start ? strstr(start, "\n\n") : NULL;
		if (evend) {
			e->used = (size_t)(evend + 2 - e->data);
			if (!strncmp(start, "data: ", 6))
				return strndup(start + 6, (size_t)(evend - start - 6));
			continue; /* the "retry:" field */
		}
		if (now_s() > until || conn_fill(&e->c, 5000) <= 0)
			return NULL;
	}
}

static void sse_close(struct sse *e)
{
	conn_close(&e->c);
	free(e->data);
}

/* GET /log with ?token= (the page's EventSource): the stream opens, the
 * token is not taken for one of its parameters, its own parameters
 * still apply, and the token is nowhere in the daemon's log. */
Test(ops_dashboard, record_stream_takes_the_query_token)
{
	struct setup s;
	start(&s, NULL);
	struct sse e;
	cr_assert_eq(sse_open(&e, s.admin,
			      "/log?format=json&q=status%20%3E%3D%20500&token=" TOKEN),
		     200, "GET /log?...&token=: %s", excerpt(e.c.buf, e.c.len));
	struct response r;
	http_get_once(s.d.port, "/tok/ok?cc=no-store", &r);
	response_free(&r);
	http_get_once(s.d.port, "/tok/bad?status=503", &r);
	cr_expect_eq(r.status, 503);
	response_free(&r);
	/* Only the 5xx passes the query. */
	double until = now_s() + 10;
	while ((!e.data || !strstr(e.data, "/tok/bad")) && now_s() < until) {
		if (conn_fill(&e.c, 2000) <= 0)
			break;
		sse_dechunk(&e);
	}
	cr_expect(e.data && strstr(e.data, "\"target\":\"/tok/bad?status=503\"") &&
			  !strstr(e.data, "/tok/ok"),
		  "stream: %s", e.data ? excerpt(e.data, e.len) : "(nothing)");
	sse_close(&e);
	/* As an event stream, the way the page asks; the token first. */
	cr_assert_eq(sse_open_with(&e, s.admin, "/log?token=" TOKEN "&q=status%3E%3D500",
				   "Accept: text/event-stream\r\n"),
		     200);
	cr_expect(strcasestr(e.c.buf, "content-type: text/event-stream") != NULL, "%s",
		  excerpt(e.c.buf, e.c.len));
	http_get_once(s.d.port, "/tok/sse?status=502", &r);
	response_free(&r);
	char *j = sse_next(&e);
	cr_expect(j && strstr(j, "\"target\":\"/tok/sse?status=502\""), "event: %s", j ?: "(none)");
	free(j);
	sse_close(&e);
	cr_expect_eq(status_of(s.admin, "/log?token=WRONG", NULL, &r), 401);
	response_free(&r);
	cr_expect_eq(status_of(s.admin, "/log?q=status%3E%3D500&token=" TOKEN "x", NULL, &r), 401);
	response_free(&r);
	char *log = proc_log(&s.d);
	cr_expect(!strstr(log, TOKEN), "the token is in the log:\n%s", log);
	free(log);
	harness_end();
}

Test(ops_dashboard, stream_sends_snapshots_that_follow_traffic)
{
	struct setup s;
	start(&s, NULL);
	struct sse e;
	cr_assert_eq(sse_open(&e, s.admin, "/stats/stream?token=" TOKEN), 200);
	cr_expect(strcasestr(e.c.buf, "content-type: text/event-stream") != NULL);
	cr_expect(strcasestr(e.c.buf, "transfer-encoding: chunked") != NULL);
	char *first = sse_next(&e);
	cr_assert_not_null(first, "no first snapshot");
	long long t0 = json_number(first, "time_ms", -1);
	long long r0 = json_number(first, "requests", -1);
	cr_expect(r0 >= 0 && t0 > 0, "snapshot: %s", excerpt(first, strlen(first)));
	cr_expect(strstr(first, "\"latency\": {\"bounds_us\": [") &&
		      strstr(first, "\"servers\": [") && strstr(first, "\"loops\": ["),
		  "snapshot: %s", excerpt(first, strlen(first)));
	cr_expect_eq(json_number(first, "stream_subscribers", -1), 1);
	free(first);
	for (int i = 0; i < 3; i++) {
		struct response r;
		http_get_once(s.d.port, "/dash/a?cc=max-age=60", &r);
		cr_expect_eq(r.status, 200);
		response_free(&r);
	}
	/* Snapshots keep coming, a second apart, and show the requests. */
	long long last_t = t0, seen = r0;
	for (int i = 0; i < 12 && seen < r0 + 3; i++) {
		char *j = sse_next(&e);
		cr_assert_not_null(j, "snapshot %d did not come", i + 2);
		long long t = json_number(j, "time_ms", -1);
		cr_expect_gt(t, last_t, "snapshot times go forward");
		last_t = t;
		seen = json_number(j, "requests", -1);
		free(j);
	}
	cr_expect_eq(seen, r0 + 3, "the stream never showed the 3 requests");
	sse_close(&e);
	harness_end();
}

Test(ops_dashboard, stream_cap_and_closed_subscribers_let_go)
{
	struct setup s;
	start(&s, NULL);
	struct sse e[STREAMS_MAX];
	for (int i = 0; i < STREAMS_MAX; i++)
		cr_assert_eq(sse_open(&e[i], s.admin, "/stats/stream?token=" TOKEN), 200,
			     "stream %d", i);
	/* The Authorization header works as well as the query. */
	struct sse over;
	memset(&over, 0, sizeof(over));
	conn_open(&over.c, s.admin);
	conn_send_str(&over.c,
		      "GET /stats/stream HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " TOKEN
		      "\r\n\r\n");
	struct response r;
	cr_assert_eq(read_response(&over.c, &r, 0), READ_OK);
	cr_expect_eq(r.status, 503, "stream %d past the cap: %d", STREAMS_MAX + 1, r.status);
	response_free(&r);
	conn_close(&over.c);
	cr_expect_eq(stat_of(s.admin, "stream_subscribers"), STREAMS_MAX);
	/* Three go away: the daemon notices without having to send to them. */
	for (int i = 0; i < 3; i++)
		sse_close(&e[i]);
	long long n = -1;
	for (double until = now_s() + 20; now_s() < until; sleep_ms(100))
		if ((n = stat_of(s.admin, "stream_subscribers")) == STREAMS_MAX - 3)
			break;
	cr_expect_eq(n, STREAMS_MAX - 3, "subscribers after 3 closed: %lld", n);
	/* Their places are free again, and the others still get snapshots. */
	cr_assert_eq(sse_open(&e[0], s.admin, "/stats/stream?token=" TOKEN), 200);
	char *j = sse_next(&e[0]);
	cr_expect_not_null(j);
	free(j);
	j = sse_next(&e[STREAMS_MAX - 1]);
	cr_expect_not_null(j, "an old subscriber gets no snapshot");
	free(j);
	for (int i = 3; i < STREAMS_MAX; i++)
		sse_close(&e[i]);
	sse_close(&e[0]);
	for (double until = now_s() + 20; now_s() < until; sleep_ms(100))
		if ((n = stat_of(s.admin, "stream_subscribers")) == 0)
			break;
	cr_expect_eq(n, 0, "subscribers after all closed: %lld", n);
	assert_alive(&s.d);
	harness_end();
}

/* A subscriber that never reads: once the socket buffers are full, its
 * send's deadline passes and it is dropped; the daemon and the other
 * subscribers go on. */
Test(ops_dashboard, stream_subscriber_that_never_reads_is_dropped)
{
	struct setup s;
	start(&s, NULL);
	struct conn stuck;
	memset(&stuck, 0, sizeof(stuck));
	stuck.fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(stuck.fd, 0);
	int small = 2048;
	setsockopt(stuck.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)); /* before connect */
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s.admin)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(stuck.fd, (struct sockaddr *)&a, sizeof(a)), 0);
	const char *req = "GET /stats/stream?token=" TOKEN " HTTP/1.1\r\nHost: a\r\n\r\n";
	cr_assert_eq(send(stuck.fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	struct sse e;
	cr_assert_eq(sse_open(&e, s.admin, "/stats/stream?token=" TOKEN), 200);
	long long n = -1;
	for (double until = now_s() + 30; now_s() < until; sleep_ms(200))
		if ((n = stat_of(s.admin, "stream_subscribers")) == 2)
			break;
	cr_assert_eq(n, 2, "both streams subscribed: %lld", n);
	/* Each tick sends about 3 KiB to a socket nobody reads: within a
	 * minute or two the buffers are full and the 5 s deadline passes. */
	for (double until = now_s() + 150; now_s() < until;) {
		char *j = sse_next(&e); /* the reader keeps reading meanwhile */
		cr_assert_not_null(j, "the reading subscriber lost its stream");
		free(j);
		/* Asked anew: the stream's snapshots are shared, so may be
		 * half a second old. */
		if ((n = stat_of(s.admin, "stream_subscribers")) == 1)
			break;
	}
	cr_expect_eq(n, 1, "the subscriber that never reads was not dropped");
	close(stuck.fd);
	sse_close(&e);
	assert_alive(&s.d);
	harness_end();
}

Test(ops_dashboard, stream_ends_at_drain)
{
	struct setup s;
	start(&s, NULL);
	struct sse e;
	cr_assert_eq(sse_open(&e, s.admin, "/stats/stream?token=" TOKEN), 200);
	char *j = sse_next(&e);
	cr_assert_not_null(j);
	free(j);
	/* harness_end's SIGTERM must drain and exit 0 with a subscriber open. */
	harness_end();
	cr_expect(conn_wait_closed(&e.c, 10000), "the stream outlived the daemon");
	sse_close(&e);
}

Test(ops_dashboard, page_in_chromium_matches_stats)
{
	struct setup s;
	start(&s, NULL);
	char admin[16], proxy[16];
	snprintf(admin, sizeof(admin), "%d", s.admin);
	snprintf(proxy, sizeof(proxy), "%d", s.d.port);
	char *argv[] = {"/usr/bin/python3",
			SOURCE_DIR "/tests/scenario/dash_browser.py",
			"check",
			admin,
			TOKEN,
			proxy,
			NULL};
	struct cmd_result cr;
	run_cmd(argv, 300000, &cr);
	cr_expect(cr.exited && cr.exit_code == 0, "dash_browser.py check failed:\n%s\n%s", cr.out,
		  cr.err);
	cmd_result_free(&cr);
	assert_alive(&s.d);
	harness_end();
}
