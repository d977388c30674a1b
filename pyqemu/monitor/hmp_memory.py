"""HMP ``x /FMT ADDR`` and ``xp /FMT ADDR``: dump guest memory in QEMU's layout.

FMT is ``/[count][format][size]``: format x (hex), d (signed), u (unsigned), o (octal),
c (characters), i (instructions); size b, h, w, g (1, 2, 4, 8 bytes).  The dump
covers count units of the size; format c then prints each of those bytes.  Each line
starts with the 16-digit address and holds 16 bytes (8 for byte units); numbers are
padded to the width of the largest value of that size, as QEMU's monitor does.
``x`` takes a virtual address (translated with the first CPU's MMU), ``xp`` a
physical one.  A format that is omitted repeats the previous one.
"""

from __future__ import annotations

from dataclasses import dataclass

SIZES = {"b": 1, "h": 2, "w": 4, "g": 8}
FORMATS = "xduoci"


class HmpMemoryError(Exception):
    pass


@dataclass
class DumpFormat:
    count: int = 1
    format: str = "x"
    size: int = 4


def parse_format(text: str, last: DumpFormat) -> DumpFormat:
    """'/10xw' -> DumpFormat; missing parts come from the last format."""
    fmt = DumpFormat(1, last.format, last.size)
    if not text:
        return fmt
    if not text.startswith("/"):
        raise HmpMemoryError(f"invalid format '{text}'")
    body = text[1:]
    i = 0
    while i < len(body) and body[i].isdigit():
        i += 1
    if i:
        fmt.count = int(body[:i])
    for ch in body[i:]:
        if ch in FORMATS:
            fmt.format = ch
        elif ch in SIZES:
            fmt.size = SIZES[ch]
        else:
            raise HmpMemoryError(f"invalid char in format: '{ch}'")
    if fmt.count < 1:
        raise HmpMemoryError("invalid count")
    return fmt


def _char(v: int) -> str:
    if v == 0x27:
        return "'\\''"
    if v == 0x5C:
        return "'\\\\'"
    if v == 0x0A:
        return "'\\n'"
    if v == 0x0D:
        return "'\\r'"
    if 32 <= v < 127:
        return f"'{chr(v)}'"
    return f"'\\x{v:02x}'"


def format_dump(addr: int, data: bytes, fmt: DumpFormat) -> str:
    """The lines QEMU prints for data read at addr (not for format i)."""
    size = 1 if fmt.format == "c" else fmt.size
    bits = size * 8
    digits = {"x": bits // 4, "o": -(-bits // 3), "u": -(-bits * 10 // 33),
              "d": -(-bits * 10 // 33)}.get(fmt.format, 0)
    line = 8 if fmt.size == 1 else 16      # from the unit size, even for format c
    out = []
    for off in range(0, len(data), line):
        chunk = data[off:off + line]
        parts = [f"{addr + off:016x}:"]
        for i in range(0, len(chunk), size):
            v = int.from_bytes(chunk[i:i + size], "little")
            f = fmt.format
            if f == "x":
                parts.append(f"0x{v:0{digits}x}")
            elif f == "o":
                parts.append(f"{'0' + format(v, 'o') if v else '0':>{digits}}")
            elif f == "u":
                parts.append(f"{v:>{digits}}")
            elif f == "d":
                if v >> (bits - 1):
                    v -= 1 << bits
                parts.append(f"{v:>{digits}}")
            else:
                parts.append(_char(v))
        out.append(" ".join(parts))
    return "\n".join(out) + "\n"


def format_insns(addr: int, data: bytes, count: int) -> str:
    """``x/Ni``: count instructions with capstone, in QEMU's monitor layout."""
    from pyqemu.target.riscv.disas import _cs

    out = []
    off = 0
    while len(out) < count and off < len(data):
        insns = list(_cs().disasm(data[off:], addr + off, 1))
        if not insns:
            half = int.from_bytes(data[off:off + 2], "little")
            out.append(f"0x{addr + off:016x}:  {half:04x}              unimp")
            off += 2
            continue
        insn = insns[0]
        raw = int.from_bytes(insn.bytes, "little")
        enc = f"{raw:0{2 * insn.size}x}"
        out.append(f"0x{insn.address:016x}:  {enc:<18}{insn.mnemonic:<24}{insn.op_str}".rstrip())
        off += insn.size
    return "\n".join(out) + "\n"
