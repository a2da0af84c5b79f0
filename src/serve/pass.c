/* pass.c - a request passed to a backend: its body streamed there, the response streamed back. */
#include "serve/pass.h"
#include "serve/record.h"
#include "rt/obj.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "backend/exchange.h"
#include "backend/pick.h"
#include "http/chunked.h"
#include "http/forward.h"
#include "http/hbuf.h"
#include "http/hop.h"
#include "http/interim.h"
#include "ops/log.h"
#include "rt/io.h"
#include "serve/encode.h"
#include "serve/keys.h"
#include "serve/poststore.h"
#include "serve/respond.h"
#include "serve/routing.h"
#include "serve/rules.h"
#include "serve/tunnel.h"

struct pass {
	struct req *rq;
	const struct config *cfg;
	struct exchange x;
	size_t head_len;  /* request head bytes in rq->obuf */
	bool out_chunked; /* we frame the client body as chunked */
	bool out_close;	  /* body delimited by closing the client connection */
	bool head_req;
	bool end_sent;		/* the last chunk went out: the body is over */
	struct encode_pass enc; /* compressing the body (serve/encode.h) */
	bool hold_end;		/* the coded body's end has not been sent yet */
	size_t resp_head_len;	/* the response head built in rq->obuf, or 0 */
};

static bool is_field(const struct hmsg *m, const struct hfield *f, const char *name)
{
	return hspan_ieq(m, f->name, name);
}

/*
 * The exchange's request body source: the client's next decoded piece.
 * The piece handed out before (or sent with the head) has been sent by
 * now, so the buffer is reused from its start.
 */
static ssize_t body_next(void *ctx, const char **p)
{
	struct pass *x = ctx;
	struct req *rq = x->rq;
	struct hmsg *m = &rq->req;
	const uint64_t maxb = x->cfg->limits.max_body_size;
	hmsg_body_consumed(m, 0);
	for (;;) {
		if (m->body_len) {
			*p = rq->buf + m->body_off;
			rq->body_in += m->body_len;
			return m->body_len;
		}
		if (m->msg_done)
			return 0;
		/* Everything before pos is sent: reuse the buffer from its start. */
		memmove(rq->buf, rq->buf + rq->pos, rq->len - rq->pos);
		rq->len -= rq->pos;
		rq->pos = 0;
		if (rq->len == 0) {
			ssize_t got = rt_recv(rq->fd, rq->buf, rq->cap, 0,
					      rt_deadline_in(x->cfg->timeouts.client_body_ns));
			METRIC_BYTES(&rq->w->metrics, client_received_bytes, got);
			if (got <= 0) {
				log_info("client %s: %s: request body: %s", rq->peer,
					 rq->target_log,
					 got == 0 ? "client closed" : strerror((int)-got));
				return EXCHANGE_BODY_CLIENT;
			}
			rq->len = (uint32_t)got;
		}
		long used = hmsg_feed(m, 0, rq->len);
		if (used < 0) {
			log_info("client %s: %s: malformed request body: %s", rq->peer,
				 rq->target_log, m->error ? m->error : "?");
			return EXCHANGE_BODY_CLIENT;
		}
		rq->pos = (uint32_t)used;
		if (maxb && m->body_total > maxb)
			return EXCHANGE_BODY_TOO_LARGE;
	}
}

