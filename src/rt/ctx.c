/* ctx.c - initial stack layout for ctx_switch (see ctx_x86_64.S). */
#include "rt/ctx.h"

#include <assert.h>
#include <stdint.h>

#if !defined(__x86_64__)
#error "ringcache's context switch is written for x86-64 only so far"
#endif

void ctx_trampoline(void);

void ctx_make(struct ctx *ctx, void *stack, size_t size, void (*fn)(void *), void *arg)
{
	uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
	void **sp = (void **)top;

	assert(size >= 256);
	/* After the 6 pops and the ret into the trampoline, rsp == top, which
	 * is 16-byte aligned: the trampoline's call then enters fn with rsp
	 * 8 mod 16, exactly as the ABI expects after a call. */
	*--sp = (void *)ctx_trampoline; /* ret target */
	*--sp = NULL;			/* rbp */
	*--sp = NULL;			/* rbx */
	*--sp = (void *)fn;		/* r12 */
	*--sp = arg;			/* r13 */
	*--sp = NULL;			/* r14 */
	*--sp = NULL;			/* r15 */
	ctx->sp = sp;
}
