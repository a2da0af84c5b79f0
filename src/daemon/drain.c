/* drain.c - stop accepting, let requests finish, cancel what is left. */
#include "daemon/daemon.h"
#include "rt/obj.h"

#include <time.h>

#include "cache/dtier.h"
#include "ops/accesslog.h"
#include "ops/log.h"
#include "serve/conn.h"

/* Runs on the loop thread (posted by daemon_drain). */
static void drain_on_loop(struct rt_msg *m)
{
	struct dloop *l = (struct dloop *)((char *)m - offsetof(struct dloop, drain_msg));
	listen_stop(&l->acc);
	worker_drain(&l->w);
	conns_drain(&l->w);
	alog_loop_stop(l->w.alog);
	/* Admin requests are short, and a POST /reload would wait for a main
	 * thread that is draining now: end them all. */
	rt_group_cancel(&l->admins);
	/* The disk writer writes what it has queued, then ends: the loop
	 * runs until it has (dtier_force past the deadline). */
	if (l->w.be.id == 0 && l->d->sh.disk)
		dtier_drain(l->d->sh.disk, &l->d->sh.nconns);
	rt_loop_stop(l->w.loop);
}

static void force_on_loop(struct rt_msg *m)
{
	struct dloop *l = (struct dloop *)((char *)m - offsetof(struct dloop, force_msg));
	conns_force(&l->w);
	worker_force(&l->w);
	if (l->w.be.id == 0 && l->d->sh.disk)
		dtier_force(l->d->sh.disk);
}

void daemon_drain(struct daemon *d, uint64_t timeout_ns)
{
	CHECK_OBJ_NOTNULL(d, DAEMON_MAGIC);
	for (unsigned i = 0; i < d->nloops; i++) {
		struct dloop *l = &d->loops[i];
		l->drain_msg.fn = drain_on_loop;
		pthread_mutex_lock(&d->lock);
		if (l->w.loop)
			rt_loop_post(l->w.loop, &l->drain_msg);
		pthread_mutex_unlock(&d->lock);
	}
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)(timeout_ns / RT_SEC);
	until.tv_nsec += (long)(timeout_ns % RT_SEC);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	for (unsigned i = 0; i < d->nloops; i++) {
		struct dloop *l = &d->loops[i];
		if (!l->thread)
			continue;
		if (pthread_timedjoin_np(l->thread, NULL, &until) != 0) {
			log_warn("loop %u: drain timeout, closing remaining connections", i);
			l->force_msg.fn = force_on_loop;
			pthread_mutex_lock(&d->lock);
			if (l->w.loop)
				rt_loop_post(l->w.loop, &l->force_msg);
			pthread_mutex_unlock(&d->lock);
			pthread_join(l->thread, NULL);
		}
		l->thread = 0;
	}
}
