"""The RV64 decoder, built once from the encoding table in insn_table.py.

Candidates are grouped by the major opcode (bits 6..0) and tried most-specific first
(most fixed bits), so an encoding that is a special case of another wins. Compressed
instructions are expanded to their 32-bit equivalents first (decode_rvc.py).
"""

from __future__ import annotations

from ...record import Record
from .decode_rvc import expand_rvc
from .insn_table import PATTERNS


class Insn(Record):
    """One decoded instruction: its name, encoding, length (2 or 4) and operand fields."""

    _fields = ("name", "raw", "length", "rd", "rs1", "rs2", "rs3", "rm", "imm", "csr", "aq",
               "rl")
    __slots__ = _fields

    def __init__(self, name: str, raw: int, length: int, rd: int = 0, rs1: int = 0,
                 rs2: int = 0, rs3: int = 0, rm: int = 0, imm: int = 0, csr: int = 0,
                 aq: int = 0, rl: int = 0) -> None:
        self.name = name
        self.raw = raw
        self.length = length
        self.rd = rd
        self.rs1 = rs1
        self.rs2 = rs2
        self.rs3 = rs3
        self.rm = rm
        self.imm = imm
        self.csr = csr
        self.aq = aq
        self.rl = rl


def _sx(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _fields(fmt: str, i: int, d: Insn) -> None:
    d.rd = (i >> 7) & 31
    d.rs1 = (i >> 15) & 31
    d.rs2 = (i >> 20) & 31
    if fmt == "I":
        d.imm = _sx(i >> 20, 12)
    elif fmt == "S":
        d.imm = _sx(((i >> 25) << 5) | ((i >> 7) & 31), 12)
    elif fmt == "B":
        d.imm = _sx((((i >> 31) & 1) << 12) | (((i >> 7) & 1) << 11)
                    | (((i >> 25) & 0x3F) << 5) | (((i >> 8) & 0xF) << 1), 13)
    elif fmt == "U":
        d.imm = _sx(i & 0xFFFFF000, 32)
    elif fmt == "J":
        d.imm = _sx((((i >> 31) & 1) << 20) | (((i >> 12) & 0xFF) << 12)
                    | (((i >> 20) & 1) << 11) | (((i >> 21) & 0x3FF) << 1), 21)
    elif fmt == "SH6":
        d.imm = (i >> 20) & 63
    elif fmt == "SH5":
        d.imm = (i >> 20) & 31
    elif fmt == "CSR":
        d.csr = i >> 20
    elif fmt == "AMO":
        d.aq = (i >> 26) & 1
        d.rl = (i >> 25) & 1
    elif fmt in ("R4", "RM"):
        d.rm = (i >> 12) & 7
        d.rs3 = (i >> 27) & 31


def _build() -> dict[int, list[tuple[int, int, str, str]]]:
    table: dict[int, list[tuple[int, int, str, str]]] = {}
    for line in PATTERNS.strip().splitlines():
        if not line.strip():
            continue
        parts = line.split()
        name, fmt = parts[0], parts[-1]
        bits = "".join(parts[1:-1])
        if len(bits) != 32:
            raise ValueError(f"bad pattern for {name}: {len(bits)} bits")
        mask = int("".join("0" if c == "." else "1" for c in bits), 2)
        match = int("".join("1" if c == "1" else "0" for c in bits), 2)
        table.setdefault(match & 0x7F, []).append((mask, match, name, fmt))
    for cands in table.values():
        cands.sort(key=lambda c: -bin(c[0]).count("1"))
    return table


def _by_funct3(table: dict[int, list[tuple[int, int, str, str]]]
               ) -> dict[int, list[tuple[int, int, str, str]]]:
    """The candidates by major opcode and funct3 (bits 14..12): those that fix funct3
    to that value and those that leave it a field, in the same order. OP-IMM alone has
    some twenty encodings, and addi, the commonest instruction, is tried last of them
    by specificity."""
    out: dict[int, list[tuple[int, int, str, str]]] = {}
    for opcode, cands in table.items():
        for funct3 in range(8):
            out[opcode | funct3 << 12] = [
                c for c in cands if c[0] & 0x7000 != 0x7000 or (c[1] >> 12) & 7 == funct3]
    return out


_TABLE = _build()
_TABLE3 = _by_funct3(_TABLE)


def decode32(i: int, length: int = 4, raw: int | None = None) -> Insn | None:
    """Decode a 32-bit instruction word; None if it is not a valid encoding."""
    for mask, match, name, fmt in _TABLE3.get(i & 0x707F, ()):
        if i & mask == match:
            d = Insn(name, i if raw is None else raw, length)
            _fields(fmt, i, d)
            return d
    return None


# Decoded instructions by encoding (16-bit compressed ones under their halfword, which
# cannot collide with a 32-bit word: those have both low bits set). Insn records are
# never modified after decoding, so blocks share them; code repeats the same encodings
# (stack spills, moves, returns) many times.
_CACHE: dict[int, Insn | None] = {}
_CACHE_LIMIT = 1 << 17


def decode(fetch16, pc: int) -> Insn | None:
    """Decode the instruction at pc; fetch16(addr) returns the halfword there."""
    lo = fetch16(pc)
    key = lo if lo & 3 != 3 else lo | (fetch16(pc + 2) << 16)
    try:
        return _CACHE[key]
    except KeyError:
        pass
    return decode_key(key)


def decode_key(key: int) -> Insn | None:
    """Decode an encoding: a 16-bit compressed halfword or a 32-bit word (low bits 11)."""
    d = _CACHE.get(key, _MISSING)
    if d is not _MISSING:
        return d
    if key & 3 != 3:
        word = expand_rvc(key)
        d = decode32(word, 2, key) if word else None
    else:
        d = decode32(key)
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.clear()
    _CACHE[key] = d
    return d


_MISSING = object()
