/* listen.c - listening sockets (main thread) and multishot acceptors (loops). */
#include "daemon/listen.h"
#include "rt/obj.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ops/log.h"
#include "serve/conn.h"
#include "serve/worker.h"
#include "backend/gen.h"
#include "rt/io.h"

/* A listening socket armed on one loop. Listed on its worker; owns LFD. */
#define ACCEPTOR_MAGIC 0x41434350u

struct acceptor {
	unsigned magic;
	struct acceptor *prev, *next;
	struct listen_loop *l;
	enum listen_kind kind;
	struct sockaddr_storage sa; /* the configured address, to match reloads */
	socklen_t salen;
	bool proxy_protocol; /* its connections start with a PROXY header */
	int lfd;
	struct rt_task *task; /* the accept task, waiting while acc is armed */
	struct rt_acceptor acc;
	/* Accepted past limits.max_connections (a multishot accept delivers a
	 * whole batch before its cancel lands): held, unserved, like the
	 * kernel's backlog, until a slot frees. FIFO: [head, n). */
	int *pending;
	size_t head, n, cap;
};

/* A socket bound to A (or to BOUND, the port a first socket got for a
 * port 0 address); listen() comes once the whole table is bound. */
static int open_socket(const struct config_addr *a, const struct sockaddr_storage *bound,
		       bool reuseport)
{
	int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	/* Accepted sockets inherit it: no setsockopt per connection. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	const struct sockaddr *sa =
	    bound ? (const struct sockaddr *)bound : (const struct sockaddr *)&a->sa;
	if (bind(fd, sa, a->salen) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static void log_bound(const char *what, int fd, unsigned nloops)
{
	struct sockaddr_storage b;
	socklen_t bl = sizeof(b);
	if (getsockname(fd, (struct sockaddr *)&b, &bl) < 0)
		return;
	char host[64] = "?";
	unsigned port = 0;
	if (b.ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&b)->sin6_addr, host, sizeof(host));
		port = ntohs(((struct sockaddr_in6 *)&b)->sin6_port);
	} else {
		inet_ntop(AF_INET, &((struct sockaddr_in *)&b)->sin_addr, host, sizeof(host));
		port = ntohs(((struct sockaddr_in *)&b)->sin_port);
	}
	if (nloops)
		log_info("%s on %s:%u (%u loops)", what, host, port, nloops);
	else
		log_info("%s on %s:%u", what, host, port);
}

static bool same_addr(enum listen_kind k1, const struct sockaddr_storage *a, socklen_t al,
		      enum listen_kind k2, const struct sockaddr_storage *b, socklen_t bl)
{
	return k1 == k2 && al == bl && memcmp(a, b, al) == 0;
}

static const struct listen_ent *table_find(const struct listen_table *t, enum listen_kind k,
					   const struct sockaddr_storage *sa, socklen_t salen)
{
	for (size_t i = 0; t && i < t->n; i++) {
		if (same_addr(t->ent[i].kind, &t->ent[i].addr.sa, t->ent[i].addr.salen, k, sa,
			      salen))
			return &t->ent[i];
	}
	return NULL;
}

static bool table_has(const struct listen_table *t, enum listen_kind k,
		      const struct sockaddr_storage *sa, socklen_t salen)
{
	return table_find(t, k, sa, salen) != NULL;
}

/* Open ENT's sockets: one per loop for the proxy, one for loop 0 (admin). */
static int open_ent(struct listen_ent *e, unsigned nloops)
{
	if (e->kind == LISTEN_ADMIN) {
		int fd = open_socket(&e->addr, NULL, false);
		if (fd < 0)
			return fd;
		e->fds[0] = fd;
		return 0;
	}
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	for (unsigned i = 0; i < nloops; i++) {
		int fd = open_socket(&e->addr, i ? &bound : NULL, true);
		if (fd < 0)
			return fd;
		e->fds[i] = fd;
		/* Port 0: the others bind the port the kernel gave the first. */
		if (i == 0)
			getsockname(fd, (struct sockaddr *)&bound, &blen);
	}
	return 0;
}

/* Start listening on the sockets ENT opened; until then nothing could
 * queue on them, so a table that fails to build loses no connection. */
static int listen_ent(const struct listen_ent *e, unsigned nloops)
{
	for (unsigned k = 0; k < nloops; k++) {
		if (e->fds[k] >= 0 && listen(e->fds[k], e->kind == LISTEN_ADMIN ? 128 : 4096) < 0)
			return -errno;
	}
	if (e->fds[0] >= 0)
		log_bound(e->kind == LISTEN_ADMIN ? "admin API" : "listening", e->fds[0],
			  e->kind == LISTEN_ADMIN ? 0 : nloops);
	return 0;
}

int listen_table_build(struct listen_table *out, const struct config *cfg,
		       const struct listen_table *old, unsigned nloops)
{
	memset(out, 0, sizeof(*out));
	out->nloops = nloops;
	size_t n = cfg->n_listen + (cfg->admin.enabled ? 1 : 0);
	out->ent = calloc(n ? n : 1, sizeof(*out->ent));
	if (!out->ent)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct listen_ent *e = &out->ent[i];
		e->kind = i < cfg->n_listen ? LISTEN_PROXY : LISTEN_ADMIN;
		e->addr = e->kind == LISTEN_PROXY ? cfg->listen[i] : cfg->admin.listen;
		e->fds = malloc(nloops * sizeof(int));
		if (!e->fds) {
			listen_table_free(out);
			return -ENOMEM;
		}
		out->n = i + 1;
		for (unsigned k = 0; k < nloops; k++)
			e->fds[k] = -1;
		if (table_has(old, e->kind, &e->addr.sa, e->addr.salen))
			continue; /* kept: the loops have its sockets */
		int r = open_ent(e, nloops);
		if (r < 0) {
			log_error("%slisten %s: %s", e->kind == LISTEN_ADMIN ? "admin " : "",
				  e->addr.spec, strerror(-r));
			listen_table_free(out);
			return r;
		}
	}
	for (size_t i = 0; i < n; i++) {
		int r = listen_ent(&out->ent[i], nloops);
		if (r < 0) {
			log_error("listen %s: %s", out->ent[i].addr.spec, strerror(-r));
			listen_table_free(out);
			return r;
		}
	}
	return 0;
}

