"""What KVM keeps in the kernel for an x86 VM, read and written for savevm/loadvm.

Per vCPU: general registers, segment/control registers, the FPU/SSE state, the local
APIC page, the multiprocessor state and the MSRs the accelerator sets at reset.  Per
VM: the in-kernel 8259s and IOAPIC, the i8254 PIT and the kvmclock base.  The kernel
structures are stored as their raw bytes (their layout is the kernel's ABI, pinned
by kvm_api's size checks), so a restore is the matching KVM_SET_* of the same bytes;
sizes are checked before anything is set.
"""

from __future__ import annotations

import ctypes
from ctypes import c_int64, c_uint8, c_uint16, c_uint32
from typing import Any

from pyqemu.accel.kvm import kvm_api as api
from pyqemu.accel.kvm.kvm import ioctl
from pyqemu.migration.errors import MigrationError

MSR_IA32_TSC = 0x10


class KvmPitChannelState(ctypes.Structure):
    _fields_ = [("count", c_uint32), ("latched_count", c_uint16), ("count_latched", c_uint8),
                ("status_latched", c_uint8), ("status", c_uint8), ("read_state", c_uint8),
                ("write_state", c_uint8), ("write_latch", c_uint8), ("rw_mode", c_uint8),
                ("mode", c_uint8), ("bcd", c_uint8), ("gate", c_uint8),
                ("count_load_time", c_int64)]


class KvmPitState2(ctypes.Structure):
    _fields_ = [("channels", KvmPitChannelState * 3), ("flags", c_uint32),
                ("reserved", c_uint32 * 9)]


assert ctypes.sizeof(KvmPitState2) == 112
KVM_GET_PIT2 = api._ior(0x9F, KvmPitState2)
KVM_SET_PIT2 = api._iow(0xA0, KvmPitState2)
CHIPS = (api.KVM_IRQCHIP_PIC_MASTER, api.KVM_IRQCHIP_PIC_SLAVE, api.KVM_IRQCHIP_IOAPIC)


def _restore(struct_type: type, data: Any, what: str) -> Any:
    if not isinstance(data, bytes) or len(data) != ctypes.sizeof(struct_type):
        raise MigrationError(f"KVM {what} state has a different size")
    return struct_type.from_buffer_copy(data)


def _msr_indices(accel: Any) -> list[int]:
    return sorted(set(getattr(accel, "reset_msrs", {})) | {MSR_IA32_TSC})


def save_cpu(accel: Any, index: int) -> dict:
    v = accel.vcpus[index]
    try:
        return {"regs": bytes(v.get_regs()), "sregs": bytes(v.get_sregs()),
                "fpu": bytes(v.get_fpu()), "lapic": bytes(v.get_lapic()),
                "mp_state": v.get_mp_state(),
                "msrs": [[k, val] for k, val in v.get_msrs(_msr_indices(accel)).items()]}
    except OSError as e:
        raise MigrationError(f"reading vCPU {index} from KVM: {e.strerror}") from None


def load_cpu(accel: Any, index: int, st: Any) -> None:
    v = accel.vcpus[index]
    if not isinstance(st, dict):
        raise MigrationError(f"vCPU {index} state is corrupt")
    regs = _restore(api.KvmRegs, st.get("regs"), "register")
    sregs = _restore(api.KvmSregs, st.get("sregs"), "segment register")
    fpu = _restore(api.KvmFpu, st.get("fpu"), "FPU")
    lapic = _restore(api.KvmLapicState, st.get("lapic"), "local APIC")
    msrs = st.get("msrs", [])
    mp = st.get("mp_state")
    if not isinstance(mp, int) or not isinstance(msrs, list) or not all(
            isinstance(m, list) and len(m) == 2 and all(isinstance(x, int) for x in m)
            for m in msrs):
        raise MigrationError(f"vCPU {index} state is corrupt")
    try:
        # sregs before the LAPIC: the APIC base MSR lives in sregs.
        v.set_sregs(sregs)
        v.set_regs(regs)
        v.set_fpu(fpu)
        v.set_msrs({k: val for k, val in msrs})
        v.set_lapic(lapic)
        v.set_mp_state(mp)
    except OSError as e:
        raise MigrationError(f"KVM refused vCPU {index} state: {e.strerror}") from None


def save_vm(accel: Any) -> dict:
    vm = accel.vm
    pit = KvmPitState2()
    try:
        ioctl(vm.fd, KVM_GET_PIT2, pit)
        return {"irqchip": [bytes(vm.get_irqchip(c)) for c in CHIPS], "pit": bytes(pit),
                "clock": vm.get_clock()}
    except OSError as e:
        raise MigrationError(f"reading the VM from KVM: {e.strerror}") from None


def load_vm(accel: Any, st: Any) -> None:
    vm = accel.vm
    if not isinstance(st, dict) or not isinstance(st.get("irqchip"), list) \
            or len(st["irqchip"]) != len(CHIPS) or not isinstance(st.get("clock"), int):
        raise MigrationError("KVM VM state is corrupt")
    chips = [_restore(api.KvmIrqchip, data, "interrupt controller") for data in st["irqchip"]]
    pit = _restore(KvmPitState2, st.get("pit"), "PIT")
    for chip, want in zip(chips, CHIPS, strict=True):
        if chip.chip_id != want:
            raise MigrationError("KVM interrupt controller state is corrupt")
    try:
        for chip in chips:
            ioctl(vm.fd, api.KVM_SET_IRQCHIP, chip)
        ioctl(vm.fd, KVM_SET_PIT2, pit)
        vm.set_clock(st["clock"])
    except OSError as e:
        raise MigrationError(f"KVM refused the VM state: {e.strerror}") from None
