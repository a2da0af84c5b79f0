/* routing.c - the route a request takes, made concrete (routing.h). */
#include "serve/routing.h"
#include "rt/obj.h"

#include <llhttp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "cache/key.h"
#include "http/hbuf.h"
#include "http/path.h"
#include "http/template.h"
#include "ops/log.h"
#include "route/ratelimit.h"
#include "rt/clock.h"
#include "serve/respond.h"
#include "serve/rules.h"

/* ---- answers --------------------------------------------------------------- */

static int answer_redirect(struct req *r, const struct config_route *rt)
{
	const char *loc;
	size_t ll;
	if (rules_expand(r, rt->location, &loc, &ll) < 0)
		return respond_error(r, 500, "redirect Location does not fit", true);
	struct hedits e;
	hedits_init(&e);
	hedits_add(&e, "Location", 8, loc, ll);
	return respond_page(r, rt->redirect_status, NULL, "", 0, &e, true, "redirect");
}

static int answer_respond(struct req *r, const struct config_route *rt)
{
	struct hedits e;
	hedits_init(&e);
	for (size_t i = 0; i < rt->respond_headers.n; i++) {
		const char *v;
		size_t vl;
		if (rules_expand(r, rt->respond_headers.v[i].value, &v, &vl) < 0)
			return respond_error(r, 500, "respond header does not fit", true);
		const char *name = rt->respond_headers.v[i].name;
		hedits_set(&e, name, strlen(name), v, vl);
	}
	return respond_page(r, rt->respond_status, rt->content_type, rt->body ? rt->body : "",
			    rt->body_len, &e, true, "respond");
}

/* ---- rate limits --------------------------------------------------------------- */

