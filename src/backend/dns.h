/*
 * dns.h - backend server names that follow DNS.
 *
 * A server given as `host:port` (a Docker compose or Kubernetes service
 * name) is resolved at load, but the addresses behind it change while the
 * daemon runs. The resolver looks up each name it is given again every
 * `interval` (and at once on dns_refresh, e.g. at a reload) and tells its
 * caller when the sorted, de-duplicated set of addresses differs from the
 * last one. A failed lookup (timeout, SERVFAIL, NXDOMAIN, no address) is
 * reported too, but the last good set stays the name's set: a DNS outage
 * must not empty a backend.
 *
 * IPv4 and IPv6: a lookup is two c-ares calls, A and AAAA, each with the
 * system's search list and /etc/hosts. It succeeds when either family
 * gives addresses; the new set is those, plus the last set's addresses
 * of a family whose query failed (timeout, SERVFAIL), so an AAAA query
 * that times out now and then does not take the IPv6 servers out and put
 * them back. A family the DNS answers has none (NODATA, NXDOMAIN) loses
 * its addresses.
 *
 * Threads. The resolver runs on a thread of its own ("rc-dns", every
 * signal blocked): lookups never run on a loop thread, and the main
 * thread sits in sigwait. It owns a c-ares channel (c-ares 1.18's
 * channels are not thread-safe, so nothing else touches it), polls the
 * channel's sockets and an eventfd other threads wake it with, and has a
 * deadline on every lookup: c-ares's per-try timeout and tries bound each
 * DNS query (a try's timeout doubles on each round through the servers),
 * and a lookup still unfinished `deadline` after it began is abandoned and
 * reported as -ETIMEDOUT (its late answer, if any, is dropped).
 *
 * The callback (opts.on_event) runs on the resolver thread with the
 * resolver's lock held, so after dns_update returns every event carries
 * the args given to it and none comes for a name it removed; after
 * dns_stop returns none comes at all. The callback must be short and must
 * not block or call dns_update, dns_refresh or dns_stop (it would
 * deadlock; an assert says so). rt_loop_post, a mutex and an eventfd
 * write, is fine.
 *
 * Sets are immutable and refcounted (atomically), so one set can be
 * posted to every loop and dropped by each on its own thread.
 *
 * How it is meant to be integrated (the caller's side, not done here):
 *
 *   - The daemon owns one `struct dns`, started by the main thread after
 *     the first config is loaded (opts from the config), stopped
 *     (dns_stop joins) at exit before the generations are freed.
 *   - After each load or reload the main thread calls dns_update with
 *     every distinct (host, port) written as a server, then dns_refresh
 *     (resolv.conf read again, every name looked up now).
 *   - A server index means the same server on every loop (the shared
 *     round-robin order, per-server active counts and health, each loop's
 *     pools), so a new address set is best applied as a new generation,
 *     the way a reload is: on_event keeps the newest set per name (a
 *     dns_set_hold into a mutex-guarded mailbox) and wakes the main
 *     thread (pthread_kill with a signal it sigwaits for). The main
 *     thread builds a generation whose backend has one server per address
 *     of each name (the spec's weight each), health_inherit and gen_switch
 *     carry the state and idle connections of addresses that stay, and
 *     requests on removed ones finish on the old generation, which is then
 *     freed: added addresses join, removed ones drain. Coalescing wakes in
 *     the mailbox bounds the rebuilds to one per burst of changes.
 *   - If the loops are to take the set themselves instead, post one
 *     rt_msg per loop, each in a record holding the name's key and its own
 *     dns_set_hold; the handler runs on the loop and dns_set_puts it.
 *   - Failures: log the first of a run (failures == 1), count the rest;
 *     an event with status 0 and !changed says the name resolves again.
 */
#ifndef RINGCACHE_BACKEND_DNS_H
#define RINGCACHE_BACKEND_DNS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DNS_MAGIC     0x444e5352u /* "DNSR" */
#define DNS_SET_MAGIC 0x444e5353u /* "DNSS" */

/* One address of a name, with the name's port. Field names as in
 * struct config_addr, so a server's address is a memcpy away. */
struct dns_addr {
	struct sockaddr_storage sa; /* AF_INET or AF_INET6 */
	socklen_t salen;
};

/* A name's addresses: at least one, sorted by dns_addr_cmp, no two equal.
 * Immutable once made; freed by the dns_set_put that drops the last
 * reference, from any thread. */
struct dns_set {
	unsigned magic;
	atomic_uint refs;
	size_t n;
	struct dns_addr addr[];
};

