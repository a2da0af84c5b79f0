/*
 * Hostile input, round two (issue 12): a poisoned backend connection must
 * never answer another client, and the cache must not be poisoned through
 * headers it does not key on.
 *
 * Most cases run against a purpose-built misbehaving backend forked here:
 * it reads request heads only (never a body, so a body is taken as the
 * next request, as a backend that ignores bodies would), answers each
 * request by its target, optionally sends a stray response 100 ms after
 * every response, and logs what it sees and does, one line per event, to a
 * file in the test's directory, so that tests can count what reached it
 * and wait for what it has sent instead of guessing at timing.
 */
#include "harness.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

TestSuite(hostile_poison, .fini = harness_fini, .timeout = 60);

/* ---- the misbehaving backend ------------------------------------------------ */

/* After every response, wait 100 ms and send a stray complete response. */
#define BK_STRAY 1u

static const char stray_response[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray";

struct backend {
	int port;
	pid_t pid;
	char log[PATH_MAX];
};

/* One line to the shared log: a single O_APPEND write, so lines of the
 * per-connection processes never interleave. */
static void bk_log(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bk_log(int fd, const char *fmt, ...)
{
	char line[700];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	ssize_t w = write(fd, line, (size_t)n);
	(void)w;
}

static int send_all(int c, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(c, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The value of query parameter NAME in TARGET into OUT ("" if absent). */
static void query_param(const char *target, const char *name, char *out, size_t size)
{
	out[0] = 0;
	const char *q = strchr(target, '?');
	size_t nl = strlen(name);
	while (q) {
		q++;
		if (!strncmp(q, name, nl) && q[nl] == '=') {
			const char *v = q + nl + 1;
			size_t vl = strcspn(v, "&");
			snprintf(out, size, "%.*s", (int)(vl < size ? vl : size - 1), v);
			return;
		}
		q = strchr(q, '&');
	}
}

/*
 * The answer to TARGET (the head is HEAD[0..HLEN)):
 *   /id/N...       body "id=N", Cache-Control: no-store (a request id)
 *   /smuggled      body "smuggled", no-store, answered 100 ms late, so that
 *                  it never comes in the read that completes the answer
 *                  before it (that case, bytes past the end of a response,
 *                  is hostile_framing's)
 *   /reflect...    body: the request head exactly as received, max-age=60,
 *                  and Vary: NAME when the query has vary=NAME
 *   /t/bare_lf_end, /t/lf_after_trailer
 *                  chunked, max-age=60, trailer section ended by a bare LF
 *   anything else  body: the target without its leading '/', no-store
 */
static void bk_answer(int c, const char *method, const char *target, const char *head, size_t hlen)
{
	char body[256];
	const char *b = body;
	size_t blen;
	char vary[64];
	query_param(target, "vary", vary, sizeof(vary));
	const char *cc = "no-store";
	if (!strcmp(target, "/t/bare_lf_end") || !strcmp(target, "/t/lf_after_trailer")) {
		const char *r =
		    !strcmp(target, "/t/bare_lf_end")
			? "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n"
			  "Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\n"
			: "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n"
			  "Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX: y\r\n\n";
		send_all(c, r, strlen(r));
		return;
	}
	if (!strncmp(target, "/h10te/", 7)) {
		/* HTTP/1.0 with Transfer-Encoding and keep-alive: RFC 9112 6.1
		 * says the connection must close after it. */
		static const char r[] =
		    "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
		    "Cache-Control: no-store\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "2\r\nok\r\n0\r\n\r\n";
		send_all(c, r, sizeof(r) - 1);
		return;
	}
	if (!strcmp(target, "/smuggled"))
		usleep(100 * 1000); /* after the read that completed the previous answer */
	if (!strncmp(target, "/id/", 4)) {
		size_t n = strcspn(target + 4, "?/");
		blen = (size_t)snprintf(body, sizeof(body), "id=%.*s", (int)n, target + 4);
	} else if (!strncmp(target, "/reflect", 8)) {
		b = head;
		blen = hlen;
		cc = "max-age=60";
	} else {
		blen = (size_t)snprintf(body, sizeof(body), "%s", target + 1);
	}
	/* Head and body in one send (and TCP_NODELAY): once the send returns,
	 * the whole response is in the daemon's receive queue. */
	static char out[512 + 32768]; /* a head, and a body up to a whole request head */
	int hl = snprintf(out, 512,
			  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: %s\r\n"
			  "%s%s%sContent-Length: %zu\r\n\r\n",
			  cc, vary[0] ? "Vary: " : "", vary, vary[0] ? "\r\n" : "", blen);
	size_t n = (size_t)hl;
	if (strcmp(method, "HEAD") && blen <= sizeof(out) - n) {
		memcpy(out + n, b, blen);
		n += blen;
	}
	send_all(c, out, n);
}

/* One backend connection: heads only, each answered at once. */
static void bk_serve(int c, int log, unsigned mode)
{
	static char buf[32768];
	size_t len = 0;
	for (;;) {
		char *end = memmem(buf, len, "\r\n\r\n", 4);
		if (!end) {
			if (len == sizeof(buf)) {
				bk_log(log, "BAD head too long");
				return;
			}
			ssize_t n = recv(c, buf + len, sizeof(buf) - len, 0);
			if (n <= 0) {
				bk_log(log, "EOF");
				return;
			}
			len += (size_t)n;
			continue;
		}
		size_t hlen = (size_t)(end + 4 - buf);
		char method[32] = "", target[512] = "", version[16] = "";
		const char *eol = memmem(buf, hlen, "\r\n", 2);
		char line[600];
		snprintf(line, sizeof(line), "%.*s", (int)(eol - buf), buf);
		if (sscanf(line, "%31s %511s %15s", method, target, version) != 3 ||
		    strncmp(version, "HTTP/1.", 7)) {
			bk_log(log, "BAD %s", line);
			static const char bad[] =
			    "HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\nConnection: close\r\n"
			    "\r\nbad";
			send_all(c, bad, sizeof(bad) - 1);
			return;
		}
		bk_log(log, "REQ %s %s", method, target);
		bk_answer(c, method, target, buf, hlen);
		bk_log(log, "SENT %s", target);
		if (mode & BK_STRAY) {
			usleep(100 * 1000);
			if (send_all(c, stray_response, sizeof(stray_response) - 1) < 0)
				return;
			bk_log(log, "STRAY");
		}
		memmove(buf, buf + hlen, len - hlen);
		len -= hlen;
	}
}

/* Start the backend on a fresh port; a process per connection, for 40 s at most. */
static void backend_start(struct backend *b, unsigned mode)
{
	memset(b, 0, sizeof(*b));
	b->port = free_port();
	snprintf(b->log, sizeof(b->log), "%s/backend-%d.log", test_dir(), b->port);
	int log = open(b->log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	cr_assert_geq(log, 0, "%s", b->log);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)b->port),
				 .sin_addr.s_addr = htonl(0x7f000001)};
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 64), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGCHLD, SIG_IGN); /* no zombies */
		alarm(40);
		for (;;) {
			int c = accept(fd, NULL, NULL);
			if (c < 0)
				continue;
			if (fork() == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				close(fd);
				alarm(40);
				setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				bk_log(log, "CONN");
				bk_serve(c, log, mode);
				close(c);
				_exit(0);
			}
			close(c);
		}
	}
	close(fd);
	close(log);
	b->pid = pid;
}

static void backend_stop(struct backend *b)
{
	if (b->pid > 0) {
		kill(b->pid, SIGKILL);
		waitpid(b->pid, NULL, 0);
		b->pid = 0;
	}
}