/* A token for R's client on route RT, or a 429 with Retry-After sent. */
static bool routing_rate_ok(struct req *r, const struct config_route *rt)
{
	struct ratelimit *rl = r->w->sh->ratelimit;
	if (!rl)
		return true;
	uint8_t key[20];
	uint16_t idx = (uint16_t)r->route.index;
	memcpy(key, &idx, 2);
	size_t kl = 2;
	const struct sockaddr_storage *sa = &r->client_sa;
	if (sa->ss_family == AF_INET) {
		memcpy(key + 2, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		kl += 4;
	} else {
		/* An IPv6 client owns its /64 (a host picks any address in it):
		 * keyed per address, it could take a fresh burst per request. */
		const uint8_t *a6 = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		if (!memcmp(a6, v4mapped, 12)) {
			memcpy(key + 2, a6 + 12, 4);
			kl += 4;
		} else {
			memcpy(key + 2, a6, 8);
			kl += 8;
		}
	}
	double rate = rt->rate_limit.rate;
	double burst = rt->rate_limit.burst ? rt->rate_limit.burst : rt->rate_limit.rate;
	uint64_t wait_ns = 0;
	if (ratelimit_take(rl, key, kl, rate, burst, rt_clock_now(), &wait_ns))
		return true;
	METRIC_INC(&r->w->metrics, rate_limited);
	char secs[24];
	int sl = snprintf(secs, sizeof(secs), "%llu",
			  (unsigned long long)((wait_ns + 999999999ull) / 1000000000ull));
	struct hedits e;
	hedits_init(&e);
	hedits_add(&e, "Retry-After", 11, secs, (size_t)sl);
	static const char body[] = "429 Too Many Requests\n";
	const struct config_error_page *pg = rules_error_page(r, 429);
	if (pg)
		respond_page(r, 429, pg->content_type, pg->body, pg->body_len, &e, true, "limited");
	else
		respond_page(r, 429, "text/plain", body, sizeof(body) - 1, &e, true, "limited");
	return false;
}

/* ---- the decision ------------------------------------------------------------ */

/* The rewritten path of R under RT into rt->target (with the query). */
static int rewrite(struct req *r, const struct config_route *rt)
{
	struct req_route *q = &r->route;
	const struct hmsg *m = &r->req;
	const char *target = hmsg_ptr(m, m->target);
	const char *qs = memchr(target, '?', m->target.len);
	size_t qlen = qs ? m->target.len - (size_t)(qs - target) : 0;
	struct hbuf b;
	hbuf_init(&b, q->target, sizeof(q->target));
	const char *p = q->path;
	size_t pl = q->path_len;
	if (rt->rewrite.strip_prefix) {
		size_t sl = strlen(rt->rewrite.strip_prefix);
		if (pl >= sl && !memcmp(p, rt->rewrite.strip_prefix, sl)) {
			p += sl;
			pl -= sl;
		}
		if (!pl || p[0] != '/')
			hbuf_put(&b, "/", 1); /* "/api" stripped from "/api/x" or "/api" */
		hbuf_put(&b, p, pl);
	} else {
		struct tvalue caps[ROUTE_CAPS];
		unsigned n = route_regex_run(&rt->rewrite.regex, p, pl, r->w->route, caps);
		if (!n) {
			hbuf_put(&b, p, pl); /* no match: the path as it is */
		} else {
			/* The path around the match stays; the match is replaced. */
			struct tvalue v[TVAR__N];
			rules_values(r, rt->rewrite.replace, v);
			hbuf_put(&b, p, (size_t)(caps[0].p - p));
			if (template_expand(rt->rewrite.replace, &b, v, caps, n) < 0)
				return -1;
			const char *after = caps[0].p + caps[0].len;
			hbuf_put(&b, after, (size_t)(p + pl - after));
		}
	}
	hbuf_put(&b, qs ? qs : "", qlen);
	if (b.overflow || !b.len || q->target[0] != '/')
		return -1;
	q->target_len = b.len;
	q->rewritten = true;
	return 0;
}

int routing_decide(struct req *r, enum req_result *res)
{
	CHECK_OBJ_NOTNULL(r, REQ_MAGIC);
	const struct config *cfg = r->gen->cfg;
	struct req_route *q = &r->route;
	q->active = false;
	if (!cfg->n_routes && !rules_any(&cfg->req_headers) && !rules_any(&cfg->resp_headers) &&
	    !cfg->error_pages.n)
		return 0;
	const struct hmsg *m = &r->req;
	if (cfg->n_routes && !r->w->route) {
		respond_error(r, 503, "no memory for route matching", true);
		*res = r->closing ? REQ_ERRORED : REQ_DONE;
		return 1;
	}
	q->active = true;
	q->route = NULL;
	q->index = -1;
	q->backend = 0;
	q->n_caps = 0;
	q->rewritten = false;
	q->send_host = NULL;
	q->resp_ready = false;
	q->request_id[0] = '\0';
	q->vals_used = 0;
	hedits_init(&q->req_edits);
	hedits_init(&q->resp_edits);

	const struct hfield *hf = hmsg_field(m, "host", 0);
	const char *host = hf ? hmsg_ptr(m, hf->value) : "";
	size_t hl = hf ? cache_key_host_len(host, hf->value.len) : 0;
	if (hl >= sizeof(q->host))
		hl = sizeof(q->host) - 1; /* Host is validated; a longer one is absurd */
	for (size_t i = 0; i < hl; i++) {
		char c = host[i];
		q->host[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	q->host[hl] = '\0';
	q->host_len = hl;
	const char *target = hmsg_ptr(m, m->target);
	const char *qs = memchr(target, '?', m->target.len);
	size_t plen = qs ? (size_t)(qs - target) : m->target.len;
	long nl = target[0] == '*' ? 0 : path_normalize(target, plen, q->path, sizeof(q->path) - 1);
	if (nl == -1) {
		respond_error(
		    r, 400, "path cannot be normalised (a dot segment, or bad %-encoding)", false);
		*res = REQ_ERRORED;
		return 1;
	}
	if (nl < 0) {
		respond_error(r, 414, "path too long to route", false);
		*res = REQ_ERRORED;
		return 1;
	}
	q->path_len = (size_t)nl;
	q->path[nl] = '\0';
	q->target_len = 0; /* only a rewrite makes one */

	/* An allowed PURGE is routed as the GET it purges would be, and
	 * answered by the cache path (cachepath.c), not by the route. */
	const bool purging = hmsg_method(m) == HTTP_PURGE && cfg->cache.purge_allow.n;
	struct route_req rq = {
	    .m = m,
	    .method = purging ? HTTP_GET : hmsg_method(m),
	    .host = q->host,
	    .host_len = q->host_len,
	    .path = q->path,
	    .path_len = q->path_len,
	    .query = qs ? qs + 1 : NULL,
	    .query_len = qs ? m->target.len - plen - 1 : 0,
	    .client = (const struct sockaddr *)&r->client_sa,
	};
	struct route_match mt;
	const struct config_route *rt =
	    cfg->n_routes ? route_find(cfg, &rq, r->w->route, &mt) : NULL;
	if (rt) {
		METRIC_INC(&r->w->metrics, routed);
		q->route = rt;
		q->index = (int)(rt - cfg->routes);
		memcpy(q->caps, mt.caps, sizeof(q->caps));
		q->n_caps = mt.n_caps;
	}
	if (rt && purging) {
		q->backend = rt->kind == ROUTE_BACKEND ? rt->backend : 0;
		return 0;
	}
	if (rt && rt->rate_given && !routing_rate_ok(r, rt)) {
		*res = REQ_DONE;
		return 1;
	}
	if (rt && rt->kind != ROUTE_BACKEND) {
		int e;
		switch (rt->kind) {
		case ROUTE_REDIRECT:
			e = answer_redirect(r, rt);
			break;
		case ROUTE_RESPOND:
			e = answer_respond(r, rt);
			break;
		default:
			r->cache_word = "deny";
			e = respond_error(r, rt->deny_status, "denied by route", true);
			break;
		}
		*res = e < 0 ? REQ_ABORT : r->closing ? REQ_ERRORED : REQ_DONE;
		return 1;
	}
	if (rt) {
		q->backend = rt->backend;
		q->send_host = rt->backend_host;
		if ((rt->rewrite.strip_prefix || rt->rewrite.regex.re) && rewrite(r, rt) < 0) {
			respond_error(r, 414, "rewritten path does not fit", true);
			*res = r->closing ? REQ_ERRORED : REQ_DONE;
			return 1;
		}
	}
	if ((!rt || rt->headers_inherit) && rules_apply(r, &cfg->req_headers, &q->req_edits) < 0)
		goto too_many;
	if (rt && rules_apply(r, &rt->req_headers, &q->req_edits) < 0)
		goto too_many;
	return 0;
too_many:
	respond_error(r, 500, "request header rules do not fit", true);
	*res = r->closing ? REQ_ERRORED : REQ_DONE;
	return 1;
}

void routing_forward_opts(const struct req *r, struct forward_head_opts *o)
{
	const struct req_route *q = &r->route;
	if (!q->active)
		return;
	if (q->rewritten) {
		o->target = q->target;
		o->target_len = q->target_len;
	}
	if (q->send_host) {
		o->host = q->send_host;
		o->host_len = strlen(q->send_host);
	}
	if (!hedits_empty(&q->req_edits))
		o->edits = &q->req_edits;
}

void routing_timeouts(const struct req *r, uint64_t *connect_ns, uint64_t *first_byte_ns,
		      uint64_t *between_bytes_ns)
{
	const struct config_route *rt = r->route.active ? r->route.route : NULL;
	*connect_ns = rt && rt->timeouts.connect_ns > 0 ? (uint64_t)rt->timeouts.connect_ns : 0;
	*first_byte_ns =
	    rt && rt->timeouts.first_byte_ns > 0 ? (uint64_t)rt->timeouts.first_byte_ns : 0;
	*between_bytes_ns =
	    rt && rt->timeouts.between_bytes_ns > 0 ? (uint64_t)rt->timeouts.between_bytes_ns : 0;
}

int routing_key_part(const struct req *r, char *out, size_t cap)
{
	const struct req_route *q = &r->route;
	if (!q->active || !q->route)
		return 0;
	const struct config_route *rt = q->route;
	struct hbuf b;
	hbuf_init(&b, out, cap);
	if (q->backend) {
		hbuf_puts(&b, "\nb=");
		hbuf_put_u64(&b, q->backend);
	}
	if (q->rewritten && rt->cache_key == KEY_FROM_ORIGINAL) {
		hbuf_puts(&b, "\nt=");
		hbuf_put(&b, q->target, q->target_len);
	}
	if (q->send_host) {
		hbuf_puts(&b, "\nh=");
		hbuf_puts(&b, q->send_host);
	}
	return b.overflow ? -1 : (int)b.len;
}
