/* A virtio-blk driver in a few hundred instructions, run against a real disk image.
 *
 * PCI: scan bus 0 through configuration mechanism #1 for 1AF4:1042 (modern) or
 * 1AF4:1001 (transitional), size and place its BARs, enable memory decoding and bus
 * mastering, walk the capability list for the virtio structures (virtio 1.x 4.1.4).
 * virtio: reset, ACKNOWLEDGE|DRIVER, negotiate VERSION_1, FEATURES_OK, one split queue
 * of 8 descriptors, DRIVER_OK.  Then three requests, each a 3-descriptor chain
 * (header, data, status) polled for completion: read sector 0, write sector 1, read
 * sector 1 back; and a read past the end of the disk, which must fail with IOERR.
 */
    .include "lib.inc"
    .set BAR_TABLE, 0x600             /* bar_base[6] */
    .set NOTIFY_MULT, 0x680
    .set NOTIFY_ADDR, 0x688
    .set AVAIL_SHADOW, 0x690
    .set MSIX_CAP, 0x698
    .set IRQ_COUNT, 0x6A0
    .set IDT, 0x8000
    .set LAPIC, 0xFEE00000
    .set VQ_DESC, 0x200000
    .set VQ_AVAIL, 0x201000
    .set VQ_USED, 0x202000
    .set REQ_HDR, 0x203000
    .set BUF0, 0x204000
    .set REQ_STATUS, 0x205000
    .set BUF1, 0x206000
    .set QSIZE, 8
    .set MMIO_NEXT, 0xE0000000
    .code16
start16:
    xor %ax, %ax
    mov %ax, %ss
    mov $0x7000, %sp
    jmp enter_long_mode

    .code64
main64:
    /* --- find the device ------------------------------------------------------ */
    xor %r12d, %r12d                  /* devfn << 8 */
1:  mov %r12d, %ebx
    call pci_read32
    cmp $0x10421AF4, %eax
    je found
    cmp $0x10011AF4, %eax
    je found
    add $0x800, %r12d
    cmp $0x10000, %r12d
    jb 1b
    lea msg_nodev(%rip), %rsi
    call puts64
    EXIT 0x71
found:
    lea msg_found(%rip), %rsi
    call puts64
    /* --- BARs ----------------------------------------------------------------- */
    mov $MMIO_NEXT, %r8d              /* next free MMIO address */
    mov $0xC000, %r9d                 /* next free I/O port */
    xor %r10d, %r10d                  /* BAR index */
2:  lea 0x10(%r12, %r10, 4), %ebx
    mov $0xFFFFFFFF, %ecx
    call pci_write32
    call pci_read32
    movq $0, BAR_TABLE(, %r10, 8)
    test %eax, %eax
    jz 5f
    test $1, %eax
    jz 3f
    and $~3, %eax                     /* I/O BAR */
    neg %eax
    and $0xFFFF, %eax
    lea -1(%r9, %rax), %ecx
    neg %eax
    and %eax, %ecx
    mov %ecx, %r9d
    call pci_write32
    mov %r9, BAR_TABLE(, %r10, 8)
    neg %eax
    add %eax, %r9d
    jmp 5f
3:  mov %eax, %r11d                   /* memory BAR: r11 = type bits */
    and $~0xF, %eax
    neg %eax                          /* size */
    lea -1(%r8, %rax), %ecx
    neg %eax
    and %eax, %ecx
    mov %ecx, %r8d
    call pci_write32
    mov %r8, BAR_TABLE(, %r10, 8)
    neg %eax
    add %eax, %r8d
    and $6, %r11d
    cmp $4, %r11d                     /* 64-bit: the upper half is the next BAR */
    jne 5f
    inc %r10d
    add $4, %ebx
    xor %ecx, %ecx
    call pci_write32
5:  inc %r10d
    cmp $6, %r10d
    jb 2b
    lea 0x04(%r12), %ebx              /* command: I/O, memory, bus master */
    mov $0x7, %ecx
    call pci_write32
    /* --- capabilities ----------------------------------------------------------- */
    xor %r13d, %r13d                  /* common cfg */
    xor %r14d, %r14d                  /* notify base */
    xor %r15d, %r15d                  /* device cfg */
    lea 0x34(%r12), %ebx
    call pci_read32
    movzbl %al, %r10d
6:  test %r10d, %r10d
    jz 9f
    lea (%r12, %r10), %ebx
    call pci_read32
    mov %eax, %r11d                   /* id | next << 8 | len << 16 | type << 24 */
    cmp $0x11, %al                    /* MSI-X */
    jne 72f
    mov %r10d, MSIX_CAP
    jmp 8f
