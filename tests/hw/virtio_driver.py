"""A minimal guest-side virtio 1.x driver over virtio-mmio registers, for tests.

It lays out rings in guest RAM through the AddressSpace exactly as a guest kernel
would, so the device code under test sees real guest-memory traffic.
"""

import struct

from pyqemu.memory import AddressSpace

DESC_F_NEXT, DESC_F_WRITE, DESC_F_INDIRECT = 1, 2, 4


class MmioDriver:
    def __init__(self, mem: AddressSpace, base: int, ram_base: int, features_extra: int = 0):
        self.mem = mem
        self.base = base
        self.alloc_ptr = ram_base
        self.features_extra = features_extra
        self.queues = {}

    def r(self, off, size=4):
        return self.mem.load(self.base + off, size)

    def w(self, off, value, size=4):
        self.mem.store(self.base + off, size, value)

    def alloc(self, n, align=16):
        self.alloc_ptr = (self.alloc_ptr + align - 1) & ~(align - 1)
        a = self.alloc_ptr
        self.alloc_ptr += n
        return a

    def init(self, want_features=None, queues=(0,), qsize=16):
        assert self.r(0) == 0x74726976 and self.r(4) == 2
        self.w(0x70, 0)
        self.w(0x70, 1)
        self.w(0x70, 3)
        self.w(0x14, 0)
        lo = self.r(0x10)
        self.w(0x14, 1)
        hi = self.r(0x10)
        offered = lo | hi << 32
        feats = offered if want_features is None else want_features
        self.w(0x24, 0)
        self.w(0x20, feats & 0xFFFFFFFF)
        self.w(0x24, 1)
        self.w(0x20, feats >> 32)
        self.w(0x70, 0xB)
        if not self.r(0x70) & 8:
            return False
        for q in queues:
            self.setup_queue(q, qsize)
        self.w(0x70, 0xF)
        return True

    def setup_queue(self, q, qsize):
        self.w(0x30, q)
        assert self.r(0x34) >= qsize
        self.w(0x38, qsize)
        desc = self.alloc(16 * qsize, 16)
        avail = self.alloc(6 + 2 * qsize, 2)
        used = self.alloc(6 + 8 * qsize, 4)
        for off, addr in ((0x80, desc), (0x90, avail), (0xA0, used)):
            self.w(off, addr & 0xFFFFFFFF)
            self.w(off + 4, addr >> 32)
        self.w(0x44, 1)
        self.queues[q] = {"size": qsize, "desc": desc, "avail": avail, "used": used,
                          "next_desc": 0, "avail_idx": 0, "used_seen": 0}

    def write_desc(self, q, i, addr, length, flags, nxt=0):
        d = self.queues[q]["desc"]
        self.mem.write(d + 16 * i, struct.pack("<QIHH", addr, length, flags, nxt))

    def submit_chain(self, q, bufs):
        """bufs: list of (addr, len, writable); returns the head index."""
        st = self.queues[q]
        idxs = [(st["next_desc"] + k) % st["size"] for k in range(len(bufs))]
        st["next_desc"] = (st["next_desc"] + len(bufs)) % st["size"]
        for k, (addr, n, wr) in enumerate(bufs):
            last = k == len(bufs) - 1
            flags = (DESC_F_WRITE if wr else 0) | (0 if last else DESC_F_NEXT)
            self.write_desc(q, idxs[k], addr, n, flags, 0 if last else idxs[k + 1])
        self.publish(q, idxs[0])
        return idxs[0]

    def publish(self, q, head, kick=True):
        st = self.queues[q]
        slot = st["avail_idx"] % st["size"]
        self.mem.write_uint(st["avail"] + 4 + 2 * slot, 2, head)
        st["avail_idx"] = (st["avail_idx"] + 1) & 0xFFFF
        self.mem.write_uint(st["avail"] + 2, 2, st["avail_idx"])
        if kick:
            self.w(0x50, q)

    def used(self, q):
        """New used entries since the last call: list of (id, len)."""
        st = self.queues[q]
        idx = self.mem.read_uint(st["used"] + 2, 2)
        out = []
        while st["used_seen"] != idx:
            slot = st["used_seen"] % st["size"]
            out.append(struct.unpack("<II", self.mem.read(st["used"] + 4 + 8 * slot, 8)))
            st["used_seen"] = (st["used_seen"] + 1) & 0xFFFF
        return out

    def ack_interrupt(self):
        isr = self.r(0x60)
        self.w(0x64, isr)
        return isr

    @property
    def status(self):
        return self.r(0x70)
