#!/usr/bin/env python3
"""Translation cost of the native backend in system mode (softmmu), stage by stage.

The blocks are those the first part of a Linux boot translates: a boot on the native
backend with an empty translation cache records, for each block, its virtual pc, TB
flags and guest bytes, until it has ``--blocks`` of them (kept in .cache/ for later
runs; ``--record`` makes a new recording). They are then translated again in this
process, several times, and the best time of each stage is reported per guest
instruction, as bench/xlate.py does for user mode.

    python bench/xlate_system.py [--repeat N] [--blocks N] [--record]
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RECORDING = ROOT / ".cache" / "xlate_system.pkl"

# Run in the recording child: patch the native system code's build to note each
# block, and leave once there are enough of them.
_RECORDER = """
import os, pickle, sys
from pyqemu.accel.tcg import native_system as ns
out, limit = sys.argv[1], int(sys.argv[2])
blocks = []
orig = ns.NativeSystemCode.build
def build(self, r, vpc, ppc, flags):
    tb = orig(self, r, vpc, ppc, flags)
    data = r.code_bytes(vpc, ppc, tb.end)
    if data is not None and r.translator.max_insns == ns.MAX_INSNS:
        blocks.append((vpc, flags, data))
    if len(blocks) >= limit:
        with open(out, "wb") as f:
            pickle.dump(blocks, f)
        os._exit(0)
    return tb
ns.NativeSystemCode.build = build
sys.argv = ["pyqemu-system-riscv64"] + sys.argv[3:]
from pyqemu.cli.system_riscv64 import entry
entry()
"""


def record(n_blocks: int, guest: Path) -> None:
    RECORDING.parent.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, XDG_CACHE_HOME=tmp)
        subprocess.run([sys.executable, "-c", _RECORDER, str(RECORDING), str(n_blocks),
                        "-accel", "tcg,backend=native", "-M", "virt", "-m", "256M",
                        "-nographic", "-bios", "default", "-kernel", str(guest / "Image"),
                        "-initrd", str(guest / "initramfs.cpio.gz"),
                        "-append", "console=ttyS0"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env,
                       check=False, timeout=600)
    if not RECORDING.exists():
        sys.exit("xlate_system: the boot ended before recording enough blocks")


class BlockBytes:
    """Guest memory for re-translating one recorded block: its bytes, nothing else."""

    def __init__(self) -> None:
        self.start = 0
        self.data = b""

    def read_u16(self, addr: int) -> int:
        off = addr - self.start
        return self.data[off] | (self.data[off + 1] << 8)

    def can_execute(self, addr: int) -> bool:
        return 0 <= addr - self.start < len(self.data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--blocks", type=int, default=3000)
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--guest", default=str(ROOT / ".cache/guests/riscv64"))
    a = ap.parse_args()
    if a.record or not RECORDING.exists():
        record(a.blocks, Path(a.guest))
    with open(RECORDING, "rb") as f:
        blocks = pickle.load(f)

    from stages import StageTimer, translate_timed

    from pyqemu.accel.tcg import native_system as ns
    from pyqemu.target.riscv.translate import RiscvTranslator
    from pyqemu.tcg.backends.x86_64 import codegen

    mem = BlockBytes()
    tr = RiscvTranslator(mem, mem.can_execute)
    tr.system = True
    thunks = {(k, s, sg): 0x1000 + 64 * n for n, (k, s, sg) in enumerate(
        [(k, s, sg) for k in ("ld", "st") for s in (1, 2, 4, 8)
         for sg in ((0, 1) if k == "ld" and s < 8 else (0,))])}

    def target(flags: int) -> codegen.BlockTarget:
        dpriv = (flags >> 2) & 3
        tlb_off = ns.mode_index(dpriv, bool(flags >> 4 & 1), bool(flags >> 5 & 1)) \
            * ns.TLB_ENTRIES * 32
        return codegen.BlockTarget(
            tb_id=1, at=0x10000, exec_base=0x7F0000000000, exit_flag=0, jump_cache=64,
            jc_mask=ns.JC_ENTRIES - 1, epilogue=0x100, low=0,
            helper_address=lambda h, n: 0x7F0000001000, env=ns.ENV,
            system=codegen.SystemTarget(ns.EXIT_WORD, ns.JC_WORD, ns.FLAGS_WORD,
                                        ns.TLB_WORD, tlb_off, ns.TLB_ENTRIES - 1, thunks))

    targets = {flags: target(flags) for _, flags, _ in blocks}
    timer = StageTimer()

    def one(block: tuple) -> tuple:
        vpc, flags, data = block
        mem.start, mem.data = vpc, data
        tr.flags = flags
        return translate_timed(tr, vpc, targets[flags])

    timer.run(a.repeat, blocks, one)
    timer.report(a.repeat)


if __name__ == "__main__":
    main()
