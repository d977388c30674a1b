/* System reset requested by the guest, two ways, each followed by a fresh start at
 * the reset vector with RAM kept (a PC's reset does not clear memory): the 8042's
 * pulse-reset command (0xFE to port 0x64), the PIIX reset control register (0x06 then
 * 0x06 to 0xCF9).  A counter in RAM tells each boot where it is. */
    .include "lib.inc"
    .set BOOTS, 0x500
    .set MAGIC, 0x504
    .code16
start16:
    xor %ax, %ax
    mov %ax, %ss
    mov %ax, %ds
    mov $0x7000, %sp
    cmpl $0x52534554, MAGIC           /* "TESR": set on the first boot */
    je 1f
    movl $0x52534554, MAGIC
    movw $0, BOOTS
1:  incw BOOTS
    mov $(msg_boot - BIOS_BASE), %si
    call puts16
    mov BOOTS, %ax
    call hex16
    mov $(msg_nl - BIOS_BASE), %si
    call puts16
    mov BOOTS, %ax
    cmp $1, %ax
    je reset_8042
    cmp $2, %ax
    je reset_cf9
    mov $(msg_bye - BIOS_BASE), %si
    call puts16
    EXIT 0x75

reset_8042:
    mov $(msg_8042 - BIOS_BASE), %si
    call puts16
    mov $0xFE, %al
    out %al, $0x64
    jmp hang

reset_cf9:
    mov $(msg_cf9 - BIOS_BASE), %si
    call puts16
    mov $0x02, %al
    mov $0xCF9, %dx
    out %al, %dx
    mov $0x06, %al
    out %al, %dx
    jmp hang

hang:
    hlt
    jmp hang

msg_boot:  .asciz "boot #"
msg_nl:    .asciz "\n"
msg_8042:  .asciz "reset through the 8042\n"
msg_cf9:   .asciz "reset through 0xCF9\n"
msg_bye:   .asciz "two resets survived\n"
