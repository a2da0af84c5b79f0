/* poststore.c - a POST response stored as the response to a GET of its URI (RFC 9110 9.3.3). */
#include "serve/poststore.h"
#include "rt/obj.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/hdrs.h"
#include "http/forward.h"
#include "ops/log.h"
#include "ops/metrics.h"
#include "serve/fetch.h"
#include "serve/keys.h"
#include "serve/routing.h"

#define KEY_MAX 8192
#define FWD_MAX (512 + REQ_TARGET + REQ_HOST + 16) /* as the lookup's (cachepath.c) */

bool poststore_arm(struct poststore *ps, struct req *rq, const char *host, size_t hlen,
		   const struct config_rule *rule, const struct policy_knobs *k, uint64_t max_obj)
{
	const struct config *cfg = rq->gen->cfg;
	*ps = (struct poststore){.magic = POSTSTORE_MAGIC,
				 .rq = rq,
				 .host = host,
				 .hlen = hlen,
				 .knobs = *k,
				 .max_object_size = max_obj};
	uint32_t len;
	uint32_t nf = cfg->limits.max_headers;
	ps->head = req_head_copy(rq, &len);
	ps->fields = malloc(nf * sizeof(*ps->fields));
	ps->key = malloc(KEY_MAX);
	ps->fwd = malloc(FWD_MAX);
	if (!ps->head || !ps->fields || !ps->key || !ps->fwd)
		goto fail;
	hmsg_init(&ps->req, HMSG_REQUEST, ps->fields, nf,
		  len > cfg->limits.max_header_size ? len : cfg->limits.max_header_size);
	hmsg_next(&ps->req, ps->head, 0);
	if (hmsg_feed(&ps->req, 0, len) < 0 || !ps->req.headers_done)
		goto fail;
	policy_req_meta(&ps->req, &ps->meta);
	/* Keyed as a GET of the same request would be (cachepath.c): the
	 * forwarding key of a trusted proxy and the route's part. */
	int fl = rq->trusted ? forward_key(&ps->req, ps->fwd, 512) : 0;
	int pl = fl < 0 ? -1 : routing_key_part(rq, ps->fwd + fl, FWD_MAX - (size_t)fl);
	if (fl < 0 || pl < 0)
		goto fail;
	ps->suffix_off = (uint32_t)fl;
	ps->fwd_len = (uint32_t)(fl + pl);
	const struct config_route *route = rq->route.active ? rq->route.route : NULL;
	const char *t = hmsg_ptr(&ps->req, ps->req.target);
	size_t tlen = ps->req.target.len;
	if (route && route->cache_key == KEY_FROM_REWRITTEN && rq->route.rewritten) {
		t = rq->route.target;
		tlen = rq->route.target_len;
	}
	int kl =
	    cache_key_under(cfg, rule, host, hlen, t, tlen, ps->key, KEY_MAX, &ps->key_host_len);
	if (kl < 0)
		goto fail;
	ps->key_len = (uint32_t)kl;
	rq->post = ps;
	return true;
fail:
	free(ps->head);
	free(ps->fields);
	free(ps->key);
	free(ps->fwd);
	ps->magic = 0;
	return false;
}

/* The response's one Content-Location, NUL-terminated (malloc'd), or NULL. */
static char *content_location(const struct hmsg *resp)
{
	const struct hfield *f = hmsg_field(resp, "content-location", 0);
	if (!f || hmsg_field(resp, "content-location", 1) || f->value.len == 0)
		return NULL;
	const char *v = hmsg_ptr(resp, f->value);
	if (memchr(v, '\0', f->value.len))
		return NULL;
	char *s = malloc(f->value.len + 1);
	if (s) {
		memcpy(s, v, f->value.len);
		s[f->value.len] = '\0';
	}
	return s;
}

