/*
 * WebSocket tunnels through the daemon (serve/tunnel.h, docs/routing.md):
 * the handshake passed with Upgrade kept, messages of every length
 * encoding both ways, frames sent with the handshake or with the 101,
 * half-close, the idle timeout, drain, routes that do not allow it,
 * Upgrades that are not WebSocket, 101s nobody asked for, the counters
 * and the access log line.
 *
 * The far end is the real test origin (its WebSocket echo, docs/origin.md)
 * and, where a test needs bytes on the wire that no well-behaved server
 * sends (a frame in the same segment as the 101, a 101 to another
 * protocol), a small raw backend forked here.
 */
#include "harness.h"
#include "ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(route_websocket, .fini = harness_fini, .timeout = 60);

/* ---- the daemon ---------------------------------------------------------------- */

/*
 * A daemon in front of BACKEND_PORT with the admin API on *ADMIN (NULL:
 * none), TIMEOUTS (more lines under timeouts:, each "  key: value\n") and
 * MORE (more top-level keys).
 */
static void start_daemon(struct proc *d, int backend_port, const char *timeouts, const char *more,
			 int *admin)
{
	memset(d, 0, sizeof(*d));
	d->port = free_port();
	char adm[64] = "";
	if (admin) {
		*admin = free_port();
		snprintf(adm, sizeof(adm), "admin:\n  listen: \"127.0.0.1:%d\"\n", *admin);
	}
	char *yaml = NULL;
	int n = asprintf(&yaml,
			 "listen: [\"127.0.0.1:%d\"]\n"
			 "threads: 2\n"
			 "backends:\n"
			 "  - name: app\n"
			 "    servers: [\"127.0.0.1:%d\"]\n"
			 "    connect_timeout: 1s\n"
			 "    first_byte_timeout: 2s\n"
			 "    between_bytes_timeout: 2s\n"
			 "timeouts:\n"
			 "  client_header: 2s\n"
			 "  client_idle: 5s\n"
			 "%s"
			 "%s%s",
			 d->port, backend_port, timeouts ? timeouts : "", adm, more ? more : "");
	cr_assert_gt(n, 0);
	start_ringcache(d, yaml);
	free(yaml);
	if (admin)
		cr_assert(port_wait(*admin, 3000), "no admin API; log:\n%s", proc_log(d));
}

/* GET /metrics from the admin API; the body (malloc'd). */
static char *metrics(int admin)
{
	struct response r;
	http_once(admin, "GET", "/metrics", NULL, &r);
	cr_assert_eq(r.status, 200, "GET /metrics: %s", r.raw_head);
	char *text = strdup(r.body);
	response_free(&r);
	return text;
}

/* The value of the series SERIES in TEXT, -1 when it is not there. */
static double series(const char *text, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, name, nl) && p[nl] == ' ')
			return strtod(p + nl + 1, NULL);
	}
	return -1;
}

static double metric(int admin, const char *name)
{
	char *m = metrics(admin);
	double v = series(m, name);
	free(m);
	cr_assert_geq(v, 0, "no %s on /metrics", name);
	return v;
}

/* Poll (max 3 s) until NAME is WANT; its last value. */
static double metric_becomes(int admin, const char *name, double want)
{
	double v = -1;
	for (int i = 0; i < 300; i++) {
		if ((v = metric(admin, name)) == want)
			break;
		sleep_ms(10);
	}
	return v;
}

#define CLOSES(reason) "ringcache_connection_closes_total{reason=\"" reason "\"}"

/* The origin's count of 101s sent. */
static long long origin_upgrades_sent(int port)
{
	struct response r;
	http_get_once(port, "/__stats?upgrades", &r);
	cr_assert_eq(r.status, 200);
	long long n = json_number(r.body, "upgrades", -1);
	response_free(&r);
	return n;
}

/* N bytes of every byte value, for binary messages. */
static char *bytes_make(size_t n)
{
	char *p = malloc(n + 1);
	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (char)(i * 7 + i / 251);
	p[n] = '\0';
	return p;
}

/* ---- a raw backend --------------------------------------------------------------- */

