/* fetch.c - the fetch task: request a representation, store it, stream it to waiters. */
#include "serve/fetch.h"
#include "rt/obj.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/dtier.h"
#include "cache/hdrs.h"
#include "cache/vary.h"
#include "http/forward.h"
#include "http/interim.h"
#include "ops/log.h"
#include "ops/rlog.h"
#include "ops/metrics.h"
#include "backend/exchange.h"
#include "backend/gen.h"
#include "http/forward.h"
#include "rt/io.h"
#include "rt/task.h"
#include "serve/deliver.h"
#include "serve/partial.h"

struct fetch {
	struct fetch_args *a;
	struct worker *w;
	const struct config *cfg;
	const struct config_backend *bcfg;
	char *mem;
	char *rbuf, *obuf;
	uint32_t rcap, ocap;
	struct hmsg req, resp;
	struct req_meta rq;
	struct resp_meta rm;
	struct exchange x; /* with the backend, from exchange_begin to exchange_end */
	bool began;	   /* x holds a connection: exchange_end is due */
	char who[120];	   /* "fetch TARGET" (cut at 100 bytes), for log lines */
	struct cobj *obj;  /* being filled */
	bool stored;
	struct partial_plan pp; /* the Range this fetch sends (partial.h) */
	bool no_parts;		/* the stored parts were given up: fetch without them */
	bool no_range;		/* no 206 answered the client: fetch the whole, no Range */
	bool done_head;		/* the handle has been answered */
	/* The origin answered (with a 5xx): not disconnected, so only
	 * stale-if-error may put a stale response in its place, not grace. */
	bool answered;
	bool via_peer; /* the answer came from a cluster member (fetch_peers) */
};

static int64_t wall_now(void)
{
	return (int64_t)time(NULL);
}

static void fh_answer(struct fetch *f, enum fetch_state st)
{
	struct fetch_handle *fh = f->a->fh;
	f->done_head = true;
	if (!fh)
		return;
	fh->state = st;
	if (fh->waiter) {
		struct rt_task *t = fh->waiter;
		fh->waiter = NULL;
		rt_wake(t, 0);
	}
}

static void fh_ready(struct fetch *f, struct cobj *o, bool stored)
{
	struct fetch_handle *fh = f->a->fh;
	if (fh) {
		cobj_retain(o);
		fh->obj = o;
		fh->stored = stored;
	}
	fh_answer(f, FH_READY);
}

/* The exchange failed before a response could be used. LOGGED: the
 * exchange said so already (and counted it). */
static void fetch_failed(struct fetch *f, int status, const char *why, int err, bool logged)
{
	struct fetch_args *a = f->a;
	int64_t now = wall_now();
	if (!logged) {
		if (err)
			log_warn("%s: %d: %s: %s", f->who, status, why, strerror(-err));
		else
			log_warn("%s: %d: %s", f->who, status, why);
		METRIC_INC(&f->w->metrics, backend_errors);
	}
	if (a->oh)
		store_fetch_abort(a->w->sh->store, a->oh, 0);
	a->oh = NULL;
	if (f->done_head)
		return;
	struct fetch_handle *fh = a->fh;
	/* Parts are never served for a request they may not answer. */
	if (a->stale && !a->stale->partial &&
	    policy_stale_on_error(&f->rq, &a->stale->meta, a->stale->lifetime, a->knobs.grace,
				  !f->answered, now)) {
		if (fh)
			fh->stale_served = true, fh->detail = why, fh->fwd_status = status;
		METRIC_INC(&f->w->metrics, cache_stale_if_error);
		fh_ready(f, a->stale, true);
		return;
	}
	if (fh) {
		fh->err_status = status;
		fh->detail = why;
	}
	fh_answer(f, FH_FAILED);
}

static bool permanent_refusal(enum storable s)
{
	return s == STORE_NO_STORE || s == STORE_PRIVATE || s == STORE_SET_COOKIE ||
	       s == STORE_VARY_STAR || s == STORE_NO_STATUS || s == STORE_NO_LIFETIME;
}

static char *dup_span(const char *p, size_t n)
{
	char *d = malloc(n + 1);
	if (d) {
		memcpy(d, p, n);
		d[n] = '\0';
	}
	return d;
}

