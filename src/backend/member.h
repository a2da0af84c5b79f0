/*
 * member.h - how a cluster member is named (backend/cluster.h): by its
 * address, "IP:PORT" ("[IP]:PORT" for IPv6), the same text on every node,
 * its id the XXH3 of that text. Apart from cluster.h so that the
 * generation (gen.h), which names the members, needs nothing of the
 * ownership code that reads it.
 */
#ifndef RINGCACHE_BACKEND_MEMBER_H
#define RINGCACHE_BACKEND_MEMBER_H

#include <stdint.h>
#include <sys/socket.h>

/* "[ffff:...]:65535" and a NUL. */
#define CLUSTER_ADDR_MAX 56

/* A member's name (OUT, CLUSTER_ADDR_MAX bytes) and id from its address. */
uint64_t cluster_member_id(const struct sockaddr *sa, char *out);

#endif
