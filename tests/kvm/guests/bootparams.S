/* A "kernel" in bzImage format that checks what the Linux x86 boot protocol
 * (Documentation/arch/x86/boot.rst) hands it in boot_params: the e820 map, the
 * command line and the initrd.
 *
 * pyqemu enters it directly at the 64-bit entry point (load address + 0x200) with
 * %rsi = boot_params, as the 64-bit boot protocol says.  QEMU instead boots it through
 * SeaBIOS, which runs the real-mode setup code at setup + 0x200; that code does what
 * Linux's setup does before it reaches the same 64-bit entry: E820 through INT 15h into
 * boot_params.e820_table, then long mode with an identity map and the __BOOT_CS (0x10)
 * / __BOOT_DS (0x18) GDT.
 */
    .set COM1, 0x3F8
    .set DEBUG_EXIT, 0xF4
    .set BP_E820_ENTRIES, 0x1E8
    .set BP_E820_TABLE, 0x2D0
    .set BP_HDR_SIGNATURE, 0x202
    .set BP_TYPE_OF_LOADER, 0x210
    .set BP_RAMDISK_IMAGE, 0x218
    .set BP_RAMDISK_SIZE, 0x21C
    .set BP_CMD_LINE_PTR, 0x228
    .set BP_EXT_RAMDISK_IMAGE, 0x0C0
    .set BP_EXT_RAMDISK_SIZE, 0x0C4
    .set BP_EXT_CMD_LINE_PTR, 0x0C8
    .set SETUP_SEG, 0x1000            /* where QEMU puts the setup of a modern bzImage */
    .set PT, 0x70000
    .set ZERO_PAGE, 0x80000

    .section .setup, "ax"
    .code16
    .org 0x1F1
setup_sects:     .byte 7
root_flags:      .word 0
syssize:         .long (kernel_end - kernel_start) / 16
ram_size:        .word 0
vid_mode:        .word 0xFFFF
root_dev:        .word 0
boot_flag:       .word 0xAA55
    .org 0x200
    jmp setup_start                   /* the real-mode entry: setup segment + 0x20:0 */
header:          .ascii "HdrS"
version:         .word 0x020F
realmode_swtch:  .long 0
start_sys_seg:   .word 0x1000
kernel_version:  .word 0
type_of_loader:  .byte 0
loadflags:       .byte 0x01           /* LOADED_HIGH */
setup_move_size: .word 0x8000
code32_start:    .long 0x100000
ramdisk_image:   .long 0
ramdisk_size:    .long 0
bootsect_kludge: .long 0
heap_end_ptr:    .word 0
ext_loader_ver:  .byte 0
ext_loader_type: .byte 0
cmd_line_ptr:    .long 0
initrd_addr_max: .long 0x7FFFFFFF
kernel_alignment: .long 0x200000
relocatable_kernel: .byte 0
min_alignment:   .byte 21
xloadflags:      .word 0x0003         /* XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G */
cmdline_size:    .long 2047
hardware_subarch: .long 0
hardware_subarch_data: .quad 0
payload_offset:  .long 0
payload_length:  .long 0
setup_data:      .quad 0
pref_address:    .quad 0x100000
init_size:       .long 0x10000
handover_offset: .long 0
kernel_info_offset: .long 0

setup_start:
    cli
    mov %cs, %ax
    sub $0x20, %ax                    /* the setup segment: boot_params lives at 0 */
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0xE000, %sp
    push %ax
    push $setup_normalized
    lret
setup_normalized:
    cmp $SETUP_SEG, %ax
    jne bad_segment
    /* Like Linux's setup: a fresh zero page away from this code (boot_params'
     * e820_table at 0x2D0 overlaps the setup code), the header copied into it. */
    mov $(ZERO_PAGE >> 4), %ax
    mov %ax, %es
    xor %di, %di
    xor %eax, %eax
    mov $1024, %ecx
    cld
    rep stosl
    mov $0x1F1, %si
    mov $0x1F1, %di
    mov $(setup_start - 0x1F1), %cx
    rep movsb
    /* E820 through the BIOS, into boot_params.e820_table. */
    xor %ebx, %ebx
    mov $BP_E820_TABLE, %di
