/*
 * cstream.h - a cluster's invalidation log as a Redis Stream
 * (cluster.invalidation.redis; issue 19).
 *
 * Instead of a POST to each member (cinval.h), an invalidation made on a
 * node is appended to one stream (XADD, trimmed to max_len entries), and
 * every node reads the stream from where it last was (XREAD BLOCK),
 * applying what the others wrote. Redis is the log: a member that was
 * stopped or cut off reads what it missed when it is back, however many
 * members there are, and the writer does not need to know who they are.
 *
 * Two threads of their own, never a loop's, each with one connection
 * (hiredis, blocking calls with timeouts): the publisher sends the
 * entries made here in order, the reader reads the others'. Neither holds
 * the mutex across a call to Redis.
 *
 *   publisher: the entries wait in an outbox (CSTREAM_OUTBOX, seq %
 *     CSTREAM_OUTBOX) until Redis took them; while Redis is down they are
 *     kept and sent when it is back. More than the outbox holds: the
 *     oldest are given up and one flush is sent ahead of the rest.
 *   reader: starts, at the first connection, where this node left off
 *     (its progress, when RESUME: objects outlived the restart, the disk
 *     tier) or at its start time on Redis's clock (TIME) less a few
 *     seconds (memory only: nothing older concerns it). It skips its own entries
 *     (same boot); one meant for the owner of a key is applied by all.
 *     After each batch it writes its progress, HSET STREAM:progress
 *     NAME ID.
 *   gaps: the reader flushes (a ban of everything, counted) when what it
 *     missed is no longer known: the stream was trimmed past its position
 *     (max-deleted-entry-id), went back (a Redis restored from an older
 *     snapshot), or lost its epoch (STREAM:epoch, a random value set once
 *     with SET NX: a Redis that restarted empty has a new one).
 *
 * An acknowledgement is a member's progress at or past the entry: the
 * publisher reads the members' fields of the progress hash often while
 * an entry is young (the admin call waits for it) and every second
 * otherwise.
 */
#ifndef RINGCACHE_SERVE_CSTREAM_H
#define RINGCACHE_SERVE_CSTREAM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend/member.h"
#include "serve/cinvalop.h"

struct cstream;

/* Entries made here kept until Redis has them. */
#define CSTREAM_OUTBOX 4096

/* Apply OP, written by member FROM (its name), to this node: called on the
 * reader thread. */
typedef void cstream_apply_fn(void *ctx, const struct cinval_op *op, const char *from);

struct cstream_stats {
	_Atomic uint64_t published, read, errors, gaps;
	_Atomic bool up; /* both connections answer */
};

/*
 * Connect to URL (checked by the config: config/redisurl.h) and start the
 * threads. STREAM is the key; MAX_LEN the entries it keeps; BOOT this
 * start's random number (entries with it are this node's own); RESUME:
 * objects outlived a restart, so reading resumes from this node's
 * progress. APPLY(CTX, ...) applies what the others wrote. NULL when out
 * of memory or threads (errno says).
 */
struct cstream *cstream_create(const char *url, const char *stream, uint64_t max_len, uint64_t boot,
			       bool resume, cstream_apply_fn *apply, void *ctx);

/* Stop the threads (a second or two at most: a call to Redis has a
 * timeout) and free everything. Entries not sent are lost: a drain waits
 * for them first (cstream_pending). */
void cstream_free(struct cstream **csp);

/* This node's name (its progress's field), KNOWN when it is its member
 * name rather than one of its boot. The reader starts once it has one;
 * when resuming, once it has its member name. */
void cstream_set_self(struct cstream *cs, const char *name, bool known);

/* The members but this node (NAMES, N): whose progress the publisher
 * reads for the acknowledgements. */
void cstream_set_members(struct cstream *cs, const char (*names)[CLUSTER_ADDR_MAX], size_t n);

/* A drain began: the reader goes on applying (requests are still
 * served) but writes no progress, since the disk tier may no longer take
 * what it applies; after the restart those entries are read again. */
void cstream_drain(struct cstream *cs);

/* Queue OP (applied here already) for the stream: its sequence number
 * (from 1), or 0 when out of memory. Any thread. */
uint64_t cstream_add(struct cstream *cs, const struct cinval_op *op);

/* Whether member NAME has read entry SEQ (its progress is at or past it,
 * as last read from Redis). */
bool cstream_acked(struct cstream *cs, uint64_t seq, const char *name);

/* Entries not in Redis yet, and the age of the oldest of them (ms). */
void cstream_pending(struct cstream *cs, uint64_t *pending, uint64_t *lag_ms);

const struct cstream_stats *cstream_stats(const struct cstream *cs);

#endif
