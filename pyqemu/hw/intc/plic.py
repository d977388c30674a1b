"""The RISC-V Platform-Level Interrupt Controller (riscv-plic-spec 1.0), as on QEMU's virt.

Memory map (spec chapter "Memory Map"), all registers 32 bits:

    0x000000 + 4*s          priority of source s (0 = never interrupt; s = 0 reserved)
    0x001000 + 4*(s/32)     pending bits (read-only)
    0x002000 + 0x80*c       enable bits of context c
    0x200000 + 0x1000*c     priority threshold of context c
    0x200004 + 0x1000*c     claim (read) / complete (write) of context c

The virt board gives each hart two contexts: 2*h for M-mode (drives MEIP, mip bit
11) and 2*h+1 for S-mode (SEIP, bit 9).  Sources are level-triggered: a gateway
forwards a request while its line is high and no request from it is in flight; a claim
takes the request in flight (pending clears) and the completion lets the gateway
forward the next one, so a line still high after completion is pending again.
A context's notification is asserted while some enabled pending source has a priority
above its threshold; claims pick the highest priority, ties to the lowest source id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyqemu.hw.irq import IrqLine
from pyqemu.qom.device import Device

PRIORITY_BASE = 0x0
PENDING_BASE = 0x1000
ENABLE_BASE = 0x2000
ENABLE_STRIDE = 0x80
CONTEXT_BASE = 0x200000
CONTEXT_STRIDE = 0x1000

MIP_SEIP = 9
MIP_MEIP = 11


def plic_size(num_contexts: int) -> int:
    return CONTEXT_BASE + num_contexts * CONTEXT_STRIDE


class Plic(Device):
    type_name = "riscv.sifive.plic"
    vmstate = ("priority", "pending", "claimed", "enable", "threshold", "levels")

    def __init__(self, num_harts: int, num_sources: int = 96, priority_bits: int = 3,
                 hart_config: str = "MS", harts: Sequence[Any] | None = None) -> None:
        """num_sources counts source 0; hart_config "MS" gives every hart an M and an S
        context (QEMU's virt), "M" only M-mode ones."""
        super().__init__()
        self.num_sources = num_sources
        self.priority_mask = (1 << priority_bits) - 1
        # context -> (hart index, mip bit)
        self.context_targets: list[tuple[int, int]] = []
        for h in range(num_harts):
            for mode in hart_config:
                self.context_targets.append((h, MIP_MEIP if mode == "M" else MIP_SEIP))
        self.num_contexts = len(self.context_targets)
        self.size = plic_size(self.num_contexts)
        self.words = (num_sources + 31) // 32
        self.harts: list[Any] = list(harts) if harts is not None else []
        self.irqs = [IrqLine(self._make_handler(s), f"plic.{s}") for s in range(num_sources)]
        self._outputs = [False] * self.num_contexts
        self.levels = [False] * num_sources
        self.reset()

    def connect_harts(self, harts: Sequence[Any]) -> None:
        self.harts = list(harts)
        self._outputs = [None] * self.num_contexts  # None equals no level: drive every line
        self._update()

    def post_load(self) -> None:
        """After loadvm: re-deliver every context's line to the harts (None never equals
        a level, so each line is driven whatever the hart had before)."""
        self._outputs = [None] * self.num_contexts
        self._update()

    def reset(self) -> None:
        self.priority = [0] * self.num_sources
        self.pending = [0] * self.words
        self.claimed = [0] * self.words
        self.enable = [[0] * self.words for _ in range(self.num_contexts)]
        self.threshold = [0] * self.num_contexts
        # Lines still asserted by devices re-enter the gateways.
        for s in range(1, self.num_sources):
            if self.levels[s]:
                self._set_bit(self.pending, s, True)
        self._update()

    # --- sources ------------------------------------------------------------------------
    def _make_handler(self, source: int):
        def handler(level: bool) -> None:
            self.set_irq(source, level)
        return handler

    def set_irq(self, source: int, level: bool) -> None:
        if not 0 < source < self.num_sources:
            return
        self.levels[source] = level
        if level and not self._bit(self.claimed, source):
            self._set_bit(self.pending, source, True)
        elif not level:
            # A level source that drops before being claimed withdraws its request.
            self._set_bit(self.pending, source, False)
        self._update()

    @staticmethod
    def _bit(words: list[int], s: int) -> bool:
        return bool(words[s >> 5] >> (s & 31) & 1)

    @staticmethod
    def _set_bit(words: list[int], s: int, value: bool) -> None:
        if value:
            words[s >> 5] |= 1 << (s & 31)
        else:
            words[s >> 5] &= ~(1 << (s & 31))

    # --- arbitration --------------------------------------------------------------------
    def _best(self, ctx: int) -> int:
        """Highest-priority enabled pending source above the threshold (0 if none)."""
        best, best_prio = 0, self.threshold[ctx]
        enable = self.enable[ctx]
        for w in range(self.words):
            bits = self.pending[w] & enable[w]
            while bits:
                low = bits & -bits
                s = (w << 5) + low.bit_length() - 1
                bits ^= low
                p = self.priority[s]
                if p > best_prio:
                    best, best_prio = s, p
        return best

    def _update(self) -> None:
        harts = self.harts
        for ctx, (h, bit) in enumerate(self.context_targets):
            level = self._best(ctx) != 0
            if level != self._outputs[ctx]:
                self._outputs[ctx] = level
                if h < len(harts):
                    hart = harts[h]
                    hart.set_interrupt(bit, level)
                    if level:
                        kick = getattr(hart, "kick", None)
                        if kick is not None:
                            kick()

    def claim(self, ctx: int) -> int:
        s = self._best(ctx)
        if s:
            self._set_bit(self.pending, s, False)
            self._set_bit(self.claimed, s, True)
            self._update()
        return s

    def complete(self, ctx: int, source: int) -> None:
        # The spec ignores completions for sources not enabled for this context.
        if not 0 < source < self.num_sources or not self._bit(self.enable[ctx], source):
            return
        self._set_bit(self.claimed, source, False)
        if self.levels[source]:
            self._set_bit(self.pending, source, True)
        self._update()

    # --- registers ----------------------------------------------------------------------
    def read(self, offset: int, size: int) -> int:
        if size == 8 and not offset & 7:
            return self.read(offset, 4) | self.read(offset + 4, 4) << 32
        if size != 4 or offset & 3:
            return 0
        if offset < PENDING_BASE:
            s = offset >> 2
            return self.priority[s] if s < self.num_sources else 0
        if offset < ENABLE_BASE:
            w = (offset - PENDING_BASE) >> 2
            return self.pending[w] if w < self.words else 0
        if offset < CONTEXT_BASE:
            ctx, w = divmod(offset - ENABLE_BASE, ENABLE_STRIDE)
            w >>= 2
            if ctx < self.num_contexts and w < self.words:
                return self.enable[ctx][w]
            return 0
        ctx, reg = divmod(offset - CONTEXT_BASE, CONTEXT_STRIDE)
        if ctx >= self.num_contexts:
            return 0
        if reg == 0:
            return self.threshold[ctx]
        if reg == 4:
            return self.claim(ctx)
        return 0

    def write(self, offset: int, size: int, value: int) -> None:
        if size == 8 and not offset & 7:
            self.write(offset, 4, value & 0xFFFF_FFFF)
            self.write(offset + 4, 4, value >> 32)
            return
        if size != 4 or offset & 3:
            return
        value &= 0xFFFF_FFFF
        if offset < PENDING_BASE:
            s = offset >> 2
            if 0 < s < self.num_sources:
                self.priority[s] = value & self.priority_mask
                self._update()
            return
        if offset < ENABLE_BASE:
            return                   # pending bits are read-only
        if offset < CONTEXT_BASE:
            ctx, w = divmod(offset - ENABLE_BASE, ENABLE_STRIDE)
            w >>= 2
            if ctx < self.num_contexts and w < self.words:
                if w == 0:
                    value &= ~1      # source 0 does not exist
                if w == self.words - 1 and self.num_sources & 31:
                    value &= (1 << (self.num_sources & 31)) - 1
                self.enable[ctx][w] = value
                self._update()
            return
        ctx, reg = divmod(offset - CONTEXT_BASE, CONTEXT_STRIDE)
        if ctx >= self.num_contexts:
            return
        if reg == 0:
            self.threshold[ctx] = value & self.priority_mask
            self._update()
        elif reg == 4:
            self.complete(ctx, value)
