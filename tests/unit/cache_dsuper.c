/* Unit tests of src/cache/dsuper.c: the disk tier's superblock. Both
 * copies, the newer one winning, one torn, both torn, a blank file, a
 * format version this build does not read, a layout that does not fit. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "cache/dsuper.h"

#define MIB	(1024ull * 1024)
#define FILE_SZ (100 * MIB + 12345)
#define NOW	1700000000

static uint8_t area[DSUPER_AREA];

static struct dsuper make(uint64_t gen)
{
	struct dsuper sb;
	cr_assert_eq(dsuper_init(&sb, FILE_SZ, DSUPER_SEG_DEFAULT, 0xabcdef0123456789ull, NOW, gen),
		     0);
	return sb;
}

static void write_copy(int slot, const struct dsuper *sb)
{
	cr_assert_eq(dsuper_encode(sb, area + slot * DSUPER_BLOCK), 0);
}

Test(cache_dsuper, layout_arithmetic)
{
	struct dsuper sb = make(1);
	/* 8 MiB segments: the superblocks take the first one's place. */
	cr_assert_eq(dsuper_first(8 * MIB), 8 * MIB);
	cr_assert_eq(sb.seg_count, (FILE_SZ - 8 * MIB) / (8 * MIB));
	cr_assert_eq(sb.seg_count, 11);
	cr_assert_eq(dsuper_seg_offset(&sb, 0), 8 * MIB);
	cr_assert_eq(dsuper_seg_offset(&sb, 10), 88 * MIB);
	cr_assert_eq(dsuper_span(&sb), 96 * MIB);
	cr_assert_leq(dsuper_span(&sb), FILE_SZ);
	/* Small segments: the first one starts right after the superblocks,
	 * still on a multiple of its size. */
	cr_assert_eq(dsuper_first(64 * 1024), 64 * 1024);
	cr_assert_eq(dsuper_first(8192 + 4096 * 2), 8192 + 4096 * 2);
	/* Refused: sizes out of range or off the block size, nothing fits. */
	struct dsuper x;
	cr_assert_eq(dsuper_init(&x, FILE_SZ, 4096, 1, NOW, 1), -EINVAL);
	cr_assert_eq(dsuper_init(&x, FILE_SZ, 8 * MIB + 512, 1, NOW, 1), -EINVAL);
	cr_assert_eq(dsuper_init(&x, FILE_SZ, 2048 * MIB, 1, NOW, 1), -EINVAL);
	cr_assert_eq(dsuper_init(&x, 16 * MIB - 1, 8 * MIB, 1, NOW, 1), -EINVAL);
	cr_assert_eq(dsuper_init(&x, 16 * MIB, 8 * MIB, 0, NOW, 1), -EINVAL, "store id 0");
	cr_assert_eq(dsuper_init(&x, 16 * MIB, 8 * MIB, 1, NOW, 0), -EINVAL, "generation 0");
	cr_assert_eq(dsuper_init(&x, 16 * MIB, 8 * MIB, 1, NOW, 1), 0);
	cr_assert_eq(x.seg_count, 1);
	/* A layout that overflows is no layout. */
	x.seg_count = UINT64_MAX / 4;
	cr_assert_eq(dsuper_span(&x), 0);
	cr_assert_eq(dsuper_encode(&x, area), -EINVAL);
}

Test(cache_dsuper, both_copies_newest_wins)
{
	struct dsuper a = make(7), b = make(8), got;
	int which = -1;
	bool both = false;
	write_copy(0, &a);
	write_copy(1, &a);
	cr_assert_eq(dsuper_decode(area, sizeof(area), FILE_SZ, &got, &which, &both), DSUPER_OK);
	cr_assert_eq(which, 0);
	cr_assert(both);
	cr_assert(memcmp(&got, &a, sizeof(a)) == 0, "every field read back");
	/* An update goes to the other slot, then wins there. */
	cr_assert_eq(dsuper_slot(which), 1);
	write_copy(1, &b);
	cr_assert_eq(dsuper_decode(area, sizeof(area), FILE_SZ, &got, &which, &both), DSUPER_OK);
	cr_assert_eq(which, 1);
	cr_assert_eq(got.generation, 8);
	b.generation = 9;
	write_copy(dsuper_slot(which), &b);
	cr_assert_eq(dsuper_decode(area, sizeof(area), FILE_SZ, &got, &which, NULL), DSUPER_OK);
	cr_assert_eq(which, 0);
	cr_assert_eq(got.generation, 9);
}

