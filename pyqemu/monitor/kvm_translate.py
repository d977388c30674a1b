"""Guest-virtual to guest-physical translation on a KVM vCPU (KVM_TRANSLATE), for HMP
``x``: the kernel walks the vCPU's current page tables (real mode, protected and long
mode alike) without touching accessed/dirty bits."""

from __future__ import annotations

import ctypes
from ctypes import c_uint8, c_uint64
from typing import Any

from pyqemu.accel.kvm import kvm_api as api
from pyqemu.accel.kvm.kvm import ioctl


class KvmTranslation(ctypes.Structure):
    _fields_ = [("linear_address", c_uint64), ("physical_address", c_uint64),
                ("valid", c_uint8), ("writeable", c_uint8), ("usermode", c_uint8),
                ("pad", c_uint8 * 5)]


assert ctypes.sizeof(KvmTranslation) == 24
KVM_TRANSLATE = api._iowr(0x85, KvmTranslation)


def kvm_translate(machine: Any, cpu_index: int, va: int) -> int | None:
    """The physical address of va for that vCPU, or None if it is not mapped.  The
    vCPU must be out of KVM_RUN: the machine is paused around the ioctl if running."""
    vcpus = getattr(machine.accel, "vcpus", [])
    if cpu_index >= len(vcpus):
        return None
    running = machine.vm_running
    if running:
        machine.accel.pause()
    try:
        tr = KvmTranslation(linear_address=va)
        ioctl(vcpus[cpu_index].fd, KVM_TRANSLATE, tr)
    except OSError:
        return None
    finally:
        if running:
            machine.accel.start()
    return tr.physical_address if tr.valid else None
