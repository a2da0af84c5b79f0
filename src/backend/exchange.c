/* exchange.c - one backend exchange: attempts, the response head, the body, the reuse rule. */
#include "backend/exchange.h"
#include "http/proxyproto.h"
#include "rt/obj.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http/chunked.h"
#include "ops/log.h"
#include "ops/metrics.h"
#include "rt/clock.h"
#include "rt/io.h"
#include "rt/task.h"

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const struct config_backend *bcfg_of(const struct exchange *x)
{
	return x->g->backends[x->backend].cfg;
}

void exchange_server(const struct exchange *x, char *out, size_t cap)
{
	const struct config_backend *cb = bcfg_of(x);
	if (x->bc.server < cb->n_servers)
		snprintf(out, cap, "%s %s", cb->name, cb->servers[x->bc.server].spec);
	else
		snprintf(out, cap, "%s -", cb->name); /* it has no server */
}

/* The attempt on SERVER failed and the request goes to another one. */
static void log_retry(const struct exchange *x, unsigned server, const char *what, int err)
{
	const struct config_backend *cb = bcfg_of(x);
	METRIC_INC(x->b->metrics, backend_retries);
	log_warn("%s: backend %s server %s: %s%s%s; trying another server", x->who, cb->name,
		 cb->servers[server].spec, what, err ? ": " : "", err ? strerror(-err) : "");
}

/* A real request failed on SERVER: passive health counts it, and says
 * so once when that takes the server out of rotation. */
static void passive_fail(struct exchange *x, unsigned server, const char *why)
{
	struct backend_rt *brt = &x->g->backends[x->backend];
	if (!backend_passive_fail(brt, server, rt_clock_now()))
		return;
	const struct config_backend *cb = brt->cfg;
	METRIC_INC(x->b->metrics, backend_marked_out);
	log_warn("backend %s: server %s out of rotation for %llu ms: %s (%u failed requests "
		 "within %llu ms)",
		 cb->name, cb->servers[server].spec,
		 (unsigned long long)(cb->fail_timeout_ns / 1000000), why, cb->max_fails,
		 (unsigned long long)(cb->fail_window_ns / 1000000));
}

/* No attempt is left: say why, once, for whoever answers the client. */
static enum exchange_result failed(struct exchange *x, unsigned server, int status, const char *why,
				   int err)
{
	const struct config_backend *cb = bcfg_of(x);
	x->status = status;
	x->why = why;
	x->err = err;
	METRIC_INC(x->b->metrics, backend_errors);
	if (err)
		log_warn("%s: %d: backend %s %s: %s: %s", x->who, status, cb->name,
			 cb->servers[server].spec, why, strerror(-err));
	else
		log_warn("%s: %d: backend %s %s: %s", x->who, status, cb->name,
			 cb->servers[server].spec, why);
	return EXCHANGE_FAILED;
}

/* Before more of the body goes out: has the backend answered already? A
 * server that answers before reading the body may take the body for the
 * next request and answer that too, so the connection must not be
 * reused (the early-response desync). The body is still sent: the
 * server may read it yet. */
static void check_early(struct exchange *x)
{
	if (!x->early && backend_conn_peek(x->bc.fd) != 0) {
		x->early = true;
		METRIC_INC(x->b->metrics, backend_early_responses);
	}
}

/* Send the head, the body bytes that came with it, and with BODY the rest
 * of the request body. 0, a negative errno (the backend side), or 1 / 2
 * for EXCHANGE_BODY_CLIENT / _TOO_LARGE. */