/* Fill O's head from the response in f->resp. 0 or -ENOMEM. */
static int fill_head(struct fetch *f, struct cobj *o)
{
	struct hmsg *m = &f->resp;
	struct hbuf b;
	hbuf_init(&b, f->obuf, f->ocap);
	hdrs_from_response(&b, m, &f->rm.cc);
	if (b.overflow)
		return -ENOMEM;
	o->status = hmsg_status(m);
	o->reason = dup_span(hmsg_ptr(m, m->reason), m->reason.len);
	o->hdrs = dup_span(b.p, b.len);
	o->hdrs_len = (uint32_t)b.len;
	o->meta = f->rm;
	o->lifetime = policy_lifetime(&f->rm, &f->a->knobs);
	o->clen = hmsg_has_length(m) ? (int64_t)hmsg_content_length(m) : -1;
	/* The secondary key: the forwarding key of the request (what a
	 * trusted proxy said about it; none from anyone else, whose
	 * forwarding fields were removed), then its Vary key. */
	char names[512], key[4096]; /* forwarding key, the route's part, the Vary key */
	int fl = forward_key(&f->req, key, 512);
	if (fl >= 0 && f->a->fwd_suffix) { /* as the lookup keyed it (cachepath.c) */
		memcpy(key + fl, f->a->fwd_suffix, f->a->fwd_suffix_len);
		fl += (int)f->a->fwd_suffix_len;
	}
	int nl = vary_names(m, names, sizeof(names));
	if (fl < 0 || nl < 0)
		return -ENOMEM;
	int kl = 0;
	if (nl > 0) {
		/* No longer than the lookup's own buffer (store.c) takes. */
		kl = vary_key(names, (size_t)nl, &f->req, key + fl, 1024);
		if (kl < 0)
			return -ENOMEM;
		o->vary = dup_span(names, (size_t)nl);
		o->vary_len = (uint32_t)nl;
	}
	if (fl + kl > 0) {
		o->vkey = dup_span(key, (size_t)(fl + kl));
		o->vkey_len = (uint32_t)(fl + kl);
		o->fwd_len = (uint32_t)fl;
		if (!o->vkey)
			return -ENOMEM;
	}
	const struct hfield *tag = hmsg_field(m, "surrogate-key", 0);
	o->tags_space_sep = tag != NULL;
	if (!tag)
		tag = hmsg_field(m, "cache-tag", 0);
	if (tag) {
		o->tags = dup_span(hmsg_ptr(m, tag->value), tag->value.len);
		o->tags_len = tag->value.len;
	}
	return (o->reason && o->hdrs) ? 0 : -ENOMEM;
}

int fetch_fill_head(struct cobj *o, const struct hmsg *req, const struct hmsg *resp,
		    const struct resp_meta *rm, const struct policy_knobs *k,
		    const char *fwd_suffix, size_t fwd_suffix_len, char *scratch, uint32_t cap)
{
	/* fill_head reads only these: the head is filled the one way. */
	struct fetch_args a = {
	    .knobs = *k, .fwd_suffix = (char *)fwd_suffix, .fwd_suffix_len = fwd_suffix_len};
	struct fetch f = {.a = &a, .obuf = scratch, .ocap = cap, .req = *req, .resp = *resp};
	f.rm = *rm;
	return fill_head(&f, o);
}

/* A 304 answered our conditional request: publish the stale object's
 * body under updated headers. */
static int refresh_from_304(struct fetch *f)
{
	struct fetch_args *a = f->a;
	struct cobj *old = a->stale;
	struct hbuf b;
	hbuf_init(&b, f->obuf, f->ocap);
	hbuf_printf(&b, "HTTP/1.1 %d X\r\n", old->status);
	hdrs_merge_304(&b, old->hdrs, old->hdrs_len, &f->resp);
	hbuf_put(&b, "\r\n", 2);
	if (b.overflow)
		return -E2BIG;
	/* Re-parse the merged head so freshness is computed from it exactly
	 * as from any response (the 304's Date, Expires, Cache-Control). */
	struct hfield *fields = malloc(f->cfg->limits.max_headers * sizeof(*fields));
	if (!fields)
		return -ENOMEM;
	struct hmsg m;
	hmsg_init(&m, HMSG_RESPONSE, fields, f->cfg->limits.max_headers, f->ocap);
	hmsg_next(&m, b.p, 0);
	m.skip_body = true;
	long used = hmsg_feed(&m, 0, (uint32_t)b.len);
	if (used < 0 || !m.headers_done) {
		free(fields);
		return -EINVAL;
	}
	struct cobj *o = cobj_clone_head(old);
	if (!o) {
		free(fields);
		return -ENOMEM;
	}
	policy_meta_from_response(&m, f->x.request_ms, f->x.response_ms, &o->meta);
	o->meta.status = old->status;
	o->lifetime = policy_lifetime(&o->meta, &a->knobs);
	/* Refreshed by a member, it is a near-cache copy (capped), whatever
	 * it was (this node may have owned the key when it stored it); by
	 * the origin, an object of this node's. */
	o->near = f->via_peer;
	if (o->near) {
		int64_t age = policy_age(&o->meta, wall_now());
		if (o->lifetime > age + a->peers.near_ttl)
			o->lifetime = age + a->peers.near_ttl;
		/* In the near share like any copy (store.h): charged, listed
		 * after the publish (no room: uncounted, for its capped life). */
		o->near_charge = cobj_alloc(old) + 1024;
		if (!store_near_take(a->w->sh->store, o->near_charge))
			o->near_charge = 0;
	}
	const char *hstart = memchr(b.p, '\n', b.len) + 1;
	o->hdrs_len = (uint32_t)(b.len - (size_t)(hstart - b.p) - 2);
	o->hdrs = dup_span(hstart, o->hdrs_len);
	free(fields);
	if (!o->hdrs) {
		cobj_release(&o);
		return -ENOMEM;
	}
	store_publish(a->w->sh->store, a->oh, o);
	if (o->near_charge)
		store_near_add(a->w->sh->store, o);
	a->oh = NULL;
	METRIC_INC(&f->w->metrics, cache_revalidated);
	/* RFC 9111 4.3.4 on disk too: the refreshed head is a new version of
	 * the record (the body is the old one's), written as the old one was. */
	if (a->w->sh->disk && atomic_load(&old->disk_done)) {
		atomic_store(&o->disk_hits, atomic_load(&old->disk_hits));
		dtier_offer(a->w->sh->disk, o, wall_now());
	}
	if (a->fh)
		a->fh->revalidated = true, a->fh->fwd_status = 304;
	fh_ready(f, o, true);
	cobj_release(&o);
	return 0;
}