/* Lines of the backend log equal to LINE (or, PREFIX set, starting with it). */
static size_t bk_count_(const struct backend *b, const char *line, int prefix)
{
	FILE *f = fopen(b->log, "r");
	if (!f)
		return 0;
	char buf[1024];
	size_t n = 0, ll = strlen(line);
	while (fgets(buf, sizeof(buf), f)) {
		buf[strcspn(buf, "\n")] = 0;
		if (prefix ? !strncmp(buf, line, ll) : !strcmp(buf, line))
			n++;
	}
	fclose(f);
	return n;
}

static size_t bk_count(const struct backend *b, const char *line)
{
	return bk_count_(b, line, 0);
}

static size_t bk_count_prefix(const struct backend *b, const char *prefix)
{
	return bk_count_(b, prefix, 1);
}

static char *bk_log_text(const struct backend *b)
{
	FILE *f = fopen(b->log, "r");
	static char text[8192];
	text[0] = 0;
	if (f) {
		size_t n = fread(text, 1, sizeof(text) - 1, f);
		text[n] = 0;
		fclose(f);
	}
	return text;
}

/* Wait (max 3 s) until every response the backend answered has had its stray sent. */
static void bk_wait_strays(const struct backend *b)
{
	double deadline = now_s() + 3;
	/* REQ is logged before the answer goes, so it counts the answer the
	 * client just read too (SENT may not be logged yet). */
	while (bk_count(b, "STRAY") < bk_count_prefix(b, "REQ ")) {
		cr_assert_lt(now_s(), deadline, "the backend never sent its stray response:\n%s",
			     bk_log_text(b));
		sleep_ms(10);
	}
	sleep_ms(50); /* time for the daemon's watch to act (taking it from the pool checks too) */
}

/* ---- the daemon ------------------------------------------------------------- */

struct daemon {
	struct proc d;
	int admin; /* admin port */
};

/* Our own YAML (rc_yaml says threads: 2): THREADS loops, the admin API, EXTRA top-level keys. */
static void daemon_start(struct daemon *dm, int backend_port, int threads, const char *extra)
{
	memset(dm, 0, sizeof(*dm));
	dm->d.port = free_port();
	dm->admin = free_port();
	char yaml[4096];
	snprintf(yaml, sizeof(yaml),
		 "listen: [\"127.0.0.1:%d\"]\n"
		 "threads: %d\n"
		 "backends:\n"
		 "  - name: app\n"
		 "    servers: [\"127.0.0.1:%d\"]\n"
		 "    connect_timeout: 1s\n"
		 "    first_byte_timeout: 2s\n"
		 "    between_bytes_timeout: 1s\n"
		 "timeouts:\n"
		 "  client_header: 2s\n"
		 "  client_idle: 5s\n"
		 "limits:\n"
		 "  max_header_size: 8KiB\n"
		 "admin:\n"
		 "  listen: \"127.0.0.1:%d\"\n"
		 "%s",
		 dm->d.port, threads, backend_port, dm->admin, extra ? extra : "");
	start_ringcache(&dm->d, yaml);
	cr_assert(port_wait(dm->admin, 3000), "admin API on %d; log:\n%s", dm->admin,
		  proc_log(&dm->d));
}

/* The counter NAME from /metrics (summed over label sets); fails if absent. */
static long long metric(const struct daemon *dm, const char *name)
{
	struct response r;
	http_once(dm->admin, "GET", "/metrics", NULL, &r);
	cr_assert_eq(r.status, 200, "GET /metrics: %s", r.raw_head);
	size_t nl = strlen(name);
	long long sum = 0;
	int found = 0;
	for (const char *p = r.body; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, name, nl) || (p[nl] != ' ' && p[nl] != '{'))
			continue;
		const char *v = p[nl] == '{' ? strchr(p, '}') : p + nl;
		if (!v)
			continue;
		sum += (long long)strtod(v + 1, NULL);
		found = 1;
	}
	cr_assert(found, "no %s in /metrics:\n%s", name, r.body);
	response_free(&r);
	return sum;
}

/* Poll /metrics (max 3 s) until NAME is at least WANT; its last value. */
static long long metric_wait_geq(const struct daemon *dm, const char *name, long long want)
{
	double deadline = now_s() + 3;
	long long v;
	while ((v = metric(dm, name)) < want && now_s() < deadline)
		sleep_ms(20);
	return v;
}

/* ---- small helpers ---------------------------------------------------------- */

static int status_of(const char *resp)
{
	int st = 0;
	return sscanf(resp, "HTTP/1.%*d %d", &st) == 1 ? st : -1;
}

/* Send RAW on a fresh connection: answered STATUS, closed, one response only. */
static void expect_refused(int port, const char *name, const char *raw, int status)
{
	struct conn c;
	conn_open(&c, port);
	conn_send_str(&c, raw);
	char *out = NULL;
	size_t len = 0;
	int closed = conn_read_until_close(&c, 3000, &out, &len);
	cr_assert(closed, "[%s] the connection stayed open after: %s", name, excerpt(out, len));
	cr_assert_eq(status_of(out), status, "[%s] want %d, got: %s", name, status,
		     excerpt(out, len));
	cr_assert(len == 0 || !strstr(out + 1, "HTTP/1.1 "), "[%s] more than one response: %s",
		  name, excerpt(out, len));
	free(out);
	conn_close(&c);
}

/* GET PATH (with EXTRA lines) on a fresh connection; must be a complete 200. */
static void get200(int port, const char *path, const char *extra, struct response *r)
{
	http_once(port, "GET", path, extra, r);
	cr_assert_eq(r->status, 200, "GET %s: %d %s", path, r->status, r->raw_head);
	cr_assert(r->complete, "GET %s: %s", path, r->error);
}

/* The value of NAME in a reflected (or echoed) request head, or NULL. */
static const char *head_field(const struct response *r, const char *name, char *out, size_t size)
{
	return r->body ? echo_header(r->body, r->body_len, name, out, size) : NULL;
}

static int body_is(const struct response *r, const char *want)
{
	return r->body && r->body_len == strlen(want) && !memcmp(r->body, want, r->body_len);
}

/* A daemon in front of the misbehaving backend must answer /id/K with "id=K". */
static void expect_own_answers(int port, int first, int n)
{
	for (int k = first; k < first + n; k++) {
		char path[32], want[32];
		snprintf(path, sizeof(path), "/id/%d", k);
		snprintf(want, sizeof(want), "id=%d", k);
		struct response r;
		get200(port, path, NULL, &r);
		cr_assert(body_is(&r, want), "GET %s answered with another response: %s", path,
			  excerpt(r.body, r.body_len));
		response_free(&r);
	}
}

/* ---- 1. response-queue poisoning through a reused backend connection ---------- */

/*
 * Defect 1: a backend connection went back to the pool and nothing watched
 * it; a stray response the backend sent on it later was taken as the
 * answer to the next request on it, from any client. One loop, so every
 * request would take the same pooled connection; before each request the
 * test waits until the backend has sent its stray, so the outcome does not
 * depend on timing.
 */
Test(hostile_poison, a_stray_response_on_an_idle_backend_connection_never_answers_a_client)
{
	struct backend b;
	backend_start(&b, BK_STRAY);
	struct daemon dm;
	daemon_start(&dm, b.port, 1, NULL);
	struct response r;
	get200(dm.d.port, "/id/1", NULL, &r);
	cr_assert(body_is(&r, "id=1"), "%s", excerpt(r.body, r.body_len));
	response_free(&r);
	for (int k = 2; k <= 6; k++) {
		bk_wait_strays(&b); /* the stray is on the pooled connection now */
		expect_own_answers(dm.d.port, k, 1);
	}
	bk_wait_strays(&b);
	long long idle = metric_wait_geq(&dm, "ringcache_backend_idle_closed_total", 1);
	cr_assert_geq(idle, 1, "ringcache_backend_idle_closed_total did not go up: %lld", idle);
	backend_stop(&b);
	harness_end();
}

