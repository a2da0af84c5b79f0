/*
 * vary.h - secondary cache keys from Vary (RFC 9111 4.1).
 *
 * A stored response records the field names its Vary lists; a request
 * matches it when the normalised values of those fields in the request
 * equal the ones recorded when it was stored. Normalisation: field lines
 * are combined with ", ", OWS around them trimmed; Accept-Encoding is
 * reduced to the sorted set of codings ringcache knows (br, deflate, gzip,
 * identity, zstd) with a non-zero q, so "gzip, br" and "br;q=1,gzip"
 * select the same variant; Accept-Language members are lower-cased and
 * sorted.
 *
 * Beyond equal keys, a variant with one Content-Language is selected by
 * the request's Accept-Language weights (cache/lang.h) when it is among the
 * request's best choices: this is the proactive negotiation (RFC 9110
 * 12.1) the origin announced with Vary and Content-Language, done by the
 * cache, so "en;q=0.9, de" and "de, en;q=0.9" both get a stored de. The
 * other fields Vary names still match exactly.
 */
#ifndef RINGCACHE_CACHE_VARY_H
#define RINGCACHE_CACHE_VARY_H

#include <stddef.h>

#include "http/msg.h"

/* Collect the Vary field names of response M, lower-cased, comma-joined,
 * no spaces, into OUT. Returns the length, 0 when there is no Vary, or -1
 * when it does not fit. */
int vary_names(const struct hmsg *m, char *out, size_t cap);

/* The secondary key of request REQ for the names list NAMES (as produced
 * by vary_names). Returns the length or -1 when it does not fit. */
int vary_key(const char *names, size_t nlen, const struct hmsg *req, char *out, size_t cap);

enum vary_match {
	VARY_NO,       /* REQ does not select the variant */
	VARY_SELECTED, /* by Accept-Language weights, the other fields equal */
	VARY_EXACT,    /* REQ's secondary key equals the variant's */
};

/*
 * Does request REQ select the stored variant whose response varied on
 * NAMES (vary_names), whose fetching request had secondary key VKEY
 * (vary_key) and whose stored header block is HDRS (cache/hdrs.h)? An exact
 * match is better than a selection: it is the origin's own answer to an
 * equivalent request.
 */
enum vary_match vary_match(const char *names, size_t nlen, const char *vkey, size_t vlen,
			   const char *hdrs, size_t hlen, const struct hmsg *req);

/* Normalised Accept-Encoding value of REQ into OUT; returns the length. */
int vary_accept_encoding(const struct hmsg *req, char *out, size_t cap);

#endif
