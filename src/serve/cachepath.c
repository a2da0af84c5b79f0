/* cache_path.c - the client side of the cache: lookup, hit, miss, pass, invalidation. */
#include "serve/cachepath.h"
#include "rt/obj.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "backend/cluster.h"
#include "cache/dtier.h"
#include "cache/key.h"
#include "serve/keys.h"
#include "cache/store.h"
#include "http/forward.h"
#include "http/hbuf.h"
#include "ops/log.h"
#include "ops/metrics.h"
#include "serve/cinval.h"
#include "serve/deliver.h"
#include "serve/respond.h"
#include "serve/fetch.h"
#include "serve/poststore.h"
#include "serve/pass.h"
#include "serve/routing.h"
#include "serve/tunnel.h"
#include "backend/gen.h"
#include "route/match.h"
#include "rt/io.h"

#define KEY_MAX 8192

static int64_t wall_now(void)
{
	return (int64_t)time(NULL);
}

static void knobs_for(const struct config *cfg, const struct config_rule *rule,
		      struct policy_knobs *k, uint64_t *max_obj)
{
	k->ttl_override = rule && rule->ttl_ns >= 0 ? rule->ttl_ns / (int64_t)RT_SEC : POLICY_NONE;
	k->default_ttl = rule && rule->default_ttl_ns >= 0
			     ? rule->default_ttl_ns / (int64_t)RT_SEC
			     : (int64_t)(cfg->cache.default_ttl_ns / RT_SEC);
	k->heuristic_percent = cfg->cache.heuristic_percent;
	k->heuristic_max = (int64_t)(cfg->cache.heuristic_max_ns / RT_SEC);
	k->grace = (int64_t)(cfg->cache.grace_ns / RT_SEC);
	k->heuristic_with_credentials = cfg->cache.heuristic_with_credentials;
	*max_obj = rule && rule->max_object_size > 0 ? (uint64_t)rule->max_object_size
						     : cfg->cache.max_object_size;
}

static bool method_is_safe(unsigned m)
{
	return m == HTTP_GET || m == HTTP_HEAD || m == HTTP_OPTIONS || m == HTTP_TRACE;
}

/* What the route changes in the fetch's head, copied (the fetch outlives
 * the request): 0 or -ENOMEM. */
static int copy_route_part(struct req *rq, struct fetch_args *a)
{
	struct forward_head_opts o = {0};
	routing_forward_opts(rq, &o);
	char part[REQ_TARGET + REQ_HOST + 16];
	int pl = routing_key_part(rq, part, sizeof(part));
	if (pl < 0)
		return -ENOMEM;
	if (pl > 0) {
		if (!(a->fwd_suffix = malloc((size_t)pl)))
			return -ENOMEM;
		memcpy(a->fwd_suffix, part, (size_t)pl);
		a->fwd_suffix_len = (size_t)pl;
	}
	size_t need = o.target_len + o.host_len + (o.edits ? hedits_size(o.edits) : 0);
	if (!o.target && !o.host && !o.edits)
		return 0;
	if (!(a->route_buf = malloc(need ? need : 1)))
		return -ENOMEM;
	size_t used = 0;
	if (o.target) {
		memcpy(a->route_buf, o.target, o.target_len);
		a->target = a->route_buf;
		a->target_len = o.target_len;
		used += o.target_len;
	}
	if (o.host) {
		memcpy(a->route_buf + used, o.host, o.host_len);
		a->host = a->route_buf + used;
		a->host_len = o.host_len;
		used += o.host_len;
	}
	if (o.edits) {
		long r = hedits_copy(o.edits, &a->edits, a->route_buf + used, need - used);
		assert(r >= 0);
		a->has_edits = true;
	}
	return 0;
}

/*
 * Where a miss of KEY (KL bytes) is fetched from in a cluster
 * (backend/cluster.h), into P: the live members before this node in the
 * key's order (none when this node owns the key, or when a member
 * forwarded the request: never forwarded twice), and whether a member's
 * answer is kept here (the key was asked here before, recently).
 */
