/* dash.c - the dashboard page and its stream of snapshots (dash.h). */
#include "daemon/dash.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "backend/gen.h"
#include "daemon/daemon.h"
#include "daemon/stats.h"
#include "ops/log.h"
#include "rt/io.h"
#include "rt/obj.h"
#include "rt/task.h"

#define DASH_SEND_TIMEOUT (5 * RT_SEC) /* a subscriber that reads nothing for this long goes */
#define DASH_TICK	  RT_SEC
#define DASH_SNAP_REUSE	  (500 * RT_MS) /* younger snapshots are shared, not taken again */
#define DASH_JSON_MAX	  65536
/* A stream's socket send buffer (the kernel doubles it): a subscriber
 * that stops reading holds this much kernel memory at most, and is
 * dropped some seconds after it fills, not minutes. */
#define DASH_SNDBUF 16384

#define DASH_SNAP_MAGIC 0x44534e50u

struct dash_snap {
	unsigned magic;
	rt_time_t taken; /* 0: none yet */
	size_t len;
	struct stats stats;
	char json[DASH_JSON_MAX];
};

/* The page may load nothing from elsewhere, and says so to the browser. */
#define PAGE_HEAD                                                                                  \
	"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %zu\r\n"     \
	"Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\n"                              \
	"X-Content-Type-Options: nosniff\r\nContent-Security-Policy: default-src 'none'; "         \
	"script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "              \
	"img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"           \
	"Connection: close\r\n\r\n"

int dash_page(int fd)
{
	char head[512];
	int hl = snprintf(head, sizeof(head), PAGE_HEAD, dash_index_html_len);
	struct iovec iov[2] = {{head, (size_t)hl}, {(void *)dash_index_html, dash_index_html_len}};
	ssize_t n = rt_writev_all(fd, iov, 2, rt_deadline_in(DASH_SEND_TIMEOUT));
	return n < 0 ? (int)n : 0;
}

static int send_str(int fd, const char *s)
{
	ssize_t n = rt_send_all(fd, s, strlen(s), rt_deadline_in(DASH_SEND_TIMEOUT));
	return n < 0 ? (int)n : 0;
}

/* The shared snapshot, taken again when it is older than DASH_SNAP_REUSE. */
static const struct dash_snap *snap_fresh(struct daemon *d, const struct gen *g)
{
	struct dash_snap *s = d->dash.snap;
	CHECK_OBJ_NOTNULL(s, DASH_SNAP_MAGIC);
	rt_time_t now = rt_clock_now();
	if (!s->taken || now - s->taken >= DASH_SNAP_REUSE) {
		stats_take(d, g, &s->stats, STATS_STREAM);
		s->len = stats_render_json(&s->stats, s->json, sizeof(s->json));
		while (s->len && s->json[s->len - 1] == '\n') /* one SSE data line */
			s->len--;
		s->taken = now;
	}
	return s;
}

/* Take a place among the subscribers (and the snapshot with the first). */
static bool hub_join(struct dash_hub *h)
{
	if (h->subscribers >= DASH_STREAMS_MAX)
		return false;
	if (!h->snap) {
		h->snap = malloc(sizeof(*h->snap));
		if (!h->snap)
			return false;
		h->snap->magic = DASH_SNAP_MAGIC;
		h->snap->taken = 0;
		h->snap->len = 0;
	}
	h->subscribers++;
	return true;
}

static void hub_leave(struct dash_hub *h)
{
	assert(h->subscribers > 0);
	if (--h->subscribers == 0) {
		CHECK_OBJ_NOTNULL(h->snap, DASH_SNAP_MAGIC);
		h->snap->magic = 0;
		free(h->snap);
		h->snap = NULL;
	}
}

/*
 * One event, as one chunk: "data: JSON\n\n". The JSON is copied to the
 * subscriber's own buffer first, since the shared snapshot may be taken
 * again by another subscriber while this one's send waits.
 */
static int send_event(int fd, const struct dash_snap *s, char *buf, size_t cap)
{
	int hl = snprintf(buf, cap, "%zx\r\ndata: ", s->len + 8);
	if (hl < 0 || (size_t)hl + s->len + 6 > cap)
		return -EMSGSIZE;
	memcpy(buf + hl, s->json, s->len);
	memcpy(buf + hl + s->len, "\n\n\r\n", 4);
	ssize_t n =
	    rt_send_all(fd, buf, (size_t)hl + s->len + 4, rt_deadline_in(DASH_SEND_TIMEOUT));
	return n < 0 ? (int)n : 0;
}

int dash_stream(const struct dash_client *c)
{
	struct dloop *l = c->l;
	struct daemon *d = l->d;
	CHECK_OBJ_NOTNULL(d, DAEMON_MAGIC);
	struct dash_hub *h = &d->dash;
	if (!hub_join(h)) {
		log_warn("admin: /stats/stream refused: %u subscribers", h->subscribers);
		return send_str(c->fd,
				"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
				"Content-Length: 21\r\nRetry-After: 5\r\n"
				"Cache-Control: no-store\r\nConnection: close\r\n\r\n"
				"too many subscribers\n");
	}
	int sndbuf = DASH_SNDBUF;
	(void)setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)); /* a hint */
	char *buf = malloc(DASH_JSON_MAX + 64);
	int rc = buf ? send_str(c->fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
				       "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\n"
				       "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
				       /* 13 bytes: a browser reconnects after 2 s */
				       "d\r\nretry: 2000\n\n\r\n")
		     : -ENOMEM;
	rt_time_t tick = rt_clock_now();
	bool finish = false; /* end the body properly: the client is still there */
	while (rc == 0) {
		if (l->w.be.draining) {
			finish = true;
			break;
		}
		struct gen *g = gen_hold(&l->w.be);
		bool ok = c->allowed(c->ctx, g);
		const struct dash_snap *s = ok ? snap_fresh(d, g) : NULL;
		/* Rendered: the snapshot names nothing of G any more. */
		gen_put(&l->w.be, g);
		if (!ok) {
			finish = true;
			break;
		}
		rc = send_event(c->fd, s, buf, DASH_JSON_MAX + 64);
		if (rc < 0)
			break;
		/* Wait for the next tick in a receive, so a client that closes
		 * ends its stream now, not at the next failed send. A stream's
		 * client has nothing to say: bytes end it too. */
		tick += DASH_TICK;
		rt_time_t now = rt_clock_now();
		if (tick <= now) /* a slow send: no burst to catch up */
			tick = now + DASH_TICK;
		char junk[64];
		ssize_t n = rt_recv(c->fd, junk, sizeof(junk), 0, tick);
		if (n != -ETIMEDOUT)
			break;
	}
	if (finish)
		send_str(c->fd, "0\r\n\r\n");
	free(buf);
	hub_leave(h);
	return rc;
}
