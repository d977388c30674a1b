/* Interrupts in long mode through KVM's IOAPIC and local APIC: the 64-bit IDT is
 * built in RAM, the LAPIC is software-enabled, the 8259s are masked, and two IOAPIC
 * redirection entries are programmed: pin 2 (the PIT: ISA IRQ 0 arrives on pin 2 of a
 * PC's IOAPIC) to vector 0x30 and pin 4 (COM1) to vector 0x34, edge, fixed, APIC 0. */
    .include "lib.inc"
    .set LAPIC, 0xFEE00000
    .set IOAPIC, 0xFEC00000
    .set IDT, 0x8000
    .set TICKS, 0x500
    .set SERIAL_IIR, 0x508
    .code16
start16:
    xor %ax, %ax
    mov %ax, %ss
    mov $0x7000, %sp
    jmp enter_long_mode

    .code64
main64:
    movq $0, TICKS
    movq $-1, SERIAL_IIR
    mov $IDT, %edi                    /* 256 empty gates */
    xor %eax, %eax
    mov $(256 * 16 / 8), %ecx
    rep stosq
    lea timer_isr(%rip), %rax
    mov $0x30, %ebx
    call set_gate
    lea serial_isr(%rip), %rax
    mov $0x34, %ebx
    call set_gate
    lea spurious_isr(%rip), %rax
    mov $0xFF, %ebx
    call set_gate
    movw $(256 * 16 - 1), 0x7F00
    movq $IDT, 0x7F02
    lidt 0x7F00
    mov $0xFF, %al                    /* both 8259s fully masked */
    out %al, $0x21
    out %al, $0xA1
    mov $LAPIC, %edi
    movl $0x1FF, 0xF0(%rdi)           /* SVR: APIC enabled, spurious vector 0xFF */
    movl $0, 0x80(%rdi)               /* TPR 0 */
    mov $IOAPIC, %esi
    movl $1, (%rsi)                   /* IOAPIC version register */
    mov 0x10(%rsi), %eax
    shr $16, %eax
    and $0xFF, %eax
    lea msg_ver(%rip), %rsi
    call puts64
    mov $2, %ecx
    call hex64
    call newline64
    mov $IOAPIC, %esi
    mov $2, %ebx                      /* pin 2 -> vector 0x30 */
    mov $0x30, %eax
    call set_redir
    mov $4, %ebx                      /* pin 4 -> vector 0x34 */
    mov $0x34, %eax
    call set_redir
    /* PIT channel 0, mode 2, ~1 kHz */
    mov $0x34, %al
    out %al, $0x43
    mov $(1193 & 0xFF), %al
    out %al, $0x40
    mov $(1193 >> 8), %al
    out %al, $0x40
1:  cli
    cmpq $3, TICKS
    jae 2f
    sti
    hlt
    jmp 1b
2:  lea msg_ticks(%rip), %rsi
    call puts64
    mov $IOAPIC, %esi                 /* mask pin 2 again */
    movl $0x14, (%rsi)
    orl $0x10000, 0x10(%rsi)
    /* COM1: OUT2 and "THR empty" interrupt enable. */
    mov $(COM1 + 4), %dx
    mov $0x08, %al
    out %al, %dx
    mov $(COM1 + 1), %dx
    mov $0x02, %al
    out %al, %dx
1:  cmpq $-1, SERIAL_IIR
    jne 2f
    sti
    hlt
    cli
    jmp 1b
2:  lea msg_serial(%rip), %rsi
    call puts64
    mov SERIAL_IIR, %rax
    mov $2, %ecx
    call hex64
    call newline64
    EXIT 0x60

set_gate:                             /* %rax handler, %ebx vector */
    shl $4, %ebx
    add $IDT, %ebx
    mov %ax, (%rbx)
    movw $0x08, 2(%rbx)
    movw $0x8E00, 4(%rbx)             /* present, DPL 0, 64-bit interrupt gate */
    shr $16, %rax
    mov %ax, 6(%rbx)
    shr $16, %rax
    mov %eax, 8(%rbx)
    movl $0, 12(%rbx)
    ret

set_redir:                            /* %ebx pin, %eax vector (edge, fixed, APIC 0) */
    lea 0x10(,%rbx,2), %ecx
    inc %ecx
    movl %ecx, (%rsi)
    movl $0, 0x10(%rsi)               /* destination APIC ID 0 */
    dec %ecx
    movl %ecx, (%rsi)
    movl %eax, 0x10(%rsi)
    ret

timer_isr:
    push %rdi
    incq TICKS
    mov $LAPIC, %edi
    movl $0, 0xB0(%rdi)               /* EOI */
    pop %rdi
    iretq

serial_isr:
    push %rax
    push %rdx
    push %rdi
    mov $(COM1 + 2), %dx
    in %dx, %al
    movzx %al, %eax
    mov %rax, SERIAL_IIR
    mov $(COM1 + 1), %dx
    xor %al, %al
    out %al, %dx
    mov $LAPIC, %edi
    movl $0, 0xB0(%rdi)
    pop %rdi
    pop %rdx
    pop %rax
    iretq

spurious_isr:
    iretq

msg_ver:    .asciz "IOAPIC redirection entries: "
msg_ticks:  .asciz "PIT ticks arrived on IOAPIC pin 2\n"
msg_serial: .asciz "COM1 interrupt on IOAPIC pin 4, IIR="
