/*
 * key.h - the primary cache key: the Host (lower-cased, port kept) and the
 * request-target as sent, its path optionally in its percent-encoding
 * normal form (http/path.h path_key_form), with the query kept, dropped or
 * sorted (never decoded: its bytes are the application's).
 *
 * Layout: host bytes, a NUL, then the target; the host part is empty when
 * the key leaves the host out. The store hashes the whole key; bans match
 * the host and the URL parts (store.h). Which options apply (the default
 * or a rule's) is the caller's to decide: the key knows no config.
 */
#ifndef RINGCACHE_CACHE_KEY_H
#define RINGCACHE_CACHE_KEY_H

#include <stddef.h>
#include <stdint.h>

enum {
	KEY_HOST = 1u << 0,	      /* include the Host */
	KEY_QUERY = 1u << 1,	      /* include the query string */
	KEY_SORT_QUERY = 1u << 2,     /* sort its parameters first (?b=2&a=1 is ?a=1&b=2) */
	KEY_NORMALIZE_PATH = 1u << 3, /* /a%62c is /abc, %2f is %2F; %2F is not / */
};

/* The primary key of HOST and TARGET under OPTS into OUT; *HOST_LEN gets
 * the length of its host part. Returns the key's length, or -1 when it
 * does not fit in CAP. No allocation: per request. */
int cache_key_build(unsigned opts, const char *host, size_t hlen, const char *target, size_t tlen,
		    char *out, size_t cap, uint32_t *host_len);

/* The host part of a Host value: "host:port" and "[v6]:port" lose the
 * port (rules and bans match names without it). */
size_t cache_key_host_len(const char *h, size_t n);

#endif
