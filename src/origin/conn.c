/*
 * conn.c - one detached task per client connection: read, parse with
 * llhttp, answer each request in order, keep-alive and pipelining.
 *
 * The parser pauses at the end of every message so the request is answered
 * before the next one is parsed: pipelined requests are answered in order,
 * and bytes after a message stay in the input buffer for the next round.
 * After a 101 the connection belongs to the WebSocket session (ws.c),
 * which starts with whatever followed the handshake in that buffer.
 */
#include "origin/conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <llhttp.h>

#include "origin/buf.h"
#include "origin/respond.h"
#include "origin/ws.h"
#include "rt/clock.h"
#include "rt/io.h"
#include "rt/task.h"

#define IN_CAP	      16384
#define MAX_URL	      (16u * 1024u)
#define MAX_HDRS      (64u * 1024u)
#define MAX_INM	      (8u * 1024u)
#define MAX_ECHO_BODY (64u * 1024u * 1024u)
/* Buffers larger than this are released between requests. */
#define KEEP_BUF (16u * 1024u)
/* An idle keep-alive connection is closed after IDLE_TIMEOUT; a started
 * request must make progress within READ_TIMEOUT. */
#define IDLE_TIMEOUT (120 * RT_SEC)
#define READ_TIMEOUT (30 * RT_SEC)
/* After a response that ends the connection, read and discard what the
 * client still sends for at most this long before closing, so our close
 * does not turn into a RST that destroys the response in flight. */
#define LINGER_TIME  (2 * RT_SEC)
#define LINGER_BYTES (1u << 20)

struct origin_conn {
	struct origin_worker *w;
	struct origin_conn *prev, *next;
	struct rt_task *task;
	int fd;
	llhttp_t parser;
	char *in;
	size_t in_pos, in_len;

	/* The request being parsed. */
	struct buf url, hdrs, inm, body, scratch;
	size_t line_start, name_len; /* current header line inside hdrs */
	bool in_message, headers_done, complete;
	bool keep_body, expect_continue, continue_sent;
	int err_status; /* set by a callback that refused the request */
	int method;
	unsigned http_major, http_minor;
	bool keep_alive;
};

static struct origin_conn *conn_of(llhttp_t *p)
{
	return p->data;
}

/* Record a limit violation as its HTTP status; -1 makes llhttp fail. */
static int refuse(struct origin_conn *c, int r, int status)
{
	c->err_status = r == -E2BIG ? status : 500;
	return -1;
}

static int on_message_begin(llhttp_t *p)
{
	struct origin_conn *c = conn_of(p);
	buf_reset(&c->url, KEEP_BUF);
	buf_reset(&c->hdrs, KEEP_BUF);
	buf_reset(&c->inm, KEEP_BUF);
	buf_reset(&c->body, KEEP_BUF);
	c->name_len = 0;
	c->in_message = true;
	c->headers_done = c->complete = false;
	c->keep_body = c->expect_continue = c->continue_sent = false;
	return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
	struct origin_conn *c = conn_of(p);
	int r = buf_append(&c->url, at, len, MAX_URL);
	return r < 0 ? refuse(c, r, 414) : 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
	struct origin_conn *c = conn_of(p);
	if (c->headers_done)
		return 0; /* trailer fields: not part of the echoed head */
	if (c->name_len != SIZE_MAX) {
		/* first piece of a new field name */
		c->line_start = c->hdrs.len;
		c->name_len = SIZE_MAX;
	}
	int r = buf_append(&c->hdrs, at, len, MAX_HDRS);
	return r < 0 ? refuse(c, r, 431) : 0;
}

static int on_header_field_complete(llhttp_t *p)
{
	struct origin_conn *c = conn_of(p);
	if (c->headers_done)
		return 0;
	c->name_len = c->hdrs.len - c->line_start;
	int r = buf_append(&c->hdrs, ": ", 2, MAX_HDRS);
	return r < 0 ? refuse(c, r, 431) : 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
	struct origin_conn *c = conn_of(p);
	if (c->headers_done)
		return 0;
	int r = buf_append(&c->hdrs, at, len, MAX_HDRS);
	return r < 0 ? refuse(c, r, 431) : 0;
}

static bool name_is(const struct origin_conn *c, const char *name)
{
	return c->name_len == strlen(name) &&
	       !strncasecmp(c->hdrs.p + c->line_start, name, c->name_len);
}

static int on_header_value_complete(llhttp_t *p)
{
	struct origin_conn *c = conn_of(p);
	if (c->headers_done)
		return 0;
	const char *val = c->hdrs.p + c->line_start + c->name_len + 2;
	size_t vlen = c->hdrs.len - c->line_start - c->name_len - 2;
	int r = 0;
	if (name_is(c, "If-None-Match")) {
		/* Repeated fields are one comma-separated list. */
		if (c->inm.len)
			r = buf_append(&c->inm, ", ", 2, MAX_INM);
		r = r ? r : buf_append(&c->inm, val, vlen, MAX_INM);
	} else if (name_is(c, "Expect") && vlen == 12 && !strncasecmp(val, "100-continue", 12)) {
		c->expect_continue = true;
	}
	r = r ? r : buf_append(&c->hdrs, "\r\n", 2, MAX_HDRS);
	c->name_len = 0; /* the next field name starts a new line */
	return r < 0 ? refuse(c, r, 431) : 0;
}

static int on_headers_complete(llhttp_t *p)
{
	struct origin_conn *c = conn_of(p);
	c->headers_done = true;
	/* Only /echo needs the body; others discard it as it streams by. */
	c->keep_body = c->url.p && respond_is_echo(c->url.p, c->url.len);
	return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
	struct origin_conn *c = conn_of(p);
	if (!c->keep_body)
		return 0;
	int r = buf_append(&c->body, at, len, MAX_ECHO_BODY);
	return r < 0 ? refuse(c, r, 413) : 0;
}

static int on_message_complete(llhttp_t *p)
{
	struct origin_conn *c = conn_of(p);
	c->method = llhttp_get_method(p);
	c->http_major = llhttp_get_http_major(p);
	c->http_minor = llhttp_get_http_minor(p);
	/* CONNECT or Upgrade: the answer is the last HTTP on this
	 * connection (a 101 hands it to the WebSocket session). */
	c->keep_alive = llhttp_should_keep_alive(p) && !p->upgrade;
	c->in_message = false;
	c->complete = true;
	return HPE_PAUSED; /* answer this one before parsing the next */
}

/* Constant and shared by every loop thread. */
static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static int answer(struct origin_conn *c, bool *close_conn, struct ws_opts *ws)
{
	struct origin_req rq = {
	    .method = c->method,
	    .http_major = c->http_major,
	    .http_minor = c->http_minor,
	    .keep_alive = c->keep_alive,
	    .target = c->url.p ? c->url.p : "",
	    .target_len = c->url.len,
	    .inm = c->inm.len ? c->inm.p : NULL,
	    .inm_len = c->inm.len,
	    .hdrs = c->hdrs.p,
	    .hdrs_len = c->hdrs.len,
	    .body = c->body.p,
	    .body_len = c->body.len,
	};
	c->complete = false;
	return respond(c->fd, &rq, &c->scratch, close_conn, ws);
}

/* Half-close, then drain the client's leftovers until it closes too. */
static void linger(struct origin_conn *c)
{
	/* shutdown() only queues a FIN; it never blocks. */
	if (shutdown(c->fd, SHUT_WR) < 0)
		return;
	rt_time_t deadline = rt_clock_now() + LINGER_TIME;
	size_t drained = 0;
	while (drained < LINGER_BYTES) {
		ssize_t n = rt_recv(c->fd, c->in, IN_CAP, 0, deadline);
		if (n <= 0)
			break;
		drained += (size_t)n;
	}
}