static int send_request(struct exchange *x, bool body)
{
	const uint64_t send_ns = x->g->cfg->timeouts.send_ns;
	int fd = x->bc.fd;
	char sz[CHUNKED_SIZE_MAX];
	uint8_t pp[PROXYPROTO_V2_WRITE_MAX];
	struct iovec iov[5];
	int n = 0;
	if (x->proxied) {
		size_t pl = proxyproto_v2_write(pp, sizeof(pp), x->client, x->local);
		assert(pl > 0);
		iov[n++] = (struct iovec){pp, pl};
	}
	iov[n++] = (struct iovec){(void *)x->head, x->head_len};
	if (body && x->first_len)
		n += chunked_frame(iov + n, sz, x->first, x->first_len, x->chunked);
	ssize_t r = rt_writev_all(fd, iov, n, rt_deadline_in(send_ns));
	METRIC_BYTES(x->b->metrics, backend_sent_bytes, r);
	if (r < 0)
		return (int)r;
	if (!body || !x->has_body)
		return 0;
	for (;;) {
		const char *p = NULL;
		ssize_t got = x->body_next ? x->body_next(x->ctx, &p) : 0;
		if (got == EXCHANGE_BODY_CLIENT)
			return 1;
		if (got == EXCHANGE_BODY_TOO_LARGE)
			return 2;
		if (got == 0)
			break;
		check_early(x);
		n = chunked_frame(iov, sz, p, (size_t)got, x->chunked);
		r = rt_writev_all(fd, iov, n, rt_deadline_in(send_ns));
		METRIC_BYTES(x->b->metrics, backend_sent_bytes, r);
		if (r < 0)
			return (int)r;
	}
	if (x->chunked) {
		check_early(x);
		r = rt_send_all(fd, CHUNKED_LAST, sizeof(CHUNKED_LAST) - 1,
				rt_deadline_in(send_ns));
		METRIC_BYTES(x->b->metrics, backend_sent_bytes, r);
		if (r < 0)
			return (int)r;
	}
	return 0;
}

/* How reading the response head ended. */
enum head_end {
	HEAD_OK,
	HEAD_CLIENT, /* the interim hook found the client gone */
	HEAD_STALE,  /* closed or reset before any response byte */
	HEAD_FAILED, /* anything else: status, why, err */
};

struct head_fail {
	int status;
	const char *why;
	int err;
};

/* Read until the final response head is in x->resp. */
static enum head_end read_head(struct exchange *x, struct head_fail *hf)
{
	struct hmsg *m = x->resp;
	const struct config_backend *cb = bcfg_of(x);
	hmsg_restart(m, x->rbuf, 0);
	m->skip_body = x->head_req;
	x->len = x->pos = 0;
	bool got_any = false;
	unsigned interim = 0;
	rt_time_t deadline =
	    rt_deadline_in(x->first_byte_ns ? x->first_byte_ns : cb->first_byte_timeout_ns);
	for (;;) {
		if (x->pos < x->len) {
			long used = hmsg_feed(m, x->pos, x->len - x->pos);
			if (used < 0) {
				*hf = (struct head_fail){
				    502, m->error ? m->error : "malformed response", 0};
				return HEAD_FAILED;
			}
			x->pos += (uint32_t)used;
			if (m->headers_done) {
				int st = hmsg_status(m);
				if (st == 101 && x->upgrade)
					return HEAD_OK; /* the caller checks what it switches to */
				if (st == 101) {
					*hf = (struct head_fail){
					    502, "unexpected 101 Switching Protocols", 0};
					return HEAD_FAILED;
				}
				if (st >= 200)
					return HEAD_OK;
				/* A backend that sends 1xx without end would hold
				 * the exchange open for ever. */
				if (++interim > EXCHANGE_INTERIM_MAX) {
					*hf = (struct head_fail){502, "too many interim responses",
								 0};
					return HEAD_FAILED;
				}
				/* An interim response ends at its empty line (msg.c);
				 * the final one follows in the same buffer. */
				if (x->on_interim && x->on_interim(x->ctx, m) < 0)
					return HEAD_CLIENT;
				memmove(x->rbuf, x->rbuf + x->pos, x->len - x->pos);
				x->len -= x->pos;
				x->pos = 0;
				hmsg_next(m, x->rbuf, 0);
				m->skip_body = x->head_req;
				continue;
			}
			if (x->pos < x->len)
				continue;
		}
		if (x->len == x->rcap) {
			*hf = (struct head_fail){502, "response head too large", 0};
			return HEAD_FAILED;
		}
		ssize_t n = rt_recv(x->bc.fd, x->rbuf + x->len, x->rcap - x->len, 0, deadline);
		METRIC_BYTES(x->b->metrics, backend_received_bytes, n);
		if (n == 0 || (!got_any && (n == -ECONNRESET || n == -EPIPE))) {
			if (!got_any)
				return HEAD_STALE;
			*hf = (struct head_fail){502, "backend closed before a response", 0};
			return HEAD_FAILED;
		}
		if (n == -ETIMEDOUT) {
			*hf = (struct head_fail){504,
						 got_any ? "timeout between bytes"
							 : "timeout waiting for first byte",
						 0};
			return HEAD_FAILED;
		}
		if (n < 0) {
			*hf = (struct head_fail){502, "recv from backend failed", (int)n};
			return HEAD_FAILED;
		}
		got_any = true;
		x->len += (uint32_t)n;
		deadline = rt_deadline_in(x->between_bytes_ns ? x->between_bytes_ns
							      : cb->between_bytes_timeout_ns);
	}
}

