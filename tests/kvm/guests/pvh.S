/* A kernel booted through PVH (the Xen HVM direct boot ABI that QEMU and pyqemu use
 * for ELF images with a XEN_ELFNOTE_PHYS32_ENTRY note): entered in 32-bit protected
 * mode, paging off, %ebx = struct hvm_start_info.  It checks the magic, the command
 * line, the module (initrd) and the memory map it was handed. */
    .set COM1, 0x3F8
    .set DEBUG_EXIT, 0xF4

    .section .note.Xen, "a"
    .p2align 2
    .long 4, 4, 18                    /* namesz, descsz, XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long pvh_start

    .text
    .code32
    .globl pvh_start
pvh_start:
    cli
    mov %ebx, %ebp                    /* hvm_start_info */
    mov $0x90000, %esp
    lea msg_hello, %esi
    call puts32
    cmpl $0x336EC578, (%ebp)          /* XEN_HVM_START_MAGIC_VALUE */
    lea msg_magic, %esi
    call yesno
    lea msg_cmdline, %esi
    call puts32
    mov 24(%ebp), %esi                /* cmdline_paddr */
    call puts32
    lea msg_quote, %esi
    call puts32
    /* module 0: the initrd */
    lea msg_nmod, %esi
    call puts32
    mov 12(%ebp), %eax
    call hex32
    mov 16(%ebp), %edi                /* modlist_paddr */
    lea msg_size, %esi
    call puts32
    mov 8(%edi), %eax
    call hex32
    lea msg_sum, %esi
    call puts32
    mov (%edi), %esi                  /* paddr */
    mov 8(%edi), %ecx
    xor %eax, %eax
1:  test %ecx, %ecx
    jz 2f
    imul $31, %eax, %eax
    movzbl (%esi), %edx
    add %edx, %eax
    inc %esi
    dec %ecx
    jmp 1b
2:  call hex32
    call newline
    /* memory map: a RAM entry (type 1) from 0 and one covering [1 MiB, 16 MiB) */
    cmpl $1, 4(%ebp)                  /* version 1 has the memory map */
    jb 5f
    mov 40(%ebp), %edi                /* memmap_paddr */
    mov 48(%ebp), %ecx                /* memmap_entries */
    xor %ebx, %ebx
3:  test %ecx, %ecx
    jz 5f
    cmpl $1, 16(%edi)
    jne 4f
    cmpl $0, (%edi)
    jne 31f
    or $1, %ebx
31: cmpl $0x100000, (%edi)
    ja 4f
    mov (%edi), %eax
    add 8(%edi), %eax
    cmp $0x1000000, %eax
    jb 4f
    or $2, %ebx
4:  add $24, %edi
    dec %ecx
    jmp 3b
5:  lea msg_mmap, %esi
    cmp $3, %ebx
    call yesno
    lea msg_bye, %esi
    call puts32
    mov $0x78, %al
    out %al, $DEBUG_EXIT
    hlt

puts32:
    push %eax
    push %edx
    mov $COM1, %dx
1:  lodsb
    test %al, %al
    jz 2f
    out %al, %dx
    jmp 1b
2:  pop %edx
    pop %eax
    ret

hex32:
    push %ecx
    push %edx
    push %ebx
    mov %eax, %ebx
    mov $8, %ecx
    mov $COM1, %dx
1:  rol $4, %ebx
    mov %bl, %al
    and $0xF, %al
    add $'0', %al
    cmp $'9', %al
    jbe 2f
    add $('a' - '9' - 1), %al
2:  out %al, %dx
    loop 1b
    pop %ebx
    pop %edx
    pop %ecx
    ret

newline:
    push %eax
    push %edx
    mov $COM1, %dx
    mov $'\n', %al
    out %al, %dx
    pop %edx
    pop %eax
    ret

yesno:                                /* print %esi, then yes if ZF */
    pushf
    call puts32
    popf
    lea msg_yes, %esi
    jz 1f
    lea msg_no, %esi
1:  jmp puts32

msg_hello:   .asciz "PVH entry reached in 32-bit mode\n"
msg_magic:   .asciz "hvm_start_info magic: "
msg_cmdline: .asciz "command line: \""
msg_quote:   .asciz "\"\n"
msg_nmod:    .asciz "modules="
msg_size:    .asciz " initrd size="
msg_sum:     .asciz " checksum="
msg_mmap:    .asciz "memory map: RAM from 0 and over [1 MiB, 16 MiB): "
msg_yes:     .asciz "yes\n"
msg_no:      .asciz "no\n"
msg_bye:     .asciz "bye\n"
