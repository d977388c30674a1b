"""TCG for system emulation: ``-accel tcg`` on a board (DESIGN.md section 1).

All harts run in one vCPU thread, round-robin, like QEMU's single-threaded TCG: each
runs until its exit request is raised (an interrupt line, a time slice ending, a block
that changed the hart's state), then the next one. Everything a block leaves to the
loop arrives in :meth:`HartRunner.step`: exits (ecall, mret, wfi...) are functions the
block returns, synchronous exceptions are :class:`RiscvTrap` raised inside it after it
stored the faulting pc, interrupts are checked between blocks.
"""

from __future__ import annotations

import threading
import time

from ...target.riscv import cpu_state as cs
from ...target.riscv import trap as t
from ...target.riscv.hart import RiscvSystemHart
from ...target.riscv.translate import RiscvTranslator
from ...tcg.ir import ExitReason
from . import system_exits as sx
from .bitops import _bswap64, _ctz, _rotl, _rotr
from .softmmu import FetchView, SoftMMU
from .translate_common import PAGE_BITS

ISA = "rv64imafdc_zicsr_zifencei_zba_zbb_zbs"
MMU_TYPE = "riscv,sv57"
TIME_SLICE = 0.005  # seconds a hart runs before the next one when several are awake


class HartRunner:
    """Runs one hart: its softmmu, its blocks and the dispatch of their exits."""

    def __init__(self, hart: RiscvSystemHart, machine, log=None,
                 shared: dict | None = None) -> None:
        self.hart = hart
        self.q = hart.q
        self.machine = machine
        self.smmu = SoftMMU(hart, machine.sysmem)
        self.fetch = FetchView(self.smmu)
        self.translator = RiscvTranslator(self.fetch, self.fetch.can_execute)
        self.translator.system = True
        exits = [None] * (max(ExitReason) + 1)
        exits[ExitReason.LOOKUP] = self._exit_lookup
        exits[ExitReason.SYSCALL] = self._exit_ecall
        exits[ExitReason.EBREAK] = self._exit_ebreak
        exits[ExitReason.ILLEGAL] = self._exit_illegal
        exits[ExitReason.FENCE_I] = self._exit_fence_i
        exits[ExitReason.MRET] = self._exit_mret
        exits[ExitReason.SRET] = self._exit_sret
        exits[ExitReason.WFI] = self._exit_wfi
        exits[ExitReason.SFENCE_VMA] = self._exit_sfence
        exits[ExitReason.STATE_CHANGED] = self._exit_state
        exits[ExitReason.DEBUG] = self._exit_debug
        for fn in exits:
            if fn is not None:
                fn.__func__.is_exit = True
        # The hart's exit request becomes the one generated code tests (XR).
        from ...tcg.backends.python.runtime import ExitRequest

        hart.exit_request = ExitRequest(hart.exit_request[0])
        runtime = dict(self.smmu.views)
        runtime.update({
            "LD": self.smmu.load, "ST": self.smmu.store,
            "__builtins__": hart.exit_request.builtins,
            "EXIT": exits, "rotl": _rotl, "rotr": _rotr, "ctz": _ctz, "bswap64": _bswap64,
            "LOG_EXEC": lambda pc, q: None,
        })
        from .system_tb import SystemTBCache  # (the Python backend's: imported on use)

        self.tbc = SystemTBCache(self, self.translator, runtime, log, shared=shared)

        def csr_sys(q, csr, src, kind, writes, raw):
            return hart.csrs.access(csr, src, kind, writes, raw)

        self.csr_helper = csr_sys
        self.ram_view = self.smmu.ram
        hart.on_tlb_flush = self.flush_tlb
        self.tbc.set_flags(hart.tb_flags())
        self.debug_hit: int | None = None  # pc of a debugger breakpoint reached

    # ------------------------------------------------------------ blocks
    def block_ns(self, flags: int) -> dict:
        priv_d = (flags >> 2) & 3
        tr, tw = self.smmu.tlb_pair((priv_d, bool(flags >> 4 & 1), bool(flags >> 5 & 1)))
        return {"TR": tr, "TW": tw, "H_csr_sys": self.csr_helper}

    def page_snapshot(self, page: int) -> bytes | None:
        off = page - self.smmu.ram_base
        if 0 <= off < self.smmu.ram_size:
            return bytes(self.ram_view[off:off + (1 << PAGE_BITS)])
        return None  # ROM: never changes under the guest

    def flush_tlb(self, keep_global: bool = False) -> None:
        self.smmu.flush(keep_global)
        self.tbc.flush_jump_cache()

    def update_flags(self) -> None:
        self.tbc.set_flags(self.hart.tb_flags())

    # ------------------------------------------------------------ exits
    def _exit_lookup(self, q):
        return self.tbc.lookup_q(q)

    def _exit_ecall(self, q):
        raise sx.ecall(q)

    def _exit_ebreak(self, q):
        raise sx.ebreak()

    def _exit_illegal(self, q):
        raise sx.illegal(self)

    def _exit_fence_i(self, q):
        self.tbc.check_code_pages()
        return self.tbc.lookup_q(q)

    def _exit_mret(self, q):
        sx.mret(self)
        self.update_flags()
        self.hart.exit_request[0] = 1  # interrupts may have become enabled
        return self.tbc.lookup_q(q)

    def _exit_sret(self, q):
        sx.sret(self)
        self.update_flags()
        self.hart.exit_request[0] = 1
        return self.tbc.lookup_q(q)

    def _exit_wfi(self, q):
        sx.wfi(self)
        return self.tbc.lookup_q(q)

    def _exit_sfence(self, q):
        sx.sfence_vma(self)
        return self.tbc.lookup_q(q)

    def flush_jump_cache_page(self, vpn: int) -> None:
        self.tbc.flush_jump_cache_page(vpn)

    def _exit_state(self, q):
        self.update_flags()
        self.hart.exit_request[0] = 1
        return self.tbc.lookup_q(q)

    def _exit_debug(self, q):
        """A gdb breakpoint: stop before the instruction at pc (pyqemu.gdbstub)."""
        pc = q[cs.PC]
        self.debug_hit = pc
        self.hart.exit_request[0] = 1

        def at_breakpoint(q):
            return at_breakpoint

        at_breakpoint.guest_pc = pc
        return at_breakpoint

    # ------------------------------------------------------------ the loop
    def take_interrupt(self) -> bool:
        """Take a pending enabled interrupt; False while the hart sleeps in wfi."""
        return sx.take_interrupt(self)

    def step_one(self) -> None:
        """Execute one instruction, blocks holding one (the gdbstub's single-step)."""
        q = self.q
        X = self.hart.exit_request
        try:
            fn = self.tbc.lookup(q[cs.PC])
            X[0] = 1  # a block that jumps to itself runs one iteration
            fn = fn(q)
            if getattr(fn, "is_exit", False):
                fn = fn(q)
            if hasattr(fn, "guest_pc"):
                q[cs.PC] = fn.guest_pc
        except t.RiscvTrap as e:
            sx.enter_trap(self, e)

    def step(self) -> None:
        """Run this hart until its exit request is raised."""
        q = self.q
        X = self.hart.exit_request.builtins
        if not sx.begin_step(self):
            return
        try:
            fn = self.tbc.lookup(q[cs.PC])
            while not X["XR"]:
                fn = fn(q)
            if getattr(fn, "is_exit", False):
                fn = fn(q)  # finish the instruction that exited to the loop
            if hasattr(fn, "guest_pc"):
                q[cs.PC] = fn.guest_pc
        except t.RiscvTrap as e:
            sx.enter_trap(self, e)


