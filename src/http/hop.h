/*
 * hop.h - which header fields are hop-by-hop (RFC 9110 7.6.1).
 *
 * A proxy must not forward Connection, the fields Connection names, nor the
 * fixed list of connection-specific fields. The set is computed once per
 * message and then tested per field.
 */
#ifndef RINGCACHE_HTTP_HOP_H
#define RINGCACHE_HTTP_HOP_H

#include <stdbool.h>

#include "http/msg.h"

#define HOP_MAX_TOKENS 16

struct hop_set {
	struct hspan tokens[HOP_MAX_TOKENS]; /* fields named by Connection */
	unsigned n;
	bool close;	 /* Connection: close */
	bool keep_alive; /* Connection: keep-alive */
	bool overflow;	 /* more names than we track: the message is rejected */
};

/* Parse every Connection field of M. */
void hop_collect(const struct hmsg *m, struct hop_set *hs);

/* True if field F must not be forwarded. Framing fields (Content-Length,
 * Transfer-Encoding) are not hop-by-hop; the caller re-frames them. */
bool hop_is_hop(const struct hmsg *m, const struct hop_set *hs, const struct hfield *f);

/* True if F is named by M's Connection field (and is not one of the fixed
 * connection-specific fields, which hop_is_hop covers anyway). */
bool hop_is_named(const struct hmsg *m, const struct hop_set *hs, const struct hfield *f);

#endif
