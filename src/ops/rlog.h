/*
 * rlog.h - the request record stream: one compact record per finished
 * request (with its backend exchange), written into a per-loop ring that
 * any number of readers follow without ever holding up the writer.
 *
 * Three objects:
 *
 * - struct rlog_hub, one per process (the daemon's): the rings, one per
 *   loop, the subscriber count the request path tests, and the request
 *   header names the subscribers asked for (their union, at most
 *   RLOG_HDRS at once).
 *
 * - struct rlog_ring, one per loop, written only by that loop's thread: a
 *   power-of-two array of fixed-size slots, each with a sequence word. A
 *   write is a seqlock step on one slot (odd while it is filled, then the
 *   record's own sequence), so the writer takes no lock, allocates nothing,
 *   makes no syscall and never waits for a reader: it overwrites the
 *   oldest slot. With no subscriber the request path pays one load and one
 *   predictable branch (rlog_on) and writes nothing.
 *
 * - struct rlog_sub, a reader: its own cursor into every ring. A reader
 *   that falls more than a ring behind, or finds a slot overwritten while
 *   it copies it, skips those records and counts them as lost. Subscribe,
 *   read and unsubscribe all run on one thread (the admin loop's); only the
 *   writers are on other threads.
 */
#ifndef RINGCACHE_OPS_RLOG_H
#define RINGCACHE_OPS_RLOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RLOG_SLOTS    4096u /* per loop; ~40 ms of 100k requests/s */
#define RLOG_MAX_SUBS 64    /* subscribers at once: more get -EBUSY */
#define RLOG_HDRS     8	    /* distinct request header names at once */
#define RLOG_HDR_NAME 32    /* a name's room, NUL included */
#define RLOG_HDR_VAL  128   /* a value's room: longer ones are cut */
/* A name that starts with this is a response header's: its value is taken
 * from the response head the client was sent (">content-type"). The
 * others are the request's. Both share the RLOG_HDRS slots. */
#define RLOG_RESP_MARK '>'

_Static_assert((RLOG_SLOTS & (RLOG_SLOTS - 1)) == 0, "RLOG_SLOTS must be a power of two");

/* The string fields, in their order in the record. */
enum rlog_str {
	RLOG_S_VERDICT,
	RLOG_S_CLIENT,
	RLOG_S_METHOD,
	RLOG_S_HOST,
	RLOG_S_TARGET,
	RLOG_S_CACHE_STATUS,
	RLOG_S_BACKEND,
	RLOG_S_SERVER,
	RLOG_S_ROUTE,
	RLOG_S_REASON,
	RLOG_NSTR
};

/* String fields are NUL-terminated copies, cut to their room. Times are
 * nanoseconds; -1: did not happen (no backend, nothing sent). */
struct rlog_rec {
	uint64_t id;	     /* request id: loop in the top 16 bits, then its count */
	int64_t time_us;     /* wall clock (µs since the epoch) when the request began */
	int64_t ttfb_ns;     /* request start to the first response byte sent */
	int64_t duration_ns; /* request start to its last byte sent */
	uint64_t bytes_in;   /* request head and body bytes read */
	uint64_t bytes_out;  /* response head and body bytes sent */
	/* The backend exchange, grouped with its request. */
	int64_t be_total_ns;   /* from the exchange's start until the response was in */
	int64_t be_connect_ns; /* connect of the last attempt (0: a pooled connection) */
	int64_t be_ttfb_ns;    /* last attempt sent to its response head */
	uint16_t be_attempts;  /* requests sent (retries included); 0: no exchange */
	int8_t be_reused;      /* the last attempt took a pooled connection; -1: unknown */
	uint16_t status;
	uint16_t loop;
	uint8_t http_major, http_minor;
	uint32_t hdr_gen; /* the header names' generation the values belong to */
	/* The strings' lengths, when the writer set them all (lens): what
	 * lets the binary stream copy them without looking for their ends. */
	bool lens;
	uint16_t len[RLOG_NSTR]; /* by enum rlog_str */
	char verdict[16];	 /* hit, miss, pass, stale, collapsed, revalidated, error, ... */
	char client[48];
	char method[16];
	char host[128];
	char target[512];
	char cache_status[128]; /* the Cache-Status value sent */
	char backend[48];	/* its name */
	char server[64];	/* its address */
	char route[48];
	char reason[48];		   /* error or close reason; "" when the connection stays */
	char hdr[RLOG_HDRS][RLOG_HDR_VAL]; /* header values by hub name slot; "" absent */
};

