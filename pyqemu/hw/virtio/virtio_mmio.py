"""The virtio-mmio transport, version 2 (virtio 1.x spec section 4.2 "Virtio Over MMIO").

A 0x200-byte register window (QEMU's virt spaces slots 0x1000 apart) with one IRQ
line.  A slot without a device answers with DeviceID 0, which drivers skip.  Registers
are 32 bits wide; the configuration space at 0x100 takes 8, 16 and 32-bit accesses.
"""

from __future__ import annotations

from pyqemu.hw.irq import IrqLine
from pyqemu.hw.virtio.virtio import VirtioDevice
from pyqemu.memory import AddressSpace
from pyqemu.qom.device import Device

MAGIC = 0x74726976            # "virt"
VERSION = 2
VENDOR_ID = 0x554D4551        # "QEMU"

MAGIC_VALUE, VERSION_REG, DEVICE_ID, VENDOR = 0x000, 0x004, 0x008, 0x00C
DEVICE_FEATURES, DEVICE_FEATURES_SEL = 0x010, 0x014
DRIVER_FEATURES, DRIVER_FEATURES_SEL = 0x020, 0x024
QUEUE_SEL, QUEUE_NUM_MAX, QUEUE_NUM, QUEUE_READY = 0x030, 0x034, 0x038, 0x044
QUEUE_NOTIFY = 0x050
INTERRUPT_STATUS, INTERRUPT_ACK = 0x060, 0x064
STATUS = 0x070
QUEUE_DESC_LOW, QUEUE_DESC_HIGH = 0x080, 0x084
QUEUE_DRIVER_LOW, QUEUE_DRIVER_HIGH = 0x090, 0x094
QUEUE_DEVICE_LOW, QUEUE_DEVICE_HIGH = 0x0A0, 0x0A4
SHM_SEL, SHM_LEN_LOW, SHM_LEN_HIGH = 0x0AC, 0x0B0, 0x0B4
SHM_BASE_LOW, SHM_BASE_HIGH = 0x0B8, 0x0BC
CONFIG_GENERATION = 0x0FC
CONFIG = 0x100

INT_USED_BUFFER = 1
INT_CONFIG_CHANGE = 2

SLOT_SIZE = 0x200


def _set_half(old: int, high: bool, value: int) -> int:
    value &= 0xFFFF_FFFF
    return (old & 0xFFFF_FFFF) | value << 32 if high else (old & ~0xFFFF_FFFF) | value


