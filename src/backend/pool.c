/* pool.c - per-loop pools of idle keep-alive backend connections, each watched. */
#include "backend/pool.h"
#include "rt/obj.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ops/log.h"
#include "ops/metrics.h"
#include "rt/io.h"
#include "rt/task.h"

/* An idle connection is closed after this long unused: many servers drop
 * idle keep-alive connections after a few seconds, and a stale one costs
 * a failed attempt. */
#define BPOOL_MAX_IDLE_NS (4 * RT_SEC)

/*
 * An idle keep-alive connection in a pool. It is watched (a poll armed in
 * the ring, no task): whatever the server sends on a connection nobody
 * asked anything on, a stray or late response above all, would otherwise
 * be read as the answer to the next request, from any client, and leave
 * the connection one response behind from then on. Bytes, EOF, an error
 * or the idle time close it. The record lives until the watch's last
 * callback, also after the connection was taken or dropped.
 */
#define BIDLE_MAGIC 0x4249444cu

struct bidle {
	unsigned magic;
	struct rt_watch watch;
	struct bloop *b;
	struct bpool *pool;	   /* the pool it idles in; NULL once taken or dropped */
	struct bidle *prev, *next; /* in the pool, most recently used first */
	struct backend_rt *brt;	   /* the backend of the server it talks to */
	unsigned server;
	int fd;
	bool taken; /* the fd belongs to an exchange now: the callback only frees */
};

/* One server's idle connections on one loop. */
struct bpool {
	unsigned cap, n;
	struct bidle *head;
};

#define BPOOLS_MAGIC 0x42504c53u

struct bpools {
	unsigned magic;
	struct backend_rt *backends; /* the generation's, [n] */
	size_t n;
	struct bpool **pool; /* [backend][server] */
};

static void pool_unlink(struct bpool *p, struct bidle *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		p->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	e->prev = e->next = NULL;
	e->pool = NULL;
	p->n--;
}

static void pool_push(struct bpool *p, struct bidle *e)
{
	e->pool = p;
	e->prev = NULL;
	e->next = p->head;
	if (p->head)
		p->head->prev = e;
	p->head = e;
	p->n++;
}

/* How long a server that sent bytes nobody asked for gets no connection
 * reused. One stray response means its connections cannot be trusted to
 * stay in step: one that is busy when the next stray comes would take it
 * for the answer to the request it carries, and then every answer after
 * it would be one behind. Fresh connections are immune (closed after
 * their one exchange). */
#define UNSOLICITED_NO_REUSE_NS (60 * RT_SEC)

void backend_unsolicited(struct bloop *b, struct backend_rt *brt, unsigned server)
{
	struct server_health *h = &brt->health[server];
	uint64_t now = rt_clock_now();
	uint64_t was = atomic_exchange_explicit(&h->no_reuse_until, now + UNSOLICITED_NO_REUSE_NS,
						memory_order_relaxed);
	METRIC_INC(b->metrics, backend_unsolicited);
	if (was < now) /* once per episode, not per stray */
		log_warn("backend %s server %s sent bytes nobody asked for (a stray response?); "
			 "its connections are not reused for %d s",
			 brt->cfg->name, brt->cfg->servers[server].spec,
			 (int)(UNSOLICITED_NO_REUSE_NS / RT_SEC));
}

static bool no_reuse(const struct backend_rt *brt, unsigned server)
{
	return rt_clock_now() <
	       atomic_load_explicit(&brt->health[server].no_reuse_until, memory_order_relaxed);
}

/* The watch's one callback: readable (bytes or EOF), the idle deadline,
 * or a cancel (taken, or dropped with its pool). On the loop thread,
 * outside any task. */
static void idle_wake(struct rt_watch *wt, int res)
{
	struct bidle *e = (struct bidle *)((char *)wt - offsetof(struct bidle, watch));
	CHECK_OBJ_NOTNULL(e, BIDLE_MAGIC);
	if (!e->taken) {
		if (e->pool) {
			pool_unlink(e->pool, e);
			if (res != -ETIMEDOUT) {
				METRIC_INC(e->b->metrics, backend_idle_closed);
				/* EOF is a server closing an idle connection, as
				 * servers do; bytes are something else. */
				if (res > 0 && backend_conn_peek(e->fd) > 0)
					backend_unsolicited(e->b, e->brt, e->server);
			}
		}
		close(e->fd); /* not in a task; closing a socket does not block */
	}
	FINI_OBJ(e);
	free(e);
}

/* Take E out of its pool and close it (through its watch). */
static void idle_drop(struct bidle *e)
{
	pool_unlink(e->pool, e);
	rt_watch_cancel(&e->watch);
}

int backend_conn_peek(int fd)
{
	char b;
	ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0)
		return 1;
	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
}

struct bpools *bpools_new(struct backend_rt *backends, size_t n)
{
	struct bpools *ps = calloc(1, sizeof(*ps));
	if (!ps)
		return NULL;
	ps->magic = BPOOLS_MAGIC;
	ps->backends = backends;
	ps->n = n;
	ps->pool = calloc(n ? n : 1, sizeof(*ps->pool));
	for (size_t b = 0; ps->pool && b < n; b++) {
		const struct config_backend *cb = backends[b].cfg;
		ps->pool[b] = calloc(cb->n_servers ? cb->n_servers : 1, sizeof(struct bpool));
		if (!ps->pool[b])
			break;
		for (size_t s = 0; s < cb->n_servers; s++)
			ps->pool[b][s].cap = cb->pool_size;
	}
	for (size_t b = 0; ps->pool && b < n; b++) {
		if (!ps->pool[b]) {
			bpools_free(&ps);
			return NULL;
		}
	}
	if (!ps->pool)
		bpools_free(&ps);
	return ps;
}

void bpools_close_idle(struct bpools *ps)
{
	if (!ps)
		return;
	CHECK_OBJ_NOTNULL(ps, BPOOLS_MAGIC);
	for (size_t b = 0; ps->pool && b < ps->n; b++) {
		for (size_t s = 0; ps->pool[b] && s < ps->backends[b].cfg->n_servers; s++) {
			struct bpool *p = &ps->pool[b][s];
			while (p->head)
				idle_drop(p->head);
		}
	}
}

void bpools_free(struct bpools **psp)
{
	struct bpools *ps = *psp;
	if (!ps)
		return;
	*psp = NULL;
	/* On the loop, which then runs the watches' callbacks: a loop does
	 * not end while watches are armed, so after it ended none are left. */
	bpools_close_idle(ps);
	for (size_t b = 0; ps->pool && b < ps->n; b++)
		free(ps->pool[b]);
	free(ps->pool);
	ps->magic = 0;
	free(ps);
}

void bpools_move(struct bpools *from, struct bpools *to)
{
	if (!from || !to)
		return;
	CHECK_OBJ_NOTNULL(from, BPOOLS_MAGIC);
	assert(to->magic == BPOOLS_MAGIC);
	for (size_t b = 0; b < to->n; b++) {
		const struct config_backend *cb = to->backends[b].cfg;
		for (size_t s = 0; s < cb->n_servers; s++) {
			struct bpool *d = &to->pool[b][s];
			for (size_t ob = 0; ob < from->n; ob++) {
				const struct config_backend *ocb = from->backends[ob].cfg;
				for (size_t os = 0; os < ocb->n_servers; os++) {
					struct bpool *p = &from->pool[ob][os];
					if (!config_addr_equal(&cb->servers[s], &ocb->servers[os]))
						continue;
					while (p->head && d->n < d->cap) {
						struct bidle *e = p->head;
						pool_unlink(p, e);
						e->brt = &to->backends[b];
						e->server = (unsigned)s;
						pool_push(d, e);
					}
				}
			}
		}
	}
	/* What did not fit, and connections to servers that are gone, close
	 * now: an old generation's pools take no connections back. */
	bpools_close_idle(from);
}

int backend_acquire(struct bloop *b, struct bpools *ps, unsigned backend, unsigned server,
		    bool fresh, struct bconn *out, rt_time_t deadline)
{
	CHECK_OBJ_NOTNULL(ps, BPOOLS_MAGIC);
	CHECK_OBJ_NOTNULL(ps, BPOOLS_MAGIC);
	assert(backend < ps->n);
	struct backend_rt *brt = &ps->backends[backend];
	struct bpool *p = &ps->pool[backend][server];
	*out =
	    (struct bconn){.pools = ps, .brt = brt, .fd = -1, .backend = backend, .server = server};
	if (!fresh && p->head && no_reuse(brt, server))
		fresh = true; /* its idle ones close at their watches' deadlines */
	while (!fresh && p->head) {
		struct bidle *e = p->head;
		pool_unlink(p, e);
		e->taken = true;
		int fd = e->fd;
		rt_watch_cancel(&e->watch); /* its callback frees E */
		/* The watch's news may still be on its way (completions are
		 * reaped between rounds): ask the socket itself. */
		int pk = backend_conn_peek(fd);
		if (pk != 0) {
			METRIC_INC(b->metrics, backend_idle_closed);
			if (pk > 0)
				backend_unsolicited(b, brt, server);
			rt_close(fd);
			continue;
		}
		out->fd = fd;
		out->reused = true;
		atomic_fetch_add_explicit(&brt->active[server], 1, memory_order_relaxed);
		return 0;
	}
	const struct config_addr *a = &brt->cfg->servers[server];
	int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int r = rt_connect(fd, (const struct sockaddr *)&a->sa, a->salen, deadline);
	if (r < 0) {
		rt_close(fd);
		return r;
	}
	out->fd = fd;
	atomic_fetch_add_explicit(&brt->active[server], 1, memory_order_relaxed);
	return 0;
}

void backend_release(struct bloop *b, struct bconn *c, bool reusable)
{
	if (c->fd < 0)
		return;
	atomic_fetch_sub_explicit(&c->brt->active[c->server], 1, memory_order_relaxed);
	struct bpool *p = &c->pools->pool[c->brt - c->pools->backends][c->server];
	/* A connection of a generation the loop has left goes: its pools are
	 * freed when the last request holding that generation ends. */
	struct bidle *e = NULL;
	if (reusable && p->n < p->cap && !b->draining && c->pools == b->pools &&
	    !no_reuse(c->brt, c->server))
		e = malloc(sizeof(*e));
	if (e) {
		*e = (struct bidle){
		    .magic = BIDLE_MAGIC, .b = b, .brt = c->brt, .server = c->server, .fd = c->fd};
		pool_push(p, e);
		rt_watch_readable(&e->watch, c->fd, rt_deadline_in(BPOOL_MAX_IDLE_NS), idle_wake);
	} else {
		rt_close(c->fd);
	}
	c->fd = -1;
}