void listen_table_free(struct listen_table *t)
{
	for (size_t i = 0; t->ent && i < t->n; i++) {
		for (unsigned k = 0; t->ent[i].fds && k < t->nloops; k++) {
			if (t->ent[i].fds[k] >= 0)
				close(t->ent[i].fds[k]);
		}
		free(t->ent[i].fds);
	}
	free(t->ent);
	memset(t, 0, sizeof(*t));
}

/* Reserve a connection slot under limits.max_connections (all loops
 * share the count, so the check and the increment are one step). */
static bool take_slot(struct listen_loop *l)
{
	unsigned max = l->w->be.gen->cfg->limits.max_connections;
	if (atomic_fetch_add(&l->w->sh->nconns, 1) < max)
		return true;
	atomic_fetch_sub(&l->w->sh->nconns, 1);
	return false;
}

/* Serve FD, accepted by AC, with the slot taken for it. */
static void start_conn(struct acceptor *ac, int fd)
{
	struct listen_loop *l = ac->l;
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	if (getpeername(fd, (struct sockaddr *)&peer, &plen) < 0)
		peer.ss_family = AF_UNSPEC; /* reset before we looked: logged as "unknown" */
	if (conn_start(l->w, fd, &peer, ac->proxy_protocol) < 0) {
		atomic_fetch_sub(&l->w->sh->nconns, 1);
		close(fd); /* never used by the ring: a plain close is immediate */
	}
}

static bool at_limit(struct listen_loop *l)
{
	return atomic_load(&l->w->sh->nconns) >= l->w->be.gen->cfg->limits.max_connections;
}

static bool hold(struct acceptor *ac, int fd)
{
	if (ac->head > 0 && ac->n == ac->cap) { /* compact the consumed front */
		memmove(ac->pending, ac->pending + ac->head, (ac->n - ac->head) * sizeof(int));
		ac->n -= ac->head;
		ac->head = 0;
	}
	if (ac->n == ac->cap) {
		size_t cap = ac->cap ? ac->cap * 2 : 64;
		int *p = realloc(ac->pending, cap * sizeof(int));
		if (!p)
			return false;
		ac->pending = p;
		ac->cap = cap;
	}
	ac->pending[ac->n++] = fd;
	return true;
}

/* Serve held connections while slots are free. */
static void resume_held(struct acceptor *ac)
{
	while (ac->head < ac->n && take_slot(ac->l))
		start_conn(ac, ac->pending[ac->head++]);
	if (ac->head == ac->n)
		ac->head = ac->n = 0;
}

