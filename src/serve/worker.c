/* worker.c - a loop's serving state: set up, drained, forced, torn down. */
#include "serve/worker.h"
#include "rt/obj.h"

#include <assert.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "backend/health.h"
#include "backend/pool.h"

void worker_init(struct worker *w, unsigned id, struct serve_shared *sh)
{
	assert(w != NULL);
	memset(w, 0, sizeof(*w));
	w->magic = WORKER_MAGIC;
	w->be.id = id;
	w->be.metrics = &w->metrics;
	w->sh = sh;
	rt_group_init(&w->tasks);
	/* Joined field values up to 64 KiB are tested; a longer one matches
	 * no header test (it could only be a head near the limit). */
	w->route = route_scratch_new(64 * 1024);
	unsigned long long base = 0;
	if (getrandom(&base, sizeof(base), GRND_NONBLOCK) != sizeof(base))
		base = (unsigned long long)time(NULL) * 0x9e3779b97f4a7c15ull;
	w->req_id_base = base;
}

void worker_fini(struct worker *w)
{
	CHECK_OBJ_NOTNULL(w, WORKER_MAGIC);
	membuf_cache_free(&w->membufs);
	route_scratch_free(w->route);
	w->route = NULL;
	rt_group_fini(&w->tasks);
	w->magic = 0;
}

/* Mappings kept warm through an idle trim. */
#define IDLE_KEEP_MEMBUFS 8

void worker_idle(void *arg)
{
	struct worker *w = arg;
	CHECK_OBJ_NOTNULL(w, WORKER_MAGIC);
	membuf_cache_trim(&w->membufs, IDLE_KEEP_MEMBUFS);
}

void worker_drain(struct worker *w)
{
	CHECK_OBJ_NOTNULL(w, WORKER_MAGIC);
	w->be.draining = true;
	health_stop(&w->be);
	bpools_close_idle(w->be.pools);
}

void worker_force(struct worker *w)
{
	CHECK_OBJ_NOTNULL(w, WORKER_MAGIC);
	rt_group_cancel(&w->tasks);
}
