"""SIGTERM ends the machine even when stderr, where the notice goes, is a closed pipe."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from monitor.qmp_machine import PYQEMU
from monitor.test_qmp_bad_input import RawQmp


def test_sigterm_with_stderr_closed(tmp_path: Path) -> None:
    sock = tmp_path / "qmp.sock"
    r, w = os.pipe()
    proc = subprocess.Popen([PYQEMU, "-M", "virt", "-bios", "default", "-nographic",
                             "-serial", "null", "-qmp", f"unix:{sock},server=on,wait=off"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=w)
    os.close(w)
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        c = RawQmp(str(sock))             # the machine runs: its handlers are installed
        c.negotiate()
        assert c.execute("query-status")["return"]["running"]
        c.close()
        os.close(r)                       # nobody reads stderr any more
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
