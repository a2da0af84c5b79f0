/*
 * dle.h - the disk tier's fixed-width little-endian fields (drec, dsuper):
 * written and read with memcpy at their offsets, never by casting a
 * buffer to a struct. Host order is the disk's: the formats refuse a
 * big-endian target at build time.
 */
#ifndef RINGCACHE_CACHE_DLE_H
#define RINGCACHE_CACHE_DLE_H

#include <stdint.h>
#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the disk formats are little-endian, written in host order");

static inline void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}
static inline void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}
static inline void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}
static inline uint16_t get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}
static inline uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}
static inline uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

#endif
