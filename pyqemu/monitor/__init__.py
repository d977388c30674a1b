"""The monitor: QMP (JSON, for programs) and HMP (the ``(qemu)`` prompt) on a machine.

    -qmp unix:/tmp/qmp.sock,server=on,wait=off     QMP, any number of clients
    -qmp tcp:127.0.0.1:4444,server=on,wait=off
    -chardev socket,id=m,path=P,server=on,wait=off -mon chardev=m,mode=control
    -qmp stdio | -monitor stdio                     the monitor owns stdio
    -nographic                                      serial + HMP on stdio, Ctrl-A c

    monitor.py            Monitor: endpoints, command table, event delivery
    qmp_server.py         -qmp unix:/tcp: listening sockets, many clients
    qmp_session.py        one QMP client: greeting, negotiation, dispatch
    json_stream.py        splitting the byte stream into bounded JSON messages
    qmp_commands.py       machine commands (query-*, stop, cont, quit...)
    snapshot_commands.py  snapshot jobs and blockdev internal snapshots
    hmp.py, hmp_info.py, hmp_memory.py   HMP commands built on the QMP ones
    chardev_frontends.py  HMP and QMP on a chardev (-monitor, -mon, Ctrl-A c)
"""

from pyqemu.monitor.monitor import Monitor

__all__ = ["Monitor"]
