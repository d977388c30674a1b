"""Fixtures for savevm/loadvm tests: the counter guest and a qcow2 image."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from .builders import build_guest


@pytest.fixture(scope="session")
def counter_guest() -> Path:
    return build_guest("counter")


@pytest.fixture
def qcow2_disk(tmp_path: Path) -> Path:
    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img is not installed")
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "8M"], check=True)
    return disk
