"""The RISC-V ``virt`` board: QEMU's memory map, devices, boot flow and device tree.

Memory map (the same addresses and IRQs as QEMU's virt, so the same firmware and
kernels run):

    0x00001000  boot ROM (reset vector + fw_dynamic info)       "riscv_virt_board.mrom"
    0x00100000  sifive test finisher / syscon (poweroff, reboot)
    0x00101000  goldfish RTC                                     PLIC irq 11
    0x02000000  CLINT (ACLINT MSWI + MTIMER)
    0x0c000000  PLIC, 96 sources, M and S context per hart
    0x10000000  ns16550a UART                                    PLIC irq 10
    0x10001000  8 virtio-mmio slots, 0x1000 apart                PLIC irqs 1..8
    0x80000000  DRAM

Not built (and so not in the device tree): fw-cfg, CFI flash, PCIe, the platform
bus and the PMU node.  ``-device virtio-*-device`` fills virtio-mmio slots from the
highest address down, as QEMU does, and the device tree lists slots from the highest
address too, so the first disk is /dev/vda in Linux.
"""

from __future__ import annotations

import os
from typing import Any

from pyqemu.hw import fdt
from pyqemu.hw.char.serial import Serial16550A
from pyqemu.hw.core.drive import open_drive
from pyqemu.hw.core.machine import Machine, MachineConfig, MachineError
from pyqemu.hw.intc.aclint import Aclint
from pyqemu.hw.intc.plic import Plic
from pyqemu.hw.misc.sifive_test import SifiveTest
from pyqemu.hw.riscv import boot
from pyqemu.hw.riscv.virt_fdt import build_fdt
from pyqemu.hw.rtc.goldfish_rtc import GoldfishRtc
from pyqemu.hw.virtio.virtio import VirtioDevice
from pyqemu.hw.virtio.virtio_blk import VirtioBlk
from pyqemu.hw.virtio.virtio_console import VirtioConsole
from pyqemu.hw.virtio.virtio_mmio import VirtioMmio
from pyqemu.hw.virtio.virtio_rng import VirtioRng  # noqa: F401  (registers -device)
from pyqemu.qom.device import DEVICE_TYPES, DeviceError

MiB = 1 << 20
MROM_BASE, MROM_SIZE = 0x1000, 0xF000
TEST_BASE = 0x100000
RTC_BASE = 0x101000
CLINT_BASE = 0x2000000
PLIC_BASE, PLIC_SIZE = 0xC000000, 0x600000
UART0_BASE, UART0_SIZE = 0x10000000, 0x100
VIRTIO_BASE, VIRTIO_STRIDE, VIRTIO_COUNT = 0x10001000, 0x1000, 8
DRAM_BASE = 0x80000000

UART0_IRQ = 10
RTC_IRQ = 11
VIRTIO_IRQ = 1
PLIC_NUM_SOURCES = 96          # riscv,ndev; source ids 1..95 usable plus the reserved 0
VIRT_CPUS_MAX = 512

DEFAULT_ISA = "rv64imafdc_zicsr_zifencei"
DEFAULT_MMU = "riscv,sv48"
UART_CLOCK = 3686400

DEBIAN_OPENSBI = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"
QEMU_OPENSBI = "/usr/share/qemu/opensbi-riscv64-generic-fw_dynamic.bin"

def default_firmware() -> str:
    for path in (DEBIAN_OPENSBI, QEMU_OPENSBI):
        if os.path.exists(path):
            return path
    raise MachineError("Unable to load the RISC-V firmware \"opensbi-riscv64-generic-fw_dynamic.bin\"")


