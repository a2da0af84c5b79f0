/* ctx_aarch64.S - ctx_switch for AArch64 (AAPCS64): save x19-x30 and d8-d15, swap sp. */
#if defined(__aarch64__)
/* BTI: ctx_switch may be reached by an indirect branch (a PLT, a function
 * pointer), so it starts with a "bti c" landing pad; ctx_trampoline is
 * only reached by ret, which BTI does not check. The hint is a NOP on
 * cores without BTI. With -mbranch-protection=bti|standard the object says
 * so in its GNU property note, or the linker would drop the marking of the
 * whole program. No PAC signing here: the x30 saved and restored is the
 * caller's, which it signs and authenticates itself (pac-ret) against its
 * own stack, and a fresh context's x30 could not be signed in ctx_make. */
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define BTI_C hint 34
#define GNU_PROPERTY_AARCH64_BTI 1
#else
#define BTI_C
#define GNU_PROPERTY_AARCH64_BTI 0
#endif
#if defined(__ARM_FEATURE_PAC_DEFAULT) && __ARM_FEATURE_PAC_DEFAULT
#define GNU_PROPERTY_AARCH64_PAC 2
#else
#define GNU_PROPERTY_AARCH64_PAC 0
#endif

	.text
	.globl	ctx_switch
	.type	ctx_switch, %function
	.p2align 4
/* void ctx_switch(struct ctx *from (x0), struct ctx *to (x1))
 * Frame, 160 bytes from the saved sp up: x19..x30 (96), d8..d15 (64);
 * ctx.c's ctx_make lays out the same frame for a new context. */
ctx_switch:
	.cfi_startproc
	BTI_C
	stp	x19, x20, [sp, #-160]!
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	mov	x9, sp
	str	x9, [x0]
	ldr	x9, [x1]
	mov	sp, x9
	ldp	x21, x22, [sp, #16]
	ldp	x23, x24, [sp, #32]
	ldp	x25, x26, [sp, #48]
	ldp	x27, x28, [sp, #64]
	ldp	x29, x30, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	ldp	x19, x20, [sp], #160
	ret
	.cfi_endproc
	.size	ctx_switch, .-ctx_switch

	.globl	ctx_trampoline
	.type	ctx_trampoline, %function
	.p2align 2
/* First entry of a new context, by ctx_switch's ret: x19 = fn, x20 = arg,
 * sp 16-byte aligned (ctx_make). */
ctx_trampoline:
	.cfi_startproc
	.cfi_undefined x30
	mov	x0, x20
	blr	x19
	udf	#0	/* fn must not return: SIGILL, as ud2 on x86-64 */
	.cfi_endproc
	.size	ctx_trampoline, .-ctx_trampoline

#if GNU_PROPERTY_AARCH64_BTI || GNU_PROPERTY_AARCH64_PAC
	/* GNU_PROPERTY_AARCH64_FEATURE_1_AND: this object keeps BTI / PAC. */
	.section .note.gnu.property, "a"
	.p2align 3
	.word	4
	.word	16
	.word	5	/* NT_GNU_PROPERTY_TYPE_0 */
	.asciz	"GNU"
	.word	0xc0000000	/* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
	.word	4
	.word	GNU_PROPERTY_AARCH64_BTI | GNU_PROPERTY_AARCH64_PAC
	.word	0
#endif
#endif
	.section .note.GNU-stack,"",%progbits
