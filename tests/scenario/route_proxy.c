/*
 * Who the client is (docs/routing.md): the PROXY protocol on a listener
 * (v1 and v2, only from trusted_proxies; a bad, missing, slow or untrusted
 * header closes the connection), X-Forwarded-For from a trusted proxy
 * naming the real client (what routes test), the fields ringcache adds
 * (X-Forwarded-Proto, Forwarded on request), and a PROXY v2 header sent to
 * a backend that asks for one.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

TestSuite(route_proxy, .fini = harness_fini, .timeout = 60);

/* Origins a and b; a daemon listening plainly on d->port and with
 * proxy_protocol on *PP_PORT, trusting TRUSTED, with ROUTES and EXTRA. */
static void start_pp(struct proc o[2], struct proc *d, int *pp_port, const char *trusted,
		     const char *routes, const char *extra)
{
	start_origin(&o[0]);
	start_origin(&o[1]);
	memset(d, 0, sizeof(*d));
	d->port = free_port();
	*pp_port = free_port();
	char *y = NULL;
	cr_assert(asprintf(&y,
			   "listen: [\"127.0.0.1:%d\", {address: \"127.0.0.1:%d\", proxy_protocol: "
			   "true}]\n"
			   "threads: 2\n"
			   "timeouts: {client_header: 1s}\n"
			   "backends:\n"
			   "  - {name: a, servers: [\"127.0.0.1:%d\"]}\n"
			   "  - {name: b, servers: [\"127.0.0.1:%d\"]}\n"
			   "trusted_proxies: %s\n"
			   "routes:\n%s%s",
			   d->port, *pp_port, o[0].port, o[1].port, trusted, routes,
			   extra ? extra : "") > 0);
	start_ringcache(d, y);
	free(y);
	cr_assert(port_wait(*pp_port, 3000));
}

static const char routes_by_client[] =
    "  - match: {client: [\"192.0.2.0/24\", \"2001:db8::/32\"]}\n"
    "    backend: b\n"
    "  - backend: a\n";

/* Send RAW (LEN bytes) on a fresh connection to PORT; the response in R, 0,
 * or -1 when the daemon closed without one. */
static int send_raw(int port, const void *raw, size_t len, struct response *r)
{
	struct conn c;
	conn_open(&c, port);
	c.timeout_ms = 3000;
	cr_assert_eq(conn_send(&c, raw, len), 0);
	int rc = read_response(&c, r, 0);
	conn_close(&c);
	return rc == READ_OK ? 0 : -1;
}

static const char *echoed(const struct response *r, const char *name, char *v, size_t n)
{
	const char *head, *body;
	size_t hl, bl;
	cr_assert_eq(echo_split(r, &head, &hl, &body, &bl), 0, "%s", r->raw_head);
	return echo_header(head, hl, name, v, n);
}

