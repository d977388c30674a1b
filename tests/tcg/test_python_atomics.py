"""Atomic read-modify-writes on the Python backend stay atomic across guest threads.

Guest threads are host threads under the interpreter lock, which CPython hands over
only at calls and backward jumps. Compiled blocks do an AMO's load and store in
straight-line code; the IR interpreter that runs cold blocks loops and calls between
ops, so once a process has a second thread a block holding an AMO or SC must not be
interpreted (TCGContext.atomic; before that, interpreting it is safe and cheaper than
compiling the C library's locking code at start-up). Here the main thread runs each of
600 AMO blocks a few times alone (interpreted), a second thread starts, and both run the
same blocks at once, with a switch interval short enough that a switch inside an
interpreted AMO loses updates nearly every time.
"""

from __future__ import annotations

import struct
import sys
import threading

from pystate import state_words

from pyqemu.accel.tcg.cpu_exec import UserEngine
from pyqemu.linux_user.guest_memory import LOW, GuestMemory

CODE = LOW + 0x10000
COUNTER = LOW + 0x100
AMOADD_W = 0x00B6202F  # amoadd.w x0, a1, (a2)
RET = 0x00008067  # jalr x0, 0(ra)
N_BLOCKS, RUNS = 600, 7  # alone 2 runs, then 2 x 7: every run is one the interpreter could take


class _NoOS:
    exe_path = None


def test_amo_blocks_are_atomic_between_threads() -> None:
    mem = GuestMemory()
    for k in range(N_BLOCKS):
        mem.write(CODE + 8 * k, struct.pack("<II", AMOADD_W, RET))
    engine = UserEngine(mem, lambda addr: True, [0], _NoOS())
    cache = engine.tbc
    alone = state_words([0] * 192)
    alone[1], alone[11], alone[12] = CODE, 1, COUNTER
    for k in range(N_BLOCKS):  # one thread: the blocks are made and interpreted
        for _ in range(2):
            alone[64] = CODE + 8 * k
            cache.lookup_q(alone)(alone)
    assert mem.read_u32(COUNTER) == 2 * N_BLOCKS
    engine.thread_started()  # what the process does when a guest thread is created

    errors: list[BaseException] = []

    def thread_body() -> None:
        q = state_words([0] * 192)
        q[1], q[11], q[12] = CODE, 1, COUNTER  # ra: the return goes to block 0
        try:
            for k in range(N_BLOCKS):
                for _ in range(RUNS):
                    q[64] = CODE + 8 * k
                    cache.lookup_q(q)(q)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=thread_body) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors, errors[0]
    assert mem.read_u32(COUNTER) == 2 * N_BLOCKS + 2 * N_BLOCKS * RUNS
