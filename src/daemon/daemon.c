/* daemon.c - the process's loop threads: start, run, the watchdog ping, free. */
#include "daemon/daemon.h"
#include "rt/obj.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend/health.h"
#include "cache/dtier.h"
#include "cache/lurk.h"
#include "cache/store.h"
#include "compress/pool.h"
#include "ops/accesslog.h"
#include "ops/rlog.h"
#include "ops/log.h"
#include "route/ratelimit.h"
#include "serve/cinval.h"
#include "rt/clock.h"

/* Client addresses the routes' rate limits follow at once (64 bytes each). */
#define RATELIMIT_ENTRIES (64u * 1024)

static void hb_on_loop(struct rt_msg *m)
{
	struct dloop *l = (struct dloop *)((char *)m - offsetof(struct dloop, hb_msg));
	atomic_store(&l->hb_pending, false);
}

bool daemon_loops_alive(struct daemon *d)
{
	CHECK_OBJ_NOTNULL(d, DAEMON_MAGIC);
	bool all = true;
	pthread_mutex_lock(&d->lock); /* a loop being torn down unpublishes itself */
	for (unsigned i = 0; i < d->nloops; i++) {
		struct dloop *l = &d->loops[i];
		if (!l->w.loop || atomic_load(&l->hb_pending)) {
			if (l->w.loop)
				log_warn(
				    "watchdog: loop %u has not run a ping for a whole interval", i);
			all = false;
			continue;
		}
		l->hb_msg.fn = hb_on_loop;
		atomic_store(&l->hb_pending, true);
		rt_loop_post(l->w.loop, &l->hb_msg);
	}
	pthread_mutex_unlock(&d->lock);
	return all;
}

/* The starvation watchdog's report: one line per task that overran. */
static void report_slow_task(int loop_id, const char *name, uint64_t ran_ns)
{
	log_warn("watchdog: task '%s' on loop %d ran %.3f ms without yielding; every other task "
		 "of that loop waited",
		 name, loop_id, (double)ran_ns / 1e6);
}

/* One loop thread: its ring, the first generation, its acceptors and
 * probes; then it serves until drain stops it. */
static void *loop_main(void *arg)
{
	struct dloop *l = arg;
	struct daemon *d = l->d;
	struct worker *w = &l->w;
	int err = 0;
	static const enum rt_backend backends[] = {[IO_BACKEND_AUTO] = RT_BACKEND_AUTO,
						   [IO_BACKEND_IO_URING] = RT_BACKEND_IO_URING,
						   [IO_BACKEND_EPOLL] = RT_BACKEND_EPOLL};
	struct rt_loop_opts o = {.id = (int)w->be.id,
				 .watchdog_ns = d->gen->cfg->timeouts.task_budget_ns,
				 .on_slow_task = report_slow_task,
				 .on_idle = worker_idle,
				 .idle_ctx = w,
				 .backend = backends[d->gen->cfg->io_backend],
				 .uring_err = &l->uring_err};
	w->loop = rt_loop_create(&o, &err);
	if (!w->loop) {
		l->start_err = err;
		l->loop_failed = true;
	} else {
		l->backend = rt_loop_backend(w->loop);
		if ((err = gen_switch(&w->be, d->gen)) < 0)
			l->start_err = err;
		else if (d->alog && !(w->alog = alog_loop_create(d->alog)))
			l->start_err = -ENOMEM;
		w->rlog = rlog_hub_ring(d->rlog, w->be.id);
	}
	if (!l->start_err) {
		listen_apply(&l->acc, &d->listeners);
		health_start(&w->be, w->be.gen);
		/* The ban lurker (cache/lurk.h) on the admin loop, whose task
		 * group a drain cancels. Without it bans are still tested at
		 * lookup; only the list stops shrinking, so it is no reason
		 * to refuse to start. */
		if (w->be.id == 0 &&
		    rt_group_spawn(&l->admins, lurk_main, d->sh.store, "lurker") < 0)
			log_warn("cannot start the ban lurker: bans stay in the list");
		/* The disk tier's rebuild, then its writer, on the admin loop
		 * too; a drain lets the writer finish its queue (drain.c). */
		if (w->be.id == 0 && d->sh.disk && dtier_start(d->sh.disk) < 0)
			dstore_fail(d->sh.disk->ds, -ENOMEM, "starting the index rebuild");
		/* The cluster's invalidation senders (serve/cinval.h), whether
		 * or not the node is a member yet: a reload may make it one. */
		if (w->be.id == 0 && cinval_start(d->sh.inval, w, &w->tasks) < 0)
			log_warn("cannot start the cluster's invalidation senders: purges, bans "
				 "and tag purges stay on this node");
	}
	pthread_mutex_lock(&d->lock);
	d->started++;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	if (l->start_err)
		return NULL;
	rt_loop_run(w->loop);
	alog_loop_free(&w->alog);
	gen_leave(&w->be);
	rt_group_fini(&l->admins);
	/* daemon_drain may be posting to this loop: unpublish it first. */
	pthread_mutex_lock(&d->lock);
	struct rt_loop *loop = w->loop;
	w->loop = NULL;
	pthread_mutex_unlock(&d->lock);
	rt_loop_destroy(&loop);
	return NULL;
}