/* Build the client response head for the final response in rq->resp. */
static int build_response_head(struct pass *x, struct hbuf *b)
{
	struct req *rq = x->rq;
	struct hmsg *m = &rq->resp;
	struct hop_set hs;
	hop_collect(m, &hs);
	int status = hmsg_status(m);
	bool no_body = x->head_req || status == 204 || status == 304 || status < 200;
	/* A 101 keeps Upgrade and says "Connection: upgrade" (RFC 9110 7.8). */
	const bool switching = status == 101;
	const struct hedits *edits = rules_resp_edits(rq);
	hbuf_printf(b, "HTTP/1.1 %d ", status);
	hbuf_put(b, hmsg_ptr(m, m->reason), m->reason.len);
	hbuf_put(b, "\r\n", 2);
	size_t fields_at = b->len;
	for (uint32_t i = 0; i < m->n_fields; i++) {
		const struct hfield *f = &m->fields[i];
		if (switching && is_field(m, f, "upgrade")) {
			hbuf_put_field(b, m, f);
			continue;
		}
		if (hop_is_hop(m, &hs, f) || is_field(m, f, "via"))
			continue;
		/* Framing is ours to decide, except that a body-less response
		 * to HEAD or a 304 may describe the representation's length. */
		if (is_field(m, f, "transfer-encoding") || is_field(m, f, "content-length")) {
			if (!(no_body && (x->head_req || status == 304)))
				continue;
		}
		if (encode_pass_field(&x->enc, m, f, b))
			continue;
		hbuf_put_field(b, m, f);
	}
	encode_pass_head_end(&x->enc, b);
	char via[32];
	snprintf(via, sizeof(via), "%u.%u ringcache", m->p.http_major, m->p.http_minor);
	hbuf_put_merged(b, m, "Via", via);
	/* Kept for invalidation after unsafe methods (the head's bytes are
	 * overwritten by the body as it streams). */
	rq->resp_status = status;
	const struct hfield *loc = hmsg_field(m, "location", 0);
	const struct hfield *cloc = hmsg_field(m, "content-location", 0);
	snprintf(rq->loc, REQ_LOC, "%.*s", loc ? (int)loc->value.len : 0,
		 loc ? hmsg_ptr(m, loc->value) : "");
	snprintf(rq->cloc, REQ_LOC, "%.*s", cloc ? (int)cloc->value.len : 0,
		 cloc ? hmsg_ptr(m, cloc->value) : "");
	/* Invalidate before the client can see the answer, or a request it
	 * sends next (even on another connection) could still hit. */
	if (rq->invalidate_host && status >= 200 && status < 400)
		cache_invalidate_after_unsafe(rq, rq->invalidate_host, strlen(rq->invalidate_host));
	/* After the invalidation, which must not remove this copy. */
	bool stored = rq->post && status >= 200 &&
		      poststore_head(rq->post, m, x->x.request_ms, x->x.response_ms);
	if (rq->cache_status) {
		hbuf_printf(b, "Cache-Status: %s%s\r\n", rq->cache_status,
			    stored ? "; stored" : "");
		req_note_cache_status(rq, rq->cache_status);
	}
	bool client11 = rq->req.p.http_minor >= 1;
	if (!no_body) {
		if (hmsg_chunked(m)) {
			x->out_chunked = true;
		} else if (hmsg_has_length(m) && !x->enc.active) {
			hbuf_printf(b, "Content-Length: %llu\r\n",
				    (unsigned long long)hmsg_content_length(m));
		} else if (client11) {
			x->out_chunked = true; /* close-delimited upstream, chunked to us */
		} else {
			x->out_close = true;
			rq->closing = true;
		}
		if (x->out_chunked)
			hbuf_puts(b, "Transfer-Encoding: chunked\r\n");
	}
	if (switching) {
		hbuf_puts(b, "Connection: upgrade\r\n");
	} else if (rq->closing || rq->w->be.draining) {
		rq->closing = true;
		hbuf_puts(b, "Connection: close\r\n");
	} else if (!client11) {
		hbuf_puts(b, "Connection: keep-alive\r\n");
	}
	if (edits && !b->overflow) {
		hedits_drop_lines(edits, b->p, &b->len, fields_at);
		hedits_put_added(edits, b);
	}
	hbuf_put(b, "\r\n", 2);
	if (b->overflow)
		return -1;
	record_note_head(rq, b->p, b->len);
	return 0;
}

/* Forward an interim (1xx) response to an HTTP/1.1 client. */
static int send_interim(void *ctx, struct hmsg *m)
{
	struct pass *x = ctx;
	struct req *rq = x->rq;
	if (rq->req.p.http_minor < 1)
		return 0; /* HTTP/1.0 clients do not understand 1xx */
	/* After the request head, which another attempt may send again. */
	struct hbuf b;
	hbuf_init(&b, rq->obuf + x->head_len, rq->ocap - x->head_len);
	if (interim_head_build(&b, m) < 0)
		return 0;
	ssize_t r = rt_send_all(rq->fd, b.p, b.len, rt_deadline_in(x->cfg->timeouts.send_ns));
	req_sent(rq, r);
	return r < 0 ? (int)r : 0;
}

/* Build the response head into rq->obuf once (it decides the POST copy,
 * poststore_head, before any body piece is given to it). 0 or -E2BIG. */
static int build_head_once(struct pass *x)
{
	if (x->resp_head_len)
		return 0;
	struct hbuf b;
	hbuf_init(&b, x->rq->obuf, x->rq->ocap);
	if (build_response_head(x, &b) < 0)
		return -E2BIG;
	x->resp_head_len = b.len;
	return 0;
}

/* Send the response head (first time) and PIECE, framed for the client,
 * with the body's end when the backend's message is complete. */
