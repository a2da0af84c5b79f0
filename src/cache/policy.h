/*
 * policy.h - RFC 9111 decisions as pure functions of parsed headers and
 * `now` (Unix seconds), so every rule is unit-testable without sleeping.
 *
 * The fetch path fills a struct resp_meta from the response head once
 * (policy_meta_from_response) and keeps it with the stored object; the
 * lookup path asks policy_usable() whether a stored response may answer a
 * request, and the store path asks policy_storable() whether to keep it.
 */
#ifndef RINGCACHE_CACHE_POLICY_H
#define RINGCACHE_CACHE_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "cache/cc.h"
#include "http/msg.h"

#define POLICY_NONE INT64_MIN

/* What policy needs to know about the request. */
struct req_meta {
	unsigned method; /* llhttp method */
	bool has_authorization;
	bool has_cookie;
	bool pragma_no_cache; /* Pragma: no-cache and no Cache-Control */
	struct cache_control cc;
};

/* Freshness-relevant facts about a response, fixed when it is received. */
struct resp_meta {
	int status;
	struct cache_control
	    cc; /* the effective directives: CDN-Cache-Control if present, else Cache-Control */
	bool cdn_cc;		   /* cc came from CDN-Cache-Control */
	int64_t date;		   /* Date, or response_time when absent/invalid */
	int64_t expires;	   /* POLICY_NONE absent; invalid -> date - 1 (already expired) */
	int64_t last_modified;	   /* POLICY_NONE absent */
	int64_t age;		   /* Age received, 0 when absent or invalid */
	int64_t request_time;	   /* when the request was sent */
	int64_t response_time;	   /* when the response head arrived */
	int64_t response_delay_ms; /* response_time - request_time, precisely */
	bool has_etag;
	bool vary_star;
	bool set_cookie;
};

/* Per-request rule and config knobs policy applies. */
struct policy_knobs {
	int64_t ttl_override; /* seconds, or POLICY_NONE */
	int64_t default_ttl;  /* seconds when the response gives no lifetime; 0 = none */
	uint32_t heuristic_percent;
	int64_t heuristic_max;		 /* seconds */
	int64_t grace;			 /* seconds of stale serving when the backend fails */
	bool heuristic_with_credentials; /* see STORE_CREDENTIALS */
};

void policy_req_meta(const struct hmsg *req, struct req_meta *rq);

/* Parse the response head M received for a request sent at REQUEST_MS
 * whose head arrived at RESPONSE_MS (Unix milliseconds: the response delay
 * added to a received Age must not be rounded up to a whole second). */
void policy_meta_from_response(const struct hmsg *m, int64_t request_ms, int64_t response_ms,
			       struct resp_meta *rm);

enum storable {
	STORE_OK = 0,
	STORE_NO_METHOD,     /* not GET */
	STORE_NO_STATUS,     /* not a final status we may store */
	STORE_NO_STORE,	     /* no-store in request or response */
	STORE_PRIVATE,	     /* private (unqualified) */
	STORE_AUTHORIZATION, /* request had Authorization, response did not allow sharing */
	STORE_VARY_STAR,
	STORE_SET_COOKIE,  /* shared caches do not store per-user cookies (ringcache rule) */
	STORE_NO_LIFETIME, /* no explicit or heuristic lifetime and no default ttl */
	STORE_CREDENTIALS, /* the request had Cookie or Authorization and the response
			    * gives no explicit freshness and is not public (ringcache
			    * rule, unless heuristic_with_credentials) */
	STORE_NO_EXPLICIT, /* a POST response without explicit freshness (RFC 9110 9.3.3) */
};

const char *policy_storable_name(enum storable s);

enum storable policy_storable(const struct req_meta *rq, const struct resp_meta *rm,
			      const struct policy_knobs *k);

/*
 * May the response RM to the POST request RQ be stored as the response to
 * a GET of its target (RFC 9110 9.3.3, RFC 9111 3)? Only with explicit
 * freshness of its own (max-age, s-maxage or Expires: not a heuristic, a
 * default or a rule's ttl), and then by the rules a GET's response meets
 * (policy_storable). That its Content-Location is the target URI is the
 * caller's check (it is a matter of cache keys).
 */
enum storable policy_storable_post(const struct req_meta *rq, const struct resp_meta *rm,
				   const struct policy_knobs *k);

/* Freshness lifetime in seconds (RFC 9111 4.2.1, then heuristics 4.2.2,
 * then the configured default); the rule's ttl override wins. May be 0. */
int64_t policy_lifetime(const struct resp_meta *rm, const struct policy_knobs *k);

/* current_age (RFC 9111 4.2.3), seconds, never negative. */
int64_t policy_age(const struct resp_meta *rm, int64_t now);

enum usable {
	USE_FRESH,	      /* serve it */
	USE_STALE_OK,	      /* stale but the request accepts it (max-stale) */
	USE_STALE_REVALIDATE, /* stale within stale-while-revalidate: serve it, refresh in the
				 background */
	USE_REVALIDATE,	      /* must be validated with the origin before use */
};

/*
 * May the stored response RM (with LIFETIME seconds) answer request RQ at
 * NOW? SOFT_STALE marks an object invalidated softly (tag purge), which is
 * then treated as stale.
 */
enum usable policy_usable(const struct req_meta *rq, const struct resp_meta *rm, int64_t lifetime,
			  bool soft_stale, int64_t now);

/*
 * After a failed fetch may this stale response be served instead?
 * DISCONNECTED: the origin could not be reached or gave no usable response
 * (connect error, reset, close, timeout): RFC 9111 4.2.4 lets a
 * disconnected cache serve stale, so the configured GRACE applies. An
 * origin that answered with a 5xx is not disconnected: only stale-if-error
 * (RFC 5861 4, in the response or the request) allows stale then.
 */
bool policy_stale_on_error(const struct req_meta *rq, const struct resp_meta *rm, int64_t lifetime,
			   int64_t grace, bool disconnected, int64_t now);

/*
 * Does the If-Modified-Since of REQ (a GET or HEAD the cache answers, with
 * no If-None-Match: that one takes precedence, RFC 9110 13.2.2) find the
 * stored response RM unmodified, so that 304 is the answer? Compared with
 * RM's Last-Modified, else its Date, else the time it was received (RFC
 * 9111 4.3.2). An invalid date or a list of them is ignored (RFC 9110
 * 13.1.3): false.
 */
bool policy_not_modified_since(const struct hmsg *req, const struct resp_meta *rm, int64_t now);

/* Status codes whose caching rules ringcache implements (must-understand). */
bool policy_status_understood(int status);

/* Is STATUS cacheable by default / heuristically (RFC 9110 15.1)? */
bool policy_status_default_cacheable(int status);

#endif
