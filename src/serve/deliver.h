/*
 * deliver.h - send a cache object (stored, being filled, or a private pipe)
 * to a client: conditional requests (304), ranges (206/416), HEAD, Age and
 * Cache-Status, and the body streamed as it arrives.
 */
#ifndef RINGCACHE_SERVE_DELIVER_H
#define RINGCACHE_SERVE_DELIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "cache/store.h"
#include "serve/req.h"

struct deliver_opts {
	const char *cache_status; /* Cache-Status value */
	bool pipe;		  /* O is a private pipe: free what was sent */
	bool from_cache;	  /* evaluate conditionals and ranges, add Age */
	int64_t now;		  /* Unix seconds */
};

enum req_result deliver_object(struct req *rq, struct cobj *o, const struct deliver_opts *d);

/* Whether partial object O (store.h) answers request REQ (a struct hmsg)
 * by itself: a GET whose one Range field, with no If-Range, resolves
 * against the complete length to ranges inside what O holds, or to none
 * (416). The store's lookup_req.fits; pure. */
bool deliver_fits(const struct cobj *o, const void *req);

#endif
