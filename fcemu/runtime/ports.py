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


def wrong_port(listening: set[int], own: int, configured: int, *, sandboxed: bool) -> str:
    """What to change when a starting custom runtime listens (``listening``) but not on its
    ``own`` port (in a sandbox, the ``configured`` one); "" when nothing is wrong yet."""
    if own in listening or not listening:  # its own port is up, or nothing yet
        return ""
    ports = ", ".join(map(str, sorted(listening)))
    if sandboxed:
        return (f"the custom runtime listens on port {ports}, not on its configured port "
                f"{configured}: listen on {configured} (also in $FC_SERVER_PORT), or set "
                "customRuntimeConfig.port to the port it listens on")
    return (f"the custom runtime listens on port {ports}, not on the port fcemu gave this "
            f"instance ({own}, in $FC_SERVER_PORT): without a sandbox every instance needs a "
            f"port of its own. Listen on $FC_SERVER_PORT (fcemu puts it in place of "
            f"{configured} in args), or install bubblewrap (bwrap) so that port {configured} "
            "works as written")


def taken_hint(configured: int) -> str:
    """For a server that exited before listening, outside a sandbox: a hint when its
    configured port is taken on this machine (it probably tried to listen there)."""
    if not port_taken(configured):
        return ""
    return (f" (port {configured}, the configured port, is in use on this machine: if the app "
            "listens on it, listen on $FC_SERVER_PORT instead, or install bubblewrap (bwrap) "
            f"so that each instance has port {configured} of its own)")
