"""QEMU's own QMP client library (qemu.qmp) against pyqemu, and the same script against
qemu-system-riscv64: both must answer with the same shapes (keys and event names).

The script is what a user of QEMU would write: negotiate, query-status, stop (STOP),
cont (RESUME), human-monitor-command "info registers", system_powerdown (POWERDOWN),
quit (SHUTDOWN) and the process exits 0.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from qemu.qmp import ExecuteError, QMPClient

from monitor.qmp_machine import PYQEMU

QEMU = shutil.which("qemu-system-riscv64")


def shape(value: object) -> object:
    """Keys and value types, recursively (values themselves differ between emulators)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


async def qmp_script(binary: str, sock: Path) -> tuple[dict, int]:
    disk = sock.with_suffix(".qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "4M"], check=True)
    cmd = [binary, "-M", "virt", "-bios", "default", "-nographic", "-serial", "null",
           "-qmp", f"unix:{sock},server=on,wait=off",
           "-drive", f"file={disk},if=none,id=hd0,format=qcow2"]
    if binary != PYQEMU:
        cmd += ["-monitor", "none"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            await asyncio.sleep(0.02)
        qmp = QMPClient("test")
        await qmp.connect(str(sock))
        got: dict = {"greeting": qmp.greeting._raw}
        got["status"] = await qmp.execute("query-status")
        got["version"] = await qmp.execute("query-version")
        got["cpus"] = await qmp.execute("query-cpus-fast")
        got["block"] = await qmp.execute("query-block")
        got["commands"] = "query-status" in {c["name"] for c in
                                              await qmp.execute("query-commands")}
        with qmp.listener() as events:
            await qmp.execute("stop")
            got["stop_event"] = await asyncio.wait_for(events.get(), 10)
            got["paused"] = await qmp.execute("query-status")
            await qmp.execute("cont")
            got["resume_event"] = await asyncio.wait_for(events.get(), 10)
            regs = await qmp.execute("human-monitor-command",
                                     {"command-line": "info registers"})
            got["registers"] = all(r in regs for r in ("pc", "mstatus", "x10/a0", "f0/ft0"))
            try:
                await qmp.execute("no-such-command")
            except ExecuteError as e:
                got["unknown"] = e.error_class
            await qmp.execute("system_powerdown")
            got["powerdown_event"] = await asyncio.wait_for(events.get(), 10)
            await qmp.execute("quit")
            got["shutdown_event"] = await asyncio.wait_for(events.get(), 10)
        try:
            await qmp.disconnect()
        except EOFError:        # the server already closed the socket after quit
            pass
        return got, proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def run_script(binary: str, sock: Path) -> tuple[dict, int]:
    return asyncio.run(asyncio.wait_for(qmp_script(binary, sock), 50))


def test_qemu_qmp_library_drives_pyqemu(tmp_path: Path) -> None:
    got, status = run_script(PYQEMU, tmp_path / "qmp.sock")
    assert status == 0
    assert got["status"] == {"status": "running", "singlestep": False, "running": True}
    assert got["paused"]["status"] == "paused" and got["paused"]["running"] is False
    assert got["stop_event"]["event"] == "STOP"
    assert set(got["stop_event"]["timestamp"]) == {"seconds", "microseconds"}
    assert got["resume_event"]["event"] == "RESUME"
    assert got["registers"] and got["commands"]
    assert got["unknown"] == "CommandNotFound"
    assert got["powerdown_event"]["event"] == "POWERDOWN"
    assert got["shutdown_event"]["event"] == "SHUTDOWN"
    assert got["shutdown_event"]["data"] == {"guest": False, "reason": "host-qmp-quit"}
    assert got["cpus"][0]["target"] == "riscv64" and got["cpus"][0]["cpu-index"] == 0


@pytest.mark.skipif(QEMU is None, reason="qemu-system-riscv64 is not installed")
def test_same_shapes_as_qemu(tmp_path: Path) -> None:
    ours, our_status = run_script(PYQEMU, tmp_path / "ours.sock")
    theirs, their_status = run_script(QEMU, tmp_path / "theirs.sock")
    assert our_status == their_status == 0
    for key in theirs:
        if key in ("version", "greeting"):
            continue
        assert shape(ours[key]) == shape(theirs[key]), key
    assert shape(ours["version"]) == shape(theirs["version"])
    assert ours["greeting"]["QMP"]["capabilities"] == theirs["greeting"]["QMP"]["capabilities"]
    assert ours["unknown"] == theirs["unknown"]
