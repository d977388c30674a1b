"""Per-stage translation timing shared by bench/xlate.py and bench/xlate_system.py:
frontend (decode and IR), optimizer, x86-64 code generation, best of N passes."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

STAGES = ("frontend", "optimizer", "codegen")


def translate_timed(tr, pc: int, target) -> tuple:
    """Translate the block at pc through the three stages: (guest instructions, t0, t1,
    t2, t3), the times (ns) at the start and at the end of each stage."""
    from pyqemu.tcg.backends.x86_64 import codegen
    from pyqemu.tcg.ir import TCGContext
    from pyqemu.tcg.optimize import optimize

    ctx = TCGContext(tr.globals)
    t0 = time.perf_counter_ns()
    n, _ = tr.translate(ctx, pc)
    t1 = time.perf_counter_ns()
    optimize(ctx)
    t2 = time.perf_counter_ns()
    try:
        codegen.generate(ctx.ops, pc, target)
    except codegen.TranslationTooBig:
        pass
    return n, t0, t1, t2, time.perf_counter_ns()


class StageTimer:
    def __init__(self) -> None:
        self.best = [float("inf")] * 3
        self.block_best: list[list[float]] = []
        self.n_insns = 0
        self.n_blocks = 0

    def run(self, repeat: int, blocks: Sequence, translate: Callable) -> None:
        """translate(block) -> (guest instructions, t0, t1, t2, t3): the times (ns) at
        the start and at the end of each stage."""
        self.n_blocks = len(blocks)
        # The sum over blocks of each block's best time: on a busy machine nearly every
        # whole pass is disturbed somewhere, but each block is rarely disturbed every time.
        self.block_best = [[float("inf")] * 3 for _ in blocks]
        for _ in range(repeat):
            spent = [0, 0, 0]
            n_insns = 0
            for k, blk in enumerate(blocks):
                n, *t = translate(blk)
                bb = self.block_best[k]
                for s in range(3):
                    d = t[s + 1] - t[s]
                    spent[s] += d
                    bb[s] = min(bb[s], d)
                n_insns += n
            self.best = [min(b, s) for b, s in zip(self.best, spent, strict=True)]
            self.n_insns = n_insns

    def report(self, repeat: int) -> None:
        n = self.n_insns
        us = [b / 1000 / n for b in self.best]
        bus = [sum(bb[s] for bb in self.block_best) / 1000 / n for s in range(3)]
        print(f"{self.n_blocks} blocks, {n} guest instructions, best of {repeat}")
        for label, v in (("us/insn:", us), ("per-block best:", bus)):
            print(f"{label} " + "  ".join(f"{name} {x:.2f}" for name, x in zip(STAGES, v,
                                                                               strict=True))
                  + f"  total {sum(v):.2f}")
