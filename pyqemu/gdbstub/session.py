"""One gdb connection: the remote protocol's commands on top of a DebugTarget.

The session is transport-free: the server feeds it the bytes it reads and gives it a
``send`` function. gdb runs in all-stop mode: while the target runs, the only thing it
may send is an interrupt (0x03); the target reports its next stop with ``on_stop``,
which sends the stop reply gdb is waiting for. Requests the target cannot satisfy get
``Exx``; requests we do not know get the empty reply, which tells gdb "unsupported".
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .packets import PACKET_SIZE, Ack, BadPacket, Interrupt, Packet, PacketReader, frame, unescape
from .target import GDB_SIGTRAP, DebugError, DebugTarget, StopEvent

_ZPACKET = re.compile(rb"^([zZ])([0-4]),([0-9a-fA-F]+),([0-9a-fA-F]+)(;.*)?$")
_MEM = re.compile(rb"^([0-9a-fA-F]+),([0-9a-fA-F]+)$")


class GdbSession:
    def __init__(self, target: DebugTarget, send: Callable[[bytes], None],
                 close: Callable[[], None]) -> None:
        self.target = target
        self._send = send
        self._close = close
        self.reader = PacketReader()
        self.ack_mode = True
        self.last_sent = b""
        self.running = False
        self.closed = False
        self.last_stop = StopEvent("signal", GDB_SIGTRAP, self._first_thread())
        self.g_thread = self.last_stop.tid  # Hg: registers and memory
        self.c_thread = self.last_stop.tid  # Hc: the thread s/c act on

    def _first_thread(self) -> int:
        threads = self.target.threads()
        return threads[0] if threads else 1

    # ------------------------------------------------------------ transport
    def feed(self, data: bytes) -> None:
        for ev in self.reader.feed(data):
            if self.closed:
                return
            if isinstance(ev, Packet):
                if self.ack_mode:
                    self._send(b"+")
                self._dispatch(ev.data)
            elif isinstance(ev, BadPacket):
                if self.ack_mode:
                    self._send(b"-")  # gdb resends the packet
            elif isinstance(ev, Interrupt):
                if self.running:
                    self.target.interrupt()
            elif isinstance(ev, Ack) and not ev.good and self.ack_mode and self.last_sent:
                self._send(self.last_sent)

    def reply(self, text: str | bytes) -> None:
        data = text.encode() if isinstance(text, str) else text
        self.last_sent = frame(data)
        self._send(self.last_sent)

    def on_stop(self, ev: StopEvent) -> None:
        """The target stopped (or ended): the stop reply gdb waits for after c/s."""
        self.last_stop = ev
        if ev.kind == "signal":
            self.g_thread = self.c_thread = ev.tid
        if self.running and not self.closed:
            self.running = False
            self.reply(ev.reply())

    def disconnected(self) -> None:
        """The connection is gone (D, k, or gdb vanished): the target runs on freely."""
        if not self.closed:
            self.closed = True
            self.target.detach()

    # ------------------------------------------------------------ commands
    def _dispatch(self, pkt: bytes) -> None:
        if self.running:
            self.reply("E01")  # all-stop: nothing but an interrupt while running
            return
        try:
            out = self._command(pkt)
        except DebugError as e:
            out = f"E{e.errno & 0xFF:02x}"
        except (ValueError, IndexError):
            out = "E01"  # malformed arguments
        except Exception as e:  # noqa: BLE001 - a bug of ours must not end the stub
            import sys

            print(f"gdbstub: internal error on {pkt[:40]!r}: {type(e).__name__}: {e}",
                  file=sys.stderr)
            out = "E01"
        if out is not None:
            self.reply(out)

    def _command(self, pkt: bytes) -> str | bytes | None:
        if not pkt:
            return ""
        c = chr(pkt[0])
        args = pkt[1:]
        t = self.target
        if c == "?":
            return self.last_stop.reply()
        if c == "g":
            return t.read_registers(self.g_thread).hex()
        if c == "G":
            t.write_registers(self.g_thread, bytes.fromhex(args.decode()))
            return "OK"
        if c == "p":
            val = t.read_register(self.g_thread, int(args, 16))
            return "E45" if val is None else val.hex()
        if c == "P":
            num, _, val = args.partition(b"=")
            ok = t.write_register(self.g_thread, int(num, 16), bytes.fromhex(val.decode()))
            return "OK" if ok else "E45"
        if c == "m":
            addr, length = self._addr_len(args)
            return t.read_memory(self.g_thread, addr, min(length, PACKET_SIZE // 2 - 8)).hex()
        if c == "M":
            where, _, hexdata = args.partition(b":")
            addr, length = self._addr_len(where)
            data = bytes.fromhex(hexdata.decode())
            if len(data) != length:
                return "E01"
            t.write_memory(self.g_thread, addr, data)
            return "OK"
        if c == "X":
            where, sep, bindata = args.partition(b":")
            addr, length = self._addr_len(where)
            data = unescape(bindata)
            if not sep or len(data) != length:
                return "E01"
            if length:
                t.write_memory(self.g_thread, addr, data)
            return "OK"
        if c in "cCsS":
            return self._resume_simple(c, args)
        if c in "zZ":
            return self._point(pkt)
        if c == "H":
            return self._set_thread(args)
        if c == "T":
            return "OK" if int(args, 16) in t.threads() else "E01"
        if c == "D":
            self.reply("OK")
            self.disconnected()
            self._close()
            return None
        if c == "k":
            self._kill()
            return None
        if c == "v":
            return self._v_packet(pkt)
        if c == "q":
            return self._query(pkt)
        if c == "Q":
            if pkt == b"QStartNoAckMode":
                self.reply("OK")  # still acked by gdb; then both sides stop acking
                self.ack_mode = False
                return None
            if pkt.startswith(b"Qqemu.PhyMemMode:") and hasattr(t, "phys_mode"):
                # QEMU's extension (gdb: maintenance packet Qqemu.PhyMemMode:1):
                # m/M addresses are physical until it is turned off again.
                mode = pkt.split(b":")[1]
                if mode not in (b"0", b"1"):
                    return "E22"
                t.phys_mode = mode == b"1"
                return "OK"
            return ""
        return ""

    @staticmethod
    def _addr_len(args: bytes) -> tuple[int, int]:
        m = _MEM.match(args)
        if not m:
            raise ValueError("bad addr,length")
        return int(m.group(1), 16), int(m.group(2), 16)

    def _set_thread(self, args: bytes) -> str:
        op, tid_text = chr(args[0]), args[1:].decode()
        tid = int(tid_text, 16) if tid_text not in ("-1", "0") else self._first_thread()
        if tid_text != "-1" and tid not in self.target.threads():
            return "E01"
        if op == "g":
            self.g_thread = tid
        elif op == "c":
            self.c_thread = tid
        else:
            return "E01"
        return "OK"

    def _point(self, pkt: bytes) -> str:
        m = _ZPACKET.match(pkt)
        if not m:
            return ""  # a Z type we do not know: unsupported
        kind, addr, length = int(m.group(2)), int(m.group(3), 16), int(m.group(4), 16)
        if pkt[0] == ord("Z"):
            ok = self.target.insert_point(kind, addr, length)
        else:
            ok = self.target.remove_point(kind, addr, length)
        return "OK" if ok else ""

    # ------------------------------------------------------------ resuming
    def _resume(self, actions: dict[int, tuple[str, int]],
                default: tuple[str, int] | None) -> None:
        self.running = True
        self.target.resume(actions, default)

    def _resume_simple(self, c: str, args: bytes) -> None:
        sig = 0
        if c in "CS":
            sig = int(args.split(b";")[0], 16)
        action = (c.lower(), sig)
        if c in "sS":
            self._resume({self.c_thread: action}, None)
        else:
            self._resume({}, action)
        return None

    def _v_packet(self, pkt: bytes) -> str | None:
        if pkt == b"vCont?":
            return "vCont;c;C;s;S"
        if pkt.startswith(b"vCont;"):
            actions: dict[int, tuple[str, int]] = {}
            default = None
            for item in pkt[6:].split(b";"):
                act, _, tid_text = item.partition(b":")
                if not act or chr(act[0]) not in "cCsS":
                    return "E01"
                sig = int(act[1:], 16) if chr(act[0]) in "CS" else 0
                action = (chr(act[0]).lower(), sig)
                if tid_text and tid_text != b"-1":
                    tid = int(tid_text, 16)
                    if tid not in self.target.threads():
                        return "E01"
                    actions.setdefault(tid, action)
                elif default is None:
                    default = action
            self._resume(actions, default)
            return None
        if pkt.startswith(b"vKill"):
            self.reply("OK")
            self._kill()
            return None
        if pkt == b"vMustReplyEmpty":
            return ""
        return ""

    def _kill(self) -> None:
        self.closed = True
        self._close()
        self.target.kill()

    # ------------------------------------------------------------ queries
    def _query(self, pkt: bytes) -> str:
        t = self.target
        if pkt.startswith(b"qSupported"):
            # A process has an ELF auxiliary vector: gdb finds a PIE's load address and
            # the dynamic linker's with it.
            auxv = "qXfer:auxv:read+;" if hasattr(t, "auxv") else ""
            return (f"PacketSize={PACKET_SIZE:x};qXfer:features:read+;{auxv}"
                    "vContSupported+;QStartNoAckMode+")
        if pkt.startswith(b"qXfer:features:read:"):
            annex, _, span = pkt[len(b"qXfer:features:read:"):].partition(b":")
            if annex != b"target.xml":
                return "E00"
            return self._xfer(t.target_xml().encode(), span)
        if pkt.startswith(b"qXfer:auxv:read::") and hasattr(t, "auxv"):
            return self._xfer(t.auxv(), pkt[len(b"qXfer:auxv:read::"):])
        if pkt == b"qfThreadInfo":
            return "m" + ",".join(f"{tid:x}" for tid in t.threads())
        if pkt == b"qsThreadInfo":
            return "l"
        if pkt == b"qC":
            return f"QC{self.c_thread:x}"
        if pkt.startswith(b"qAttached"):
            return "1"  # gdb attached to something that existed: detach, not kill, on quit
        if pkt.startswith(b"qThreadExtraInfo,"):
            # vCPUs have a name ("CPU#0 [running]"); guest threads need none beyond
            # the "Thread <tid>" gdb shows anyway.
            tid = int(pkt.split(b",")[1], 16)
            return self._thread_name(tid).encode().hex()
        if pkt == b"qqemu.PhyMemMode" and hasattr(t, "phys_mode"):
            return "1" if t.phys_mode else "0"
        if pkt.startswith(b"qRcmd,") and hasattr(t, "monitor_command"):
            return self._monitor(bytes.fromhex(pkt[6:].decode()).decode(errors="replace"))
        if pkt == b"qSymbol::":
            return "OK"
        return ""

    def _monitor(self, line: str) -> str:
        """gdb's ``monitor CMD``: the output goes back as O packets (console output),
        then OK."""
        out = self.target.monitor_command(line).encode()
        step = PACKET_SIZE // 2 - 8
        for i in range(0, len(out), step):
            self.reply("O" + out[i:i + step].hex())
        return "OK"

    def _xfer(self, data: bytes, span: bytes) -> bytes:
        """A qXfer read: ``m`` + a chunk while more follows, ``l`` + the last one."""
        off, length = self._addr_len(span)
        chunk = data[off:off + min(length, PACKET_SIZE // 2 - 16)]
        more = off + len(chunk) < len(data)
        return (b"m" if more else b"l") + chunk  # frame() escapes what it must

    def _thread_name(self, tid: int) -> str:
        name = getattr(self.target, "thread_name", None)
        return name(tid) if name else ""

