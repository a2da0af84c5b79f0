/* partial.c - the Range a fetch sends, and 206s stored as parts. */
#include "serve/partial.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cache/hdrs.h"

/* The client's one Range field, or NULL (none, or several lines). */
static const struct hfield *one_range(const struct hmsg *req)
{
	const struct hfield *rg = hmsg_field(req, "range", 0);
	return rg && !hmsg_field(req, "range", 1) ? rg : NULL;
}

static void ask_client_range(const struct hmsg *req, const struct hfield *rg,
			     struct partial_plan *p)
{
	/* Only a single range is passed on: several are better served from
	 * a whole stored copy, and a multipart 206 is never stored. */
	struct range_set rs;
	if (range_resolve(hmsg_ptr(req, rg->value), rg->value.len, UINT64_MAX, &rs) !=
		RANGE_PARTS ||
	    rs.n != 1)
		return;
	p->mode = PARTIAL_CLIENT;
	p->range = hmsg_ptr(req, rg->value);
	p->range_len = rg->value.len;
}

void partial_plan(const struct hmsg *req, const struct cobj *cand, struct partial_plan *p)
{
	memset(p, 0, sizeof(*p));
	p->mode = PARTIAL_NONE;
	/* Range is for GET only (RFC 9110 14.2); the client's If-Range is
	 * judged by the cache against what it stores, which needs the whole
	 * representation if it fails. */
	if (hmsg_method(req) != HTTP_GET || hmsg_field(req, "if-range", 0))
		return;
	const struct hfield *rg = one_range(req);
	bool any_range = hmsg_field(req, "range", 0) != NULL;
	if (!cand || !cand->partial || cbody_state(cand->body) != BODY_DONE) {
		/* No parts to continue (a stale complete response is
		 * revalidated whole). */
		if ((!cand || cand->partial) && rg)
			ask_client_range(req, rg, p);
		return;
	}
	uint64_t s = cand->part_first, e = cand->part_last, len = cand->part_len;
	uint64_t want_last;
	if (!any_range) {
		if (s != 0)
			return; /* one extent: a hole before it is fetched whole */
		want_last = len - 1;
	} else {
		if (!rg)
			return;
		struct range_set rs;
		enum range_result rr =
		    range_resolve(hmsg_ptr(req, rg->value), rg->value.len, len, &rs);
		if (rr == RANGE_IGNORE || (rr == RANGE_PARTS && rs.n != 1))
			return;
		if (rr != RANGE_PARTS || rs.r[0].first < s || rs.r[0].first > e + 1 ||
		    rs.r[0].last <= e) {
			/* Not a continuation of the parts: ask for it as the
			 * client did; its 206 replaces them. */
			ask_client_range(req, rg, p);
			return;
		}
		want_last = rs.r[0].last;
	}
	p->mode = PARTIAL_JOIN;
	p->gap = (struct byte_range){e + 1, want_last};
	int n = want_last == len - 1
		    ? snprintf(p->buf, sizeof(p->buf), "bytes=%llu-", (unsigned long long)(e + 1))
		    : snprintf(p->buf, sizeof(p->buf), "bytes=%llu-%llu",
			       (unsigned long long)(e + 1), (unsigned long long)want_last);
	p->range = p->buf;
	p->range_len = (size_t)n;
	size_t el;
	const char *etag = hdrs_find(cand->hdrs, cand->hdrs_len, "etag", 0, &el);
	if (etag && el >= 2 && etag[0] == '"') { /* strong only (RFC 9110 13.1.5) */
		p->if_range = etag;
		p->if_range_len = el;
	}
}

bool partial_response_part(const struct hmsg *resp, struct byte_range *r, uint64_t *len)
{
	const struct hfield *cr = hmsg_field(resp, "content-range", 0);
	if (!cr || hmsg_field(resp, "content-range", 1) || hmsg_chunked(resp) ||
	    !hmsg_has_length(resp))
		return false;
	if (!content_range_parse(hmsg_ptr(resp, cr->value), cr->value.len, r, len))
		return false;
	return hmsg_content_length(resp) == byte_range_len(r);
}

bool partial_same_validator(const struct cobj *stored, const struct hmsg *resp)
{
	size_t el;
	const char *etag = hdrs_find(stored->hdrs, stored->hdrs_len, "etag", 0, &el);
	const struct hfield *f = hmsg_field(resp, "etag", 0);
	if (!etag || !f || el < 2 || etag[0] != '"')
		return false;
	return f->value.len == el && memcmp(hmsg_ptr(resp, f->value), etag, el) == 0;
}

/* Remove the Content-Range lines from O's header block. */
static void drop_content_range(struct cobj *o)
{
	size_t at = 0, len = o->hdrs_len;
	while (at < len) {
		char *eol = memchr(o->hdrs + at, '\n', len - at);
		size_t next = eol ? (size_t)(eol - o->hdrs) + 1 : len;
		if (next - at > 13 && o->hdrs[at + 13] == ':' &&
		    strncasecmp(o->hdrs + at, "content-range", 13) == 0) {
			memmove(o->hdrs + at, o->hdrs + next, len - next);
			len -= next - at;
		} else {
			at = next;
		}
	}
	o->hdrs_len = (uint32_t)len;
}

int partial_shape(struct cobj *o, struct byte_range r, uint64_t len)
{
	drop_content_range(o);
	if (r.first == 0 && r.last == len - 1) {
		/* All of it: the complete response (RFC 9111 3.4). */
		char *ok = strdup("OK");
		if (!ok)
			return -ENOMEM;
		free(o->reason);
		o->reason = ok;
		o->status = 200;
		o->meta.status = 200;
		o->partial = false;
		o->clen = (int64_t)len;
		return 0;
	}
	o->status = 206;
	o->partial = true;
	o->part_first = r.first;
	o->part_last = r.last;
	o->part_len = len;
	o->clen = (int64_t)byte_range_len(&r);
	return 0;
}

int partial_copy_extent(struct cobj *o, struct cobj *cand)
{
	struct body_reader r;
	body_reader_init(&r, cand->body);
	for (;;) {
		const char *p;
		ssize_t n = body_peek(&r, &p);
		if (n == 0)
			return 0;
		if (n < 0)
			return -EIO; /* checked complete by partial_plan: cannot happen */
		int e = cbody_append(o->body, p, (size_t)n, o->clen > 0 ? (uint64_t)o->clen : 0);
		if (e < 0)
			return e;
		body_advance(&r, (size_t)n);
	}
}
