"""The cold-block tier of the Python backend (tcg/backends/python/interp.py and the
promotion in accel/tcg/tb_cache.py): random IR through the interpreter must compute
what the reference semantics say (the same programs as the compiled backend's
conformance test); a fault inside an interpreted block reports its instruction; and
guest programs that fault, rewrite their code and take signals in blocks on both
sides of the promotion behave as under qemu-riscv64.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from guestlib import build_guest, run_both
from hypothesis import given, settings
from hypothesis import strategies as st
from pystate import state_words
from test_python_backend import MEM_BASE, N_REGS, build, op_strategy, reference, values

from pyqemu.accel.tcg.tb_cache import HOT_AFTER
from pyqemu.tcg.backends.python.interp import make_interpreter
from pyqemu.tcg.ir import Kind, MemOp, TCGContext, Temp
from pyqemu.tcg.optimize import optimize

PC = 64


def _runtime(mem: bytearray) -> dict:
    m8 = memoryview(mem)

    def ld_slow(h, size, signed):
        if h + size > len(m8):
            raise IndexError("past the test memory")
        return int.from_bytes(m8[h:h + size], "little", signed=bool(signed))

    def st_slow(h, size, value):
        m8[h:h + size] = value.to_bytes(size, "little")

    ns = {"EXIT": ["exit0"], "LOOKUP": lambda q: "lookup", "ld_slow": ld_slow,
          "st_slow": st_slow}
    for bits in (8, 16, 32, 64):
        ns[f"m{bits}"] = m8.cast("BHIQ"[(bits // 8).bit_length() - 1])
        ns[f"s{bits}"] = m8.cast("bhiq"[(bits // 8).bit_length() - 1])
    return ns


@settings(max_examples=800, deadline=None)
@given(st.lists(op_strategy, min_size=1, max_size=16), st.lists(values, min_size=N_REGS,
                                                               max_size=N_REGS),
       st.booleans(), st.booleans(), st.binary(min_size=64, max_size=64))
def test_interpreter_matches_reference(program, regs, use_const, opt, data):
    ctx = build(program, use_const)
    if opt:
        optimize(ctx)
    mem = bytearray(data)
    q = state_words(list(regs) + [0] * 80)
    fn = make_interpreter(ctx.ops, 0x1000, _runtime(mem), [], MEM_BASE, (1 << 38) - 1, PC)
    assert fn(q) == "exit0"
    ref_mem = bytearray(data)
    assert (list(q[:N_REGS]), mem) == (reference(program, regs, use_const, ref_mem), ref_mem)


def test_fault_reports_the_instruction_and_earlier_writes():
    g = {i: Temp(Kind.GLOBAL, i, f"r{i}") for i in range(4)}
    g[PC] = Temp(Kind.GLOBAL, PC, "pc")
    ctx = TCGContext(g)
    ctx.emit("insn_start", [], [], 0x1000, 4)
    ctx.op2("add", g[1], ctx.const(5), g[1])
    ctx.emit("insn_start", [], [], 0x1004, 4)
    ctx.emit("ld", [g[2]], [ctx.const(MEM_BASE + (1 << 20))], MemOp(8, False))
    ctx.emit("insn_start", [], [], 0x1008, 4)
    ctx.op2("add", g[3], ctx.const(1), g[3])
    ctx.emit("exit_tb", [], [], 0)
    q = state_words([0, 10, 20, 30] + [0] * 80)
    fn = make_interpreter(ctx.ops, 0x1000, _runtime(bytearray(64)), [], MEM_BASE,
                          (1 << 38) - 1, PC)
    with pytest.raises(IndexError):
        fn(q)
    assert (q[1], q[2], q[3], q[PC]) == (15, 20, 30, 0x1004)


TIERS = r"""
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

/* Code that runs cold (interpreted) and hot (compiled) around the promotion. */
static sigjmp_buf back;

static void on_segv(int sig, siginfo_t *si, void *ctx) {
  printf("SIGSEGV at %p\n", si->si_addr);
  siglongjmp(back, 1);
}

__attribute__((noinline)) static long load(volatile long *p, long k) {
  long v = k * 3 + 1;
  v += *p;  /* faults for a bad p */
  return v ^ k;
}

typedef long (*fn_t)(long);

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigaction(SIGSEGV, &sa, 0);
  volatile long good = 7;
  long sum = 0;
  /* A fault in the first runs of load() (interpreted), then after many runs. */
  for (int round = 0; round < 3; round++) {
    int runs = round == 0 ? 2 : 5 * HOT;
    for (int i = 0; i < runs; i++) sum += load(&good, i);
    if (!sigsetjmp(back, 1)) sum += load((volatile long *)16, round);
    printf("round %d sum=%ld\n", round, sum);
  }
  /* Self-modifying code: a function rewritten between batches of calls, each batch
     crossing the promotion threshold. */
  uint32_t *code = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  fn_t f = (fn_t)code;
  for (int v = 1; v <= 4; v++) {
    code[0] = 0x00000513u | ((uint32_t)(v * 100) << 20);  /* li a0, v*100 */
    code[1] = 0x00a50533u;                                  /* add a0, a0, a0 */
    code[2] = 0x00008067u;                                  /* ret */
    __builtin___clear_cache((char *)code, (char *)(code + 3));
    long s = 0;
    for (int i = 0; i < (v & 1 ? 3 : 3 * HOT); i++) s += f(i);
    printf("smc %d s=%ld\n", v, s);
  }
  return 0;
}
"""


def test_tiers_same_as_qemu(tmp_path: Path):
    src = tmp_path / "tiers.c"
    src.write_text(TIERS.replace("HOT", str(HOT_AFTER)))
    binary = build_guest(src, "static")
    ref_dir, our_dir = tmp_path / "ref", tmp_path / "ours"
    ref_dir.mkdir()
    our_dir.mkdir()
    ref, ours = run_both(binary, [], ref_dir, our_dir, dynamic=False, backend="python")
    assert ours.stdout.decode() == ref.stdout.decode()
    assert ours.returncode == ref.returncode == 0
    assert "smc 4" in ref.stdout.decode()
