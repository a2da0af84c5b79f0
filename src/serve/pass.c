/* upstream.c - forward one request to a backend and stream the response back. */
#include "serve/pass.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http/hbuf.h"
#include "http/hop.h"
#include "ops/log.h"
#include "backend/pool.h"
#include "serve/cachepath.h"
#include "backend/gen.h"
#include "http/forward.h"
#include "rt/io.h"

struct exchange {
	struct client *c;
	const struct config *cfg;
	const struct config_backend *bcfg;
	struct bconn bc;
	size_t head_len;  /* request head bytes in c->obuf */
	bool req_chunked; /* request body is sent chunked */
	bool req_has_body;
	bool resp_head_sent; /* any byte of the final response went to the client */
	bool out_chunked;    /* we frame the client body as chunked */
	bool out_close;	     /* body delimited by closing the client connection */
	bool head_req;
	bool early; /* response bytes came before the request body was all sent */
};

/* Before more of the body goes out: has the backend answered already? A
 * server that answers before reading the body may take the body for the
 * next request and answer that too, so the connection must not be
 * reused (the early-response desync). The body is still sent: the
 * server may read it yet. */
static void check_early(struct exchange *x)
{
	if (!x->early && backend_conn_peek(x->bc.fd) != 0) {
		x->early = true;
		METRIC_INC(&x->c->w->metrics, backend_early_responses);
	}
}

static bool is_field(const struct hmsg *m, const struct hfield *f, const char *name)
{
	return hspan_ieq(m, f->name, name);
}

/* Build the backend request head into c->obuf. 0 or an HTTP status. */
static int build_request_head(struct exchange *x)
{
	struct client *c = x->c;
	struct hmsg *m = &c->req;
	struct hbuf b;
	hbuf_init(&b, c->obuf, c->ocap);
	struct forward_head_opts o = {.peer_ip = c->peer_ip};
	int st = forward_head_build(&b, m, &o, &x->req_chunked);
	if (st)
		return st;
	x->req_has_body = x->req_chunked || (hmsg_has_length(m) && hmsg_content_length(m) > 0);
	x->head_len = b.len;
	return 0;
}

/* Send DATA framed as one chunk (when CHUNKED) or raw. */
static ssize_t send_body(int fd, bool chunked, const char *data, size_t len, rt_time_t dl)
{
	if (len == 0)
		return 0;
	if (!chunked)
		return rt_send_all(fd, data, len, dl);
	char sz[24];
	int n = snprintf(sz, sizeof(sz), "%zx\r\n", len);
	struct iovec iov[3] = {{sz, (size_t)n}, {(void *)data, len}, {"\r\n", 2}};
	return rt_writev_all(fd, iov, 3, dl);
}

/*
 * Send the request head and the whole body to the backend. Returns 0,
 * -EPIPE style errors for the backend side, 1 when the client side
 * failed (it closed or timed out while sending its body), or 2 when a
 * chunked body grew past limits.max_body_size.
 */
