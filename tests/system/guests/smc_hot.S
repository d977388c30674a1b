/* Self-modifying code that gets hot, under Sv39: S-mode rewrites a function
 * { li a0, imm; ret } 5000 times, alternately through its own mapping and through an
 * alias of the same physical page, then fence.i and calls it. The stores first reach
 * the page through the fast path (the native backend's page-table walker lets them),
 * the function is interpreted, then translated: from then on the page holds code and
 * every rewrite must be seen. The checksum of the values returned is printed. */
#include "common.inc"
    .equ RET, 0x00008067            /* jalr x0, 0(ra) */
    .equ LI_A0, 0x00000513          /* addi a0, x0, imm: | imm << 20 */
    .globl _start
_start:
    lla sp, stack_top
    lla t0, m_handler
    csrw mtvec, t0
    lla s0, root
    li t0, (0 << 28) | LEAF
    sd t0, 0(s0)                /* MMIO */
    li t0, (0x80000000 >> 2) | LEAF
    sd t0, 16(s0)               /* RAM at 0x80000000 */
    sd t0, 24(s0)               /* and again at 0xc0000000 */
    PMP_ALLOW_ALL
    SATP_SV39 s0
    MRET_TO_S s_entry

    .align 2
s_entry:
    lla s1, code_page
    li t0, 0x40000000
    add s2, s1, t0              /* the alias of code_page */
    li s4, 0                    /* checksum */
    li s6, 5000
1:  andi a0, s6, 0x7ff
    andi t1, s6, 1
    mv t2, s1
    beqz t1, 2f
    mv t2, s2                   /* odd iterations write through the alias */
2:  slli a0, a0, 20
    li t0, LI_A0
    or a0, a0, t0
    sw a0, 0(t2)
    li t0, RET
    sw t0, 4(t2)
    fence.i
    jalr s1
    add s4, s4, a0
    slli t0, s4, 5
    add s4, s4, t0
    addi s6, s6, -1
    bnez s6, 1b
    mv a0, s4
    call puthex
    li a0, 0
    j exit

    M_HANDLER_EXIT 3
    PUTC_FN
    .align 12
root: .space 4096
code_page: .space 4096
    .align 12
    .space 1024
stack_top:
