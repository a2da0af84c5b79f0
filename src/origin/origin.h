/*
 * origin.h - what main.c shares with the connection code: one worker per
 * loop thread, each with its own SO_REUSEPORT listener.
 */
#ifndef RINGCACHE_ORIGIN_ORIGIN_H
#define RINGCACHE_ORIGIN_ORIGIN_H

#include <pthread.h>
#include <stdbool.h>

#include "rt/loop.h"
#include "rt/task.h"

struct origin_conn;

struct origin_worker {
	int index;
	int lfd;
	pthread_t thread;
	struct rt_loop *loop;
	/* Posted by the main thread on SIGTERM/SIGINT; runs on the loop. */
	struct rt_msg stop_msg;
	/* Everything below is touched only on the worker's loop thread. */
	struct rt_task *acceptor;
	struct origin_conn *conns; /* live connections, so shutdown can cancel them */
	bool stopping;
};

/* The port every listener is bound to; answered in X-Origin-Port. */
extern unsigned origin_port;

#endif
