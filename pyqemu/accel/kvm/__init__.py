"""KVM accelerator: /dev/kvm through ioctls, one thread per vCPU (DESIGN.md section 1)."""

from pyqemu.accel.kvm.kvm import Kvm, KvmError, KvmVm
from pyqemu.accel.kvm.system import KvmAccel, create_accelerator
from pyqemu.accel.kvm.vcpu import KvmVcpu

__all__ = ["Kvm", "KvmAccel", "KvmError", "KvmVcpu", "KvmVm", "create_accelerator"]
