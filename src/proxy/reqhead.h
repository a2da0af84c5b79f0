/*
 * reqhead.h - the request head ringcache sends to a backend.
 *
 * Built from the client's parsed request: hop-by-hop fields removed,
 * Via and X-Forwarded-For appended, framing re-emitted. For a cache fetch
 * the method may be changed (HEAD is fetched as GET so the body can be
 * stored), the client's own conditionals and Range are dropped (the cache
 * wants the whole representation) and the cache's validators added.
 */
#ifndef RINGCACHE_PROXY_REQHEAD_H
#define RINGCACHE_PROXY_REQHEAD_H

#include <stdbool.h>

#include "http/hbuf.h"
#include "http/msg.h"

struct reqhead_opts {
	const char *peer_ip;	   /* appended to X-Forwarded-For */
	const char *method;	   /* NULL: the request's own */
	bool strip_conditionals;   /* drop If-*, Range */
	const char *if_none_match; /* validators to add (NULL: none) */
	size_t inm_len;
	const char *if_modified_since;
	size_t ims_len;
};

/* Write the head into B. Returns 0, or an HTTP status (400 when the
 * Connection field names too many fields, 431 when B overflows). Sets
 * *CHUNKED when the body is sent chunked. */
int reqhead_build(struct hbuf *b, const struct hmsg *m, const struct reqhead_opts *o,
		  bool *chunked);

/* Append "Name: v1, v2, ..., EXTRA\r\n" merging every NAME field of M. */
void reqhead_put_merged(struct hbuf *b, const struct hmsg *m, const char *name, const char *extra);
void reqhead_put_field(struct hbuf *b, const struct hmsg *m, const struct hfield *f);

#endif
