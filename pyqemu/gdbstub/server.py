"""gdb connections over TCP: a thread with blocking sockets (user mode, which has no
event loop) and an asyncio server on the machine's main loop (system mode).

Each connection gets its own GdbSession. One debugger at a time: a second connection
waits until the first one is gone. A vanished gdb (reset, EOF) detaches: the guest
runs on and the stub serves the next connection.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Callable

from .packets import PACKET_SIZE
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
        self.waiting: list[_GdbProtocol] = []  # connections queued behind the session

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
        for p in self.waiting:
            if p.transport is not None:
                p.transport.close()
        if self.transport is not None:
            self.transport.close()
        if self.server is not None:
            self.server.close()


class _GdbProtocol(asyncio.Protocol):
    """One TCP connection. While another debugger is connected a new one waits, as a
    second client of QEMU's gdb chardev does; it is served when the first goes away."""

    def __init__(self, server: AsyncGdbServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.session: GdbSession | None = None
        self.early = bytearray()  # what a waiting connection sent (at most PACKET_SIZE)

    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        srv = self.server
        if srv.session is not None:
            srv.waiting.append(self)
            return
        self._activate()

    def _activate(self) -> None:
        srv = self.server
        srv.on_attach()
        self.session = GdbSession(srv.target, self.transport.write, self.transport.close)
        srv.session = self.session
        srv.transport = self.transport
        early, self.early = bytes(self.early), bytearray()
        if early:
            self.session.feed(early)

    def data_received(self, data: bytes) -> None:
        if self.session is not None:
            self.session.feed(data)
        elif len(self.early) + len(data) <= PACKET_SIZE:
            self.early += data  # served once the debugger before it is gone

    def connection_lost(self, exc) -> None:
        srv = self.server
        if self in srv.waiting:
            srv.waiting.remove(self)
            return
        if self.session is None:
            return
        self.session.disconnected()
        if srv.session is self.session:
            srv.session = None
            srv.transport = None
        self.session = None
        if srv.waiting:
            srv.waiting.pop(0)._activate()
