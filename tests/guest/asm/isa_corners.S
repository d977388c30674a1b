# Self-checking ISA corner cases (no libc). Each CHECK compares a register with the
# value the spec mandates; on mismatch the program exits with the check's number, so
# qemu-riscv64 and pyqemu must both exit 0 and print the same line.
        .macro CHECK n, reg, val
        li      t6, \val
        li      a0, \n
        bne     \reg, t6, fail
        .endm

        .text
        .globl _start
_start:
        # --- M: division by zero and overflow (ch. 8.2: no trap)
        li      a1, 7
        li      a2, 0
        div     a3, a1, a2
        CHECK   1, a3, -1
        divu    a3, a1, a2
        CHECK   2, a3, -1
        rem     a3, a1, a2
        CHECK   3, a3, 7
        remu    a3, a1, a2
        CHECK   4, a3, 7
        li      a1, 0x8000000000000000
        li      a2, -1
        div     a3, a1, a2
        CHECK   5, a3, 0x8000000000000000
        rem     a3, a1, a2
        CHECK   6, a3, 0
        li      a1, -0x80000000
        divw    a3, a1, a2
        CHECK   7, a3, -0x80000000
        remw    a3, a1, a2
        CHECK   8, a3, 0
        li      a1, -7
        li      a2, 2
        div     a3, a1, a2
        CHECK   9, a3, -3
        rem     a3, a1, a2
        CHECK   10, a3, -1
        divuw   a3, a1, a2
        CHECK   11, a3, 0x7ffffffc
        mulh    a3, a1, a1
        CHECK   12, a3, 0
        li      a1, -1
        mulhu   a3, a1, a1
        CHECK   13, a3, -2
        mulhsu  a3, a1, a1
        CHECK   14, a3, -1
        li      a1, 0x7fffffff
        mulw    a3, a1, a1
        CHECK   15, a3, 1
        # --- shifts by register use the low 6 (or 5 for W) bits
        li      a1, 1
        li      a2, 65
        sll     a3, a1, a2
        CHECK   16, a3, 2
        li      a2, 33
        sllw    a3, a1, a2
        CHECK   17, a3, 2
        li      a1, 0x80000000
        li      a2, 0
        sraw    a3, a1, a2
        CHECK   18, a3, -0x80000000
        srlw    a3, a1, a2
        CHECK   19, a3, -0x80000000
        li      a2, 4
        srlw    a3, a1, a2
        CHECK   20, a3, 0x08000000
        li      a1, -16
        srai    a3, a1, 2
        CHECK   21, a3, -4
        srli    a3, a1, 60
        CHECK   22, a3, 15
        addiw   a3, a1, 0
        CHECK   23, a3, -16
        li      a1, 0x7fffffff
        addiw   a3, a1, 1
        CHECK   24, a3, -0x80000000
        # --- slt/sltu with signs
        li      a1, -1
        li      a2, 1
        slt     a3, a1, a2
        CHECK   25, a3, 1
        sltu    a3, a1, a2
        CHECK   26, a3, 0
        sltiu   a3, a2, -1
        CHECK   27, a3, 1
        # --- LR/SC: success, failure without reservation, failure after a store
        la      s0, data
        lr.d    a1, (s0)
        addi    a1, a1, 1
        sc.d    a2, a1, (s0)
        CHECK   28, a2, 0
        ld      a3, 0(s0)
        CHECK   29, a3, 43
        sc.d    a2, a1, (s0)
        CHECK   30, a2, 1
        lr.w    a1, (s0)
        li      a4, 100
        sw      a4, 0(s0)
        sc.w    a2, a1, (s0)
        CHECK   31, a2, 1
        # --- AMOs return the old value
        li      a1, 5
        amoadd.d a2, a1, (s0)
        CHECK   32, a2, 100
        li      a1, -3
        amomin.w a2, a1, (s0)
        CHECK   33, a2, 105
        lw      a3, 0(s0)
        CHECK   34, a3, -3
        li      a1, 1
        amomaxu.w a2, a1, (s0)
        lw      a3, 0(s0)
        CHECK   35, a3, -3
        amoswap.d a2, zero, (s0)
        ld      a3, 0(s0)
        CHECK   36, a3, 0
        # --- compressed forms
        c.li    a1, -5
        CHECK   37, a1, -5
        c.addi  a1, 3
        CHECK   38, a1, -2
        c.slli  a1, 4
        CHECK   39, a1, -32
        c.srai  a1, 2
        CHECK   40, a1, -8
        c.andi  a1, 0x1c
        CHECK   41, a1, 24
        c.lui   a1, 0xfffe1
        CHECK   42, a1, -0x1f000
        li      a2, 10
        c.mv    a3, a2
        c.add   a3, a2
        c.sub   a3, a1
        CHECK   43, a3, 0x1f014
        c.addiw a3, 0
        CHECK   44, a3, 0x1f014
        # --- Zba / Zbb / Zbs
        li      a1, 3
        li      a2, 100
        sh3add  a3, a1, a2
        CHECK   45, a3, 124
        li      a1, -1
        add.uw  a3, a1, zero
        CHECK   46, a3, 0xffffffff
        li      a1, 0x00f0
        clz     a3, a1
        CHECK   47, a3, 56
        ctz     a3, a1
        CHECK   48, a3, 4
        cpop    a3, a1
        CHECK   49, a3, 4
        clzw    a3, zero
        CHECK   50, a3, 32
        li      a1, 0x0102030405060708
        rev8    a3, a1
        CHECK   51, a3, 0x0807060504030201
        li      a1, 0x0100000000010000
        orc.b   a3, a1
        CHECK   52, a3, 0xff00000000ff0000
        li      a1, 0x80000001
        roriw   a3, a1, 1
        CHECK   53, a3, -0x40000000
        li      a1, 1
        rori    a3, a1, 1
        CHECK   54, a3, 0x8000000000000000
        li      a1, -5
        li      a2, 3
        min     a3, a1, a2
        CHECK   55, a3, -5
        minu    a3, a1, a2
        CHECK   56, a3, 3
        bseti   a3, zero, 63
        CHECK   57, a3, 0x8000000000000000
        bexti   a3, a3, 63
        CHECK   58, a3, 1
        li      a1, 0xff
        bclri   a3, a1, 0
        CHECK   59, a3, 0xfe
        sext.b  a3, a1
        CHECK   60, a3, -1
        # --- x0 stays zero
        li      zero, 5
        CHECK   61, zero, 0
        # --- jalr: target computed before rd is written (rd == rs1)
        la      a1, 1f
        jalr    a1, 0(a1)
1:      la      a2, 1b
        li      a0, 62
        bne     a1, a2, fail
        # all good
        li      a0, 1
        la      a1, okmsg
        li      a2, 31
        li      a7, 64
        ecall
        li      a0, 0
        li      a7, 93
        ecall
fail:
        li      a7, 93
        ecall

        .data
        .align 3
data:   .dword 42
okmsg:  .ascii "isa corners: all checks passed\n"
okmsg_end:
