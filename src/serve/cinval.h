/*
 * cinval.h - invalidations that reach every member of a cluster (issue 19).
 *
 * A purge, ban or tag purge made on one node (the admin API, a PURGE on
 * the proxy listener, an unsafe method's invalidation) is applied there
 * and added to this node's log with the next sequence number. A sender
 * task per member (on loop 0) sends the member every entry it has not
 * acknowledged, in order, one POST each to CINVAL_PATH on the member's
 * listener with the hop field (the token); the member applies it and
 * answers 200, which is the acknowledgement. A member that does not
 * answer is tried again (backoff up to 5 s) for as long as it is a
 * member, and is sent nothing while its probes say it is down: when it
 * is back it gets what it missed, in order. The log keeps the last
 * CINVAL_LOG entries; a member behind by more than that is sent one
 * flush (a ban of everything) instead, counted on both sides, and then
 * the rest. A receiver remembers the newest sequence it applied per
 * sender and boot (a random number per start), so an entry sent twice
 * is applied once, and applies nothing it was sent by a member without
 * the token. Entries made on a node are never sent on by the members
 * that receive them: no loops.
 *
 * What is sent is what the invalidation is, not how it was asked: a
 * purge is the primary key itself (every member keys a URL the same way,
 * with the same config), a ban its two patterns, a tag purge the tag. An
 * unsafe method's invalidation (RFC 9111 4.4) goes to the key's owner
 * alone (near copies end within near_cache.ttl): client traffic makes no
 * more messages than one per key it changes. A member that answers an
 * entry with a 4xx has refused it for good: it is skipped (counted), not
 * sent again. A member that leaves the cluster keeps its progress while
 * the table has room, so that one coming back gets what it missed.
 *
 * With cluster.invalidation.redis the log is a Redis Stream instead
 * (cstream.h): cinval_add queues there, the acknowledgements are the
 * members' progress in the stream, and no sender task runs (the master
 * only tells the stream this node's name). The receiver stays: a member
 * may still send over HTTP.
 *
 * The log and the members' progress are under one mutex, held only to
 * read or write them, never across an await.
 */
#ifndef RINGCACHE_SERVE_CINVAL_H
#define RINGCACHE_SERVE_CINVAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/cluster.h"
#include "serve/cinvalop.h"
#include "serve/cstream.h"
#include "rt/group.h"

struct worker;
struct req;
struct serve_shared;

/* Where a member's invalidations arrive (answered by the node itself). */
#define CINVAL_PATH "/.well-known/ringcache/invalidate"
/* Entries kept for members that are behind. */
#define CINVAL_LOG 4096
/* Members whose progress is followed (more are sent nothing: counted). */
#define CINVAL_MEMBERS 64

struct cinval_entry {
	uint64_t seq; /* 0: an empty slot */
	int64_t at_ms;
	enum cinval_kind kind;
	char *a, *b; /* NUL-terminated copies (a key may hold NULs: alen says) */
	size_t alen, blen;
	bool soft;
	char to[CLUSTER_ADDR_MAX]; /* "": every member */
};

struct cinval_member {
	char name[CLUSTER_ADDR_MAX]; /* "": a free slot */
	/* rt_clock time it left the cluster (0: a member): its progress is
	 * kept, so a member that comes back (a pod that was not ready for a
	 * while) gets what it missed, or a flush; the slot goes to another
	 * name only when the table is full, the longest gone first. */
	uint64_t left_at;
	uint64_t acked;	   /* the newest entry it acknowledged */
	bool busy;	   /* its sender task runs */
	unsigned failures; /* in a row */
	uint64_t retry_at; /* rt_clock time of the next attempt */
	/* Receiving: what this node applied of that member's log. */
	uint64_t rx_boot, rx_seq;
};

struct cinval_stats {
	_Atomic uint64_t added, sent, acked, failed, rejected, gaps_sent, applied, flushes_applied,
	    refused, untracked;
};

#define CINVAL_MAGIC 0x43494e56u

struct cinval {
	unsigned magic;
	pthread_mutex_t lock;
	uint64_t boot;
	uint64_t last;			     /* the newest sequence given (0: none) */
	struct cinval_entry log[CINVAL_LOG]; /* seq % CINVAL_LOG */
	struct cinval_member m[CINVAL_MEMBERS];
	size_t nm;
	/* A slot was given to another name: a name not in the table may have
	 * been a member before, and starts from the oldest entry kept. */
	bool reused;
	/* Wakes the master: made on loop 0 when it starts, which other loops
	 * may not have seen yet (a kick before it is not needed). */
	struct rt_chan *_Atomic kick;
	struct worker *w; /* loop 0's, where the senders run */
	struct serve_shared *sh;
	struct cstream *cs; /* the Redis Stream (cstream.h), or NULL: HTTP */
	struct rt_group *group;
	struct cinval_stats stats;
};

/* The log of a node with config CFG (its Redis Stream's threads, when it
 * names one, start here, before any loop), applying to SH's tiers. NULL
 * when out of memory or threads. */
struct cinval *cinval_create(const struct config *cfg, struct serve_shared *sh);
void cinval_free(struct cinval **cp);

/* On loop 0, in GROUP (its worker's tasks: a forced drain cancels them):
 * the master task, which starts a sender per member with entries to
 * send, and the Redis Stream's threads when the config names one. At a
 * drain it goes on while client connections are left (their requests may
 * still invalidate) and then until the members (or Redis) have what was
 * made, 2 s at most, so the loop can stop. 0 or -ENOMEM. */
int cinval_start(struct cinval *ci, struct worker *w, struct rt_group *group);

/* Apply OP to this node's tiers (memory and disk): the objects a purge
 * or tag purge affected, a ban's number in the store's list, or -1 for a
 * ban whose pattern does not compile (ERR says why). */
long cinval_apply(struct serve_shared *sh, const struct cinval_op *op, char *err, size_t errlen);

/* Add OP, already applied here, to the log for the members of G's
 * cluster (any thread; G held by the caller). Its sequence number, or 0
 * when G is no cluster's or out of memory. */
uint64_t cinval_add(struct cinval *ci, const struct cinval_op *op, const struct gen *g);

/* Members of G's cluster, how many have acknowledged SEQ, and the names
 * of the others (", "-separated, JSON strings) into PENDING (CAP bytes). */
void cinval_acks(struct cinval *ci, const struct gen *g, uint64_t seq, unsigned *members,
		 unsigned *acked, char *pending, size_t cap);

/* A request for CINVAL_PATH (conn.c): applied when a member sent it (R's
 * hop field held the token), else refused with 403. Answered here. */
int cinval_receive(struct req *r);

/* Entries members have still to acknowledge, summed over the members,
 * and the age of the oldest of them (ms; 0: none), for the metrics. */
void cinval_pending(struct cinval *ci, uint64_t *pending, uint64_t *lag_ms);

/* The Redis Stream's counters, or NULL when the log is HTTP. */
const struct cstream_stats *cinval_stream_stats(const struct cinval *ci);

#endif
