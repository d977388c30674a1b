#!/usr/bin/env python3
"""Translation cost of the native backend, stage by stage, for one user-mode program.

The blocks the program runs are taken from a run with ``-d in_asm``; they are then
translated again in this process, several times, and the best time of each stage is
reported per guest instruction: frontend (decode and IR generation), optimizer, and
x86-64 code generation. Best-of-N makes the figures usable on a busy machine, where
whole-run timings are not.

    python bench/xlate.py [--repeat N] [PROGRAM [ARGS...]]   (default: sort 1)
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def block_pcs(program: list[str]) -> list[int]:
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        subprocess.run([sys.executable, "-m", "pyqemu.cli.riscv64_user", "-accel",
                        "tcg,tb-cache=off", "-d", "in_asm", "-D", log.name, *program],
                       capture_output=True, check=True)
        text = Path(log.name).read_text()
    pcs = [int(m.group(1), 16) for m in re.finditer(r"IN: *\n0x([0-9a-f]+):", text)]
    return list(dict.fromkeys(pcs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("program", nargs="*")
    a = ap.parse_args()
    if not a.program:
        sys.path.insert(0, str(ROOT / "bench"))
        from run import build

        a.program = [str(build("sort")), "1"]
    pcs = block_pcs(a.program)

    from stages import StageTimer, translate_timed

    from pyqemu.accel.tcg.native_user import NativeUserEngine
    from pyqemu.linux_user.process import Process

    process, _ = Process.create(a.program[0], a.program, [], None, False, [])
    engine = NativeUserEngine(process.mem, process.mm.can_execute, process, process, None,
                              tb_cache="off")
    tr = engine.translator
    timer = StageTimer()

    def one(pc: int) -> tuple:
        return translate_timed(tr, pc, engine._target(0, engine.cb.top))

    timer.run(a.repeat, pcs, one)
    timer.report(a.repeat)
    os._exit(0)  # the guest process never ran: nothing to tear down


if __name__ == "__main__":
    main()
