/*
 * tags.c - the surrogate-key index (see tags.h).
 *
 * Two chained hash tables under one mutex:
 *  - tags: name -> struct tag, whose members array lists the links of the
 *    objects carrying it;
 *  - objs: object pointer -> struct obj, which owns one link per tag.
 * A link (tag, obj, position in the tag's members array) is what makes
 * removal cheap: removing an object walks its own links and swap-removes
 * each from its tag's array in O(1), instead of searching the tag's
 * (possibly huge) member list. A tag that loses its last member is freed,
 * so the index holds only live tags.
 *
 * Links are allocated per tag_index_add call in one block (a header may
 * carry up to 256 tags); an object added twice (Surrogate-Key and Cache-Tag,
 * or a header split over lines) just has two blocks.
 *
 * Both tables double when their load passes 1 and halve when it drops
 * under 1/8, so a mass purge gives memory back. Hashing: XXH3 for tag names;
 * a 64-bit finaliser for pointers (their low bits are alignment zeros).
 */
#include "cache/tags.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define TAGS_MAX_PER_OBJ 256
#define TAG_MAX_LEN	 256
#define TABLE_MIN	 64

/* Hash-chain link; first member of each table entry, so the table code
 * is shared and an entry is reached from its link by a cast. */
struct chain {
	struct chain *next;
};

struct tag_link {
	struct tag *tag;
	struct obj *obj;
	uint32_t pos; /* index in tag->members */
};

struct tag {
	struct chain chain;
	uint64_t hash;
	struct tag_link **members;
	uint32_t nmembers, cap;
	uint64_t mark; /* == ti->gen: already linked to the object being added */
	uint16_t len;
	char name[];
};

struct link_block {
	struct link_block *next;
	uint32_t n;
	struct tag_link links[];
};

struct obj {
	struct chain chain;
	void *ptr;
	uint32_t ntags;
	struct link_block *blocks;
};

struct table {
	struct chain **buckets; /* of struct tag or of struct obj */
	size_t nbuckets;	/* power of two */
	size_t count;
};

struct tag_index {
	pthread_mutex_t lock;
	struct table tags, objs;
	uint64_t gen;
};

static uint64_t ptr_hash(const void *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;
	x = (x ^ (x >> 33)) * 0xFF51AFD7ED558CCDull;
	x = (x ^ (x >> 33)) * 0xC4CEB9FE1A85EC53ull;
	return x ^ (x >> 33);
}

static uint64_t tag_hash(const char *s, size_t len)
{
	return XXH3_64bits(s, len);
}

static int table_init(struct table *t)
{
	t->buckets = calloc(TABLE_MIN, sizeof(*t->buckets));
	if (!t->buckets)
		return -ENOMEM;
	t->nbuckets = TABLE_MIN;
	t->count = 0;
	return 0;
}

/* HASH_OF gives an entry's hash so rehashing needs no per-type code. */
static void table_rehash(struct table *t, size_t nb, uint64_t (*hash_of)(const void *))
{
	struct chain **nbk = calloc(nb, sizeof(*nbk));
	if (!nbk)
		return; /* keep the old size: longer chains, still correct */
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct chain *c = t->buckets[i];
		while (c) {
			struct chain *next = c->next;
			size_t b = hash_of(c) & (nb - 1);
			c->next = nbk[b];
			nbk[b] = c;
			c = next;
		}
	}
	free(t->buckets);
	t->buckets = nbk;
	t->nbuckets = nb;
}

static uint64_t tag_entry_hash(const void *p)
{
	return ((const struct tag *)p)->hash;
}

static uint64_t obj_entry_hash(const void *p)
{
	return ptr_hash(((const struct obj *)p)->ptr);
}

static void table_grow(struct table *t, uint64_t (*hash_of)(const void *))
{
	if (t->count > t->nbuckets)
		table_rehash(t, t->nbuckets * 2, hash_of);
}

static void table_shrink(struct table *t, uint64_t (*hash_of)(const void *))
{
	if (t->nbuckets > TABLE_MIN && t->count < t->nbuckets / 8)
		table_rehash(t, t->nbuckets / 2, hash_of);
}

/* Unlink ENTRY from bucket B (it must be there). */
static void table_unlink(struct table *t, size_t b, struct chain *entry)
{
	struct chain **pp = &t->buckets[b];
	while (*pp != entry)
		pp = &(*pp)->next;
	*pp = entry->next;
	t->count--;
}

static void table_link(struct table *t, size_t b, struct chain *entry)
{
	entry->next = t->buckets[b];
	t->buckets[b] = entry;
	t->count++;
}

