/* forward.c - the request head sent to a backend; forwarding and override fields. */
#include "http/forward.h"

#include <ctype.h>
#include <string.h>
#include <stdio.h>
#include <strings.h>

#include "http/hop.h"

/* The forwarding fields, in the order their values enter the key. The
 * list is the union of what common frameworks read (Rails/Rack, Django,
 * Spring, Symfony/Laravel, Express, IIS) and what cache-poisoning scanners
 * try. */
static const char *const forwarding[] = {
    "forwarded",	"x-forwarded-host",   "x-forwarded-proto", "x-forwarded-scheme",
    "x-forwarded-port", "x-forwarded-prefix", "x-forwarded-ssl",   "x-forwarded-server",
    "x-host",		"front-end-https",
};

/* Fields that say who the client is: not keyed, but an untrusted client's
 * claim about its own address is not passed on as if a proxy had made it. */
static const char *const addresses[] = {
    "x-forwarded-for",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
};

static const char *const overrides[] = {
    "x-original-url", "x-rewrite-url",	   "x-http-method-override",
    "x-http-method",  "x-method-override",
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/*
 * NAME equals LIT (lower case, with '-') in any case and with '_' for any
 * '-': CGI, PHP, Rack and others turn both into one variable
 * (HTTP_X_FORWARDED_HOST), so X_Forwarded_Host is X-Forwarded-Host to
 * them and must be to us.
 */
static bool name_is(const char *name, size_t len, const char *lit)
{
	size_t i = 0;
	for (; i < len && lit[i]; i++) {
		char c = (char)tolower((unsigned char)name[i]);
		if (c != lit[i] && !(c == '_' && lit[i] == '-'))
			return false;
	}
	return i == len && !lit[i];
}

static bool in_list(const char *name, size_t len, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (name_is(name, len, list[i]))
			return true;
	}
	return false;
}

enum forward_kind forward_kind_of(const struct hmsg *m, const struct hfield *f)
{
	/* Every name in the lists starts with x, f or t: most fields are
	 * ruled out by their first byte. */
	const char *n = m->base + f->name.off;
	char c0 = (char)tolower((unsigned char)n[0]);
	if (f->name.len < 6 || (c0 != 'x' && c0 != 'f' && c0 != 't'))
		return FORWARD_NONE;
	if (in_list(n, f->name.len, forwarding, N_OF(forwarding)))
		return FORWARD_FORWARDING;
	if (in_list(n, f->name.len, overrides, N_OF(overrides)))
		return FORWARD_OVERRIDE;
	if (in_list(n, f->name.len, addresses, N_OF(addresses)))
		return FORWARD_ADDRESS;
	return FORWARD_NONE;
}

struct out {
	char *p;
	size_t n, cap;
	bool overflow;
};

static void put(struct out *o, const char *s, size_t n, bool lower)
{
	if (o->n + n > o->cap) {
		o->overflow = true;
		return;
	}
	for (size_t i = 0; i < n; i++)
		o->p[o->n++] = lower ? (char)tolower((unsigned char)s[i]) : s[i];
}

/* One Forwarded value: for each element (comma-separated, quoted strings
 * respected) its pairs as "name=value;" (names lower-cased, values
 * unquoted), but for= and by=, which name the client and the proxy. Every
 * other pair is kept: a backend may read "host" loosely enough to find it
 * in "xhost=". */
static void forwarded_params(struct out *o, const char *v, size_t n)
{
	size_t i = 0;
	while (i < n) {
		/* One pair: token "=" (token / quoted-string). */
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ';'))
			i++;
		if (i < n && v[i] == ',') {
			put(o, ",", 1, false);
			i++;
			continue;
		}
		size_t ns = i;
		while (i < n && v[i] != '=' && v[i] != ';' && v[i] != ',')
			i++;
		size_t nl = i - ns;
		if (i >= n || v[i] != '=')
			continue; /* a bare token: no value to key on */
		i++;
		size_t vs = i, vl;
		bool quoted = i < n && v[i] == '"';
		if (quoted) {
			vs = ++i;
			while (i < n && v[i] != '"') {
				if (v[i] == '\\' && i + 1 < n)
					i++;
				i++;
			}
			vl = i - vs;
			if (i < n)
				i++;
		} else {
			while (i < n && v[i] != ';' && v[i] != ',')
				i++;
			vl = i - vs;
			while (vl && (v[vs + vl - 1] == ' ' || v[vs + vl - 1] == '\t'))
				vl--;
		}
		while (nl && (v[ns + nl - 1] == ' ' || v[ns + nl - 1] == '\t'))
			nl--;
		bool skip = (nl == 3 && strncasecmp(v + ns, "for", 3) == 0) ||
			    (nl == 2 && strncasecmp(v + ns, "by", 2) == 0);
		if (!skip) {
			put(o, v + ns, nl, true);
			put(o, "=", 1, false);
			put(o, v + vs, vl, false);
			put(o, ";", 1, false);
		}
	}
}

int forward_key(const struct hmsg *req, char *out, size_t cap)
{
	struct out o = {.p = out, .cap = cap};
	for (size_t k = 0; k < N_OF(forwarding); k++) {
		bool first = true;
		for (uint32_t i = 0; i < req->n_fields; i++) {
			const struct hfield *f = &req->fields[i];
			if (!name_is(hmsg_ptr(req, f->name), f->name.len, forwarding[k]))
				continue;
			if (first) {
				put(&o, forwarding[k], strlen(forwarding[k]), false);
				put(&o, "=", 1, false);
			} else {
				put(&o, ", ", 2, false);
			}
			first = false;
			if (k == 0)
				forwarded_params(&o, hmsg_ptr(req, f->value), f->value.len);
			else
				put(&o, hmsg_ptr(req, f->value), f->value.len, false);
		}
		if (!first)
			put(&o, "\n", 1, false);
	}
	return o.overflow ? -1 : (int)o.n;
}