Test(route_proxy, proxy_v1_and_v2_name_the_client)
{
	struct proc o[2], d;
	int pp;
	start_pp(o, &d, &pp, "[\"127.0.0.0/8\"]", routes_by_client, NULL);
	struct response r;
	char v[128];
	/* v1: the client is 192.0.2.7: route b, and X-Forwarded-For names it. */
	static const char v1[] = "PROXY TCP4 192.0.2.7 10.0.0.1 5555 80\r\n"
				 "GET /echo HTTP/1.1\r\nHost: h\r\n\r\n";
	cr_assert_eq(send_raw(pp, v1, sizeof(v1) - 1, &r), 0);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	cr_assert_eq(atoi(resp_header(&r, "X-Origin-Port")), o[1].port);
	cr_assert_str_eq(echoed(&r, "X-Forwarded-For", v, sizeof(v)) ?: "-", "192.0.2.7");
	response_free(&r);
	/* v2, IPv6 client 2001:db8::5, in one write with the request. */
	unsigned char v2[16 + 36 + 64];
	memcpy(v2, "\r\n\r\n\0\r\nQUIT\n", 12);
	v2[12] = 0x21; /* version 2, PROXY */
	v2[13] = 0x21; /* TCP over IPv6 */
	v2[14] = 0;
	v2[15] = 36;
	inet_pton(AF_INET6, "2001:db8::5", v2 + 16);
	inet_pton(AF_INET6, "2001:db8::1", v2 + 32);
	v2[48] = 0x12, v2[49] = 0x34, v2[50] = 0, v2[51] = 80;
	static const char req[] = "GET /echo HTTP/1.1\r\nHost: h\r\n\r\n";
	memcpy(v2 + 52, req, sizeof(req) - 1);
	cr_assert_eq(send_raw(pp, v2, 52 + sizeof(req) - 1, &r), 0);
	cr_assert_eq(atoi(resp_header(&r, "X-Origin-Port")), o[1].port);
	cr_assert_str_eq(echoed(&r, "X-Forwarded-For", v, sizeof(v)) ?: "-", "2001:db8::5");
	response_free(&r);
	/* v1 UNKNOWN and v2 LOCAL: the peer itself (route a). */
	static const char unk[] = "PROXY UNKNOWN\r\nGET /echo HTTP/1.1\r\nHost: h\r\n\r\n";
	cr_assert_eq(send_raw(pp, unk, sizeof(unk) - 1, &r), 0);
	cr_assert_eq(atoi(resp_header(&r, "X-Origin-Port")), o[0].port);
	cr_assert_str_eq(echoed(&r, "X-Forwarded-For", v, sizeof(v)) ?: "-", "127.0.0.1");
	response_free(&r);
	/* The plain listener takes no PROXY header: it is a bad request there. */
	cr_assert_eq(send_raw(d.port, v1, sizeof(v1) - 1, &r), 0);
	cr_assert_eq(r.status, 400);
	response_free(&r);
	harness_end();
}

Test(route_proxy, bad_missing_slow_or_untrusted_headers_close)
{
	struct proc o[2], d;
	int pp;
	start_pp(o, &d, &pp, "[\"127.0.0.0/8\"]", routes_by_client, NULL);
	struct response r;
	static const char plain[] = "GET /echo HTTP/1.1\r\nHost: h\r\n\r\n";
	cr_assert_eq(send_raw(pp, plain, sizeof(plain) - 1, &r), -1, "answered: %s", r.raw_head);
	static const char bad[] = "PROXY TCP4 192.0.2.7 10.0.0.1 5555 080\r\n"
				  "GET /echo HTTP/1.1\r\nHost: h\r\n\r\n";
	cr_assert_eq(send_raw(pp, bad, sizeof(bad) - 1, &r), -1);
	static const char lf[] = "PROXY TCP4 192.0.2.7 10.0.0.1 5555 80\n"
				 "GET /echo HTTP/1.1\r\nHost: h\r\n\r\n";
	cr_assert_eq(send_raw(pp, lf, sizeof(lf) - 1, &r), -1);
	/* Slow: half a header, then nothing; closed within client_header (1 s). */
	struct conn c;
	conn_open(&c, pp);
	cr_assert_eq(conn_send_str(&c, "PROXY TCP4 192.0."), 0);
	double t0 = now_s();
	cr_assert(conn_wait_closed(&c, 4000), "a partial PROXY header kept the connection");
	cr_assert(now_s() - t0 < 3.0, "closed after %.1f s", now_s() - t0);
	conn_close(&c);
	assert_alive(&d);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(origin_requests(o[i].port, NULL), 0);
	harness_end();
	/* From a peer not in trusted_proxies, even a good header closes. */
	start_pp(o, &d, &pp, "[\"10.0.0.0/8\"]", routes_by_client, NULL);
	static const char v1[] = "PROXY TCP4 192.0.2.7 10.0.0.1 5555 80\r\n"
				 "GET /echo HTTP/1.1\r\nHost: h\r\n\r\n";
	cr_assert_eq(send_raw(pp, v1, sizeof(v1) - 1, &r), -1);
	harness_end();
}

