/* S-mode under Sv39: M-mode builds page tables (gigapage identity maps for MMIO and
 * RAM, a 4 KiB mapping for data, a read-only page), delegates page faults and enters
 * S-mode; S-mode stores and loads through the mapping, faults on the read-only and on
 * an unmapped page, checks the A/D bits the walk set, and ends with an ecall that
 * M-mode handles. Then an M-mode timer interrupt through the CLINT and wfi. */
#include "common.inc"
    .equ CLINT_MTIMECMP, 0x2004000
    .equ CLINT_MTIME, 0x200bff8
    .globl _start
_start:
    lla sp, stack_top
    lla t0, m_handler
    csrw mtvec, t0
    /* root[0] = gigapage identity 0..1G (MMIO), RW; root[2] = 2G..3G RAM, RWX */
    lla s0, pt_root
    li t0, (0 << 28) | PTE_V | PTE_R | PTE_W | PTE_A | PTE_D
    sd t0, 0(s0)
    li t0, (0x80000000 >> 2) | PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D
    sd t0, 16(s0)
    /* root[1] -> l1 -> l0: VA 0x40000000 -> data_page (RW, A/D clear),
       VA 0x40001000 -> data_page (R only) */
    lla s1, pt_l1
    srli t0, s1, 2
    ori t0, t0, PTE_V
    sd t0, 8(s0)
    lla s2, pt_l0
    srli t0, s2, 2
    ori t0, t0, PTE_V
    sd t0, 0(s1)
    lla s3, data_page
    srli t0, s3, 2
    ori t1, t0, PTE_V | PTE_R | PTE_W
    sd t1, 0(s2)
    ori t1, t0, PTE_V | PTE_R | PTE_A
    sd t1, 8(s2)
    PMP_ALLOW_ALL
    /* delegate load and store page faults to S */
    li t0, (1 << 13) | (1 << 15)
    csrw medeleg, t0
    SATP_SV39 s0
    MRET_TO_S s_entry

    .align 2
s_entry:
    lla t0, s_handler
    csrw stvec, t0
    li t0, 0x40000000
    li t1, 0x1234abcd
    sd t1, 0(t0)
    ld a0, 0(t0)
    call puthex
    ld a0, 0(s3)              /* the same bytes through the identity map */
    call puthex
    ld a0, 0(s2)              /* leaf PTE: A and D now set by the walk */
    andi a0, a0, 0xff
    call puthex
    li t0, 0x40001000
    ld a0, 0(t0)              /* read-only page: readable */
    call puthex
    sd t1, 0(t0)              /* store page fault, delegated to S */
    li t0, 0x40002000
    ld t1, 0(t0)              /* load page fault: nothing mapped */
    li t0, 0x123456789000
    ld t1, 0(t0)              /* not a canonical Sv39 address */
    csrr a0, sstatus
    call puthex
    /* Remap VA 0x40000000 (data and code) to page2, flush only that address: loads and
       instruction fetches there now see page2; then page3 the same way. */
    lla t0, page2
    call remap
    li t0, 0x40000000
    ld a0, 0(t0)
    call puthex
    li t0, 0x40000008
    jalr t0
    call puthex
    lla t0, page3
    call remap
    li t0, 0x40000008
    jalr t0
    call puthex
    ecall                     /* to M: ecall from S is not delegated */

/* remap: leaf PTE for VA 0x40000000 -> page at t0 (RWX, A, D); sfence.vma that VA */
remap:
    srli t0, t0, 2
    ori t0, t0, PTE_V | PTE_R | PTE_W | PTE_X | PTE_A | PTE_D
    sd t0, 0(s2)
    li t0, 0x40000000
    sfence.vma t0
    ret

    .align 2
s_handler:
    csrr a0, scause
    call puthex
    csrr a0, stval
    call puthex
    csrr t0, sepc
    addi t0, t0, 4
    csrw sepc, t0
    sret

    .align 2
m_handler:
    csrr a0, mcause
    call puthex
    csrr t0, mcause
    li t1, 9
    bne t0, t1, timer_done
    /* timer: mtimecmp = mtime + 1000, enable MTIE and MIE, wait */
    li t0, CLINT_MTIME
    ld t1, 0(t0)
    addi t1, t1, 1000
    li t0, CLINT_MTIMECMP
    sd t1, 0(t0)
    li t0, 1 << 7
    csrs mie, t0
    lla t0, m_handler
    csrw mtvec, t0
    li t0, 1 << 3
    csrs mstatus, t0
1:  wfi
    j 1b
timer_done:
    csrr a0, mip
    andi a0, a0, 0x80
    call puthex
    li a0, 0
    j exit

    PUTC_FN
    .align 12
pt_root: .space 4096
pt_l1: .space 4096
pt_l0: .space 4096
data_page: .dword 0x5a5a5a5a5a5a5a5a
    .space 4088
page2: .dword 0x2222222222222222
    li a0, 0x77
    ret
    .align 12
page3: .dword 0x3333333333333333
    li a0, 0x99
    ret
    .align 12
    .space 1024
stack_top:
