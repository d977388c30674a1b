"""virtio-console (virtio 1.x spec section 5.3), single port, as a chardev frontend.

Without VIRTIO_CONSOLE_F_MULTIPORT the device has one port on two queues: receiveq
(0, host-to-guest: the driver posts writable buffers) and transmitq (1, guest-to-host).
Linux shows it as /dev/hvc0.  Host input waits in the chardev until the driver has
posted receive buffers; posting buffers (a kick on queue 0) re-offers it.

``-device virtio-console-device,chardev=ID`` plugs it on a virtio-mmio slot (QEMU
spells this ``-device virtio-serial-device -device virtconsole,chardev=ID``).
"""

from __future__ import annotations

import struct
from typing import Any

from pyqemu.chardev import Chardev
from pyqemu.hw.virtio.virtio import STATUS_DRIVER_OK, VIRTIO_ID_CONSOLE, VirtioDevice
from pyqemu.hw.virtio.virtqueue import VirtQueue, VirtQueueError
from pyqemu.memory import GuestMemoryError
from pyqemu.qom.device import DeviceError, prop_str, register_device

RECEIVEQ, TRANSMITQ = 0, 1
MAX_TX = 1 << 20


@register_device
class VirtioConsole(VirtioDevice):
    type_name = "virtio-console-device"
    device_id = VIRTIO_ID_CONSOLE
    queue_sizes = (128, 128)
    properties = {"chardev": prop_str()}

    def __init__(self, backend: Chardev | None = None, **props: Any) -> None:
        super().__init__(**props)
        self.backend = backend

    def attach_backend(self, backend: Chardev) -> None:
        self.backend = backend

    def realize(self) -> None:
        if self.backend is None:
            raise DeviceError("chardev property not set")
        self.backend.attach(self)
        super().realize()

    def config_bytes(self) -> bytes:
        # cols, rows, max_nr_ports, emerg_wr
        return struct.pack("<HHII", 80, 25, 1, 0)

    def write_config(self, offset: int, size: int, value: int) -> None:
        # emerg_wr (offset 8): an emergency write of one character, even before DRIVER_OK.
        if offset == 8 and self.backend is not None:
            self.backend.write(bytes([value & 0xFF]))

    # --- guest -> host ---------------------------------------------------------------------
    def handle_queue(self, vq: VirtQueue) -> None:
        if vq.index == RECEIVEQ:
            # New receive buffers: pending host input can flow again.
            if self.backend is not None:
                self.backend.accept_input()
            return
        done = False
        while True:
            elem = vq.pop(self.mem)
            if elem is None:
                break
            data = elem.read_out(self.mem, MAX_TX)
            if data and self.backend is not None:
                self.backend.write(data)
            self.push(vq, elem, 0)
            done = True
        if done:
            self.notify(vq)

    # --- host -> guest (chardev frontend) ---------------------------------------------------
    def _rx_ready(self) -> bool:
        vq = self.queues[RECEIVEQ]
        return bool(vq.ready and not self.broken() and self.status & STATUS_DRIVER_OK and self.mem is not None)

    def can_receive(self) -> int:
        if not self._rx_ready():
            return 0
        try:
            return 4096 if self.queues[RECEIVEQ].has_work(self.mem) else 0
        except GuestMemoryError:   # validated at enable; only a torn-down map gets here
            return 0

    def receive(self, data: bytes) -> None:
        vq = self.queues[RECEIVEQ]
        pos = 0
        try:
            while pos < len(data):
                elem = vq.pop(self.mem)
                if elem is None:
                    # Should not happen (can_receive said yes); the rest is lost like
                    # bytes on a line with no reader.
                    break
                n = elem.write_in(self.mem, data[pos:pos + elem.in_len])
                pos += n
                self.push(vq, elem, n)
            self.notify(vq)
        except VirtQueueError as e:
            self.set_needs_reset(str(e))

    def chr_event(self, event: str) -> None:
        pass
