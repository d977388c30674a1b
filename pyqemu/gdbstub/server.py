"""gdb connections over TCP: a thread with blocking sockets (user mode, which has no
event loop) and an asyncio server on the machine's main loop (system mode).

Each connection gets its own GdbSession. One debugger at a time: a second connection
while one is open is refused by closing it, as QEMU does. A vanished gdb (reset, EOF)
detaches: the guest runs on and the stub waits for the next connection.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Callable

from .session import GdbSession
from .target import DebugTarget


def parse_port(spec: str) -> tuple[str, int]:
    """``1234``, ``tcp::1234`` or ``tcp:HOST:PORT`` -> (host, port)."""
    text = spec
    if text.startswith("tcp:"):
        text = text[4:]
    host, _, port = text.rpartition(":")
    try:
        num = int(port)
    except ValueError:
        raise ValueError(f"gdbstub: unsupported device '{spec}'") from None
    if not 0 < num < 65536:
        raise ValueError(f"gdbstub: port {num} out of range")
    return host or "0.0.0.0", num


def listen(host: str, port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
    except OSError:
        s.close()
        raise
    s.listen(1)
    return s


class ThreadedGdbServer:
    """User mode: accept and serve gdb on a thread of its own.

    The session's state is shared with the guest threads that report stops, so every
    call into it holds ``lock``.
    """

    def __init__(self, listener: socket.socket, target: DebugTarget) -> None:
        self.listener = listener
        self.target = target
        self.lock = threading.RLock()
        self.session: GdbSession | None = None
        self.conn: socket.socket | None = None
        self.connected = threading.Event()

    def accept_first(self) -> None:
        """Block until gdb connects (qemu-user waits before the first instruction)."""
        conn, _ = self.listener.accept()
        self._open(conn)
        threading.Thread(target=self._serve_forever, name="gdbstub", daemon=True).start()

    def _open(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.lock:
            self.conn = conn
            self.session = GdbSession(self.target, self._send, self._close_conn)
            self.connected.set()

    def _send(self, data: bytes) -> None:
        conn = self.conn
        if conn is None:
            return
        try:
            conn.sendall(data)
        except OSError:
            pass  # the reader notices the broken connection and detaches

    def _close_conn(self) -> None:
        conn = self.conn
        if conn is not None:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _serve_forever(self) -> None:
        while True:
            conn = self.conn
            while conn is not None:
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    break
                with self.lock:
                    if self.session is not None:
                        self.session.feed(data)
            with self.lock:
                if self.session is not None:
                    self.session.disconnected()
                self.session = None
                self.conn = None
            if conn is not None:
                conn.close()
            try:
                new, _ = self.listener.accept()
            except OSError:
                return
            self.target.attach()
            self._open(new)

    def forget(self) -> None:
        """A forked child: close our copies of the sockets without touching the
        connection the parent keeps serving."""
        self.session = None
        for s in (self.conn, self.listener):
            if s is not None:
                try:
                    os.close(s.detach())  # the fd only: no shutdown of the parent's socket
                except OSError:
                    pass
        self.conn = None

    def on_stop(self, ev) -> None:
        with self.lock:
            if self.session is not None:
                self.session.on_stop(ev)


class AsyncGdbServer:
    """System mode: the stub lives on the machine's asyncio loop.

    ``post`` hands a vCPU thread's stop report to the loop; the session runs there only.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, listener: socket.socket,
                 target: DebugTarget, on_attach: Callable[[], None]) -> None:
        self.loop = loop
        self.listener = listener
        self.target = target
        self.on_attach = on_attach
        self.session: GdbSession | None = None
        self.transport: asyncio.Transport | None = None
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self.server = await self.loop.create_server(lambda: _GdbProtocol(self),
                                                    sock=self.listener)

    def post_stop(self, ev) -> None:
        """From any thread: deliver a stop event to the session on the loop."""
        try:
            self.loop.call_soon_threadsafe(self._deliver, ev)
        except RuntimeError:
            pass  # loop closed at shutdown

    def deliver_now(self, ev) -> None:
        """At shutdown, on the main thread, with the loop no longer running: the
        transport still writes straight to its socket."""
        self._deliver(ev)
        self.close()

    def _deliver(self, ev) -> None:
        if self.session is not None:
            self.session.on_stop(ev)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if self.server is not None:
            self.server.close()


class _GdbProtocol(asyncio.Protocol):
    def __init__(self, server: AsyncGdbServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.session: GdbSession | None = None

    def connection_made(self, transport) -> None:
        srv = self.server
        if srv.session is not None:
            transport.close()  # one debugger at a time
            return
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        srv.on_attach()
        self.session = GdbSession(srv.target, transport.write, transport.close)
        srv.session = self.session
        srv.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.session is not None:
            self.session.feed(data)

    def connection_lost(self, exc) -> None:
        if self.session is not None:
            self.session.disconnected()
            if self.server.session is self.session:
                self.server.session = None
                self.server.transport = None
            self.session = None
