"""The waiting requests of :class:`~fcemu.runtime.pool.InstancePool`: one :class:`Waiter`
per request, in one :class:`Line` per key (what must match for an instance to be reused),
besides the pool's FIFO of every waiting request.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fcemu.runtime.instance import Instance, Key

if TYPE_CHECKING:
    from fcemu.models import Function

__all__ = ["NO_KEY", "Line", "Make", "Start", "Waiter"]


#: Starts a request on the instance it is handed when it can go at once (the future is then
#: its reply, settled by the instance): :meth:`~fcemu.runtime.pooled.PooledRuntime._begin`.
#: It is given the instance, the request the caller lined up with
#: (:meth:`~fcemu.runtime.pool.InstancePool.line_up`) and the future.
Start = Callable[[Instance, Any, "asyncio.Future[Any]"], bool]
#: Makes a new instance for a waiting request: ``make(function, key)``.
Make = Callable[["Function", Key], Instance]


#: No key: the key of the pool's hot line when it has none (``InstancePool._hot_key``).
NO_KEY = object()


class Waiter:
    """A request waiting for a slot. With ``start``, the hand-off may start it at once
    (:attr:`started`): its future is then the request's reply, not the instance, so the
    request wakes once, when it has its answer. Made by
    :meth:`~fcemu.runtime.pool.InstancePool.line_up` only, which sets its fields (no
    ``__init__`` frame per request: issue 13); one made otherwise has them unset."""

    __slots__ = ("function", "future", "key", "make", "request", "start", "started")

    function: Function
    key: Key
    make: Make
    start: Start | None
    #: What ``start`` is given besides the instance and the future (the caller's).
    request: Any
    #: The instance (None once the pool closed), or the reply of a request it started.
    future: asyncio.Future[Any]
    #: The instance the request was started on by the hand-off.
    started: Instance | None

    @property
    def served(self) -> bool:
        """Handed an instance (or None at close), started on one, or cancelled."""
        return self.started is not None or self.future.done()


class Line(deque[Waiter]):
    """The requests waiting for instances of one key, in order. ``group`` is the function
    version the line was made for, and ``latest`` whether the key is that group's newest
    (kept by :meth:`~fcemu.runtime.pool.InstancePool._newest` as the newest changes): a
    line-up or a release reads it instead of looking the group's newest key up (issue 13)."""

    __slots__ = ("function", "group", "latest")

    def __init__(self, function: Function, group: tuple[str, str]) -> None:
        super().__init__()
        self.function = function
        self.group = group
        self.latest = True  # made for the group's newest key (line_up)
