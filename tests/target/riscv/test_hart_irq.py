"""Interrupt lines raised and lowered from several device threads at once: no change to
one line may be lost to another's (hart.set_interrupt is a read-modify-write of the
state word generated code reads)."""

from __future__ import annotations

import sys
import threading
import time

from pyqemu.target.riscv.hart import RiscvSystemHart


def test_a_line_raised_while_others_toggle_stays_raised():
    hart = RiscvSystemHart(0)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    stop = threading.Event()
    steady = (7, 9, 11, 13, 15, 17, 19, 21)
    try:
        def toggle(bit: int) -> None:
            k = 0
            while not stop.is_set():
                hart.set_interrupt(bit, k % 2 == 0)
                k += 1
            hart.set_interrupt(bit, False)

        threads = [threading.Thread(target=toggle, args=(bit,)) for bit in (1, 3, 5)]
        for th in threads:
            th.start()
        for bit in steady:  # raised once each, while the others change
            time.sleep(0.02)
            hart.set_interrupt(bit, True)
        time.sleep(0.02)
        stop.set()
        for th in threads:
            th.join()
    finally:
        sys.setswitchinterval(old)
    assert hart.hw_mip == sum(1 << b for b in steady)
