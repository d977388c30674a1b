"""The transport-independent virtio device core (virtio 1.x spec sections 2 and 3).

A :class:`VirtioDevice` owns the device status, feature negotiation, its virtqueues and
its configuration space; a transport (virtio-mmio here, virtio-pci elsewhere) maps
those onto a bus and delivers interrupts.  The transport contract::

    device.plug(transport, mem)        once, before the guest runs
    transport.notify_used(queue_idx)   the device used buffers: interrupt if wanted
    transport.notify_config()          the configuration (or the status) changed

and the transport calls into the device: ``device_features()``, ``set_driver_features``,
``set_status``, ``queue_enable``, ``queue_notify``, ``read_config``/``write_config``,
``reset``.

Guest mistakes never raise out of the device: a broken virtqueue or request puts the
device in DEVICE_NEEDS_RESET (section 2.1.2) with a configuration-change interrupt, and
the queues stay stopped until the driver resets the device.
"""

from __future__ import annotations

import sys
from typing import Any

from pyqemu.hw.virtio.virtqueue import VirtQueue, VirtQueueElement, VirtQueueError
from pyqemu.memory import AddressSpace
from pyqemu.qom.device import Device

# Device status bits (section 2.1).
STATUS_ACKNOWLEDGE = 1
STATUS_DRIVER = 2
STATUS_DRIVER_OK = 4
STATUS_FEATURES_OK = 8
STATUS_DEVICE_NEEDS_RESET = 0x40
STATUS_FAILED = 0x80

# Reserved feature bits (section 6).
VIRTIO_RING_F_INDIRECT_DESC = 28
VIRTIO_RING_F_EVENT_IDX = 29
VIRTIO_F_VERSION_1 = 32

# Device types (section 5).
VIRTIO_ID_NET = 1
VIRTIO_ID_BLOCK = 2
VIRTIO_ID_CONSOLE = 3
VIRTIO_ID_RNG = 4