static void conn_free(struct origin_conn *c)
{
	buf_free(&c->url);
	buf_free(&c->hdrs);
	buf_free(&c->inm);
	buf_free(&c->body);
	buf_free(&c->scratch);
	free(c->in);
	free(c);
}

static void conn_main(void *arg)
{
	struct origin_conn *c = arg;
	struct origin_worker *w = c->w;
	c->task = rt_task_self();
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;

	bool graceful = false; /* close after a complete response: linger */
	llhttp_init(&c->parser, HTTP_REQUEST, &settings);
	c->parser.data = c;
	while (!w->stopping) {
		if (c->in_pos == c->in_len) {
			c->in_pos = c->in_len = 0;
			rt_time_t dl = rt_deadline_in(c->in_message ? READ_TIMEOUT : IDLE_TIMEOUT);
			ssize_t n = rt_recv(c->fd, c->in, IN_CAP, 0, dl);
			if (n <= 0)
				break; /* EOF (mid-request or not), error, timeout, cancel */
			c->in_len = (size_t)n;
		}
		const char *start = c->in + c->in_pos;
		llhttp_errno_t e = llhttp_execute(&c->parser, start, c->in_len - c->in_pos);
		if (e == HPE_OK) {
			c->in_pos = c->in_len;
			if (c->expect_continue && c->headers_done && !c->continue_sent) {
				static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
				c->continue_sent = true;
				if (rt_send_all(c->fd, cont, sizeof(cont) - 1,
						rt_deadline_in(READ_TIMEOUT)) < 0)
					break;
			}
			continue;
		}
		if ((e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) && c->complete) {
			/* Paused right after the message: the rest is the next one. */
			c->in_pos = (size_t)(llhttp_get_error_pos(&c->parser) - c->in);
			bool close_conn = false;
			struct ws_opts ws;
			if (e == HPE_PAUSED)
				llhttp_resume(&c->parser);
			int r = answer(c, &close_conn, &ws);
			if (r < 0)
				break;
			if (r == RESPOND_UPGRADED) {
				/* HTTP ends here; the rest of the input is frames. */
				graceful =
				    ws_session(c->fd, c->in, IN_CAP, c->in_pos, c->in_len, &ws);
				break;
			}
			if (close_conn || e == HPE_PAUSED_UPGRADE) {
				graceful = true;
				break;
			}
			continue;
		}
		/* A malformed request: 400 (or the limit it broke), then close. */
		int status = c->err_status ? c->err_status : 400;
		if (respond_error(c->fd, status, &c->scratch) == 0)
			graceful = true;
		break;
	}
	if (graceful)
		linger(c);
	rt_close(c->fd);

	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	conn_free(c);
}

static int conn_start(struct origin_worker *w, int fd)
{
	struct origin_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->in = malloc(IN_CAP);
	if (!c->in) {
		free(c);
		return -ENOMEM;
	}
	c->w = w;
	c->fd = fd;
	int r = rt_task_spawn_detached(conn_main, c, "origin-conn");
	if (r < 0)
		conn_free(c);
	return r;
}

void conn_acceptor(void *arg)
{
	struct origin_worker *w = arg;
	w->acceptor = rt_task_self();
	while (!w->stopping) {
		int fd = rt_accept(w->lfd, NULL, NULL, RT_NEVER);
		if (fd == -ECANCELED)
			break;
		if (fd < 0) {
			/* Out of fds or memory: back off instead of spinning. */
			if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM)
				rt_sleep_until(rt_clock_now() + 50 * RT_MS);
			continue;
		}
		if (conn_start(w, fd) < 0)
			rt_close(fd);
	}
	w->acceptor = NULL;
}

void conn_stop_all(struct origin_worker *w)
{
	w->stopping = true;
	if (w->acceptor)
		rt_task_cancel(w->acceptor);
	for (struct origin_conn *c = w->conns; c; c = c->next)
		rt_task_cancel(c->task);
}
