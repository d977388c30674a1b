"""The device model: typed properties, realize/reset, declared migratable state.

DESIGN.md section 3 "Devices": ``-device virtio-blk-device,drive=hd0`` names a
registered driver and sets its declared properties; the board then wires the device
(memory regions, IRQ lines) and calls :meth:`Device.realize`.  :meth:`Device.reset` puts
it back in its power-on state.  ``vmstate`` lists the attribute names savevm stores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar


class DeviceError(Exception):
    """A user-caused configuration error (bad property, missing drive): one CLI line."""


def parse_bool(text: str) -> bool:
    if text in ("on", "yes", "true", "1", ""):
        return True
    if text in ("off", "no", "false", "0"):
        return False
    raise ValueError("expects 'on' or 'off'")


def parse_size(text: str) -> int:
    """QEMU's size syntax: 4096, 64K, 256M, 2G, 1T (binary units)."""
    units = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    t = text.strip().lower()
    num = t.rstrip("kmgtb")
    unit = t[len(num):]
    if unit not in units or not num:
        raise ValueError(f"'{text}' is not a valid size")
    try:
        value = float(num) if "." in num else int(num, 0)
    except ValueError:
        raise ValueError(f"'{text}' is not a valid size") from None
    return int(value * units[unit])


@dataclass(frozen=True)
class Prop:
    """One declared property: parser from the option string, and its default."""

    parse: Callable[[str], Any]
    default: Any = None
    doc: str = ""


def prop_int(default: int = 0, doc: str = "") -> Prop:
    return Prop(lambda s: int(s, 0), default, doc)


def prop_str(default: str | None = None, doc: str = "") -> Prop:
    return Prop(str, default, doc)


def prop_bool(default: bool = False, doc: str = "") -> Prop:
    return Prop(parse_bool, default, doc)


def prop_size(default: int = 0, doc: str = "") -> Prop:
    return Prop(parse_size, default, doc)


DEVICE_TYPES: dict[str, type[Device]] = {}


def register_device(cls: type[Device]) -> type[Device]:
    """Class decorator: make cls available to ``-device cls.type_name``."""
    DEVICE_TYPES[cls.type_name] = cls
    return cls


class Device:
    type_name: ClassVar[str] = "device"
    properties: ClassVar[dict[str, Prop]] = {}
    vmstate: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **props: Any) -> None:
        self.id: str | None = props.pop("id", None)
        for name, p in self.all_properties().items():
            setattr(self, name.replace("-", "_"), props.pop(name, p.default))
        if props:
            raise DeviceError(f"Property '{self.type_name}.{next(iter(props))}' not found")
        self.realized = False

    @classmethod
    def all_properties(cls) -> dict[str, Prop]:
        merged: dict[str, Prop] = {}
        for klass in reversed(cls.__mro__):
            merged.update(getattr(klass, "properties", {}) or {})
        return merged

    @classmethod
    def from_options(cls, opts: dict[str, str]) -> Device:
        """Build from ``-device`` option strings, parsing each declared property."""
        props: dict[str, Any] = {}
        declared = cls.all_properties()
        for key, text in opts.items():
            if key == "id":
                props["id"] = text
                continue
            if key not in declared:
                raise DeviceError(f"Property '{cls.type_name}.{key}' not found")
            try:
                props[key] = declared[key].parse(text)
            except ValueError as e:
                raise DeviceError(f"Parameter '{key}' {e}") from None
        return cls(**props)

    def realize(self) -> None:
        self.realized = True

    def reset(self) -> None:
        """Return to the power-on state (registers, queues); backends stay attached."""

    def save_state(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.vmstate}

    def load_state(self, state: dict[str, Any]) -> None:
        for name in self.vmstate:
            if name in state:
                setattr(self, name, state[name])
