/* Unit tests of src/cache/dseg: the disk tier's segments (fill and seal
 * order, FIFO eviction, reinsertion of hit entries only and its bound,
 * wrap-around, rebuild from scrambled sequence numbers, a crash's half
 * written segment), over a real dindex. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "cache/dseg.h"

#define NOW 1700000000

/* A pretend I/O engine: appends records, rolls, evicts and copies the
 * entries the eviction kept, as dseg.h's flow says. */
struct eng {
	struct dseg *ds;
	struct dindex *ix;
	uint64_t seq;
	uint32_t evicted[64]; /* the first evictions, in order */
	size_t nevicted;
	size_t max_keep_bytes;
};

static void eng_init(struct eng *e, uint32_t nsegs, uint32_t seg_size, uint32_t rmax)
{
	memset(e, 0, sizeof(*e));
	struct dseg_conf c = {.nsegs = nsegs, .seg_size = seg_size, .reinsert_max = rmax};
	e->ds = dseg_create(&c);
	cr_assert_not_null(e->ds);
	e->ix = dindex_create(1000, nsegs, NOW);
	cr_assert_not_null(e->ix);
}

static void eng_fini(struct eng *e)
{
	dseg_free(&e->ds);
	dindex_free(&e->ix);
}

static void eng_evict(struct eng *e)
{
	struct dseg_victim v;
	cr_assert_eq(dseg_evict(e->ds, e->ix, NOW, &v), 1);
	if (e->nevicted < 64)
		e->evicted[e->nevicted++] = v.seg;
	if (v.keep_bytes > e->max_keep_bytes)
		e->max_keep_bytes = v.keep_bytes;
	int64_t open = dseg_open(e->ds);
	for (size_t i = 0; i < v.n; i++) {
		uint32_t seg, off;
		/* The open segment is fresh and the bound is at most half of it:
		 * every copy fits without another roll. */
		cr_assert_eq(dseg_reserve(e->ds, v.keep[i].len, ++e->seq, &seg, &off), 0);
		cr_assert_eq(seg, open);
		cr_assert(dindex_relocate(e->ix, v.keep[i].phash, v.keep[i].vhash, v.seg,
					  v.keep[i].off, seg, off));
	}
	cr_assert_eq(dseg_release(e->ds, e->ix, v.seg), 0);
	dseg_victim_fini(&v);
}

/* Write one record of LEN bytes for key PH; returns where it went. */
static struct dindex_rec eng_write(struct eng *e, uint64_t ph, uint32_t len)
{
	uint32_t seg, off;
	uint64_t s = ++e->seq;
	while (dseg_reserve(e->ds, len, s, &seg, &off) == DSEG_ROLL) {
		cr_assert_eq(dseg_roll(e->ds), 0);
		if (dseg_need_evict(e->ds))
			eng_evict(e);
	}
	struct dindex_rec r = {.phash = ph, .seg = seg, .off = off, .len = len, .seq = s};
	cr_assert_eq(dindex_put(e->ix, &r), 1);
	return r;
}

Test(dseg, bad_conf)
{
	struct dseg_conf c = {.nsegs = 1, .seg_size = 4096};
	cr_assert_null(dseg_create(&c), "one segment cannot rotate");
	c = (struct dseg_conf){.nsegs = 4, .seg_size = 4100};
	cr_assert_null(dseg_create(&c), "size not 8-aligned");
	c = (struct dseg_conf){.nsegs = 4, .seg_size = 4096, .reinsert_max = 3000};
	cr_assert_null(dseg_create(&c), "bound over half a segment");
	c = (struct dseg_conf){.nsegs = 4, .seg_size = 32u << 20};
	cr_assert_null(dseg_create(&c), "larger than the index can address");
}