Test(route_proxy, x_forwarded_for_from_a_trusted_proxy_names_the_client)
{
	struct proc o[2], d;
	int pp;
	start_pp(o, &d, &pp, "[\"127.0.0.0/8\", \"10.0.0.0/8\"]", routes_by_client,
		 "request_headers: {set: {X-Client: \"${client}\"}}\n"
		 "forwarded: true\n");
	struct response r;
	char v[128];
	/* Read from the right past the trusted hops: 192.0.2.9 is the client. */
	static const char a[] = "GET /echo HTTP/1.1\r\nHost: h\r\n"
				"X-Forwarded-For: 198.51.100.1, 192.0.2.9, 10.1.1.1\r\n\r\n";
	cr_assert_eq(send_raw(d.port, a, sizeof(a) - 1, &r), 0);
	cr_assert_eq(atoi(resp_header(&r, "X-Origin-Port")), o[1].port, "%s", r.raw_head);
	cr_assert_str_eq(echoed(&r, "X-Client", v, sizeof(v)) ?: "-", "192.0.2.9");
	/* X-Forwarded-For appended to; ours X-Forwarded-Proto; Forwarded asked for. */
	cr_assert_str_eq(echoed(&r, "X-Forwarded-For", v, sizeof(v)) ?: "-",
			 "198.51.100.1, 192.0.2.9, 10.1.1.1, 127.0.0.1");
	cr_assert_str_eq(echoed(&r, "X-Forwarded-Proto", v, sizeof(v)) ?: "-", "http");
	cr_assert_str_eq(echoed(&r, "Forwarded", v, sizeof(v)) ?: "-", "for=127.0.0.1;proto=http");
	response_free(&r);
	/* Garbage on the right stops the walk: the peer stays the client. */
	static const char g[] = "GET /echo HTTP/1.1\r\nHost: h\r\n"
				"X-Forwarded-For: 192.0.2.9, not-an-ip\r\n\r\n";
	cr_assert_eq(send_raw(d.port, g, sizeof(g) - 1, &r), 0);
	cr_assert_eq(atoi(resp_header(&r, "X-Origin-Port")), o[0].port);
	cr_assert_str_eq(echoed(&r, "X-Client", v, sizeof(v)) ?: "-", "127.0.0.1");
	response_free(&r);
	/* A trusted proxy's X-Forwarded-Proto is kept. */
	static const char p[] = "GET /echo HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: https\r\n\r\n";
	cr_assert_eq(send_raw(d.port, p, sizeof(p) - 1, &r), 0);
	cr_assert_str_eq(echoed(&r, "X-Forwarded-Proto", v, sizeof(v)) ?: "-", "https");
	cr_assert_eq(echo_header_count(r.body, r.body_len, "X-Forwarded-Proto"), 1);
	response_free(&r);
	harness_end();
	/* Untrusted: X-Forwarded-For is not believed, and starts anew. */
	start_pp(o, &d, &pp, "[\"10.0.0.0/8\"]", routes_by_client,
		 "request_headers: {set: {X-Client: \"${client}\"}}\n");
	cr_assert_eq(send_raw(d.port, a, sizeof(a) - 1, &r), 0);
	cr_assert_eq(atoi(resp_header(&r, "X-Origin-Port")), o[0].port);
	cr_assert_str_eq(echoed(&r, "X-Client", v, sizeof(v)) ?: "-", "127.0.0.1");
	cr_assert_str_eq(echoed(&r, "X-Forwarded-For", v, sizeof(v)) ?: "-", "127.0.0.1");
	cr_assert_null(echoed(&r, "Forwarded", v, sizeof(v)));
	response_free(&r);
	harness_end();
}

/* A backend that answers each connection with what it received, its
 * first bytes hex-encoded in X-Got (a PROXY v2 header is binary). */
