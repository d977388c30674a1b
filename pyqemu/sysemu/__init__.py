"""System emulation runtime shared by every board: the main loop and the run state."""

from pyqemu.sysemu.main_loop import MainLoop, Timer, clock_ns
from pyqemu.sysemu.runstate import RunState, ShutdownCause

__all__ = ["MainLoop", "RunState", "ShutdownCause", "Timer", "clock_ns"]
