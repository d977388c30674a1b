"""Regions of the Python backend (tcg/backends/python/region.py): the blocks of a hot
loop compiled into one function. The loop here spans two blocks, A and B:

    A (0x1000): r1 += 1; if r1 >= r4: exit (EXIT[0]); else goto B
    B (0x1100): r2 += mem[r3] (may fault); r3 += 8; tick(); goto A

run through accel/tcg/tb_cache.py as user mode runs it (cold, then hot), with a fake
translator. Plus C programs against qemu-riscv64: a fault in a region's middle block, a
signal interrupting a region loop, and code rewritten under a region."""

from __future__ import annotations

from pathlib import Path

import pytest
from guestlib import build_guest, run_both
from pystate import state_words

from pyqemu.accel.tcg.tb_cache import HOT_AFTER, TBCache
from pyqemu.tcg.backends.python import codegen
from pyqemu.tcg.backends.python.runtime import ExitRequest
from pyqemu.tcg.ir import Cond, Helper, Kind, MemOp, TCGContext, Temp

LOW = 0x10000
MEM_WORDS = 512
A, B = 0x1000, 0x1100
PC = codegen.PC_INDEX


class LoopTranslator:
    """Translates the two blocks of the module docstring's loop."""

    def __init__(self, tick) -> None:
        self.globals = {i: Temp(Kind.GLOBAL, i, f"x{i}") for i in range(1, 5)}
        self.globals[PC] = Temp(Kind.GLOBAL, PC, "pc")
        self.tick = Helper("tick", tick, 0)

    def translate(self, ctx: TCGContext, pc: int) -> tuple[int, int]:
        g = self.globals
        if pc == A:
            ctx.emit("insn_start", [], [], A, 4)
            ctx.op2("add", g[1], ctx.const(1), g[1])
            ctx.emit("insn_start", [], [], A + 4, 4)
            out = ctx.new_label()
            ctx.emit("brcond", [], [g[1], g[4]], Cond.GE, out)
            ctx.emit("goto_tb", [], [], 0, B)
            ctx.emit("set_label", [], [], out)
            ctx.emit("exit_tb", [], [], 0)
            return 2, A + 8
        assert pc == B
        ctx.emit("insn_start", [], [], B, 4)
        v = ctx.new_temp()
        ctx.emit("ld", [v], [g[3]], MemOp(8, False))
        ctx.op2("add", g[2], v, g[2])
        ctx.emit("insn_start", [], [], B + 4, 4)
        ctx.op2("add", g[3], ctx.const(8), g[3])
        ctx.emit("call", [], [], self.tick)
        ctx.emit("goto_tb", [], [], 0, A)
        return 2, B + 8


