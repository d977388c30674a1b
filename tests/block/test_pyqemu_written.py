"""Images written by pyqemu pass `qemu-img check` and compare equal to their source."""

from __future__ import annotations

import random

import pytest

from pyqemu.block.chain import open_image
from pyqemu.block.img.util import parse_opts, qcow2_options
from pyqemu.block.qcow2.create import create_qcow2

CREATE_OPTS = [
    "",
    "compat=0.10",
    "cluster_size=4k,refcount_bits=1",
    "cluster_size=512,refcount_bits=64",
    "refcount_bits=2",
    "refcount_bits=4",
    "refcount_bits=8",
    "refcount_bits=32",
    "lazy_refcounts=on",
    "preallocation=metadata",
    "extended_l2=on",
    "extended_l2=on,cluster_size=16k,preallocation=metadata",
    "compression_type=zstd,cluster_size=2M",
]


@pytest.mark.parametrize("opts", CREATE_OPTS)
def test_api_writes_pass_qemu_check(tools, opts):
    img_path = tools.path("t.qcow2")
    size = 24 << 20
    create_qcow2(img_path, size, qcow2_options(parse_opts(opts)))
    ref = bytearray(size)
    rnd = random.Random(opts)
    img = open_image(img_path, read_only=False)
    for it in range(120):
        off = rnd.randrange(0, size - 70000)
        n = rnd.randrange(1, 70000)
        if it % 9 == 4:
            img.write_zeroes(off, n)
            ref[off:off + n] = bytes(n)
        else:
            data = rnd.randbytes(n)
            img.write(off, data)
            ref[off:off + n] = data
        if it % 40 == 0:
            img.flush()
    img.close()
    with open(tools.path("ref.raw"), "wb") as f:
        f.write(ref)
    tools.qemu_check_clean(img_path)
    tools.qemu("compare", "-f", "raw", "-F", "qcow2", tools.path("ref.raw"), img_path)


CONVERT_OPTS = [
    [],
    ["-c"],
    ["-c", "-o", "compression_type=zstd"],
    ["-c", "-o", "compat=0.10"],
    ["-o", "cluster_size=64k,compression_type=zstd,lazy_refcounts=on,preallocation=metadata,"
           "extended_l2=on,refcount_bits=16"],
    ["-c", "-o", "extended_l2=on"],
    ["-o", "refcount_bits=1,cluster_size=8k"],
    ["-p"],
]


@pytest.mark.parametrize("opts", CONVERT_OPTS, ids=lambda o: " ".join(o) or "default")
def test_convert_from_raw(tools, opts):
    src = tools.path("src.raw")
    tools.pattern_raw(src, 12 << 20, seed=len(opts))
    out = tools.path("out.qcow2")
    tools.py("convert", *opts, "-f", "raw", "-O", "qcow2", src, out)
    tools.qemu_check_clean(out)
    tools.qemu("compare", "-f", "raw", "-F", "qcow2", src, out)


def test_convert_with_backing(tools):
    base_raw = tools.path("base.raw")
    tools.pattern_raw(base_raw, 8 << 20, seed=1)
    top_raw = tools.path("top.raw")
    data = bytearray(open(base_raw, "rb").read())
    data[1 << 20:(1 << 20) + 300000] = random.Random(2).randbytes(300000)
    data[5 << 20:6 << 20] = bytes(1 << 20)
    open(top_raw, "wb").write(data)
    base = tools.path("base.qcow2")
    tools.py("convert", "-O", "qcow2", base_raw, base)
    out = tools.path("out.qcow2")
    tools.py("convert", "-O", "qcow2", "-B", "base.qcow2", "-F", "qcow2", top_raw, out)
    tools.qemu_check_clean(out)
    tools.qemu("compare", "-F", "qcow2", top_raw, out)
    info = tools.qemu("info", "--output=json", out).stdout
    assert '"backing-filename": "base.qcow2"' in info


def test_create_with_backing_and_snapshots(tools):
    base = tools.path("base.qcow2")
    tools.py("create", "-f", "qcow2", base, "16M")
    tools.qemu_io(base, "write -P 0x11 0 4M")
    top = tools.path("top.qcow2")
    r = tools.py("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top)
    assert "backing_file=base.qcow2 backing_fmt=qcow2" in r.stdout
    img = open_image(top, read_only=False)
    img.write(4096, b"\x22" * 10000)         # copy-on-write from the backing file
    img.close()
    tools.qemu_check_clean(top)
    tools.qemu_io(top, "read -P 0x11 0 4096", "read -P 0x22 4096 10000",
                  "read -P 0x11 14096 100000")
    tools.py("snapshot", "-c", "one", top)
    tools.qemu_io(top, "write -P 0x33 0 1M")
    tools.py("snapshot", "-c", "two", top)
    tools.qemu_check_clean(top)
    listing = tools.qemu("snapshot", "-l", top).stdout
    assert "one" in listing and "two" in listing
    assert tools.py("snapshot", "-l", top).stdout.splitlines()[1] == listing.splitlines()[1]
    tools.py("snapshot", "-a", "one", top)
    tools.qemu_check_clean(top)
    tools.qemu_io(top, "read -P 0x11 0 4096", "read -P 0x22 4096 10000")
    tools.py("snapshot", "-d", "one", top)
    tools.qemu_check_clean(top)
    tools.qemu("convert", "-l", "snapshot.name=two", "-O", "raw", top, tools.path("two.raw"))
    assert open(tools.path("two.raw"), "rb").read(1 << 20) == b"\x33" * (1 << 20)
    tools.py("snapshot", "-d", "two", top)
    tools.qemu_check_clean(top)
    r = tools.py("snapshot", "-d", "nope", top, check=False)
    assert r.returncode == 1 and "snapshot not found" in r.stderr


@pytest.mark.parametrize("opts", ["extended_l2=on,cluster_size=64k", "cluster_size=4k", "compat=0.10"])
def test_cow_over_backing_matches_qemu_io(tools, opts):
    """The same partial writes and zeroings through pyqemu and qemu-io give equal images."""
    base = tools.path("base.qcow2")
    tools.qemu("create", "-f", "qcow2", base, "8M")
    tools.qemu_io(base, "write -P 0x11 0 8M")
    ours, theirs = tools.path("ours.qcow2"), tools.path("theirs.qcow2")
    for p in (ours, theirs):
        tools.qemu("create", "-f", "qcow2", "-o", opts, "-b", "base.qcow2", "-F", "qcow2", p)
    rnd = random.Random(opts)
    cmds = []
    img = open_image(ours, read_only=False)
    for i in range(60):
        off = rnd.randrange(0, (8 << 20) - 20000)
        n = rnd.randrange(1, 20000)
        b = rnd.randrange(1, 255)
        if i % 5 == 2:
            img.write_zeroes(off, n)
            cmds.append(f"write -z {off} {n}")
        else:
            img.write(off, bytes([b]) * n)
            cmds.append(f"write -P {b} {off} {n}")
    img.close()
    tools.qemu_io(theirs, *cmds)
    tools.qemu_check_clean(ours)
    tools.qemu("compare", ours, theirs)
    assert tools.py("compare", ours, theirs).stdout == "Images are identical.\n"
