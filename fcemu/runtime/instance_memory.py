"""An instance's ``memorySize``: its processes' memory read and the instance killed above it.

While a request runs, the summed resident memory of the instance's
processes is read every :data:`MEMORY_POLL_S` seconds of real time, and once
more (as the summed peaks) when it ends, unless the handler's process
reported its own peak and said it has no children: then its figure is
checked, and the other processes' (orphans the launcher took in) at most
once per :data:`MEMORY_POLL_S`, as while it runs; an instance over
``memorySize`` is killed and its requests fail as FC reports an
out-of-memory instance, with ``Process exited unexpectedly before completing
request (duration: <n>ms, maxMemoryUsage: <x>MB)``.

:class:`MemoryLimit` is the part of :class:`~fcemu.runtime.instance.Instance`
that does this (its base class): the figures, the watch and the outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from fcemu.clock import real_monotonic
from fcemu.runtime.invocation import Outcome, OutcomeKind, crash_outcome, kb_to_mb
from fcemu.runtime.logs import end_marker
from fcemu.runtime.protocol import INITIALIZATION_ERROR

if TYPE_CHECKING:
    from fcemu.runtime.contained import Contained

#: Real seconds between two readings of a busy instance's memory.
MEMORY_POLL_S = 0.05


class MemoryLimit:
    """``memorySize`` of one instance: the base of :class:`~fcemu.runtime.instance.Instance`,
    which sets the attributes declared here and kills the instance (:meth:`kill`)."""

    #: The instance's processes; None until started.
    tree: Contained | None
    #: False once the instance must take no more requests (dead, killed, failed init).
    healthy: bool
    #: Requests stopped on this instance (their outcome is ``stopped``, not ``crash``).
    stopped: set[str]
    instance_id: str

    def __init__(self, memory_limit_mb: int) -> None:
        #: Peak memory noted just before a kill (``/proc`` forgets a dead process).
        self.final_mem_mb = 0
        #: ``memorySize``; the instance is killed above it.
        self.memory_limit_mb = memory_limit_mb
        #: The memory (KiB) that made the instance go over ``memorySize``; 0 while it has not.
        self.oom_kb = 0
        #: The peak the process reported itself (KiB), for when ``/proc`` cannot tell.
        self.reported_kb = 0
        self._peak_kb = 0
        #: When the processes' memory was last read (real seconds), and what the processes
        #: beside the handler's own held then (KiB).
        self._read_at = -MEMORY_POLL_S
        self._others_kb = 0
        self._watching = 0
        #: When the requests running now began to run without a pause (real seconds).
        self._busy_since = 0.0
        self._watcher: asyncio.Task[None] | None = None

    async def kill(self) -> None:
        """Kill every process of the instance (:meth:`Instance.kill
        <fcemu.runtime.instance.Instance.kill>`)."""
        raise NotImplementedError

    def peak_mb(self) -> int:
        """Peak memory of the instance's processes (their summed VmHWM), as last seen alive."""
        if self.tree is not None and not self.tree.exited:
            self._peak_kb = max(self._peak_kb, self.tree.memory_kb(peak=True))
        return kb_to_mb(max(self._peak_kb, self.reported_kb, self.oom_kb))

    @contextlib.contextmanager
    def watching_memory(self) -> Iterator[None]:
        """While a request runs: kill the instance as soon as it uses more than memorySize."""
        self.watch_begin()
        try:
            yield
        finally:
            self._watching -= 1

    def watch_begin(self, now: float | None = None) -> None:
        """A request begins (:meth:`watching_memory` without a generator, for the hot path:
        the caller lowers ``_watching`` again when it ends); ``now``: :func:`real_monotonic`,
        when the caller has just read it."""
        if not self._watching:
            self._busy_since = real_monotonic() if now is None else now
        self._watching += 1
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.create_task(self._watch_memory())

    async def _watch_memory(self) -> None:
        # A request shorter than one interval is never read here: over_memory() sees its peak
        # when it ends (and reads the other processes at most once per interval then), so an
        # instance busy with a stream of short requests is read there, not here too.
        limit_kb = self.memory_limit_mb * 1024
        while True:
            await asyncio.sleep(MEMORY_POLL_S)
            if self._watching <= 0 or self.tree is None or self.tree.exited:
                return
            if not self.watch_due():
                continue
            self._read_at = real_monotonic()
            used = self.tree.memory_kb()
            if used > limit_kb:
                self._went_over(used)
                await self.kill()
                return

    def watch_due(self) -> bool:
        """Whether the watch reads the processes now: the requests running have run for a
        whole interval without a pause, and nothing read them within the last one."""
        now = real_monotonic()
        return now - self._read_at >= MEMORY_POLL_S and now - self._busy_since >= MEMORY_POLL_S

    def over_memory(self, handler_kb: int | None = None, childless: bool = False,
                    now: float | None = None) -> bool:
        """After a request: whether the instance went over memorySize (peaks included).

        Reads the processes' peaks once (``handler_kb``: the peak the handler's process
        just reported itself; ``childless``: it said it has no child processes; then the
        others are read at most once per :data:`MEMORY_POLL_S`, their last figures stand
        in between); then :meth:`seen_peak_mb` reports them. ``now``:
        :func:`real_monotonic`, when the caller has just read it.
        """
        tree = self.tree
        if not self.oom_kb and tree is not None and not tree.protocol.gone:
            if now is None:
                now = real_monotonic()
            if childless and handler_kb is not None and now - self._read_at < MEMORY_POLL_S:
                summed = handler_kb + self._others_kb  # the others as last read
            else:
                self._read_at = now
                summed = tree.memory_kb(peak=True, handler_kb=handler_kb, childless=childless)
                if handler_kb is not None:
                    self._others_kb = max(0, summed - handler_kb)
            # comparisons, not max(): once per request, and a max() of two costs more than
            # the rest of this check (issue 13)
            peak = self._peak_kb
            if summed > peak:
                self._peak_kb = peak = summed
            if self.reported_kb > peak:
                peak = self.reported_kb
            if peak > self.memory_limit_mb * 1024:
                self._went_over(peak)
        return self.oom_kb > 0

    def seen_peak_mb(self) -> int:
        """The peak memory last read (by :meth:`over_memory` or :meth:`peak_mb`), in MB."""
        return kb_to_mb(max(self._peak_kb, self.reported_kb, self.oom_kb))

    def _went_over(self, used_kb: int) -> None:
        self.oom_kb = max(self.oom_kb, used_kb)
        self.healthy = False

    def oom_outcome(self, request_id: str, duration_ms: int, logs: str,
                    phase: str = "Invoke") -> Outcome:
        """FC's answer for an instance killed for its memory: the process-exit error (the
        documented symptom of an out-of-memory instance), a line in the request's log."""
        kind: OutcomeKind = "stopped" if request_id in self.stopped else "crash"
        used = kb_to_mb(self.oom_kb)
        line = (f"fcemu: out of memory: the instance used {used}MB, more than its memorySize "
                f"of {self.memory_limit_mb}MB, and was killed\n")
        end = end_marker(request_id, phase).decode()
        if logs.endswith(end):
            body = logs[:-len(end)]
            logs = body + ("" if not body or body.endswith("\n") else "\n") + line + end
        outcome = crash_outcome(duration_ms, used, kind=kind, instance_id=self.instance_id,
                                logs=logs)
        if phase == "Initialize":
            outcome.error_type = INITIALIZATION_ERROR
        return outcome
