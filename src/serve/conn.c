/* conn.c - a client connection: its task, its requests in turn, parking between them. */
#include "serve/conn.h"
#include "rt/obj.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "http/proxyproto.h"
#include "ops/accesslog.h"
#include "ops/log.h"
#include "ops/metrics.h"
#include "serve/cachepath.h"
#include "serve/record.h"
#include "serve/req.h"
#include "serve/respond.h"
#include "serve/routing.h"
#include "serve/tunnel.h"

/* Body bytes that may sit in a buffer beside a full head. */
#define CONN_BODY_ROOM (16 * 1024)

/* How long a keep-alive connection keeps its task and mapping after a
 * response before it parks (see park()). */
#define PARK_AFTER_NS (1 * RT_SEC)

/*
 * Read and parse until a whole request head is in r->buf. Returns 1 with
 * r->req ready, 2 when the connection has been quiet long enough to park,
 * 0 when it should just close (peer closed, idle timeout between
 * requests, drain; r->close says which), or -1 after an error response
 * was sent.
 */
static int read_head(struct conn *c, struct req *r)
{
	/* Copies: a reload may free the config while this waits. */
	const uint64_t header_ns = c->w->be.gen->cfg->timeouts.client_header_ns;
	const uint64_t idle_ns = c->w->be.gen->cfg->timeouts.client_idle_ns;
	/* Keep the next request's bytes at the start of the buffer, so the
	 * head, which must not move while it is parsed, has the most room. */
	if (r->pos > 0) {
		memmove(r->buf, r->buf + r->pos, r->len - r->pos);
		r->len -= r->pos;
		r->pos = 0;
	}
	hmsg_next(&r->req, r->buf, 0);
	if (r->len)
		r->head_t0 = rt_clock_now(); /* a pipelined head is already here */
	rt_time_t idle_deadline = rt_deadline_in(idle_ns);
	rt_time_t head_deadline = r->len ? rt_deadline_in(header_ns) : RT_NEVER;
	for (;;) {
		if (r->pos < r->len) {
			long n = hmsg_feed(&r->req, r->pos, r->len - r->pos);
			if (n == HMSG_TOO_LARGE) {
				respond_error(
				    r, 431, r->req.error ? r->req.error : "head too large", false);
				return -1;
			}
			if (n < 0) {
				char why[160];
				snprintf(why, sizeof(why), "malformed request: %s",
					 r->req.error ? r->req.error : "parse error");
				respond_error(r, 400, why, false);
				return -1;
			}
			r->pos += (uint32_t)n;
			if (r->req.headers_done)
				return 1;
		}
		if (r->len == r->cap) {
			respond_error(r, 431, "request head does not fit the buffer", false);
			return -1;
		}
		c->idle = r->len == 0;
		if (c->idle && c->w->be.draining) {
			r->close = CLOSE_draining;
			return 0;
		}
		/* Between requests wait a moment with the task and buffers in
		 * place (a busy client's next request is usually already on
		 * its way), then park the connection without them. */
		rt_time_t park_at = r->len == 0 ? rt_deadline_in(PARK_AFTER_NS) : RT_NEVER;
		bool may_park = park_at < idle_deadline;
		ssize_t n = rt_recv(c->fd, r->buf + r->len, r->cap - r->len, 0,
				    r->len     ? head_deadline
				    : may_park ? park_at
					       : idle_deadline);
		c->idle = false;
		METRIC_BYTES(&c->w->metrics, client_received_bytes, n);
		if (n == -ECANCELED) {
			r->close = CLOSE_draining;
			return 0;
		}
		if (n == 0 || n == -ECONNRESET) {
			r->close = CLOSE_client_closed;
			return 0;
		}
		if (n == -ETIMEDOUT) {
			if (r->len == 0 && may_park)
				return 2;
			if (r->len == 0) {
				r->close =
				    CLOSE_client_idle; /* idle keep-alive connection: close */
				return 0;
			}
			respond_error(r, 408, "request head not received in time", false);
			return -1;
		}
		if (n < 0) {
			log_debug("client %s: recv: %s", r->peer, strerror((int)-n));
			r->close = CLOSE_client_closed;
			return 0;
		}
		if (r->len == 0) {
			head_deadline = rt_deadline_in(header_ns);
			r->head_t0 = rt_clock_now();
		}
		r->len += (uint32_t)n;
	}
}

/* The peer's address as text, into the request (once per task, not per
 * request: a busy connection keeps its task). */
static void peer_text(const struct conn *c, struct req *r)
{
	int af = c->family == AF_INET ? AF_INET : AF_INET6;
	if (c->family == AF_UNSPEC || !inet_ntop(af, c->addr, r->peer_ip, sizeof(r->peer_ip))) {
		strcpy(r->peer_ip, "unknown");
		strcpy(r->peer, "unknown");
		strcpy(r->client_ip, "unknown");
		memset(&r->peer_sa, 0, sizeof(r->peer_sa));
		r->client_sa = r->peer_sa;
		return;
	}
	snprintf(r->peer, sizeof(r->peer), af == AF_INET ? "%s:%u" : "[%s]:%u", r->peer_ip,
		 c->port);
	memset(&r->peer_sa, 0, sizeof(r->peer_sa));
	if (af == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&r->peer_sa;
		a->sin_family = AF_INET;
		a->sin_port = htons(c->port);
		memcpy(&a->sin_addr, c->addr, 4);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&r->peer_sa;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(c->port);
		memcpy(&a->sin6_addr, c->addr, 16);
	}
	memcpy(r->client_ip, r->peer_ip, sizeof(r->client_ip));
	r->client_sa = r->peer_sa;
}

/* The request state and buffers, in one mapping: the struct req, the
 * field arrays, then the buffers. NULL on ENOMEM. */
static struct req *req_get(struct conn *c)
{
	const struct config *cfg = c->w->be.gen->cfg;
	uint32_t cap = cfg->limits.max_header_size + CONN_BODY_ROOM;
	uint32_t ocap = cfg->limits.max_header_size + 1024;
	uint32_t nf = cfg->limits.max_headers;
	size_t fields = (size_t)nf * sizeof(struct hfield);
	size_t head = (sizeof(struct req) + 15) & ~(size_t)15;
	char *p = membuf_get(&c->w->membufs, head + 2 * fields + 2 * (size_t)cap + ocap);
	if (!p)
		return NULL;
	struct req *r = (struct req *)p;
	/* Not the route part: several KiB that only routed requests touch
	 * (routing_decide sets what it uses), and a fresh mapping is zero. */
	memset(r, 0, offsetof(struct req, route));
	r->route.active = false;
	r->magic = REQ_MAGIC;
	r->w = c->w;
	r->fd = c->fd;
	r->close = CLOSE_COUNT;
	peer_text(c, r);
	p += head;
	struct hfield *req_fields = (struct hfield *)p;
	p += 2 * fields;
	r->buf = p;
	r->cap = cap;
	r->rbuf = p + cap;
	r->rcap = cap;
	r->obuf = p + 2 * cap;
	r->ocap = ocap;
	hmsg_init(&r->req, HMSG_REQUEST, req_fields, nf, cfg->limits.max_header_size);
	hmsg_init(&r->resp, HMSG_RESPONSE, req_fields + nf, nf, cfg->limits.max_header_size);
	return r;
}

static void req_put(struct conn *c)
{
	if (!c->req)
		return;
	CHECK_OBJ_NOTNULL(c->req, REQ_MAGIC);
	c->req->magic = 0;
	membuf_put(&c->w->membufs, c->req);
	c->req = NULL;
}

static void conn_free(struct conn *c)
{
	struct worker *w = c->w;
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->nconns--;
	atomic_fetch_sub(&w->sh->nconns, 1);
	req_put(c);
	c->magic = 0;
	free(c);
}

static struct alog_str field_of(const struct hmsg *m, const char *name)
{
	const struct hfield *f = hmsg_field(m, name, 0);
	return f ? (struct alog_str){hmsg_ptr(m, f->value), f->value.len}
		 : (struct alog_str){NULL, 0};
}

/* One access log line for the response just sent; PARSED: r->req holds a
 * whole request head. T0: when it was read. */
static void log_access(struct req *r, rt_time_t t0, bool parsed)
{
	rt_time_t now = rt_clock_now();
	struct alog_rec a = {.client = alog_cstr(r->client_ip),
			     .status = r->resp_status,
			     .bytes = r->bytes_out,
			     .cache = alog_cstr(r->cache_word	 ? r->cache_word
						: r->resp_status ? "error"
								 : NULL),
			     .duration_ns = now - t0,
			     .upstream_ns = r->upstream_ns,
			     .backend = alog_cstr(r->backend[0] ? r->backend : NULL)};
	/* The start in wall-clock time: now, less what the request took. */
	clock_gettime(CLOCK_REALTIME, &a.start);
	uint64_t back = now - t0;
	uint64_t ns = (uint64_t)a.start.tv_sec * RT_SEC + (uint64_t)a.start.tv_nsec - back;
	a.start.tv_sec = (time_t)(ns / RT_SEC);
	a.start.tv_nsec = (long)(ns % RT_SEC);
	if (parsed) {
		const struct hmsg *m = &r->req;
		a.method = alog_cstr(llhttp_method_name((llhttp_method_t)hmsg_method(m)));
		a.target = (struct alog_str){hmsg_ptr(m, m->target), m->target.len};
		a.http_major = (uint8_t)m->p.http_major;
		a.http_minor = (uint8_t)m->p.http_minor;
		a.referer = field_of(m, "referer");
		a.user_agent = field_of(m, "user-agent");
		a.host = field_of(m, "host");
	}
	alog_append(r->w->alog, &a);
}

/*
 * The PROXY header (v1 or v2, http/proxyproto.h) a proxy_protocol
 * listener's connections start with: taken only from trusted_proxies,
 * whole within client_header, and then the connection's client is the
 * address it names (a LOCAL or UNKNOWN header: the peer itself). Anything
 * else closes the connection without an answer: what follows a bad header
 * cannot be told from the header, and an HTTP answer would go to a proxy
 * that speaks TCP. Returns 1 when the request can follow, 0 to close.
 */
static int read_proxy_header(struct conn *c, struct req *r)
{
	const struct config *cfg = c->w->be.gen->cfg;
	c->proxy_header = false;
	if (!config_trusted_proxy(cfg, (const struct sockaddr *)&r->peer_sa)) {
		log_warn("client %s: PROXY header from a peer not in trusted_proxies: closed",
			 r->peer);
		return 0;
	}
	rt_time_t deadline = rt_deadline_in(cfg->timeouts.client_header_ns);
	struct proxyproto pp;
	for (;;) {
		int n = proxyproto_parse(r->buf, r->len, &pp);
		if (n > 0) {
			memmove(r->buf, r->buf + n, r->len - (uint32_t)n);
			r->len -= (uint32_t)n;
			break;
		}
		if (n < 0) {
			log_warn("client %s: %s PROXY header: closed", r->peer,
				 n == -E2BIG ? "oversized" : "malformed or missing");
			return 0;
		}
		ssize_t got = rt_recv(c->fd, r->buf + r->len, r->cap - r->len, 0, deadline);
		METRIC_BYTES(&c->w->metrics, client_received_bytes, got);
		if (got <= 0) {
			if (got == -ETIMEDOUT)
				log_warn("client %s: PROXY header not received in time: closed",
					 r->peer);
			return 0;
		}
		r->len += (uint32_t)got;
	}
	if (pp.src.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)&pp.src;
		c->family = AF_INET;
		c->port = ntohs(a->sin_port);
		memcpy(c->addr, &a->sin_addr, 4);
	} else if (pp.src.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&pp.src;
		c->family = AF_INET6;
		c->port = ntohs(a->sin6_port);
		memcpy(c->addr, &a->sin6_addr, 16);
	}
	peer_text(c, r); /* the client, from now on */
	return 1;
}

static void conn_main(void *arg);

/* Bytes arrived on a parked connection (res > 0), or its idle time ran out
 * or drain cancelled it. Runs on the loop thread, outside any task. */
static void parked_wake(struct rt_watch *wt, int res)
{
	struct conn *c = (struct conn *)((char *)wt - offsetof(struct conn, watch));
	CHECK_OBJ_NOTNULL(c, CONN_MAGIC);
	c->parked = false;
	if (res > 0 && !c->w->be.draining) {
		c->task = rt_task_spawn(conn_main, c, "client");
		if (c->task) {
			rt_task_detach(c->task);
			return;
		}
	}
	METRIC_CLOSE(&c->w->metrics, res == -ETIMEDOUT	 ? CLOSE_client_idle
				     : c->w->be.draining ? CLOSE_draining
							 : CLOSE_error);
	/* Not inside a task: a plain close, which does not block on a socket. */
	close(c->fd);
	conn_free(c);
}

