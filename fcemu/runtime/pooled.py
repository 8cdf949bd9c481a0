"""The request flow shared by the worker and custom runtimes: a slot in the pool, a start, a run.

:class:`PooledRuntime` takes a request to a slot of the
:class:`~fcemu.runtime.pool.InstancePool` (a warm instance of its function, or a new
one), starts the instance once (:meth:`~fcemu.runtime.instance.Instance.prepare`) and
runs the request there; a request the pool hands a warm instance's freed slot is
started by the hand-off itself (:meth:`PooledRuntime._begin`,
:meth:`~fcemu.runtime.instance.Instance.begin`) and wakes once, with its reply. Stops
find a request whether it waits for a slot or runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import TYPE_CHECKING, Any

from fcemu.runtime.instance import Instance, Key
from fcemu.runtime.invocation import Invocation, Outcome, crash_outcome
from fcemu.runtime.logs import framed
from fcemu.runtime.pool import InstancePool
from fcemu.runtime.protocol import UNHANDLED, error_body

if TYPE_CHECKING:
    from fcemu.ids import IdGenerator
    from fcemu.models import Function
    from fcemu.runtime.contain import Containment


class PooledRuntime:
    """The request flow of a runtime whose instances are processes in an :class:`InstancePool`.

    Subclasses say how to check a function (:meth:`_check`), what must match for
    an instance to be reused (:meth:`_key`) and how to make one (:meth:`_make`).
    """

    def __init__(self, ids: IdGenerator, pool: InstancePool, *, pass_env: tuple[str, ...] = (),
                 contained: Containment | None = None) -> None:
        self._ids = ids
        self.pool = pool
        #: Server variables handlers get besides FC's (:mod:`fcemu.runtime.environ`).
        self.pass_env = pass_env
        #: How instances are contained; None: the strongest available (:mod:`.contain`).
        self.containment = contained
        #: Each request here: None while it waits for a slot, then the instance it runs on
        #: (one entry, not a set and a dict: a stop finds the request either way).
        self._requests: dict[str, Instance | None] = {}
        self._queued_stops: set[str] = set()
        # the hand-off's callbacks, bound once (not two method objects made per request)
        self._maker = self._make
        self._starter = self._begin

    def _check(self, function: Function) -> Outcome | None:
        return None

    def _key(self, function: Function) -> Key:
        raise NotImplementedError

    def _make(self, function: Function, key: Key) -> Instance:
        raise NotImplementedError

    async def invoke(self, invocation: Invocation) -> Outcome:
        """Run the handler once in a warm or new instance; never raises for handler failures."""
        function, request_id = invocation.function, invocation.request_id
        refused = self._check(function)
        if refused is not None:
            return refused
        key = self._key(function)
        requests = self._requests
        requests[request_id] = None  # waiting for a slot
        pool = self.pool
        # InstancePool.acquire in its two halves, its future awaited here (one coroutine less)
        waiter = pool.line_up(function, key, self._maker, self._starter, invocation)
        if waiter is None:
            requests.pop(request_id, None)
            return _closed()
        try:
            try:
                instance: Instance | None = await waiter.future
            except asyncio.CancelledError:
                pool.left(waiter)
                raise
            except Exception:  # a started request's timeout or end: finish() collects it
                if waiter.started is None:
                    raise
        except asyncio.CancelledError:
            started = requests.pop(request_id, None)
            if started is not None:  # started by the hand-off: end it here
                started.abandon(request_id)
                pool.release(started)
            raise
        except BaseException:
            if request_id in requests and requests[request_id] is None:  # only waiting
                del requests[request_id]
            raise
        started = waiter.started
        if started is not None:  # started by the hand-off (_begin): its reply has come
            try:
                return await started.finish(invocation)
            finally:
                requests.pop(request_id, None)
                if self._queued_stops:
                    self._queued_stops.discard(request_id)
                pool.release(started)
        if instance is None:  # the pool closed while it waited
            requests.pop(request_id, None)
            return _closed()
        requests[request_id] = instance
        try:
            if request_id in self._queued_stops:  # stopped while waiting for an instance
                return crash_outcome(0, 0, kind="stopped", instance_id=instance.instance_id,
                                     logs=framed(request_id, ""))
            failed = await instance.prepare(invocation)
            if failed is not None:
                if request_id in instance.stopped:
                    return dataclasses.replace(failed, kind="stopped")
                if failed.kind == "stopped":  # another request's stop killed the instance
                    return dataclasses.replace(failed, kind="crash")
                return failed
            if request_id in instance.stopped:  # stopped just as its instance became ready
                return crash_outcome(0, instance.final_mem_mb, kind="stopped",
                                     instance_id=instance.instance_id,
                                     logs=framed(request_id, ""))
            return await instance.execute(invocation)
        finally:
            requests.pop(request_id, None)
            if self._queued_stops:
                self._queued_stops.discard(request_id)
            pool.release(instance)

    def _begin(self, instance: Instance, invocation: Invocation,
               reply: asyncio.Future[Any]) -> bool:
        """The slot's hand-off: start the request on ``instance`` now, if it is warm and can
        take it at once (:meth:`Instance.begin`), so that the request wakes only with its
        reply; it is running (a stop finds it) from here on."""
        request_id = invocation.request_id
        stops = self._queued_stops
        if (stops and request_id in stops) or not instance.begin(invocation, reply):
            return False
        self._requests[request_id] = instance
        return True

    async def stop(self, request_id: str) -> bool:
        """Kill the instance running ``request_id``; its outcome is ``stopped``.

        With ``instanceConcurrency`` above 1 the other requests on that
        instance end too (as crashes): a process cannot lose one thread.
        """
        requests = self._requests
        if request_id not in requests:
            return False
        instance = requests[request_id]
        if instance is None:  # waiting for a slot
            self._queued_stops.add(request_id)
            return True
        instance.stopped.add(request_id)
        instance.healthy = False
        instance.final_mem_mb = instance.final_mem_mb or instance.peak_mb()
        with contextlib.suppress(ProcessLookupError):
            await instance.kill()
        return True


def _closed() -> Outcome:
    return Outcome("error", error_body("fcemu is shutting down: the runtime is closed",
                                       "RuntimeClosed"), UNHANDLED)