Test(dseg, fill_and_seal_order)
{
	struct dseg_conf c = {.nsegs = 4, .seg_size = 1024};
	struct dseg *ds = dseg_create(&c);
	uint32_t seg, off;
	cr_assert_eq(dseg_reserve(ds, 100, 1, &seg, &off), DSEG_ROLL, "nothing open yet");
	cr_assert_eq(dseg_reserve(ds, 1025, 1, &seg, &off), -EINVAL);
	cr_assert_eq(dseg_roll(ds), 0);
	cr_assert_eq(dseg_open(ds), 0);
	cr_assert_eq(dseg_roll(ds), 0, "an empty open segment stays open");
	cr_assert_eq(dseg_open(ds), 0);
	uint64_t seq = 0;
	for (uint32_t want = 0; want < 4; want++) {
		/* 104 bytes a record (100 rounded up to 8): nine fit in 1024. */
		for (uint32_t k = 0; k < 9; k++) {
			cr_assert_eq(dseg_reserve(ds, 100, ++seq, &seg, &off), 0);
			cr_assert_eq(seg, want);
			cr_assert_eq(off, k * 104);
		}
		cr_assert_eq(dseg_reserve(ds, 100, seq + 1, &seg, &off), DSEG_ROLL);
		struct dseg_info in;
		dseg_info(ds, want, &in);
		cr_assert_eq(in.state, DSEG_OPEN);
		cr_assert_eq(in.used, 936);
		cr_assert_eq(in.first_seq, want * 9 + 1);
		cr_assert_eq(in.last_seq, want * 9 + 9);
		int rc = dseg_roll(ds);
		cr_assert_eq(rc, want < 3 ? 0 : -ENOSPC);
		dseg_info(ds, want, &in);
		cr_assert_eq(in.state, DSEG_SEALED);
	}
	uint32_t order[4];
	cr_assert_eq(dseg_order(ds, order, 4), 4);
	for (uint32_t i = 0; i < 4; i++)
		cr_assert_eq(order[i], i);
	cr_assert_eq(dseg_open(ds), -1);
	cr_assert_eq(dseg_free_count(ds), 0);
	dseg_free(&ds);
}

Test(dseg, eviction_is_fifo)
{
	struct eng e;
	eng_init(&e, 4, 1024, 0);
	/* 9 records a segment; 100 of them wrap the 4 segments several times. */
	for (uint64_t k = 0; k < 100; k++)
		eng_write(&e, k + 1, 100);
	cr_assert_geq(e.nevicted, 8);
	for (size_t i = 0; i < e.nevicted; i++)
		cr_assert_eq(e.evicted[i], i % 4, "eviction %zu took segment %u", i, e.evicted[i]);
	/* Nothing was hit: only the records of the segments still held remain. */
	uint32_t order[4];
	size_t n = dseg_order(e.ds, order, 4);
	cr_assert_eq(n, 2, "one segment free or freed, one open, the rest sealed");
	uint64_t live = dindex_count(e.ix);
	struct dseg_info in;
	uint64_t held = 0;
	for (size_t i = 0; i < n; i++) {
		dseg_info(e.ds, order[i], &in);
		held += in.used / 104;
	}
	dseg_info(e.ds, (uint32_t)dseg_open(e.ds), &in);
	held += in.used / 104;
	cr_assert_eq(live, held);
	struct dseg_stats st;
	dseg_stats(e.ds, &st);
	cr_assert_eq(st.evictions, e.nevicted);
	cr_assert_eq(st.reinserted, 0);
	eng_fini(&e);
}

Test(dseg, reinserts_hit_entries_only)
{
	struct eng e;
	eng_init(&e, 3, 1024, 512);
	struct dindex_rec r[9];
	for (uint64_t k = 0; k < 9; k++)
		r[k] = eng_write(&e, k + 1, 100); /* fills segment 0 */
	cr_assert_eq(r[8].seg, 0);
	dindex_hit(e.ix, 2, 0);
	dindex_hit(e.ix, 5, 0);
	/* Key 7 hit but expired: not worth a copy. (The same version again
	 * would be ignored by put, so it goes first.) */
	struct dindex_rec x = r[6];
	x.expires = NOW - 1;
	x.hits = 3;
	cr_assert(dindex_remove(e.ix, 7, 0));
	cr_assert_eq(dindex_put(e.ix, &x), 1);
	for (uint64_t k = 9; k < 18; k++)
		eng_write(&e, k + 1, 100); /* segment 1 */
	cr_assert_eq(e.nevicted, 0);
	eng_write(&e, 100, 100); /* rolls into 2, the last free: segment 0 goes */
	cr_assert_eq(e.nevicted, 1);
	cr_assert_eq(e.evicted[0], 0);
	for (uint64_t k = 0; k < 9; k++) {
		struct dindex_rec g;
		bool there = dindex_get(e.ix, k + 1, 0, &g);
		cr_assert_eq(there, k == 1 || k == 4, "key %lu", (unsigned long)k + 1);
		if (there) {
			cr_assert_eq(g.seg, 2, "copied into the open segment");
			cr_assert_eq(g.hits, 0, "a copy must be hit again to stay");
			cr_assert_eq(g.seq, r[k].seq, "its version is unchanged");
		}
	}
	struct dseg_stats st;
	dseg_stats(e.ds, &st);
	cr_assert_eq(st.reinserted, 2);
	cr_assert_eq(st.reinserted_bytes, 208);
	cr_assert_eq(st.removed, 7);
	cr_assert_eq(st.over_bound, 0);
	struct dseg_info in;
	dseg_info(e.ds, 0, &in);
	cr_assert_eq(in.state, DSEG_FREE);
	eng_fini(&e);
}

