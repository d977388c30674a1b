"""`convert`: copy one or more images (any format, whole chains) into a new image.

Zero runs are skipped (the target reads them as zeros anyway, or gets explicit zero
clusters when it has a backing file that differs there).  With -c, clusters are
compressed by a pool of worker threads -- zlib and zstd release the GIL while they
work -- and written in order by the main thread.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from pyqemu.block.chain import open_image
from pyqemu.block.driver import STATUS_ZERO, BlockDriver, BlockError
from pyqemu.block.img.util import Progress
from pyqemu.block.qcow2.compress import compress_cluster

CHUNK = 2 << 20
_ZERO = bytes(CHUNK)


def _zero_runs(src: BlockDriver, off: int, n: int) -> bool:
    """True if the whole range is known to read as zeros without reading it."""
    d: BlockDriver | None = src
    while d is not None:
        if off >= d.size():
            return True
        st = d.block_status(off, n)
        if st.length < n:
            return False
        if st.flags & STATUS_ZERO:
            return True
        if st.flags & 4:            # allocated with data in this layer
            return False
        d = d.backing
    return True


class _Source:
    """The concatenation of all input images as one byte range."""

    def __init__(self, drivers: list[BlockDriver]) -> None:
        self.drivers = drivers
        self.size = sum(d.size() for d in drivers)

    def read(self, off: int, n: int) -> bytes | None:
        """Data, or None when known to be all zeros."""
        parts = []
        base = 0
        all_zero = True
        for d in self.drivers:
            sz = d.size()
            if off < base + sz and off + n > base:
                a = max(off, base) - base
                b = min(off + n, base + sz) - base
                if _zero_runs(d, a, b - a):
                    parts.append(bytes(b - a))
                else:
                    parts.append(d.read(a, b - a))
                    all_zero = False
            base += sz
        if all_zero:
            return None
        data = b"".join(parts) if len(parts) > 1 else parts[0]
        zero = _ZERO if len(data) == CHUNK else bytes(len(data))
        return None if data == zero else data       # memcmp, much faster than count()


def convert(srcs: list[str], src_fmt: str | None, out: BlockDriver, compress: bool,
            progress: bool, workers: int = 0) -> None:
    """Copy the inputs into the opened target `out`."""
    drivers = []
    try:
        for s in srcs:
            drivers.append(open_image(s, src_fmt, read_only=True))
        src = _Source(drivers)
        if src.size > out.size():
            raise BlockError("Target image is smaller than the source")
        _copy(src, out, compress, Progress(progress), workers or os.cpu_count() or 2)
        out.flush()
    finally:
        for d in drivers:
            d.close()


def _copy(src: _Source, out: BlockDriver, compress: bool, prog: Progress, workers: int) -> None:
    has_backing = out.backing is not None
    size = src.size
    if compress:
        if out.format_name != "qcow2":
            raise BlockError("Compression not supported for this file format")
        _copy_compressed(src, out, prog, workers)
        return
    cs = getattr(out, "cluster_size", 65536)
    for off in range(0, size, CHUNK):
        n = min(CHUNK, size - off)
        data = src.read(off, n)
        if has_backing:
            base = out.backing.read_chain(off, n)
            want = data if data is not None else bytes(n)
            if want == base:
                prog.show(100.0 * (off + n) / size)
                continue
            if data is None:
                out.write_zeroes(off, n)
                prog.show(100.0 * (off + n) / size)
                continue
        if data is None:
            prog.show(100.0 * (off + n) / size)
            continue
        # write runs of non-zero clusters, skip all-zero clusters
        view = data
        zero = bytes(cs)
        i = 0
        while i < n:
            j = i
            while j < n and view[j:j + cs] == zero[:min(cs, n - j)] and not has_backing:
                j += cs
            if j >= n:
                break
            k = j
            while k < n and (has_backing or view[k:k + cs] != zero[:min(cs, n - k)]):
                k += cs
            k = min(k, n)
            out.write(off + j, memoryview(view)[j:k])
            i = k
        prog.show(100.0 * (off + n) / size)
    prog.done()


def _copy_compressed(src: _Source, out, prog: Progress, workers: int) -> None:
    cs = out.cluster_size
    ctype = out.header.compression_type
    size = src.size
    zero = bytes(cs)
    chunk = max(CHUNK // cs, 1) * cs

    def job(data: bytes) -> list[tuple[bytes, bytes | None]]:
        res = []
        for i in range(0, len(data), cs):
            c = data[i:i + cs]
            if len(c) < cs:
                c = c + bytes(cs - len(c))
            if c == zero:
                res.append((c, b""))
            else:
                res.append((c, compress_cluster(c, ctype, cs)))
        return res

    pending: deque = deque()

    def drain(limit: int) -> None:
        while len(pending) > limit:
            off, fut = pending.popleft()
            if fut is None:
                continue
            for k, (raw, comp) in enumerate(fut.result()):
                gpos = off + k * cs
                if comp == b"":
                    if out.backing is not None:
                        out.write_zeroes(gpos, min(cs, size - gpos))
                    continue
                if comp is None:
                    out.write(gpos, raw[:min(cs, size - gpos)])
                else:
                    out.write_compressed(gpos // cs, comp)
            prog.show(100.0 * min(off + chunk, size) / size)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for off in range(0, size, chunk):
            n = min(chunk, size - off)
            data = src.read(off, n)
            if out.backing is not None:
                base = out.backing.read_chain(off, n)
                if (data if data is not None else bytes(n)) == base:
                    continue
                if data is None:
                    data = bytes(n)
            if data is None:
                continue
            pending.append((off, pool.submit(job, data)))
            drain(workers * 2)
        drain(0)
    prog.done()
