/* M-mode synchronous traps: illegal instruction, ecall, ebreak, load/store access
 * faults on unmapped physical memory, a jump to unmapped memory. The handler prints
 * mcause, mtval and mepc - start, then resumes after the faulting instruction (or at
 * the next test for the jump). Ends with a failure exit code to test the status. */
#include "common.inc"
    .globl _start
_start:
    lla t0, handler
    csrw mtvec, t0
    lla sp, stack_top
    .word 0xffffffff          /* illegal (all ones) */
    ecall
    ebreak
    li t0, 0x0
    ld t1, 0(t0)              /* nothing is mapped at 0: load access fault */
    li t0, 0x8
    sd t1, 0(t0)              /* store access fault */
    li t0, 0x80001001
    lw t1, 0(t0)              /* misaligned load inside RAM: done, no trap */
    lla t0, after_jump
    csrw mscratch, t0
    li t0, 0x40
    jr t0                     /* instruction access fault at 0x40 */
after_jump:
    csrr a0, misa
    andi a0, a0, ~0x80        /* QEMU's harts also report H, which pyqemu lacks */
    call puthex
    csrr a0, mhartid
    call puthex
    lla a0, done
    call puts
    li a0, 7
    j exit

    .align 2
handler:
    csrr a0, mcause
    call puthex
    csrr a0, mtval
    call puthex
    csrr a0, mepc
    lla t0, _start
    sub a0, a0, t0
    call puthex
    csrr t0, mcause
    li t1, 1
    beq t0, t1, 1f
    csrr t0, mepc             /* resume after the trapping instruction */
    lhu t1, 0(t0)
    andi t1, t1, 3
    li t2, 3
    addi t0, t0, 2
    bne t1, t2, 2f
    addi t0, t0, 2
2:  csrw mepc, t0
    mret
1:  csrr t0, mscratch         /* fetch fault: continue at after_jump */
    csrw mepc, t0
    mret

    PUTC_FN
done: .asciz "done\n"
    .align 4
    .space 1024
stack_top:
