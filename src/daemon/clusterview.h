/*
 * clusterview.h - GET /cluster on the admin API: the members of the
 * running generation's cluster as this node sees them, and for a URL the
 * member that owns it and the failover order (backend/cluster.h).
 */
#ifndef RINGCACHE_DAEMON_CLUSTERVIEW_H
#define RINGCACHE_DAEMON_CLUSTERVIEW_H

#include <stddef.h>

#include "backend/gen.h"

/*
 * The JSON into OUT (CAP bytes): {"self", "generation", "members": [{
 * "address", "self", "up", "server"}]} and, with TARGET (TL bytes, from
 * "/"; HOST, HL bytes, may be empty), "owner" and "order". Returns
 * its length, or 0 when G is no cluster's or OUT is too small.
 */
size_t clusterview_render(const struct gen *g, const char *host, size_t hl, const char *target,
			  size_t tl, char *out, size_t cap);

/* Split URL ("http://HOST/TARGET" or "/TARGET") into *HOST (*HL bytes,
 * 0 for the second form) and *TARGET (the rest, from "/"). False when it
 * is neither. */
_Bool clusterview_split_url(const char *url, const char **host, size_t *hl, const char **target);

#endif
