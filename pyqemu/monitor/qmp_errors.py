"""QMP error classes (QMP spec section 2.4.2 "error": class and desc)."""

from __future__ import annotations


class QmpError(Exception):
    """A command failed: becomes {"error": {"class": cls, "desc": desc}}."""

    def __init__(self, desc: str, cls: str = "GenericError") -> None:
        super().__init__(desc)
        self.desc = desc
        self.cls = cls

    def to_json(self) -> dict:
        return {"class": self.cls, "desc": self.desc}


class CommandNotFound(QmpError):
    def __init__(self, desc: str) -> None:
        super().__init__(desc, "CommandNotFound")


class DeviceNotFound(QmpError):
    def __init__(self, desc: str) -> None:
        super().__init__(desc, "DeviceNotFound")
