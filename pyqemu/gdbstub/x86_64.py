"""x86-64 registers as gdb sees them (gdb's amd64 numbering and its i386 feature
names), from a KVM vCPU's kvm_regs / kvm_sregs / kvm_fpu, and the debugger's
linear-to-physical walk (Intel SDM vol. 3, 4.3-4.5: 32-bit, PAE and 4/5-level paging).

Regnums: rax rbx rcx rdx rsi rdi rbp rsp r8..r15 (0-15), rip 16, eflags 17, cs ss ds es
fs gs 18-23, st0-st7 24-31 (80-bit), fctrl..fop 32-39, xmm0-15 40-55, mxcsr 56,
fs_base 57, gs_base 58. The ``g`` packet carries 0-23; gdb reads the rest with ``p``.
"""

from __future__ import annotations

GPR = ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
       "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
SEGS = ("cs", "ss", "ds", "es", "fs", "gs")
FPU_CTRL = ("fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop")
RIP, EFLAGS, SEG0, ST0, FCTRL, XMM0, MXCSR, FS_BASE, GS_BASE = 16, 17, 18, 24, 32, 40, 56, 57, 58


def target_xml() -> str:
    r = ['<?xml version="1.0"?>', '<!DOCTYPE target SYSTEM "gdb-target.dtd">', "<target>",
         "<architecture>i386:x86-64</architecture>",
         '<feature name="org.gnu.gdb.i386.core">', '<flags id="i386_eflags" size="4">']
    # EFLAGS bits (Intel SDM vol. 1, 3.4.3) so that gdb prints them by name, highest
    # first (the order gdb prints them in, as with QEMU).
    for name, lo, hi in reversed((("CF", 0, 0), ("", 1, 1), ("PF", 2, 2), ("AF", 4, 4), ("ZF", 6, 6),
                         ("SF", 7, 7), ("TF", 8, 8), ("IF", 9, 9), ("DF", 10, 10),
                         ("OF", 11, 11), ("IOPL", 12, 13), ("NT", 14, 14), ("RF", 16, 16),
                         ("VM", 17, 17), ("AC", 18, 18), ("VIF", 19, 19), ("VIP", 20, 20),
                         ("ID", 21, 21))):
        r.append(f'<field name="{name}" start="{lo}" end="{hi}"/>')
    r.append("</flags>")
    for i, name in enumerate(GPR):
        typ = {"rbp": "data_ptr", "rsp": "data_ptr"}.get(name, "int64")
        r.append(f'<reg name="{name}" bitsize="64" type="{typ}" regnum="{i}"/>')
    r.append(f'<reg name="rip" bitsize="64" type="code_ptr" regnum="{RIP}"/>')
    r.append(f'<reg name="eflags" bitsize="32" type="i386_eflags" regnum="{EFLAGS}"/>')
    for i, name in enumerate(SEGS):
        r.append(f'<reg name="{name}" bitsize="32" type="int32" regnum="{SEG0 + i}"/>')
    for i in range(8):
        r.append(f'<reg name="st{i}" bitsize="80" type="i387_ext" regnum="{ST0 + i}"/>')
    for i, name in enumerate(FPU_CTRL):
        r.append(f'<reg name="{name}" bitsize="32" type="int" group="float" '
                 f'regnum="{FCTRL + i}"/>')
    r += ["</feature>", '<feature name="org.gnu.gdb.i386.sse">',
          '<vector id="v4f" type="ieee_single" count="4"/>',
          '<vector id="v2d" type="ieee_double" count="2"/>',
          '<vector id="v16i8" type="int8" count="16"/>',
          '<vector id="v8i16" type="int16" count="8"/>',
          '<vector id="v4i32" type="int32" count="4"/>',
          '<vector id="v2i64" type="int64" count="2"/>',
          '<union id="vec128"><field name="v4_float" type="v4f"/>'
          '<field name="v2_double" type="v2d"/><field name="v16_int8" type="v16i8"/>'
          '<field name="v8_int16" type="v8i16"/><field name="v4_int32" type="v4i32"/>'
          '<field name="v2_int64" type="v2i64"/><field name="uint128" type="uint128"/>'
          "</union>"]
    for i in range(16):
        r.append(f'<reg name="xmm{i}" bitsize="128" type="vec128" regnum="{XMM0 + i}"/>')
    r += [f'<reg name="mxcsr" bitsize="32" type="int" group="vector" regnum="{MXCSR}"/>',
          "</feature>", '<feature name="org.gnu.gdb.i386.segments">',
          f'<reg name="fs_base" bitsize="64" type="int" regnum="{FS_BASE}"/>',
          f'<reg name="gs_base" bitsize="64" type="int" regnum="{GS_BASE}"/>',
          "</feature>", "</target>"]
    return "\n".join(r) + "\n"


