/* FP loads, stores and moves against mstatus.FS (privileged ISA 3.1.6.6), 5000 times
 * (the native backend's interpreter runs them itself only while FS is Dirty). Each
 * iteration, in S-mode:
 *   FS = Clean: fld, then mstatus.FS read back (Dirty now);
 *   FS = Dirty: fsd, fmv.x.d, fmv.d.x, c.fld/c.fsd, FS read back;
 *   FS = Initial: fmv.d.x, FS read back;
 *   FS = Off: fld (illegal instruction, handled in M, skipped), FS read back.
 * FS is set by an ecall to M (S cannot write it without sstatus, which is used too).
 * The checksum of values and FS readings and the trap count are printed. */
#include "common.inc"
    .equ FS_SHIFT, 13
    .globl _start
_start:
    lla sp, stack_top
    lla t0, m_trap
    csrw mtvec, t0
    li s9, 0                      /* illegal instructions seen by M */
    PMP_ALLOW_ALL
    MRET_TO_S s_entry

/* M: ecall sets mstatus.FS to a0 (0-3); an illegal instruction is counted and skipped */
    .align 2
m_trap:
    csrr t5, mcause
    li t6, 9                      /* ecall from S */
    beq t5, t6, 1f
    li t6, 2
    bne t5, t6, m_fail
    addi s9, s9, 1
    j 2f
1:  li t6, 3 << FS_SHIFT
    csrc mstatus, t6
    slli t6, a0, FS_SHIFT
    csrs mstatus, t6
2:  csrr t5, mepc
    addi t5, t5, 4
    csrw mepc, t5
    mret
m_fail:
    mv a0, t5
    call puthex
    li a0, 3
    j exit

    .macro SET_FS v
    li a0, \v
    ecall
    .endm
    .macro FOLD_FS
    csrr t0, sstatus
    srli t0, t0, FS_SHIFT
    andi t0, t0, 3
    add s4, s4, t0
    MIX33
    .endm

    .align 2
s_entry:
    li s4, 0
    li s6, 5000
    lla s7, data
loop:
    SET_FS 2                      /* Clean */
    fld f1, 0(s7)
    FOLD_FS
    SET_FS 3                      /* Dirty */
    fsd f1, 8(s7)
    ld t1, 8(s7)
    add s4, s4, t1
    fmv.x.d t1, f1
    xor s4, s4, t1
    fmv.d.x f8, s6
    mv s0, s7
    fsd f8, 16(s0)                /* (compressed by the assembler: c.fsd, c.fld) */
    fld f9, 16(s0)
    fmv.x.d t1, f9
    add s4, s4, t1
    FOLD_FS
    SET_FS 1                      /* Initial */
    fmv.d.x f4, s4
    FOLD_FS
    SET_FS 0                      /* Off */
    fld f5, 0(s7)                 /* illegal */
    FOLD_FS
    addi s6, s6, -1
    bnez s6, loop
    mv a0, s4
    call puthex
    mv a0, s9
    call puthex
    li a0, 0
    j exit
    PUTC_FN

    .align 3
data:
    .dword 0x400921fb54442d18, 0, 0
    .align 12
    .space 4096
stack_top:
