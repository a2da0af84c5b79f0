/* Unit tests of src/cache/dindex: the disk tier's index (versions by
 * sequence, variants, forced hash collisions, removal, segments,
 * rebuild tombstones, a million entries, threads). */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "cache/dindex.h"

#define BASE 1700000000

/* Well-spread hashes from small numbers (the daemon uses XXH3). */
static uint64_t mix(uint64_t k)
{
	k += 0x9E3779B97F4A7C15ull;
	k = (k ^ (k >> 30)) * 0xBF58476D1CE4E5B9ull;
	k = (k ^ (k >> 27)) * 0x94D049BB133111EBull;
	return k ^ (k >> 31);
}

static struct dindex_rec rec(uint64_t ph, uint32_t vh, uint32_t seg, uint32_t off, uint64_t seq)
{
	return (struct dindex_rec){
	    .phash = ph, .vhash = vh, .seg = seg, .off = off, .len = 100, .seq = seq};
}

Test(dindex, entry_is_32_bytes)
{
	cr_assert_eq(dindex_entry_size(), 32);
}

Test(dindex, insert_lookup_fields)
{
	struct dindex *ix = dindex_create(1000, 8, BASE);
	cr_assert_not_null(ix);
	const char key[] = "example.com\0/a";
	uint64_t ph = dindex_phash(key, sizeof(key) - 1);
	struct dindex_rec r = rec(ph, dindex_vhash("gzip", 4), 3, 4096, 7);
	r.len = 1001;
	r.expires = BASE + 3600;
	r.flags = DINDEX_F_VALIDATORS | DINDEX_F_SWR;
	cr_assert_eq(dindex_put(ix, &r), 1);
	struct dindex_rec g;
	cr_assert(dindex_get(ix, ph, r.vhash, &g));
	cr_assert_eq(g.phash, ph);
	cr_assert_eq(g.seg, 3);
	cr_assert_eq(g.off, 4096);
	cr_assert_eq(g.len, 1008); /* rounded up to the 8-byte record alignment */
	cr_assert_eq(g.expires, BASE + 3600);
	cr_assert_eq(g.seq, 7);
	cr_assert_eq(g.flags, DINDEX_F_VALIDATORS | DINDEX_F_SWR);
	cr_assert_eq(g.hits, 0);
	cr_assert_not(dindex_get(ix, ph, 0, NULL), "another variant is absent");
	cr_assert_not(dindex_get(ix, ph ^ 1, r.vhash, NULL));
	cr_assert_eq(dindex_count(ix), 1);
	cr_assert_eq(dindex_bytes(ix), 1008);
	dindex_free(&ix);
	cr_assert_null(ix);
}

Test(dindex, limits_are_refused)
{
	struct dindex *ix = dindex_create(1000, 8, BASE);
	struct dindex_rec r = rec(1, 0, 8, 0, 1);
	cr_assert_eq(dindex_put(ix, &r), -EINVAL, "segment out of range");
	r = rec(1, 0, 0, 12, 1);
	cr_assert_eq(dindex_put(ix, &r), -EINVAL, "offset not 8-aligned");
	r = rec(1, 0, 0, 0, 1);
	r.len = 0;
	cr_assert_eq(dindex_put(ix, &r), -EINVAL, "empty record");
	r.len = DINDEX_SPAN_MAX + 1;
	cr_assert_eq(dindex_put(ix, &r), -EINVAL, "record too long");
	r.len = DINDEX_SPAN_MAX;
	r.off = DINDEX_SPAN_MAX;
	cr_assert_eq(dindex_put(ix, &r), 1, "the largest offset and length fit");
	cr_assert_null(dindex_create(10, 0, BASE));
	cr_assert_null(dindex_create(10, DINDEX_SEG_MAX + 1, BASE));
	dindex_free(&ix);
}

