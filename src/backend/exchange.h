/*
 * exchange.h - one exchange with a backend: the try loop that a pass, a
 * cache miss and a background refresh all run (Varnish's VBF_Fetch).
 *
 * exchange_begin picks a server, takes a pooled connection or connects,
 * sends the request head (and, on the first attempt, the request body),
 * and reads until the final response head is in: interim 1xx responses go
 * to the caller's hook (or are dropped; more than EXCHANGE_INTERIM_MAX
 * before the final head fail the attempt), a 101 is an error unless the
 * request asks for an upgrade (then it is the final head, and the caller
 * makes the connection a tunnel). A failure goes on to another attempt
 * where it is safe:
 *   - a pooled connection that turns out closed before any response byte:
 *     once more on a fresh connection to the same server, if the request
 *     is idempotent (it may have acted on it before it closed);
 *   - a connect error: another server, for any request (nothing was sent);
 *   - a send error, a close, a timeout or a malformed response before the
 *     final head: another server, for idempotent requests only;
 * each within the backend's `retries`. An upgrade request is sent once,
 * on a fresh connection (a stale pooled one could not be retried), and its
 * connection is never pooled afterwards, whatever the answer.
 * exchange_read then hands out the decoded response body piece by piece,
 * and exchange_end gives the connection back with the one reuse rule: the
 * response complete with no byte past it, keep-alive on both sides, not
 * delimited by close, and no response byte before the request body was
 * all sent. Bytes past a complete response make the server suspect
 * (backend_unsolicited).
 *
 * Counters: backend_requests per attempt sent, backend_retries per move to
 * another server, backend_errors per exchange that failed on the backend's
 * side (not when the client went away). Deadlines: the backend's
 * connect_timeout, first_byte_timeout and between_bytes_timeout, and
 * timeouts.send for every send.
 *
 * The caller owns the response parser and its buffer (a client's, or the
 * fetch task's own); the exchange owns the connection from begin to end.
 */
#ifndef RINGCACHE_BACKEND_EXCHANGE_H
#define RINGCACHE_BACKEND_EXCHANGE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/gen.h"
#include "backend/pool.h"
#include "http/msg.h"

#define EXCHANGE_MAGIC 0x45584348u

/* Interim responses taken before the final head. RFC 9110 15.2 sets no
 * limit; Early Hints need a few, and a 102 heartbeat every 20 s reaches
 * it only after 21 minutes. */
#define EXCHANGE_INTERIM_MAX 64

/* A request body source's answers besides a byte count (> 0) or 0 (the
 * body is complete). */
enum {
	EXCHANGE_BODY_CLIENT = -1, /* the client closed, timed out or sent a bad body */
	EXCHANGE_BODY_TOO_LARGE = -2,
};

enum exchange_result {
	EXCHANGE_OK = 0,
	EXCHANGE_FAILED = -1,	 /* the backend side failed: status (502/504) and why are set */
	EXCHANGE_CLIENT = -2,	 /* the client went away (body source or interim hook) */
	EXCHANGE_TOO_LARGE = -3, /* the request body grew past limits.max_body_size */
};

/* How the caller ends an exchange that began. */
enum exchange_end {
	EXCHANGE_END_DONE,    /* the response body was read to its end */
	EXCHANGE_END_CLIENT,  /* given up because of the client side */
	EXCHANGE_END_BACKEND, /* exchange_read failed */
	EXCHANGE_END_TUNNEL,  /* the connection carried a tunnel after a 101: closed */
};

