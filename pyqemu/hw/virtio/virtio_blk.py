"""virtio-blk (virtio 1.x spec section 5.2) over a pyqemu BlockDriver (raw, qcow2...).

A request is one chain: a 16-byte readable header {type u32, reserved u32, sector
u64}, data buffers (readable for writes, writable for reads), and a final writable
status byte.  I/O is done synchronously on the thread that kicked the queue.

Errors the guest can cause map to what a disk reports: an access past the end of the
disk or a failing image gives VIRTIO_BLK_S_IOERR, an unknown request type
VIRTIO_BLK_S_UNSUPP; a chain without room for the header or the status byte is a
protocol violation and puts the device in DEVICE_NEEDS_RESET.
"""

from __future__ import annotations

import struct
from typing import Any

from pyqemu.block.driver import BlockDriver, BlockError
from pyqemu.hw.virtio.virtio import VIRTIO_ID_BLOCK, VirtioDevice
from pyqemu.hw.virtio.virtqueue import VirtQueue, VirtQueueElement, VirtQueueError
from pyqemu.qom.device import DeviceError, prop_bool, prop_str, register_device

SECTOR = 512

VIRTIO_BLK_F_SIZE_MAX = 1
VIRTIO_BLK_F_SEG_MAX = 2
VIRTIO_BLK_F_RO = 5
VIRTIO_BLK_F_BLK_SIZE = 6
VIRTIO_BLK_F_FLUSH = 9
VIRTIO_BLK_F_DISCARD = 13
VIRTIO_BLK_F_WRITE_ZEROES = 14

VIRTIO_BLK_T_IN = 0
VIRTIO_BLK_T_OUT = 1
VIRTIO_BLK_T_FLUSH = 4
VIRTIO_BLK_T_GET_ID = 8
VIRTIO_BLK_T_DISCARD = 11
VIRTIO_BLK_T_WRITE_ZEROES = 13

VIRTIO_BLK_S_OK = 0
VIRTIO_BLK_S_IOERR = 1
VIRTIO_BLK_S_UNSUPP = 2

VIRTIO_BLK_ID_BYTES = 20
SEG_MAX = 126
MAX_DISCARD_SECTORS = 1 << 22
MAX_REQUEST = 64 << 20          # bytes per request we are willing to buffer


