/* membuf.c - page-backed buffers for connections, cached per loop. */
#include "serve/membuf.h"

#include <stdbool.h>
#include <sys/mman.h>
#include <unistd.h>

/* Precedes the memory handed out. */
struct membuf {
	struct membuf *next;
	size_t size;
	bool cold; /* its pages past the first were given back */
};

void *membuf_get(struct membuf_cache *mc, size_t size)
{
	size += sizeof(struct membuf);
	struct membuf *m = mc->head;
	/* Sizes differ only after a reload changed the limits: then a new one. */
	if (m && m->size == size) {
		mc->head = m->next;
		mc->n--;
		m->cold = false;
	} else {
		m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return NULL;
		m->size = size;
		m->cold = false;
	}
	return m + 1;
}

void membuf_put(struct membuf_cache *mc, void *p)
{
	if (!p)
		return;
	struct membuf *m = (struct membuf *)p - 1;
	if (mc->n < MEMBUF_CACHE) {
		m->next = mc->head;
		mc->head = m;
		mc->n++;
		return;
	}
	munmap(m, m->size);
}

void membuf_cache_free(struct membuf_cache *mc)
{
	while (mc->head) {
		struct membuf *m = mc->head;
		mc->head = m->next;
		munmap(m, m->size);
	}
	mc->n = 0;
}

void membuf_cache_trim(struct membuf_cache *mc, unsigned keep)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned i = 0;
	for (struct membuf *m = mc->head; m; m = m->next, i++) {
		if (i < keep || m->cold || m->size <= page)
			continue;
		/* The first page holds this header: it stays. */
		madvise((char *)m + page, m->size - page, MADV_DONTNEED);
		m->cold = true;
	}
}
