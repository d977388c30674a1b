/* Interrupts through KVM's in-kernel irqchip, in real mode: the 8254 PIT (in the
 * kernel too) ticks IRQ 0 through the 8259 master, then the 16550 (in pyqemu, a
 * user-space device raising its line with KVM_IRQ_LINE) raises IRQ 4 for "THR empty".
 * Both handlers are reached through the real-mode IVT after the PIC remap to 0x20. */
    .include "lib.inc"
    .set TICKS, 0x500                 /* RAM counters */
    .set SERIAL_IIR, 0x502
    .code16
start16:
    cli
    xor %ax, %ax
    mov %ax, %ss
    mov %ax, %ds
    mov $0x7000, %sp
    movw $0, TICKS
    movw $0xFFFF, SERIAL_IIR
    /* The local APIC comes out of reset enabled with LINT0 masked, which would keep
     * the 8259's INTR from the core; a BIOS sets "virtual wire" mode.  Here the APIC
     * is switched off globally instead (IA32_APIC_BASE.EN = 0): legacy PIC mode. */
    mov $0x1B, %ecx
    rdmsr
    and $~0x800, %eax
    wrmsr
    /* IVT entries 0x20 (IRQ 0) and 0x24 (IRQ 4). */
    movw $(timer_isr - BIOS_BASE), 0x20 * 4
    movw $0xF000, 0x20 * 4 + 2
    movw $(serial_isr - BIOS_BASE), 0x24 * 4
    movw $0xF000, 0x24 * 4 + 2
    /* 8259 initialisation: ICW1 edge/cascade/ICW4, ICW2 vector base, ICW3 wiring, ICW4 8086. */
    mov $0x11, %al
    out %al, $0x20
    out %al, $0xA0
    mov $0x20, %al
    out %al, $0x21
    mov $0x28, %al
    out %al, $0xA1
    mov $0x04, %al
    out %al, $0x21
    mov $0x02, %al
    out %al, $0xA1
    mov $0x01, %al
    out %al, $0x21
    out %al, $0xA1
    mov $0xFE, %al                    /* only IRQ 0 */
    out %al, $0x21
    mov $0xFF, %al
    out %al, $0xA1
    /* PIT channel 0, mode 2, ~1 kHz */
    mov $0x34, %al
    out %al, $0x43
    mov $(1193 & 0xFF), %al
    out %al, $0x40
    mov $(1193 >> 8), %al
    out %al, $0x40
    mov $(msg_start - BIOS_BASE), %si
    call puts16
    sti
1:  hlt
    cmpw $5, TICKS
    jb 1b
    cli
    mov $(msg_ticks - BIOS_BASE), %si
    call puts16
    mov $(msg_ok - BIOS_BASE), %si
    call puts16
    /* Now only IRQ 4, from the UART: enable its "THR empty" interrupt. */
    mov $0xEF, %al
    out %al, $0x21
    mov $(COM1 + 4), %dx
    mov $0x08, %al                    /* MCR.OUT2 gates the IRQ on a PC */
    out %al, %dx
    mov $(COM1 + 1), %dx
    mov $0x02, %al                    /* IER.ETBEI */
    out %al, %dx
    /* "sti; hlt" is atomic (the interrupt shadow of sti): no wake-up is lost. */
1:  cmpw $0xFFFF, SERIAL_IIR
    jne 2f
    sti
    hlt
    cli
    jmp 1b
2:
    mov $(msg_serial - BIOS_BASE), %si
    call puts16
    mov SERIAL_IIR, %ax
    call hex16
    mov $(msg_bye - BIOS_BASE), %si
    call puts16
    EXIT 0x30

timer_isr:
    push %ax
    incw %ss:TICKS
    mov $0x20, %al                    /* non-specific EOI */
    out %al, $0x20
    pop %ax
    iret

serial_isr:
    push %ax
    push %dx
    mov $(COM1 + 2), %dx              /* IIR: reading it acknowledges THRE */
    in %dx, %al
    xor %ah, %ah
    mov %ax, %ss:SERIAL_IIR
    mov $(COM1 + 1), %dx
    xor %al, %al                      /* IER off before anything is printed */
    out %al, %dx
    mov $0x20, %al
    out %al, $0x20
    pop %dx
    pop %ax
    iret

msg_start:  .asciz "PIC remapped, PIT at 1 kHz\n"
msg_ticks:  .asciz "timer interrupts >= 5: "
msg_ok:     .asciz "yes"
msg_serial: .asciz "\nserial IRQ 4, IIR="
msg_bye:    .asciz "\nbye\n"
