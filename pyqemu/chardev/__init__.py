"""Character device backends: stdio, file, null, ringbuf, socket, and the Ctrl-A mux.

``create_chardev(opts)`` builds a backend from parsed ``-chardev`` options (a dict
with "backend" and "id" plus the backend's keys), ``parse_serial_spec`` handles the
``-serial`` shorthands (``stdio``, ``mon:stdio``, ``null``, ``file:PATH``,
``tcp:HOST:PORT[,server=on][,wait=off]``, ``unix:PATH[,server...]``, ``none``).
"""

from __future__ import annotations

from collections.abc import Callable

from pyqemu.chardev.base import (
    CHR_EVENT_BREAK,
    CHR_EVENT_CLOSED,
    CHR_EVENT_MUX_IN,
    CHR_EVENT_MUX_OUT,
    CHR_EVENT_OPENED,
    Chardev,
    ChardevError,
    CharFrontend,
)
from pyqemu.chardev.fd import FdChardev, FileChardev, NullChardev, RingbufChardev, StdioChardev
from pyqemu.chardev.mux import MuxChardev
from pyqemu.chardev.socket import SocketChardev

__all__ = [
    "CHR_EVENT_BREAK", "CHR_EVENT_CLOSED", "CHR_EVENT_MUX_IN", "CHR_EVENT_MUX_OUT",
    "CHR_EVENT_OPENED", "Chardev", "ChardevError", "CharFrontend", "FdChardev", "FileChardev",
    "MuxChardev", "NullChardev", "RingbufChardev", "SocketChardev", "StdioChardev",
    "create_chardev", "parse_serial_spec",
]


def _onoff(opts: dict[str, str], key: str, default: bool) -> bool:
    v = opts.get(key)
    if v is None:
        return default
    if v in ("on", "yes", "true", ""):
        return True
    if v in ("off", "no", "false"):
        return False
    raise ChardevError(f"Parameter '{key}' expects 'on' or 'off'")


def create_chardev(opts: dict[str, str], on_quit: Callable[[], None] | None = None) -> Chardev:
    """Build the backend described by ``-chardev BACKEND,id=ID,...`` options.

    With ``mux=on`` the result is a :class:`MuxChardev` over the backend, whose Ctrl-A x
    calls on_quit.
    """
    backend = opts.get("backend", "")
    chr_id = opts.get("id")
    if not chr_id:
        raise ChardevError("chardev: no id specified")
    if backend == "stdio":
        dev: Chardev = StdioChardev(chr_id, signal=_onoff(opts, "signal", False))
    elif backend == "null":
        dev = NullChardev(chr_id)
    elif backend == "ringbuf":
        dev = RingbufChardev(chr_id, int(opts.get("size", "65536"), 0))
    elif backend == "file":
        if "path" not in opts:
            raise ChardevError("chardev: file: no filename given")
        dev = FileChardev(chr_id, opts["path"], _onoff(opts, "append", False),
                          opts.get("input-path"))
    elif backend == "socket":
        port = opts.get("port")
        if "path" not in opts and port is None:
            raise ChardevError("chardev: socket: 'host' and 'port' or 'path' required")
        dev = SocketChardev(chr_id, opts.get("host"), int(port) if port else None,
                            opts.get("path"), _onoff(opts, "server", False),
                            _onoff(opts, "wait", True))
    else:
        raise ChardevError(f"'{backend}' is not a valid char driver name")
    if _onoff(opts, "mux", False):
        return MuxChardev(chr_id, dev, on_quit)
    return dev


def parse_serial_spec(spec: str, index: int) -> dict[str, str] | None:
    """The ``-serial`` shorthand as ``-chardev`` options (None for ``none``)."""
    chr_id = f"serial{index}"
    mux = False
    if spec.startswith("mon:"):
        spec = spec[4:]
        mux = True
    opts: dict[str, str]
    if spec == "none":
        return None
    if spec in ("stdio", "null"):
        opts = {"backend": spec}
    elif spec.startswith("file:"):
        opts = {"backend": "file", "path": spec[5:]}
    elif spec.startswith(("tcp:", "unix:")):
        kind, _, rest = spec.partition(":")
        addr, *flags = rest.split(",")
        opts = {"backend": "socket"}
        if kind == "unix":
            opts["path"] = addr
        else:
            host, _, port = addr.rpartition(":")
            opts["host"], opts["port"] = host or "0.0.0.0", port
        for f in flags:
            k, eq, v = f.partition("=")
            if not eq:   # legacy "server", "nowait"
                k, v = (k[2:], "off") if k.startswith("no") else (k, "on")
            opts[k] = v
    else:
        raise ChardevError(f"'{spec}' is not a valid char driver")
    opts["id"] = chr_id
    if mux:
        opts["mux"] = "on"
    return opts
