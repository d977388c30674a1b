/* 5 million iterations of a two-instruction loop with no exits: a guest that takes a
 * few milliseconds where KVM runs code at hardware speed, and seconds
 * under an instruction emulator.  Used to decide whether a Linux boot can be tested. */
    .include "lib.inc"
    .code16
start16:
    mov $5000000, %ecx
1:  dec %ecx
    jnz 1b
    EXIT 0x01
