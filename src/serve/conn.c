/* client.c - the per-connection task: read request heads, validate, forward, keep alive. */
#include "serve/conn.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "http/hbuf.h"
#include "http/forward.h"
#include "http/hop.h"
#include "ops/accesslog.h"
#include "ops/log.h"
#include "ops/metrics.h"
#include "serve/cachepath.h"
#include "backend/gen.h"
#include "serve/pass.h"
#include "rt/io.h"

/* Body bytes that may sit in a buffer beside a full head. */
#define CLIENT_BODY_ROOM (16 * 1024)

static const char *status_reason(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Error";
	}
}

int client_send_error(struct client *c, int status, const char *detail)
{
	uint64_t send_ns = c->w->be.gen->cfg->timeouts.send_ns;
	char body[160], head[512];
	int bl = snprintf(body, sizeof(body), "%d %s\n", status, status_reason(status));
	int hl =
	    snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
		     "Cache-Control: no-store\r\n%s%s%sConnection: close\r\n\r\n",
		     status, status_reason(status), bl, c->cache_status ? "Cache-Status: " : "",
		     c->cache_status ? c->cache_status : "", c->cache_status ? "\r\n" : "");
	if (hl >= (int)sizeof(head))
		hl = (int)sizeof(head) - 1;
	c->resp_status = status;
	METRIC_INC(&c->w->metrics, client_errors);
	struct iovec iov[2] = {{head, (size_t)hl}, {body, (size_t)bl}};
	c->closing = true;
	(void)detail;
	ssize_t r = rt_writev_all(c->fd, iov, 2, rt_deadline_in(send_ns));
	client_sent(c, r);
	return r < 0 ? (int)r : 0;
}

static void client_error(struct client *c, int status, const char *why)
{
	log_warn("client %s: %d: %s", c->peer, status, why);
	client_send_error(c, status, why);
}

/* How long a keep-alive connection keeps its task and buffers after a
 * response before it parks (see park()). */
#define PARK_AFTER_NS (1 * RT_SEC)

/*
 * Read and parse until a whole request head is in c->buf. Returns 1 with
 * c->req ready, 2 when the connection has been quiet long enough to park,
 * 0 when it should just close (peer closed or idle timeout between
 * requests), or -1 after an error response was sent.
 */
static int read_head(struct client *c)
{
	/* Copies: a reload may free the config while this waits. */
	const uint64_t header_ns = c->w->be.gen->cfg->timeouts.client_header_ns;
	const uint64_t idle_ns = c->w->be.gen->cfg->timeouts.client_idle_ns;
	/* Keep the next request's bytes at the start of the buffer, so the
	 * head, which must not move while it is parsed, has the most room. */
	if (c->pos > 0) {
		memmove(c->buf, c->buf + c->pos, c->len - c->pos);
		c->len -= c->pos;
		c->pos = 0;
	}
	hmsg_next(&c->req, c->buf, 0);
	if (c->len)
		c->head_t0 = rt_clock_now(); /* a pipelined head is already here */
	rt_time_t idle_deadline = rt_deadline_in(idle_ns);
	rt_time_t head_deadline = c->len ? rt_deadline_in(header_ns) : RT_NEVER;
	for (;;) {
		if (c->pos < c->len) {
			long n = hmsg_feed(&c->req, c->pos, c->len - c->pos);
			if (n == HMSG_TOO_LARGE) {
				client_error(c, 431,
					     c->req.error ? c->req.error : "head too large");
				return -1;
			}
			if (n < 0) {
				char why[160];
				snprintf(why, sizeof(why), "malformed request: %s",
					 c->req.error ? c->req.error : "parse error");
				client_error(c, 400, why);
				return -1;
			}
			c->pos += (uint32_t)n;
			if (c->req.headers_done)
				return 1;
		}
		if (c->len == c->cap) {
			client_error(c, 431, "request head does not fit the buffer");
			return -1;
		}
		c->idle = c->len == 0;
		if (c->idle && c->w->be.draining)
			return 0;
		/* Between requests wait a moment with the task and buffers in
		 * place (a busy client's next request is usually already on
		 * its way), then park the connection without them. */
		rt_time_t park_at = c->len == 0 ? rt_deadline_in(PARK_AFTER_NS) : RT_NEVER;
		bool may_park = park_at < idle_deadline;
		ssize_t n = rt_recv(c->fd, c->buf + c->len, c->cap - c->len, 0,
				    c->len     ? head_deadline
				    : may_park ? park_at
					       : idle_deadline);
		c->idle = false;
		METRIC_BYTES(&c->w->metrics, client_received_bytes, n);
		if (n == 0 || n == -ECONNRESET || n == -ECANCELED)
			return 0;
		if (n == -ETIMEDOUT) {
			if (c->len == 0 && may_park)
				return 2;
			if (c->len == 0)
				return 0; /* idle keep-alive connection: just close */
			client_error(c, 408, "request head not received in time");
			return -1;
		}
		if (n < 0) {
			log_debug("client %s: recv: %s", c->peer, strerror((int)-n));
			return 0;
		}
		if (c->len == 0) {
			head_deadline = rt_deadline_in(header_ns);
			c->head_t0 = rt_clock_now();
		}
		c->len += (uint32_t)n;
	}
}

