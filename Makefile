# The two commands (README): `make run` (main job) and `make test`.
VENV := .venv
PY   := $(VENV)/bin/python
CACHE := .cache

.PHONY: setup run run-user guest test lint bench
setup:
	@bash scripts/setup.sh

GUEST := $(CACHE)/guests/riscv64

# Main job: boot the default riscv64 Linux guest (OpenSBI, Linux, busybox) on the virt
# board to a shell on this terminal. The guest is built from Debian packages once and
# cached in $(GUEST). Type commands; `poweroff` ends pyqemu (Ctrl-A x quits at once).
run: setup guest
	$(VENV)/bin/pyqemu-system-riscv64 -M virt -m 256M -nographic -bios default \
	    -kernel $(GUEST)/Image -initrd $(GUEST)/initramfs.cpio.gz -append "console=ttyS0"

guest:
	@bash scripts/build-riscv64-guest.sh $(GUEST)

# A riscv64 program run under pyqemu's user-mode emulation.
run-user: setup
	@mkdir -p $(CACHE)/demo
	@riscv64-linux-gnu-gcc -O2 -static -o $(CACHE)/demo/hello examples/hello.c -lm
	$(VENV)/bin/pyqemu-riscv64 $(CACHE)/demo/hello from pyqemu

lint: setup
	$(VENV)/bin/ruff check pyqemu tests bench

# pytest exits 5 when it collects nothing: that fails the run, as it should.
test: setup lint
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/run.py