static ssize_t send_to_client(struct pass *x, bool head, const char *piece, size_t n)
{
	struct req *rq = x->rq;
	struct iovec iov[5];
	int k = 0;
	char sz[CHUNKED_SIZE_MAX];
	if (head) {
		if (build_head_once(x) < 0)
			return -E2BIG;
		iov[k++] = (struct iovec){rq->obuf, x->resp_head_len};
	}
	k += chunked_frame(iov + k, sz, piece, n, x->out_chunked);
	/* The piece that completes the message carries the last chunk; the
	 * read after it (0, the end) must not send it again. */
	if (rq->resp.msg_done && x->out_chunked && !x->end_sent && !x->hold_end) {
		iov[k++] = (struct iovec){(void *)CHUNKED_LAST, sizeof(CHUNKED_LAST) - 1};
		x->end_sent = true;
	}
	if (k == 0)
		return 0;
	ssize_t r = rt_writev_all(rq->fd, iov, k, rt_deadline_in(x->cfg->timeouts.send_ns));
	req_sent(rq, r);
	return r;
}

/* The exchange failed before the response started: answer STATUS, keep
 * the client connection only if its request was read completely. */
static enum req_result fail(struct req *rq, int status, const char *what)
{
	respond_error(rq, status, what, true);
	return rq->closing ? REQ_ERRORED : REQ_DONE;
}

/* Sending to the client failed with R (send_to_client). */
static enum req_result send_failed(struct pass *x, ssize_t r)
{
	struct req *rq = x->rq;
	if (r == -E2BIG) { /* nothing was sent yet */
		exchange_end(&x->x, EXCHANGE_END_BACKEND);
		log_warn("client %s: %s: 502: response head too large", rq->peer, rq->target_log);
		return fail(rq, 502, "response head too large");
	}
	exchange_end(&x->x, EXCHANGE_END_CLIENT);
	log_debug("client %s: %s: client went away: %s", rq->peer, rq->target_log,
		  strerror((int)-r));
	return REQ_ABORT;
}

/* Reading the body from the backend failed. */
static enum req_result backend_broke(struct pass *x)
{
	struct req *rq = x->rq;
	/* Close without the end of the body so the client cannot take a
	 * truncated response for a whole one. */
	char server[96];
	exchange_server(&x->x, server, sizeof(server));
	log_warn("client %s: %s: 0: backend %s: %s", rq->peer, rq->target_log, server,
		 x->x.why ? x->x.why : "error");
	exchange_end(&x->x, EXCHANGE_END_BACKEND);
	rq->close = CLOSE_backend_broke;
	return REQ_ABORT;
}

/* A backend piece P of N bytes (0: the body ended) to a POST response's
 * copy, before it goes to the client: the copy is unpublished until its
 * body ends (poststore.h), and published before the client has the last
 * byte, so a GET the client sends next finds it. */
static void post_piece(struct req *rq, const char *p, ssize_t n)
{
	if (!rq->post || n < 0)
		return;
	if (n > 0)
		poststore_body(rq->post, p, (size_t)n);
	if (n == 0 || rq->resp.msg_done)
		poststore_done(rq->post);
}

/*
 * The body, coded on the compression pool as it comes (X->enc active):
 * each piece the backend has ready is one step; when it has nothing more
 * for now, a flush, so a streamed response reaches the client as it
 * streams; the end of the backend's body finishes the coding, and only
 * then does the last chunk go out.
 */
