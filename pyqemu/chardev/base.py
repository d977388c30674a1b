"""Character devices: the byte streams behind serial ports, consoles and monitors.

A backend (stdio, file, socket...) is a :class:`Chardev`.  A device model is its
*frontend*: it writes guest output with :meth:`Chardev.write` (from any thread) and
receives host input through the :class:`CharFrontend` methods, called on the main loop
under the BQL.  Input the frontend has no room for (a full 16-byte UART FIFO) waits in
the chardev; the frontend calls :meth:`Chardev.accept_input` when it has room again,
and the backend stops reading its fd while anything waits, so a fast writer is
throttled to the guest's pace instead of being buffered without bound.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pyqemu.sysemu.main_loop import MainLoop

# chr_event() values, after QEMU's CHR_EVENT_*.
CHR_EVENT_OPENED = "opened"      # a client connected / the backend is ready
CHR_EVENT_CLOSED = "closed"      # the client went away / EOF on input
CHR_EVENT_BREAK = "break"        # Ctrl-A b on a mux: a serial line break
CHR_EVENT_MUX_IN = "mux-in"      # this frontend now has the mux focus
CHR_EVENT_MUX_OUT = "mux-out"


class ChardevError(Exception):
    """A user-caused chardev problem (bad path, port in use): one line for the CLI."""


class CharFrontend(Protocol):
    def can_receive(self) -> int:
        """How many bytes the frontend can take right now."""

    def receive(self, data: bytes) -> None:
        """Host input, at most can_receive() bytes."""

    def chr_event(self, event: str) -> None:
        """A CHR_EVENT_* notification (optional: frontends may ignore it)."""


class Chardev:
    """Base backend: buffering of input towards one frontend."""

    driver = "none"

    def __init__(self, chr_id: str) -> None:
        self.id = chr_id
        self.frontend: CharFrontend | None = None
        self.main_loop: MainLoop | None = None
        self._pending = bytearray()

    # --- lifecycle ---------------------------------------------------------------
    def open(self, main_loop: MainLoop) -> None:
        """Start I/O on the main loop (register fds).  Called once by the machine."""
        self.main_loop = main_loop

    def close(self) -> None:
        """Stop I/O and release host resources (restores terminals)."""

    def attach(self, frontend: CharFrontend) -> None:
        if self.frontend is not None and self.frontend is not frontend:
            raise ChardevError(f"Device '{self.id}' is in use")
        self.frontend = frontend

    def detach(self) -> None:
        self.frontend = None

    # --- output (frontend -> host) ---------------------------------------------------
    def write(self, data: bytes) -> int:
        """Send guest output to the host; returns bytes accepted (all, for blocking backends)."""
        return len(data)

    # --- input (host -> frontend) -------------------------------------------------
    def input_paused(self) -> bool:
        return bool(self._pending)

    def deliver(self, data: bytes) -> None:
        """Backend side: host bytes arrived (main loop thread, takes the BQL)."""
        self._pending += data
        self._flush()

    def _flush(self) -> None:
        fe = self.frontend
        if fe is None:
            self._pending.clear()   # nobody listens: input is dropped, as on real lines
            return
        lock = self.main_loop.bql if self.main_loop is not None else None
        if lock is not None:
            lock.acquire()
        try:
            while self._pending:
                room = fe.can_receive()
                if room <= 0:
                    break
                chunk = bytes(self._pending[:room])
                del self._pending[:room]
                fe.receive(chunk)
        finally:
            if lock is not None:
                lock.release()
        if not self._pending:
            self.input_resumed()

    def accept_input(self) -> None:
        """Frontend side: there is room again (any thread); pending input is re-offered."""
        if not self._pending:
            return
        if self.main_loop is None:
            self._flush()
        else:
            self.main_loop.call_soon_threadsafe(self._flush)

    def input_resumed(self) -> None:
        """Hook: the pending buffer drained, a backend may resume reading its fd."""

    def send_event(self, event: str) -> None:
        fe = self.frontend
        handler = getattr(fe, "chr_event", None)
        if handler is not None:
            handler(event)
