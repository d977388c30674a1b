"""One QMP client connection: greeting, capabilities negotiation, dispatch, events.

QMP specification (docs/interop/qmp-spec): the server greets with
``{"QMP": {"version": ..., "capabilities": [...]}}``; the client is in
*capabilities negotiation* mode until it runs ``qmp_capabilities``, where every other
command fails with CommandNotFound; afterwards it is in *command* mode and receives
asynchronous events.  Each input must be a JSON object with ``execute`` (or
``exec-oob``), optional ``arguments`` (an object) and ``id`` (echoed in the reply).

The session does not know its transport: it gets a ``send(bytes)`` callable, so the
same code serves -qmp sockets with many clients and ``-mon chardev=X,mode=control``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyqemu.monitor.json_stream import JsonStream, ParseError
from pyqemu.monitor.qmp_commands import version_info
from pyqemu.monitor.qmp_errors import CommandNotFound, QmpError

if TYPE_CHECKING:
    from pyqemu.monitor.monitor import Monitor

ALLOWED_KEYS = ("execute", "exec-oob", "arguments", "id", "control")


def timestamp() -> dict[str, int]:
    ns = time.time_ns()
    return {"seconds": ns // 10**9, "microseconds": ns // 1000 % 10**6}


class QmpSession:
    def __init__(self, monitor: Monitor, send: Callable[[bytes], None],
                 pretty: bool = False) -> None:
        self.monitor = monitor
        self.send_bytes = send
        self.pretty = pretty
        self.stream = JsonStream()
        self.negotiated = False
        self.closed = False

    # --- output -------------------------------------------------------------------------
    def send(self, obj: dict) -> None:
        if self.closed:
            return
        text = json.dumps(obj, indent=4 if self.pretty else None)
        self.send_bytes(text.encode() + b"\r\n")

    def greet(self) -> None:
        self.negotiated = False
        self.stream = JsonStream()
        self.send({"QMP": {"version": version_info(), "capabilities": ["oob"]}})

    def event(self, name: str, data: dict | None, ts: dict[str, int]) -> None:
        # Events only go to clients that left capabilities negotiation (spec 2.2).
        if not self.negotiated or self.closed:
            return
        msg: dict[str, Any] = {"timestamp": ts, "event": name}
        if data is not None:
            msg["data"] = data
        self.send(msg)

    # --- input --------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        for item in self.stream.feed(data):
            if self.closed:
                return
            if isinstance(item, ParseError):
                self.send({"error": {"class": "GenericError",
                                     "desc": f"JSON parse error, {item.desc}"}})
                continue
            self.handle(item)

    def handle(self, msg: Any) -> None:
        reply_id = msg.get("id") if isinstance(msg, dict) else None
        try:
            result = self._dispatch(msg)
        except QmpError as e:
            reply: dict[str, Any] = {"error": e.to_json()}
        except Exception as e:  # a bug of ours must not end the session or the machine
            try:
                print(f"qmp: internal error in command: {type(e).__name__}: {e}",
                      file=sys.stderr)
            except OSError:
                pass
            reply = {"error": {"class": "GenericError",
                               "desc": f"internal error: {type(e).__name__}: {e}"}}
        else:
            reply = {"return": result}
        if isinstance(msg, dict) and "id" in msg:
            reply["id"] = reply_id
        self.send(reply)

    def _dispatch(self, msg: Any) -> Any:
        if not isinstance(msg, dict):
            raise QmpError("QMP input must be a JSON object")
        for key in msg:
            if key not in ALLOWED_KEYS:
                raise QmpError(f"QMP input member '{key}' is unexpected")
        name = msg.get("execute", msg.get("exec-oob"))
        if name is None:
            raise QmpError("QMP input lacks member 'execute'")
        if not isinstance(name, str):
            raise QmpError("QMP input member 'execute' must be a string")
        args = msg.get("arguments", {})
        if not isinstance(args, dict):
            raise QmpError("QMP input member 'arguments' must be an object")
        if "exec-oob" in msg:
            raise QmpError("QMP input member 'exec-oob' requires the 'oob' capability"
                           if not self.negotiated else
                           f"The command {name} does not support OOB")
        if name == "qmp_capabilities":
            return self._capabilities(args)
        if not self.negotiated:
            raise CommandNotFound("Expecting capabilities negotiation with 'qmp_capabilities'")
        cmd = self.monitor.registry.get(name)
        if cmd is None:
            raise CommandNotFound(f"The command {name} has not been found")
        return cmd.handler(**cmd.check(args))

    def _capabilities(self, args: dict) -> dict:
        if self.negotiated:
            raise CommandNotFound("Capabilities negotiation is already complete, command ignored")
        for key in args:
            if key != "enable":
                raise QmpError(f"Parameter '{key}' is unexpected")
        enable = args.get("enable", [])
        if not isinstance(enable, list):
            raise QmpError("Invalid parameter type for 'enable', expected: array")
        for cap in enable:
            if cap != "oob":
                raise QmpError(f"Parameter 'enable' does not accept value '{cap}'")
        self.negotiated = True
        return {}

    def close(self) -> None:
        self.closed = True