1:  mov $0xE820, %eax
    mov $0x534D4150, %edx             /* "SMAP" */
    mov $20, %ecx
    int $0x15
    jc 2f
    cmp $0x534D4150, %eax
    jne 2f
    incb %es:BP_E820_ENTRIES
    add $20, %di
    cmpb $128, %es:BP_E820_ENTRIES
    jae 2f
    test %ebx, %ebx
    jnz 1b
2:  /* Identity map 0-4 GiB with 2 MiB pages at PT (PML4, PDPT, 4 PDs). */
    mov $(PT >> 4), %ax
    mov %ax, %es
    xor %di, %di
    xor %eax, %eax
    mov $(6 * 4096 / 4), %ecx
    rep stosl
    movl $(PT + 0x1003), %es:0
    movl $(PT + 0x2003), %es:0x1000
    movl $(PT + 0x3003), %es:0x1008
    movl $(PT + 0x4003), %es:0x1010
    movl $(PT + 0x5003), %es:0x1018
    mov $0x2000, %di
    mov $0x83, %eax
    mov $2048, %cx
3:  mov %eax, %es:(%di)
    add $0x200000, %eax
    jnc 4f
    movl $1, %es:4(%di)               /* never: stays below 4 GiB */
4:  add $8, %di
    loop 3b
    lgdtl gdt_desc
    mov %cr4, %eax
    or $0x20, %eax
    mov %eax, %cr4
    mov $PT, %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx
    rdmsr
    or $0x100, %eax
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax
    mov %eax, %cr0
    ljmpl $0x10, $(SETUP_SEG * 16 + setup64)

bad_segment:
    mov $'?', %al
    mov $COM1, %dx
    out %al, %dx
    mov $0x7F, %al
    out %al, $DEBUG_EXIT

    .code64
setup64:
    mov $0x18, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov $ZERO_PAGE, %esi              /* %rsi = boot_params */
    mov $0x100200, %eax
    jmp *%rax

    .p2align 3
gdt:
    .quad 0, 0
    .quad 0x00AF9B000000FFFF          /* __BOOT_CS: 64-bit code */
    .quad 0x00CF93000000FFFF          /* __BOOT_DS: flat data */
gdt_end:
gdt_desc:
    .word gdt_end - gdt - 1
    .long SETUP_SEG * 16 + gdt

/* ------------------------------------------------------------------------------ */
    .section .kernel, "ax"
kernel_start:
    .code32
startup_32:                           /* the 32-bit entry: not used by either VMM */
    mov $0x7E, %al
    out %al, $DEBUG_EXIT
    .org 0x200
    .code64
startup_64:
    cli
    mov %rsi, %r15                    /* boot_params */
    mov $0x90000, %rsp
    lea msg_hello(%rip), %rsi
    call puts64
    /* The setup header the loader copied in: "HdrS". */
    cmpl $0x53726448, BP_HDR_SIGNATURE(%r15)
    lea msg_hdr(%rip), %rsi
    call yesno
    cmpb $0, BP_TYPE_OF_LOADER(%r15)
    lea msg_loader(%rip), %rsi
    call yesno_ne
    /* e820: a usable entry from 0 of at least 600 KiB ... */
    movzbl BP_E820_ENTRIES(%r15), %ecx
    lea BP_E820_TABLE(%r15), %rbx
    xor %r8d, %r8d                    /* low memory found */
    xor %r9d, %r9d                    /* kernel range covered */
    xor %r10, %r10                    /* usable bytes */
1:  test %ecx, %ecx
    jz 3f
    cmpl $1, 16(%rbx)
    jne 2f
    mov (%rbx), %rax
    mov 8(%rbx), %rdx
    add %rdx, %r10
    test %rax, %rax
    jnz 4f
    cmp $(600 * 1024), %rdx
    jb 4f
    mov $1, %r8d
