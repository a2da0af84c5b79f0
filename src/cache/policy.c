/* policy.c - RFC 9111 storability, freshness, age and reuse decisions. */
#include "cache/policy.h"

#include <string.h>
#include <strings.h>

#include "http/date.h"
#include "http/sfv.h"

static void parse_cc_fields(const struct hmsg *m, const char *name, struct cache_control *cc)
{
	cc_init(cc);
	for (uint32_t i = 0; i < m->n_fields; i++) {
		const struct hfield *f = &m->fields[i];
		if (hspan_ieq(m, f->name, name))
			cc_parse(cc, hmsg_ptr(m, f->value), f->value.len);
	}
}

/* CDN-Cache-Control (RFC 9213): the field lines joined with ", " (RFC 8941
 * 4.2) and parsed as one Dictionary. Returns false when absent or invalid
 * (a field too long for the buffer counts as invalid). */
static bool parse_cdn_cc(const struct hmsg *m, struct cache_control *cc)
{
	char buf[4096];
	size_t len = 0;
	bool present = false;
	cc_init(cc);
	for (uint32_t i = 0; i < m->n_fields; i++) {
		const struct hfield *f = &m->fields[i];
		if (!hspan_ieq(m, f->name, "cdn-cache-control"))
			continue;
		present = true;
		if (!sfv_join(buf, sizeof(buf), &len, hmsg_ptr(m, f->value), f->value.len))
			return false;
	}
	return present && cc_parse_sf(cc, buf, len);
}

/* Surrogate-Control: directives addressed to a device (";target") are for
 * someone else and skipped; the rest read like Cache-Control. */
static void parse_surrogate(const struct hmsg *m, struct cache_control *cc)
{
	cc_init(cc);
	for (uint32_t i = 0; i < m->n_fields; i++) {
		const struct hfield *f = &m->fields[i];
		if (!hspan_ieq(m, f->name, "surrogate-control"))
			continue;
		const char *p = hmsg_ptr(m, f->value), *end = p + f->value.len;
		while (p < end) {
			const char *comma = memchr(p, ',', (size_t)(end - p));
			const char *e = comma ? comma : end;
			const char *semi = memchr(p, ';', (size_t)(e - p));
			if (!semi) {
				cc_parse(cc, p, (size_t)(e - p));
			} else {
				/* We announce ourselves as "ringcache" in
				 * Surrogate-Capability (see reqhead.c). */
				const char *t = semi + 1;
				while (t < e && (*t == ' ' || *t == '\t'))
					t++;
				size_t tl = (size_t)(e - t);
				while (tl && (t[tl - 1] == ' ' || t[tl - 1] == '\t'))
					tl--;
				if (tl == 9 && strncasecmp(t, "ringcache", 9) == 0)
					cc_parse(cc, p, (size_t)(semi - p));
			}
			p = e + 1;
		}
	}
}

void policy_req_meta(const struct hmsg *req, struct req_meta *rq)
{
	memset(rq, 0, sizeof(*rq));
	rq->method = hmsg_method(req);
	/* One pass for the four fields every lookup asks about. */
	const struct hfield *pragma = NULL;
	cc_init(&rq->cc);
	for (uint32_t i = 0; i < req->n_fields; i++) {
		const struct hfield *f = &req->fields[i];
		if (hspan_ieq(req, f->name, "cache-control"))
			cc_parse(&rq->cc, hmsg_ptr(req, f->value), f->value.len);
		else if (hspan_ieq(req, f->name, "cookie"))
			rq->has_cookie = true;
		else if (hspan_ieq(req, f->name, "authorization"))
			rq->has_authorization = true;
		else if (!pragma && hspan_ieq(req, f->name, "pragma"))
			pragma = f;
	}
	if (!rq->cc.present && pragma)
		rq->pragma_no_cache =
		    cc_pragma_no_cache(hmsg_ptr(req, pragma->value), pragma->value.len);
}

static int64_t date_field(const struct hmsg *m, const char *name, int64_t now, bool *present)
{
	const struct hfield *f = hmsg_field(m, name, 0);
	int64_t t;
	*present = f != NULL;
	/* More than one is as good as an invalid one. */
	if (!f || hmsg_field(m, name, 1))
		return POLICY_NONE;
	if (!http_date_parse(hmsg_ptr(m, f->value), f->value.len, now, &t))
		return POLICY_NONE;
	return t;
}

void policy_meta_from_response(const struct hmsg *m, int64_t request_ms, int64_t response_ms,
			       struct resp_meta *rm)
{
	memset(rm, 0, sizeof(*rm));
	rm->status = hmsg_status(m);
	rm->request_time = request_ms / 1000;
	rm->response_time = response_ms / 1000;
	rm->response_delay_ms = response_ms > request_ms ? response_ms - request_ms : 0;
	int64_t response_time = rm->response_time;

