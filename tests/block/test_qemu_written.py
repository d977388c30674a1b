"""Images written by the real qemu-img/qemu-io read identically through pyqemu."""

from __future__ import annotations

import json

import pytest

from pyqemu.block.chain import open_image

WRITES = ["write -P 0x5a 0 1M", "write -P 0xa5 3M 100k", "write -z 1M 64k",
          "write -P 0x33 5000 7000", "discard 3M 64k", "write -c -P 0x77 8M 2M"]

VARIANTS = [
    "cluster_size=65536",
    "compression_type=zstd",
    "compat=0.10",
    "extended_l2=on",
    "extended_l2=on,cluster_size=32k,compression_type=zstd",
    "refcount_bits=1",
    "refcount_bits=2,cluster_size=4k",
    "refcount_bits=8",
    "refcount_bits=64,cluster_size=1k",
    "cluster_size=2M",
    "lazy_refcounts=on",
]


@pytest.mark.parametrize("opts", VARIANTS)
def test_read_qemu_image(tools, opts):
    img = tools.path("q.qcow2")
    tools.qemu("create", "-f", "qcow2", "-o", opts, img, "16M")
    tools.qemu_io(img, *WRITES)
    tools.same_raw(img)
    tools.qemu("convert", "-O", "raw", img, tools.path("q.raw"))
    r = tools.py("compare", img, tools.path("q.raw"))
    assert r.stdout == "Images are identical.\n"


@pytest.mark.parametrize("ctype", ["zlib", "zstd"])
def test_read_qemu_compressed_convert(tools, ctype):
    src = tools.path("src.raw")
    tools.pattern_raw(src, 6 << 20, seed=3)
    img = tools.path("c.qcow2")
    tools.qemu("convert", "-c", "-o", f"compression_type={ctype}", "-O", "qcow2", src, img)
    tools.same_raw(img)
    info = json.loads(tools.py("info", "--output=json", img).stdout)
    assert info["format-specific"]["data"]["compression-type"] == ctype


def test_read_qemu_snapshots(tools):
    img = tools.path("s.qcow2")
    tools.qemu("create", "-f", "qcow2", img, "8M")
    tools.qemu_io(img, "write -P 1 0 2M")
    tools.qemu("snapshot", "-c", "first", img)
    tools.qemu_io(img, "write -P 2 1M 2M")
    tools.qemu("snapshot", "-c", "second", img)
    tools.qemu_io(img, "write -c -P 3 4M 64k")
    tools.same_raw(img)
    ours = json.loads(tools.py("info", "--output=json", img).stdout)
    theirs = json.loads(tools.qemu("info", "--output=json", img).stdout)
    ours.pop("actual-size"), theirs.pop("actual-size")
    assert ours == theirs
    assert tools.py("snapshot", "-l", img).stdout == tools.qemu("snapshot", "-l", img).stdout
    tools.py("snapshot", "-a", "first", img)
    tools.qemu_check_clean(img)
    tools.same_raw(img)
    tools.qemu_io(img, "read -P 1 0 2M")


def test_backing_chain_mixed_formats(tools):
    raw = tools.path("base.raw")
    tools.pattern_raw(raw, 8 << 20, seed=9)
    mid = tools.path("mid.qcow2")
    tools.qemu("create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", mid)
    tools.qemu_io(mid, "write -P 0x44 1M 1M", "write -z 4M 64k")
    top = tools.path("top.qcow2")
    tools.qemu("create", "-f", "qcow2", "-o", "extended_l2=on", "-b", "mid.qcow2", "-F", "qcow2", top)
    tools.qemu_io(top, "write -P 0x55 1536k 4k", "write -P 0x66 6M 3000")
    tools.same_raw(top)
    ours = json.loads(tools.py("info", "--output=json", "--backing-chain", top).stdout)
    theirs = json.loads(tools.qemu("info", "--output=json", "--backing-chain", top).stdout)
    for d in ours + theirs:
        d.pop("actual-size")
    assert ours == theirs
    assert tools.py("map", "--output=json", top).stdout == tools.qemu("map", "--output=json", top).stdout
    assert tools.py("map", top).stdout == tools.qemu("map", top).stdout