static int send_request(struct exchange *x, bool first_try)
{
	struct client *c = x->c;
	struct hmsg *m = &c->req;
	int fd = x->bc.fd;
	rt_time_t send_dl = rt_deadline_in(x->cfg->timeouts.send_ns);
	if (x->cfg->limits.max_body_size && m->body_total > x->cfg->limits.max_body_size)
		return 2; /* already over with the bytes that came with the head */
	/* Head and the body bytes that came with it in one writev. */
	char sz[24];
	struct iovec iov[4];
	int n = 0;
	iov[n++] = (struct iovec){c->obuf, x->head_len};
	if (m->body_len) {
		if (x->req_chunked) {
			int l = snprintf(sz, sizeof(sz), "%x\r\n", m->body_len);
			iov[n++] = (struct iovec){sz, (size_t)l};
		}
		iov[n++] = (struct iovec){c->buf + m->body_off, m->body_len};
		if (x->req_chunked)
			iov[n++] = (struct iovec){"\r\n", 2};
	}
	ssize_t r = rt_writev_all(fd, iov, n, send_dl);
	METRIC_BYTES(&c->w->metrics, backend_sent_bytes, r);
	if (r < 0)
		return (int)r;
	if (!first_try)
		return 0; /* a retry only happens for requests without a body */
	hmsg_body_consumed(m, 0);
	while (!m->msg_done) {
		/* Everything before pos is sent: reuse the buffer from its start. */
		memmove(c->buf, c->buf + c->pos, c->len - c->pos);
		c->len -= c->pos;
		c->pos = 0;
		if (c->len == 0) {
			ssize_t got = rt_recv(c->fd, c->buf, c->cap, 0,
					      rt_deadline_in(x->cfg->timeouts.client_body_ns));
			METRIC_BYTES(&c->w->metrics, client_received_bytes, got);
			if (got <= 0) {
				log_info("client %s: %s: request body: %s", c->peer, c->target_log,
					 got == 0 ? "client closed" : strerror((int)-got));
				return 1;
			}
			c->len = (uint32_t)got;
		}
		long used = hmsg_feed(m, 0, c->len);
		if (used < 0) {
			log_info("client %s: %s: malformed request body: %s", c->peer,
				 c->target_log, m->error ? m->error : "?");
			return 1;
		}
		c->pos = (uint32_t)used;
		if (x->cfg->limits.max_body_size && m->body_total > x->cfg->limits.max_body_size)
			return 2;
		check_early(x);
		r = send_body(fd, x->req_chunked, c->buf + m->body_off, m->body_len,
			      rt_deadline_in(x->cfg->timeouts.send_ns));
		METRIC_BYTES(&c->w->metrics, backend_sent_bytes, r);
		if (r < 0)
			return (int)r;
		hmsg_body_consumed(m, 0);
	}
	if (x->req_chunked) {
		check_early(x);
		r = rt_send_all(fd, "0\r\n\r\n", 5, rt_deadline_in(x->cfg->timeouts.send_ns));
		METRIC_BYTES(&c->w->metrics, backend_sent_bytes, r);
		if (r < 0)
			return (int)r;
	}
	return 0;
}

/* Build the client response head for the final response in c->resp. */
static int build_response_head(struct exchange *x, struct hbuf *b)
{
	struct client *c = x->c;
	struct hmsg *m = &c->resp;
	struct hop_set hs;
	hop_collect(m, &hs);
	int status = hmsg_status(m);
	bool no_body = x->head_req || status == 204 || status == 304 || status < 200;
	hbuf_printf(b, "HTTP/1.1 %d ", status);
	hbuf_put(b, hmsg_ptr(m, m->reason), m->reason.len);
	hbuf_put(b, "\r\n", 2);
	for (uint32_t i = 0; i < m->n_fields; i++) {
		const struct hfield *f = &m->fields[i];
		if (hop_is_hop(m, &hs, f) || is_field(m, f, "via"))
			continue;
		/* Framing is ours to decide, except that a body-less response
		 * to HEAD or a 304 may describe the representation's length. */
		if (is_field(m, f, "transfer-encoding") || is_field(m, f, "content-length")) {
			if (!(no_body && (x->head_req || status == 304)))
				continue;
		}
		hbuf_put_field(b, m, f);
	}
	char via[32];
	snprintf(via, sizeof(via), "%u.%u ringcache", m->p.http_major, m->p.http_minor);
	hbuf_put_merged(b, m, "Via", via);
	if (c->cache_status)
		hbuf_printf(b, "Cache-Status: %s\r\n", c->cache_status);
	/* Kept for invalidation after unsafe methods (the head's bytes are
	 * overwritten by the body as it streams). */
	c->resp_status = status;
	const struct hfield *loc = hmsg_field(m, "location", 0);
	const struct hfield *cloc = hmsg_field(m, "content-location", 0);
	snprintf(c->loc, CLIENT_LOC, "%.*s", loc ? (int)loc->value.len : 0,
		 loc ? hmsg_ptr(m, loc->value) : "");
	snprintf(c->cloc, CLIENT_LOC, "%.*s", cloc ? (int)cloc->value.len : 0,
		 cloc ? hmsg_ptr(m, cloc->value) : "");
	/* Invalidate before the client can see the answer, or a request it
	 * sends next (even on another connection) could still hit. */
	if (c->invalidate_host && status >= 200 && status < 400)
		cache_invalidate_after_unsafe(c, c->invalidate_host, strlen(c->invalidate_host));
	bool client11 = c->req.p.http_minor >= 1;
	if (!no_body) {
		if (hmsg_chunked(m)) {
			x->out_chunked = true;
		} else if (hmsg_has_length(m)) {
			hbuf_printf(b, "Content-Length: %llu\r\n",
				    (unsigned long long)hmsg_content_length(m));
		} else if (client11) {
			x->out_chunked = true; /* close-delimited upstream, chunked to us */
		} else {
			x->out_close = true;
			c->closing = true;
		}
		if (x->out_chunked)
			hbuf_puts(b, "Transfer-Encoding: chunked\r\n");
	}
	if (c->closing || c->w->be.draining) {
		c->closing = true;
		hbuf_puts(b, "Connection: close\r\n");
	} else if (!client11) {
		hbuf_puts(b, "Connection: keep-alive\r\n");
	}
	hbuf_put(b, "\r\n", 2);
	return b->overflow ? -1 : 0;
}

