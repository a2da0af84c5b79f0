/* cluster.c - key ownership by rendezvous hashing; the near cache's
 * doorkeeper (cluster.h). */
#include "backend/cluster.h"

#include <string.h>
#include <xxhash.h>

#include "backend/pick.h"

uint64_t cluster_key_hash(const char *key, size_t len)
{
	return XXH3_64bits(key, len);
}

/* splitmix64's finaliser: every bit of the key hash and of the id moves
 * every bit of the score, so scores of one key are independent per
 * member. */
static uint64_t score(uint64_t key_hash, uint64_t id)
{
	uint64_t z = key_hash ^ id;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

bool cluster_peer_live(const struct gen *g, unsigned s, uint64_t now)
{
	const struct backend_rt *b = &g->backends[g->cluster.backend];
	if (s >= b->cfg->n_servers)
		return false;
	return !atomic_load_explicit(&b->health[s].down, memory_order_relaxed) &&
	       !backend_passive_out(b, s, now);
}

size_t cluster_order(const struct gen *g, uint64_t key_hash, uint64_t now, int *out, size_t cap)
{
	if (!cap)
		return 0;
	const struct backend_rt *b = &g->backends[g->cluster.backend];
	/* The CAP best by insertion: CAP is CLUSTER_CHOICES, members few. */
	uint64_t best[CLUSTER_CHOICES + 1];
	if (cap > CLUSTER_CHOICES)
		cap = CLUSTER_CHOICES;
	size_t n = 0;
	/* A node that does not know its own name yet (not in discovery's set)
	 * owns nothing while a member is live: it comes last. */
	bool self_last = !g->cluster.self_known;
	for (size_t i = 0; i <= b->cfg->n_servers; i++) {
		int who = i == b->cfg->n_servers ? CLUSTER_SELF : (int)i;
		if (who != CLUSTER_SELF && !cluster_peer_live(g, (unsigned)who, now))
			continue;
		if (who == CLUSTER_SELF && self_last) {
			if (n < cap)
				out[n++] = CLUSTER_SELF;
			continue;
		}
		uint64_t sc =
		    score(key_hash, who == CLUSTER_SELF ? g->cluster.self_id : g->cluster.ids[who]);
		size_t at = n < cap ? n : cap;
		while (at > 0 && best[at - 1] < sc) {
			if (at < cap) {
				best[at] = best[at - 1];
				out[at] = out[at - 1];
			}
			at--;
		}
		if (at < cap) {
			best[at] = sc;
			out[at] = who;
			if (n < cap)
				n++;
		}
	}
	return n;
}

bool cluster_seen(struct cluster_seen *s, uint64_t key_hash, int64_t now, int64_t period)
{
	if (period < 1)
		period = 1;
	/* +1: 0 is "never asked". */
	uint32_t epoch = (uint32_t)(now / period) + 1;
	_Atomic uint32_t *slot = &s->slot[key_hash % CLUSTER_SEEN_SLOTS];
	uint32_t was = atomic_exchange_explicit(slot, epoch, memory_order_relaxed);
	return was && (was == epoch || was + 1 == epoch);
}
