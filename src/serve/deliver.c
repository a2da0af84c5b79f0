/* deliver.c - answer a request from a cache object. */
#include "serve/deliver.h"
#include "serve/record.h"
#include "rt/obj.h"
#include "serve/respond.h"
#include "serve/encode.h"
#include "serve/rules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "cache/hdrs.h"
#include "http/chunked.h"
#include "http/date.h"
#include "http/hbuf.h"
#include "http/range.h"
#include "ops/log.h"
#include "ops/metrics.h"
#include "backend/gen.h"
#include "rt/io.h"

#define RANGE_BOUNDARY_LEN 24 /* hex digits */

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

/* What a GET's Range field gets from a complete body of TOTAL bytes. */
struct range_answer {
	enum range_result kind; /* RANGE_IGNORE: the whole body (200) */
	struct range_set set;
	bool multipart; /* set.n > 1: multipart/byteranges */
	char boundary[RANGE_BOUNDARY_LEN + 1];
	const char *ctype; /* the stored Content-Type, for each part, or NULL */
	size_t ctype_len;
	uint64_t total;	   /* the representation's length */
	uint64_t body_len; /* the 206's Content-Length */
};

/* A part's head (RFC 9110 14.6): the delimiter (after the CRLF that ends
 * the part before), its Content-Type and Content-Range. The length, or 0
 * when it does not fit BUF (PART_HEAD_MAX). */
#define PART_HEAD_MAX 1024
static size_t part_head(char *buf, const struct range_answer *ra, unsigned i)
{
	struct hbuf b;
	hbuf_init(&b, buf, PART_HEAD_MAX);
	hbuf_puts(&b, i ? "\r\n--" : "--");
	hbuf_puts(&b, ra->boundary);
	hbuf_put(&b, "\r\n", 2);
	if (ra->ctype) {
		hbuf_puts(&b, "Content-Type: ");
		hbuf_put(&b, ra->ctype, ra->ctype_len);
		hbuf_put(&b, "\r\n", 2);
	}
	hbuf_printf(&b, "Content-Range: bytes %llu-%llu/%llu\r\n\r\n",
		    (unsigned long long)ra->set.r[i].first, (unsigned long long)ra->set.r[i].last,
		    (unsigned long long)ra->total);
	return b.overflow ? 0 : b.len;
}

/* The close delimiter after the last part. */
static size_t part_end(char *buf, const struct range_answer *ra)
{
	return (size_t)snprintf(buf, PART_HEAD_MAX, "\r\n--%s--\r\n", ra->boundary);
}

/* A boundary nobody can guess (so no body can hold it by design): 96
 * random bits in hex. getrandom without GRND_RANDOM never blocks once the
 * pool is up; before, a clock and counter mix is good enough. */
static void make_boundary(struct worker *w, char *out)
{
	unsigned char rnd[RANGE_BOUNDARY_LEN / 2];
	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
		uint64_t x = w->req_id_base ^ (uint64_t)rt_clock_now() ^ (uint64_t)(uintptr_t)out;
		for (size_t i = 0; i < sizeof(rnd); i++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			rnd[i] = (unsigned char)(x >> 56);
		}
	}
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < sizeof(rnd); i++) {
		out[2 * i] = hex[rnd[i] >> 4];
		out[2 * i + 1] = hex[rnd[i] & 15];
	}
	out[RANGE_BOUNDARY_LEN] = '\0';
}

/* RFC 9110 14.2: Range is defined for GET only, one field line. RA->kind
 * RANGE_IGNORE means the whole representation (200). Pure: the boundary
 * is only measured here (its length is fixed), made by plan_ranges. */