/* Wait (max 3 s) until the backend has answered the request hidden in the
 * body (SENT /smuggled) or the daemon closed the connection before sending
 * it (an EOF). */
static void bk_wait_smuggled_or_closed(const struct backend *b)
{
	double deadline = now_s() + 3;
	while (!bk_count(b, "SENT /smuggled") && !bk_count(b, "EOF") && now_s() < deadline)
		sleep_ms(10);
	sleep_ms(50);
}

static const char smuggle_body[] = "GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n";

/*
 * Defect 1, the early-response gadget: a backend that answers a POST on
 * its head and then parses the body as the next request. The body is sent
 * 200 ms after the head, so the answer has come before the body went out:
 * that connection must not be reused, and the answer to the hidden
 * request must never reach another client.
 */
Test(hostile_poison, an_early_response_before_the_body_is_sent_poisons_no_one)
{
	struct backend b;
	backend_start(&b, 0);
	struct daemon dm;
	daemon_start(&dm, b.port, 1, NULL);
	struct conn c;
	conn_open(&c, dm.d.port);
	cr_assert_eq(conn_sendf(&c,
				"POST /id/100 HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n",
				sizeof(smuggle_body) - 1),
		     0);
	/* The backend answers the head alone. */
	double deadline = now_s() + 3;
	while (!bk_count(&b, "SENT /id/100") && now_s() < deadline)
		sleep_ms(10);
	cr_assert(bk_count(&b, "SENT /id/100"), "the POST head never reached the backend:\n%s",
		  bk_log_text(&b));
	sleep_ms(200); /* as a slow client would: the answer came long before the body */
	conn_send_str(&c, smuggle_body); /* may fail if the daemon gave up on the body */
	struct response r;
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "the POST got no answer: %s", r.error);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	cr_assert(body_is(&r, "id=100"), "the POST got: %s", excerpt(r.body, r.body_len));
	response_free(&r);
	conn_close(&c);
	bk_wait_smuggled_or_closed(&b);
	expect_own_answers(dm.d.port, 101, 5);
	long long early = metric_wait_geq(&dm, "ringcache_backend_early_responses_total", 1);
	cr_assert_geq(early, 1, "ringcache_backend_early_responses_total did not go up: %lld",
		      early);
	backend_stop(&b);
	harness_end();
}

/*
 * Defect 1, the same gadget with head and body in one send: the request
 * goes out whole, the backend answers the POST, then (100 ms later, on a
 * connection that is idle in the pool by then) the request hidden in the
 * body. No later client may get that answer.
 */
Test(hostile_poison, a_response_to_a_request_hidden_in_a_body_never_answers_a_client)
{
	struct backend b;
	backend_start(&b, 0);
	struct daemon dm;
	daemon_start(&dm, b.port, 1, NULL);
	for (int round = 0; round < 3; round++) {
		struct conn c;
		conn_open(&c, dm.d.port);
		cr_assert_eq(conn_sendf(&c,
					"POST /id/%d HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n"
					"\r\n%s",
					200 + 10 * round, sizeof(smuggle_body) - 1, smuggle_body),
			     0);
		struct response r;
		cr_assert_eq(read_response(&c, &r, 0), READ_OK, "the POST got no answer: %s",
			     r.error);
		char want[32];
		snprintf(want, sizeof(want), "id=%d", 200 + 10 * round);
		cr_assert(body_is(&r, want), "the POST got: %s", excerpt(r.body, r.body_len));
		response_free(&r);
		conn_close(&c);
		/* The hidden request's answer has been sent before anyone asks. */
		double deadline = now_s() + 3;
		while (bk_count(&b, "SENT /smuggled") < (size_t)round + 1 && now_s() < deadline)
			sleep_ms(10);
		cr_assert_eq(bk_count(&b, "SENT /smuggled"), (size_t)round + 1, "%s",
			     bk_log_text(&b));
		sleep_ms(50);
		expect_own_answers(dm.d.port, 201 + 10 * round, 4);
	}
	backend_stop(&b);
	harness_end();
}

/* ---- 2. Connection naming Host or the framing fields ------------------------------ */

/*
 * Defect 2: the fields named in Connection were stripped, Host included,
 * so the backend got a request without Host. Naming Host, Content-Length
 * or Transfer-Encoding is refused: 400, closed, nothing forwarded.
 */
