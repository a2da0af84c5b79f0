/* topk.c - the windowed per-URL table of `ringcache top` (see topk.h). */
#include "cli/topk.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define TOPK_MAGIC 0x70b4ab1eu

struct tentry {
	char key[TOPK_KEY];
	uint64_t hash;
	int32_t next; /* in its hash chain, or in the free list */
	bool used;
	uint64_t sum[TOPK_NCOL]; /* over the window: the slots' sum, kept as they change */
};

struct topk {
	unsigned magic;
	unsigned cap, window;
	bool started;
	int64_t cur; /* the second slot cur % window counts */
	size_t n;
	uint64_t evicted;
	uint32_t mask;	   /* of heads */
	int32_t *heads;	   /* chain heads by hash, -1: none */
	int32_t free_list; /* unused entries, -1: none */
	struct tentry *e;  /* cap */
	uint32_t *cnt;	   /* cap x window x TOPK_NCOL */
	uint64_t *tot;	   /* window x TOPK_NCOL: every record, evicted URLs' too */
	uint32_t *order;   /* cap: scratch for rows and pruning */
	uint64_t *scratch; /* cap: sums for pruning */
};

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static unsigned slot_of(const struct topk *t, int64_t sec)
{
	int64_t w = t->window, m = sec % w;
	return (unsigned)(m < 0 ? m + w : m);
}

struct topk *topk_create(unsigned cap, unsigned window)
{
	if (cap < 4 || window < 1 || window > TOPK_MAX_WINDOW)
		return NULL;
	struct topk *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->magic = TOPK_MAGIC;
	t->cap = cap;
	t->window = window;
	uint32_t nb = 1;
	while (nb < 2 * cap)
		nb <<= 1;
	t->mask = nb - 1;
	t->heads = malloc(nb * sizeof(*t->heads));
	t->e = calloc(cap, sizeof(*t->e));
	t->cnt = calloc((size_t)cap * window * TOPK_NCOL, sizeof(*t->cnt));
	t->tot = calloc((size_t)window * TOPK_NCOL, sizeof(*t->tot));
	t->order = malloc(cap * sizeof(*t->order));
	t->scratch = malloc(cap * sizeof(*t->scratch));
	if (!t->heads || !t->e || !t->cnt || !t->tot || !t->order || !t->scratch) {
		topk_free(&t);
		return NULL;
	}
	for (uint32_t i = 0; i < nb; i++)
		t->heads[i] = -1;
	for (unsigned i = 0; i < cap; i++)
		t->e[i].next = i + 1 < cap ? (int32_t)(i + 1) : -1;
	t->free_list = 0;
	return t;
}

void topk_free(struct topk **tp)
{
	struct topk *t = *tp;
	if (!t)
		return;
	assert(t->magic == TOPK_MAGIC);
	free(t->heads);
	free(t->e);
	free(t->cnt);
	free(t->tot);
	free(t->order);
	free(t->scratch);
	t->magic = 0;
	free(t);
	*tp = NULL;
}

void topk_classify(const struct rlog_rec *rec, bool col[TOPK_NCOL])
{
	const char *v = rec->verdict;
	col[TOPK_REQ] = true;
	col[TOPK_HIT] = strcmp(v, "hit") == 0 || strcmp(v, "stale") == 0;
	col[TOPK_MISS] = strcmp(v, "miss") == 0 || strcmp(v, "pass") == 0;
	col[TOPK_5XX] = rec->status >= 500 && rec->status <= 599;
}

static uint32_t *counts(struct topk *t, size_t i, unsigned slot)
{
	return t->cnt + ((size_t)i * t->window + slot) * TOPK_NCOL;
}

void topk_advance(struct topk *t, int64_t now)
{
	assert(t->magic == TOPK_MAGIC);
	if (!t->started) {
		t->started = true;
		t->cur = now;
		return;
	}
	if (now <= t->cur)
		return;
	int64_t steps = now - t->cur;
	if (steps > t->window)
		steps = t->window;
	for (int64_t s = 1; s <= steps; s++) {
		unsigned slot = slot_of(t, t->cur + s);
		for (size_t i = 0; i < t->cap; i++) {
			struct tentry *e = &t->e[i];
			if (!e->used)
				continue;
			uint32_t *c = counts(t, i, slot);
			for (int k = 0; k < TOPK_NCOL; k++) {
				e->sum[k] -= c[k];
				c[k] = 0;
			}
		}
		memset(t->tot + (size_t)slot * TOPK_NCOL, 0, TOPK_NCOL * sizeof(*t->tot));
	}
	t->cur = now;
}

