"""The main loop: asyncio on the main thread, the machine lock, and host-clock timers.

DESIGN.md section 1 "Threads": one main thread runs an asyncio event loop (chardevs,
monitor, network, timers); vCPUs run in other threads.  Everything that touches
device state from the loop side holds :attr:`MainLoop.bql` (QEMU's Big QEMU Lock); a
vCPU thread holds it while it is inside a device (MMIO) too.  Work a vCPU thread hands
to the loop goes through :meth:`MainLoop.call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable


def clock_ns() -> int:
    """The host monotonic clock every timer deadline is expressed in."""
    return time.monotonic_ns()


class MainLoop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.bql = threading.RLock()
        self.thread: threading.Thread | None = None   # the thread running the loop
        self._stop_requested = False
        self._wakeup: asyncio.Event | None = None

    # --- scheduling ------------------------------------------------------------
    def in_loop_thread(self) -> bool:
        return self.thread is None or threading.current_thread() is self.thread

    def call_soon_threadsafe(self, fn: Callable, *args: object) -> None:
        if self.loop.is_closed():
            return
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:   # loop closed during shutdown: nothing left to notify
            pass

    def call_locked(self, fn: Callable, *args: object) -> None:
        """Run fn(*args) under the BQL (used for callbacks that touch devices)."""
        with self.bql:
            fn(*args)

    def add_reader(self, fd: int, callback: Callable[[], None]) -> None:
        self.loop.add_reader(fd, callback)

    def remove_reader(self, fd: int) -> None:
        if not self.loop.is_closed():
            self.loop.remove_reader(fd)

    # --- running -----------------------------------------------------------------
    def run(self, until: Callable[[], bool], poll_s: float = 0.05) -> None:
        """Run the loop on this thread until until() is true (checked after each wake)."""
        self.thread = threading.current_thread()
        self._stop_requested = False

        async def waiter() -> None:
            self._wakeup = wakeup = asyncio.Event()
            while not until() and not self._stop_requested:
                wakeup.clear()
                try:
                    await asyncio.wait_for(wakeup.wait(), poll_s)
                except TimeoutError:
                    pass

        try:
            self.loop.run_until_complete(waiter())
        finally:
            self._wakeup = None

    def wake(self) -> None:
        """Make run() re-check its condition at once (from any thread)."""
        self.call_soon_threadsafe(self._set_wakeup)

    def _set_wakeup(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    def stop(self) -> None:
        self._stop_requested = True
        self.wake()

    def run_briefly(self, seconds: float = 0.0) -> None:
        """Process pending callbacks and I/O for about `seconds` (tests, shutdown)."""
        self.loop.run_until_complete(asyncio.sleep(seconds))

    def close(self) -> None:
        if not self.loop.is_closed():
            self.loop.close()


class Timer:
    """A one-shot timer on the host monotonic clock whose callback runs on the loop.

    :meth:`mod` and :meth:`cancel` may be called from any thread (a vCPU writing
    ``mtimecmp``); the callback always runs on the main loop thread, under the BQL.

    ``deadline_ns`` is the truth; the loop's timer handle may be armed earlier than
    it (the handle then re-arms for the deadline when it fires) but never later. So a
    later deadline, or a cancel, needs no message to the loop: guests re-program timers
    constantly (Linux writes the comparator at every tick), and waking the loop thread
    for each write was a few percent of a boot.
    """

    def __init__(self, main_loop: MainLoop, callback: Callable[[], None]) -> None:
        self.main_loop = main_loop
        self.callback = callback
        self.deadline_ns: int | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._armed_ns: int | None = None  # when the handle fires (loop thread's)
        self._queued = False  # an _update is on its way to the loop
        self._lock = threading.Lock()  # deadline, armed and queued change together

    def mod(self, deadline_ns: int) -> None:
        """(Re)arm for the given clock_ns() deadline; past deadlines fire at once."""
        with self._lock:
            self.deadline_ns = deadline_ns
            armed = self._armed_ns
            if (armed is not None and armed <= deadline_ns) or self._queued:
                return  # the handle fires first and re-arms, or the loop looks soon
            self._queued = True
        self.main_loop.call_soon_threadsafe(self._update)

    def cancel(self) -> None:
        with self._lock:
            self.deadline_ns = None  # an armed handle finds nothing to do

    def pending(self) -> bool:
        return self.deadline_ns is not None

    def _disarm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._armed_ns = None

    def _update(self) -> None:
        with self._lock:
            self._queued = False
            deadline = self.deadline_ns
            if deadline is None:
                return
            armed = self._armed_ns
            if armed is None or deadline < armed:
                self._arm(deadline)

    def _arm(self, deadline_ns: int) -> None:
        self._disarm()
        loop = self.main_loop.loop
        delay = max(0.0, (deadline_ns - clock_ns()) / 1e9)
        self._handle = loop.call_later(delay, self._fire)
        self._armed_ns = deadline_ns

    def _fire(self) -> None:
        with self._lock:
            self._handle = None
            self._armed_ns = None
            deadline = self.deadline_ns
            if deadline is None:
                return
            # A later deadline than the one armed, or asyncio woke a little early
            # relative to our clock: arm again.
            if clock_ns() < deadline:
                self._arm(deadline)
                return
            self.deadline_ns = None
        with self.main_loop.bql:
            self.callback()