class VirtioDevice(Device):
    device_id = 0
    queue_sizes: tuple[int, ...] = ()
    # queue_state: each virtqueue's VirtQueue.vmstate fields, so either transport
    # saves a device with its rings by saving the device.
    vmstate = ("status", "driver_features", "config_generation", "queue_state")

    def __init__(self, **props: Any) -> None:
        super().__init__(**props)
        self.queues = [VirtQueue(i, n) for i, n in enumerate(self.queue_sizes)]
        self.transport: Any = None
        self.mem: AddressSpace | None = None
        self.status = 0
        self.driver_features = 0
        self.config_generation = 0
        self.error_message: str | None = None

    @property
    def queue_state(self) -> list[dict]:
        return [{f: getattr(vq, f) for f in vq.vmstate} for vq in self.queues]

    @queue_state.setter
    def queue_state(self, states: list[dict]) -> None:
        for vq, qs in zip(self.queues, states, strict=True):
            for f in vq.vmstate:
                if f in qs:
                    setattr(vq, f, qs[f])

    # --- wiring -------------------------------------------------------------------------
    def plug(self, transport: Any, mem: AddressSpace) -> None:
        self.transport = transport
        self.mem = mem

    # --- features -----------------------------------------------------------------------
    def device_features(self) -> int:
        """Feature bits offered: the common ones plus host_features() of the device type."""
        return (1 << VIRTIO_F_VERSION_1 | 1 << VIRTIO_RING_F_INDIRECT_DESC
                | 1 << VIRTIO_RING_F_EVENT_IDX | self.host_features())

    def host_features(self) -> int:
        return 0

    def has_feature(self, bit: int) -> bool:
        return bool(self.driver_features >> bit & 1)

    def set_driver_features(self, features: int) -> None:
        # Once FEATURES_OK is set the driver may not change its mind (section 3.1.1).
        if self.status & STATUS_FEATURES_OK:
            return
        self.driver_features = features

    def features_acceptable(self) -> bool:
        """Accepted features must be a subset of the offer and include VERSION_1."""
        f = self.driver_features
        return not f & ~self.device_features() and bool(f >> VIRTIO_F_VERSION_1 & 1)

    # --- status -------------------------------------------------------------------------
    def set_status(self, value: int) -> None:
        value &= 0xFF
        if value == 0:
            self.reset()
            return
        if value & STATUS_FEATURES_OK and not self.status & STATUS_FEATURES_OK:
            if not self.features_acceptable():
                value &= ~STATUS_FEATURES_OK   # the driver reads it back and gives up
            else:
                for vq in self.queues:
                    vq.event_idx = self.has_feature(VIRTIO_RING_F_EVENT_IDX)
                    vq.indirect = self.has_feature(VIRTIO_RING_F_INDIRECT_DESC)
                self.features_negotiated()
        # DEVICE_NEEDS_RESET is the device's to set, the driver cannot clear it.
        value = (value & ~STATUS_DEVICE_NEEDS_RESET) | (self.status & STATUS_DEVICE_NEEDS_RESET)
        started = value & STATUS_DRIVER_OK and not self.status & STATUS_DRIVER_OK
        self.status = value
        if started:
            self.driver_ok()
            for vq in self.queues:
                if vq.ready:
                    self.queue_notify(vq.index)

    def features_negotiated(self) -> None:
        """Hook: FEATURES_OK accepted."""

    def driver_ok(self) -> None:
        """Hook: the driver set DRIVER_OK."""

    def reset(self) -> None:
        self.status = 0
        self.driver_features = 0
        self.error_message = None
        for vq in self.queues:
            vq.reset()

    def broken(self) -> bool:
        return bool(self.status & (STATUS_DEVICE_NEEDS_RESET | STATUS_FAILED))

    def set_needs_reset(self, message: str) -> None:
        """The driver broke the protocol: stop, flag DEVICE_NEEDS_RESET, tell the driver."""
        if self.status & STATUS_DEVICE_NEEDS_RESET:
            return
        self.error_message = message
        print(f"pyqemu: {self.type_name}: {message}", file=sys.stderr)
        self.status |= STATUS_DEVICE_NEEDS_RESET
        if self.status & STATUS_DRIVER_OK and self.transport is not None:
            self.transport.notify_config()

    # --- queues -------------------------------------------------------------------------
    def queue_enable(self, index: int) -> bool:
        """The driver set QueueReady: validate the ring addresses first."""
        vq = self.queues[index]
        try:
            vq.validate_layout(self.mem)
        except VirtQueueError as e:
            self.set_needs_reset(str(e))
            return False
        vq.ready = True
        return True

    def queue_notify(self, index: int) -> None:
        """The driver kicked queue index: process what it made available."""
        if not 0 <= index < len(self.queues) or self.broken():
            return
        vq = self.queues[index]
        if not vq.ready or not self.status & STATUS_DRIVER_OK:
            return
        try:
            self.handle_queue(vq)
        except VirtQueueError as e:
            self.set_needs_reset(str(e))

    def handle_queue(self, vq: VirtQueue) -> None:
        """Subclass: pop chains, serve them, push them back (raise VirtQueueError on abuse)."""
        while vq.pop(self.mem) is not None:
            pass

    def push(self, vq: VirtQueue, elem: VirtQueueElement, written: int) -> None:
        vq.push(self.mem, elem, written)

    def notify(self, vq: VirtQueue) -> None:
        """Interrupt the driver for used buffers if it asked for one."""
        if self.transport is not None and vq.should_notify(self.mem):
            self.transport.notify_used(vq.index)

    # --- configuration space --------------------------------------------------------------
    def config_bytes(self) -> bytes:
        """Subclass: the device-specific configuration layout, little-endian."""
        return b""

    def read_config(self, offset: int, size: int) -> int:
        cfg = self.config_bytes()
        if offset < 0 or offset + size > len(cfg):
            return 0
        return int.from_bytes(cfg[offset:offset + size], "little")

    def write_config(self, offset: int, size: int, value: int) -> None:
        """Subclass: most configuration fields are read-only to the driver."""

    def config_changed(self) -> None:
        self.config_generation = (self.config_generation + 1) & 0xFFFF_FFFF
        if self.transport is not None and self.status & STATUS_DRIVER_OK:
            self.transport.notify_config()
