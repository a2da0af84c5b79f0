/*
 * coding.h - the content codings ringcache knows (RFC 9110 8.4.1): their
 * names and how a token names one. The codecs (compress/codec.h), the
 * negotiation (http/accept.h), the store's coded copies and the config all
 * speak of codings by this enum.
 */
#ifndef RINGCACHE_HTTP_CODING_H
#define RINGCACHE_HTTP_CODING_H

#include <stddef.h>

enum coding { CODING_IDENTITY = 0, CODING_GZIP, CODING_BR, CODING_ZSTD, CODING__N };

/* "identity", "gzip", "br", "zstd"; "?" for anything else. */
const char *coding_name(enum coding c);
/* The coding of token S[0..N) (case-insensitive, "x-gzip" is gzip), or -1. */
int coding_parse(const char *s, size_t n);

#endif
