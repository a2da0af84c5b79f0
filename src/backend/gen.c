/* gen.c - configuration generations: create, hold, switch, release. */
#include "backend/gen.h"
#include "rt/obj.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend/pool.h"

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
	for (unsigned i = 0; i < nworkers; i++)
		rt_group_init(&g->slots[i].probes);
	for (size_t b = 0; b < cfg->n_backends; b++) {
		g->backends[b].cfg = &cfg->backends[b];
		if (backend_rt_init(&g->backends[b]) < 0)
			goto fail;
		g->n_backends = b + 1;
	}
	g->cfg = cfg;
	g->magic = GEN_MAGIC;
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
	for (unsigned i = 0; i < g->nworkers; i++)
		rt_group_fini(&g->slots[i].probes); /* probes hold the generation: none left */
	free(g->slots);
	g->magic = 0;
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
	bpools_free(&s->pools);
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

void gen_put(struct bloop *b, struct gen *g)
{
	CHECK_OBJ_NOTNULL(g, GEN_MAGIC);
	struct gen_slot *s = &g->slots[b->id];
	assert(s->refs > 0);
	if (--s->refs == 0 && g != b->gen && s->adopted)
		release_slot(g, b->id);
}

int gen_switch(struct bloop *b, struct gen *g)
{
	CHECK_OBJ_NOTNULL(g, GEN_MAGIC);
	struct gen_slot *s = &g->slots[b->id];
	s->pools = bpools_new(g->backends, g->n_backends);
	if (!s->pools) {
		release_slot(g, b->id);
		return -ENOMEM;
	}
	struct gen *old = b->gen;
	if (old)
		bpools_move(old->slots[b->id].pools, s->pools);
	b->gen = g;
	b->pools = s->pools;
	g->slots[b->id].adopted = true;
	if (old && old->slots[b->id].refs == 0)
		release_slot(old, b->id);
	return 0;
}

void gen_leave(struct bloop *b)
{
	struct gen *g = b->gen;
	b->gen = NULL;
	b->pools = NULL;
	if (g)
		release_slot(g, b->id);
}
