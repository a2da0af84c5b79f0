/* pick.c - server choice: smooth weighted round robin, least connections, consistent hashing. */
#include "backend/pick.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* XXH3_state_t on the stack (its layout is public with this). */
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "rt/clock.h"
#include "rt/task.h"

static int ring_cmp(const void *a, const void *b)
{
	const struct backend_ring_pt *x = a, *y = b;
	return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* Weights are always loaded with the servers; a config built by hand may
 * leave them out, which means 1 each. */
static unsigned weight_of(const struct config_backend *cfg, size_t i)
{
	return cfg->weights ? cfg->weights[i] : 1;
}

int backend_rt_init(struct backend_rt *b)
{
	const struct config_backend *cfg = b->cfg;
	size_t n = cfg->n_servers;
	unsigned total = 0;
	for (size_t i = 0; i < n; i++)
		total += weight_of(cfg, i);
	/* A backend whose names do not resolve yet has no server: one slot
	 * each anyway, so that NULL means out of memory. */
	b->sched = calloc(total ? total : 1, sizeof(*b->sched));
	b->active = calloc(n ? n : 1, sizeof(*b->active));
	b->health = calloc(n ? n : 1, sizeof(*b->health));
	long *cur = calloc(n ? n : 1, sizeof(*cur));
	b->ring_len = (size_t)total * 40;
	b->ring = calloc(b->ring_len ? b->ring_len : 1, sizeof(*b->ring));
	if (!b->sched || !b->active || !cur || !b->ring || !b->health) {
		free(cur);
		backend_rt_free(b);
		return -ENOMEM;
	}
	/* Smooth weighted round robin, unrolled once over a whole cycle. */
	for (unsigned k = 0; k < total; k++) {
		size_t best = 0;
		for (size_t i = 0; i < n; i++) {
			cur[i] += weight_of(cfg, i);
			if (cur[i] > cur[best])
				best = i;
		}
		cur[best] -= (long)total;
		b->sched[k] = (unsigned)best;
	}
	b->sched_len = total;
	free(cur);
	size_t p = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned pts = 40 * weight_of(cfg, i);
		for (unsigned k = 0; k < pts; k++) {
			char tag[300];
			int l = snprintf(tag, sizeof(tag), "%s#%u", cfg->servers[i].spec, k);
			b->ring[p++] =
			    (struct backend_ring_pt){XXH3_64bits(tag, (size_t)l), (unsigned)i};
		}
	}
	qsort(b->ring, b->ring_len, sizeof(*b->ring), ring_cmp);
	return 0;
}

void backend_rt_free(struct backend_rt *b)
{
	free(b->sched);
	free(b->active);
	free(b->ring);
	free(b->health);
	b->health = NULL;
	b->sched = NULL;
	b->active = NULL;
	b->ring = NULL;
}

/* The consistent-hash key of a request: its Host and request-target. */
static uint64_t key_hash(const struct hmsg *req)
{
	XXH3_state_t st;
	XXH3_64bits_reset(&st);
	const struct hfield *h = hmsg_field(req, "host", 0);
	if (h)
		XXH3_64bits_update(&st, hmsg_ptr(req, h->value), h->value.len);
	XXH3_64bits_update(&st, "", 1);
	XXH3_64bits_update(&st, hmsg_ptr(req, req->target), req->target.len);
	return XXH3_64bits_digest(&st);
}

static bool avoided(uint64_t avoid, unsigned i)
{
	return i < 64 && (avoid >> i & 1);
}

/* Out of rotation: avoided, or marked down by the probes or by passive health. */
static bool skip(const struct backend_rt *b, uint64_t avoid, unsigned i, bool any_health)
{
	return avoided(avoid, i) ||
	       (any_health && (atomic_load_explicit(&b->health[i].down, memory_order_relaxed) ||
			       backend_passive_out(b, i, rt_clock_now())));
}

bool backend_passive_out(const struct backend_rt *b, unsigned server, uint64_t now)
{
	return b->cfg->max_fails &&
	       atomic_load_explicit(&b->health[server].out_until, memory_order_relaxed) > now;
}

bool backend_passive_fail(struct backend_rt *b, unsigned server, uint64_t now)
{
	const struct config_backend *cfg = b->cfg;
	if (!cfg->max_fails || cfg->n_servers < 2)
		return false; /* one server: taking it out would only turn errors into 502s */
	struct server_health *h = &b->health[server];
	uint64_t start = atomic_load_explicit(&h->pwindow_start, memory_order_relaxed);
	unsigned n;
	if (now - start > cfg->fail_window_ns) {
		atomic_store_explicit(&h->pwindow_start, now, memory_order_relaxed);
		atomic_store_explicit(&h->pfails, 1, memory_order_relaxed);
		n = 1;
	} else {
		n = atomic_fetch_add_explicit(&h->pfails, 1, memory_order_relaxed) + 1;
	}
	if (n < cfg->max_fails || backend_passive_out(b, server, now))
		return false;
	atomic_store_explicit(&h->out_until, now + cfg->fail_timeout_ns, memory_order_relaxed);
	atomic_store_explicit(&h->pfails, 0, memory_order_relaxed);
	return true;
}

int backend_pick(struct backend_rt *b, const struct hmsg *req, uint64_t avoid)
{
	const struct config_backend *cfg = b->cfg;
	unsigned n = (unsigned)cfg->n_servers;
	bool hc = cfg->health.enabled || cfg->max_fails;
	if (n == 0)
		return -1; /* its names do not resolve (yet) */
	if (n == 1)
		return avoided(avoid, 0) ? -1 : 0;
	/* The shared position only where it is used: it is a cache line all
	 * loops write. */
	unsigned tick = cfg->balance == BALANCE_HASH
			    ? 0
			    : atomic_fetch_add_explicit(&b->rr, 1, memory_order_relaxed);
	/* Two passes: servers in rotation first; when every one left is
	 * down, try one anyway rather than fail without trying (the probes
	 * may lag behind a recovery). */
	for (int pass = 0; pass < 2; pass++) {
		bool health = hc && pass == 0;
		switch (cfg->balance) {
		case BALANCE_HASH: {
			uint64_t h = key_hash(req);
			size_t lo = 0, hi = b->ring_len;
			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;
				if (b->ring[mid].hash < h)
					lo = mid + 1;
				else
					hi = mid;
			}
			/* The next point clockwise whose server is usable, so
			 * a dead server's keys spread over the others. */
			for (size_t k = 0; k < b->ring_len; k++) {
				unsigned s = b->ring[(lo + k) % b->ring_len].server;
				if (!skip(b, avoid, s, health))
					return (int)s;
			}
			break;
		}
		case BALANCE_LEAST_CONNECTIONS: {
			/* Fewest in progress per unit of weight; ties go round. */
			int best = -1;
			for (unsigned k = 0; k < n; k++) {
				unsigned i = (tick + k) % n;
				if (skip(b, avoid, i, health))
					continue;
				uint64_t ai =
				    atomic_load_explicit(&b->active[i], memory_order_relaxed);
				uint64_t ab = best < 0 ? 0
						       : atomic_load_explicit(&b->active[best],
									      memory_order_relaxed);
				if (best < 0 ||
				    ai * weight_of(cfg, (unsigned)best) < ab * weight_of(cfg, i))
					best = (int)i;
			}
			if (best >= 0)
				return best;
			break;
		}
		case BALANCE_ROUND_ROBIN:
		default:
			for (unsigned k = 0; k < b->sched_len; k++) {
				unsigned s = b->sched[(tick + k) % b->sched_len];
				if (!skip(b, avoid, s, health))
					return (int)s;
			}
			break;
		}
		if (!hc)
			break;
	}
	return -1;
}

bool backend_idempotent(unsigned method)
{
	return method == HTTP_GET || method == HTTP_HEAD || method == HTTP_OPTIONS ||
	       method == HTTP_TRACE || method == HTTP_PUT || method == HTTP_DELETE;
}

void backend_try_init(struct backend_try *t, struct backend_rt *b, const struct hmsg *req)
{
	t->server = backend_pick(b, req, 0);
	t->tried = 0;
	t->left = b->cfg->retries;
	t->fresh = false;
}

void backend_try_pin(struct backend_try *t, unsigned server)
{
	t->server = (int)server;
	t->tried = 0;
	t->left = 0;
	t->fresh = false;
}

bool backend_try_next(struct backend_try *t, struct backend_rt *b, const struct hmsg *req)
{
	if (t->left == 0 || t->server < 0 || rt_task_cancelled())
		return false; /* a cancelled request goes nowhere else */
	if (t->server < 64)
		t->tried |= 1ull << t->server;
	int s = backend_pick(b, req, t->tried);
	if (s < 0)
		return false;
	t->left--;
	t->server = s;
	t->fresh = false;
	return true;
}
