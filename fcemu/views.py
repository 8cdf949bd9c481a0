"""What the test thread holds: views of queues and the clock, and server-side errors.

Each view marshals its reads onto the emulator loop through
:meth:`fcemu.server.Emulator.call`; none touches engine state directly.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from fcemu.clock import to_duration_ms, to_epoch_ms
from fcemu.engine import Engine, ServerFailure

if TYPE_CHECKING:
    from fcemu.server import Emulator


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

    def __init__(self, emulator: Emulator, name: str) -> None:
        self._emulator = emulator
        self.name = name

    def messages(self) -> list[MessageView]:
        """Every live message, in queue order, without consuming any."""
        return self._emulator.call(self._messages)

    async def _messages(self, engine: Engine) -> list[MessageView]:
        if not engine.smq.queue_exists(self.name):
            return []
        return [
            MessageView(m.message_id, m.body, m.enqueue_time, m.dequeue_count,
                        m.next_visible_time, m.priority)
            for m in engine.smq.get_queue(self.name).messages()
        ]

    def json(self) -> list[Any]:
        """Every message body parsed as JSON."""
        return [m.json() for m in self.messages()]

    @property
    def last(self) -> MessageView:
        """The newest message; a LookupError that lists the other queues when empty."""
        messages = self.messages()
        if messages:
            return messages[-1]
        others = self._emulator.call(_queue_counts)
        shown = ", ".join(f"{n}: {c}" for n, c in others.items() if n != self.name) or "none"
        raise LookupError(f"no message on queue {self.name!r}; other queues: {shown}")

    def clear(self) -> None:
        """Delete every message of the queue."""
        self._emulator.call(self._clear)

    async def _clear(self, engine: Engine) -> None:
        if engine.smq.queue_exists(self.name):
            engine.smq.get_queue(self.name).clear()

    def __len__(self) -> int:
        return len(self.messages())

    def __repr__(self) -> str:
        return f"QueueView({self.name!r})"


async def _queue_counts(engine: Engine) -> dict[str, int]:
    queues, _ = engine.smq.list_queues()
    return {q.name: len(q.messages()) for q in queues}


class EmulatorClock:
    """The emulator clock as the test thread sees it.

    ``now()`` is epoch milliseconds; ``advance()`` and ``set()`` move a manual
    clock, fire every timer that fell due in due order, and return once the
    work they started has settled.
    """

    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator

    @property
    def mode(self) -> str:
        return self._emulator.settings.clock

    def now(self) -> int:
        """Current emulator time, epoch milliseconds."""
        return self._emulator.call(_now)

    def now_datetime(self) -> datetime:
        """Current emulator time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now() / 1000, tz=timezone.utc)

    def advance(self, delta: int | float | timedelta) -> int:
        """Move a manual clock forward by seconds (or a timedelta); returns the new time."""
        ms = to_duration_ms(delta)
        result = self._emulator.call(lambda e: e.scheduler.advance(ms))
        self._emulator._deliver_task_events()
        return result

    def set(self, when: int | float | str | datetime) -> int:
        """Move a manual clock to a datetime, ISO 8601 string or epoch milliseconds."""
        ms = to_epoch_ms(when)
        result = self._emulator.call(lambda e: e.scheduler.set(ms))
        self._emulator._deliver_task_events()
        return result

    def __repr__(self) -> str:
        return f"EmulatorClock(mode={self.mode}, now={self.now()})"


async def _now(engine: Engine) -> int:
    return engine.clock.now_ms()