/*
 * Host = uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2): an IP
 * literal in brackets, or reg-name / IPv4 characters (unreserved,
 * sub-delims, pct-encoded); the port digits. Anything else in a Host
 * reaches the cache key and the backend, so it is refused here.
 */
static bool host_valid(const char *h, size_t n)
{
	size_t i = 0;
	if (n && h[0] == '[') {
		for (i = 1; i < n && h[i] != ']'; i++) {
			if (!isxdigit((unsigned char)h[i]) && !strchr(":.vV", h[i]))
				return false;
		}
		if (i == n)
			return false;
		i++;
	} else {
		for (; i < n && h[i] != ':'; i++) {
			unsigned char ch = (unsigned char)h[i];
			if (ch == '%') {
				if (i + 2 >= n || !isxdigit((unsigned char)h[i + 1]) ||
				    !isxdigit((unsigned char)h[i + 2]))
					return false;
				i += 2;
			} else if (!isalnum(ch) && !strchr("-._~!$&'()*+,;=", ch)) {
				return false;
			}
		}
	}
	if (i < n && h[i++] != ':')
		return false;
	for (; i < n; i++) {
		if (!isdigit((unsigned char)h[i]))
			return false;
	}
	return true;
}

/*
 * absolute-form ("http://host/path"): RFC 9112 3.2.2 says a server must
 * accept it. It is taken only when its authority is the Host, byte for
 * byte but for case: otherwise the key, the rules and the backend could
 * each see a different host. The target is then cut to its origin-form.
 */
static int absolute_form(struct hmsg *m, const struct hfield *host, const char **why)
{
	const char *t = hmsg_ptr(m, m->target);
	size_t n = m->target.len, skip;
	if (n > 7 && !strncasecmp(t, "http://", 7))
		skip = 7;
	else if (n > 8 && !strncasecmp(t, "https://", 8))
		skip = 8;
	else {
		*why = "request-target is not in origin-form or absolute-form";
		return 400;
	}
	size_t a = skip;
	while (a < n && t[a] != '/' && t[a] != '?' && t[a] != '#')
		a++;
	if (a == n || t[a] != '/') {
		*why = "absolute-form request-target without a path";
		return 400;
	}
	if (!host || host->value.len != a - skip ||
	    strncasecmp(hmsg_ptr(m, host->value), t + skip, a - skip) != 0) {
		*why = "absolute-form request-target disagrees with Host";
		return 400;
	}
	m->target.off += (uint32_t)a;
	m->target.len -= (uint32_t)a;
	return 0;
}

/*
 * A "." or ".." path segment, also percent-encoded (%2e). Browsers resolve
 * them before sending, so only tools and attackers send them; and a cache
 * that keys and matches rules on "/static/../account" while the origin
 * serves "/account" can be made to store a private page under a public
 * rule (cache deception). They are refused rather than resolved, so the
 * key, the rules and the origin always see one and the same path.
 */
