/* Bare-metal guest for gdb: a loop that calls tick() and counts, then exits through
   the test device with status 0 after 5 ticks. Linked at 0x80000000 (-bios). */
#include "common.inc"
    .section .text
    .globl _start
_start:
    csrr t0, mhartid
    bnez t0, park
    la sp, stack_top
    li s1, 0
loop:
    call tick
    addi s1, s1, 1
    li t0, 5
    blt s1, t0, loop
    la a0, done_msg
    call puts
    li t0, SYSCON
    li t1, 0x5555
    sw t1, 0(t0)
park:
    wfi
    j park

    .globl tick
tick:
    la t0, ticks
    ld t1, 0(t0)
    addi t1, t1, 1
    sd t1, 0(t0)
    csrr a0, mscratch
    addi a0, a0, 2
    csrw mscratch, a0
    ret

    PUTC_FN

    .section .rodata
done_msg: .asciz "bare: done\n"
    .section .data
    .align 3
    .globl ticks
ticks: .dword 0
    .align 4
    .space 1024
stack_top:
