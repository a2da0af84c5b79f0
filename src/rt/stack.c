/* stack.c - pooled mmap'd coroutine stacks with guard pages. */
#include "rt/stack.h"

#include <assert.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t page_size(void)
{
	static size_t ps;
	if (!ps)
		ps = (size_t)sysconf(_SC_PAGESIZE);
	return ps;
}

void stack_pool_init(struct stack_pool *p, size_t size, size_t cap)
{
	size_t ps = page_size();
	p->size = (size + ps - 1) / ps * ps;
	p->cap = cap;
	p->free = calloc(cap ? cap : 1, sizeof(void *));
	assert(p->free);
	p->n_free = 0;
	p->n_mapped = 0;
}

static void unmap_stack(struct stack_pool *p, void *stack)
{
	size_t ps = page_size();
	munmap((char *)stack - ps, p->size + ps);
	p->n_mapped--;
}

void stack_pool_destroy(struct stack_pool *p)
{
	while (p->n_free)
		unmap_stack(p, p->free[--p->n_free]);
	free(p->free);
	p->free = NULL;
}

void *stack_get(struct stack_pool *p)
{
	if (p->n_free) {
		void *st = p->free[--p->n_free];
		if (p->n_cold > p->n_free)
			p->n_cold = p->n_free;
		return st;
	}
	size_t ps = page_size();
	char *base = mmap(NULL, p->size + ps, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	/* The lowest page stays inaccessible: an overflow faults at once
	 * instead of silently corrupting the neighbouring stack. */
	if (mprotect(base, ps, PROT_NONE) != 0) {
		munmap(base, p->size + ps);
		return NULL;
	}
	p->n_mapped++;
	return base + ps;
}

void stack_put(struct stack_pool *p, void *stack)
{
	if (p->n_free < p->cap) {
		p->free[p->n_free++] = stack;
		return;
	}
	unmap_stack(p, stack);
}

void stack_pool_trim(struct stack_pool *p, size_t keep)
{
	/* LIFO: the bottom of the cache is what was used least recently. */
	while (p->n_cold + keep < p->n_free) {
		madvise(p->free[p->n_cold], p->size, MADV_DONTNEED);
		p->n_cold++;
	}
}