const struct config *daemon_config(const struct daemon *d)
{
	return d->gen->cfg;
}

/* Compression pool: made when the first config that enables it is
 * loaded; its size is fixed until restart. */
int daemon_ensure_cpool(struct daemon *d, const struct config *cfg)
{
	bool wanted = cfg->compression.enabled;
	for (size_t i = 0; i < cfg->n_routes; i++)
		wanted |= cfg->routes[i].compression == 1; /* a route may turn it on */
	if (!wanted || d->sh.cpool)
		return 0;
	d->sh.cpool = cpool_create(cfg->compression.workers, cfg->compression.queue,
				   cfg->compression.bench_on_loop);
	if (!d->sh.cpool)
		return -ENOMEM;
	if (cfg->compression.bench_on_loop)
		log_warn("compression.bench_on_loop: codecs run on the loop threads (for "
			 "benchmarks only)");
	return 0;
}

/* The disk tier's lines (dstore.h): the cache layer does not log itself. */
static void disk_log(void *ctx, enum dstore_level lvl, const char *line)
{
	(void)ctx;
	if (lvl == DSTORE_LOG_ERROR)
		log_error("%s", line);
	else if (lvl == DSTORE_LOG_WARN)
		log_warn("%s", line);
	else
		log_info("%s", line);
}

