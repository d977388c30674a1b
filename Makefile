# The two commands (README): `make run` (main job) and `make test`.
VENV := .venv
PY   := $(VENV)/bin/python
CACHE := .cache

.PHONY: setup run test lint bench
setup:
	@bash scripts/setup.sh

# Main job: a riscv64 program run under pyqemu's user-mode emulation.
run: setup
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