def test_backing_loop_refused(tools):
    a, b = tools.path("a.qcow2"), tools.path("b.qcow2")
    tools.qemu("create", "-f", "qcow2", a, "1M")
    tools.qemu("create", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", b)
    tools.qemu("rebase", "-u", "-b", "b.qcow2", "-F", "qcow2", a)
    for cmd in (["info", b], ["convert", "-O", "raw", b, tools.path("x.raw")], ["map", b]):
        r = tools.py(*cmd, check=False)
        assert r.returncode == 1 and "loop" in r.stderr
        assert r.stderr.count("\n") == 1


def test_check_output_matches_qemu(tools):
    img = tools.path("k.qcow2")
    tools.qemu("create", "-f", "qcow2", img, "16M")
    tools.qemu_io(img, *WRITES)
    for args in (["check", img], ["check", "--output=json", img]):
        assert tools.py(*args).stdout == tools.qemu(*args).stdout
    # make a leak: raise a refcount beyond the end of the used area
    with open(img, "r+b") as f:
        f.seek(48)
        rt = int.from_bytes(f.read(8), "big")
        f.seek(rt)
        rb = int.from_bytes(f.read(8), "big")
        size = f.seek(0, 2)
        f.truncate(size + 2 * 65536)
        leak = (size + 65535) // 65536
        f.seek(rb + 2 * leak)
        f.write((1).to_bytes(2, "big"))
    ours = tools.py("check", "--output=json", img, check=False)
    theirs = tools.qemu("check", "--output=json", img, check=False)
    assert ours.returncode == theirs.returncode == 3
    assert json.loads(ours.stdout) == json.loads(theirs.stdout)
    r = tools.py("check", "-r", "leaks", img)
    assert "1 leaked clusters" in r.stdout
    tools.qemu_check_clean(img)


def test_measure_matches_qemu(tools):
    img = tools.path("m.qcow2")
    tools.qemu("create", "-f", "qcow2", img, "16M")
    tools.qemu_io(img, "write -P 1 0 1M", "write -c -P 2 4M 64k", "write -z 8M 1M")
    for args in (["measure", "-O", "qcow2", img], ["measure", "--output=json", "-O", "qcow2", img],
                 ["measure", "--size", "1G", "-O", "qcow2"],
                 ["measure", "--size", "10G", "-O", "qcow2", "-o", "cluster_size=4k"]):
        assert tools.py(*args).stdout == tools.qemu(*args).stdout, args


def test_compare_and_resize_and_commit(tools):
    base = tools.path("b.qcow2")
    tools.qemu("create", "-f", "qcow2", base, "8M")
    tools.qemu_io(base, "write -P 1 0 4M")
    top = tools.path("t.qcow2")
    tools.py("create", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", top)
    tools.qemu_io(top, "write -P 2 1M 64k", "write -z 2M 64k")
    r = tools.py("compare", base, top, check=False)
    assert r.returncode == 1 and r.stdout == tools.qemu("compare", base, top, check=False).stdout
    tools.qemu("convert", "-O", "raw", top, tools.path("t.raw"))
    assert tools.py("commit", top).stdout == "Image committed.\n"
    tools.qemu_check_clean(base)
    tools.qemu_check_clean(top)
    tools.qemu("compare", "-f", "raw", "-F", "qcow2", tools.path("t.raw"), base)
    tools.qemu("compare", "-f", "raw", "-F", "qcow2", tools.path("t.raw"), top)
    assert tools.py("resize", top, "+1M").stdout == "Image resized.\n"
    assert open_image(top).size() == 9 << 20
    r = tools.py("resize", top, "1M", check=False)
    assert r.returncode == 1 and "--shrink" in r.stderr
    tools.py("resize", "--shrink", base, "2M")
    tools.qemu_check_clean(base)
    assert json.loads(tools.qemu("info", "--output=json", base).stdout)["virtual-size"] == 2 << 20


def test_rebase_and_amend(tools):
    a = tools.path("a.qcow2")
    tools.qemu("create", "-f", "qcow2", a, "4M")
    tools.qemu_io(a, "write -P 1 0 4M")
    b = tools.path("b.qcow2")
    tools.qemu("create", "-f", "qcow2", b, "4M")
    tools.qemu_io(b, "write -P 2 0 1M")
    top = tools.path("top.qcow2")
    tools.qemu("create", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", top)
    tools.qemu_io(top, "write -P 3 2M 64k")
    tools.qemu("convert", "-O", "raw", top, tools.path("before.raw"))
    tools.py("rebase", "-b", "b.qcow2", "-F", "qcow2", top)
    tools.qemu_check_clean(top)
    tools.qemu("compare", "-f", "raw", "-F", "qcow2", tools.path("before.raw"), top)
    assert json.loads(tools.qemu("info", "--output=json", top).stdout)["backing-filename"] == "b.qcow2"
    tools.py("rebase", "-u", "-b", "a.qcow2", "-F", "qcow2", top)
    assert json.loads(tools.qemu("info", "--output=json", top).stdout)["backing-filename"] == "a.qcow2"
    tools.py("amend", "-o", "lazy_refcounts=on", a)
    assert json.loads(tools.qemu("info", "--output=json", a).stdout)[
        "format-specific"]["data"]["lazy-refcounts"] is True
    tools.qemu_io(a, "write -z 0 64k")
    tools.py("amend", "-o", "compat=0.10,lazy_refcounts=off", a)
    tools.qemu_check_clean(a)
    assert json.loads(tools.qemu("info", "--output=json", a).stdout)["format-specific"]["data"]["compat"] == "0.10"
    tools.qemu_io(a, "read -P 0 0 64k", "read -P 1 64k 1M")
    tools.py("amend", "-o", "compat=1.1", a)
    tools.qemu_check_clean(a)