static void cluster_plan(struct req *rq, const char *key, size_t kl, struct fetch_peers *p)
{
	*p = (struct fetch_peers){.n = 0};
	const struct gen *g = rq->gen;
	if (!cluster_on(g) || rq->cluster_hop)
		return;
	uint64_t h = cluster_key_hash(key, kl);
	int order[CLUSTER_CHOICES];
	size_t n = cluster_order(g, h, rt_clock_now(), order, CLUSTER_CHOICES);
	for (size_t i = 0; i < n && order[i] != CLUSTER_SELF; i++)
		p->server[p->n++] = order[i];
	if (!p->n)
		return;
	uint64_t ttl_ns = g->cfg->cluster.near_ttl_ns;
	/* Lifetimes are whole seconds: a TTL under one is one. */
	p->near_ttl = ttl_ns ? (int64_t)((ttl_ns + RT_SEC - 1) / RT_SEC) : 0;
	p->keep = ttl_ns && cluster_seen(rq->w->sh->seen, h, wall_now(), p->near_ttl);
	METRIC_INC(&rq->w->metrics, cluster_forwarded);
}

static int start_fetch(struct req *rq, struct lookup_res *res, const struct policy_knobs *k,
		       uint64_t max_obj, struct fetch_handle *fh, const struct fetch_peers *peers)
{
	struct fetch_args *a = calloc(1, sizeof(*a));
	if (a)
		a->magic = FETCH_ARGS_MAGIC;
	if (!a) {
		store_fetch_abort(rq->w->sh->store, res->oh, 0);
		cobj_release(&res->obj);
		return -ENOMEM;
	}
	a->w = rq->w;
	a->gen = rq->gen; /* fetch_start holds it for the task */
	a->backend = req_backend(rq);
	routing_timeouts(rq, &a->connect_ns, &a->first_byte_ns, &a->between_bytes_ns);
	if (rq->gen->backends[a->backend].cfg->proxy_protocol) {
		socklen_t ll = sizeof(a->local);
		a->client = rq->peer_sa;
		if (getsockname(rq->fd, (struct sockaddr *)&a->local, &ll) < 0)
			a->local.ss_family = AF_UNSPEC;
	}
	a->req = req_head_copy(rq, &a->req_len);
	if (a->req && copy_route_part(rq, a) < 0) {
		free(a->req);
		a->req = NULL;
	}
	snprintf(a->peer_ip, sizeof(a->peer_ip), "%s", rq->peer_ip);
	a->oh = res->oh;
	res->oh = NULL;
	a->stale = res->obj; /* for a background refresh the caller keeps its own ref */
	if (res->kind == LOOKUP_HIT && a->stale)
		cobj_retain(a->stale);
	else
		res->obj = NULL;
	a->knobs = *k;
	a->max_object_size = max_obj;
	a->fh = fh;
	a->peers = *peers;
	if (!a->req) {
		store_fetch_abort(rq->w->sh->store, a->oh, 0);
		cobj_release(&a->stale);
		free(a->route_buf);
		free(a->fwd_suffix);
		free(a);
		return -ENOMEM;
	}
	return fetch_start(a);
}

/* Wait for the fetch's final head, writing the interim responses it
 * queues to the client as they come (fetch.h). 0, or < 0 when the wait
 * was cancelled or the client went away. */
static int wait_for_head(struct req *rq, struct fetch_handle *fh)
{
	for (;;) {
		int r = fetch_wait(fh, RT_NEVER); /* the fetch task has its own deadlines */
		if (r < 0)
			return r;
		struct fetch_interim *e = fetch_interim_pop(fh);
		if (!e)
			return 0; /* the head is in */
		ssize_t sent = rt_send_all(rq->fd, e->head, e->len,
					   rt_deadline_in(rq->gen->cfg->timeouts.send_ns));
		req_sent(rq, sent);
		free(e);
		if (sent < 0)
			return (int)sent;
	}
}

static enum req_result pass(struct req *rq, const char *status)
{
	METRIC_INC(&rq->w->metrics, cache_pass);
	rq->cache_word = "pass";
	rq->cache_status = status;
	return pass_forward(rq, req_backend(rq));
}

