/*
 * req.h - a request in progress on a client connection: its head, the
 * buffers it is read into and answered from, what the cache path decided
 * about it, and what the access log records of it.
 *
 * It lives at the start of the connection's buffer mapping (conn.c,
 * membuf.h), which exists only while a task serves the connection: an
 * idle keep-alive connection keeps its struct conn and none of this. One
 * struct req serves the connection's requests one after another (the
 * fields marked "per response" are reset before each), so pipelined
 * requests are answered in order by construction.
 *
 * The checks here run on each request head before anything else sees it:
 * req_validate refuses what llhttp leaves to us, req_sanitize makes the
 * request one that the cache and the backend read alike, req_drop_body
 * reads a GET or HEAD body and drops it.
 */
#ifndef RINGCACHE_SERVE_REQ_H
#define RINGCACHE_SERVE_REQ_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "backend/exchange.h"
#include "http/edits.h"
#include "http/msg.h"
#include "ops/metrics.h"
#include "ops/rlog.h"
#include "route/match.h"
#include "serve/worker.h"

#define REQ_MAGIC 0x52455131u

/* How a request's response ended: the one result convention of serve/. */
enum req_result {
	REQ_DONE = 0,	 /* response complete; the connection may continue */
	REQ_CLOSE = 1,	 /* response complete; close the connection */
	REQ_ABORT = 2,	 /* failed after the response started: reset without ending it */
	REQ_ERRORED = 3, /* an error response was sent; close */
	REQ_TUNNEL = 4,	 /* a 101 went out: the connection is a tunnel now (tunnel.h) */
};

#define REQ_TARGET_LOG 128  /* "METHOD target" for log lines, target cut at 100 */
#define REQ_TARGET     512  /* the request-target, for invalidation */
#define REQ_LOC	       256  /* Location / Content-Location of a passed response */
#define REQ_HOST       256  /* a Host lower-cased without its port */
#define REQ_VALUES     4096 /* expanded header rule values of one request */

/*
 * The route a request takes and what it makes of it (serve/routing.c).
 * Untouched (active false) when the configuration has no routes and no
 * header rules, so that such a request pays one test; it sits at the end
 * of struct req for the same reason (its pages are touched only by
 * requests that use it).
 */
struct req_route {
	bool active;			  /* routing ran for this request */
	const struct config_route *route; /* NULL: the default */
	int index;			  /* of the route, -1: none */
	unsigned backend;		  /* index into the generation's backends */
	struct tvalue caps[ROUTE_CAPS];	  /* of its regex, into path or host */
	unsigned n_caps;
	char host[REQ_HOST]; /* lower-cased, no port */
	size_t host_len;
	char path[REQ_TARGET]; /* normalised */
	size_t path_len;
	char target[REQ_TARGET]; /* what the backend gets: rewritten, or as sent */
	size_t target_len;
	bool rewritten;
	const char *send_host;	  /* Host for the backend, NULL: the client's */
	struct hedits req_edits;  /* applied when the head is forwarded */
	struct hedits resp_edits; /* applied when a response head is written */
	bool resp_ready;	  /* resp_edits expanded for this response */
	char request_id[24];
	char vals[REQ_VALUES]; /* expanded template values */
	size_t vals_used;
};
struct req {
	unsigned magic;
	struct worker *w;
	int fd;				 /* the connection's */
	struct gen *gen;		 /* held while the request is served (backend/gen.h) */
	bool closing;			 /* the connection ends after the current response */
	bool trusted;			 /* the peer is in trusted_proxies, or a member */
	bool cluster_hop;		 /* forwarded by a cluster member (the token matched):
					  * answered here, never forwarded again */
	bool override;			 /* it carries a method or URL override field: pass */
	enum close_reason close;	 /* why the connection closes, once that is decided;
					  * CLOSE_COUNT: not decided */
	char peer[64];			 /* "ip:port" for logs */
	char peer_ip[48];		 /* for X-Forwarded-For, the access log, trusted_proxies */
	struct sockaddr_storage peer_sa; /* the same, as an address */
	/* The client: the peer, or whom a trusted proxy's X-Forwarded-For
	 * names (req_sanitize); what routes, rate limits and the access log
	 * use. */
	char client_ip[48];
	struct sockaddr_storage client_sa;

	/* Request side: buf holds [0, len) received bytes, parsed up to pos. */
	char *buf;
	uint32_t cap, len, pos;
	struct hmsg req;
	/* Its Host field, or NULL: looked up once, by req_validate, for the
	 * cache path and the request record. A copy (host_copy): req_sanitize
	 * packs the field array when it drops fields, so a pointer into it
	 * could name another field afterwards; the spans point into the head's
	 * bytes, which stay put. */
	const struct hfield *host_f;
	struct hfield host_copy;
	char target_log[REQ_TARGET_LOG];
	char req_target[REQ_TARGET];