4:  /* ... one covering [1 MiB, 16 MiB) where the kernel lives ... */
    cmp $0x100000, %rax
    ja 2f
    add %rax, %rdx
    cmp $0x1000000, %rdx
    jb 2f
    mov $1, %r9d
2:  add $20, %rbx
    dec %ecx
    jmp 1b
3:  lea msg_e820_low(%rip), %rsi
    cmp $1, %r8d
    call yesno
    lea msg_e820_kernel(%rip), %rsi
    cmp $1, %r9d
    call yesno
    /* ... and about all of -m 128M usable in total. */
    lea msg_e820_total(%rip), %rsi
    cmp $(120 << 20), %r10
    setae %al
    cmp $(128 << 20), %r10
    setbe %ah
    and %ah, %al
    cmp $1, %al
    call yesno
    /* The command line. */
    lea msg_cmdline(%rip), %rsi
    call puts64
    mov BP_CMD_LINE_PTR(%r15), %esi
    mov BP_EXT_CMD_LINE_PTR(%r15), %eax
    shl $32, %rax
    or %rax, %rsi
    call puts64
    mov $'"', %al
    mov $COM1, %dx
    out %al, %dx
    call newline64
    /* The initrd: size, alignment, and a checksum of its bytes. */
    mov BP_RAMDISK_IMAGE(%r15), %ebx
    mov BP_EXT_RAMDISK_IMAGE(%r15), %eax
    shl $32, %rax
    or %rax, %rbx
    mov BP_RAMDISK_SIZE(%r15), %ecx
    mov BP_EXT_RAMDISK_SIZE(%r15), %eax
    shl $32, %rax
    or %rax, %rcx
    lea msg_initrd(%rip), %rsi
    call puts64
    mov %rcx, %rax
    push %rcx
    mov $8, %ecx
    call hex64
    pop %rcx
    lea msg_sum(%rip), %rsi
    call puts64
    xor %eax, %eax                    /* sum = sum * 31 + byte */
    xor %edx, %edx
5:  test %rcx, %rcx
    jz 6f
    imul $31, %eax, %eax
    movzbl (%rbx), %edx
    add %edx, %eax
    inc %rbx
    dec %rcx
    jmp 5b
6:  mov $8, %ecx
    call hex64
    call newline64
    lea msg_align(%rip), %rsi
    mov BP_RAMDISK_IMAGE(%r15), %eax
    test $0xFFF, %eax
    call yesno
    lea msg_bye(%rip), %rsi
    call puts64
    mov $0x70, %al
    out %al, $DEBUG_EXIT
    hlt

/* yesno: print the string at %rsi then "yes" if ZF is set, "no" otherwise. */
yesno:
    pushf
    call puts64
    popf
    lea msg_yes(%rip), %rsi
    jz 1f
    lea msg_no(%rip), %rsi
1:  jmp puts64

yesno_ne:
    pushf
    call puts64
    popf
    lea msg_yes(%rip), %rsi
    jnz 1f
    lea msg_no(%rip), %rsi
1:  jmp puts64

    .include "console64.inc"

msg_hello:       .asciz "64-bit entry reached with boot_params\n"
msg_hdr:         .asciz "setup header copied (HdrS): "
msg_loader:      .asciz "type_of_loader set: "
msg_e820_low:    .asciz "e820: usable low memory from 0: "
msg_e820_kernel: .asciz "e820: usable [1 MiB, 16 MiB): "
msg_e820_total:  .asciz "e820: 120-128 MiB usable in all: "
msg_cmdline:     .asciz "command line: \""
msg_initrd:      .asciz "initrd size="
msg_sum:         .asciz " checksum="
msg_align:       .asciz "initrd page aligned: "
msg_yes:         .asciz "yes\n"
msg_no:          .asciz "no\n"
msg_bye:         .asciz "bye\n"
    .p2align 9
kernel_end:
