/* ctx_x86_64.S - ctx_switch for x86-64 System V: save rbx rbp r12-r15, swap rsp. */
#if defined(__x86_64__)
	.text
	.globl	ctx_switch
	.type	ctx_switch, @function
/* void ctx_switch(struct ctx *from (rdi), struct ctx *to (rsi)) */
ctx_switch:
	.cfi_startproc
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, (%rdi)
	movq	(%rsi), %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
	.cfi_endproc
	.size	ctx_switch, .-ctx_switch

	.globl	ctx_trampoline
	.type	ctx_trampoline, @function
/* First entry of a new context: r12 = fn, r13 = arg (popped by ctx_switch). */
ctx_trampoline:
	.cfi_startproc
	.cfi_undefined rip
	movq	%r13, %rdi
	callq	*%r12
	ud2	/* fn must not return */
	.cfi_endproc
	.size	ctx_trampoline, .-ctx_trampoline
#endif
	.section .note.GNU-stack,"",@progbits