/* The exchange's interim hook: queue the 1xx head for the client that
 * waits on the miss (fetch.h says which it gets). Never fails the fetch:
 * the task fills the cache for others whatever that client does. */
static int queue_interim(void *ctx, struct hmsg *m)
{
	struct fetch *f = ctx;
	struct fetch_handle *fh = f->a->fh;
	/* No client (a background refresh), one gone (it let go of the
	 * handle), HTTP/1.0, or the 100 that answers an Expect we never sent. */
	if (!fh || fh->refs < 2 || !fh->interim_ok || hmsg_status(m) == 100)
		return 0;
	if (fh->interim_total >= FETCH_INTERIM_MAX || fh->interim_queued >= FETCH_INTERIM_QUEUED) {
		log_debug("%s: interim %d response dropped (too many)", f->who, hmsg_status(m));
		return 0;
	}
	/* Built in a block of its own: obuf holds the request head, which
	 * another attempt may send again. */
	size_t room = FETCH_INTERIM_BYTES - fh->interim_bytes;
	struct fetch_interim *e = malloc(sizeof(*e) + room);
	if (!e)
		return 0;
	struct hbuf b;
	hbuf_init(&b, e->head, room);
	if (interim_head_build(&b, m) < 0) {
		free(e);
		return 0;
	}
	e->next = NULL;
	e->len = b.len;
	if (fh->interim_last)
		fh->interim_last->next = e;
	else
		fh->interim = e;
	fh->interim_last = e;
	fh->interim_queued++;
	fh->interim_total++;
	fh->interim_bytes += b.len;
	if (fh->waiter) {
		struct rt_task *t = fh->waiter;
		fh->waiter = NULL;
		rt_wake(t, 0);
	}
	return 0;
}

/* The Range (and If-Range) of a partial plan, at the end of the head in B
 * (forward_head_build removed the client's). 0 or -1 when B is full. */
static int put_range(struct hbuf *b, const struct partial_plan *pp)
{
	if (pp->mode == PARTIAL_NONE)
		return 0;
	if (b->overflow || b->len < 4)
		return -1;
	b->len -= 2; /* the empty line */
	hbuf_puts(b, "Range: ");
	hbuf_put(b, pp->range, pp->range_len);
	hbuf_put(b, "\r\n", 2);
	if (pp->if_range) {
		hbuf_puts(b, "If-Range: ");
		hbuf_put(b, pp->if_range, pp->if_range_len);
		hbuf_put(b, "\r\n", 2);
	}
	hbuf_put(b, "\r\n", 2);
	return b->overflow ? -1 : 0;
}

/* What a fetch that sent a Range does with the response. */
enum part_verdict {
	PART_NOT,   /* as any response: a 200 replaces the parts */
	PART_STORE, /* a part of its own, replacing any stored ones */
	PART_JOIN,  /* the part continues the stored one (same strong ETag) */
	PART_RETRY, /* unusable for this request: fetch again without the parts */
};

/* Whether bytes [FIRST, LAST] of LEN, stored, answer the client's request
 * (RFC 9111 3.3: an incomplete response answers only a request whose
 * ranges lie inside it; a request without Range needs all of it). */
