/* start.S: entry of mtcp_restart; moves onto a stack inside the restorer's own image before any C runs. */
	.text
	.globl _start
	.type _start, @function
_start:
	xor %ebp, %ebp
	mov %rsp, %rdi                  /* argc, argv, envp as the kernel left them */
	lea restorer_stack_top(%rip), %rsp
	and $-16, %rsp
	call restorer_main
	hlt
	.size _start, .-_start

/* restorer_jump(entry, info, stack_top): call the library's restart entry on the given stack; never returns. */
	.globl restorer_jump
	.type restorer_jump, @function
restorer_jump:
	mov %rdx, %rsp
	and $-16, %rsp
	mov %rdi, %rax
	mov %rsi, %rdi
	xor %ebp, %ebp
	call *%rax
	hlt
	.size restorer_jump, .-restorer_jump

	.section .note.GNU-stack,"",@progbits
