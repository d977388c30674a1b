"""Page protections under the native backend, against qemu-riscv64: stores to
read-only memory (string literals, const data, code, mprotect), loads and stores of
PROT_NONE and unmapped pages, accesses that run into a refusing page, exec-only and
write-only pages (readable, as under qemu-riscv64), an AMO on read-only memory, the
si_code (SEGV_ACCERR or SEGV_MAPERR), a handler that grants the access and returns
(the store runs again) and death by SIGSEGV without a handler.

The Python backend does not enforce protections on data accesses (see
linux_user/guest_memory.py), so this runs on the native backend only.
"""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import pytest
from guestlib import GUEST_ENV, PYQEMU, build_guest, run_emulator

SRC = Path(__file__).resolve().parent / "guest" / "page_protection.c"

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64",
                                reason="the native backend needs an x86-64 host")

# The native backend's two tiers: by default cold code is interpreted and hot code
# translated; a tier-up threshold above any visit count keeps every access in the
# interpreter, and PYQEMU_INTERP=off translates every block.
TIERS = {"mixed": {}, "interpreter": {"PYQEMU_TIER_UP": "65536"},
         "translated": {"PYQEMU_INTERP": "off"}}


@pytest.mark.parametrize("tier", TIERS)
@pytest.mark.parametrize("kind", ["static", "dynamic"])
def test_page_protection_same_as_qemu(kind: str, tier: str, tmp_path: Path):
    binary = build_guest(SRC, kind)
    prefix = ["-L", "/usr/riscv64-linux-gnu"] if kind == "dynamic" else []
    ref = run_emulator(["qemu-riscv64", *prefix, str(binary)], tmp_path)
    assert b"SIGSEGV code 2" in ref.stdout and b"retried stores: 1001 faults" in ref.stdout
    ours = subprocess.run([*PYQEMU, "-accel", "tcg,backend=native,tb-cache=off", *prefix,
                           str(binary)], cwd=tmp_path, env=dict(GUEST_ENV, **TIERS[tier]),
                          capture_output=True, timeout=600)
    assert ours.stdout.decode() == ref.stdout.decode()
    assert ours.stderr.decode() == ref.stderr.decode()
    assert ours.returncode == ref.returncode == -11