static bool extent_answers(const struct fetch *f, uint64_t first, uint64_t last, uint64_t len)
{
	if (first == 0 && last == len - 1)
		return true;
	struct cobj probe = {
	    .partial = true, .part_first = first, .part_last = last, .part_len = len};
	probe.hdrs = "";
	return deliver_fits(&probe, &f->req);
}

/* Whether a 206 for R of LEN, relayed as the origin sent it, is exactly
 * the one range the client asked for: only then is it its answer. */
static bool part_is_clients(const struct fetch *f, const struct byte_range *r, uint64_t len)
{
	const struct hfield *rg = hmsg_field(&f->req, "range", 0);
	struct range_set rs;
	return rg && !hmsg_field(&f->req, "range", 1) &&
	       range_resolve(hmsg_ptr(&f->req, rg->value), rg->value.len, len, &rs) ==
		   RANGE_PARTS &&
	       rs.n == 1 && rs.r[0].first == r->first && rs.r[0].last == r->last;
}

static enum part_verdict part_verdict(struct fetch *f, int status, struct byte_range *r,
				      uint64_t *len)
{
	struct fetch_args *a = f->a;
	bool join = f->pp.mode == PARTIAL_JOIN;
	if (status == 416)
		return join ? PART_RETRY : PART_NOT; /* the parts' length is not the origin's */
	if (status != 206)
		return PART_NOT;
	/* A 206 that is not one part exactly as long as it says (multipart,
	 * chunked, a body longer or shorter than its Content-Range) is not
	 * stored: relayed when it answers the client's own Range. */
	if (!partial_response_part(&f->resp, r, len))
		return join ? PART_RETRY : PART_NOT;
	/* The origin may send less than was asked (some cap open-ended
	 * ranges): a part, or a join, that falls short of the client's
	 * request is never handed to it. */
	if (!join)
		return extent_answers(f, r->first, r->last, *len) ? PART_STORE : PART_RETRY;
	if (*len == a->stale->part_len && r->first == f->pp.gap.first &&
	    partial_same_validator(a->stale, &f->resp))
		return extent_answers(f, a->stale->part_first, r->last, *len) ? PART_JOIN
									      : PART_RETRY;
	/* Not joinable (RFC 9111 3.4: another or no strong validator):
	 * usable alone only if it answers the client by itself. */
	return extent_answers(f, r->first, r->last, *len) ? PART_STORE : PART_RETRY;
}

/* Send the request and read the final response head into f->resp.
 * Returns 0, or sets the failure through fetch_failed and returns -1. */
/* One attempt's exchange with backend BACKEND (pinned to PIN when
 * PINNED), the head in f->obuf (LEN bytes). */
static enum exchange_result exchange_one(struct fetch *f, unsigned backend, bool pinned,
					 unsigned pin, size_t len)
{
	struct fetch_args *a = f->a;
	/* A fetch is a GET without a body: safe to send again anywhere. */
	f->x = (struct exchange){
	    .b = &a->w->be,
	    .g = a->gen,
	    .backend = backend,
	    .req = &f->req,
	    .who = f->who,
	    .head = f->obuf,
	    .head_len = len,
	    .idempotent = true,
	    .resp = &f->resp,
	    .rbuf = f->rbuf,
	    .rcap = f->rcap,
	    .on_interim = queue_interim,
	    .ctx = f,
	    .pinned = pinned,
	    .pin = pin,
	};
	/* A member's deadlines are the cluster backend's own (config.h). */
	if (!pinned) {
		f->x.connect_ns = a->connect_ns;
		f->x.first_byte_ns = a->first_byte_ns;
		f->x.between_bytes_ns = a->between_bytes_ns;
		if (a->client.ss_family != AF_UNSPEC && a->local.ss_family != AF_UNSPEC) {
			f->x.client = (const struct sockaddr *)&a->client;
			f->x.local = (const struct sockaddr *)&a->local;
		}
	}
	return exchange_begin(&f->x);
}

/*
 * The exchange up to the final head: with a cluster forward, the members
 * in order (the request as the client sent it: the owner routes and keys
 * it itself, as this node did), then the origin; a member that fails
 * before answering is passed over (nothing reached the client yet).
 */