72: cmp $0x09, %al
    jne 8f
    add $4, %ebx
    call pci_read32
    movzbl %al, %ecx                  /* bar */
    mov BAR_TABLE(, %rcx, 8), %rsi
    add $4, %ebx
    call pci_read32                   /* offset */
    add %rax, %rsi
    mov %r11d, %eax
    shr $24, %eax
    cmp $1, %eax
    jne 7f
    test %r13, %r13
    jnz 8f
    mov %rsi, %r13
    jmp 8f
7:  cmp $2, %eax
    jne 71f
    test %r14, %r14
    jnz 8f
    mov %rsi, %r14
    add $8, %ebx
    call pci_read32
    mov %eax, NOTIFY_MULT
    jmp 8f
71: cmp $4, %eax
    jne 8f
    test %r15, %r15
    jnz 8f
    mov %rsi, %r15
8:  mov %r11d, %eax
    shr $8, %eax
    movzbl %al, %r10d
    jmp 6b
9:  lea msg_caps(%rip), %rsi
    call puts64
    test %r13, %r13
    jz nocaps
    test %r14, %r14
    jz nocaps
    test %r15, %r15
    jz nocaps
    lea msg_yes(%rip), %rsi
    call puts64
    .ifdef MSIX
    call setup_msix
    .endif
    /* --- virtio initialisation (3.1.1) ------------------------------------------- */
    mov %r13, %rdi
    movb $0, 0x14(%rdi)
1:  cmpb $0, 0x14(%rdi)
    jne 1b
    movb $1, 0x14(%rdi)               /* ACKNOWLEDGE */
    movb $3, 0x14(%rdi)               /* DRIVER */
    movl $1, 0x00(%rdi)
    mov 0x04(%rdi), %eax
    lea msg_v1(%rip), %rsi
    test $1, %eax                     /* VIRTIO_F_VERSION_1 (bit 32) */
    call yesno_nz
    movl $0, 0x08(%rdi)
    movl $0, 0x0C(%rdi)
    movl $1, 0x08(%rdi)
    movl $1, 0x0C(%rdi)
    movb $0x0B, 0x14(%rdi)            /* FEATURES_OK */
    mov 0x14(%rdi), %al
    lea msg_fok(%rip), %rsi
    test $0x08, %al
    call yesno_nz
    movw $0, 0x16(%rdi)               /* queue 0 */
    lea msg_qmax(%rip), %rsi
    call puts64
    movzwl 0x18(%rdi), %eax
    mov $4, %ecx
    call hex64
    call newline64
    movw $QSIZE, 0x18(%rdi)
    .ifdef BAD_RING
    movl $0x7FF00000, 0x20(%rdi)      /* a descriptor table far outside guest RAM */
    .else
    movl $VQ_DESC, 0x20(%rdi)
    .endif
    movl $0, 0x24(%rdi)
    movl $VQ_AVAIL, 0x28(%rdi)
    movl $0, 0x2C(%rdi)
    movl $VQ_USED, 0x30(%rdi)
    movl $0, 0x34(%rdi)
    movzwl 0x1E(%rdi), %eax           /* queue_notify_off */
    imul NOTIFY_MULT, %eax
    add %r14, %rax
    mov %rax, NOTIFY_ADDR
    mov $VQ_AVAIL, %ebx               /* rings empty; interrupts wanted with MSI-X only */
    .ifdef MSIX
    movw $0, (%rbx)
    .else
    movw $1, (%rbx)                   /* VRING_AVAIL_F_NO_INTERRUPT */
    .endif
    movw $0, 2(%rbx)
    movw $0, AVAIL_SHADOW
    mov $VQ_USED, %ebx
    movl $0, (%rbx)
    .ifdef MSIX
    movw $0, 0x1A(%rdi)               /* queue 0 -> MSI-X vector 0 */
    lea msg_qvec(%rip), %rsi
    call puts64
    movzwl 0x1A(%rdi), %eax
    mov $4, %ecx
    call hex64
    call newline64
    .endif
    movw $1, 0x1C(%rdi)               /* queue_enable */
    movb $0x0F, 0x14(%rdi)            /* DRIVER_OK */
    /* --- device configuration: capacity in 512-byte sectors --------------------- */
    lea msg_cap(%rip), %rsi
    call puts64
    mov 4(%r15), %eax
    shl $32, %rax
    mov (%r15), %ecx
    or %rcx, %rax
    mov %rax, %rbp                    /* capacity */
    mov $16, %ecx
    call hex64
    call newline64
    .ifdef BAD_RING
    /* Kick the queue whose ring is not RAM: the device must flag DEVICE_NEEDS_RESET
     * (2.1.2) rather than touch anything; the disk stays untouched. */
    mov $VQ_AVAIL, %edi
    movw $0, 4(%rdi)
    movw $1, 2(%rdi)
    mov NOTIFY_ADDR, %rdi
    movw $0, (%rdi)
    mov $100000000, %rcx
