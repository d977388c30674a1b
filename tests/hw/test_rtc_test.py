"""goldfish RTC and the sifive test finisher."""

import time

from pyqemu.hw.irq import IrqLine
from pyqemu.hw.misc.sifive_test import SifiveTest
from pyqemu.hw.rtc.goldfish_rtc import GoldfishRtc
from pyqemu.memory import AddressSpace
from pyqemu.sysemu import MainLoop, RunState, ShutdownCause

RTC = 0x101000


def rtc_rig():
    ml = MainLoop()
    irq = IrqLine()
    rtc = GoldfishRtc(irq, ml)
    a = AddressSpace()
    a.map_mmio(RTC, rtc.size, rtc, "rtc")
    return ml, irq, rtc, a


def read_time(a):
    lo = a.load(RTC, 4)
    return a.load(RTC + 4, 4) << 32 | lo


def test_rtc_reads_wall_clock_and_can_be_set():
    ml, irq, rtc, a = rtc_rig()
    assert abs(read_time(a) - time.time_ns()) < 1_000_000_000
    target = 946684800 * 10**9          # 2000-01-01
    a.store(RTC + 4, 4, target >> 32)
    a.store(RTC, 4, target & 0xFFFFFFFF)
    assert 0 <= read_time(a) - target < 1_000_000_000
    ml.close()


def test_rtc_alarm_interrupt():
    ml, irq, rtc, a = rtc_rig()
    due = read_time(a) + 20_000_000
    a.store(RTC + 0x10, 4, 1)
    a.store(RTC + 0x0C, 4, due >> 32)
    a.store(RTC + 0x08, 4, due & 0xFFFFFFFF)
    assert a.load(RTC + 0x18, 4) == 1 and not irq.level
    end = time.monotonic() + 2
    while not irq.level and time.monotonic() < end:
        ml.run_briefly(0.005)
    assert irq.level and a.load(RTC + 0x18, 4) == 0
    a.store(RTC + 0x1C, 4, 1)
    assert not irq.level
    a.store(RTC + 0x3, 1, 0xFF)          # odd accesses are ignored
    assert a.load(RTC + 0x100, 4) == 0
    ml.close()


def test_sifive_test_finisher():
    for value, cause, status in ((0x5555, ShutdownCause.GUEST_SHUTDOWN, 0),
                                 (0x3333 | 42 << 16, ShutdownCause.GUEST_SHUTDOWN, 42)):
        rs = RunState()
        t = SifiveTest(rs)
        t.write(0, 4, value)
        assert rs.shutdown_cause is cause and rs.exit_status == status
    rs = RunState()
    t = SifiveTest(rs)
    t.write(0, 4, 0x7777)
    assert rs.reset_requested() and not rs.shutdown_requested()
    t.write(0, 4, 0x1234)                # unknown: ignored
    t.write(4, 4, 0x5555)                # wrong offset: ignored
    assert not rs.shutdown_requested() and t.read(0, 4) == 0
    rs = RunState()
    SifiveTest(rs).write(0, 2, 0x5555)       # OpenSBI's 16-bit store
    assert rs.shutdown_requested() and rs.exit_status == 0
    rs = RunState()
    SifiveTest(rs).write(0, 1, 0x55)         # a byte is not a command
    assert not rs.any_request()
    rs = RunState(no_reboot=True)
    SifiveTest(rs).write(0, 4, 0x7777)
    assert rs.shutdown_requested() and rs.exit_status == 0
