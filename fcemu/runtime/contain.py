"""Containing handler processes: every process an instance starts ends with the instance.

A worker or custom-runtime instance is started through a launcher (this
module builds its command line), so that whatever the handler starts,
``setsid`` and double forks included, can be found, measured and killed
with it, and nothing outlives the emulator, even one killed with ``kill -9``.
The containment is probed once per process and logged once:

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
  process waiting forever. Every other mode is a fallback: ``/code`` and ``/opt`` are
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

The server never waits on pipes a handler's child may have inherited: it
waits for the launcher to exit (the asyncio process's exit callback, not
``Process.wait()``, which in Python 3.11 also waits for every pipe to close),
then gives the output a bounded moment to drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fcemu.runtime.launcher import LIFELINE_ENV, PR_SET_PDEATHSIG, launcher_args
from fcemu.runtime.pipes import STREAM_LIMIT, PipeSink, ProcessProtocol
from fcemu.runtime.procfs import (
    children,
    group_members,
    proc_status_kb,
    rss_kb,
    tree_pids,
)
from fcemu.runtime.sandbox import Sandbox

Mode = Literal["bwrap", "pidns", "subreaper", "group"]
MODES: tuple[Mode, ...] = ("bwrap", "pidns", "subreaper", "group")

LAUNCHER = str(Path(__file__).with_name("_contain_main.py"))
#: Real seconds a killed instance gets to be seen gone before everything of it is killed again.
KILL_WAIT_S = 1.0
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


_prctl: list[Any] = []
_lifeline: list[int] = []


def lifeline() -> int:
    """The read end of this process's lifeline pipe (made once): its write end stays open,
    close-on-exec, until this process ends, so a launcher holding the read end reads end of
    file exactly when the server is gone, whatever killed it."""
    with _lock:
        if not _lifeline:
            read_end, write_end = os.pipe()  # both close-on-exec: passed on only by pass_fds
            _lifeline.extend((read_end, write_end))
        return _lifeline[0]


def _die_with_server() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child (``unshare``) die with the thread that starts it
    (the emulator's loop): ``PR_SET_PDEATHSIG``, then a check that the parent still lives."""
    if not _prctl:
        try:
            import ctypes

            _prctl.append(ctypes.CDLL(None, use_errno=True).prctl)
        except (OSError, AttributeError):
            _prctl.append(None)
    prctl = _prctl[0]
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the server is already gone
            os._exit(1)

    return preexec