@register_device
class VirtioBlk(VirtioDevice):
    type_name = "virtio-blk-device"
    device_id = VIRTIO_ID_BLOCK
    queue_sizes = (256,)
    properties = {"drive": prop_str(), "serial": prop_str(), "read-only": prop_bool()}

    def __init__(self, backend: BlockDriver | None = None, **props: Any) -> None:
        super().__init__(**props)
        self.backend = backend

    def attach_backend(self, backend: BlockDriver) -> None:
        self.backend = backend

    def realize(self) -> None:
        if self.backend is None:
            raise DeviceError("drive property not set")
        self.ro = self.read_only or self.backend.read_only
        super().realize()

    @property
    def capacity(self) -> int:
        return self.backend.size() // SECTOR

    def host_features(self) -> int:
        f = (1 << VIRTIO_BLK_F_SEG_MAX | 1 << VIRTIO_BLK_F_BLK_SIZE | 1 << VIRTIO_BLK_F_FLUSH
             | 1 << VIRTIO_BLK_F_DISCARD | 1 << VIRTIO_BLK_F_WRITE_ZEROES)
        if getattr(self, "ro", False):
            f |= 1 << VIRTIO_BLK_F_RO
        return f

    def config_bytes(self) -> bytes:
        # struct virtio_blk_config up to write_zeroes_may_unmap (section 5.2.4).
        return struct.pack(
            "<QII HBB I BBHI B B H III II B3x",
            self.capacity, 0, SEG_MAX,
            0, 0, 0,                        # geometry (unused)
            SECTOR,                         # blk_size
            0, 0, 1, 0,                     # topology
            1,                              # writeback: flush is honoured
            0, 1,                           # unused0, num_queues
            MAX_DISCARD_SECTORS, 1, 1,      # max_discard_sectors, max_discard_seg, alignment
            MAX_DISCARD_SECTORS, 1,         # max_write_zeroes_sectors, max_write_zeroes_seg
            0,                              # write_zeroes_may_unmap
        )

    # --- requests -------------------------------------------------------------------------
    def handle_queue(self, vq: VirtQueue) -> None:
        mem = self.mem
        done = False
        while True:
            elem = vq.pop(mem)
            if elem is None:
                break
            status, written = self._serve(elem)
            # The status byte is the last byte of the writable buffers.
            addr, n = elem.in_sg[-1]
            mem.write(addr + n - 1, bytes([status]))
            self.push(vq, elem, written + 1)
            done = True
        if done:
            self.notify(vq)

    def _serve(self, elem: VirtQueueElement) -> tuple[int, int]:
        if elem.out_len < 16 or elem.in_len < 1:
            raise VirtQueueError("virtio-blk request without header or status byte")
        rtype, _, sector = struct.unpack("<IIQ", elem.read_out(self.mem, 16))
        data_in = elem.in_len - 1
        data_out = elem.out_len - 16
        try:
            if rtype == VIRTIO_BLK_T_IN:
                return self._read(elem, sector, data_in)
            if rtype == VIRTIO_BLK_T_OUT:
                if self.ro:
                    return VIRTIO_BLK_S_IOERR, 0
                return self._write(elem, sector, data_out), 0
            if rtype == VIRTIO_BLK_T_FLUSH:
                if not self.ro:
                    self.backend.flush()
                return VIRTIO_BLK_S_OK, 0
            if rtype == VIRTIO_BLK_T_GET_ID:
                ident = (self.serial or "").encode()[:VIRTIO_BLK_ID_BYTES]
                ident += bytes(VIRTIO_BLK_ID_BYTES - len(ident))
                n = elem.write_in(self.mem, ident[:data_in])
                return VIRTIO_BLK_S_OK, n
            if rtype in (VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES):
                if self.ro:
                    return VIRTIO_BLK_S_IOERR, 0
                return self._discard_or_zero(elem, rtype == VIRTIO_BLK_T_WRITE_ZEROES), 0
        except BlockError:
            return VIRTIO_BLK_S_IOERR, 0
        except OSError:
            return VIRTIO_BLK_S_IOERR, 0
        return VIRTIO_BLK_S_UNSUPP, 0

    def _in_range(self, sector: int, nbytes: int) -> bool:
        return nbytes % SECTOR == 0 and sector * SECTOR + nbytes <= self.backend.size()

    def _read(self, elem: VirtQueueElement, sector: int, nbytes: int) -> tuple[int, int]:
        if not self._in_range(sector, nbytes):
            return VIRTIO_BLK_S_IOERR, 0
        offset = sector * SECTOR
        written = 0
        # Buffer segment by segment so a huge request never needs one huge host buffer.
        for addr, n in elem.in_sg:
            n = min(n, nbytes - written)
            if n <= 0:
                break
            self.mem.write(addr, self.backend.read(offset + written, n))
            written += n
        return VIRTIO_BLK_S_OK, written

    def _write(self, elem: VirtQueueElement, sector: int, nbytes: int) -> int:
        if not self._in_range(sector, nbytes):
            return VIRTIO_BLK_S_IOERR
        offset = sector * SECTOR
        skip = 16
        for addr, n in elem.out_sg:
            if skip >= n:
                skip -= n
                continue
            self.backend.write(offset, self.mem.read(addr + skip, n - skip))
            offset += n - skip
            skip = 0
        return VIRTIO_BLK_S_OK

    def _discard_or_zero(self, elem: VirtQueueElement, zero: bool) -> int:
        payload = elem.read_out(self.mem)[16:]
        if not payload or len(payload) % 16:
            return VIRTIO_BLK_S_UNSUPP
        for i in range(0, len(payload), 16):
            sector, num, flags = struct.unpack_from("<QII", payload, i)
            if flags & ~1 or num > MAX_DISCARD_SECTORS:
                return VIRTIO_BLK_S_UNSUPP
            if not self._in_range(sector, num * SECTOR):
                return VIRTIO_BLK_S_IOERR
            if zero:
                self.backend.write_zeroes(sector * SECTOR, num * SECTOR)
            else:
                self.backend.discard(sector * SECTOR, num * SECTOR)
        return VIRTIO_BLK_S_OK