struct rlog_hub;

struct rlog_ring {
	_Atomic uint64_t head;	    /* records written: the next one's sequence */
	const atomic_uint *subs;    /* the hub's subscriber count */
	const atomic_uint *active;  /* of them, those not paused */
	const struct rlog_hub *hub; /* header names */
	struct rlog_slot *slots;    /* RLOG_SLOTS, mmap'd untouched until written */
	uint16_t loop;
	uint64_t pending;    /* the sequence rlog_begin handed out */
	int64_t wall_off;    /* CLOCK_REALTIME - CLOCK_MONOTONIC (ns), taken now and then */
	uint32_t since_wall; /* records written since */
	bool open;	     /* between rlog_begin and rlog_commit */
};

struct rlog_hub {
	unsigned magic;
	unsigned nloops;
	atomic_uint subs;
	/* Subscribers not paused (rlog_pause): when none is, writers skip
	 * records (a sequence number each, which readers count as lost)
	 * instead of filling slots nobody will read in time. */
	atomic_uint active;
	atomic_uint names_used; /* header name slots with refs: 0 lets writers skip them */
	atomic_uint resp_used;	/* of them, response header names */
	struct rlog_sub *list[RLOG_MAX_SUBS];
	/* Header names: a seqlock (odd while they change) over the names;
	 * refs say how many subscribers use each. Written by the subscribing
	 * thread only. */
	atomic_uint names_seq;
	char names[RLOG_HDRS][RLOG_HDR_NAME];
	unsigned name_refs[RLOG_HDRS];
	struct rlog_ring rings[];
};

struct rlog_sub {
	unsigned magic;
	struct rlog_hub *hub;
	uint32_t hdr_gen;	/* records from this generation on have its headers */
	int8_t slot[RLOG_HDRS]; /* the hub slot of each name asked for */
	unsigned nhdr;
	uint64_t lost;	    /* records this reader missed, in all */
	unsigned next_loop; /* where the next read starts: fairness between loops */
	bool paused;
	int peek_loop;	   /* the ring of the record rlog_peek handed out, -1: none */
	uint64_t cursor[]; /* per loop */
};

/* The hub and its NLOOPS rings (mmap'd, MAP_NORESERVE: memory is touched
 * only once records are written). NULL on ENOMEM. Any thread, at start. */
struct rlog_hub *rlog_hub_create(unsigned nloops);
/* Free H (no subscriber left, no loop writing); NULLs *HP, accepts NULL. */
void rlog_hub_free(struct rlog_hub **hp);
/* Loop LOOP's ring, for that loop's thread to write. */
struct rlog_ring *rlog_hub_ring(struct rlog_hub *h, unsigned loop);

/* Is anybody listening? The request path's one test; R may be NULL. */
static inline bool rlog_on(const struct rlog_ring *r)
{
	return r && __builtin_expect(atomic_load_explicit(r->subs, memory_order_relaxed) != 0, 0);
}

/* Is any subscriber reading (not paused)? Tested once a request is
 * done, after rlog_on said someone subscribes. */
static inline bool rlog_active(const struct rlog_ring *r)
{
	return atomic_load_explicit(r->active, memory_order_relaxed) != 0;
}

/* A record nobody active would read: its sequence number goes by
 * unwritten, so a paused reader that comes back counts it as lost. */
static inline void rlog_skip(struct rlog_ring *r)
{
	uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
}

/* Are header values wanted at all? (rlog_hdr_name for each slot
 * otherwise.) */
static inline bool rlog_hdrs_wanted(const struct rlog_ring *r)
{
	return atomic_load_explicit(&r->hub->names_used, memory_order_relaxed) != 0;
}

/* Are response header values wanted? (The head writers look at their
 * heads only then.) */
static inline bool rlog_resp_wanted(const struct rlog_ring *r)
{
	return atomic_load_explicit(&r->hub->resp_used, memory_order_relaxed) != 0;
}

