"""Split virtqueues (virtio 1.x spec section 2.7 "Split Virtqueues"), device side.

Three guest-memory areas, all little-endian:

    descriptor table  16 bytes per entry: addr u64, len u32, flags u16, next u16
    driver area       flags u16, idx u16, ring[size] u16, used_event u16
    device area       flags u16, idx u16, ring[size] {id u32, len u32}, avail_event u16

Everything the driver wrote is untrusted.  :meth:`VirtQueue.pop` walks one chain and
rejects, with :class:`VirtQueueError`, what the spec forbids: a head or ``next`` index
outside the table, a chain longer than the table (a loop), an indirect table that is
empty, not a multiple of 16 bytes, nested or combined with NEXT, a device-readable
buffer after a device-writable one, a buffer that is not entirely guest RAM, and an
available index that jumps more than the queue size.  The device core turns the error
into DEVICE_NEEDS_RESET (section 2.1.2); nothing the guest writes reaches host memory
outside guest RAM, because every access goes through the bounds-checked AddressSpace.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from pyqemu.memory import AddressSpace, GuestMemoryError

VRING_DESC_F_NEXT = 1
VRING_DESC_F_WRITE = 2
VRING_DESC_F_INDIRECT = 4
VRING_AVAIL_F_NO_INTERRUPT = 1

DESC_SIZE = 16
MAX_CHAIN_BYTES = 1 << 32          # section 2.7.5: chains are shorter than 2**32 bytes
_DESC = struct.Struct("<QIHH")


class VirtQueueError(Exception):
    """The driver broke the virtqueue rules: the device must enter DEVICE_NEEDS_RESET."""


@dataclass
class VirtQueueElement:
    """One popped descriptor chain: device-readable (out) then device-writable (in) buffers."""

    head: int
    out_sg: list[tuple[int, int]] = field(default_factory=list)
    in_sg: list[tuple[int, int]] = field(default_factory=list)

    @property
    def out_len(self) -> int:
        return sum(n for _, n in self.out_sg)

    @property
    def in_len(self) -> int:
        return sum(n for _, n in self.in_sg)

    def read_out(self, mem: AddressSpace, limit: int | None = None) -> bytes:
        """Gather the readable buffers (at most limit bytes)."""
        parts = []
        left = self.out_len if limit is None else limit
        for addr, n in self.out_sg:
            if left <= 0:
                break
            take = min(n, left)
            parts.append(mem.read(addr, take))
            left -= take
        return b"".join(parts)

    def write_in(self, mem: AddressSpace, data: bytes | memoryview, offset: int = 0) -> int:
        """Scatter data into the writable buffers starting at byte offset; returns bytes written."""
        mv = memoryview(data)
        pos = 0
        skip = offset
        for addr, n in self.in_sg:
            if pos >= len(mv):
                break
            if skip >= n:
                skip -= n
                continue
            take = min(n - skip, len(mv) - pos)
            mem.write(addr + skip, mv[pos:pos + take])
            pos += take
            skip = 0
        return pos


class VirtQueue:
    """Device-side state of one split virtqueue."""

    # What the driver configured and how far the device got: savevm keeps these.
    vmstate = ("size", "ready", "desc_addr", "avail_addr", "used_addr", "last_avail_idx",
               "used_idx", "signalled_used", "event_idx", "indirect")

    def __init__(self, index: int, max_size: int = 256) -> None:
        self.index = index
        self.max_size = max_size
        self.reset()

    def reset(self) -> None:
        self.size = self.max_size
        self.ready = False
        self.desc_addr = 0
        self.avail_addr = 0
        self.used_addr = 0
        self.last_avail_idx = 0
        self.used_idx = 0
        self.signalled_used: int | None = None
        self.event_idx = False
        self.indirect = False

    # --- ring access --------------------------------------------------------------------
    def _u16(self, mem: AddressSpace, addr: int) -> int:
        return int.from_bytes(mem.read(addr, 2), "little")

    def avail_idx(self, mem: AddressSpace) -> int:
        return self._u16(mem, self.avail_addr + 2)

    def avail_flags(self, mem: AddressSpace) -> int:
        return self._u16(mem, self.avail_addr)

    def validate_layout(self, mem: AddressSpace) -> None:
        """The three areas must be guest RAM (checked when the driver enables the queue)."""
        size = self.size
        if size == 0 or size > self.max_size or size & (size - 1):
            raise VirtQueueError(f"queue {self.index}: bad size {size}")
        try:
            mem.check_ram(self.desc_addr, DESC_SIZE * size)
            mem.check_ram(self.avail_addr, 6 + 2 * size)
            mem.check_ram(self.used_addr, 6 + 8 * size, is_write=True)
        except GuestMemoryError as e:
            raise VirtQueueError(f"queue {self.index}: ring outside guest RAM ({e})") from None

    def has_work(self, mem: AddressSpace) -> bool:
        return self.avail_idx(mem) != self.last_avail_idx

    def pop(self, mem: AddressSpace) -> VirtQueueElement | None:
        """Take the next available chain, validated; None when the ring is empty."""
        try:
            avail = self.avail_idx(mem)
            pending = (avail - self.last_avail_idx) & 0xFFFF
            if pending == 0:
                return None
            if pending > self.size:
                raise VirtQueueError(f"queue {self.index}: avail idx {avail} moved "
                                     f"{pending} entries past {self.last_avail_idx}")
            slot = self.last_avail_idx % self.size
            head = self._u16(mem, self.avail_addr + 4 + 2 * slot)
            elem = self._walk(mem, head)
            self.last_avail_idx = (self.last_avail_idx + 1) & 0xFFFF
            if self.event_idx:
                # avail_event: ask to be notified when the driver passes this index.
                mem.write_uint(self.used_addr + 4 + 8 * self.size, 2, self.last_avail_idx)
            return elem
        except GuestMemoryError as e:
            raise VirtQueueError(f"queue {self.index}: {e}") from None

    def _walk(self, mem: AddressSpace, head: int) -> VirtQueueElement:
        if head >= self.size:
            raise VirtQueueError(f"queue {self.index}: head index {head} >= size {self.size}")
        elem = VirtQueueElement(head)
        table, table_len = self.desc_addr, self.size
        i = head
        seen = 0
        total = 0
        indirect = False
        while True:
            if i >= table_len:
                raise VirtQueueError(f"queue {self.index}: descriptor index {i} out of range")
            seen += 1
            if seen > table_len:
                raise VirtQueueError(f"queue {self.index}: descriptor chain loops")
            addr, length, flags, nxt = _DESC.unpack(mem.read(table + DESC_SIZE * i, DESC_SIZE))
            if flags & VRING_DESC_F_INDIRECT:
                if indirect:
                    raise VirtQueueError(f"queue {self.index}: nested indirect table")
                if not self.indirect:
                    raise VirtQueueError(f"queue {self.index}: indirect descriptor not negotiated")
                if flags & VRING_DESC_F_NEXT:
                    raise VirtQueueError(f"queue {self.index}: indirect descriptor with NEXT")
                if length == 0 or length % DESC_SIZE:
                    raise VirtQueueError(f"queue {self.index}: bad indirect table length {length}")
                try:
                    mem.check_ram(addr, length)
                except GuestMemoryError:
                    raise VirtQueueError(f"queue {self.index}: indirect table outside RAM") from None
                table, table_len = addr, length // DESC_SIZE
                indirect = True
                i, seen = 0, 0
                continue
            if length:
                writable = bool(flags & VRING_DESC_F_WRITE)
                try:
                    mem.check_ram(addr, length, writable)
                except GuestMemoryError:
                    raise VirtQueueError(f"queue {self.index}: buffer {addr:#x}+{length:#x} "
                                         f"outside guest RAM") from None
                total += length
                if total >= MAX_CHAIN_BYTES:
                    raise VirtQueueError(f"queue {self.index}: chain longer than 4 GiB")
                if writable:
                    elem.in_sg.append((addr, length))
                else:
                    if elem.in_sg:
                        raise VirtQueueError(f"queue {self.index}: readable buffer after "
                                             f"a writable one")
                    elem.out_sg.append((addr, length))
            if not flags & VRING_DESC_F_NEXT:
                return elem
            i = nxt

    def push(self, mem: AddressSpace, elem: VirtQueueElement, written: int) -> None:
        """Return a chain to the driver with the number of bytes written into it."""
        try:
            slot = self.used_idx % self.size
            mem.write(self.used_addr + 4 + 8 * slot, struct.pack("<II", elem.head, written))
            self.used_idx = (self.used_idx + 1) & 0xFFFF
            mem.write_uint(self.used_addr + 2, 2, self.used_idx)
        except GuestMemoryError as e:
            raise VirtQueueError(f"queue {self.index}: {e}") from None

    def should_notify(self, mem: AddressSpace) -> bool:
        """Whether the driver wants an interrupt for the buffers used since the last one."""
        try:
            if self.event_idx:
                # Section 2.7.10: interrupt when used idx passes used_event.
                used_event = self._u16(mem, self.avail_addr + 4 + 2 * self.size)
                old = self.signalled_used
                new = self.used_idx
                self.signalled_used = new
                if old is None:
                    return True
                return ((new - used_event - 1) & 0xFFFF) < ((new - old) & 0xFFFF)
            return not self.avail_flags(mem) & VRING_AVAIL_F_NO_INTERRUPT
        except GuestMemoryError:
            return True
