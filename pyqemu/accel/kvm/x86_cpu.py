"""x86 vCPU configuration under KVM: CPUID, MSRs, the power-on/INIT register state.

* CPUID is what KVM_GET_SUPPORTED_CPUID offers, with the per-CPU fields filled in:
  initial APIC ID (leaf 1 EBX[31:24], leaf 0xB EDX), logical processor counts
  (leaf 1 EBX[23:16], leaf 0xB, AMD leaf 0x8000_0008 ECX).  The KVM paravirtual leaves
  (0x4000_0000 "KVMKVMKVM", 0x4000_0001 features incl. kvmclock) come from KVM itself.
* The reset state follows Intel SDM vol. 3A, 9.1.1 "Processor State After Reset",
  table 9-1: CS.selector 0xF000 with base 0xFFFF0000, EIP 0xFFF0, CR0 0x60000010,
  EFLAGS 2, EDX the processor signature, descriptor tables at 0 with limit 0xFFFF.
* The local APIC after RESET (SDM 10.4.7.1): every LVT masked, SVR 0xFF, DFR all ones,
  the ID register holding the APIC ID.
"""

from __future__ import annotations

from pyqemu.accel.kvm import kvm_api as api
from pyqemu.accel.kvm.vcpu import KvmVcpu

APIC_DEFAULT_BASE = 0xFEE0_0000
MSR_IA32_APICBASE_BSP = 1 << 8
MSR_IA32_APICBASE_ENABLE = 1 << 11

# Architectural MSRs and their power-on values (SDM vol. 4; AMD APM vol. 2 for the
# syscall MSRs).  kvmclock's MSR_KVM_SYSTEM_TIME_NEW / WALL_CLOCK_NEW are written by
# the guest itself once it has found the feature in CPUID 0x4000_0001.
MSR_IA32_TSC = 0x10
MSR_IA32_SYSENTER_CS = 0x174
MSR_IA32_SYSENTER_ESP = 0x175
MSR_IA32_SYSENTER_EIP = 0x176
MSR_IA32_MISC_ENABLE = 0x1A0
MSR_IA32_CR_PAT = 0x277
MSR_STAR = 0xC000_0081
MSR_LSTAR = 0xC000_0082
MSR_CSTAR = 0xC000_0083
MSR_SYSCALL_MASK = 0xC000_0084
MSR_KERNEL_GS_BASE = 0xC000_0102
MSR_KVM_SYSTEM_TIME_NEW = 0x4B56_4D01
MSR_KVM_WALL_CLOCK_NEW = 0x4B56_4D00

RESET_MSRS = {
    MSR_IA32_TSC: 0,
    MSR_IA32_SYSENTER_CS: 0, MSR_IA32_SYSENTER_ESP: 0, MSR_IA32_SYSENTER_EIP: 0,
    MSR_IA32_MISC_ENABLE: 1,                  # fast-string operations enabled
    MSR_IA32_CR_PAT: 0x0007_0406_0007_0406,   # WB, WT, UC-, UC in each half
    MSR_STAR: 0, MSR_LSTAR: 0, MSR_CSTAR: 0, MSR_SYSCALL_MASK: 0, MSR_KERNEL_GS_BASE: 0,
    MSR_KVM_SYSTEM_TIME_NEW: 0, MSR_KVM_WALL_CLOCK_NEW: 0,
}

CPUID_1_ECX_HYPERVISOR = 1 << 31
CPUID_1_EDX_HTT = 1 << 28


def _find(entries: list[api.KvmCpuidEntry2], function: int,
          index: int = 0) -> api.KvmCpuidEntry2 | None:
    for e in entries:
        if e.function == function and (e.index == index or
                                       not e.flags & api.KVM_CPUID_FLAG_SIGNIFCANT_INDEX):
            return e
    return None


def cpuid_for_vcpu(supported: list[api.KvmCpuidEntry2], apic_id: int,
                   ncpus: int) -> list[api.KvmCpuidEntry2]:
    """The CPUID table for one vCPU: one core per CPU, one thread per core."""
    entries = [api.KvmCpuidEntry2.from_buffer_copy(e) for e in supported]
    shift = max(ncpus - 1, 0).bit_length()
    leaf1 = _find(entries, 1)
    if leaf1 is not None:
        leaf1.ebx = (leaf1.ebx & 0x0000_FFFF) | (apic_id << 24) | (min(ncpus, 255) << 16)
        leaf1.ecx |= CPUID_1_ECX_HYPERVISOR
        if ncpus > 1:
            leaf1.edx |= CPUID_1_EDX_HTT
        else:
            leaf1.edx &= ~CPUID_1_EDX_HTT
    for leaf in (0xB, 0x1F):
        for e in entries:
            if e.function != leaf:
                continue
            # Extended topology: level 0 is SMT (1 thread), level 1 is core (ncpus).
            if e.index == 0:
                e.eax, e.ebx, e.ecx = 0, 1, (1 << 8) | 0
            elif e.index == 1:
                e.eax, e.ebx, e.ecx = shift, ncpus, (2 << 8) | 1
            else:
                e.eax, e.ebx, e.ecx = 0, 0, e.index
            e.edx = apic_id
    ext8 = _find(entries, 0x8000_0008)
    if ext8 is not None:
        # NC: number of cores - 1; ApicIdCoreIdSize in bits 15:12.
        ext8.ecx = (ext8.ecx & ~0xF0FF) | (shift << 12) | (ncpus - 1)
    ext1e = _find(entries, 0x8000_001E)
    if ext1e is not None:
        ext1e.eax = apic_id
        ext1e.ebx = (ext1e.ebx & ~0xFF) | apic_id   # core id; one thread per core
        ext1e.ecx = 0
    for e in entries:
        if e.function == 4:
            # Intel deterministic cache parameters: cores per package - 1 in 31:26.
            e.eax = (e.eax & 0x03FF_FFFF) | ((ncpus - 1) << 26 if e.eax & 0x1F else 0)
    return entries


