"""The modern virtio-pci transport (virtio 1.x spec section 4.1 "Virtio Over PCI Bus").

Vendor 0x1AF4, device 0x1040 + the virtio device ID, revision 1.  The structures live
in BAR 4 (64-bit memory, 16 KiB) and are announced by vendor-specific capabilities
(4.1.4): common configuration at 0x0000, ISR status at 0x1000, device configuration at
0x2000, notifications at 0x3000 (one 4-byte slot per queue: notify_off_multiplier 4),
plus the VIRTIO_PCI_CAP_PCI_CFG window.  MSI-X (table and PBA in BAR 1) carries one
vector per queue and one for configuration changes; without MSI-X, INTx and the ISR
register (read to acknowledge) do.

With KVM, a queue notification is an ioeventfd (KVM_IOEVENTFD on the notify address):
the vCPU does not leave the kernel, and the main loop serves the queue.
"""

from __future__ import annotations

import os
import struct
from typing import Any, ClassVar

from pyqemu.hw.pci.msix import Msix
from pyqemu.hw.pci.pci_device import BAR_MEM32, BAR_MEM64, Bar, PciDevice
from pyqemu.hw.virtio.virtio import STATUS_DRIVER_OK, VirtioDevice
from pyqemu.qom.device import DeviceError, Prop, prop_bool, prop_int

VIRTIO_PCI_VENDOR = 0x1AF4
PCI_CAP_ID_VNDR = 0x09
CAP_COMMON, CAP_NOTIFY, CAP_ISR, CAP_DEVICE, CAP_PCI_CFG = 1, 2, 3, 4, 5

COMMON_OFF, ISR_OFF, DEVICE_OFF, NOTIFY_OFF = 0x0000, 0x1000, 0x2000, 0x3000
MODERN_BAR, MSIX_BAR = 4, 1
MODERN_BAR_SIZE = 0x4000
NOTIFY_MULTIPLIER = 4
NO_VECTOR = 0xFFFF

# struct virtio_pci_common_cfg (4.1.4.3)
DEVICE_FEATURE_SELECT, DEVICE_FEATURE = 0x00, 0x04
DRIVER_FEATURE_SELECT, DRIVER_FEATURE = 0x08, 0x0C
CONFIG_MSIX_VECTOR, NUM_QUEUES, DEVICE_STATUS, CONFIG_GENERATION = 0x10, 0x12, 0x14, 0x15
QUEUE_SELECT, QUEUE_SIZE, QUEUE_MSIX_VECTOR, QUEUE_ENABLE = 0x16, 0x18, 0x1A, 0x1C
QUEUE_NOTIFY_OFF, QUEUE_DESC, QUEUE_DRIVER, QUEUE_DEVICE = 0x1E, 0x20, 0x28, 0x30
COMMON_CFG_LEN = 0x38

ISR_QUEUE, ISR_CONFIG = 1, 2

CLASS_CODES = {2: 0x010000, 3: 0x078000, 4: 0x00FF00}   # blk: SCSI storage; console; rng


def _vendor_cap(cfg_type: int, bar: int, offset: int, length: int, extra: bytes = b"") -> bytes:
    # virtio_pci_cap after cap_vndr/cap_next: cap_len, cfg_type, bar, id, padding[2],
    # offset, length (+ notify_off_multiplier or pci_cfg_data).
    body = struct.pack("<BBBBxxII", 16 + len(extra), cfg_type, bar, 0, offset, length)
    return body + extra


