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

#include "proxy/gen.h"
#include "rt/io.h"

/* An idle connection older than this is closed rather than reused: many
 * servers drop idle keep-alive connections after a few seconds, and a
 * stale one costs a failed attempt. */
#define BPOOL_MAX_IDLE_NS (4 * RT_SEC)

struct bpool_ent {
	int fd;
	rt_time_t since;
};

struct bpool {
	unsigned cap, n;
	struct bpool_ent ent[];
};

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
			struct bpool *p = calloc(1, sizeof(*p) + cb->pool_size * sizeof(p->ent[0]));
			if (!p)
				return -ENOMEM;
			p->cap = cb->pool_size;
			pools[b][s] = p;
		}
	}
	return 0;
}

void backend_pools_free(struct gen *g, unsigned wid)
{
	struct bpool ***pools = g->slots[wid].pools;
	if (!pools)
		return;
	for (size_t b = 0; b < g->n_backends; b++) {
		if (!pools[b])
			continue;
		for (size_t s = 0; s < g->backends[b].cfg->n_servers; s++) {
			struct bpool *p = pools[b][s];
			while (p && p->n)
				close(p->ent[--p->n].fd); /* idle: nothing in flight on it */
			free(p);
		}
		free(pools[b]);
	}
	free(pools);
	g->slots[wid].pools = NULL;
}

static bool same_addr(const struct config_addr *a, const struct config_addr *b)
{
	return a->salen == b->salen && memcmp(&a->sa, &b->sa, a->salen) == 0;
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
					if (!p || !same_addr(&cb->servers[s], &ocb->servers[os]))
						continue;
					while (p->n && d->n < d->cap)
						d->ent[d->n++] = p->ent[--p->n];
				}
			}
		}
	}
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
	long *cur = calloc(n, sizeof(*cur));
	b->ring_len = (size_t)total * 40;
	b->ring = calloc(b->ring_len, sizeof(*b->ring));
	if (!b->sched || !b->active || !cur || !b->ring) {
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

unsigned backend_pick(struct gen *g, unsigned backend, const struct hmsg *req)
{
	struct backend_rt *b = &g->backends[backend];
	const struct config_backend *cfg = b->cfg;
	unsigned n = (unsigned)cfg->n_servers;
	if (n == 1)
		return 0;
	/* The shared position only where it is used: it is a cache line all
	 * loops write. */
	unsigned tick = cfg->balance == BALANCE_HASH
			    ? 0
			    : atomic_fetch_add_explicit(&b->rr, 1, memory_order_relaxed);
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
		return b->ring[lo == b->ring_len ? 0 : lo].server;
	}
	case BALANCE_LEAST_CONNECTIONS: {
		/* Fewest in progress per unit of weight; ties go round. */
		unsigned best = tick % n;
		for (unsigned k = 1; k < n; k++) {
			unsigned i = (tick + k) % n;
			uint64_t ai = atomic_load_explicit(&b->active[i], memory_order_relaxed);
			uint64_t ab = atomic_load_explicit(&b->active[best], memory_order_relaxed);
			if (ai * weight_of(cfg, best) < ab * weight_of(cfg, i))
				best = i;
		}
		return best;
	}
	case BALANCE_ROUND_ROBIN:
	default:
		return b->sched[tick % b->sched_len];
	}
}

int backend_acquire(struct worker *w, struct gen *g, unsigned backend, unsigned server, bool fresh,
		    struct bconn *out, rt_time_t deadline)
{
	struct bpool *p = g->slots[w->id].pools[backend][server];
	out->g = g;
	out->backend = backend;
	out->server = server;
	out->reused = false;
	rt_time_t now = rt_clock_now();
	while (!fresh && p->n) {
		struct bpool_ent e = p->ent[--p->n];
		if (now - e.since < BPOOL_MAX_IDLE_NS) {
			out->fd = e.fd;
			out->reused = true;
			atomic_fetch_add_explicit(&g->backends[backend].active[server], 1,
						  memory_order_relaxed);
			return 0;
		}
		rt_close(e.fd);
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
	if (reusable && p->n < p->cap && !w->draining && c->g == w->gen) {
		p->ent[p->n++] = (struct bpool_ent){c->fd, rt_clock_now()};
	} else {
		rt_close(c->fd);
	}
	c->fd = -1;
}