	/* RFC 9213: a cache that honours a targeted field ignores
	 * Cache-Control when the targeted field is present and valid. */
	struct cache_control cdn, sc;
	bool cdn_valid = parse_cdn_cc(m, &cdn);
	parse_surrogate(m, &sc);
	if (cdn_valid && (cdn.flags || cdn.delta[CC_MAX_AGE] != CC_UNSET ||
			  cdn.delta[CC_S_MAXAGE] != CC_UNSET)) {
		rm->cc = cdn;
		rm->cdn_cc = true;
	} else if (sc.present && (sc.flags || sc.delta[CC_MAX_AGE] != CC_UNSET)) {
		/* Surrogate-Control (Edge Architecture 1.0) targets surrogates
		 * like ringcache; it ranks below the standard CDN-Cache-Control. */
		rm->cc = sc;
		rm->cdn_cc = true;
	} else {
		parse_cc_fields(m, "cache-control", &rm->cc);
	}

	bool present;
	rm->date = date_field(m, "date", response_time, &present);
	if (rm->date == POLICY_NONE)
		rm->date = response_time; /* RFC 9110 6.6.1: a recipient may add Date */
	rm->expires = date_field(m, "expires", response_time, &present);
	if (present && rm->expires == POLICY_NONE)
		rm->expires = rm->date - 1; /* invalid Expires means already expired (5.3) */
	rm->last_modified = date_field(m, "last-modified", response_time, &present);

	/* Age is a list spread over any number of field lines: the first
	 * member counts and an invalid one is ignored (RFC 9111 5.1), so the
	 * response is fresh or stale by its other fields, not "very old". */
	const struct hfield *age;
	for (unsigned i = 0; (age = hmsg_field(m, "age", i)) != NULL; i++) {
		int64_t a;
		int r = cc_parse_age(hmsg_ptr(m, age->value), age->value.len, &a);
		if (r == 1)
			rm->age = a;
		if (r != 0)
			break;
	}
	rm->has_etag = hmsg_field(m, "etag", 0) != NULL;
	rm->set_cookie = hmsg_field(m, "set-cookie", 0) != NULL;
	for (unsigned i = 0;; i++) {
		const struct hfield *v = hmsg_field(m, "vary", i);
		if (!v)
			break;
		const char *p = hmsg_ptr(m, v->value);
		for (uint32_t j = 0; j < v->value.len; j++) {
			if (p[j] == '*')
				rm->vary_star = true;
		}
	}
}

bool policy_status_understood(int status)
{
	switch (status) {
	case 200:
	case 203:
	case 204:
	case 300:
	case 301:
	case 302:
	case 303:
	case 307:
	case 308:
	case 404:
	case 405:
	case 410:
	case 414:
	case 451:
	case 501:
		return true;
	default:
		return false;
	}
}

bool policy_status_default_cacheable(int status)
{
	switch (status) {
	case 200:
	case 203:
	case 204:
	case 206:
	case 300:
	case 301:
	case 308:
	case 404:
	case 405:
	case 410:
	case 414:
	case 501:
		return true;
	default:
		return false;
	}
}

static bool has_explicit_lifetime(const struct resp_meta *rm)
{
	const struct cache_control *cc = &rm->cc;
	return cc->delta[CC_S_MAXAGE] != CC_UNSET || cc->delta[CC_MAX_AGE] != CC_UNSET ||
	       (cc->invalid & ((1u << CC_MAX_AGE) | (1u << CC_S_MAXAGE))) ||
	       rm->expires != POLICY_NONE;
}

const char *policy_storable_name(enum storable s)
{
	static const char *const names[] = {
	    [STORE_OK] = "stored",
	    [STORE_NO_METHOD] = "method",
	    [STORE_NO_STATUS] = "status",
	    [STORE_NO_STORE] = "no-store",
	    [STORE_PRIVATE] = "private",
	    [STORE_AUTHORIZATION] = "authorization",
	    [STORE_VARY_STAR] = "vary-star",
	    [STORE_SET_COOKIE] = "set-cookie",
	    [STORE_NO_LIFETIME] = "no-lifetime",
	    [STORE_CREDENTIALS] = "credentials",
	    [STORE_NO_EXPLICIT] = "no-explicit-freshness",
	};
	return names[s];
}

