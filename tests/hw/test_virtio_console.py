"""virtio-console over a real pipe chardev and the main loop."""

import os
import time

from test_virtio import rig

from pyqemu.chardev import FdChardev
from pyqemu.hw.virtio.virtio_console import VirtioConsole
from pyqemu.sysemu import MainLoop


def test_console_both_directions():
    r_in, w_in = os.pipe()
    r_out, w_out = os.pipe()
    ml = MainLoop()
    ch = FdChardev("c0", r_in, w_out)
    dev = VirtioConsole(ch)
    mem, slot, irq, drv = rig(dev)
    ch.open(ml)
    assert drv.r(0x8) == 3
    assert drv.init(queues=(0, 1), qsize=16)
    # guest -> host
    buf = drv.alloc(16)
    mem.write(buf, b"hello hvc0\n")
    drv.submit_chain(1, [(buf, 11, False)])
    assert os.read(r_out, 100) == b"hello hvc0\n"
    assert drv.used(1) == [(0, 0)]
    # host -> guest: input waits until the driver posts receive buffers
    os.write(w_in, b"typed")
    ml.run_briefly(0.05)
    rx = drv.alloc(64)
    drv.submit_chain(0, [(rx, 64, True)])
    end = time.monotonic() + 2
    got = []
    while not got and time.monotonic() < end:
        ml.run_briefly(0.01)
        got = drv.used(0)
    assert got == [(0, 5)] and mem.read(rx, 5) == b"typed"
    # emergency write through the config space
    drv.w(0x100 + 8, ord("!"))
    assert os.read(r_out, 10) == b"!"
    ch.close()
    ml.close()
