/* Unit tests of src/cache/tags: Surrogate-Key / Cache-Tag parsing and the tag -> objects index. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/tags.h"

static struct tag_index *ti;

static void setup(void)
{
	ti = tag_index_create();
	cr_assert_not_null(ti);
}

static void teardown(void)
{
	tag_index_free(&ti);
	cr_assert_null(ti);
}

TestSuite(cache_tags, .init = setup, .fini = teardown);

static int add_sk(void *obj, const char *h)
{
	return tag_index_add(ti, obj, h, strlen(h), 1);
}

static int add_ct(void *obj, const char *h)
{
	return tag_index_add(ti, obj, h, strlen(h), 0);
}

static size_t count(const char *tag)
{
	return tag_index_collect(ti, tag, strlen(tag), NULL, NULL);
}

/* Collects into a small set so tests can check exactly which objects. */
struct seen {
	void *objs[64];
	size_t n;
};

static void collect_fn(void *obj, void *arg)
{
	struct seen *s = arg;
	for (size_t i = 0; i < s->n; i++)
		cr_assert_neq(s->objs[i], obj, "object reported twice");
	cr_assert_lt(s->n, 64);
	s->objs[s->n++] = obj;
}

static bool has(const struct seen *s, void *obj)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->objs[i] == obj)
			return true;
	return false;
}

static int o1, o2, o3;

Test(cache_tags, surrogate_key_space_separated)
{
	cr_assert_eq(add_sk(&o1, "  product-42 \tcategory-7  all "), 3);
	cr_assert_eq(count("product-42"), 1);
	cr_assert_eq(count("category-7"), 1);
	cr_assert_eq(count("all"), 1);
	cr_assert_eq(count("product"), 0);
	cr_assert_eq(count("Product-42"), 0, "tags are case-sensitive");
	/* Commas are part of a Surrogate-Key tag. */
	cr_assert_eq(add_sk(&o2, "a,b c"), 2);
	cr_assert_eq(count("a,b"), 1);
	cr_assert_eq(count("a"), 0);
}

Test(cache_tags, cache_tag_comma_separated_with_ows)
{
	cr_assert_eq(add_ct(&o1, " product-42 ,category-7,\t all\t,, ,last"), 4);
	cr_assert_eq(count("product-42"), 1);
	cr_assert_eq(count("category-7"), 1);
	cr_assert_eq(count("all"), 1);
	cr_assert_eq(count("last"), 1);
	cr_assert_eq(count(" all"), 0);
	/* Inner spaces stay part of a Cache-Tag tag. */
	cr_assert_eq(add_ct(&o2, "two words, x"), 2);
	cr_assert_eq(count("two words"), 1);
	cr_assert_eq(count("x"), 1);
}

Test(cache_tags, empty_headers)
{
	cr_assert_eq(add_sk(&o1, ""), 0);
	cr_assert_eq(add_sk(&o1, "   \t "), 0);
	cr_assert_eq(add_ct(&o1, " , ,, "), 0);
	cr_assert_eq(tag_index_add(ti, &o1, NULL, 0, 1), 0);
	tag_index_remove(ti, &o1); /* never indexed: no-op */
	cr_assert_eq(count(""), 0);
}

Test(cache_tags, length_not_nul)
{
	const char h[] = "abc def";
	cr_assert_eq(tag_index_add(ti, &o1, h, 5, 1), 2);
	cr_assert_eq(count("abc"), 1);
	cr_assert_eq(count("d"), 1);
	cr_assert_eq(count("def"), 0);
}

Test(cache_tags, duplicates_count_once)
{
	cr_assert_eq(add_sk(&o1, "a b a c b a"), 3);
	cr_assert_eq(count("a"), 1);
	/* Also across calls: Surrogate-Key and Cache-Tag on one response. */
	cr_assert_eq(add_ct(&o1, "c, d, a"), 1);
	cr_assert_eq(count("c"), 1);
	cr_assert_eq(count("d"), 1);
	tag_index_remove(ti, &o1);
	cr_assert_eq(count("a") + count("b") + count("c") + count("d"), 0);
}

Test(cache_tags, collect_and_remove)
{
	cr_assert_eq(add_sk(&o1, "shared one"), 2);
	cr_assert_eq(add_sk(&o2, "shared two"), 2);
	cr_assert_eq(add_ct(&o3, "shared, three"), 2);

	struct seen s = {0};
	cr_assert_eq(tag_index_collect(ti, "shared", 6, collect_fn, &s), 3);
	cr_assert_eq(s.n, 3);
	cr_assert(has(&s, &o1) && has(&s, &o2) && has(&s, &o3));

	tag_index_remove(ti, &o2);
	s.n = 0;
	cr_assert_eq(tag_index_collect(ti, "shared", 6, collect_fn, &s), 2);
	cr_assert(has(&s, &o1) && has(&s, &o3) && !has(&s, &o2));
	cr_assert_eq(count("two"), 0);
	cr_assert_eq(count("one"), 1);

	tag_index_remove(ti, &o2); /* again: no-op */
	tag_index_remove(ti, &o1);
	tag_index_remove(ti, &o3);
	cr_assert_eq(count("shared"), 0);

	/* A removed object can be indexed again. */
	cr_assert_eq(add_sk(&o1, "shared"), 1);
	cr_assert_eq(count("shared"), 1);
}

