"""Containing handler processes: every process an instance starts ends with the instance.

A worker or custom-runtime instance is started through a launcher (this
module builds its command line), so that whatever the handler starts,
``setsid`` and double forks included, can be found, measured and killed
with it, and nothing outlives the emulator, even one killed with ``kill -9``.
This module owns the containment modes: which ones this machine allows, which
one is in force, and the command line each makes; the processes of one
contained instance (their start, memory and kill) are
:class:`~fcemu.runtime.contained.Contained`'s. The containment is probed once
per process and logged once:

* ``bwrap`` (Linux with bubblewrap, chosen first when ``bwrap`` works): the
  launcher runs as PID 1 of a bubblewrap sandbox (:mod:`fcemu.runtime.sandbox`:
  ``/code`` and ``/opt`` read-only, a private ``/tmp``, other functions' code
  hidden, a network namespace of its own for a custom runtime), and is then
  contained exactly as in ``pidns`` mode. It follows the server through a
  lifeline: the read end of a pipe whose write end only the server holds;
  when the server dies (even by ``kill -9``) the launcher reads end of file,
  and its exit ends the namespace. bwrap itself is not tied to the server
  (no ``--die-with-parent``, a session of its own): killed between making
  the namespace and releasing its first process, it would leave that
  process waiting forever (so an instance killed while it starts has that
  process killed too: :meth:`~fcemu.runtime.contained.Contained.kill`).
  Every other mode is a fallback: ``/code`` and ``/opt`` are
  rewritten to the real directories, and a custom runtime gets a free port
  of its own instead of its configured one.
* ``pidns`` (Linux, where ``unshare`` may make namespaces: as root, or with
  ``--map-current-user``, util-linux 2.38+): ``unshare --pid --fork
  --kill-child --mount-proc`` runs the launcher
  (:mod:`fcemu.runtime._contain_main`) as PID 1 of a new PID namespace with a
  ``/proc`` of its own, and the launcher runs the handler. Killing the
  launcher makes the kernel kill every process in the namespace. ``unshare``
  dies with the server (``PR_SET_PDEATHSIG``), and the launcher with
  ``unshare`` (``--kill-child``). The handler sees namespace PIDs (its own
  process is PID 2) and only its own processes in ``/proc``, as in an FC
  instance.
* ``subreaper`` (Linux without namespaces, e.g. a locked-down container): the
  launcher is a child subreaper that takes the handler's orphans, follows the
  server's death (SIGTERM) and kills every process below it when the handler
  exits or it is told to stop. A process that kills the launcher itself with
  SIGKILL can leave orphans behind.
* ``group`` (macOS and other systems): no launcher; the handler leads a
  process group of its own and that group is killed. A process that leaves
  the group (``setsid``) is not found, and ``kill -9`` of the server leaves
  the handler running.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fcemu.runtime.launcher import launcher_args
from fcemu.runtime.sandbox import Sandbox

Mode = Literal["bwrap", "pidns", "subreaper", "group"]
MODES: tuple[Mode, ...] = ("bwrap", "pidns", "subreaper", "group")

LAUNCHER = str(Path(__file__).with_name("_contain_main.py"))
_UNSHARE_OPTIONS = ("--pid", "--fork", "--kill-child", "--mount-proc")

log = logging.getLogger("fcemu.runtime")


@dataclass(frozen=True)
class Containment:
    """How instances are started and killed on this machine (see the module docstring)."""

    mode: Mode
    #: The ``unshare ...`` command line in front of the launcher (``pidns``), or the
    #: ``bwrap`` program (``bwrap``).
    prefix: tuple[str, ...] = ()
    python: str = sys.executable

    @property
    def sandboxed(self) -> bool:
        """Instances run in a bubblewrap sandbox (``/code``, ``/opt`` and ports as on FC)."""
        return self.mode == "bwrap"

    @property
    def namespaced(self) -> bool:
        """The launcher is PID 1 of a PID namespace: killing it ends the instance."""
        return self.mode in ("bwrap", "pidns")

    def argv(self, command: Sequence[str], sandbox: Sandbox | None = None) -> list[str]:
        """The command line that runs ``command`` contained; in ``bwrap`` mode inside
        ``sandbox`` (the instance's function directories and network), which it needs."""
        if self.mode == "group":
            return list(command)
        if self.mode == "bwrap":
            if sandbox is None:
                raise ValueError("bwrap containment needs the instance's sandbox")
            launcher = [self.python, "-I", "-S", LAUNCHER,
                        *launcher_args("pidns", os.getpid(), list(command))]
            return sandbox.wrap(self.prefix[0], launcher)
        return [*self.prefix, self.python, "-I", "-S", LAUNCHER,
                *launcher_args(self.mode, os.getpid(), list(command))]

    def describe(self) -> str:
        """One line for the log: what is active and what it guarantees (in a fallback:
        what differs from FC)."""
        if self.mode == "bwrap":
            return ("handler instances run in bubblewrap sandboxes: /code and /opt as on FC, "
                    "a private /tmp, other functions' code hidden, custom runtimes on their "
                    "configured port in a network of their own; every process a handler "
                    "starts ends with its instance")
        fallback = ("; without bubblewrap (bwrap), /code and /opt are rewritten to the real "
                    "directories only in environment variables and the start command, and "
                    "custom runtimes must listen on $FC_SERVER_PORT")
        if self.mode == "pidns":
            return (f"handler instances run in PID namespaces of their own ({' '.join(self.prefix)}"
                    "): every process a handler starts ends with its instance" + fallback)
        if self.mode == "subreaper":
            return ("handler instances run under a child-subreaper launcher, without PID "
                    "namespaces: a handler process that kills its launcher with SIGKILL can "
                    "leave orphans" + fallback)
        return ("handler instances are contained by their process group only: a process a "
                "handler moves to another session (setsid) can outlive its instance, and "
                "killing the server with SIGKILL leaves handlers running" + fallback)


_chosen: dict[str, Containment] = {}
_lock = threading.Lock()


def containment(mode: Mode | None = None) -> Containment:
    """The containment in force: ``mode`` when given (and possible), else the one the
    ``FCEMU_CONTAINMENT`` environment variable names (``bwrap``, ``pidns``, ``subreaper``
    or ``group``), else the strongest this machine allows; chosen once per process and
    logged once."""
    with _lock:
        key = mode or "auto"
        if key not in _chosen:
            wanted = mode or _from_environment()
            chosen = _probe(wanted)
            if mode is None:
                level = logging.INFO if chosen.mode == "bwrap" else logging.WARNING
                log.log(level, "fcemu containment: %s", chosen.describe())
            _chosen[key] = chosen
        return _chosen[key]


def _from_environment() -> Mode | None:
    value = os.environ.get("FCEMU_CONTAINMENT", "").strip()
    for mode in MODES:
        if value == mode:
            return mode
    if value:
        log.warning("FCEMU_CONTAINMENT=%r is not one of %s: ignored", value, ", ".join(MODES))
    return None


def _probe(mode: Mode | None) -> Containment:
    linux = sys.platform.startswith("linux") and os.path.isdir("/proc/self/task")
    if not linux or mode == "group":
        return Containment("group")
    if mode in (None, "bwrap"):
        bwrap = shutil.which("bwrap")
        if bwrap and _works(Containment("bwrap", (bwrap,))):
            return Containment("bwrap", (bwrap,))
        if mode == "bwrap":
            log.warning("bubblewrap sandboxes are not available here (%s)",
                        "bwrap failed" if bwrap else "no bwrap program: install bubblewrap")
    if mode in (None, "bwrap", "pidns"):
        unshare = shutil.which("unshare")
        variants = [list(_UNSHARE_OPTIONS), ["--map-current-user", *_UNSHARE_OPTIONS]]
        for options in variants if unshare else []:
            prefix = (str(unshare), *options, "--")
            if _works(Containment("pidns", prefix)):
                return Containment("pidns", prefix)
        if mode in ("bwrap", "pidns"):
            log.warning("PID namespaces are not available here (unshare failed)")
    return Containment("subreaper")


def _works(candidate: Containment) -> bool:
    """Whether the launcher starts a process as PID 2 of a namespace with its own /proc."""
    check = "import os,sys; sys.exit(0 if os.getpid() == 2 and os.path.isdir('/proc/2') else 3)"
    try:
        probe = candidate.argv([candidate.python, "-I", "-S", "-c", check],
                               Sandbox(Path(LAUNCHER).parent))
        if candidate.sandboxed:  # a network namespace too, as custom runtimes get
            probe.insert(1, "--unshare-net")
        # A session of its own: a kill of the server's process group (a test harness, a
        # shell) must not kill bwrap before its namespace's PID 1 is released, which then
        # waits forever (seen after CI's kill -9 tests). The probe exits at once anyway.
        done = subprocess.run(probe,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=20, check=False,
                              start_new_session=True)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0
