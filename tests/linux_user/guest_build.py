"""Build riscv64 guest programs for the linux_user tests, cached by source hash.

Artifacts live under .cache/linux_user/ (gitignored), keyed by a hash of the source,
the language and the link mode, so each program is compiled once per change.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "linux_user"
SYSROOT = "/usr/riscv64-linux-gnu"
CC = {"c": "riscv64-linux-gnu-gcc", "cxx": "riscv64-linux-gnu-g++"}
MODES = {"static": ["-static"], "dynamic": [],
         # Debian's cross glibc lacks rcrt1.o: static-pie programs are freestanding.
         "static-pie": ["-static-pie", "-fPIE", "-nostdlib", "-ffreestanding", "-Wl,--no-dynamic-linker"]}


def have_toolchain() -> bool:
    return shutil.which(CC["c"]) is not None


def build(source: str, mode: str = "static", lang: str = "c", extra: tuple[str, ...] = ()) -> str:
    """Compile ``source`` (program text) and return the path of the cached executable."""
    if not have_toolchain():
        pytest.skip("riscv64-linux-gnu-gcc is not installed")
    flags = ["-O1", *MODES[mode], *extra]
    if mode == "static-pie":
        source = FREESTANDING
    if lang == "c" and mode != "static-pie":
        flags.append("-pthread")
    key = hashlib.sha256("\0".join([source, mode, lang, *flags]).encode()).hexdigest()[:16]
    out = CACHE / f"{key}-{mode}"
    if not out.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        src = CACHE / f"{key}.{'c' if lang == 'c' else 'cc'}"
        src.write_text(source)
        tmp = out.with_suffix(f".tmp{os.getpid()}")
        subprocess.run([CC[lang], *flags, "-o", str(tmp), str(src)], check=True,
                       capture_output=True)
        tmp.rename(out)
    return str(out)


HELLO = r"""
#include <stdio.h>
int counter = 5;
static char bss_area[100000];
int main(int argc, char **argv) {
    bss_area[99999] = 1;
    printf("hello %d %s\n", argc + counter, argc > 1 ? argv[1] : "-");
    return 3;
}
"""


# What static-pie programs run: no libc, so only raw system calls.
FREESTANDING = r"""
static long sys3(long n, long a, long b, long c) {
    register long a0 asm("a0") = a, a1 asm("a1") = b, a2 asm("a2") = c, a7 asm("a7") = n;
    asm volatile("ecall" : "+r"(a0) : "r"(a1), "r"(a2), "r"(a7) : "memory");
    return a0;
}
static const char msg[] = "hello pie\n";
long counter = 5;
char bss_area[100000];
void _start(void) {
    bss_area[99999] = (char)counter;
    sys3(64, 1, (long)msg, sizeof msg - 1);
    sys3(93, 3, 0, 0);
}
"""
