/*
 * admin.h - the admin listener: health, metrics, stats, purge, ban, tag
 * purge (docs/admin.md). Served by loop 0 with the same runtime as client
 * traffic; requests are small and every action is a short store call, so
 * it needs no thread of its own.
 */
#ifndef RINGCACHE_DAEMON_ADMIN_H
#define RINGCACHE_DAEMON_ADMIN_H

#include "daemon/daemon.h"

/* A connection accepted on the admin listener (listen.c), on loop 0:
 * serve it in a task of its own. Takes FD. */
void admin_accepted(struct listen_loop *ll, int fd);

#endif