/* Forward an interim (1xx) response to an HTTP/1.1 client. */
static int send_interim(struct exchange *x)
{
	struct client *c = x->c;
	struct hmsg *m = &c->resp;
	if (c->req.p.http_minor < 1)
		return 0; /* HTTP/1.0 clients do not understand 1xx */
	struct hop_set hs;
	hop_collect(m, &hs);
	struct hbuf b;
	hbuf_init(&b, c->obuf, c->ocap);
	hbuf_printf(&b, "HTTP/1.1 %d ", hmsg_status(m));
	hbuf_put(&b, hmsg_ptr(m, m->reason), m->reason.len);
	hbuf_put(&b, "\r\n", 2);
	for (uint32_t i = 0; i < m->n_fields; i++) {
		if (!hop_is_hop(m, &hs, &m->fields[i]))
			hbuf_put_field(&b, m, &m->fields[i]);
	}
	hbuf_put(&b, "\r\n", 2);
	if (b.overflow)
		return 0;
	ssize_t r = rt_send_all(c->fd, b.p, b.len, rt_deadline_in(x->cfg->timeouts.send_ns));
	client_sent(c, r);
	return r < 0 ? (int)r : 0;
}

/* Send the response head (if not yet) and the decoded body bytes waiting in rbuf. */
static ssize_t flush_to_client(struct exchange *x)
{
	struct client *c = x->c;
	struct hmsg *m = &c->resp;
	struct iovec iov[5];
	int n = 0;
	char sz[24];
	struct hbuf b;
	if (!x->resp_head_sent) {
		hbuf_init(&b, c->obuf, c->ocap);
		if (build_response_head(x, &b) < 0)
			return -E2BIG;
		iov[n++] = (struct iovec){b.p, b.len};
		x->resp_head_sent = true;
	}
	if (m->body_len) {
		if (x->out_chunked) {
			int l = snprintf(sz, sizeof(sz), "%x\r\n", m->body_len);
			iov[n++] = (struct iovec){sz, (size_t)l};
		}
		iov[n++] = (struct iovec){c->rbuf + m->body_off, m->body_len};
		if (x->out_chunked)
			iov[n++] = (struct iovec){"\r\n", 2};
	}
	if (m->msg_done && x->out_chunked)
		iov[n++] = (struct iovec){"0\r\n\r\n", 5};
	if (n == 0)
		return 0;
	ssize_t r = rt_writev_all(c->fd, iov, n, rt_deadline_in(x->cfg->timeouts.send_ns));
	client_sent(c, r);
	hmsg_body_consumed(m, 0);
	return r;
}

enum resp_err {
	RESP_OK = 0,
	RESP_CLIENT = -1,
	RESP_BACKEND = -2,
	RESP_TIMEOUT = -3,
	RESP_STALE = -4
};

/* Receive the response and stream it to the client. */
static int relay_response(struct exchange *x, bool *backend_reusable, const char **why, int *err)
{
	struct client *c = x->c;
	struct hmsg *m = &c->resp;
	uint32_t len = 0, pos = 0;
	bool got_any = false;
	hmsg_restart(m, c->rbuf, 0);
	m->skip_body = x->head_req;
	rt_time_t deadline = rt_deadline_in(x->bcfg->first_byte_timeout_ns);
	for (;;) {
		if (pos < len) {
			long used = hmsg_feed(m, pos, len - pos);
			if (used < 0) {
				*why = m->error ? m->error : "malformed response";
				return RESP_BACKEND;
			}
			pos += (uint32_t)used;
			if (m->headers_done && !x->resp_head_sent) {
				int st = hmsg_status(m);
				if (st == 101) {
					*why = "unexpected 101 Switching Protocols";
					return RESP_BACKEND;
				}
				if (st < 200) {
					if (!m->msg_done)
						continue;
					if (send_interim(x) < 0)
						return RESP_CLIENT;
					/* The final response follows in the same buffer. */
					memmove(c->rbuf, c->rbuf + pos, len - pos);
					len -= pos;
					pos = 0;
					hmsg_next(m, c->rbuf, 0);
					m->skip_body = x->head_req;
					continue;
				}
			}
			if (m->headers_done) {
				ssize_t r = flush_to_client(x);
				if (r < 0) {
					*err = (int)r;
					return r == -E2BIG ? RESP_BACKEND : RESP_CLIENT;
				}
			}
			if (m->msg_done) {
				/* Extra bytes after a response mean the backend
				 * and we disagree on framing: never reuse it. */
				*backend_reusable = pos == len && hmsg_keep_alive(m) &&
						    !hmsg_needs_eof(m) && !x->early;
				if (pos < len)
					backend_unsolicited(&c->w->be, x->bc.g, x->bc.backend,
							    x->bc.server);
				return RESP_OK;
			}
			if (pos < len)
				continue;
		}
		if (m->headers_done) {
			pos = len = 0; /* head sent, body forwarded: start over */
		} else if (len == c->rcap) {
			*why = "response head too large";
			return RESP_BACKEND;
		}
		ssize_t n = rt_recv(x->bc.fd, c->rbuf + len, c->rcap - len, 0, deadline);
		METRIC_BYTES(&c->w->metrics, backend_received_bytes, n);
		if (n == 0) {
			if (!got_any && x->bc.reused)
				return RESP_STALE;
			if (m->headers_done && hmsg_eof(m) == 0) {
				*backend_reusable = false;
				ssize_t r = flush_to_client(x);
				return r < 0 ? RESP_CLIENT : RESP_OK;
			}
			*why = m->headers_done ? "backend closed mid-body"
					       : "backend closed before a response";
			return RESP_BACKEND;
		}
		if (n < 0) {
			if (n == -ETIMEDOUT) {
				*why = got_any ? "timeout between bytes"
					       : "timeout waiting for first byte";
				return RESP_TIMEOUT;
			}
			if (!got_any && x->bc.reused && (n == -ECONNRESET || n == -EPIPE))
				return RESP_STALE;
			*err = (int)n;
			*why = "recv from backend failed";
			return RESP_BACKEND;
		}
		got_any = true;
		len += (uint32_t)n;
		deadline = rt_deadline_in(x->bcfg->between_bytes_timeout_ns);
	}
}

static void log_backend(struct exchange *x, int status, const char *what, int err)
{
	struct client *c = x->c;
	const char *server = x->bcfg->servers[x->bc.server].spec;
	if (err)
		log_warn("client %s: %s: %d: backend %s %s: %s: %s", c->peer, c->target_log, status,
			 x->bcfg->name, server, what, strerror(-err));
	else
		log_warn("client %s: %s: %d: backend %s %s: %s", c->peer, c->target_log, status,
			 x->bcfg->name, server, what);
}

/* The exchange failed before the response started: answer STATUS, keep
 * the client connection only if its request was read completely. */
static enum upstream_result fail(struct exchange *x, int status, const char *what, int err)
{
	log_backend(x, status, what, err);
	if (!x->c->req.msg_done)
		x->c->closing = true;
	bool keep = !x->c->closing;
	client_send_error(x->c, status, what);
	x->c->closing = !keep;
	return keep ? UP_OK : UP_ERRORED;
}

/* A failed attempt that goes on to another server. */
static void log_retry(struct exchange *x, const char *what, int err)
{
	struct client *c = x->c;
	METRIC_INC(&c->w->metrics, backend_retries);
	log_warn("client %s: %s: backend %s server %s: %s%s%s; trying another server", c->peer,
		 c->target_log, x->bcfg->name, x->bcfg->servers[x->bc.server].spec, what,
		 err ? ": " : "", err ? strerror(-err) : "");
}

enum upstream_result upstream_forward(struct client *c, unsigned backend)
{
	struct worker *w = c->w;
	struct exchange x = {.c = c, .cfg = c->gen->cfg, .bc = {.fd = -1}};
	x.bcfg = c->gen->backends[backend].cfg;
	x.head_req = hmsg_method(&c->req) == HTTP_HEAD;
	int st = build_request_head(&x);
	if (st) {
		log_warn("client %s: %s: %d: request head cannot be forwarded", c->peer,
			 c->target_log, st);
		client_send_error(c, st, "request head cannot be forwarded");
		return UP_ERRORED;
	}
	/* A declared length over the limit is refused before anything is
	 * read or sent (and instead of 100 Continue). */
	uint64_t maxb = x.cfg->limits.max_body_size;
	if (maxb && hmsg_has_length(&c->req) && hmsg_content_length(&c->req) > maxb) {
		log_warn("client %s: %s: 413: body of %llu bytes over limits.max_body_size",
			 c->peer, c->target_log, (unsigned long long)hmsg_content_length(&c->req));
		c->closing = true;
		client_send_error(c, 413, "request body too large");
		return UP_ERRORED;
	}
	/* We answer Expect: 100-continue ourselves and do not forward it:
	 * the body is streamed as soon as it arrives. */
	const struct hfield *ex = hmsg_field(&c->req, "expect", 0);
	if (ex && hspan_ieq(&c->req, ex->value, "100-continue") && !c->req.msg_done &&
	    c->req.p.http_minor >= 1) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		ssize_t r = rt_send_all(c->fd, cont, sizeof(cont) - 1,
					rt_deadline_in(x.cfg->timeouts.send_ns));
		client_sent(c, r);
		if (r < 0)
			return UP_ABORT;
	}

	/* Only a request that cannot have changed anything goes to a second
	 * server after it may have reached the first. */
	bool idem = backend_idempotent(hmsg_method(&c->req)) && !x.req_has_body;
	struct backend_try t;
	backend_try_init(&t, c->gen, backend, &c->req);
	bool sent = false;
	const bool closing0 = c->closing;
	for (;;) {
		/* A failed attempt may have decided the framing of a response
		 * it never sent: the next attempt starts clean. */
		x.out_chunked = x.out_close = x.early = false;
		c->closing = closing0;
		int r = backend_acquire(&w->be, c->gen, backend, (unsigned)t.server, t.fresh, &x.bc,
					rt_deadline_in(x.bcfg->connect_timeout_ns));
		if (r < 0) {
			/* Nothing was sent: any request may go elsewhere. */
			if (backend_try_next(&t, c->gen, backend, &c->req)) {
				log_retry(&x,
					  r == -ETIMEDOUT ? "connect timed out" : "connect failed",
					  r);
				continue;
			}
			return r == -ETIMEDOUT ? fail(&x, 504, "connect timed out", 0)
					       : fail(&x, 502, "connect failed", r);
		}
		/* A stale pooled connection is retried on the same server once,
		 * for an idempotent request without a body: the server may have
		 * acted on it before it closed. */
		bool stale_retry = x.bc.reused && !t.fresh && idem;
		r = send_request(&x, !sent);
		sent = true;
		if (r == 1) {
			backend_release(&w->be, &x.bc, false);
			c->closing = true;
			return UP_ABORT;
		}
		if (r == 2) {
			/* The backend got part of a body: that connection goes. */
			backend_release(&w->be, &x.bc, false);
			log_warn("client %s: %s: 413: chunked body over limits.max_body_size",
				 c->peer, c->target_log);
			c->closing = true;
			client_send_error(c, 413, "request body too large");
			return UP_ERRORED;
		}
		if (r < 0) {
			backend_release(&w->be, &x.bc, false);
			if (stale_retry) {
				t.fresh = true;
				continue;
			}
			if (idem && backend_try_next(&t, c->gen, backend, &c->req)) {
				log_retry(&x, "sending request failed", r);
				continue;
			}
			return r == -ETIMEDOUT ? fail(&x, 504, "timeout sending request", 0)
					       : fail(&x, 502, "sending request failed", r);
		}
		bool reusable = false;
		const char *why = NULL;
		int err = 0;
		rt_time_t up0 = rt_clock_now();
		int rr = relay_response(&x, &reusable, &why, &err);
		if (w->alog) { /* only the access log wants these */
			c->upstream_ns = (int64_t)(rt_clock_now() - up0);
			snprintf(c->backend, sizeof(c->backend), "%s %s", x.bcfg->name,
				 x.bcfg->servers[x.bc.server].spec);
		}
		if (rr == RESP_STALE) {
			backend_release(&w->be, &x.bc, false);
			if (stale_retry) {
				t.fresh = true;
				continue;
			}
			if (idem && backend_try_next(&t, c->gen, backend, &c->req)) {
				log_retry(&x, "backend closed the connection", 0);
				continue;
			}
			return fail(&x, 502, "backend closed the connection", 0);
		}
		if ((rr == RESP_BACKEND || rr == RESP_TIMEOUT) && !x.resp_head_sent && idem &&
		    backend_try_next(&t, c->gen, backend, &c->req)) {
			backend_release(&w->be, &x.bc, false);
			log_retry(&x, why ? why : "bad response", err);
			continue;
		}
		backend_release(&w->be, &x.bc, rr == RESP_OK && reusable);
		switch (rr) {
		case RESP_OK:
			return c->closing || x.out_close ? UP_CLOSE : UP_OK;
		case RESP_CLIENT:
			log_debug("client %s: %s: client went away: %s", c->peer, c->target_log,
				  strerror(-err));
			return UP_ABORT;
		case RESP_TIMEOUT:
			if (x.resp_head_sent) {
				log_backend(&x, 0, why, 0);
				return UP_ABORT;
			}
			return fail(&x, 504, why, 0);
		default:
			if (x.resp_head_sent) {
				/* Close without the end of the body so the client
				 * cannot take a truncated response for a whole one. */
				log_backend(&x, 0, why ? why : "error", err);
				return UP_ABORT;
			}
			return fail(&x, 502, why ? why : "bad response", err);
		}
	}
}
