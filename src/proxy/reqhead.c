/* reqhead.c - rewrite a client request head for the backend. */
#include "proxy/reqhead.h"

#include <stdio.h>

#include "http/hop.h"

void reqhead_put_field(struct hbuf *b, const struct hmsg *m, const struct hfield *f)
{
	hbuf_put(b, hmsg_ptr(m, f->name), f->name.len);
	hbuf_put(b, ": ", 2);
	hbuf_put(b, hmsg_ptr(m, f->value), f->value.len);
	hbuf_put(b, "\r\n", 2);
}

void reqhead_put_merged(struct hbuf *b, const struct hmsg *m, const char *name, const char *extra)
{
	hbuf_puts(b, name);
	hbuf_put(b, ": ", 2);
	for (uint32_t i = 0; i < m->n_fields; i++) {
		const struct hfield *f = &m->fields[i];
		if (!hspan_ieq(m, f->name, name) || f->value.len == 0)
			continue;
		hbuf_put(b, hmsg_ptr(m, f->value), f->value.len);
		hbuf_put(b, ", ", 2);
	}
	hbuf_puts(b, extra);
	hbuf_put(b, "\r\n", 2);
}

static bool is_conditional(const struct hmsg *m, const struct hfield *f)
{
	return hspan_ieq(m, f->name, "if-none-match") ||
	       hspan_ieq(m, f->name, "if-modified-since") || hspan_ieq(m, f->name, "if-match") ||
	       hspan_ieq(m, f->name, "if-unmodified-since") || hspan_ieq(m, f->name, "if-range") ||
	       hspan_ieq(m, f->name, "range");
}

int reqhead_build(struct hbuf *b, const struct hmsg *m, const struct reqhead_opts *o, bool *chunked)
{
	struct hop_set hs;
	hop_collect(m, &hs);
	if (hs.overflow)
		return 400;
	hbuf_puts(b, o->method ? o->method : llhttp_method_name((llhttp_method_t)hmsg_method(m)));
	hbuf_put(b, " ", 1);
	hbuf_put(b, hmsg_ptr(m, m->target), m->target.len);
	hbuf_puts(b, " HTTP/1.1\r\n");
	for (uint32_t i = 0; i < m->n_fields; i++) {
		const struct hfield *f = &m->fields[i];
		if (hop_is_hop(m, &hs, f) || hspan_ieq(m, f->name, "content-length") ||
		    hspan_ieq(m, f->name, "transfer-encoding") || hspan_ieq(m, f->name, "expect") ||
		    hspan_ieq(m, f->name, "via") || hspan_ieq(m, f->name, "x-forwarded-for") ||
		    hspan_ieq(m, f->name, "surrogate-capability"))
			continue;
		if (o->strip_conditionals && is_conditional(m, f))
			continue;
		reqhead_put_field(b, m, f);
	}
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
	reqhead_put_merged(b, m, "Via", via);
	reqhead_put_merged(b, m, "X-Forwarded-For", o->peer_ip);
	/* Edge Architecture 1.0: tells the origin that Surrogate-Control
	 * directives targeted at "ringcache" will be honoured. */
	reqhead_put_merged(b, m, "Surrogate-Capability", "ringcache=\"Surrogate/1.0\"");
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
