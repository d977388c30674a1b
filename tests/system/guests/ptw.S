/* Page-table walks after TLB misses, 3000 times over (the native backend's walker in
 * machine code takes the common cases, the softmmu the rest), Sv39, S-mode. Each
 * iteration flushes its pages (sfence.vma with the address) and:
 *   clears A and D of a RW page's PTE, loads (A set by hardware, D not), stores (D
 *   set): the PTE is read back into the checksum after each;
 *   loads a U page with sstatus.SUM clear (load page fault) and set (allowed);
 *   loads an execute-only page with sstatus.MXR set (allowed) and clear (fault);
 *   stores to the execute-only page (store page fault);
 *   loads and stores across the boundary of two RW pages, and misaligned inside one.
 * The S handler folds scause and stval into the checksum and skips the instruction.
 * The checksum and the number of traps are printed. */
#include "common.inc"
    .equ VA, 0x40000000
    .globl _start
_start:
    lla sp, stack_top
    lla t0, m_handler
    csrw mtvec, t0
    SV39_TABLES
    lla a0, rw_frame                          /* VA +0x0000: RW (A, D cleared below) */
    li a1, LEAF
    li a2, 0
    call map
    lla a0, user_frame                        /* VA +0x1000: RW, U */
    li a1, LEAF | 0x10
    li a2, 1
    call map
    lla a0, xonly_frame                       /* VA +0x2000: X only */
    li a1, PTE_V | PTE_X | PTE_A | PTE_D
    li a2, 2
    call map
    lla a0, rw2_frame                         /* VA +0x3000, +0x4000: RW */
    li a1, LEAF
    li a2, 3
    call map
    lla a0, rw3_frame
    li a1, LEAF
    li a2, 4
    call map
    li t0, (1 << 13) | (1 << 15)              /* load and store page faults to S */
    csrw medeleg, t0
    PMP_ALLOW_ALL
    MRET_TO_S s_entry

/* l0[a2] = PTE for the frame at a0 with the bits a1 */
map:
    srli a0, a0, 2
    or a0, a0, a1
    slli a2, a2, 3
    add a2, a2, s2
    sd a0, 0(a2)
    ret

    .align 2
s_entry:
    lla t0, s_handler
    csrw stvec, t0
    SATP_SV39 s0
    li s4, 0                  /* checksum */
    li s5, 0                  /* traps */
    li s6, 3000
    li s7, VA
    li s8, 1 << 18            /* sstatus.SUM */
    li s9, 1 << 19            /* sstatus.MXR */
loop:
    ld t0, 0(s2)              /* the RW page's PTE without A and D */
    andi t0, t0, ~(PTE_A | PTE_D)
    sd t0, 0(s2)
    sfence.vma s7, zero
    ld a0, 8(s7)
    add s4, s4, a0
    ld t0, 0(s2)
    andi t0, t0, PTE_A | PTE_D
    add s4, s4, t0            /* A only */
    sd s6, 8(s7)
    ld t0, 0(s2)
    andi t0, t0, PTE_A | PTE_D
    add s4, s4, t0            /* A and D */
    li t1, VA + 0x1000
    sfence.vma t1, zero
    csrc sstatus, s8
    ld a1, 0(t1)              /* U page, SUM clear: fault */
    csrs sstatus, s8
    ld a1, 0(t1)              /* allowed */
    add s4, s4, a1
    csrc sstatus, s8
    li t1, VA + 0x2000
    sfence.vma t1, zero
    csrs sstatus, s9
    ld a2, 0(t1)              /* X only, MXR set: allowed */
    add s4, s4, a2
    csrc sstatus, s9
    sfence.vma t1, zero
    ld a2, 0(t1)              /* MXR clear: fault */
    sd a2, 8(t1)              /* store: fault */
    li t1, VA + 0x4000
    sfence.vma t1, zero
    addi t2, t1, -4
    sd s6, 0(t2)              /* across VA +0x3ffc..+0x4003 */
    ld a3, 0(t2)
    add s4, s4, a3
    sw s4, 3(t1)              /* misaligned, inside the page */
    lw a3, 3(t1)
    add s4, s4, a3
    MIX33
    addi s6, s6, -1
    bnez s6, loop
    PRINT_S4_S5_EXIT

    .align 2
s_handler:
    FOLD_TRAP
    csrr t3, sepc
    addi t3, t3, 4
    csrw sepc, t3
    sret
    PUTC_FN
    M_HANDLER_EXIT 3

    .align 12
rw_frame:
    .dword 0x1111111111111111, 0
    .space 4096 - 16
user_frame:
    .dword 0x2222222222222222
    .space 4096 - 8
xonly_frame:
    .dword 0x3333333333333333
    .space 4096 - 8
rw2_frame:
    .space 4096
rw3_frame:
    .space 4096
    SV39_TABLE_SPACE
