"""The launcher's command line, shared by the server and the launcher itself.

:mod:`fcemu.runtime.contain` starts every contained instance as
``python -I -S _contain_main.py MODE SERVER_PID -- COMMAND...``;
``_contain_main.py`` (run by path, never importing fcemu) reads the same
list back. Both take the format from here. The module imports nothing, not
even from the standard library, because the launcher runs once per instance
start and every import would add to that start.
"""

from __future__ import annotations

#: The launcher's modes (``group`` containment runs no launcher).
MODES = ("pidns", "subreaper")
#: ``prctl`` option: the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1
#: ``prctl`` option: orphans below this process are re-parented to it.
PR_SET_CHILD_SUBREAPER = 36
#: Environment variable naming the launcher's lifeline: the read end of a pipe whose write
#: end only the server holds. End of file there means the server is gone (``bwrap`` mode).
LIFELINE_ENV = "FCEMU_LIFELINE"


def launcher_args(mode: str, server_pid: int, command: list[str]) -> list[str]:
    """The launcher's arguments: ``MODE SERVER_PID -- COMMAND...``."""
    return [mode, str(server_pid), "--", *command]


def parse_launcher_args(args: list[str]) -> tuple[str, int, list[str]] | None:
    """``(mode, server_pid, command)`` from :func:`launcher_args`'s list; None if malformed."""
    if len(args) < 4 or args[2] != "--" or args[0] not in MODES:
        return None
    try:
        server_pid = int(args[1])
    except ValueError:
        return None
    return args[0], server_pid, list(args[3:])
