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

#include "serve/req.h"
#include "serve/pass.h"

enum req_result cache_handle(struct req *rq);

#endif
