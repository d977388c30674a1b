"""Host signal dispositions that every thread can change at once.

A guest thread that is not the first one may install a handler and arm a timer right
after (``signal(SIGALRM, h); setitimer(...)`` from a pthread). The host must catch the
signal from that moment on, or its default action kills the emulator. Python's
``signal.signal`` works only in the main thread, which may be asleep in a futex wait.

So the main thread, once at start-up, lets Python install its own C-level handler for
each asynchronous signal and records the host's ``struct sigaction`` for the three
dispositions (default, ignore, caught by Python) as opaque bytes from libc's
sigaction(2). Afterwards any thread switches a signal between them with one
sigaction(2) call. Python's handler table keeps our function throughout, so a signal
the C-level handler catches always finds it (a default entry there would drop it).

The images are never parsed: their layout is libc's business, not ours.
"""

from __future__ import annotations

import ctypes
import signal
from collections.abc import Callable, Iterable

_IMAGE = 512  # bytes: more than any Linux libc's struct sigaction
DEFAULT, IGNORE, CATCH = 0, 1, 2

_libc = ctypes.CDLL(None, use_errno=True)
_sigaction = _libc.sigaction
_sigaction.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
_sigaction.restype = ctypes.c_int


def _current(signo: int) -> ctypes.Array:
    image = ctypes.create_string_buffer(_IMAGE)
    if _sigaction(signo, None, image) != 0:
        raise OSError(ctypes.get_errno(), f"sigaction({signo})")
    return image


class HostDispositions:
    """The host's dispositions of ``signals``, switchable from any thread."""

    def __init__(self, signals: Iterable[int],
                 handler: Callable[[int, object], None]) -> None:
        """Record the three images of each signal (call in the main thread); every
        signal is left at its default action afterwards."""
        self.inherited_ignored: set[int] = set()
        self._images: dict[int, tuple[ctypes.Array, ...]] = {}
        for signo in signals:
            if signal.getsignal(signo) == signal.SIG_IGN:
                self.inherited_ignored.add(signo)
            signal.signal(signo, signal.SIG_DFL)
            default = _current(signo)
            signal.signal(signo, signal.SIG_IGN)
            ignore = _current(signo)
            signal.signal(signo, handler)
            # Without SA_RESTART: a blocking host call the signal hits returns EINTR.
            signal.siginterrupt(signo, True)
            self._images[signo] = (default, ignore, _current(signo))
            self.set(signo, DEFAULT)

    def __contains__(self, signo: int) -> bool:
        return signo in self._images

    def set(self, signo: int, disposition: int) -> None:
        """DEFAULT, IGNORE or CATCH, in whatever thread calls this."""
        images = self._images.get(signo)
        if images is None:
            raise ValueError(f"signal {signo} is not managed here")
        if _sigaction(signo, images[disposition], None) != 0:
            raise OSError(ctypes.get_errno(), f"sigaction({signo})")