Test(cache_tags, limits)
{
	/* 300 distinct tags: only the first 256 are indexed. */
	size_t cap = 300 * 8;
	char *h = malloc(cap), *p = h;
	for (int i = 0; i < 300; i++)
		p += sprintf(p, "t%d ", i);
	cr_assert_eq(add_sk(&o1, h), 256);
	cr_assert_eq(count("t0"), 1);
	cr_assert_eq(count("t255"), 1);
	cr_assert_eq(count("t256"), 0);
	/* The object is full: later headers add nothing more. */
	cr_assert_eq(add_sk(&o1, "late"), 0);
	cr_assert_eq(count("late"), 0);
	/* Duplicates do not use up the allowance. */
	p = h;
	for (int i = 0; i < 200; i++)
		p += sprintf(p, "same ");
	p += sprintf(p, "other");
	cr_assert_eq(add_sk(&o2, h), 2);
	free(h);

	/* 256 bytes is the longest tag; a longer one is skipped, not cut. */
	char long_tag[300];
	memset(long_tag, 'x', 256);
	long_tag[256] = '\0';
	cr_assert_eq(add_sk(&o3, long_tag), 1);
	cr_assert_eq(count(long_tag), 1);
	memset(long_tag, 'y', 257);
	long_tag[257] = '\0';
	char hdr[400];
	snprintf(hdr, sizeof(hdr), "%s, ok", long_tag);
	cr_assert_eq(add_ct(&o3, hdr), 1);
	cr_assert_eq(count(long_tag), 0);
	long_tag[256] = '\0';
	cr_assert_eq(count(long_tag), 0, "not truncated to 256");
	cr_assert_eq(count("ok"), 1);
}

Test(cache_tags, many_objects)
{
	/* Enough objects and tags to grow both tables several times, then a
	 * mass purge that shrinks them again. */
	enum { N = 20000 };
	char *objs = malloc(N);
	char h[128];
	for (int i = 0; i < N; i++) {
		snprintf(h, sizeof(h), "all mod10-%d obj-%d mod7-%d", i % 10, i, i % 7);
		cr_assert_eq(add_sk(&objs[i], h), 4);
	}
	cr_assert_eq(count("all"), N);
	cr_assert_eq(count("mod10-3"), N / 10);
	cr_assert_eq(count("obj-12345"), 1);
	size_t m7 = 0;
	for (int i = 0; i < 7; i++) {
		snprintf(h, sizeof(h), "mod7-%d", i);
		m7 += count(h);
	}
	cr_assert_eq(m7, N);

	/* Purge the mod10-3 objects the way the store does: collect, then remove. */
	for (int i = 3; i < N; i += 10)
		tag_index_remove(ti, &objs[i]);
	cr_assert_eq(count("mod10-3"), 0);
	cr_assert_eq(count("all"), N - N / 10);
	cr_assert_eq(count("obj-13"), 0);
	cr_assert_eq(count("obj-14"), 1);

	for (int i = 0; i < N; i++)
		tag_index_remove(ti, &objs[i]);
	cr_assert_eq(count("all"), 0);
	cr_assert_eq(add_sk(&objs[0], "again"), 1);
	free(objs);
}

/* --- concurrency -------------------------------------------------------- */

enum { THREADS = 4, PER = 500 };

/* Workers count failures instead of asserting: Criterion asserts belong
 * to the test's own thread. */
struct worker {
	int id;
	int errors;
	char objs[PER];
};

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	char h[96];
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < PER; i++) {
			snprintf(h, sizeof(h), "common, t%d, o%d-%d", w->id, w->id, i);
			w->errors += add_ct(&w->objs[i], h) != 3;
		}
		w->errors += count("common") < PER;
		for (int i = 0; i < PER; i += 2)
			tag_index_remove(ti, &w->objs[i]);
		if (round < 3)
			for (int i = 1; i < PER; i += 2)
				tag_index_remove(ti, &w->objs[i]);
	}
	return NULL;
}

Test(cache_tags, concurrent_smoke)
{
	static struct worker w[THREADS];
	pthread_t th[THREADS];
	for (int t = 0; t < THREADS; t++) {
		w[t].id = t;
		cr_assert_eq(pthread_create(&th[t], NULL, worker_fn, &w[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
		cr_assert_eq(w[t].errors, 0, "thread %d", t);
	}
	/* Each thread left its odd objects indexed. */
	cr_assert_eq(count("common"), THREADS * PER / 2);
	cr_assert_eq(count("t0"), PER / 2);
	cr_assert_eq(count("o1-1"), 1);
	cr_assert_eq(count("o1-2"), 0);
}

/* tags_has reads a header value as tag_index_add does (the disk tier
 * tests records read back with it). */
Test(cache_tags, tags_has_reads_both_forms)
{
	const char *sk = "  red  blue\tgreen ";
	cr_assert(tags_has(sk, strlen(sk), 1, "red", 3));
	cr_assert(tags_has(sk, strlen(sk), 1, "green", 5));
	cr_assert_not(tags_has(sk, strlen(sk), 1, "re", 2), "whole tags only");
	cr_assert_not(tags_has(sk, strlen(sk), 1, "Red", 3), "case-sensitive");
	const char *ct = "red, light blue ,green,,";
	cr_assert(tags_has(ct, strlen(ct), 0, "light blue", 10));
	cr_assert(tags_has(ct, strlen(ct), 0, "green", 5));
	cr_assert_not(tags_has(ct, strlen(ct), 0, "blue", 4));
	cr_assert_not(tags_has("", 0, 0, "red", 3));
	cr_assert_not(tags_has("   ", 3, 1, "red", 3));
}