struct exchange {
	unsigned magic;
	/* Set by the caller before exchange_begin. */
	struct bloop *b;
	struct gen *g; /* held by the caller for the whole exchange */
	unsigned backend;
	const struct hmsg *req; /* the request: server choice (hash) */
	const char *who;	/* log prefix: "client 1.2.3.4:5: GET /x", "fetch /x" */
	const char *head;	/* the request head to send */
	size_t head_len;
	const char *first; /* decoded body bytes sent with the head (may be NULL) */
	size_t first_len;
	bool chunked;	 /* the request body is sent chunked */
	bool has_body;	 /* the request has a body (it is then never sent twice) */
	bool idempotent; /* its method may be sent again to another server */
	bool head_req;	 /* the response answers a HEAD: no body */
	bool upgrade;	 /* it asks for an upgrade: a 101 is its final head */
	/* More request body after FIRST: the next decoded piece at *P (> 0), 0
	 * at its end, or EXCHANGE_BODY_*. NULL: none. */
	ssize_t (*body_next)(void *ctx, const char **p);
	/* A 1xx other than 101 arrived in RESP: forward it (or not). < 0: the
	 * client is gone. NULL: interim responses are dropped. */
	int (*on_interim)(void *ctx, struct hmsg *resp);
	void *ctx;
	struct hmsg *resp; /* the caller's response parser, over RBUF */
	char *rbuf;
	uint32_t rcap;
	/* Deadlines instead of the backend's (a route's timeouts); 0: its own. */
	uint64_t connect_ns, first_byte_ns, between_bytes_ns;
	/* For a backend with proxy_protocol: the client and the address it
	 * connected to, sent in a PROXY v2 header first on a fresh connection
	 * that is then never pooled (it is that client's). NULL: LOCAL. */
	const struct sockaddr *client, *local;
	/* To server PIN of the backend only (backend_try_pin): a cluster's
	 * forward to one member, which walks its failover order itself. */
	bool pinned;
	unsigned pin;

	/* Filled in. */
	struct bconn bc; /* the connection, from begin to end (bc.fd < 0: none) */
	uint32_t len, pos;
	int status;	      /* on EXCHANGE_FAILED: 502 or 504 */
	const char *why;      /* what failed, for logs and Cache-Status */
	int err;	      /* its errno (negative), or 0 */
	bool proxied;	      /* a PROXY header went first: never pooled */
	unsigned attempts;    /* requests sent */
	int64_t request_ms;   /* wall clock when the last attempt was sent */
	int64_t response_ms;  /* wall clock when its final head was in */
	rt_time_t sent_at;    /* monotonic: the last attempt sent */
	rt_time_t head_at;    /* monotonic: its final head was in */
	int64_t conn_took_ns; /* the last attempt's connect (0: a pooled connection) */
	bool early;	      /* response bytes came before the request body was all sent */
	bool returned;	      /* the last exchange_read handed out the body region */
};

/* Run the attempts until a final response head is in X->resp (body bytes
 * may already be decoded in it). X->bc holds the connection until
 * exchange_end, which must follow EXCHANGE_OK; after a failure nothing is
 * held (the connection is closed) and exchange_end must not be called. */
enum exchange_result exchange_begin(struct exchange *x);

/*
 * The next piece of the response body, decoded, at *P: its length (> 0),
 * 0 when the body is complete, or a negative errno with X->why set
 * (-ETIMEDOUT between bytes, -EPIPE closed early, -EPROTO malformed, ...).
 * With NOWAIT, -EAGAIN instead of waiting for the backend. The piece stays
 * valid until the next call.
 */
ssize_t exchange_read(struct exchange *x, const char **p, bool nowait);

/* What the request record stream keeps of an exchange (ops/rlog.h). */
struct exchange_timing {
	unsigned attempts; /* 0: no exchange */
	int8_t reused;	   /* the last attempt's connection came from a pool */
	int64_t connect_ns, ttfb_ns;
};

/* X's timing after exchange_begin (either result). */
void exchange_timing(const struct exchange *x, struct exchange_timing *out);

/* Give the connection back (pooled when the reuse rule allows) and count
 * the outcome. */
void exchange_end(struct exchange *x, enum exchange_end how);

/*
 * The reuse rule, on its own: may the connection that carried response M
 * go back to a pool? DONE: its body was read to the end; LEFT: bytes
 * received past the response's end; EARLY: response bytes came before the
 * request body was all sent.
 */
bool exchange_reusable(const struct hmsg *m, bool done, uint32_t left, bool early);

/* The server the exchange talks to, "NAME ADDRESS" into OUT (for logs). */
void exchange_server(const struct exchange *x, char *out, size_t cap);

#endif
