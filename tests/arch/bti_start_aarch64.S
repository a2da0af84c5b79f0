/*
 * bti_start_aarch64.S - a _start with a BTI landing pad, for the BTI build
 * of ctx_test (scripts/test-aarch64.sh). Debian 12's crt1.o has none, so a
 * program marked BTI faults at its first instruction when the dynamic
 * linker branches to it; with this one (-nostartfiles) only ringcache's
 * own code runs on guarded pages, and libc, which is not marked, does not.
 * x0 = rtld_fini from the dynamic linker, [sp] = argc, then argv.
 */
#if defined(__aarch64__)
	.text
	.globl	_start
	.type	_start, %function
_start:
	hint	38	/* bti jc */
	mov	x29, #0
	mov	x30, #0
	mov	x5, x0		/* rtld_fini */
	ldr	x1, [sp]	/* argc */
	add	x2, sp, #8	/* argv */
	mov	x6, sp		/* stack_end */
	adrp	x0, main
	add	x0, x0, :lo12:main
	mov	x3, #0		/* init: none, glibc >= 2.34 runs the arrays itself */
	mov	x4, #0		/* fini */
	bl	__libc_start_main
	udf	#0
	.size	_start, .-_start

	/* GNU_PROPERTY_AARCH64_FEATURE_1_AND: BTI | PAC */
	.section .note.gnu.property, "a"
	.p2align 3
	.word	4
	.word	16
	.word	5
	.asciz	"GNU"
	.word	0xc0000000
	.word	4
	.word	3
	.word	0
#endif
	.section .note.GNU-stack,"",%progbits
