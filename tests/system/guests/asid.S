/* Address spaces under Sv39 (privileged ISA 4.1.11, 4.2.1): two page tables map VA
 * 0x40000000 (data, then code at +8) to different pages; RAM and MMIO are global
 * gigapages in both. S-mode switches satp between ASID 1 and ASID 2 without
 * sfence.vma and must see each space's own page; satp reads back its ASID; sfence.vma
 * x0, asid for the current and for the other address space; an S software interrupt
 * made pending while SIE is clear is taken right after the csrsi that sets SIE. */
#include "common.inc"
    .globl _start
_start:
    lla sp, stack_top
    lla t0, m_handler
    csrw mtvec, t0
    lla s0, root_a
    lla s1, root_b
    lla s2, l0_a
    lla s3, l0_b
    /* both roots: [0] MMIO gigapage, [2] RAM gigapage, global; [1] -> own l1 -> l0 */
    li t0, (0 << 28) | LEAF | PTE_G
    sd t0, 0(s0)
    sd t0, 0(s1)
    li t0, (0x80000000 >> 2) | LEAF | PTE_G
    sd t0, 16(s0)
    sd t0, 16(s1)
    lla t0, l1_a
    srli t1, t0, 2
    ori t1, t1, PTE_V
    sd t1, 8(s0)
    srli t1, s2, 2
    ori t1, t1, PTE_V
    sd t1, 0(t0)
    lla t0, l1_b
    srli t1, t0, 2
    ori t1, t1, PTE_V
    sd t1, 8(s1)
    srli t1, s3, 2
    ori t1, t1, PTE_V
    sd t1, 0(t0)
    lla t0, page_a
    call leaf_t0
    sd t0, 0(s2)
    lla t0, page_b
    call leaf_t0
    sd t0, 0(s3)
    PMP_ALLOW_ALL
    li t0, 1 << 1             /* S software interrupt delegated to S */
    csrw mideleg, t0
    MRET_TO_S s_entry

/* t0 = page address -> t0 = its leaf PTE (non-global) */
leaf_t0:
    srli t0, t0, 2
    ori t0, t0, LEAF
    ret

    .align 2
s_entry:
    lla t0, s_handler
    csrw stvec, t0
    li s4, 0x40000000
    li s5, (8 << 60) | (1 << 44)
    srli t0, s0, 12
    or s5, s5, t0             /* satp A, ASID 1 */
    li s6, (8 << 60) | (2 << 44)
    srli t0, s1, 12
    or s6, s6, t0             /* satp B, ASID 2 */
    csrw satp, s5
    sfence.vma
    call show                 /* a */
    csrr a0, satp
    srli a0, a0, 44
    call puthex               /* ASID 1 reads back */
    csrw satp, s6             /* switch without sfence.vma */
    call show                 /* b */
    csrw satp, s5
    call show                 /* a again */
    /* A's leaf -> page_c, then sfence.vma x0, ASID 1 (the current space) */
    lla t0, page_c
    call leaf_t0
    sd t0, 0(s2)
    li t1, 1
    sfence.vma x0, t1
    call show                 /* c */
    /* B's leaf -> page_d, sfence.vma x0, ASID 2 (another space), then switch */
    lla t0, page_d
    call leaf_t0
    sd t0, 0(s3)
    li t1, 2
    sfence.vma x0, t1
    csrw satp, s6
    call show                 /* d */
    /* SSIP pending while SIE = 0; csrsi sets SIE: the interrupt comes next */
    li t0, 1 << 1
    csrs sie, t0
    csrs sip, t0
    li a0, 0x5e
    call puthex
    csrsi sstatus, 2
    li a0, 0xaf               /* printed after the handler's scause */
    call puthex
    csrsi sstatus, 2          /* nothing pending: nothing happens */
    li a0, 0xb0
    call puthex
    ecall

/* show: the dword at VA 0x40000000 and what the code at +8 returns */
show:
    mv s7, ra
    ld a0, 0(s4)
    call puthex
    addi t0, s4, 8
    jalr t0
    call puthex
    mv ra, s7
    ret

    .align 2
s_handler:
    csrr a0, scause
    call puthex
    li t0, 1 << 1
    csrc sip, t0
    sret

    M_HANDLER_EXIT 0

    PUTC_FN
    .align 12
root_a: .space 4096
root_b: .space 4096
l1_a: .space 4096
l1_b: .space 4096
l0_a: .space 4096
l0_b: .space 4096
page_a: .dword 0xaaaaaaaaaaaaaaaa
    li a0, 0x11
    ret
    .align 12
page_b: .dword 0xbbbbbbbbbbbbbbbb
    li a0, 0x22
    ret
    .align 12
page_c: .dword 0xcccccccccccccccc
    li a0, 0x33
    ret
    .align 12
page_d: .dword 0xdddddddddddddddd
    li a0, 0x44
    ret
    .align 12
    .space 1024
stack_top:
