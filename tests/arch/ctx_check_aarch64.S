/* ctx_check_aarch64.S - register probes for ctx_test.c (AArch64). */
#if defined(__aarch64__)
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
/*
 * uint64_t ctx_check_switch(struct ctx *from, struct ctx *to, uint64_t seed)
 *
 * Loads seed+19 .. seed+29 into x19..x29 and seed+108 .. seed+115 into
 * d8..d15, calls ctx_switch(from, to), and when it comes back returns a
 * mask of what did not: bit 0..10 for x19..x29, bit 11..18 for d8..d15,
 * bit 19 for sp. Its own caller's registers are saved and restored.
 */
	.globl	ctx_check_switch
	.type	ctx_check_switch, %function
ctx_check_switch:
	BTI_C
	stp	x29, x30, [sp, #-160]!
	stp	x19, x20, [sp, #16]
	stp	x21, x22, [sp, #32]
	stp	x23, x24, [sp, #48]
	stp	x25, x26, [sp, #64]
	stp	x27, x28, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	mov	x9, sp
	stp	x9, x2, [sp, #144]	/* sp and seed, to compare after */
	/* d14, d15 of the caller: below, in a second frame */
	stp	d14, d15, [sp, #-16]!

	.irp	r, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29
	add	x\r, x2, #\r
	.endr
	.irp	r, 8, 9, 10, 11, 12, 13, 14, 15
	add	x9, x2, #(100 + \r)
	fmov	d\r, x9
	.endr
	bl	ctx_switch

	ldp	x9, x2, [sp, #(16 + 144)]
	mov	x0, #0
	mov	x10, sp
	add	x10, x10, #16
	cmp	x10, x9
	cset	x11, ne
	orr	x0, x0, x11, lsl #19
	.irp	r, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29
	add	x10, x2, #\r
	cmp	x\r, x10
	cset	x11, ne
	orr	x0, x0, x11, lsl #(\r - 19)
	.endr
	.irp	r, 8, 9, 10, 11, 12, 13, 14, 15
	add	x10, x2, #(100 + \r)
	fmov	x12, d\r
	cmp	x12, x10
	cset	x11, ne
	orr	x0, x0, x11, lsl #(\r + 3)
	.endr

	ldp	d14, d15, [sp], #16
	ldp	x19, x20, [sp, #16]
	ldp	x21, x22, [sp, #32]
	ldp	x23, x24, [sp, #48]
	ldp	x25, x26, [sp, #64]
	ldp	x27, x28, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	x29, x30, [sp], #160
	ret
	.size	ctx_check_switch, .-ctx_check_switch

/*
 * void ctx_check_entry(void *arg): a context's entry function that stores
 * its sp as it was at entry in ctx_check_entry_sp, then goes on to
 * ctx_test_entry(arg) (a tail branch: arg still in x0).
 */
	.globl	ctx_check_entry
	.type	ctx_check_entry, %function
ctx_check_entry:
	BTI_C
	mov	x10, sp
	adrp	x9, ctx_check_entry_sp
	str	x10, [x9, :lo12:ctx_check_entry_sp]
	b	ctx_test_entry
	.size	ctx_check_entry, .-ctx_check_entry

#if GNU_PROPERTY_AARCH64_BTI || GNU_PROPERTY_AARCH64_PAC
	.section .note.gnu.property, "a"
	.p2align 3
	.word	4
	.word	16
	.word	5
	.asciz	"GNU"
	.word	0xc0000000
	.word	4
	.word	GNU_PROPERTY_AARCH64_BTI | GNU_PROPERTY_AARCH64_PAC
	.word	0
#endif
#endif
	.section .note.GNU-stack,"",%progbits
