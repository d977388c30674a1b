"""The Machine main loop with the virt board: shutdown, reset and Ctrl-A x.

The vCPUs are the one allowed test double: a scripted "accelerator" whose harts
record interrupts and whose single thread performs the guest's MMIO accesses, so the
real board, devices, chardevs, main loop and run state are exercised end to end.
"""

import os
import threading

from harts import RecordingHart

from pyqemu.chardev import FdChardev, MuxChardev
from pyqemu.hw.core.machine import MachineConfig
from pyqemu.hw.riscv.virt import RiscvVirt
from pyqemu.sysemu import ShutdownCause

UART = 0x1000_0000
TEST = 0x10_0000


class ScriptedAccel:
    """Creates recording harts; each start() runs the next guest script in a thread."""

    name = "scripted"

    def __init__(self, *scripts):
        self.scripts = list(scripts)
        self.events = []
        self.thread = None

    def init_machine(self, machine):
        self.machine = machine
        machine.attach_cpus([RecordingHart(i) for i in range(machine.smp)])

    def reset_cpus(self):
        self.events.append("reset_cpus")

    def start(self):
        self.events.append("start")
        if self.scripts:
            script = self.scripts.pop(0)
            self.thread = threading.Thread(target=script, args=(self.machine.sysmem,))
            self.thread.start()

    def pause(self):
        self.events.append("pause")
        if self.thread is not None:
            self.thread.join()

    def stop(self):
        self.events.append("stop")
        if self.thread is not None:
            self.thread.join()


def board(serial=None, **kw):
    cfg = MachineConfig(type="virt", ram_size=64 << 20, bios="none",
                        serials=[serial] if serial else [], **kw)
    return RiscvVirt(cfg)


def guest_prints_and_exits(text, command):
    def script(mem):
        for b in text:
            mem.store(UART, 1, b)
        mem.store(TEST, 4, command)
    return script


def test_poweroff_exit_status_and_console_output():
    r, w = os.pipe()
    m = board(FdChardev("serial0", None, w))
    accel = ScriptedAccel(guest_prints_and_exits(b"bye\r\n", 0x5555))
    assert m.run(accel) == 0
    assert os.read(r, 100) == b"bye\r\n"
    assert accel.events == ["reset_cpus", "start", "stop"]


def test_fail_code_is_the_exit_status():
    m = board()
    assert m.run(ScriptedAccel(guest_prints_and_exits(b"", 0x3333 | 7 << 16))) == 7


def test_reboot_resets_devices_and_cpus_then_runs_again():
    def first(mem):
        mem.store(UART + 7, 1, 0x42)          # UART scratch register
        mem.store(TEST, 4, 0x7777)

    seen = []

    def second(mem):
        seen.append(mem.load(UART + 7, 1))    # reset cleared it
        seen.append(mem.load(0x1000, 4))      # the boot ROM was rewritten
        mem.store(TEST, 4, 0x5555)

    m = board()
    accel = ScriptedAccel(first, second)
    assert m.run(accel) == 0
    assert accel.events == ["reset_cpus", "start", "pause", "reset_cpus", "start", "stop"]
    assert seen == [0, 0x00000297]


def test_no_reboot_turns_reset_into_exit():
    m = board(no_reboot=True)
    accel = ScriptedAccel(guest_prints_and_exits(b"", 0x7777))
    assert m.run(accel) == 0
    assert accel.events.count("start") == 1


def test_ctrl_a_x_quits():
    r_in, w_in = os.pipe()
    r_out, w_out = os.pipe()
    holder = {}
    mux = MuxChardev("serial0", FdChardev("stdio", r_in, w_out),
                     on_quit=lambda: holder["m"].runstate.request_shutdown(
                         ShutdownCause.HOST_UI, 0))
    m = board(mux)
    holder["m"] = m
    os.write(w_in, b"ab\x01x")
    assert m.run(ScriptedAccel()) == 0
    # The UART (FIFO off) holds "a"; "b" waits in the chardev; Ctrl-A x never reaches it.
    assert m.uart.rx_fifo_list == [ord("a")]
    assert b"QEMU: Terminated" in os.read(r_out, 100)


def test_uart_interrupt_reaches_the_hart_through_the_plic():
    r_in, w_in = os.pipe()
    done = threading.Event()

    def script(mem):
        mem.store(0x0C00_0000 + 4 * 10, 4, 1)            # UART source priority 1
        mem.store(0x0C00_2080, 4, 1 << 10)               # enable for hart 0 S-mode
        mem.store(UART + 1, 1, 0x01)                     # IER: received data
        done.wait(5)
        mem.store(TEST, 4, 0x5555)

    m = board(FdChardev("serial0", r_in, None))
    accel = ScriptedAccel(script)
    os.write(w_in, b"k")

    def watch():
        # Runs in the main loop via a timer-free poll: the hart sees SEIP.
        hart = m.cpus[0]
        if hart.pending(9):
            done.set()
        else:
            m.main_loop.loop.call_later(0.01, watch)

    m.main_loop.loop.call_soon(watch)
    assert m.run(accel) == 0
    assert done.is_set()
