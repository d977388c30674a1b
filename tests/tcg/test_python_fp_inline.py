"""The Python backend's inline double-precision paths (pyqemu/tcg/backends/python/
fpinline.py), checked against qemu-riscv64 with guest programs that run hot FP loops
through every case the fast path must hand to the helpers: the first inexact result
(fflags without NX), exact results, overflow, underflow and subnormals, NaN and
infinity operands, division by zero, other rounding modes, misaligned doubles; and
the cases where values held only as host floats must reach the guest: a fault inside
an FP block (the signal frame's FP registers), a signal delivered while an FP loop
runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from guestlib import build_guest, run_both

FP_CASES = r"""
#include <fenv.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint64_t bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

static void flags(const char *what) {
  int f = fetestexcept(FE_ALL_EXCEPT);
  printf("%-10s NX=%d UF=%d OF=%d DZ=%d NV=%d\n", what, !!(f & FE_INEXACT),
         !!(f & FE_UNDERFLOW), !!(f & FE_OVERFLOW), !!(f & FE_DIVBYZERO),
         !!(f & FE_INVALID));
}

/* One hot loop over a, b: every operation of the loop body, results folded into
   checksums of their bits. volatile keeps each operation in the loop. */
static void run(const char *name, const double *a, const double *b, int n) {
  uint64_t h = 0;
  int lt = 0;
  feclearexcept(FE_ALL_EXCEPT);
  for (int k = 0; k < 50; k++)
    for (int i = 0; i < n; i++) {
      volatile double x = a[i], y = b[i];
      double s = x + y, d = x - y, m = x * y, q = x / y, r = sqrt(x);
      h = h * 31 + (bits(s) ^ bits(d) * 3 ^ bits(m) * 5 ^ bits(q) * 7 ^ bits(r) * 11);
      lt += (x < y) + (x <= y) * 2 + (x == y) * 4;
    }
  printf("%-10s h=%016llx lt=%d\n", name, (unsigned long long)h, lt);
  flags(name);
}

