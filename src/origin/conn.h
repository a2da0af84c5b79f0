/*
 * conn.h - accepting connections and serving each one from a detached task.
 */
#ifndef RINGCACHE_ORIGIN_CONN_H
#define RINGCACHE_ORIGIN_CONN_H

#include "origin/origin.h"

/* Task body: accept on W->lfd until cancelled, one task per connection. */
void conn_acceptor(void *w);
/* On W's loop thread, outside any task: cancel the acceptor and every
 * connection so that the loop's tasks unwind and rt_loop_run returns. */
void conn_stop_all(struct origin_worker *w);

#endif
