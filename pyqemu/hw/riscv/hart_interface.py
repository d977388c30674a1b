"""What the virt board needs from a RISC-V hart (implemented in pyqemu/target/riscv).

The board never runs guest code; it wires interrupt sources to harts and hands the
accelerator a memory map.  The contract, end to end:

1. The accelerator (``pyqemu.accel.tcg.system.create_accelerator(opts)``, see
   :mod:`pyqemu.hw.core.machine`) gets ``init_machine(machine)``.  It reads
   ``machine.smp``, ``machine.sysmem`` (an :class:`~pyqemu.memory.AddressSpace`),
   ``machine.reset_pc`` (0x1000: the boot ROM) and ``machine.main_loop``, creates
   ``machine.smp`` harts, and calls ``machine.attach_cpus(harts)``.  It may set
   ``machine.cpu_isa`` (e.g. "rv64imafdc_zicsr_zifencei") and ``machine.cpu_mmu_type``
   ("riscv,sv39"/"riscv,sv48"/"riscv,sv57") first: the device tree built at reset
   describes them.
2. ``attach_cpus`` wires the PLIC (MEIP/SEIP) and the CLINT (MSIP/MTIP) to each hart
   through :meth:`RiscvHart.set_interrupt`, and gives it the CLINT's ``mtime`` as the
   time source for the ``time`` CSR / ``rdtime``.
3. At every system reset the board reloads the boot images and the ROM; the
   accelerator's ``reset_cpus()`` puts every hart in M-mode at ``reset_pc``.  The
   reset vector itself loads a0 = mhartid, a1 = DTB address, a2 = fw_dynamic info.
4. Guest accesses: RAM sections (``section.ram`` / ``section.host_addr(addr)``) can be
   reached directly; for anything else call ``sysmem.load(addr, size)`` /
   ``sysmem.store(addr, size, value)`` (they take the BQL around devices).  A
   :class:`~pyqemu.memory.GuestMemoryError` from them means nothing is mapped there:
   raise a load/store/fetch access fault.  The boot ROM section is read-only
   (``section.readonly``): stores to it are dropped.
5. Threads: interrupt calls arrive from the main-loop thread (timers, chardev input)
   or from the vCPU thread itself (an MMIO store that raises a line), always under the
   BQL.  ``set_interrupt`` must therefore be cheap and thread-safe (set or clear one
   bit of a pending-interrupt word the CPU loop checks), and ``kick`` must make a hart
   sleeping in ``wfi`` (or a vCPU thread running a long TB chain) look at mip again.
6. mip.SEIP is both a PLIC-driven signal and a software-writable bit.  A csrrs/csrrc
   on mip reads their OR, but only the software bit takes part in the
   read-modify-write (privileged spec, "Machine Interrupt Registers"); folding the
   PLIC's level into the written value latches SEIP forever and the guest loops in
   its external-interrupt handler claiming nothing.  OpenSBI does csrc/csrs on mip
   (STIP) at every timer tick, so this shows up as a random hang.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

MIP_SSIP = 1
MIP_MSIP = 3
MIP_STIP = 5
MIP_MTIP = 7
MIP_SEIP = 9
MIP_MEIP = 11


class RiscvHart(Protocol):
    hartid: int

    def set_interrupt(self, mip_bit: int, level: bool) -> None:
        """Drive the hardware-controlled mip bit (MSIP, MTIP, SEIP, MEIP) to level."""

    def kick(self) -> None:
        """Optional: wake the hart from wfi / out of its TB chain to re-check interrupts."""

    def set_time_source(self, read_mtime: Callable[[], int]) -> None:
        """Optional: read_mtime() is the current mtime (10 MHz) for the time CSR."""