static int exchange_head(struct fetch *f)
{
	struct fetch_args *a = f->a;
	const char *cached_inm = NULL, *cached_ims = NULL;
	size_t inm_len = 0, ims_len = 0;
	if (a->stale && !a->stale->partial) {
		cached_inm = hdrs_find(a->stale->hdrs, a->stale->hdrs_len, "etag", 0, &inm_len);
		cached_ims =
		    hdrs_find(a->stale->hdrs, a->stale->hdrs_len, "last-modified", 0, &ims_len);
	}
	for (unsigned i = 0;; i++) {
		bool peer = i < a->peers.n;
		struct forward_head_opts o = {.peer_ip = a->peer_ip,
					      .method = "GET",
					      .strip_conditionals = true,
					      .if_none_match = cached_inm,
					      .inm_len = inm_len,
					      .if_modified_since = cached_ims,
					      .ims_len = ims_len,
					      .forwarded = f->cfg->forwarded};
		if (peer) {
			o.hop_token = f->cfg->cluster.token;
		} else {
			o.target = a->target;
			o.target_len = a->target_len;
			o.host = a->host;
			o.host_len = a->host_len;
			o.edits = a->has_edits ? &a->edits : NULL;
		}
		struct hbuf b;
		hbuf_init(&b, f->obuf, f->ocap);
		bool chunked;
		if (forward_head_build(&b, &f->req, &o, &chunked) != 0 ||
		    put_range(&b, &f->pp) < 0) {
			fetch_failed(f, 502, "request head too large for the backend", 0, false);
			return -1;
		}
		unsigned backend = peer ? a->gen->cluster.backend : a->backend;
		unsigned pin = peer ? (unsigned)a->peers.server[i] : 0;
		enum exchange_result r = exchange_one(f, backend, peer, pin, b.len);
		if (r == EXCHANGE_OK) {
			f->via_peer = peer;
			if (peer && f->x.head_at > f->x.sent_at)
				metrics_observe_hop(&f->w->metrics, f->x.head_at - f->x.sent_at);
			f->bcfg = a->gen->backends[backend].cfg;
			/* A near-cache copy is small (config.h). */
			if (peer && a->max_object_size > f->cfg->cluster.near_max_object_size)
				a->max_object_size = f->cfg->cluster.near_max_object_size;
			break;
		}
		if (peer && r == EXCHANGE_FAILED && !rt_task_cancelled()) {
			METRIC_INC(&f->w->metrics, cluster_failovers);
			log_warn("%s: cluster member %s: %s; %s", f->who,
				 a->gen->cluster.names[pin], f->x.why ? f->x.why : "failed",
				 i + 1 < a->peers.n ? "asking the next one" : "asking the origin");
			continue;
		}
		fetch_failed(f, f->x.status ? f->x.status : 502, f->x.why ? f->x.why : "failed",
			     f->x.err, true);
		return -1;
	}
	f->began = true;
	return 0;
}

/* Append the decoded body bytes waiting in rbuf to the object. */
static int sink_body(struct fetch *f)
{
	struct hmsg *m = &f->resp;
	struct cobj *o = f->obj;
	if (m->body_len == 0)
		return 0;
	if (f->stored && o->body->len + m->body_len > f->a->max_object_size) {
		/* Grew past the limit without announcing its size: readers
		 * already streaming it finish from memory, nobody new finds it. */
		store_unlink(f->a->w->sh->store, o);
		f->stored = false;
	}
	int r = cbody_append(o->body, f->rbuf + m->body_off, m->body_len,
			     o->clen > 0 ? (uint64_t)o->clen : 0);
	hmsg_body_consumed(m, 0);
	if (r < 0)
		return r;
	if (f->stored)
		store_account(f->a->w->sh->store, o, cobj_alloc(o));
	else if (o->body->pipe)
		return cbody_wait_space(o->body, rt_deadline_in(f->cfg->timeouts.send_ns));
	return 0;
}

/* Read the body into the object, then end the exchange. */
static void fetch_body(struct fetch *f)
{
	int r = 0;
	bool ok = false;
	for (;;) {
		const char *p;
		ssize_t n = exchange_read(&f->x, &p, false);
		if (n == 0) {
			ok = true;
			break;
		}
		if (n < 0) {
			r = (int)n;
			break;
		}
		if ((r = sink_body(f)) < 0)
			break;
	}
	/* A reader that went away (-EPIPE from a pipe) is not the backend's fault. */
	exchange_end(&f->x, ok			       ? EXCHANGE_END_DONE
			    : r == -EPIPE && !f->x.why ? EXCHANGE_END_CLIENT
						       : EXCHANGE_END_BACKEND);
	f->began = false;
	if (!ok) {
		if (r != -EPIPE || f->x.why)
			log_warn("%s: backend %s: body incomplete: %s", f->who, f->bcfg->name,
				 f->x.why ? f->x.why : strerror(-r));
		/* Never leave a truncated object in the cache. */
		if (f->stored)
			store_unlink(f->a->w->sh->store, f->obj);
	}
	cbody_finish(f->obj->body, ok);
}

/* What store_fill_begin counted is filled (or given up). */
static void fill_end(struct worker *w, uint64_t *filling)
{
	if (*filling != UINT64_MAX)
		store_fill_end(w->sh->store, *filling);
	*filling = UINT64_MAX;
}

