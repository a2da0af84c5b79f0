/* proxy.c - start the loop threads with their listeners, accept, drain. */
#include "proxy/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cache/store.h"
#include "compress/pool.h"
#include "ops/admin.h"
#include "ops/log.h"
#include "proxy/backend.h"
#include "proxy/client.h"
#include "rt/io.h"

struct acceptor {
	struct worker *w;
	int lfd;
	struct rt_task *task; /* the accept task, waiting while acc is armed */
	struct rt_acceptor acc;
};

static int open_listener(const struct config_addr *a, struct sockaddr_storage *bound)
{
	int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	/* Accepted sockets inherit it: no setsockopt per connection. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	const struct sockaddr *sa =
	    bound ? (const struct sockaddr *)bound : (const struct sockaddr *)&a->sa;
	if (bind(fd, sa, a->salen) < 0 || listen(fd, 4096) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static void start_conn(struct worker *w, int fd)
{
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	if (getpeername(fd, (struct sockaddr *)&peer, &plen) < 0)
		peer.ss_family = AF_UNSPEC; /* reset before we looked: logged as "unknown" */
	atomic_fetch_add(&w->px->nconns, 1);
	if (client_start(w, fd, &peer) < 0) {
		atomic_fetch_sub(&w->px->nconns, 1);
		close(fd); /* never used by the ring: a plain close is immediate */
	}
}

