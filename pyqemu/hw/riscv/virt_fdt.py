"""The device tree of the virt board, generated from the board as built.

Node names, compatible strings and bindings are those Linux, OpenSBI and U-Boot
expect from QEMU's virt (Linux Documentation/devicetree/bindings: riscv/cpus.yaml,
interrupt-controller/sifive,plic-1.0.0.yaml, timer/sifive,clint.yaml,
serial/8250.yaml, virtio/mmio.yaml, rtc/trivial-rtc, power/reset/syscon-*.yaml).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pyqemu.hw import fdt
from pyqemu.hw.intc.aclint import MIP_MSIP, MIP_MTIP, TIMEBASE_FREQ
from pyqemu.hw.intc.plic import MIP_MEIP, MIP_SEIP

if TYPE_CHECKING:
    from pyqemu.hw.riscv.virt import RiscvVirt


def _reg(base: int, size: int) -> bytes:
    return fdt.cells(base >> 32, base, size >> 32, size)


def build_fdt(m: RiscvVirt) -> fdt.FdtNode:
    from pyqemu.hw.riscv import virt as v

    next_phandle = 1

    def phandle() -> int:
        nonlocal next_phandle
        next_phandle += 1
        return next_phandle - 1

    root = fdt.FdtNode("")
    root.set("#address-cells", 2).set("#size-cells", 2)
    root.set("compatible", "riscv-virtio").set("model", "riscv-virtio,qemu")

    chosen = root.child("chosen")
    chosen.set("stdout-path", f"/soc/serial@{v.UART0_BASE:x}")
    chosen.set("rng-seed", os.urandom(32))

    plic_ph = phandle()
    test_ph = phandle()
    for name, value in (("poweroff", 0x5555), ("reboot", 0x7777)):
        node = root.child(name)
        node.set("value", value).set("offset", 0).set("regmap", test_ph)
        node.set("compatible", f"syscon-{name}")

    mem = root.child(f"memory@{v.DRAM_BASE:x}")
    mem.set("device_type", "memory").set("reg", _reg(v.DRAM_BASE, m.ram_size))

    cpus = root.child("cpus")
    cpus.set("#address-cells", 1).set("#size-cells", 0)
    cpus.set("timebase-frequency", TIMEBASE_FREQ)
    intc_phandles = []
    cpu_phandles = []
    for h in range(m.smp):
        cpu = cpus.child(f"cpu@{h}")
        cpu_ph = phandle()
        cpu_phandles.append(cpu_ph)
        cpu.set("phandle", cpu_ph).set("device_type", "cpu").set("reg", h)
        cpu.set("status", "okay").set("compatible", "riscv")
        cpu.set("riscv,isa", m.cpu_isa).set("mmu-type", m.cpu_mmu_type)
        intc = cpu.child("interrupt-controller")
        intc_ph = phandle()
        intc_phandles.append(intc_ph)
        intc.set("#interrupt-cells", 1).set("interrupt-controller")
        intc.set("compatible", "riscv,cpu-intc").set("phandle", intc_ph)
    cluster = cpus.child("cpu-map").child("cluster0")
    for h, ph in enumerate(cpu_phandles):
        cluster.child(f"core{h}").set("cpu", ph)

    soc = root.child("soc")
    soc.set("#address-cells", 2).set("#size-cells", 2)
    soc.set("compatible", "simple-bus").set("ranges")

    rtc = soc.child(f"rtc@{v.RTC_BASE:x}")
    rtc.set("interrupts", v.RTC_IRQ).set("interrupt-parent", plic_ph)
    rtc.set("reg", _reg(v.RTC_BASE, 0x1000)).set("compatible", "google,goldfish-rtc")

    uart = soc.child(f"serial@{v.UART0_BASE:x}")
    uart.set("interrupts", v.UART0_IRQ).set("interrupt-parent", plic_ph)
    uart.set("clock-frequency", v.UART_CLOCK)
    uart.set("reg", _reg(v.UART0_BASE, v.UART0_SIZE)).set("compatible", "ns16550a")

    test = soc.child(f"test@{v.TEST_BASE:x}")
    test.set("phandle", test_ph).set("reg", _reg(v.TEST_BASE, 0x1000))
    test.set("compatible", fdt.strings("sifive,test1", "sifive,test0", "syscon"))

    # Highest slot first: Linux probes in tree order, and -device fills slots from the top.
    for i in reversed(range(v.VIRTIO_COUNT)):
        base = v.VIRTIO_BASE + i * v.VIRTIO_STRIDE
        node = soc.child(f"virtio_mmio@{base:x}")
        node.set("interrupts", v.VIRTIO_IRQ + i).set("interrupt-parent", plic_ph)
        node.set("reg", _reg(base, v.VIRTIO_STRIDE)).set("compatible", "virtio,mmio")

    plic = soc.child(f"plic@{v.PLIC_BASE:x}")
    plic.set("phandle", plic_ph).set("riscv,ndev", v.PLIC_NUM_SOURCES)
    plic.set("reg", _reg(v.PLIC_BASE, v.PLIC_SIZE))
    plic.set("interrupts-extended",
             [x for ph in intc_phandles for x in (ph, MIP_MEIP, ph, MIP_SEIP)])
    plic.set("interrupt-controller")
    plic.set("compatible", fdt.strings("sifive,plic-1.0.0", "riscv,plic0"))
    plic.set("#address-cells", 0).set("#interrupt-cells", 1)

    clint = soc.child(f"clint@{v.CLINT_BASE:x}")
    clint.set("interrupts-extended",
              [x for ph in intc_phandles for x in (ph, MIP_MSIP, ph, MIP_MTIP)])
    clint.set("reg", _reg(v.CLINT_BASE, 0x10000))
    clint.set("compatible", fdt.strings("sifive,clint0", "riscv,clint0"))

    return root
