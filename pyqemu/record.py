"""Record: field-wise equality, repr and replace() for small plain classes.

The classes a user-mode program needs at start-up (IR, decoder, ELF loader, memory
map, signals) are written out instead of made with dataclasses: importing that module
(it imports inspect, ast, dis, tokenize) and generating classes with it is about a
fifth of ``pyqemu-riscv64 ./hello``'s time when its translations are cached. A class
lists its fields in ``_fields`` and writes its own ``__init__``.
"""

from __future__ import annotations

import copy


class Record:
    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def _values(self) -> tuple:
        return tuple(getattr(self, f) for f in self._fields)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._values() == other._values()

    __hash__ = None  # mutable: not hashable (a frozen record defines its own)

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({inner})"

    def replace(self, **changes):
        """A copy with some fields changed (dataclasses.replace)."""
        new = copy.copy(self)
        for name, value in changes.items():
            if name not in self._fields:
                raise TypeError(f"{type(self).__name__} has no field {name}")
            setattr(new, name, value)
        return new
