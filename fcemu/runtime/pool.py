"""The pool that caps instances, shared by the worker and custom runtimes.

An :class:`~fcemu.runtime.instance.Instance` is one warm process tree of one
function (:mod:`fcemu.runtime.instance`); it is reused until it dies, is
killed (timeout, stop, out of memory), is superseded by an updated function
(or its version is deleted), or has been idle for ``idle_seconds`` of real time.

The :class:`InstancePool` caps the processes alive at once over every
function (``max_instances``). A request takes a free slot on a warm instance
of its function when there is one (without queueing: it uses no new
capacity); otherwise the oldest waiting request may start a new instance if
the cap allows, or make room by stopping an idle instance of another function.
Requests that find neither wait in FIFO order (their flow: :mod:`fcemu.runtime.pooled`;
their lines: :mod:`fcemu.runtime.pool_lines`). An instance counts against the cap from
the moment it is created until its process has been reaped, so the cap holds even while
killed processes are on their way out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fcemu.runtime.instance import (
    Initializer,
    Instance,
    InstanceKilled,
    Key,
    TimerHandle,
    init_timeout_outcome,
)
from fcemu.runtime.pool_lines import NO_KEY, Line, Make, Start, Waiter

if TYPE_CHECKING:
    from fcemu.models import Function

__all__ = ["IdleTimer", "Initializer", "Instance", "InstanceKilled", "InstancePool", "Key",
           "Make", "PoolUsage", "Start", "init_timeout_outcome"]

#: Starts a timer: ``idle_timer(seconds, callback)`` calls ``callback`` after that many real
#: seconds unless the handle it returns is cancelled (the loop's ``call_later`` by default).
IdleTimer = Callable[[float, Callable[[], None]], TimerHandle]


def _loop_timer(seconds: float, callback: Callable[[], None]) -> TimerHandle:
    return asyncio.get_running_loop().call_later(seconds, callback)


@dataclass(frozen=True)
class PoolUsage:
    """How many processes the pool holds: alive now, the most ever at once, the cap."""

    live: int
    peak: int
    max_instances: int


class InstancePool:
    """Every process instance of one engine, capped at ``max_instances``.

    :param max_instances: processes alive at once, over all functions and runtimes.
    :param idle_seconds: real seconds an idle instance stays warm before it is stopped.
    :param idle_timer: starts the timer that stops an idle instance (:data:`IdleTimer`).
    """

    def __init__(self, max_instances: int = 16, idle_seconds: float = 300.0, *,
                 idle_timer: IdleTimer | None = None) -> None:
        if max_instances < 1:
            raise ValueError("max_instances must be at least 1")
        self.max_instances = max_instances
        self.idle_seconds = idle_seconds
        self._idle_timer = idle_timer or _loop_timer
        self._instances: list[Instance] = []
        self._reaping: dict[Instance, asyncio.Task[None]] = {}
        self._queue: deque[Waiter] = deque()
        self._by_key: dict[Key, Line] = {}
        #: The line last made or found, and its key (that very object): a line-up or a
        #: release of the same key finds it without hashing the key again (a worker's key is
        #: a 10-tuple: issue 13). Forgotten as that line goes (:meth:`_drop`).
        self._hot_key: Key = NO_KEY
        self._hot_line: Line | None = None
        #: The newest key of each (function, version): older instances are stale.
        self._latest: dict[tuple[str, str], Key] = {}
        #: (function, version) -> settled as an instance of a deleted version is retired
        self._retiring: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._closed = False
        #: Instances alive now: serving, idle, starting, or being killed (kept: _counted).
        self.live = 0
        #: The most processes ever alive at once (for tests of the cap).
        self.peak = 0

    def _counted(self) -> None:
        """Keep :attr:`live` (read per task by the metrics) after a change of the two."""
        self.live = len(self._instances) + len(self._reaping)

    def instances(self) -> list[Instance]:
        return list(self._instances)

    def usage(self) -> PoolUsage:
        """Processes alive now, the most ever alive at once, and the cap."""
        return PoolUsage(self.live, self.peak, self.max_instances)

    async def acquire(self, function: Function, key: Key, make: Callable[[], Instance],
                      start: Callable[[Instance, asyncio.Future[Any]], bool] | None = None
                      ) -> Instance | None:
        """A slot on a warm or new instance, in FIFO order; None once the pool is closed.

        ``start``: when a slot is handed to this request, it may start the request there at
        once (``start(instance, future)`` says whether it did; the instance then settles
        ``future`` with the reply, its timeout or its process's end): the instance is
        returned once the request has its answer, and the caller collects it from the
        instance. Cancelled after such a start, the caller ends the request.
        (:meth:`line_up` and :meth:`left` are this in two halves, for a caller that
        awaits the waiter's future itself: one coroutine less per request.)
        """
        waiter = self.line_up(function, key, lambda _function, _key: make(),
                              None if start is None else
                              lambda instance, _request, future: start(instance, future))
        if waiter is None:
            return None
        try:
            got = await waiter.future
        except asyncio.CancelledError:
            self.left(waiter)
            raise
        except Exception:  # a started request's timeout or end, for the caller to collect
            if waiter.started is None:
                raise
        return got if waiter.started is None else waiter.started

    def line_up(self, function: Function, key: Key, make: Make, start: Start | None = None,
                request: Any = None) -> Waiter | None:
        """:meth:`acquire`'s first half: the request's place in line, None once the pool is
        closed. Its ``future`` gives the instance (None at close); with ``start`` (called as
        ``start(instance, request, future)``), a request started by the hand-off has
        :attr:`Waiter.started` set and its future is its reply (:meth:`acquire` says what
        the caller does then). A caller cancelled while it waits calls :meth:`left`."""
        if self._closed:
            return None
        line = self._hot_line if key is self._hot_key else self._found(key)
        waiter = Waiter()  # its fields one by one (not from a tuple: issue 13)
        waiter.function = function
        waiter.key = key
        waiter.make = make
        waiter.start = start
        waiter.request = request
        waiter.started = None
        # the running loop's Future, as its create_future() makes it, without that method's
        # Python frame (issue 13: 1.3k instructions a request); line_up runs on the loop's
        # thread only (as every pool method), where Future() takes the running loop
        waiter.future = asyncio.Future()
        self._queue.append(waiter)
        # (the line's own function object: its group's, so its flag says whether key is newest)
        if line and (line.latest if line.function is function
                     else self._latest.get((function.name, function.version_id)) == key):
            # Requests of this function already wait, so the last pump found no slot and no
            # room for them, and only a release or a reap (each pumps) makes one: this one
            # waits behind them without a pump (a burst's pump walked every instance thrice).
            line.append(waiter)
        else:
            group = (function.name, function.version_id)
            if self._latest.get(group) != key:
                self._newest(group, key)
            if line is None:
                line = self._by_key[key] = self._hot_line = Line(function, group)
                self._hot_key = key
            line.append(waiter)
            self._pump()
        return waiter

    def _newest(self, group: tuple[str, str], key: Key) -> None:
        """``key`` is now the newest of ``group``: the lines of the group know it."""
        self._latest[group] = key
        for line_key, line in self._by_key.items():
            if line.group == group:
                line.latest = line_key == key

    def left(self, waiter: Waiter) -> None:
        """A request lined up by :meth:`line_up` was cancelled while it waited: its place
        goes, or the instance handed to it just then goes back. (One the hand-off started
        is the caller's to end.)"""
        if waiter.started is not None:
            return  # started by the hand-off: the caller ends the request
        future = waiter.future
        handed = future.result() if future.done() and not future.cancelled() else None
        if handed is not None:  # an instance arrived just as we were cancelled
            self.release(handed)
        else:
            future.cancel()
            self._forget(waiter)
            with contextlib.suppress(ValueError):
                self._queue.remove(waiter)

    def release(self, instance: Instance) -> None:
        """Give a slot back; a spent, stale or idle-too-long instance goes."""
        instance.active -= 1
        key = instance.key
        waiting = self._hot_line if key is self._hot_key else self._found(key)
        if (waiting and not instance.retired and instance.healthy and not instance.exited
                and (waiting.latest if waiting.group == instance.group
                     else self._latest.get(instance.group) == key)):
            # the next request of its function takes the slot: nothing else changed
            # (an idle instance that died is retired by the next acquire's pump)
            waiter = waiting[0]
            if (instance.active + 1 == instance.capacity and waiter.started is None
                    and not waiter.future.done()):
                self._hand(instance, waiter, waiting)  # _fill's one turn, without its loop
                return
            self._fill(instance, waiting)
            if instance.active > 0:
                return
        if instance in self._instances:
            stale = self._latest.get(instance.group) != instance.key
            if not instance.healthy or instance.exited or self._closed:
                self.retire(instance)
            elif instance.active == 0:
                if stale:
                    self.retire(instance)
                else:
                    self._idle(instance)
        self._pump()

    def retire(self, instance: Instance) -> asyncio.Task[None]:
        """Take an instance out of service now and kill its process in the background."""
        instance.retired = True
        instance.healthy = False
        if instance.idle_timer is not None:
            instance.idle_timer.cancel()
            instance.idle_timer = None
        if instance in self._instances:
            self._instances.remove(instance)
        reaper = self._reaping.get(instance)
        if reaper is None:
            reaper = self._reaping[instance] = asyncio.ensure_future(self._reap(instance))
        self._counted()
        if self._retiring:  # retire_version waits for the group's busy instances
            waiting = self._retiring.pop(instance.group, None)
            if waiting is not None and not waiting.done():
                waiting.set_result(None)
        return reaper

    async def discard(self, function_name: str) -> None:
        """Kill every instance of a function, busy ones included (their requests crash)."""
        doomed = [i for i in self._instances if i.function_name == function_name]
        await asyncio.gather(*(self.retire(i) for i in doomed))

    async def retire_version(self, function_name: str, version_id: str) -> None:
        """A deleted version's instances go: idle ones now, busy ones as their last request
        ends (as stale instances do); returns once all have been reaped."""
        group = (function_name, version_id)
        while True:
            self._latest.pop(group, None)  # no key is the newest: every instance is stale
            for line in self._by_key.values():
                if line.group == group:
                    line.latest = False
            busy = [i for i in self._instances if i.group == group and i.active > 0]
            for instance in [i for i in self._instances if i.group == group and i.active == 0]:
                self.retire(instance)
            if not busy:
                break
            await self._retiring.setdefault(group, asyncio.get_running_loop().create_future())
        await asyncio.gather(*(t for i, t in list(self._reaping.items()) if i.group == group),
                             return_exceptions=True)

    async def close(self) -> None:
        """Kill and reap every process; waiting requests get None. Safe to repeat."""
        self._closed = True
        while self._queue:
            waiter = self._queue.popleft()
            if not waiter.served:  # a started request ends with its instance's kill
                waiter.future.set_result(None)
        self._by_key.clear()
        self._hot_key, self._hot_line = NO_KEY, None
        for instance in list(self._instances):
            self.retire(instance)
        await self.reaped()

    async def reaped(self) -> None:
        """Until every instance taken out of service has been killed and reaped."""
        while self._reaping:
            await asyncio.gather(*self._reaping.values(), return_exceptions=True)

    # -- the queue ------------------------------------------------------------------------

    def _pump(self) -> None:
        """Hand free slots and free capacity to waiting requests."""
        if self._closed:
            return
        for instance in [i for i in self._instances if i.active == 0 and (
                not i.healthy or self._latest.get(i.group) != i.key or i.exited)]:
            self.retire(instance)  # died while idle, or left over from before an update
        if self._by_key:  # only instances with a free slot and requests of their own waiting
            by_key = self._by_key
            for instance in [i for i in self._instances
                             if i.active < i.capacity and i.key in by_key]:
                self._fill(instance)
        while self._queue:
            waiter = self._queue[0]
            if waiter.served:
                self._queue.popleft()
                continue
            if self.live < self.max_instances:
                instance = waiter.make(waiter.function, waiter.key)
                self._instances.append(instance)
                self._counted()
                self.peak = max(self.peak, self.live)
                self._hand(instance, waiter)
                self._fill(instance)  # more requests may share a new instance
                continue
            if not self._reaping:  # room is not on its way: make some
                idle = next((i for i in self._instances if i.active == 0), None)
                if idle is not None:
                    self.retire(idle)
            return

    def _fill(self, instance: Instance, line: Line | None = None) -> None:
        """Give the instance's free slots to the requests waiting for its function (``line``:
        their line, when the caller has just found it not empty and the instance healthy and
        alive: not looked up or checked again for the first slot)."""
        checked = line is not None
        waiting = self._by_key.get(instance.key) if line is None else line
        while waiting and instance.active < instance.capacity:
            if checked:
                checked = False
            elif not instance.healthy or instance.exited:
                break
            waiter = waiting[0]
            if waiter.started is not None or waiter.future.done():  # served
                waiting.popleft()
            else:
                self._hand(instance, waiter, waiting)  # which takes it out of the line
        if waiting is not None and not waiting:
            self._drop(instance.key, waiting)

    def _hand(self, instance: Instance, waiter: Waiter, line: Line | None = None) -> None:
        """Give ``waiter`` a slot of ``instance`` (``line``: its line, when the caller has it
        with ``waiter`` first)."""
        instance.active += 1
        if instance.idle_timer is not None:
            instance.idle_timer.cancel()
            instance.idle_timer = None
        start = waiter.start
        if start is not None and start(instance, waiter.request, waiter.future):
            waiter.started = instance  # it wakes with its reply: one wake-up, not two
        else:
            waiter.future.set_result(instance)
        queue = self._queue
        if queue and queue[0] is waiter:
            queue.popleft()
        if line is not None and line and line[0] is waiter:  # _forget, without the lookup
            line.popleft()
            if not line:
                self._drop(waiter.key, line)
        else:
            self._forget(waiter)

    def _forget(self, waiter: Waiter) -> None:
        """Take a served or cancelled request out of its function's line: a finished request
        must not keep its instance (and that instance's logs) referenced."""
        waiting = self._by_key.get(waiter.key)
        if waiting is None:
            return
        if waiting and waiting[0] is waiter:
            waiting.popleft()
        else:
            with contextlib.suppress(ValueError):
                waiting.remove(waiter)
        if not waiting:
            self._drop(waiter.key, waiting)

    def _found(self, key: Key) -> Line | None:
        """The line of ``key``, looked up (and kept as the hot one when there is one)."""
        line = self._by_key.get(key)
        if line is not None:
            self._hot_key, self._hot_line = key, line
        return line

    def _drop(self, key: Key, line: Line) -> None:
        """An emptied line goes, if it is still its key's."""
        if self._by_key.get(key) is line:
            del self._by_key[key]
        if self._hot_line is line:
            self._hot_key, self._hot_line = NO_KEY, None

    def _idle(self, instance: Instance) -> None:
        instance.idle_timer = self._idle_timer(self.idle_seconds,
                                               lambda: self._expire(instance))

    def _expire(self, instance: Instance) -> None:
        instance.idle_timer = None
        if instance in self._instances and instance.active == 0:
            self.retire(instance)

    async def _reap(self, instance: Instance) -> None:
        try:
            await instance.kill()
        finally:
            del self._reaping[instance]
            self._counted()
            self._pump()
