/* admin_client.c - finding the admin listener, and one blocking GET to it. */
#include "cli/admin_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "http/hbuf.h"

static int errf(char *err, size_t cap, const char *what, const char *arg)
{
	snprintf(err, cap, what, arg);
	return -1;
}

/* "IP:PORT" or "[IPv6]:PORT" into T. */
static int parse_addr(struct admin_target *t, const char *s, char *err, size_t cap)
{
	char host[64];
	const char *colon;
	if (s[0] == '[') {
		const char *e = strchr(s, ']');
		if (!e || e[1] != ':' || (size_t)(e - s - 1) >= sizeof(host))
			return errf(err, cap, "%s: expected [IPv6]:PORT", s);
		memcpy(host, s + 1, (size_t)(e - s - 1));
		host[e - s - 1] = '\0';
		colon = e + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host))
			return errf(err, cap, "%s: expected IP:PORT", s);
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
	}
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end && *end != '/')
		return errf(err, cap, "%s: bad port", s);
	if (port <= 0 || port > 65535)
		return errf(err, cap, "%s: bad port", s);
	memset(&t->sa, 0, sizeof(t->sa));
	struct sockaddr_in *a4 = (struct sockaddr_in *)&t->sa;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&t->sa;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		t->salen = sizeof(*a4);
	} else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		t->salen = sizeof(*a6);
	} else {
		return errf(err, cap, "%s: not an IP address (names are not looked up)", s);
	}
	snprintf(t->where, sizeof(t->where), "%s", s);
	return 0;
}

/* A wildcard listener is reached on loopback. */
static void loopback_for_any(struct admin_target *t)
{
	if (t->sa.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&t->sa;
		if (a->sin_addr.s_addr == htonl(INADDR_ANY))
			a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (t->sa.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&t->sa;
		if (IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr))
			a->sin6_addr = in6addr_loopback;
	}
}

int admin_target_resolve(struct admin_target *t, const char *config, const char *admin,
			 const char *token, char *err, size_t errcap)
{
	memset(t, 0, sizeof(*t));
	if (admin) {
		const char *s = admin;
		if (strncmp(s, "http://", 7) == 0)
			s += 7;
		if (parse_addr(t, s, err, errcap) < 0)
			return -1;
	}
	if (config) {
		struct config_errors errs = {0};
		struct config *cfg = config_load(config, &errs);
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.lines[i]);
		config_errors_clear(&errs);
		if (!cfg)
			return errf(err, errcap, "%s: cannot use this configuration", config);
		int r = 0;
		if (!admin) {
			if (!cfg->admin.enabled) {
				r = errf(err, errcap, "%s: no admin.listen: nothing to talk to",
					 config);
			} else {
				memcpy(&t->sa, &cfg->admin.listen.sa, sizeof(t->sa));
				t->salen = cfg->admin.listen.salen;
				snprintf(t->where, sizeof(t->where), "%s", cfg->admin.listen.spec);
			}
		}
		if (!r && !token && cfg->admin.token)
			snprintf(t->token, sizeof(t->token), "%s", cfg->admin.token);
		config_free(&cfg);
		if (r < 0)
			return r;
	}
	if (!t->salen)
		return errf(err, errcap, "%s",
			    "where is the daemon? -c FILE or --admin http://IP:PORT");
	if (token) {
		if (strlen(token) >= sizeof(t->token) || strpbrk(token, "\r\n"))
			return errf(err, errcap, "%s", "--token: too long or has a line break");
		snprintf(t->token, sizeof(t->token), "%s", token);
	}
	loopback_for_any(t);
	return 0;
}

