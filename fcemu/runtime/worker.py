"""Worker runtime: Python handlers (``index.handler``) in warm worker processes.

Each instance is one child process running :mod:`fcemu.runtime._worker_main`
(the protocol is described there) in the function's code directory. An
instance serves one request at a time and stays warm for the next request of
the same function, so module-level state survives between invocations as on
FC. A new instance starts when all of a function's instances are busy; there
are at most ``max_instances`` in total, and invocations beyond that wait in
FIFO order (an idle instance of another function is stopped to make room).

Every child is the leader of its own process group, so a timeout, a stop or
:meth:`WorkerRuntime.close` kills whatever the handler started along with it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import struct
import sys
from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fcemu.clock import real_monotonic
from fcemu.runtime import (
    UNHANDLED,
    Invocation,
    Outcome,
    OutcomeKind,
    crash_outcome,
    error_body,
    kb_to_mb,
    proc_status_kb,
    timeout_outcome,
)

if TYPE_CHECKING:
    from fcemu.ids import IdGenerator
    from fcemu.models import Function

_MAIN = str(Path(__file__).with_name("_worker_main.py"))
_HEADER = struct.Struct(">I")
_MAX_FRAME = 1 << 30
#: Real seconds a new process gets to say hello (interpreter start, not the handler's import).
_START_TIMEOUT_S = 30.0
#: Real seconds to wait for the rest of a request's log once its process has answered or died.
_LOG_DRAIN_S = 2.0
#: A handler that prints without end keeps only the newest part of its log.
_LOG_LIMIT = 4 * 1024 * 1024
_LOG_KEEP = 1024 * 1024


class _WorkerGone(Exception):
    """The process died or closed its protocol pipe."""


def _start_marker(request_id: str) -> bytes:
    return f"FC Invoke Start RequestId: {request_id}\n".encode()


def _end_marker(request_id: str) -> bytes:
    return f"FC Invoke End RequestId: {request_id}\n".encode()


class _LogStream:
    """One process's stderr, cut into per-request logs at the Start/End lines."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._changed = asyncio.Event()
        self._eof = False
        #: The request running now; its Start line survives trimming.
        self.request_id = ""

    def feed(self, chunk: bytes) -> None:
        self._data += chunk
        if len(self._data) > _LOG_LIMIT:
            self._trim()
        self._changed.set()

    def close(self) -> None:
        self._eof = True
        self._changed.set()

    def _trim(self) -> None:
        dropped = len(self._data) - _LOG_KEEP
        tail = self._data[dropped:]
        start = _start_marker(self.request_id) if self.request_id else b""
        head = start if start and start not in tail else b""
        self._data = bytearray(head + f"[fcemu: {dropped} bytes of log dropped]\n".encode())
        self._data += tail

    async def wait_end(self, request_id: str, timeout_s: float) -> None:
        """Until the request's End line has arrived (written before its reply, on another pipe)."""
        end = _end_marker(request_id)

        async def arrived() -> None:
            while end not in self._data and not self._eof:
                self._changed.clear()
                await self._changed.wait()

        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(arrived(), timeout_s)

    def take(self, request_id: str) -> str:
        """The request's framed log, removed from the buffer; the End line is added if missing."""
        start, end = _start_marker(request_id), _end_marker(request_id)
        begin = self._data.find(start)
        first = max(begin, 0)
        stop = self._data.find(end, first)
        if stop >= 0:
            cut = stop + len(end)
            text = bytes(self._data[first:cut])
        else:  # the process died mid-request
            cut = len(self._data)
            text = bytes(self._data[first:])
            text += (b"" if text.endswith(b"\n") or not text else b"\n") + end
        if begin < 0:
            text = start + text
        del self._data[:cut]
        return text.decode("utf-8", "replace")


