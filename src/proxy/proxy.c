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
#include "ops/accesslog.h"
#include "ops/log.h"
#include "proxy/backend.h"
#include "proxy/client.h"
#include "proxy/gen.h"
#include "proxy/health.h"
#include "rt/io.h"

/* Runs on the worker's loop thread (posted by proxy_drain). */
static void drain_on_loop(struct rt_msg *m)
{
	struct worker *w = (struct worker *)((char *)m - offsetof(struct worker, drain_msg));
	w->draining = true;
	listen_stop(w);
	health_stop(w);
	alog_loop_stop(w->alog);
	backend_pools_close_idle(w);
	/* Admin requests are short, and a POST /reload would wait for a main
	 * thread that is draining now: end them all. */
	for (struct fetch_node *n = w->admins; n; n = n->next)
		rt_task_cancel(n->task);
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

void task_list_add(struct fetch_node **head, struct fetch_node *n)
{
	*n = (struct fetch_node){.task = rt_task_self(), .next = *head};
	if (*head)
		(*head)->prev = n;
	*head = n;
}

void task_list_del(struct fetch_node **head, struct fetch_node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		*head = n->next;
	if (n->next)
		n->next->prev = n->prev;
}

void worker_task_link(struct worker *w, struct fetch_node *n)
{
	task_list_add(&w->fetches, n);
}

void worker_task_unlink(struct worker *w, struct fetch_node *n)
{
	task_list_del(&w->fetches, n);
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

/* Runs on the loop thread: adopt the generation and listener table the
 * main thread posted, then tell it. */
static void switch_on_loop(struct rt_msg *m)
{
	struct worker *w = (struct worker *)((char *)m - offsetof(struct worker, switch_msg));
	struct proxy *px = w->px;
	if (gen_switch(w, w->switch_gen) < 0) {
		log_error("loop %u: out of memory switching to configuration %llu; keeping %llu",
			  w->id, (unsigned long long)w->switch_gen->id,
			  (unsigned long long)w->gen->id);
	} else {
		health_stop(w);
		health_start(w, w->gen);
	}
	listen_apply(w, &px->listeners);
	/* Both under the lock: a reload that sees this loop done must also
	 * find its count in, not have it land in its own fresh count. */
	pthread_mutex_lock(&px->lock);
	px->switched++;
	atomic_store(&w->switch_pending, false);
	pthread_cond_broadcast(&px->cond);
	pthread_mutex_unlock(&px->lock);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct proxy *px = w->px;
	int err = 0;
	struct rt_loop_opts o = {.id = (int)w->id,
				 .watchdog_ns = px->gen->cfg->timeouts.task_budget_ns,
				 .on_slow_task = report_slow_task};
	w->loop = rt_loop_create(&o, &err);
	if (!w->loop)
		w->start_err = err;
	else if ((err = gen_switch(w, px->gen)) < 0)
		w->start_err = err;
	else if (px->alog && !(w->alog = alog_loop_create(px->alog)))
		w->start_err = -ENOMEM;
	if (!w->start_err) {
		listen_apply(w, &px->listeners);
		health_start(w, w->gen);
	}
	pthread_mutex_lock(&px->lock);
	px->started++;
	pthread_cond_broadcast(&px->cond);
	pthread_mutex_unlock(&px->lock);
	if (w->start_err)
		return NULL;
	rt_loop_run(w->loop);
	alog_loop_free(&w->alog);
	gen_leave(w);
	client_membufs_free(w);
	/* proxy_drain may be posting to this loop: unpublish it first. */
	pthread_mutex_lock(&px->lock);
	struct rt_loop *loop = w->loop;
	w->loop = NULL;
	pthread_mutex_unlock(&px->lock);
	rt_loop_destroy(&loop);
	return NULL;
}

const struct config *proxy_config(const struct proxy *px)
{
	return px->gen->cfg;
}

/* Compression pool: made when the first config that enables it is
 * loaded; its size is fixed until restart. */
static int ensure_cpool(struct proxy *px, const struct config *cfg)
{
	if (!cfg->compression.enabled || px->cpool)
		return 0;
	px->cpool = cpool_create(cfg->compression.workers, cfg->compression.queue,
				 cfg->compression.bench_on_loop);
	if (!px->cpool)
		return -ENOMEM;
	if (cfg->compression.bench_on_loop)
		log_warn("compression.bench_on_loop: codecs run on the loop threads (for "
			 "benchmarks only)");
	return 0;
}

int proxy_start(struct proxy *px, struct config *cfg)
{
	memset(px, 0, sizeof(*px));
	pthread_mutex_init(&px->lock, NULL);
	pthread_cond_init(&px->cond, NULL);
	px->main_thread = pthread_self();
	px->workers = calloc(cfg->threads, sizeof(*px->workers));
	px->nworkers = px->workers ? cfg->threads : 0;
	px->gen = px->workers ? gen_create(cfg, cfg->threads, ++px->gen_seq) : NULL;
	if (!px->gen) {
		config_free(&cfg);
		return -ENOMEM;
	}
	px->store = store_create(cfg->cache.memory);
	if (!px->store)
		return -ENOMEM;
	int r = ensure_cpool(px, cfg);
	if (r < 0)
		return r;
	if (cfg->log_access_path) {
		px->alog = alog_open(cfg->log_access_path, cfg->log_access_format, &r);
		if (!px->alog) {
			log_error("log.access %s: %s", cfg->log_access_path, strerror(-r));
			return r;
		}
	}
	/* All listening sockets are opened here, on the main thread, before
	 * any loop runs: a bad address fails startup at once. */
	r = listen_table_build(&px->listeners, cfg, NULL, px->nworkers);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < px->nworkers; i++) {
		struct worker *w = &px->workers[i];
		w->px = px;
		w->id = i;
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

/* Keys whose running value a reload cannot change: keep it, say so. */
static void keep_restart_keys(const struct config *old, struct config *cfg)
{
	bool same_log = (!cfg->log_access_path && !old->log_access_path) ||
			(cfg->log_access_path && old->log_access_path &&
			 !strcmp(cfg->log_access_path, old->log_access_path));
	if (!same_log || cfg->log_access_format != old->log_access_format)
		log_warn("reload: log.access and log.access_format take a restart; the access log "
			 "stays as it is");
	if (cfg->threads != old->threads) {
		log_warn("reload: threads %u -> %u takes a restart; keeping %u", old->threads,
			 cfg->threads, old->threads);
		cfg->threads = old->threads;
	}
	if (old->compression.enabled && cfg->compression.enabled &&
	    (cfg->compression.workers != old->compression.workers ||
	     cfg->compression.queue != old->compression.queue ||
	     cfg->compression.bench_on_loop != old->compression.bench_on_loop)) {
		log_warn("reload: compression.workers, .queue and .bench_on_loop take a restart; "
			 "keeping %u workers, queue %u",
			 old->compression.workers, old->compression.queue);
		cfg->compression.workers = old->compression.workers;
		cfg->compression.queue = old->compression.queue;
		cfg->compression.bench_on_loop = old->compression.bench_on_loop;
	}
}

/* How long a reload waits for the loops to switch; one that does not is
 * stuck in a task (the watchdog reports it) and switches when it can. */
#define SWITCH_WAIT_S 10

int proxy_reload(struct proxy *px, struct config *cfg)
{
	const struct config *old = px->gen->cfg;
	keep_restart_keys(old, cfg);
	for (unsigned i = 0; i < px->nworkers; i++) {
		if (atomic_load(&px->workers[i].switch_pending)) {
			log_error("reload: loop %u has not finished the previous reload", i);
			config_free(&cfg);
			return -EBUSY;
		}
	}
	struct gen *g = gen_create(cfg, px->nworkers, px->gen_seq + 1);
	if (!g) {
		config_free(&cfg);
		return -ENOMEM;
	}
	struct listen_table t;
	int r = listen_table_build(&t, cfg, &px->listeners, px->nworkers);
	if (r == 0 && (r = ensure_cpool(px, cfg)) < 0)
		listen_table_free(&t); /* closes the sockets it opened */
	if (r < 0) {
		gen_discard(g); /* never posted: it has no users */
		return r;
	}
	/* Past this point the reload cannot fail. */
	health_inherit(g, px->gen);
	px->gen_seq++;
	if (cfg->cache.memory != old->cache.memory)
		store_set_budget(px->store, cfg->cache.memory);
	static const int levels[] = {LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG};
	atomic_store(&log_max_level, levels[cfg->log_level]);
	listen_table_free(&px->listeners); /* its sockets belong to the loops */
	px->listeners = t;
	struct gen *prev = px->gen;
	px->gen = g;
	pthread_mutex_lock(&px->lock);
	px->switched = 0;
	unsigned posted = 0;
	for (unsigned i = 0; i < px->nworkers; i++) {
		struct worker *w = &px->workers[i];
		if (!w->loop)
			continue; /* loops end only at drain, after the last reload */
		w->switch_gen = g;
		w->switch_msg.fn = switch_on_loop;
		atomic_store(&w->switch_pending, true);
		rt_loop_post(w->loop, &w->switch_msg);
		posted++;
	}
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += SWITCH_WAIT_S;
	while (px->switched < posted) {
		if (pthread_cond_timedwait(&px->cond, &px->lock, &until) != 0) {
			log_warn(
			    "reload: %u of %u loops switched within %d s; the rest switch when "
			    "they can",
			    px->switched, posted, SWITCH_WAIT_S);
			break;
		}
	}
	pthread_mutex_unlock(&px->lock);
	gen_unref_main(prev);
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
	listen_table_free(&px->listeners);
	free(px->workers);
	px->workers = NULL;
	gen_discard(px->gen); /* the loops have ended */
	px->gen = NULL;
	cpool_destroy(&px->cpool);
	alog_close(&px->alog); /* the loops, and their halves, are gone */
	store_free(&px->store);
	pthread_mutex_destroy(&px->lock);
	pthread_cond_destroy(&px->cond);
}