/* ---- the forwarded head --------------------------------------------------- */

static bool is_conditional(const struct hmsg *m, const struct hfield *f)
{
	return hspan_ieq(m, f->name, "if-none-match") ||
	       hspan_ieq(m, f->name, "if-modified-since") || hspan_ieq(m, f->name, "if-match") ||
	       hspan_ieq(m, f->name, "if-unmodified-since") || hspan_ieq(m, f->name, "if-range") ||
	       hspan_ieq(m, f->name, "range");
}

int forward_head_build(struct hbuf *b, const struct hmsg *m, const struct forward_head_opts *o,
		       bool *chunked)
{
	struct hop_set hs;
	hop_collect(m, &hs);
	if (hs.overflow)
		return 400;
	hbuf_puts(b, o->method ? o->method : llhttp_method_name((llhttp_method_t)hmsg_method(m)));
	hbuf_put(b, " ", 1);
	if (o->target)
		hbuf_put(b, o->target, o->target_len);
	else
		hbuf_put(b, hmsg_ptr(m, m->target), m->target.len);
	hbuf_puts(b, " HTTP/1.1\r\n");
	for (uint32_t i = 0; i < m->n_fields; i++) {
		const struct hfield *f = &m->fields[i];
		if (o->host && hspan_ieq(m, f->name, "host")) {
			hbuf_puts(b, "Host: ");
			hbuf_put(b, o->host, o->host_len);
			hbuf_put(b, "\r\n", 2);
			continue;
		}
		if (o->edits && hedits_drops(o->edits, hmsg_ptr(m, f->name), f->name.len))
			continue;
		if (o->upgrade && hspan_ieq(m, f->name, "upgrade")) {
			hbuf_put_field(b, m, f);
			continue;
		}
		if (hop_is_hop(m, &hs, f) || hspan_ieq(m, f->name, "content-length") ||
		    hspan_ieq(m, f->name, "transfer-encoding") || hspan_ieq(m, f->name, "expect") ||
		    hspan_ieq(m, f->name, "via") || hspan_ieq(m, f->name, "x-forwarded-for") ||
		    (o->forwarded && hspan_ieq(m, f->name, "forwarded")) ||
		    hspan_ieq(m, f->name, "surrogate-capability") ||
		    hspan_ieq(m, f->name, FORWARD_HOP_FIELD))
			continue;
		if (o->strip_conditionals && is_conditional(m, f))
			continue;
		hbuf_put_field(b, m, f);
	}
	if (o->host && !hmsg_field(m, "host", 0)) { /* an HTTP/1.0 request without one */
		hbuf_puts(b, "Host: ");
		hbuf_put(b, o->host, o->host_len);
		hbuf_put(b, "\r\n", 2);
	}
	if (o->edits)
		hedits_put_added(o->edits, b);
	if (o->upgrade)
		hbuf_puts(b, "Connection: upgrade\r\n");
	if (o->if_none_match) {
		hbuf_puts(b, "If-None-Match: ");
		hbuf_put(b, o->if_none_match, o->inm_len);
		hbuf_puts(b, "\r\n");
	}
	if (o->if_modified_since) {
		hbuf_puts(b, "If-Modified-Since: ");
		hbuf_put(b, o->if_modified_since, o->ims_len);
		hbuf_puts(b, "\r\n");
	}
	char via[32];
	snprintf(via, sizeof(via), "%u.%u ringcache", m->p.http_major, m->p.http_minor);
	hbuf_put_merged(b, m, "Via", via);
	hbuf_put_merged(b, m, "X-Forwarded-For", o->peer_ip);
	/* A trusted proxy's X-Forwarded-Proto stays (untrusted ones were
	 * removed before): it knows the scheme the client used; else ours. */
	if (!o->hop_token && !hmsg_field(m, "x-forwarded-proto", 0) &&
	    !(o->edits && hedits_drops(o->edits, "X-Forwarded-Proto", 17)))
		hbuf_puts(b, "X-Forwarded-Proto: http\r\n");
	if (o->hop_token) {
		hbuf_puts(b, FORWARD_HOP_FIELD ": ");
		hbuf_puts(b, o->hop_token);
		hbuf_puts(b, "\r\n");
	}
	if (o->forwarded && !o->hop_token) {
		/* RFC 7239 4: an IPv6 node is quoted and bracketed. */
		char el[96];
		bool v6 = strchr(o->peer_ip, ':') != NULL;
		snprintf(el, sizeof(el), v6 ? "for=\"[%s]\";proto=http" : "for=%s;proto=http",
			 o->peer_ip);
		hbuf_put_merged(b, m, "Forwarded", el);
	}
	/* Edge Architecture 1.0: tells the origin that Surrogate-Control
	 * directives targeted at "ringcache" will be honoured. */
	hbuf_put_merged(b, m, "Surrogate-Capability", "ringcache=\"Surrogate/1.0\"");
	/* A cache fetch (METHOD given) never has a body. */
	*chunked = !o->method && hmsg_chunked(m);
	if (*chunked)
		hbuf_puts(b, "Transfer-Encoding: chunked\r\n");
	else if (hmsg_has_length(m) && !o->method)
		hbuf_printf(b, "Content-Length: %llu\r\n",
			    (unsigned long long)hmsg_content_length(m));
	hbuf_put(b, "\r\n", 2);
	return b->overflow ? 431 : 0;
}
