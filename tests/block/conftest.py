"""Fixtures for block-layer tests: run pyqemu-img and the real qemu-img side by side."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

QEMU_IMG = shutil.which("qemu-img")
QEMU_IO = shutil.which("qemu-io")


def run(argv: list[str], check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"{argv} failed ({r.returncode}): {r.stdout}{r.stderr}")
    return r


class Tools:
    """Callables for both tools, plus helpers that compare results between them."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp

    def py(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        r = run([sys.executable, "-m", "pyqemu.cli.img", *args], check=check)
        assert "Traceback" not in r.stderr, r.stderr
        assert "internal error" not in r.stderr, r.stderr
        return r

    def qemu(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run([QEMU_IMG, *args], check=check)

    def qemu_io(self, image: str, *cmds: str, fmt: str = "qcow2") -> None:
        argv = [QEMU_IO, "-f", fmt]
        for c in cmds:
            argv += ["-c", c]
        run(argv + [image])

    def path(self, name: str) -> str:
        return str(self.tmp / name)

    def qemu_check_clean(self, image: str) -> None:
        r = self.qemu("check", image, check=False)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "No errors were found" in r.stdout

    def pattern_raw(self, path: str, size: int, seed: int = 0, zero_fraction: float = 0.5) -> bytes:
        return pattern_raw(path, size, seed, zero_fraction)

    def same_raw(self, image: str, src_fmt: str | None = None) -> None:
        """pyqemu-img convert -O raw is byte-equal to qemu-img's."""
        a, b = self.path("py.raw"), self.path("qemu.raw")
        fmt = ["-f", src_fmt] if src_fmt else []
        self.py("convert", *fmt, "-O", "raw", image, a)
        self.qemu("convert", *fmt, "-O", "raw", image, b)
        assert Path(a).read_bytes() == Path(b).read_bytes()


@pytest.fixture
def tools(tmp_path: Path) -> Tools:
    if QEMU_IMG is None:
        pytest.skip("qemu-img (Debian qemu-utils) is not installed")
    return Tools(tmp_path)


def pattern_raw(path: str, size: int, seed: int = 0, zero_fraction: float = 0.5) -> bytes:
    """A raw image with random data, some runs of a repeated byte, and zero runs."""
    rnd = random.Random(seed)
    buf = bytearray(size)
    pos = 0
    while pos < size:
        n = min(rnd.choice([4096, 65536, 200000, 512 * 3]), size - pos)
        r = rnd.random()
        if r < zero_fraction:
            pass
        elif r < zero_fraction + 0.2:
            buf[pos:pos + n] = bytes([rnd.randrange(1, 256)]) * n
        else:
            buf[pos:pos + n] = rnd.randbytes(n)
        pos += n
    with open(path, "wb") as f:
        f.write(buf)
    return bytes(buf)


@pytest.fixture(autouse=True)
def _no_debug_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYQEMU_DEBUG", raising=False)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]) +
                       os.pathsep + os.environ.get("PYTHONPATH", ""))