class RiscvVirt(Machine):
    type_name = "virt"
    description = "RISC-V VirtIO board"
    default_ram_size = 128 * MiB
    max_cpus = VIRT_CPUS_MAX
    program_name = "pyqemu-system-riscv64"

    def build(self) -> None:
        cfg = self.config
        for key in cfg.options:
            if key not in ("dumpdtb",):
                raise MachineError(f"Property 'virt-machine.{key}' not found")
        if not 1 <= self.smp <= VIRT_CPUS_MAX:
            raise MachineError(f"Invalid SMP CPUs {self.smp}. The max CPUs supported by "
                               f"machine 'virt' is {VIRT_CPUS_MAX}")
        self.cpu_isa = DEFAULT_ISA
        self.cpu_mmu_type = DEFAULT_MMU
        self.reset_pc = MROM_BASE
        mem = self.sysmem
        self.ram = mem.add_ram(DRAM_BASE, self.ram_size, "riscv_virt_board.ram")
        self.mrom = mem.add_ram(MROM_BASE, MROM_SIZE, "riscv_virt_board.mrom", readonly=True)

        self.plic = self.add_device(Plic(self.smp, PLIC_NUM_SOURCES + 1))
        mem.map_mmio(PLIC_BASE, PLIC_SIZE, self.plic, "riscv.sifive.plic")
        self.aclint = self.add_device(Aclint(self.smp, self.main_loop))
        mem.map_mmio(CLINT_BASE, self.aclint.size, self.aclint, "riscv.aclint")
        self.test = self.add_device(SifiveTest(self.runstate))
        mem.map_mmio(TEST_BASE, self.test.size, self.test, "riscv.sifive.test")
        self.rtc = self.add_device(GoldfishRtc(self.plic.irqs[RTC_IRQ], self.main_loop))
        mem.map_mmio(RTC_BASE, self.rtc.size, self.rtc, "goldfish_rtc")
        serial_chr = cfg.serials[0] if cfg.serials else None
        self.uart = self.add_device(Serial16550A(serial_chr, self.plic.irqs[UART0_IRQ]))
        mem.map_mmio(UART0_BASE, UART0_SIZE, self.uart, "serial")
        self.virtio_slots: list[VirtioMmio] = []
        for i in range(VIRTIO_COUNT):
            slot = self.add_device(VirtioMmio(mem, self.plic.irqs[VIRTIO_IRQ + i]))
            mem.map_mmio(VIRTIO_BASE + i * VIRTIO_STRIDE, VIRTIO_STRIDE, slot, "virtio-mmio")
            self.virtio_slots.append(slot)

        self.drives: dict[str, Any] = {}
        for d in cfg.drives:
            self._open_drive(d)
        for driver, opts in cfg.devices:
            self.plug_device(driver, opts)
        self._read_boot_images()

    # --- devices ------------------------------------------------------------------------
    def _open_drive(self, d: Any) -> None:
        backend = open_drive(d)
        self.block_backends.append(backend)
        if d.interface == "none":
            self.drives[d.id] = backend
        elif d.interface == "virtio":
            # QEMU would make a virtio-blk-pci; this board has no PCI, so virtio-mmio.
            self._plug_virtio(VirtioBlk(backend), f"-drive file={d.file}")
        else:
            raise MachineError(f"-drive file={d.file},if={d.interface}: machine type does not "
                               f"support if={d.interface},bus=0,unit=0")

    def plug_device(self, driver: str, opts: dict[str, str]) -> None:
        where = f"-device {driver}"
        cls = DEVICE_TYPES.get(driver)
        if cls is None or not issubclass(cls, VirtioDevice):
            raise MachineError(f"{where}: '{driver}' is not a valid device model name")
        opts = dict(opts)
        try:
            dev = cls.from_options(opts)
        except DeviceError as e:
            raise MachineError(f"{where}: {e}") from None
        if isinstance(dev, VirtioBlk):
            drive = getattr(dev, "drive", None)
            if not drive:
                raise MachineError(f"{where}: drive property not set")
            if drive not in self.drives:
                raise MachineError(f"{where},drive={drive}: Property 'virtio-blk-device.drive' "
                                   f"can't find value '{drive}'")
            dev.attach_backend(self.drives.pop(drive))
        elif isinstance(dev, VirtioConsole):
            chr_id = getattr(dev, "chardev", None)
            if not chr_id or chr_id not in self.config.chardevs:
                raise MachineError(f"{where}: Property 'virtio-console-device.chardev' can't "
                                   f"find value '{chr_id}'")
            dev.attach_backend(self.config.chardevs[chr_id])
        self._plug_virtio(dev, where)

    def _plug_virtio(self, dev: VirtioDevice, where: str) -> None:
        for slot in reversed(self.virtio_slots):
            if slot.device is None:
                slot.plug(dev)
                try:
                    dev.realize()
                except DeviceError as e:
                    raise MachineError(f"{where}: {e}") from None
                return
        raise MachineError(f"{where}: No 'virtio-bus' bus found for device")

    # --- CPUs -----------------------------------------------------------------------------
    def attach_cpus(self, cpus: list[Any]) -> None:
        """Wire each hart's mip inputs: PLIC contexts (MEIP/SEIP), CLINT (MSIP/MTIP)."""
        super().attach_cpus(cpus)
        self.plic.connect_harts(cpus)
        self.aclint.connect_harts(cpus)
        for cpu in cpus:
            set_time = getattr(cpu, "set_time_source", None)
            if set_time is not None:
                set_time(self.aclint.read_mtime)

    # --- boot -----------------------------------------------------------------------------
    def _read_boot_images(self) -> None:
        cfg = self.config
        bios = cfg.bios if cfg.bios is not None else "default"
        try:
            if bios == "none":
                self.firmware = None
            else:
                path = default_firmware() if bios == "default" else bios
                self.firmware = (path, boot.read_file(path, "firmware"))
            self.kernel = (cfg.kernel, boot.read_file(cfg.kernel, "kernel")) if cfg.kernel else None
            self.initrd = (cfg.initrd, boot.read_file(cfg.initrd, "initial ram disk")) \
                if cfg.initrd else None
            self.user_dtb = boot.read_file(cfg.dtb, "dtb") if cfg.dtb else None
        except boot.BootError as e:
            raise MachineError(str(e)) from None
        if self.user_dtb is not None:
            try:
                fdt.from_dtb(self.user_dtb)
            except fdt.FdtError as e:
                raise MachineError(f"-dtb {cfg.dtb}: {e}") from None
        if self.initrd and not self.kernel:
            raise MachineError("-initrd: Linux kernel required for -initrd")
        if cfg.append and not self.kernel:
            raise MachineError("-append: Linux kernel required for -append")
        # Loading now reports bad images before anything runs; reset reloads them.
        self.boot_plan = self._place_images()

    def _place_images(self) -> dict[str, Any]:
        """Copy firmware, kernel and initrd into DRAM; returns where they went."""
        mem = self.sysmem
        plan: dict[str, Any] = {"firmware_entry": None, "kernel_entry": 0, "initrd": None}
        try:
            firmware_end = DRAM_BASE
            if self.firmware is not None:
                path, data = self.firmware
                img = boot.load_image(data, path, "firmware", mem, DRAM_BASE)
                plan["firmware_entry"] = img.entry
                firmware_end = img.end
            if self.kernel is not None:
                path, data = self.kernel
                img = boot.load_image(data, path, "kernel", mem, boot.kernel_start(firmware_end))
                plan["kernel_entry"] = img.entry
                if self.initrd is not None:
                    ipath, idata = self.initrd
                    start = boot.initrd_start(img.entry, self.ram_size)
                    if start + len(idata) > DRAM_BASE + self.ram_size:
                        raise boot.BootError(f"could not load initial ram disk '{ipath}'")
                    mem.write(start, idata)
                    plan["initrd"] = (start, start + len(idata))
        except boot.BootError as e:
            raise MachineError(str(e)) from None
        return plan

    def device_tree(self) -> bytes:
        """The DTB handed to the guest (generated, or -dtb with /chosen filled in)."""
        plan = self.boot_plan
        if self.user_dtb is not None:
            try:
                root = fdt.from_dtb(self.user_dtb)
            except fdt.FdtError as e:
                raise MachineError(f"-dtb {self.config.dtb}: {e}") from None
        else:
            root = build_fdt(self)
        chosen = root.child("chosen")
        if self.config.append:
            chosen.set("bootargs", self.config.append)
        if plan["initrd"] is not None:
            chosen.set("linux,initrd-start", fdt.u64(plan["initrd"][0]))
            chosen.set("linux,initrd-end", fdt.u64(plan["initrd"][1]))
        return fdt.to_dtb(root)

    def load_firmware(self) -> None:
        plan = self._place_images()
        dtb = self.device_tree()
        fdt_addr = boot.fdt_address(DRAM_BASE, self.ram_size, len(dtb))
        if fdt_addr < DRAM_BASE:
            raise MachineError("not enough RAM for the device tree")
        self.sysmem.write(fdt_addr, dtb)
        if plan["firmware_entry"] is not None:
            start = plan["firmware_entry"]
        else:
            start = plan["kernel_entry"] or DRAM_BASE
        rom = boot.reset_vector(start, fdt_addr, plan["kernel_entry"])
        self.mrom.clear()
        self.mrom.load(0, rom)
        self.fdt_addr = fdt_addr


def create(config: MachineConfig) -> RiscvVirt:
    return RiscvVirt(config)
