"""A KVM vCPU: its file descriptor, the shared kvm_run page and its register ioctls.

KVM API documentation: KVM_CREATE_VCPU, KVM_GET_VCPU_MMAP_SIZE (the kvm_run mapping),
KVM_RUN, KVM_GET/SET_REGS, KVM_GET/SET_SREGS, KVM_GET/SET_MSRS, KVM_SET_CPUID2,
KVM_GET/SET_MP_STATE, KVM_GET/SET_LAPIC, KVM_GET/SET_FPU, KVM_SET_GUEST_DEBUG.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import signal
import threading
from typing import TYPE_CHECKING

from pyqemu.accel.kvm import kvm_api as api
from pyqemu.accel.kvm.kvm import KvmError, ioctl

if TYPE_CHECKING:
    from pyqemu.accel.kvm.kvm import KvmVm

# The signal that kicks a vCPU thread out of KVM_RUN (QEMU's SIG_IPI is SIGUSR1 too).
SIG_KICK = signal.SIGUSR1
_kick_installed = False


def install_kick_handler() -> None:
    """A no-op handler, so that the kick makes KVM_RUN return EINTR (main thread only)."""
    global _kick_installed
    if not _kick_installed and threading.current_thread() is threading.main_thread():
        signal.signal(SIG_KICK, lambda signum, frame: None)
        signal.siginterrupt(SIG_KICK, True)
        _kick_installed = True


class KvmVcpu:
    def __init__(self, vm: KvmVm, vcpu_id: int) -> None:
        self.vm = vm
        self.id = vcpu_id
        try:
            self.fd = ioctl(vm.fd, api.KVM_CREATE_VCPU, vcpu_id)
        except OSError as e:
            raise KvmError(f"KVM_CREATE_VCPU {vcpu_id}: {e.strerror}") from None
        self.mm = mmap.mmap(self.fd, vm.kvm.vcpu_mmap_size, mmap.MAP_SHARED,
                            mmap.PROT_READ | mmap.PROT_WRITE)
        self.run_struct = api.KvmRun.from_buffer(self.mm)
        self.thread_ident: int | None = None

    # --- running --------------------------------------------------------------------
    def kick(self) -> None:
        """Make the vCPU leave KVM_RUN soon: immediate_exit covers the window before
        the thread re-enters the ioctl, the signal the time it is inside."""
        self.run_struct.immediate_exit = 1
        ident = self.thread_ident
        if ident is not None:
            try:
                signal.pthread_kill(ident, SIG_KICK)
            except (ProcessLookupError, OSError):
                pass

    # --- registers ------------------------------------------------------------------
    def get_regs(self) -> api.KvmRegs:
        regs = api.KvmRegs()
        ioctl(self.fd, api.KVM_GET_REGS, regs)
        return regs

    def set_regs(self, regs: api.KvmRegs) -> None:
        ioctl(self.fd, api.KVM_SET_REGS, regs)

    def get_sregs(self) -> api.KvmSregs:
        sregs = api.KvmSregs()
        ioctl(self.fd, api.KVM_GET_SREGS, sregs)
        return sregs

    def set_sregs(self, sregs: api.KvmSregs) -> None:
        ioctl(self.fd, api.KVM_SET_SREGS, sregs)

    def get_fpu(self) -> api.KvmFpu:
        fpu = api.KvmFpu()
        ioctl(self.fd, api.KVM_GET_FPU, fpu)
        return fpu

    def set_fpu(self, fpu: api.KvmFpu) -> None:
        ioctl(self.fd, api.KVM_SET_FPU, fpu)

    def get_msrs(self, indices: list[int]) -> dict[int, int]:
        buf = api.kvm_msrs(len(indices))()
        buf.nmsrs = len(indices)
        for i, index in enumerate(indices):
            buf.entries[i].index = index
        n = ioctl(self.fd, api.KVM_GET_MSRS, buf)
        return {buf.entries[i].index: buf.entries[i].data for i in range(n)}

    def set_msrs(self, values: dict[int, int]) -> int:
        """KVM_SET_MSRS returns how many were set; it stops at the first refused one."""
        buf = api.kvm_msrs(len(values))()
        buf.nmsrs = len(values)
        for i, (index, data) in enumerate(values.items()):
            buf.entries[i].index = index
            buf.entries[i].data = data
        return ioctl(self.fd, api.KVM_SET_MSRS, buf)

    def set_cpuid2(self, entries: list[api.KvmCpuidEntry2]) -> None:
        buf = api.kvm_cpuid2(len(entries))()
        buf.nent = len(entries)
        for i, e in enumerate(entries):
            buf.entries[i] = e
        try:
            ioctl(self.fd, api.KVM_SET_CPUID2, buf)
        except OSError as e:
            raise KvmError(f"KVM_SET_CPUID2 on vCPU {self.id}: {e.strerror}") from None

    def get_mp_state(self) -> int:
        st = api.KvmMpState()
        ioctl(self.fd, api.KVM_GET_MP_STATE, st)
        return st.mp_state

    def set_mp_state(self, state: int) -> None:
        ioctl(self.fd, api.KVM_SET_MP_STATE, api.KvmMpState(state))

    def get_lapic(self) -> api.KvmLapicState:
        st = api.KvmLapicState()
        ioctl(self.fd, api.KVM_GET_LAPIC, st)
        return st

    def set_lapic(self, st: api.KvmLapicState) -> None:
        ioctl(self.fd, api.KVM_SET_LAPIC, st)

    def set_guest_debug(self, control: int, debugreg: list[int] | None = None) -> None:
        dbg = api.KvmGuestDebug(control=control)
        for i, v in enumerate(debugreg or []):
            dbg.debugreg[i] = v
        ioctl(self.fd, api.KVM_SET_GUEST_DEBUG, dbg)

    def kvmclock_ctrl(self) -> None:
        """Tell the guest's kvmclock it was paused (avoids soft-lockup warnings)."""
        try:
            ioctl(self.fd, api.KVM_KVMCLOCK_CTRL)
        except OSError:
            pass   # EINVAL until the guest enabled kvmclock

    def dump_registers(self) -> str:
        """The register dump QEMU prints on an internal error, in its layout."""
        try:
            r = self.get_regs()
            s = self.get_sregs()
        except OSError as e:
            return f"(registers unavailable: {e.strerror})"
        lines = [
            f"RAX={r.rax:016x} RBX={r.rbx:016x} RCX={r.rcx:016x} RDX={r.rdx:016x}",
            f"RSI={r.rsi:016x} RDI={r.rdi:016x} RBP={r.rbp:016x} RSP={r.rsp:016x}",
            f"R8 ={r.r8:016x} R9 ={r.r9:016x} R10={r.r10:016x} R11={r.r11:016x}",
            f"R12={r.r12:016x} R13={r.r13:016x} R14={r.r14:016x} R15={r.r15:016x}",
            f"RIP={r.rip:016x} RFL={r.rflags:08x}",
        ]
        for name in ("es", "cs", "ss", "ds", "fs", "gs", "ldt", "tr"):
            seg = getattr(s, name)
            lines.append(f"{name.upper():3}={seg.selector:04x} {seg.base:016x} {seg.limit:08x} "
                         f"type={seg.type:x} p={seg.present} dpl={seg.dpl} db={seg.db} "
                         f"l={seg.l} g={seg.g}")
        lines.append(f"GDT=     {s.gdt.base:016x} {s.gdt.limit:08x}")
        lines.append(f"IDT=     {s.idt.base:016x} {s.idt.limit:08x}")
        lines.append(f"CR0={s.cr0:08x} CR2={s.cr2:016x} CR3={s.cr3:016x} CR4={s.cr4:08x}")
        lines.append(f"EFER={s.efer:016x} APIC_BASE={s.apic_base:016x}")
        return "\n".join(lines)

    def close(self) -> None:
        del self.run_struct
        self.mm.close()
        os.close(self.fd)

    @property
    def run_addr(self) -> int:
        return ctypes.addressof(self.run_struct)