struct tag_index *tag_index_create(void)
{
	struct tag_index *ti = calloc(1, sizeof(*ti));
	if (!ti)
		return NULL;
	if (pthread_mutex_init(&ti->lock, NULL))
		goto fail;
	if (table_init(&ti->tags) || table_init(&ti->objs)) {
		pthread_mutex_destroy(&ti->lock);
		goto fail;
	}
	return ti;
fail:
	free(ti->tags.buckets);
	free(ti);
	return NULL;
}

static void obj_free(struct obj *o)
{
	while (o->blocks) {
		struct link_block *next = o->blocks->next;
		free(o->blocks);
		o->blocks = next;
	}
	free(o);
}

void tag_index_free(struct tag_index **tip)
{
	struct tag_index *ti = *tip;
	if (!ti)
		return;
	*tip = NULL;
	for (size_t i = 0; i < ti->objs.nbuckets; i++) {
		for (struct chain *c = ti->objs.buckets[i], *next; c; c = next) {
			next = c->next;
			obj_free((struct obj *)c);
		}
	}
	for (size_t i = 0; i < ti->tags.nbuckets; i++) {
		for (struct chain *c = ti->tags.buckets[i], *next; c; c = next) {
			struct tag *g = (struct tag *)c;
			next = c->next;
			free(g->members);
			free(g);
		}
	}
	free(ti->objs.buckets);
	free(ti->tags.buckets);
	pthread_mutex_destroy(&ti->lock);
	free(ti);
}

static struct tag *tag_find(struct tag_index *ti, const char *s, size_t len, uint64_t h)
{
	for (struct chain *c = ti->tags.buckets[h & (ti->tags.nbuckets - 1)]; c; c = c->next) {
		struct tag *g = (struct tag *)c;
		if (g->hash == h && g->len == len && memcmp(g->name, s, len) == 0)
			return g;
	}
	return NULL;
}

static struct tag *tag_get(struct tag_index *ti, const char *s, size_t len)
{
	uint64_t h = tag_hash(s, len);
	struct tag *g = tag_find(ti, s, len, h);
	if (g)
		return g;
	g = calloc(1, sizeof(*g) + len);
	if (!g)
		return NULL;
	g->hash = h;
	g->len = (uint16_t)len;
	memcpy(g->name, s, len);
	table_link(&ti->tags, h & (ti->tags.nbuckets - 1), &g->chain);
	table_grow(&ti->tags, tag_entry_hash);
	return g;
}

/* Drop G if it has no members left (it was created for nothing, or its
 * last object went). */
static void tag_put(struct tag_index *ti, struct tag *g)
{
	if (g->nmembers)
		return;
	table_unlink(&ti->tags, g->hash & (ti->tags.nbuckets - 1), &g->chain);
	free(g->members);
	free(g);
}

static struct obj *obj_find(struct tag_index *ti, void *ptr)
{
	for (struct chain *c = ti->objs.buckets[ptr_hash(ptr) & (ti->objs.nbuckets - 1)]; c;
	     c = c->next)
		if (((struct obj *)c)->ptr == ptr)
			return (struct obj *)c;
	return NULL;
}

static struct obj *obj_get(struct tag_index *ti, void *ptr)
{
	struct obj *o = obj_find(ti, ptr);
	if (o)
		return o;
	o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->ptr = ptr;
	table_link(&ti->objs, ptr_hash(ptr) & (ti->objs.nbuckets - 1), &o->chain);
	table_grow(&ti->objs, obj_entry_hash);
	return o;
}

/* Next tag in [*P, END): skips separators and OWS, returns its length
 * (0 at the end) with *START set, and moves *P past it. */
static size_t next_token(const char **p, const char *end, int space_sep, const char **start)
{
	const char *s = *p;
	if (space_sep) {
		while (s < end && (*s == ' ' || *s == '\t'))
			s++;
		const char *t = s;
		while (t < end && *t != ' ' && *t != '\t')
			t++;
		*start = s;
		*p = t;
		return (size_t)(t - s);
	}
	for (;;) {
		while (s < end && (*s == ' ' || *s == '\t' || *s == ','))
			s++;
		if (s == end) {
			*p = s;
			return 0;
		}
		const char *t = memchr(s, ',', (size_t)(end - s));
		if (!t)
			t = end;
		const char *e = t;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		*start = s;
		*p = t;
		return (size_t)(e - s);
	}
}

bool tags_has(const char *header, size_t len, int space_sep, const char *tag, size_t tlen)
{
	const char *p = header, *end = header + len, *s;
	size_t n;
	while ((n = next_token(&p, end, space_sep, &s)) != 0) {
		if (n == tlen && !memcmp(s, tag, tlen))
			return true;
	}
	return false;
}

static size_t count_tokens(const char *p, const char *end, int space_sep)
{
	size_t n = 0;
	const char *s;
	while (next_token(&p, end, space_sep, &s))
		n++;
	return n;
}

