"""Which TCP ports processes listen on, and whether a port is free (from ``/proc``).

Used outside a sandbox, where a custom runtime must listen on the port fcemu
gave it: a server that listens on another one (its configured port, written
into its code) is found within a poll and told what to change, instead of
a 120-second health-check wait. Unknown (no ``/proc``) reads as "none".
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterable

_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's "st" column


def listening_ports(pids: Iterable[int]) -> set[int]:
    """The TCP ports (IPv4 and IPv6) the processes ``pids`` listen on."""
    inodes: set[str] = set()
    table_of = None
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        table_of = table_of or pid
        for fd in fds:
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    if not inodes or table_of is None:
        return set()
    ports: set[int] = set()
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{table_of}/net/{table}", encoding="ascii") as rows:
                lines = rows.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _LISTEN and fields[9] in inodes:
                ports.add(int(fields[1].rpartition(":")[2], 16))
    return ports


def port_taken(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something on this machine already listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "taken"
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False