static bool has_dot_segment(const char *p, size_t n)
{
	const char *q = memchr(p, '?', n);
	const char *end = q ? q : p + n;
	const char *seg = p + 1; /* past the leading '/' */
	while (seg <= end) {
		const char *slash = memchr(seg, '/', (size_t)(end - seg));
		const char *e = slash ? slash : end;
		size_t dots = 0, other = 0;
		for (const char *c = seg; c < e; c++) {
			if (*c == '.') {
				dots++;
			} else if (*c == '%' && e - c >= 3 && c[1] == '2' &&
				   (c[2] == 'e' || c[2] == 'E')) {
				dots++;
				c += 2;
			} else {
				other++;
				break;
			}
		}
		if (!other && (dots == 1 || dots == 2))
			return true;
		if (!slash)
			break;
		seg = slash + 1;
	}
	return false;
}

/* Checks llhttp leaves to us. Returns 0, or an HTTP status to answer. */
static int validate(struct client *c, const char **why)
{
	struct hmsg *m = &c->req;
	if (m->p.http_major != 1) {
		*why = "HTTP version not supported";
		return 505;
	}
	unsigned hosts = hmsg_field_count(m, "host");
	if (hosts > 1) {
		*why = "more than one Host field";
		return 400;
	}
	if (hosts == 0 && m->p.http_minor >= 1) {
		*why = "HTTP/1.1 request without Host";
		return 400;
	}
	const struct hfield *host = hmsg_field(m, "host", 0);
	if (host && !host_valid(hmsg_ptr(m, host->value), host->value.len)) {
		*why = "invalid Host";
		return 400;
	}
	if (hmsg_method(m) == HTTP_CONNECT) {
		*why = "CONNECT is not supported by a reverse proxy";
		return 405;
	}
	const struct hfield *te = hmsg_field(m, "transfer-encoding", 0);
	if (te && m->p.http_minor == 0) {
		/* RFC 9112 6.1: an HTTP/1.0 message with Transfer-Encoding has
		 * faulty framing; a 1.0 peer on the way may not dechunk it. */
		*why = "Transfer-Encoding in an HTTP/1.0 request";
		return 400;
	}
	if (te &&
	    (hmsg_field_count(m, "transfer-encoding") > 1 || !hspan_ieq(m, te->value, "chunked"))) {
		*why = "transfer coding other than chunked";
		return 501;
	}
	const char *t = hmsg_ptr(m, m->target);
	if (m->target.len == 1 && t[0] == '*') {
		if (hmsg_method(m) != HTTP_OPTIONS) {
			*why = "asterisk-form is only for OPTIONS";
			return 400;
		}
		return 0;
	}
	if (m->target.len > 0 && t[0] != '/') {
		int st = absolute_form(m, host, why);
		if (st)
			return st;
		t = hmsg_ptr(m, m->target);
	}
	if (m->target.len == 0) {
		*why = "empty request-target";
		return 400;
	}
	if (has_dot_segment(t, m->target.len)) {
		*why = "dot-segment in the path";
		return 400;
	}
	return 0;
}

/* Is the peer in trusted_proxies? Only asked when there are some. */
static bool peer_trusted(const struct client *c, const struct config *cfg)
{
	if (!cfg->n_trusted)
		return false;
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, c->peer_ip, &a4->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, c->peer_ip, &a6->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		return false;
	return config_trusted_proxy(cfg, (const struct sockaddr *)&ss);
}

/*
 * Make the request one that the cache and the backend read alike, before
 * either looks at it. Returns 0, or 400 with *WHY.
 *
 * - Connection may not name Host, Content-Length or Transfer-Encoding
 *   (refused, as Varnish does): "Connection: Host" would strip the Host
 *   the object is keyed under from what the backend gets, and naming a
 *   framing field is an attempt to make two parsers disagree.
 * - The other fields Connection names are removed here rather than only
 *   when forwarding, so the key, Vary and policy see exactly the request
 *   the backend answers (a Vary-selected variant cannot be filled with
 *   the answer to a request that lacked the field).
 * - Fields whose names contain '_' are removed (unless
 *   underscores_in_headers): backends that fold '_' into '-' would see a
 *   field the cache does not.
 * - Forwarding, address and override fields (http/forward.h) are removed
 *   unless the client is a trusted proxy; from one, an override field
 *   makes the request pass (and invalidate, as an unsafe method does).
 */