static void cache_status_for_fetch(char *buf, size_t n, struct fetch_handle *fh, bool collapsed,
				   const char *fwd)
{
	int l;
	if (fh->stale_served)
		l = snprintf(buf, n, "ringcache; fwd=%s; fwd-status=%d; detail=stale-if-error", fwd,
			     fh->fwd_status);
	else if (fh->revalidated)
		l = snprintf(buf, n, "ringcache; fwd=stale; fwd-status=304");
	else if (fh->stored)
		l = snprintf(buf, n, "ringcache; fwd=%s; fwd-status=%d; stored", fwd,
			     fh->fwd_status);
	else
		l = snprintf(buf, n, "ringcache; fwd=%s; fwd-status=%d; detail=%s", fwd,
			     fh->fwd_status, fh->detail ? fh->detail : "not-stored");
	if (collapsed && l > 0 && (size_t)l < n)
		snprintf(buf + l, n - (size_t)l, "; collapsed");
}

/*
 * PURGE on the proxy listener (Varnish's convention), with cache.purge_allow
 * set: from those networks, every variant of the object a GET of the same
 * request would find (its route's key options and key source) is removed,
 * and the answer says how many, as the admin API's purge does; from others,
 * 403. Without purge_allow a PURGE is a method like any other (passed).
 */
static enum req_result purge_here(struct req *rq, const char *host, size_t hlen, const char *target,
				  size_t tlen)
{
	const struct config *cfg = rq->gen->cfg;
	rq->cache_word = "purge";
	if (!config_cidrs_match(&cfg->cache.purge_allow, (const struct sockaddr *)&rq->client_sa)) {
		respond_error(rq, 403, "PURGE from a client not in cache.purge_allow", true);
		return rq->closing ? REQ_ERRORED : REQ_DONE;
	}
	const struct config_route *route = rq->route.active ? rq->route.route : NULL;
	const char *q = memchr(target, '?', tlen);
	const struct config_rule *rule =
	    route_cache_rule(cfg, route, host, cache_key_host_len(host, hlen), target,
			     q ? (size_t)(q - target) : tlen);
	if (route && route->cache_key == KEY_FROM_REWRITTEN && rq->route.rewritten) {
		target = rq->route.target;
		tlen = rq->route.target_len;
	}
	char key[KEY_MAX];
	uint32_t hl;
	int kl = cache_key_under(cfg, rule, host, hlen, target, tlen, key, sizeof(key), &hl);
	long n = 0;
	if (kl > 0) {
		/* Both tiers, durable on disk, then every member (cinval.h). */
		struct cinval_op op = {.kind = CINVAL_PURGE, .a = key, .alen = (size_t)kl};
		n = cinval_apply(rq->w->sh, &op, NULL, 0);
		cinval_add(rq->w->sh->inval, &op, rq->gen);
	}
	log_info("client %s: PURGE %.*s: %ld objects", rq->client_ip,
		 (int)(tlen > 200 ? 200 : tlen), target, n);
	char body[48];
	int bl = snprintf(body, sizeof(body), "{\"purged\": %ld}\n", n);
	int e = respond_page(rq, 200, "application/json", body, (size_t)bl, NULL, true, "purge");
	return e < 0 ? REQ_ABORT : rq->closing ? REQ_ERRORED : REQ_DONE;
}

/* A POST whose response may be stored for GETs of its URI (poststore.h):
 * not under a bypass rule, nor with a trusted proxy's override (the
 * backend may act on another URL or method), nor with a Host too long for
 * its copy. */
static bool arm_post(struct req *rq, struct poststore *ps, const char *host, size_t hlen)
{
	const struct config *cfg = rq->gen->cfg;
	if (rq->override || hlen != strlen(host))
		return false;
	const struct hmsg *m = &rq->req;
	const char *target = hmsg_ptr(m, m->target);
	const char *q = memchr(target, '?', m->target.len);
	const struct config_route *route = rq->route.active ? rq->route.route : NULL;
	const struct config_rule *rule =
	    route_cache_rule(cfg, route, host, cache_key_host_len(host, hlen), target,
			     q ? (size_t)(q - target) : m->target.len);
	if (rule && rule->bypass)
		return false;
	struct policy_knobs k;
	uint64_t max_obj;
	knobs_for(cfg, rule, &k, &max_obj);
	return poststore_arm(ps, rq, host, hlen, rule, &k, max_obj);
}

