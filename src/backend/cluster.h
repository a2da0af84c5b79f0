/*
 * cluster.h - which member of a cluster owns a key (issue 19).
 *
 * The members are this node (cluster.self) and the servers of the
 * generation's "cluster" backend (config.h: the peers, names expanded to
 * their addresses, self's own address left out). A member is named by
 * its address, "IP:PORT" ("[IP]:PORT" for IPv6), the same text on every
 * node, and its id is the XXH3 of that text. A key's owner is the live
 * member with the highest score mix(key hash ^ id): rendezvous (highest
 * random weight) hashing, so every node that sees the same live members
 * picks the same owner, a member that leaves moves only its own keys
 * (each to its second choice) and one that joins takes 1/N of them.
 * Live: this node always; a peer unless its health probes marked it down
 * or passive health took it out (pick.h). The order of the live members
 * by score is the failover order.
 *
 * The near cache's doorkeeper (struct cluster_seen) is here too: whether
 * a key not owned here was asked here before, recently.
 *
 * Pure but for the health flags it reads; `now` is a parameter.
 */
#ifndef RINGCACHE_BACKEND_CLUSTER_H
#define RINGCACHE_BACKEND_CLUSTER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/gen.h"
#include "backend/member.h"

/* Choices a forward walks: the owner, then the failover order. */
#define CLUSTER_CHOICES 3
/* A choice that is this node. */
#define CLUSTER_SELF (-1)

/* The hash of a primary key (cache/key.h) that scores are made of. */
uint64_t cluster_key_hash(const char *key, size_t len);

/* Is G's config a cluster? */
static inline bool cluster_on(const struct gen *g)
{
	return g->cluster.on;
}

/*
 * The live members of G in KEY_HASH's order, best first, into OUT (CAP
 * entries): CLUSTER_SELF or a server index of the cluster backend.
 * Returns how many were written (at least 1: this node is always live).
 * NOW is rt_clock time (passive health).
 */
size_t cluster_order(const struct gen *g, uint64_t key_hash, uint64_t now, int *out, size_t cap);

/* Is peer server S of G's cluster backend live at NOW? */
bool cluster_peer_live(const struct gen *g, unsigned s, uint64_t now);

/*
 * The doorkeeper: a table of slots, each the epoch (a period of the near
 * cache's TTL) in which a key hashed to it was last asked. A key "was
 * asked here before" when its slot holds this epoch or the one before:
 * within one to two TTLs. Collisions only make a key look asked (a copy
 * kept that was not needed); the table is fixed (CLUSTER_SEEN_SLOTS),
 * lock-free, shared by the loops.
 */
#define CLUSTER_SEEN_SLOTS 65536

struct cluster_seen {
	_Atomic uint32_t slot[CLUSTER_SEEN_SLOTS];
};

/* Note KEY_HASH as asked at NOW (seconds) with epochs of PERIOD seconds
 * (at least 1); true when it had been asked in this epoch or the last. */
bool cluster_seen(struct cluster_seen *s, uint64_t key_hash, int64_t now, int64_t period);

#endif