class VirtioPci(PciDevice):
    """virtio-pci function wrapping one transport-independent VirtioDevice."""

    vendor_id = VIRTIO_PCI_VENDOR
    revision = 1
    # The header (PciDevice), the common configuration window, the MSI-X table and
    # pending bits (messages are routed when sent, so nothing else lives in KVM),
    # and the device with its queues.
    vmstate = ("config", "device_feature_select", "driver_feature_select", "queue_select",
               "config_vector", "queue_vectors", "isr", "msix_table", "msix_pending",
               "virtio_device")
    subsystem_vendor_id = VIRTIO_PCI_VENDOR
    subsystem_id = 0x1100
    properties: ClassVar[dict[str, Prop]] = {
        "vectors": prop_int(-1, "number of MSI-X vectors (default: queues + 1)"),
        "ioeventfd": prop_bool(True, "queue notifications through KVM ioeventfds"),
        "disable-legacy": prop_bool(True, "modern only (always on in pyqemu)"),
        "disable-modern": prop_bool(False, "legacy only: not supported"),
        "addr": Prop(lambda s: int(s.split(".")[0], 16), None, "PCI slot"),
    }

    def __init__(self, vdev: VirtioDevice, **props: Any) -> None:
        self.vdev = vdev
        self.device_id = 0x1040 + vdev.device_id
        self.class_code = CLASS_CODES.get(vdev.device_id, 0xFF0000)
        super().__init__(**props)
        nq = len(vdev.queues)
        nvec = self.vectors if self.vectors is not None and self.vectors >= 0 else nq + 1
        self.nvectors = max(nvec, 1)
        self.add_bar(MSIX_BAR, 0x1000, None, BAR_MEM32)
        self.add_bar(MODERN_BAR, MODERN_BAR_SIZE, _ModernBar(self), BAR_MEM64, prefetch=True)
        self.add_capability(PCI_CAP_ID_VNDR, _vendor_cap(CAP_COMMON, MODERN_BAR, COMMON_OFF,
                                                         0x1000))
        self.add_capability(PCI_CAP_ID_VNDR, _vendor_cap(CAP_ISR, MODERN_BAR, ISR_OFF, 0x1000))
        self.add_capability(PCI_CAP_ID_VNDR, _vendor_cap(CAP_DEVICE, MODERN_BAR, DEVICE_OFF,
                                                         0x1000))
        self.add_capability(PCI_CAP_ID_VNDR, _vendor_cap(
            CAP_NOTIFY, MODERN_BAR, NOTIFY_OFF, 0x1000, struct.pack("<I", NOTIFY_MULTIPLIER)))
        # VIRTIO_PCI_CAP_PCI_CFG: bar/offset/length and a 4-byte data window, writable.
        self.pci_cfg_cap = self.add_capability(
            PCI_CAP_ID_VNDR, _vendor_cap(CAP_PCI_CFG, 0, 0, 0, b"\0\0\0\0"),
            wmask=b"\0\0\xff\0\0\0" + b"\xff" * 8 + b"\xff" * 4)
        self.msix = Msix(self, self.nvectors, MSIX_BAR, 0x000, 0x800)
        self.bars[MSIX_BAR].region = self.msix
        self.kvm_vm: Any = None
        self.main_loop: Any = None
        self._eventfds: list[tuple[int, int, int]] = []      # (fd, queue, address)
        self.reset()

    @classmethod
    def from_options_for(cls, vdev: VirtioDevice, opts: dict[str, str]) -> VirtioPci:
        """Parse the transport's own -device properties (vectors, ioeventfd...)."""
        declared = cls.all_properties()
        props: dict[str, Any] = {}
        for key, text in opts.items():
            try:
                props[key] = declared[key].parse(text)
            except ValueError as e:
                raise DeviceError(f"Parameter '{key}' {e}") from None
        return cls(vdev, **props)

    def realize(self) -> None:
        if self.disable_modern:
            raise ValueError("legacy virtio-pci (disable-modern=on) is not supported")
        self.vdev.plug(self, self.bus.mem if self.bus is not None else None)
        self.vdev.realize()
        super().realize()

    def reset(self) -> None:
        self.device_feature_select = 0
        self.driver_feature_select = 0
        self.queue_select = 0
        self.config_vector = NO_VECTOR
        self.queue_vectors = [NO_VECTOR] * len(self.vdev.queues)
        self.isr = 0
        self._drop_ioeventfds()
        self.vdev.reset()
        self.msix.reset()
        self.pci_reset()

    # --- migration ---------------------------------------------------------------------
    @property
    def msix_table(self) -> bytearray:
        return self.msix.table

    @msix_table.setter
    def msix_table(self, value: bytearray) -> None:
        self.msix.table[:] = value

    @property
    def msix_pending(self) -> int:
        return self.msix.pending

    @msix_pending.setter
    def msix_pending(self, value: int) -> None:
        self.msix.pending = value

    @property
    def virtio_device(self) -> dict:
        return self.vdev.save_state()

    @virtio_device.setter
    def virtio_device(self, state: dict) -> None:
        self.vdev.load_state(state)

    def post_load(self) -> None:
        """After loadvm: BARs where the header says, queue notifications through
        ioeventfds again if the driver is running, INTx from the restored ISR."""
        self._drop_ioeventfds()
        self._intx_level = bool(self.isr) and not self.msix.enabled()
        super().post_load()
        if self.vdev.status & STATUS_DRIVER_OK:
            self._setup_ioeventfds()

    # --- transport contract (called by the device) -----------------------------------
    def notify_used(self, queue_index: int) -> None:
        self._interrupt(self.queue_vectors[queue_index], ISR_QUEUE)

    def notify_config(self) -> None:
        self._interrupt(self.config_vector, ISR_CONFIG)

    def _interrupt(self, vector: int, isr_bit: int) -> None:
        if self.msix.enabled():
            if vector != NO_VECTOR:
                self.msix.notify(vector)
            return
        self.isr |= isr_bit
        self.set_intx(True)

    def config_written(self, offset: int, size: int) -> None:
        cap = self.msix.cap
        if offset <= cap + 3 and offset + size > cap + 2:
            self.msix.deliver_pending()          # enable or function mask changed
        c = self.pci_cfg_cap
        if offset + size > c + 16 and offset < c + 20:
            self._pci_cfg_access(write=True)

    def config_read(self, offset: int, size: int) -> int:
        c = self.pci_cfg_cap
        if c + 16 <= offset < c + 20:
            self._pci_cfg_access(write=False)
        return super().config_read(offset, size)

    def _pci_cfg_access(self, write: bool) -> None:
        """The VIRTIO_PCI_CAP_PCI_CFG window: an access of cap.length bytes at
        cap.offset in BAR cap.bar, through pci_cfg_data (4.1.4.8)."""
        c = self.pci_cfg_cap
        bar_index = self.config[c + 4]
        offset, length = struct.unpack_from("<II", self.config, c + 8)
        if bar_index != MODERN_BAR or length not in (1, 2, 4) or offset + length > MODERN_BAR_SIZE:
            return
        region = self.bars[MODERN_BAR].region
        if write:
            value = int.from_bytes(self.config[c + 16:c + 16 + length], "little")
            region.write(offset, length, value)
        else:
            value = region.read(offset, length)
            self.config[c + 16:c + 16 + length] = value.to_bytes(length, "little")

    # --- common configuration -------------------------------------------------------------
    def common_read(self, offset: int, size: int) -> int:
        vdev = self.vdev
        q = self.queue_select
        vq = vdev.queues[q] if q < len(vdev.queues) else None
        if offset == DEVICE_FEATURE_SELECT:
            return self.device_feature_select
        if offset == DEVICE_FEATURE:
            sel = self.device_feature_select
            return (vdev.device_features() >> (32 * sel)) & 0xFFFF_FFFF if sel < 2 else 0
        if offset == DRIVER_FEATURE_SELECT:
            return self.driver_feature_select
        if offset == DRIVER_FEATURE:
            sel = self.driver_feature_select
            return (vdev.driver_features >> (32 * sel)) & 0xFFFF_FFFF if sel < 2 else 0
        if offset == CONFIG_MSIX_VECTOR:
            return self.config_vector
        if offset == NUM_QUEUES:
            return len(vdev.queues)
        if offset == DEVICE_STATUS:
            return vdev.status
        if offset == CONFIG_GENERATION:
            return vdev.config_generation & 0xFF
        if offset == QUEUE_SELECT:
            return q
        if vq is None:
            return 0
        if offset == QUEUE_SIZE:
            return vq.size
        if offset == QUEUE_MSIX_VECTOR:
            return self.queue_vectors[q]
        if offset == QUEUE_ENABLE:
            return int(vq.ready)
        if offset == QUEUE_NOTIFY_OFF:
            return q
        for base, attr in ((QUEUE_DESC, "desc_addr"), (QUEUE_DRIVER, "avail_addr"),
                           (QUEUE_DEVICE, "used_addr")):
            if base <= offset < base + 8:
                return (getattr(vq, attr) >> (8 * (offset - base))) & ((1 << (8 * size)) - 1)
        return 0

    def common_write(self, offset: int, size: int, value: int) -> None:
        vdev = self.vdev
        q = self.queue_select
        vq = vdev.queues[q] if q < len(vdev.queues) else None
        if offset == DEVICE_FEATURE_SELECT:
            self.device_feature_select = value
        elif offset == DRIVER_FEATURE_SELECT:
            self.driver_feature_select = value
        elif offset == DRIVER_FEATURE:
            sel = self.driver_feature_select
            if sel < 2:
                f = vdev.driver_features
                shift = 32 * sel
                vdev.set_driver_features((f & ~(0xFFFF_FFFF << shift)) | (value << shift))
        elif offset == CONFIG_MSIX_VECTOR:
            self.config_vector = value if value < self.nvectors else NO_VECTOR
        elif offset == DEVICE_STATUS:
            self._write_status(value & 0xFF)
        elif offset == QUEUE_SELECT:
            self.queue_select = value
        elif vq is None:
            return
        elif offset == QUEUE_MSIX_VECTOR:
            self.queue_vectors[q] = value if value < self.nvectors else NO_VECTOR
        elif offset == QUEUE_ENABLE:
            if value & 1 and not vq.ready:
                vdev.queue_enable(q)
        elif vq.ready:
            return          # 4.1.4.3.2: queue fields are frozen once the queue is enabled
        elif offset == QUEUE_SIZE:
            vq.size = value
        else:
            for base, attr in ((QUEUE_DESC, "desc_addr"), (QUEUE_DRIVER, "avail_addr"),
                               (QUEUE_DEVICE, "used_addr")):
                if base <= offset < base + 8:
                    shift = 8 * (offset - base)
                    mask = ((1 << (8 * size)) - 1) << shift
                    old = getattr(vq, attr)
                    setattr(vq, attr, (old & ~mask) | ((value << shift) & mask))

    def _write_status(self, value: int) -> None:
        vdev = self.vdev
        if value == 0:
            # Device reset (4.1.4.3.2): everything but the PCI header goes back.
            self._drop_ioeventfds()
            vdev.reset()
            self.isr = 0
            self.set_intx(False)
            self.config_vector = NO_VECTOR
            self.queue_vectors = [NO_VECTOR] * len(vdev.queues)
            return
        was_ok = vdev.status & STATUS_DRIVER_OK
        vdev.set_status(value)
        if vdev.status & STATUS_DRIVER_OK and not was_ok:
            self._setup_ioeventfds()

    def isr_read(self) -> int:
        value, self.isr = self.isr, 0           # reading acknowledges (4.1.4.5)
        self.set_intx(False)
        return value

    def notify(self, queue_index: int) -> None:
        self.vdev.queue_notify(queue_index)

    # --- ioeventfd ------------------------------------------------------------------------
    def bar_mapped(self, bar: Bar) -> None:
        if bar.index == MODERN_BAR and self.vdev.status & STATUS_DRIVER_OK:
            self._setup_ioeventfds()

    def bar_unmapped(self, bar: Bar) -> None:
        if bar.index == MODERN_BAR:
            self._drop_ioeventfds()

    def _setup_ioeventfds(self) -> None:
        bar = self.bars[MODERN_BAR]
        if not self.ioeventfd or self.kvm_vm is None or self.main_loop is None or \
                bar.mapped_at is None or self._eventfds:
            return
        for q in range(len(self.vdev.queues)):
            addr = bar.mapped_at + NOTIFY_OFF + q * NOTIFY_MULTIPLIER
            fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            try:
                self.kvm_vm.ioeventfd(fd, addr, 2)
            except Exception:
                os.close(fd)
                self._drop_ioeventfds()
                return
            self._eventfds.append((fd, q, addr))
            self.main_loop.call_soon_threadsafe(self.main_loop.add_reader, fd,
                                                lambda fd=fd, q=q: self._eventfd_ready(fd, q))

    def _eventfd_ready(self, fd: int, q: int) -> None:
        try:
            os.eventfd_read(fd)
        except OSError:
            return
        with self.main_loop.bql:
            self.notify(q)

    def _drop_ioeventfds(self) -> None:
        for fd, _q, addr in self._eventfds:
            try:
                self.kvm_vm.ioeventfd(fd, addr, 2, deassign=True)
            except Exception:
                pass
            loop = self.main_loop
            loop.call_soon_threadsafe(self._close_eventfd, fd)
        self._eventfds = []

    def _close_eventfd(self, fd: int) -> None:
        self.main_loop.remove_reader(fd)
        os.close(fd)

    def kvm_vm_created(self, vm: Any) -> None:
        self.kvm_vm = vm


class _ModernBar:
    """BAR 4: common config, ISR, device config and notify areas."""

    def __init__(self, dev: VirtioPci) -> None:
        self.dev = dev

    def read(self, offset: int, size: int) -> int:
        dev = self.dev
        if offset < COMMON_CFG_LEN:
            return dev.common_read(offset, size)
        if ISR_OFF <= offset < ISR_OFF + 4:
            return dev.isr_read() if offset == ISR_OFF else 0
        if DEVICE_OFF <= offset < DEVICE_OFF + 0x1000:
            return dev.vdev.read_config(offset - DEVICE_OFF, size)
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        dev = self.dev
        if offset < COMMON_CFG_LEN:
            dev.common_write(offset, size, value)
        elif DEVICE_OFF <= offset < DEVICE_OFF + 0x1000:
            dev.vdev.write_config(offset - DEVICE_OFF, size, value)
        elif NOTIFY_OFF <= offset < NOTIFY_OFF + 0x1000:
            q = (offset - NOTIFY_OFF) // NOTIFY_MULTIPLIER
            dev.notify(q)
