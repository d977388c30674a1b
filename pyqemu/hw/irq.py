"""IRQ lines: a wire from a device output to an interrupt-controller input.

A device holds an :class:`IrqLine` and drives its level; whoever owns the input end
(PLIC source, ACLINT, KVM irqchip, a test) supplies the handler called with the new
level.  Lines are level-triggered like the wires they model: ``set`` with an unchanged
level still calls the handler (controllers treat it as idempotent), so a device can
simply recompute and re-assert its output after every register access.
"""

from __future__ import annotations

from collections.abc import Callable


class IrqLine:
    """One interrupt wire; ``handler(level)`` runs on every ``set``."""

    __slots__ = ("handler", "level", "name")

    def __init__(self, handler: Callable[[bool], None] | None = None, name: str = "") -> None:
        self.handler = handler
        self.level = False
        self.name = name

    def set(self, level: bool | int) -> None:
        self.level = bool(level)
        if self.handler is not None:
            self.handler(self.level)

    def raise_(self) -> None:
        self.set(True)

    def lower(self) -> None:
        self.set(False)

    def pulse(self) -> None:
        self.set(True)
        self.set(False)

    def connect(self, handler: Callable[[bool], None]) -> None:
        """Attach the input end; the current level is delivered at once."""
        self.handler = handler
        handler(self.level)

    def __repr__(self) -> str:
        return f"IrqLine({self.name!r}, level={int(self.level)})"
