"""The x86-64 ``pc`` board: i440FX-style memory map, ISA glue, PCI, firmware or Linux.

Memory map (guest physical), as a PC with the i440FX/PIIX3 chipset lays it out:

  0x0000_0000 - 0x0009_FFFF   conventional RAM
  0x000A_0000 - 0x000B_FFFF   legacy VGA window (nothing here: reads float high)
  0x000C_0000 - 0x000D_FFFF   option-ROM area (RAM)
  0x000E_0000 - 0x000F_FFFF   the last 128 KiB of the BIOS image, read-only
  0x0010_0000 - below_4g      extended RAM
  below_4g    - 0xFEBF_FFFF   PCI memory window (BARs the guest programs)
  0xFEC0_0000                 IOAPIC (in KVM)     0xFEE0_0000  local APICs (in KVM)
  4 GiB - bios size           the BIOS image, read-only, reset vector at 0xFFFF_FFF0
  0x1_0000_0000 -             RAM above the 4 GiB hole

below_4g is all of RAM when it fits under 3.5 GiB, otherwise 3 GiB (the rest moves
above 4 GiB), which keeps the PCI window gigabyte aligned.

Port I/O: 0x60/0x64 i8042, 0x92 port A, 0x3F8/0x2F8 COM1/COM2 (IRQ 4/3),
0xCF8-0xCFF PCI configuration mechanism #1 (0xCF9 byte: reset control), 0x600 ACPI PM,
and whatever ``-device isa-debug-exit`` asks for.  The 8259 PICs, 8254 PIT, IOAPIC and
local APICs are KVM's in-kernel models.
"""

from __future__ import annotations

import os
from typing import Any

from pyqemu.hw.core.machine import Machine, MachineError
from pyqemu.hw.i386.isa_debug_exit import IsaDebugExit
from pyqemu.hw.i386.reset_control import I8042, Port92, ResetControl
from pyqemu.hw.irq import IrqLine
from pyqemu.memory import IoPortSpace, RamBlock
from pyqemu.sysemu import ShutdownCause

GiB = 1 << 30
FOUR_GIB = 4 * GiB
ISA_BIOS_SIZE = 128 << 10
PCI_HOLE_START_LARGE = 3 * GiB
LOWMEM_LIMIT = 0xE000_0000
PCI_WINDOW_END = 0xFEC0_0000
MAX_MSI_ROUTES = 512
COM_PORTS = ((0x3F8, 4), (0x2F8, 3), (0x3E8, 4), (0x2E8, 3))


class PcMachine(Machine):
    type_name = "pc"
    description = "Standard PC (i440FX + PIIX, 1996)"
    default_ram_size = 128 << 20
    max_cpus = 255
    program_name = "pyqemu-system-x86_64"

    def build(self) -> None:
        cfg = self.config
        # Port I/O comes only from vCPU threads, which hold the machine lock for it.
        self.io = IoPortSpace()
        # GSI lines: 0-15 are the ISA IRQs (PIC and IOAPIC), 16-23 IOAPIC only.
        self.isa_irqs = [IrqLine(name=f"gsi{i}") for i in range(24)]
        self.kvm_vm: Any = None
        self._msi_irqfds: dict[tuple[int, int], int] = {}
        self._build_ram()
        self._build_firmware()
        self._build_isa()
        from pyqemu.hw.i386.hpet import HPET_BASE, HPET_SIZE, Hpet
        self.hpet = self.add_device(Hpet(self.main_loop, self.gsi_line))
        self.sysmem.map_mmio(HPET_BASE, HPET_SIZE, self.hpet, "hpet")
        from pyqemu.hw.i386.pc_devices import build_pci_and_devices
        build_pci_and_devices(self)
        from pyqemu.hw.i386.acpi_pm import PM_BASE, PM_SIZE, AcpiPm
        self.acpi_pm = self.add_device(AcpiPm(self.isa_irqs[9], self.request_poweroff))
        self.io.map_mmio(PM_BASE, PM_SIZE, self.acpi_pm, "acpi-pm")
        self.acpi_rsdp_addr = 0
        self.linux = None
        if cfg.kernel:
            # No firmware: the VMM provides what a BIOS would, in the BIOS area.
            self.bios_area = self.sysmem.add_ram(0xE_0000, 0x2_0000, "pc.bios-area")
            from pyqemu.hw.i386.acpi import build_tables
            self.acpi_tables, self.acpi_rsdp_addr = build_tables(0xE_0000, self.smp)
            from pyqemu.hw.i386.linux_boot import LinuxLoader
            self.linux = LinuxLoader(self, cfg.kernel, cfg.initrd, cfg.append or "")
        elif cfg.initrd or cfg.append:
            raise MachineError("-initrd and -append need -kernel")

    # --- memory ---------------------------------------------------------------------
    def _build_ram(self) -> None:
        size = self.ram_size
        self.below_4g = size if size < LOWMEM_LIMIT else PCI_HOLE_START_LARGE
        self.above_4g = size - self.below_4g
        if size > host_memory_limit():
            raise MachineError("cannot set up guest memory 'pc.ram': Cannot allocate memory")
        try:
            self.ram = RamBlock("pc.ram", size)
        except (OSError, ValueError, OverflowError) as e:
            raise MachineError(f"cannot set up guest memory 'pc.ram': "
                               f"{getattr(e, 'strerror', None) or e}") from None
        mem = self.sysmem
        mem.map_ram(0, self.ram, 0, min(self.below_4g, 0xA_0000), "pc.ram low")
        if self.below_4g > 0x10_0000:
            mem.map_ram(0x10_0000, self.ram, 0x10_0000, self.below_4g - 0x10_0000, "pc.ram")
        if self.above_4g:
            mem.map_ram(FOUR_GIB, self.ram, self.below_4g, self.above_4g, "pc.ram above-4g")
        self.option_rom = mem.add_ram(0xC_0000, 0x2_0000, "pc.rom")

    def _build_firmware(self) -> None:
        path = self.config.bios
        if path is None and not self.config.kernel:
            path = "/usr/share/seabios/bios-256k.bin"
        self.bios_image = b""
        if path is None:
            return
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise MachineError(f"could not load PC BIOS '{path}': {e.strerror}") from None
        # The flash part decodes whole 64 KiB blocks just below 4 GiB.
        if not data or len(data) % 0x1_0000 or len(data) > 16 << 20:
            raise MachineError(f"could not load PC BIOS '{path}'")
        self.bios_image = data
        self.bios = self.sysmem.add_ram(FOUR_GIB - len(data), len(data), "pc.bios",
                                        readonly=True)
        isa = min(len(data), ISA_BIOS_SIZE)
        # The ISA BIOS window at 0xE0000-0xFFFFF shows the image's last 128 KiB.
        self.sysmem.map_ram(0x10_0000 - isa, self.bios, len(data) - isa, isa, "isa-bios")

    # --- ISA -------------------------------------------------------------------------
    def _build_isa(self) -> None:
        from pyqemu.hw.char.serial import Serial16550A
        io = self.io
        self.i8042 = self.add_device(I8042(self.request_reset))
        io.map_mmio(0x60, 1, _Window(self.i8042, 0), "i8042 data")
        io.map_mmio(0x64, 1, _Window(self.i8042, 4), "i8042 cmd")
        self.port92 = self.add_device(Port92(self.request_reset))
        io.map_mmio(0x92, 1, self.port92, "port92")
        self.reset_control = self.add_device(ResetControl(self.request_reset))
        from pyqemu.hw.i386.mc146818rtc import Mc146818Rtc
        self.rtc = self.add_device(Mc146818Rtc(self.below_4g, self.above_4g))
        io.map_mmio(0x70, 2, self.rtc, "rtc")
        self.serials = []
        for i, chardev in enumerate(self.config.serials[:len(COM_PORTS)]):
            if chardev is None:
                continue
            port, irq = COM_PORTS[i]
            uart = self.add_device(Serial16550A(chardev, self.isa_irqs[irq]))
            io.map_mmio(port, 8, ByteWide(uart), f"serial{i}")
            self.serials.append(uart)
        for driver, opts in list(self.config.devices):
            if driver == "isa-debug-exit":
                dev = IsaDebugExit.from_options(opts)
                dev.connect(self.debug_exit)
                io.map_mmio(dev.iobase, dev.iosize, dev, "isa-debug-exit")
                self.add_device(dev)

    def gsi_line(self, gsi: int) -> IrqLine:
        return self.isa_irqs[gsi] if 0 <= gsi < len(self.isa_irqs) else IrqLine()

    # --- requests from devices --------------------------------------------------------
    def request_reset(self) -> None:
        self.runstate.request_reset(ShutdownCause.GUEST_RESET)

    def debug_exit(self, status: int) -> None:
        # QEMU calls exit() right in the device: nothing else of the guest runs.
        self.runstate.request_shutdown(ShutdownCause.GUEST_SHUTDOWN, status)
        for cpu in self.cpus:
            cpu.kick()

    def deliver_msi(self, address: int, data: int) -> None:
        """A PCI function's MSI/MSI-X message write, delivered by the in-kernel APIC.

        Each distinct message gets a GSI routed to it (KVM_SET_GSI_ROUTING) and an
        irqfd: raising it is one eventfd write, which KVM turns into the interrupt
        without a user-space round trip through the irqchip code.
        """
        vm = self.kvm_vm
        if vm is None:
            return
        key = (address, data)
        fd = self._msi_irqfds.get(key)
        if fd is None:
            if len(self._msi_irqfds) >= MAX_MSI_ROUTES:
                vm.signal_msi(address, data)          # table full: inject directly
                return
            try:
                gsi = vm.add_msi_route(address, data)
                fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
                vm.irqfd(fd, gsi)
            except (OSError, MachineError):
                vm.signal_msi(address, data)
                return
            self._msi_irqfds[key] = fd
        os.eventfd_write(fd, 1)

    def request_poweroff(self) -> None:
        self.runstate.request_shutdown(ShutdownCause.GUEST_SHUTDOWN, 0)

    def powerdown(self) -> None:
        """system_powerdown: the ACPI power button."""
        self.acpi_pm.press_power_button()

    # --- accelerator hooks --------------------------------------------------------------
    def kvm_vm_created(self, vm: Any) -> None:
        """Wire the ISA IRQ lines to the in-kernel PIC/IOAPIC (GSI n = ISA IRQ n)."""
        self.kvm_vm = vm
        for gsi, line in enumerate(self.isa_irqs):
            line.connect(_KvmIrqInput(vm, gsi))
        for dev in self.devices:
            hook = getattr(dev, "kvm_vm_created", None)
            if hook is not None:
                hook(vm)

    def load_firmware(self) -> None:
        if self.bios_image:
            self.bios.load(0, self.bios_image)
        if self.linux is not None:
            self.bios_area.load(0, self.acpi_tables)
            self.linux.load()

    def setup_boot_cpu(self, cpu: Any) -> None:
        if self.linux is not None:
            self.linux.setup_cpu(cpu)

    def e820_map(self) -> list[tuple[int, int, int]]:
        """The BIOS memory map (INT 15h E820) this board reports: (addr, size, type)."""
        from pyqemu.accel.kvm.system import IDENTITY_MAP_ADDR
        from pyqemu.hw.i386.linux_boot import E820_RAM, E820_RESERVED
        ram_low_end = min(self.below_4g, 0x9_FC00)
        table = [(0, ram_low_end, E820_RAM)]
        if ram_low_end < 0xA_0000:
            table.append((ram_low_end, 0xA_0000 - ram_low_end, E820_RESERVED))   # EBDA
        table.append((0xE_0000, 0x2_0000, E820_RESERVED))                        # BIOS area
        if self.below_4g > 0x10_0000:
            table.append((0x10_0000, self.below_4g - 0x10_0000, E820_RAM))
        table.append((IDENTITY_MAP_ADDR, 0x4000, E820_RESERVED))                 # KVM's pages
        if self.above_4g:
            table.append((FOUR_GIB, self.above_4g, E820_RAM))
        return table

    def describe_memory(self) -> str:
        return self.sysmem.describe()


