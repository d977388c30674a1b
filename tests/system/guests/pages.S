/* Code that crosses virtual pages mapped to physical pages that are not adjacent
 * (privileged ISA 4.3). Frames, in physical order: decoy1, b1, a1, a2, decoy2, b2;
 * VA 0x40000000 -> a1, 0x40001000 -> b1, 0x40002000 -> a2, 0x40003000 -> b2.
 * Loop 1 starts on the second page (b1) and branches back to the last halfword of the
 * first page (c.addi a0, 1), which falls through to b1; the frame physically before b1
 * holds c.addi a0, 4 at that spot. Loop 2 runs a 32-bit addi that straddles 0x40002ffe..0x40003001,
 * and the frame physically after a2 holds other bytes than b2's. Fetching through the
 * wrong page's mapping, or through physical adjacency, changes the sums. 5000 iterations,
 * so that interpreted and translated code (both tiers of the native backend) run them. */
#include "common.inc"
    .equ VA, 0x40000000
    .globl _start
_start:
    lla sp, stack_top
    lla t0, m_handler
    csrw mtvec, t0
    SV39_TABLES
    lla a0, a1_frame
    li a1, 0
    call map
    lla a0, b1_frame
    li a1, 1
    call map
    lla a0, a2_frame
    li a1, 2
    call map
    lla a0, b2_frame
    li a1, 3
    call map
    PMP_ALLOW_ALL
    MRET_TO_S s_entry

/* l0[a1] = leaf PTE for the frame at a0 */
map:
    srli a0, a0, 2
    ori a0, a0, LEAF
    slli a1, a1, 3
    add a1, a1, s2
    sd a0, 0(a1)
    ret

    .align 2
s_entry:
    SATP_SV39 s0
    li a0, 0
    li a1, 5000
    lla s7, back1
    li t0, VA + 0x1000        /* in at b1: the first jump to 0x40000ffe comes from b1 */
    jr t0
back1:
    call puthex               /* 5000 x 0x100 + 4999 = 0x4e3387 */
    li a0, 0
    li a1, 5000
    lla s7, back2
    li t0, VA + 0x2ffe
    jr t0
back2:
    call puthex               /* 5000 x 0x10 = 0x13880 */
    li a0, 0
    j exit
    PUTC_FN
    M_HANDLER_EXIT 3

    .option push
    .option norvc
    .align 12
decoy1:
    .fill 4094, 1, 0
    .2byte 0x0511             /* c.addi a0, 4: never run */
b1_frame:                     /* VA 0x40001000 */
    addi a0, a0, 0x100
    addi a1, a1, -1
    bnez a1, . - 10           /* back to VA 0x40000ffe */
    jr s7
    .fill 4096 - 16, 1, 0
a1_frame:                     /* VA 0x40000000 */
    .fill 4094, 1, 0
    .2byte 0x0505             /* VA 0x40000ffe: c.addi a0, 1 */
a2_frame:                     /* VA 0x40002000 */
    .fill 4094, 1, 0
    .2byte 0x0513             /* VA 0x40002ffe: addi a0, a0, 16, low half */
decoy2:
    .2byte 0x0405             /* "high half" of addi s0, s0, ... : never run */
    .fill 4094, 1, 0
b2_frame:                     /* VA 0x40003000 */
    .2byte 0x0105             /* the high half of addi a0, a0, 16 */
    addi a1, a1, -1
    bnez a1, . - 8            /* back to VA 0x40002ffe */
    jr s7
    .fill 4096 - 14, 1, 0
    .option pop
    SV39_TABLE_SPACE
