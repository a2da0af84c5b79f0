/* req.c - checks and cleaning of each request head, and GET/HEAD bodies read and dropped. */
#include "serve/req.h"
#include "rt/obj.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/forward.h"
#include "http/hbuf.h"
#include "http/hop.h"
#include "rt/io.h"

/* unreserved / sub-delims (RFC 3986 2.2, 2.3). A switch, not strchr: it
 * runs for every byte of every Host (and strchr would take the NUL). */
static bool host_char(unsigned char ch)
{
	if ((unsigned)((ch | 0x20) - 'a') < 26 || (unsigned)(ch - '0') < 10)
		return true;
	switch (ch) {
	case '-':
	case '.':
	case '_':
	case '~':
	case '!':
	case '$':
	case '&':
	case '\'':
	case '(':
	case ')':
	case '*':
	case '+':
	case ',':
	case ';':
	case '=':
		return true;
	default:
		return false;
	}
}

/* IP-literal = "[" ( IPv6address / IPvFuture ) "]" without the brackets:
 * IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ), and
 * an IPv6address is what inet_pton takes (it refuses what RFC 3986's
 * grammar refuses: empty, a second "::", groups over four digits, nine
 * groups, an IPv4 address alone). */
static bool ip_literal_valid(const char *p, size_t n)
{
	if (n && (p[0] == 'v' || p[0] == 'V')) {
		size_t i = 1;
		while (i < n && isxdigit((unsigned char)p[i]))
			i++;
		if (i == 1 || i == n || p[i] != '.' || ++i == n)
			return false;
		for (; i < n; i++) {
			if (p[i] != ':' && !host_char((unsigned char)p[i]))
				return false;
		}
		return true;
	}
	char a[INET6_ADDRSTRLEN];
	struct in6_addr ip;
	if (n == 0 || n >= sizeof(a) || memchr(p, '\0', n))
		return false;
	memcpy(a, p, n);
	a[n] = '\0';
	return inet_pton(AF_INET6, a, &ip) == 1;
}

/*
 * Host = uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2): an IP
 * literal in brackets, or reg-name / IPv4 characters (unreserved,
 * sub-delims, pct-encoded); the port digits. Anything else in a Host
 * reaches the cache key and the backend, so it is refused here.
 */
