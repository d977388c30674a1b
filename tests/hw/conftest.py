import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import os  # noqa: E402
import subprocess  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
GUEST_CACHE = REPO / ".cache" / "guests" / "riscv64"


@pytest.fixture(scope="session")
def riscv64_guest() -> Path:
    """The riscv64 Linux Image + busybox initramfs, built once by the project's script."""
    if not (GUEST_CACHE / "Image").exists() or not (GUEST_CACHE / "initramfs.cpio.gz").exists():
        if os.geteuid() != 0:
            pytest.skip("building the riscv64 guest needs root (apt-get); run "
                        "scripts/build-riscv64-guest.sh once as root")
        r = subprocess.run(["nice", "bash", str(REPO / "scripts" / "build-riscv64-guest.sh")],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.fail(f"scripts/build-riscv64-guest.sh failed:\n{r.stderr[-2000:]}")
    return GUEST_CACHE
