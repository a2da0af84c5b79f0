/* ctx_check_x86_64.S - register probes for ctx_test.c (x86-64 System V). */
#if defined(__x86_64__)
	.text
/*
 * uint64_t ctx_check_switch(struct ctx *from, struct ctx *to, uint64_t seed)
 *
 * Loads seed+1 .. seed+6 into rbx, rbp, r12..r15, calls ctx_switch(from,
 * to), and when it comes back returns a mask of what did not: bit 0..5 for
 * rbx, rbp, r12..r15, bit 19 for rsp. Its own caller's registers are saved
 * and restored.
 */
	.globl	ctx_check_switch
	.type	ctx_check_switch, @function
ctx_check_switch:
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	subq	$24, %rsp		/* rsp 16-byte aligned at the call */
	movq	%rsp, (%rsp)
	movq	%rdx, 8(%rsp)
	leaq	1(%rdx), %rbx
	leaq	2(%rdx), %rbp
	leaq	3(%rdx), %r12
	leaq	4(%rdx), %r13
	leaq	5(%rdx), %r14
	leaq	6(%rdx), %r15
	call	ctx_switch

	movq	8(%rsp), %rdx
	xorl	%eax, %eax
	.macro	check reg, k, bit
	leaq	\k(%rdx), %rcx
	xorl	%r8d, %r8d
	cmpq	%rcx, \reg
	setne	%r8b
	shlq	$\bit, %r8
	orq	%r8, %rax
	.endm
	check	%rbx, 1, 0
	check	%rbp, 2, 1
	check	%r12, 3, 2
	check	%r13, 4, 3
	check	%r14, 5, 4
	check	%r15, 6, 5
	xorl	%r8d, %r8d
	cmpq	%rsp, (%rsp)
	setne	%r8b
	shlq	$19, %r8
	orq	%r8, %rax

	addq	$24, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
	.size	ctx_check_switch, .-ctx_check_switch

/*
 * void ctx_check_entry(void *arg): a context's entry function that stores
 * its rsp as it was at entry in ctx_check_entry_sp, then goes on to
 * ctx_test_entry(arg) (a tail jump: arg still in rdi).
 */
	.globl	ctx_check_entry
	.type	ctx_check_entry, @function
ctx_check_entry:
	movq	%rsp, ctx_check_entry_sp(%rip)
	jmp	ctx_test_entry
	.size	ctx_check_entry, .-ctx_check_entry
#endif
	.section .note.GNU-stack,"",@progbits
