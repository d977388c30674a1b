/* A second vCPU started the way an OS does it: the BSP (in long mode) sends
 * INIT, then STARTUP IPIs with vector 0xF8 through its local APIC's ICR; the AP wakes
 * in real mode at 0xF8000 (CS=0xF800, IP=0), says hello with its APIC ID from CPUID,
 * and checks in through a flag in RAM that the BSP polls. */
    .include "lib.inc"
    .set LAPIC, 0xFEE00000
    .set AP_FLAG, 0x500
    .code16
start16:
    xor %ax, %ax
    mov %ax, %ss
    mov %ax, %ds
    mov $0x7000, %sp
    movw $0, AP_FLAG
    jmp enter_long_mode

    .code64
main64:
    mov $LAPIC, %edi
    lea msg_bsp(%rip), %rsi
    call puts64
    mov 0x20(%rdi), %eax            /* local APIC ID register */
    shr $24, %eax
    mov $2, %ecx
    call hex64
    call newline64
    mov $0x1, %eax                    /* how many logical CPUs does CPUID announce */
    cpuid
    shr $16, %ebx
    and $0xFF, %ebx
    lea msg_count(%rip), %rsi
    call puts64
    mov %ebx, %eax
    mov $2, %ecx
    call hex64
    call newline64
    /* INIT IPI to APIC ID 1: destination in ICR high, then delivery mode INIT. */
    movl $(1 << 24), 0x310(%rdi)
    movl $0x00004500, 0x300(%rdi)
    call wait_icr
    /* Two STARTUP IPIs, vector 0xF8 -> the AP starts at 0xF8000. */
    mov $2, %ebx
1:  movl $(1 << 24), 0x310(%rdi)
    movl $0x000046F8, 0x300(%rdi)
    call wait_icr
    cmpw $0, AP_FLAG
    jne 2f
    dec %ebx
    jnz 1b
    /* Give a slow AP time to come up. */
2:  mov $200000000, %rcx
3:  cmpw $0, AP_FLAG
    jne 4f
    pause
    dec %rcx
    jnz 3b
    lea msg_timeout(%rip), %rsi
    call puts64
    EXIT 0x41
4:  lea msg_seen(%rip), %rsi
    call puts64
    movzxw AP_FLAG, %eax
    mov $4, %ecx
    call hex64
    call newline64
    EXIT 0x40

wait_icr:                             /* until "send pending" (bit 12) clears */
    testl $0x1000, 0x300(%rdi)
    jz 1f
    pause
    jmp wait_icr
1:  ret

    .code16
ap_main:                              /* CS=0xF000 from here on */
    mov %cs, %ax
    xor %ax, %ax
    mov %ax, %ss
    mov %ax, %ds
    mov $0x6000, %sp
    mov $(msg_ap - BIOS_BASE), %si
    call puts16
    mov $1, %eax
    cpuid
    shr $24, %ebx
    mov %bx, %ax
    call hex16
    mov $(msg_nl - BIOS_BASE), %si
    call puts16
    movw $0xA900, %ax
    or %bx, %ax
    mov %ax, AP_FLAG                  /* 0xA9 << 8 | APIC ID */
1:  cli
    hlt
    jmp 1b

msg_bsp:     .asciz "BSP: local APIC ID="
msg_count:   .asciz "BSP: CPUID logical processors="
msg_ap:      .asciz "AP: awake in real mode, APIC ID="
msg_nl:      .asciz "\n"
msg_seen:    .asciz "BSP: AP checked in with "
msg_timeout: .asciz "BSP: the AP never came up\n"

    .section .ap, "ax"
    .code16
ap_trampoline:                        /* 0xF8000: CS=0xF800, IP=0 */
    ljmp $0xF000, $(ap_main - BIOS_BASE)
