/* backend.c - round-robin server choice and per-loop idle connection pools. */
#include "proxy/backend.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

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

int backend_pools_init(struct worker *w)
{
	struct proxy *px = w->px;
	w->pools = calloc(px->n_backends, sizeof(*w->pools));
	if (!w->pools)
		return -ENOMEM;
	for (size_t b = 0; b < px->n_backends; b++) {
		const struct config_backend *cb = px->backends[b].cfg;
		w->pools[b] = calloc(cb->n_servers, sizeof(struct bpool *));
		if (!w->pools[b])
			return -ENOMEM;
		for (size_t s = 0; s < cb->n_servers; s++) {
			struct bpool *p = calloc(1, sizeof(*p) + cb->pool_size * sizeof(p->ent[0]));
			if (!p)
				return -ENOMEM;
			p->cap = cb->pool_size;
			w->pools[b][s] = p;
		}
	}
	return 0;
}

void backend_pools_free(struct worker *w)
{
	struct proxy *px = w->px;
	if (!w->pools)
		return;
	for (size_t b = 0; b < px->n_backends; b++) {
		if (!w->pools[b])
			continue;
		for (size_t s = 0; s < px->backends[b].cfg->n_servers; s++) {
			struct bpool *p = w->pools[b][s];
			while (p && p->n)
				rt_close(p->ent[--p->n].fd);
			free(p);
		}
		free(w->pools[b]);
	}
	free(w->pools);
	w->pools = NULL;
}

unsigned backend_pick(struct proxy *px, unsigned backend)
{
	struct backend_rt *b = &px->backends[backend];
	unsigned n = (unsigned)b->cfg->n_servers;
	return atomic_fetch_add_explicit(&b->rr, 1, memory_order_relaxed) % n;
}

int backend_acquire(struct worker *w, unsigned backend, unsigned server, bool fresh,
		    struct bconn *out, rt_time_t deadline)
{
	struct bpool *p = w->pools[backend][server];
	out->backend = backend;
	out->server = server;
	out->reused = false;
	rt_time_t now = rt_clock_now();
	while (!fresh && p->n) {
		struct bpool_ent e = p->ent[--p->n];
		if (now - e.since < BPOOL_MAX_IDLE_NS) {
			out->fd = e.fd;
			out->reused = true;
			return 0;
		}
		rt_close(e.fd);
	}
	const struct config_addr *a = &w->px->backends[backend].cfg->servers[server];
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
	return 0;
}

void backend_release(struct worker *w, struct bconn *c, bool reusable)
{
	if (c->fd < 0)
		return;
	struct bpool *p = w->pools[c->backend][c->server];
	if (reusable && p->n < p->cap && !w->draining) {
		p->ent[p->n++] = (struct bpool_ent){c->fd, rt_clock_now()};
	} else {
		rt_close(c->fd);
	}
	c->fd = -1;
}
