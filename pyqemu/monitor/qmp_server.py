"""``-qmp unix:PATH,server=on,wait=off`` and ``-qmp tcp:HOST:PORT,server=on,wait=off``:
a listening socket on the main loop that serves any number of QMP clients at once.

The socket is bound when the command line is parsed (so "address in use" is an
option error, before anything runs) and served once the loop runs.  Each client is
an asyncio Protocol: input arrives in data_received, output goes through the
transport's buffer, so a slow reader never blocks the loop; one that stops reading
altogether is dropped once MAX_BUFFERED bytes wait for it.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import TYPE_CHECKING

from pyqemu.monitor.qmp_session import QmpSession

if TYPE_CHECKING:
    from pyqemu.monitor.monitor import Monitor

MAX_BUFFERED = 16 << 20


class QmpListenerError(Exception):
    """A bad -qmp address (one line for the CLI)."""


def _onoff(value: str, key: str) -> bool:
    if value in ("on", "yes", "true", ""):
        return True
    if value in ("off", "no", "false"):
        return False
    raise QmpListenerError(f"Parameter '{key}' expects 'on' or 'off'")


class QmpListener:
    """A bound server socket plus its options (wait, pretty)."""

    def __init__(self, spec: str) -> None:
        kind, sep, rest = spec.partition(":")
        if not sep or kind not in ("unix", "tcp"):
            raise QmpListenerError(f"'{spec}' is not a valid QMP address "
                                   "(use unix:PATH or tcp:HOST:PORT with server=on)")
        addr, *flags = rest.split(",")
        opts: dict[str, str] = {}
        for f in flags:
            k, eq, v = f.partition("=")
            if not eq:        # legacy "server", "nowait"
                k, v = (k[2:], "off") if k.startswith("no") else (k, "on")
            opts[k] = v
        for k in opts:
            if k not in ("server", "wait", "pretty"):
                raise QmpListenerError(f"Invalid parameter '{k}'")
        if not _onoff(opts.get("server", "off"), "server"):
            raise QmpListenerError(f"{spec}: only server=on QMP sockets are supported")
        self.wait = _onoff(opts.get("wait", "on"), "wait")
        self.pretty = _onoff(opts.get("pretty", "off"), "pretty")
        self.path: str | None = None
        try:
            if kind == "unix":
                if not addr:
                    raise QmpListenerError("a unix socket path is required")
                self.path = addr
                if os.path.exists(addr):
                    os.unlink(addr)
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            else:
                host, _, port = addr.rpartition(":")
                if not port.isdigit():
                    raise QmpListenerError(f"'{addr}': port must be a number")
                self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                if kind == "unix":
                    # Listen under a temporary name, then rename: a client that sees
                    # the path can always connect (no window between bind and listen).
                    tmp = f"{addr}.{os.getpid()}.tmp"
                    self.sock.bind(tmp)
                    self.sock.listen(16)
                    os.rename(tmp, addr)
                else:
                    self.sock.bind((host or "0.0.0.0", int(port)))
                    self.sock.listen(16)
            except OSError:
                self.sock.close()
                raise
        except OSError as e:
            raise QmpListenerError(f"Failed to bind socket to {addr}: {e.strerror}") from None
        self.server: asyncio.AbstractServer | None = None
        self.clients: set[QmpConnection] = set()

    def filename(self) -> str:
        if self.path is not None:
            return f"unix:{self.path},server=on"
        host, port = self.sock.getsockname()[:2]
        return f"tcp:{host}:{port},server=on"

    def start(self, monitor: Monitor) -> None:
        """Serve on the (not yet running) main loop; with wait=on, block for a client."""
        loop = monitor.machine.main_loop.loop
        self.sock.setblocking(False)
        first: asyncio.Future = loop.create_future()

        def factory() -> QmpConnection:
            conn = QmpConnection(monitor, self)
            if not first.done():
                first.set_result(None)
            return conn

        if self.path is not None:
            coro = loop.create_unix_server(factory, sock=self.sock)
        else:
            coro = loop.create_server(factory, sock=self.sock)
        self.server = loop.run_until_complete(coro)
        if self.wait:
            loop.run_until_complete(first)

    def close(self) -> None:
        for c in list(self.clients):
            c.abort()
        if self.server is not None:
            self.server.close()
            self.server = None
        else:
            self.sock.close()
        if self.path is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass


class QmpConnection(asyncio.Protocol):
    def __init__(self, monitor: Monitor, listener: QmpListener) -> None:
        self.monitor = monitor
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.session = QmpSession(monitor, self._write, listener.pretty)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.listener.clients.add(self)
        self.monitor.sessions.add(self.session)
        self.session.greet()

    def data_received(self, data: bytes) -> None:
        self.session.feed(data)

    def _write(self, data: bytes) -> None:
        t = self.transport
        if t is None or t.is_closing():
            return
        t.write(data)
        if t.get_write_buffer_size() > MAX_BUFFERED:
            self.abort()        # the client stopped reading: drop it, not the machine

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.session.close()
        self.monitor.sessions.discard(self.session)
        self.listener.clients.discard(self)
        self.transport = None
