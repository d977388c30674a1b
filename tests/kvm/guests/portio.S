/* Port I/O of every width and the string forms, against the 16550's registers:
 * the scratch register keeps a byte, the divisor latch keeps 16 bits split over two
 * ports, a 32-bit "in" spans four registers, rep outsb/outsw stream a buffer. */
    .include "lib.inc"
    .code16
start16:
    xor %ax, %ax
    mov %ax, %ss
    mov $0x7000, %sp
    jmp enter_long_mode

    .code64
main64:
    lea msg_scr(%rip), %rsi
    call puts64
    mov $0x5A, %al
    mov $(COM1 + 7), %dx
    out %al, %dx                      /* SCR */
    xor %eax, %eax
    in %dx, %al
    mov $2, %ecx
    call hex64
    /* Divisor latch with DLAB set: out 16-bit at base, read back byte by byte. */
    lea msg_dl(%rip), %rsi
    call puts64
    mov $(COM1 + 3), %dx
    mov $0x83, %al                    /* DLAB | 8N1 */
    out %al, %dx
    mov $COM1, %dx
    mov $0x0102, %ax
    out %ax, %dx
    in %dx, %al
    mov %al, %bl
    inc %dx
    in %dx, %al
    mov %al, %bh
    mov $(COM1 + 3), %dx
    mov $0x03, %al                    /* DLAB off: COM1+0 is the THR again */
    out %al, %dx
    movzx %bx, %eax
    mov $4, %ecx
    call hex64
    /* LSR: THR empty and transmitter empty. */
    lea msg_lsr(%rip), %rsi
    call puts64
    mov $(COM1 + 5), %dx
    in %dx, %al
    and $0x60, %eax
    mov $2, %ecx
    call hex64
    /* 32-bit in at COM1+4: MCR, LSR, MSR, SCR; keep MCR and SCR (stable bytes). */
    lea msg_in32(%rip), %rsi
    call puts64
    mov $(COM1 + 4), %dx
    mov $0x0B, %al                    /* MCR: DTR | RTS | OUT2 */
    out %al, %dx
    in %dx, %eax
    and $0xFF0000FF, %eax
    mov $8, %ecx
    call hex64
    call newline64
    /* rep outsb */
    lea msg_rep(%rip), %rsi
    mov $(msg_rep_end - msg_rep), %ecx
    mov $COM1, %dx
    rep outsb
    /* An unclaimed port: writes vanish (the POST-code port 0x80). */
    mov $0x42, %al
    out %al, $0x80
    /* A loop of 1000 exits, each one a round trip through the VMM. */
    mov $1000, %ecx
    mov $(COM1 + 7), %dx
1:  mov %cl, %al
    out %al, %dx
    loop 1b
    in %dx, %al
    lea msg_loop(%rip), %rsi
    call puts64
    mov $2, %ecx
    call hex64
    call newline64
    /* Exit status from a computed value: (0x2A << 1) | 1 = 85 */
    mov $0x15, %al
    add %al, %al
    out %al, $DEBUG_EXIT
    hlt

msg_scr:  .asciz "scratch="
msg_dl:   .asciz " divisor="
msg_lsr:  .asciz " lsr="
msg_in32: .asciz " in32="
msg_rep:  .ascii "rep outsb reached the console\n"
msg_rep_end:
msg_loop: .asciz "after 1000 outs scratch="