Test(dindex, expiry_relative_to_base)
{
	struct dindex *ix = dindex_create(1000, 8, BASE);
	struct dindex_rec r = rec(1, 0, 0, 0, 1), g;
	r.expires = BASE - 50; /* before the base: still "expired", not "never" */
	dindex_put(ix, &r);
	dindex_get(ix, 1, 0, &g);
	cr_assert_eq(g.expires, BASE, "clamped to the base, which is past for any caller");
	r = rec(2, 0, 0, 8, 1); /* expires 0: never */
	dindex_put(ix, &r);
	dindex_get(ix, 2, 0, &g);
	cr_assert_eq(g.expires, 0);
	dindex_free(&ix);
}

Test(dindex, newer_sequence_wins_in_any_order)
{
	struct dindex *ix = dindex_create(1000, 8, BASE);
	struct dindex_rec a = rec(42, 0, 1, 0, 10), b = rec(42, 0, 2, 64, 20), g;
	/* Scan order newest first: the older record found next is ignored. */
	cr_assert_eq(dindex_put(ix, &b), 1);
	cr_assert_eq(dindex_put(ix, &a), 0);
	dindex_get(ix, 42, 0, &g);
	cr_assert_eq(g.seg, 2);
	cr_assert_eq(g.seq, 20);
	/* The same sequence again (a segment scanned twice) changes nothing. */
	cr_assert_eq(dindex_put(ix, &b), 0);
	/* Oldest first: the newer one replaces it. */
	struct dindex_rec c = rec(42, 0, 3, 128, 30);
	c.len = 4000;
	cr_assert_eq(dindex_put(ix, &c), 1);
	dindex_get(ix, 42, 0, &g);
	cr_assert_eq(g.seg, 3);
	cr_assert_eq(g.off, 128);
	cr_assert_eq(dindex_count(ix), 1);
	cr_assert_eq(dindex_bytes(ix), 4000);
	dindex_free(&ix);
}

Test(dindex, sequence_compared_as_serial_number)
{
	struct dindex *ix = dindex_create(1000, 8, BASE);
	uint64_t top = (1ull << DINDEX_SEQ_BITS) - 2; /* just before the 48-bit wrap */
	struct dindex_rec a = rec(5, 0, 1, 0, top), b = rec(5, 0, 2, 0, top + 5), g;
	cr_assert_eq(dindex_put(ix, &a), 1);
	cr_assert_eq(dindex_put(ix, &b), 1, "a number past the wrap is newer");
	dindex_get(ix, 5, 0, &g);
	cr_assert_eq(g.seg, 2);
	cr_assert_eq(g.seq, (top + 5) & ((1ull << DINDEX_SEQ_BITS) - 1));
	cr_assert_eq(dindex_put(ix, &a), 0);
	dindex_free(&ix);
}

Test(dindex, variants_of_one_key)
{
	struct dindex *ix = dindex_create(1000, 8, BASE);
	for (uint32_t v = 1; v <= 5; v++) {
		struct dindex_rec r = rec(99, v * 1000, 0, v * 8, v);
		cr_assert_eq(dindex_put(ix, &r), 1);
	}
	struct dindex_rec out[8];
	cr_assert_eq(dindex_lookup(ix, 99, out, 8), 5);
	bool seen[6] = {0};
	for (int i = 0; i < 5; i++) {
		cr_assert_eq(out[i].phash, 99);
		seen[out[i].vhash / 1000] = true;
	}
	for (int v = 1; v <= 5; v++)
		cr_assert(seen[v]);
	cr_assert_eq(dindex_lookup(ix, 99, out, 2), 5, "the count, even past MAX");
	cr_assert(dindex_remove(ix, 99, 3000));
	cr_assert_not(dindex_remove(ix, 99, 3000));
	cr_assert_eq(dindex_lookup(ix, 99, out, 8), 4);
	cr_assert_eq(dindex_lookup(ix, 98, out, 8), 0);
	dindex_free(&ix);
}

/* Keys that share a shard and a home slot pile into one probe cluster;
 * keys with the same full primary hash (a real collision) are variants to
 * the index, told apart only by the caller reading the record. */
