"""The multiplexer: several frontends (serial, monitor) sharing one backend, with Ctrl-A.

As in QEMU's ``-nographic`` / ``mon:stdio``: every frontend's output goes to the
backend; input goes to the frontend that has the focus.  The escape character Ctrl-A
introduces a command:

    C-a h    print the help        C-a x    exit the emulator
    C-a c    switch frontend       C-a b    send a break
    C-a t    toggle timestamps     C-a s    (save disks: nothing to do here)
    C-a C-a  send one C-a

Any other character after C-a is passed through unchanged, as QEMU does.
"""

from __future__ import annotations

from collections.abc import Callable

from pyqemu.chardev.base import (
    CHR_EVENT_BREAK,
    CHR_EVENT_MUX_IN,
    CHR_EVENT_MUX_OUT,
    Chardev,
    CharFrontend,
)
from pyqemu.sysemu.main_loop import MainLoop

ESCAPE = 0x01      # Ctrl-A
MAX_PENDING = 4096

HELP = (
    "C-a h    print this help\n\r"
    "C-a x    exit emulator\n\r"
    "C-a s    save disk data back to file (if -snapshot)\n\r"
    "C-a t    toggle console timestamps\n\r"
    "C-a b    send break (magic sysrq)\n\r"
    "C-a c    switch between console and monitor\n\r"
    "C-a C-a  sends C-a\n\r"
)


class MuxChardev(Chardev):
    driver = "mux"

    def __init__(self, chr_id: str, backend: Chardev,
                 on_quit: Callable[[], None] | None = None) -> None:
        super().__init__(chr_id)
        self.backend = backend
        self.frontends: list[CharFrontend] = []
        self.focus = 0
        self.on_quit = on_quit
        self.timestamps = False
        self._escape_seen = False
        backend.attach(self)

    # --- frontend management ------------------------------------------------------
    def attach(self, frontend: CharFrontend) -> None:
        if frontend not in self.frontends:
            self.frontends.append(frontend)
            if len(self.frontends) == 1:
                self.focus = 0
                self.frontend = frontend

    def detach(self) -> None:
        self.frontends.clear()
        self.frontend = None

    def switch_focus(self) -> None:
        if not self.frontends:
            return
        self._event_to(self.frontend, CHR_EVENT_MUX_OUT)
        self.focus = (self.focus + 1) % len(self.frontends)
        self.frontend = self.frontends[self.focus]
        self._event_to(self.frontend, CHR_EVENT_MUX_IN)

    @staticmethod
    def _event_to(fe: CharFrontend | None, event: str) -> None:
        handler = getattr(fe, "chr_event", None)
        if handler is not None:
            handler(event)

    def open(self, main_loop: MainLoop) -> None:
        super().open(main_loop)
        self.backend.open(main_loop)

    def close(self) -> None:
        self.backend.close()

    # --- output: every frontend shares the backend ------------------------------------
    def write(self, data: bytes) -> int:
        return self.backend.write(data)

    # --- input from the backend: we are its frontend ---------------------------------
    def can_receive(self) -> int:
        return max(0, MAX_PENDING - len(self._pending))

    def chr_event(self, event: str) -> None:
        for fe in self.frontends:
            self._event_to(fe, event)

    def receive(self, data: bytes) -> None:
        out = bytearray()
        for b in data:
            if self._escape_seen:
                self._escape_seen = False
                if b == ESCAPE:
                    out.append(ESCAPE)
                else:
                    self._queue(out)
                    out = bytearray()
                    if not self._command(b):
                        out.append(b)
            elif b == ESCAPE:
                self._escape_seen = True
            else:
                out.append(b)
        self._queue(out)

    def _queue(self, data: bytes | bytearray) -> None:
        if data:
            self._pending += data
            self._flush_unlocked()

    def _flush_unlocked(self) -> None:
        # We are called from the backend's delivery, which already holds the BQL.
        fe = self.frontend
        if fe is None:
            self._pending.clear()
            return
        while self._pending:
            room = fe.can_receive()
            if room <= 0:
                break
            chunk = bytes(self._pending[:room])
            del self._pending[:room]
            fe.receive(chunk)

    def _flush(self) -> None:
        super()._flush()
        if len(self._pending) < MAX_PENDING:
            self.backend.accept_input()

    def _command(self, ch: int) -> bool:
        """Run the Ctrl-A command ch; False if ch is not a command (pass it through)."""
        c = chr(ch).lower()
        if c == "x":
            self.backend.write(b"QEMU: Terminated\n\r")
            if self.on_quit is not None:
                self.on_quit()
        elif c == "h" or c == "?":
            self.backend.write(b"\n\r" + HELP.encode())
        elif c == "c":
            self.switch_focus()
        elif c == "b":
            self._event_to(self.frontend, CHR_EVENT_BREAK)
        elif c == "t":
            self.timestamps = not self.timestamps
        elif c == "s":
            pass
        else:
            return False
        return True
