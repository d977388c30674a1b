"""The C extension (RISC-V unprivileged ISA, chapter 16, RV64C) as an expansion.

Every compressed instruction is an alias of a 32-bit one; ``expand_rvc`` returns that
32-bit word (or 0 for a reserved or illegal encoding), so the rest of the translator
sees only base instructions.
"""

from __future__ import annotations


def _bits(v: int, hi: int, lo: int) -> int:
    return (v >> lo) & ((1 << (hi - lo + 1)) - 1)


def _sx(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _i(op: int, rd: int, f3: int, rs1: int, imm: int) -> int:
    return ((imm & 0xFFF) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op


def _s(op: int, f3: int, rs1: int, rs2: int, imm: int) -> int:
    imm &= 0xFFF
    return ((imm >> 5) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 31) << 7) | op


def _r(op: int, rd: int, f3: int, rs1: int, rs2: int, f7: int) -> int:
    return (f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | op


def _b(f3: int, rs1: int, rs2: int, imm: int) -> int:
    imm &= 0x1FFF
    return ((((imm >> 12) & 1) << 31) | (((imm >> 5) & 0x3F) << 25) | (rs2 << 20) | (rs1 << 15)
            | (f3 << 12) | (((imm >> 1) & 0xF) << 8) | (((imm >> 11) & 1) << 7) | 0x63)


def _j(rd: int, imm: int) -> int:
    imm &= 0x1FFFFF
    return ((((imm >> 20) & 1) << 31) | (((imm >> 1) & 0x3FF) << 21) | (((imm >> 11) & 1) << 20)
            | (((imm >> 12) & 0xFF) << 12) | (rd << 7) | 0x6F)


def _cj_imm(h: int) -> int:
    # offset[11|4|9:8|10|6|7|3:1|5] in bits 12..2
    v = ((_bits(h, 12, 12) << 11) | (_bits(h, 11, 11) << 4) | (_bits(h, 10, 9) << 8)
         | (_bits(h, 8, 8) << 10) | (_bits(h, 7, 7) << 6) | (_bits(h, 6, 6) << 7)
         | (_bits(h, 5, 3) << 1) | (_bits(h, 2, 2) << 5))
    return _sx(v, 12)


def _cb_imm(h: int) -> int:
    # offset[8|4:3] in 12..10, offset[7:6|2:1|5] in 6..2
    v = ((_bits(h, 12, 12) << 8) | (_bits(h, 11, 10) << 3) | (_bits(h, 6, 5) << 6)
         | (_bits(h, 4, 3) << 1) | (_bits(h, 2, 2) << 5))
    return _sx(v, 9)


def expand_rvc(h: int) -> int:
    op = h & 3
    f3 = h >> 13
    rd = _bits(h, 11, 7)
    rs2 = _bits(h, 6, 2)
    rdp = 8 + _bits(h, 4, 2)  # rd' / rs2'
    rs1p = 8 + _bits(h, 9, 7)  # rs1' / rd'
    if h == 0:
        return 0  # the all-zero halfword is defined illegal
    if op == 0:
        if f3 == 0:  # c.addi4spn
            nz = ((_bits(h, 12, 11) << 4) | (_bits(h, 10, 7) << 6) | (_bits(h, 6, 6) << 2)
                  | (_bits(h, 5, 5) << 3))
            return _i(0x13, rdp, 0, 2, nz) if nz else 0
        uimm_d = (_bits(h, 12, 10) << 3) | (_bits(h, 6, 5) << 6)
        uimm_w = (_bits(h, 12, 10) << 3) | (_bits(h, 6, 6) << 2) | (_bits(h, 5, 5) << 6)
        if f3 == 1:
            return _i(0x07, rdp, 3, rs1p, uimm_d)  # c.fld
        if f3 == 2:
            return _i(0x03, rdp, 2, rs1p, uimm_w)  # c.lw
        if f3 == 3:
            return _i(0x03, rdp, 3, rs1p, uimm_d)  # c.ld
        if f3 == 5:
            return _s(0x27, 3, rs1p, rdp, uimm_d)  # c.fsd
        if f3 == 6:
            return _s(0x23, 2, rs1p, rdp, uimm_w)  # c.sw
        if f3 == 7:
            return _s(0x23, 3, rs1p, rdp, uimm_d)  # c.sd
        return 0
    if op == 1:
        imm6 = _sx((_bits(h, 12, 12) << 5) | _bits(h, 6, 2), 6)
        if f3 == 0:
            return _i(0x13, rd, 0, rd, imm6)  # c.addi / c.nop
        if f3 == 1:
            return _i(0x1B, rd, 0, rd, imm6) if rd else 0  # c.addiw
        if f3 == 2:
            return _i(0x13, rd, 0, 0, imm6)  # c.li
        if f3 == 3:
            if rd == 2:  # c.addi16sp
                nz = _sx((_bits(h, 12, 12) << 9) | (_bits(h, 6, 6) << 4) | (_bits(h, 5, 5) << 6)
                         | (_bits(h, 4, 3) << 7) | (_bits(h, 2, 2) << 5), 10)
                return _i(0x13, 2, 0, 2, nz) if nz else 0
            if imm6 == 0:
                return 0
            return ((imm6 << 12) & 0xFFFFF000) | (rd << 7) | 0x37  # c.lui
        if f3 == 4:
            sub = _bits(h, 11, 10)
            sh = (_bits(h, 12, 12) << 5) | _bits(h, 6, 2)
            if sub == 0:
                return _i(0x13, rs1p, 5, rs1p, sh)  # c.srli
            if sub == 1:
                return _i(0x13, rs1p, 5, rs1p, sh | 0x400)  # c.srai
            if sub == 2:
                return _i(0x13, rs1p, 7, rs1p, imm6)  # c.andi
            f = (_bits(h, 12, 12) << 2) | _bits(h, 6, 5)
            table = {0: (0, 0x20, 0x33), 1: (4, 0, 0x33), 2: (6, 0, 0x33), 3: (7, 0, 0x33),
                     4: (0, 0x20, 0x3B), 5: (0, 0, 0x3B)}
            if f not in table:
                return 0
            fn3, f7, opc = table[f]
            return _r(opc, rs1p, fn3, rs1p, rdp, f7)  # c.sub c.xor c.or c.and c.subw c.addw
        if f3 == 5:
            return _j(0, _cj_imm(h))  # c.j
        if f3 == 6:
            return _b(0, rs1p, 0, _cb_imm(h))  # c.beqz
        return _b(1, rs1p, 0, _cb_imm(h))  # c.bnez
    # op == 2
    if f3 == 0:
        sh = (_bits(h, 12, 12) << 5) | _bits(h, 6, 2)
        return _i(0x13, rd, 1, rd, sh)  # c.slli
    ld_d = (_bits(h, 12, 12) << 5) | (_bits(h, 6, 5) << 3) | (_bits(h, 4, 2) << 6)
    ld_w = (_bits(h, 12, 12) << 5) | (_bits(h, 6, 4) << 2) | (_bits(h, 3, 2) << 6)
    if f3 == 1:
        return _i(0x07, rd, 3, 2, ld_d)  # c.fldsp
    if f3 == 2:
        return _i(0x03, rd, 2, 2, ld_w) if rd else 0  # c.lwsp
    if f3 == 3:
        return _i(0x03, rd, 3, 2, ld_d) if rd else 0  # c.ldsp
    if f3 == 4:
        if not _bits(h, 12, 12):
            if rs2 == 0:
                return _i(0x67, 0, 0, rd, 0) if rd else 0  # c.jr
            return _r(0x33, rd, 0, 0, rs2, 0)  # c.mv
        if rs2 == 0:
            if rd == 0:
                return 0x00100073  # c.ebreak
            return _i(0x67, 1, 0, rd, 0)  # c.jalr
        return _r(0x33, rd, 0, rd, rs2, 0)  # c.add
    st_d = (_bits(h, 12, 10) << 3) | (_bits(h, 9, 7) << 6)
    st_w = (_bits(h, 12, 9) << 2) | (_bits(h, 8, 7) << 6)
    if f3 == 5:
        return _s(0x27, 3, 2, rs2, st_d)  # c.fsdsp
    if f3 == 6:
        return _s(0x23, 2, 2, rs2, st_w)  # c.swsp
    return _s(0x23, 3, 2, rs2, st_d)  # c.sdsp