def _machine(stop_after: int = 0):
    """(TBCache, state buffer, memory words, exit request) for the loop."""
    mem = bytearray(MEM_WORDS * 8)
    words = memoryview(mem).cast("Q")
    for i in range(MEM_WORDS):
        words[i] = i * i
    m8 = memoryview(mem)
    x = ExitRequest()
    ticks = [0]

    def tick():
        ticks[0] += 1
        if ticks[0] == stop_after:
            x[0] = 1  # an exit request, as a signal's arrival makes one

    def ld_slow(h, size, signed):
        if h + size > len(m8):
            raise IndexError("past the guest space")
        return int.from_bytes(m8[h:h + size], "little", signed=bool(signed))

    def st_slow(h, size, value):
        m8[h:h + size] = value.to_bytes(size, "little")

    ns = {"EXIT": ["exit0"], "__builtins__": x.builtins, "ld_slow": ld_slow, "st_slow": st_slow,
          "rotl": None, "rotr": None, "ctz": None, "bswap64": None}
    for bits in (8, 16, 32, 64):
        ns[f"m{bits}"] = m8.cast("BHIQ"[(bits // 8).bit_length() - 1])
        ns[f"s{bits}"] = m8.cast("bhiq"[(bits // 8).bit_length() - 1])
    tbc = TBCache(LoopTranslator(tick), ns, LOW, (1 << 38) - 1)
    q = state_words([0] * 80)
    return tbc, q, words, x


def _run(tbc: TBCache, q, x: list):
    """The user-mode loop: run until an exit (returned) or an exit request."""
    fn = tbc.lookup(A)
    while not x[0]:
        fn = fn(q)
        if fn == "exit0":
            return fn
    return fn


def test_loop_of_two_blocks_becomes_one_region():
    tbc, q, words, x = _machine()
    n = 10 * HOT_AFTER
    q[1], q[2], q[3], q[4] = 0, 5, LOW, n
    assert _run(tbc, q, x) == "exit0"
    assert tbc.tbs[A].ranges == [(A, A + 8), (B, B + 8)]  # A's function is the region's
    assert (q[1], q[2], q[3]) == (n, 5 + sum(i * i for i in range(n - 1)), LOW + 8 * (n - 1))


def test_fault_in_the_regions_second_block():
    tbc, q, words, x = _machine()
    # The load runs off the end of guest memory at iteration MEM_WORDS + 1.
    q[1], q[2], q[3], q[4] = 0, 0, LOW, 10 * MEM_WORDS
    with pytest.raises(IndexError):
        _run(tbc, q, x)
    assert tbc.tbs[A].ranges  # the fault came from the region
    # At the faulting load: r1 was incremented by A, r3 not yet by B; r2 is the sum of
    # every word.
    assert (q[PC], q[1], q[3]) == (B, MEM_WORDS + 1, LOW + 8 * MEM_WORDS)
    assert q[2] == sum(i * i for i in range(MEM_WORDS))


def test_exit_request_interrupts_the_region_loop():
    stop = 8 * HOT_AFTER
    tbc, q, words, x = _machine(stop_after=stop)
    q[1], q[2], q[3], q[4] = 0, 0, LOW, 1 << 40  # no end but the request
    fn = _run(tbc, q, x)
    assert tbc.tbs[A].ranges
    # The request came in B's helper: B's jump to A is where the region leaves, with
    # every register written back.
    assert fn.guest_pc == A
    assert (q[1], q[3]) == (stop, LOW + 8 * stop)
    assert q[2] == sum(i * i for i in range(stop))


def test_flush_drops_the_region():
    tbc, q, words, x = _machine()
    q[1], q[2], q[3], q[4] = 0, 0, LOW, 4 * HOT_AFTER
    _run(tbc, q, x)
    assert tbc.tbs[A].ranges
    tbc.invalidate_range(B, B + 4)  # code of the region's second block changed
    assert A not in tbc.tbs and not tbc.ir
    q[1], q[2], q[3] = 0, 0, LOW
    assert _run(tbc, q, x) == "exit0"
    assert (q[1], q[3]) == (4 * HOT_AFTER, LOW + 8 * (4 * HOT_AFTER - 1))


# Loops that span several blocks (an "if" inside, a nest), hot, then: a fault in a load
# of the loop's second block, a SIGALRM that ends an endless multi-block loop, and a
# loop in a code buffer rewritten between runs.
REGIONS_C = r"""
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <ucontext.h>

static sigjmp_buf back;
static volatile sig_atomic_t stop;

static void on_segv(int sig, siginfo_t *si, void *uc) {
  ucontext_t *u = uc;
  printf("SIGSEGV at %p pc=%lx a0=%ld a1=%ld\n", si->si_addr,
         (unsigned long)u->uc_mcontext.__gregs[0] & 0xfff,
         (long)u->uc_mcontext.__gregs[10], (long)u->uc_mcontext.__gregs[11]);
  siglongjmp(back, 1);
}

static void on_alarm(int sig) { stop = 1; }

__attribute__((noinline)) static long walk(long *p, long n, long k) {
  long a = 0, b = 0;
  for (long i = 0; i < n; i++) {
    if (p[i] & k) a += p[i] * 3;   /* two paths: the loop is several blocks */
    else b ^= p[i] + i;
  }
  return a * 31 + b;
}

/* The load that faults is in the loop's "if" branch: not the loop's first block. */
__attribute__((noinline)) static long walkp(long **pp, long n, long k) {
  long a = 0, b = 0;
  for (long i = 0; i < n; i++) {
    long v = (long)pp[i];
    if (v & k) a += *pp[i] * 3;
    else b ^= v + i;
  }
  return a * 31 + b;
}

__attribute__((noinline)) static long spin(void) {
  long i = 0, a = 0, b = 0;
  while (!stop) {
    if (i & 3) a += i; else b += a >> 3;
    i++;
  }
  return (a ^ b) != 0;
}

__attribute__((noinline)) static long nest(int n) {
  long s = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < i; j++) s += (i ^ j) & 7 ? j : i;
  return s;
}

typedef long (*fn_t)(long);

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigaction(SIGSEGV, &sa, 0);
  static long buf[1024];
  static long *ptrs[1024];
  for (int i = 0; i < 1024; i++) {
    buf[i] = i * 2654435761u;
    ptrs[i] = &buf[(i * 7) & 1023];
  }
  printf("walk %ld\n", walk(buf, 1024, 4));
  printf("nest %ld\n", nest(300));
  printf("walkp %ld\n", walkp(ptrs, 1024, 16));
  ptrs[700] = (long *)16;  /* below the address space: a fault after 700 iterations */
  if (!sigsetjmp(back, 1)) printf("walkp %ld\n", walkp(ptrs, 1024, 16));

  signal(SIGALRM, on_alarm);
  struct itimerval it = {{0, 0}, {0, 200000}};
  setitimer(ITIMER_REAL, &it, 0);
  printf("spin %ld\n", spin());

  /* A loop in a code buffer with its odd-i path out of line (two blocks):
     sum += i; if (i & 1) sum += K; while (++i < n); K rewritten between runs. */
  uint32_t *code = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  fn_t f = (fn_t)code;
  for (int v = 1; v <= 3; v++) {
    uint32_t k = v * 100;
    uint32_t prog[] = {
      0x00000593u,                       /* li a1, 0 (sum) */
      0x00000613u,                       /* li a2, 0 (i) */
      0x00c585b3u,                       /* loop: add a1, a1, a2 */
      0x00167693u,                       /* andi a3, a2, 1 */
      0x00069a63u,                       /* bnez a3, odd */
      0x00160613u,                       /* back: addi a2, a2, 1 */
      0xfea648e3u,                       /* blt a2, a0, loop */
      0x00058513u,                       /* mv a0, a1 */
      0x00008067u,                       /* ret */
      0x00058593u | (k << 20),           /* odd: addi a1, a1, K */
      0xfedff06fu,                       /* j back */
    };
    memcpy(code, prog, sizeof prog);
    __builtin___clear_cache((char *)code, (char *)code + sizeof prog);
    printf("smc %d %ld\n", v, f(1000));
  }
  return 0;
}
"""


def _same_as_qemu(tmp_path: Path, name: str, source: str) -> str:
    """Build the C source static, run it under qemu-riscv64 and the Python backend;
    the same output and a 0 exit status. The output."""
    src = tmp_path / f"{name}.c"
    src.write_text(source)
    binary = build_guest(src, "static")
    ref_dir, our_dir = tmp_path / "ref", tmp_path / "ours"
    ref_dir.mkdir()
    our_dir.mkdir()
    ref, ours = run_both(binary, [], ref_dir, our_dir, dynamic=False, backend="python")
    assert ours.stdout.decode() == ref.stdout.decode()
    assert ours.returncode == ref.returncode == 0
    return ref.stdout.decode()


def test_regions_same_as_qemu(tmp_path: Path):
    out = _same_as_qemu(tmp_path, "regions", REGIONS_C)
    assert "SIGSEGV" in out and "smc 3" in out


# Loops that call functions: a region follows the calls' returns (tb_cache._edges), so
# the callee's blocks join the loop's region. Recursion (fib), a leaf called from two
# sites in one loop, calls through a pointer that changes, a longjmp out of a callee (a
# return address that is not the call's), and a fault in a callee in the region.
CALLS_C = r"""
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static sigjmp_buf back;
static jmp_buf out;

static void on_segv(int sig) { siglongjmp(back, 1); }

__attribute__((noinline)) static unsigned long fib(unsigned n) {
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

__attribute__((noinline)) static long mix(long a, long b) { return (a * 31) ^ (b >> 2); }

__attribute__((noinline)) static long twice(long n) {
  long s = 0;
  for (long i = 0; i < n; i++) {
    s = mix(s, i);                 /* two call sites of one leaf in one loop */
    if (i & 1) s += mix(i, s);
  }
  return s;
}

__attribute__((noinline)) static long add1(long x) { return x + 1; }
__attribute__((noinline)) static long dbl(long x) { return x * 2; }

__attribute__((noinline)) static long through(long n) {
  long (*f[2])(long) = {add1, dbl};
  long s = 1;
  for (long i = 0; i < n; i++) s = f[(i >> 3) & 1](s) & 0xffffff;
  return s;
}

__attribute__((noinline)) static long bail(long i) {
  if (i == 777) longjmp(out, 1);
  return i * 3;
}

__attribute__((noinline)) static long load(long *p) { return *p; }

int main(void) {
  printf("fib %lu\n", fib(22));
  printf("twice %ld\n", twice(5000));
  printf("through %ld\n", through(5000));
  volatile long s = 0;
  if (!setjmp(out))
    for (long i = 0; i < 5000; i++) s += bail(i);
  printf("bail %ld\n", s);
  signal(SIGSEGV, on_segv);
  static long buf[64];
  long *ptrs[3000];
  for (int i = 0; i < 3000; i++) ptrs[i] = &buf[i & 63];
  ptrs[2500] = (long *)8;
  volatile long t = 0;
  volatile int i = 0;
  if (!sigsetjmp(back, 1))
    for (i = 0; i < 3000; i++) t += load(ptrs[i]) + i;
  printf("load %ld stopped at %d\n", (long)t, i);
  return 0;
}
"""


def test_regions_through_calls_same_as_qemu(tmp_path: Path):
    assert "stopped at 2500" in _same_as_qemu(tmp_path, "calls", CALLS_C)