#define N 8
int main(void) {
  double exact_a[N] = {1, 2, 3, 4, 0.5, 0.25, 8, 16};
  double exact_b[N] = {1, 2, 4, 8, 0.5, 2, 4, 0.125};
  run("exact", exact_a, exact_b, N);
  double inex_a[N] = {1, 2, 3, 5, 7, 11, 13, 17};
  double inex_b[N] = {3, 7, 9, 11, 13, 3, 7, 3};
  run("inexact", inex_a, inex_b, N);
  double ovf_a[N] = {1e308, 1.7e308, -1e308, 3, 1e300, 2, 5, 7};
  double ovf_b[N] = {1e10, 1.7e308, 1e308, 1e-320, 1e10, 3, 7, 11};
  run("overflow", ovf_a, ovf_b, N);
  double unf_a[N] = {1e-308, 2.5e-308, 3e-300, 1e-320, 4.9e-324, 1, 3, 5};
  double unf_b[N] = {1e-10, 2.4e-308, 1e-10, 3, 1e300, 3, 7, 9};
  run("underflow", unf_a, unf_b, N);
  double nan_a[N] = {NAN, 1, INFINITY, -INFINITY, 0.0, -0.0, 1, -1};
  double nan_b[N] = {1, NAN, INFINITY, INFINITY, 0.0, 0.0, 0.0, -0.0};
  run("special", nan_a, nan_b, N);
  int modes[4] = {FE_TONEAREST, FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
  for (int m = 0; m < 4; m++) {
    fesetround(modes[m]);
    char name[16];
    snprintf(name, sizeof name, "round%d", m);
    run(name, inex_a, inex_b, N);
  }
  fesetround(FE_TONEAREST);
  /* Misaligned doubles: loads and stores through a packed layout. */
  static unsigned char buf[8 * N + 3];
  for (int i = 0; i < N; i++) memcpy(buf + 3 + 8 * i, &inex_a[i], 8);
  double acc = 1.0 / 3;
  for (int k = 0; k < 200; k++)
    for (int i = 0; i < N; i++) {
      double v;
      memcpy(&v, buf + 3 + 8 * i, 8);
      v = v * 1.0000001 + acc;
      memcpy(buf + 3 + 8 * i, &v, 8);
      acc = acc * 0.999;
    }
  uint64_t h = 0;
  for (int i = 0; i < N; i++) { double v; memcpy(&v, buf + 3 + 8 * i, 8); h = h * 31 + bits(v); }
  printf("misaligned h=%016llx acc=%016llx\n", (unsigned long long)h,
         (unsigned long long)bits(acc));
  return 0;
}
"""

FP_FAULT = r"""
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

/* A fault inside blocks that hold FP registers as host floats: the signal frame
   must show every FP register as the guest would see it at the faulting load. */
static volatile int phase;

static void on_segv(int sig, siginfo_t *si, void *ctx) {
  ucontext_t *uc = ctx;
  printf("phase %d SIGSEGV\n", phase);
  for (int i = 0; i < 32; i++)
    printf("f%d=%016llx%s", i, (unsigned long long)uc->uc_mcontext.__fpregs.__d.__f[i],
           i % 4 == 3 ? "\n" : " ");
  printf("fcsr=%x\n", uc->uc_mcontext.__fpregs.__d.__fcsr);
  fflush(stdout);
  if (phase == 1) {
    /* Skip the faulting load (4 bytes) and go on. */
    uc->uc_mcontext.__gregs[0] += 4;
    return;
  }
  _exit(0);
}

static const double third = 1.0 / 3, seven = 7.25;

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, 0);
  /* Straight-line FP code and the faulting load in one block. */
  phase = 1;
  asm volatile(
      "fld fa0, 0(%0)\n"
      "fld fa1, 0(%1)\n"
      "fdiv.d fa2, fa0, fa1\n"   /* inexact: NX from here on */
      "fadd.d fa3, fa2, fa1\n"
      "fmul.d fa4, fa3, fa3\n"
      "fsub.d fa5, fa4, fa0\n"
      "fsqrt.d fa6, fa5\n"
      "ld t0, 0(zero)\n"
      "fmul.d fa7, fa6, fa6\n"
      :: "r"(&third), "r"(&seven)
      : "fa0", "fa1", "fa2", "fa3", "fa4", "fa5", "fa6", "fa7", "t0", "memory");
  /* A hot loop summing doubles downwards from .rodata, through the program image,
     until it falls off the bottom of the address space's first mapping. */
  phase = 2;
  const double *p = &seven;
  asm volatile(
      "fld fa0, 0(%1)\n"
      "fmv.d.x fa1, zero\n"
      "1:\n"
      "fld fa2, 0(%0)\n"
      "fmul.d fa3, fa2, fa0\n"
      "fadd.d fa1, fa1, fa3\n"
      "fdiv.d fa4, fa1, fa2\n"
      "addi %0, %0, -8\n"
      "j 1b\n"
      : "+r"(p) : "r"(&third)
      : "fa0", "fa1", "fa2", "fa3", "fa4", "memory");
  return 1;
}
"""

FP_SIGNAL = r"""
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

/* Timer signals arrive while an FP loop keeps its registers as host floats; the
   handler does FP work of its own. The loop's result must not change. */
static volatile int ticks;
static volatile double hsum;

static void on_alarm(int sig) {
  ticks++;
  double x = 1.0;
  for (int i = 0; i < 100; i++) x = x * 1.01 + 0.5;
  hsum += x;
}

int main(void) {
  signal(SIGALRM, on_alarm);
  struct itimerval it = {{0, 1000}, {0, 1000}};
  setitimer(ITIMER_REAL, &it, 0);
  double a = 0.1, b = 1.0 / 7, c = 0;
  for (long i = 0; i < 400000; i++) {
    c = c * 0.999999 + a * b;
    a = a + 1e-9;
  }
  it.it_value.tv_usec = it.it_interval.tv_usec = 0;
  setitimer(ITIMER_REAL, &it, 0);
  uint64_t u;
  memcpy(&u, &c, 8);
  printf("c=%016llx\n", (unsigned long long)u);
  return 0;
}
"""


def _build(tmp_path: Path, name: str, text: str) -> Path:
    src = tmp_path / f"{name}.c"
    src.write_text(text)
    return build_guest(src, "static")


@pytest.mark.parametrize("name,text", [("fp_inline_cases", FP_CASES),
                                       ("fp_inline_fault", FP_FAULT),
                                       ("fp_inline_signal", FP_SIGNAL)])
def test_fp_inline_same_as_qemu(tmp_path: Path, name: str, text: str):
    binary = _build(tmp_path, name, text)
    ref_dir, our_dir = tmp_path / "ref", tmp_path / "ours"
    ref_dir.mkdir()
    our_dir.mkdir()
    ref, ours = run_both(binary, [], ref_dir, our_dir, dynamic=False, backend="python")
    assert ours.stdout.decode() == ref.stdout.decode()
    assert ours.returncode == ref.returncode
    assert ref.stdout  # the program ran and printed its checks
