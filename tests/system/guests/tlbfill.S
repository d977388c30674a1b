/* Data accesses that miss the TLB, again and again, in a loop run 5000 times (so that
 * the native backend's interpreter tier and its translated blocks both run it; the
 * interpreter has the loop fill the TLB and retries the access). Sv39, S-mode:
 *   VA 0x40000000 -> a RW page; VA 0x40001000 -> a read-only page;
 *   VA 0x40002000 -> a RW page that each iteration unmaps (PTE cleared, sfence.vma
 *   of that page), so its next load takes a load page fault, whose handler maps it
 *   again and retries the load.
 * Each iteration also stores to the read-only page and does an AMO on it (store/AMO
 * page faults, skipped by the handler), does a misaligned lw inside the RW page, and
 * reads the UART's LSR through the MMIO gigapage. A checksum of the loaded values,
 * the trap causes and tvals is printed, then the numbers of traps. */
#include "common.inc"
    .equ VA, 0x40000000
    .globl _start
_start:
    lla sp, stack_top
    lla t0, m_handler
    csrw mtvec, t0
    SV39_TABLES
    lla t0, rw_frame
    srli t0, t0, 2
    ori t0, t0, LEAF
    sd t0, 0(s2)                              /* VA 0x40000000: RW */
    lla t0, ro_frame
    srli t0, t0, 2
    ori t0, t0, PTE_V | PTE_R | PTE_A | PTE_D
    sd t0, 8(s2)                              /* VA 0x40001000: read-only */
    lla t0, fault_frame
    srli t0, t0, 2
    ori s3, t0, LEAF                          /* s3: the PTE the handler puts back */
    li t0, (1 << 13) | (1 << 15)              /* load and store/AMO page faults to S */
    csrw medeleg, t0
    PMP_ALLOW_ALL
    MRET_TO_S s_entry

    .align 2
s_entry:
    lla t0, s_handler
    csrw stvec, t0
    SATP_SV39 s0
    li s4, 0                  /* checksum */
    li s5, 0                  /* traps taken */
    li s6, 5000
    li s7, VA
    li s8, VA + 0x2000
    li t0, 0x1234
    sd t0, 0(s8)              /* (mapped at first) */
loop:
    sd zero, 16(s2)           /* unmap VA 0x40002000 */
    sfence.vma s8, zero
    ld a0, 0(s8)              /* load page fault, mapped by the handler, retried */
    add s4, s4, a0
    sd s6, 0(s7)              /* RW page */
    ld a1, 0(s7)
    add s4, s4, a1
    lw a1, 0x102(s7)          /* misaligned, inside the page */
    add s4, s4, a1
    li t1, 0x1000
    add t1, t1, s7
    lw a2, 0(t1)
    add s4, s4, a2
    sw s6, 4(t1)              /* store page fault: skipped */
    amoadd.w a3, s6, (t1)     /* store/AMO page fault: skipped */
    li t2, UART
    lbu a4, 5(t2)             /* MMIO through the gigapage */
    andi a4, a4, 0x60
    add s4, s4, a4
    MIX33
    addi s6, s6, -1
    bnez s6, loop
    PRINT_S4_S5_EXIT

/* S-mode: a load page fault maps VA 0x40002000 again and retries; a store/AMO fault
 * skips the instruction. Both fold cause and tval into the checksum. */
    .align 2
s_handler:
    FOLD_TRAP
    li t5, 13
    bne t3, t5, 1f
    sd s3, 16(s2)
    sfence.vma
    sret
1:  csrr t5, sepc
    addi t5, t5, 4
    csrw sepc, t5
    sret
    PUTC_FN
    M_HANDLER_EXIT 3

    .align 12
rw_frame:
    .space 4096
ro_frame:
    .word 0x11111111, 0x22222222
    .space 4096 - 8
fault_frame:
    .space 4096
    SV39_TABLE_SPACE