static void resolve_ranges(const struct hmsg *req, const struct cobj *o, uint64_t total,
			   struct range_answer *ra)
{
	ra->kind = RANGE_IGNORE;
	ra->multipart = false;
	ra->total = total;
	const struct hfield *rg = hmsg_field(req, "range", 0);
	if (!rg || hmsg_field(req, "range", 1) || hmsg_method(req) != HTTP_GET)
		return;
	ra->kind = range_resolve(hmsg_ptr(req, rg->value), rg->value.len, total, &ra->set);
	if (ra->kind != RANGE_PARTS)
		return;
	if (ra->set.n == 1) {
		ra->body_len = byte_range_len(&ra->set.r[0]);
		return;
	}
	memset(ra->boundary, 'x', RANGE_BOUNDARY_LEN);
	ra->boundary[RANGE_BOUNDARY_LEN] = '\0';
	ra->ctype = hdrs_find(o->hdrs, o->hdrs_len, "content-type", 0, &ra->ctype_len);
	char buf[PART_HEAD_MAX];
	uint64_t len = part_end(buf, ra);
	for (unsigned i = 0; i < ra->set.n; i++) {
		size_t hl = part_head(buf, ra, i);
		if (!hl) {
			ra->kind = RANGE_IGNORE; /* a Content-Type too long to repeat */
			return;
		}
		len += hl + byte_range_len(&ra->set.r[i]);
	}
	/* The ranges never add up to more than the body (coalesced), but the
	 * part heads might, for many tiny ranges of a tiny body: then the
	 * whole body is the smaller answer. */
	if (len > 2 * total + 1024) {
		ra->kind = RANGE_IGNORE;
		return;
	}
	ra->multipart = true;
	ra->body_len = len;
}

/* resolve_ranges, after If-Range (RFC 9110 13.1.5). A complete coded copy
 * is a representation of its own (weak ETag, so If-Range never matches
 * it): its ranges are of its bytes. */
static void plan_ranges(struct req *rq, struct cobj *o, const struct encode_plan *plan, int64_t now,
			uint64_t total, struct range_answer *ra)
{
	/* Most requests have no Range: one field lookup, not two (If-Range
	 * means nothing without a Range, RFC 9110 13.1.5). */
	if (!hmsg_field(&rq->req, "range", 0) || !if_range_ok(rq, o, plan, now)) {
		ra->kind = RANGE_IGNORE;
		ra->multipart = false;
		ra->total = total;
		return;
	}
	resolve_ranges(&rq->req, o, total, ra);
	if (ra->multipart)
		make_boundary(rq->w, ra->boundary);
}

/* Every range of RA inside what partial object O holds. */
static bool ranges_inside(const struct range_answer *ra, const struct cobj *o)
{
	if (ra->kind != RANGE_PARTS)
		return ra->kind == RANGE_UNSATISFIABLE; /* a 416 needs only the length */
	for (unsigned i = 0; i < ra->set.n; i++)
		if (ra->set.r[i].first < o->part_first || ra->set.r[i].last > o->part_last)
			return false;
	return true;
}

bool deliver_fits(const struct cobj *o, const void *req)
{
	const struct hmsg *m = req;
	/* If-Range could ask for the whole representation, which parts are not. */
	if (!o->partial || hmsg_field(m, "if-range", 0))
		return false;
	struct range_answer ra;
	resolve_ranges(m, o, o->part_len, &ra);
	return ranges_inside(&ra, o);
}

/* Drop the header lines named NAME from B's bytes after FROM. */
static void drop_lines(struct hbuf *b, size_t from, const char *name)
{
	size_t nl = strlen(name), at = from;
	while (at < b->len) {
		char *eol = memchr(b->p + at, '\n', b->len - at);
		size_t next = eol ? (size_t)(eol - b->p) + 1 : b->len;
		if (next - at > nl && b->p[at + nl] == ':' &&
		    strncasecmp(b->p + at, name, nl) == 0) {
			memmove(b->p + at, b->p + next, b->len - next);
			b->len -= next - at;
		} else {
			at = next;
		}
	}
}

/* Wait for the body to grow past R's cursor. 0, or -1 with rq->close set. */
static int wait_fill(struct req *rq, struct body_reader *r, const struct encode_plan *plan)
{
	/* Whoever fills the body has its own deadline and decides: the fetch
	 * (between_bytes_timeout) unlinks a broken object before it fails the
	 * body, an encode task fails a copy whose step waited too long for the
	 * pool. A second later is only a backstop, so a reader never gives up
	 * first (and a client never joins a doomed object as a hit). */
	const struct config_backend *bcfg = rq->gen->backends[0].cfg;
	uint64_t fill_ns = plan->owned ? ENCODE_STEP_DEADLINE_NS : bcfg->between_bytes_timeout_ns;
	int wr = body_wait(r, rt_deadline_in(fill_ns + RT_SEC));
	if (wr < 0) {
		rq->close = wr == -ECANCELED ? CLOSE_draining : CLOSE_backend_broke;
		return -1;
	}
	return 0;
}

/* Move R's cursor forward to body offset OFF, waiting for the bytes up to
 * it (a range of a body still being filled). 0, or -1 with rq->close set. */
static int skip_to(struct req *rq, struct body_reader *r, const struct encode_plan *plan,
		   uint64_t off)
{
	while (r->pos < off) {
		const char *p;
		ssize_t n = body_peek(r, &p);
		if (n == -EAGAIN) {
			if (wait_fill(rq, r, plan) < 0)
				return -1;
			continue;
		}
		if (n <= 0) { /* broke, or ended before the range */
			rq->close = CLOSE_backend_broke;
			return -1;
		}
		body_advance(r, (uint64_t)n < off - r->pos ? (size_t)n : (size_t)(off - r->pos));
	}
	return 0;
}

/* A send of a stored body takes at most this many chunks after the first,
 * and stops adding them past this many bytes (the socket buffer takes
 * no more in one go). */
#define SEND_BATCH_CHUNKS 15
#define SEND_BATCH_BYTES  (1024 * 1024)

/* Send LEFT bytes of the body from R's cursor (UINT64_MAX: to its end),
 * PRE first (the head, a part's head), chunk-framed if CHUNKED (then with
 * the last chunk). 0, or -1 with rq->close set: the connection is done. */
static int send_span(struct req *rq, struct body_reader *r, const struct deliver_opts *d,
		     const struct encode_plan *plan, struct iovec *pre, int npre, uint64_t left,
		     bool chunked)
{
	const struct config *cfg = rq->gen->cfg;
	for (;;) {
		const char *p;
		ssize_t n = body_peek(r, &p);
		if (n == -EAGAIN) {
			if (npre) {
				ssize_t w = rt_writev_all(rq->fd, pre, npre,
							  rt_deadline_in(cfg->timeouts.send_ns));
				req_sent(rq, w);
				if (w < 0)
					return -1;
				npre = 0;
			}
			if (wait_fill(rq, r, plan) < 0)
				return -1;
			continue;
		}
		/* A body that broke, or ended before a range it was sized
		 * for: never end the response cleanly. */
		if (n < 0 || (n == 0 && left != 0 && left != UINT64_MAX)) {
			rq->close = CLOSE_backend_broke;
			return -1;
		}
		if ((uint64_t)n > left)
			n = (ssize_t)left;
		struct iovec iov[6 + SEND_BATCH_CHUNKS];
		int k = 0;
		char sz[CHUNKED_SIZE_MAX];
		for (int i = 0; i < npre; i++)
			iov[k++] = pre[i];
		npre = 0;
		k += chunked_frame(iov + k, sz, p, (size_t)n, chunked);
		/* The chunks after it that are there already go in the same
		 * sendmsg (not chunk-framed ones: each would need its size
		 * line): a 1 MiB hit is then a few submissions, not one per
		 * 64 KiB chunk. */
		struct body_reader ahead = *r;
		body_advance(&ahead, (size_t)n);
		if (!chunked && n > 0) {
			for (int j = 0;
			     j < SEND_BATCH_CHUNKS && (uint64_t)n < left && n < SEND_BATCH_BYTES;
			     j++) {
				const char *q;
				ssize_t m = body_peek(&ahead, &q);
				if (m <= 0)
					break;
				if ((uint64_t)m > left - (uint64_t)n)
					m = (ssize_t)(left - (uint64_t)n);
				iov[k++] = (struct iovec){(void *)q, (size_t)m};
				body_advance(&ahead, (size_t)m);
				n += m;
			}
		}
		bool end = n == 0 || (uint64_t)n == left;
		if (end && chunked)
			iov[k++] = (struct iovec){(void *)CHUNKED_LAST, sizeof(CHUNKED_LAST) - 1};
		if (k) {
			ssize_t w =
			    rt_writev_all(rq->fd, iov, k, rt_deadline_in(cfg->timeouts.send_ns));
			req_sent(rq, w);
			if (w < 0)
				return -1;
		}
		*r = ahead; /* past what was sent, in whichever chunk that ends */
		if (d->pipe)
			body_consume(r);
		if (left != UINT64_MAX)
			left -= (uint64_t)n;
		if (end)
			return 0;
	}
}

