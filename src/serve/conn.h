/*
 * client.h - one client connection and the task that serves it.
 *
 * The task reads requests (llhttp), answers them in order (so pipelining
 * works by construction), forwards each to a backend (upstream.c) and
 * keeps the connection alive between requests. Errors a peer can cause are
 * answered with a status and a log line, never an assert.
 *
 * Memory: between requests an idle keep-alive connection is parked: its
 * task ends, its buffers are freed, and a poll watch stays armed in the
 * ring; the struct (under 1 KiB) is all it costs. When bytes arrive, a new
 * task starts and allocates the buffers again.
 */
#ifndef RINGCACHE_SERVE_CONN_H
#define RINGCACHE_SERVE_CONN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "http/msg.h"
#include "ops/metrics.h"
#include "serve/worker.h"
#include "rt/io.h"

#define CLIENT_MAGIC 0x434c4e54u

#define CLIENT_TARGET_LOG 128
#define CLIENT_REQ_TARGET 512
#define CLIENT_LOC	  256

struct client {
	unsigned magic;
	struct worker *w;
	int fd;
	char peer[64];	  /* "ip:port" for logs */
	char peer_ip[48]; /* for X-Forwarded-For */
	struct client *prev, *next;
	struct rt_task *task;  /* NULL while parked */
	bool idle;	       /* waiting for the first byte of a request: drain may cancel */
	bool closing;	       /* the connection ends after the current response */
	bool parked;	       /* idle between requests with no task and no buffers */
	bool trusted;	       /* this request came from a trusted_proxies network */
	bool override;	       /* it carries a method or URL override field: pass */
	struct rt_watch watch; /* armed while parked */
	struct gen *gen;       /* held while a request is served (gen.h) */

	/*
	 * Everything below points into MEM, which exists only while a task
	 * serves the connection: an idle keep-alive connection keeps this
	 * struct and nothing else.
	 */
	char *mem;

	/* Request side: buf holds [0, len) received bytes, parsed up to pos. */
	char *buf;
	uint32_t cap, len, pos;
	struct hmsg req;
	char *target_log; /* method and target, for log lines */
	char *req_target; /* the request-target, for invalidation */

	/* Per response: what the cache path and the relay report. */
	uint64_t bytes_out;	  /* sent to the client for this response, head included */
	int64_t upstream_ns;	  /* backend exchange until its response head; -1: none */
	rt_time_t head_t0;	  /* when the first byte of this request head was in */
	char backend[96];	  /* "NAME ADDRESS" of the server that answered, or "" */
	const char *cache_status; /* Cache-Status value to add, or NULL (valid only
				   * inside cache_handle: it may be on its stack) */
	const char *cache_word;	  /* for the access log: "hit", "miss", "pass"... or NULL */
	int resp_status;
	char *loc, *cloc;	     /* Location / Content-Location of a passed response */
	const char *invalidate_host; /* unsafe request: invalidate once the status is known */

	/* Response side and head building. */
	char *rbuf;
	uint32_t rcap;
	char *obuf;
	uint32_t ocap;
	struct hmsg resp;
};

/* Accepted FD: allocate the client and start its task (detached). */
int client_start(struct worker *w, int fd, const struct sockaddr_storage *peer);

/* Unmap the worker's cached connection buffers (at loop exit). */
void client_membufs_free(struct worker *w);

/* Count N bytes (an I/O result; negative: nothing) sent to the client. */
static inline void client_sent(struct client *c, ssize_t n)
{
	if (n > 0) {
		c->bytes_out += (uint64_t)n;
		METRIC_BYTES(&c->w->metrics, client_sent_bytes, n);
	}
}

/* Send a complete short error response; the connection will close. */
int client_send_error(struct client *c, int status, const char *detail);

#endif
