"""Crash consistency: SIGKILL a writer at random moments, 100 times.

After every kill `qemu-img check` must find no corruption (leaks are allowed and are
repaired with -r leaks), and every write covered by a completed flush must be there.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from pyqemu.block.chain import open_image
from pyqemu.block.img.util import parse_opts, qcow2_options
from pyqemu.block.qcow2.create import create_qcow2

sys.path.insert(0, str(Path(__file__).parent))
from crash_writer import SIZE, WRITES_PER_FLUSH, write_op  # noqa: E402

KILLS = 100


def _apply(state: bytearray, mask: bytearray, seed: int, lo: int, hi: int, unknown: bool) -> None:
    for i in range(lo, hi):
        off, data = write_op(seed, i)
        if unknown:
            mask[off:off + len(data)] = b"\1" * len(data)
        else:
            state[off:off + len(data)] = data


def test_sigkill_during_writes(tools):
    img = tools.path("crash.qcow2")
    create_qcow2(img, SIZE, qcow2_options(parse_opts("cluster_size=4k")))
    rnd = random.Random(1234)
    state = bytearray(SIZE)
    done = 0
    writer = str(Path(__file__).with_name("crash_writer.py"))
    for k in range(KILLS):
        seed = k
        p = subprocess.Popen([sys.executable, writer, img, str(seed), "0"],
                             stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready"
        time.sleep(rnd.random() * 0.05)
        p.send_signal(signal.SIGKILL)
        out = p.stdout.read().split()
        p.wait()
        p.stdout.close()
        acked = int(out[-1]) if out else 0
        chk = tools.qemu("check", img, check=False)
        assert chk.returncode in (0, 3), chk.stdout + chk.stderr
        assert "ERROR" not in chk.stderr
        if chk.returncode == 3:
            tools.qemu("check", "-r", "leaks", img)
            tools.qemu_check_clean(img)
        # writes after the last acknowledged flush may or may not have landed
        mask = bytearray(SIZE)
        _apply(state, mask, seed, 0, acked, unknown=False)
        _apply(state, mask, seed, acked, acked + 2 * WRITES_PER_FLUSH + 1, unknown=True)
        with open_image(img) as d:
            got = d.read(0, SIZE)
        for off in range(0, SIZE, 4096):
            if 1 in mask[off:off + 4096]:
                m = mask[off:off + 4096]
                g = got[off:off + 4096]
                s = state[off:off + 4096]
                assert all(m[j] or g[j] == s[j] for j in range(4096)), f"kill {k}: offset {off}"
            else:
                assert got[off:off + 4096] == state[off:off + 4096], f"kill {k}: offset {off}"
        state[:] = got        # the image's real content is the next round's baseline
        done += acked
    assert done > 0
    os.unlink(img)
