"""The native engine's interpreter tier (target/riscv/interp_x86_64): guest programs whose
code runs on both sides of the tier-up, against qemu-riscv64.

* faults in interpreted and in translated code, with a handler that resumes;
* code rewritten (with fence.i) between batches of calls on both sides of the tier-up;
* execute permission: a page made non-executable after the interpreter fetched from it,
  and made executable again;
* a signal that arrives while a loop runs (in the interpreter, then translated);
* instructions that straddle two pages, the second one then made non-executable.
"""

from __future__ import annotations

import platform
from pathlib import Path

import pytest
from guestlib import build_guest, run_both
from test_python_interp import TIERS

from pyqemu.target.riscv.interp_x86_64 import TIER_UP

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64",
                                reason="the native backend generates x86-64 code")

EXEC_PERM = r"""
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static sigjmp_buf back;
static volatile int alarms;
static void *fault_addr;

static void on_segv(int sig, siginfo_t *si, void *ctx) {
  fault_addr = si->si_addr;
  siglongjmp(back, 1);
}

static void on_alarm(int sig) { alarms++; }

typedef long (*fn_t)(long);

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigaction(SIGSEGV, &sa, 0);
  uint32_t *code = mmap(0, 8192, PROT_READ | PROT_WRITE | PROT_EXEC,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  code[0] = 0x00150513u; /* addi a0, a0, 1 */
  code[1] = 0x00008067u; /* ret */
  __builtin___clear_cache((char *)code, (char *)(code + 2));
  fn_t f = (fn_t)code;
  long s = 0;
  for (int round = 0; round < 3; round++) {
    int calls = round == 0 ? 3 : 4 * HOT;  /* interpreted, then translated */
    for (int i = 0; i < calls; i++) s += f(i);
    mprotect(code, 4096, PROT_READ);
    if (!sigsetjmp(back, 1)) {
      s += f(1);
      printf("round %d: no fault\n", round);
    } else {
      printf("round %d: fault at the function: %d\n", round, fault_addr == (void *)code);
    }
    mprotect(code, 4096, PROT_READ | PROT_EXEC);
    s += f(2);
  }
  printf("s=%ld\n", s);
  /* A signal while a long loop runs: the loop must not delay it past its end. */
  signal(SIGALRM, on_alarm);
  alarm(1);
  volatile unsigned long spin = 0;
  while (!alarms) spin++;
  printf("alarm taken: %d\n", alarms);
  return 0;
}
"""


STRADDLE = r"""
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static sigjmp_buf back;
static void on_segv(int sig) { siglongjmp(back, 1); }
typedef long (*fn_t)(long);

int main(void) {
  signal(SIGSEGV, on_segv);
  uint8_t *m = mmap(0, 8192, PROT_READ | PROT_WRITE | PROT_EXEC,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  /* addi a0, a0, 1 across the page boundary, then ret; and c.addi a0, 2 as the first
     page's last halfword, then ret on the next page. */
  uint32_t addi = 0x00150513u, ret = 0x00008067u;
  memcpy(m + 4094, &addi, 4);
  memcpy(m + 4098, &ret, 4);
  uint16_t caddi = 0x0509;
  memcpy(m + 4092, &caddi, 2);
  memcpy(m + 4094, &addi, 4);
  __builtin___clear_cache((char *)m, (char *)m + 8192);
  long s = 0;
  for (int i = 0; i < 3 * HOT; i++) s += ((fn_t)(m + 4094))(i) + ((fn_t)(m + 4092))(i);
  printf("s=%ld\n", s);
  mprotect(m + 4096, 4096, PROT_READ);
  for (int k = 0; k < 2; k++) {
    if (!sigsetjmp(back, 1)) printf("%ld\n", ((fn_t)(m + 4094))(1));
    else printf("fault %d\n", k);
  }
  return 0;
}
"""


def _same_as_qemu(tmp_path: Path, name: str, source: str) -> str:
    src = tmp_path / f"{name}.c"
    src.write_text(source.replace("HOT", str(TIER_UP)))
    binary = build_guest(src, "static")
    ref_dir, our_dir = tmp_path / "ref", tmp_path / "ours"
    ref_dir.mkdir()
    our_dir.mkdir()
    ref, ours = run_both(binary, [], ref_dir, our_dir, dynamic=False, backend="native")
    assert ours.stdout.decode() == ref.stdout.decode()
    assert ours.returncode == ref.returncode == 0
    return ref.stdout.decode()


def test_faults_and_rewritten_code_around_the_tier_up(tmp_path: Path):
    out = _same_as_qemu(tmp_path, "tiers", TIERS)
    assert "smc 4" in out and "SIGSEGV" in out


def test_instructions_straddling_pages(tmp_path: Path):
    out = _same_as_qemu(tmp_path, "straddle", STRADDLE)
    assert "fault 0" in out and "fault 1" in out


def test_execute_permission_and_signals_in_interpreted_loops(tmp_path: Path):
    out = _same_as_qemu(tmp_path, "exec_perm", EXEC_PERM)
    assert out.count("fault at the function: 1") == 3 and "alarm taken: 1" in out
