/* worker.c - a loop's serving state: set up, drained, forced, torn down. */
#include "serve/worker.h"

#include <assert.h>
#include <string.h>

#include "backend/health.h"
#include "backend/pool.h"
#include "serve/conn.h"

void worker_init(struct worker *w, unsigned id, struct serve_shared *sh)
{
	memset(w, 0, sizeof(*w));
	w->magic = WORKER_MAGIC;
	w->be.id = id;
	w->be.metrics = &w->metrics;
	w->sh = sh;
	rt_group_init(&w->tasks);
}

void worker_fini(struct worker *w)
{
	assert(w->magic == WORKER_MAGIC);
	client_membufs_free(w);
	rt_group_fini(&w->tasks);
	w->magic = 0;
}

void worker_drain(struct worker *w)
{
	assert(w->magic == WORKER_MAGIC);
	w->be.draining = true;
	health_stop(&w->be);
	bpools_close_idle(w->be.pools);
	/* Idle keep-alive connections are closed now; busy ones after their
	 * current response (they see be.draining). */
	for (struct client *c = w->clients; c; c = c->next) {
		if (c->parked)
			rt_watch_cancel(&c->watch);
		else if (c->idle)
			rt_task_cancel(c->task);
	}
}

void worker_force(struct worker *w)
{
	assert(w->magic == WORKER_MAGIC);
	for (struct client *c = w->clients; c; c = c->next) {
		if (c->parked)
			rt_watch_cancel(&c->watch);
		else
			rt_task_cancel(c->task);
	}
	rt_group_cancel(&w->tasks);
}