bool req_host_valid(const char *h, size_t n)
{
	size_t i = 0;
	if (n && h[0] == '[') {
		const char *e = memchr(h, ']', n);
		if (!e || !ip_literal_valid(h + 1, (size_t)(e - h - 1)))
			return false;
		i = (size_t)(e - h) + 1;
	} else {
		for (; i < n && h[i] != ':'; i++) {
			unsigned char ch = (unsigned char)h[i];
			if (ch == '%') {
				if (i + 2 >= n || !isxdigit((unsigned char)h[i + 1]) ||
				    !isxdigit((unsigned char)h[i + 2]))
					return false;
				i += 2;
			} else if (!host_char(ch)) {
				return false;
			}
		}
	}
	if (i < n && h[i++] != ':')
		return false;
	for (; i < n; i++) {
		if ((unsigned)(h[i] - '0') > 9) /* isdigit, without the locale table */
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
int req_validate(struct req *r, const char **why)
{
	CHECK_OBJ_NOTNULL(r, REQ_MAGIC);
	struct hmsg *m = &r->req;
	const struct hfield *host = hmsg_field(m, "host", 0);
	r->host_f = NULL;
	if (host) {
		r->host_copy = *host;
		r->host_f = &r->host_copy;
	}
	if (m->p.http_major != 1) {
		*why = "HTTP version not supported";
		return 505;
	}
	unsigned hosts = host ? hmsg_field_count(m, "host") : 0;
	if (hosts > 1) {
		*why = "more than one Host field";
		return 400;
	}
	if (hosts == 0 && m->p.http_minor >= 1) {
		*why = "HTTP/1.1 request without Host";
		return 400;
	}
	if (host && !req_host_valid(hmsg_ptr(m, host->value), host->value.len)) {
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

/* Does V (N bytes) equal TOKEN? In time that depends on N alone, so the
 * time of a refusal says nothing of how much of the token was right. */
static bool token_is(const char *v, size_t n, const char *token)
{
	size_t tn = strlen(token);
	unsigned char d = n != tn;
	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(v[i] ^ token[i < tn ? i : 0]);
	return d == 0;
}

/* Is the request a cluster member's forward (one hop field holding the
 * token)? A hop field that is not is counted; either way it goes. */
static bool member_forward(struct req *r, const struct config *cfg)
{
	if (!cfg->cluster.enabled)
		return false; /* the field still goes (req_sanitize) */
	const struct hmsg *m = &r->req;
	const struct hfield *f = hmsg_field(m, FORWARD_HOP_FIELD, 0);
	if (!f)
		return false;
	if (hmsg_field_count(m, FORWARD_HOP_FIELD) == 1 &&
	    token_is(hmsg_ptr(m, f->value), f->value.len, cfg->cluster.token))
		return true;
	METRIC_INC(&r->w->metrics, cluster_hops_untrusted);
	return false;
}

/* Is the peer in trusted_proxies? Only asked when there are some. */
static bool peer_trusted(const struct req *r, const struct config *cfg)
{
	return cfg->trusted.n && config_trusted_proxy(cfg, (const struct sockaddr *)&r->peer_sa);
}

/* TEXT[0..N) (an address, OWS trimmed) into SS; false if it is none. */
static bool parse_ip(const char *text, size_t n, struct sockaddr_storage *ss, char *out, size_t cap)
{
	while (n && (text[0] == ' ' || text[0] == '\t'))
		text++, n--;
	while (n && (text[n - 1] == ' ' || text[n - 1] == '\t'))
		n--;
	if (n >= 2 && text[0] == '[' && text[n - 1] == ']')
		text++, n -= 2; /* "[2001:db8::1]", as some proxies write it */
	char a[INET6_ADDRSTRLEN];
	if (!n || n >= sizeof(a) || n >= cap)
		return false;
	memcpy(a, text, n);
	a[n] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, a, &((struct sockaddr_in *)ss)->sin_addr) == 1)
		ss->ss_family = AF_INET;
	else if (inet_pton(AF_INET6, a, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1)
		ss->ss_family = AF_INET6;
	else
		return false;
	memcpy(out, a, n + 1);
	return true;
}

/*
 * The client behind trusted proxies: X-Forwarded-For read from the right,
 * past every address in trusted_proxies (nginx's real_ip_recursive); the
 * first one that is not trusted is the client. A malformed entry stops
 * the walk at the last good one, so a client cannot pose as anyone by
 * writing garbage before its real entry. Only for a trusted peer; the
 * lines of the field are one list (RFC 9110 5.3).
 */
static void real_client(struct req *r, const struct config *cfg)
{
	const struct hmsg *m = &r->req;
	unsigned n = hmsg_field_count(m, "x-forwarded-for");
	for (unsigned li = n; li-- > 0;) {
		const struct hfield *f = hmsg_field(m, "x-forwarded-for", li);
		const char *v = hmsg_ptr(m, f->value);
		size_t end = f->value.len;
		for (;;) {
			size_t start = end;
			while (start > 0 && v[start - 1] != ',')
				start--;
			struct sockaddr_storage ss;
			char ip[48];
			if (!parse_ip(v + start, end - start, &ss, ip, sizeof(ip)))
				return;
			memcpy(r->client_ip, ip, sizeof(ip));
			r->client_sa = ss;
			if (!config_trusted_proxy(cfg, (const struct sockaddr *)&ss))
				return;
			if (start == 0)
				break;
			end = start - 1;
		}
	}
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
int req_sanitize(struct req *r, const char **why)
{
	CHECK_OBJ_NOTNULL(r, REQ_MAGIC);
	struct hmsg *m = &r->req;
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
	const struct config *cfg = r->gen->cfg;
	/* A member's forward: the member sanitized the client's fields, and
	 * the forwarding fields it sends are those it keyed on. */
	r->cluster_hop = member_forward(r, cfg);
	r->trusted = r->cluster_hop || peer_trusted(r, cfg);
	r->override = false;
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
		if (hspan_ieq(m, f->name, FORWARD_HOP_FIELD))
			drop = true;
		enum forward_kind k = forward_kind_of(m, f);
		if (k != FORWARD_NONE && !r->trusted)
			drop = true;
		else if (k == FORWARD_OVERRIDE)
			r->override = true;
		if (!drop)
			m->fields[kept++] = *f;
	}
	METRIC_ADD(&r->w->metrics, request_fields_removed, m->n_fields - kept);
	m->n_fields = kept;
	memcpy(r->client_ip, r->peer_ip, sizeof(r->client_ip));
	r->client_sa = r->peer_sa;
	if (r->trusted)
		real_client(r, cfg);
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
int req_drop_body(struct req *r, const char **why)
{
	CHECK_OBJ_NOTNULL(r, REQ_MAGIC);
	struct hmsg *m = &r->req;
	const struct config *cfg = r->gen->cfg;
	uint64_t maxb = cfg->limits.max_body_size;
	if (maxb && hmsg_has_length(m) && hmsg_content_length(m) > maxb) {
		*why = "request body over limits.max_body_size";
		return 413;
	}
	const struct hfield *ex = hmsg_field(m, "expect", 0);
	if (ex && hspan_ieq(m, ex->value, "100-continue") && !m->msg_done && m->p.http_minor >= 1) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		ssize_t sent = rt_send_all(r->fd, cont, sizeof(cont) - 1,
					   rt_deadline_in(cfg->timeouts.send_ns));
		req_sent(r, sent);
		if (sent < 0)
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
		if (r->pos < r->len) {
			long used = hmsg_feed(m, r->pos, r->len - r->pos);
			if (used < 0) {
				*why = m->error ? m->error : "malformed request body";
				return 400;
			}
			r->pos += (uint32_t)used;
			continue;
		}
		r->len = r->pos = room; /* everything after the head is consumed */
		ssize_t got = rt_recv(r->fd, r->buf + room, r->cap - room, 0,
				      rt_deadline_in(cfg->timeouts.client_body_ns));
		METRIC_BYTES(&r->w->metrics, client_received_bytes, got);
		if (got == -ETIMEDOUT) {
			*why = "request body not received in time";
			return 408;
		}
		if (got <= 0)
			return -1;
		r->len += (uint32_t)got;
	}
	METRIC_INC(&r->w->metrics, request_bodies_dropped);
	m->head_flags &= (uint16_t) ~(F_CHUNKED | F_CONTENT_LENGTH);
	m->clen = 0;
	remove_fields(m, "content-length");
	remove_fields(m, "transfer-encoding");
	remove_fields(m, "expect");
	return 0;
}

bool req_has_body(const struct hmsg *m)
{
	return hmsg_chunked(m) || (hmsg_has_length(m) && hmsg_content_length(m) > 0);
}

/* "METHOD target" (target cut at 100 bytes) for log lines; built with
 * copies because every request pays for it. */
void req_set_target_log(struct req *r)
{
	struct hbuf b;
	hbuf_init(&b, r->target_log, REQ_TARGET_LOG);
	hbuf_puts(&b, llhttp_method_name((llhttp_method_t)hmsg_method(&r->req)));
	hbuf_put(&b, " ", 1);
	hbuf_put(&b, hmsg_ptr(&r->req, r->req.target),
		 r->req.target.len > 100 ? 100 : r->req.target.len);
	hbuf_cstr(&b);
}

char *req_head_copy(const struct req *r, uint32_t *len)
{
	const struct hmsg *m = &r->req;
	const char *method = llhttp_method_name((llhttp_method_t)hmsg_method(m));
	size_t need = strlen(method) + m->target.len + 16;
	for (uint32_t i = 0; i < m->n_fields; i++)
		need += m->fields[i].name.len + m->fields[i].value.len + 4;
	need += 2;
	char *p = malloc(need);
	if (!p)
		return NULL;
	struct hbuf b;
	hbuf_init(&b, p, need);
	hbuf_puts(&b, method);
	hbuf_put(&b, " ", 1);
	hbuf_put(&b, hmsg_ptr(m, m->target), m->target.len);
	hbuf_puts(&b, m->p.http_minor ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
	for (uint32_t i = 0; i < m->n_fields; i++)
		hbuf_put_field(&b, m, &m->fields[i]);
	hbuf_put(&b, "\r\n", 2);
	assert(!b.overflow);
	*len = (uint32_t)b.len;
	return p;
}
