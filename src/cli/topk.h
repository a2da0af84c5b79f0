/*
 * topk.h - the table behind `ringcache top`: requests, hits, misses and
 * 5xx responses per URL (host + target) over a sliding window of whole
 * seconds, in memory that is bounded whatever the traffic.
 *
 * Each entry keeps one counter set per second of the window (a ring of W
 * slots, W = the window in seconds), so counts age out exactly, a second
 * at a time: when the clock moves past a second, that slot is cleared in
 * every entry. Time is an argument (NOW, whole seconds of any clock), so
 * the tests need no sleeps.
 *
 * Bounded: at most CAP entries (a chained hash table over a fixed array).
 * A new URL that finds the table full first drops the entries whose window
 * is empty, then, if that freed less than a quarter of the table, the
 * entries with the fewest requests in the window, down to three quarters:
 * a sort once per CAP/4 new URLs, not a scan per record. Why not
 * space-saving (Metwally) or Misra-Gries: they bound the error of counts
 * that never decay, and a window needs per-second counts per entry anyway;
 * with them a plain capped table is simpler and its counts are exact for
 * every URL that stayed in it, which is every URL while fewer than CAP
 * distinct ones are seen in a window. A URL evicted and seen again starts
 * from zero (it had the fewest requests, so it is not near the top);
 * topk_evicted says how many were, so the screen can say the tail is cut.
 *
 * Memory: CAP x (W x 16 + 380) bytes, allocated at once: 5.3 MiB for
 * 4,096 URLs over 60 s (39 MiB at the 600 s limit). One thread; allocates
 * only in topk_create.
 */
#ifndef RINGCACHE_CLI_TOPK_H
#define RINGCACHE_CLI_TOPK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/rlog.h"

#define TOPK_KEY	320  /* a URL's room, NUL included: longer ones are cut */
#define TOPK_MAX_WINDOW 600  /* seconds */
#define TOPK_CAP	4096 /* entries, by default */

/* What an entry counts; also the orders the table is shown in. */
enum topk_col { TOPK_REQ, TOPK_HIT, TOPK_MISS, TOPK_5XX, TOPK_NCOL };

struct topk;

/* A table of at most CAP URLs (at least 4) over WINDOW seconds
 * (1..TOPK_MAX_WINDOW). NULL on ENOMEM or bad arguments. */
struct topk *topk_create(unsigned cap, unsigned window);
void topk_free(struct topk **tp);

/* Which columns REC counts in: requests always; hit for the verdicts
 * served from the cache (hit, stale); miss for those that went to the
 * backend for this client (miss, pass); 5xx for statuses 500-599. */
void topk_classify(const struct rlog_rec *rec, bool col[TOPK_NCOL]);

/* Count REC at second NOW (an older NOW counts into the current second). */
void topk_add(struct topk *t, const struct rlog_rec *rec, int64_t now);
/* The same for a URL given as its parts, for tests and other sources. */
void topk_add_url(struct topk *t, const char *host, const char *target, const bool col[TOPK_NCOL],
		  int64_t now);

/* Move the window to second NOW: seconds that left it are cleared. */
void topk_advance(struct topk *t, int64_t now);

struct topk_row {
	const char *url; /* valid until the next add */
	uint64_t n[TOPK_NCOL];
};

/*
 * The first at most MAX rows in the window at NOW, in descending order of
 * column BY (ties: more requests first, then the URL's bytes), rows with 0
 * in BY left out. Their number.
 */
size_t topk_rows(struct topk *t, int64_t now, enum topk_col by, struct topk_row *out, size_t max);

/* Totals over the window at NOW (every record, the evicted ones' too). */
void topk_totals(struct topk *t, int64_t now, uint64_t out[TOPK_NCOL]);
/* Entries in the table now, and URLs evicted to make room, in all. */
size_t topk_size(const struct topk *t);
uint64_t topk_evicted(const struct topk *t);
unsigned topk_window(const struct topk *t);

#endif