int daemon_start(struct daemon *d, struct config *cfg,
		 void (*admin)(struct listen_loop *ll, int fd))
{
	memset(d, 0, sizeof(*d));
	d->magic = DAEMON_MAGIC;
	d->admin = admin;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	d->main_thread = pthread_self();
	d->start_ns = rt_clock_now();
	resolve_init(&d->res);
	/* Names are looked up before the first generation is made, so that
	 * it has their addresses; one that does not resolve has no server. */
	int r = resolve_follow(&d->res, cfg, 0);
	if (r < 0) {
		config_free(&cfg);
		return r;
	}
	d->loops = calloc(cfg->threads, sizeof(*d->loops));
	d->nloops = d->loops ? cfg->threads : 0;
	d->gen =
	    d->loops ? gen_create(cfg, resolve_set, &d->res, cfg->threads, ++d->gen_seq) : NULL;
	if (!d->gen) {
		config_free(&cfg);
		return -ENOMEM;
	}
	resolve_applied(&d->res, false);
	d->sh.store = store_create(cfg->cache.memory);
	if (!d->sh.store)
		return -ENOMEM;
	/* The disk tier's file is opened here, on the main thread (its only
	 * blocking calls), so that a store held by another daemon or a path
	 * that cannot be used fails startup with that one line. */
	if (cfg->cache.disk.enabled) {
		char err[512];
		struct dtier_conf dc = {.path = cfg->cache.disk.path,
					.size = cfg->cache.disk.size,
					.seg_size = cfg->cache.disk.segment_size,
					.min_ttl = (int64_t)(cfg->cache.disk.min_ttl_ns / RT_SEC),
					.max_object = cfg->cache.disk.max_object_size,
					.admit_hits = cfg->cache.disk.admit_hits,
					.page_cache = cfg->cache.disk.page_cache};
		r = dtier_open(&d->sh.disk, &dc, disk_log, NULL, err, sizeof(err));
		if (r < 0) {
			log_error("cache.disk: %s", err);
			return r;
		}
		log_info("cache.disk: %s, %llu segments of %llu bytes%s", dc.path,
			 (unsigned long long)d->sh.disk->ds->sb.seg_count,
			 (unsigned long long)d->sh.disk->ds->sb.seg_size,
			 d->sh.disk->ds->formatted ? ", formatted" : "");
	}
	/* Made whether or not a route limits now: a reload may add one. Its
	 * pages are touched only as client addresses are seen. */
	/* Always: a reload may make the node a cluster member. */
	d->sh.seen = calloc(1, sizeof(*d->sh.seen));
	d->sh.inval = cinval_create(cfg, &d->sh);
	d->sh.ratelimit = ratelimit_new(RATELIMIT_ENTRIES);
	if (!d->sh.ratelimit || !d->sh.seen || !d->sh.inval)
		return -ENOMEM;
	r = daemon_ensure_cpool(d, cfg);
	if (r < 0)
		return r;
	d->rlog = rlog_hub_create(d->nloops ? d->nloops : 1);
	if (!d->rlog)
		return -ENOMEM;
	if (cfg->log_access_path) {
		d->alog = alog_open(cfg->log_access_path, cfg->log_access_format, &r);
		if (!d->alog) {
			log_error("log.access %s: %s", cfg->log_access_path, strerror(-r));
			return r;
		}
	}
	/* All listening sockets are opened here, on the main thread, before
	 * any loop runs: a bad address fails startup at once. */
	r = listen_table_build(&d->listeners, cfg, NULL, d->nloops);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < d->nloops; i++) {
		struct dloop *l = &d->loops[i];
		l->magic = DLOOP_MAGIC;
		l->d = d;
		worker_init(&l->w, i, &d->sh);
		l->acc = (struct listen_loop){.w = &l->w, .admin = d->admin};
		rt_group_init(&l->admins);
	}
	for (unsigned i = 0; i < d->nloops; i++) {
		if (pthread_create(&d->loops[i].thread, NULL, loop_main, &d->loops[i]) != 0) {
			log_error("cannot start loop thread %u", i);
			d->nloops = i;
			daemon_drain(d, 0);
			return -EAGAIN;
		}
	}
	pthread_mutex_lock(&d->lock);
	while (d->started < d->nloops)
		pthread_cond_wait(&d->cond, &d->lock);
	pthread_mutex_unlock(&d->lock);
	for (unsigned i = 0; i < d->nloops; i++) {
		struct dloop *l = &d->loops[i];
		if (!l->start_err)
			continue;
		if (l->loop_failed && cfg->io_backend != IO_BACKEND_EPOLL) {
			/* io_uring refused or broken: say why and what to do. */
			char why[512];
			rt_uring_explain(l->start_err, why, sizeof(why));
			log_error("loop %u failed to start: %s", i, why);
		} else if (l->loop_failed) {
			log_error("loop %u failed to start: epoll: %s", i, strerror(-l->start_err));
		} else {
			log_error("loop %u failed to start: %s", i, strerror(-l->start_err));
		}
		return l->start_err;
	}
	/* One line for the fallback, not one per loop. */
	if (d->nloops && d->loops[0].uring_err) {
		char why[512];
		rt_uring_explain(d->loops[0].uring_err, why, sizeof(why));
		log_warn("io_uring is not available, the loops run on epoll: %s", why);
	}
	log_info("%u loops on %s", d->nloops, d->nloops ? d->loops[0].backend : "-");
	return 0;
}

void daemon_free(struct daemon *d)
{
	CHECK_OBJ_NOTNULL(d, DAEMON_MAGIC);
	listen_table_free(&d->listeners);
	for (unsigned i = 0; i < d->nloops; i++) {
		/* A loop that never started still has its worker set up. */
		if (d->loops[i].magic == DLOOP_MAGIC && d->loops[i].w.magic == WORKER_MAGIC)
			worker_fini(&d->loops[i].w);
	}
	free(d->loops);
	d->loops = NULL;
	gen_discard(d->gen); /* the loops have ended */
	d->gen = NULL;
	resolve_fini(&d->res);
	cpool_destroy(&d->sh.cpool);
	alog_close(&d->alog); /* the loops, and their halves, are gone */
	rlog_hub_free(&d->rlog);
	/* Its tasks ended with loop 0; its Redis threads (serve/cstream.h)
	 * end here, before the tiers they apply to. */
	cinval_free(&d->sh.inval);
	dtier_close(&d->sh.disk); /* its writer ended with loop 0 */
	store_free(&d->sh.store);
	ratelimit_free(&d->sh.ratelimit);
	free(d->sh.seen);
	d->sh.seen = NULL;
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
}
