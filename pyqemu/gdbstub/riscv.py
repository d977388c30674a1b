"""RISC-V 64 registers as gdb sees them: the target description and regnum mapping.

Register numbers follow gdb's riscv numbering (gdb/riscv-tdep.h): x0..x31 are 0..31,
pc 32, f0..f31 33..64, a CSR is 65 + its CSR number (so fflags, frm and fcsr are 66, 67
and 68, and mstatus is 833), and the virtual ``priv`` register is 4161. The ``g``
packet carries x0..x31 and pc only; gdb fetches the others with ``p`` as it needs them.
"""

from __future__ import annotations

from collections.abc import Callable

from ..target.riscv import cpu_state as cs
from .target import DebugError

PC_REGNUM = 32
FP_FIRST = 33
CSR_BASE = 65
PRIV_REGNUM = 4161
G_REGS = 33  # x0..x31 + pc

X_NAMES = ("zero ra sp gp tp t0 t1 t2 fp s1 a0 a1 a2 a3 a4 a5 a6 a7 s2 s3 s4 s5 s6 s7 s8 s9 "
           "s10 s11 t3 t4 t5 t6").split()
F_NAMES = ("ft0 ft1 ft2 ft3 ft4 ft5 ft6 ft7 fs0 fs1 fa0 fa1 fa2 fa3 fa4 fa5 fa6 fa7 fs2 fs3 "
           "fs4 fs5 fs6 fs7 fs8 fs9 fs10 fs11 ft8 ft9 ft10 ft11").split()
FP_CSRS = {0x001: "fflags", 0x002: "frm", 0x003: "fcsr"}

# The CSRs system mode shows (the ones the hart implements and software reads most).
SYSTEM_CSRS = {
    0x100: "sstatus", 0x104: "sie", 0x105: "stvec", 0x106: "scounteren", 0x10A: "senvcfg",
    0x140: "sscratch", 0x141: "sepc", 0x142: "scause", 0x143: "stval", 0x144: "sip",
    0x180: "satp", 0x300: "mstatus", 0x301: "misa", 0x302: "medeleg", 0x303: "mideleg",
    0x304: "mie", 0x305: "mtvec", 0x306: "mcounteren", 0x30A: "menvcfg",
    0x340: "mscratch", 0x341: "mepc", 0x342: "mcause", 0x343: "mtval", 0x344: "mip",
    0x3A0: "pmpcfg0", 0x3B0: "pmpaddr0", 0xB00: "mcycle", 0xB02: "minstret",
    0xC00: "cycle", 0xC01: "time", 0xC02: "instret", 0xF11: "mvendorid", 0xF12: "marchid",
    0xF13: "mimpid", 0xF14: "mhartid",
}


def target_xml(system: bool) -> str:
    lines = ['<?xml version="1.0"?>', '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
             "<target>", "<architecture>riscv:rv64</architecture>",
             '<feature name="org.gnu.gdb.riscv.cpu">']
    for i, name in enumerate(X_NAMES):
        typ = {"ra": "code_ptr", "sp": "data_ptr", "gp": "data_ptr", "tp": "data_ptr"}.get(name,
                                                                                       "int")
        lines.append(f'<reg name="{name}" bitsize="64" type="{typ}" regnum="{i}"/>')
    lines.append(f'<reg name="pc" bitsize="64" type="code_ptr" regnum="{PC_REGNUM}"/>')
    lines += ["</feature>", '<feature name="org.gnu.gdb.riscv.fpu">',
              '<union id="riscv_double"><field name="float" type="ieee_single"/>'
              '<field name="double" type="ieee_double"/></union>']
    for i, name in enumerate(F_NAMES):
        lines.append(f'<reg name="{name}" bitsize="64" type="riscv_double" '
                     f'regnum="{FP_FIRST + i}"/>')
    for csr, name in FP_CSRS.items():
        lines.append(f'<reg name="{name}" bitsize="32" type="int" regnum="{CSR_BASE + csr}"/>')
    lines.append("</feature>")
    if system:
        lines.append('<feature name="org.gnu.gdb.riscv.csr">')
        for csr, name in SYSTEM_CSRS.items():
            lines.append(f'<reg name="{name}" bitsize="64" type="int" '
                         f'regnum="{CSR_BASE + csr}"/>')
        lines += ["</feature>", '<feature name="org.gnu.gdb.riscv.virtual">',
                  f'<reg name="priv" bitsize="64" type="int" regnum="{PRIV_REGNUM}"/>',
                  "</feature>"]
    lines.append("</target>")
    return "\n".join(lines) + "\n"


