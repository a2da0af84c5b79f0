/*
 * routing.h - the route a request takes (route/match.h) made concrete
 * for one request: answered at once (redirect, respond, deny, rate
 * limit), or given its backend, the path and Host the backend gets, and
 * the header rules of the way in and out (routing.c).
 *
 * The order, after the head's checks and before the cache: normalise the
 * path, find the route, check its rate limit, answer a redirect / respond
 * / deny route, else work out the request's edits (global rules first
 * unless the route says headers_inherit: false, then the route's) and the
 * rewrite. The cache key is the client's target (normalised only by the
 * key options), not the rewritten one, unless the route says cache_key:
 * rewritten; the route's index is part of the object's secondary key, so
 * two routes that send one URL to different places never share a copy.
 */
#ifndef RINGCACHE_SERVE_ROUTING_H
#define RINGCACHE_SERVE_ROUTING_H

#include <stdbool.h>

#include "config/config.h"
#include "http/edits.h"
#include "http/forward.h"
#include "serve/req.h"

/* Route R (its head checked and cleaned). 0: go on to the cache path;
 * 1: R was answered, *RES says how. */
int routing_decide(struct req *r, enum req_result *res);

/* The head R's backend exchange sends: the rewritten target, the Host
 * and the request header rules, into O (left alone without routing). */
void routing_forward_opts(const struct req *r, struct forward_head_opts *o);

/* The route's deadlines for R's exchange (0: the backend's). */
void routing_timeouts(const struct req *r, uint64_t *connect_ns, uint64_t *first_byte_ns,
		      uint64_t *between_bytes_ns);

/*
 * What makes the response to R differ from the same URL's without the
 * route, for the object's secondary key, into OUT: the backend (when not
 * the first), the rewritten target (when the key is the client's), the
 * Host sent. Empty when the route forwards the request as sent to the
 * first backend, so that such objects are shared with requests no route
 * matched; two routes that forward alike share too (header rules are not
 * in it: like Vary, they would need the backend to say so). Its length, or
 * -1 when it does not fit.
 */
int routing_key_part(const struct req *r, char *out, size_t cap);

#endif