1:  testb $0x40, 0x14(%r13)
    jnz 2f
    pause
    dec %rcx
    jnz 1b
2:  lea msg_nr(%rip), %rsi
    testb $0x40, 0x14(%r13)
    call yesno_nz
    EXIT 0x74
msg_nr: .asciz "DEVICE_NEEDS_RESET after a ring outside RAM: "
    .endif
    /* --- read sector 0 ---------------------------------------------------------- */
    xor %eax, %eax
    xor %ebx, %ebx
    mov $BUF0, %edx
    call blk_request
    lea msg_r0(%rip), %rsi
    call puts64
    mov $BUF0, %esi
    movb $0, 48(%rsi)
    call puts64
    call newline64
    /* --- write sector 1 ----------------------------------------------------------- */
    mov $BUF1, %edi
    lea msg_payload(%rip), %rsi
    mov $512, %ecx
    xor %eax, %eax
    push %rdi
    push %rcx
    rep stosb
    pop %rcx
    pop %rdi
1:  lodsb
    stosb
    test %al, %al
    jnz 1b
    mov $1, %eax
    mov $1, %ebx
    mov $BUF1, %edx
    call blk_request
    lea msg_w1(%rip), %rsi
    call puts64
    /* --- read it back ------------------------------------------------------------- */
    mov $BUF0, %edi
    mov $512, %ecx
    mov $0xEE, %al
    rep stosb
    xor %eax, %eax
    mov $1, %ebx
    mov $BUF0, %edx
    call blk_request
    lea msg_r1(%rip), %rsi
    call puts64
    mov $BUF0, %esi
    call puts64
    /* --- a read past the end --------------------------------------------------- */
    xor %eax, %eax
    mov %rbp, %rbx
    add $8, %rbx
    mov $BUF0, %edx
    call blk_request
    lea msg_end(%rip), %rsi
    call puts64
    call newline64
    .ifdef MSIX
    lea msg_nirq(%rip), %rsi
    call puts64
    mov IRQ_COUNT, %rax
    mov $4, %ecx
    call hex64
    call newline64
    .endif
    lea msg_bye(%rip), %rsi
    call puts64
    EXIT 0x70

nocaps:
    lea msg_no(%rip), %rsi
    call puts64
    EXIT 0x72

/* blk_request: %eax type (0 in, 1 out), %rbx sector, %rdx buffer; prints nothing,
 * leaves the status byte in %al after printing " status=XX". */
blk_request:
    push %rdi
    mov $REQ_HDR, %edi
    mov %eax, (%rdi)
    movl $0, 4(%rdi)
    mov %rbx, 8(%rdi)
    movb $0xFF, REQ_STATUS
    mov $VQ_DESC, %edi
    movq $REQ_HDR, (%rdi)             /* desc 0: header, device-readable */
    movl $16, 8(%rdi)
    movw $1, 12(%rdi)                 /* NEXT */
    movw $1, 14(%rdi)
    mov %rdx, 16(%rdi)                /* desc 1: data */
    movl $512, 24(%rdi)
    test %eax, %eax
    mov $3, %ecx                      /* NEXT | WRITE for a read */
    mov $1, %esi
    cmovnz %esi, %ecx
    movw %cx, 28(%rdi)
    movw $2, 30(%rdi)
    movq $REQ_STATUS, 32(%rdi)        /* desc 2: status, device-writable */
    movl $1, 40(%rdi)
    movw $2, 44(%rdi)
    movw $0, 46(%rdi)
    movzwl AVAIL_SHADOW, %eax
    mov %eax, %ecx
    and $(QSIZE - 1), %ecx
    mov $VQ_AVAIL, %edi
    movw $0, 4(%rdi, %rcx, 2)         /* ring[idx % size] = head 0 */
    inc %eax
    mov %ax, AVAIL_SHADOW
    mov %ax, 2(%rdi)                  /* publish: avail.idx */
    mov NOTIFY_ADDR, %rdi
    movw $0, (%rdi)                   /* notify queue 0 */
    mov $VQ_USED, %edi
    .ifdef MSIX
    /* Sleep until this request's interrupt has been taken (one per request: each
     * waits for the previous one's, so none coalesce), then check the ring. */
    movzwl %ax, %ecx
1:  cli
    cmp %rcx, IRQ_COUNT
    jae 3f
    sti
    hlt
    jmp 1b
3:  cmp %ax, 2(%rdi)
    je 2f
    lea msg_early(%rip), %rsi         /* interrupt before the used index moved */
    call puts64
    EXIT 0x76
    .endif
    mov $100000000, %rcx
1:  cmp %ax, 2(%rdi)
    je 2f
    pause
    dec %rcx
    jnz 1b
    lea msg_timeout(%rip), %rsi
    call puts64
    EXIT 0x73
2:  lea msg_status(%rip), %rsi
    call puts64
    movzbl REQ_STATUS, %eax
    mov $2, %ecx
    call hex64
    pop %rdi
    ret

    .ifdef MSIX
/* MSI-X: a 64-bit IDT gate for vector 0x50, the local APIC on, table entry 0 aimed at
 * APIC 0 with vector 0x50, then MSI-X Enable in the capability's Message Control. */
setup_msix:
    movq $0, IRQ_COUNT
    mov $IDT, %edi
    xor %eax, %eax
    mov $(256 * 16 / 8), %ecx
    rep stosq
    lea msix_isr(%rip), %rax
    mov $(IDT + 0x50 * 16), %ebx
    mov %ax, (%rbx)
    movw $0x08, 2(%rbx)
    movw $0x8E00, 4(%rbx)
    shr $16, %rax
    mov %ax, 6(%rbx)
    shr $16, %rax
    mov %eax, 8(%rbx)
    movl $0, 12(%rbx)
    movw $(256 * 16 - 1), 0x7F00
    movq $IDT, 0x7F02
    lidt 0x7F00
    mov $LAPIC, %edi
    movl $0x1FF, 0xF0(%rdi)
    mov MSIX_CAP, %ebx
    add %r12d, %ebx
    add $4, %ebx
    call pci_read32                   /* table offset | BIR */
    mov %eax, %ecx
    and $7, %ecx
    mov BAR_TABLE(, %rcx, 8), %rdi
    and $~7, %eax
    add %rax, %rdi
    movl $0xFEE00000, (%rdi)          /* message address: APIC 0 */
    movl $0, 4(%rdi)
    movl $0x50, 8(%rdi)               /* message data: vector 0x50, fixed, edge */
    movl $0, 12(%rdi)                 /* unmasked */
    sub $4, %ebx
    call pci_read32
    or $0x80000000, %eax              /* Message Control bit 15: MSI-X Enable */
    mov %eax, %ecx
    call pci_write32
    lea msg_msix(%rip), %rsi
    call puts64
    ret

msix_isr:
    push %rdi
    incq IRQ_COUNT
    mov $LAPIC, %edi
    movl $0, 0xB0(%rdi)               /* EOI */
    pop %rdi
    iretq

msg_msix: .asciz "MSI-X enabled, vector 0 -> APIC 0 vector 0x50\n"
msg_qvec: .asciz "queue 0 MSI-X vector="
msg_nirq: .asciz "MSI-X interrupts taken: "
msg_early: .asciz "interrupt came before the used index moved\n"
    .endif

pci_read32:                           /* %ebx = devfn << 8 | reg -> %eax */
    push %rdx
    mov %ebx, %eax
    or $0x80000000, %eax
    mov $0xCF8, %dx
    out %eax, %dx
    mov $0xCFC, %dx
    in %dx, %eax
    pop %rdx
    ret

pci_write32:                          /* %ebx = devfn << 8 | reg, %ecx = value */
    push %rdx
    push %rax
    mov %ebx, %eax
    or $0x80000000, %eax
    mov $0xCF8, %dx
    out %eax, %dx
    mov $0xCFC, %dx
    mov %ecx, %eax
    out %eax, %dx
    pop %rax
    pop %rdx
    ret

yesno_nz:                             /* print %rsi, then yes if ZF clear */
    pushf
    call puts64
    popf
    lea msg_yes(%rip), %rsi
    jnz 1f
    lea msg_no(%rip), %rsi
1:  jmp puts64

msg_found:   .asciz "virtio-blk PCI function found\n"
msg_nodev:   .asciz "no virtio-blk PCI function\n"
msg_caps:    .asciz "common/notify/device capabilities: "
msg_v1:      .asciz "VERSION_1 offered: "
msg_fok:     .asciz "FEATURES_OK accepted: "
msg_qmax:    .asciz "queue 0 maximum size="
msg_cap:     .asciz "capacity (sectors)="
msg_r0:      .asciz " <- read sector 0: "
msg_w1:      .asciz " <- write sector 1\n"
msg_r1:      .asciz " <- read sector 1: "
msg_end:     .asciz " <- read past the end"
msg_status:  .asciz "status="
msg_timeout: .asciz "request timed out\n"
msg_payload: .asciz "written by the guest through virtio-blk\n"
msg_yes:     .asciz "yes\n"
msg_no:      .asciz "no\n"
msg_bye:     .asciz "bye\n"
