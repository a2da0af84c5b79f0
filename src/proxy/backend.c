/* backend.c - round-robin server choice and per-loop idle connection pools. */
#include "proxy/backend.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* XXH3_state_t on the stack (its layout is public with this). */
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "ops/log.h"
#include "proxy/gen.h"
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
struct bidle {
	struct rt_watch watch;
	struct worker *w;
	struct gen *g; /* its pool's: the server it talks to is g's backend/server */
	unsigned backend, server;
	struct bpool *pool;	   /* the pool it idles in; NULL once taken or dropped */
	struct bidle *prev, *next; /* in the pool, most recently used first */
	int fd;
	bool taken; /* the fd belongs to an exchange now: the callback only frees */
};

struct bpool {
	unsigned cap, n;
	struct bidle *head;
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

void backend_unsolicited(struct worker *w, struct gen *g, unsigned backend, unsigned server)
{
	struct server_health *h = &g->backends[backend].health[server];
	uint64_t now = rt_clock_now();
	uint64_t was = atomic_exchange_explicit(&h->no_reuse_until, now + UNSOLICITED_NO_REUSE_NS,
						memory_order_relaxed);
	METRIC_INC(w, backend_unsolicited);
	if (was < now) /* once per episode, not per stray */
		log_warn("backend %s server %s sent bytes nobody asked for (a stray response?); "
			 "its connections are not reused for %d s",
			 g->backends[backend].cfg->name,
			 g->backends[backend].cfg->servers[server].spec,
			 (int)(UNSOLICITED_NO_REUSE_NS / RT_SEC));
}

static bool no_reuse(struct gen *g, unsigned backend, unsigned server)
{
	return rt_clock_now() <
	       atomic_load_explicit(&g->backends[backend].health[server].no_reuse_until,
				    memory_order_relaxed);
}

/* The watch's one callback: readable (bytes or EOF), the idle deadline,
 * or a cancel (taken, or dropped with its pool). On the loop thread,
 * outside any task. */
static void idle_wake(struct rt_watch *wt, int res)
{
	struct bidle *e = (struct bidle *)((char *)wt - offsetof(struct bidle, watch));
	if (!e->taken) {
		if (e->pool) {
			pool_unlink(e->pool, e);
			if (res != -ETIMEDOUT) {
				METRIC_INC(e->w, backend_idle_closed);
				/* EOF is a server closing an idle connection, as
				 * servers do; bytes are something else. */
				if (res > 0 && backend_conn_peek(e->fd) > 0)
					backend_unsolicited(e->w, e->g, e->backend, e->server);
			}
		}
		close(e->fd); /* not in a task; closing a socket does not block */
	}
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

int backend_pools_init(struct gen *g, unsigned wid)
{
	struct bpool ***pools = calloc(g->n_backends ? g->n_backends : 1, sizeof(*pools));
	g->slots[wid].pools = pools;
	if (!pools)
		return -ENOMEM;
	for (size_t b = 0; b < g->n_backends; b++) {
		const struct config_backend *cb = g->backends[b].cfg;
		pools[b] = calloc(cb->n_servers, sizeof(struct bpool *));
		if (!pools[b])
			return -ENOMEM;
		for (size_t s = 0; s < cb->n_servers; s++) {
			struct bpool *p = calloc(1, sizeof(*p));
			if (!p)
				return -ENOMEM;
			p->cap = cb->pool_size;
			pools[b][s] = p;
		}
	}
	return 0;
}

/* Every idle connection of loop WID's pools of G goes. */
static void pools_drop_idle(struct gen *g, unsigned wid)
{
	struct bpool ***pools = g->slots[wid].pools;
	if (!pools)
		return;
	for (size_t b = 0; b < g->n_backends; b++) {
		for (size_t s = 0; pools[b] && s < g->backends[b].cfg->n_servers; s++) {
			struct bpool *p = pools[b][s];
			while (p && p->head)
				idle_drop(p->head);
		}
	}
}

void backend_pools_free(struct gen *g, unsigned wid)
{
	struct bpool ***pools = g->slots[wid].pools;
	if (!pools)
		return;
	/* On the loop, which then runs the watches' callbacks: a loop does
	 * not end while watches are armed, so after it ended none are left. */
	pools_drop_idle(g, wid);
	for (size_t b = 0; b < g->n_backends; b++) {
		if (!pools[b])
			continue;
		for (size_t s = 0; s < g->backends[b].cfg->n_servers; s++)
			free(pools[b][s]);
		free(pools[b]);
	}
	free(pools);
	g->slots[wid].pools = NULL;
}

void backend_pools_close_idle(struct worker *w)
{
	if (w->gen)
		pools_drop_idle(w->gen, w->id);
}

void backend_pools_move(struct gen *from, struct gen *to, unsigned wid)
{
	struct bpool ***src = from->slots[wid].pools, ***dst = to->slots[wid].pools;
	if (!src || !dst)
		return;
	for (size_t b = 0; b < to->n_backends; b++) {
		const struct config_backend *cb = to->backends[b].cfg;
		for (size_t s = 0; s < cb->n_servers; s++) {
			struct bpool *d = dst[b][s];
			for (size_t ob = 0; ob < from->n_backends; ob++) {
				const struct config_backend *ocb = from->backends[ob].cfg;
				for (size_t os = 0; os < ocb->n_servers; os++) {
					struct bpool *p = src[ob][os];
					if (!p ||
					    !config_addr_equal(&cb->servers[s], &ocb->servers[os]))
						continue;
					while (p->head && d->n < d->cap) {
						struct bidle *e = p->head;
						pool_unlink(p, e);
						pool_push(d, e);
					}
				}
			}
		}
	}
	/* What did not fit, and connections to servers that are gone, close
	 * now: an old generation's pools take no connections back. */
	pools_drop_idle(from, wid);
}

static int ring_cmp(const void *a, const void *b)
{
	const struct backend_ring_pt *x = a, *y = b;
	return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* Weights are always loaded with the servers; a config built by hand may
 * leave them out, which means 1 each. */
static unsigned weight_of(const struct config_backend *cfg, size_t i)
{
	return cfg->weights ? cfg->weights[i] : 1;
}

int backend_rt_init(struct backend_rt *b)
{
	const struct config_backend *cfg = b->cfg;
	size_t n = cfg->n_servers;
	unsigned total = 0;
	for (size_t i = 0; i < n; i++)
		total += weight_of(cfg, i);
	b->sched = calloc(total, sizeof(*b->sched));
	b->active = calloc(n, sizeof(*b->active));
	b->health = calloc(n, sizeof(*b->health));
	long *cur = calloc(n, sizeof(*cur));
	b->ring_len = (size_t)total * 40;
	b->ring = calloc(b->ring_len, sizeof(*b->ring));
	if (!b->sched || !b->active || !cur || !b->ring || !b->health) {
		free(cur);
		backend_rt_free(b);
		return -ENOMEM;
	}
	/* Smooth weighted round robin, unrolled once over a whole cycle. */
	for (unsigned k = 0; k < total; k++) {
		size_t best = 0;
		for (size_t i = 0; i < n; i++) {
			cur[i] += weight_of(cfg, i);
			if (cur[i] > cur[best])
				best = i;
		}
		cur[best] -= (long)total;
		b->sched[k] = (unsigned)best;
	}
	b->sched_len = total;
	free(cur);
	size_t p = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned pts = 40 * weight_of(cfg, i);
		for (unsigned k = 0; k < pts; k++) {
			char tag[300];
			int l = snprintf(tag, sizeof(tag), "%s#%u", cfg->servers[i].spec, k);
			b->ring[p++] =
			    (struct backend_ring_pt){XXH3_64bits(tag, (size_t)l), (unsigned)i};
		}
	}
	qsort(b->ring, b->ring_len, sizeof(*b->ring), ring_cmp);
	return 0;
}

void backend_rt_free(struct backend_rt *b)
{
	free(b->sched);
	free(b->active);
	free(b->ring);
	free(b->health);
	b->health = NULL;
	b->sched = NULL;
	b->active = NULL;
	b->ring = NULL;
}

/* The consistent-hash key of a request: its Host and request-target. */
static uint64_t key_hash(const struct hmsg *req)
{
	XXH3_state_t st;
	XXH3_64bits_reset(&st);
	const struct hfield *h = hmsg_field(req, "host", 0);
	if (h)
		XXH3_64bits_update(&st, hmsg_ptr(req, h->value), h->value.len);
	XXH3_64bits_update(&st, "", 1);
	XXH3_64bits_update(&st, hmsg_ptr(req, req->target), req->target.len);
	return XXH3_64bits_digest(&st);
}

static bool avoided(uint64_t avoid, unsigned i)
{
	return i < 64 && (avoid >> i & 1);
}

/* Out of rotation: avoided, or marked down by the health probes. */
static bool skip(const struct backend_rt *b, uint64_t avoid, unsigned i, bool any_health)
{
	return avoided(avoid, i) ||
	       (any_health && atomic_load_explicit(&b->health[i].down, memory_order_relaxed));
}

int backend_pick(struct gen *g, unsigned backend, const struct hmsg *req, uint64_t avoid)
{
	struct backend_rt *b = &g->backends[backend];
	const struct config_backend *cfg = b->cfg;
	unsigned n = (unsigned)cfg->n_servers;
	bool hc = cfg->health.enabled;
	if (n == 1)
		return avoided(avoid, 0) ? -1 : 0;
	/* The shared position only where it is used: it is a cache line all
	 * loops write. */
	unsigned tick = cfg->balance == BALANCE_HASH
			    ? 0
			    : atomic_fetch_add_explicit(&b->rr, 1, memory_order_relaxed);
	/* Two passes: servers in rotation first; when every one left is
	 * down, try one anyway rather than fail without trying (the probes
	 * may lag behind a recovery). */
	for (int pass = 0; pass < 2; pass++) {
		bool health = hc && pass == 0;
		switch (cfg->balance) {
		case BALANCE_HASH: {
			uint64_t h = key_hash(req);
			size_t lo = 0, hi = b->ring_len;
			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;
				if (b->ring[mid].hash < h)
					lo = mid + 1;
				else
					hi = mid;
			}
			/* The next point clockwise whose server is usable, so
			 * a dead server's keys spread over the others. */
			for (size_t k = 0; k < b->ring_len; k++) {
				unsigned s = b->ring[(lo + k) % b->ring_len].server;
				if (!skip(b, avoid, s, health))
					return (int)s;
			}
			break;
		}
		case BALANCE_LEAST_CONNECTIONS: {
			/* Fewest in progress per unit of weight; ties go round. */
			int best = -1;
			for (unsigned k = 0; k < n; k++) {
				unsigned i = (tick + k) % n;
				if (skip(b, avoid, i, health))
					continue;
				uint64_t ai =
				    atomic_load_explicit(&b->active[i], memory_order_relaxed);
				uint64_t ab = best < 0 ? 0
						       : atomic_load_explicit(&b->active[best],
									      memory_order_relaxed);
				if (best < 0 ||
				    ai * weight_of(cfg, (unsigned)best) < ab * weight_of(cfg, i))
					best = (int)i;
			}
			if (best >= 0)
				return best;
			break;
		}
		case BALANCE_ROUND_ROBIN:
		default:
			for (unsigned k = 0; k < b->sched_len; k++) {
				unsigned s = b->sched[(tick + k) % b->sched_len];
				if (!skip(b, avoid, s, health))
					return (int)s;
			}
			break;
		}
		if (!hc)
			break;
	}
	return -1;
}

bool backend_idempotent(unsigned method)
{
	return method == HTTP_GET || method == HTTP_HEAD || method == HTTP_OPTIONS ||
	       method == HTTP_TRACE || method == HTTP_PUT || method == HTTP_DELETE;
}

void backend_try_init(struct backend_try *t, struct gen *g, unsigned backend,
		      const struct hmsg *req)
{
	t->server = backend_pick(g, backend, req, 0);
	t->tried = 0;
	t->left = g->backends[backend].cfg->retries;
	t->fresh = false;
}

bool backend_try_next(struct backend_try *t, struct gen *g, unsigned backend,
		      const struct hmsg *req)
{
	if (t->left == 0 || rt_task_cancelled())
		return false; /* a cancelled request goes nowhere else */
	if (t->server < 64)
		t->tried |= 1ull << t->server;
	int s = backend_pick(g, backend, req, t->tried);
	if (s < 0)
		return false;
	t->left--;
	t->server = s;
	t->fresh = false;
	return true;
}

int backend_acquire(struct worker *w, struct gen *g, unsigned backend, unsigned server, bool fresh,
		    struct bconn *out, rt_time_t deadline)
{
	struct bpool *p = g->slots[w->id].pools[backend][server];
	out->g = g;
	out->backend = backend;
	out->server = server;
	out->reused = false;
	if (!fresh && p->head && no_reuse(g, backend, server))
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
			METRIC_INC(w, backend_idle_closed);
			if (pk > 0)
				backend_unsolicited(w, g, backend, server);
			rt_close(fd);
			continue;
		}
		out->fd = fd;
		out->reused = true;
		atomic_fetch_add_explicit(&g->backends[backend].active[server], 1,
					  memory_order_relaxed);
		return 0;
	}
	const struct config_addr *a = &g->backends[backend].cfg->servers[server];
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
	atomic_fetch_add_explicit(&g->backends[backend].active[server], 1, memory_order_relaxed);
	return 0;
}

void backend_release(struct worker *w, struct bconn *c, bool reusable)
{
	if (c->fd < 0)
		return;
	atomic_fetch_sub_explicit(&c->g->backends[c->backend].active[c->server], 1,
				  memory_order_relaxed);
	struct bpool *p = c->g->slots[w->id].pools[c->backend][c->server];
	/* A connection of a generation the loop has left goes: its pool is
	 * closed when the last request holding that generation ends. */
	struct bidle *e = NULL;
	if (reusable && p->n < p->cap && !w->draining && c->g == w->gen &&
	    !no_reuse(c->g, c->backend, c->server))
		e = malloc(sizeof(*e));
	if (e) {
		*e = (struct bidle){
		    .w = w, .g = c->g, .backend = c->backend, .server = c->server, .fd = c->fd};
		pool_push(p, e);
		rt_watch_readable(&e->watch, c->fd, rt_deadline_in(BPOOL_MAX_IDLE_NS), idle_wake);
	} else {
		rt_close(c->fd);
	}
	c->fd = -1;
}
