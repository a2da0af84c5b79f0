/*
 * ratelimit.c - token buckets per key in a set-associative table (see
 * ratelimit.h).
 *
 * A bucket is one "theoretical arrival time" (GCRA): TAT is when the
 * bucket would be full again. With T the time per token and
 * TAU = (BURST - 1) * T, a request at NOW goes when max(TAT, NOW) - NOW
 * <= TAU, and then TAT = max(TAT, NOW) + T; otherwise it may go at
 * max(TAT, NOW) - TAU. That is the token bucket exactly (tokens at NOW =
 * BURST - (TAT - NOW) / T), in integers, with nothing to refill and no
 * floating-point drift between calls; TAT <= NOW is a full bucket whatever
 * the rate, which is what makes an entry safe to forget.
 *
 * An entry is one cache line: the TAT, the last use (the LRU order), a
 * tag of hash bits that rejects most other keys without a memcmp, and
 * the key. Entries are never removed, only replaced, so a set fills from
 * its first way and its free ways are a suffix: a scan stops at the
 * first free way.
 *
 * Locks: sets are striped over at most RL_SHARDS mutexes, each on its own
 * cache line with that stripe's counters (updated under the lock, read
 * without it by ratelimit_stats). A lock covers one set scan and a few
 * integer operations.
 */
#include "route/ratelimit.h"

#include <assert.h>
#include <errno.h>
#include <math.h> /* isfinite, a macro: no libm */
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <xxhash.h>

#include "rt/obj.h"

#define RATELIMIT_MAGIC 0x524c494du /* "RLIM" */
/* Mutex stripes: a few per loop thread is enough for them to rarely
 * meet, and more would only cost memory. */
#define RL_SHARDS 64u
/* TAU's bound, so TAT + T cannot wrap for any NOW below 2^62 ns. */
#define RL_TAU_MAX (1ull << 61)
#define NS_PER_S   1e9

struct rl_entry {
	uint64_t tat;  /* when the bucket is full again; 0 for a new key */
	uint64_t last; /* the latest NOW it was used at: the LRU order */
	uint32_t tag;  /* the hash's high half */
	uint8_t klen;  /* 0: a free way */
	uint8_t key[RATELIMIT_KEY_MAX];
};
static_assert(sizeof(struct rl_entry) == 64, "an entry is one cache line");

struct rl_shard {
	alignas(64) pthread_mutex_t mu;
	_Atomic uint64_t evictions, lossy;
	_Atomic size_t in_use;
};

struct ratelimit {
	unsigned magic;
	size_t n_entries, set_mask;
	unsigned shard_mask;
	uint64_t seed;
	struct rl_entry *ents; /* n_entries, set S at S * RATELIMIT_WAYS */
	void *ents_mem;	       /* the allocation ENTS is aligned in */
	struct rl_shard shards[RL_SHARDS];
};

static uint64_t make_seed(const void *salt)
{
	uint64_t s;
	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t)sizeof(s))
		return s;
	/* No entropy yet (early boot): unpredictable enough to spread sets. */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t mix[3] = {(uint64_t)ts.tv_sec, (uint64_t)ts.tv_nsec, (uint64_t)(uintptr_t)salt};
	return XXH3_64bits(mix, sizeof(mix));
}

struct ratelimit *ratelimit_new(size_t entries)
{
	size_t n = RATELIMIT_WAYS;
	while (n < entries) {
		if (n > SIZE_MAX / sizeof(struct rl_entry) / 2) {
			errno = ENOMEM;
			return NULL;
		}
		n <<= 1;
	}
	struct ratelimit *rl = aligned_alloc(alignof(struct ratelimit), sizeof(*rl));
	/* calloc, not aligned_alloc and memset: a big table comes zeroed
	 * from mmap and costs memory only as its sets are first used. One
	 * entry more leaves room to align the entries to cache lines. */
	void *mem = calloc(n + 1, sizeof(struct rl_entry));
	if (!rl || !mem) {
		free(rl);
		free(mem);
		errno = ENOMEM;
		return NULL;
	}
	INIT_OBJ(rl, RATELIMIT_MAGIC);
	uintptr_t at = ((uintptr_t)mem + sizeof(struct rl_entry) - 1) &
		       ~(uintptr_t)(sizeof(struct rl_entry) - 1);
	struct rl_entry *ents = (struct rl_entry *)at;
	size_t sets = n / RATELIMIT_WAYS;
	rl->n_entries = n;
	rl->set_mask = sets - 1;
	rl->shard_mask = (unsigned)(sets < RL_SHARDS ? sets : RL_SHARDS) - 1;
	rl->ents = ents;
	rl->ents_mem = mem;
	rl->seed = make_seed(rl);
	for (unsigned i = 0; i <= rl->shard_mask; i++) {
		int rc = pthread_mutex_init(&rl->shards[i].mu, NULL);
		assert(rc == 0); /* the default attributes cannot fail on Linux */
		(void)rc;
	}
	return rl;
}

