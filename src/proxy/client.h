/*
 * client.h - one client connection and the task that serves it.
 *
 * The task reads requests (llhttp), answers them in order (so pipelining
 * works by construction), forwards each to a backend (upstream.c) and
 * keeps the connection alive between requests. Errors a peer can cause are
 * answered with a status and a log line, never an assert.
 *
 * Memory: the struct and its buffers are one allocation made at accept.
 * (Parking an idle connection without its buffers is issue #4's work.)
 */
#ifndef RINGCACHE_PROXY_CLIENT_H
#define RINGCACHE_PROXY_CLIENT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "http/msg.h"
#include "proxy/proxy.h"

#define CLIENT_MAGIC 0x434c4e54u

struct client {
	unsigned magic;
	struct worker *w;
	int fd;
	char peer[64];	  /* "ip:port" for logs */
	char peer_ip[48]; /* for X-Forwarded-For */
	struct client *prev, *next;
	struct rt_task *task;
	bool idle;    /* waiting for the first byte of a request: drain may cancel */
	bool closing; /* the connection ends after the current response */

	/* Request side: buf holds [0, len) received bytes, parsed up to pos. */
	char *buf;
	uint32_t cap, len, pos;
	struct hmsg req;
	char target_log[128]; /* method and target, for log lines */
	char req_target[512]; /* the request-target, for invalidation */

	/* Per response: what the cache path and the relay report. */
	const char *cache_status; /* Cache-Status value to add, or NULL */
	int resp_status;
	char loc[256], cloc[256]; /* Location / Content-Location of a passed response */

	/* Response side and head building. */
	char *rbuf;
	uint32_t rcap;
	char *obuf;
	uint32_t ocap;
	struct hmsg resp;
};

/* Accepted FD: allocate the client and start its task (detached). */
int client_start(struct worker *w, int fd, const struct sockaddr_storage *peer);

/* Send a complete short error response; the connection will close. */
int client_send_error(struct client *c, int status, const char *detail);

#endif