enum raw_mode {
	RAW_101_WITH_FRAME, /* 101 and a text frame "hello" in one send, then echo bytes */
	RAW_101_H2C,	    /* a 101 that switches to h2c whatever was asked */
};

struct raw {
	pid_t pid;
	int port;
	/* Each request head received, then "EOF" when the proxy half-closed,
	 * or "RESET" when it reset the connection. */
	char log[PATH_MAX];
};

static void raw_log(const char *path, const char *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, p, n) < 0) {
		}
		close(fd);
	}
}

static void raw_conn(int c, const struct raw *b, enum raw_mode mode)
{
	char buf[65536];
	size_t len = 0;
	char *end = NULL;
	while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
		ssize_t n = recv(c, buf + len, sizeof(buf) - len, 0);
		if (n <= 0)
			return;
		len += (size_t)n;
	}
	size_t hlen = (size_t)(end + 4 - buf);
	raw_log(b->log, buf, hlen);
	if (mode == RAW_101_H2C) {
		static const char h2c[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n"
					  "Connection: Upgrade\r\n\r\n";
		if (send(c, h2c, sizeof(h2c) - 1, MSG_NOSIGNAL) < 0)
			return;
		while (recv(c, buf, sizeof(buf), 0) > 0) {
		}
		return;
	}
	/* One segment: the proxy reads the frame with the head. */
	char key[WS_KEY_LEN + 1] = "", accept[WS_ACCEPT_LEN + 1];
	const char *k = memmem(buf, hlen, "Sec-WebSocket-Key: ", 19);
	if (k)
		memcpy(key, k + 19, WS_KEY_LEN);
	ws_accept_for(key, accept);
	char sw[256];
	int swl = snprintf(sw, sizeof(sw),
			   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n\x81\x05hello",
			   accept);
	if (send(c, sw, (size_t)swl, MSG_NOSIGNAL) < 0)
		return;
	/* Whatever came after the request head, then everything else, back. */
	if (len > hlen && send(c, buf + hlen, len - hlen, MSG_NOSIGNAL) < 0)
		return;
	ssize_t n;
	while ((n = recv(c, buf, sizeof(buf), 0)) > 0) {
		if (send(c, buf, (size_t)n, MSG_NOSIGNAL) < 0)
			return;
	}
	if (n < 0 && errno == ECONNRESET)
		raw_log(b->log, "RESET\n", 6);
	if (n == 0) {
		/* The proxy passed the client's half-close on: answer after it. */
		raw_log(b->log, "EOF\n", 4);
		usleep(100 * 1000);
		if (send(c, "bye", 3, MSG_NOSIGNAL) < 0)
			return;
	}
}

/* Start a raw backend on a fresh port; a process per connection, 40 s at most. */
static void raw_start(struct raw *b, enum raw_mode mode)
{
	memset(b, 0, sizeof(*b));
	b->port = free_port();
	snprintf(b->log, sizeof(b->log), "%s/raw-%d.log", test_dir(), b->port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)b->port),
				 .sin_addr.s_addr = htonl(0x7f000001)};
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 16), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGCHLD, SIG_IGN);
		alarm(40);
		for (;;) {
			int c = accept(fd, NULL, NULL);
			if (c < 0)
				continue;
			if (fork() == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				close(fd);
				setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				raw_conn(c, b, mode);
				close(c);
				_exit(0);
			}
			close(c);
		}
	}
	close(fd);
	b->pid = pid;
}

static void raw_stop(struct raw *b)
{
	if (b->pid > 0) {
		kill(b->pid, SIGKILL);
		waitpid(b->pid, NULL, 0);
		b->pid = 0;
	}
}

static char *raw_text(const struct raw *b)
{
	static char text[16384];
	text[0] = '\0';
	int fd = open(b->log, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, text, sizeof(text) - 1);
		text[n > 0 ? n : 0] = '\0';
		close(fd);
	}
	return text;
}

/* ---- the handshake and messages ----------------------------------------------------- */

