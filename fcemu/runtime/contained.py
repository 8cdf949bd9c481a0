"""One contained instance's processes: their start, their memory, their end.

:class:`Contained` is the process tree of one worker or custom-runtime
instance: the launcher, the handler and whatever the handler started. It starts
a command as a :class:`~fcemu.runtime.contain.Containment` says (the mode this
machine allows, chosen and probed in :mod:`fcemu.runtime.contain`), finds the
handler's process and every process below it, sums their memory (read on every
request for ``memorySize``), and kills them all. In ``bwrap`` mode the launcher
holds the read end of this process's lifeline (:func:`lifeline`); in ``pidns``
mode ``unshare`` dies with the server (``PR_SET_PDEATHSIG``).

The server never waits on pipes a handler's child may have inherited: it
waits for the launcher to exit (the asyncio process's exit callback, not
``Process.wait()``, which in Python 3.11 also waits for every pipe to close),
then gives the output a bounded moment to drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fcemu.runtime.launcher import LIFELINE_ENV, PR_SET_PDEATHSIG
from fcemu.runtime.pipes import STREAM_LIMIT, PipeSink, ProcessProtocol
from fcemu.runtime.procfs import (
    ChildrenFile,
    children,
    group_members,
    proc_status_kb,
    rss_kb,
    tree_pids,
)
from fcemu.runtime.sandbox import Sandbox

if TYPE_CHECKING:
    from fcemu.runtime.contain import Containment

#: Real seconds a killed instance gets to be seen gone before everything of it is killed again.
KILL_WAIT_S = 1.0

_lock = threading.Lock()
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
        #: The launcher's ``children`` file, once read (:meth:`_launcher_children`), and
        #: whether :meth:`close` was called (a file made after it is kept closed).
        self._children: ChildrenFile | None = None
        self._files_closed = False
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

    def _launcher_children(self, init: int) -> list[int]:
        """The launcher's children (the handler, orphans it took in), read for the memory
        check of a busy instance: from its ``children`` file, kept open until :meth:`close`
        (``init`` is :meth:`_launcher_init`'s, the same process each time). After
        :meth:`close`, each read opens the file for itself alone: nothing stays open."""
        kept = self._children
        if kept is None:
            kept = self._children = ChildrenFile(init)
            if self._files_closed:
                kept.close()
        return kept.read()

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
        elif mode != "group":  # still starting: the outermost process and what it started
            # (bwrap killed between making its namespace and releasing the process in it
            # would leave that one waiting for ever, outside every instance: contain.py)
            _signal([*reversed(tree_pids(self.proc.pid))], signal.SIGKILL)
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
        """Close the pipes (readers get EOF) and the launcher's ``children`` file; kills the
        launcher if it still runs."""
        self._transport.close()
        self._files_closed = True
        if self._children is not None:
            self._children.close()