void ratelimit_free(struct ratelimit **rlp)
{
	struct ratelimit *rl;
	if (!rlp || !*rlp)
		return;
	TAKE_OBJ_NOTNULL(rl, rlp, RATELIMIT_MAGIC);
	for (unsigned i = 0; i <= rl->shard_mask; i++)
		pthread_mutex_destroy(&rl->shards[i].mu);
	free(rl->ents_mem);
	FINI_OBJ(rl);
	free(rl);
}

/* The time per token for RATE, in whole ns within [1, INTERVAL_MAX]. */
static uint64_t interval_ns(double rate)
{
	double t = NS_PER_S / rate;
	if (!(t < (double)RATELIMIT_INTERVAL_MAX))
		return RATELIMIT_INTERVAL_MAX;
	if (t < 1.0)
		return 1;
	return (uint64_t)(t + 0.5);
}

/* TAU: how far ahead of NOW the TAT may be for a request to go. */
static uint64_t tolerance_ns(double burst, uint64_t t)
{
	double tau = (burst - 1.0) * (double)t;
	if (!(tau < (double)RL_TAU_MAX))
		return RL_TAU_MAX;
	return (uint64_t)(tau + 0.5);
}

/* The entry for KEY in SET, made (and something evicted) if need be. */
static struct rl_entry *entry_get(struct rl_entry *set, struct rl_shard *sh, uint32_t tag,
				  const void *key, size_t klen, uint64_t now)
{
	struct rl_entry *free_way = NULL, *full = NULL, *lru = NULL;
	for (unsigned w = 0; w < RATELIMIT_WAYS; w++) {
		struct rl_entry *e = &set[w];
		if (!e->klen) {
			free_way = e;
			break;
		}
		if (e->tag == tag && e->klen == klen && memcmp(e->key, key, klen) == 0)
			return e;
		if (e->tat <= now) {
			if (!full || e->last < full->last)
				full = e;
		} else if (!lru || e->last < lru->last) {
			lru = e;
		}
	}
	struct rl_entry *e = free_way ? free_way : full ? full : lru;
	if (free_way) {
		atomic_fetch_add_explicit(&sh->in_use, 1, memory_order_relaxed);
	} else {
		atomic_fetch_add_explicit(&sh->evictions, 1, memory_order_relaxed);
		if (!full)
			atomic_fetch_add_explicit(&sh->lossy, 1, memory_order_relaxed);
	}
	e->tat = 0;
	e->last = now;
	e->tag = tag;
	e->klen = (uint8_t)klen;
	memcpy(e->key, key, klen);
	return e;
}

bool ratelimit_take(struct ratelimit *rl, const void *key, size_t klen, double rate, double burst,
		    uint64_t now_ns, uint64_t *retry_after_ns)
{
	CHECK_OBJ_NOTNULL(rl, RATELIMIT_MAGIC);
	assert(key && klen >= 1 && klen <= RATELIMIT_KEY_MAX);
	assert(rate > 0 && isfinite(rate) && burst >= 1 && isfinite(burst));
	uint64_t t = interval_ns(rate);
	uint64_t tau = tolerance_ns(burst, t);
	uint64_t h = XXH3_64bits_withSeed(key, klen, rl->seed);
	size_t s = (size_t)h & rl->set_mask;
	struct rl_shard *sh = &rl->shards[s & rl->shard_mask];

	pthread_mutex_lock(&sh->mu);
	struct rl_entry *e =
	    entry_get(&rl->ents[s * RATELIMIT_WAYS], sh, (uint32_t)(h >> 32), key, klen, now_ns);
	if (now_ns > e->last)
		e->last = now_ns;
	uint64_t tat = e->tat > now_ns ? e->tat : now_ns;
	uint64_t ahead = tat - now_ns;
	bool ok = ahead <= tau;
	if (ok)
		e->tat = tat + t;
	pthread_mutex_unlock(&sh->mu);

	if (retry_after_ns)
		*retry_after_ns = ok ? 0 : ahead - tau;
	return ok;
}

void ratelimit_stats(const struct ratelimit *rl, struct ratelimit_stats *st)
{
	CHECK_OBJ_NOTNULL(rl, RATELIMIT_MAGIC);
	*st = (struct ratelimit_stats){.entries = rl->n_entries};
	for (unsigned i = 0; i <= rl->shard_mask; i++) {
		const struct rl_shard *sh = &rl->shards[i];
		st->in_use += atomic_load_explicit(&sh->in_use, memory_order_relaxed);
		st->evictions += atomic_load_explicit(&sh->evictions, memory_order_relaxed);
		st->lossy += atomic_load_explicit(&sh->lossy, memory_order_relaxed);
	}
}
