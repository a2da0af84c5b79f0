/* dsuper.c - the disk tier's superblock (dsuper.h has the layout). */
#include "cache/dsuper.h"

#include <errno.h>
#include <string.h>
#include <xxhash.h>

#include "cache/dle.h"

enum {
	S_MAGIC = 0,
	S_VERSION = 8,
	S_BLOCK = 12,
	S_SEGSIZE = 16,
	S_SEGCOUNT = 24,
	S_STORE = 32,
	S_FORMATTED = 40,
	S_GEN = 48,
	S_ZERO = 56,
	S_SUM = DSUPER_BLOCK - 8,
};

const char *dsuper_result_name(enum dsuper_result r)
{
	switch (r) {
	case DSUPER_OK:
		return "ok";
	case DSUPER_BLANK:
		return "blank";
	case DSUPER_CORRUPT:
		return "corrupt";
	case DSUPER_VERSION_UNKNOWN:
		return "unknown version";
	case DSUPER_MISFIT:
		return "layout does not fit the file";
	}
	return "?";
}

static bool seg_size_ok(uint64_t s)
{
	return s >= DSUPER_SEG_MIN && s <= DSUPER_SEG_MAX && s % DSUPER_BLOCK == 0;
}

uint64_t dsuper_first(uint64_t seg_size)
{
	return (DSUPER_AREA + seg_size - 1) / seg_size * seg_size;
}

uint64_t dsuper_seg_offset(const struct dsuper *sb, uint64_t i)
{
	return dsuper_first(sb->seg_size) + i * sb->seg_size;
}

uint64_t dsuper_span(const struct dsuper *sb)
{
	uint64_t n, end;
	if (!seg_size_ok(sb->seg_size) || __builtin_mul_overflow(sb->seg_count, sb->seg_size, &n) ||
	    __builtin_add_overflow(n, dsuper_first(sb->seg_size), &end))
		return 0;
	return end;
}

/* The fields a copy must hold to be read (its layout not yet held against
 * the file). */
static bool fields_ok(const struct dsuper *sb)
{
	return sb->version == DSUPER_VERSION && sb->block_size == DSUPER_BLOCK &&
	       seg_size_ok(sb->seg_size) && sb->seg_count >= 1 && sb->store_id != 0 &&
	       sb->generation != 0 && dsuper_span(sb) != 0;
}

int dsuper_init(struct dsuper *sb, uint64_t file_size, uint64_t seg_size, uint64_t store_id,
		int64_t now, uint64_t generation)
{
	if (!seg_size_ok(seg_size) || !store_id || !generation)
		return -EINVAL;
	uint64_t first = dsuper_first(seg_size);
	if (file_size < first + seg_size)
		return -EINVAL;
	*sb = (struct dsuper){.version = DSUPER_VERSION,
			      .block_size = DSUPER_BLOCK,
			      .seg_size = seg_size,
			      .seg_count = (file_size - first) / seg_size,
			      .store_id = store_id,
			      .formatted_at = now,
			      .generation = generation};
	return 0;
}

int dsuper_encode(const struct dsuper *sb, void *out)
{
	if (!fields_ok(sb))
		return -EINVAL;
	uint8_t *p = out;
	memset(p, 0, DSUPER_BLOCK);
	memcpy(p + S_MAGIC, DSUPER_MAGIC, 8);
	put32(p + S_VERSION, sb->version);
	put32(p + S_BLOCK, sb->block_size);
	put64(p + S_SEGSIZE, sb->seg_size);
	put64(p + S_SEGCOUNT, sb->seg_count);
	put64(p + S_STORE, sb->store_id);
	put64(p + S_FORMATTED, (uint64_t)sb->formatted_at);
	put64(p + S_GEN, sb->generation);
	put64(p + S_SUM, XXH3_64bits(p, S_SUM));
	return 0;
}

enum copy { C_BLANK, C_BAD, C_VERSION, C_OK };

static enum copy copy_read(const uint8_t *p, struct dsuper *sb)
{
	if (memcmp(p + S_MAGIC, DSUPER_MAGIC, 8) != 0)
		return C_BLANK;
	if (get64(p + S_SUM) != XXH3_64bits(p, S_SUM))
		return C_BAD;
	for (size_t i = S_ZERO; i < S_SUM; i++)
		if (p[i])
			return C_BAD;
	sb->version = get32(p + S_VERSION);
	sb->block_size = get32(p + S_BLOCK);
	sb->seg_size = get64(p + S_SEGSIZE);
	sb->seg_count = get64(p + S_SEGCOUNT);
	sb->store_id = get64(p + S_STORE);
	sb->formatted_at = (int64_t)get64(p + S_FORMATTED);
	sb->generation = get64(p + S_GEN);
	/* A whole copy of another version is that version's to judge. */
	if (sb->version != DSUPER_VERSION)
		return C_VERSION;
	return fields_ok(sb) ? C_OK : C_BAD;
}

enum dsuper_result dsuper_decode(const void *area, size_t avail, uint64_t file_size,
				 struct dsuper *sb, int *which, bool *both)
{
	const uint8_t *p = area;
	struct dsuper c[2];
	enum copy k[2] = {C_BLANK, C_BLANK};
	for (int i = 0; i < 2; i++)
		if (avail >= (size_t)(i + 1) * DSUPER_BLOCK)
			k[i] = copy_read(p + (size_t)i * DSUPER_BLOCK, &c[i]);
	int w;
	if (k[0] == C_OK && k[1] == C_OK)
		w = c[1].generation > c[0].generation;
	else if (k[0] == C_OK || k[1] == C_OK)
		w = k[1] == C_OK;
	else if (k[0] == C_VERSION || k[1] == C_VERSION)
		return DSUPER_VERSION_UNKNOWN;
	else if (k[0] == C_BAD || k[1] == C_BAD)
		return DSUPER_CORRUPT;
	else
		return DSUPER_BLANK;
	*sb = c[w];
	if (which)
		*which = w;
	if (both)
		*both = k[!w] == C_OK;
	return dsuper_span(sb) <= file_size ? DSUPER_OK : DSUPER_MISFIT;
}
