/* MMIO to a user-space device: the HPET at 0xFED00000 (IA-PC HPET specification
 * 1.0a, section 2.3).  Every access here leaves KVM as KVM_EXIT_MMIO: 32- and 64-bit
 * reads of the capabilities, a write that starts the main counter, a counter that
 * moves, a read-only register that ignores writes, and timer 0's comparator. */
    .include "lib.inc"
    .set HPET, 0xFED00000
    .code16
start16:
    xor %ax, %ax
    mov %ax, %ss
    mov $0x7000, %sp
    jmp enter_long_mode

    .code64
main64:
    mov $HPET, %edi
    lea msg_cap(%rip), %rsi
    call puts64
    mov (%rdi), %rax                  /* 64-bit read: capabilities and period */
    mov $16, %ecx
    call hex64
    lea msg_cap32(%rip), %rsi
    call puts64
    mov 4(%rdi), %eax                 /* 32-bit read of the upper half: period in fs */
    mov $8, %ecx
    call hex64
    call newline64
    /* Writes to the read-only capabilities register change nothing. */
    movl $0, (%rdi)
    mov (%rdi), %eax
    lea msg_ro(%rip), %rsi
    call puts64
    mov $8, %ecx
    call hex64
    call newline64
    /* The counter is stopped after reset; start it (ENABLE_CNF) and watch it move. */
    movq $0, 0xF0(%rdi)
    movl $1, 0x10(%rdi)
    mov 0x10(%rdi), %eax
    lea msg_cfg(%rip), %rsi
    call puts64
    and $3, %eax
    mov $2, %ecx
    call hex64
    call newline64
    mov 0xF0(%rdi), %rbx
    mov $100000, %ecx
1:  pause
    loop 1b
    mov 0xF0(%rdi), %rax
    lea msg_moves(%rip), %rsi
    call puts64
    cmp %rbx, %rax
    lea msg_yes(%rip), %rsi
    lea msg_no(%rip), %rdx
    cmovbe %rdx, %rsi
    call puts64
    /* Stop it: the value holds still. */
    movl $0, 0x10(%rdi)
    mov 0xF0(%rdi), %rbx
    mov $10000, %ecx
1:  pause
    loop 1b
    mov 0xF0(%rdi), %rax
    lea msg_stops(%rip), %rsi
    call puts64
    cmp %rbx, %rax
    lea msg_yes(%rip), %rsi
    lea msg_no(%rip), %rdx
    cmovne %rdx, %rsi
    call puts64
    /* Timer 0 comparator keeps what is written (64-bit timer). */
    mov $0x123456789A, %rax
    mov %rax, 0x108(%rdi)
    mov 0x108(%rdi), %rax
    lea msg_cmp(%rip), %rsi
    call puts64
    mov $16, %ecx
    call hex64
    call newline64
    EXIT 0x50

msg_cap:   .asciz "HPET capabilities="
msg_cap32: .asciz " period(fs)="
msg_ro:    .asciz "after a write to the read-only register: "
msg_cfg:   .asciz "config="
msg_moves: .asciz "counter moves: "
msg_stops: .asciz "counter stops: "
msg_yes:   .asciz "yes\n"
msg_no:    .asciz "no\n"
msg_cmp:   .asciz "timer 0 comparator="