Test(route_websocket, handshake_and_messages_both_ways)
{
	/* 7-bit lengths, 16-bit from 126 to 65535, 64-bit beyond. */
	static const size_t sizes[] = {0, 1, 125, 126, 1000, 65535, 65536, 70000};
	struct proc o, d;
	struct conn c;
	struct response r;
	start_origin(&o);
	start_daemon(&d, o.port, NULL, NULL, NULL);
	conn_open(&c, d.port);
	ws_handshake(&c, "/chat?room=1", NULL, &r);
	cr_assert(cache_status_has(&r, "fwd=request") && cache_status_has(&r, "detail=upgrade"),
		  "Cache-Status: %s", cache_status(&r));
	cr_assert(strstr(resp_header(&r, "Via") ?: "", "ringcache"), "head: %s", r.raw_head);
	cr_assert_null(resp_header(&r, "Content-Length"), "head: %s", r.raw_head);
	cr_assert_null(resp_header(&r, "Transfer-Encoding"), "head: %s", r.raw_head);
	cr_assert_eq(resp_header_count(&r, "Connection"), 1, "head: %s", r.raw_head);
	cr_assert_null(resp_header(&r, "Age"), "a tunnel is never from the cache: %s", r.raw_head);
	response_free(&r);

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *bin = bytes_make(sizes[i]);
		char *text = pattern_make(sizes[i]);
		ws_expect_echo(&c, WS_BINARY, bin, sizes[i], 1);
		ws_expect_echo(&c, WS_TEXT, text, sizes[i], 1);
		free(bin);
		free(text);
	}
	/* Fragmented messages come back whole; a ping between fragments is
	 * answered at once. */
	char *text = pattern_make(1000);
	char *bin = bytes_make(70000);
	ws_expect_echo(&c, WS_TEXT, text, 1000, 5);
	ws_expect_echo(&c, WS_BINARY, bin, 70000, 3);
	cr_assert_eq(ws_send_raw(&c, WS_TEXT, 1, "ab", 2), 0);
	cr_assert_eq(ws_send_frame(&c, WS_PING, "are you there", 13), 0);
	ws_expect_frame(&c, WS_PONG, "are you there", 13);
	cr_assert_eq(ws_send_raw(&c, WS_FIN | WS_CONT, 1, "cd", 2), 0);
	ws_expect_frame(&c, WS_TEXT, "abcd", 4);
	free(text);
	free(bin);
	/* Many small ones back to back, each answered in turn. */
	for (int i = 0; i < 200; i++) {
		char m[32];
		int n = snprintf(m, sizeof(m), "message %d", i);
		ws_expect_echo(&c, i % 2 ? WS_TEXT : WS_BINARY, m, (size_t)n, 1);
	}
	/* The closing handshake, and the TCP close passed on. */
	ws_close_handshake(&c, 1000, "done");
	conn_close(&c);

	/* Nothing was stored: the same handshake goes to the origin again. */
	conn_open(&c, d.port);
	ws_handshake(&c, "/chat?room=1", NULL, NULL);
	ws_expect_echo(&c, WS_TEXT, "again", 5, 1);
	ws_close_handshake(&c, 1000, NULL);
	conn_close(&c);
	cr_assert_eq(origin_requests(o.port, "/chat?room=1"), 2);
	harness_end();
}