static int sanitize(struct client *c, const char **why)
{
	struct hmsg *m = &c->req;
	struct hop_set hs; /* not zeroed: 16 token slots are rarely used */
	hs.n = 0;
	hs.overflow = false;
	if (hmsg_field(m, "connection", 0))
		hop_collect(m, &hs);
	if (hs.overflow) {
		*why = "Connection names too many fields";
		return 400;
	}
	for (unsigned i = 0; i < hs.n; i++) {
		if (hspan_ieq(m, hs.tokens[i], "host") ||
		    hspan_ieq(m, hs.tokens[i], "content-length") ||
		    hspan_ieq(m, hs.tokens[i], "transfer-encoding")) {
			*why = "Connection names Host, Content-Length or Transfer-Encoding";
			return 400;
		}
	}
	const struct config *cfg = c->gen->cfg;
	c->trusted = peer_trusted(c, cfg);
	c->override = false;
	uint32_t kept = 0;
	for (uint32_t i = 0; i < m->n_fields; i++) {
		const struct hfield *f = &m->fields[i];
		bool drop = hs.n && hop_is_named(m, &hs, f);
		/* X_Forwarded_Host is X-Forwarded-Host to many backends (CGI
		 * folds both into HTTP_X_FORWARDED_HOST) but not to Vary or
		 * the key: such names go, as nginx's underscores_in_headers
		 * off does. */
		if (!cfg->underscores_in_headers && memchr(hmsg_ptr(m, f->name), '_', f->name.len))
			drop = true;
		enum forward_kind k = forward_kind_of(m, f);
		if (k != FORWARD_NONE && !c->trusted)
			drop = true;
		else if (k == FORWARD_OVERRIDE)
			c->override = true;
		if (!drop)
			m->fields[kept++] = *f;
	}
	METRIC_ADD(&c->w->metrics, request_fields_removed, m->n_fields - kept);
	m->n_fields = kept;
	return 0;
}

/* Remove every field called NAME from M. */
static void remove_fields(struct hmsg *m, const char *name)
{
	uint32_t kept = 0;
	for (uint32_t i = 0; i < m->n_fields; i++) {
		if (!hspan_ieq(m, m->fields[i].name, name))
			m->fields[kept++] = m->fields[i];
	}
	m->n_fields = kept;
}

/*
 * A GET or HEAD with a body: read the body and drop it, then go on with the
 * request as one without a body (as Varnish does). RFC 9110 9.3.1 gives
 * such a body no meaning, and many servers do not read it: forwarded, it
 * would be taken for the next request on that backend connection (CL.0
 * smuggling). Dropped, it cannot reach the backend, and the request is an
 * ordinary cacheable one. The head stays where it is (its fields point
 * into it); the body is read into the room after it. Returns 0, a status
 * to answer (400, 408, 413), or -1 when the client went away.
 */