/* Runs on the loop thread for every connection the kernel accepted. */
static void on_accept(struct rt_acceptor *a, int res, bool more)
{
	struct acceptor *ac = (struct acceptor *)((char *)a - offsetof(struct acceptor, acc));
	struct proxy *px = ac->w->px;
	if (res >= 0) {
		start_conn(ac->w, res);
		/* At the connection limit, stop accepting instead of accepting
		 * and dropping: the kernel's backlog holds the newcomers. */
		if (atomic_load(&px->nconns) >= px->cfg->limits.max_connections)
			rt_acceptor_cancel(a);
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
	struct proxy *px = ac->w->px;
	ac->task = rt_task_self();
	for (;;) {
		if (atomic_load(&px->nconns) >= px->cfg->limits.max_connections) {
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
	free(ac);
}

/* Runs on the worker's loop thread (posted by proxy_drain). */
static void drain_on_loop(struct rt_msg *m)
{
	struct worker *w = (struct worker *)((char *)m - offsetof(struct worker, drain_msg));
	w->draining = true;
	if (w->id == 0)
		admin_stop(w);
	for (size_t i = 0; i < w->px->cfg->n_listen; i++) {
		if (w->accept_tasks[i])
			rt_task_cancel(w->accept_tasks[i]);
	}
	/* Idle keep-alive connections are closed now; busy ones after their
	 * current response (they see w->draining). */
	for (struct client *c = w->clients; c; c = c->next) {
		if (c->parked)
			rt_watch_cancel(&c->watch);
		else if (c->idle)
			rt_task_cancel(c->task);
	}
	rt_loop_stop(w->loop);
}

static void force_on_loop(struct rt_msg *m)
{
	struct worker *w = (struct worker *)((char *)m - offsetof(struct worker, force_msg));
	for (struct client *c = w->clients; c; c = c->next) {
		if (c->parked)
			rt_watch_cancel(&c->watch);
		else
			rt_task_cancel(c->task);
	}
	for (struct fetch_node *f = w->fetches; f; f = f->next)
		rt_task_cancel(f->task);
}

void worker_task_link(struct worker *w, struct fetch_node *n)
{
	*n = (struct fetch_node){.task = rt_task_self(), .next = w->fetches};
	if (w->fetches)
		w->fetches->prev = n;
	w->fetches = n;
}

void worker_task_unlink(struct worker *w, struct fetch_node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		w->fetches = n->next;
	if (n->next)
		n->next->prev = n->prev;
}

static void hb_on_loop(struct rt_msg *m)
{
	struct worker *w = (struct worker *)((char *)m - offsetof(struct worker, hb_msg));
	atomic_store(&w->hb_pending, false);
}

bool proxy_loops_alive(struct proxy *px)
{
	bool all = true;
	pthread_mutex_lock(&px->lock); /* a loop being torn down unpublishes itself */
	for (unsigned i = 0; i < px->nworkers; i++) {
		struct worker *w = &px->workers[i];
		if (!w->loop || atomic_load(&w->hb_pending)) {
			if (w->loop)
				log_warn(
				    "watchdog: loop %u has not run a ping for a whole interval", i);
			all = false;
			continue;
		}
		w->hb_msg.fn = hb_on_loop;
		atomic_store(&w->hb_pending, true);
		rt_loop_post(w->loop, &w->hb_msg);
	}
	pthread_mutex_unlock(&px->lock);
	return all;
}

/* The starvation watchdog's report: one line per task that overran. */
static void report_slow_task(int loop_id, const char *name, uint64_t ran_ns)
{
	log_warn("watchdog: task '%s' on loop %d ran %.3f ms without yielding; every other task "
		 "of that loop waited",
		 name, loop_id, (double)ran_ns / 1e6);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct proxy *px = w->px;
	int err = 0;
	struct rt_loop_opts o = {.id = (int)w->id,
				 .watchdog_ns = px->cfg->timeouts.task_budget_ns,
				 .on_slow_task = report_slow_task};
	w->loop = rt_loop_create(&o, &err);
	if (!w->loop) {
		w->start_err = err;
	} else if ((err = backend_pools_init(w)) < 0) {
		w->start_err = err;
	}
	if (!w->start_err) {
		if (w->id == 0)
			admin_start(w);
		for (size_t i = 0; i < px->cfg->n_listen; i++) {
			struct acceptor *ac = calloc(1, sizeof(*ac));
			if (!ac)
				abort();
			ac->w = w;
			ac->lfd = w->lfds[i];
			w->accept_tasks[i] = rt_task_spawn(accept_main, ac, "accept");
			rt_task_detach(w->accept_tasks[i]);
		}
	}
	pthread_mutex_lock(&px->lock);
	px->started++;
	pthread_cond_broadcast(&px->cond);
	pthread_mutex_unlock(&px->lock);
	if (w->start_err)
		return NULL;
	rt_loop_run(w->loop);
	/* Accept tasks may have ended before the cancel: make sure their
	 * handles are not used again. */
	for (size_t i = 0; i < px->cfg->n_listen; i++)
		w->accept_tasks[i] = NULL;
	backend_pools_free(w);
	client_membufs_free(w);
	/* proxy_drain may be posting to this loop: unpublish it first. */
	pthread_mutex_lock(&px->lock);
	struct rt_loop *loop = w->loop;
	w->loop = NULL;
	pthread_mutex_unlock(&px->lock);
	rt_loop_destroy(&loop);
	return NULL;
}

int proxy_start(struct proxy *px, const struct config *cfg)
{
	memset(px, 0, sizeof(*px));
	px->cfg = cfg;
	pthread_mutex_init(&px->lock, NULL);
	pthread_cond_init(&px->cond, NULL);
	px->n_backends = cfg->n_backends;
	px->backends = calloc(cfg->n_backends, sizeof(*px->backends));
	px->nworkers = cfg->threads;
	px->workers = calloc(cfg->threads, sizeof(*px->workers));
	if (!px->backends || !px->workers)
		return -ENOMEM;
	for (size_t b = 0; b < cfg->n_backends; b++) {
		px->backends[b].cfg = &cfg->backends[b];
		if (backend_rt_init(&px->backends[b]) < 0)
			return -ENOMEM;
	}
	px->store = store_create(cfg->cache.memory);
	if (!px->store)
		return -ENOMEM;
	if (cfg->compression.enabled) {
		px->cpool = cpool_create(cfg->compression.workers, cfg->compression.queue,
					 cfg->compression.bench_on_loop);
		if (!px->cpool)
			return -ENOMEM;
		if (cfg->compression.bench_on_loop)
			log_warn("compression.bench_on_loop: codecs run on the loop threads (for "
				 "benchmarks only)");
	}
	int ar = admin_open(px);
	if (ar < 0)
		return ar;

	/* All listening sockets are opened here, on the main thread, before
	 * any loop runs: a bad address fails startup at once, and a port 0
	 * listen gets one kernel-chosen port shared by every loop. */
	for (unsigned i = 0; i < px->nworkers; i++) {
		struct worker *w = &px->workers[i];
		w->px = px;
		w->id = i;
		w->lfds = calloc(cfg->n_listen, sizeof(int));
		w->accept_tasks = calloc(cfg->n_listen, sizeof(struct rt_task *));
		if (!w->lfds || !w->accept_tasks)
			return -ENOMEM;
		for (size_t l = 0; l < cfg->n_listen; l++)
			w->lfds[l] = -1;
	}
	for (size_t l = 0; l < cfg->n_listen; l++) {
		struct sockaddr_storage bound;
		socklen_t blen = sizeof(bound);
		for (unsigned i = 0; i < px->nworkers; i++) {
			int fd = open_listener(&cfg->listen[l], i ? &bound : NULL);
			if (fd < 0) {
				log_error("listen %s: %s", cfg->listen[l].spec, strerror(-fd));
				return fd;
			}
			px->workers[i].lfds[l] = fd;
			if (i == 0)
				getsockname(fd, (struct sockaddr *)&bound, &blen);
		}
		char host[64];
		unsigned port = 0;
		if (bound.ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&bound)->sin6_addr, host,
				  sizeof(host));
			port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
		} else {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&bound)->sin_addr, host,
				  sizeof(host));
			port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
		}
		log_info("listening on %s:%u (%u loops)", host, port, px->nworkers);
	}

	for (unsigned i = 0; i < px->nworkers; i++) {
		if (pthread_create(&px->workers[i].thread, NULL, worker_main, &px->workers[i]) !=
		    0) {
			log_error("cannot start loop thread %u", i);
			px->nworkers = i;
			proxy_drain(px, 0);
			return -EAGAIN;
		}
	}
	pthread_mutex_lock(&px->lock);
	while (px->started < px->nworkers)
		pthread_cond_wait(&px->cond, &px->lock);
	pthread_mutex_unlock(&px->lock);
	for (unsigned i = 0; i < px->nworkers; i++) {
		if (px->workers[i].start_err) {
			log_error("loop %u failed to start: %s", i,
				  strerror(-px->workers[i].start_err));
			return px->workers[i].start_err;
		}
	}
	return 0;
}