class VirtioMmio(Device):
    """One virtio-mmio slot; ``device`` may be plugged later (or never)."""

    type_name = "virtio-mmio"
    vmstate = ("interrupt_status", "device_features_sel", "driver_features_sel", "queue_sel",
               "virtio_state")

    def __init__(self, mem: AddressSpace, irq: IrqLine) -> None:
        super().__init__()
        self.mem = mem
        self.irq = irq
        self.device: VirtioDevice | None = None
        self.size = SLOT_SIZE
        self.reset()

    def plug(self, device: VirtioDevice) -> None:
        self.device = device
        device.plug(self, self.mem)

    def reset(self) -> None:
        self.interrupt_status = 0
        self.device_features_sel = 0
        self.driver_features_sel = 0
        self.queue_sel = 0
        if self.device is not None:
            self.device.reset()
        self.irq.set(False)

    # --- migration -------------------------------------------------------------------
    @property
    def virtio_state(self) -> dict:
        """The plugged device's declared fields, queues included (empty: a free slot)."""
        dev = self.device
        return {"device": dev.save_state() if dev is not None else {}}

    @virtio_state.setter
    def virtio_state(self, state: dict) -> None:
        if self.device is not None:
            self.device.load_state(state["device"])

    def post_load(self) -> None:
        self.irq.set(self.interrupt_status != 0)

    # --- interrupts from the device ---------------------------------------------------
    def notify_used(self, queue_index: int) -> None:
        self.interrupt_status |= INT_USED_BUFFER
        self.irq.set(True)

    def notify_config(self) -> None:
        self.interrupt_status |= INT_CONFIG_CHANGE
        self.irq.set(True)

    # --- registers ------------------------------------------------------------------------
    def _queue(self):
        dev = self.device
        if dev is None or self.queue_sel >= len(dev.queues):
            return None
        return dev.queues[self.queue_sel]

    def read(self, offset: int, size: int) -> int:
        dev = self.device
        if offset >= CONFIG:
            return dev.read_config(offset - CONFIG, size) if dev is not None else 0
        if size != 4 or offset & 3:
            return 0
        if offset == MAGIC_VALUE:
            return MAGIC
        if offset == VERSION_REG:
            return VERSION
        if offset == DEVICE_ID:
            return dev.device_id if dev is not None else 0
        if offset == VENDOR:
            return VENDOR_ID
        if dev is None:
            return 0
        vq = self._queue()
        if offset == DEVICE_FEATURES:
            sel = self.device_features_sel
            return (dev.device_features() >> (32 * sel)) & 0xFFFF_FFFF if sel < 2 else 0
        if offset == QUEUE_NUM_MAX:
            return vq.max_size if vq is not None else 0
        if offset == QUEUE_READY:
            return int(vq.ready) if vq is not None else 0
        if offset == INTERRUPT_STATUS:
            return self.interrupt_status
        if offset == STATUS:
            return dev.status
        if offset == CONFIG_GENERATION:
            return dev.config_generation
        if offset in (SHM_LEN_LOW, SHM_LEN_HIGH, SHM_BASE_LOW, SHM_BASE_HIGH):
            return 0xFFFF_FFFF            # no shared memory regions: length -1
        if vq is not None:
            regs = {QUEUE_DESC_LOW: (vq.desc_addr, False), QUEUE_DESC_HIGH: (vq.desc_addr, True),
                    QUEUE_DRIVER_LOW: (vq.avail_addr, False),
                    QUEUE_DRIVER_HIGH: (vq.avail_addr, True),
                    QUEUE_DEVICE_LOW: (vq.used_addr, False),
                    QUEUE_DEVICE_HIGH: (vq.used_addr, True)}
            if offset in regs:
                value, high = regs[offset]
                return (value >> 32 if high else value) & 0xFFFF_FFFF
            if offset == QUEUE_NUM:
                return vq.size
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        dev = self.device
        if dev is None:
            return
        if offset >= CONFIG:
            dev.write_config(offset - CONFIG, size, value)
            return
        if size != 4 or offset & 3:
            return
        value &= 0xFFFF_FFFF
        if offset == DEVICE_FEATURES_SEL:
            self.device_features_sel = value
        elif offset == DRIVER_FEATURES:
            sel = self.driver_features_sel
            if sel < 2:
                f = dev.driver_features
                dev.set_driver_features(_set_half(f, sel == 1, value))
        elif offset == DRIVER_FEATURES_SEL:
            self.driver_features_sel = value
        elif offset == QUEUE_SEL:
            self.queue_sel = value
        elif offset == QUEUE_NOTIFY:
            dev.queue_notify(value & 0xFFFF)
        elif offset == INTERRUPT_ACK:
            self.interrupt_status &= ~value
            self.irq.set(self.interrupt_status != 0)
        elif offset == STATUS:
            dev.set_status(value)
            if value == 0:
                self.reset()
        else:
            self._write_queue_reg(offset, value)

    def _write_queue_reg(self, offset: int, value: int) -> None:
        vq = self._queue()
        if vq is None:
            return
        if offset == QUEUE_READY:
            if value & 1:
                if not vq.ready:
                    self.device.queue_enable(vq.index)
            else:
                vq.ready = False
            return
        if vq.ready:
            return    # section 4.2.2.2: ring registers are frozen while the queue is live
        if offset == QUEUE_NUM:
            vq.size = value
        elif offset in (QUEUE_DESC_LOW, QUEUE_DESC_HIGH):
            vq.desc_addr = _set_half(vq.desc_addr, offset == QUEUE_DESC_HIGH, value)
        elif offset in (QUEUE_DRIVER_LOW, QUEUE_DRIVER_HIGH):
            vq.avail_addr = _set_half(vq.avail_addr, offset == QUEUE_DRIVER_HIGH, value)
        elif offset in (QUEUE_DEVICE_LOW, QUEUE_DEVICE_HIGH):
            vq.used_addr = _set_half(vq.used_addr, offset == QUEUE_DEVICE_HIGH, value)
