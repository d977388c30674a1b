#!/usr/bin/env python3
"""Linux boot on the riscv64 virt board: pyqemu-system-riscv64 and qemu-system-riscv64
side by side, same kernel and initramfs, same run.

Reports, for each emulator, the time from start to OpenSBI's banner, to the guest's
"pyqemu-guest-ready" line (busybox /init reached), and to exit after the guest powers
off (kernel argument pyqemu.run=true), plus the ratio QEMU time / pyqemu time. pyqemu's
translation statistics (PYQEMU_STATS) are reported too.

    python bench/boot.py [--guest DIR] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKS = ("OpenSBI v", "pyqemu-guest-ready")


def boot(cmd: list[str], guest: Path, env: dict | None = None) -> dict:
    argv = cmd + ["-M", "virt", "-m", "256M", "-nographic", "-bios", "default",
                  "-kernel", str(guest / "Image"), "-initrd", str(guest / "initramfs.cpio.gz"),
                  "-append", "console=ttyS0 pyqemu.run=true"]
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, env=env)
    seen: dict[str, float] = {}
    buf = b""
    while True:
        chunk = p.stdout.read1(4096)
        if not chunk:
            break
        buf += chunk
        for m in MARKS:
            if m not in seen and m.encode() in buf:
                seen[m] = time.monotonic() - t0
    status = p.wait()
    seen["exit"] = time.monotonic() - t0
    seen["status"] = status
    return seen


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--guest", default=str(ROOT / ".cache/guests/riscv64"))
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    guest = Path(args.guest)
    if not (guest / "Image").exists():
        subprocess.run(["bash", str(ROOT / "scripts/build-riscv64-guest.sh"), str(guest)],
                       check=True)
    with tempfile.TemporaryDirectory() as tmp:
        stats_path = os.path.join(tmp, "stats.json")
        env = dict(os.environ, PYQEMU_STATS=stats_path)
        for _ in range(args.repeat):
            q = boot(["qemu-system-riscv64"], guest)
            py = boot([str(ROOT / ".venv/bin/pyqemu-system-riscv64")], guest, env)
            print(f"{'':18} {'qemu s':>8} {'pyqemu s':>9} {'ratio':>8}")
            for key, label in (("OpenSBI v", "OpenSBI banner"),
                               ("pyqemu-guest-ready", "busybox /init"),
                               ("exit", "poweroff, exit")):
                a, b = q.get(key), py.get(key)
                if a is None or b is None:
                    print(f"{label:18} {'-':>8} {'-':>9}   (not reached)")
                    continue
                print(f"{label:18} {a:8.2f} {b:9.2f} {a / b:8.4f}")
            print(f"exit status: qemu {q['status']}, pyqemu {py['status']}")
            try:
                st = json.load(open(stats_path))
                us = st["translate_ns"] / 1000 / max(st["translated_insns"], 1)
                print(f"pyqemu: {st['translated_insns']} guest instructions translated in "
                      f"{st['tbs']} blocks, {us:.1f} us each; {st['idle_s']:.1f} s idle in wfi")
            except (OSError, ValueError, KeyError):
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
