"""The QMP command table: names, argument schemas and argument checking.

Commands are registered with the arguments they accept; the dispatcher rejects
unknown, missing and mistyped arguments with QEMU's messages before the handler
runs, so handlers only see valid input.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyqemu.monitor.qmp_errors import QmpError

# Argument type names as QAPI spells them in its error messages.
_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,), "int": (int,), "bool": (bool,), "number": (int, float),
    "list": (list,), "any": (object,),
}
_TYPE_DESC = {"str": "string", "int": "integer", "bool": "boolean", "number": "number",
              "list": "array", "any": "any"}


@dataclass(frozen=True)
class Arg:
    name: str
    type: str = "str"
    required: bool = True


@dataclass
class Command:
    name: str
    handler: Callable[..., Any]
    args: tuple[Arg, ...] = ()
    allow_preconfig: bool = False
    features: list[str] = field(default_factory=list)
    extra_args: bool = False       # device_add: any further keys go to the handler as-is

    def check(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Validated keyword arguments for the handler (QAPI's visitor errors)."""
        known = {a.name: a for a in self.args}
        extra = {}
        for key in arguments:
            if key not in known:
                if not self.extra_args:
                    raise QmpError(f"Parameter '{key}' is unexpected")
                extra[key] = arguments[key]
        kwargs: dict[str, Any] = {}
        for a in self.args:
            if a.name not in arguments:
                if a.required:
                    raise QmpError(f"Parameter '{a.name}' is missing")
                continue
            value = arguments[a.name]
            ok = isinstance(value, _TYPES[a.type])
            if a.type in ("int", "number") and isinstance(value, bool):
                ok = False
            if not ok:
                raise QmpError(f"Invalid parameter type for '{a.name}', expected: "
                               f"{_TYPE_DESC[a.type]}")
            kwargs[a.name.replace("-", "_")] = value
        if self.extra_args:
            kwargs["extra"] = extra
        return kwargs


class Registry:
    def __init__(self) -> None:
        self.commands: dict[str, Command] = {}

    def add(self, name: str, handler: Callable[..., Any], *args: Arg,
            extra_args: bool = False) -> None:
        self.commands[name] = Command(name, handler, tuple(args), extra_args=extra_args)

    def get(self, name: str) -> Command | None:
        return self.commands.get(name)