class RiscvRegisters:
    """Reads and writes gdb's registers of one hart's state buffer ``q``.

    ``csr_read``/``csr_write`` (system mode) reach the hart's CSR file; they return
    None / False for a CSR the hart does not have.
    """

    def __init__(self, system: bool,
                 csr_read: Callable[[object, int], int | None] | None = None,
                 csr_write: Callable[[object, int, int], bool] | None = None) -> None:
        self.system = system
        self.csr_read = csr_read
        self.csr_write = csr_write
        self.xml = target_xml(system)

    def read_all(self, q) -> bytes:
        words = [0] + [q[i] for i in range(1, 32)] + [q[cs.PC]]
        return b"".join(w.to_bytes(8, "little") for w in words)

    def write_all(self, q, data: bytes) -> None:
        if len(data) < 8 * G_REGS:
            raise DebugError(1)
        for i in range(1, 32):
            q[i] = int.from_bytes(data[8 * i:8 * i + 8], "little")
        q[cs.PC] = int.from_bytes(data[8 * 32:8 * 33], "little")

    def read(self, cpu, regnum: int) -> bytes | None:
        q = cpu.q
        if 0 <= regnum < 32:
            return (q[regnum] if regnum else 0).to_bytes(8, "little")
        if regnum == PC_REGNUM:
            return q[cs.PC].to_bytes(8, "little")
        if FP_FIRST <= regnum < FP_FIRST + 32:
            return q[cs.F0 + regnum - FP_FIRST].to_bytes(8, "little")
        csr = regnum - CSR_BASE
        if csr in FP_CSRS:
            v = (q[cs.FFLAGS], q[cs.FRM], (q[cs.FRM] << 5) | q[cs.FFLAGS])[csr - 1]
            return v.to_bytes(4, "little")
        if self.system and regnum == PRIV_REGNUM:
            return q[cs.PRIV].to_bytes(8, "little")
        if self.system and csr in SYSTEM_CSRS and self.csr_read is not None:
            v = self.csr_read(cpu, csr)
            return None if v is None else v.to_bytes(8, "little")
        return None

    def write(self, cpu, regnum: int, data: bytes) -> bool:
        q = cpu.q
        v = int.from_bytes(data, "little")
        if 0 <= regnum < 32:
            if regnum:
                q[regnum] = v & 0xFFFFFFFFFFFFFFFF
            return True
        if regnum == PC_REGNUM:
            q[cs.PC] = v & 0xFFFFFFFFFFFFFFFF
            return True
        if FP_FIRST <= regnum < FP_FIRST + 32:
            q[cs.F0 + regnum - FP_FIRST] = v & 0xFFFFFFFFFFFFFFFF
            return True
        csr = regnum - CSR_BASE
        if csr == 0x001:
            q[cs.FFLAGS] = v & 0x1F
            return True
        if csr == 0x002:
            q[cs.FRM] = v & 7
            return True
        if csr == 0x003:
            q[cs.FFLAGS], q[cs.FRM] = v & 0x1F, (v >> 5) & 7
            return True
        if self.system and regnum == PRIV_REGNUM:
            if v not in (0, 1, 3):
                return False
            q[cs.PRIV] = v
            return True
        if self.system and csr in SYSTEM_CSRS and self.csr_write is not None:
            return self.csr_write(cpu, csr, v & 0xFFFFFFFFFFFFFFFF)
        return False
