"""The whole-machine state stream that savevm writes and loadvm reads.

This is pyqemu's own format, not QEMU's migration stream (the two machines do not
have the same device models, so QEMU's could not be produced or consumed):

    magic "PYQEMUVM", u32 version
    sections: u32 name length, name (utf-8), u64 data length, data
      "machine"          JSON: board type, RAM size, CPU count, accelerator
      "ram:NAME"         u64 size, then zlib stream of the block's bytes
      "cpu:N"            TCG: u32 length + the hart's flat state buffer, then JSON extras;
                         KVM: JSON of the vCPU's kernel state (kvm_state.py)
      "accel:kvm"        JSON: in-kernel irqchip, PIT and clock (KVM only)
      "device:N:TYPE"    JSON of the fields the device declares in ``vmstate``
    "end" section

Everything is read back with bounds checks: a truncated or crafted stream is a
MigrationError naming what was wrong, never a partial write past a buffer.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import TYPE_CHECKING, Any

from pyqemu.migration.errors import MigrationError
from pyqemu.migration.vmstate_codec import VmstateError, check_shape, decode_state, encode_state

if TYPE_CHECKING:
    from pyqemu.hw.core.machine import Machine

MAGIC = b"PYQEMUVM"
VERSION = 1
CHUNK = 4 << 20


def ram_blocks(machine: Machine) -> list[Any]:
    seen: dict[str, Any] = {}
    for s in machine.sysmem.sections:
        if s.ram is not None and s.ram.name not in seen:
            seen[s.ram.name] = s.ram
    return list(seen.values())


def _section(name: str, data: bytes) -> bytes:
    nb = name.encode()
    return struct.pack("<I", len(nb)) + nb + struct.pack("<Q", len(data)) + data


def _ram_bytes(block: Any) -> bytes:
    comp = zlib.compressobj(1)
    out = [struct.pack("<Q", block.size)]
    view = block.view
    for off in range(0, block.size, CHUNK):
        out.append(comp.compress(view[off:off + CHUNK]))
    out.append(comp.flush())
    return b"".join(out)


def _cpu_bytes(cpu: Any) -> bytes:
    raw = bytes(cpu.q.cast("B"))
    extras = json.dumps({"waiting": bool(getattr(cpu, "waiting", False))}).encode()
    return struct.pack("<I", len(raw)) + raw + extras


def save_state(machine: Machine) -> bytes:
    """The state of a paused machine (caller holds the BQL, vCPUs stopped)."""
    accel = getattr(machine.accel, "name", "")
    if accel not in ("tcg", "kvm"):
        raise MigrationError(f"savevm is not supported with the {accel} accelerator")
    for dev in machine.devices:
        why = getattr(dev, "vmstate_unsupported", None)
        if why:
            raise MigrationError(f"State blocked by non-migratable device "
                                 f"'{dev.type_name}': {why}")
    info = {"type": machine.type_name, "ram_size": machine.ram_size, "smp": len(machine.cpus),
            "accel": accel}
    parts = [MAGIC, struct.pack("<I", VERSION), _section("machine", json.dumps(info).encode())]
    for block in ram_blocks(machine):
        parts.append(_section(f"ram:{block.name}", _ram_bytes(block)))
    if accel == "kvm":
        from pyqemu.migration import kvm_state

        parts.append(_section("accel:kvm", encode_state(kvm_state.save_vm(machine.accel))))
        for i in range(len(machine.cpus)):
            parts.append(_section(f"cpu:{i}",
                                  encode_state(kvm_state.save_cpu(machine.accel, i))))
    else:
        for i, cpu in enumerate(machine.cpus):
            parts.append(_section(f"cpu:{i}", _cpu_bytes(cpu)))
    for i, dev in enumerate(machine.devices):
        try:
            parts.append(_section(f"device:{i}:{dev.type_name}", encode_state(dev.save_state())))
        except VmstateError as e:
            raise MigrationError(f"device {dev.type_name}: {e}") from None
    parts.append(_section("end", b""))
    return b"".join(parts)


def parse_sections(data: bytes) -> dict[str, bytes]:
    if data[:8] != MAGIC:
        raise MigrationError("the snapshot has no pyqemu VM state (was it saved by QEMU?)")
    if len(data) < 12:
        raise MigrationError("VM state is truncated")
    (version,) = struct.unpack_from("<I", data, 8)
    if version != VERSION:
        raise MigrationError(f"VM state version {version} is not supported")
    pos = 12
    out: dict[str, bytes] = {}
    while True:
        if pos + 4 > len(data):
            raise MigrationError("VM state is truncated")
        (nlen,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if nlen > 256 or pos + nlen + 8 > len(data):
            raise MigrationError("VM state section header is invalid")
        name = data[pos:pos + nlen].decode("utf-8", "replace")
        pos += nlen
        (dlen,) = struct.unpack_from("<Q", data, pos)
        pos += 8
        if pos + dlen > len(data):
            raise MigrationError(f"VM state section '{name}' is truncated")
        if name == "end":
            return out
        out[name] = data[pos:pos + dlen]
        pos += dlen


def _load_ram(block: Any, data: bytes) -> None:
    if len(data) < 8 or struct.unpack_from("<Q", data)[0] != block.size:
        raise MigrationError(f"RAM block {block.name} has a different size")
    d = zlib.decompressobj()
    off = 0
    src = memoryview(data)[8:]
    view = block.view
    try:
        while off < block.size:
            # max_length bounds every step: a zlib bomb cannot grow past the block.
            piece = d.decompress(src, min(CHUNK, block.size - off))
            src = memoryview(d.unconsumed_tail)
            if not piece:
                break
            view[off:off + len(piece)] = piece
            off += len(piece)
    except zlib.error as e:
        raise MigrationError(f"RAM block {block.name} is corrupt: {e}") from None
    if off != block.size:
        raise MigrationError(f"RAM block {block.name} is truncated")
    try:
        # The stream's end marker may still be unread: it must yield no more bytes.
        extra = d.decompress(src, 1) if src and not d.eof else b""
    except zlib.error as e:
        raise MigrationError(f"RAM block {block.name} is corrupt: {e}") from None
    if extra or not d.eof:
        raise MigrationError(f"RAM block {block.name} holds more data than the block")


def _load_cpu(cpu: Any, data: bytes, index: int) -> None:
    target = cpu.q.cast("B")
    if len(data) < 4:
        raise MigrationError(f"CPU {index} state is truncated")
    (n,) = struct.unpack_from("<I", data)
    if n != len(target) or len(data) < 4 + n:
        raise MigrationError(f"CPU {index} state has a different layout")
    try:
        extras = json.loads(data[4 + n:].decode() or "{}")
    except (ValueError, UnicodeDecodeError):
        raise MigrationError(f"CPU {index} state is corrupt") from None
    target[:] = data[4:4 + n]
    if hasattr(cpu, "waiting"):
        cpu.waiting = bool(extras.get("waiting", False))


def _load_device(dev: Any, data: bytes) -> None:
    state = decode_state(data)
    variable = getattr(dev, "vmstate_variable", ())
    checked = {}
    for name in dev.vmstate:
        if name not in state:
            raise VmstateError(f"field '{name}' is missing")
        checked[name] = check_shape(name, getattr(dev, name), state[name],
                                    fixed_len=name not in variable)
    dev.load_state(checked)
    post = getattr(dev, "post_load", None)
    if post is not None:
        post()


def load_state(machine: Machine, data: bytes) -> None:
    """Restore a paused machine from save_state() bytes (BQL held, vCPUs stopped).

    Everything is validated before anything is written, except RAM and device fields
    that fail mid-way; those leave the machine in a state only a reset or another
    loadvm should follow, which the error says."""
    sections = parse_sections(data)
    try:
        info = json.loads(sections.get("machine", b"{}").decode())
    except (ValueError, UnicodeDecodeError):
        raise MigrationError("VM state machine section is corrupt") from None
    if info.get("type") != machine.type_name or info.get("smp") != len(machine.cpus) \
            or info.get("ram_size") != machine.ram_size:
        raise MigrationError(f"the snapshot is of a different machine ({info.get('type')}, "
                             f"{info.get('smp')} CPUs, {info.get('ram_size')} bytes of RAM)")
    accel = getattr(machine.accel, "name", "")
    if info.get("accel") != accel:
        raise MigrationError(f"the snapshot was saved under -accel {info.get('accel')}, "
                             f"this machine runs -accel {accel}")
    if accel == "kvm" and "accel:kvm" not in sections:
        raise MigrationError("the KVM state is missing from the snapshot")
    blocks = ram_blocks(machine)
    for block in blocks:
        if f"ram:{block.name}" not in sections:
            raise MigrationError(f"RAM block {block.name} is missing from the snapshot")
    for i in range(len(machine.cpus)):
        if f"cpu:{i}" not in sections:
            raise MigrationError(f"CPU {i} is missing from the snapshot")
    for i, dev in enumerate(machine.devices):
        if f"device:{i}:{dev.type_name}" not in sections:
            raise MigrationError(f"device {dev.type_name} is missing from the snapshot")
    for block in blocks:
        _load_ram(block, sections[f"ram:{block.name}"])
    if accel == "kvm":
        from pyqemu.migration import kvm_state

        try:
            vm_state = decode_state(sections["accel:kvm"])
            cpu_states = [decode_state(sections[f"cpu:{i}"]) for i in range(len(machine.cpus))]
        except VmstateError as e:
            raise MigrationError(f"KVM state: {e}") from None
        kvm_state.load_vm(machine.accel, vm_state)
        for i, st in enumerate(cpu_states):
            kvm_state.load_cpu(machine.accel, i, st)
    else:
        for i, cpu in enumerate(machine.cpus):
            _load_cpu(cpu, sections[f"cpu:{i}"], i)
    for i, dev in enumerate(machine.devices):
        try:
            _load_device(dev, sections[f"device:{i}:{dev.type_name}"])
        except VmstateError as e:
            raise MigrationError(f"device {dev.type_name}: {e}") from None
