"""Monitors on a chardev: HMP with a ``(qemu)`` prompt (``-monitor stdio``, Ctrl-A c on
a ``mon:`` mux) and QMP (``-mon chardev=X,mode=control``).

Chardev input reaches a frontend with the BQL held; a monitor command may pause the
vCPUs, and a vCPU inside a device waits for that lock, so lines are queued here and
run from a fresh main-loop callback, outside the lock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyqemu.chardev import CHR_EVENT_CLOSED, CHR_EVENT_MUX_IN, CHR_EVENT_OPENED, Chardev
from pyqemu.monitor.qmp_commands import QEMU_VERSION
from pyqemu.monitor.qmp_session import QmpSession

if TYPE_CHECKING:
    from pyqemu.monitor.monitor import Monitor

PROMPT = "(qemu) "
MAX_LINE = 4096


def take_mux_focus(chardev: Chardev, frontend: object) -> bool:
    """Give frontend the input of a mux it shares (-monitor stdio next to the serial
    port); False if chardev is not a mux."""
    if getattr(chardev, "driver", "") != "mux":
        return False
    while chardev.frontend is not frontend:
        chardev.switch_focus()
    return True


def banner() -> str:
    v = QEMU_VERSION
    return f"QEMU {v['major']}.{v['minor']}.{v['micro']} monitor - type 'help' for more information\n"


class HmpFrontend:
    """Line input with echo and backspace, like QEMU's readline in its simplest use."""

    def __init__(self, monitor: Monitor, chardev: Chardev, focus: bool = False) -> None:
        from pyqemu.monitor.hmp import Hmp

        self.monitor = monitor
        self.chardev = chardev
        self.hmp = Hmp(monitor)
        self.line = bytearray()
        self.inbox = bytearray()
        self.greeted = False
        self.last_cr = False
        self.esc = 0                 # 1 after ESC, 2 inside ESC [ ...
        self.scheduled = False
        self.focus = focus

    def attach(self) -> None:
        self.chardev.attach(self)
        driver = getattr(self.chardev, "driver", "")
        if self.focus and take_mux_focus(self.chardev, self):
            return                              # the focus event greeted
        # The chardev is already open: a non-mux backend has its user now; a mux
        # greets when Ctrl-A c gives us the focus; a socket when a client connects.
        if driver not in ("mux", "socket") or (driver == "socket" and self.chardev.conn):
            self.greet()

    def puts(self, text: str) -> None:
        # The monitor always ends lines with CR LF, whatever the terminal mode.
        self.chardev.write(text.replace("\r\n", "\n").replace("\n", "\r\n").encode())

    def greet(self) -> None:
        if not self.greeted:
            self.greeted = True
            self.puts(banner())
        self.puts(PROMPT)

    # --- CharFrontend -------------------------------------------------------------------
    def can_receive(self) -> int:
        return max(0, 4096 - len(self.inbox))

    def chr_event(self, event: str) -> None:
        if event in (CHR_EVENT_OPENED, CHR_EVENT_MUX_IN):
            if event == CHR_EVENT_OPENED and getattr(self.chardev, "driver", "") == "socket":
                self.greeted = False
            if event == CHR_EVENT_OPENED and getattr(self.chardev, "driver", "") == "mux":
                return
            self.greet()
        elif event == CHR_EVENT_CLOSED:
            self.line.clear()

    def receive(self, data: bytes) -> None:
        self.inbox += data
        if not self.scheduled:
            self.scheduled = True
            self.monitor.machine.main_loop.loop.call_soon(self._process)

    def _process(self) -> None:
        """Edit, echo and run lines in input order: each command's output follows its
        echoed line, as with QEMU's readline."""
        self.scheduled = False
        data, self.inbox = bytes(self.inbox), bytearray()
        echo = bytearray()
        for b in data:
            if self.monitor.machine.runstate.shutdown_requested():
                return
            # Escape sequences (cursor keys: ESC [ ... final byte) are skipped whole:
            # there is no history or cursor movement to apply them to.
            if self.esc == 1:
                self.esc = 2 if b == 0x5B else 0
                continue
            if self.esc == 2:
                if 0x40 <= b <= 0x7E:
                    self.esc = 0
                continue
            if b == 0x1B:
                self.esc = 1
                continue
            if b in (0x0D, 0x0A):
                if b == 0x0A and self.last_cr:
                    self.last_cr = False
                    continue
                self.last_cr = b == 0x0D
                echo += b"\r\n"
                self.chardev.write(bytes(echo))
                echo.clear()
                line = self.line.decode("utf-8", "replace")
                self.line.clear()
                self._run(line)
                continue
            self.last_cr = False
            if b in (0x7F, 0x08):
                if self.line:
                    self.line.pop()
                    echo += b"\b \b"
            elif b >= 0x20 and len(self.line) < MAX_LINE:
                self.line.append(b)
                echo.append(b)
        if echo:
            self.chardev.write(bytes(echo))
        self.chardev.accept_input()

    def _run(self, line: str) -> None:
        try:
            out = self.hmp.run_line(line)
        except Exception as e:  # a bug of ours: report it, keep the monitor and machine
            out = f"Error: internal error: {type(e).__name__}: {e}\n"
        if out:
            self.puts(out)
        if not self.monitor.machine.runstate.shutdown_requested():
            self.puts(PROMPT)


class QmpChardevFrontend:
    """QMP over one chardev (``-mon chardev=X,mode=control``): one client at a time."""

    def __init__(self, monitor: Monitor, chardev: Chardev, pretty: bool = False,
                 focus: bool = False) -> None:
        self.focus = focus
        self.monitor = monitor
        self.chardev = chardev
        self.session = QmpSession(monitor, self._send, pretty)
        self.inbox = bytearray()
        self.scheduled = False

    def attach(self) -> None:
        self.chardev.attach(self)
        self.monitor.sessions.add(self.session)
        if self.focus:
            take_mux_focus(self.chardev, self)
        driver = getattr(self.chardev, "driver", "")
        if driver != "socket" or self.chardev.conn:
            self.session.greet()

    def _send(self, data: bytes) -> None:
        self.chardev.write(data)

    def can_receive(self) -> int:
        return max(0, (1 << 20) - len(self.inbox))

    def chr_event(self, event: str) -> None:
        if event == CHR_EVENT_OPENED:
            self.inbox.clear()
            self.session.greet()
        elif event == CHR_EVENT_CLOSED and getattr(self.chardev, "driver", "") == "socket":
            # The client went away; the next one starts from the greeting.  (EOF on
            # stdin is not that: the output side still reaches the same reader.)
            self.session.negotiated = False

    def receive(self, data: bytes) -> None:
        self.inbox += data
        if not self.scheduled:
            self.scheduled = True
            self.monitor.machine.main_loop.loop.call_soon(self._run)

    def _run(self) -> None:
        self.scheduled = False
        data = bytes(self.inbox)
        self.inbox.clear()
        self.session.feed(data)
        self.chardev.accept_input()
