/* hdrs.c - stored header blocks: lookup, building, 304 updates. */
#include "cache/hdrs.h"

#include <strings.h>

#include "http/hop.h"

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

const char *hdrs_find(const char *hdrs, size_t len, const char *name, unsigned nth, size_t *vlen)
{
	size_t nl = strlen(name);
	const char *p = hdrs, *end = hdrs + len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		if (colon && (size_t)(colon - p) == nl && strncasecmp(p, name, nl) == 0 &&
		    nth-- == 0) {
			const char *v = colon + 1, *ve = eol;
			if (ve > v && ve[-1] == '\r')
				ve--;
			while (v < ve && is_ows(*v))
				v++;
			while (ve > v && is_ows(ve[-1]))
				ve--;
			*vlen = (size_t)(ve - v);
			return v;
		}
		p = eol + 1;
	}
	return NULL;
}

static bool never_stored(const struct hmsg *m, const struct hfield *f)
{
	/* Framing is re-emitted per response, Age is computed per response,
	 * and the Proxy-* authentication fields concern one hop only. */
	return hspan_ieq(m, f->name, "content-length") ||
	       hspan_ieq(m, f->name, "transfer-encoding") || hspan_ieq(m, f->name, "age") ||
	       hspan_ieq(m, f->name, "proxy-authenticate") ||
	       hspan_ieq(m, f->name, "proxy-authentication-info") ||
	       hspan_ieq(m, f->name, "proxy-authorization");
}

void hdrs_from_response(struct hbuf *b, const struct hmsg *m, const struct cache_control *cc)
{
	struct hop_set hs;
	hop_collect(m, &hs);
	for (uint32_t i = 0; i < m->n_fields; i++) {
		const struct hfield *f = &m->fields[i];
		if (hop_is_hop(m, &hs, f) || never_stored(m, f))
			continue;
		const char *n = hmsg_ptr(m, f->name);
		/* A shared cache must not store fields named by private=, and
		 * must not reuse those named by no-cache= without validation:
		 * not storing them satisfies both. */
		if (((cc->flags & CC_PRIVATE_FIELDS) &&
		     cc_names_has(&cc->private_fields, n, f->name.len)) ||
		    ((cc->flags & CC_NO_CACHE_FIELDS) &&
		     cc_names_has(&cc->no_cache_fields, n, f->name.len)))
			continue;
		hbuf_put(b, n, f->name.len);
		hbuf_put(b, ": ", 2);
		hbuf_put(b, hmsg_ptr(m, f->value), f->value.len);
		hbuf_put(b, "\r\n", 2);
	}
}

static bool not_updated(const struct hmsg *m, const struct hfield *f)
{
	/* RFC 9111 3.2: fields that describe the stored body itself (its
	 * coding, digest, validator, framing) are kept from the stored
	 * response; everything else the 304 sends replaces what was stored. */
	return never_stored(m, f) || hspan_ieq(m, f->name, "content-encoding") ||
	       hspan_ieq(m, f->name, "content-range") || hspan_ieq(m, f->name, "content-md5") ||
	       hspan_ieq(m, f->name, "etag");
}

void hdrs_merge_304(struct hbuf *b, const char *stored, size_t len, const struct hmsg *m)
{
	struct hop_set hs;
	hop_collect(m, &hs);
	const char *p = stored, *end = stored + len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		eol = eol ? eol + 1 : end;
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		bool replaced = false;
		if (colon) {
			size_t nl = (size_t)(colon - p);
			for (uint32_t i = 0; i < m->n_fields && !replaced; i++) {
				const struct hfield *f = &m->fields[i];
				replaced = f->name.len == nl &&
					   strncasecmp(hmsg_ptr(m, f->name), p, nl) == 0 &&
					   !hop_is_hop(m, &hs, f) && !not_updated(m, f);
			}
		}
		if (!replaced)
			hbuf_put(b, p, (size_t)(eol - p));
		p = eol;
	}
	for (uint32_t i = 0; i < m->n_fields; i++) {
		const struct hfield *f = &m->fields[i];
		if (hop_is_hop(m, &hs, f) || not_updated(m, f))
			continue;
		hbuf_put(b, hmsg_ptr(m, f->name), f->name.len);
		hbuf_put(b, ": ", 2);
		hbuf_put(b, hmsg_ptr(m, f->value), f->value.len);
		hbuf_put(b, "\r\n", 2);
	}
}
