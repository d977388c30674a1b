/* Self-modifying code under Sv39 (Zifencei): S-mode writes a function into a page,
 * runs it, rewrites it and runs it again after fence.i, through the same mapping that
 * wrote it first and through an alias mapping of the same physical page (RAM is
 * mapped twice: at 0x80000000 and at 0xc0000000). Data stores to the code page that
 * do not touch the code leave it as it was. The values printed are the function's. */
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
    li a0, 1
    call put_fn                 /* written through s1: the TLB now lets s1 store */
    fence.i
    jalr s1
    call puthex
    li a0, 2
    call put_fn                 /* the page holds code now: same mapping again */
    fence.i
    jalr s1
    call puthex
    li s3, 3
1:  mv a0, s3                   /* rewritten through the alias, run at s1 */
    call put_fn_alias
    fence.i
    jalr s1
    call puthex
    addi s3, s3, 1
    li t0, 6
    bne s3, t0, 1b
    /* data stores into the code page, away from the code */
    li s3, 0
2:  sd s3, 512(s1)
    sd s3, 1024(s2)
    fence.i
    jalr s1
    add a0, a0, s3
    addi s3, s3, 1
    li t0, 3
    bne s3, t0, 2b
    call puthex
    ld a0, 512(s1)
    call puthex
    ecall

/* put_fn a0: code_page = { li a0, <a0>; ret } through s1; put_fn_alias through s2 */
put_fn:
    mv t2, s1
    j 3f
put_fn_alias:
    mv t2, s2
3:  slli a0, a0, 20
    li t0, LI_A0
    or a0, a0, t0
    sw a0, 0(t2)
    li t0, RET
    sw t0, 4(t2)
    ret

    M_HANDLER_EXIT 0

    PUTC_FN
    .align 12
root: .space 4096
code_page: .space 4096
    .align 12
    .space 1024
stack_top:
