/*
 * vary.h - secondary cache keys from Vary (RFC 9111 4.1).
 *
 * A stored response records the field names its Vary lists; a request
 * matches it when the normalised values of those fields in the request
 * equal the ones recorded when it was stored. Normalisation: field lines
 * are combined with ", ", OWS around them trimmed; Accept-Encoding is
 * reduced to the sorted set of codings ringcache knows (br, deflate, gzip,
 * identity, zstd) with a non-zero q, so "gzip, br" and "br;q=1,gzip"
 * select the same variant.
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

/* Normalised Accept-Encoding value of REQ into OUT; returns the length. */
int vary_accept_encoding(const struct hmsg *req, char *out, size_t cap);

#endif
