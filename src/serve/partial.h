/*
 * partial.h - partial content on the fetch side (RFC 9111 3.3-3.4, RFC
 * 9110 14.4, 15.3.7): which Range a fetch asks the origin for, whether the
 * 206 that comes back is one part the cache can store, and how a part
 * joins the stored one.
 *
 * The design is one contiguous extent per object: a partial object
 * (store.h: cobj.partial) holds bytes [part_first, part_last] of a
 * representation of part_len bytes. A fetch asks for
 *  - the gap after the extent (PARTIAL_JOIN): a request for the whole
 *    representation when the extent starts at 0 (`bytes=N-`), or a single
 *    range that starts inside the extent or just after it and ends past
 *    it; with If-Range and the parts' strong ETag when they have one;
 *  - the client's own single range (PARTIAL_CLIENT) when there are no
 *    usable parts, or the range does not touch them;
 *  - nothing (PARTIAL_NONE): a HEAD, several ranges, an If-Range from the
 *    client (the cache judges it against what it stores), a stored
 *    complete response being revalidated.
 * A 206 joins the parts only when it starts exactly at the gap and both
 * carry the same strong ETag (RFC 9111 3.4); joined parts that cover the
 * whole representation become a complete 200. Anything else replaces the
 * parts (a 200, a 206 that answers the request by itself) or makes the
 * fetch start again without the parts (fetch.c); so does a join or a part
 * that falls short of the client's range (an origin may send less than
 * was asked), and a client's own range that comes back short makes it
 * fetch the whole without a Range.
 */
#ifndef RINGCACHE_SERVE_PARTIAL_H
#define RINGCACHE_SERVE_PARTIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/store.h"
#include "http/msg.h"
#include "http/range.h"

enum partial_mode { PARTIAL_NONE, PARTIAL_CLIENT, PARTIAL_JOIN };

struct partial_plan {
	enum partial_mode mode;
	const char *range; /* the Range value to send (in buf or in the request) */
	size_t range_len;
	const char *if_range; /* the parts' strong ETag (in CAND's head), or NULL */
	size_t if_range_len;
	struct byte_range gap; /* PARTIAL_JOIN: the bytes asked for */
	char buf[64];
};

/* What to ask for the client's request REQ (a GET or HEAD as the client
 * sent it) given the lookup's candidate CAND (NULL, a stale complete
 * response, or parts). P->range and P->if_range point into REQ, CAND or P. */
void partial_plan(const struct hmsg *req, const struct cobj *cand, struct partial_plan *p);

/* RESP (a 206) as one storable part: true with *R and *LEN when it has
 * exactly one Content-Range "bytes a-b/LEN" (known length) and a
 * Content-Length of exactly b-a+1, so its body is that part and nothing
 * else. A multipart 206, a chunked one or one whose length disagrees
 * with its Content-Range is not. */
bool partial_response_part(const struct hmsg *resp, struct byte_range *r, uint64_t *len);

/* RFC 9111 3.4: the stored parts and RESP have the same strong validator
 * (an ETag on both, neither weak, equal). */
bool partial_same_validator(const struct cobj *stored, const struct hmsg *resp);

/* Shape O, whose head was filled from a 206 (fetch.c), into parts holding
 * R of a representation of LEN bytes, or into a complete 200 of LEN
 * bytes when R is all of it; Content-Range leaves its header lines (it is
 * made per response). 0 or -ENOMEM. */
int partial_shape(struct cobj *o, struct byte_range r, uint64_t len);

/* Append the bytes of CAND's complete body to O's (empty) body: the
 * stored extent that a joined 206 continues. 0 or -ENOMEM. */
int partial_copy_extent(struct cobj *o, struct cobj *cand);

#endif