	/* Per response: what the cache path and the relay report. */
	uint64_t bytes_out;	  /* sent to the client for this response, head included */
	int64_t upstream_ns;	  /* backend exchange until its response head; -1: none */
	rt_time_t head_t0;	  /* when the first byte of this request head was in */
	char backend[96];	  /* "NAME ADDRESS" of the server that answered, or "" */
	const char *cache_status; /* Cache-Status value to add, or NULL (valid only
				   * inside cache_handle: it may be on its stack) */
	const char *cache_word;	  /* for the access log: "hit", "miss", "pass"... or NULL */
	int resp_status;
	char loc[REQ_LOC], cloc[REQ_LOC]; /* of a passed response, for invalidation */
	const char *invalidate_host;	  /* unsafe request: invalidate once the status is known */
	struct poststore *post;		  /* a POST whose response may be stored (poststore.h) */
	bool upgrade; /* asks for a tunnel its route allows (tunnel.h): passed, Upgrade kept */
	/* For the request record (serve/record.h): kept only while someone
	 * subscribes (rec_on, tested once per request and per send). */
	bool rec_on;
	rt_time_t t_first;	   /* the first response byte sent; 0: none yet */
	uint32_t head_len;	   /* bytes of the request head */
	uint64_t body_in;	   /* decoded request body bytes passed on */
	struct exchange_timing bx; /* the backend exchange's; attempts 0: none */
	char rec_cs[128];	   /* the Cache-Status value sent */
	/* Response header values subscribers named: see rec_rh below. */
	uint32_t rec_rh_gen;
	uint8_t rec_rh_n;
	/* From the 101 on (REQ_TUNNEL) until tunnel_run ends: the backend
	 * connection, and its bytes past the 101 in rbuf [tunnel.pos, tunnel.len). */
	struct exchange tunnel;

	/* Response side and head building. */
	char *rbuf;
	uint32_t rcap;
	char *obuf;
	uint32_t ocap;
	struct hmsg resp;

	struct req_route route; /* see struct req_route */
	/* Response header values subscribers named (RLOG_RESP_MARK names),
	 * by hub slot, taken from the head sent (record_note_head) under
	 * names generation rec_rh_gen; rec_rh_n: 0 when none was taken. After
	 * the route, out of req_get's clearing (1 KiB that only a request
	 * someone watches for response headers touches; record_note_head
	 * clears what it uses). */
	char rec_rh[RLOG_HDRS][RLOG_HDR_VAL];
};

/* The backend R goes to: its route's, or the first (no routes, none matched). */
static inline unsigned req_backend(const struct req *r)
{
	return r->route.active ? r->route.backend : 0;
}

/* Count N bytes (an I/O result; negative: nothing) sent to the client. */
static inline void req_sent(struct req *r, ssize_t n)
{
	if (n > 0) {
		if (r->rec_on && !r->t_first)
			r->t_first = rt_clock_now();
		r->bytes_out += (uint64_t)n;
		METRIC_BYTES(&r->w->metrics, client_sent_bytes, n);
	}
}

/* The Cache-Status value CS went out in the response head: keep a copy
 * for the request record (the value may live on a caller's stack). */
static inline void req_note_cache_status(struct req *r, const char *cs)
{
	if (r->rec_on)
		rlog_copy(r->rec_cs, sizeof(r->rec_cs), cs, strlen(cs));
}

/* The request head written out again from its fields (malloc'd, *LEN
 * bytes; NULL when out of memory), for what outlives the client's buffers
 * (a fetch task) or outlasts the head's bytes (a POST whose body reuses
 * them): the request as cleaned (fields removed, a dropped body's framing
 * gone), never the bytes as received. */
char *req_head_copy(const struct req *r, uint32_t *len);

/* Does the request say it has a body (chunked, or a length above 0)? */
bool req_has_body(const struct hmsg *m);

/* The checks llhttp leaves to us: version, Host (one, valid, present in
 * HTTP/1.1), CONNECT, transfer codings, the request-target's form
 * (absolute-form cut to origin-form when it agrees with Host), no
 * dot-segments. 0, or a status to answer with *WHY. */
int req_validate(struct req *r, const char **why);

/* Host = uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2). */
bool req_host_valid(const char *h, size_t n);

/* Make the request one that the cache and the backend read alike (see
 * req.c). 0, or 400 with *WHY. Needs r->gen. */
int req_sanitize(struct req *r, const char **why);

/* A GET or HEAD with a body: read it and drop it, and go on as a request
 * without one. 0, a status to answer (400, 408, 413) with *WHY, or -1
 * when the client went away. Needs r->gen. */
int req_drop_body(struct req *r, const char **why);

/* "METHOD target" into r->target_log (copies: every request pays it). */
void req_set_target_log(struct req *r);

#endif