Test(dseg, reinsertion_bound_keeps_most_hit)
{
	struct eng e;
	eng_init(&e, 3, 1024, 256); /* two 104-byte copies fit, not three */
	for (uint64_t k = 0; k < 9; k++)
		eng_write(&e, k + 1, 100);
	/* Every entry hit; keys 7 and 3 the most. */
	for (uint64_t k = 1; k <= 9; k++)
		dindex_hit(e.ix, k, 0);
	for (int i = 0; i < 5; i++)
		dindex_hit(e.ix, 7, 0);
	for (int i = 0; i < 3; i++)
		dindex_hit(e.ix, 3, 0);
	for (uint64_t k = 9; k < 19; k++)
		eng_write(&e, k + 1, 100);
	cr_assert_eq(e.nevicted, 1);
	for (uint64_t k = 1; k <= 9; k++)
		cr_assert_eq(dindex_get(e.ix, k, 0, NULL), k == 7 || k == 3, "key %lu",
			     (unsigned long)k);
	struct dseg_stats st;
	dseg_stats(e.ds, &st);
	cr_assert_eq(st.reinserted, 2);
	cr_assert_eq(st.over_bound, 7);
	cr_assert_leq(e.max_keep_bytes, 256);
	eng_fini(&e);
}

/* A hot set larger than the store: every record is hit before its segment
 * comes up. Eviction still frees at least three quarters of a segment each
 * time, so writing goes on, and no eviction copies more than the bound. */
Test(dseg, hot_set_larger_than_store_wraps)
{
	struct eng e;
	const uint32_t seg_size = 4096;
	eng_init(&e, 8, seg_size, 0); /* bound: 1024 bytes */
	for (uint64_t k = 0; k < 20000; k++) {
		eng_write(&e, k + 1, 200);
		/* Hit everything written so far that is still indexed (recent ones). */
		for (uint64_t j = k > 200 ? k - 200 : 0; j <= k; j++)
			dindex_hit(e.ix, j + 1, 0);
	}
	struct dseg_stats st;
	dseg_stats(e.ds, &st);
	cr_assert_gt(st.evictions, 900, "wrapped the 8 segments many times");
	cr_assert_gt(st.over_bound, 0);
	cr_assert_leq(e.max_keep_bytes, seg_size / 4);
	/* Every entry points at a segment that holds data. */
	uint64_t live = dindex_count(e.ix);
	cr_assert_leq(dindex_bytes(e.ix), (uint64_t)8 * seg_size);
	cr_assert_gt(live, 0);
	for (uint64_t k = 19950; k < 20000; k++) {
		struct dindex_rec g;
		cr_assert(dindex_get(e.ix, k + 1, 0, &g), "recent key %lu", (unsigned long)k);
		struct dseg_info in;
		dseg_info(e.ds, g.seg, &in);
		cr_assert(in.state == DSEG_OPEN || in.state == DSEG_SEALED);
		cr_assert_lt(g.off, in.used);
	}
	eng_fini(&e);
}

/* A small hot set (8 records, under the 1 KiB bound even if they share a
 * segment) survives many wraps through reinsertion; a cold stream does not. */