Test(dindex, forced_collisions)
{
	struct dindex *ix = dindex_create(1000, 8, BASE);
	/* Same low 32 bits (shard and home), different high bits. */
	for (uint64_t i = 0; i < 200; i++) {
		struct dindex_rec r = rec((i << 32) | 0x1234567u, 0, 1, (uint32_t)i * 8, 1);
		cr_assert_eq(dindex_put(ix, &r), 1);
	}
	for (uint64_t i = 0; i < 200; i++) {
		struct dindex_rec g;
		cr_assert(dindex_get(ix, (i << 32) | 0x1234567u, 0, &g));
		cr_assert_eq(g.off, i * 8);
	}
	/* Remove from the middle of the cluster: everything else still found
	 * (backward-shift deletion kept the probe chains whole). */
	for (uint64_t i = 0; i < 200; i += 3)
		cr_assert(dindex_remove(ix, (i << 32) | 0x1234567u, 0));
	for (uint64_t i = 0; i < 200; i++)
		cr_assert_eq(dindex_get(ix, (i << 32) | 0x1234567u, 0, NULL), i % 3 != 0);
	/* Two keys with one primary hash but other secondary hashes: both
	 * come back from a lookup; the record's full key decides. */
	struct dindex_rec x = rec(777, 0, 2, 0, 1), y = rec(777, 1, 2, 8, 2), out[4];
	dindex_put(ix, &x);
	dindex_put(ix, &y);
	cr_assert_eq(dindex_lookup(ix, 777, out, 4), 2);
	/* A tombstone for the hash takes both: a miss, not a wrong hit. */
	cr_assert_eq(dindex_tombstone(ix, 777, UINT64_MAX), 2);
	dindex_free(&ix);
}

/* Random puts and removes in one small shard, against a plain array: the
 * table grows and wraps around its end, and backward-shift deletion must
 * keep every remaining entry reachable. */
Test(dindex, model_check_one_shard, .timeout = 60)
{
	enum { KEYS = 3000, OPS = 200000 };
	static bool present[KEYS];
	static uint64_t seqs[KEYS];
	memset(present, 0, sizeof(present));
	struct dindex *ix = dindex_create(16, 1, BASE);
	uint64_t x = 12345, live = 0;
	for (uint32_t op = 0; op < OPS; op++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		uint32_t k = (uint32_t)(x >> 33) % KEYS;
		uint64_t ph = mix(k) << 6; /* low 6 bits 0: always shard 0 */
		if ((x >> 20) % 3) {
			struct dindex_rec r = rec(ph, 0, 0, (op % 1000) * 8, op + 1);
			cr_assert_eq(dindex_put(ix, &r), 1);
			live += !present[k];
			present[k] = true;
			seqs[k] = op + 1;
		} else {
			cr_assert_eq(dindex_remove(ix, ph, 0), present[k]);
			live -= present[k];
			present[k] = false;
		}
		if (op % 20000 == 0 || op == OPS - 1) {
			cr_assert_eq(dindex_count(ix), live);
			for (uint32_t j = 0; j < KEYS; j++) {
				struct dindex_rec g;
				bool there = dindex_get(ix, mix(j) << 6, 0, &g);
				cr_assert_eq(there, present[j], "key %u at op %u", j, op);
				if (there)
					cr_assert_eq(g.seq, seqs[j]);
			}
		}
	}
	dindex_free(&ix);
}

Test(dindex, hits_saturate_and_relocate_resets)
{
	struct dindex *ix = dindex_create(1000, 8, BASE);
	struct dindex_rec r = rec(1, 0, 0, 0, 1), g;
	dindex_put(ix, &r);
	for (int i = 0; i < 40; i++)
		cr_assert(dindex_hit(ix, 1, 0));
	cr_assert_not(dindex_hit(ix, 2, 0));
	dindex_get(ix, 1, 0, &g);
	cr_assert_eq(g.hits, DINDEX_HITS_MAX);
	cr_assert_not(dindex_relocate(ix, 1, 0, 0, 8, 4, 0), "not where the copy came from");
	cr_assert(dindex_relocate(ix, 1, 0, 0, 0, 4, 256));
	dindex_get(ix, 1, 0, &g);
	cr_assert_eq(g.seg, 4);
	cr_assert_eq(g.off, 256);
	cr_assert_eq(g.hits, 0);
	cr_assert_eq(g.seq, 1, "a copy keeps its version's sequence");
	/* Now listed in segment 4: clearing 0 leaves it, clearing 4 takes it. */
	cr_assert_eq(dindex_seg_clear(ix, 0), 0);
	cr_assert_eq(dindex_seg_clear(ix, 4), 1);
	cr_assert_eq(dindex_count(ix), 0);
	dindex_free(&ix);
}

