"""Host code listings for ``-d out_asm`` (capstone)."""

from __future__ import annotations

import capstone

_cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)


def disassemble(code: bytes, address: int) -> str:
    return "\n".join(f"0x{i.address:016x}:  {i.mnemonic:<8} {i.op_str}".rstrip()
                     for i in _cs.disasm(code, address))
