"""An x86-64 assembler for the subset the native TCG backend emits (Intel SDM vol. 2).

Only what code generation needs, byte-exact: 64-bit integer ALU forms on registers,
memory operands ``[base + index*scale + disp]`` and immediates, loads and stores of
every width with zero or sign extension, shifts, multiplies, bit counts, setcc/cmovcc,
jumps with labels, calls, and the scalar SSE2 forms used for floating point.

Encoding reminders: a REX prefix (0x40 | W<<3 | R<<2 | X<<1 | B) extends the ModRM
reg field (R), the SIB index (X) and the base or r/m register (B) to r8-r15; W selects
64-bit operand size. A base of rsp/r12 needs a SIB byte; a base of rbp/r13 with no
displacement needs an explicit disp8 of zero (mod=00 there means RIP-relative/disp32).
"""

from __future__ import annotations

import struct

RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI = range(8)
R8, R9, R10, R11, R12, R13, R14, R15 = range(8, 16)
REG_NAMES = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
             "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"]

# Condition codes (the low nibble of jcc/setcc/cmovcc opcodes).
CC_O, CC_NO, CC_B, CC_AE, CC_E, CC_NE, CC_BE, CC_A = range(8)
CC_S, CC_NS, CC_P, CC_NP, CC_L, CC_GE, CC_LE, CC_G = range(8, 16)

# Group-1 ALU operations: the /digit of 0x81/0x83 and the base of the r/m,reg opcodes.
ADD, OR, ADC, SBB, AND, SUB, XOR, CMP = range(8)
# Group-2 shifts: the /digit of 0xC1/0xD3.
ROL, ROR, SHL, SHR, SAR = 0, 1, 4, 5, 7


class Mem:
    """A memory operand [base + index*scale + disp]; base None means absolute disp32."""

    __slots__ = ("base", "index", "scale", "disp")

    def __init__(self, base: int, disp: int = 0, index: int | None = None, scale: int = 1):
        self.base = base
        self.disp = disp
        self.index = index
        self.scale = scale

    def __repr__(self) -> str:
        s = REG_NAMES[self.base]
        if self.index is not None:
            s += f" + {REG_NAMES[self.index]}*{self.scale}"
        if self.disp:
            s += f" {'+' if self.disp > 0 else '-'} {abs(self.disp):#x}"
        return f"[{s}]"


class Label:
    __slots__ = ("pos", "fixups")

    def __init__(self) -> None:
        self.pos: int | None = None
        self.fixups: list[int] = []  # offsets of rel32 fields to patch


def _fits8(v: int) -> bool:
    return -128 <= v < 128


def _fits32(v: int) -> bool:
    return -(1 << 31) <= v < (1 << 31)


_ENCODINGS: dict[tuple, bytes] = {}
_LOAD64: dict[int, bytes] = {}
_STORE64: dict[int, bytes] = {}
_STORE_IMM64: dict[int, bytes] = {}
_MOV_RR: dict[int, bytes] = {}
_LEA64: dict[int, bytes] = {}
_ALU_RR: dict[int, bytes] = {}
_ALU_RI8: dict[int, bytes] = {}
_ALU_RI32: dict[int, bytes] = {}
# mov r32, imm32 (zero-extends): the opcode bytes by register.
_MOV_R32_IMM = [bytes((0xB8 | r,)) for r in range(8)] + [bytes((0x41, 0xB8 | r)) for r in range(8)]
_pack_i32 = struct.Struct("<i").pack
_pack_u32 = struct.Struct("<I").pack