enum exchange_result exchange_begin(struct exchange *x)
{
	x->magic = EXCHANGE_MAGIC;
	x->bc = (struct bconn){.fd = -1, .server = UINT_MAX};
	x->attempts = 0;
	x->head_at = 0;
	x->conn_took_ns = -1;
	x->returned = false;
	struct backend_rt *brt = &x->g->backends[x->backend];
	const struct config_backend *cb = brt->cfg;
	/* Sent again only when that cannot change anything twice; an upgrade
	 * never is (the server may have switched already). */
	const bool again = x->idempotent && !x->has_body && !x->upgrade;
	struct backend_try t;
	if (x->pinned && x->pin < cb->n_servers)
		backend_try_pin(&t, x->pin);
	else
		backend_try_init(&t, brt, x->req);
	if (t.server < 0) {
		/* Its servers are names that never resolved: nothing to try. */
		x->status = 502;
		x->why = "no server (its names do not resolve yet)";
		x->err = 0;
		METRIC_INC(x->b->metrics, backend_errors);
		log_warn("%s: 502: backend %s: %s", x->who, cb->name, x->why);
		return EXCHANGE_FAILED;
	}
	bool sent = false;
	for (;;) {
		unsigned server = (unsigned)t.server;
		/* A PROXY header names one client: its connection is fresh,
		 * and never pooled after (HAProxy's send-proxy does the same).
		 * An upgrade is on a fresh connection too: a stale pooled one
		 * could not be retried. */
		x->proxied = cb->proxy_protocol;
		rt_time_t c0 = rt_clock_now();
		int r = backend_acquire(
		    x->b, x->g->slots[x->b->id].pools, x->backend, server,
		    t.fresh || x->proxied || x->upgrade, &x->bc,
		    rt_deadline_in(x->connect_ns ? x->connect_ns : cb->connect_timeout_ns));
		if (r < 0) {
			const char *what = r == -ETIMEDOUT ? "connect timed out" : "connect failed";
			int err = r == -ETIMEDOUT ? 0 : r;
			passive_fail(x, server, what);
			/* Nothing was sent: any request may go elsewhere. */
			if (backend_try_next(&t, brt, x->req)) {
				log_retry(x, server, what, err);
				continue;
			}
			return failed(x, server, r == -ETIMEDOUT ? 504 : 502, what, err);
		}
		/* A pooled connection the server closed while it idled: once
		 * more on a fresh one, if the server may have acted on it. */
		const bool stale_retry = x->bc.reused && !t.fresh && again;
		x->conn_took_ns = x->bc.reused ? 0 : (int64_t)(rt_clock_now() - c0);
		x->early = false;
		x->attempts++;
		x->request_ms = wall_ms();
		x->sent_at = rt_clock_now();
		METRIC_INC(x->b->metrics, backend_requests);
		int s = send_request(x, !sent);
		sent = true;
		if (s == 1 || s == 2) {
			backend_release(x->b, &x->bc, false);
			return s == 1 ? EXCHANGE_CLIENT : EXCHANGE_TOO_LARGE;
		}
		struct head_fail hf = {0};
		enum head_end he = HEAD_FAILED;
		if (s < 0)
			hf = (struct head_fail){s == -ETIMEDOUT ? 504 : 502,
						s == -ETIMEDOUT ? "timeout sending request"
								: "sending request failed",
						s == -ETIMEDOUT ? 0 : s};
		else
			he = read_head(x, &hf);
		if (he == HEAD_OK) {
			x->response_ms = wall_ms();
			x->head_at = rt_clock_now();
			if (cb->fail_on_5xx && hmsg_status(x->resp) >= 500)
				passive_fail(x, server, "5xx response");
			return EXCHANGE_OK;
		}
		backend_release(x->b, &x->bc, false);
		if (he == HEAD_CLIENT)
			return EXCHANGE_CLIENT;
		if ((he == HEAD_STALE || s < 0) && stale_retry) {
			t.fresh = true;
			continue;
		}
		if (he == HEAD_STALE)
			hf = (struct head_fail){502, "backend closed the connection", 0};
		passive_fail(x, server, hf.why);
		if (again && backend_try_next(&t, brt, x->req)) {
			log_retry(x, server, hf.why, hf.err);
			continue;
		}
		return failed(x, server, hf.status, hf.why, hf.err);
	}
}

void exchange_timing(const struct exchange *x, struct exchange_timing *out)
{
	out->attempts = x->attempts;
	out->reused = x->attempts ? x->bc.reused : -1;
	out->connect_ns = x->attempts ? x->conn_took_ns : -1;
	out->ttfb_ns = x->head_at ? (int64_t)(x->head_at - x->sent_at) : -1;
}

ssize_t exchange_read(struct exchange *x, const char **p, bool nowait)
{
	CHECK_OBJ_NOTNULL(x, EXCHANGE_MAGIC);
	assert(x->bc.fd >= 0);
	struct hmsg *m = x->resp;
	if (x->returned) {
		hmsg_body_consumed(m, 0);
		x->returned = false;
	}
	for (;;) {
		if (m->body_len) {
			*p = x->rbuf + m->body_off;
			x->returned = true;
			return m->body_len;
		}
		if (m->msg_done)
			return 0;
		if (x->pos < x->len) {
			long used = hmsg_feed(m, x->pos, x->len - x->pos);
			if (used < 0) {
				x->why = m->error ? m->error : "malformed response body";
				return -EPROTO;
			}
			x->pos += (uint32_t)used;
			continue;
		}
		if (nowait)
			return -EAGAIN;
		x->pos = x->len = 0; /* everything before was parsed and handed out */
		ssize_t n = rt_recv(x->bc.fd, x->rbuf, x->rcap, 0,
				    rt_deadline_in(x->between_bytes_ns
						       ? x->between_bytes_ns
						       : bcfg_of(x)->between_bytes_timeout_ns));
		METRIC_BYTES(x->b->metrics, backend_received_bytes, n);
		if (n == 0) {
			if (hmsg_eof(m) == 0)
				continue; /* a close-delimited body ends here */
			x->why = "backend closed mid-body";
			return -EPIPE;
		}
		if (n < 0) {
			x->why =
			    n == -ETIMEDOUT ? "timeout between bytes" : "recv from backend failed";
			return n;
		}
		x->len = (uint32_t)n;
	}
}

bool exchange_reusable(const struct hmsg *m, bool done, uint32_t left, bool early)
{
	/* A clean end on both sides: the response read to its end with nothing
	 * after it (bytes past it mean we and the server disagree on framing),
	 * the server keeps the connection, the end was not the close, and the
	 * server did not answer before it had the whole request. */
	return done && m->msg_done && left == 0 && hmsg_keep_alive(m) && !hmsg_needs_eof(m) &&
	       !early;
}

void exchange_end(struct exchange *x, enum exchange_end how)
{
	CHECK_OBJ_NOTNULL(x, EXCHANGE_MAGIC);
	const struct hmsg *m = x->resp;
	bool done = how == EXCHANGE_END_DONE && m->msg_done;
	/* A server asked to upgrade may think it did whatever it answered. */
	bool reusable =
	    exchange_reusable(m, done, x->len - x->pos, x->early) && !x->proxied && !x->upgrade;
	if (done && x->pos < x->len)
		backend_unsolicited(x->b, x->bc.brt, x->bc.server);
	if (how == EXCHANGE_END_BACKEND) {
		METRIC_INC(x->b->metrics, backend_errors);
		passive_fail(x, x->bc.server, x->why ? x->why : "response body failed");
	}
	backend_release(x->b, &x->bc, reusable);
	x->magic = 0;
}
