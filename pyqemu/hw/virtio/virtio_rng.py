"""virtio-rng (virtio 1.x spec section 5.4): one queue the driver fills with writable
buffers; the device fills them with entropy from the host (os.urandom)."""

from __future__ import annotations

import os

from pyqemu.hw.virtio.virtio import VIRTIO_ID_RNG, VirtioDevice
from pyqemu.hw.virtio.virtqueue import VirtQueue
from pyqemu.qom.device import register_device

MAX_PER_REQUEST = 64 << 10


@register_device
class VirtioRng(VirtioDevice):
    type_name = "virtio-rng-device"
    device_id = VIRTIO_ID_RNG
    queue_sizes = (8,)

    def handle_queue(self, vq: VirtQueue) -> None:
        done = False
        while True:
            elem = vq.pop(self.mem)
            if elem is None:
                break
            n = min(elem.in_len, MAX_PER_REQUEST)
            written = elem.write_in(self.mem, os.urandom(n)) if n else 0
            self.push(vq, elem, written)
            done = True
        if done:
            self.notify(vq)