Test(hostile_poison, connection_naming_host_or_framing_fields_is_refused)
{
	struct proc o, d;
	start_pair(&o, &d);
	static const struct {
		const char *name, *raw;
	} cases[] = {
	    {"keep_alive_host", "GET /conn/keep_alive_host HTTP/1.1\r\nHost: t\r\nConnection: "
				"keep-alive, Host\r\n\r\n"},
	    {"host_lower", "GET /conn/host_lower HTTP/1.1\r\nHost: t\r\nConnection: host\r\n\r\n"},
	    {"host_upper_no_space",
	     "GET /conn/host_upper_no_space HTTP/1.1\r\nHost: t\r\nConnection: x-a,HOST\r\n\r\n"},
	    {"host_second_field", "GET /conn/host_second_field HTTP/1.1\r\nHost: t\r\n"
				  "Connection: keep-alive\r\nConnection: Host\r\n\r\n"},
	    {"content_length", "POST /conn/content_length HTTP/1.1\r\nHost: t\r\n"
			       "Content-Length: 5\r\nConnection: Content-Length\r\n\r\nhello"},
	    {"content_length_list",
	     "POST /conn/content_length_list HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
	     "Connection: close, content-length\r\n\r\nhello"},
	    {"transfer_encoding",
	     "POST /conn/transfer_encoding HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
	     "Connection: Transfer-Encoding\r\n\r\n5\r\nhello\r\n0\r\n\r\n"},
	    {"transfer_encoding_get", "GET /conn/transfer_encoding_get HTTP/1.1\r\nHost: t\r\n"
				      "Connection: keep-alive, TRANSFER-ENCODING\r\n\r\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expect_refused(d.port, cases[i].name, cases[i].raw, 400);
		char path[96];
		snprintf(path, sizeof(path), "/conn/%s", cases[i].name);
		cr_assert_eq(origin_requests(o.port, path), 0, "[%s] reached the origin",
			     cases[i].name);
	}
	/* Other names in Connection are hop-by-hop: removed, the rest kept. */
	struct conn c;
	conn_open(&c, d.port);
	conn_send_str(&c, "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: keep-alive, X-A\r\n"
			  "X-A: 1\r\nX-B: 2\r\n\r\n");
	struct response r;
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	char v[64];
	cr_assert_null(head_field(&r, "X-A", v, sizeof(v)), "X-A reached the origin: %s",
		       excerpt(r.body, r.body_len));
	cr_assert_not_null(head_field(&r, "X-B", v, sizeof(v)), "%s", excerpt(r.body, r.body_len));
	cr_assert_not_null(head_field(&r, "Host", v, sizeof(v)), "%s", excerpt(r.body, r.body_len));
	response_free(&r);
	conn_close(&c);
	harness_end();
}

/*
 * Defect 2, the cache side: a field named in Connection is removed before
 * the cache sees the request too, so it cannot select a variant. The
 * response varies on X-A; a request naming X-A in Connection is stored as
 * the variant without X-A, and a plain request is then a hit.
 */
Test(hostile_poison, fields_named_in_connection_are_removed_before_the_cache)
{
	struct backend b;
	backend_start(&b, 0);
	struct daemon dm;
	daemon_start(&dm, b.port, 2, NULL);
	const char *p = "/reflect/conn?vary=X-A";
	struct response r;
	get200(dm.d.port, p, "Connection: X-A\r\nX-A: 1\r\n", &r);
	char v[64];
	cr_assert_null(head_field(&r, "X-A", v, sizeof(v)), "X-A reached the backend: %s",
		       excerpt(r.body, r.body_len));
	response_free(&r);
	get200(dm.d.port, p, NULL, &r);
	cr_assert(cache_status_has(&r, "hit"),
		  "the cache keyed on a field the client named in Connection: %s",
		  cache_status(&r));
	response_free(&r);
	cr_assert_eq(bk_count(&b, "REQ GET /reflect/conn?vary=X-A"), 1, "%s", bk_log_text(&b));
	backend_stop(&b);
	harness_end();
}

/* ---- 3. a bare LF ending the chunked trailer section ----------------------------- */

/*
 * Defect 3: "0\r\n\n" was taken as the end of a chunked body and what
 * followed as the next request. Only CRLF ends the trailer section.
 */
Test(hostile_poison, a_trailer_section_not_ended_by_crlf_is_refused)
{
	struct proc o, d;
	start_pair(&o, &d);
	static const struct {
		const char *name, *end;
	} cases[] = {
	    {"bare_lf", "0\r\n\n"},
	    {"field_then_bare_lf", "0\r\nX: y\r\n\n"},
	    {"field_ended_by_bare_lf", "0\r\nX: y\n\r\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char raw[512];
		snprintf(raw, sizeof(raw),
			 "POST /tr/%s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "5\r\nhello\r\n%sGET /evil HTTP/1.1\r\nHost: t\r\n\r\n",
			 cases[i].name, cases[i].end);
		expect_refused(d.port, cases[i].name, raw, 400);
		char path[64];
		snprintf(path, sizeof(path), "/tr/%s", cases[i].name);
		cr_assert_eq(origin_requests(o.port, path), 0, "[%s] reached the origin",
			     cases[i].name);
		cr_assert_eq(origin_requests(o.port, "/evil"), 0,
			     "[%s] the request after the trailer reached the origin",
			     cases[i].name);
	}
	/* The same with the end of the body arriving after the head went out:
	 * closed, and the smuggled request never forwarded. */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct conn c;
		conn_open(&c, d.port);
		conn_sendf(&c,
			   "POST /tr2/%s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
			   "5\r\nhello\r\n",
			   cases[i].name);
		sleep_ms(100);
		conn_sendf(&c, "%sGET /evil2 HTTP/1.1\r\nHost: t\r\n\r\n", cases[i].end);
		char *out = NULL;
		size_t len = 0;
		cr_assert(conn_read_until_close(&c, 3000, &out, &len), "[%s, split] not closed: %s",
			  cases[i].name, excerpt(out, len));
		cr_assert(len == 0 || !strstr(out + 1, "HTTP/1.1 "),
			  "[%s, split] more than one response: %s", cases[i].name,
			  excerpt(out, len));
		free(out);
		conn_close(&c);
		cr_assert_eq(origin_requests(o.port, "/evil2"), 0,
			     "[%s, split] the request after the trailer reached the origin",
			     cases[i].name);
	}
	harness_end();
}

/* Defect 3, the response side: a trailer section ended by a bare LF is a
 * malformed response, 502, and not stored. */
Test(hostile_poison, a_response_trailer_section_not_ended_by_crlf_is_502_and_not_stored)
{
	struct backend b;
	backend_start(&b, 0);
	struct daemon dm;
	daemon_start(&dm, b.port, 2, NULL);
	const char *paths[] = {"/t/bare_lf_end", "/t/lf_after_trailer"};
	for (size_t i = 0; i < 2; i++) {
		for (int k = 0; k < 2; k++) { /* the second would be a hit if it was stored */
			struct response r;
			http_get_once(dm.d.port, paths[i], &r);
			cr_assert_eq(r.status, 502, "%s (#%d): %d %s", paths[i], k, r.status,
				     r.raw_head);
			response_free(&r);
		}
	}
	backend_stop(&b);
	harness_end();
}

/* ---- 4. heuristic freshness for responses to requests with credentials ------------ */

static long long long_ago(void)
{
	return (long long)time(NULL) - 10 * 86400;
}

/*
 * Defect 4 (web cache deception): a response to a request with a Cookie,
 * with Last-Modified and no explicit freshness, was stored heuristically
 * and served to everyone.
 */
Test(hostile_poison, no_heuristic_freshness_for_responses_to_requests_with_credentials)
{
	struct proc o, d;
	start_pair(&o, &d);
	char p[128];
	snprintf(p, sizeof(p), "/cred/cookie?size=10&lm=%lld", long_ago());
	struct response r;
	get200(d.port, p, "Cookie: session=alice\r\n", &r);
	cr_assert(cache_status_has(&r, "detail=credentials"), "Cache-Status: %s", cache_status(&r));
	cr_assert_not(cache_status_has(&r, "stored"), "Cache-Status: %s", cache_status(&r));
	response_free(&r);
	get200(d.port, p, NULL, &r);
	cr_assert_not(cache_status_has(&r, "hit"), "Alice's page served to Bob: %s",
		      cache_status(&r));
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, p), 2);
	/* Authorization: not stored either (RFC 9111 3.5 already said so). */
	snprintf(p, sizeof(p), "/cred/auth?size=10&lm=%lld", long_ago());
	get200(d.port, p, "Authorization: Bearer alice\r\n", &r);
	response_free(&r);
	get200(d.port, p, NULL, &r);
	cr_assert_not(cache_status_has(&r, "hit"), "Alice's page served to Bob: %s",
		      cache_status(&r));
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, p), 2);
	harness_end();
}

/* Defect 4, the knob: cache.heuristic_with_credentials: true stores it. */
Test(hostile_poison, heuristic_with_credentials_stores_them_when_asked_to)
{
	struct proc o, d;
	start_pair_extra(&o, &d, "cache:\n  heuristic_with_credentials: true\n");
	char p[128];
	snprintf(p, sizeof(p), "/cred/optin?size=10&lm=%lld", long_ago());
	struct response r;
	get200(d.port, p, "Cookie: session=alice\r\n", &r);
	response_free(&r);
	get200(d.port, p, NULL, &r);
	cr_assert(cache_status_has(&r, "hit"), "Cache-Status: %s", cache_status(&r));
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, p), 1);
	harness_end();
}

/*
 * Defect 4, what stays as it was (this test passes on the old code too):
 * with explicit freshness or public, a response to a Cookie request is
 * stored; without credentials, a Last-Modified response gets heuristic
 * freshness.
 */
