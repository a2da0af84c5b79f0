/*
 * ctx.h - machine context switch for stackful coroutines.
 *
 * Only the callee-saved registers and the stack pointer are saved: a switch
 * is an ordinary function call as far as the compiler is concerned, so the
 * caller-saved registers are already spilled. No signal mask is touched
 * (that is what makes swapcontext cost a syscall), and the FPU control words
 * are not saved either: ringcache never changes rounding modes.
 */
#ifndef RINGCACHE_RT_CTX_H
#define RINGCACHE_RT_CTX_H

#include <stddef.h>

struct ctx {
	void *sp; /* saved stack pointer; registers live on that stack */
};

/* Save the current context into FROM and resume TO. Returns when something
 * switches back to FROM. */
void ctx_switch(struct ctx *from, struct ctx *to);

/*
 * Prepare CTX so that the first ctx_switch() to it calls fn(arg) on the stack
 * [stack, stack + size). FN must never return; it ends by switching away for
 * the last time.
 */
void ctx_make(struct ctx *ctx, void *stack, size_t size, void (*fn)(void *), void *arg);

#endif
