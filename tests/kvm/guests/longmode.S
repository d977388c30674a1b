/* From the reset vector to 64-bit long mode: page tables built in RAM, EFER.LME,
 * CR0.PG; then 64-bit arithmetic, a far call through the stack, and the control
 * registers as the guest sees them. */
    .include "lib.inc"
    .code16
start16:
    xor %ax, %ax
    mov %ax, %ss
    mov $0x7000, %sp
    mov $(msg_real - BIOS_BASE), %si
    call puts16
    jmp enter_long_mode

    .code64
main64:
    lea msg_long(%rip), %rsi
    call puts64
    mov $0xC0000080, %ecx
    rdmsr
    and $0x500, %eax                  /* LME | LMA */
    mov $4, %ecx
    call hex64
    lea msg_cr0(%rip), %rsi
    call puts64
    mov %cr0, %rax
    and $0x80000001, %eax             /* PG | PE */
    mov $8, %ecx
    call hex64
    lea msg_cr4(%rip), %rsi
    call puts64
    mov %cr4, %rax
    and $0x20, %eax
    mov $4, %ecx
    call hex64
    /* 64-bit multiply and divide */
    lea msg_mul(%rip), %rsi
    call puts64
    mov $0x123456789, %rax
    mov $0x1000000001, %rbx
    mul %rbx
    mov $16, %ecx
    call hex64
    mov $0x77, %ebx
    div %rbx
    lea msg_div(%rip), %rsi
    call puts64
    mov $16, %ecx
    call hex64
    /* Touch memory above 16 MiB through the identity map. */
    mov $0x1234567, %rdi
    mov $0x0123456789ABCDEF, %rax
    mov %rax, (%rdi)
    xor %eax, %eax
    mov (%rdi), %rax
    lea msg_mem(%rip), %rsi
    call puts64
    mov $16, %ecx
    call hex64
    call newline64
    lea msg_bye(%rip), %rsi
    call puts64
    EXIT 0x20

msg_real: .asciz "real mode\n"
msg_long: .asciz "long mode: EFER="
msg_cr0:  .asciz " CR0="
msg_cr4:  .asciz " CR4.PAE="
msg_mul:  .asciz "\nmul="
msg_div:  .asciz " div="
msg_mem:  .asciz "\nmem@0x1234567="
msg_bye:  .asciz "bye\n"
