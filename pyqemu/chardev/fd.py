"""File-descriptor backends: stdio (raw tty or plain pipes), file, pipe, null."""

from __future__ import annotations

import atexit
import os
import termios

from pyqemu.chardev.base import CHR_EVENT_CLOSED, CHR_EVENT_OPENED, Chardev, ChardevError
from pyqemu.sysemu.main_loop import MainLoop


def write_all(fd: int, data: bytes) -> int:
    """Blocking write of every byte (stdout may be a slow pipe); errors drop output."""
    view = memoryview(data)
    done = 0
    while done < len(view):
        try:
            done += os.write(fd, view[done:])
        except BlockingIOError:
            import select
            select.select([], [fd], [], 1.0)
        except OSError:
            # The reader went away (EPIPE): the guest's output is lost, as on a real
            # unplugged line.  Not a reason to stop the machine.
            return len(data)
    return done


class FdChardev(Chardev):
    """Reads from in_fd on the main loop, writes to out_fd from any thread."""

    driver = "fd"

    def __init__(self, chr_id: str, in_fd: int | None, out_fd: int | None) -> None:
        super().__init__(chr_id)
        self.in_fd = in_fd
        self.out_fd = out_fd
        self._reading = False
        self._polled = False
        self._eof = False

    def open(self, main_loop: MainLoop) -> None:
        super().open(main_loop)
        self._start_reading()
        self.send_event(CHR_EVENT_OPENED)

    def _start_reading(self) -> None:
        if self.in_fd is None or self._reading or self._eof or not self.main_loop:
            return
        self._reading = True
        try:
            self.main_loop.add_reader(self.in_fd, self._on_readable)
            self._polled = False
        except PermissionError:
            # A regular file or /dev/null: epoll refuses it, and it is always readable.
            # Read it from the loop, one chunk per iteration, until EOF.
            self._polled = True
            self.main_loop.loop.call_soon(self._poll_file)

    def _poll_file(self) -> None:
        if self._reading and self._polled:
            self._on_readable()
            if self._reading:
                self.main_loop.loop.call_soon(self._poll_file)

    def _stop_reading(self) -> None:
        if self._reading and self.main_loop is not None and not self._polled:
            self.main_loop.remove_reader(self.in_fd)
        self._reading = False

    def _on_readable(self) -> None:
        try:
            data = os.read(self.in_fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            # EOF on a pipe: QEMU just stops watching the fd; the guest keeps running.
            self._eof = True
            self._stop_reading()
            self.send_event(CHR_EVENT_CLOSED)
            return
        self.deliver(data)
        if self.input_paused():
            self._stop_reading()

    def input_resumed(self) -> None:
        self._start_reading()

    def write(self, data: bytes) -> int:
        if self.out_fd is None:
            return len(data)
        return write_all(self.out_fd, data)

    def close(self) -> None:
        self._stop_reading()


class StdioChardev(FdChardev):
    """``-chardev stdio``: a raw terminal when stdin is a tty, plain pipes otherwise.

    In raw mode the terminal neither echoes nor line-buffers, and Ctrl-C reaches the
    guest rather than killing pyqemu (``signal=off``, what -nographic users expect:
    Ctrl-A x quits).  Output post-processing stays on so "\\n" still returns the
    carriage.  The original settings come back on close and at exit.
    """

    driver = "stdio"
    _in_use = False

    def __init__(self, chr_id: str, signal: bool = False) -> None:
        if StdioChardev._in_use:
            raise ChardevError("cannot use stdio by multiple character devices")
        super().__init__(chr_id, 0, 1)
        StdioChardev._in_use = True
        self.signal = signal
        self._saved_tty: list | None = None

    def open(self, main_loop: MainLoop) -> None:
        if os.isatty(0):
            self._saved_tty = termios.tcgetattr(0)
            attrs = termios.tcgetattr(0)
            attrs[0] &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP
                          | termios.INLCR | termios.IGNCR | termios.ICRNL | termios.IXON)
            attrs[1] |= termios.OPOST
            attrs[3] &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.IEXTEN)
            if not self.signal:
                attrs[3] &= ~termios.ISIG
            attrs[6][termios.VMIN] = 1
            attrs[6][termios.VTIME] = 0
            termios.tcsetattr(0, termios.TCSANOW, attrs)
            atexit.register(self._restore_tty)
        super().open(main_loop)

    def _restore_tty(self) -> None:
        if self._saved_tty is not None:
            try:
                termios.tcsetattr(0, termios.TCSANOW, self._saved_tty)
            except termios.error:
                pass
            self._saved_tty = None

    def close(self) -> None:
        super().close()
        self._restore_tty()
        StdioChardev._in_use = False


class FileChardev(FdChardev):
    """``-chardev file,path=P[,append=on]``: output to a file, optional input from ``input-path``."""

    driver = "file"

    def __init__(self, chr_id: str, path: str, append: bool = False,
                 input_path: str | None = None) -> None:
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
        try:
            out_fd = os.open(path, flags, 0o666)
            in_fd = os.open(input_path, os.O_RDONLY | os.O_NONBLOCK) if input_path else None
        except OSError as e:
            raise ChardevError(f"Could not open '{e.filename}': {e.strerror}") from None
        super().__init__(chr_id, in_fd, out_fd)

    def close(self) -> None:
        super().close()
        for fd in (self.in_fd, self.out_fd):
            if fd is not None:
                os.close(fd)
        self.in_fd = self.out_fd = None


class NullChardev(Chardev):
    """``-chardev null``: output vanishes, input never comes."""

    driver = "null"


class RingbufChardev(Chardev):
    """``-chardev ringbuf,size=N``: keeps the last N output bytes (tests, ``ringbuf_read``)."""

    driver = "ringbuf"

    def __init__(self, chr_id: str, size: int = 65536) -> None:
        super().__init__(chr_id)
        self.size = size
        self.data = bytearray()

    def write(self, data: bytes) -> int:
        self.data += data
        if len(self.data) > self.size:
            del self.data[:len(self.data) - self.size]
        return len(data)
