"""Run state: shutdown, reset and powerdown requests and the process exit status.

Devices and the UI *request* a state change (the sifive_test device, an ACPI power
button, Ctrl-A x, a QMP ``quit``); the machine's main loop notices the request and acts
on it between vCPU runs, as QEMU's main_loop_should_exit() does.  Exit statuses follow
QEMU: 0 for a guest poweroff or a user quit, the guest-chosen code for a failure
reported through the test device, 1 for an internal error.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable


class ShutdownCause(enum.Enum):
    NONE = "none"
    HOST_ERROR = "host-error"
    HOST_QMP_QUIT = "host-qmp-quit"
    HOST_QMP_SYSTEM_RESET = "host-qmp-system-reset"
    HOST_SIGNAL = "host-signal"
    HOST_UI = "host-ui"               # Ctrl-A x, closing the window
    GUEST_SHUTDOWN = "guest-shutdown"  # poweroff through a device
    GUEST_RESET = "guest-reset"
    GUEST_PANIC = "guest-panic"
    SUBSYSTEM_RESET = "subsystem-reset"


class RunState:
    """The pending requests of one machine, safe to set from any thread."""

    def __init__(self, no_reboot: bool = False) -> None:
        self.no_reboot = no_reboot
        self._lock = threading.Lock()
        self.shutdown_cause = ShutdownCause.NONE
        self.reset_cause = ShutdownCause.NONE
        self.powerdown_requested = False
        self.exit_status = 0
        self.running = False
        self._notifiers: list[Callable[[], None]] = []

    def add_notifier(self, fn: Callable[[], None]) -> None:
        """fn() runs (on the requesting thread) after every request: kick vCPUs, wake loop."""
        self._notifiers.append(fn)

    def _notify(self) -> None:
        for fn in self._notifiers:
            fn()

    def request_shutdown(self, cause: ShutdownCause, exit_status: int = 0) -> None:
        with self._lock:
            if self.shutdown_cause is ShutdownCause.NONE:
                self.shutdown_cause = cause
                self.exit_status = exit_status
        self._notify()

    def request_reset(self, cause: ShutdownCause = ShutdownCause.GUEST_RESET) -> None:
        # -no-reboot turns every guest reset into an exit, status 0 (QEMU does the same).
        if self.no_reboot and cause is not ShutdownCause.SUBSYSTEM_RESET:
            self.request_shutdown(cause, 0)
            return
        with self._lock:
            self.reset_cause = cause
        self._notify()

    def request_powerdown(self) -> None:
        """An ACPI-style power button press: the guest decides what to do."""
        with self._lock:
            self.powerdown_requested = True
        self._notify()

    def shutdown_requested(self) -> bool:
        return self.shutdown_cause is not ShutdownCause.NONE

    def reset_requested(self) -> bool:
        return self.reset_cause is not ShutdownCause.NONE

    def any_request(self) -> bool:
        return (self.shutdown_cause is not ShutdownCause.NONE
                or self.reset_cause is not ShutdownCause.NONE or self.powerdown_requested)

    def take_shutdown(self) -> ShutdownCause:
        """Withdraw a shutdown request (-no-shutdown turns a guest poweroff into a pause)."""
        with self._lock:
            cause, self.shutdown_cause = self.shutdown_cause, ShutdownCause.NONE
            self.exit_status = 0
        return cause

    def take_reset(self) -> ShutdownCause:
        with self._lock:
            cause, self.reset_cause = self.reset_cause, ShutdownCause.NONE
        return cause

    def take_powerdown(self) -> bool:
        with self._lock:
            req, self.powerdown_requested = self.powerdown_requested, False
        return req
