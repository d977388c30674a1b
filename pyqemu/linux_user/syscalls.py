"""Import every system call module so that the dispatch table is complete."""

from pyqemu.linux_user import (  # noqa: F401
    syscalls_files,
    syscalls_fs,
    syscalls_mem,
    syscalls_net,
    syscalls_process,
    syscalls_signal,
    syscalls_signalfd,
    syscalls_time,
)
