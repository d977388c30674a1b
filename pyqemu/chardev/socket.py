"""``-chardev socket``: a TCP or Unix stream, as server (one client at a time) or client.

``server=on,wait=off`` listens and accepts in the background; guest output written
while nobody is connected is dropped, as QEMU drops it.  A client that disconnects
frees the slot for the next one.
"""

from __future__ import annotations

import os
import socket

from pyqemu.chardev.base import CHR_EVENT_CLOSED, CHR_EVENT_OPENED, Chardev, ChardevError
from pyqemu.sysemu.main_loop import MainLoop


class SocketChardev(Chardev):
    driver = "socket"

    def __init__(self, chr_id: str, host: str | None = None, port: int | None = None,
                 path: str | None = None, server: bool = False, wait: bool = True) -> None:
        super().__init__(chr_id)
        self.server = server
        self.conn: socket.socket | None = None
        self.listener: socket.socket | None = None
        self._reading = False
        try:
            if path is not None:
                family, addr = socket.AF_UNIX, path
            else:
                family, addr = socket.AF_INET, (host or "0.0.0.0", int(port or 0))
            if server:
                if path is not None and os.path.exists(path):
                    os.unlink(path)
                self.listener = socket.socket(family, socket.SOCK_STREAM)
                if family == socket.AF_INET:
                    self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                self.listener.bind(addr)
                self.listener.listen(1)
                if wait:
                    self.conn, _ = self.listener.accept()
            else:
                self.conn = socket.create_connection(addr) if family == socket.AF_INET else \
                    socket.socket(family, socket.SOCK_STREAM)
                if family == socket.AF_UNIX:
                    self.conn.connect(addr)
        except OSError as e:
            raise ChardevError(f"Failed to {'listen on' if server else 'connect to'} socket: "
                               f"{e.strerror}") from None

    @property
    def address(self) -> tuple | str:
        return (self.listener or self.conn).getsockname()

    def open(self, main_loop: MainLoop) -> None:
        super().open(main_loop)
        if self.listener is not None:
            self.listener.setblocking(False)
            main_loop.add_reader(self.listener.fileno(), self._on_accept)
        if self.conn is not None:
            self._connected()

    def _on_accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return
        if self.conn is not None:
            conn.close()      # one client at a time
            return
        self.conn = conn
        self._connected()

    def _connected(self) -> None:
        self.conn.setblocking(True)
        self._start_reading()
        self.send_event(CHR_EVENT_OPENED)

    def _start_reading(self) -> None:
        if self.conn is not None and not self._reading and self.main_loop is not None:
            self.main_loop.add_reader(self.conn.fileno(), self._on_readable)
            self._reading = True

    def _stop_reading(self) -> None:
        if self._reading and self.conn is not None and self.main_loop is not None:
            self.main_loop.remove_reader(self.conn.fileno())
        self._reading = False

    def _on_readable(self) -> None:
        try:
            data = self.conn.recv(4096)
        except OSError:
            data = b""
        if not data:
            self._disconnect()
            return
        self.deliver(data)
        if self.input_paused():
            self._stop_reading()

    def _disconnect(self) -> None:
        self._stop_reading()
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        self.send_event(CHR_EVENT_CLOSED)

    def input_resumed(self) -> None:
        self._start_reading()

    def write(self, data: bytes) -> int:
        conn = self.conn
        if conn is None:
            return len(data)
        try:
            conn.sendall(data)
        except OSError:
            if self.main_loop is not None:
                self.main_loop.call_soon_threadsafe(self._disconnect)
        return len(data)

    def close(self) -> None:
        if self.conn is not None:
            self._stop_reading()
            self.conn.close()
            self.conn = None
        if self.listener is not None:
            if self.main_loop is not None:
                self.main_loop.remove_reader(self.listener.fileno())
            self.listener.close()
            self.listener = None
