"""Control and status registers of a system-mode hart (privileged ISA ch. 2, 3, 4).

Every CSR lives in the hart's state buffer (cpu_state indices) except the read-only
identification registers and the counters. Access rules (ch. 2.1): bits 9:8 of the
number give the lowest privilege allowed, bits 11:10 == 3 mark it read-only; a CSR
that does not exist, or an access the rules forbid, is an illegal instruction.
Fields are WARL: a write keeps only the bits this hart implements.
"""

from __future__ import annotations

from . import cpu_state as cs
from . import trap as t

# misa: MXL=2 (64-bit) and the extensions implemented: A C D F I M S U.
MISA_VALUE = (2 << 62) | sum(1 << (ord(c) - ord("A")) for c in "ACDFIMSU")
MSTATUS_WRITABLE = (t.MSTATUS_SIE | t.MSTATUS_MIE | t.MSTATUS_SPIE | t.MSTATUS_MPIE
                    | t.MSTATUS_SPP | t.MSTATUS_MPP | t.MSTATUS_FS | t.MSTATUS_MPRV
                    | t.MSTATUS_SUM | t.MSTATUS_MXR | t.MSTATUS_TVM | t.MSTATUS_TW
                    | t.MSTATUS_TSR)
SSTATUS_MASK = (t.MSTATUS_SIE | t.MSTATUS_SPIE | t.MSTATUS_SPP | t.MSTATUS_FS
                | t.MSTATUS_SUM | t.MSTATUS_MXR | t.MSTATUS_SD | (3 << 32))
UXL_SXL_64 = (2 << 32) | (2 << 34)  # UXL = SXL = 64 bits, read-only
S_INTERRUPTS = (1 << t.IRQ_S_SOFT) | (1 << t.IRQ_S_TIMER) | (1 << t.IRQ_S_EXT)
ALL_INTERRUPTS = S_INTERRUPTS | (1 << t.IRQ_M_SOFT) | (1 << t.IRQ_M_TIMER) | (1 << t.IRQ_M_EXT)
# mip bits software may write (the others are driven by the CLINT and the PLIC);
# SEIP is writable by M-mode as well, ORed with the PLIC's line (ch. 3.1.9).
MIP_WRITABLE = (1 << t.IRQ_S_SOFT) | (1 << t.IRQ_S_TIMER) | (1 << t.IRQ_S_EXT)
# Exceptions that may be delegated: all but ecall from M.
MEDELEG_WRITABLE = 0xB3FF & ~(1 << t.ECALL_FROM_M)
SATP_MODES = {0: 0, 8: 3, 9: 4, 10: 5}  # satp.MODE -> page-table levels (0: bare)
N_PMP = 16

# Plain read/write CSRs held in the buffer: number -> (index, writable mask)
PLAIN_CSRS = _PLAIN = {
    0x140: (cs.SSCRATCH, 0xFFFFFFFFFFFFFFFF),
    0x141: (cs.SEPC, ~1 & 0xFFFFFFFFFFFFFFFF),
    0x142: (cs.SCAUSE, 0xFFFFFFFFFFFFFFFF),
    0x143: (cs.STVAL, 0xFFFFFFFFFFFFFFFF),
    0x106: (cs.SCOUNTEREN, 0xFFFFFFFF),
    0x10A: (cs.SENVCFG, 0),
    0x302: (cs.MEDELEG, MEDELEG_WRITABLE),
    0x303: (cs.MIDELEG, S_INTERRUPTS),
    0x306: (cs.MCOUNTEREN, 0xFFFFFFFF),
    0x30A: (cs.MENVCFG, 0),
    0x320: (cs.MCOUNTINHIBIT, 0),
    0x340: (cs.MSCRATCH, 0xFFFFFFFFFFFFFFFF),
    0x341: (cs.MEPC, ~1 & 0xFFFFFFFFFFFFFFFF),
    0x342: (cs.MCAUSE, 0xFFFFFFFFFFFFFFFF),
    0x343: (cs.MTVAL, 0xFFFFFFFFFFFFFFFF),
    0x747: (cs.MSECCFG, 0),
}
# CSRs whose write changes how the hart translates or which interrupts it takes: the
# block ends after them so the loop re-evaluates (TB flags, TLBs, pending interrupts).
STATE_CHANGING = {0x100, 0x104, 0x144, 0x180, 0x300, 0x304, 0x344, 0x303, 0x302}


