"""Corrupt images: a clear one-line error or the image marked corrupt -- never a
traceback, a hang, or a write outside the image file."""

from __future__ import annotations

import os
import random
import shutil
import struct

import pytest

from pyqemu.block.chain import open_image
from pyqemu.block.driver import BlockError

SIZE = 8 << 20


@pytest.fixture
def base_image(tools):
    img = tools.path("base.qcow2")
    tools.qemu("create", "-f", "qcow2", "-o", "cluster_size=4k", img, str(SIZE))
    tools.qemu_io(img, "write -P 1 0 300k", "write -c -P 2 1M 64k", "write -z 2M 64k")
    tools.qemu("snapshot", "-c", "s", img)
    tools.qemu_io(img, "write -P 3 100k 8k")
    return img


def _fields(path: str) -> dict:
    with open(path, "rb") as f:
        h = f.read(104)
        l1_off = struct.unpack(">Q", h[40:48])[0]
        rt_off = struct.unpack(">Q", h[48:56])[0]
        f.seek(l1_off)
        l2_off = struct.unpack(">Q", f.read(8))[0] & 0x00FFFFFFFFFFFE00
        f.seek(rt_off)
        rb_off = struct.unpack(">Q", f.read(8))[0]
    return {"l1": l1_off, "rt": rt_off, "l2": l2_off, "rb": rb_off}


def _poke(path: str, off: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(data)


def _mutations(path: str) -> list[tuple[str, int, bytes]]:
    fl = _fields(path)
    q = lambda v: struct.pack(">Q", v)  # noqa: E731
    i = lambda v: struct.pack(">I", v)  # noqa: E731
    m = [
        ("magic", 0, b"QFI\xfa"), ("version", 4, i(7)), ("cluster_bits", 20, i(8)),
        ("cluster_bits_huge", 20, i(31)), ("size_absurd", 24, q(1 << 62)), ("size_zero", 24, q(0)),
        ("l1_size_huge", 36, i(0x7FFFFFFF)), ("l1_size_small", 36, i(0)),
        ("l1_offset_unaligned", 40, q(12345)), ("l1_offset_beyond", 40, q(1 << 50)),
        ("rt_offset_beyond", 48, q(1 << 50)), ("rt_offset_zero", 48, q(0)),
        ("rt_clusters_huge", 56, i(0xFFFFFFFF)), ("nb_snapshots_huge", 60, i(0xFFFFFF)),
        ("snap_offset_beyond", 64, q(1 << 45)), ("incompat_unknown", 72, q(1 << 40)),
        ("refcount_order_7", 96, i(7)), ("header_length_odd", 100, i(105)),
        ("backing_offset_beyond", 8, q(1 << 40) + i(100)),
        ("l1_entry_unaligned", fl["l1"], q((1 << 63) | 0x1234)),
        ("l1_entry_beyond", fl["l1"], q((1 << 63) | (1 << 52))),
        ("l1_entry_header", fl["l1"], q((1 << 63) | 0)),
        ("l1_entry_reftable", fl["l1"], q((1 << 63) | fl["rt"])),
        ("l2_entry_unaligned", fl["l2"], q((1 << 63) | 0x5555)),
        ("l2_entry_beyond", fl["l2"], q((1 << 63) | (1 << 50))),
        ("l2_entry_on_l1", fl["l2"], q((1 << 63) | fl["l1"])),
        ("l2_entry_compressed_garbage", fl["l2"] + 8, q((1 << 62) | 0x3FFFFFFFFFFFFF)),
        ("rt_entry_unaligned", fl["rt"], q(0x777)),
        ("rt_entry_beyond", fl["rt"], q(1 << 50)),
        ("refblock_zeroed", fl["rb"], bytes(64)),
        ("refblock_ff", fl["rb"], b"\xff" * 64),
    ]
    rnd = random.Random(7)
    for _k in range(12):
        pos = rnd.randrange(0, 104)
        m.append((f"flip_header_{pos}", pos, bytes([rnd.randrange(256)])))
    for name, base in (("l1", fl["l1"]), ("l2", fl["l2"]), ("rb", fl["rb"])):
        for k in range(3):
            pos = base + rnd.randrange(0, 64)
            m.append((f"flip_{name}_{k}", pos, bytes([rnd.randrange(256)])))
    return m


def test_corrupt_images(tools, base_image):
    orig_size = os.path.getsize(base_image)
    for name, off, data in _mutations(base_image):
        img = tools.path(f"{name}.qcow2")
        shutil.copy(base_image, img)
        _poke(img, off, data)
        for cmd in (["info", img], ["check", img], ["convert", "-O", "raw", img, tools.path("o.raw")],
                    ["map", "--output=json", img], ["snapshot", "-l", img]):
            r = tools.py(*cmd, check=False)      # asserts: no traceback, no internal error
            if r.returncode and not (cmd[0] == "check" and r.returncode in (2, 3)):
                lines = [x for x in r.stderr.splitlines() if x.startswith("pyqemu-img:")]
                assert lines, (name, cmd, r.stderr)
        # writes through the API: an error is fine, a crash or a stray write is not
        try:
            with open_image(img, read_only=False) as d:
                rnd = random.Random(name)
                for _ in range(20):
                    off2 = rnd.randrange(0, max(1, min(d.size(), SIZE) - 70000))
                    d.write(off2, b"\x42" * rnd.randrange(1, 70000))
                d.flush()
        except BlockError:
            pass
        assert os.path.getsize(img) < orig_size + (8 << 20), name
        r = tools.py("check", img, check=False)
        assert r.returncode in (0, 1, 2, 3, 63), (name, r.returncode)


def test_corrupt_marked_on_bad_write(tools, base_image):
    fl = _fields(base_image)
    # an active L2 entry pointing at the L1 table: writing there must not clobber it
    _poke(base_image, fl["l2"], struct.pack(">Q", (1 << 63) | fl["l1"]))
    with open(base_image, "rb") as f:
        f.seek(fl["l1"])
        l1_before = f.read(4096)
    d = open_image(base_image, read_only=False)
    with pytest.raises(BlockError):
        d.write(0, b"\x99" * 4096)
        d.flush()
    d.close()
    with open(base_image, "rb") as f:
        f.seek(fl["l1"])
        assert f.read(4096) == l1_before
    info = tools.qemu("info", "--output=json", base_image).stdout
    assert '"corrupt": true' in info
    r = tools.py("convert", "-O", "raw", base_image, tools.path("x.raw"), check=False)
    assert r.returncode == 0