class Assembler:
    """Appends instructions to ``buf``; labels are resolved as they are bound."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def pos(self) -> int:
        return len(self.buf)

    # ------------------------------------------------------------ encoding core
    def _rex(self, w: bool, reg: int, index: int, base: int, force: bool = False) -> None:
        rex = 0x40 | (w << 3) | ((reg >> 3) & 1) << 2 | ((index >> 3) & 1) << 1 | ((base >> 3) & 1)
        if rex != 0x40 or force:
            self.buf.append(rex)

    def _modrm_rm(self, reg: int, rm: int | Mem) -> None:
        """ModRM (+SIB, disp) for a register field and an r/m operand."""
        b = self.buf
        if isinstance(rm, int):
            b.append(0xC0 | (reg & 7) << 3 | (rm & 7))
            return
        base, index, disp = rm.base, rm.index, rm.disp
        if index is None and (base & 7) != RSP:
            if disp == 0 and (base & 7) != RBP:
                b.append((reg & 7) << 3 | (base & 7))
            elif _fits8(disp):
                b.append(0x40 | (reg & 7) << 3 | (base & 7))
                b.append(disp & 0xFF)
            else:
                b.append(0x80 | (reg & 7) << 3 | (base & 7))
                b += struct.pack("<i", disp)
            return
        # SIB form: rm=100. An index of rsp (100 without REX.X) means "no index".
        ss = {1: 0, 2: 1, 4: 2, 8: 3}[rm.scale]
        idx = (index & 7) if index is not None else RSP
        sib = ss << 6 | idx << 3 | (base & 7)
        if disp == 0 and (base & 7) != RBP:
            b.append((reg & 7) << 3 | RSP)
            b.append(sib)
        elif _fits8(disp):
            b.append(0x40 | (reg & 7) << 3 | RSP)
            b.append(sib)
            b.append(disp & 0xFF)
        else:
            b.append(0x80 | (reg & 7) << 3 | RSP)
            b.append(sib)
            b += struct.pack("<i", disp)

    def _op(self, opcode: bytes, reg: int, rm: int | Mem, w: bool = True,
            prefix: bytes = b"", byte_regs: bool = False) -> None:
        """prefix, REX, opcode, ModRM. byte_regs: 8-bit register operands (a REX prefix
        is needed to name sil/dil/spl/bpl instead of dh/bh/ah/ch). Encodings repeat a lot
        within and across blocks (the same registers, the same state offsets): they are
        computed once and then looked up."""
        if type(rm) is int:
            key = (opcode, reg, rm, w, prefix, byte_regs)
        else:
            key = (opcode, reg, rm.base, rm.disp, rm.index, rm.scale, w, prefix, byte_regs)
        enc = _ENCODINGS.get(key)
        if enc is None:
            enc = _ENCODINGS[key] = self._encoding(opcode, reg, rm, w, prefix, byte_regs)
        self.buf += enc

    def _encoding(self, opcode: bytes, reg: int, rm: int | Mem, w: bool = True,
                  prefix: bytes = b"", byte_regs: bool = False) -> bytes:
        buf = self.buf
        self.buf = bytearray()
        self._encode(opcode, reg, rm, w, prefix, byte_regs)
        enc = bytes(self.buf)
        self.buf = buf
        return enc

    def _encode(self, opcode: bytes, reg: int, rm: int | Mem, w: bool, prefix: bytes,
                byte_regs: bool) -> None:
        self.buf += prefix
        if isinstance(rm, Mem):
            index = rm.index if rm.index is not None else 0
            self._rex(w, reg, index, rm.base, force=byte_regs and reg >= 4)
        else:
            self._rex(w, reg, 0, rm, force=byte_regs and (reg >= 4 or rm >= 4))
        self.buf += opcode
        self._modrm_rm(reg, rm)

    # ------------------------------------------------------------ moves
    def mov_rr(self, dst: int, src: int) -> None:
        key = (dst << 4) | src
        enc = _MOV_RR.get(key)
        if enc is None:
            enc = _MOV_RR[key] = self._encoding(b"\x89", src, dst)
        self.buf += enc

    def mov_rr32(self, dst: int, src: int) -> None:
        """mov r32, r32: zero-extends into the full register."""
        self._op(b"\x89", src, dst, w=False)

    def mov_ri(self, dst: int, imm: int) -> None:
        """Load a 64-bit constant with the shortest encoding."""
        imm &= (1 << 64) - 1
        if imm == 0:
            self.alu_rr(XOR, dst, dst, w=False)
        elif imm < (1 << 32):
            self.buf += _MOV_R32_IMM[dst]
            self.buf += _pack_u32(imm)
        elif imm >= (1 << 64) - (1 << 31):
            self._op(b"\xC7", 0, dst)
            self.buf += struct.pack("<i", imm - (1 << 64))
        else:
            self._rex(True, 0, 0, dst)
            self.buf.append(0xB8 | (dst & 7))
            self.buf += struct.pack("<Q", imm)

    def load(self, dst: int, m: Mem, size: int = 8, signed: bool = False) -> None:
        """dst = the size-byte value at m, zero- or sign-extended to 64 bits."""
        if size == 8:
            self._op(b"\x8B", dst, m)
        elif size == 4:
            if signed:
                self._op(b"\x63", dst, m)  # movsxd
            else:
                self._op(b"\x8B", dst, m, w=False)
        elif size == 2:
            self._op(b"\x0F\xBF" if signed else b"\x0F\xB7", dst, m, w=signed)
        else:
            self._op(b"\x0F\xBE" if signed else b"\x0F\xB6", dst, m, w=signed)

    def store(self, m: Mem, src: int, size: int = 8) -> None:
        if size == 8:
            self._op(b"\x89", src, m)
        elif size == 4:
            self._op(b"\x89", src, m, w=False)
        elif size == 2:
            self._op(b"\x89", src, m, w=False, prefix=b"\x66")
        else:
            self._op(b"\x88", src, m, w=False, byte_regs=True)

    # The most frequent forms, [base + disp] with a 64-bit register (state words and
    # spill slots), looked up by one int rather than through _op's tuple key.
    def load64(self, dst: int, base: int, disp: int) -> None:
        """mov dst, qword [base + disp]."""
        key = (disp << 8) | (base << 4) | dst
        enc = _LOAD64.get(key)
        if enc is None:
            enc = _LOAD64[key] = self._encoding(b"\x8B", dst, Mem(base, disp))
        self.buf += enc

    def store64(self, base: int, disp: int, src: int) -> None:
        """mov qword [base + disp], src."""
        key = (disp << 8) | (base << 4) | src
        enc = _STORE64.get(key)
        if enc is None:
            enc = _STORE64[key] = self._encoding(b"\x89", src, Mem(base, disp))
        self.buf += enc

    def store_imm64(self, base: int, disp: int, imm: int) -> None:
        """mov qword [base + disp], imm32 (sign-extended)."""
        key = (disp << 4) | base
        enc = _STORE_IMM64.get(key)
        if enc is None:
            enc = _STORE_IMM64[key] = self._encoding(b"\xC7", 0, Mem(base, disp))
        self.buf += enc
        self.buf += _pack_i32(imm)

    def store_imm(self, m: Mem, imm: int) -> None:
        """mov qword [m], imm32 (sign-extended)."""
        self._op(b"\xC7", 0, m)
        self.buf += struct.pack("<i", imm)

    def lea(self, dst: int, m: Mem) -> None:
        self._op(b"\x8D", dst, m)

    def lea64(self, dst: int, base: int, disp: int) -> None:
        """lea dst, [base + disp]."""
        key = (disp << 8) | (base << 4) | dst
        enc = _LEA64.get(key)
        if enc is None:
            enc = _LEA64[key] = self._encoding(b"\x8D", dst, Mem(base, disp))
        self.buf += enc

    def movzx8(self, dst: int, src: int) -> None:
        self._op(b"\x0F\xB6", dst, src, w=False, byte_regs=True)

    def movzx16(self, dst: int, src: int) -> None:
        self._op(b"\x0F\xB7", dst, src, w=False)

    def movsx8(self, dst: int, src: int) -> None:
        self._op(b"\x0F\xBE", dst, src, byte_regs=True)

    def movsx16(self, dst: int, src: int) -> None:
        self._op(b"\x0F\xBF", dst, src)

    def movsxd(self, dst: int, src: int) -> None:
        self._op(b"\x63", dst, src)

    # ------------------------------------------------------------ arithmetic
    def alu_rr(self, op: int, dst: int, src: int, w: bool = True) -> None:
        key = (op << 9) | (dst << 5) | (src << 1) | w
        enc = _ALU_RR.get(key)
        if enc is None:
            enc = _ALU_RR[key] = self._encoding(bytes([op * 8 + 1]), src, dst, w)
        self.buf += enc

    def alu_rm(self, op: int, dst: int, m: Mem) -> None:
        """dst op= qword [m]."""
        self._op(bytes([op * 8 + 3]), dst, m)

    def alu_ri(self, op: int, dst: int | Mem, imm: int) -> None:
        """dst op= imm (a sign-extended 32-bit immediate)."""
        if type(dst) is int:
            if -128 <= imm < 128:
                key = (dst << 3) | op
                enc = _ALU_RI8.get(key)
                if enc is None:
                    enc = _ALU_RI8[key] = self._encoding(b"\x83", op, dst)
                self.buf += enc
                self.buf.append(imm & 0xFF)
            else:
                key = (dst << 3) | op
                enc = _ALU_RI32.get(key)
                if enc is None:
                    enc = _ALU_RI32[key] = self._encoding(b"\x81", op, dst)
                self.buf += enc
                self.buf += _pack_i32(imm)
            return
        if _fits8(imm):
            self._op(b"\x83", op, dst)
            self.buf.append(imm & 0xFF)
        else:
            self._op(b"\x81", op, dst)
            self.buf += struct.pack("<i", imm)

    def test_mi8(self, m: Mem, imm: int) -> None:
        """test byte [m], imm8."""
        self._op(b"\xF6", 0, m, w=False)
        self.buf.append(imm & 0xFF)

    def test_rr(self, a: int, b: int) -> None:
        self._op(b"\x85", b, a)

    def imul_rr(self, dst: int, src: int | Mem) -> None:
        self._op(b"\x0F\xAF", dst, src)

    def mul_r(self, src: int, signed: bool) -> None:
        """rdx:rax = rax * src (unsigned mul or signed one-operand imul)."""
        self._op(b"\xF7", 5 if signed else 4, src)

    def div_r(self, src: int, signed: bool) -> None:
        """rax = rdx:rax / src, rdx = remainder (unsigned div or signed idiv)."""
        self._op(b"\xF7", 7 if signed else 6, src)

    def cqo(self) -> None:
        """rdx = the sign of rax, for idiv."""
        self.buf += b"\x48\x99"

    def neg(self, r: int) -> None:
        self._op(b"\xF7", 3, r)

    def not_(self, r: int) -> None:
        self._op(b"\xF7", 2, r)

    def shift_ri(self, op: int, r: int, n: int) -> None:
        if n == 1:
            self._op(b"\xD1", op, r)
        else:
            self._op(b"\xC1", op, r)
            self.buf.append(n & 63)

    def shift_cl(self, op: int, r: int) -> None:
        self._op(b"\xD3", op, r)

    def lzcnt(self, dst: int, src: int) -> None:
        self._op(b"\x0F\xBD", dst, src, prefix=b"\xF3")

    def tzcnt(self, dst: int, src: int) -> None:
        self._op(b"\x0F\xBC", dst, src, prefix=b"\xF3")

    def popcnt(self, dst: int, src: int) -> None:
        self._op(b"\x0F\xB8", dst, src, prefix=b"\xF3")

    def bswap(self, r: int) -> None:
        self._rex(True, 0, 0, r)
        self.buf += bytes([0x0F, 0xC8 | (r & 7)])

    def setcc(self, cc: int, r: int) -> None:
        self._op(bytes([0x0F, 0x90 | cc]), 0, r, w=False, byte_regs=True)

    def cmov(self, cc: int, dst: int, src: int) -> None:
        self._op(bytes([0x0F, 0x40 | cc]), dst, src)

    # ------------------------------------------------------------ control flow
    def label(self) -> Label:
        return Label()

    def bind(self, lab: Label) -> None:
        lab.pos = len(self.buf)
        for f in lab.fixups:
            struct.pack_into("<i", self.buf, f, lab.pos - (f + 4))
        lab.fixups.clear()

    def _rel32(self, lab: Label) -> None:
        at = len(self.buf)
        self.buf += b"\0\0\0\0"
        if lab.pos is not None:
            struct.pack_into("<i", self.buf, at, lab.pos - (at + 4))
        else:
            lab.fixups.append(at)

    def jcc(self, cc: int, lab: Label) -> None:
        self.buf += bytes([0x0F, 0x80 | cc])
        self._rel32(lab)

    def jmp(self, lab: Label) -> None:
        self.buf.append(0xE9)
        self._rel32(lab)

    def jmp_rel32_at(self, offset: int) -> int:
        """A jmp rel32 to a position given later (patching); returns the rel32's offset."""
        self.buf.append(0xE9)
        at = len(self.buf)
        self.buf += struct.pack("<i", offset)
        return at

    def jmp_r(self, r: int | Mem) -> None:
        self._op(b"\xFF", 4, r, w=False)

    def call_r(self, r: int) -> None:
        self._op(b"\xFF", 2, r, w=False)

    def ret(self) -> None:
        self.buf.append(0xC3)

    def push(self, r: int) -> None:
        self._rex(False, 0, 0, r)
        self.buf.append(0x50 | (r & 7))

    def pop(self, r: int) -> None:
        self._rex(False, 0, 0, r)
        self.buf.append(0x58 | (r & 7))

    def nop_to_align(self, align: int, offset: int = 0) -> None:
        """Pad with nops so that pos() + offset is a multiple of align."""
        while (len(self.buf) + offset) % align:
            self.buf.append(0x90)

    # ------------------------------------------------------------ SSE2 scalar FP
    def movq_xr(self, x: int, r: int) -> None:
        """movq xmm, r64."""
        self._op(b"\x0F\x6E", x, r, prefix=b"\x66")

    def movq_rx(self, r: int, x: int) -> None:
        """movq r64, xmm."""
        self._op(b"\x0F\x7E", x, r, prefix=b"\x66")

    def sse(self, opcode: int, double: bool, x: int, src: int) -> None:
        """Scalar op xmm, xmm: 0x58 add, 0x59 mul, 0x5C sub, 0x5E div, 0x51 sqrt."""
        self._op(bytes([0x0F, opcode]), x, src, w=False, prefix=b"\xF2" if double else b"\xF3")

    def ucomis(self, double: bool, a: int, b: int) -> None:
        self._op(b"\x0F\x2E", a, b, w=False, prefix=b"\x66" if double else b"")

    def ldmxcsr(self, m: Mem) -> None:
        self._op(b"\x0F\xAE", 2, m, w=False)

    def stmxcsr(self, m: Mem) -> None:
        self._op(b"\x0F\xAE", 3, m, w=False)
