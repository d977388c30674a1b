/* Privileged instructions in a loop run 5000 times, so that each runs first in the
 * native backend's interpreter tier (which leaves them to the loop: the loop carries
 * out ecall, sret, wfi, sfence.vma and the first visits of a CSR access itself), then
 * in one-instruction blocks, then in translated blocks. In S-mode, each iteration:
 *   csrrw/csrrs/csrrc(i) on sscratch and sstatus.SIE, reads of them;
 *   csrr mstatus (an M-mode CSR: illegal instruction, delegated to S, skipped);
 *   ecall (to M, which counts it and returns with mret);
 *   sip.SSIP set with sie.SSIE but sstatus.SIE clear, then wfi: it must not wait;
 *   then sstatus.SIE set: the interrupt is taken after that instruction;
 *   sfence.vma with and without operands.
 * The S handler folds scause and stval into a checksum and returns with sret. The
 * checksum and the trap counts are printed. */
#include "common.inc"
    .globl _start
_start:
    lla sp, stack_top
    lla t0, m_trap
    csrw mtvec, t0
    li t0, 1 << 2                 /* illegal instruction to S */
    csrw medeleg, t0
    li t0, 1 << 1                 /* SSIP to S */
    csrw mideleg, t0
    li s9, 0                      /* ecalls seen by M */
    PMP_ALLOW_ALL
    MRET_TO_S s_entry

    .align 2
m_trap:
    csrr t5, mcause
    li t6, 9                      /* ecall from S */
    bne t5, t6, m_fail
    addi s9, s9, 1
    csrr t5, mepc
    addi t5, t5, 4
    csrw mepc, t5
    mret
m_fail:
    mv a0, t5
    call puthex
    li a0, 3
    j exit

    .align 2
s_entry:
    lla t0, s_trap
    csrw stvec, t0
    li t0, 1 << 1
    csrs sie, t0                  /* SSIE on; sstatus.SIE stays off */
    li s4, 0                      /* checksum */
    li s5, 0                      /* S traps */
    li s6, 5000
loop:
    csrw sscratch, s6
    csrrs t0, sscratch, zero
    add s4, s4, t0
    csrrsi t1, sscratch, 5
    xor s4, s4, t1
    csrrci t1, sscratch, 3
    add s4, s4, t1
    csrrw t1, sscratch, s4
    add s4, s4, t1
    csrr t2, mstatus              /* illegal in S */
    ecall
    csrsi sip, 2                  /* SSIP pending and enabled, SIE off: */
    wfi                           /* no wait, no trap */
    csrrsi zero, sstatus, 2       /* SIE on: the interrupt is taken after this */
    csrrci t2, sstatus, 2
    andi t2, t2, 2
    add s4, s4, t2
    sfence.vma
    sfence.vma s6, zero
    MIX33
    addi s6, s6, -1
    bnez s6, loop
    mv a0, s4
    call puthex
    mv a0, s5
    call puthex
    mv a0, s9
    call puthex
    li a0, 0
    j exit

    .align 2
s_trap:
    FOLD_TRAP
    bltz t3, 1f                   /* an interrupt: clear SSIP, return to the same pc */
    csrr t3, sepc
    addi t3, t3, 4
    csrw sepc, t3
    sret
1:  csrci sip, 2
    sret
    PUTC_FN
    .align 12
    .space 4096
stack_top:
