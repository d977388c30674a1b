"""ACLINT (CLINT layout): msip, mtimecmp/mtime at 10 MHz, timers on the real main loop."""

import time

import pytest
from harts import RecordingHart

from pyqemu.hw.intc.aclint import MIP_MSIP, MIP_MTIP, Aclint
from pyqemu.memory import AddressSpace
from pyqemu.sysemu import MainLoop

BASE = 0x0200_0000


@pytest.fixture
def rig():
    ml = MainLoop()
    harts = [RecordingHart(i) for i in range(2)]
    clint = Aclint(2, ml, harts=harts)
    a = AddressSpace()
    a.map_mmio(BASE, clint.size, clint, "clint")
    yield clint, a, harts, ml
    ml.close()


def test_msip(rig):
    clint, a, harts, _ = rig
    a.store(BASE + 4, 4, 0xFFFF_FFFF)
    assert harts[1].pending(MIP_MSIP) and not harts[0].pending(MIP_MSIP)
    assert a.load(BASE + 4, 4) == 1
    assert harts[1].kicks == 1
    a.store(BASE + 4, 4, 0)
    assert not harts[1].pending(MIP_MSIP)


def test_mtime_counts_at_10mhz(rig):
    clint, a, _, _ = rig
    t0 = a.load(BASE + 0xBFF8, 8)
    time.sleep(0.05)
    t1 = a.load(BASE + 0xBFF8, 8)
    assert 400_000 <= t1 - t0 <= 2_000_000
    a.store(BASE + 0xBFF8, 8, 1 << 40)
    assert (1 << 40) <= a.load(BASE + 0xBFF8, 8) < (1 << 40) + 1_000_000
    assert a.load(BASE + 0xBFFC, 4) == 1 << 8     # 32-bit high half


def test_timer_fires_on_main_loop(rig):
    clint, a, harts, ml = rig
    now = a.load(BASE + 0xBFF8, 8)
    a.store(BASE + 0x4000, 8, now + 200_000)      # 20 ms ahead
    assert not harts[0].pending(MIP_MTIP)
    end = time.monotonic() + 2
    while not harts[0].pending(MIP_MTIP) and time.monotonic() < end:
        ml.run_briefly(0.005)
    assert harts[0].pending(MIP_MTIP) and harts[0].kicks >= 1
    assert a.load(BASE + 0xBFF8, 8) >= now + 200_000
    assert not harts[1].pending(MIP_MTIP)
    # Moving the compare into the future lowers MTIP, via 32-bit halves too.
    a.store(BASE + 0x4004, 4, 0xFFFF_FFFF)
    assert not harts[0].pending(MIP_MTIP)
    a.store(BASE + 0x4000, 4, 0)
    a.store(BASE + 0x4004, 4, 0)
    assert harts[0].pending(MIP_MTIP)             # compare 0: already passed


def test_reset_and_bad_accesses(rig):
    clint, a, harts, _ = rig
    a.store(BASE + 0x4008, 8, 0)
    assert harts[1].pending(MIP_MTIP)
    clint.reset()
    assert not harts[1].pending(MIP_MTIP)
    assert a.load(BASE + 0x4008, 8) == (1 << 64) - 1
    for off, size in ((0x1, 1), (0x8, 4), (0x4010, 8), (0x7FF0, 4), (0xBFF9, 2), (0x4002, 4)):
        a.store(BASE + off, size, 0xFFFF_FFFF)
        assert a.load(BASE + off, size) == 0