Test(dseg, hot_keys_survive_wraps)
{
	struct eng e;
	eng_init(&e, 6, 4096, 0);
	for (uint64_t k = 0; k < 8; k++)
		eng_write(&e, 1000000 + k, 100);
	for (uint64_t k = 0; k < 20000; k++) {
		eng_write(&e, k + 1, 100);
		if (k % 50 == 0)
			for (uint64_t h = 0; h < 8; h++)
				dindex_hit(e.ix, 1000000 + h, 0);
	}
	for (uint64_t h = 0; h < 8; h++)
		cr_assert(dindex_get(e.ix, 1000000 + h, 0, NULL), "hot key %lu", (unsigned long)h);
	cr_assert_not(dindex_get(e.ix, 1, 0, NULL));
	cr_assert_not(dindex_get(e.ix, 5000, 0, NULL));
	eng_fini(&e);
}

Test(dseg, rebuild_from_scrambled_sequences)
{
	struct dseg_conf c = {.nsegs = 6, .seg_size = 1024};
	struct dseg *ds = dseg_create(&c);
	struct dseg_found f[6] = {
	    [0] = {300, 399, 1024}, [1] = {0, 0, 0},	    [2] = {100, 199, 1000},
	    [3] = {500, 520, 400},  [4] = {200, 299, 1016}, [5] = {0, 0, 0},
	};
	uint64_t top = 0;
	cr_assert_eq(dseg_rebuild(ds, f, &top), 0);
	cr_assert_eq(top, 520);
	uint32_t order[6];
	cr_assert_eq(dseg_order(ds, order, 6), 3);
	cr_assert_eq(order[0], 2);
	cr_assert_eq(order[1], 4);
	cr_assert_eq(order[2], 0);
	cr_assert_eq(dseg_open(ds), 3, "the newest goes on");
	cr_assert_eq(dseg_free_count(ds), 2);
	cr_assert_not(dseg_need_evict(ds));
	/* The crash left segment 3 half written: appending resumes at its end. */
	uint32_t seg, off;
	cr_assert_eq(dseg_reserve(ds, 100, 521, &seg, &off), 0);
	cr_assert_eq(seg, 3);
	cr_assert_eq(off, 400);
	struct dseg_info in;
	dseg_info(ds, 3, &in);
	cr_assert_eq(in.first_seq, 500);
	cr_assert_eq(in.last_seq, 521);
	cr_assert_eq(in.used, 504);
	/* Sealing it puts it last in the FIFO; the free ones open lowest first. */
	cr_assert_eq(dseg_roll(ds), 0);
	cr_assert_eq(dseg_open(ds), 1);
	cr_assert_eq(dseg_order(ds, order, 6), 4);
	cr_assert_eq(order[3], 3);
	cr_assert_eq(dseg_roll(ds), 0, "empty open segment: no change");
	dseg_free(&ds);
}

Test(dseg, rebuild_full_store_owes_eviction)
{
	struct dseg_conf c = {.nsegs = 4, .seg_size = 1024};
	struct dseg *ds = dseg_create(&c);
	struct dindex *ix = dindex_create(1000, 4, NOW);
	/* Sequence numbers after wrap-arounds: the lowest first is the oldest,
	 * whatever its segment number. */
	struct dseg_found f[4] = {
	    {9000, 9009, 1024}, {9010, 9015, 600}, {8980, 8989, 1024}, {8990, 8999, 1024}};
	uint64_t top;
	cr_assert_eq(dseg_rebuild(ds, f, &top), 0);
	cr_assert_eq(top, 9015);
	cr_assert_eq(dseg_open(ds), 1);
	cr_assert(dseg_need_evict(ds));
	/* Index entries rebuilt from segment 2 (the oldest), one of them hit. */
	dindex_rebuild_begin(ix);
	for (uint32_t k = 0; k < 5; k++) {
		struct dindex_rec r = {
		    .phash = k + 1, .seg = 2, .off = k * 200, .len = 200, .seq = 8980 + k};
		cr_assert_eq(dindex_put(ix, &r), 1);
	}
	dindex_rebuild_end(ix);
	dindex_hit(ix, 3, 0);
	struct dseg_victim v;
	cr_assert_eq(dseg_evict(ds, ix, NOW, &v), 1);
	cr_assert_eq(v.seg, 2);
	cr_assert_eq(v.n, 1);
	cr_assert_eq(v.keep[0].phash, 3);
	cr_assert_eq(v.removed, 4);
	cr_assert_eq(dseg_evict(ds, ix, NOW, &(struct dseg_victim){0}), 0, "one at a time");
	cr_assert_not(dseg_need_evict(ds));
	/* The engine could not copy it (say, a read error): release drops it. */
	cr_assert_eq(dseg_release(ds, ix, 2), 0);
	cr_assert_eq(dseg_release(ds, ix, 2), -EINVAL, "released once");
	cr_assert_eq(dindex_count(ix), 0);
	cr_assert_eq(dseg_free_count(ds), 1);
	dseg_victim_fini(&v);
	dindex_free(&ix);
	dseg_free(&ds);
}

