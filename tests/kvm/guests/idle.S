/* Prints "i", then halts with interrupts off forever: only the user can end it. */
    .include "lib.inc"
    .code16
start16:
    mov $0x3F8, %dx
    mov $'i', %al
    out %al, %dx
1:  cli
    hlt
    jmp 1b