class _Instance:
    """One worker process of one function."""

    def __init__(self, function: Function, key: tuple[object, ...], instance_id: str) -> None:
        self.function_name = function.name
        self.key = key
        self.instance_id = instance_id
        self.proc: asyncio.subprocess.Process | None = None
        self.log = _LogStream()
        self.busy = True
        self.reusable = False
        self.stop_requested = False
        self.retired = False
        self.final_mem_mb = 0
        self._rss_kb = 0
        self._spawning = False
        self._spawned = asyncio.Event()
        self._log_task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    async def start(self, python: str, cwd: Path, env: dict[str, str]) -> None:
        """Spawn the process and wait for its hello."""
        if self.retired:
            raise _WorkerGone("the instance was retired before it started")
        self._spawning = True
        try:
            self.proc = await asyncio.create_subprocess_exec(
                python, _MAIN, cwd=cwd, env=env, start_new_session=True,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
            self._log_task = asyncio.create_task(self._collect_logs())
        finally:
            self._spawning = False
            self._spawned.set()
        hello = await asyncio.wait_for(self._read_frame(), _START_TIMEOUT_S)
        self._rss_kb = int(hello.get("maxrss_kb", 0))

    async def call(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one request and read its reply; _WorkerGone if the process ends first."""
        assert self.proc is not None and self.proc.stdin is not None
        data = json.dumps(request, separators=(",", ":")).encode()
        try:
            self.proc.stdin.write(_HEADER.pack(len(data)) + data)
            await self.proc.stdin.drain()
        except ConnectionError as exc:
            raise _WorkerGone(str(exc)) from exc
        reply = await self._read_frame()
        self._rss_kb = int(reply.get("maxrss_kb", self._rss_kb))
        return reply

    @property
    def exited(self) -> bool:
        return self.proc is not None and self.proc.returncode is not None

    def peak_mb(self) -> int:
        """Peak memory: VmHWM while the process lives, else the last figure it reported."""
        kb = proc_status_kb(self.pid, "VmHWM") if self.pid is not None else None
        return kb_to_mb(kb if kb is not None else self._rss_kb)

    async def kill(self) -> None:
        """Kill the process group, reap the process and drain its log; safe to repeat."""
        if self._spawning:
            await self._spawned.wait()
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:  # once reaped, the pid (and group id) may be reused
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()
        if self._log_task is not None:
            # a grandchild that left the process group may hold the pipe open
            done, _ = await asyncio.wait({self._log_task}, timeout=_LOG_DRAIN_S)
            if not done:
                self._log_task.cancel()

    async def _read_frame(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            (size,) = _HEADER.unpack(await self.proc.stdout.readexactly(_HEADER.size))
            if size > _MAX_FRAME:
                raise _WorkerGone(f"frame of {size} bytes")
            data = await self.proc.stdout.readexactly(size)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise _WorkerGone("process ended") from exc
        return json.loads(data)  # type: ignore[no-any-return]

    async def _collect_logs(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(65536):
            self.log.feed(chunk)
        self.log.close()


def _key(function: Function) -> tuple[object, ...]:
    """What must match for a warm instance to be reused (an updated function is another)."""
    return (function.name, function.function_id, function.modified_ms, function.code_checksum,
            str(function.code_dir), function.handler, function.runtime)


def _ms_since(started: float) -> int:
    return int((real_monotonic() - started) * 1000)


class WorkerRuntime:
    """Runs Python handlers (``module.function`` in ``Function.code_dir``) in worker processes.

    :param ids: source of instance IDs.
    :param max_instances: cap on worker processes alive at once, over all functions.
    :param python: the interpreter the workers run.

    A timeout, a stop or a crash kills the instance's process group; the next
    invocation starts a fresh process. :meth:`discard` kills all of a
    function's processes, so a request running on one of them ends as a crash.
    """

    def __init__(self, ids: IdGenerator, *, max_instances: int = 16,
                 python: str = sys.executable) -> None:
        if max_instances < 1:
            raise ValueError("max_instances must be at least 1")
        self._ids = ids
        self._max = max_instances
        self._python = python
        self._instances: list[_Instance] = []
        self._waiters: deque[tuple[asyncio.Future[_Instance | None], Function]] = deque()
        self._running: dict[str, _Instance] = {}
        self._queued_stops: set[str] = set()
        self._queued: set[str] = set()
        self._reaping: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- the Runtime protocol ---------------------------------------------------------

    async def invoke(self, invocation: Invocation) -> Outcome:
        """Run the handler once in a warm or new instance; never raises for handler failures."""
        function = invocation.function
        if function.code_dir is None:
            message = f"function '{function.name}' has no code directory to run"
            return Outcome("error", error_body(message, "CodeNotFound"), UNHANDLED)
        request_id = invocation.request_id
        self._queued.add(request_id)
        try:
            instance = await self._acquire(function)
        finally:
            self._queued.discard(request_id)
        if instance is None:
            return Outcome("error", error_body("fcemu is shutting down: the worker runtime is "
                                               "closed", "RuntimeClosed"), UNHANDLED)
        try:
            if request_id in self._queued_stops:  # stopped while waiting for an instance
                return crash_outcome(0, 0, kind="stopped", instance_id=instance.instance_id)
            return await self._run(instance, invocation)
        finally:
            self._queued_stops.discard(request_id)
            self._release(instance)

    async def stop(self, request_id: str) -> bool:
        """Kill the process running ``request_id``; its outcome is ``stopped``."""
        if request_id in self._queued:
            self._queued_stops.add(request_id)
            return True
        instance = self._running.get(request_id)
        if instance is None:
            return False
        instance.stop_requested = True
        instance.final_mem_mb = instance.peak_mb()
        await instance.kill()
        return True

    async def discard(self, function_name: str) -> None:
        """Kill every process of the function, busy ones included (their request crashes)."""
        doomed = [i for i in self._instances if i.function_name == function_name]
        await asyncio.gather(*(self._retire(i) for i in doomed))

    async def close(self) -> None:
        """Kill and reap every process; invocations still waiting get an error outcome."""
        self._closed = True
        while self._waiters:
            future, _ = self._waiters.popleft()
            if not future.done():
                future.set_result(None)
        for instance in list(self._instances):
            self._retire(instance)
        while self._reaping:
            await asyncio.gather(*self._reaping)

    # -- the pool -----------------------------------------------------------------------

    async def _acquire(self, function: Function) -> _Instance | None:
        """A warm idle instance, a new one, or a place in the FIFO queue until one frees."""
        if self._closed:
            return None
        if not self._waiters:
            instance = self._claim(function)
            if instance is not None:
                return instance
        future: asyncio.Future[_Instance | None] = asyncio.get_running_loop().create_future()
        entry = (future, function)
        self._waiters.append(entry)
        try:
            return await future
        except asyncio.CancelledError:
            if entry in self._waiters:
                self._waiters.remove(entry)
            handed = future.result() if future.done() and not future.cancelled() else None
            if handed is not None:  # an instance arrived just as we were cancelled
                self._release(handed)
            raise

    def _claim(self, function: Function) -> _Instance | None:
        """Take an idle warm instance or make room for a new one; None at the cap."""
        key = _key(function)
        for stale in [i for i in self._instances if not i.busy and (
                i.exited or (i.function_name == function.name and i.key != key))]:
            self._retire(stale)  # died while idle, or left over from before an update
        for instance in self._instances:
            if not instance.busy and instance.key == key:
                instance.busy = True
                return instance
        if len(self._instances) >= self._max:
            idle = next((i for i in self._instances if not i.busy), None)
            if idle is None:
                return None
            self._retire(idle)
        instance = _Instance(function, key, self._ids.instance_id())
        self._instances.append(instance)
        return instance

    def _release(self, instance: _Instance) -> None:
        instance.busy = False
        # a stop may land just after the reply, killing a process that did finish
        spent = not instance.reusable or instance.stop_requested or instance.exited
        if instance in self._instances and (spent or self._closed):
            self._retire(instance)
        self._pump()

    def _pump(self) -> None:
        """Hand freed capacity to the waiters, first come first served."""
        while self._waiters and not self._closed:
            future, function = self._waiters[0]
            if future.done():
                self._waiters.popleft()
                continue
            instance = self._claim(function)
            if instance is None:
                return
            self._waiters.popleft()
            future.set_result(instance)

    def _retire(self, instance: _Instance) -> asyncio.Task[None]:
        """Remove an instance from the pool now and kill its process in the background."""
        instance.retired = True
        if instance in self._instances:
            self._instances.remove(instance)
        reaper = asyncio.ensure_future(instance.kill())
        self._reaping.add(reaper)
        reaper.add_done_callback(self._reaping.discard)
        return reaper

    # -- one request ----------------------------------------------------------------------

    async def _run(self, instance: _Instance, invocation: Invocation) -> Outcome:
        request_id = invocation.request_id
        instance.reusable = False
        instance.stop_requested = False
        instance.log.request_id = request_id
        self._running[request_id] = instance
        try:
            if instance.proc is None:
                failed = await self._start(instance, invocation)
                if failed is not None:
                    return failed
            return await self._execute(instance, invocation)
        finally:
            self._running.pop(request_id, None)
            instance.log.request_id = ""

    async def _start(self, instance: _Instance, invocation: Invocation) -> Outcome | None:
        function = invocation.function
        assert function.code_dir is not None
        try:
            await instance.start(self._python, function.code_dir,
                                 _environment(invocation, instance.instance_id))
            return None
        except (OSError, _WorkerGone, asyncio.TimeoutError) as exc:
            await instance.kill()
            logs = instance.log.take(invocation.request_id)
            if instance.stop_requested or instance.retired:  # killed on purpose while starting
                kind: OutcomeKind = "stopped" if instance.stop_requested else "crash"
                return crash_outcome(0, instance.final_mem_mb or instance.peak_mb(), kind=kind,
                                     instance_id=instance.instance_id, logs=logs)
            message = (f"the worker process of function '{function.name}' failed to start "
                       f"({exc or type(exc).__name__}); its output: {logs[-2000:]}")
            return Outcome("error", error_body(message, "WorkerStartError"), UNHANDLED,
                           instance_id=instance.instance_id, logs=logs)

    async def _execute(self, instance: _Instance, invocation: Invocation) -> Outcome:
        function, request_id = invocation.function, invocation.request_id
        request = {"request_id": request_id,
                   "payload": base64.b64encode(invocation.payload).decode(),
                   "credentials": asdict(invocation.credentials)}
        started = real_monotonic()
        try:
            reply = await asyncio.wait_for(instance.call(request), function.timeout)
        except asyncio.TimeoutError:
            duration_ms = _ms_since(started)
            memory = instance.peak_mb()  # before the kill: /proc forgets a dead process
            await instance.kill()
            return timeout_outcome(function.timeout, duration_ms, memory,
                                   instance_id=instance.instance_id,
                                   logs=instance.log.take(request_id))
        except _WorkerGone:
            duration_ms = _ms_since(started)
            memory = instance.final_mem_mb or instance.peak_mb()
            await instance.kill()
            kind: OutcomeKind = "stopped" if instance.stop_requested else "crash"
            return crash_outcome(duration_ms, memory, kind=kind,
                                 instance_id=instance.instance_id,
                                 logs=instance.log.take(request_id))
        duration_ms = _ms_since(started)
        await instance.log.wait_end(request_id, _LOG_DRAIN_S)
        instance.reusable = True
        return Outcome(reply["kind"], base64.b64decode(reply["body"]), reply["error_type"],
                       duration_ms, kb_to_mb(int(reply["maxrss_kb"])), instance.instance_id,
                       instance.log.take(request_id))


def _environment(invocation: Invocation, instance_id: str) -> dict[str, str]:
    """The emulator's environment, the function's variables, then FC's own (which win)."""
    function, credentials = invocation.function, invocation.credentials
    env = dict(os.environ)
    env.update(function.environment_variables)
    env.update({
        "FC_FUNCTION_NAME": function.name,
        "FC_FUNCTION_HANDLER": function.handler,
        "FC_FUNCTION_MEMORY_SIZE": str(function.memory_size),
        "FC_TIMEOUT": str(function.timeout),
        "FC_REGION": invocation.region,
        "FC_ACCOUNT_ID": invocation.account_id,
        "FC_INSTANCE_ID": instance_id,
        "FC_RUNTIME": function.runtime,
        "FC_FUNC_CODE_PATH": str(function.code_dir),
        "ALIBABA_CLOUD_ACCESS_KEY_ID": credentials.access_key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": credentials.access_key_secret,
        "ALIBABA_CLOUD_SECURITY_TOKEN": credentials.security_token,
    })
    return env