static void fetch_main(void *arg)
{
	struct fetch_args *a = arg;
	CHECK_OBJ_NOTNULL(a, FETCH_ARGS_MAGIC);
	struct fetch f = {.a = a, .w = a->w, .cfg = a->gen->cfg, .who = "fetch"};
	struct worker *w = a->w;
	uint64_t near_charge = 0;      /* taken for a near copy not made yet */
	uint64_t filling = UINT64_MAX; /* counted by store_fill_begin */
	f.bcfg = a->gen->backends[a->backend].cfg;
	uint32_t nf = f.cfg->limits.max_headers;
	f.rcap = f.cfg->limits.max_header_size + 16 * 1024;
	f.ocap = f.cfg->limits.max_header_size + 1024;
	f.mem = malloc(f.rcap + f.ocap + 2 * nf * sizeof(struct hfield));
	if (!f.mem) {
		fetch_failed(&f, 502, "out of memory", 0, false);
		goto out;
	}
	f.rbuf = f.mem;
	f.obuf = f.mem + f.rcap;
	struct hfield *qf = (struct hfield *)(f.obuf + f.ocap);
	/* The copy is the request as the client sent it less what was removed,
	 * re-serialised: a space after a colon may make it a little longer. */
	hmsg_init(&f.req, HMSG_REQUEST, qf, nf,
		  a->req_len > f.cfg->limits.max_header_size ? a->req_len
							     : f.cfg->limits.max_header_size);
	hmsg_init(&f.resp, HMSG_RESPONSE, qf + nf, nf, f.cfg->limits.max_header_size);
	hmsg_next(&f.req, a->req, 0);
	if (hmsg_feed(&f.req, 0, a->req_len) < 0 || !f.req.headers_done) {
		fetch_failed(&f, 502, "internal: request copy does not parse", 0, false);
		goto out;
	}
	snprintf(f.who, sizeof(f.who), "fetch %.*s",
		 (int)(f.req.target.len > 100 ? 100 : f.req.target.len),
		 hmsg_ptr(&f.req, f.req.target));
	policy_req_meta(&f.req, &f.rq);
	f.rq.method = HTTP_GET; /* HEAD is fetched as GET */

again:
	partial_plan(&f.req, f.no_parts ? NULL : a->stale, &f.pp);
	if (f.no_range)
		f.pp.mode = PARTIAL_NONE;
	if (exchange_head(&f) < 0)
		goto out;
	struct hmsg *m = &f.resp;
	int status = hmsg_status(m);
	if (a->fh) {
		a->fh->fwd_status = status;
		/* The waiting client is on this loop: its access log and record. */
		if (a->w->alog || rlog_on(a->w->rlog)) {
			exchange_server(&f.x, a->fh->server, sizeof(a->fh->server));
			exchange_timing(&f.x, &a->fh->bx);
		}
	}
	policy_meta_from_response(m, f.x.request_ms, f.x.response_ms, &f.rm);

	if (status == 304 && a->stale && !a->stale->partial) {
		exchange_end(&f.x, EXCHANGE_END_DONE); /* a 304 has no body */
		f.began = false;
		if (refresh_from_304(&f) < 0)
			fetch_failed(&f, 502, "cannot update the stored response", 0, false);
		goto out;
	}
	if (status >= 500 && a->stale && !a->stale->partial &&
	    policy_stale_on_error(&f.rq, &a->stale->meta, a->stale->lifetime, a->knobs.grace, false,
				  wall_now())) {
		f.answered = true;
		fetch_failed(&f, status, "backend error status", 0, false);
		goto out;
	}
	enum storable why = policy_storable(&f.rq, &f.rm, &a->knobs);
	bool too_big = hmsg_has_length(m) && hmsg_content_length(m) > a->max_object_size;
	struct byte_range part = {0, 0};
	uint64_t part_len = 0;
	enum part_verdict pv =
	    f.pp.mode == PARTIAL_NONE ? PART_NOT : part_verdict(&f, status, &part, &part_len);
	if (pv == PART_STORE || pv == PART_JOIN) {
		/* A part is stored as the 200 it belongs to would be (206 is
		 * cacheable as 200 is, RFC 9110 15.3.7; policy.c refuses a
		 * 206 it did not ask for). */
		struct resp_meta whole = f.rm;
		whole.status = 200;
		why = policy_storable(&f.rq, &whole, &a->knobs);
		if (pv == PART_JOIN)
			too_big = hmsg_content_length(m) +
				      byte_range_len(&(struct byte_range){a->stale->part_first,
									  a->stale->part_last}) >
				  a->max_object_size;
	} else if (f.pp.mode != PARTIAL_NONE && status == 416) {
		why = STORE_NO_STATUS; /* an answer to our Range, not to every GET */
	}
	bool unstored = why != STORE_OK || too_big;
	/* A member's answer for a key it owns: kept here only as a near-cache
	 * copy (small, of a key asked here before: fetch_peers), else relayed
	 * to the requester alone, with no hit-for-miss (the owner stores it:
	 * a key too big for a near copy still goes by the owner). */
	bool transient = f.via_peer && why == STORE_OK && (too_big || !a->peers.keep);
	unstored = unstored || transient;
	/* Clients hold half the memory budget in objects that left the
	 * cache or are being filled (store_fill_begin): relayed through a
	 * bounded pipe, and asked for again later; no hit-for-miss, it is
	 * the load, not the URL. */
	bool held_full = false;
	if (!unstored) {
		uint64_t expect = hmsg_has_length(m) ? hmsg_content_length(m) : 0;
		held_full = !store_fill_begin(w->sh->store, expect);
		if (!held_full)
			filling = expect;
		unstored = held_full;
	}
	/* A copy kept takes its room in the near share first (store.h):
	 * Content-Length, or as much as a copy may be; none left, it is
	 * relayed. Before the range checks, which must see that; a retry
	 * gives it back. */
	if (f.via_peer && !unstored) {
		near_charge = hmsg_has_length(m) ? hmsg_content_length(m) + 1024
						 : f.cfg->cluster.near_max_object_size;
		if (!store_near_take(w->sh->store, near_charge)) {
			near_charge = 0;
			unstored = transient = true;
		}
	}
	/* A Range the client did not send: an answer that cannot be stored
	 * as the client's whole answer is never relayed (it would be a part
	 * for a request of the whole, or another range); start again without
	 * the parts, which are given up (a validator mismatch discards them,
	 * RFC 9111 3.4). */
	if (f.pp.mode == PARTIAL_JOIN &&
	    (pv == PART_RETRY || ((pv == PART_STORE || pv == PART_JOIN) && unstored))) {
		log_info("%s: backend %s: %d to Range %.*s cannot complete the stored part; "
			 "fetching without it",
			 f.who, f.bcfg->name, status, (int)f.pp.range_len, f.pp.range);
		exchange_end(&f.x, EXCHANGE_END_CLIENT);
		f.began = false;
		store_unlink(a->w->sh->store, a->stale);
		cobj_release(&a->stale);
		f.no_parts = true;
		store_near_give(w->sh->store, near_charge);
		near_charge = 0;
		fill_end(w, &filling);
		goto again;
	}
	/* The client's own Range answered with a part that does not hold it,
	 * or one that is relayed unstored (then as the origin sent it) while
	 * its range is not exactly the client's: not an answer to the client.
	 * The whole representation is, and the deliver cuts the range. */
	if (f.pp.mode == PARTIAL_CLIENT &&
	    (pv == PART_RETRY ||
	     (pv == PART_STORE && unstored && !part_is_clients(&f, &part, part_len)))) {
		log_info("%s: backend %s: %d to Range %.*s does not answer it; fetching the whole",
			 f.who, f.bcfg->name, status, (int)f.pp.range_len, f.pp.range);
		exchange_end(&f.x, EXCHANGE_END_CLIENT);
		f.began = false;
		f.no_range = true;
		store_near_give(w->sh->store, near_charge);
		near_charge = 0;
		fill_end(w, &filling);
		goto again;
	}
	f.obj = cobj_new(a->w->sh->store);
	if (!f.obj || fill_head(&f, f.obj) < 0) {
		fetch_failed(&f, 502, "response head cannot be stored", 0, false);
		goto out;
	}
	if (!unstored && (pv == PART_STORE || pv == PART_JOIN)) {
		int e = 0;
		if (pv == PART_JOIN) {
			part.first = a->stale->part_first;
			e = partial_copy_extent(f.obj, a->stale);
		}
		if (e < 0 || partial_shape(f.obj, part, part_len) < 0) {
			fetch_failed(&f, 502, "response head cannot be stored", 0, false);
			goto out;
		}
	}
	if (!unstored && f.via_peer) {
		/* Fresh here for near_ttl at most: the owner's copy is the one
		 * invalidations are sure to reach. */
		int64_t age = policy_age(&f.obj->meta, wall_now());
		if (f.obj->lifetime > age + a->peers.near_ttl)
			f.obj->lifetime = age + a->peers.near_ttl;
		f.obj->near = true;
		f.obj->near_charge = near_charge;
		near_charge = 0;
	}
	if (!unstored) {
		f.stored = true;
		store_publish(a->w->sh->store, a->oh, f.obj);
		if (f.obj->near)
			store_near_add(a->w->sh->store, f.obj);
		a->oh = NULL;
		METRIC_INC(&f.w->metrics, cache_stored);
		fh_ready(&f, f.obj, true);
	} else {
		/* An answer to a Range this fetch sent that is no storable
		 * part says nothing about the URL's other requests: no
		 * hit-for-miss for it. */
		bool ranged = f.pp.mode != PARTIAL_NONE &&
			      (status == 416 || (status == 206 && pv == PART_NOT));
		if (a->fh)
			a->fh->detail = transient   ? "cluster-forward"
					: held_full ? "memory-held"
					: ranged    ? "partial-not-stored"
					: too_big   ? "too-big"
						    : policy_storable_name(why);
		int64_t hfm = !transient && !held_full && !ranged &&
				      (too_big || permanent_refusal(why)) &&
				      f.cfg->cache.hit_for_miss_ns
				  ? wall_now() + (int64_t)(f.cfg->cache.hit_for_miss_ns / RT_SEC)
				  : 0;
		store_fetch_abort(a->w->sh->store, a->oh, hfm);
		a->oh = NULL;
		if (!a->fh) {
			/* A background refresh nobody will read: stop here. */
			goto out;
		}
		f.obj->body->pipe = true;
		fh_ready(&f, f.obj, false);
	}
	fetch_body(&f);
	/* Write-behind: a stored body that arrived whole goes to the disk
	 * tier's writer (off this task: dwriter_admit only queues it). */
	if (f.stored && w->sh->disk && cbody_state(f.obj->body) == BODY_DONE)
		dtier_offer(w->sh->disk, f.obj, wall_now());
out:
	fill_end(w, &filling);
	if (near_charge)
		store_near_give(w->sh->store, near_charge);
	if (a->oh)
		store_fetch_abort(a->w->sh->store, a->oh, 0);
	/* Left before its body was read: the connection is not reused. */
	if (f.began)
		exchange_end(&f.x, EXCHANGE_END_CLIENT);
	if (!f.done_head)
		fh_answer(&f, FH_FAILED);
	cobj_release(&f.obj);
	cobj_release(&a->stale);
	fetch_handle_release(&a->fh);
	free(f.mem);
	free(a->req);
	free(a->route_buf);
	free(a->fwd_suffix);
	gen_put(&w->be, a->gen);
	FINI_OBJ(a);
	free(a);
}

