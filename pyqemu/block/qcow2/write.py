"""qcow2 writes: cluster allocation, copy-on-write, zero clusters, discard, compressed
clusters and extended-L2 subclusters (qcow2.txt "Cluster mapping", "Extended L2
Entries", "Compressed Clusters Descriptor").

New clusters are filled and written before any table points at them; tables change
only in memory here and reach the disk through Qcow2Image.flush_metadata().  A cluster
beyond everything the file ever held (`fresh_from`) is known to read as zeros, so
partial writes there skip the copy-on-write of zeros.
"""

from __future__ import annotations

from array import array

from pyqemu.block.driver import BlockError, ImageCorruptError
from pyqemu.block.qcow2.layout import (
    L2E_OFFSET_MASK,
    OFLAG_COMPRESSED,
    OFLAG_COPIED,
    OFLAG_ZERO,
    SC_ALLOC_MASK,
    compressed_clusters,
    make_compressed_entry,
)

_INPLACE_MASK = OFLAG_COPIED | OFLAG_COMPRESSED | OFLAG_ZERO
_ALL_ZERO_BITS = SC_ALLOC_MASK << 32


class Qcow2WriteMixin:
    """write(), write_zeroes(), discard() and compressed writes for Qcow2Image."""

    def _writable(self) -> None:
        if self.read_only:
            raise BlockError("Block node is read-only")
        if self.corrupt:
            raise ImageCorruptError("qcow2: Image is corrupt; cannot be written to")
        if not self.lazy_dirty_set and self.header.compatible_features & 1:
            self.mark_dirty_for_write()

    def _l2_for_write(self, gc: int) -> tuple[array, int]:
        """L2 table of guest cluster gc that this image may modify (allocated or COWed)."""
        l1i = gc >> self.l2_bits
        if l1i >= self.l1_size:
            raise BlockError("Write beyond the end of the L1 table")
        l1e = self.l1[l1i]
        off = self.l2_offset_for(l1i)
        if off and l1e & OFLAG_COPIED:
            return self.cache.get(off), off
        if off == 0:
            new = array("Q", bytes(self.cluster_size))
        else:
            # L2 shared with a snapshot: copy it; its data clusters stay shared, so
            # none of them may carry COPIED in the copy.
            new = array("Q", self.cache.get(off))
            step = 2 if self.extended_l2 else 1
            for j in range(0, len(new), step):
                if new[j] & OFLAG_COPIED:
                    new[j] &= ~OFLAG_COPIED
            self.refcounts.free_later(off)
        host = self.refcounts.alloc(1)
        self.cache.put_new(host, new)
        self.l1[l1i] = host | OFLAG_COPIED
        self.l1_dirty = True
        self._meta = None
        return new, host

    def _release(self, entry: int) -> None:
        """Drop this L2 entry's reference to its host cluster(s) (after the next flush)."""
        if entry & OFLAG_COMPRESSED:
            for c in compressed_clusters(entry, self.cluster_bits):
                self.refcounts.free_later(c << self.cluster_bits)
        else:
            host = entry & L2E_OFFSET_MASK
            if host:
                self.refcounts.free_later(host)

    def _old_content(self, gc: int, entry: int) -> bytes | None:
        """Current content of guest cluster gc (None: reads as zeros)."""
        cs = self.cluster_size
        if entry & OFLAG_COMPRESSED:
            return self.read_compressed(entry)
        if entry & OFLAG_ZERO and self.header.version >= 3 and not self.extended_l2:
            return None
        host = entry & L2E_OFFSET_MASK
        if host:
            return self.pread(host, cs)
        if self.backing is not None and gc * cs < self.backing.size():
            return self.backing.read_chain(gc * cs, cs)
        return None

    def _check_data_host(self, host: int) -> None:
        if host & (self.cluster_size - 1) or host == 0 or host >= self.file_end:
            self.mark_corrupt(f"Data cluster offset {host:#x} is invalid "
                              f"(image file ends at {self.file_end:#x})")
        if host >> self.cluster_bits in self.metadata_clusters():
            self.mark_corrupt(f"Preventing invalid write on metadata (data cluster {host:#x} "
                              "overlaps with metadata)")

    # --- write ------------------------------------------------------------------------
    def write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        self._writable()
        view = memoryview(data).cast("B")
        self.check_range(offset, len(view))
        if self.extended_l2:
            self._write_ext(offset, view)
            return
        cb = self.cluster_bits
        cs = self.cluster_size
        mask = cs - 1
        l2n = self.l2_entries
        pos = offset
        end = offset + len(view)
        while pos < end:
            gc = pos >> cb
            tbl, l2off = self._l2_for_write(gc)
            i = gc & (l2n - 1)
            room = l2n - i
            entry = tbl[i]
            if entry & _INPLACE_MASK == OFLAG_COPIED:
                host = entry & L2E_OFFSET_MASK
                self._check_data_host(host)
                n = cs - (pos & mask)
                k = 1
                while pos + n < end and k < room:
                    e2 = tbl[i + k]
                    if e2 & _INPLACE_MASK != OFLAG_COPIED or e2 & L2E_OFFSET_MASK != host + k * cs:
                        break
                    n += cs
                    k += 1
                n = min(n, end - pos)
                self.pwrite(host + (pos & mask), view[pos - offset:pos - offset + n])
                pos += n
                continue
            # allocating run: this cluster and following ones that also need a new cluster
            run_start = pos & ~mask
            k = 1
            while run_start + k * cs < end and k < room and tbl[i + k] & _INPLACE_MASK != OFLAG_COPIED:
                k += 1
            wend = min(end, run_start + k * cs)
            fresh_before = self.fresh_from
            host = self.refcounts.alloc(k)
            fresh = host >= fresh_before
            head = pos - run_start
            tail = run_start + k * cs - wend
            pieces: list = []
            write_at = host
            old_first = self._old_content(gc, entry) if head or (tail and k == 1) else None
            skip = fresh and old_first is None
            if head:
                if skip:
                    write_at = host + head
                else:
                    pieces.append(old_first[:head] if old_first is not None else bytes(head))
            pieces.append(view[pos - offset:wend - offset])
            if tail:
                old_last = old_first if k == 1 else self._old_content(gc + k - 1, tbl[i + k - 1])
                if not (fresh and old_last is None):
                    pieces.append(old_last[cs - tail:] if old_last is not None else bytes(tail))
            self.pwrite(write_at, pieces[0] if len(pieces) == 1 else b"".join(pieces))
            for j in range(k):
                old_e = tbl[i + j]
                if old_e & (L2E_OFFSET_MASK | OFLAG_COMPRESSED):
                    self._release(old_e)
                tbl[i + j] = (host + j * cs) | OFLAG_COPIED
            self.cache.mark_dirty(l2off)
            pos = wend

    def _sub_fill(self, gc: int, bmp: int, a: int, b: int) -> bytes:
        """Content of unallocated subcluster bytes [a, b) of guest cluster gc."""
        base = gc << self.cluster_bits
        if self.backing is None or base + a >= self.backing.size():
            return bytes(b - a)
        data = bytearray(self.backing.read_chain(base + a, b - a))
        scs = 1 << self.sc_bits
        for sc in range(a >> self.sc_bits, ((b - 1) >> self.sc_bits) + 1):
            if bmp >> (32 + sc) & 1:
                lo = max(sc * scs, a) - a
                hi = min((sc + 1) * scs, b) - a
                data[lo:hi] = bytes(hi - lo)
        return bytes(data)

    def _write_ext(self, offset: int, view: memoryview) -> None:
        cb = self.cluster_bits
        cs = self.cluster_size
        scb = self.sc_bits
        scs = 1 << scb
        pos = offset
        end = offset + len(view)
        while pos < end:
            gc = pos >> cb
            tbl, l2off = self._l2_for_write(gc)
            i = 2 * (gc & (self.l2_entries - 1))
            entry, bmp = tbl[i], tbl[i + 1]
            base = gc << cb
            s = pos - base
            t = min(end, base + cs) - base
            sc0, sc1 = s >> scb, (t - 1) >> scb
            touched = ((1 << (sc1 + 1)) - 1) & ~((1 << sc0) - 1)
            chunk = view[pos - offset:pos - offset + t - s]
            host = entry & L2E_OFFSET_MASK
            alloc = bmp & SC_ALLOC_MASK
            if not entry & OFLAG_COMPRESSED and host and entry & OFLAG_COPIED:
                self._check_data_host(host)
                nh = host
                lo, hi = sc0 << scb, (sc1 + 1) << scb
                buf = bytearray(hi - lo)
                whole = False
            else:
                fresh_before = self.fresh_from
                nh = self.refcounts.alloc(1)
                if entry & OFLAG_COMPRESSED:
                    buf = bytearray(self.read_compressed(entry))
                    alloc = SC_ALLOC_MASK
                    bmp = SC_ALLOC_MASK
                    whole = True
                elif host:
                    buf = bytearray(self.pread(host, cs))
                    whole = True
                else:
                    buf = None
                    whole = False
                if buf is None:
                    lo, hi = sc0 << scb, (sc1 + 1) << scb
                    buf = bytearray(hi - lo)
                    if nh >= fresh_before and not bmp >> 32 and self.backing is None:
                        lo, hi = s, t      # fresh zeros around: no fill needed
                        buf = bytearray(hi - lo)
                else:
                    lo, hi = 0, cs
            # fill partially written subclusters that were not allocated before
            for sc in {sc0, sc1}:
                a, b = sc << scb, (sc + 1) << scb
                if (a < s or b > t) and lo <= a and b <= hi:
                    if not alloc >> sc & 1:
                        buf[a - lo:b - lo] = self._sub_fill(gc, bmp, a, b)
                    elif not whole:
                        buf[a - lo:b - lo] = self.pread(host + a, scs)
            buf[s - lo:t - lo] = chunk
            if not whole and lo == sc0 << scb and alloc >> sc0 & 1 and alloc >> sc1 & 1:
                self.pwrite(nh + s, chunk)
            else:
                self.pwrite(nh + lo, buf)
            if nh != host or entry & OFLAG_COMPRESSED:
                if entry & (L2E_OFFSET_MASK | OFLAG_COMPRESSED):
                    self._release(entry)
            tbl[i] = nh | OFLAG_COPIED
            tbl[i + 1] = (alloc | touched) | ((bmp >> 32) & ~touched & SC_ALLOC_MASK) << 32
            self.cache.mark_dirty(l2off)
            pos = base + t

    # --- zeroes and discard -------------------------------------------------------------
    def _full_cluster_ops(self, offset: int, length: int, op) -> None:
        """Call op(gc) for whole clusters, write explicit zeros (or skip) for the rest."""
        cs = self.cluster_size
        size = self.size()
        pos = offset
        end = offset + length
        while pos < end:
            cl = pos & ~(cs - 1)
            cl_end = min(cl + cs, size)
            if pos == cl and end >= cl_end:
                op(pos >> self.cluster_bits)
                pos = cl_end
            else:
                n = min(cl_end, end) - pos
                op(None, pos, n)
                pos += n

    def write_zeroes(self, offset: int, length: int) -> None:
        self._writable()
        self.check_range(offset, length)
        v3 = self.header.version >= 3

        def op(gc, pos=0, n=0):
            if gc is None:
                if self.extended_l2:
                    self._zero_subclusters(pos, n)
                else:
                    self.write(pos, bytes(n))
                return
            if not v3 and self.backing is not None:
                self.write(gc << self.cluster_bits, bytes(min(self.cluster_size,
                                                             self.size() - (gc << self.cluster_bits))))
                return
            self._set_entry(gc, 0 if not v3 else (OFLAG_ZERO if not self.extended_l2 else 0),
                            _ALL_ZERO_BITS if self.extended_l2 else 0)

        self._full_cluster_ops(offset, length, op)

    def _zero_subclusters(self, pos: int, n: int) -> None:
        scb = self.sc_bits
        scs = 1 << scb
        end = pos + n
        while pos < end:
            sc_start = pos & ~(scs - 1)
            if pos == sc_start and end >= sc_start + scs:
                gc = pos >> self.cluster_bits
                tbl, l2off = self._l2_for_write(gc)
                i = 2 * (gc & (self.l2_entries - 1))
                if tbl[i] & OFLAG_COMPRESSED:
                    self.write(pos, bytes(scs))
                else:
                    sc = (pos >> scb) & 31
                    tbl[i + 1] = (tbl[i + 1] & ~(1 << sc)) | (1 << (32 + sc))
                    self.cache.mark_dirty(l2off)
                pos += scs
            else:
                m = min(sc_start + scs, end) - pos
                self.write(pos, bytes(m))
                pos += m

    def _set_entry(self, gc: int, entry: int, bmp: int) -> None:
        tbl, l2off = self._l2_for_write(gc)
        i = gc & (self.l2_entries - 1)
        if self.extended_l2:
            i *= 2
            tbl[i + 1] = bmp
        old = tbl[i]
        if old & (L2E_OFFSET_MASK | OFLAG_COMPRESSED):
            self._release(old)
        tbl[i] = entry
        self.cache.mark_dirty(l2off)

    def discard(self, offset: int, length: int) -> None:
        self._writable()
        self.check_range(offset, length)
        v3 = self.header.version >= 3
        if self.backing is not None and not v3:
            return      # v2 cannot express "zeros over a backing file" cheaply

        def op(gc, pos=0, n=0):
            if gc is None:
                return
            if self.backing is not None:
                self._set_entry(gc, 0 if self.extended_l2 else OFLAG_ZERO, _ALL_ZERO_BITS)
            else:
                self._set_entry(gc, 0, 0)

        self._full_cluster_ops(offset, length, op)

    # --- compressed clusters ------------------------------------------------------------
    def write_compressed(self, gc: int, comp: bytes) -> None:
        """Store already-compressed data as guest cluster gc (replacing what was there)."""
        self._writable()
        cs = self.cluster_size
        n = len(comp)
        cur = self.compress_cursor
        if cur and cur & (cs - 1) and (cur & (cs - 1)) + n <= cs:
            self.refcounts.add(cur >> self.cluster_bits, 1)
            host = cur
        else:
            host = self.refcounts.alloc(-(-n // cs))
        self.compress_cursor = host + n
        self.pwrite(host, comp)
        self._set_entry(gc, make_compressed_entry(host, n, self.cluster_bits), 0)
