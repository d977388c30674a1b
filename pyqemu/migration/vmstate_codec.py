"""Device state as data: the fields a device declares in ``vmstate`` to and from JSON.

JSON (not pickle) because the bytes come back from a disk image that anyone may have
crafted: decoding must never run code.  Values are ints, bools, strings, None, bytes
and (nested) lists/dicts of those.  Before a decoded field replaces a device's
attribute it must have the same shape as the value the device holds now (an int for
an int, a list of ints of the same length for a register array...), so a damaged
or foreign snapshot is refused with an error instead of breaking a device later.
"""

from __future__ import annotations

import base64
import json
from collections import deque
from typing import Any


class VmstateError(Exception):
    pass


def to_json(value: Any) -> Any:
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return {"__bytes__": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, list | tuple | deque):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    raise VmstateError(f"cannot save a value of type {type(value).__name__}")


def from_json(value: Any) -> Any:
    if isinstance(value, list):
        return [from_json(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return base64.b64decode(value["__bytes__"])
        return {k: from_json(v) for k, v in value.items()}
    return value


def encode_state(state: dict[str, Any]) -> bytes:
    return json.dumps(to_json(state), separators=(",", ":")).encode()


def decode_state(data: bytes) -> dict[str, Any]:
    try:
        state = from_json(json.loads(data.decode()))
    except (ValueError, UnicodeDecodeError) as e:
        raise VmstateError(f"device state is not valid: {e}") from None
    if not isinstance(state, dict):
        raise VmstateError("device state is not an object")
    return state


def check_shape(name: str, current: Any, new: Any, fixed_len: bool = True) -> Any:
    """new converted to current's type, or VmstateError if it cannot stand in for it.

    Lists keep their length (register arrays sized by the board) unless fixed_len is
    false (a FIFO's contents)."""
    if current is None or new is None:
        if isinstance(current, list | dict | bytes | bytearray) \
                or isinstance(new, list | dict | bytes):
            raise VmstateError(f"field '{name}' has the wrong type")
        return new            # optional ints (None or a value)
    if isinstance(current, bool):
        if not isinstance(new, bool):
            raise VmstateError(f"field '{name}' must be a boolean")
        return new
    if isinstance(current, int):
        if not isinstance(new, int) or isinstance(new, bool):
            raise VmstateError(f"field '{name}' must be an integer")
        return new
    if isinstance(current, float):
        if not isinstance(new, int | float) or isinstance(new, bool):
            raise VmstateError(f"field '{name}' must be a number")
        return float(new)
    if isinstance(current, str):
        if not isinstance(new, str):
            raise VmstateError(f"field '{name}' must be a string")
        return new
    if isinstance(current, bytes | bytearray):
        if not isinstance(new, bytes):
            raise VmstateError(f"field '{name}' must be bytes")
        if fixed_len and len(new) != len(current):
            raise VmstateError(f"field '{name}' has {len(new)} bytes, not {len(current)}")
        return type(current)(new)
    if isinstance(current, list | tuple | deque):
        if not isinstance(new, list):
            raise VmstateError(f"field '{name}' must be a list")
        if fixed_len and len(new) != len(current):
            raise VmstateError(f"field '{name}' has {len(new)} entries, not {len(current)}")
        if current:
            proto = current[0]
            new = [check_shape(f"{name}[{i}]", current[i] if i < len(current) else proto, v)
                   for i, v in enumerate(new)]
        return type(current)(new) if not isinstance(current, list) else new
    if isinstance(current, dict):
        if not isinstance(new, dict):
            raise VmstateError(f"field '{name}' must be an object")
        return {k: check_shape(f"{name}.{k}", current.get(k, v), v) for k, v in new.items()}
    raise VmstateError(f"field '{name}' cannot be restored")
