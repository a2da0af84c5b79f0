/* tunnel.c - after a 101: bytes both ways until both sides close, one breaks off or it idles. */
#include "serve/tunnel.h"
#include "rt/obj.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "http/upgrade.h"
#include "ops/log.h"
#include "rt/io.h"
#include "rt/task.h"

/* The one protocol ringcache makes tunnels for. */
#define TUNNEL_PROTOCOL "websocket"

bool tunnel_asked(const struct req *r)
{
	const struct req_route *q = &r->route;
	if (q->active && q->route && !q->route->websocket)
		return false;
	return hmsg_method(&r->req) == HTTP_GET && upgrade_asks_for(&r->req, TUNNEL_PROTOCOL);
}

bool tunnel_101_ok(const struct req *r)
{
	return r->upgrade && upgrade_switches_to(&r->resp, TUNNEL_PROTOCOL);
}

/* How one direction ended, the first of them that was no clean close
 * deciding the tunnel's. */
enum tun_end {
	TUN_EOF,	 /* its source closed; the other side's write half is shut down */
	TUN_IDLE,	 /* timeouts.tunnel without a byte either way */
	TUN_BROKE,	 /* a reset, a failed recv, a failed send to the backend */
	TUN_SEND_CLIENT, /* a send to the client failed or timed out */
	TUN_CANCELLED,	 /* the task was cancelled: drain, or the other direction ended */
};

/* One direction: from one fd into a buffer, then all of it to the other. */
struct tun_dir {
	int from, to;
	char *buf;
	uint32_t cap;
	uint32_t pos, len; /* bytes read before the tunnel began: sent first */
	bool to_client;
	uint64_t bytes; /* relayed this way, for the log line at the end */
};

/* A tunnel, on its connection task's stack: that task does not return
 * before the other one ("tunnel") has finished. */
struct tun {
	struct req *r;
	struct tun_dir up;   /* client -> backend: the connection's task */
	struct tun_dir down; /* backend -> client: the tunnel task */
	rt_time_t last;	     /* when the last byte went either way */
	uint64_t idle_ns, send_ns;
	enum tun_end end; /* TUN_EOF while every direction that ended closed cleanly */
	struct rt_task *conn, *helper;
	bool up_done;	  /* the connection task's direction has ended */
	bool helper_done; /* the tunnel task has ended (it is about to free itself) */
	bool waiting;	  /* the connection task waits for helper_done */
	bool stop;	  /* the connection task was cancelled while it waited */
};

static void note_end(struct tun *t, enum tun_end e)
{
	if (t->end == TUN_EOF)
		t->end = e;
}

/* Send N bytes at P on D->to; 0 or how the direction ends. */
static int send_on(struct tun *t, struct tun_dir *d, const char *p, size_t n)
{
	struct metrics *m = &t->r->w->metrics;
	ssize_t s = rt_send_all(d->to, p, n, rt_deadline_in(t->send_ns));
	if (s < 0)
		return s == -ECANCELED ? TUN_CANCELLED : d->to_client ? TUN_SEND_CLIENT : TUN_BROKE;
	t->last = rt_clock_now();
	d->bytes += (uint64_t)s;
	if (d->to_client) {
		METRIC_BYTES(m, client_sent_bytes, s);
		METRIC_BYTES(m, tunnel_backend_bytes, s);
	} else {
		METRIC_BYTES(m, backend_sent_bytes, s);
		METRIC_BYTES(m, tunnel_client_bytes, s);
	}
	return 0;
}

/* Relay D until its source closes or something fails. */
static enum tun_end pump(struct tun *t, struct tun_dir *d)
{
	struct metrics *m = &t->r->w->metrics;
	int e;
	if (d->pos < d->len && (e = send_on(t, d, d->buf + d->pos, d->len - d->pos)) != 0)
		return (enum tun_end)e;
	for (;;) {
		/* One idle deadline for both directions: a quiet direction
		 * beside a busy one is not idle. */
		ssize_t n = rt_recv(d->from, d->buf, d->cap, 0, t->last + t->idle_ns);
		if (n == -ETIMEDOUT) {
			if (rt_clock_now() < t->last + t->idle_ns)
				continue; /* bytes went the other way meanwhile */
			return TUN_IDLE;
		}
		if (n == -ECANCELED)
			return TUN_CANCELLED;
		if (n == 0) {
			/* Half-close: pass the end on, and let the other way go on. */
			shutdown(d->to, SHUT_WR);
			return TUN_EOF;
		}
		if (n < 0) {
			log_debug("client %s: %s: tunnel: recv from %s: %s", t->r->peer,
				  t->r->target_log, d->to_client ? "backend" : "client",
				  strerror((int)-n));
			return TUN_BROKE;
		}
		if (d->to_client)
			METRIC_BYTES(m, backend_received_bytes, n);
		else
			METRIC_BYTES(m, client_received_bytes, n);
		t->last = rt_clock_now();
		if ((e = send_on(t, d, d->buf, (size_t)n)) != 0)
			return (enum tun_end)e;
	}
}