bool poststore_head(struct poststore *ps, const struct hmsg *resp, int64_t request_ms,
		    int64_t response_ms)
{
	CHECK_OBJ_NOTNULL(ps, POSTSTORE_MAGIC);
	struct req *rq = ps->rq;
	struct store *st = rq->w->sh->store;
	const struct config *cfg = rq->gen->cfg;
	char *cloc = content_location(resp);
	bool same =
	    cloc && cache_uri_is_target(rq, ps->host, ps->hlen, hmsg_ptr(&ps->req, ps->req.target),
					ps->req.target.len, cloc);
	free(cloc);
	if (!same)
		return false;
	struct resp_meta rm;
	policy_meta_from_response(resp, request_ms, response_ms, &rm);
	enum storable why = policy_storable_post(&ps->meta, &rm, &ps->knobs);
	if (why != STORE_OK) {
		log_debug("client %s: %s: POST response not stored: %s", rq->peer, rq->target_log,
			  policy_storable_name(why));
		return false;
	}
	if (hmsg_has_length(resp) && hmsg_content_length(resp) > ps->max_object_size)
		return false;
	/* Filled unpublished, published when complete (poststore_done): a
	 * GET never waits on how fast the POST's client reads, and one that
	 * comes before the publish misses as it would without the POST. */
	struct cobj *o = cobj_new(st);
	uint32_t cap = cfg->limits.max_header_size + 1024;
	char *scratch = malloc(cap);
	if (!o || !scratch ||
	    fetch_fill_head(o, &ps->req, resp, &rm, &ps->knobs, ps->fwd + ps->suffix_off,
			    ps->fwd_len - ps->suffix_off, scratch, cap) < 0) {
		free(scratch);
		cobj_release(&o);
		return false;
	}
	free(scratch);
	ps->obj = o;
	return true;
}

/* Give up the copy (it is nobody's but ours: never published). */
static void drop_copy(struct poststore *ps)
{
	cbody_finish(ps->obj->body, false);
	cobj_release(&ps->obj);
}

void poststore_body(struct poststore *ps, const char *p, size_t n)
{
	CHECK_OBJ_NOTNULL(ps, POSTSTORE_MAGIC);
	struct cobj *o = ps->obj;
	if (!o || n == 0 || ps->complete)
		return;
	/* Too big (it did not say so in advance) or no memory: not stored. */
	if (o->body->len + n > ps->max_object_size ||
	    cbody_append(o->body, p, n, o->clen > 0 ? (uint64_t)o->clen : 0) < 0)
		drop_copy(ps);
}

void poststore_done(struct poststore *ps)
{
	CHECK_OBJ_NOTNULL(ps, POSTSTORE_MAGIC);
	if (ps->complete)
		return;
	ps->complete = true;
	struct cobj *o = ps->obj;
	if (!o)
		return;
	cbody_finish(o->body, true);
	/* The GET key's fetch, claimed without waiting: if a GET is being
	 * fetched for it now, that one stores its own response, and a fresh
	 * one stored since the POST's invalidation is newer than ours. The
	 * invalidation came at the response head, before this: it cannot
	 * remove the copy. */
	struct store *st = ps->rq->w->sh->store;
	struct req_meta get = ps->meta;
	get.method = HTTP_GET;
	struct lookup_req lr = {
	    .key = ps->key,
	    .key_len = ps->key_len,
	    .host_len = ps->key_host_len,
	    .req = &ps->req,
	    .fwd_key = ps->fwd,
	    .fwd_len = ps->fwd_len,
	    .rq = &get,
	    .now = (int64_t)time(NULL),
	    .wait_deadline = rt_clock_now(),
	};
	struct lookup_res res;
	if (store_lookup(st, &lr, &res) < 0 || !res.oh) {
		cobj_release(&res.obj);
		cobj_release(&ps->obj);
		return;
	}
	cobj_release(&res.obj); /* a stale copy: replaced by ours */
	store_publish(st, res.oh, o);
	METRIC_INC(&ps->rq->w->metrics, cache_stored);
	cobj_release(&ps->obj);
}

void poststore_end(struct poststore *ps)
{
	CHECK_OBJ_NOTNULL(ps, POSTSTORE_MAGIC);
	if (ps->obj) /* the body did not end: the copy is never published */
		drop_copy(ps);
	ps->rq->post = NULL;
	free(ps->head);
	free(ps->fields);
	free(ps->key);
	free(ps->fwd);
	FINI_OBJ(ps);
}