enum storable policy_storable(const struct req_meta *rq, const struct resp_meta *rm,
			      const struct policy_knobs *k)
{
	const struct cache_control *cc = &rm->cc;
	if (rq->method != HTTP_GET)
		return STORE_NO_METHOD;
	/* 206 is cacheable by default, but we never ask for ranges and do
	 * not combine partial content. */
	if (rm->status < 200 || rm->status == 206 || rm->status == 304)
		return STORE_NO_STATUS;
	/* must-understand: store only status codes whose caching rules we
	 * implement, and then no-store yields to it (RFC 9111 5.2.2.3). */
	if (cc->flags & CC_MUST_UNDERSTAND) {
		if (!policy_status_understood(rm->status))
			return STORE_NO_STATUS;
	} else if (cc->flags & CC_NO_STORE) {
		return STORE_NO_STORE;
	}
	if (rq->cc.flags & CC_NO_STORE)
		return STORE_NO_STORE;
	if (cc->flags & CC_PRIVATE)
		return STORE_PRIVATE;
	/* RFC 9111 3.5: a shared cache may reuse a response to a request with
	 * Authorization only if it says so explicitly. */
	if (rq->has_authorization && !(cc->flags & (CC_PUBLIC | CC_MUST_REVALIDATE)) &&
	    cc->delta[CC_S_MAXAGE] == CC_UNSET)
		return STORE_AUTHORIZATION;
	if (rm->vary_star)
		return STORE_VARY_STAR;
	bool explicit_ok =
	    has_explicit_lifetime(rm) || (cc->flags & CC_PUBLIC) || k->ttl_override != POLICY_NONE;
	/*
	 * Web cache deception: /account/x.css answered with the account page
	 * and a Last-Modified would be fresh by heuristics and served to
	 * everyone. A response to a request with credentials is kept only
	 * when the origin (or the operator's ttl) says how long, or says
	 * public; never on a heuristic or default lifetime, nor stored stale
	 * to be revalidated with someone else's request.
	 */
	if ((rq->has_cookie || rq->has_authorization) && !explicit_ok &&
	    !k->heuristic_with_credentials)
		return STORE_CREDENTIALS;
	/* RFC 9111 lets a shared cache store Set-Cookie; ringcache does so
	 * only when the origin said explicitly that the response is
	 * cacheable, never on heuristic or default lifetimes. */
	if (rm->set_cookie && !explicit_ok)
		return STORE_SET_COOKIE;
	if (!explicit_ok && !policy_status_default_cacheable(rm->status))
		return STORE_NO_STATUS;
	/* A response that is stale on arrival and cannot be served stale is
	 * still worth storing when it can be revalidated cheaply. */
	if (policy_lifetime(rm, k) <= 0 && !(cc->flags & CC_NO_CACHE) && !rm->has_etag &&
	    rm->last_modified == POLICY_NONE && !explicit_ok)
		return STORE_NO_LIFETIME;
	return STORE_OK;
}

enum storable policy_storable_post(const struct req_meta *rq, const struct resp_meta *rm,
				   const struct policy_knobs *k)
{
	if (rq->method != HTTP_POST)
		return STORE_NO_METHOD;
	/* RFC 9110 9.3.3: "only if they include explicit freshness
	 * information"; an invalid max-age is no information. */
	const struct cache_control *cc = &rm->cc;
	if (cc->invalid & ((1u << CC_MAX_AGE) | (1u << CC_S_MAXAGE)) ||
	    (cc->delta[CC_S_MAXAGE] == CC_UNSET && cc->delta[CC_MAX_AGE] == CC_UNSET &&
	     rm->expires == POLICY_NONE))
		return STORE_NO_EXPLICIT;
	struct req_meta get = *rq;
	get.method = HTTP_GET;
	return policy_storable(&get, rm, k);
}

int64_t policy_lifetime(const struct resp_meta *rm, const struct policy_knobs *k)
{
	const struct cache_control *cc = &rm->cc;
	if (k->ttl_override != POLICY_NONE)
		return k->ttl_override;
	/* An invalid or conflicting max-age / s-maxage makes the response
	 * stale (RFC 9111 4.2.1). */
	if (cc->invalid & (1u << CC_S_MAXAGE))
		return 0;
	if (cc->delta[CC_S_MAXAGE] != CC_UNSET)
		return cc->delta[CC_S_MAXAGE];
	if (cc->invalid & (1u << CC_MAX_AGE))
		return 0;
	if (cc->delta[CC_MAX_AGE] != CC_UNSET)
		return cc->delta[CC_MAX_AGE];
	if (rm->expires != POLICY_NONE) {
		int64_t l = rm->expires - rm->date;
		return l > 0 ? l : 0;
	}
	if (rm->last_modified != POLICY_NONE && policy_status_default_cacheable(rm->status) &&
	    rm->last_modified <= rm->date) {
		int64_t l = (rm->date - rm->last_modified) * (int64_t)k->heuristic_percent / 100;
		return l < k->heuristic_max ? l : k->heuristic_max;
	}
	return k->default_ttl > 0 ? k->default_ttl : 0;
}