class X86Registers:
    """gdb's view of one KVM vCPU (get/set_regs, get/set_sregs, get/set_fpu)."""

    xml = target_xml()

    def read_all(self, vcpu) -> bytes:
        return b"".join(self.read(vcpu, n) or b"" for n in range(SEG0 + 6))

    def write_all(self, vcpu, data: bytes) -> None:
        regs = vcpu.get_regs()
        if len(data) < 8 * 17 + 4:
            from .target import DebugError
            raise DebugError(1)
        for i, name in enumerate(GPR):
            setattr(regs, name, int.from_bytes(data[8 * i:8 * i + 8], "little"))
        regs.rip = int.from_bytes(data[128:136], "little")
        regs.rflags = int.from_bytes(data[136:140], "little")
        vcpu.set_regs(regs)

    def read(self, vcpu, regnum: int) -> bytes | None:
        if regnum < 16:
            return getattr(vcpu.get_regs(), GPR[regnum]).to_bytes(8, "little")
        if regnum == RIP:
            return vcpu.get_regs().rip.to_bytes(8, "little")
        if regnum == EFLAGS:
            return (vcpu.get_regs().rflags & 0xFFFFFFFF).to_bytes(4, "little")
        if SEG0 <= regnum < SEG0 + 6:
            seg = getattr(vcpu.get_sregs(), SEGS[regnum - SEG0])
            return seg.selector.to_bytes(4, "little")
        if regnum in (FS_BASE, GS_BASE):
            seg = vcpu.get_sregs().fs if regnum == FS_BASE else vcpu.get_sregs().gs
            return seg.base.to_bytes(8, "little")
        if ST0 <= regnum < ST0 + 8:
            i = regnum - ST0
            return bytes(vcpu.get_fpu().fpr[16 * i:16 * i + 10])
        if FCTRL <= regnum < FCTRL + 8:
            f = vcpu.get_fpu()
            v = (f.fcw, f.fsw, _full_tag(f), 0, f.last_ip & 0xFFFFFFFF, 0,
                 f.last_dp & 0xFFFFFFFF, f.last_opcode)[regnum - FCTRL]
            return v.to_bytes(4, "little")
        if XMM0 <= regnum < XMM0 + 16:
            i = regnum - XMM0
            return bytes(vcpu.get_fpu().xmm[16 * i:16 * i + 16])
        if regnum == MXCSR:
            return vcpu.get_fpu().mxcsr.to_bytes(4, "little")
        return None

    def write(self, vcpu, regnum: int, data: bytes) -> bool:
        v = int.from_bytes(data, "little")
        if regnum <= EFLAGS:
            regs = vcpu.get_regs()
            name = GPR[regnum] if regnum < 16 else ("rip" if regnum == RIP else "rflags")
            setattr(regs, name, v)
            vcpu.set_regs(regs)
            return True
        if XMM0 <= regnum < XMM0 + 16 or regnum == MXCSR or ST0 <= regnum < ST0 + 8:
            f = vcpu.get_fpu()
            if regnum == MXCSR:
                f.mxcsr = v
            elif regnum >= XMM0:
                i = regnum - XMM0
                f.xmm[16 * i:16 * i + 16] = list(data[:16].ljust(16, b"\0"))
            else:
                i = regnum - ST0
                f.fpr[16 * i:16 * i + 10] = list(data[:10].ljust(10, b"\0"))
            vcpu.set_fpu(f)
            return True
        return False  # segment selectors and the x87 control words stay read-only


def _full_tag(f) -> int:
    """kvm_fpu keeps the abridged (FXSAVE) tag: one bit per register, 1 = valid. gdb
    wants the full tag word; valid registers are reported as "valid" (00)."""
    tag = 0
    for i in range(8):
        if not (f.ftwx >> i) & 1:
            tag |= 3 << (2 * i)  # empty
    return tag


def linear_to_physical(sregs, phys, addr: int) -> int | None:
    """Walk the guest's page tables as the vCPU's paging mode says (no A/D updates)."""
    cr0, cr4, efer = sregs.cr0, sregs.cr4, sregs.efer
    if not cr0 & (1 << 31):
        return addr & 0xFFFFFFFF if not efer & (1 << 10) else addr
    cr3 = sregs.cr3

    def entry(table: int, index: int, size: int) -> int | None:
        try:
            return phys.load(table + index * size, size)
        except Exception:
            return None

    if not cr4 & (1 << 5):  # 32-bit paging: 2 levels of 4-byte entries
        pde = entry(cr3 & 0xFFFFF000, (addr >> 22) & 0x3FF, 4)
        if pde is None or not pde & 1:
            return None
        if pde & 0x80 and cr4 & 0x10:
            return (pde & 0xFFC00000) | (addr & 0x3FFFFF)
        pte = entry(pde & 0xFFFFF000, (addr >> 12) & 0x3FF, 4)
        if pte is None or not pte & 1:
            return None
        return (pte & 0xFFFFF000) | (addr & 0xFFF)
    mask = 0x000FFFFFFFFFF000
    if efer & (1 << 10):  # long mode: 4 or 5 levels
        levels = 5 if cr4 & (1 << 12) else 4
        table = cr3 & mask
    else:  # PAE: a 4-entry PDPT, then 2 levels
        pdpte = entry(cr3 & 0xFFFFFFE0, (addr >> 30) & 3, 8)
        if pdpte is None or not pdpte & 1:
            return None
        levels, table = 2, pdpte & mask
        addr &= 0xFFFFFFFF
    for level in range(levels - 1, -1, -1):
        shift = 12 + 9 * level
        e = entry(table, (addr >> shift) & 0x1FF, 8)
        if e is None or not e & 1:
            return None
        if level == 0 or (e & 0x80 and level <= 2):
            page = (e & mask) & ~((1 << shift) - 1)
            return page | (addr & ((1 << shift) - 1))
        table = e & mask
    return None