static int drop_body(struct client *c, const char **why)
{
	struct hmsg *m = &c->req;
	const struct config *cfg = c->gen->cfg;
	uint64_t maxb = cfg->limits.max_body_size;
	if (maxb && hmsg_has_length(m) && hmsg_content_length(m) > maxb) {
		*why = "request body over limits.max_body_size";
		return 413;
	}
	const struct hfield *ex = hmsg_field(m, "expect", 0);
	if (ex && hspan_ieq(m, ex->value, "100-continue") && !m->msg_done && m->p.http_minor >= 1) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		ssize_t r = rt_send_all(c->fd, cont, sizeof(cont) - 1,
					rt_deadline_in(cfg->timeouts.send_ns));
		client_sent(c, r);
		if (r < 0)
			return -1;
	}
	const uint32_t room = m->body_start;
	for (;;) {
		hmsg_body_consumed(m, room);
		if (maxb && m->body_total > maxb) {
			*why = "request body over limits.max_body_size";
			return 413;
		}
		if (m->msg_done)
			break;
		if (c->pos < c->len) {
			long used = hmsg_feed(m, c->pos, c->len - c->pos);
			if (used < 0) {
				*why = m->error ? m->error : "malformed request body";
				return 400;
			}
			c->pos += (uint32_t)used;
			continue;
		}
		c->len = c->pos = room; /* everything after the head is consumed */
		ssize_t got = rt_recv(c->fd, c->buf + room, c->cap - room, 0,
				      rt_deadline_in(cfg->timeouts.client_body_ns));
		METRIC_BYTES(&c->w->metrics, client_received_bytes, got);
		if (got == -ETIMEDOUT) {
			*why = "request body not received in time";
			return 408;
		}
		if (got <= 0)
			return -1;
		c->len += (uint32_t)got;
	}
	METRIC_INC(&c->w->metrics, request_bodies_dropped);
	m->head_flags &= (uint16_t) ~(F_CHUNKED | F_CONTENT_LENGTH);
	m->clen = 0;
	remove_fields(m, "content-length");
	remove_fields(m, "transfer-encoding");
	remove_fields(m, "expect");
	return 0;
}

static bool has_body(const struct hmsg *m)
{
	return hmsg_chunked(m) || (hmsg_has_length(m) && hmsg_content_length(m) > 0);
}

/*
 * Connection buffers come from their own mappings, kept in a small per-loop
 * cache: a parked connection's buffer must really go back to the kernel
 * (heap memory freed in the middle of the heap stays in RSS), while a busy
 * loop reuses cached ones without a syscall.
 */
#define MEMBUF_CACHE 32

struct membuf {
	struct membuf *next;
	size_t size;
};

static void *membuf_get(struct worker *w, size_t size)
{
	size += sizeof(struct membuf);
	struct membuf *m = w->membufs;
	if (m && m->size == size) {
		w->membufs = m->next;
		w->n_membufs--;
	} else {
		m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return NULL;
		m->size = size;
	}
	return m + 1;
}

static void membuf_put(struct worker *w, void *p)
{
	if (!p)
		return;
	struct membuf *m = (struct membuf *)p - 1;
	if (w->n_membufs < MEMBUF_CACHE) {
		m->next = w->membufs;
		w->membufs = m;
		w->n_membufs++;
		return;
	}
	munmap(m, m->size);
}

void client_membufs_free(struct worker *w)
{
	while (w->membufs) {
		struct membuf *m = w->membufs;
		w->membufs = m->next;
		munmap(m, m->size);
	}
	w->n_membufs = 0;
}

static void client_free(struct client *c)
{
	struct worker *w = c->w;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->nclients--;
	atomic_fetch_sub(&w->sh->nconns, 1);
	c->magic = 0;
	membuf_put(w, c->mem);
	free(c);
}

/* The per-request memory: buffers, header field arrays, small strings. */
static int buffers_get(struct client *c)
{
	const struct config *cfg = c->w->be.gen->cfg;
	uint32_t cap = cfg->limits.max_header_size + CLIENT_BODY_ROOM;
	uint32_t ocap = cfg->limits.max_header_size + 1024;
	uint32_t nf = cfg->limits.max_headers;
	size_t fields = (size_t)nf * sizeof(struct hfield);
	size_t strs = CLIENT_TARGET_LOG + CLIENT_REQ_TARGET + 2 * CLIENT_LOC;
	char *p = membuf_get(c->w, 2 * fields + 2 * (size_t)cap + ocap + strs);
	if (!p)
		return -ENOMEM;
	c->mem = p;
	struct hfield *req_fields = (struct hfield *)p;
	p += 2 * fields;
	c->buf = p;
	c->cap = cap;
	c->rbuf = p + cap;
	c->rcap = cap;
	c->obuf = p + 2 * cap;
	c->ocap = ocap;
	p += 2 * cap + ocap;
	c->target_log = p;
	c->req_target = p + CLIENT_TARGET_LOG;
	c->loc = c->req_target + CLIENT_REQ_TARGET;
	c->cloc = c->loc + CLIENT_LOC;
	c->target_log[0] = c->req_target[0] = c->loc[0] = c->cloc[0] = '\0';
	c->len = c->pos = 0;
	hmsg_init(&c->req, HMSG_REQUEST, req_fields, nf, cfg->limits.max_header_size);
	hmsg_init(&c->resp, HMSG_RESPONSE, req_fields + nf, nf, cfg->limits.max_header_size);
	return 0;
}