Test(cache_dsuper, one_torn_copy_leaves_the_other)
{
	struct dsuper a = make(3), b = make(4), got;
	int which;
	bool both;
	/* The update of slot 1 to generation 4 torn at every 512-byte sector:
	 * what was written is new, the rest old or zero. */
	for (size_t cut = 512; cut < DSUPER_BLOCK; cut += 512) {
		for (int zero = 0; zero < 2; zero++) {
			write_copy(0, &a);
			if (zero)
				memset(area + DSUPER_BLOCK, 0, DSUPER_BLOCK);
			else
				write_copy(1, &a);
			uint8_t nb[DSUPER_BLOCK];
			cr_assert_eq(dsuper_encode(&b, nb), 0);
			memcpy(area + DSUPER_BLOCK, nb, cut);
			cr_assert_eq(
			    dsuper_decode(area, sizeof(area), FILE_SZ, &got, &which, &both),
			    DSUPER_OK);
			cr_assert_eq(which, 0, "cut at %zu", cut);
			cr_assert_eq(got.generation, 3);
			cr_assert_not(both, "the torn copy is to be rewritten");
		}
	}
	/* Every bit of copy 0 flipped, copy 1 blank: never a superblock. */
	memset(area, 0, sizeof(area));
	write_copy(0, &a);
	for (size_t i = 0; i < DSUPER_BLOCK; i++)
		for (int bit = 0; bit < 8; bit++) {
			area[i] ^= (uint8_t)(1u << bit);
			enum dsuper_result r =
			    dsuper_decode(area, sizeof(area), FILE_SZ, &got, NULL, NULL);
			cr_assert(r == DSUPER_CORRUPT || (i < 8 && r == DSUPER_BLANK),
				  "byte %zu bit %d: %s", i, bit, dsuper_result_name(r));
			area[i] ^= (uint8_t)(1u << bit);
		}
	cr_assert_eq(dsuper_decode(area, sizeof(area), FILE_SZ, &got, &which, &both), DSUPER_OK);
	cr_assert_eq(which, 0);
	cr_assert_not(both);
}

Test(cache_dsuper, both_torn_blank_and_unknown)
{
	struct dsuper a = make(3), got;
	memset(area, 0, sizeof(area));
	cr_assert_eq(dsuper_decode(area, sizeof(area), FILE_SZ, &got, NULL, NULL), DSUPER_BLANK);
	write_copy(0, &a);
	write_copy(1, &a);
	area[100] ^= 1;
	area[DSUPER_BLOCK + 4000] ^= 0x80;
	cr_assert_eq(dsuper_decode(area, sizeof(area), FILE_SZ, &got, NULL, NULL), DSUPER_CORRUPT);
	/* Only copy 0 given: it alone is read. */
	area[100] ^= 1;
	cr_assert_eq(dsuper_decode(area, DSUPER_BLOCK, FILE_SZ, &got, NULL, NULL), DSUPER_OK);
	cr_assert_eq(dsuper_decode(area, DSUPER_BLOCK - 1, FILE_SZ, &got, NULL, NULL),
		     DSUPER_BLANK);
	/* A whole copy of a later format version, or with bytes in its
	 * reserved area, is not read as this one. */
	write_copy(0, &a);
	memset(area + DSUPER_BLOCK, 0, DSUPER_BLOCK);
	uint32_t v = 2;
	memcpy(area + 8, &v, 4);
	uint64_t sum = XXH3_64bits(area, DSUPER_BLOCK - 8);
	memcpy(area + DSUPER_BLOCK - 8, &sum, 8);
	cr_assert_eq(dsuper_decode(area, sizeof(area), FILE_SZ, &got, NULL, NULL),
		     DSUPER_VERSION_UNKNOWN);
	write_copy(0, &a);
	area[1000] = 1;
	sum = XXH3_64bits(area, DSUPER_BLOCK - 8);
	memcpy(area + DSUPER_BLOCK - 8, &sum, 8);
	cr_assert_eq(dsuper_decode(area, sizeof(area), FILE_SZ, &got, NULL, NULL), DSUPER_CORRUPT);
}

Test(cache_dsuper, a_layout_that_does_not_fit_is_refused)
{
	struct dsuper a = make(1), got;
	write_copy(0, &a);
	write_copy(1, &a);
	uint64_t span = dsuper_span(&a);
	cr_assert_eq(dsuper_decode(area, sizeof(area), span, &got, NULL, NULL), DSUPER_OK);
	cr_assert_eq(dsuper_decode(area, sizeof(area), span - 1, &got, NULL, NULL), DSUPER_MISFIT);
	cr_assert_eq(got.seg_count, a.seg_count, "the copy is given for the message");
	cr_assert_eq(dsuper_decode(area, sizeof(area), 4096, &got, NULL, NULL), DSUPER_MISFIT);
}