/* Between requests, with nothing pending: give the mapping back, end the
 * task, and leave a watch armed. */
static void park(struct conn *c)
{
	req_put(c);
	c->task = NULL;
	c->parked = true;
	rt_watch_readable(&c->watch, c->fd,
			  rt_deadline_in(c->w->be.gen->cfg->timeouts.client_idle_ns), parked_wake);
}

/* Is R a cluster member's health probe (CLUSTER_PROBE_PATH)? */
static bool cluster_probe(const struct req *r)
{
	const struct hmsg *m = &r->req;
	unsigned method = hmsg_method(m);
	return r->gen->cfg->cluster.enabled && (method == HTTP_GET || method == HTTP_HEAD) &&
	       hspan_ieq(m, m->target, CLUSTER_PROBE_PATH);
}

/* Serve one request whose head is in R; returns how it ended. */
static enum req_result serve_one(struct req *r, rt_time_t t0)
{
	struct worker *w = r->w;
	const char *why = NULL;
	int status = req_validate(r, &why);
	if (status) {
		respond_error(r, status, why, false);
		return REQ_ERRORED;
	}
	r->closing = !hmsg_keep_alive(&r->req) || w->be.draining;
	r->loc[0] = r->cloc[0] = '\0';
	METRIC_INC(&w->metrics, requests);
	unsigned method = hmsg_method(&r->req);
	status = req_sanitize(r, &why);
	if (!status && (method == HTTP_GET || method == HTTP_HEAD) && req_has_body(&r->req))
		status = req_drop_body(r, &why);
	if (status > 0) {
		respond_error(r, status, why, false);
		return REQ_ERRORED;
	}
	if (status < 0) {
		r->close = CLOSE_body_failed;
		return REQ_ERRORED;
	}
	enum req_result ur;
	if (cluster_probe(r)) {
		/* A member's health probe (config.h): this node answers it. */
		r->cache_word = "cluster-probe";
		respond_page(r, 200, "text/plain", "ok\n", 3, NULL, true, "cluster-probe");
		ur = r->closing ? REQ_ERRORED : REQ_DONE;
	} else if (routing_decide(r, &ur) == 0) {
		ur = cache_handle(r);
	}
	r->cache_status = NULL; /* it may point into cache_handle's frame */
	metrics_observe_latency(&w->metrics, rt_clock_now() - t0);
	return ur;
}

/* The request record's fields, when someone subscribes to records
 * (ops/rlog.h) and they are not yet kept for this request. */
static void rec_start(struct req *r)
{
	if (r->rec_on || !rlog_on(r->w->rlog))
		return;
	r->rec_on = true;
	r->t_first = 0;
	r->rec_cs[0] = '\0';
	r->rec_rh_n = 0;
	r->bx.attempts = 0;
	r->body_in = 0;
}

