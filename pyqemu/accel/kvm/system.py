"""The KVM accelerator as the Machine sees it (``-accel kvm``).

Implements the accelerator contract of ``pyqemu.hw.core.machine``: ``init_machine``
opens /dev/kvm, creates the VM, follows the board's RAM with memory slots, creates the
in-kernel irqchip and PIT (x86), one vCPU per ``-smp`` CPU with its CPUID and MSRs, and
one thread per vCPU; ``pause``/``reset_cpus``/``start`` implement a system reset;
``stop`` ends the threads at shutdown.

Optional board hooks (an x86 board provides them):

* ``machine.io`` — the port-I/O space (IoPortSpace) for KVM_EXIT_IO;
* ``machine.kvm_vm_created(vm)`` — after irqchip/PIT creation, before vCPUs;
* ``machine.setup_boot_cpu(cpu)`` — after the architectural reset of the BSP (direct
  kernel boot puts the registers of its entry point there).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from pyqemu.accel.kvm import kvm_api as api
from pyqemu.accel.kvm.cpu_loop import KvmCpuThread
from pyqemu.accel.kvm.kvm import Kvm, KvmError, KvmVm
from pyqemu.accel.kvm.vcpu import KvmVcpu, install_kick_handler
from pyqemu.accel.kvm.x86_cpu import cpuid_for_vcpu, reset_vcpu, supported_reset_msrs

# Guest-physical pages KVM needs for Intel real-mode emulation, just below the BIOS.
IDENTITY_MAP_ADDR = 0xFEFF_C000
TSS_ADDR = 0xFEFF_D000


class _MachineControl:
    """Maps the accelerator's requests onto the machine's RunState."""

    def __init__(self, machine: Any) -> None:
        self.machine = machine
        self.lock = machine.main_loop.bql

    def request_shutdown(self, status: int, reason: str) -> None:
        from pyqemu.sysemu import ShutdownCause
        cause = ShutdownCause.HOST_ERROR if status else ShutdownCause.GUEST_SHUTDOWN
        self.machine.runstate.request_shutdown(cause, status)

    def request_reset(self, reason: str) -> None:
        from pyqemu.sysemu import ShutdownCause
        self.machine.runstate.request_reset(ShutdownCause.GUEST_RESET)


class KvmAccel:
    name = "kvm"

    def __init__(self, opts: dict[str, str] | None = None) -> None:
        self.opts = dict(opts or {})
        self.kvm: Kvm | None = None
        self.vm: KvmVm | None = None
        self.vcpus: list[KvmVcpu] = []
        self.threads: list[KvmCpuThread] = []
        self.cpuid: list[list[api.KvmCpuidEntry2]] = []
        self.machine: Any = None
        self._started = False
        self.debug: Any = None  # pyqemu.gdbstub.kvm_system.KvmSystemDebugger under gdb

    def open(self) -> None:
        """Open /dev/kvm and create the VM (may be called before init_machine)."""
        if self.kvm is None:
            self.kvm = Kvm(self.opts.get("device"))
            for cap, name in ((api.KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"),
                              (api.KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"),
                              (api.KVM_CAP_PIT2, "KVM_CAP_PIT2"),
                              (api.KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"),
                              (api.KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"),
                              (api.KVM_CAP_IRQFD, "KVM_CAP_IRQFD"),
                              (api.KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE")):
                self.kvm.require(cap, name)
            self.vm = self.kvm.create_vm()

    def max_vcpus(self) -> int:
        self.open()
        assert self.kvm is not None
        return self.kvm.check_extension(api.KVM_CAP_MAX_VCPUS) or \
            self.kvm.check_extension(api.KVM_CAP_NR_VCPUS) or 4

    def init_machine(self, machine: Any) -> None:
        self.open()
        kvm, vm = self.kvm, self.vm
        assert kvm is not None and vm is not None
        self.machine = machine
        if machine.smp > self.max_vcpus():
            raise KvmError(f"Number of SMP CPUs requested ({machine.smp}) exceeds the "
                           f"maximum supported by KVM ({self.max_vcpus()})")
        vm.set_identity_map_addr(IDENTITY_MAP_ADDR)
        vm.set_tss_addr(TSS_ADDR)
        vm.create_irqchip()
        vm.create_pit2()
        vm.setup_irq_routing()
        vm.follow_address_space(machine.sysmem)
        hook = getattr(machine, "kvm_vm_created", None)
        if hook is not None:
            hook(vm)
        supported = kvm.supported_cpuid()
        self.reset_msrs = supported_reset_msrs(kvm.msr_index_list())
        control = _MachineControl(machine)
        ports = getattr(machine, "io", None)
        if ports is None:
            from pyqemu.memory import IoPortSpace
            ports = IoPortSpace()
        install_kick_handler()
        for i in range(machine.smp):
            vcpu = vm.create_vcpu(i)
            cpuid = cpuid_for_vcpu(supported, i, machine.smp)
            vcpu.set_cpuid2(cpuid)
            self.vcpus.append(vcpu)
            self.cpuid.append(cpuid)
            self.threads.append(KvmCpuThread(vcpu, ports, machine.sysmem, control))
        vm.set_clock(0)
        machine.attach_cpus(self.vcpus)

    def reset_cpus(self) -> None:
        if self.vm is not None and self._started:
            self.vm.reset_irqchip()           # a power-on leaves it as KVM created it
        for i, vcpu in enumerate(self.vcpus):
            reset_vcpu(vcpu, self.cpuid[i], self.reset_msrs, bsp=(i == 0), apic_id=i,
                       irqchip=True)
        hook = getattr(self.machine, "setup_boot_cpu", None)
        if hook is not None and self.vcpus:
            hook(self.vcpus[0])

    def start(self) -> None:
        if not self._started:
            self._started = True
            for t in self.threads:
                t.start()
        else:
            for t in self.threads:
                t.resume()

    def pause(self) -> None:
        if threading.current_thread() in [t.thread for t in self.threads]:
            raise RuntimeError("a vCPU thread cannot pause the machine")
        for t in self.threads:
            t.pause_requested = True
            t.vcpu.kick()
        for t in self.threads:
            t.pause()

    def stop(self) -> None:
        if self.debug is not None:
            self.debug.machine_exited()
        for t in self.threads:
            t.stop()
        for t in self.threads:
            if t.thread.is_alive():
                t.thread.join(timeout=1.0)

    @property
    def exits(self) -> int:
        return sum(t.exits for t in self.threads)


def create_accelerator(opts: dict[str, str]) -> KvmAccel:
    return KvmAccel(opts)


def kvm_available(path: str | None = None) -> bool:
    return os.access(path or os.environ.get("PYQEMU_KVM_DEVICE") or "/dev/kvm", os.R_OK | os.W_OK)


def supports_arch(arch: str) -> bool:
    """This accelerator's vCPU set-up (CPUID, MSRs, reset state) is x86-64's."""
    return arch == "x86_64"
