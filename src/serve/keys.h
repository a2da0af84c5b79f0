/*
 * keys.h - the cache keys of requests.
 *
 * The primary key (cache/key.h) under the key options of the rule a
 * request matches (or cache.key), for lookups, the admin purge and
 * invalidation alike, so that each finds what the others stored; and the
 * invalidation an unsafe request makes once its response is known.
 */
#ifndef RINGCACHE_SERVE_KEYS_H
#define RINGCACHE_SERVE_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "serve/req.h"

/* RFC 9111 4.4: a non-error response to an unsafe method invalidates the
 * target URI and the same-origin Location / Content-Location (taken from
 * rq->req_target, rq->loc, rq->cloc). */
void cache_invalidate_after_unsafe(struct req *rq, const char *host, size_t hlen);

/* Is URI (a NUL-terminated Content-Location) the target URI of request
 * RQ, TARGET on HOST, compared as cache keys are (RFC 9110 4.2.3: the path
 * form, the same-host absolute form and a relative reference resolved
 * against TARGET alike)? Under the key options of the rule of the
 * request's route; another host, or a reference with dot segments or a
 * fragment, is not. */
bool cache_uri_is_target(struct req *rq, const char *host, size_t hlen, const char *target,
			 size_t tlen, const char *uri);

/* The primary cache key (cache/key.h) of HOST and TARGET under the key
 * options of the rule they match, or cache.key. Exposed for the admin
 * purge, which must find what lookups stored. */
int cache_key_for(const struct config *cfg, const char *host, size_t hlen, const char *target,
		  size_t tlen, char *out, size_t cap, uint32_t *host_len);

/* The same under RULE's key options (NULL: cache.key): a request's route
 * may have a rule of its own (routes[].cache). */
int cache_key_under(const struct config *cfg, const struct config_rule *rule, const char *host,
		    size_t hlen, const char *target, size_t tlen, char *out, size_t cap,
		    uint32_t *host_len);

#endif
