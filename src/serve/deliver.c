/* deliver.c - answer a request from a cache object. */
#include "serve/deliver.h"
#include "rt/obj.h"
#include "serve/respond.h"
#include "serve/encode.h"
#include "serve/rules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cache/hdrs.h"
#include "http/chunked.h"
#include "http/date.h"
#include "http/hbuf.h"
#include "ops/log.h"
#include "ops/metrics.h"
#include "backend/gen.h"
#include "rt/io.h"

/* Weak comparison of one entity-tag list against ETAG (RFC 9110 8.8.3.2). */
static bool etag_list_matches(const char *list, size_t len, const char *etag, size_t elen)
{
	if (elen > 2 && etag[0] == 'W' && etag[1] == '/') {
		etag += 2;
		elen -= 2;
	}
	const char *p = list, *end = list + len;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		if (p < end && *p == '*')
			return true;
		if (end - p > 2 && p[0] == 'W' && p[1] == '/')
			p += 2;
		if (p >= end || *p != '"')
			return false;
		const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
		if (!q)
			return false;
		size_t tl = (size_t)(q - p + 1);
		if (tl == elen && memcmp(p, etag, tl) == 0)
			return true;
		p = q + 1;
	}
	return false;
}

/* RFC 9110 13.1.2 / 13.1.3 for GET and HEAD: true when 304 is the answer. */
static bool not_modified(struct req *rq, struct cobj *o, int64_t now)
{
	struct hmsg *m = &rq->req;
	size_t el;
	const char *etag = hdrs_find(o->hdrs, o->hdrs_len, "etag", 0, &el);
	const struct hfield *inm = hmsg_field(m, "if-none-match", 0);
	if (inm) {
		if (!etag)
			return false;
		for (unsigned i = 0; (inm = hmsg_field(m, "if-none-match", i)); i++) {
			if (etag_list_matches(hmsg_ptr(m, inm->value), inm->value.len, etag, el))
				return true;
		}
		return false;
	}
	return policy_not_modified_since(m, &o->meta, now);
}

/* Parse a single "bytes=a-b" / "bytes=a-" / "bytes=-n" range against LEN.
 * Returns 1 with [*from, *to] set, 0 to ignore the header (multiple or
 * malformed ranges: a full 200 is a valid answer), -1 if unsatisfiable. */
static int parse_range(const char *v, size_t n, uint64_t len, uint64_t *from, uint64_t *to)
{
	char buf[64];
	if (n >= sizeof(buf) || n < 7 || strncasecmp(v, "bytes=", 6) != 0)
		return 0;
	memcpy(buf, v + 6, n - 6);
	buf[n - 6] = '\0';
	if (strchr(buf, ','))
		return 0;
	char *dash = strchr(buf, '-'), *e;
	if (!dash)
		return 0;
	*dash = '\0';
	if (buf[0] == '\0') {
		if (!dash[1])
			return 0;
		unsigned long long suffix = strtoull(dash + 1, &e, 10);
		if (*e || suffix == 0)
			return suffix == 0 && !*e ? -1 : 0;
		*from = suffix >= len ? 0 : len - suffix;
		*to = len - 1;
		return len ? 1 : -1;
	}
	unsigned long long a = strtoull(buf, &e, 10);
	if (*e)
		return 0;
	unsigned long long b = len ? len - 1 : 0;
	if (dash[1]) {
		b = strtoull(dash + 1, &e, 10);
		if (*e || b < a)
			return 0;
		if (b >= len)
			b = len - 1;
	}
	if (a >= len)
		return -1;
	*from = a;
	*to = b;
	return 1;
}

static bool if_range_ok(struct req *rq, struct cobj *o, const struct encode_plan *plan, int64_t now)
{
	const struct hfield *ir = hmsg_field(&rq->req, "if-range", 0);
	if (!ir)
		return true;
	const char *v = hmsg_ptr(&rq->req, ir->value);
	size_t el;
	if (ir->value.len && v[0] == '"') {
		/* A coded copy's ETag is weak: no strong match is possible. */
		if (plan->transformed)
			return false;
		/* strong comparison: weak tags never match */
		const char *etag = hdrs_find(o->hdrs, o->hdrs_len, "etag", 0, &el);
		return etag && el == ir->value.len && memcmp(etag, v, el) == 0;
	}
	int64_t t, lm;
	const char *lmv = hdrs_find(o->hdrs, o->hdrs_len, "last-modified", 0, &el);
	return lmv && http_date_parse(v, ir->value.len, now, &t) &&
	       http_date_parse(lmv, el, now, &lm) && t == lm;
}

/* "NAME: 123\r\n", NAME including its colon and space. */
static void put_field_num(struct hbuf *b, const char *name, uint64_t v)
{
	hbuf_puts(b, name);
	hbuf_put_u64(b, v);
	hbuf_put(b, "\r\n", 2);
}

