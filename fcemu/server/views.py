"""What the test thread holds: views of queues and the clock, finished-task events,
and server-side errors.

Each view is handed the emulator's ``call`` (which marshals ``await fn(engine)``
onto the emulator loop) and calls the engine's front door through it; none
touches engine state directly, none imports :mod:`fcemu.server`. Everything a
view returns is a copy made on the loop (:class:`MessageView`, wire dicts), never
a live model.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, TypeVar

from fcemu.clock import to_duration_ms, to_epoch_ms
from fcemu.engine import Engine, ServerFailure
from fcemu.models import Task
from fcemu.smq.properties import Properties

T = TypeVar("T")


class EngineCall(Protocol):
    """:meth:`fcemu.server.Emulator.call`: ``await fn(engine)`` on the loop, its result here."""

    def __call__(self, fn: Callable[[Engine], Awaitable[T]], timeout: float = ...) -> T: ...


class ServerSideError(AssertionError):
    """An unexpected error inside the emulator, re-raised on the test thread by ``check()``."""

    def __init__(self, failures: list[ServerFailure]) -> None:
        self.failures = failures
        parts = [f"{len(failures)} server-side error(s) in fcemu:"]
        parts += [f"--- {f.what} ---\n{f.traceback}" for f in failures]
        super().__init__("\n".join(parts))


@dataclass(frozen=True)
class MessageView:
    """One SMQ message as seen without consuming it."""

    message_id: str
    body: str
    enqueue_time: int
    dequeue_count: int
    next_visible_time: int
    priority: int
    #: Its UserProperties and SystemProperties as sent (``(name, TYPE, value)`` each, a
    #: Binary value in Base64), None when it has none.
    properties: Properties | None = None

    def json(self) -> Any:
        """The body parsed as JSON (Base64-decoded first when it is Base64 JSON)."""
        try:
            return json.loads(self.body)
        except ValueError:
            try:
                return json.loads(base64.b64decode(self.body, validate=True))
            except (ValueError, binascii.Error):
                raise ValueError(f"message {self.message_id} body is not JSON: "
                                 f"{self.body[:80]!r}") from None


class QueueView:
    """Inspection of one SMQ queue from the test thread: peek, parse, clear."""

    def __init__(self, call: EngineCall, name: str) -> None:
        self._call = call
        self.name = name

    def messages(self) -> list[MessageView]:
        """Every live message, in queue order, without consuming any."""
        return self._call(self._messages)

    async def _messages(self, engine: Engine) -> list[MessageView]:
        return [
            MessageView(m.message_id, m.body, m.enqueue_time, m.dequeue_count,
                        m.next_visible_time, m.priority, m.properties)
            for m in engine.peek_queue(self.name)
        ]

    async def _last(self, engine: Engine) -> MessageView | None:
        m = engine.last_message(self.name)
        return None if m is None else MessageView(
            m.message_id, m.body, m.enqueue_time, m.dequeue_count, m.next_visible_time,
            m.priority, m.properties)

    def json(self) -> list[Any]:
        """Every message body parsed as JSON."""
        return [m.json() for m in self.messages()]

    @property
    def last(self) -> MessageView:
        """The most recently sent live message (whatever its priority or delay: not the last
        in delivery order); a LookupError that lists the other queues when empty."""
        last = self._call(self._last)
        if last is not None:
            return last
        others = self._call(_queue_counts)
        shown = ", ".join(f"{n}: {c}" for n, c in others.items() if n != self.name) or "none"
        raise LookupError(f"no message on queue {self.name!r}; other queues: {shown}")

    def clear(self) -> None:
        """Delete every message of the queue."""
        self._call(self._clear)

    async def _clear(self, engine: Engine) -> None:
        engine.clear_queue(self.name)

    def __len__(self) -> int:
        return len(self.messages())

    def __repr__(self) -> str:
        return f"QueueView({self.name!r})"


async def _queue_counts(engine: Engine) -> dict[str, int]:
    return engine.queue_counts()


class EmulatorClock:
    """The emulator clock as the test thread sees it.

    ``now()`` is epoch milliseconds; ``advance()`` and ``set()`` move a manual
    clock, fire every timer that fell due in due order, and return once the
    work they started has settled.
    """

    def __init__(self, call: EngineCall, events: TaskEvents, mode: Callable[[], str]) -> None:
        self._call = call
        self._events = events
        self._mode = mode

    @property
    def mode(self) -> str:
        return self._mode()

    def now(self) -> int:
        """Current emulator time, epoch milliseconds."""
        return self._call(_now)

    def now_datetime(self) -> datetime:
        """Current emulator time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now() / 1000, tz=timezone.utc)

    def advance(self, delta: int | float | timedelta) -> int:
        """Move a manual clock forward by seconds (or a timedelta); returns the new time."""
        ms = to_duration_ms(delta)
        result = self._call(lambda e: e.advance_clock(ms))
        self._events.deliver()
        return result

    def set(self, when: int | float | str | datetime) -> int:
        """Move a manual clock to a datetime, ISO 8601 string or epoch milliseconds."""
        ms = to_epoch_ms(when)
        result = self._call(lambda e: e.set_clock(ms))
        self._events.deliver()
        return result

    def __repr__(self) -> str:
        return f"EmulatorClock(mode={self.mode}, now={self.now()})"


async def _now(engine: Engine) -> int:
    return engine.now_ms()


class TaskEvents:
    """Finished tasks, collected on the loop and handed to listeners on the test thread.

    :meth:`collect` is an engine task listener (loop thread): it keeps a snapshot of
    the task (the AsyncTask wire dict plus ``functionName``). :meth:`deliver` (test
    thread: after ``settle()``, ``drain()`` or a clock move) calls every listener with
    each snapshot since the last delivery.
    """

    def __init__(self) -> None:
        #: Called on the test thread with each finished task's snapshot.
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self._finished: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def collect(self, task: Task) -> None:
        if not self.listeners:  # nobody to hand it to: keep nothing (a served emulator
            return  # never delivers; a snapshot per task was about 1 KB kept forever)
        from fcemu.api.wire import async_task  # after the check: ~1.8 us per finished task

        snapshot = {**async_task(task, include_payload=True), "functionName": task.function_name}
        with self._lock:
            self._finished.append(snapshot)

    def deliver(self) -> None:
        """Hand every snapshot since the last delivery to every listener; a listener that
        raises does not stop the others or the rest of the snapshots: the first error is
        raised once all were delivered."""
        with self._lock:
            finished, self._finished = self._finished, []
        error: BaseException | None = None
        for snapshot in finished:
            for listener in list(self.listeners):
                try:
                    listener(snapshot)
                except Exception as exc:  # raised below, once the rest were delivered
                    if error is None:
                        error = exc
        if error is not None:
            raise error

    def clear(self) -> None:
        """Forget what was collected and not delivered (a reset)."""
        with self._lock:
            self._finished.clear()