class CsrFile:
    """The CSR instructions' semantics for one hart."""

    def __init__(self, hart) -> None:
        self.hart = hart
        self.q = hart.q

    def status(self) -> int:
        st = self.q[cs.MSTATUS]
        if st & t.MSTATUS_FS == t.MSTATUS_FS_DIRTY:
            st |= t.MSTATUS_SD
        return st | UXL_SXL_64

    def access(self, csr: int, src: int, kind: int, writes: int, raw: int) -> int:
        q = self.q
        priv = q[cs.PRIV]
        if priv < (csr >> 8) & 3 or (writes and csr >> 10 == 3):
            raise t.RiscvTrap(t.ILLEGAL_INSN, raw)
        old = self.read(csr, raw)
        if writes:
            # mip/sip read as the software bits ORed with the lines devices drive, but a
            # read-modify-write only acts on the software bits (ch. 3.1.9): a device's
            # SEIP must not be latched into mip.
            base = old
            if csr == 0x344:
                base = q[cs.MIP]
            elif csr == 0x144:
                base = q[cs.MIP] & q[cs.MIDELEG]
            new = src if kind == 0 else (base | src if kind == 1 else base & ~src)
            self.write(csr, new & 0xFFFFFFFFFFFFFFFF, raw)
        return old

    # ------------------------------------------------------------------ reads
    def read(self, csr: int, raw: int) -> int:
        q = self.q
        plain = _PLAIN.get(csr)
        if plain is not None:
            return q[plain[0]]
        if csr in (0x001, 0x002, 0x003):
            if not q[cs.MSTATUS] & t.MSTATUS_FS:
                raise t.RiscvTrap(t.ILLEGAL_INSN, raw)
            return (q[cs.FFLAGS], q[cs.FRM], (q[cs.FRM] << 5) | q[cs.FFLAGS])[csr - 1]
        if 0xC00 <= csr <= 0xC1F:
            self._counter_allowed(csr - 0xC00, raw)
            return self._counter(csr - 0xC00)
        if 0xB00 <= csr <= 0xB1F and csr != 0xB01:
            return self._counter(csr - 0xB00)
        if 0x323 <= csr <= 0x33F:
            return 0  # mhpmevent3..31: no events implemented
        if csr == 0x305:
            return q[cs.MTVEC]
        if csr == 0x105:
            return q[cs.STVEC]
        if csr == 0x300:
            return self.status()
        if csr == 0x100:
            return self.status() & SSTATUS_MASK
        if csr == 0x304:
            return q[cs.MIE]
        if csr == 0x104:
            return q[cs.MIE] & q[cs.MIDELEG]
        if csr == 0x344:
            return self.hart.mip()
        if csr == 0x144:
            return self.hart.mip() & q[cs.MIDELEG]
        if csr == 0x180:
            if q[cs.PRIV] == t.PRV_S and q[cs.MSTATUS] & t.MSTATUS_TVM:
                raise t.RiscvTrap(t.ILLEGAL_INSN, raw)
            return q[cs.SATP]
        if csr == 0x301:
            return MISA_VALUE
        if csr == 0xF14:
            return q[cs.MHARTID]
        if csr in (0xF11, 0xF12, 0xF13, 0xF15):
            return 0
        if 0x3A0 <= csr <= 0x3AF:
            if csr & 1:
                raise t.RiscvTrap(t.ILLEGAL_INSN, raw)  # RV64 has even pmpcfg only
            return q[cs.PMPCFG + (csr - 0x3A0) // 2]
        if 0x3B0 <= csr <= 0x3EF:
            return q[cs.PMPADDR + csr - 0x3B0]
        raise t.RiscvTrap(t.ILLEGAL_INSN, raw)

    def _counter_allowed(self, n: int, raw: int) -> None:
        q = self.q
        priv = q[cs.PRIV]
        if priv < t.PRV_M and not (q[cs.MCOUNTEREN] >> n) & 1:
            raise t.RiscvTrap(t.ILLEGAL_INSN, raw)
        if priv < t.PRV_S and not (q[cs.SCOUNTEREN] >> n) & 1:
            raise t.RiscvTrap(t.ILLEGAL_INSN, raw)

    def _counter(self, n: int) -> int:
        if n == 1:
            return self.hart.read_mtime()
        if n in (0, 2):
            return self.hart.instret()
        return 0

    # ------------------------------------------------------------------ writes
    def write(self, csr: int, v: int, raw: int) -> None:
        q = self.q
        hart = self.hart
        plain = _PLAIN.get(csr)
        if plain is not None:
            idx, mask = plain
            q[idx] = (q[idx] & ~mask) | (v & mask)
            return
        if csr in (0x001, 0x002, 0x003):
            if csr != 0x002:
                q[cs.FFLAGS] = v & 0x1F  # fflags, or fcsr's low five bits
            if csr != 0x001:
                q[cs.FRM] = ((v >> 5) if csr == 0x003 else v) & 7
            q[cs.MSTATUS] |= t.MSTATUS_FS_DIRTY
            return
        if csr == 0x300 or csr == 0x100:
            mask = MSTATUS_WRITABLE if csr == 0x300 else SSTATUS_MASK & MSTATUS_WRITABLE
            new = (q[cs.MSTATUS] & ~mask) | (v & mask)
            if (new & t.MSTATUS_MPP) >> t.MSTATUS_MPP_SHIFT == 2:
                new &= ~t.MSTATUS_MPP  # 2 is reserved: WARL to U
            q[cs.MSTATUS] = new
            hart.state_changed()
            return
        if csr in (0x305, 0x105):
            # MODE 0 (direct) or 1 (vectored); a reserved mode leaves xtvec unchanged.
            if v & 3 < 2:
                q[cs.MTVEC if csr == 0x305 else cs.STVEC] = v
        elif csr == 0x304:
            q[cs.MIE] = v & ALL_INTERRUPTS
        elif csr == 0x104:
            m = q[cs.MIDELEG]
            q[cs.MIE] = (q[cs.MIE] & ~m) | (v & m)
        elif csr == 0x344:
            q[cs.MIP] = (q[cs.MIP] & ~MIP_WRITABLE) | (v & MIP_WRITABLE)
        elif csr == 0x144:
            m = q[cs.MIDELEG] & (1 << t.IRQ_S_SOFT)
            q[cs.MIP] = (q[cs.MIP] & ~m) | (v & m)
        elif csr == 0x180:
            if q[cs.PRIV] == t.PRV_S and q[cs.MSTATUS] & t.MSTATUS_TVM:
                raise t.RiscvTrap(t.ILLEGAL_INSN, raw)
            if (v >> 60) in SATP_MODES:
                # ASIDLEN = 16, as QEMU's harts: Linux then gives each process an ASID
                # and switches address spaces without sfence.vma. Translations are not
                # tagged with ASIDs here: a switch forgets the non-global ones.
                old = q[cs.SATP]
                q[cs.SATP] = v
                hart.flush_tlb(keep_global=old >> 60 == v >> 60)
        elif csr == 0x301 or 0x323 <= csr <= 0x33F or 0xB00 <= csr <= 0xB1F:
            pass  # misa is fixed; counters and events ignore writes
        elif 0x3A0 <= csr <= 0x3AF:
            if csr & 1:
                raise t.RiscvTrap(t.ILLEGAL_INSN, raw)
            self._write_pmpcfg((csr - 0x3A0) // 2, v)
        elif 0x3B0 <= csr <= 0x3EF:
            n = csr - 0x3B0
            if n < N_PMP and not self._pmp_locked(n):
                q[cs.PMPADDR + n] = v & ((1 << 54) - 1)
                hart.flush_tlb()
        else:
            raise t.RiscvTrap(t.ILLEGAL_INSN, raw)
        if csr in STATE_CHANGING:
            hart.state_changed()

    # ------------------------------------------------------------------ PMP (ch. 3.7)
    def _pmp_locked(self, n: int) -> bool:
        cfg = (self.q[cs.PMPCFG + n // 8] >> (8 * (n % 8))) & 0xFF
        if cfg & 0x80:
            return True
        # A locked TOR entry also locks the address below it.
        if n + 1 < N_PMP:
            nxt = (self.q[cs.PMPCFG + (n + 1) // 8] >> (8 * ((n + 1) % 8))) & 0xFF
            return bool(nxt & 0x80 and (nxt >> 3) & 3 == 1)
        return False

    def _write_pmpcfg(self, word: int, v: int) -> None:
        q = self.q
        old = q[cs.PMPCFG + word]
        new = 0
        for k in range(8):
            n = word * 8 + k
            ob = (old >> (8 * k)) & 0xFF
            b = (v >> (8 * k)) & 0xFF
            if n >= N_PMP or ob & 0x80:
                b = ob if n < N_PMP else 0
            elif b & 3 == 2:  # R=0 W=1 is reserved: keep the old value
                b = ob
            new |= (b & 0x9F) << (8 * k)
        q[cs.PMPCFG + word] = new
        self.hart.flush_tlb()