Test(route_websocket, what_the_backend_gets)
{
	/* The origin's /echo answers the head it got (with 200): an upgrade
	 * that is not taken up is relayed as an ordinary pass. */
	struct proc o, d;
	struct conn c;
	struct response r;
	start_origin(&o);
	start_daemon(&d, o.port, NULL, NULL, NULL);
	conn_open(&c, d.port);
	cr_assert_eq(conn_send_str(&c, "GET /echo HTTP/1.1\r\nHost: test.local\r\n"
				       "Connection: keep-alive, Upgrade, X-Hop\r\nX-Hop: 1\r\n"
				       "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
				       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				       "Keep-Alive: timeout=5\r\n\r\n"),
		     0);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert_eq(r.status, 200, "head: %s", r.raw_head);
	cr_assert(cache_status_has(&r, "detail=upgrade"), "Cache-Status: %s", cache_status(&r));
	const char *head, *body;
	size_t hl, bl;
	cr_assert_eq(echo_split(&r, &head, &hl, &body, &bl), 0);
	char v[256];
	cr_assert_str_eq(echo_header(head, hl, "Upgrade", v, sizeof(v)) ?: "(none)", "websocket",
			 "%s", excerpt(head, hl));
	cr_assert_str_eq(echo_header(head, hl, "Connection", v, sizeof(v)) ?: "(none)", "upgrade",
			 "%s", excerpt(head, hl));
	cr_assert_eq(echo_header_count(head, hl, "Connection"), 1, "%s", excerpt(head, hl));
	cr_assert_null(echo_header(head, hl, "X-Hop", v, sizeof(v)), "%s", excerpt(head, hl));
	cr_assert_null(echo_header(head, hl, "Keep-Alive", v, sizeof(v)), "%s", excerpt(head, hl));
	cr_assert_not_null(echo_header(head, hl, "Sec-WebSocket-Key", v, sizeof(v)));
	response_free(&r);
	/* The client connection goes on as HTTP. */
	http_req(&c, "GET", "/after", NULL, &r);
	cr_assert_eq(r.status, 200);
	response_free(&r);
	conn_close(&c);

	/* A refusal (426 for another version) reaches the client as it is. */
	conn_open(&c, d.port);
	cr_assert_eq(conn_send_str(&c, "GET /ws HTTP/1.1\r\nHost: test.local\r\n"
				       "Connection: Upgrade\r\nUpgrade: websocket\r\n"
				       "Sec-WebSocket-Version: 8\r\n"
				       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
		     0);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert_eq(r.status, 426, "head: %s", r.raw_head);
	cr_assert(r.complete, "%s", r.error);
	cr_assert_str_eq(resp_header(&r, "Sec-WebSocket-Version") ?: "(none)", "13");
	response_free(&r);
	conn_close(&c);
	harness_end();
}

Test(route_websocket, frames_sent_with_the_handshake_go_first)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	char key[WS_KEY_LEN + 1];
	int on = 1, off = 0;
	start_origin(&o);
	start_daemon(&d, o.port, NULL, NULL, NULL);
	conn_open(&c, d.port);
	ws_make_key(key);
	/* Corked: the request and the frames leave in one segment, so the
	 * daemon reads the frames with the head and must forward them. */
	cr_assert_eq(setsockopt(c.fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on)), 0);
	cr_assert_eq(ws_send_upgrade(&c, "/early", key, NULL), 0);
	cr_assert_eq(ws_send_text(&c, "early one"), 0);
	cr_assert_eq(ws_send_frame(&c, WS_PING, "p", 1), 0);
	cr_assert_eq(ws_send_fragmented(&c, WS_BINARY, "fragmented early", 16, 3), 0);
	cr_assert_eq(setsockopt(c.fd, IPPROTO_TCP, TCP_CORK, &off, sizeof(off)), 0);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	const char *why = ws_check_101(&r, key);
	cr_assert_null(why, "%s", why);
	response_free(&r);
	ws_expect_frame(&c, WS_TEXT, "early one", 9);
	ws_expect_frame(&c, WS_PONG, "p", 1);
	ws_expect_frame(&c, WS_BINARY, "fragmented early", 16);
	ws_close_handshake(&c, 1000, NULL);
	conn_close(&c);
	harness_end();
}

Test(route_websocket, bytes_with_the_101_and_half_close)
{
	struct raw b;
	struct proc d;
	struct conn c;
	struct response r;
	raw_start(&b, RAW_101_WITH_FRAME);
	start_daemon(&d, b.port, NULL, NULL, NULL);
	conn_open(&c, d.port);
	ws_handshake(&c, "/raw", NULL, &r);
	response_free(&r);
	/* The frame came in one segment with the 101: it is the first thing. */
	ws_expect_frame(&c, WS_TEXT, "hello", 5);
	/* The raw backend echoes bytes as they are (masked, so not a frame
	 * a client may get, but a tunnel does not look). */
	cr_assert_eq(conn_send_str(&c, "ping?"), 0);
	char got[16] = "";
	double until = now_s() + 3;
	while (conn_pending(&c) < 5 && now_s() < until && !conn_wait_closed(&c, 20)) {
	}
	cr_assert_geq(conn_pending(&c), 5, "echo not back through the tunnel");
	memcpy(got, c.buf + c.off, 5);
	c.off += 5;
	cr_assert_str_eq(got, "ping?");
	/* Half-close: the backend sees our end, answers after it, and the
	 * tunnel ends only then. */
	cr_assert_eq(shutdown(c.fd, SHUT_WR), 0);
	char *rest = NULL;
	size_t rl = 0;
	cr_assert(conn_read_until_close(&c, 3000, &rest, &rl), "the tunnel did not end");
	cr_assert_eq(rl, 3, "after the half-close: %s", excerpt(rest, rl));
	cr_assert_eq(memcmp(rest, "bye", 3), 0, "after the half-close: %s", excerpt(rest, rl));
	free(rest);
	conn_close(&c);
	const char *log = raw_text(&b);
	cr_assert(strstr(log, "\r\nUpgrade: websocket\r\n"), "backend got:\n%s", log);
	cr_assert(strstr(log, "\r\nConnection: upgrade\r\n"), "backend got:\n%s", log);
	cr_assert(strstr(log, "EOF\n"), "the half-close did not reach the backend:\n%s", log);
	raw_stop(&b);
	harness_end();
}

/* ---- timeouts and drain ------------------------------------------------------------- */

Test(route_websocket, idle_tunnels_close_after_timeouts_tunnel)
{
	struct proc o, d;
	struct conn c;
	int admin;
	start_origin(&o);
	start_daemon(&d, o.port, "  tunnel: 1s\n", NULL, &admin);
	/* ws_silent: the origin reads and answers nothing, so only our
	 * messages move: bytes one way keep the tunnel open. */
	conn_open(&c, d.port);
	ws_handshake(&c, "/quiet?ws_silent=1", NULL, NULL);
	double t0 = now_s(), last = t0;
	while (now_s() - t0 < 2.2) {
		cr_assert_eq(ws_send_text(&c, "still here"), 0, "the tunnel closed while in use");
		last = now_s();
		cr_assert_eq(conn_wait_closed(&c, 300), 0, "closed %.2f s in, while in use",
			     now_s() - t0);
	}
	/* Then nothing either way: closed about a second after the last byte. */
	cr_assert(conn_wait_closed(&c, 3000), "an idle tunnel stayed open");
	double took = now_s() - last;
	cr_assert(took > 0.9 && took < 2.0, "closed %.2f s after the last byte", took);
	conn_close(&c);
	cr_assert_eq(metric_becomes(admin, CLOSES("tunnel_idle"), 1), 1);
	cr_assert_eq(metric_becomes(admin, "ringcache_tunnels_open", 0), 0);
	harness_end();
}

Test(route_websocket, drain_keeps_tunnels_until_its_deadline)
{
	struct proc o, d;
	struct conn c, idle;
	struct response r;
	start_origin(&o);
	start_daemon(&d, o.port, "  drain: 1s\n", NULL, NULL);
	conn_open(&c, d.port);
	ws_handshake(&c, "/long", NULL, NULL);
	conn_open(&idle, d.port);
	http_req(&idle, "GET", "/warm?size=10", NULL, &r);
	response_free(&r);
	double t0 = now_s();
	kill(d.pid, SIGTERM);
	/* The idle keep-alive connection goes at once; the tunnel is busy
	 * and keeps working until the drain deadline. */
	cr_assert(conn_wait_closed(&idle, 800), "the idle connection was not closed");
	ws_expect_echo(&c, WS_TEXT, "during the drain", 16, 1);
	cr_assert(conn_wait_closed(&c, 3000), "the tunnel outlived the drain");
	double took = now_s() - t0;
	cr_assert(took >= 0.8 && took < 2.5, "the tunnel closed %.2f s after SIGTERM (drain 1s)",
		  took);
	int st = stop_proc(&d);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exit status %d", st);
	cr_assert_lt(now_s() - t0, 3.0);
	conn_close(&c);
	conn_close(&idle);
	harness_end();
}

Test(route_websocket, a_reset_is_passed_on)
{
	/* The client breaks off (RST): the backend must not take the end for
	 * a clean close either. */
	struct raw b;
	struct proc d;
	struct conn c;
	int admin;
	raw_start(&b, RAW_101_WITH_FRAME);
	start_daemon(&d, b.port, NULL, NULL, &admin);
	conn_open(&c, d.port);
	ws_handshake(&c, "/reset", NULL, NULL);
	ws_expect_frame(&c, WS_TEXT, "hello", 5);
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	cr_assert_eq(setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	conn_close(&c);
	const char *log = raw_text(&b);
	for (int i = 0; i < 300 && !strstr(log, "RESET\n"); i++) {
		sleep_ms(10);
		log = raw_text(&b);
	}
	cr_assert(strstr(log, "RESET\n"), "the backend did not see a reset:\n%s", log);
	cr_assert_null(strstr(log, "EOF\n"), "the backend saw a clean close:\n%s", log);
	cr_assert_eq(metric_becomes(admin, CLOSES("tunnel_closed"), 1), 1);
	cr_assert_eq(metric_becomes(admin, "ringcache_tunnels_open", 0), 0);
	raw_stop(&b);
	harness_end();
}

Test(route_websocket, a_tunnel_holds_its_connection_slot_and_outlives_a_reload)
{
	struct proc o, d;
	struct conn c, next;
	struct response r;
	int admin;
	start_origin(&o);
	start_daemon(&d, o.port, NULL, "limits:\n  max_connections: 1\n", &admin);
	conn_open(&c, d.port);
	ws_handshake(&c, "/held", NULL, NULL);
	cr_assert_eq(metric(admin, "ringcache_connections"), 1);
	cr_assert_eq(metric(admin, "ringcache_tunnels_open"), 1);
	/* The one slot is the tunnel's: a newcomer waits in the backlog. */
	conn_open(&next, d.port);
	cr_assert_eq(conn_send_str(&next, "GET /after HTTP/1.1\r\nHost: test.local\r\n\r\n"), 0);
	next.timeout_ms = 500;
	memset(&r, 0, sizeof(r));
	cr_assert_eq(read_response(&next, &r, 0), READ_TIMEOUT,
		     "served past max_connections while a tunnel was open");
	response_free(&r);
	/* A reload: the tunnel keeps the generation it began in and goes on. */
	http_once(admin, "POST", "/reload", NULL, &r);
	cr_assert_eq(r.status, 200, "%s", excerpt(r.body, r.body_len));
	cr_assert_eq(json_number(r.body, "generation", -1), 2, "%s", r.body);
	response_free(&r);
	ws_expect_echo(&c, WS_TEXT, "after the reload", 16, 1);
	ws_close_handshake(&c, 1000, NULL);
	conn_close(&c);
	/* Its end frees the slot. */
	next.timeout_ms = 3000;
	cr_assert_eq(read_response(&next, &r, 0), READ_OK, "%s", r.error);
	cr_assert_eq(r.status, 200, "head: %s", r.raw_head);
	response_free(&r);
	conn_close(&next);
	harness_end();
}

/* ---- what is not tunnelled -------------------------------------------------------------- */

Test(route_websocket, a_route_without_websocket_forwards_without_upgrade)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	char key[WS_KEY_LEN + 1];
	start_origin(&o);
	start_daemon(&d, o.port, NULL,
		     "routes:\n"
		     "  - match: {path_prefix: /plain/}\n"
		     "    backend: app\n"
		     "    rewrite: {strip_prefix: /plain}\n"
		     "    websocket: false\n"
		     "  - match: {path_prefix: /refused/, header: {name: Upgrade, regex: "
		     "\"(?i)websocket\"}}\n"
		     "    deny: true\n"
		     "  - backend: app\n",
		     NULL);
	/* As nginx without proxy_set_header Upgrade: an ordinary GET. */
	conn_open(&c, d.port);
	ws_make_key(key);
	cr_assert_eq(ws_send_upgrade(&c, "/plain/ws", key, NULL), 0);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert_eq(r.status, 400, "the origin saw no upgrade: %s", r.raw_head);
	cr_assert(!cache_status_has(&r, "detail=upgrade"), "Cache-Status: %s", cache_status(&r));
	response_free(&r);
	conn_close(&c);
	conn_open(&c, d.port);
	cr_assert_eq(ws_send_upgrade(&c, "/plain/echo", key, NULL), 0);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert_eq(r.status, 200, "head: %s", r.raw_head);
	const char *head, *body;
	size_t hl, bl;
	char v[256];
	cr_assert_eq(echo_split(&r, &head, &hl, &body, &bl), 0);
	cr_assert_null(echo_header(head, hl, "Upgrade", v, sizeof(v)), "%s", excerpt(head, hl));
	cr_assert_null(echo_header(head, hl, "Connection", v, sizeof(v)), "%s", excerpt(head, hl));
	response_free(&r);
	conn_close(&c);
	cr_assert_eq(origin_upgrades_sent(o.port), 0);

	/* A deny route before it refuses outright. */
	conn_open(&c, d.port);
	cr_assert_eq(ws_send_upgrade(&c, "/refused/ws", key, NULL), 0);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert_eq(r.status, 403, "head: %s", r.raw_head);
	response_free(&r);
	conn_close(&c);

	/* Other routes still tunnel. */
	conn_open(&c, d.port);
	ws_handshake(&c, "/other", NULL, NULL);
	ws_expect_echo(&c, WS_TEXT, "routed", 6, 1);
	ws_close_handshake(&c, 1000, NULL);
	conn_close(&c);
	harness_end();
}

