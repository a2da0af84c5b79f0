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
#include "serve/pass.h"

struct deliver_opts {
	const char *cache_status; /* Cache-Status value */
	bool pipe;		  /* O is a private pipe: free what was sent */
	bool from_cache;	  /* evaluate conditionals and ranges, add Age */
	int64_t now;		  /* Unix seconds */
};

enum req_result deliver_object(struct req *rq, struct cobj *o, const struct deliver_opts *d);

#endif