class _Window:
    """A one-port view of a device that decodes its own offsets (0x60 vs 0x64)."""

    def __init__(self, dev: Any, offset: int) -> None:
        self.dev = dev
        self.offset = offset

    def read(self, offset: int, size: int) -> int:
        return self.dev.read(self.offset + offset, size)

    def write(self, offset: int, size: int, value: int) -> None:
        self.dev.write(self.offset + offset, size, value)


class ByteWide:
    """An 8-bit ISA device on the bus: a 16- or 32-bit access is split into byte
    accesses to consecutive ports, lowest port first (as a PC chipset does)."""

    def __init__(self, dev: Any) -> None:
        self.dev = dev

    def read(self, offset: int, size: int) -> int:
        dev = self.dev
        if size == 1:
            return dev.read(offset, 1)
        value = 0
        for i in range(size):
            value |= (dev.read(offset + i, 1) & 0xFF) << (8 * i)
        return value

    def write(self, offset: int, size: int, value: int) -> None:
        dev = self.dev
        if size == 1:
            dev.write(offset, 1, value)
            return
        for i in range(size):
            dev.write(offset + i, 1, (value >> (8 * i)) & 0xFF)


class _KvmIrqInput:
    """An ISA IRQ line's input end at KVM's irqchip: KVM_IRQ_LINE on level changes."""

    def __init__(self, vm: Any, gsi: int) -> None:
        self.vm = vm
        self.gsi = gsi
        self.level = -1

    def __call__(self, level: bool) -> None:
        lvl = int(level)
        if lvl != self.level:
            self.level = lvl
            self.vm.irq_line(self.gsi, lvl)


def host_memory_limit() -> int:
    """Physical memory plus swap: more guest RAM than this the host cannot give."""
    total = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("MemTotal", "SwapTotal"):
                    total += int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return 1 << 62
    return total or 1 << 62
