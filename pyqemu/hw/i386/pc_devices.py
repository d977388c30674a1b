"""The pc board's PCI side: host bridge, PIIX3, and the -drive/-device virtio functions.

``-drive file=X,if=virtio`` makes a virtio-blk-pci, as QEMU does; ``-device
virtio-blk-pci,drive=ID``, ``virtio-rng-pci`` and ``virtio-console-pci,chardev=ID``
take the next free slot (or ``addr=N``).  The rest of ``-device`` is ISA glue handled
by pc.py.
"""

from __future__ import annotations

from typing import Any

from pyqemu.hw.core.drive import open_drive
from pyqemu.hw.core.machine import MachineError
from pyqemu.hw.pci.host import I440fxHostBridge, PciBus, PciHost, Piix3IsaBridge
from pyqemu.hw.virtio.virtio_blk import VirtioBlk
from pyqemu.hw.virtio.virtio_console import VirtioConsole
from pyqemu.hw.virtio.virtio_pci import VirtioPci
from pyqemu.hw.virtio.virtio_rng import VirtioRng
from pyqemu.qom.device import DeviceError

ISA_DEVICES = {"isa-debug-exit"}
VIRTIO_PCI_TYPES = {
    "virtio-blk-pci": VirtioBlk,
    "virtio-rng-pci": VirtioRng,
    "virtio-console-pci": VirtioConsole,
}
TRANSPORT_PROPS = set(VirtioPci.properties)


def build_pci_and_devices(machine: Any) -> None:
    machine.pci_bus = bus = PciBus(machine.sysmem, machine.io, machine.gsi_line,
                                   msi=machine.deliver_msi)
    machine.pci_host = host = PciHost(bus, machine.reset_control)
    machine.io.map_mmio(0xCF8, 8, host, "pci-conf")
    bus.plug(machine.add_device(I440fxHostBridge()), 0)
    bus.plug(machine.add_device(Piix3IsaBridge()), 1)
    machine.virtio_pci: list[VirtioPci] = []
    drives: dict[str, Any] = {}
    for d in machine.config.drives:
        backend = open_drive(d)
        machine.block_backends.append(backend)
        if d.interface == "none":
            drives[d.id] = backend
        elif d.interface == "virtio":
            _plug(machine, VirtioBlk(backend), {}, f"-drive file={d.file},if=virtio")
        else:
            raise MachineError(f"-drive file={d.file},if={d.interface}: interface "
                               f"{d.interface} is not available on this machine (use "
                               f"if=virtio)")
    for driver, opts in machine.config.devices:
        if driver in ISA_DEVICES:
            continue
        where = f"-device {driver}"
        cls = VIRTIO_PCI_TYPES.get(driver)
        if cls is None:
            raise MachineError(f"{where}: '{driver}' is not a valid device model name")
        dev_opts = {k: v for k, v in opts.items() if k not in TRANSPORT_PROPS}
        pci_opts = {k: v for k, v in opts.items() if k in TRANSPORT_PROPS}
        try:
            vdev = cls.from_options(dev_opts)
        except DeviceError as e:
            raise MachineError(f"{where}: {e}") from None
        if isinstance(vdev, VirtioBlk):
            drive = getattr(vdev, "drive", None)
            if not drive:
                raise MachineError(f"{where}: drive property not set")
            if drive not in drives:
                raise MachineError(f"{where},drive={drive}: Property 'virtio-blk-pci.drive' "
                                   f"can't find value '{drive}'")
            vdev.attach_backend(drives.pop(drive))
        elif isinstance(vdev, VirtioConsole):
            chr_id = getattr(vdev, "chardev", None)
            if not chr_id or chr_id not in machine.config.chardevs:
                raise MachineError(f"{where}: Property 'virtio-console-pci.chardev' can't find "
                                   f"value '{chr_id}'")
            vdev.attach_backend(machine.config.chardevs[chr_id])
        _plug(machine, vdev, pci_opts, where)


def _plug(machine: Any, vdev: Any, pci_opts: dict[str, str], where: str) -> None:
    try:
        dev = VirtioPci.from_options_for(vdev, pci_opts)
        dev.main_loop = machine.main_loop
        machine.pci_bus.plug(dev, dev.addr)
        dev.realize()
    except (DeviceError, ValueError) as e:
        raise MachineError(f"{where}: {e}") from None
    machine.devices.append(dev)
    machine.virtio_pci.append(dev)
