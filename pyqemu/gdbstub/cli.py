"""The system emulators' gdb options, as QEMU spells them.

    -gdb tcp::PORT | tcp:HOST:PORT | PORT | none    wait for gdb connections there
    -s                                               shorthand for -gdb tcp::1234
    -S                                               (with a gdbstub) the vCPUs wait for gdb

The stub is created once the machine and its accelerator exist (``configure``);
errors are ValueErrors whose text is the one line the CLI prints.
"""

from __future__ import annotations

DEFAULT_DEVICE = "tcp::1234"


def device(option: str, value: str | None) -> str:
    """The gdb device an option asks for (-s has none of its own)."""
    return DEFAULT_DEVICE if option == "s" else (value or "")


def configure(machine, accel, spec: str | None, start_paused: bool) -> object | None:
    """Listen for gdb on the machine's main loop; returns the debugger or None."""
    if spec is None or spec == "none":
        return None
    from .server import AsyncGdbServer, listen, parse_port

    if not spec.startswith("tcp:") and not spec.isdigit():
        raise ValueError(f"-gdb {spec}: only tcp:[HOST]:PORT is supported")
    host, port = parse_port(spec)
    # -S is the machine's (it does not start the vCPUs until a continue, gdb's or the
    # monitor's); the debugger holds them itself only for a machine that cannot.
    hold = start_paused and not hasattr(machine, "vm_start")
    debugger = _debugger_for(machine, accel, hold)
    try:
        listener = listen(host, port)
    except OSError as e:
        accel.debug = None
        raise ValueError(f"-gdb {spec}: Failed to bind socket: {e.strerror}") from None
    loop = machine.main_loop.loop
    server = AsyncGdbServer(loop, listener, debugger, debugger.attach)
    debugger.post_stop = server.post_stop
    debugger.deliver_now = server.deliver_now
    loop.create_task(server.start())
    return debugger


def _debugger_for(machine, accel, start_paused: bool):
    name = getattr(accel, "name", "")
    if name == "tcg":
        from .tcg_system import TcgSystemDebugger

        return TcgSystemDebugger(machine, accel, start_paused)
    if name == "kvm":
        from .kvm_system import KvmSystemDebugger

        return KvmSystemDebugger(machine, accel, start_paused)
    raise ValueError(f"-gdb: the gdbstub does not support the {name} accelerator yet")