/* The parts of a multipart/byteranges body, after HEAD (RFC 9110 14.6);
 * the body holds the representation from offset BASE on. */
static int send_parts(struct req *rq, struct body_reader *r, const struct deliver_opts *d,
		      const struct encode_plan *plan, struct iovec head,
		      const struct range_answer *ra, uint64_t base)
{
	char ph[PART_HEAD_MAX];
	for (unsigned i = 0; i < ra->set.n; i++) {
		struct iovec pre[2];
		int np = 0;
		if (i == 0)
			pre[np++] = head;
		pre[np++] = (struct iovec){ph, part_head(ph, ra, i)};
		if (skip_to(rq, r, plan, ra->set.r[i].first - base) < 0)
			return -1;
		if (send_span(rq, r, d, plan, pre, np, byte_range_len(&ra->set.r[i]), false) < 0)
			return -1;
	}
	size_t el = part_end(ph, ra);
	ssize_t w = rt_send_all(rq->fd, ph, el, rt_deadline_in(rq->gen->cfg->timeouts.send_ns));
	req_sent(rq, w);
	return w < 0 ? -1 : 0;
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
	uint64_t total = complete ? have : (clen >= 0 ? (uint64_t)clen : 0);
	bool length_known = complete || clen >= 0;
	struct range_answer ra = {.kind = RANGE_IGNORE};
	uint64_t base = 0; /* the representation's offset of the body's first byte */
	if (not_mod) {
		status = 304;
		no_body = true;
	} else if (o->partial) {
		/* Parts reach a client only when they hold what it asks (the
		 * lookup's deliver_fits, and fetch.c for the client it fetched
		 * them for). Should that ever not hold, the extent with its own
		 * Content-Range is at least true to what it is. */
		base = o->part_first;
		total = o->part_len;
		plan_ranges(rq, o, plan, d->now, total, &ra);
		if (!ranges_inside(&ra, o)) {
			ra.kind = RANGE_PARTS;
			ra.multipart = false;
			ra.set.n = 1;
			ra.set.r[0] = (struct byte_range){o->part_first, o->part_last};
			ra.body_len = byte_range_len(&ra.set.r[0]);
		}
	} else if (d->from_cache && status == 200 && (complete || (clen >= 0 && !plan->pending))) {
		/* Complete, or its length known: a range of a body still
		 * filling waits for its bytes. */
		plan_ranges(rq, o, plan, d->now, total, &ra);
	}

	struct hbuf b;
	hbuf_init(&b, rq->obuf, rq->ocap);
	if (status == 304) {
		hbuf_puts(&b, "HTTP/1.1 304 Not Modified\r\n");
		put_304_fields(&b, o, plan);
	} else if (ra.kind == RANGE_UNSATISFIABLE) {
		status = 416;
		hbuf_puts(&b, "HTTP/1.1 416 Range Not Satisfiable\r\n");
		hbuf_printf(&b, "Content-Range: bytes */%llu\r\nContent-Length: 0\r\n",
			    (unsigned long long)total);
		no_body = true;
	} else {
		if (ra.kind == RANGE_PARTS) {
			status = 206;
			hbuf_puts(&b, "HTTP/1.1 206 Partial Content\r\n");
		} else {
			hbuf_puts(&b, "HTTP/1.1 ");
			hbuf_put_u64(&b, (uint64_t)o->status);
			hbuf_put(&b, " ", 1);
			hbuf_puts(&b, o->reason ? o->reason : "");
			hbuf_put(&b, "\r\n", 2);
		}
		size_t fields_at = b.len;
		if (plan->vary || plan->send != plan->stored)
			encode_put_headers(&b, o, plan, NULL, 0);
		else
			hbuf_put(&b, o->hdrs, o->hdrs_len);
		if (ra.multipart) {
			/* The representation's type goes into each part. */
			drop_lines(&b, fields_at, "content-type");
			hbuf_puts(&b, "Content-Type: multipart/byteranges; boundary=");
			hbuf_puts(&b, ra.boundary);
			hbuf_put(&b, "\r\n", 2);
		} else if (ra.kind == RANGE_PARTS) {
			hbuf_printf(&b, "Content-Range: bytes %llu-%llu/%llu\r\n",
				    (unsigned long long)ra.set.r[0].first,
				    (unsigned long long)ra.set.r[0].last,
				    (unsigned long long)total);
		}
	}
	/* Age on every response from the cache; on a passed response only
	 * when the origin (or a cache before it) sent one. */
	if (d->from_cache || o->meta.age > 0)
		put_field_num(&b, "Age: ", (uint64_t)policy_age(&o->meta, d->now));
	if (d->cache_status) {
		hbuf_puts(&b, "Cache-Status: ");
		hbuf_puts(&b, d->cache_status);
		hbuf_put(&b, "\r\n", 2);
		req_note_cache_status(rq, d->cache_status);
	}
	hbuf_puts(&b, "Via: 1.1 ringcache\r\n");

	bool chunked = false;
	if (status != 304 && status != 416 && status != 204 && status >= 200) {
		if (ra.kind == RANGE_PARTS)
			put_field_num(&b, "Content-Length: ", ra.body_len);
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
	record_note_head(rq, b.p, b.len);
	rq->resp_status = status;
	if (plan->transformed && !no_body)
		METRIC_INC(&rq->w->metrics, encoded);
	if (status == 304)
		METRIC_INC(&rq->w->metrics, cache_not_modified);
	else if (status == 206)
		METRIC_INC(&rq->w->metrics, cache_ranges);

	if (no_body) {
		ssize_t w = rt_send_all(rq->fd, b.p, b.len, rt_deadline_in(cfg->timeouts.send_ns));
		req_sent(rq, w);
		return w < 0 ? REQ_ABORT : rq->closing ? REQ_CLOSE : REQ_DONE;
	}
	struct iovec hv = {b.p, b.len};
	int sr;
	if (ra.multipart) {
		sr = send_parts(rq, &r, d, plan, hv, &ra, base);
	} else if (ra.kind == RANGE_PARTS) {
		sr = skip_to(rq, &r, plan, ra.set.r[0].first - base);
		if (sr == 0)
			sr = send_span(rq, &r, d, plan, &hv, 1, ra.body_len, false);
	} else {
		/* A complete body's length ends the span with its last byte, not
		 * with one more peek that finds nothing (a hit's usual case). */
		sr = send_span(rq, &r, d, plan, &hv, 1, complete ? have : UINT64_MAX, chunked);
	}
	if (sr < 0)
		return REQ_ABORT;
	return rq->closing ? REQ_CLOSE : REQ_DONE;
}

/* O is being read from disk (cobj.unverified): a response that would end
 * before its body does (HEAD, a 304, a range) first waits for the body,
 * whose end is where the record's checksum is known. 0 when it passed,
 * -1 (the connection closes, nothing sent) when it did not or the wait
 * ended. */
static int wait_verified(struct req *rq, struct cobj *o)
{
	struct body_reader r;
	body_reader_init(&r, o->body);
	rt_time_t until = rt_deadline_in(60 * RT_SEC);
	for (;;) {
		enum body_state st = cbody_state(o->body);
		if (st == BODY_DONE && !atomic_load(&o->unverified))
			return 0;
		if (st != BODY_FILLING) {
			rq->close = CLOSE_backend_broke;
			return -1;
		}
		const char *p;
		ssize_t n;
		while ((n = body_peek(&r, &p)) > 0)
			body_advance(&r, (size_t)n);
		if (n == -EAGAIN && body_wait(&r, until) < 0) {
			rq->close = CLOSE_backend_broke;
			return -1;
		}
	}
}

enum req_result deliver_object(struct req *rq, struct cobj *o, const struct deliver_opts *d)
{
	CHECK_OBJ_NOTNULL(rq, REQ_MAGIC);
	if (atomic_load(&o->unverified) &&
	    (hmsg_method(&rq->req) == HTTP_HEAD || hmsg_field(&rq->req, "range", 0) ||
	     not_modified(rq, o, d->now)) &&
	    wait_verified(rq, o) < 0)
		return REQ_ABORT;
	struct encode_plan plan = {
	    .body = o->body, .send = CODING_IDENTITY, .stored = CODING_IDENTITY};
	/* Parts carry the representation's validators: a match is a 304 too. */
	bool not_mod = d->from_cache && (o->status == 200 || o->status == 203 || o->partial) &&
		       not_modified(rq, o, d->now);
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