/* The header names' generation now: values looked up under one
 * generation belong in a record of the same (rec->hdr_gen). */
static inline uint32_t rlog_names_gen(const struct rlog_ring *r)
{
	return atomic_load_explicit(&r->hub->names_seq, memory_order_acquire);
}

/*
 * Writer, on the ring's loop thread: the slot for the next record, zeroed
 * up to its strings (their first bytes cleared), to be filled in place and
 * published by rlog_commit; nothing in between may wait. The header names
 * to look up are rlog_hdr_name(r, i) for i < RLOG_HDRS (NULL: unused).
 */
struct rlog_rec *rlog_begin(struct rlog_ring *r);
void rlog_commit(struct rlog_ring *r);

/* The writer's view of header name I, or NULL. Read between begin and
 * commit; rlog_commit drops the values if the names changed meanwhile. */
const char *rlog_hdr_name(const struct rlog_ring *r, unsigned i);

/* MONO_NS (CLOCK_MONOTONIC) as wall clock µs since the epoch, by an
 * offset rlog_begin takes again every few thousand records: a record
 * needs no clock read of its own for its time. */
static inline int64_t rlog_wall_us(const struct rlog_ring *r, uint64_t mono_ns)
{
	return ((int64_t)mono_ns + r->wall_off) / 1000;
}

/* Copy at most ROOM-1 bytes of S (LEN bytes; S may be NULL) into D,
 * NUL-terminated; the length copied. Inline: a record makes half a dozen
 * of these. */
static inline uint16_t rlog_copy(char *d, size_t room, const char *s, size_t len)
{
	if (!s)
		len = 0;
	if (len >= room)
		len = room - 1;
	__builtin_memcpy(d, s ? s : "", len);
	d[len] = '\0';
	return (uint16_t)len;
}

/*
 * A new reader of H that starts with the records written from now on,
 * with the header values of NAMES (N of them, lower-case, each shorter
 * than RLOG_HDR_NAME; RLOG_RESP_MARK first for a response header's). *SUBP on success; -EBUSY at
 * RLOG_MAX_SUBS readers, -ENOSPC when the names would need more than RLOG_HDRS slots, -EINVAL for a
 * bad name, -ENOMEM.
 */
int rlog_subscribe(struct rlog_hub *h, const char *const *names, unsigned n,
		   struct rlog_sub **subp);
/* Drop the reader; NULLs *SP, accepts NULL. */
void rlog_unsubscribe(struct rlog_sub **sp);

/*
 * The next record for S, copied into *OUT: 1, or 0 when it has read
 * everything written so far (out->hdr only when S has header names). Records lost since the last
 * call are added to s->lost.
 */
int rlog_read(struct rlog_sub *s, struct rlog_rec *out);

/*
 * The same without the copy: the next record for S where it lies in its
 * ring, or NULL when S has read everything. It may be overwritten while
 * it is looked at (its strings stay NUL-terminated within their rooms,
 * so reading them is safe): rlog_peek_done then says whether what was
 * read of it holds (true), or it is to be thrown away (false, counted as
 * lost). Every rlog_peek that returns a record needs its rlog_peek_done.
 */
const struct rlog_rec *rlog_peek(struct rlog_sub *s);
bool rlog_peek_done(struct rlog_sub *s);

/*
 * A reader that cannot keep up (its client's socket is full) stops
 * costing the writers: while no subscriber is active they skip records
 * (rlog_skip) rather than write them. rlog_resume makes it active again;
 * what went by meanwhile is counted in s->lost by the next reads.
 * Same thread as rlog_read.
 */
void rlog_pause(struct rlog_sub *s);
void rlog_resume(struct rlog_sub *s);

/* Has some ring gone a whole ring past S's cursor? Such a reader is
 * already losing what it has not read: it cannot keep up. Pausing it
 * loses up to one more ring per loop (the records still there when it
 * reads again would have been written). */
bool rlog_lapped(const struct rlog_sub *s);

/* The value of S's I-th header name in REC, or NULL (absent, or the
 * record predates the names). */
const char *rlog_sub_hdr(const struct rlog_sub *s, const struct rlog_rec *rec, unsigned i);

#endif
