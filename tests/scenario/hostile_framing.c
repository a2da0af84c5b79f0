/*
 * Hostile input over raw sockets: request framing and smuggling (each case
 * answered with its status and a close, and never reaching the backend),
 * ambiguous backend responses (502, nothing stored), a backend connection
 * never reused after a response with bytes past its end, cache poisoning
 * and deception defences, and the request body limit.
 */
#include "harness.h"

#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(hostile_framing, .fini = harness_fini, .timeout = 60);

struct attack {
	const char *name;
	const char *raw; /* "%s" is the request path, /atk/NAME */
	int status;
};

/*
 * Each request would reach the origin as /atk/NAME if it got through;
 * "/evil" is what the smuggling cases try to sneak in behind it.
 */
static const struct attack attacks[] = {
    {"cl_and_te",
     "POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
     "0\r\n\r\nGET /evil HTTP/1.1\r\nHost: t\r\n\r\n",
     400},
    {"te_and_cl",
     "POST %s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n"
     "0\r\n\r\nGET /evil HTTP/1.1\r\nHost: t\r\n\r\n",
     400},
    {"two_different_lengths",
     "POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\nhello"
     "GET /evil HTTP/1.1\r\nHost: t\r\n\r\n",
     400},
    {"two_equal_lengths",
     "POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400},
    {"length_list", "POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 5\r\n\r\nhello", 400},
    {"length_signed", "POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nhello", 400},
    {"length_hex", "POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: 0x5\r\n\r\nhello", 400},
    {"length_overflow",
     "POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\nhello", 400},
    {"te_gzip", "POST %s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nxx", 400},
    {"te_chunked_not_last",
     "POST %s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400},
    {"te_gzip_then_chunked",
     "POST %s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
    {"te_twice",
     "POST %s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
     "chunked\r\n\r\n0\r\n\r\n",
     400},
    {"te_lookalike", "POST %s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
     400},
    {"te_space_before_colon",
     "POST %s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400},
    {"te_in_http10", "POST %s HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     400},
    {"chunk_size_overflow",
     "POST %s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
     "FFFFFFFFFFFFFFFFF1\r\nab\r\n0\r\n\r\n",
     400},
    {"chunk_without_crlf",
     "POST %s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXX0\r\n\r\n", 400},
    {"chunk_bare_lf",
     "POST %s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\n0\n\n", 400},
    {"bare_lf_in_head", "GET %s HTTP/1.1\nHost: t\n\n", 400},
    {"bare_lf_ends_head", "GET %s HTTP/1.1\r\nHost: t\r\n\nGET /evil HTTP/1.1\r\nHost: t\r\n\r\n",
     400},
    {"bare_cr_in_head", "GET %s HTTP/1.1\r\nHost: t\rX-Evil: 1\r\n\r\n", 400},
    {"obs_fold_space", "GET %s HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n", 400},
    {"obs_fold_tab", "GET %s HTTP/1.1\r\nHost: t\r\nX-A: a\r\n\tTransfer-Encoding: chunked\r\n\r\n",
     400},
    {"empty_field_name", "GET %s HTTP/1.1\r\nHost: t\r\n: Transfer-Encoding: chunked\r\n\r\n", 400},
    {"space_before_colon", "GET %s HTTP/1.1\r\nHost: t\r\nX-A : a\r\n\r\n", 400},
    {"bad_name_byte", "GET %s HTTP/1.1\r\nHost: t\r\nX(A): a\r\n\r\n", 400},
    {"nul_in_value", "GET %s HTTP/1.1\r\nHost: t\r\nX-A: a\x01z\r\n\r\n", 400},
    {"del_in_value", "GET %s HTTP/1.1\r\nHost: t\r\nX-A: a\x7fz\r\n\r\n", 400},
    {"two_hosts", "GET %s HTTP/1.1\r\nHost: t\r\nHost: evil\r\n\r\n", 400},
    {"no_host_http11", "GET %s HTTP/1.1\r\nX-A: a\r\n\r\n", 400},
    {"host_with_space", "GET %s HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
    {"host_with_userinfo", "GET %s HTTP/1.1\r\nHost: user@t\r\n\r\n", 400},
    {"host_with_slash", "GET %s HTTP/1.1\r\nHost: t/x\r\n\r\n", 400},
    {"absolute_form_other_host", "GET http://evil%s HTTP/1.1\r\nHost: t\r\n\r\n", 400},
    {"authority_form", "GET t:80 HTTP/1.1\r\nHost: t\r\n\r\n", 400},
    {"connect", "CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\n", 405},
    {"asterisk_get", "GET * HTTP/1.1\r\nHost: t\r\n\r\n", 400},
    {"dot_segment", "GET %s/../evil HTTP/1.1\r\nHost: t\r\n\r\n", 400},
    {"encoded_dot_segment", "GET %s/%%2e%%2E/evil HTTP/1.1\r\nHost: t\r\n\r\n", 400},
    {"space_in_target", "GET %s x HTTP/1.1\r\nHost: t\r\n\r\n", 400},
    {"http2_preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400},
    {"version_1_2", "GET %s HTTP/1.2\r\nHost: t\r\n\r\n", 400},
    {"http09", "GET %s\r\n\r\n", 505},
    {"lower_case_method", "get %s HTTP/1.1\r\nHost: t\r\n\r\n", 400},
};

static int status_of(const char *resp)
{
	int st = 0;
	return sscanf(resp, "HTTP/1.1 %d", &st) == 1 ? st : -1;
}

Test(hostile_framing, every_ambiguous_request_is_refused_closed_and_never_forwarded)
{
	struct proc o, d;
	start_pair(&o, &d);
	for (size_t i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
		const struct attack *a = &attacks[i];
		char path[128], raw[1024];
		snprintf(path, sizeof(path), "/atk/%s", a->name);
		snprintf(raw, sizeof(raw), a->raw, path);
		struct conn c;
		conn_open(&c, d.port);
		conn_send_str(&c, raw);
		char *out = NULL;
		size_t len = 0;
		int closed = conn_read_until_close(&c, 3000, &out, &len);
		cr_assert(closed, "[%s] the connection stayed open after: %s", a->name,
			  excerpt(out, len));
		cr_assert_eq(status_of(out), a->status, "[%s] want %d, got: %s", a->name, a->status,
			     excerpt(out, len));
		/* One response only: nothing after the error was read as a request. */
		cr_assert_null(strstr(out + 1, "HTTP/1.1 "), "[%s] more than one response: %s",
			       a->name, excerpt(out, len));
		free(out);
		conn_close(&c);
		cr_assert_eq(origin_requests(o.port, path), 0, "[%s] reached the origin", a->name);
	}
	cr_assert_eq(origin_requests(o.port, "/evil"), 0, "a smuggled request reached the origin");
	/* The daemon still serves normal requests, also in absolute-form. */
	struct conn c;
	conn_open(&c, d.port);
	conn_send_str(&c, "GET http://T/fine?size=3 HTTP/1.1\r\nHost: t\r\n\r\n");
	struct response r;
	cr_assert_eq(read_response(&c, &r, 0), READ_OK);
	cr_assert_eq(r.status, 200);
	response_free(&r);
	conn_close(&c);
	cr_assert_eq(origin_requests(o.port, "/fine?size=3"), 1,
		     "absolute-form forwarded as origin-form");
	harness_end();
}

/* ---- a backend that misbehaves on command --------------------------------- */

struct canned {
	const char *path;
	const char *resp;
};

/* Responses that no parser may take two ways; all say max-age=60 so that
 * one accepted by mistake would be stored. */
static const struct canned bad_responses[] = {
    {"/r/cl_te", "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 5\r\n"
		 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
    {"/r/two_lengths", "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 2\r\n"
		       "Content-Length: 4\r\n\r\nokok"},
    {"/r/bare_lf", "HTTP/1.1 200 OK\nCache-Control: max-age=60\nContent-Length: 2\n\nok"},
    {"/r/bare_lf_end", "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Length: 2\r\n\nok"},
    {"/r/obs_fold", "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nX-A: a\r\n b\r\n"
		    "Content-Length: 2\r\n\r\nok"},
    {"/r/bad_chunk", "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nTransfer-Encoding: "
		     "chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n"},
    {"/r/ctl_in_value", "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nX-A: a\x01z\r\n"
			"Content-Length: 2\r\n\r\nok"},
    {"/r/ctl_in_reason",
     "HTTP/1.1 200 O\x01K\r\nCache-Control: max-age=60\r\nContent-Length: 2\r\n\r\nok"},
    {"/r/bad_status",
     "HTTP/1.1 2000 OK\r\nCache-Control: max-age=60\r\nContent-Length: 2\r\n\r\nok"},
};

/* A 304 ends at its empty line whatever its Content-Length says. */
static const char not_modified_with_length[] =
    "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\nETag: \"x\"\r\n\r\n";

/* After the 5 body bytes, a whole second response nobody asked for. */
static const char extra_response[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
				     "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil";
static const char good_response[] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood";

/* A response head far over any max_header_size (the scenario default is 8 KiB). */
static char huge_head[40000];

static void make_huge_head(void)
{
	size_t n = (size_t)snprintf(huge_head, sizeof(huge_head),
				    "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\n");
	while (n + 100 < sizeof(huge_head) - 64)
		n += (size_t)snprintf(huge_head + n, sizeof(huge_head) - n,
				      "X-Filler-%05zu: %060d\r\n", n, 0);
	snprintf(huge_head + n, sizeof(huge_head) - n, "Content-Length: 2\r\n\r\nok");
}

static void serve_conn(int c)
{
	char buf[8192];
	size_t len = 0;
	for (;;) {
		char *end = memmem(buf, len, "\r\n\r\n", 4);
		if (!end) {
			if (len == sizeof(buf))
				return;
			ssize_t n = recv(c, buf + len, sizeof(buf) - len, 0);
			if (n <= 0)
				return;
			len += (size_t)n;
			continue;
		}
		char path[256] = "";
		sscanf(buf, "%*s %255s", path);
		const char *resp = good_response;
		for (size_t i = 0; i < sizeof(bad_responses) / sizeof(bad_responses[0]); i++) {
			if (!strcmp(path, bad_responses[i].path))
				resp = bad_responses[i].resp;
		}
		if (!strcmp(path, "/r/extra"))
			resp = extra_response;
		if (!strcmp(path, "/r/huge_head"))
			resp = huge_head;
		if (!strcmp(path, "/r/304cl"))
			resp = not_modified_with_length;
		if (send(c, resp, strlen(resp), MSG_NOSIGNAL) < 0)
			return;
		size_t used = (size_t)(end + 4 - buf);
		memmove(buf, buf + used, len - used);
		len -= used;
	}
}

/* A backend on PORT that answers each request by its path; a process per
 * connection, for SECONDS. */
static pid_t start_canned_backend(int port, int seconds)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(0x7f000001)};
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 64), 0);
	make_huge_head();
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		signal(SIGCHLD, SIG_IGN); /* no zombies */
		alarm((unsigned)seconds);
		for (;;) {
			int c = accept(fd, NULL, NULL);
			if (c < 0)
				continue;
			if (fork() == 0) {
				alarm((unsigned)seconds);
				serve_conn(c);
				_exit(0);
			}
			close(c);
		}
	}
	close(fd);
	return pid;
}

static void start_on_canned(struct proc *d, int backend)
{
	memset(d, 0, sizeof(*d));
	d->port = free_port();
	char *yaml =
	    rc_yaml(&(struct rc_cfg){.port = d->port, .servers = &backend, .n_servers = 1});
	start_ringcache(d, yaml);
	free(yaml);
}

Test(hostile_framing, ambiguous_backend_responses_are_502_and_never_stored)
{
	int bp = free_port();
	pid_t b = start_canned_backend(bp, 30);
	struct proc d;
	start_on_canned(&d, bp);
	for (size_t i = 0; i < sizeof(bad_responses) / sizeof(bad_responses[0]); i++) {
		const char *path = bad_responses[i].path;
		for (int k = 0; k < 2; k++) { /* the second would be a hit if it was stored */
			struct response r;
			http_get_once(d.port, path, &r);
			cr_assert_eq(r.status, 502, "%s (#%d): %d %s", path, k, r.status,
				     r.raw_head);
			response_free(&r);
		}
	}
	/* A response head over limits.max_header_size. */
	struct response r;
	http_get_once(d.port, "/r/huge_head", &r);
	cr_assert_eq(r.status, 502, "huge backend head: %d", r.status);
	response_free(&r);
	kill(b, SIGKILL);
	waitpid(b, NULL, 0);
	harness_end();
}

Test(hostile_framing, a_backend_connection_with_bytes_past_the_response_is_not_reused)
{
	int bp = free_port();
	pid_t b = start_canned_backend(bp, 30);
	struct proc d;
	start_on_canned(&d, bp);
	/* On one client connection, one loop: the second request would take
	 * the pooled backend connection, whose next bytes are "evil". */
	struct conn c;
	conn_open(&c, d.port);
	for (int i = 0; i < 3; i++) {
		struct response r;
		http_req(&c, "GET", "/r/extra", NULL, &r);
		cr_assert_eq(r.status, 200);
		cr_assert_eq(r.body_len, 5);
		cr_assert_eq(memcmp(r.body, "hello", 5), 0);
		response_free(&r);
		http_req(&c, "GET", "/r/next", NULL, &r);
		cr_assert_eq(r.status, 200);
		cr_assert(r.body_len == 4 && !memcmp(r.body, "good", 4),
			  "a response smuggled by the backend was served: %s",
			  excerpt(r.body, r.body_len));
		response_free(&r);
	}
	/* A 304 with Content-Length has no body: relayed at once, and the
	 * connection goes on (the next response is not taken for its body). */
	for (int i = 0; i < 2; i++) {
		double t0 = now_s();
		struct response r;
		http_req(&c, "GET", "/r/304cl", NULL, &r);
		cr_assert_eq(r.status, 304, "%s", r.raw_head);
		cr_assert_lt(now_s() - t0, 0.8, "waited for a body a 304 cannot have");
		response_free(&r);
		http_req(&c, "GET", "/r/next", NULL, &r);
		cr_assert(r.status == 200 && r.body_len == 4 && !memcmp(r.body, "good", 4));
		response_free(&r);
	}
	conn_close(&c);
	kill(b, SIGKILL);
	waitpid(b, NULL, 0);
	harness_end();
}

/* ---- poisoning and deception ---------------------------------------------- */

static void get_with(int port, const char *path, const char *extra, struct response *r)
{
	http_once(port, "GET", path, extra, r);
	cr_assert_eq(r->status, 200, "GET %s: %d", path, r->status);
}

Test(hostile_framing, authorization_responses_are_not_shared)
{
	struct proc o, d;
	start_pair(&o, &d);
	struct response r;
	const char *p = "/auth?size=10&cc=max-age%3D60";
	get_with(d.port, p, "Authorization: Bearer alice\r\n", &r);
	response_free(&r);
	get_with(d.port, p, NULL, &r);
	cr_assert_not(cache_status_has(&r, "hit"), "Alice's response served to Bob: %s",
		      cache_status(&r));
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, p), 2);
	/* Unless the response says it may be shared. */
	const char *pub = "/auth?size=10&cc=public%2C%20max-age%3D60";
	get_with(d.port, pub, "Authorization: Bearer alice\r\n", &r);
	response_free(&r);
	get_with(d.port, pub, NULL, &r);
	cr_assert(cache_status_has(&r, "hit"), "%s", cache_status(&r));
	response_free(&r);
	harness_end();
}

Test(hostile_framing, only_keyed_inputs_select_a_stored_response)
{
	struct proc o, d;
	start_pair(&o, &d);
	struct response r;
	/* A header the response varies on selects its own variant.
	 * (Forwarding fields such as X-Forwarded-Host are removed from
	 * untrusted clients altogether: hostile_poison.c.) */
	const char *v = "/vary?size=10&cc=max-age%3D60&hdr=Vary:X-Site";
	get_with(d.port, v, "X-Site: evil.example\r\n", &r);
	response_free(&r);
	get_with(d.port, v, "X-Site: good.example\r\n", &r);
	cr_assert_not(cache_status_has(&r, "hit"), "%s", cache_status(&r));
	response_free(&r);
	get_with(d.port, v, "X-Site: evil.example\r\n", &r);
	cr_assert(cache_status_has(&r, "hit"), "%s", cache_status(&r));
	response_free(&r);
	cr_assert_eq(origin_requests(o.port, v), 2);
	/* The path is keyed as sent: case and encoded slashes are not folded
	 * (the origin may tell them apart); the host is, without its port
	 * folded in. */
	const char *paths[] = {"/k/a?size=1&cc=max-age%3D60", "/k/A?size=1&cc=max-age%3D60",
			       "/k%2Fa?size=1&cc=max-age%3D60"};
	for (size_t i = 0; i < 3; i++) {
		get_with(d.port, paths[i], NULL, &r);
		cr_assert_not(cache_status_has(&r, "hit"), "%s: %s", paths[i], cache_status(&r));
		response_free(&r);
	}
	struct conn c;
	conn_open(&c, d.port);
	conn_send_str(&c, "GET /k/h?size=1&cc=max-age%3D60 HTTP/1.1\r\nHost: Example.COM\r\n\r\n");
	cr_assert_eq(read_response(&c, &r, 0), READ_OK);
	response_free(&r);
	conn_send_str(&c, "GET /k/h?size=1&cc=max-age%3D60 HTTP/1.1\r\nHost: example.com\r\n\r\n");
	cr_assert_eq(read_response(&c, &r, 0), READ_OK);
	cr_assert(cache_status_has(&r, "hit"), "host case: %s", cache_status(&r));
	response_free(&r);
	conn_close(&c);
	harness_end();
}

/* ---- limits --------------------------------------------------------------- */

Test(hostile_framing, request_bodies_over_the_limit_are_413)
{
	struct proc o, d;
	start_pair_extra(&o, &d, "  max_body_size: 1KiB\n");
	/* Declared too long: refused before a byte is read or forwarded. */
	struct conn c;
	conn_open(&c, d.port);
	conn_send_str(&c, "POST /big1 HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n"
			  "Expect: 100-continue\r\n\r\n");
	char *out = NULL;
	size_t len = 0;
	cr_assert(conn_read_until_close(&c, 3000, &out, &len), "not closed: %s", excerpt(out, len));
	cr_assert_eq(status_of(out), 413, "%s", excerpt(out, len));
	free(out);
	conn_close(&c);
	cr_assert_eq(origin_requests(o.port, "/big1"), 0);
	/* Chunked, growing past it: 413, closed. */
	conn_open(&c, d.port);
	char chunk[700];
	memset(chunk, 'a', sizeof(chunk));
	conn_send_str(&c, "POST /big2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 3; i++) {
		conn_sendf(&c, "%zx\r\n", sizeof(chunk));
		conn_send(&c, chunk, sizeof(chunk));
		conn_send_str(&c, "\r\n");
	}
	conn_send_str(&c, "0\r\n\r\n");
	cr_assert(conn_read_until_close(&c, 3000, &out, &len), "not closed: %s", excerpt(out, len));
	cr_assert_eq(status_of(out), 413, "%s", excerpt(out, len));
	free(out);
	conn_close(&c);
	/* Under it: through. */
	struct response r;
	conn_open(&c, d.port);
	char body[500];
	memset(body, 'b', sizeof(body));
	conn_send_str(&c, "POST /small2?size=2 HTTP/1.1\r\nHost: t\r\nContent-Length: 500\r\n\r\n");
	conn_send(&c, body, sizeof(body));
	cr_assert_eq(read_response(&c, &r, 0), READ_OK);
	cr_assert_eq(r.status, 200);
	response_free(&r);
	conn_close(&c);
	harness_end();
}
