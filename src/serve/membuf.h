/*
 * membuf.h - the mappings that hold a connection's request state and
 * buffers while a task serves it, with a small per-loop cache.
 *
 * Each is a mapping of its own, not heap memory: a parked connection's
 * memory must really go back to the kernel (heap memory freed in the
 * middle of the heap stays in RSS), while a busy loop reuses cached ones
 * without a syscall. One cache per loop thread, no lock.
 */
#ifndef RINGCACHE_SERVE_MEMBUF_H
#define RINGCACHE_SERVE_MEMBUF_H

#include <stddef.h>

/* Mappings kept for reuse per loop. */
#define MEMBUF_CACHE 32

struct membuf;

struct membuf_cache {
	struct membuf *head;
	unsigned n;
};

/* SIZE bytes of zeroed-or-reused memory (a reused one is not cleared),
 * page-backed; NULL when the mapping fails. */
void *membuf_get(struct membuf_cache *mc, size_t size);
/* Give P back (NULL: nothing): cached, or unmapped when the cache is full. */
void membuf_put(struct membuf_cache *mc, void *p);
/* Give back the pages of cached mappings but the KEEP most recently
 * given back (the loop's idle trim: after a burst of connections, the
 * cache would hold their touched pages for good). */
void membuf_cache_trim(struct membuf_cache *mc, unsigned keep);
/* Unmap every cached mapping (at loop exit). */
void membuf_cache_free(struct membuf_cache *mc);

#endif