Test(hostile_poison, explicit_freshness_public_or_no_credentials_are_still_stored)
{
	struct proc o, d;
	start_pair(&o, &d);
	long long t = long_ago();
	static const struct {
		const char *name, *query, *extra;
	} cases[] = {
	    {"public", "cc=public", "Cookie: session=alice\r\n"},
	    {"max_age", "cc=max-age%3D60", "Cookie: session=alice\r\n"},
	    {"s_maxage", "cc=s-maxage%3D60", "Cookie: session=alice\r\n"},
	    {"no_credentials", "x=1", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char p[160];
		snprintf(p, sizeof(p), "/cred/%s?size=10&lm=%lld&%s", cases[i].name, t,
			 cases[i].query);
		struct response r;
		get200(d.port, p, cases[i].extra, &r);
		response_free(&r);
		get200(d.port, p, NULL, &r);
		cr_assert(cache_status_has(&r, "hit"), "[%s] Cache-Status: %s", cases[i].name,
			  cache_status(&r));
		response_free(&r);
		cr_assert_eq(origin_requests(o.port, p), 1, "[%s]", cases[i].name);
	}
	harness_end();
}

/* ---- 5. bodies of GET and HEAD ---------------------------------------------------- */

/*
 * Defect 5 (CL.0): the body of a GET or HEAD was forwarded, and a backend
 * that ignores such bodies read it as the next request. It is read and
 * dropped; the request goes without a body.
 */
Test(hostile_poison, get_and_head_bodies_never_reach_a_backend_that_ignores_them)
{
	struct backend b;
	backend_start(&b, 0);
	struct daemon dm;
	daemon_start(&dm, b.port, 2, NULL);
	struct conn c;
	conn_open(&c, dm.d.port);
	struct response r;
	/* Content-Length. */
	const char *evil = "GET /evil HTTP/1.1\r\nHost: t\r\n\r\n";
	conn_sendf(&c, "GET /a HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n%s", strlen(evil),
		   evil);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert(r.status == 200 && body_is(&r, "a"), "GET /a: %d %s", r.status,
		  excerpt(r.body, r.body_len));
	response_free(&r);
	http_req(&c, "GET", "/b", NULL, &r);
	cr_assert(r.status == 200 && body_is(&r, "b"), "GET /b: %d %s", r.status,
		  excerpt(r.body, r.body_len));
	response_free(&r);
	/* Chunked. */
	const char *evil2 = "GET /evil2 HTTP/1.1\r\nHost: t\r\n\r\n";
	conn_sendf(&c,
		   "GET /a2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n"
		   "0\r\n\r\n",
		   strlen(evil2), evil2);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert(r.status == 200 && body_is(&r, "a2"), "GET /a2: %d %s", r.status,
		  excerpt(r.body, r.body_len));
	response_free(&r);
	http_req(&c, "GET", "/b2", NULL, &r);
	cr_assert(r.status == 200 && body_is(&r, "b2"), "GET /b2: %d %s", r.status,
		  excerpt(r.body, r.body_len));
	response_free(&r);
	/* HEAD. */
	const char *evil3 = "GET /evil3 HTTP/1.1\r\nHost: t\r\n\r\n";
	conn_sendf(&c, "HEAD /a3 HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n%s",
		   strlen(evil3), evil3);
	cr_assert_eq(read_response(&c, &r, RESP_HEAD), READ_OK, "%s", r.error);
	cr_assert_eq(r.status, 200, "HEAD /a3: %s", r.raw_head);
	response_free(&r);
	http_req(&c, "GET", "/b3", NULL, &r);
	cr_assert(r.status == 200 && body_is(&r, "b3"), "GET /b3: %d %s", r.status,
		  excerpt(r.body, r.body_len));
	response_free(&r);
	conn_close(&c);
	sleep_ms(200); /* a body read as a request would be answered by now */
	cr_assert_eq(bk_count_prefix(&b, "REQ "), 6, "the backend saw other requests:\n%s",
		     bk_log_text(&b));
	cr_assert_eq(bk_count_prefix(&b, "BAD"), 0, "%s", bk_log_text(&b));
	cr_assert_eq(bk_count(&b, "REQ GET /evil") + bk_count(&b, "REQ GET /evil2") +
			 bk_count(&b, "REQ GET /evil3"),
		     0, "a request hidden in a GET body reached the backend:\n%s", bk_log_text(&b));
	/* Forwarded without framing fields, and an ordinary cacheable GET. */
	conn_open(&c, dm.d.port);
	conn_send_str(
	    &c,
	    "GET /reflect/getbody HTTP/1.1\r\nHost: test.local\r\nContent-Length: 5\r\n\r\nhello");
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	conn_close(&c);
	char v[64];
	cr_assert_null(head_field(&r, "Content-Length", v, sizeof(v)), "%s",
		       excerpt(r.body, r.body_len));
	cr_assert_null(head_field(&r, "Transfer-Encoding", v, sizeof(v)), "%s",
		       excerpt(r.body, r.body_len));
	response_free(&r);
	http_once(dm.d.port, "GET", "/reflect/getbody", NULL, &r);
	cr_assert(cache_status_has(&r, "hit"), "a GET with a body was not cached: %s",
		  cache_status(&r));
	response_free(&r);
	cr_assert_eq(bk_count(&b, "REQ GET /reflect/getbody"), 1, "%s", bk_log_text(&b));
	backend_stop(&b);
	harness_end();
}

/* Defect 5 through the real origin: /echo shows no framing fields and no body. */
Test(hostile_poison, get_bodies_are_dropped_before_the_origin)
{
	struct proc o, d;
	start_pair(&o, &d);
	struct conn c;
	conn_open(&c, d.port);
	static const char *reqs[] = {
	    "GET /echo?v=cl HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
	    "GET /echo?v=te HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhello\r\n0\r\n\r\n",
	};
	for (size_t i = 0; i < 2; i++) {
		conn_send_str(&c, reqs[i]);
		struct response r;
		cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
		cr_assert_eq(r.status, 200, "%s", r.raw_head);
		const char *h, *body;
		size_t hl, bl;
		cr_assert_eq(echo_split(&r, &h, &hl, &body, &bl), 0);
		char v[64];
		cr_assert_null(echo_header(h, hl, "Content-Length", v, sizeof(v)), "%s",
			       excerpt(r.body, r.body_len));
		cr_assert_null(echo_header(h, hl, "Transfer-Encoding", v, sizeof(v)), "%s",
			       excerpt(r.body, r.body_len));
		cr_assert_eq(bl, 0, "the GET body was forwarded: %s", excerpt(body, bl));
		response_free(&r);
	}
	/* The connection goes on. */
	struct response r;
	http_req(&c, "GET", "/after?size=3", NULL, &r);
	cr_assert(r.status == 200 && r.body_len == 3);
	response_free(&r);
	conn_close(&c);
	harness_end();
}

/* ---- 6. unkeyed forwarding and override headers ----------------------------------- */

struct hv {
	const char *name, *value;
};

static const struct hv untrusted_fields[] = {
    {"Forwarded", "for=192.0.2.60;proto=https;host=evil.example"},
    {"X-Forwarded-Host", "evil.example"},
    {"X-Forwarded-Proto", "https"},
    {"X-Forwarded-Scheme", "https"},
    {"X-Forwarded-Port", "8443"},
    {"X-Forwarded-Prefix", "/evil-prefix"},
    {"X-Forwarded-Ssl", "on"},
    {"X-Forwarded-Server", "evil.example"},
    {"X-Host", "evil.example"},
    {"Front-End-Https", "on"},
    {"X-Original-URL", "/evil/admin"},
    {"X-Rewrite-URL", "/evil/admin"},
    {"X-HTTP-Method-Override", "DELETE"},
    {"X-HTTP-Method", "PUT"},
    {"X-Method-Override", "PATCH"},
    {"X-Real-IP", "192.0.2.66"},
    {"X-Client-IP", "192.0.2.66"},
    {"True-Client-IP", "192.0.2.66"},
};
#define N_UNTRUSTED (sizeof(untrusted_fields) / sizeof(untrusted_fields[0]))

static void lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/*
 * Defect 6: forwarding and override fields from a client were forwarded
 * untouched and the answers stored for everyone. From an untrusted client
 * (the default: no trusted_proxies) they are removed before the cache and
 * the backend see the request; X-Forwarded-For is not believed either: it
 * starts anew with the client's address.
 */
Test(hostile_poison, forwarding_and_override_fields_from_untrusted_clients_are_removed)
{
	struct backend b;
	backend_start(&b, 0);
	struct daemon dm;
	daemon_start(&dm, b.port, 2, NULL);
	for (size_t i = 0; i < N_UNTRUSTED; i++) {
		for (int lc = 0; lc < 2; lc++) { /* as usually written, then lower-case */
			char name[64], path[64], extra[256], v[256];
			snprintf(name, sizeof(name), "%s", untrusted_fields[i].name);
			if (lc)
				lower(name);
			snprintf(path, sizeof(path), "/reflect/untrusted/%zu/%d", i, lc);
			snprintf(extra, sizeof(extra), "%s: %s\r\nX-Forwarded-For: 192.0.2.9\r\n",
				 name, untrusted_fields[i].value);
			struct response r;
			get200(dm.d.port, path, extra, &r);
			/* X-Forwarded-Proto is ringcache's own ("http"), never the
			 * client's. */
			const char *got = head_field(&r, name, v, sizeof(v));
			if (!strcasecmp(name, "x-forwarded-proto"))
				cr_assert(got && !strcmp(got, "http"),
					  "[%s] the client's value reached the backend: %s", name,
					  excerpt(r.body, r.body_len));
			else
				cr_assert_null(
				    got, "[%s] reached the backend from an untrusted client: %s",
				    name, excerpt(r.body, r.body_len));
			cr_assert_not_null(head_field(&r, "X-Forwarded-For", v, sizeof(v)), "%s",
					   excerpt(r.body, r.body_len));
			cr_assert_str_eq(v, "127.0.0.1");
			response_free(&r);
			/* A plain client gets the stored answer, without the attacker's field. */
			get200(dm.d.port, path, NULL, &r);
			got = head_field(&r, name, v, sizeof(v));
			cr_assert(!got || (!strcasecmp(name, "x-forwarded-proto") &&
					   !strcmp(got, "http")),
				  "[%s] the attacker's value was served to a plain client: %s",
				  name, excerpt(r.body, r.body_len));
			cr_assert(cache_status_has(&r, "hit"), "[%s] Cache-Status: %s", name,
				  cache_status(&r));
			response_free(&r);
		}
	}
	backend_stop(&b);
	harness_end();
}

/* Defect 6: trusted_proxies takes networks and bare addresses; a client
 * outside them is untrusted. */
Test(hostile_poison, trusted_proxies_matches_networks_and_bare_addresses)
{
	struct backend b;
	backend_start(&b, 0);
	static const struct {
		const char *yaml;
		int trusted;
	} cases[] = {
	    {"trusted_proxies: [\"10.0.0.0/8\"]\n", 0},
	    {"trusted_proxies: [\"127.0.0.1\"]\n", 1},
	    {"trusted_proxies: [\"10.0.0.0/8\", \"127.0.0.0/8\"]\n", 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct daemon dm;
		daemon_start(&dm, b.port, 2, cases[i].yaml);
		char path[64], v[128];
		snprintf(path, sizeof(path), "/reflect/tp/%zu", i);
		struct response r;
		get200(dm.d.port, path, "X-Forwarded-Host: fwd.example\r\n", &r);
		const char *got = head_field(&r, "X-Forwarded-Host", v, sizeof(v));
		if (cases[i].trusted)
			cr_assert(got && !strcmp(got, "fwd.example"), "[%s] not forwarded: %s",
				  cases[i].yaml, excerpt(r.body, r.body_len));
		else
			cr_assert_null(got, "[%s] forwarded from an untrusted client: %s",
				       cases[i].yaml, excerpt(r.body, r.body_len));
		response_free(&r);
	}
	backend_stop(&b);
	harness_end();
}

static const char trusted_yaml[] = "trusted_proxies: [\"127.0.0.0/8\"]\n";

/* One keyed request: WITH the field (NAME: VALUE) or without (VALUE NULL);
 * checks hit or not and that the reflected head carries exactly that. */
static void keyed_get(int port, const char *path, const char *name, const char *value, int hit)
{
	char extra[256] = "", v[256];
	if (value)
		snprintf(extra, sizeof(extra), "%s: %s\r\n", name, value);
	struct response r;
	get200(port, path, value ? extra : NULL, &r);
	cr_assert_eq(cache_status_has(&r, "hit"), hit, "[%s: %s] want %s: %s", name,
		     value ? value : "(none)", hit ? "a hit" : "no hit", cache_status(&r));
	const char *got = head_field(&r, name, v, sizeof(v));
	if (value)
		cr_assert(got && !strcmp(got, value), "[%s: %s] answered with: %s", name, value,
			  excerpt(r.body, r.body_len));
	else if (!strcasecmp(name, "x-forwarded-proto")) /* ringcache's own */
		cr_assert(got && !strcmp(got, "http"), "[%s absent] answered with: %s", name,
			  excerpt(r.body, r.body_len));
	else
		cr_assert_null(got, "[%s absent] answered with: %s", name,
			       excerpt(r.body, r.body_len));
	response_free(&r);
}

/*
 * Defect 6: from a trusted proxy the forwarding fields are forwarded, and
 * those present are part of the cache key, since the answer may depend on
 * them: with, without and with another value are three stored objects.
 */
Test(hostile_poison, forwarding_fields_from_a_trusted_proxy_are_forwarded_and_keyed)
{
	struct backend b;
	backend_start(&b, 0);
	struct daemon dm;
	daemon_start(&dm, b.port, 2, trusted_yaml);
	static const struct {
		const char *name, *v1, *v2;
	} cases[] = {
	    {"X-Forwarded-Host", "a.example", "b.example"}, {"X-Forwarded-Proto", "https", "http"},
	    {"X-Forwarded-Scheme", "https", "http"},	    {"X-Forwarded-Port", "443", "8443"},
	    {"X-Forwarded-Prefix", "/p1", "/p2"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[64], line[96];
		snprintf(path, sizeof(path), "/reflect/trusted/%zu", i);
		snprintf(line, sizeof(line), "REQ GET %s", path);
		const char *n = cases[i].name;
		keyed_get(dm.d.port, path, n, cases[i].v1, 0);
		keyed_get(dm.d.port, path, n, NULL, 0);
		keyed_get(dm.d.port, path, n, cases[i].v1, 1);
		keyed_get(dm.d.port, path, n, NULL, 1);
		keyed_get(dm.d.port, path, n, cases[i].v2, 0);
		keyed_get(dm.d.port, path, n, cases[i].v2, 1);
		keyed_get(dm.d.port, path, n, cases[i].v1, 1);
		cr_assert_eq(bk_count(&b, line), 3, "[%s]\n%s", n, bk_log_text(&b));
	}
	backend_stop(&b);
	harness_end();
}

/* Defect 6: of Forwarded, host= and proto= are keyed, for= is not. */
Test(hostile_poison, forwarded_from_a_trusted_proxy_is_keyed_on_host_and_proto_only)
{
	struct backend b;
	backend_start(&b, 0);
	struct daemon dm;
	daemon_start(&dm, b.port, 2, trusted_yaml);
	const char *p = "/reflect/forwarded";
	static const struct {
		const char *value;
		int hit;
		const char *want; /* in the reflected Forwarded */
	} steps[] = {
	    {"for=192.0.2.1;host=a.example;proto=https", 0, "host=a.example"},
	    {"for=192.0.2.2;host=a.example;proto=https", 1, "for=192.0.2.1"}, /* the stored one */
	    {"for=192.0.2.1;host=b.example;proto=https", 0, "host=b.example"},
	    {"for=192.0.2.1;host=a.example;proto=http", 0, "proto=http;"},
	    {NULL, 0, NULL},
	    {"for=192.0.2.3;host=b.example;proto=https", 1, "host=b.example"},
	};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		char extra[160], v[256];
		if (steps[i].value)
			snprintf(extra, sizeof(extra), "Forwarded: %s\r\n", steps[i].value);
		struct response r;
		get200(dm.d.port, p, steps[i].value ? extra : NULL, &r);
		cr_assert_eq(cache_status_has(&r, "hit"), steps[i].hit, "[%s] want %s: %s",
			     steps[i].value ? steps[i].value : "(none)",
			     steps[i].hit ? "a hit" : "no hit", cache_status(&r));
		const char *got = head_field(&r, "Forwarded", v, sizeof(v));
		if (steps[i].want) {
			/* "proto=http;" would not match the end of a value: test with ';' added. */
			char padded[300];
			snprintf(padded, sizeof(padded), "%s;", got ? got : "");
			cr_assert(got && strstr(padded, steps[i].want), "[%s] answered with: %s",
				  steps[i].value, excerpt(r.body, r.body_len));
		} else {
			cr_assert_null(got, "[none] answered with: %s",
				       excerpt(r.body, r.body_len));
		}
		response_free(&r);
	}
	cr_assert_eq(bk_count(&b, "REQ GET /reflect/forwarded"), 4, "%s", bk_log_text(&b));
	backend_stop(&b);
	harness_end();
}

/*
 * Defect 6: a method- or URL-override field from a trusted proxy is
 * forwarded, but the request is passed: never answered from the cache,
 * never stored (Cache-Status fwd=request).
 */
Test(hostile_poison, override_fields_from_a_trusted_proxy_pass_the_request)
{
	struct backend b;
	backend_start(&b, 0);
	struct daemon dm;
	daemon_start(&dm, b.port, 2, trusted_yaml);
	static const struct hv cases[] = {
	    {"X-HTTP-Method-Override", "DELETE"}, {"X-HTTP-Method", "PUT"},
	    {"X-Method-Override", "PATCH"},	  {"X-Original-URL", "/admin"},
	    {"X-Rewrite-URL", "/admin"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[64], line[96], extra[128], v[128];
		snprintf(path, sizeof(path), "/reflect/override/%zu", i);
		snprintf(line, sizeof(line), "REQ GET %s", path);
		snprintf(extra, sizeof(extra), "%s: %s\r\n", cases[i].name, cases[i].value);
		const char *n = cases[i].name;
		struct response r;
		for (int k = 0; k < 2; k++) {
			get200(dm.d.port, path, extra, &r);
			cr_assert(cache_status_has(&r, "fwd=request"), "[%s #%d] Cache-Status: %s",
				  n, k, cache_status(&r));
			cr_assert_not(cache_status_has(&r, "hit") || cache_status_has(&r, "stored"),
				      "[%s #%d] Cache-Status: %s", n, k, cache_status(&r));
			const char *got = head_field(&r, n, v, sizeof(v));
			cr_assert(got && !strcmp(got, cases[i].value), "[%s] not forwarded: %s", n,
				  excerpt(r.body, r.body_len));
			response_free(&r);
		}
		/* Nothing was stored: a plain request is a miss, and is stored. */
		get200(dm.d.port, path, NULL, &r);
		cr_assert_not(cache_status_has(&r, "hit"), "[%s] stored: %s", n, cache_status(&r));
		response_free(&r);
		get200(dm.d.port, path, NULL, &r);
		cr_assert(cache_status_has(&r, "hit"), "[%s] plain: %s", n, cache_status(&r));
		response_free(&r);
		/* And a stored object does not answer an override request. */
		get200(dm.d.port, path, extra, &r);
		cr_assert_not(cache_status_has(&r, "hit"), "[%s] answered from the cache: %s", n,
			      cache_status(&r));
		cr_assert(cache_status_has(&r, "fwd=request"), "[%s] Cache-Status: %s", n,
			  cache_status(&r));
		cr_assert_not_null(head_field(&r, n, v, sizeof(v)), "[%s] not forwarded: %s", n,
				   excerpt(r.body, r.body_len));
		response_free(&r);
		cr_assert_eq(bk_count(&b, line), 4, "[%s]\n%s", n, bk_log_text(&b));
	}
	backend_stop(&b);
	harness_end();
}

/* ---- 7. valid chunked forms ------------------------------------------------------- */

/*
 * Defect 7 (interoperability): a chunk extension with a quoted-string
 * value, BWS before ';', and OWS after the Transfer-Encoding value are
 * valid (RFC 9112 7.1.1, 5) and were refused.
 */
Test(hostile_poison, valid_chunk_extensions_and_transfer_encoding_ows_are_accepted)
{
	struct proc o, d;
	start_pair(&o, &d);
	static const struct {
		const char *name, *te, *body;
	} cases[] = {
	    {"quoted_ext", "chunked", "5;name=\"va;l\\\"ue\"\r\nhello\r\n0\r\n\r\n"},
	    {"bws_before_semicolon", "chunked", "5 ;a=b\r\nhello\r\n0\r\n\r\n"},
	    {"te_tab", "chunked\t", "5\r\nhello\r\n0\r\n\r\n"},
	    {"te_space", "chunked ", "5\r\nhello\r\n0\r\n\r\n"},
	};
	struct conn c;
	conn_open(&c, d.port);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		conn_sendf(&c,
			   "POST /echo?c=%s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: %s\r\n\r\n%s",
			   cases[i].name, cases[i].te, cases[i].body);
		struct response r;
		cr_assert_eq(read_response(&c, &r, 0), READ_OK, "[%s] %s", cases[i].name, r.error);
		cr_assert_eq(r.status, 200, "[%s] %s", cases[i].name, r.raw_head);
		const char *h, *body;
		size_t hl, bl;
		cr_assert_eq(echo_split(&r, &h, &hl, &body, &bl), 0, "[%s]", cases[i].name);
		cr_assert(bl == 5 && !memcmp(body, "hello", 5), "[%s] body: %s", cases[i].name,
			  excerpt(body, bl));
		response_free(&r);
	}
	conn_close(&c);
	harness_end();
}

/* Defect 7, and nothing more: these stay refused (they were before, too). */
Test(hostile_poison, invalid_chunk_extensions_stay_refused)
{
	struct proc o, d;
	start_pair(&o, &d);
	static const struct {
		const char *name, *size_line;
	} cases[] = {
	    {"cr_in_quoted", "5;a=\"x\ry\"\r\n"},
	    {"lf_in_quoted", "5;a=\"x\ny\"\r\n"},
	    {"space_without_semicolon", "5 \r\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char raw[512], path[64];
		snprintf(path, sizeof(path), "/c7/%s", cases[i].name);
		snprintf(raw, sizeof(raw),
			 "POST %s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "%shello\r\n0\r\n\r\n",
			 path, cases[i].size_line);
		expect_refused(d.port, cases[i].name, raw, 400);
		cr_assert_eq(origin_requests(o.port, path), 0, "[%s] reached the origin",
			     cases[i].name);
	}
	harness_end();
}

/* ---- found in review ---------------------------------------------------------- */

/*
 * A stray that lands while its connection carries the next request is read
 * as that request's answer, and no HTTP/1.1 proxy can tell. So once a
 * server has sent bytes nobody asked for, none of its connections is
 * reused for a while: requests sent back to back, each of which would take
 * the connection the previous one just gave back, still get their own
 * answers.
 */
Test(hostile_poison, after_a_stray_no_connection_of_that_server_is_reused)
{
	struct backend b;
	backend_start(&b, BK_STRAY);
	struct daemon dm;
	daemon_start(&dm, b.port, 1, NULL);
	struct response r;
	get200(dm.d.port, "/id/1", NULL, &r);
	cr_assert(body_is(&r, "id=1"));
	response_free(&r);
	bk_wait_strays(&b);
	metric_wait_geq(&dm, "ringcache_backend_unsolicited_total", 1);
	/* Back to back on one client connection (one loop): with reuse each
	 * would take the connection whose stray is 100 ms away. */
	struct conn c;
	conn_open(&c, dm.d.port);
	for (int k = 2; k < 22; k++) {
		char path[32], want[32];
		snprintf(path, sizeof(path), "/id/%d", k);
		snprintf(want, sizeof(want), "id=%d", k);
		http_req(&c, "GET", path, NULL, &r);
		cr_assert(r.status == 200 && body_is(&r, want), "GET %s got %d %s", path, r.status,
			  excerpt(r.body, r.body_len));
		response_free(&r);
	}
	conn_close(&c);
	/* Each exchange had its own connection. */
	cr_assert_geq(bk_count(&b, "CONN"), 21, "%s", bk_log_text(&b));
	backend_stop(&b);
	harness_end();
}

/* RFC 9112 6.1: a connection that carried an HTTP/1.0 message with
 * Transfer-Encoding closes after it, whatever Connection says. */
Test(hostile_poison, an_http10_response_with_transfer_encoding_ends_its_connection)
{
	struct backend b;
	backend_start(&b, 0);
	struct daemon dm;
	daemon_start(&dm, b.port, 1, NULL);
	struct conn c;
	conn_open(&c, dm.d.port);
	for (int k = 0; k < 3; k++) {
		char path[32];
		snprintf(path, sizeof(path), "/h10te/%d", k);
		struct response r;
		http_req(&c, "GET", path, NULL, &r);
		cr_assert(r.status == 200 && body_is(&r, "ok"), "%d %s", r.status,
			  excerpt(r.body, r.body_len));
		response_free(&r);
	}
	conn_close(&c);
	cr_assert_eq(bk_count(&b, "CONN"), 3, "a connection was reused:\n%s", bk_log_text(&b));
	backend_stop(&b);
	harness_end();
}

/*
 * X_Forwarded_Host is X-Forwarded-Host to CGI, PHP, Rack and gunicorn
 * (both become HTTP_X_FORWARDED_HOST), so underscore spellings must not
 * get past the filter or the key. By default (as nginx) every request
 * field with '_' in its name is removed; with underscores_in_headers: true
 * they are kept, but the forwarding and override ones are still
 * recognised as such.
 */
Test(hostile_poison, underscore_spellings_of_forwarding_fields_do_not_get_past)
{
	static const char *const spelled[] = {
	    "X_Forwarded_Host: evil.example", "x_forwarded_proto: http",
	    "X_HTTP_Method_Override: DELETE", "X_Original_URL: /admin", "X_Custom: 1"};
	for (int keep = 0; keep < 2; keep++) {
		struct backend b;
		backend_start(&b, 0);
		struct daemon dm;
		daemon_start(&dm, b.port, 2, keep ? "underscores_in_headers: true\n" : NULL);
		for (size_t i = 0; i < sizeof(spelled) / sizeof(spelled[0]); i++) {
			char path[64], extra[96], name[64], v[256];
			snprintf(path, sizeof(path), "/reflect/under/%d/%zu", keep, i);
			snprintf(extra, sizeof(extra), "%s\r\n", spelled[i]);
			snprintf(name, sizeof(name), "%.*s", (int)strcspn(spelled[i], ":"),
				 spelled[i]);
			struct response r;
			get200(dm.d.port, path, extra, &r);
			const char *got = head_field(&r, name, v, sizeof(v));
			/* Only a plain field survives, and only when asked to. */
			if (keep && i == 4)
				cr_assert_not_null(got, "[%s] removed although kept: %s", name,
						   excerpt(r.body, r.body_len));
			else
				cr_assert_null(got, "[%s] reached the backend (keep=%d): %s", name,
					       keep, excerpt(r.body, r.body_len));
			response_free(&r);
			get200(dm.d.port, path, NULL, &r);
			cr_assert(cache_status_has(&r, "hit"), "[%s] %s", name, cache_status(&r));
			response_free(&r);
		}
		backend_stop(&b);
		harness_end();
	}
}

/* From a trusted proxy with underscores kept, an underscore spelling of a
 * forwarding field is keyed like the field it means. */
Test(hostile_poison, underscore_spelling_from_a_trusted_proxy_is_keyed)
{
	struct backend b;
	backend_start(&b, 0);
	struct daemon dm;
	daemon_start(&dm, b.port, 2,
		     "trusted_proxies: [\"127.0.0.0/8\"]\nunderscores_in_headers: true\n");
	const char *p = "/reflect/under-trusted";
	keyed_get(dm.d.port, p, "X-Forwarded-Host", "shop.example", 0);
	keyed_get(dm.d.port, p, "X_Forwarded_Host", "evil.example", 0);
	keyed_get(dm.d.port, p, "X-Forwarded-Host", "shop.example", 1);
	keyed_get(dm.d.port, p, "X_Forwarded_Host", "evil.example", 1);
	cr_assert_eq(bk_count(&b, "REQ GET /reflect/under-trusted"), 2, "%s", bk_log_text(&b));
	backend_stop(&b);
	harness_end();
}

/* Of Forwarded, every pair but for= and by= is keyed: a backend may read
 * "xhost=" as the host. */
Test(hostile_poison, forwarded_pairs_other_than_for_and_by_are_keyed)
{
	struct backend b;
	backend_start(&b, 0);
	struct daemon dm;
	daemon_start(&dm, b.port, 2, trusted_yaml);
	const char *p = "/reflect/forwarded-xhost";
	keyed_get(dm.d.port, p, "Forwarded", "for=1.2.3.4;host=a.example", 0);
	keyed_get(dm.d.port, p, "Forwarded", "for=1.2.3.4;xhost=evil;host=a.example", 0);
	keyed_get(dm.d.port, p, "Forwarded", "for=1.2.3.4;xhost=evil;host=a.example", 1);
	/* Another client (for=) behind the same proxy shares the plain one. */
	struct response r;
	get200(dm.d.port, p, "Forwarded: for=5.6.7.8;host=a.example\r\n", &r);
	cr_assert(cache_status_has(&r, "hit"), "%s", cache_status(&r));
	response_free(&r);
	cr_assert_eq(bk_count(&b, "REQ GET /reflect/forwarded-xhost"), 2, "%s", bk_log_text(&b));
	backend_stop(&b);
	harness_end();
}

/* An override field from a trusted proxy may make the backend act on an
 * unsafe method: the stored response is invalidated as after one. */
Test(hostile_poison, an_override_from_a_trusted_proxy_invalidates)
{
	struct backend b;
	backend_start(&b, 0);
	struct daemon dm;
	daemon_start(&dm, b.port, 2, trusted_yaml);
	const char *p = "/reflect/inv";
	struct response r;
	get200(dm.d.port, p, NULL, &r);
	response_free(&r);
	get200(dm.d.port, p, NULL, &r);
	cr_assert(cache_status_has(&r, "hit"), "%s", cache_status(&r));
	response_free(&r);
	get200(dm.d.port, p, "X-HTTP-Method-Override: DELETE\r\n", &r);
	cr_assert(cache_status_has(&r, "fwd=request"), "%s", cache_status(&r));
	response_free(&r);
	get200(dm.d.port, p, NULL, &r);
	cr_assert_not(cache_status_has(&r, "hit"), "still a hit after the override: %s",
		      cache_status(&r));
	response_free(&r);
	backend_stop(&b);
	harness_end();
}

/* From a trusted proxy X-Forwarded-For is believed and appended to; from
 * anyone else it starts anew (forwarding_and_override_fields_...). */
Test(hostile_poison, x_forwarded_for_from_a_trusted_proxy_is_appended_to)
{
	struct backend b;
	backend_start(&b, 0);
	struct daemon dm;
	daemon_start(&dm, b.port, 2, trusted_yaml);
	struct response r;
	char v[256];
	get200(dm.d.port, "/reflect/xff", "X-Forwarded-For: 192.0.2.9\r\nX-Real-IP: 192.0.2.9\r\n",
	       &r);
	cr_assert_str_eq(head_field(&r, "X-Forwarded-For", v, sizeof(v)) ?: "(none)",
			 "192.0.2.9, 127.0.0.1");
	cr_assert_str_eq(head_field(&r, "X-Real-IP", v, sizeof(v)) ?: "(none)", "192.0.2.9");
	response_free(&r);
	backend_stop(&b);
	harness_end();
}