/* Another reference to S (for a message to a loop); returns S. */
struct dns_set *dns_set_hold(struct dns_set *s);
/* Drop the reference in *SP and NULL it (NULL is fine). */
void dns_set_put(struct dns_set **sp);
/* Same addresses? (NULL equals only NULL) */
bool dns_set_equal(const struct dns_set *a, const struct dns_set *b);
/* The order of a set: IPv4 before IPv6, then address bytes, scope id and
 * port; <0, 0, >0. Two sorted sets can be diffed with one merge walk. */
int dns_addr_cmp(const struct dns_addr *a, const struct dns_addr *b);

/* What the callback is told about one name. Everything is borrowed for
 * the call: hold SET to keep it. */
struct dns_event {
	const char *host;
	uint16_t port;
	void *arg;	   /* as given to dns_update for this name */
	int status;	   /* 0: the lookup succeeded; else a negative errno (below) */
	bool changed;	   /* status 0 and SET differs from the last set */
	unsigned failures; /* failed lookups in a row, this one included (0 on success) */
	const char *why;   /* status < 0: c-ares's words for it, for the log */
	/* status 0: the name's set (new if changed); status < 0: the last good
	 * set, which stays the name's set, or NULL when it never resolved. */
	struct dns_set *set;
};

/*
 * Statuses of a failed lookup:
 *   -ENOENT        NXDOMAIN: the name does not exist (after the search list)
 *   -ENODATA       the name exists but has no A or AAAA record
 *   -ETIMEDOUT     no answer within the tries, or the lookup's deadline passed
 *   -ECONNREFUSED  no DNS server could be reached (ICMP port unreachable, ...)
 *   -EIO           SERVFAIL, REFUSED, a malformed answer, ...
 *   -ENOMEM, -EINVAL (a name c-ares will not look up)
 * The callback is called on every failed lookup, on every change, and on
 * the first success after failures (changed or not); an answer equal to
 * the last set after a success gives no call.
 */
typedef void (*dns_fn)(void *ctx, const struct dns_event *ev);

struct dns_opts {
	uint64_t interval_ns; /* between the end of a name's lookup and the next (0: 5 s) */
	uint64_t timeout_ns;  /* first try of a DNS query (c-ares ARES_OPT_TIMEOUTMS; 0: 1 s) */
	unsigned tries;	      /* tries per DNS server (ARES_OPT_TRIES; 0: 2) */
	uint64_t deadline_ns; /* a whole lookup, search list and both families (0: 10 s) */
	/* "IP[:PORT],IP[:PORT]..." (ares_set_servers_ports_csv; IPv6 as
	 * "[::1]:53"); NULL: the servers of /etc/resolv.conf. The search list,
	 * ndots and /etc/hosts are the system's either way. */
	const char *servers;
	dns_fn on_event; /* required */
	void *ctx;
};

/* A name to follow. HOST is a DNS name (not an IP literal: those need no
 * lookup); (HOST, PORT) identifies the name across dns_update calls. */
struct dns_name {
	const char *host;
	uint16_t port;
	void *arg;
};

struct dns;

/*
 * Start a resolver with no names (dns_update gives them). Returns NULL with
 * a negative errno in *ERR: -EINVAL (bad opts.servers), -ENOMEM, or what
 * creating the channel, the eventfd or the thread failed with.
 */
struct dns *dns_start(const struct dns_opts *opts, int *err);

/*
 * Follow exactly NAMES (copied; N may be 0). A name kept from the last call
 * keeps its set, its schedule and any lookup in flight, and takes the new
 * arg; a new name is looked up at once; a dropped one is forgotten (its
 * lookup's answer is ignored). 0, or -EINVAL (an empty or over-long host,
 * the same (host, port) twice) or -ENOMEM, with the names left as they
 * were. Any thread but the resolver's; it takes the resolver's lock.
 */
int dns_update(struct dns *d, const struct dns_name *names, size_t n);

/* Look every name up now, on a channel made anew (so changes to
 * /etc/resolv.conf are seen); lookups in flight are dropped. Does not
 * wait. Any thread but the resolver's. */
void dns_refresh(struct dns *d);

/* Stop the resolver: lookups in flight are cancelled (not reported), the
 * thread is joined, everything is freed (sets the callback held stay
 * valid) and *DP is NULLed. Returns promptly, whatever DNS is doing. */
void dns_stop(struct dns **dp);

/* Counters since start (any thread). */
struct dns_counts {
	uint64_t lookups;   /* finished: answered, failed or abandoned */
	uint64_t failures;  /* of those, failed */
	uint64_t changes;   /* events with changed */
	uint64_t abandoned; /* failures because the deadline passed */
};
void dns_counts_read(struct dns *d, struct dns_counts *out);

#endif
