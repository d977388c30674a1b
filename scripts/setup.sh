#!/usr/bin/env bash
# Installs everything pyqemu and its tests need on Debian 12, as root. Idempotent:
# a second run only checks (apt-get is skipped when every package is present).
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS=(python3-venv qemu-user qemu-utils gcc-riscv64-linux-gnu g++-riscv64-linux-gnu
      libc6-dev-riscv64-cross gdb-multiarch make
      # system emulation: reference QEMUs, Debian's firmware, dtc, host assembler
      qemu-system-misc qemu-system-x86 opensbi u-boot-qemu device-tree-compiler
      binutils cpio socat libslirp0)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# Debian's own python3 is built with PGO and runs guest code ~10% faster than a
# plain source build: prefer it when present.
PY=${PYTHON:-$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3 )}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.pyqemu-installed-v2
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  # pip's chatter goes to a log; it is shown only when the install fails. The editable
  # install puts the source tree on sys.path (setuptools' "compat" mode) rather than
  # installing an import hook that every start-up loads (11 ms of each pyqemu run);
  # where a setuptools no longer has that mode, the default editable install is used.
  if ! .venv/bin/pip install -q -e '.[test]' --config-settings editable_mode=compat \
       >.venv/pip.log 2>&1 &&
     ! .venv/bin/pip install -q -e '.[test]' >.venv/pip.log 2>&1; then
    cat .venv/pip.log >&2; exit 1
  fi
  touch "$stamp"
fi
# Bytecode for every module, as a regular (non-editable) install would have: where
# PYTHONDONTWRITEBYTECODE is set (CI images often set it), each start-up would compile
# the modules it imports again, some tens of milliseconds. Only changed files are
# compiled on later runs.
.venv/bin/python -m compileall -q -j 0 pyqemu >/dev/null
# The native backend's interpreter tier: its tables and code, derived from the source
# like the bytecode above (pyqemu/accel/tcg/interp_assets.py), so a first run finds them.
if [ "$(uname -m)" = x86_64 ]; then
  .venv/bin/python -c "from pyqemu.accel.tcg.interp_assets import prebuild; prebuild()" ||
    echo "setup: warning: the interpreter tier's tables were not prebuilt" >&2
fi
