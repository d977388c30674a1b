/* savevm/loadvm guest: prints "count=N" (16 hex digits) about every 20 ms, forever.
 * The counter lives in a register (s0) and in RAM (counter); they must agree, so a
 * restore that brings back one without the other prints "mismatch" and fails.  The
 * delay polls the CLINT's mtime, so a restored timer is exercised too. */
#include "common.inc"
    .equ MTIME, 0x200bff8
    .equ DELAY, 200000            /* 20 ms at the 10 MHz timebase */
    .globl _start
_start:
    lla sp, stack_top
    li s0, 0
    lla s1, counter
loop:
    addi s0, s0, 1
    ld t0, 0(s1)
    addi t0, t0, 1
    sd t0, 0(s1)
    bne t0, s0, mismatch
    lla a0, label
    call puts
    mv a0, s0
    call puthex
    li t4, MTIME
    ld t5, 0(t4)
    li t6, DELAY
    add t5, t5, t6
1:  ld t3, 0(t4)
    bltu t3, t5, 1b
    j loop
mismatch:
    lla a0, bad
    call puts
    li a0, 1
    j exit

    PUTC_FN

label:
    .asciz "count="
bad:
    .asciz "mismatch\n"
    .align 3
counter:
    .dword 0
    .space 512
stack_top:
