/*
 * listen.h - listening sockets: the main thread's table of them and the
 * loops' acceptors.
 *
 * Every proxy address has one SO_REUSEPORT socket per loop, so the kernel
 * spreads connections over the loops; the admin address has one socket,
 * served by loop 0. The main thread opens the sockets (a bad address fails
 * startup, or the reload, at once) and hands each to its loop, which arms
 * a multishot accept on it and from then on owns it: the acceptor closes
 * the socket when it is stopped.
 *
 * A reload builds a new table from the new config: an address the old
 * table had (same kind, same configured address) keeps its sockets and
 * acceptors, so no connection waiting in a backlog is lost; new addresses
 * get new sockets; the loops stop the acceptors of addresses that are gone.
 */
#ifndef RINGCACHE_DAEMON_LISTEN_H
#define RINGCACHE_DAEMON_LISTEN_H

#include <stdbool.h>
#include <sys/socket.h>

#include "config/config.h"

struct worker;
struct acceptor;

/* One loop's side of the listeners (embedded in the daemon's loop). */
struct listen_loop {
	struct worker *w;	    /* serves what its acceptors accept (serve/conn.h) */
	struct acceptor *acceptors; /* listening sockets armed on this loop */
	/* A connection accepted on the admin listener: takes FD. Set by
	 * whoever serves the admin API (daemon/admin.h); NULL: closed. */
	void (*admin)(struct listen_loop *ll, int fd);
};

enum listen_kind { LISTEN_PROXY, LISTEN_ADMIN };

struct listen_ent {
	enum listen_kind kind;
	struct config_addr addr; /* as configured (spec is the config's; port 0 stays 0) */
	int *fds; /* per loop; -1 once a loop took it over, or for loops that have none */
};

struct listen_table {
	struct listen_ent *ent;
	size_t n;
	unsigned nloops;
};

/*
 * Build the table CFG asks for (main thread). Addresses OLD (may be NULL)
 * has are kept: their entries get no sockets, the loops keep theirs. New
 * addresses get new sockets; a port 0 address binds one kernel-chosen
 * port for all loops. On error closes what it opened, logs
 * "listen ADDR: reason" and returns -errno.
 */
int listen_table_build(struct listen_table *out, const struct config *cfg,
		       const struct listen_table *old, unsigned nloops);

/* Close the sockets no loop has taken over, and free the table. */
void listen_table_free(struct listen_table *t);

/*
 * On LL's loop: stop its acceptors whose address T does not have, and start
 * acceptors on the sockets T opened for this loop (taking them over). The caller
 * must not change T until this has run on every loop.
 */
void listen_apply(struct listen_loop *ll, struct listen_table *t);

/* On LL's loop: stop all its acceptors (drain). Connections already
 * accepted go on. */
void listen_stop(struct listen_loop *ll);

#endif
