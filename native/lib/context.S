/* context.S: register-level pieces of capture and restart: saving and resuming a thread's position, the clone
 * trampoline for recreated threads, and the restart entry that moves onto the library's own stack. */
#define SYS_clone 56
#define SYS_futex 202

	.text

/* int dmtcp_save_context(struct dmtcp_context *ctx): returns 0 now and 1 when dmtcp_restore_context resumes it.
 * Only callee-saved state is kept: everything else of the interrupted program lives in its signal frame on its own
 * stack, which the image carries and rt_sigreturn puts back. */
	.globl dmtcp_save_context
	.hidden dmtcp_save_context
	.type dmtcp_save_context, @function
dmtcp_save_context:
	mov %rbx, 0(%rdi)
	mov %rbp, 8(%rdi)
	mov %r12, 16(%rdi)
	mov %r13, 24(%rdi)
	mov %r14, 32(%rdi)
	mov %r15, 40(%rdi)
	lea 8(%rsp), %rdx
	mov %rdx, 48(%rdi)
	mov (%rsp), %rdx
	mov %rdx, 56(%rdi)
	stmxcsr 64(%rdi)
	fnstcw 68(%rdi)
	xor %eax, %eax
	ret
	.size dmtcp_save_context, .-dmtcp_save_context

/* void dmtcp_restore_context(const struct dmtcp_context *ctx, int *counter): continue where ctx was saved.
 * After moving to the saved stack it increments *counter and wakes its futex, so whoever owns the stack we were
 * running on knows it is no longer in use. */
	.globl dmtcp_restore_context
	.hidden dmtcp_restore_context
	.type dmtcp_restore_context, @function
dmtcp_restore_context:
	mov 0(%rdi), %rbx
	mov 8(%rdi), %rbp
	mov 16(%rdi), %r12
	mov 24(%rdi), %r13
	mov 32(%rdi), %r14
	mov 40(%rdi), %r15
	ldmxcsr 64(%rdi)
	fldcw 68(%rdi)
	mov 56(%rdi), %r9
	mov 48(%rdi), %rsp
	test %rsi, %rsi
	jz 1f
	lock incl (%rsi)
	mov %rsi, %rdi
	mov $129, %esi                  /* FUTEX_WAKE | FUTEX_PRIVATE_FLAG */
	mov $0x7fffffff, %edx
	mov $SYS_futex, %eax
	syscall
1:
	mov $1, %eax
	jmp *%r9
	.size dmtcp_restore_context, .-dmtcp_restore_context

/* long dmtcp_clone_thread(flags, stack, ptid, ctid, tls, slot): create a thread that starts in
 * dmtcp_thread_restart_entry(slot) on `stack`. Returns the child's tid (or -errno) in the caller. */
	.globl dmtcp_clone_thread
	.hidden dmtcp_clone_thread
	.type dmtcp_clone_thread, @function
dmtcp_clone_thread:
	push %r12
	mov %r9, %r12
	mov %rcx, %r10
	mov $SYS_clone, %eax
	syscall
	test %rax, %rax
	jnz 1f
	xor %ebp, %ebp
	mov %r12, %rdi
	and $-16, %rsp
	call dmtcp_thread_restart_entry
	hlt
1:
	pop %r12
	ret
	.size dmtcp_clone_thread, .-dmtcp_clone_thread

/* void dmtcp_restart_entry(struct dmtcp_restart_info *info): the restorer jumps here on its own stack with no TLS.
 * Move to the library's restart stack first: the restorer and its stack are about to be unmapped. */
	.globl dmtcp_restart_entry
	.type dmtcp_restart_entry, @function
dmtcp_restart_entry:
	lea g_restart_stack_top(%rip), %rsp
	and $-16, %rsp
	xor %ebp, %ebp
	call dmtcp_restart_main
	hlt
	.size dmtcp_restart_entry, .-dmtcp_restart_entry

	.section .note.GNU-stack,"",@progbits