int fetch_start(struct fetch_args *a)
{
	CHECK_OBJ_NOTNULL(a, FETCH_ARGS_MAGIC);
	CHECK_OBJ_ORNULL(a->fh, FETCH_HANDLE_MAGIC);
	if (a->fh)
		a->fh->refs++;
	/* The task outlives the request that started it (the request may be
	 * done with it, or it refreshes in the background). */
	gen_hold_again(&a->w->be, a->gen);
	if (rt_group_spawn(&a->w->tasks, fetch_main, a, "fetch") < 0) {
		gen_put(&a->w->be, a->gen);
		if (a->oh)
			store_fetch_abort(a->w->sh->store, a->oh, 0);
		cobj_release(&a->stale);
		if (a->fh)
			a->fh->refs--;
		free(a->req);
		free(a->route_buf);
		free(a->fwd_suffix);
		free(a);
		return -ENOMEM;
	}
	return 0;
}

static bool fh_cancel(void *arg)
{
	struct fetch_handle *fh = arg;
	fh->waiter = NULL;
	return true;
}

int fetch_wait(struct fetch_handle *fh, rt_time_t deadline)
{
	CHECK_OBJ_NOTNULL(fh, FETCH_HANDLE_MAGIC);
	if (fh->state != FH_PENDING || fh->interim)
		return 0;
	fh->waiter = rt_task_self();
	return rt_wait(deadline, fh_cancel, fh);
}

struct fetch_interim *fetch_interim_pop(struct fetch_handle *fh)
{
	CHECK_OBJ_NOTNULL(fh, FETCH_HANDLE_MAGIC);
	struct fetch_interim *e = fh->interim;
	if (!e)
		return NULL;
	fh->interim = e->next;
	if (!fh->interim)
		fh->interim_last = NULL;
	fh->interim_queued--;
	fh->interim_bytes -= e->len;
	e->next = NULL;
	return e;
}

void fetch_handle_release(struct fetch_handle **fhp)
{
	struct fetch_handle *fh = *fhp;
	if (!fh)
		return;
	*fhp = NULL;
	CHECK_OBJ_NOTNULL(fh, FETCH_HANDLE_MAGIC);
	if (--fh->refs > 0)
		return;
	cobj_release(&fh->obj);
	for (struct fetch_interim *e; (e = fetch_interim_pop(fh));)
		free(e);
	FINI_OBJ(fh);
	free(fh);
}
