/*
 * conn.h - a client connection and the task that serves it.
 *
 * The task reads requests, answers them in order (so pipelining works by
 * construction), hands each to the cache path (cachepath.h) and keeps the
 * connection alive between requests. Errors a peer can cause are answered
 * with a status and a log line, never an assert.
 *
 * Memory: a struct conn is what a connection keeps for its whole life,
 * and nothing more: the fd, its place on the worker's list, the park
 * watch and the peer's address. While a task serves it, a mapping holds
 * its struct req (req.h) with the buffers; after a moment without a new
 * request the connection parks: the task ends, the mapping goes back
 * (membuf.h), and a poll watch stays armed in the ring. When bytes arrive
 * a new task starts and takes a mapping again.
 */
#ifndef RINGCACHE_SERVE_CONN_H
#define RINGCACHE_SERVE_CONN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "rt/io.h"
#include "serve/worker.h"

#define CONN_MAGIC 0x434f4e4eu

struct req;

struct conn {
	unsigned magic;
	int fd;
	struct worker *w;
	struct conn *prev, *next; /* on the worker's list, for drain */
	struct rt_task *task;	  /* NULL while parked */
	struct req *req;	  /* while a task serves it: in its mapping */
	bool idle;		  /* waiting for the first byte of a request: drain may cancel */
	bool parked;		  /* idle between requests with no task and no mapping */
	bool proxy_header;	  /* a PROXY header is still to be read (listen proxy_protocol) */
	uint8_t family;		  /* the peer: AF_INET, AF_INET6 or AF_UNSPEC */
	uint16_t port;		  /* host order */
	uint8_t addr[16];	  /* network order (IPv4 in the first 4) */
	struct rt_watch watch;	  /* armed while parked */
};

/* Accepted FD from PEER: make the connection and start its task
 * (detached). 0, or -ENOMEM (FD is then still the caller's). */
int conn_start(struct worker *w, int fd, const struct sockaddr_storage *peer, bool proxy_header);

/* Drain, on W's loop: idle connections close now (parked ones, and those
 * waiting for a request's first byte); busy ones end after their current
 * response, as they see be.draining. */
void conns_drain(struct worker *w);
/* Past the drain deadline: cancel every connection that is left. */
void conns_force(struct worker *w);

#endif