def _signal(pids: Sequence[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


# -- one contained process tree ------------------------------------------------------------


class Contained:
    """The processes of one instance: the launcher, the handler and whatever it started.

    ``proc`` is the asyncio process of the launcher (its pipes are the
    handler's stdin/stdout/stderr). ``handler_pid`` is the handler's own
    process (as the server's ``/proc`` numbers it); ``pids`` lists the
    handler's processes, launchers left out.
    """

    def __init__(self, contained: Containment, transport: asyncio.SubprocessTransport,
                 protocol: ProcessProtocol) -> None:
        self.containment = contained
        self._transport = transport
        self._exited = protocol.exited
        self._protocol = protocol
        #: The launcher's protocol: ``protocol.gone`` is :attr:`exited` without a property
        #: call (the pool and the instance ask several times per request).
        self.protocol = protocol
        self.proc = asyncio.subprocess.Process(transport, protocol, asyncio.get_running_loop())
        self._init_pid: int | None = self.proc.pid if contained.mode == "subreaper" else None
        self._handler_pid: int | None = self.proc.pid if contained.mode == "group" else None

    @classmethod
    async def spawn(cls, contained: Containment, command: Sequence[str], *, cwd: Path,
                    env: dict[str, str], stdin: int, stdout: int, stderr: int,
                    sandbox: Sandbox | None = None,
                    sinks: Mapping[int, PipeSink] | None = None) -> Contained:
        """Start ``command`` contained (in ``bwrap`` mode inside ``sandbox``, whose paths
        ``command`` and ``env`` use; default: ``cwd`` at ``/code``); OSError when it cannot
        be run. ``sinks``: output pipes (1, 2) read by a sink (:mod:`fcemu.runtime.pipes`)
        instead of ``proc``'s ``StreamReader``."""
        if contained.sandboxed and sandbox is None:
            sandbox = Sandbox(cwd)
        program = sandbox.host_path(command[0]) if contained.sandboxed and sandbox else command[0]
        search = env.get("PATH", os.defpath)
        if contained.sandboxed and sandbox is not None:
            search = ":".join(sandbox.host_path(part) for part in search.split(":"))
        if shutil.which(program, path=search) is None and not (
                os.sep in program and os.access(Path(cwd, program), os.X_OK)):
            raise FileNotFoundError(2, "No such file or directory", command[0])
        loop = asyncio.get_running_loop()
        extra: dict[str, Any] = {}
        if contained.mode == "pidns":
            extra["preexec_fn"] = _die_with_server()
        if contained.sandboxed and sandbox is not None:
            line = lifeline()
            env = {**env, **sandbox.relay_env(), LIFELINE_ENV: str(line)}
            extra["pass_fds"] = (line,)
        transport, protocol = await loop.subprocess_exec(
            lambda: ProcessProtocol(STREAM_LIMIT, loop, sinks), *contained.argv(command, sandbox),
            cwd=cwd, env=env, stdin=stdin, stdout=stdout, stderr=stderr, start_new_session=True,
            **extra)
        return cls(contained, transport, protocol)

    @property
    def exited(self) -> bool:
        """The launcher has exited: in ``pidns``/``bwrap`` mode, every process of the instance
        is gone."""
        return self._protocol.gone

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    def pipe(self, fd: int) -> asyncio.ReadTransport | None:
        """The transport reading the launcher's output pipe ``fd`` (1 or 2)."""
        pipe = self._transport.get_pipe_transport(fd)
        return pipe if isinstance(pipe, asyncio.ReadTransport) else None

    def handler_pid(self) -> int | None:
        """The handler's process (worker or custom-runtime command); None until it exists."""
        if self._handler_pid is None and not self.exited:
            init = self._launcher_init()
            kids = children(init, oldest_first=True) if init is not None else []
            self._handler_pid = kids[0] if kids else None
        return self._handler_pid

    def pids(self) -> list[int]:
        """The instance's live processes, the handler first (launchers left out).

        Read on every request (memorySize), so it reads as little as it can: the
        launcher has one thread, whose ``children`` file lists the handler and the
        orphans it took in.
        """
        if self.exited:
            return []
        if self.containment.mode == "group":
            assert self._handler_pid is not None
            return tree_pids(self._handler_pid)
        init = self._launcher_init()
        if init is None:
            return []
        top = self._launcher_children(init)
        handler = self.handler_pid()
        found = []
        for child in sorted(top, key=lambda p: p != handler):
            found.extend(tree_pids(child))
        return found

    def memory_kb(self, peak: bool = False, handler_kb: int | None = None,
                  childless: bool = False) -> int:
        """The summed resident memory (``peak``: the summed ``VmHWM``) of the instance's
        processes, in KiB; ``handler_kb``, the handler's own figure when it just reported
        one, stands in for reading it. ``childless``: the handler said it has no child
        processes; then only the launcher's are looked at (orphans it took in)."""
        if childless and handler_kb is not None and self.containment.mode != "group":
            init, handler = self._launcher_init(), self.handler_pid()
            if init is not None and self._launcher_children(init) == [handler]:
                return handler_kb
        total = 0
        handler = self.handler_pid() if handler_kb is not None else None
        for pid in self.pids():
            if pid == handler and handler_kb is not None:
                total += handler_kb
            elif peak:
                total += proc_status_kb(pid, "VmHWM") or 0
            else:
                total += rss_kb(pid)
        return total

    @staticmethod
    def _launcher_children(init: int) -> list[int]:
        # os.open and os.read, not open(): read for the memory check of a busy instance, and
        # a file object costs a stat, a seek and a tty check more (and its buffers)
        try:
            fd = os.open(f"/proc/{init}/task/{init}/children", os.O_RDONLY)
        except OSError:
            return []
        try:
            data = b""
            while chunk := os.read(fd, 65536):
                data += chunk
            return [int(k) for k in data.split()]
        except (OSError, ValueError):
            return []
        finally:
            os.close(fd)

    def _launcher_init(self) -> int | None:
        """The launcher inside the namespace (``pidns``, ``bwrap``) or the launcher itself."""
        if self._init_pid is None and self.containment.namespaced and not self.exited:
            kids = children(self.proc.pid)
            self._init_pid = kids[0] if kids else None
        return self._init_pid

    async def wait(self, timeout: float | None = None) -> bool:
        """Until the launcher has exited (never waiting on pipes); False on timeout."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._exited.wait(), timeout)
        return self.exited

    async def kill(self) -> None:
        """Kill every process of the instance and wait (boundedly) until it is gone."""
        if self.exited:
            self._sweep([])
            return
        known = self.pids()
        mode = self.containment.mode
        init, handler = self._launcher_init(), self.handler_pid()
        if mode != "group" and init is not None and handler is not None:
            # The handler, then the launcher, which exits once the handler has: in pidns
            # mode the kernel then kills the rest of the namespace, in subreaper mode the
            # launcher does. (SIGKILL to a PID 1 would make unshare print a complaint.)
            _signal([handler], signal.SIGKILL)
            _signal([init], signal.SIGTERM)
        elif mode != "group":  # still starting: the outermost process, the rest follows it
            _signal([self.proc.pid], signal.SIGKILL)
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            _signal(known, signal.SIGKILL)
        if not await self.wait(KILL_WAIT_S):  # the launcher is stuck: kill all we know of
            _signal([self.proc.pid, *known, *self.pids()], signal.SIGKILL)
            await self.wait(KILL_WAIT_S)
        self._sweep(known)

    def _sweep(self, known: Sequence[int]) -> None:
        """Outside a PID namespace: kill what was seen of the instance and may have outlived
        it."""
        if not self.containment.namespaced:
            _signal(known, signal.SIGKILL)
            if self.containment.mode == "group" and self._handler_pid is not None:
                _signal(group_members(self._handler_pid), signal.SIGKILL)

    def close(self) -> None:
        """Close the pipes (readers get EOF); kills the launcher if it still runs."""
        self._transport.close()