/* dseg_choose alone, as the daemon's writer uses it (a circular log of
 * its own): hit and unexpired entries stay, most hits first, up to the
 * bound; the rest leave the index; an entry replaced since (pointing at
 * another segment) is not the segment's to choose. */
Test(dseg, choose_keeps_hit_unexpired_entries_most_hits_first_within_the_bound)
{
	struct dindex *ix = dindex_create(1000, 4, NOW);
	cr_assert_not_null(ix);
	/* Segment 1: ph 1..6, 100 bytes each; hits 0, 3, 1, 5 (expired), 2, 4. */
	static const uint8_t hits[] = {0, 3, 1, 5, 2, 4};
	for (uint32_t i = 0; i < 6; i++) {
		struct dindex_rec r = {.phash = i + 1,
				       .seg = 1,
				       .off = i * 104,
				       .len = 104,
				       .seq = i + 10,
				       .expires = i == 3 ? NOW - 1 : NOW + 600};
		cr_assert_eq(dindex_put(ix, &r), 1);
		for (int h = 0; h < hits[i]; h++)
			cr_assert(dindex_hit(ix, i + 1, 0));
	}
	/* ph 7 was in segment 1 and was written again in segment 2: hit, but
	 * its entry is no longer segment 1's. */
	struct dindex_rec old = {.phash = 7, .seg = 1, .off = 624, .len = 104, .seq = 16};
	struct dindex_rec newer = {.phash = 7, .seg = 2, .off = 0, .len = 104, .seq = 20};
	cr_assert_eq(dindex_put(ix, &old), 1);
	cr_assert_eq(dindex_put(ix, &newer), 1);
	cr_assert(dindex_hit(ix, 7, 0));

	struct dseg_victim v;
	cr_assert_eq(dseg_choose(ix, 1, NOW, 3 * 104, &v), 1);
	cr_assert_eq(v.seg, 1);
	cr_assert_eq(v.n, 3, "the bound: three of the four hit, unexpired ones");
	cr_assert_eq(v.keep[0].phash, 6, "4 hits");
	cr_assert_eq(v.keep[1].phash, 2, "3 hits");
	cr_assert_eq(v.keep[2].phash, 5, "2 hits");
	cr_assert_eq(v.keep_bytes, 3 * 104);
	cr_assert_eq(v.removed, 2, "not hit (ph 1), expired (ph 4)");
	cr_assert_eq(v.over, 1, "ph 3: hit once, over the bound");
	struct dindex_rec got;
	cr_assert(!dindex_get(ix, 1, 0, &got));
	cr_assert(!dindex_get(ix, 3, 0, &got));
	cr_assert(!dindex_get(ix, 4, 0, &got));
	cr_assert(dindex_get(ix, 6, 0, &got) && got.seg == 1, "kept: still where it was");
	cr_assert(dindex_get(ix, 7, 0, &got) && got.seg == 2, "the newer write is untouched");
	dseg_victim_fini(&v);

	/* Again over a bound of 0: the three kept, still hit, are dropped
	 * (over the bound) and nothing is kept. */
	cr_assert_eq(dseg_choose(ix, 1, NOW, 0, &v), 1);
	cr_assert_eq(v.n, 0);
	cr_assert_eq(v.over, 3);
	cr_assert_eq(dindex_count(ix), 1, "only ph 7, in segment 2");
	dseg_victim_fini(&v);
	dindex_free(&ix);
}