static int raw_backend(pid_t *pid)
{
	int port = free_port();
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(0x7f000001)};
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 16), 0);
	*pid = fork();
	cr_assert_geq(*pid, 0);
	if (*pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		alarm(30);
		for (;;) {
			int c = accept(fd, NULL, NULL);
			if (c < 0)
				continue;
			char buf[4096];
			size_t n = 0;
			/* The end of the request head: past byte 16, since a v2
			 * signature begins with an empty line of its own. */
			while (n < sizeof(buf) &&
			       !(n > 16 && memmem(buf + 16, n - 16, "\r\n\r\n", 4))) {
				ssize_t r = recv(c, buf + n, sizeof(buf) - n, 0);
				if (r <= 0)
					break;
				n += (size_t)r;
			}
			char hex[2 * 64 + 1];
			size_t hn = n < 64 ? n : 64;
			for (size_t i = 0; i < hn; i++)
				snprintf(hex + 2 * i, 3, "%02x", (unsigned char)buf[i]);
			hex[2 * hn] = '\0';
			char resp[512];
			int rl = snprintf(resp, sizeof(resp),
					  "HTTP/1.1 200 OK\r\nX-Got: %s\r\nContent-Length: 2\r\n"
					  "Connection: keep-alive\r\n\r\nok",
					  hex);
			ssize_t w = send(c, resp, (size_t)rl, MSG_NOSIGNAL);
			(void)w;
			struct pollfd p = {.fd = c, .events = POLLIN};
			poll(&p, 1, 2000); /* the daemon must not send a second request */
			close(c);
		}
	}
	close(fd);
	return port;
}

Test(route_proxy, a_backend_gets_a_proxy_v2_header_naming_the_client)
{
	pid_t bpid;
	int bport = raw_backend(&bpid);
	struct proc d;
	memset(&d, 0, sizeof(d));
	d.port = free_port();
	int pp = free_port();
	char *y = NULL;
	cr_assert(asprintf(&y,
			   "listen: [{address: \"127.0.0.1:%d\", proxy_protocol: true}, "
			   "\"127.0.0.1:%d\"]\n"
			   "trusted_proxies: [\"127.0.0.0/8\"]\n"
			   "backends:\n"
			   "  - {name: a, servers: [\"127.0.0.1:%d\"], proxy_protocol: true}\n",
			   pp, d.port, bport) > 0);
	start_ringcache(&d, y);
	free(y);
	struct response r;
	static const char v1[] = "PROXY TCP4 192.0.2.7 10.0.0.1 5555 80\r\n"
				 "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
	cr_assert(port_wait(pp, 3000));
	cr_assert_eq(send_raw(pp, v1, sizeof(v1) - 1, &r), 0);
	cr_assert_eq(r.status, 200, "%s", r.raw_head);
	const char *got = resp_header(&r, "X-Got");
	cr_assert_not_null(got, "%s", r.raw_head);
	/* Signature, v2 PROXY, TCP4, 12 bytes: 192.0.2.7 -> 127.0.0.1, 5555 -> pp. */
	char want[128];
	snprintf(want, sizeof(want), "0d0a0d0a000d0a515549540a2111000cc00002077f00000115b3%04x",
		 pp);
	cr_assert(!strncmp(got, want, strlen(want)), "got %s\nwant %s", got, want);
	/* Then the request itself. */
	cr_assert(strstr(got, "474554202f61"), "no GET /a after the header: %s",
		  got); /* "GET /a" */
	response_free(&r);
	/* A second request opens a fresh connection with its own header. */
	static const char b[] = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
	cr_assert_eq(send_raw(d.port, b, sizeof(b) - 1, &r), 0);
	got = resp_header(&r, "X-Got");
	cr_assert(got && !strncmp(got, "0d0a0d0a000d0a515549540a2111000c7f000001", 40), "%s",
		  got ? got : "-");
	response_free(&r);
	harness_end();
	kill(bpid, SIGKILL);
}
