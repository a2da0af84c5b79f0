/* reload.c - swap in a new configuration generation: a reload, or new DNS addresses. */
#include "daemon/daemon.h"
#include "rt/obj.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "backend/health.h"
#include "cache/dtier.h"
#include "cache/store.h"
#include "ops/log.h"

/* Runs on the loop thread: adopt the generation and listener table the
 * main thread posted, then tell it. */
static void switch_on_loop(struct rt_msg *m)
{
	struct dloop *l = (struct dloop *)((char *)m - offsetof(struct dloop, switch_msg));
	struct daemon *d = l->d;
	struct bloop *b = &l->w.be;
	/* Held across the switch, so that its probes can be stopped after it
	 * (a switch releases a generation nobody holds). */
	struct gen *old = b->gen;
	gen_hold_again(b, old);
	if (gen_switch(b, l->switch_gen) < 0) {
		log_error("loop %u: out of memory switching to configuration %llu; keeping %llu",
			  b->id, (unsigned long long)l->switch_gen->id,
			  (unsigned long long)b->gen->id);
	} else {
		rt_group_cancel(&old->slots[b->id].probes);
		health_start(b, b->gen);
	}
	gen_put(b, old);
	listen_apply(&l->acc, &d->listeners);
	/* Both under the lock: a reload that sees this loop done must also
	 * find its count in, not have it land in its own fresh count. */
	pthread_mutex_lock(&d->lock);
	d->switched++;
	atomic_store(&l->switch_pending, false);
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

/* A restart-only key that changed (config_keep_restart_keys). */
static void warn_restart(void *ctx, const char *line)
{
	(void)ctx;
	log_warn("%s", line);
}

/* How long a reload waits for the loops to switch; one that does not is
 * stuck in a task (the watchdog reports it) and switches when it can. */
#define SWITCH_WAIT_S 10

static void switch_to(struct daemon *d, struct gen *g);
static int switch_busy(struct daemon *d);

int daemon_reload(struct daemon *d, struct config *cfg)
{
	CHECK_OBJ_NOTNULL(d, DAEMON_MAGIC);
	const struct config *old = d->gen->cfg;
	/* The keys a reload cannot apply keep their running values (the
	 * schema table says which); a copy that fails refuses the reload. */
	if (config_keep_restart_keys(old, cfg, warn_restart, NULL) < 0) {
		config_free(&cfg);
		return -ENOMEM;
	}
	int busy = switch_busy(d);
	if (busy >= 0) {
		log_error("reload: loop %d has not finished the previous reload", busy);
		config_free(&cfg);
		return -EBUSY;
	}
	struct listen_table t;
	int r = listen_table_build(&t, cfg, &d->listeners, d->nloops);
	if (r == 0 && (r = daemon_ensure_cpool(d, cfg)) < 0)
		listen_table_free(&t); /* closes the sockets it opened */
	if (r < 0) {
		config_free(&cfg);
		return r;
	}
	/* The new config's names as well as the running one's (so that a
	 * reload that fails from here on leaves these followed), looked up
	 * again now; new ones are waited for, so the generation has them. */
	struct gen *g = NULL;
	r = resolve_follow(&d->res, cfg, RESOLVE_KEEP | RESOLVE_REFRESH);
	if (r == 0 && !(g = gen_create(cfg, resolve_set, &d->res, d->nloops, d->gen_seq + 1)))
		r = -ENOMEM;
	if (r < 0) {
		/* Sets taken in for the running config still need their
		 * generation; daemon_follow makes it. */
		resolve_retry(&d->res, RT_SEC);
		listen_table_free(&t);
		config_free(&cfg);
		return r;
	}
	/* Past this point the reload cannot fail. */
	health_inherit(g, d->gen);
	d->gen_seq++;
	if (cfg->cache.memory != old->cache.memory)
		store_set_budget(d->sh.store, cfg->cache.memory);
	/* The store stays as opened; what it admits follows the new file. */
	if (d->sh.disk && cfg->cache.disk.enabled)
		dtier_set_admission(d->sh.disk, (int64_t)(cfg->cache.disk.min_ttl_ns / RT_SEC),
				    cfg->cache.disk.max_object_size, cfg->cache.disk.admit_hits);
	static const int levels[] = {LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG};
	atomic_store(&log_max_level, levels[cfg->log_level]);
	listen_table_free(&d->listeners); /* its sockets belong to the loops */
	d->listeners = t;
	switch_to(d, g);
	resolve_applied(&d->res, false);
	/* Only the names of the config now running (a failure leaves more
	 * followed than needed, which is harmless). */
	if (resolve_follow(&d->res, cfg, 0) < 0)
		log_warn("reload: out of memory dropping names no longer used; still following "
			 "them");
	return 0;
}

/* Whether a loop has not run the last switch yet (it is stuck in a task). */
static int switch_busy(struct daemon *d)
{
	for (unsigned i = 0; i < d->nloops; i++) {
		if (atomic_load(&d->loops[i].switch_pending))
			return (int)i;
	}
	return -1;
}

void daemon_follow(struct daemon *d)
{
	CHECK_OBJ_NOTNULL(d, DAEMON_MAGIC);
	int busy = switch_busy(d);
	if (busy >= 0) {
		log_warn("dns: loop %d has not finished the last switch; trying again in 1 s",
			 busy);
		resolve_retry(&d->res, RT_SEC);
		return;
	}
	if (!resolve_take(&d->res, d->gen->cfg))
		return;
	struct config *cfg = config_hold(d->gen->cfg);
	struct gen *g = gen_create(cfg, resolve_set, &d->res, d->nloops, d->gen_seq + 1);
	if (!g) {
		config_free(&cfg);
		log_error("dns: out of memory making a generation for new addresses; trying "
			  "again in 1 s");
		resolve_retry(&d->res, RT_SEC);
		return;
	}
	health_inherit(g, d->gen);
	d->gen_seq++;
	switch_to(d, g);
	resolve_applied(&d->res, true);
	log_info("dns: configuration %llu with the new addresses", (unsigned long long)d->gen_seq);
}

/* Post G to every loop, wait until they switched (or SWITCH_WAIT_S), and
 * let go of the generation before it. */
static void switch_to(struct daemon *d, struct gen *g)
{
	struct gen *prev = d->gen;
	d->gen = g;
	pthread_mutex_lock(&d->lock);
	d->switched = 0;
	unsigned posted = 0;
	for (unsigned i = 0; i < d->nloops; i++) {
		struct dloop *l = &d->loops[i];
		if (!l->w.loop)
			continue; /* loops end only at drain, after the last reload */
		l->switch_gen = g;
		l->switch_msg.fn = switch_on_loop;
		atomic_store(&l->switch_pending, true);
		rt_loop_post(l->w.loop, &l->switch_msg);
		posted++;
	}
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += SWITCH_WAIT_S;
	while (d->switched < posted) {
		if (pthread_cond_timedwait(&d->cond, &d->lock, &until) != 0) {
			log_warn("configuration %llu: %u of %u loops switched within %d s; the "
				 "rest switch when they can",
				 (unsigned long long)g->id, d->switched, posted, SWITCH_WAIT_S);
			break;
		}
	}
	pthread_mutex_unlock(&d->lock);
	gen_unref_main(prev);
}