/* "METHOD target" (target cut at 100 bytes) for log lines; built with
 * copies because every request pays for it. */
static void set_target_log(struct client *c)
{
	struct hbuf b;
	hbuf_init(&b, c->target_log, CLIENT_TARGET_LOG);
	hbuf_puts(&b, llhttp_method_name((llhttp_method_t)hmsg_method(&c->req)));
	hbuf_put(&b, " ", 1);
	hbuf_put(&b, hmsg_ptr(&c->req, c->req.target),
		 c->req.target.len > 100 ? 100 : c->req.target.len);
	hbuf_cstr(&b);
}

static struct alog_str field_of(const struct hmsg *m, const char *name)
{
	const struct hfield *f = hmsg_field(m, name, 0);
	return f ? (struct alog_str){hmsg_ptr(m, f->value), f->value.len}
		 : (struct alog_str){NULL, 0};
}

/* One access log line for the response just sent; PARSED: c->req holds a
 * whole request head. T0: when it was read. */
static void log_access(struct client *c, rt_time_t t0, bool parsed)
{
	rt_time_t now = rt_clock_now();
	struct alog_rec r = {.client = alog_cstr(c->peer_ip),
			     .status = c->resp_status,
			     .bytes = c->bytes_out,
			     .cache = alog_cstr(c->cache_word	 ? c->cache_word
						: c->resp_status ? "error"
								 : NULL),
			     .duration_ns = now - t0,
			     .upstream_ns = c->upstream_ns,
			     .backend = alog_cstr(c->backend[0] ? c->backend : NULL)};
	/* The start in wall-clock time: now, less what the request took. */
	clock_gettime(CLOCK_REALTIME, &r.start);
	uint64_t back = now - t0;
	uint64_t ns = (uint64_t)r.start.tv_sec * RT_SEC + (uint64_t)r.start.tv_nsec - back;
	r.start.tv_sec = (time_t)(ns / RT_SEC);
	r.start.tv_nsec = (long)(ns % RT_SEC);
	if (parsed) {
		const struct hmsg *m = &c->req;
		r.method = alog_cstr(llhttp_method_name((llhttp_method_t)hmsg_method(m)));
		r.target = (struct alog_str){hmsg_ptr(m, m->target), m->target.len};
		r.http_major = (uint8_t)m->p.http_major;
		r.http_minor = (uint8_t)m->p.http_minor;
		r.referer = field_of(m, "referer");
		r.user_agent = field_of(m, "user-agent");
		r.host = field_of(m, "host");
	}
	alog_append(c->w->alog, &r);
}

static void client_main(void *arg);

/* Bytes arrived on a parked connection (res > 0), or its idle time ran out
 * or drain cancelled it. Runs on the loop thread, outside any task. */
static void parked_wake(struct rt_watch *wt, int res)
{
	struct client *c = (struct client *)((char *)wt - offsetof(struct client, watch));
	c->parked = false;
	if (res > 0 && !c->w->be.draining) {
		c->task = rt_task_spawn(client_main, c, "client");
		if (c->task) {
			rt_task_detach(c->task);
			return;
		}
	}
	/* Not inside a task: a plain close, which does not block on a socket. */
	close(c->fd);
	client_free(c);
}

static void park(struct client *c)
{
	membuf_put(c->w, c->mem);
	c->mem = NULL;
	c->task = NULL;
	c->parked = true;
	rt_watch_readable(&c->watch, c->fd,
			  rt_deadline_in(c->w->be.gen->cfg->timeouts.client_idle_ns), parked_wake);
}

static void client_main(void *arg)
{
	struct client *c = arg;
	struct worker *w = c->w;
	bool reset = false; /* end with a reset: see out */
	if (!c->mem && buffers_get(c) < 0) {
		log_warn("client %s: out of memory", c->peer);
		goto out;
	}
	for (;;) {
		c->cache_status = NULL;
		c->cache_word = NULL;
		c->resp_status = 0;
		c->bytes_out = 0;
		c->upstream_ns = -1;
		c->backend[0] = '\0';
		int r = read_head(c);
		if (r == 2 && !rt_task_cancelled()) {
			park(c);
			return;
		}
		if (r == -1 && w->alog)
			log_access(c, c->head_t0, false); /* the 4xx sent for a bad head */
		if (r != 1)
			break;
		set_target_log(c);
		rt_time_t t0 = rt_clock_now();
		const char *why = NULL;
		int status = validate(c, &why);
		if (status) {
			client_error(c, status, why);
			if (w->alog)
				log_access(c, t0, true);
			break;
		}
		c->closing = !hmsg_keep_alive(&c->req) || w->be.draining;
		c->loc[0] = c->cloc[0] = '\0';
		METRIC_INC(&w->metrics, requests);
		c->gen = gen_hold(&w->be);
		unsigned method = hmsg_method(&c->req);
		status = sanitize(c, &why);
		if (!status && (method == HTTP_GET || method == HTTP_HEAD) && has_body(&c->req))
			status = drop_body(c, &why);
		if (status) {
			if (status > 0) {
				client_error(c, status, why);
				if (w->alog)
					log_access(c, t0, true);
			}
			gen_put(&w->be, c->gen);
			c->gen = NULL;
			break;
		}
		enum upstream_result ur = cache_handle(c);
		c->cache_status = NULL; /* it may point into cache_handle's frame */
		if (w->alog)
			log_access(c, t0, true); /* while the generation holds the strings */
		gen_put(&w->be, c->gen);
		c->gen = NULL;
		metrics_observe_latency(&w->metrics, rt_clock_now() - t0);
		if (ur == UP_ABORT)
			reset = true;
		if (ur != UP_OK || c->closing)
			break;
	}
out:
	if (reset) {
		/* A response that cannot be finished (a send timed out, the
		 * backend broke off): reset the connection. A plain close
		 * would leave the kernel feeding what is queued, up to
		 * megabytes per socket, to a client that reads slowly on
		 * purpose, long after we let go (nginx: reset_timedout_connection). */
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	} else {
		/* Closing with unread request bytes would make the kernel send
		 * RST, which can destroy the error response in flight: shut
		 * down writes first so the response is delivered, then close. */
		shutdown(c->fd, SHUT_WR);
	}
	rt_close(c->fd);
	client_free(c);
}

int client_start(struct worker *w, int fd, const struct sockaddr_storage *peer)
{
	struct client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->magic = CLIENT_MAGIC;
	c->w = w;
	c->fd = fd;
	if (peer->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)peer;
		inet_ntop(AF_INET, &a->sin_addr, c->peer_ip, sizeof(c->peer_ip));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", c->peer_ip, ntohs(a->sin_port));
	} else if (peer->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)peer;
		inet_ntop(AF_INET6, &a->sin6_addr, c->peer_ip, sizeof(c->peer_ip));
		snprintf(c->peer, sizeof(c->peer), "[%s]:%u", c->peer_ip, ntohs(a->sin6_port));
	} else {
		strcpy(c->peer_ip, "unknown");
		strcpy(c->peer, "unknown");
	}

	c->next = w->clients;
	if (w->clients)
		w->clients->prev = c;
	w->clients = c;
	w->nclients++;
	/* A new connection usually has its request on the way: serve it at
	 * once rather than parking first. */
	c->task = rt_task_spawn(client_main, c, "client");
	if (!c->task) {
		w->clients = c->next;
		if (c->next)
			c->next->prev = NULL;
		w->nclients--;
		free(c);
		return -ENOMEM;
	}
	/* The task frees C and itself; c->task stays valid while C is on the
	 * worker's list, which is all drain needs. */
	rt_task_detach(c->task);
	return 0;
}
