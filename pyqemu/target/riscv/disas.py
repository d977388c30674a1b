"""Guest disassembly for ``-d in_asm`` (capstone's RISC-V 64 + C mode)."""

from __future__ import annotations

import capstone

_md: capstone.Cs | None = None


def _cs() -> capstone.Cs:
    global _md
    if _md is None:
        _md = capstone.Cs(capstone.CS_ARCH_RISCV,
                          capstone.CS_MODE_RISCV64 | capstone.CS_MODE_RISCVC)
    return _md


def disassemble(code: bytes, addr: int) -> str:
    lines = ["IN: "]
    off = 0
    while off < len(code):
        done = False
        for insn in _cs().disasm(code[off:], addr + off):
            raw = int.from_bytes(insn.bytes, "little")
            width = 2 * insn.size
            lines.append(f"0x{insn.address:016x}:  {raw:0{width}x}  {insn.mnemonic:<10} {insn.op_str}")
            off += insn.size
            done = True
        if not done or off < len(code):
            # capstone stops at what it cannot decode: show the halfword and go on.
            if off < len(code):
                half = int.from_bytes(code[off:off + 2], "little")
                lines.append(f"0x{addr + off:016x}:  {half:04x}      (illegal)")
                off += 2
    return "\n".join(lines) + "\n\n"