void proxy_drain(struct proxy *px, uint64_t timeout_ns)
{
	for (unsigned i = 0; i < px->nworkers; i++) {
		struct worker *w = &px->workers[i];
		w->drain_msg.fn = drain_on_loop;
		pthread_mutex_lock(&px->lock);
		if (w->loop)
			rt_loop_post(w->loop, &w->drain_msg);
		pthread_mutex_unlock(&px->lock);
	}
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(timeout_ns / RT_SEC);
	until.tv_nsec += (long)(timeout_ns % RT_SEC);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	for (unsigned i = 0; i < px->nworkers; i++) {
		struct worker *w = &px->workers[i];
		if (!w->thread)
			continue;
		if (pthread_timedjoin_np(w->thread, NULL, &until) != 0) {
			log_warn("loop %u: drain timeout, closing remaining connections", i);
			w->force_msg.fn = force_on_loop;
			pthread_mutex_lock(&px->lock);
			if (w->loop)
				rt_loop_post(w->loop, &w->force_msg);
			pthread_mutex_unlock(&px->lock);
			pthread_join(w->thread, NULL);
		}
		w->thread = 0;
	}
}

void proxy_free(struct proxy *px)
{
	for (unsigned i = 0; px->workers && i < px->nworkers; i++) {
		struct worker *w = &px->workers[i];
		for (size_t l = 0; w->lfds && l < px->cfg->n_listen; l++) {
			if (w->lfds[l] >= 0)
				close(w->lfds[l]);
		}
		free(w->lfds);
		free(w->accept_tasks);
	}
	free(px->workers);
	for (size_t b = 0; px->backends && b < px->n_backends; b++)
		backend_rt_free(&px->backends[b]);
	free(px->backends);
	admin_close(px);
	cpool_destroy(&px->cpool);
	store_free(&px->store);
	pthread_mutex_destroy(&px->lock);
	pthread_cond_destroy(&px->cond);
}