static void conn_main(void *arg)
{
	struct conn *c = arg;
	CHECK_OBJ_NOTNULL(c, CONN_MAGIC);
	struct worker *w = c->w;
	bool reset = false; /* end with a reset: see below */
	enum close_reason why_close = CLOSE_error;
	struct req *r = c->req ? c->req : (c->req = req_get(c));
	if (!r) {
		log_warn("client: out of memory");
		goto out;
	}
	if (c->proxy_header && !read_proxy_header(c, r)) {
		why_close = CLOSE_proxy_header;
		goto out;
	}
	for (;;) {
		r->cache_status = NULL;
		r->cache_word = NULL;
		r->resp_status = 0;
		r->bytes_out = 0;
		r->upstream_ns = -1;
		r->backend[0] = '\0';
		r->target_log[0] = '\0';
		r->upgrade = false;
		r->rec_on = false;
		rec_start(r);
		int h = read_head(c, r);
		/* Again: someone may have subscribed while this connection
		 * waited for its request (a bad head is recorded too). */
		if (h != 2)
			rec_start(r);
		if (h == 2 && !rt_task_cancelled()) {
			park(c);
			return;
		}
		if (h == -1)
			METRIC_STATUS(&w->metrics, r->resp_status);
		if (h == -1 && w->alog)
			log_access(r, r->head_t0, false); /* the 4xx sent for a bad head */
		if (h == -1 && r->rec_on)
			record_request(r, r->head_t0, false);
		if (h != 1)
			break;
		req_set_target_log(r);
		r->head_len = r->pos;
		rt_time_t t0 = rt_clock_now();
		r->gen = gen_hold(&w->be);
		enum req_result ur = serve_one(r, t0);
		METRIC_STATUS(&w->metrics, r->resp_status);
		if (w->alog)
			log_access(r, t0, true); /* while the generation holds the strings */
		if (r->rec_on)
			record_request(r, t0, true);
		/* A tunnel's line is written when it opens; it holds the
		 * generation (its backend's counts) until it ends. */
		if (ur == REQ_TUNNEL)
			ur = tunnel_run(r);
		gen_put(&w->be, r->gen);
		r->gen = NULL;
		if (ur == REQ_ABORT) {
			reset = true;
			if (r->close == CLOSE_COUNT)
				r->close = CLOSE_send_failed;
		}
		if (ur == REQ_CLOSE && r->close == CLOSE_COUNT)
			r->close = hmsg_keep_alive(&r->req) ? CLOSE_response : CLOSE_asked;
		if (ur != REQ_DONE)
			break;
		if (r->closing) {
			if (r->close == CLOSE_COUNT)
				r->close = w->be.draining ? CLOSE_draining : CLOSE_asked;
			break;
		}
	}
	why_close = r->close == CLOSE_COUNT ? CLOSE_error : r->close;
out:
	METRIC_CLOSE(&w->metrics, why_close);
	if (reset) {
		/* A response that cannot be finished (a send timed out, the
		 * backend broke off): reset the connection. A plain close
		 * would leave the kernel feeding what is queued, up to
		 * megabytes per socket, to a client that reads slowly on
		 * purpose, long after we let go (nginx: reset_timedout_connection). */
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	} else {
		/* Closing with unread request bytes would make the kernel send
		 * RST, which can destroy the error response in flight: shut
		 * down writes first so the response is delivered, then close. */
		shutdown(c->fd, SHUT_WR);
	}
	rt_close(c->fd);
	conn_free(c);
}

int conn_start(struct worker *w, int fd, const struct sockaddr_storage *peer, bool proxy_header)
{
	CHECK_OBJ_NOTNULL(w, WORKER_MAGIC);
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->magic = CONN_MAGIC;
	c->w = w;
	c->fd = fd;
	c->proxy_header = proxy_header;
	c->family = AF_UNSPEC;
	if (peer->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)peer;
		c->family = AF_INET;
		c->port = ntohs(a->sin_port);
		memcpy(c->addr, &a->sin_addr, 4);
	} else if (peer->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)peer;
		c->family = AF_INET6;
		c->port = ntohs(a->sin6_port);
		memcpy(c->addr, &a->sin6_addr, 16);
	}
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
	/* A new connection usually has its request on the way: serve it at
	 * once rather than parking first. */
	c->task = rt_task_spawn(conn_main, c, "client");
	if (!c->task) {
		w->conns = c->next;
		if (c->next)
			c->next->prev = NULL;
		w->nconns--;
		free(c);
		return -ENOMEM;
	}
	/* The task frees C and itself; c->task stays valid while C is on the
	 * worker's list, which is all drain needs. */
	rt_task_detach(c->task);
	return 0;
}

void conns_drain(struct worker *w)
{
	CHECK_OBJ_NOTNULL(w, WORKER_MAGIC);
	for (struct conn *c = w->conns; c; c = c->next) {
		if (c->parked)
			rt_watch_cancel(&c->watch);
		else if (c->idle)
			rt_task_cancel(c->task);
	}
}

void conns_force(struct worker *w)
{
	CHECK_OBJ_NOTNULL(w, WORKER_MAGIC);
	for (struct conn *c = w->conns; c; c = c->next) {
		if (c->parked)
			rt_watch_cancel(&c->watch);
		else
			rt_task_cancel(c->task);
	}
}