/* Bounded copy into a C string (truncates, always terminates). */
static void copy_cstr(char *dst, size_t cap, const char *src, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

enum req_result cache_handle(struct req *rq)
{
	CHECK_OBJ_NOTNULL(rq, REQ_MAGIC);
	struct worker *w = rq->w;
	const struct config *cfg = rq->gen->cfg;
	struct hmsg *m = &rq->req;
	unsigned method = hmsg_method(m);
	const struct hfield *hf = rq->host_f; /* req_validate found it */
	const char *host = hf ? hmsg_ptr(m, hf->value) : "";
	size_t hlen = hf ? hf->value.len : 0;
	const char *target = hmsg_ptr(m, m->target);
	size_t tlen = m->target.len;
	char hostcopy[256];
	copy_cstr(hostcopy, sizeof(hostcopy), host, hlen);
	copy_cstr(rq->req_target, REQ_TARGET, target, tlen);

	/* A WebSocket handshake opens a tunnel: never looked up or stored. */
	rq->upgrade = tunnel_asked(rq);
	if (rq->upgrade)
		return pass(rq, "ringcache; fwd=request; detail=upgrade");
	bool has_body = hmsg_chunked(m) || (hmsg_has_length(m) && hmsg_content_length(m) > 0);
	if (method == HTTP_PURGE && cfg->cache.purge_allow.n)
		return purge_here(rq, host, hlen, target, tlen);
	if ((method != HTTP_GET && method != HTTP_HEAD) || has_body) {
		if (!method_is_safe(method))
			rq->invalidate_host = hostcopy; /* used while the response head is built */
		struct poststore ps;
		bool post = method == HTTP_POST && arm_post(rq, &ps, hostcopy, hlen);
		enum req_result r = pass(rq, "ringcache; fwd=method");
		if (post)
			poststore_end(&ps);
		rq->invalidate_host = NULL;
		return r;
	}
	const char *q = memchr(target, '?', tlen);
	const struct config_route *route = rq->route.active ? rq->route.route : NULL;
	const struct config_rule *rule =
	    route_cache_rule(cfg, route, host, cache_key_host_len(host, hlen), target,
			     q ? (size_t)(q - target) : tlen);
	if (rule && rule->bypass)
		return pass(rq, "ringcache; fwd=bypass");
	/* A trusted proxy's method or URL override: the backend may act on
	 * something else than the cache would key, and the effective method
	 * may be unsafe (RFC 9111 4.4): invalidate like one. */
	if (rq->override) {
		rq->invalidate_host = hostcopy;
		enum req_result r = pass(rq, "ringcache; fwd=request; detail=override");
		rq->invalidate_host = NULL;
		return r;
	}
	/* What a trusted proxy says about the request is part of its key;
	 * from anyone else those fields were removed (client.c). */
	char fwd[512 + REQ_TARGET + REQ_HOST + 16];
	int fl = rq->trusted ? forward_key(m, fwd, 512) : 0;
	if (fl < 0)
		return pass(rq, "ringcache; fwd=uri-miss; detail=key-too-long");
	/* What the route changes about the request is part of the secondary
	 * key (routing.h): two routes may send one URL to two backends, and
	 * must not share a copy; a purge of the URL still finds every
	 * route's (one primary key). */
	int pl = routing_key_part(rq, fwd + fl, sizeof(fwd) - (size_t)fl);
	if (pl < 0)
		return pass(rq, "ringcache; fwd=uri-miss; detail=key-too-long");
	fl += pl;

	struct policy_knobs k;
	uint64_t max_obj;
	knobs_for(cfg, rule, &k, &max_obj);
	char key[KEY_MAX];
	uint32_t host_len;
	/* The client's target, unless the route keys on what it sends. */
	const char *ktarget = target;
	size_t ktlen = tlen;
	if (route && route->cache_key == KEY_FROM_REWRITTEN && rq->route.rewritten) {
		ktarget = rq->route.target;
		ktlen = rq->route.target_len;
	}
	int kl =
	    cache_key_under(cfg, rule, host, hlen, ktarget, ktlen, key, sizeof(key), &host_len);
	if (kl < 0)
		return pass(rq, "ringcache; fwd=uri-miss; detail=key-too-long");
	struct req_meta meta;
	policy_req_meta(m, &meta);
	meta.method = HTTP_GET; /* HEAD is answered from the stored GET */
	bool only_if_cached = meta.cc.flags & CC_ONLY_IF_CACHED;
	const struct config_backend *bcfg = rq->gen->backends[req_backend(rq)].cfg;
	int64_t now = wall_now();
	struct lookup_req lr = {
	    .key = key,
	    .key_len = (uint32_t)kl,
	    .host_len = host_len,
	    .req = m,
	    .fwd_key = fwd,
	    .fwd_len = (uint32_t)fl,
	    .rq = &meta,
	    .now = now,
	    /* As long as the fetch may take, each of its retries included. */
	    .wait_deadline = rt_deadline_in(
		(bcfg->connect_timeout_ns + bcfg->first_byte_timeout_ns) * (bcfg->retries + 1)),
	    /* Stored parts answer only the ranges they hold (deliver.h). */
	    .fits = deliver_fits,
	    .fits_arg = m,
	};
	if (rq->cluster_hop)
		METRIC_INC(&w->metrics, cluster_hops_served);
	struct lookup_res res;
	int lr_err = store_lookup(w->sh->store, &lr, &res);
	/* A memory miss that owns the key (others for it wait on its busy
	 * flag meanwhile): the disk tier may hold it. Promoted into memory,
	 * it is then looked up again as any stored object. */
	bool from_disk = false;
	/* Twice at most: between the promotion and the lookup another loop's
	 * eviction may take the new object (a thread preempted there), and
	 * the lookup then owns the key again; once more from disk, not the
	 * origin. */
	for (int tries = 0;
	     tries < 2 && lr_err == 0 && res.kind == LOOKUP_MISS && !res.obj && w->sh->disk;
	     tries++) {
		/* Before the first read: an invalidation made during it refuses
		 * the promotion (it is then an ordinary miss, still ours). */
		struct store_promo promo;
		store_promo_begin(w->sh->store, &promo);
		struct dstream *stream;
		bool hot;
		struct cobj *o = dtier_find(w->sh->disk, w->sh->store, &lr,
					    rt_deadline_in(DTIER_READ_TIMEOUT), &stream, &hot);
		bool published = o && store_publish_promoted(w->sh->store, res.oh, o, &promo);
		if (stream) /* a long body: read into O as it is sent */
			dstream_start(&stream, w->sh->store, &w->tasks, published);
		if (o && !published)
			cobj_release(&o);
		if (!o)
			break;
		from_disk = true;
		lr.now = wall_now();
		lr_err = store_lookup(w->sh->store, &lr, &res);
		/* The eviction the promotion owes, now that the lookup holds O;
		 * and hot or not for it (store.h). */
		store_promoted(w->sh->store, o, hot);
		cobj_release(&o);
	}
	if (lr_err < 0) {
		rq->close = CLOSE_draining;
		return REQ_ABORT; /* cancelled while waiting: the connection is going away */
	}
	if (res.collapsed)
		METRIC_INC(&w->metrics, cache_collapsed);
	char status[160];
	struct deliver_opts d = {.cache_status = status, .from_cache = true, .now = wall_now()};

	if (res.kind == LOOKUP_HIT) {
		struct cobj *o = res.obj;
		int64_t ttl = o->lifetime - policy_age(&o->meta, d.now);
		/* Built without printf: this is every hit's cost. */
		struct hbuf sb;
		hbuf_init(&sb, status, sizeof(status));
		hbuf_puts(&sb, "ringcache; hit; ttl=");
		hbuf_put_i64(&sb, ttl);
		rq->cache_word = "hit";
		if (o->near)
			METRIC_INC(&w->metrics, cluster_near_hits);
		if (res.use == USE_FRESH) {
			METRIC_INC(&w->metrics, cache_hit);
			if (res.collapsed)
				hbuf_puts(&sb, "; collapsed");
			if (from_disk)
				hbuf_puts(&sb, "; detail=disk"); /* read back from the disk tier */
			else if (o->near)
				hbuf_puts(&sb, "; detail=near"); /* a copy of a member's object */
		} else {
			rq->cache_word = "stale";
			METRIC_INC(&w->metrics, cache_hit_stale);
			hbuf_puts(&sb, res.use == USE_STALE_REVALIDATE
					   ? "; detail=stale-while-revalidate"
					   : "; detail=max-stale");
		}
		hbuf_cstr(&sb);
		if (res.fetch) {
			METRIC_INC(&w->metrics, cache_bg_fetches);
			struct fetch_peers peers;
			cluster_plan(rq, key, (size_t)kl, &peers);
			if (start_fetch(rq, &res, &k, max_obj, NULL, &peers) < 0)
				log_warn("background refresh could not start: out of memory");
		}
		if (w->sh->disk)
			dtier_offer(w->sh->disk, o,
				    d.now); /* admission after admit_hits requests */
		enum req_result ur = deliver_object(rq, o, &d);
		cobj_release(&res.obj);
		return ur;
	}
	if (res.kind == LOOKUP_PASS) {
		if (only_if_cached) {
			rq->cache_status = "ringcache; fwd=uri-miss; detail=only-if-cached";
			respond_error(rq, 504, "only-if-cached", true);
			return rq->closing ? REQ_ERRORED : REQ_DONE;
		}
		return pass(rq, res.wait_timed_out
				    ? "ringcache; fwd=uri-miss; collapsed; detail=waited-too-long"
				: res.collapsed
				    ? "ringcache; fwd=uri-miss; collapsed; detail=hit-for-miss"
				    : "ringcache; fwd=uri-miss; detail=hit-for-miss");
	}
	/* MISS: this request fetches, others for the key wait in the store. */
	bool had_stale = res.obj != NULL;
	/* RFC 9211 2.2: "partial" when stored parts were to be completed. */
	const char *fwd_word = !had_stale ? "uri-miss" : res.obj->partial ? "partial" : "stale";
	if (only_if_cached) {
		store_fetch_abort(w->sh->store, res.oh, 0);
		cobj_release(&res.obj);
		rq->cache_status = "ringcache; fwd=uri-miss; detail=only-if-cached";
		respond_error(rq, 504, "only-if-cached", true);
		return rq->closing ? REQ_ERRORED : REQ_DONE;
	}
	METRIC_INC(&w->metrics, cache_miss);
	struct fetch_handle *fh = calloc(1, sizeof(*fh));
	if (!fh) {
		store_fetch_abort(w->sh->store, res.oh, 0);
		cobj_release(&res.obj);
		respond_error(rq, 503, "out of memory", false);
		return REQ_ERRORED;
	}
	fh->magic = FETCH_HANDLE_MAGIC;
	fh->refs = 1;
	fh->interim_ok = m->p.http_major == 1 && m->p.http_minor >= 1; /* 1.0 knows no 1xx */
	rt_time_t up0 = rt_clock_now();
	struct fetch_peers peers;
	cluster_plan(rq, key, (size_t)kl, &peers);
	if (start_fetch(rq, &res, &k, max_obj, fh, &peers) < 0) {
		fetch_handle_release(&fh);
		respond_error(rq, 503, "out of memory", false);
		return REQ_ERRORED;
	}
	int wr = wait_for_head(rq, fh);
	if (wr < 0 || fh->state == FH_PENDING) {
		fetch_handle_release(&fh);
		/* A cancel ends this wait early, or the client went away while
		 * an interim response went to it. */
		rq->close = wr == -ECANCELED ? CLOSE_draining : CLOSE_send_failed;
		return REQ_ABORT;
	}
	cache_status_for_fetch(status, sizeof(status), fh, res.collapsed, fwd_word);
	rq->cache_word = fh->stale_served  ? "stale"
			 : fh->revalidated ? "revalidated"
			 : res.collapsed   ? "collapsed"
					   : "miss";
	enum req_result ur;
	if (fh->state == FH_FAILED) {
		rq->cache_status = status;
		/* The request was read whole (a GET or HEAD body is dropped
		 * first): the connection can serve the next one. */
		respond_error(rq, fh->err_status ? fh->err_status : 502,
			      fh->detail ? fh->detail : "fetch failed", true);
		ur = rq->closing ? REQ_ERRORED : REQ_DONE;
	} else {
		d.pipe = !fh->stored;
		d.from_cache = fh->stored;
		d.now = wall_now();
		ur = deliver_object(rq, fh->obj, &d);
		if (d.pipe)
			body_reader_gone(fh->obj->body);
	}
	if (w->alog || rq->rec_on) { /* the fetch ran while the body was relayed */
		rq->upstream_ns = (int64_t)(rt_clock_now() - up0);
		snprintf(rq->backend, sizeof(rq->backend), "%s", fh->server);
		rq->bx = fh->bx;
	}
	fetch_handle_release(&fh);
	return ur;
}