int64_t policy_age(const struct resp_meta *rm, int64_t now)
{
	int64_t apparent = rm->response_time - rm->date;
	if (apparent < 0)
		apparent = 0;
	int64_t corrected_age = rm->age + rm->response_delay_ms / 1000;
	int64_t initial = apparent > corrected_age ? apparent : corrected_age;
	int64_t resident = now - rm->response_time;
	if (resident < 0)
		resident = 0;
	return initial + resident;
}

/* Stale use is forbidden (RFC 9111 4.2.4): must-revalidate, and for a
 * shared cache proxy-revalidate and s-maxage (5.2.2.10). */
static bool stale_forbidden(const struct resp_meta *rm)
{
	return (rm->cc.flags & (CC_MUST_REVALIDATE | CC_PROXY_REVALIDATE)) ||
	       rm->cc.delta[CC_S_MAXAGE] != CC_UNSET || (rm->cc.invalid & (1u << CC_S_MAXAGE));
}

enum usable policy_usable(const struct req_meta *rq, const struct resp_meta *rm, int64_t lifetime,
			  bool soft_stale, int64_t now)
{
	const struct cache_control *rcc = &rq->cc;
	/* no-cache (response, unqualified): always validate before reuse. */
	if (rm->cc.flags & CC_NO_CACHE)
		return USE_REVALIDATE;
	if ((rcc->flags & CC_NO_CACHE) || rq->pragma_no_cache)
		return USE_REVALIDATE;
	int64_t age = policy_age(rm, now);
	if (soft_stale && lifetime > age)
		lifetime = age; /* soft purge: exactly stale now */
	if (rcc->delta[CC_MAX_AGE] != CC_UNSET && age > rcc->delta[CC_MAX_AGE])
		return USE_REVALIDATE;
	int64_t fresh_left = lifetime - age;
	if (rcc->delta[CC_MIN_FRESH] != CC_UNSET) {
		if (fresh_left < rcc->delta[CC_MIN_FRESH])
			return USE_REVALIDATE;
	}
	if (fresh_left > 0)
		return USE_FRESH;
	int64_t staleness = -fresh_left;
	if (rm->cc.flags & (CC_MUST_REVALIDATE | CC_PROXY_REVALIDATE))
		return USE_REVALIDATE;
	/* stale-while-revalidate is the origin's own, explicit permission
	 * (RFC 5861), so it holds next to s-maxage; a client's max-stale
	 * does not. */
	int64_t swr = rm->cc.delta[CC_STALE_WHILE_REVALIDATE];
	if (!stale_forbidden(rm) &&
	    ((rcc->flags & CC_MAX_STALE_ANY) ||
	     (rcc->delta[CC_MAX_STALE] != CC_UNSET && staleness <= rcc->delta[CC_MAX_STALE])))
		return USE_STALE_OK;
	if (swr != CC_UNSET && staleness <= swr)
		return USE_STALE_REVALIDATE;
	return USE_REVALIDATE;
}

bool policy_stale_on_error(const struct req_meta *rq, const struct resp_meta *rm, int64_t lifetime,
			   int64_t grace, bool disconnected, int64_t now)
{
	/* no-cache: never used without a successful validation (5.2.2.4). */
	if (rm->cc.flags & CC_NO_CACHE)
		return false;
	int64_t staleness = policy_age(rm, now) - lifetime;
	if (staleness <= 0)
		return true; /* still fresh: not stale at all */
	if (stale_forbidden(rm))
		return false;
	int64_t sie = rm->cc.delta[CC_STALE_IF_ERROR];
	int64_t rsie = rq->cc.delta[CC_STALE_IF_ERROR];
	if (sie != CC_UNSET && staleness <= sie)
		return true;
	if (rsie != CC_UNSET && staleness <= rsie)
		return true;
	return disconnected && staleness <= grace;
}

bool policy_not_modified_since(const struct hmsg *req, const struct resp_meta *rm, int64_t now)
{
	unsigned method = hmsg_method(req);
	if (method != HTTP_GET && method != HTTP_HEAD)
		return false;
	const struct hfield *f = hmsg_field(req, "if-modified-since", 0);
	int64_t since;
	if (!f || hmsg_field(req, "if-modified-since", 1) ||
	    !http_date_parse(hmsg_ptr(req, f->value), f->value.len, now, &since))
		return false;
	/* rm->date is already the time of receipt when there was no valid
	 * Date, which is what 4.3.2 falls back to last. */
	int64_t lm = rm->last_modified != POLICY_NONE ? rm->last_modified : rm->date;
	return lm <= since;
}
