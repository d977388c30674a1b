#!/usr/bin/env python3
"""Linux boot on the riscv64 virt board: pyqemu-system-riscv64 and qemu-system-riscv64
side by side, same kernel and initramfs, same run.

Reports, for each emulator, the time from start to OpenSBI's banner, to the guest's
"pyqemu-guest-ready" line (busybox /init reached), and to exit after the guest powers
off (kernel argument pyqemu.run=true), plus the ratio QEMU time / pyqemu time. pyqemu's
translation statistics (PYQEMU_STATS) are reported too.

pyqemu runs three ways: the Python backend, the native backend with an empty
translation cache (cold) and the native backend reusing a previous boot's translations
(warm).

    python bench/boot.py [--guest DIR] [--repeat N] [--only python,native]
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


CONFIGS = (  # label, -accel option, warm (a second run reusing the first's translations)
    ("python", "tcg,backend=python", False),
    ("native cold", "tcg,backend=native", False),
    ("native warm", "tcg,backend=native", True),
)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--guest", default=str(ROOT / ".cache/guests/riscv64"))
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--only", default="", help="comma-separated labels: python,native")
    args = ap.parse_args()
    guest = Path(args.guest)
    if not (guest / "Image").exists():
        subprocess.run(["bash", str(ROOT / "scripts/build-riscv64-guest.sh"), str(guest)],
                       check=True)
    configs = [c for c in CONFIGS if not args.only or c[0].split()[0] in args.only.split(",")]
    pyqemu = str(ROOT / ".venv/bin/pyqemu-system-riscv64")
    for _ in range(args.repeat):
        q = boot(["qemu-system-riscv64"], guest)
        results = []
        for label, accel, warm in configs:
            with tempfile.TemporaryDirectory() as tmp:
                stats_path = os.path.join(tmp, "stats.json")
                env = dict(os.environ, PYQEMU_STATS=stats_path, XDG_CACHE_HOME=tmp)
                if warm:
                    boot([pyqemu, "-accel", accel], guest, env)  # fills the cache
                r = boot([pyqemu, "-accel", accel], guest, env)
                try:
                    r["stats"] = json.load(open(stats_path))
                except (OSError, ValueError):
                    r["stats"] = {}
            results.append((label, r))
        print(f"{'':18} {'qemu s':>8}" + "".join(f" {label + ' s':>15} {'ratio':>7}"
                                              for label, _ in results))
        for key, name in (("OpenSBI v", "OpenSBI banner"), ("pyqemu-guest-ready", "busybox /init"),
                          ("exit", "poweroff, exit")):
            a = q.get(key)
            line = f"{name:18} {a if a is not None else float('nan'):8.2f}"
            for _, r in results:
                b = r.get(key)
                if a is None or b is None:
                    line += f" {'-':>15} {'-':>7}"
                else:
                    line += f" {b:15.2f} {a / b:7.4f}"
            print(line)
        print(f"exit status: qemu {q['status']}, "
              + ", ".join(f"{label} {r['status']}" for label, r in results))
        for label, r in results:
            st = r["stats"]
            if st.get("tbs"):
                us = st["translate_ns"] / 1000 / max(st["translated_insns"], 1)
                reused = st.get("reused_tbs", 0)
                print(f"{label}: {st['translated_insns']} guest instructions translated "
                      f"({us:.1f} us each, {st['translate_ns'] / 1e9:.1f} s in all"
                      f"{f', placing {reused} reused blocks included' if reused else ''}), "
                      f"{st['tbs']} blocks, {st.get('idle_s', 0):.1f} s idle in wfi")
    return 0


if __name__ == "__main__":
    sys.exit(main())
