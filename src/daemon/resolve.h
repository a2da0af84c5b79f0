/*
 * resolve.h - backend servers written as DNS names, followed while the
 * daemon runs (docs/routing.md, "Backends that follow DNS").
 *
 * A server given as "host:port" is a name in the config (config_addr.host),
 * never resolved at load. The daemon follows every distinct (host, port)
 * its config writes as a server with one resolver (backend/dns.h, a
 * thread of its own), keeps each name's newest address set here, and
 * makes every configuration generation with those sets (gen_create's
 * names callback is resolve_set): one server per address.
 *
 * Threads and messages:
 *
 *   resolver thread ── on_event ──▶ mailbox (mu): the name's newest set,
 *                                   the start of a run of failures, a
 *                                   recovery; the first post since the
 *                                   main thread last looked sends it
 *                                   RESOLVE_SIGNAL (pthread_kill)
 *   main thread (sigwait) ◀────────┘ resolve_woken: take at resolve_due
 *                                   (at most one new generation per
 *                                   RESOLVE_GAP, so a burst of changes is
 *                                   one); resolve_take moves the posts in
 *                                   and logs them; the daemon then makes a
 *                                   generation sharing the running config
 *                                   and switches the loops to it as a
 *                                   reload does (daemon_follow)
 *
 * The mailbox lives in the names' records, under MU, which the callback
 * takes with the resolver's lock held: the main thread never holds MU
 * while it calls the resolver. A record is freed only after a dns_update
 * that no longer names it has returned (after which no event carries
 * it), and each resolver the daemon starts has an epoch: events of one
 * being replaced (the resolver keys changed at a reload) are dropped.
 *
 * Everything here is for the main thread except the counters, which
 * stats_take reads on a loop.
 */
#ifndef RINGCACHE_DAEMON_RESOLVE_H
#define RINGCACHE_DAEMON_RESOLVE_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend/dns.h"
#include "config/config.h"
#include "rt/clock.h"

#define RESOLVE_MAGIC 0x52534c56u /* "RSLV" */

/* The signal the resolver's callback wakes the main thread with; the main
 * thread blocks it and takes it in sigwait with the others. */
#define RESOLVE_SIGNAL (SIGRTMIN + 1)

/* Changes closer together than this make one generation. */
#define RESOLVE_GAP (100 * RT_MS)

struct rname;
struct resolve_inst;

struct resolve {
	unsigned magic;
	struct dns *dns;	   /* NULL until a config names a server */
	struct resolve_inst *inst; /* what DNS calls back with */
	char *servers;		   /* the options DNS runs with (resolver.*): CSV or NULL */
	uint64_t interval_ns, timeout_ns;
	struct rname **names; /* followed now (main thread) */
	size_t n_names;
	pthread_t main;
	bool stale;	/* the newest generation lacks a set taken since */
	rt_time_t due;	/* when resolve_take should run; RT_NEVER: nothing waits */
	rt_time_t last; /* the last generation made for a change */
	unsigned epoch; /* of the newest resolver started */

	pthread_mutex_t mu;  /* the mailbox (struct rname's posted fields), EPOCH_LIVE, PENDING */
	pthread_cond_t cv;   /* a name's first answer came */
	unsigned epoch_live; /* events of this resolver's epoch count */
	bool pending;	     /* posts not taken yet: the signal was sent */
	bool member_post;    /* a post of a cluster's name among them */
	uint64_t settle_ns;  /* cluster.discovery.settle, 0: none (main thread) */

	/* For /metrics (any thread). */
	atomic_bool running;
	_Atomic uint64_t names_followed, changes, failures, generations;
};

/* Set up R for the calling (main) thread; starts nothing. */
void resolve_init(struct resolve *r);

/* Stop the resolver and free everything (the loops have ended). */
void resolve_fini(struct resolve *r);

enum {
	RESOLVE_KEEP = 1u << 0,	   /* keep following the names followed now, too */
	RESOLVE_REFRESH = 1u << 1, /* look every name up again now (a reload) */
};

/*
 * Follow the names CFG's servers give (FLAGS above), starting the
 * resolver when the first name comes and starting it anew when
 * resolver.* differ from what it runs with. Names new to R are looked up
 * at once, and this waits (at most resolver.timeout) until each of them
 * answered or failed, so that a generation made next has their addresses;
 * a name that does not resolve then is logged and has no server until it
 * does. What arrived meanwhile is taken (as resolve_take). 0, or -errno
 * (out of memory, a resolver that cannot start) with the names followed
 * as they were.
 */
int resolve_follow(struct resolve *r, const struct config *cfg, unsigned flags);

/* The current set of (HOST, PORT), or NULL: gen_names_fn (backend/gen.h)
 * with CTX a struct resolve. */
const struct dns_set *resolve_set(void *ctx, const char *host, uint16_t port);

/* RESOLVE_SIGNAL came: posts wait. Schedules resolve_take. */
void resolve_woken(struct resolve *r);

/* When the main thread should call resolve_take (RT_NEVER: not now). */
rt_time_t resolve_due(const struct resolve *r);

/*
 * Move the posted sets in and log, per backend of CFG that names it, each
 * change ("backend app: api.internal:8000 now 10.0.0.5, 10.0.0.6"), the
 * start of a run of failures and a recovery. True when the newest
 * generation lacks a current set (a new one is due); then the caller
 * makes it and calls resolve_applied, or resolve_retry.
 */
bool resolve_take(struct resolve *r, const struct config *cfg);

/* The newest generation was made with the current sets (FOR_DNS: because
 * they changed, for the count). */
void resolve_applied(struct resolve *r, bool for_dns);

/* Making the generation failed or had to wait: try again in NS. */
void resolve_retry(struct resolve *r, uint64_t ns);

#endif
