/* savevm/loadvm guest for the x86 pc machine under KVM (real mode, -bios image):
 * prints "count=NNNN" (hex), counting in a register (di) and in RAM (0x600); a
 * restore that brings back one without the other prints "mismatch" and exits 1.
 * The delay is a plain countdown loop: KVM runs it at the host's speed. */
    .include "lib.inc"
    .set DELAY, 20000
    .code16
start16:
    xor %ax, %ax
    mov %ax, %ds
    movw $0, 0x600
    xor %di, %di
loop:
    inc %di
    incw 0x600
    cmp 0x600, %di
    jne bad
    mov $(label - BIOS_BASE), %si
    call puts16
    mov %di, %ax
    call hex16
    mov $COM1, %dx
    mov $'\n', %al
    out %al, %dx
    mov $DELAY, %ecx
1:  dec %ecx
    jnz 1b
    jmp loop
bad:
    mov $(badmsg - BIOS_BASE), %si
    call puts16
    EXIT 1
label:
    .asciz "count="
badmsg:
    .asciz "mismatch\n"