static enum req_result pass_body_coded(struct pass *x)
{
	struct req *rq = x->rq;
	x->hold_end = true;
	bool head = true, unflushed = false;
	for (;;) {
		const char *p = NULL;
		ssize_t n = exchange_read(&x->x, &p, true);
		if (n == -EAGAIN && !head && !unflushed)
			n = exchange_read(&x->x, &p, false);
		if (n < 0 && n != -EAGAIN)
			return backend_broke(x);
		enum codec_op op = n == -EAGAIN			 ? CODEC_FLUSH
				   : n == 0 || rq->resp.msg_done ? CODEC_FINISH
								 : CODEC_CONTINUE;
		if (op == CODEC_FINISH && !x->hold_end) {
			if (rq->post)
				poststore_done(rq->post);
			exchange_end(&x->x, EXCHANGE_END_DONE); /* finished with the last piece */
			return rq->closing || x->out_close ? REQ_CLOSE : REQ_DONE;
		}
		const char *out = NULL;
		ssize_t k =
		    encode_pass_step(&x->enc, n > 0 ? p : NULL, n > 0 ? (size_t)n : 0, op, &out);
		if (k < 0) {
			/* Not the backend's fault; the client must not take
			 * what it got for the whole body. */
			atomic_fetch_add_explicit(&cpool_stats(x->enc.pool)->errors, 1,
						  memory_order_relaxed);
			log_warn("client %s: %s: compressing a passed response: %s", rq->peer,
				 rq->target_log, strerror((int)-k));
			exchange_end(&x->x, EXCHANGE_END_CLIENT);
			rq->closing = true;
			return REQ_ABORT;
		}
		if (op == CODEC_FINISH)
			x->hold_end = false;
		/* A stored POST response keeps the origin's bytes, not the
		 * client's coding (P is still the backend's piece). */
		if (head && build_head_once(x) < 0)
			return send_failed(x, -E2BIG);
		post_piece(rq, p, n);
		ssize_t r = send_to_client(x, head, out, (size_t)k);
		head = false;
		if (r < 0)
			return send_failed(x, r);
		unflushed = op == CODEC_CONTINUE;
		if (n == 0) {
			if (rq->post)
				poststore_done(rq->post);
			exchange_end(&x->x, EXCHANGE_END_DONE);
			return rq->closing || x->out_close ? REQ_CLOSE : REQ_DONE;
		}
	}
}

/* A 101 to an upgrade request: check what it switches to, send its head,
 * and hand the backend connection to the tunnel (tunnel.h). */
static enum req_result switch_protocols(struct pass *x)
{
	struct req *rq = x->rq;
	if (!tunnel_101_ok(rq)) {
		x->x.why = "101 to another protocol than asked for"; /* passive health's reason */
		exchange_end(&x->x, EXCHANGE_END_BACKEND);
		log_warn("client %s: %s: 502: 101 switches to another protocol than asked for",
			 rq->peer, rq->target_log);
		rq->closing = true; /* the client may have sent bytes of the new protocol */
		return fail(rq, 502, "101 to another protocol than asked for");
	}
	rq->cache_word = "tunnel";
	ssize_t r = send_to_client(x, true, NULL, 0);
	if (r < 0) {
		exchange_end(&x->x, r == -E2BIG ? EXCHANGE_END_BACKEND : EXCHANGE_END_CLIENT);
		if (r == -E2BIG) {
			log_warn("client %s: %s: 502: response head too large", rq->peer,
				 rq->target_log);
			rq->closing = true;
			return fail(rq, 502, "response head too large");
		}
		return REQ_ABORT;
	}
	/* The exchange outlives this frame: nothing of it may point here. */
	rq->tunnel = x->x;
	rq->tunnel.who = NULL;
	rq->tunnel.ctx = NULL;
	rq->tunnel.body_next = NULL;
	rq->tunnel.on_interim = NULL;
	rq->tunnel.client = rq->tunnel.local = NULL;
	return REQ_TUNNEL;
}