/* Fields a 304 carries (RFC 9110 15.4.5), as the plan shapes them (a weak
 * ETag and Vary for a coded copy). */
static void put_304_fields(struct hbuf *b, struct cobj *o, const struct encode_plan *plan)
{
	static const char *const keep[] = {"cache-control", "content-location", "date",
					   "etag",	    "expires",		"vary"};
	encode_put_headers(b, o, plan, keep, sizeof(keep) / sizeof(keep[0]));
}

/* NOT_MOD: a conditional request the object answers with 304 (worked out
 * once, by deliver_object, which needs it to plan too). */
static enum req_result deliver_plan(struct req *rq, struct cobj *o, const struct deliver_opts *d,
				    const struct encode_plan *plan, bool not_mod)
{
	const struct config *cfg = rq->gen->cfg;
	struct hmsg *req = &rq->req;
	bool head = hmsg_method(req) == HTTP_HEAD;
	bool client11 = req->p.http_minor >= 1;
	struct body_reader r;
	struct cbody *body = plan->body;
	body_reader_init(&r, body);
	pthread_mutex_lock(&body->lock);
	bool complete = body->state == BODY_DONE && !plan->pending;
	uint64_t have = body->len;
	pthread_mutex_unlock(&body->lock);
	/* The origin's Content-Length is the stored body's, not a copy's. */
	int64_t clen = plan->transformed ? -1 : o->clen;

	int status = o->status;
	bool no_body = head || status == 204 || status == 304 || status < 200;
	uint64_t from = 0, to = 0, total = complete ? have : (clen >= 0 ? (uint64_t)clen : 0);
	bool length_known = complete || clen >= 0;
	int range = 0;
	if (not_mod) {
		status = 304;
		no_body = true;
	} else if (d->from_cache && status == 200 && complete && !head) {
		const struct hfield *rg = hmsg_field(req, "range", 0);
		if (rg && hmsg_method(req) == HTTP_GET && if_range_ok(rq, o, plan, d->now))
			range =
			    parse_range(hmsg_ptr(req, rg->value), rg->value.len, total, &from, &to);
	}

	struct hbuf b;
	hbuf_init(&b, rq->obuf, rq->ocap);
	if (status == 304) {
		hbuf_puts(&b, "HTTP/1.1 304 Not Modified\r\n");
		put_304_fields(&b, o, plan);
	} else if (range < 0) {
		status = 416;
		hbuf_puts(&b, "HTTP/1.1 416 Range Not Satisfiable\r\n");
		hbuf_printf(&b, "Content-Range: bytes */%llu\r\nContent-Length: 0\r\n",
			    (unsigned long long)total);
		no_body = true;
	} else {
		if (range > 0) {
			status = 206;
			hbuf_puts(&b, "HTTP/1.1 206 Partial Content\r\n");
		} else {
			hbuf_puts(&b, "HTTP/1.1 ");
			hbuf_put_u64(&b, (uint64_t)o->status);
			hbuf_put(&b, " ", 1);
			hbuf_puts(&b, o->reason ? o->reason : "");
			hbuf_put(&b, "\r\n", 2);
		}
		if (plan->vary || plan->send != plan->stored)
			encode_put_headers(&b, o, plan, NULL, 0);
		else
			hbuf_put(&b, o->hdrs, o->hdrs_len);
		if (range > 0)
			hbuf_printf(&b, "Content-Range: bytes %llu-%llu/%llu\r\n",
				    (unsigned long long)from, (unsigned long long)to,
				    (unsigned long long)total);
	}
	/* Age on every response from the cache; on a passed response only
	 * when the origin (or a cache before it) sent one. */
	if (d->from_cache || o->meta.age > 0)
		put_field_num(&b, "Age: ", (uint64_t)policy_age(&o->meta, d->now));
	if (d->cache_status) {
		hbuf_puts(&b, "Cache-Status: ");
		hbuf_puts(&b, d->cache_status);
		hbuf_put(&b, "\r\n", 2);
	}
	hbuf_puts(&b, "Via: 1.1 ringcache\r\n");

	bool chunked = false;
	if (status != 304 && status != 416 && status != 204 && status >= 200) {
		if (range > 0)
			put_field_num(&b, "Content-Length: ", to - from + 1);
		else if (length_known)
			put_field_num(&b, "Content-Length: ", total);
		else if (!no_body && client11)
			chunked = true, hbuf_puts(&b, "Transfer-Encoding: chunked\r\n");
		else if (!no_body)
			rq->closing = true; /* HTTP/1.0: the close delimits the body */
	}
	if (rq->closing || rq->w->be.draining) {
		rq->closing = true;
		hbuf_puts(&b, "Connection: close\r\n");
	} else if (!client11) {
		hbuf_puts(&b, "Connection: keep-alive\r\n");
	}
	/* A route's header rules, on the way out: never stored in the object,
	 * so one copy serves routes with different rules. */
	const struct hedits *edits = rules_resp_edits(rq);
	if (edits && !b.overflow) {
		const char *eol = memchr(b.p, '\n', b.len);
		size_t fields_at = eol ? (size_t)(eol - b.p) + 1 : b.len; /* past the status line */
		hedits_drop_lines(edits, b.p, &b.len, fields_at);
		hedits_put_added(edits, &b);
	}
	hbuf_put(&b, "\r\n", 2);
	if (b.overflow) {
		log_warn("client %s: %s: stored head does not fit the output buffer", rq->peer,
			 rq->target_log);
		respond_error(rq, 502, "stored head too large", false);
		return REQ_ERRORED;
	}
	rq->resp_status = status;
	if (plan->transformed && !no_body)
		METRIC_INC(&rq->w->metrics, encoded);
	if (status == 304)
		METRIC_INC(&rq->w->metrics, cache_not_modified);
	else if (status == 206)
		METRIC_INC(&rq->w->metrics, cache_ranges);

	rt_time_t send_dl = rt_deadline_in(cfg->timeouts.send_ns);
	if (no_body) {
		ssize_t w = rt_send_all(rq->fd, b.p, b.len, send_dl);
		req_sent(rq, w);
		return w < 0 ? REQ_ABORT : rq->closing ? REQ_CLOSE : REQ_DONE;
	}
	uint64_t left = range > 0 ? to - from + 1 : UINT64_MAX;
	if (range > 0)
		body_seek(&r, from);
	const struct config_backend *bcfg = rq->gen->backends[0].cfg;
	bool head_sent = false;
	for (;;) {
		const char *p;
		ssize_t n = body_peek(&r, &p);
		if (n == -EAGAIN) {
			if (!head_sent) {
				ssize_t w = rt_send_all(rq->fd, b.p, b.len, send_dl);
				req_sent(rq, w);
				if (w < 0)
					return REQ_ABORT;
				head_sent = true;
			}
			/* Whoever fills the body has its own deadline and
			 * decides: the fetch (between_bytes_timeout) unlinks a
			 * broken object before it fails the body, an encode
			 * task fails a copy whose step waited too long for the
			 * pool. A second later is only a backstop, so a reader
			 * never gives up first (and a client never joins a
			 * doomed object as a hit). */
			uint64_t fill_ns =
			    plan->owned ? ENCODE_STEP_DEADLINE_NS : bcfg->between_bytes_timeout_ns;
			int wr = body_wait(&r, rt_deadline_in(fill_ns + RT_SEC));
			if (wr < 0) {
				rq->close = wr == -ECANCELED ? CLOSE_draining : CLOSE_backend_broke;
				return REQ_ABORT;
			}
			continue;
		}
		if (n < 0) {
			rq->close = CLOSE_backend_broke;
			return REQ_ABORT; /* the fetch broke: never end the body cleanly */
		}
		if ((uint64_t)n > left)
			n = (ssize_t)left;
		struct iovec iov[5];
		int k = 0;
		char sz[CHUNKED_SIZE_MAX];
		if (!head_sent)
			iov[k++] = (struct iovec){b.p, b.len};
		k += chunked_frame(iov + k, sz, p, (size_t)n, chunked);
		bool end = n == 0 || (uint64_t)n == left;
		if (end && chunked)
			iov[k++] = (struct iovec){(void *)CHUNKED_LAST, sizeof(CHUNKED_LAST) - 1};
		if (k) {
			ssize_t w =
			    rt_writev_all(rq->fd, iov, k, rt_deadline_in(cfg->timeouts.send_ns));
			req_sent(rq, w);
			if (w < 0)
				return REQ_ABORT;
		}
		head_sent = true;
		body_advance(&r, (size_t)n);
		if (d->pipe)
			body_consume(&r);
		if (left != UINT64_MAX)
			left -= (uint64_t)n;
		if (end)
			return rq->closing ? REQ_CLOSE : REQ_DONE;
	}
}

enum req_result deliver_object(struct req *rq, struct cobj *o, const struct deliver_opts *d)
{
	CHECK_OBJ_NOTNULL(rq, REQ_MAGIC);
	struct encode_plan plan = {
	    .body = o->body, .send = CODING_IDENTITY, .stored = CODING_IDENTITY};
	bool not_mod =
	    d->from_cache && (o->status == 200 || o->status == 203) && not_modified(rq, o, d->now);
	/* A request answered 304 needs the head only: it must not start a
	 * copy. A private pipe object (not stored) may be coded as it
	 * streams (encode.h). */
	if (d->from_cache || d->pipe)
		encode_plan(
		    rq->w, rq->gen, &rq->req, o, not_mod || hmsg_method(&rq->req) == HTTP_HEAD,
		    rq->route.active && rq->route.route ? rq->route.route->compression : -1, &plan);
	enum req_result r = deliver_plan(rq, o, d, &plan, not_mod);
	encode_plan_release(&plan);
	return r;
}