Test(route_websocket, other_upgrades_are_ignored)
{
	/* h2c (curl --http2 on http://): Upgrade is hop-by-hop and removed,
	 * the request is an ordinary one, answered and kept alive. */
	struct proc o, d;
	struct conn c;
	struct response r;
	start_origin(&o);
	start_daemon(&d, o.port, NULL, NULL, NULL);
	conn_open(&c, d.port);
	http_req(&c, "GET", "/echo",
		 "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
		 "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n",
		 &r);
	cr_assert_eq(r.status, 200, "head: %s", r.raw_head);
	cr_assert(!cache_status_has(&r, "detail=upgrade"), "Cache-Status: %s", cache_status(&r));
	const char *head, *body;
	size_t hl, bl;
	char v[256];
	cr_assert_eq(echo_split(&r, &head, &hl, &body, &bl), 0);
	cr_assert_null(echo_header(head, hl, "Upgrade", v, sizeof(v)), "%s", excerpt(head, hl));
	cr_assert_null(echo_header(head, hl, "HTTP2-Settings", v, sizeof(v)), "%s",
		       excerpt(head, hl));
	cr_assert_null(echo_header(head, hl, "Connection", v, sizeof(v)), "%s", excerpt(head, hl));
	response_free(&r);
	http_req(&c, "GET", "/next", NULL, &r);
	cr_assert_eq(r.status, 200);
	response_free(&r);
	conn_close(&c);

	/* A WebSocket handshake in HTTP/1.0 asks nothing (RFC 9110 7.8). */
	conn_open(&c, d.port);
	cr_assert_eq(conn_send_str(&c, "GET /ws10 HTTP/1.0\r\nHost: test.local\r\n"
				       "Connection: Upgrade\r\nUpgrade: websocket\r\n"
				       "Sec-WebSocket-Version: 13\r\n"
				       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
		     0);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert_eq(r.status, 400, "head: %s", r.raw_head);
	response_free(&r);
	conn_close(&c);
	cr_assert_eq(origin_upgrades_sent(o.port), 0);
	harness_end();
}

Test(route_websocket, a_101_nobody_asked_for_is_a_502)
{
	struct proc o, d;
	struct conn c;
	struct response r;
	start_origin(&o);
	start_daemon(&d, o.port, NULL, NULL, NULL);
	/* Through the cache path (a GET) and a pass (a POST). */
	conn_open(&c, d.port);
	http_req(&c, "GET", "/forced?force101=1", NULL, &r);
	cr_assert_eq(r.status, 502, "head: %s", r.raw_head);
	response_free(&r);
	http_req(&c, "GET", "/fine", NULL, &r);
	cr_assert_eq(r.status, 200, "after the 502: %s", r.raw_head);
	response_free(&r);
	conn_close(&c);
	conn_open(&c, d.port);
	cr_assert_eq(conn_send_str(&c, "POST /forced?force101=1 HTTP/1.1\r\nHost: test.local\r\n"
				       "Content-Length: 2\r\n\r\nhi"),
		     0);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert_eq(r.status, 502, "head: %s", r.raw_head);
	response_free(&r);
	conn_close(&c);
	cr_assert_geq(origin_upgrades_sent(o.port), 2);

	/* A 101 to another protocol than the one asked for is one too. */
	struct raw b;
	struct proc d2;
	raw_start(&b, RAW_101_H2C);
	start_daemon(&d2, b.port, NULL, NULL, NULL);
	conn_open(&c, d2.port);
	char key[WS_KEY_LEN + 1];
	ws_make_key(key);
	cr_assert_eq(ws_send_upgrade(&c, "/h2c", key, NULL), 0);
	cr_assert_eq(read_response(&c, &r, 0), READ_OK, "%s", r.error);
	cr_assert_eq(r.status, 502, "head: %s", r.raw_head);
	response_free(&r);
	cr_assert(conn_wait_closed(&c, 2000), "the connection stayed open after the bad 101");
	conn_close(&c);
	raw_stop(&b);
	harness_end();
}

/* ---- counted and logged ------------------------------------------------------------------ */

Test(route_websocket, counters_gauge_and_access_log)
{
	struct proc o, d;
	struct conn c;
	int admin;
	char log[PATH_MAX + 64];
	snprintf(log, sizeof(log), "%s/access.log", test_dir());
	char more[PATH_MAX + 128];
	snprintf(more, sizeof(more), "log:\n  access: \"%s\"\n", log);
	start_origin(&o);
	start_daemon(&d, o.port, NULL, more, &admin);
	char *m0 = metrics(admin);
	cr_assert_eq(series(m0, "ringcache_tunnels_open"), 0, "%s", m0);
	cr_assert_eq(series(m0, "ringcache_tunnels_opened_total"), 0, "%s", m0);
	double sent0 = series(m0, "ringcache_client_sent_bytes_total");
	free(m0);

	conn_open(&c, d.port);
	ws_handshake(&c, "/counted", NULL, NULL);
	char *big = bytes_make(100000);
	ws_expect_echo(&c, WS_BINARY, big, 100000, 1);
	free(big);
	char *m1 = metrics(admin);
	cr_assert_eq(series(m1, "ringcache_tunnels_open"), 1, "%s", m1);
	cr_assert_eq(series(m1, "ringcache_tunnels_opened_total"), 1, "%s", m1);
	/* A masked frame of 100000 bytes: 14 bytes of header, 10 back. */
	cr_assert_eq(series(m1, "ringcache_tunnel_client_bytes_total"), 100014, "%s", m1);
	cr_assert_eq(series(m1, "ringcache_tunnel_backend_bytes_total"), 100010, "%s", m1);
	cr_assert_geq(series(m1, "ringcache_client_sent_bytes_total") - sent0, 100010);
	free(m1);

	/* The access log line is there while the tunnel is still open (a
	 * flush is at most a second late). */
	char *line = NULL;
	for (int i = 0; i < 300 && !line; i++) {
		FILE *f = fopen(log, "r");
		char buf[2048];
		while (f && fgets(buf, sizeof(buf), f)) {
			if (strstr(buf, "/counted"))
				line = strdup(buf);
		}
		if (f)
			fclose(f);
		if (!line)
			sleep_ms(10);
	}
	cr_assert_not_null(line, "no access log line for the open tunnel");
	cr_assert(strstr(line, "\"GET /counted HTTP/1.1\" 101 "), "%s", line);
	cr_assert(strstr(line, "cache=tunnel"), "%s", line);
	free(line);
	ws_expect_echo(&c, WS_TEXT, "still open", 10, 1);

	ws_close_handshake(&c, 1000, NULL);
	conn_close(&c);
	cr_assert_eq(metric_becomes(admin, "ringcache_tunnels_open", 0), 0);
	cr_assert_eq(metric(admin, CLOSES("tunnel_closed")), 1);
	cr_assert_eq(metric(admin, CLOSES("tunnel_idle")), 0);
	harness_end();
}