enum req_result pass_forward(struct req *rq, unsigned backend)
{
	CHECK_OBJ_NOTNULL(rq, REQ_MAGIC);
	struct worker *w = rq->w;
	struct pass x = {.rq = rq, .cfg = rq->gen->cfg};
	x.head_req = hmsg_method(&rq->req) == HTTP_HEAD;
	struct hbuf b;
	hbuf_init(&b, rq->obuf, rq->ocap);
	struct forward_head_opts o = {
	    .peer_ip = rq->peer_ip, .forwarded = rq->gen->cfg->forwarded, .upgrade = rq->upgrade};
	routing_forward_opts(rq, &o);
	bool chunked;
	int st = forward_head_build(&b, &rq->req, &o, &chunked);
	if (st) {
		respond_error(rq, st, "request head cannot be forwarded", false);
		return REQ_ERRORED;
	}
	x.head_len = b.len;
	struct hmsg *m = &rq->req;
	const bool has_body = chunked || (hmsg_has_length(m) && hmsg_content_length(m) > 0);
	/* A declared length over the limit is refused before anything is
	 * read or sent (and instead of 100 Continue). */
	uint64_t maxb = x.cfg->limits.max_body_size;
	if (maxb &&
	    ((hmsg_has_length(m) && hmsg_content_length(m) > maxb) || m->body_total > maxb)) {
		respond_error(rq, 413, "request body over limits.max_body_size", false);
		return REQ_ERRORED;
	}
	/* We answer Expect: 100-continue ourselves and do not forward it:
	 * the body is streamed as soon as it arrives. */
	const struct hfield *ex = hmsg_field(m, "expect", 0);
	if (ex && hspan_ieq(m, ex->value, "100-continue") && !m->msg_done && m->p.http_minor >= 1) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		ssize_t r = rt_send_all(rq->fd, cont, sizeof(cont) - 1,
					rt_deadline_in(x.cfg->timeouts.send_ns));
		req_sent(rq, r);
		if (r < 0)
			return REQ_ABORT;
	}

	char who[REQ_TARGET_LOG + 80];
	snprintf(who, sizeof(who), "client %s: %s", rq->peer, rq->target_log);
	x.x = (struct exchange){
	    .b = &w->be,
	    .g = rq->gen,
	    .backend = backend,
	    .req = m,
	    .who = who,
	    .head = rq->obuf,
	    .head_len = x.head_len,
	    .first = m->body_len ? rq->buf + m->body_off : NULL,
	    .first_len = m->body_len,
	    .chunked = chunked,
	    .has_body = has_body,
	    .idempotent = backend_idempotent(hmsg_method(m)),
	    .head_req = x.head_req,
	    .upgrade = rq->upgrade,
	    .body_next = has_body ? body_next : NULL,
	    .on_interim = send_interim,
	    .ctx = &x,
	    .resp = &rq->resp,
	    .rbuf = rq->rbuf,
	    .rcap = rq->rcap,
	};
	routing_timeouts(rq, &x.x.connect_ns, &x.x.first_byte_ns, &x.x.between_bytes_ns);
	struct sockaddr_storage local;
	if (rq->gen->backends[backend].cfg->proxy_protocol) {
		/* getsockname does not wait: a look at the socket's own address. */
		socklen_t ll = sizeof(local);
		x.x.client = (const struct sockaddr *)&rq->peer_sa;
		x.x.local = getsockname(rq->fd, (struct sockaddr *)&local, &ll) == 0
				? (const struct sockaddr *)&local
				: NULL;
		if (!x.x.local || rq->peer_sa.ss_family == AF_UNSPEC)
			x.x.client = x.x.local = NULL; /* LOCAL: nothing to name */
	}
	rt_time_t up0 = rt_clock_now();
	enum exchange_result er = exchange_begin(&x.x);
	if (w->alog || rq->rec_on) { /* only the access log and the record want these */
		rq->upstream_ns = (int64_t)(rt_clock_now() - up0);
		if (er == EXCHANGE_OK || er == EXCHANGE_FAILED)
			exchange_server(&x.x, rq->backend, sizeof(rq->backend));
		exchange_timing(&x.x, &rq->bx);
	}
	switch (er) {
	case EXCHANGE_OK:
		break;
	case EXCHANGE_CLIENT:
		/* Its body broke off (or an interim response could not be sent). */
		rq->closing = true;
		rq->close = CLOSE_body_failed;
		return REQ_ABORT;
	case EXCHANGE_TOO_LARGE:
		respond_error(rq, 413, "chunked request body over limits.max_body_size", false);
		return REQ_ERRORED;
	case EXCHANGE_FAILED:
	default:
		return fail(rq, x.x.status, x.x.why);
	}
	if (hmsg_status(&rq->resp) == 101) /* only to an upgrade: the exchange refuses others */
		return switch_protocols(&x);
	encode_pass_plan(w, rq->gen, &rq->req, &rq->resp, x.head_req,
			 rq->route.active && rq->route.route ? rq->route.route->compression : -1,
			 &x.enc);
	if (x.enc.active) {
		enum req_result cr = pass_body_coded(&x);
		encode_pass_end(&x.enc);
		return cr;
	}
	/* The head, with what body is already here (a small response goes
	 * out in one send), then the rest as it comes. */
	const char *p = NULL;
	ssize_t n = exchange_read(&x.x, &p, true);
	bool head = true;
	for (;;) {
		if (n == -EAGAIN || n >= 0) {
			if (head && build_head_once(&x) < 0)
				return send_failed(&x, -E2BIG);
			post_piece(rq, p, n);
			ssize_t r = send_to_client(&x, head, p, n > 0 ? (size_t)n : 0);
			head = false;
			if (r < 0)
				return send_failed(&x, r);
			if (n == 0) {
				if (rq->post)
					poststore_done(rq->post);
				exchange_end(&x.x, EXCHANGE_END_DONE);
				return rq->closing || x.out_close ? REQ_CLOSE : REQ_DONE;
			}
		} else {
			return backend_broke(&x);
		}
		p = NULL;
		n = exchange_read(&x.x, &p, false);
	}
}
