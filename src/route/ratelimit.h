/*
 * ratelimit.h - token-bucket rate limits per key, in a fixed-size table.
 *
 * A bucket holds up to BURST tokens and gains RATE tokens per second; a
 * request takes one token or is refused. A key the table has not seen (or
 * has forgotten) starts full, so BURST requests pass at once. The bucket
 * is kept in its virtual-scheduling form (GCRA): one timestamp in whole
 * nanoseconds, so the arithmetic is exact and a refusal's retry time is
 * to the nanosecond. The one rounding is the time per token, 1e9 / RATE
 * ns, taken to the nearest nanosecond (1 ns at least: RATE is honoured up
 * to 1e9 per second; at most RATELIMIT_INTERVAL_MAX ns: RATE from
 * 1e-6 per second, one token in 11.6 days).
 *
 * Memory is bounded: the table is sized at creation and never grows.
 * It is set-associative (RATELIMIT_WAYS entries per set, the set chosen
 * by a seeded XXH3 of the key). A new key in a full set takes the place
 * of the least recently used entry whose bucket is full again (forgetting
 * it loses nothing: the key would come back to a full bucket anyway), or,
 * when every bucket of the set is still refilling, of the least recently
 * used entry. Both count as evictions, the second kind also as lossy: that
 * key gets a fresh burst when it comes back, so a table too small for its
 * traffic lets more through, never less. Size it for the keys active
 * within one refill time (BURST / RATE); lossy evictions say it is not.
 *
 * Thread-safe: any number of threads may call ratelimit_take at once.
 * Sets are spread over a fixed number of mutexes, each held for one scan
 * of one set (no allocation, no syscall, no await inside). Time is the
 * caller's: NOW_NS in nanoseconds on a clock that does not go back
 * (rt_clock's, or a test's synthetic one); a NOW_NS a little behind the
 * one another thread passed (the two raced to the lock) counts as no time.
 */
#ifndef RINGCACHE_ROUTE_RATELIMIT_H
#define RINGCACHE_ROUTE_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Entries per set. */
#define RATELIMIT_WAYS 8u
/* The longest key: a route id and an IPv6 address fit with room left. */
#define RATELIMIT_KEY_MAX 40u
/* The longest time per token, in ns (a lower RATE is taken as this). */
#define RATELIMIT_INTERVAL_MAX 1000000000000000ull

struct ratelimit;

/*
 * A table of ENTRIES buckets, rounded up to a power of two of at least
 * RATELIMIT_WAYS (one set); 64 bytes each, allocated here once (as zeroed
 * pages: they cost memory as their sets are first used). NULL
 * (errno ENOMEM) when out of memory. The hash seed is random per table,
 * so which keys share a set cannot be worked out from outside.
 */
struct ratelimit *ratelimit_new(size_t entries);

/* Free *RLP and set it to NULL (nothing when it is NULL). No thread may
 * still be using it. */
void ratelimit_free(struct ratelimit **rlp);

/*
 * Take one token from KEY[0..KLEN)'s bucket (1 <= KLEN <=
 * RATELIMIT_KEY_MAX; the bytes are copied) at NOW_NS. RATE (tokens per
 * second, > 0) and BURST (>= 1; a fraction counts) are given per call, so
 * one table serves routes with different limits, the key naming the
 * route. True: the request may go (*RETRY_AFTER_NS = 0). False: the bucket
 * has less than one token, nothing is taken, and *RETRY_AFTER_NS (> 0) is
 * how long from NOW_NS until it has one: a call at NOW_NS +
 * *RETRY_AFTER_NS with the same RATE and BURST succeeds unless another
 * took that token first (round it up to seconds for Retry-After).
 * RETRY_AFTER_NS may be NULL.
 */
bool ratelimit_take(struct ratelimit *rl, const void *key, size_t klen, double rate, double burst,
		    uint64_t now_ns, uint64_t *retry_after_ns);

struct ratelimit_stats {
	size_t entries;	    /* the table's size, after rounding */
	size_t in_use;	    /* entries holding a key */
	uint64_t evictions; /* keys pushed out of a full set */
	uint64_t lossy;	    /* of those, keys whose bucket was not full yet */
};

/* RL's counters, without taking its locks (each figure is exact; taken
 * while other threads take tokens, they are a moment's picture each). */
void ratelimit_stats(const struct ratelimit *rl, struct ratelimit_stats *st);

#endif