/* The tunnel task: backend -> client. */
static void down_main(void *arg)
{
	struct tun *t = arg;
	/* In the worker's task group, so that a forced drain cancels it. */
	rt_group_enter(&t->r->w->tasks);
	enum tun_end e = pump(t, &t->down);
	if (e != TUN_EOF) {
		note_end(t, e);
		if (!t->up_done)
			rt_task_cancel(t->conn); /* the other way ends too */
	}
	t->helper_done = true;
	if (t->waiting) {
		t->waiting = false;
		rt_wake(t->conn, 0);
	}
}

/*
 * rt_wait calls this first when the connection task's wait for the tunnel
 * task reaches its deadline or the connection task is cancelled. A
 * deadline while bytes still flow only means "look again" (true: the wait
 * ends, wait_helper waits anew), and so does the first cancellation, so
 * that wait_helper learns of it. Past the idle deadline, or once
 * cancelled, the tunnel task is cancelled and the wait goes on until it
 * has ended (false): it ends at once, since all its awaits fail from then
 * on, and the tunnel must not be left while it may still use it.
 */
static bool wait_abort(void *arg)
{
	struct tun *t = arg;
	if (t->helper_done || (!t->stop && rt_clock_now() < t->last + t->idle_ns + t->send_ns)) {
		t->waiting = false;
		return true;
	}
	if (!t->stop)
		note_end(t, TUN_IDLE);
	rt_task_cancel(t->helper);
	return false;
}

/* Wait until the tunnel task has ended; it frees itself. The deadline is
 * a backstop: by then the tunnel task has ended by itself (its own idle
 * deadline, or timeouts.send on a stuck send) unless bytes moved. */
static void wait_helper(struct tun *t)
{
	while (!t->helper_done) {
		t->waiting = true;
		int e = rt_wait(t->last + t->idle_ns + t->send_ns, wait_abort, t);
		t->waiting = false;
		if (e == -ECANCELED)
			t->stop = true;
	}
}

/* A tunnel that broke off ends with a reset on both sides: neither peer
 * may take it for a clean end (a close could also pass for the end of a
 * message the other side never finished). */
static void reset_on_close(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

static const char *const end_names[] = {
    [TUN_EOF] = "both sides closed", [TUN_IDLE] = "idle",
    [TUN_BROKE] = "broke off",	     [TUN_SEND_CLIENT] = "send to the client failed",
    [TUN_CANCELLED] = "drain",
};

enum req_result tunnel_run(struct req *r)
{
	CHECK_OBJ_NOTNULL(r, REQ_MAGIC);
	struct exchange *x = &r->tunnel;
	CHECK_OBJ_NOTNULL(x, EXCHANGE_MAGIC);
	struct worker *w = r->w;
	const struct config *cfg = r->gen->cfg;
	struct tun t = {
	    .r = r,
	    .up = {.from = r->fd,
		   .to = x->bc.fd,
		   .buf = r->buf,
		   .cap = r->cap,
		   .pos = r->pos,
		   .len = r->len},
	    .down = {.from = x->bc.fd,
		     .to = r->fd,
		     .buf = x->rbuf,
		     .cap = x->rcap,
		     .pos = x->pos,
		     .len = x->len,
		     .to_client = true},
	    .last = rt_clock_now(),
	    .idle_ns = cfg->timeouts.tunnel_ns,
	    .send_ns = cfg->timeouts.send_ns,
	    .end = TUN_EOF,
	    .conn = rt_task_self(),
	};
	r->pos = r->len = 0; /* the buffer is the tunnel's now */
	METRIC_INC(&w->metrics, tunnels_opened);
	atomic_fetch_add_explicit(&w->tunnels, 1, memory_order_relaxed);
	t.helper = rt_task_spawn(down_main, &t, "tunnel");
	if (t.helper) {
		/* Its handle stays valid until it ends, which we wait for. */
		rt_task_detach(t.helper);
		enum tun_end e = pump(&t, &t.up);
		t.up_done = true;
		if (e != TUN_EOF) {
			note_end(&t, e);
			if (!t.helper_done)
				rt_task_cancel(t.helper);
		}
		wait_helper(&t);
	} else {
		log_warn("client %s: %s: tunnel: out of memory", r->peer, r->target_log);
		t.end = TUN_BROKE;
	}
	atomic_fetch_sub_explicit(&w->tunnels, 1, memory_order_relaxed);
	log_debug("client %s: %s: tunnel ended (%s): %llu bytes from the client, %llu to it",
		  r->peer, r->target_log, end_names[t.end], (unsigned long long)t.up.bytes,
		  (unsigned long long)t.down.bytes);
	if (t.end == TUN_BROKE || t.end == TUN_SEND_CLIENT)
		reset_on_close(x->bc.fd);
	exchange_end(x, EXCHANGE_END_TUNNEL);
	switch (t.end) {
	case TUN_EOF:
		r->close = CLOSE_tunnel_closed;
		return REQ_CLOSE;
	case TUN_IDLE:
		r->close = CLOSE_tunnel_idle;
		return REQ_CLOSE;
	case TUN_CANCELLED:
		r->close = CLOSE_draining;
		return REQ_CLOSE;
	case TUN_SEND_CLIENT:
		r->close = CLOSE_send_failed;
		return REQ_ABORT;
	case TUN_BROKE:
	default:
		/* A tunnel that broke off is passed on as a reset: the client
		 * must not take the end for a clean one. */
		r->close = CLOSE_tunnel_closed;
		return REQ_ABORT;
	}
}
