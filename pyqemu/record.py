"""Record: field-wise equality, repr and replace() for small plain classes.

The classes a user-mode program needs at start-up (IR, decoder, ELF loader, memory
map, signals) are written out instead of made with dataclasses: importing that module
(it imports inspect, ast, dis, tokenize) and generating classes with it is about a
fifth of ``pyqemu-riscv64 ./hello``'s time when its translations are cached. A class
lists its fields in ``_fields`` and writes its own ``__init__``.
"""

from __future__ import annotations


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
        new = self._copy()
        for name, value in changes.items():
            if name not in self._fields:
                raise TypeError(f"{type(self).__name__} has no field {name}")
            setattr(new, name, value)
        return new

    def _copy(self):
        """A shallow copy, as copy.copy makes one of a plain class (its instance dict
        and slots), without importing copy: the memory map's first mprotect at start-up
        would pay a millisecond for it and weakref."""
        cls = type(self)
        new = cls.__new__(cls)
        state = getattr(self, "__dict__", None)
        if state is not None:
            new.__dict__.update(state)
        for klass in cls.__mro__:
            for name in getattr(klass, "__slots__", ()):
                if name != "__dict__" and hasattr(self, name):
                    setattr(new, name, getattr(self, name))
        return new