Test(dindex, remove_at_checks_location)
{
	struct dindex *ix = dindex_create(1000, 8, BASE);
	struct dindex_rec r = rec(1, 0, 2, 64, 1);
	dindex_put(ix, &r);
	cr_assert_not(dindex_remove_at(ix, 1, 0, 2, 72));
	cr_assert_not(dindex_remove_at(ix, 1, 0, 3, 64));
	cr_assert(dindex_remove_at(ix, 1, 0, 2, 64));
	cr_assert_eq(dindex_count(ix), 0);
	dindex_free(&ix);
}

static bool keep_odd_vhash(const struct dindex_rec *r, void *arg)
{
	(*(int *)arg)++;
	return r->vhash & 1;
}

static bool count_keep(const struct dindex_rec *r, void *arg)
{
	uint32_t *offs = arg;
	offs[++offs[0]] = r->off;
	return true;
}

/* An entry removed and put back at the same place is listed twice in its
 * segment; a walk still sees it once, and in write order. */
Test(dindex, walk_sees_each_entry_once_in_order)
{
	struct dindex *ix = dindex_create(1000, 2, BASE);
	for (uint32_t i = 0; i < 10; i++) {
		struct dindex_rec r = rec(mix(i), 0, 1, i * 104, i + 1);
		dindex_put(ix, &r);
	}
	struct dindex_rec r = rec(mix(4), 0, 1, 4 * 104, 5);
	cr_assert(dindex_remove(ix, mix(4), 0));
	cr_assert_eq(dindex_put(ix, &r), 1);
	uint32_t offs[16] = {0};
	cr_assert_eq(dindex_seg_walk(ix, 1, count_keep, offs, NULL), 10);
	cr_assert_eq(offs[0], 10);
	for (uint32_t i = 0; i < 10; i++)
		cr_assert_eq(offs[i + 1], i * 104);
	dindex_free(&ix);
}

Test(dindex, segment_removal_leaves_other_segments)
{
	struct dindex *ix = dindex_create(10000, 4, BASE);
	for (uint32_t i = 0; i < 4000; i++) {
		struct dindex_rec r = rec(mix(i), i, i % 4, (i / 4) * 8, i + 1);
		cr_assert_eq(dindex_put(ix, &r), 1);
	}
	/* Replace some of segment 1's entries by newer records in segment 2,
	 * and purge others: segment 1's list still names them, the walk must
	 * skip them. */
	for (uint32_t i = 1; i < 4000; i += 8) {
		struct dindex_rec r = rec(mix(i), i, 2, 8000 + i * 8, 10000 + i);
		cr_assert_eq(dindex_put(ix, &r), 1);
	}
	for (uint32_t i = 5; i < 4000; i += 8)
		cr_assert(dindex_remove(ix, mix(i), i));
	int calls = 0;
	size_t removed = 0;
	size_t kept = dindex_seg_walk(ix, 1, keep_odd_vhash, &calls, &removed);
	cr_assert_eq(calls, 0, "segment 1 holds odd i only, and i %% 8 in {1,5} left it");
	cr_assert_eq(kept, 0);
	(void)removed;
	/* Segment 3: i % 4 == 3, all odd: the walk keeps them all. */
	calls = 0;
	kept = dindex_seg_walk(ix, 3, keep_odd_vhash, &calls, &removed);
	cr_assert_eq(calls, 1000);
	cr_assert_eq(kept, 1000);
	cr_assert_eq(removed, 0);
	/* Segment 0: even vhash, the walk removes them all. */
	calls = 0;
	kept = dindex_seg_walk(ix, 0, keep_odd_vhash, &calls, &removed);
	cr_assert_eq(kept, 0);
	cr_assert_eq(removed, 1000);
	for (uint32_t i = 0; i < 4000; i += 4)
		cr_assert_not(dindex_get(ix, mix(i), i, NULL));
	/* Segment 2 was untouched by all that: its own 1000 and the 500 moved in. */
	uint64_t before = dindex_count(ix);
	cr_assert_eq(before, 1000 + 1000 + 500);
	cr_assert_eq(dindex_seg_clear(ix, 2), 1500);
	cr_assert_eq(dindex_count(ix), 1000);
	for (uint32_t i = 3; i < 4000; i += 4) {
		struct dindex_rec g;
		cr_assert(dindex_get(ix, mix(i), i, &g));
		cr_assert_eq(g.seg, 3);
	}
	dindex_free(&ix);
}

/* Rebuild scans segments in any order; a tombstone (a purge) found before
 * or after the records it covers removes them all the same. */
Test(dindex, rebuild_tombstones_any_order)
{
	struct dindex *ix = dindex_create(1000, 8, BASE);
	dindex_rebuild_begin(ix);
	/* Key 1: the tombstone at 50 is seen first, then records 40 (gone) and 60 (newer: kept). */
	cr_assert_eq(dindex_tombstone(ix, 1, 50), 0);
	struct dindex_rec r40 = rec(1, 0, 0, 0, 40), r60 = rec(1, 7, 1, 0, 60);
	cr_assert_eq(dindex_put(ix, &r40), 0, "below the tombstone");
	cr_assert_eq(dindex_put(ix, &r60), 1, "above it");
	/* Key 2: records first, then the tombstone removes the older variants. */
	struct dindex_rec a = rec(2, 1, 2, 0, 10), b = rec(2, 2, 2, 8, 70);
	dindex_put(ix, &a);
	dindex_put(ix, &b);
	cr_assert_eq(dindex_tombstone(ix, 2, 50), 1);
	cr_assert_not(dindex_get(ix, 2, 1, NULL));
	cr_assert(dindex_get(ix, 2, 2, NULL));
	/* Two tombstones: the higher one rules. */
	dindex_tombstone(ix, 3, 20);
	dindex_tombstone(ix, 3, 90);
	dindex_tombstone(ix, 3, 30);
	struct dindex_rec c = rec(3, 0, 3, 0, 80);
	cr_assert_eq(dindex_put(ix, &c), 0);
	dindex_rebuild_end(ix);
	/* After the rebuild, tombstones are forgotten: writes are newer. */
	c.seq = 95;
	cr_assert_eq(dindex_put(ix, &c), 1);
	cr_assert_eq(dindex_mem(ix) > 0, true);
	cr_assert_eq(dindex_count(ix), 3);
	dindex_free(&ix);
}

Test(dindex, sizing)
{
	cr_assert_eq(dindex_expected(10ull << 30, 0), (10ull << 30) / 16384);
	cr_assert_eq(dindex_expected(10ull << 30, 4096), (10ull << 30) / 4096);
	cr_assert_eq(dindex_expected(1 << 20, 1 << 20), 1024, "at least 1024");
}

/* A million inserts into an index sized for a tenth of them: it grows,
 * keeps every entry, and stays within the memory the header states. */
Test(dindex, million_entries, .timeout = 60)
{
	const uint32_t n = 1000000, nsegs = 256;
	struct dindex *ix = dindex_create(100000, nsegs, BASE);
	for (uint32_t i = 0; i < n; i++) {
		struct dindex_rec r = rec(mix(i), 0, i % nsegs, (i / nsegs) * 8, i + 1);
		cr_assert_eq(dindex_put(ix, &r), 1);
	}
	cr_assert_eq(dindex_count(ix), n);
	for (uint32_t i = 0; i < n; i += 7) {
		struct dindex_rec g;
		cr_assert(dindex_get(ix, mix(i), 0, &g));
		cr_assert_eq(g.seq, i + 1);
	}
	/* Grown by halves from a wrong guess: at most 64 bytes of table and 16
	 * of segment lists (doubling arrays) per object. */
	cr_assert_leq(dindex_mem(ix), (uint64_t)n * 80);
	size_t gone = 0;
	for (uint32_t s = 0; s < nsegs; s += 2)
		gone += dindex_seg_clear(ix, s);
	cr_assert_eq(gone, n / 2);
	cr_assert_eq(dindex_count(ix), n / 2);
	dindex_free(&ix);
}

Test(dindex, presized_million_memory, .timeout = 60)
{
	const uint32_t n = 1000000;
	struct dindex *ix = dindex_create(n, 256, BASE);
	uint64_t empty = dindex_mem(ix);
	/* 4/3 slots of 32 bytes per expected object, up front. */
	cr_assert_leq(empty, (uint64_t)n * 44);
	cr_assert_geq(empty, (uint64_t)n * 42);
	dindex_free(&ix);
}

/* Threads: each one writes, hits, reads and purges its own keys and walks
 * its own segment, all at once; counts add up and nothing races (run under
 * the sanitizers in build-asan). */
#define THREADS	   4
#define PER_THREAD 20000

struct worker {
	struct dindex *ix;
	uint32_t id;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	uint32_t seg = w->id;
	for (uint32_t i = 0; i < PER_THREAD; i++) {
		uint64_t ph = mix((uint64_t)w->id << 32 | i);
		struct dindex_rec r = rec(ph, i & 3, seg, i * 8, i + 1);
		cr_assert_eq(dindex_put(w->ix, &r), 1);
		dindex_hit(w->ix, ph, i & 3);
		struct dindex_rec out[4];
		cr_assert_geq(dindex_lookup(w->ix, ph, out, 4), 1);
		if (i % 4 == 0)
			cr_assert(dindex_remove(w->ix, ph, i & 3));
		if (i % 1000 == 999) /* and a foreign read of the gauges */
			(void)dindex_bytes(w->ix);
	}
	int calls = 0;
	size_t removed = 0;
	dindex_seg_walk(w->ix, seg, keep_odd_vhash, &calls, &removed);
	cr_assert_eq(calls, PER_THREAD * 3 / 4);
	return NULL;
}

Test(dindex, threads, .timeout = 60)
{
	struct dindex *ix = dindex_create(1000, THREADS, BASE);
	pthread_t t[THREADS];
	struct worker w[THREADS];
	for (uint32_t i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ix, i};
		cr_assert_eq(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	}
	for (uint32_t i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	/* Per thread: 3/4 survived removal, half of those have an odd vhash. */
	cr_assert_eq(dindex_count(ix), (uint64_t)THREADS * PER_THREAD / 2);
	dindex_free(&ix);
}

/* A hit counted from a copy held elsewhere (memory) lands only on the
 * entry of that version: a newer version in memory does not keep an
 * older one alive on disk through reinsertion. */
Test(dindex, a_hit_by_version_counts_only_on_that_version)
{
	struct dindex *ix = dindex_create(1000, 8, BASE);
	cr_assert_not_null(ix);
	struct dindex_rec r = {.phash = 42, .vhash = 7, .seg = 1, .off = 0, .len = 64, .seq = 100};
	cr_assert_eq(dindex_put(ix, &r), 1);
	cr_assert(!dindex_hit_version(ix, 42, 7, 101), "another version");
	cr_assert(!dindex_hit_version(ix, 42, 8, 100), "another variant");
	cr_assert(!dindex_hit_version(ix, 43, 7, 100), "another key");
	struct dindex_rec got;
	cr_assert(dindex_get(ix, 42, 7, &got));
	cr_assert_eq(got.hits, 0);
	cr_assert(dindex_hit_version(ix, 42, 7, 100));
	cr_assert(dindex_hit_version(ix, 42, 7, 100 + (1ull << DINDEX_SEQ_BITS)),
		  "compared in the 48 bits kept");
	cr_assert(dindex_get(ix, 42, 7, &got));
	cr_assert_eq(got.hits, 2);
	dindex_free(&ix);
}