static void unlink_entry(struct topk *t, size_t i)
{
	struct tentry *e = &t->e[i];
	int32_t *p = &t->heads[e->hash & t->mask];
	while (*p != (int32_t)i) {
		assert(*p >= 0);
		p = &t->e[*p].next;
	}
	*p = e->next;
	e->used = false;
	memset(counts(t, i, 0), 0, (size_t)t->window * TOPK_NCOL * sizeof(uint32_t));
	memset(e->sum, 0, sizeof(e->sum));
	e->next = t->free_list;
	t->free_list = (int32_t)i;
	t->n--;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Make room for a quarter of the table: empty windows first, then the
 * entries with the fewest requests. */
static void prune(struct topk *t)
{
	size_t want = t->cap / 4, freed = 0;
	for (size_t i = 0; i < t->cap; i++) {
		if (t->e[i].used && t->e[i].sum[TOPK_REQ] == 0) {
			unlink_entry(t, i);
			freed++;
		}
	}
	if (freed >= want)
		return;
	size_t m = 0;
	for (size_t i = 0; i < t->cap; i++)
		if (t->e[i].used)
			t->scratch[m++] = t->e[i].sum[TOPK_REQ];
	qsort(t->scratch, m, sizeof(*t->scratch), cmp_u64);
	uint64_t limit = t->scratch[want - freed - 1];
	for (size_t i = 0; i < t->cap && freed < want; i++) {
		if (t->e[i].used && t->e[i].sum[TOPK_REQ] <= limit) {
			unlink_entry(t, i);
			freed++;
			t->evicted++;
		}
	}
}

static size_t find_or_add(struct topk *t, const char *key)
{
	uint64_t h = fnv1a(key);
	for (int32_t i = t->heads[h & t->mask]; i >= 0; i = t->e[i].next)
		if (t->e[i].hash == h && strcmp(t->e[i].key, key) == 0)
			return (size_t)i;
	if (t->free_list < 0)
		prune(t);
	assert(t->free_list >= 0);
	size_t i = (size_t)t->free_list;
	struct tentry *e = &t->e[i];
	t->free_list = e->next;
	memcpy(e->key, key, strlen(key) + 1);
	e->hash = h;
	e->used = true;
	e->next = t->heads[h & t->mask];
	t->heads[h & t->mask] = (int32_t)i;
	t->n++;
	return i;
}

void topk_add_url(struct topk *t, const char *host, const char *target, const bool col[TOPK_NCOL],
		  int64_t now)
{
	topk_advance(t, now);
	char key[TOPK_KEY];
	size_t hl = strnlen(host, TOPK_KEY - 1);
	size_t tl = strnlen(target, TOPK_KEY - 1 - hl);
	memcpy(key, host, hl);
	memcpy(key + hl, target, tl);
	key[hl + tl] = '\0';
	size_t i = find_or_add(t, key);
	unsigned slot = slot_of(t, t->cur);
	uint32_t *c = counts(t, i, slot);
	uint64_t *g = t->tot + (size_t)slot * TOPK_NCOL;
	for (int k = 0; k < TOPK_NCOL; k++) {
		if (!col[k])
			continue;
		c[k]++;
		t->e[i].sum[k]++;
		g[k]++;
	}
}

void topk_add(struct topk *t, const struct rlog_rec *rec, int64_t now)
{
	bool col[TOPK_NCOL];
	topk_classify(rec, col);
	topk_add_url(t, rec->host, rec->target, col, now);
}

struct order_ctx {
	const struct topk *t;
	enum topk_col by;
};

static int cmp_rows(const void *a, const void *b, void *arg)
{
	const struct order_ctx *o = arg;
	const struct tentry *x = &o->t->e[*(const uint32_t *)a],
			    *y = &o->t->e[*(const uint32_t *)b];
	if (x->sum[o->by] != y->sum[o->by])
		return x->sum[o->by] > y->sum[o->by] ? -1 : 1;
	if (x->sum[TOPK_REQ] != y->sum[TOPK_REQ])
		return x->sum[TOPK_REQ] > y->sum[TOPK_REQ] ? -1 : 1;
	return strcmp(x->key, y->key);
}

size_t topk_rows(struct topk *t, int64_t now, enum topk_col by, struct topk_row *out, size_t max)
{
	assert(t->magic == TOPK_MAGIC && by < TOPK_NCOL);
	topk_advance(t, now);
	size_t m = 0;
	for (size_t i = 0; i < t->cap; i++)
		if (t->e[i].used && t->e[i].sum[by] > 0)
			t->order[m++] = (uint32_t)i;
	struct order_ctx o = {t, by};
	qsort_r(t->order, m, sizeof(*t->order), cmp_rows, &o);
	if (m > max)
		m = max;
	for (size_t k = 0; k < m; k++) {
		const struct tentry *e = &t->e[t->order[k]];
		out[k].url = e->key;
		memcpy(out[k].n, e->sum, sizeof(out[k].n));
	}
	return m;
}

void topk_totals(struct topk *t, int64_t now, uint64_t out[TOPK_NCOL])
{
	topk_advance(t, now);
	memset(out, 0, TOPK_NCOL * sizeof(*out));
	for (unsigned s = 0; s < t->window; s++)
		for (int k = 0; k < TOPK_NCOL; k++)
			out[k] += t->tot[(size_t)s * TOPK_NCOL + k];
}

size_t topk_size(const struct topk *t)
{
	return t->n;
}

uint64_t topk_evicted(const struct topk *t)
{
	return t->evicted;
}

unsigned topk_window(const struct topk *t)
{
	return t->window;
}