static void set_timeout(int fd, int secs)
{
	struct timeval tv = {.tv_sec = secs};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static bool send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* More bytes into r->buf; false at EOF or on an error. */
static bool fill(struct admin_resp *r)
{
	if (r->pos > 0) {
		memmove(r->buf, r->buf + r->pos, r->len - r->pos);
		r->len -= r->pos;
		r->pos = 0;
	}
	if (r->len == sizeof(r->buf))
		return false;
	for (;;) {
		ssize_t n = recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		r->len += (size_t)n;
		return true;
	}
}

/* The next line (CRLF or LF) from the buffer, NUL-terminated in place. */
static char *line(struct admin_resp *r)
{
	for (;;) {
		char *nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
		if (nl) {
			char *s = r->buf + r->pos;
			r->pos = (size_t)(nl - r->buf) + 1;
			if (nl > s && nl[-1] == '\r')
				nl[-1] = '\0';
			*nl = '\0';
			return s;
		}
		if (!fill(r))
			return NULL;
	}
}

int admin_get(const struct admin_target *t, const char *path, const char *accept,
	      struct admin_resp *r, char *err, size_t errcap)
{
	memset(r, 0, sizeof(*r));
	r->fd = socket(t->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r->fd < 0)
		return errf(err, errcap, "socket: %s", strerror(errno));
	set_timeout(r->fd, ADMIN_CLIENT_TIMEOUT_S);
	if (connect(r->fd, (const struct sockaddr *)&t->sa, t->salen) < 0) {
		snprintf(err, errcap, "%s: connect: %s", t->where, strerror(errno));
		admin_resp_close(r);
		return -1;
	}
	char req[8192];
	struct hbuf b;
	hbuf_init(&b, req, sizeof(req));
	hbuf_printf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ringcache/%s\r\n", path,
		    t->where, RINGCACHE_VERSION);
	if (t->token[0])
		hbuf_printf(&b, "Authorization: Bearer %s\r\n", t->token);
	if (accept)
		hbuf_printf(&b, "Accept: %s\r\n", accept);
	hbuf_puts(&b, "Connection: close\r\n\r\n");
	size_t n = b.len;
	if (b.overflow) {
		admin_resp_close(r);
		return errf(err, errcap, "%s", "request too long");
	}
	if (!send_all(r->fd, req, n)) {
		snprintf(err, errcap, "%s: send: %s", t->where, strerror(errno));
		admin_resp_close(r);
		return -1;
	}
	char *st = line(r);
	if (!st || strncmp(st, "HTTP/1.", 7) != 0 || strlen(st) < 12) {
		snprintf(err, errcap, "%s: no HTTP response", t->where);
		admin_resp_close(r);
		return -1;
	}
	r->status = atoi(st + 9);
	for (;;) {
		char *h = line(r);
		if (!h) {
			snprintf(err, errcap, "%s: response head cut short", t->where);
			admin_resp_close(r);
			return -1;
		}
		if (!*h)
			break;
		if (strncasecmp(h, "transfer-encoding:", 18) == 0 && strcasestr(h + 18, "chunked"))
			r->chunked = true;
		else if (strncasecmp(h, "content-length:", 15) == 0) {
			r->has_length = true;
			r->left = strtoull(h + 15, NULL, 10);
		}
	}
	/* The head is in: a stream may be quiet for as long as it likes. */
	set_timeout(r->fd, 0);
	if (r->has_length && !r->chunked && r->left == 0)
		r->done = true;
	return 0;
}

ssize_t admin_resp_read(struct admin_resp *r, char *out, size_t cap)
{
	while (!r->done) {
		if (r->chunked && r->left == 0) {
			char *l = line(r);
			if (!l)
				return -1;
			if (!*l)
				continue; /* the CRLF after a chunk's data */
			char *end;
			r->left = strtoull(l, &end, 16);
			if (end == l)
				return -1;
			if (r->left == 0) {
				r->done = true;
				break;
			}
			continue;
		}
		if (r->pos == r->len && !fill(r)) {
			if (!r->chunked && !r->has_length) {
				r->done = true; /* delimited by the close */
				break;
			}
			return -1;
		}
		size_t n = r->len - r->pos;
		if ((r->chunked || r->has_length) && n > r->left)
			n = (size_t)r->left;
		if (n > cap)
			n = cap;
		memcpy(out, r->buf + r->pos, n);
		r->pos += n;
		if (r->chunked || r->has_length) {
			r->left -= n;
			if (r->has_length && !r->chunked && r->left == 0)
				r->done = true;
		}
		return (ssize_t)n;
	}
	return 0;
}

/* Would admin_resp_read return now, without waiting for the peer? (The
 * chunk framing may be all that is buffered: then it would wait.) */
static bool ready_now(const struct admin_resp *r)
{
	if (r->done)
		return true;
	const char *p = r->buf + r->pos, *end = r->buf + r->len;
	if (!r->chunked || r->left > 0)
		return p < end;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return false;
		const char *s = p;
		p = nl + 1;
		if (nl == s || (nl == s + 1 && s[0] == '\r'))
			continue; /* the CRLF after a chunk's data */
		char *e;
		unsigned long long size = strtoull(s, &e, 16); /* stops at the CR or LF */
		if (e == s || size == 0)
			return true; /* bad framing, or the end: answered at once */
		return p < end;
	}
	return false;
}

int admin_resp_wait(struct admin_resp *r, int timeout_ms)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (ready_now(r))
			return 1;
		int wait = -1;
		if (timeout_ms >= 0) {
			struct timespec t;
			clock_gettime(CLOCK_MONOTONIC, &t);
			long el =
			    (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
			wait = el >= timeout_ms ? 0 : (int)(timeout_ms - el);
		}
		struct pollfd pf = {.fd = r->fd, .events = POLLIN};
		int n = poll(&pf, 1, wait);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		if (r->pos > 0) {
			memmove(r->buf, r->buf + r->pos, r->len - r->pos);
			r->len -= r->pos;
			r->pos = 0;
		}
		if (r->len == sizeof(r->buf))
			return 1; /* full: the read reports what is wrong */
		ssize_t k = recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, MSG_DONTWAIT);
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (k <= 0)
			return 1; /* closed or broken: the read says so at once */
		r->len += (size_t)k;
	}
}

void admin_resp_close(struct admin_resp *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

bool admin_query_append(char *out, size_t cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(out);
	for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
		bool plain = (*u >= 'a' && *u <= 'z') || (*u >= 'A' && *u <= 'Z') ||
			     (*u >= '0' && *u <= '9') || *u == '-' || *u == '_' || *u == '.' ||
			     *u == '~';
		if (n + (plain ? 1 : 3) >= cap)
			return false;
		if (plain) {
			out[n++] = (char)*u;
		} else {
			out[n++] = '%';
			out[n++] = hex[*u >> 4];
			out[n++] = hex[*u & 15];
		}
	}
	out[n] = '\0';
	return true;
}
