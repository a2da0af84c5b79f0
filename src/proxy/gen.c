/* gen.c - configuration generations: create, hold, switch, release. */
#include "proxy/gen.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/backend.h"

struct gen *gen_create(struct config *cfg, unsigned nworkers, uint64_t id)
{
	struct gen *g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->id = id;
	g->nworkers = nworkers;
	g->slots = aligned_alloc(64, nworkers * sizeof(*g->slots));
	g->backends = calloc(cfg->n_backends ? cfg->n_backends : 1, sizeof(*g->backends));
	if (!g->slots || !g->backends)
		goto fail;
	memset(g->slots, 0, nworkers * sizeof(*g->slots));
	for (size_t b = 0; b < cfg->n_backends; b++) {
		g->backends[b].cfg = &cfg->backends[b];
		if (backend_rt_init(&g->backends[b]) < 0)
			goto fail;
		g->n_backends = b + 1;
	}
	g->cfg = cfg;
	atomic_init(&g->live, nworkers + 1);
	return g;
fail:
	for (size_t b = 0; b < g->n_backends; b++)
		backend_rt_free(&g->backends[b]);
	free(g->backends);
	free(g->slots);
	free(g);
	return NULL;
}

static void gen_free(struct gen *g)
{
	for (size_t b = 0; b < g->n_backends; b++)
		backend_rt_free(&g->backends[b]);
	free(g->backends);
	config_free(&g->cfg);
	free(g->slots);
	free(g);
}

static void drop_live(struct gen *g)
{
	if (atomic_fetch_sub(&g->live, 1) == 1)
		gen_free(g);
}

/* W's loop is done with G: close its idle connections, count it out. */
static void release_slot(struct gen *g, unsigned wid)
{
	struct gen_slot *s = &g->slots[wid];
	assert(!s->released && s->refs == 0);
	s->released = true;
	backend_pools_free(g, wid);
	drop_live(g);
}

void gen_unref_main(struct gen *g)
{
	if (g)
		drop_live(g);
}

void gen_discard(struct gen *g)
{
	if (!g)
		return;
	for (unsigned i = 0; i < g->nworkers; i++) {
		if (!g->slots[i].released) {
			assert(g->slots[i].refs == 0);
			release_slot(g, i);
		}
	}
	drop_live(g);
}

void gen_put(struct worker *w, struct gen *g)
{
	struct gen_slot *s = &g->slots[w->id];
	assert(s->refs > 0);
	if (--s->refs == 0 && g != w->gen && s->adopted)
		release_slot(g, w->id);
}

int gen_switch(struct worker *w, struct gen *g)
{
	int r = backend_pools_init(g, w->id);
	if (r < 0) {
		release_slot(g, w->id);
		return r;
	}
	struct gen *old = w->gen;
	if (old)
		backend_pools_move(old, g, w->id);
	w->gen = g;
	g->slots[w->id].adopted = true;
	if (old && old->slots[w->id].refs == 0)
		release_slot(old, w->id);
	return 0;
}

void gen_leave(struct worker *w)
{
	struct gen *g = w->gen;
	w->gen = NULL;
	if (g)
		release_slot(g, w->id);
}
