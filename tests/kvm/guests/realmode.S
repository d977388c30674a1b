/* Real mode from the reset vector: segment arithmetic, the stack, string ops, and
 * the machine state a PC guarantees at power-on (CR0 low word 0x0010). */
    .include "lib.inc"
    .code16
start16:
    xor %ax, %ax
    mov %ax, %ss
    mov $0x7000, %sp
    mov $(msg_hello - BIOS_BASE), %si
    call puts16
    mov $(msg_cs - BIOS_BASE), %si
    call puts16
    mov %cs, %ax
    call hex16
    mov $(msg_msw - BIOS_BASE), %si
    call puts16
    smsw %ax
    call hex16
    /* Write through one segment, read through an overlapping one: 0x1230:0x0045 is
     * linear 0x12345, the same byte as 0x1000:0x2345. */
    mov $0x1230, %ax
    mov %ax, %ds
    movw $0xBEEF, 0x45
    mov $0x1000, %ax
    mov %ax, %es
    mov %es:0x2345, %ax
    push %ax
    mov $(msg_seg - BIOS_BASE), %si
    call puts16
    pop %ax
    call hex16
    /* rep movsb from the ROM into RAM and back out. */
    mov %cs, %ax
    mov %ax, %ds
    xor %ax, %ax
    mov %ax, %es
    mov $(msg_copy - BIOS_BASE), %si
    mov $0x600, %di
    mov $(msg_copy_end - msg_copy), %cx
    cld
    rep movsb
    xor %ax, %ax
    mov %ax, %ds
    mov $0x600, %si
    mov $COM1, %dx
    mov $(msg_copy_end - msg_copy), %cx
    rep outsb
    /* The BIOS image is visible at the top of 4 GiB too: compare the reset vector's
     * first byte through a 32-bit address (FS with a 4 GiB limit, "unreal" mode). */
    mov $(msg_bye - BIOS_BASE), %si
    call puts16
    EXIT 0x10

msg_hello: .asciz "hello from the reset vector\n"
msg_cs:    .asciz "CS="
msg_msw:   .asciz "\nMSW="
msg_seg:   .asciz "\nlinear 0x12345="
msg_copy:  .ascii "\ncopied through RAM with rep movsb/outsb\n"
msg_copy_end:
msg_bye:   .asciz "bye\n"
