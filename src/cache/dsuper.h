/*
 * dsuper.h - the disk tier's superblock (issue 18): what the store file
 * (a preallocated file or a block device) says about itself, and where its
 * segments lie. Pure: no I/O, no clock, no randomness (the caller brings
 * the store id and `now`); dstore_open reads and writes it.
 *
 * The superblock is one 4 KiB block, kept twice: copy 0 at byte 0, copy 1
 * at byte 4096. Each carries a generation; the valid copy with the higher
 * one is the superblock. An update writes generation G + 1 over the copy
 * that does not hold G (dsuper_slot), so a write torn by a crash leaves
 * the other copy whole. A (re)format must also use a generation above any
 * the file held, else a torn format could lose to an older copy.
 *
 * Layout of a copy (little-endian, fixed offsets):
 *   off size
 *    0   8   magic "RCDISK01"
 *    8   4   format version (1; it covers the record format, drec.h)
 *   12   4   block size (4096)
 *   16   8   segment size (bytes; a multiple of 4096, 64 KiB .. 1 GiB)
 *   24   8   segment count (>= 1)
 *   32   8   store id (random, never 0, chosen at formatting; every
 *            record carries it)
 *   40   8   formatted at (Unix seconds)
 *   48   8   generation (>= 1)
 *   56 4032  zero
 * 4088   8   XXH3-64 of bytes [0, 4088)
 *
 * File layout: the superblocks, then segment I at byte
 * dsuper_first(seg_size) + I * seg_size, where the first segment starts at
 * the first multiple of the segment size at or after 8192 (so every segment
 * is aligned to its size, which O_DIRECT and the block device like).
 */
#ifndef RINGCACHE_CACHE_DSUPER_H
#define RINGCACHE_CACHE_DSUPER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DSUPER_MAGIC	   "RCDISK01"
#define DSUPER_VERSION	   1u
#define DSUPER_BLOCK	   4096u
#define DSUPER_AREA	   (2u * DSUPER_BLOCK) /* both copies */
#define DSUPER_SEG_MIN	   (64u * 1024)
#define DSUPER_SEG_MAX	   (1024u * 1024 * 1024)
#define DSUPER_SEG_DEFAULT (8u * 1024 * 1024)

struct dsuper {
	uint32_t version;
	uint32_t block_size;
	uint64_t seg_size;
	uint64_t seg_count;
	uint64_t store_id;
	int64_t formatted_at;
	uint64_t generation;
};

enum dsuper_result {
	DSUPER_OK = 0,
	DSUPER_BLANK,		/* neither copy has the magic: never formatted */
	DSUPER_CORRUPT,		/* the magic, but no copy passes its checksum and field checks */
	DSUPER_VERSION_UNKNOWN, /* a whole copy of a format version this build does not read */
	DSUPER_MISFIT,		/* the newest copy's layout does not fit the file's size */
};

const char *dsuper_result_name(enum dsuper_result r);

/* Where the first segment starts for SEG_SIZE (a valid segment size). */
uint64_t dsuper_first(uint64_t seg_size);
/* Byte offset of segment I (< sb->seg_count). */
uint64_t dsuper_seg_offset(const struct dsuper *sb, uint64_t i);
/* Bytes the layout needs: the end of its last segment (0 on overflow). */
uint64_t dsuper_span(const struct dsuper *sb);

/* A new superblock for a file of FILE_SIZE bytes cut into segments of
 * SEG_SIZE (as many as fit), for store STORE_ID formatted at NOW with
 * GENERATION. 0, or -EINVAL (a segment size out of range, store id or
 * generation 0, not even one segment fits). */
int dsuper_init(struct dsuper *sb, uint64_t file_size, uint64_t seg_size, uint64_t store_id,
		int64_t now, uint64_t generation);

/* SB as one copy into OUT (DSUPER_BLOCK bytes): 0, or -EINVAL when SB's
 * fields are out of range (nothing written then). */
int dsuper_encode(const struct dsuper *sb, void *out);

/*
 * The superblock from the file's first AVAIL bytes at AREA (both copies:
 * AVAIL >= DSUPER_AREA, else only copy 0 is looked at) for a file of
 * FILE_SIZE bytes. OK: *SB is the newest valid copy, *WHICH (if given) its
 * slot (0 or 1; copy 0 when both have the same generation), *BOTH (if
 * given) whether the other copy is valid too (else rewrite it). MISFIT: *SB
 * is still that copy, for the message.
 */
enum dsuper_result dsuper_decode(const void *area, size_t avail, uint64_t file_size,
				 struct dsuper *sb, int *which, bool *both);

/* The slot the next update of the superblock decoded from slot WHICH
 * goes to: the other one. */
static inline int dsuper_slot(int which)
{
	return !which;
}

#endif
