"""The gdb remote serial protocol (gdb manual, appendix "Remote Protocol").

packets.py (framing) and session.py (the commands) speak the protocol to a DebugTarget
(target.py); server.py carries it over TCP. Targets: user.py (pyqemu-riscv64 -g: guest
threads), tcg_system.py (RISC-V machines on TCG: harts) and kvm_system.py (x86-64
machines on KVM: vCPUs), with the per-architecture registers in riscv.py and
x86_64.py. cli.py turns -gdb/-s into a stub on the machine's main loop.
"""