/* Runs on the loop thread for every connection the kernel accepted. */
static void on_accept(struct rt_acceptor *a, int res, bool more)
{
	struct acceptor *ac = (struct acceptor *)((char *)a - offsetof(struct acceptor, acc));
	CHECK_OBJ_NOTNULL(ac, ACCEPTOR_MAGIC);
	if (res >= 0 && ac->kind == LISTEN_ADMIN) {
		if (ac->l->admin)
			ac->l->admin(ac->l, res);
		else
			close(res);
	} else if (res >= 0) {
		/* At the connection limit, stop accepting instead of accepting
		 * and dropping: the kernel's backlog holds the newcomers, and
		 * those the accept delivered before its cancel landed wait
		 * here. */
		if (ac->head < ac->n || !take_slot(ac->l)) {
			if (!hold(ac, res))
				close(res); /* no memory even for an int: shed it */
			rt_acceptor_cancel(a);
		} else {
			start_conn(ac, res);
			if (at_limit(ac->l))
				rt_acceptor_cancel(a);
		}
	}
	if (!more)
		rt_wake(ac->task, res);
}

/* The acceptor cannot be let go of while armed (its last CQE still
 * refers to it): cancel it and keep waiting for that last callback. */
static bool accept_wait_cancel(void *arg)
{
	struct acceptor *ac = arg;
	rt_acceptor_cancel(&ac->acc);
	return false;
}

/* Keeps one listener's multishot accept armed; re-arms it when the kernel
 * ends it and backs off when descriptors or the connection limit run out. */
static void accept_main(void *arg)
{
	struct acceptor *ac = arg;
	struct listen_loop *l = ac->l;
	for (;;) {
		resume_held(ac);
		if (ac->kind == LISTEN_PROXY && (at_limit(l) || ac->head < ac->n)) {
			if (rt_sleep_until(rt_clock_now() + 10 * RT_MS) < 0)
				break;
			continue;
		}
		rt_accept_multishot(&ac->acc, ac->lfd, on_accept);
		int res = rt_wait(RT_NEVER, accept_wait_cancel, ac);
		if (res == -ECANCELED && rt_task_cancelled())
			break;
		if (res == -EMFILE || res == -ENFILE || res == -ENOMEM || res == -ENOBUFS) {
			/* Out of descriptors: back off rather than spin on a
			 * listener that stays readable. */
			log_warn("accept: %s; pausing accepts for 100 ms", strerror(-res));
			if (rt_sleep_until(rt_clock_now() + 100 * RT_MS) < 0)
				break;
		}
	}
	if (ac->prev)
		ac->prev->next = ac->next;
	else
		l->acceptors = ac->next;
	if (ac->next)
		ac->next->prev = ac->prev;
	rt_close(ac->lfd);
	for (size_t i = ac->head; i < ac->n; i++)
		close(ac->pending[i]); /* never served: as if still in the backlog */
	free(ac->pending);
	FINI_OBJ(ac);
	free(ac);
}

static void acceptor_start(struct listen_loop *l, const struct listen_ent *e, int fd)
{
	struct acceptor *ac = calloc(1, sizeof(*ac));
	if (ac)
		ac->magic = ACCEPTOR_MAGIC;
	if (!ac) {
		close(fd);
		log_error("listen %s: out of memory on loop %u", e->addr.spec, l->w->be.id);
		return;
	}
	ac->l = l;
	ac->kind = e->kind;
	ac->proxy_protocol = e->addr.proxy_protocol;
	memcpy(&ac->sa, &e->addr.sa, sizeof(ac->sa));
	ac->salen = e->addr.salen;
	ac->lfd = fd;
	ac->task = rt_task_spawn(accept_main, ac, "accept");
	if (!ac->task) {
		close(fd);
		free(ac);
		log_error("listen %s: cannot start the accept task on loop %u", e->addr.spec,
			  l->w->be.id);
		return;
	}
	rt_task_detach(ac->task);
	ac->next = l->acceptors;
	if (l->acceptors)
		l->acceptors->prev = ac;
	l->acceptors = ac;
}

void listen_apply(struct listen_loop *l, struct listen_table *t)
{
	for (struct acceptor *ac = l->acceptors; ac; ac = ac->next) {
		const struct listen_ent *e = table_find(t, ac->kind, &ac->sa, ac->salen);
		if (!e)
			rt_task_cancel(ac->task); /* the task closes the socket */
		else
			ac->proxy_protocol = e->addr.proxy_protocol; /* a reload may change it */
	}
	for (size_t i = 0; i < t->n; i++) {
		int fd = t->ent[i].fds[l->w->be.id];
		if (fd < 0)
			continue;
		t->ent[i].fds[l->w->be.id] = -1;
		acceptor_start(l, &t->ent[i], fd);
	}
}

void listen_stop(struct listen_loop *l)
{
	for (struct acceptor *ac = l->acceptors; ac; ac = ac->next)
		rt_task_cancel(ac->task);
}
