/*
 * cache_path.h - answer one client request through the cache.
 *
 * Looks the request up, serves hits (fresh, stale-while-revalidate with a
 * background refresh, max-stale), starts or joins fetches for misses,
 * passes what must not be cached (request bodies, hit-for-miss, bypass
 * rules) straight to the backend, and invalidates stored responses after
 * successful unsafe requests. Every response on this path carries an
 * RFC 9211 Cache-Status; responses from the cache carry Age.
 */
#ifndef RINGCACHE_SERVE_CACHEPATH_H
#define RINGCACHE_SERVE_CACHEPATH_H

#include "serve/conn.h"
#include "serve/pass.h"

enum upstream_result cache_handle(struct client *c);

/* RFC 9111 4.4: a non-error response to an unsafe method invalidates the
 * target URI and the same-origin Location / Content-Location (taken from
 * c->req_target, c->loc, c->cloc). */
void cache_invalidate_after_unsafe(struct client *c, const char *host, size_t hlen);

/* The primary cache key (cache/key.h) of HOST and TARGET under the key
 * options of the rule they match, or cache.key. Exposed for the admin
 * purge, which must find what lookups stored. */
int cache_key_for(const struct config *cfg, const char *host, size_t hlen, const char *target,
		  size_t tlen, char *out, size_t cap, uint32_t *host_len);

#endif
