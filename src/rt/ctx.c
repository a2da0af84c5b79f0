/* ctx.c - initial stack layout for ctx_switch (ctx_x86_64.S, ctx_aarch64.S). */
#include "rt/ctx.h"

#include <assert.h>
#include <stdint.h>

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "ringcache's context switch is written for x86-64 and AArch64 only"
#endif

void ctx_trampoline(void);

#if defined(__x86_64__)
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
#else
/* The 160-byte frame ctx_switch saves, in 8-byte slots from the saved sp up
 * (ctx_aarch64.S stores them pairwise in this order). */
enum {
	CTX_X19,
	CTX_X20,
	CTX_X29 = 10, /* x21-x28 in between */
	CTX_X30,
	CTX_D8, /* d8-d15: 8 slots */
	CTX_SLOTS = CTX_D8 + 8
};

void ctx_make(struct ctx *ctx, void *stack, size_t size, void (*fn)(void *), void *arg)
{
	uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
	void **sp = (void **)top - CTX_SLOTS;

	assert(size >= 256);
	/* After the loads and the add, sp == top, 16-byte aligned as AAPCS64
	 * wants at every call; ret goes to the trampoline through x30, which
	 * calls fn(arg) from x19 and x20. x29 = 0 ends the frame chain there. */
	for (int i = 0; i < CTX_SLOTS; i++)
		sp[i] = NULL;
	sp[CTX_X19] = (void *)fn;
	sp[CTX_X20] = arg;
	sp[CTX_X29] = NULL;
	sp[CTX_X30] = (void *)ctx_trampoline;
	ctx->sp = sp;
}
#endif