int tag_index_add(struct tag_index *ti, void *obj, const char *header, size_t len, int space_sep)
{
	const char *end = header + len;
	size_t ntok = count_tokens(header, end, space_sep);
	if (ntok == 0)
		return 0;
	if (ntok > TAGS_MAX_PER_OBJ)
		ntok = TAGS_MAX_PER_OBJ;
	/* Sized for the worst case before taking the lock; trimmed never:
	 * it lives as long as the object stays indexed. */
	struct link_block *blk = malloc(sizeof(*blk) + ntok * sizeof(blk->links[0]));
	if (!blk)
		return -ENOMEM;
	blk->n = 0;

	int rc = 0;
	pthread_mutex_lock(&ti->lock);
	struct obj *o = obj_get(ti, obj);
	if (!o) {
		pthread_mutex_unlock(&ti->lock);
		free(blk);
		return -ENOMEM;
	}
	/* Mark the tags the object already has, so duplicates (within this
	 * header or with an earlier one) are one membership. */
	uint64_t gen = ++ti->gen;
	for (struct link_block *b = o->blocks; b; b = b->next)
		for (uint32_t i = 0; i < b->n; i++)
			b->links[i].tag->mark = gen;

	const char *p = header, *s;
	size_t tl;
	while (o->ntags < TAGS_MAX_PER_OBJ && blk->n < ntok &&
	       (tl = next_token(&p, end, space_sep, &s)) != 0) {
		if (tl > TAG_MAX_LEN)
			continue;
		struct tag *g = tag_get(ti, s, tl);
		if (!g) {
			rc = -ENOMEM;
			break;
		}
		if (g->mark == gen)
			continue;
		if (g->nmembers == g->cap) {
			uint32_t ncap = g->cap ? g->cap * 2 : 4;
			struct tag_link **m = realloc(g->members, ncap * sizeof(*m));
			if (!m) {
				tag_put(ti, g);
				rc = -ENOMEM;
				break;
			}
			g->members = m;
			g->cap = ncap;
		}
		struct tag_link *l = &blk->links[blk->n++];
		l->tag = g;
		l->obj = o;
		l->pos = g->nmembers;
		g->members[g->nmembers++] = l;
		g->mark = gen;
		o->ntags++;
	}
	int added = (int)blk->n;
	if (blk->n) {
		blk->next = o->blocks;
		o->blocks = blk;
		blk = NULL;
	}
	if (o->ntags == 0) {
		table_unlink(&ti->objs, ptr_hash(obj) & (ti->objs.nbuckets - 1), &o->chain);
		obj_free(o);
	}
	pthread_mutex_unlock(&ti->lock);
	free(blk);
	/* On -ENOMEM the tags indexed so far stay, consistently:
	 * tag_index_remove still takes them all out. */
	return rc ? rc : added;
}

void tag_index_remove(struct tag_index *ti, void *obj)
{
	pthread_mutex_lock(&ti->lock);
	struct obj *o = obj_find(ti, obj);
	if (!o) {
		pthread_mutex_unlock(&ti->lock);
		return;
	}
	for (struct link_block *b = o->blocks; b; b = b->next) {
		for (uint32_t i = 0; i < b->n; i++) {
			struct tag_link *l = &b->links[i];
			struct tag *g = l->tag;
			/* Swap-remove: the last member takes L's slot. */
			struct tag_link *last = g->members[--g->nmembers];
			g->members[l->pos] = last;
			last->pos = l->pos;
			if (g->nmembers == 0) {
				tag_put(ti, g);
			} else if (g->cap > 16 && g->nmembers < g->cap / 4) {
				/* A big tag that was mostly purged gives memory back. */
				struct tag_link **m =
				    realloc(g->members, (g->cap / 2) * sizeof(*m));
				if (m) {
					g->members = m;
					g->cap /= 2;
				}
			}
		}
	}
	table_unlink(&ti->objs, ptr_hash(obj) & (ti->objs.nbuckets - 1), &o->chain);
	obj_free(o);
	table_shrink(&ti->objs, obj_entry_hash);
	table_shrink(&ti->tags, tag_entry_hash);
	pthread_mutex_unlock(&ti->lock);
}

size_t tag_index_collect(struct tag_index *ti, const char *tag, size_t len,
			 void (*fn)(void *obj, void *arg), void *arg)
{
	if (len == 0 || len > TAG_MAX_LEN)
		return 0;
	uint64_t h = tag_hash(tag, len);
	pthread_mutex_lock(&ti->lock);
	struct tag *g = tag_find(ti, tag, len, h);
	size_t n = 0;
	if (g) {
		n = g->nmembers;
		if (fn)
			for (uint32_t i = 0; i < g->nmembers; i++)
				fn(g->members[i]->obj->ptr, arg);
	}
	pthread_mutex_unlock(&ti->lock);
	return n;
}
