/*
 * stack.h - coroutine stacks: mmap'd regions with a guard page below.
 *
 * Each loop thread owns one pool, so taking and returning a stack needs no
 * lock. Stacks are mapped MAP_NORESERVE: only the pages a task touches cost
 * memory. Freed stacks are kept (up to a cap) because mmap+mprotect per task
 * would dominate the cost of a short task.
 */
#ifndef RINGCACHE_RT_STACK_H
#define RINGCACHE_RT_STACK_H

#include <stddef.h>

struct stack_pool {
	size_t size; /* usable bytes per stack, page multiple */
	void **free; /* cached stack bases (usable area start) */
	size_t n_free;
	size_t cap;	 /* how many to cache at most */
	size_t n_mapped; /* live + cached, for metrics and leak checks */
	size_t n_cold;	 /* free[0..n_cold) gave their pages back (stack_pool_trim) */
};

void stack_pool_init(struct stack_pool *p, size_t size, size_t cap);
void stack_pool_destroy(struct stack_pool *p);
/* Returns the lowest usable address of a stack of p->size bytes, or NULL. */
void *stack_get(struct stack_pool *p);
void stack_put(struct stack_pool *p, void *stack);
/* Give back the pages of cached stacks but the KEEP most recently put:
 * after a burst, a cache of stacks nobody takes would hold their touched
 * pages for good. The mappings stay (taking one again costs page faults,
 * not syscalls). */
void stack_pool_trim(struct stack_pool *p, size_t keep);

#endif