class TcgAccelerator:
    """The Accelerator of hw/core/machine.py for RISC-V boards."""

    name = "tcg"

    def __init__(self, opts: dict[str, str]) -> None:
        # Native x86-64 code by default where the host can run it. Under gdb the default
        # is the Python backend, the reference (the debugger works with both): decided
        # in init_machine, once a debugger has had the chance to attach.
        backend = opts.pop("backend", "auto")
        if backend not in ("python", "native", "auto"):
            raise ValueError(f"-accel tcg: backend={backend}: expected native or python")
        if backend == "native":
            from .translate_common import host_supported

            if not host_supported():
                raise ValueError("-accel tcg,backend=native: needs an x86-64 Linux host")
        self.backend = backend
        # tb-cache=on|off: the native backend's translations kept across runs (as in
        # user mode; PYQEMU_TB_CACHE=off too).
        self.tb_cache = opts.pop("tb-cache", None)
        if self.tb_cache not in (None, "on", "off"):
            raise ValueError(f"-accel tcg: tb-cache={self.tb_cache}: expected on or off")
        for k in opts:
            raise ValueError(f"-accel tcg: Property 'tcg-accel.{k}' not found")
        self.runners: list[HartRunner] = []
        self.thread: threading.Thread | None = None
        self.run_flag = threading.Event()
        self.idle = threading.Event()
        self.wakeup = threading.Event()
        self.quit = False
        self.idle_s = 0.0  # time every hart spent in wfi
        self.ticker: threading.Thread | None = None
        self.current: HartRunner | None = None  # the hart running a time slice
        self.yield_now = False
        self.debug = None  # pyqemu.gdbstub.tcg_system.TcgSystemDebugger under gdb

    def init_machine(self, machine) -> None:
        self.machine = machine
        machine.tb_cache = self.tb_cache
        machine.cpu_isa = ISA
        machine.cpu_mmu_type = MMU_TYPE
        harts = [RiscvSystemHart(i, self.wakeup) for i in range(machine.smp)]
        for h in harts:
            h.on_kick = self._on_kick
        machine.attach_cpus(harts)
        if self.backend == "auto":
            from .translate_common import host_supported

            self.backend = "native" if host_supported() and self.debug is None else "python"
        if self.backend == "native":
            from .native_system import NativeHartRunner, NativeSystemCode

            code = NativeSystemCode()
            self.runners = [NativeHartRunner(h, machine, code) for h in harts]
            return
        shared: dict = {}  # translations all harts use (SystemTBCache.shared)
        self.runners = [HartRunner(h, machine, shared=shared) for h in harts]

    def reset_cpus(self) -> None:
        for r in self.runners:
            r.hart.reset(self.machine.reset_pc)
            r.tbc.shared.clear()
            r.tbc.flush()
            r.smmu.flush()
            r.update_flags()

    def start(self) -> None:
        self.idle.clear()
        self.run_flag.set()
        if self.thread is None:
            self.thread = threading.Thread(target=self._vcpu_thread, name="vcpu", daemon=True)
            self.thread.start()

    def resume(self) -> None:
        """Run the vCPUs again after pause() (QMP cont, gdb continue): same as start()."""
        self.start()

    def pause(self) -> None:
        self.run_flag.clear()
        self.idle.clear()
        for r in self.runners:
            r.hart.kick()
        if self.thread is not None and self.thread.is_alive() \
                and threading.current_thread() is not self.thread:
            self.idle.wait(timeout=5)

    def stop(self) -> None:
        self.quit = True
        self.pause()
        if self.debug is not None:
            self.debug.machine_exited()
        self.write_stats()
        if self.backend == "native" and self.runners:
            self.runners[0].code.save_translations()

    def write_stats(self) -> None:
        """Translation statistics for bench/ (PYQEMU_STATS=file), summed over harts."""
        import json
        import os

        path = os.environ.get("PYQEMU_STATS")
        if not path:
            return
        # Native runners share one block cache: count it once.
        tbcs = list({id(c): c for c in (getattr(r.tbc, "code", r.tbc)
                                        for r in self.runners)}.values())
        with open(path, "w") as f:
            json.dump({"tbs": sum(len(c.by_key) for c in tbcs),
                       "translated_insns": sum(c.translated_insns for c in tbcs),
                       "translate_ns": sum(c.translate_ns for c in tbcs),
                       "reused_tbs": sum(getattr(c, "reused", 0) for c in tbcs),
                       "idle_s": round(self.idle_s, 3)}, f)

    def _vcpu_thread(self) -> None:
        import os

        path = os.environ.get("PYQEMU_PROFILE")
        if not path:
            try:
                return self._vcpu_loop()
            except Exception as e:  # a bug of ours, not the guest's: say so and stop
                self._internal_error(e)
                return None
        import cProfile

        prof = cProfile.Profile()
        try:
            prof.runcall(self._vcpu_loop)
        finally:
            prof.dump_stats(path)

    def _internal_error(self, e: Exception) -> None:
        import sys

        from ...sysemu import ShutdownCause

        prog = getattr(self.machine, "program_name", "pyqemu")
        where = " ".join(f"hart {r.hart.hartid} pc={r.q[cs.PC]:#x} priv={r.q[cs.PRIV]}"
                         for r in self.runners)
        print(f"{prog}: internal error in the TCG vCPU ({where}): {type(e).__name__}: {e}",
              file=sys.stderr)
        self.machine.runstate.request_shutdown(ShutdownCause.HOST_ERROR, 1)
        self.idle.set()

    def _vcpu_loop(self) -> None:
        while not self.quit:
            if not self.run_flag.is_set():
                self.idle.set()
                self.run_flag.wait(0.05)
                continue
            self.idle.clear()
            debug = self.debug
            if debug is not None and debug.active:
                debug.vcpu_iteration()  # gdb decides what runs
            else:
                self.run_round()
        self.idle.set()

    def run_round(self) -> None:
        """Each awake hart runs once (a time slice when there are several)."""
        runners = self.runners
        ran = False
        for r in runners:
            if not self.run_flag.is_set():
                break
            if r.hart.waiting and not (r.hart.mip() & r.q[cs.MIE]):
                continue
            ran = True
            if len(runners) > 1:
                self._slice(r)
            else:
                r.step()
            if r.debug_hit is not None:
                break
        if not ran:
            # Every hart is in wfi: sleep until a device raises a line.
            t0 = time.monotonic()
            self.wakeup.wait(0.01)
            self.wakeup.clear()
            self.idle_s += time.monotonic() - t0

    def _slice(self, r: HartRunner) -> None:
        """Run one hart for a time slice (several steps: exits to the loop are common).
        The ticker thread raises the running hart's exit request when the slice ends."""
        if self.ticker is None:
            self.ticker = threading.Thread(target=self._tick, name="tcg-tick", daemon=True)
            self.ticker.start()
        self.current = r
        self.yield_now = False
        end = time.monotonic() + TIME_SLICE
        while time.monotonic() < end and self.run_flag.is_set() and not self.yield_now \
                and r.debug_hit is None:
            r.step()
            if r.hart.waiting:
                break
        self.current = None

    def _on_kick(self, hart: RiscvSystemHart) -> None:
        """An interrupt line of a hart that is not running (an IPI, a device): end the
        running hart's slice, so that one answering an IPI the running hart may be
        spinning on gets to run now rather than a time slice later."""
        r = self.current
        if r is not None and r.hart is not hart:
            self.yield_now = True
            r.hart.exit_request[0] = 1

    def _tick(self) -> None:
        while not self.quit:
            time.sleep(TIME_SLICE)
            r = self.current
            if r is not None:
                r.hart.exit_request[0] = 1


def create_accelerator(opts: dict[str, str]) -> TcgAccelerator:
    return TcgAccelerator(dict(opts))


def supports_arch(arch: str) -> bool:
    return arch == "riscv64"