def processor_signature(entries: list[api.KvmCpuidEntry2]) -> int:
    leaf1 = _find(entries, 1)
    return leaf1.eax if leaf1 is not None else 0x600


def _segment(selector: int, base: int, limit: int, type_: int, s: int = 1) -> api.KvmSegment:
    return api.KvmSegment(base=base, limit=limit, selector=selector, type=type_, present=1,
                          dpl=0, db=0, s=s, l=0, g=0, avl=0, unusable=0)


def reset_sregs(sregs: api.KvmSregs, bsp: bool) -> None:
    """SDM table 9-1 for the segment, control and descriptor-table registers."""
    sregs.cs = _segment(0xF000, 0xFFFF_0000, 0xFFFF, 0xB)      # execute/read, accessed
    for name in ("ds", "es", "fs", "gs", "ss"):
        setattr(sregs, name, _segment(0, 0, 0xFFFF, 0x3))        # read/write, accessed
    sregs.ldt = _segment(0, 0, 0xFFFF, 0x2, s=0)                  # LDT
    sregs.tr = _segment(0, 0, 0xFFFF, 0xB, s=0)                   # busy TSS
    sregs.gdt.base, sregs.gdt.limit = 0, 0xFFFF
    sregs.idt.base, sregs.idt.limit = 0, 0xFFFF
    sregs.cr0 = 0x6000_0010                                       # CD, NW, ET
    sregs.cr2 = sregs.cr3 = sregs.cr4 = sregs.cr8 = 0
    sregs.efer = 0
    sregs.apic_base = APIC_DEFAULT_BASE | MSR_IA32_APICBASE_ENABLE | \
        (MSR_IA32_APICBASE_BSP if bsp else 0)
    for i in range(len(sregs.interrupt_bitmap)):
        sregs.interrupt_bitmap[i] = 0


def reset_lapic(vcpu: KvmVcpu, apic_id: int) -> None:
    """Local APIC register file after RESET (SDM 10.4.7.1), keeping the version."""
    st = vcpu.get_lapic()
    version = int.from_bytes(bytes(st.regs[0x30:0x34]), "little")
    regs = bytearray(1024)

    def put(offset: int, value: int) -> None:
        regs[offset:offset + 4] = value.to_bytes(4, "little")

    put(0x20, apic_id << 24)           # ID
    put(0x30, version)                 # version (read-only)
    put(0xE0, 0xFFFF_FFFF)             # destination format: flat model
    put(0xF0, 0xFF)                    # spurious vector 0xFF, APIC software-disabled
    for lvt in (0x2F0, 0x320, 0x330, 0x340, 0x350, 0x360, 0x370):
        put(lvt, 0x0001_0000)          # LVT entries masked
    st.regs[:] = regs
    vcpu.set_lapic(st)


def reset_vcpu(vcpu: KvmVcpu, cpuid: list[api.KvmCpuidEntry2], msrs: dict[int, int],
               bsp: bool, apic_id: int, irqchip: bool) -> None:
    """Put one vCPU in its power-on state; APs then wait for INIT-SIPI-SIPI."""
    sregs = vcpu.get_sregs()
    reset_sregs(sregs, bsp)
    vcpu.set_sregs(sregs)
    regs = api.KvmRegs()
    regs.rflags = 0x2
    regs.rip = 0xFFF0
    regs.rdx = processor_signature(cpuid)
    vcpu.set_regs(regs)
    fpu = api.KvmFpu()
    fpu.fcw = 0x37F                    # FINIT state
    fpu.mxcsr = 0x1F80                 # all SSE exceptions masked
    vcpu.set_fpu(fpu)
    if msrs:
        vcpu.set_msrs(msrs)
    if irqchip:
        reset_lapic(vcpu, apic_id)
        vcpu.set_mp_state(api.KVM_MP_STATE_RUNNABLE if bsp
                          else api.KVM_MP_STATE_UNINITIALIZED)


def supported_reset_msrs(msr_index_list: list[int]) -> dict[int, int]:
    """The subset of RESET_MSRS that this host's KVM lets user space set."""
    have = set(msr_index_list)
    return {k: v for k, v in RESET_MSRS.items() if k in have}
